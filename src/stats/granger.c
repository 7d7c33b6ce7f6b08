/* granger: statsmodels' Granger tests with an updated QR (see granger.h). */
#include "stats/granger.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "stats/stats_status.h"

#define DROP_REL                                                               \
    1e-10 /* a column whose residual norm falls below this                     \
             share of its norm adds no rank (pinv-like) */

/* Orthonormalise column v (length m) against the first r columns of q and
 * append it when it adds rank. Returns 1 when appended. */
static int mgs_append(double *q, size_t m, size_t r, const double *v,
                      double *tmp)
{
    double n0 = 0.0, n1 = 0.0;

    memcpy(tmp, v, m * sizeof(double));
    for (size_t i = 0; i < m; i++)
        n0 += tmp[i] * tmp[i];
    for (int pass = 0; pass < 2; pass++)
        for (size_t c = 0; c < r; c++) {
            const double *qc = q + c * m;
            double d = 0.0;
            for (size_t i = 0; i < m; i++)
                d += qc[i] * tmp[i];
            for (size_t i = 0; i < m; i++)
                tmp[i] -= d * qc[i];
        }
    for (size_t i = 0; i < m; i++)
        n1 += tmp[i] * tmp[i];
    if (!(n1 > 0.0) || sqrt(n1) <= DROP_REL * sqrt(n0))
        return 0;
    double inv = 1.0 / sqrt(n1);
    for (size_t i = 0; i < m; i++)
        q[r * m + i] = tmp[i] * inv;
    return 1;
}

/* residual of y (m) after projecting out q's r columns, into e; returns SSR */
static double project_out(const double *q, size_t m, size_t r, const double *y,
                          double *e)
{
    double ssr = 0.0;

    memcpy(e, y, m * sizeof(double));
    for (size_t c = 0; c < r; c++) {
        const double *qc = q + c * m;
        double d = 0.0;
        for (size_t i = 0; i < m; i++)
            d += qc[i] * e[i];
        for (size_t i = 0; i < m; i++)
            e[i] -= d * qc[i];
    }
    for (size_t i = 0; i < m; i++)
        ssr += e[i] * e[i];
    return ssr;
}

static int window_constant(const double *v, size_t m)
{
    for (size_t i = 1; i < m; i++)
        if (v[i] != v[0])
            return 0;
    return 1;
}

/* The restricted model of target y at lag L: basis q (m x r), residual e. */
struct restricted {
    size_t m, r;
    double ssr, tss;
    int constant_lag; /* some own-lag column is constant */
};

static void fit_restricted(const double *y, size_t n, unsigned L, double *q,
                           double *e, double *tmp, struct restricted *rs)
{
    size_t m = n - L;
    double mean = 0.0;

    rs->m = m;
    rs->r = 0;
    rs->constant_lag = 0;
    for (size_t i = 0; i < m; i++)
        tmp[i] = 1.0;
    rs->r += (size_t)mgs_append(q, m, rs->r, tmp, e);
    for (unsigned l = 1; l <= L; l++) {
        const double *col = y + L - l;
        if (window_constant(col, m))
            rs->constant_lag = 1;
        rs->r += (size_t)mgs_append(q, m, rs->r, col, e);
    }
    rs->ssr = project_out(q, m, rs->r, y + L, e);
    for (size_t i = 0; i < m; i++)
        mean += y[L + i];
    mean /= (double)m;
    rs->tss = 0.0;
    for (size_t i = 0; i < m; i++)
        rs->tss += (y[L + i] - mean) * (y[L + i] - mean);
}

/* Unrestricted fit for driver x given the restricted model; fills out. */
static int fit_unrestricted(const double *x, unsigned L,
                            const struct restricted *rs, double *q,
                            const double *e_r, double *e_u, double *tmp,
                            struct stats_granger_lag *out)
{
    size_t m = rs->m, r = rs->r;
    int constant = rs->constant_lag;

