/* Hostile input against the readers' contract (ingest.h), one test per
 * defect of issue 9's reader items, each of which failed before:
 *  - zero bytes are no trace: /dev/zero, a gzip of zeros and zeros after a
 *    first frame fail at once with the offset (they read forever, or as
 *    "0 spans"); an empty file and one empty message still read as 0 spans;
 *  - one UTF-8 rule: raw bytes and lone surrogate escapes in any JSON
 *    string, skipped or not, and in every string field of the OTLP request
 *    (resource, scope, span, event, link, status, entity refs; arrays and
 *    maps), refused with their position by the file readers and by serve's
 *    body decoder (which answers 400); NULs are accepted and printed whole;
 *  - shapes: api_v3 {"result": ...} and bare Jaeger span arrays are read,
 *    unrecognised documents are malformed (they were 0 spans), recognised
 *    empty ones are fine;
 *  - edges: corrupt gzip is malformed (not unreadable), a document after
 *    70 KB of white space reads, negative times are refused, 2^64 - 1 is the
 *    same clamped time in JSON and protobuf, and start = 2^64 - 1 with
 *    end = 0 counts as a negative duration. */
#define _GNU_SOURCE /* memmem */
#include "testlib.h"
#include "wire_buf.h"

#include <signal.h>
#include <zlib.h>

#include "analysis/causality.h"
#include "analysis/edges.h"
#include "ingest/ingest.h"
#include "ingest/json_lex.h"
#include "ingest/otlp_wire.h"
#include "ingest/source.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/report.h"
#include "serve/receiver.h"
#include "util/utf8.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KeyValueList;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__EntityRef EntityRef;

#define T0 UINT64_C(1790000000000000000)

/* ---- helpers ------------------------------------------------------------ */

struct result {
    int rc;
    char err[1024];
    struct span_store *s;
};

/* ingest_file() over `len` bytes written to a temp file (or over `path`
 * when data is NULL), with format fmt and --strict when asked. */
static void read_bytes(struct result *r, const void *data, size_t len,
                       enum trace_format fmt, bool strict)
{
    struct ingest_opts o = {.format = fmt, .strict = strict};
    char *path = testlib_write_temp(data, len);

    r->s = span_store_create();
    assert_non_null(r->s);
    r->err[0] = '\0';
    r->rc = ingest_file(r->s, path, &o, r->err, sizeof(r->err));
    unlink(path);
    free(path);
}

static void read_str(struct result *r, const char *s, enum trace_format fmt)
{
    read_bytes(r, s, strlen(s), fmt, false);
}

static void done(struct result *r)
{
    span_store_destroy(r->s);
}

static void expect_malformed(const struct result *r, const char *what)
{
    if (r->rc != -INGEST_E_MALFORMED || !strstr(r->err, what))
        fail_msg("rc %d, message \"%s\", wanted \"%s\"", r->rc, r->err, what);
}

static unsigned char *gzip_bytes(const void *p, size_t n, size_t *out_len)
{
    uLongf cap = compressBound((uLong)n) + 64;
    unsigned char *out = malloc(cap);
    z_stream z;

    assert_non_null(out);
    memset(&z, 0, sizeof(z));
    assert_int_equal(
        deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
        Z_OK);
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "reading zero bytes did not end in 20 s\n";
    if (write(2, msg, sizeof(msg) - 1) < 0)
        _exit(3);
    _exit(2);
}

/* ---- zero bytes --------------------------------------------------------- */

