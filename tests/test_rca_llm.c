/* test_rca_llm: the LLM-aware method (src/rca/methods/llm.c) and its
 * signal roles (src/rca/signal_roles.h) on small synthetic cases whose
 * root cause is known, one per mechanism:
 *  - the role mapping of vLLM, DCGM, rca-llm, RCAEval and testbed names,
 *    a user's file before the built-in list, its error messages;
 *  - a fault seen only as a drop (SM clock) is found, where NSigma and
 *    BARO, which score rises, rank something else first;
 *  - a short spike elsewhere does not outrank a fault that lasts, unless
 *    persistence is switched off (persist=0);
 *  - a caller's latency rise that its callee's explains (call graph from
 *    traces, the reply edge back to the caller dropped) is attributed to
 *    the callee;
 *  - an SM-clock drop that comes with a like drop in utilisation (an idle
 *    GPU clocking down) is not a throttle;
 *  - CPU that grows with the work done is no change;
 *  - a spike that lasts half of the persistence stretch is no change;
 *  - a recorded testbed case (a GPU throttled at the prefill stage, whose
 *    utilisation rises, while the tensor-parallel decode ranks swap which
 *    of them spins its CPU waiting for the other): the ranks share their
 *    normal window, the throttle is found;
 *  - parameters and the inputs it needs.
 * Noise comes from a fixed seed: every ranking here is deterministic. */
#include "testlib.h"

#include <math.h>

#include "ingest/rcaeval.h"
#include "model/series.h"
#include "rca/rca.h"
#include "rca/signal_roles.h"
#include "test_rng.h"

#define ROWS 120  /* at 1 s */
#define INJECT 60 /* the anomalous window is rows 60..119 */
#define T0 1700000000

/* One synthetic column: base + sd * N(0,1), plus `shift` on rows
 * [from, from + len); times 1 - common on every other 5 s block (a
 * host-wide slowdown that comes and goes); with flicker > 0 instead a 0/1
 * gauge that reads 1 with that probability (4 times that from the inject
 * time on). */
struct syn {
    const char *name;
    double base, sd, shift;
    size_t from, len;
    double common, flicker;
};

static uint64_t rng = 42;

static double normal(void)
{
    return test_rng_normal(&rng);
}

static struct series_table *build(const struct syn *cols, size_t n)
{
    struct series_table *t = series_table_create(ROWS, n);

    assert_non_null(t);
    rng = 42;
    for (size_t r = 0; r < ROWS; r++)
        t->time_ns[r] = ((int64_t)T0 + (int64_t)r) * 1000000000;
    for (size_t j = 0; j < n; j++) {
        double *v = series_table_col(t, j);
        assert_int_equal(series_table_set_name(t, j, cols[j].name), 0);
        for (size_t r = 0; r < ROWS; r++) {
            v[r] = cols[j].base + cols[j].sd * normal();
            if (r >= cols[j].from && r < cols[j].from + cols[j].len)
                v[r] += cols[j].shift;
            if ((r / 5) % 2)
                v[r] *= 1 - cols[j].common;
            if (cols[j].flicker > 0) {
                double p = cols[j].flicker * (r >= INJECT ? 4 : 1);
                v[r] = 0.5 * (1 + erf(normal() / sqrt(2))) < p ? 1 : 0;
            }
        }
    }
    return t;
}

static struct rca_case case_of(const struct series_table *t,
                               const struct rcaeval_traces *tr)
{
    struct rca_case c = {0};

    c.metrics = t;
    c.inject_ns = ((int64_t)T0 + INJECT) * 1000000000;
    c.has_inject = true;
    c.traces = tr;
    c.name = "synthetic";
    return c;
}

/* The first-ranked column of method `name` on c (kv: --param pairs). */
static void rank_top(const char *name, const struct rca_case *c,
                     const struct rca_kv *kv, size_t nkv, char *top, size_t len)
{
    const struct rca_method *m = rca_method_find(name);
    struct rca_params p = {.seed = 0, .kv = kv, .nkv = nkv};
    struct rca_ranking r;
    char err[256] = "";

    assert_non_null(m);
    rca_ranking_init(&r);
    if (rca_rank(m, c, &p, &r, err, sizeof err) != 0)
        fail_msg("%s: %s", name, err);
    assert_true(r.n > 0);
    snprintf(top, len, "%s", r.items[0].name);
    rca_ranking_free(&r);
}

