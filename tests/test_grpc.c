/* test_grpc: serve's OTLP/gRPC pieces against real peers on loopback.
 *   - grpc_frame: unary framing, grpc-message escapes, status details with
 *     RetryInfo written and read back;
 *   - receiver_grpc with a blocking HTTP/2 client of the test's own (on
 *     libnghttp2, so that it can also reset streams): OK with the handler's
 *     body equal to the message sent (plain and gzip), partial_success, a
 *     gzip bomb, RESOURCE_EXHAUSTED with RetryInfo when busy (and on the
 *     headers when the queue is full, the handler never called),
 *     UNAVAILABLE, RECEIVER_PENDING answered later from another thread and
 *     from inside the handler, never answered (the stop answers
 *     UNAVAILABLE and a late receiver_answer returns false), a client
 *     reset while waiting, tokens and methods, HTTP/2 garbage;
 *   - forward_grpc against receiver_grpc: delivered byte for byte, RETRY
 *     with the server's retry delay, PERMANENT for refusals and JSON.
 * The CLI tier (tests/cli/part_grpc.sh) runs the binary against the
 * OpenTelemetry JS SDK and @grpc/grpc-js. */
#include "testlib.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include <nghttp2/nghttp2.h>
#include <zlib.h>

#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/trace_writer.h"
#include "serve/forward_grpc.h"
#include "serve/grpc_frame.h"
#include "serve/receiver_grpc.h"

#define EXPORT RECEIVER_GRPC_EXPORT_PATH
#define T0 1700000000000000000LL

/* ---- a request message */

struct buf {
    char *data;
    size_t len;
};

/* One ExportTraceServiceRequest of n spans (the writer's message without
 * its varint length prefix). */
static struct buf request_msg(size_t n)
{
    struct buf b = {NULL, 0};
    FILE *f = open_memstream(&b.data, &b.len);
    struct span_desc d[64];
    struct trace_writer *w;
    size_t k = 0;

    assert_true(n <= 64);
    memset(d, 0, sizeof(d));
    for (size_t i = 0; i < n; i++) {
        d[i].trace_id[0] = 0xab;
        d[i].trace_id[15] = (uint8_t)(i / 4 + 1);
        d[i].span_id = 0x1000 + i;
        d[i].name = "op";
        d[i].kind = SPAN_KIND_SERVER;
        d[i].start_ns = T0 + (int64_t)i * 1000;
        d[i].end_ns = T0 + (int64_t)i * 1000 + 500;
        d[i].host_name = "node-a";
        d[i].service_name = "svc";
    }
    w = trace_writer_otlp_proto_ops.create(f, 0);
    assert_non_null(w);
    assert_int_equal(trace_writer_otlp_proto_ops.write_batch(w, d, n), 0);
    assert_int_equal(trace_writer_otlp_proto_ops.finish(w), 0);
    fclose(f);
    while (k < b.len && (b.data[k] & 0x80))
        k++;
    k++;
    memmove(b.data, b.data + k, b.len - k);
    b.len -= k;
    return b;
}

static struct buf frame(const void *msg, size_t len, bool compressed)
{
    struct buf b = {malloc(len + GRPC_PREFIX_LEN), len + GRPC_PREFIX_LEN};

    assert_non_null(b.data);
    grpc_frame_prefix((uint8_t *)b.data, compressed, (uint32_t)len);
    memcpy(b.data + GRPC_PREFIX_LEN, msg, len);
    return b;
}

static struct buf gzip_of(const void *p, size_t n)
{
    z_stream z;
    struct buf b = {malloc(n + 1024), 0};

    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)b.data;
    z.avail_out = (uInt)(n + 1024);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    b.len = z.total_out;
    deflateEnd(&z);
    return b;
}

/* ---- the server side: a handler whose verdict the test chooses */

