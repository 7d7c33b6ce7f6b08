/* pcmci_parcorr: PCMCI with ParCorr (see pcmci_parcorr.h). The lagged
 * columns are centred once; their covariances are computed on first use
 * and kept in per-variable-pair blocks, so a test costs a small Cholesky
 * factorisation and no pass over the data. */
#include "stats/pcmci_parcorr.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats_status.h"

/* ---------------------------------------------------------------------
 * Partial correlation
 * --------------------------------------------------------------------- */

/* A conditioning variable whose residual variance (on the correlation
 * scale) falls below this is linearly dependent on the ones before it. */
#define DEP_TOL 1e-10

double stats_parcorr_pvalue(double r, double df)
{
    if (!(df >= 1.0))
        return NAN;
    if (fabs(1.0 - fabs(r)) < 1e-15)
        return 0.0;
    return 2.0 * gsl_cdf_tdist_Q(fabs(r * sqrt(df / (1.0 - r * r))), df);
}

/* Cholesky (lower, in place) of the m x m correlation matrix c whose last
 * two variables are a and b; rows of dependent variables are zeroed. Gives
 * the correlation of a's and b's residuals on the rest. */
static double pcorr_chol(double *c, size_t m)
{
    for (size_t j = 0; j < m; j++) {
        double s = c[j * m + j];
        for (size_t k = 0; k < j; k++)
            s -= c[j * m + k] * c[j * m + k];
        if (!(s > DEP_TOL)) {
            if (j + 2 >= m)
                return 0.0; /* a or b is explained by the rest */
            for (size_t i = j; i < m; i++)
                c[i * m + j] = 0.0;
            continue;
        }
        double l = sqrt(s);
        c[j * m + j] = l;
        for (size_t i = j + 1; i < m; i++) {
            double v = c[i * m + j];
            for (size_t k = 0; k < j; k++)
                v -= c[i * m + k] * c[j * m + k];
            c[i * m + j] = v / l;
        }
    }
    double lba = c[(m - 1) * m + m - 2], lbb = c[(m - 1) * m + m - 1];
    double den = sqrt(lba * lba + lbb * lbb);
    return den > 0.0 ? lba / den : 0.0;
}

/* c (m x m) holds covariances: scale to correlations, then factor. */
static double pcorr_of_cov(double *c, size_t m)
{
    double *sd = c + m * m; /* m extra doubles after the matrix */

    for (size_t i = 0; i < m; i++)
        sd[i] = c[i * m + i] > 0.0 ? sqrt(c[i * m + i]) : 0.0;
    if (sd[m - 1] == 0.0 || sd[m - 2] == 0.0)
        return 0.0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j <= i; j++) {
            double den = sd[i] * sd[j];
            c[i * m + j] = den > 0.0 ? c[i * m + j] / den : 0.0;
            if (i == j)
                c[i * m + j] = sd[i] > 0.0 ? 1.0 : 0.0;
        }
    return pcorr_chol(c, m);
}

int stats_partial_corr(const double *cov, size_t ld, size_t a, size_t b,
                       const size_t *z, size_t k, double *work, double *r)
{
    size_t m = k + 2;
    double *c = work;

    if (a == b || a >= ld || b >= ld)
        return -STATS_E_INVAL;
    for (size_t i = 0; i < k; i++)
        if (z[i] >= ld)
            return -STATS_E_INVAL;
    for (size_t i = 0; i < m; i++) {
        size_t vi = i < k ? z[i] : i == k ? a : b;
        for (size_t j = 0; j <= i; j++) {
            size_t vj = j < k ? z[j] : j == k ? a : b;
            c[i * m + j] = cov[vi * ld + vj];
        }
    }
    *r = pcorr_of_cov(c, m);
    return 0;
}

/* ---------------------------------------------------------------------
 * Lagged covariances
 * --------------------------------------------------------------------- */

struct lagcov {
    size_t N, L, ns;         /* variables, lags 0..L-1, samples */
    double *col;             /* centred columns, id = v*L + lag, at id*ns */
    unsigned char *constant; /* per id: no variation over the samples */
    double **blk;            /* N*N blocks of L*L, NaN until computed */
};

