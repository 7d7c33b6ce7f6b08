/* test_stats_graph: the causal-graph builders and graph heads of src/stats
 * on data with a known answer: Fisher-z p-values against the closed form,
 * PC on simulated chain / collider / confounder structures (the skeleton and
 * the v-structure), Granger on a lagged driver, DirectLiNGAM's causal order
 * with non-Gaussian noise, PageRank against a hand-computed example and
 * networkx, the seeded random walk, and RCAEval's edge conversions. */
#include "testlib.h"

#include <math.h>

#include "stats/cgraph.h"
#include "stats/citest.h"
#include "stats/granger.h"
#include "stats/lingam.h"
#include "stats/pagerank.h"
#include "stats/pc.h"
#include "stats/randwalk.h"
#include "stats/stats_status.h"

static double gauss(struct stats_rng *r)
{
    double u1 = stats_rng_u01(r), u2 = stats_rng_u01(r);
    return sqrt(-2.0 * log(u1 + 1e-300)) * cos(2.0 * M_PI * u2);
}

/* ---- Fisher z ---------------------------------------------------------- */

static double two_sided(double z)
{
    return erfc(fabs(z) / sqrt(2.0));
}

static void test_fisherz_closed_form(void **state)
{
    /* corr: r_xy = .5, r_xz = .4, r_yz = .3; n = 100 */
    double corr[9] = {1, .5, .4, .5, 1, .3, .4, .3, 1}, p, r;
    struct stats_fisherz *t = stats_fisherz_from_corr(corr, 3, 100);
    size_t z = 2;
    (void)state;
    assert_non_null(t);
    assert_int_equal(stats_fisherz_test(t, 0, 1, NULL, 0, &p, &r), 0);
    NEAR(r, 0.5, 1e-12);
    NEAR(p, two_sided(sqrt(97.0) * atanh(0.5)), 1e-12);
    double rp = (0.5 - 0.4 * 0.3) / sqrt((1 - 0.16) * (1 - 0.09));
    assert_int_equal(stats_fisherz_test(t, 0, 1, &z, 1, &p, &r), 0);
    NEAR(r, rp, 1e-12);
    NEAR(p, two_sided(sqrt(96.0) * atanh(rp)), 1e-12);
    /* bad arguments */
    assert_int_equal(stats_fisherz_test(t, 0, 0, NULL, 0, &p, NULL),
                     -STATS_E_INVAL);
    stats_fisherz_destroy(t);
}

static void test_fisherz_singular_uses_pinv(void **state)
{
    /* z duplicates x exactly: the submatrix is singular; causal-learn's inv
     * raises, the pseudo-inverse gives a finite answer */
    double x[8] = {1, 2, 3, 4.5, 1, 2, 3, 4.5}, data[24];
    (void)state;
    for (int i = 0; i < 8; i++) {
        data[i] = i % 3 + 0.1 * i; /* x */
        data[8 + i] = (i * 7) % 5; /* y */
        data[16 + i] = data[i];    /* z = x */
    }
    (void)x;
    struct stats_fisherz *t = stats_fisherz_create(data, 8, 3);
    size_t s = 2;
    double p;
    assert_non_null(t);
    assert_int_equal(stats_fisherz_test(t, 0, 1, &s, 1, &p, NULL), 0);
    assert_true(p >= 0.0 && p <= 1.0);
    stats_fisherz_destroy(t);
}

/* ---- chi-square -------------------------------------------------------- */

static void test_chisq_2x2_by_hand(void **state)
{
    /* counts: (0,0) 30, (0,1) 10, (1,0) 10, (1,1) 30; n 80, expected 20
     * each: chi2 = 4 * 100 / 20 = 20, df 1; G2 = 2 sum o ln(o/e) */
    double data[160];
    size_t i = 0;
    (void)state;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < (a == b ? 30 : 10); c++, i++) {
                data[i] = a;
                data[80 + i] = b * 5.0; /* any values: recoded */
            }
    struct stats_disc *t = stats_disc_create(data, 80, 2, STATS_CHISQ);
    double p, stat, df;
    assert_int_equal(stats_disc_test(t, 0, 1, NULL, 0, &p, &stat, &df), 0);
    NEAR(stat, 20.0, 1e-12);
    NEAR(df, 1.0, 0);
    NEAR(p, erfc(sqrt(20.0 / 2.0)), 1e-12); /* chi2(1) tail */
    stats_disc_destroy(t);
    t = stats_disc_create(data, 80, 2, STATS_GSQ);
    assert_int_equal(stats_disc_test(t, 0, 1, NULL, 0, &p, &stat, &df), 0);
    NEAR(stat, 2 * (60 * log(1.5) + 20 * log(0.5)), 1e-9);
    stats_disc_destroy(t);
}

