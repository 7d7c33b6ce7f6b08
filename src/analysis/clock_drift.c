/* clock_drift: drift and steps from a domain's offset track (one point per
 * window). A least-squares line gives the drift; its standard error comes
 * from the scatter of the points around the line, and the drift is called
 * significant only when a two-sided Student t test at 0.1 % rejects zero
 * (few windows make the t quantile large: 5.96 for 6 degrees of freedom,
 * 3.29 for many), and it exceeds MIN_DRIFT_PPM. A track that jumps is fitted
 * with a step instead. Shared by every caller through clock_window.c. */
#include "analysis/clock_graph_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#define MIN_STEP_NS 100000.0 /* smaller jumps are noise (100 us) */
#define MIN_STEP_POINTS 5
#define MIN_DRIFT_PPM 0.05 /* smaller drifts are not significant */
#define DRIFT_ALPHA 0.001  /* two-sided level of the zero-drift test */

/* A fit of a track: y = a + b t (+ s [i >= k] when k > 0), t in s, y in
 * ns. Points with use[i] false are left out. */
struct track_fit {
    double a, b, s;
    double sse;   /* residual sum of squares over the points used */
    size_t used;  /* points used */
    double var_b; /* (X'X)^-1 for b: se(b) = sqrt(var_b * sse / dof) */
};

static double track_residual(const struct track_fit *f, double t, double y,
                             bool after_step)
{
    return y - f->a - f->b * t - (after_step ? f->s : 0);
}

/* Gauss-Jordan on the m x m normal equations [X'X | X'y | I]. */
static int solve_normal(double a[3][7], size_t m)
{
    for (size_t c = 0; c < m; c++) {
        if (fabs(a[c][c]) < 1e-9)
            return -1;
        for (size_t r = 0; r < m; r++) {
            if (r == c)
                continue;
            double q = a[r][c] / a[c][c];
            for (size_t j = 0; j < 7; j++)
                a[r][j] -= q * a[c][j];
        }
    }
    return 0;
}

/* Least squares on the 2 or 3 parameters. Returns 0, or -1 when singular. */
static int fit_track(const double *t, const double *y, const bool *use,
                     size_t n, size_t k, struct track_fit *f)
{
    size_t m = k ? 3 : 2;
    double a[3][7] = {{0}};

    for (size_t i = 0; i < n; i++) {
        double row[3] = {1.0, t[i], i >= k ? 1.0 : 0.0};
        for (size_t r = 0; use[i] && r < m; r++) {
            for (size_t c = 0; c < m; c++)
                a[r][c] += row[r] * row[c];
            a[r][3] += row[r] * y[i];
        }
    }
    for (size_t r = 0; r < m; r++)
        a[r][4 + r] = 1.0;
    if (solve_normal(a, m) < 0)
        return -1;
    f->a = a[0][3] / a[0][0];
    f->b = a[1][3] / a[1][1];
    f->s = k ? a[2][3] / a[2][2] : 0;
    f->var_b = a[1][5] / a[1][1];
    f->sse = 0;
    f->used = 0;
    for (size_t i = 0; i < n; i++) {
        double r = track_residual(f, t[i], y[i], i >= k && k);
        f->sse += use[i] ? r * r : 0;
        f->used += use[i];
    }
    return 0;
}

static double per_dof(const struct track_fit *f, size_t params)
{
    return f->used > params ? f->sse / (double)(f->used - params) : INFINITY;
}

/* Fit with every point, and with each point left out in turn; keep the
 * leave-one-out fit when it explains the rest four times better per degree
 * of freedom (a window that straddles a step, or one whose few pairs
 * mislead). use[] says which points the kept fit used. Returns 0 or -1. */
static int fit_robust(const double *t, const double *y, size_t n, size_t k,
                      bool *use, struct track_fit *f)
{
    size_t params = k ? 3 : 2;
    size_t drop = n;
    struct track_fit g;

    for (size_t i = 0; i < n; i++)
        use[i] = true;
    if (fit_track(t, y, use, n, k, f) < 0)
        return -1;
    double best = per_dof(f, params) / 4;
    for (size_t j = 0; n >= params + 3 && j < n; j++) {
        use[j] = false;
        if (fit_track(t, y, use, n, k, &g) == 0 && per_dof(&g, params) < best) {
            best = per_dof(&g, params);
            drop = j;
        }
        use[j] = true;
    }
    if (drop == n)
        return 0;
    use[drop] = false;
    return fit_track(t, y, use, n, k, f);
}

/* Drift, standard error and the t test from a fit with `params`
 * parameters. A point left out by fit_robust costs one more degree of
 * freedom (the fit chose it), which keeps the test honest. */
static void set_drift(const struct track_fit *f, size_t params, size_t n,
                      struct cg_drift *out)
{
    size_t dof = f->used > params ? f->used - params : 0;

    if (f->used < n && dof > 1)
        dof--;
    out->fitted = true;
    out->ppm = f->b * 1e-3; /* ns/s -> ppm */
    if (dof == 0) {
        out->se_ppm = INFINITY;
        out->significant = false;
        return;
    }
    double var = f->sse / (double)dof * f->var_b;
    out->se_ppm = sqrt(var > 0 ? var : 0) * 1e-3;
    double tq = gsl_cdf_tdist_Qinv(DRIFT_ALPHA / 2, (double)dof);
    out->significant =
        fabs(out->ppm) > tq * out->se_ppm && fabs(out->ppm) > MIN_DRIFT_PPM;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_dbl);
    return (v[(n - 1) / 2] + v[n / 2]) / 2;
}

/* The track's noise, robust to one step and to a drift: the median
 * absolute deviation of successive differences, as a standard deviation
 * of one point. A step fit on few points explains noise too well; its
 * size must also stand out from this. */
static double track_noise_ns(const double *y, size_t n)
{
    double d[64], a[64];
    size_t m = 0;

    for (size_t i = 0; i + 1 < n && m < 64; i++)
        d[m++] = y[i + 1] - y[i];
    if (m < 2)
        return 0;
    for (size_t i = 0; i < m; i++)
        a[i] = d[i];
    double mid = median(a, m);
    for (size_t i = 0; i < m; i++)
        a[i] = fabs(d[i] - mid);
    return 1.4826 * median(a, m) / sqrt(2.0);
}

void cg_track_fit(const double *t_s, const double *y_ns, size_t n,
                  bool allow_step, bool *use, struct cg_drift *out)
{
    struct track_fit line, step, best = {0};
    size_t best_k = 0;

    memset(out, 0, sizeof(*out));
    if (n < 3 || fit_robust(t_s, y_ns, n, 0, use, &line) < 0)
        return;
    for (size_t k = 2; allow_step && n >= MIN_STEP_POINTS && k + 2 <= n; k++) {
        if (fit_robust(t_s, y_ns, n, k, use, &step) == 0 &&
            (!best_k || per_dof(&step, 3) < per_dof(&best, 3))) {
            best = step;
            best_k = k;
        }
    }
    if (best_k && per_dof(&best, 3) * 16 < per_dof(&line, 2) &&
        fabs(best.s) > MIN_STEP_NS &&
        fabs(best.s) > 6 * sqrt(per_dof(&best, 3)) &&
        fabs(best.s) > 6 * track_noise_ns(y_ns, n)) {
        out->has_step = true;
        out->step_ns = best.s;
        out->step_point = best_k;
        set_drift(&best, 3, n, out);
        return;
    }
    /* use[] must describe the line fit again */
    fit_robust(t_s, y_ns, n, 0, use, &line);
    set_drift(&line, 2, n, out);
}
