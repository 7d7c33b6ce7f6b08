/* correct_jtext: compact JSON text in memory, as json_lex_copy_value()
 * writes it (valid JSON, no white space between tokens), read the way the
 * streaming OTLP JSON rewriter (correct_otlp_stream.c) needs once it holds
 * a span, a resource or the rest of a resourceSpans entry: members and
 * elements walked without a DOM, strings decoded, time values and IDs read
 * as the jansson path (correct_json.c) reads them from its DOM, and the
 * clock domain a resource names, by the OTLP JSON reader's rule
 * (ingest_otlp_json.c: clock_domain_rank() over the resource attributes,
 * the last scalar member of a value, an empty name no candidate, numbers
 * as spelled, the last "resource" member of an entry winning).
 *
 * Text handed to these functions must be followed by a NUL and
 * CORRECT_JTEXT_SLACK - 1 more readable bytes (16-byte loads near its end
 * stay inside the buffer). Private to src/output. Not thread-safe per
 * object. */
#ifndef SKEWSCOPE_CORRECT_JTEXT_H
#define SKEWSCOPE_CORRECT_JTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct clock_model;

#define CORRECT_JTEXT_SLACK 32

/* A growable buffer (free(p) when done). */
struct correct_jtext_buf {
    char *p;
    size_t len, cap;
};
/* Room for n more bytes / n bytes appended. Return 0 or -1 (ENOMEM).
 * Inline: the rewriter calls them a few dozen times per span;
 * correct_jtext_grow() is their slow path. */
int correct_jtext_grow(struct correct_jtext_buf *b, size_t n);
static inline int correct_jtext_reserve(struct correct_jtext_buf *b, size_t n)
{
    return b->cap - b->len >= n ? 0 : correct_jtext_grow(b, n);
}
static inline int correct_jtext_put(struct correct_jtext_buf *b, const char *p,
                                    size_t n)
{
    if (n == 0)
        return 0;
    if (correct_jtext_reserve(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/* The closing quote of the string whose opening quote is at p. */
const char *correct_jtext_str_end(const char *p);
/* One past the end of the value at p. */
const char *correct_jtext_skip(const char *p);
/* Iterate the members of the object whose '{' is at *pp: 1 with the key
 * (raw, between the quotes; *kesc when it holds escapes) and the value
 * [*val, *vend), *pp moved to the ',' or '}' after it; 0 at the end (*pp
 * at the '}'). */
int correct_jtext_member(const char **pp, const char **key, size_t *klen,
                         bool *kesc, const char **val, const char **vend);
/* Iterate the elements of the array whose '[' is at *pp, likewise. */
int correct_jtext_elem(const char **pp, const char **val, const char **vend);

/* The string [v, vend) (quotes included) decoded into dec, followed by a
 * NUL. Returns its length, or -1 (ENOMEM). */
long correct_jtext_decode(struct correct_jtext_buf *dec, const char *v,
                          const char *vend);

/* A time member's value [v, vend), as correct_json_get_int() reads the
 * value jansson makes of it: 0 with *out (ns), 1 for null, -1 when it is
 * no integer in int64 range (integral reals up to 9.2e18 are), -2 when
 * out of memory. */
int correct_jtext_time(struct correct_jtext_buf *dec, const char *v,
                       const char *vend, int64_t *out);
/* The common spelling of a time value, read fast: a quoted decimal of at
 * most 19 digits, no sign, escape or leading zero (just what formatting
 * *out in decimal writes), in int64 range. true with *out, or false
 * (then correct_jtext_time() reads it). */
bool correct_jtext_time_plain(const char *v, const char *vend, int64_t *out);

/* An ID string [v, vend) (v NULL: absent) parsed as the readers parse it
 * (util/ids.h); absent, not a string or not an ID gives the all-zero ID.
 * Return 0, or -1 when out of memory. */
int correct_jtext_trace_id(struct correct_jtext_buf *dec, const char *v,
                           const char *vend, uint8_t out[16]);
int correct_jtext_span_id(struct correct_jtext_buf *dec, const char *v,
                          const char *vend, uint64_t *out);

/* Clock domains of resources, with a cache of recent resource texts. */
struct correct_jtext_domains;
/* model and user_attr (--clock-domain, or NULL) are borrowed. NULL when
 * out of memory. */
struct correct_jtext_domains *
correct_jtext_domains_create(const struct clock_model *model,
                             const char *user_attr);
void correct_jtext_domains_destroy(struct correct_jtext_domains *d);
/* Model id of the clock domain the resource value [v, vend) names
 * ("unknown" when no attribute names one); -1 when the model does not
 * know it, -2 when out of memory. */
int correct_jtext_domain(struct correct_jtext_domains *d, const char *v,
                         const char *vend);

#endif
