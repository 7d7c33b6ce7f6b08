/* icalingam: FastICA (scikit-learn's parallel logcosh iteration), the
 * Hungarian assignment, and lingam's ICALiNGAM causal order on top of
 * them (see icalingam.h). Matrices here are row-major; the data comes in
 * column-major and is turned into one row per variable, which is the
 * layout sklearn's FastICA works in (XT, p x n). */
#include "stats/icalingam.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "stats/lingam.h"
#include "stats/randwalk.h"
#include "stats/stats_status.h"
#include "stats/vec4.h"

#define SV_FLOOR 1e-13 /* smallest singular value kept, relative */

/* sum_{s<len} a[s] b[s] with four partial sums (vectorisable). */
static double dot4(const double *a, const double *b, size_t len)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t s = 0;

    for (; s + 4 <= len; s += 4) {
        s0 += a[s] * b[s];
        s1 += a[s + 1] * b[s + 1];
        s2 += a[s + 2] * b[s + 2];
        s3 += a[s + 3] * b[s + 3];
    }
    for (; s < len; s++)
        s0 += a[s] * b[s];
    return (s0 + s1) + (s2 + s3);
}

/* ---------------------------------------------------------------------
 * Kernels of the fixed-point iteration (p x n products and tanh). On
 * x86-64 with GCC they are built twice, for AVX2+FMA and for the baseline,
 * and the loader picks one (target_clones); elsewhere the baseline only.
 * Accumulation order differs from numpy's BLAS anyway (and between the two
 * clones), at the 1e-16 relative level.
 * --------------------------------------------------------------------- */

/* y (p x n) = w (p x p) x (p x n), all row-major. */
STATS_KERN static void kern_wx(const double *w, const double *x, double *y,
                               size_t p, size_t n)
{
    size_t i = 0;

    for (; i + 4 <= p; i += 4) {
        const double *w0 = w + i * p, *w1 = w0 + p, *w2 = w1 + p, *w3 = w2 + p;
        size_t t = 0;
        for (; t + 8 <= n; t += 8) {
            v4d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            v4d b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
            for (size_t k = 0; k < p; k++) {
                v4d xa, xb;
                V4_LOAD(xa, x + k * n + t);
                V4_LOAD(xb, x + k * n + t + 4);
                a0 += w0[k] * xa;
                b0 += w0[k] * xb;
                a1 += w1[k] * xa;
                b1 += w1[k] * xb;
                a2 += w2[k] * xa;
                b2 += w2[k] * xb;
                a3 += w3[k] * xa;
                b3 += w3[k] * xb;
            }
            V4_STORE(y + i * n + t, a0);
            V4_STORE(y + i * n + t + 4, b0);
            V4_STORE(y + (i + 1) * n + t, a1);
            V4_STORE(y + (i + 1) * n + t + 4, b1);
            V4_STORE(y + (i + 2) * n + t, a2);
            V4_STORE(y + (i + 2) * n + t + 4, b2);
            V4_STORE(y + (i + 3) * n + t, a3);
            V4_STORE(y + (i + 3) * n + t + 4, b3);
        }
        for (; t < n; t++)
            for (size_t r = 0; r < 4; r++) {
                double acc = 0.0;
                for (size_t k = 0; k < p; k++)
                    acc += w[(i + r) * p + k] * x[k * n + t];
                y[(i + r) * n + t] = acc;
            }
    }
    for (; i < p; i++)
        for (size_t t = 0; t < n; t++) {
            double acc = 0.0;
            for (size_t k = 0; k < p; k++)
                acc += w[i * p + k] * x[k * n + t];
            y[i * n + t] = acc;
        }
}

#define HSUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))

