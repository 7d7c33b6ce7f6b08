/* correct_json: document-at-a-time reading and the helpers the JSON
 * rewriters of `correct` share (see correct_json.h).
 *
 * Reading: output/json_split hands over one document at a time, or, for a
 * document larger than correct_json_split_max, one part of it (whole
 * resourceSpans / traces / Zipkin spans); each is loaded with json_loadb(),
 * so memory stays bounded whatever the size of the file, and json_split
 * refuses an element larger than correct_max_element before holding it.
 * Strings may hold U+0000 (JSON_ALLOW_NUL; in object keys through the
 * escape in load_nul_keys()); jansson writes them back as \u0000. */
#include "output/correct_json.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/source.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/json_split.h"
#include "util/ids.h"
#include "util/units.h"

/* Top-level arrays that may be cut between elements when a document is
 * too large to load whole: OTLP's resourceSpans, Jaeger's data (a bare
 * top-level array, Zipkin's list, is always a candidate). */
static const char *const split_keys[] = {"resourceSpans", "resource_spans",
                                         "data", NULL};

size_t correct_json_split_max = JSON_SPLIT_DEFAULT_MAX;

/* jansson refuses object keys holding U+0000 even with JSON_ALLOW_NUL
 * ("NUL byte in object key not supported"), yet stores and writes them
 * through its *n() functions. A piece it refuses for that reason is loaded
 * again with every string escaped reversibly, U+0000 as U+FDD0 '0' and
 * U+FDD0 itself as U+FDD0 '1' (a noncharacter: the escape is rarely
 * needed), and every string and key of the DOM is then unescaped. */
#define NUL_ESC "\xEF\xB7\x90" /* U+FDD0 in UTF-8 */

/* Whether s (len bytes) holds U+FDD0. */
static bool has_nul_esc(const char *s, size_t len)
{
    const char *p = s, *end = s + len;

    while ((p = memchr(p, NUL_ESC[0], (size_t)(end - p))) != NULL) {
        if (end - p >= 3 && memcmp(p, NUL_ESC, 3) == 0)
            return true;
        p++;
    }
    return false;
}

static bool hex4_is(const char *p, const char *want)
{
    for (int i = 0; i < 4; i++)
        if ((p[i] | 0x20) != want[i])
            return false;
    return true;
}

/* The piece's text with the escape applied inside strings; NULL when out
 * of memory. Escapes grow 6 bytes into 7 and 3 into 4. */
static char *escape_nul_text(const char *in, size_t len, size_t *outlen)
{
    char *out = malloc(len + len / 3 + 8), *o = out;
    bool in_str = false;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (!in_str) {
            in_str = c == '"';
        } else if (c == '"') {
            in_str = false;
        } else if (c == '\\' && i + 5 < len && in[i + 1] == 'u' &&
                   (hex4_is(in + i + 2, "0000") ||
                    hex4_is(in + i + 2, "fdd0"))) {
            bool nul = hex4_is(in + i + 2, "0000");
            memcpy(o, "\\ufdd0", 6);
            o[6] = nul ? '0' : '1';
            o += 7;
            i += 5;
            continue;
        } else if (c == '\\' && i + 1 < len) {
            *o++ = c;
            c = in[++i];
        } else if (c == NUL_ESC[0] && i + 2 < len &&
                   memcmp(in + i, NUL_ESC, 3) == 0) {
            memcpy(o, NUL_ESC "1", 4);
            o += 4;
            i += 2;
            continue;
        }
        *o++ = c;
    }
    *outlen = (size_t)(o - out);
    return out;
}

/* s (len bytes) unescaped into a new buffer (*out, *outlen), or *out NULL
 * when it holds no escape. Returns -1 when out of memory. */
static int unescape_nul(const char *s, size_t len, char **out, size_t *outlen)
{
    char *o;

    *out = NULL;
    if (!has_nul_esc(s, len))
        return 0;
    if (!(*out = o = malloc(len)))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (i + 3 < len && memcmp(s + i, NUL_ESC, 3) == 0 &&
            (s[i + 3] == '0' || s[i + 3] == '1')) {
            if (s[i + 3] == '0') {
                *o++ = '\0';
            } else {
                memcpy(o, NUL_ESC, 3);
                o += 3;
            }
            i += 3;
        } else {
            *o++ = s[i];
        }
    }
    *outlen = (size_t)(o - *out);
    return 0;
}

static int unescape_dom(json_t *v);

/* Unescape the values of obj, then its keys (rebuilding it in order when a
 * key changes). */
