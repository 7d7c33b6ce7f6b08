/* Tests of the testbed's message transports against real peers: ZeroMQ
 * sockets (in one process and across fork()), librdkafka's mock cluster,
 * the W3C traceparent codec, and the ZeroMQ all-reduce across forked ranks.
 * No fixed ports (ipc:// in a mkdtemp directory, ephemeral tcp ports, the
 * mock's own ports); every test removes its directory again, which fails if
 * a socket file was left behind. */
#include "testlib.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "testbed/allreduce_zmq.h"
#include "testbed/kafka_mock.h"
#include "testbed/traceparent.h"
#include "testbed/transport.h"
#include "util/clock.h"

#define TP_A "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static char *make_dir(void)
{
    char *dir = strdup("/tmp/skewscope-tr-XXXXXX");

    assert_non_null(mkdtemp(dir));
    return dir;
}

/* rmdir fails when anything (a stale ipc socket) is left inside. */
static void remove_dir(char *dir)
{
    assert_int_equal(rmdir(dir), 0);
    free(dir);
}

static struct transport *
open_zmq(const char *base, const struct transport_route *routes, size_t nroutes)
{
    struct transport_config cfg = {
        .kind = "zmq",
        .zmq_base = base,
        .zmq_routes = routes,
        .zmq_nroutes = nroutes,
        .send_timeout_ms = 2000,
    };
    char err[256];
    struct transport *t = transport_open(&cfg, err, sizeof err);

    if (!t)
        fail_msg("%s", err);
    return t;
}

static struct transport_msg text_msg(const char *payload, const char *tp)
{
    struct transport_msg m = {.payload = payload,
                              .payload_len = strlen(payload)};

    m.headers[m.nheaders++] = (struct transport_header){"traceparent", tp};
    m.headers[m.nheaders++] = (struct transport_header){"x-stage", "gateway"};
    return m;
}

static void assert_text_msg(const struct transport_msg *m, const char *channel,
                            const char *payload, const char *tp)
{
    assert_string_equal(m->channel, channel);
    assert_int_equal(m->payload_len, strlen(payload));
    assert_memory_equal(m->payload, payload, m->payload_len);
    assert_int_equal(m->nheaders, 2);
    assert_string_equal(transport_msg_header(m, "traceparent"), tp);
    assert_string_equal(transport_msg_header(m, "x-stage"), "gateway");
    assert_null(transport_msg_header(m, "missing"));
}

/* ---- traceparent ---- */

static void test_traceparent_round_trip(void **state)
{
    struct traceparent tp, back;
    char s[TRACEPARENT_LEN + 1];

    (void)state;
    assert_int_equal(traceparent_parse(TP_A, strlen(TP_A), &tp, NULL, 0), 0);
    assert_int_equal(tp.trace_id[0], 0x4b);
    assert_int_equal(tp.trace_id[15], 0x36);
    assert_true(tp.span_id == 0x00f067aa0ba902b7ULL);
    assert_int_equal(tp.flags, TRACEPARENT_FLAG_SAMPLED);
    assert_int_equal(traceparent_format(&tp, s), 0);
    assert_string_equal(s, TP_A);

    memset(&tp, 0, sizeof tp);
    tp.trace_id[15] = 1;
    tp.span_id = 0xfedcba9876543210ULL;
    tp.flags = 0xa0;
    assert_int_equal(traceparent_format(&tp, s), 0);
    assert_string_equal(
        s, "00-00000000000000000000000000000001-fedcba9876543210-a0");
    assert_int_equal(traceparent_parse(s, strlen(s), &back, NULL, 0), 0);
    assert_memory_equal(&back.trace_id, &tp.trace_id, 16);
    assert_true(back.span_id == tp.span_id);
    assert_int_equal(back.flags, 0xa0);

    tp.span_id = 0; /* all-zero IDs must not be sent */
    assert_int_equal(traceparent_format(&tp, s), -EINVAL);
    assert_string_equal(s, "");
}

