/* Tests of kafka_in against librdkafka's mock cluster (one per program):
 * OTLP protobuf messages built with protobuf-c, keyed by trace ID,
 * produced to a topic with several partitions; a recording handler checks
 * what kafka_in hands over. Each test has its own topic and group.
 *
 * Message i carries spans with IDs i * 16 + j + 1 (j < spans per message),
 * so every handed-over batch names its message. The producer's delivery
 * reports give each message's partition and offset, from which the tests
 * compute what a restarted consumer must see again. Waits are for events
 * (up to 30 s, the mock's group join takes seconds), never for a time. */
#include "testlib.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "ingest/otlp_proto.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "serve/kafka_in.h"
#include "serve/receiver.h"
#include "testbed/kafka_mock.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define MAX_MSGS 96
#define MAX_SPANS 8 /* per message */
#define MAX_PARTS 8
#define MAX_OFFERS 1024
#define WAIT_MS 30000
#define T0 UINT64_C(1790000000000000000)
#define MARKER_BASE 1024

static struct kafka_mock *mock;

/* ---- producing ---- */

/* What was produced. Index n (after the good ones) is the malformed
 * message when there is one. */
struct topic_data {
    const char *topic;
    int nparts;
    size_t n, k; /* good messages, spans per message */
    int32_t part[MAX_MSGS + 1];
    int64_t off[MAX_MSGS + 1];
    size_t len[MAX_MSGS + 1];
    int64_t count[MAX_PARTS]; /* messages per partition = end offset */
    size_t sent, reports, failures;
};

static void trace_id_of(size_t idx, uint8_t tid[16])
{
    memset(tid, 0, 16);
    tid[0] = 0x5c;
    tid[14] = (uint8_t)(idx >> 8);
    tid[15] = (uint8_t)idx;
}

static uint64_t span_id_of(size_t idx, size_t j)
{
    return (uint64_t)idx * 16 + j + 1;
}

/* One ExportTraceServiceRequest with k spans of trace idx; malloc'd. */
static uint8_t *make_request(size_t idx, size_t k, size_t *len)
{
    Span sp[MAX_SPANS], *spp[MAX_SPANS];
    ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ScopeSpans *ssp = &ss;
    ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    ResourceSpans *rsp = &rs;
    Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    KeyValue kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT, *kvp = &kv;
    AnyValue av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    Request req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    uint8_t tid[16], sid[MAX_SPANS][8], *buf;

    trace_id_of(idx, tid);
    for (size_t j = 0; j < k; j++) {
        Span init = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
        sp[j] = init;
        otlp_proto_span_id_bytes(span_id_of(idx, j), sid[j]);
        sp[j].trace_id = (ProtobufCBinaryData){16, tid};
        sp[j].span_id = (ProtobufCBinaryData){8, sid[j]};
        sp[j].name = "work";
        sp[j].start_time_unix_nano = T0 + idx * 1000000 + j * 1000;
        sp[j].end_time_unix_nano = sp[j].start_time_unix_nano + 500;
        spp[j] = &sp[j];
    }
    av.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    av.string_value = idx % 2 ? "node-a" : "node-b";
    kv.key = "host.name";
    kv.value = &av;
    res.attributes = &kvp;
    res.n_attributes = 1;
    ss.spans = spp;
    ss.n_spans = k;
    rs.resource = &res;
    rs.scope_spans = &ssp;
    rs.n_scope_spans = 1;
    req.resource_spans = &rsp;
    req.n_resource_spans = 1;
    *len = protobuf_c_message_get_packed_size(&req.base);
    buf = malloc(*len);
    assert_non_null(buf);
    protobuf_c_message_pack(&req.base, buf);
    return buf;
}

