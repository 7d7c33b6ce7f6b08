/* log: level-filtered messages on stderr. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

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
