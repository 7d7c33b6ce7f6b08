/* Tests of output/rewrite: the in-memory rewriter of one OTLP request body,
 * differential against `correct` (correct_file() on the same bytes). Both
 * outputs are decoded with protobuf-c and compared field by field (times,
 * attributes as multisets, events, links, unknown fields), then re-encoded
 * with protobuf-c and compared byte for byte. Requests cover several
 * domains, pre-existing skewscope.* attributes, events, links, absent
 * times, unknown domains and fields, a resource after its spans, repeated
 * resources, --clock-domain, a drifting clock (exact values), length
 * prefixes that grow and shrink, and every truncation and many byte flips
 * of a valid body. The JSON path is checked against correct's JSON output,
 * including a document correct writes in parts. */
#include "testlib.h"
#include "wire_buf.h"

#include <inttypes.h>
#include <jansson.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/otlp_wire.h"
#include "ingest/source.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/correct.h"
#include "output/correct_json.h"
#include "output/rewrite.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define T0 INT64_C(1790000000000000000)
#define SEC INT64_C(1000000000)

/* node-a runs 5 ms ahead; node-b 3 us behind and 10 ppm fast from T0 on;
 * svc-c 7 us ahead; rack-1 (only named by a user attribute) 11 ns;
 * drift-only 10 ppm fast from T0 on (times near T0 stay as they are). */
static struct clock_model *make_model(void)
{
    struct clock_model *m = clock_model_create();

    assert_non_null(m);
    assert_true(clock_model_set(m, "node-a", 5000000, 0.0, 0) >= 0);
    assert_true(clock_model_set(m, "node-b", -3000, 10.0, T0) >= 0);
    assert_true(clock_model_set(m, "svc-c", 7000, 0.0, 0) >= 0);
    assert_true(clock_model_set(m, "rack-1", 11, 0.0, 0) >= 0);
    assert_true(clock_model_set(m, "drift-only", 0, 10.0, T0) >= 0);
    return m;
}

/* ---- building requests (allocations in one arena per test) ------------ */

static struct otlp_arena *arena;

static void *alloc0(size_t n)
{
    void *p = otlp_arena_alloc(arena, n);

    assert_non_null(p);
    memset(p, 0, n);
    return p;
}

static KeyValue *kv_new(const char *key)
{
    KeyValue *kv = alloc0(sizeof(*kv));
    AnyValue *v = alloc0(sizeof(*v));

    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    kv->value = v;
    return kv;
}

static KeyValue *kv_s(const char *key, const char *val)
{
    KeyValue *kv = kv_new(key);

    kv->value->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    kv->value->string_value = (char *)val;
    return kv;
}

static KeyValue *kv_i(const char *key, int64_t val)
{
    KeyValue *kv = kv_new(key);

    kv->value->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    kv->value->int_value = val;
    return kv;
}

/* An array of n pointers from the variable arguments. */
static void **ptrs(size_t n, ...)
{
    void **a = alloc0((n ? n : 1) * sizeof(*a));
    va_list ap;

    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        a[i] = va_arg(ap, void *);
    va_end(ap);
    return a;
}

static uint8_t trace_id[16] = {0xab, 1, 2, 3, 4, 5, 6, 7,
                               8,    9, 1, 2, 3, 4, 5, 0xcd};

static Span *span_new(unsigned i, uint64_t start, uint64_t end)
{
    Span *sp = alloc0(sizeof(*sp));
    uint8_t *sid = alloc0(8);

    opentelemetry__proto__trace__v1__span__init(sp);
    sid[0] = 0x10;
    sid[6] = (uint8_t)(i >> 8);
    sid[7] = (uint8_t)i;
    sp->trace_id.data = trace_id;
    sp->trace_id.len = 16;
    sp->span_id.data = sid;
    sp->span_id.len = 8;
    sp->name = "op";
    sp->kind =
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    sp->start_time_unix_nano = start;
    sp->end_time_unix_nano = end;
    return sp;
}

static void span_attrs(Span *sp, size_t n, KeyValue **kv)
{
    sp->n_attributes = n;
    sp->attributes = kv;
}

static Event *event_new(const char *name, uint64_t t, size_t nattrs,
                        KeyValue **attrs)
{
    Event *ev = alloc0(sizeof(*ev));

    opentelemetry__proto__trace__v1__span__event__init(ev);
    ev->name = (char *)name;
    ev->time_unix_nano = t;
    ev->n_attributes = nattrs;
    ev->attributes = attrs;
    return ev;
}

static void span_events(Span *sp, size_t n, Event **ev)
{
    sp->n_events = n;
    sp->events = ev;
}

static Link *link_new(size_t nattrs, KeyValue **attrs)
{
    Link *l = alloc0(sizeof(*l));
    static uint8_t sid[8] = {1, 2, 3, 4, 5, 6, 7, 8};

    opentelemetry__proto__trace__v1__span__link__init(l);
    l->trace_id.data = trace_id;
    l->trace_id.len = 16;
    l->span_id.data = sid;
    l->span_id.len = 8;
    l->n_attributes = nattrs;
    l->attributes = attrs;
    return l;
}

static Resource *resource_new(size_t n, KeyValue **attrs)
{
    Resource *r = alloc0(sizeof(*r));

    opentelemetry__proto__resource__v1__resource__init(r);
    r->n_attributes = n;
    r->attributes = attrs;
    return r;
}

static ScopeSpans *scope_new(size_t n, Span **spans)
{
    ScopeSpans *ss = alloc0(sizeof(*ss));
    Scope *sc = alloc0(sizeof(*sc));

    opentelemetry__proto__trace__v1__scope_spans__init(ss);
    opentelemetry__proto__common__v1__instrumentation_scope__init(sc);
    sc->name = "lib";
    ss->scope = sc;
    ss->n_spans = n;
    ss->spans = spans;
    return ss;
}

/* A ResourceSpans (res may be NULL: no resource) of one scope. */
static ResourceSpans *rs_new(Resource *res, size_t n, Span **spans)
{
    ResourceSpans *rs = alloc0(sizeof(*rs));

    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    rs->resource = res;
    rs->n_scope_spans = 1;
    rs->scope_spans = (ScopeSpans **)ptrs(1, scope_new(n, spans));
    return rs;
}

static void buf_fixed64(struct buf *b, unsigned num, uint64_t v)
{
    uint8_t t[8];

    buf_varint(b, (uint64_t)num << 3 | 1);
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    buf_put(b, t, 8);
}

static void buf_pack(struct buf *b, const void *msg)
{
    const ProtobufCMessage *m = msg;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *t = malloc(n + 1);

    assert_non_null(t);
    protobuf_c_message_pack(m, t);
    buf_put(b, t, n);
    free(t);
}

