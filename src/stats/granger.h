/* granger: pairwise Granger causality as RCAEval's granger.py runs it
 * through statsmodels' grangercausalitytests(x[[i, j]], maxlag): for each
 * lag L = 1..maxlag, OLS of y(t) on [y(t-1..t-L), 1] (restricted) and on
 * [y(t-1..t-L), x(t-1..t-L), 1] (unrestricted) over t = L..n-1, then four
 * tests of the x lags:
 *   ssr F      F = (SSR_r - SSR_u) / SSR_u / L * df_u,  F(L, df_u) tail
 *   ssr chi2   n_obs (SSR_r - SSR_u) / SSR_u,           chi2(L) tail
 *   LR         n_obs log(SSR_r / SSR_u),                chi2(L) tail
 *   params F   the Wald F of the x-lag coefficients; for OLS it equals the
 *              ssr F exactly, so it is not computed twice.
 * RCAEval puts an edge j -> i (adj[i][j] = 1) when, at some lag, the mean of
 * the four p-values is below the threshold (0.05, maxlag 3 by default).
 *
 * Speed: stats_granger_pair() orthonormalises the restricted design once
 * per lag and adds the driver's L columns (an updated QR), O(n L^2) a pair.
 * stats_granger_graph() goes further. Once per case it standardises the
 * columns, takes their first differences too, and computes every lagged
 * cross-product sum_s u_a(s) u_b(s + d), 0 <= d <= maxlag (4 cols^2 (maxlag
 * + 1) dot products). A pair at lag L is then the Cholesky factorisation of
 * a (2L + 1)-square Gram matrix of window-centred cross-products, with no
 * pass over the data: regressors y(t-1), dy(t-1..t-L+1), x(t-1),
 * dx(t-1..t-L+1) (the same spans as the lags statsmodels uses, far better
 * conditioned for smooth series) and target dy(t) (it differs from y(t) by
 * y(t-1), inside both spans: the same SSRs). The last row gives SSR_u (its
 * last pivot) and SSR_r - SSR_u (the squares of its x entries). The
 * decision needs no p-value: every test's p falls as q = (SSR_r - SSR_u) /
 * SSR_u grows, so q is compared with a critical value found once per lag.
 * A pair goes through stats_granger_pair()'s QR instead when a pivot is
 * below 1e-9 of its diagonal, the fit is nearly perfect (SSR_u / TSS <
 * 1e-12), or q lies within 1e-4 of the critical value, so rank drops,
 * statsmodels' infeasibility and close calls are decided as there; a lag
 * column constant over its window is infeasible without a fit. The
 * p-values (opts.p_min) agree with the QR path to 1e-6 relative or better.
 * One difference, towards statsmodels: a column whose variation is below
 * 1e-10 of its level keeps its lags here (statsmodels' pinv keeps them
 * too), where the QR drops them as constant.
 * Inputs must be finite (RCAEval fills gaps before). No I/O, no threads. */
#ifndef SKEWSCOPE_STATS_GRANGER_H
#define SKEWSCOPE_STATS_GRANGER_H

#include <stddef.h>

struct stats_granger_lag {
    double ssr_f, ssr_f_p;       /* F statistic and p-value */
    double ssr_chi2, ssr_chi2_p; /* chi2 statistic and p-value */
    double lr, lr_p;             /* likelihood ratio and p-value */
    double params_f, params_f_p; /* = ssr F (OLS) */
    double df_denom;             /* residual df of the unrestricted model */
    unsigned df_num;             /* L */
};

/* Which p-value decides an edge: RCAEval's test=None averages the four. */
enum stats_granger_test {
    STATS_GRANGER_MEAN4 = 0,
    STATS_GRANGER_SSR_F,
    STATS_GRANGER_SSR_CHI2,
    STATS_GRANGER_LR,
    STATS_GRANGER_PARAMS_F,
};

/* Test "x Granger-causes y" at lags 1..maxlag: out[L - 1] for lag L.
 * Returns 0, -STATS_E_INVAL (n <= 3 maxlag + 1, non-finite, maxlag 0),
 * -STATS_E_INFEASIBLE where statsmodels raises InfeasibleTestError (a lag
 * column constant over the window, or a perfect fit: SSR_u / TSS below
 * DBL_EPSILON) at any lag, or -STATS_E_NOMEM. */
int stats_granger_pair(const double *y, const double *x, size_t n,
                       unsigned maxlag, struct stats_granger_lag *out);

struct stats_granger_opts {
    unsigned maxlag;              /* 0 means RCAEval's 3 */
    double p_threshold;           /* 0 means RCAEval's 0.05 */
    enum stats_granger_test test; /* RCAEval default: MEAN4 */
    /* true: every pair through stats_granger_pair()'s QR (the reference
     * path, for tests and benchmarks); false: the cross-product fast path
     * below, with the QR as its fallback. */
    int exact;
    /* Optional, cols x cols: p_min[i*cols + j] gets the smallest decision
     * p-value over the lags for "j causes i" (NaN on the diagonal and for
     * infeasible pairs). */
    double *p_min;
    /* true: stop at the first infeasible pair (in RCAEval's i, j order)
     * and return -STATS_E_INFEASIBLE, as statsmodels' raise ends RCAEval's
     * loop; *infeasible is then 1. */
    int stop_infeasible;
};

/* The RCAEval Granger graph of the columns of x (column-major, rows x
 * cols): adj (cols x cols, row-major, caller-owned) gets adj[i*cols + j] = 1
 * when column j Granger-causes column i, else 0. A pair statsmodels finds
 * infeasible gets no edge and is counted in *infeasible (optional; RCAEval's
 * whole method fails on the first such pair and falls back to the column
 * order, which a caller can reproduce from this count). Returns 0 or a
 * negated status. */
int stats_granger_graph(const double *x, size_t rows, size_t cols,
                        const struct stats_granger_opts *opts,
                        unsigned char *adj, size_t *infeasible);

#endif
