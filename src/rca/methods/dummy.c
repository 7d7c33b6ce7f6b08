/* dummy: RCAEval's baseline (RCAEval/e2e/__init__.py, dummy()): the
 * columns left after RCAEval's preprocess() of the whole metric table, in
 * a random order. Seeded here, so the same seed gives the same ranking.
 * rca_dummy_rank() is also the @rca fallback of the methods flagged
 * RCA_METHOD_FALLBACK (rca_rank()). */
#include <stdlib.h>

#include "model/series.h"
#include "rca/rca_method.h"

int rca_dummy_rank(const struct rca_case *c, uint64_t seed,
                   struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *t = series_table_copy(c->metrics);
    struct stats_rng rng;
    size_t *idx = NULL;
    int rc = 0;

    if (!t || !(idx = malloc((t->ncols ? t->ncols : 1) * sizeof(*idx)))) {
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
        goto out;
    }
    /* preprocess(): drop_constant over every row (pandas raises on an
     * empty table; the table of a prepared case always has rows). */
    if (t->nrows == 0) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name, "no rows");
        goto out;
    }
    series_table_preprocess_rcaeval(t);
    for (size_t i = 0; i < t->ncols; i++)
        idx[i] = i;
    rca_rng_init(&rng, seed);
    rca_rng_shuffle(&rng, idx, t->ncols);
    for (size_t i = 0; i < t->ncols && rc == 0; i++)
        if (rca_ranking_add(out, t->cols[idx[i]].name, (double)(t->ncols - i)) <
            0)
            rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    free(idx);
    series_table_destroy(t);
    return rc;
}

static int dummy_rank(const struct rca_case *c, const struct rca_params *p,
                      struct rca_ranking *out, char *err, size_t errlen)
{
    return rca_dummy_rank(c, p->seed, out, err, errlen);
}

const struct rca_method rca_method_dummy = {
    .name = "dummy",
    .summary = "random order of the non-constant metrics (seeded baseline)",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_STOCHASTIC,
    .rank = dummy_rank,
};
