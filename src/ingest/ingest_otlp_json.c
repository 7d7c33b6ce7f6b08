/* ingest_otlp_json: OTLP JSON trace reader (ExportTraceServiceRequest /
 * TracesData). Accepts one document, one document per line (Collector file
 * exporter) or concatenated documents; lowerCamelCase and proto snake_case
 * field names; the legacy instrumentationLibrarySpans; Jaeger's api_v3
 * responses, which wrap each TracesData in {"result": ...} (one per chunk
 * of a stream). Only the fields the span_store keeps are decoded;
 * everything else is skipped by json_lex (and checked by its string rule).
 * A span without IDs or times is counted as invalid (ingest.h).
 *
 * The clock domain comes from the resource attributes (clock_domain_rank).
 * A "resource" that follows its "scopeSpans" is handled by patching the
 * domain of the element's spans when the resourceSpans element closes.
 *
 * Flow: source -> json_lex -> here -> span_store. */
#include "ingest/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/json_lex.h"
#include "ingest/json_span.h"
#include "ingest/source.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "util/ids.h"

#define NO_DOMAIN UINT32_MAX

struct link_tmp {
    uint8_t trace_id[16];
    uint64_t span_id;
};

struct otlp {
    struct json_lex *lx;
    struct span_store *store;
    const char *user_attr;
    bool strict;
    struct json_span_shape shape;
    uint32_t unknown; /* id of CLOCK_DOMAIN_UNKNOWN, or NO_DOMAIN */
    size_t nspans;    /* spans seen in this file, for messages */
    /* Current resourceSpans element. */
    size_t rs_first;      /* store index of its first span */
    size_t rs_pending;    /* spans [rs_first, rs_pending) lack the domain */
    uint32_t rs_domain;   /* NO_DOMAIN until its resource is read */
    struct json_buf best; /* best clock domain candidate value so far */
    int best_rank;
    /* Current span. */
    struct json_buf sys;
    int sys_rank;
    struct link_tmp *links;
    size_t nlinks, links_cap;
    struct json_buf aval; /* value of the current attribute */
};

enum attr_mode { ATTR_RESOURCE, ATTR_SPAN };

/* Rank of an attribute key as a clock domain (resource) or transport system
 * (span) source; -1 when it is neither. */
static int attr_rank(const struct otlp *c, enum attr_mode mode,
                     const struct json_str *key)
{
    if (key->esc)
        return -1;
    if (mode == ATTR_RESOURCE)
        return clock_domain_rank(c->user_attr, CLOCK_DOMAIN_OTLP_RESOURCE,
                                 key->p, key->len);
    if (JSON_KEY_IS(key, "messaging.system"))
        return 0;
    if (JSON_KEY_IS(key, "rpc.system"))
        return 1;
    return -1;
}

static bool is_scalar_value_key(const struct json_str *k)
{
    return JSON_KEY_IS(k, "stringValue") || JSON_KEY_IS(k, "intValue") ||
           JSON_KEY_IS(k, "boolValue") || JSON_KEY_IS(k, "doubleValue") ||
           JSON_KEY_IS(k, "string_value") || JSON_KEY_IS(k, "int_value") ||
           JSON_KEY_IS(k, "bool_value") || JSON_KEY_IS(k, "double_value");
}

/* AnyValue object: copy a scalar's text into c->aval. Returns 1 when a
 * scalar was found, 0 when not (arrays, kvlists, bytes), or < 0. */
static int any_value(struct otlp *c)
{
    struct json_str k, t;
    int r, type, found = 0;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (!is_scalar_value_key(&k)) {
            r = json_lex_skip(c->lx);
        } else if ((r = json_lex_text(c->lx, &t, &type)) == 0 &&
                   type != JSON_OBJECT && type != JSON_ARRAY &&
                   type != JSON_NULL) {
            r = json_lex_copy(c->lx, &c->aval, t.p, t.len);
            found = 1;
        }
        if (r < 0)
            return r;
    }
    return r < 0 ? r : found;
}

/* Keep the value as the best candidate when its rank beats the current. */
static int attr_offer(struct otlp *c, enum attr_mode mode, int rank)
{
    int *best = mode == ATTR_RESOURCE ? &c->best_rank : &c->sys_rank;
    struct json_buf *b = mode == ATTR_RESOURCE ? &c->best : &c->sys;

    if (rank < 0 || (*best >= 0 && rank >= *best))
        return 0;
    if (mode == ATTR_RESOURCE && c->aval.len == 0)
        return 0; /* an empty name would merge unrelated clocks */
    *best = rank;
    return json_lex_copy(c->lx, b, c->aval.p, c->aval.len);
}

