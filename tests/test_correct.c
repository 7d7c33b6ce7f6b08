/* Unit tests for output/correct (JSON formats): exact corrected times, the
 * attributes that keep the originals, untouched unknown domains and
 * fields, Jaeger/Zipkin -> OTLP conversion, document-at-a-time reading,
 * and the error paths. */
#define _GNU_SOURCE /* fopencookie */
#include "testlib.h"

#include <jansson.h>
#include <zlib.h>

#include "ingest/ingest.h"
#include "ingest/source.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/correct_json.h"
#include "output/trace_writer.h"
#include "sim/sim.h"
#include "util/units.h"

/* Reference instant of the drifting domain: node-b runs 10 ppm fast from
 * T0 on, so t maps to t - round(1e-5 * (t - T0)). node-a and 10.0.0.1 run
 * 5 ms ahead. node-c is unknown to the model. */
#define T0 INT64_C(1700000000000000000)

static struct clock_model *make_model(void)
{
    struct clock_model *m = clock_model_create();

    assert_non_null(m);
    assert_true(clock_model_set(m, "node-a", 5000000, 0.0, 0) >= 0);
    assert_true(clock_model_set(m, "node-b", 0, 10.0, T0) >= 0);
    assert_true(clock_model_set(m, "10.0.0.1", 5000000, 0.0, 0) >= 0);
    return m;
}

struct run {
    int rc;
    char *out;
    size_t outlen;
    struct correct_stats stats;
    char err[512];
    char *path;
};

/* make_model() with also a domain named "unknown" (5 ms ahead), which a
 * span must not land in just because its process is unknown. */
static bool model_knows_unknown;

static void run_correct(struct run *r, const char *input, enum trace_format in,
                        enum trace_format out, const char *user)
{
    struct clock_model *m = make_model();
    struct correct_opts opts = {
        .in_format = in, .out_format = out, .clock_domain_attr = user};
    FILE *f;

    if (model_knows_unknown)
        assert_true(clock_model_set(m, "unknown", 5000000, 0.0, 0) >= 0);
    memset(r, 0, sizeof(*r));
    r->path = testlib_write_temp_str(input);
    f = open_memstream(&r->out, &r->outlen);
    assert_non_null(f);
    r->rc =
        correct_file(r->path, &opts, m, f, &r->stats, r->err, sizeof(r->err));
    fclose(f);
    clock_model_destroy(m);
}

static void run_free(struct run *r)
{
    if (r->path) /* run_proto() writes no file of its own */
        unlink(r->path);
    free(r->path);
    free(r->out);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static json_t *parse_out(const struct run *r)
{
    json_error_t je;
    json_t *doc = json_loads(r->out, 0, &je);

    if (!doc)
        fail_msg("output does not parse: %s: %s", je.text, r->out);
    return doc;
}

/* ---- helpers over the DOM ---------------------------------------------- */

static json_t *at(json_t *v, const char *path)
{
    /* "a.0.b": object keys and array indices separated by dots. */
    char buf[256], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && v;
         t = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(t, NULL, 10))
                             : json_object_get(v, t);
    assert_non_null(v);
    return v;
}

static const char *str_at(json_t *v, const char *path)
{
    const char *s = json_string_value(at(v, path));

    assert_non_null(s);
    return s;
}

static json_int_t int_at(json_t *v, const char *path)
{
    json_t *n = at(v, path);

    assert_true(json_is_integer(n));
    return json_integer_value(n);
}

/* Value of an OTLP attribute (the AnyValue object), or NULL. */
static json_t *otlp_attr(json_t *attrs, const char *key)
{
    json_t *a;
    size_t i;

    json_array_foreach(attrs, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
            return json_object_get(a, "value");
    }
    return NULL;
}

static const char *otlp_int_attr(json_t *obj, const char *key)
{
    json_t *v = otlp_attr(json_object_get(obj, "attributes"), key);

    assert_non_null(v);
    return json_string_value(json_object_get(v, "intValue"));
}

/* Jaeger tag value by key; asserts type int64 when int64 is true. */
static json_t *jaeger_tag(json_t *tags, const char *key, bool int64)
{
    json_t *t;
    size_t i;

    json_array_foreach(tags, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "key")), key) == 0) {
            if (int64)
                assert_string_equal(
                    json_string_value(json_object_get(t, "type")), "int64");
            return json_object_get(t, "value");
        }
    }
    return NULL;
}

