/* mmbaro: multi-source BARO as the RCAEval copy vendored in rca-llm runs it
 * (rca-benchmark/RCAEval/e2e/baro.py, mmnsigma() with RobustScaler; Pham et
 * al., "RCAEval: A Benchmark for Root Cause Analysis of Microservice
 * Systems with Telemetry Data", WWW 2025 companion): BARO's robust score
 * for every column of four sources, ranked together:
 *
 *   metrics      RCAEval's windows of the case's metric table, as baro.
 *   logts        the case's whole log-count table (not windowed):
 *                drop_constant, then rows before / at-or-after the inject
 *                time. Gaps are NOT filled (RCAEval does not).
 *   tracets_err  forward fill, 0, drop_constant, split; the normal part
 *                loses its last 2 rows (RCAEval's [:-2]).
 *   tracets_lat  forward fill, 0, drop_constant, split.
 *
 * Candidates are appended in that order (metrics, logs, trace errors,
 * trace counts) and sorted stably by score, highest first. A source with
 * no row on one side of the inject time fails the case, as scikit-learn's
 * fit on an empty array does in RCAEval.
 *
 * The newest RCAEval (phamquiluan/RCAEval) changed mmnsigma: it keeps every
 * 15th metric row and uses the trace tables only on some datasets. This
 * follows the vendored copy, which produced the paper's figures. */
#include "model/series.h"
#include "rca/rca_method.h"

/* Score every column of one side source and append it to out. */
static int mm_source(const struct rca_case *c, const char *what,
                     const struct series_table *src, bool fill,
                     size_t drop_tail, struct rca_ranking *out, char *err,
                     size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *t = series_table_copy(src), *n = NULL, *a = NULL;
    int rc = 0;

    if (!t)
        goto oom;
    if (t->nrows == 0) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name, "%s has no rows", what);
        goto out;
    }
    if (fill) {
        series_table_ffill(t);
        series_table_fill(t, 0.0);
    }
    series_table_drop_constant(t);
    if (series_table_window(t, INT64_MIN, c->inject_ns, &n) < 0 ||
        series_table_window(t, c->inject_ns, INT64_MAX, &a) < 0)
        goto oom;
    for (size_t j = 0; j < t->ncols && rc == 0; j++) {
        size_t na = n->nrows > drop_tail ? n->nrows - drop_tail : 0;
        double score;

        int sc =
            rca_scaler_score(series_table_col(n, j), na, series_table_col(a, j),
                             a->nrows, true, NULL, &score);

        if (sc == -RCA_E_NOMEM)
            goto oom;
        if (sc < 0) {
            rc = rca_fail(err, errlen, RCA_E_DATA, name,
                          "%s: no rows %s the inject time", what,
                          na == 0 ? "before" : "at or after");
            break;
        }
        if (rca_ranking_add(out, t->cols[j].name, score) < 0)
            goto oom;
    }
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    series_table_destroy(t);
    series_table_destroy(n);
    series_table_destroy(a);
    return rc;
}

static int mmbaro_rank(const struct rca_case *c, const struct rca_params *p,
                       struct rca_ranking *out, char *err, size_t errlen)
{
    int rc;

    (void)p;
    if ((rc = rca_scaler_rank_metrics(c, true, out, err, errlen)) < 0 ||
        (rc = mm_source(c, "logts", c->logts, false, 0, out, err, errlen)) <
            0 ||
        (rc = mm_source(c, "tracets_err", c->tracets_err, true, 2, out, err,
                        errlen)) < 0 ||
        (rc = mm_source(c, "tracets_lat", c->tracets_lat, true, 0, out, err,
                        errlen)) < 0)
        return rc;
    rca_ranking_sort(out);
    return 0;
}

const struct rca_method rca_method_mmbaro = {
    .name = "mmbaro",
    .summary = "BARO's robust score over metrics, log counts and trace "
               "error/success counts together",
    .inputs = RCA_IN_METRICS | RCA_IN_INJECT | RCA_IN_LOGTS | RCA_IN_TRACETS,
    .rank = mmbaro_rank,
};
