/* e_diagnosis: epsilon-Diagnosis (Shan et al., "epsilon-Diagnosis:
 * Unsupervised and Real-time Diagnosis of Small-window Long-tail Latency in
 * Large-scale Microservice Platforms", WWW 2019) as RCAEval runs it
 * (RCAEval/e2e/__init__.py, e_diagnosis()) through pyrca 1.0.1's
 * EpsilonDiagnosis (pyrca/analyzers/epsilon_diagnosis.py):
 *
 *  1. RCAEval's windows (rca_split_windows()), both cut to the shorter
 *     one's length: the normal window's last rows, the anomalous window's
 *     first rows.
 *  2. train(normal): for each metric, bootstrap_time resamples (with
 *     replacement, each as long as the window) of its normal values; for
 *     every pair of resamples the squared correlation
 *     cov(i,j)^2 / (var(i) var(j)) (0 when a variance is 0); the metric's
 *     threshold is the (1 - alpha) quantile of those values (numpy's
 *     linear interpolation).
 *  3. find_root_causes(anomalous): for each metric with non-zero variance
 *     in both windows, score = cov(normal, anomalous)^2 / (var(normal)
 *     var(anomalous)) with numpy's defaults (np.cov: ddof 1; np.var: ddof
 *     0), so score = rho^2 (n / (n - 1))^2; the metric is a root cause
 *     when score > threshold.
 *  4. The root causes by score, highest first, at most root_cause_top_k
 *     (pyrca's default 3, which RCAEval keeps).
 *
 * Parameters: alpha (RCAEval: $E_ALPHA, default 0.01), bootstrap_time
 * (200), root_cause_top_k (3). The bootstrap draws from the seeded
 * generator, not numpy's global one, so thresholds match pyrca's in
 * distribution, not draw for draw. */
#include <math.h>
#include <stdlib.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/descriptive.h"

static const char *const ed_params[] = {"alpha", "bootstrap_time",
                                        "root_cause_top_k", NULL};

struct ed_opts {
    double alpha;
    size_t boot;
    size_t top_k;
};

static int ed_opts_read(const struct rca_params *p, struct ed_opts *o,
                        char *err, size_t errlen)
{
    int rc;

    if ((rc = rca_param_double(p, "e_diagnosis", "alpha", 0.01, 0.0, 1.0,
                               &o->alpha, err, errlen)) < 0 ||
        (rc = rca_param_size(p, "e_diagnosis", "bootstrap_time", 200, 2, 100000,
                             &o->boot, err, errlen)) < 0 ||
        (rc = rca_param_size(p, "e_diagnosis", "root_cause_top_k", 3, 0,
                             SIZE_MAX, &o->top_k, err, errlen)) < 0)
        return rc;
    return 0;
}

static int ed_validate(const struct rca_params *p, char *err, size_t errlen)
{
    struct ed_opts o;

    return ed_opts_read(p, &o, err, errlen);
}

/* Population variance (np.var); exactly 0 for a constant series. */
static double var0(const double *x, size_t n, double *mean)
{
    double m = 0.0, s = 0.0;
    bool same = true;

    for (size_t i = 0; i < n; i++) {
        m += x[i];
        same &= x[i] == x[0];
    }
    m /= (double)n;
    *mean = m;
    if (same)
        return 0.0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return s / (double)n;
}

/* sum a[r] b[r] with four partial sums: the compiler may not reorder a
 * floating-point sum itself, and this loop is where the method spends its
 * time (pairs x rows per metric). */
static double dot(const double *a, const double *b, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t r = 0;

    for (; r + 4 <= n; r += 4) {
        s0 += a[r] * b[r];
        s1 += a[r + 1] * b[r + 1];
        s2 += a[r + 2] * b[r + 2];
        s3 += a[r + 3] * b[r + 3];
    }
    for (; r < n; r++)
        s0 += a[r] * b[r];
    return (s0 + s1) + (s2 + s3);
}

/* The (1 - alpha) quantile of the squared correlations between every pair
 * of `boot` bootstrap resamples of x[0..n). */
