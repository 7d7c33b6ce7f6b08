/* test_stats_changepoint: BARO's BOCPD and CUSUM find an injected mean
 * shift within a few samples, on seeded noise; the run-length bookkeeping
 * (maxes, find_cps) follows BARO's definitions. */
#include "testlib.h"

#include <math.h>

#include "stats/changepoint.h"
#include "stats/randwalk.h"
#include "stats/stats_status.h"

/* cmocka's assert_float_equal compares in single precision: use this. */
#define NEAR(a, b, tol)                                                        \
    do {                                                                       \
        double na_ = (a), nb_ = (b);                                           \
        if (!(fabs(na_ - nb_) <= (tol)))                                       \
            fail_msg("%s = %.17g, want %.17g (tol %g)", #a, na_, nb_,          \
                     (double)(tol));                                           \
    } while (0)

static double gauss(struct stats_rng *r)
{
    double u1 = stats_rng_u01(r), u2 = stats_rng_u01(r);
    return sqrt(-2.0 * log(u1 + 1e-300)) * cos(2.0 * M_PI * u2);
}

#define ROWS 400
#define SHIFT_AT 250

/* cols series; the shift (in sd units) hits the columns listed in hit */
static void simulate(double *x, size_t cols, uint64_t seed, double shift)
{
    struct stats_rng r;
    stats_rng_seed(&r, seed);
    for (size_t j = 0; j < cols; j++)
        for (size_t t = 0; t < ROWS; t++)
            x[j * ROWS + t] =
                10.0 + gauss(&r) + (t >= SHIFT_AT && j % 2 == 0 ? shift : 0.0);
}

static void test_bocpd_series_finds_shift(void **state)
{
    double x[ROWS];
    size_t cp;
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        simulate(x, 1, seed, 4.0);
        assert_int_equal(stats_bocpd_series(x, ROWS, NULL, &cp), 0);
        if (cp < SHIFT_AT || cp > SHIFT_AT + 5)
            fail_msg("seed %lu: change point %zu, injected at %d",
                     (unsigned long)seed, cp, SHIFT_AT);
    }
}

static void test_bocpd_matrix_finds_shift(void **state)
{
    double *x = malloc(6 * ROWS * sizeof(double));
    size_t cp;
    (void)state;
    simulate(x, 6, 9, 3.0);
    assert_int_equal(stats_bocpd_baro(x, ROWS, 6, NULL, &cp), 0);
    assert_true(cp >= SHIFT_AT && cp <= SHIFT_AT + 5);
    /* pruning far-behind run lengths keeps the answer */
    struct stats_bocpd_opts o = {50.0, 30.0};
    size_t cp2;
    assert_int_equal(stats_bocpd_baro(x, ROWS, 6, &o, &cp2), 0);
    assert_int_equal(cp2, cp);
    free(x);
}

static void test_bocpd_run_lengths(void **state)
{
    /* steady data: the run length grows one per step (no change point
     * until BARO's trailing maxes[rows] = 0) */
    double x[60];
    int maxes[61];
    size_t cps[60];
    struct stats_rng r;
    (void)state;
    stats_rng_seed(&r, 4);
    for (int i = 0; i < 60; i++)
        x[i] = 0.5 + 0.01 * gauss(&r);
    assert_int_equal(stats_bocpd(x, 60, 1, NULL, maxes), 0);
    assert_int_equal(maxes[0], 0);
    assert_int_equal(maxes[60], 0);
    size_t m = stats_bocpd_change_points(maxes, 61, cps);
    assert_true(m >= 1);
    assert_int_equal(cps[m - 1], 60); /* the trailing drop to 0 */
    int maxes_const[4] = {0, 1, 5, 6};
    assert_int_equal(stats_bocpd_change_points(maxes_const, 4, cps), 1);
    assert_int_equal(cps[0], 2);
}

static void test_cusum(void **state)
{
    double x[ROWS];
    size_t alarm, start, k;
    (void)state;
    simulate(x, 1, 3, 5.0);
    /* h = 10 sd: no false alarm on 400 in-control samples */
    assert_int_equal(stats_cusum(x, ROWS, 200, 0.5, 10.0, &alarm, &start), 0);
    if (alarm < SHIFT_AT || alarm > SHIFT_AT + 10)
        fail_msg("alarm %zu start %zu", alarm, start);
    assert_true(start >= SHIFT_AT - 5 && start <= alarm);
    assert_int_equal(stats_cusum_changepoint(x, ROWS, &k), 0);
    assert_true(k >= SHIFT_AT - 3 && k <= SHIFT_AT + 3);
    assert_int_equal(stats_cusum(x, ROWS, 1, 0.5, 5.0, &alarm, &start),
                     -STATS_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bocpd_series_finds_shift),
        cmocka_unit_test(test_bocpd_matrix_finds_shift),
        cmocka_unit_test(test_bocpd_run_lengths),
        cmocka_unit_test(test_cusum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
