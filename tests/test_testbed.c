/* Tests of the testbed pipeline (testbed/pipeline.h) end to end: real
 * stage processes over ZeroMQ (ipc in a private directory) and over
 * librdkafka's mock cluster, their trace file read back with skewscope's
 * own reader, the causality check and the clock estimate. After every run
 * no child process and no ipc directory may remain. */
#include "testlib.h"

#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "ingest/ingest.h"
#include "model/span_store.h"
#include "testbed/faketime.h"
#include "testbed/pipeline.h"

#define NREQ 10
#define MAX_NEW 8

static size_t count_ipc_dirs(void)
{
    glob_t g;
    size_t n = 0;
    char pattern[64];

    /* only this process's runs: other test runs may share /tmp */
    snprintf(pattern, sizeof pattern, "/tmp/skewscope-tb-%d-*", (int)getpid());
    if (glob(pattern, 0, NULL, &g) == 0)
        n = g.gl_pathc;
    globfree(&g);
    return n;
}

static void assert_no_leftovers(size_t dirs_before)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    assert_int_equal(count_ipc_dirs(), dirs_before);
}

static void base_config(struct pipeline_config *cfg, const char *out)
{
    pipeline_config_init(cfg);
    cfg->requests = NREQ;
    cfg->tp = 2;
    cfg->max_new = MAX_NEW;
    cfg->out_path = out;
    cfg->truncate_out = true;
    cfg->timeout_ms = 30000;
}

static void run_ok(const struct pipeline_config *cfg,
                   struct pipeline_result *res)
{
    char err[512] = "";
    size_t dirs = count_ipc_dirs();
    int rc = pipeline_run(cfg, res, err, sizeof err);

    if (rc != 0)
        fail_msg("pipeline_run: %d: %s", rc, err);
    assert_no_leftovers(dirs);
    assert_int_equal(res->requests, cfg->requests);
    assert_int_equal(res->tokens, (uint64_t)cfg->requests * cfg->max_new);
    assert_true(res->identical);
}

static struct span_store *load(const char *path, struct edge_list *edges)
{
    struct span_store *s = span_store_create();
    struct ingest_opts io = {0};
    char err[512] = "";

    assert_non_null(s);
    if (ingest_file(s, path, &io, err, sizeof err) != 0)
        fail_msg("ingest: %s", err);
    assert_int_equal(span_store_index(s), 0);
    assert_int_equal(edge_list_build(edges, s), 0);
    return s;
}

static size_t spans_of(const struct span_store *s, const char *domain)
{
    size_t n = 0;

    for (size_t i = 0; i < span_store_count(s); i++)
        if (strcmp(span_store_domain_name(s, span_store_at(s, i)->domain),
                   domain) == 0)
            n++;
    return n;
}

/* Spans per stage for NREQ requests, tp 2, 2 layers, MAX_NEW tokens. */
static void assert_span_counts(const struct span_store *s)
{
    size_t steps = MAX_NEW - 1, layers = 2;
    size_t decode = NREQ * (1 + steps + 2 * layers * steps);

    assert_int_equal(spans_of(s, "node-gateway"), 3 * NREQ);
    assert_int_equal(spans_of(s, "node-tokenizer"), 3 * NREQ);
    assert_int_equal(spans_of(s, "node-prefill"), (2 + 2) * NREQ);
    assert_int_equal(spans_of(s, "node-decode-0"), decode + NREQ);
    assert_int_equal(spans_of(s, "node-decode-1"), decode);
    assert_int_equal(spans_of(s, "node-detokenizer"), 3 * NREQ);
    assert_int_equal(span_store_domain_count(s), 6);
}