/* The score of column `col` in method `name`'s ranking of c. */
static double score_of(const char *name, const struct rca_case *c,
                       const struct rca_kv *kv, size_t nkv, const char *col)
{
    const struct rca_method *m = rca_method_find(name);
    struct rca_params p = {.seed = 0, .kv = kv, .nkv = nkv};
    struct rca_ranking r;
    char err[256] = "";
    double v = NAN;

    assert_non_null(m);
    rca_ranking_init(&r);
    if (rca_rank(m, c, &p, &r, err, sizeof err) != 0)
        fail_msg("%s: %s", name, err);
    for (size_t i = 0; i < r.n; i++)
        if (!strcmp(r.items[i].name, col))
            v = r.items[i].score;
    rca_ranking_free(&r);
    if (isnan(v))
        fail_msg("%s: no column %s", name, col);
    return v;
}

#define ASSERT_TOP(method, c, kv, nkv, want)                                   \
    do {                                                                       \
        char top_[128];                                                        \
        rank_top(method, c, kv, nkv, top_, sizeof top_);                       \
        if (strcmp(top_, want) != 0)                                           \
            fail_msg("%s ranks %s first, expected %s", method, top_, want);    \
    } while (0)

#define ASSERT_NOT_TOP(method, c, want)                                        \
    do {                                                                       \
        char top_[128];                                                        \
        rank_top(method, c, NULL, 0, top_, sizeof top_);                       \
        if (strcmp(top_, want) == 0)                                           \
            fail_msg("%s ranks %s first", method, top_);                       \
    } while (0)

/* ---- roles ---- */

static enum rca_role role_of(const struct rca_roles *r, const char *metric,
                             enum rca_dir *dir)
{
    struct rca_role_match m = rca_roles_match(r, metric);

    if (dir)
        *dir = m.dir;
    return m.role;
}

static void test_roles_builtin(void **state)
{
    static const struct {
        const char *metric;
        enum rca_role role;
        enum rca_dir dir;
    } cases[] = {
        /* the testbed's columns */
        {"cpu", RCA_ROLE_CPU, RCA_DIR_UP},
        {"mem", RCA_ROLE_MEM, RCA_DIR_UP},
        {"latency", RCA_ROLE_LATENCY, RCA_DIR_UP},
        {"latency-90", RCA_ROLE_LATENCY, RCA_DIR_UP},
        {"latency-hop", RCA_ROLE_WAITING, RCA_DIR_UP},
        {"net-delay", RCA_ROLE_HOP, RCA_DIR_UP},
        {"net-rx", RCA_ROLE_NET, RCA_DIR_BOTH},
        {"workload", RCA_ROLE_WORK, RCA_DIR_DOWN},
        {"running", RCA_ROLE_LOAD, RCA_DIR_BOTH},
        {"waiting", RCA_ROLE_WAITING, RCA_DIR_UP},
        {"tokens", RCA_ROLE_TOKENS, RCA_DIR_DOWN},
        {"ttft", RCA_ROLE_TTFT, RCA_DIR_UP},
        {"itl", RCA_ROLE_ITL, RCA_DIR_UP},
        {"kv", RCA_ROLE_KV, RCA_DIR_UP},
        {"sm-clock", RCA_ROLE_CLOCK, RCA_DIR_DOWN},
        {"gpu-util", RCA_ROLE_UTIL, RCA_DIR_BOTH},
        /* vLLM and dcgm-exporter */
        {"vllm:num_requests_waiting", RCA_ROLE_WAITING, RCA_DIR_UP},
        {"vllm:num_requests_running", RCA_ROLE_LOAD, RCA_DIR_BOTH},
        {"vllm:kv_cache_usage_perc", RCA_ROLE_KV, RCA_DIR_UP},
        {"vllm:gpu_cache_usage_perc", RCA_ROLE_KV, RCA_DIR_UP},
        {"vllm:time_to_first_token_seconds", RCA_ROLE_TTFT, RCA_DIR_UP},
        {"vllm:inter_token_latency_seconds", RCA_ROLE_ITL, RCA_DIR_UP},
        {"vllm:time_per_output_token_seconds", RCA_ROLE_ITL, RCA_DIR_UP},
        {"vllm:e2e_request_latency_seconds", RCA_ROLE_LATENCY, RCA_DIR_UP},
        {"vllm:generation_tokens_total", RCA_ROLE_TOKENS, RCA_DIR_DOWN},
        {"vllm:num_preemptions_total", RCA_ROLE_ERROR, RCA_DIR_UP},
        {"DCGM_FI_DEV_SM_CLOCK", RCA_ROLE_CLOCK, RCA_DIR_DOWN},
        {"DCGM_FI_DEV_GPU_UTIL", RCA_ROLE_UTIL, RCA_DIR_BOTH},
        {"DCGM_FI_DEV_FB_USED", RCA_ROLE_MEM, RCA_DIR_UP},
        {"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", RCA_ROLE_CLOCK, RCA_DIR_UP},
        {"process_cpu_seconds_total", RCA_ROLE_CPU, RCA_DIR_UP},
        {"process_start_time_seconds", RCA_ROLE_IGNORE, RCA_DIR_BOTH},
        /* rca-llm and RCAEval */
        {"ctn_cpu", RCA_ROLE_CPU, RCA_DIR_UP},
        {"ctn_memory", RCA_ROLE_MEM, RCA_DIR_UP},
        {"ctn_network", RCA_ROLE_NET, RCA_DIR_BOTH},
        {"ctn_gpu", RCA_ROLE_UTIL, RCA_DIR_BOTH},
        {"lat_90", RCA_ROLE_LATENCY, RCA_DIR_UP},
        {"latency-50", RCA_ROLE_LATENCY, RCA_DIR_UP},
        {"error", RCA_ROLE_ERROR, RCA_DIR_UP},
        {"frobs", RCA_ROLE_OTHER, RCA_DIR_BOTH},
    };
    struct rca_roles *r = NULL;

    (void)state;
    assert_int_equal(rca_roles_create(&r), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum rca_dir dir;
        enum rca_role got = role_of(r, cases[i].metric, &dir);
        if (got != cases[i].role || dir != cases[i].dir)
            fail_msg("%s: role %s %s, expected %s %s", cases[i].metric,
                     rca_role_info(got)->name, rca_dir_name(dir),
                     rca_role_info(cases[i].role)->name,
                     rca_dir_name(cases[i].dir));
    }
    /* every role has a name that parses back */
    for (int i = 0; i < RCA_ROLE_COUNT; i++)
        assert_int_equal(rca_role_by_name(rca_role_info(i)->name), i);
    assert_int_equal(rca_role_by_name("CLOCK"), RCA_ROLE_CLOCK);
    assert_int_equal(rca_role_by_name("gpu"), -1);
    rca_roles_destroy(r);
}

