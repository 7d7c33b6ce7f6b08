/* estimate: edge pairs -> clock observations -> clock graph -> model. */
#include "analysis/estimate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "model/clock_model.h"
#include "model/span_store.h"

uint32_t estimate_default_reference(const struct span_store *s)
{
    size_t nd = span_store_domain_count(s);
    size_t *count = calloc(nd + 1, sizeof(*count));
    uint32_t best = 0;

    if (!count)
        return 0;
    for (size_t i = 0; i < span_store_count(s); i++)
        count[span_store_at(s, i)->domain]++;
    for (uint32_t d = 1; d < nd; d++)
        if (count[d] > count[best] ||
            (count[d] == count[best] &&
             strcmp(span_store_domain_name(s, d),
                    span_store_domain_name(s, best)) < 0))
            best = d;
    free(count);
    return best;
}

/* Transport class: which system carried the message, and between which
 * kinds of span. Pairs of one class are assumed to share a minimum latency. */
static uint32_t pair_class(const struct span_rec *p, const struct span_rec *c)
{
    uint32_t system = c->system ? c->system : p->system;

    return system << 6 | (uint32_t)(p->kind & 7) << 3 | (c->kind & 7);
}

static int find_reference(const struct span_store *s,
                          const struct estimate_opts *opts, uint32_t *ref,
                          char *err, size_t errlen)
{
    if (!opts->reference) {
        *ref = estimate_default_reference(s);
        return 0;
    }
    for (uint32_t d = 0; d < span_store_domain_count(s); d++) {
        if (strcmp(span_store_domain_name(s, d), opts->reference) == 0) {
            *ref = d;
            return 0;
        }
    }
    snprintf(err, errlen, "reference '%s' is not a clock domain of the input",
             opts->reference);
    return -2;
}

int estimate_run(struct clock_estimate *out, const struct span_store *s,
                 const struct edge_list *l, const struct estimate_opts *opts,
                 char *err, size_t errlen)
{
    struct clock_graph_opts go = {.windows = opts->windows,
                                  .no_drift = opts->no_drift};
    int rc;

    memset(out, 0, sizeof(*out));
    if (span_store_domain_count(s) == 0)
        return 0;
    rc = find_reference(s, opts, &go.reference, err, errlen);
    if (rc < 0)
        return rc;
    struct clock_obs *obs = malloc((l->npairs + 1) * sizeof(*obs));
    if (!obs)
        return -1;
    for (size_t i = 0; i < l->npairs; i++) {
        const struct span_rec *p = span_store_at(s, l->pairs[i].parent);
        const struct span_rec *c = span_store_at(s, l->pairs[i].child);
        obs[i] = (struct clock_obs){
            .p_start = p->start_ns,
            .p_end = p->end_ns,
            .c_start = c->start_ns,
            .c_end = c->end_ns,
            .from = p->domain,
            .to = c->domain,
            .cls = pair_class(p, c),
            .sync = (l->pairs[i].flags & EDGE_PAIR_SYNC) != 0,
        };
    }
    rc = clock_graph_estimate(out, obs, l->npairs, span_store_domain_count(s),
                              &go);
    free(obs);
    return rc;
}

struct clock_model *estimate_to_model(const struct clock_estimate *e,
                                      const struct span_store *s)
{
    struct clock_model *m = clock_model_create();

    if (!m)
        return NULL;
    for (uint32_t d = 0; d < e->ndomains; d++) {
        const struct clock_node *n = &e->nodes[d];
        if (clock_model_set(m, span_store_domain_name(s, d), n->offset_ns,
                            n->drift_ppm, e->at_ns) < 0) {
            clock_model_destroy(m);
            return NULL;
        }
    }
    return m;
}
