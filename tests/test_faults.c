/* Tests of the testbed's fault injection, metrics and RCA cases
 * (testbed/stage_monitor.h, stage_metrics.h, case_record.h), end to end:
 * real stage processes, each fault kind injected at one stage in the
 * middle of a short run, the run recorded as an RCAEval case and read back
 * with skewscope's RCAEval reader. Each fault must move the targeted
 * stage's own signal (cpu: CPU and latency; memory: resident set by about
 * the size; network: the inbound hop by about the delay; gpu-throttle: the
 * compute rate by about the factor while the utilisation of a rank with
 * work queued stays near 100%) and leave
 * the other stages' alone. The metrics pages must be valid Prometheus
 * text (promtool when installed), and a real Prometheus server (Debian's
 * prometheus package) scraping the running stages must return their series
 * with the right labels over its query_range API; without the binary that
 * test is skipped with a message.
 *
 * Comparisons are of ratios and differences between the fault window and
 * the rows before it, with margins wide enough for a loaded 2-core CI
 * machine; nothing asserts an absolute time. */
#define _GNU_SOURCE
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "ingest/prom_common.h"
#include "ingest/prom_range.h"
#include "ingest/prom_text.h"
#include "ingest/rcaeval.h"
#include "model/series.h"
#include "promtool.h"
#include "testbed/case_record.h"
#include "testbed/pipeline.h"
#include "testbed/scraper.h"
#include "testbed/stage_metrics.h"

#define SEC INT64_C(1000000000)
#define MIB (1024.0 * 1024.0)

/* ---- helpers ---- */

static void base_config(struct pipeline_config *cfg, double run_s)
{
    pipeline_config_init(cfg);
    cfg->tp = 2;
    cfg->max_new = 8;
    cfg->concurrency = 2;
    cfg->hop_delay_ns = 2000000;
    cfg->duration_ms = (unsigned)(run_s * 1000);
    cfg->timeout_ms = 60000;
    cfg->check_requests = 16;
}

struct run {
    char *root;                     /* temp dataset root */
    char dir[CASE_RECORD_PATH_MAX]; /* the case folder */
    struct pipeline_config cfg;
    struct pipeline_result res;
    struct series_table *t; /* data.csv as read back */
    int64_t inject_s;
};

/* The run of the test in progress (static: a failing test's teardown
 * releases it after its stack frame is gone). */
static struct run the_run;
static struct run *cur_run;
static pid_t prom_pid;
static char *prom_dir;

/* Run with one fault (spec) from at_s for for_s in a run of run_s, record
 * the case and read data.csv back with the RCAEval reader. */
static void run_fault_at_load(struct run *r, const char *spec, double run_s,
                              double at_s, double for_s, unsigned concurrency)
{
    struct case_record *c = case_record_create();
    struct rcaeval_case *rc = NULL;
    char err[512] = "";

    memset(r, 0, sizeof *r);
    assert_non_null(c);
    r->root = testlib_temp_dir("faults");
    cur_run = r;
    base_config(&r->cfg, run_s);
    if (concurrency)
        r->cfg.concurrency = concurrency;
    if (spec &&
        pipeline_config_add_fault(&r->cfg, spec, (int64_t)(at_s * 1e9),
                                  (int64_t)(for_s * 1e9), err, sizeof err) < 0)
        fail_msg("%s: %s", spec, err);
    assert_int_equal(case_record_next_dir(r->root, &r->cfg, r->dir,
                                          sizeof r->dir, err, sizeof err),
                     0);
    assert_int_equal(case_record_prepare(c, &r->cfg, r->dir, err, sizeof err),
                     0);
    if (pipeline_run(&r->cfg, &r->res, err, sizeof err) != 0)
        fail_msg("pipeline_run: %s", err);
    assert_true(r->res.identical);
    if (case_record_write(c, &r->cfg, &r->res, err, sizeof err) < 0)
        fail_msg("case_record_write: %s", err);
    assert_int_equal(case_record_bad_scrapes(c), 0);
    case_record_destroy(c);
    struct rcaeval_read_opts o = {.metrics_only = true};
    if (rcaeval_case_read(r->dir, &o, &rc, err, sizeof err) != 0)
        fail_msg("rcaeval_case_read: %s", err);
    r->t = series_table_copy(rc->metrics);
    assert_non_null(r->t);
    r->inject_s = rc->has_inject_time ? rc->inject_time_s : 0;
    rcaeval_case_destroy(rc);
}

