/* rca_method: what a method implements (its ops table) and the helpers
 * methods share. Private to src/rca: the CLI and other modules use rca.h.
 *
 * Adding a method: write src/rca/methods/<name>.c defining
 *     const struct rca_method rca_method_<name> = { ... };
 * and add one line X(<name>) to RCA_METHODS in src/rca/registry.c. Then a
 * section in docs/RCA.md (paper, RCAEval file, parameters, departures).
 *
 * Contract for rank():
 *  - c is read-only and may be ranked by other threads at the same time;
 *    keep all state in locals or heap memory freed before returning.
 *  - out is empty on entry; add every candidate with rca_ranking_add() and
 *    leave it sorted best first (rca_ranking_sort() gives RCAEval's order).
 *    On failure return a negated rca_status with err filled; rca_rank()
 *    empties out.
 *  - rca_rank() has already checked p (validate) and the inputs declared
 *    in `inputs`; a method that needs an inject time declares
 *    RCA_IN_INJECT and may then rely on c->has_inject.
 *  - Draw random numbers only from a generator seeded by p->seed
 *    (rca_rng_init()): same seed, same ranking. */
#ifndef SKEWSCOPE_RCA_METHOD_H
#define SKEWSCOPE_RCA_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rca/rca.h"
#include "stats/randwalk.h"

/* Method flags. */
#define RCA_METHOD_STOCHASTIC 0x1u /* the ranking depends on p->seed */
/* RCAEval wraps the method in @rca: PowerIterationFailedConvergence and
 * InfeasibleTestError (here -RCA_E_NOCONV, -RCA_E_INFEASIBLE) give
 * dummy's ranking instead of a failure. */
#define RCA_METHOD_FALLBACK 0x2u

struct rca_method {
    const char *name;    /* as RCAEval spells it: "baro", "e_diagnosis" */
    const char *summary; /* one line for --list */
    unsigned inputs;     /* RCA_IN_* */
    unsigned flags;      /* RCA_METHOD_* */
    /* Keys accepted in rca_params.kv (NULL-terminated list, or NULL for
     * none). rca_method_validate() rejects any other key. */
    const char *const *params;
    /* Optional: check the values of the accepted keys. 0 or -RCA_E_INVAL. */
    int (*validate)(const struct rca_params *p, char *err, size_t errlen);
    int (*rank)(const struct rca_case *c, const struct rca_params *p,
                struct rca_ranking *out, char *err, size_t errlen);
};

/* ---------------------------------------------------------------------
 * Parameters
 * --------------------------------------------------------------------- */

/* The value of key (the last one given wins), or NULL. */
const char *rca_param(const struct rca_params *p, const char *key);
/* key as a finite double in [lo, hi] into *out (def when absent). Returns
 * 0 or -RCA_E_INVAL with "METHOD: KEY=VALUE: ..." in err. */
int rca_param_double(const struct rca_params *p, const char *method,
                     const char *key, double def, double lo, double hi,
                     double *out, char *err, size_t errlen);
/* key as an integer in [lo, hi]. */
int rca_param_size(const struct rca_params *p, const char *method,
                   const char *key, size_t def, size_t lo, size_t hi,
                   size_t *out, char *err, size_t errlen);

/* ---------------------------------------------------------------------
 * Randomness
 * --------------------------------------------------------------------- */

/* A generator for one rank() call: stats' xoshiro256** seeded with seed.
 */
void rca_rng_init(struct stats_rng *r, uint64_t seed);
/* Uniform integer in [0, n) without modulo bias (n > 0). */
uint64_t rca_rng_below(struct stats_rng *r, uint64_t n);
/* A uniformly random permutation of idx[0..n) in place (Fisher-Yates). */
void rca_rng_shuffle(struct stats_rng *r, size_t *idx, size_t n);

/* ---------------------------------------------------------------------
 * RCAEval's shared steps
 * --------------------------------------------------------------------- */

/* The start of nearly every RCAEval metric method:
 *     normal_df = data[data["time"] < inject_time]
 *     anomal_df = data[data["time"] >= inject_time]
 *     each = preprocess(each)            # drop constant, mem to MB
 *     intersect the columns              # normal's order
 * On success the caller owns *normal and *anomal (same columns, same
 * order). A window without rows is -RCA_E_DATA (pandas raises there);
 * -RCA_E_NOMEM. */
int rca_split_windows(const struct rca_case *c, struct series_table **normal,
                      struct series_table **anomal, char *err, size_t errlen);

/* Python's builtin max() over x[0..n): the first value, replaced by each
 * later value greater than it (so a NaN first stays, a NaN later is
 * skipped). NaN when n == 0. */
double rca_py_max(const double *x, size_t n);

/* The scorer of NSigma, BARO and their multi-source forms: fit a scaler on
 * a[0..na) (StandardScaler when robust is false, RobustScaler with the
 * 25-75 quantile range when true), transform b[0..nb), return the
 * Python max of the result. NaN values in a are ignored by the fit (as
 * scikit-learn's nan-aware fit); with no finite value in a the score is
 * NaN. work: na doubles of scratch for the robust fit (NULL: allocated
 * here). -RCA_E_DATA when na or nb is 0 (scikit-learn raises on an empty
 * fit; Python's max() on an empty array), -RCA_E_NOMEM. */
int rca_scaler_score(const double *a, size_t na, const double *b, size_t nb,
                     bool robust, double *work, double *score);

/* NSigma's and BARO's ranking of c->metrics (RCAEval e2e/__init__.py
 * nsigma(), e2e/baro.py baro()): rca_split_windows(), then for each column
 * in the normal window's order rca_scaler_score(normal, anomalous),
 * appended to out unsorted. Returns 0 or a negated rca_status. */
int rca_scaler_rank_metrics(const struct rca_case *c, bool robust,
                            struct rca_ranking *out, char *err, size_t errlen);

/* Fill err with "NAME: " + the formatted text; returns -status. */
int rca_fail(char *err, size_t errlen, int status, const char *name,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* dummy's ranking (RCAEval's dummy()): RCAEval's preprocess() of the whole
 * metric table (constant columns dropped), the columns in a random order
 * drawn from seed, scores n, n-1, ..., 1. Also the @rca fallback. */
int rca_dummy_rank(const struct rca_case *c, uint64_t seed,
                   struct rca_ranking *out, char *err, size_t errlen);

#endif
