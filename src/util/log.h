/* log: the one logging module. Messages go to stderr with a level prefix.
 * The level is tested before the arguments are evaluated; log_ratelimited()
 * is for per-span paths and prints at most `burst` messages per call site.
 * log_event() writes the structured form (one JSON object per line) that
 * serve's warnings, violations and summaries use. Any thread may call
 * anything here (stdio locks each line). */
#ifndef SKEWSCOPE_LOG_H
#define SKEWSCOPE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern enum log_level log_threshold;

void log_set_level(enum log_level level);
void log_emit(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One JSON line on stderr, flushed:
 *   {"ts":"2026-03-02T10:00:01.250000Z","level":"warn","event":"x",FIELDS}
 * ts is CLOCK_REALTIME in UTC (util/clock.h's format); level and event
 * are written as given (plain words); fields_fmt formats the members after
 * "event", without a leading comma ("" for none), and its string values
 * must already be escaped (util/json_esc.h). Written whatever the
 * threshold: these lines are a service's output, not diagnostics. */
void log_event(const char *level, const char *event, const char *fields_fmt,
               ...) __attribute__((format(printf, 3, 4)));
void log_vevent(const char *level, const char *event, const char *fields_fmt,
                va_list ap) __attribute__((format(printf, 3, 0)));

#define LOG_AT(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= log_threshold)                                          \
            log_emit((level), __VA_ARGS__);                                    \
    } while (0)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

/* Print at most `burst` times from this call site, then once a summary line
 * saying further messages are suppressed. Safe from any thread: the call
 * site's counter is atomic, so concurrent callers print at most `burst`
 * messages and one summary between them. */
#define log_ratelimited(level, burst, ...)                                     \
    do {                                                                       \
        static _Atomic unsigned log_rl_count_;                                 \
        if ((level) <= log_threshold) {                                        \
            unsigned log_rl_n_ = atomic_fetch_add_explicit(                    \
                &log_rl_count_, 1u, memory_order_relaxed);                     \
            if (log_rl_n_ < (unsigned)(burst))                                 \
                log_emit((level), __VA_ARGS__);                                \
            else if (log_rl_n_ == (unsigned)(burst))                           \
                log_emit((level), "further messages of this kind suppressed"); \
        }                                                                      \
    } while (0)

#endif
