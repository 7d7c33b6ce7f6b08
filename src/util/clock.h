/* clock: reading a clock in nanoseconds, and absolute deadlines for
 * pthread_cond_timedwait (whose clock is CLOCK_REALTIME unless the
 * condition variable was set up otherwise). Header-only. */
#ifndef SKEWSCOPE_CLOCK_H
#define SKEWSCOPE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* clk's time in ns (CLOCK_MONOTONIC: since an arbitrary start). */
static inline int64_t clock_now_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The instant `after_ns` (>= 0) from now on clk, as a timespec. */
static inline struct timespec clock_deadline(clockid_t clk, int64_t after_ns)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    ts.tv_sec += (time_t)(after_ns / 1000000000);
    ts.tv_nsec += (long)(after_ns % 1000000000);
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

#endif