static json_int_t jaeger_int_tag(json_t *obj, const char *field,
                                 const char *key)
{
    json_t *v = jaeger_tag(json_object_get(obj, field), key, true);

    assert_non_null(v);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* ---- OTLP JSON --------------------------------------------------------- */

static const char otlp_doc[] =
    "{\"resourceSpans\":["
    "{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"svc-a\"}},"
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
    "\"schemaUrl\":\"https://x\","
    "\"scopeSpans\":[{\"scope\":{\"name\":\"lib\"},\"spans\":["
    "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
    "\"spanId\":\"0102030405060708\",\"name\":\"a1\",\"kind\":3,"
    "\"startTimeUnixNano\":\"1700000000000001000\","
    "\"endTimeUnixNano\":1700000000000002500,"
    "\"events\":[{\"timeUnixNano\":\"1700000000000001500\",\"name\":\"e1\"}],"
    "\"x-unknown\":{\"k\":[1,2]}}]}]},"
    "{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"node-b\"}}]},"
    "\"scopeSpans\":[{\"spans\":[{\"name\":\"b1\","
    "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
    "\"spanId\":\"0102030405060709\","
    "\"startTimeUnixNano\":\"1700000000123456789\","
    "\"endTimeUnixNano\":\"1700000001000000000\","
    "\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"7\"}}]}]}]},"
    "{\"resource\":{\"attributes\":["
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"node-c\"}}]},"
    "\"scopeSpans\":[{\"spans\":[{\"name\":\"c1\","
    "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
    "\"spanId\":\"010203040506070a\","
    "\"startTimeUnixNano\":1700000000000001000,"
    "\"endTimeUnixNano\":1700000000000002000}]}]}]}\n";

static void test_otlp_json_offset_and_drift(void **state)
{
    struct run r;
    (void)state;

    run_correct(&r, otlp_doc, TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_int_equal(r.stats.spans, 3);
    assert_int_equal(r.stats.adjusted, 2);
    json_t *doc = parse_out(&r);

    /* node-a: 5 ms ahead, times as decimal strings (also the number). */
    json_t *a1 = at(doc, "resourceSpans.0.scopeSpans.0.spans.0");
    assert_string_equal(str_at(a1, "startTimeUnixNano"), "1699999999995001000");
    assert_string_equal(str_at(a1, "endTimeUnixNano"), "1699999999995002500");
    assert_string_equal(otlp_int_attr(a1, CORRECT_ATTR_OFFSET), "5000000");
    assert_string_equal(otlp_int_attr(a1, CORRECT_ATTR_ORIG_START),
                        "1700000000000001000");
    assert_string_equal(otlp_int_attr(a1, CORRECT_ATTR_ORIG_END),
                        "1700000000000002500");
    json_t *e1 = at(a1, "events.0");
    assert_string_equal(str_at(e1, "timeUnixNano"), "1699999999995001500");
    assert_string_equal(otlp_int_attr(e1, CORRECT_ATTR_ORIG_TIME),
                        "1700000000000001500");
    /* Unknown fields survive. */
    assert_int_equal(int_at(a1, "x-unknown.k.1"), 2);
    assert_string_equal(str_at(doc, "resourceSpans.0.schemaUrl"), "https://x");
    assert_string_equal(str_at(a1, "traceId"),
                        "0102030405060708090a0b0c0d0e0f10");

    /* node-b: +10 ppm since T0: 123456789 ns later it is 1234.57 -> 1235
     * ns ahead; 1 s later 10000 ns. Existing attributes are kept. */
    json_t *b1 = at(doc, "resourceSpans.1.scopeSpans.0.spans.0");
    assert_string_equal(str_at(b1, "startTimeUnixNano"), "1700000000123455554");
    assert_string_equal(str_at(b1, "endTimeUnixNano"), "1700000000999990000");
    assert_string_equal(otlp_int_attr(b1, CORRECT_ATTR_OFFSET), "1235");
    assert_string_equal(otlp_int_attr(b1, "k"), "7");

    /* node-c: unknown to the model, untouched (numbers stay numbers). */
    json_t *c1 = at(doc, "resourceSpans.2.scopeSpans.0.spans.0");
    assert_int_equal(int_at(c1, "startTimeUnixNano"), 1700000000000001000);
    assert_int_equal(int_at(c1, "endTimeUnixNano"), 1700000000000002000);
    assert_null(json_object_get(c1, "attributes"));
    json_decref(doc);
    run_free(&r);
}

static void test_otlp_json_user_attr(void **state)
{
    /* --clock-domain k8s.node: ranks before host.name, which names an
     * unknown domain here. */
    const char *in =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
        "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"node-c\"}},"
        "{\"key\":\"k8s.node\",\"value\":{\"stringValue\":\"node-a\"}}]},"
        "\"scopeSpans\":[{\"spans\":[{\"traceId\":\"01\",\"spanId\":\"02\","
        "\"startTimeUnixNano\":\"6000000\",\"endTimeUnixNano\":\"7000000\"}]}]}"
        "]"
        "}";
    struct run r;
    (void)state;

    run_correct(&r, in, TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_OTLP_JSON,
                "k8s.node");
    assert_int_equal(r.rc, 0);
    json_t *doc = parse_out(&r);
    json_t *s = at(doc, "resourceSpans.0.scopeSpans.0.spans.0");
    assert_string_equal(str_at(s, "startTimeUnixNano"), "1000000");
    assert_string_equal(str_at(s, "endTimeUnixNano"), "2000000");
    json_decref(doc);
    run_free(&r);

    /* Without the option the same span is in node-c: unchanged. */
    run_correct(&r, in, TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_OTLP_JSON, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.adjusted, 0);
    run_free(&r);
}

static void test_otlp_json_lines(void **state)
{
    /* One document per line, a blank line, and two documents concatenated
     * on one line: one output line per input document. */
    const char *doc = "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
                      "{\"key\":\"host.name\",\"value\":{\"stringValue\":"
                      "\"node-a\"}}]},\"scopeSpans\":[{\"spans\":[{"
                      "\"traceId\":\"01\",\"spanId\":\"02\","
                      "\"startTimeUnixNano\":\"5000001\","
                      "\"endTimeUnixNano\":\"5000002\"}]}]}]}";
    char in[2048];
    struct run r;
    (void)state;

    snprintf(in, sizeof(in), "%s\n\n%s%s  \n%s\n", doc, doc, doc, doc);
    run_correct(&r, in, TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 4);
    assert_int_equal(r.stats.spans, 4);
    assert_int_equal(r.stats.adjusted, 4);
    char *line = r.out;
    for (int i = 0; i < 4; i++) {
        char *nl = strchr(line, '\n');
        json_error_t je;
        json_t *d = json_loadb(line, (size_t)(nl - line), 0, &je);
        assert_non_null(d);
        assert_string_equal(
            str_at(d, "resourceSpans.0.scopeSpans.0.spans.0.startTimeUnixNano"),
            "1");
        json_decref(d);
        line = nl + 1;
    }
    run_free(&r);
}

static void test_large_document_across_chunks(void **state)
{
    /* Several documents larger than the reader's chunk, to exercise the
     * hand-back of bytes jansson fetched beyond a document. */
    const char *head = "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
                       "{\"key\":\"host.name\",\"value\":{\"stringValue\":"
                       "\"node-a\"}}]},\"scopeSpans\":[{\"spans\":[";
    const char *span = "{\"traceId\":\"01\",\"spanId\":\"02\","
                       "\"startTimeUnixNano\":\"5000002\",\"endTimeUnixNano\":"
                       "\"5000003\",\"name\":\"%05d\"}";
    size_t cap = 3 * 400000, len = 0;
    char *in = malloc(cap);
    struct run r;
    (void)state;

    for (int d = 0; d < 3; d++) {
        len += (size_t)sprintf(in + len, "%s", head);
        for (int i = 0; i < 3000; i++) {
            len += (size_t)sprintf(in + len, "%s", i ? "," : "");
            len += (size_t)sprintf(in + len, span, i);
        }
        len += (size_t)sprintf(in + len, "]}]}]}%s", d == 1 ? " " : "\n");
    }
    run_correct(&r, in, TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 3);
    assert_int_equal(r.stats.spans, 9000);
    assert_int_equal(r.stats.adjusted, 9000);
    free(in);
    run_free(&r);
}

static void test_gzip_input(void **state)
{
    /* The source inflates gzip by its magic bytes, whatever the name. */
    struct clock_model *m = make_model();
    struct correct_opts opts = {0};
    struct correct_stats st;
    char *path = testlib_write_temp_str(""), err[256], *out = NULL;
    size_t outlen = 0;
    gzFile gz = gzopen(path, "wb");
    FILE *f = open_memstream(&out, &outlen);
    (void)state;

    assert_non_null(gz);
    assert_int_equal(gzputs(gz, otlp_doc), (int)strlen(otlp_doc));
    assert_int_equal(gzclose(gz), Z_OK);
    assert_int_equal(correct_file(path, &opts, m, f, &st, err, sizeof(err)), 0);
    fclose(f);
    assert_int_equal(st.adjusted, 2);
    assert_non_null(strstr(out, "\"1699999999995001000\""));
    free(out);
    unlink(path);
    free(path);
    clock_model_destroy(m);
}

static void test_malformed_positions(void **state)
{
    struct run r;
    (void)state;

    /* The error is on line 4 of the file (line 2 of the second document). */
    run_correct(&r,
                "{\"resourceSpans\":[]}\n\n{\"resourceSpans\": [\n"
                "  {\"x\": tru }\n]}\n",
                TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    char want[600];
    snprintf(want, sizeof(want), "%s:4:", r.path);
    assert_non_null(strstr(r.err, want));
    assert_int_equal(count_lines(r.out), 1); /* the first document */
    run_free(&r);

    /* Second document on the same line: the column counts from the line. */
    run_correct(&r, "{\"a\":1} {\"b\":}", TRACE_FORMAT_OTLP_JSON,
                TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    snprintf(want, sizeof(want), "%s:1:14:", r.path);
    assert_non_null(strstr(r.err, want));
    run_free(&r);

    /* Truncated input. */
    run_correct(&r, "[{\"traceId\":\"1\"", TRACE_FORMAT_ZIPKIN,
                TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    assert_non_null(strstr(r.err, r.path));
    run_free(&r);

    /* A time that is not an integer, in a known domain. */
    run_correct(&r,
                "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
                "\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
                "\"scopeSpans\":[{\"spans\":[{\"traceId\":\"01\",\"spanId\":"
                "\"02\",\"startTimeUnixNano\":\"12x\",\"endTimeUnixNano\":1}]}"
                "]}]}",
                TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    assert_non_null(strstr(r.err, "startTimeUnixNano"));
    run_free(&r);
}

static void test_errors(void **state)
{
    struct clock_model *m = make_model();
    struct correct_opts opts = {.in_format = TRACE_FORMAT_JAEGER,
                                .out_format = TRACE_FORMAT_ZIPKIN};
    char err[256];
    struct run r;
    (void)state;

    /* Neither OTLP JSON nor the input's own format: a usage error. */
    assert_int_equal(
        correct_file("/nonexistent", &opts, m, stdout, NULL, err, sizeof(err)),
        CORRECT_E_FORMAT);
    run_correct(&r, otlp_doc, TRACE_FORMAT_AUTO, TRACE_FORMAT_JAEGER, NULL);
    assert_int_equal(r.rc, CORRECT_E_FORMAT);
    assert_int_equal(r.outlen, 0);
    run_free(&r);

    opts.out_format = TRACE_FORMAT_AUTO;
    assert_int_equal(correct_file("/nonexistent/x.json", &opts, m, stdout, NULL,
                                  err, sizeof(err)),
                     -INGEST_E_NOINPUT);
    clock_model_destroy(m);

    /* Blank input: no spans, one empty document (see
     * test_zero_spans_write_a_document). */
    run_correct(&r, " \n", TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "{\"resourceSpans\":[]}\n");
    run_free(&r);
}

static void test_floor_us(void **state)
{
    (void)state;
    assert_int_equal(units_floor_us(1999), 1);
    assert_int_equal(units_floor_us(2000), 2);
    assert_int_equal(units_floor_us(-1), -1);
    assert_int_equal(units_floor_us(-1000), -1);
    assert_int_equal(units_floor_us(-1001), -2);
}

/* ---- Jaeger ------------------------------------------------------------ */

static const char jaeger_doc[] =
    "{\"data\":[{\"traceID\":\"00000000000000aa\",\"spans\":["
    "{\"traceID\":\"00000000000000aa\",\"spanID\":\"0000000000000001\","
    "\"operationName\":\"root\",\"references\":[],"
    "\"startTime\":1700000000000001,\"duration\":1500,"
    "\"tags\":[{\"key\":\"span.kind\",\"type\":\"string\",\"value\":"
    "\"client\"}],"
    "\"logs\":[{\"timestamp\":1700000000000002,\"fields\":[{\"key\":\"event\","
    "\"type\":\"string\",\"value\":\"sent\"}]}],"
    "\"processID\":\"p1\",\"warnings\":null,\"x-extra\":true},"
    "{\"traceID\":\"00000000000000aa\",\"spanID\":\"0000000000000002\","
    "\"operationName\":\"child\",\"references\":["
    "{\"refType\":\"CHILD_OF\",\"traceID\":\"00000000000000aa\","
    "\"spanID\":\"0000000000000001\"},"
    "{\"refType\":\"FOLLOWS_FROM\",\"traceID\":\"00000000000000aa\","
    "\"spanID\":\"0000000000000003\"}],"
    "\"startTime\":1700000000123457,\"duration\":876543,"
    "\"tags\":[{\"key\":\"span.kind\",\"type\":\"string\",\"value\":"
    "\"server\"},{\"key\":\"n\",\"type\":\"int64\",\"value\":42},"
    "{\"key\":\"ok\",\"type\":\"bool\",\"value\":true}],"
    "\"logs\":[],\"processID\":\"p2\"},"
    "{\"traceID\":\"00000000000000aa\",\"spanID\":\"0000000000000003\","
    "\"operationName\":\"other\",\"references\":[],"
    "\"startTime\":1700000000000001,\"duration\":10,\"tags\":[],"
    "\"processID\":\"p3\"},"
    "{\"traceID\":\"00000000000000aa\",\"spanID\":\"0000000000000004\","
    "\"operationName\":\"emb\",\"startTime\":1700000000000001,"
    "\"duration\":10,\"process\":{\"serviceName\":\"x\",\"tags\":["
    "{\"key\":\"hostname\",\"type\":\"string\",\"value\":\"node-a\"}]}}],"
    "\"processes\":{"
    "\"p1\":{\"serviceName\":\"svc-a\",\"tags\":["
    "{\"key\":\"hostname\",\"type\":\"string\",\"value\":\"node-a\"},"
    "{\"key\":\"ip\",\"type\":\"string\",\"value\":\"10.9.9.9\"}]},"
    "\"p2\":{\"serviceName\":\"node-b\",\"tags\":[]},"
    "\"p3\":{\"serviceName\":\"node-c\",\"tags\":[]}},\"warnings\":null}],"
    "\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n";

static void test_jaeger(void **state)
{
    struct run r;
    (void)state;

    run_correct(&r, jaeger_doc, TRACE_FORMAT_JAEGER, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_int_equal(r.stats.spans, 4);
    assert_int_equal(r.stats.adjusted, 3);
    json_t *doc = parse_out(&r);
    json_t *s1 = at(doc, "data.0.spans.0");

    /* node-a (hostname tag): 5000 us earlier, duration kept. */
    assert_int_equal(int_at(s1, "startTime"), 1699999999995001);
    assert_int_equal(int_at(s1, "duration"), 1500);
    assert_int_equal(int_at(s1, "logs.0.timestamp"), 1699999999995002);
    assert_int_equal(jaeger_int_tag(s1, "tags", CORRECT_ATTR_OFFSET), 5000000);
    assert_int_equal(jaeger_int_tag(s1, "tags", CORRECT_ATTR_ORIG_START),
                     1700000000000001000);
    assert_int_equal(jaeger_int_tag(s1, "tags", CORRECT_ATTR_ORIG_END),
                     1700000000001501000);
    assert_int_equal(
        jaeger_int_tag(at(s1, "logs.0"), "fields", CORRECT_ATTR_ORIG_TIME),
        1700000000000002000);
    assert_true(json_is_true(at(s1, "x-extra")));
    assert_true(json_is_null(at(s1, "warnings")));
    assert_int_equal(int_at(doc, "limit"), 0);

    /* node-b (serviceName), 10 ppm: start 1700000000123457000 ns is 1235 ns
     * ahead -> ...123455765 -> floor 1700000000123455 us; end ...1000000000
     * ns is 10000 ns ahead -> 1700000000999990 us; duration the difference. */
    json_t *s2 = at(doc, "data.0.spans.1");
    assert_int_equal(int_at(s2, "startTime"), 1700000000123455);
    assert_int_equal(int_at(s2, "duration"), 876535);
    assert_int_equal(jaeger_int_tag(s2, "tags", CORRECT_ATTR_OFFSET), 1235);
    assert_int_equal(jaeger_int_tag(s2, "tags", CORRECT_ATTR_ORIG_END),
                     1700000001000000000);

    /* node-c: untouched, no tags added. */
    json_t *s3 = at(doc, "data.0.spans.2");
    assert_int_equal(int_at(s3, "startTime"), 1700000000000001);
    assert_int_equal(json_array_size(at(s3, "tags")), 0);

    /* Embedded process with hostname node-a. */
    assert_int_equal(int_at(doc, "data.0.spans.3.startTime"), 1699999999995001);
    json_decref(doc);
    run_free(&r);
}

static json_t *otlp_span_named(json_t *doc, const char *name)
{
    json_t *rs, *ss, *sp;
    size_t i, j, k;

    json_array_foreach(json_object_get(doc, "resourceSpans"), i, rs)
    {
        json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss)
        {
            json_array_foreach(json_object_get(ss, "spans"), k, sp)
            {
                if (strcmp(json_string_value(json_object_get(sp, "name")),
                           name) == 0)
                    return sp;
            }
        }
    }
    fail_msg("no span %s", name);
    return NULL;
}

/* The resource attributes holding span `name`. */
static json_t *otlp_resource_of(json_t *doc, const char *name)
{
    json_t *rs, *ss, *sp;
    size_t i, j, k;

    json_array_foreach(json_object_get(doc, "resourceSpans"), i, rs)
    {
        json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss)
        {
            json_array_foreach(json_object_get(ss, "spans"), k, sp)
            {
                if (strcmp(json_string_value(json_object_get(sp, "name")),
                           name) == 0)
                    return at(rs, "resource.attributes");
            }
        }
    }
    fail_msg("no span %s", name);
    return NULL;
}

static const char *res_str(json_t *attrs, const char *key)
{
    json_t *v = otlp_attr(attrs, key);

    assert_non_null(v);
    return json_string_value(json_object_get(v, "stringValue"));
}

static void test_jaeger_to_otlp(void **state)
{
    struct run r;
    (void)state;

    run_correct(&r, jaeger_doc, TRACE_FORMAT_JAEGER, TRACE_FORMAT_OTLP_JSON,
                NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_int_equal(r.stats.spans, 4);
    assert_int_equal(r.stats.adjusted, 3);
    json_t *doc = parse_out(&r);
    /* p1, p2, p3 and the embedded process. */
    assert_int_equal(json_array_size(at(doc, "resourceSpans")), 4);

    json_t *res = otlp_resource_of(doc, "root");
    assert_string_equal(res_str(res, "service.name"), "svc-a");
    assert_string_equal(res_str(res, "host.name"), "node-a");
    assert_string_equal(res_str(res, "ip"), "10.9.9.9");
    /* ip-less p2 is named by serviceName: host.name carries it. */
    assert_string_equal(res_str(otlp_resource_of(doc, "child"), "host.name"),
                        "node-b");

    json_t *root = otlp_span_named(doc, "root");
    assert_string_equal(str_at(root, "traceId"),
                        "000000000000000000000000000000aa");
    assert_string_equal(str_at(root, "spanId"), "0000000000000001");
    assert_null(json_object_get(root, "parentSpanId"));
    assert_int_equal(int_at(root, "kind"), 3);
    assert_string_equal(str_at(root, "startTimeUnixNano"),
                        "1699999999995001000");
    assert_string_equal(str_at(root, "endTimeUnixNano"), "1699999999996501000");
    assert_string_equal(otlp_int_attr(root, CORRECT_ATTR_OFFSET), "5000000");
    assert_null(otlp_attr(at(root, "attributes"), "span.kind"));
    json_t *ev = at(root, "events.0");
    assert_string_equal(str_at(ev, "name"), "sent");
    assert_string_equal(str_at(ev, "timeUnixNano"), "1699999999995002000");
    assert_string_equal(otlp_int_attr(ev, CORRECT_ATTR_ORIG_TIME),
                        "1700000000000002000");

    /* In ns the drift correction is not floored. */
    json_t *child = otlp_span_named(doc, "child");
    assert_string_equal(str_at(child, "parentSpanId"), "0000000000000001");
    assert_string_equal(str_at(child, "links.0.spanId"), "0000000000000003");
    assert_string_equal(str_at(child, "links.0.traceId"),
                        "000000000000000000000000000000aa");
    assert_int_equal(int_at(child, "kind"), 2);
    assert_string_equal(str_at(child, "startTimeUnixNano"),
                        "1700000000123455765");
    assert_string_equal(str_at(child, "endTimeUnixNano"),
                        "1700000000999990000");
    assert_string_equal(otlp_int_attr(child, "n"), "42");
    assert_true(json_is_true(
        at(otlp_attr(at(child, "attributes"), "ok"), "boolValue")));

    json_t *other = otlp_span_named(doc, "other");
    assert_string_equal(str_at(other, "startTimeUnixNano"),
                        "1700000000000001000");
    assert_null(otlp_attr(at(other, "attributes"), CORRECT_ATTR_OFFSET));
    json_decref(doc);
    run_free(&r);
}

/* ---- Zipkin ------------------------------------------------------------ */

static const char zipkin_doc[] =
    "[{\"traceId\":\"00000000000000bb\",\"id\":\"0000000000000010\","
    "\"kind\":\"CLIENT\",\"name\":\"call\",\"timestamp\":1700000000000001,"
    "\"duration\":2000,\"localEndpoint\":{\"serviceName\":\"gw\","
    "\"ipv4\":\"10.0.0.1\"},\"remoteEndpoint\":{\"serviceName\":\"node-b\","
    "\"port\":8080},\"annotations\":[{\"timestamp\":1700000000000001,"
    "\"value\":\"cs\"},{\"timestamp\":1700000000000003,\"value\":\"cr\"}],"
    "\"tags\":{\"http.path\":\"/x\"},\"debug\":false,\"x-extra\":[1]},"
    "{\"traceId\":\"00000000000000bb\",\"id\":\"0000000000000010\","
    "\"kind\":\"SERVER\",\"shared\":true,\"name\":\"serve\","
    "\"timestamp\":1700000000123457,\"duration\":876543,"
    "\"localEndpoint\":{\"serviceName\":\"node-b\"}},"
    "{\"traceId\":\"00000000000000bb\",\"id\":\"0000000000000011\","
    "\"parentId\":\"0000000000000010\",\"name\":\"work\","
    "\"timestamp\":1700000000200000,\"duration\":100,"
    "\"localEndpoint\":{\"serviceName\":\"node-b\"}},"
    "{\"traceId\":\"00000000000000bb\",\"id\":\"0000000000000012\","
    "\"parentId\":\"0000000000000010\",\"name\":\"other\","
    "\"timestamp\":1700000000000001,\"duration\":5,"
    "\"localEndpoint\":{\"serviceName\":\"node-c\"}}]\n";

static const char *zipkin_tag(json_t *span, const char *key)
{
    const char *v = json_string_value(json_object_get(at(span, "tags"), key));

    assert_non_null(v);
    return v;
}

static void test_zipkin(void **state)
{
    struct run r;
    (void)state;

    run_correct(&r, zipkin_doc, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_ZIPKIN, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_int_equal(r.stats.spans, 4);
    assert_int_equal(r.stats.adjusted, 3);
    json_t *doc = parse_out(&r);

    /* ipv4 10.0.0.1 ranks before serviceName: 5 ms ahead. */
    json_t *s1 = at(doc, "0");
    assert_int_equal(int_at(s1, "timestamp"), 1699999999995001);
    assert_int_equal(int_at(s1, "duration"), 2000);
    assert_int_equal(int_at(s1, "annotations.0.timestamp"), 1699999999995001);
    assert_int_equal(int_at(s1, "annotations.1.timestamp"), 1699999999995003);
    assert_string_equal(zipkin_tag(s1, CORRECT_ATTR_OFFSET), "5000000");
    assert_string_equal(zipkin_tag(s1, CORRECT_ATTR_ORIG_START),
                        "1700000000000001000");
    assert_string_equal(zipkin_tag(s1, CORRECT_ATTR_ORIG_END),
                        "1700000000002001000");
    assert_string_equal(zipkin_tag(s1, CORRECT_ATTR_ORIG_ANNOTATIONS),
                        "1700000000000001000,1700000000000003000");
    assert_string_equal(zipkin_tag(s1, "http.path"), "/x");
    assert_int_equal(int_at(s1, "x-extra.0"), 1);
    assert_true(json_is_false(at(s1, "debug")));

    /* node-b, 10 ppm: as in the Jaeger case. */
    assert_int_equal(int_at(doc, "1.timestamp"), 1700000000123455);
    assert_int_equal(int_at(doc, "1.duration"), 876535);
    /* 200 ms after T0: 2000 ns ahead -> ...199998000 ns; end 200.1 ms:
     * 2001 ns -> ...200097999 ns, floored to ...200097 us: duration 99. */
    assert_int_equal(int_at(doc, "2.timestamp"), 1700000000199998);
    assert_int_equal(int_at(doc, "2.duration"), 99);
    assert_string_equal(zipkin_tag(at(doc, "2"), CORRECT_ATTR_ORIG_END),
                        "1700000000200100000");

    /* node-c: untouched, no tags object created. */
    assert_int_equal(int_at(doc, "3.timestamp"), 1700000000000001);
    assert_null(json_object_get(at(doc, "3"), "tags"));
    json_decref(doc);
    run_free(&r);
}

static void test_zipkin_user_attr_from_tags(void **state)
{
    const char *in = "[{\"traceId\":\"1\",\"id\":\"2\",\"timestamp\":6000,"
                     "\"localEndpoint\":{\"serviceName\":\"node-c\"},"
                     "\"tags\":{\"zone\":\"node-a\"}}]";
    struct run r;
    (void)state;

    run_correct(&r, in, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_AUTO, "zone");
    assert_int_equal(r.rc, 0);
    json_t *doc = parse_out(&r);
    assert_int_equal(int_at(doc, "0.timestamp"), 1000);
    json_decref(doc);
    run_free(&r);

    /* Converted, the resource carries zone so the OTLP rule agrees. */
    run_correct(&r, in, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_OTLP_JSON, "zone");
    assert_int_equal(r.rc, 0);
    doc = parse_out(&r);
    assert_string_equal(
        res_str(at(doc, "resourceSpans.0.resource.attributes"), "zone"),
        "node-a");
    assert_string_equal(
        str_at(doc, "resourceSpans.0.scopeSpans.0.spans.0.startTimeUnixNano"),
        "1000000");
    json_decref(doc);
    run_free(&r);
}

static void test_zipkin_to_otlp(void **state)
{
    struct run r;
    (void)state;

    run_correct(&r, zipkin_doc, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_OTLP_JSON,
                NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.spans, 4);
    assert_int_equal(r.stats.adjusted, 3);
    json_t *doc = parse_out(&r);

    json_t *res = otlp_resource_of(doc, "call");
    assert_string_equal(res_str(res, "service.name"), "gw");
    assert_string_equal(res_str(res, "net.host.ip"), "10.0.0.1");
    assert_string_equal(res_str(res, "host.name"), "10.0.0.1");
    json_t *call = otlp_span_named(doc, "call");
    assert_string_equal(str_at(call, "traceId"),
                        "000000000000000000000000000000bb");
    assert_string_equal(str_at(call, "spanId"), "0000000000000010");
    assert_int_equal(int_at(call, "kind"), 3);
    assert_string_equal(str_at(call, "startTimeUnixNano"),
                        "1699999999995001000");
    assert_string_equal(str_at(call, "endTimeUnixNano"), "1699999999997001000");
    assert_string_equal(str_at(call, "events.1.name"), "cr");
    assert_string_equal(str_at(call, "events.1.timeUnixNano"),
                        "1699999999995003000");
    assert_string_equal(
        otlp_int_attr(at(call, "events.1"), CORRECT_ATTR_ORIG_TIME),
        "1700000000000003000");
    assert_string_equal(res_str(at(call, "attributes"), "http.path"), "/x");
    assert_string_equal(res_str(at(call, "attributes"), "peer.service"),
                        "node-b");
    assert_string_equal(otlp_int_attr(call, "net.peer.port"), "8080");

    /* The shared server half: own ID (top bit flipped), client as parent. */
    json_t *serve = otlp_span_named(doc, "serve");
    assert_string_equal(str_at(serve, "spanId"), "8000000000000010");
    assert_string_equal(str_at(serve, "parentSpanId"), "0000000000000010");
    assert_int_equal(int_at(serve, "kind"), 2);
    assert_string_equal(str_at(serve, "startTimeUnixNano"),
                        "1700000000123455765");
    /* Its child on the same host hangs off the server half; the child
     * elsewhere stays under the client. */
    json_t *work = otlp_span_named(doc, "work");
    assert_string_equal(str_at(work, "parentSpanId"), "8000000000000010");
    assert_int_equal(int_at(work, "kind"), 1);
    json_t *other = otlp_span_named(doc, "other");
    assert_string_equal(str_at(other, "parentSpanId"), "0000000000000010");
    assert_string_equal(str_at(other, "startTimeUnixNano"),
                        "1700000000000001000");
    json_decref(doc);
    run_free(&r);
}

/* Read `data` with skewscope's reader for `fmt` and check each span's clock
 * domain: want holds (span ID in hex, "s" appended for a Zipkin shared
 * server half; domain) pairs. */
static void assert_domains(const char *data, size_t len, enum trace_format fmt,
                           const char *const *want, size_t n)
{
    struct span_store *st = span_store_create();
    struct ingest_opts o = {.format = fmt};
    char *path = testlib_write_temp(data, len), err[256];

    if (ingest_file(st, path, &o, err, sizeof(err)) != 0)
        fail_msg("reading back: %s", err);
    assert_int_equal(span_store_count(st), n);
    for (size_t i = 0; i < n; i++) {
        const struct span_rec *rec = span_store_at(st, i);
        char key[32];
        snprintf(key, sizeof(key), "%016llx%s",
                 (unsigned long long)rec->span_id,
                 rec->flags & SPAN_F_SHARED ? "s" : "");
        size_t j = 0;
        while (j < n && strcmp(want[2 * j], key) != 0)
            j++;
        assert_true(j < n);
        assert_string_equal(span_store_domain_name(st, rec->domain),
                            want[2 * j + 1]);
    }
    span_store_destroy(st);
    unlink(path);
    free(path);
}

/* The rewriters name the same domains as the readers do, and converted
 * output read back by the OTLP reader lands every span in the domain the
 * original format's rule named. */
static void test_domains_agree_with_readers(void **state)
{
    static const char *const jaeger_want[] = {
        "0000000000000001", "node-a", "0000000000000002", "node-b",
        "0000000000000003", "node-c", "0000000000000004", "node-a"};
    static const char *const zipkin_want[] = {
        "0000000000000010", "10.0.0.1", "0000000000000010s", "node-b",
        "0000000000000011", "node-b",   "0000000000000012",  "node-c"};
    static const char *const zipkin_otlp_want[] = {
        "0000000000000010", "10.0.0.1", "8000000000000010", "node-b",
        "0000000000000011", "node-b",   "0000000000000012", "node-c"};
    struct run r;
    (void)state;

    assert_domains(jaeger_doc, strlen(jaeger_doc), TRACE_FORMAT_JAEGER,
                   jaeger_want, 4);
    assert_domains(zipkin_doc, strlen(zipkin_doc), TRACE_FORMAT_ZIPKIN,
                   zipkin_want, 4);
    run_correct(&r, jaeger_doc, TRACE_FORMAT_JAEGER, TRACE_FORMAT_OTLP_JSON,
                NULL);
    assert_int_equal(r.rc, 0);
    assert_domains(r.out, r.outlen, TRACE_FORMAT_OTLP_JSON, jaeger_want, 4);
    run_free(&r);
    run_correct(&r, zipkin_doc, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_OTLP_JSON,
                NULL);
    assert_int_equal(r.rc, 0);
    assert_domains(r.out, r.outlen, TRACE_FORMAT_OTLP_JSON, zipkin_otlp_want,
                   4);
    run_free(&r);
}

static void test_detects_each_format(void **state)
{
    struct run r;
    (void)state;

    run_correct(&r, jaeger_doc, TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.adjusted, 3);
    json_t *doc = parse_out(&r);
    assert_non_null(json_object_get(doc, "data"));
    json_decref(doc);
    run_free(&r);

    run_correct(&r, zipkin_doc, TRACE_FORMAT_AUTO, TRACE_FORMAT_OTLP_JSON,
                NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.adjusted, 3);
    doc = parse_out(&r);
    assert_non_null(json_object_get(doc, "resourceSpans"));
    json_decref(doc);
    run_free(&r);
}

/* ---- Hostile input (issue 9) ----------------------------------------- */

/* Input without spans is no error: a recognised shape is written through,
 * a blank input becomes one empty document of the output format (never a
 * 0-byte output, which is no document in any JSON format). */
static void test_zero_spans_write_a_document(void **state)
{
    static const struct {
        const char *in;
        enum trace_format in_fmt, out_fmt;
        const char *want;
    } cases[] = {
        {"", TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, "{\"resourceSpans\":[]}\n"},
        {" \n\t", TRACE_FORMAT_AUTO, TRACE_FORMAT_OTLP_JSON,
         "{\"resourceSpans\":[]}\n"},
        {"", TRACE_FORMAT_JAEGER, TRACE_FORMAT_AUTO, "{\"data\":[]}\n"},
        {"\n", TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_AUTO, "[]\n"},
        {"", TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_OTLP_JSON,
         "{\"resourceSpans\":[]}\n"},
        {"", TRACE_FORMAT_OTLP_PROTO, TRACE_FORMAT_OTLP_JSON,
         "{\"resourceSpans\":[]}\n"},
        {"", TRACE_FORMAT_OTLP_PROTO, TRACE_FORMAT_AUTO, ""},
        {"{\"resourceSpans\":[]}", TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO,
         "{\"resourceSpans\":[]}\n"},
        {"{\"data\":[]}", TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO,
         "{\"data\":[]}\n"},
        {"{\"data\":[]}", TRACE_FORMAT_AUTO, TRACE_FORMAT_OTLP_JSON,
         "{\"resourceSpans\":[]}\n"},
        {"[]", TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_AUTO, "[]\n"},
        {"[]", TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_OTLP_JSON,
         "{\"resourceSpans\":[]}\n"},
    };
    struct run r;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_correct(&r, cases[i].in, cases[i].in_fmt, cases[i].out_fmt, NULL);
        if (r.rc != 0 || strcmp(r.out ? r.out : "", cases[i].want) != 0)
            fail_msg("case %zu: rc %d, output \"%s\", want \"%s\" (%s)", i,
                     r.rc, r.out ? r.out : "", cases[i].want, r.err);
        assert_int_equal(r.stats.spans, 0);
        run_free(&r);
    }
}

/* A run of zero bytes read as length-delimited protobuf is a run of empty
 * messages: correct writes none of them (it used to write a 21-byte
 * document per byte). The readers refuse such input before correct runs;
 * this is correct's own pass, which must not amplify it either. */
static void test_zero_bytes_are_not_amplified(void **state)
{
    static const char zeros[4096];
    enum trace_format outs[] = {TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_AUTO};
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        struct clock_model *m = make_model();
        struct correct_opts opts = {.in_format = TRACE_FORMAT_OTLP_PROTO,
                                    .out_format = outs[i]};
        char *path = testlib_write_temp(zeros, sizeof(zeros)), err[256];
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        int rc = correct_file(path, &opts, m, f, NULL, err, sizeof(err));

        fclose(f);
        assert_true(rc == 0 || rc == -INGEST_E_MALFORMED);
        assert_true(outlen <= sizeof("{\"resourceSpans\":[]}"));
        free(out);
        unlink(path);
        free(path);
        clock_model_destroy(m);
    }
}

/* One element (here an OTLP span of a known domain, held while it is
 * corrected, or a Zipkin span) larger than correct_max_element is refused
 * with its position and the limit, before the rest of it is read; under
 * the limit the same input is corrected. */
static void test_element_limit(void **state)
{
    const char *head = "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
                       "{\"key\":\"host.name\",\"value\":{\"stringValue\":"
                       "\"node-a\"}}]},\"scopeSpans\":[{\"spans\":[{"
                       "\"traceId\":\"01\",\"spanId\":\"02\","
                       "\"startTimeUnixNano\":\"5000001\","
                       "\"endTimeUnixNano\":\"5000002\",\"name\":\"";
    size_t n = 100000, len = strlen(head);
    char *in = malloc(len + n + 16);
    size_t saved = correct_max_element;
    struct run r;
    (void)state;

    memcpy(in, head, len);
    memset(in + len, 'a', n);
    strcpy(in + len + n, "\"}]}]}]}\n");
    correct_max_element = 4096;
    run_correct(&r, in, TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    char want[64];
    snprintf(want, sizeof(want), ":1:%zu: expected a span of at most 4096",
             (size_t)(strstr(head, "[{\"traceId\"") + 2 - head));
    if (!strstr(r.err, want))
        fail_msg("\"%s\" lacks \"%s\"", r.err, want);
    assert_non_null(strstr(r.err, "--max-element"));
    run_free(&r);
    /* A Zipkin span, in a list of several. */
    memcpy(in, "[{\"id\":\"1\"},\n {\"name\":\"", 23);
    memset(in + 23, 'a', n);
    strcpy(in + 23 + n, "\"}]");
    run_correct(&r, in, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    assert_non_null(strstr(r.err, ":2:2: this element is larger than 4096"));
    run_free(&r);
    correct_max_element = saved;

    memcpy(in, head, len);
    memset(in + len, 'a', n);
    strcpy(in + len + n, "\"}]}]}]}\n");
    run_correct(&r, in, TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.adjusted, 1);
    assert_true(r.outlen > n); /* the name written whole */
    run_free(&r);
    free(in);
}

/* protobuf-c builders for the protobuf cases. */
static void *arena_alloc0(void ***all, size_t *n, size_t size)
{
    void *p = calloc(1, size);

    assert_non_null(p);
    *all = realloc(*all, (*n + 1) * sizeof(**all));
    assert_non_null(*all);
    (*all)[(*n)++] = p;
    return p;
}

struct pb {
    void **all;
    size_t n;
};

static Opentelemetry__Proto__Trace__V1__Span *
pb_span(struct pb *pb, const char *name, bool with_trace_id, int64_t start)
{
    Opentelemetry__Proto__Trace__V1__Span *sp =
        arena_alloc0(&pb->all, &pb->n, sizeof(*sp));
    static uint8_t tid[16] = {1, 2, 3}, sid[8] = {0, 0, 0, 0, 0, 0, 0, 9};

    opentelemetry__proto__trace__v1__span__init(sp);
    if (with_trace_id) {
        sp->trace_id.data = tid;
        sp->trace_id.len = 16;
    }
    sp->span_id.data = sid;
    sp->span_id.len = 8;
    sp->name = (char *)name;
    sp->start_time_unix_nano = (uint64_t)start;
    sp->end_time_unix_nano = (uint64_t)start + 1000;
    return sp;
}

/* A ResourceSpans of host.name `host` holding the n spans. */
static Opentelemetry__Proto__Trace__V1__ResourceSpans *
pb_resource(struct pb *pb, const char *host,
            Opentelemetry__Proto__Trace__V1__Span **spans, size_t n)
{
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs =
        arena_alloc0(&pb->all, &pb->n, sizeof(*rs));
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
        arena_alloc0(&pb->all, &pb->n, sizeof(*ss));
    Opentelemetry__Proto__Resource__V1__Resource *res =
        arena_alloc0(&pb->all, &pb->n, sizeof(*res));
    Opentelemetry__Proto__Common__V1__KeyValue *kv =
        arena_alloc0(&pb->all, &pb->n, sizeof(*kv));
    Opentelemetry__Proto__Common__V1__AnyValue *v =
        arena_alloc0(&pb->all, &pb->n, sizeof(*v));
    void **kvs = arena_alloc0(&pb->all, &pb->n, sizeof(*kvs));
    void **sss = arena_alloc0(&pb->all, &pb->n, sizeof(*sss));

    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    opentelemetry__proto__trace__v1__scope_spans__init(ss);
    opentelemetry__proto__resource__v1__resource__init(res);
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)host;
    kv->key = "host.name";
    kv->value = v;
    kvs[0] = kv;
    res->n_attributes = 1;
    res->attributes = (Opentelemetry__Proto__Common__V1__KeyValue **)kvs;
    ss->n_spans = n;
    ss->spans = spans;
    sss[0] = ss;
    rs->resource = res;
    rs->n_scope_spans = 1;
    rs->scope_spans = (Opentelemetry__Proto__Trace__V1__ScopeSpans **)sss;
    return rs;
}

/* A file of one plain (not length-delimited) request of the n resources;
 * its malloc'd path. */
static char *pb_file(Opentelemetry__Proto__Trace__V1__ResourceSpans **rs,
                     size_t n)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req;
    uint8_t *buf;
    size_t len;
    char *path;

    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(
        &req);
    req.n_resource_spans = n;
    req.resource_spans = rs;
    len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    buf = malloc(len + 1);
    assert_non_null(buf);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        &req, buf);
    path = testlib_write_temp(buf, len);
    free(buf);
    return path;
}

static void pb_free(struct pb *pb)
{
    for (size_t i = 0; i < pb->n; i++)
        free(pb->all[i]);
    free(pb->all);
}

/* correct_file on a protobuf file into OTLP JSON (one document per line). */
static int run_proto(const char *path, struct run *r)
{
    struct clock_model *m = make_model();
    struct correct_opts opts = {.in_format = TRACE_FORMAT_OTLP_PROTO,
                                .out_format = TRACE_FORMAT_OTLP_JSON};
    FILE *f;

    memset(r, 0, sizeof(*r));
    f = open_memstream(&r->out, &r->outlen);
    r->rc = correct_file(path, &opts, m, f, &r->stats, r->err, sizeof(r->err));
    fclose(f);
    clock_model_destroy(m);
    return r->rc;
}

/* A protobuf request larger than the part size is rewritten one part of
 * whole ResourceSpans at a time, with the same result; a ResourceSpans
 * larger than correct_max_element is refused with its byte offset. Spans
 * the readers count as invalid (no trace ID) are written through. */
static void test_proto_parts_limit_and_invalid(void **state)
{
    struct pb pb = {NULL, 0};
    Opentelemetry__Proto__Trace__V1__Span *spans[6];
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs[3];
    size_t saved_split = correct_json_split_max,
           saved_max = correct_max_element;
    char name[400];
    struct run r;
    (void)state;

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    for (int i = 0; i < 6; i++)
        spans[i] = pb_span(&pb, name, i != 5, T0 + i);
    rs[0] = pb_resource(&pb, "node-a", spans, 2);
    rs[1] = pb_resource(&pb, "node-a", spans + 2, 2);
    rs[2] = pb_resource(&pb, "node-a", spans + 4, 2);
    char *path = pb_file(rs, 3);

    assert_int_equal(run_proto(path, &r), 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_int_equal(r.stats.spans, 6);
    assert_int_equal(r.stats.adjusted, 5); /* not the one without trace ID */
    json_t *whole = parse_out(&r);
    json_t *bad = at(whole, "resourceSpans.2.scopeSpans.0.spans.1");
    assert_string_equal(str_at(bad, "startTimeUnixNano"),
                        "1700000000000000005");
    assert_null(json_object_get(bad, "attributes"));
    run_free(&r);

    /* In parts of at most ~1 KiB: one document per ResourceSpans. */
    correct_json_split_max = 1024;
    assert_int_equal(run_proto(path, &r), 0);
    assert_int_equal(count_lines(r.out), 3);
    assert_int_equal(r.stats.adjusted, 5);
    char *line = r.out;
    for (size_t i = 0; i < 3; i++) {
        char *nl = strchr(line, '\n');
        json_t *d = json_loadb(line, (size_t)(nl - line), 0, NULL);
        assert_non_null(d);
        assert_true(json_equal(
            at(d, "resourceSpans.0"),
            json_array_get(json_object_get(whole, "resourceSpans"), i)));
        json_decref(d);
        line = nl + 1;
    }
    run_free(&r);
    json_decref(whole);

    /* A ResourceSpans over the element limit. */
    correct_max_element = 600;
    assert_int_equal(run_proto(path, &r), -INGEST_E_MALFORMED);
    assert_non_null(strstr(r.err, ": byte 0: one ResourceSpans of "));
    assert_non_null(strstr(r.err, "larger than 600 bytes"));
    run_free(&r);
    correct_json_split_max = saved_split;
    correct_max_element = saved_max;
    unlink(path);
    free(path);
    pb_free(&pb);
}

/* U+0000 is a valid character: in names, values and keys (a Zipkin tag key
 * is a JSON object key, which jansson refuses to load by itself), and in
 * every output format. U+FDD0, which the loader uses to escape it, comes
 * through too, spelled raw or escaped. */
static void test_nul_in_strings(void **state)
{
    const char *zin =
        "[{\"traceId\":\"1\",\"id\":\"2\",\"name\":\"a\\u0000b\","
        "\"timestamp\":6000,\"localEndpoint\":{\"serviceName\":\"node-a\"},"
        "\"tags\":{\"k\\u0000ey\":\"v\\u0000al\",\"\\ufdd0\\u0000\":"
        "\"\xef\xb7\x90\",\"\xef\xb7\x90\x31\":\"\\ufdd01\"}}]";
    const char *jin =
        "{\"data\":[{\"traceID\":\"aa\",\"spans\":[{\"traceID\":\"aa\","
        "\"spanID\":\"01\",\"operationName\":\"op\\u0000x\","
        "\"startTime\":6000,\"duration\":1,\"processID\":\"p\\u0000\","
        "\"tags\":[{\"key\":\"t\\u0000\",\"type\":\"string\",\"value\":"
        "\"v\\u0000\"}]}],\"processes\":{\"p\\u0000\":{\"serviceName\":"
        "\"node-a\"}}}]}";
    struct run r;
    (void)state;

    run_correct(&r, zin, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.adjusted, 1);
    assert_non_null(strstr(r.out, "\"name\":\"a\\u0000b\""));
    assert_non_null(strstr(r.out, "\"timestamp\":1000"));
    assert_non_null(strstr(r.out, "\"k\\u0000ey\":\"v\\u0000al\""));
    assert_non_null(strstr(r.out, "\"\xef\xb7\x90\\u0000\":\"\xef\xb7\x90\""));
    assert_non_null(strstr(r.out, "\"\xef\xb7\x90\x31\":\"\xef\xb7\x90\x31\""));
    run_free(&r);

    run_correct(&r, zin, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_OTLP_JSON, NULL);
    assert_int_equal(r.rc, 0);
    json_t *doc = json_loads(r.out, JSON_ALLOW_NUL, NULL);
    assert_non_null(doc);
    json_t *sp = at(doc, "resourceSpans.0.scopeSpans.0.spans.0");
    assert_true(correct_json_str_is(at(sp, "name"), "a\0b", 3));
    assert_string_equal(str_at(sp, "startTimeUnixNano"), "1000000");
    json_t *kv, *want = NULL;
    size_t i;
    json_array_foreach(at(sp, "attributes"), i, kv)
    {
        if (correct_json_str_is(at(kv, "key"), "k\0ey", 4))
            want = kv;
    }
    assert_non_null(want);
    assert_true(correct_json_str_is(at(want, "value.stringValue"), "v\0al", 4));
    json_decref(doc);
    run_free(&r);

    /* In place (the processes key holds U+0000, so the text is checked:
     * jansson would not load it back), then converted. */
    run_correct(&r, jin, TRACE_FORMAT_JAEGER, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.adjusted, 1); /* processID "p\0" found */
    assert_non_null(strstr(r.out, "\"operationName\":\"op\\u0000x\""));
    assert_non_null(strstr(r.out, "\"key\":\"t\\u0000\""));
    assert_non_null(strstr(r.out, "\"processes\":{\"p\\u0000\":{"));
    assert_non_null(strstr(r.out, "\"startTime\":1000,"));
    run_free(&r);
    run_correct(&r, jin, TRACE_FORMAT_JAEGER, TRACE_FORMAT_OTLP_JSON, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.adjusted, 1);
    doc = json_loads(r.out, JSON_ALLOW_NUL, NULL);
    assert_non_null(doc);
    sp = at(doc, "resourceSpans.0.scopeSpans.0.spans.0");
    assert_true(correct_json_str_is(at(sp, "name"), "op\0x", 4));
    assert_true(correct_json_str_is(at(sp, "attributes.0.key"), "t\0", 2));
    assert_true(correct_json_str_is(at(sp, "attributes.0.value.stringValue"),
                                    "v\0", 2));
    json_decref(doc);
    run_free(&r);
}

/* Spans the readers count as invalid are written through as they are, in
 * the input's format and converted: not dropped, not corrected (even when
 * the model knows a domain "unknown", which a span with an unknown Jaeger
 * process is not in). Their valid neighbours are corrected. */
static void test_invalid_spans_written_through(void **state)
{
    const char *otlp =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
        "\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
        "\"scopeSpans\":[{\"spans\":["
        "{\"name\":\"ok\",\"traceId\":\"01\",\"spanId\":\"02\","
        "\"startTimeUnixNano\":\"6000000\",\"endTimeUnixNano\":\"7000000\"},"
        "{\"name\":\"empty\",\"traceId\":\"\",\"spanId\":\"03\","
        "\"startTimeUnixNano\":\"6000000\",\"endTimeUnixNano\":\"7000000\"},"
        "{\"name\":\"zero\",\"traceId\":\"00000000000000000000000000000000\","
        "\"spanId\":\"04\",\"startTimeUnixNano\":\"6000000\","
        "\"endTimeUnixNano\":\"7000000\"},"
        "{\"name\":\"noend\",\"traceId\":\"01\",\"spanId\":\"05\","
        "\"startTimeUnixNano\":\"6000000\",\"events\":[{\"timeUnixNano\":"
        "\"6500000\"}]}]}]}]}";
    const char *zipkin =
        "[{\"traceId\":\"1\",\"id\":\"2\",\"name\":\"ok\",\"timestamp\":6000,"
        "\"localEndpoint\":{\"serviceName\":\"node-a\"}},"
        "{\"traceId\":\"1\",\"id\":\"3\",\"name\":\"nots\",\"annotations\":["
        "{\"timestamp\":6500,\"value\":\"x\"}],"
        "\"localEndpoint\":{\"serviceName\":\"node-a\"}}]";
    const char *jaeger =
        "{\"data\":[{\"traceID\":\"aa\",\"spans\":["
        "{\"traceID\":\"aa\",\"spanID\":\"01\",\"operationName\":\"ok\","
        "\"startTime\":6000,\"duration\":5,\"processID\":\"p1\"},"
        "{\"traceID\":\"aa\",\"spanID\":\"02\",\"operationName\":\"lost\","
        "\"startTime\":6000,\"duration\":5,\"processID\":\"p9\"},"
        "{\"traceID\":\"aa\",\"spanID\":\"03\",\"operationName\":\"nostart\","
        "\"duration\":5,\"processID\":\"p1\"}],"
        "\"processes\":{\"p1\":{\"serviceName\":\"node-a\"}}}]}";
    struct run r;
    json_t *doc;
    (void)state;

    model_knows_unknown = true;
    run_correct(&r, otlp, TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.spans, 4);
    assert_int_equal(r.stats.adjusted, 1);
    doc = parse_out(&r);
    assert_string_equal(otlp_span_named(doc, "ok") ? "" : "x", "");
    assert_string_equal(str_at(otlp_span_named(doc, "ok"), "startTimeUnixNano"),
                        "1000000");
    for (int i = 0; i < 3; i++) {
        json_t *sp =
            otlp_span_named(doc, (const char *[]){"empty", "zero", "noend"}[i]);
        assert_string_equal(str_at(sp, "startTimeUnixNano"), "6000000");
        assert_null(json_object_get(sp, "attributes"));
    }
    assert_string_equal(
        str_at(otlp_span_named(doc, "noend"), "events.0.timeUnixNano"),
        "6500000");
    json_decref(doc);
    run_free(&r);

    /* Zipkin, in place and converted: the span without timestamp keeps its
     * annotation time. */
    run_correct(&r, zipkin, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.spans, 2);
    assert_int_equal(r.stats.adjusted, 1);
    doc = parse_out(&r);
    assert_int_equal(int_at(doc, "0.timestamp"), 1000);
    assert_int_equal(int_at(doc, "1.annotations.0.timestamp"), 6500);
    assert_null(json_object_get(at(doc, "1"), "tags"));
    json_decref(doc);
    run_free(&r);
    run_correct(&r, zipkin, TRACE_FORMAT_ZIPKIN, TRACE_FORMAT_OTLP_JSON, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.spans, 2);
    doc = parse_out(&r);
    json_t *nots = otlp_span_named(doc, "nots");
    assert_null(json_object_get(nots, "startTimeUnixNano"));
    assert_string_equal(str_at(nots, "events.0.timeUnixNano"), "6500000");
    assert_null(otlp_attr(at(nots, "attributes"), CORRECT_ATTR_OFFSET));
    assert_string_equal(str_at(otlp_span_named(doc, "ok"), "startTimeUnixNano"),
                        "1000000");
    json_decref(doc);
    run_free(&r);

    /* Jaeger, in place and converted: a processID its trace does not list
     * and a span without startTime. */
    run_correct(&r, jaeger, TRACE_FORMAT_JAEGER, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.spans, 3);
    assert_int_equal(r.stats.adjusted, 1);
    doc = parse_out(&r);
    assert_int_equal(int_at(doc, "data.0.spans.0.startTime"), 1000);
    assert_int_equal(int_at(doc, "data.0.spans.1.startTime"), 6000);
    assert_null(json_object_get(at(doc, "data.0.spans.1"), "tags"));
    assert_int_equal(int_at(doc, "data.0.spans.2.duration"), 5);
    json_decref(doc);
    run_free(&r);
    run_correct(&r, jaeger, TRACE_FORMAT_JAEGER, TRACE_FORMAT_OTLP_JSON, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.spans, 3);
    assert_int_equal(r.stats.adjusted, 1);
    doc = parse_out(&r);
    json_t *lost = otlp_span_named(doc, "lost");
    assert_string_equal(str_at(lost, "startTimeUnixNano"), "6000000");
    assert_int_equal(json_array_size(at(lost, "attributes")), 0);
    assert_null(
        json_object_get(otlp_span_named(doc, "nostart"), "startTimeUnixNano"));
    json_decref(doc);
    run_free(&r);
    model_knows_unknown = false;
}

/* The document shapes the readers take besides the usual ones are
 * corrected too: Jaeger bare arrays of traces or of spans (process inline),
 * a lone span, traceId/spanId spellings; a bare Zipkin span object; a
 * Jaeger api_v3 response ({"result": OTLP JSON}). */
static void test_other_shapes(void **state)
{
    static const struct {
        const char *in;
        enum trace_format fmt;
        size_t spans;
    } cases[] = {
        {"[{\"traceID\":\"aa\",\"spanID\":\"01\",\"startTime\":6000,"
         "\"process\":{\"serviceName\":\"node-a\"}},"
         "{\"traceId\":\"aa\",\"spanId\":\"02\",\"startTime\":6000,"
         "\"process\":{\"serviceName\":\"node-a\"}}]",
         TRACE_FORMAT_JAEGER, 2},
        {"[{\"traceID\":\"aa\",\"spans\":[{\"traceID\":\"aa\",\"spanID\":"
         "\"01\",\"startTime\":6000,\"processID\":\"p1\"}],\"processes\":{"
         "\"p1\":{\"serviceName\":\"node-a\"}}}]",
         TRACE_FORMAT_JAEGER, 1},
        {"{\"traceID\":\"aa\",\"spanID\":\"01\",\"startTime\":6000,"
         "\"process\":{\"serviceName\":\"node-a\"}}",
         TRACE_FORMAT_JAEGER, 1},
        {"{\"traceId\":\"1\",\"id\":\"2\",\"timestamp\":6000,"
         "\"localEndpoint\":{\"serviceName\":\"node-a\"}}",
         TRACE_FORMAT_ZIPKIN, 1},
        {"{\"result\":{\"resourceSpans\":[{\"resource\":{\"attributes\":[{"
         "\"key\":\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
         "\"scopeSpans\":[{\"spans\":[{\"traceId\":\"01\",\"spanId\":\"02\","
         "\"startTimeUnixNano\":\"6000000\",\"endTimeUnixNano\":"
         "\"7000000\"}]}]}]}}",
         TRACE_FORMAT_OTLP_JSON, 1},
    };
    struct run r;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (int to_otlp = 0; to_otlp < 2; to_otlp++) {
            run_correct(&r, cases[i].in, cases[i].fmt,
                        to_otlp ? TRACE_FORMAT_OTLP_JSON : TRACE_FORMAT_AUTO,
                        NULL);
            if (r.rc != 0 || r.stats.spans != cases[i].spans ||
                r.stats.adjusted != cases[i].spans)
                fail_msg("case %zu%s: rc %d, %zu spans, %zu adjusted: %s %s", i,
                         to_otlp ? " to OTLP" : "", r.rc, r.stats.spans,
                         r.stats.adjusted, r.err, r.out ? r.out : "");
            /* 6 ms on node-a's clock is 1 ms on the reference's. */
            assert_true(strstr(r.out, "1000000") || strstr(r.out, ":1000"));
            run_free(&r);
        }
}

/* A document after a long blank run (longer than format detection looks
 * at) is found, and positions count the lines before it. */
static void test_positions_after_a_long_blank_run(void **state)
{
    size_t blank = 10000;
    char *in = malloc(blank + 64);
    struct run r;
    (void)state;

    memset(in, '\n', blank);
    strcpy(in + blank, "{\"resourceSpans\":[ x ]}");
    run_correct(&r, in, TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    char want[600];
    snprintf(want, sizeof(want), "%s:%zu:", r.path, blank + 1);
    if (!strstr(r.err, want))
        fail_msg("\"%s\" lacks \"%s\"", r.err, want);
    run_free(&r);
    free(in);
}

/* ---- protobuf: the wire path and protobuf-c's ---------------------- */

/* The messages of a length-delimited output, each decoded and re-encoded
 * by protobuf-c (a canonical form to compare), concatenated. */
static uint8_t *canonical_messages(const uint8_t *p, size_t n, size_t *len,
                                   size_t *count)
{
    uint8_t *all = NULL;
    size_t k = 0;

    *len = *count = 0;
    while (k < n) {
        uint64_t m = 0;
        for (unsigned shift = 0; k < n; shift += 7) {
            uint8_t c = p[k++];
            m |= (uint64_t)(c & 0x7f) << shift;
            if (!(c & 0x80))
                break;
        }
        assert_true(m <= n - k);
        Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
            opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
                NULL, m, p + k);
        assert_non_null(req);
        size_t sz = protobuf_c_message_get_packed_size(&req->base);
        all = realloc(all, *len + sz + 1);
        assert_non_null(all);
        protobuf_c_message_pack(&req->base, all + *len);
        *len += sz;
        (*count)++;
        protobuf_c_message_free_unpacked(&req->base, NULL);
        k += m;
    }
    return all;
}

/* correct with protobuf output rewrites on the wire format: what it writes
 * decodes to what protobuf-c's decode-correct-encode path writes, on a
 * simulated pipeline (events, links, every domain moved but one), whole
 * and in parts, and the file reads back with the expected spans. */
static void test_proto_wire_equals_dom(void **state)
{
    static const char *const nodes[] = {"node-gateway", "node-tokenizer",
                                        "node-prefill", "node-decode-0",
                                        "node-detokenizer"};
    struct sim_config cfg;
    char *buf = NULL, err[256];
    size_t len = 0, saved = correct_json_split_max;
    FILE *f = open_memstream(&buf, &len);
    struct clock_model *m = clock_model_create();
    struct correct_opts opts = {TRACE_FORMAT_OTLP_PROTO,
                                TRACE_FORMAT_OTLP_PROTO, NULL};
    (void)state;

    sim_config_init(&cfg);
    cfg.requests = 60;
    cfg.links = true;
    assert_int_equal(
        sim_run(&cfg, &trace_writer_otlp_proto_ops, f, NULL, err, sizeof(err)),
        0);
    fclose(f);
    for (int i = 0; i < 5; i++)
        assert_true(clock_model_set(m, nodes[i], 1000 * (i - 2), 0.5 * i, T0) >=
                    0);
    for (int parts = 0; parts < 2; parts++) {
        struct run r[2];
        uint8_t *canon[2];
        size_t clen[2], count[2];
        correct_json_split_max = parts ? 2048 : saved;
        for (int k = 0; k < 2; k++) {
            const struct correct_ops *ops =
                k ? &correct_otlp_proto_dom_ops : &correct_otlp_proto_ops;
            struct source *src =
                source_open_memory(buf, len, "sim.pb", err, sizeof(err));
            memset(&r[k], 0, sizeof(r[k]));
            f = open_memstream(&r[k].out, &r[k].outlen);
            r[k].rc = ops->run(src, &opts, m, f, &r[k].stats, r[k].err,
                               sizeof(r[k].err));
            fclose(f);
            source_close(src);
            if (r[k].rc != 0)
                fail_msg("%s: %s", k ? "dom" : "wire", r[k].err);
            canon[k] = canonical_messages((const uint8_t *)r[k].out,
                                          r[k].outlen, &clen[k], &count[k]);
        }
        assert_int_equal(count[0], count[1]);
        assert_true(parts ? count[0] > 10 : count[0] >= 1);
        assert_int_equal(clen[0], clen[1]);
        assert_memory_equal(canon[0], canon[1], clen[0]);
        assert_int_equal(r[0].stats.spans, r[1].stats.spans);
        assert_int_equal(r[0].stats.adjusted, r[1].stats.adjusted);
        assert_true(r[0].stats.adjusted > r[0].stats.spans / 2);
        /* read back: every span, none invalid */
        struct span_store *st = span_store_create();
        char *path = testlib_write_temp(r[0].out, r[0].outlen);
        struct ingest_opts io = {.format = TRACE_FORMAT_OTLP_PROTO};
        assert_int_equal(ingest_file(st, path, &io, err, sizeof(err)), 0);
        assert_int_equal(span_store_count(st), r[0].stats.spans);
        span_store_destroy(st);
        unlink(path);
        free(path);
        for (int k = 0; k < 2; k++) {
            free(canon[k]);
            run_free(&r[k]);
        }
    }
    correct_json_split_max = saved;
    clock_model_destroy(m);
    free(buf);
}

/* ---- the streaming OTLP JSON rewriter (correct_otlp_stream.c) ---------- */

/* A domain 5 ms ahead that run_ops() adds to the test model, or NULL. */
static const char *model_extra;

/* ops over the len bytes at in (a memory source), with the test model. */
static void run_ops(const struct correct_ops *ops, const char *in, size_t len,
                    const char *user, struct run *r)
{
    struct clock_model *m = make_model();
    struct correct_opts opts = {TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_OTLP_JSON,
                                user};
    struct source *src;
    FILE *f;

    if (model_knows_unknown)
        assert_true(clock_model_set(m, "unknown", 5000000, 0.0, 0) >= 0);
    if (model_extra)
        assert_true(clock_model_set(m, model_extra, 5000000, 0.0, 0) >= 0);
    memset(r, 0, sizeof(*r));
    src = source_open_memory(in, len, "in.json", r->err, sizeof(r->err));
    assert_non_null(src);
    f = open_memstream(&r->out, &r->outlen);
    assert_non_null(f);
    r->rc = ops->run(src, &opts, m, f, &r->stats, r->err, sizeof(r->err));
    fclose(f);
    source_close(src);
    clock_model_destroy(m);
}

/* The documents of an output (one per line) as a JSON array. */
static json_t *out_docs(const struct run *r)
{
    json_t *all = json_array();
    const char *p = r->out, *end = r->out + r->outlen;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        json_error_t je;
        json_t *d;
        assert_non_null(nl);
        d = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, &je);
        if (!d)
            fail_msg("output line does not parse: %s: %.*s", je.text,
                     (int)(nl - p), p);
        json_array_append_new(all, d);
        p = nl + 1;
    }
    return all;
}

/* The stream writes what the jansson path writes for in: the same
 * documents (as JSON values), the same counts. */
static void same_as_dom(const char *in, const char *user)
{
    struct run a, b;
    json_t *da, *db;

    run_ops(&correct_otlp_json_ops, in, strlen(in), user, &a);
    run_ops(&correct_otlp_json_dom_ops, in, strlen(in), user, &b);
    if (a.rc != 0 || b.rc != 0)
        fail_msg("stream %d (%s), dom %d (%s) on %s", a.rc, a.err, b.rc, b.err,
                 in);
    da = out_docs(&a);
    db = out_docs(&b);
    if (!json_equal(da, db) || a.stats.spans != b.stats.spans ||
        a.stats.adjusted != b.stats.adjusted)
        fail_msg("stream and dom differ on\n%s\nstream (%zu/%zu): %s\ndom "
                 "(%zu/%zu): %s",
                 in, a.stats.spans, a.stats.adjusted, a.out, b.stats.spans,
                 b.stats.adjusted, b.out);
    json_decref(da);
    json_decref(db);
    run_free(&a);
    run_free(&b);
}

#define RS_HEAD(host)                                                          \
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"             \
    "\"host.name\",\"value\":{\"stringValue\":\"" host "\"}}]},"               \
    "\"scopeSpans\":[{\"spans\":["
#define RS_TAIL "]}]}]}"
#define IDS "\"traceId\":\"0102\",\"spanId\":\"0a\","
#define TIMES                                                                  \
    "\"startTimeUnixNano\":\"6000000\",\"endTimeUnixNano\":\"7000000\""

/* Differential: every shape of span, attribute and event the jansson path
 * handles, written the same by the stream. */
static void test_stream_equals_dom(void **state)
{
    static const char *const docs[] = {
        otlp_doc,
        /* attributes: absent, null, an object, empty, with our keys (to
         * replace, one without a value member, one spelled with an
         * escape), and non-object entries */
        RS_HEAD(
            "node-a") "{" IDS TIMES "},"
                      "{" IDS TIMES ",\"attributes\":null},{" IDS TIMES
                      ",\"attributes\":{\"a\":1}},{" IDS TIMES
                      ",\"attributes\":[]},{" IDS TIMES
                      ",\"attributes\":[5,null,"
                      "{\"key\":\"skewscope.clock_offset_ns\",\"value\":{"
                      "\"intValue\":\"9\"},"
                      "\"x\":[1]},{\"value\":{\"stringValue\":\"v\"},\"key\":"
                      "\"skewscope.original_end_time_unix_nano\"},{\"key\":"
                      "\"skewscope."
                      "original_start_time_unix_nano\"},{\"key\":\"skewscope."
                      "clock_offset_"
                      "ns\",\"value\":{}}]},{" IDS TIMES
                      ",\"attributes\":[{\"key\":"
                      "\"skewscope.clock\\u005foffset_ns\",\"value\":{"
                      "\"intValue\":\"1\"}}]}" RS_TAIL,
        /* events: times as strings, numbers and null; absent; attributes;
         * entries that are not objects; events that are not an array */
        RS_HEAD(
            "node-a") "{" IDS TIMES ",\"events\":[{\"timeUnixNano\":"
                      "\"6500000\"},{\"time_unix_nano\":6600000,\"attributes\":"
                      "[{\"key\":"
                      "\"k\",\"value\":{\"intValue\":\"1\"}}]},{"
                      "\"timeUnixNano\":null},"
                      "{\"name\":\"no "
                      "time\"},7,{\"timeUnixNano\":\"6700000\",\"attributes\":"
                      "[{\"key\":\"skewscope.original_time_unix_nano\","
                      "\"value\":{}}]},"
                      "{\"timeUnixNano\":\"6800000\",\"attributes\":\"x\"}]},"
                      "{" IDS TIMES ",\"events\":\"none\"}" RS_TAIL,
        /* times spelled as numbers, integral reals, leading zeros, escapes,
         * negative results; snake_case and old names */
        "{\"resource_spans\":[{\"resource\":{\"attributes\":[{\"key\":"
        "\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
        "\"instrumentationLibrarySpans\":[{\"spans\":[{\"trace_id\":\"01\","
        "\"span_id\":\"02\",\"start_time_unix_nano\":6000000,"
        "\"end_time_unix_nano\":7.0e6},{" IDS "\"startTimeUnixNano\":"
        "\"0006000000\",\"endTimeUnixNano\":\"\\u0037000000\"},{" IDS
        "\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":\"-5\"}]}],"
        "\"scope_spans\":[{\"spans\":[{" IDS TIMES "}]}]}]}",
        /* white space everywhere, strings that hold brackets and quotes */
        " {\n \"resourceSpans\" : [ { \"resource\" : { \"attributes\" : [ {"
        "\"key\" : \"host.name\" , \"value\" : { \"stringValue\" : \"node-a\" }"
        " } ] } ,\n \"scopeSpans\" : [ { \"scope\" : { \"name\" : \"s]}\\\"{\" "
        "} , \"spans\" : [ { \"name\" : \"a\\\\\" , \"traceId\" : \"01\" ,"
        " \"spanId\" : \"02\" , \"startTimeUnixNano\" : \"6000000\" , "
        "\"endTimeUnixNano\" : \"7000000\" , \"x\" : [ true , false , null , "
        "-1.5e-3 , { } , [ ] ] } ] } ] } ] }\n",
        /* the resource after its spans; none at all; null; a value before
         * its key; unknown and drifting domains; invalid spans */
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" IDS TIMES "}]}],"
        "\"schemaUrl\":\"u\",\"resource\":{\"attributes\":[{\"value\":"
        "{\"stringValue\":\"node-a\"},\"key\":\"host.name\"}]}},"
        "{\"scopeSpans\":[{\"spans\":[{" IDS TIMES "}]}]},"
        "{\"resource\":null,\"scopeSpans\":[{\"spans\":[{" IDS TIMES "}]}]},"
        "{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":"
        "{\"stringValue\":\"node-c\"}}]},\"scopeSpans\":[{\"spans\":[{" IDS
            TIMES "}]}]},"
        "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"node-b\"}}]},\"scopeSpans\":[{\"spans\":["
        "{" IDS "\"startTimeUnixNano\":\"1700000000000000010\","
        "\"endTimeUnixNano\":\"1700000000000000020\",\"events\":[{"
        "\"timeUnixNano\":\"1700000001000000000\"}]},{" IDS
        "\"startTimeUnixNano\":\"1700000000000000010\","
        "\"endTimeUnixNano\":\"1700000000000000020\"},"
        "{\"traceId\":\"\",\"spanId\":\"02\"," TIMES "},{\"traceId\":\"00\","
        "\"spanId\":\"02\"," TIMES "},{" IDS "\"startTimeUnixNano\":\"1\"},"
        "{" IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":null},"
        "4,null,[]]},{\"spans\":null},7]},{\"scopeSpans\":{}},3]}",
        /* documents that are not traces, a Jaeger api_v3 wrapper, and
         * several documents on a line */
        "{\"a\":[1,{\"b\":\"c\"}]}{\"resourceSpans\":null}\n"
        "{\"result\":" RS_HEAD("node-a") "{" IDS TIMES "}" RS_TAIL ","
                                         "\"resourceSpans\":[]}\n\n" RS_HEAD(
                                             "node-a") "{" IDS TIMES
                                                       "}" RS_TAIL,
        /* unicode: raw and escaped */
        RS_HEAD("node-a") "{" IDS TIMES ",\"name\":\"\xc3\xa9\\u00e9\\ud83d"
                          "\\ude00\xf0\x9f\x98\x80\\/\"}" RS_TAIL,
    };
    (void)state;

    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        same_as_dom(docs[i], NULL);
        same_as_dom(docs[i], "service.name");
    }
    model_knows_unknown = true;
    same_as_dom(docs[4], NULL);
    model_knows_unknown = false;
}

