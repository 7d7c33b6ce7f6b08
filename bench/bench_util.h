/* bench_util: what the bench programs share: the clock (util/clock.h's
 * clock_now_s) and a comparator for sorting timings (medians,
 * percentiles). */
#ifndef SKEWSCOPE_BENCH_UTIL_H
#define SKEWSCOPE_BENCH_UTIL_H

#include <time.h>

#include "util/clock.h"

/* qsort comparator for doubles, ascending. */
static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

#endif
