/* sim: the simulator's run loop. Sets up the pipeline's nodes and clocks,
 * has sim_pipeline build each request in true time, reads every span
 * through its node's clock, writes it with a trace_writer backend and feeds
 * sim_expect; at the end writes the truth document. */
#include "sim/sim.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_private.h"

/* ---- PRNG: xoshiro256**, seeded through splitmix64 ---- */

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        r->s[i] = z ^ (z >> 31);
    }
}

int64_t sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;

    return span == 0 ? lo : lo + (int64_t)(sim_rng_next(r) % span);
}

int64_t sim_rng_exp(struct sim_rng *r, double mean)
{
    /* 53 random bits -> u in (0, 1]. */
    double u = ((double)(sim_rng_next(r) >> 11) + 1.0) * 0x1.0p-53;

    return mean > 0 ? llround(-mean * log(u)) : 0;
}

/* ---- clocks ---- */

int64_t sim_observe(const struct sim *sim, int node, int64_t t)
{
    const struct sim_node *n = &sim->nodes[node];
    int64_t obs = t + n->skew_ns;

    if (n->drift_ppm != 0)
        obs += llround(n->drift_ppm * 1e-6 *
                       (double)(t - sim->cfg->start_unix_ns));
    if (n->step_ns != 0 && t >= n->step_at_ns)
        obs += n->step_ns;
    return obs;
}

/* ---- setup ---- */

static void node_init(struct sim_node *n, unsigned tp, unsigned i)
{
    static const char *const services[] = {
        "inference.Gateway", "inference.Tokenizer", "inference.Prefill"};

    memset(n, 0, sizeof *n);
    sim_node_name(tp, i, n->name);
    n->topic = n->name + 5;
    snprintf(n->publish, sizeof n->publish, "publish %s", n->topic);
    snprintf(n->process, sizeof n->process, "process %s", n->topic);
    n->rpc_service = i < 3        ? services[i]
                     : i < 3 + tp ? "inference.Decode"
                                  : "inference.Detokenizer";
    snprintf(n->rpc_name, sizeof n->rpc_name, "%s/Run", n->rpc_service);
}

/* Index of the node named `name` in a pipeline with tp ranks, or -1. */
static int node_index(unsigned tp, const char *name)
{
    char n[SIM_NODE_NAME_MAX];

    for (unsigned i = 0; sim_node_name(tp, i, n) == 0; i++)
        if (strcmp(n, name) == 0)
            return (int)i;
    return -1;
}

int sim_config_check(const struct sim_config *cfg, char *err, size_t errlen)
{
    const char *why = NULL;

    if (cfg->tp < 1 || cfg->tp > SIM_MAX_TP)
        why = "tp must be 1..64";
    else if (cfg->steps > 100000)
        why = "steps must be 0..100000";
    else if (!(cfg->duration_s >= 0) || cfg->duration_s > 1e7)
        why = "duration must be 0..1e7 s";
    else if (cfg->hop_min_ns < 0 || cfg->hop_jitter_ns < 0)
        why = "hop latencies must not be negative";
    else if (!cfg->system || !*cfg->system)
        why = "messaging system must be set";
    if (why) {
        snprintf(err, errlen, "bad simulation config: %s", why);
        return -1;
    }
    for (size_t c = 0; c < cfg->nclocks; c++)
        if (node_index(cfg->tp, cfg->clocks[c].node) < 0) {
            snprintf(err, errlen,
                     "unknown node '%s' in a clock spec (nodes: node-gateway, "
                     "node-tokenizer, node-prefill, node-decode-0..%u, "
                     "node-detokenizer)",
                     cfg->clocks[c].node, cfg->tp - 1);
            return -1;
        }
    return 0;
}

/* Copy the clock specs (checked by sim_config_check()) onto the nodes. */
static void apply_clocks(struct sim *s)
{
    const struct sim_config *cfg = s->cfg;

    for (size_t c = 0; c < cfg->nclocks; c++) {
        const struct sim_clock *ck = &cfg->clocks[c];
        struct sim_node *n = &s->nodes[node_index(cfg->tp, ck->node)];
        n->skew_ns = ck->skew_ns;
        n->drift_ppm = ck->drift_ppm;
        n->step_ns = ck->step_ns;
        n->step_at_ns = cfg->start_unix_ns + ck->step_at_ns;
    }
}

