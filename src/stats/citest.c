/* citest: Fisher-z, chi-square and G-square conditional independence tests
 * and the k-means discretiser (see citest.h for the semantics matched). */
#include "stats/citest.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

#include "stats/stats_status.h"

#define MAX_COND 62 /* conditioning sets larger than this are refused */

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

int stats_corrcoef(const double *x, size_t rows, size_t cols, double *corr)
{
    double *z;

    if (rows < 2 || !all_finite(x, rows * cols))
        return -STATS_E_INVAL;
    z = malloc(rows * cols * sizeof(double));
    if (!z)
        return -STATS_E_NOMEM;
    /* Centre each column and scale it to unit sum of squares, so the
     * correlation is a plain dot product. */
    for (size_t j = 0; j < cols; j++) {
        const double *c = x + j * rows;
        double *zc = z + j * rows, mean = 0.0, ss = 0.0;
        for (size_t i = 0; i < rows; i++)
            mean += c[i];
        mean /= (double)rows;
        for (size_t i = 0; i < rows; i++) {
            zc[i] = c[i] - mean;
            ss += zc[i] * zc[i];
        }
        double inv = ss > 0.0 ? 1.0 / sqrt(ss) : NAN;
        for (size_t i = 0; i < rows; i++)
            zc[i] *= inv;
    }
    for (size_t a = 0; a < cols; a++) {
        const double *za = z + a * rows;
        for (size_t b = a; b < cols; b++) {
            const double *zb = z + b * rows;
            double s = 0.0;
            for (size_t i = 0; i < rows; i++)
                s += za[i] * zb[i];
            if (s > 1.0)
                s = 1.0;
            else if (s < -1.0)
                s = -1.0;
            corr[a * cols + b] = corr[b * cols + a] = s;
        }
    }
    free(z);
    return 0;
}

/* ---- Fisher z ---------------------------------------------------------- */

struct stats_fisherz {
    size_t p, n;
    double *corr; /* p x p */
    double *m;    /* scratch (MAX_COND + 2)^2 */
    unsigned long tests;
};

struct stats_fisherz *stats_fisherz_from_corr(const double *corr, size_t cols,
                                              size_t rows)
{
    struct stats_fisherz *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->p = cols;
    t->n = rows;
    t->corr = malloc(cols * cols * sizeof(double));
    t->m = malloc((MAX_COND + 2) * (MAX_COND + 2) * sizeof(double));
    if (!t->corr || !t->m) {
        stats_fisherz_destroy(t);
        return NULL;
    }
    memcpy(t->corr, corr, cols * cols * sizeof(double));
    return t;
}

struct stats_fisherz *stats_fisherz_create(const double *x, size_t rows,
                                           size_t cols)
{
    struct stats_fisherz *t;
    double *corr;

    if (rows < 4 || cols < 1)
        return NULL;
    corr = malloc(cols * cols * sizeof(double));
    if (!corr)
        return NULL;
    if (stats_corrcoef(x, rows, cols, corr) < 0 ||
        !all_finite(corr, cols * cols)) {
        free(corr);
        return NULL;
    }
    t = stats_fisherz_from_corr(corr, cols, rows);
    free(corr);
    return t;
}

void stats_fisherz_destroy(struct stats_fisherz *t)
{
    if (!t)
        return;
    free(t->corr);
    free(t->m);
    free(t);
}

size_t stats_fisherz_vars(const struct stats_fisherz *t)
{
    return t->p;
}

const double *stats_fisherz_corr(const struct stats_fisherz *t)
{
    return t->corr;
}

unsigned long stats_fisherz_tests(const struct stats_fisherz *t)
{
    return t->tests;
}

/* Partial correlation from the pseudo-inverse of the d x d matrix m whose
 * first two variables are x and y (the singular case). */