/* The same on a simulated pipeline's traces (one document and one per
 * line, every domain but one skewed, with events). */
static void test_stream_equals_dom_simulated(void **state)
{
    static const char *const nodes[] = {"node-gateway",  "node-tokenizer",
                                        "node-prefill",  "node-decode-0",
                                        "node-decode-1", "node-detokenizer"};
    (void)state;

    for (int lines = 0; lines < 2; lines++) {
        struct sim_config cfg;
        char *buf = NULL, err[256];
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        struct clock_model *m = clock_model_create();
        struct correct_opts opts = {TRACE_FORMAT_OTLP_JSON,
                                    TRACE_FORMAT_OTLP_JSON, NULL};
        struct run r[2];

        sim_config_init(&cfg);
        cfg.requests = 40;
        cfg.lines = lines;
        assert_int_equal(sim_run(&cfg, &trace_writer_otlp_json_ops, f, NULL,
                                 err, sizeof(err)),
                         0);
        fclose(f);
        for (int i = 0; i < 5; i++)
            assert_true(clock_model_set(m, nodes[i], 1000 * (i - 2), 0.25 * i,
                                        T0) >= 0);
        for (int k = 0; k < 2; k++) {
            const struct correct_ops *ops =
                k ? &correct_otlp_json_dom_ops : &correct_otlp_json_ops;
            struct source *src =
                source_open_memory(buf, len, "sim.json", err, sizeof(err));
            memset(&r[k], 0, sizeof(r[k]));
            f = open_memstream(&r[k].out, &r[k].outlen);
            r[k].rc = ops->run(src, &opts, m, f, &r[k].stats, r[k].err,
                               sizeof(r[k].err));
            fclose(f);
            source_close(src);
            assert_int_equal(r[k].rc, 0);
        }
        json_t *a = out_docs(&r[0]), *b = out_docs(&r[1]);
        assert_true(json_equal(a, b));
        assert_int_equal(r[0].stats.spans, r[1].stats.spans);
        assert_int_equal(r[0].stats.adjusted, r[1].stats.adjusted);
        assert_true(r[0].stats.adjusted > r[0].stats.spans / 2);
        json_decref(a);
        json_decref(b);
        run_free(&r[0]);
        run_free(&r[1]);
        clock_model_destroy(m);
        free(buf);
    }
}

