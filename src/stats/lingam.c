/* lingam: DirectLiNGAM's causal order and adaptive-lasso adjacency (see
 * lingam.h). */
#include "stats/lingam.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stats/regress.h"
#include "stats/stats_status.h"

static double mean_of(const double *x, size_t n)
{
    double s = 0.0;

    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s / (double)n;
}

static double var0(const double *x, size_t n)
{
    double m = mean_of(x, n), s = 0.0;

    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return s / (double)n;
}

/* lingam's _residual: xi - cov(xi, xj)[ddof 1] / var(xj)[ddof 0] * xj */
static void residual(const double *xi, const double *xj, size_t n, double *out)
{
    double mi = mean_of(xi, n), mj = mean_of(xj, n), c = 0.0;

    for (size_t k = 0; k < n; k++)
        c += (xi[k] - mi) * (xj[k] - mj);
    c /= (double)(n - 1);
    double b = c / var0(xj, n);
    for (size_t k = 0; k < n; k++)
        out[k] = xi[k] - b * xj[k];
}

/* Maximum-entropy approximation of the differential entropy. */
static double entropy(const double *u, size_t n, double scale)
{
    const double k1 = 79.047, k2 = 7.4129, gamma = 0.37457;
    double a = 0.0, b = 0.0;

    for (size_t i = 0; i < n; i++) {
        double v = u[i] / scale;
        a += log(cosh(v));
        b += v * exp(-v * v / 2.0);
    }
    a /= (double)n;
    b /= (double)n;
    return (1.0 + log(2.0 * M_PI)) / 2.0 - k1 * (a - gamma) * (a - gamma) -
           k2 * b * b;
}

static double std0(const double *x, size_t n)
{
    return sqrt(var0(x, n));
}

/* _search_causal_order over the remaining set u (len m) of columns of xr.
 * dMI is antisymmetric (dMI(j, i) = -dMI(i, j)), so each unordered pair is
 * evaluated once; the scores are those of lingam's double loop. */
static size_t search_order(const double *xr, size_t n, const size_t *u,
                           size_t m, double *zi, double *zj, double *ri,
                           double *rj, const double *hstd, double *score,
                           const double *zall)
{
    size_t best = u[0];
    double best_m = -INFINITY;

    (void)xr;
    if (m == 1)
        return u[0];
    for (size_t a = 0; a < m; a++)
        score[a] = 0.0;
    for (size_t a = 0; a < m; a++) {
        size_t i = u[a];
        memcpy(zi, zall + i * n, n * sizeof(double));
        for (size_t b = a + 1; b < m; b++) {
            size_t j = u[b];
            memcpy(zj, zall + j * n, n * sizeof(double));
            residual(zi, zj, n, ri);
            residual(zj, zi, n, rj);
            double d = (hstd[j] + entropy(ri, n, std0(ri, n))) -
                       (hstd[i] + entropy(rj, n, std0(rj, n)));
            if (d < 0.0)
                score[a] += d * d; /* min(0, dMI(i, j))^2 */
            else
                score[b] += d * d; /* min(0, dMI(j, i))^2 */
        }
    }
    for (size_t a = 0; a < m; a++)
        if (-score[a] > best_m) {
            best_m = -score[a];
            best = u[a];
        }
    return best;
}