static void run_fault(struct run *r, const char *spec, double run_s,
                      double at_s, double for_s)
{
    run_fault_at_load(r, spec, run_s, at_s, for_s, 0);
}

static void run_free(struct run *r)
{
    series_table_destroy(r->t);
    r->t = NULL;
    if (r->root) {
        testlib_remove_tree(r->root);
        free(r->root);
        r->root = NULL;
    }
    cur_run = NULL;
}

static int teardown(void **state)
{
    (void)state;
    if (cur_run)
        run_free(cur_run);
    if (prom_pid > 0) {
        kill(prom_pid, SIGTERM);
        waitpid(prom_pid, NULL, 0);
        prom_pid = 0;
    }
    if (prom_dir) {
        testlib_remove_tree(prom_dir);
        free(prom_dir);
        prom_dir = NULL;
    }
    return 0;
}

/* Mean of column `name` over rows with t0 <= time < t1 (Unix s), NaN cells
 * skipped; fails the test when the column or the values are missing. */
static double mean_in(const struct run *r, const char *name, int64_t t0,
                      int64_t t1)
{
    int64_t c = series_table_find(r->t, name);
    double sum = 0;
    size_t n = 0;

    if (c < 0)
        fail_msg("data.csv has no column %s", name);
    for (size_t i = 0; i < r->t->nrows; i++) {
        double v = series_table_col(r->t, (size_t)c)[i];
        int64_t s = r->t->time_ns[i] / SEC;
        if (s >= t0 && s < t1 && !isnan(v)) {
            sum += v;
            n++;
        }
    }
    if (n == 0)
        fail_msg("%s: no values in [%lld, %lld)", name, (long long)t0,
                 (long long)t1);
    return sum / (double)n;
}

static double max_in(const struct run *r, const char *name, int64_t t0,
                     int64_t t1)
{
    int64_t c = series_table_find(r->t, name);
    double m = -INFINITY;

    assert_true(c >= 0);
    for (size_t i = 0; i < r->t->nrows; i++) {
        double v = series_table_col(r->t, (size_t)c)[i];
        int64_t s = r->t->time_ns[i] / SEC;
        if (s >= t0 && s < t1 && !isnan(v) && v > m)
            m = v;
    }
    return m;
}

/* Before: the rows from the second one to the fault; during: the fault's
 * rows but its first (a row is the second that ends at its scrape). */
struct windows {
    int64_t b0, b1, d0, d1;
};

static struct windows windows_of(const struct run *r)
{
    int64_t first = r->t->time_ns[0] / SEC;
    int64_t s = r->res.windows[0].start_unix_ns / SEC;
    int64_t e = r->res.windows[0].end_unix_ns / SEC;

    return (struct windows){first + 2, s, s + 1, e + 1};
}

static double ratio(const struct run *r, const struct windows *w,
                    const char *stage, const char *metric)
{
    char name[96];

    snprintf(name, sizeof name, "%s_%s", stage, metric);
    return mean_in(r, name, w->d0, w->d1) / mean_in(r, name, w->b0, w->b1);
}

static const char *const stages[] = {"gateway",  "tokenizer", "prefill",
                                     "decode-0", "decode-1",  "detokenizer"};
#define NSTAGES (sizeof stages / sizeof stages[0])

/* ---- fault specs ---- */

/* The engine's occupancy behind DCGM_FI_DEV_GPU_UTIL: closed spans add
 * up, an open one counts up to the time asked, a second end or a second
 * begin changes nothing. */
