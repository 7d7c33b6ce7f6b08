/* Tests of the OTLP wire scanner (otlp_wire.c): differential against the
 * protobuf-c decoding it replaced (a small reference reader below, the old
 * ingest_otlp_proto logic over otlp_proto_request_unpack()), on messages
 * with unknown fields, the legacy instrumentation_library_spans, fields out
 * of order, repeated singular fields, links, empty parents and missing
 * attributes; then malformed input: every truncation point, wrong ID
 * lengths, wrong wire types, groups, long varints and deep nesting, each
 * with the exact byte offset. */
#include "testlib.h"
#include "wire_buf.h"

#include <inttypes.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/otlp_wire.h"
#include "ingest/source.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/trace_writer.h"

#include "otlp_reference.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define T0 INT64_C(1790000000000000000)

/* Returns 0, -INGEST_E_MALFORMED, or 1 when protobuf-c does not decode. */
static int ref_read(struct span_store *s, const uint8_t *p, size_t n,
                    const char *user_attr)
{
    struct otlp_arena *a = otlp_arena_create();
    const Request *msg = otlp_proto_request_unpack(a, p, n);
    int rc = msg ? 0 : 1;

    if (msg)
        rc = otlp_ref_read_raw(s, p, n, msg, user_attr);
    otlp_arena_destroy(a);
    return rc;
}

static void assert_same_stores(const struct span_store *a,
                               const struct span_store *b)
{
    const char *diff = otlp_ref_diff(a, b);

    if (diff)
        fail_msg("scanner and reference: %s", diff);
}

/* Scan n bytes (as if at input offset `off`) into a new store. */
static int scan(struct span_store *s, const uint8_t *p, size_t n, uint64_t off,
                const char *user_attr, char *err, size_t errlen)
{
    struct otlp_wire *w = otlp_wire_create(s, user_attr, "in.pb");
    int rc;

    assert_non_null(w);
    rc = otlp_wire_scan(w, p, n, off, off, err, errlen);
    otlp_wire_destroy(w);
    return rc;
}

/* The scanner and the reference agree on p (which protobuf-c decodes). */
static void expect_same(const uint8_t *p, size_t n, const char *user_attr,
                        size_t want_spans)
{
    struct span_store *got = span_store_create(), *want = span_store_create();
    char err[512] = "";
    int rc = scan(got, p, n, 0, user_attr, err, sizeof(err));
    int ref = ref_read(want, p, n, user_attr);

    assert_int_not_equal(ref, 1);
    if (rc != ref)
        fail_msg("scanner %d (%s), reference %d", rc, err, ref);
    if (rc == 0)
        assert_same_stores(got, want);
    assert_int_equal(span_store_count(got), want_spans);
    span_store_destroy(got);
    span_store_destroy(want);
}

/* ---- building messages ------------------------------------------------ */

static void buf_pack(struct buf *b, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *t = malloc(n + 1);

    assert_non_null(t);
    protobuf_c_message_pack(m, t);
    buf_put(b, t, n);
    free(t);
}

static uint8_t ids[4][16] = {
    {0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xcd},
    {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88},
    {0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01},
    {0x0f, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xf0},
};

static void kv_str(KeyValue *kv, AnyValue *v, const char *key, const char *val)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    kv->value = v;
    v->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)val;
}

static void span_init(Span *sp, int i)
{
    opentelemetry__proto__trace__v1__span__init(sp);
    sp->trace_id.data = ids[0];
    sp->trace_id.len = 16;
    sp->span_id.data = ids[1 + i % 2];
    sp->span_id.len = 8;
    sp->name = "op";
    sp->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)(i % 7);
    sp->start_time_unix_nano = (uint64_t)(T0 + i * 10);
    sp->end_time_unix_nano = (uint64_t)(T0 + i * 10 + 5);
}

/* A request of two resource spans built with protobuf-c: attributes of
 * every kind, links, empty and set parents, unknown fields, the legacy
 * field 1000, a resource of no candidate attribute. */