int stats_direct_lingam(const double *x, size_t rows, size_t cols,
                        size_t *order, double *B, unsigned char *adj)
{
    size_t n = rows, *u = malloc((cols + 1) * sizeof(size_t)), m = cols;
    double *xr = malloc((rows * cols + 1) * sizeof(double));
    double *buf = malloc((4 * rows + 2 * cols + 1) * sizeof(double));
    double *zall = malloc((rows * cols + 1) * sizeof(double));
    double *bm = NULL;
    int rc = -STATS_E_NOMEM;

    if (!u || !xr || !buf || !zall)
        goto out;
    rc = -STATS_E_INVAL;
    if (rows < 3 || cols == 0)
        goto out;
    for (size_t i = 0; i < rows * cols; i++)
        if (!isfinite(x[i]))
            goto out;
    memcpy(xr, x, rows * cols * sizeof(double));
    double *zi = buf, *zj = zi + n, *ri = zj + n, *rj = ri + n, *hstd = rj + n,
           *score = hstd + cols;
    for (size_t j = 0; j < cols; j++) {
        u[j] = j;
        if (std0(x + j * n, n) == 0.0)
            goto out;
    }
    for (size_t step = 0; step < cols; step++) {
        /* entropies of the standardised remaining columns, once per step */
        for (size_t a = 0; a < m; a++) {
            const double *c = xr + u[a] * n;
            double mu = mean_of(c, n), sd = std0(c, n);
            double *z = zall + u[a] * n;
            for (size_t k = 0; k < n; k++)
                z[k] = (c[k] - mu) / sd;
            hstd[u[a]] = entropy(z, n, 1.0);
        }
        size_t pick =
            search_order(xr, n, u, m, zi, zj, ri, rj, hstd, score, zall);
        for (size_t a = 0; a < m; a++)
            if (u[a] != pick) {
                residual(xr + u[a] * n, xr + pick * n, n, ri);
                memcpy(xr + u[a] * n, ri, n * sizeof(double));
            }
        order[step] = pick;
        size_t o = 0;
        for (size_t a = 0; a < m; a++)
            if (u[a] != pick)
                u[o++] = u[a];
        m = o;
    }
    /* adjacency on the original data */
    bm = calloc(cols * cols, sizeof(double));
    if (!bm) {
        rc = -STATS_E_NOMEM;
        goto out;
    }
    if ((rc = stats_lingam_adjacency(x, rows, cols, order, bm)) < 0)
        goto out;
    if (B)
        memcpy(B, bm, cols * cols * sizeof(double));
    if (adj)
        for (size_t i = 0; i < cols * cols; i++)
            adj[i] = bm[i] != 0.0;
    rc = 0;
out:
    free(u);
    free(xr);
    free(buf);
    free(zall);
    free(bm);
    return rc;
}

int stats_lingam_adjacency(const double *x, size_t rows, size_t cols,
                           const size_t *order, double *B)
{
    size_t n = rows;
    double *des = malloc((rows * cols + 1) * sizeof(double));
    double *xc = malloc((rows * cols + 1) * sizeof(double));
    double *gram = malloc((cols * cols + 1) * sizeof(double));
    double *coef = malloc((cols + 1) * sizeof(double));
    int rc = -STATS_E_NOMEM;

    if (!des || !xc || !gram || !coef)
        goto out;
    memset(B, 0, cols * cols * sizeof(double));
    /* every target's regressions from one Gram matrix of the centred
     * columns (stats_adaptive_lasso_gram), the SVD path on the data where
     * the predictors are near collinear */
    stats_center_cols(x, n, cols, xc);
    stats_gram(xc, n, cols, gram);
    for (size_t i = 1; i < cols; i++) {
        size_t target = order[i];
        if (rows <= i + 1) {
            rc = -STATS_E_INVAL;
            goto out;
        }
        rc = stats_adaptive_lasso_gram(gram, xc, n, cols, order, i, target, 1.0,
                                       coef);
        if (rc == -STATS_E_SINGULAR) {
            for (size_t p = 0; p < i; p++)
                memcpy(des + p * n, x + order[p] * n, n * sizeof(double));
            rc = stats_adaptive_lasso(des, n, i, x + target * n, 1.0, coef);
        }
        if (rc < 0)
            goto out;
        for (size_t p = 0; p < i; p++)
            B[target * cols + order[p]] = coef[p];
    }
    rc = 0;
out:
    free(des);
    free(xc);
    free(gram);
    free(coef);
    return rc;
}
