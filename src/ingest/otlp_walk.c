/* otlp_walk: the protobuf wire walker of OTLP requests (see otlp_walk.h),
 * shared by the read path (otlp_wire.c) and the rewriter (correct_wire.c).
 *
 * Messages walked and the fields read (numbers from proto/opentelemetry):
 *   ExportTraceServiceRequest  resource_spans=1
 *   ResourceSpans   resource=1 scope_spans=2 schema_url=3 (1000, the legacy
 *                   instrumentation_library_spans, is reserved: unknown)
 *   Resource        attributes=1 dropped_attributes_count=2 entity_refs=3
 *   ScopeSpans      scope=1 spans=2 schema_url=3
 *   Span            trace_id=1 span_id=2 parent_span_id=4 kind=6
 *                   start_time_unix_nano=7 end_time_unix_nano=8
 *                   attributes=9 events=11 links=13 (others by wire type)
 *   Span.Event      time_unix_nano=1 name=2 attributes=3
 *   Span.Link       trace_id=1 span_id=2 attributes=4 (others by wire type)
 *   KeyValue        key=1 value=2
 *   AnyValue        string=1 bool=2 int=3 double=4 array=5 kvlist=6 bytes=7
 *
 * Equivalence with the protobuf-c decoding the readers used before, where
 * it is not obvious:
 *  - a known field with the wrong wire type is an error (protobuf-c refuses
 *    it too), except AnyValue.bool_value, which protobuf-c takes with any
 *    wire type and reads as "some value byte has a low bit set";
 *  - strings are C strings there: a key or value ends at its first NUL;
 *  - a repeated `resource` merges (attributes concatenate); a repeated
 *    KeyValue.value merges as protobuf-c's merge_messages() does oneofs;
 *  - nesting deeper than OTLP_PROTO_MAX_DEPTH is refused where the old
 *    path refused it, using the same walk (otlp_proto_nesting_ok()), which
 *    only looks at sub-messages long enough to nest that deep.
 * Sub-messages not read are not validated beyond the string and nesting
 * rules, so some inputs protobuf-c refused are accepted (never the other
 * way round).
 *
 * Stricter than protobuf-c, on purpose (the OpenTelemetry Collector, Go
 * protobuf, refuses these too; the readers' contract, ingest.h):
 *  - every `string` field of the request must be valid UTF-8
 *    (util/utf8.h), read or skipped: a skipped sub-message whose bytes are
 *    all ASCII cannot hold a bad one; any other is walked with its
 *    protobuf-c descriptor down to its string fields (walk_strings());
 *  - field number 0 is refused (a run of zero bytes is not a message). */
#include "ingest/otlp_walk.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ingest/ingest.h"
#include "model/clock_domain.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

/* ---- message kinds ---------------------------------------------------- */

#define N_ OTLP_WT_NONE

static const uint8_t REQUEST_WT[] = {N_, 2};
static const uint8_t RS_WT[] = {N_, 2, 2, 2};
static const uint8_t RESOURCE_WT[] = {N_, 2, 0, 2};
static const uint8_t SS_WT[] = {N_, 2, 2, 2};
static const uint8_t SPAN_WT[] = {N_, 2, 2, 2, 2, 2, 0, 1, 1,
                                  2,  0, 2, 0, 2, 0, 2, 5};
static const uint8_t EVENT_WT[] = {N_, 1, 2, 2, 0};
static const uint8_t LINK_WT[] = {N_, 2, 2, 2, 2, 0, 5};
static const uint8_t KV_WT[] = {N_, 2, 2};
static const uint8_t ANY_WT[] = {N_, 2, OTLP_WT_ANY, 0, 1, 2, 2, 2};

#define KIND(name, wt, desc)                                                   \
    {                                                                          \
        name, wt, sizeof(wt), &desc                                            \
    }
const struct otlp_msg_kind otlp_kind_request = KIND(
    "ExportTraceServiceRequest", REQUEST_WT,
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor);
const struct otlp_msg_kind otlp_kind_resource_spans =
    KIND("ResourceSpans", RS_WT,
         opentelemetry__proto__trace__v1__resource_spans__descriptor);
const struct otlp_msg_kind otlp_kind_resource =
    KIND("Resource", RESOURCE_WT,
         opentelemetry__proto__resource__v1__resource__descriptor);
const struct otlp_msg_kind otlp_kind_scope_spans =
    KIND("ScopeSpans", SS_WT,
         opentelemetry__proto__trace__v1__scope_spans__descriptor);
