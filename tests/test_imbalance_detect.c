/* test_imbalance_detect: every imbalance condition on synthetic counter
 * series with a known answer (which subject, from when), the same data
 * without the condition giving no finding, and batch evaluation equal to
 * live evaluation scrape by scrape. Series use the metric names of the
 * default runbook's signal table (vLLM, DCGM, node-exporter, the
 * collector, DPU counters, the testbed), so the table is tested too. */
#include "testlib.h"

#include <math.h>

#include "imbalance/collectives.h"
#include "imbalance/imbalance.h"
#include "imbalance/runbook.h"
#include "model/series.h"

#define S 1000000000LL
#define T0 1700000000LL /* Unix s of row 0 */

/* Deterministic noise in [-1, 1]. */
static double noise(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (double)(*x % 2001) / 1000.0 - 1.0;
}

static int64_t at(double s)
{
    return T0 * S + (int64_t)llround(s * 1e9);
}

static void sample(struct series_store *st, enum series_kind k,
                   const char *entity, const char *metric, const char *l1,
                   const char *v1, double t_s, double v)
{
    struct series_label l = {l1 ? l1 : "x", v1 ? v1 : ""};
    struct series_desc d = {entity, metric, &l, 1, k, 0};
    int64_t id = series_store_intern(st, &d);

    assert_true(id >= 0);
    assert_int_equal(series_store_append(st, (uint32_t)id, at(t_s), v), 0);
}

#define G(st, e, m, l, v, t, x) sample(st, SERIES_GAUGE, e, m, l, v, t, x)
#define C(st, e, m, l, v, t, x) sample(st, SERIES_COUNTER, e, m, l, v, t, x)

static struct imb_runbook *runbook(void)
{
    struct imb_runbook *rb = imb_runbook_create();
    char err[512];

    assert_non_null(rb);
    if (imb_runbook_load_default(rb, err, sizeof err) != 0)
        fail_msg("%s", err);
    return rb;
}

struct run {
    struct imb_runbook *rb;
    struct imb_engine *e;
};

static struct run analyse(struct series_store *st, struct imb_collectives *c)
{
    struct run r = {runbook(), NULL};
    char err[256];

    r.e = imb_engine_create(r.rb);
    assert_non_null(r.e);
    if (imb_engine_update(r.e, st, c, INT64_MAX, err, sizeof err) < 0)
        fail_msg("%s", err);
    return r;
}

static void run_free(struct run *r)
{
    imb_engine_destroy(r->e);
    imb_runbook_destroy(r->rb);
}

static size_t count(const struct run *r, const char *cond)
{
    size_t n, k = 0;
    const struct imb_finding *f = imb_engine_findings(r->e, &n);

    for (size_t i = 0; i < n; i++)
        k += !cond || !strcmp(f[i].cond->id, cond);
    return k;
}

static const struct imb_finding *find(const struct run *r, const char *cond,
                                      const char *key)
{
    size_t n;
    const struct imb_finding *f = imb_engine_findings(r->e, &n);

    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].cond->id, cond) && !strcmp(f[i].key, key))
            return &f[i];
    return NULL;
}

static void dump(const struct run *r)
{
    imb_report_text(stderr, r->e);
}

/* The finding exists, its onset within [lo, hi] s and detection within
 * 5 s of its onset. */
static const struct imb_finding *expect(const struct run *r, const char *cond,
                                        const char *key, double lo, double hi)
{
    const struct imb_finding *f = find(r, cond, key);

    if (!f) {
        dump(r);
        fail_msg("no %s finding for %s", cond, key);
    }
    double on = (double)(f->onset_ns - T0 * S) / 1e9;
    double det = (double)(f->detected_ns - f->onset_ns) / 1e9;
    if (on < lo || on > hi || det > 5 || det < 0) {
        dump(r);
        fail_msg("%s %s: onset %.1f s (want %.1f..%.1f), detected %.1f s later",
                 cond, key, on, lo, hi, det);
    }
    assert_true(f->confidence >= 0.5 && f->confidence <= 0.99);
    assert_true(f->nev >= 1);
    return f;
}

static void expect_none(const struct run *r, const char *cond)
{
    if (count(r, cond)) {
        dump(r);
        fail_msg("unexpected %s finding", cond ? cond : "any");
    }
}