static struct buf pack_request(size_t n, ResourceSpans **rs)
{
    Request req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    struct buf b = {NULL, 0};

    req.n_resource_spans = n;
    req.resource_spans = rs;
    buf_pack(&b, &req);
    buf_put(&b, "", 0);
    return b;
}

/* ---- the two paths ---------------------------------------------------- */

struct result {
    int rc;
    uint8_t *out;
    size_t len;
    struct correct_stats stats;
    char err[512];
};

static void run_rewrite(struct result *r, const uint8_t *in, size_t len,
                        const char *attr)
{
    struct clock_model *m = make_model();

    memset(r, 0, sizeof(*r));
    r->rc = rewrite_otlp_proto(in, len, m, attr, &r->out, &r->len, &r->stats,
                               r->err, sizeof(r->err));
    clock_model_destroy(m);
}

/* correct_file() on a length-delimited file of a message with one empty
 * ResourceSpans and then the body (a first message with unknown fields
 * would make the stream try the whole file as one plain message); the
 * second message written, without its length prefix. */
static void run_correct(struct result *r, const uint8_t *in, size_t len,
                        const char *attr)
{
    struct clock_model *m = make_model();
    struct correct_opts opts = {TRACE_FORMAT_OTLP_PROTO,
                                TRACE_FORMAT_OTLP_PROTO, attr};
    struct buf file = {NULL, 0};
    char *out = NULL, *path;
    size_t outlen = 0, k = 3;
    uint64_t n = 0;
    FILE *f;

    buf_put(&file, "\x02\x0a\x00", 3);
    buf_varint(&file, len);
    buf_put(&file, in, len);
    path = testlib_write_temp(file.p, file.len);
    f = open_memstream(&out, &outlen);
    assert_non_null(f);
    memset(r, 0, sizeof(*r));
    /* The reference: protobuf-c decodes, correct_proto.c corrects the
     * decoded message, protobuf-c encodes. */
    struct source *src = source_open(path, r->err, sizeof(r->err));
    assert_non_null(src);
    r->rc = correct_otlp_proto_dom_ops.run(src, &opts, m, f, &r->stats, r->err,
                                           sizeof(r->err));
    source_close(src);
    fclose(f);
    if (r->rc == 0) {
        assert_true(outlen > 3 && memcmp(out, "\x02\x0a\x00", 3) == 0);
        for (unsigned shift = 0; k < outlen; shift += 7) {
            uint8_t c = (uint8_t)out[k++];
            n |= (uint64_t)(c & 0x7f) << shift;
            if (!(c & 0x80))
                break;
        }
        assert_int_equal(n, outlen - k);
        r->out = malloc(n + 1);
        assert_non_null(r->out);
        memcpy(r->out, out + k, n);
        r->len = n;
    }
    unlink(path);
    free(path);
    free(out);
    free(file.p);
    clock_model_destroy(m);
}

static Request *unpack(const uint8_t *p, size_t n)
{
    Request *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, n, p);

    assert_non_null(r);
    return r;
}

static void unpack_free(Request *r)
{
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
        r, NULL);
}

/* ---- comparing -------------------------------------------------------- */

static bool msg_equal(const void *a, const void *b)
{
    size_t na, nb;
    uint8_t *pa, *pb;
    bool eq;

    if (!a || !b)
        return a == b;
    na = protobuf_c_message_get_packed_size(a);
    nb = protobuf_c_message_get_packed_size(b);
    if (na != nb)
        return false;
    pa = malloc(na + 1);
    pb = malloc(nb + 1);
    assert_true(pa && pb);
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    eq = memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return eq;
}

static size_t kv_count(KeyValue *const *kv, size_t n, const KeyValue *x)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += strcmp(kv[i]->key, x->key) == 0 &&
             msg_equal(kv[i]->value, x->value);
    return c;
}

/* The same attributes, as multisets. */
static void same_attrs(KeyValue *const *a, size_t na, KeyValue *const *b,
                       size_t nb, const char *where)
{
    if (na != nb)
        fail_msg("%s: %zu attributes, correct has %zu", where, na, nb);
    for (size_t i = 0; i < na; i++)
        if (kv_count(a, na, a[i]) != kv_count(b, nb, a[i]))
            fail_msg("%s: attribute %s differs", where, a[i]->key);
}

static void same_unknown(const void *a, const void *b, const char *where)
{
    const ProtobufCMessage *x = a, *y = b;

    if (x->n_unknown_fields != y->n_unknown_fields)
        fail_msg("%s: %u unknown fields, correct has %u", where,
                 x->n_unknown_fields, y->n_unknown_fields);
    for (unsigned i = 0; i < x->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &x->unknown_fields[i],
                                           *v = &y->unknown_fields[i];
        assert_int_equal(u->tag, v->tag);
        assert_int_equal(u->len, v->len);
        assert_memory_equal(u->data, v->data, u->len);
    }
}

static void same_span(const Span *a, const Span *b, const char *where)
{
    char w[160];

    assert_true(a->span_id.len == b->span_id.len &&
                (a->span_id.len == 0 || memcmp(a->span_id.data, b->span_id.data,
                                               a->span_id.len) == 0));
    assert_string_equal(a->name, b->name);
    if (a->start_time_unix_nano != b->start_time_unix_nano ||
        a->end_time_unix_nano != b->end_time_unix_nano)
        fail_msg("%s: times %" PRIu64 "..%" PRIu64 ", correct %" PRIu64
                 "..%" PRIu64,
                 where, a->start_time_unix_nano, a->end_time_unix_nano,
                 b->start_time_unix_nano, b->end_time_unix_nano);
    same_attrs(a->attributes, a->n_attributes, b->attributes, b->n_attributes,
               where);
    same_unknown(a, b, where);
    assert_int_equal(a->n_events, b->n_events);
    for (size_t e = 0; e < a->n_events; e++) {
        snprintf(w, sizeof(w), "%s.events[%zu]", where, e);
        if (a->events[e]->time_unix_nano != b->events[e]->time_unix_nano)
            fail_msg("%s: time %" PRIu64 ", correct %" PRIu64, w,
                     a->events[e]->time_unix_nano,
                     b->events[e]->time_unix_nano);
        assert_string_equal(a->events[e]->name, b->events[e]->name);
        same_attrs(a->events[e]->attributes, a->events[e]->n_attributes,
                   b->events[e]->attributes, b->events[e]->n_attributes, w);
        same_unknown(a->events[e], b->events[e], w);
    }
    assert_int_equal(a->n_links, b->n_links);
    for (size_t l = 0; l < a->n_links; l++) {
        snprintf(w, sizeof(w), "%s.links[%zu]", where, l);
        same_attrs(a->links[l]->attributes, a->links[l]->n_attributes,
                   b->links[l]->attributes, b->links[l]->n_attributes, w);
    }
}

