/* test_serve: `skewscope serve` end to end (src/serve/serve.c), with a real
 * HTTP client (libcurl), a real downstream (a receiver in this process),
 * librdkafka's mock cluster and the testbed pipeline as senders:
 *   - spans of one trace sent in separate requests (one per node, as
 *     exporters do) are assembled; the live offsets match the injected
 *     skew; violations are counted on the skewed edges only; the warning
 *     is raised; /metrics carries every metric name users build on;
 *   - forwarded spans arrive exactly once, corrected (with the originals
 *     as attributes) once the model knows the clocks;
 *   - Kafka input: every message processed; offsets committed only after
 *     processing, so a second instance of the group takes up exactly where
 *     the first stopped;
 *   - the testbed feeding it: offsets match the injected skew; with a
 *     drifting clock the warning comes before the first violation;
 *   - the write-ahead log: requests on one HTTP thread share fsyncs (the
 *     thread does not wait for the disk: answers come from the log's
 *     thread); a failing fsync answers 503 and keeps nothing;
 *   - invalid spans (an empty trace ID) are counted, left out of the
 *     analysis and forwarded unchanged (HTTP and Kafka). */
#define _GNU_SOURCE
#include "testlib.h"

#include "serve_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/correct.h"
#include "output/trace_writer.h"
#include "serve/receiver.h"
#include "serve/serve.h"
#include "testbed/kafka_mock.h"

#define MS 1000000LL
#define T0 1790000000000000000LL
#define SKEW_NS (5 * MS) /* node-prefill's clock is ahead by this */

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;

/* ---- HTTP client */

/* GET or (body != NULL) POST as ctype, no token. */
static long http(int port, const char *path, const struct buf *body,
                 const char *ctype, struct buf *out)
{
    return sc_http(port, path, body, ctype, NULL, out);
}

static json_t *status(int port)
{
    return sc_get_json(port, "/api/v1/status", NULL);
}

static json_int_t status_int(json_t *st, const char *obj, const char *key)
{
    json_t *v = json_object_get(json_object_get(st, obj), key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Poll status until edge from->to has `pairs` pairs (deadline 20 s). */
static json_t *wait_pairs(int port, const char *from, const char *to,
                          json_int_t pairs)
{
    double end = clock_now_s(CLOCK_MONOTONIC) + 20;

    for (;;) {
        json_t *st = status(port);
        json_t *e =
            sc_find_named(json_object_get(st, "edges"), "from", from, "to", to);
        json_int_t got =
            e ? json_integer_value(json_object_get(e, "pairs")) : 0;
        if (got >= pairs)
            return st;
        json_decref(st);
        if (clock_now_s(CLOCK_MONOTONIC) > end)
            fail_msg("edge %s -> %s: %lld pairs, expected %lld", from, to,
                     (long long)got, (long long)pairs);
        sc_sleep_ms(50);
    }
}

/* ---- traces with known truth */

/* One-way loop gateway -> prefill -> decode -> gateway (the reply closes
 * the loop, which is what makes one-way offsets observable): CONSUMER
 * spans throughout (one transport class), 2 ms + jitter per hop.
 * Trace ids (base + i); prefill's clock ahead by SKEW_NS. Spans of one
 * hop go in their own requests, as each process exports its own. */
#define HOPS 4
struct chain {
    struct span_desc d[HOPS][200];
    size_t n;
};

static void make_chain(struct chain *c, size_t ntraces, unsigned base)
{
    static const struct span_kv sys[] = {{"messaging.system", "kafka"}};
    static const char *hosts[HOPS] = {"node-gateway", "node-prefill",
                                      "node-decode", "node-gateway"};

    assert_true(ntraces <= 200);
    memset(c, 0, sizeof(*c));
    c->n = ntraces;
    for (size_t i = 0; i < ntraces; i++) {
        int64_t t = T0 + (int64_t)(base + i) * 3 * MS;
        for (int k = 0; k < HOPS; k++) {
            struct span_desc *s = &c->d[k][i];
            /* each hop: 2 ms + 0..490 us, the minimum reached on every hop */
            if (k)
                t += 2 * MS + (int64_t)((i + (size_t)k * 37) % 50) * 10000;
            s->trace_id[0] = 0x5e;
            s->trace_id[12] = (uint8_t)((base + i) >> 8);
            s->trace_id[13] = (uint8_t)(base + i);
            s->trace_id[15] = 1;
            s->span_id = ((uint64_t)(base + i) << 8) | (uint64_t)(k + 1);
            s->parent_span_id = k ? (s->span_id & ~0xffull) | (uint64_t)k : 0;
            s->name = k ? "consume" : "send";
            s->kind = SPAN_KIND_CONSUMER; /* one transport class */
            s->start_ns = t;
            s->end_ns = s->start_ns + MS;
            if (k == 1) {
                s->start_ns += SKEW_NS;
                s->end_ns += SKEW_NS;
            }
            s->host_name = hosts[k];
            s->service_name = "svc";
            s->attrs = sys;
            s->nattrs = 1;
        }
    }
}

/* Send each node's spans in requests of `per` spans, node by node. */
static void send_chain(int port, const struct chain *c, size_t per)
{
    for (int k = 0; k < HOPS; k++)
        for (size_t i = 0; i < c->n; i += per) {
            size_t n = c->n - i < per ? c->n - i : per;
            struct buf body = sc_proto_body(&c->d[k][i], n), out;
            assert_int_equal(
                http(port, "/v1/traces", &body, "application/x-protobuf", &out),
                200);
            free(out.data);
            free(body.data);
        }
}

/* ---- downstream: records every forwarded span */

struct seen_span {
    uint64_t span_id;
    size_t trace_id_len;
    int64_t start_ns, end_ns;
    bool has_offset;
    int64_t offset_attr, orig_start_attr;
};

struct downstream {
    pthread_mutex_t lock;
    struct seen_span spans[4096];
    size_t n;
    struct receiver *rx;
};

static int64_t int_attr(const Opentelemetry__Proto__Trace__V1__Span *sp,
                        const char *key, bool *found)
{
    for (size_t a = 0; a < sp->n_attributes; a++)
        if (strcmp(sp->attributes[a]->key, key) == 0 &&
            sp->attributes[a]->value) {
            *found = true;
            return sp->attributes[a]->value->int_value;
        }
    return 0;
}

static enum receiver_verdict downstream_batch(void *ctx,
                                              struct receiver_batch *b,
                                              struct receiver_outcome *out)
{
    struct downstream *d = ctx;
    Request *rq;

    (void)out;
    assert_int_equal(b->content, RECEIVER_CONTENT_PROTOBUF);
    rq =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, b->len, b->body);
    assert_non_null(rq);
    pthread_mutex_lock(&d->lock);
    for (size_t r = 0; r < rq->n_resource_spans; r++)
        for (size_t s = 0; s < rq->resource_spans[r]->n_scope_spans; s++) {
            Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
                rq->resource_spans[r]->scope_spans[s];
            for (size_t k = 0; k < ss->n_spans; k++) {
                const Opentelemetry__Proto__Trace__V1__Span *sp = ss->spans[k];
                struct seen_span *x = &d->spans[d->n];
                bool f1 = false, f2 = false;
                assert_true(d->n < 4096);
                memset(x, 0, sizeof(*x));
                memcpy(&x->span_id, sp->span_id.data, 8);
                x->span_id = __builtin_bswap64(x->span_id);
                x->trace_id_len = sp->trace_id.len;
                x->start_ns = (int64_t)sp->start_time_unix_nano;
                x->end_ns = (int64_t)sp->end_time_unix_nano;
                x->offset_attr = int_attr(sp, CORRECT_ATTR_OFFSET, &f1);
                x->orig_start_attr = int_attr(sp, CORRECT_ATTR_ORIG_START, &f2);
                x->has_offset = f1 && f2;
                d->n++;
            }
        }
    pthread_mutex_unlock(&d->lock);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
        rq, NULL);
    return RECEIVER_ACCEPTED;
}

