/* ingest_otlp_proto: OTLP protobuf trace files (ExportTraceServiceRequest
 * messages, length-delimited or one plain message) -> span_store.
 *
 * The stream (otlp_proto.c) hands over one decoded message at a time, held
 * in an arena that is reset per message, so memory stays at one message
 * whatever the file size. */
#include "ingest/ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ingest/otlp_proto.h"
#include "ingest/source.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "util/log.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

/* Per-read state. */
struct reader {
    struct otlp_proto_stream *st;
    struct span_store *store;
    const char *user_attr;
    const char *name; /* source name */
    char *err;
    size_t errlen;
    /* Last interned transport system: spans repeat it. */
    char sys_name[64];
    size_t sys_len;
    uint16_t sys_id;
    /* Where the current span sits, for messages. */
    size_t rs, ss, sp;
};

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Binary unless it reads as JSON text. A plain request starts with 0x0a
 * ('\n'), so leading "white space" alone proves nothing: text means the
 * first other byte opens a JSON object or array and no control byte (which
 * protobuf lengths and tags below 0x20 produce) appears early on. */
static bool otlp_proto_sniff(const unsigned char *data, size_t n)
{
    size_t i = 0, lim = n < 256 ? n : 256;

    while (i < n && is_space(data[i]))
        i++;
    if (i == n)
        return false;
    if (data[i] != '{' && data[i] != '[')
        return true;
    for (i = 0; i < lim; i++)
        if (data[i] < 0x20 && !is_space(data[i]))
            return true;
    return false;
}

static int reader_fail(struct reader *r, const char *what)
{
    snprintf(r->err, r->errlen,
             "%s: byte %" PRIu64
             ": resource_spans[%zu].scope_spans[%zu].spans[%zu]: %s",
             r->name, otlp_proto_stream_offset(r->st), r->rs, r->ss, r->sp,
             what);
    return -INGEST_E_MALFORMED;
}

static int reader_nomem(struct reader *r)
{
    snprintf(r->err, r->errlen, "%s: out of memory", r->name);
    return -INGEST_E_NOMEM;
}

static uint32_t resource_domain(struct reader *r, const ResourceSpans *rs)
{
    char buf[128];
    const char *name = CLOCK_DOMAIN_UNKNOWN;
    size_t len = strlen(CLOCK_DOMAIN_UNKNOWN);

    otlp_proto_resource_domain(rs->resource, r->user_attr, &name, &len, buf,
                               sizeof(buf));
    return span_store_domain_id(r->store, name, len);
}

/* Transport system from the span attributes: messaging.system wins over
 * rpc.system; 0 when neither is a string. */
static uint16_t span_system(struct reader *r, const Span *sp)
{
    const char *val = NULL;

    for (size_t i = 0; i < sp->n_attributes; i++) {
        const KeyValue *kv = sp->attributes[i];
        if (!kv->value ||
            kv->value->value_case !=
                OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
            continue;
        if (strcmp(kv->key, "messaging.system") == 0) {
            val = kv->value->string_value;
            break;
        }
        if (!val && strcmp(kv->key, "rpc.system") == 0)
            val = kv->value->string_value;
    }
    if (!val || !*val)
        return 0;
    size_t len = strlen(val);
    if (len == r->sys_len && memcmp(val, r->sys_name, len) == 0)
        return r->sys_id;
    uint16_t id = span_store_system_id(r->store, val, len);
    if (id == UINT16_MAX) {
        log_ratelimited(LOG_WARN, 3, "%s: too many transport systems", r->name);
        return 0;
    }
    if (len < sizeof(r->sys_name)) {
        memcpy(r->sys_name, val, len);
        r->sys_len = len;
        r->sys_id = id;
    }
    return id;
}

static int add_links(struct reader *r, size_t idx, const Span *sp)
{
    for (size_t i = 0; i < sp->n_links; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Link *l = sp->links[i];
        if (l->trace_id.len != 16 || l->span_id.len != 8)
            return reader_fail(r, "link trace_id must have 16 bytes and "
                                  "span_id 8 bytes");
        if (span_store_add_link(r->store, idx, l->trace_id.data,
                                otlp_proto_span_id(l->span_id.data)) < 0)
            return reader_nomem(r);
    }
    return 0;
}

static int add_span(struct reader *r, const Span *sp, uint32_t domain)
{
    struct span_rec rec;
    char what[96];

    if (sp->trace_id.len != 16 || sp->span_id.len != 8 ||
        (sp->parent_span_id.len != 0 && sp->parent_span_id.len != 8)) {
        snprintf(what, sizeof(what),
                 "expected IDs of 16/8/0 or 8 bytes (trace/span/parent), "
                 "got %zu/%zu/%zu",
                 sp->trace_id.len, sp->span_id.len, sp->parent_span_id.len);
        return reader_fail(r, what);
    }
    memset(&rec, 0, sizeof(rec));
    memcpy(rec.trace_id, sp->trace_id.data, 16);
    rec.span_id = otlp_proto_span_id(sp->span_id.data);
    if (sp->parent_span_id.len == 8) {
        rec.parent_id = otlp_proto_span_id(sp->parent_span_id.data);
        rec.flags = SPAN_F_HAS_PARENT;
    }
    rec.start_ns = (int64_t)sp->start_time_unix_nano;
    rec.end_ns = (int64_t)sp->end_time_unix_nano;
    rec.domain = domain;
    rec.link = SPAN_NO_LINK;
    rec.kind = (unsigned)sp->kind <= SPAN_KIND_CONSUMER ? (uint8_t)sp->kind
                                                        : SPAN_KIND_UNSPECIFIED;
    rec.system = span_system(r, sp);
    int64_t idx = span_store_add(r->store, &rec);
    if (idx < 0)
        return reader_nomem(r);
    return sp->n_links ? add_links(r, (size_t)idx, sp) : 0;
}

static int read_resource_spans(struct reader *r, const ResourceSpans *rs)
{
    uint32_t domain = resource_domain(r, rs);

    if (domain == UINT32_MAX)
        return reader_nomem(r);
    for (r->ss = 0; r->ss < rs->n_scope_spans; r->ss++) {
        const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
            rs->scope_spans[r->ss];
        for (r->sp = 0; r->sp < ss->n_spans; r->sp++) {
            int rc = add_span(r, ss->spans[r->sp], domain);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int read_message(struct reader *r, const Request *msg)
{
    for (r->rs = 0; r->rs < msg->n_resource_spans; r->rs++) {
        int rc = read_resource_spans(r, msg->resource_spans[r->rs]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int otlp_proto_read(struct source *src, struct span_store *store,
                           const struct ingest_opts *opts, char *err,
                           size_t errlen)
{
    struct reader r = {
        .store = store,
        .user_attr = opts ? opts->clock_domain_attr : NULL,
        .name = source_name(src),
        .err = err,
        .errlen = errlen,
    };
    Request *msg;
    int rc;

    r.st = otlp_proto_stream_open(src);
    if (!r.st)
        return reader_nomem(&r);
    while ((rc = otlp_proto_stream_next(r.st, &msg, err, errlen)) > 0) {
        rc = read_message(&r, msg);
        if (rc < 0)
            break;
    }
    otlp_proto_stream_close(r.st);
    return rc < 0 ? rc : 0;
}

const struct ingest_ops ingest_otlp_proto_ops = {
    .name = "otlp-proto",
    .format = TRACE_FORMAT_OTLP_PROTO,
    .sniff = otlp_proto_sniff,
    .read = otlp_proto_read,
};
