/* correct_json: the parts the jansson-based JSON rewriters of `correct`
 * share (correct_jaeger.c, correct_zipkin.c, and correct_otlp_json.c, the
 * OTLP correction on a DOM that the converters use and that the streaming
 * OTLP rewriter, correct_otlp_stream.c, is tested against). Private to
 * src/output: nothing outside correct_*.c includes it.
 *
 * correct_json_run() reads a source one JSON document at a time (a file may
 * hold one document, one per line as the Collector file exporter writes, or
 * several concatenated), hands each DOM to a per-format callback that
 * rewrites it in place (or replaces it), and writes the result compactly on
 * one line. A document larger than correct_json_split_max bytes is handed
 * over in parts, each a valid document of the same format holding whole
 * resourceSpans, traces or spans (output/json_split.h), and written as one
 * line per part; memory stays bounded by that size plus the largest
 * element, which correct_max_element bounds (larger: malformed input).
 * A blank input (no document at all) gives one empty document of the
 * output format (correct_empty_document()).
 *
 * Times: every helper takes and returns int64 nanoseconds since the Unix
 * epoch on the clock named; microsecond formats convert with us * 1000 and
 * back with floor(ns / 1000), also for negative values. */
#ifndef SKEWSCOPE_CORRECT_JSON_H
#define SKEWSCOPE_CORRECT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "model/clock_domain.h"
#include "output/correct.h"

struct source;

/* What a per-format callback needs; err/errlen are the caller's buffer. */
struct correct_json_ctx {
    const struct correct_opts *opts;
    const struct clock_model *model;
    struct correct_stats *stats;
    const char *name; /* source name for messages */
    long line, col;   /* where the current document starts (1-based) */
    size_t doc_index; /* 0-based index of the current document */
    char *err;
    size_t errlen;
};

/* Rewrite *doc (owned by the caller; a callback that replaces it must
 * json_decref the old one). Returns 0 or a negated enum ingest_status with
 * a message in ctx->err (see correct_json_malformed()). */
typedef int (*correct_json_doc_fn)(json_t **doc, struct correct_json_ctx *ctx);

/* Documents (and protobuf messages, correct_proto.c) larger than this are
 * cut into parts (default 8 MiB; tests lower it). */
extern size_t correct_json_split_max;

/* Read every document of src, apply fn, write each result followed by '\n'
 * to out. Returns 0, -INGEST_E_MALFORMED ("NAME:LINE:COL: message" from the
 * parser, lines counted over the whole stream), -INGEST_E_NOINPUT on a read
 * or write error, -INGEST_E_NOMEM, or whatever fn returned. */
int correct_json_run(struct source *src, const struct correct_opts *opts,
                     const struct clock_model *model, FILE *out,
                     struct correct_stats *stats, char *err, size_t errlen,
                     correct_json_doc_fn fn);

/* Fill ctx->err with "NAME:LINE:COL: document N: <message>" (the position
 * of the document's start: the DOM has no finer positions) and return
 * -INGEST_E_MALFORMED. */