const struct otlp_msg_kind otlp_kind_span =
    KIND("Span", SPAN_WT, opentelemetry__proto__trace__v1__span__descriptor);
const struct otlp_msg_kind otlp_kind_event =
    KIND("Span.Event", EVENT_WT,
         opentelemetry__proto__trace__v1__span__event__descriptor);
const struct otlp_msg_kind otlp_kind_link =
    KIND("Span.Link", LINK_WT,
         opentelemetry__proto__trace__v1__span__link__descriptor);
const struct otlp_msg_kind otlp_kind_key_value = KIND(
    "KeyValue", KV_WT, opentelemetry__proto__common__v1__key_value__descriptor);
const struct otlp_msg_kind otlp_kind_any_value =
    KIND("AnyValue", ANY_WT,
         opentelemetry__proto__common__v1__any_value__descriptor);
#undef KIND

/* ---- errors ----------------------------------------------------------- */

static void walk_path(const struct otlp_walk *w, char *buf, size_t len)
{
    switch (w->level) {
    case OTLP_AT_REQUEST:
        buf[0] = '\0';
        break;
    case OTLP_AT_RS:
        snprintf(buf, len, ": resource_spans[%zu]", w->rs);
        break;
    case OTLP_AT_SS:
        snprintf(buf, len, ": resource_spans[%zu].scope_spans[%zu]", w->rs,
                 w->ss);
        break;
    default:
        snprintf(buf, len, ": resource_spans[%zu].scope_spans[%zu].spans[%zu]",
                 w->rs, w->ss, w->sp);
        break;
    }
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
int otlp_walk_fail(struct otlp_walk *w, const uint8_t *at, const char *fmt,
                   ...)
{
    char what[192], path[96];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    walk_path(w, path, sizeof(path));
    snprintf(w->err, w->errlen,
             "%s: byte %" PRIu64 ": expected %s (message at byte %" PRIu64
             "%s)",
             w->name, w->offset + (uint64_t)(at - w->base), what,
             w->frame_offset, path);
    return -INGEST_E_MALFORMED;
}

int otlp_walk_nomem(struct otlp_walk *w)
{
    snprintf(w->err, w->errlen, "%s: out of memory", w->name);
    return -INGEST_E_NOMEM;
}

/* Why the varint at p (before end) did not read. */
static int varint_fail(struct otlp_walk *w, const uint8_t *p,
                       const uint8_t *end, const char *what)
{
    if ((size_t)(end - p) < 10)
        return otlp_walk_fail(w, p,
                              "%s (varint); the enclosing message ends "
                              "inside it",
                              what);
    return otlp_walk_fail(w, p, "%s as a varint of at most 10 bytes", what);
}

int otlp_walk_tag_fail(struct otlp_walk *w, const uint8_t *p,
                       const uint8_t *end)
{
    return varint_fail(w, p, end, "a field tag");
}

int otlp_walk_zero_fail(struct otlp_walk *w, const uint8_t *at,
                        const struct otlp_msg_kind *k)
{
    return otlp_walk_fail(w, at,
                          "a field tag of %s, got field number 0 (a run of "
                          "zero bytes is not a trace)",
                          k->name);
}

int otlp_walk_type_fail(struct otlp_walk *w, const struct otlp_field *f,
                        const struct otlp_msg_kind *k, unsigned want)
{
    return otlp_walk_fail(w, f->at,
                          "wire type %u for field %" PRIu64 " of %s, got %u",
                          want, f->num, k->name, f->wt);
}

static int fixed_fail(struct otlp_walk *w, const struct otlp_field *f,
                      const uint8_t *end)
{
    unsigned need = f->wt == WT_I64 ? 8 : 4;

    return otlp_walk_fail(w, f->val,
                          "%u bytes of a fixed-size value (field %" PRIu64
                          "), only %zu left",
                          need, f->num, (size_t)(end - f->val));
}

/* ---- field values ------------------------------------------------------ */

int otlp_walk_value(struct otlp_walk *w, const uint8_t **pp, const uint8_t *end,
                    struct otlp_field *f)
{
    const uint8_t *p = *pp;
    uint64_t len;

    switch (f->wt) {
    case WT_VARINT:
        if (wire_varint(&p, end, &f->v) < 0)
            return varint_fail(w, p, end, "a value");
        break;
    case WT_I64:
    case WT_I32: {
        unsigned n = f->wt == WT_I64 ? 8 : 4;
        if ((size_t)(end - p) < n)
            return fixed_fail(w, f, end);
        f->v = wire_le(p, n);
        p += n;
        break;
    }
    case WT_LEN:
        if (wire_varint(&p, end, &len) < 0)
            return varint_fail(w, p, end, "a length prefix");
        if (len > (uint64_t)(end - p))
            return otlp_walk_fail(w, f->val,
                                  "a length of at most %zu (the rest of the "
                                  "enclosing message) for field %" PRIu64
                                  ", got %" PRIu64,
                                  (size_t)(end - p), f->num, len);
        f->p = p;
        f->len = (size_t)len;
        p += len;
        break;
    default:
        return otlp_walk_fail(w, f->at,
                              "wire type 0, 1, 2 or 5 in the tag of field "
                              "%" PRIu64 ", got %u (groups are not supported)",
                              f->num, f->wt);
    }
    *pp = p;
    return 0;
}

/* ---- what is not read: nesting and strings ------------------------------ */

int otlp_walk_skip_deep(struct otlp_walk *w, const struct otlp_msg_kind *k,
                        unsigned depth, const struct otlp_field *f)
{
    const ProtobufCFieldDescriptor *fd;

    if (f->num > UINT32_MAX)
        return 0;
    fd = protobuf_c_message_descriptor_get_field(k->desc, (unsigned)f->num);
    if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE ||
        otlp_proto_nesting_ok(f->p, f->len, fd->descriptor, depth))
        return 0;
    return otlp_walk_fail(w, f->at,
                          "field %" PRIu64 " of %s to be messages nested at "
                          "most %d deep",
                          f->num, k->name, OTLP_PROTO_MAX_DEPTH);
}

