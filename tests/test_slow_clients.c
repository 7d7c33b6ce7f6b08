/* test_slow_clients: `serve` keeps answering while thousands of clients
 * trickle their request headers (one line every 2.5 s, never finishing:
 * "slowloris"). Each test runs a real serve (serve_start, its own /metrics
 * route and pipeline) on a loopback port, opens the attack (tests/
 * slow_clients.h), and probes GET /metrics and POST /v1/traces (real OTLP
 * bodies) from another address on fresh connections. It asserts that every
 * probe is answered (within a generous 10 s each: no timed assertion) and
 * that the deadlines and limits did their part (counters), and prints the
 * probes' latency quantiles (bench/slow_clients.sh prints the same figure
 * against the serve binary).
 *
 * Before the deadlines and limits, 300 such connections took all 256
 * slots and no probe was answered.
 *
 * SLOW_CLIENTS_N (default 2000) sets the attack's size (the TSan build
 * uses fewer). */
#define _GNU_SOURCE
#include "testlib.h"

#include "serve_client.h"
#include "slow_clients.h"

#include "model/span_store.h"
#include "serve/serve.h"

#define HEADER_TIMEOUT_MS 3000
#define PROBE_S 7.0

static unsigned attack_size(void)
{
    const char *e = getenv("SLOW_CLIENTS_N");
    unsigned n = e ? (unsigned)atoi(e) : 2000;

    return n ? n : 2000;
}

static struct serve *start_serve(unsigned per_ip)
{
    struct serve_config cfg;
    struct serve *s;
    char err[512];

    memset(&cfg, 0, sizeof(cfg));
    cfg.listen = "127.0.0.1:0";
    cfg.header_timeout_ms = HEADER_TIMEOUT_MS;
    cfg.max_connections_per_ip = per_ip;
    s = serve_start(&cfg, err, sizeof(err));
    if (!s)
        fail_msg("serve_start: %s", err);
    return s;
}

/* The value of metric `name` (a whole line "name value") in the page. */
static double metric(const char *page, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    fail_msg("no metric %s", name);
    return 0;
}

static char *metrics_page(int port)
{
    struct buf b;

    assert_int_equal(sc_http(port, "/metrics", NULL, NULL, NULL, &b), 200);
    return b.data;
}

struct run {
    unsigned n, naddrs, per_ip;
    const char *probe_src; /* NULL: 127.0.0.1 */
    struct slow_attack a;
    struct slow_probe pr;
    unsigned held; /* attack connections open when probing began */
    char *page;    /* /metrics after the run */
};

static void print_run(const char *what, struct run *r)
{
    printf("# %s: %u slow connections from %u address(es) (%u held open), "
           "per-address limit %u: %zu/%zu probes answered (GET %zu, POST "
           "%zu), p50 %.1f ms, p99 %.1f ms, max %.1f ms; attack: %llu "
           "connects, %llu closed by serve, longest %.1f s\n",
           what, r->n, r->naddrs, r->held, r->per_ip, r->pr.ok, r->pr.sent,
           r->pr.ok_get, r->pr.ok_post, 1e3 * slow_quantile(&r->pr, 0.5),
           1e3 * slow_quantile(&r->pr, 0.99), 1e3 * slow_quantile(&r->pr, 1),
           (unsigned long long)atomic_load(&r->a.connects),
           (unsigned long long)atomic_load(&r->a.closed), r->a.longest_s);
    fflush(stdout);
}

/* Attack serve, probe it for PROBE_S, stop; r->page gets /metrics. */
static void attack_and_probe(struct run *r, struct buf *body)
{
    struct serve *s = start_serve(r->per_ip);
    int port = serve_port(s);
    unsigned want = r->n < r->per_ip * r->naddrs ? r->n : r->per_ip * r->naddrs;

    r->a.port = port;
    r->a.n = r->n;
    r->a.naddrs = r->naddrs;
    r->a.interval_ms = 2500;
    assert_int_equal(slow_attack_start(&r->a), 0);
    r->held = slow_attack_wait(&r->a, want, 20);
    r->pr.port = port;
    r->pr.src = r->probe_src;
    r->pr.body = body->data;
    r->pr.body_len = body->len;
    r->pr.period_ms = 50;
    r->pr.timeout_s = 10;
    assert_int_equal(slow_probe_start(&r->pr), 0);
    sc_sleep_ms((long)(PROBE_S * 1000));
    slow_probe_stop(&r->pr);
    r->page = metrics_page(port);
    slow_attack_stop(&r->a);
    assert_int_equal(serve_stop(s), 0);
}