/* ---------------------------------------------------------------------
 * Tensor-parallel straggler
 * --------------------------------------------------------------------- */

/* nranks decode ranks, 100 steps/s: step time base (+30% on `slow` from
 * t = 20 s when slow >= 0), histograms skewscope_step_seconds. */
static void tp_steps(struct series_store *st, int nranks, int slow, double base,
                     uint64_t seed)
{
    uint64_t x = seed;

    for (int r = 0; r < nranks; r++) {
        char e[32], rk[16];
        double sum = 0;

        snprintf(e, sizeof e, "decode-%d", r);
        snprintf(rk, sizeof rk, "%d", r);
        for (int k = 0; k <= 60; k++) {
            double step = base * (1 + 0.02 * noise(&x));

            if (r == slow && k >= 20)
                step *= 1.3;
            sum += 100 * step;
            C(st, e, "skewscope_step_seconds_sum", "rank", rk, k + 0.5, sum);
            C(st, e, "skewscope_step_seconds_count", "rank", rk, k + 0.5,
              100.0 * k);
        }
    }
}

static void test_tp_straggler_step(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    tp_steps(st, 4, 2, 0.010, 11);
    r = analyse(st, NULL);
    expect(&r, "tp_straggler", "decode-2", 19, 22);
    assert_int_equal(count(&r, "tp_straggler"), 1);
    expect_none(&r, "pp_imbalance");
    run_free(&r);
    series_store_destroy(st);
}

static void test_tp_straggler_two_ranks(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    tp_steps(st, 2, 1, 0.010, 12);
    r = analyse(st, NULL);
    expect(&r, "tp_straggler", "decode-1", 19, 22);
    assert_int_equal(count(&r, "tp_straggler"), 1);
    run_free(&r);
    series_store_destroy(st);
}

static void test_tp_clean(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    tp_steps(st, 4, -1, 0.010, 13);
    r = analyse(st, NULL);
    expect_none(&r, NULL);
    run_free(&r);
    series_store_destroy(st);
}

/* Coupled ranks: all step 13 ms after t = 20 s; rank 1 computes 13 ms and
 * waits ~0, rank 0 computes 10 ms and waits 3 ms: the least-waiting rank. */
static void test_tp_straggler_wait(void **state)
{
    struct series_store *st = series_store_create();
    uint64_t x = 5;
    struct run r;

    (void)state;
    for (int rk = 0; rk < 2; rk++) {
        char e[32], l[16];
        double sum = 0, wsum = 0;

        snprintf(e, sizeof e, "decode-%d", rk);
        snprintf(l, sizeof l, "%d", rk);
        for (int k = 0; k <= 60; k++) {
            double step = (k >= 20 ? 0.013 : 0.010) * (1 + 0.01 * noise(&x));
            double wait = k >= 20 && rk == 0 ? 0.003 : 0.0001;

            sum += 100 * step;
            wsum += 100 * wait * (1 + 0.05 * noise(&x));
            C(st, e, "skewscope_step_seconds_sum", "rank", l, k + 0.5, sum);
            C(st, e, "skewscope_step_seconds_count", "rank", l, k + 0.5,
              100.0 * k);
            C(st, e, "skewscope_collective_wait_seconds_sum", "rank", l,
              k + 0.5, wsum);
            C(st, e, "skewscope_collective_wait_seconds_count", "rank", l,
              k + 0.5, 100.0 * k);
        }
    }
    r = analyse(st, NULL);
    expect(&r, "tp_straggler", "decode-1", 19, 22);
    assert_null(find(&r, "tp_straggler", "decode-0"));
    run_free(&r);
    series_store_destroy(st);
}

/* ---------------------------------------------------------------------
 * Collectives on one clock
 * --------------------------------------------------------------------- */

/* 100 collectives/s for 60 s between ranks node-decode-0 and node-decode-1
 * (one every 10 ms, the compute between two all-reduces):
 * true arrival of rank 1 late by late_s from t = 20 s; rank 1's clock
 * ahead by ahead_s. arrive_ns is on the reference clock (what the clock
 * model recovers), arrive_raw_ns as rank 1's clock reads it. */
