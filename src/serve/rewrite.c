/* rewrite: `skewscope correct` for one request body in memory (see
 * rewrite.h), on serve's forwarding path.
 *
 * Protobuf: one pass over the wire format that copies the request into a
 * new buffer. Per ResourceSpans the clock domain comes first (a first walk
 * over its fields; the resource may follow its spans); then each Span is
 * looked at once to learn whether it changes (start, end and event times,
 * the last occurrence of a field winning as in protobuf). A span that does
 * not change is copied as it is; one that does is copied field by field:
 *   - start (7), end (8) and event time (Event 1) get the mapped value
 *     (appended when absent and the mapped value is not 0);
 *   - the first span attribute (9) or event attribute (Event 3) holding one
 *     of the CORRECT_ATTR_* keys is replaced in place by the new int value
 *     (its other fields kept), the keys not present are appended:
 *     exactly what correct_proto.c's attr_set_int() does to the decoded
 *     message, so that both give the same message once decoded;
 *   - every other field, known or unknown, is copied byte for byte.
 * A length-delimited value that is rewritten gets as many prefix bytes as
 * it had; when its new length needs more or fewer, the value is moved
 * (rarely: a span of 100 bytes that grows past 127).
 *
 * The clock domain is resolved exactly as correct_proto.c does: the
 * resource's bytes (repeated `resource` fields concatenated, which is
 * protobuf's merge) are decoded with protobuf-c and handed to
 * otlp_proto_resource_domain(). One small decode per ResourceSpans.
 *
 * Checked: the framing of every message walked (request, ResourceSpans,
 * ScopeSpans, Span, Event, and the KeyValues of changed spans and events),
 * bounds, wire types of their known fields, and that the resource decodes.
 * What is only copied (links, unknown fields, attributes of unchanged
 * spans) is not validated; a body otlp_proto_request_unpack() decodes is
 * always accepted. (A resource protobuf-c cannot decode for want of memory
 * is reported as malformed: protobuf-c does not tell the two apart.)
 *
 * JSON: correct_otlp_json_ops over a memory source, into a memory stream;
 * what it writes (one line per document, or per part of a document larger
 * than correct_json_split_max) is merged back into one document.
 *
 * Threads: no shared state. */
#include "serve/rewrite.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/source.h"
#include "ingest/wire.h"
#include "model/clock_domain.h"
#include "model/clock_model.h"
#include "opentelemetry/proto/resource/v1/resource.pb-c.h"
#include "output/correct.h"

#define BODY_NAME "request body"

/* ---- message kinds ---------------------------------------------------- */

#define N_ 0xff /* not a field of the message: any wire type */

/* A message type: its name for errors and the wire type of each known
 * field number (index). */
struct msg_kind {
    const char *name;
    const uint8_t *wt;
    size_t nwt;
};

static const uint8_t REQUEST_WT[] = {N_, 2};
static const uint8_t RS_WT[] = {N_, 2, 2, 2};
static const uint8_t SS_WT[] = {N_, 2, 2, 2};
static const uint8_t SPAN_WT[] = {N_, 2, 2, 2, 2, 2, 0, 1, 1,
                                  2,  0, 2, 0, 2, 0, 2, 5};
static const uint8_t EVENT_WT[] = {N_, 1, 2, 2, 0};
static const uint8_t KV_WT[] = {N_, 2, 2};

#define KIND(name, wt)                                                         \
    {                                                                          \
        name, wt, sizeof(wt)                                                   \
    }
static const struct msg_kind REQUEST =
    KIND("ExportTraceServiceRequest", REQUEST_WT);
static const struct msg_kind RESOURCE_SPANS = KIND("ResourceSpans", RS_WT);
static const struct msg_kind SCOPE_SPANS = KIND("ScopeSpans", SS_WT);
static const struct msg_kind SPAN = KIND("Span", SPAN_WT);
static const struct msg_kind EVENT = KIND("Span.Event", EVENT_WT);
static const struct msg_kind KEY_VALUE = KIND("KeyValue", KV_WT);
#undef KIND