/* Where the stream reads a document as the readers do and the jansson path
 * did not: every occurrence of a member named twice (the readers take the
 * last), both spellings, and the clock domain rule (an empty name is no
 * candidate; numbers as spelled). */
static void test_stream_reads_as_readers(void **state)
{
    static const struct {
        const char *in;
        size_t adjusted;
        const char *has[4];
    } cases[] = {
        /* a time given twice: both mapped, the last one kept as the
         * original */
        {RS_HEAD("node-a") "{" IDS TIMES ",\"startTimeUnixNano\":\"6000005\","
                           "\"attributes\":[],\"attributes\":[]}" RS_TAIL,
         1,
         {"\"startTimeUnixNano\":\"1000000\"",
          "\"startTimeUnixNano\":\"1000005\"",
          "{\"key\":\"skewscope.original_start_time_unix_nano\",\"value\":{"
          "\"intValue\":\"6000005\"}}",
          NULL}},
        /* both spellings */
        {RS_HEAD("node-a") "{" IDS "\"start_time_unix_nano\":\"6000000\","
                           "\"endTimeUnixNano\":\"7000000\"}" RS_TAIL,
         1,
         {"\"start_time_unix_nano\":\"1000000\"",
          "\"endTimeUnixNano\":\"2000000\"", NULL}},
        /* an empty host.name is no clock domain: service.name names it */
        {"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
         "\"host.name\",\"value\":{\"stringValue\":\"\"}},{\"key\":"
         "\"service.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
         "\"scopeSpans\":[{\"spans\":[{" IDS TIMES "}]}]}]}",
         1,
         {"\"startTimeUnixNano\":\"1000000\"", NULL}},
        /* a number names the domain as it is spelled */
        {"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
         "\"host.name\",\"value\":{\"doubleValue\":10.0e0}}]},"
         "\"scopeSpans\":[{\"spans\":[{" IDS TIMES "}]}]}]}",
         1,
         {"\"startTimeUnixNano\":\"1000000\"", NULL}},
        /* a second resource naming the same domain after the spans */
        {"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
         "\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
         "\"scopeSpans\":[{\"spans\":[{" IDS TIMES "}]}],\"resource\":{"
         "\"attributes\":[{\"key\":\"host.name\",\"value\":{\"stringValue\":"
         "\"node-a\"}}]}}]}",
         1,
         {"\"startTimeUnixNano\":\"1000000\"", NULL}},
    };
    struct clock_model *m;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run r;
        struct span_store *st = span_store_create();
        struct ingest_opts o = {.format = TRACE_FORMAT_OTLP_JSON};
        char *path = testlib_write_temp_str(cases[i].in), err[256];

        /* the reader puts the spans in the domain the stream corrects */
        assert_int_equal(ingest_file(st, path, &o, err, sizeof(err)), 0);
        m = make_model();
        assert_true(clock_model_set(m, "10.0e0", 5000000, 0.0, 0) >= 0);
        for (size_t k = 0; k < span_store_count(st); k++)
            assert_true(
                clock_model_find(
                    m, span_store_domain_name(st, span_store_at(st, k)->domain),
                    strlen(span_store_domain_name(
                        st, span_store_at(st, k)->domain))) >= 0);
        clock_model_destroy(m);
        span_store_destroy(st);
        unlink(path);
        free(path);

        model_extra = "10.0e0";
        run_ops(&correct_otlp_json_ops, cases[i].in, strlen(cases[i].in), NULL,
                &r);
        model_extra = NULL;
        if (r.rc != 0 || r.stats.adjusted != cases[i].adjusted)
            fail_msg("case %zu: rc %d (%s), %zu adjusted", i, r.rc, r.err,
                     r.stats.adjusted);
        for (size_t k = 0; k < 4 && cases[i].has[k]; k++)
            if (!strstr(r.out, cases[i].has[k]))
                fail_msg("case %zu: no %s in %s", i, cases[i].has[k], r.out);
        run_free(&r);
    }
}

