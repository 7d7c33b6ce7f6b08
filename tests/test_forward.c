/* Tests of the forwarder against real peers: skewscope's own OTLP/HTTP
 * receiver as the downstream (its batch handler records every span ID it
 * decodes, in arrival order) and librdkafka's mock cluster.
 *
 * Bodies are ExportTraceServiceRequests built with the protobuf-c structs
 * (plus one OTLP/JSON body); span i of batch b has span ID
 * ID(b, i), unique, so the downstream's record proves which batches
 * arrived, how often, and in which order. Cases: FIFO delivery and
 * counters; an outage mid-stream (receiver stopped, batches go to the
 * spool, receiver back on the same port: every span exactly once, in
 * order); stop while the downstream is down and replay by the next start;
 * a permanent 400 (malformed body) dropped and counted, not retried; the
 * memory queue and the spool both full -> refused, then all delivered;
 * Kafka (consumed back, with headers); both sinks at once through an HTTP
 * outage (no sink gets a batch twice); bad configurations; done callbacks
 * exactly once everywhere. Waits poll the counters with a generous cap
 * that fails the test; nothing asserts on durations. */
#define _GNU_SOURCE
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "serve/forward.h"
#include "serve/receiver.h"
#include "serve/spool.h"
#include "testbed/kafka_mock.h"

#define SPANS 4 /* per batch */
#define ID(b, i) (0x0100000000000000ull | (uint64_t)(b) << 8 | (uint64_t)(i))
#define MAX_BATCHES 512
#define WAIT_CAP_MS 30000

/* ---- the downstream: a receiver recording span IDs */

struct downstream {
    pthread_mutex_t mu;
    uint64_t ids[MAX_BATCHES * SPANS];
    size_t n;
    struct receiver *r;
    int port;
    unsigned delay_ms;  /* per batch, to make a slow downstream */
    atomic_int entered; /* handler calls begun */
};

static enum receiver_verdict record_batch(void *ctx, struct span_store *batch,
                                          struct receiver_outcome *out)
{
    struct downstream *d = ctx;

    (void)out;
    atomic_fetch_add(&d->entered, 1);
    if (d->delay_ms) {
        struct timespec ts = {0, (long)d->delay_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < span_store_count(batch); i++)
        if (d->n < MAX_BATCHES * SPANS)
            d->ids[d->n++] = span_store_at(batch, i)->span_id;
    pthread_mutex_unlock(&d->mu);
    span_store_destroy(batch);
    return RECEIVER_ACCEPTED;
}

/* Start listening on port (0 = any); keeps what was recorded so far. */
static void ds_up(struct downstream *d, int port)
{
    struct receiver_config cfg = {.shutdown_grace_ms = 2000};
    char listen[64], err[256];

    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    cfg.listen = listen;
    d->r = receiver_start(&cfg, record_batch, d, err, sizeof err);
    if (!d->r)
        fail_msg("receiver_start %s: %s", listen, err);
    d->port = receiver_port(d->r);
}

static void ds_down(struct downstream *d)
{
    receiver_stop(d->r);
    d->r = NULL;
}

static struct downstream *ds_new(void)
{
    struct downstream *d = calloc(1, sizeof *d);

