/* regress: OLS (GSL SVD) and the LARS-lasso path with an information
 * criterion (see regress.h). */
#include "stats/regress.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multifit.h>

#include "stats/stats_status.h"

int stats_ols_fit(const double *x, size_t n, size_t k, const double *y,
                  bool intercept, double *coef, struct stats_ols *out)
{
    size_t cols = k + (intercept ? 1 : 0);
    gsl_matrix *a = NULL, *cov = NULL;
    gsl_vector *b = NULL, *c = NULL;
    gsl_multifit_linear_workspace *ws = NULL;
    double chisq, ymean = 0.0, tss = 0.0;
    int rc = -STATS_E_NOMEM;

    memset(out, 0, sizeof(*out));
    if (n == 0)
        return -STATS_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]))
            return -STATS_E_INVAL;
        ymean += y[i];
    }
    for (size_t i = 0; i < n * k; i++)
        if (!isfinite(x[i]))
            return -STATS_E_INVAL;
    ymean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = intercept ? y[i] - ymean : y[i];
        tss += d * d;
    }
    if (cols == 0) {
        out->ssr = out->tss = tss;
        out->df_resid = n;
        return 0;
    }
    a = gsl_matrix_alloc(n, cols);
    cov = gsl_matrix_alloc(cols, cols);
    b = gsl_vector_alloc(n);
    c = gsl_vector_alloc(cols);
    ws = gsl_multifit_linear_alloc(n, cols);
    if (!a || !cov || !b || !c || !ws)
        goto done;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < k; j++)
            gsl_matrix_set(a, i, j, x[j * n + i]);
        if (intercept)
            gsl_matrix_set(a, i, k, 1.0);
        gsl_vector_set(b, i, y[i]);
    }
    gsl_set_error_handler_off();
    size_t rank;
    /* numpy's lstsq cutoff: singular values below eps * max(n, k) * s_max */
    double tol = DBL_EPSILON * (double)(n > cols ? n : cols);
    if (gsl_multifit_linear_tsvd(a, b, tol, c, cov, &chisq, &rank, ws) != 0) {
        rc = -STATS_E_SINGULAR;
        goto done;
    }
    for (size_t j = 0; j < k && coef; j++)
        coef[j] = gsl_vector_get(c, j);
    out->intercept = intercept ? gsl_vector_get(c, k) : 0.0;
    out->ssr = chisq;
    out->tss = tss;
    out->rank = rank;
    out->df_resid = n > rank ? n - rank : 0;
    rc = 0;
done:
    gsl_matrix_free(a);
    gsl_matrix_free(cov);
    gsl_vector_free(b);
    gsl_vector_free(c);
    if (ws)
        gsl_multifit_linear_free(ws);
    return rc;
}

void stats_center_cols(const double *x, size_t n, size_t k, double *xc)
{
    for (size_t j = 0; j < k; j++) {
        double m = 0.0;
        for (size_t i = 0; i < n; i++)
            m += x[j * n + i];
        m /= (double)n;
        for (size_t i = 0; i < n; i++)
            xc[j * n + i] = x[j * n + i] - m;
    }
}

void stats_gram(const double *x, size_t n, size_t k, double *g)
{
    for (size_t a = 0; a < k; a++)
        for (size_t b = a; b < k; b++) {
            double s = 0.0;
            for (size_t i = 0; i < n; i++)
                s += x[a * n + i] * x[b * n + i];
            g[a * k + b] = g[b * k + a] = s;
        }
}

/* ---- LARS-lasso -------------------------------------------------------- */

struct lars {
    size_t n, k;
    const double *g;  /* k x k Gram of the centred design */
    const double *xy; /* k: X'y */
    double *path;     /* coefficient vectors, (steps) x k */
    double *alphas;
    size_t steps, cap;
};