struct sink {
    atomic_int calls;
    enum receiver_verdict verdict;
    size_t reject;                 /* partial success */
    bool answer_inside;            /* PENDING, answered before returning */
    size_t queued;                 /* what queued_spans() says */
    struct receiver_pending *held; /* PENDING, kept for the test */
    size_t spans;
    uint8_t *body; /* the last body (taken) */
    size_t len;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static enum receiver_verdict on_batch(void *ctx, struct receiver_batch *b,
                                      struct receiver_outcome *out)
{
    struct sink *s = ctx;

    pthread_mutex_lock(&s->mu);
    s->spans = span_store_count(b->store);
    free(s->body);
    s->body = b->body; /* take it */
    s->len = b->len;
    b->body = NULL;
    if (s->verdict == RECEIVER_ACCEPTED && s->reject) {
        out->rejected_spans = s->reject;
        snprintf(out->error_message, sizeof(out->error_message),
                 "%zu spans refused", s->reject);
    }
    if (s->verdict == RECEIVER_PENDING) {
        if (s->answer_inside)
            assert_true(receiver_answer(out->pending, RECEIVER_ACCEPTED));
        else
            s->held = out->pending;
    }
    atomic_fetch_add(&s->calls, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return s->verdict;
}

static size_t sink_queued(void *ctx)
{
    return ((struct sink *)ctx)->queued;
}

static void sink_init(struct sink *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static void sink_free(struct sink *s)
{
    free(s->body);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static struct receiver_grpc *start(struct receiver_grpc_config *cfg,
                                   struct sink *s)
{
    char err[256];
    struct receiver_grpc *g;

    cfg->listen = "127.0.0.1:0";
    cfg->body_handler = on_batch;
    if (!cfg->queued_spans)
        cfg->queued_spans = sink_queued;
    g = receiver_grpc_start(cfg, s, err, sizeof(err));
    if (!g)
        fail_msg("receiver_grpc_start: %s", err);
    assert_true(receiver_grpc_port(g) > 0);
    return g;
}

/* ---- a blocking HTTP/2 client, one call per connection */

struct call {
    /* request */
    const char *path;
    const char *ctype;
    const char *token, *encoding;
    const uint8_t *body;
    size_t len, sent;
    bool reset_after_send; /* RST_STREAM(CANCEL) once the body is out */
    /* response */
    int http, status;
    char message[512], details[2048];
    uint8_t resp[4096];
    size_t resp_len;
    bool closed, reset;
    int32_t id;
};

static ssize_t cl_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                       uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct call *c = src->ptr;
    size_t n = c->len - c->sent;

    (void)s, (void)id, (void)ud;
    if (n > len)
        n = len;
    memcpy(buf, c->body + c->sent, n);
    c->sent += n;
    if (c->sent == c->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void copy_value(char *out, size_t cap, const uint8_t *v, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static int cl_header(nghttp2_session *s, const nghttp2_frame *fr,
                     const uint8_t *name, size_t nl, const uint8_t *v,
                     size_t vl, uint8_t flags, void *ud)
{
    struct call *c = ud;
    char tmp[32];

    (void)s, (void)fr, (void)flags;
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        copy_value(tmp, sizeof(tmp), v, vl);
        c->http = atoi(tmp);
    } else if (nl == 11 && memcmp(name, "grpc-status", 11) == 0) {
        copy_value(tmp, sizeof(tmp), v, vl);
        c->status = atoi(tmp);
    } else if (nl == 12 && memcmp(name, "grpc-message", 12) == 0) {
        copy_value(c->message, sizeof(c->message), v, vl);
        grpc_message_decode(c->message);
    } else if (nl == 23 && memcmp(name, "grpc-status-details-bin", 23) == 0) {
        copy_value(c->details, sizeof(c->details), v, vl);
    }
    return 0;
}

static int cl_data(nghttp2_session *s, uint8_t flags, int32_t id,
                   const uint8_t *d, size_t n, void *ud)
{
    struct call *c = ud;

    (void)s, (void)flags, (void)id;
    if (c->resp_len + n <= sizeof(c->resp)) {
        memcpy(c->resp + c->resp_len, d, n);
        c->resp_len += n;
    }
    return 0;
}

static int cl_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct call *c = ud;

    (void)s, (void)id;
    c->closed = true;
    c->reset = code != NGHTTP2_NO_ERROR;
    return 0;
}

static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static bool cl_flush(nghttp2_session *s, int fd)
{
    const uint8_t *d;
    ssize_t n;

    while ((n = nghttp2_session_mem_send(s, &d)) > 0)
        if (send(fd, d, (size_t)n, MSG_NOSIGNAL) != n)
            return false;
    return n == 0;
}

#define NVS(n, v)                                                              \
    (nghttp2_nv)                                                               \
    {                                                                          \
        (uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), strlen(n),       \
            strlen(v), NGHTTP2_NV_FLAG_NONE                                    \
    }

/* Make the call; returns when it is closed (or after 10 s: fails). */
static void do_call(int port, struct call *c)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session *s;
    nghttp2_nv nva[8];
    size_t n = 0;
    char auth[256];
    int fd = connect_to(port);
    nghttp2_data_provider dp = {.source.ptr = c, .read_callback = cl_read};
    int64_t until = time(NULL) + 10;
    bool reset_sent = false;

    c->status = -1;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, cl_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cl_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_close);
    assert_int_equal(nghttp2_session_client_new(&s, cb, c), 0);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
    nva[n++] = NVS(":method", "POST");
    nva[n++] = NVS(":scheme", "http");
    nva[n++] = NVS(":authority", "127.0.0.1");
    nva[n++] = NVS(":path", c->path ? c->path : EXPORT);
    nva[n++] = NVS("content-type", c->ctype ? c->ctype : "application/grpc");
    nva[n++] = NVS("te", "trailers");
    if (c->token) {
        snprintf(auth, sizeof(auth), "Bearer %s", c->token);
        nva[n++] = NVS("authorization", auth);
    }
    if (c->encoding)
        nva[n++] = NVS("grpc-encoding", c->encoding);
    c->id = nghttp2_submit_request(s, NULL, nva, n, &dp, c);
    assert_true(c->id > 0);
    while (!c->closed && time(NULL) < until) {
        struct pollfd p = {fd, POLLIN, 0};
        uint8_t buf[16384];
        assert_true(cl_flush(s, fd));
        if (c->reset_after_send && !reset_sent && c->sent == c->len) {
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, c->id,
                                      NGHTTP2_CANCEL);
            reset_sent = true;
            continue;
        }
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            break;
        assert_true(nghttp2_session_mem_recv(s, buf, (size_t)r) >= 0);
    }
    assert_true(c->closed);
    nghttp2_session_del(s);
    close(fd);
}

/* Export msg (framed), optionally compressed; returns the call. */
static struct call export_call(int port, const struct buf *msg, bool gz,
                               const char *token)
{
    struct buf z = gz ? gzip_of(msg->data, msg->len) : (struct buf){0};
    struct buf f =
        gz ? frame(z.data, z.len, true) : frame(msg->data, msg->len, false);
    struct call c = {.body = (uint8_t *)f.data,
                     .len = f.len,
                     .token = token,
                     .encoding = gz ? "gzip" : NULL};

    do_call(port, &c);
    free(f.data);
    free(z.data);
    c.body = NULL;
    return c;
}

/* The response message: ExportTraceServiceResponse (after its prefix). */
static Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *
response_of(const struct call *c)
{
    assert_true(c->resp_len >= GRPC_PREFIX_LEN);
    assert_int_equal(grpc_frame_peek_len(c->resp, c->resp_len),
                     (int64_t)(c->resp_len - GRPC_PREFIX_LEN));
    return opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
        NULL, c->resp_len - GRPC_PREFIX_LEN, c->resp + GRPC_PREFIX_LEN);
}