/* Field numbers read, and the tags written (field << 3 | wire type). */
enum {
    F_REQ_RESOURCE_SPANS = 1,
    F_RS_RESOURCE = 1,
    F_RS_SCOPE_SPANS = 2,
    F_SS_SPANS = 2,
    F_SPAN_START = 7,
    F_SPAN_END = 8,
    F_SPAN_ATTR = 9,
    F_SPAN_EVENTS = 11,
    F_EVENT_TIME = 1,
    F_EVENT_ATTR = 3,
    F_KV_KEY = 1,
    F_KV_VALUE = 2,
};
static const uint8_t TAG_SPAN_START = F_SPAN_START << 3 | WT_I64;
static const uint8_t TAG_SPAN_END = F_SPAN_END << 3 | WT_I64;
static const uint8_t TAG_SPAN_ATTR = F_SPAN_ATTR << 3 | WT_LEN;
static const uint8_t TAG_EVENT_TIME = F_EVENT_TIME << 3 | WT_I64;
static const uint8_t TAG_EVENT_ATTR = F_EVENT_ATTR << 3 | WT_LEN;
#define TAG_KV_KEY (F_KV_KEY << 3 | WT_LEN)
#define TAG_KV_VALUE (F_KV_VALUE << 3 | WT_LEN)
#define TAG_ANY_INT (3 << 3 | WT_VARINT) /* AnyValue.int_value */

/* Nesting depth of a Resource as otlp_proto_request_unpack() counts it. */
#define DEPTH_RESOURCE 2

/* ---- state ------------------------------------------------------------ */

struct rw {
    const uint8_t *base; /* the body's byte 0, for offsets in messages */
    const struct clock_model *model;
    const char *user_attr;
    uint8_t *out; /* the rewritten body */
    size_t len, cap;
    uint8_t *res; /* repeated resources, concatenated */
    size_t res_cap;
    size_t spans, adjusted;
    unsigned level; /* 0 request, 1 resource_spans, 2 scope_spans, 3 span */
    size_t rs, ss, sp;
    char *err;
    size_t errlen;
};

/* One field as read off the wire. */
struct field {
    const uint8_t *at;  /* its tag */
    const uint8_t *val; /* after the tag: value or length prefix */
    const uint8_t *p;   /* WT_LEN: payload */
    const uint8_t *end; /* after the field */
    size_t len;         /* WT_LEN: payload bytes */
    uint64_t num;       /* field number */
    uint64_t v;         /* WT_VARINT value; WT_I64 bits */
    unsigned wt;
};

/* An int attribute to set: CORRECT_ATTR_* key and value. */
struct attr {
    const char *key;
    size_t len;
    int64_t v;
};

/* ---- errors ----------------------------------------------------------- */

static void rw_path(const struct rw *w, char *buf, size_t len)
{
    switch (w->level) {
    case 0:
        buf[0] = '\0';
        break;
    case 1:
        snprintf(buf, len, " (in resource_spans[%zu])", w->rs);
        break;
    case 2:
        snprintf(buf, len, " (in resource_spans[%zu].scope_spans[%zu])", w->rs,
                 w->ss);
        break;
    default:
        snprintf(buf, len,
                 " (in resource_spans[%zu].scope_spans[%zu].spans[%zu])", w->rs,
                 w->ss, w->sp);
        break;
    }
}

/* "request body: byte N: expected WHAT (in PATH)" with N the offset of
 * `at` in the body. Returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4), cold, noinline))
#endif
static int
rw_fail(struct rw *w, const uint8_t *at, const char *fmt, ...)
{
    char what[160], path[96];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    rw_path(w, path, sizeof(path));
    snprintf(w->err, w->errlen, BODY_NAME ": byte %zu: expected %s%s",
             (size_t)(at - w->base), what, path);
    return -1;
}

#if defined(__GNUC__)
__attribute__((cold, noinline))
#endif
static int
rw_nomem(struct rw *w)
{
    snprintf(w->err, w->errlen, BODY_NAME ": out of memory");
    return -2;
}

/* ---- reading the wire ------------------------------------------------- */

static int varint_fail(struct rw *w, const uint8_t *p, const uint8_t *end,
                       const char *what)
{
    if ((size_t)(end - p) < 10)
        return rw_fail(
            w, p, "%s (varint); the enclosing message ends inside it", what);
    return rw_fail(w, p, "%s as a varint of at most 10 bytes", what);
}

static int value_fail(struct rw *w, const struct field *f, const uint8_t *p,
                      const uint8_t *end)
{
    uint64_t len;

    switch (f->wt) {
    case WT_VARINT:
        return varint_fail(w, p, end, "a value");
    case WT_I64:
    case WT_I32:
        return rw_fail(w, p,
                       "%u bytes of a fixed-size value (field %" PRIu64
                       "), only %zu left",
                       f->wt == WT_I64 ? 8u : 4u, f->num, (size_t)(end - p));
    case WT_LEN:
        if (wire_varint(&p, end, &len) < 0)
            return varint_fail(w, p, end, "a length prefix");
        return rw_fail(w, f->val,
                       "a length of at most %zu (the rest of the enclosing "
                       "message) for field %" PRIu64 ", got %" PRIu64,
                       (size_t)(end - p), f->num, len);
    default:
        return rw_fail(w, f->at,
                       "wire type 0, 1, 2 or 5 in the tag of field %" PRIu64
                       ", got %u (groups are not supported)",
                       f->num, f->wt);
    }
}

