/* Tests of what the testbed gained to produce the imbalance conditions of
 * issue 11 (testbed/pipeline.h faults heavy, early-stop, kv-budget; hop
 * jitter; the decode ranks' step and collective-wait histograms) and of
 * `experiment imbalance`'s labelling (testbed/experiment.h):
 *  - the new fault kinds parse with their defaults, where they apply, and
 *    are refused elsewhere or with a bad parameter;
 *  - llm_workload_set() keeps only factors above 1;
 *  - each experiment condition configures exactly its fault or clock;
 *  - short real runs: a KV budget preempts every request of the window on
 *    both ranks alike (lockstep) and the recomputed requests' tokens are
 *    identical to the single-process reference; an early-stopped rank
 *    counts fewer tokens than its peer while the output stays identical;
 *    step and collective-wait histograms on decode ranks only, one step
 *    observation per inter-token observation; a hop jitter above the hop
 *    delay is refused; two prefill replicas with a skewed router keep the
 *    ranks in step (output identical) and load prefill-0 more.
 * No assertion on a time: counts, equalities and orderings only. */
#include "testlib.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/experiment.h"
#include "testbed/llm.h"
#include "testbed/pipeline.h"

#define SEC INT64_C(1000000000)

/* ---- fault spellings ---- */

static void test_fault_kinds(void **state)
{
    struct pipeline_config c;
    char err[256];

    (void)state;
    pipeline_config_init(&c);
    assert_int_equal(pipeline_config_add_fault(&c, "heavy@prefill", SEC, SEC,
                                               err, sizeof err),
                     0);
    assert_int_equal(c.faults[0].kind, PIPELINE_FAULT_HEAVY);
    assert_true(c.faults[0].amount == 4);
    assert_int_equal(pipeline_config_add_fault(&c, "heavy@decode-1:12.5", SEC,
                                               SEC, err, sizeof err),
                     0);
    assert_true(c.faults[1].amount == 12.5);
    assert_int_equal(pipeline_config_add_fault(&c, "early-stop@decode-1", SEC,
                                               SEC, err, sizeof err),
                     0);
    assert_int_equal(c.faults[2].kind, PIPELINE_FAULT_EARLY_STOP);
    assert_int_equal(pipeline_config_add_fault(&c, "kv-budget@decode", SEC, SEC,
                                               err, sizeof err),
                     0);
    assert_int_equal(c.faults[3].kind, PIPELINE_FAULT_KV_BUDGET);
    assert_true(c.faults[3].amount == 0.6);
    assert_int_equal(pipeline_config_add_fault(&c, "kv-budget@decode:50%", SEC,
                                               SEC, err, sizeof err),
                     0);
    assert_true(c.faults[4].amount == 0.5);
    assert_string_equal(pipeline_fault_name(PIPELINE_FAULT_EARLY_STOP),
                        "early-stop");
    assert_string_equal(pipeline_fault_name(PIPELINE_FAULT_KV_BUDGET),
                        "kv-budget");
    assert_string_equal(pipeline_fault_name(PIPELINE_FAULT_HEAVY), "heavy");
}