/* Input the readers' skipping accepts but that is no JSON (inside values
 * they do not read) is refused with its position, as are raw control
 * characters; a second resource naming another domain after spans were
 * written is refused. Nothing is half-written past the last document. */
static void test_stream_refuses(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {RS_HEAD("node-a") "{" IDS TIMES ",\"x\":{\"a\" \"b\"}}" RS_TAIL,
         ":1:224: expected ':' after a key, found '\"'"},
        {RS_HEAD("node-c") "{" IDS TIMES ",\"x\":[1 2]}" RS_TAIL,
         ":1:222: expected ',' or a closing bracket, found '2'"},
        {"{\"resourceSpans\":[],\"x\":\"a\tb\"}",
         ":1:27: expected a string without raw control characters"},
        {"{\"resourceSpans\":[],\"x\":tru}", ":1:25: expected a JSON value"},
        {"{\"resourceSpans\":[],\"x\":01}", ":1:25: expected a number"},
        {"{\"resourceSpans\":[]}\n[1]", ":2:1: expected an OTLP JSON object"},
        {"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
         "\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
         "\"scopeSpans\":[],\"resource\":{}}]}",
         ":1:128: expected one \"resource\" per resourceSpans entry"},
        {RS_HEAD("node-a") "{" IDS "\"startTimeUnixNano\":\"6e\","
                           "\"endTimeUnixNano\":\"7000000\"}" RS_TAIL,
         ":1:125: expected startTimeUnixNano as an integer (ns) in the span "
         "that starts here"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run r;
        run_ops(&correct_otlp_json_ops, cases[i].in, strlen(cases[i].in), NULL,
                &r);
        if (r.rc != -INGEST_E_MALFORMED || !strstr(r.err, cases[i].want))
            fail_msg("case %zu: rc %d: \"%s\", want \"%s\"", i, r.rc, r.err,
                     cases[i].want);
        assert_true(strncmp(r.err, "in.json:", 8) == 0);
        run_free(&r);
    }
}