    assert_non_null(d);
    pthread_mutex_init(&d->mu, NULL);
    return d;
}

static void ds_free(struct downstream *d)
{
    if (d->r)
        receiver_stop(d->r);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* The downstream got exactly the spans of batches `batches[0..n)`, each
 * once, in that order. */
static void ds_expect(struct downstream *d, const unsigned *batches, size_t n)
{
    pthread_mutex_lock(&d->mu);
    assert_int_equal(d->n, n * SPANS);
    for (size_t k = 0; k < n; k++)
        for (unsigned i = 0; i < SPANS; i++)
            if (d->ids[k * SPANS + i] != ID(batches[k], i))
                fail_msg("span %zu: got %#llx, want %#llx (batch %u)",
                         k * SPANS + i,
                         (unsigned long long)d->ids[k * SPANS + i],
                         (unsigned long long)ID(batches[k], i), batches[k]);
    pthread_mutex_unlock(&d->mu);
}

static void ds_expect_range(struct downstream *d, unsigned from, unsigned to)
{
    unsigned b[MAX_BATCHES];

    for (unsigned k = from; k < to; k++)
        b[k - from] = k;
    ds_expect(d, b, to - from);
}

/* A port on which nothing listens (a receiver was there a moment ago). */
static int dead_port(void)
{
    struct downstream *d = ds_new();
    int port;

    ds_up(d, 0);
    port = d->port;
    ds_free(d);
    return port;
}

/* ---- bodies */

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;

/* ExportTraceServiceRequest with SPANS spans of batch b (malloc'd). */
static uint8_t *proto_body(unsigned b, size_t *len)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    KeyValue kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    AnyValue av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    KeyValue *kvs[1] = {&kv};
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[1] = {&rs};
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[1] = {&ss};
    Span spans[SPANS], *sp[SPANS];
    uint8_t tid[SPANS][16], sid[SPANS][8], *out;

    av.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    av.string_value = "node-a";
    kv.key = "host.name";
    kv.value = &av;
    res.n_attributes = 1;
    res.attributes = kvs;
    for (unsigned i = 0; i < SPANS; i++) {
        uint64_t id = ID(b, i);
        Span s = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
        memset(tid[i], 0, 16);
        tid[i][0] = 0xab;
        tid[i][15] = (uint8_t)(b + 1);
        for (int k = 7; k >= 0; k--, id >>= 8)
            sid[i][k] = (uint8_t)id;
        s.trace_id = (ProtobufCBinaryData){16, tid[i]};
        s.span_id = (ProtobufCBinaryData){8, sid[i]};
        s.name = "op";
        s.kind =
            OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
        s.start_time_unix_nano = 1700000000000000000ull + b * 1000u + i;
        s.end_time_unix_nano = s.start_time_unix_nano + 500;
        spans[i] = s;
        sp[i] = &spans[i];
    }
    ss.n_spans = SPANS;
    ss.spans = sp;
    rs.resource = &res;
    rs.n_scope_spans = 1;
    rs.scope_spans = sss;
    req.n_resource_spans = 1;
    req.resource_spans = rss;
    *len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    out = malloc(*len);
    assert_non_null(out);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        &req, out);
    return out;
}

/* The same batch as OTLP/JSON. */
static uint8_t *json_body(unsigned b, size_t *len)
{
    char *s = NULL, *p;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);

    assert_non_null(f);
    fputs("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
          "\"host.name\",\"value\":{\"stringValue\":\"node-a\"}}]},"
          "\"scopeSpans\":[{\"spans\":[",
          f);
    for (unsigned i = 0; i < SPANS; i++)
        fprintf(f,
                "%s{\"traceId\":\"ab0000000000000000000000000000%02x\","
                "\"spanId\":\"%016llx\",\"name\":\"op\",\"kind\":2,"
                "\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":"
                "\"%llu\"}",
                i ? "," : "", (b + 1) & 0xff, (unsigned long long)ID(b, i),
                1700000000000000000ull + b * 1000u + i,
                1700000000000000500ull + b * 1000u + i);
    fputs("]}]}]}", f);
    fclose(f);
    p = (char *)malloc(n);
    memcpy(p, s, n);
    free(s);
    *len = n;
    return (uint8_t *)p;
}

/* ---- the forwarder under test */

struct done_log {
    atomic_int calls[MAX_BATCHES];
};

struct done_arg {
    struct done_log *log;
    unsigned batch;
};

static struct done_arg done_args[MAX_BATCHES];

static void on_done(void *ctx)
{
    struct done_arg *a = ctx;

    atomic_fetch_add(&a->log->calls[a->batch], 1);
}

static int submit(struct forward *f, struct done_log *log, unsigned b,
                  enum forward_content ct)
{
    size_t len;
    uint8_t *body =
        ct == FORWARD_JSON ? json_body(b, &len) : proto_body(b, &len);

    done_args[b] = (struct done_arg){log, b};
    return forward_submit(f, body, len, ct, SPANS, on_done, &done_args[b]);
}

