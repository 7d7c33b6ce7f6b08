/* Simulation tests of the clock graph with known truth: observations are
 * generated from true times, per-domain offsets/drifts/steps and hop
 * latencies; the estimate must contain the truth in its bounds, match an
 * independent Floyd-Warshall optimum, and land within the accuracy the
 * core issue sets. */
#include "testlib.h"

#include <math.h>

#include "analysis/clock_graph.h"

#define MS 1000000LL
#define US 1000LL
#define T0 1790000000000000000LL
#define MAXD 8

struct truth {
    size_t nd;
    int64_t skew[MAXD];
    double drift_ppm[MAXD];
    int64_t step[MAXD];
    int64_t step_at; /* true time of steps */
};

static uint64_t rng = 88172645463325252ull;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static int64_t jitter(int64_t mean)
{
    return (int64_t)(-log(1.0 - uniform()) * (double)mean);
}

static int64_t offset_at(const struct truth *t, uint32_t d, int64_t true_ns)
{
    int64_t o = t->skew[d] + (int64_t)llround(t->drift_ppm[d] * 1e-6 *
                                              (double)(true_ns - T0));
    if (t->step[d] && true_ns >= t->step_at)
        o += t->step[d];
    return o;
}

/* One-way hop from -> to: the parent span starts at `send`, the child at
 * arrival (latency hop + jitter). */
static struct clock_obs oneway(const struct truth *t, uint32_t from,
                               uint32_t to, int64_t send, int64_t hop,
                               uint32_t cls)
{
    int64_t arrive = send + hop + jitter(500 * US);
    return (struct clock_obs){
        .p_start = send + offset_at(t, from, send),
        .p_end = send + 50 * US + offset_at(t, from, send),
        .c_start = arrive + offset_at(t, to, arrive),
        .c_end = arrive + 300 * US + offset_at(t, to, arrive),
        .from = from,
        .to = to,
        .cls = cls,
    };
}

/* Synchronous call from -> to: request and response latency hop+jitter. */
static struct clock_obs rpc(const struct truth *t, uint32_t from, uint32_t to,
                            int64_t send, int64_t hop)
{
    int64_t arrive = send + hop + jitter(200 * US);
    int64_t done = arrive + 1 * MS;
    int64_t back = done + hop + jitter(200 * US);
    return (struct clock_obs){
        .p_start = send + offset_at(t, from, send),
        .p_end = back + offset_at(t, from, back),
        .c_start = arrive + offset_at(t, to, arrive),
        .c_end = done + offset_at(t, to, done),
        .from = from,
        .to = to,
        .cls = 1,
        .sync = 1,
    };
}

/* A ring pipeline 0 -> 1 -> ... -> nd-1 -> 0, `requests` over `span_s`. */
static struct clock_obs *ring(const struct truth *t, size_t requests,
                              double span_s, bool close, size_t *n)
{
    struct clock_obs *o = malloc(requests * t->nd * sizeof(*o));
    size_t k = 0;

    for (size_t r = 0; r < requests; r++) {
        int64_t now =
            T0 + (int64_t)(span_s * 1e9 * (double)r / (double)requests);
        for (uint32_t d = 0; d < t->nd; d++) {
            uint32_t next = (uint32_t)((d + 1) % t->nd);
            if (next == 0 && !close)
                break;
            o[k++] = oneway(t, d, next, now, 2 * MS, 7);
            now += 3 * MS;
        }
    }
    *n = k;
    return o;
}

/* Independent optimum: Floyd-Warshall over per-edge minimum slacks. */
static void optimum(const struct clock_obs *o, size_t n, size_t nd,
                    uint32_t ref, int64_t *lo, int64_t *hi, bool *has_lo,
                    bool *has_hi)
{
    const int64_t inf = INT64_MAX / 4;
    int64_t d[MAXD][MAXD];

    for (size_t i = 0; i < nd; i++)
        for (size_t j = 0; j < nd; j++)
            d[i][j] = i == j ? 0 : inf;
    for (size_t i = 0; i < n; i++) {
        int64_t w = o[i].c_start - o[i].p_start;
        if (w < d[o[i].from][o[i].to])
            d[o[i].from][o[i].to] = w;
        if (o[i].sync) {
            int64_t b = o[i].p_end - o[i].c_end;
            if (b < d[o[i].to][o[i].from])
                d[o[i].to][o[i].from] = b;
        }
    }
    for (size_t k = 0; k < nd; k++)
        for (size_t i = 0; i < nd; i++)
            for (size_t j = 0; j < nd; j++)
                if (d[i][k] < inf && d[k][j] < inf &&
                    d[i][k] + d[k][j] < d[i][j])
                    d[i][j] = d[i][k] + d[k][j];
    for (size_t v = 0; v < nd; v++) {
        has_hi[v] = d[ref][v] < inf;
        hi[v] = d[ref][v];
        has_lo[v] = d[v][ref] < inf;
        lo[v] = -d[v][ref];
    }
}