/* Field by field, then as protobuf-c re-encodes them. */
static void same_requests(const Request *a, const Request *b)
{
    char w[128];

    assert_int_equal(a->n_resource_spans, b->n_resource_spans);
    same_unknown(a, b, "request");
    for (size_t r = 0; r < a->n_resource_spans; r++) {
        const ResourceSpans *ra = a->resource_spans[r],
                            *rb = b->resource_spans[r];
        assert_true(msg_equal(ra->resource, rb->resource));
        assert_int_equal(ra->n_scope_spans, rb->n_scope_spans);
        for (size_t s = 0; s < ra->n_scope_spans; s++) {
            assert_int_equal(ra->scope_spans[s]->n_spans,
                             rb->scope_spans[s]->n_spans);
            for (size_t k = 0; k < ra->scope_spans[s]->n_spans; k++) {
                snprintf(w, sizeof(w),
                         "resource_spans[%zu].scope_spans[%zu]."
                         "spans[%zu]",
                         r, s, k);
                same_span(ra->scope_spans[s]->spans[k],
                          rb->scope_spans[s]->spans[k], w);
            }
        }
    }
    assert_true(msg_equal(a, b));
}

/* rewrite and correct agree on body (which must be a valid request). */
static void expect_as_correct(const uint8_t *in, size_t len, const char *attr,
                              size_t want_spans, size_t want_adjusted)
{
    struct result got, want;
    Request *a, *b;

    run_rewrite(&got, in, len, attr);
    if (got.rc != 0)
        fail_msg("rewrite: %d %s", got.rc, got.err);
    run_correct(&want, in, len, attr);
    if (want.rc != 0)
        fail_msg("correct: %d %s", want.rc, want.err);
    assert_int_equal(got.stats.spans, want.stats.spans);
    assert_int_equal(got.stats.adjusted, want.stats.adjusted);
    assert_int_equal(got.stats.spans, want_spans);
    assert_int_equal(got.stats.adjusted, want_adjusted);
    a = unpack(got.out, got.len);
    b = unpack(want.out, want.len);
    same_requests(a, b);
    unpack_free(a);
    unpack_free(b);
    free(got.out);
    free(want.out);
}

static const KeyValue *find_attr(KeyValue *const *kv, size_t n, const char *key,
                                 size_t *count)
{
    const KeyValue *found = NULL;

    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0) {
            found = found ? found : kv[i];
            (*count)++;
        }
    return found;
}