    for (unsigned l = 1; l <= L; l++) {
        const double *col = x + L - l;
        if (window_constant(col, m))
            constant = 1;
        r += (size_t)mgs_append(q, m, r, col, tmp);
    }
    double ssr_u = project_out(q + rs->r * m, m, r - rs->r, e_r, e_u);
    if (constant || rs->tss == 0.0 || ssr_u == 0.0 ||
        ssr_u / rs->tss < DBL_EPSILON)
        return -STATS_E_INFEASIBLE;
    double df = (double)(m - r), d = rs->ssr - ssr_u;
    out->ssr_f = d / ssr_u / (double)L * df;
    out->ssr_f_p = gsl_cdf_fdist_Q(out->ssr_f, (double)L, df);
    out->ssr_chi2 = (double)m * d / ssr_u;
    out->ssr_chi2_p = gsl_cdf_chisq_Q(out->ssr_chi2, (double)L);
    out->lr = (double)m * log(rs->ssr / ssr_u);
    out->lr_p = gsl_cdf_chisq_Q(out->lr, (double)L);
    out->params_f = out->ssr_f;
    out->params_f_p = out->ssr_f_p;
    out->df_denom = df;
    out->df_num = L;
    return 0;
}

struct gbuf {
    double *q, *e_r, *e_u, *tmp;
};

static int gbuf_init(struct gbuf *b, size_t n, unsigned maxlag)
{
    b->q = malloc(n * (2 * (size_t)maxlag + 1) * sizeof(double));
    b->e_r = malloc(n * sizeof(double));
    b->e_u = malloc(n * sizeof(double));
    b->tmp = malloc(n * sizeof(double));
    return b->q && b->e_r && b->e_u && b->tmp ? 0 : -STATS_E_NOMEM;
}

static void gbuf_free(struct gbuf *b)
{
    free(b->q);
    free(b->e_r);
    free(b->e_u);
    free(b->tmp);
}

