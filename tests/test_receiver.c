/* Tests of the OTLP/HTTP receiver against a real HTTP client (libcurl) on
 * an ephemeral loopback port: bodies written by skewscope's own trace
 * writers, gzip, the error replies of the OTLP/HTTP specification, limits
 * (oversized body, gzip bomb), bearer token, back-pressure, a stalled
 * client, GET routes, counters, busy port, graceful stop, answers given
 * later from another thread (RECEIVER_PENDING: the request waits suspended,
 * past every timeout, without holding the HTTP thread; receiver_stop
 * answers what still waits). Every request has a curl timeout, so a hang
 * fails the test instead of blocking it. */
#define _GNU_SOURCE
#include "testlib.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <zlib.h>

#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/trace_writer.h"
#include "serve/receiver.h"
#include "util/clock.h"

#define T0 1700000000000000000LL

/* ---- the batch handler under test's control */

struct sink {
    atomic_size_t batches, spans;
    enum receiver_verdict verdict;
    size_t reject;        /* rejected_spans to report */
    unsigned retry_after; /* for BUSY */
    size_t queued;        /* what queued_spans() says */
    unsigned sleep_ms;    /* handler delay */
};

static enum receiver_verdict sink_batch(void *ctx, struct span_store *batch,
                                        struct receiver_outcome *out)
{
    struct sink *s = ctx;

