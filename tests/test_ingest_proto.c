/* Tests of the OTLP protobuf reader, writer and corrector: writer -> reader
 * round trips, plain and gzip'd files, malformed input, and `correct` into
 * both output formats. */
#include "testlib.h"

#include <inttypes.h>
#include <jansson.h>
#include <zlib.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/source.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/correct.h"
#include "output/trace_writer.h"

#define T0 INT64_C(1790000000000000000)

static const struct span_kv attrs_a[] = {
    {"rpc.system", "grpc"}, {"messaging.system", "kafka"}, {"x", "y"}};
static const struct span_kv attrs_b[] = {{"rpc.system", "grpc"}};
static const struct span_link_desc link1 = {{1, 2, 3}, 0x1122334455667788ULL};
static const struct span_event_desc events1[] = {{"ev0", T0 + 150},
                                                 {"ev1", T0 + 160}};

/* Three spans over two hosts: a producer root, a consumer child with a
 * link, and a client with events. */
static void make_spans(struct span_desc d[3])
{
    memset(d, 0, 3 * sizeof(*d));
    for (int i = 0; i < 3; i++) {
        d[i].trace_id[0] = 0xab;
        d[i].trace_id[15] = 0xcd;
        d[i].span_id = 0x0102030405060708ULL + (uint64_t)i;
        d[i].service_name = "svc";
        d[i].name = "op";
    }
    d[0].kind = SPAN_KIND_PRODUCER;
    d[0].start_ns = T0;
    d[0].end_ns = T0 + 100;
    d[0].host_name = "node-a";
    d[0].attrs = attrs_a;
    d[0].nattrs = 3;
    d[1].kind = SPAN_KIND_CONSUMER;
    d[1].parent_span_id = d[0].span_id;
    d[1].start_ns = T0 + 50;
    d[1].end_ns = T0 + 300;
    d[1].host_name = "node-b";
    d[1].attrs = attrs_b;
    d[1].nattrs = 1;
    d[1].links = &link1;
    d[1].nlinks = 1;
    d[2].kind = SPAN_KIND_CLIENT;
    d[2].parent_span_id = d[1].span_id;
    d[2].start_ns = T0 + 120;
    d[2].end_ns = T0 + 200;
    d[2].host_name = "node-b";
    d[2].events = events1;
    d[2].nevents = 2;
}

/* Write `batches` copies of the three spans (span IDs shifted per batch)
 * into a temp file; returns its path. */