/* out (p x p) = g (p x n) x^T (x: p x n) * scale. */
STATS_KERN static void kern_gxt(const double *g, const double *x, double *out,
                                size_t p, size_t n, double scale)
{
    for (size_t i = 0; i < p; i += 2) {
        size_t i1 = i + 1 < p ? i + 1 : i;
        const double *g0 = g + i * n, *g1 = g + i1 * n;
        for (size_t k = 0; k < p; k += 2) {
            size_t k1 = k + 1 < p ? k + 1 : k;
            const double *x0 = x + k * n, *x1 = x + k1 * n;
            v4d a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0};
            size_t t = 0;
            for (; t + 4 <= n; t += 4) {
                v4d ga, gb, xa, xb;
                V4_LOAD(ga, g0 + t);
                V4_LOAD(gb, g1 + t);
                V4_LOAD(xa, x0 + t);
                V4_LOAD(xb, x1 + t);
                a00 += ga * xa;
                a01 += ga * xb;
                a10 += gb * xa;
                a11 += gb * xb;
            }
            double s00 = HSUM(a00), s01 = HSUM(a01), s10 = HSUM(a10),
                   s11 = HSUM(a11);
            for (; t < n; t++) {
                s00 += g0[t] * x0[t];
                s01 += g0[t] * x1[t];
                s10 += g1[t] * x0[t];
                s11 += g1[t] * x1[t];
            }
            out[i * p + k] = s00 * scale;
            out[i * p + k1] = s01 * scale;
            out[i1 * p + k] = s10 * scale;
            out[i1 * p + k1] = s11 * scale;
        }
    }
}

/* tanh via m = expm1(-2|v|) = 2^k (r q(r) + 1) - 1 (Cody-Waite reduction,
 * q the degree-12 Taylor polynomial of (e^r - 1)/r), tanh = sign(v) (-m) /
 * (2 + m): r q(r) keeps full relative precision for small |v| (k = 0 there,
 * and m = r q(r) exactly), so tanh is within a few 1e-16 relative. */
#define TANH_LN2_HI 6.93147180369123816490e-01
#define TANH_LN2_LO 1.90821492927058770002e-10
#define TANH_INV_LN2 1.44269504088896338700e+00
#define TANH_MAGIC 6755399441055744.0 /* 1.5 * 2^52: rounds to integer */

#define TANH_POLY(q, r)                                                        \
    do {                                                                       \
        q = (r)*0.0 + 1.0 / 6227020800.0;                                      \
        q = q * (r) + 1.0 / 479001600.0;                                       \
        q = q * (r) + 1.0 / 39916800.0;                                        \
        q = q * (r) + 1.0 / 3628800.0;                                         \
        q = q * (r) + 1.0 / 362880.0;                                          \
        q = q * (r) + 1.0 / 40320.0;                                           \
        q = q * (r) + 1.0 / 5040.0;                                            \
        q = q * (r) + 1.0 / 720.0;                                             \
        q = q * (r) + 1.0 / 120.0;                                             \
        q = q * (r) + 1.0 / 24.0;                                              \
        q = q * (r) + 1.0 / 6.0;                                               \
        q = q * (r) + 0.5;                                                     \
        q = q * (r) + 1.0;                                                     \
    } while (0)

static double tanh_one(double v)
{
    double z = fmax(-2.0 * fabs(v), -700.0), q;
    double kf = (z * TANH_INV_LN2 + TANH_MAGIC) - TANH_MAGIC;
    double r = (z - kf * TANH_LN2_HI) - kf * TANH_LN2_LO;
    int64_t bits = ((int64_t)kf + 1023) << 52;
    double sc;

    TANH_POLY(q, r);
    memcpy(&sc, &bits, sizeof(sc));
    double m = sc * (r * q) + (sc - 1.0), th = -m / (2.0 + m);
    return v < 0.0 ? -th : th;
}

typedef long long v4l __attribute__((vector_size(32), aligned(8)));

/* y <- tanh(y) in place for len values; returns sum(1 - tanh^2). Four at
 * a time with vector extensions (2^k built in the exponent field, the
 * sign copied by mask), the tail one by one: the same arithmetic. */