    if (s->sleep_ms) {
        struct timespec ts = {0, (long)s->sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (s->verdict != RECEIVER_ACCEPTED) {
        out->retry_after_s = s->retry_after;
        return s->verdict;
    }
    atomic_fetch_add(&s->batches, 1);
    atomic_fetch_add(&s->spans, span_store_count(batch));
    if (s->reject) {
        out->rejected_spans = s->reject;
        snprintf(out->error_message, sizeof(out->error_message),
                 "%zu spans without a clock domain", s->reject);
    }
    span_store_destroy(batch);
    return RECEIVER_ACCEPTED;
}

static size_t sink_queued(void *ctx)
{
    return ((struct sink *)ctx)->queued;
}

static struct receiver *start(struct receiver_config *cfg, struct sink *s)
{
    char err[256];
    struct receiver *r;

    cfg->listen = cfg->listen ? cfg->listen : "127.0.0.1:0";
    r = receiver_start(cfg, sink_batch, s, err, sizeof(err));
    if (!r)
        fail_msg("receiver_start: %s", err);
    assert_true(receiver_port(r) > 0);
    return r;
}

/* ---- bodies */

static void make_spans(struct span_desc *d, size_t n)
{
    memset(d, 0, n * sizeof(*d));
    for (size_t i = 0; i < n; i++) {
        d[i].trace_id[0] = 0xab;
        d[i].trace_id[15] = (uint8_t)(i / 4 + 1);
        d[i].span_id = 0x1000 + i;
        d[i].parent_span_id = i % 4 ? 0x1000 + i - 1 : 0;
        d[i].name = "op";
        d[i].kind = i % 2 ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
        d[i].start_ns = T0 + (int64_t)i * 1000;
        d[i].end_ns = T0 + (int64_t)i * 1000 + 500;
        d[i].host_name = i % 2 ? "node-b" : "node-a";
        d[i].service_name = "svc";
    }
}

struct buf {
    char *data;
    size_t len;
};

static struct buf write_body(const struct trace_writer_ops *ops, size_t n)
{
    struct buf b = {NULL, 0};
    FILE *f = open_memstream(&b.data, &b.len);
    struct span_desc d[64];
    struct trace_writer *w;

    assert_true(n <= 64);
    assert_non_null(f);
    make_spans(d, n);
    w = ops->create(f, 0);
    assert_non_null(w);
    assert_int_equal(ops->write_batch(w, d, n), 0);
    assert_int_equal(ops->finish(w), 0);
    fclose(f);
    return b;
}

/* One ExportTraceServiceRequest as an HTTP body: the writer's message
 * without its varint length prefix. */
static struct buf proto_body(size_t n)
{
    struct buf b = write_body(&trace_writer_otlp_proto_ops, n);
    size_t k = 0;

    while (k < b.len && (b.data[k] & 0x80))
        k++;
    k++;
    memmove(b.data, b.data + k, b.len - k);
    b.len -= k;
    return b;
}

static struct buf json_body(size_t n)
{
    return write_body(&trace_writer_otlp_json_ops, n);
}

/* gzip of `reps` copies of len bytes at data. */
static struct buf gzip_rep(const void *data, size_t len, size_t reps)
{
    struct buf out = {NULL, 0};
    size_t cap = 1 << 16;
    z_stream z;

    memset(&z, 0, sizeof(z));
    assert_int_equal(
        deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
        Z_OK);
    out.data = malloc(cap);
    for (size_t i = 0; i <= reps; i++) {
        int flush = i == reps ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = (Bytef *)(uintptr_t)data;
        z.avail_in = i == reps ? 0 : (uInt)len;
        do {
            if (cap - out.len < 4096) {
                cap *= 2;
                out.data = realloc(out.data, cap);
            }
            z.next_out = (Bytef *)out.data + out.len;
            z.avail_out = (uInt)(cap - out.len);
            deflate(&z, flush);
            out.len = cap - z.avail_out;
        } while (z.avail_in > 0 || (flush == Z_FINISH && z.avail_out == 0));
    }
    deflateEnd(&z);
    return out;
}

static struct buf gzip_buf(struct buf b)
{
    return gzip_rep(b.data, b.len, 1);
}

/* ---- the HTTP client */

struct resp {
    long code;
    struct buf body;
    char retry_after[32];
    char content_type[64];
    bool www_auth;
    char allow[32];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct buf *b = ud;

    b->data = realloc(b->data, b->len + sz * n + 1);
    memcpy(b->data + b->len, p, sz * n);
    b->len += sz * n;
    b->data[b->len] = '\0';
    return sz * n;
}

static void header_value(const char *line, size_t n, const char *name,
                         char *out, size_t outlen)
{
    size_t k = strlen(name);

    if (n > k + 1 && strncasecmp(line, name, k) == 0 && line[k] == ':') {
        size_t i = k + 1, j = 0;
        while (i < n && line[i] == ' ')
            i++;
        while (i < n && line[i] != '\r' && line[i] != '\n' && j + 1 < outlen)
            out[j++] = line[i++];
        out[j] = '\0';
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    char tmp[8] = "";

    header_value(p, sz * n, "Retry-After", r->retry_after,
                 sizeof(r->retry_after));
    header_value(p, sz * n, "Content-Type", r->content_type,
                 sizeof(r->content_type));
    header_value(p, sz * n, "Allow", r->allow, sizeof(r->allow));
    header_value(p, sz * n, "WWW-Authenticate", tmp, sizeof(tmp));
    if (tmp[0])
        r->www_auth = true;
    return sz * n;
}

struct req {
    const char *method; /* NULL = POST */
    const char *path;   /* NULL = /v1/traces */
    const char *content_type;
    const char *encoding;
    const char *auth;
    bool chunked;
    struct buf body;
};

struct chunk_src {
    const char *data;
    size_t len, off;
};

/* > 0: on_read sleeps this long before each piece (a slow sender) */
static unsigned slow_read_step_ms;

static size_t on_read(char *p, size_t sz, size_t n, void *ud)
{
    struct chunk_src *c = ud;
    size_t k = sz * n < 4096 ? sz * n : 4096;

    if (slow_read_step_ms) {
        struct timespec ts = {0, (long)slow_read_step_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (k > c->len - c->off)
        k = c->len - c->off;
    memcpy(p, c->data + c->off, k);
    c->off += k;
    return k;
}

static struct resp http(int port, const struct req *q)
{
    struct resp r;
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct chunk_src src = {q->body.data, q->body.len, 0};
    char url[128], line[256];

    memset(&r, 0, sizeof(r));
    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port,
             q->path ? q->path : "/v1/traces");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (q->method && strcmp(q->method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    if (!q->method) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (q->chunked) {
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &src);
            h = curl_slist_append(h, "Transfer-Encoding: chunked");
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                             q->body.data ? q->body.data : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)q->body.len);
        }
    }
    snprintf(line, sizeof(line), "Content-Type: %s",
             q->content_type ? q->content_type : "application/x-protobuf");
    h = curl_slist_append(h, line);
    if (q->encoding) {
        snprintf(line, sizeof(line), "Content-Encoding: %s", q->encoding);
        h = curl_slist_append(h, line);
    }
    if (q->auth) {
        snprintf(line, sizeof(line), "Authorization: %s", q->auth);
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("curl: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static long post(int port, const char *ctype, struct buf body)
{
    struct req q = {.content_type = ctype, .body = body};
    struct resp r = http(port, &q);

    free(r.body.data);
    return r.code;
}

#define PB "application/x-protobuf"
#define JS "application/json"

static uint64_t status_count(const struct receiver *r, unsigned code)
{
    struct receiver_counters c;

    receiver_counters_read(r, &c);
    for (size_t i = 0; i < RECEIVER_NSTATUS; i++)
        if (receiver_status_codes[i] == code)
            return c.requests[i];
    return c.requests_other;
}

/* ---- tests */

static void test_proto_and_json(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {0};
    struct receiver *r;
    struct buf pb = proto_body(5), js = json_body(3);
    struct req q = {.content_type = PB, .body = pb};
    struct resp rp;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *m;

    (void)state;
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    assert_string_equal(rp.content_type, PB);
    m = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
        NULL, rp.body.len, (const uint8_t *)rp.body.data);
    assert_non_null(m);
    assert_null(m->partial_success);
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
        m, NULL);
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.spans), 5);

    q.content_type = "Application/JSON; charset=utf-8";
    q.body = js;
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    assert_string_equal(rp.content_type, JS);
    assert_string_equal(rp.body.data, "{}");
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.spans), 8);
    assert_int_equal(atomic_load(&s.batches), 2);
    receiver_stop(r);
    free(pb.data);
    free(js.data);
}

