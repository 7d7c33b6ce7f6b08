/* otlp_reference: the reference the OTLP protobuf wire scanner is checked
 * against, shared by tests/test_otlp_wire.c and fuzz/fuzz_otlp_wire.c: a
 * protobuf-c decoded request turned into span records the way the reader
 * did before the scanner existed, and a comparison of two span stores. */
#ifndef SKEWSCOPE_OTLP_REFERENCE_H
#define SKEWSCOPE_OTLP_REFERENCE_H

#include <stdint.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

static uint16_t otlp_ref_system(struct span_store *s,
                                const Opentelemetry__Proto__Trace__V1__Span *sp)
{
    const char *val = NULL;

    for (size_t i = 0; i < sp->n_attributes; i++) {
        const Opentelemetry__Proto__Common__V1__KeyValue *kv =
            sp->attributes[i];
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

static int otlp_ref_span(struct span_store *s,
                         const Opentelemetry__Proto__Trace__V1__Span *sp,
                         uint32_t domain)
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
    rec.system = otlp_ref_system(s, sp);
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

/* Append the spans of msg to s. Returns 0, -INGEST_E_MALFORMED (bad ID
 * lengths) or -INGEST_E_NOMEM. */
static int otlp_ref_read(
    struct span_store *s,
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
        *msg,
    const char *user_attr)
{
    for (size_t i = 0; i < msg->n_resource_spans; i++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs =
            msg->resource_spans[i];
        char buf[128];
        const char *name = CLOCK_DOMAIN_UNKNOWN;
        size_t len = strlen(CLOCK_DOMAIN_UNKNOWN);
        otlp_proto_resource_domain(rs->resource, user_attr, &name, &len, buf,
                                   sizeof(buf));
        uint32_t domain = span_store_domain_id(s, name, len);
        for (size_t j = 0; j < rs->n_scope_spans; j++)
            for (size_t k = 0; k < rs->scope_spans[j]->n_spans; k++) {
                int rc = otlp_ref_span(s, rs->scope_spans[j]->spans[k], domain);
                if (rc < 0)
                    return rc;
            }
    }
    return 0;
}

static const char *otlp_ref_diff_links(const struct span_store *a,
                                       const struct span_store *b, uint32_t la,
                                       uint32_t lb)
{
    while (la != SPAN_NO_LINK || lb != SPAN_NO_LINK) {
        if (la == SPAN_NO_LINK || lb == SPAN_NO_LINK)
            return "link counts differ";
        const struct span_link *x = span_store_link(a, la),
                               *y = span_store_link(b, lb);
        if (memcmp(x->trace_id, y->trace_id, 16) || x->span_id != y->span_id)
            return "links differ";
        la = x->next;
        lb = y->next;
    }
    return NULL;
}

/* NULL when a and b hold the same spans (every field, in order), the same
 * domain and system names and the same links; else what differs. */
static const char *otlp_ref_diff(const struct span_store *a,
                                 const struct span_store *b)
{
    if (span_store_count(a) != span_store_count(b))
        return "span counts differ";
    if (span_store_domain_count(a) != span_store_domain_count(b))
        return "domain counts differ";
    for (uint32_t d = 0; d < span_store_domain_count(a); d++)
        if (strcmp(span_store_domain_name(a, d), span_store_domain_name(b, d)))
            return "domain names differ";
    for (size_t i = 0; i < span_store_count(a); i++) {
        const struct span_rec *x = span_store_at(a, i),
                              *y = span_store_at(b, i);
        if (memcmp(x->trace_id, y->trace_id, 16) || x->span_id != y->span_id ||
            x->parent_id != y->parent_id)
            return "span IDs differ";
        if (x->start_ns != y->start_ns || x->end_ns != y->end_ns)
            return "span times differ";
        if (x->domain != y->domain || x->kind != y->kind ||
            x->flags != y->flags || x->system != y->system ||
            strcmp(span_store_system_name(a, x->system),
                   span_store_system_name(b, y->system)))
            return "span domain, kind, flags or system differ";
        const char *d = otlp_ref_diff_links(a, b, x->link, y->link);
        if (d)
            return d;
    }
    return NULL;
}

#endif