static int unescape_object(json_t *obj)
{
    const char *k;
    size_t klen;
    json_t *v, *copy = NULL;
    bool rekey = false;
    int rc = 0;

    json_object_keylen_foreach(obj, k, klen, v)
    {
        if (unescape_dom(v) < 0)
            return -1;
        rekey = rekey || has_nul_esc(k, klen);
    }
    if (!rekey)
        return 0;
    if (!(copy = json_object()))
        return -1;
    json_object_keylen_foreach(obj, k, klen, v)
    {
        char *nk;
        size_t nlen;
        if (unescape_nul(k, klen, &nk, &nlen) < 0 ||
            json_object_setn(copy, nk ? nk : k, nk ? nlen : klen, v) < 0)
            rc = -1;
        free(nk);
        if (rc < 0)
            goto out;
    }
    json_object_clear(obj);
    json_object_keylen_foreach(copy, k, klen, v)
    {
        if (json_object_setn(obj, k, klen, v) < 0) {
            rc = -1;
            break;
        }
    }
out:
    json_decref(copy);
    return rc;
}

static int unescape_dom(json_t *v)
{
    size_t i;
    json_t *e;
    char *s;
    size_t len;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return unescape_object(v);
    case JSON_ARRAY:
        json_array_foreach(v, i, e)
        {
            if (unescape_dom(e) < 0)
                return -1;
        }
        return 0;
    case JSON_STRING:
        if (unescape_nul(json_string_value(v), json_string_length(v), &s,
                         &len) < 0)
            return -1;
        if (s && json_string_setn_nocheck(v, s, len) < 0) {
            free(s);
            return -1;
        }
        free(s);
        return 0;
    default:
        return 0;
    }
}

/* Load text (len bytes), whose keys hold U+0000, into *doc. Returns 0,
 * 1 when it does not parse (je says why), -1 when out of memory. */
static int load_nul_keys(const char *text, size_t len, json_t **doc,
                         json_error_t *je)
{
    size_t n;
    char *esc = escape_nul_text(text, len, &n);

    if (!esc)
        return -1;
    *doc = json_loadb(esc, n, JSON_ALLOW_NUL, je);
    free(esc);
    if (!*doc)
        return json_error_code(je) == json_error_out_of_memory ? -1 : 1;
    if (unescape_dom(*doc) < 0) {
        json_decref(*doc);
        *doc = NULL;
        return -1;
    }
    return 0;
}

static int load_piece(const struct json_piece *p, struct correct_json_ctx *ctx,
                      json_t **doc)
{
    json_error_t je;
    int rc = 1;

    ctx->line = p->line;
    ctx->col = p->col;
    ctx->doc_index = p->document;
    *doc = json_loadb(p->text, p->len, JSON_ALLOW_NUL, &je);
    if (*doc)
        return 0;
    if (json_error_code(&je) == json_error_null_byte_in_key)
        rc = load_nul_keys(p->text, p->len, doc, &je);
    if (rc == 0)
        return 0;
    if (rc < 0 || json_error_code(&je) == json_error_out_of_memory)
        return correct_json_nomem(ctx);
    long line = p->line + (je.line > 0 ? je.line - 1 : 0);
    long col = je.line <= 1 ? p->col - 1 + je.column : je.column;
    snprintf(ctx->err, ctx->errlen, "%s:%ld:%ld: %s", ctx->name, line, col,
             je.text);
    return -INGEST_E_MALFORMED;
}

static int write_error(struct correct_json_ctx *ctx)
{
    snprintf(ctx->err, ctx->errlen, "%s: writing the corrected output: %s",
             ctx->name, strerror(errno));
    return -INGEST_E_NOINPUT;
}

static int write_doc(json_t *doc, FILE *out, struct correct_json_ctx *ctx)
{
    if (json_dumpf(doc, out, JSON_COMPACT) != 0 || fputc('\n', out) == EOF)
        return write_error(ctx);
    return 0;
}

/* Map json_split_next()'s failures onto ingest status codes. */
static int split_error(int r, struct source *src, struct correct_json_ctx *ctx,
                       const char *msg)
{
    if (r == -2) {
        snprintf(ctx->err, ctx->errlen, "%s", source_error(src));
        return source_error_is_data(src) ? -INGEST_E_MALFORMED
                                         : -INGEST_E_NOINPUT;
    }
    if (r == -3)
        return correct_json_nomem(ctx);
    if (r == -4) {
        snprintf(ctx->err, ctx->errlen,
                 "%s:%s (correct rewrites one resourceSpans entry, Jaeger "
                 "trace or Zipkin span at a time; --max-element raises the "
                 "limit)",
                 ctx->name, msg);
        return -INGEST_E_MALFORMED;
    }
    snprintf(ctx->err, ctx->errlen, "%s:%s", ctx->name, msg);
    return -INGEST_E_MALFORMED;
}