static unsigned retry_ms_of(const struct call *c)
{
    int code;
    unsigned ms = 0;

    if (!c->details[0])
        return 0;
    assert_int_equal(
        grpc_status_details_parse(c->details, strlen(c->details), &code, &ms),
        0);
    assert_int_equal(code, c->status);
    return ms;
}

/* ---- tests */

static void test_frame(void **state)
{
    uint8_t body[64];
    const uint8_t *msg;
    size_t mlen;
    bool z;
    char err[256], enc[64], det[1200];
    int code;
    unsigned ms;

    (void)state;
    grpc_frame_prefix(body, false, 3);
    memcpy(body + 5, "abc", 3);
    assert_int_equal(grpc_frame_unary(body, 8, 100, &msg, &mlen, &z, err, 256),
                     0);
    assert_int_equal(mlen, 3);
    assert_memory_equal(msg, "abc", 3);
    assert_false(z);
    assert_int_equal(grpc_frame_unary(body, 4, 100, &msg, &mlen, &z, err, 256),
                     -GRPC_FRAME_MALFORMED);
    assert_int_equal(grpc_frame_unary(body, 7, 100, &msg, &mlen, &z, err, 256),
                     -GRPC_FRAME_MALFORMED);
    assert_non_null(strstr(err, "body ends after 2"));
    assert_int_equal(grpc_frame_unary(body, 9, 100, &msg, &mlen, &z, err, 256),
                     -GRPC_FRAME_MALFORMED);
    assert_non_null(strstr(err, "a second message"));
    assert_int_equal(grpc_frame_unary(body, 8, 2, &msg, &mlen, &z, err, 256),
                     -GRPC_FRAME_TOO_LARGE);
    body[0] = 2;
    assert_int_equal(grpc_frame_unary(body, 8, 100, &msg, &mlen, &z, err, 256),
                     -GRPC_FRAME_MALFORMED);
    /* grpc-message: % and non-ASCII escaped, and back */
    grpc_message_encode("50% \xc3\xa9t\xc3\xa9\n", enc, sizeof(enc));
    assert_string_equal(enc, "50%25 %C3%A9t%C3%A9%0A");
    assert_int_equal(grpc_message_decode(enc), 10);
    assert_string_equal(enc, "50% \xc3\xa9t\xc3\xa9\n");
    /* status details with and without a retry delay */
    assert_true(grpc_status_details(8, "busy", 1500, det, sizeof(det)) > 0);
    assert_null(strchr(det, '='));
    assert_int_equal(grpc_status_details_parse(det, strlen(det), &code, &ms),
                     0);
    assert_int_equal(code, 8);
    assert_int_equal(ms, 1500);
    assert_true(grpc_status_details(3, "bad", 0, det, sizeof(det)) > 0);
    assert_int_equal(grpc_status_details_parse(det, strlen(det), &code, &ms),
                     0);
    assert_int_equal(code, 3);
    assert_int_equal(ms, 0);
    assert_int_equal(grpc_status_details_parse("!!", 2, &code, &ms), -1);
    assert_true(grpc_encoding_listed("identity, GZIP", "gzip"));
    assert_false(grpc_encoding_listed("identity,deflate", "gzip"));
}