static int pcorr_pinv(const double *m, size_t d, double *r)
{
    gsl_matrix *a = gsl_matrix_alloc(d, d), *v = gsl_matrix_alloc(d, d);
    gsl_vector *sv = gsl_vector_alloc(d), *work = gsl_vector_alloc(d);
    int rc = -STATS_E_NOMEM;

    if (!a || !v || !sv || !work)
        goto out;
    for (size_t i = 0; i < d * d; i++)
        a->data[i] = m[i];
    gsl_set_error_handler_off();
    if (gsl_linalg_SV_decomp(a, v, sv, work) != 0) {
        rc = -STATS_E_SINGULAR;
        goto out;
    }
    /* pinv = V diag(1/s) U^T with numpy's cutoff 1e-15 * s_max. */
    double cut = 1e-15 * gsl_vector_get(sv, 0), p[2][2] = {{0}};
    for (size_t k = 0; k < d; k++) {
        double s = gsl_vector_get(sv, k);
        if (s <= cut)
            continue;
        for (size_t i = 0; i < 2; i++)
            for (size_t j = 0; j < 2; j++)
                p[i][j] +=
                    gsl_matrix_get(v, i, k) / s * gsl_matrix_get(a, j, k);
    }
    double den = sqrt(fabs(p[0][0] * p[1][1]));
    *r = den > 0.0 ? -p[0][1] / den : 0.0;
    rc = 0;
out:
    gsl_matrix_free(a);
    gsl_matrix_free(v);
    gsl_vector_free(sv);
    gsl_vector_free(work);
    return rc;
}

/* In-place Cholesky of the d x d row-major m (lower triangle); 0 or -1 when
 * m is not numerically positive definite. */
static int cholesky(double *m, size_t d)
{
    for (size_t j = 0; j < d; j++) {
        double s = m[j * d + j];
        for (size_t k = 0; k < j; k++)
            s -= m[j * d + k] * m[j * d + k];
        if (!(s > 1e-12))
            return -1;
        double l = sqrt(s);
        m[j * d + j] = l;
        for (size_t i = j + 1; i < d; i++) {
            double v = m[i * d + j];
            for (size_t k = 0; k < j; k++)
                v -= m[i * d + k] * m[j * d + k];
            m[i * d + j] = v / l;
        }
    }
    return 0;
}

int stats_fisherz_test(struct stats_fisherz *t, size_t x, size_t y,
                       const size_t *s, size_t k, double *p, double *r)
{
    size_t d = k + 2, idx[MAX_COND + 2];
    double rr;

    if (x >= t->p || y >= t->p || x == y || k > MAX_COND || t->n <= k + 3)
        return -STATS_E_INVAL;
    /* Order S first, then x, y: the last 2x2 block of the Cholesky factor
     * is the factor of cov(x, y | S). */
    for (size_t i = 0; i < k; i++) {
        if (s[i] >= t->p || s[i] == x || s[i] == y)
            return -STATS_E_INVAL;
        idx[i] = s[i];
    }
    idx[k] = x;
    idx[k + 1] = y;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j <= i; j++)
            t->m[i * d + j] = t->corr[idx[i] * t->p + idx[j]];
    t->tests++;
    if (cholesky(t->m, d) == 0) {
        double lyx = t->m[(k + 1) * d + k], lyy = t->m[(k + 1) * d + k + 1];
        rr = lyx / sqrt(lyx * lyx + lyy * lyy);
    } else {
        /* Singular: the pseudo-inverse, with x, y first. */
        size_t o[MAX_COND + 2];
        o[0] = x;
        o[1] = y;
        for (size_t i = 0; i < k; i++)
            o[i + 2] = s[i];
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++)
                t->m[i * d + j] = t->corr[o[i] * t->p + o[j]];
        int rc = pcorr_pinv(t->m, d, &rr);
        if (rc < 0)
            return rc;
    }
    if (fabs(rr) >= 1.0)
        rr = (1.0 - DBL_EPSILON) * (rr > 0 ? 1.0 : -1.0);
    double z = 0.5 * log((1.0 + rr) / (1.0 - rr));
    double stat = sqrt((double)(t->n - k - 3)) * fabs(z);
    *p = 2.0 * gsl_cdf_ugaussian_Q(stat);
    if (r)
        *r = rr;
    return 0;
}

/* ---- chi-square / G-square ------------------------------------------- */