STATS_KERN static double kern_tanh(double *y, size_t len)
{
    const v4l sign = {
        (long long)0x8000000000000000ULL, (long long)0x8000000000000000ULL,
        (long long)0x8000000000000000ULL, (long long)0x8000000000000000ULL};
    v4d acc = {0, 0, 0, 0};
    double tail = 0.0;
    size_t t = 0;

    for (; t + 4 <= len; t += 4) {
        v4d v, q, lim = {-700.0, -700.0, -700.0, -700.0};
        V4_LOAD(v, y + t);
        v4d a = (v4d)((v4l)v & ~sign);
        v4d z = -2.0 * a;
        v4l low = z < lim; /* all ones where z < -700 */
        z = (v4d)(((v4l)z & ~low) | ((v4l)lim & low));
        v4d kf = (z * TANH_INV_LN2 + TANH_MAGIC) - TANH_MAGIC;
        v4d r = (z - kf * TANH_LN2_HI) - kf * TANH_LN2_LO;
        TANH_POLY(q, r);
        /* 2^kf: kf + 1023 in the low mantissa bits, shifted to the
         * exponent field */
        v4d kk = kf + (1023.0 + 4503599627370496.0);
        v4d sc = (v4d)((v4l)kk << 52);
        v4d m = sc * (r * q) + (sc - 1.0);
        v4d th = -m / (2.0 + m);
        th = (v4d)((v4l)th | ((v4l)v & sign));
        V4_STORE(y + t, th);
        acc += 1.0 - th * th;
    }
    for (; t < len; t++) {
        y[t] = tanh_one(y[t]);
        tail += 1.0 - y[t] * y[t];
    }
    return HSUM(acc) + tail;
}

/* A standard normal from the seeded generator (Marsaglia's polar
 * method). */
