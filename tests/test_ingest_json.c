/* Unit tests: json_lex (tokens across refills, escapes, numbers, errors with
 * line:col) and the OTLP JSON, Jaeger and Zipkin readers. */
#include "testlib.h"

#include <stdbool.h>
#include <zlib.h>

#include "ingest/ingest.h"
#include "ingest/json_lex.h"
#include "ingest/source.h"
#include "model/span_store.h"
#include "util/ids.h"

/* Buffer sizes that put token boundaries everywhere; 0 = default. */
static const size_t bufsizes[] = {1, 2, 3, 5, 7, 16, 64, 0};
#define NBUFSIZES (sizeof(bufsizes) / sizeof(bufsizes[0]))

/* ---- helpers ---------------------------------------------------------- */

struct outbuf {
    char s[4096];
    size_t n;
};

static void out_put(struct outbuf *o, const char *p, size_t n)
{
    assert_true(o->n + n < sizeof(o->s));
    memcpy(o->s + o->n, p, n);
    o->n += n;
    o->s[o->n] = '\0';
}

/* Re-serialise the next value compactly (strings decoded, unquoted). */
static int dump(struct json_lex *lx, struct outbuf *o)
{
    struct json_str s;
    int t = json_lex_peek(lx), r, type;

    if (t < 0)
        return t;
    if (t == JSON_OBJECT) {
        bool first = true;
        if ((r = json_lex_begin_object(lx)) < 0)
            return r;
        out_put(o, "{", 1);
        while ((r = json_lex_next_key(lx, &s)) > 0) {
            if (!first)
                out_put(o, ",", 1);
            first = false;
            out_put(o, s.p, s.len);
            out_put(o, ":", 1);
            if ((r = dump(lx, o)) < 0)
                return r;
        }
        out_put(o, "}", 1);
        return r;
    }
    if (t == JSON_ARRAY) {
        bool first = true;
        if ((r = json_lex_begin_array(lx)) < 0)
            return r;
        out_put(o, "[", 1);
        while ((r = json_lex_next_elem(lx)) > 0) {
            if (!first)
                out_put(o, ",", 1);
            first = false;
            if ((r = dump(lx, o)) < 0)
                return r;
        }
        out_put(o, "]", 1);
        return r;
    }
    if ((r = json_lex_text(lx, &s, &type)) < 0)
        return r;
    out_put(o, s.p, s.len);
    return 0;
}

/* Scan `json` with the given buffer size; dump every top-level value
 * separated by '|'. Returns the status; message into msg. */
static int lex_dump(const char *json, size_t bufsize, struct outbuf *o,
                    char *msg, size_t msglen)
{
    char *path = testlib_write_temp_str(json);
    char err[256];
    struct source *src = source_open(path, err, sizeof(err));
    struct json_lex *lx;
    int r;

    assert_non_null(src);
    lx = json_lex_create(src, bufsize);
    assert_non_null(lx);
    o->n = 0;
    o->s[0] = '\0';
    while ((r = json_lex_peek(lx)) > 0) {
        if (o->n)
            out_put(o, "|", 1);
        if ((r = dump(lx, o)) < 0)
            break;
    }
    snprintf(msg, msglen, "%s", json_lex_message(lx));
    json_lex_destroy(lx);
    source_close(src);
    unlink(path);
    free(path);
    return r;
}

struct run {
    struct span_store *store;
    int rc;
    char err[512];
    char *path;
};

/* Read `len` bytes of input with a backend; keeps the temp path for
 * message checks. */
static void run_ops(struct run *run, const struct ingest_ops *ops,
                    const char *data, size_t len, const char *attr)
{
    struct ingest_opts opts = {.format = TRACE_FORMAT_AUTO,
                               .clock_domain_attr = attr};
    struct source *src;

    run->path = testlib_write_temp(data, len);
    run->store = span_store_create();
    assert_non_null(run->store);
    run->err[0] = '\0';
    src = source_open(run->path, run->err, sizeof(run->err));
    assert_non_null(src);
    run->rc = ops->read(src, run->store, &opts, run->err, sizeof(run->err));
    source_close(src);
}

static void run_str(struct run *run, const struct ingest_ops *ops,
                    const char *json, const char *attr)
{
    run_ops(run, ops, json, strlen(json), attr);
}

/* run_str with --strict. */
static void run_strict(struct run *run, const struct ingest_ops *ops,
                       const char *json)
{
    struct ingest_opts opts = {.format = TRACE_FORMAT_AUTO, .strict = true};
    struct source *src;

    run->path = testlib_write_temp_str(json);
    run->store = span_store_create();
    assert_non_null(run->store);
    run->err[0] = '\0';
    src = source_open(run->path, run->err, sizeof(run->err));
    assert_non_null(src);
    run->rc = ops->read(src, run->store, &opts, run->err, sizeof(run->err));
    source_close(src);
}

static void run_done(struct run *run)
{
    span_store_destroy(run->store);
    unlink(run->path);
    free(run->path);
}