static void test_export_ok(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {0};
    struct receiver_grpc *g;
    struct buf msg = request_msg(12);
    struct receiver_grpc_counters n;

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    for (int gz = 0; gz <= 1; gz++) {
        struct call c = export_call(receiver_grpc_port(g), &msg, gz, NULL);
        assert_int_equal(c.http, 200);
        assert_int_equal(c.status, GRPC_OK);
        /* the handler got the message as sent (inflated) and its spans */
        assert_int_equal(s.spans, 12);
        assert_int_equal(s.len, msg.len);
        assert_memory_equal(s.body, msg.data, msg.len);
        Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
            *r = response_of(&c);
        assert_non_null(r);
        assert_null(r->partial_success);
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
            r, NULL);
    }
    /* partial success */
    s.reject = 5;
    struct call c = export_call(receiver_grpc_port(g), &msg, false, NULL);
    assert_int_equal(c.status, GRPC_OK);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
        response_of(&c);
    assert_non_null(r);
    assert_non_null(r->partial_success);
    assert_int_equal(r->partial_success->rejected_spans, 5);
    assert_string_equal(r->partial_success->error_message, "5 spans refused");
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
        r, NULL);
    receiver_grpc_counters_read(g, &n);
    assert_int_equal(n.calls[GRPC_OK], 3);
    assert_int_equal(n.spans_received, 36);
    assert_int_equal(n.spans_accepted, 31);
    assert_int_equal(n.spans_rejected, 5);
    receiver_grpc_stop(g, NULL);
    free(msg.data);
    sink_free(&s);
}