static void assert_bounds_optimal(const struct clock_estimate *e,
                                  const struct clock_obs *o, size_t n)
{
    int64_t lo[MAXD], hi[MAXD];
    bool has_lo[MAXD], has_hi[MAXD];

    optimum(o, n, e->ndomains, e->reference, lo, hi, has_lo, has_hi);
    for (size_t v = 0; v < e->ndomains; v++) {
        assert_int_equal(e->nodes[v].bound.has_lower, has_lo[v]);
        assert_int_equal(e->nodes[v].bound.has_upper, has_hi[v]);
        if (has_lo[v])
            assert_int_equal(e->nodes[v].bound.lower_ns, lo[v]);
        if (has_hi[v])
            assert_int_equal(e->nodes[v].bound.upper_ns, hi[v]);
    }
}

/* Truth relative to domain 0 (the reference in these tests) at t. */
static int64_t rel_truth(const struct truth *t, uint32_t v, int64_t true_ns)
{
    return offset_at(t, v, true_ns) - offset_at(t, 0, true_ns);
}

static void assert_contains_truth(const struct clock_estimate *e,
                                  const struct truth *t, int64_t true_ns)
{
    for (uint32_t v = 0; v < e->ndomains; v++) {
        int64_t x = rel_truth(t, v, true_ns);
        if (e->nodes[v].bound.has_lower)
            assert_true(e->nodes[v].bound.lower_ns <= x);
        if (e->nodes[v].bound.has_upper)
            assert_true(x <= e->nodes[v].bound.upper_ns);
        assert_true(e->nodes[v].bound.lower_ns <= e->nodes[v].offset_ns);
        assert_true(e->nodes[v].offset_ns <= e->nodes[v].bound.upper_ns);
    }
}

static void test_oneway_ring_names_skewed_stage(void **state)
{
    (void)state;
    struct truth t = {.nd = 6};
    t.skew[2] = 5 * MS;
    struct clock_graph_opts opts = {.reference = 0, .no_drift = true};
    struct clock_estimate e;
    size_t n;
    struct clock_obs *o = ring(&t, 500, 10, true, &n);

    assert_int_equal(clock_graph_estimate(&e, o, n, t.nd, &opts), 0);
    assert_true(e.consistent);
    assert_bounds_optimal(&e, o, n);
    assert_contains_truth(&e, &t, T0);
    for (uint32_t v = 0; v < t.nd; v++)
        assert_true(llabs(e.nodes[v].offset_ns - rel_truth(&t, v, T0)) <=
                    100 * US);
    /* The bounds alone are loose (about the hop latency): the point
     * estimate is what names the stage. */
    assert_true(e.nodes[2].bound.upper_ns - e.nodes[2].bound.lower_ns > 1 * MS);
    clock_estimate_free(&e);
    free(o);
}

static void test_oneway_chain_uses_prior(void **state)
{
    (void)state;
    struct truth t = {.nd = 5};
    t.skew[2] = 5 * MS;
    struct clock_graph_opts opts = {.reference = 0, .no_drift = true};
    struct clock_estimate e;
    size_t n;
    struct clock_obs *o = ring(&t, 400, 10, false, &n);

    assert_int_equal(clock_graph_estimate(&e, o, n, t.nd, &opts), 0);
    assert_bounds_optimal(&e, o, n);
    assert_contains_truth(&e, &t, T0);
    for (uint32_t v = 0; v < t.nd; v++)
        assert_true(llabs(e.nodes[v].offset_ns - rel_truth(&t, v, T0)) <=
                    100 * US);
    clock_estimate_free(&e);
    free(o);
}

static void test_rpc_within_half_round_trip(void **state)
{
    (void)state;
    struct truth t = {.nd = 4};
    t.skew[1] = -3 * MS;
    t.skew[3] = 7 * MS;
    struct clock_graph_opts opts = {.reference = 0, .no_drift = true};
    struct clock_estimate e;
    struct clock_obs *o = malloc(3 * 300 * sizeof(*o));
    size_t n = 0;

    for (int r = 0; r < 300; r++)
        for (uint32_t d = 0; d + 1 < t.nd; d++)
            o[n++] = rpc(&t, d, d + 1, T0 + r * 10 * MS, 400 * US);
    assert_int_equal(clock_graph_estimate(&e, o, n, t.nd, &opts), 0);
    assert_true(e.consistent);
    assert_bounds_optimal(&e, o, n);
    assert_contains_truth(&e, &t, T0);
    for (uint32_t v = 1; v < t.nd; v++) {
        /* smallest round-trip slack on the path from the reference */
        int64_t rtt = INT64_MAX;
        for (size_t i = 0; i < n; i++) {
            int64_t s =
                (o[i].c_start - o[i].p_start) + (o[i].p_end - o[i].c_end);
            if (o[i].to == v && s < rtt)
                rtt = s;
        }
        assert_true(llabs(e.nodes[v].offset_ns - rel_truth(&t, v, T0)) <=
                    (int64_t)v * rtt / 2);
        assert_true(e.nodes[v].bound.upper_ns - e.nodes[v].bound.lower_ns <=
                    (int64_t)v * rtt);
    }
    clock_estimate_free(&e);
    free(o);
}