/* Bytes that do not decode (checked: the test relies on it). */
static uint8_t *make_garbage(size_t *len)
{
    uint8_t *buf = malloc(64);
    uint32_t x = 2463534242u;
    char err[256];
    struct span_store *s = span_store_create();

    assert_non_null(buf);
    for (size_t i = 0; i < 64; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    buf[0] = 0x0a; /* field 1, length-delimited, length past the end */
    buf[1] = 0x7f;
    *len = 64;
    assert_true(receiver_decode_body(buf, *len, RECEIVER_CONTENT_PROTOBUF,
                                     false, 1 << 20, NULL, s, NULL, err,
                                     sizeof err) < 0);
    span_store_destroy(s);
    return buf;
}

/* Marker messages (index MARKER_BASE and up, one per partition) are not
 * part of a test's data: they only show which members own partitions. */
static bool is_marker(size_t idx)
{
    return idx >= MARKER_BASE;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct topic_data *td = opaque;
    size_t idx = (size_t)(uintptr_t)m->_private;

    (void)rk;
    td->reports++;
    if (m->err || (idx > MAX_MSGS && !is_marker(idx)) || m->partition < 0 ||
        m->partition >= td->nparts) {
        td->failures++;
        return;
    }
    if (is_marker(idx))
        return;
    td->part[idx] = m->partition;
    td->off[idx] = m->offset;
    if (m->offset + 1 > td->count[m->partition])
        td->count[m->partition] = m->offset + 1;
}

/* Create the topic and a producer for it. */
static rd_kafka_t *producer_open(struct topic_data *td)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_t *p;

    assert_true(td->n <= MAX_MSGS && td->k <= MAX_SPANS &&
                td->nparts <= MAX_PARTS);
    if (kafka_mock_create_topic(mock, td->topic, td->nparts, err, sizeof err))
        fail_msg("%s", err);
    rd_kafka_conf_set_opaque(conf, td);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       kafka_mock_bootstraps(mock), err,
                                       sizeof err),
                     RD_KAFKA_CONF_OK);
    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    return p;
}

/* Send message idx (payload buf) keyed like message key_idx, or to an
 * explicit partition when partition >= 0. */
static void send_one(rd_kafka_t *p, struct topic_data *td, size_t idx,
                     const uint8_t *buf, size_t len, size_t key_idx,
                     int32_t partition)
{
    uint8_t key[16];

    trace_id_of(key_idx, key);
    if (!is_marker(idx))
        td->len[idx] = len;
    td->sent++;
    assert_int_equal(
        rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(td->topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_KEY(key, sizeof key),
            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA
                                               : partition),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)idx), RD_KAFKA_V_END),
        0);
}

/* Wait for every delivery report; all must have succeeded. */
static void flush(rd_kafka_t *p, struct topic_data *td)
{
    assert_int_equal(rd_kafka_flush(p, WAIT_MS), 0);
    assert_int_equal(td->reports, td->sent);
    assert_int_equal(td->failures, 0);
}

/* The n good messages of k spans, keyed by trace ID. */
static void send_all(rd_kafka_t *p, struct topic_data *td)
{
    for (size_t i = 0; i < td->n; i++) {
        size_t len;
        uint8_t *buf = make_request(i, td->k, &len);
        send_one(p, td, i, buf, len, i, -1);
        free(buf);
    }
    flush(p, td);
}

/* Marker round r: one marker message in every partition. */
static void send_markers(rd_kafka_t *p, struct topic_data *td, unsigned r)
{
    for (int q = 0; q < td->nparts; q++) {
        size_t len, idx = MARKER_BASE + (size_t)r * MAX_PARTS + (size_t)q;
        uint8_t *buf = make_request(idx, td->k, &len);
        send_one(p, td, idx, buf, len, idx, q);
        free(buf);
    }
    flush(p, td);
}

/* Create the topic and produce the good messages, then, when `garbage`,
 * one malformed message keyed like message 0 (so that it follows a good
 * message in its partition). */