static const struct span_rec *rec_at(const struct run *run, size_t i)
{
    assert_true(i < span_store_count(run->store));
    return span_store_at(run->store, i);
}

static const char *domain_of(const struct run *run, size_t i)
{
    return span_store_domain_name(run->store, rec_at(run, i)->domain);
}

static const char *system_of(const struct run *run, size_t i)
{
    return span_store_system_name(run->store, rec_at(run, i)->system);
}

static void assert_trace(const struct span_rec *r, const char *hex)
{
    char buf[33];

    id_format_trace(r->trace_id, buf);
    assert_string_equal(buf, hex);
}

/* err looks like "PATH:LINE:COL: expected ..." with this line. */
static void assert_msg_at(const struct run *run, int line, const char *what)
{
    char prefix[600];

    snprintf(prefix, sizeof(prefix), "%s:%d:", run->path, line);
    assert_int_equal(run->rc, -INGEST_E_MALFORMED);
    assert_memory_equal(run->err, prefix, strlen(prefix));
    assert_non_null(strstr(run->err, ": expected "));
    if (what)
        assert_non_null(strstr(run->err, what));
}

/* ---- json_lex ---------------------------------------------------------- */

static void test_lex_tokens_any_bufsize(void **state)
{
    const char *doc =
        " {\"a\\u0041\" : [1, -2.5e3, \"x\\\"y\", true, null, {}, []],\n"
        "  \"long key that straddles\":\"\\\\\\\\\", \"z\":false, "
        "\"n\":{\"deep\":[[[0]]]}}\n"
        "[ \"s\\/\\n\" ]  12 \"\" ";
    const char *want = "{aA:[1,-2.5e3,x\"y,true,null,{},[]],"
                       "long key that straddles:\\\\,z:false,"
                       "n:{deep:[[[0]]]}}|[s/\n]|12|";
    struct outbuf o;
    char msg[256];

    (void)state;
    for (size_t i = 0; i < NBUFSIZES; i++) {
        int r = lex_dump(doc, bufsizes[i], &o, msg, sizeof(msg));
        assert_int_equal(r, 0);
        assert_string_equal(o.s, want);
    }
}

static void test_lex_skip_any_bufsize(void **state)
{
    /* Skipped subtree full of traps: escaped quotes, brackets in strings,
     * backslash runs at every position. */
    const char *doc =
        "{\"skip\":{\"a\":\"]}\\\"[{\",\"b\":[\"\\\\\",\"\\\\\\\"\","
        "{\"c\":[1,2,{\"d\":\"\\\\\\\\\"}]}],\"e\":true},"
        "\"keep\":7}";
    char err[256];

    (void)state;
    for (size_t i = 0; i < NBUFSIZES; i++) {
        char *path = testlib_write_temp_str(doc);
        struct source *src = source_open(path, err, sizeof(err));
        struct json_lex *lx = json_lex_create(src, bufsizes[i]);
        struct json_str k;
        int64_t v = 0;

        assert_int_equal(json_lex_begin_object(lx), 1);
        assert_int_equal(json_lex_next_key(lx, &k), 1);
        assert_true(JSON_KEY_IS(&k, "skip"));
        assert_int_equal(json_lex_skip(lx), 0);
        assert_int_equal(json_lex_next_key(lx, &k), 1);
        assert_true(JSON_KEY_IS(&k, "keep"));
        assert_int_equal(json_lex_int64(lx, &v, "int"), 0);
        assert_int_equal(v, 7);
        assert_int_equal(json_lex_next_key(lx, &k), 0);
        assert_int_equal(json_lex_peek(lx), JSON_EOF);
        json_lex_destroy(lx);
        source_close(src);
        unlink(path);
        free(path);
    }
}

static void test_lex_unescape(void **state)
{
    const char in[] = "a\\n\\u00e9\\ud83d\\ude00\\/\\\"\\t\\u0000z";
    const char want[] = "a\n\xc3\xa9\xf0\x9f\x98\x80/\"\t\0z";
    char out[sizeof(in)];
    long n;

    (void)state;
    n = json_unescape(in, strlen(in), out);
    assert_int_equal(n, (long)sizeof(want) - 1);
    assert_memory_equal(out, want, (size_t)n);
    assert_int_equal(json_unescape("\\x", 2, out), -1);
    assert_int_equal(json_unescape("\\u12", 4, out), -1);
    assert_int_equal(json_unescape("ab\\", 3, out), -1);
    /* A lone surrogate is no character (it was U+FFFD). */
    assert_int_equal(json_unescape("\\udc00", 6, out), -1);
    assert_int_equal(json_unescape("\\ud83dx", 7, out), -1);
    assert_int_equal(json_unescape("\\ud83d\\u0041", 12, out), -1);
}

/* Read one integer with json_lex_int64 from `json`. */
static int lex_int(const char *json, int64_t *v)
{
    char *path = testlib_write_temp_str(json);
    char err[256];
    struct source *src = source_open(path, err, sizeof(err));
    struct json_lex *lx = json_lex_create(src, 4);
    int r = json_lex_int64(lx, v, "an integer");

    json_lex_destroy(lx);
    source_close(src);
    unlink(path);
    free(path);
    return r;
}

