/* estimate: edge pairs -> clock observations -> clock graph -> model. */
#include "analysis/estimate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/clock_graph.h"
#include "analysis/clock_obs.h"
#include "analysis/edges.h"
#include "model/clock_model.h"
#include "model/span_store.h"

/* Interned class names (a handful per input). */
struct classes {
    char **name;
    size_t n;
};

static uint32_t class_id(struct classes *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->name[i], key) == 0)
            return (uint32_t)i;
    char **v = realloc(c->name, (c->n + 1) * sizeof(*v));
    if (!v)
        return UINT32_MAX;
    c->name = v;
    if (!(v[c->n] = strdup(key)))
        return UINT32_MAX;
    return (uint32_t)c->n++;
}

static void classes_free(struct classes *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->name[i]);
    free(c->name);
}

static int find_reference(const struct span_store *s,
                          const struct estimate_opts *opts, uint32_t *ref,
                          char *err, size_t errlen)
{
    if (!opts->reference) {
        *ref = CLOCK_REF_CONSENSUS;
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

static int build_obs(const struct span_store *s, const struct edge_list *l,
                     struct classes *cls, struct clock_obs *obs)
{
    uint8_t *wait = malloc(l->npairs + 1);
    char key[CLOCK_OBS_CLASS_MAX];
    int rc = -1;

    if (!wait || clock_obs_waits(s, l, wait) < 0)
        goto out;
    for (size_t i = 0; i < l->npairs; i++) {
        const struct span_rec *p = span_store_at(s, l->pairs[i].parent);
        const struct span_rec *c = span_store_at(s, l->pairs[i].child);
        clock_obs_class_name(s, p, c, key);
        obs[i] = (struct clock_obs){
            .p_start = p->start_ns,
            .p_end = p->end_ns,
            .c_start = c->start_ns,
            .c_end = c->end_ns,
            .from = p->domain,
            .to = c->domain,
            .cls = class_id(cls, key),
            .sync = (l->pairs[i].flags & EDGE_PAIR_SYNC) != 0,
            .wait = wait[i],
        };
        if (obs[i].cls == UINT32_MAX)
            goto out;
    }
    rc = 0;
out:
    free(wait);
    return rc;
}

int estimate_run(struct clock_estimate *out, const struct span_store *s,
                 const struct edge_list *l, const struct estimate_opts *opts,
                 char *err, size_t errlen)
{
    struct clock_graph_opts go = {.windows = opts->windows,
                                  .window_ns = opts->window_ns,
                                  .no_drift = opts->no_drift};
    size_t nd = span_store_domain_count(s);
    struct classes cls = {0};
    const char **names = NULL;
    struct clock_obs *obs = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    out->consistent =
        true; /* no spans, no constraints: nothing to contradict */
    if (nd == 0)
        return 0;
    rc = find_reference(s, opts, &go.reference, err, errlen);
    if (rc < 0)
        return rc;
    rc = -1;
    obs = malloc((l->npairs + 1) * sizeof(*obs));
    names = malloc((nd + 1) * sizeof(*names));
    if (!obs || !names || build_obs(s, l, &cls, obs) < 0)
        goto out;
    for (uint32_t d = 0; d < nd; d++)
        names[d] = span_store_domain_name(s, d);
    go.domain_names = names;
    go.class_names = (const char *const *)cls.name;
    go.nclasses = cls.n;
    rc = clock_graph_estimate(out, obs, l->npairs, nd, &go);
out:
    free(obs);
    free(names);
    classes_free(&cls);
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