static void test_kbins_kmeans(void **state)
{
    /* two tight groups: 2 clusters split between them */
    double x[] = {0, 0.1, 0.2, 10, 10.1, 10.2};
    int b[6];
    unsigned nb;
    (void)state;
    assert_int_equal(stats_kbins_kmeans(x, 6, 2, b, &nb), 0);
    assert_int_equal(nb, 2);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[2], 0);
    assert_int_equal(b[3], 1);
    assert_int_equal(b[5], 1);
    double c[] = {3, 3, 3};
    assert_int_equal(stats_kbins_kmeans(c, 3, 5, b, &nb), 0);
    assert_int_equal(nb, 1);
}

/* ---- PC ---------------------------------------------------------------- */

#define ROWS 2000

/* x: ROWS x 3 column-major for one structure over nodes 0, 1, 2. */
enum shape { CHAIN, COLLIDER, CONFOUNDER };

static void simulate(enum shape s, double *x, uint64_t seed)
{
    struct stats_rng r;
    stats_rng_seed(&r, seed);
    for (size_t i = 0; i < ROWS; i++) {
        double e0 = gauss(&r), e1 = gauss(&r), e2 = gauss(&r);
        double a, b, c;
        switch (s) {
        case CHAIN: /* 0 -> 1 -> 2 */
            a = e0;
            b = 0.8 * a + e1;
            c = 0.8 * b + e2;
            break;
        case COLLIDER: /* 0 -> 1 <- 2 */
            a = e0;
            c = e2;
            b = 0.8 * a + 0.8 * c + e1;
            break;
        default: /* 0 <- 1 -> 2 */
            b = e1;
            a = 0.8 * b + e0;
            c = 0.8 * b + e2;
            break;
        }
        x[i] = a;
        x[ROWS + i] = b;
        x[2 * ROWS + i] = c;
    }
}

#define MK(m, a, b) (m)[(a)*3 + (b)]

static void test_pc_collider(void **state)
{
    double *x = malloc(3 * ROWS * sizeof(double));
    signed char m[9];
    struct stats_pc_info info;
    (void)state;
    simulate(COLLIDER, x, 7);
    assert_int_equal(stats_pc_fisherz(x, ROWS, 3, NULL, m, &info), 0);
    /* skeleton 0 - 1 - 2, no 0 - 2; v-structure 0 -> 1 <- 2 */
    assert_int_equal(MK(m, 0, 2), 0);
    assert_int_equal(MK(m, 0, 1), -1);
    assert_int_equal(MK(m, 1, 0), 1);
    assert_int_equal(MK(m, 2, 1), -1);
    assert_int_equal(MK(m, 1, 2), 1);
    assert_int_equal(info.colliders, 1);
    assert_int_equal(info.edges, 2);
    free(x);
}

static void test_pc_chain_and_confounder_stay_undirected(void **state)
{
    double *x = malloc(3 * ROWS * sizeof(double));
    signed char m[9];
    (void)state;
    const enum shape shapes[2] = {CHAIN, CONFOUNDER};
    for (int s = 0; s < 2; s++) {
        simulate(shapes[s], x, 11 + (uint64_t)s);
        assert_int_equal(stats_pc_fisherz(x, ROWS, 3, NULL, m, NULL), 0);
        /* same skeleton; Markov-equivalent to a chain: no orientation */
        assert_int_equal(MK(m, 0, 2), 0);
        assert_int_equal(MK(m, 0, 1), -1);
        assert_int_equal(MK(m, 1, 0), -1);
        assert_int_equal(MK(m, 1, 2), -1);
        assert_int_equal(MK(m, 2, 1), -1);
    }
    free(x);
}

