/* otlp_wire: the OTLP protobuf read path without protobuf-c (see
 * otlp_wire.h). It sits between the otlp_proto stream, which frames
 * messages, and the span_store; the walk itself (field rules, strings,
 * nesting, KeyValues, clock domain, span fields, errors) is otlp_walk's,
 * which the rewriter (output/correct_wire.c) calls too.
 *
 * What it adds to the walk: the records. It gives the ones
 * ingest_otlp_proto gave when it decoded with protobuf-c: same IDs, flags,
 * times, kinds, domain and system ids (interned in the same order) and
 * links, with protobuf semantics for repeated singular fields (the last one
 * wins; repeated sub-messages merge). Where the protobuf-c reader refused a
 * whole file, spans with an empty (0-byte) or all-zero trace or span ID are
 * counted as invalid (span_store_add_invalid()); links with empty or zero
 * IDs carry no edge and are dropped, as the JSON reader drops them; times
 * above SPAN_TIME_MAX are clamped by span_time_from_u64(), not wrapped. */
#include "ingest/otlp_wire.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/otlp_walk.h"
#include "model/span_store.h"
#include "util/ids.h"
#include "util/log.h"

struct otlp_wire {
    struct span_store *store;
    const char *user_attr;
    const char *name;
    bool strict;
    size_t resource_spans, unknown; /* top-level fields seen */
    /* Last interned transport system: spans repeat it. */
    char sys_name[64];
    size_t sys_len;
    uint16_t sys_id;
};

struct otlp_wire *otlp_wire_create(struct span_store *store,
                                   const char *user_attr, const char *name)
{
    struct otlp_wire *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->store = store;
    w->user_attr = user_attr;
    w->name = name ? name : "<input>";
    return w;
}

void otlp_wire_destroy(struct otlp_wire *w)
{
    free(w);
}

void otlp_wire_set_strict(struct otlp_wire *w, bool strict)
{
    w->strict = strict;
}

void otlp_wire_fields(const struct otlp_wire *w, size_t *resource_spans,
                      size_t *unknown)
{
    *resource_spans = w->resource_spans;
    *unknown = w->unknown;
}

/* One message being scanned. */
struct scan {
    struct otlp_wire *w;
    struct otlp_walk walk;
};

/* ---- spans ------------------------------------------------------------ */

static uint16_t span_system(struct otlp_wire *w, const struct otlp_span_view *v)
{
    const char *val = (const char *)v->sys;
    size_t len = v->sys_len;
    uint16_t id;

    if (!v->sys_set || len == 0)
        return 0;
    if (len == w->sys_len && memcmp(val, w->sys_name, len) == 0)
        return w->sys_id;
    id = span_store_system_id(w->store, val, len);
    if (id == UINT16_MAX) {
        log_ratelimited(LOG_WARN, 3, "%s: too many transport systems", w->name);
        return 0;
    }
    if (len < sizeof(w->sys_name)) {
        memcpy(w->sys_name, val, len);
        w->sys_len = len;
        w->sys_id = id;
    }
    return id;
}

/* A link of span record idx (-1: of a span not stored, whose links are
 * only checked). */
static int scan_link(struct scan *sc, const struct otlp_field *lf, int64_t idx)
{
    const uint8_t *tid, *sid;
    int rc;

    if ((rc = otlp_walk_link(&sc->walk, lf, &tid, &sid)) < 0)
        return rc;
    /* A link to nothing (empty or zero IDs) carries no edge. */
    if (idx < 0 || !tid || !sid || id_trace_is_zero(tid) ||
        otlp_proto_span_id(sid) == 0)
        return 0;
    if (span_store_add_link(sc->w->store, (size_t)idx, tid,
                            otlp_proto_span_id(sid)) < 0)
        return otlp_walk_nomem(&sc->walk);
    return 0;
}

/* The links of span record idx (-1: only checked): the Span's fields from
 * p (the first link's tag) to end. */
static int span_links(struct scan *sc, const uint8_t *p, const uint8_t *end,
                      int64_t idx)
{
    struct otlp_field f;
    int rc;

    while (p < end) {
        if ((rc = otlp_walk_next(&sc->walk, &p, end, &otlp_kind_span, &f)) < 0)
            return rc;
        if (f.num == OTLP_F_SPAN_LINKS && (rc = scan_link(sc, &f, idx)) < 0)
            return rc;
    }
    return 0;
}

/* A span that cannot be analysed (ingest_span_invalid()): counted, or
 * with --strict refused at its empty ID. */
static int span_invalid(struct scan *sc, const uint8_t *span,
                        const struct otlp_span_view *v, int why)
{
    const struct otlp_field *f =
        why == SPAN_INVALID_EMPTY_TRACE_ID ? &v->tid : &v->sid;

    if (!sc->w->strict) {
        span_store_add_invalid(sc->w->store, (enum span_invalid)why);
        return 0;
    }
    return otlp_walk_fail(&sc->walk, f->at ? f->at : span,
                          "a non-empty, non-zero %s (--strict refuses spans "
                          "that cannot be analysed)",
                          why == SPAN_INVALID_EMPTY_TRACE_ID ? "trace_id"
                                                             : "span_id");
}