static void lagcov_free(struct lagcov *lc)
{
    if (lc->blk)
        for (size_t i = 0; i < lc->N * lc->N; i++)
            free(lc->blk[i]);
    free(lc->blk);
    free(lc->col);
    free(lc->constant);
}

static int lagcov_init(struct lagcov *lc, const double *x, size_t T, size_t N,
                       size_t L)
{
    size_t t0 = L - 1;

    memset(lc, 0, sizeof(*lc));
    lc->N = N;
    lc->L = L;
    lc->ns = T - t0;
    lc->col = malloc(N * L * lc->ns * sizeof(double));
    lc->constant = malloc(N * L);
    lc->blk = calloc(N * N, sizeof(double *));
    if (!lc->col || !lc->constant || !lc->blk)
        return -STATS_E_NOMEM;
    for (size_t v = 0; v < N; v++)
        for (size_t lag = 0; lag < L; lag++) {
            const double *src = x + v * T + t0 - lag;
            double *dst = lc->col + (v * L + lag) * lc->ns, mean = 0.0;
            bool same = true;

            for (size_t s = 0; s < lc->ns; s++) {
                mean += src[s];
                same &= src[s] == src[0];
            }
            mean /= (double)lc->ns;
            for (size_t s = 0; s < lc->ns; s++)
                dst[s] = src[s] - mean;
            lc->constant[v * L + lag] = same;
        }
    return 0;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;

    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Covariance of lagged columns a and b (ids), or NaN when out of memory. */
static double lagcov_get(struct lagcov *lc, size_t a, size_t b)
{
    size_t L = lc->L, va = a / L, vb = b / L, la = a % L, lb = b % L;
    double **bp, *blk, *e;

    if (va > vb || (va == vb && la > lb)) {
        size_t t = va;
        va = vb;
        vb = t;
        t = la;
        la = lb;
        lb = t;
    }
    bp = &lc->blk[va * lc->N + vb];
    if (!*bp) {
        if (!(*bp = malloc(L * L * sizeof(double))))
            return NAN;
        for (size_t i = 0; i < L * L; i++)
            (*bp)[i] = NAN;
    }
    blk = *bp;
    e = &blk[la * L + lb];
    if (isnan(*e))
        *e = dot(lc->col + (va * L + la) * lc->ns,
                 lc->col + (vb * L + lb) * lc->ns, lc->ns) /
             (double)lc->ns;
    return *e;
}

/* ---------------------------------------------------------------------
 * ParCorr on the lagged design
 * --------------------------------------------------------------------- */

struct pcm {
    struct lagcov lc;
    size_t *ids;  /* scratch: Z then X, Y */
    double *work; /* scratch: (m^2 + m) doubles, m = max ids */
    size_t cap;   /* capacity of ids */
    unsigned long tests;
};

static int pcm_reserve(struct pcm *s, size_t m)
{
    if (m <= s->cap)
        return 0;
    size_t cap = m * 2;
    size_t *ids = realloc(s->ids, cap * sizeof(size_t));
    if (!ids)
        return -STATS_E_NOMEM;
    s->ids = ids;
    double *w = realloc(s->work, (cap * cap + cap) * sizeof(double));
    if (!w)
        return -STATS_E_NOMEM;
    s->work = w;
    s->cap = cap;
    return 0;
}

/* X = id x, Y = id y given ids z[0..nz): tigramite's run_test. */
static int pcm_test(struct pcm *s, size_t x, size_t y, const size_t *z,
                    size_t nz, double *val, double *p)
{
    size_t k = 0, m;
    int rc;

    s->tests++;
    if (s->lc.constant[x] || s->lc.constant[y]) {
        *val = 0.0;
        *p = 1.0;
        return 0;
    }
    if ((rc = pcm_reserve(s, nz + 2)) < 0)
        return rc;
    for (size_t i = 0; i < nz; i++) {
        bool dup = z[i] == x || z[i] == y || s->lc.constant[z[i]];
        for (size_t j = 0; j < k && !dup; j++)
            dup = s->ids[j] == z[i];
        if (!dup)
            s->ids[k++] = z[i];
    }
    s->ids[k] = x;
    s->ids[k + 1] = y;
    m = k + 2;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j <= i; j++) {
            double c = lagcov_get(&s->lc, s->ids[i], s->ids[j]);
            if (isnan(c))
                return -STATS_E_NOMEM;
            s->work[i * m + j] = c;
        }
    *val = pcorr_of_cov(s->work, m);
    *p = stats_parcorr_pvalue(*val, (double)s->lc.ns - (double)m);
    return 0;
}