/* What is held is bounded by correct_max_element: a span of a known domain
 * (refused at its start), the rest of an entry whose resource follows its
 * spans (refused where holding starts); a span of a domain the model does
 * not know, and everything outside spans, stream through whatever their
 * size. */
static void test_stream_holds_little(void **state)
{
    size_t n = 200000, saved = correct_max_element;
    char *big = malloc(n + 1), *in = malloc(2 * n + 4096);
    struct run r;
    (void)state;

    memset(big, 'a', n);
    big[n] = '\0';
    correct_max_element = 4096;
    /* a long name in a span of node-c (unknown), a long unknown member of
     * the document and of the resource: written whole */
    sprintf(in,
            "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
            "\"host.name\",\"value\":{\"stringValue\":\"node-c\"}}],\"y\":"
            "\"%s\"},\"scopeSpans\":[{\"spans\":[{" IDS TIMES
            ",\"name\":\"%s\"}]}]}],\"x\":\"%s\"}",
            "b", big, big);
    run_ops(&correct_otlp_json_ops, in, strlen(in), NULL, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.spans, 1);
    assert_true(r.outlen > 2 * n);
    run_free(&r);
    /* the same span in node-a is held: refused at the span's start */
    sprintf(in, RS_HEAD("node-a") "{" IDS TIMES ",\"name\":\"%s\"}" RS_TAIL,
            big);
    run_ops(&correct_otlp_json_ops, in, strlen(in), NULL, &r);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    assert_non_null(strstr(r.err, "in.json:1:125: expected a span of at most "
                                  "4096 bytes"));
    assert_non_null(strstr(r.err, "--max-element"));
    run_free(&r);
    /* an entry whose resource comes last: held from its scopeSpans */
    sprintf(in,
            "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" IDS TIMES
            ",\"name\":\"%s\"}]}],\"resource\":{}}]}",
            big);
    run_ops(&correct_otlp_json_ops, in, strlen(in), NULL, &r);
    assert_int_equal(r.rc, -INGEST_E_MALFORMED);
    assert_non_null(strstr(r.err, "in.json:1:33: expected the rest of a "
                                  "resourceSpans entry of at most 4096"));
    run_free(&r);
    correct_max_element = saved;
    /* under the limit, the same entry is corrected */
    run_ops(&correct_otlp_json_ops, in, strlen(in), NULL, &r);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    free(in);
    free(big);
}