static void test_zmq_no_skew(void **state)
{
    char *out = testlib_write_temp_str("");
    struct pipeline_config cfg;
    struct pipeline_result res;
    struct edge_list edges;
    struct causality_report r;

    (void)state;
    base_config(&cfg, out);
    run_ok(&cfg, &res);
    struct span_store *s = load(out, &edges);
    assert_span_counts(s);
    assert_int_equal(causality_check(&r, s, &edges), 0);
    assert_int_equal(r.pairs, 6 * NREQ);
    assert_int_equal(r.violating_pairs, 0);
    assert_int_equal(r.negative_duration, 0);
    assert_int_equal(r.orphans, 0);
    causality_report_free(&r);
    edge_list_free(&edges);
    span_store_destroy(s);
    unlink(out);
    free(out);
}

static void assert_violations_leave_prefill(const struct span_store *s,
                                            const struct causality_report *r)
{
    size_t total = 0;

    for (size_t i = 0; i < r->nedges; i++) {
        const char *from = span_store_domain_name(s, r->edges[i].from);
        if (strcmp(from, "node-prefill") == 0) {
            assert_true(r->edges[i].violations > 0);
            total += r->edges[i].violations;
        } else {
            assert_int_equal(r->edges[i].violations, 0);
        }
    }
    assert_int_equal(total, r->violating_pairs);
}

static uint32_t domain_of(const struct span_store *s, const char *name)
{
    for (uint32_t d = 0; d < span_store_domain_count(s); d++)
        if (strcmp(span_store_domain_name(s, d), name) == 0)
            return d;
    fail_msg("no clock domain %s", name);
    return UINT32_MAX;
}

/* estimate (reference node-gateway) puts prefill within tol_ns of +5 ms. */
static void assert_prefill_offset_within(const struct span_store *s,
                                         const struct edge_list *edges,
                                         int64_t tol_ns)
{
    struct estimate_opts eo = {.reference = "node-gateway", .no_drift = true};
    struct clock_estimate e;
    char err[256] = "";
    uint32_t prefill = domain_of(s, "node-prefill");

    assert_int_equal(estimate_run(&e, s, edges, &eo, err, sizeof err), 0);
    int64_t off = e.nodes[prefill].offset_ns;
    if (llabs(off - 5000000) > tol_ns)
        fail_msg("prefill offset %lld ns, injected 5000000 (tolerance %lld)",
                 (long long)off, (long long)tol_ns);
    clock_estimate_free(&e);
}

static void assert_prefill_offset(const struct span_store *s,
                                  const struct edge_list *edges)
{
    assert_prefill_offset_within(s, edges, 100000); /* the core bar */
}

static void test_zmq_skew_prefill(void **state)
{
    char *out = testlib_write_temp_str("");
    struct pipeline_config cfg;
    struct pipeline_result res;
    struct edge_list edges;
    struct causality_report r;
    char err[256];

    (void)state;
    base_config(&cfg, out);
    cfg.hop_delay_ns = 2000000;
    cfg.concurrency = 1; /* no queueing: every hop near its minimum */
    assert_int_equal(
        pipeline_config_add_clock(&cfg, false, "prefill=5ms", err, sizeof err),
        0);
    run_ok(&cfg, &res);
    struct span_store *s = load(out, &edges);
    assert_span_counts(s);
    assert_int_equal(causality_check(&r, s, &edges), 0);
    assert_true(r.violating_pairs > 0);
    assert_violations_leave_prefill(s, &r);
    assert_prefill_offset(s, &edges);
    causality_report_free(&r);
    edge_list_free(&edges);
    span_store_destroy(s);
    unlink(out);
    free(out);
}

static void test_kafka_mock(void **state)
{
    char *out = testlib_write_temp_str("");
    struct pipeline_config cfg;
    struct pipeline_result res;

    (void)state;
    base_config(&cfg, out);
    cfg.transport = "kafka";
    cfg.requests = 5;
    run_ok(&cfg, &res);
    unlink(out);
    free(out);
}

static void test_bad_config(void **state)
{
    struct pipeline_config cfg;
    struct pipeline_result res;
    char err[256] = "";
    size_t dirs = count_ipc_dirs();

    (void)state;
    base_config(&cfg, NULL);
    assert_int_equal(
        pipeline_config_add_clock(&cfg, false, "nosuch=5ms", err, sizeof err),
        0);
    assert_int_equal(pipeline_run(&cfg, &res, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "nosuch"));
    assert_int_equal(
        pipeline_config_add_clock(&cfg, true, "prefill=fast", err, sizeof err),
        -1);
    assert_no_leftovers(dirs);
}

