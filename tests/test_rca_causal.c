/* test_rca_causal: the causal-graph RCA methods (pc/fci/granger/lingam x
 * pagerank/randomwalk, circa, rcd) on cases with a known root cause.
 *
 *  - The star: the root service's cpu drives the latency of seven other
 *    services and rises after the inject time; two more services are
 *    independent noise. Every graph builder finds the root's edges (PC and
 *    FCI undirected, LiNGAM from the non-Gaussian noise, all three on the
 *    immediate star; Granger on the star that acts a second later), so
 *    every *_pagerank method ranks the root's service first.
 *  - RCAEval's *_randomwalk methods walk with all-zero scores, so every
 *    step is uniform: the ranking is a seeded uniform walk whatever the
 *    data. Asserted as such: all columns ranked, visit shares summing to
 *    1, the same seed giving the same ranking (also on other data of the
 *    same shape), another seed another ranking.
 *  - CIRCA and RCD on the propagating cases of rca_causal_synth.h (a call
 *    tree where the root's fault reaches its callers a second later): the
 *    root's service first.
 *  - RCAEval's quirks kept or fixed: Granger's infeasible pair gives
 *    dummy's ranking (the @rca fallback) unless infeasible=skip;
 *    pc_pagerank's pc_zip=rcaeval drops the last names when a column has
 *    no edge; CIRCA ranks only metrics with a PC edge. */
#include "testlib.h"

#include <math.h>

#include "model/series.h"
#include "rca/rca.h"
#include "rca_causal_synth.h"
#include "stats/randwalk.h"

/* ---------------------------------------------------------------------
 * Cases
 * --------------------------------------------------------------------- */

static const char *const star_names[] = {
    "child1_latency", "noise1_queue",   "child2_latency", "root_cpu",
    "child3_latency", "child4_latency", "noise2_queue",   "child5_latency",
    "child6_latency", "child7_latency"};
#define STAR_COLS 10
#define STAR_ROWS 1200
#define STAR_INJECT 600

static double star_u(struct stats_rng *r)
{
    return 2.0 * stats_rng_u01(r) - 1.0;
}

/* The star case: root_cpu is white uniform noise plus `step` from the
 * inject row on; each child latency moves with root(t - lag) (slope 1 in
 * the columns' units) plus its own noise; the noise columns are independent.
 * lag 0 suits the contemporaneous builders (PC, FCI, LiNGAM); Granger needs lag
 * 1 and no step (a level shift that every lagged series shares makes all of
 * them Granger-cause each other). seed varies the noise. */
static struct series_table *star_case(uint64_t seed, size_t lag, double step)
{
    struct series_table *t = series_table_create(STAR_ROWS, STAR_COLS);
    double *col[STAR_COLS], hist[2] = {0.0, 0.0};
    struct stats_rng r;

    assert_non_null(t);
    stats_rng_seed(&r, seed);
    for (size_t j = 0; j < STAR_COLS; j++) {
        assert_int_equal(series_table_set_name(t, j, star_names[j]), 0);
        col[j] = series_table_col(t, j);
    }
    for (size_t i = 0; i < STAR_ROWS; i++) {
        t->time_ns[i] = (1700000000 + (int64_t)i) * 1000000000;
        hist[1] = hist[0];
        hist[0] = star_u(&r) + (i >= STAR_INJECT ? step : 0.0);
        double drive = hist[lag];
        for (size_t j = 0; j < STAR_COLS; j++) {
            const char *nm = star_names[j];
            if (!strncmp(nm, "root", 4))
                col[j][i] = 0.4 + 0.05 * hist[0];
            else if (!strncmp(nm, "child", 5))
                col[j][i] = 0.1 + 0.05 * drive + 0.01 * star_u(&r);
            else
                col[j][i] = 5.0 + 0.01 * star_u(&r);
        }
    }
    return t;
}

