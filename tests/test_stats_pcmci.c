/* test_stats_pcmci: PCMCI with ParCorr (stats/pcmci_parcorr.h), the
 * partial correlation and its p-value, and the one-dimensional Birch
 * detector (stats/birch.h), on data with a known answer. */
#include "testlib.h"

#include <math.h>

#include "stats/birch.h"
#include "stats/pcmci_parcorr.h"
#include "stats/stats_status.h"
#include "test_rng.h"

/* The partial correlation of a 3-variable correlation matrix has a closed
 * form: (r_ab - r_az r_bz) / sqrt((1 - r_az^2)(1 - r_bz^2)). */
static void test_partial_corr_closed_form(void **state)
{
    double c[9] = {1.0, 0.6, 0.5, 0.6, 1.0, 0.3, 0.5, 0.3, 1.0};
    double work[3 * 3 + 3], r;
    size_t z = 2;

    (void)state;
    assert_int_equal(stats_partial_corr(c, 3, 0, 1, &z, 1, work, &r), 0);
    assert_float_equal(r, (0.6 - 0.5 * 0.3) / sqrt((1 - 0.25) * (1 - 0.09)),
                       1e-12);
    /* no conditioning: the correlation itself */
    assert_int_equal(stats_partial_corr(c, 3, 0, 1, NULL, 0, work, &r), 0);
    assert_float_equal(r, 0.6, 1e-12);
    /* a conditioning variable that duplicates another adds nothing */
    double d[16] = {1.0, 0.6, 0.5, 0.5, 0.6, 1.0, 0.3, 0.3,
                    0.5, 0.3, 1.0, 1.0, 0.5, 0.3, 1.0, 1.0};
    size_t zz[2] = {2, 3};
    double w2[4 * 4 + 4];
    assert_int_equal(stats_partial_corr(d, 4, 0, 1, zz, 2, w2, &r), 0);
    assert_float_equal(r, (0.6 - 0.5 * 0.3) / sqrt((1 - 0.25) * (1 - 0.09)),
                       1e-9);
    assert_int_equal(stats_partial_corr(c, 3, 1, 1, NULL, 0, work, &r),
                     -STATS_E_INVAL);
}

/* Student's t p-value: |r| = 1 is 0, df < 1 is NaN; with 2 degrees of
 * freedom the two-sided tail is 1 - t / sqrt(t^2 + 2), and t = r sqrt(df /
 * (1 - r^2)) makes that 1 - |r| exactly; with 1 it is Cauchy's,
 * 1 - 2 atan(t) / pi. */
static void test_parcorr_pvalue(void **state)
{
    (void)state;
    assert_float_equal(stats_parcorr_pvalue(1.0, 10), 0.0, 0.0);
    assert_true(isnan(stats_parcorr_pvalue(0.3, 0.0)));
    assert_float_equal(stats_parcorr_pvalue(0.5, 2.0), 0.5, 1e-12);
    assert_float_equal(stats_parcorr_pvalue(-0.3, 2.0), 0.7, 1e-12);
    double t = 0.6 * sqrt(1.0 / (1.0 - 0.36));
    assert_float_equal(stats_parcorr_pvalue(0.6, 1.0),
                       1.0 - 2.0 * atan(t) / 3.141592653589793, 1e-12);
    assert_float_equal(stats_parcorr_pvalue(0.0, 50.0), 1.0, 1e-12);
}

/* x drives y two steps later, y drives z one step later, w is noise: PCMCI
 * finds x -2-> y and y -1-> z (not x -> z, which goes through y), each
 * variable's own lag 1 (autocorrelation), and nothing about w. */