static void submit_range(struct forward *f, struct done_log *log, unsigned from,
                         unsigned to)
{
    for (unsigned b = from; b < to; b++)
        assert_int_equal(submit(f, log, b, FORWARD_PROTOBUF), 0);
}

/* Every batch in [from, to) had its done callback run exactly `times`
 * (after forward_stop, or for callbacks that must not have run). */
static void expect_done(struct done_log *log, unsigned from, unsigned to,
                        int times)
{
    for (unsigned b = from; b < to; b++)
        if (atomic_load(&log->calls[b]) != times)
            fail_msg("batch %u: done ran %d times, want %d", b,
                     atomic_load(&log->calls[b]), times);
}

static int64_t now_ms(void);
static void nap(void);

/* Callbacks run on the forwarder's thread, a moment after the batch became
 * safe: wait (capped) until each in [from, to) ran, then check once. */
static void wait_done(struct done_log *log, unsigned from, unsigned to)
{
    int64_t until = now_ms() + WAIT_CAP_MS;

    for (unsigned b = from; b < to; b++)
        while (atomic_load(&log->calls[b]) == 0 && now_ms() < until)
            nap();
    expect_done(log, from, to, 1);
}

struct fwd_opts {
    int port; /* 0: no HTTP sink */
    const char *dir;
    const char *kafka_brokers, *kafka_topic;
    uint64_t spool_max;
    size_t queue_max;
};

static struct forward *fwd_start(const struct fwd_opts *o)
{
    char url[96], err[256] = "";
    struct forward_config cfg = {
        .spool_dir = o->dir,
        .spool_max_bytes = o->spool_max,
        .max_queued_bytes = o->queue_max,
        .kafka_brokers = o->kafka_brokers,
        .kafka_topic = o->kafka_topic,
        .timeout_ms = 3000,
        .backoff_initial_ms = 20,
        .backoff_max_ms = 100,
    };
    struct forward *f;