/* kv holds exactly one int attribute key = want. */
static void expect_int_attr(KeyValue *const *kv, size_t n, const char *key,
                            int64_t want)
{
    size_t count;
    const KeyValue *a = find_attr(kv, n, key, &count);

    if (count != 1)
        fail_msg("%zu attributes %s", count, key);
    assert_int_equal(
        a->value->value_case,
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
    if (a->value->int_value != want)
        fail_msg("%s = %" PRId64 ", want %" PRId64, key, a->value->int_value,
                 want);
}

static void setup_arena(void)
{
    arena = otlp_arena_create();
    assert_non_null(arena);
}

static void teardown_arena(void)
{
    otlp_arena_destroy(arena);
    arena = NULL;
}

/* ---- tests ------------------------------------------------------------ */

/* Six resources: node-a (pre-existing skewscope attributes, events, a
 * link, absent times), svc-c by service.name, node-z (host.name ranks
 * before the known service.name: unknown), no resource ("unknown"),
 * node-b (drift), drift-only (a span of which only an event moves, and
 * one that stays: a known domain, but no attributes added). */
static struct buf mixed_request(void)
{
    Span *a[4], *c[2], *z[1], *u[1], *b[1], *d[2];

    a[0] = span_new(0, T0, T0 + 1000);
    span_attrs(a[0], 3,
               (KeyValue **)ptrs(3, kv_s("http.method", "GET"),
                                 kv_s(CORRECT_ATTR_OFFSET, "stale"),
                                 kv_i(CORRECT_ATTR_ORIG_END, 1)));
    span_events(a[0], 2,
                (Event **)ptrs(2,
                               event_new("e0", T0 + 100, 2,
                                         (KeyValue **)ptrs(
                                             2, kv_i(CORRECT_ATTR_ORIG_TIME, 5),
                                             kv_s("foo", "bar"))),
                               event_new("e1", T0 + 200, 0, NULL)));
    a[0]->n_links = 1;
    a[0]->links = (Link **)ptrs(
        1, link_new(1, (KeyValue **)ptrs(1, kv_i(CORRECT_ATTR_OFFSET, 9))));
    a[1] = span_new(1, T0 + 10, T0 + 20);
    a[2] = span_new(2, 0, T0 + 30); /* start absent */
    a[3] = span_new(3, T0 + 40, T0 + 50);
    span_events(a[3], 1, (Event **)ptrs(1, event_new("zero", 0, 0, NULL)));
    c[0] = span_new(10, T0 + 60, T0 + 70);
    c[1] = span_new(11, T0 + 80, T0 + 90);
    span_events(c[1], 1, (Event **)ptrs(1, event_new("ev", T0 + 85, 0, NULL)));
    z[0] = span_new(20, T0 + 100, T0 + 110);
    span_attrs(z[0], 1, (KeyValue **)ptrs(1, kv_i(CORRECT_ATTR_OFFSET, 3)));
    u[0] = span_new(30, T0 + 120, T0 + 130);
    b[0] = span_new(40, (uint64_t)(T0 + SEC), (uint64_t)(T0 + 3 * SEC));
    span_events(
        b[0], 1,
        (Event **)ptrs(1, event_new("mid", (uint64_t)(T0 + 2 * SEC), 0, NULL)));
    d[0] = span_new(50, T0, T0 + 10);
    span_events(
        d[0], 1,
        (Event **)ptrs(1, event_new("late", (uint64_t)(T0 + SEC), 0, NULL)));
    d[1] = span_new(51, T0, T0 + 10);
    ResourceSpans **rs = (ResourceSpans **)ptrs(
        6,
        rs_new(resource_new(
                   2, (KeyValue **)ptrs(2, kv_s("host.name", "node-a"),
                                        kv_s("service.name", "frontend"))),
               4, a),
        rs_new(resource_new(
                   1, (KeyValue **)ptrs(1, kv_s("service.name", "svc-c"))),
               2, c),
        rs_new(
            resource_new(2, (KeyValue **)ptrs(2, kv_s("service.name", "svc-c"),
                                              kv_s("host.name", "node-z"))),
            1, z),
        rs_new(NULL, 1, u),
        rs_new(
            resource_new(1, (KeyValue **)ptrs(1, kv_s("host.name", "node-b"))),
            1, b),
        rs_new(resource_new(
                   1, (KeyValue **)ptrs(1, kv_s("host.name", "drift-only"))),
               2, d));
    return pack_request(6, rs);
}

static void test_mixed_as_correct(void **state)
{
    (void)state;
    setup_arena();
    struct buf in = mixed_request();

    /* 11 spans; node-a's 4, svc-c's 2, node-b's 1, drift-only's first. */
    expect_as_correct(in.p, in.len, NULL, 11, 8);
    free(in.p);
    teardown_arena();
}

/* The values themselves, not only agreement with correct. */
static void test_mixed_values(void **state)
{
    (void)state;
    setup_arena();
    struct buf in = mixed_request();
    struct result r;
    Request *req;
    const Span *s0, *s2, *s3, *z0, *b0;
    size_t count;

    run_rewrite(&r, in.p, in.len, NULL);
    assert_int_equal(r.rc, 0);
    req = unpack(r.out, r.len);
    s0 = req->resource_spans[0]->scope_spans[0]->spans[0];
    assert_int_equal(s0->start_time_unix_nano, T0 - 5000000);
    assert_int_equal(s0->end_time_unix_nano, T0 + 1000 - 5000000);
    assert_int_equal(s0->n_attributes, 4);
    assert_non_null(find_attr(s0->attributes, 4, "http.method", &count));
    expect_int_attr(s0->attributes, 4, CORRECT_ATTR_OFFSET, 5000000);
    expect_int_attr(s0->attributes, 4, CORRECT_ATTR_ORIG_START, T0);
    expect_int_attr(s0->attributes, 4, CORRECT_ATTR_ORIG_END, T0 + 1000);
    assert_int_equal(s0->events[0]->time_unix_nano, T0 + 100 - 5000000);
    assert_int_equal(s0->events[0]->n_attributes, 2);
    expect_int_attr(s0->events[0]->attributes, 2, CORRECT_ATTR_ORIG_TIME,
                    T0 + 100);
    expect_int_attr(s0->events[1]->attributes, 1, CORRECT_ATTR_ORIG_TIME,
                    T0 + 200);
    /* Links are not touched. */
    expect_int_attr(s0->links[0]->attributes, 1, CORRECT_ATTR_OFFSET, 9);
    /* An absent start is 0 mapped. */
    s2 = req->resource_spans[0]->scope_spans[0]->spans[2];
    assert_int_equal((int64_t)s2->start_time_unix_nano, -5000000);
    expect_int_attr(s2->attributes, 3, CORRECT_ATTR_ORIG_START, 0);
    s3 = req->resource_spans[0]->scope_spans[0]->spans[3];
    assert_int_equal((int64_t)s3->events[0]->time_unix_nano, -5000000);
    /* node-z is unknown: as it was. */
    z0 = req->resource_spans[2]->scope_spans[0]->spans[0];
    assert_int_equal(z0->start_time_unix_nano, T0 + 100);
    expect_int_attr(z0->attributes, 1, CORRECT_ATTR_OFFSET, 3);
    assert_int_equal(
        req->resource_spans[3]->scope_spans[0]->spans[0]->start_time_unix_nano,
        T0 + 120);
    /* node-b: t - round(10e-6 * (t - T0)) + 3000. */
    b0 = req->resource_spans[4]->scope_spans[0]->spans[0];
    assert_int_equal(b0->start_time_unix_nano, T0 + SEC - 10000 + 3000);
    assert_int_equal(b0->end_time_unix_nano, T0 + 3 * SEC - 30000 + 3000);
    assert_int_equal(b0->events[0]->time_unix_nano,
                     T0 + 2 * SEC - 20000 + 3000);
    expect_int_attr(b0->attributes, 3, CORRECT_ATTR_OFFSET, 7000);
    expect_int_attr(b0->events[0]->attributes, 1, CORRECT_ATTR_ORIG_TIME,
                    T0 + 2 * SEC);
    /* drift-only: the span stays, its event moves by 10 us. */
    const Span *d0 = req->resource_spans[5]->scope_spans[0]->spans[0],
               *d1 = req->resource_spans[5]->scope_spans[0]->spans[1];
    assert_int_equal(d0->start_time_unix_nano, T0);
    assert_int_equal(d0->end_time_unix_nano, T0 + 10);
    assert_int_equal(d0->events[0]->time_unix_nano, T0 + SEC - 10000);
    expect_int_attr(d0->attributes, 3, CORRECT_ATTR_OFFSET, 0);
    assert_int_equal(d1->n_attributes, 0);
    unpack_free(req);
    free(r.out);
    free(in.p);
    teardown_arena();
}

/* Correcting the output again keeps one attribute of each key, holding
 * the once-corrected times; again the same as correct. */
static void test_twice(void **state)
{
    (void)state;
    setup_arena();
    struct buf in = mixed_request();
    struct result once, twice;
    Request *req;
    const Span *s0;

    run_rewrite(&once, in.p, in.len, NULL);
    assert_int_equal(once.rc, 0);
    expect_as_correct(once.out, once.len, NULL, 11, 8);
    run_rewrite(&twice, once.out, once.len, NULL);
    assert_int_equal(twice.rc, 0);
    req = unpack(twice.out, twice.len);
    s0 = req->resource_spans[0]->scope_spans[0]->spans[0];
    assert_int_equal(s0->n_attributes, 4);
    assert_int_equal(s0->start_time_unix_nano, T0 - 10000000);
    expect_int_attr(s0->attributes, 4, CORRECT_ATTR_ORIG_START, T0 - 5000000);
    expect_int_attr(s0->events[0]->attributes, 2, CORRECT_ATTR_ORIG_TIME,
                    T0 + 100 - 5000000);
    unpack_free(req);
    free(once.out);
    free(twice.out);
    free(in.p);
    teardown_arena();
}

/* Only unknown domains: the same bytes back, nothing adjusted. */
static void test_unknown_unchanged(void **state)
{
    (void)state;
    setup_arena();
    Span *s[2] = {span_new(1, T0, T0 + 5), span_new(2, T0 + 1, T0 + 2)};
    span_events(s[1], 1, (Event **)ptrs(1, event_new("e", T0 + 1, 0, NULL)));
    struct buf in = pack_request(
        2, (ResourceSpans **)ptrs(
               2,
               rs_new(resource_new(1, (KeyValue **)ptrs(
                                          1, kv_s("host.name", "nowhere"))),
                      1, s),
               rs_new(NULL, 1, s + 1)));
    struct result r;

    run_rewrite(&r, in.p, in.len, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.len, in.len);
    assert_memory_equal(r.out, in.p, in.len);
    assert_int_equal(r.stats.spans, 2);
    assert_int_equal(r.stats.adjusted, 0);
    expect_as_correct(in.p, in.len, NULL, 2, 0);
    free(r.out);
    free(in.p);
    teardown_arena();
}

/* Spans the readers count as invalid (no trace ID, an all-zero trace ID,
 * no span ID) in a skewed domain are copied as they are, as correct does;
 * the valid span beside them is corrected. */
static void test_invalid_spans_unchanged(void **state)
{
    static const uint8_t zero16[16];
    (void)state;
    setup_arena();
    Span *s[4] = {span_new(1, T0, T0 + 5), span_new(2, T0, T0 + 5),
                  span_new(3, T0, T0 + 5), span_new(4, T0, T0 + 5)};
    s[1]->trace_id.len = 0;
    s[2]->trace_id.data = (uint8_t *)zero16;
    s[3]->span_id.len = 0;
    struct buf in = pack_request(
        1, (ResourceSpans **)ptrs(
               1, rs_new(resource_new(1, (KeyValue **)ptrs(
                                             1, kv_s("host.name", "node-a"))),
                         4, s)));
    struct result r;
    Request *req;

    run_rewrite(&r, in.p, in.len, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.spans, 4);
    assert_int_equal(r.stats.adjusted, 1);
    req = unpack(r.out, r.len);
    Span **out = req->resource_spans[0]->scope_spans[0]->spans;
    assert_int_equal(out[0]->start_time_unix_nano, T0 - 5000000);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(out[i]->start_time_unix_nano, T0);
        assert_int_equal(out[i]->n_attributes, 0);
    }
    unpack_free(req);
    free(r.out);
    expect_as_correct(in.p, in.len, NULL, 4, 1);
    free(in.p);
    teardown_arena();
}