static void test_engine_occupancy(void **state)
{
    char err[256];
    struct stage_metrics *m =
        stage_metrics_create("decode-0", 0, 4, NULL, -1, err, sizeof err);

    (void)state;
    assert_non_null(m);
    assert_int_equal(stage_engine_busy_ns(m, 1000), 0);
    stage_engine_begin(m, 100);
    assert_int_equal(stage_engine_busy_ns(m, 150), 50);
    stage_engine_begin(m, 120); /* already open: kept from 100 */
    stage_engine_end(m, 200);
    assert_int_equal(stage_engine_busy_ns(m, 300), 100);
    stage_engine_end(m, 250); /* nothing open */
    assert_int_equal(stage_engine_busy_ns(m, 300), 100);
    stage_engine_begin(m, 400);
    assert_int_equal(stage_engine_busy_ns(m, 450), 150);
    assert_int_equal(stage_engine_busy_ns(m, 390), 100); /* before it */
    stage_engine_end(m, 500);
    assert_int_equal(stage_engine_busy_ns(m, 10000), 200);
    stage_metrics_destroy(m);
}

static void test_fault_parse(void **state)
{
    struct pipeline_config c;
    char err[256];

    (void)state;
    pipeline_config_init(&c);
    assert_int_equal(
        pipeline_config_add_fault(&c, "cpu@prefill", SEC, SEC, err, sizeof err),
        0);
    assert_int_equal(c.faults[0].kind, PIPELINE_FAULT_CPU);
    assert_true(c.faults[0].amount == 4);
    assert_int_equal(pipeline_config_add_fault(&c, "memory@node-decode-1:1GiB",
                                               0, SEC, err, sizeof err),
                     0);
    assert_string_equal(c.faults[1].stage, "decode-1");
    assert_true(c.faults[1].amount == 1024.0 * MIB);
    assert_int_equal(pipeline_config_add_fault(&c, "network@tokenizer:50ms/5ms",
                                               0, SEC, err, sizeof err),
                     0);
    assert_int_equal(c.faults[2].delay_ns, 50000000);
    assert_int_equal(c.faults[2].jitter_ns, 5000000);
    assert_int_equal(pipeline_config_add_fault(&c, "gpu-throttle@prefill:25%",
                                               0, SEC, err, sizeof err),
                     0);
    assert_true(fabs(c.faults[3].amount - 0.25) < 1e-12);
    assert_int_equal(c.nfaults, 4);
    static const char *const bad[] = {
        "cpu",
        "disk@prefill",
        "cpu@prefill:0",
        "memory@x:-3MB",
        "network@prefill:5ms/9ms",
        "gpu-throttle@tokenizer",
        "gpu-throttle@prefill:1.5",
        "cpu@:2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pipeline_config_add_fault(&c, bad[i], 0, SEC, err, sizeof err) == 0)
            fail_msg("'%s' was accepted", bad[i]);
    assert_int_equal(c.nfaults, 4);
    assert_int_equal(
        pipeline_config_add_fault(&c, "cpu@prefill", 0, 0, err, sizeof err),
        -1);
    /* an unknown stage is found when the run starts */
    struct pipeline_config u;
    struct pipeline_result res;
    base_config(&u, 1);
    assert_int_equal(
        pipeline_config_add_fault(&u, "cpu@decode-7", 0, SEC, err, sizeof err),
        0);
    assert_int_equal(pipeline_run(&u, &res, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "decode-7"));
    assert_int_equal(pipeline_stage_index("decode-1", 2), 5);
    assert_int_equal(pipeline_stage_index("decode-2", 2), -1);
    assert_string_equal(pipeline_fault_case_name(PIPELINE_FAULT_GPU_THROTTLE),
                        "gpu");
}

/* ---- the metrics pages ---- */

struct pages {
    char *body[NSTAGES];
};

static void keep_page(void *ctx, const char *stage, int64_t unix_ns,
                      const char *body, size_t len)
{
    struct pages *p = ctx;

    (void)unix_ns;
    for (size_t i = 0; i < NSTAGES; i++)
        if (strcmp(stage, stages[i]) == 0) {
            free(p->body[i]);
            p->body[i] = strndup(body, len);
        }
}

/* Of promtool's lint remarks only the one about ':' in vLLM's own names is
 * accepted. */
static bool vllm_lint(const char *line)
{
    return strstr(line, "should not contain ':'") != NULL;
}

static void test_metrics_pages(void **state)
{
    struct pipeline_config cfg;
    struct pipeline_result res;
    struct pages pages = {0};
    char err[512];

    (void)state;
    base_config(&cfg, 3);
    cfg.metrics = true;
    cfg.scrape_fn = keep_page;
    cfg.scrape_ctx = &pages;
    if (pipeline_run(&cfg, &res, err, sizeof err) != 0)
        fail_msg("pipeline_run: %s", err);
    assert_int_equal(res.nendpoints, NSTAGES);
    for (size_t i = 0; i < NSTAGES; i++) {
        const char *page = pages.body[i];
        struct series_store *s = series_store_create();
        char want[128];
        if (!page)
            fail_msg("no scrape of %s", stages[i]);
        assert_true(prom_text_parse(s, stages[i], page, strlen(page), SEC, NULL,
                                    err, sizeof err) > 50);
        /* the names vLLM and dcgm-exporter use, with the stage's labels */
        snprintf(want, sizeof want,
                 "vllm:num_requests_running{service=\"%s\"%s", stages[i],
                 strncmp(stages[i], "decode-", 7) ? "}" : ",rank=");
        assert_non_null(strstr(page, want));
        static const char *const names[] = {
            "\nvllm:num_requests_waiting{",
            "\nvllm:kv_cache_usage_perc{",
            "\nvllm:time_to_first_token_seconds_bucket{",
            "\nvllm:inter_token_latency_seconds_count{",
            "\nvllm:generation_tokens_total{",
            "\nDCGM_FI_DEV_SM_CLOCK{",
            "\nDCGM_FI_DEV_GPU_UTIL{",
            "\nprocess_cpu_seconds_total{",
            "\nprocess_resident_memory_bytes{",
            "\nskewscope_transport_sent_bytes_total{",
            "\nskewscope_transport_received_bytes_total{",
            "# TYPE vllm:e2e_request_latency_seconds histogram\n"};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (!strstr(page, names[k]))
                fail_msg("%s's page lacks %s", stages[i], names[k]);
        /* the series' entity is the stage */
        assert_true(series_store_find(s, stages[i], "process_cpu_seconds_total",
                                      NULL, 0) >= 0 ||
                    strncmp(stages[i], "decode-", 7) == 0);
        series_store_destroy(s);
        promtool_check_page(stages[i], page, vllm_lint);
        free(pages.body[i]);
    }
}

/* ---- one fault kind each ---- */

static void test_cpu_fault_and_case(void **state)
{
    struct run *rp = &the_run;
    char err[512];

    (void)state;
    run_fault(rp, "cpu@prefill", 10, 4, 4);
    struct windows w = windows_of(rp);
    /* the window is what inject_time.txt says, on a whole second */
    assert_int_equal(rp->inject_s * SEC, rp->res.windows[0].start_unix_ns);
    assert_int_equal(rp->res.windows[0].end_unix_ns -
                         rp->res.windows[0].start_unix_ns,
                     4 * SEC);
    /* the stage's container CPU (hogs included) and latency rise */
    double cpu = ratio(rp, &w, "prefill", "cpu");
    double lat = ratio(rp, &w, "prefill", "latency-90");
    printf("# cpu@prefill: prefill cpu x%.2f, latency-90 x%.2f\n", cpu, lat);
    /* relative to the other stages (a loaded host moves them all): the
     * stage's CPU (hogs included) rises more than any other's, and its
     * latency more than the tokenizer's and the detokenizer's. The decode
     * ranks are not compared on latency: a rank whose KV slice came first
     * waits in the all-reduce until the slowed prefill sends the other's,
     * so their latency rises with prefill's (a real knock-on effect). */
    assert_true(lat > 1.5);
    for (size_t i = 1; i < NSTAGES; i++) {
        if (strcmp(stages[i], "prefill") == 0)
            continue;
        double o = ratio(rp, &w, stages[i], "latency-90");
        double oc = ratio(rp, &w, stages[i], "cpu");
        printf("# cpu@prefill: %s latency-90 x%.2f, cpu x%.2f\n", stages[i], o,
               oc);
        if (strncmp(stages[i], "decode-", 7) != 0)
            assert_true(o < lat);
        assert_true(oc < cpu);
    }
    /* the case folder as RCAEval reads it */
    struct rcaeval_case *rc = NULL;
    if (rcaeval_case_read(rp->dir, NULL, &rc, err, sizeof err) != 0)
        fail_msg("rcaeval_case_read: %s", err);
    assert_string_equal(rc->root_service, "prefill");
    assert_string_equal(rc->fault, "cpu");
    static const char *const cols[] = {
        "gateway_latency-90", "tokenizer_cpu",       "prefill_mem",
        "prefill_latency-50", "prefill_ttft",        "prefill_sm-clock",
        "decode-0_itl",       "decode-1_gpu-util",   "decode-1_kv",
        "detokenizer_net-rx", "detokenizer_waiting", "gateway_tokens",
        "prefill_net-delay"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        if (series_table_find(rc->metrics, cols[i]) < 0)
            fail_msg("data.csv lacks %s", cols[i]);
    for (size_t c = 0; c < rc->metrics->ncols; c++)
        assert_null(strchr(rc->metrics->cols[c].entity, '_'));
    assert_non_null(rc->traces);
    assert_true(rc->traces->nspans > 100);
    for (size_t i = 0; i < rc->traces->nspans; i++) {
        const char *svc = rc->traces->names[rc->traces->spans[i].service];
        bool known = false;
        for (size_t k = 0; k < NSTAGES; k++)
            known |= strcmp(svc, stages[k]) == 0;
        if (!known)
            fail_msg("traces.csv: serviceName %s", svc);
        assert_true(rc->traces->spans[i].duration_us >= 0);
        assert_true(rc->traces->spans[i].status_code == 200);
    }
    assert_non_null(rc->logs);
    assert_true(rc->logs->nlogs > 100);
    for (size_t i = 0; i < rc->logs->nlogs; i++)
        assert_null(strstr(rc->logs->logs[i].message, "fault"));
    assert_non_null(rc->logts);
    assert_non_null(rc->tracets_err);
    rcaeval_case_destroy(rc);
    /* the raw log has the fault's start and stop at prefill, on time */
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/logs.jsonl", rp->dir);
    FILE *f = fopen(path, "r");
    int seen = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"event\":\"fault\""))
            continue;
        assert_non_null(strstr(line, "\"service\":\"prefill\""));
        long long ts = atoll(strstr(line, "\"timestamp\":") + 12);
        int64_t want = strstr(line, "\"phase\":\"start\"")
                           ? rp->res.windows[0].start_unix_ns
                           : rp->res.windows[0].end_unix_ns;
        assert_true(ts >= want); /* never early (the stage's clock is
                                     true time here) */
        seen++;
    }
    fclose(f);
    assert_int_equal(seen, 2);
    run_free(rp);
}