static void test_gzip(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {0};
    struct receiver *r;
    struct buf pb = proto_body(7), js = json_body(4);
    struct buf gpb = gzip_buf(pb), gjs = gzip_buf(js);
    struct req q = {.content_type = PB, .encoding = "gzip", .body = gpb};
    struct resp rp;
    struct receiver_counters c;

    (void)state;
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    free(rp.body.data);
    q.content_type = JS;
    q.body = gjs;
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.spans), 11);
    receiver_counters_read(r, &c);
    assert_int_equal(c.bytes_received, gpb.len + gjs.len);
    assert_int_equal(c.bytes_decoded, pb.len + js.len);
    /* Compressed JSON without Content-Encoding is refused, not inflated. */
    assert_int_equal(post(receiver_port(r), JS, gjs), 400);
    receiver_stop(r);
    free(pb.data);
    free(js.data);
    free(gpb.data);
    free(gjs.data);
}

static void test_malformed(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {0};
    struct receiver *r;
    struct buf pb = proto_body(3);
    char junk[] = "\x0a\x05\x0a\x03\xff\xff";
    char bad_json[] = "{\"resourceSpans\": [ {\"scopeSpans\": 12 ]}";
    struct req q = {.content_type = PB, .body = {junk, sizeof(junk) - 1}};
    struct resp rp;
    struct buf trunc = {pb.data, pb.len - 3};

    (void)state;
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 400);
    assert_string_equal(rp.content_type, PB);
    /* google.rpc.Status: code 3, then the message with its byte offset. */
    assert_true(rp.body.len > 4);
    assert_int_equal((unsigned char)rp.body.data[0], 0x08);
    assert_int_equal(rp.body.data[1], 3);
    assert_non_null(memmem(rp.body.data, rp.body.len, "byte ", 5));
    free(rp.body.data);

    q.content_type = JS;
    q.body = (struct buf){bad_json, strlen(bad_json)};
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 400);
    assert_non_null(strstr(rp.body.data, "\"code\":3"));
    assert_non_null(strstr(rp.body.data, "request body:1:"));
    free(rp.body.data);

    assert_int_equal(post(receiver_port(r), PB, trunc), 400);
    q.content_type = PB;
    q.encoding = "gzip";
    q.body = pb; /* not gzip */
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 400);
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.batches), 0);
    /* Still answers. */
    assert_int_equal(post(receiver_port(r), PB, pb), 200);
    assert_int_equal(atomic_load(&s.spans), 3);
    receiver_stop(r);
    free(pb.data);
}

static void test_oversized(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {.max_body_bytes = 2000};
    struct receiver *r;
    struct buf big = json_body(40), small = proto_body(2);
    struct req q = {.content_type = JS, .body = big};
    struct resp rp;

    (void)state;
    assert_true(big.len > 2000);
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 413);
    free(rp.body.data);
    q.chunked = true; /* no Content-Length: found while reading */
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 413);
    assert_non_null(strstr(rp.body.data, "exceeds 2000"));
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.batches), 0);
    assert_int_equal(post(receiver_port(r), PB, small), 200);
    receiver_stop(r);
    free(big.data);
    free(small.data);
}

static long max_rss_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* The decompressed-size limit is exact: a body inflating to exactly the
 * limit is decoded, one byte more is refused (found by fuzzing: a stream
 * ending exactly one byte past the limit used to pass). */
static void test_gzip_limit_exact(void **state)
{
    struct buf plain = json_body(3);
    struct buf gz = gzip_buf(plain);
    size_t decoded = 0;
    char err[256] = "";

    (void)state;
    struct span_store *s = span_store_create();
    assert_int_equal(
        receiver_decode_body(gz.data, gz.len, RECEIVER_CONTENT_JSON, true,
                             plain.len, NULL, s, &decoded, err, sizeof err),
        0);
    assert_int_equal(decoded, plain.len);
    assert_int_equal(span_store_count(s), 3);
    span_store_destroy(s);
    s = span_store_create();
    assert_int_equal(
        receiver_decode_body(gz.data, gz.len, RECEIVER_CONTENT_JSON, true,
                             plain.len - 1, NULL, s, &decoded, err, sizeof err),
        -RECEIVER_DECODE_TOO_LARGE);
    assert_non_null(strstr(err, "more than"));
    span_store_destroy(s);
    free(plain.data);
    free(gz.data);
}

static void test_gzip_bomb(void **state)
{
    static char zeros[1 << 16];
    struct sink s = {0};
    struct receiver_config cfg = {.max_decompressed_bytes = 4 << 20};
    struct receiver *r;
    struct buf bomb = gzip_rep(zeros, sizeof(zeros), 1600); /* 100 MiB */
    struct req q = {.content_type = PB, .encoding = "gzip", .body = bomb};
    struct resp rp;
    long rss0;

    (void)state;
    assert_true(bomb.len < 200 * 1024);
    r = start(&cfg, &s);
    rss0 = max_rss_kb();
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 413);
    assert_non_null(
        memmem(rp.body.data, rp.body.len, "decompresses to more", 20));
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.batches), 0);
    /* At most the limit was inflated: the peak grew by far less than the
     * 100 MiB the body expands to. */
    assert_true(max_rss_kb() - rss0 < 24 * 1024);
    receiver_stop(r);
    free(bomb.data);
}

