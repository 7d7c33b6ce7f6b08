/* otlp_wire: a hand-written protobuf wire-format scanner for the OTLP read
 * path (see otlp_wire.h). It sits between the otlp_proto stream, which
 * frames messages, and the span_store.
 *
 * Messages walked and the fields read (numbers from proto/opentelemetry):
 *   ExportTraceServiceRequest  resource_spans=1
 *   ResourceSpans   resource=1 scope_spans=2 schema_url=3 (1000, the legacy
 *                   instrumentation_library_spans, is reserved: unknown)
 *   Resource        attributes=1 dropped_attributes_count=2 entity_refs=3
 *   ScopeSpans      scope=1 spans=2 schema_url=3
 *   Span            trace_id=1 span_id=2 parent_span_id=4 kind=6
 *                   start_time_unix_nano=7 end_time_unix_nano=8
 *                   attributes=9 links=13 (others by wire type)
 *   Span.Link       trace_id=1 span_id=2 attributes=4 (others by wire type)
 *   KeyValue        key=1 value=2
 *   AnyValue        string=1 bool=2 int=3 double=4 array=5 kvlist=6 bytes=7
 *
 * Equivalence with the protobuf-c decoding it replaces, where it is not
 * obvious:
 *  - a known field with the wrong wire type is an error (protobuf-c refuses
 *    it too), except AnyValue.bool_value, which protobuf-c takes with any
 *    wire type and reads as "some value byte has a low bit set";
 *  - strings are C strings there: a key or value ends at its first NUL;
 *  - a repeated `resource` merges (attributes concatenate); a repeated
 *    KeyValue.value merges as protobuf-c's merge_messages() does oneofs;
 *  - nesting deeper than OTLP_PROTO_MAX_DEPTH is refused where the old
 *    path refused it, using the same walk (otlp_proto_nesting_ok()), which
 *    only looks at sub-messages long enough to nest that deep.
 * Sub-messages the scanner skips are not validated, so it accepts some
 * inputs protobuf-c refused (never the other way round). */
#include "ingest/otlp_wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/wire.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "util/log.h"

/* ---- message kinds ---------------------------------------------------- */

#define WT_ANY 0xfe  /* any wire type (protobuf-c's bool) */
#define WT_NONE 0xff /* not a field of this message */
#define N_ 0xff

/* A message type: its name for errors, the wire type of each known field
 * number (index) and its protobuf-c descriptor for the nesting walk. */
struct msg_kind {
    const char *name;
    const uint8_t *wt;
    size_t nwt;
    const ProtobufCMessageDescriptor *desc;
};

static const uint8_t REQUEST_WT[] = {N_, 2};
static const uint8_t RS_WT[] = {N_, 2, 2, 2};
static const uint8_t RESOURCE_WT[] = {N_, 2, 0, 2};
static const uint8_t SS_WT[] = {N_, 2, 2, 2};
static const uint8_t SPAN_WT[] = {N_, 2, 2, 2, 2, 2, 0, 1, 1,
                                  2,  0, 2, 0, 2, 0, 2, 5};
static const uint8_t LINK_WT[] = {N_, 2, 2, 2, 2, 0, 5};
static const uint8_t KV_WT[] = {N_, 2, 2};
static const uint8_t ANY_WT[] = {N_, 2, WT_ANY, 0, 1, 2, 2, 2};

#define KIND(name, wt, desc)                                                   \
    {                                                                          \
        name, wt, sizeof(wt), &desc                                            \
    }
static const struct msg_kind REQUEST = KIND(
    "ExportTraceServiceRequest", REQUEST_WT,
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor);
static const struct msg_kind RESOURCE_SPANS =
    KIND("ResourceSpans", RS_WT,
         opentelemetry__proto__trace__v1__resource_spans__descriptor);
static const struct msg_kind RESOURCE =
    KIND("Resource", RESOURCE_WT,
         opentelemetry__proto__resource__v1__resource__descriptor);