int otlp_walk_string(struct otlp_walk *w, const uint8_t *p, size_t n,
                     const char *field)
{
    size_t bad;

    if (__builtin_expect(utf8_valid(p, n), 1))
        return 0;
    bad = utf8_check(p, n);
    return otlp_walk_fail(w, p + bad,
                          "valid UTF-8 in string field %s, found byte 0x%02x",
                          field, bad < n ? p[bad] : 0);
}

/* Every string field of the message of descriptor d in [p, end), nested
 * messages included, must be valid UTF-8. Unknown fields are not looked
 * into (protobuf keeps them as bytes); an all-ASCII sub-message is skipped
 * whole. `depth` is the message's nesting depth. */
static int walk_strings(struct otlp_walk *w, const uint8_t *p,
                        const uint8_t *end, const ProtobufCMessageDescriptor *d,
                        unsigned depth)
{
    if (depth > OTLP_PROTO_MAX_DEPTH)
        return otlp_walk_fail(w, p, "messages nested at most %d deep",
                              OTLP_PROTO_MAX_DEPTH);
    while (p < end) {
        const ProtobufCFieldDescriptor *fd;
        struct otlp_field f;
        uint64_t tag;
        int rc;

        f.at = p;
        if (wire_varint(&p, end, &tag) < 0)
            return otlp_walk_tag_fail(w, p, end);
        f.num = tag >> 3;
        f.wt = (unsigned)(tag & 7);
        f.val = p;
        if (f.num == 0)
            return otlp_walk_fail(w, f.at,
                                  "a field tag of %s, got field number 0 (a "
                                  "run of zero bytes is not a trace)",
                                  d->short_name);
        if ((rc = otlp_walk_value(w, &p, end, &f)) < 0)
            return rc;
        if (f.wt != WT_LEN)
            continue;
        fd = f.num > UINT32_MAX
                 ? NULL
                 : protobuf_c_message_descriptor_get_field(d, (unsigned)f.num);
        if (fd && fd->type == PROTOBUF_C_TYPE_STRING)
            rc = otlp_walk_string(w, f.p, f.len, fd->name);
        else if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
                 !utf8_is_ascii(f.p, f.len))
            rc = walk_strings(w, f.p, f.p + f.len, fd->descriptor, depth + 1);
        else
            rc = 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int otlp_walk_skip_strings(struct otlp_walk *w, const struct otlp_msg_kind *k,
                           unsigned depth, const struct otlp_field *f)
{
    const ProtobufCFieldDescriptor *fd =
        f->num > UINT32_MAX ? NULL
                            : protobuf_c_message_descriptor_get_field(
                                  k->desc, (unsigned)f->num);

    if (!fd)
        return 0;
    if (fd->type == PROTOBUF_C_TYPE_STRING)
        return otlp_walk_string(w, f->p, f->len, fd->name);
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
        return walk_strings(w, f->p, f->p + f->len, fd->descriptor, depth);
    return 0;
}

size_t otlp_walk_cstr_len(const uint8_t *p, size_t n)
{
    const uint8_t *z = n ? memchr(p, 0, n) : NULL;

    return z ? (size_t)(z - p) : n;
}

/* ---- KeyValue and AnyValue -------------------------------------------- */

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
static int walk_anyvalue(struct otlp_walk *w, const uint8_t *p,
                         const uint8_t *end, unsigned depth,
                         struct otlp_anyval *out)
{
    struct otlp_field f;
    int rc;

    out->vcase = OTLP_AV_NONE;
    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_any_value, &f)) < 0)
            return rc;
        switch (f.num) {
        case OTLP_AV_STRING:
        case OTLP_AV_BYTES:
            out->p = f.p;
            out->len = f.len;
            break;
        case OTLP_AV_BOOL:
            out->v = wire_bool(f.val, p);
            break;
        case OTLP_AV_INT:
        case OTLP_AV_DOUBLE:
            out->v = f.v;
            break;
        case OTLP_AV_ARRAY:
        case OTLP_AV_KVLIST:
            if ((rc = otlp_walk_skip(w, &otlp_kind_any_value, depth + 1, &f)) <
                0)
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
static void anyval_merge(struct otlp_anyval *acc,
                         const struct otlp_anyval *later)
{
    if (later->vcase != OTLP_AV_NONE) {
        *acc = *later;
        return;
    }
    if (acc->vcase == OTLP_AV_STRING ||
        (acc->vcase == OTLP_AV_BYTES && acc->len == 0))
        acc->vcase = OTLP_AV_NONE;
}

int otlp_walk_kv(struct otlp_walk *w, const uint8_t *p, const uint8_t *end,
                 unsigned depth, struct otlp_kv *kv)
{
    /* Most attributes are all ASCII: then no string in them needs a look. */
    bool ascii = utf8_is_ascii(p, (size_t)(end - p));
    struct otlp_field f;
    int rc;

    kv->key = NULL;
    kv->key_len = 0;
    kv->nval = 0;
    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_key_value, &f)) < 0)
            return rc;
        if (f.num == OTLP_F_KV_KEY) {
            kv->key = f.p;
            kv->key_len = f.len;
            if (!ascii && (rc = otlp_walk_string(w, f.p, f.len, "key")) < 0)
                return rc;
        } else if (f.num == OTLP_F_KV_VALUE) {
            if (kv->nval++ == 0) {
                kv->val = f.p;
                kv->val_len = f.len;
            }
            rc = ascii ? otlp_walk_skip_ascii(w, &otlp_kind_key_value,
                                              depth + 1, &f)
                       : otlp_walk_skip(w, &otlp_kind_key_value, depth + 1, &f);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int otlp_walk_kv_value(struct otlp_walk *w, const uint8_t *p,
                       const uint8_t *end, unsigned depth,
                       const struct otlp_kv *kv, struct otlp_anyval *out)
{
    struct otlp_field f;
    struct otlp_anyval later;
    bool first = true;
    int rc;

    out->vcase = OTLP_AV_NONE;
    if (kv->nval <= 1)
        return kv->nval ? walk_anyvalue(w, kv->val, kv->val + kv->val_len,
                                        depth + 1, out)
                        : 0;
    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_key_value, &f)) < 0)
            return rc;
        if (f.num != OTLP_F_KV_VALUE)
            continue;
        rc =
            walk_anyvalue(w, f.p, f.p + f.len, depth + 1, first ? out : &later);
        if (rc < 0)
            return rc;
        if (!first)
            anyval_merge(out, &later);
        first = false;
    }
    return 0;
}

