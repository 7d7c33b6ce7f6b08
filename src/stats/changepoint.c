/* changepoint: BOCPD with a Normal-Wishart model and CUSUM (see
 * changepoint.h). */
#include "stats/changepoint.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats/descriptive.h"
#include "stats/stats_status.h"
#include "stats/vec4.h"

/* ---------------------------------------------------------------------
 * The hypotheses side by side. Each live run length is a slot, oldest
 * first; a slot holds the posterior of the run that started at one row:
 * mean mu, U = L^T with L the lower Cholesky factor of P = the inverse
 * Wishart scale (BARO's inv(scale)), log det P, and q, the squared
 * Mahalanobis length of the last x - mu under P (what the rank-one update
 * adds to the determinant). Every field is an array over slots (element e
 * of slot j at e * cap + j), so one row's work on every hypothesis is a
 * loop over contiguous slots, vectorised across them; each hypothesis sees
 * the same operations in the same order as it would alone (the outputs are
 * bit for bit those of one hypothesis at a time). kappa and dof are set by
 * the run length r: kappa = 1 + r, dof = d + 1 + r.
 * --------------------------------------------------------------------- */

/* The part of the Student-t log density set by the run length r: lgamma
 * and log terms once per run length, not per hypothesis and row. */
struct tconst {
    double k, c, df, half; /* constant, c, df, (df + d) / 2 */
    double f2;             /* kappa / (kappa + 1): the update's weight^2 */
};

static void tconst_fill(struct tconst *tc, size_t n, size_t d)
{
    for (size_t r = 0; r < n; r++) {
        double kappa = 1.0 + (double)r, dof = (double)d + 1.0 + (double)r;
        double df = dof - (double)d + 1.0;
        double c = (kappa + 1.0) / (kappa * df);
        tc[r].k = lgamma((df + (double)d) / 2.0) - lgamma(df / 2.0) -
                  (double)d / 2.0 * log(df * M_PI) - 0.5 * (double)d * log(c);
        tc[r].c = c;
        tc[r].df = df;
        tc[r].half = (df + (double)d) / 2.0;
        tc[r].f2 = kappa / (kappa + 1.0);
    }
}

struct slots {
    size_t d, cap, n; /* dimension, capacity (a multiple of 4), live */
    double *mu;       /* d x cap */
    double *u;        /* d(d+1)/2 x cap: U's upper triangle by rows */
    double *logdet, *q, *logr, *kappa, *f;
    size_t *runlen;
    double *tmp; /* d x cap: x - mu, then the solve's and update's work */
};

/* Index of U[k][i] (k <= i) in the packed upper triangle. */
static size_t upos(size_t d, size_t k, size_t i)
{
    return k * d - k * (k - 1) / 2 + (i - k);
}

/* Slot j (and the padding up to the next multiple of 4) reset to the
 * prior: kappa 1, mean 0, P = I. */
static void slot_prior(struct slots *s, size_t j)
{
    size_t d = s->d;

    for (size_t i = 0; i < d; i++)
        s->mu[i * s->cap + j] = 0.0;
    for (size_t k = 0; k < d; k++)
        for (size_t i = k; i < d; i++)
            s->u[upos(d, k, i) * s->cap + j] = i == k ? 1.0 : 0.0;
    s->logdet[j] = 0.0;
    s->q[j] = 0.0;
    s->kappa[j] = 1.0;
    s->runlen[j] = 0;
}

/* q[j] = |L^-1 (x - mu_j)|^2 for slots [0, m), m a multiple of 4: the
 * forward solve by columns of L (rows of U). */
STATS_KERN static void slots_solve(struct slots *s, const double *x, size_t m)
{
    size_t d = s->d, cap = s->cap;
    double *t = s->tmp;

    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < m; j += 4) {
            v4d mu, v;
            V4_LOAD(mu, s->mu + i * cap + j);
            v = x[i] - mu;
            V4_STORE(t + i * cap + j, v);
        }
    for (size_t j = 0; j < m; j += 4) {
        v4d z = {0};
        V4_STORE(s->q + j, z);
    }
    for (size_t k = 0; k < d; k++) {
        const double *uk = s->u + upos(d, k, k) * cap;
        for (size_t j = 0; j < m; j += 4) {
            v4d tk, ukk, y, q;
            V4_LOAD(tk, t + k * cap + j);
            V4_LOAD(ukk, uk + j);
            y = tk / ukk;
            V4_LOAD(q, s->q + j);
            q += y * y;
            V4_STORE(s->q + j, q);
            V4_STORE(t + k * cap + j, y);
            for (size_t i = k + 1; i < d; i++) {
                v4d ti, uki;
                V4_LOAD(ti, t + i * cap + j);
                V4_LOAD(uki, uk + (i - k) * cap + j);
                ti -= uki * y;
                V4_STORE(t + i * cap + j, ti);
            }
        }
    }
}