/* One KeyValue {"key": .., "value": {..}}, in either member order. */
static int attribute(struct otlp *c, enum attr_mode mode)
{
    struct json_str k, t;
    int r, type, rank = -1, have_val = 0;
    bool have_key = false;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "key")) {
            if ((r = json_lex_text(c->lx, &t, &type)) < 0)
                return r;
            have_key = true;
            rank = attr_rank(c, mode, &t);
        } else if (JSON_KEY_IS(&k, "value") && have_key && rank < 0) {
            r = json_lex_skip(c->lx); /* the common case: not wanted */
        } else if (JSON_KEY_IS(&k, "value")) {
            have_val = r = any_value(c);
        } else {
            r = json_lex_skip(c->lx);
        }
        if (r < 0)
            return r;
    }
    if (r < 0)
        return r;
    return have_key && have_val > 0 ? attr_offer(c, mode, rank) : 0;
}

static int attributes(struct otlp *c, enum attr_mode mode)
{
    int r;

    if ((r = json_lex_begin_array(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0)
        if ((r = attribute(c, mode)) < 0)
            return r;
    return r;
}

static int read_trace_id(struct otlp *c, uint8_t out[16])
{
    return json_lex_trace_id(c->lx, out,
                             "a trace ID (32 hex digits or base64 string)");
}

static int read_span_id(struct otlp *c, uint64_t *out)
{
    return json_lex_span_id(c->lx, out,
                            "a span ID (16 hex digits or base64 string)");
}

static int link_one(struct otlp *c)
{
    struct link_tmp l = {{0}, 0};
    struct json_str k;
    int r;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "traceId") || JSON_KEY_IS(&k, "trace_id"))
            r = read_trace_id(c, l.trace_id);
        else if (JSON_KEY_IS(&k, "spanId") || JSON_KEY_IS(&k, "span_id"))
            r = read_span_id(c, &l.span_id);
        else
            r = json_lex_skip(c->lx);
        if (r < 0)
            return r;
    }
    if (r < 0 || l.span_id == 0 || id_trace_is_zero(l.trace_id))
        return r; /* a link to nothing carries no edge */
    if (c->nlinks == c->links_cap) {
        size_t ncap = c->links_cap ? 2 * c->links_cap : 4;
        struct link_tmp *nl = realloc(c->links, ncap * sizeof(*nl));
        if (!nl)
            return json_lex_nomem(c->lx);
        c->links = nl;
        c->links_cap = ncap;
    }
    c->links[c->nlinks++] = l;
    return 0;
}