static struct imb_collectives *colls(double late_s, double ahead_s,
                                     bool corrected)
{
    struct imb_collectives *c = imb_collectives_create();
    const char *ranks[2] = {"node-decode-0", "node-decode-1"};
    uint64_t x = 9;

    assert_non_null(c);
    for (int k = 0; k < 6000; k++) {
        double t = k * 0.01 + 0.001;
        double a0 = t + 0.00005 * noise(&x);
        double a1 = t + 0.00005 * noise(&x) + (t >= 20 ? late_s : 0);
        double rel = (a0 > a1 ? a0 : a1) + 0.0001;
        int64_t raw[2] = {at(a0), at(a1 + ahead_s)};
        int64_t ref[2] = {at(a0), at(a1)};
        int64_t wait[2] = {at(rel) - at(a0), at(rel) - at(a1)};

        /* without correction, the reference clock is taken to be each
         * rank's own clock */
        assert_int_equal(imb_collectives_add(c, "node-decode-0,node-decode-1",
                                             2, ranks, corrected ? ref : raw,
                                             raw, wait, k ? 10000000 : -1),
                         0);
    }
    return c;
}

static void test_clock_ahead_is_not_late(void **state)
{
    struct series_store *st = series_store_create();
    struct imb_collectives *c = colls(0, 0.003, true);
    struct run r;
    size_t nn;

    (void)state;
    r = analyse(st, c);
    expect_none(&r, NULL);
    /* the note says the offset explains the apparent lateness */
    const struct imb_note *n = imb_engine_notes(r.e, &nn);
    assert_int_equal(nn, 1);
    assert_string_equal(n[0].subject, "node-decode-1");
    assert_non_null(strstr(n[0].text, "clock offset"));
    run_free(&r);
    imb_collectives_destroy(c);

    /* the same traces compared on the ranks' own clocks: a false straggler
     * (what a detector without offsets reports) */
    c = colls(0, 0.003, false);
    r = analyse(st, c);
    assert_non_null(find(&r, "tp_straggler", "node-decode-1"));
    run_free(&r);
    imb_collectives_destroy(c);
    series_store_destroy(st);
}

static void test_late_arrival_found_through_offset(void **state)
{
    struct series_store *st = series_store_create();
    /* really 3 ms late (30% of a period) from 20 s, and the clock 3 ms
     * ahead as well */
    struct imb_collectives *c = colls(0.003, 0.003, true);
    struct run r;

    (void)state;
    r = analyse(st, c);
    const struct imb_finding *f =
        expect(&r, "tp_straggler", "node-decode-1", 19, 22);
    const struct imb_evidence *ev = NULL;
    for (size_t i = 0; i < f->nev; i++)
        if (!strcmp(f->ev[i].signal, "collective_lateness"))
            ev = &f->ev[i];
    assert_non_null(ev); /* on the reference clock: 3 ms, not 6 ms */
    assert_true(fabs(ev->value - ev->baseline - 0.003) < 0.0005);
    assert_null(find(&r, "tp_straggler", "node-decode-0"));
    run_free(&r);
    imb_collectives_destroy(c);
    series_store_destroy(st);
}

/* ---------------------------------------------------------------------
 * PCIe
 * --------------------------------------------------------------------- */

static void pcie_link(struct series_store *st, double width, double maxw,
                      double gts)
{
    struct series_label l[4] = {{"segment", "0000"},
                                {"bus", "3b"},
                                {"device", "00"},
                                {"function", "0"}};
    const char *names[4] = {"node_pcidevice_current_link_width",
                            "node_pcidevice_max_link_width",
                            "node_pcidevice_current_link_transfers_per_second",
                            "node_pcidevice_max_link_transfers_per_second"};
    double v[4] = {width, maxw, gts * 1e9, gts * 1e9};

    for (int i = 0; i < 4; i++) {
        struct series_desc d = {"host-a", names[i], l, 4, SERIES_GAUGE, 0};
        int64_t id = series_store_intern(st, &d);

        assert_true(id >= 0);
        for (int k = 0; k <= 30; k++)
            series_store_append(st, (uint32_t)id, at(k + 0.5),
                                i == 0 && k < 5 ? maxw : v[i]);
    }
}