static void test_fault_kinds_refused(void **state)
{
    static const char *const bad[] = {
        "heavy@gateway",      /* no model there */
        "heavy@prefill:0.5",  /* a factor above 1 */
        "heavy@prefill:x",    /* not a number */
        "early-stop@prefill", /* decode ranks only */
        "early-stop@decode-1:3" /* no parameter */,
        "kv-budget@decode-0",   /* the TP group, not one rank */
        "kv-budget@decode:1.5", /* a share in (0, 1) */
        "kv-budget@decode:0",
    };
    struct pipeline_config c;
    char err[256];

    (void)state;
    pipeline_config_init(&c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (pipeline_config_add_fault(&c, bad[i], SEC, SEC, err, sizeof err) ==
            0)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(c.nfaults, 0);
    assert_true(pipeline_fault_applies(PIPELINE_FAULT_KV_BUDGET, "decode"));
    assert_false(pipeline_fault_applies(PIPELINE_FAULT_KV_BUDGET, "prefill"));
    assert_true(pipeline_fault_applies(PIPELINE_FAULT_EARLY_STOP, "decode-3"));
}

static void test_workload_factor(void **state)
{
    (void)state;
    assert_true(llm_workload() == 1);
    llm_workload_set(4);
    assert_true(llm_workload() == 4);
    llm_workload_set(0.5); /* lighter work is not what the fault means */
    assert_true(llm_workload() == 1);
    llm_workload_set(NAN);
    assert_true(llm_workload() == 1);
    llm_workload_set(INFINITY);
    assert_true(llm_workload() == 1);
}

/* ---- experiment labels ---- */

static void test_experiment_conditions(void **state)
{
    struct experiment_imb_config x;
    struct pipeline_config c;
    char err[256];

    (void)state;
    experiment_imb_config_init(&x);
    for (int k = 0; k < EXP_IMB_NCOND; k++) {
        enum experiment_imb_cond cond = (enum experiment_imb_cond)k;

        pipeline_config_init(&c);
        c.hop_delay_ns = 2000000;
        assert_int_equal(experiment_imb_cond_of(experiment_imb_cond_name(cond)),
                         k);
        assert_int_equal(experiment_imb_apply(&x, cond, 6 * SEC, 10 * SEC, &c,
                                              err, sizeof err),
                         0);
        switch (cond) {
        case EXP_IMB_CLEAN:
            assert_int_equal(c.nfaults + c.nclocks, 0);
            assert_int_equal(c.hop_jitter_ns, 0);
            assert_null(experiment_imb_expected(cond));
            break;
        case EXP_IMB_OFFSET:
            assert_int_equal(c.nfaults, 0);
            assert_int_equal(c.nclocks, 1);
            assert_string_equal(c.clocks[0].stage, "decode-1");
            assert_true(c.clocks[0].skew_ns == 3000000);
            assert_null(experiment_imb_expected(cond));
            break;
        case EXP_IMB_JITTER:
            assert_int_equal(c.nfaults + c.nclocks, 0);
            assert_true(c.hop_jitter_ns == 1000000);
            assert_null(experiment_imb_expected(cond));
            break;
        default:
            assert_int_equal(c.nfaults, 1);
            assert_int_equal(c.nclocks, 0);
            assert_true(c.faults[0].at_ns == 6 * SEC);
            assert_non_null(experiment_imb_expected(cond));
            break;
        }
        if (cond == EXP_IMB_TP) {
            assert_int_equal(c.faults[0].kind, PIPELINE_FAULT_GPU_THROTTLE);
            assert_string_equal(c.faults[0].stage, "decode-1");
            assert_string_equal(experiment_imb_expected(cond), "tp_straggler");
        }
        if (cond == EXP_IMB_PP) {
            assert_int_equal(c.faults[0].kind, PIPELINE_FAULT_HEAVY);
            assert_string_equal(c.faults[0].stage, "prefill");
        }
        if (cond == EXP_IMB_KV)
            assert_string_equal(c.faults[0].stage, "decode");
        if (cond == EXP_IMB_DP) {
            assert_int_equal(c.dp, 2);
            assert_int_equal(c.faults[0].kind, PIPELINE_FAULT_ROUTE_SKEW);
            assert_true(c.faults[0].amount == 0.9);
        } else {
            assert_int_equal(c.dp, 1);
        }
    }
    assert_int_equal(experiment_imb_cond_of("no-such"), -1);
}

/* ---- real runs ---- */

/* The last scrape of each stage (by pipeline slot). */
struct last_pages {
    char *page[PIPELINE_MAX_STAGES];
    char name[PIPELINE_MAX_STAGES][PIPELINE_STAGE_NAME_MAX];
    size_t n;
};

static void keep_page(void *ctx, const char *stage, int64_t unix_ns,
                      const char *body, size_t len)
{
    struct last_pages *lp = ctx;
    size_t i = 0;

    (void)unix_ns;
    while (i < lp->n && strcmp(lp->name[i], stage) != 0)
        i++;
    if (i == lp->n) {
        if (lp->n == PIPELINE_MAX_STAGES)
            return;
        snprintf(lp->name[lp->n++], PIPELINE_STAGE_NAME_MAX, "%s", stage);
    }
    free(lp->page[i]);
    lp->page[i] = strndup(body, len);
}

static void pages_free(struct last_pages *lp)
{
    for (size_t i = 0; i < lp->n; i++)
        free(lp->page[i]);
    memset(lp, 0, sizeof *lp);
}

static const char *page_of(const struct last_pages *lp, const char *stage)
{
    for (size_t i = 0; i < lp->n; i++)
        if (strcmp(lp->name[i], stage) == 0)
            return lp->page[i];
    return NULL;
}

/* The value of the first sample of `name` (followed by '{' or ' ') on the
 * page, or NAN. */
static double sample(const char *page, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = page; p && *p;
         p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, name, n) != 0 || (p[n] != '{' && p[n] != ' '))
            continue;
        const char *sp = strchr(p, ' ');
        const char *nl = strchr(p, '\n');
        if (p[n] == '{')
            sp = strchr(strchr(p, '}'), ' ');
        if (!sp || (nl && sp > nl))
            return NAN;
        return strtod(sp + 1, NULL);
    }
    return NAN;
}