int correct_json_malformed(struct correct_json_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Fill ctx->err with "out of memory" and return -INGEST_E_NOMEM. */
int correct_json_nomem(struct correct_json_ctx *ctx);

/* Integer time from a JSON integer, an integral real, or a decimal string.
 * Returns 0, 1 when v is NULL or null (field absent), -1 when v is not an
 * integer in int64 range. */
int correct_json_get_int(const json_t *v, int64_t *out);

/* us * 1000 into *ns. Returns 0, or -1 when that overflows int64. */
int correct_json_us_to_ns(int64_t us, int64_t *ns);

/* A microsecond timestamp of domain id mapped to the reference clock. */
struct correct_json_us {
    int64_t orig_ns; /* us * 1000 */
    int64_t ref_ns;  /* clock_model_to_reference(orig_ns) */
    int64_t ref_us;  /* floor(ref_ns / 1000) */
};
/* Returns 0, or -1 when us * 1000 overflows int64. */
int correct_json_map_us(const struct clock_model *model, int id, int64_t us,
                        struct correct_json_us *t);

/* Map the microsecond field obj.field of domain id in place (floored).
 * *present tells whether it was there; absent fields stay absent. Returns
 * 0, or -INGEST_E_MALFORMED when it is not an integer in range. */
int correct_json_map_us_field(json_t *obj, const char *field, int id,
                              struct correct_json_ctx *ctx,
                              struct correct_json_us *t, bool *present);
/* obj.duration in us. Returns 0, 1 when absent, -1 when not an integer or
 * beyond +-INT64_MAX / 1000 (so start_us + duration cannot overflow). */
int correct_json_get_duration(const json_t *obj, int64_t *dur_us);
/* Map the end (start + obj.duration) of a span whose start was mapped to
 * *start and rewrite duration as end.ref_us - start->ref_us. Same returns
 * as correct_json_map_us_field(). */
int correct_json_map_duration(json_t *obj, int id,
                              const struct correct_json_us *start,
                              struct correct_json_ctx *ctx,
                              struct correct_json_us *end, bool *present);

/* Text of a scalar (string as is; integer in decimal; real "%.17g"; true /
 * false). Returns false for null, objects and arrays. *s points into v or
 * into buf (CORRECT_JSON_TMP bytes are enough). */
bool correct_json_scalar_text(const json_t *v, char *buf, size_t buflen,
                              const char **s, size_t *len);

/* Lowest-rank pick of a clock domain name among candidate keys. */
struct correct_json_domain {
    int rank;          /* -1: nothing seen yet */
    const json_t *val; /* value of the best candidate (borrowed) */
    const char *key;   /* its key (borrowed) */
};
void correct_json_domain_init(struct correct_json_domain *d);
/* Offer candidate key=val (key: keylen bytes, NULs allowed) ranked with
 * clock_domain_rank(); non-scalar values are ignored. */
void correct_json_domain_offer(struct correct_json_domain *d, const char *user,
                               enum clock_domain_source src, const char *key,
                               size_t keylen, const json_t *val);
/* The picked name ("unknown" when none): *s points into the picked value
 * or into tmp; *len bytes, not NUL-terminated. */
#define CORRECT_JSON_TMP 64
void correct_json_domain_text(const struct correct_json_domain *d,
                              char tmp[CORRECT_JSON_TMP], const char **s,
                              size_t *len);
/* Model id of the picked domain, or -1 when the model does not know it. */
int correct_json_domain_id(const struct correct_json_domain *d,
                           const struct clock_model *model);

/* OTLP AnyValue objects: {"intValue":"N"} (decimal string), {"stringValue":
 * s}. New references, NULL when out of memory. */
json_t *correct_json_otlp_int(int64_t v);
json_t *correct_json_otlp_str(const char *s, size_t len);
/* Set key to value (reference stolen) in an OTLP attributes array
 * (replacing an entry with the same key). Returns 0 or -1 (ENOMEM). The n
 * variant takes a key of keylen bytes, which may hold NULs. */
int correct_json_otlp_attr_set(json_t *attrs, const char *key, json_t *value);
int correct_json_otlp_attr_setn(json_t *attrs, const char *key, size_t keylen,
                                json_t *value);

/* Whether member value v is there (not absent, not null), as the readers
 * tell a missing time. */
bool correct_json_present(const json_t *v);

/* Whether v is the string s of len bytes (NULs compared too). */
bool correct_json_str_is(const json_t *v, const char *s, size_t len);
/* The attributes array of obj, created when missing or not an array.
 * NULL when out of memory. */
json_t *correct_json_attrs_of(json_t *obj, const char *field);

/* Append span (reference stolen) to the scopeSpans[0].spans of the element
 * of resource_spans (an OTLP resourceSpans array) whose resource attributes
 * equal attrs (reference stolen), creating that element when there is none.
 * Returns 0 or -1 (ENOMEM). */
int correct_json_otlp_add_span(json_t *resource_spans, json_t *attrs,
                               json_t *span);

/* IDs as Jaeger/Zipkin spell them (16 or 32 hex digits; see util/ids.h)
 * to OTLP JSON hex: 32 digits for a trace (64-bit IDs left-padded), 16 for
 * a span (also into *id). Return 0, or -1 when v is not a valid ID. */
int correct_json_trace_hex(const json_t *v, char out[33]);
int correct_json_span_hex(const json_t *v, char out[17], uint64_t *id);
/* The same for spans written through unanalysed: "" when v is absent or
 * not a valid ID. */
void correct_json_trace_hex_lenient(const json_t *v, char out[33]);
void correct_json_span_hex_lenient(const json_t *v, char out[17]);

/* Whether the readers analyse a span whose trace and span ID members are
 * trace and span (NULL when absent) and that has its times (has_times: see
 * ingest_span_invalid(), the one rule). A span they count as invalid is
 * written through: not corrected, not dropped. */
bool correct_json_span_valid(const json_t *trace, const json_t *span,
                             bool has_times);

/* Make the resource attributes of a converted document name clock domain
 * `domain` (len bytes) under skewscope's OTLP rule: set `user` (when from_user)
 * or host.name to domain, and drop every other attribute that the OTLP rule
 * ranks before it. Returns 0 or -1 (ENOMEM). */
int correct_json_otlp_resource_fix(json_t *attrs, const char *user,
                                   const char *domain, size_t len,
                                   bool from_user);

/* Correct one OTLP JSON document in place (correct_otlp_json.c); the
 * converters call it on the documents they build. */
int correct_json_otlp_doc(json_t **doc, struct correct_json_ctx *ctx);

#endif