static int lars_push(struct lars *l, const double *coef, double alpha)
{
    if (l->steps == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        double *p = realloc(l->path, cap * l->k * sizeof(double));
        if (!p)
            return -1;
        l->path = p;
        double *a = realloc(l->alphas, cap * sizeof(double));
        if (!a)
            return -1;
        l->alphas = a;
        l->cap = cap;
    }
    memcpy(l->path + l->steps * l->k, coef, l->k * sizeof(double));
    l->alphas[l->steps++] = alpha;
    return 0;
}

/* Solve G_AA w = s for the active set by Cholesky (small: |A| <= k). */
static int solve_active(const double *g, size_t k, const size_t *act, size_t na,
                        const double *s, double *w, double *lbuf)
{
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j <= i; j++)
            lbuf[i * na + j] = g[act[i] * k + act[j]];
    for (size_t j = 0; j < na; j++) {
        double d = lbuf[j * na + j];
        for (size_t q = 0; q < j; q++)
            d -= lbuf[j * na + q] * lbuf[j * na + q];
        if (!(d > 1e-300))
            return -1;
        d = sqrt(d);
        lbuf[j * na + j] = d;
        for (size_t i = j + 1; i < na; i++) {
            double v = lbuf[i * na + j];
            for (size_t q = 0; q < j; q++)
                v -= lbuf[i * na + q] * lbuf[j * na + q];
            lbuf[i * na + j] = v / d;
        }
    }
    for (size_t i = 0; i < na; i++) {
        double v = s[i];
        for (size_t q = 0; q < i; q++)
            v -= lbuf[i * na + q] * w[q];
        w[i] = v / lbuf[i * na + i];
    }
    for (size_t i = na; i-- > 0;) {
        double v = w[i];
        for (size_t q = i + 1; q < na; q++)
            v -= lbuf[q * na + i] * w[q];
        w[i] = v / lbuf[i * na + i];
    }
    return 0;
}

/* The LARS path with the lasso modification (a variable whose coefficient
 * would cross zero leaves the active set), from alpha = max|X'y| / n down
 * to 0 or until every variable is active and the fit is OLS. */