static char *write_proto_file(int batches)
{
    char *path = testlib_write_temp("", 0);
    FILE *f = fopen(path, "wb");
    struct trace_writer *w;
    struct span_desc d[3];

    assert_non_null(f);
    w = trace_writer_otlp_proto_ops.create(f, 0);
    assert_non_null(w);
    for (int b = 0; b < batches; b++) {
        make_spans(d);
        for (int i = 0; i < 3; i++)
            d[i].span_id += (uint64_t)b << 32;
        d[1].parent_span_id = d[0].span_id;
        d[2].parent_span_id = d[1].span_id;
        assert_int_equal(trace_writer_otlp_proto_ops.write_batch(w, d, 3), 0);
    }
    assert_int_equal(trace_writer_otlp_proto_ops.finish(w), 0);
    fclose(f);
    return path;
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static int read_path(const char *path, struct span_store *s, const char *attr,
                     char *err, size_t errlen)
{
    struct ingest_opts opts = {.format = TRACE_FORMAT_OTLP_PROTO,
                               .clock_domain_attr = attr};
    struct source *src = source_open(path, err, errlen);
    int rc;

    assert_non_null(src);
    rc = ingest_otlp_proto_ops.read(src, s, &opts, err, errlen);
    source_close(src);
    return rc;
}

static void check_three(struct span_store *s, size_t base)
{
    struct span_rec *r0 = span_store_at(s, base),
                    *r1 = span_store_at(s, base + 1),
                    *r2 = span_store_at(s, base + 2);
    const struct span_link *l;

    assert_int_equal(r0->trace_id[0], 0xab);
    assert_int_equal(r0->trace_id[15], 0xcd);
    assert_true(r0->span_id == 0x0102030405060708ULL + (base / 3 << 32));
    assert_int_equal(r0->flags & SPAN_F_HAS_PARENT, 0);
    assert_int_equal(r1->flags & SPAN_F_HAS_PARENT, SPAN_F_HAS_PARENT);
    assert_true(r1->parent_id == r0->span_id);
    assert_true(r2->parent_id == r1->span_id);
    assert_int_equal(r0->kind, SPAN_KIND_PRODUCER);
    assert_int_equal(r1->kind, SPAN_KIND_CONSUMER);
    assert_int_equal(r2->kind, SPAN_KIND_CLIENT);
    assert_true(r0->start_ns == T0 && r0->end_ns == T0 + 100);
    assert_true(r1->start_ns == T0 + 50 && r1->end_ns == T0 + 300);
    assert_string_equal(span_store_domain_name(s, r0->domain), "node-a");
    assert_string_equal(span_store_domain_name(s, r1->domain), "node-b");
    assert_int_equal(r1->domain, r2->domain);
    assert_string_equal(span_store_system_name(s, r0->system), "kafka");
    assert_string_equal(span_store_system_name(s, r1->system), "grpc");
    assert_int_equal(r2->system, 0);
    assert_int_equal(r0->link, SPAN_NO_LINK);
    assert_true(r1->link != SPAN_NO_LINK);
    l = span_store_link(s, r1->link);
    assert_true(l->span_id == link1.span_id);
    assert_memory_equal(l->trace_id, link1.trace_id, 16);
    assert_int_equal(l->next, SPAN_NO_LINK);
}

static void test_round_trip(void **state)
{
    char *path = write_proto_file(2);
    struct span_store *s = span_store_create();
    char err[256] = "";

    (void)state;
    assert_int_equal(read_path(path, s, NULL, err, sizeof(err)), 0);
    assert_int_equal(span_store_count(s), 6);
    check_three(s, 0);
    check_three(s, 3);
    span_store_destroy(s);
    unlink(path);
    free(path);
}

static void test_detect_and_sniff(void **state)
{
    char *path = write_proto_file(1);
    struct span_store *s = span_store_create();
    struct ingest_opts opts = {.format = TRACE_FORMAT_AUTO};
    char err[256] = "";

    (void)state;
    assert_true(
        ingest_otlp_proto_ops.sniff((const unsigned char *)"\x0a\x05", 2));
    assert_false(ingest_otlp_proto_ops.sniff((const unsigned char *)"{\"a", 3));
    assert_false(ingest_otlp_proto_ops.sniff((const unsigned char *)" [", 2));
    assert_false(ingest_otlp_proto_ops.sniff((const unsigned char *)"\n\n", 2));
    assert_true(
        ingest_otlp_proto_ops.sniff((const unsigned char *)"\n{\n\x12", 4));
    assert_int_equal(ingest_file(s, path, &opts, err, sizeof(err)), 0);
    assert_int_equal(span_store_count(s), 3);
    span_store_destroy(s);
    unlink(path);
    free(path);
}

static void test_user_domain_attr(void **state)
{
    char *path = write_proto_file(1);
    struct span_store *s = span_store_create();
    char err[256] = "";

    (void)state;
    /* service.name ranks after host.name, but a user attribute comes first. */
    assert_int_equal(read_path(path, s, "service.name", err, sizeof(err)), 0);
    assert_string_equal(span_store_domain_name(s, span_store_at(s, 0)->domain),
                        "svc");
    span_store_destroy(s);
    unlink(path);
    free(path);
}

static void test_plain_message(void **state)
{
    char *path = write_proto_file(1), *plain;
    struct span_store *s = span_store_create();
    size_t len;
    uint8_t *buf = slurp(path, &len);
    uint64_t n = 0;
    size_t k = 0;
    char err[256] = "";

    (void)state;
    do
        n |= (uint64_t)(buf[k] & 0x7f) << (7 * k);
    while (buf[k++] & 0x80);
    assert_int_equal(n, len - k);
    plain = testlib_write_temp(buf + k, len - k);
    assert_int_equal(read_path(plain, s, NULL, err, sizeof(err)), 0);
    assert_int_equal(span_store_count(s), 3);
    check_three(s, 0);
    span_store_destroy(s);
    unlink(path);
    unlink(plain);
    free(path);
    free(plain);
    free(buf);
}

static void test_empty_file(void **state)
{
    char *path = testlib_write_temp("", 0);
    struct span_store *s = span_store_create();
    char err[256] = "";

    (void)state;
    assert_int_equal(read_path(path, s, NULL, err, sizeof(err)), 0);
    assert_int_equal(span_store_count(s), 0);
    span_store_destroy(s);
    unlink(path);
    free(path);
}

/* Expect -INGEST_E_MALFORMED with the path and "byte N" in the message. */
static void expect_malformed(const void *data, size_t len, const char *byte)
{
    char *path = testlib_write_temp(data, len);
    struct span_store *s = span_store_create();
    char err[512] = "";

    assert_int_equal(read_path(path, s, NULL, err, sizeof(err)),
                     -INGEST_E_MALFORMED);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, byte));
    span_store_destroy(s);
    unlink(path);
    free(path);
}