static double normal(struct stats_rng *r)
{
    double u, v, s;

    do {
        u = 2.0 * stats_rng_u01(r) - 1.0;
        v = 2.0 * stats_rng_u01(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

/* Scratch for the p x p eigenproblems. */
struct eig {
    size_t p;
    gsl_matrix *a, *vec;
    gsl_vector *val;
    gsl_eigen_symmv_workspace *ws;
    double *t, *u; /* p x p */
};

static void eig_free(struct eig *e)
{
    if (e->a)
        gsl_matrix_free(e->a);
    if (e->vec)
        gsl_matrix_free(e->vec);
    if (e->val)
        gsl_vector_free(e->val);
    if (e->ws)
        gsl_eigen_symmv_free(e->ws);
    free(e->t);
    free(e->u);
}

static int eig_init(struct eig *e, size_t p)
{
    memset(e, 0, sizeof(*e));
    e->p = p;
    e->a = gsl_matrix_alloc(p, p);
    e->vec = gsl_matrix_alloc(p, p);
    e->val = gsl_vector_alloc(p);
    e->ws = gsl_eigen_symmv_alloc(p);
    e->t = malloc(p * p * sizeof(double));
    e->u = malloc(p * p * sizeof(double));
    return e->a && e->vec && e->val && e->ws && e->t && e->u ? 0
                                                             : -STATS_E_NOMEM;
}

/* Eigen-decomposition of the symmetric p x p matrix m (row-major). */
static int eig_sym(struct eig *e, const double *m)
{
    size_t p = e->p;

    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++)
            gsl_matrix_set(e->a, i, j, m[i * p + j]);
    return gsl_eigen_symmv(e->a, e->val, e->vec, e->ws) ? -STATS_E_NOCONV : 0;
}

/* sklearn's _sym_decorrelation: W <- u diag(1/sqrt(s)) u^T W, where
 * W W^T = u diag(s) u^T (s clipped below at the smallest normal). tmp
 * and e->t are p x p scratch; e->u (p x p) too. */
static int sym_decorrelate(struct eig *e, double *w, double *tmp)
{
    size_t p = e->p;
    int rc;

    kern_gxt(w, w, tmp, p, p, 1.0);
    if ((rc = eig_sym(e, tmp)) < 0)
        return rc;
    /* t = (u diag(1/sqrt(s))) u^T, then tmp = t W */
    for (size_t i = 0; i < p; i++) {
        const double *row = gsl_matrix_const_ptr(e->vec, i, 0);
        for (size_t k = 0; k < p; k++) {
            double sv = fmax(gsl_vector_get(e->val, k), DBL_MIN);
            e->u[i * p + k] = row[k];
            tmp[i * p + k] = row[k] / sqrt(sv);
        }
    }
    kern_gxt(tmp, e->u, e->t, p, p, 1.0);
    kern_wx(e->t, w, tmp, p, p);
    memcpy(w, tmp, p * p * sizeof(double));
    return 0;
}

/* Centre the columns into rows of xt (p x n) and whiten: k (p x p) gets
 * sklearn's K = (u / d)^T, x1 (p x n) = K xt sqrt(n). */
static int whiten(struct eig *e, const double *x, size_t n, double *xt,
                  double *k, double *x1, double *tmp, double *sd)
{
    size_t p = e->p;
    size_t *ord = malloc(p * sizeof(size_t));
    double *d = malloc(p * sizeof(double));
    int rc;

    if (!ord || !d) {
        rc = -STATS_E_NOMEM;
        goto out;
    }
    /* each column centred and scaled to unit variance first: the
     * covariance of metrics in bytes next to ratios spans more than double
     * precision, and the whitened data is the same up to a rotation (the
     * random start absorbs it); K is mapped back to the raw columns by the
     * caller (K diag(1/sd)) */
    for (size_t j = 0; j < p; j++) {
        const double *c = x + j * n;
        double mu = 0.0, ss = 0.0;
        for (size_t t = 0; t < n; t++)
            mu += c[t];
        mu /= (double)n;
        for (size_t t = 0; t < n; t++)
            ss += (c[t] - mu) * (c[t] - mu);
        sd[j] = ss > 0.0 ? sqrt(ss / (double)n) : 1.0;
        for (size_t t = 0; t < n; t++)
            xt[j * n + t] = (c[t] - mu) / sd[j];
    }
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j <= i; j++)
            tmp[i * p + j] = tmp[j * p + i] = dot4(xt + i * n, xt + j * n, n);
    if ((rc = eig_sym(e, tmp)) < 0)
        goto out;
    /* singular values of XT, descending (svd's order) */
    for (size_t i = 0; i < p; i++) {
        ord[i] = i;
        d[i] = sqrt(fmax(gsl_vector_get(e->val, i), 0.0));
    }
    for (size_t i = 1; i < p; i++) {
        size_t v = ord[i], j = i;
        while (j > 0 && d[ord[j - 1]] < d[v]) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = v;
    }
    double dmax = d[ord[0]];
    for (size_t r = 0; r < p; r++) {
        size_t c = ord[r];
        double dv = fmax(d[c], SV_FLOOR * dmax);
        /* u *= sign(u[0]): the column's first entry non-negative */
        double sg = gsl_matrix_get(e->vec, 0, c) < 0.0 ? -1.0 : 1.0;
        if (!(dv > 0.0)) {
            rc = -STATS_E_INVAL;
            goto out;
        }
        for (size_t j = 0; j < p; j++)
            k[r * p + j] = sg * gsl_matrix_get(e->vec, j, c) / dv;
    }
    double sq = sqrt((double)n);
    memset(x1, 0, p * n * sizeof(double));
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) {
            double a = k[i * p + j] * sq;
            const double *src = xt + j * n;
            double *dst = x1 + i * n;
            for (size_t t = 0; t < n; t++)
                dst[t] += a * src[t];
        }
    rc = 0;
out:
    free(ord);
    free(d);
    return rc;
}

/* sklearn's _ica_par with logcosh (alpha 1) on the whitened x1 (p x n);
 * w (p x p) holds w_init on entry and W on return. */