static int finite_all(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

int stats_granger_pair(const double *y, const double *x, size_t n,
                       unsigned maxlag, struct stats_granger_lag *out)
{
    struct gbuf b;
    struct restricted rs;
    int rc = 0;

    if (maxlag == 0 || n <= 3 * (size_t)maxlag + 1 || !finite_all(y, n) ||
        !finite_all(x, n))
        return -STATS_E_INVAL;
    if (gbuf_init(&b, n, maxlag) < 0) {
        gbuf_free(&b);
        return -STATS_E_NOMEM;
    }
    for (unsigned L = 1; L <= maxlag && rc == 0; L++) {
        fit_restricted(y, n, L, b.q, b.e_r, b.tmp, &rs);
        rc = fit_unrestricted(x, L, &rs, b.q, b.e_r, b.e_u, b.tmp, &out[L - 1]);
    }
    gbuf_free(&b);
    return rc;
}

static double pick_p(const struct stats_granger_lag *g,
                     enum stats_granger_test t)
{
    switch (t) {
    case STATS_GRANGER_SSR_F:
        return g->ssr_f_p;
    case STATS_GRANGER_SSR_CHI2:
        return g->ssr_chi2_p;
    case STATS_GRANGER_LR:
        return g->lr_p;
    case STATS_GRANGER_PARAMS_F:
        return g->params_f_p;
    case STATS_GRANGER_MEAN4:
        break;
    }
    return (g->ssr_f_p + g->ssr_chi2_p + g->lr_p + g->params_f_p) / 4.0;
}

/* ---------------------------------------------------------------------
 * The graph: lagged cross-products once per case, a small Cholesky a pair
 * --------------------------------------------------------------------- */

#define FAST_PIVOT_REL 1e-9 /* pivot / diagonal below this: QR instead */
#define FAST_FIT_REL 1e-12  /* SSR_u / TSS below this: QR instead */

/* Series 2a is column a standardised (z_a), series 2a+1 its first
 * difference (w_a(s) = z_a(s) - z_a(s-1), w_a(0) = 0). The fits use the
 * regressors z(t-1), w(t-1), ..., w(t-L+1) instead of z(t-1), ..., z(t-L)
 * (the same span) and the target w(t) instead of z(t) (which differs by
 * z(t-1), inside both spans): the SSRs are the same, and for smooth
 * series the Gram matrix is far better conditioned. */
struct xprod {
    size_t n, cols, ns;  /* rows, columns, series (2 cols) */
    unsigned K;          /* maxlag */
    double *u;           /* the series, column-major */
    double *pre;         /* per series: prefix sums, n + 1 each */
    double *full;        /* [p][q][d], d = 0..K: sum_{s} u_p(s) u_q(s + d) */
    unsigned char *flat; /* [a][L-1][l-1]: raw lag l constant in window L */
};

static void xprod_free(struct xprod *xp)
{
    free(xp->u);
    free(xp->pre);
    free(xp->full);
    free(xp->flat);
}

/* sum_{s<len} a[s] b[s], four partial sums (vectorisable). */
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

static int xprod_init(struct xprod *xp, const double *x, size_t n, size_t cols,
                      unsigned K)
{
    size_t ns = 2 * cols, D = (size_t)K + 1;

    memset(xp, 0, sizeof(*xp));
    xp->n = n;
    xp->cols = cols;
    xp->ns = ns;
    xp->K = K;
    xp->u = malloc((n * ns + 1) * sizeof(double));
    xp->pre = malloc(((n + 1) * ns + 1) * sizeof(double));
    xp->full = malloc((ns * ns * D + 1) * sizeof(double));
    xp->flat = malloc(cols * (size_t)K * K + 1);
    if (!xp->u || !xp->pre || !xp->full || !xp->flat)
        return -STATS_E_NOMEM;
    for (size_t a = 0; a < cols; a++) {
        const double *v = x + a * n;
        double *za = xp->u + 2 * a * n, *wa = za + n;
        double mu = 0.0, ss = 0.0;
        for (size_t s = 0; s < n; s++)
            mu += v[s];
        mu /= (double)n;
        for (size_t s = 0; s < n; s++)
            ss += (v[s] - mu) * (v[s] - mu);
        double sd = ss > 0.0 ? sqrt(ss / (double)n) : 1.0;
        for (size_t s = 0; s < n; s++)
            za[s] = (v[s] - mu) / sd;
        wa[0] = 0.0;
        for (size_t s = 1; s < n; s++)
            wa[s] = (v[s] - v[s - 1]) / sd;
        /* lag l of window L covers raw rows L-l .. n-1-l */
        for (unsigned L = 1; L <= K; L++)
            for (unsigned l = 1; l <= L; l++)
                xp->flat[(a * K + L - 1) * K + l - 1] =
                    (unsigned char)window_constant(v + L - l, n - L);
    }
    for (size_t p = 0; p < ns; p++) {
        double *pp = xp->pre + p * (n + 1);
        pp[0] = 0.0;
        for (size_t s = 0; s < n; s++)
            pp[s + 1] = pp[s] + xp->u[p * n + s];
    }
    for (size_t p = 0; p < ns; p++)
        for (size_t q = 0; q < ns; q++)
            for (size_t d = 0; d < D; d++)
                xp->full[(p * ns + q) * D + d] =
                    dot4(xp->u + p * n, xp->u + q * n + d, n - d);
    return 0;
}

/* sum_{s=lo}^{hi} u_p(s) u_q(s + d) where the terms outside [lo, hi] are
 * few (lo <= K, hi >= n - 1 - 2K). */
static double xprod_sum(const struct xprod *xp, size_t p, size_t q, size_t lo,
                        size_t hi, long d)
{
    size_t n = xp->n;

    if (d < 0) /* s' = s + d */
        return xprod_sum(xp, q, p, (size_t)((long)lo + d),
                         (size_t)((long)hi + d), -d);
    size_t ud = (size_t)d;
    const double *up = xp->u + p * n, *uq = xp->u + q * n;
    double s = xp->full[(p * xp->ns + q) * (xp->K + 1) + ud];
    for (size_t t = 0; t < lo; t++)
        s -= up[t] * uq[t + ud];
    for (size_t t = hi + 1; t + ud < n; t++)
        s -= up[t] * uq[t + ud];
    return s;
}

/* Window-centred cross-product over t = L..n-1 of series p at lag lp and
 * series q at lag lq. */
static double xprod_centred(const struct xprod *xp, unsigned L, size_t p,
                            unsigned lp, size_t q, unsigned lq)
{
    size_t n = xp->n, m = n - L;
    const double *pp = xp->pre + p * (n + 1), *pq = xp->pre + q * (n + 1);
    double c = xprod_sum(xp, p, q, L - lp, n - 1 - lp, (long)lp - (long)lq);
    double mp = (pp[n - lp] - pp[L - lp]) / (double)m;
    double mq = (pq[n - lq] - pq[L - lq]) / (double)m;

    return c - (double)m * mp * mq;
}

/* Cholesky of the k x k matrix g (row-major, lower triangle used) in
 * place; piv[i] gets the squared pivot. Returns false when a pivot falls
 * below FAST_PIVOT_REL of its diagonal (then the QR decides). The last
 * pivot (y's) is not checked here. */
static bool chol_small(double *g, size_t k, double *piv)
{
    for (size_t j = 0; j < k; j++) {
        double d = g[j * k + j];
        for (size_t c = 0; c < j; c++)
            d -= g[j * k + c] * g[j * k + c];
        piv[j] = d;
        if (j + 1 < k && !(d > FAST_PIVOT_REL * g[j * k + j]))
            return false;
        if (j + 1 == k)
            break;
        double r = sqrt(d);
        g[j * k + j] = r;
        for (size_t i = j + 1; i < k; i++) {
            double v = g[i * k + j];
            for (size_t c = 0; c < j; c++)
                v -= g[i * k + c] * g[j * k + c];
            g[i * k + j] = v / r;
        }
    }
    return true;
}

enum fast_rc {
    FAST_OK = 0,         /* decided from the cross-products */
    FAST_QR = 1,         /* ill-conditioned or near-perfect: the QR decides */
    FAST_INFEASIBLE = 2, /* a lag column constant over its window */
};

/* The four tests as functions of q = (SSR_r - SSR_u) / SSR_u at lag L with
 * m observations and full rank (df = m - 2L - 1). */
static void tests_of_q(double q, unsigned L, size_t m,
                       struct stats_granger_lag *out)
{
    double df = (double)(m - 2 * (size_t)L - 1);

    out->ssr_f = q / (double)L * df;
    out->ssr_f_p = gsl_cdf_fdist_Q(out->ssr_f, (double)L, df);
    out->ssr_chi2 = (double)m * q;
    out->ssr_chi2_p = gsl_cdf_chisq_Q(out->ssr_chi2, (double)L);
    out->lr = (double)m * log1p(q);
    out->lr_p = gsl_cdf_chisq_Q(out->lr, (double)L);
    out->params_f = out->ssr_f;
    out->params_f_p = out->ssr_f_p;
    out->df_denom = df;
    out->df_num = L;
}

/* Every test's p-value falls as q grows, so "p < thr at lag L" is
 * "q > q*_L": q*_L by bisection, once per lag. -1 when even q = 0 passes
 * (thr > 1). */
static double critical_q(unsigned L, size_t m, enum stats_granger_test test,
                         double thr)
{
    struct stats_granger_lag g;
    double lo = 0.0, hi = 1e-3;

    tests_of_q(0.0, L, m, &g);
    if (pick_p(&g, test) < thr)
        return -1.0;
    for (tests_of_q(hi, L, m, &g); !(pick_p(&g, test) < thr) && hi < 1e300;
         tests_of_q(hi, L, m, &g))
        hi *= 2.0;
    for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        tests_of_q(mid, L, m, &g);
        if (pick_p(&g, test) < thr)
            hi = mid;
        else
            lo = mid;
    }
    return 0.5 * (lo + hi);
}