static int links(struct otlp *c)
{
    int r;

    if ((r = json_lex_begin_array(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0)
        if ((r = link_one(c)) < 0)
            return r;
    return r;
}

/* "SPAN_KIND_SERVER", "SERVER" or an integer. */
static int read_kind(struct otlp *c, uint8_t *kind)
{
    static const char *const names[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
                                        "CLIENT",      "PRODUCER", "CONSUMER"};
    struct json_str t;
    int type, r = json_lex_text(c->lx, &t, &type);
    int64_t v;

    if (r < 0)
        return r;
    *kind = SPAN_KIND_UNSPECIFIED;
    if (type == JSON_NUMBER) {
        char tmp[24];
        if (t.len < sizeof(tmp)) {
            memcpy(tmp, t.p, t.len);
            tmp[t.len] = '\0';
            v = strtoll(tmp, NULL, 10);
            if (v >= 0 && v <= SPAN_KIND_CONSUMER)
                *kind = (uint8_t)v;
        }
        return 0;
    }
    if (type != JSON_STRING)
        return type == JSON_NULL ? 0 : json_lex_fail(c->lx, "a span kind");
    if (t.len > 10 && memcmp(t.p, "SPAN_KIND_", 10) == 0) {
        t.p += 10;
        t.len -= 10;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == t.len && memcmp(names[i], t.p, t.len) == 0)
            *kind = (uint8_t)i;
    return 0;
}

enum span_field {
    F_OTHER,
    F_TRACE,
    F_SPAN,
    F_PARENT,
    F_KIND,
    F_START,
    F_END,
    F_ATTRS,
    F_LINKS,
};

static enum span_field span_field(const struct json_str *k)
{
    static const struct json_key_map tab[] = {
        JSON_KEY_MAP("traceId", F_TRACE),
        JSON_KEY_MAP("spanId", F_SPAN),
        JSON_KEY_MAP("parentSpanId", F_PARENT),
        JSON_KEY_MAP("kind", F_KIND),
        JSON_KEY_MAP("startTimeUnixNano", F_START),
        JSON_KEY_MAP("endTimeUnixNano", F_END),
        JSON_KEY_MAP("attributes", F_ATTRS),
        JSON_KEY_MAP("links", F_LINKS),
        JSON_KEY_MAP("trace_id", F_TRACE),
        JSON_KEY_MAP("span_id", F_SPAN),
        JSON_KEY_MAP("parent_span_id", F_PARENT),
        JSON_KEY_MAP("start_time_unix_nano", F_START),
        JSON_KEY_MAP("end_time_unix_nano", F_END),
    };

    return (enum span_field)json_key_lookup(
        k, tab, sizeof(tab) / sizeof(tab[0]), F_OTHER);
}

/* A fixed64 time, 0 .. 2^64 - 1, clamped as the store clamps. */
static int read_time(struct otlp *c, int64_t *ns, const char *expected)
{
    uint64_t t = 0;
    int r = json_lex_uint64(c->lx, &t, expected);

    *ns = span_time_from_u64(t);
    return r;
}

/* Read one span member into rec; *seen collects which were present. */
static int span_member(struct otlp *c, const struct json_str *k,
                       struct span_rec *rec, unsigned *seen)
{
    enum span_field f = span_field(k);

    *seen |= 1u << f;
    switch (f) {
    case F_TRACE:
        return read_trace_id(c, rec->trace_id);
    case F_SPAN:
        return read_span_id(c, &rec->span_id);
    case F_PARENT:
        return read_span_id(c, &rec->parent_id);
    case F_KIND:
        return read_kind(c, &rec->kind);
    case F_START:
        return read_time(c, &rec->start_ns,
                         "startTimeUnixNano as an unsigned integer (ns)");
    case F_END:
        return read_time(c, &rec->end_ns,
                         "endTimeUnixNano as an unsigned integer (ns)");
    case F_ATTRS:
        return attributes(c, ATTR_SPAN);
    case F_LINKS:
        return links(c);
    default:
        return json_lex_skip(c->lx);
    }
}

/* 1 when the span can be analysed, 0 when it was counted as invalid. */
static int span_check(struct otlp *c, const struct span_rec *rec, unsigned seen)
{
    static const struct json_span_names names = {
        "a traceId", "a spanId", "a startTimeUnixNano and an endTimeUnixNano"};
    unsigned times = 1u << F_START | 1u << F_END;

    return json_span_valid(c->lx, c->store, c->strict, rec,
                           (seen & times) == times, &names, c->nspans);
}

static int span_store_rec(struct otlp *c, struct span_rec *rec)
{
    int64_t idx;

    if (rec->parent_id)
        rec->flags |= SPAN_F_HAS_PARENT;
    rec->domain = c->rs_domain;
    if (c->sys_rank >= 0) {
        rec->system = span_store_system_id(c->store, c->sys.p, c->sys.len);
        if (rec->system == UINT16_MAX)
            return json_lex_nomem(c->lx);
    }
    idx = span_store_add(c->store, rec);
    if (idx < 0)
        return json_lex_nomem(c->lx);
    for (size_t i = 0; i < c->nlinks; i++)
        if (span_store_add_link(c->store, (size_t)idx, c->links[i].trace_id,
                                c->links[i].span_id) < 0)
            return json_lex_nomem(c->lx);
    return 0;
}

static int span(struct otlp *c)
{
    struct span_rec rec;
    struct json_str k;
    unsigned seen = 0;
    int r;

    memset(&rec, 0, sizeof(rec));
    c->nspans++;
    c->sys_rank = -1;
    c->nlinks = 0;
    json_lex_mark(c->lx);
    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0)
        if ((r = span_member(c, &k, &rec, &seen)) < 0)
            return r;
    if (r < 0 || (r = span_check(c, &rec, seen)) <= 0)
        return r;
    return span_store_rec(c, &rec);
}

static int scope_spans(struct otlp *c)
{
    struct json_str k;
    int r;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (!JSON_KEY_IS(&k, "spans")) {
            r = json_lex_skip(c->lx);
        } else if ((r = json_lex_begin_array(c->lx)) > 0) {
            while ((r = json_lex_next_elem(c->lx)) > 0)
                if ((r = span(c)) < 0)
                    return r;
        }
        if (r < 0)
            return r;
    }
    return r;
}

static uint32_t unknown_domain(struct otlp *c)
{
    if (c->unknown == NO_DOMAIN)
        c->unknown = span_store_domain_id(c->store, CLOCK_DOMAIN_UNKNOWN,
                                          strlen(CLOCK_DOMAIN_UNKNOWN));
    return c->unknown;
}