static void test_pcie_degraded_width(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    pcie_link(st, 8, 16, 16); /* x8 of x16 from t = 5 s */
    r = analyse(st, NULL);
    const struct imb_finding *f =
        expect(&r, "pcie_degraded", "host-a/0000/3b/00/0", 4, 6);
    assert_true(f->ev[0].value == 8 && f->ev[0].baseline == 16);
    run_free(&r);
    series_store_destroy(st);

    st = series_store_create();
    pcie_link(st, 16, 16, 16);
    r = analyse(st, NULL);
    expect_none(&r, NULL);
    run_free(&r);
    series_store_destroy(st);
}

static void test_pcie_aer(void **state)
{
    struct series_store *st = series_store_create();
    struct series_label l[5] = {{"segment", "0000"},
                                {"bus", "3b"},
                                {"device", "00"},
                                {"function", "0"},
                                {"severity", "correctable"}};
    struct series_desc d = {
        "host-a", "skewscope_pcie_aer_reports_total", l, 5, SERIES_COUNTER, 0};
    int64_t id = series_store_intern(st, &d);
    struct run r;

    (void)state;
    for (int k = 0; k <= 40; k++)
        series_store_append(st, (uint32_t)id, at(k + 0.5),
                            k < 25 ? 7 : 7 + (k - 24) * 3);
    r = analyse(st, NULL);
    expect(&r, "pcie_degraded", "host-a/0000/3b/00/0", 24, 26);
    run_free(&r);
    series_store_destroy(st);
}

/* DCGM: gen4 x16 (31.5 GB/s per direction); host-to-device traffic at
 * share `high` of it for `secs` seconds from t = 30, 20% otherwise. */
static void pcie_traffic(struct series_store *st, double high, int secs)
{
    double cap = 16 * 16e9 * 128.0 / 130.0 / 8;

    for (int k = 0; k <= 60; k++) {
        G(st, "dcgm", "DCGM_FI_DEV_PCIE_LINK_GEN", "gpu", "0", k + 0.5, 4);
        G(st, "dcgm", "DCGM_FI_DEV_PCIE_MAX_LINK_GEN", "gpu", "0", k + 0.5, 4);
        G(st, "dcgm", "DCGM_FI_DEV_PCIE_LINK_WIDTH", "gpu", "0", k + 0.5, 16);
        G(st, "dcgm", "DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH", "gpu", "0", k + 0.5,
          16);
        G(st, "dcgm", "DCGM_FI_PROF_PCIE_RX_BYTES", "gpu", "0", k + 0.5,
          (k >= 30 && k < 30 + secs ? high : 0.2) * cap);
    }
}

static void test_pcie_saturation(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    pcie_traffic(st, 0.95, 5);
    r = analyse(st, NULL);
    const struct imb_finding *f =
        expect(&r, "pcie_saturation", "dcgm/0", 30, 30);
    assert_true(f->detected_ns - f->onset_ns == 5 * S);
    expect_none(&r, "pcie_degraded");
    run_free(&r);
    series_store_destroy(st);

    /* 3 s at 95% is a burst, not saturation */
    st = series_store_create();
    pcie_traffic(st, 0.95, 3);
    r = analyse(st, NULL);
    expect_none(&r, NULL);
    run_free(&r);
    series_store_destroy(st);
}

/* ---------------------------------------------------------------------
 * Network
 * --------------------------------------------------------------------- */

static void test_retransmit_storm(void **state)
{
    struct series_store *st = series_store_create();
    uint64_t x = 3;
    double rt = 0, out = 0;
    struct run r;

    (void)state;
    for (int k = 0; k <= 60; k++) {
        rt += k >= 40 && k < 46 ? 3000 : 2 + 2 * noise(&x);
        out += 100000;
        G(st, "node-a", "node_netstat_Tcp_RetransSegs", NULL, NULL, k + 0.5,
          rt);
        G(st, "node-a", "node_netstat_Tcp_OutSegs", NULL, NULL, k + 0.5, out);
    }
    r = analyse(st, NULL);
    expect(&r, "net_retransmit", "node-a", 40, 40);
    run_free(&r);
    series_store_destroy(st);
}