static void test_pc_meek_rule1(void **state)
{
    /* 0 -> 2 <- 1, 2 -> 3: R1 orients 2 -> 3 away from the collider */
    double *x = malloc(4 * ROWS * sizeof(double));
    signed char m[16];
    struct stats_rng r;
    (void)state;
    stats_rng_seed(&r, 3);
    for (size_t i = 0; i < ROWS; i++) {
        double a = gauss(&r), b = gauss(&r);
        double c = 0.7 * a + 0.7 * b + gauss(&r);
        x[i] = a;
        x[ROWS + i] = b;
        x[2 * ROWS + i] = c;
        x[3 * ROWS + i] = 0.8 * c + gauss(&r);
    }
    assert_int_equal(stats_pc_fisherz(x, ROWS, 4, NULL, m, NULL), 0);
    assert_int_equal(m[2 * 4 + 3], -1); /* tail at 2 */
    assert_int_equal(m[3 * 4 + 2], 1);  /* arrow at 3 */
    assert_int_equal(m[0 * 4 + 2], -1);
    assert_int_equal(m[2 * 4 + 0], 1);
    free(x);
}

/* ---- Granger ----------------------------------------------------------- */

static void test_granger_finds_lagged_driver(void **state)
{
    size_t n = 600;
    double *x = malloc(3 * n * sizeof(double));
    unsigned char adj[9];
    size_t bad = 99;
    struct stats_rng r;
    (void)state;
    stats_rng_seed(&r, 5);
    /* col 0 drives col 1 with lag 2; col 2 independent noise */
    for (size_t t = 0; t < n; t++) {
        x[t] = gauss(&r);
        x[n + t] = (t >= 2 ? 0.9 * x[t - 2] : 0.0) + 0.3 * gauss(&r);
        x[2 * n + t] = gauss(&r);
    }
    assert_int_equal(stats_granger_graph(x, n, 3, NULL, adj, &bad), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(adj[1 * 3 + 0], 1); /* 0 -> 1 */
    assert_int_equal(adj[0 * 3 + 1], 0); /* not 1 -> 0 */
    struct stats_granger_lag g[3];
    assert_int_equal(stats_granger_pair(x + n, x, n, 3, g), 0);
    assert_true(g[1].ssr_f_p < 1e-10); /* lag 2 carries it */
    NEAR(g[1].df_denom, (double)(n - 2) - 5, 0);
    NEAR(g[1].params_f, g[1].ssr_f, 0);
    /* a constant column is infeasible, as in statsmodels */
    double *c = calloc(n, sizeof(double));
    assert_int_equal(stats_granger_pair(x, c, n, 3, g), -STATS_E_INFEASIBLE);
    free(c);
    free(x);
}

/* ---- LiNGAM ------------------------------------------------------------ */

static void test_direct_lingam_order(void **state)
{
    /* 2 -> 0 -> 1 with uniform (non-Gaussian) noise */
    size_t n = 2000, order[3];
    double *x = malloc(3 * n * sizeof(double)), B[9];
    unsigned char adj[9];
    struct stats_rng r;
    (void)state;
    stats_rng_seed(&r, 17);
    for (size_t i = 0; i < n; i++) {
        double e0 = stats_rng_u01(&r) - 0.5, e1 = stats_rng_u01(&r) - 0.5,
               e2 = stats_rng_u01(&r) - 0.5;
        double v2 = e2, v0 = 1.5 * v2 + e0, v1 = -1.2 * v0 + e1;
        x[i] = v0;
        x[n + i] = v1;
        x[2 * n + i] = v2;
    }
    assert_int_equal(stats_direct_lingam(x, n, 3, order, B, adj), 0);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 0);
    assert_int_equal(order[2], 1);
    NEAR(B[0 * 3 + 2], 1.5, 0.1);
    NEAR(B[1 * 3 + 0], -1.2, 0.1);
    assert_int_equal(adj[0 * 3 + 2], 1);
    assert_int_equal(adj[1 * 3 + 0], 1);
    free(x);
}

/* ---- PageRank ---------------------------------------------------------- */