/* test_stream_writes_bounded's FILE: it keeps the largest piece written
 * to it at once. */
static ssize_t largest_write(void *cookie, const char *buf, size_t n)
{
    size_t *most = cookie;

    (void)buf;
    if (n > *most)
        *most = n;
    return (ssize_t)n;
}

/* The stream writes as its buffer fills, in pieces of the buffer's size
 * however large the input: it once doubled the buffer whenever a corrected
 * span did not fit behind the bytes awaiting writing, until the buffer
 * held a good part of the output (326 MB for a 316 MB input). */
static void test_stream_writes_bounded(void **state)
{
    static const char *const nodes[] = {"node-gateway", "node-tokenizer",
                                        "node-prefill", "node-decode-0",
                                        "node-decode-1"};
    struct sim_config cfg;
    char *buf = NULL, err[256];
    size_t len = 0, most = 0;
    FILE *f = open_memstream(&buf, &len);
    struct clock_model *m = clock_model_create();
    struct correct_opts opts = {TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_OTLP_JSON,
                                NULL};
    struct correct_stats st;
    struct source *src;
    int rc;
    (void)state;

    sim_config_init(&cfg);
    cfg.requests = 1500; /* about 17 MB, one document */
    assert_int_equal(
        sim_run(&cfg, &trace_writer_otlp_json_ops, f, NULL, err, sizeof(err)),
        0);
    fclose(f);
    for (int i = 0; i < 5; i++)
        assert_true(
            clock_model_set(m, nodes[i], 1000 * (i - 2), 0.25 * i, T0) >= 0);
    src = source_open_memory(buf, len, "sim.json", err, sizeof(err));
    f = fopencookie(&most, "w",
                    (cookie_io_functions_t){.write = largest_write});
    assert_non_null(f);
    rc = correct_otlp_json_ops.run(src, &opts, m, f, &st, err, sizeof(err));
    fclose(f);
    source_close(src);
    assert_int_equal(rc, 0);
    assert_true(st.adjusted > len / 2000); /* spans of ~350 bytes */
    assert_true(most > 0);
    assert_true(most <= (size_t)1 << 20);
    clock_model_destroy(m);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otlp_json_offset_and_drift),
        cmocka_unit_test(test_otlp_json_user_attr),
        cmocka_unit_test(test_otlp_json_lines),
        cmocka_unit_test(test_large_document_across_chunks),
        cmocka_unit_test(test_gzip_input),
        cmocka_unit_test(test_malformed_positions),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_floor_us),
        cmocka_unit_test(test_jaeger),
        cmocka_unit_test(test_jaeger_to_otlp),
        cmocka_unit_test(test_zipkin),
        cmocka_unit_test(test_zipkin_user_attr_from_tags),
        cmocka_unit_test(test_zipkin_to_otlp),
        cmocka_unit_test(test_domains_agree_with_readers),
        cmocka_unit_test(test_detects_each_format),
        cmocka_unit_test(test_zero_spans_write_a_document),
        cmocka_unit_test(test_zero_bytes_are_not_amplified),
        cmocka_unit_test(test_element_limit),
        cmocka_unit_test(test_proto_parts_limit_and_invalid),
        cmocka_unit_test(test_nul_in_strings),
        cmocka_unit_test(test_invalid_spans_written_through),
        cmocka_unit_test(test_other_shapes),
        cmocka_unit_test(test_positions_after_a_long_blank_run),
        cmocka_unit_test(test_stream_equals_dom),
        cmocka_unit_test(test_stream_equals_dom_simulated),
        cmocka_unit_test(test_stream_reads_as_readers),
        cmocka_unit_test(test_stream_refuses),
        cmocka_unit_test(test_stream_holds_little),
        cmocka_unit_test(test_stream_writes_bounded),
        cmocka_unit_test(test_proto_wire_equals_dom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
