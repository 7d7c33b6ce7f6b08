/* pcmci_parcorr: PCMCI with the ParCorr test (Runge et al., "Detecting and
 * quantifying causal associations in large nonlinear time series
 * datasets", Science Advances 2019), as tigramite 5.2 runs it through
 * PCMCI(dataframe, ParCorr()).run_pcmci(tau_max, pc_alpha) -- what
 * RCAEval's MicroCause calls -- and the partial correlation it and
 * pingouin's partial_corr compute.
 *
 * Data: x is column-major, T rows (time steps, oldest first) x N
 * variables, finite values. Every test runs on the same samples: the time
 * steps t = 2 tau_max .. T-1 (tigramite's cut_off "2xtau_max"), with the
 * variable (v, -lag) read at t - lag.
 *
 *  ParCorr   the Pearson correlation of the residuals of X and Y after a
 *            least-squares fit on Z (standardised data), computed here from
 *            the covariance matrix of the lagged columns (cached lazily,
 *            each entry one pass over the samples); p = 2 t.sf(|t|, df) with
 *            t = r sqrt(df / (1 - r^2)), df = samples - 2 - |Z|. Columns
 *            constant over the samples are dropped from X, Y, Z first (an X
 *            or Y so dropped gives r = 0, p = 1); Z entries equal to X or Y
 *            or repeated are dropped. A Z that is linearly dependent is
 *            handled as least squares does (the dependent columns add
 *            nothing).
 *  PC1       per variable j, the candidates (i, -tau) for every i and tau =
 *            1..tau_max in that order; at condition size s = 0, 1, ...
 *            (until fewer than s + 1 candidates remain) each candidate is
 *            tested given the first s other candidates of the current list
 *            (max_combinations 1) and removed when p > pc_alpha; after each
 *            size the list is sorted by the smallest |r| seen, strongest
 *            first (stable).
 *  MCI       for every j and every link (i, -tau), tau = 0..tau_max except
 *            (j, 0): X = (i, -tau), Y = (j, 0), Z = the PC1 parents of j
 *            (without X) followed by those of i shifted by -tau (without
 *            repeats).
 *  graph     p_matrix <= alpha_level: "-->" at lags >= 1; at lag 0 "o-o"
 *            when both directions pass, "-->" / "<--" when one does.
 *
 * Departures: p-values use GSL's Student t tail (scipy's to ~1e-15);
 * tigramite's per-test cache is not needed here (the results are equal).
 * Errors: negated enum stats_status (stats_status.h). */
#ifndef SKEWSCOPE_STATS_PCMCI_PARCORR_H
#define SKEWSCOPE_STATS_PCMCI_PARCORR_H

#include <stddef.h>

/* Graph codes, graph[(i*N + j)*(tau_max+1) + tau] (tigramite's strings). */
enum stats_pcmci_link {
    STATS_PCMCI_NONE = 0,  /* "" */
    STATS_PCMCI_RIGHT = 1, /* "-->": i at t-tau causes j at t */
    STATS_PCMCI_LEFT = 2,  /* "<--" (lag 0 only) */
    STATS_PCMCI_UNDIR = 3, /* "o-o" (lag 0 only) */
};

struct stats_pcmci_opts {
    unsigned tau_max;   /* >= 1 */
    double pc_alpha;    /* PC1's level, in [0, 1] */
    double alpha_level; /* the graph's level (tigramite's default 0.05) */
};

struct stats_pcmci {
    size_t n;         /* variables */
    unsigned tau_max; /* lags 0..tau_max */
    /* N x N x (tau_max+1), index (i*N + j)*(tau_max+1) + tau: the MCI
     * p-value and partial correlation of (i, -tau) -> (j, 0), before
     * tigramite's lag-0 symmetrisation (1 and 0 where untested). */
    double *p;
    double *val;
    unsigned char *graph; /* enum stats_pcmci_link, same layout */
    /* PC1 parents of each variable, strongest first: parents of j are
     * par_var/par_lag[par_off[j] .. par_off[j+1]) (lag as a positive
     * number of steps back). */
    size_t *par_off;
    size_t *par_var;
    unsigned *par_lag;
    unsigned long tests; /* ParCorr tests run (PC1 + MCI) */
};

/* Run PCMCI on x (T x N, column-major). Fills *out (free it with
 * stats_pcmci_free). Returns 0, -STATS_E_INVAL (T <= 2 tau_max + 2, a
 * non-finite value, tau_max 0) or -STATS_E_NOMEM. */
int stats_pcmci_parcorr(const double *x, size_t T, size_t N,
                        const struct stats_pcmci_opts *opts,
                        struct stats_pcmci *out);
void stats_pcmci_free(struct stats_pcmci *r);

/* Partial correlation of variables a and b given z[0..k) from a covariance
 * (or correlation) matrix cov (ld x ld, row-major): the correlation of the
 * least-squares residuals, with linearly dependent conditioning variables
 * skipped (numpy lstsq / pinv give the same residuals). *r is 0 when a or
 * b has (numerically) no residual variance. work: (k+2)^2 + k+2 doubles.
 * This is
 * pingouin's partial_corr(method="pearson") and tigramite's ParCorr value.
 * Returns 0 or -STATS_E_INVAL (a == b, an index >= ld). */
int stats_partial_corr(const double *cov, size_t ld, size_t a, size_t b,
                       const size_t *z, size_t k, double *work, double *r);

/* Two-sided p-value of a correlation r with df degrees of freedom from
 * Student's t (tigramite's and CausalAI's analytic significance): NaN when
 * df < 1, 0 when |r| is 1. */
double stats_parcorr_pvalue(double r, double df);

#endif