static void test_content_type(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {0};
    struct receiver *r;
    struct buf pb = proto_body(2);
    struct req q = {.content_type = "text/plain", .body = pb};
    struct resp rp;

    (void)state;
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 415);
    assert_non_null(strstr(rp.body.data, "text/plain"));
    free(rp.body.data);
    q.content_type = PB;
    q.encoding = "br";
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 415);
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.batches), 0);
    receiver_stop(r);
    free(pb.data);
}

static void test_bearer_token(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {.bearer_token = "s3cret"};
    struct receiver *r;
    struct buf pb = proto_body(2);
    struct req q = {.content_type = PB, .body = pb};
    struct resp rp;

    (void)state;
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 401);
    assert_true(rp.www_auth);
    free(rp.body.data);
    q.auth = "Bearer s3cre";
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 401);
    free(rp.body.data);
    q.auth = "Basic s3cret";
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 401);
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.batches), 0);
    q.auth = "bearer s3cret";
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    free(rp.body.data);
    assert_int_equal(atomic_load(&s.spans), 2);
    receiver_stop(r);
    free(pb.data);
}

static void test_busy(void **state)
{
    struct sink s = {.verdict = RECEIVER_BUSY, .retry_after = 7};
    struct receiver_config cfg = {.queued_spans = sink_queued,
                                  .max_queued_spans = 100};
    struct receiver *r;
    struct buf pb = proto_body(4);
    struct req q = {.content_type = PB, .body = pb};
    struct resp rp;
    struct receiver_counters c;

    (void)state;
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 429);
    assert_string_equal(rp.retry_after, "7");
    free(rp.body.data);
    s.verdict = RECEIVER_UNAVAILABLE;
    s.retry_after = 0;
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 503);
    assert_string_equal(rp.retry_after, "1");
    free(rp.body.data);
    /* Queue full: refused before the body is read. */
    s.verdict = RECEIVER_ACCEPTED;
    s.queued = 100;
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 429);
    assert_string_equal(rp.retry_after, "1");
    free(rp.body.data);
    /* Room for fewer spans than the batch holds. */
    s.queued = 98;
    assert_int_equal(post(receiver_port(r), PB, pb), 429);
    s.queued = 96;
    assert_int_equal(post(receiver_port(r), PB, pb), 200);
    receiver_counters_read(r, &c);
    assert_int_equal(c.spans_throttled, 12);
    assert_int_equal(c.spans_accepted, 4);
    /* the 429 on the headers was never decoded: counted as a request,
     * its spans unknown; the other three were decoded */
    assert_int_equal(c.requests_throttled_undecoded, 1);
    assert_int_equal(c.requests_throttled_decoded, 3);
    assert_int_equal(status_count(r, 429), 3);
    assert_int_equal(atomic_load(&s.spans), 4);
    receiver_stop(r);
    free(pb.data);
}

static void test_partial_success(void **state)
{
    struct sink s = {.reject = 2};
    struct receiver_config cfg = {0};
    struct receiver *r;
    struct buf pb = proto_body(5), js = json_body(5);
    struct req q = {.content_type = PB, .body = pb};
    struct resp rp;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *m;
    struct receiver_counters c;

    (void)state;
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    m = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
        NULL, rp.body.len, (const uint8_t *)rp.body.data);
    assert_non_null(m);
    assert_non_null(m->partial_success);
    assert_int_equal(m->partial_success->rejected_spans, 2);
    assert_string_equal(m->partial_success->error_message,
                        "2 spans without a clock domain");
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
        m, NULL);
    free(rp.body.data);
    q.content_type = JS;
    q.body = js;
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    assert_string_equal(rp.body.data,
                        "{\"partialSuccess\":{\"rejectedSpans\":\"2\","
                        "\"errorMessage\":\"2 spans without a clock "
                        "domain\"}}");
    free(rp.body.data);
    receiver_counters_read(r, &c);
    assert_int_equal(c.spans_received, 10);
    assert_int_equal(c.spans_accepted, 6);
    assert_int_equal(c.spans_rejected, 4);
    receiver_stop(r);
    free(pb.data);
    free(js.data);
}

static int raw_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void test_slow_client(void **state)
{
    static const char head[] = "POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/x-protobuf\r\n"
                               "Content-Length: 1000\r\n\r\nab";
    struct sink s = {0};
    struct receiver_config cfg = {.idle_timeout_s = 1, .threads = 1};
    struct receiver *r;
    struct buf pb = proto_body(3);
    char b[256];
    int fd, fd2;
    double t0;

    (void)state;
    r = start(&cfg, &s);
    /* One client stalls in its body, another in its headers. */
    fd = raw_connect(receiver_port(r));
    assert_int_equal(write(fd, head, sizeof(head) - 1),
                     (ssize_t)sizeof(head) - 1);
    fd2 = raw_connect(receiver_port(r));
    assert_int_equal(write(fd2, head, 20), 20);
    t0 = clock_now_s(CLOCK_MONOTONIC);
    assert_int_equal(post(receiver_port(r), PB, pb), 200);
    assert_true(clock_now_s(CLOCK_MONOTONIC) - t0 < 0.9);
    /* The stalled connections are closed after the idle timeout. */
    assert_true(read(fd, b, sizeof(b)) <= 0);
    assert_true(read(fd2, b, sizeof(b)) <= 0);
    assert_true(clock_now_s(CLOCK_MONOTONIC) - t0 < 4.0);
    close(fd);
    close(fd2);
    assert_int_equal(post(receiver_port(r), PB, pb), 200);
    receiver_stop(r);
    free(pb.data);
}

