/* test_stats_select: quantiles by selection (src/stats/select.h) equal
 * descriptive.h's sort-based stats_quantile() and
 * stats_robust_scaler_fit() bit for bit, on random data, heavy duplicates,
 * sorted and reversed input, NaN and infinities, and every small size. */
#include "testlib.h"

#include <math.h>

#include "stats/descriptive.h"
#include "stats/select.h"
#include "stats/stats_status.h"

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* kind 0 random, 1 few distinct values, 2 ascending, 3 descending,
 * 4 random with NaN and infinities, 5 all equal */
static void fill(double *x, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0:
            x[i] = (double)(next() % 1000000) / 7.0 - 5000.0;
            break;
        case 1:
            x[i] = (double)(next() % 3);
            break;
        case 2:
            x[i] = (double)i * 0.5;
            break;
        case 3:
            x[i] = (double)(n - i);
            break;
        case 4: {
            uint64_t r = next() % 10;
            x[i] = r == 0   ? NAN
                   : r == 1 ? INFINITY
                   : r == 2 ? -INFINITY
                            : (double)(next() % 1000) / 3.0;
            break;
        }
        default:
            x[i] = 4.25;
        }
    }
}

static void check_equal(const double *x, size_t n)
{
    static const double qs[] = {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0};
    double *work = malloc((n + 1) * sizeof(*work)), out[8];
    struct stats_scaler a, b;
    int rs, rf;

    assert_non_null(work);
    rs = stats_quantiles_select(x, n, qs, 8, work, out);
    for (size_t i = 0; i < 8; i++) {
        double want;
        int rq = stats_quantile(x, n, qs[i], &want);

        assert_int_equal(rs, rq);
        if (rq == 0 && !(out[i] == want || (isnan(out[i]) && isnan(want))))
            fail_msg("n %zu q %g: select %.17g, sort %.17g", n, qs[i], out[i],
                     want);
    }
    rs = stats_robust_scaler_fit_work(x, n, 25.0, 75.0, work, &a);
    rf = stats_robust_scaler_fit(x, n, 25.0, 75.0, &b);
    assert_int_equal(rs, rf);
    if (rs == 0) {
        assert_true(a.center == b.center ||
                    (isnan(a.center) && isnan(b.center)));
        assert_true(a.scale == b.scale || (isnan(a.scale) && isnan(b.scale)));
    }
    free(work);
}

static void test_matches_sort(void **state)
{
    double x[700];

    (void)state;
    for (int kind = 0; kind < 6; kind++) {
        for (size_t n = 0; n <= 40; n++) {
            fill(x, n, kind);
            check_equal(x, n);
        }
        for (int rep = 0; rep < 20; rep++) {
            size_t n = 41 + next() % 660;
            fill(x, n, kind);
            check_equal(x, n);
        }
    }
}

static void test_errors(void **state)
{
    double x[3] = {NAN, NAN, NAN}, w[3], out[9], q[9] = {0.5};

    (void)state;
    assert_int_equal(stats_quantiles_select(x, 3, q, 1, w, out),
                     -STATS_E_INVAL); /* no value */
    x[1] = 2;
    assert_int_equal(stats_quantiles_select(x, 3, q, 1, w, out), 0);
    assert_true(out[0] == 2);
    q[0] = 1.5;
    assert_int_equal(stats_quantiles_select(x, 3, q, 1, w, out),
                     -STATS_E_INVAL);
    assert_int_equal(stats_quantiles_select(x, 3, q, 9, w, out),
                     -STATS_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_sort),
        cmocka_unit_test(test_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