/* Spans per request, an upper bound (see sim_pipeline.c's shape). */
static size_t spans_per_request(const struct sim_config *cfg)
{
    return 16 + (size_t)cfg->tp * (3 + 2 * (size_t)cfg->steps);
}

/* Per-request output buffers, reused. */
struct sim_out {
    struct span_desc *descs;
    struct span_link_desc *links;
    struct span_event_desc *events;
    int64_t *start, *end;
};

static int out_alloc(struct sim_out *o, size_t cap)
{
    o->descs = calloc(cap, sizeof *o->descs);
    o->links = calloc(cap, sizeof *o->links);
    o->events = calloc(cap * SIM_MAX_EVENTS, sizeof *o->events);
    o->start = calloc(cap, sizeof *o->start);
    o->end = calloc(cap, sizeof *o->end);
    return o->descs && o->links && o->events && o->start && o->end ? 0 : -1;
}

static void out_free(struct sim_out *o)
{
    free(o->descs);
    free(o->links);
    free(o->events);
    free(o->start);
    free(o->end);
}

static void describe_span(struct sim *s, struct sim_out *o, size_t i)
{
    const struct sim_span *sp = &s->req.spans[i];
    struct span_desc *d = &o->descs[i];
    struct sim_node *node = &s->nodes[sp->node];

    memcpy(d->trace_id, s->req.trace_id, 16);
    d->span_id = sp->span_id;
    d->parent_span_id = sp->parent >= 0 ? s->req.spans[sp->parent].span_id : 0;
    d->name = sp->name;
    d->kind = sp->kind;
    d->start_ns = o->start[i] = sim_observe(s, sp->node, sp->start);
    d->end_ns = o->end[i] = sim_observe(s, sp->node, sp->end);
    d->host_name = d->service_name = node->name;
    d->ipv4 = NULL;
    d->attrs = sp->attrs;
    d->nattrs = sp->nattrs;
    d->nlinks = 0;
    d->links = &o->links[i];
    if (sp->link >= 0) {
        memcpy(o->links[i].trace_id, s->req.trace_id, 16);
        o->links[i].span_id = s->req.spans[sp->link].span_id;
        d->nlinks = 1;
    }
    d->events = &o->events[i * SIM_MAX_EVENTS];
    d->nevents = sp->nevents;
    for (size_t k = 0; k < sp->nevents; k++)
        o->events[i * SIM_MAX_EVENTS + k] = (struct span_event_desc){
            sp->events[k].name,
            sim_observe(s, sp->node, sp->events[k].time_ns)};
    node->spans++;
}

static int64_t arrival(struct sim *s, unsigned i, int64_t prev)
{
    const struct sim_config *cfg = s->cfg;
    double dur_ns = cfg->duration_s * 1e9;

    if (cfg->arrivals == SIM_ARRIVALS_POISSON)
        return (i == 0 ? cfg->start_unix_ns : prev) +
               sim_rng_exp(&s->rng, cfg->requests ? dur_ns / cfg->requests : 0);
    return cfg->start_unix_ns + (int64_t)(dur_ns * i / cfg->requests);
}

/* Time resolution of the format as written: µs for Jaeger and Zipkin. */
static int64_t format_resolution_ns(const struct trace_writer_ops *ops)
{
    return ops->format == TRACE_FORMAT_JAEGER ||
                   ops->format == TRACE_FORMAT_ZIPKIN
               ? 1000
               : 1;
}

/* ---- truth ---- */