static int run_pieces(struct json_split *sp, struct source *src, FILE *out,
                      struct correct_json_ctx *ctx, correct_json_doc_fn fn)
{
    struct json_piece piece;
    size_t pieces = 0;
    char msg[256];
    int r;

    while ((r = json_split_next(sp, &piece, msg, sizeof(msg))) == 1) {
        json_t *doc = NULL;
        int rc = load_piece(&piece, ctx, &doc);
        if (rc == 0)
            rc = fn(&doc, ctx);
        if (rc == 0)
            rc = write_doc(doc, out, ctx);
        json_decref(doc);
        if (rc != 0)
            return rc;
        pieces++;
    }
    if (r != 0)
        return split_error(r, src, ctx, msg);
    /* A blank input still gives a document: an empty output would not be
     * one in any of the JSON formats. */
    if (pieces == 0 &&
        fprintf(out, "%s\n", correct_empty_document(ctx->opts->out_format)) < 0)
        return write_error(ctx);
    return 0;
}

int correct_json_run(struct source *src, const struct correct_opts *opts,
                     const struct clock_model *model, FILE *out,
                     struct correct_stats *stats, char *err, size_t errlen,
                     correct_json_doc_fn fn)
{
    struct correct_json_ctx ctx = {
        .opts = opts,
        .model = model,
        .stats = stats,
        .name = source_name(src),
        .line = 1,
        .col = 1,
        .err = err,
        .errlen = errlen,
    };
    struct json_split *sp =
        json_split_create(src, split_keys, correct_json_split_max);

    if (!sp)
        return correct_json_nomem(&ctx);
    json_split_set_max_element(sp, correct_max_element);
    int rc = run_pieces(sp, src, out, &ctx, fn);
    if (rc == 0 && fflush(out) != 0) {
        snprintf(err, errlen, "%s: writing the corrected output: %s", ctx.name,
                 strerror(errno));
        rc = -INGEST_E_NOINPUT;
    }
    json_split_destroy(sp);
    return rc;
}