static struct series_table *star_table(uint64_t seed)
{
    return star_case(seed, 0, 3.0);
}

static void case_of(struct rca_case *c, const struct series_table *t,
                    int64_t t0_s, size_t inject_row)
{
    memset(c, 0, sizeof(*c));
    c->metrics = t;
    c->inject_ns = (t0_s + (int64_t)inject_row) * 1000000000;
    c->has_inject = true;
    c->n_iter = t->ncols;
    c->name = "test";
}

static int rank_kv(const char *method, const struct rca_case *c, uint64_t seed,
                   const char *key, const char *value, struct rca_ranking *r)
{
    struct rca_kv kv = {key, value};
    struct rca_params p = {.seed = seed, .kv = &kv, .nkv = key ? 1 : 0};
    char err[256] = "";
    const struct rca_method *m = rca_method_find(method);
    int rc;

    if (!m)
        fail_msg("method %s is not registered", method);
    rca_ranking_init(r);
    rc = rca_rank(m, c, &p, r, err, sizeof err);
    if (rc < 0)
        print_message("%s: %s\n", method, err);
    return rc;
}

/* The service of the first ranked item, as RCAEval's evaluation reads it. */
static void assert_first_service(const struct rca_ranking *r, const char *want,
                                 const char *method)
{
    size_t len;
    const char *s;

    if (r->n == 0)
        fail_msg("%s: empty ranking", method);
    s = rca_ranking_service(r, 0, &len);
    if (len != strlen(want) || strncmp(s, want, len)) {
        for (size_t i = 0; i < r->n && i < 5; i++)
            print_message("  %zu. %s %g\n", i + 1, r->items[i].name,
                          r->items[i].score);
        fail_msg("%s ranks %s first, want service %s", method, r->items[0].name,
                 want);
    }
}

/* ---------------------------------------------------------------------
 * The star: every PageRank pairing finds the root
 * --------------------------------------------------------------------- */

static void test_pagerank_methods_rank_the_root_first(void **state)
{
    static const char *const methods[] = {
        "pc_pagerank", "fci_pagerank", "granger_pagerank", "lingam_pagerank"};
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct series_table *t0 = star_case(seed, 0, 3.0);
        struct series_table *t1 = star_case(seed, 1, 0.0);
        struct rca_case c0, c1;
        case_of(&c0, t0, 1700000000, STAR_INJECT);
        case_of(&c1, t1, 1700000000, STAR_INJECT);
        for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++) {
            /* Granger sees the lagged star, the others the immediate one */
            const struct rca_case *c = k == 2 ? &c1 : &c0;
            struct rca_ranking r;
            double sum = 0.0;
            assert_int_equal(rank_kv(methods[k], c, seed, NULL, NULL, &r), 0);
            assert_false(r.fallback);
            assert_int_equal(r.n, STAR_COLS);
            assert_first_service(&r, "root", methods[k]);
            /* PageRank scores: a distribution over the scored columns */
            for (size_t i = 0; i < r.n; i++)
                sum += isnan(r.items[i].score) ? 0.0 : r.items[i].score;
            assert_true(fabs(sum - 1.0) < 1e-9);
            rca_ranking_free(&r);
        }
        series_table_destroy(t0);
        series_table_destroy(t1);
    }
}

static void test_lingam_same_seed_same_ranking(void **state)
{
    struct series_table *t = star_table(4);
    struct rca_ranking a, b;
    struct rca_case c;
    (void)state;
    case_of(&c, t, 1700000000, STAR_INJECT);
    assert_int_equal(rank_kv("lingam_pagerank", &c, 9, NULL, NULL, &a), 0);
    assert_int_equal(rank_kv("lingam_pagerank", &c, 9, NULL, NULL, &b), 0);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.items[i].name, b.items[i].name);
        assert_true(a.items[i].score == b.items[i].score);
    }
    rca_ranking_free(&a);
    rca_ranking_free(&b);
    series_table_destroy(t);
}