static void test_lex_numbers(void **state)
{
    int64_t v;

    (void)state;
    assert_int_equal(lex_int("1790000000123456789", &v), 0);
    assert_int_equal(v, 1790000000123456789LL);
    assert_int_equal(lex_int("\"1790000000123456789\"", &v), 0);
    assert_int_equal(v, 1790000000123456789LL);
    assert_int_equal(lex_int("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(lex_int("9223372036854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(lex_int("-9223372036854775808", &v), 0);
    assert_int_equal(v, INT64_MIN);
    assert_int_equal(lex_int("1.5e3", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(lex_int("9223372036854775808", &v), -INGEST_E_MALFORMED);
    assert_int_equal(lex_int("1.5", &v), -INGEST_E_MALFORMED);
    assert_int_equal(lex_int("01", &v), -INGEST_E_MALFORMED);
    assert_int_equal(lex_int("\"12a\"", &v), -INGEST_E_MALFORMED);
    assert_int_equal(lex_int("-", &v), -INGEST_E_MALFORMED);
    assert_int_equal(lex_int("1e999999", &v), -INGEST_E_MALFORMED);
    assert_int_equal(lex_int("true", &v), -INGEST_E_MALFORMED);
}

static void test_lex_error_line_col(void **state)
{
    struct outbuf o;
    char msg[256];

    (void)state;
    for (size_t i = 0; i < NBUFSIZES; i++) {
        int r = lex_dump("{\n  \"a\": [1, 2,, 3]\n}", bufsizes[i], &o, msg,
                         sizeof(msg));
        assert_int_equal(r, -INGEST_E_MALFORMED);
        assert_non_null(strstr(msg, ":2:14: expected a JSON value, found ','"));
        r = lex_dump("[1,\n2,\n\"abc", bufsizes[i], &o, msg, sizeof(msg));
        assert_int_equal(r, -INGEST_E_MALFORMED);
        assert_non_null(strstr(msg, ":3:1: expected a closing '\"'"));
        r = lex_dump("{\"a\" 1}", bufsizes[i], &o, msg, sizeof(msg));
        assert_int_equal(r, -INGEST_E_MALFORMED);
        assert_non_null(strstr(msg, ":1:6: expected ':' after a key"));
        r = lex_dump("[1 2]", bufsizes[i], &o, msg, sizeof(msg));
        assert_non_null(strstr(msg, ":1:4: expected ',' or ']', found '2'"));
    }
}

static void test_lex_hostile(void **state)
{
    struct outbuf o;
    char msg[256];
    char deep[2000];

    (void)state;
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    assert_int_equal(lex_dump(deep, 0, &o, msg, sizeof(msg)),
                     -INGEST_E_MALFORMED);
    assert_non_null(strstr(msg, "nesting at most 512 deep"));
    assert_int_equal(lex_dump("{\"a\":tru", 3, &o, msg, sizeof(msg)),
                     -INGEST_E_MALFORMED);
    assert_int_equal(lex_dump("[1]]", 3, &o, msg, sizeof(msg)),
                     -INGEST_E_MALFORMED);
    {
        static const char nul[] = "[1,\0 2]";
        char *path = testlib_write_temp(nul, sizeof(nul) - 1);
        char err[256];
        struct source *src = source_open(path, err, sizeof(err));
        struct json_lex *lx = json_lex_create(src, 2);
        assert_int_equal(json_lex_skip(lx), -INGEST_E_MALFORMED);
        assert_non_null(strstr(json_lex_message(lx), "byte 0x00"));
        json_lex_destroy(lx);
        source_close(src);
        unlink(path);
        free(path);
    }
}

/* ---- OTLP JSON --------------------------------------------------------- */

/* Resource after scopeSpans, both link spellings, string/number times,
 * enum-name kinds, attribute value before key. */
static const char otlp_doc[] =
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},"
    "\"spans\":[\n"
    " {\"traceId\":\"5b8efff798038103d269b633813fc60c\","
    "\"spanId\":\"eee19b7ec3c1b174\",\"parentSpanId\":\"\",\"name\":\"root\","
    "\"kind\":3,\"startTimeUnixNano\":\"1544712660000000000\","
    "\"endTimeUnixNano\":1544712661000000000,"
    "\"attributes\":[{\"key\":\"rpc.system\",\"value\":{\"stringValue\":"
    "\"grpc\"}},{\"value\":{\"stringValue\":\"kafka\"},\"key\":"
    "\"messaging.system\"},{\"key\":\"x\",\"value\":{\"arrayValue\":"
    "{\"values\":[{\"stringValue\":\"]\"}]}}}],"
    "\"events\":[{\"timeUnixNano\":\"1\",\"name\":\"e\"}],"
    "\"links\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\","
    "\"spanId\":\"00000000000000aa\"},{\"traceId\":"
    "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"00000000000000bb\"}],"
    "\"status\":{}},\n"
    " {\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":"
    "\"00000000000000cc\",\"parentSpanId\":\"eee19b7ec3c1b174\",\"kind\":"
    "\"SPAN_KIND_SERVER\",\"startTimeUnixNano\":5,\"endTimeUnixNano\":\"6\"}"
    "]}],\n"
    "\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"svc\"}},{\"key\":\"host.name\",\"value\":"
    "{\"stringValue\":\"node-1\"}},{\"key\":\"pid\",\"value\":{\"intValue\":"
    "\"7\"}}]}},\n"
    " {\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"other\"}}]},\"scopeSpans\":[{\"spans\":[{\"traceId\":"
    "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"00000000000000dd\","
    "\"kind\":\"SPAN_KIND_PRODUCER\",\"startTimeUnixNano\":\"7\","
    "\"endTimeUnixNano\":\"9\"}]}]}]}\n";

static void check_otlp_doc(const struct run *run)
{
    const struct span_rec *r;
    const struct span_link *l;

    assert_int_equal(run->rc, 0);
    assert_int_equal(span_store_count(run->store), 3);
    r = rec_at(run, 0);
    assert_trace(r, "5b8efff798038103d269b633813fc60c");
    assert_true(r->span_id == 0xeee19b7ec3c1b174ULL);
    assert_int_equal(r->flags & SPAN_F_HAS_PARENT, 0);
    assert_int_equal(r->kind, SPAN_KIND_CLIENT);
    assert_int_equal(r->start_ns, 1544712660000000000LL);
    assert_int_equal(r->end_ns, 1544712661000000000LL);
    assert_string_equal(domain_of(run, 0), "node-1");
    assert_string_equal(system_of(run, 0), "kafka");
    assert_true(r->link != SPAN_NO_LINK);
    l = span_store_link(run->store, r->link);
    assert_true(l->span_id == 0xaa || l->span_id == 0xbb);
    assert_true(l->next != SPAN_NO_LINK);
    r = rec_at(run, 1);
    assert_true(r->span_id == 0xcc);
    assert_true(r->parent_id == 0xeee19b7ec3c1b174ULL);
    assert_int_equal(r->flags & SPAN_F_HAS_PARENT, SPAN_F_HAS_PARENT);
    assert_int_equal(r->kind, SPAN_KIND_SERVER);
    assert_int_equal(r->start_ns, 5);
    assert_int_equal(r->end_ns, 6);
    assert_string_equal(domain_of(run, 1), "node-1");
    assert_int_equal(r->link, SPAN_NO_LINK);
    assert_int_equal(rec_at(run, 2)->kind, SPAN_KIND_PRODUCER);
    assert_string_equal(domain_of(run, 2), "other");
}

static void test_otlp_document(void **state)
{
    struct run run;

    (void)state;
    for (size_t i = 0; i < NBUFSIZES; i++) {
        json_lex_set_default_bufsize(bufsizes[i]);
        run_str(&run, &ingest_otlp_json_ops, otlp_doc, NULL);
        check_otlp_doc(&run);
        run_done(&run);
    }
    json_lex_set_default_bufsize(0);
}

static void test_otlp_user_attr_and_unknown(void **state)
{
    struct run run;

    (void)state;
    run_str(&run, &ingest_otlp_json_ops, otlp_doc, "pid");
    assert_int_equal(run.rc, 0);
    assert_string_equal(domain_of(&run, 0), "7");
    /* The attribute is missing on the second resource: default chain. */
    assert_string_equal(domain_of(&run, 2), "other");
    run_done(&run);

    run_str(&run, &ingest_otlp_json_ops,
            "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
            "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
            "\"0102030405060708\",\"startTimeUnixNano\":1,"
            "\"endTimeUnixNano\":2}]}]}]}",
            NULL);
    assert_int_equal(run.rc, 0);
    assert_string_equal(domain_of(&run, 0), "unknown");
    run_done(&run);

    /* An empty host.name does not count: service.name applies. */
    run_str(&run, &ingest_otlp_json_ops,
            "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
            "\"host.name\",\"value\":{\"stringValue\":\"\"}},{\"key\":"
            "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]},"
            "\"scopeSpans\":[{\"spans\":[{\"traceId\":"
            "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
            "\"0102030405060708\",\"startTimeUnixNano\":1,"
            "\"endTimeUnixNano\":2}]}]}]}",
            NULL);
    assert_int_equal(run.rc, 0);
    assert_string_equal(domain_of(&run, 0), "svc");
    run_done(&run);
}

static void test_otlp_snake_base64_lines(void **state)
{
    /* Collector file exporter: one document per line, proto field names,
     * base64 IDs, legacy instrumentationLibrarySpans. */
    const char *doc =
        "{\"resource_spans\":[{\"resource\":{\"attributes\":[{\"key\":"
        "\"host.id\",\"value\":{\"string_value\":\"h1\"}}]},"
        "\"scope_spans\":[{\"spans\":[{\"trace_id\":"
        "\"W47/95gDgQPSabYzgT/GDA==\",\"span_id\":\"7uGbfsPBsXQ=\","
        "\"parent_span_id\":\"AAAAAAAAAAE=\",\"kind\":2,"
        "\"start_time_unix_nano\":\"10\",\"end_time_unix_nano\":\"20\"}]}]}]}\n"
        "{\"resourceSpans\":[{\"instrumentationLibrarySpans\":[{\"spans\":[{"
        "\"traceId\":\"W47\\/95gDgQPSabYzgT\\/GDA==\",\"spanId\":"
        "\"0000000000000002\",\"startTimeUnixNano\":\"30\","
        "\"endTimeUnixNano\":\"40\"}]}]}]}\n";
    struct run run;

    (void)state;
    run_str(&run, &ingest_otlp_json_ops, doc, NULL);
    assert_int_equal(run.rc, 0);
    assert_int_equal(span_store_count(run.store), 2);
    assert_trace(rec_at(&run, 0), "5b8efff798038103d269b633813fc60c");
    assert_true(rec_at(&run, 0)->span_id == 0xeee19b7ec3c1b174ULL);
    assert_true(rec_at(&run, 0)->parent_id == 1);
    assert_int_equal(rec_at(&run, 0)->kind, SPAN_KIND_SERVER);
    assert_string_equal(domain_of(&run, 0), "h1");
    assert_trace(rec_at(&run, 1), "5b8efff798038103d269b633813fc60c");
    assert_int_equal(rec_at(&run, 1)->end_ns, 40);
    assert_string_equal(domain_of(&run, 1), "unknown");
    run_done(&run);
}

static void test_otlp_gzip(void **state)
{
    char path[] = "/tmp/skewscope-test-gz-XXXXXX";
    int fd = mkstemp(path);
    struct span_store *st = span_store_create();
    struct ingest_opts opts = {.format = TRACE_FORMAT_AUTO};
    char err[512] = "";
    gzFile gz;
    struct run run;

    (void)state;
    assert_true(fd >= 0);
    gz = gzdopen(fd, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, otlp_doc, sizeof(otlp_doc) - 1),
                     (int)(sizeof(otlp_doc) - 1));
    assert_int_equal(gzclose(gz), Z_OK);
    /* Through ingest_file: gzip inflated and the format detected. */
    assert_int_equal(ingest_file(st, path, &opts, err, sizeof(err)), 0);
    run.store = st;
    run.rc = 0;
    check_otlp_doc(&run);
    span_store_destroy(st);
    unlink(path);
}

/* A corrupt gzip stream is malformed input (exit 65), not an unreadable
 * one: it was -INGEST_E_NOINPUT. */
static void test_otlp_read_error(void **state)
{
    char path[] = "/tmp/skewscope-test-gz-XXXXXX";
    int fd = mkstemp(path);
    gzFile gz;
    struct source *src;
    struct span_store *st = span_store_create();
    struct ingest_opts opts = {.format = TRACE_FORMAT_OTLP_JSON};
    char err[512] = "";
    FILE *f;

    (void)state;
    assert_true(fd >= 0);
    gz = gzdopen(fd, "wb");
    assert_int_equal(gzwrite(gz, otlp_doc, sizeof(otlp_doc) - 1),
                     (int)(sizeof(otlp_doc) - 1));
    assert_int_equal(gzclose(gz), Z_OK);
    /* First deflate byte after the 10-byte header: BTYPE=11 is invalid. */
    f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 10, SEEK_SET), 0);
    assert_int_equal(fputc(0xff, f), 0xff);
    fclose(f);
    src = source_open(path, err, sizeof(err));
    assert_non_null(src);
    assert_int_equal(
        ingest_otlp_json_ops.read(src, st, &opts, err, sizeof(err)),
        -INGEST_E_MALFORMED);
    assert_non_null(strstr(err, path));
    source_close(src);
    span_store_destroy(st);
    unlink(path);
}

