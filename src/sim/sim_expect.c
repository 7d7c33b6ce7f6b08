/* sim_expect: the simulator's own computation of docs/CONTRACTS.md's check
 * definitions, over the spans exactly as written (observed times, floored to
 * the format's resolution). It shares no code with analysis/, so tests can
 * use it as an independent oracle for `check`. */
#include "sim/sim_private.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_store.h"

struct sim_edge_count {
    uint64_t pairs, violations;
    int64_t min_slack_ns;
};

struct sim_expect {
    unsigned nnodes;
    int64_t resolution_ns;
    bool links_visible;
    uint64_t spans, traces, pairs, violating;
    uint64_t before_parent, after_parent, negative;
    struct sim_edge_count *edges; /* nnodes x nnodes, [from * nnodes + to] */
};

struct sim_expect *sim_expect_create(unsigned nnodes, int64_t resolution_ns,
                                     bool links_visible)
{
    struct sim_expect *e = calloc(1, sizeof *e);

    if (!e)
        return NULL;
    e->edges = calloc((size_t)nnodes * nnodes, sizeof *e->edges);
    if (!e->edges) {
        free(e);
        return NULL;
    }
    e->nnodes = nnodes;
    e->resolution_ns = resolution_ns > 0 ? resolution_ns : 1;
    e->links_visible = links_visible;
    return e;
}

void sim_expect_destroy(struct sim_expect *e)
{
    if (!e)
        return;
    free(e->edges);
    free(e);
}

static int64_t floor_to(int64_t t, int64_t res)
{
    int64_t q = t / res;

    if (t % res != 0 && t < 0)
        q--;
    return q * res;
}

/* One edge pair: parent p (or linked PRODUCER), child c. */
static void add_pair(struct sim_expect *e, const struct sim_span *p,
                     const struct sim_span *c, const int64_t *ps,
                     const int64_t *cs)
{
    struct sim_edge_count *ec = &e->edges[p->node * e->nnodes + c->node];
    int64_t slack = cs[0] - ps[0];
    bool before = slack < 0;
    bool after = p->kind == SPAN_KIND_CLIENT && c->kind == SPAN_KIND_SERVER &&
                 cs[1] > ps[1];

    if (ec->pairs == 0 || slack < ec->min_slack_ns)
        ec->min_slack_ns = slack;
    ec->pairs++;
    e->pairs++;
    e->before_parent += before;
    e->after_parent += after;
    if (before || after) {
        ec->violations++;
        e->violating++;
    }
}

void sim_expect_add(struct sim_expect *e, const struct sim_req *req,
                    const int64_t *start, const int64_t *end)
{
    size_t n = req->n;
    int64_t res = e->resolution_ns;

    e->traces++;
    e->spans += n;
    for (size_t i = 0; i < n; i++) {
        const struct sim_span *c = &req->spans[i];
        int64_t cs[2] = {floor_to(start[i], res), floor_to(end[i], res)};

        if (cs[1] < cs[0])
            e->negative++;
        int other[2] = {c->parent, e->links_visible ? c->link : -1};
        for (int k = 0; k < 2; k++) {
            int j = other[k];
            if (j < 0 || req->spans[j].node == c->node)
                continue;
            int64_t ps[2] = {floor_to(start[j], res), floor_to(end[j], res)};
            add_pair(e, &req->spans[j], c, ps, cs);
        }
    }
}

static int cmp_node_name(const void *a, const void *b)
{
    return strcmp((*(const struct sim_node *const *)a)->name,
                  (*(const struct sim_node *const *)b)->name);
}

static json_t *edges_json(const struct sim_expect *e,
                          const struct sim_node *nodes)
{
    const struct sim_node *sorted[SIM_MAX_NODES];
    size_t order[SIM_MAX_NODES];
    json_t *arr = json_array();

    for (unsigned i = 0; i < e->nnodes; i++)
        sorted[i] = &nodes[i];
    qsort(sorted, e->nnodes, sizeof sorted[0], cmp_node_name);
    for (unsigned i = 0; i < e->nnodes; i++)
        order[i] = (size_t)(sorted[i] - nodes);
    for (unsigned a = 0; arr && a < e->nnodes; a++)
        for (unsigned b = 0; b < e->nnodes; b++) {
            const struct sim_edge_count *ec =
                &e->edges[order[a] * e->nnodes + order[b]];
            if (ec->pairs == 0)
                continue;
            if (json_array_append_new(
                    arr,
                    json_pack("{s:s,s:s,s:I,s:I,s:I}", "from",
                              nodes[order[a]].name, "to", nodes[order[b]].name,
                              "pairs", (json_int_t)ec->pairs, "violations",
                              (json_int_t)ec->violations, "min_slack_ns",
                              (json_int_t)ec->min_slack_ns)) < 0) {
                json_decref(arr);
                return NULL;
            }
        }
    return arr;
}

json_t *sim_expect_json(const struct sim_expect *e,
                        const struct sim_node *nodes)
{
    json_t *edges = edges_json(e, nodes);

    if (!edges)
        return NULL;
    return json_pack(
        "{s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:o}", "spans", (json_int_t)e->spans,
        "traces", (json_int_t)e->traces, "pairs", (json_int_t)e->pairs,
        "violating_pairs", (json_int_t)e->violating, "by_kind",
        "starts_before_parent", (json_int_t)e->before_parent,
        "ends_after_parent", (json_int_t)e->after_parent, "negative_duration",
        (json_int_t)e->negative, "edges", edges);
}