/* ---------------------------------------------------------------------
 * The random walks: uniform steps, whatever the graph
 * --------------------------------------------------------------------- */

static void ranking_indices(const struct rca_ranking *r,
                            const struct series_table *t, size_t *idx)
{
    for (size_t i = 0; i < r->n; i++) {
        int64_t j = series_table_find(t, r->items[i].name);
        assert_true(j >= 0);
        idx[i] = (size_t)j;
    }
}

static void test_randomwalk_is_a_seeded_uniform_walk(void **state)
{
    static const char *const methods[] = {"pc_randomwalk", "fci_randomwalk",
                                          "granger_randomwalk",
                                          "lingam_randomwalk"};
    struct series_table *t1 = star_table(5), *t2 = star_table(6);
    struct rca_case c1, c2;
    (void)state;
    /* other data of the same shape: the same columns, shuffled values */
    for (size_t i = 0; i < STAR_ROWS; i++)
        series_table_col(t2, 3)[i] = series_table_col(t2, 1)[i] * 1e-9;
    case_of(&c1, t1, 1700000000, STAR_INJECT);
    case_of(&c2, t2, 1700000000, STAR_INJECT);
    for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++) {
        struct rca_ranking a, b, d, e;
        size_t ia[STAR_COLS], ib[STAR_COLS], id[STAR_COLS];
        double sum = 0.0;
        bool differ = false;
        assert_int_equal(rank_kv(methods[k], &c1, 7, NULL, NULL, &a), 0);
        assert_int_equal(rank_kv(methods[k], &c1, 7, NULL, NULL, &b), 0);
        assert_int_equal(rank_kv(methods[k], &c2, 7, NULL, NULL, &d), 0);
        assert_int_equal(rank_kv(methods[k], &c1, 8, NULL, NULL, &e), 0);
        assert_int_equal(a.n, STAR_COLS);
        ranking_indices(&a, t1, ia);
        ranking_indices(&b, t1, ib);
        ranking_indices(&d, t2, id);
        for (size_t i = 0; i < a.n; i++) {
            sum += a.items[i].score;
            /* the same seed: the same ranking, on any data of this shape */
            assert_int_equal(ia[i], ib[i]);
            assert_int_equal(ia[i], id[i]);
            differ |= strcmp(a.items[i].name, e.items[i].name) != 0;
        }
        /* visit shares of n_iter = 10 steps */
        assert_true(fabs(sum - 1.0) < 1e-12);
        assert_true(differ);
        rca_ranking_free(&a);
        rca_ranking_free(&b);
        rca_ranking_free(&d);
        rca_ranking_free(&e);
    }
    series_table_destroy(t1);
    series_table_destroy(t2);
}

/* ---------------------------------------------------------------------
 * RCAEval's quirks, kept or fixed on purpose
 * --------------------------------------------------------------------- */

static void test_granger_infeasible_falls_back(void **state)
{
    struct series_table *t = star_case(7, 1, 0.0);
    struct rca_ranking r;
    struct rca_case c;
    (void)state;
    /* a linear trend: statsmodels finds its fit perfect and raises */
    for (size_t i = 0; i < STAR_ROWS; i++)
        series_table_col(t, 9)[i] = 1e8 + 1e3 * (double)i;
    case_of(&c, t, 1700000000, STAR_INJECT);
    assert_int_equal(rank_kv("granger_pagerank", &c, 1, NULL, NULL, &r), 0);
    assert_true(r.fallback); /* RCAEval's @rca: dummy's ranking */
    assert_int_equal(r.n, STAR_COLS);
    rca_ranking_free(&r);
    assert_int_equal(
        rank_kv("granger_pagerank", &c, 1, "infeasible", "skip", &r), 0);
    assert_false(r.fallback);
    /* the trend column's edges shift PageRank's mass a little: the root
     * stays near the top */
    assert_int_equal(r.n, STAR_COLS);
    bool top2 = false;
    for (size_t i = 0; i < 2; i++)
        top2 |= !strcmp(r.items[i].name, "root_cpu");
    assert_true(top2);
    rca_ranking_free(&r);
    series_table_destroy(t);
}