/* A stage that cannot start (no trace file directory) fails the run with
 * a clear error, and everything is still cleaned up. */
static void test_stage_failure_cleans_up(void **state)
{
    struct pipeline_config cfg;
    struct pipeline_result res;
    char err[256] = "";
    size_t dirs = count_ipc_dirs();

    (void)state;
    base_config(&cfg, "/nonexistent-dir/trace.json");
    cfg.truncate_out = false;
    cfg.timeout_ms = 10000;
    assert_int_equal(pipeline_run(&cfg, &res, err, sizeof err), -EIO);
    assert_non_null(strstr(err, "stage"));
    assert_no_leftovers(dirs);
}

/* ---- RPC hops ---- */

/* Spans per stage for NREQ requests over RPC hops (tp 2, 2 layers). */
static void assert_rpc_span_counts(const struct span_store *s)
{
    size_t steps = MAX_NEW - 1, layers = 2;
    size_t decode = NREQ * (1 + steps + 2 * layers * steps);

    assert_int_equal(spans_of(s, "node-gateway"), 2 * NREQ);
    assert_int_equal(spans_of(s, "node-tokenizer"), 3 * NREQ);
    assert_int_equal(spans_of(s, "node-prefill"), (2 + 2) * NREQ);
    assert_int_equal(spans_of(s, "node-decode-0"), decode + NREQ);
    assert_int_equal(spans_of(s, "node-decode-1"), decode);
    assert_int_equal(spans_of(s, "node-detokenizer"), 2 * NREQ);
    assert_int_equal(span_store_domain_count(s), 6);
}

/* Every cross-domain pair is CLIENT -> SERVER. */
static void assert_all_sync(const struct span_store *s,
                            const struct edge_list *edges)
{
    for (size_t i = 0; i < edges->npairs; i++) {
        const struct edge_pair *p = &edges->pairs[i];
        assert_true(p->flags & EDGE_PAIR_SYNC);
        assert_int_equal(span_store_at(s, p->parent)->kind, SPAN_KIND_CLIENT);
        assert_int_equal(span_store_at(s, p->child)->kind, SPAN_KIND_SERVER);
    }
}

static void rpc_config(struct pipeline_config *cfg, const char *out)
{
    base_config(cfg, out);
    cfg->hops = PIPELINE_HOPS_RPC;
    cfg->hop_delay_ns = 2000000;
    /* One request at a time: a call queued behind another at a busy stage
     * (each serves one call at a time) makes its round trip asymmetric, and
     * under sanitizers on a loaded machine that once moved the estimate by
     * 3 ms. */
    cfg->concurrency = 1;
}

static void test_zmq_rpc_no_skew(void **state)
{
    char *out = testlib_write_temp_str("");
    struct pipeline_config cfg;
    struct pipeline_result res;
    struct edge_list edges;
    struct causality_report r;

    (void)state;
    rpc_config(&cfg, out);
    run_ok(&cfg, &res);
    struct span_store *s = load(out, &edges);
    assert_rpc_span_counts(s);
    assert_all_sync(s, &edges);
    assert_int_equal(causality_check(&r, s, &edges), 0);
    assert_int_equal(r.pairs, 5 * NREQ);
    assert_int_equal(r.violating_pairs, 0);
    assert_int_equal(r.ends_after_parent, 0);
    assert_int_equal(r.negative_duration, 0);
    assert_int_equal(r.orphans, 0);
    causality_report_free(&r);
    edge_list_free(&edges);
    span_store_destroy(s);
    unlink(out);
    free(out);
}

/* Half the smallest round-trip slack over the pairs touching prefill:
 * (parent duration - child duration) / 2, the NTP error bound. */
