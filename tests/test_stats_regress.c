/* test_stats_regress: OLS against the closed form, the BIC LARS-lasso and
 * the adaptive lasso against scikit-learn, and the Granger statistics
 * against statsmodels, on deterministic data both sides can rebuild.
 * Reference values: Debian bookworm's python3-sklearn 1.2.1 and
 * python3-statsmodels 0.13.5, on the formulas in make_design() and
 * make_series() (numpy float64). */
#include "testlib.h"

#include <math.h>

#include "stats/granger.h"
#include "stats/regress.h"
#include "stats/stats_status.h"

#define N 40

/* X = [sin i, cos 1.3i, (i mod 7) - 3, 0.01 sin .37i],
 * y = 2 x0 - 0.5 x2 + 0.3 sin(3.7i + 1) */
static void make_design(double *x, double *y)
{
    for (int i = 0; i < N; i++) {
        x[i] = sin(i);
        x[N + i] = cos(1.3 * i);
        x[2 * N + i] = (double)(i % 7) - 3.0;
        x[3 * N + i] = sin(0.37 * i) * 0.01;
        y[i] = 2 * x[i] - 0.5 * x[2 * N + i] + 0.3 * sin(3.7 * i + 1);
    }
}

static void test_ols_closed_form(void **state)
{
    /* simple regression: slope = Sxy / Sxx, intercept = ybar - b xbar */
    double x[5] = {1, 2, 3, 4, 6}, y[5] = {2, 3, 5, 4, 9}, b;
    struct stats_ols o;
    (void)state;
    assert_int_equal(stats_ols_fit(x, 5, 1, y, true, &b, &o), 0);
    double xb = 3.2, yb = 4.6, sxy = 0, sxx = 0;
    for (int i = 0; i < 5; i++) {
        sxy += (x[i] - xb) * (y[i] - yb);
        sxx += (x[i] - xb) * (x[i] - xb);
    }
    NEAR(b, sxy / sxx, 1e-9);
    NEAR(o.intercept, yb - sxy / sxx * xb, 1e-9);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.df_resid, 3);
    double ssr = 0;
    for (int i = 0; i < 5; i++) {
        double r = y[i] - o.intercept - b * x[i];
        ssr += r * r;
    }
    NEAR(o.ssr, ssr, 1e-10);
}

static void test_ols_matches_sklearn(void **state)
{
    double x[4 * N], y[N], b[4];
    struct stats_ols o;
    (void)state;
    make_design(x, y);
    assert_int_equal(stats_ols_fit(x, N, 4, y, true, b, &o), 0);
    /* LinearRegression().fit(X, y).coef_, intercept_ */
    NEAR(b[0], 2.00386719, 1e-7);
    NEAR(b[1], 0.00949889, 1e-7);
    NEAR(b[2], -0.50331206, 1e-7);
    NEAR(b[3], 0.36908312, 1e-6);
    NEAR(o.intercept, 0.004809485204777683, 1e-9);
}

static void test_lasso_lars_bic_matches_sklearn(void **state)
{
    double x[4 * N], y[N], b[4], alpha;
    (void)state;
    make_design(x, y);
    assert_int_equal(stats_lasso_lars_ic(x, N, 4, y, STATS_IC_BIC, b, &alpha),
                     0);
    /* LassoLarsIC(criterion='bic').fit(X, y) */
    NEAR(b[0], 1.99425558, 1e-7);
    NEAR(b[1], 0.0, 0);
    NEAR(b[2], -0.50186369, 1e-7);
    NEAR(b[3], 0.0, 0);
    NEAR(alpha, 0.004741476141769127, 1e-10);
    /* lingam's predict_adaptive_lasso */
    assert_int_equal(stats_adaptive_lasso(x, N, 4, y, 1.0, b), 0);
    NEAR(b[0], 2.00378292, 1e-6);
    NEAR(b[1], 0.0, 0);
    NEAR(b[2], -0.50308703, 1e-6);
    NEAR(b[3], 0.0, 0);
    /* too few samples: scikit-learn refuses to estimate the noise */
    assert_int_equal(stats_lasso_lars_ic(x, 5, 4, y, STATS_IC_BIC, b, NULL),
                     -STATS_E_INVAL);
}

/* The Gram-matrix path (lingam's adjacency, many targets on one data set)
 * equals the data path, and steps aside where the predictors are near
 * collinear. */