/* AddressSanitizer slows the stages and changes their memory (its
 * quarantine keeps freed blocks): some premises below hold in the normal
 * build only, some bounds are wider under it. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static void test_memory_fault(void **state)
{
    struct run *rp = &the_run;
    double drift = 0;

    (void)state;
    run_fault(rp, "memory@decode-1:128MiB", 12, 3, 5);
    struct windows w = windows_of(rp);
    /* every stage's resident set may drift up a little (under ASan its
     * quarantine keeps freed memory: CI saw 32.8 MiB there): the others'
     * largest growth is the drift, and it must stay small */
    for (size_t i = 0; i < NSTAGES; i++)
        if (strcmp(stages[i], "decode-1") != 0) {
            char name[64];
            snprintf(name, sizeof name, "%s_mem", stages[i]);
            double g =
                max_in(rp, name, w.d0, w.d1) - mean_in(rp, name, w.b0, w.b1);
            drift = g > drift ? g : drift;
        }
    double before = mean_in(rp, "decode-1_mem", w.b0, w.b1);
    double peak = max_in(rp, "decode-1_mem", w.d0, w.d1);
    printf("# memory@decode-1: +%.1f MiB (others at most +%.1f MiB)\n",
           (peak - before) / MIB, drift / MIB);
    assert_true(drift < (UNDER_ASAN ? 64 : 32) * MIB);
    assert_true(peak - before - drift > 0.85 * 128 * MIB);
    assert_true(peak - before - drift < 1.15 * 128 * MIB);
    /* it grows: the first second of the window holds less than the peak */
    assert_true(mean_in(rp, "decode-1_mem", w.d0, w.d0 + 1) < peak);
    /* and it is gone after the window */
    assert_true(mean_in(rp, "decode-1_mem", w.d1 + 1, w.d1 + 3) <
                before + drift + 32 * MIB);
    run_free(rp);
}

