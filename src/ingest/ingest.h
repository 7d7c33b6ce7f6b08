/* ingest: read trace files of any supported format into a span_store.
 * Each format is a backend (ingest_<format>.c) with an ingest_ops table,
 * registered in ingest.c; the format is detected from the first bytes
 * unless the caller forces one.
 *
 * Flow: source (file, stdin, gzip) -> ingest backend -> span_store. */
#ifndef SKEWSCOPE_INGEST_H
#define SKEWSCOPE_INGEST_H

#include <stdbool.h>
#include <stddef.h>

struct source;
struct span_store;

enum trace_format {
    TRACE_FORMAT_AUTO = 0,
    TRACE_FORMAT_OTLP_JSON,
    TRACE_FORMAT_OTLP_PROTO,
    TRACE_FORMAT_JAEGER,
    TRACE_FORMAT_ZIPKIN,
};

/* Error codes returned (negated) by ingest functions. */
enum ingest_status {
    INGEST_OK = 0,
    INGEST_E_MALFORMED = 1, /* input does not parse: exit 65 */
    INGEST_E_NOINPUT = 2,   /* cannot open or read: exit 66 */
    INGEST_E_NOMEM = 3,     /* out of memory: exit 70 */
};

struct ingest_opts {
    enum trace_format format;      /* TRACE_FORMAT_AUTO to detect */
    const char *clock_domain_attr; /* --clock-domain ATTR, or NULL */
};

/* One backend. read() consumes the whole source and appends its spans to
 * the store. On malformed input it returns -INGEST_E_MALFORMED and writes
 * "NAME:LINE:COL: what was expected" (or "NAME: byte OFFSET: ..." for binary
 * input) into err; spans appended before the error stay in the store. */
struct ingest_ops {
    const char *name; /* as spelled on the command line: "otlp-json" */
    enum trace_format format;
    /* True when the first bytes (n may be small) look like this format. */
    bool (*sniff)(const unsigned char *data, size_t n);
    int (*read)(struct source *src, struct span_store *store,
                const struct ingest_opts *opts, char *err, size_t errlen);
};

extern const struct ingest_ops ingest_otlp_json_ops;
extern const struct ingest_ops ingest_otlp_proto_ops;
extern const struct ingest_ops ingest_jaeger_ops;
extern const struct ingest_ops ingest_zipkin_ops;

/* Read one file ("-" = stdin) into the store. Returns 0 or a negated
 * enum ingest_status, with a message in err. */
int ingest_file(struct span_store *store, const char *path,
                const struct ingest_opts *opts, char *err, size_t errlen);

/* Detect the format of an open source from its first bytes. Returns the
 * backend, or NULL when no backend recognises it. */
const struct ingest_ops *ingest_detect(struct source *src);

/* Backend by command-line name ("otlp-json", "otlp-proto", "jaeger",
 * "zipkin"), or NULL. */
const struct ingest_ops *ingest_by_name(const char *name);
const struct ingest_ops *ingest_by_format(enum trace_format fmt);

#endif