/* The value of field f, whose tag was read, at p (before end): sets f->end
 * and the value. */
static WIRE_INLINE int field_value(struct rw *w, const uint8_t *p,
                                   const uint8_t *end, struct field *f)
{
    const uint8_t *q = p;
    uint64_t len;

    switch (f->wt) {
    case WT_VARINT:
        if (wire_varint(&q, end, &f->v) < 0)
            return value_fail(w, f, p, end);
        break;
    case WT_I64:
        if ((size_t)(end - q) < 8)
            return value_fail(w, f, p, end);
        f->v = wire_le(q, 8);
        q += 8;
        break;
    case WT_I32:
        if ((size_t)(end - q) < 4)
            return value_fail(w, f, p, end);
        q += 4;
        break;
    case WT_LEN:
        if (wire_varint(&q, end, &len) < 0 || len > (uint64_t)(end - q))
            return value_fail(w, f, p, end);
        f->p = q;
        f->len = (size_t)len;
        q += len;
        break;
    default:
        return value_fail(w, f, p, end);
    }
    f->end = q;
    return 0;
}

/* The next field of a message of kind k at *pp (before end). Returns 0
 * with *f filled and *pp moved past the field, or -1 (message in err). */
static WIRE_INLINE int field_next(struct rw *w, const uint8_t **pp,
                                  const uint8_t *end, const struct msg_kind *k,
                                  struct field *f)
{
    const uint8_t *p = *pp;
    uint64_t tag;

    f->at = p;
    if (wire_varint(&p, end, &tag) < 0)
        return varint_fail(w, p, end, "a field tag");
    f->num = tag >> 3;
    f->wt = (unsigned)(tag & 7);
    f->val = p;
    if (f->num < k->nwt && k->wt[f->num] != N_ && k->wt[f->num] != f->wt)
        return rw_fail(w, f->at,
                       "wire type %u for field %" PRIu64 " of %s, got %u",
                       k->wt[f->num], f->num, k->name, f->wt);
    if (field_value(w, p, end, f) < 0)
        return -1;
    *pp = f->end;
    return 0;
}

/* Length of a protobuf-c string: up to its first NUL. */
static size_t cstr_len(const uint8_t *p, size_t n)
{
    const uint8_t *z = n ? memchr(p, 0, n) : NULL;

    return z ? (size_t)(z - p) : n;
}

/* ---- writing ---------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int
out_grow(struct rw *w, size_t n)
{
    size_t cap = w->cap ? w->cap : 256;
    uint8_t *nb;

    while (cap - w->len < n) {
        if (cap > SIZE_MAX / 2)
            return rw_nomem(w);
        cap *= 2;
    }
    nb = realloc(w->out, cap);
    if (!nb)
        return rw_nomem(w);
    w->out = nb;
    w->cap = cap;
    return 0;
}

/* Room for n more bytes. Returns 0 or -2. */
static WIRE_INLINE int out_room(struct rw *w, size_t n)
{
    return w->cap - w->len >= n ? 0 : out_grow(w, n);
}

static WIRE_INLINE int out_put(struct rw *w, const void *p, size_t n)
{
    if (out_room(w, n) < 0)
        return -2;
    memcpy(w->out + w->len, p, n);
    w->len += n;
    return 0;
}

/* Field f as it was in the input. */
static WIRE_INLINE int out_field(struct rw *w, const struct field *f)
{
    return out_put(w, f->at, (size_t)(f->end - f->at));
}

/* Room must have been made. */
static WIRE_INLINE void out_varint(struct rw *w, uint64_t v)
{
    w->len += otlp_proto_put_varint(w->out + w->len, v);
}

/* A fixed64 field: taglen bytes of tag, then v. */
static int out_fixed64(struct rw *w, const uint8_t *tag, size_t taglen,
                       uint64_t v)
{
    if (out_room(w, taglen + 8) < 0)
        return -2;
    memcpy(w->out + w->len, tag, taglen);
    wire_put_le64(w->out + w->len + taglen, v);
    w->len += taglen + 8;
    return 0;
}

/* Start a length-delimited value (after its tag is written) whose prefix
 * had k bytes in the input: k bytes are kept for it at *at. */
static int out_open(struct rw *w, size_t k, size_t *at)
{
    if (out_room(w, k) < 0)
        return -2;
    *at = w->len;
    w->len += k;
    return 0;
}

/* End the value started at `at` with k prefix bytes: write its length,
 * moving the value when that takes more or fewer bytes than k. */
