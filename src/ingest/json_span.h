/* json_span: what the three JSON readers (OTLP JSON, Jaeger, Zipkin) share
 * above the scanner: looking up member names in a table, and the
 * microsecond times and required members of the Jaeger and Zipkin spans. */
#ifndef SKEWSCOPE_JSON_SPAN_H
#define SKEWSCOPE_JSON_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_lex;
struct json_str;
struct source;
struct span_rec;

/* Drive a reader over every top-level value of src: create the scanner
 * (stored in *lxp for the reader's use), call each(ctx, kind) with the kind
 * json_lex_peek() reported for every value until the end of input or an
 * error, copy the scanner's message into err on error, and destroy the
 * scanner. Returns 0 or a negated enum ingest_status. */
int json_span_read_all(struct source *src, struct json_lex **lxp,
                       int (*each)(void *ctx, int kind), void *ctx, char *err,
                       size_t errlen);

struct json_key_map {
    const char *name;
    size_t len;
    int value;
};
#define JSON_KEY_MAP(lit, v)                                                   \
    {                                                                          \
        lit, sizeof(lit) - 1, v                                                \
    }

/* The value of the entry named `key`, or dflt when none is. */
int json_key_lookup(const struct json_str *key, const struct json_key_map *map,
                    size_t n, int dflt);

/* A microsecond integer time, returned in ns. Returns 0 or the scanner's
 * error (naming `expected`) when the value is not an integer or does not
 * fit in int64 nanoseconds. */
int json_span_read_us(struct json_lex *lx, int64_t *ns, const char *expected);

/* How a format names the members a span needs, for messages. */
struct json_span_names {
    const char *trace; /* "a traceID" */
    const char *span;  /* "a spanID" */
    const char *start; /* "a startTime" */
};

/* Check the members a microsecond-format span must have (non-zero trace and
 * span IDs, a start time) and set end = start + duration (a missing
 * duration counts as 0). `index` numbers the span in messages. Returns 0,
 * or the scanner's error pointing at the span's start. */
int json_span_finish_us(struct json_lex *lx, struct span_rec *rec,
                        int64_t dur_ns, bool has_trace, bool has_span,
                        bool has_start, const struct json_span_names *names,
                        size_t index);

#endif