static void build_request(struct buf *out)
{
    /* Unknown fields carry their length prefix in data. */
    static uint8_t legacy[] = {7, 0x12, 0x02, 0x0a, 0x00, 0x0a, 0x01, 0x41};
    static uint8_t unk[] = {3, 1, 2, 3};
    KeyValue rkv[3], skv[4], lkv;
    AnyValue rv[3], sv[4], lv;
    KeyValue *rkvp[3] = {&rkv[0], &rkv[1], &rkv[2]},
             *skvp[4] = {&skv[0], &skv[1], &skv[2], &skv[3]};
    Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT,
             res2 = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Span sp[4];
    Span *spp[4] = {&sp[0], &sp[1], &sp[2], &sp[3]};
    Link ln[2];
    Link *lnp[2] = {&ln[0], &ln[1]};
    ScopeSpans ss[2];
    ScopeSpans *ssp[2] = {&ss[0], &ss[1]};
    ResourceSpans rs[2];
    ResourceSpans *rsp[2] = {&rs[0], &rs[1]};
    Request req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    ProtobufCMessageUnknownField uf[3] = {
        {9000, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, sizeof(unk), unk},
        {1000, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, sizeof(legacy), legacy},
        {77, PROTOBUF_C_WIRE_TYPE_32BIT, 4, unk},
    };

    kv_str(&rkv[0], &rv[0], "service.name", "svc");
    kv_str(&rkv[1], &rv[1], "host.name", "node-a");
    kv_str(&rkv[2], &rv[2], "host.id", "");
    rv[2].value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    rv[2].int_value = -42;
    res.attributes = rkvp;
    res.n_attributes = 3;
    res2.attributes = rkvp;
    res2.n_attributes = 1;
    kv_str(&skv[0], &sv[0], "rpc.system", "grpc");
    kv_str(&skv[1], &sv[1], "messaging.system", "kafka");
    kv_str(&skv[2], &sv[2], "rpc.system", "thrift");
    kv_str(&skv[3], &sv[3], "messaging.system", "");
    sv[3].value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    sv[3].bool_value = 1;
    kv_str(&lkv, &lv, "l", "v");
    for (int i = 0; i < 4; i++)
        span_init(&sp[i], i);
    sp[0].attributes = skvp;
    sp[0].n_attributes = 4;
    sp[0].base.unknown_fields = &uf[0];
    sp[0].base.n_unknown_fields = 1;
    sp[1].parent_span_id.data = ids[1];
    sp[1].parent_span_id.len = 8;
    sp[1].attributes = &skvp[2];
    sp[1].n_attributes = 2;
    sp[1].links = lnp;
    sp[1].n_links = 2;
    sp[2].attributes = &skvp[3];
    sp[2].n_attributes = 1;
    sp[3].kind = 9;
    for (int i = 0; i < 2; i++) {
        opentelemetry__proto__trace__v1__span__link__init(&ln[i]);
        ln[i].trace_id.data = ids[3 - i * 3];
        ln[i].trace_id.len = 16;
        ln[i].span_id.data = ids[2];
        ln[i].span_id.len = 8;
        opentelemetry__proto__trace__v1__scope_spans__init(&ss[i]);
        opentelemetry__proto__trace__v1__resource_spans__init(&rs[i]);
    }
    ln[1].attributes = (KeyValue *[]){&lkv};
    ln[1].n_attributes = 1;
    ss[0].spans = spp;
    ss[0].n_spans = 2;
    ss[1].spans = spp + 2;
    ss[1].n_spans = 2;
    ss[1].base.unknown_fields = &uf[2];
    ss[1].base.n_unknown_fields = 1;
    rs[0].resource = &res;
    rs[0].scope_spans = ssp;
    rs[0].n_scope_spans = 2;
    rs[0].base.unknown_fields = &uf[1];
    rs[0].base.n_unknown_fields = 1;
    rs[1].resource = &res2;
    rs[1].scope_spans = ssp + 1;
    rs[1].n_scope_spans = 1;
    req.resource_spans = rsp;
    req.n_resource_spans = 2;
    req.base.unknown_fields = &uf[0];
    req.base.n_unknown_fields = 1;
    buf_pack(out, &req.base);
}

/* ---- differential tests ----------------------------------------------- */