static void test_truncated(void **state)
{
    char *path = write_proto_file(2);
    size_t len;
    uint8_t *buf = slurp(path, &len);
    char byte[32];

    (void)state;
    /* Cut into the second message: the first one reads, the second is
     * reported where it starts. */
    snprintf(byte, sizeof(byte), "byte %zu:", len / 2);
    expect_malformed(buf, len - 5, byte);
    expect_malformed(buf, len / 2 - 7, "byte 0:");
    unlink(path);
    free(path);
    free(buf);
}

static void test_garbage(void **state)
{
    static const char junk[] = "\x05\xff\xff\xff\xff\xffgarbage and more";
    static const char bad_varint[] =
        "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";

    (void)state;
    expect_malformed(junk, sizeof(junk) - 1, "byte 0:");
    expect_malformed(bad_varint, sizeof(bad_varint) - 1, "byte 0:");
}

/* A length-delimited message built by hand with a span whose trace ID has
 * the wrong length. */
static void test_bad_id_length(void **state)
{
    Opentelemetry__Proto__Trace__V1__Span sp =
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    Opentelemetry__Proto__Trace__V1__Span *spp = &sp;
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    uint8_t id[16] = {1}, buf[256];
    size_t n, k;

    (void)state;
    sp.trace_id.data = id;
    sp.trace_id.len = 5;
    sp.span_id.data = id;
    sp.span_id.len = 8;
    ss.spans = &spp;
    ss.n_spans = 1;
    rs.scope_spans = &ssp;
    rs.n_scope_spans = 1;
    req.resource_spans = &rsp;
    req.n_resource_spans = 1;
    n = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
        &req);
    assert_true(n < 200);
    k = otlp_proto_put_varint(buf, n);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        &req, buf + k);
    expect_malformed(buf, k + n, "byte 0:");
}

/* AnyValue arrays nested far deeper than protobuf-c should recurse. */
static void test_deep_nesting(void **state)
{
    size_t cap = 1 << 20, len = 0;
    uint8_t *b = malloc(cap), *t = malloc(cap);
    uint8_t pre[12];

    (void)state;
    /* wrap(tag): b = tag varint(len) b */
#define WRAP(tag)                                                              \
    do {                                                                       \
        size_t pk = 0;                                                         \
        pre[pk++] = (tag);                                                     \
        pk += otlp_proto_put_varint(pre + pk, len);                            \
        memcpy(t, pre, pk);                                                    \
        memcpy(t + pk, b, len);                                                \
        len += pk;                                                             \
        memcpy(b, t, len);                                                     \
    } while (0)
    for (int i = 0; i < 20000; i++) {
        WRAP(0x0a); /* ArrayValue.values */
        WRAP(0x2a); /* AnyValue.array_value */
    }
    WRAP(0x12); /* KeyValue.value */
    WRAP(0x0a); /* Resource.attributes */
    WRAP(0x0a); /* ResourceSpans.resource */
    WRAP(0x0a); /* request.resource_spans */
#undef WRAP
    {
        size_t pk = otlp_proto_put_varint(pre, len);
        memcpy(t, pre, pk);
        memcpy(t + pk, b, len);
        expect_malformed(t, pk + len, "byte 0:");
    }
    free(b);
    free(t);
}

