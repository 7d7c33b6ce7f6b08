/* test_metrics_promtool: every shape of serve's /metrics page passes
 * `promtool check metrics` (Prometheus's own linter: the text format, and
 * its naming rules, e.g. no gauge named *_total): a fresh instance, one
 * with clock edges, one after every kind of error reply, one with peers
 * (the cluster series), one forwarding (the spool series) and one with
 * Kafka input. Each shape is also checked for the series that make it
 * that shape, so a page that lost them fails too.
 *
 * promtool comes with Debian's prometheus package (scripts/setup.sh);
 * without it the test is skipped with a message. SKEWSCOPE_NO_KAFKA=1
 * leaves out the Kafka shape (the ThreadSanitizer run: librdkafka's mock
 * cluster crashes under it). */
#define _GNU_SOURCE
#include "testlib.h"

#include "promtool.h"
#include "serve_client.h"

#include <sys/wait.h>

#include <librdkafka/rdkafka.h>

#include "model/span_store.h"
#include "serve/serve.h"
#include "testbed/kafka_mock.h"

#define NEED_PROMTOOL()                                                        \
    do {                                                                       \
        if (!promtool()) {                                                     \
            printf("# SKIP: promtool not found (Debian package prometheus, "   \
                   "see scripts/setup.sh)\n");                                 \
            skip();                                                            \
        }                                                                      \
    } while (0)

static char *page_of(int port)
{
    struct buf b;

    assert_int_equal(sc_http(port, "/metrics", NULL, NULL, NULL, &b), 200);
    return b.data;
}

/* Poll /metrics until it holds `want` (10 s at most); returns the page. */
static char *page_with(int port, const char *want)
{
    double end = clock_now_s(CLOCK_MONOTONIC) + 10;
    char *p;

    for (;;) {
        p = page_of(port);
        if (strstr(p, want))
            return p;
        if (clock_now_s(CLOCK_MONOTONIC) > end)
            fail_msg("/metrics never showed %s:\n%s", want, p);
        free(p);
        sc_sleep_ms(100);
    }
}

static void check_shape(int port, const char *shape, const char *want)
{
    char *p = page_with(port, want);

    promtool_check_page(shape, p, NULL);
    free(p);
}

static void base_config(struct serve_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen = "127.0.0.1:0";
    cfg->assembly_window_s = 0.2;
    cfg->update_interval_s = 0.2;
}

static struct serve *start(const struct serve_config *cfg)
{
    char err[512];
    struct serve *s = serve_start(cfg, err, sizeof(err));

    if (!s)
        fail_msg("serve_start: %s", err);
    return s;
}

/* Traces of 4 spans, client/server across node-a -> node-b (the server
 * span 1 ms late: node-b is ahead), trace ids from base. */
static struct buf traces(unsigned base, size_t ntraces)
{
    struct span_desc *d = calloc(4 * ntraces, sizeof(*d));
    struct buf b;

    assert_non_null(d);
    for (size_t t = 0; t < ntraces; t++)
        for (size_t i = 0; i < 4; i++) {
            struct span_desc *x = &d[4 * t + i];
            x->trace_id[0] = 0x7e;
            x->trace_id[14] = (uint8_t)((base + t) >> 8);
            x->trace_id[15] = (uint8_t)(base + t);
            x->span_id = 0x1000 * (base + t + 1) + i;
            x->parent_span_id = i ? x->span_id - 1 : 0;
            x->name = "op";
            x->kind = i % 2 ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
            x->start_ns = 1700000000000000000LL + (int64_t)t * 1000000 +
                          (int64_t)i * 1000 + (i % 2 ? 1000000 : 0);
            x->end_ns = x->start_ns + 100000 - (int64_t)i * 1000;
            x->host_name = i % 2 ? "node-b" : "node-a";
            x->service_name = "svc";
        }
    b = sc_proto_body(d, 4 * ntraces);
    free(d);
    return b;
}

static void post_traces(int port, unsigned base)
{
    struct buf body = traces(base, 20), out;

    assert_int_equal(sc_http(port, "/v1/traces", &body,
                             "application/x-protobuf", NULL, &out),
                     200);
    free(out.data);
    free(body.data);
}

/* A fresh instance, then one with edges. */
static void test_plain(void **state)
{
    struct serve_config cfg;
    struct serve *s;
    char *p;

    (void)state;
    NEED_PROMTOOL();
    base_config(&cfg);
    s = start(&cfg);
    p = page_of(serve_port(s));
    promtool_check_page("fresh", p, NULL);
    free(p);
    post_traces(serve_port(s), 0);
    check_shape(serve_port(s), "with edges",
                "\nskewscope_edge_pairs_total{from=\"node-a\"");
    assert_int_equal(serve_stop(s), 0);
}

/* Raw request text; returns once the reply (or the close) arrives. */
static void raw_request(int port, const char *req, size_t len)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char b[256];

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    (void)!recv(fd, b, sizeof(b), 0);
    close(fd);
}