static void test_limits(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {.max_body_bytes = 4096,
                                       .max_decompressed_bytes = 100000};
    struct receiver_grpc *g;
    struct buf msg = request_msg(4);
    struct buf bomb = {calloc(1, 1000000), 1000000};
    struct buf big = {calloc(1, 5000), 5000};
    struct call c;

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    c = export_call(receiver_grpc_port(g), &bomb, true, NULL);
    assert_int_equal(c.status, GRPC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(c.message, "100000"));
    assert_int_equal(retry_ms_of(&c), 0); /* not retryable */
    c = export_call(receiver_grpc_port(g), &big, false, NULL);
    assert_int_equal(c.status, GRPC_RESOURCE_EXHAUSTED);
    assert_string_equal(c.message, "message of 5000 bytes exceeds 4096");
    /* a compressed flag without grpc-encoding, an unknown encoding */
    struct buf z = gzip_of(msg.data, msg.len), f = frame(z.data, z.len, true);
    c = (struct call){.body = (uint8_t *)f.data, .len = f.len};
    do_call(receiver_grpc_port(g), &c);
    assert_int_equal(c.status, GRPC_INVALID_ARGUMENT);
    c = (struct call){
        .body = (uint8_t *)f.data, .len = f.len, .encoding = "zstd"};
    do_call(receiver_grpc_port(g), &c);
    assert_int_equal(c.status, GRPC_UNIMPLEMENTED);
    assert_int_equal(atomic_load(&s.calls), 0);
    /* the server is fine after all that */
    c = export_call(receiver_grpc_port(g), &msg, false, NULL);
    assert_int_equal(c.status, GRPC_OK);
    receiver_grpc_stop(g, NULL);
    free(z.data);
    free(f.data);
    free(msg.data);
    free(bomb.data);
    free(big.data);
    sink_free(&s);
}