static int downstream_start(struct downstream *d)
{
    struct receiver_config cfg = {0};
    char err[256];

    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->lock, NULL);
    cfg.listen = "127.0.0.1:0";
    cfg.body_handler = downstream_batch;
    d->rx = receiver_start(&cfg, NULL, d, err, sizeof(err));
    if (!d->rx)
        fail_msg("downstream: %s", err);
    return receiver_port(d->rx);
}

static size_t downstream_count(struct downstream *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->n;
    pthread_mutex_unlock(&d->lock);
    return n;
}

static struct serve *start_serve(struct serve_config *cfg)
{
    char err[512];
    struct serve *s;

    cfg->listen = "127.0.0.1:0";
    if (!(cfg->assembly_window_s > 0))
        cfg->assembly_window_s = 0.3;
    if (!(cfg->update_interval_s > 0))
        cfg->update_interval_s = 0.1;
    s = serve_start(cfg, err, sizeof(err));
    if (!s)
        fail_msg("serve_start: %s", err);
    assert_true(serve_port(s) > 0);
    return s;
}

/* ---- tests */

#define NTRACES 200

static void check_offsets(json_t *st, double tol_ns)
{
    json_t *nodes = json_object_get(st, "nodes");
    json_t *p = sc_find_named(nodes, "node", "node-prefill", NULL, NULL);
    json_t *d = sc_find_named(nodes, "node", "node-decode", NULL, NULL);

    assert_non_null(p);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(st, "reference")),
                        "node-gateway");
    double op = (double)json_integer_value(json_object_get(p, "offset_ns"));
    double od = (double)json_integer_value(json_object_get(d, "offset_ns"));
    if (fabs(op - SKEW_NS) > tol_ns || fabs(od) > tol_ns)
        fail_msg("offsets prefill %.0f ns (truth %lld), decode %.0f ns "
                 "(truth 0), tolerance %.0f",
                 op, (long long)SKEW_NS, od, tol_ns);
    /* the bounds the traces prove hold the truth */
    assert_true(json_integer_value(json_object_get(p, "lower_ns")) <= SKEW_NS);
    assert_true(json_integer_value(json_object_get(p, "upper_ns")) >= SKEW_NS);
}

static void check_metrics(int port)
{
    static const char *const names[] = {
        "skewscope_clock_offset_seconds{domain=\"node-prefill\"} ",
        "skewscope_clock_offset_lower_seconds{domain=",
        "skewscope_clock_offset_upper_seconds{domain=",
        "skewscope_clock_drift_ppm{domain=",
        "skewscope_edge_pairs_total{from=\"node-prefill\",to=\"node-decode\"} "
        "200\n",
        "skewscope_edge_violations_total{from=\"node-prefill\",to=\"node-"
        "decode\"} 200\n",
        "skewscope_edge_violations_total{from=\"node-gateway\",to=\"node-"
        "prefill\"} 0\n",
        "skewscope_edge_skew_budget_seconds{from=",
        "skewscope_edge_budget_used_ratio{from=",
        "skewscope_spans_received_total 800\n",
        "skewscope_spans_accepted_total 800\n",
        "skewscope_spans_rejected_total 0\n",
        "skewscope_spans_forwarded_total ",
        "skewscope_spans_dropped_total 0\n",
        "skewscope_queue_spans ",
        "skewscope_warnings_total ",
        "# TYPE skewscope_edge_pairs_total counter\n",
    };
    struct buf b;
    const char *p;
    double v;

    assert_int_equal(http(port, "/metrics", NULL, NULL, &b), 200);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strstr(b.data, names[i]))
            fail_msg("/metrics lacks \"%s\":\n%s", names[i], b.data);
    p = strstr(b.data, names[0]) + strlen(names[0]);
    v = strtod(p, NULL);
    if (fabs(v - SKEW_NS * 1e-9) > 100e-6)
        fail_msg("metric offset %g s, truth %g", v, SKEW_NS * 1e-9);
    p = strstr(b.data, "\nskewscope_warnings_total ") +
        strlen("\nskewscope_warnings_total ");
    assert_true(strtod(p, NULL) >= 1);
    free(b.data);
}

/* Phase 1: the clocks are learned from traces split over requests. Phase
 * 2: what is forwarded now is corrected. Every span arrives downstream
 * exactly once. */