/* "resource": {"attributes": [...]} -> c->rs_domain. */
static int resource(struct otlp *c)
{
    struct json_str k;
    int open, r = 0;

    c->best_rank = -1;
    if ((open = json_lex_begin_object(c->lx)) < 0)
        return open;
    while (open && (r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "attributes"))
            r = attributes(c, ATTR_RESOURCE);
        else
            r = json_lex_skip(c->lx);
        if (r < 0)
            return r;
    }
    if (r < 0)
        return r;
    c->rs_domain = c->best_rank >= 0
                       ? span_store_domain_id(c->store, c->best.p, c->best.len)
                       : unknown_domain(c);
    if (c->rs_domain == NO_DOMAIN)
        return json_lex_nomem(c->lx);
    c->rs_pending = span_store_count(c->store);
    return 0;
}

static bool is_scope_spans_key(const struct json_str *k)
{
    return JSON_KEY_IS(k, "scopeSpans") || JSON_KEY_IS(k, "scope_spans") ||
           JSON_KEY_IS(k, "instrumentationLibrarySpans") ||
           JSON_KEY_IS(k, "instrumentation_library_spans");
}

/* Give spans read before their resource (or without one) their domain. */
static int patch_domains(struct otlp *c)
{
    size_t end =
        c->rs_domain == NO_DOMAIN ? span_store_count(c->store) : c->rs_pending;

    if (c->rs_domain == NO_DOMAIN &&
        (c->rs_domain = unknown_domain(c)) == NO_DOMAIN)
        return json_lex_nomem(c->lx);
    for (size_t i = c->rs_first; i < end; i++)
        span_store_at(c->store, i)->domain = c->rs_domain;
    return 0;
}

static int resource_spans(struct otlp *c)
{
    struct json_str k;
    int r;

    c->rs_first = c->rs_pending = span_store_count(c->store);
    c->rs_domain = NO_DOMAIN;
    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "resource")) {
            r = resource(c);
        } else if (!is_scope_spans_key(&k)) {
            r = json_lex_skip(c->lx);
        } else if ((r = json_lex_begin_array(c->lx)) > 0) {
            while ((r = json_lex_next_elem(c->lx)) > 0)
                if ((r = scope_spans(c)) < 0)
                    break;
        }
        if (r < 0)
            break;
    }
    /* Spans already stored keep a valid domain even when we fail. */
    if (patch_domains(c) < 0 && r >= 0)
        r = -INGEST_E_NOMEM;
    return r;
}

/* "resourceSpans": [...] */
static int resource_spans_list(struct otlp *c)
{
    int r;

    c->shape.recognised = true; /* even when empty or null */
    if ((r = json_lex_begin_array(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0)
        if ((r = resource_spans(c)) < 0)
            return r;
    return r;
}

/* A TracesData object; `outer`: at the top level, where a Jaeger api_v3
 * "result" may wrap one. */
static int document(struct otlp *c, bool outer)
{
    struct json_str k;
    int r;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "resourceSpans") ||
            JSON_KEY_IS(&k, "resource_spans"))
            r = resource_spans_list(c);
        else if (outer && JSON_KEY_IS(&k, "result") &&
                 json_lex_peek(c->lx) == JSON_OBJECT)
            r = document(c, false);
        else
            r = json_lex_skip(c->lx);
        if (r < 0)
            return r;
    }
    return r;
}

static int each_value(void *ctx, int kind)
{
    struct otlp *c = ctx;

    (void)kind;
    return document(c, true);
}

static int otlp_read(struct source *src, struct span_store *store,
                     const struct ingest_opts *opts, char *err, size_t errlen)
{
    struct otlp c;
    int r;

    memset(&c, 0, sizeof(c));
    c.store = store;
    c.user_attr = opts ? opts->clock_domain_attr : NULL;
    c.strict = opts && opts->strict;
    c.unknown = NO_DOMAIN;
    c.shape.expected = "an OTLP JSON document ({\"resourceSpans\": [...]}, "
                       "or a Jaeger api_v3 response {\"result\": "
                       "{\"resourceSpans\": [...]}})";
    r = json_span_read_all(src, &c.lx, each_value, &c, &c.shape, err, errlen);
    free(c.best.p);
    free(c.sys.p);
    free(c.aval.p);
    free(c.links);
    return r;
}

static bool otlp_sniff(const unsigned char *data, size_t n)
{
    return json_sniff_first(data, n) == '{' &&
           (json_sniff_key(data, n, "resourceSpans") ||
            json_sniff_key(data, n, "resource_spans"));
}

const struct ingest_ops ingest_otlp_json_ops = {
    .name = "otlp-json",
    .format = TRACE_FORMAT_OTLP_JSON,
    .sniff = otlp_sniff,
    .read = otlp_read,
};