static int ica_par(struct eig *e, const double *x1, size_t n, double *w,
                   unsigned max_iter, double tol, double *wx, double *w1,
                   double *tmp, struct stats_fastica_info *info)
{
    size_t p = e->p;
    double *gw = malloc(p * sizeof(double));
    int rc;

    if (!gw)
        return -STATS_E_NOMEM;
    if ((rc = sym_decorrelate(e, w, tmp)) < 0)
        goto out;
    info->converged = false;
    info->iters = 0;
    for (unsigned it = 0; it < max_iter; it++) {
        /* wx = tanh(W x1); gw[i] = mean(1 - tanh^2) */
        kern_wx(w, x1, wx, p, n);
        for (size_t i = 0; i < p; i++)
            gw[i] = kern_tanh(wx + i * n, n) / (double)n;
        /* W1 = g(Wx) x1^T / n - gw W, then decorrelated */
        kern_gxt(wx, x1, w1, p, n, 1.0 / (double)n);
        for (size_t i = 0; i < p; i++)
            for (size_t k = 0; k < p; k++)
                w1[i * p + k] -= gw[i] * w[i * p + k];
        if ((rc = sym_decorrelate(e, w1, tmp)) < 0)
            goto out;
        double lim = 0.0;
        for (size_t i = 0; i < p; i++)
            lim = fmax(lim, fabs(fabs(dot4(w1 + i * p, w + i * p, p)) - 1.0));
        memcpy(w, w1, p * p * sizeof(double));
        info->iters = it + 1;
        if (lim < tol) {
            info->converged = true;
            break;
        }
    }
out:
    free(gw);
    return rc;
}

int stats_fastica(const double *x, size_t rows, size_t cols,
                  const struct stats_fastica_opts *opts, double *components,
                  struct stats_fastica_info *info)
{
    size_t p = cols, n = rows;
    unsigned max_iter = opts && opts->max_iter ? opts->max_iter : 1000;
    double tol = opts && opts->tol > 0 ? opts->tol : 1e-4;
    struct stats_fastica_info dummy;
    struct stats_rng rng;
    struct eig e;
    double *xt = NULL, *x1 = NULL, *k = NULL, *w = NULL, *w1 = NULL,
           *tmp = NULL, *sd = NULL;
    int rc = -STATS_E_INVAL;

    if (!info)
        info = &dummy;
    memset(info, 0, sizeof(*info));
    if (rows < 2 || cols == 0)
        return -STATS_E_INVAL;
    for (size_t i = 0; i < rows * cols; i++)
        if (!isfinite(x[i]))
            return -STATS_E_INVAL;
    if (eig_init(&e, p) < 0)
        goto nomem;
    xt = malloc(p * n * sizeof(double));
    x1 = malloc(p * n * sizeof(double));
    k = malloc(p * p * sizeof(double));
    w = malloc(p * p * sizeof(double));
    w1 = malloc(p * p * sizeof(double));
    tmp = malloc(p * p * sizeof(double));
    if (!xt || !x1 || !k || !w || !w1 || !tmp)
        goto nomem;
    if (!(sd = malloc(p * sizeof(double))))
        goto nomem;
    if ((rc = whiten(&e, x, n, xt, k, x1, tmp, sd)) < 0)
        goto out;
    stats_rng_seed(&rng, opts ? opts->seed : 0);
    for (size_t i = 0; i < p * p; i++)
        w[i] = normal(&rng);
    /* xt is free again: it holds g(W x1) during the iteration */
    if ((rc = ica_par(&e, x1, n, w, max_iter, tol, xt, w1, tmp, info)) < 0)
        goto out;
    /* components = W K diag(1/sd) */
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) {
            double v = 0.0;
            for (size_t m = 0; m < p; m++)
                v += w[i * p + m] * k[m * p + j];
            components[i * p + j] = v / sd[j];
        }
    rc = 0;
    goto out;
nomem:
    rc = -STATS_E_NOMEM;
