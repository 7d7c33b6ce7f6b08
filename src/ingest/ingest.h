/* ingest: read trace files of any supported format into a span_store.
 * Each format is a backend (ingest_<format>.c) with an ingest_ops table,
 * registered in ingest.c; the format is detected from the first bytes
 * unless the caller forces one.
 *
 * Flow: source (file, stdin, gzip) -> ingest backend -> span_store. */
#ifndef SKEWSCOPE_INGEST_H
#define SKEWSCOPE_INGEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct source;
struct span_store;
struct span_rec;

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
    /* --strict: an invalid span (ingest_span_invalid()) is malformed input
     * (the reader fails at it with its position) instead of being counted
     * in span_store_add_invalid() and left out. */
    bool strict;
};

/* One backend. read() consumes the whole source and appends its spans to
 * the store. On malformed input it returns -INGEST_E_MALFORMED and writes
 * "NAME:LINE:COL: what was expected" (or "NAME: byte OFFSET: ..." for binary
 * input) into err; spans appended before the error stay in the store.
 *
 * The readers' contract, the same for every format and for serve (which
 * decodes request bodies through the same code):
 *  - strings must be valid UTF-8 (util/utf8.h; in JSON also no lone
 *    surrogate escape), in every string of the document or every `string`
 *    field of the OTLP request, read or not: else malformed;
 *  - a span that cannot be analysed (ingest_span_invalid()) is counted by
 *    reason in the store, not appended (malformed with opts->strict);
 *  - a non-empty input none of whose top-level values has a shape the
 *    format defines (e.g. {"result": ...} given to the Jaeger reader) is
 *    malformed, with what was expected; recognised shapes holding no spans
 *    ({"resourceSpans": []}, {"data": []}, []) are fine;
 *  - times are unsigned (a negative one is malformed) and clamped with
 *    span_time_from_u64();
 *  - zero bytes are no trace: a run of empty length-delimited messages
 *    (OTLP_PROTO_MAX_EMPTY_RUN) or a field number 0 is malformed, at once;
 *  - corrupt compressed data (CRC, truncated, trailing bytes) is malformed
 *    (-INGEST_E_MALFORMED); only I/O failures are -INGEST_E_NOINPUT. */
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
 * enum ingest_status, with a message in err. An empty (or all white space)
 * file holds no spans and is fine. */
int ingest_file(struct span_store *store, const char *path,
                const struct ingest_opts *opts, char *err, size_t errlen);

/* Detect the format of an open source from its first bytes. When those are
 * all white space it consumes the blank run first (source_skip_space()),
 * so a document after any amount of it is still found; readers take their
 * positions from source_position(). Returns the backend, or NULL when no
 * backend recognises it (source_error() says whether reading failed). */
const struct ingest_ops *ingest_detect(struct source *src);

/* The one rule for spans a reader meets but cannot analyse: returns the
 * enum span_invalid reason (trace ID all zero, then span ID zero, then
 * !has_times), or -1 when rec can be analysed. `has_times`: the format
 * gave the span's start time (and, where the format has one, its end). */
int ingest_span_invalid(const struct span_rec *rec, bool has_times);

/* Backend by command-line name ("otlp-json", "otlp-proto", "jaeger",
 * "zipkin"), or NULL. */
const struct ingest_ops *ingest_by_name(const char *name);
const struct ingest_ops *ingest_by_format(enum trace_format fmt);

/* The readers' one spelling of a position in an error: "NAME:LINE:COL: "
 * then fmt's message, into err (truncated to errlen). */
void ingest_vfail_at(char *err, size_t errlen, const char *name, uint64_t line,
                     uint64_t col, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

#endif