    if (o->port) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", o->port);
        cfg.otlp_endpoint = url;
    }
    f = forward_start(&cfg, err, sizeof err);
    if (!f)
        fail_msg("forward_start: %s", err);
    return f;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
    struct timespec ts = {0, 5 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

/* Poll the counters until cond holds (c names them); fail after the cap. */
#define WAIT_COUNTERS(f, c, cond)                                              \
    do {                                                                       \
        int64_t until_ = now_ms() + WAIT_CAP_MS;                               \
        for (;;) {                                                             \
            forward_counters_read((f), &(c));                                  \
            if (cond)                                                          \
                break;                                                         \
            if (now_ms() > until_)                                             \
                fail_msg("timed out waiting for %s", #cond);                   \
            nap();                                                             \
        }                                                                      \
    } while (0)

/* ---- tests */

static void test_fifo_delivery(void **state)
{
    struct downstream *d = ds_new();
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test");
    struct forward_counters c;
    struct forward *f;

    (void)state;
    ds_up(d, 0);
    f = fwd_start(&(struct fwd_opts){.port = d->port, .dir = dir});
    submit_range(f, log, 0, 40);
    assert_int_equal(submit(f, log, 40, FORWARD_JSON), 0);
    submit_range(f, log, 41, 60);
    WAIT_COUNTERS(f, c, c.forwarded_batches == 60);
    assert_int_equal(c.forwarded_spans, 60 * SPANS);
    assert_int_equal(c.dropped_spans, 0);
    assert_int_equal(c.retries, 0);
    assert_int_equal(c.spooled_spans, 0);
    assert_int_equal(c.spool_spans, 0);
    assert_true(c.downstream_up);
    forward_stop(f, 1000, NULL);
    ds_expect_range(d, 0, 60); /* the JSON batch decoded too: content type */
    expect_done(log, 0, 60, 1);
    ds_free(d);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* THE FAULT TEST: the downstream goes away mid-stream and comes back. */
static void test_outage_spool_and_recover(void **state)
{
    struct downstream *d = ds_new();
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test");
    struct forward_counters c;
    struct forward *f;
    int port;

    (void)state;
    ds_up(d, 0);
    port = d->port;
    f = fwd_start(&(struct fwd_opts){.port = port, .dir = dir});
    submit_range(f, log, 0, 20);
    WAIT_COUNTERS(f, c, c.forwarded_batches == 20);

    ds_down(d);
    submit_range(f, log, 20, 60);
    WAIT_COUNTERS(f, c, c.spool_spans == 40 * SPANS && c.retries > 0);
    assert_int_equal(forward_queued_spans(f), 0);
    assert_false(c.downstream_up);
    assert_int_equal(c.forwarded_batches, 20);
    assert_int_equal(c.spooled_spans, 40 * SPANS);
    wait_done(log, 0, 60);        /* spooled is safe: done ran */
    forward_counters_read(f, &c); /* ... after an fsync of the spool */
    assert_true(c.spool_syncs >= 1);
    submit_range(f, log, 60, 70); /* still behind the spool */
    WAIT_COUNTERS(f, c, c.spool_spans == 50 * SPANS);

    ds_up(d, port);
    WAIT_COUNTERS(f, c, c.forwarded_batches == 70);
    assert_int_equal(c.spool_spans, 0);
    assert_int_equal(c.replayed_spans, 50 * SPANS);
    assert_int_equal(c.dropped_spans, 0);
    assert_true(c.downstream_up);
    /* Back in memory mode: new batches do not touch the spool. */
    submit_range(f, log, 70, 80);
    WAIT_COUNTERS(f, c, c.forwarded_batches == 80);
    assert_int_equal(c.spooled_spans, 50 * SPANS);
    forward_stop(f, 1000, NULL);
    /* Stopped cleanly, so nothing was in flight when it broke: every span
     * exactly once, in submission order. */
    ds_expect_range(d, 0, 80);
    expect_done(log, 0, 80, 1);
    ds_free(d);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* Stop while the downstream is down: everything ends in the spool, and the
 * next start with the same directory delivers it, once, in order. */
static void test_stop_then_replay(void **state)
{
    struct downstream *d = ds_new();
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test"), err[256];
    int port = dead_port();
    struct forward_counters c;
    struct spool_stats st;
    struct forward *f;
    struct spool *s;

    (void)state;
    f = fwd_start(&(struct fwd_opts){.port = port, .dir = dir});
    submit_range(f, log, 0, 30);
    forward_stop(f, 150, NULL);
    expect_done(log, 0, 30, 1);
    s = spool_open(dir, 1 << 30, 0, err, sizeof err);
    assert_non_null(s);
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 30);
    assert_int_equal(st.spans, 30 * SPANS);
    spool_close(s);

    ds_up(d, port);
    f = fwd_start(&(struct fwd_opts){.port = port, .dir = dir});
    submit_range(f, log, 30, 35); /* queued behind the replay */
    WAIT_COUNTERS(f, c, c.forwarded_batches == 35);
    /* The new batches went to the spool behind the old ones, or to memory
     * if the replay was over: either way through the spool means replayed. */
    assert_true(c.replayed_spans >= 30 * SPANS);
    assert_true(c.replayed_spans <= 35 * SPANS);
    assert_int_equal(c.replayed_spans, 30 * SPANS + c.spooled_spans);
    assert_int_equal(c.spool_spans, 0);
    forward_stop(f, 1000, NULL);
    ds_expect_range(d, 0, 35);
    expect_done(log, 0, 35, 1);

    s = spool_open(dir, 1 << 30, 0, err, sizeof err); /* now empty */
    assert_non_null(s);
    assert_int_equal(spool_count(s), 0);
    spool_close(s);
    ds_free(d);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* A body the downstream cannot decode gets 400: dropped and counted once,
 * never retried; the batches around it are delivered. */
static void test_permanent_400_dropped(void **state)
{
    struct downstream *d = ds_new();
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test");
    struct forward_counters c;
    struct forward *f;
    uint8_t *junk = malloc(64);

    (void)state;
    memset(junk, 0xff, 64);
    ds_up(d, 0);
    f = fwd_start(&(struct fwd_opts){.port = d->port, .dir = dir});
    submit_range(f, log, 0, 3);
    done_args[3] = (struct done_arg){log, 3};
    assert_int_equal(forward_submit(f, junk, 64, FORWARD_PROTOBUF, 7, on_done,
                                    &done_args[3]),
                     0);
    submit_range(f, log, 4, 6);
    WAIT_COUNTERS(f, c, c.forwarded_batches == 5 && c.dropped_spans == 7);
    assert_int_equal(c.retries, 0);
    assert_int_equal(c.spooled_spans, 0);
    forward_stop(f, 1000, NULL);
    ds_expect(d, (const unsigned[]){0, 1, 2, 4, 5}, 5);
    expect_done(log, 0, 6, 1);
    ds_free(d);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* Memory queue and spool both full: forward_submit refuses; nothing that
 * was accepted is lost once the downstream is back. */
static void test_full_refuses(void **state)
{
    struct downstream *d = ds_new();
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test");
    int port = dead_port();
    struct forward_counters c;
    struct forward *f;
    size_t len, spool_cap;
    unsigned n;

    (void)state;
    free(proto_body(0, &len)); /* every batch encodes to len bytes */
    spool_cap = 4096 / (SPOOL_HEADER_BYTES + len);
    f = fwd_start(&(struct fwd_opts){
        .port = port, .dir = dir, .spool_max = 4096, .queue_max = 3 * len});
    assert_int_equal(submit(f, log, 0, FORWARD_PROTOBUF), 0);
    WAIT_COUNTERS(f, c, c.retries > 0 && c.spool_spans == SPANS);
    for (n = 1; n < 200; n++)
        if (submit(f, log, n, FORWARD_PROTOBUF) < 0)
            break;
    assert_int_equal(n, spool_cap + 3); /* the spool, then 3 in memory */
    assert_int_equal(forward_queued_spans(f), 3 * SPANS);
    forward_counters_read(f, &c);
    assert_int_equal(c.spool_spans, spool_cap * SPANS);
    assert_int_equal(submit(f, log, n, FORWARD_PROTOBUF), -1);
    wait_done(log, 0, (unsigned)spool_cap);
    expect_done(log, (unsigned)spool_cap, n + 1, 0); /* memory; refused */

    ds_up(d, port);
    WAIT_COUNTERS(f, c, c.forwarded_batches == n);
    assert_int_equal(forward_queued_spans(f), 0);
    assert_int_equal(submit(f, log, n + 1, FORWARD_PROTOBUF), 0);
    WAIT_COUNTERS(f, c, c.forwarded_batches == n + 1);
    forward_stop(f, 1000, NULL);
    {
        unsigned want[MAX_BATCHES];
        for (unsigned k = 0; k < n; k++)
            want[k] = k;
        want[n] = n + 1;
        ds_expect(d, want, n + 1);
    }
    expect_done(log, 0, n, 1);
    expect_done(log, n, n + 1, 0); /* the refused batch */
    expect_done(log, n + 1, n + 2, 1);
    assert_int_equal(c.dropped_spans, 0);
    ds_free(d);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* A healthy but slow downstream and a memory queue of two batches: new
 * batches overflow to the spool while one is in flight (which is copied
 * to the spool head and popped once acknowledged): still every span
 * exactly once, in order. */
static void test_memory_full_spills_in_order(void **state)
{
    struct downstream *d = ds_new();
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test");
    struct forward_counters c;
    struct forward *f;
    size_t len;

    (void)state;
    free(proto_body(0, &len));
    d->delay_ms = 50;
    ds_up(d, 0);
    f = fwd_start(
        &(struct fwd_opts){.port = d->port, .dir = dir, .queue_max = 2 * len});
    submit_range(f, log, 0, 1);
    for (int64_t until = now_ms() + WAIT_CAP_MS;
         atomic_load(&d->entered) == 0 && now_ms() < until;)
        nap();
    submit_range(f, log, 1, 30); /* batch 0 is in flight now */
    WAIT_COUNTERS(f, c, c.forwarded_batches == 30);
    assert_true(c.spooled_spans > 0);
    assert_int_equal(c.spool_spans, 0);
    assert_int_equal(c.retries, 0);
    assert_int_equal(c.dropped_spans, 0);
    forward_stop(f, 1000, NULL);
    ds_expect_range(d, 0, 30);
    expect_done(log, 0, 30, 1);
    ds_free(d);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* A stop with a grace period of 0 while a large backlog is queued in
 * memory and the downstream is down: it returns, everything is spooled,
 * every done callback ran once. */
static void test_stop_no_grace(void **state)
{
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test"), err[256];
    int port = dead_port();
    struct forward *f;
    struct spool *s;

    (void)state;
    f = fwd_start(&(struct fwd_opts){.port = port, .dir = dir});
    submit_range(f, log, 0, 200);
    forward_stop(f, 0, NULL);
    expect_done(log, 0, 200, 1);
    s = spool_open(dir, 1 << 30, 0, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(spool_count(s), 200);
    spool_close(s);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* ---- Kafka */

struct kafka_msg {
    uint8_t *value;
    size_t len;
    char content_type[64];
};

/* Read n messages of topic partition 0 from the start. Returns how many. */
static size_t consume(const char *brokers, const char *topic,
                      struct kafka_msg *out, size_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *tp;
    char err[256];
    rd_kafka_t *rk;
    size_t got = 0;
    int64_t until = now_ms() + WAIT_CAP_MS;

    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err),
        RD_KAFKA_CONF_OK);
    assert_int_equal(
        rd_kafka_conf_set(conf, "group.id", "test-forward", err, sizeof err),
        RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, topic, 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, tp), 0);
    rd_kafka_topic_partition_list_destroy(tp);
    while (got < n + 1 && now_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        rd_kafka_headers_t *h;
        const void *v;
        size_t vlen;
        if (!m)
            continue;
        if (!m->err && got < n) {
            out[got].value = malloc(m->len);
            memcpy(out[got].value, m->payload, m->len);
            out[got].len = m->len;
            if (rd_kafka_message_headers(m, &h) == 0 &&
                rd_kafka_header_get_last(h, "content-type", &v, &vlen) == 0)
                snprintf(out[got].content_type, 64, "%.*s", (int)vlen,
                         (const char *)v);
            got++;
        } else if (!m->err) {
            got++; /* one more than expected: a duplicate */
        }
        rd_kafka_message_destroy(m);
        if (got == n) /* give a duplicate a moment to show up */
            until = now_ms() + 500 < until ? now_ms() + 500 : until;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

static void check_kafka(const char *brokers, const char *topic, unsigned n,
                        const enum forward_content *ct)
{
    struct kafka_msg *m = calloc(n, sizeof *m);

    assert_int_equal(consume(brokers, topic, m, n), n);
    for (unsigned b = 0; b < n; b++) {
        size_t len;
        uint8_t *want =
            ct[b] == FORWARD_JSON ? json_body(b, &len) : proto_body(b, &len);
        assert_int_equal(m[b].len, len);
        assert_memory_equal(m[b].value, want, len);
        assert_string_equal(m[b].content_type, ct[b] == FORWARD_JSON
                                                   ? "application/json"
                                                   : "application/x-protobuf");
        free(want);
        free(m[b].value);
    }
    free(m);
}

static void test_kafka_sink(void **state)
{
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test"), err[256];
    struct kafka_mock *mock = kafka_mock_create(1, err, sizeof err);
    enum forward_content ct[20];
    struct forward_counters c;
    struct forward *f;

    (void)state;
    assert_non_null(mock);
    assert_int_equal(
        kafka_mock_create_topic(mock, "spans-out", 1, err, sizeof err), 0);
    f = fwd_start(
        &(struct fwd_opts){.dir = dir,
                           .kafka_brokers = kafka_mock_bootstraps(mock),
                           .kafka_topic = "spans-out"});
    for (unsigned b = 0; b < 20; b++) {
        ct[b] = b % 5 == 4 ? FORWARD_JSON : FORWARD_PROTOBUF;
        assert_int_equal(submit(f, log, b, ct[b]), 0);
    }
    WAIT_COUNTERS(f, c, c.forwarded_batches == 20);
    assert_int_equal(c.forwarded_spans, 20 * SPANS);
    forward_stop(f, 1000, NULL);
    expect_done(log, 0, 20, 1);
    check_kafka(kafka_mock_bootstraps(mock), "spans-out", 20, ct);
    kafka_mock_destroy(mock);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* Both sinks; the HTTP one goes down for a while. Each sink gets every
 * batch exactly once: the spool head remembers that Kafka has it. */
static void test_both_sinks_http_outage(void **state)
{
    struct downstream *d = ds_new();
    struct done_log *log = calloc(1, sizeof *log);
    char *dir = testlib_temp_dir("fwd-test"), err[256];
    struct kafka_mock *mock = kafka_mock_create(1, err, sizeof err);
    enum forward_content ct[30];
    struct forward_counters c;
    struct forward *f;
    int port;

    (void)state;
    assert_non_null(mock);
    assert_int_equal(
        kafka_mock_create_topic(mock, "spans-both", 1, err, sizeof err), 0);
    ds_up(d, 0);
    port = d->port;
    f = fwd_start(
        &(struct fwd_opts){.port = port,
                           .dir = dir,
                           .kafka_brokers = kafka_mock_bootstraps(mock),
                           .kafka_topic = "spans-both"});
    for (unsigned b = 0; b < 30; b++)
        ct[b] = FORWARD_PROTOBUF;
    submit_range(f, log, 0, 10);
    WAIT_COUNTERS(f, c, c.forwarded_batches == 10);
    ds_down(d);
    submit_range(f, log, 10, 25);
    WAIT_COUNTERS(f, c, c.spool_spans == 15 * SPANS && c.retries > 1);
    ds_up(d, port);
    submit_range(f, log, 25, 30);
    WAIT_COUNTERS(f, c, c.forwarded_batches == 30);
    forward_stop(f, 1000, NULL);
    ds_expect_range(d, 0, 30);
    check_kafka(kafka_mock_bootstraps(mock), "spans-both", 30, ct);
    expect_done(log, 0, 30, 1);
    kafka_mock_destroy(mock);
    ds_free(d);
    testlib_remove_tree(dir);
    free(dir);
    free(log);
}

/* ---- configuration */

static void expect_start_error(const struct forward_config *cfg,
                               const char *needle)
{
    char err[256] = "";

    assert_null(forward_start(cfg, err, sizeof err));
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_bad_config(void **state)
{
    char *dir = testlib_temp_dir("fwd-test"), file[512];
    struct forward_config cfg = {.spool_dir = dir};
    struct forward *f;
    FILE *fp;

    (void)state;
    expect_start_error(&cfg, "no downstream");
    cfg.otlp_endpoint = "localhost:4318";
    expect_start_error(&cfg, "not a URL");
    cfg.otlp_endpoint = NULL;
    cfg.kafka_topic = "t";
    expect_start_error(&cfg, "kafka_brokers");
    cfg.kafka_topic = NULL;

    snprintf(file, sizeof file, "%s/file", dir);
    fp = fopen(file, "w");
    fclose(fp);
    snprintf(file, sizeof file, "%s/file/spool", dir);
    cfg.spool_dir = file;
    cfg.otlp_endpoint = "http://127.0.0.1:9/";
    expect_start_error(&cfg, "cannot create");

    cfg.spool_dir = dir; /* one forwarder per spool directory */
    f = fwd_start(&(struct fwd_opts){.port = 9, .dir = dir});
    expect_start_error(&cfg, "in use");
    forward_stop(f, 0, NULL);
    forward_stop(NULL, 0, NULL);
    snprintf(file, sizeof file, "%s/file", dir);
    unlink(file);
    testlib_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_delivery),
        cmocka_unit_test(test_outage_spool_and_recover),
        cmocka_unit_test(test_stop_then_replay),
        cmocka_unit_test(test_permanent_400_dropped),
        cmocka_unit_test(test_full_refuses),
        cmocka_unit_test(test_memory_full_spills_in_order),
        cmocka_unit_test(test_stop_no_grace),
        cmocka_unit_test(test_kafka_sink),
        cmocka_unit_test(test_both_sinks_http_outage),
        cmocka_unit_test(test_bad_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
