/* test_stats_granger_fast: stats_granger_graph()'s cross-product fast
 * path against the QR path it replaces (opts.exact, which runs
 * stats_granger_pair()'s statsmodels-matched fits for every pair): the same
 * edges, the same infeasible pairs and p-values within 1e-6 relative, on a
 * seeded case of AR series with lagged drivers and on a case built to hit
 * every fallback (a column flat over part of a window, a linear trend a
 * perfect fit predicts, an exact linear copy, a tiny variance on a large
 * level); and RCAEval's stop at the first infeasible pair. */
#include "testlib.h"

#include <math.h>

#include "stats/granger.h"
#include "stats/randwalk.h"
#include "stats/stats_status.h"

static double gauss(struct stats_rng *r)
{
    double u1 = stats_rng_u01(r), u2 = stats_rng_u01(r);
    return sqrt(-2.0 * log(u1 + 1e-300)) * cos(2.0 * M_PI * u2);
}

/* cols AR(1) series, column j driven by column j - 1 at lag 2. */
static void ar_case(double *x, size_t rows, size_t cols, uint64_t seed)
{
    struct stats_rng r;

    stats_rng_seed(&r, seed);
    for (size_t j = 0; j < cols; j++) {
        double phi = 0.2 + 0.7 * stats_rng_u01(&r);
        double drive = j % 3 ? 0.4 : 0.0;
        for (size_t t = 0; t < rows; t++) {
            double v = gauss(&r);
            if (t > 0)
                v += phi * x[j * rows + t - 1];
            if (j > 0 && t > 1)
                v += drive * x[(j - 1) * rows + t - 2];
            x[j * rows + t] = v;
        }
    }
}

static void compare(const double *x, size_t rows, size_t cols,
                    size_t want_infeasible)
{
    unsigned char *a1 = malloc(cols * cols), *a2 = malloc(cols * cols);
    double *p1 = malloc(cols * cols * sizeof(double));
    double *p2 = malloc(cols * cols * sizeof(double));
    struct stats_granger_opts o1 = {0}, o2 = {0};
    size_t b1 = 99, b2 = 99, edges = 0;

    o1.exact = 1;
    o1.p_min = p1;
    o2.p_min = p2;
    assert_int_equal(stats_granger_graph(x, rows, cols, &o1, a1, &b1), 0);
    assert_int_equal(stats_granger_graph(x, rows, cols, &o2, a2, &b2), 0);
    assert_int_equal(b1, want_infeasible);
    assert_int_equal(b2, want_infeasible);
    for (size_t i = 0; i < cols * cols; i++) {
        edges += a1[i];
        if (a1[i] != a2[i])
            fail_msg("edge %zu -> %zu: QR %d, fast %d", i % cols, i / cols,
                     a1[i], a2[i]);
        if (isnan(p1[i]) != isnan(p2[i]))
            fail_msg("pair %zu: feasible on one path only", i);
        if (!isnan(p1[i]) && !(fabs(p1[i] - p2[i]) <= 1e-6 * p1[i] + 1e-300))
            fail_msg("pair %zu -> %zu: p %.17g (QR) vs %.17g (fast)", i % cols,
                     i / cols, p1[i], p2[i]);
    }
    assert_true(edges > 0);
    free(a1);
    free(a2);
    free(p1);
    free(p2);
}

static void test_fast_equals_qr_on_ar_series(void **state)
{
    size_t rows = 1200, cols = 16;
    double *x = malloc(rows * cols * sizeof(double));
    (void)state;
    ar_case(x, rows, cols, 8);
    compare(x, rows, cols, 0);
    free(x);
}

static void test_fast_equals_qr_on_fallbacks(void **state)
{
    size_t rows = 600, cols = 8;
    double *x = malloc(rows * cols * sizeof(double));
    (void)state;
    ar_case(x, rows, cols, 9);
    /* column 1: flat but for its first two values, so the lag-1..3 windows
     * of the later lags are constant: every pair with it is infeasible */
    for (size_t t = 0; t < rows; t++)
        x[rows + t] = t < 2 ? (double)t : 5.0;
    /* column 3: a linear trend, predicted perfectly by its own lags */
    for (size_t t = 0; t < rows; t++)
        x[3 * rows + t] = 2.0 + 0.25 * (double)t;
    /* column 5: an exact affine copy of column 4 (collinear drivers) */
    for (size_t t = 0; t < rows; t++)
        x[5 * rows + t] = 3.0 * x[4 * rows + t] - 1.0;
    /* column 6: a small variation on a large level (1e-9 relative: the
     * QR still keeps its rank; below 1e-10 it would drop the lags as
     * constant where statsmodels' pinv and the fast path keep them) */
    for (size_t t = 0; t < rows; t++)
        x[6 * rows + t] = 1e6 + 1e-3 * x[6 * rows + t];
    /* column 1 with any other (7 x 2 pairs) and column 3 as target (6
     * more: its drivers 0, 2, 4, 5, 6, 7) are infeasible */
    compare(x, rows, cols, 20);
    free(x);
}

static void test_stop_at_first_infeasible(void **state)
{
    size_t rows = 300, cols = 4, bad = 0;
    double *x = malloc(rows * cols * sizeof(double));
    unsigned char adj[16];
    struct stats_granger_opts o = {0};
    (void)state;
    ar_case(x, rows, cols, 10);
    for (size_t t = 0; t < rows; t++)
        x[2 * rows + t] = 1.0 + 0.5 * (double)t;
    o.stop_infeasible = 1;
    assert_int_equal(stats_granger_graph(x, rows, cols, &o, adj, &bad),
                     -STATS_E_INFEASIBLE);
    assert_int_equal(bad, 1);
    o.stop_infeasible = 0;
    assert_int_equal(stats_granger_graph(x, rows, cols, &o, adj, &bad), 0);
    assert_int_equal(bad, 3); /* column 2 as the target of 0, 1, 3 */
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_equals_qr_on_ar_series),
        cmocka_unit_test(test_fast_equals_qr_on_fallbacks),
        cmocka_unit_test(test_stop_at_first_infeasible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