static void test_backpressure(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {.max_queued_spans = 100,
                                       .retry_after_s = 2};
    struct receiver_grpc *g;
    struct buf msg = request_msg(4);
    struct receiver_grpc_counters n;
    struct call c;

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    s.verdict = RECEIVER_BUSY;
    c = export_call(receiver_grpc_port(g), &msg, false, NULL);
    assert_int_equal(c.status, GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(retry_ms_of(&c), 2000); /* OTLP/gRPC Throttling */
    s.verdict = RECEIVER_UNAVAILABLE;
    c = export_call(receiver_grpc_port(g), &msg, false, NULL);
    assert_int_equal(c.status, GRPC_UNAVAILABLE);
    assert_int_equal(retry_ms_of(&c), 2000);
    /* queue full: refused on the headers, the handler not called */
    s.verdict = RECEIVER_ACCEPTED;
    s.queued = 100;
    int before = atomic_load(&s.calls);
    c = export_call(receiver_grpc_port(g), &msg, false, NULL);
    assert_int_equal(c.status, GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(retry_ms_of(&c), 2000);
    assert_int_equal(atomic_load(&s.calls), before);
    receiver_grpc_counters_read(g, &n);
    assert_int_equal(n.calls_throttled_undecoded, 1);
    assert_int_equal(n.spans_throttled, 8);
    receiver_grpc_stop(g, NULL);
    free(msg.data);
    sink_free(&s);
}

struct later {
    struct sink *s;
    int delay_ms;
    enum receiver_verdict v;
    bool heard;
};

static void *answer_later(void *arg)
{
    struct later *l = arg;
    struct receiver_pending *p;
    struct timespec ts = {0, l->delay_ms * 1000000L};

    pthread_mutex_lock(&l->s->mu);
    while (!l->s->held)
        pthread_cond_wait(&l->s->cv, &l->s->mu);
    p = l->s->held;
    l->s->held = NULL;
    pthread_mutex_unlock(&l->s->mu);
    nanosleep(&ts, NULL);
    l->heard = receiver_answer(p, l->v);
    return NULL;
}

static void test_pending(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {0};
    struct receiver_grpc *g;
    struct buf msg = request_msg(6);
    struct later l;
    pthread_t t;
    struct call c;
    struct receiver_grpc_counters n;

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    s.verdict = RECEIVER_PENDING;
    /* answered 300 ms later from another thread: OK, then BUSY */
    for (int i = 0; i < 2; i++) {
        l = (struct later){&s, 300, i ? RECEIVER_BUSY : RECEIVER_ACCEPTED,
                           false};
        pthread_create(&t, NULL, answer_later, &l);
        c = export_call(receiver_grpc_port(g), &msg, false, NULL);
        pthread_join(t, NULL);
        assert_true(l.heard);
        assert_int_equal(c.status, i ? GRPC_RESOURCE_EXHAUSTED : GRPC_OK);
    }
    /* answered inside the handler */
    s.answer_inside = true;
    c = export_call(receiver_grpc_port(g), &msg, false, NULL);
    assert_int_equal(c.status, GRPC_OK);
    receiver_grpc_counters_read(g, &n);
    assert_int_equal(n.spans_accepted, 12);
    assert_int_equal(n.spans_throttled, 6);
    assert_int_equal(n.calls_waiting, 0);
    receiver_grpc_stop(g, NULL);
    free(msg.data);
    sink_free(&s);
}

struct bg_call {
    int port;
    struct buf *msg;
    struct call c;
};

static void *call_bg(void *arg)
{
    struct bg_call *b = arg;

    b->c = export_call(b->port, b->msg, false, NULL);
    return NULL;
}

static void test_pending_stop(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {.shutdown_grace_ms = 300};
    struct receiver_grpc *g;
    struct buf msg = request_msg(3);
    struct bg_call b = {0};
    struct receiver_grpc_counters n;
    pthread_t t;

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    s.verdict = RECEIVER_PENDING;
    b.port = receiver_grpc_port(g);
    b.msg = &msg;
    pthread_create(&t, NULL, call_bg, &b);
    pthread_mutex_lock(&s.mu);
    while (!s.held)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < 500; i++) { /* counted once the handler returned */
        struct timespec ts = {0, 10 * 1000000L};
        receiver_grpc_counters_read(g, &n);
        if (n.calls_waiting == 1)
            break;
        nanosleep(&ts, NULL);
    }
    assert_int_equal(n.calls_waiting, 1);
    /* never answered: the stop waits its grace, then UNAVAILABLE */
    receiver_grpc_stop(g, &n);
    pthread_join(t, NULL);
    assert_int_equal(b.c.status, GRPC_UNAVAILABLE);
    assert_int_equal(n.calls[GRPC_UNAVAILABLE], 1);
    /* the answer that comes after the stop is not what the client got */
    assert_false(receiver_answer(s.held, RECEIVER_ACCEPTED));
    free(msg.data);
    sink_free(&s);
}

static void test_pending_reset(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {0};
    struct receiver_grpc *g;
    struct buf msg = request_msg(3);
    struct buf f = frame(msg.data, msg.len, false);
    struct call c = {
        .body = (uint8_t *)f.data, .len = f.len, .reset_after_send = true};
    struct receiver_grpc_counters n;
    struct timespec ts = {0, 100 * 1000000L};

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    s.verdict = RECEIVER_PENDING;
    do_call(receiver_grpc_port(g), &c);
    assert_true(c.reset);
    /* the handler may not have run before the reset reached the server */
    pthread_mutex_lock(&s.mu);
    while (!s.held && atomic_load(&s.calls) == 0)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < 50; i++) { /* the reset is processed */
        receiver_grpc_counters_read(g, &n);
        if (n.reset == 1)
            break;
        nanosleep(&ts, NULL);
    }
    assert_int_equal(n.reset, 1);
    assert_int_equal(n.calls_waiting, 0);
    /* the client is gone: the answer is not heard */
    assert_false(receiver_answer(s.held, RECEIVER_ACCEPTED));
    s.held = NULL;
    s.verdict = RECEIVER_ACCEPTED;
    c = export_call(receiver_grpc_port(g), &msg, false, NULL);
    assert_int_equal(c.status, GRPC_OK);
    receiver_grpc_stop(g, NULL);
    free(f.data);
    free(msg.data);
    sink_free(&s);
}

