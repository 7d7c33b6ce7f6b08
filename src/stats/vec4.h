/* vec4: four doubles side by side for the numeric kernels (FastICA's
 * products and tanh, BOCPD's hypotheses), with GCC's generic vectors. On
 * x86-64 with GCC a kernel marked STATS_KERN is built twice, for AVX2 and
 * for the baseline, and the loader picks one (target_clones); elsewhere,
 * and under AddressSanitizer, the baseline only. The project builds with
 * -std=c11, where GCC contracts no a * b + c into an FMA: a vector lane
 * computes what the scalar code would.
 *
 * Internal to src/stats. */
#ifndef SKEWSCOPE_STATS_VEC4_H
#define SKEWSCOPE_STATS_VEC4_H

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    !defined(__SANITIZE_ADDRESS__)
#define STATS_KERN __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define STATS_KERN
#endif

typedef double v4d __attribute__((vector_size(32), aligned(8)));

/* Unaligned vector load and store (macros: a function returning a 32-byte
 * vector would change the baseline ABI). */
#define V4_LOAD(v, ptr) memcpy(&(v), (ptr), sizeof(v4d))
#define V4_STORE(ptr, v) memcpy((ptr), &(v), sizeof(v4d))

#endif