/* Trickle: send `line` every step_ms until the server closes the
 * connection or max_s passes; returns the seconds it stayed open (or a
 * value >= max_s). */
static double trickle(int fd, const char *line, unsigned step_ms, double max_s)
{
    struct timespec ts = {0, (long)step_ms * 1000000L};
    double t0 = clock_now_s(CLOCK_MONOTONIC);
    char b[256];

    while (clock_now_s(CLOCK_MONOTONIC) - t0 < max_s) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0)
            return clock_now_s(CLOCK_MONOTONIC) - t0;
        if (poll(&p, 1, 0) == 1 && recv(fd, b, sizeof(b), 0) <= 0)
            return clock_now_s(CLOCK_MONOTONIC) - t0;
        nanosleep(&ts, NULL);
    }
    return clock_now_s(CLOCK_MONOTONIC) - t0;
}

/* A client that sends a header line every 300 ms never trips the idle
 * timeout (10 s), but the header deadline closes it; one that trickles
 * its body is closed by the body deadline, while a body that keeps up the
 * minimum rate is read to the end however long it takes. */
static void test_deadlines(void **state)
{
    static const char body_head[] = "POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                                    "Content-Type: application/x-protobuf\r\n"
                                    "Content-Length: 100000\r\n\r\n";
    struct sink s = {0};
    struct receiver_config cfg = {.header_timeout_ms = 1000,
                                  .body_timeout_ms = 500,
                                  .body_min_rate = 8192};
    struct receiver *r;
    struct buf js = json_body(60);
    struct req q = {.content_type = JS, .body = js, .chunked = true};
    struct resp rp;
    struct receiver_counters c;
    double held;
    int fd;

    (void)state;
    r = start(&cfg, &s);
    fd = raw_connect(receiver_port(r));
    assert_int_equal(write(fd, "POST /v1/traces HTTP/1.1\r\n", 26), 26);
    held = trickle(fd, "X-Slow: 1\r\n", 300, 8.0);
    close(fd);
    assert_true(held < 8.0);
    fd = raw_connect(receiver_port(r));
    assert_int_equal(write(fd, body_head, sizeof(body_head) - 1),
                     (ssize_t)sizeof(body_head) - 1);
    held = trickle(fd, "x", 300, 8.0);
    close(fd);
    assert_true(held < 8.0);
    receiver_counters_read(r, &c);
    assert_int_equal(c.connections_timed_out_header, 1);
    assert_int_equal(c.connections_timed_out_body, 1);
    /* 4 KiB every 100 ms: 40 KiB/s, well over the minimum rate, and the
     * whole body takes longer than body_timeout */
    assert_true(js.len > 8192);
    slow_read_step_ms = 100;
    rp = http(receiver_port(r), &q);
    slow_read_step_ms = 0;
    assert_int_equal(rp.code, 200);
    free(rp.body.data);
    receiver_counters_read(r, &c);
    assert_int_equal(c.connections_timed_out_body, 1);
    assert_int_equal(atomic_load(&s.spans), 60);
    receiver_stop(r);
    free(js.data);
}

