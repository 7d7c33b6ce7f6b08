/* units: time unit conversions shared by the microsecond formats (Jaeger,
 * Zipkin). */
#ifndef SKEWSCOPE_UNITS_H
#define SKEWSCOPE_UNITS_H

#include <stdint.h>

/* floor(ns / 1000) for any sign: microseconds that keep the order of any
 * two timestamps (rounding towards zero would not, before 1970). */
static inline int64_t units_floor_us(int64_t ns)
{
    int64_t q = ns / 1000;

    return ns % 1000 < 0 ? q - 1 : q;
}

#endif
