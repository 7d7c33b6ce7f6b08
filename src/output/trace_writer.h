/* trace_writer: write spans described in memory as a trace file of one of
 * the input formats. The simulator (sim/) uses it to produce test traces
 * with known truth in every format skewscope reads; each format is a backend
 * (trace_writer_<format>.c) behind struct trace_writer_ops.
 *
 * Mapping of the resource: OTLP resource attributes host.name and
 * service.name; Jaeger process serviceName = service_name with tag
 * hostname = host_name; Zipkin localEndpoint serviceName = service_name
 * (plus ipv4 when set). */
#ifndef SKEWSCOPE_TRACE_WRITER_H
#define SKEWSCOPE_TRACE_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ingest/ingest.h"

struct span_kv {
    const char *key;
    const char *value; /* string attribute */
};

struct span_link_desc {
    uint8_t trace_id[16];
    uint64_t span_id;
};

struct span_event_desc {
    const char *name;
    int64_t time_ns;
};

struct span_desc {
    uint8_t trace_id[16];
    uint64_t span_id;
    uint64_t parent_span_id; /* 0 = root */
    const char *name;
    int kind;                 /* enum span_kind (OTLP numbering) */
    int64_t start_ns, end_ns; /* unix ns as the span's own clock read them */
    const char *host_name;
    const char *service_name;
    const char *ipv4; /* Zipkin localEndpoint.ipv4, or NULL */
    const struct span_kv *attrs;
    size_t nattrs;
    const struct span_link_desc *links;
    size_t nlinks;
    const struct span_event_desc *events;
    size_t nevents;
};

struct trace_writer;

struct trace_writer_ops {
    const char *name; /* "otlp-json", "otlp-proto", "jaeger", "zipkin" */
    enum trace_format format;
    /* Start writing to out (not closed by the writer). `lines`: for OTLP
     * JSON, one document per batch per line (the Collector file exporter's
     * layout) instead of one document. Returns NULL when out of memory. */
    struct trace_writer *(*create)(FILE *out, int lines);
    /* Write one batch: an ExportTraceServiceRequest (OTLP; one line in
     * lines mode, one length-delimited message in protobuf), one element of
     * Jaeger's data[] (a batch must then be one trace), or more elements of
     * Zipkin's list. Returns 0 or -1 on a write error. */
    int (*write_batch)(struct trace_writer *w, const struct span_desc *spans,
                       size_t n);
    /* Close the document, flush, free w. Returns 0 or -1 on a write error. */
    int (*finish)(struct trace_writer *w);
};

extern const struct trace_writer_ops trace_writer_otlp_json_ops;
extern const struct trace_writer_ops trace_writer_otlp_proto_ops;
extern const struct trace_writer_ops trace_writer_jaeger_ops;
extern const struct trace_writer_ops trace_writer_zipkin_ops;

#endif