static void test_http_end_to_end(void **state)
{
    struct serve_config cfg = {0};
    struct downstream ds;
    char url[128], *spool = testlib_temp_dir("serve-test");
    struct chain *c = malloc(sizeof(*c));
    struct serve *s;
    json_t *st, *e;
    int port;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces",
             downstream_start(&ds));
    cfg.forward_otlp = url;
    cfg.spool_dir = spool;
    cfg.reference = "node-gateway";
    s = start_serve(&cfg);
    port = serve_port(s);

    make_chain(c, NTRACES, 0);
    send_chain(port, c, 50);
    st = wait_pairs(port, "node-prefill", "node-decode", NTRACES);
    json_decref(st);
    st = wait_pairs(port, "node-gateway", "node-prefill", NTRACES);
    /* a wait for one more update, so every count is in */
    sc_sleep_ms(300);
    json_decref(st);
    st = status(port);
    check_offsets(st, 100e3);
    e = sc_find_named(json_object_get(st, "edges"), "from", "node-prefill",
                      "to", "node-decode");
    assert_int_equal(json_integer_value(json_object_get(e, "violations")),
                     NTRACES);
    assert_true(json_is_true(json_object_get(e, "warning")));
    e = sc_find_named(json_object_get(st, "edges"), "from", "node-gateway",
                      "to", "node-prefill");
    assert_int_equal(json_integer_value(json_object_get(e, "violations")), 0);
    assert_int_equal(json_integer_value(json_object_get(st, "orphans_total")),
                     0);
    assert_int_equal(status_int(st, "spans", "accepted"), HOPS * NTRACES);
    json_decref(st);
    check_metrics(port);

    /* phase 2: new traces, forwarded with the learned correction */
    make_chain(c, NTRACES, 1000);
    send_chain(port, c, 50);
    double end = clock_now_s(CLOCK_MONOTONIC) + 20;
    while (downstream_count(&ds) < 2 * HOPS * NTRACES &&
           clock_now_s(CLOCK_MONOTONIC) < end)
        sc_sleep_ms(20);
    assert_int_equal(serve_stop(s), 0);
    receiver_stop(ds.rx);
    assert_int_equal(ds.n, 2 * HOPS * NTRACES);
    /* exactly once */
    for (size_t i = 0; i < ds.n; i++)
        for (size_t j = i + 1; j < ds.n; j++)
            assert_true(ds.spans[i].span_id != ds.spans[j].span_id);
    size_t corrected = 0;
    for (size_t i = 0; i < ds.n; i++) {
        const struct seen_span *x = &ds.spans[i];
        unsigned trace = (unsigned)(x->span_id >> 8), node = x->span_id & 0xff;
        if (trace < 1000 || node != 2)
            continue;
        /* a phase 2 prefill span: corrected, the original kept */
        assert_true(x->has_offset);
        assert_true(llabs(x->offset_attr - SKEW_NS) < 100000);
        assert_int_equal(x->start_ns, x->orig_start_attr - x->offset_attr);
        assert_true(llabs(x->start_ns - (x->orig_start_attr - SKEW_NS)) <
                    100000);
        corrected++;
    }
    assert_int_equal(corrected, NTRACES);
    free(c);
    testlib_remove_tree(spool);
    free(spool);
}

/* Malformed, truncated and wrong-type requests get their codes and the
 * service still answers and counts right afterwards. */
static void test_bad_requests(void **state)
{
    struct serve_config cfg = {0};
    struct chain *c = malloc(sizeof(*c));
    struct buf body, out, junk = {(char *)"\x0a\xff\xff\xff\x0f", 5};
    struct serve *s;
    json_t *st;
    int port;

    (void)state;
    cfg.max_body_bytes = 64 * 1024;
    s = start_serve(&cfg);
    port = serve_port(s);
    make_chain(c, 10, 0);
    body = sc_proto_body(c->d[0], 10);
    assert_int_equal(
        http(port, "/v1/traces", &junk, "application/x-protobuf", &out), 400);
    free(out.data);
    struct buf half = {body.data, body.len / 2};
    assert_int_equal(
        http(port, "/v1/traces", &half, "application/x-protobuf", &out), 400);
    free(out.data);
    assert_int_equal(http(port, "/v1/traces", &body, "text/plain", &out), 415);
    free(out.data);
    struct buf big = {calloc(1, 100 * 1024), 100 * 1024};
    assert_int_equal(
        http(port, "/v1/traces", &big, "application/x-protobuf", &out), 413);
    free(out.data);
    free(big.data);
    assert_int_equal(http(port, "/nope", NULL, NULL, &out), 404);
    free(out.data);
    assert_int_equal(
        http(port, "/v1/traces", &body, "application/x-protobuf", &out), 200);
    free(out.data);
    st = status(port);
    assert_int_equal(status_int(st, "spans", "received"), 10);
    assert_int_equal(status_int(st, "spans", "accepted"), 10);
    json_decref(st);
    assert_int_equal(serve_stop(s), 0);
    free(body.data);
    free(c);
}

/* A bearer token guards every route. */
static void test_token(void **state)
{
    struct serve_config cfg = {0};
    struct buf out, body = {(char *)"", 0};
    struct serve *s;

    (void)state;
    cfg.bearer_token = "s3cret";
    s = start_serve(&cfg);
    assert_int_equal(http(serve_port(s), "/metrics", NULL, NULL, &out), 401);
    free(out.data);
    assert_int_equal(http(serve_port(s), "/api/v1/status", NULL, NULL, &out),
                     401);
    free(out.data);
    assert_int_equal(http(serve_port(s), "/v1/traces", &body,
                          "application/x-protobuf", &out),
                     401);
    free(out.data);
    assert_int_equal(serve_stop(s), 0);
}

/* ---- Kafka input */

static void produce(const char *brokers, const char *topic,
                    const struct chain *c, size_t per)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *p;

    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)),
        RD_KAFKA_CONF_OK);
    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(p);
    for (int k = 0; k < HOPS; k++)
        for (size_t i = 0; i < c->n; i += per) {
            size_t n = c->n - i < per ? c->n - i : per;
            struct buf body = sc_proto_body(&c->d[k][i], n);
            assert_int_equal(
                rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_KEY(c->d[k][i].trace_id, 16),
                                  RD_KAFKA_V_VALUE(body.data, body.len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                  RD_KAFKA_V_END),
                RD_KAFKA_RESP_ERR_NO_ERROR);
        }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

/* One request of two spans on host node-x: a valid one (span ID
 * 0x7001) and one with an empty trace ID (span ID id_invalid), which the
 * readers count as invalid and leave out of the batch. */
