/* test_live: the live clock analysis of `serve` (src/serve/live), fed with
 * the simulator's traces batch by batch: the live estimate agrees with the
 * batch estimate and contains the truth, merged halves equal the whole,
 * a drifting clock is warned about before its first violation with a good
 * time-to-exhaustion, and windows slide with bounded memory. */
#include "testlib.h"

#include "live_feed.h"

#include <math.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "ingest/ingest.h"
#include "model/span_store.h"
#include "output/trace_writer.h"
#include "serve/live.h"
#include "sim/sim.h"

static const struct live_domain *domain(const struct live_snapshot *snap,
                                        const char *name)
{
    for (size_t i = 0; i < snap->ndomains; i++)
        if (strcmp(snap->domains[i].name, name) == 0)
            return &snap->domains[i];
    fail_msg("no domain %s", name);
    return NULL;
}

static void skewed_config(struct sim_config *cfg)
{
    char err[128];

    sim_config_init(cfg);
    cfg->requests = 200;
    assert_int_equal(sim_config_parse_clock(cfg, SIM_CLOCK_SKEW, "prefill=5ms",
                                            err, sizeof err),
                     0);
    assert_int_equal(sim_config_parse_clock(cfg, SIM_CLOCK_SKEW,
                                            "decode-1=-300us", err, sizeof err),
                     0);
}

/* Batch node v (clock_estimate) and live domain ld hold the same numbers. */
static void assert_same_node(const struct clock_node *n,
                             const struct live_domain *ld)
{
    assert_int_equal(ld->known, n->known);
    assert_int_equal(ld->offset_ns, n->offset_ns);
    assert_int_equal(ld->has_lower, n->bound.has_lower);
    assert_int_equal(ld->has_upper, n->bound.has_upper);
    if (n->bound.has_lower)
        assert_int_equal(ld->lower_ns, n->bound.lower_ns);
    if (n->bound.has_upper)
        assert_int_equal(ld->upper_ns, n->bound.upper_ns);
    assert_true(ld->drift_ppm == n->drift_ppm);
    assert_true(ld->drift_fit_ppm == n->drift_fit_ppm);
    assert_true(ld->drift_se_ppm == n->drift_se_ppm);
    assert_int_equal(ld->drift_significant, n->drift_significant);
    assert_int_equal(ld->has_step, n->has_step);
    assert_int_equal(ld->step_ns, n->step_ns);
    assert_int_equal(ld->step_at_ns, n->step_at_ns);
    assert_int_equal(ld->consensus_member, n->consensus_member);
    assert_int_equal(ld->fitted, n->fitted);
}

/* One estimator: live (fed 3 traces a batch) and `estimate` on the same
 * spans with the same windows give the same offsets, bounds, drifts and
 * steps, bit for bit, against the same consensus; and both hold the
 * truth. */
