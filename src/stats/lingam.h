/* lingam: DirectLiNGAM as causal-learn 0.1.3.3 ships it (a copy of
 * cdt15/lingam's, measure "pwling", no prior knowledge), the builder of
 * RCAEval's micro_diag method:
 *   causal order  repeatedly pick, among the remaining variables, the one
 *                 maximising -sum_j min(0, dMI(i, j))^2, where dMI is the
 *                 pairwise likelihood-ratio measure of Hyvarinen and Smith
 *                 from maximum-entropy entropy approximations on
 *                 standardised data; then regress it out of the others.
 *                 lingam's residual uses cov (ddof 1) / var (ddof 0); kept.
 *   adjacency     each variable on its predecessors in the order by the
 *                 adaptive lasso (regress.h: OLS weights, BIC LARS-lasso).
 * RCAEval reads an edge wherever the coefficient is non-zero
 * (adj.astype(bool)).
 *
 * ICALiNGAM, which RCAEval's lingam_pagerank and lingam_randomwalk call,
 * is in icalingam.h; it shares the adjacency step below.
 * Data column-major, finite. No I/O, no threads. */
#ifndef SKEWSCOPE_STATS_LINGAM_H
#define SKEWSCOPE_STATS_LINGAM_H

#include <stddef.h>

/* order: cols indices (caller-owned), the causal order, first = most
 * exogenous. B (optional, cols x cols row-major): B[i*cols + j] the effect
 * of j on i. adj (optional): adj[i*cols + j] = 1 when B[i][j] != 0 (j -> i,
 * RCAEval's 0/1 convention, cgraph.h). Returns 0 or a negated status
 * (-STATS_E_INVAL for a constant column or rows <= cols + 1). */
int stats_direct_lingam(const double *x, size_t rows, size_t cols,
                        size_t *order, double *B, unsigned char *adj);

/* lingam's _estimate_adjacency_matrix: for i = 1..cols-1, column order[i]
 * on the columns order[0..i) by the adaptive lasso (regress.h, gamma 1);
 * B (cols x cols row-major, caller-owned, zeroed here) gets B[target *
 * cols + predictor]. Returns 0 or a negated status (-STATS_E_INVAL when
 * rows <= cols). */
int stats_lingam_adjacency(const double *x, size_t rows, size_t cols,
                           const size_t *order, double *B);

#endif
