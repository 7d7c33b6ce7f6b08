/* libFuzzer target for the OTLP protobuf reader and corrector: the input is
 * a whole trace file. It goes through a memfd so that the real source_open()
 * path (gzip detection included) is exercised, is read into a fresh
 * span_store, then corrected into OTLP JSON against a small clock model. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "ingest/source.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_read(const char *path)
{
    char err[512];
    struct source *src = source_open(path, err, sizeof(err));
    struct span_store *s = span_store_create();

    if (src && s)
        ingest_otlp_proto_ops.read(src, s, NULL, err, sizeof(err));
    span_store_destroy(s);
    source_close(src);
}

static void fuzz_correct(const char *path, FILE *sink)
{
    char err[512];
    struct source *src = source_open(path, err, sizeof(err));
    struct clock_model *m = clock_model_create();
    struct correct_opts opts = {TRACE_FORMAT_OTLP_PROTO, TRACE_FORMAT_OTLP_JSON,
                                NULL};
    struct correct_stats st;

    if (src && m && clock_model_set(m, "node-a", 1000, 2.5, 0) >= 0)
        correct_otlp_proto_ops.run(src, &opts, m, sink, &st, err, sizeof(err));
    clock_model_destroy(m);
    source_close(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    char path[64];
    int fd = memfd_create("fuzz_otlp_proto", 0);

    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        fuzz_read(path);
        if (!sink)
            sink = fopen("/dev/null", "w");
        if (sink)
            fuzz_correct(path, sink);
    }
    close(fd);
    return 0;
}