static int lars_path(struct lars *l)
{
    size_t k = l->k, na = 0;
    const float tiny32 = 1.17549435e-38f;
    double *coef = calloc(k, sizeof(double)), *cov = malloc(k * sizeof(double));
    double *sign = malloc(k * sizeof(double)), *w = malloc(k * sizeof(double));
    double *ls = malloc(k * sizeof(double)), *a = malloc(k * sizeof(double));
    double *lbuf = malloc(k * k * sizeof(double) + 1);
    size_t *act = malloc(k * sizeof(size_t));
    char *in = calloc(k, 1);
    int rc = -1, drop = 0;

    if (!coef || !cov || !sign || !w || !ls || !a || !lbuf || !act || !in)
        goto out;
    for (size_t iter = 0; iter < 500 + k; iter++) {
        /* Correlations with the current residual. */
        double cmax = 0.0;
        size_t cidx = k;
        for (size_t j = 0; j < k; j++) {
            double c = l->xy[j];
            for (size_t q = 0; q < k; q++)
                c -= l->g[j * k + q] * coef[q];
            cov[j] = c;
            if (!in[j] && fabs(c) > cmax) {
                cmax = fabs(c);
                cidx = j;
            }
        }
        if (na > 0) {
            /* The active correlation is shared by the active set. */
            double ca = fabs(cov[act[0]]);
            if (cidx == k || ca > cmax)
                cmax = ca;
        }
        double alpha = cmax / (double)l->n;
        if (alpha <= DBL_EPSILON) {
            if (lars_push(l, coef, 0.0) < 0)
                goto out;
            break;
        }
        if (lars_push(l, coef, alpha) < 0)
            goto out;
        if (na >= k)
            break;
        if (!drop && cidx < k) {
            act[na++] = cidx;
            in[cidx] = 1;
        }
        for (size_t i = 0; i < na; i++)
            sign[i] = cov[act[i]] >= 0 ? 1.0 : -1.0;
        if (solve_active(l->g, k, act, na, sign, ls, lbuf) < 0)
            break; /* degenerate active set: stop the path here */
        double ssum = 0.0;
        for (size_t i = 0; i < na; i++)
            ssum += ls[i] * sign[i];
        double aa = 1.0 / sqrt(ssum);
        for (size_t i = 0; i < na; i++)
            ls[i] *= aa;
        /* a[j] = x_j' u for every variable, u the equiangular direction. */
        double gamma = cmax / aa;
        for (size_t j = 0; j < k; j++) {
            double v = 0.0;
            for (size_t i = 0; i < na; i++)
                v += l->g[j * k + act[i]] * ls[i];
            a[j] = v;
            if (in[j])
                continue;
            double g1 = (cmax - cov[j]) / (aa - v + tiny32);
            double g2 = (cmax + cov[j]) / (aa + v + tiny32);
            if (g1 > 0 && g1 < gamma)
                gamma = g1;
            if (g2 > 0 && g2 < gamma)
                gamma = g2;
        }
        /* Lasso: does an active coefficient reach zero first? */
        drop = 0;
        double zmin = INFINITY;
        for (size_t i = 0; i < na; i++) {
            double z = -coef[act[i]] / (ls[i] + tiny32);
            w[i] = z;
            if (z > 0 && z < zmin)
                zmin = z;
        }
        if (zmin < gamma) {
            gamma = zmin;
            drop = 1;
        }
        for (size_t i = 0; i < na; i++)
            coef[act[i]] += gamma * ls[i];
        if (drop) {
            size_t o = 0;
            for (size_t i = 0; i < na; i++) {
                if (w[i] == zmin) {
                    coef[act[i]] = 0.0;
                    in[act[i]] = 0;
                } else {
                    act[o++] = act[i];
                }
            }
            na = o;
        }
    }
    rc = 0;
out:
    free(coef);
    free(cov);
    free(sign);
    free(w);
    free(ls);
    free(a);
    free(lbuf);
    free(act);
    free(in);
    return rc;
}

/* The residual sum of squares of yc on the columns cols[j] * scale[j]
 * (scale NULL: 1) with coefficients c, from the data. */
static double rss_direct(const double *const *cols, const double *scale,
                         const double *yc, size_t n, size_t k, const double *c)
{
    double rss = 0.0;

    for (size_t i = 0; i < n; i++) {
        double r = yc[i];
        for (size_t j = 0; j < k; j++)
            r -= (scale ? cols[j][i] * scale[j] : cols[j][i]) * c[j];
        rss += r * r;
    }
    return rss;
}

/* A centred LassoLarsIC problem: the Gram matrix g (k x k) and xy = X'yc
 * of the centred design, whose columns are cols[j] * scale[j]; yc, yy =
 * yc'yc, n and the OLS noise variance s2. gram_rss: a path point's RSS
 * from g (yy - 2 c'xy + c'g c) unless that is below 1e-6 yy (cancellation:
 * then from the data); else always from the data. */
struct lars_ic_problem {
    const double *g, *xy, *yc, *scale;
    const double *const *cols;
    size_t n, k;
    double yy, s2;
    bool gram_rss;
};