static void test_zero_bytes(void **state)
{
    struct result r;
    size_t n = 4 << 20, gzlen;
    unsigned char *zeros = calloc(1, n), *gz;
    struct ingest_opts o = {.format = TRACE_FORMAT_AUTO};
    char err[512];
    struct span_store *s;

    (void)state;
    assert_non_null(zeros);
    signal(SIGALRM, on_alarm);
    alarm(20); /* it used to read /dev/zero forever */
    s = span_store_create();
    assert_int_equal(ingest_file(s, "/dev/zero", &o, err, sizeof(err)),
                     -INGEST_E_MALFORMED);
    assert_non_null(strstr(err, "/dev/zero: byte 0: "));
    assert_non_null(strstr(err, "zero bytes are not a trace"));
    span_store_destroy(s);
    alarm(0);

    /* 4 MiB of zeros, plain and gzip'd, auto and forced: 65, not 0 spans. */
    read_bytes(&r, zeros, n, TRACE_FORMAT_AUTO, false);
    expect_malformed(&r, "byte 0: expected a message length prefix");
    done(&r);
    gz = gzip_bytes(zeros, n, &gzlen);
    read_bytes(&r, gz, gzlen, TRACE_FORMAT_OTLP_PROTO, false);
    expect_malformed(&r, "a run of 16 zero bytes");
    done(&r);
    free(gz);
    /* A first frame that does not parse, then zeros: the plain reading
     * fails at the first zero tag instead of buffering up to 2 GiB. */
    zeros[0] = 0x0a;
    read_bytes(&r, zeros, n, TRACE_FORMAT_OTLP_PROTO, false);
    expect_malformed(&r, "byte 2: expected a field tag");
    done(&r);
    zeros[0] = 0;

    /* Legitimately empty: an empty file, one empty message, a short run. */
    read_bytes(&r, "", 0, TRACE_FORMAT_AUTO, false);
    assert_int_equal(r.rc, 0);
    done(&r);
    read_bytes(&r, zeros, 1, TRACE_FORMAT_AUTO, false);
    assert_int_equal(r.rc, 0);
    assert_int_equal(span_store_count(r.s), 0);
    done(&r);
    read_bytes(&r, zeros, 15, TRACE_FORMAT_OTLP_PROTO, false);
    assert_int_equal(r.rc, 0);
    done(&r);
    read_bytes(&r, zeros, 16, TRACE_FORMAT_OTLP_PROTO, false);
    expect_malformed(&r, "zero bytes");
    done(&r);
    /* Zeros inside a message: field number 0 (protobuf has none). */
    read_bytes(&r, "\x0a\x02\x00\x00", 4, TRACE_FORMAT_OTLP_PROTO, false);
    expect_malformed(&r, "field number 0");
    done(&r);
    free(zeros);
}

/* ---- UTF-8: JSON ----------------------------------------------------------
 */

/* An OTLP JSON document with `bad` in place of @ (a member the reader
 * skips, a key, a value it reads). */
static char *otlp_with(const char *tmpl, const char *bad)
{
    const char *at = strchr(tmpl, '@');
    char *out = malloc(strlen(tmpl) + strlen(bad) + 1);

    assert_non_null(at);
    assert_non_null(out);
    sprintf(out, "%.*s%s%s", (int)(at - tmpl), tmpl, bad, at + 1);
    return out;
}

static const char *const json_spots[] = {
    /* span name (skipped) */
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
    "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000001\","
    "\"name\":\"x@y\",\"startTimeUnixNano\":1,\"endTimeUnixNano\":2}]}]}]}",
    /* a key of an unknown member (skipped whole) */
    "{\"resourceSpans\":[{\"x\":{\"k@\":[1,{\"a\":\"b\"}]},\"scopeSpans\":[]}]"
    "}",
    /* the host.name the reader keeps as the clock domain */
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
    "\"host.name\",\"value\":{\"stringValue\":\"n@\"}}]}}]}",
    /* an event attribute value deep in a skipped array */
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"events\":[{"
    "\"attributes\":[{\"key\":\"k\",\"value\":{\"arrayValue\":{\"values\":"
    "[{\"stringValue\":\"@\"}]}}}]}]}]}]}]}",
};