/* A model that knows "unknown" corrects spans without a resource (as
 * correct does); an empty body comes back empty. */
static void test_empty_and_unknown_domain(void **state)
{
    (void)state;
    struct clock_model *m = clock_model_create();
    struct correct_stats st = {100, 10};
    uint8_t *out = NULL;
    size_t outlen = 99;
    char err[256];

    assert_non_null(m);
    assert_int_equal(rewrite_otlp_proto(NULL, 0, m, NULL, &out, &outlen, &st,
                                        err, sizeof(err)),
                     0);
    assert_non_null(out);
    assert_int_equal(outlen, 0);
    assert_int_equal(st.spans, 100); /* added to, not reset */
    free(out);

    setup_arena();
    Span *s = span_new(1, T0, T0 + 5);
    struct buf in =
        pack_request(1, (ResourceSpans **)ptrs(1, rs_new(NULL, 1, &s)));
    Request *req;

    assert_true(clock_model_set(m, CLOCK_DOMAIN_UNKNOWN, 100, 0.0, 0) >= 0);
    assert_int_equal(rewrite_otlp_proto(in.p, in.len, m, NULL, &out, &outlen,
                                        NULL, err, sizeof(err)),
                     0);
    req = unpack(out, outlen);
    assert_int_equal(
        req->resource_spans[0]->scope_spans[0]->spans[0]->start_time_unix_nano,
        T0 - 100);
    unpack_free(req);
    free(out);
    free(in.p);
    clock_model_destroy(m);
    teardown_arena();
}

/* Times far from any clock (beyond +-2^62 ns, or above INT64_MAX as
 * fixed64) are mapped as correct maps them: the model's arithmetic wraps
 * instead of overflowing (clock_model_map()), the same in both. */
static void test_absurd_times(void **state)
{
    (void)state;
    setup_arena();
    Span *s[3] = {span_new(1, UINT64_MAX / 2 + 2, T0),
                  span_new(2, UINT64_MAX, 1), span_new(3, 0, UINT64_MAX / 4)};
    struct buf in = pack_request(
        1, (ResourceSpans **)ptrs(
               1, rs_new(resource_new(1, (KeyValue **)ptrs(
                                             1, kv_s("host.name", "node-b"))),
                         3, s)));
    struct clock_model *m = make_model();
    struct result r;
    Request *req;

    expect_as_correct(in.p, in.len, NULL, 3, 3);
    run_rewrite(&r, in.p, in.len, NULL);
    assert_int_equal(r.rc, 0);
    req = unpack(r.out, r.len);
    const Span *o = req->resource_spans[0]->scope_spans[0]->spans[0];
    assert_true(
        o->start_time_unix_nano ==
        (uint64_t)clock_model_to_reference(m, clock_model_find(m, "node-b", 6),
                                           (int64_t)(UINT64_MAX / 2 + 2)));
    assert_int_equal(o->end_time_unix_nano, T0 + 3000);
    expect_int_attr(o->attributes, 3, CORRECT_ATTR_ORIG_START,
                    (int64_t)(UINT64_MAX / 2 + 2));
    unpack_free(req);
    free(r.out);
    free(in.p);
    clock_model_destroy(m);
    teardown_arena();
}

/* --clock-domain: the user's attribute ranks first. */
static void test_user_attr(void **state)
{
    (void)state;
    setup_arena();
    Span *s = span_new(1, T0, T0 + 5);
    struct buf in = pack_request(
        1, (ResourceSpans **)ptrs(
               1, rs_new(resource_new(2, (KeyValue **)ptrs(
                                             2, kv_s("host.name", "node-a"),
                                             kv_s("rack", "rack-1"))),
                         1, &s)));
    struct result r;
    Request *req;

    expect_as_correct(in.p, in.len, "rack", 1, 1);
    expect_as_correct(in.p, in.len, NULL, 1, 1);
    run_rewrite(&r, in.p, in.len, "rack");
    req = unpack(r.out, r.len);
    assert_int_equal(
        req->resource_spans[0]->scope_spans[0]->spans[0]->start_time_unix_nano,
        T0 - 11);
    unpack_free(req);
    free(r.out);
    free(in.p);
    teardown_arena();
}

/* Wire layouts protobuf-c never writes: the resource after the spans, a
 * repeated resource (merged: host.name from the second wins over
 * service.name from the first), repeated time fields (the last wins),
 * unknown fields at every level (kept, also in a replaced KeyValue), a
 * key with a NUL (protobuf-c's C string ends there). */