static struct buf otlp_body(void)
{
    struct span_desc d[4];

    slow_probe_spans(d);
    return sc_proto_body(d, 4);
}

static void need_fds(unsigned n)
{
    unsigned long have = slow_raise_nofile(2 * n + 1024);

    if (have < 2 * n + 512)
        fail_msg("RLIMIT_NOFILE is %lu: this test needs %u (raise ulimit "
                 "-Hn)",
                 have, 2 * n + 512);
}

/* 2,000 slow connections from 8 addresses (250 each, within the
 * per-address limit): all are accepted, every probe is answered, and the
 * header deadline closes the slow connections (each one lives about
 * HEADER_TIMEOUT_MS, however often it sends a line). */
static void test_many_addresses(void **state)
{
    struct run r = {.n = attack_size(), .naddrs = 8, .per_ip = 256};
    struct buf body = otlp_body();

    (void)state;
    need_fds(r.n);
    attack_and_probe(&r, &body);
    print_run("many addresses", &r);
    assert_true(r.pr.sent >= 10);
    if (r.pr.ok != r.pr.sent)
        fail_msg("%zu of %zu probes answered; last failure: %ld %s", r.pr.ok,
                 r.pr.sent, r.pr.last_fail_code, r.pr.last_fail);
    assert_true(r.pr.ok_get > 0 && r.pr.ok_post > 0);
    /* the attack was really there, and was cut by the deadline */
    assert_true(metric(r.page, "skewscope_http_connections_accepted_total") >=
                r.n);
    assert_true(metric(r.page, "skewscope_http_connections_timed_out_total{"
                               "phase=\"header\"}") >= r.n / 2);
    assert_true(r.a.longest_s < HEADER_TIMEOUT_MS / 1000.0 + 3.0);
    /* the probes' spans went through */
    assert_true(metric(r.page, "skewscope_spans_accepted_total") >=
                4.0 * (double)r.pr.ok_post);
    free(r.page);
    slow_probe_free(&r.pr);
    free(body.data);
}

/* All 2,000 from one address: the per-address limit (64 here) lets 64 in
 * and refuses the rest at accept; probes from another address are all
 * answered. Probes from the attacking address itself share its limit:
 * most are refused while the attack lasts (printed, not asserted: which
 * ones slip in when the deadline frees a slot is a race). */
static void test_one_address(void **state)
{
    struct run r = {.n = attack_size(), .naddrs = 1, .per_ip = 64};
    struct run same = {.n = attack_size(),
                       .naddrs = 1,
                       .per_ip = 64,
                       .probe_src = "127.0.0.2"};
    struct buf body = otlp_body();

    (void)state;
    need_fds(r.n);
    attack_and_probe(&r, &body);
    print_run("one address", &r);
    if (r.pr.ok != r.pr.sent)
        fail_msg("%zu of %zu probes answered; last failure: %ld %s", r.pr.ok,
                 r.pr.sent, r.pr.last_fail_code, r.pr.last_fail);
    /* (r.held counts what the kernel accepted; serve closes the extra
     * ones at once) at most 64 attackers, + /metrics and a probe */
    assert_true(metric(r.page, "skewscope_http_connections") <= 64 + 2);
    assert_true(metric(r.page, "skewscope_http_connections_refused_total") > 0);
    free(r.page);
    slow_probe_free(&r.pr);

    attack_and_probe(&same, &body);
    print_run("one address, probed from it", &same);
    free(same.page);
    slow_probe_free(&same.pr);
    free(body.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_addresses),
        cmocka_unit_test(test_one_address),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
