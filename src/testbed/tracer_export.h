/* tracer_export: the exporter backends of the tracer (private to
 * testbed/). Each backend (tracer_export_<name>.c) fills one ops table;
 * tracer.c picks it by enum tracer_export_kind. Every backend call runs on
 * the tracer's exporter thread (create and destroy on the thread that
 * calls tracer_create()/tracer_destroy()), never two at once, so backends
 * need no locking. */
#ifndef SKEWSCOPE_TRACER_EXPORT_H
#define SKEWSCOPE_TRACER_EXPORT_H

#include <stddef.h>
#include <stdint.h>

struct span_desc;
struct tracer_config;
struct trace_writer_ops;
struct tracer_exporter;

/* What one export_batch call did, for the tracer's counters. */
struct tracer_export_result {
    unsigned attempts; /* HTTP POSTs made (1 + retries); 0 for files */
};

struct tracer_exporter_ops {
    const char *name;
    /* Returns NULL with err filled when the destination is unusable. */
    struct tracer_exporter *(*create)(const struct tracer_config *cfg,
                                      char *err, size_t errlen);
    /* Deliver n spans (n >= 1). Returns 0, or -1 with err filled when the
     * batch is lost (after any retries the backend makes). */
    int (*export_batch)(struct tracer_exporter *e,
                        const struct span_desc *spans, size_t n,
                        struct tracer_export_result *res, char *err,
                        size_t errlen);
    void (*destroy)(struct tracer_exporter *e);
};

extern const struct tracer_exporter_ops tracer_export_file_ops;
extern const struct tracer_exporter_ops tracer_export_otlp_http_ops;

/* Encode spans as one batch of trace writer `ops` (lines: its create()
 * argument) into a new malloc'd buffer: *buf (owned by the caller), *len
 * bytes. Returns 0, or -1 when out of memory. */
int tracer_export_encode(const struct trace_writer_ops *ops, int lines,
                         const struct span_desc *spans, size_t n, char **buf,
                         size_t *len);

/* Parse the varint at the start of buf (len bytes): sets *value and
 * returns the prefix length, or 0 when it is not a complete varint. */
size_t tracer_export_varint(const unsigned char *buf, size_t len,
                            uint64_t *value);

#endif