static void test_token_and_methods(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {.bearer_token = "s3cret"};
    struct receiver_grpc *g;
    struct buf msg = request_msg(2);
    struct buf f = frame(msg.data, msg.len, false);
    struct call c;
    int port;

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    port = receiver_grpc_port(g);
    c = export_call(port, &msg, false, NULL);
    assert_int_equal(c.status, GRPC_UNAUTHENTICATED);
    c = export_call(port, &msg, false, "s3cre");
    assert_int_equal(c.status, GRPC_UNAUTHENTICATED);
    c = export_call(port, &msg, false, "s3cret");
    assert_int_equal(c.status, GRPC_OK);
    c = (struct call){.body = (uint8_t *)f.data,
                      .len = f.len,
                      .token = "s3cret",
                      .path = "/opentelemetry.proto.collector.logs.v1."
                              "LogsService/Export"};
    do_call(port, &c);
    assert_int_equal(c.status, GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(c.message, "unknown method"));
    c = (struct call){.body = (uint8_t *)f.data,
                      .len = f.len,
                      .token = "s3cret",
                      .ctype = "application/x-protobuf"};
    do_call(port, &c);
    assert_int_equal(c.http, 415);
    /* A refused call whose upload is short finishes it (no reset: libcurl
     * would drop the status); one that goes on is asked to stop with
     * RST_STREAM(NO_ERROR) well before its end, the status read first. */
    c = (struct call){.body = (uint8_t *)f.data, .len = f.len, .token = "x"};
    do_call(port, &c);
    assert_int_equal(c.status, GRPC_UNAUTHENTICATED);
    assert_int_equal(c.sent, c.len);
    assert_false(c.reset);
    size_t big_len = 8u << 20;
    uint8_t *big = calloc(1, big_len);
    assert_non_null(big);
    c = (struct call){.body = big, .len = big_len, .token = "x"};
    do_call(port, &c);
    assert_int_equal(c.status, GRPC_UNAUTHENTICATED);
    assert_true(c.closed);
    assert_false(c.reset); /* NO_ERROR */
    assert_true(c.sent < big_len / 2);
    free(big);
    assert_int_equal(atomic_load(&s.calls), 1);
    receiver_grpc_stop(g, NULL);
    free(f.data);
    free(msg.data);
    sink_free(&s);
}

static void test_garbage(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {0};
    struct receiver_grpc *g;
    struct buf msg = request_msg(2);
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    uint8_t junk[512], buf[4096];
    int fd;
    struct call c;

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    for (int k = 0; k < 2; k++) {
        fd = connect_to(receiver_grpc_port(g));
        if (k)
            assert_int_equal(send(fd, preface, sizeof(preface) - 1, 0),
                             (ssize_t)sizeof(preface) - 1);
        send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
        /* the server closes it (a GOAWAY at most first) */
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t r = 1;
        for (int i = 0; i < 50 && r > 0; i++)
            if (poll(&p, 1, 100) > 0)
                r = recv(fd, buf, sizeof(buf), 0);
        assert_true(r <= 0);
        close(fd);
    }
    c = export_call(receiver_grpc_port(g), &msg, false, NULL);
    assert_int_equal(c.status, GRPC_OK);
    receiver_grpc_stop(g, NULL);
    free(msg.data);
    sink_free(&s);
}

