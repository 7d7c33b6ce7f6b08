/* fci: the FCI algorithm as RCAEval calls causal-learn 0.1.3.3's
 * fci(data) (graph_construction/fci.py, fci_default): Fisher-z at alpha
 * 0.05, no depth limit, no background knowledge. The output is a PAG in
 * cgraph.h's marks (tail, arrow, circle), which RCAEval's heads read
 * through stats_cgraph_pagerank_input() (fci_pagerank) or, after
 * numpy.sign, stats_cgraph_randomwalk_input() (fci_randomwalk).
 *
 * The steps, in causal-learn's order and with its choices:
 *   1. FAS: the stable PC adjacency search (skeleton.h); a pair's
 *      separating set is the union of the sets that separated it.
 *   2. Every edge o-o; R0: an unshielded a *-* b *-* c with a separating
 *      set of (a, c) that lacks b becomes a *-> b <-* c (nodes b in index
 *      order, pairs a < c of b's neighbours).
 *   3. Possible-d-sep removal: for each edge a - b (pairs in index order,
 *      a the edge's first node in causal-learn's Edge normalisation),
 *      every subset S of possible-d-sep(a, b), then of possible-d-sep(b,
 *      a), with |S| >= 2 and S inside neither adj(a) nor adj(b), sizes
 *      ascending and each size in lexicographic order over the list sorted
 *      by causal-learn's node names "X1".."Xn" descending as strings, but
 *      never the first subset of a size below the full list (causal-learn's
 *      loop reads DepthChoiceGenerator's list after next() has advanced it
 *      in place); the edge goes at the first independence and S is recorded for
 * the ordered pair (a, b) only (later lookups of (b, a) miss it, as
 *      causal-learn's dict does).
 *      Possible-d-sep(x, y) as causal-learn computes it, including its
 *      search that keeps x as the first node of every queued pair (Tetrad
 *      keeps the last two) and adds a node when one of the nodes it was
 *      reached from has a semi-directed path to x or to it.
 *   4. Every edge o-o again; R0 again with the updated separating sets.
 *   5. Until nothing changes: R1 and R2 over every node's neighbour pairs,
 *      R3 (in causal-learn 0.1.3.3 its adjacency test is inverted, so it
 *      never orients anything; reproduced as a no-op), and, only in a
 *      round where R1-R3 changed something, R4 (discriminating paths,
 *      breadth-first from each a with b *-> a -> c and b o-> c, two CI
 *      tests per candidate path).
 *
 * Departures (docs in the method docs too):
 *   - causal-learn visits the neighbours of x in possible-d-sep in Python
 *     set order, which follows string hashing and changes from process to
 *     process; here index order. Which nodes enter possible-d-sep can
 *     depend on that order, so Python's own FCI is not reproducible run to
 *     run there; everywhere else the steps are deterministic and matched.
 *   - R3's sepset lookup can raise KeyError in causal-learn (the whole
 *     method then fails); here R3 is the no-op it otherwise is.
 *   - Possible-d-sep enumerates 2^k subsets: pdsep_budget bounds the CI
 *     tests of step 3 (default 2,000,000; 0 = unlimited). Once spent, the
 *     remaining edges skip step 3 and info->pdsep_truncated is set.
 *     causal-learn has no bound (it would run for hours there).
 *
 * No I/O, no threads. The CI test is a callback (skeleton.h). */
#ifndef SKEWSCOPE_STATS_FCI_H
#define SKEWSCOPE_STATS_FCI_H

#include <stdbool.h>
#include <stddef.h>

#include "stats/skeleton.h"

struct stats_fci_opts {
    struct stats_skeleton_opts skeleton; /* alpha 0.05, stable, unlimited */
    /* CI tests allowed in the possible-d-sep step, summed over all edges;
     * 0 means the default 2,000,000; (unsigned long)-1 means unlimited. */
    unsigned long pdsep_budget;
};

struct stats_fci_info {
    unsigned long tests;       /* CI tests run, all steps */
    unsigned long pdsep_tests; /* of which in the possible-d-sep step */
    size_t pdsep_removed;      /* edges removed by possible-d-sep */
    size_t pdsep_max;          /* largest possible-d-sep list seen */
    bool pdsep_truncated;      /* the budget ran out */
    size_t edges;              /* adjacencies in the PAG */
    size_t circles;            /* circle marks left in the PAG */
    int depth;                 /* deepest FAS conditioning size */
};

/* FCI over n variables with any CI test. marks: n x n, caller-owned,
 * cgraph.h's encoding (m[a*n + b] the mark at a on edge a - b; 2 = circle).
 * The test's alpha is opts->skeleton.alpha throughout. info may be NULL.
 * Returns 0 or a negated status (a failing CI test aborts the run). */
int stats_fci_run(size_t n, stats_ci_fn ci, void *ctx,
                  const struct stats_fci_opts *opts, signed char *marks,
                  struct stats_fci_info *info);

/* FCI on a column-major data matrix with Fisher-z (RCAEval's fci_default).
 * Non-finite data or a constant column: -STATS_E_INVAL. */
int stats_fci_fisherz(const double *x, size_t rows, size_t cols,
                      const struct stats_fci_opts *opts, signed char *marks,
                      struct stats_fci_info *info);

#endif