/* ---- a ResourceSpans' clock domain ------------------------------------ */

/* Best clock-domain attribute so far (lowest rank, first wins ties). */
struct dom_pick {
    bool set;
    int rank;
    struct otlp_anyval val;
};

static bool anyval_is_scalar(const struct otlp_anyval *v)
{
    return v->vcase != OTLP_AV_NONE && v->vcase != OTLP_AV_ARRAY &&
           v->vcase != OTLP_AV_KVLIST;
}

static int resource_attr(struct otlp_walk *w, const struct otlp_field *f,
                         struct dom_pick *pick)
{
    const uint8_t *end = f->p + f->len;
    struct otlp_anyval val;
    struct otlp_kv kv;
    int rank, rc;

    if ((rc = otlp_walk_kv(w, f->p, end, OTLP_DEPTH_RESOURCE_KV, &kv)) < 0)
        return rc;
    rank =
        clock_domain_rank(w->user_attr, CLOCK_DOMAIN_OTLP_RESOURCE,
                          kv.key ? (const char *)kv.key : "",
                          kv.key ? otlp_walk_cstr_len(kv.key, kv.key_len) : 0);
    if (rank < 0 || (pick->set && rank >= pick->rank))
        return 0;
    if ((rc = otlp_walk_kv_value(w, f->p, end, OTLP_DEPTH_RESOURCE_KV, &kv,
                                 &val)) < 0)
        return rc;
    if (!anyval_is_scalar(&val))
        return 0;
    pick->set = true;
    pick->rank = rank;
    pick->val = val;
    return 0;
}

