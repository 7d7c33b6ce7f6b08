/* test_live_exhausted: an edge already past its skew budget is exhausted
 * now (exhaust_in_s 0), whichever way its clocks drift; it used to report
 * "never" (null in /api/v1/status, +Inf on /metrics) when the drift moved
 * away from the budget, so that an alert on "exhausted within N s" never
 * fired for the edges already broken. Simulated traces with known truth:
 * prefill runs 5 ms ahead (past the budget of its edges) and drifts 40 ppm
 * one way, then the other. */
#include "testlib.h"

#include "live_feed.h"

#include "serve/live.h"
#include "sim/sim.h"

/* Feed the run with prefill drifting `drift`; returns how many edges were
 * past their budget (each asserted to be exhausted now). */
static size_t past_budget_edges(const char *drift)
{
    struct sim_config cfg;
    struct live *lv[1];
    struct live_snapshot snap;
    struct span_store *s;
    size_t past = 0;
    char err[128];

    sim_config_init(&cfg);
    cfg.requests = 200;
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_SKEW, "prefill=5ms",
                                            err, sizeof err),
                     0);
    if (drift)
        assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_DRIFT, drift,
                                                err, sizeof err),
                         0);
    s = live_simulate(&cfg);
    lv[0] = live_create(NULL);
    assert_non_null(lv[0]);
    live_feed(s, 3, lv, 1, NULL, NULL);
    assert_int_equal(live_update(lv[0], &snap), 0);
    for (size_t i = 0; i < snap.nedges; i++) {
        const struct live_edge *e = &snap.edges[i];
        if (!e->has_budget || e->budget_used_ratio < 1.0)
            continue;
        past++;
        if (!e->exhausts || e->exhaust_in_s != 0)
            fail_msg("%s -> %s (drift %s): %.2f of its budget used, "
                     "relative drift %.1f ppm: exhausts %s in %g s, "
                     "expected now (0 s)",
                     e->from, e->to, drift ? drift : "none",
                     e->budget_used_ratio, e->drift_ppm,
                     e->exhausts ? "true" : "never", e->exhaust_in_s);
    }
    live_snapshot_free(&snap);
    live_destroy(lv[0]);
    span_store_destroy(s);
    return past;
}

static void test_past_budget_is_exhausted_now(void **state)
{
    (void)state;
    assert_true(past_budget_edges(NULL) > 0);
    assert_true(past_budget_edges("prefill=40ppm") > 0);
    assert_true(past_budget_edges("prefill=-40ppm") > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_past_budget_is_exhausted_now),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
