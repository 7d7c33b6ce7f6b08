/* trace_writer_otlp_proto: span descriptions -> OTLP protobuf, one
 * length-delimited ExportTraceServiceRequest per batch (the layout
 * ingest_otlp_proto reads). Spans are grouped into one ResourceSpans per
 * (host_name, service_name), in order of first appearance, each with one
 * ScopeSpans. The messages are built in an arena that is reset per batch;
 * they point at the caller's strings, which protobuf-c only reads. */
#include "output/trace_writer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/otlp_proto.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define SCOPE_NAME "skewscope"

struct trace_writer {
    FILE *out;
    struct otlp_arena *arena;
    uint8_t *buf;
    size_t cap;
};

/* One ResourceSpans being filled. */
struct group {
    const char *host, *service;
    size_t count, fill;
    Span **spans;
};

static struct trace_writer *wr_create(FILE *out, int lines)
{
    struct trace_writer *w = calloc(1, sizeof(*w));

    (void)lines;
    if (!w)
        return NULL;
    w->out = out;
    w->arena = otlp_arena_create();
    if (!w->arena) {
        free(w);
        return NULL;
    }
    return w;
}

static void *wr_alloc(struct trace_writer *w, size_t size)
{
    return otlp_arena_alloc(w->arena, size);
}

static char *str_or_empty(const char *s)
{
    return (char *)(s ? s : "");
}

static KeyValue *kv_string(struct trace_writer *w, const char *key,
                           const char *value)
{
    KeyValue *kv = wr_alloc(w, sizeof(*kv));
    AnyValue *v = wr_alloc(w, sizeof(*v));

    if (!kv || !v)
        return NULL;
    *kv = (KeyValue)OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    *v = (AnyValue)OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    v->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = str_or_empty(value);
    kv->key = str_or_empty(key);
    kv->value = v;
    return kv;
}

static bool same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return a == b || strcmp(a, b) == 0;
}

static uint8_t *span_id_bytes(struct trace_writer *w, uint64_t id)
{
    uint8_t *b = wr_alloc(w, 8);

    if (b)
        otlp_proto_span_id_bytes(id, b);
    return b;
}

static int fill_attrs(struct trace_writer *w, Span *sp,
                      const struct span_desc *d)
{
    if (d->nattrs == 0)
        return 0;
    sp->attributes = wr_alloc(w, d->nattrs * sizeof(*sp->attributes));
    if (!sp->attributes)
        return -1;
    for (size_t i = 0; i < d->nattrs; i++)
        if (!(sp->attributes[i] =
                  kv_string(w, d->attrs[i].key, d->attrs[i].value)))
            return -1;
    sp->n_attributes = d->nattrs;
    return 0;
}

static int fill_links(struct trace_writer *w, Span *sp,
                      const struct span_desc *d)
{
    if (d->nlinks == 0)
        return 0;
    sp->links = wr_alloc(w, d->nlinks * sizeof(*sp->links));
    if (!sp->links)
        return -1;
    for (size_t i = 0; i < d->nlinks; i++) {
        Opentelemetry__Proto__Trace__V1__Span__Link *l =
            wr_alloc(w, sizeof(*l));
        if (!l)
            return -1;
        *l = (Opentelemetry__Proto__Trace__V1__Span__Link)
            OPENTELEMETRY__PROTO__TRACE__V1__SPAN__LINK__INIT;
        l->trace_id.data = (uint8_t *)d->links[i].trace_id;
        l->trace_id.len = 16;
        l->span_id.data = span_id_bytes(w, d->links[i].span_id);
        if (!l->span_id.data)
            return -1;
        l->span_id.len = 8;
        sp->links[i] = l;
    }
    sp->n_links = d->nlinks;
    return 0;
}

static int fill_events(struct trace_writer *w, Span *sp,
                       const struct span_desc *d)
{
    if (d->nevents == 0)
        return 0;
    sp->events = wr_alloc(w, d->nevents * sizeof(*sp->events));
    if (!sp->events)
        return -1;
    for (size_t i = 0; i < d->nevents; i++) {
        Opentelemetry__Proto__Trace__V1__Span__Event *e =
            wr_alloc(w, sizeof(*e));
        if (!e)
            return -1;
        *e = (Opentelemetry__Proto__Trace__V1__Span__Event)
            OPENTELEMETRY__PROTO__TRACE__V1__SPAN__EVENT__INIT;
        e->time_unix_nano = (uint64_t)d->events[i].time_ns;
        e->name = str_or_empty(d->events[i].name);
        sp->events[i] = e;
    }
    sp->n_events = d->nevents;
    return 0;
}

static Span *make_span(struct trace_writer *w, const struct span_desc *d)
{
    Span *sp = wr_alloc(w, sizeof(*sp));

    if (!sp)
        return NULL;
    *sp = (Span)OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    sp->trace_id.data = (uint8_t *)d->trace_id;
    sp->trace_id.len = 16;
    sp->span_id.data = span_id_bytes(w, d->span_id);
    sp->span_id.len = 8;
    if (d->parent_span_id) {
        sp->parent_span_id.data = span_id_bytes(w, d->parent_span_id);
        sp->parent_span_id.len = 8;
    }
    if (!sp->span_id.data || (d->parent_span_id && !sp->parent_span_id.data))
        return NULL;
    sp->name = str_or_empty(d->name);
    sp->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)d->kind;
    sp->start_time_unix_nano = (uint64_t)d->start_ns;
    sp->end_time_unix_nano = (uint64_t)d->end_ns;
    if (fill_attrs(w, sp, d) < 0 || fill_links(w, sp, d) < 0 ||
        fill_events(w, sp, d) < 0)
        return NULL;
    return sp;
}