static void test_gzip(void **state)
{
    char *path = write_proto_file(3), *gz;
    size_t len;
    void *buf = slurp(path, &len);
    struct span_store *s = span_store_create();
    char err[256] = "";
    gzFile g;

    (void)state;
    gz = testlib_write_temp("", 0);
    g = gzopen(gz, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, buf, (unsigned)len), (int)len);
    gzclose(g);
    assert_int_equal(read_path(gz, s, NULL, err, sizeof(err)), 0);
    assert_int_equal(span_store_count(s), 9);
    check_three(s, 6);
    span_store_destroy(s);
    unlink(path);
    unlink(gz);
    free(path);
    free(gz);
    free(buf);
}

/* Run correct_otlp_proto_ops over a 1-batch file with node-b 1000 ns ahead
 * (node-a unknown to the model). Returns the output path. */
static char *run_correct(enum trace_format fmt, struct correct_stats *st)
{
    char *in = write_proto_file(1), *outp = testlib_write_temp("", 0);
    struct clock_model *m = clock_model_create();
    struct correct_opts opts = {TRACE_FORMAT_OTLP_PROTO, fmt, NULL};
    char err[256] = "";
    struct source *src = source_open(in, err, sizeof(err));
    FILE *out = fopen(outp, "wb");

    assert_non_null(src);
    assert_non_null(out);
    assert_true(clock_model_set(m, "node-b", 1000, 0.0, T0) >= 0);
    assert_true(clock_model_set(m, "node-z", 5, 0.0, T0) >= 0);
    assert_int_equal(
        correct_otlp_proto_ops.run(src, &opts, m, out, st, err, sizeof(err)),
        0);
    fclose(out);
    source_close(src);
    clock_model_destroy(m);
    unlink(in);
    free(in);
    return outp;
}

static int64_t int_attr(Opentelemetry__Proto__Common__V1__KeyValue **kv,
                        size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0)
            return kv[i]->value->int_value;
    fail_msg("attribute %s missing", key);
    return 0;
}

static void test_correct_proto(void **state)
{
    struct correct_stats st;
    char *outp = run_correct(TRACE_FORMAT_OTLP_PROTO, &st);
    struct span_store *s = span_store_create();
    char err[256] = "";
    struct source *src;
    struct otlp_proto_stream *ps;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *msg;

    (void)state;
    assert_int_equal(st.spans, 3);
    assert_int_equal(st.adjusted, 2);
    assert_int_equal(read_path(outp, s, NULL, err, sizeof(err)), 0);
    assert_int_equal(span_store_count(s), 3);
    assert_true(span_store_at(s, 0)->start_ns == T0); /* node-a untouched */
    assert_true(span_store_at(s, 1)->start_ns == T0 + 50 - 1000);
    assert_true(span_store_at(s, 1)->end_ns == T0 + 300 - 1000);
    assert_true(span_store_at(s, 2)->start_ns == T0 + 120 - 1000);

    src = source_open(outp, err, sizeof(err));
    ps = otlp_proto_stream_open(src);
    assert_int_equal(otlp_proto_stream_next(ps, &msg, err, sizeof(err)), 1);
    assert_int_equal(msg->n_resource_spans, 2);
    Opentelemetry__Proto__Trace__V1__Span *a =
        msg->resource_spans[0]->scope_spans[0]->spans[0];
    Opentelemetry__Proto__Trace__V1__Span *c =
        msg->resource_spans[1]->scope_spans[0]->spans[1];
    assert_int_equal(a->n_attributes, 3);
    assert_int_equal(
        int_attr(c->attributes, c->n_attributes, CORRECT_ATTR_OFFSET), 1000);
    assert_true(int_attr(c->attributes, c->n_attributes,
                         CORRECT_ATTR_ORIG_START) == T0 + 120);
    assert_true(int_attr(c->attributes, c->n_attributes,
                         CORRECT_ATTR_ORIG_END) == T0 + 200);
    assert_true(c->events[1]->time_unix_nano == (uint64_t)(T0 + 160 - 1000));
    assert_true(int_attr(c->events[1]->attributes, c->events[1]->n_attributes,
                         CORRECT_ATTR_ORIG_TIME) == T0 + 160);
    assert_int_equal(otlp_proto_stream_next(ps, &msg, err, sizeof(err)), 0);
    otlp_proto_stream_close(ps);
    source_close(src);
    span_store_destroy(s);
    unlink(outp);
    free(outp);
}

