/* test_rca_trace: the trace-based RCA methods (microrank, tracerca) and the
 * multi-source pdiagnose, their shared span split (rca/trace_spans), the
 * Python sort they reproduce (rca/trace_pysort), and the OTLP JSON ->
 * traces.csv conversion (output/traces_csv) used by the skew experiment.
 *
 * Known truth comes from three places: hand-computed cases (the numbers
 * are worked out in the comments), synthetic case folders with one slow
 * service (tests/rca_trace_synth.h), and values recorded from RCAEval's own
 * code (rca-llm's vendored microrank.py / tracerca.py run under pandas
 * 1.5.3, Python 3.11) on the same synthetic cases. */
#include "testlib.h"

#include <math.h>
#include <sys/stat.h>

#include "ingest/ingest.h"
#include "ingest/rcaeval.h"
#include "model/series.h"
#include "output/traces_csv.h"
#include "rca/rca.h"
#include "rca/trace_pysort.h"
#include "rca/trace_spans.h"
#include "rca_trace_synth.h"

/* ---------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

/* |a - b| <= tol, with both values in the message when not. */
#define assert_near(a, b, tol)                                                 \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(fabs(a_ - b_) <= (tol)))                                         \
            fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);                \
    } while (0)

static struct rcaeval_traces *traces_of(const char *csv)
{
    struct rcaeval_traces *tr = NULL;
    char err[256];

    if (rcaeval_traces_parse("t.csv", csv, strlen(csv), &tr, err, sizeof err) !=
        0)
        fail_msg("traces: %s", err);
    return tr;
}

static struct rcaeval_logs *logs_of(const char *csv)
{
    struct rcaeval_logs *lg = NULL;
    char err[256];

    if (rcaeval_logs_parse("l.csv", csv, strlen(csv), &lg, err, sizeof err) !=
        0)
        fail_msg("logs: %s", err);
    return lg;
}

/* Rank c with method (params "k=v" pairs, NULL-terminated); fails the test
 * on an error. */
static void rank_ok(const char *method, const struct rca_case *c,
                    const char *const *kv, struct rca_ranking *r)
{
    const struct rca_method *m = rca_method_find(method);
    struct rca_kv pairs[4];
    struct rca_params p = {.seed = 1, .kv = pairs};
    char err[512], buf[4][64];

    assert_non_null(m);
    for (; kv && kv[p.nkv]; p.nkv++) {
        snprintf(buf[p.nkv], sizeof buf[0], "%s", kv[p.nkv]);
        char *eq = strchr(buf[p.nkv], '=');
        *eq = '\0';
        pairs[p.nkv] = (struct rca_kv){buf[p.nkv], eq + 1};
    }
    rca_ranking_init(r);
    if (rca_rank(m, c, &p, r, err, sizeof err) != 0)
        fail_msg("%s: %s", method, err);
}

static int rank_status(const char *method, const struct rca_case *c,
                       const char *key, const char *value, char *err,
                       size_t errlen)
{
    struct rca_kv kv = {key, value};
    struct rca_params p = {.seed = 1, .kv = &kv, .nkv = key ? 1 : 0};
    struct rca_ranking r;

    rca_ranking_init(&r);
    int rc = rca_rank(rca_method_find(method), c, &p, &r, err, errlen);
    rca_ranking_free(&r);
    return rc;
}

/* A synthetic case folder under a temp dir, read and prepared as the CLI
 * does. */
struct folder {
    char *root;
    struct rcaeval_case *src;
    struct rca_case *c;
};

