/* correct_wire: `correct` for one protobuf request on the wire format (see
 * correct_wire.h).
 *
 * One pass over the request that copies it into the output. Per
 * ResourceSpans the clock domain comes first (otlp_walk_rs_domain(), a walk
 * over its fields but the spans: the resource may follow its spans); then
 * each Span is walked once (otlp_walk_span(): checked as the readers check
 * it; its events' times read) to learn whether it changes. A span that
 * does not change is copied as it is; one that does is copied field by
 * field:
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
 * Checked: everything the read path checks (otlp_walk), and also the
 * framing of the events of every span and of the KeyValues of changed
 * spans and events, which this pass reads. */
#include "output/correct_wire.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/otlp_walk.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct.h"

/* Tags written (field << 3 | wire type). */
static const uint8_t TAG_SPAN_START = OTLP_F_SPAN_START << 3 | WT_I64;
static const uint8_t TAG_SPAN_END = OTLP_F_SPAN_END << 3 | WT_I64;
static const uint8_t TAG_SPAN_ATTR = OTLP_F_SPAN_ATTRIBUTES << 3 | WT_LEN;
static const uint8_t TAG_EVENT_TIME = OTLP_F_EVENT_TIME << 3 | WT_I64;
static const uint8_t TAG_EVENT_ATTR = OTLP_F_EVENT_ATTRIBUTES << 3 | WT_LEN;
#define TAG_KV_KEY (OTLP_F_KV_KEY << 3 | WT_LEN)
#define TAG_KV_VALUE (OTLP_F_KV_VALUE << 3 | WT_LEN)
#define TAG_ANY_INT (OTLP_F_ANY_INT << 3 | WT_VARINT)

struct rw {
    struct otlp_walk walk;
    const struct clock_model *model;
    struct correct_wire_out *out;
    size_t spans, adjusted;
};

/* An int attribute to set: CORRECT_ATTR_* key and value. */
struct attr {
    const char *key;
    size_t len;
    int64_t v;
};

/* The bytes of the field otlp_walk_next() just read: [f->at, *next). */
static inline size_t field_size(const struct otlp_field *f, const uint8_t *next)
{
    return (size_t)(next - f->at);
}

/* ---- writing ---------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int
out_grow(struct rw *w, size_t n)
{
    struct correct_wire_out *o = w->out;
    size_t cap = o->cap ? o->cap : 256;
    uint8_t *nb;

    while (cap - o->len < n) {
        if (cap > SIZE_MAX / 2)
            return otlp_walk_nomem(&w->walk);
        cap *= 2;
    }
    nb = realloc(o->p, cap);
    if (!nb)
        return otlp_walk_nomem(&w->walk);
    o->p = nb;
    o->cap = cap;
    return 0;
}

/* Room for n more bytes. */
static WIRE_INLINE int out_room(struct rw *w, size_t n)
{
    return w->out->cap - w->out->len >= n ? 0 : out_grow(w, n);
}

static WIRE_INLINE int out_put(struct rw *w, const void *p, size_t n)
{
    int rc;

    if ((rc = out_room(w, n)) < 0)
        return rc;
    memcpy(w->out->p + w->out->len, p, n);
    w->out->len += n;
    return 0;
}

/* Room must have been made. */
static WIRE_INLINE void out_varint(struct rw *w, uint64_t v)
{
    w->out->len += otlp_proto_put_varint(w->out->p + w->out->len, v);
}

/* A fixed64 field: taglen bytes of tag, then v. */
static int out_fixed64(struct rw *w, const uint8_t *tag, size_t taglen,
                       uint64_t v)
{
    int rc;

    if ((rc = out_room(w, taglen + 8)) < 0)
        return rc;
    memcpy(w->out->p + w->out->len, tag, taglen);
    wire_put_le64(w->out->p + w->out->len + taglen, v);
    w->out->len += taglen + 8;
    return 0;
}

/* Start a length-delimited value (after its tag is written) whose prefix
 * had k bytes in the input: k bytes are kept for it at *at. */
static int out_open(struct rw *w, size_t k, size_t *at)
{
    int rc;

    if ((rc = out_room(w, k)) < 0)
        return rc;
    *at = w->out->len;
    w->out->len += k;
    return 0;
}