static struct buf invalid_body(uint64_t id_invalid)
{
    Request rq =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Opentelemetry__Proto__Common__V1__KeyValue kv =
        OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    Opentelemetry__Proto__Common__V1__AnyValue av =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    Opentelemetry__Proto__Trace__V1__Span sp[2] = {
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT,
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT};
    Opentelemetry__Proto__Trace__V1__Span *spp[2] = {&sp[0], &sp[1]};
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
    Opentelemetry__Proto__Common__V1__KeyValue *kvp = &kv;
    uint8_t tid[16] = {0x7e, [15] = 1}, sid[2][8];
    uint64_t ids[2] = {0x7001, id_invalid};
    struct buf b;

    av.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    av.string_value = (char *)"node-x";
    kv.key = (char *)"host.name";
    kv.value = &av;
    res.n_attributes = 1;
    res.attributes = &kvp;
    rs.resource = &res;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    ss.n_spans = 2;
    ss.spans = spp;
    rq.n_resource_spans = 1;
    rq.resource_spans = &rsp;
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 8; k++)
            sid[i][k] = (uint8_t)(ids[i] >> (56 - 8 * k));
        sp[i].span_id.len = 8;
        sp[i].span_id.data = sid[i];
        sp[i].name = (char *)"op";
        sp[i].kind =
            OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
        sp[i].start_time_unix_nano = (uint64_t)T0 + (uint64_t)i * 1000;
        sp[i].end_time_unix_nano = (uint64_t)T0 + MS;
    }
    sp[0].trace_id.len = 16;
    sp[0].trace_id.data = tid; /* sp[1]: no trace ID */
    b.len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &rq);
    b.data = malloc(b.len);
    assert_non_null(b.data);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        &rq, (uint8_t *)b.data);
    return b;
}

static void produce_raw(const char *brokers, const char *topic, struct buf b)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *p;

    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)),
        RD_KAFKA_CONF_OK);
    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                       RD_KAFKA_V_VALUE(b.data, b.len),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

static void wait_processed(struct serve *s, uint64_t n)
{
    struct serve_counters sc;
    double end = clock_now_s(CLOCK_MONOTONIC) + 30;

    do {
        sc_sleep_ms(50);
        serve_counters_read(s, &sc);
    } while (sc.processed < n && clock_now_s(CLOCK_MONOTONIC) < end);
    if (sc.processed != n)
        fail_msg("processed %llu spans, expected %llu",
                 (unsigned long long)sc.processed, (unsigned long long)n);
}

static void test_kafka_input(void **state)
{
    char err[256];
    struct kafka_mock *m = kafka_mock_create(1, err, sizeof(err));
    struct serve_config cfg = {0};
    struct chain *c = malloc(sizeof(*c));
    struct serve *s;
    json_t *st;

    (void)state;
    assert_non_null(m);
    assert_int_equal(kafka_mock_create_topic(m, "spans", 3, err, sizeof(err)),
                     0);
    make_chain(c, 100, 0);
    produce(kafka_mock_bootstraps(m), "spans", c, 20);
    cfg.kafka_brokers = kafka_mock_bootstraps(m);
    cfg.kafka_topic = "spans";
    cfg.kafka_group = "serve-test";
    cfg.reference = "node-gateway";
    s = start_serve(&cfg);
    wait_processed(s, HOPS * 100);
    st = wait_pairs(serve_port(s), "node-prefill", "node-decode", 100);
    json_decref(st);
    st = wait_pairs(serve_port(s), "node-gateway", "node-prefill", 100);
    check_offsets(st, 100e3);
    json_decref(st);
    assert_int_equal(serve_stop(s), 0);

    /* a second member of the group starts after the committed offsets:
     * it sees the new messages only; one of them holds a span without a
     * trace ID, counted as invalid and in no other count */
    make_chain(c, 50, 500);
    produce(kafka_mock_bootstraps(m), "spans", c, 10);
    struct buf inv = invalid_body(0x7002);
    produce_raw(kafka_mock_bootstraps(m), "spans", inv);
    free(inv.data);
    s = start_serve(&cfg);
    wait_processed(s, HOPS * 50 + 1);
    sc_sleep_ms(500);
    struct serve_counters sc;
    serve_counters_read(s, &sc);
    assert_int_equal(sc.processed, HOPS * 50 + 1);
    assert_int_equal(sc.received, HOPS * 50 + 1);
    assert_int_equal(sc.invalid, 1);
    struct buf mt;
    assert_int_equal(http(serve_port(s), "/metrics", NULL, NULL, &mt), 200);
    assert_non_null(strstr(mt.data, "\nskewscope_spans_invalid_total 1\n"));
    free(mt.data);
    assert_int_equal(serve_stop(s), 0);
    kafka_mock_destroy(m);
    free(c);
}

/* ---- the testbed as the sender */

struct watch {
    struct serve *s;
    atomic_bool stop;
    double t0, first_warning, first_violation;
};

static void *watch_run(void *arg)
{
    struct watch *w = arg;

    while (!atomic_load(&w->stop)) {
        struct serve_counters sc;
        serve_counters_read(w->s, &sc);
        if (sc.warnings && w->first_warning < 0)
            w->first_warning = clock_now_s(CLOCK_MONOTONIC) - w->t0;
        if (sc.violations && w->first_violation < 0)
            w->first_violation = clock_now_s(CLOCK_MONOTONIC) - w->t0;
        sc_sleep_ms(20);
    }
    return NULL;
}

/* The testbed in its own process (`skewscope testbed`), not pipeline_run
 * here: the stages are forked, and a fork while serve's threads run can
 * leave the child a lock one of them held (AddressSanitizer's allocator
 * lock, seen in CI: the stages never started). */
static int run_testbed(int port, const char *clock_spec, bool drift,
                       unsigned duration_ms, unsigned requests)
{
    const char *bin =
        getenv("SKEWSCOPE") ? getenv("SKEWSCOPE") : "build/skewscope";
    char url[128], dur[32], req[32];
    pid_t pid;
    int st;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", port);
    snprintf(dur, sizeof(dur), "%ums", duration_ms);
    snprintf(req, sizeof(req), "%u", requests);
    char *argv[] = {(char *)bin,
                    (char *)"testbed",
                    (char *)"--otlp-endpoint",
                    url,
                    (char *)"--hop-delay",
                    (char *)"2ms",
                    (char *)"--tp",
                    (char *)"1",
                    (char *)"--max-new",
                    (char *)"4",
                    (char *)"--concurrency",
                    (char *)"2",
                    (char *)(duration_ms ? "--duration" : "--requests"),
                    duration_ms ? dur : req,
                    (char *)"--timeout",
                    (char *)"60s",
                    (char *)(drift ? "--drift" : "--skew"),
                    (char *)clock_spec,
                    NULL};
    posix_spawn_file_actions_t fa;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    assert_int_equal(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_error("skewscope testbed: wait status %d\n", st);
        return -1;
    }
    return 0;
}