static int ed_threshold(const double *x, size_t n, size_t boot, double alpha,
                        struct stats_rng *rng, double *thr)
{
    size_t npairs = boot * (boot - 1) / 2, k = 0;
    double *s = malloc(boot * n * sizeof(*s));
    double *ss = malloc(boot * sizeof(*ss));
    double *r2 = malloc((npairs ? npairs : 1) * sizeof(*r2));
    int rc = -RCA_E_NOMEM;

    if (!s || !ss || !r2)
        goto out;
    /* Resample i at s + i*n, centred, and its sum of squares (the ddof of
     * np.cov cancels in the ratio). */
    for (size_t i = 0; i < boot; i++) {
        double *si = s + i * n, m;

        for (size_t r = 0; r < n; r++)
            si[r] = x[rca_rng_below(rng, n)];
        /* var0() is exactly 0 for a constant resample, as numpy's is. */
        ss[i] = var0(si, n, &m) * (double)n;
        for (size_t r = 0; r < n; r++)
            si[r] -= m;
    }
    for (size_t i = 0; i < boot; i++)
        for (size_t j = i + 1; j < boot; j++) {
            const double *a = s + i * n, *b = s + j * n;
            double c = 0.0;

            if (ss[i] == 0.0 || ss[j] == 0.0) {
                r2[k++] = 0.0;
                continue;
            }
            c = dot(a, b, n);
            r2[k++] = c * c / (ss[i] * ss[j]);
        }
    rc = stats_quantile(r2, npairs, 1.0 - alpha, thr) < 0 ? -RCA_E_NOMEM : 0;
out:
    free(s);
    free(ss);
    free(r2);
    return rc;
}

/* Step 3's score of one metric; *ok false when a variance is 0. */
static double ed_score(const double *a, const double *b, size_t n, bool *ok)
{
    double ma, mb, va = var0(a, n, &ma), vb = var0(b, n, &mb), c = 0.0;

    *ok = va != 0.0 && vb != 0.0;
    if (!*ok)
        return 0.0;
    for (size_t r = 0; r < n; r++)
        c += (a[r] - ma) * (b[r] - mb);
    c /= (double)(n - 1);
    return c * c / (va * vb);
}

static int ed_rank(const struct rca_case *c, const struct rca_params *p,
                   struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *nw, *aw;
    struct stats_rng rng;
    struct ed_opts o;
    size_t len;
    int rc;

    if ((rc = ed_opts_read(p, &o, err, errlen)) < 0 ||
        (rc = rca_split_windows(c, &nw, &aw, err, errlen)) < 0)
        return rc;
    len = nw->nrows < aw->nrows ? nw->nrows : aw->nrows;
    if (len < 2) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "e_diagnosis needs 2 rows in each window, has %zu", len);
        goto out;
    }
    rca_rng_init(&rng, p->seed);
    for (size_t j = 0; j < nw->ncols; j++) {
        /* normal_df.tail(len), anomal_df.head(len) */
        const double *a = series_table_col(nw, j) + (nw->nrows - len);
        const double *b = series_table_col(aw, j);
        double thr = 0.0, score;
        bool ok;

        score = ed_score(a, b, len, &ok);
        /* The threshold is a quantile of squared correlations, so within
         * [0, 1] (up to rounding): a score of 0 never passes it and one
         * clearly above 1 always does. Only the others need the bootstrap,
         * which is nearly all of the method's time. */
        if (!ok || score == 0.0)
            continue;
        if (score <= 1.0 + 1e-9 &&
            (rc = ed_threshold(a, len, o.boot, o.alpha, &rng, &thr)) < 0) {
            rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
            goto out;
        }
        if (score > thr && rca_ranking_add(out, nw->cols[j].name, score) < 0) {
            rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
            goto out;
        }
    }
    rca_ranking_sort(out);
    rca_ranking_truncate(out, o.top_k);
out:
    series_table_destroy(nw);
    series_table_destroy(aw);
    return rc;
}

const struct rca_method rca_method_e_diagnosis = {
    .name = "e_diagnosis",
    .summary = "epsilon-Diagnosis: normal/anomalous correlation above a "
               "bootstrap threshold (pyrca)",
    .inputs = RCA_IN_METRICS | RCA_IN_INJECT,
    .flags = RCA_METHOD_STOCHASTIC,
    .params = ed_params,
    .validate = ed_validate,
    .rank = ed_rank,
};