static int out_close(struct rw *w, size_t at, size_t k)
{
    size_t body = w->len - at - k;
    size_t need = wire_varint_size(body);

    if (need != k) {
        if (need > k && out_room(w, need - k) < 0)
            return -2;
        memmove(w->out + at + need, w->out + at + k, body);
        w->len = at + need + body;
    }
    otlp_proto_put_varint(w->out + at, body);
    return 0;
}

/* The fields of the KeyValue `old` other than key and value (protobuf-c
 * keeps unknown fields of a KeyValue whose value it replaces). */
static int out_kv_rest(struct rw *w, const struct field *old)
{
    const uint8_t *p = old->p, *end = old->p + old->len;
    struct field f;
    int rc;

    while (p < end) {
        if ((rc = field_next(w, &p, end, &KEY_VALUE, &f)) < 0)
            return rc;
        if (f.num != F_KV_KEY && f.num != F_KV_VALUE &&
            (rc = out_field(w, &f)) < 0)
            return rc;
    }
    return 0;
}

/* An attribute field (tag) holding KeyValue{a->key, AnyValue{int a->v}},
 * followed by the other fields of `old` when it replaces one (else NULL). */
static int out_kv(struct rw *w, uint8_t tag, const struct attr *a,
                  const struct field *old)
{
    size_t at;
    int rc;

    if ((rc = out_put(w, &tag, 1)) < 0 || (rc = out_open(w, 1, &at)) < 0 ||
        (rc = out_room(w, 1 + 10 + a->len + 3 + 10)) < 0)
        return rc;
    w->out[w->len++] = TAG_KV_KEY;
    out_varint(w, a->len);
    memcpy(w->out + w->len, a->key, a->len);
    w->len += a->len;
    w->out[w->len++] = TAG_KV_VALUE;
    w->out[w->len++] = (uint8_t)(1 + wire_varint_size((uint64_t)a->v));
    w->out[w->len++] = TAG_ANY_INT;
    out_varint(w, (uint64_t)a->v);
    if (old && (rc = out_kv_rest(w, old)) < 0)
        return rc;
    return out_close(w, at, 1);
}

/* ---- attributes ------------------------------------------------------- */

static const char KEY_PREFIX[] = "skewscope.";
#define KEY_PREFIX_LEN (sizeof(KEY_PREFIX) - 1)

/* Which of the n attributes a the KeyValue in f names (its key as
 * protobuf-c reads it: the last key field, up to its first NUL); -1 for
 * none. */
static int kv_which(struct rw *w, const struct field *f, const struct attr *a,
                    size_t n, int *which)
{
    const uint8_t *p = f->p, *end = f->p + f->len, *key = NULL;
    size_t key_len = 0;
    struct field g;
    int rc;

    *which = -1;
    while (p < end) {
        if ((rc = field_next(w, &p, end, &KEY_VALUE, &g)) < 0)
            return rc;
        if (g.num == F_KV_KEY) {
            key = g.p;
            key_len = g.len;
        }
    }
    if (!key || key_len < KEY_PREFIX_LEN ||
        memcmp(key, KEY_PREFIX, KEY_PREFIX_LEN) != 0)
        return 0;
    key_len = cstr_len(key, key_len);
    for (size_t i = 0; i < n; i++)
        if (key_len == a[i].len && memcmp(key, a[i].key, key_len) == 0)
            *which = (int)i;
    return 0;
}

/* One attribute field f of a changed span or event: the first one with a
 * key of a (placed[] tells which were seen) gets the new value, the
 * others are copied. */
static int emit_attr(struct rw *w, const struct field *f, uint8_t tag,
                     const struct attr *a, size_t n, bool *placed)
{
    int which, rc;

    if ((rc = kv_which(w, f, a, n, &which)) < 0)
        return rc;
    if (which < 0 || placed[which])
        return out_field(w, f);
    placed[which] = true;
    return out_kv(w, tag, &a[which], f);
}

/* The attributes of a that no field held, appended in order. */
static int append_attrs(struct rw *w, uint8_t tag, const struct attr *a,
                        size_t n, const bool *placed)
{
    int rc;

    for (size_t i = 0; i < n; i++)
        if (!placed[i] && (rc = out_kv(w, tag, &a[i], NULL)) < 0)
            return rc;
    return 0;
}

/* ---- spans ------------------------------------------------------------ */

/* Times beyond +-2^62 ns (146 years around 1970) stay as they are: no
 * clock reads them, and clock_model_map()'s int64 arithmetic may overflow
 * on them (undefined behaviour a request body must not be able to cause).
 * `correct` maps them; it is the one place the two may differ. */
#define TIME_LIMIT (INT64_C(1) << 62)

static WIRE_INLINE int64_t to_ref(const struct rw *w, int id, uint64_t t)
{
    int64_t v = (int64_t)t;

    if (v > TIME_LIMIT || v < -TIME_LIMIT)
        return v;
    return clock_model_to_reference(w->model, id, v);
}