struct stats_disc {
    size_t n, p;
    enum stats_disc_stat stat;
    uint32_t *code; /* column-major codes */
    uint32_t *card; /* per column */
    uint64_t *key;  /* scratch: n */
    uint32_t *cfg;  /* scratch: n, compressed S configuration */
    double *counts; /* scratch: tables */
    size_t counts_cap;
};

struct code_sort {
    double v;
    size_t i;
};

static int cmp_code_sort(const void *a, const void *b)
{
    const struct code_sort *x = a, *y = b;

    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

struct stats_disc *stats_disc_create(const double *x, size_t rows, size_t cols,
                                     enum stats_disc_stat stat)
{
    struct stats_disc *t;
    struct code_sort *cs;

    if (rows < 1 || !all_finite(x, rows * cols))
        return NULL;
    t = calloc(1, sizeof(*t));
    cs = malloc(rows * sizeof(*cs));
    if (!t || !cs)
        goto fail;
    t->n = rows;
    t->p = cols;
    t->stat = stat;
    t->code = malloc(rows * cols * sizeof(uint32_t));
    t->card = malloc(cols * sizeof(uint32_t));
    t->key = malloc(rows * sizeof(uint64_t));
    t->cfg = malloc(rows * sizeof(uint32_t));
    if (!t->code || !t->card || !t->key || !t->cfg)
        goto fail;
    for (size_t j = 0; j < cols; j++) {
        for (size_t i = 0; i < rows; i++) {
            cs[i].v = x[j * rows + i];
            cs[i].i = i;
        }
        qsort(cs, rows, sizeof(*cs), cmp_code_sort);
        uint32_t c = 0;
        for (size_t i = 0; i < rows; i++) {
            if (i > 0 && cs[i].v != cs[i - 1].v)
                c++;
            t->code[j * rows + cs[i].i] = c;
        }
        t->card[j] = c + 1;
    }
    free(cs);
    return t;
fail:
    free(cs);
    stats_disc_destroy(t);
    return NULL;
}

void stats_disc_destroy(struct stats_disc *t)
{
    if (!t)
        return;
    free(t->code);
    free(t->card);
    free(t->key);
    free(t->cfg);
    free(t->counts);
    free(t);
}

size_t stats_disc_card(const struct stats_disc *t, size_t j)
{
    return j < t->p ? t->card[j] : 0;
}

struct key_sort {
    uint64_t key;
    uint32_t row;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Compress the S configuration of every row to 0..m-1 (in increasing key
 * order, as numpy.unique does). Returns m, or 0 on allocation failure. */
static size_t s_configs(struct stats_disc *t, const size_t *s, size_t k)
{
    size_t n = t->n, m = 0;
    double space = 1.0;
    int overflow = 0;

    for (size_t i = 0; i < n; i++)
        t->key[i] = 0;
    for (size_t a = 0; a < k; a++) {
        const uint32_t *c = t->code + s[a] * n;
        space *= (double)t->card[s[a]];
        if (space > 1.8e19)
            overflow = 1;
        for (size_t i = 0; i < n; i++)
            t->key[i] = t->key[i] * t->card[s[a]] + c[i];
    }
    if (overflow) {
        /* Rare: too many configurations for one 64-bit key. Fall back to
         * ranking rows by their tuple of codes. */
        return 0;
    }
    if (space <= (double)(4 * n + 64)) {
        /* Dense: mark which keys occur, then number them in order. */
        size_t sz = (size_t)space;
        uint32_t *map = calloc(sz ? sz : 1, sizeof(uint32_t));
        if (!map)
            return 0;
        for (size_t i = 0; i < n; i++)
            map[t->key[i]] = 1;
        for (size_t v = 0; v < sz; v++)
            if (map[v])
                map[v] = (uint32_t)++m;
        for (size_t i = 0; i < n; i++)
            t->cfg[i] = map[t->key[i]] - 1;
        free(map);
        return m;
    }
    uint64_t *sorted = malloc(n * sizeof(uint64_t));
    if (!sorted)
        return 0;
    memcpy(sorted, t->key, n * sizeof(uint64_t));
    qsort(sorted, n, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || sorted[i] != sorted[i - 1])
            sorted[m++] = sorted[i];
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = m;
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (sorted[mid] <= t->key[i])
                lo = mid;
            else
                hi = mid;
        }
        t->cfg[i] = (uint32_t)lo;
    }
    free(sorted);
    return m;
}

