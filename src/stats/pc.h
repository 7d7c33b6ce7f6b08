/* pc: the PC algorithm as RCAEval calls causal-learn 0.1.3.3's pc(data)
 * with its defaults: Fisher-z at alpha 0.05, the stable skeleton
 * (skeleton.h), unshielded colliders by sepset (uc_rule 0) with
 * uc_priority 2 ("prioritise existing colliders": x -> y <- z is oriented
 * unless y -> x or y -> z is already there), then Meek's rules 1-3 until
 * nothing changes. Triples, triangles and kites are enumerated once, in
 * causal-learn's order, before the rules run.
 *
 * One departure: causal-learn guards each Meek orientation with an
 * incrementally kept ancestor table that can miss indirect ancestors;
 * here the guard is exact reachability over directed edges. The two agree
 * unless an orientation would close a directed cycle.
 *
 * Output: marks (cgraph.h) in a caller-owned n x n array. No I/O. */
#ifndef SKEWSCOPE_STATS_PC_H
#define SKEWSCOPE_STATS_PC_H

#include <stddef.h>

#include "stats/skeleton.h"

struct stats_pc_opts {
    struct stats_skeleton_opts skeleton; /* alpha 0.05, stable, unlimited */
};

struct stats_pc_info {
    unsigned long tests; /* CI tests run */
    size_t edges;        /* adjacencies in the result */
    size_t colliders;    /* unshielded colliders oriented */
    int depth;           /* deepest conditioning size tried */
};

/* PC over n variables with any CI test. marks: n x n, caller-owned.
 * info may be NULL. Returns 0 or a negated status. */
int stats_pc_run(size_t n, stats_ci_fn ci, void *ctx,
                 const struct stats_pc_opts *opts, signed char *marks,
                 struct stats_pc_info *info);

/* PC on a column-major data matrix with Fisher-z (RCAEval's pc_default):
 * builds the correlation once. Non-finite data or a constant column:
 * -STATS_E_INVAL. */
int stats_pc_fisherz(const double *x, size_t rows, size_t cols,
                     const struct stats_pc_opts *opts, signed char *marks,
                     struct stats_pc_info *info);

/* The orientation phase alone, on a skeleton: exposed for tests and for
 * builders that bring their own adjacency search. */
int stats_pc_orient(const struct stats_skeleton *sk, signed char *marks,
                    size_t *colliders);

#endif