static void test_adaptive_lasso_gram(void **state)
{
    double x[6 * N], y[N], b[5], g[5], gram[36], xc[6 * N];
    size_t pred[5] = {0, 1, 2, 3, 4};
    (void)state;
    make_design(x, y);
    for (int i = 0; i < N; i++) {
        x[4 * N + i] = 0.7 * x[i] - 0.2 * x[N + i] + 0.05 * cos(2.9 * i);
        x[5 * N + i] = y[i] + 0.1 * x[4 * N + i];
    }
    stats_center_cols(x, N, 6, xc);
    stats_gram(xc, N, 6, gram);
    for (int j = 0; j < 6; j++) {
        double m = 0.0, ss = 0.0;
        for (int i = 0; i < N; i++) {
            m += xc[j * N + i];
            ss += xc[j * N + i] * xc[j * N + i];
        }
        NEAR(m, 0.0, 1e-9);
        NEAR(gram[j * 6 + j], ss, 1e-12 * ss);
        NEAR(gram[j * 6 + (j + 1) % 6], gram[((j + 1) % 6) * 6 + j], 0);
    }
    for (size_t k = 1; k <= 5; k++) {
        assert_int_equal(stats_adaptive_lasso(x, N, k, x + 5 * N, 1.0, b), 0);
        assert_int_equal(
            stats_adaptive_lasso_gram(gram, xc, N, 6, pred, k, 5, 1.0, g), 0);
        for (size_t j = 0; j < k; j++)
            NEAR(g[j], b[j], 1e-9 * (1.0 + fabs(b[j])));
    }
    /* a predictor that is another one rescaled: the normal equations are
     * singular, the caller must take the data path */
    for (int i = 0; i < N; i++)
        xc[4 * N + i] = 3.0 * xc[i];
    stats_gram(xc, N, 6, gram);
    assert_int_equal(
        stats_adaptive_lasso_gram(gram, xc, N, 6, pred, 5, 5, 1.0, g),
        -STATS_E_SINGULAR);
    assert_int_equal(
        stats_adaptive_lasso_gram(gram, xc, 5, 6, pred, 4, 5, 1.0, g),
        -STATS_E_INVAL);
}

#define T 200

static void make_series(double *y, double *x)
{
    for (int t = 0; t < T; t++) {
        x[t] = cos(1.9 * t) + 0.3 * sin(5.1 * t);
        y[t] = sin(0.7 * t) + 0.4 * sin(2.3 * t + 0.5);
    }
    for (int t = T - 1; t >= 1; t--)
        y[t] += 0.5 * x[t - 1];
    for (int t = 0; t < T; t++)
        y[t] += 0.2 * sin(fmod(7.7 * t * t, 13.0));
}

static void test_granger_matches_statsmodels(void **state)
{
    double y[T], x[T];
    struct stats_granger_lag g[3];
    /* grangercausalitytests(c_[y, x], 3): (statistic, p) per lag */
    const double want[3][6] = {
        {75.09954957321256, 1.6708127693710823e-15, 76.24903247484336,
         2.500551520474771e-18, 64.549915723075, 9.411756340516877e-16},
        {48.59363001286416, 8.087612397202655e-18, 99.70506468960728,
         2.2352200979912937e-22, 80.75157748259556, 2.917546235203889e-18},
        {49.712816735530346, 9.188811462716972e-24, 154.6330246878865,
         2.6377784502662346e-33, 114.13871882806052, 1.4109280347091439e-24},
    };
    (void)state;
    make_series(y, x);
    assert_int_equal(stats_granger_pair(y, x, T, 3, g), 0);
    for (int l = 0; l < 3; l++) {
        NEAR(g[l].ssr_f, want[l][0], 1e-8 * want[l][0]);
        NEAR(g[l].ssr_f_p, want[l][1], 1e-6 * want[l][1]);
        NEAR(g[l].ssr_chi2, want[l][2], 1e-8 * want[l][2]);
        NEAR(g[l].ssr_chi2_p, want[l][3], 1e-6 * want[l][3]);
        NEAR(g[l].lr, want[l][4], 1e-8 * want[l][4]);
        NEAR(g[l].lr_p, want[l][5], 1e-6 * want[l][5]);
    }
    assert_int_equal(stats_granger_pair(y, x, 10, 3, g), -STATS_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ols_closed_form),
        cmocka_unit_test(test_ols_matches_sklearn),
        cmocka_unit_test(test_lasso_lars_bic_matches_sklearn),
        cmocka_unit_test(test_adaptive_lasso_gram),
        cmocka_unit_test(test_granger_matches_statsmodels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