static void test_network_fault(void **state)
{
    struct run *rp = &the_run;

    (void)state;
    run_fault(rp, "network@detokenizer:20ms/0ms", 10, 4, 4);
    struct windows w = windows_of(rp);
    double during = mean_in(rp, "detokenizer_latency-hop", w.d0, w.d1);
    double d = during - mean_in(rp, "detokenizer_latency-hop", w.b0, w.b1);
    printf("# network@detokenizer: inbound hop %.2f ms (+%.2f ms)\n",
           during * 1e3, d * 1e3);
    /* every message is held at least the delay after its send: the
     * median hop (interpolated in 5 ms buckets) rises by about the delay */
    assert_true(during > 0.015);
    assert_true(d > 0.010);
    /* the link's delay as a network probe sees it: the hop delay before,
     * plus the fault's 20 ms during (its mean: no jitter here) */
    double nb = mean_in(rp, "detokenizer_net-delay", w.b0, w.b1);
    double nd = mean_in(rp, "detokenizer_net-delay", w.d0, w.d1);
    double po = mean_in(rp, "prefill_net-delay", w.d0, w.d1);
    printf("# network@detokenizer: net-delay %.2f -> %.2f ms (prefill "
           "%.2f ms)\n",
           nb * 1e3, nd * 1e3, po * 1e3);
    assert_true(fabs(nb - 0.002) < 0.0005);
    assert_true(nd - nb > 0.015 && nd - nb < 0.021);
    assert_true(fabs(po - 0.002) < 0.0005);
    for (size_t i = 0; i < NSTAGES; i++)
        if (strcmp(stages[i], "detokenizer") != 0 &&
            strcmp(stages[i], "gateway") != 0) {
            char name[64];
            snprintf(name, sizeof name, "%s_latency-hop", stages[i]);
            double o =
                mean_in(rp, name, w.d0, w.d1) - mean_in(rp, name, w.b0, w.b1);
            printf("# network@detokenizer: %s hop %+.2f ms\n", stages[i],
                   o * 1e3);
            assert_true(o < d / 1.5);
        }
    run_free(rp);
}