static void test_otlp_malformed(void **state)
{
    struct run run;
    size_t n = sizeof(otlp_doc) - 1;

    (void)state;
    /* A span without traceId (the Collector accepts it) and one without
     * endTimeUnixNano are counted as invalid; the valid one is read. With
     * --strict the first is refused where it starts. */
    static const char two_bad[] =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[\n"
        "{\"spanId\":\"0000000000000001\",\"startTimeUnixNano\":1,"
        "\"endTimeUnixNano\":2},\n"
        "  {\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
        "\"0000000000000002\",\"startTimeUnixNano\":1},\n"
        "  {\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
        "\"0000000000000003\",\"startTimeUnixNano\":1,"
        "\"endTimeUnixNano\":2}]}]}]}";
    run_str(&run, &ingest_otlp_json_ops, two_bad, NULL);
    assert_int_equal(run.rc, 0);
    assert_int_equal(span_store_count(run.store), 1);
    assert_true(rec_at(&run, 0)->span_id == 3);
    assert_string_equal(domain_of(&run, 0), "unknown");
    assert_int_equal(span_store_invalid(run.store, SPAN_INVALID_EMPTY_TRACE_ID),
                     1);
    assert_int_equal(
        span_store_invalid(run.store, SPAN_INVALID_MISSING_TIMESTAMP), 1);
    assert_int_equal(span_store_invalid_total(run.store), 2);
    run_done(&run);
    run_strict(&run, &ingest_otlp_json_ops, two_bad);
    assert_msg_at(&run, 2, "a traceId in span 1 (starting here");
    assert_int_equal(span_store_count(run.store), 0);
    run_done(&run);

    run_str(&run, &ingest_otlp_json_ops,
            "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
            "\"zz\",\"spanId\":\"1\"}]}]}]}",
            NULL);
    assert_msg_at(&run, 1, "a trace ID");
    run_done(&run);

    /* Every truncation of a valid document is malformed, never a crash. */
    for (size_t cut = 1; cut < n - 1; cut += 7) {
        run_ops(&run, &ingest_otlp_json_ops, otlp_doc, cut, NULL);
        assert_int_equal(run.rc, -INGEST_E_MALFORMED);
        assert_non_null(strstr(run.err, run.path));
        run_done(&run);
    }
}

static void test_otlp_sniff(void **state)
{
    const unsigned char a[] = "\n {\"resourceSpans\" : [";
    const unsigned char b[] = "{\"data\":[{\"traceID\":\"1\",\"spans\":[";
    const unsigned char c[] = "[{\"traceId\":\"1\"}]";

    (void)state;
    assert_true(ingest_otlp_json_ops.sniff(a, sizeof(a) - 1));
    assert_false(ingest_otlp_json_ops.sniff(b, sizeof(b) - 1));
    assert_false(ingest_otlp_json_ops.sniff(c, sizeof(c) - 1));
    assert_true(ingest_jaeger_ops.sniff(b, sizeof(b) - 1));
    assert_false(ingest_jaeger_ops.sniff(c, sizeof(c) - 1));
    assert_true(ingest_zipkin_ops.sniff(c, sizeof(c) - 1));
    assert_false(ingest_zipkin_ops.sniff(a, sizeof(a) - 1));
}

/* ---- Jaeger ------------------------------------------------------------ */

static const char jaeger_doc[] =
    "{\"data\":[{\"traceID\":\"00000000000000000000000000000abc\","
    "\"spans\":[\n"
    "{\"traceID\":\"abc\",\"spanID\":\"0000000000000002\",\"operationName\":"
    "\"op\",\"references\":[{\"refType\":\"FOLLOWS_FROM\",\"traceID\":\"abc\","
    "\"spanID\":\"00000000000000ff\"},{\"refType\":\"CHILD_OF\",\"traceID\":"
    "\"abc\",\"spanID\":\"0000000000000001\"}],\"flags\":1,\"startTime\":"
    "1000,\"duration\":5,\"tags\":[{\"key\":\"span.kind\",\"type\":"
    "\"string\",\"value\":\"server\"},{\"key\":\"rpc.system\",\"type\":"
    "\"string\",\"value\":\"grpc\"},{\"key\":\"n\",\"type\":\"int64\","
    "\"value\":3}],\"logs\":[{\"timestamp\":1001,\"fields\":[]}],"
    "\"processID\":\"p2\",\"warnings\":null},\n"
    "{\"traceID\":\"abc\",\"spanID\":\"0000000000000001\",\"parentSpanID\":"
    "\"0000000000000000\",\"startTime\":900,\"duration\":500,\"tags\":"
    "[{\"value\":\"client\",\"key\":\"span.kind\"}],\"processID\":\"p1\"}],\n"
    "\"processes\":{\"p1\":{\"serviceName\":\"gw\",\"tags\":[{\"key\":"
    "\"ip\",\"type\":\"string\",\"value\":\"10.0.0.1\"}]},\"p2\":{"
    "\"serviceName\":\"dec\",\"tags\":[{\"key\":\"hostname\",\"type\":"
    "\"string\",\"value\":\"node-2\"},{\"key\":\"ip\",\"type\":\"string\","
    "\"value\":\"10.0.0.2\"}]}},\"warnings\":null},\n"
    "{\"traceID\":\"def\",\"processes\":{\"p1\":{\"serviceName\":\"solo\"}},"
    "\"spans\":[{\"traceID\":\"def\",\"spanID\":\"0000000000000009\","
    "\"parentSpanID\":\"0000000000000008\",\"startTime\":1,\"processID\":"
    "\"p1\"}]}],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n";

static void test_jaeger_document(void **state)
{
    struct run run;
    const struct span_rec *r;

    (void)state;
    for (size_t i = 0; i < NBUFSIZES; i++) {
        json_lex_set_default_bufsize(bufsizes[i]);
        run_str(&run, &ingest_jaeger_ops, jaeger_doc, NULL);
        assert_int_equal(run.rc, 0);
        assert_int_equal(span_store_count(run.store), 3);
        r = rec_at(&run, 0);
        assert_trace(r, "00000000000000000000000000000abc");
        assert_true(r->span_id == 2);
        assert_true(r->parent_id == 1);
        assert_int_equal(r->flags & SPAN_F_HAS_PARENT, SPAN_F_HAS_PARENT);
        assert_int_equal(r->kind, SPAN_KIND_SERVER);
        assert_int_equal(r->start_ns, 1000000);
        assert_int_equal(r->end_ns, 1005000);
        assert_string_equal(system_of(&run, 0), "grpc");
        assert_string_equal(domain_of(&run, 0), "node-2");
        assert_true(r->link != SPAN_NO_LINK);
        assert_true(span_store_link(run.store, r->link)->span_id == 0xff);
        r = rec_at(&run, 1);
        assert_int_equal(r->flags & SPAN_F_HAS_PARENT, 0);
        assert_int_equal(r->kind, SPAN_KIND_CLIENT);
        assert_int_equal(r->end_ns, 1400000);
        assert_string_equal(domain_of(&run, 1), "10.0.0.1");
        r = rec_at(&run, 2);
        assert_true(r->parent_id == 8);
        assert_int_equal(r->end_ns, r->start_ns); /* no duration */
        assert_string_equal(domain_of(&run, 2), "solo");
        run_done(&run);
    }
    json_lex_set_default_bufsize(0);
}

static void test_jaeger_variants(void **state)
{
    struct run run;

    (void)state;
    /* Bare array of traces, embedded process, user attribute. */
    run_str(&run, &ingest_jaeger_ops,
            "[{\"traceID\":\"1\",\"spans\":[{\"traceID\":\"1\",\"spanID\":"
            "\"2\",\"startTime\":3,\"duration\":4,\"process\":{"
            "\"serviceName\":\"svc\",\"tags\":[{\"key\":\"zone\",\"value\":"
            "\"z9\"}]}}]}]",
            "zone");
    assert_int_equal(run.rc, 0);
    assert_int_equal(span_store_count(run.store), 1);
    assert_string_equal(domain_of(&run, 0), "z9");
    assert_int_equal(rec_at(&run, 0)->end_ns, 7000);
    run_done(&run);

    /* Single trace object; a processID naming no process of the trace is
     * an invalid span (it landed in "unknown"), a known one is read. */
    static const char unknown_pid[] =
        "{\"traceID\":\"1\",\"spans\":[{\"traceID\":\"1\",\"spanID\":"
        "\"2\",\"startTime\":3,\"processID\":\"nope\"},\n{\"traceID\":"
        "\"1\",\"spanID\":\"3\",\"startTime\":3,\"processID\":\"p1\"},"
        "{\"traceID\":\"1\",\"spanID\":\"4\",\"startTime\":3}],"
        "\"processes\":{\"p1\":{\"serviceName\":\"s1\"}}}";
    run_str(&run, &ingest_jaeger_ops, unknown_pid, NULL);
    assert_int_equal(run.rc, 0);
    assert_int_equal(span_store_count(run.store), 1);
    assert_string_equal(domain_of(&run, 0), "s1");
    assert_int_equal(
        span_store_invalid(run.store, SPAN_INVALID_UNKNOWN_PROCESS), 2);
    run_done(&run);
    run_strict(&run, &ingest_jaeger_ops, unknown_pid);
    assert_msg_at(&run, 2, "a process for processID \"nope\" of span 1");
    run_done(&run);

    /* No startTime: invalid, not fatal; with --strict the old message. */
    static const char no_start[] =
        "{\"data\":[{\"spans\":[\n{\"traceID\":\"1\",\"spanID\":\"2\","
        "\"process\":{\"serviceName\":\"a\"}}]}]}";
    run_str(&run, &ingest_jaeger_ops, no_start, NULL);
    assert_int_equal(run.rc, 0);
    assert_int_equal(span_store_count(run.store), 0);
    assert_int_equal(
        span_store_invalid(run.store, SPAN_INVALID_MISSING_TIMESTAMP), 1);
    run_done(&run);
    run_strict(&run, &ingest_jaeger_ops, no_start);
    assert_msg_at(&run, 2, "a startTime in span 1");
    run_done(&run);

    /* Times past SPAN_TIME_MAX are clamped, not refused; negative ones are
     * malformed. */
    run_str(&run, &ingest_jaeger_ops,
            "{\"data\":[{\"spans\":[{\"traceID\":\"1\",\"spanID\":\"2\","
            "\"startTime\":18446744073709551615,\"process\":{}}]}]}",
            NULL);
    assert_int_equal(run.rc, 0);
    assert_true(rec_at(&run, 0)->start_ns == SPAN_TIME_MAX);
    run_done(&run);
    run_str(&run, &ingest_jaeger_ops,
            "{\"data\":[{\"spans\":[{\"traceID\":\"1\",\"spanID\":\"2\","
            "\"startTime\":-5}]}]}",
            NULL);
    assert_msg_at(&run, 1, "startTime as an unsigned integer");
    assert_msg_at(&run, 1, "negative");
    run_done(&run);
}

/* ---- Zipkin ------------------------------------------------------------ */

static const char zipkin_doc[] =
    "[{\"traceId\":\"abc\",\"id\":\"0000000000000001\",\"name\":\"x\","
    "\"kind\":\"CLIENT\",\"timestamp\":10,\"duration\":5,"
    "\"localEndpoint\":{\"serviceName\":\"gw\",\"ipv4\":\"10.0.0.1\","
    "\"port\":80},\"remoteEndpoint\":{\"ipv4\":\"10.0.0.2\"},"
    "\"annotations\":[{\"timestamp\":11,\"value\":\"cs\"}],"
    "\"tags\":{\"messaging.system\":\"kafka\",\"zone\":\"z1\"},"
    "\"debug\":false},\n"
    " {\"traceId\":\"0000000000000abc\",\"id\":\"0000000000000001\","
    "\"parentId\":\"0000000000000007\",\"kind\":\"SERVER\",\"shared\":true,"
    "\"timestamp\":11,\"localEndpoint\":{\"serviceName\":\"dec\"}}]\n"
    "[{\"traceId\":\"00000000000000000000000000000abc\",\"id\":"
    "\"0000000000000003\",\"parentId\":\"0000000000000001\",\"kind\":"
    "\"PRODUCER\",\"timestamp\":12,\"duration\":1}]";

static void test_zipkin_document(void **state)
{
    struct run run;
    const struct span_rec *r;

    (void)state;
    for (size_t i = 0; i < NBUFSIZES; i++) {
        json_lex_set_default_bufsize(bufsizes[i]);
        run_str(&run, &ingest_zipkin_ops, zipkin_doc, NULL);
        assert_int_equal(run.rc, 0);
        assert_int_equal(span_store_count(run.store), 3);
        r = rec_at(&run, 0);
        assert_trace(r, "00000000000000000000000000000abc");
        assert_int_equal(r->kind, SPAN_KIND_CLIENT);
        assert_int_equal(r->start_ns, 10000);
        assert_int_equal(r->end_ns, 15000);
        assert_int_equal(r->flags, 0);
        assert_string_equal(domain_of(&run, 0), "10.0.0.1");
        assert_string_equal(system_of(&run, 0), "kafka");
        r = rec_at(&run, 1);
        assert_int_equal(r->flags, SPAN_F_SHARED | SPAN_F_HAS_PARENT);
        assert_true(r->parent_id == 1 && r->span_id == 1);
        assert_int_equal(r->end_ns, 11000);
        assert_string_equal(domain_of(&run, 1), "dec");
        r = rec_at(&run, 2);
        assert_int_equal(r->kind, SPAN_KIND_PRODUCER);
        assert_true(r->parent_id == 1);
        assert_string_equal(domain_of(&run, 2), "unknown");
        run_done(&run);
    }
    json_lex_set_default_bufsize(0);

    run_str(&run, &ingest_zipkin_ops, zipkin_doc, "zone");
    assert_string_equal(domain_of(&run, 0), "z1");
    assert_string_equal(domain_of(&run, 1), "dec");
    run_done(&run);
}

static void test_zipkin_malformed(void **state)
{
    struct run run;

    (void)state;
    /* A span without timestamp (an incomplete span, which the Zipkin API
     * allows) is counted as invalid; it failed the whole file. */
    static const char no_ts[] =
        "[{\"traceId\":\"abc\",\"id\":\"1\",\"timestamp\":1},\n"
        " {\"traceId\":\"abc\",\"id\":\"2\"}]";
    run_str(&run, &ingest_zipkin_ops, no_ts, NULL);
    assert_int_equal(run.rc, 0);
    assert_int_equal(span_store_count(run.store), 1);
    assert_int_equal(
        span_store_invalid(run.store, SPAN_INVALID_MISSING_TIMESTAMP), 1);
    run_done(&run);
    run_strict(&run, &ingest_zipkin_ops, no_ts);
    assert_msg_at(&run, 2, "a timestamp in span 2");
    assert_int_equal(span_store_count(run.store), 1);
    run_done(&run);

    run_str(&run, &ingest_zipkin_ops, "[{\"traceId\":\"abc\",\"id\":\"xyz\"}]",
            NULL);
    assert_msg_at(&run, 1, "an id");
    run_done(&run);

    run_str(&run, &ingest_zipkin_ops, "[{\"traceId\":\"abc\"}] garbage", NULL);
    assert_int_equal(run.rc, -INGEST_E_MALFORMED);
    run_done(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lex_tokens_any_bufsize),
        cmocka_unit_test(test_lex_skip_any_bufsize),
        cmocka_unit_test(test_lex_unescape),
        cmocka_unit_test(test_lex_numbers),
        cmocka_unit_test(test_lex_error_line_col),
        cmocka_unit_test(test_lex_hostile),
        cmocka_unit_test(test_otlp_document),
        cmocka_unit_test(test_otlp_user_attr_and_unknown),
        cmocka_unit_test(test_otlp_snake_base64_lines),
        cmocka_unit_test(test_otlp_gzip),
        cmocka_unit_test(test_otlp_read_error),
        cmocka_unit_test(test_otlp_malformed),
        cmocka_unit_test(test_otlp_sniff),
        cmocka_unit_test(test_jaeger_document),
        cmocka_unit_test(test_jaeger_variants),
        cmocka_unit_test(test_zipkin_document),
        cmocka_unit_test(test_zipkin_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