static void test_same_as_protobuf_c(void **state)
{
    struct buf b = {0};

    (void)state;
    build_request(&b);
    expect_same(b.p, b.len, NULL, 6);
    expect_same(b.p, b.len, "service.name", 6);
    expect_same(b.p, b.len, "host.id", 6);
    free(b.p);
}

/* A message with one resource_spans from fields given as bytes. */
static void wrap_rs(struct buf *out, const struct buf *rs)
{
    buf_field(out, 1, rs->p, rs->len);
}

/* Resource after its spans, two resources (merged), legacy spans. */
static void test_field_order(void **state)
{
    struct buf req = {0}, rs = {0}, ss = {0}, res = {0}, res2 = {0};
    Span sp;
    Span *spp = &sp;
    ScopeSpans s = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    KeyValue kv;
    AnyValue v;
    Resource r = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    KeyValue *kvp = &kv;

    (void)state;
    span_init(&sp, 1);
    s.spans = &spp;
    s.n_spans = 1;
    buf_pack(&ss, &s.base);
    kv_str(&kv, &v, "service.name", "late-svc");
    r.attributes = &kvp;
    r.n_attributes = 1;
    buf_pack(&res, &r.base);
    kv_str(&kv, &v, "host.name", "late-host");
    buf_pack(&res2, &r.base);
    buf_field(&rs, 1000, ss.p, ss.len); /* legacy: ignored */
    buf_field(&rs, 2, ss.p, ss.len);
    buf_field(&rs, 1, res.p, res.len);
    buf_field(&rs, 2, ss.p, ss.len);
    buf_field(&rs, 1, res2.p, res2.len);
    wrap_rs(&req, &rs);
    expect_same(req.p, req.len, NULL, 2);
    struct span_store *s2 = span_store_create();
    char err[256];
    assert_int_equal(scan(s2, req.p, req.len, 0, NULL, err, sizeof(err)), 0);
    assert_string_equal(
        span_store_domain_name(s2, span_store_at(s2, 0)->domain), "late-host");
    span_store_destroy(s2);
    free(req.p);
    free(rs.p);
    free(ss.p);
    free(res.p);
    free(res2.p);
}

/* Singular fields repeated (last wins), KeyValue.value repeated (merged),
 * keys and values with NULs (protobuf-c strings end there). */
static void test_repeated_and_nul(void **state)
{
    static const uint8_t tid2[16] = {7};
    struct buf sp = {0}, ss = {0}, rs = {0}, req = {0}, kv = {0}, any = {0};
    uint8_t fixed[9] = {0x39};

    (void)state;
    buf_field(&sp, 1, ids[3], 16);
    buf_field(&sp, 2, ids[1], 8);
    buf_field(&sp, 1, tid2, 16); /* last trace_id wins */
    buf_field(&sp, 4, ids[2], 8);
    buf_field(&sp, 4, "", 0); /* empty parent wins */
    memcpy(fixed + 1, ids[1], 8);
    buf_put(&sp, fixed, 9); /* start_time_unix_nano */
    fixed[0] = 0x30;        /* kind, varint 2 of 10 bytes */
    buf_put(&sp, fixed, 1);
    buf_put(&sp, "\x82\x80\x80\x80\x80\x80\x80\x80\x80\x00", 10);
    /* messaging.system\0x = "kafka\0y", then a value of bool, then string. */
    buf_field(&any, 1, "kafka\0y", 7);
    buf_field(&kv, 1, "messaging.system\0x", 18);
    buf_field(&kv, 2, any.p, any.len);
    buf_field(&sp, 9, kv.p, kv.len);
    kv.len = 0;
    buf_field(&kv, 2, any.p, any.len); /* string then empty: unset */
    buf_field(&kv, 2, "", 0);
    buf_field(&kv, 1, "rpc.system", 10);
    buf_field(&sp, 9, kv.p, kv.len);
    buf_field(&ss, 2, sp.p, sp.len);
    buf_field(&rs, 2, ss.p, ss.len);
    /* Resource: bool of wire type 2 read by its bytes, bytes as hex. */
    kv.len = any.len = 0;
    buf_put(&any, "\x12\x01\x00", 3); /* bool_value, wire type 2, false */
    buf_field(&kv, 1, "host.name", 9);
    buf_field(&kv, 2, any.p, any.len);
    any.len = 0;
    buf_field(&any, 7, "\x01\xfe", 2);
    buf_field(&kv, 2, any.p, any.len); /* later member wins: bytes */
    struct buf res = {0};
    buf_field(&res, 1, kv.p, kv.len);
    buf_field(&rs, 1, res.p, res.len);
    wrap_rs(&req, &rs);
    expect_same(req.p, req.len, NULL, 1);

    struct span_store *s = span_store_create();
    char err[256];
    assert_int_equal(scan(s, req.p, req.len, 0, NULL, err, sizeof(err)), 0);
    const struct span_rec *r = span_store_at(s, 0);
    assert_int_equal(r->trace_id[0], 7);
    assert_int_equal(r->flags & SPAN_F_HAS_PARENT, 0);
    assert_int_equal(r->kind, SPAN_KIND_SERVER);
    assert_string_equal(span_store_system_name(s, r->system), "kafka");
    assert_string_equal(span_store_domain_name(s, r->domain), "01fe");
    span_store_destroy(s);
    free(sp.p);
    free(ss.p);
    free(rs.p);
    free(req.p);
    free(kv.p);
    free(any.p);
    free(res.p);
}

