/* test_stats_icalingam: the linear assignment against hand-solved costs,
 * FastICA recovering two independent uniform sources from a known mixture,
 * and ICALiNGAM (stats/icalingam.h) finding a causal order with its
 * coefficients: a 3-variable chain with known weights, and a seeded
 * 6-variable SEM where causal-learn 0.1.3.3's ICALiNGAM (scikit-learn
 * 1.2's FastICA) gave the order, adjacency and coefficients recorded below
 * from four different random starts. The start is seeded: the same seed
 * gives the same matrix. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/icalingam.h"
#include "stats/lingam.h"
#include "stats/regress.h"
#include "stats/randwalk.h"
#include "stats/stats_status.h"

static double unif(struct stats_rng *r)
{
    return 2.0 * stats_rng_u01(r) - 1.0;
}

static void test_lsa_hand_solved(void **state)
{
    /* the least total is 1 + 2 + 2: rows 0, 1, 2 to columns 1, 0, 2 */
    const double c[9] = {4, 1, 3, 2, 0, 5, 3, 2, 2};
    const double ci[4] = {INFINITY, 1, 1, INFINITY};
    const double bad[4] = {INFINITY, INFINITY, 1, 1};
    size_t a[3];
    (void)state;
    assert_int_equal(stats_lsa_min(c, 3, a), 0);
    assert_int_equal(a[0], 1);
    assert_int_equal(a[1], 0);
    assert_int_equal(a[2], 2);
    /* +Inf entries are allowed when an assignment avoids them */
    assert_int_equal(stats_lsa_min(ci, 2, a), 0);
    assert_int_equal(a[0], 1);
    assert_int_equal(a[1], 0);
    /* row 0 has no finite entry: infeasible, as scipy raises */
    assert_int_equal(stats_lsa_min(bad, 2, a), -STATS_E_INVAL);
}

static double abs_corr(const double *a, const double *b, size_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;

    for (size_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return fabs(sab) / sqrt(saa * sbb);
}

static void test_fastica_unmixes(void **state)
{
    size_t n = 2000;
    double *s = malloc(2 * n * sizeof(double)),
           *x = malloc(2 * n * sizeof(double));
    double *y = malloc(2 * n * sizeof(double)), w[4];
    struct stats_fastica_opts o = {0, 0.0, 5};
    struct stats_fastica_info info;
    struct stats_rng r;
    (void)state;
    stats_rng_seed(&r, 21);
    for (size_t t = 0; t < n; t++) {
        s[t] = unif(&r);
        s[n + t] = unif(&r);
        x[t] = s[t] + 0.5 * s[n + t];
        x[n + t] = 0.3 * s[t] + s[n + t];
    }
    assert_int_equal(stats_fastica(x, n, 2, &o, w, &info), 0);
    assert_true(info.converged);
    for (size_t i = 0; i < 2; i++)
        for (size_t t = 0; t < n; t++)
            y[i * n + t] = w[i * 2] * x[t] + w[i * 2 + 1] * x[n + t];
    /* each recovered source is one true source (up to order and scale) */
    double c00 = abs_corr(y, s, n), c01 = abs_corr(y, s + n, n);
    double c10 = abs_corr(y + n, s, n), c11 = abs_corr(y + n, s + n, n);
    assert_true((c00 > 0.999 && c11 > 0.999) || (c01 > 0.999 && c10 > 0.999));
    free(s);
    free(x);
    free(y);
}

static void test_ica_lingam_chain(void **state)
{
    /* 2 -> 0 -> 1 with uniform noise */
    size_t n = 2000, order[3];
    double *x = malloc(3 * n * sizeof(double)), B[9], B2[9];
    unsigned char adj[9];
    struct stats_fastica_opts o = {0, 0.0, 1};
    struct stats_rng r;
    (void)state;
    stats_rng_seed(&r, 17);
    for (size_t i = 0; i < n; i++) {
        double v2 = unif(&r), v0 = 1.5 * v2 + unif(&r),
               v1 = -1.2 * v0 + unif(&r);
        x[i] = v0;
        x[n + i] = v1;
        x[2 * n + i] = v2;
    }
    assert_int_equal(stats_ica_lingam(x, n, 3, &o, order, B, adj, NULL), 0);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 0);
    assert_int_equal(order[2], 1);
    NEAR(B[0 * 3 + 2], 1.5, 0.05);
    NEAR(B[1 * 3 + 0], -1.2, 0.05);
    assert_int_equal(adj[0 * 3 + 2], 1);
    assert_int_equal(adj[1 * 3 + 0], 1);
    assert_int_equal(adj[2 * 3 + 0], 0);
    assert_int_equal(adj[2 * 3 + 1], 0);
    /* the same seed: the same matrix, bit for bit */
    assert_int_equal(stats_ica_lingam(x, n, 3, &o, order, B2, NULL, NULL), 0);
    assert_memory_equal(B, B2, sizeof(B));
    /* a constant column is refused */
    for (size_t i = 0; i < n; i++)
        x[n + i] = 4.0;
    assert_int_equal(stats_ica_lingam(x, n, 3, &o, order, B, adj, NULL),
                     -STATS_E_INVAL);
    free(x);
}