static void test_utf8_json(void **state)
{
    static const struct {
        const char *bytes, *what;
    } bad[] = {
        {"\xff", "valid UTF-8, found byte 0xff"},
        {"\xc0\x80", "valid UTF-8, found byte 0xc0"},         /* overlong NUL */
        {"\xed\xa0\x80", "valid UTF-8, found byte 0xed"},     /* surrogate */
        {"\xf4\x90\x80\x80", "valid UTF-8, found byte 0xf4"}, /* > 10FFFF */
        {"\xe2\x82", "valid UTF-8, found byte 0xe2"},         /* cut off */
        {"\\ud800", "a lone surrogate is not a character"},
        {"\\udc00", "a lone surrogate is not a character"},
        {"\\ud800\\u0041", "a lone surrogate is not a character"},
        {"\\q", "a JSON escape"},
    };
    static const size_t bufs[] = {1, 2, 3, 7, 0};

    (void)state;
    for (size_t i = 0; i < sizeof(json_spots) / sizeof(json_spots[0]); i++)
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++)
            for (size_t k = 0; k < sizeof(bufs) / sizeof(bufs[0]); k++) {
                char *doc = otlp_with(json_spots[i], bad[b].bytes);
                char col[32];
                struct result r;
                json_lex_set_default_bufsize(bufs[k]);
                read_str(&r, doc, TRACE_FORMAT_OTLP_JSON);
                expect_malformed(&r, bad[b].what);
                /* the column of the bad byte (or escape), 1-based */
                snprintf(col, sizeof(col), ":1:%zu: expected",
                         (size_t)(strchr(json_spots[i], '@') - json_spots[i]) +
                             1);
                if (!strstr(r.err, col))
                    fail_msg("spot %zu bad %zu buf %zu: %s (want %s)", i, b,
                             bufs[k], r.err, col);
                done(&r);
                free(doc);
            }
    json_lex_set_default_bufsize(0);

    /* Valid: a surrogate pair, 4-byte UTF-8, \u0000 and a raw multi-byte
     * name, in the same spots. */
    for (size_t i = 0; i < sizeof(json_spots) / sizeof(json_spots[0]); i++) {
        char *doc = otlp_with(json_spots[i],
                              "\\ud83d\\ude00\xf0\x9f\x98\x80\\u0000\xc3\xa9");
        struct result r;
        read_str(&r, doc, TRACE_FORMAT_OTLP_JSON);
        if (r.rc != 0)
            fail_msg("spot %zu: %s", i, r.err);
        done(&r);
        free(doc);
    }

    /* Jaeger and Zipkin: the same rule. */
    static const char jdoc[] = "{\"data\":[{\"traceID\":\"1\",\"spans\":[],"
                               "\"warnings\":[\"\\udfff\"]}]}";
    static const char zdoc[] =
        "[{\"traceId\":\"1\",\"id\":\"2\",\"timestamp\":1,\"annotations\":"
        "[{\"value\":\"\xfe\"}]}]";
    char want[64];
    struct result r;
    read_str(&r, jdoc, TRACE_FORMAT_JAEGER);
    snprintf(want, sizeof(want), ":1:%zu: expected a surrogate escape pair",
             (size_t)(strchr(jdoc, '\\') - jdoc) + 1);
    expect_malformed(&r, want);
    done(&r);
    read_str(&r, zdoc, TRACE_FORMAT_ZIPKIN);
    snprintf(want, sizeof(want),
             ":1:%zu: expected valid UTF-8, found byte 0xfe",
             (size_t)(strchr(zdoc, '\xfe') - zdoc) + 1);
    expect_malformed(&r, want);
    done(&r);
}

/* ---- UTF-8: every string field of the OTLP protobuf request ------------- */

enum {
    S_RES_KEY,
    S_RES_VALUE,
    S_RES_ARRAY_ELEM,
    S_RES_KVLIST_KEY,
    S_RES_KVLIST_VALUE,
    S_ENTITY_SCHEMA_URL,
    S_ENTITY_TYPE,
    S_ENTITY_ID_KEY,
    S_ENTITY_DESC_KEY,
    S_RS_SCHEMA_URL,
    S_SCOPE_NAME,
    S_SCOPE_VERSION,
    S_SCOPE_ATTR_KEY,
    S_SS_SCHEMA_URL,
    S_SPAN_TRACE_STATE,
    S_SPAN_NAME,
    S_SPAN_ATTR_KEY,
    S_SPAN_ATTR_VALUE,
    S_SPAN_SYSTEM,
    S_EVENT_NAME,
    S_EVENT_ATTR_VALUE,
    S_LINK_TRACE_STATE,
    S_LINK_ATTR_KEY,
    S_STATUS_MESSAGE,
    S_HOST_NAME,
    NSTRINGS
};

/* The strings of the request: "s<k>" each, or "bad\xff<k>" for slot
 * `bad`. */
static char strs[NSTRINGS][16];

static char *str_for(int k)
{
    return strs[k];
}

static void set_strings(int bad)
{
    for (int k = 0; k < NSTRINGS; k++)
        snprintf(strs[k], sizeof(strs[k]), "%s%d", k == bad ? "bad\xff" : "s",
                 k);
}

static void kv_s(KeyValue *kv, AnyValue *v, char *key, char *val)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = key;
    kv->value = v;
    v->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = val;
}