static void test_wire_layouts(void **state)
{
    (void)state;
    setup_arena();
    struct buf span = {NULL, 0}, ss = {NULL, 0}, rs = {NULL, 0},
               req = {NULL, 0}, kv = {NULL, 0}, ev = {NULL, 0},
               res1 = {NULL, 0}, res2 = {NULL, 0};
    Span *sp = span_new(7, T0 + 3, T0 + 9);
    static const char nul_key[] = CORRECT_ATTR_ORIG_END "\0junk";
    struct result r;
    Request *out;

    buf_fixed64(&span, 7, 12345); /* overridden by the packed start */
    buf_pack(&span, sp);
    buf_fixed64(&span, 8, T0 + 10); /* the last end wins */
    /* A stale attribute with an unknown field 5 in its KeyValue. */
    buf_pack(&kv, kv_s(CORRECT_ATTR_ORIG_START, "old"));
    buf_put(&kv, "\x28\x01", 2);
    buf_field(&span, 9, kv.p, kv.len);
    free(kv.p);
    kv = (struct buf){NULL, 0};
    buf_field(&kv, 1, nul_key, sizeof(nul_key) - 1);
    buf_field(&kv, 2, "\x18\x07", 2); /* int_value 7 */
    buf_field(&span, 9, kv.p, kv.len);
    buf_put(&span, "\x98\x06\x07", 3); /* field 99, varint */
    /* An event with two times and an unknown field. */
    buf_fixed64(&ev, 1, T0 + 1);
    buf_field(&ev, 2, "ev", 2);
    buf_fixed64(&ev, 1, T0 + 4);
    buf_field(&ev, 9, "zz", 2);
    buf_field(&span, 11, ev.p, ev.len);
    buf_field(&ss, 2, span.p, span.len);
    buf_field(&ss, 77, "q", 1);
    buf_pack(&res1, resource_new(1, (KeyValue **)ptrs(
                                        1, kv_s("service.name", "svc-c"))));
    buf_pack(&res2, resource_new(
                        1, (KeyValue **)ptrs(1, kv_s("host.name", "node-a"))));
    buf_field(&rs, 1, res1.p, res1.len);
    buf_field(&rs, 2, ss.p, ss.len);
    buf_put(&rs, "\x38\x03", 2); /* field 7, varint */
    buf_field(&rs, 1, res2.p, res2.len);
    buf_field(&req, 1, rs.p, rs.len);
    buf_field(&req, 2, "zz", 2);
    expect_as_correct(req.p, req.len, NULL, 1, 1);

    run_rewrite(&r, req.p, req.len, NULL);
    out = unpack(r.out, r.len);
    const Span *s = out->resource_spans[0]->scope_spans[0]->spans[0];
    assert_int_equal(s->start_time_unix_nano, T0 + 3 - 5000000);
    assert_int_equal(s->end_time_unix_nano, T0 + 10 - 5000000);
    expect_int_attr(s->attributes, s->n_attributes, CORRECT_ATTR_OFFSET,
                    5000000);
    expect_int_attr(s->attributes, s->n_attributes, CORRECT_ATTR_ORIG_START,
                    T0 + 3);
    expect_int_attr(s->attributes, s->n_attributes, CORRECT_ATTR_ORIG_END,
                    T0 + 10);
    assert_int_equal(s->events[0]->time_unix_nano, T0 + 4 - 5000000);
    assert_int_equal(s->base.n_unknown_fields, 1);
    free(r.out);
    unpack_free(out);

    /* Two empty resources: nothing to concatenate. */
    expect_as_correct((const uint8_t *)"\x0a\x04\x0a\x00\x0a\x00", 6, NULL, 0,
                      0);

    /* Resource only after the spans. */
    rs.len = 0;
    buf_field(&rs, 2, ss.p, ss.len);
    buf_field(&rs, 1, res2.p, res2.len);
    req.len = 0;
    buf_field(&req, 1, rs.p, rs.len);
    expect_as_correct(req.p, req.len, NULL, 1, 1);

    free(span.p);
    free(ss.p);
    free(rs.p);
    free(req.p);
    free(kv.p);
    free(ev.p);
    free(res1.p);
    free(res2.p);
    teardown_arena();
}

/* Many spans of varied sizes: rewritten length prefixes that need a byte
 * more (spans and events that grow past 127 bytes) or fewer (a scope of
 * 20 kB of stale attributes that shrinks below 16 kB). */
static void test_sizes(void **state)
{
    (void)state;
    setup_arena();
    enum { NSPANS = 1500, NBIG = 20 };
    Span **spans = alloc0(NSPANS * sizeof(*spans));
    Span **big = alloc0(NBIG * sizeof(*big));
    char *text = alloc0(1001);
    uint32_t x = 12345;
    Request *req;
    struct result r;

    memset(text, 'x', 1000);
    for (unsigned i = 0; i < NSPANS; i++) {
        x = x * 1103515245 + 12345;
        unsigned len = x >> 16 & 255;
        spans[i] = span_new(i, (uint64_t)T0 + i, (uint64_t)T0 + i + 7);
        span_attrs(spans[i], 1,
                   (KeyValue **)ptrs(1, kv_s("pad", text + 1000 - len)));
        if (i % 3 == 0)
            span_events(
                spans[i], 1,
                (Event **)ptrs(1, event_new(text + 1000 - len % 100,
                                            (uint64_t)T0 + i, 0, NULL)));
    }
    for (unsigned i = 0; i < NBIG; i++) {
        big[i] = span_new(5000 + i, (uint64_t)T0, (uint64_t)T0 + 1);
        span_attrs(big[i], 3,
                   (KeyValue **)ptrs(3, kv_s(CORRECT_ATTR_ORIG_START, text),
                                     kv_s(CORRECT_ATTR_OFFSET, text),
                                     kv_s(CORRECT_ATTR_ORIG_END, text)));
    }
    struct buf in = pack_request(
        2, (ResourceSpans **)ptrs(
               2,
               rs_new(resource_new(
                          1, (KeyValue **)ptrs(1, kv_s("host.name", "node-b"))),
                      NSPANS, spans),
               rs_new(resource_new(
                          1, (KeyValue **)ptrs(1, kv_s("host.name", "node-a"))),
                      NBIG, big)));

    expect_as_correct(in.p, in.len, NULL, NSPANS + NBIG, NSPANS + NBIG);
    run_rewrite(&r, in.p, in.len, NULL);
    req = unpack(r.out, r.len);
    ScopeSpans *ss = req->resource_spans[1]->scope_spans[0];
    assert_true(protobuf_c_message_get_packed_size(&ss->base) < 16384);
    assert_int_equal(ss->spans[0]->n_attributes, 3);
    unpack_free(req);
    free(r.out);
    free(in.p);
    teardown_arena();
}