static void produce(struct topic_data *td, bool garbage)
{
    rd_kafka_t *p = producer_open(td);

    send_all(p, td);
    if (garbage) {
        size_t len;
        uint8_t *buf = make_garbage(&len);
        send_one(p, td, td->n, buf, len, 0, -1);
        free(buf);
        flush(p, td);
    }
    rd_kafka_destroy(p);
}

/* The group's committed offset per partition (-1001 = none). */
static void committed(const struct topic_data *td, const char *group,
                      int64_t out[])
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new(td->nparts);
    char err[256];
    rd_kafka_t *c;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       kafka_mock_bootstraps(mock), err,
                                       sizeof err),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err),
        RD_KAFKA_CONF_OK);
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    for (int i = 0; i < td->nparts; i++)
        rd_kafka_topic_partition_list_add(list, td->topic, i);
    assert_int_equal(rd_kafka_committed(c, list, WAIT_MS), 0);
    for (int i = 0; i < td->nparts; i++)
        out[list->elems[i].partition] = list->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(c);
}

/* ---- the recording handler ---- */

enum policy {
    DONE_NOW, /* call done before returning */
    HOLD,     /* keep the token; the test calls done later */
};

struct recorder {
    pthread_mutex_t mu;
    const struct topic_data *td;
    enum policy policy;
    unsigned busy_first; /* answer busy to the first offers of each */
    size_t refuse_after; /* > 0: the message after that many taken is
                            refused (busy) forever */
    unsigned seen[MAX_MSGS][MAX_SPANS]; /* times each span was taken */
    unsigned offers[MAX_MSGS];
    size_t order[MAX_OFFERS], norder; /* message of each offer */
    size_t taken[MAX_MSGS * 2], ntaken;
    void *token[MAX_MSGS];
    kafka_in_done_fn done;
    unsigned markers;    /* marker messages taken */
    unsigned bad;        /* batches that do not match what was produced */
    bool halted;         /* set after kafka_in_halt() returned */
    unsigned after_halt; /* handler calls after that */
};

static void recorder_init(struct recorder *r, const struct topic_data *td,
                          enum policy policy)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->td = td;
    r->policy = policy;
}

/* The message a batch came from, or SIZE_MAX when its spans do not match
 * message i's exactly. */
static size_t message_of(const struct recorder *r, struct span_store *batch)
{
    size_t n = span_store_count(batch), idx;

    if (n != r->td->k || n == 0)
        return SIZE_MAX;
    idx = (size_t)((span_store_at(batch, 0)->span_id - 1) / 16);
    if (idx >= r->td->n && !is_marker(idx))
        return SIZE_MAX;
    for (size_t j = 0; j < n; j++)
        if (span_store_at(batch, j)->span_id != span_id_of(idx, j))
            return SIZE_MAX;
    return idx;
}

/* Under r->mu: 0 = take the offer, 1 = busy. */
static int decide(struct recorder *r, size_t idx)
{
    r->offers[idx]++;
    if (r->offers[idx] <= r->busy_first)
        return 1;
    if (r->refuse_after && r->ntaken == r->refuse_after)
        return 1;
    return 0;
}

static int record_batch(void *ctx, struct span_store *batch,
                        const uint8_t *body, size_t len, kafka_in_done_fn done,
                        void *token)
{
    struct recorder *r = ctx;
    size_t idx = message_of(r, batch);
    int rc = 1;

    (void)body;
    pthread_mutex_lock(&r->mu);
    r->after_halt += r->halted;
    if (idx != SIZE_MAX && is_marker(idx)) {
        r->markers++;
        pthread_mutex_unlock(&r->mu);
        span_store_destroy(batch);
        done(token);
        return 0;
    }
    if (idx == SIZE_MAX || len != r->td->len[idx]) {
        r->bad++; /* taken, so that it is not offered forever */
        pthread_mutex_unlock(&r->mu);
        span_store_destroy(batch);
        done(token);
        return 0;
    }
    if (r->norder < MAX_OFFERS)
        r->order[r->norder++] = idx;
    rc = decide(r, idx);
    if (rc == 0) {
        for (size_t j = 0; j < r->td->k; j++)
            r->seen[idx][j]++;
        if (r->ntaken < MAX_MSGS * 2)
            r->taken[r->ntaken++] = idx;
        r->token[idx] = token;
        r->done = done;
    }
    pthread_mutex_unlock(&r->mu);
    if (rc == 0) {
        span_store_destroy(batch);
        if (r->policy == DONE_NOW)
            done(token);
    }
    return rc;
}