static int lars_ic_select(const struct lars_ic_problem *pb, enum stats_ic ic,
                          double *coef, double *alpha_out)
{
    struct lars l = {.n = pb->n, .k = pb->k, .g = pb->g, .xy = pb->xy};
    size_t n = pb->n, k = pb->k;
    int rc = -STATS_E_NOMEM;

    if (lars_path(&l) < 0 || l.steps == 0)
        goto out;
    double factor = ic == STATS_IC_BIC ? log((double)n) : 2.0, best = INFINITY;
    size_t bi = 0;
    for (size_t st = 0; st < l.steps; st++) {
        const double *c = l.path + st * k;
        double rss = -1.0;
        size_t df = 0;
        for (size_t j = 0; j < k; j++)
            df += fabs(c[j]) > DBL_EPSILON;
        if (pb->gram_rss) {
            double cg = 0.0, cxy = 0.0;
            for (size_t a = 0; a < k; a++) {
                double v = 0.0;
                for (size_t b = 0; b < k; b++)
                    v += pb->g[a * k + b] * c[b];
                cg += c[a] * v;
                cxy += c[a] * pb->xy[a];
            }
            rss = pb->yy - 2.0 * cxy + cg;
            if (!(rss >= 1e-6 * pb->yy))
                rss = -1.0;
        }
        if (rss < 0.0)
            rss = rss_direct(pb->cols, pb->scale, pb->yc, n, k, c);
        double crit = (double)n * log(2.0 * M_PI * pb->s2) + rss / pb->s2 +
                      factor * (double)df;
        if (crit < best) {
            best = crit;
            bi = st;
        }
    }
    memcpy(coef, l.path + bi * k, k * sizeof(double));
    if (alpha_out)
        *alpha_out = l.alphas[bi];
    rc = 0;
out:
    free(l.path);
    free(l.alphas);
    return rc;
}

int stats_lasso_lars_ic(const double *x, size_t n, size_t k, const double *y,
                        enum stats_ic ic, double *coef, double *alpha_out)
{
    double *xc = NULL, *yc = NULL, *g = NULL, *xy = NULL;
    const double **cols = NULL;
    struct stats_ols ols;
    int rc = -STATS_E_NOMEM;

    if (k == 0 || n <= k + 1)
        return -STATS_E_INVAL;
    xc = malloc(n * k * sizeof(double));
    yc = malloc(n * sizeof(double));
    g = malloc(k * k * sizeof(double));
    xy = malloc(k * sizeof(double));
    cols = malloc(k * sizeof(*cols));
    if (!xc || !yc || !g || !xy || !cols)
        goto out;
    double ym = 0.0;
    for (size_t i = 0; i < n; i++)
        ym += y[i];
    ym /= (double)n;
    for (size_t i = 0; i < n; i++)
        yc[i] = y[i] - ym;
    stats_center_cols(x, n, k, xc);
    stats_gram(xc, n, k, g);
    for (size_t a = 0; a < k; a++) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
            s += xc[a * n + i] * yc[i];
        xy[a] = s;
        cols[a] = xc + a * n;
    }
    /* Noise variance from OLS on the centred data, no intercept, divided by
     * n - k - 1 (scikit-learn's _estimate_noise_variance). */
    rc = stats_ols_fit(xc, n, k, yc, false, NULL, &ols);
    if (rc < 0)
        goto out;
    struct lars_ic_problem pb = {.g = g,
                                 .xy = xy,
                                 .yc = yc,
                                 .cols = cols,
                                 .n = n,
                                 .k = k,
                                 .s2 = ols.ssr / (double)(n - k - 1)};
    rc = lars_ic_select(&pb, ic, coef, alpha_out);
out:
    free(xc);
    free(yc);
    free(g);
    free(xy);
    free(cols);
    return rc;
}

int stats_adaptive_lasso(const double *x, size_t n, size_t k, const double *y,
                         double gamma, double *coef)
{
    double *w = malloc((k ? k : 1) * sizeof(double));
    double *xw = calloc(n * k + 1, sizeof(double));
    struct stats_ols ols;
    int rc = -STATS_E_NOMEM;

    if (!w || !xw)
        goto out;
    rc = stats_ols_fit(x, n, k, y, true, w, &ols);
    if (rc < 0)
        goto out;
    for (size_t j = 0; j < k; j++) {
        w[j] = pow(fabs(w[j]), gamma);
        for (size_t i = 0; i < n; i++)
            xw[j * n + i] = x[j * n + i] * w[j];
    }
    rc = stats_lasso_lars_ic(xw, n, k, y, STATS_IC_BIC, coef, NULL);
    if (rc < 0)
        goto out;
    for (size_t j = 0; j < k; j++)
        coef[j] *= w[j];
out:
    free(w);
    free(xw);
    return rc;
}

