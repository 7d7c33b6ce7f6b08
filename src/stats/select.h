/* select: quantiles by selection instead of a full sort, for the hot path
 * of RCA scorers (BARO's RobustScaler over every metric of every case).
 * The results are bit for bit those of descriptive.h's stats_quantile()
 * and stats_robust_scaler_fit(): the same order statistics, the same
 * interpolation (numpy's "linear": position h = (m - 1) q over the m
 * non-NaN values), found by quickselect in O(n) on average (a sort takes
 * over when the partitioning degenerates) and without allocating: the
 * caller lends a scratch array of n doubles.
 *
 * Leaf numerics: no I/O, no threads, no global state; reentrant. */
#ifndef SKEWSCOPE_STATS_SELECT_H
#define SKEWSCOPE_STATS_SELECT_H

#include <stddef.h>

struct stats_scaler;

/* out[i] = the q[i]-quantile (0 <= q[i] <= 1) of the non-NaN values of
 * x[0..n), for i < nq (nq <= 8). work: n doubles, caller-owned, clobbered.
 * Returns 0, or -STATS_E_INVAL (a q out of range, nq > 8, or no non-NaN
 * value). */
int stats_quantiles_select(const double *x, size_t n, const double *q,
                           size_t nq, double *work, double *out);

/* stats_robust_scaler_fit() (RobustScaler.fit: centre the median, scale
 * quantile(q_hi) - quantile(q_lo), below 10 * DBL_EPSILON -> 1) through
 * stats_quantiles_select(). work: n doubles. Same returns. */
int stats_robust_scaler_fit_work(const double *x, size_t n, double q_lo_pct,
                                 double q_hi_pct, double *work,
                                 struct stats_scaler *out);

#endif