static void test_testbed_offsets(void **state)
{
    struct serve_config cfg = {0};
    struct serve *s;
    json_t *st;

    (void)state;
    cfg.reference = "node-gateway";
    s = start_serve(&cfg);
    assert_int_equal(run_testbed(serve_port(s), "prefill=5ms", false, 0, 60),
                     0);
    sc_sleep_ms(1500); /* the last spans through assembly and one update */
    st = status(serve_port(s));
    double off = (double)json_integer_value(
        json_object_get(sc_node(st, "node-prefill"), "offset_ns"));
    double other = (double)json_integer_value(
        json_object_get(sc_node(st, "node-tokenizer"), "offset_ns"));
    if (fabs(off - 5e6) > 100e3 || fabs(other) > 100e3)
        fail_msg("live offsets prefill %.0f ns (injected 5 ms), tokenizer "
                 "%.0f ns (injected 0)",
                 off, other);
    json_decref(st);
    assert_int_equal(serve_stop(s), 0);
}

/* The early warning comes before the first violation: a clock drifting at
 * 250 ppm uses up a 2 ms hop's budget in about 8 s. */
static void test_testbed_warning_first(void **state)
{
    struct serve_config cfg = {0};
    struct watch w = {0};
    pthread_t th;

    (void)state;
    cfg.reference = "node-gateway";
    cfg.stat_window_s = 1;
    w.s = start_serve(&cfg);
    w.t0 = clock_now_s(CLOCK_MONOTONIC);
    w.first_warning = w.first_violation = -1;
    assert_int_equal(pthread_create(&th, NULL, watch_run, &w), 0);
    int rc = run_testbed(serve_port(w.s), "prefill=250ppm", true, 14000, 0);
    sc_sleep_ms(1500);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL); /* before any assertion leaves this frame */
    assert_int_equal(rc, 0);
    print_message("warning at %.2f s, first violation at %.2f s: lead %.2f s\n",
                  w.first_warning, w.first_violation,
                  w.first_violation - w.first_warning);
    assert_true(w.first_warning >= 0);
    assert_true(w.first_violation >= 0);
    assert_true(w.first_warning < w.first_violation);
    assert_int_equal(serve_stop(w.s), 0);
}

/* ---- a downstream in its own process, to be killed */

static char self_exe[4096];

/* `test_serve --downstream PORT FILE`: receive on PORT, append each span
 * ID (8 bytes) to FILE before answering 200, until killed or SIGTERM. */
static int downstream_fd = -1;

static enum receiver_verdict ids_batch(void *ctx, struct span_store *batch,
                                       struct receiver_outcome *out)
{
    size_t n = span_store_count(batch);
    uint64_t *ids = malloc(n * 8 + 1);

    (void)ctx;
    (void)out;
    for (size_t i = 0; i < n; i++)
        ids[i] = span_store_at(batch, i)->span_id;
    if (n && write(downstream_fd, ids, n * 8) != (ssize_t)(n * 8))
        abort();
    free(ids);
    span_store_destroy(batch);
    return RECEIVER_ACCEPTED;
}

static int downstream_main(const char *port, const char *file)
{
    struct receiver_config cfg = {0};
    char listen[64], err[256];
    struct receiver *r = NULL;
    sigset_t set;
    int sig;

    downstream_fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (downstream_fd < 0)
        return 1;
    snprintf(listen, sizeof(listen), "127.0.0.1:%s", port);
    cfg.listen = listen;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < 100 && !r; i++) { /* the port may be in TIME_WAIT */
        r = receiver_start(&cfg, ids_batch, NULL, err, sizeof(err));
        if (!r)
            sc_sleep_ms(50);
    }
    if (!r) {
        fprintf(stderr, "downstream: %s\n", err);
        return 1;
    }
    sigwait(&set, &sig);
    receiver_stop(r);
    close(downstream_fd);
    return 0;
}

static pid_t spawn_downstream(int port, const char *file)
{
    char p[16];
    char *argv[] = {self_exe, (char *)"--downstream", p, (char *)file, NULL};
    pid_t pid;

    snprintf(p, sizeof(p), "%d", port);
    assert_int_equal(posix_spawn(&pid, self_exe, NULL, NULL, argv, environ), 0);
    return pid;
}

/* Wait until something accepts connections on port (deadline 10 s). */
static void wait_listening(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    double end = clock_now_s(CLOCK_MONOTONIC) + 10;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
        close(fd);
        if (rc == 0)
            return;
        if (clock_now_s(CLOCK_MONOTONIC) > end)
            fail_msg("nothing listens on port %d", port);
        sc_sleep_ms(10);
    }
}

/* Span IDs the downstream wrote: *total of them, *unique distinct; every
 * id in want[0..nwant) must be there. */
static void delivered(const char *file, size_t *total, size_t *unique,
                      const uint64_t *want, size_t nwant)
{
    FILE *f = fopen(file, "rb");
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0, u = 0;
    uint64_t id;

    assert_non_null(f);
    while (fread(&id, 8, 1, f) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            ids = realloc(ids, cap * 8);
        }
        ids[n++] = id;
    }
    fclose(f);
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = ids[j] == ids[i];
        u += !dup;
    }
    for (size_t w = 0; w < nwant; w++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = ids[i] == want[w];
        if (!found)
            fail_msg("span %016llx was accepted but never delivered",
                     (unsigned long long)want[w]);
    }
    free(ids);
    *total = n;
    *unique = u;
}

static size_t file_ids(const char *file)
{
    FILE *f = fopen(file, "rb");
    long n;

    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return (size_t)n / 8;
}

static void chain_ids(const struct chain *c, uint64_t *ids)
{
    for (int k = 0; k < HOPS; k++)
        for (size_t i = 0; i < c->n; i++)
            ids[(size_t)k * c->n + i] = c->d[k][i].span_id;
}

struct sender {
    int port;
    const struct chain *c;
    size_t per;
    atomic_bool done;
};

