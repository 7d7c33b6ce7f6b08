/* json_span: what the three JSON readers (OTLP JSON, Jaeger, Zipkin) share
 * above the scanner: the driver loop with the shape rule, looking up
 * member names in a table, the microsecond times of the Jaeger and Zipkin
 * spans, and the invalid-span rule applied with its messages. */
#ifndef SKEWSCOPE_JSON_SPAN_H
#define SKEWSCOPE_JSON_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_lex;
struct json_str;
struct source;
struct span_rec;
struct span_store;

/* What a reader tells the driver about the shape of its input. The reader
 * sets `recognised` when a top-level value had a shape of its format (even
 * one holding no spans); `expected` describes those shapes for the message;
 * `hint` (may stay NULL) is appended to it, e.g. to name another format. */
struct json_span_shape {
    bool recognised;
    const char *expected;
    const char *hint;
};

/* Drive a reader over every top-level value of src: create the scanner
 * (stored in *lxp for the reader's use), call each(ctx, kind) with the kind
 * json_lex_peek() reported for every value until the end of input or an
 * error, copy the scanner's message into err on error, and destroy the
 * scanner. When the input held values but none was recognised, that is
 * malformed: "NAME:LINE:COL: expected EXPECTED" at the first value.
 * Returns 0 or a negated enum ingest_status. */
int json_span_read_all(struct source *src, struct json_lex **lxp,
                       int (*each)(void *ctx, int kind), void *ctx,
                       struct json_span_shape *shape, char *err, size_t errlen);

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

/* A microsecond time: an integer 0 .. 2^64 - 1 (a negative one is an
 * error naming `expected`), returned in ns and clamped to SPAN_TIME_MAX. */
int json_span_read_us(struct json_lex *lx, int64_t *ns, const char *expected);
/* A microsecond duration: any int64 (a negative one makes a negative
 * span, which `check` reports), in ns clamped to +-SPAN_TIME_MAX. */
int json_span_read_dur_us(struct json_lex *lx, int64_t *ns,
                          const char *expected);

/* How a format names the members a span needs, for messages. */
struct json_span_names {
    const char *trace; /* "a traceID" */
    const char *span;  /* "a spanID" */
    const char *start; /* "a startTime" */
};

/* The invalid-span rule (ingest_span_invalid()) for the span just read,
 * whose start was marked with json_lex_mark(). Returns 1 when rec can be
 * analysed; 0 when it cannot and was counted in the store; with `strict`,
 * the scanner's error "expected MEMBER in span INDEX (starting here)"
 * instead of 0. */
int json_span_valid(struct json_lex *lx, struct span_store *store, bool strict,
                    const struct span_rec *rec, bool has_times,
                    const struct json_span_names *names, size_t index);

/* end = start + duration for a microsecond-format span (both already
 * clamped, so the sum cannot overflow). */
void json_span_finish_us(struct span_rec *rec, int64_t dur_ns);

#endif