static void test_link_flap(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    for (int k = 0; k <= 60; k++) {
        C(st, "node-a", "node_network_carrier_changes_total", "device", "eth0",
          k + 0.5, k < 40 ? 4 : 6);
        C(st, "node-a", "node_network_carrier_changes_total", "device", "eth1",
          k + 0.5, 2);
    }
    r = analyse(st, NULL);
    const struct imb_finding *f =
        expect(&r, "net_link_flap", "node-a/eth0", 40, 40);
    assert_true(f->ev[0].value == 2);
    assert_null(find(&r, "net_link_flap", "node-a/eth1"));
    run_free(&r);
    series_store_destroy(st);
}

/* DPU latency per port: 4 links, 3 of them spike together every 5 s from
 * t = 30 (congestion); or one link alone spikes (not congestion). */
static void dpu_latency(struct series_store *st, bool together)
{
    uint64_t x = 17;

    for (int p = 0; p < 4; p++) {
        char port[16];

        snprintf(port, sizeof port, "p%d", p);
        for (int k = 0; k <= 60; k++) {
            double lat = 20e-6 * (1 + 0.1 * noise(&x));
            bool spike = k >= 30 && k % 5 == 0 && (together ? p < 3 : p == 0);

            G(st, "leaf-1", "dpu_latency_seconds", "port", port, k + 0.5,
              spike ? 400e-6 : lat);
            C(st, "leaf-1", "dpu_tx_bytes", "port", port, k + 0.5,
              1e8 * k + (k >= 30 && k % 5 == 0 ? 5e7 : 0));
        }
    }
}

static void test_net_congestion(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    dpu_latency(st, true);
    r = analyse(st, NULL);
    /* the third coincident spike (t = 40) completes min_events */
    expect(&r, "net_congestion", "network", 40, 40);
    run_free(&r);
    series_store_destroy(st);

    st = series_store_create();
    dpu_latency(st, false);
    r = analyse(st, NULL);
    expect_none(&r, "net_congestion");
    run_free(&r);
    series_store_destroy(st);
}

static void test_nic_imbalance(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    for (int k = 0; k <= 30; k++) {
        C(st, "node-a", "node_network_transmit_bytes_total", "device", "eth0",
          k + 0.5, 1e8 * k);
        C(st, "node-a", "node_network_transmit_bytes_total", "device", "eth1",
          k + 0.5, (k < 10 ? 1e8 : 1e6) * k);
        C(st, "node-a", "node_network_transmit_bytes_total", "device", "lo",
          k + 0.5, 1e3 * k);
    }
    r = analyse(st, NULL);
    const struct imb_finding *f =
        expect(&r, "net_nic_imbalance", "node-a", 10, 11);
    assert_string_equal(f->subjects[1], "node-a/eth0");
    for (size_t i = 0; i < f->nsubjects; i++)
        assert_null(strstr(f->subjects[i], "/lo"));
    run_free(&r);
    series_store_destroy(st);
}

/* ---------------------------------------------------------------------
 * Serving: replicas, KV cache, prefill/decode, early stop, stages
 * --------------------------------------------------------------------- */

static void test_dp_load_skew(void **state)
{
    struct series_store *st = series_store_create();
    uint64_t x = 21;
    struct run r;

    (void)state;
    for (int p = 0; p < 4; p++) {
        char pod[32];

        snprintf(pod, sizeof pod, "vllm-%c", 'a' + p);
        for (int k = 0; k <= 60; k++) {
            double w = 3 + 1.5 * noise(&x);

            if (p == 2 && k >= 20)
                w *= 5;
            G(st, "vllm", "vllm:num_requests_waiting", "pod", pod, k + 0.5,
              round(w));
            G(st, "vllm", "vllm:num_requests_running", "pod", pod, k + 0.5,
              8 + round(2 * noise(&x)));
        }
    }
    r = analyse(st, NULL);
    expect(&r, "dp_load_skew", "vllm/vllm-c", 19, 22);
    assert_int_equal(count(&r, "dp_load_skew"), 1);
    run_free(&r);
    series_store_destroy(st);
}

static void kv(struct series_store *st, bool preempt)
{
    double pre = 0;

    for (int k = 0; k <= 60; k++) {
        double u = k >= 20 ? 0.98 : 0.6;

        pre += preempt && k >= 20 ? 2 : 0;
        G(st, "vllm", "vllm:kv_cache_usage_perc", NULL, NULL, k + 0.5, u);
        C(st, "vllm", "vllm:num_preemptions_total", NULL, NULL, k + 0.5, pre);
        G(st, "vllm", "vllm:num_requests_waiting", NULL, NULL, k + 0.5, 2);
    }
}