static void short_run_dp(const char *spec, unsigned dp,
                         struct pipeline_result *res, struct last_pages *lp)
{
    struct pipeline_config c;
    char err[512] = "";

    pipeline_config_init(&c);
    c.tp = 2;
    c.dp = dp;
    c.max_new = 8;
    c.concurrency = dp > 1 ? 4 : 2;
    c.hop_delay_ns = 2000000;
    c.hop_jitter_ns = 1000000;
    c.duration_ms = 5000;
    c.timeout_ms = 60000;
    c.check_requests = 0; /* every request against the reference */
    c.metrics = true;
    c.scrape_fn = keep_page;
    c.scrape_ctx = lp;
    if (spec && pipeline_config_add_fault(&c, spec, 2 * SEC, 60 * SEC, err,
                                          sizeof err) < 0)
        fail_msg("%s: %s", spec, err);
    if (pipeline_run(&c, res, err, sizeof err) != 0)
        fail_msg("pipeline_run: %s", err);
}

static void short_run(const char *spec, struct pipeline_result *res,
                      struct last_pages *lp)
{
    short_run_dp(spec, 1, res, lp);
}

static void test_kv_budget_preempts_in_lockstep(void **state)
{
    struct pipeline_result res;
    struct last_pages lp = {.n = 0};

    (void)state;
    short_run("kv-budget@decode", &res, &lp);
    assert_true(res.identical); /* recomputed requests decode the same */
    const char *d0 = page_of(&lp, "decode-0"), *d1 = page_of(&lp, "decode-1");
    assert_non_null(d0);
    assert_non_null(d1);
    double p0 = sample(d0, "vllm:num_preemptions_total");
    double p1 = sample(d1, "vllm:num_preemptions_total");
    printf("# preemptions decode-0 %.0f decode-1 %.0f\n", p0, p1);
    /* The ranks' last scrapes are separate requests: at ~60 preemptions a
     * second some land between them (more than 2 apart in a CI run). A
     * rank preempting on its own would be off by a multiple. */
    assert_true(p0 >= 1);
    assert_true(fabs(p0 - p1) <= 2 + 0.05 * fmax(p0, p1));
    assert_true(sample(d0, "vllm:kv_cache_usage_perc") >= 0.95);
    assert_true(sample(page_of(&lp, "prefill"), "vllm:num_preemptions_total") ==
                0);
    pages_free(&lp);
}