/* Append the span v describes, or count it as invalid (*idx = -1). */
static int span_add(struct scan *sc, const uint8_t *span,
                    const struct otlp_span_view *v, uint32_t domain,
                    int64_t *idx)
{
    struct span_rec rec;
    int why;

    memset(&rec, 0, sizeof(rec));
    if (v->tid.len == 16)
        memcpy(rec.trace_id, v->tid.p, 16);
    if (v->sid.len == 8)
        rec.span_id = otlp_proto_span_id(v->sid.p);
    *idx = -1;
    /* Both times are always there: protobuf has no absent fixed64. */
    if ((why = ingest_span_invalid(&rec, true)) >= 0)
        return span_invalid(sc, span, v, why);
    if (v->pid.len == 8) {
        rec.parent_id = otlp_proto_span_id(v->pid.p);
        rec.flags = SPAN_F_HAS_PARENT;
    }
    rec.start_ns = span_time_from_u64(v->start);
    rec.end_ns = span_time_from_u64(v->end);
    rec.domain = domain;
    rec.link = SPAN_NO_LINK;
    /* protobuf-c keeps the low 32 bits of an enum varint. */
    rec.kind = (uint32_t)v->kind <= SPAN_KIND_CONSUMER ? (uint8_t)v->kind
                                                       : SPAN_KIND_UNSPECIFIED;
    rec.system = span_system(sc->w, v);
    *idx = span_store_add(sc->w->store, &rec);
    return *idx < 0 ? otlp_walk_nomem(&sc->walk) : 0;
}

static int scan_span(struct scan *sc, const uint8_t *p, const uint8_t *end,
                     uint32_t domain)
{
    struct otlp_span_view v;
    int64_t idx;
    int rc;

    if ((rc = otlp_walk_span(&sc->walk, p, end, &v)) < 0 ||
        (rc = span_add(sc, p, &v, domain, &idx)) < 0)
        return rc;
    return v.links ? span_links(sc, v.links, end, idx) : 0;
}

/* ---- containers ------------------------------------------------------- */

static int scan_scope_spans(struct scan *sc, const uint8_t *p,
                            const uint8_t *end, uint32_t domain)
{
    struct otlp_walk *w = &sc->walk;
    struct otlp_field f;
    int rc;

    w->sp = 0;
    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_scope_spans, &f)) < 0)
            return rc;
        if (f.num != OTLP_F_SS_SPANS) {
            if ((rc = otlp_walk_skip(w, &otlp_kind_scope_spans,
                                     OTLP_DEPTH_SS + 1, &f)) < 0)
                return rc;
            continue;
        }
        w->level = OTLP_AT_SPAN;
        if ((rc = scan_span(sc, f.p, f.p + f.len, domain)) < 0)
            return rc;
        w->level = OTLP_AT_SS;
        w->sp++;
    }
    return 0;
}

static int scan_resource_spans(struct scan *sc, const uint8_t *p,
                               const uint8_t *end)
{
    struct otlp_walk *w = &sc->walk;
    char buf[128];
    const char *name;
    size_t len;
    uint32_t domain;
    struct otlp_field f;
    int rc;

    w->level = OTLP_AT_RS;
    /* First every field but the spans, which gives the clock domain even
     * when the resource comes after its spans. */
    if ((rc = otlp_walk_rs_domain(w, p, end, buf, sizeof(buf), &name, &len)) <
        0)
        return rc;
    if ((domain = span_store_domain_id(sc->w->store, name, len)) == UINT32_MAX)
        return otlp_walk_nomem(w);
    w->ss = 0;
    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_resource_spans, &f)) <
            0)
            return rc;
        if (f.num != OTLP_F_RS_SCOPE_SPANS)
            continue;
        w->level = OTLP_AT_SS;
        if ((rc = scan_scope_spans(sc, f.p, f.p + f.len, domain)) < 0)
            return rc;
        w->level = OTLP_AT_RS;
        w->ss++;
    }
    return 0;
}

int otlp_wire_scan(struct otlp_wire *w, const uint8_t *msg, size_t len,
                   uint64_t offset, uint64_t frame_offset, char *err,
                   size_t errlen)
{
    struct scan sc = {
        .w = w,
        .walk =
            {
                .name = w->name,
                .base = msg,
                .offset = offset,
                .frame_offset = frame_offset,
                .user_attr = w->user_attr,
                .err = err,
                .errlen = errlen,
            },
    };
    const uint8_t *p = msg, *end;
    struct otlp_field f;
    int rc;

    if (len == 0)
        return 0;
    end = msg + len;
    while (p < end) {
        if ((rc = otlp_walk_next(&sc.walk, &p, end, &otlp_kind_request, &f)) <
            0)
            return rc;
        if (f.num != OTLP_F_REQUEST_RESOURCE_SPANS) {
            w->unknown++; /* the request has no other field */
            continue;
        }
        w->resource_spans++;
        if ((rc = scan_resource_spans(&sc, f.p, f.p + f.len)) < 0)
            return rc;
        sc.walk.level = OTLP_AT_REQUEST;
        sc.walk.rs++;
    }
    return 0;
}