/* ---------------------------------------------------------------------
 * PC1
 * --------------------------------------------------------------------- */

struct pc1_cand {
    size_t id;      /* v*L + lag */
    double val_min; /* smallest |r| seen */
    size_t first;   /* position in the initial list (ties) */
};

static int cmp_cand(const void *a, const void *b)
{
    const struct pc1_cand *x = a, *y = b;

    if (x->val_min != y->val_min)
        return x->val_min < y->val_min ? 1 : -1;
    return (x->first > y->first) - (x->first < y->first);
}

/* The PC1 parents of variable j into c[0..*cnt), strongest first. z and
 * nonsig: scratch of the initial candidate count. */
static int pc1_single(struct pcm *s, size_t j, unsigned tau, double alpha,
                      struct pc1_cand *c, size_t *cnt, size_t *z,
                      unsigned char *nonsig)
{
    size_t L = s->lc.L, n = 0, yid = j * L;
    int rc;

    for (size_t i = 0; i < s->lc.N; i++)
        for (unsigned lag = 1; lag <= tau; lag++) {
            c[n].id = i * L + lag;
            c[n].val_min = INFINITY;
            c[n].first = n;
            n++;
        }
    for (size_t dim = 0; n >= dim + 1; dim++) {
        for (size_t q = 0; q < n; q++) {
            size_t nz = 0;
            double val, p;

            for (size_t w = 0; w < n && nz < dim; w++)
                if (w != q)
                    z[nz++] = c[w].id;
            if ((rc = pcm_test(s, c[q].id, yid, z, nz, &val, &p)) < 0)
                return rc;
            if (fabs(val) < c[q].val_min)
                c[q].val_min = fabs(val);
            nonsig[q] = !(p <= alpha);
        }
        size_t keep = 0;
        for (size_t q = 0; q < n; q++)
            if (!nonsig[q])
                c[keep++] = c[q];
        n = keep;
        qsort(c, n, sizeof(*c), cmp_cand);
    }
    *cnt = n;
    return 0;
}

static int run_pc1(struct pcm *s, unsigned tau, double alpha,
                   struct stats_pcmci *out)
{
    size_t N = s->lc.N, ncand = N * tau, total = 0;
    struct pc1_cand *c = malloc(ncand * sizeof(*c));
    size_t *z = malloc(ncand * sizeof(size_t)), cnt;
    unsigned char *nonsig = malloc(ncand);
    int rc = -STATS_E_NOMEM;

    out->par_off = calloc(N + 1, sizeof(size_t));
    out->par_var = malloc((N * ncand + 1) * sizeof(size_t));
    out->par_lag = malloc((N * ncand + 1) * sizeof(unsigned));
    if (!c || !z || !nonsig || !out->par_off || !out->par_var || !out->par_lag)
        goto out;
    for (size_t j = 0; j < N; j++) {
        if ((rc = pc1_single(s, j, tau, alpha, c, &cnt, z, nonsig)) < 0)
            goto out;
        out->par_off[j] = total;
        for (size_t q = 0; q < cnt; q++) {
            out->par_var[total] = c[q].id / s->lc.L;
            out->par_lag[total] = (unsigned)(c[q].id % s->lc.L);
            total++;
        }
    }
    out->par_off[N] = total;
    rc = 0;
out:
    free(c);
    free(z);
    free(nonsig);
    return rc;
}

/* ---------------------------------------------------------------------
 * MCI and the graph
 * --------------------------------------------------------------------- */

