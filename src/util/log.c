/* log: level-filtered messages and structured JSON event lines on stderr. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/clock.h"

enum log_level log_threshold = LOG_WARN;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

void log_emit(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "skewscope: %s: ", level_names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void log_vevent(const char *level, const char *event, const char *fields_fmt,
                va_list ap)
{
    char buf[1024], ts[40], *fields = buf;
    va_list again;
    int n;

    clock_format_utc(clock_now_ns(CLOCK_REALTIME), ts, sizeof ts);
    va_copy(again, ap);
    n = vsnprintf(buf, sizeof(buf), fields_fmt, ap);
    /* a long line (an imbalance finding with its evidence, causes and
     * mitigations) is written whole, never cut into invalid JSON */
    if (n >= (int)sizeof(buf) && (fields = malloc((size_t)n + 1)))
        vsnprintf(fields, (size_t)n + 1, fields_fmt, again);
    else if (n >= (int)sizeof(buf) || n < 0)
        (fields = buf)[0] = '\0';
    va_end(again);
    fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"%s%s}\n",
            ts, level, event, fields[0] ? "," : "", fields);
    fflush(stderr);
    if (fields != buf)
        free(fields);
}

void log_event(const char *level, const char *event, const char *fields_fmt,
               ...)
{
    va_list ap;

    va_start(ap, fields_fmt);
    log_vevent(level, event, fields_fmt, ap);
    va_end(ap);
}