static void test_pcmci_recovers_lags(void **state)
{
    enum { T = 800, N = 4 };
    double *x = malloc(T * N * sizeof(double));
    struct stats_pcmci_opts o = {3, 0.1, 0.01};
    struct stats_pcmci r;
    uint64_t s = 11;

    (void)state;
    for (size_t t = 0; t < T; t++) {
        double *X = x, *Y = x + T, *Z = x + 2 * T, *W = x + 3 * T;
        X[t] = (t ? 0.4 * X[t - 1] : 0.0) + test_rng_normal(&s);
        Y[t] = (t >= 2 ? 0.8 * X[t - 2] : 0.0) + 0.5 * test_rng_normal(&s);
        Z[t] = (t >= 1 ? 0.7 * Y[t - 1] : 0.0) + 0.5 * test_rng_normal(&s);
        W[t] = test_rng_normal(&s);
    }
    assert_int_equal(stats_pcmci_parcorr(x, T, N, &o, &r), 0);
    assert_int_equal(r.n, N);
#define G(i, j, lag) r.graph[((i)*N + (j)) * 4 + (lag)]
    assert_int_equal(G(0, 1, 2), STATS_PCMCI_RIGHT);
    assert_int_equal(G(1, 2, 1), STATS_PCMCI_RIGHT);
    assert_int_equal(G(0, 0, 1), STATS_PCMCI_RIGHT);
    for (size_t lag = 0; lag <= 3; lag++) {
        assert_int_equal(G(0, 2, lag), STATS_PCMCI_NONE);
        assert_int_equal(G(1, 0, lag), STATS_PCMCI_NONE);
        for (size_t v = 0; v < 3; v++) {
            assert_int_equal(G(3, v, lag), STATS_PCMCI_NONE);
            assert_int_equal(G(v, 3, lag), STATS_PCMCI_NONE);
        }
    }
#undef G
    /* y's PC1 parents: x at lag 2 first (the strongest) */
    assert_true(r.par_off[2] > r.par_off[1]);
    assert_int_equal(r.par_var[r.par_off[1]], 0);
    assert_int_equal(r.par_lag[r.par_off[1]], 2);
    assert_true(r.tests > 0);
    stats_pcmci_free(&r);
    /* too short for 2 tau_max + 2 rows */
    assert_int_equal(stats_pcmci_parcorr(x, 7, N, &o, &r), -STATS_E_INVAL);
    free(x);
}

/* Birch on unit-norm series: one tight group is one cluster, two groups
 * farther apart than the threshold are two, and RCAEval's detector flags a
 * short burst but not a sustained step (on a unit-norm series of n values
 * the spread of a step stays below 1 / (2 sqrt(n/2))). */
static void test_birch_flags_bursts(void **state)
{
    double x[240], y[240];
    size_t labels;
    bool anom;

    (void)state;
    for (size_t i = 0; i < 240; i++)
        x[i] = 0.05 + 0.001 * (double)(i % 3);
    assert_int_equal(stats_birch_1d(x, 240, 0.045, 50, &labels), 0);
    assert_int_equal(labels, 1);
    for (size_t i = 0; i < 240; i++)
        y[i] = i < 120 ? 0.0 : 0.5;
    assert_int_equal(stats_birch_1d(y, 240, 0.045, 50, &labels), 0);
    assert_int_equal(labels, 2);
    /* a step to 10x for the second half: not flagged */
    for (size_t i = 0; i < 240; i++)
        y[i] = i < 120 ? 0.05 : 0.5;
    assert_int_equal(stats_birch_anomalous(y, 240, 10, 0.045, &anom), 0);
    assert_false(anom);
    /* a 10x burst for 24 of 240 values: flagged */
    for (size_t i = 0; i < 240; i++)
        y[i] = i >= 120 && i < 144 ? 0.5 : 0.05;
    assert_int_equal(stats_birch_anomalous(y, 240, 10, 0.045, &anom), 0);
    assert_true(anom);
    assert_int_equal(stats_birch_1d(x, 0, 0.045, 50, &labels), -STATS_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_corr_closed_form),
        cmocka_unit_test(test_parcorr_pvalue),
        cmocka_unit_test(test_pcmci_recovers_lags),
        cmocka_unit_test(test_birch_flags_bursts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