static void folder_open(struct folder *f, const struct tsyn *t)
{
    char dir[1024], err[512];

    f->root = testlib_temp_dir("rcatrace");
    snprintf(dir, sizeof dir, "%s/%s_delay", f->root,
             t->slow         ? t->slow
             : t->hop_caller ? t->hop_caller
                             : "none");
    mkdir(dir, 0755);
    strcat(dir, "/1");
    assert_true(tsyn_write_case(t, dir) > 0);
    if (rcaeval_case_read(dir, NULL, &f->src, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (rca_case_prepare(f->src, NULL, &f->c, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void folder_close(struct folder *f)
{
    rca_case_destroy(f->c);
    rcaeval_case_destroy(f->src);
    testlib_remove_tree(f->root);
    free(f->root);
}

static const struct tsyn base_case = {
    .t0_s = 1700000000,
    .before_s = 60,
    .after_s = 60,
    .period_ms = 50,
    .slow_ms = 10,
    .hop_ms = 8,
    .metric_shift = 8,
    .seed = 7,
};

static void expect_names(const struct rca_ranking *r, const char *const *want,
                         size_t n)
{
    if (r->n != n)
        fail_msg("ranking has %zu items, expected %zu (first %s)", r->n, n,
                 r->n ? r->items[0].name : "-");
    for (size_t i = 0; i < n; i++)
        assert_string_equal(r->items[i].name, want[i]);
}

/* ---------------------------------------------------------------------
 * pandas' and Python's arithmetic
 * --------------------------------------------------------------------- */

static void test_pandas_arithmetic(void **state)
{
    double x[1000], work[1000];

    (void)state;
    /* np.sum([0.1] * 10) == 1.0, while a left-to-right sum gives
     * 0.9999999999999999 */
    for (int i = 0; i < 10; i++)
        x[i] = 0.1;
    assert_true(trace_np_sum(x, 10) == 1.0);
    /* the recursive halves above 128 values: np.sum(1/(i+1)) */
    for (int i = 0; i < 1000; i++)
        x[i] = 1.0 / (i + 1);
    assert_true(trace_np_sum(x, 200) == 5.878030948121444);
    assert_true(trace_np_sum(x, 1000) == 7.485470860550345);
    /* pd.Series([1, 2, 3, 4.5]).mean(), .std() */
    double y[4] = {1.0, 2.0, 3.0, 4.5};
    assert_true(trace_pd_mean(y, 4) == 2.625);
    assert_true(trace_pd_std(y, 4, work) == 1.4930394055974097);
    assert_true(isnan(trace_pd_std(y, 1, work)));
    assert_true(isnan(trace_pd_mean(y, 0)));
    /* round(x, 2): the binary value decides (2.675 is 2.67499...), exact
     * ties go to even */
    assert_true(trace_py_round2(2.675) == 2.67);
    assert_true(trace_py_round2(0.125) == 0.12);
    assert_true(trace_py_round2(0.375) == 0.38);
    assert_true(trace_py_round2(1.005) == 1.0);
    assert_true(trace_py_round2(-0.125) == -0.12);
    assert_true(isnan(trace_py_round2(NAN)));
}

/* sorted(range(n), key=k.__getitem__, reverse=True) as Python 3.11/3.12
 * give it, recorded. */
static void test_pysort_nan(void **state)
{
    const double n = NAN;
    const double v[8] = {3.0, n, 1.0, 2.0, n, 5.0, 0.5, 4.0};
    const size_t want8[8] = {1, 4, 5, 7, 0, 3, 2, 6};
    /* 80 values (more than one run: the merges and galloping) */
    const double w[80] = {
        1.75, 2.25, 2.25, n,    2.25, 2.25, n,    0.5,  1.5,  n,    0.75, 2.0,
        n,    0.25, 0.25, n,    0.5,  2.5,  0.75, 1.25, 0.5,  1.75, 2.25, 1.0,
        n,    n,    n,    1.5,  n,    0.75, 2.0,  0.75, 1.75, n,    0.0,  2.0,
        n,    1.0,  0.0,  n,    n,    0.5,  2.25, 0.75, 1.25, 0.25, 2.0,  0.0,
        0.25, 1.5,  0.75, 1.25, 0.75, n,    n,    n,    2.5,  n,    n,    1.25,
        0.5,  2.0,  1.0,  n,    0.0,  2.0,  n,    2.25, 2.0,  n,    0.25, 0.75,
        2.5,  2.5,  1.25, 1.25, 1.0,  n,    2.5,  1.5};
    const size_t want80[80] = {
        2,  3,  4,  5,  6,  9,  12, 15, 17, 1,  22, 11, 24, 25, 26, 28,
        30, 29, 33, 35, 0,  21, 32, 8,  27, 19, 23, 10, 18, 31, 7,  16,
        20, 13, 36, 37, 14, 34, 38, 39, 40, 53, 54, 55, 56, 42, 46, 44,
        57, 58, 63, 66, 69, 72, 73, 67, 61, 65, 68, 49, 51, 59, 74, 75,
        62, 76, 43, 50, 52, 71, 41, 60, 45, 48, 70, 77, 78, 79, 47, 64};
    size_t order[300];
    double r[300];
    uint64_t s = 3;

    (void)state;
    assert_int_equal(trace_pysort_desc(v, 8, order), 0);
    assert_memory_equal(order, want8, sizeof want8);
    assert_int_equal(trace_pysort_desc(w, 80, order), 0);
    assert_memory_equal(order, want80, sizeof want80);
    /* without NaN: a stable sort, highest first */
    for (int i = 0; i < 300; i++)
        r[i] = (double)(test_rng_next(&s) % 17);
    assert_int_equal(trace_pysort_desc(r, 300, order), 0);
    for (int i = 1; i < 300; i++) {
        double a = r[order[i - 1]], b = r[order[i]];
        assert_true(a > b || (a == b && order[i - 1] < order[i]));
    }
}

/* ---------------------------------------------------------------------
 * The span split and tracerca by hand
 * --------------------------------------------------------------------- */

/* Inject at 4 s. Before (end < 4 s), durations in us:
 *   a_x: 1000 2000 3000 -> mean 2.00 ms, sd 1.00 -> threshold 5.00
 *   b_y: 1000 1000 1000 -> mean 1.00, sd 0.00    -> threshold 1.00
 *   c_z: 4000 alone     -> sd NaN: never abnormal
 * After (traces T1..T4):
 *   T1: a 6000 slow, b 900 fast
 *   T2: a 4000 fast, b 1000 slow (1.00 >= 1.00)
 *   T3: a 5000 slow, b 1500 slow, c 9000 (no threshold)
 *   T4: b 800 fast, d_w 1000 (new after the inject time: no SLO)
 * Spans: 4 abnormal. a: 2 of 3 -> support 2/4, confidence 2/3, score
 * 2(1/2)(2/3)/(1/2+2/3) = 4/7. b: 2 of 4 -> 1/2, 1/2 -> 1/2. c, d: 0/0.
 * Traces: T1, T2, T3 abnormal. a: 3 abnormal of 3 -> support 1,
 * confidence 1 -> 1. b: 3 of 4 -> 1, 3/4 -> 6/7. c: 1 of 1 -> 1/3, 1 ->
 * 1/2. d: 0 -> NaN, left out. */
static const char hand_traces[] =
    "traceID,spanID,parentSpanID,serviceName,methodName,operationName,"
    "startTimeMillis,startTime,duration,statusCode\n"
    "P1,p1,,a,x,x,1000,1000000,1000,200\n"
    "P1,p2,p1,b,y,y,1000,1000100,1000,200\n"
    "P2,p3,,a,x,x,2000,2000000,2000,200\n"
    "P2,p4,p3,b,y,y,2000,2000100,1000,200\n"
    "P3,p5,,a,x,x,3000,3000000,3000,200\n"
    "P3,p6,p5,b,y,y,3000,3000100,1000,200\n"
    "P3,p7,p5,c,z,z,3000,3000200,4000,200\n"
    "T1,s1,,a,x,x,4000,4000000,6000,200\n"
    "T1,s2,s1,b,y,y,4000,4000100,900,200\n"
    "T2,s3,,a,x,x,4100,4100000,4000,200\n"
    "T2,s4,s3,b,y,y,4100,4100100,1000,200\n"
    "T3,s5,,a,x,x,4200,4200000,5000,200\n"
    "T3,s6,s5,b,y,y,4200,4200100,1500,200\n"
    "T3,s7,s5,c,z,z,4200,4200200,9000,200\n"
    "T4,s8,,b,y,y,4300,4300000,800,200\n"
    "T4,s9,s8,d,w,w,4300,4300100,1000,200\n";

/* Every case has a metric table (rca_rank checks it); these methods do not
 * read it. */
static struct series_table *no_metrics(void)
{
    static struct series_table *t;

    if (!t)
        t = series_table_create(1, 0);
    return t;
}

static void hand_case(struct rca_case *c, const struct rcaeval_traces *tr)
{
    memset(c, 0, sizeof(*c));
    c->metrics = no_metrics();
    c->traces = tr;
    c->inject_ns = 4000000000LL;
    c->has_inject = true;
    c->name = "hand";
}

static void test_span_split_by_hand(void **state)
{
    struct rcaeval_traces *tr = traces_of(hand_traces);
    struct trace_spans s;
    static const uint8_t want[16] = {
        TRACE_SPAN_BEFORE,  TRACE_SPAN_BEFORE,   TRACE_SPAN_BEFORE,
        TRACE_SPAN_BEFORE,  TRACE_SPAN_BEFORE,   TRACE_SPAN_BEFORE,
        TRACE_SPAN_BEFORE,  TRACE_SPAN_SLOW,     TRACE_SPAN_FAST,
        TRACE_SPAN_FAST,    TRACE_SPAN_SLOW,     TRACE_SPAN_SLOW,
        TRACE_SPAN_SLOW,    TRACE_SPAN_UNSCORED, TRACE_SPAN_FAST,
        TRACE_SPAN_UNSCORED};

    (void)state;
    assert_int_equal(trace_spans_build(tr, 4000000000LL, NULL, &s), 0);
    assert_int_equal(s.nops, 4);
    assert_string_equal(s.ops[0].name, "a_x");
    assert_true(s.ops[0].mean_ms == 2.0 && s.ops[0].sd_ms == 1.0);
    assert_true(s.ops[1].thresh_ms == 1.0);
    assert_true(isnan(s.ops[2].sd_ms));
    assert_int_equal(s.ops[3].n_before, 0);
    assert_int_equal(s.ntraces, 7);
    assert_memory_equal(s.state, want, sizeof want);
    /* s2's parent s1 is row 7 */
    assert_int_equal(s.parent_key[8], s.key[7]);
    assert_int_equal(s.parent_key[0], TRACE_SPANS_NONE);
    trace_spans_free(&s);
    rcaeval_traces_destroy(tr);
}

/* RCAEval rounds the SLO to 0.01 ms: an operation of 1-2 us gets mean 0,
 * sd 0, threshold 0, and every later span of it is "abnormal" (the
 * testbed's consumer spans last a few hundred ns: tracerca then blames
 * the gateway's "response process"). slo_round=0 keeps the exact SLO:
 * mean 1.333 us, sd 0.577 us, threshold 3.07 us, and 1 us is fast. */
static void test_slo_rounding(void **state)
{
    static const char csv[] =
        "traceID,spanID,parentSpanID,serviceName,methodName,operationName,"
        "startTimeMillis,startTime,duration,statusCode\n"
        "A,1,,g,r,r,1000,1000000,1,200\n"
        "B,2,,g,r,r,1000,1000000,2,200\n"
        "C,3,,g,r,r,1000,1000000,1,200\n"
        "D,4,,g,r,r,4000,4000000,1,200\n";
    struct rcaeval_traces *tr = traces_of(csv);
    struct trace_spans_opts exact = {.exact_slo = true};
    struct trace_spans s;

    (void)state;
    assert_int_equal(trace_spans_build(tr, 4000000000LL, NULL, &s), 0);
    assert_true(s.ops[0].thresh_ms == 0.0);
    assert_int_equal(s.state[3], TRACE_SPAN_SLOW);
    trace_spans_free(&s);
    assert_int_equal(trace_spans_build(tr, 4000000000LL, &exact, &s), 0);
    assert_near(s.ops[0].thresh_ms, (4.0 / 3.0 + 3.0 * sqrt(1.0 / 3.0)) / 1e3,
                1e-15);
    assert_int_equal(s.state[3], TRACE_SPAN_FAST);
    trace_spans_free(&s);
    rcaeval_traces_destroy(tr);
}

static void test_tracerca_by_hand(void **state)
{
    struct rcaeval_traces *tr = traces_of(hand_traces);
    struct rca_case c;
    struct rca_ranking r;
    static const char *const spans_want[] = {"a_x", "b_y"};
    static const char *const traces_want[] = {"a_x", "b_y", "c_z"};
    static const char *const mode_traces[] = {"mode=traces", NULL};

    (void)state;
    hand_case(&c, tr);
    rank_ok("tracerca", &c, NULL, &r);
    expect_names(&r, spans_want, 2);
    assert_near(r.items[0].score, 4.0 / 7.0, 1e-15);
    assert_near(r.items[1].score, 0.5, 1e-15);
    rca_ranking_free(&r);
    rank_ok("tracerca", &c, mode_traces, &r);
    expect_names(&r, traces_want, 3);
    assert_near(r.items[0].score, 1.0, 1e-15);
    assert_near(r.items[1].score, 6.0 / 7.0, 1e-15);
    assert_near(r.items[2].score, 0.5, 1e-15);
    rca_ranking_free(&r);
    rcaeval_traces_destroy(tr);
}

/* RCAEval sorts tracerca's scores with the NaNs still in and drops them
 * afterwards. Every operation has two 1000 us spans before the inject time
 * (threshold 1.00 ms); after it (in this order of first row):
 *   a: 1 slow of 10 -> support 1/7, confidence 1/10 -> 2/17
 *   b: 0 slow of 3  -> NaN
 *   c: 4 slow of 4  -> 4/7, 1 -> 8/11
 *   d: 2 slow of 4  -> 2/7, 1/2 -> 4/11
 * Python reverses [2/17, NaN, 8/11, 4/11], finds one ascending run (no
 * comparison with the NaN is true), reverses it back: a, c, d, not sorted.
 * RCAEval's tracerca.py gives ["a_m", "c_m", "d_m"] on this case
 * (recorded). A clean sort would give c, d, a. */
static void test_tracerca_nan_order(void **state)
{
    static const char *const want[] = {"a_m", "c_m", "d_m"};
    static const unsigned slow[4] = {1, 0, 4, 2}, fast[4] = {9, 3, 0, 2};
    char csv[8192];
    size_t len = 0;
    int id = 0;
    int64_t t = 4000000;

    (void)state;
    len += (size_t)snprintf(csv + len, sizeof csv - len,
                            "traceID,spanID,parentSpanID,serviceName,"
                            "methodName,operationName,startTimeMillis,"
                            "startTime,duration,statusCode\n");
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 2; j++) {
            int64_t st = (1 + j) * 1000000 + k * 10000;
            len += (size_t)snprintf(csv + len, sizeof csv - len,
                                    "P%d,%d,,%c,m,m,0,%lld,1000,200\n", id, id,
                                    'a' + k, (long long)st);
            id++;
        }
    for (int k = 0; k < 4; k++)
        for (unsigned j = 0; j < slow[k] + fast[k]; j++, t += 10000) {
            len += (size_t)snprintf(
                csv + len, sizeof csv - len, "T%d,%d,,%c,m,m,0,%lld,%d,200\n",
                id, id, 'a' + k, (long long)t, j < slow[k] ? 1200 : 900);
            id++;
        }
    struct rcaeval_traces *tr = traces_of(csv);
    struct rca_case c;
    struct rca_ranking r;
    hand_case(&c, tr);
    rank_ok("tracerca", &c, NULL, &r);
    expect_names(&r, want, 3);
    assert_near(r.items[0].score, 2.0 / 17.0, 1e-15);
    assert_near(r.items[1].score, 8.0 / 11.0, 1e-15);
    assert_near(r.items[2].score, 4.0 / 11.0, 1e-15);
    rca_ranking_free(&r);
    rcaeval_traces_destroy(tr);
}

/* ---------------------------------------------------------------------
 * pdiagnose by hand
 * --------------------------------------------------------------------- */

/* Metrics, t = 0..7 s, inject at 4 s (votes per row >= mean + 3 sd of the
 * first four rows, sd with ddof 1):
 *   a_cpu            1 2 3 4 | 4 7 8 1    mean 2.5, sd 1.291: > 6.37: 2
 *   b_lat            5 5 5 5 | 5 4 6 5    sd 0: >= 5: 3 (RCAEval's rule)
 *   b_response_time  0 0 0 0 | 9 9 9 9    name holds "time": skipped
 *   c_mem            1 2 1 2 | 1 1 1 1    > 3.23: 0
 * Logs (whole file, "error|fail", case-sensitive): a "an error" (1; "ERROR
 * y" does not count), c "failed to connect", "fail" (2), d "error" (1; d
 * is no metric service: appended).
 * Traces: b_get 1000 2000 3000 | 6000 (slow) 1000; e_put 1000 1000 | 1000
 * (sd 0: slow); frontendservice_x 1000 1100 | 5000 (mean 1.05, sd 0.07:
 * slow, counted as "frontend").
 * Votes x5: a 2+1 = 15, b 3+1 = 20, c 0+2 = 10, d 5, e 5, frontend 5.
 * Order: b, a, c, then d, e, frontend (equal votes: first mention). */
static void test_pdiagnose_by_hand(void **state)
{
    static const char *const names[] = {"a_cpu", "b_lat", "b_response_time",
                                        "c_mem"};
    static const double vals[4][8] = {{1, 2, 3, 4, 4, 7, 8, 1},
                                      {5, 5, 5, 5, 5, 4, 6, 5},
                                      {0, 0, 0, 0, 9, 9, 9, 9},
                                      {1, 2, 1, 2, 1, 1, 1, 1}};
    static const char logs[] = "timestamp,container_name,message\n"
                               "1000000000,a,an error\n"
                               "1000000000,a,ERROR y\n"
                               "2000000000,c,failed to connect\n"
                               "5000000000,c,fail\n"
                               "5000000000,a,ok\n"
                               "6000000000,d,error\n";
    static const char traces[] =
        "traceID,spanID,parentSpanID,serviceName,methodName,operationName,"
        "startTimeMillis,startTime,duration,statusCode\n"
        "A,1,,b,get,get,1000,1000000,1000,200\n"
        "B,2,,b,get,get,1500,1500000,2000,200\n"
        "C,3,,b,get,get,2000,2000000,3000,200\n"
        "D,4,,e,put,put,1000,1000000,1000,200\n"
        "E,5,,e,put,put,1000,1000000,1000,200\n"
        "F,6,,frontendservice,x,x,1000,1000000,1000,200\n"
        "G,7,,frontendservice,x,x,1000,1000000,1100,200\n"
        "H,8,,b,get,get,4000,4000000,6000,200\n"
        "I,9,,b,get,get,4000,4000000,1000,200\n"
        "J,10,,e,put,put,4000,4000000,1000,200\n"
        "K,11,,frontendservice,x,x,4000,4000000,5000,200\n";
    static const char *const want[] = {"b", "a", "c", "d", "e", "frontend"};
    static const double votes[] = {20, 15, 10, 5, 5, 5};
    struct series_table *t = series_table_create(8, 4);
    struct rcaeval_traces *tr = traces_of(traces);
    struct rcaeval_logs *lg = logs_of(logs);
    struct rca_case c;
    struct rca_ranking r;
    char err[256];

    (void)state;
    for (int i = 0; i < 8; i++)
        t->time_ns[i] = (int64_t)i * 1000000000;
    for (int j = 0; j < 4; j++) {
        assert_int_equal(series_table_set_name(t, (size_t)j, names[j]), 0);
        memcpy(series_table_col(t, (size_t)j), vals[j], sizeof vals[j]);
    }
    memset(&c, 0, sizeof c);
    c.metrics = t;
    c.inject_ns = 4000000000LL;
    c.has_inject = true;
    c.traces = tr;
    c.logs = lg;
    c.name = "hand";
    rank_ok("pdiagnose", &c, NULL, &r);
    expect_names(&r, want, 6);
    for (size_t i = 0; i < 6; i++)
        assert_true(r.items[i].score == votes[i]);
    rca_ranking_free(&r);
    /* logs are required, as RCAEval reads logs.csv */
    c.logs = NULL;
    assert_int_equal(rank_status("pdiagnose", &c, NULL, NULL, err, sizeof err),
                     -RCA_E_INPUT);
    series_table_destroy(t);
    rcaeval_traces_destroy(tr);
    rcaeval_logs_destroy(lg);
}

/* ---------------------------------------------------------------------
 * Synthetic cases with a slow service
 * --------------------------------------------------------------------- */

static size_t svc_len(const char *name)
{
    size_t len;

    series_service_of(name, &len);
    return len;
}

static void expect_top_service(const struct rca_ranking *r, const char *svc)
{
    assert_true(r->n > 0);
    if (svc_len(r->items[0].name) != strlen(svc) ||
        strncmp(r->items[0].name, svc, strlen(svc)) != 0)
        fail_msg("first is %s, expected service %s", r->items[0].name, svc);
}

/* payment's own time rises by 10 ms (spans ~5 ms, sd 0.3) from the inject
 * time on. tracerca (spans and traces) and microrank with mode=paper put
 * it first; pdiagnose too, with its cpu, an error log line per second and
 * its spans all pointing at it. */
static void test_slow_service_found(void **state)
{
    struct tsyn t = base_case;
    struct folder f;
    struct rca_ranking r;
    static const char *const paper[] = {"mode=paper", NULL};
    static const char *const traces[] = {"mode=traces", NULL};

    (void)state;
    t.slow = "payment";
    t.error_service = "payment";
    folder_open(&f, &t);
    rank_ok("tracerca", f.c, NULL, &r);
    expect_top_service(&r, "payment");
    /* the synchronous callers are abnormal too but less often (their
     * spans vary more): the gateway comes next */
    assert_string_equal(r.items[1].name, "gateway_POST /order");
    rca_ranking_free(&r);
    rank_ok("tracerca", f.c, traces, &r);
    expect_top_service(&r, "payment");
    rca_ranking_free(&r);
    rank_ok("microrank", f.c, paper, &r);
    expect_top_service(&r, "payment");
    rca_ranking_free(&r);
    rank_ok("pdiagnose", f.c, NULL, &r);
    expect_top_service(&r, "payment");
    /* votes: 600 slow payment spans + 60 error lines + 60 cpu rows, x5 */
    assert_true(r.items[0].score == 5.0 * (600 + 60 + 60));
    rca_ranking_free(&r);
    folder_close(&f);
}

/* microrank as RCAEval runs it builds its two graphs from the spans before
 * and after the inject time, whatever their latency; the latency split
 * only sets the two trace counts. When every request takes the same kind
 * of path before and after, the graphs have the same shape, so the
 * ranking does not depend on which service is slow: the same list, with
 * the gateway (on every path) first, comes out for a slow payment and a
 * slow shipping. These are the scores RCAEval's microrank.py gives on the
 * payment case (recorded). */
static void test_microrank_rcaeval_blind(void **state)
{
    static const char *const want[] = {"gateway_POST /order", "shipping_Quote",
                                       "checkout_PlaceOrder", "cart_AddItem",
                                       "payment_Charge"};
    static const double score[] = {1437.6279544, 179.714892475, 179.714892178,
                                   179.701081827, 179.701081754};
    struct tsyn t = base_case;
    struct folder f;
    struct rca_ranking a, b;

    (void)state;
    t.slow = "payment";
    folder_open(&f, &t);
    rank_ok("microrank", f.c, NULL, &a);
    folder_close(&f);
    t.slow = "shipping";
    folder_open(&f, &t);
    rank_ok("microrank", f.c, NULL, &b);
    folder_close(&f);
    expect_names(&a, want, 5);
    expect_names(&b, want, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_near(a.items[i].score, score[i], 1e-9 * score[i]);
        assert_true(a.items[i].score == b.items[i].score);
    }
    rca_ranking_free(&a);
    rca_ranking_free(&b);
}

/* Only the caller shows the latency: cart's calls to its callee take 8 ms
 * longer (a slow hop, a queue in front of the callee), the callees'
 * (payment, shipping) own spans do not change. Traces record latency where
 * it is measured, in the caller's span and every span above it, so:
 *  - tracerca and microrank (paper mode) blame cart, the caller; the
 *    callees are never abnormal (their scores are noise);
 *  - the gateway's span holds the same 8 ms: in pdiagnose its trace votes
 *    equal cart's and, listed first, it ranks first. This is the
 *    mechanism behind "trace-only methods blame the gateway": a root span
 *    carries every delay below it, and with one span per request per
 *    service the counts tie.
 * RCAEval's tracerca.py gives the same order (recorded). */
static void test_caller_only_latency(void **state)
{
    static const char *const tr_want[] = {"cart_AddItem", "gateway_POST /order",
                                          "payment_Charge", "shipping_Quote"};
    static const char *const paper[] = {"mode=paper", NULL};
    struct tsyn t = base_case;
    struct folder f;
    struct rca_ranking r;

    (void)state;
    t.hop_caller = "cart";
    folder_open(&f, &t);
    rank_ok("tracerca", f.c, NULL, &r);
    expect_names(&r, tr_want, 4);
    assert_true(r.items[2].score < 0.01 && r.items[3].score < 0.01);
    rca_ranking_free(&r);
    rank_ok("microrank", f.c, paper, &r);
    expect_top_service(&r, "cart");
    rca_ranking_free(&r);
    rank_ok("pdiagnose", f.c, NULL, &r);
    assert_string_equal(r.items[0].name, "gateway");
    assert_string_equal(r.items[1].name, "cart");
    assert_true(r.items[0].score == r.items[1].score);
    rca_ranking_free(&r);
    folder_close(&f);
}

/* ---------------------------------------------------------------------
 * Failures and parameters
 * --------------------------------------------------------------------- */

static void test_inputs_and_params(void **state)
{
    struct rcaeval_traces *tr = traces_of(hand_traces);
    struct rca_case c;
    char err[512];

    (void)state;
    hand_case(&c, tr);
    assert_int_equal(
        rank_status("microrank", &c, "spectrum", "nope", err, sizeof err),
        -RCA_E_INVAL);
    assert_non_null(strstr(err, "spectrum=nope"));
    assert_int_equal(rank_status("microrank", &c, "mode", "x", err, sizeof err),
                     -RCA_E_INVAL);
    assert_int_equal(rank_status("tracerca", &c, "mode", "x", err, sizeof err),
                     -RCA_E_INVAL);
    assert_int_equal(rank_status("tracerca", &c, "alpha", "1", err, sizeof err),
                     -RCA_E_INVAL);
    assert_int_equal(
        rank_status("tracerca", &c, "slo_round", "2", err, sizeof err),
        -RCA_E_INVAL);
    assert_int_equal(
        rank_status("microrank", &c, "slo_round", "0", err, sizeof err), 0);
    /* every spectrum formula runs */
    static const char *const spectra[] = {
        "dstar2", "ochiai",        "jaccard",   "sorensendice", "m1",
        "m2",     "goodman",       "tarantula", "russellrao",   "hamann",
        "dice",   "simplematcing", "rogers"};
    for (size_t i = 0; i < sizeof spectra / sizeof spectra[0]; i++)
        assert_int_equal(rank_status("microrank", &c, "spectrum", spectra[i],
                                     err, sizeof err),
                         0);
    /* an inject time before every span: no normal side */
    c.inject_ns = 0;
    assert_int_equal(rank_status("microrank", &c, NULL, NULL, err, sizeof err),
                     -RCA_E_DATA);
    assert_int_equal(rank_status("tracerca", &c, NULL, NULL, err, sizeof err),
                     -RCA_E_DATA);
    /* after every span: tracerca has nothing to rank (RCAEval: empty) */
    c.inject_ns = 100000000000LL;
    assert_int_equal(rank_status("microrank", &c, NULL, NULL, err, sizeof err),
                     -RCA_E_DATA);
    struct rca_ranking r;
    rank_ok("tracerca", &c, NULL, &r);
    assert_int_equal(r.n, 0);
    rca_ranking_free(&r);
    /* no traces at all */
    c.traces = NULL;
    assert_int_equal(rank_status("microrank", &c, NULL, NULL, err, sizeof err),
                     -RCA_E_INPUT);
    rcaeval_traces_destroy(tr);
}

/* ---------------------------------------------------------------------
 * OTLP JSON -> traces.csv
 * --------------------------------------------------------------------- */

static const char otlp_two_docs[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"node-prefill\"}},"
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"prefill\"}}]},"
    "\"scopeSpans\":[{\"spans\":["
    "{\"traceId\":\"t1\",\"spanId\":\"s2\",\"parentSpanId\":\"s1\","
    "\"name\":\"prefill process\",\"kind\":5,"
    "\"startTimeUnixNano\":\"1700000000250000000\","
    "\"endTimeUnixNano\":\"1700000000262345999\"},"
    "{\"traceId\":\"t1\",\"spanId\":\"s3\",\"parentSpanId\":\"s2\","
    "\"name\":\"prefill\",\"kind\":1,"
    "\"startTimeUnixNano\":\"1700000000251000000\","
    "\"endTimeUnixNano\":\"1700000000252000000\"}]}]}]}\n"
    "  {\"resourceSpans\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"gw\"}}]},"
    "\"scopeSpans\":[{\"spans\":["
    "{\"traceId\":\"t1\",\"spanId\":\"s1\",\"name\":\"POST /a,b\","
    "\"kind\":2,\"startTimeUnixNano\":1700000000100000000,"
    "\"endTimeUnixNano\":1700000000300000000,"
    "\"attributes\":[{\"key\":\"error\",\"value\":{\"stringValue\":\"x\"}}]},"
    "{\"traceId\":\"t2\",\"spanId\":\"s9\",\"name\":\"GET\",\"kind\":2,"
    "\"status\":{\"code\":2},"
    "\"startTimeUnixNano\":\"1700000000250000000\","
    "\"endTimeUnixNano\":\"1700000000250001000\"}]}]}]}";

static void test_traces_csv(void **state)
{
    static const char want[] =
        "time,traceID,spanID,parentSpanID,serviceName,methodName,"
        "operationName,startTimeMillis,startTime,duration,statusCode\n"
        "2023-11-14 22:13:20.100000,t1,s1,,gw,\"POST /a,b\",\"POST /a,b\","
        "1700000000100,1700000000100000,200000,500\n"
        "2023-11-14 22:13:20.250000,t1,s2,s1,prefill,prefill process,"
        "prefill process,1700000000250,1700000000250000,12345,200\n"
        "2023-11-14 22:13:20.250000,t2,s9,,gw,GET,GET,1700000000250,"
        "1700000000250000,1,500\n";
    char *in = testlib_write_temp_str(otlp_two_docs);
    char *out = testlib_write_temp_str("");
    char err[512], buf[2048];
    size_t n = 0;

    (void)state;
    assert_int_equal(
        traces_csv_convert_file(in, out, NULL, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    FILE *f = fopen(out, "r");
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    assert_string_equal(buf, want);
    /* it reads back as RCAEval's table */
    struct rcaeval_traces *tr = traces_of(buf);
    assert_int_equal(tr->nspans, 3);
    assert_string_equal(tr->names[tr->spans[1].service], "prefill");
    assert_true(tr->spans[1].duration_us == 12345.0);
    rcaeval_traces_destroy(tr);
    /* INTERNAL spans on request */
    struct traces_csv_opts o = {.keep_internal = true};
    assert_int_equal(traces_csv_convert_file(in, out, &o, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 4);
    /* a broken second document is named, and the output is untouched */
    char *bad = testlib_write_temp_str("{\"resourceSpans\":[]}\n{\"res");
    assert_int_equal(
        traces_csv_convert_file(bad, out, NULL, &n, err, sizeof err),
        -INGEST_E_MALFORMED);
    assert_non_null(strstr(err, "document 2"));
    assert_int_equal(traces_csv_convert_file("/nonexistent/x", out, NULL, &n,
                                             err, sizeof err),
                     -INGEST_E_NOINPUT);
    unlink(in);
    unlink(out);
    unlink(bad);
    free(in);
    free(out);
    free(bad);
}

/* The conversion gives, on a real testbed run, exactly the traces.csv the
 * testbed's case recorder writes (one rule for both). Needs the binary
 * ($SKEWSCOPE). */
static void test_traces_csv_matches_testbed(void **state)
{
    const char *bin = getenv("SKEWSCOPE");
    char cmd[2048], a[1100], b[2400], err[512];

    (void)state;
    if (!bin || access(bin, X_OK) != 0) {
        printf("# SKIP: set SKEWSCOPE to the skewscope binary\n");
        skip();
    }
    char *dir = testlib_temp_dir("tracecsv");
    snprintf(cmd, sizeof cmd,
             "%s testbed --duration 2s --concurrency 2 --hop-delay 1ms "
             "--out %s/t.json "
             "--case-dir %s/c >/dev/null 2>&1",
             bin, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(a, sizeof a, "%s/c/normal_none/1/traces.csv", dir);
    snprintf(b, sizeof b, "%s/t.json", dir);
    snprintf(cmd, sizeof cmd, "%s/mine.csv", dir);
    assert_int_equal(
        traces_csv_convert_file(b, cmd, NULL, NULL, err, sizeof err), 0);
    snprintf(b, sizeof b, "cmp -s %s %s/mine.csv", a, dir);
    assert_int_equal(system(b), 0);
    testlib_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pandas_arithmetic),
        cmocka_unit_test(test_pysort_nan),
        cmocka_unit_test(test_span_split_by_hand),
        cmocka_unit_test(test_slo_rounding),
        cmocka_unit_test(test_tracerca_by_hand),
        cmocka_unit_test(test_tracerca_nan_order),
        cmocka_unit_test(test_pdiagnose_by_hand),
        cmocka_unit_test(test_slow_service_found),
        cmocka_unit_test(test_microrank_rcaeval_blind),
        cmocka_unit_test(test_caller_only_latency),
        cmocka_unit_test(test_inputs_and_params),
        cmocka_unit_test(test_traces_csv),
        cmocka_unit_test(test_traces_csv_matches_testbed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    series_table_destroy(no_metrics());
    return rc;
}