static void test_traceparent_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "00",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* ver */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* long */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* sep */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", /* hex */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7- 1",
        "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    struct traceparent tp;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (traceparent_parse(bad[i], strlen(bad[i]), &tp, err, sizeof err) !=
            -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(strstr(err, "byte"));
    }
    /* Exactly len bytes are read: a valid prefix of a longer buffer. */
    assert_int_equal(
        traceparent_parse(TP_A "xyz", TRACEPARENT_LEN, &tp, NULL, 0), 0);
}

/* ---- zmq ---- */

static void test_zmq_headers_two_transports(void **state)
{
    char *dir = make_dir();
    struct transport *rx, *tx;
    struct transport_msg m = text_msg("hello prefill", TP_A), got;

    (void)state;
    rx = open_zmq(dir, NULL, 0);
    tx = open_zmq(dir, NULL, 0);
    assert_int_equal(transport_subscribe(rx, "prefill"), 0);
    assert_int_equal(transport_subscribe(rx, "decode.0"), 0);
    assert_non_null(strstr(transport_endpoint(rx, "prefill"), dir));
    assert_null(transport_endpoint(rx, "tokenize"));
    assert_int_equal(transport_send(tx, "prefill", &m), 0);
    assert_int_equal(transport_recv(rx, &got, 2000), 1);
    assert_text_msg(&got, "prefill", "hello prefill", TP_A);

    m.payload_len = 0; /* empty payload, other channel */
    assert_int_equal(transport_send(tx, "decode.0", &m), 0);
    assert_int_equal(transport_recv(rx, &got, 2000), 1);
    assert_string_equal(got.channel, "decode.0");
    assert_int_equal(got.payload_len, 0);

    assert_int_equal(transport_send(tx, "bad/name", &m), -EINVAL);
    assert_non_null(strstr(transport_errstr(tx), "channel"));
    transport_close(tx);
    transport_close(rx);
    remove_dir(dir);
}

static void test_zmq_ordering_1000(void **state)
{
    char *dir = make_dir();
    struct transport *rx = open_zmq(dir, NULL, 0);
    struct transport *tx = open_zmq(dir, NULL, 0);
    struct transport_msg got;
    char buf[32];

    (void)state;
    assert_int_equal(transport_subscribe(rx, "decode.1"), 0);
    for (int i = 0; i < 1000; i++) {
        struct transport_msg m;
        snprintf(buf, sizeof buf, "msg %d", i);
        m = text_msg(buf, TP_A);
        assert_int_equal(transport_send(tx, "decode.1", &m), 0);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "msg %d", i);
        assert_int_equal(transport_recv(rx, &got, 2000), 1);
        assert_text_msg(&got, "decode.1", buf, TP_A);
    }
    assert_int_equal(transport_recv(rx, &got, 0), 0);
    transport_close(tx);
    transport_close(rx);
    remove_dir(dir);
}

static void test_zmq_recv_timeout(void **state)
{
    char *dir = make_dir();
    struct transport *rx = open_zmq(dir, NULL, 0);
    struct transport_msg got;
    double t0;

    (void)state;
    assert_true(transport_recv(rx, &got, 10) < 0); /* nothing subscribed */
    assert_int_equal(transport_subscribe(rx, "response"), 0);
    t0 = clock_now_s(CLOCK_MONOTONIC);
    assert_int_equal(transport_recv(rx, &got, 100), 0);
    assert_true(clock_now_s(CLOCK_MONOTONIC) - t0 >= 0.09);
    assert_true(clock_now_s(CLOCK_MONOTONIC) - t0 < 1.0);
    assert_int_equal(transport_recv(rx, &got, 0), 0);
    transport_close(rx);
    remove_dir(dir);
}

/* Ephemeral tcp ports: the receiver reports its endpoint, the sender gets
 * it as a route (the orchestrator's job in the testbed). */