static const struct msg_kind SCOPE_SPANS =
    KIND("ScopeSpans", SS_WT,
         opentelemetry__proto__trace__v1__scope_spans__descriptor);
static const struct msg_kind SPAN =
    KIND("Span", SPAN_WT, opentelemetry__proto__trace__v1__span__descriptor);
static const struct msg_kind LINK =
    KIND("Span.Link", LINK_WT,
         opentelemetry__proto__trace__v1__span__link__descriptor);
static const struct msg_kind KEY_VALUE = KIND(
    "KeyValue", KV_WT, opentelemetry__proto__common__v1__key_value__descriptor);
static const struct msg_kind ANY_VALUE =
    KIND("AnyValue", ANY_WT,
         opentelemetry__proto__common__v1__any_value__descriptor);
#undef KIND

/* Nesting depth of each message as the old walk counts it (request = 0). */
enum {
    DEPTH_RS = 1,
    DEPTH_SS = 2,
    DEPTH_RESOURCE = 2,
    DEPTH_SPAN = 3,
    DEPTH_RESOURCE_KV = 3,
    DEPTH_SPAN_KV = 4,
    DEPTH_LINK = 4,
};

/* ---- state ------------------------------------------------------------ */

struct otlp_wire {
    struct span_store *store;
    const char *user_attr;
    const char *name;
    /* Last interned transport system: spans repeat it. */
    char sys_name[64];
    size_t sys_len;
    uint16_t sys_id;
};

/* One message being scanned. */
struct scan {
    struct otlp_wire *w;
    const uint8_t *base; /* message byte 0 */
    uint64_t offset;     /* its input offset */
    uint64_t frame_offset;
    char *err;
    size_t errlen;
    unsigned level; /* 0 request, 1 resource_spans, 2 scope_spans, 3 span */
    size_t rs, ss, sp;
};

/* One field as read off the wire. */
struct field {
    const uint8_t *at;  /* its tag */
    const uint8_t *val; /* after the tag: value or length prefix */
    const uint8_t *p;   /* WT_LEN: payload */
    size_t len;         /* WT_LEN: payload bytes */
    uint64_t num;       /* field number */
    uint64_t v;         /* WT_VARINT value; WT_I64 / WT_I32 bits */
    unsigned wt;
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

/* ---- errors ----------------------------------------------------------- */

static void scan_path(const struct scan *sc, char *buf, size_t len)
{
    switch (sc->level) {
    case 0:
        buf[0] = '\0';
        break;
    case 1:
        snprintf(buf, len, ": resource_spans[%zu]", sc->rs);
        break;
    case 2:
        snprintf(buf, len, ": resource_spans[%zu].scope_spans[%zu]", sc->rs,
                 sc->ss);
        break;
    default:
        snprintf(buf, len, ": resource_spans[%zu].scope_spans[%zu].spans[%zu]",
                 sc->rs, sc->ss, sc->sp);
        break;
    }
}

/* "NAME: byte N: expected WHAT (message at byte M: PATH)" with N the input
 * offset of `at`. Returns -INGEST_E_MALFORMED. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4), cold, noinline))
#endif
static int
scan_fail(struct scan *sc, const uint8_t *at, const char *fmt, ...)
{
    char what[192], path[96];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    scan_path(sc, path, sizeof(path));
    snprintf(sc->err, sc->errlen,
             "%s: byte %" PRIu64 ": expected %s (message at byte %" PRIu64
             "%s)",
             sc->w->name, sc->offset + (uint64_t)(at - sc->base), what,
             sc->frame_offset, path);
    return -INGEST_E_MALFORMED;
}

static int scan_nomem(struct scan *sc)
{
    snprintf(sc->err, sc->errlen, "%s: out of memory", sc->w->name);
    return -INGEST_E_NOMEM;
}

/* ---- wire primitives -------------------------------------------------- */

/* Why the varint at p (before end) did not read. */
static int varint_fail(struct scan *sc, const uint8_t *p, const uint8_t *end,
                       const char *what)
{
    if ((size_t)(end - p) < 10)
        return scan_fail(sc, p,
                         "%s (varint); the enclosing message ends "
                         "inside it",
                         what);
    return scan_fail(sc, p, "%s as a varint of at most 10 bytes", what);
}

static int field_value_fail(struct scan *sc, const struct field *f,
                            const uint8_t *end)
{
    unsigned need = f->wt == WT_I64 ? 8 : 4;

    return scan_fail(sc, f->val,
                     "%u bytes of a fixed-size value (field %" PRIu64
                     "), only %zu left",
                     need, f->num, (size_t)(end - f->val));
}

/* The value of field f, whose tag was read: moves *pp past it. */
static int field_value(struct scan *sc, const uint8_t **pp, const uint8_t *end,
                       struct field *f)
{
    const uint8_t *p = *pp;
    uint64_t len;