static void test_kv_pressure(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    kv(st, true);
    r = analyse(st, NULL);
    expect(&r, "kv_pressure", "vllm", 20, 21);
    run_free(&r);
    series_store_destroy(st);

    /* a full cache alone (no preemption, a steady queue) is no pressure */
    st = series_store_create();
    kv(st, false);
    r = analyse(st, NULL);
    expect_none(&r, NULL);
    run_free(&r);
    series_store_destroy(st);
}

/* vLLM TTFT and ITL histograms, 50 requests and 1000 tokens a second;
 * from t = 30, every 5 s a TTFT spike, with an ITL spike in the same row
 * when coincide. */
static void pd(struct series_store *st, bool coincide)
{
    uint64_t x = 33;
    double ts = 0, is = 0;

    for (int k = 0; k <= 60; k++) {
        bool spike = k >= 30 && k % 5 == 0;
        double ttft = 0.10 * (1 + 0.05 * noise(&x)) * (spike ? 5 : 1);
        double itl =
            0.02 * (1 + 0.05 * noise(&x)) * (spike && coincide ? 3 : 1);

        ts += 50 * ttft;
        is += 1000 * itl;
        C(st, "vllm", "vllm:time_to_first_token_seconds_sum", NULL, NULL,
          k + 0.5, ts);
        C(st, "vllm", "vllm:time_to_first_token_seconds_count", NULL, NULL,
          k + 0.5, 50.0 * k);
        C(st, "vllm", "vllm:inter_token_latency_seconds_sum", NULL, NULL,
          k + 0.5, is);
        C(st, "vllm", "vllm:inter_token_latency_seconds_count", NULL, NULL,
          k + 0.5, 1000.0 * k);
    }
}

static void test_pd_interference(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    pd(st, true);
    r = analyse(st, NULL);
    /* events at 30, 35, 40: the third completes min_events */
    const struct imb_finding *f =
        expect(&r, "pd_interference", "prefill/decode", 40, 40);
    assert_true(f->causes & 1u); /* colocated_phases */
    run_free(&r);
    series_store_destroy(st);

    st = series_store_create();
    pd(st, false);
    r = analyse(st, NULL);
    expect_none(&r, NULL);
    run_free(&r);
    series_store_destroy(st);
}

/* No TTFT metric: prefill inferred from host-to-device PCIe bursts (every
 * 5 s from t = 30) that coincide with ITL spikes, checked against the
 * prefill spans the traces show starting in the same rows. */
static void test_pd_inferred_phases(void **state)
{
    struct series_store *st = series_store_create();
    struct imb_collectives *c = imb_collectives_create();
    uint64_t x = 35;
    double is = 0;
    struct run r;

    (void)state;
    for (int k = 0; k <= 60; k++) {
        bool spike = k >= 30 && k % 5 == 0;

        is += 1000 * 0.02 * (1 + 0.05 * noise(&x)) * (spike ? 3 : 1);
        C(st, "vllm", "vllm:inter_token_latency_seconds_sum", NULL, NULL,
          k + 0.5, is);
        C(st, "vllm", "vllm:inter_token_latency_seconds_count", NULL, NULL,
          k + 0.5, 1000.0 * k);
        G(st, "dcgm", "DCGM_FI_PROF_PCIE_RX_BYTES", "gpu", "0", k + 0.5,
          1e9 * (1 + 0.1 * noise(&x)) * (spike ? 5 : 1));
        for (int j = 0; j < (spike ? 40 : 10); j++)
            assert_int_equal(imb_collectives_add_prefill(c, at(k + 0.01 * j)),
                             0);
    }
    r = analyse(st, c);
    const struct imb_finding *f =
        expect(&r, "pd_interference", "prefill/decode", 40, 40);
    bool inferred = false, checked = false;
    for (size_t i = 0; i < f->nev; i++) {
        inferred |= !strcmp(f->ev[i].signal, "pcie_rx_bytes");
        checked |=
            !strcmp(f->ev[i].signal, "phase_check") && f->ev[i].value == 1.0;
    }
    assert_true(inferred && checked);
    run_free(&r);
    imb_collectives_destroy(c);
    series_store_destroy(st);
}

