/* test_stats_changepoint: BARO's BOCPD and CUSUM find an injected mean
 * shift within a few samples, on seeded noise; the run-length bookkeeping
 * (maxes, find_cps) follows BARO's definitions. */
#include "testlib.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_linalg.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "stats/changepoint.h"
#include "stats/randwalk.h"
#include "stats/stats_status.h"

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

/* ---- a reference: BARO's recursion one hypothesis at a time, with the
 * inverse scale kept as a dense matrix and factorised afresh (GSL) at
 * every prediction; the vectorised slots must give the same run lengths */

struct ref_hyp {
    double kappa, dof, logr;
    double mu[8], p[64];
};

static double ref_logpdf(const struct ref_hyp *h, const double *x, size_t d)
{
    double df = h->dof - (double)d + 1.0;
    double c = (h->kappa + 1.0) / (h->kappa * df);
    gsl_matrix *m = gsl_matrix_alloc(d, d);
    gsl_vector *v = gsl_vector_alloc(d);
    double logdet = 0.0, q = 0.0;

    for (size_t i = 0; i < d; i++) {
        gsl_vector_set(v, i, x[i] - h->mu[i]);
        for (size_t k = 0; k < d; k++)
            gsl_matrix_set(m, i, k, h->p[i * d + k]);
    }
    gsl_linalg_cholesky_decomp1(m);
    for (size_t i = 0; i < d; i++)
        logdet += 2.0 * log(gsl_matrix_get(m, i, i));
    gsl_blas_dtrsv(CblasLower, CblasNoTrans, CblasNonUnit, m, v);
    for (size_t i = 0; i < d; i++)
        q += gsl_vector_get(v, i) * gsl_vector_get(v, i);
    gsl_matrix_free(m);
    gsl_vector_free(v);
    logdet += (double)d * log(c);
    q /= c;
    return lgamma((df + (double)d) / 2.0) - lgamma(df / 2.0) -
           (double)d / 2.0 * log(df * M_PI) - 0.5 * logdet -
           (df + (double)d) / 2.0 * log1p(q / df);
}

static void ref_prior(struct ref_hyp *h, size_t d)
{
    memset(h, 0, sizeof(*h));
    h->kappa = 1.0;
    h->dof = (double)d + 1.0;
    for (size_t i = 0; i < d; i++)
        h->p[i * d + i] = 1.0;
}

static void ref_bocpd(const double *x, size_t rows, size_t d, int *maxes)
{
    struct ref_hyp *h = calloc(rows + 1, sizeof(*h)),
                   *h2 = calloc(rows + 1, sizeof(*h2));
    double lh = log(1.0 / 50.0), l1h = log1p(-1.0 / 50.0), xt[8];
    size_t nh = 1;

    ref_prior(&h[0], d);
    for (size_t t = 0; t <= rows; t++)
        maxes[t] = 0;
    for (size_t t = 0; t < rows; t++) {
        size_t best = 0;
        for (size_t j = 0; j < d; j++)
            xt[j] = x[j * rows + t];
        for (size_t i = 1; i < nh; i++)
            if (h[i].logr > h[best].logr)
                best = i;
        maxes[t] = (int)best; /* hypothesis i has run length i */
        double cp = -INFINITY;
        for (size_t i = 0; i < nh; i++) {
            double lp = h[i].logr + ref_logpdf(&h[i], xt, d), a = lp + lh;
            cp = cp > a ? cp + log1p(exp(a - cp)) : a + log1p(exp(cp - a));
            h[i].logr = lp + l1h;
        }
        ref_prior(&h2[0], d);
        h2[0].logr = cp;
        for (size_t i = 0; i < nh; i++) {
            struct ref_hyp *g = &h2[i + 1];
            *g = h[i];
            double f = g->kappa / (g->kappa + 1.0);
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++)
                    g->p[a * d + b] +=
                        f * (xt[a] - g->mu[a]) * (xt[b] - g->mu[b]);
            for (size_t a = 0; a < d; a++)
                g->mu[a] = (g->kappa * g->mu[a] + xt[a]) / (g->kappa + 1.0);
            g->kappa += 1.0;
            g->dof += 1.0;
        }
        nh++;
        double mx = -INFINITY, z = 0.0;
        for (size_t i = 0; i < nh; i++)
            mx = fmax(mx, h2[i].logr);
        for (size_t i = 0; i < nh; i++)
            z += exp(h2[i].logr - mx);
        for (size_t i = 0; i < nh; i++) {
            h[i] = h2[i];
            h[i].logr -= mx + log(z);
        }
    }
    free(h);
    free(h2);
}

static void test_bocpd_equals_reference(void **state)
{
    /* shapes around the vector width (4 slots), two change points, a
     * heavy-tailed column */
    static const size_t shapes[][2] = {{1, 1},   {7, 2},   {90, 1},
                                       {121, 3}, {150, 5}, {64, 8}};
    struct stats_rng r;
    (void)state;
    stats_rng_seed(&r, 11);
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        size_t rows = shapes[s][0], d = shapes[s][1];
        double *x = malloc(rows * d * sizeof(double));
        int *got = malloc((rows + 1) * sizeof(int)),
            *want = malloc((rows + 1) * sizeof(int));
        for (size_t j = 0; j < d; j++)
            for (size_t t = 0; t < rows; t++) {
                double g = gauss(&r);
                x[j * rows + t] = 0.3 + 0.05 * (j % 2 ? g * g * g : g) +
                                  (t >= rows / 3 && j % 2 == 0 ? 0.2 : 0.0) -
                                  (t >= 2 * rows / 3 ? 0.15 : 0.0);
            }
        assert_int_equal(stats_bocpd(x, rows, d, NULL, got), 0);
        ref_bocpd(x, rows, d, want);
        for (size_t t = 0; t <= rows; t++)
            if (got[t] != want[t])
                fail_msg("%zu x %zu: maxes[%zu] = %d, reference %d", rows, d, t,
                         got[t], want[t]);
        free(x);
        free(got);
        free(want);
    }
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
        cmocka_unit_test(test_bocpd_equals_reference),
        cmocka_unit_test(test_cusum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
