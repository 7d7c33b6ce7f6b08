/* ingest_zipkin: Zipkin v2 JSON reader: a list of spans, also several lists
 * concatenated or one per line (a bare span object is accepted too). Times
 * are microseconds and become nanoseconds; end = timestamp + duration.
 *
 * The clock domain comes from localEndpoint (ipv4, ipv6, then serviceName;
 * clock_domain_rank), or from a span tag when the user names it with
 * --clock-domain. A shared SERVER span (the server half of an RPC that
 * reuses the client's span ID) is stored with SPAN_F_SHARED and
 * parent_id = span_id, per span_store.h.
 *
 * A span without timestamp (the Zipkin API allows them: incomplete spans)
 * or IDs is counted as invalid, not analysed (ingest.h). A top-level
 * object is a span only when it has a member of one.
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

struct zipkin {
    struct json_lex *lx;
    struct span_store *store;
    const char *user_attr;
    bool strict;
    struct json_span_shape shape;
    size_t nspans;
    /* Last interned domain: consecutive spans mostly share one. */
    struct json_buf last_name;
    uint32_t last_domain;
    /* Current span. */
    struct json_buf best, sys;
    int best_rank, sys_rank;
    bool shared;
};

/* Keep text as the best domain (or system) candidate when rank beats it. */
static int offer(struct zipkin *c, struct json_buf *b, int *best, int rank,
                 const struct json_str *t)
{
    if (rank < 0 || (*best >= 0 && rank >= *best))
        return 0;
    *best = rank;
    return json_lex_copy(c->lx, b, t->p, t->len);
}

/* "localEndpoint": {"serviceName", "ipv4", "ipv6", "port"} */
static int local_endpoint(struct zipkin *c)
{
    struct json_str k, t;
    int r, type, rank;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        rank = k.esc ? -1
                     : clock_domain_rank(c->user_attr, CLOCK_DOMAIN_ZIPKIN, k.p,
                                         k.len);
        if (rank < 0) {
            r = json_lex_skip(c->lx);
        } else if ((r = json_lex_text(c->lx, &t, &type)) == 0 &&
                   type == JSON_STRING && t.len > 0) {
            r = offer(c, &c->best, &c->best_rank, rank, &t);
        }
        if (r < 0)
            return r;
    }
    return r;
}

/* "tags": {"k": "v", ..}: transport system, and a user-named domain. */
static int tags(struct zipkin *c)
{
    struct json_str k, t;
    int r, type, sys, dom;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        sys = JSON_KEY_IS(&k, "messaging.system") ? 0
              : JSON_KEY_IS(&k, "rpc.system")     ? 1
                                                  : -1;
        dom = c->user_attr && !k.esc &&
                      clock_domain_rank(c->user_attr, CLOCK_DOMAIN_ZIPKIN, k.p,
                                        k.len) == 0
                  ? 0
                  : -1;
        if (sys < 0 && dom < 0) {
            r = json_lex_skip(c->lx);
        } else if ((r = json_lex_text(c->lx, &t, &type)) == 0 &&
                   type != JSON_OBJECT && type != JSON_ARRAY &&
                   type != JSON_NULL) {
            r = sys >= 0 ? offer(c, &c->sys, &c->sys_rank, sys, &t)
                         : offer(c, &c->best, &c->best_rank, dom, &t);
        }
        if (r < 0)
            return r;
    }
    return r;
}

static int read_kind(struct zipkin *c, uint8_t *kind)
{
    static const char *const names[] = {"",       "",         "SERVER",
                                        "CLIENT", "PRODUCER", "CONSUMER"};
    struct json_str t;
    int type, r = json_lex_text(c->lx, &t, &type);

    if (r < 0)
        return r;
    *kind = SPAN_KIND_UNSPECIFIED;
    for (int i = SPAN_KIND_SERVER; i <= SPAN_KIND_CONSUMER; i++)
        if (strlen(names[i]) == t.len && memcmp(names[i], t.p, t.len) == 0)
            *kind = (uint8_t)i;
    return 0;
}

static int read_bool(struct zipkin *c, bool *out)
{
    struct json_str t;
    int type = JSON_NULL, r = json_lex_text(c->lx, &t, &type);

    *out = r == 0 && type == JSON_TRUE;
    return r;
}

enum span_field {
    F_OTHER,
    F_TRACE,
    F_SPAN,
    F_PARENT,
    F_KIND,
    F_START,
    F_DURATION,
    F_LOCAL,
    F_TAGS,
    F_SHARED,
};

static enum span_field span_field(const struct json_str *k)
{
    static const struct json_key_map tab[] = {
        JSON_KEY_MAP("traceId", F_TRACE),
        JSON_KEY_MAP("id", F_SPAN),
        JSON_KEY_MAP("parentId", F_PARENT),
        JSON_KEY_MAP("kind", F_KIND),
        JSON_KEY_MAP("timestamp", F_START),
        JSON_KEY_MAP("duration", F_DURATION),
        JSON_KEY_MAP("localEndpoint", F_LOCAL),
        JSON_KEY_MAP("tags", F_TAGS),
        JSON_KEY_MAP("shared", F_SHARED),
    };

    return (enum span_field)json_key_lookup(
        k, tab, sizeof(tab) / sizeof(tab[0]), F_OTHER);
}

static int span_member(struct zipkin *c, const struct json_str *k,
                       struct span_rec *rec, int64_t *dur, unsigned *seen)
{
    enum span_field f = span_field(k);