static void test_pc_pagerank_zip(void **state)
{
    struct series_table *t = star_table(8);
    struct rca_ranking fixed, rc;
    struct rca_case c;
    size_t isolated = 0;
    (void)state;
    case_of(&c, t, 1700000000, STAR_INJECT);
    assert_int_equal(rank_kv("pc_pagerank", &c, 1, NULL, NULL, &fixed), 0);
    assert_int_equal(rank_kv("pc_pagerank", &c, 1, "pc_zip", "rcaeval", &rc),
                     0);
    /* the noise columns have no PC edge (or few): RCAEval scores only the
     * nodes with an edge and zips the scores with the first names */
    assert_int_equal(fixed.n, STAR_COLS);
    assert_true(rc.n < STAR_COLS);
    isolated = STAR_COLS - rc.n;
    /* the last column names never appear in RCAEval's ranking */
    for (size_t i = 0; i < rc.n; i++)
        for (size_t j = STAR_COLS - isolated; j < STAR_COLS; j++)
            assert_string_not_equal(rc.items[i].name, star_names[j]);
    /* the fix keeps each score with its own column: root first */
    assert_first_service(&fixed, "root", "pc_pagerank");
    rca_ranking_free(&fixed);
    rca_ranking_free(&rc);
    series_table_destroy(t);
}

static void test_bad_parameters(void **state)
{
    struct series_table *t = star_table(1);
    struct rca_ranking r;
    struct rca_case c;
    (void)state;
    case_of(&c, t, 1700000000, STAR_INJECT);
    assert_int_equal(rank_kv("granger_pagerank", &c, 1, "maxlag", "4", &r),
                     -RCA_E_INVAL);
    assert_int_equal(rank_kv("pc_pagerank", &c, 1, "pc_zip", "both", &r),
                     -RCA_E_INVAL);
    assert_int_equal(rank_kv("fci_randomwalk", &c, 1, "maxlag", "2", &r),
                     -RCA_E_INVAL); /* not a key of this method */
    assert_int_equal(rank_kv("rcd", &c, 1, "gamma", "0", &r), -RCA_E_INVAL);
    series_table_destroy(t);
}

/* ---------------------------------------------------------------------
 * CIRCA and RCD on propagating faults
 * --------------------------------------------------------------------- */

static struct series_table *synth(unsigned services, unsigned root,
                                  const char *fault, uint64_t seed)
{
    struct rca_causal_synth s = {services, 1200,  1700000000, 600,
                                 root,     fault, 8.0,        seed};
    struct series_table *t = rca_causal_synth_table(&s, NULL);

    assert_non_null(t);
    return t;
}

static void test_circa_and_rcd_find_the_root(void **state)
{
    static const struct {
        unsigned root;
        const char *fault;
        uint64_t seed;
    } cases[] = {
        {6, "cpu", 1}, {3, "cpu", 2}, {11, "memory", 11}, {1, "latency", 13}};
    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct series_table *t =
            synth(12, cases[k].root, cases[k].fault, cases[k].seed);
        struct rca_ranking r;
        struct rca_case c;
        char want[16];
        snprintf(want, sizeof want, "s%u", cases[k].root);
        case_of(&c, t, 1700000000, 600);
        assert_int_equal(rank_kv("circa", &c, 1, NULL, NULL, &r), 0);
        assert_first_service(&r, want, "circa");
        rca_ranking_free(&r);
        for (uint64_t seed = 1; seed <= 2; seed++) {
            assert_int_equal(rank_kv("rcd", &c, seed, NULL, NULL, &r), 0);
            assert_first_service(&r, want, "rcd");
            rca_ranking_free(&r);
        }
        series_table_destroy(t);
    }
}