static void expect_malformed(const uint8_t *in, size_t len, const char *want)
{
    struct result r;

    run_rewrite(&r, in, len, NULL);
    if (r.rc != -1)
        fail_msg("rc %d for %s", r.rc, want);
    assert_null(r.out);
    if (!strstr(r.err, want))
        fail_msg("\"%s\" lacks \"%s\"", r.err, want);
    assert_int_equal(strncmp(r.err, "request body: byte ", 19), 0);
}

static void test_malformed(void **state)
{
    (void)state;
    /* start_time (7) as a varint: its tag is byte 6. */
    static const uint8_t wt[] = {0x0a, 6, 0x12, 4, 0x12, 2, 0x38, 1};
    static const uint8_t len[] = {0x0a, 5, 0x12};
    static const uint8_t group[] = {0x13};
    /* A resource whose KeyValue is cut inside its key: the missing length
     * is byte 7. */
    static const uint8_t res[] = {0x0a, 5, 0x0a, 3, 0x0a, 1, 0x0a};
    static const uint8_t varint[] = {0x0a, 0x80, 0x80};
    /* An event time of 3 bytes. */
    static const uint8_t ev[] = {0x0a, 11,   0x12, 9, 0x12, 7, 0x5a,
                                 5,    0x09, 1,    2, 3,    4};
    struct buf deep = {NULL, 0}, tmp = {NULL, 0};

    expect_malformed(wt, sizeof(wt),
                     "byte 6: expected wire type 1 for field "
                     "7 of Span, got 0 (message at byte 0: resource_spans[0]."
                     "scope_spans[0].spans[0])");
    expect_malformed(len, sizeof(len),
                     "byte 1: expected a length of at most 1");
    expect_malformed(group, sizeof(group), "byte 0: expected wire type 0, 1,");
    expect_malformed(res, sizeof(res),
                     "byte 7: expected a length prefix (varint); the "
                     "enclosing message ends inside it (message at byte 0: "
                     "resource_spans[0])");
    expect_malformed(varint, sizeof(varint),
                     "byte 1: expected a length prefix");
    /* In a span of no known domain the event is not read (nor by the
     * readers): copied. In one of node-a it is, and refused. */
    struct result ok;
    run_rewrite(&ok, ev, sizeof(ev), NULL);
    assert_int_equal(ok.rc, 0);
    assert_int_equal(ok.len, sizeof(ev));
    assert_memory_equal(ok.out, ev, sizeof(ev));
    free(ok.out);
    buf_field(&tmp, 1, "host.name", 9);
    buf_field(&deep, 1, "node-a", 6); /* AnyValue.string_value */
    buf_field(&tmp, 2, deep.p, deep.len);
    deep.len = 0;
    buf_field(&deep, 1, tmp.p, tmp.len); /* Resource.attributes */
    tmp.len = 0;
    buf_field(&tmp, 1, deep.p, deep.len);  /* ResourceSpans.resource */
    buf_put(&tmp, ev + 2, sizeof(ev) - 2); /* its scope_spans */
    deep.len = 0;
    buf_field(&deep, 1, tmp.p, tmp.len);
    char want[64];
    snprintf(want, sizeof(want), "byte %zu: expected 8 bytes", deep.len - 4);
    expect_malformed(deep.p, deep.len, want);
    deep.len = tmp.len = 0;
    /* AnyValue arrays nested 80 deep in a resource attribute. */
    buf_put(&deep, "\x18\x01", 2);
    for (int i = 0; i < 80; i++) {
        tmp.len = 0;
        buf_field(&tmp, 1, deep.p, deep.len); /* ArrayValue.values */
        deep.len = 0;
        buf_field(&deep, 5, tmp.p, tmp.len); /* AnyValue.array_value */
    }
    tmp.len = 0;
    buf_field(&tmp, 1, "k", 1);
    buf_field(&tmp, 2, deep.p, deep.len); /* KeyValue */
    deep.len = 0;
    buf_field(&deep, 1, tmp.p, tmp.len); /* Resource.attributes */
    tmp.len = 0;
    buf_field(&tmp, 1, deep.p, deep.len); /* ResourceSpans.resource */
    deep.len = 0;
    buf_field(&deep, 1, tmp.p, tmp.len);
    expect_malformed(deep.p, deep.len,
                     "byte 12: expected field 2 of KeyValue to be messages "
                     "nested at most 64 deep (message at byte 0: "
                     "resource_spans[0])");
    free(deep.p);
    free(tmp.p);
}

/* Every prefix and many byte flips of a valid body: -1 with a byte offset,
 * or 0 with output protobuf-c decodes holding as many spans; never a
 * refusal of what protobuf-c decodes and the readers accept (the readers'
 * rules are stricter than protobuf-c's on strings, field 0 and ID
 * lengths; the rewriter, which reads events, than the readers, which skip
 * them, on the framing of events protobuf-c refuses too). */
static size_t count_spans(const Request *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n_resource_spans; i++)
        for (size_t j = 0; j < r->resource_spans[i]->n_scope_spans; j++)
            n += r->resource_spans[i]->scope_spans[j]->n_spans;
    return n;
}

static void check_any_bytes(const uint8_t *p, size_t n, size_t *refused)
{
    struct otlp_arena *a = otlp_arena_create();
    const Request *ref = otlp_proto_request_unpack(a, p, n);
    struct span_store *st = span_store_create();
    struct otlp_wire *wire = otlp_wire_create(st, NULL, "request body");
    char err[512];
    bool readers = otlp_wire_scan(wire, p, n, 0, 0, err, sizeof(err)) == 0;
    struct result r;

    otlp_wire_destroy(wire);
    span_store_destroy(st);
    run_rewrite(&r, p, n, NULL);
    if (r.rc != 0) {
        assert_int_equal(r.rc, -1);
        assert_int_equal(strncmp(r.err, "request body: byte ", 19), 0);
        if (ref && readers)
            fail_msg("refused what protobuf-c and the readers take: %s", r.err);
        (*refused)++;
    } else if (ref) {
        Request *out = unpack(r.out, r.len);
        assert_int_equal(count_spans(out), count_spans(ref));
        assert_int_equal(r.stats.spans, count_spans(ref));
        unpack_free(out);
    }
    free(r.out);
    otlp_arena_destroy(a);
}

static void test_truncated_and_flipped(void **state)
{
    (void)state;
    setup_arena();
    struct buf in = mixed_request();
    uint8_t *copy = malloc(in.len);
    size_t refused = 0;
    uint32_t x = 99;

    for (size_t k = 0; k < in.len; k++)
        check_any_bytes(in.p, k, &refused);
    assert_true(refused > in.len / 2);
    for (int i = 0; i < 3000; i++) {
        memcpy(copy, in.p, in.len);
        for (int j = 0; j < 1 + i % 3; j++) {
            x = x * 1103515245 + 12345;
            size_t at = (x >> 8) % in.len;
            x = x * 1103515245 + 12345;
            copy[at] = (uint8_t)(x >> 16);
        }
        check_any_bytes(copy, in.len, &refused);
    }
    free(copy);
    free(in.p);
    teardown_arena();
}