static void test_zmq_tcp_discovered_port(void **state)
{
    struct transport *rx = open_zmq("tcp://127.0.0.1", NULL, 0);
    struct transport_route route = {.channel = "tokenize"};
    struct transport *tx;
    struct transport_msg m = text_msg("over tcp", TP_A), got;

    (void)state;
    assert_int_equal(transport_subscribe(rx, "tokenize"), 0);
    route.endpoint = transport_endpoint(rx, "tokenize");
    assert_non_null(strstr(route.endpoint, "tcp://127.0.0.1:"));
    assert_null(strstr(route.endpoint, "*"));
    tx = open_zmq(NULL, &route, 1);
    assert_int_equal(transport_send(tx, "tokenize", &m), 0);
    assert_int_equal(transport_recv(rx, &got, 2000), 1);
    assert_text_msg(&got, "tokenize", "over tcp", TP_A);
    assert_int_equal(transport_send(tx, "prefill", &m), -EINVAL); /* no route */
    assert_non_null(strstr(transport_errstr(tx), "no endpoint"));
    transport_close(tx);
    transport_close(rx);
}

/* Child: send a request on "tokenize", wait for the reply on "response". */
static int fork_child(const char *dir)
{
    /* No cmocka assertions here: a failing one would longjmp the child
     * back into the test runner. */
    struct transport_config cfg = {.kind = "zmq", .zmq_base = dir};
    struct transport *t = transport_open(&cfg, NULL, 0);
    struct transport_msg m = text_msg("request from child", TP_A), got;
    int ok;

    if (!t || transport_subscribe(t, "response") < 0 ||
        transport_send(t, "tokenize", &m) < 0 ||
        transport_recv(t, &got, 3000) != 1)
        return 1;
    ok = got.payload_len == 5 && memcmp(got.payload, "reply", 5) == 0 &&
         strcmp(transport_msg_header(&got, "traceparent"), TP_A) == 0;
    transport_close(t);
    return ok ? 0 : 2;
}

