/* skeleton: the adjacency search shared by PC and FCI, as causal-learn
 * 0.1.3.3 runs it (SkeletonDiscovery.skeleton_discovery, and Fas.fas, which
 * is the same loop): start from the complete undirected graph; at depth
 * d = 0, 1, ... while some node has more than d neighbours, test every
 * adjacent x, y against every d-subset S of adj(x) \ {y} (subsets in
 * itertools.combinations order over ascending indices) and drop the edge
 * when p > alpha.
 *   stable    (causal-learn's default) edges found independent are removed
 *             only after the whole depth; testing goes on through every
 *             subset, and the separating set kept for the pair is the union
 *             of every separating S found at that depth from either end.
 *   unstable  the edge is removed at once and the first separating S kept.
 * max_depth limits d (-1: unlimited, causal-learn's PC has no limit).
 *
 * The CI test is a callback, so PC/FCI run on Fisher-z or chi-square alike.
 * No I/O, no threads. */
#ifndef SKEWSCOPE_STATS_SKELETON_H
#define SKEWSCOPE_STATS_SKELETON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* p-value of x independent of y given s[0..k-1]; 0 or a negated status. */
typedef int (*stats_ci_fn)(void *ctx, size_t x, size_t y, const size_t *s,
                           size_t k, double *p);

/* Adapters for citest.h objects (ctx is the test object). */
int stats_ci_fisherz(void *ctx, size_t x, size_t y, const size_t *s, size_t k,
                     double *p);
int stats_ci_disc(void *ctx, size_t x, size_t y, const size_t *s, size_t k,
                  double *p);

struct stats_skeleton {
    size_t n;
    unsigned char *adj;  /* n x n, symmetric, 1 = adjacent */
    uint64_t **sepset;   /* n x n pointers (symmetric, shared), NULL when
                            the pair was never separated; bitset of n bits */
    size_t words;        /* uint64 words per bitset */
    unsigned long tests; /* CI tests run */
    int depth_reached;
};

struct stats_skeleton_opts {
    double alpha;  /* 0 means 0.05 */
    bool unstable; /* false: causal-learn's stable=True */
    int max_depth; /* -1 unlimited */
};

/* Run the search over n variables. On success the caller owns sk and frees
 * it with stats_skeleton_free(). Returns 0 or a negated status (a failing CI
 * test aborts the search and its status is returned). */
int stats_skeleton_run(size_t n, stats_ci_fn ci, void *ctx,
                       const struct stats_skeleton_opts *opts,
                       struct stats_skeleton *sk);
void stats_skeleton_free(struct stats_skeleton *sk);

/* True when v is in the recorded separating set of a and b. */
bool stats_skeleton_sep_has(const struct stats_skeleton *sk, size_t a, size_t b,
                            size_t v);

#endif