/* The seeded SEM of test_stats_fci.c, all variables observed. */
static void sem(size_t N, size_t rows, uint64_t seed, double dens, double *x)
{
    struct stats_rng r;
    double *w = calloc(N * N, sizeof(double)), *v = calloc(N, sizeof(double));

    assert_non_null(w);
    assert_non_null(v);
    stats_rng_seed(&r, seed);
    for (size_t a = 0; a < N; a++)
        for (size_t b = a + 1; b < N; b++)
            if (stats_rng_u01(&r) < dens) {
                double m = 0.5 + 0.5 * stats_rng_u01(&r);
                w[a * N + b] = stats_rng_u01(&r) < 0.5 ? -m : m;
            }
    for (size_t t = 0; t < rows; t++)
        for (size_t b = 0; b < N; b++) {
            double s = unif(&r);
            for (size_t a = 0; a < b; a++)
                s += w[a * N + b] * v[a];
            v[b] = s;
            x[b * rows + t] = s;
        }
    free(w);
    free(v);
}

static void test_ica_lingam_matches_python(void **state)
{
    /* causal-learn 0.1.3.3 ICALiNGAM(random_state=0..3).fit on sem(6,
     * 1000, 7, 0.5): causal_order_ and adjacency_matrix_ (3 decimals) */
    static const size_t want_order[6] = {0, 1, 2, 3, 5, 4};
    // clang-format off
    static const double want_b[36] = {
             0,      0,      0,      0,      0,      0,
             0,      0,      0,      0,      0,      0,
         0.938,  0.784,      0,      0,      0,      0,
             0,      0, -0.563,      0,      0,      0,
             0,      0,  0.838, -0.768,      0,      0,
        -0.529, -0.766, -0.924, -0.555,      0,      0,
    };
    // clang-format on
    size_t rows = 1000, order[6];
    double *x = malloc(6 * rows * sizeof(double)), B[36];
    (void)state;
    sem(6, rows, 7, 0.5, x);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct stats_fastica_opts o = {0, 0.0, seed};
        assert_int_equal(stats_ica_lingam(x, rows, 6, &o, order, B, NULL, NULL),
                         0);
        for (size_t i = 0; i < 6; i++)
            assert_int_equal(order[i], want_order[i]);
        for (size_t i = 0; i < 36; i++) {
            assert_int_equal(B[i] != 0.0, want_b[i] != 0.0);
            NEAR(B[i], want_b[i], 2e-3);
        }
    }
    free(x);
}

/* The adjacency from one Gram matrix (stats_lingam_adjacency) equals the
 * per-target regressions on the data (stats_adaptive_lasso, the SVD path),
 * zeros and values, on SEMs whose columns span eight orders of magnitude
 * (bytes next to ratios, as RCA cases have). */
static void test_adjacency_gram_equals_data_path(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        size_t N = 6 + 3 * seed, rows = 200 + 150 * seed;
        double *x = malloc(N * rows * sizeof(double)),
               *des = malloc(N * rows * sizeof(double)),
               *B = malloc(N * N * sizeof(double)),
               *coef = malloc(N * sizeof(double));
        size_t *order = malloc(N * sizeof(size_t));
        assert_non_null(x);
        assert_non_null(des);
        assert_non_null(B);
        assert_non_null(coef);
        assert_non_null(order);
        sem(N, rows, seed, 0.4, x);
        for (size_t j = 0; j < N; j++) {
            double scale = pow(10.0, (double)((j * 5 + seed) % 9) - 3.0);
            for (size_t t = 0; t < rows; t++)
                x[j * rows + t] *= scale;
            order[j] = j;
        }
        assert_int_equal(stats_lingam_adjacency(x, rows, N, order, B), 0);
        for (size_t i = 1; i < N; i++) {
            for (size_t q = 0; q < i; q++)
                memcpy(des + q * rows, x + order[q] * rows,
                       rows * sizeof(double));
            assert_int_equal(stats_adaptive_lasso(
                                 des, rows, i, x + order[i] * rows, 1.0, coef),
                             0);
            for (size_t q = 0; q < i; q++) {
                double got = B[order[i] * N + order[q]];
                assert_int_equal(got != 0.0, coef[q] != 0.0);
                NEAR(got, coef[q], 1e-9 * fabs(coef[q]));
            }
        }
        free(x);
        free(des);
        free(B);
        free(coef);
        free(order);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lsa_hand_solved),
        cmocka_unit_test(test_fastica_unmixes),
        cmocka_unit_test(test_ica_lingam_chain),
        cmocka_unit_test(test_ica_lingam_matches_python),
        cmocka_unit_test(test_adjacency_gram_equals_data_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
