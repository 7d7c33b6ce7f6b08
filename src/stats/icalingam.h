/* icalingam: ICA-LiNGAM as RCAEval's lingam_pagerank and lingam_randomwalk
 * call it (causal-learn 0.1.3.3's ICALiNGAM(), a copy of cdt15/lingam's):
 *
 *   1. FastICA as scikit-learn runs it for ICALiNGAM (FastICA(max_iter=
 *      1000), defaults otherwise): centre, whiten (here: each column scaled
 *      to unit variance first, then the eigenvectors of the correlation
 *      matrix, each column's sign making its first entry positive as
 *      sklearn's u *= sign(u[0]); sklearn takes the SVD of the raw centred
 *      data: the whitened data differs by a rotation, which the random
 *      start absorbs, and the scaling keeps metrics in bytes next to ratios
 *      within double precision), then the parallel fixed-point iteration with
 *      g = tanh (logcosh, alpha 1) and symmetric decorrelation
 *      (W W^T)^(-1/2) W, until max_i | |<w1_i, w_i>| - 1 | < tol (1e-4) or
 *      max_iter steps. The start W0 is a p x p standard-normal draw from
 *      a generator seeded by the caller (sklearn draws it from numpy's
 *      global generator, which RCAEval never seeds: its graphs are not
 *      reproducible; ours are, per seed). components = W K.
 *   2. The row permutation of W that minimises sum 1/|W[i][perm(i)]|
 *      (scipy's linear_sum_assignment: a Hungarian algorithm here), each
 *      row scaled by its diagonal, B = I - W.
 *   3. lingam's causal order: zero the p(p+1)/2 smallest |B| entries, then
 *      zero further entries in increasing |B| until the non-zero pattern is
 *      a DAG (at least one more, as lingam 0.1.3.3's loop zeroes before it
 *      tests); the order repeatedly takes the lowest index whose remaining
 *      row is all zero. The number of entries zeroed is found by bisection
 *      (the pattern stays acyclic as entries are removed), not one by one.
 *   4. The adjacency: the adaptive lasso of each variable on its
 *      predecessors (lingam.h, stats_lingam_adjacency()).
 * RCAEval reads an edge wherever B is non-zero (j -> i for B[i][j]).
 *
 * Departure: a singular value below 1e-13 of the largest (a column that is
 * a linear combination of others) is raised to that floor before the
 * whitening divides by it; sklearn divides by whatever is there.
 *
 * Data column-major and finite; no I/O, no threads. */
#ifndef SKEWSCOPE_STATS_ICALINGAM_H
#define SKEWSCOPE_STATS_ICALINGAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stats_fastica_opts {
    unsigned max_iter; /* 0 means ICALiNGAM's 1000 */
    double tol;        /* 0 means 1e-4 */
    uint64_t seed;     /* the start W0 */
};

struct stats_fastica_info {
    unsigned iters; /* fixed-point steps taken */
    bool converged; /* false: max_iter reached (sklearn warns) */
};

/* FastICA of the columns of x (rows x cols, column-major): components
 * (cols x cols, row-major, caller-owned) gets sklearn's components_ (the
 * unmixing matrix W K of the centred data). info may be NULL. Returns 0,
 * -STATS_E_INVAL (rows < 2, cols == 0, non-finite data) or
 * -STATS_E_NOMEM. Not converging is not an error. */
int stats_fastica(const double *x, size_t rows, size_t cols,
                  const struct stats_fastica_opts *opts, double *components,
                  struct stats_fastica_info *info);

/* scipy.optimize.linear_sum_assignment on a square n x n cost matrix
 * (row-major): col_of_row[i] gets the column assigned to row i in an
 * assignment of least total cost. +Inf entries are allowed as long as
 * some assignment avoids them. Returns 0, -STATS_E_INVAL (NaN, -Inf, or no
 * finite assignment) or -STATS_E_NOMEM. O(n^3). */
int stats_lsa_min(const double *cost, size_t n, size_t *col_of_row);

/* ICALiNGAM on x: order (cols, caller-owned) the causal order, first =
 * most exogenous; B (optional, cols x cols) the adjacency coefficients,
 * B[i*cols + j] the effect of j on i; adj (optional) 1 where B != 0
 * (RCAEval's 0/1 convention, cgraph.h); info (optional) FastICA's
 * iterations. Returns 0 or a negated status (-STATS_E_INVAL for rows <=
 * cols, non-finite data or a constant column). */
int stats_ica_lingam(const double *x, size_t rows, size_t cols,
                     const struct stats_fastica_opts *opts, size_t *order,
                     double *B, unsigned char *adj,
                     struct stats_fastica_info *info);

#endif