static void test_pagerank_nx_hand_computed(void **state)
{
    /* 3 nodes: 0 -> 1, 1 -> 2, 2 -> 0, 2 -> 1. Stationary equations with
     * d = 0.85: x0 = .05 + .85 x2 / 2; x1 = .05 + .85 (x0 + x2 / 2);
     * x2 = .05 + .85 x1; solved exactly below. */
    double w[9] = {0, 1, 0, 0, 0, 1, 1, 1, 0}, x[3];
    struct stats_pagerank_opts o = {0.85, 1000, 1e-15, NULL, NULL};
    (void)state;
    assert_int_equal(stats_pagerank_nx(w, 3, &o, x), 0);
    /* substitute: x2 = .05 + .85 x1; x0 = .05 + .425 x2;
     * x1 = .05 + .85 x0 + .425 x2 */
    double a = 0.85, x1 = (0.05 + a * (0.05 + 0.425 * 0.05) + 0.425 * 0.05) /
                          (1 - a * 0.425 * a - 0.425 * a);
    double x2 = 0.05 + a * x1, x0 = 0.05 + 0.425 * x2;
    NEAR(x[0], x0, 1e-9);
    NEAR(x[1], x1, 1e-9);
    NEAR(x[2], x2, 1e-9);
    NEAR(x[0] + x[1] + x[2], 1.0, 1e-12);
}

static void test_pagerank_nx_documented_example(void **state)
{
    /* networkx 2.8.8 (Debian python3-networkx), nx.pagerank on the
     * DiGraph 0->1, 0->2, 1->2, 2->0, 3->2 with node 3 (no in-edges) and
     * defaults: {0: 0.3725262461, 1: 0.1958236546, 2: 0.3941500993,
     * 3: 0.0375} (printed with 10 digits). */
    double w[16] = {0}, x[4];
    (void)state;
    w[0 * 4 + 1] = w[0 * 4 + 2] = w[1 * 4 + 2] = w[2 * 4 + 0] = w[3 * 4 + 2] =
        1;
    assert_int_equal(stats_pagerank_nx(w, 4, NULL, x), 0);
    NEAR(x[0], 0.3725262461, 1e-8);
    NEAR(x[1], 0.1958236546, 1e-8);
    NEAR(x[2], 0.3941500993, 1e-8);
    NEAR(x[3], 0.0375000000, 1e-8);
}

static void test_pagerank_sknet_dangling_and_iterations(void **state)
{
    /* scikit-network 0.31 semantics: a dangling node keeps its full seed
     * share in b. Graph 0 -> 1, node 1 dangling: b = (.075, .5) and
     * x <- (d P^T x + b sum(x)) / sum. With sum(x) = 1 the fixed point is
     * x0 = .075 / s, x1 = (.5 + .85 x0) / s, s = .575 + .85 x0, so
     * s^2 - .575 s - .85 * .075 = 0. */
    double w[4] = {0, 1, 0, 0}, x[2];
    struct stats_pagerank_opts o = {0.85, 200, 1e-15, NULL, NULL};
    (void)state;
    assert_int_equal(stats_pagerank_sknet(w, 2, &o, x), 0);
    double s = (0.575 + sqrt(0.575 * 0.575 + 4 * 0.85 * 0.075)) / 2;
    NEAR(x[0], 0.075 / s, 1e-9);
    NEAR(x[1], 1.0 - 0.075 / s, 1e-9);
    /* RCAEval's wrapper: 0/1 bytes, 10 iterations, sums to 1 */
    unsigned char pr[4] = {0, 1, 0, 0};
    assert_int_equal(stats_pagerank_rcaeval(pr, 2, 0, x), 0);
    NEAR(x[0] + x[1], 1.0, 1e-12);
    assert_true(x[1] > x[0]);
}

/* ---- random walk and conversions ------------------------------------- */

