/* randwalk: the random-walk graph heads, deterministic for a given seed.
 *
 * A small PRNG (xoshiro256**, seeded through splitmix64) is passed in by
 * the caller; the same seed gives the same walk on every platform. Choices
 * follow numpy's Generator.choice(p=...): cumulative sums normalised by
 * their total and a uniform u in [0, 1), the first index whose cumulative
 * share exceeds u. numpy's own stream is not reproduced, so visit counts
 * match RCAEval's in distribution, not draw for draw.
 *
 * Transition matrices are row-major, P[from*n + to], rows summing to 1 (or
 * 0 for a dead end). */
#ifndef SKEWSCOPE_STATS_RANDWALK_H
#define SKEWSCOPE_STATS_RANDWALK_H

#include <stddef.h>
#include <stdint.h>

struct stats_rng {
    uint64_t s[4];
};

void stats_rng_seed(struct stats_rng *r, uint64_t seed);
uint64_t stats_rng_next(struct stats_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double stats_rng_u01(struct stats_rng *r);
/* Index drawn with probabilities p[0..n-1] (any non-negative weights with a
 * positive sum); n when the sum is 0. */
size_t stats_rng_choice(struct stats_rng *r, const double *p, size_t n);

/* RCAEval's RandomWalkScorer.generate_transition_matrix (the CIRCA /
 * MicroCause scorer): from a node, a step to each child c (g[node*n+c]) has
 * weight rho |score[c]|, to each parent q (g[q*n+node]) weight |score[q]|
 * (a node both child and parent gets the parent weight), to itself
 * max(|score[node]| - the largest of those, 0); rows are normalised, and a
 * row of zero weight becomes uniform 1/n. With all scores 0, as RCAEval's
 * *_randomwalk methods call it, every row is uniform. g is the graph the
 * walker sees (already reversed: stats_cgraph_randomwalk_input). */
int stats_rw_transition(const unsigned char *g, size_t n, const double *score,
                        double rho, double *P);

/* RandomWalkScorer._walk: one chain of steps moves from start, counting
 * each node it lands on in counts (n, caller-owned, zeroed here). RCAEval's
 * random_walk() uses steps = number of nodes unless n_iter is given, and a
 * random start node. */
int stats_rw_walk(const double *P, size_t n, size_t start, size_t steps,
                  struct stats_rng *rng, double *counts);

/* MicroCause's randomwalk(P, epochs, start, walk_step): epochs walks of up
 * to steps moves, each from start, a walk ending early at a node whose row
 * sums to 0; counts as above. */
int stats_rw_walk_epochs(const double *P, size_t n, size_t start, size_t epochs,
                         size_t steps, struct stats_rng *rng, double *counts);

#endif
