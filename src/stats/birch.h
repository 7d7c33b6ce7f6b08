/* birch: scikit-learn 1.2's Birch(threshold, branching_factor,
 * n_clusters=None, compute_labels=True) on one-dimensional data, the
 * anomaly detector of RCAEval's extra methods (MicroRCA, MicroScope,
 * MonitorRank: e2e/extra_methods/utils.py birch_ad_with_smoothing), and
 * that detector itself.
 *
 * Birch inserts the values in order into a CF tree: each value goes to the
 * subcluster whose centroid is nearest (first on ties) and is absorbed when
 * the merged subcluster's radius sqrt(SS/n - centroid^2) stays within the
 * threshold, else it starts a new subcluster. With n_clusters=None every
 * subcluster is a cluster and each value is labelled with its nearest
 * centroid. Exact while the tree has at most branching_factor subclusters
 * (one leaf: no node splits); beyond that the count of subclusters is
 * returned (a node split does not change it, only later insert paths).
 * No I/O, no allocation beyond the call. */
#ifndef SKEWSCOPE_STATS_BIRCH_H
#define SKEWSCOPE_STATS_BIRCH_H

#include <stdbool.h>
#include <stddef.h>

/* Number of distinct labels Birch gives x[0..n) (finite values).
 * Returns 0 with *nlabels set, -STATS_E_INVAL (n == 0, a non-finite value,
 * threshold < 0, branching < 2) or -STATS_E_NOMEM. */
int stats_birch_1d(const double *x, size_t n, double threshold,
                   unsigned branching, size_t *nlabels);

/* RCAEval's birch_ad_with_smoothing for one series: a trailing rolling
 * mean over `window` values (pandas rolling(window, min_periods=1); NaN
 * values skipped, a window of NaN only gives 0), the series scaled to unit
 * Euclidean norm (left as is when the norm is 0), then Birch(threshold,
 * branching_factor 50); *anomalous = more than one cluster. Returns 0 or a
 * negated status. */
int stats_birch_anomalous(const double *x, size_t n, size_t window,
                          double threshold, bool *anomalous);

#endif
