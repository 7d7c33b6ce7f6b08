/* clock: reading a clock in nanoseconds, and absolute deadlines for
 * pthread_cond_timedwait (whose clock is CLOCK_REALTIME unless the
 * condition variable was set up otherwise), and the one format of a wall
 * time in logs. Header-only. Every read of a clock outside src/util goes
 * through these functions. */
#ifndef SKEWSCOPE_CLOCK_H
#define SKEWSCOPE_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* clk's time in ns (CLOCK_MONOTONIC: since an arbitrary start). */
static inline int64_t clock_now_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* clk's time in seconds, for durations measured and printed in seconds. */
static inline double clock_now_s(clockid_t clk)
{
    return (double)clock_now_ns(clk) / 1e9;
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

/* unix_ns (ns since 1970, UTC) as "2026-03-02T10:00:01.250000Z"
 * (microseconds) into buf (at least 32 bytes). Returns buf. */
static inline char *clock_format_utc(int64_t unix_ns, char *buf, size_t len)
{
    time_t sec = (time_t)(unix_ns / 1000000000);
    long us = (long)(unix_ns % 1000000000) / 1000;
    struct tm tm;
    char ts[24];

    if (us < 0) {
        sec--;
        us += 1000000;
    }
    gmtime_r(&sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06ldZ", ts, us);
    return buf;
}

#endif
