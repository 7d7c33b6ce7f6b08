/* changepoint: change-point detection on one series or a matrix of them.
 *
 * BOCPD  Bayesian online change-point detection (Adams and MacKay) as BARO
 *        (FSE'24, phamquiluan/baro, baro/_bocpd.py) runs it: a constant
 *        hazard 1/lambda (BARO: lambda = 50), a multivariate Student-t
 *        predictive from a Normal-Wishart prior (dof = d + 1, kappa = 1,
 *        mean 0, scale matrix I), one hypothesis per run length. maxes[t]
 *        is the most probable run length after t observations (BARO's
 *        R[:, t].argmax(); maxes[rows] stays 0 as in BARO), and a change
 *        point is an index i where the run length jumps by more than 1
 *        (BARO's find_cps). The recursion is kept in log space (BARO
 *        renormalises probabilities; the argmax is the same) and each
 *        hypothesis keeps a Cholesky factor updated by rank one, with its
 *        log determinant (one log1p per update), so a step costs O(t d^2)
 *        instead of BARO's O(t d^3); the hypotheses are stored side by side
 *        (structure of arrays) and a row's work runs across them in
 *        vectors, each hypothesis's arithmetic unchanged.
 * CUSUM  the two-sided tabular CUSUM alarm against a reference window, and
 *        the least-squares single change point (the index maximising
 *        |sum of deviations from the mean|).
 *
 * Series are plain arrays; a matrix is column-major (rows x cols). No I/O. */
#ifndef SKEWSCOPE_STATS_CHANGEPOINT_H
#define SKEWSCOPE_STATS_CHANGEPOINT_H

#include <stddef.h>

struct stats_bocpd_opts {
    double lambda;    /* hazard 1/lambda; 0 means BARO's 50 */
    double log_prune; /* drop run lengths whose log posterior is this far
                         below the best (e.g. 30); 0 keeps all (exact) */
};

/* BOCPD over the d columns of x (rows x d, column-major, finite values).
 * maxes: rows + 1 ints, caller-owned. Returns 0 or a negated status. */
int stats_bocpd(const double *x, size_t rows, size_t d,
                const struct stats_bocpd_opts *opts, int *maxes);

/* BARO's find_cps(maxes): indices i in 1..len-1 with |maxes[i] -
 * maxes[i-1]| > 1, written to cps (caller-owned, up to len - 1); returns
 * their number. */
size_t stats_bocpd_change_points(const int *maxes, size_t len, size_t *cps);

/* BARO's bocpd(data) on a matrix whose columns the caller has already
 * chosen (BARO keeps latency and error columns; the name rules belong to
 * the caller): constant columns dropped, NaN forward-filled then 0, each
 * column min-max normalised, BOCPD with lambda 50; *cp gets the first
 * change point (a row index: BARO splits normal = rows before it). Returns
 * 0, or -STATS_E_INVAL when no column is left or no change point is found
 * (BARO would fail with an IndexError there). */
int stats_bocpd_baro(const double *x, size_t rows, size_t cols,
                     const struct stats_bocpd_opts *opts, size_t *cp);

/* Single-series convenience: the first BARO change point of x alone. */
int stats_bocpd_series(const double *x, size_t n,
                       const struct stats_bocpd_opts *opts, size_t *cp);

/* Tabular CUSUM: mean and std from x[0..ref-1] (NaN ignored), slack
 * k_sigma * sd and threshold h_sigma * sd (classic 0.5 and 5). *alarm gets
 * the first index where either sum exceeds the threshold, *start the index
 * after the last time that sum was 0 (the estimated change start); both n
 * when no alarm. NaN samples are skipped. Returns 0 or -STATS_E_INVAL
 * (ref < 2, zero spread). */
int stats_cusum(const double *x, size_t n, size_t ref, double k_sigma,
                double h_sigma, size_t *alarm, size_t *start);

/* The least-squares single mean-shift point: the k in 1..n-1 maximising
 * |sum_{i<k} (x_i - mean)|, i.e. the first index of the second segment.
 * Requires n >= 2 and finite x. */
int stats_cusum_changepoint(const double *x, size_t n, size_t *k);

#endif