/* Raw request text; returns the reply's status (0: none). */
static int raw_status(int port, const char *req, size_t len)
{
    int fd = raw_connect(port), code = 0;
    char b[512];
    ssize_t n;
    size_t off = 0;

    while (off < len) {
        n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    n = recv(fd, b, sizeof(b) - 1, 0);
    if (n > 0) {
        b[n] = '\0';
        sscanf(b, "HTTP/1.%*c %d", &code);
    }
    close(fd);
    return code;
}

/* Errors libmicrohttpd answers by itself, before the receiver sees the
 * request, are counted like the receiver's own. */
static void test_library_errors_counted(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {0};
    struct receiver *r;
    size_t big = 70 * 1024;
    char *req = malloc(big + 256);
    int port, n;

    (void)state;
    r = start(&cfg, &s);
    port = receiver_port(r);
    /* 400: not an HTTP version; 505: an HTTP version it does not speak */
    n = snprintf(req, 256, "GET /metrics HTTP/1.x\r\nHost: x\r\n\r\n");
    assert_int_equal(raw_status(port, req, (size_t)n), 400);
    n = snprintf(req, 256, "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n");
    assert_int_equal(raw_status(port, req, (size_t)n), 505);
    /* 414: a request line longer than the connection's buffer */
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', big);
    n = (int)(5 + big);
    n += snprintf(req + n, 256, " HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(raw_status(port, req, (size_t)n), 414);
    /* 431: headers larger than the buffer */
    n = snprintf(req, 256, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'b', big);
    n += (int)big;
    n += snprintf(req + n, 256, "\r\n\r\n");
    assert_int_equal(raw_status(port, req, (size_t)n), 431);
    assert_int_equal(status_count(r, 400), 1);
    assert_int_equal(status_count(r, 414), 1);
    assert_int_equal(status_count(r, 431), 1);
    assert_int_equal(status_count(r, 505), 1);
    assert_int_equal(atomic_load(&s.batches), 0);
    receiver_stop(r);
    free(req);
}

static int metrics_route(void *ctx, char **body, size_t *len,
                         const char **content_type)
{
    (void)ctx;
    *body = strdup("skewscope_up 1\n");
    *len = strlen(*body);
    *content_type = "text/plain; version=0.0.4";
    return 200;
}

static void test_routes(void **state)
{
    struct sink s = {0};
    struct receiver_route routes[] = {
        {.path = "/metrics", .fn = metrics_route, .ctx = NULL}};
    struct receiver_config cfg = {.routes = routes, .nroutes = 1};
    struct receiver *r;
    struct req q = {.method = "GET", .path = "/metrics"};
    struct resp rp;

    (void)state;
    r = start(&cfg, &s);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    assert_string_equal(rp.body.data, "skewscope_up 1\n");
    assert_string_equal(rp.content_type, "text/plain; version=0.0.4");
    free(rp.body.data);
    q.method = "DELETE";
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 405);
    free(rp.body.data);
    q.method = "GET";
    q.path = "/v1/traces";
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 405);
    assert_string_equal(rp.allow, "POST");
    free(rp.body.data);
    q.path = "/v1/metrics";
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 404);
    free(rp.body.data);
    /* a route matches the whole decoded path: a %00 does not cut it */
    static const char *const not_metrics[] = {"/metrics%00.txt", "/metrics%00",
                                              "/metrics%2f", "/metrics/",
                                              "/v1/traces%00x"};
    q.method = "GET";
    for (size_t i = 0; i < sizeof(not_metrics) / sizeof(*not_metrics); i++) {
        q.path = not_metrics[i];
        rp = http(receiver_port(r), &q);
        if (rp.code != 404 && !(i == 4 && rp.code == 405))
            fail_msg("GET %s: %ld, expected 404", q.path, rp.code);
        free(rp.body.data);
    }
    /* still decoded otherwise */
    q.path = "/metric%73";
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    free(rp.body.data);
    receiver_stop(r);
}

static void test_counters(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {.max_body_bytes = 4000};
    struct receiver *r;
    struct buf pb = proto_body(6), big = json_body(60);
    char junk[] = "not protobuf";
    struct receiver_counters c;

    (void)state;
    r = start(&cfg, &s);
    assert_int_equal(post(receiver_port(r), PB, pb), 200);
    assert_int_equal(post(receiver_port(r), PB, pb), 200);
    assert_int_equal(post(receiver_port(r), PB, (struct buf){junk, 12}), 400);
    assert_int_equal(post(receiver_port(r), "text/xml", pb), 415);
    assert_int_equal(post(receiver_port(r), JS, big), 413);
    assert_int_equal(status_count(r, 200), 2);
    assert_int_equal(status_count(r, 400), 1);
    assert_int_equal(status_count(r, 413), 1);
    assert_int_equal(status_count(r, 415), 1);
    assert_int_equal(status_count(r, 429), 0);
    receiver_counters_read(r, &c);
    assert_int_equal(c.spans_received, 12);
    assert_int_equal(c.spans_accepted, 12);
    assert_int_equal(c.spans_rejected, 0);
    assert_int_equal(c.bytes_received, 2 * pb.len + 12);
    receiver_stop(r);
    free(pb.data);
    free(big.data);
}

static void test_listen_errors(void **state)
{
    struct sink s = {0};
    struct receiver_config cfg = {0};
    struct receiver *r, *r2;
    char addr[64], err[256];

    (void)state;
    r = start(&cfg, &s);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", receiver_port(r));
    cfg.listen = addr;
    r2 = receiver_start(&cfg, sink_batch, &s, err, sizeof(err));
    assert_null(r2);
    assert_non_null(strstr(err, "Address already in use"));
    assert_non_null(strstr(err, addr));
    cfg.listen = "nonsense";
    assert_null(receiver_start(&cfg, sink_batch, &s, err, sizeof(err)));
    assert_non_null(strstr(err, "expected HOST:PORT"));
    cfg.listen = "127.0.0.1:99999"; /* getaddrinfo would wrap it */
    assert_null(receiver_start(&cfg, sink_batch, &s, err, sizeof(err)));
    assert_non_null(strstr(err, "port must be 0-65535"));
    cfg.listen = "127.0.0.1:http";
    assert_null(receiver_start(&cfg, sink_batch, &s, err, sizeof(err)));
    receiver_stop(r);
}

struct bg_post {
    int port;
    struct buf body;
    long code;
};

static void *bg_post_run(void *arg)
{
    struct bg_post *b = arg;

    b->code = post(b->port, PB, b->body);
    return NULL;
}

/* receiver_stop() lets a request being handled finish and answer. */
static void test_graceful_stop(void **state)
{
    struct sink s = {.sleep_ms = 400};
    struct receiver_config cfg = {0};
    struct receiver *r;
    struct bg_post b = {0};
    struct timespec ts = {0, 150 * 1000000L};
    pthread_t t;

    (void)state;
    r = start(&cfg, &s);
    b.port = receiver_port(r);
    b.body = proto_body(3);
    assert_int_equal(pthread_create(&t, NULL, bg_post_run, &b), 0);
    nanosleep(&ts, NULL);
    receiver_stop(r);
    pthread_join(t, NULL);
    assert_int_equal(b.code, 200);
    assert_int_equal(atomic_load(&s.spans), 3);
    free(b.body.data);
}

