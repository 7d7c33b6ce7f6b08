/* changepoint: BOCPD with a Normal-Wishart model and CUSUM (see
 * changepoint.h). */
#include "stats/changepoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/descriptive.h"
#include "stats/stats_status.h"

/* One run-length hypothesis: posterior mean, kappa, dof, and L, the lower
 * Cholesky factor of P = inverse Wishart scale (BARO's inv(scale)). */
struct hyp {
    double kappa, dof, logr;
    double *mu; /* d */
    double *l;  /* d x d lower */
};

static double log_student(const struct hyp *h, const double *x, size_t d,
                          double *tmp)
{
    double df = h->dof - (double)d + 1.0;
    double c = (h->kappa + 1.0) / (h->kappa * df);
    double logdet = 0.0, q = 0.0;

    /* solve L y = x - mu */
    for (size_t i = 0; i < d; i++) {
        double v = x[i] - h->mu[i];
        for (size_t k = 0; k < i; k++)
            v -= h->l[i * d + k] * tmp[k];
        tmp[i] = v / h->l[i * d + i];
        q += tmp[i] * tmp[i];
        logdet += log(h->l[i * d + i]);
    }
    logdet = 2.0 * logdet + (double)d * log(c); /* log det(shape) */
    q /= c;
    return lgamma((df + (double)d) / 2.0) - lgamma(df / 2.0) -
           (double)d / 2.0 * log(df * M_PI) - 0.5 * logdet -
           (df + (double)d) / 2.0 * log1p(q / df);
}

/* L L^T += w w^T (rank-one Cholesky update). */
static void chol_update(double *l, double *w, size_t d)
{
    for (size_t k = 0; k < d; k++) {
        double lkk = l[k * d + k], r = sqrt(lkk * lkk + w[k] * w[k]);
        double c = r / lkk, s = w[k] / lkk;
        l[k * d + k] = r;
        for (size_t i = k + 1; i < d; i++) {
            l[i * d + k] = (l[i * d + k] + s * w[i]) / c;
            w[i] = c * w[i] - s * l[i * d + k];
        }
    }
}

static void hyp_update(struct hyp *h, const double *x, size_t d, double *w)
{
    double f = sqrt(h->kappa / (h->kappa + 1.0));

    for (size_t i = 0; i < d; i++)
        w[i] = f * (x[i] - h->mu[i]);
    chol_update(h->l, w, d);
    for (size_t i = 0; i < d; i++)
        h->mu[i] = (h->kappa * h->mu[i] + x[i]) / (h->kappa + 1.0);
    h->kappa += 1.0;
    h->dof += 1.0;
}

static void hyp_prior(struct hyp *h, size_t d)
{
    h->kappa = 1.0;
    h->dof = (double)d + 1.0;
    memset(h->mu, 0, d * sizeof(double));
    memset(h->l, 0, d * d * sizeof(double));
    for (size_t i = 0; i < d; i++)
        h->l[i * d + i] = 1.0;
}

int stats_bocpd(const double *x, size_t rows, size_t d,
                const struct stats_bocpd_opts *opts, int *maxes)
{
    double lambda = opts && opts->lambda > 0 ? opts->lambda : 50.0;
    double prune = opts ? opts->log_prune : 0.0;
    double lh = log(1.0 / lambda), l1h = log1p(-1.0 / lambda);
    size_t cap = rows + 2, nh = 0, per = d + d * d;
    struct hyp *h = calloc(cap, sizeof(*h)), *h2 = calloc(cap, sizeof(*h2));
    double *store = malloc(cap * per * sizeof(double));
    double *xt = malloc((d + 1) * sizeof(double)),
           *tmp = malloc((d + 1) * sizeof(double));
    size_t *runlen = malloc(cap * sizeof(size_t)),
           *rl2 = malloc(cap * sizeof(size_t));
    double **freelist = malloc(cap * sizeof(double *));
    size_t nfree = 0;
    int rc = -STATS_E_NOMEM;

    if (d == 0)
        rc = -STATS_E_INVAL;
    if (!h || !h2 || !store || !xt || !tmp || !runlen || !rl2 || !freelist ||
        d == 0)
        goto out;
    for (size_t i = 0; i < rows * d; i++)
        if (!isfinite(x[i])) {
            rc = -STATS_E_INVAL;
            goto out;
        }
    for (size_t i = 0; i < cap; i++)
        freelist[nfree++] = store + (cap - 1 - i) * per;
    if (nfree == 0)
        goto out;
    /* t = 0: one hypothesis, run length 0, the prior. */
    h[0].mu = freelist[--nfree];
    h[0].l = h[0].mu + d;
    hyp_prior(&h[0], d);
    h[0].logr = 0.0;
    runlen[0] = 0;
    nh = 1;
    memset(maxes, 0, (rows + 1) * sizeof(int));
    for (size_t t = 0; t < rows; t++) {
        for (size_t j = 0; j < d; j++)
            xt[j] = x[j * rows + t];
        /* maxes[t]: argmax of the posterior after t observations (the
         * first maximum in run-length order, as numpy's argmax). */
        size_t best = 0;
        for (size_t i = 1; i < nh; i++)
            if (h[i].logr > h[best].logr ||
                (h[i].logr == h[best].logr && runlen[i] < runlen[best]))
                best = i;
        maxes[t] = (int)runlen[best];
        double cp = -INFINITY;
        for (size_t i = 0; i < nh; i++) {
            double lp = h[i].logr + log_student(&h[i], xt, d, tmp);
            double a = lp + lh;
            cp = cp > a ? cp + log1p(exp(a - cp)) : a + log1p(exp(cp - a));
            h[i].logr = lp + l1h;
        }
        /* New list: the prior (run length 0) then every old hypothesis one
         * longer, updated with x_t. */
        size_t m = 0;
        h2[m].mu = freelist[--nfree];
        h2[m].l = h2[m].mu + d;
        hyp_prior(&h2[m], d);
        h2[m].logr = cp;
        rl2[m++] = 0;
        for (size_t i = 0; i < nh; i++) {
            hyp_update(&h[i], xt, d, tmp);
            h2[m] = h[i];
            rl2[m++] = runlen[i] + 1;
        }
        /* normalise, then prune far-behind run lengths if asked */
        double mx = -INFINITY, z = 0.0;
        for (size_t i = 0; i < m; i++)
            mx = fmax(mx, h2[i].logr);
        for (size_t i = 0; i < m; i++)
            z += exp(h2[i].logr - mx);
        z = mx + log(z);
        nh = 0;
        for (size_t i = 0; i < m; i++) {
            h2[i].logr -= z;
            if (prune > 0 && h2[i].logr < -prune && i > 0) {
                freelist[nfree++] = h2[i].mu;
                continue;
            }
            h[nh] = h2[i];
            runlen[nh++] = rl2[i];
        }
    }
    rc = 0;
out:
    free(h);
    free(h2);
    free(store);
    free(xt);
    free(tmp);
    free(runlen);
    free(rl2);
    free(freelist);
    return rc;
}

