/* regress: linear regression for the graph builders. Ordinary least squares
 * (GSL's SVD solver, so a rank-deficient design behaves like numpy's pinv /
 * lstsq: the minimum-norm solution), and the adaptive lasso that lingam's
 * DirectLiNGAM uses to turn a causal order into an adjacency matrix
 * (scikit-learn 1.2's LinearRegression for the weights, then
 * LassoLarsIC(criterion="bic") on the weighted design: the LARS-lasso path
 * and the information criterion n log(2 pi s2) + RSS / s2 + log(n) df, s2 the
 * OLS noise variance, df the number of non-zero coefficients).
 *
 * Designs are column-major: column j of x at x + j * n. All inputs must be
 * finite. No I/O, no threads. */
#ifndef SKEWSCOPE_STATS_REGRESS_H
#define SKEWSCOPE_STATS_REGRESS_H

#include <stdbool.h>
#include <stddef.h>

struct stats_ols {
    double intercept; /* 0 without an intercept */
    double ssr;       /* residual sum of squares */
    double tss;       /* total sum of squares (centred with an intercept) */
    size_t rank;      /* rank of the design, intercept included */
    size_t df_resid;  /* n - rank */
};

/* Least squares of y (n) on the k columns of x, with an intercept when
 * intercept is set. coef (k values, may be NULL) gets the slopes; out the
 * summary. Returns 0, -STATS_E_INVAL (n == 0, non-finite) or
 * -STATS_E_NOMEM. */
int stats_ols_fit(const double *x, size_t n, size_t k, const double *y,
                  bool intercept, double *coef, struct stats_ols *out);

/* xc (n x k, column-major) = the k columns of x minus their means. */
void stats_center_cols(const double *x, size_t n, size_t k, double *xc);

/* g (k x k, row-major, symmetric) = x' x for the k columns of x. */
void stats_gram(const double *x, size_t n, size_t k, double *g);

enum stats_ic { STATS_IC_AIC = 0, STATS_IC_BIC = 1 };

/* LassoLarsIC(criterion, fit_intercept=True) fit: coef (k) gets the slopes
 * at the path point with the least criterion; *alpha_out (optional) its
 * alpha. Requires n > k + 1 (scikit-learn raises otherwise: -STATS_E_INVAL).
 */
int stats_lasso_lars_ic(const double *x, size_t n, size_t k, const double *y,
                        enum stats_ic ic, double *coef, double *alpha_out);

/* lingam.utils.predict_adaptive_lasso(X, predictors, target, gamma): OLS
 * weights w = |b|^gamma, a BIC lasso on x * w, coef = lasso coef * w. */
int stats_adaptive_lasso(const double *x, size_t n, size_t k, const double *y,
                         double gamma, double *coef);

/* The same from the Gram matrix of the centred columns, for a caller that
 * fits many targets on one data set (lingam's adjacency): gram (p x p,
 * row-major) = xc' xc, xc the p centred columns (column-major, n rows);
 * the target is column `target`, the predictors pred[0..k). The OLS
 * weights come from the normal equations on the predictors' correlation
 * matrix, the lasso path from the weighted Gram matrix, each path point's
 * RSS from it too (from the data where it would cancel). Returns
 * -STATS_E_SINGULAR, computing nothing, when that matrix's reciprocal
 * condition number is below 1e-7 or a weight is 0: the caller then uses
 * stats_adaptive_lasso() on the data (the SVD path), whose results these
 * equal to rounding otherwise. -STATS_E_INVAL: n <= k + 1 or k == 0. */
int stats_adaptive_lasso_gram(const double *gram, const double *xc, size_t n,
                              size_t p, const size_t *pred, size_t k,
                              size_t target, double gamma, double *coef);

#endif
