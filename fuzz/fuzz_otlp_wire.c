/* libFuzzer target for the OTLP wire scanner (otlp_wire.c), differential
 * against protobuf-c: the input is one ExportTraceServiceRequest. It is
 * scanned into one span_store and, when protobuf-c (behind the same
 * nesting guard the stream uses) decodes it, read the way the protobuf-c
 * reader did into another; then both must agree: same status and the same
 * records, links, clock domain names and transport systems. The scanner
 * must never crash, whatever the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/otlp_wire.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

/* ---- reference: the protobuf-c reader as it was ------------------------ */

static uint16_t ref_system(struct span_store *s, const Span *sp)
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
    uint16_t id = span_store_system_id(s, val, strlen(val));
    return id == UINT16_MAX ? 0 : id;
}

static int ref_span(struct span_store *s, const Span *sp, uint32_t domain)
{
    struct span_rec rec;

    if (sp->trace_id.len != 16 || sp->span_id.len != 8 ||
        (sp->parent_span_id.len != 0 && sp->parent_span_id.len != 8))
        return -INGEST_E_MALFORMED;
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
    rec.kind = (unsigned)sp->kind <= SPAN_KIND_CONSUMER ? (uint8_t)sp->kind
                                                        : SPAN_KIND_UNSPECIFIED;
    rec.system = ref_system(s, sp);
    int64_t idx = span_store_add(s, &rec);
    if (idx < 0)
        return -INGEST_E_NOMEM;
    for (size_t i = 0; i < sp->n_links; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Link *l = sp->links[i];
        if (l->trace_id.len != 16 || l->span_id.len != 8)
            return -INGEST_E_MALFORMED;
        if (span_store_add_link(s, (size_t)idx, l->trace_id.data,
                                otlp_proto_span_id(l->span_id.data)) < 0)
            return -INGEST_E_NOMEM;
    }
    return 0;
}

static int ref_read(
    struct span_store *s,
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
        *msg)
{
    for (size_t i = 0; i < msg->n_resource_spans; i++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs =
            msg->resource_spans[i];
        char buf[128];
        const char *name = CLOCK_DOMAIN_UNKNOWN;
        size_t len = strlen(CLOCK_DOMAIN_UNKNOWN);
        otlp_proto_resource_domain(rs->resource, NULL, &name, &len, buf,
                                   sizeof(buf));
        uint32_t domain = span_store_domain_id(s, name, len);
        for (size_t j = 0; j < rs->n_scope_spans; j++)
            for (size_t k = 0; k < rs->scope_spans[j]->n_spans; k++) {
                int rc = ref_span(s, rs->scope_spans[j]->spans[k], domain);
                if (rc < 0)
                    return rc;
            }
    }
    return 0;
}

/* ---- comparison ------------------------------------------------------- */

static void same_links(const struct span_store *a, const struct span_store *b,
                       uint32_t la, uint32_t lb)
{
    while (la != SPAN_NO_LINK || lb != SPAN_NO_LINK) {
        if (la == SPAN_NO_LINK || lb == SPAN_NO_LINK)
            abort();
        const struct span_link *x = span_store_link(a, la),
                               *y = span_store_link(b, lb);
        if (memcmp(x->trace_id, y->trace_id, 16) || x->span_id != y->span_id)
            abort();
        la = x->next;
        lb = y->next;
    }
}

static void same_stores(const struct span_store *a, const struct span_store *b)
{
    if (span_store_count(a) != span_store_count(b) ||
        span_store_domain_count(a) != span_store_domain_count(b))
        abort();
    for (uint32_t d = 0; d < span_store_domain_count(a); d++)
        if (strcmp(span_store_domain_name(a, d), span_store_domain_name(b, d)))
            abort();
    for (size_t i = 0; i < span_store_count(a); i++) {
        const struct span_rec *x = span_store_at(a, i),
                              *y = span_store_at(b, i);
        if (memcmp(x->trace_id, y->trace_id, 16) || x->span_id != y->span_id ||
            x->parent_id != y->parent_id || x->start_ns != y->start_ns ||
            x->end_ns != y->end_ns || x->domain != y->domain ||
            x->kind != y->kind || x->flags != y->flags ||
            strcmp(span_store_system_name(a, x->system),
                   span_store_system_name(b, y->system)) ||
            x->system != y->system)
            abort();
        same_links(a, b, x->link, y->link);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct otlp_arena *arena;
    struct span_store *got = span_store_create(), *want = span_store_create();
    struct otlp_wire *w = otlp_wire_create(got, NULL, "fuzz");
    char err[512];

    if (!arena)
        arena = otlp_arena_create();
    if (!got || !want || !w || !arena)
        abort();
    int rc = otlp_wire_scan(w, data, size, 0, 0, err, sizeof(err));
    if (rc < 0 && strncmp(err, "fuzz: byte ", 11) != 0 && rc != -INGEST_E_NOMEM)
        abort();
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
        *msg = otlp_proto_request_unpack(arena, data, size);
    if (msg) {
        int ref = ref_read(want, msg);
        if (ref != rc) {
            fprintf(stderr, "scanner %d (%s), protobuf-c %d\n", rc,
                    rc ? err : "", ref);
            abort();
        }
        same_stores(got, want);
    }
    otlp_wire_destroy(w);
    span_store_destroy(want);
    span_store_destroy(got);
    return 0;
}