int stats_disc_test(struct stats_disc *t, size_t x, size_t y, const size_t *s,
                    size_t k, double *p, double *stat_out, double *df_out)
{
    size_t n = t->n, m, cx, cy, cells;
    double stat = 0.0, df = 0.0;

    if (x >= t->p || y >= t->p || x == y)
        return -STATS_E_INVAL;
    for (size_t a = 0; a < k; a++)
        if (s[a] >= t->p || s[a] == x || s[a] == y)
            return -STATS_E_INVAL;
    if (k == 0) {
        m = 1;
        memset(t->cfg, 0, n * sizeof(uint32_t));
    } else if ((m = s_configs(t, s, k)) == 0) {
        return -STATS_E_NOMEM;
    }
    cx = t->card[x];
    cy = t->card[y];
    cells = m * (cx * cy + cx + cy + 1);
    if (cells > t->counts_cap) {
        double *c = realloc(t->counts, cells * sizeof(double));
        if (!c)
            return -STATS_E_NOMEM;
        t->counts = c;
        t->counts_cap = cells;
    }
    double *cxy = t->counts, *csx = cxy + m * cx * cy, *csy = csx + m * cx,
           *cs = csy + m * cy;
    memset(t->counts, 0, cells * sizeof(double));
    const uint32_t *ux = t->code + x * n, *uy = t->code + y * n;
    for (size_t i = 0; i < n; i++) {
        size_t g = t->cfg[i];
        cxy[(g * cx + ux[i]) * cy + uy[i]] += 1.0;
        csx[g * cx + ux[i]] += 1.0;
        csy[g * cy + uy[i]] += 1.0;
        cs[g] += 1.0;
    }
    for (size_t g = 0; g < m; g++) {
        size_t zr = 0, zc = 0;
        for (size_t a = 0; a < cx; a++) {
            zr += csx[g * cx + a] == 0.0;
            for (size_t b = 0; b < cy; b++) {
                double e = csx[g * cx + a] * csy[g * cy + b] / cs[g];
                double o = cxy[(g * cx + a) * cy + b];
                if (t->stat == STATS_CHISQ)
                    stat += e > 0.0 ? (o - e) * (o - e) / e : o * o;
                else if (o > 0.0 && e > 0.0)
                    stat += 2.0 * o * log(o / e);
            }
        }
        for (size_t b = 0; b < cy; b++)
            zc += csy[g * cy + b] == 0.0;
        df += (double)(cx - 1 - zr) * (double)(cy - 1 - zc);
    }
    *p = df == 0.0 ? 1.0 : gsl_cdf_chisq_Q(stat, df);
    if (stat_out)
        *stat_out = stat;
    if (df_out)
        *df_out = df;
    return 0;
}

/* ---- k-means discretiser ---------------------------------------------- */

/* One Lloyd pass in 1-D: assign labels to the nearest centre (lowest index
 * on ties), then, when update is set, recompute centres into cnew and
 * return the squared centre shift. */