/* Every slot in [0, m) takes x: w = f (x - mu), L L^T += w w^T by the
 * rank-one Cholesky update on U, then the mean. */
STATS_KERN static void slots_update(struct slots *s, const double *x, size_t m)
{
    size_t d = s->d, cap = s->cap;
    double *w = s->tmp;

    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < m; j += 4) {
            v4d mu, f, v;
            V4_LOAD(mu, s->mu + i * cap + j);
            V4_LOAD(f, s->f + j);
            v = f * (x[i] - mu);
            V4_STORE(w + i * cap + j, v);
        }
    for (size_t k = 0; k < d; k++) {
        double *uk = s->u + upos(d, k, k) * cap;
        for (size_t j = 0; j < m; j += 4) {
            v4d lkk, wk, r, c, sn, ic;
            V4_LOAD(lkk, uk + j);
            V4_LOAD(wk, w + k * cap + j);
            r = lkk * lkk + wk * wk;
            for (int e = 0; e < 4; e++)
                r[e] = sqrt(r[e]);
            c = r / lkk;
            sn = wk / lkk;
            ic = lkk / r;
            V4_STORE(uk + j, r);
            for (size_t i = k + 1; i < d; i++) {
                v4d uki, wi, lik;
                V4_LOAD(uki, uk + (i - k) * cap + j);
                V4_LOAD(wi, w + i * cap + j);
                lik = (uki + sn * wi) * ic;
                wi = c * wi - sn * lik;
                V4_STORE(uk + (i - k) * cap + j, lik);
                V4_STORE(w + i * cap + j, wi);
            }
        }
    }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < m; j += 4) {
            v4d mu, ka;
            V4_LOAD(mu, s->mu + i * cap + j);
            V4_LOAD(ka, s->kappa + j);
            mu = (ka * mu + x[i]) / (ka + 1.0);
            V4_STORE(s->mu + i * cap + j, mu);
        }
}

/* Slot src's contents moved to dst (dst < src): pruning keeps the live
 * slots contiguous and in order. */
static void slot_move(struct slots *s, size_t dst, size_t src)
{
    size_t d = s->d, cap = s->cap, nu = d * (d + 1) / 2;

    for (size_t i = 0; i < d; i++)
        s->mu[i * cap + dst] = s->mu[i * cap + src];
    for (size_t e = 0; e < nu; e++)
        s->u[e * cap + dst] = s->u[e * cap + src];
    s->logdet[dst] = s->logdet[src];
    s->logr[dst] = s->logr[src];
    s->kappa[dst] = s->kappa[src];
    s->runlen[dst] = s->runlen[src];
}

static void slots_free(struct slots *s)
{
    free(s->mu);
    free(s->u);
    free(s->logdet);
    free(s->q);
    free(s->logr);
    free(s->kappa);
    free(s->f);
    free(s->runlen);
    free(s->tmp);
}

static int slots_alloc(struct slots *s, size_t d, size_t rows)
{
    size_t cap = (rows + 1 + 3) / 4 * 4 + 4, nu = d * (d + 1) / 2;

    memset(s, 0, sizeof(*s));
    s->d = d;
    s->cap = cap;
    if (nu > SIZE_MAX / sizeof(double) / cap)
        return -1;
    s->mu = malloc(d * cap * sizeof(double));
    s->u = malloc(nu * cap * sizeof(double));
    s->tmp = malloc(d * cap * sizeof(double));
    s->logdet = malloc(cap * sizeof(double));
    s->q = malloc(cap * sizeof(double));
    s->logr = malloc(cap * sizeof(double));
    s->kappa = malloc(cap * sizeof(double));
    s->f = malloc(cap * sizeof(double));
    s->runlen = malloc(cap * sizeof(size_t));
    if (!s->mu || !s->u || !s->tmp || !s->logdet || !s->q || !s->logr ||
        !s->kappa || !s->f || !s->runlen)
        return -1;
    for (size_t j = 0; j < cap; j++) {
        slot_prior(s, j);
        s->logr[j] = 0.0;
        s->f[j] = 0.0;
    }
    return 0;
}