int stats_adaptive_lasso_gram(const double *gram, const double *xc, size_t n,
                              size_t p, const size_t *pred, size_t k,
                              size_t target, double gamma, double *coef)
{
    gsl_set_error_handler_off(); /* a failed allocation returns NULL */
    gsl_matrix *r = gsl_matrix_alloc(k ? k : 1, k ? k : 1);
    gsl_vector *v = gsl_vector_alloc(k ? k : 1);
    gsl_vector *work = gsl_vector_alloc(3 * (k ? k : 1));
    double *d = malloc((k + 1) * sizeof(double)),
           *w = malloc((k + 1) * sizeof(double)),
           *gw = malloc((k * k + 1) * sizeof(double)),
           *xy = malloc((k + 1) * sizeof(double));
    const double **cols = malloc((k + 1) * sizeof(*cols));
    const double *yc = xc + target * n;
    int rc = -STATS_E_NOMEM;

    if (!r || !v || !work || !d || !w || !gw || !xy || !cols)
        goto out;
    rc = -STATS_E_INVAL;
    if (k == 0 || n <= k + 1)
        goto out;
    /* OLS with an intercept = OLS on the centred columns: the normal
     * equations on the predictors' correlation matrix (centred, scaled to
     * unit length, for its conditioning), or the data path when that is
     * near singular */
    rc = -STATS_E_SINGULAR;
    for (size_t a = 0; a < k; a++) {
        d[a] = sqrt(gram[pred[a] * p + pred[a]]);
        if (!(d[a] > 0.0))
            goto out;
        cols[a] = xc + pred[a] * n;
    }
    for (size_t a = 0; a < k; a++) {
        for (size_t b = 0; b < k; b++)
            gsl_matrix_set(r, a, b,
                           gram[pred[a] * p + pred[b]] / (d[a] * d[b]));
        gsl_vector_set(v, a, gram[pred[a] * p + target] / d[a]);
    }
    double rcond = 0.0;
    if (gsl_linalg_cholesky_decomp1(r) != 0 ||
        gsl_linalg_cholesky_rcond(r, &rcond, work) != 0 || !(rcond > 1e-7) ||
        gsl_linalg_cholesky_svx(r, v) != 0)
        goto out;
    /* weights |b|^gamma (b in coef for now); a zero weight drops a column,
     * which the data path handles as scikit-learn does */
    for (size_t a = 0; a < k; a++) {
        coef[a] = gsl_vector_get(v, a) / d[a];
        w[a] = pow(fabs(coef[a]), gamma);
        if (!(w[a] > 0.0) || !isfinite(w[a]))
            goto out;
    }
    /* the lasso's noise variance: OLS on the weighted centred design, whose
     * columns span what the unweighted ones do: the same residuals */
    double ssr = rss_direct(cols, NULL, yc, n, k, coef);
    for (size_t a = 0; a < k; a++) {
        for (size_t b = 0; b < k; b++)
            gw[a * k + b] = w[a] * w[b] * gram[pred[a] * p + pred[b]];
        xy[a] = w[a] * gram[pred[a] * p + target];
    }
    struct lars_ic_problem pb = {.g = gw,
                                 .xy = xy,
                                 .yc = yc,
                                 .scale = w,
                                 .cols = cols,
                                 .n = n,
                                 .k = k,
                                 .yy = gram[target * p + target],
                                 .s2 = ssr / (double)(n - k - 1),
                                 .gram_rss = true};
    rc = lars_ic_select(&pb, STATS_IC_BIC, coef, NULL);
    if (rc == 0)
        for (size_t a = 0; a < k; a++)
            coef[a] *= w[a];
out:
    if (r)
        gsl_matrix_free(r);
    if (v)
        gsl_vector_free(v);
    if (work)
        gsl_vector_free(work);
    free(d);
    free(w);
    free(gw);
    free(xy);
    free(cols);
    return rc;
}