/* Files written by the protobuf-c writer, read end to end. */
static void test_writer_file(void **state)
{
    static const struct span_kv at[] = {{"messaging.system", "kafka"},
                                        {"rpc.system", "grpc"}};
    static const struct span_link_desc ln = {{9, 9, 9}, 77};
    struct span_desc d[50];
    char *path = testlib_write_temp("", 0);
    FILE *f = fopen(path, "wb");
    struct trace_writer *w = trace_writer_otlp_proto_ops.create(f, 0);
    static const char *hosts[] = {"node-a", "node-b", NULL};

    (void)state;
    for (int b = 0; b < 3; b++) {
        memset(d, 0, sizeof(d));
        for (int i = 0; i < 50; i++) {
            d[i].trace_id[0] = (uint8_t)(b + 1); /* not all zero */
            d[i].span_id = (uint64_t)(b * 100 + i + 1);
            d[i].parent_span_id = i ? d[i - 1].span_id : 0;
            d[i].name = "op";
            d[i].kind = i % 6;
            d[i].start_ns = T0 + i;
            d[i].end_ns = T0 + 2 * i;
            d[i].host_name = hosts[i % 3];
            d[i].service_name = "svc";
            /* none; rpc.system alone; both */
            d[i].attrs = at + (i % 3 == 1);
            d[i].nattrs = (size_t)(i % 3 == 2 ? 2 : i % 3);
            if (i % 7 == 0) {
                d[i].links = &ln;
                d[i].nlinks = 1;
            }
        }
        assert_int_equal(trace_writer_otlp_proto_ops.write_batch(w, d, 50), 0);
    }
    assert_int_equal(trace_writer_otlp_proto_ops.finish(w), 0);
    fclose(f);

    /* Reference: each framed message through protobuf-c. */
    struct span_store *got = span_store_create(), *want = span_store_create();
    char err[256];
    struct source *src = source_open(path, err, sizeof(err));
    struct otlp_proto_stream *st = otlp_proto_stream_open(src);
    const uint8_t *p;
    size_t n;
    uint64_t off;
    while (otlp_proto_stream_next_raw(st, &p, &n, &off, err, sizeof(err)) > 0)
        assert_int_equal(ref_read(want, p, n, NULL), 0);
    otlp_proto_stream_close(st);
    source_close(src);
    assert_int_equal(
        ingest_file(got, path,
                    &(struct ingest_opts){.format = TRACE_FORMAT_OTLP_PROTO},
                    err, sizeof(err)),
        0);
    assert_int_equal(span_store_count(got), 150);
    assert_same_stores(got, want);
    span_store_destroy(got);
    span_store_destroy(want);
    unlink(path);
    free(path);
}

/* ---- malformed input -------------------------------------------------- */