/* A request with one span that has every string field OTLP defines. */
static void build_full(struct buf *out)
{
    static uint8_t tid[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                              9, 10, 11, 12, 13, 14, 15, 16};
    static uint8_t sid[8] = {1, 2, 3, 4, 5, 6, 7, 8},
                   lsid[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    KeyValue rkv[4], inner[1], skv[2], ekv, lkv, sckv;
    AnyValue rv[4], elem, inner_v, sv[2], ev, lv, scv;
    KeyValue *rkvp[4] = {&rkv[0], &rkv[1], &rkv[2], &rkv[3]},
             *skvp[2] = {&skv[0], &skv[1]}, *ekvp = &ekv, *lkvp = &lkv,
             *sckvp = &sckv, *innerp = &inner[0];
    AnyValue *elemp = &elem;
    ArrayValue arr = OPENTELEMETRY__PROTO__COMMON__V1__ARRAY_VALUE__INIT;
    KeyValueList kvl = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
    EntityRef ent = OPENTELEMETRY__PROTO__COMMON__V1__ENTITY_REF__INIT;
    EntityRef *entp = &ent;
    char *idk[1] = {str_for(S_ENTITY_ID_KEY)},
         *desck[1] = {str_for(S_ENTITY_DESC_KEY)};
    Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Scope scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    Event evt = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__EVENT__INIT;
    Event *evtp = &evt;
    Link ln = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__LINK__INIT;
    Link *lnp = &ln;
    Status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    Span sp = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    Span *spp = &sp;
    ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ScopeSpans *ssp = &ss;
    ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    ResourceSpans *rsp = &rs;
    Request req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    size_t n;

    kv_s(&rkv[0], &rv[0], str_for(S_RES_KEY), str_for(S_RES_VALUE));
    kv_s(&rkv[1], &rv[1], "arr", NULL);
    opentelemetry__proto__common__v1__any_value__init(&elem);
    elem.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    elem.string_value = str_for(S_RES_ARRAY_ELEM);
    arr.values = &elemp;
    arr.n_values = 1;
    rv[1].value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    rv[1].array_value = &arr;
    kv_s(&inner[0], &inner_v, str_for(S_RES_KVLIST_KEY),
         str_for(S_RES_KVLIST_VALUE));
    kvl.values = &innerp;
    kvl.n_values = 1;
    kv_s(&rkv[2], &rv[2], "map", NULL);
    rv[2].value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    rv[2].kvlist_value = &kvl;
    kv_s(&rkv[3], &rv[3], "host.name", str_for(S_HOST_NAME));
    res.attributes = rkvp;
    res.n_attributes = 4;
    ent.schema_url = str_for(S_ENTITY_SCHEMA_URL);
    ent.type = str_for(S_ENTITY_TYPE);
    ent.id_keys = idk;
    ent.n_id_keys = 1;
    ent.description_keys = desck;
    ent.n_description_keys = 1;
    res.entity_refs = &entp;
    res.n_entity_refs = 1;
    scope.name = str_for(S_SCOPE_NAME);
    scope.version = str_for(S_SCOPE_VERSION);
    kv_s(&sckv, &scv, str_for(S_SCOPE_ATTR_KEY), "v");
    scope.attributes = &sckvp;
    scope.n_attributes = 1;
    kv_s(&skv[0], &sv[0], str_for(S_SPAN_ATTR_KEY), str_for(S_SPAN_ATTR_VALUE));
    kv_s(&skv[1], &sv[1], "messaging.system", str_for(S_SPAN_SYSTEM));
    kv_s(&ekv, &ev, "k", str_for(S_EVENT_ATTR_VALUE));
    kv_s(&lkv, &lv, str_for(S_LINK_ATTR_KEY), "v");
    evt.time_unix_nano = T0 + 5;
    evt.name = str_for(S_EVENT_NAME);
    evt.attributes = &ekvp;
    evt.n_attributes = 1;
    ln.trace_id.data = tid;
    ln.trace_id.len = 16;
    ln.span_id.data = lsid;
    ln.span_id.len = 8;
    ln.trace_state = str_for(S_LINK_TRACE_STATE);
    ln.attributes = &lkvp;
    ln.n_attributes = 1;
    st.message = str_for(S_STATUS_MESSAGE);
    sp.trace_id.data = tid;
    sp.trace_id.len = 16;
    sp.span_id.data = sid;
    sp.span_id.len = 8;
    sp.trace_state = str_for(S_SPAN_TRACE_STATE);
    sp.name = str_for(S_SPAN_NAME);
    sp.start_time_unix_nano = T0;
    sp.end_time_unix_nano = T0 + 10;
    sp.attributes = skvp;
    sp.n_attributes = 2;
    sp.events = &evtp;
    sp.n_events = 1;
    sp.links = &lnp;
    sp.n_links = 1;
    sp.status = &st;
    ss.scope = &scope;
    ss.spans = &spp;
    ss.n_spans = 1;
    ss.schema_url = str_for(S_SS_SCHEMA_URL);
    rs.resource = &res;
    rs.scope_spans = &ssp;
    rs.n_scope_spans = 1;
    rs.schema_url = str_for(S_RS_SCHEMA_URL);
    req.resource_spans = &rsp;
    req.n_resource_spans = 1;
    n = protobuf_c_message_get_packed_size(&req.base);
    out->p = realloc(out->p, n + 1);
    assert_non_null(out->p);
    out->len = protobuf_c_message_pack(&req.base, out->p);
}

static void test_utf8_proto_every_field(void **state)
{
    struct buf b = {0};
    char want[64], err[1024];

    (void)state;
    set_strings(-1);
    build_full(&b);
    {
        struct span_store *s = span_store_create();
        struct otlp_wire *w = otlp_wire_create(s, NULL, "in.pb");
        assert_int_equal(otlp_wire_scan(w, b.p, b.len, 0, 0, err, sizeof(err)),
                         0);
        assert_int_equal(span_store_count(s), 1);
        assert_string_equal(span_store_domain_name(s, 0), str_for(S_HOST_NAME));
        otlp_wire_destroy(w);
        span_store_destroy(s);
    }
    for (int k = 0; k < NSTRINGS; k++) {
        struct span_store *s = span_store_create();
        struct otlp_wire *w = otlp_wire_create(s, NULL, "in.pb");
        const uint8_t *bad;
        size_t decoded;
        int rc;

        set_strings(k);
        build_full(&b);
        bad = memmem(b.p, b.len, "bad\xff", 4);
        assert_non_null(bad);
        rc = otlp_wire_scan(w, b.p, b.len, 0, 0, err, sizeof(err));
        snprintf(want, sizeof(want), "in.pb: byte %zu: expected valid UTF-8",
                 (size_t)(bad + 3 - b.p));
        if (rc != -INGEST_E_MALFORMED || !strstr(err, want))
            fail_msg("string slot %d: rc %d: %s (want %s)", k, rc, err, want);
        otlp_wire_destroy(w);
        span_store_destroy(s);
        /* serve: the same body is refused before it is acknowledged */
        s = span_store_create();
        err[0] = '\0';
        rc = receiver_decode_body(b.p, b.len, RECEIVER_CONTENT_PROTOBUF, false,
                                  1 << 20, NULL, s, &decoded, err, sizeof(err));
        assert_int_equal(rc, -RECEIVER_DECODE_MALFORMED);
        assert_non_null(strstr(err, "request body: byte "));
        assert_non_null(strstr(err, "valid UTF-8"));
        span_store_destroy(s);
    }
    free(b.p);
}

/* U+0000 is a character: a NUL inside protobuf strings is accepted. */
static void test_nul_proto_strings(void **state)
{
    struct buf sp = {0}, ss = {0}, rs = {0}, req = {0};
    static const uint8_t tid[16] = {1}, sid[8] = {2};
    uint8_t fixed[9] = {0x39};
    char err[512];
    struct span_store *s = span_store_create();
    struct otlp_wire *w = otlp_wire_create(s, NULL, "in.pb");

    (void)state;
    buf_field(&sp, 1, tid, 16);
    buf_field(&sp, 2, sid, 8);
    buf_field(&sp, 5, "a\0b\xc3\xa9", 5); /* name */
    buf_put(&sp, fixed, 9);
    buf_field(&ss, 2, sp.p, sp.len);
    buf_field(&rs, 2, ss.p, ss.len);
    buf_field(&req, 1, rs.p, rs.len);
    assert_int_equal(otlp_wire_scan(w, req.p, req.len, 0, 0, err, sizeof(err)),
                     0);
    assert_int_equal(span_store_count(s), 1);
    otlp_wire_destroy(w);
    span_store_destroy(s);
    free(sp.p);
    free(ss.p);
    free(rs.p);
    free(req.p);
}

/* serve's JSON bodies: the position of the bad byte in the 400 message. */
static void test_utf8_serve_json(void **state)
{
    const char *body = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                       "\"name\":\"\\ud800\"}]}]}]}";
    struct span_store *s = span_store_create();
    char err[512] = "", want[64];
    size_t decoded;

    (void)state;
    assert_int_equal(receiver_decode_body(body, strlen(body),
                                          RECEIVER_CONTENT_JSON, false, 1 << 20,
                                          NULL, s, &decoded, err, sizeof(err)),
                     -RECEIVER_DECODE_MALFORMED);
    snprintf(want, sizeof(want), "request body:1:%zu: expected a surrogate",
             (size_t)(strchr(body, '\\') - body) + 1);
    if (!strstr(err, want))
        fail_msg("%s (want %s)", err, want);
    span_store_destroy(s);
}

/* ---- shapes ---------------------------------------------------------- */

static const char one_span_json[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"host.name\","
    "\"value\":{\"stringValue\":\"h1\"}}]},\"scopeSpans\":[{\"spans\":[{"
    "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
    "\"0000000000000001\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":"
    "\"2\"}]}]}]}";

static void test_shapes(void **state)
{
    struct result r;
    char doc[1024];

    (void)state;
    /* Jaeger api_v3: OTLP JSON in "result", one chunk per line. */
    snprintf(doc, sizeof(doc), "{\"result\":%s}\n{\"result\":%s}\n",
             one_span_json, one_span_json);
    read_str(&r, doc, TRACE_FORMAT_AUTO);
    assert_int_equal(r.rc, 0);
    assert_int_equal(span_store_count(r.s), 2);
    assert_string_equal(span_store_domain_name(r.s, 0), "h1");
    done(&r);
    read_str(&r, doc, TRACE_FORMAT_JAEGER);
    expect_malformed(&r, ":1:1: expected a Jaeger JSON document");
    expect_malformed(&r, "use --format otlp-json");
    done(&r);

    /* A bare array of Jaeger spans, process inline or unknown. */
    static const char spans[] =
        "[{\"traceID\":\"00000000000000000000000000000abc\",\"spanID\":"
        "\"0000000000000001\",\"startTime\":10,\"duration\":5,\"processID\":"
        "\"p1\",\"process\":{\"serviceName\":\"svc\",\"tags\":[{\"key\":"
        "\"hostname\",\"value\":\"n1\"}]}},\n"
        " {\"traceID\":\"abc\",\"spanID\":\"0000000000000002\",\"references\":"
        "[{\"refType\":\"CHILD_OF\",\"traceID\":\"abc\",\"spanID\":"
        "\"0000000000000001\"}],\"startTime\":11,\"duration\":1,"
        "\"process\":{\"serviceName\":\"svc2\"}},\n"
        " {\"traceID\":\"abc\",\"spanID\":\"0000000000000003\",\"startTime\":"
        "11,\"processID\":\"p9\"}]";
    for (int f = 0; f < 2; f++) {
        read_str(&r, spans, f ? TRACE_FORMAT_JAEGER : TRACE_FORMAT_AUTO);
        assert_int_equal(r.rc, 0);
        assert_int_equal(span_store_count(r.s), 2);
        assert_string_equal(
            span_store_domain_name(r.s, span_store_at(r.s, 0)->domain), "n1");
        assert_true(span_store_at(r.s, 1)->parent_id == 1);
        assert_int_equal(span_store_at(r.s, 1)->end_ns, 12000);
        assert_int_equal(span_store_invalid(r.s, SPAN_INVALID_UNKNOWN_PROCESS),
                         1);
        done(&r);
    }

    /* Unrecognised: 65 with what was expected, not 0 spans. */
    read_str(&r, "\n\n  {\"foo\": [1]}", TRACE_FORMAT_OTLP_JSON);
    expect_malformed(&r, ":3:3: expected an OTLP JSON document");
    done(&r);
    read_str(&r, "{\"result\":{\"spans\":[]}}", TRACE_FORMAT_ZIPKIN);
    expect_malformed(&r, "expected a Zipkin v2 JSON list");
    done(&r);
    read_bytes(&r, "\x12\x03\x0a\x01\x41", 5, TRACE_FORMAT_OTLP_PROTO, false);
    expect_malformed(&r, "found only 1 unknown field");
    done(&r);

    /* Recognised and empty: fine. */
    static const char *const empty[] = {"{\"resourceSpans\":[]}",
                                        "{\"data\":[]}", "[]",
                                        "{\"data\":null}", "  \n"};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        read_str(&r, empty[i], TRACE_FORMAT_AUTO);
        if (r.rc != 0)
            fail_msg("%s: %s", empty[i], r.err);
        assert_int_equal(span_store_count(r.s), 0);
        done(&r);
    }
    read_str(&r, "[]", TRACE_FORMAT_JAEGER);
    assert_int_equal(r.rc, 0);
    done(&r);
}

/* ---- edges ------------------------------------------------------------ */

static void test_corrupt_gzip(void **state)
{
    size_t len;
    unsigned char *gz = gzip_bytes(one_span_json, strlen(one_span_json), &len);
    unsigned char *t = malloc(2 * len + 16);
    struct result r;

    (void)state;
    /* CRC error: it was exit 66 (unreadable). */
    memcpy(t, gz, len);
    t[len - 8] ^= 0x55;
    read_bytes(&r, t, len, TRACE_FORMAT_AUTO, false);
    expect_malformed(&r, "gzip: byte ");
    done(&r);
    /* Trailing garbage after the last member. */
    memcpy(t, gz, len);
    memcpy(t + len, "garbage", 7);
    read_bytes(&r, t, len + 7, TRACE_FORMAT_AUTO, false);
    expect_malformed(&r, "trailing bytes after the gzip data");
    done(&r);
    /* Truncated: the stream ends inside the member (read as short
     * before). */
    read_bytes(&r, gz, len - 4, TRACE_FORMAT_AUTO, false);
    expect_malformed(&r, "truncated");
    done(&r);
    /* Two whole members are fine. */
    memcpy(t, gz, len);
    memcpy(t + len, gz, len);
    read_bytes(&r, t, 2 * len, TRACE_FORMAT_AUTO, false);
    assert_int_equal(r.rc, 0);
    assert_int_equal(span_store_count(r.s), 2);
    done(&r);
    free(gz);
    free(t);
}

static void test_leading_white_space(void **state)
{
    size_t pad = 70 * 1024, n = strlen(one_span_json);
    char *doc = malloc(pad + n + 64);
    struct result r;

    (void)state;
    for (size_t i = 0; i < pad; i++)
        doc[i] = i % 100 == 99 ? '\n' : ' ';
    memcpy(doc + pad, one_span_json, n);
    read_bytes(&r, doc, pad + n, TRACE_FORMAT_AUTO, false);
    if (r.rc != 0)
        fail_msg("%s", r.err);
    assert_int_equal(span_store_count(r.s), 1);
    done(&r);
    /* Positions after the blank run stay right: 716 newlines, the last
     * at offset 71599; the 'x' at offset pad + 17. */
    memcpy(doc + pad, "{\"resourceSpans\":x}", 19);
    read_bytes(&r, doc, pad + 19, TRACE_FORMAT_AUTO, false);
    expect_malformed(&r, ":717:98: expected an array, found 'x'");
    done(&r);
    /* Only white space, longer than detection looks: 0 spans. */
    read_bytes(&r, doc, pad, TRACE_FORMAT_AUTO, false);
    assert_int_equal(r.rc, 0);
    done(&r);
    free(doc);
}

/* Times: negative refused; 2^64 - 1 clamped alike in JSON and protobuf;
 * start = 2^64 - 1, end = 0 is a negative duration in both. */
static void test_times(void **state)
{
    struct result r;
    char doc[1024];
    struct buf sp = {0}, ss = {0}, rs = {0}, req = {0};
    uint8_t fixed[9];

    (void)state;
    snprintf(doc, sizeof(doc),
             "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
             "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
             "\"0000000000000001\",\n\"startTimeUnixNano\":\"-5\","
             "\"endTimeUnixNano\":\"2\"}]}]}]}");
    read_str(&r, doc, TRACE_FORMAT_AUTO);
    expect_malformed(&r, ":2:21: expected startTimeUnixNano as an unsigned");
    expect_malformed(&r, "found a negative value");
    done(&r);
    snprintf(doc, sizeof(doc),
             "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
             "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
             "\"0000000000000001\",\"startTimeUnixNano\":"
             "\"18446744073709551616\",\"endTimeUnixNano\":\"2\"}]}]}]}");
    read_str(&r, doc, TRACE_FORMAT_AUTO);
    expect_malformed(&r, "startTimeUnixNano as an unsigned"); /* 2^64 */
    done(&r);

    /* JSON: start 2^64 - 1, end 0. */
    snprintf(doc, sizeof(doc),
             "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
             "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
             "\"0000000000000001\",\"startTimeUnixNano\":"
             "\"18446744073709551615\",\"endTimeUnixNano\":0}]}]}]}");
    struct result rj, rp;
    read_str(&rj, doc, TRACE_FORMAT_AUTO);
    assert_int_equal(rj.rc, 0);
    /* protobuf: the same span */
    buf_field(&sp, 1,
              "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d"
              "\x0e\x0f\x10",
              16);
    buf_field(&sp, 2, "\0\0\0\0\0\0\0\x01", 8);
    fixed[0] = 0x39; /* start, fixed64 */
    memset(fixed + 1, 0xff, 8);
    buf_put(&sp, fixed, 9);
    fixed[0] = 0x41; /* end */
    memset(fixed + 1, 0, 8);
    buf_put(&sp, fixed, 9);
    buf_field(&ss, 2, sp.p, sp.len);
    buf_field(&rs, 2, ss.p, ss.len);
    buf_field(&req, 1, rs.p, rs.len);
    read_bytes(&rp, req.p, req.len, TRACE_FORMAT_OTLP_PROTO, false);
    assert_int_equal(rp.rc, 0);
    for (int i = 0; i < 2; i++) {
        struct span_store *s = i ? rp.s : rj.s;
        struct edge_list el;
        struct causality_report cr;
        assert_int_equal(span_store_count(s), 1);
        assert_true(span_store_at(s, 0)->start_ns == SPAN_TIME_MAX);
        assert_true(span_store_at(s, 0)->end_ns == 0);
        assert_int_equal(span_store_index(s), 0);
        assert_int_equal(edge_list_build(&el, s), 0);
        assert_int_equal(causality_check(&cr, s, &el), 0);
        assert_int_equal(cr.negative_duration, 1); /* was 0 in protobuf */
        causality_report_free(&cr);
        edge_list_free(&el);
    }
    done(&rj);
    done(&rp);
    free(sp.p);
    free(ss.p);
    free(rs.p);
    free(req.p);
}

/* A NUL inside a host name: read whole, printed whole. */
static void test_nul_names_printed(void **state)
{
    static const char doc[] =
        "{\"resourceSpans\":["
        "{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":"
        "{\"stringValue\":\"node\\u0000a\"}}]},\"scopeSpans\":[{\"spans\":[{"
        "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
        "\"0000000000000001\",\"kind\":3,\"startTimeUnixNano\":\"100\","
        "\"endTimeUnixNano\":\"200\"}]}]},"
        "{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":"
        "{\"stringValue\":\"node-b\"}}]},\"scopeSpans\":[{\"spans\":[{"
        "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
        "\"0000000000000002\",\"parentSpanId\":\"0000000000000001\","
        "\"kind\":2,\"startTimeUnixNano\":\"50\",\"endTimeUnixNano\":"
        "\"150\"}]}]}]}";
    struct result r;
    struct edge_list el;
    struct causality_report cr;
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    read_str(&r, doc, TRACE_FORMAT_AUTO);
    assert_int_equal(r.rc, 0);
    assert_int_equal(span_store_domain_name_len(r.s, 0), 6);
    assert_memory_equal(span_store_domain_name(r.s, 0), "node\0a", 6);
    assert_int_equal(span_store_index(r.s), 0);
    assert_int_equal(edge_list_build(&el, r.s), 0);
    assert_int_equal(causality_check(&cr, r.s, &el), 0);
    assert_int_equal(cr.nedges, 1);
    f = open_memstream(&text, &len);
    assert_int_equal(report_check_json(f, &cr, r.s), 0);
    fclose(f);
    assert_non_null(strstr(text, "\"from\": \"node\\u0000a\""));
    assert_non_null(strstr(text, "\"invalid_spans\": {\"total\": 0"));
    free(text);
    f = open_memstream(&text, &len);
    assert_int_equal(report_check_text(f, &cr, r.s), 0);
    fclose(f);
    assert_non_null(strstr(text, "node\\0a  node-b"));
    free(text);
    causality_report_free(&cr);
    edge_list_free(&el);
    done(&r);
}

/* The rule itself, on the classic cases. */
static void test_utf8_rule(void **state)
{
    static const struct {
        const char *s;
        size_t n, bad;
    } cases[] = {
        {"", 0, 0},
        {"plain ascii text long enough", 28, 28},
        {"\x00", 1, 1},
        {"\xc3\xa9", 2, 2},
        {"\xe2\x82\xac", 3, 3},
        {"\xf0\x9f\x98\x80", 4, 4},
        {"\xf4\x8f\xbf\xbf", 4, 4},
        {"ab\x80", 3, 2},
        {"\xc1\xbf", 2, 0},
        {"\xe0\x9f\xbf", 3, 0},
        {"\xed\xbf\xbf", 3, 0},
        {"\xf0\x8f\xbf\xbf", 4, 0},
        {"\xf4\x90\x80\x80", 4, 0},
        {"\xf5\x80\x80\x80", 4, 0},
        {"12345678\xe2\x82", 10, 8},
    };
    bool cut;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (utf8_check(cases[i].s, cases[i].n) != cases[i].bad)
            fail_msg("case %zu: %zu", i, utf8_check(cases[i].s, cases[i].n));
    assert_int_equal(utf8_prefix("ab\xe2\x82", 4, &cut), 2);
    assert_true(cut);
    assert_int_equal(utf8_prefix("ab\xe2\x28", 4, &cut), 2);
    assert_false(cut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_rule),
        cmocka_unit_test(test_zero_bytes),
        cmocka_unit_test(test_utf8_json),
        cmocka_unit_test(test_utf8_proto_every_field),
        cmocka_unit_test(test_nul_proto_strings),
        cmocka_unit_test(test_utf8_serve_json),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_leading_white_space),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_nul_names_printed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