/* The time of the Event in f (its last time field; 0 when absent). */
static int event_time(struct rw *w, const struct field *f, uint64_t *t)
{
    const uint8_t *p = f->p, *end = f->p + f->len;
    struct field g;
    int rc;

    *t = 0;
    while (p < end) {
        if ((rc = field_next(w, &p, end, &EVENT, &g)) < 0)
            return rc;
        if (g.num == F_EVENT_TIME)
            *t = g.v;
    }
    return 0;
}

/* An event of a changed span: copied when its time stays, else rewritten
 * with the mapped time and the original in CORRECT_ATTR_ORIG_TIME. */
static int emit_event(struct rw *w, const struct field *ef, int id)
{
    const uint8_t *p = ef->p, *end = ef->p + ef->len;
    struct attr a = {CORRECT_ATTR_ORIG_TIME, sizeof(CORRECT_ATTR_ORIG_TIME) - 1,
                     0};
    bool placed = false, has_time = false;
    uint64_t t;
    int64_t ref;
    struct field f;
    size_t at, k = (size_t)(ef->p - ef->val);
    int rc;

    if ((rc = event_time(w, ef, &t)) < 0)
        return rc;
    ref = to_ref(w, id, t);
    if (ref == (int64_t)t)
        return out_field(w, ef);
    a.v = (int64_t)t;
    if ((rc = out_put(w, ef->at, (size_t)(ef->val - ef->at))) < 0 ||
        (rc = out_open(w, k, &at)) < 0)
        return rc;
    while (p < end) {
        if ((rc = field_next(w, &p, end, &EVENT, &f)) < 0)
            return rc;
        if (f.num == F_EVENT_TIME) {
            has_time = true;
            rc = out_fixed64(w, f.at, (size_t)(f.val - f.at), (uint64_t)ref);
        } else if (f.num == F_EVENT_ATTR) {
            rc = emit_attr(w, &f, TAG_EVENT_ATTR, &a, 1, &placed);
        } else {
            rc = out_field(w, &f);
        }
        if (rc < 0)
            return rc;
    }
    if (!has_time && ref != 0 &&
        (rc = out_fixed64(w, &TAG_EVENT_TIME, 1, (uint64_t)ref)) < 0)
        return rc;
    if ((rc = append_attrs(w, TAG_EVENT_ATTR, &a, 1, &placed)) < 0)
        return rc;
    return out_close(w, at, k);
}

/* What a Span's first look found. */
struct span_plan {
    uint64_t start, end; /* as recorded (last field wins; 0 when absent) */
    int64_t start_ref, end_ref;
    bool changed;
};

/* Walk the span in sf: its times, and whether anything moves under domain
 * id (-1: unknown to the model, nothing moves). */
static int span_plan(struct rw *w, const struct field *sf, int id,
                     struct span_plan *pl)
{
    const uint8_t *p = sf->p, *end = sf->p + sf->len;
    bool event_moves = false;
    struct field f;
    uint64_t t;
    int rc;

    memset(pl, 0, sizeof(*pl));
    while (p < end) {
        if ((rc = field_next(w, &p, end, &SPAN, &f)) < 0)
            return rc;
        if (f.num == F_SPAN_START) {
            pl->start = f.v;
        } else if (f.num == F_SPAN_END) {
            pl->end = f.v;
        } else if (f.num == F_SPAN_EVENTS) {
            if ((rc = event_time(w, &f, &t)) < 0)
                return rc;
            event_moves =
                event_moves || (id >= 0 && to_ref(w, id, t) != (int64_t)t);
        }
    }
    if (id < 0)
        return 0;
    pl->start_ref = to_ref(w, id, pl->start);
    pl->end_ref = to_ref(w, id, pl->end);
    pl->changed = event_moves || pl->start_ref != (int64_t)pl->start ||
                  pl->end_ref != (int64_t)pl->end;
    return 0;
}

