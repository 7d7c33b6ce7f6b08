/* test_stats_descriptive: NaN-aware statistics and scikit-learn's scalers
 * (src/stats/descriptive.h) against values computed by hand (numpy's
 * linear-interpolation quantiles). */
#include "testlib.h"

#include <math.h>

#include "stats/descriptive.h"
#include "stats/stats_status.h"

static void test_mean_std_ignore_nan(void **state)
{
    double x[] = {1, NAN, 2, 3, 4, NAN};
    (void)state;
    NEAR(stats_mean(x, 6), 2.5, 1e-15);
    /* population: sqrt(1.25); sample: sqrt(5/3) */
    NEAR(stats_std(x, 6, 0), sqrt(1.25), 1e-15);
    NEAR(stats_std(x, 6, 1), sqrt(5.0 / 3.0), 1e-15);
    double none[] = {NAN, NAN};
    assert_true(isnan(stats_mean(none, 2)));
}

static void test_quantiles_linear(void **state)
{
    /* numpy.percentile([7, 1, 3, 10, 5], [0, 25, 50, 75, 90, 100]):
     * sorted 1 3 5 7 10 -> 1, 3, 5, 7, 8.8, 10 */
    double x[] = {7, 1, 3, 10, 5}, q;
    double want[][2] = {{0, 1},    {0.25, 3},  {0.5, 5},
                        {0.75, 7}, {0.9, 8.8}, {1, 10}};
    (void)state;
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(stats_quantile(x, 5, want[i][0], &q), 0);
        NEAR(q, want[i][1], 1e-12);
    }
    double even[] = {4, 1, 2, 3};
    NEAR(stats_median(even, 4), 2.5, 1e-15);
    assert_int_equal(stats_quantile(x, 5, 1.5, &q), -STATS_E_INVAL);
}

static void test_mad_and_mad_zscore(void **state)
{
    /* median 3, |dev| = 2 1 0 1 97 -> MAD 1 */
    double x[] = {1, 2, 3, 4, 100}, z[5];
    (void)state;
    NEAR(stats_mad(x, 5), 1.0, 1e-15);
    assert_int_equal(stats_mad_zscore(x, 5, z), 0);
    NEAR(z[2], 0.0, 1e-15);
    NEAR(z[4], 97.0 / 1.482602218505602, 1e-9);
    /* MAD 0: the mean absolute deviation stands in */
    double flat[] = {5, 5, 5, 5, 9}, zf[5];
    assert_int_equal(stats_mad_zscore(flat, 5, zf), 0);
    NEAR(zf[4], 4.0 / (1.2533141373155 * 0.8), 1e-9);
}

static void test_robust_scaler_as_sklearn(void **state)
{
    /* RobustScaler().fit([[1],[2],[3],[4],[100]]): center 3, IQR 4-2 = 2 */
    double x[] = {1, 2, 3, 4, 100}, out[5];
    struct stats_scaler s;
    (void)state;
    assert_int_equal(stats_robust_scaler_fit(x, 5, 25, 75, &s), 0);
    NEAR(s.center, 3.0, 1e-15);
    NEAR(s.scale, 2.0, 1e-15);
    stats_scaler_transform(&s, x, 5, out);
    NEAR(out[4], 48.5, 1e-12);
    /* constant training data: scale 1 (sklearn's _handle_zeros_in_scale) */
    double c[] = {2, 2, 2};
    assert_int_equal(stats_robust_scaler_fit(c, 3, 25, 75, &s), 0);
    NEAR(s.scale, 1.0, 0);
    /* NaN is ignored in fit and passes through transform */
    double xn[] = {1, NAN, 3, 5};
    assert_int_equal(stats_robust_scaler_fit(xn, 4, 25, 75, &s), 0);
    NEAR(s.center, 3.0, 1e-15);
    NEAR(s.scale, 2.0, 1e-15);
    stats_scaler_transform(&s, xn, 4, out);
    assert_true(isnan(out[1]));
}

static void test_standard_scaler_and_zscore(void **state)
{
    double x[] = {2, 4, 4, 4, 5, 5, 7, 9}, z[8];
    (void)state;
    assert_int_equal(stats_zscore(x, 8, z), 0);
    NEAR(z[0], (2 - 5) / 2.0, 1e-15); /* mean 5, std 2 */
    NEAR(z[7], 2.0, 1e-15);
}

static void test_diff_and_constant(void **state)
{
    double x[] = {1, 4, 9, 16}, d[3];
    (void)state;
    stats_diff(x, 4, d);
    NEAR(d[0], 3, 0);
    NEAR(d[2], 7, 0);
    double c[] = {NAN, 3, 3, NAN, 3};
    assert_true(stats_is_constant(c, 5));
    assert_false(stats_is_constant(x, 4));
    NEAR(stats_max(c, 5), 3, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_std_ignore_nan),
        cmocka_unit_test(test_quantiles_linear),
        cmocka_unit_test(test_mad_and_mad_zscore),
        cmocka_unit_test(test_robust_scaler_as_sklearn),
        cmocka_unit_test(test_standard_scaler_and_zscore),
        cmocka_unit_test(test_diff_and_constant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
