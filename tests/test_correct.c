/* Unit tests for output/correct (JSON formats): exact corrected times, the
 * attributes that keep the originals, untouched unknown domains and
 * fields, Jaeger/Zipkin -> OTLP conversion, document-at-a-time reading,
 * and the error paths. */
#include "testlib.h"

#include <jansson.h>
#include <zlib.h>

#include "ingest/ingest.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct.h"
#include "output/correct_json.h"
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

static void run_correct(struct run *r, const char *input, enum trace_format in,
                        enum trace_format out, const char *user)
{
    struct clock_model *m = make_model();
    struct correct_opts opts = {
        .in_format = in, .out_format = out, .clock_domain_attr = user};
    FILE *f;

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
    "\"startTimeUnixNano\":\"1700000000123456789\","
    "\"endTimeUnixNano\":\"1700000001000000000\","
    "\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"7\"}}]}]}]},"
    "{\"resource\":{\"attributes\":["
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"node-c\"}}]},"
    "\"scopeSpans\":[{\"spans\":[{\"name\":\"c1\","
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
        "\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"6000000\","
        "\"endTimeUnixNano\":\"7000000\"}]}]}]}";
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
                      "\"startTimeUnixNano\":\"5000001\"}]}]}]}";
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
    const char *span = "{\"startTimeUnixNano\":\"5000002\",\"name\":\"%05d\"}";
    size_t cap = 3 * 200000, len = 0;
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
                "\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"12x\"}]}"
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

    /* Blank input: nothing to write. */
    run_correct(&r, " \n", TRACE_FORMAT_AUTO, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.outlen, 0);
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