static int walk_resource(struct otlp_walk *w, const uint8_t *p,
                         const uint8_t *end, struct dom_pick *pick)
{
    struct otlp_field f;
    int rc;

    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_resource, &f)) < 0)
            return rc;
        if (f.num == OTLP_F_RESOURCE_ATTRIBUTES)
            rc = resource_attr(w, &f, pick);
        else
            rc = otlp_walk_skip(w, &otlp_kind_resource, OTLP_DEPTH_RESOURCE + 1,
                                &f);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Text of a scalar value, as otlp_proto_value_text() gives it. */
static int anyval_text(const struct otlp_anyval *v, const char **text,
                       size_t *len, char *buf, size_t buflen)
{
    Opentelemetry__Proto__Common__V1__AnyValue av =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;

    switch (v->vcase) {
    case OTLP_AV_STRING:
        *text = (const char *)v->p;
        *len = otlp_walk_cstr_len(v->p, v->len);
        return 0;
    case OTLP_AV_BOOL:
        av.bool_value = v->v != 0;
        break;
    case OTLP_AV_INT:
        av.int_value = (int64_t)v->v;
        break;
    case OTLP_AV_DOUBLE:
        memcpy(&av.double_value, &v->v, sizeof(av.double_value));
        break;
    case OTLP_AV_BYTES:
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

int otlp_walk_rs_domain(struct otlp_walk *w, const uint8_t *p,
                        const uint8_t *end, char *buf, size_t buflen,
                        const char **name, size_t *len)
{
    struct dom_pick pick;
    struct otlp_field f;
    int rc;

    memset(&pick, 0, sizeof(pick));
    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_resource_spans, &f)) <
            0)
            return rc;
        if (f.num == OTLP_F_RS_RESOURCE)
            rc = walk_resource(w, f.p, f.p + f.len, &pick);
        else if (f.num != OTLP_F_RS_SCOPE_SPANS)
            rc = otlp_walk_skip(w, &otlp_kind_resource_spans, OTLP_DEPTH_RS + 1,
                                &f);
        if (rc < 0)
            return rc;
    }
    *name = CLOCK_DOMAIN_UNKNOWN;
    *len = strlen(CLOCK_DOMAIN_UNKNOWN);
    if (pick.set)
        anyval_text(&pick.val, name, len, buf, buflen);
    return 0;
}

/* ---- spans ------------------------------------------------------------ */

static const char KEY_MSG[] = "messaging.system";
static const char KEY_RPC[] = "rpc.system";

static int span_attr(struct otlp_walk *w, const struct otlp_field *f,
                     struct otlp_span_view *v)
{
    const uint8_t *end = f->p + f->len;
    struct otlp_anyval val;
    struct otlp_kv kv;
    bool is_msg, is_rpc;
    int rc;

    if ((rc = otlp_walk_kv(w, f->p, end, OTLP_DEPTH_SPAN_KV, &kv)) < 0)
        return rc;
    if (v->sys_final || !kv.key)
        return 0;
    is_msg = otlp_walk_key_is(&kv, KEY_MSG, sizeof(KEY_MSG) - 1);
    is_rpc = !is_msg && !v->sys_set &&
             otlp_walk_key_is(&kv, KEY_RPC, sizeof(KEY_RPC) - 1);
    if (!is_msg && !is_rpc)
        return 0;
    if ((rc = otlp_walk_kv_value(w, f->p, end, OTLP_DEPTH_SPAN_KV, &kv, &val)) <
        0)
        return rc;
    if (val.vcase != OTLP_AV_STRING)
        return 0;
    v->sys = val.p;
    v->sys_len = otlp_walk_cstr_len(val.p, val.len);
    v->sys_set = true;
    v->sys_final = is_msg;
    return 0;
}