static json_t *nodes_json(const struct sim *s, int64_t at)
{
    json_t *arr = json_array();

    for (unsigned i = 0; arr && i < s->nnodes; i++) {
        const struct sim_node *n = &s->nodes[i];
        json_t *step_at =
            n->step_ns ? json_integer(n->step_at_ns) : json_null();
        if (json_array_append_new(
                arr, json_pack("{s:s,s:I,s:I,s:f,s:I,s:o,s:I}", "node", n->name,
                               "offset_ns",
                               (json_int_t)(sim_observe(s, (int)i, at) - at),
                               "skew_ns", (json_int_t)n->skew_ns, "drift_ppm",
                               n->drift_ppm, "step_ns", (json_int_t)n->step_ns,
                               "step_at_unix_nano", step_at, "spans",
                               (json_int_t)n->spans)) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static int write_truth(const struct sim *s, const struct sim_expect *ex,
                       const struct trace_writer_ops *ops, int64_t end,
                       FILE *truth)
{
    const struct sim_config *cfg = s->cfg;
    json_t *nodes = nodes_json(s, end);
    json_t *expected = sim_expect_json(ex, s->nodes);
    json_t *doc = NULL;
    int rc = -1;

    if (!nodes || !expected)
        goto cleanup;
    doc = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:s,s:b,s:s,s:I,s:I,s:O,s:O}", "start_unix_nano",
        (json_int_t)cfg->start_unix_ns, "end_unix_nano", (json_int_t)end,
        "at_unix_nano", (json_int_t)end, "hop_min_ns",
        (json_int_t)cfg->hop_min_ns, "hop_jitter_ns",
        (json_int_t)cfg->hop_jitter_ns, "transport",
        cfg->transport == SIM_TRANSPORT_RPC ? "rpc" : "oneway", "links",
        (int)cfg->links, "format", ops->name, "time_resolution_ns",
        (json_int_t)format_resolution_ns(ops), "seed", (json_int_t)cfg->seed,
        "nodes", nodes, "expected", expected);
    if (!doc)
        goto cleanup;
    if (json_dumpf(doc, truth, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 &&
        fputc('\n', truth) != EOF && fflush(truth) == 0)
        rc = 0;
cleanup:
    json_decref(doc);
    json_decref(expected);
    json_decref(nodes);
    return rc;
}

/* ---- run ---- */

/* Build, observe, count and write one request. */
static int run_request(struct sim *s, struct sim_out *o, struct sim_expect *ex,
                       const struct trace_writer_ops *ops,
                       struct trace_writer *w, int64_t t0, int64_t *end)
{
    if (sim_pipeline_request(s, t0) < 0)
        return -1;
    for (size_t i = 0; i < s->req.n; i++) {
        describe_span(s, o, i);
        if (s->req.spans[i].end > *end)
            *end = s->req.spans[i].end;
    }
    sim_expect_add(ex, &s->req, o->start, o->end);
    return ops->write_batch(w, o->descs, s->req.n);
}

static int run_all(struct sim *s, struct sim_out *o, struct sim_expect *ex,
                   const struct trace_writer_ops *ops, struct trace_writer *w,
                   int64_t *end, char *err, size_t errlen)
{
    int64_t t0 = s->cfg->start_unix_ns;

    for (unsigned i = 0; i < s->cfg->requests; i++) {
        t0 = arrival(s, i, t0);
        if (run_request(s, o, ex, ops, w, t0, end) < 0) {
            snprintf(err, errlen, "%s",
                     s->req.oom ? "internal error: span buffer too small"
                                : "write error on the trace output");
            return -1;
        }
    }
    return 0;
}

int sim_run(const struct sim_config *cfg, const struct trace_writer_ops *ops,
            FILE *out, FILE *truth, char *err, size_t errlen)
{
    struct sim s = {.cfg = cfg};
    struct sim_out o = {0};
    struct sim_expect *ex = NULL;
    struct trace_writer *w = NULL;
    int64_t end = cfg->start_unix_ns;
    int rc = -1;

    if (sim_config_check(cfg, err, errlen) < 0)
        return -1;
    s.nnodes = cfg->tp + 4;
    s.nodes = calloc(s.nnodes, sizeof *s.nodes);
    s.req.cap = spans_per_request(cfg);
    s.req.spans = calloc(s.req.cap, sizeof *s.req.spans);
    /* Zipkin v2 has no span links: a reader cannot see those pairs. */
    ex = sim_expect_create(s.nnodes, format_resolution_ns(ops),
                           ops->format != TRACE_FORMAT_ZIPKIN);
    if (!s.nodes || !s.req.spans || !ex || out_alloc(&o, s.req.cap) < 0)
        goto oom;
    for (unsigned i = 0; i < s.nnodes; i++)
        node_init(&s.nodes[i], cfg->tp, i);
    apply_clocks(&s);
    sim_rng_seed(&s.rng, cfg->seed);
    w = ops->create(out, cfg->lines);
    if (!w)
        goto oom;
    if (run_all(&s, &o, ex, ops, w, &end, err, errlen) < 0) {
        ops->finish(w);
        goto cleanup;
    }
    if (ops->finish(w) < 0) {
        snprintf(err, errlen, "write error on the trace output");
        goto cleanup;
    }
    if (truth && write_truth(&s, ex, ops, end, truth) < 0) {
        snprintf(err, errlen, "cannot write the truth document");
        goto cleanup;
    }
    rc = 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    out_free(&o);
    sim_expect_destroy(ex);
    free(s.req.spans);
    free(s.nodes);
    return rc;
}