static int64_t half_min_round_trip(const struct span_store *s,
                                   const struct edge_list *edges, uint32_t dom)
{
    int64_t best = INT64_MAX;

    for (size_t i = 0; i < edges->npairs; i++) {
        const struct span_rec *p = span_store_at(s, edges->pairs[i].parent);
        const struct span_rec *c = span_store_at(s, edges->pairs[i].child);
        if (p->domain != dom && c->domain != dom)
            continue;
        int64_t rt = (p->end_ns - p->start_ns) - (c->end_ns - c->start_ns);
        if (rt < best)
            best = rt;
    }
    return best / 2;
}

/* Violations only on prefill's edges: starts before parent on the calls
 * prefill makes, ends after parent on the call it serves. */
static void assert_rpc_violations_at_prefill(const struct span_store *s,
                                             const struct causality_report *r)
{
    uint32_t prefill = domain_of(s, "node-prefill");

    /* Each pair violates by ~3 ms (5 ms skew - 2 ms delay); a pair delayed
     * by the scheduler for longer on a loaded machine may not, so demand
     * most of them, and none elsewhere. */
    for (size_t i = 0; i < r->nedges; i++) {
        const struct causality_edge *e = &r->edges[i];
        if (e->from == prefill)
            assert_true(2 * e->starts_before_parent > e->pairs);
        else if (e->to == prefill)
            assert_true(2 * e->ends_after_parent > e->pairs);
        else
            assert_int_equal(e->violations, 0);
    }
}

static void test_zmq_rpc_skew_prefill(void **state)
{
    char *out = testlib_write_temp_str("");
    struct pipeline_config cfg;
    struct pipeline_result res;
    struct edge_list edges;
    struct causality_report r;
    char err[256];

    (void)state;
    rpc_config(&cfg, out);
    assert_int_equal(
        pipeline_config_add_clock(&cfg, false, "prefill=5ms", err, sizeof err),
        0);
    run_ok(&cfg, &res);
    struct span_store *s = load(out, &edges);
    assert_rpc_span_counts(s);
    assert_int_equal(causality_check(&r, s, &edges), 0);
    assert_rpc_violations_at_prefill(s, &r);
    int64_t bound =
        half_min_round_trip(s, &edges, domain_of(s, "node-prefill"));
    assert_true(bound >= 1000000); /* two 2 ms hop delays per round trip */
    assert_prefill_offset_within(s, &edges, bound < 1000000 ? bound : 1000000);
    causality_report_free(&r);
    edge_list_free(&edges);
    span_store_destroy(s);
    unlink(out);
    free(out);
}

static void test_kafka_rpc(void **state)
{
    char *out = testlib_write_temp_str("");
    struct pipeline_config cfg;
    struct pipeline_result res;

    (void)state;
    base_config(&cfg, out);
    cfg.transport = "kafka";
    cfg.hops = PIPELINE_HOPS_RPC;
    cfg.requests = 3;
    run_ok(&cfg, &res);
    unlink(out);
    free(out);
}

/* ---- faketime, tracing off, duration, interruption ---- */

/* The skewscope binary next to this test's build directory
 * ($(BUILD)/tests/test_testbed -> $(BUILD)/skewscope), or false. */
static bool skewscope_binary(char *out, size_t outlen)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

    if (n <= 0)
        return false;
    self[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(self, '/');
        if (!slash)
            return false;
        *slash = '\0';
    }
    if ((size_t)snprintf(out, outlen, "%s/skewscope", self) >= outlen)
        return false;
    return access(out, X_OK) == 0;
}

/* prefill under libfaketime at +5 ms: its own clock is ahead, so the trace
 * shows violations on prefill's edges and estimate recovers ~5 ms. */