/* q at lag L for y = column i, x = column j through the cross-products,
 * and (when out is set) the four tests. */
static enum fast_rc fast_lag(const struct xprod *xp, size_t i, size_t j,
                             unsigned L, double *q,
                             struct stats_granger_lag *out)
{
    size_t k = 2 * (size_t)L + 1;
    double g[49], piv[7];
    /* regressor v: column and lag */
    size_t col[7];
    unsigned lag[7];

    for (unsigned l = 1; l <= L; l++)
        if (xp->flat[(i * xp->K + L - 1) * xp->K + l - 1] ||
            xp->flat[(j * xp->K + L - 1) * xp->K + l - 1])
            return FAST_INFEASIBLE;
    /* z_i(t-1), w_i(t-1..t-L+1), z_j(t-1), w_j(t-1..t-L+1), then w_i(t) */
    for (unsigned l = 0; l < L; l++) {
        col[l] = 2 * i + (l > 0);
        lag[l] = l > 0 ? l : 1;
        col[L + l] = 2 * j + (l > 0);
        lag[L + l] = l > 0 ? l : 1;
    }
    col[k - 1] = 2 * i + 1;
    lag[k - 1] = 0;
    for (size_t r = 0; r < k; r++)
        for (size_t c = 0; c <= r; c++)
            g[r * k + c] = xprod_centred(xp, L, col[r], lag[r], col[c], lag[c]);
    double tss = xprod_centred(xp, L, 2 * i, 0, 2 * i, 0);
    if (!(tss > 0.0) || !chol_small(g, k, piv))
        return FAST_QR; /* y constant over the window: the QR says so */
    double ssr_u = piv[k - 1], d = 0.0;
    if (!(ssr_u > FAST_FIT_REL * tss))
        return FAST_QR;
    /* y's components along the orthogonalised x lags: SSR_r - SSR_u */
    for (size_t c = L; c < 2 * (size_t)L; c++)
        d += g[(k - 1) * k + c] * g[(k - 1) * k + c];
    *q = d / ssr_u;
    if (out)
        tests_of_q(*q, L, xp->n - L, out);
    return FAST_OK;
}