/* End the value started at `at` with k prefix bytes: write its length,
 * moving the value when that takes more or fewer bytes than k. */
static int out_close(struct rw *w, size_t at, size_t k)
{
    struct correct_wire_out *o = w->out;
    size_t body = o->len - at - k;
    size_t need = wire_varint_size(body);
    int rc;

    if (need != k) {
        if (need > k && (rc = out_room(w, need - k)) < 0)
            return rc;
        memmove(o->p + at + need, o->p + at + k, body);
        o->len = at + need + body;
    }
    otlp_proto_put_varint(o->p + at, body);
    return 0;
}

/* The tag and the length prefix of field f, and a place for its new
 * value: *at and *k for out_close(). */
static int out_open_field(struct rw *w, const struct otlp_field *f, size_t *at,
                          size_t *k)
{
    int rc;

    *k = (size_t)(f->p - f->val);
    if ((rc = out_put(w, f->at, (size_t)(f->val - f->at))) < 0)
        return rc;
    return out_open(w, *k, at);
}

/* The fields of the KeyValue `old` other than key and value (protobuf-c
 * keeps unknown fields of a KeyValue whose value it replaces). */
static int out_kv_rest(struct rw *w, const struct otlp_field *old,
                       unsigned depth)
{
    const uint8_t *p = old->p, *end = old->p + old->len, *at;
    struct otlp_field f;
    int rc;

    while (p < end) {
        at = p;
        if ((rc = otlp_walk_next(&w->walk, &p, end, &otlp_kind_key_value, &f)) <
            0)
            return rc;
        if (f.num == OTLP_F_KV_KEY || f.num == OTLP_F_KV_VALUE)
            continue;
        if ((rc = otlp_walk_skip(&w->walk, &otlp_kind_key_value, depth + 1,
                                 &f)) < 0 ||
            (rc = out_put(w, at, (size_t)(p - at))) < 0)
            return rc;
    }
    return 0;
}

/* An attribute field (tag) holding KeyValue{a->key, AnyValue{int a->v}},
 * followed by the other fields of `old` when it replaces one (else NULL). */
static int out_kv(struct rw *w, uint8_t tag, const struct attr *a,
                  const struct otlp_field *old, unsigned depth)
{
    struct correct_wire_out *o = w->out;
    size_t at;
    int rc;

    if ((rc = out_put(w, &tag, 1)) < 0 || (rc = out_open(w, 1, &at)) < 0 ||
        (rc = out_room(w, 1 + 10 + a->len + 3 + 10)) < 0)
        return rc;
    o->p[o->len++] = TAG_KV_KEY;
    out_varint(w, a->len);
    memcpy(o->p + o->len, a->key, a->len);
    o->len += a->len;
    o->p[o->len++] = TAG_KV_VALUE;
    o->p[o->len++] = (uint8_t)(1 + wire_varint_size((uint64_t)a->v));
    o->p[o->len++] = TAG_ANY_INT;
    out_varint(w, (uint64_t)a->v);
    if (old && (rc = out_kv_rest(w, old, depth)) < 0)
        return rc;
    return out_close(w, at, 1);
}

/* ---- attributes ------------------------------------------------------- */

static const char KEY_PREFIX[] = "skewscope.";
#define KEY_PREFIX_LEN (sizeof(KEY_PREFIX) - 1)

/* Which of the n attributes a the KeyValue in f (its fields at depth
 * `depth`) names (its key as protobuf-c reads it: the last key field, up
 * to its first NUL); -1 for none. */
static int kv_which(struct rw *w, const struct otlp_field *f, unsigned depth,
                    const struct attr *a, size_t n, int *which)
{
    struct otlp_kv kv;
    size_t key_len;
    int rc;

    *which = -1;
    if ((rc = otlp_walk_kv(&w->walk, f->p, f->p + f->len, depth, &kv)) < 0)
        return rc;
    if (!kv.key || kv.key_len < KEY_PREFIX_LEN ||
        memcmp(kv.key, KEY_PREFIX, KEY_PREFIX_LEN) != 0)
        return 0;
    key_len = otlp_walk_cstr_len(kv.key, kv.key_len);
    for (size_t i = 0; i < n; i++)
        if (key_len == a[i].len && memcmp(kv.key, a[i].key, key_len) == 0)
            *which = (int)i;
    return 0;
}

