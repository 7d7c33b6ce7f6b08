/* Tests of the testbed pipeline (testbed/pipeline.h) end to end: real
 * stage processes over ZeroMQ (ipc in a private directory) and over
 * librdkafka's mock cluster, their trace file read back with skewscope's
 * own reader, the causality check and the clock estimate. After every run
 * no child process and no ipc directory may remain. */
#include "testlib.h"

#include <errno.h>
#include <glob.h>
#include <sys/wait.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "ingest/ingest.h"
#include "model/span_store.h"
#include "testbed/pipeline.h"

#define NREQ 10
#define MAX_NEW 8

static size_t count_ipc_dirs(void)
{
    glob_t g;
    size_t n = 0;

    if (glob("/tmp/skewscope-tb-*", 0, NULL, &g) == 0)
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

static void assert_prefill_offset(const struct span_store *s,
                                  const struct edge_list *edges)
{
    struct estimate_opts eo = {.reference = "node-gateway", .no_drift = true};
    struct clock_estimate e;
    char err[256] = "";
    uint32_t prefill = UINT32_MAX;

    assert_int_equal(estimate_run(&e, s, edges, &eo, err, sizeof err), 0);
    for (uint32_t d = 0; d < span_store_domain_count(s); d++)
        if (strcmp(span_store_domain_name(s, d), "node-prefill") == 0)
            prefill = d;
    assert_true(prefill != UINT32_MAX);
    int64_t off = e.nodes[prefill].offset_ns;
    if (llabs(off - 5000000) > 200000)
        fail_msg("prefill offset %lld ns, injected 5000000", (long long)off);
    clock_estimate_free(&e);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_zmq_no_skew),
        cmocka_unit_test(test_zmq_skew_prefill),
        cmocka_unit_test(test_stage_failure_cleans_up),
        cmocka_unit_test(test_kafka_mock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
