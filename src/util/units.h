/* units: time unit conversions shared by the microsecond formats (Jaeger,
 * Zipkin), and the one parser of a drift rate written in ppm (every
 * command's --drift: simulate, inject, testbed, experiment). */
#ifndef SKEWSCOPE_UNITS_H
#define SKEWSCOPE_UNITS_H

#include <stdint.h>

/* "40", "40ppm", "-2.5ppm": a finite rate in parts per million (+ = the
 * clock runs fast) with |value| <= max_abs. Returns 0 with *ppm set, or -1
 * (leaving *ppm alone) on anything else. */
int units_parse_ppm(const char *v, double max_abs, double *ppm);

/* floor(ns / 1000) for any sign: microseconds that keep the order of any
 * two timestamps (rounding towards zero would not, before 1970). */
static inline int64_t units_floor_us(int64_t ns)
{
    int64_t q = ns / 1000;

    return ns % 1000 < 0 ? q - 1 : q;
}

#endif