/* One attribute field f (ending at next) of a changed span or event: the
 * first one with a key of a (placed[] tells which were seen) gets the new
 * value, the others are copied. */
static int emit_attr(struct rw *w, const struct otlp_field *f,
                     const uint8_t *next, uint8_t tag, unsigned depth,
                     const struct attr *a, size_t n, bool *placed)
{
    int which, rc;

    if ((rc = kv_which(w, f, depth, a, n, &which)) < 0)
        return rc;
    if (which < 0 || placed[which])
        return out_put(w, f->at, field_size(f, next));
    placed[which] = true;
    return out_kv(w, tag, &a[which], f, depth);
}

/* The attributes of a that no field held, appended in order. */
static int append_attrs(struct rw *w, uint8_t tag, const struct attr *a,
                        size_t n, const bool *placed)
{
    int rc;

    for (size_t i = 0; i < n; i++)
        if (!placed[i] && (rc = out_kv(w, tag, &a[i], NULL, 0)) < 0)
            return rc;
    return 0;
}

/* ---- spans ------------------------------------------------------------ */

static WIRE_INLINE int64_t to_ref(const struct rw *w, int id, uint64_t t)
{
    return clock_model_to_reference(w->model, id, (int64_t)t);
}

/* The time of the Event in f (its last time field; 0 when absent). */
static int event_time(struct rw *w, const struct otlp_field *f, uint64_t *t)
{
    const uint8_t *p = f->p, *end = f->p + f->len;
    struct otlp_field g;
    int rc;

    *t = 0;
    while (p < end) {
        if ((rc = otlp_walk_next(&w->walk, &p, end, &otlp_kind_event, &g)) < 0)
            return rc;
        if (g.num == OTLP_F_EVENT_TIME)
            *t = g.v;
    }
    return 0;
}

/* An event of a changed span (field ef, ending at next): copied when its
 * time stays, else rewritten with the mapped time and the original in
 * CORRECT_ATTR_ORIG_TIME. */