static void test_roles_user_file(void **state)
{
    static const char text[] = "# my exporter's names\n"
                               "\n"
                               "*frobs*   clock\n"
                               "latency   cpu   up   # overrides\n"
                               "*widgets* tokens both\n";
    struct rca_roles *r = NULL;
    char err[256];
    enum rca_dir dir;

    (void)state;
    assert_int_equal(rca_roles_create(&r), 0);
    size_t n0 = rca_roles_count(r);
    assert_int_equal(
        rca_roles_parse(r, "my.roles", text, strlen(text), err, sizeof err), 0);
    assert_int_equal(rca_roles_count(r), n0 + 3);
    assert_int_equal(role_of(r, "frobs_per_s", &dir), RCA_ROLE_CLOCK);
    assert_int_equal(dir, RCA_DIR_DOWN); /* the role's default */
    assert_int_equal(role_of(r, "latency", &dir), RCA_ROLE_CPU);
    assert_int_equal(role_of(r, "WIDGETS", &dir), RCA_ROLE_TOKENS);
    assert_int_equal(dir, RCA_DIR_BOTH);
    /* the user's entries come first, in file order */
    const char *pat;
    enum rca_role role;
    rca_roles_entry(r, 0, &pat, &role, &dir);
    assert_string_equal(pat, "*frobs*");
    /* the built-in ones still apply after them */
    assert_int_equal(role_of(r, "latency-90", NULL), RCA_ROLE_LATENCY);

    /* errors name the file and line; nothing is added */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"a cpu\nb\n", "f.roles:2: expected PATTERN ROLE"},
        {"\n\nx gpu\n", "f.roles:3: unknown role 'gpu'"},
        {"x cpu sideways\n", "f.roles:1: direction 'sideways'"},
        {"x cpu up extra\n", "f.roles:1: expected PATTERN ROLE"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t before = rca_roles_count(r);
        err[0] = '\0';
        assert_int_equal(rca_roles_parse(r, "f.roles", bad[i].text,
                                         strlen(bad[i].text), err, sizeof err),
                         -RCA_E_INVAL);
        if (!strstr(err, bad[i].msg))
            fail_msg("'%s' for '%s'", err, bad[i].msg);
        assert_int_equal(rca_roles_count(r), before);
    }
    assert_int_equal(rca_roles_load(r, "/nonexistent/x.roles", err, sizeof err),
                     -RCA_E_INPUT);
    assert_non_null(strstr(err, "/nonexistent/x.roles"));
    rca_roles_destroy(r);
}

/* A user's pattern changes the ranking: s1_frobs drops (a role no
 * built-in pattern knows: a weak symptom) while s0's latency rises a
 * little; mapped to `clock` (a cause, bad when it drops), s1 comes
 * first. */