static void test_early_stop_and_step_metrics(void **state)
{
    struct pipeline_result res;
    struct last_pages lp = {.n = 0};

    (void)state;
    short_run("early-stop@decode-1", &res, &lp);
    assert_true(res.identical); /* the peers' output is unchanged */
    const char *d0 = page_of(&lp, "decode-0"), *d1 = page_of(&lp, "decode-1");
    assert_non_null(d0);
    assert_non_null(d1);
    double t0 = sample(d0, "vllm:generation_tokens_total");
    double t1 = sample(d1, "vllm:generation_tokens_total");
    assert_true(t0 > 0);
    assert_true(t1 < t0); /* it stopped producing in the window */
    /* one step and one wait observation per decode step */
    double steps = sample(d0, "skewscope_step_seconds_count");
    assert_true(steps > 0);
    assert_true(steps == sample(d0, "vllm:inter_token_latency_seconds_count"));
    assert_true(steps == sample(d0, "skewscope_collective_wait_seconds_count"));
    assert_true(sample(d0, "skewscope_step_seconds_sum") >=
                sample(d0, "skewscope_collective_wait_seconds_sum"));
    assert_null(strstr(page_of(&lp, "prefill"), "skewscope_step_seconds"));
    pages_free(&lp);
}

/* Two prefill replicas behind the tokenizer, the routing skewed 90/10 from
 * 2 s on: the decode ranks still decode every request together (output
 * identical to the reference: they took the replicas' requests in the
 * same order), and prefill-0 handled more than prefill-1. */
static void test_dp_replicas_route_skew(void **state)
{
    struct pipeline_result res;
    struct last_pages lp = {.n = 0};

    (void)state;
    short_run_dp("route-skew@tokenizer:0.9", 2, &res, &lp);
    assert_true(res.identical);
    assert_true(res.requests > 0);
    assert_null(page_of(&lp, "prefill"));
    const char *p0 = page_of(&lp, "prefill-0"), *p1 = page_of(&lp, "prefill-1");
    assert_non_null(p0);
    assert_non_null(p1);
    double t0 = sample(p0, "vllm:generation_tokens_total");
    double t1 = sample(p1, "vllm:generation_tokens_total");
    assert_true(t1 > 0);  /* round robin before the skew */
    assert_true(t0 > t1); /* 90% of the requests after it */
    /* a request goes through one replica (the last scrape may precede
     * the last requests) */
    assert_true(t0 + t1 <= (double)res.requests);
    pages_free(&lp);
}

static void test_dp_config_refused(void **state)
{
    struct pipeline_config c;
    struct pipeline_result res;
    char err[256] = "";

    (void)state;
    pipeline_config_init(&c);
    c.dp = PIPELINE_MAX_DP + 1;
    assert_int_equal(pipeline_run(&c, &res, err, sizeof err), -EINVAL);
    pipeline_config_init(&c);
    c.dp = 2;
    c.hops = PIPELINE_HOPS_RPC;
    assert_int_equal(pipeline_run(&c, &res, err, sizeof err), -EINVAL);
    /* "prefill" is no stage of a run with replicas; prefill-1 is */
    pipeline_config_init(&c);
    c.dp = 2;
    assert_int_equal(
        pipeline_config_add_fault(&c, "cpu@prefill", SEC, SEC, err, sizeof err),
        0);
    assert_int_equal(pipeline_run(&c, &res, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "prefill"));
    assert_int_equal(pipeline_stage_index("prefill-0", 2), 2);
    assert_int_equal(pipeline_stage_index("prefill-1", 2), 4 + PIPELINE_MAX_TP);
    assert_int_equal(pipeline_stage_index("prefill-9", 2), -1);
}

static void test_jitter_above_delay_refused(void **state)
{
    struct pipeline_config c;
    struct pipeline_result res;
    char err[256] = "";

    (void)state;
    pipeline_config_init(&c);
    c.hop_delay_ns = 1000000;
    c.hop_jitter_ns = 2000000;
    assert_int_equal(pipeline_run(&c, &res, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "jitter"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_kinds),
        cmocka_unit_test(test_fault_kinds_refused),
        cmocka_unit_test(test_workload_factor),
        cmocka_unit_test(test_experiment_conditions),
        cmocka_unit_test(test_jitter_above_delay_refused),
        cmocka_unit_test(test_dp_config_refused),
        cmocka_unit_test(test_dp_replicas_route_skew),
        cmocka_unit_test(test_kv_budget_preempts_in_lockstep),
        cmocka_unit_test(test_early_stop_and_step_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