/* The fields of a changed span, rewritten. */
static int emit_span_fields(struct rw *w, const struct field *sf, int id,
                            const struct span_plan *pl, const struct attr *a,
                            bool placed[3], bool has[2])
{
    const uint8_t *p = sf->p, *end = sf->p + sf->len;
    struct field f;
    int rc;

    while (p < end) {
        if ((rc = field_next(w, &p, end, &SPAN, &f)) < 0)
            return rc;
        switch (f.num) {
        case F_SPAN_START:
        case F_SPAN_END: {
            bool is_start = f.num == F_SPAN_START;
            has[!is_start] = true;
            rc =
                out_fixed64(w, f.at, (size_t)(f.val - f.at),
                            (uint64_t)(is_start ? pl->start_ref : pl->end_ref));
            break;
        }
        case F_SPAN_ATTR:
            rc = emit_attr(w, &f, TAG_SPAN_ATTR, a, 3, placed);
            break;
        case F_SPAN_EVENTS:
            rc = emit_event(w, &f, id);
            break;
        default:
            rc = out_field(w, &f);
            break;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A changed span: mapped times, the originals as attributes. The offset
 * attribute is the offset subtracted at the span's start, as
 * correct_proto.c has it (computed without signed overflow). */
static int emit_span(struct rw *w, const struct field *sf, int id,
                     const struct span_plan *pl)
{
    const struct attr a[3] = {
        {CORRECT_ATTR_OFFSET, sizeof(CORRECT_ATTR_OFFSET) - 1,
         (int64_t)(pl->start - (uint64_t)pl->start_ref)},
        {CORRECT_ATTR_ORIG_START, sizeof(CORRECT_ATTR_ORIG_START) - 1,
         (int64_t)pl->start},
        {CORRECT_ATTR_ORIG_END, sizeof(CORRECT_ATTR_ORIG_END) - 1,
         (int64_t)pl->end},
    };
    bool placed[3] = {false, false, false}, has[2] = {false, false};
    size_t at, k = (size_t)(sf->p - sf->val);
    int rc;

    if ((rc = out_put(w, sf->at, (size_t)(sf->val - sf->at))) < 0 ||
        (rc = out_open(w, k, &at)) < 0 ||
        (rc = emit_span_fields(w, sf, id, pl, a, placed, has)) < 0)
        return rc;
    /* protobuf-c writes a time that was absent (0) once it is not 0. */
    if (!has[0] && pl->start_ref != 0 &&
        (rc = out_fixed64(w, &TAG_SPAN_START, 1, (uint64_t)pl->start_ref)) < 0)
        return rc;
    if (!has[1] && pl->end_ref != 0 &&
        (rc = out_fixed64(w, &TAG_SPAN_END, 1, (uint64_t)pl->end_ref)) < 0)
        return rc;
    if ((rc = append_attrs(w, TAG_SPAN_ATTR, a, 3, placed)) < 0)
        return rc;
    return out_close(w, at, k);
}

static int rewrite_span(struct rw *w, const struct field *sf, int id)
{
    struct span_plan pl;
    int rc;

    if ((rc = span_plan(w, sf, id, &pl)) < 0)
        return rc;
    w->spans++;
    if (!pl.changed)
        return out_field(w, sf);
    w->adjusted++;
    return emit_span(w, sf, id, &pl);
}

/* ---- containers ------------------------------------------------------- */

static int rewrite_scope_spans(struct rw *w, const struct field *sf, int id)
{
    const uint8_t *p = sf->p, *end = sf->p + sf->len;
    size_t at, k = (size_t)(sf->p - sf->val);
    struct field f;
    int rc;

    if ((rc = out_put(w, sf->at, (size_t)(sf->val - sf->at))) < 0 ||
        (rc = out_open(w, k, &at)) < 0)
        return rc;
    w->sp = 0;
    while (p < end) {
        if ((rc = field_next(w, &p, end, &SCOPE_SPANS, &f)) < 0)
            return rc;
        if (f.num == F_SS_SPANS) {
            w->level = 3;
            rc = rewrite_span(w, &f, id);
            w->level = 2;
            w->sp++;
        } else {
            rc = out_field(w, &f);
        }
        if (rc < 0)
            return rc;
    }
    return out_close(w, at, k);
}

/* The model id of the clock domain of a resource: n bytes at p (when
 * present), whose first field tag is at `at`. As correct_proto.c finds it:
 * protobuf-c's decoding and otlp_proto_resource_domain(), "unknown" when
 * there is no resource or no candidate attribute. */
static int domain_id(struct rw *w, const uint8_t *at, const uint8_t *p,
                     size_t n, bool present, int *id)
{
    const ProtobufCMessageDescriptor *d =
        &opentelemetry__proto__resource__v1__resource__descriptor;
    Opentelemetry__Proto__Resource__V1__Resource *res = NULL;
    const char *name = CLOCK_DOMAIN_UNKNOWN;
    size_t len = strlen(CLOCK_DOMAIN_UNKNOWN);
    char buf[128];

    if (present) {
        if (!otlp_proto_nesting_ok(p, n, d, DEPTH_RESOURCE))
            return rw_fail(w, at,
                           "a resource whose values nest at most %d deep",
                           OTLP_PROTO_MAX_DEPTH);
        res = opentelemetry__proto__resource__v1__resource__unpack(NULL, n, p);
        if (!res)
            return rw_fail(w, at, "a Resource message that decodes");
    }
    otlp_proto_resource_domain(res, w->user_attr, &name, &len, buf,
                               sizeof(buf));
    *id = clock_model_find(w->model, name, len);
    if (res)
        opentelemetry__proto__resource__v1__resource__free_unpacked(res, NULL);
    return 0;
}

/* Copy the payloads of every resource field of the ResourceSpans in
 * [p, end) (already walked) one after the other into w->res. */
static int concat_resources(struct rw *w, const uint8_t *p, const uint8_t *end,
                            size_t total)
{
    struct field f;
    size_t n = 0;
    int rc;

    if (total >= w->res_cap) { /* >=: never a NULL buffer */
        uint8_t *nb = realloc(w->res, total + 1);
        if (!nb)
            return rw_nomem(w);
        w->res = nb;
        w->res_cap = total + 1;
    }
    while (p < end) {
        if ((rc = field_next(w, &p, end, &RESOURCE_SPANS, &f)) < 0)
            return rc;
        if (f.num == F_RS_RESOURCE) {
            memcpy(w->res + n, f.p, f.len);
            n += f.len;
        }
    }
    return 0;
}

/* The domain of the ResourceSpans in [p, end): a walk over its fields
 * first, since the resource may come after the spans. A repeated resource
 * merges: its payloads decode as one. */
static int rs_domain(struct rw *w, const uint8_t *p, const uint8_t *end,
                     int *id)
{
    const uint8_t *begin = p, *res = NULL, *res_at = p;
    size_t nres = 0, res_len = 0, total = 0;
    struct field f;
    int rc;

    while (p < end) {
        if ((rc = field_next(w, &p, end, &RESOURCE_SPANS, &f)) < 0)
            return rc;
        if (f.num != F_RS_RESOURCE)
            continue;
        if (nres++ == 0) {
            res_at = f.at;
            res = f.p;
            res_len = f.len;
        }
        total += f.len;
    }
    if (nres > 1) {
        if ((rc = concat_resources(w, begin, end, total)) < 0)
            return rc;
        res = w->res;
        res_len = total;
    }
    return domain_id(w, res_at, res, res_len, nres > 0, id);
}

static int rewrite_resource_spans(struct rw *w, const struct field *rf)
{
    const uint8_t *p = rf->p, *end = rf->p + rf->len;
    size_t at, k = (size_t)(rf->p - rf->val);
    struct field f;
    int id = -1, rc;

    w->level = 1;
    if ((rc = rs_domain(w, p, end, &id)) < 0 ||
        (rc = out_put(w, rf->at, (size_t)(rf->val - rf->at))) < 0 ||
        (rc = out_open(w, k, &at)) < 0)
        return rc;
    w->ss = 0;
    while (p < end) {
        if ((rc = field_next(w, &p, end, &RESOURCE_SPANS, &f)) < 0)
            return rc;
        if (f.num == F_RS_SCOPE_SPANS) {
            w->level = 2;
            rc = rewrite_scope_spans(w, &f, id);
            w->level = 1;
            w->ss++;
        } else {
            rc = out_field(w, &f);
        }
        if (rc < 0)
            return rc;
    }
    return out_close(w, at, k);
}

int rewrite_otlp_proto(const uint8_t *in, size_t len,
                       const struct clock_model *model,
                       const char *clock_domain_attr, uint8_t **out,
                       size_t *outlen, struct correct_stats *stats, char *err,
                       size_t errlen)
{
    static const uint8_t empty[1];
    struct rw w = {
        .base = in ? in : empty,
        .model = model,
        .user_attr = clock_domain_attr,
        .err = err,
        .errlen = errlen,
    };
    const uint8_t *p = w.base, *end = w.base + len;
    struct field f;
    int rc;

    *out = NULL;
    *outlen = 0;
    /* Changed spans about double in size: start with room for that. */
    rc = out_room(&w, len <= SIZE_MAX / 4 ? 2 * len + 64 : len);
    while (rc == 0 && p < end) {
        if ((rc = field_next(&w, &p, end, &REQUEST, &f)) < 0)
            break;
        if (f.num == F_REQ_RESOURCE_SPANS) {
            rc = rewrite_resource_spans(&w, &f);
            w.level = 0;
            w.rs++;
        } else {
            rc = out_field(&w, &f);
        }
    }
    if (rc == 0) {
        *out = w.out;
        *outlen = w.len;
        w.out = NULL;
        if (stats) {
            stats->spans += w.spans;
            stats->adjusted += w.adjusted;
        }
    }
    free(w.out);
    free(w.res);
    return rc;
}

/* ---- OTLP/JSON -------------------------------------------------------- */

static const char EMPTY_DOC[] = "{\"resourceSpans\":[]}";

static int json_nomem(char *err, size_t errlen)
{
    snprintf(err, errlen, BODY_NAME ": out of memory");
    return -2;
}

/* The resourceSpans array of a document, in either spelling. */
static json_t *json_resource_spans(json_t *doc)
{
    json_t *a = json_object_get(doc, "resourceSpans");

    return a ? a : json_object_get(doc, "resource_spans");
}

/* One document out of the n-byte output of correct (one per line; n > 0,
 * the last byte a newline): the resourceSpans of every line after the
 * first appended to the first's. */
static int json_merge(const char *buf, size_t n, char **out, size_t *outlen,
                      char *err, size_t errlen)
{
    const char *p = buf, *end = buf + n;
    json_t *first = NULL, *all = NULL;
    int rc = 0;

    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        json_t *doc = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, NULL);
        p = nl < end ? nl + 1 : end;
        if (!doc) {
            rc = json_nomem(err, errlen); /* correct wrote it: valid */
        } else if (!first) {
            first = doc;
            all = json_resource_spans(first);
            if (!json_is_array(all) &&
                json_object_set_new(first, "resourceSpans",
                                    all = json_array()) != 0)
                rc = json_nomem(err, errlen);
        } else {
            json_t *more = json_resource_spans(doc);
            if (json_is_array(more) && json_array_extend(all, more) != 0)
                rc = json_nomem(err, errlen);
            json_decref(doc);
        }
    }
    if (rc == 0) {
        size_t len = json_dumpb(first, NULL, 0, JSON_COMPACT);
        *out = len ? malloc(len + 1) : NULL;
        if (!*out || json_dumpb(first, *out, len, JSON_COMPACT) != len) {
            free(*out);
            *out = NULL;
            rc = json_nomem(err, errlen);
        } else {
            (*out)[len] = '\0';
            *outlen = len;
        }
    }
    json_decref(first);
    return rc;
}

/* What correct wrote (buf, n bytes, taken over) as one document. */
static int json_one_document(char *buf, size_t n, char **out, size_t *outlen,
                             char *err, size_t errlen)
{
    int rc = 0;

    if (n == 0) { /* a blank body: no document */
        free(buf);
        *out = strdup(EMPTY_DOC);
        *outlen = sizeof(EMPTY_DOC) - 1;
        return *out ? 0 : json_nomem(err, errlen);
    }
    if (buf[n - 1] != '\n') { /* correct ends every line */
        free(buf);
        return json_nomem(err, errlen);
    }
    if (!memchr(buf, '\n', n - 1)) {
        buf[n - 1] = '\0';
        *out = buf;
        *outlen = n - 1;
        return 0;
    }
    rc = json_merge(buf, n, out, outlen, err, errlen);
    free(buf);
    return rc;
}

int rewrite_otlp_json(const char *in, size_t len,
                      const struct clock_model *model,
                      const char *clock_domain_attr, char **out, size_t *outlen,
                      struct correct_stats *stats, char *err, size_t errlen)
{
    struct correct_opts opts = {
        .in_format = TRACE_FORMAT_OTLP_JSON,
        .out_format = TRACE_FORMAT_OTLP_JSON,
        .clock_domain_attr = clock_domain_attr,
    };
    struct correct_stats st = {0, 0};
    struct source *src;
    char *buf = NULL;
    size_t n = 0;
    FILE *f;
    int rc;

    *out = NULL;
    *outlen = 0;
    /* The memory source would inflate gzip on its own (as the receiver
     * says, compressed bodies are announced by Content-Encoding). */
    if (in && len >= 2 && (unsigned char)in[0] == 0x1f &&
        (unsigned char)in[1] == 0x8b) {
        snprintf(err, errlen,
                 BODY_NAME ":1:1: gzip data without Content-Encoding: gzip "
                           "(or compressed twice)");
        return -1;
    }
    src = source_open_memory(in ? in : "", len, BODY_NAME, err, errlen);
    if (!src)
        return -2;
    f = open_memstream(&buf, &n);
    if (!f) {
        source_close(src);
        return json_nomem(err, errlen);
    }
    rc = correct_otlp_json_ops.run(src, &opts, model, f, &st, err, errlen);
    if (fclose(f) != 0 && rc == 0)
        rc = -INGEST_E_NOMEM;
    source_close(src);
    if (rc != 0) {
        free(buf);
        if (rc == -INGEST_E_MALFORMED)
            return -1;
        return rc == -INGEST_E_NOMEM ? json_nomem(err, errlen) : -2;
    }
    if ((rc = json_one_document(buf, n, out, outlen, err, errlen)) == 0 &&
        stats) {
        stats->spans += st.spans;
        stats->adjusted += st.adjusted;
    }
    return rc;
}