static void test_faketime_skew_prefill(void **state)
{
    char lib[4096], err[512] = "";
    struct pipeline_config cfg;
    struct pipeline_result res;
    struct edge_list edges;
    struct causality_report r;
    char exe[4096];

    (void)state;
    if (faketime_locate(lib, sizeof lib, err, sizeof err) < 0) {
        print_message("skipped: %s\n", err);
        skip();
    }
    if (!skewscope_binary(exe, sizeof exe)) {
        print_message("skipped: build the skewscope binary first (make)\n");
        skip();
    }
#ifdef __SANITIZE_ADDRESS__
    /* libfaketime is preloaded ahead of the ASan runtime */
    setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
#endif
    char *out = testlib_write_temp_str("");
    base_config(&cfg, out);
    cfg.hop_delay_ns = 2000000;
    cfg.concurrency = 1;
    cfg.skew_mode = PIPELINE_SKEW_FAKETIME;
    cfg.self_exe = exe;
    assert_int_equal(
        pipeline_config_add_clock(&cfg, false, "prefill=5ms", err, sizeof err),
        0);
    run_ok(&cfg, &res);
    struct span_store *s = load(out, &edges);
    assert_span_counts(s);
    assert_int_equal(causality_check(&r, s, &edges), 0);
    /* prefill -> decode-R, by ~3 ms each: most of the 2 * NREQ pairs */
    assert_true(r.violating_pairs > NREQ);
    assert_violations_leave_prefill(s, &r);
    assert_prefill_offset(s, &edges);
    causality_report_free(&r);
    edge_list_free(&edges);
    span_store_destroy(s);
    unlink(out);
    free(out);
}

/* Without --out and --otlp-endpoint nothing is traced, and the run is
 * still complete and identical. */
static void test_tracing_off(void **state)
{
    struct pipeline_config cfg;
    struct pipeline_result res;

    (void)state;
    base_config(&cfg, NULL);
    run_ok(&cfg, &res);
    cfg.hops = PIPELINE_HOPS_RPC;
    run_ok(&cfg, &res);
}

static void test_duration(void **state)
{
    struct pipeline_config cfg;
    struct pipeline_result res;
    char err[512] = "";
    size_t dirs = count_ipc_dirs();

    (void)state;
    base_config(&cfg, NULL);
    cfg.requests = 0;
    cfg.duration_ms = 700;
    cfg.hop_delay_ns = 1000000;
    if (pipeline_run(&cfg, &res, err, sizeof err) != 0)
        fail_msg("pipeline_run: %s", err);
    assert_no_leftovers(dirs);
    assert_true(res.requests >= 5);
    assert_int_equal(res.tokens, (uint64_t)res.requests * cfg.max_new);
    assert_true(res.identical);
    assert_true(res.wall_s >= 0.7 && res.wall_s < 5.0);
}

/* SIGINT during a run: -EINTR, pipeline_last_signal() says SIGINT, and no
 * process or ipc directory is left. */
static void test_interrupt(void **state)
{
    struct pipeline_config cfg;
    struct pipeline_result res;
    char err[512] = "";
    size_t dirs = count_ipc_dirs();
    timer_t tm;
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGINT};
    struct itimerspec its = {.it_value = {.tv_nsec = 300000000}};

    (void)state;
    base_config(&cfg, NULL);
    cfg.requests = 0;
    cfg.duration_ms = 20000;
    assert_int_equal(timer_create(CLOCK_MONOTONIC, &sev, &tm), 0);
    assert_int_equal(timer_settime(tm, 0, &its, NULL), 0);
    assert_int_equal(pipeline_run(&cfg, &res, err, sizeof err), -EINTR);
    timer_delete(tm);
    assert_int_equal(pipeline_last_signal(), SIGINT);
    assert_no_leftovers(dirs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_zmq_no_skew),
        cmocka_unit_test(test_zmq_skew_prefill),
        cmocka_unit_test(test_stage_failure_cleans_up),
        cmocka_unit_test(test_kafka_mock),
        cmocka_unit_test(test_zmq_rpc_no_skew),
        cmocka_unit_test(test_zmq_rpc_skew_prefill),
        cmocka_unit_test(test_kafka_rpc),
        cmocka_unit_test(test_faketime_skew_prefill),
        cmocka_unit_test(test_tracing_off),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_interrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