/* Two TP ranks producing tokens; rank 1 stops at t = 30 (stays at its
 * count, or its series ends when gone). */
static void early(struct series_store *st, bool gone)
{
    for (int rk = 0; rk < 2; rk++) {
        char e[32], l[16];

        snprintf(e, sizeof e, "decode-%d", rk);
        snprintf(l, sizeof l, "%d", rk);
        for (int k = 0; k <= 60; k++) {
            if (rk == 1 && gone && k >= 30)
                break;
            C(st, e, "vllm:generation_tokens_total", "rank", l, k + 0.5,
              rk == 1 && k >= 30 ? 500.0 * 29 : 500.0 * k);
        }
    }
}

static void test_early_stop(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    early(st, false);
    r = analyse(st, NULL);
    const struct imb_finding *f = expect(&r, "early_stop", "decode-1", 30, 30);
    assert_true(f->causes & 1u); /* divergent_lengths: it still reports */
    assert_null(find(&r, "early_stop", "decode-0"));
    run_free(&r);
    series_store_destroy(st);

    st = series_store_create();
    early(st, true);
    r = analyse(st, NULL);
    f = expect(&r, "early_stop", "decode-1", 30, 30);
    assert_true(f->causes & 2u); /* rank_failure: no data at all */
    run_free(&r);
    series_store_destroy(st);
}

static void test_pp_imbalance(void **state)
{
    struct series_store *st = series_store_create();
    uint64_t x = 44;
    struct run r;

    (void)state;
    for (int k = 0; k <= 40; k++) {
        G(st, "prefill", "DCGM_FI_DEV_GPU_UTIL", NULL, NULL, k + 0.5,
          (k >= 10 ? 95 : 50) + 2 * noise(&x));
        G(st, "decode-0", "DCGM_FI_DEV_GPU_UTIL", "rank", "0", k + 0.5,
          (k >= 10 ? 30 : 50) + 2 * noise(&x));
        G(st, "decode-1", "DCGM_FI_DEV_GPU_UTIL", "rank", "1", k + 0.5,
          (k >= 10 ? 30 : 50) + 2 * noise(&x));
    }
    r = analyse(st, NULL);
    const struct imb_finding *f = expect(&r, "pp_imbalance", "prefill", 10, 10);
    assert_int_equal(f->nsubjects, 2);
    assert_string_equal(f->subjects[1], "decode");
    /* the hot stage is no tensor-parallel straggler */
    expect_none(&r, "tp_straggler");
    run_free(&r);
    series_store_destroy(st);
}

/* Every signal at once, healthy and noisy: no finding at all. */
static void clean_all(struct series_store *st)
{
    uint64_t x = 99;
    double tok = 0, rt = 0, out = 0;

    tp_steps(st, 4, -1, 0.010, 7);
    pd(st, false);
    for (int k = 0; k <= 60; k++) {
        tok += 1000;
        rt += 2 + noise(&x);
        out += 1e5;
        G(st, "vllm", "vllm:kv_cache_usage_perc", NULL, NULL, k + 0.5,
          0.5 + 0.1 * noise(&x));
        G(st, "vllm", "vllm:num_requests_waiting", NULL, NULL, k + 0.5,
          round(3 + 2 * noise(&x)));
        C(st, "vllm", "vllm:generation_tokens_total", NULL, NULL, k + 0.5, tok);
        G(st, "node-a", "node_netstat_Tcp_RetransSegs", NULL, NULL, k + 0.5,
          rt);
        G(st, "node-a", "node_netstat_Tcp_OutSegs", NULL, NULL, k + 0.5, out);
        C(st, "node-a", "node_network_carrier_changes_total", "device", "eth0",
          k + 0.5, 3);
        G(st, "prefill", "DCGM_FI_DEV_GPU_UTIL", NULL, NULL, k + 0.5,
          60 + 5 * noise(&x));
        G(st, "decode-0", "DCGM_FI_DEV_GPU_UTIL", "rank", "0", k + 0.5,
          55 + 5 * noise(&x));
    }
    pcie_traffic(st, 0.3, 10);
    pcie_link(st, 16, 16, 16);
}