static json_t *find_attr(json_t *attrs, const char *key)
{
    size_t i;
    json_t *kv;

    json_array_foreach(attrs, i, kv)
    {
        if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0)
            return json_object_get(kv, "value");
    }
    fail_msg("attribute %s missing", key);
    return NULL;
}

static void test_correct_json(void **state)
{
    struct correct_stats st;
    char *outp = run_correct(TRACE_FORMAT_OTLP_JSON, &st);
    size_t len;
    char *text = slurp(outp, &len);
    json_error_t je;
    json_t *doc, *rs, *span, *ev;
    char exp[32];

    (void)state;
    text[len] = '\0';
    assert_int_equal(st.adjusted, 2);
    assert_non_null(strchr(text, '\n'));
    assert_ptr_equal(strchr(text, '\n'), text + len - 1); /* one line */
    doc = json_loads(text, 0, &je);
    assert_non_null(doc);
    rs = json_object_get(doc, "resourceSpans");
    assert_int_equal(json_array_size(rs), 2);
    span = json_array_get(
        json_object_get(
            json_array_get(json_object_get(json_array_get(rs, 1), "scopeSpans"),
                           0),
            "spans"),
        1);
    assert_string_equal(json_string_value(json_object_get(span, "traceId")),
                        "ab0000000000000000000000000000cd");
    assert_string_equal(json_string_value(json_object_get(span, "spanId")),
                        "010203040506070a");
    assert_string_equal(
        json_string_value(json_object_get(span, "parentSpanId")),
        "0102030405060709");
    assert_int_equal(json_integer_value(json_object_get(span, "kind")), 3);
    snprintf(exp, sizeof(exp), "%" PRId64, T0 + 120 - 1000);
    assert_string_equal(
        json_string_value(json_object_get(span, "startTimeUnixNano")), exp);
    assert_string_equal(
        json_string_value(json_object_get(
            find_attr(json_object_get(span, "attributes"), CORRECT_ATTR_OFFSET),
            "intValue")),
        "1000");
    ev = json_array_get(json_object_get(span, "events"), 0);
    snprintf(exp, sizeof(exp), "%" PRId64, T0 + 150);
    assert_string_equal(json_string_value(json_object_get(
                            find_attr(json_object_get(ev, "attributes"),
                                      CORRECT_ATTR_ORIG_TIME),
                            "intValue")),
                        exp);
    span = json_array_get(
        json_object_get(
            json_array_get(json_object_get(json_array_get(rs, 0), "scopeSpans"),
                           0),
            "spans"),
        0);
    assert_string_equal(
        json_string_value(json_object_get(
            find_attr(json_object_get(span, "attributes"), "messaging.system"),
            "stringValue")),
        "kafka");
    assert_string_equal(
        json_string_value(json_object_get(
            find_attr(json_object_get(
                          json_object_get(json_array_get(rs, 0), "resource"),
                          "attributes"),
                      "host.name"),
            "stringValue")),
        "node-a");
    json_decref(doc);
    unlink(outp);
    free(outp);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_detect_and_sniff),
        cmocka_unit_test(test_user_domain_attr),
        cmocka_unit_test(test_plain_message),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bad_id_length),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_correct_proto),
        cmocka_unit_test(test_correct_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