int stats_bocpd(const double *x, size_t rows, size_t d,
                const struct stats_bocpd_opts *opts, int *maxes)
{
    double lambda = opts && opts->lambda > 0 ? opts->lambda : 50.0;
    double prune = opts ? opts->log_prune : 0.0;
    double lh = log(1.0 / lambda), l1h = log1p(-1.0 / lambda);
    struct slots s;
    struct tconst *tc = malloc((rows + 2) * sizeof(*tc));
    double *xt = malloc((d + 1) * sizeof(double));
    int rc = -STATS_E_NOMEM;

    if (d == 0 || rows > SIZE_MAX / 2 / sizeof(double) / d) {
        free(tc);
        free(xt);
        return -STATS_E_INVAL;
    }
    if (slots_alloc(&s, d, rows) < 0 || !tc || !xt)
        goto out;
    for (size_t i = 0; i < rows * d; i++)
        if (!isfinite(x[i])) {
            rc = -STATS_E_INVAL;
            goto out;
        }
    tconst_fill(tc, rows + 2, d);
    /* t = 0: one hypothesis, run length 0, the prior (slot 0) */
    s.n = 1;
    for (size_t t = 0; t <= rows; t++)
        maxes[t] = 0;
    for (size_t t = 0; t < rows; t++) {
        size_t n = s.n, m = (n + 3) / 4 * 4;
        for (size_t j = 0; j < d; j++)
            xt[j] = x[j * rows + t];
        /* maxes[t]: argmax of the posterior after t observations, the
         * first maximum in run-length order (newest slot first), as
         * numpy's argmax */
        size_t best = n - 1;
        for (size_t j = n - 1; j-- > 0;)
            if (s.logr[j] > s.logr[best])
                best = j;
        maxes[t] = (int)s.runlen[best];
        slots_solve(&s, xt, m);
        double cp = -INFINITY;
        for (size_t j = n; j-- > 0;) {
            const struct tconst *c = &tc[s.runlen[j]];
            double lp = s.logr[j] + c->k - 0.5 * s.logdet[j] -
                        c->half * log1p(s.q[j] / c->c / c->df);
            double a = lp + lh;
            cp = cp > a ? cp + log1p(exp(a - cp)) : a + log1p(exp(cp - a));
            s.logr[j] = lp + l1h;
        }
        /* every run one longer, updated with x_t; then the new run (the
         * prior, run length 0) as the newest slot */
        for (size_t j = 0; j < m; j++)
            s.f[j] = sqrt(tc[s.runlen[j]].f2);
        slots_update(&s, xt, m);
        for (size_t j = 0; j < n; j++) {
            s.logdet[j] += log1p(tc[s.runlen[j]].f2 * s.q[j]);
            s.kappa[j] += 1.0;
            s.runlen[j]++;
        }
        for (size_t j = n; j < m + 4 && j < s.cap; j++)
            slot_prior(&s, j);
        s.logr[n] = cp;
        n++;
        /* normalise (in run-length order), then prune far-behind run
         * lengths if asked (never the newest) */
        double mx = -INFINITY, z = 0.0;
        for (size_t j = n; j-- > 0;)
            mx = fmax(mx, s.logr[j]);
        for (size_t j = n; j-- > 0;)
            z += exp(s.logr[j] - mx);
        z = mx + log(z);
        size_t keep = 0;
        for (size_t j = 0; j < n; j++) {
            s.logr[j] -= z;
            if (prune > 0 && s.logr[j] < -prune && j + 1 < n)
                continue;
            if (keep != j)
                slot_move(&s, keep, j);
            keep++;
        }
        for (size_t j = keep; j < n && j < s.cap; j++)
            slot_prior(&s, j);
        s.n = keep;
    }
    rc = 0;
out:
    slots_free(&s);
    free(tc);
    free(xt);
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