/* Every kind of error reply, the receiver's and libmicrohttpd's own. */
static void test_after_errors(void **state)
{
    static const char *const counted[] = {
        "skewscope_http_requests_total{code=\"400\"} 2",
        "skewscope_http_requests_total{code=\"404\"} 2",
        "skewscope_http_requests_total{code=\"405\"} 1",
        "skewscope_http_requests_total{code=\"414\"} 1",
        "skewscope_http_requests_total{code=\"415\"} 1",
    };
    struct serve_config cfg;
    struct serve *s;
    struct buf junk = {"\x0a\x05\xff", 3}, out;
    size_t big = 70 * 1024;
    char *req = malloc(big + 64), *p;
    int port;

    (void)state;
    NEED_PROMTOOL();
    base_config(&cfg);
    s = start(&cfg);
    port = serve_port(s);
    post_traces(port, 0);
    assert_int_equal(sc_http(port, "/v1/traces", &junk,
                             "application/x-protobuf", NULL, &out),
                     400);
    free(out.data);
    assert_int_equal(sc_http(port, "/v1/traces", &junk, "text/xml", NULL, &out),
                     415);
    free(out.data);
    assert_int_equal(sc_http(port, "/nope", NULL, NULL, NULL, &out), 404);
    free(out.data);
    assert_int_equal(sc_http(port, "/metrics%00.txt", NULL, NULL, NULL, &out),
                     404);
    free(out.data);
    assert_int_equal(sc_http(port, "/v1/traces", NULL, NULL, NULL, &out), 405);
    free(out.data);
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', big);
    memcpy(req + 5 + big, " HTTP/1.1\r\nHost: x\r\n\r\n", 23);
    raw_request(port, req, 5 + big + 23);
    raw_request(port, "GET / HTTP/1.x\r\nHost: x\r\n\r\n", 27);
    p = page_with(port, "\nskewscope_edge_pairs_total{from=\"node-a\"");
    for (size_t i = 0; i < sizeof(counted) / sizeof(*counted); i++)
        if (!strstr(p, counted[i]))
            fail_msg("/metrics lacks \"%s\":\n%s", counted[i], p);
    promtool_check_page("after errors", p, NULL);
    free(p);
    free(req);
    assert_int_equal(serve_stop(s), 0);
}

/* Two instances, each the other's peer: the cluster series. */
static void test_peers(void **state)
{
    struct serve_config a, b;
    struct serve *sa, *sb;
    char url_a[64], url_b[64];
    const char *peer_a[1] = {url_b}, *peer_b[1] = {url_a};
    int pa = sc_free_port(), pb = sc_free_port();
    char la[32], lb[32];

    (void)state;
    NEED_PROMTOOL();
    snprintf(la, sizeof(la), "127.0.0.1:%d", pa);
    snprintf(lb, sizeof(lb), "127.0.0.1:%d", pb);
    snprintf(url_a, sizeof(url_a), "http://%s", la);
    snprintf(url_b, sizeof(url_b), "http://%s", lb);
    base_config(&a);
    base_config(&b);
    a.listen = la;
    b.listen = lb;
    a.peers = peer_a;
    b.peers = peer_b;
    a.npeers = b.npeers = 1;
    sa = start(&a);
    sb = start(&b);
    post_traces(pa, 0);
    post_traces(pb, 100);
    check_shape(pa, "with peers",
                "\nskewscope_cluster_edge_pairs{from=\"node-a\"");
    check_shape(pb, "with peers (the other)",
                "\nskewscope_cluster_edge_violations{from=\"node-a\"");
    assert_int_equal(serve_stop(sa), 0);
    /* a peer gone: the page still passes */
    check_shape(pb, "with a peer down", "\nskewscope_cluster_peers_up 0\n");
    assert_int_equal(serve_stop(sb), 0);
}

/* Forwarding to a downstream that is not there: the spool series. */
static void test_forwarding(void **state)
{
    struct serve_config cfg;
    struct serve *s;
    char url[64], dir[] = "/tmp/skewscope-promtool-spool-XXXXXX", cmd[128];

    (void)state;
    NEED_PROMTOOL();
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", sc_free_port());
    base_config(&cfg);
    cfg.forward_otlp = url;
    cfg.spool_dir = dir;
    cfg.forward_backoff_max_ms = 200;
    cfg.shutdown_grace_ms = 500;
    s = start(&cfg);
    post_traces(serve_port(s), 0);
    check_shape(serve_port(s), "forwarding", "\nskewscope_downstream_up 0\n");
    serve_stop(s); /* spooled, not delivered: may report -1 */
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Kafka input from librdkafka's mock cluster. */
static void test_kafka_input(void **state)
{
    struct serve_config cfg;
    struct serve *s;
    struct kafka_mock *m;
    char err[256];

    (void)state;
    NEED_PROMTOOL();
    if (getenv("SKEWSCOPE_NO_KAFKA")) {
        printf("# SKIP: Kafka shape (SKEWSCOPE_NO_KAFKA set)\n");
        skip();
    }
    m = kafka_mock_create(1, err, sizeof(err));
    if (!m)
        fail_msg("kafka mock: %s", err);
    assert_int_equal(kafka_mock_create_topic(m, "spans", 1, err, sizeof(err)),
                     0);
    base_config(&cfg);
    cfg.kafka_brokers = kafka_mock_bootstraps(m);
    cfg.kafka_topic = "spans";
    cfg.kafka_group = "promtool";
    s = start(&cfg);
    check_shape(serve_port(s), "Kafka input",
                "\nskewscope_kafka_messages_total ");
    assert_int_equal(serve_stop(s), 0);
    kafka_mock_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),       cmocka_unit_test(test_after_errors),
        cmocka_unit_test(test_peers),       cmocka_unit_test(test_forwarding),
        cmocka_unit_test(test_kafka_input),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
