/* descriptive: NaN-aware means, spreads, quantiles and scalers (see
 * descriptive.h for the conventions and the library semantics matched). */
#include "stats/descriptive.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats_status.h"

#define MAD_TO_SIGMA 1.482602218505602  /* 1 / Phi^-1(3/4) */
#define MEANAD_TO_SIGMA 1.2533141373155 /* sqrt(pi / 2) */

double stats_mean(const double *x, size_t n)
{
    double sum = 0.0;
    size_t m = 0;

    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) {
            sum += x[i];
            m++;
        }
    return m ? sum / (double)m : NAN;
}

double stats_std(const double *x, size_t n, unsigned ddof)
{
    double mean = stats_mean(x, n), ss = 0.0;
    size_t m = 0;

    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) {
            double d = x[i] - mean;
            ss += d * d;
            m++;
        }
    if (m <= ddof)
        return NAN;
    return sqrt(ss / (double)(m - ddof));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Copy the finite values of x into a new sorted array; *m gets their count. */
static double *sorted_finite(const double *x, size_t n, size_t *m)
{
    double *s = malloc((n ? n : 1) * sizeof(double));

    if (!s)
        return NULL;
    *m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]))
            s[(*m)++] = x[i];
    qsort(s, *m, sizeof(double), cmp_double);
    return s;
}

static double quantile_sorted(const double *s, size_t m, double q)
{
    double h = (double)(m - 1) * q;
    size_t lo = (size_t)floor(h);

    if (lo + 1 >= m)
        return s[m - 1];
    return s[lo] + (h - (double)lo) * (s[lo + 1] - s[lo]);
}

int stats_quantile(const double *x, size_t n, double q, double *out)
{
    size_t m;
    double *s;

    if (!(q >= 0.0 && q <= 1.0))
        return -STATS_E_INVAL;
    s = sorted_finite(x, n, &m);
    if (!s)
        return -STATS_E_NOMEM;
    if (m == 0) {
        free(s);
        return -STATS_E_INVAL;
    }
    *out = quantile_sorted(s, m, q);
    free(s);
    return 0;
}

double stats_median(const double *x, size_t n)
{
    double med;

    return stats_quantile(x, n, 0.5, &med) < 0 ? NAN : med;
}

double stats_mad(const double *x, size_t n)
{
    double med = stats_median(x, n), mad;
    double *dev;

    if (isnan(med))
        return NAN;
    dev = malloc(n * sizeof(double));
    if (!dev)
        return NAN;
    for (size_t i = 0; i < n; i++)
        dev[i] = fabs(x[i] - med); /* NaN stays NaN and is skipped */
    mad = stats_median(dev, n);
    free(dev);
    return mad;
}

int stats_mad_zscore(const double *x, size_t n, double *out)
{
    double med = stats_median(x, n), mad = stats_mad(x, n), scale;

    if (isnan(med) || isnan(mad))
        return -STATS_E_INVAL;
    scale = MAD_TO_SIGMA * mad;
    if (scale == 0.0) {
        double sum = 0.0;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!isnan(x[i])) {
                sum += fabs(x[i] - med);
                m++;
            }
        scale = MEANAD_TO_SIGMA * sum / (double)m;
    }
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            out[i] = NAN;
        else
            out[i] = scale > 0.0 ? (x[i] - med) / scale : 0.0;
    }
    return 0;
}

/* scikit-learn's _handle_zeros_in_scale. */
static double nonzero_scale(double s)
{
    return s < 10.0 * DBL_EPSILON ? 1.0 : s;
}

int stats_standard_scaler_fit(const double *x, size_t n,
                              struct stats_scaler *out)
{
    double mean = stats_mean(x, n);

    if (isnan(mean))
        return -STATS_E_INVAL;
    out->center = mean;
    out->scale = nonzero_scale(stats_std(x, n, 0));
    return 0;
}

int stats_robust_scaler_fit(const double *x, size_t n, double q_lo_pct,
                            double q_hi_pct, struct stats_scaler *out)
{
    size_t m;
    double *s;

    if (!(q_lo_pct >= 0.0 && q_lo_pct <= q_hi_pct && q_hi_pct <= 100.0))
        return -STATS_E_INVAL;
    s = sorted_finite(x, n, &m);
    if (!s)
        return -STATS_E_NOMEM;
    if (m == 0) {
        free(s);
        return -STATS_E_INVAL;
    }
    out->center = quantile_sorted(s, m, 0.5);
    out->scale = nonzero_scale(quantile_sorted(s, m, q_hi_pct / 100.0) -
                               quantile_sorted(s, m, q_lo_pct / 100.0));
    free(s);
    return 0;
}

void stats_scaler_transform(const struct stats_scaler *s, const double *x,
                            size_t n, double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (x[i] - s->center) / s->scale;
}

int stats_zscore(const double *x, size_t n, double *out)
{
    struct stats_scaler s;
    int rc = stats_standard_scaler_fit(x, n, &s);

    if (rc < 0)
        return rc;
    stats_scaler_transform(&s, x, n, out);
    return 0;
}

void stats_diff(const double *x, size_t n, double *out)
{
    for (size_t i = 0; i + 1 < n; i++)
        out[i] = x[i + 1] - x[i];
}

bool stats_is_constant(const double *x, size_t n)
{
    size_t i = 0;

    while (i < n && isnan(x[i]))
        i++;
    for (size_t j = i + 1; j < n; j++)
        if (!isnan(x[j]) && x[j] != x[i])
            return false;
    return true;
}

double stats_max(const double *x, size_t n)
{
    double m = NAN;

    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]) && (isnan(m) || x[i] > m))
            m = x[i];
    return m;
}