int correct_json_malformed(struct correct_json_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    int n =
        snprintf(ctx->err, ctx->errlen, "%s:%ld:%ld: document %zu: ", ctx->name,
                 ctx->line, ctx->col, ctx->doc_index + 1);

    if (n >= 0 && (size_t)n < ctx->errlen) {
        va_start(ap, fmt);
        vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -INGEST_E_MALFORMED;
}

int correct_json_nomem(struct correct_json_ctx *ctx)
{
    snprintf(ctx->err, ctx->errlen, "%s: out of memory", ctx->name);
    return -INGEST_E_NOMEM;
}

static int parse_decimal(const char *s, int64_t *out)
{
    char *end;

    if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int correct_json_get_int(const json_t *v, int64_t *out)
{
    if (!v || json_is_null(v))
        return 1;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v))
        return parse_decimal(json_string_value(v), out);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Exact only up to 2^53; such values are still integral. */
        if (d != floor(d) || fabs(d) >= 9.2e18)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

bool correct_json_scalar_text(const json_t *v, char *buf, size_t buflen,
                              const char **s, size_t *len)
{
    int n;

    switch (json_typeof(v)) {
    case JSON_STRING:
        *s = json_string_value(v);
        *len = json_string_length(v);
        return true;
    case JSON_INTEGER:
        n = snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        break;
    case JSON_REAL:
        n = snprintf(buf, buflen, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        n = snprintf(buf, buflen, "%s", json_is_true(v) ? "true" : "false");
        break;
    default:
        return false;
    }
    *s = buf;
    *len = n < 0 ? 0 : (size_t)n < buflen ? (size_t)n : buflen - 1;
    return true;
}

void correct_json_domain_init(struct correct_json_domain *d)
{
    d->rank = -1;
    d->val = NULL;
    d->key = NULL;
}

void correct_json_domain_offer(struct correct_json_domain *d, const char *user,
                               enum clock_domain_source src, const char *key,
                               size_t keylen, const json_t *val)
{
    int rank = clock_domain_rank(user, src, key, keylen);

    if (rank < 0 || (d->rank >= 0 && rank >= d->rank))
        return;
    if (!val ||
        !(json_is_string(val) || json_is_number(val) || json_is_boolean(val)))
        return;
    d->rank = rank;
    d->val = val;
    d->key = key;
}

void correct_json_domain_text(const struct correct_json_domain *d,
                              char tmp[CORRECT_JSON_TMP], const char **s,
                              size_t *len)
{
    *s = CLOCK_DOMAIN_UNKNOWN;
    *len = strlen(*s);
    if (d->val)
        correct_json_scalar_text(d->val, tmp, CORRECT_JSON_TMP, s, len);
}

int correct_json_domain_id(const struct correct_json_domain *d,
                           const struct clock_model *model)
{
    char tmp[CORRECT_JSON_TMP];
    const char *s;
    size_t len;

    correct_json_domain_text(d, tmp, &s, &len);
    return clock_model_find(model, s, len);
}

json_t *correct_json_otlp_int(int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_pack("{s:s}", "intValue", buf);
}

json_t *correct_json_otlp_str(const char *s, size_t len)
{
    return json_pack("{s:s%}", "stringValue", s, len);
}

bool correct_json_present(const json_t *v)
{
    return v && !json_is_null(v);
}

bool correct_json_str_is(const json_t *v, const char *s, size_t len)
{
    return json_is_string(v) && json_string_length(v) == len &&
           memcmp(json_string_value(v), s, len) == 0;
}

int correct_json_otlp_attr_set(json_t *attrs, const char *key, json_t *value)
{
    return correct_json_otlp_attr_setn(attrs, key, strlen(key), value);
}

int correct_json_otlp_attr_setn(json_t *attrs, const char *key, size_t keylen,
                                json_t *value)
{
    size_t i;
    json_t *a;

    if (!value)
        return -1;
    json_array_foreach(attrs, i, a)
    {
        if (correct_json_str_is(json_object_get(a, "key"), key, keylen))
            return json_object_set_new(a, "value", value);
    }
    json_t *kv = json_pack("{s:s%}", "key", key, keylen);
    if (!kv || json_object_set_new(kv, "value", value) != 0) {
        json_decref(kv);
        return -1;
    }
    return json_array_append_new(attrs, kv);
}

json_t *correct_json_attrs_of(json_t *obj, const char *field)
{
    json_t *a = json_object_get(obj, field);

    if (json_is_array(a))
        return a;
    a = json_array();
    if (!a || json_object_set_new(obj, field, a) != 0)
        return NULL;
    return a;
}

int correct_json_otlp_resource_fix(json_t *attrs, const char *user,
                                   const char *domain, size_t len,
                                   bool from_user)
{
    const char *key = from_user ? user : "host.name";
    size_t keylen = strlen(key);
    int keep = clock_domain_rank(user, CLOCK_DOMAIN_OTLP_RESOURCE, key, keylen);
    size_t i = 0;

    if (correct_json_otlp_attr_set(attrs, key,
                                   correct_json_otlp_str(domain, len)))
        return -1;
    while (i < json_array_size(attrs)) {
        const json_t *k = json_object_get(json_array_get(attrs, i), "key");
        int rank =
            json_is_string(k)
                ? clock_domain_rank(user, CLOCK_DOMAIN_OTLP_RESOURCE,
                                    json_string_value(k), json_string_length(k))
                : -1;
        if (rank >= 0 && rank < keep && !correct_json_str_is(k, key, keylen))
            json_array_remove(attrs, i);
        else
            i++;
    }
    return 0;
}

int correct_json_us_to_ns(int64_t us, int64_t *ns)
{
    if (us > INT64_MAX / 1000 || us < INT64_MIN / 1000)
        return -1;
    *ns = us * 1000;
    return 0;
}

int correct_json_map_us(const struct clock_model *model, int id, int64_t us,
                        struct correct_json_us *t)
{
    if (correct_json_us_to_ns(us, &t->orig_ns) != 0)
        return -1;
    t->ref_ns = clock_model_to_reference(model, id, t->orig_ns);
    t->ref_us = units_floor_us(t->ref_ns);
    return 0;
}

static json_t *find_resource(json_t *resource_spans, const json_t *attrs)
{
    /* Spans of one resource tend to come together: search from the end. */
    for (size_t i = json_array_size(resource_spans); i-- > 0;) {
        json_t *rs = json_array_get(resource_spans, i);
        json_t *a =
            json_object_get(json_object_get(rs, "resource"), "attributes");
        if (json_equal(a, attrs))
            return rs;
    }
    return NULL;
}

static json_t *spans_of(json_t *rs)
{
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);

    return json_object_get(ss, "spans");
}

int correct_json_otlp_add_span(json_t *resource_spans, json_t *attrs,
                               json_t *span)
{
    json_t *rs = find_resource(resource_spans, attrs);

    if (rs) {
        json_decref(attrs);
        return json_array_append_new(spans_of(rs), span);
    }
    rs = json_pack("{s:{s:o},s:[{s:[o]}]}", "resource", "attributes", attrs,
                   "scopeSpans", "spans", span);
    if (!rs)
        return -1;
    return json_array_append_new(resource_spans, rs);
}

int correct_json_map_us_field(json_t *obj, const char *field, int id,
                              struct correct_json_ctx *ctx,
                              struct correct_json_us *t, bool *present)
{
    int64_t us;
    int rc = correct_json_get_int(json_object_get(obj, field), &us);

    *present = rc == 0;
    if (rc > 0)
        return 0;
    if (rc < 0 || correct_json_map_us(ctx->model, id, us, t) != 0)
        return correct_json_malformed(ctx, "%s is not an integer in range",
                                      field);
    if (json_object_set_new(obj, field, json_integer(t->ref_us)) != 0)
        return correct_json_nomem(ctx);
    return 0;
}

int correct_json_get_duration(const json_t *obj, int64_t *dur_us)
{
    int rc = correct_json_get_int(json_object_get(obj, "duration"), dur_us);

    /* Bounded so that start + duration cannot overflow before the
     * conversion to ns is checked. */
    if (rc == 0 && (*dur_us > INT64_MAX / 1000 || *dur_us < -INT64_MAX / 1000))
        return -1;
    return rc;
}

int correct_json_map_duration(json_t *obj, int id,
                              const struct correct_json_us *start,
                              struct correct_json_ctx *ctx,
                              struct correct_json_us *end, bool *present)
{
    int64_t dur;
    int rc = correct_json_get_duration(obj, &dur);

    *present = rc == 0;
    if (rc > 0)
        return 0;
    if (rc < 0 || correct_json_map_us(ctx->model, id,
                                      start->orig_ns / 1000 + dur, end) != 0)
        return correct_json_malformed(ctx, "duration is not an integer "
                                           "in range");
    if (json_object_set_new(obj, "duration",
                            json_integer(end->ref_us - start->ref_us)) != 0)
        return correct_json_nomem(ctx);
    return 0;
}

/* Hex trace ID (32 digits) of a Jaeger/Zipkin spelling; -1 if invalid. */
int correct_json_trace_hex(const json_t *v, char out[33])
{
    uint8_t id[16];

    if (!json_is_string(v) ||
        id_parse_trace(json_string_value(v), json_string_length(v), id) != 0)
        return -1;
    id_format_trace(id, out);
    return 0;
}

int correct_json_span_hex(const json_t *v, char out[17], uint64_t *id)
{
    if (!json_is_string(v) ||
        id_parse_span(json_string_value(v), json_string_length(v), id) != 0)
        return -1;
    id_format_span(*id, out);
    return 0;
}

/* A trace or span ID member as the readers read it: absent, not a string
 * or not an ID counts as all zero (the readers refuse a malformed one
 * before correct runs). */
static void parse_ids(const json_t *trace, const json_t *span,
                      struct span_rec *rec)
{
    memset(rec, 0, sizeof(*rec));
    if (json_is_string(trace) &&
        id_parse_trace(json_string_value(trace), json_string_length(trace),
                       rec->trace_id) != 0)
        memset(rec->trace_id, 0, sizeof(rec->trace_id));
    if (json_is_string(span) &&
        id_parse_span(json_string_value(span), json_string_length(span),
                      &rec->span_id) != 0)
        rec->span_id = 0;
}

bool correct_json_span_valid(const json_t *trace, const json_t *span,
                             bool has_times)
{
    struct span_rec rec;

    parse_ids(trace, span, &rec);
    return ingest_span_invalid(&rec, has_times) < 0;
}

void correct_json_trace_hex_lenient(const json_t *v, char out[33])
{
    if (correct_json_trace_hex(v, out) != 0)
        out[0] = '\0';
}

void correct_json_span_hex_lenient(const json_t *v, char out[17])
{
    uint64_t id;

    if (correct_json_span_hex(v, out, &id) != 0)
        out[0] = '\0';
}