/* ---- body_handler: the decoded body comes along (serve forwards it) */

struct body_sink {
    struct buf got[2];
    int content[2];
    size_t n, spans;
    bool take_store;
};

static enum receiver_verdict body_batch(void *ctx, struct receiver_batch *b,
                                        struct receiver_outcome *out)
{
    struct body_sink *s = ctx;

    (void)out;
    assert_true(s->n < 2);
    s->spans += span_store_count(b->store);
    s->got[s->n].data = (char *)b->body; /* take the body */
    s->got[s->n].len = b->len;
    s->content[s->n++] = b->content;
    b->body = NULL;
    if (s->take_store) {
        span_store_destroy(b->store);
        b->store = NULL;
    }
    return RECEIVER_ACCEPTED;
}

static void test_body_handler(void **state)
{
    struct body_sink s;
    struct receiver_config cfg = {0};
    struct receiver *r;
    struct buf pb = proto_body(5), js = json_body(3);
    struct buf gpb = gzip_buf(pb);
    struct req q = {.content_type = PB, .encoding = "gzip", .body = gpb};
    struct resp rp;
    char err[256];

    (void)state;
    memset(&s, 0, sizeof(s));
    cfg.listen = "127.0.0.1:0";
    cfg.body_handler = body_batch;
    r = receiver_start(&cfg, NULL, &s, err, sizeof(err));
    assert_non_null(r);
    rp = http(receiver_port(r), &q);
    assert_int_equal(rp.code, 200);
    free(rp.body.data);
    s.take_store = true;
    assert_int_equal(post(receiver_port(r), JS, js), 200);
    receiver_stop(r);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.spans, 8);
    /* the gzip body arrives inflated, byte for byte what was compressed */
    assert_int_equal(s.content[0], RECEIVER_CONTENT_PROTOBUF);
    assert_int_equal(s.got[0].len, pb.len);
    assert_memory_equal(s.got[0].data, pb.data, pb.len);
    assert_int_equal(s.content[1], RECEIVER_CONTENT_JSON);
    assert_int_equal(s.got[1].len, js.len);
    assert_memory_equal(s.got[1].data, js.data, js.len);
    for (size_t i = 0; i < 2; i++)
        free(s.got[i].data);
    free(pb.data);
    free(js.data);
    free(gpb.data);
}

/* ---- RECEIVER_PENDING: answers from another thread */

#define NPEND 8

/* The handler keeps each request's handle (and counts its spans); the test
 * answers them. answer_now: answer inside the handler instead. */
struct pend_sink {
    pthread_mutex_t mu;
    struct receiver_pending *p[NPEND];
    size_t n, spans;
    bool answer_now;
    enum receiver_verdict now_verdict;
};

static enum receiver_verdict pend_batch(void *ctx, struct span_store *batch,
                                        struct receiver_outcome *out)
{
    struct pend_sink *s = ctx;

    assert_non_null(out->pending);
    pthread_mutex_lock(&s->mu);
    s->spans += span_store_count(batch);
    if (s->answer_now) {
        assert_true(receiver_answer(out->pending, s->now_verdict));
    } else {
        assert_true(s->n < NPEND);
        s->p[s->n] = out->pending;
    }
    s->n++;
    pthread_mutex_unlock(&s->mu);
    span_store_destroy(batch); /* taken, as for ACCEPTED */
    return RECEIVER_PENDING;
}