    switch (f->wt) {
    case WT_VARINT:
        if (wire_varint(&p, end, &f->v) < 0)
            return varint_fail(sc, p, end, "a value");
        break;
    case WT_I64:
    case WT_I32: {
        unsigned n = f->wt == WT_I64 ? 8 : 4;
        if ((size_t)(end - p) < n)
            return field_value_fail(sc, f, end);
        f->v = wire_le(p, n);
        p += n;
        break;
    }
    case WT_LEN:
        if (wire_varint(&p, end, &len) < 0)
            return varint_fail(sc, p, end, "a length prefix");
        if (len > (uint64_t)(end - p))
            return scan_fail(sc, f->val,
                             "a length of at most %zu (the rest of the "
                             "enclosing message) for field %" PRIu64
                             ", got %" PRIu64,
                             (size_t)(end - p), f->num, len);
        f->p = p;
        f->len = (size_t)len;
        p += len;
        break;
    default:
        return scan_fail(sc, f->at,
                         "wire type 0, 1, 2 or 5 in the tag of field %" PRIu64
                         ", got %u (groups are not supported)",
                         f->num, f->wt);
    }
    *pp = p;
    return 0;
}

static int wire_type_fail(struct scan *sc, const struct field *f,
                          const struct msg_kind *k, unsigned want)
{
    return scan_fail(sc, f->at,
                     "wire type %u for field %" PRIu64 " of %s, got %u", want,
                     f->num, k->name, f->wt);
}

/* The next field of a message of kind k at *pp (before end). Returns 0 with
 * *f filled and *pp moved past the field, or a negated ingest_status. */
static WIRE_INLINE int field_next(struct scan *sc, const uint8_t **pp,
                                  const uint8_t *end, const struct msg_kind *k,
                                  struct field *f)
{
    const uint8_t *p = *pp;
    uint64_t tag;

