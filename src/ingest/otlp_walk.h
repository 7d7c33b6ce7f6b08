/* otlp_walk: the one walker of OTLP protobuf requests on the wire. Both
 * protobuf paths that work on the wire format call it: the read path
 * (ingest/otlp_wire.c, spans into a span_store) and the rewriter
 * (output/correct_wire.c: `correct`, and serve's forwarding). So they
 * agree on what a well-formed request is, where a field lies, which clock
 * domain a resource names, and what an error says.
 *
 * What it knows:
 *  - the message kinds of an ExportTraceServiceRequest and the wire type
 *    of each of their known fields (a known field with another wire type
 *    is malformed; unknown fields are taken with any wire type);
 *  - the wire rules: varints of at most 10 bytes, lengths within the
 *    enclosing message, no groups, no field number 0;
 *  - the readers' string rule: every `string` field of the request, read
 *    or skipped, is valid UTF-8 (util/utf8.h), checked by walking skipped
 *    sub-messages with their protobuf-c descriptors (ASCII-only bytes
 *    need no walk); nesting deeper than OTLP_PROTO_MAX_DEPTH is refused
 *    where protobuf-c refused it;
 *  - KeyValue / AnyValue with protobuf-c's semantics (the last member of a
 *    oneof wins, repeated values merge, C strings end at their first NUL),
 *    the clock domain of a ResourceSpans (clock_domain_rank() over the
 *    resource attributes, "unknown" when none), and a Span's IDs (16, 8
 *    and empty-or-8 bytes), kind, times and transport system.
 *
 * Errors: "NAME: byte N: expected WHAT (message at byte M: PATH)", N the
 * exact input offset of the offending bytes (tag, length prefix or value),
 * M that of the message's frame, PATH the resource_spans / scope_spans /
 * spans indices (struct otlp_walk's level and counters, kept by the
 * caller). Functions return 0 or a negated enum ingest_status:
 * -INGEST_E_MALFORMED or -INGEST_E_NOMEM, the message in w->err.
 *
 * Flow: (otlp_proto stream framing, or a request body) -> otlp_walk ->
 *       otlp_wire (span_store) | correct_wire (rewritten bytes).
 * No state beyond struct otlp_walk: thread-safe per walk. */
#ifndef SKEWSCOPE_OTLP_WALK_H
#define SKEWSCOPE_OTLP_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/otlp_proto.h"
#include "ingest/wire.h"
#include "util/utf8.h"

/* Field numbers the walkers read or write. */
enum {
    OTLP_F_REQUEST_RESOURCE_SPANS = 1,
    OTLP_F_RS_RESOURCE = 1,
    OTLP_F_RS_SCOPE_SPANS = 2,
    OTLP_F_RESOURCE_ATTRIBUTES = 1,
    OTLP_F_SS_SPANS = 2,
    OTLP_F_SPAN_TRACE_ID = 1,
    OTLP_F_SPAN_SPAN_ID = 2,
    OTLP_F_SPAN_PARENT_SPAN_ID = 4,
    OTLP_F_SPAN_KIND = 6,
    OTLP_F_SPAN_START = 7,
    OTLP_F_SPAN_END = 8,
    OTLP_F_SPAN_ATTRIBUTES = 9,
    OTLP_F_SPAN_EVENTS = 11,
    OTLP_F_SPAN_LINKS = 13,
    OTLP_F_EVENT_TIME = 1,
    OTLP_F_EVENT_ATTRIBUTES = 3,
    OTLP_F_LINK_TRACE_ID = 1,
    OTLP_F_LINK_SPAN_ID = 2,
    OTLP_F_KV_KEY = 1,
    OTLP_F_KV_VALUE = 2,
    OTLP_F_ANY_INT = 3,
};

/* Nesting depth of each message as otlp_proto_request_unpack() counts it
 * (the request is 0), for the nesting rule. */
enum {
    OTLP_DEPTH_RS = 1,
    OTLP_DEPTH_SS = 2,
    OTLP_DEPTH_RESOURCE = 2,
    OTLP_DEPTH_SPAN = 3,
    OTLP_DEPTH_RESOURCE_KV = 3,
    OTLP_DEPTH_SPAN_KV = 4,
    OTLP_DEPTH_EVENT = 4,
    OTLP_DEPTH_LINK = 4,
    OTLP_DEPTH_EVENT_KV = 5,
};

#define OTLP_WT_ANY 0xfe  /* any wire type (protobuf-c's bool) */
#define OTLP_WT_NONE 0xff /* not a field of this message */

/* A message type: its name for errors, the wire type of each known field
 * number (index), its protobuf-c descriptor for the nesting and string
 * walks. */
struct otlp_msg_kind {
    const char *name;
    const uint8_t *wt;
    size_t nwt;
    const struct ProtobufCMessageDescriptor *desc;
};

extern const struct otlp_msg_kind otlp_kind_request, otlp_kind_resource_spans,
    otlp_kind_resource, otlp_kind_scope_spans, otlp_kind_span, otlp_kind_event,
    otlp_kind_link, otlp_kind_key_value, otlp_kind_any_value;