static size_t pend_count(struct pend_sink *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void wait_pending(struct pend_sink *s, size_t n)
{
    double end = clock_now_s(CLOCK_MONOTONIC) + 10;

    while (pend_count(s) < n) {
        if (clock_now_s(CLOCK_MONOTONIC) > end)
            fail_msg("%zu of %zu requests reached the handler", pend_count(s),
                     n);
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

struct bg_req {
    int port;
    struct buf body;
    struct resp rp;
    atomic_bool done;
};

static void *bg_req_run(void *arg)
{
    struct bg_req *b = arg;
    struct req q = {.content_type = PB, .body = b->body};

    b->rp = http(b->port, &q);
    atomic_store(&b->done, true);
    return NULL;
}

/* Eight requests wait at once for their answers on ONE HTTP thread (a
 * handler that blocked would hold it: the second request would never
 * reach the handler), for longer than the idle, header and body timeouts,
 * none of which cuts them; meanwhile the thread answers GET /metrics. Each
 * then gets what it was answered (200, 429 with Retry-After, 503). */
static void test_pending_answers(void **state)
{
    struct pend_sink s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct receiver_route routes[] = {
        {.path = "/metrics", .fn = metrics_route, .ctx = NULL}};
    struct receiver_config cfg = {.listen = "127.0.0.1:0",
                                  .threads = 1,
                                  .idle_timeout_s = 1,
                                  .header_timeout_ms = 300,
                                  .body_timeout_ms = 300,
                                  .retry_after_s = 7,
                                  .routes = routes,
                                  .nroutes = 1};
    struct bg_req b[NPEND];
    pthread_t t[NPEND];
    struct req get = {.method = "GET", .path = "/metrics"};
    struct receiver_counters c;
    struct resp rp;
    char err[256];
    struct receiver *r = receiver_start(&cfg, pend_batch, &s, err, sizeof(err));

    (void)state;
    assert_non_null(r);
    memset(b, 0, sizeof(b));
    for (size_t i = 0; i < NPEND; i++) {
        b[i].port = receiver_port(r);
        b[i].body = proto_body(i + 1);
        assert_int_equal(pthread_create(&t[i], NULL, bg_req_run, &b[i]), 0);
    }
    wait_pending(&s, NPEND);
    rp = http(receiver_port(r), &get);
    assert_int_equal(rp.code, 200);
    free(rp.body.data);
    /* past the idle (1 s), header and body (0.3 s) timeouts */
    struct timespec ts = {1, 800 * 1000000L};
    nanosleep(&ts, NULL);
    receiver_counters_read(r, &c);
    assert_int_equal(c.requests_waiting, NPEND);
    assert_int_equal(c.connections_timed_out_header, 0);
    assert_int_equal(c.connections_timed_out_body, 0);
    assert_int_equal(c.connections_open, NPEND);
    for (size_t i = 0; i < NPEND; i++)
        assert_false(atomic_load(&b[i].done));
    /* answered from this thread, out of order */
    for (size_t k = NPEND; k-- > 0;)
        assert_true(receiver_answer(s.p[k], k % 4 == 1   ? RECEIVER_BUSY
                                            : k % 4 == 2 ? RECEIVER_UNAVAILABLE
                                                         : RECEIVER_ACCEPTED));
    size_t ok = 0, busy = 0, unavail = 0, spans_ok = 0;
    for (size_t i = 0; i < NPEND; i++) {
        pthread_join(t[i], NULL);
        /* which handle a request got is the order it reached the handler:
         * count by code */
        ok += b[i].rp.code == 200;
        busy += b[i].rp.code == 429;
        unavail += b[i].rp.code == 503;
        if (b[i].rp.code == 200)
            spans_ok += i + 1;
        if (b[i].rp.code == 429 || b[i].rp.code == 503)
            assert_string_equal(b[i].rp.retry_after, "7");
        free(b[i].rp.body.data);
        free(b[i].body.data);
    }
    assert_int_equal(ok, 4);
    assert_int_equal(busy, 2);
    assert_int_equal(unavail, 2);
    receiver_counters_read(r, &c);
    assert_int_equal(c.requests_waiting, 0);
    assert_int_equal(c.spans_received, NPEND * (NPEND + 1) / 2);
    assert_int_equal(c.spans_accepted, spans_ok);
    assert_int_equal(c.spans_throttled, c.spans_received - spans_ok);
    assert_int_equal(c.requests_throttled_decoded, 4);
    assert_int_equal(status_count(r, 200), 4 + 1); /* and the GET */
    assert_int_equal(c.connections_timed_out_header, 0);
    assert_int_equal(c.connections_timed_out_body, 0);
    /* an answer given inside the handler is sent at once */
    s.answer_now = true;
    s.now_verdict = RECEIVER_ACCEPTED;
    struct buf pb = proto_body(3);
    assert_int_equal(post(receiver_port(r), PB, pb), 200);
    s.now_verdict = RECEIVER_UNAVAILABLE;
    assert_int_equal(post(receiver_port(r), PB, pb), 503);
    receiver_counters_read(r, &c);
    assert_int_equal(c.requests_waiting, 0);
    free(pb.data);
    receiver_stop(r);
}

/* receiver_stop waits shutdown_grace_ms for the answers, then answers 503
 * itself; an answer that comes after it returns is safe and reported as
 * not heard. */
static void test_pending_stop(void **state)
{
    struct pend_sink s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct receiver_config cfg = {.listen = "127.0.0.1:0",
                                  .shutdown_grace_ms = 300};
    struct bg_req b[2];
    pthread_t t[2];
    char err[256];
    struct receiver *r = receiver_start(&cfg, pend_batch, &s, err, sizeof(err));

    (void)state;
    assert_non_null(r);
    memset(b, 0, sizeof(b));
    for (size_t i = 0; i < 2; i++) {
        b[i].port = receiver_port(r);
        b[i].body = proto_body(2);
        assert_int_equal(pthread_create(&t[i], NULL, bg_req_run, &b[i]), 0);
    }
    wait_pending(&s, 2);
    /* one answer in time, one never before the stop */
    assert_true(receiver_answer(s.p[0], RECEIVER_ACCEPTED));
    receiver_stop(r);
    for (size_t i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true((b[0].rp.code == 200 && b[1].rp.code == 503) ||
                (b[0].rp.code == 503 && b[1].rp.code == 200));
    assert_false(receiver_answer(s.p[1], RECEIVER_ACCEPTED));
    for (size_t i = 0; i < 2; i++) {
        free(b[i].rp.body.data);
        free(b[i].body.data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto_and_json),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_partial_success),
        cmocka_unit_test(test_slow_client),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_gzip_limit_exact),
        cmocka_unit_test(test_body_handler),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_library_errors_counted),
        cmocka_unit_test(test_pending_answers),
        cmocka_unit_test(test_pending_stop),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