static void *sender_run(void *arg)
{
    struct sender *sd = arg;

    for (int k = 0; k < HOPS; k++)
        for (size_t i = 0; i < sd->c->n; i += sd->per) {
            struct buf body = sc_proto_body(&sd->c->d[k][i], sd->per), out;
            assert_int_equal(http(sd->port, "/v1/traces", &body,
                                  "application/x-protobuf", &out),
                             200);
            free(out.data);
            free(body.data);
            sc_sleep_ms(5);
        }
    atomic_store(&sd->done, true);
    return NULL;
}

/* The fault test: the downstream is SIGKILLed mid-stream and comes back;
 * every accepted span arrives at least once (the guarantee), and only the
 * batch in flight at the kill may arrive twice. */
static void test_fault_downstream_killed(void **state)
{
    struct serve_config cfg = {0};
    struct chain *c = malloc(sizeof(*c));
    uint64_t *want = malloc(HOPS * 200 * 8);
    char url[128], *dir = testlib_temp_dir("serve-test"), file[512], spool[512];
    int dport = sc_free_port();
    struct sender sd = {0};
    struct serve_counters sc;
    size_t total, unique;
    pthread_t th;
    pid_t pid;
    int st;

    (void)state;
    snprintf(file, sizeof(file), "%s/ids", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", dport);
    pid = spawn_downstream(dport, file);
    wait_listening(dport);
    cfg.forward_otlp = url;
    cfg.spool_dir = spool;
    cfg.forward_backoff_max_ms = 200;
    struct serve *s = start_serve(&cfg);
    make_chain(c, 200, 0);
    chain_ids(c, want);
    sd.port = serve_port(s);
    sd.c = c;
    sd.per = 10;
    assert_int_equal(pthread_create(&th, NULL, sender_run, &sd), 0);
    /* kill it once it has taken part of the stream */
    while (file_ids(file) < 200)
        sc_sleep_ms(5);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    sc_sleep_ms(700); /* the stream goes on into the spool */
    serve_counters_read(s, &sc);
    assert_true(sc.forwarded >= 200); /* delivered before the kill */
    assert_true(sc.spooled > 0);      /* and the outage went to disk */
    pid = spawn_downstream(dport, file);
    wait_listening(dport);
    pthread_join(th, NULL);
    double end = clock_now_s(CLOCK_MONOTONIC) + 30;
    do {
        sc_sleep_ms(50);
        serve_counters_read(s, &sc);
    } while (sc.forwarded < HOPS * 200 && clock_now_s(CLOCK_MONOTONIC) < end);
    assert_int_equal(serve_stop(s), 0);
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    delivered(file, &total, &unique, want, HOPS * 200);
    print_message("accepted %d spans; delivered %zu (%zu distinct), spooled "
                  "%llu\n",
                  HOPS * 200, total, unique, (unsigned long long)sc.spooled);
    assert_int_equal(unique, HOPS * 200);
    assert_true(total - unique <= sd.per); /* one request's spans at most */
    free(want);
    free(c);
    testlib_remove_tree(dir);
    free(dir);
}

/* The command itself: SIGTERM with the downstream away spools every
 * accepted span and exits 0; the next run delivers them exactly once. */
static pid_t spawn_serve(const char *url, const char *spool, int *port)
{
    const char *bin =
        getenv("SKEWSCOPE") ? getenv("SKEWSCOPE") : "build/skewscope";
    char *argv[] = {(char *)bin,
                    (char *)"serve",
                    (char *)"--listen",
                    (char *)"127.0.0.1:0",
                    (char *)"--forward-otlp",
                    (char *)url,
                    (char *)"--spool-dir",
                    (char *)spool,
                    NULL};
    posix_spawn_file_actions_t fa;
    int pfd[2];
    pid_t pid;
    char line[512];
    FILE *f;

    assert_int_equal(pipe(pfd), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    assert_int_equal(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    f = fdopen(pfd[0], "r");
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    const char *p = strstr(line, "(port ");
    assert_non_null(p);
    *port = atoi(p + 6);
    return pid;
}

static void test_sigterm_spools(void **state)
{
    struct chain *c = malloc(sizeof(*c));
    uint64_t *want = malloc(HOPS * 50 * 8);
    char url[128], *dir = testlib_temp_dir("serve-test"), file[512], spool[512];
    int dport = sc_free_port(), port, st;
    size_t total, unique;
    pid_t srv, ds;

    (void)state;
    snprintf(file, sizeof(file), "%s/ids", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", dport);
    make_chain(c, 50, 0);
    chain_ids(c, want);
    srv = spawn_serve(url, spool, &port); /* nobody listens on dport */
    send_chain(port, c, 25);
    kill(srv, SIGTERM);
    assert_int_equal(waitpid(srv, &st, 0), srv);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(file_ids(file), 0);

    ds = spawn_downstream(dport, file);
    wait_listening(dport);
    srv = spawn_serve(url, spool, &port);
    double end = clock_now_s(CLOCK_MONOTONIC) + 20;
    while (file_ids(file) < HOPS * 50 && clock_now_s(CLOCK_MONOTONIC) < end)
        sc_sleep_ms(20);
    kill(srv, SIGTERM);
    assert_int_equal(waitpid(srv, &st, 0), srv);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    kill(ds, SIGTERM);
    waitpid(ds, &st, 0);
    delivered(file, &total, &unique, want, HOPS * 50);
    assert_int_equal(unique, HOPS * 50);
    assert_int_equal(total, HOPS * 50); /* exactly once */
    free(want);
    free(c);
    testlib_remove_tree(dir);
    free(dir);
}

/* Bounded memory: with the downstream away and no room in the spool,
 * accepted spans wait in memory up to max_queued_spans; beyond it requests
 * get 429 with Retry-After instead of growth. At stop what could be
 * neither delivered nor spooled is reported (serve_stop: -1). */
static void test_backpressure(void **state)
{
    struct serve_config cfg = {0};
    struct chain *c = malloc(sizeof(*c));
    char url[128], *dir = testlib_temp_dir("serve-test"), spool[512];
    struct serve *s;
    size_t ok = 0, busy = 0;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", sc_free_port());
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    cfg.forward_otlp = url; /* nobody there */
    cfg.spool_dir = spool;
    cfg.spool_max_bytes = 1; /* nothing fits */
    cfg.max_queued_spans = 100;
    s = start_serve(&cfg);
    make_chain(c, 200, 0);
    for (size_t i = 0; i < 200; i += 25) {
        struct buf body = sc_proto_body(&c->d[0][i], 25), out;
        long code = http(serve_port(s), "/v1/traces", &body,
                         "application/x-protobuf", &out);
        assert_true(code == 200 || code == 429);
        ok += code == 200;
        busy += code == 429;
        free(out.data);
        free(body.data);
        sc_sleep_ms(50); /* let the pipeline hand it to the forwarder */
    }
    struct serve_counters sc;
    serve_counters_read(s, &sc);
    assert_int_equal(ok, 4); /* 4 x 25 spans fill the cap of 100 */
    assert_int_equal(busy, 4);
    assert_int_equal(sc.accepted, 100);
    assert_true(sc.queue_spans <= 100);
    struct buf m;
    assert_int_equal(http(serve_port(s), "/metrics", NULL, NULL, &m), 200);
    assert_non_null(
        strstr(m.data, "skewscope_http_requests_total{code=\"429\"} 4\n"));
    assert_non_null(
        strstr(m.data, "skewscope_http_requests_total{code=\"200\"} 4\n"));
    free(m.data);
    cfg.shutdown_grace_ms = 200;
    assert_int_equal(serve_stop(s), -1); /* 100 spans had nowhere to go */
    free(c);
    testlib_remove_tree(dir);
    free(dir);
}

/* ---- the write-ahead log: asynchronous answers, a failing disk */

static atomic_int fsync_delay_ms; /* each WAL fsync takes this much longer */
static atomic_bool fsync_broken;  /* and fails (EIO) */

static int test_fsync(int fd)
{
    int ms = atomic_load(&fsync_delay_ms);

    if (ms)
        sc_sleep_ms(ms);
    if (atomic_load(&fsync_broken)) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

/* Value of the unlabelled sample `name` on a /metrics page (-1: none). */
static double metric_of(int port, const char *name)
{
    struct buf b;
    char key[128];
    const char *p;
    double v = -1;

    assert_int_equal(http(port, "/metrics", NULL, NULL, &b), 200);
    snprintf(key, sizeof(key), "\n%s ", name);
    if ((p = strstr(b.data, key)) != NULL)
        v = strtod(p + strlen(key), NULL);
    free(b.data);
    return v;
}

#define SENDERS 8
#define SENDER_REQUESTS 5

struct group_sender {
    int port;
    const struct chain *c;
    unsigned id;
    unsigned ok;
};

/* Sender id: hop id % 4, traces (id / 4) * 50 + [0, 50), 10 per request. */
static void *group_sender(void *arg)
{
    struct group_sender *x = arg;

    for (unsigned j = 0; j < SENDER_REQUESTS; j++) {
        size_t from = (x->id / 4) * 50 + j * 10;
        struct buf body = sc_proto_body(&x->c->d[x->id % 4][from], 10), out;
        long code =
            http(x->port, "/v1/traces", &body, "application/x-protobuf", &out);
        x->ok += code == 200;
        free(out.data);
        free(body.data);
    }
    return NULL;
}

/* With ONE HTTP thread and a slow disk (20 ms per fsync), requests from
 * 8 clients still share fsyncs: the thread writes each request to the log
 * and goes on reading the others while the log's thread syncs, and the
 * answers come after the fsync that covers them. (A handler that waited
 * for its fsync would hold the only thread: one fsync per request.) Every
 * span answered 200 is delivered. */
static void test_wal_shared_fsyncs(void **state)
{
    struct serve_config cfg = {0};
    struct downstream ds;
    char url[128], *dir = testlib_temp_dir("serve-test"), spool[512];
    struct chain *c = malloc(sizeof(*c));
    struct group_sender x[SENDERS];
    pthread_t t[SENDERS];
    struct serve *s;
    int port;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces",
             downstream_start(&ds));
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    cfg.forward_otlp = url;
    cfg.spool_dir = spool;
    cfg.durability = SERVE_DURABILITY_WAL;
    cfg.http_threads = 1;
    cfg.wal_fsync_fn = test_fsync;
    atomic_store(&fsync_delay_ms, 20);
    s = start_serve(&cfg);
    port = serve_port(s);
    make_chain(c, 100, 0);
    for (unsigned i = 0; i < SENDERS; i++) {
        x[i] = (struct group_sender){.port = port, .c = c, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, group_sender, &x[i]), 0);
    }
    for (unsigned i = 0; i < SENDERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(x[i].ok, SENDER_REQUESTS);
    }
    double records = metric_of(port, "skewscope_wal_appended_records_total");
    double fsyncs = metric_of(port, "skewscope_wal_fsyncs_total");
    print_message("%g requests in %g fsyncs\n", records, fsyncs);
    assert_true(records == SENDERS * SENDER_REQUESTS);
    assert_true(fsyncs >= 1 && fsyncs * 2 <= records);
    assert_true(metric_of(port, "skewscope_http_requests_waiting") == 0);
    double end = clock_now_s(CLOCK_MONOTONIC) + 20;
    while (downstream_count(&ds) < SENDERS * SENDER_REQUESTS * 10 &&
           clock_now_s(CLOCK_MONOTONIC) < end)
        sc_sleep_ms(20);
    atomic_store(&fsync_delay_ms, 0);
    assert_int_equal(serve_stop(s), 0);
    receiver_stop(ds.rx);
    assert_int_equal(ds.n, SENDERS * SENDER_REQUESTS * 10);
    free(c);
    testlib_remove_tree(dir);
    free(dir);
}

/* An fsync that fails: the request is answered 503, never 200, and
 * nothing of it is kept (not forwarded, not replayed by the next start);
 * the log refuses everything after until serve restarts. */
static void test_wal_fsync_fails(void **state)
{
    struct serve_config cfg = {0};
    struct downstream ds;
    char url[128], *dir = testlib_temp_dir("serve-test"), spool[512];
    struct chain *c = malloc(sizeof(*c));
    struct serve *s;
    struct buf body, out;
    json_t *st;
    int port;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces",
             downstream_start(&ds));
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    cfg.forward_otlp = url;
    cfg.spool_dir = spool;
    cfg.wal_fsync_fn = test_fsync;
    atomic_store(&fsync_broken, true);
    s = start_serve(&cfg);
    port = serve_port(s);
    make_chain(c, 20, 0);
    body = sc_proto_body(c->d[0], 10);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            http(port, "/v1/traces", &body, "application/x-protobuf", &out),
            503);
        free(out.data);
    }
    st = status(port);
    assert_int_equal(status_int(st, "spans", "received"), 20);
    assert_int_equal(status_int(st, "spans", "accepted"), 0);
    assert_int_equal(status_int(st, "spans", "throttled"), 20);
    json_decref(st);
    assert_true(metric_of(port, "skewscope_wal_errors_total") == 2);
    assert_true(metric_of(port, "skewscope_http_requests_waiting") == 0);
    assert_int_equal(serve_stop(s), 0);
    /* the next start on the same directories: nothing to replay */
    atomic_store(&fsync_broken, false);
    s = start_serve(&cfg);
    port = serve_port(s);
    free(body.data);
    body = sc_proto_body(c->d[1], 10);
    assert_int_equal(
        http(port, "/v1/traces", &body, "application/x-protobuf", &out), 200);
    free(out.data);
    double end = clock_now_s(CLOCK_MONOTONIC) + 20;
    while (downstream_count(&ds) < 10 && clock_now_s(CLOCK_MONOTONIC) < end)
        sc_sleep_ms(20);
    struct serve_counters sc;
    serve_counters_read(s, &sc);
    assert_int_equal(sc.replayed, 0);
    assert_int_equal(serve_stop(s), 0);
    receiver_stop(ds.rx);
    assert_int_equal(ds.n, 10);
    for (size_t i = 0; i < ds.n; i++) /* hop 1's spans only */
        assert_int_equal(ds.spans[i].span_id & 0xff, 2);
    free(body.data);
    free(c);
    testlib_remove_tree(dir);
    free(dir);
}