static void test_roles_param(void **state)
{
    const struct syn cols[] = {
        {"s0_latency", 0.1, 0.01, 0.06, INJECT, ROWS, 0, 0},
        {"s1_frobs", 100, 5, -30, INJECT, ROWS, 0, 0},
        {"s2_cpu", 0.5, 0.02, 0, 0, 0, 0, 0},
    };
    struct series_table *t = build(cols, 3);
    struct rca_case c = case_of(t, NULL);
    char *dir = testlib_temp_dir("llmroles");
    char path[512];

    (void)state;
    ASSERT_TOP("llm", &c, NULL, 0, "s0_latency");
    snprintf(path, sizeof path, "%s/my.roles", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("*frobs* clock\n", f);
    fclose(f);
    struct rca_kv kv[] = {{"roles", path}};
    ASSERT_TOP("llm", &c, kv, 1, "s1_frobs");
    /* a bad file is the method's error, not a crash */
    struct rca_kv nokv[] = {{"roles", "/nonexistent/r"}};
    const struct rca_method *m = rca_method_find("llm");
    struct rca_params p = {.kv = nokv, .nkv = 1};
    struct rca_ranking r;
    char err[256];
    rca_ranking_init(&r);
    assert_int_equal(rca_rank(m, &c, &p, &r, err, sizeof err), -RCA_E_INPUT);
    assert_int_equal(r.n, 0);
    testlib_remove_tree(dir);
    free(dir);
    series_table_destroy(t);
}

/* ---- direction ---- */

/* A power-capped GPU at s2: its SM clock halves and its tokens/s drop,
 * its utilisation stays at ~99% (saturated); elsewhere small rises.
 * NSigma and BARO score rises only: they rank a riser first. */
static void test_drop_only(void **state)
{
    const struct syn cols[] = {
        {"s0_cpu", 0.4, 0.02, 0.08, INJECT, ROWS, 0, 0},
        {"s0_latency", 0.05, 0.004, 0.02, INJECT, ROWS, 0, 0},
        {"s1_cpu", 0.4, 0.02, 0, 0, 0, 0, 0},
        {"s1_mem", 2e8, 2e6, 0, 0, 0, 0, 0},
        {"s2_sm-clock", 1800, 20, -900, INJECT, ROWS, 0, 0},
        {"s2_gpu-util", 99, 0.5, 0, 0, 0, 0, 0},
        {"s2_tokens", 1000, 20, -300, INJECT, ROWS, 0, 0},
        {"s2_cpu", 0.4, 0.02, 0, 0, 0, 0, 0},
    };
    struct series_table *t = build(cols, sizeof cols / sizeof cols[0]);
    struct rca_case c = case_of(t, NULL);

    (void)state;
    ASSERT_TOP("llm", &c, NULL, 0, "s2_sm-clock");
    ASSERT_NOT_TOP("nsigma", &c, "s2_sm-clock");
    ASSERT_NOT_TOP("nsigma", &c, "s2_tokens");
    ASSERT_NOT_TOP("baro", &c, "s2_sm-clock");
    ASSERT_NOT_TOP("baro", &c, "s2_tokens");
    series_table_destroy(t);
}

/* ---- persistence ---- */

/* s0's CPU is up by 8 noise sd for the whole anomalous minute; s1's
 * jumps by 40 sd for 2 s. The spike wins a max (NSigma, and llm with
 * persist=0); the fault that lasts wins llm. */
static void test_spike_vs_lasting(void **state)
{
    const struct syn cols[] = {
        {"s0_cpu", 0.4, 0.02, 0.16, INJECT, ROWS, 0, 0},
        {"s1_cpu", 0.4, 0.02, 0.8, INJECT + 20, 2, 0, 0},
        {"s2_cpu", 0.4, 0.02, 0, 0, 0, 0, 0},
    };
    struct series_table *t = build(cols, 3);
    struct rca_case c = case_of(t, NULL);
    struct rca_kv none[] = {{"persist", "0"}};
    struct rca_kv three[] = {{"persist", "3"}};

    (void)state;
    ASSERT_TOP("llm", &c, NULL, 0, "s0_cpu");
    ASSERT_TOP("nsigma", &c, NULL, 0, "s1_cpu");
    ASSERT_TOP("baro", &c, NULL, 0, "s1_cpu");
    ASSERT_TOP("llm", &c, none, 1, "s1_cpu");
    /* a 3 s stretch needs the level for 2 of 3 s: the 2 s spike has it */
    ASSERT_TOP("llm", &c, three, 1, "s1_cpu");
    series_table_destroy(t);
}

/* ---- call structure ---- */

/* traces.csv text: per request a frontend span, a backend span whose
 * parent it is, and (as the testbed's replies) a frontend span whose
 * parent is the backend span. */
static struct rcaeval_traces *traces_of(size_t requests)
{
    size_t cap = 200 + requests * 3 * 160, len = 0;
    char *buf = malloc(cap);
    struct rcaeval_traces *tr = NULL;
    char err[256];

    assert_non_null(buf);
    len += (size_t)snprintf(buf + len, cap - len,
                            "traceID,spanID,parentSpanID,serviceName,"
                            "operationName,startTimeMillis,duration\n");
    for (size_t i = 0; i < requests; i++) {
        long long ms = (long long)T0 * 1000 + (long long)i * 100;
        len += (size_t)snprintf(buf + len, cap - len,
                                "t%zu,a%zu,,frontend,GET /,%lld,200000\n"
                                "t%zu,b%zu,a%zu,backend,query,%lld,100000\n"
                                "t%zu,c%zu,b%zu,frontend,reply,%lld,10\n",
                                i, i, ms, i, i, i, ms + 1, i, i, i, ms + 150);
    }
    if (rcaeval_traces_parse("traces.csv", buf, len, &tr, err, sizeof err) != 0)
        fail_msg("traces: %s", err);
    free(buf);
    return tr;
}

/* The frontend's latency rises by 100 ms over a quiet baseline (a high
 * z-score); the backend it calls rises by 95 ms over a noisy one. By
 * z-score the frontend leads; with the call graph the rise is the
 * backend's. */
static void test_callee_explains_caller(void **state)
{
    const struct syn cols[] = {
        {"frontend_latency", 0.2, 0.002, 0.1, INJECT, ROWS, 0, 0},
        {"frontend_cpu", 0.3, 0.02, 0, 0, 0, 0, 0},
        {"backend_latency", 0.1, 0.01, 0.095, INJECT, ROWS, 0, 0},
        {"backend_cpu", 0.3, 0.02, 0, 0, 0, 0, 0},
        {"cache_latency", 0.01, 0.001, 0, 0, 0, 0, 0},
    };
    struct series_table *t = build(cols, sizeof cols / sizeof cols[0]);
    struct rcaeval_traces *tr = traces_of(50);
    struct rca_case plain = case_of(t, NULL);
    struct rca_case traced = case_of(t, tr);

    (void)state;
    ASSERT_TOP("llm", &plain, NULL, 0, "frontend_latency");
    ASSERT_TOP("nsigma", &traced, NULL, 0, "frontend_latency");
    ASSERT_TOP("llm", &traced, NULL, 0, "backend_latency");
    rcaeval_traces_destroy(tr);
    series_table_destroy(t);
}

/* ---- GPU idleness ---- */

/* s0's SM clock halves. With its utilisation halving too, the GPU is
 * idle (it clocks down when starved), and s1's CPU doubling is the cause;
 * with utilisation flat, the clock drop is the cause. */
static void test_idle_clock(void **state)
{
    struct syn cols[] = {
        {"s0_sm-clock", 1800, 20, -900, INJECT, ROWS, 0, 0},
        {"s0_gpu-util", 90, 1, -45, INJECT, ROWS, 0, 0},
        {"s1_cpu", 0.4, 0.02, 0.4, INJECT, ROWS, 0, 0},
    };
    struct series_table *t = build(cols, 3);
    struct rca_case c = case_of(t, NULL);

    (void)state;
    ASSERT_TOP("llm", &c, NULL, 0, "s1_cpu");
    series_table_destroy(t);
    cols[1].shift = 0;
    t = build(cols, 3);
    c = case_of(t, NULL);
    ASSERT_TOP("llm", &c, NULL, 0, "s0_sm-clock");
    series_table_destroy(t);
}

/* ---- CPU per unit of work ---- */

/* The load doubles: s0's CPU and workload double together (no fault),
 * while s1 spends 30% more CPU on the same work (the fault). By raw
 * rises s0 leads; per request, s1. */
static void test_cpu_per_work(void **state)
{
    const struct syn cols[] = {
        {"s0_cpu", 0.4, 0.01, 0.4, INJECT, ROWS, 0, 0},
        {"s0_workload", 100, 2, 100, INJECT, ROWS, 0, 0},
        {"s1_cpu", 0.4, 0.01, 0.12, INJECT, ROWS, 0, 0},
        {"s1_workload", 100, 2, 0, 0, 0, 0, 0},
    };
    struct series_table *t = build(cols, 4);
    struct rca_case c = case_of(t, NULL);

    (void)state;
    ASSERT_NOT_TOP("nsigma", &c, "s1_cpu");
    ASSERT_TOP("llm", &c, NULL, 0, "s1_cpu");
    series_table_destroy(t);
}

/* ---- noise ---- */

/* A 0/1 gauge (requests running, sampled) that flickers more often after
 * the inject time is no fault: its spread comes from the flicker, not
 * from a floor of 5% of a median of 0. s0's CPU doubles. */
static void test_flicker_is_noise(void **state)
{
    const struct syn cols[] = {
        {"s0_cpu", 0.4, 0.02, 0.4, INJECT, ROWS, 0, 0},
        {"s1_running", 0, 0, 0, 0, 0, 0, 0.1},
        {"s2_cpu", 0.4, 0.02, 0, 0, 0, 0, 0},
    };
    struct series_table *t = build(cols, 3);
    struct rca_case c = case_of(t, NULL);

    (void)state;
    ASSERT_TOP("llm", &c, NULL, 0, "s0_cpu");
    series_table_destroy(t);
}

/* A host-wide slowdown that comes and goes (every other 5 s, the clocks
 * of all three GPUs at 60%) widens every clock's normal spread so much
 * that s2's throttle to 70% is lost behind s0's CPU doubling; with
 * peers=1 each clock is taken relative to the others' and the throttle
 * stands out. */
static void test_peers_common_mode(void **state)
{
    const struct syn cols[] = {
        {"s0_cpu", 0.4, 0.02, 0.4, INJECT, ROWS, 0, 0},
        {"s0_sm-clock", 1800, 10, 0, 0, 0, 0.4, 0},
        {"s1_sm-clock", 1800, 10, 0, 0, 0, 0.4, 0},
        {"s2_sm-clock", 1800, 10, -540, INJECT, ROWS, 0.4, 0},
    };
    struct series_table *t = build(cols, 4);
    struct rca_case c = case_of(t, NULL);
    struct rca_kv on[] = {{"peers", "1"}};

    (void)state;
    ASSERT_TOP("llm", &c, NULL, 0, "s0_cpu");
    ASSERT_TOP("llm", &c, on, 1, "s2_sm-clock");
    series_table_destroy(t);
}

/* A 40-sd CPU spike of exactly 3 s at s1 (half of the 6 s stretch) is
 * not a change that holds; s0's CPU up by 8 sd for the whole anomalous
 * minute is. (Before: "at least half" let the spike win.) */
static void test_spike_of_half_the_stretch(void **state)
{
    const struct syn cols[] = {
        {"s0_cpu", 0.4, 0.02, 0.16, INJECT, ROWS, 0, 0},
        {"s1_cpu", 0.4, 0.02, 0.8, INJECT + 20, 3, 0, 0},
        {"s2_cpu", 0.4, 0.02, 0, 0, 0, 0, 0},
    };
    struct series_table *t = build(cols, 3);
    struct rca_case c = case_of(t, NULL);
    struct rca_kv four[] = {{"persist", "4"}};

    (void)state;
    ASSERT_TOP("llm", &c, NULL, 0, "s0_cpu");
    /* over a 4 s stretch the same 3 s spike holds for most of it */
    ASSERT_TOP("llm", &c, four, 1, "s1_cpu");
    ASSERT_TOP("nsigma", &c, NULL, 0, "s1_cpu");
    series_table_destroy(t);
}

/* ---- ranks of one group ---- */

/* A testbed case recorded with `experiment rca-dataset --kinds
 * gpu-throttle --stages prefill --run-for 20 --fault-at 10 --fault-for 6`
 * (the columns that decide it, 5 significant digits): prefill's SM clock
 * halves for 6 s and its utilisation rises (it has idle time to give).
 * The two tensor-parallel decode ranks take turns at spinning in the
 * all-reduce while the other computes: decode-1 spins (CPU ~0.65) in most
 * normal seconds, decode-0 in the fault's. Judged on its own normal
 * window, at a 5% floor, decode-0's CPU per request (more than doubled)
 * outranked the clock: what llm did before CPU got its 30% floor and the
 * ranks a shared normal window. Against its group's normal window it is
 * a level its peer held. */
static const char *const rec_cols[] = {
    "prefill_cpu",       "prefill_workload",  "prefill_sm-clock",
    "prefill_gpu-util",  "decode-0_cpu",      "decode-0_workload",
    "decode-0_sm-clock", "decode-0_gpu-util", "decode-1_cpu",
    "decode-1_workload", "decode-1_sm-clock", "decode-1_gpu-util",
};
#define REC_COLS (sizeof rec_cols / sizeof rec_cols[0])
#define REC_T0 1796319529 /* the first row; the inject time is row 9's */
static const double rec_rows[][REC_COLS] = {
    {0.089981, 110, 1410, 20.999, 0.16349, 106, 1410, 92.57, 0.16184, 106, 1410,
     93.449},
    {0.13322, 157, 1395, 13.46, 0.25332, 158, 1410, 98.575, 0.57948, 158, 1395,
     99.29},
    {0.14531, 181, 1395, 14.917, 0.28494, 181, 1395, 98.675, 0.6569, 181, 1395,
     99.74},
    {0.15007, 188, 1395, 15.5, 0.30231, 188, 1395, 99.241, 0.66444, 188, 1395,
     99.762},
    {0.15697, 198, 1410, 20.483, 0.31067, 201, 1410, 89.216, 0.47039, 201, 1410,
     89.728},
    {0.18672, 230, 1410, 21.257, 0.35377, 228, 1410, 92.606, 0.34949, 228, 1410,
     94.272},
    {0.17352, 211, 1410, 21.511, 0.31564, 210, 1395, 92.84, 0.38027, 210, 1410,
     94.73},
    {0.1458, 169, 1410, 20.241, 0.2633, 170, 1395, 98.766, 0.63855, 170, 1395,
     99.788},
    {0.14588, 178, 1395, 18.813, 0.26949, 178, 1395, 98.873, 0.63988, 178, 1410,
     99.746},
    {0.15783, 196, 705, 18.665, 0.30018, 195, 1395, 99.382, 0.66519, 195, 1395,
     99.802},
    {0.1619, 199, 697.5, 30.769, 0.56948, 200, 1395, 99.306, 0.4267, 200, 1410,
     99.744},
    {0.17501, 219, 705, 34.701, 0.74951, 219, 1410, 99.35, 0.32308, 219, 1410,
     99.692},
    {0.17381, 220, 705, 34.226, 0.73917, 220, 1395, 99.085, 0.32181, 220, 1395,
     99.594},
    {0.13436, 161, 697.5, 26.477, 0.56028, 161, 1410, 98.814, 0.23748, 161,
     1395, 99.489},
    {0.16864, 209, 697.5, 33.409, 0.71296, 208, 1395, 98.28, 0.30289, 208, 1395,
     99.184},
    {0.1764, 223, 1410, 35.658, 0.74032, 224, 1395, 98.829, 0.32715, 224, 1410,
     99.278},
    {0.17041, 217, 1410, 18.469, 0.72471, 216, 1395, 99.117, 0.31721, 216, 1395,
     99.61},
    {0.15586, 199, 1395, 17.387, 0.45557, 199, 1410, 99.387, 0.50878, 199, 1395,
     99.732},
    {0.15536, 198, 1395, 17.826, 0.29264, 199, 1410, 99.591, 0.68313, 200, 1395,
     99.79},
};
#define REC_ROWS (sizeof rec_rows / sizeof rec_rows[0])

static void test_recorded_prefill_throttle(void **state)
{
    struct series_table *t = series_table_create(REC_ROWS, REC_COLS);
    struct rca_kv off[] = {{"ranks", "0"}};
    struct rca_case c = {0};

    (void)state;
    assert_non_null(t);
    for (size_t r = 0; r < REC_ROWS; r++) {
        t->time_ns[r] = ((int64_t)REC_T0 + (int64_t)r) * 1000000000;
        for (size_t j = 0; j < REC_COLS; j++)
            series_table_col(t, j)[r] = rec_rows[r][j];
    }
    for (size_t j = 0; j < REC_COLS; j++)
        assert_int_equal(series_table_set_name(t, j, rec_cols[j]), 0);
    c.metrics = t;
    c.inject_ns = ((int64_t)REC_T0 + 9) * 1000000000;
    c.has_inject = true;
    c.name = "prefill_gpu";
    ASSERT_TOP("llm", &c, NULL, 0, "prefill_sm-clock");
    /* decode-0's spinning is within its group's normal spread: it scores
     * less than on its own normal window */
    double pooled = score_of("llm", &c, NULL, 0, "decode-0_cpu");
    double alone = score_of("llm", &c, off, 1, "decode-0_cpu");
    if (!(pooled < 0.7 * alone))
        fail_msg("decode-0_cpu scores %g with its ranks, %g alone", pooled,
                 alone);
    ASSERT_NOT_TOP("nsigma", &c, "prefill_sm-clock");
    ASSERT_NOT_TOP("baro", &c, "prefill_sm-clock");
    series_table_destroy(t);
}

/* Ranks are services named "<group>-<n>". Three replicas of a cache, one
 * of them busy (CPU 0.8, the others 0.2) in turn: cache-1 and cache-2 in
 * the normal window, cache-0 after the inject time. A level that a
 * replica held in the normal window is no fault at another; web's CPU
 * doubling is. Each replica on its own (ranks=0): cache-0 leads. */
static void test_ranks_share_normal(void **state)
{
    enum { N = ROWS };
    static const char *const names[] = {"cache-0_cpu", "cache-1_cpu",
                                        "cache-2_cpu", "web_cpu"};
    struct series_table *t = series_table_create(N, 4);
    struct rca_kv off[] = {{"ranks", "0"}};
    struct rca_case c;

    (void)state;
    assert_non_null(t);
    rng = 7;
    for (size_t r = 0; r < N; r++) {
        t->time_ns[r] = ((int64_t)T0 + (int64_t)r) * 1000000000;
        size_t busy = r < INJECT ? (r / 10) % 2 + 1 : 0; /* 1, 2, then 0 */
        for (size_t j = 0; j < 3; j++)
            series_table_col(t, j)[r] =
                (j == busy ? 0.8 : 0.2) + 0.01 * normal();
        /* web: doubles (a fault that lasts) */
        series_table_col(t, 3)[r] = 0.3 + 0.01 * normal() + (r >= INJECT) * 0.3;
    }
    for (size_t j = 0; j < 4; j++)
        assert_int_equal(series_table_set_name(t, j, names[j]), 0);
    c = case_of(t, NULL);
    ASSERT_TOP("llm", &c, NULL, 0, "web_cpu");
    ASSERT_TOP("llm", &c, off, 1, "cache-0_cpu");
    series_table_destroy(t);
}

/* ---- interface ---- */

static void test_params_and_inputs(void **state)
{
    const struct rca_method *m = rca_method_find("llm");
    static const struct {
        const char *key, *value;
    } bad[] = {{"persist", "-1"}, {"symptom", "2"}, {"other", "x"},
               {"roles", ""},     {"peers", "2"},   {"alpha", "1"},
               {"ranks", "2"}};
    char err[256];

    (void)state;
    assert_non_null(m);
    assert_false(rca_method_stochastic(m));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rca_kv kv = {bad[i].key, bad[i].value};
        struct rca_params p = {.kv = &kv, .nkv = 1};
        assert_int_equal(rca_method_validate(m, &p, err, sizeof err),
                         -RCA_E_INVAL);
    }
    /* without an inject time: the method needs one */
    const struct syn cols[] = {{"s0_cpu", 1, 0.1, 0, 0, 0, 0, 0}};
    struct series_table *t = build(cols, 1);
    struct rca_case c = case_of(t, NULL);
    struct rca_ranking r;
    rca_ranking_init(&r);
    c.has_inject = false;
    assert_int_equal(rca_rank(m, &c, NULL, &r, err, sizeof err), -RCA_E_INPUT);
    /* an inject time after every row: no anomalous window */
    c.has_inject = true;
    c.inject_ns = ((int64_t)T0 + ROWS + 5) * 1000000000;
    assert_int_equal(rca_rank(m, &c, NULL, &r, err, sizeof err), -RCA_E_DATA);
    assert_int_equal(r.n, 0);
    series_table_destroy(t);
}