/* A power cap under serving load (the paper's GPU fault): at a load that
 * keeps work queued at the decode ranks (concurrency 6 against their ~4
 * requests' worth of pipeline), the throttled rank's compute rate halves
 * while its utilisation (DCGM's share of time with a kernel running: here
 * the engine's occupancy) stays near 100%, before and during, as on a
 * saturated GPU; so does its peer's, which waits for it in the
 * all-reduce. */

static void test_gpu_throttle(void **state)
{
    struct run *rp = &the_run;

    (void)state;
    run_fault_at_load(rp, "gpu-throttle@decode-0:0.5", 10, 4, 4, 6);
    struct windows w = windows_of(rp);
    double clk = ratio(rp, &w, "decode-0", "sm-clock");
    double ub = mean_in(rp, "decode-0_gpu-util", w.b0, w.b1);
    double ud = mean_in(rp, "decode-0_gpu-util", w.d0, w.d1);
    double peer = mean_in(rp, "decode-1_gpu-util", w.d0, w.d1);
    double tok = ratio(rp, &w, "decode-0", "tokens");
    double other = ratio(rp, &w, "decode-1", "sm-clock");
    double pf = ratio(rp, &w, "prefill", "sm-clock");
    printf("# gpu-throttle@decode-0:0.5: sm-clock x%.2f, gpu-util %.1f%% -> "
           "%.1f%% (decode-1 %.1f%%), tokens/s x%.2f; decode-1 sm-clock "
           "x%.2f, prefill x%.2f\n",
           clk, ub, ud, peer, tok, other, pf);
    assert_true(clk > 0.25 && clk < 0.75);
    /* saturated before and during: the utilisation does not tell. Not
     * under AddressSanitizer, whose instrumentation slows the upstream
     * stages more than the decode ranks' modelled compute, so that the
     * decode ranks wait for work (56% busy in CI) and the premise of the
     * scenario, a saturated GPU, does not hold; the normal build checks it. */
    if (!UNDER_ASAN) {
        assert_true(ub > 75 && ud > 75 && peer > 75);
        assert_true(fabs(ud - ub) < 15);
    }
    assert_true(other > 0.75);
    assert_true(pf > 0.75);
    run_free(rp);
}