    f->at = p;
    if (wire_varint(&p, end, &tag) < 0)
        return varint_fail(sc, p, end, "a field tag");
    f->num = tag >> 3;
    f->wt = (unsigned)(tag & 7);
    f->val = p;
    if (f->num < k->nwt) {
        unsigned want = k->wt[f->num];
        if (want != f->wt && want != WT_NONE && want != WT_ANY)
            return wire_type_fail(sc, f, k, want);
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
    return field_value(sc, pp, end, f);
}

/* A length-delimited field f of a message of kind k that the scanner does
 * not read; `depth` is the depth of f's value. Refused only where the old
 * decoding path refused it: nested too deep (or, being long enough to be
 * walked, not wire format). */
static int skip_deep(struct scan *sc, const struct msg_kind *k, unsigned depth,
                     const struct field *f)
{
    const ProtobufCFieldDescriptor *fd;

    if (f->num > UINT32_MAX)
        return 0;
    fd = protobuf_c_message_descriptor_get_field(k->desc, (unsigned)f->num);
    if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE ||
        otlp_proto_nesting_ok(f->p, f->len, fd->descriptor, depth))
        return 0;
    return scan_fail(sc, f->at,
                     "field %" PRIu64 " of %s to be messages nested at most "
                     "%d deep",
                     f->num, k->name, OTLP_PROTO_MAX_DEPTH);
}

static WIRE_INLINE int skip_field(struct scan *sc, const struct msg_kind *k,
                                  unsigned depth, const struct field *f)
{
    if (f->wt != WT_LEN || depth + f->len / 2 <= OTLP_PROTO_MAX_DEPTH)
        return 0;
    return skip_deep(sc, k, depth, f);
}

/* Length of a protobuf-c string: up to its first NUL. */
static size_t cstr_len(const uint8_t *p, size_t n)
{
    const uint8_t *z = n ? memchr(p, 0, n) : NULL;

    return z ? (size_t)(z - p) : n;
}

/* ---- KeyValue and AnyValue -------------------------------------------- */

/* An AnyValue as protobuf-c leaves it: which member is set and its value. */
struct anyval {
    unsigned vcase; /* AnyValue field number, 0 = unset */
    const uint8_t *p;
    size_t len;
    uint64_t v; /* int / double bits / bool (0 or 1) */
};

enum {
    AV_NONE = 0,
    AV_STRING = 1,
    AV_BOOL = 2,
    AV_INT = 3,
    AV_DOUBLE = 4,
    AV_ARRAY = 5,
    AV_KVLIST = 6,
    AV_BYTES = 7,
};

/* protobuf-c's bool: true when any byte of the value (length prefix
 * included) has one of its low 7 bits set. */
static uint64_t wire_bool(const uint8_t *p, const uint8_t *end)
{
    for (; p < end; p++)
        if (*p & 0x7f)
            return 1;
    return 0;
}

/* The AnyValue in [p, end) at nesting depth `depth`: the last member set
 * wins, as in a oneof. */
static int scan_anyvalue(struct scan *sc, const uint8_t *p, const uint8_t *end,
                         unsigned depth, struct anyval *out)
{
    struct field f;
    int rc;

    out->vcase = AV_NONE;
    while (p < end) {
        if ((rc = field_next(sc, &p, end, &ANY_VALUE, &f)) < 0)
            return rc;
        switch (f.num) {
        case AV_STRING:
        case AV_BYTES:
            out->p = f.p;
            out->len = f.len;
            break;
        case AV_BOOL:
            out->v = wire_bool(f.val, p);
            break;
        case AV_INT:
        case AV_DOUBLE:
            out->v = f.v;
            break;
        case AV_ARRAY:
        case AV_KVLIST:
            if ((rc = skip_field(sc, &ANY_VALUE, depth + 1, &f)) < 0)
                return rc;
            break;
        default:
            continue; /* unknown: the oneof keeps its member */
        }
        out->vcase = (unsigned)f.num;
    }
    return 0;
}

/* A later KeyValue.value occurrence merged into the earlier ones, as
 * protobuf-c's merge_messages() does: a set member replaces; an unset one
 * keeps the earlier member, except that it drops a string (its "is the
 * default" test compares against a NULL union) and empty bytes. */
static void anyval_merge(struct anyval *acc, const struct anyval *later)
{
    if (later->vcase != AV_NONE) {
        *acc = *later;
        return;
    }
    if (acc->vcase == AV_STRING || (acc->vcase == AV_BYTES && acc->len == 0))
        acc->vcase = AV_NONE;
}

/* The parts of a KeyValue found by kv_scan(). */
struct kv {
    const uint8_t *key; /* NULL: no key field */
    size_t key_len;     /* bytes on the wire (may hold a NUL) */
    unsigned nval;      /* value fields seen */
    const uint8_t *val; /* the first one's payload */
    size_t val_len;
};

/* The fields of the KeyValue in [p, end) at depth `depth`, values
 * skipped. */
static int kv_scan(struct scan *sc, const uint8_t *p, const uint8_t *end,
                   unsigned depth, struct kv *kv)
{
    struct field f;
    int rc;

    kv->key = NULL;
    kv->key_len = 0;
    kv->nval = 0;
    while (p < end) {
        if ((rc = field_next(sc, &p, end, &KEY_VALUE, &f)) < 0)
            return rc;
        if (f.num == 1) {
            kv->key = f.p;
            kv->key_len = f.len;
        } else if (f.num == 2) {
            if (kv->nval++ == 0) {
                kv->val = f.p;
                kv->val_len = f.len;
            }
            if ((rc = skip_field(sc, &KEY_VALUE, depth + 1, &f)) < 0)
                return rc;
        }
    }
    return 0;
}

/* Whether the key of kv, read up to its first NUL as protobuf-c's C string
 * is, equals the n-byte literal s. */
static inline bool kv_key_is(const struct kv *kv, const char *s, size_t n)
{
    return kv->key && kv->key_len >= n && memcmp(kv->key, s, n) == 0 &&
           (kv->key_len == n || kv->key[n] == 0);
}

/* The value of the KeyValue in [p, end) that kv_scan() read into kv. */
static int kv_value(struct scan *sc, const uint8_t *p, const uint8_t *end,
                    unsigned depth, const struct kv *kv, struct anyval *out)
{
    struct field f;
    struct anyval later;
    bool first = true;
    int rc;

    out->vcase = AV_NONE;
    if (kv->nval <= 1)
        return kv->nval ? scan_anyvalue(sc, kv->val, kv->val + kv->val_len,
                                        depth + 1, out)
                        : 0;
    while (p < end) {
        if ((rc = field_next(sc, &p, end, &KEY_VALUE, &f)) < 0)
            return rc;
        if (f.num != 2)
            continue;
        rc = scan_anyvalue(sc, f.p, f.p + f.len, depth + 1,
                           first ? out : &later);
        if (rc < 0)
            return rc;
        if (!first)
            anyval_merge(out, &later);
        first = false;
    }
    return 0;
}

/* ---- resource: clock domain ------------------------------------------- */

/* Best clock-domain attribute so far (lowest rank, first wins ties). */
struct dom_pick {
    bool set;
    int rank;
    struct anyval val;
};

static bool anyval_is_scalar(const struct anyval *v)
{
    return v->vcase != AV_NONE && v->vcase != AV_ARRAY && v->vcase != AV_KVLIST;
}

static int resource_attr(struct scan *sc, const struct field *f,
                         struct dom_pick *pick)
{
    const uint8_t *end = f->p + f->len;
    struct anyval val;
    struct kv kv;
    int rank, rc;