static void test_zmq_across_fork(void **state)
{
    char *dir = make_dir();
    struct transport *t = open_zmq(dir, NULL, 0);
    struct transport_msg got, reply;
    int status;
    pid_t pid;

    (void)state;
    assert_int_equal(transport_subscribe(t, "tokenize"), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fork_child(dir));
    assert_int_equal(transport_recv(t, &got, 3000), 1);
    assert_text_msg(&got, "tokenize", "request from child", TP_A);
    reply = text_msg("reply", transport_msg_header(&got, "traceparent"));
    assert_int_equal(transport_send(t, "response", &reply), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    transport_close(t);
    remove_dir(dir);
}

/* ---- kafka (mock cluster) ---- */

struct kafka_fixture {
    struct kafka_mock *mock;
};

static int kafka_setup(void **state)
{
    struct kafka_fixture *f = calloc(1, sizeof *f);
    char err[256];

    f->mock = kafka_mock_create(1, err, sizeof err);
    if (!f->mock) {
        fprintf(stderr, "%s\n", err);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int kafka_teardown(void **state)
{
    struct kafka_fixture *f = *state;

    kafka_mock_destroy(f->mock);
    free(f);
    /* librdkafka finishes its threads asynchronously; wait for them so the
     * leak checker does not see half-destroyed handles. */
    return rd_kafka_wait_destroyed(5000) == 0 ? 0 : -1;
}

static struct transport *open_kafka(struct kafka_fixture *f, const char *group,
                                    const char *name)
{
    struct transport_config cfg = {
        .kind = "kafka",
        .name = name,
        .kafka_brokers = kafka_mock_bootstraps(f->mock),
        .kafka_topic_prefix = "skewscope.",
        .kafka_group_id = group,
        .send_timeout_ms = 2000,
        .linger_ms = 2000,
    };
    char err[256];
    struct transport *t = transport_open(&cfg, err, sizeof err);

    if (!t)
        fail_msg("%s", err);
    return t;
}

static void create_topic(struct kafka_fixture *f, const char *topic)
{
    char err[256];

    if (kafka_mock_create_topic(f->mock, topic, 1, err, sizeof err) < 0)
        fail_msg("%s", err);
    /* A second time is fine. */
    assert_int_equal(
        kafka_mock_create_topic(f->mock, topic, 1, err, sizeof err), 0);
}

/* Receive count messages "<prefix> i" in order, each within 30 s: the mock
 * cluster's consumer-group join takes seconds, longer on a loaded machine
 * (a 10 s bound was seen to run out in CI once). */
static void expect_sequence(struct transport *rx, const char *channel,
                            const char *prefix, int count)
{
    struct transport_msg got;
    char buf[64];

    for (int i = 0; i < count; i++) {
        snprintf(buf, sizeof buf, "%s %d", prefix, i);
        assert_int_equal(transport_recv(rx, &got, 30000), 1);
        assert_text_msg(&got, channel, buf, TP_A);
    }
}

static void send_sequence(struct transport *tx, const char *channel,
                          const char *prefix, int count)
{
    char buf[64];

    for (int i = 0; i < count; i++) {
        struct transport_msg m;
        snprintf(buf, sizeof buf, "%s %d", prefix, i);
        m = text_msg(buf, TP_A);
        assert_int_equal(transport_send(tx, channel, &m), 0);
    }
}

static void test_kafka_headers_and_order(void **state)
{
    struct kafka_fixture *f = *state;
    struct transport *rx, *tx;
    struct transport_msg got;

    create_topic(f, "skewscope.prefill");
    rx = open_kafka(f, "prefill-stage", "prefill");
    tx = open_kafka(f, NULL, "tokenizer");
    assert_int_equal(transport_subscribe(rx, "prefill"), 0);
    assert_string_equal(transport_endpoint(rx, "prefill"), "skewscope.prefill");
    send_sequence(tx, "prefill", "tok", 300);
    expect_sequence(rx, "prefill", "tok", 300);
    assert_int_equal(transport_recv(rx, &got, 50), 0);
    transport_close(tx);
    transport_close(rx);
}

/* Messages sent before any consumer existed reach every group, in order;
 * a topic nobody created in advance is created on first use. */
static void test_kafka_consumer_groups(void **state)
{
    struct kafka_fixture *f = *state;
    struct transport *tx = open_kafka(f, NULL, "detokenizer");
    struct transport *a, *b;

    send_sequence(tx, "response", "resp", 50);
    a = open_kafka(f, "gateway-a", "gateway");
    b = open_kafka(f, "gateway-b", "gateway");
    assert_int_equal(transport_subscribe(a, "response"), 0);
    assert_int_equal(transport_subscribe(b, "response"), 0);
    expect_sequence(a, "response", "resp", 50);
    expect_sequence(b, "response", "resp", 50);
    send_sequence(tx, "response", "more", 5);
    expect_sequence(a, "response", "more", 5);
    transport_close(b);
    transport_close(a);
    transport_close(tx);
}

static void test_transport_bad_config(void **state)
{
    struct transport_config cfg = {.kind = "carrier-pigeon"};
    char err[256];

    (void)state;
    assert_null(transport_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "carrier-pigeon"));
    cfg.kind = "kafka";
    assert_null(transport_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "bootstrap"));
    cfg.kind = "zmq";
    cfg.zmq_base = "udp://nowhere";
    assert_null(transport_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "ipc://"));
}

/* ---- all-reduce ---- */

#define AR_N 1027 /* not a multiple of any vector width */
#define AR_CALLS 3

/* Partial of rank r in call c: ranks 1 and 2 cancel, the others are tiny,
 * so whether a tiny one survives depends on the order of the additions. */
static void partial(unsigned r, int c, float *buf)
{
    for (size_t i = 0; i < AR_N; i++) {
        double big = 1e7 * (double)(i + 1) * (c + 1) / 7.0;
        double tiny = 1e-3 * (double)(i + 1) * (r + 1 + c) / 7.0;
        buf[i] = (float)(r == 1 ? big : r == 2 ? -big : tiny);
    }
}