static void test_matches_batch(void **state)
{
    (void)state;
    struct sim_config cfg;
    skewed_config(&cfg);
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_DRIFT,
                                            "tokenizer=20ppm", NULL, 0),
                     0);
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_STEP,
                                            "detokenizer=2ms@30s", NULL, 0),
                     0);
    struct span_store *s = live_simulate(&cfg);
    struct live *lv[2] = {live_create(NULL), NULL};
    struct live_snapshot snap;
    char err[256];

    assert_non_null(lv[0]);
    live_feed(s, 3, lv, 1, NULL, NULL);
    assert_int_equal(live_update(lv[0], &snap), 0);
    assert_true(snap.consistent);
    assert_int_equal(snap.ndomains, 6);
    assert_string_equal(snap.reference, "consensus");

    struct edge_list l;
    struct clock_estimate e;
    struct estimate_opts eo = {.window_ns = 10 * 1000000000LL};
    assert_int_equal(span_store_index(s), 0);
    assert_int_equal(edge_list_build(&l, s), 0);
    assert_int_equal(estimate_run(&e, s, &l, &eo, err, sizeof err), 0);
    assert_int_equal(snap.pairs_total, l.npairs);
    assert_int_equal(snap.orphans_total, 0);
    assert_true(e.consensus);
    assert_string_equal(snap.anchor, span_store_domain_name(s, e.reference));
    assert_int_equal(snap.at_ns, e.at_ns);
    assert_int_equal(snap.nwindows, e.nwindows);

    bool stepped = false, drifted = false;
    for (uint32_t d = 0; d < span_store_domain_count(s); d++) {
        const char *name = span_store_domain_name(s, d);
        const struct live_domain *ld = domain(&snap, name);
        assert_same_node(&e.nodes[d], ld);
        stepped |= ld->has_step;
        drifted |= ld->drift_significant;
        /* Truth on the consensus scale (the healthy clocks: offset 0),
         * at at_ns (60 s into the run) */
        int64_t truth = 0;
        for (size_t c = 0; c < cfg.nclocks; c++)
            if (strcmp(cfg.clocks[c].node, name) == 0)
                truth = cfg.clocks[c].skew_ns + cfg.clocks[c].step_ns +
                        llround(cfg.clocks[c].drift_ppm * 60e3);
        assert_true(llabs(ld->offset_ns - truth) < 100000);
    }
    assert_true(stepped);
    assert_true(drifted);
    assert_true(domain(&snap, "node-detokenizer")->has_step);
    assert_true(fabs(domain(&snap, "node-tokenizer")->drift_ppm - 20) < 2);
    /* The 5 ms skew breaks the tokenizer->prefill->decode edges. */
    bool warned = false;
    for (size_t i = 0; i < snap.nedges; i++)
        if (strcmp(snap.edges[i].from, "node-prefill") == 0) {
            assert_true(snap.edges[i].violations_total > 0);
            assert_true(snap.edges[i].budget_used_ratio > 1.0);
            warned |= snap.edges[i].warning;
        }
    assert_true(warned);
    assert_true(snap.warnings_total > 0);

    clock_estimate_free(&e);
    edge_list_free(&l);
    live_snapshot_free(&snap);
    live_destroy(lv[0]);
    span_store_destroy(s);
}

static void test_merge_equals_whole(void **state)
{
    (void)state;
    struct sim_config cfg;
    skewed_config(&cfg);
    cfg.transport = SIM_TRANSPORT_RPC; /* synchronous edges: both minima */
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_DRIFT,
                                            "tokenizer=20ppm", NULL, 0),
                     0);
    struct span_store *s = live_simulate(&cfg);
    struct live *whole[2] = {live_create(NULL), NULL};
    struct live *half[2] = {live_create(NULL), live_create(NULL)};
    struct live *sum = live_create(NULL);
    struct live_snapshot a, b;

    live_feed(s, 2, whole, 1, NULL, NULL);
    live_feed(s, 2, half, 2, NULL, NULL);
    assert_int_equal(live_merge(sum, half[1]), 0);
    assert_int_equal(live_merge(sum, half[0]), 0);
    assert_int_equal(live_update(whole[0], &a), 0);
    assert_int_equal(live_update(sum, &b), 0);
    assert_true(a.pairs_total > 0);
    live_assert_same(&a, &b);

    struct live_opts o;
    live_opts_init(&o);
    o.window_s = 5;
    struct live *other = live_create(&o);
    assert_int_equal(live_merge(other, sum), -2);

    live_snapshot_free(&a);
    live_snapshot_free(&b);
    live_destroy(other);
    live_destroy(whole[0]);
    live_destroy(half[0]);
    live_destroy(half[1]);
    live_destroy(sum);
    span_store_destroy(s);
}

/* The drift run: prefill runs 40 ppm fast, so the relative offset across
 * prefill->decode-* (child - parent) falls by 40 us/s and exhausts the
 * 2 ms minimum hop latency 50 s into the run. */
struct drift_run {
    int64_t start_ns;
    int64_t warn_at, viol_at;
    double predicted_s;
};

