/* tracer_export_file: the tracer's file exporter. Each batch becomes one
 * line of OTLP JSON (one ExportTraceServiceRequest, the Collector file
 * exporter's layout, which ingest_otlp_json reads), assembled in memory and
 * appended with a single write(2) on an O_APPEND descriptor, so that several
 * stage processes may append to one file without interleaving lines. */
#include "testbed/tracer_export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/trace_writer.h"
#include "testbed/tracer.h"

struct tracer_exporter {
    int fd;
    char *path;
};

static struct tracer_exporter *file_create(const struct tracer_config *cfg,
                                           char *err, size_t errlen)
{
    struct tracer_exporter *e = calloc(1, sizeof(*e));
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;

    if (!e || !(e->path = strdup(cfg->path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (cfg->truncate)
        flags |= O_TRUNC;
    e->fd = open(cfg->path, flags, 0644);
    if (e->fd < 0) {
        snprintf(err, errlen, "cannot open %s for writing: %s", cfg->path,
                 strerror(errno));
        goto fail;
    }
    return e;
fail:
    if (e)
        free(e->path);
    free(e);
    return NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int file_export(struct tracer_exporter *e, const struct span_desc *spans,
                       size_t n, struct tracer_export_result *res, char *err,
                       size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = -1;

    res->attempts = 0;
    if (tracer_export_encode(&trace_writer_otlp_json_ops, 1, spans, n, &buf,
                             &len) < 0) {
        snprintf(err, errlen, "out of memory encoding %zu spans", n);
        goto cleanup;
    }
    if (write_all(e->fd, buf, len) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", e->path, strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(buf);
    return rc;
}

static void file_destroy(struct tracer_exporter *e)
{
    if (!e)
        return;
    close(e->fd);
    free(e->path);
    free(e);
}

const struct tracer_exporter_ops tracer_export_file_ops = {
    .name = "file",
    .create = file_create,
    .export_batch = file_export,
    .destroy = file_destroy,
};