static void test_drift_tracked(void **state)
{
    (void)state;
    struct truth t = {.nd = 6};
    t.skew[3] = 1 * MS;
    t.drift_ppm[3] = 40;
    struct clock_graph_opts opts = {.reference = 0};
    struct clock_estimate e;
    size_t n;
    struct clock_obs *o = ring(&t, 2000, 60, true, &n);

    assert_int_equal(clock_graph_estimate(&e, o, n, t.nd, &opts), 0);
    assert_true(e.consistent);
    assert_true(e.nwindows >= 3);
    assert_true(fabs(e.nodes[3].drift_ppm - 40) < 2);
    for (uint32_t v = 0; v < t.nd; v++) {
        if (v != 3)
            assert_true(fabs(e.nodes[v].drift_ppm) < 2);
    }
    /* at_ns is on the reference clock, whose offset is 0 here */
    assert_contains_truth(&e, &t, e.at_ns);
    assert_true(llabs(e.nodes[3].offset_ns - rel_truth(&t, 3, e.at_ns)) <=
                100 * US);
    /* the track follows the drift: first and last windows differ by about
     * 40 ppm of the time between them */
    const struct clock_track_point *first = &e.track[3 * e.nwindows];
    const struct clock_track_point *last =
        &e.track[3 * e.nwindows + e.nwindows - 1];
    double dt = (double)(e.windows[e.nwindows - 1].at_ns - e.windows[0].at_ns);
    double expect = 40e-6 * dt;
    assert_true(fabs((double)(last->offset_ns - first->offset_ns) - expect) <
                0.2 * expect);
    clock_estimate_free(&e);
    free(o);
}

static void test_step_detected(void **state)
{
    (void)state;
    struct truth t = {.nd = 6};
    t.step[4] = 3 * MS;
    t.step_at = T0 + 30 * 1000 * MS;
    struct clock_graph_opts opts = {.reference = 0};
    struct clock_estimate e;
    size_t n;
    struct clock_obs *o = ring(&t, 2000, 60, true, &n);

    assert_int_equal(clock_graph_estimate(&e, o, n, t.nd, &opts), 0);
    assert_true(e.nodes[4].has_step);
    assert_true(llabs(e.nodes[4].step_ns - 3 * MS) < 200 * US);
    assert_true(e.consistent);
    assert_contains_truth(&e, &t, e.at_ns);
    assert_true(llabs(e.nodes[4].offset_ns - 3 * MS) <= 100 * US);
    for (uint32_t v = 0; v < t.nd; v++)
        if (v != 4)
            assert_false(e.nodes[v].has_step);
    clock_estimate_free(&e);
    free(o);
}

static void test_inconsistent_names_cycle(void **state)
{
    (void)state;
    /* 0 -> 1 says x1 - x0 <= -2 ms; sync 1 -> 0 end constraint says
     * x0 - x1 <= ... build a direct contradiction: two one-way edges whose
     * slacks sum to a negative number. */
    struct clock_obs o[2] = {
        {.p_start = T0,
         .p_end = T0 + MS,
         .c_start = T0 - 2 * MS,
         .c_end = T0,
         .from = 0,
         .to = 1,
         .cls = 7},
        {.p_start = T0,
         .p_end = T0 + MS,
         .c_start = T0 + 1 * MS,
         .c_end = T0 + 2 * MS,
         .from = 1,
         .to = 0,
         .cls = 7},
    };
    struct clock_graph_opts opts = {.reference = 0, .no_drift = true};
    struct clock_estimate e;

    assert_int_equal(clock_graph_estimate(&e, o, 2, 3, &opts), 0);
    assert_false(e.consistent);
    assert_int_equal(e.ncycle, 2);
    int64_t sum = 0;
    for (size_t i = 0; i < e.ncycle; i++) {
        sum += e.cycle[i].bound_ns;
        assert_int_equal(e.cycle[i].to, e.cycle[(i + 1) % e.ncycle].from);
    }
    assert_int_equal(sum, -1 * MS);
    clock_estimate_free(&e);
}

static void test_no_observations(void **state)
{
    (void)state;
    struct clock_graph_opts opts = {.reference = 1};
    struct clock_estimate e;

    assert_int_equal(clock_graph_estimate(&e, NULL, 0, 3, &opts), 0);
    assert_true(e.consistent);
    for (size_t v = 0; v < 3; v++) {
        assert_int_equal(e.nodes[v].offset_ns, 0);
        assert_int_equal(e.nodes[v].bound.has_upper, v == 1);
    }
    clock_estimate_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oneway_ring_names_skewed_stage),
        cmocka_unit_test(test_oneway_chain_uses_prior),
        cmocka_unit_test(test_rpc_within_half_round_trip),
        cmocka_unit_test(test_drift_tracked),
        cmocka_unit_test(test_step_detected),
        cmocka_unit_test(test_inconsistent_names_cycle),
        cmocka_unit_test(test_no_observations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