static void drift_batch(struct live *lv, size_t batch, void *arg)
{
    struct drift_run *r = arg;
    struct live_snapshot snap;

    (void)batch;
    assert_int_equal(live_update(lv, &snap), 0);
    for (size_t i = 0; i < snap.nedges; i++) {
        const struct live_edge *e = &snap.edges[i];
        if (e->new_warning && r->warn_at < 0) {
            assert_string_equal(e->from, "node-prefill");
            assert_true(e->exhausts);
            r->warn_at = snap.at_ns;
            r->predicted_s = e->exhaust_in_s;
        }
        if (e->violations_total > 0 && r->viol_at < 0)
            r->viol_at = snap.at_ns;
    }
    live_snapshot_free(&snap);
}

static void test_drift_warning(void **state)
{
    (void)state;
    struct sim_config cfg;
    struct live_opts o;
    struct drift_run r = {.warn_at = -1, .viol_at = -1};

    sim_config_init(&cfg);
    cfg.requests = 600;
    assert_int_equal(
        sim_config_parse_clock(&cfg, SIM_CLOCK_DRIFT, "prefill=40ppm", NULL, 0),
        0);
    r.start_ns = cfg.start_unix_ns;
    struct span_store *s = live_simulate(&cfg);
    live_opts_init(&o);
    o.window_s = 5;
    struct live *lv[2] = {live_create(&o), NULL};
    live_feed(s, 1, lv, 1, drift_batch, &r);

    assert_true(r.warn_at > 0);
    assert_true(r.viol_at > 0);
    assert_true(r.warn_at < r.viol_at);
    double warn_s = (double)(r.warn_at - r.start_ns) / 1e9;
    double truth_s = 50.0 - warn_s; /* 2 ms / 40 ppm = 50 s */
    print_message("warning at %.1f s, first violation at %.1f s, "
                  "predicted exhaustion in %.1f s (true %.1f s)\n",
                  warn_s, (double)(r.viol_at - r.start_ns) / 1e9, r.predicted_s,
                  truth_s);
    assert_true(warn_s > 15 && warn_s < 40);
    assert_true(fabs(r.predicted_s - truth_s) <= 0.2 * truth_s);

    struct live_snapshot snap;
    assert_int_equal(live_update(lv[0], &snap), 0);
    /* Whatever the reference, prefill drifts 40 ppm against the rest. */
    double rel = domain(&snap, "node-prefill")->drift_ppm -
                 domain(&snap, "node-gateway")->drift_ppm;
    assert_true(fabs(rel - 40) < 4);
    live_snapshot_free(&snap);
    live_destroy(lv[0]);
    span_store_destroy(s);
}

struct slide_run {
    size_t mem_mid, mem_max, max_windows;
};

static void slide_batch(struct live *lv, size_t batch, void *arg)
{
    struct slide_run *r = arg;
    struct live_snapshot snap;

    assert_int_equal(live_update(lv, &snap), 0);
    assert_true(snap.nwindows <= 4);
    if (snap.nwindows > r->max_windows)
        r->max_windows = snap.nwindows;
    if (batch == 100)
        r->mem_mid = snap.memory_bytes;
    if (snap.memory_bytes > r->mem_max)
        r->mem_max = snap.memory_bytes;
    live_snapshot_free(&snap);
}

static void test_windows_slide(void **state)
{
    (void)state;
    struct sim_config cfg;
    struct live_opts o;
    struct slide_run r = {0};

    sim_config_init(&cfg);
    cfg.requests = 300;
    struct span_store *s = live_simulate(&cfg);
    live_opts_init(&o);
    o.window_s = 1;
    o.max_windows = 4;
    struct live *lv[2] = {live_create(&o), NULL};
    live_feed(s, 1, lv, 1, slide_batch, &r);
    assert_int_equal(r.max_windows, 4);
    /* After the first windows fill, memory does not grow with traffic. */
    assert_int_equal(r.mem_mid, r.mem_max);
    assert_true(r.mem_max < 16384);
    live_destroy(lv[0]);
    span_store_destroy(s);

    o.max_windows = 0;
    assert_null(live_create(&o));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_batch),
        cmocka_unit_test(test_merge_equals_whole),
        cmocka_unit_test(test_drift_warning),
        cmocka_unit_test(test_windows_slide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
