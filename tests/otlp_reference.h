/* otlp_reference: the reference the OTLP protobuf wire scanner is checked
 * against, shared by tests/test_otlp_wire.c and fuzz/fuzz_otlp_wire.c: a
 * protobuf-c decoded request turned into span records the way the reader
 * did before the scanner existed (with the readers' contract of ingest.h
 * since: spans with empty or zero IDs counted as invalid, links to nothing
 * dropped, times clamped), a walk of the raw message for the rules
 * protobuf-c does not apply (UTF-8 strings, no field number 0), and a
 * comparison of two span stores. */
#ifndef SKEWSCOPE_OTLP_REFERENCE_H
#define SKEWSCOPE_OTLP_REFERENCE_H

#include <stdint.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "util/ids.h"
#include "util/utf8.h"

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

/* Links: IDs of 16 and 8 bytes, or empty (a link to nothing, dropped). */
static int otlp_ref_links_ok(const Opentelemetry__Proto__Trace__V1__Span *sp)
{
    for (size_t i = 0; i < sp->n_links; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Link *l = sp->links[i];
        if ((l->trace_id.len != 16 && l->trace_id.len != 0) ||
            (l->span_id.len != 8 && l->span_id.len != 0))
            return -INGEST_E_MALFORMED;
    }
    return 0;
}

static int otlp_ref_span(struct span_store *s,
                         const Opentelemetry__Proto__Trace__V1__Span *sp,
                         uint32_t domain)
{
    struct span_rec rec;
    int why;

    if ((sp->trace_id.len != 16 && sp->trace_id.len != 0) ||
        (sp->span_id.len != 8 && sp->span_id.len != 0) ||
        (sp->parent_span_id.len != 0 && sp->parent_span_id.len != 8))
        return -INGEST_E_MALFORMED;
    memset(&rec, 0, sizeof(rec));
    if (sp->trace_id.len == 16)
        memcpy(rec.trace_id, sp->trace_id.data, 16);
    if (sp->span_id.len == 8)
        rec.span_id = otlp_proto_span_id(sp->span_id.data);
    if ((why = ingest_span_invalid(&rec, true)) >= 0) {
        span_store_add_invalid(s, (enum span_invalid)why);
        return otlp_ref_links_ok(sp);
    }
    if (sp->parent_span_id.len == 8) {
        rec.parent_id = otlp_proto_span_id(sp->parent_span_id.data);
        rec.flags = SPAN_F_HAS_PARENT;
    }
    rec.start_ns = span_time_from_u64(sp->start_time_unix_nano);
    rec.end_ns = span_time_from_u64(sp->end_time_unix_nano);
    rec.domain = domain;
    rec.kind = (unsigned)sp->kind <= SPAN_KIND_CONSUMER ? (uint8_t)sp->kind
                                                        : SPAN_KIND_UNSPECIFIED;
    rec.system = otlp_ref_system(s, sp);
    int64_t idx = span_store_add(s, &rec);
    if (idx < 0)
        return -INGEST_E_NOMEM;
    if (otlp_ref_links_ok(sp) < 0)
        return -INGEST_E_MALFORMED;
    for (size_t i = 0; i < sp->n_links; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Link *l = sp->links[i];
        if (l->trace_id.len == 0 || l->span_id.len == 0 ||
            id_trace_is_zero(l->trace_id.data) ||
            otlp_proto_span_id(l->span_id.data) == 0)
            continue;
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

/* The rules protobuf-c does not apply, walked over the raw bytes of a
 * message of descriptor d (all of it: no shortcut, unlike the scanner):
 * every string field of a known (nested) message valid UTF-8, no field
 * number 0. Returns 1 when they hold. Only for bytes protobuf-c decodes
 * (nesting is bounded by then). */
static int otlp_ref_wire_ok(const uint8_t *p, size_t n,
                            const ProtobufCMessageDescriptor *d)
{
    size_t i = 0;

    while (i < n) {
        uint64_t tag = 0, v = 0;
        unsigned sh = 0;
        while (i < n && sh < 70) {
            tag |= (uint64_t)(p[i] & 0x7f) << sh;
            sh += 7;
            if (!(p[i++] & 0x80))
                break;
        }
        if (tag >> 3 == 0)
            return 0;
        switch (tag & 7) {
        case 0:
            while (i < n && (p[i++] & 0x80))
                ;
            break;
        case 1:
            i += 8;
            break;
        case 5:
            i += 4;
            break;
        case 2: {
            sh = 0;
            while (i < n && sh < 70) {
                v |= (uint64_t)(p[i] & 0x7f) << sh;
                sh += 7;
                if (!(p[i++] & 0x80))
                    break;
            }
            if (v > n - i)
                return 1; /* protobuf-c decoded it: cannot happen */
            const ProtobufCFieldDescriptor *f =
                tag >> 3 > UINT32_MAX ? NULL
                                      : protobuf_c_message_descriptor_get_field(
                                            d, (unsigned)(tag >> 3));
            if (f && f->type == PROTOBUF_C_TYPE_STRING &&
                !utf8_valid(p + i, (size_t)v))
                return 0;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !otlp_ref_wire_ok(p + i, (size_t)v, f->descriptor))
                return 0;
            i += (size_t)v;
            break;
        }
        default:
            return 1;
        }
    }
    return 1;
}

/* otlp_ref_read() on the raw request p[0..n) that protobuf-c decoded into
 * msg, with the rules it does not apply first. */
static int otlp_ref_read_raw(
    struct span_store *s, const uint8_t *p, size_t n,
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
        *msg,
    const char *user_attr)
{
    if (!otlp_ref_wire_ok(
            p, n,
            &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor))
        return -INGEST_E_MALFORMED;
    return otlp_ref_read(s, msg, user_attr);
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
    for (int r = 0; r < SPAN_INVALID_NREASONS; r++)
        if (span_store_invalid(a, (enum span_invalid)r) !=
            span_store_invalid(b, (enum span_invalid)r))
            return "invalid span counts differ";
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