static WIRE_INLINE int span_field(struct otlp_walk *w,
                                  const struct otlp_field *f,
                                  struct otlp_span_view *v)
{
    switch (f->num) {
    case OTLP_F_SPAN_TRACE_ID:
        v->tid = *f;
        return 0;
    case OTLP_F_SPAN_SPAN_ID:
        v->sid = *f;
        return 0;
    case OTLP_F_SPAN_PARENT_SPAN_ID:
        v->pid = *f;
        return 0;
    case OTLP_F_SPAN_KIND:
        v->kind = f->v;
        return 0;
    case OTLP_F_SPAN_START:
        v->start = f->v;
        return 0;
    case OTLP_F_SPAN_END:
        v->end = f->v;
        return 0;
    case OTLP_F_SPAN_ATTRIBUTES:
        return span_attr(w, f, v);
    case OTLP_F_SPAN_LINKS:
        if (!v->links)
            v->links = f->at;
        return 0;
    case OTLP_F_SPAN_EVENTS:
        if (!v->events)
            v->events = f->at;
        break;
    default:
        break;
    }
    return otlp_walk_skip(w, &otlp_kind_span, OTLP_DEPTH_SPAN + 1, f);
}

static int span_ids_fail(struct otlp_walk *w, const uint8_t *span,
                         const struct otlp_span_view *v)
{
    if (v->tid.len != 16 && v->tid.len != 0)
        return otlp_walk_fail(w, v->tid.at ? v->tid.at : span,
                              "a 16-byte trace_id, got %zu bytes", v->tid.len);
    if (v->sid.len != 8 && v->sid.len != 0)
        return otlp_walk_fail(w, v->sid.at ? v->sid.at : span,
                              "an 8-byte span_id, got %zu bytes", v->sid.len);
    return otlp_walk_fail(w, v->pid.at,
                          "an empty or 8-byte parent_span_id, got "
                          "%zu bytes",
                          v->pid.len);
}

int otlp_walk_span(struct otlp_walk *w, const uint8_t *p, const uint8_t *end,
                   struct otlp_span_view *v)
{
    const uint8_t *span = p;
    struct otlp_field f;
    int rc;

    memset(v, 0, sizeof(*v));
    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_span, &f)) < 0 ||
            (rc = span_field(w, &f, v)) < 0)
            return rc;
    }
    if ((v->tid.len != 16 && v->tid.len != 0) ||
        (v->sid.len != 8 && v->sid.len != 0) ||
        (v->pid.len != 0 && v->pid.len != 8))
        return span_ids_fail(w, span, v);
    return 0;
}

int otlp_walk_link(struct otlp_walk *w, const struct otlp_field *lf,
                   const uint8_t **tid, const uint8_t **sid)
{
    const uint8_t *p = lf->p, *end = lf->p + lf->len;
    size_t tid_len = 0, sid_len = 0;
    struct otlp_field f;
    int rc;

    *tid = *sid = NULL;
    while (p < end) {
        if ((rc = otlp_walk_next(w, &p, end, &otlp_kind_link, &f)) < 0)
            return rc;
        if (f.num == OTLP_F_LINK_TRACE_ID) {
            *tid = f.p;
            tid_len = f.len;
        } else if (f.num == OTLP_F_LINK_SPAN_ID) {
            *sid = f.p;
            sid_len = f.len;
        } else if ((rc = otlp_walk_skip(w, &otlp_kind_link, OTLP_DEPTH_LINK + 1,
                                        &f)) < 0) {
            return rc;
        }
    }
    if ((tid_len != 16 && tid_len != 0) || (sid_len != 8 && sid_len != 0))
        return otlp_walk_fail(w, lf->at,
                              "a link with a 16-byte trace_id and an 8-byte "
                              "span_id, got %zu and %zu bytes",
                              tid_len, sid_len);
    if (tid_len == 0)
        *tid = NULL;
    if (sid_len == 0)
        *sid = NULL;
    return 0;
}