/* Assign each span to a group (gi[i]); returns the group count or -1. */
static long make_groups(struct trace_writer *w, const struct span_desc *spans,
                        size_t n, struct group **out, size_t *gi)
{
    struct group *g = wr_alloc(w, (n ? n : 1) * sizeof(*g));
    size_t ng = 0, last = 0;

    if (!g)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct span_desc *d = &spans[i];
        size_t k = last;
        if (k >= ng || !same_str(g[k].host, d->host_name) ||
            !same_str(g[k].service, d->service_name)) {
            for (k = 0; k < ng; k++)
                if (same_str(g[k].host, d->host_name) &&
                    same_str(g[k].service, d->service_name))
                    break;
        }
        if (k == ng) {
            g[ng] = (struct group){.host = d->host_name,
                                   .service = d->service_name};
            ng++;
        }
        g[k].count++;
        gi[i] = last = k;
    }
    *out = g;
    return (long)ng;
}

static ResourceSpans *make_resource_spans(struct trace_writer *w,
                                          struct group *g)
{
    ResourceSpans *rs = wr_alloc(w, sizeof(*rs));
    Opentelemetry__Proto__Resource__V1__Resource *res =
        wr_alloc(w, sizeof(*res));
    ScopeSpans *ss = wr_alloc(w, sizeof(*ss));
    Opentelemetry__Proto__Common__V1__InstrumentationScope *scope =
        wr_alloc(w, sizeof(*scope));
    KeyValue **attrs = wr_alloc(w, 2 * sizeof(*attrs));
    ScopeSpans **ssv = wr_alloc(w, sizeof(*ssv));

    g->spans = wr_alloc(w, (g->count ? g->count : 1) * sizeof(*g->spans));
    if (!rs || !res || !ss || !scope || !attrs || !ssv || !g->spans)
        return NULL;
    *rs = (ResourceSpans)OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    *res = (Opentelemetry__Proto__Resource__V1__Resource)
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    *ss = (ScopeSpans)OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    *scope = (Opentelemetry__Proto__Common__V1__InstrumentationScope)
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope->name = SCOPE_NAME;
    if (g->host &&
        !(attrs[res->n_attributes++] = kv_string(w, "host.name", g->host)))
        return NULL;
    if (g->service && !(attrs[res->n_attributes++] =
                            kv_string(w, "service.name", g->service)))
        return NULL;
    res->attributes = attrs;
    rs->resource = res;
    ss->scope = scope;
    ss->spans = g->spans;
    ss->n_spans = g->count;
    ssv[0] = ss;
    rs->scope_spans = ssv;
    rs->n_scope_spans = 1;
    return rs;
}

static Request *build_request(struct trace_writer *w,
                              const struct span_desc *spans, size_t n)
{
    Request *req = wr_alloc(w, sizeof(*req));
    size_t *gi = wr_alloc(w, (n ? n : 1) * sizeof(*gi));
    struct group *g;
    long ng;

    if (!req || !gi || (ng = make_groups(w, spans, n, &g, gi)) < 0)
        return NULL;
    *req = (Request)
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req->resource_spans =
        wr_alloc(w, (ng ? (size_t)ng : 1) * sizeof(ResourceSpans *));
    if (!req->resource_spans)
        return NULL;
    for (long k = 0; k < ng; k++)
        if (!(req->resource_spans[k] = make_resource_spans(w, &g[k])))
            return NULL;
    req->n_resource_spans = (size_t)ng;
    for (size_t i = 0; i < n; i++) {
        struct group *gr = &g[gi[i]];
        if (!(gr->spans[gr->fill++] = make_span(w, &spans[i])))
            return NULL;
    }
    return req;
}

static int write_message(struct trace_writer *w, const Request *req)
{
    size_t size =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            req);
    uint8_t prefix[10];
    size_t k = otlp_proto_put_varint(prefix, size);

    if (size > w->cap) {
        uint8_t *nb = realloc(w->buf, size);
        if (!nb)
            return -1;
        w->buf = nb;
        w->cap = size;
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        req, w->buf);
    if (fwrite(prefix, 1, k, w->out) != k ||
        fwrite(w->buf, 1, size, w->out) != size)
        return -1;
    return 0;
}

static int wr_write_batch(struct trace_writer *w, const struct span_desc *spans,
                          size_t n)
{
    otlp_arena_reset(w->arena);
    Request *req = build_request(w, spans, n);
    if (!req)
        return -1;
    return write_message(w, req);
}

static int wr_finish(struct trace_writer *w)
{
    int rc = 0;

    if (fflush(w->out) != 0 || ferror(w->out))
        rc = -1;
    otlp_arena_destroy(w->arena);
    free(w->buf);
    free(w);
    return rc;
}

const struct trace_writer_ops trace_writer_otlp_proto_ops = {
    .name = "otlp-proto",
    .format = TRACE_FORMAT_OTLP_PROTO,
    .create = wr_create,
    .write_batch = wr_write_batch,
    .finish = wr_finish,
};