/* Deterministic: the same case twice gives the same scores, bit for bit,
 * and a column that does not move scores 0. */
static void test_deterministic(void **state)
{
    const struct syn cols[] = {
        {"s0_cpu", 0.4, 0.02, 0.16, INJECT, ROWS, 0, 0},
        {"s1_latency", 0.1, 0.01, 0.02, INJECT, ROWS, 0, 0},
        {"s2_mem", 2e8, 0, 0, 0, 0, 0, 0},
    };
    struct series_table *t = build(cols, 3);
    struct rca_case c = case_of(t, NULL);
    const struct rca_method *m = rca_method_find("llm");
    struct rca_ranking a, b;
    char err[256];

    (void)state;
    rca_ranking_init(&a);
    rca_ranking_init(&b);
    assert_int_equal(rca_rank(m, &c, NULL, &a, err, sizeof err), 0);
    assert_int_equal(rca_rank(m, &c, NULL, &b, err, sizeof err), 0);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.items[i].name, b.items[i].name);
        assert_true(
            memcmp(&a.items[i].score, &b.items[i].score, sizeof(double)) == 0);
    }
    assert_string_equal(a.items[a.n - 1].name, "s2_mem");
    assert_true(a.items[a.n - 1].score == 0);
    rca_ranking_free(&a);
    rca_ranking_free(&b);
    series_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles_builtin),
        cmocka_unit_test(test_roles_user_file),
        cmocka_unit_test(test_roles_param),
        cmocka_unit_test(test_drop_only),
        cmocka_unit_test(test_spike_vs_lasting),
        cmocka_unit_test(test_callee_explains_caller),
        cmocka_unit_test(test_idle_clock),
        cmocka_unit_test(test_cpu_per_work),
        cmocka_unit_test(test_flicker_is_noise),
        cmocka_unit_test(test_peers_common_mode),
        cmocka_unit_test(test_spike_of_half_the_stretch),
        cmocka_unit_test(test_recorded_prefill_throttle),
        cmocka_unit_test(test_ranks_share_normal),
        cmocka_unit_test(test_params_and_inputs),
        cmocka_unit_test(test_deterministic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