static void test_forward_grpc(void **state)
{
    struct sink s;
    struct receiver_grpc_config cfg = {.bearer_token = "t", .retry_after_s = 3};
    struct receiver_grpc *g;
    struct buf msg = request_msg(7);
    struct forward_grpc *fc, *bad;
    char url[64], err[512];
    unsigned retry = 0;

    (void)state;
    sink_init(&s);
    g = start(&cfg, &s);
    snprintf(url, sizeof(url), "grpc://127.0.0.1:%d", receiver_grpc_port(g));
    assert_null(forward_grpc_create("grpc://127.0.0.1:1/v1/traces", "t", err,
                                    sizeof(err)));
    assert_non_null(strstr(err, "no path"));
    fc = forward_grpc_create(url, "t", err, sizeof(err));
    assert_non_null(fc);
    for (int i = 0; i < 3; i++) { /* one connection per call, each works */
        assert_int_equal(forward_grpc_send(fc, (uint8_t *)msg.data, msg.len,
                                           false, 5000, NULL, NULL, &retry, err,
                                           sizeof(err)),
                         FORWARD_GRPC_OK);
        assert_int_equal(s.len, msg.len);
        assert_memory_equal(s.body, msg.data, msg.len);
    }
    s.verdict = RECEIVER_BUSY;
    assert_int_equal(forward_grpc_send(fc, (uint8_t *)msg.data, msg.len, false,
                                       5000, NULL, NULL, &retry, err,
                                       sizeof(err)),
                     FORWARD_GRPC_RETRY);
    assert_int_equal(retry, 3000);
    assert_non_null(strstr(err, "RESOURCE_EXHAUSTED"));
    s.verdict = RECEIVER_ACCEPTED;
    assert_int_equal(forward_grpc_send(fc, (uint8_t *)"\x0a\xff", 2, false,
                                       5000, NULL, NULL, &retry, err,
                                       sizeof(err)),
                     FORWARD_GRPC_PERMANENT);
    assert_non_null(strstr(err, "INVALID_ARGUMENT"));
    assert_int_equal(forward_grpc_send(fc, (uint8_t *)"{}", 2, true, 5000, NULL,
                                       NULL, &retry, err, sizeof(err)),
                     FORWARD_GRPC_PERMANENT);
    bad = forward_grpc_create(url, "wrong", err, sizeof(err));
    assert_int_equal(forward_grpc_send(bad, (uint8_t *)msg.data, msg.len, false,
                                       5000, NULL, NULL, &retry, err,
                                       sizeof(err)),
                     FORWARD_GRPC_PERMANENT);
    assert_non_null(strstr(err, "UNAUTHENTICATED"));
    forward_grpc_destroy(bad);
    receiver_grpc_stop(g, NULL);
    /* the downstream is gone: retry */
    assert_int_equal(forward_grpc_send(fc, (uint8_t *)msg.data, msg.len, false,
                                       2000, NULL, NULL, &retry, err,
                                       sizeof(err)),
                     FORWARD_GRPC_RETRY);
    forward_grpc_destroy(fc);
    assert_int_equal(forward_grpc_classify(GRPC_RESOURCE_EXHAUSTED, false),
                     FORWARD_GRPC_PERMANENT);
    assert_int_equal(forward_grpc_classify(GRPC_UNAVAILABLE, false),
                     FORWARD_GRPC_RETRY);
    free(msg.data);
    sink_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_export_ok),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_pending),
        cmocka_unit_test(test_pending_stop),
        cmocka_unit_test(test_pending_reset),
        cmocka_unit_test(test_token_and_methods),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_forward_grpc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