static void test_clean_everything(void **state)
{
    struct series_store *st = series_store_create();
    struct run r;

    (void)state;
    clean_all(st);
    r = analyse(st, NULL);
    expect_none(&r, NULL);
    /* and many roles were seen */
    size_t roles = 0;
    for (int k = 0; k < 40; k++)
        roles += imb_engine_role_series(r.e, k) > 0;
    assert_true(roles >= 12);
    run_free(&r);
    series_store_destroy(st);
}

/* ---------------------------------------------------------------------
 * Batch and live give the same findings
 * --------------------------------------------------------------------- */

static void copy_until(struct series_store *dst, const struct series_store *src,
                       int64_t t0, int64_t t1)
{
    for (uint32_t id = 0; id < series_store_count(src); id++) {
        size_t n, first;
        const struct series_label *l;
        size_t nl;

        l = series_labels(src, id, &nl);
        struct series_desc d = {series_entity(src, id),
                                series_metric(src, id),
                                l,
                                nl,
                                series_kind(src, id),
                                0};
        int64_t did = series_store_intern(dst, &d);
        assert_true(did >= 0);
        n = series_range(src, id, t0, t1, &first);
        for (size_t i = first; i < first + n; i++)
            series_store_append(dst, (uint32_t)did, series_times(src, id)[i],
                                series_values(src, id)[i]);
    }
}

static void test_batch_equals_live(void **state)
{
    struct series_store *all = series_store_create(), *live;
    struct run b, l = {runbook(), NULL};
    char err[256];
    size_t nb, nl;

    (void)state;
    tp_steps(all, 4, 2, 0.010, 11);
    pcie_traffic(all, 0.95, 6);
    early(all, false);
    b = analyse(all, NULL);
    assert_true(count(&b, NULL) >= 3);

    /* live: one scrape a second, horizon bounded, update after each */
    live = series_store_create();
    series_store_set_horizon(live, 120 * S);
    l.e = imb_engine_create(l.rb);
    for (int k = 0; k <= 61; k++) {
        copy_until(live, all, at(k - 1 + 0.5), at(k + 0.5));
        assert_true(imb_engine_update(l.e, live, NULL, at(k + 0.5), err,
                                      sizeof err) >= 0);
    }
    assert_true(
        imb_engine_update(l.e, live, NULL, INT64_MAX, err, sizeof err) >= 0);
    const struct imb_finding *fb = imb_engine_findings(b.e, &nb);
    const struct imb_finding *fl = imb_engine_findings(l.e, &nl);
    assert_int_equal(nb, nl);
    for (size_t i = 0; i < nb; i++) {
        assert_string_equal(fb[i].cond->id, fl[i].cond->id);
        assert_string_equal(fb[i].key, fl[i].key);
        assert_true(fb[i].onset_ns == fl[i].onset_ns);
        assert_true(fb[i].detected_ns == fl[i].detected_ns);
        assert_true(fb[i].last_ns == fl[i].last_ns);
    }
    run_free(&b);
    run_free(&l);
    series_store_destroy(live);
    series_store_destroy(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tp_straggler_step),
        cmocka_unit_test(test_tp_straggler_two_ranks),
        cmocka_unit_test(test_tp_clean),
        cmocka_unit_test(test_tp_straggler_wait),
        cmocka_unit_test(test_clock_ahead_is_not_late),
        cmocka_unit_test(test_late_arrival_found_through_offset),
        cmocka_unit_test(test_pcie_degraded_width),
        cmocka_unit_test(test_pcie_aer),
        cmocka_unit_test(test_pcie_saturation),
        cmocka_unit_test(test_retransmit_storm),
        cmocka_unit_test(test_link_flap),
        cmocka_unit_test(test_net_congestion),
        cmocka_unit_test(test_nic_imbalance),
        cmocka_unit_test(test_dp_load_skew),
        cmocka_unit_test(test_kv_pressure),
        cmocka_unit_test(test_pd_interference),
        cmocka_unit_test(test_pd_inferred_phases),
        cmocka_unit_test(test_early_stop),
        cmocka_unit_test(test_pp_imbalance),
        cmocka_unit_test(test_clean_everything),
        cmocka_unit_test(test_batch_equals_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