static void test_circa_ranks_only_graph_nodes(void **state)
{
    /* a column PC leaves without edges (independent noise) is not scored,
     * as RCAEval's rht() scores the nodes of its graph only */
    struct series_table *t = star_table(2);
    struct rca_ranking r, d;
    struct rca_case c;
    (void)state;
    case_of(&c, t, 1700000000, STAR_INJECT);
    assert_int_equal(rank_kv("circa", &c, 1, NULL, NULL, &r), 0);
    assert_true(r.n < STAR_COLS);
    for (size_t i = 0; i < r.n; i++)
        assert_null(strstr(r.items[i].name, "noise"));
    /* (which metric comes first is noise here: every residual of the
     * star's exact propagation is normal) */
    /* descendant adjustment (opt-in) keeps the same candidates */
    assert_int_equal(rank_kv("circa", &c, 1, "descendant_adjustment", "1", &d),
                     0);
    assert_int_equal(d.n, r.n);
    rca_ranking_free(&r);
    rca_ranking_free(&d);
    series_table_destroy(t);
}

static void test_rcd_seeds(void **state)
{
    struct series_table *t = synth(12, 4, "latency", 16);
    struct rca_ranking a, b;
    struct rca_case c;
    (void)state;
    case_of(&c, t, 1700000000, 600);
    /* the same seed: the same ranking */
    assert_int_equal(rank_kv("rcd", &c, 3, NULL, NULL, &a), 0);
    assert_int_equal(rank_kv("rcd", &c, 3, NULL, NULL, &b), 0);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++)
        assert_string_equal(a.items[i].name, b.items[i].name);
    rca_ranking_free(&a);
    rca_ranking_free(&b);
    /* shuffle=0: no random order, so every seed agrees (this is how the
     * output was compared with RCAEval's code: s4_latency s2_latency
     * s4_error s1_latency s0_error s5_latency on this case) */
    static const char *const want[] = {"s4_latency", "s2_latency",
                                       "s4_error",   "s1_latency",
                                       "s0_error",   "s5_latency"};
    for (uint64_t seed = 1; seed <= 2; seed++) {
        assert_int_equal(rank_kv("rcd", &c, seed, "shuffle", "0", &a), 0);
        assert_int_equal(a.n, 6);
        for (size_t i = 0; i < a.n; i++)
            assert_string_equal(a.items[i].name, want[i]);
        rca_ranking_free(&a);
    }
    series_table_destroy(t);
}

static void test_circa_matches_rcaeval(void **state)
{
    /* RCAEval's circa() (rca-llm's copy, causal-learn 0.1.3.3, scikit-learn
     * 1.2) on this case ranked these first */
    static const char *const want[] = {"s6_cpu", "s1_error", "s7_cpu",
                                       "s1_cpu"};
    struct series_table *t = synth(12, 6, "cpu", 1);
    struct rca_ranking r;
    struct rca_case c;
    (void)state;
    case_of(&c, t, 1700000000, 600);
    assert_int_equal(rank_kv("circa", &c, 1, NULL, NULL, &r), 0);
    assert_true(r.n >= 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(r.items[i].name, want[i]);
    rca_ranking_free(&r);
    series_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pagerank_methods_rank_the_root_first),
        cmocka_unit_test(test_lingam_same_seed_same_ranking),
        cmocka_unit_test(test_randomwalk_is_a_seeded_uniform_walk),
        cmocka_unit_test(test_granger_infeasible_falls_back),
        cmocka_unit_test(test_pc_pagerank_zip),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_circa_and_rcd_find_the_root),
        cmocka_unit_test(test_circa_ranks_only_graph_nodes),
        cmocka_unit_test(test_rcd_seeds),
        cmocka_unit_test(test_circa_matches_rcaeval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
