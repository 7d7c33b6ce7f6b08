/* test_rng: the one seeded generator of the tests' and benchmarks' synthetic
 * data (splitmix64), a uniform on (0, 1) and a standard normal draw
 * (Box-Muller). A seed gives the same numbers on every machine, so data
 * generated from it, and the results asserted on it, are reproducible.
 * Header-only; include it from tests and bench programs. */
#ifndef SKEWSCOPE_TEST_RNG_H
#define SKEWSCOPE_TEST_RNG_H

#include <math.h>
#include <stdint.h>

static inline uint64_t test_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform on (0, 1): 53 random bits, centred in their interval. */
static inline double test_rng_u01(uint64_t *s)
{
    return ((double)(test_rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

/* A standard normal draw (Box-Muller, the cosine half). */
static inline double test_rng_normal(uint64_t *s)
{
    double u = test_rng_u01(s), v = test_rng_u01(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#endif