struct bg_post {
    int port;
    struct buf body;
    long code;
};

static void *bg_post_run(void *arg)
{
    struct bg_post *b = arg;
    struct buf out;

    b->code =
        http(b->port, "/v1/traces", &b->body, "application/x-protobuf", &out);
    free(out.data);
    return NULL;
}

/* serve stops while a request waits for an fsync slower than the stop's
 * grace: the request is answered 503 (not left hanging, not 200), and
 * what the late fsync then covers is not kept: nothing is forwarded or
 * replayed by the next start. */
static void test_wal_stop_while_waiting(void **state)
{
    struct serve_config cfg = {0};
    struct downstream ds;
    char url[128], *dir = testlib_temp_dir("serve-test"), spool[512];
    struct chain *c = malloc(sizeof(*c));
    struct bg_post b = {0};
    struct serve *s;
    pthread_t t;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces",
             downstream_start(&ds));
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    cfg.forward_otlp = url;
    cfg.spool_dir = spool;
    cfg.wal_fsync_fn = test_fsync;
    cfg.shutdown_grace_ms = 200;
    atomic_store(&fsync_delay_ms, 1500);
    s = start_serve(&cfg);
    make_chain(c, 10, 0);
    b.port = serve_port(s);
    b.body = sc_proto_body(c->d[0], 10);
    assert_int_equal(pthread_create(&t, NULL, bg_post_run, &b), 0);
    double end = clock_now_s(CLOCK_MONOTONIC) + 10;
    while (metric_of(b.port, "skewscope_http_requests_waiting") < 1 &&
           clock_now_s(CLOCK_MONOTONIC) < end)
        sc_sleep_ms(10);
    assert_true(metric_of(b.port, "skewscope_http_requests_waiting") == 1);
    assert_int_equal(serve_stop(s), 0);
    pthread_join(t, NULL);
    assert_int_equal(b.code, 503);
    atomic_store(&fsync_delay_ms, 0);
    s = start_serve(&cfg);
    sc_sleep_ms(300);
    struct serve_counters sc;
    serve_counters_read(s, &sc);
    assert_int_equal(sc.replayed, 0);
    assert_int_equal(serve_stop(s), 0);
    receiver_stop(ds.rx);
    assert_int_equal(ds.n, 0);
    free(b.body.data);
    free(c);
    testlib_remove_tree(dir);
    free(dir);
}