/* The exact path for one pair: the target's restricted fits are cached in
 * qs/es/rs by the caller (fit_restricted). Returns 0 or -INFEASIBLE. */
static int exact_pair(const double *x, size_t rows, size_t j, unsigned maxlag,
                      const double *qs, const double *es,
                      const struct restricted *rs, struct gbuf *b,
                      struct stats_granger_lag *res)
{
    size_t qstride = rows * (2 * (size_t)maxlag + 1);

    for (unsigned L = 1; L <= maxlag; L++) {
        /* the driver's columns go after the restricted basis */
        memcpy(b->q, qs + (L - 1) * qstride,
               rs[L - 1].r * rs[L - 1].m * sizeof(double));
        if (fit_unrestricted(x + j * rows, L, &rs[L - 1], b->q,
                             es + (L - 1) * rows, b->e_u, b->tmp,
                             &res[L - 1]) < 0)
            return -STATS_E_INFEASIBLE;
    }
    return 0;
}

/* Is the "j causes i" decision from the cross-products safe? *edge gets
 * it. False when some lag's q is within FAST_DECIDE_REL of its critical
 * value and no other lag is clearly significant: then the QR decides. */
#define FAST_DECIDE_REL 1e-4
static bool fast_decide(const double *q, const double *qcrit, unsigned maxlag,
                        bool *edge)
{
    bool near = false;

    *edge = false;
    for (unsigned L = 0; L < maxlag; L++) {
        if (qcrit[L] < 0.0 || q[L] > qcrit[L] * (1.0 + FAST_DECIDE_REL)) {
            *edge = true;
            return true;
        }
        if (q[L] >= qcrit[L] * (1.0 - FAST_DECIDE_REL))
            near = true;
    }
    return !near;
}