static int mci_link(struct pcm *s, const struct stats_pcmci *r, size_t i,
                    unsigned lag, size_t j, size_t *z, double *val, double *p)
{
    size_t L = s->lc.L, x = i * L + lag, nz = 0;

    for (size_t q = r->par_off[j]; q < r->par_off[j + 1]; q++) {
        size_t id = r->par_var[q] * L + r->par_lag[q];
        if (id != x)
            z[nz++] = id;
    }
    for (size_t q = r->par_off[i]; q < r->par_off[i + 1]; q++) {
        size_t id = r->par_var[q] * L + r->par_lag[q] + lag;
        bool dup = false;
        for (size_t w = 0; w < nz && !dup; w++)
            dup = z[w] == id;
        if (!dup)
            z[nz++] = id;
    }
    return pcm_test(s, x, j * L, z, nz, val, p);
}

static int run_mci(struct pcm *s, struct stats_pcmci *r)
{
    size_t N = r->n, T1 = (size_t)r->tau_max + 1;
    size_t *z = malloc((r->par_off[N] * 2 + 2) * sizeof(size_t));
    int rc = 0;

    if (!z)
        return -STATS_E_NOMEM;
    for (size_t j = 0; j < N && rc == 0; j++)
        for (size_t i = 0; i < N && rc == 0; i++)
            for (unsigned lag = 0; lag <= r->tau_max && rc == 0; lag++) {
                size_t at = (i * N + j) * T1 + lag;
                if (i == j && lag == 0)
                    continue;
                rc = mci_link(s, r, i, lag, j, z, &r->val[at], &r->p[at]);
            }
    free(z);
    return rc;
}

static void make_graph(struct stats_pcmci *r, double alpha)
{
    size_t N = r->n, T1 = (size_t)r->tau_max + 1;

    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++)
            for (size_t lag = 0; lag < T1; lag++) {
                size_t at = (i * N + j) * T1 + lag;
                bool sig = r->p[at] <= alpha, back;

                if (lag > 0) {
                    r->graph[at] = sig ? STATS_PCMCI_RIGHT : STATS_PCMCI_NONE;
                    continue;
                }
                back = r->p[(j * N + i) * T1] <= alpha;
                r->graph[at] = sig && back    ? STATS_PCMCI_UNDIR
                               : sig && !back ? STATS_PCMCI_RIGHT
                               : !sig && back ? STATS_PCMCI_LEFT
                                              : STATS_PCMCI_NONE;
            }
}

void stats_pcmci_free(struct stats_pcmci *r)
{
    if (!r)
        return;
    free(r->p);
    free(r->val);
    free(r->graph);
    free(r->par_off);
    free(r->par_var);
    free(r->par_lag);
    memset(r, 0, sizeof(*r));
}

int stats_pcmci_parcorr(const double *x, size_t T, size_t N,
                        const struct stats_pcmci_opts *opts,
                        struct stats_pcmci *out)
{
    unsigned tau = opts ? opts->tau_max : 0;
    size_t L = 2 * (size_t)tau + 1, cells;
    struct pcm s = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    if (tau == 0 || N == 0 || T <= L + 1)
        return -STATS_E_INVAL;
    for (size_t i = 0; i < T * N; i++)
        if (!isfinite(x[i]))
            return -STATS_E_INVAL;
    out->n = N;
    out->tau_max = tau;
    cells = N * N * ((size_t)tau + 1);
    out->p = malloc(cells * sizeof(double));
    out->val = calloc(cells, sizeof(double));
    out->graph = calloc(cells, 1);
    if (!out->p || !out->val || !out->graph ||
        (rc = lagcov_init(&s.lc, x, T, N, L)) < 0) {
        rc = -STATS_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < cells; i++)
        out->p[i] = 1.0;
    if ((rc = run_pc1(&s, tau, opts->pc_alpha, out)) < 0 ||
        (rc = run_mci(&s, out)) < 0)
        goto out;
    make_graph(out, opts->alpha_level);
    out->tests = s.tests;
out:
    lagcov_free(&s.lc);
    free(s.ids);
    free(s.work);
    if (rc < 0)
        stats_pcmci_free(out);
    return rc;
}