/* A span with an empty trace ID: the request is answered 200, the span is
 * counted as invalid (in no other count), left out of the analysis and
 * forwarded unchanged with the valid one. */
static void test_invalid_spans(void **state)
{
    struct serve_config cfg = {0};
    struct downstream ds;
    char url[128], *spool = testlib_temp_dir("serve-test");
    struct buf body = invalid_body(0x7003), out;
    struct serve *s;
    json_t *st;
    int port;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces",
             downstream_start(&ds));
    cfg.forward_otlp = url;
    cfg.spool_dir = spool;
    s = start_serve(&cfg);
    port = serve_port(s);
    assert_int_equal(
        http(port, "/v1/traces", &body, "application/x-protobuf", &out), 200);
    free(out.data);
    double end = clock_now_s(CLOCK_MONOTONIC) + 20;
    while (downstream_count(&ds) < 2 && clock_now_s(CLOCK_MONOTONIC) < end)
        sc_sleep_ms(20);
    st = status(port);
    assert_int_equal(status_int(st, "spans", "invalid"), 1);
    assert_int_equal(status_int(st, "spans", "received"), 1);
    assert_int_equal(status_int(st, "spans", "accepted"), 1);
    json_decref(st);
    assert_true(metric_of(port, "skewscope_spans_invalid_total") == 1);
    assert_true(metric_of(port, "skewscope_spans_received_total") == 1);
    assert_int_equal(serve_stop(s), 0);
    receiver_stop(ds.rx);
    assert_int_equal(ds.n, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct seen_span *x = &ds.spans[i];
        bool invalid = x->span_id == 0x7003;
        assert_true(invalid || x->span_id == 0x7001);
        assert_int_equal(x->trace_id_len, invalid ? 0 : 16);
        assert_int_equal(x->start_ns, T0 + (invalid ? 1000 : 0));
        assert_int_equal(x->end_ns, T0 + MS);
        assert_false(x->has_offset);
    }
    free(body.data);
    testlib_remove_tree(spool);
    free(spool);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_end_to_end),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_kafka_input),
        cmocka_unit_test(test_testbed_offsets),
        cmocka_unit_test(test_testbed_warning_first),
        cmocka_unit_test(test_fault_downstream_killed),
        cmocka_unit_test(test_sigterm_spools),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_wal_shared_fsyncs),
        cmocka_unit_test(test_wal_fsync_fails),
        cmocka_unit_test(test_wal_stop_while_waiting),
        cmocka_unit_test(test_invalid_spans),
    };
    int rc;

    if (argc == 4 && strcmp(argv[1], "--downstream") == 0)
        return downstream_main(argv[2], argv[3]);
    if (!realpath("/proc/self/exe", self_exe))
        return 1;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