int stats_granger_graph(const double *x, size_t rows, size_t cols,
                        const struct stats_granger_opts *opts,
                        unsigned char *adj, size_t *infeasible)
{
    unsigned maxlag = opts && opts->maxlag ? opts->maxlag : 3;
    double thr = opts && opts->p_threshold > 0 ? opts->p_threshold : 0.05;
    enum stats_granger_test test = opts ? opts->test : STATS_GRANGER_MEAN4;
    bool exact = opts && opts->exact;
    bool stop = opts && opts->stop_infeasible;
    double *p_min = opts ? opts->p_min : NULL;
    double q[3], qcrit[3];
    struct stats_granger_lag *res;
    struct restricted *rs;
    struct xprod xp = {0};
    struct gbuf b;
    double *qs, *es;
    size_t bad = 0;
    int rc = -STATS_E_NOMEM;

    if (maxlag == 0 || rows <= 3 * (size_t)maxlag + 1 ||
        !finite_all(x, rows * cols))
        return -STATS_E_INVAL;
    if (maxlag > 3)
        exact = true; /* the small fixed-size buffers hold k <= 7 */
    memset(adj, 0, cols * cols);
    for (size_t i = 0; p_min && i < cols * cols; i++)
        p_min[i] = NAN;
    res = calloc((size_t)maxlag * (cols ? cols : 1), sizeof(*res));
    rs = calloc(maxlag, sizeof(*rs));
    /* one restricted basis and residual per lag, kept across drivers */
    qs = malloc((size_t)maxlag * rows * (2 * (size_t)maxlag + 1) *
                sizeof(double));
    es = malloc((size_t)maxlag * rows * sizeof(double));
    if (gbuf_init(&b, rows, maxlag) < 0 || !res || !rs || !qs || !es)
        goto out;
    if (!exact) {
        if ((rc = xprod_init(&xp, x, rows, cols, maxlag)) < 0)
            goto out;
        for (unsigned L = 1; L <= maxlag; L++)
            qcrit[L - 1] = critical_q(L, rows - L, test, thr);
    }
    size_t qstride = rows * (2 * (size_t)maxlag + 1);
    for (size_t i = 0; i < cols; i++) {
        const double *y = x + i * rows;
        bool restricted_ready = false;
        for (size_t j = 0; j < cols; j++) {
            enum fast_rc st = exact ? FAST_QR : FAST_OK;
            bool edge = false;
            if (i == j)
                continue;
            for (unsigned L = 1; L <= maxlag && st == FAST_OK; L++)
                st = fast_lag(&xp, i, j, L, &q[L - 1],
                              p_min ? &res[L - 1] : NULL);
            if (st == FAST_OK && !fast_decide(q, qcrit, maxlag, &edge))
                st = FAST_QR;
            if (st == FAST_QR && !restricted_ready) {
                for (unsigned L = 1; L <= maxlag; L++)
                    fit_restricted(y, rows, L, qs + (L - 1) * qstride,
                                   es + (L - 1) * rows, b.tmp, &rs[L - 1]);
                restricted_ready = true;
            }
            if (st == FAST_QR &&
                exact_pair(x, rows, j, maxlag, qs, es, rs, &b, res) < 0)
                st = FAST_INFEASIBLE;
            if (st == FAST_INFEASIBLE) {
                bad++;
                if (stop) {
                    rc = -STATS_E_INFEASIBLE;
                    goto out;
                }
                continue;
            }
            for (unsigned L = 1; st == FAST_QR && L <= maxlag; L++)
                if (pick_p(&res[L - 1], test) < thr) {
                    edge = true;
                    break;
                }
            adj[i * cols + j] = edge;
            if (p_min) {
                double pm = pick_p(&res[0], test);
                for (unsigned L = 2; L <= maxlag; L++)
                    pm = fmin(pm, pick_p(&res[L - 1], test));
                p_min[i * cols + j] = pm;
            }
        }
    }
    rc = 0;
out:
    if (infeasible)
        *infeasible = bad;
    gbuf_free(&b);
    xprod_free(&xp);
    free(res);
    free(rs);
    free(qs);
    free(es);
    return rc;
}