/* ---- a real Prometheus scraping the stages ---- */

static const char *prometheus_bin(void)
{
    return access("/usr/bin/prometheus", X_OK) == 0 ? "/usr/bin/prometheus"
                                                    : NULL;
}

/* n consecutive free ports from a probe (bound and released). */
static unsigned free_ports(unsigned n)
{
    for (unsigned base = 20000 + (unsigned)(getpid() % 20000); base < 60000;
         base += 97) {
        unsigned ok = 0;
        for (; ok < n; ok++) {
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)(base + ok)),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            int b = bind(fd, (struct sockaddr *)&a, sizeof a);
            close(fd);
            if (b < 0)
                break;
        }
        if (ok == n)
            return base;
    }
    fail_msg("no free ports");
    return 0;
}

static pid_t start_prometheus(const char *dir, unsigned port, unsigned targets,
                              unsigned n)
{
    char cfg[512], data[512], listen[64], cfgarg[600], dataarg[600];

    snprintf(cfg, sizeof cfg, "%s/prometheus.yml", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
               "scrape_configs:\n  - job_name: testbed\n"
               "    static_configs:\n      - targets: [");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%s'127.0.0.1:%u'", i ? ", " : "", targets + i);
    fprintf(f, "]\n");
    fclose(f);
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%u", port);
    snprintf(cfgarg, sizeof cfgarg, "--config.file=%s", cfg);
    snprintf(dataarg, sizeof dataarg, "--storage.tsdb.path=%s", data);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(prometheus_bin(), "prometheus", cfgarg, dataarg, listen,
              "--log.level=error", (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    return pid;
}

static void wait_ready(unsigned port)
{
    char url[128], err[256];
    size_t len;

    snprintf(url, sizeof url, "http://127.0.0.1:%u/-/ready", port);
    for (int i = 0; i < 300; i++) {
        char *b = scraper_get(url, 500, &len, err, sizeof err);
        if (b) {
            free(b);
            return;
        }
        usleep(100000);
    }
    fail_msg("prometheus did not become ready: %s", err);
}

/* query_range of query over [t0, t1] (Unix s), read with prom_range into
 * a new store. */
static struct series_store *query_range(unsigned port, const char *query,
                                        int64_t t0, int64_t t1)
{
    char url[512], err[512];
    size_t len;

    snprintf(url, sizeof url,
             "http://127.0.0.1:%u/api/v1/query_range?query=%s&start=%lld&"
             "end=%lld&step=1",
             port, query, (long long)t0, (long long)t1);
    char *body = scraper_get(url, 5000, &len, err, sizeof err);
    if (!body)
        fail_msg("%s", err);
    char *path = testlib_write_temp(body, len);
    struct series_store *s = series_store_create();
    int64_t n = prom_range_read(s, path, NULL, err, sizeof err);
    if (n <= 0)
        fail_msg("query_range %s: %lld samples: %s\n%.300s", query,
                 (long long)n, err, body);
    unlink(path);
    free(path);
    free(body);
    return s;
}

static void test_prometheus(void **state)
{
    struct pipeline_config cfg;
    struct pipeline_result res;
    char err[512];

    (void)state;
    if (!prometheus_bin()) {
        printf("# SKIP: prometheus not found (Debian package prometheus, "
               "see scripts/setup.sh)\n");
        skip();
    }
    char *dir = prom_dir = testlib_temp_dir("prom");
    unsigned base = free_ports(NSTAGES + 1);
    pid_t prom = prom_pid =
        start_prometheus(dir, base + NSTAGES, base, NSTAGES);
    wait_ready(base + NSTAGES);
    base_config(&cfg, 8);
    cfg.metrics = true;
    cfg.metrics_port = base;
    int rc = pipeline_run(&cfg, &res, err, sizeof err);
    sleep(1); /* one more scrape interval for the last samples */
    if (rc != 0)
        fail_msg("pipeline_run: %s", err);
    int64_t t0 = res.start_unix_ns / SEC - 1, t1 = res.end_unix_ns / SEC + 1;
    /* every stage's gauge, named by its service label; decode ranks carry
     * their rank */
    struct series_store *s =
        query_range(base + NSTAGES, "vllm:num_requests_running", t0, t1);
    for (size_t i = 0; i < NSTAGES; i++) {
        uint32_t id;
        if (series_store_select(s, stages[i], "vllm:num_requests_running", NULL,
                                0, &id, 1) != 1)
            fail_msg("no vllm:num_requests_running of %s", stages[i]);
        const char *rank = series_label(s, id, "rank");
        if (strncmp(stages[i], "decode-", 7) == 0)
            assert_string_equal(rank, stages[i] + 7);
        else
            assert_null(rank);
        /* a loaded machine may miss scrapes: one sample shows the series */
        if (series_len(s, id) < 1)
            fail_msg("%s: no samples in [%lld, %lld]", stages[i], (long long)t0,
                     (long long)t1);
    }
    series_store_destroy(s);
    /* plausible values: requests counted, memory resident, compute rate */
    s = query_range(base + NSTAGES, "skewscope_stage_requests_total", t0, t1);
    uint32_t id;
    assert_int_equal(series_store_select(s, "prefill",
                                         "skewscope_stage_requests_total", NULL,
                                         0, &id, 1),
                     1);
    const double *v = series_values(s, id);
    size_t n = series_len(s, id);
    assert_true(v[n - 1] >= 0.5 * res.requests && v[n - 1] <= res.requests);
    for (size_t i = 1; i < n; i++)
        assert_true(v[i] >= v[i - 1]);
    series_store_destroy(s);
    s = query_range(base + NSTAGES, "process_resident_memory_bytes", t0, t1);
    assert_int_equal(series_store_count(s), NSTAGES);
    for (uint32_t k = 0; k < series_store_count(s); k++)
        assert_true(series_values(s, k)[0] > 1e6);
    series_store_destroy(s);
    s = query_range(base + NSTAGES, "DCGM_FI_DEV_SM_CLOCK", t0, t1);
    assert_int_equal(series_store_select(s, "decode-1", "DCGM_FI_DEV_SM_CLOCK",
                                         NULL, 0, &id, 1),
                     1);
    v = series_values(s, id);
    n = series_len(s, id);
    assert_true(v[n - 1] > 10); /* multiply-adds per us: any CPU does more */
    series_store_destroy(s);
    kill(prom, SIGTERM);
    int st;
    assert_int_equal(waitpid(prom, &st, 0), prom);
    prom_pid = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_occupancy),
        cmocka_unit_test(test_fault_parse),
        cmocka_unit_test(test_metrics_pages),
        cmocka_unit_test_teardown(test_cpu_fault_and_case, teardown),
        cmocka_unit_test_teardown(test_memory_fault, teardown),
        cmocka_unit_test_teardown(test_network_fault, teardown),
        cmocka_unit_test_teardown(test_gpu_throttle, teardown),
        cmocka_unit_test_teardown(test_prometheus, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