/* Where a walk is, for its messages. */
enum otlp_walk_level {
    OTLP_AT_REQUEST = 0,
    OTLP_AT_RS,
    OTLP_AT_SS,
    OTLP_AT_SPAN,
};

/* One message being walked: the error context. The caller sets the
 * fields and keeps level, rs, ss and sp (indices) up to date. */
struct otlp_walk {
    const char *name;      /* the input, in messages ("in.pb") */
    const uint8_t *base;   /* the message's byte 0 */
    uint64_t offset;       /* its input offset */
    uint64_t frame_offset; /* that of its frame (length prefix included) */
    const char *user_attr; /* --clock-domain attribute, or NULL */
    char *err;
    size_t errlen;
    enum otlp_walk_level level;
    size_t rs, ss, sp;
};

/* One field as read off the wire. */
struct otlp_field {
    const uint8_t *at;  /* its tag */
    const uint8_t *val; /* after the tag: the value, or its length prefix */
    const uint8_t *p;   /* WT_LEN: the payload */
    size_t len;         /* WT_LEN: payload bytes */
    uint64_t num;       /* field number */
    uint64_t v;         /* WT_VARINT value; WT_I64 / WT_I32 bits */
    unsigned wt;
};

/* ---- errors ------------------------------------------------------------ */

/* "NAME: byte N: expected WHAT (message at byte M: PATH)" with N the input
 * offset of `at`. Returns -INGEST_E_MALFORMED. */
int otlp_walk_fail(struct otlp_walk *w, const uint8_t *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4), cold))
#endif
    ;
/* "NAME: out of memory"; returns -INGEST_E_NOMEM. */
int otlp_walk_nomem(struct otlp_walk *w);

/* The slow and failing parts of otlp_walk_next() (not called directly). */
int otlp_walk_value(struct otlp_walk *w, const uint8_t **pp, const uint8_t *end,
                    struct otlp_field *f);
int otlp_walk_tag_fail(struct otlp_walk *w, const uint8_t *p,
                       const uint8_t *end);
int otlp_walk_zero_fail(struct otlp_walk *w, const uint8_t *at,
                        const struct otlp_msg_kind *k);
int otlp_walk_type_fail(struct otlp_walk *w, const struct otlp_field *f,
                        const struct otlp_msg_kind *k, unsigned want);

/* ---- fields ------------------------------------------------------------ */

/* The next field of a message of kind k at *pp (before end). Returns 0
 * with *f filled and *pp moved past the field, or a negated status. */
static WIRE_INLINE int otlp_walk_next(struct otlp_walk *w, const uint8_t **pp,
                                      const uint8_t *end,
                                      const struct otlp_msg_kind *k,
                                      struct otlp_field *f)
{
    const uint8_t *p = *pp;
    uint64_t tag;

    f->at = p;
    if (__builtin_expect(wire_varint(&p, end, &tag) < 0, 0))
        return otlp_walk_tag_fail(w, p, end);
    f->num = tag >> 3;
    f->wt = (unsigned)(tag & 7);
    f->val = p;
    if (__builtin_expect(f->num == 0, 0))
        return otlp_walk_zero_fail(w, f->at, k);
    if (f->num < k->nwt) {
        unsigned want = k->wt[f->num];
        if (want != f->wt && want != OTLP_WT_NONE && want != OTLP_WT_ANY)
            return otlp_walk_type_fail(w, f, k, want);
    }
    /* Fast path: a length prefix of one byte, or a fixed64 (IDs, keys,
     * strings and times, which are most of what is read). */
    if (f->wt == WT_LEN && p < end && *p < 0x80 &&
        (size_t)(end - p - 1) >= *p) {
        f->p = p + 1;
        f->len = *p;
        *pp = f->p + f->len;
        return 0;
    }
    if (f->wt == WT_I64 && (size_t)(end - p) >= 8) {
        f->v = wire_le(p, 8);
        *pp = p + 8;
        return 0;
    }
    *pp = p;
    return otlp_walk_value(w, pp, end, f);
}

/* ---- what is not read: nesting and strings ------------------------------ */

/* Slow parts of otlp_walk_skip() (not called directly). */
int otlp_walk_skip_deep(struct otlp_walk *w, const struct otlp_msg_kind *k,
                        unsigned depth, const struct otlp_field *f);
int otlp_walk_skip_strings(struct otlp_walk *w, const struct otlp_msg_kind *k,
                           unsigned depth, const struct otlp_field *f);

/* otlp_walk_skip() for a field whose bytes are known to be ASCII (so
 * valid UTF-8): refused only where it nests too deep. */
static WIRE_INLINE int otlp_walk_skip_ascii(struct otlp_walk *w,
                                            const struct otlp_msg_kind *k,
                                            unsigned depth,
                                            const struct otlp_field *f)
{
    /* A sub-message needs 2 bytes per level to nest at all. */
    if (f->wt != WT_LEN || depth + f->len / 2 <= OTLP_PROTO_MAX_DEPTH)
        return 0;
    return otlp_walk_skip_deep(w, k, depth, f);
}