    *seen |= 1u << f;
    switch (f) {
    case F_TRACE:
        return json_lex_trace_id(c->lx, rec->trace_id,
                                 "a traceId (16 or 32 hex digits)");
    case F_SPAN:
        return json_lex_span_id(c->lx, &rec->span_id, "an id (16 hex digits)");
    case F_PARENT:
        return json_lex_span_id(c->lx, &rec->parent_id,
                                "a parentId (16 hex digits)");
    case F_KIND:
        return read_kind(c, &rec->kind);
    case F_START:
        return json_span_read_us(c->lx, &rec->start_ns,
                                 "timestamp as an unsigned integer "
                                 "(microseconds)");
    case F_DURATION:
        return json_span_read_dur_us(c->lx, dur, "duration in microseconds");
    case F_LOCAL:
        return local_endpoint(c);
    case F_TAGS:
        return tags(c);
    case F_SHARED:
        return read_bool(c, &c->shared);
    default:
        return json_lex_skip(c->lx);
    }
}

/* 1 when the span can be analysed, 0 when it was counted as invalid. */
static int span_check(struct zipkin *c, struct span_rec *rec, int64_t dur,
                      unsigned seen)
{
    static const struct json_span_names names = {"a traceId", "an id",
                                                 "a timestamp"};

    json_span_finish_us(rec, dur);
    return json_span_valid(c->lx, c->store, c->strict, rec,
                           seen & 1u << F_START, &names, c->nspans);
}

static uint32_t domain_of(struct zipkin *c)
{
    const char *name = c->best_rank >= 0 ? c->best.p : CLOCK_DOMAIN_UNKNOWN;
    size_t len = c->best_rank >= 0 ? c->best.len : strlen(CLOCK_DOMAIN_UNKNOWN);

    if (c->last_domain != NO_DOMAIN && c->last_name.len == len &&
        memcmp(c->last_name.p, name, len) == 0)
        return c->last_domain;
    c->last_domain = span_store_domain_id(c->store, name, len);
    if (c->last_domain != NO_DOMAIN &&
        json_lex_copy(c->lx, &c->last_name, name, len) < 0)
        c->last_domain = NO_DOMAIN;
    return c->last_domain;
}

static int span_add(struct zipkin *c, struct span_rec *rec)
{
    if (c->shared && rec->kind == SPAN_KIND_SERVER) {
        rec->flags |= SPAN_F_SHARED | SPAN_F_HAS_PARENT;
        rec->parent_id = rec->span_id;
    } else if (rec->parent_id) {
        rec->flags |= SPAN_F_HAS_PARENT;
    }
    if ((rec->domain = domain_of(c)) == NO_DOMAIN)
        return json_lex_nomem(c->lx);
    if (c->sys_rank >= 0) {
        rec->system = span_store_system_id(c->store, c->sys.p, c->sys.len);
        if (rec->system == UINT16_MAX)
            return json_lex_nomem(c->lx);
    }
    return span_store_add(c->store, rec) < 0 ? json_lex_nomem(c->lx) : 0;
}

/* A span object. `bare`: at the top level, where an object with no span
 * member at all is not a span (and leaves the shape unrecognised). */
static int span(struct zipkin *c, bool bare)
{
    struct span_rec rec;
    struct json_str k;
    int64_t dur = 0;
    unsigned seen = 0;
    int r;

    memset(&rec, 0, sizeof(rec));
    c->best_rank = c->sys_rank = -1;
    c->shared = false;
    json_lex_mark(c->lx);
    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0)
        if ((r = span_member(c, &k, &rec, &dur, &seen)) < 0)
            return r;
    if (r < 0)
        return r;
    if (bare && !(seen & ~1u))
        return 0;
    c->shape.recognised = true;
    c->nspans++;
    if ((r = span_check(c, &rec, dur, seen)) <= 0)
        return r;
    return span_add(c, &rec);
}

static int span_list(struct zipkin *c)
{
    int r;

    c->shape.recognised = true; /* even when empty */
    if ((r = json_lex_begin_array(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0)
        if ((r = span(c, false)) < 0)
            return r;
    return r;
}

static int each_value(void *ctx, int kind)
{
    struct zipkin *c = ctx;

    return kind == JSON_OBJECT ? span(c, true) : span_list(c);
}

static int zipkin_read(struct source *src, struct span_store *store,
                       const struct ingest_opts *opts, char *err, size_t errlen)
{
    struct zipkin c;
    int r;

    memset(&c, 0, sizeof(c));
    c.store = store;
    c.user_attr = opts ? opts->clock_domain_attr : NULL;
    c.strict = opts && opts->strict;
    c.last_domain = NO_DOMAIN;
    c.shape.expected = "a Zipkin v2 JSON list of spans ([{\"traceId\": ..., "
                       "\"id\": ..., \"timestamp\": ...}])";
    r = json_span_read_all(src, &c.lx, each_value, &c, &c.shape, err, errlen);
    free(c.last_name.p);
    free(c.best.p);
    free(c.sys.p);
    return r;
}

static bool zipkin_sniff(const unsigned char *data, size_t n)
{
    /* A bare array of Jaeger traces or spans also starts with '['; Jaeger
     * spells "traceID" and "spanID", Zipkin "traceId" and "id". */
    return json_sniff_first(data, n) == '[' &&
           !(json_sniff_key(data, n, "traceID") &&
             (json_sniff_key(data, n, "spans") ||
              json_sniff_key(data, n, "spanID")));
}

const struct ingest_ops ingest_zipkin_ops = {
    .name = "zipkin",
    .format = TRACE_FORMAT_ZIPKIN,
    .sniff = zipkin_sniff,
    .read = zipkin_read,
};
