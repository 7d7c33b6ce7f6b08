/* descriptive: NaN-aware descriptive and robust statistics of one series
 * (means, spreads, quantiles, MAD), the scalers RCAEval's NSigma and BARO
 * use (scikit-learn 1.2's StandardScaler and RobustScaler), z-scores and
 * first differences. Leaf numerics: no I/O, no threads.
 *
 * NaN convention: every function here ignores NaN inputs (numpy's nan*
 * functions); a statistic over no finite value is NaN (or STATS_E_INVAL
 * where the function returns a status). Transforms map NaN to NaN.
 * Quantiles use numpy's default "linear" interpolation (Hyndman-Fan type 7):
 * position h = (m - 1) q over the m sorted finite values. */
#ifndef SKEWSCOPE_STATS_DESCRIPTIVE_H
#define SKEWSCOPE_STATS_DESCRIPTIVE_H

#include <stdbool.h>
#include <stddef.h>

/* Mean of the finite values; NaN when there is none. */
double stats_mean(const double *x, size_t n);

/* Standard deviation of the finite values with ddof degrees of freedom
 * removed (0: population, numpy's default; 1: sample, pandas' default).
 * NaN when fewer than ddof + 1 finite values. */
double stats_std(const double *x, size_t n, unsigned ddof);

/* The q-quantile (0 <= q <= 1) of the finite values into *out.
 * Returns 0, -STATS_E_INVAL (q out of range, no finite value) or
 * -STATS_E_NOMEM. */
int stats_quantile(const double *x, size_t n, double q, double *out);

/* Median (the 0.5-quantile); NaN when no finite value or no memory. */
double stats_median(const double *x, size_t n);

/* Median absolute deviation from the median, unscaled
 * (median |x - median(x)|); NaN when no finite value. */
double stats_mad(const double *x, size_t n);

/* Robust z-scores: out[i] = (x[i] - median) / (1.4826 * MAD), so that they
 * match ordinary z-scores on Gaussian data. When MAD is 0 the mean absolute
 * deviation times 1.2533 stands in (Iglewicz and Hoaglin); when that is 0
 * too every finite output is 0. out may equal x. Returns 0 or a negated
 * status. */
int stats_mad_zscore(const double *x, size_t n, double *out);

/* A fitted affine scaler: transform(x) = (x - center) / scale. */
struct stats_scaler {
    double center;
    double scale; /* never 0: a zero spread becomes 1, as scikit-learn does */
};

/* StandardScaler.fit: center = mean, scale = population std (ddof 0);
 * a scale below 10 * DBL_EPSILON becomes 1. -STATS_E_INVAL without a
 * finite value. */
int stats_standard_scaler_fit(const double *x, size_t n,
                              struct stats_scaler *out);

/* RobustScaler.fit with quantile_range (q_lo, q_hi) in percent (scikit-learn's
 * default is 25, 75): center = median, scale = quantile(q_hi) -
 * quantile(q_lo); a scale below 10 * DBL_EPSILON becomes 1. */
int stats_robust_scaler_fit(const double *x, size_t n, double q_lo_pct,
                            double q_hi_pct, struct stats_scaler *out);

/* out[i] = (x[i] - s->center) / s->scale; out may equal x. */
void stats_scaler_transform(const struct stats_scaler *s, const double *x,
                            size_t n, double *out);

/* z-scores against the series' own mean and population std
 * (StandardScaler fit and transform on x). */
int stats_zscore(const double *x, size_t n, double *out);

/* First differences: out[i] = x[i + 1] - x[i] for i < n - 1 (n - 1 values;
 * nothing when n < 2). NaN propagates. */
void stats_diff(const double *x, size_t n, double *out);

/* True when every finite value equals the first finite one (or there is
 * none): the columns RCAEval's preprocessing drops. */
bool stats_is_constant(const double *x, size_t n);

/* Maximum of the finite values; NaN when there is none. */
double stats_max(const double *x, size_t n);

#endif