size_t stats_bocpd_change_points(const int *maxes, size_t len, size_t *cps)
{
    size_t m = 0;

    for (size_t i = 1; i < len; i++)
        if (abs(maxes[i] - maxes[i - 1]) > 1)
            cps[m++] = i;
    return m;
}

int stats_bocpd_baro(const double *x, size_t rows, size_t cols,
                     const struct stats_bocpd_opts *opts, size_t *cp)
{
    struct stats_bocpd_opts o = {50.0, 0.0};
    double *z = malloc((rows * cols + 1) * sizeof(double));
    int *maxes = malloc((rows + 1) * sizeof(int));
    size_t *cps = malloc((rows + 1) * sizeof(size_t)), d = 0;
    int rc = -STATS_E_NOMEM;

    if (opts)
        o = *opts;
    if (!z || !maxes || !cps)
        goto out;
    for (size_t j = 0; j < cols; j++) {
        const double *c = x + j * rows;
        double *zc = z + d * rows, last = NAN, lo = INFINITY, hi = -INFINITY;
        if (stats_is_constant(c, rows))
            continue;
        for (size_t i = 0; i < rows; i++) {
            if (!isnan(c[i]))
                last = c[i];
            zc[i] = isnan(last) ? 0.0 : last; /* ffill, then 0 */
            lo = fmin(lo, zc[i]);
            hi = fmax(hi, zc[i]);
        }
        for (size_t i = 0; i < rows; i++)
            zc[i] = hi > lo ? (zc[i] - lo) / (hi - lo) : 0.0;
        d++;
    }
    rc = -STATS_E_INVAL;
    if (d == 0 || rows == 0)
        goto out;
    rc = stats_bocpd(z, rows, d, &o, maxes);
    if (rc < 0)
        goto out;
    rc = -STATS_E_INVAL;
    if (stats_bocpd_change_points(maxes, rows + 1, cps) > 0) {
        *cp = cps[0];
        rc = 0;
    }
out:
    free(z);
    free(maxes);
    free(cps);
    return rc;
}

int stats_bocpd_series(const double *x, size_t n,
                       const struct stats_bocpd_opts *opts, size_t *cp)
{
    return stats_bocpd_baro(x, n, 1, opts, cp);
}

int stats_cusum(const double *x, size_t n, size_t ref, double k_sigma,
                double h_sigma, size_t *alarm, size_t *start)
{
    double mu, sd, sp = 0.0, sn = 0.0;
    size_t zp = 0, zn = 0;

    if (ref < 2 || ref > n)
        return -STATS_E_INVAL;
    mu = stats_mean(x, ref);
    sd = stats_std(x, ref, 1);
    if (!(sd > 0.0))
        return -STATS_E_INVAL;
    *alarm = *start = n;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            continue;
        sp = fmax(0.0, sp + (x[i] - mu) - k_sigma * sd);
        sn = fmax(0.0, sn - (x[i] - mu) - k_sigma * sd);
        if (sp == 0.0)
            zp = i + 1;
        if (sn == 0.0)
            zn = i + 1;
        if (sp > h_sigma * sd || sn > h_sigma * sd) {
            *alarm = i;
            *start = sp > h_sigma * sd ? zp : zn;
            return 0;
        }
    }
    return 0;
}

int stats_cusum_changepoint(const double *x, size_t n, size_t *k)
{
    double mean = 0.0, s = 0.0, best = -1.0;

    if (n < 2)
        return -STATS_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return -STATS_E_INVAL;
        mean += x[i];
    }
    mean /= (double)n;
    *k = 1;
    for (size_t i = 0; i + 1 < n; i++) {
        s += x[i] - mean;
        if (fabs(s) > best) {
            best = fabs(s);
            *k = i + 1;
        }
    }
    return 0;
}