static size_t ntaken(struct recorder *r)
{
    size_t n;

    pthread_mutex_lock(&r->mu);
    n = r->ntaken;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Wait until r has taken n messages (fails after WAIT_MS). */
static void wait_taken(struct recorder *r, size_t n)
{
    for (unsigned t = 0; ntaken(r) < n; t += 10) {
        if (t > WAIT_MS)
            fail_msg("%zu of %zu messages after %d ms", ntaken(r), n, WAIT_MS);
        sleep_ms(10);
    }
}

static struct kafka_in *start(const struct topic_data *td, const char *group,
                              struct recorder *r)
{
    struct kafka_in_config cfg = {
        .brokers = kafka_mock_bootstraps(mock),
        .topic = td->topic,
        .group_id = group,
        .commit_interval_ms = 200,
    };
    char err[256];
    struct kafka_in *k = kafka_in_start(&cfg, record_batch, r, err, sizeof err);

    if (!k)
        fail_msg("%s", err);
    return k;
}

static void halt(struct kafka_in *k, struct recorder *r)
{
    kafka_in_halt(k);
    pthread_mutex_lock(&r->mu);
    r->halted = true;
    pthread_mutex_unlock(&r->mu);
}

/* Every span of message i taken exactly want[i] times; no stray batch. */
static void assert_seen(const struct recorder *r, const unsigned want[])
{
    assert_int_equal(r->bad, 0);
    for (size_t i = 0; i < r->td->n; i++)
        for (size_t j = 0; j < r->td->k; j++)
            if (r->seen[i][j] != want[i])
                fail_msg("message %zu span %zu: taken %u times, want %u", i, j,
                         r->seen[i][j], want[i]);
}

static void assert_committed_all(const struct topic_data *td, const char *group)
{
    int64_t off[MAX_PARTS];

    committed(td, group, off);
    for (int p = 0; p < td->nparts; p++)
        if (off[p] != td->count[p])
            fail_msg("partition %d: committed %lld, end %lld", p,
                     (long long)off[p], (long long)td->count[p]);
}

/* ---- tests ---- */

static void test_bad_config(void **state)
{
    struct kafka_in_config cfg = {.topic = "t"};
    char err[256];

    (void)state;
    assert_null(kafka_in_start(&cfg, record_batch, NULL, err, sizeof err));
    assert_non_null(strstr(err, "required"));
    cfg.brokers = "127.0.0.1:1";
    cfg.topic = "";
    assert_null(kafka_in_start(&cfg, record_batch, NULL, err, sizeof err));
    assert_non_null(strstr(err, "required"));
    cfg.topic = "t";
    assert_null(kafka_in_start(&cfg, NULL, NULL, err, sizeof err));
    cfg.commit_interval_ms = 4000000000u; /* over librdkafka's maximum */
    assert_null(kafka_in_start(&cfg, record_batch, NULL, err, sizeof err));
    assert_non_null(strstr(err, "auto.commit.interval.ms"));
    kafka_in_halt(NULL);
    kafka_in_stop(NULL, 0);
}

/* Every span arrives exactly once; offsets end committed at the end. */
static void test_all_once(void **state)
{
    struct topic_data td = {.topic = "kin.all", .nparts = 4, .n = 60, .k = 3};
    struct recorder r;
    struct kafka_in_counters c;
    unsigned want[MAX_MSGS];
    struct kafka_in *k;

    (void)state;
    produce(&td, false);
    recorder_init(&r, &td, DONE_NOW);
    k = start(&td, "kin-all", &r);
    wait_taken(&r, td.n);
    halt(k, &r);
    kafka_in_counters_read(k, &c);
    kafka_in_stop(k, 1000);

    for (size_t i = 0; i < td.n; i++)
        want[i] = 1;
    assert_seen(&r, want);
    assert_int_equal(r.ntaken, td.n);
    assert_int_equal(c.messages, td.n);
    assert_int_equal(c.spans, td.n * td.k);
    assert_int_equal(c.committed_messages, td.n);
    assert_int_equal(c.rejected_messages, 0);
    assert_int_equal(c.busy_waits, 0);
    assert_int_equal(r.after_halt, 0);
    for (int p = 0; p < td.nparts; p++)
        assert_true(td.count[p] > 0); /* the keys spread the messages */
    assert_committed_all(&td, "kin-all");
}

/* A busy handler gets the same message again, twice, before anything
 * else, and nothing is skipped. */
static void test_busy(void **state)
{
    struct topic_data td = {.topic = "kin.busy", .nparts = 2, .n = 20, .k = 2};
    struct recorder r;
    struct kafka_in_counters c;
    unsigned want[MAX_MSGS];
    struct kafka_in *k;

    (void)state;
    produce(&td, false);
    recorder_init(&r, &td, DONE_NOW);
    r.busy_first = 2;
    k = start(&td, "kin-busy", &r);
    wait_taken(&r, td.n);
    halt(k, &r);
    kafka_in_counters_read(k, &c);
    kafka_in_stop(k, 1000);

    for (size_t i = 0; i < td.n; i++)
        want[i] = 1;
    assert_seen(&r, want);
    assert_int_equal(c.busy_waits, 2 * td.n);
    assert_int_equal(c.messages, td.n);
    assert_int_equal(c.committed_messages, td.n);
    /* Offers come in runs of three per message: held, not skipped. */
    assert_int_equal(r.norder, 3 * td.n);
    for (size_t i = 0; i < r.norder; i += 3) {
        assert_int_equal(r.order[i + 1], r.order[i]);
        assert_int_equal(r.order[i + 2], r.order[i]);
        assert_int_equal(r.offers[r.order[i]], 3);
    }
    assert_committed_all(&td, "kin-busy");
}

/* A malformed message is counted, skipped over, and committed past, even
 * behind messages still being processed. */
static void test_malformed(void **state)
{
    struct topic_data td = {.topic = "kin.bad", .nparts = 3, .n = 20, .k = 2};
    struct recorder r;
    struct kafka_in_counters c;
    unsigned want[MAX_MSGS];
    struct kafka_in *k;

    (void)state;
    produce(&td, true);
    assert_int_equal(td.part[td.n], td.part[0]);
    assert_true(td.off[td.n] > td.off[0]);
    recorder_init(&r, &td, HOLD);
    k = start(&td, "kin-bad", &r);
    wait_taken(&r, td.n);
    /* The malformed one is last in its partition: wait for its verdict. */
    for (unsigned t = 0;; t += 10) {
        kafka_in_counters_read(k, &c);
        if (c.rejected_messages > 0)
            break;
        if (t > WAIT_MS)
            fail_msg("malformed message never rejected");
        sleep_ms(10);
    }
    /* Done only now, from this thread: the rejected message's offset
     * rides on the last good one before it. */
    for (size_t i = 0; i < td.n; i++)
        r.done(r.token[i]);
    halt(k, &r);
    kafka_in_counters_read(k, &c);
    kafka_in_stop(k, 1000);

    for (size_t i = 0; i < td.n; i++)
        want[i] = 1;
    assert_seen(&r, want);
    assert_int_equal(c.rejected_messages, 1);
    assert_int_equal(c.messages, td.n);
    assert_int_equal(c.spans, td.n * td.k);
    assert_int_equal(c.committed_messages, td.n);
    assert_committed_all(&td, "kin-bad");
}

static unsigned markers(struct recorder *r)
{
    unsigned n;

    pthread_mutex_lock(&r->mu);
    n = r->markers;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Send rounds of markers until both members have taken one, i.e. both
 * own partitions. Normally the first round does: both join within the
 * mock's initial rebalance delay (3 s). But the mock (librdkafka 2.0.2)
 * completes a SyncGroup as soon as the leader's arrives, and a follower
 * whose SyncGroup comes later (a loaded machine) gets no assignment until
 * it has rejoined, seconds later. */
static void wait_both_own(rd_kafka_t *p, struct topic_data *td,
                          struct recorder *ra, struct recorder *rb)
{
    for (unsigned r = 0, t = 0; markers(ra) == 0 || markers(rb) == 0; r++) {
        send_markers(p, td, r);
        /* Every marker so far is taken: each partition has an owner. */
        while (markers(ra) + markers(rb) < (r + 1) * (unsigned)td->nparts) {
            if ((t += 10) > WAIT_MS)
                fail_msg("markers: %u + %u", markers(ra), markers(rb));
            sleep_ms(10);
        }
        if (markers(ra) == 0 || markers(rb) == 0) {
            if ((t += 200) > WAIT_MS)
                fail_msg("one member never got a partition");
            sleep_ms(200);
        }
    }
}

/* Two members of one group split the partitions: every span exactly once
 * across the two, none in both, and each member gets some. */
static void test_two_instances(void **state)
{
    struct topic_data td = {.topic = "kin.two", .nparts = 4, .n = 80, .k = 1};
    rd_kafka_t *p = producer_open(&td);
    struct recorder ra, rb;
    struct kafka_in *a, *b;
    size_t na, nb;

    (void)state;
    recorder_init(&ra, &td, DONE_NOW);
    recorder_init(&rb, &td, DONE_NOW);
    a = start(&td, "kin-two", &ra);
    b = start(&td, "kin-two", &rb);
    wait_both_own(p, &td, &ra, &rb);
    send_all(p, &td);
    rd_kafka_destroy(p);
    for (int q = 0; q < td.nparts; q++)
        assert_true(td.count[q] > 0);
    for (unsigned t = 0; ntaken(&ra) + ntaken(&rb) < td.n; t += 10) {
        if (t > WAIT_MS)
            fail_msg("%zu + %zu of %zu messages", ntaken(&ra), ntaken(&rb),
                     td.n);
        sleep_ms(10);
    }
    halt(a, &ra);
    halt(b, &rb);
    kafka_in_stop(a, 1000);
    kafka_in_stop(b, 1000);

    na = ra.ntaken;
    nb = rb.ntaken;
    assert_int_equal(na + nb, td.n);
    assert_true(na > 0);
    assert_true(nb > 0);
    assert_int_equal(ra.bad + rb.bad, 0);
    for (size_t i = 0; i < td.n; i++)
        if (ra.seen[i][0] + rb.seen[i][0] != 1)
            fail_msg("message %zu taken %u + %u times", i, ra.seen[i][0],
                     rb.seen[i][0]);
    /* A partition belongs to one member: its messages all went there. */
    for (size_t i = 0; i < td.n; i++)
        for (size_t j = 0; j < td.n; j++)
            if (td.part[i] == td.part[j])
                assert_int_equal(ra.seen[i][0], ra.seen[j][0]);
}

/* The messages a restarted consumer must see: per partition, everything
 * from the first message not done on. */
static void expected_redelivery(const struct topic_data *td, const bool done[],
                                unsigned want[])
{
    int64_t first_open[MAX_PARTS];

    for (int p = 0; p < td->nparts; p++)
        first_open[p] = td->count[p];
    for (size_t i = 0; i < td->n; i++)
        if (!done[i] && td->off[i] < first_open[td->part[i]])
            first_open[td->part[i]] = td->off[i];
    for (size_t i = 0; i < td->n; i++)
        want[i] = td->off[i] >= first_open[td->part[i]];
}

/* Instance A takes all but the last message (refused as busy until halt)
 * and holds the tokens; this thread marks done the first M in arrival
 * order (a per-partition prefix) in reverse order, plus some later ones
 * that sit behind an undone message of their partition. After A stops,
 * B in the same group gets exactly the messages from each partition's
 * first undone one on: the held ones, the refused one, and the done ones
 * behind a gap (at-least-once), but none of the prefix. */
static void test_at_least_once(void **state)
{
    struct topic_data td = {.topic = "kin.alo", .nparts = 3, .n = 40, .k = 2};
    const size_t m = 20;
    struct recorder ra, rb;
    struct kafka_in_counters ca, cb;
    bool done[MAX_MSGS] = {false}, open_part[MAX_PARTS] = {false};
    unsigned want[MAX_MSGS];
    size_t ndone = 0, behind_gap = 0, nwant = 0;
    struct kafka_in *a, *b;

    (void)state;
    produce(&td, false);
    recorder_init(&ra, &td, HOLD);
    ra.refuse_after = td.n - 1;
    a = start(&td, "kin-alo", &ra);
    wait_taken(&ra, td.n - 1);
    for (unsigned t = 0;; t += 10) { /* the last one is being refused */
        kafka_in_counters_read(a, &ca);
        if (ca.busy_waits > 0)
            break;
        if (t > WAIT_MS)
            fail_msg("last message never offered");
        sleep_ms(10);
    }
    /* Later ones behind an undone message of their partition, every
     * other one of them, first (out of order). */
    for (size_t i = m; i < td.n - 1; i++) {
        size_t idx = ra.taken[i];
        if (open_part[td.part[idx]] && i % 2 == 0) {
            done[idx] = true;
            behind_gap++;
        }
        open_part[td.part[idx]] |= !done[idx];
    }
    /* done[] is by message index; the refused one (never done) can have
     * any index, so every index is looked at. */
    for (size_t i = 0; i < td.n; i++)
        if (done[i])
            ra.done(ra.token[i]);
    for (size_t i = m; i-- > 0;) {
        done[ra.taken[i]] = true;
        ra.done(ra.token[ra.taken[i]]);
    }
    assert_true(behind_gap > 0);
    halt(a, &ra); /* returns although the handler keeps saying busy */
    kafka_in_counters_read(a, &ca);
    kafka_in_stop(a, 200);
    assert_int_equal(ra.after_halt, 0);
    assert_int_equal(ca.messages, td.n - 1);
    assert_int_equal(ca.committed_messages, m + behind_gap);
    for (size_t i = 0; i < td.n; i++)
        ndone += done[i];
    assert_int_equal(ndone, m + behind_gap);

    expected_redelivery(&td, done, want);
    for (size_t i = 0; i < td.n; i++)
        nwant += want[i];
    for (size_t i = 0; i < m; i++)
        assert_int_equal(want[ra.taken[i]], 0); /* the prefix: not again */
    assert_true(nwant >= td.n - m - behind_gap);

    recorder_init(&rb, &td, DONE_NOW);
    b = start(&td, "kin-alo", &rb);
    /* Within a partition B gets offsets in order, so once every expected
     * message is there, an unexpected (earlier) one would be too. */
    wait_taken(&rb, nwant);
    halt(b, &rb);
    kafka_in_counters_read(b, &cb);
    kafka_in_stop(b, 1000);
    assert_seen(&rb, want);
    assert_int_equal(cb.messages, nwant);
    assert_committed_all(&td, "kin-alo");
}

static int group_setup(void **state)
{
    char err[256];

    (void)state;
    mock = kafka_mock_create(1, err, sizeof err);
    if (!mock) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kafka_mock_destroy(mock);
    /* librdkafka finishes its threads asynchronously. */
    return rd_kafka_wait_destroyed(5000) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_all_once),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_two_instances),
        cmocka_unit_test(test_at_least_once),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