static int rank_main(const char *dir, unsigned rank, unsigned nranks,
                     float *out)
{
    char err[256];
    struct allreduce *ar = allreduce_create(dir, rank, nranks, err, sizeof err);
    int rc = 0;

    if (!ar)
        return 1;
    allreduce_set_timeout_ms(ar, 5000);
    for (int c = 0; c < AR_CALLS && rc == 0; c++) {
        partial(rank, c, out + (size_t)c * AR_N);
        rc = allreduce_sum(ar, out + (size_t)c * AR_N, AR_N);
    }
    if (rc)
        fprintf(stderr, "%s\n", allreduce_errstr(ar));
    allreduce_destroy(ar);
    return rc ? 2 : 0;
}

static void run_allreduce(unsigned nranks)
{
    size_t per_rank = (size_t)AR_CALLS * AR_N;
    size_t bytes = nranks * per_rank * sizeof(float);
    float *shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    float *want = malloc(per_rank * sizeof(float));
    float *p = malloc(AR_N * sizeof(float));
    char *dir = make_dir();
    pid_t pids[8];

    assert_true(shared != MAP_FAILED);
    for (unsigned r = 0; r < nranks; r++) {
        pids[r] = fork();
        assert_true(pids[r] >= 0);
        if (pids[r] == 0)
            _exit(rank_main(dir, r, nranks, shared + r * per_rank));
    }
    for (unsigned r = 0; r < nranks; r++) {
        int status;
        assert_int_equal(waitpid(pids[r], &status, 0), pids[r]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    for (int c = 0; c < AR_CALLS; c++) {
        float *w = want + (size_t)c * AR_N;
        partial(0, c, w);
        for (unsigned r = 1; r < nranks; r++) {
            partial(r, c, p);
            for (size_t i = 0; i < AR_N; i++)
                w[i] += p[i];
        }
    }
    for (unsigned r = 0; r < nranks; r++)
        assert_memory_equal(shared + r * per_rank, want,
                            per_rank * sizeof(float));
    remove_dir(dir);
    free(p);
    free(want);
    munmap(shared, bytes);
}

static void test_allreduce_2_ranks(void **state)
{
    (void)state;
    run_allreduce(2);
}

static void test_allreduce_4_ranks(void **state)
{
    (void)state;
    run_allreduce(4);
}

/* The summation order matters for these partials, so the bytes test above
 * would notice a root that added in arrival order. */
static void test_allreduce_order_matters(void **state)
{
    float p[4][AR_N];
    int differ = 0;

    (void)state;
    for (unsigned r = 0; r < 4; r++)
        partial(r, 0, p[r]);
    for (size_t i = 0; i < AR_N; i++) {
        float x = ((p[0][i] + p[1][i]) + p[2][i]) + p[3][i];
        float y = ((p[0][i] + p[3][i]) + p[1][i]) + p[2][i];
        differ += memcmp(&x, &y, sizeof x) != 0;
    }
    assert_true(differ > 0);
}

static void test_allreduce_bad_args(void **state)
{
    char err[256];

    (void)state;
    assert_null(allreduce_create("/tmp", 2, 2, err, sizeof err));
    assert_non_null(strstr(err, "rank"));
    assert_null(allreduce_create("tcp://127.0.0.1", 0, 2, err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_round_trip),
        cmocka_unit_test(test_traceparent_rejects),
        cmocka_unit_test(test_transport_bad_config),
        cmocka_unit_test(test_zmq_headers_two_transports),
        cmocka_unit_test(test_zmq_ordering_1000),
        cmocka_unit_test(test_zmq_recv_timeout),
        cmocka_unit_test(test_zmq_tcp_discovered_port),
        cmocka_unit_test(test_zmq_across_fork),
        cmocka_unit_test_setup_teardown(test_kafka_headers_and_order,
                                        kafka_setup, kafka_teardown),
        cmocka_unit_test_setup_teardown(test_kafka_consumer_groups, kafka_setup,
                                        kafka_teardown),
        cmocka_unit_test(test_allreduce_order_matters),
        cmocka_unit_test(test_allreduce_bad_args),
        cmocka_unit_test(test_allreduce_2_ranks),
        cmocka_unit_test(test_allreduce_4_ranks),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