static void test_random_walk_seeded(void **state)
{
    unsigned char g[9] = {0, 1, 0, 0, 0, 1, 0, 0, 0}; /* 0 -> 1 -> 2 */
    double score[3] = {0.2, 0.5, 0.9}, P[9], c1[3], c2[3], c3[3];
    struct stats_rng r;
    (void)state;
    assert_int_equal(stats_rw_transition(g, 3, score, 0.5, P), 0);
    /* node 0: child 1 weight .25, self max(.2 - .25, 0) = 0 -> P[0][1] = 1 */
    NEAR(P[0 * 3 + 1], 1.0, 1e-15);
    /* node 2: parent 1 weight .5, self .9 - .5 = .4 -> 5/9, 4/9 */
    NEAR(P[2 * 3 + 1], 0.5 / 0.9, 1e-15);
    NEAR(P[2 * 3 + 2], 0.4 / 0.9, 1e-15);
    stats_rng_seed(&r, 42);
    assert_int_equal(stats_rw_walk(P, 3, 0, 1000, &r, c1), 0);
    stats_rng_seed(&r, 42);
    assert_int_equal(stats_rw_walk(P, 3, 0, 1000, &r, c2), 0);
    stats_rng_seed(&r, 43);
    assert_int_equal(stats_rw_walk(P, 3, 0, 1000, &r, c3), 0);
    assert_memory_equal(c1, c2, sizeof(c1));
    assert_true(memcmp(c1, c3, sizeof(c1)) != 0);
    NEAR(c1[0] + c1[1] + c1[2], 1000, 0);
    /* all-zero scores (RCAEval's *_randomwalk): uniform rows */
    double zero[3] = {0};
    assert_int_equal(stats_rw_transition(g, 3, zero, 0.5, P), 0);
    NEAR(P[4], 1.0 / 3.0, 1e-15);
    /* MicroCause's epochs stop at a dead end */
    double dead[4] = {0, 1, 0, 0};
    assert_int_equal(stats_rw_walk_epochs(dead, 2, 0, 10, 5, &r, c1), 0);
    NEAR(c1[1], 10, 0);
}

static void test_cgraph_conversions(void **state)
{
    /* causal-learn marks: 0 -> 1, 1 -- 2, 2 o-> 3 */
    signed char m[16] = {0};
    unsigned char pr[16], rw[16];
    (void)state;
    m[0 * 4 + 1] = -1;
    m[1 * 4 + 0] = 1;
    m[1 * 4 + 2] = m[2 * 4 + 1] = -1;
    m[2 * 4 + 3] = 2;
    m[3 * 4 + 2] = 1;
    assert_int_equal(stats_cgraph_pagerank_input(m, 4, pr), 0);
    assert_int_equal(pr[1 * 4 + 0], 1); /* effect -> cause */
    assert_int_equal(pr[0 * 4 + 1], 0);
    assert_int_equal(pr[1 * 4 + 2] + pr[2 * 4 + 1], 2);
    assert_int_equal(pr[2 * 4 + 3], 1); /* RCAEval: a o-> b gives a -> b */
    assert_int_equal(pr[3 * 4 + 2], 0);
    /* the random-walk head refuses circles, as RCAEval raises */
    assert_int_equal(stats_cgraph_randomwalk_input(m, 4, rw),
                     -STATS_E_UNSUPPORTED);
    m[2 * 4 + 3] = m[3 * 4 + 2] = 0;
    assert_int_equal(stats_cgraph_randomwalk_input(m, 4, rw), 0);
    assert_int_equal(rw[1 * 4 + 0], 1);
    assert_int_equal(rw[0 * 4 + 1], 0);
    /* 0/1 matrices pass through (Granger, LiNGAM: adj[i][j] = j -> i) */
    unsigned char a01[4] = {0, 1, 0, 0}; /* 1 -> 0 */
    signed char m01[4];
    stats_cgraph_from_01(a01, 2, m01);
    assert_int_equal(m01[1 * 2 + 0], -1);
    assert_int_equal(m01[0 * 2 + 1], 1);
    assert_int_equal(stats_cgraph_pagerank_input((signed char *)a01, 2, pr), 0);
    assert_int_equal(pr[0 * 2 + 1], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fisherz_closed_form),
        cmocka_unit_test(test_fisherz_singular_uses_pinv),
        cmocka_unit_test(test_chisq_2x2_by_hand),
        cmocka_unit_test(test_kbins_kmeans),
        cmocka_unit_test(test_pc_collider),
        cmocka_unit_test(test_pc_chain_and_confounder_stay_undirected),
        cmocka_unit_test(test_pc_meek_rule1),
        cmocka_unit_test(test_granger_finds_lagged_driver),
        cmocka_unit_test(test_direct_lingam_order),
        cmocka_unit_test(test_pagerank_nx_hand_computed),
        cmocka_unit_test(test_pagerank_nx_documented_example),
        cmocka_unit_test(test_pagerank_sknet_dangling_and_iterations),
        cmocka_unit_test(test_random_walk_seeded),
        cmocka_unit_test(test_cgraph_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
