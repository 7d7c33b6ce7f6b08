/* bench_util: what the bench programs share: a monotonic clock in seconds
 * and a comparator for sorting timings (medians, percentiles). */
#ifndef SKEWSCOPE_BENCH_UTIL_H
#define SKEWSCOPE_BENCH_UTIL_H

#include <time.h>

#include "util/clock.h"

static inline double now_s(void)
{
    return (double)clock_now_ns(CLOCK_MONOTONIC) / 1e9;
}

/* qsort comparator for doubles, ascending. */
static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

#endif