static int emit_event(struct rw *w, const struct otlp_field *ef,
                      const uint8_t *next, int id)
{
    const uint8_t *p = ef->p, *end = ef->p + ef->len, *fnext;
    struct attr a = {CORRECT_ATTR_ORIG_TIME, sizeof(CORRECT_ATTR_ORIG_TIME) - 1,
                     0};
    bool placed = false, has_time = false;
    uint64_t t;
    int64_t ref;
    struct otlp_field f;
    size_t at, k;
    int rc;

    if ((rc = event_time(w, ef, &t)) < 0)
        return rc;
    ref = to_ref(w, id, t);
    if (ref == (int64_t)t)
        return out_put(w, ef->at, field_size(ef, next));
    a.v = (int64_t)t;
    if ((rc = out_open_field(w, ef, &at, &k)) < 0)
        return rc;
    while (p < end) {
        if ((rc = otlp_walk_next(&w->walk, &p, end, &otlp_kind_event, &f)) < 0)
            return rc;
        fnext = p;
        if (f.num == OTLP_F_EVENT_TIME) {
            has_time = true;
            rc = out_fixed64(w, f.at, (size_t)(f.val - f.at), (uint64_t)ref);
        } else if (f.num == OTLP_F_EVENT_ATTRIBUTES) {
            rc = emit_attr(w, &f, fnext, TAG_EVENT_ATTR, OTLP_DEPTH_EVENT_KV,
                           &a, 1, &placed);
        } else {
            rc = out_put(w, f.at, field_size(&f, fnext));
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

/* Walk the span [p, end) as the readers do (otlp_walk_span(), links
 * included), then its events: whether anything moves under domain id (-1:
 * unknown to the model, nothing moves). A span the readers count as
 * invalid (an empty or all-zero trace or span ID) moves neither. */
static int span_plan(struct rw *w, const uint8_t *p, const uint8_t *end, int id,
                     struct span_plan *pl)
{
    struct otlp_span_view v;
    struct span_rec rec;
    bool event_moves = false;
    struct otlp_field f;
    const uint8_t *tid, *sid;
    uint64_t t;
    int rc;

    memset(pl, 0, sizeof(*pl));
    if ((rc = otlp_walk_span(&w->walk, p, end, &v)) < 0)
        return rc;
    /* Links, and the events' times: the fields from the first of them. */
    for (p = v.links && (!v.events || v.links < v.events) ? v.links : v.events;
         p && p < end;) {
        if ((rc = otlp_walk_next(&w->walk, &p, end, &otlp_kind_span, &f)) < 0)
            return rc;
        if (f.num == OTLP_F_SPAN_LINKS)
            rc = otlp_walk_link(&w->walk, &f, &tid, &sid);
        else if (f.num == OTLP_F_SPAN_EVENTS && id >= 0 &&
                 (rc = event_time(w, &f, &t)) == 0)
            event_moves = event_moves || to_ref(w, id, t) != (int64_t)t;
        if (rc < 0)
            return rc;
    }
    pl->start = v.start;
    pl->end = v.end;
    memset(&rec, 0, sizeof(rec));
    if (v.tid.len == sizeof(rec.trace_id))
        memcpy(rec.trace_id, v.tid.p, v.tid.len);
    rec.span_id = v.sid.len == 8 ? otlp_proto_span_id(v.sid.p) : 0;
    if (id < 0 || ingest_span_invalid(&rec, true) >= 0)
        return 0;
    pl->start_ref = to_ref(w, id, pl->start);
    pl->end_ref = to_ref(w, id, pl->end);
    pl->changed = event_moves || pl->start_ref != (int64_t)pl->start ||
                  pl->end_ref != (int64_t)pl->end;
    return 0;
}

/* The fields of a changed span [p, end), rewritten. */
static int emit_span_fields(struct rw *w, const uint8_t *p, const uint8_t *end,
                            int id, const struct span_plan *pl,
                            const struct attr *a, bool placed[3], bool has[2])
{
    const uint8_t *next;
    struct otlp_field f;
    int rc;

    while (p < end) {
        if ((rc = otlp_walk_next(&w->walk, &p, end, &otlp_kind_span, &f)) < 0)
            return rc;
        next = p;
        switch (f.num) {
        case OTLP_F_SPAN_START:
        case OTLP_F_SPAN_END: {
            bool is_start = f.num == OTLP_F_SPAN_START;
            has[!is_start] = true;
            rc =
                out_fixed64(w, f.at, (size_t)(f.val - f.at),
                            (uint64_t)(is_start ? pl->start_ref : pl->end_ref));
            break;
        }
        case OTLP_F_SPAN_ATTRIBUTES:
            rc = emit_attr(w, &f, next, TAG_SPAN_ATTR, OTLP_DEPTH_SPAN_KV, a, 3,
                           placed);
            break;
        case OTLP_F_SPAN_EVENTS:
            rc = emit_event(w, &f, next, id);
            break;
        default:
            rc = out_put(w, f.at, field_size(&f, next));
            break;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A changed span (field sf): mapped times, the originals as attributes.
 * The offset attribute is the offset subtracted at the span's start, as
 * correct_proto.c has it (computed without signed overflow). */
static int emit_span(struct rw *w, const struct otlp_field *sf, int id,
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
    size_t at, k;
    int rc;

    if ((rc = out_open_field(w, sf, &at, &k)) < 0 ||
        (rc = emit_span_fields(w, sf->p, sf->p + sf->len, id, pl, a, placed,
                               has)) < 0)
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

/* The span field sf (ending at next) of domain id. */
static int rewrite_span(struct rw *w, const struct otlp_field *sf,
                        const uint8_t *next, int id)
{
    struct span_plan pl;
    int rc;

    if ((rc = span_plan(w, sf->p, sf->p + sf->len, id, &pl)) < 0)
        return rc;
    w->spans++;
    if (!pl.changed)
        return out_put(w, sf->at, field_size(sf, next));
    w->adjusted++;
    return emit_span(w, sf, id, &pl);
}

/* ---- containers ------------------------------------------------------- */

static int rewrite_scope_spans(struct rw *w, const struct otlp_field *sf,
                               int id)
{
    const uint8_t *p = sf->p, *end = sf->p + sf->len, *next;
    struct otlp_walk *wk = &w->walk;
    struct otlp_field f;
    size_t at, k;
    int rc;

    if ((rc = out_open_field(w, sf, &at, &k)) < 0)
        return rc;
    wk->sp = 0;
    while (p < end) {
        if ((rc = otlp_walk_next(wk, &p, end, &otlp_kind_scope_spans, &f)) < 0)
            return rc;
        next = p;
        if (f.num == OTLP_F_SS_SPANS) {
            wk->level = OTLP_AT_SPAN;
            rc = rewrite_span(w, &f, next, id);
            wk->level = OTLP_AT_SS;
            wk->sp++;
        } else if ((rc = otlp_walk_skip(wk, &otlp_kind_scope_spans,
                                        OTLP_DEPTH_SS + 1, &f)) == 0) {
            rc = out_put(w, f.at, field_size(&f, next));
        }
        if (rc < 0)
            return rc;
    }
    return out_close(w, at, k);
}

static int rewrite_resource_spans(struct rw *w, const struct otlp_field *rf)
{
    const uint8_t *p = rf->p, *end = rf->p + rf->len, *next;
    struct otlp_walk *wk = &w->walk;
    struct otlp_field f;
    const char *name;
    char buf[128];
    size_t len, at, k;
    int id, rc;

    wk->level = OTLP_AT_RS;
    /* The domain first: the resource may follow its spans. This walk
     * checks every field but the spans. */
    if ((rc = otlp_walk_rs_domain(wk, p, end, buf, sizeof(buf), &name, &len)) <
        0)
        return rc;
    id = clock_model_find(w->model, name, len);
    if ((rc = out_open_field(w, rf, &at, &k)) < 0)
        return rc;
    wk->ss = 0;
    while (p < end) {
        if ((rc = otlp_walk_next(wk, &p, end, &otlp_kind_resource_spans, &f)) <
            0)
            return rc;
        next = p;
        if (f.num == OTLP_F_RS_SCOPE_SPANS) {
            wk->level = OTLP_AT_SS;
            rc = rewrite_scope_spans(w, &f, id);
            wk->level = OTLP_AT_RS;
            wk->ss++;
        } else {
            rc = out_put(w, f.at, field_size(&f, next));
        }
        if (rc < 0)
            return rc;
    }
    return out_close(w, at, k);
}

int correct_wire_request(const uint8_t *in, size_t len,
                         const struct correct_wire_at *where,
                         const struct clock_model *model,
                         const char *clock_domain_attr,
                         struct correct_wire_out *out,
                         struct correct_stats *stats, char *err, size_t errlen)
{
    static const uint8_t empty[1];
    struct rw w = {
        .walk =
            {
                .name = where->name,
                .base = in ? in : empty,
                .offset = where->offset,
                .frame_offset = where->frame_offset,
                .user_attr = clock_domain_attr,
                .err = err,
                .errlen = errlen,
            },
        .model = model,
        .out = out,
    };
    const uint8_t *p = w.walk.base, *end = w.walk.base + len, *next;
    struct otlp_field f;
    int rc;

    /* Changed spans about double in size: room for that from the start. */
    rc = out_room(&w, len <= SIZE_MAX / 4 ? 2 * len + 64 : len);
    while (rc == 0 && p < end) {
        if ((rc = otlp_walk_next(&w.walk, &p, end, &otlp_kind_request, &f)) < 0)
            break;
        next = p;
        if (f.num == OTLP_F_REQUEST_RESOURCE_SPANS) {
            rc = rewrite_resource_spans(&w, &f);
            w.walk.level = OTLP_AT_REQUEST;
            w.walk.rs++;
        } else {
            rc = out_put(&w, f.at, field_size(&f, next));
        }
    }
    if (rc == 0 && stats) {
        stats->spans += w.spans;
        stats->adjusted += w.adjusted;
    }
    return rc;
}