/* Scanning fails with "byte N: expected" and the given words. */
static void expect_error(const uint8_t *p, size_t n, uint64_t off,
                         uint64_t byte, const char *words)
{
    struct span_store *s = span_store_create();
    char err[512] = "", want[64];
    int rc = scan(s, p, n, off, NULL, err, sizeof(err));

    if (rc != -INGEST_E_MALFORMED)
        fail_msg("rc %d for %zu bytes: %s", rc, n, err);
    snprintf(want, sizeof(want), "in.pb: byte %" PRIu64 ": expected ", byte);
    if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, words))
        fail_msg("got \"%s\", want \"%s...%s\"", err, want, words);
    span_store_destroy(s);
}

/* Every cut of a one-resource_spans message is an error, never a crash. */
static void test_truncations(void **state)
{
    struct buf b = {0}, one = {0};
    const uint8_t *p;
    uint64_t len;
    int k;

    (void)state;
    build_request(&b);
    /* Keep the first resource_spans field only. */
    p = b.p + 1;
    for (k = 0, len = 0; p[k] & 0x80; k++)
        len |= (uint64_t)(p[k] & 0x7f) << (7 * k);
    len |= (uint64_t)p[k] << (7 * k);
    buf_put(&one, b.p, 1 + (size_t)k + 1 + (size_t)len);
    expect_same(one.p, one.len, NULL, 4);
    for (size_t cut = 1; cut < one.len; cut++) {
        struct span_store *s = span_store_create();
        char err[512] = "";
        int rc = scan(s, one.p, cut, 1000, NULL, err, sizeof(err));
        if (rc != -INGEST_E_MALFORMED || !strstr(err, ": expected "))
            fail_msg("cut at %zu: rc %d: %s", cut, rc, err);
        uint64_t at = strtoull(err + strlen("in.pb: byte "), NULL, 10);
        assert_true(at >= 1000 && at <= 1000 + cut);
        span_store_destroy(s);
    }
    /* The outermost length is checked first: byte 1 of the message. */
    expect_error(one.p, one.len - 1, 1000, 1001, "length of at most");
    free(b.p);
    free(one.p);
}

/* One span of the given fields in a request: Request(0a L) RS(12 L) SS(12 L)
 * and the span's fields start at byte 6 when all lengths fit one byte. */
static void one_span(struct buf *out, const struct buf *sp)
{
    struct buf ss = {0}, rs = {0};

    assert_true(sp->len < 120);
    buf_field(&ss, 2, sp->p, sp->len);
    buf_field(&rs, 2, ss.p, ss.len);
    buf_field(out, 1, rs.p, rs.len);
    free(ss.p);
    free(rs.p);
}

static void test_bad_ids(void **state)
{
    struct buf sp = {0}, m = {0};

    (void)state;
    buf_field(&sp, 1, ids[0], 5);
    buf_field(&sp, 2, ids[1], 8);
    one_span(&m, &sp);
    expect_error(m.p, m.len, 40, 46, "16-byte trace_id, got 5");
    sp.len = m.len = 0;
    buf_field(&sp, 1, ids[0], 16);
    buf_field(&sp, 2, ids[1], 8);
    buf_field(&sp, 4, ids[1], 4);
    one_span(&m, &sp);
    expect_error(m.p, m.len, 0, 6 + 18 + 10, "parent_span_id, got 4");
    sp.len = m.len = 0;
    buf_field(&sp, 1, ids[0], 16);
    buf_field(&sp, 2, ids[1], 0); /* an empty span_id, not malformed */
    one_span(&m, &sp);
    expect_same(m.p, m.len, NULL, 0);
    /* A link with a short span_id, after the span's own IDs. */
    struct buf ln = {0};
    buf_field(&ln, 1, ids[0], 16);
    buf_field(&ln, 2, ids[1], 7);
    sp.len = m.len = 0;
    buf_field(&sp, 1, ids[0], 16);
    buf_field(&sp, 2, ids[1], 8);
    buf_field(&sp, 13, ln.p, ln.len);
    one_span(&m, &sp);
    expect_error(m.p, m.len, 0, 6 + 18 + 10, "got 16 and 7 bytes");
    free(ln.p);
    free(sp.p);
    free(m.p);
}