/* A field f of a message of kind k that the caller does not read, whose
 * value lies at nesting depth `depth`: refused where a string in it is not
 * UTF-8, or where it nests too deep. */
static WIRE_INLINE int otlp_walk_skip(struct otlp_walk *w,
                                      const struct otlp_msg_kind *k,
                                      unsigned depth,
                                      const struct otlp_field *f)
{
    int rc;

    if (f->wt != WT_LEN)
        return 0;
    if ((rc = otlp_walk_skip_ascii(w, k, depth, f)) < 0)
        return rc;
    if (__builtin_expect(utf8_is_ascii(f->p, f->len), 1))
        return 0;
    return otlp_walk_skip_strings(w, k, depth, f);
}

/* The n bytes at p of string field `field` must be valid UTF-8. */
int otlp_walk_string(struct otlp_walk *w, const uint8_t *p, size_t n,
                     const char *field);

/* ---- KeyValue and AnyValue ---------------------------------------------- */

/* An AnyValue as protobuf-c leaves it: which member is set and its value. */
enum {
    OTLP_AV_NONE = 0,
    OTLP_AV_STRING = 1,
    OTLP_AV_BOOL = 2,
    OTLP_AV_INT = 3,
    OTLP_AV_DOUBLE = 4,
    OTLP_AV_ARRAY = 5,
    OTLP_AV_KVLIST = 6,
    OTLP_AV_BYTES = 7,
};
struct otlp_anyval {
    unsigned vcase; /* OTLP_AV_*: the AnyValue field number, 0 = unset */
    const uint8_t *p;
    size_t len;
    uint64_t v; /* int / double bits / bool (0 or 1) */
};

/* The parts of a KeyValue. */
struct otlp_kv {
    const uint8_t *key; /* NULL: no key field (the last one counts) */
    size_t key_len;     /* bytes on the wire (may hold a NUL) */
    unsigned nval;      /* value fields seen */
    const uint8_t *val; /* the first one's payload */
    size_t val_len;
};

/* The KeyValue in [p, end), whose fields lie at depth `depth`: its fields
 * walked and checked, values skipped. */
int otlp_walk_kv(struct otlp_walk *w, const uint8_t *p, const uint8_t *end,
                 unsigned depth, struct otlp_kv *kv);
/* Its value, merged over repeated value fields as protobuf-c merges. */
int otlp_walk_kv_value(struct otlp_walk *w, const uint8_t *p,
                       const uint8_t *end, unsigned depth,
                       const struct otlp_kv *kv, struct otlp_anyval *out);

/* Length of a protobuf-c string: up to its first NUL. */
size_t otlp_walk_cstr_len(const uint8_t *p, size_t n);

/* Whether the key of kv, read up to its first NUL as protobuf-c's C string
 * is, equals the n-byte string s. */
static inline bool otlp_walk_key_is(const struct otlp_kv *kv, const char *s,
                                    size_t n)
{
    return kv->key && kv->key_len >= n &&
           __builtin_memcmp(kv->key, s, n) == 0 &&
           (kv->key_len == n || kv->key[n] == 0);
}

/* ---- a ResourceSpans' clock domain ------------------------------------ */

/* Walk every field of the ResourceSpans in [p, end) but its scope_spans
 * (resource, schema_url, unknown ones: checked as the rules say) and name
 * its clock domain as the readers do: the lowest-ranked scalar attribute
 * of its resource (repeated resources merge), "unknown" when none. *name
 * (len bytes) points into the message or into buf (64 bytes are plenty:
 * numbers, booleans, hex of bytes truncated). */
int otlp_walk_rs_domain(struct otlp_walk *w, const uint8_t *p,
                        const uint8_t *end, char *buf, size_t buflen,
                        const char **name, size_t *len);

/* ---- spans ------------------------------------------------------------- */

/* What a Span's fields said (protobuf: the last occurrence wins). */
struct otlp_span_view {
    struct otlp_field tid, sid, pid; /* len 0 and at NULL when absent */
    uint64_t kind, start, end;       /* 0 when absent */
    const uint8_t *links;            /* the first link's tag, or NULL */
    const uint8_t *events;           /* the first event's tag, or NULL */
    /* Transport system: messaging.system wins over rpc.system; the first
     * string value of each counts. */
    const uint8_t *sys;
    size_t sys_len;
    bool sys_set, sys_final;
};

/* Walk the Span in [p, end): every field checked (strings, nesting,
 * attribute KeyValues), IDs of 16, 8 and empty-or-8 bytes (an empty
 * trace or span ID is no error: ingest_span_invalid() decides), the view
 * filled. Links are not walked: otlp_walk_links() does. */
int otlp_walk_span(struct otlp_walk *w, const uint8_t *p, const uint8_t *end,
                   struct otlp_span_view *v);

/* A Span.Link (field lf of a span): walked and checked; its IDs (16 and 8
 * bytes, or empty) into *tid / *sid (NULL when empty). */
int otlp_walk_link(struct otlp_walk *w, const struct otlp_field *lf,
                   const uint8_t **tid, const uint8_t **sid);

#endif
