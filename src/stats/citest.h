/* citest: conditional independence tests over a column-major data matrix,
 * the ones RCAEval's graph builders call through causal-learn 0.1.3.3:
 *
 *   fisherz  Fisher's z on the partial correlation (causal-learn
 *            cit.FisherZ): one correlation matrix (numpy.corrcoef) is
 *            computed at creation and reused by every test, so a test costs a
 *            (|S|+2)-sized Cholesky factorisation and no pass over the data.
 *   chisq,   Pearson's chi-square and the G-square likelihood-ratio test on
 *   gsq      discrete data (cit.Chisq_or_Gsq): each column recoded to
 *            0..k-1 by its sorted distinct values, a count table per
 *            configuration of S that occurs, degrees of freedom reduced for
 *            empty rows and columns of each table, p = chi2.sf.
 *
 * and the discretiser RCD applies first (scikit-learn 1.2's
 * KBinsDiscretizer(n_bins, encode="ordinal", strategy="kmeans")).
 *
 * Data: x is column-major, column j at x + j * rows. NaN and infinities are
 * rejected (causal-learn asserts the same). A test object is read-only
 * after creation except for its scratch space: one object per thread.
 * p-values are in [0, 1]; "independent at alpha" means p > alpha, as
 * causal-learn decides. */
#ifndef SKEWSCOPE_STATS_CITEST_H
#define SKEWSCOPE_STATS_CITEST_H

#include <stdbool.h>
#include <stddef.h>

/* numpy.corrcoef of the columns into corr (cols x cols, row-major, values
 * clipped to [-1, 1]); a constant column gives NaN rows, as numpy does.
 * Returns 0 or -STATS_E_INVAL / -STATS_E_NOMEM. */
int stats_corrcoef(const double *x, size_t rows, size_t cols, double *corr);

struct stats_fisherz;

/* Computes and keeps the correlation matrix of x (x itself is not kept).
 * NULL on non-finite data, rows < 4, a constant column, or no memory. */
struct stats_fisherz *stats_fisherz_create(const double *x, size_t rows,
                                           size_t cols);
/* Same from a precomputed correlation matrix (copied) and sample size. */
struct stats_fisherz *stats_fisherz_from_corr(const double *corr, size_t cols,
                                              size_t rows);
void stats_fisherz_destroy(struct stats_fisherz *t);
size_t stats_fisherz_vars(const struct stats_fisherz *t);
const double *stats_fisherz_corr(const struct stats_fisherz *t);

/* p-value of "x independent of y given the columns s[0..k-1]" and,
 * optionally, the partial correlation r. x != y, neither in s. The partial
 * correlation comes from a Cholesky factorisation of the correlation
 * submatrix; when that matrix is singular the Moore-Penrose pseudo-inverse
 * stands in (causal-learn's numpy.linalg.inv raises there instead). |r| >= 1
 * is pulled to 1 - DBL_EPSILON, as causal-learn >= 0.1.3.4 does.
 * p = 2 Q(sqrt(rows - k - 3) |atanh r|), Q the standard normal upper tail.
 * Returns 0, -STATS_E_INVAL (bad indices, rows - k - 3 <= 0) or
 * -STATS_E_NOMEM. Counts every call in stats_fisherz_tests(). */
int stats_fisherz_test(struct stats_fisherz *t, size_t x, size_t y,
                       const size_t *s, size_t k, double *p, double *r);
unsigned long stats_fisherz_tests(const struct stats_fisherz *t);

/* Discrete tests. */
enum stats_disc_stat { STATS_CHISQ = 0, STATS_GSQ = 1 };

struct stats_disc;

/* Recode each column of x (finite values, any doubles) to 0..k-1 by its
 * sorted distinct values and keep the codes. NULL on bad input / memory. */
struct stats_disc *stats_disc_create(const double *x, size_t rows, size_t cols,
                                     enum stats_disc_stat stat);
void stats_disc_destroy(struct stats_disc *t);
/* Cardinality (number of distinct values) of column j. */
size_t stats_disc_card(const struct stats_disc *t, size_t j);

/* p-value of "x independent of y given s[0..k-1]" and optionally the
 * statistic and its degrees of freedom (p = 1 when df = 0). Returns 0 or a
 * negated status. */
int stats_disc_test(struct stats_disc *t, size_t x, size_t y, const size_t *s,
                    size_t k, double *p, double *stat, double *df);

/* KBinsDiscretizer(n_bins, encode="ordinal", strategy="kmeans") fit and
 * transform of one column: Lloyd's 1-D k-means from the midpoints of n_bins
 * uniform bins (max 300 iterations, tolerance 1e-4 times the variance,
 * strict convergence on unchanged labels), bin edges halfway between sorted
 * centres, bins of width <= 1e-8 removed, then each value's bin by
 * searchsorted(side="right") on the inner edges. A constant column gets one
 * bin (all 0). out[i] in 0..bins-1; *bins_out (optional) gets the number of
 * bins kept. Returns 0 or a negated status (NaN input: -STATS_E_INVAL). */
int stats_kbins_kmeans(const double *x, size_t n, unsigned n_bins, int *out,
                       unsigned *bins_out);

/* The conditioning sets the constraint-based searches (PC's skeleton,
 * FCI, RCD) enumerate: the next k-combination c[0..k) of 0..m-1 in
 * lexicographic order (start from {0, 1, .., k-1}). Returns false, c
 * unchanged, after the last one. */
bool stats_comb_next(size_t *c, size_t k, size_t m);

#endif