static void test_bad_wire(void **state)
{
    struct buf sp = {0}, m = {0};

    (void)state;
    buf_field(&sp, 1, ids[0], 16);
    buf_field(&sp, 6, "x", 1); /* kind as bytes */
    one_span(&m, &sp);
    expect_error(m.p, m.len, 0, 6 + 18, "wire type 0 for field 6 of Span");
    sp.len = m.len = 0;
    buf_field(&sp, 1, ids[0], 16);
    buf_put(&sp, "\x9b\x01", 2); /* field 19, start group */
    one_span(&m, &sp);
    expect_error(m.p, m.len, 0, 6 + 18, "groups are not supported");
    sp.len = m.len = 0;
    buf_put(&sp, "\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
    one_span(&m, &sp);
    expect_error(m.p, m.len, 0, 7, "varint of at most 10 bytes");
    sp.len = m.len = 0;
    buf_put(&sp, "\x39\x01\x02", 3); /* start time cut short */
    one_span(&m, &sp);
    expect_error(m.p, m.len, 0, 7, "8 bytes of a fixed-size value");
    free(sp.p);
    free(m.p);
}

/* AnyValue arrays nested deeper than the old path allowed, in a span
 * attribute the scanner otherwise skips. */
static void test_deep_nesting(void **state)
{
    struct buf v = {0}, t = {0}, sp = {0}, m = {0}, ss = {0}, rs = {0};

    (void)state;
    for (int i = 0; i < 200; i++) {
        t.len = 0;
        buf_field(&t, 1, v.p, v.len); /* ArrayValue.values */
        v.len = 0;
        buf_field(&v, 5, t.p, t.len); /* AnyValue.array_value */
    }
    t.len = 0;
    buf_field(&t, 1, "k", 1);
    buf_field(&t, 2, v.p, v.len);
    buf_field(&sp, 1, ids[0], 16);
    buf_field(&sp, 2, ids[1], 8);
    buf_field(&sp, 9, t.p, t.len);
    buf_field(&ss, 2, sp.p, sp.len);
    buf_field(&rs, 2, ss.p, ss.len);
    buf_field(&m, 1, rs.p, rs.len);
    struct span_store *s = span_store_create();
    char err[512];
    assert_int_equal(ref_read(s, m.p, m.len, NULL), 1);
    assert_int_equal(scan(s, m.p, m.len, 0, NULL, err, sizeof(err)),
                     -INGEST_E_MALFORMED);
    assert_non_null(strstr(err, "nested at most 64 deep"));
    span_store_destroy(s);
    free(v.p);
    free(t.p);
    free(sp.p);
    free(ss.p);
    free(rs.p);
    free(m.p);
}

/* Through the ingest: offsets count the file, not the message. */
static void test_file_offsets(void **state)
{
    struct buf sp = {0}, m = {0}, file = {0};
    struct span_store *s = span_store_create();
    char err[512], want[64];

    (void)state;
    buf_field(&sp, 1, ids[0], 16);
    buf_field(&sp, 2, ids[1], 8);
    one_span(&m, &sp);
    buf_varint(&file, m.len);
    buf_put(&file, m.p, m.len);
    size_t second = file.len;
    sp.len = m.len = 0;
    buf_field(&sp, 1, ids[0], 16);
    buf_field(&sp, 2, ids[1], 3);
    one_span(&m, &sp);
    buf_varint(&file, m.len);
    buf_put(&file, m.p, m.len);
    char *path = testlib_write_temp(file.p, file.len);
    assert_int_equal(
        ingest_file(s, path,
                    &(struct ingest_opts){.format = TRACE_FORMAT_OTLP_PROTO},
                    err, sizeof(err)),
        -INGEST_E_MALFORMED);
    snprintf(want, sizeof(want), ": byte %zu: expected an 8-byte span_id",
             second + 1 + 6 + 18);
    if (!strstr(err, want))
        fail_msg("%s", err);
    assert_int_equal(span_store_count(s), 1);
    span_store_destroy(s);
    unlink(path);
    free(path);
    free(sp.p);
    free(m.p);
    free(file.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_protobuf_c),
        cmocka_unit_test(test_field_order),
        cmocka_unit_test(test_repeated_and_nul),
        cmocka_unit_test(test_writer_file),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_bad_wire),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_file_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