    if ((rc = kv_scan(sc, f->p, end, DEPTH_RESOURCE_KV, &kv)) < 0)
        return rc;
    rank = clock_domain_rank(sc->w->user_attr, CLOCK_DOMAIN_OTLP_RESOURCE,
                             kv.key ? (const char *)kv.key : "",
                             kv.key ? cstr_len(kv.key, kv.key_len) : 0);
    if (rank < 0 || (pick->set && rank >= pick->rank))
        return 0;
    if ((rc = kv_value(sc, f->p, end, DEPTH_RESOURCE_KV, &kv, &val)) < 0)
        return rc;
    if (!anyval_is_scalar(&val))
        return 0;
    pick->set = true;
    pick->rank = rank;
    pick->val = val;
    return 0;
}

static int scan_resource(struct scan *sc, const uint8_t *p, const uint8_t *end,
                         struct dom_pick *pick)
{
    struct field f;
    int rc;

    while (p < end) {
        if ((rc = field_next(sc, &p, end, &RESOURCE, &f)) < 0)
            return rc;
        if (f.num == 1)
            rc = resource_attr(sc, &f, pick);
        else
            rc = skip_field(sc, &RESOURCE, DEPTH_RESOURCE + 1, &f);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Text of a scalar value, as otlp_proto_value_text() gives it. */
static int anyval_text(const struct anyval *v, const char **text, size_t *len,
                       char *buf, size_t buflen)
{
    Opentelemetry__Proto__Common__V1__AnyValue av =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;

    switch (v->vcase) {
    case AV_STRING:
        *text = (const char *)v->p;
        *len = cstr_len(v->p, v->len);
        return 0;
    case AV_BOOL:
        av.bool_value = v->v != 0;
        break;
    case AV_INT:
        av.int_value = (int64_t)v->v;
        break;
    case AV_DOUBLE:
        memcpy(&av.double_value, &v->v, sizeof(av.double_value));
        break;
    case AV_BYTES:
        av.bytes_value.len = v->len;
        av.bytes_value.data = (uint8_t *)(uintptr_t)v->p;
        break;
    default:
        return -1;
    }
    av.value_case =
        (Opentelemetry__Proto__Common__V1__AnyValue__ValueCase)v->vcase;
    return otlp_proto_value_text(&av, text, len, buf, buflen);
}

static uint32_t pick_domain(struct scan *sc, const struct dom_pick *pick)
{
    char buf[128];
    const char *name = CLOCK_DOMAIN_UNKNOWN;
    size_t len = strlen(CLOCK_DOMAIN_UNKNOWN);

    if (pick->set)
        anyval_text(&pick->val, &name, &len, buf, sizeof(buf));
    return span_store_domain_id(sc->w->store, name, len);
}

/* ---- spans ------------------------------------------------------------ */

/* Transport system seen so far: messaging.system wins over rpc.system;
 * the first string value of each counts. */
struct sys_pick {
    const uint8_t *p;
    size_t len;
    bool set, final;
};

static const char KEY_MSG[] = "messaging.system";
static const char KEY_RPC[] = "rpc.system";

static int span_attr(struct scan *sc, const struct field *f,
                     struct sys_pick *pick)
{
    const uint8_t *end = f->p + f->len;
    struct anyval val;
    struct kv kv;
    bool is_msg, is_rpc;
    int rc;

    if ((rc = kv_scan(sc, f->p, end, DEPTH_SPAN_KV, &kv)) < 0)
        return rc;
    if (pick->final || !kv.key)
        return 0;
    is_msg = kv_key_is(&kv, KEY_MSG, sizeof(KEY_MSG) - 1);
    is_rpc =
        !is_msg && !pick->set && kv_key_is(&kv, KEY_RPC, sizeof(KEY_RPC) - 1);
    if (!is_msg && !is_rpc)
        return 0;
    if ((rc = kv_value(sc, f->p, end, DEPTH_SPAN_KV, &kv, &val)) < 0)
        return rc;
    if (val.vcase != AV_STRING)
        return 0;
    pick->p = val.p;
    pick->len = cstr_len(val.p, val.len);
    pick->set = true;
    pick->final = is_msg;
    return 0;
}

static uint16_t span_system(struct otlp_wire *w, const struct sys_pick *pick)
{
    const char *val = (const char *)pick->p;
    size_t len = pick->len;
    uint16_t id;

    if (!pick->set || len == 0)
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

static int scan_link(struct scan *sc, const struct field *lf, size_t idx)
{
    const uint8_t *p = lf->p, *end = lf->p + lf->len;
    const uint8_t *tid = NULL, *sid = NULL;
    size_t tid_len = 0, sid_len = 0;
    struct field f;
    int rc;

    while (p < end) {
        if ((rc = field_next(sc, &p, end, &LINK, &f)) < 0)
            return rc;
        if (f.num == 1) {
            tid = f.p;
            tid_len = f.len;
        } else if (f.num == 2) {
            sid = f.p;
            sid_len = f.len;
        } else if ((rc = skip_field(sc, &LINK, DEPTH_LINK + 1, &f)) < 0) {
            return rc;
        }
    }
    if (tid_len != 16 || sid_len != 8)
        return scan_fail(sc, lf->at,
                         "a link with a 16-byte trace_id and an 8-byte "
                         "span_id, got %zu and %zu bytes",
                         tid_len, sid_len);
    if (span_store_add_link(sc->w->store, idx, tid, otlp_proto_span_id(sid)) <
        0)
        return scan_nomem(sc);
    return 0;
}

/* The links of span record idx: the Span's fields from p (the first link's
 * tag) to end. */
static int span_links(struct scan *sc, const uint8_t *p, const uint8_t *end,
                      size_t idx)
{
    struct field f;
    int rc;

    while (p < end) {
        if ((rc = field_next(sc, &p, end, &SPAN, &f)) < 0)
            return rc;
        if (f.num == 13 && (rc = scan_link(sc, &f, idx)) < 0)
            return rc;
    }
    return 0;
}

/* What a Span's fields said (last one wins). */
struct span_acc {
    struct field tid, sid, pid; /* len 0 and at NULL when absent */
    uint64_t kind, start, end;
    const uint8_t *links; /* first link's tag, or NULL */
    struct sys_pick sys;
};

static int span_ids_fail(struct scan *sc, const uint8_t *span,
                         const struct span_acc *a)
{
    if (a->tid.len != 16)
        return scan_fail(sc, a->tid.at ? a->tid.at : span,
                         "a 16-byte trace_id, got %zu bytes", a->tid.len);
    if (a->sid.len != 8)
        return scan_fail(sc, a->sid.at ? a->sid.at : span,
                         "an 8-byte span_id, got %zu bytes", a->sid.len);
    return scan_fail(sc, a->pid.at,
                     "an empty or 8-byte parent_span_id, got "
                     "%zu bytes",
                     a->pid.len);
}

static int span_add(struct scan *sc, const struct span_acc *a, uint32_t domain,
                    int64_t *idx)
{
    struct span_rec rec;

    memset(&rec, 0, sizeof(rec));
    memcpy(rec.trace_id, a->tid.p, 16);
    rec.span_id = otlp_proto_span_id(a->sid.p);
    if (a->pid.len == 8) {
        rec.parent_id = otlp_proto_span_id(a->pid.p);
        rec.flags = SPAN_F_HAS_PARENT;
    }
    rec.start_ns = (int64_t)a->start;
    rec.end_ns = (int64_t)a->end;
    rec.domain = domain;
    rec.link = SPAN_NO_LINK;
    /* protobuf-c keeps the low 32 bits of an enum varint. */
    rec.kind = (uint32_t)a->kind <= SPAN_KIND_CONSUMER ? (uint8_t)a->kind
                                                       : SPAN_KIND_UNSPECIFIED;
    rec.system = span_system(sc->w, &a->sys);
    *idx = span_store_add(sc->w->store, &rec);
    return *idx < 0 ? scan_nomem(sc) : 0;
}

static int span_field(struct scan *sc, const struct field *f,
                      struct span_acc *a)
{
    switch (f->num) {
    case 1:
        a->tid = *f;
        return 0;
    case 2:
        a->sid = *f;
        return 0;
    case 4:
        a->pid = *f;
        return 0;
    case 6:
        a->kind = f->v;
        return 0;
    case 7:
        a->start = f->v;
        return 0;
    case 8:
        a->end = f->v;
        return 0;
    case 9:
        return span_attr(sc, f, &a->sys);
    case 13:
        if (!a->links)
            a->links = f->at;
        return 0;
    default:
        return skip_field(sc, &SPAN, DEPTH_SPAN + 1, f);
    }
}

static int scan_span(struct scan *sc, const uint8_t *p, const uint8_t *end,
                     uint32_t domain)
{
    const uint8_t *span = p;
    struct span_acc a;
    struct field f;
    int64_t idx;
    int rc;

    memset(&a, 0, sizeof(a));
    while (p < end) {
        if ((rc = field_next(sc, &p, end, &SPAN, &f)) < 0 ||
            (rc = span_field(sc, &f, &a)) < 0)
            return rc;
    }
    if (a.tid.len != 16 || a.sid.len != 8 || (a.pid.len != 0 && a.pid.len != 8))
        return span_ids_fail(sc, span, &a);
    if ((rc = span_add(sc, &a, domain, &idx)) < 0)
        return rc;
    return a.links ? span_links(sc, a.links, end, (size_t)idx) : 0;
}

/* ---- containers ------------------------------------------------------- */

static int scan_scope_spans(struct scan *sc, const uint8_t *p,
                            const uint8_t *end, uint32_t domain)
{
    struct field f;
    int rc;

    sc->sp = 0;
    while (p < end) {
        if ((rc = field_next(sc, &p, end, &SCOPE_SPANS, &f)) < 0)
            return rc;
        if (f.num != 2) {
            if ((rc = skip_field(sc, &SCOPE_SPANS, DEPTH_SS + 1, &f)) < 0)
                return rc;
            continue;
        }
        sc->level = 3;
        if ((rc = scan_span(sc, f.p, f.p + f.len, domain)) < 0)
            return rc;
        sc->level = 2;
        sc->sp++;
    }
    return 0;
}

/* First pass over a ResourceSpans: every field but the spans, which gives
 * the clock domain even when the resource comes after its spans. */
static int rs_domain(struct scan *sc, const uint8_t *p, const uint8_t *end,
                     uint32_t *domain)
{
    struct dom_pick pick;
    struct field f;
    int rc;

    memset(&pick, 0, sizeof(pick));
    while (p < end) {
        if ((rc = field_next(sc, &p, end, &RESOURCE_SPANS, &f)) < 0)
            return rc;
        if (f.num == 1)
            rc = scan_resource(sc, f.p, f.p + f.len, &pick);
        else if (f.num != 2)
            rc = skip_field(sc, &RESOURCE_SPANS, DEPTH_RS + 1, &f);
        if (rc < 0)
            return rc;
    }
    *domain = pick_domain(sc, &pick);
    return *domain == UINT32_MAX ? scan_nomem(sc) : 0;
}

static int scan_resource_spans(struct scan *sc, const uint8_t *p,
                               const uint8_t *end)
{
    uint32_t domain;
    struct field f;
    int rc;

    sc->level = 1;
    if ((rc = rs_domain(sc, p, end, &domain)) < 0)
        return rc;
    sc->ss = 0;
    while (p < end) {
        if ((rc = field_next(sc, &p, end, &RESOURCE_SPANS, &f)) < 0)
            return rc;
        if (f.num != 2)
            continue;
        sc->level = 2;
        if ((rc = scan_scope_spans(sc, f.p, f.p + f.len, domain)) < 0)
            return rc;
        sc->level = 1;
        sc->ss++;
    }
    return 0;
}

int otlp_wire_scan(struct otlp_wire *w, const uint8_t *msg, size_t len,
                   uint64_t offset, uint64_t frame_offset, char *err,
                   size_t errlen)
{
    struct scan sc = {
        .w = w,
        .base = msg,
        .offset = offset,
        .frame_offset = frame_offset,
        .err = err,
        .errlen = errlen,
    };
    const uint8_t *p = msg, *end;
    struct field f;
    int rc;

    if (len == 0)
        return 0;
    end = msg + len;
    while (p < end) {
        if ((rc = field_next(&sc, &p, end, &REQUEST, &f)) < 0)
            return rc;
        if (f.num != 1)
            continue; /* unknown: the request has no other field */
        if ((rc = scan_resource_spans(&sc, f.p, f.p + f.len)) < 0)
            return rc;
        sc.level = 0;
        sc.rs++;
    }
    return 0;
}
