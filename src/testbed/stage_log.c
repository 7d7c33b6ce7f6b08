/* stage_log: JSON log lines of a testbed stage (stage_log.h), built with
 * jansson and appended with one write(2) each. */
#include "testbed/stage_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

struct stage_log {
    int fd;
    char service[32];
    int rank;
};

struct stage_log *stage_log_open(const char *path, const char *service,
                                 int rank, char *err, size_t errlen)
{
    struct stage_log *l = calloc(1, sizeof *l);

    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd < 0) {
        snprintf(err, errlen, "cannot open log %s: %s", path, strerror(errno));
        free(l);
        return NULL;
    }
    snprintf(l->service, sizeof l->service, "%s", service);
    l->rank = rank;
    return l;
}

void stage_log_close(struct stage_log *l)
{
    if (!l)
        return;
    close(l->fd);
    free(l);
}

static void set_time(json_t *o)
{
    struct timespec now;
    struct tm tm;
    char ts[48], full[96];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(full, sizeof full, "%s.%06ldZ", ts, now.tv_nsec / 1000);
    json_object_set_new(o, "time", json_string(full));
    json_object_set_new(
        o, "timestamp",
        json_integer((json_int_t)now.tv_sec * 1000000000 + now.tv_nsec));
}

void stage_log_event(struct stage_log *l, const char *level, const char *event,
                     long long request, const char *fault, const char *phase,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!l)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    if (!o)
        return;
    set_time(o);
    json_object_set_new(o, "service", json_string(l->service));
    if (l->rank >= 0)
        json_object_set_new(o, "rank", json_integer(l->rank));
    json_object_set_new(o, "level", json_string(level));
    json_object_set_new(o, "event", json_string(event));
    if (request >= 0)
        json_object_set_new(o, "request", json_integer(request));
    if (fault) {
        json_object_set_new(o, "fault", json_string(fault));
        json_object_set_new(o, "phase", json_string(phase ? phase : ""));
    }
    json_object_set_new(o, "msg", json_string(msg));
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return;
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL: written by length */
    if (write(l->fd, line, n + 1) < 0) {
        /* ignored: see stage_log.h */
    }
    free(line);
}