static double lloyd_pass(const double *x, size_t n, const double *c, size_t k,
                         int *lab, double *cnew, double *w, int update)
{
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        double bd = INFINITY;
        for (size_t j = 0; j < k; j++) {
            double d = (x[i] - c[j]) * (x[i] - c[j]);
            if (d < bd) {
                bd = d;
                best = j;
            }
        }
        lab[i] = (int)best;
    }
    if (!update)
        return 0.0;
    for (size_t j = 0; j < k; j++)
        cnew[j] = w[j] = 0.0;
    for (size_t i = 0; i < n; i++) {
        cnew[lab[i]] += x[i];
        w[lab[i]] += 1.0;
    }
    for (size_t j = 0; j < k; j++) {
        if (w[j] > 0.0) {
            cnew[j] /= w[j];
            continue;
        }
        /* Empty cluster: move it to the point farthest from its centre
         * (scikit-learn relocates empty clusters the same way). */
        size_t far = 0;
        double fd = -1.0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs(x[i] - c[lab[i]]);
            if (d > fd) {
                fd = d;
                far = i;
            }
        }
        int old = lab[far];
        if (w[old] > 1.0) {
            cnew[old] = (cnew[old] * w[old] - x[far]) / (w[old] - 1.0);
            w[old] -= 1.0;
        }
        cnew[j] = x[far];
        w[j] = 1.0;
        lab[far] = (int)j;
    }
    double shift = 0.0;
    for (size_t j = 0; j < k; j++)
        shift += (cnew[j] - c[j]) * (cnew[j] - c[j]);
    return shift;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int stats_kbins_kmeans(const double *x, size_t n, unsigned n_bins, int *out,
                       unsigned *bins_out)
{
    double lo = INFINITY, hi = -INFINITY, mean = 0.0, var = 0.0;
    double *buf = NULL, *c, *cnew, *w, *xc, *edges;
    int *lab = NULL, *lab_old = NULL, rc = -STATS_E_NOMEM;
    size_t k = n_bins;

    if (n == 0 || n_bins < 2 || !all_finite(x, n))
        return -STATS_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
        mean += x[i];
    }
    if (lo == hi) {
        for (size_t i = 0; i < n; i++)
            out[i] = 0;
        if (bins_out)
            *bins_out = 1;
        return 0;
    }
    mean /= (double)n;
    buf = malloc((4 * k + 2 + n) * sizeof(double));
    lab = malloc(n * sizeof(int));
    lab_old = malloc(n * sizeof(int));
    if (!buf || !lab || !lab_old)
        goto out;
    c = buf;
    cnew = c + k;
    w = cnew + k;
    edges = w + k; /* k + 1 */
    xc = edges + k + 2;
    /* scikit-learn centres the data before Lloyd's iterations. */
    for (size_t i = 0; i < n; i++) {
        xc[i] = x[i] - mean;
        var += xc[i] * xc[i];
    }
    var /= (double)n;
    for (size_t j = 0; j < k; j++) {
        double e0 = lo + (hi - lo) * (double)j / (double)k;
        double e1 = lo + (hi - lo) * (double)(j + 1) / (double)k;
        if (j + 1 == k)
            e1 = hi;
        c[j] = (e0 + e1) * 0.5 - mean;
    }
    double tol = var * 1e-4;
    int strict = 0;
    for (size_t i = 0; i < n; i++)
        lab_old[i] = -1;
    for (int it = 0; it < 300; it++) {
        double shift = lloyd_pass(xc, n, c, k, lab, cnew, w, 1);
        memcpy(c, cnew, k * sizeof(double));
        if (!memcmp(lab, lab_old, n * sizeof(int))) {
            strict = 1;
            break;
        }
        if (shift <= tol)
            break;
        memcpy(lab_old, lab, n * sizeof(int));
    }
    (void)strict;
    for (size_t j = 0; j < k; j++)
        c[j] += mean;
    qsort(c, k, sizeof(double), cmp_dbl);
    /* Edges: lo, midpoints, hi; drop bins of width <= 1e-8. */
    size_t ne = 0;
    double prev = INFINITY;
    for (size_t j = 0; j <= k; j++) {
        double e = j == 0 ? lo : j == k ? hi : (c[j - 1] + c[j]) * 0.5;
        if (j == 0 || e - prev > 1e-8)
            edges[ne++] = e;
        prev = e;
    }
    /* searchsorted(edges[1:-1], v, side="right") */
    for (size_t i = 0; i < n; i++) {
        int b = 0;
        for (size_t j = 1; j + 1 < ne; j++)
            if (edges[j] <= x[i])
                b++;
        out[i] = b;
    }
    if (bins_out)
        *bins_out = (unsigned)(ne - 1);
    rc = 0;
out:
    free(buf);
    free(lab);
    free(lab_old);
    return rc;
}

bool stats_comb_next(size_t *c, size_t k, size_t m)
{
    size_t i = k;

    while (i > 0) {
        i--;
        if (c[i] < m - k + i) {
            c[i]++;
            for (size_t j = i + 1; j < k; j++)
                c[j] = c[j - 1] + 1;
            return true;
        }
    }
    return false;
}
