/* correct_json: document-at-a-time reading and the helpers the JSON
 * rewriters of `correct` share (see correct_json.h).
 *
 * Reading: jansson pulls bytes through json_load_callback() and, with
 * JSON_DISABLE_EOF_CHECK, stops right after the closing bracket of a
 * document and reports how many bytes it consumed (json_error_t.position).
 * It only asks for more bytes once it has used up the previous chunk, so
 * the bytes it fetched but did not consume are always the tail of the last
 * chunk we handed it, still in our buffer: we step back over them and the
 * next document starts there. */
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
#include "util/ids.h"

#define READ_CHUNK 65536

struct doc_reader {
    struct source *src;
    char *buf;
    size_t pos, len;
    const char *chunk; /* last chunk handed to jansson, not yet counted */
    size_t chunk_len;
    size_t handed;  /* bytes handed to jansson for the current document */
    long line, col; /* position of buf[pos]: line 1-based, col 0-based */
    bool eof, read_error;
};

/* Move the line/column counters over n consumed bytes. */
static void reader_count(struct doc_reader *r, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            r->line++;
            r->col = 0;
        } else {
            r->col++;
        }
    }
}

/* Refill the buffer when empty. Returns bytes available (0 at EOF or on a
 * read error, which read_error tells apart). */
static size_t reader_fill(struct doc_reader *r)
{
    if (r->pos < r->len)
        return r->len - r->pos;
    r->pos = r->len = 0;
    if (r->eof)
        return 0;
    ssize_t n = source_read(r->src, r->buf, READ_CHUNK);
    if (n < 0)
        r->read_error = true;
    if (n <= 0) {
        r->eof = true;
        return 0;
    }
    r->len = (size_t)n;
    return r->len;
}

static size_t reader_callback(void *buffer, size_t buflen, void *data)
{
    struct doc_reader *r = data;

    /* Jansson has consumed the whole previous chunk: count it. */
    reader_count(r, r->chunk, r->chunk_len);
    r->chunk_len = 0;
    size_t avail = reader_fill(r);
    if (avail == 0)
        return r->read_error ? (size_t)-1 : 0;
    size_t n = avail < buflen ? avail : buflen;
    memcpy(buffer, r->buf + r->pos, n);
    r->chunk = r->buf + r->pos;
    r->chunk_len = n;
    r->pos += n;
    r->handed += n;
    return n;
}

/* Skip whitespace between documents. Returns true when a document follows. */
static bool reader_skip_space(struct doc_reader *r)
{
    while (reader_fill(r) > 0) {
        char c = r->buf[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return true;
        reader_count(r, &c, 1);
        r->pos++;
    }
    return false;
}

/* After a successful parse: give back what jansson fetched beyond the
 * document and count the part of the last chunk it used. */
static void reader_settle(struct doc_reader *r, size_t unused)
{
    if (unused > r->chunk_len)
        unused = r->chunk_len; /* cannot happen; stay in bounds anyway */
    reader_count(r, r->chunk, r->chunk_len - unused);
    r->pos -= unused;
    r->chunk_len = 0;
}

static int reader_error(struct correct_json_ctx *ctx, struct doc_reader *r,
                        const json_error_t *je)
{
    if (r->read_error) {
        snprintf(ctx->err, ctx->errlen, "%s: read error: %s", ctx->name,
                 source_error(r->src));
        return -INGEST_E_NOINPUT;
    }
    if (json_error_code(je) == json_error_out_of_memory)
        return correct_json_nomem(ctx);
    long line = ctx->line + (je->line > 0 ? je->line - 1 : 0);
    long col = je->line <= 1 ? ctx->col - 1 + je->column : je->column;
    snprintf(ctx->err, ctx->errlen, "%s:%ld:%ld: %s", ctx->name, line, col,
             je->text);
    return -INGEST_E_MALFORMED;
}

/* Next document into *doc. Returns 1, 0 at end of input, or an error. */
static int reader_next(struct doc_reader *r, struct correct_json_ctx *ctx,
                       json_t **doc)
{
    json_error_t je;

    memset(&je, 0, sizeof(je));
    if (!reader_skip_space(r))
        return r->read_error ? reader_error(ctx, r, &je) : 0;
    ctx->line = r->line;
    ctx->col = r->col + 1;
    r->chunk_len = 0;
    r->handed = 0;
    *doc = json_load_callback(reader_callback, r,
                              JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
    if (!*doc)
        return reader_error(ctx, r, &je);
    /* position counts the bytes of this document (jansson resets it per
     * call), so the rest of what it was handed goes back. */
    reader_settle(r, r->handed - (size_t)je.position);
    return 1;
}

static int write_doc(json_t *doc, FILE *out, struct correct_json_ctx *ctx)
{
    if (json_dumpf(doc, out, JSON_COMPACT) != 0 || fputc('\n', out) == EOF) {
        snprintf(ctx->err, ctx->errlen, "%s: writing the corrected output: %s",
                 ctx->name, strerror(errno));
        return -INGEST_E_NOINPUT;
    }
    return 0;
}

static int run_docs(struct doc_reader *r, FILE *out,
                    struct correct_json_ctx *ctx, correct_json_doc_fn fn)
{
    json_t *doc = NULL;
    int rc;

    while ((rc = reader_next(r, ctx, &doc)) == 1) {
        rc = fn(&doc, ctx);
        if (rc == 0)
            rc = write_doc(doc, out, ctx);
        json_decref(doc);
        doc = NULL;
        if (rc != 0)
            return rc;
        ctx->doc_index++;
    }
    return rc;
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
    struct doc_reader r = {.src = src, .line = 1};
    int rc;

    r.buf = malloc(READ_CHUNK);
    if (!r.buf)
        return correct_json_nomem(&ctx);
    rc = run_docs(&r, out, &ctx, fn);
    if (rc == 0 && fflush(out) != 0) {
        snprintf(err, errlen, "%s: writing the corrected output: %s", ctx.name,
                 strerror(errno));
        rc = -INGEST_E_NOINPUT;
    }
    free(r.buf);
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

int64_t correct_json_floor_us(int64_t ns)
{
    int64_t q = ns / 1000;

    return (ns % 1000 < 0) ? q - 1 : q;
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
                               const json_t *val)
{
    int rank = clock_domain_rank(user, src, key, strlen(key));

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

int correct_json_otlp_attr_set(json_t *attrs, const char *key, json_t *value)
{
    size_t i;
    json_t *a;

    if (!value)
        return -1;
    json_array_foreach(attrs, i, a)
    {
        const char *k = json_string_value(json_object_get(a, "key"));
        if (k && strcmp(k, key) == 0)
            return json_object_set_new(a, "value", value);
    }
    json_t *kv = json_pack("{s:s}", "key", key);
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
    int keep =
        clock_domain_rank(user, CLOCK_DOMAIN_OTLP_RESOURCE, key, strlen(key));
    size_t i = 0;

    if (correct_json_otlp_attr_set(attrs, key,
                                   correct_json_otlp_str(domain, len)))
        return -1;
    while (i < json_array_size(attrs)) {
        const char *k =
            json_string_value(json_object_get(json_array_get(attrs, i), "key"));
        int rank = k ? clock_domain_rank(user, CLOCK_DOMAIN_OTLP_RESOURCE, k,
                                         strlen(k))
                     : -1;
        if (rank >= 0 && rank < keep && strcmp(k, key) != 0)
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
    t->ref_us = correct_json_floor_us(t->ref_ns);
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