out:
    eig_free(&e);
    free(xt);
    free(x1);
    free(k);
    free(w);
    free(w1);
    free(tmp);
    free(sd);
    return rc;
}

/* ---------------------------------------------------------------------
 * Assignment
 * --------------------------------------------------------------------- */

int stats_lsa_min(const double *cost, size_t n, size_t *col_of_row)
{
    /* Kuhn-Munkres with potentials and shortest augmenting paths
     * (1-based arrays; row 0 / column 0 are the sentinels). */
    double *u = calloc(n + 1, sizeof(double)),
           *v = calloc(n + 1, sizeof(double));
    double *minv = malloc((n + 1) * sizeof(double)), big = 0.0;
    size_t *pr = calloc(n + 1, sizeof(size_t)),
           *way = malloc((n + 1) * sizeof(size_t));
    unsigned char *used = malloc(n + 1);
    double *c = malloc((n * n + 1) * sizeof(double));
    int rc = -STATS_E_NOMEM;

    if (!u || !v || !minv || !pr || !way || !used || !c)
        goto out;
    rc = -STATS_E_INVAL;
    /* +Inf: a finite cost larger than any finite assignment */
    for (size_t i = 0; i < n * n; i++) {
        if (isnan(cost[i]) || cost[i] == -INFINITY)
            goto out;
        if (isfinite(cost[i]))
            big = fmax(big, fabs(cost[i]));
    }
    big = big * 2.0 * (double)(n + 1) + 1.0;
    for (size_t i = 0; i < n * n; i++)
        c[i] = isfinite(cost[i]) ? cost[i] : big;
    for (size_t i = 1; i <= n; i++) {
        size_t j0 = 0;
        pr[0] = i;
        for (size_t j = 0; j <= n; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            size_t i0 = pr[j0], j1 = 0;
            double delta = INFINITY;
            used[j0] = 1;
            for (size_t j = 1; j <= n; j++) {
                if (used[j])
                    continue;
                double cur = c[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (size_t j = 0; j <= n; j++) {
                if (used[j]) {
                    u[pr[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (pr[j0] != 0);
        do {
            size_t j1 = way[j0];
            pr[j0] = pr[j1];
            j0 = j1;
        } while (j0);
    }
    for (size_t j = 1; j <= n; j++)
        col_of_row[pr[j] - 1] = j - 1;
    rc = 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(cost[i * n + col_of_row[i]]))
            rc = -STATS_E_INVAL;
out:
    free(u);
    free(v);
    free(minv);
    free(pr);
    free(way);
    free(used);
    free(c);
    return rc;
}

/* ---------------------------------------------------------------------
 * ICALiNGAM's causal order
 * --------------------------------------------------------------------- */

struct absent {
    double a;
    size_t pos;
};

static int cmp_absent(const void *pa, const void *pb)
{
    const struct absent *a = pa, *b = pb;

    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* lingam's _search_causal_order on the non-zero pattern nz (p x p): the
 * lowest remaining index whose row has no non-zero among the remaining
 * columns, repeatedly. Returns false when none is left to take. */
static bool search_order(const unsigned char *nz, size_t p, size_t *order,
                         unsigned char *gone)
{
    memset(gone, 0, p);
    for (size_t step = 0; step < p; step++) {
        size_t pick = p;
        for (size_t i = 0; i < p && pick == p; i++) {
            if (gone[i])
                continue;
            bool zero = true;
            for (size_t j = 0; j < p && zero; j++)
                zero = gone[j] || !nz[i * p + j];
            if (zero)
                pick = i;
        }
        if (pick == p)
            return false;
        order[step] = pick;
        gone[pick] = 1;
    }
    return true;
}

/* Zero the t smallest entries (by srt) and try the order. */
static bool order_after(const struct absent *srt, size_t p, size_t t,
                        unsigned char *nz, size_t *order, unsigned char *gone)
{
    memset(nz, 1, p * p);
    for (size_t i = 0; i < t; i++)
        nz[srt[i].pos] = 0;
    return search_order(nz, p, order, gone);
}

static int causal_order(const double *b, size_t p, size_t *order)
{
    size_t pp = p * p, init = p * (p + 1) / 2;
    struct absent *srt = malloc((pp + 1) * sizeof(*srt));
    unsigned char *nz = malloc(pp + 1), *gone = malloc(p + 1);
    int rc = -STATS_E_NOMEM;

    if (!srt || !nz || !gone)
        goto out;
    for (size_t i = 0; i < pp; i++) {
        srt[i].a = fabs(b[i]);
        srt[i].pos = i;
    }
    qsort(srt, pp, sizeof(*srt), cmp_absent);
    /* the least t > init whose zeroing leaves a DAG (monotone in t) */
    size_t lo = init + 1 <= pp ? init + 1 : pp, hi = pp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (order_after(srt, p, mid, nz, order, gone))
            hi = mid;
        else
            lo = mid + 1;
    }
    rc = order_after(srt, p, lo, nz, order, gone) ? 0 : -STATS_E_INVAL;
out:
    free(srt);
    free(nz);
    free(gone);
    return rc;
}

int stats_ica_lingam(const double *x, size_t rows, size_t cols,
                     const struct stats_fastica_opts *opts, size_t *order,
                     double *B, unsigned char *adj,
                     struct stats_fastica_info *info)
{
    size_t p = cols;
    double *w = malloc((p * p + 1) * sizeof(double));
    double *cost = malloc((p * p + 1) * sizeof(double));
    double *pw = malloc((p * p + 1) * sizeof(double));
    size_t *perm = malloc((p + 1) * sizeof(size_t));
    int rc = -STATS_E_NOMEM;

    if (!w || !cost || !pw || !perm)
        goto out;
    /* rows <= cols: where causal-learn's ICALiNGAM raises as well. With
     * fewer rows than columns FastICA keeps rows components, and the
     * permutation of that non-square unmixing matrix (PW_ica[col_index] =
     * W_ica) fails with an IndexError or, the shapes then disagreeing in
     * I - W, a ValueError; with as many, scikit-learn (>= 1.1) LassoLarsIC in
     * the adjacency step refuses a regression with no more samples than
     * features plus the intercept. RCAEval's @rca does not catch either:
     * the case fails there too. */
    rc = -STATS_E_INVAL;
    if (cols == 0 || rows <= cols)
        goto out;
    for (size_t j = 0; j < cols; j++) {
        const double *c = x + j * rows;
        bool flat = true;
        for (size_t t = 1; t < rows && flat; t++)
            flat = c[t] == c[0];
        if (flat)
            goto out;
    }
    if ((rc = stats_fastica(x, rows, cols, opts, w, info)) < 0)
        goto out;
    for (size_t i = 0; i < p * p; i++)
        cost[i] = 1.0 / fabs(w[i]);
    if ((rc = stats_lsa_min(cost, p, perm)) < 0)
        goto out;
    /* PW[perm[i]] = W[i]; scaled by the diagonal; B = I - PW */
    for (size_t i = 0; i < p; i++)
        memcpy(pw + perm[i] * p, w + i * p, p * sizeof(double));
    for (size_t i = 0; i < p; i++) {
        double dg = pw[i * p + i];
        for (size_t j = 0; j < p; j++)
            pw[i * p + j] = (i == j ? 1.0 : 0.0) - pw[i * p + j] / dg;
    }
    if ((rc = causal_order(pw, p, order)) < 0)
        goto out;
    /* pw is free again: the adjacency */
    if ((rc = stats_lingam_adjacency(x, rows, cols, order, pw)) < 0)
        goto out;
    if (B)
        memcpy(B, pw, p * p * sizeof(double));
    if (adj)
        for (size_t i = 0; i < p * p; i++)
            adj[i] = pw[i] != 0.0;
    rc = 0;
out:
    free(w);
    free(cost);
    free(pw);
    free(perm);
    return rc;
}