/* ---- JSON ------------------------------------------------------------- */

static const char JSON_DOC[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
    "\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},\"scopeSpans\":"
    "[{\"spans\":[{\"traceId\":\"ab0102030405060708090102030405cd\","
    "\"spanId\":\"1000000000000001\",\"name\":\"op\",\"kind\":2,"
    "\"startTimeUnixNano\":\"1790000000000000000\",\"endTimeUnixNano\":"
    "\"1790000000000001000\",\"attributes\":[{\"key\":"
    "\"skewscope.clock_offset_ns\",\"value\":{\"intValue\":\"1\"}}],"
    "\"events\":[{\"timeUnixNano\":\"1790000000000000500\",\"name\":\"e\"}]"
    "}]}]},\n{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":"
    "{\"stringValue\":\"node-q\"}}]},\"scopeSpans\":[{\"spans\":[{"
    "\"traceId\":\"ab0102030405060708090102030405cd\",\"spanId\":"
    "\"1000000000000002\",\"name\":\"op\",\"startTimeUnixNano\":\"5\","
    "\"endTimeUnixNano\":\"6\"}]}]},{\"resource\":{\"attributes\":[{\"key\":"
    "\"service.name\",\"value\":{\"stringValue\":\"svc-c\"}}]},"
    "\"scopeSpans\":[{\"spans\":[{\"traceId\":"
    "\"ab0102030405060708090102030405cd\",\"spanId\":\"1000000000000003\","
    "\"name\":\"op\",\"startTimeUnixNano\":\"100000\",\"endTimeUnixNano\":"
    "\"200000\"}]}]}]}\n";

static void json_correct(const char *doc, char **out, size_t *outlen,
                         struct correct_stats *st)
{
    struct clock_model *m = make_model();
    struct correct_opts opts = {TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_OTLP_JSON,
                                NULL};
    char *path = testlib_write_temp_str(doc), err[512];
    FILE *f = open_memstream(out, outlen);

    assert_non_null(f);
    if (correct_file(path, &opts, m, f, st, err, sizeof(err)) != 0)
        fail_msg("correct: %s", err);
    fclose(f);
    unlink(path);
    free(path);
    clock_model_destroy(m);
}

static int json_rewrite(const char *doc, size_t len, char **out, size_t *outlen,
                        struct correct_stats *st, char *err, size_t errlen)
{
    struct clock_model *m = make_model();
    int rc = rewrite_otlp_json(doc, len, m, NULL, out, outlen, st, err, errlen);

    clock_model_destroy(m);
    return rc;
}

static void test_json_as_correct(void **state)
{
    (void)state;
    char *got = NULL, *want = NULL, err[512];
    size_t gotlen, wantlen;
    struct correct_stats gs = {0, 0}, ws;

    json_correct(JSON_DOC, &want, &wantlen, &ws);
    assert_int_equal(json_rewrite(JSON_DOC, strlen(JSON_DOC), &got, &gotlen,
                                  &gs, err, sizeof(err)),
                     0);
    assert_int_equal(wantlen, gotlen + 1);
    assert_int_equal(want[wantlen - 1], '\n');
    assert_memory_equal(got, want, gotlen);
    assert_null(memchr(got, '\n', gotlen));
    assert_int_equal(gs.spans, 3);
    assert_int_equal(gs.adjusted, 2);
    assert_int_equal(ws.spans, 3);
    /* The values, for the record. */
    assert_non_null(
        strstr(got, "\"startTimeUnixNano\":\"1789999999995000000\""));
    assert_non_null(strstr(got, "\"startTimeUnixNano\":\"93000\""));
    free(got);
    free(want);
}

/* A body of several documents (correct writes one line each) comes back
 * as one, holding their resourceSpans in order. */
static void test_json_documents_merged(void **state)
{
    (void)state;
    char *got = NULL, *want = NULL, err[512], two[2 * sizeof(JSON_DOC)];
    size_t gotlen, wantlen, lines = 0;
    json_t *doc, *all = json_array();

    snprintf(two, sizeof(two), "%s %s", JSON_DOC, JSON_DOC);
    json_correct(two, &want, &wantlen, NULL);
    assert_int_equal(
        json_rewrite(two, strlen(two), &got, &gotlen, NULL, err, sizeof(err)),
        0);
    for (char *p = want, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        json_t *part = json_loadb(p, (size_t)(nl - p), 0, NULL);
        assert_non_null(part);
        json_array_extend(all, json_object_get(part, "resourceSpans"));
        json_decref(part);
        lines++;
    }
    assert_int_equal(lines, 2);
    assert_null(memchr(got, '\n', gotlen));
    doc = json_loadb(got, gotlen, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(all), 6);
    assert_true(json_equal(json_object_get(doc, "resourceSpans"), all));
    json_decref(doc);
    json_decref(all);
    free(got);
    free(want);
}

static void test_json_errors(void **state)
{
    (void)state;
    char *out = NULL, err[512];
    size_t outlen;
    static const char gz[] = "\x1f\x8b\x08\x00";

    assert_int_equal(json_rewrite("{\"resourceSpans\":[", 18, &out, &outlen,
                                  NULL, err, sizeof(err)),
                     -1);
    assert_null(out);
    assert_int_equal(strncmp(err, "request body:1:", 15), 0);
    assert_int_equal(
        json_rewrite("[1]", 3, &out, &outlen, NULL, err, sizeof(err)), -1);
    assert_int_equal(strncmp(err, "request body:1:1:", 17), 0);
    assert_int_equal(json_rewrite(gz, 4, &out, &outlen, NULL, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "gzip"));
    assert_int_equal(
        json_rewrite(" \n", 2, &out, &outlen, NULL, err, sizeof(err)), 0);
    assert_string_equal(out, "{\"resourceSpans\":[]}");
    assert_int_equal(outlen, strlen(out));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_as_correct),
        cmocka_unit_test(test_mixed_values),
        cmocka_unit_test(test_twice),
        cmocka_unit_test(test_unknown_unchanged),
        cmocka_unit_test(test_empty_and_unknown_domain),
        cmocka_unit_test(test_absurd_times),
        cmocka_unit_test(test_user_attr),
        cmocka_unit_test(test_wire_layouts),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_invalid_spans_unchanged),
        cmocka_unit_test(test_json_as_correct),
        cmocka_unit_test(test_json_documents_merged),
        cmocka_unit_test(test_json_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
