/* eval: RCAEval's evaluation arithmetic (RCAEval/benchmark/evaluation.py
 * Evaluator, driven as rca-llm's rca-benchmark/main.py drives it), for
 * `skewscope rca-eval`, the benchmarks and tests.
 *
 * Service level: a ranking's entries become services (the text before the
 * first '_', with every "-db" removed, as main.py's
 * x.split("_")[0].replace("-db", "")), duplicates removed keeping the first
 * appearance. A case is a hit at k when the true service (the case folder's
 * parent "<service>_<fault>", taken as is) is among the first k distinct
 * services. AC@k = hits at k / cases; Avg@k = (AC@1 + ... + AC@k) / k,
 * summed in that order as Python's sum() does. A ranking with fewer than k
 * services simply has fewer chances. Cases on which a method fails are
 * left out of its counts (RCAEval skips result files holding an error) and
 * listed as failures.
 *
 * Not thread-safe: callers record results from one thread (rca-eval's
 * workers hand their results back first). */
#ifndef SKEWSCOPE_RCA_EVAL_H
#define SKEWSCOPE_RCA_EVAL_H

#include <stddef.h>

struct rca_ranking;

/* Largest k kept (RCAEval's Evaluator keeps 1..5; 10 here). */
#define RCA_EVAL_KMAX 10

/* The service of ranking entry `name` as RCAEval's evaluation reads it,
 * into buf (NUL-terminated, truncated to len - 1 bytes). Returns the full
 * length. */
size_t rca_eval_service(const char *name, char *buf, size_t len);

/* Position (from 1) of truth among the distinct services of names[0..n)
 * in order of first appearance; 0 when absent. */
size_t rca_eval_rank(const char *const *names, size_t n, const char *truth);
/* The same over a ranking's items. */
size_t rca_eval_rank_of(const struct rca_ranking *r, const char *truth);

/* Counts of one group of cases (a method on one fault type). */
struct rca_eval_acc {
    size_t cases;
    size_t hits[RCA_EVAL_KMAX + 1]; /* hits[k]: cases with 1 <= rank <= k */
};

/* Add a case whose true service was at position rank (0: absent). */
void rca_eval_acc_add(struct rca_eval_acc *a, size_t rank);
/* AC@k (1 <= k <= RCA_EVAL_KMAX); NaN when there is no case or k is out
 * of range (RCAEval's None). */
double rca_eval_ac(const struct rca_eval_acc *a, unsigned k);
/* Avg@k; NaN as above. */
double rca_eval_avg(const struct rca_eval_acc *a, unsigned k);

/* Results of a dataset, per method and fault type. */
struct rca_eval_fault {
    char *fault;
    struct rca_eval_acc acc;
};

struct rca_eval_failure {
    char *case_name;
    char *error;
};

struct rca_eval_method {
    const char *method;            /* borrowed */
    struct rca_eval_fault *faults; /* sorted by name after finish() */
    size_t nfaults;
    struct rca_eval_failure *failures; /* in recording order */
    size_t nfailures;
    size_t fallbacks; /* cases answered by the @rca dummy fallback */
    size_t runs;      /* cases run, failures included */
    double seconds;   /* their total time */
};

struct rca_eval_table {
    struct rca_eval_method *methods;
    size_t nmethods;
};

/* One row per method name (borrowed; they must outlive the table).
 * Returns 0 or -RCA_E_NOMEM. */
int rca_eval_table_init(struct rca_eval_table *t, const char *const *methods,
                        size_t n);
void rca_eval_table_free(struct rca_eval_table *t);

/* A successful run of method m on a case of `fault` whose root cause is
 * truth, taking `seconds`. Returns 0 or -RCA_E_NOMEM. */
int rca_eval_record(struct rca_eval_table *t, size_t m, const char *fault,
                    const char *truth, const struct rca_ranking *r,
                    double seconds);
/* The same with the position already computed (rca_eval_rank_of()):
 * rank 0 = absent; fallback counts a @rca fallback. */
int rca_eval_record_rank(struct rca_eval_table *t, size_t m, const char *fault,
                         size_t rank, int fallback, double seconds);
/* A failed run: listed, not counted in any fault. */
int rca_eval_record_failure(struct rca_eval_table *t, size_t m,
                            const char *case_name, const char *error,
                            double seconds);
/* Sort each method's faults by name (main.py's sorted fault list). */
void rca_eval_table_finish(struct rca_eval_table *t);

/* Mean seconds per case run; NaN with no run. */
double rca_eval_seconds_per_case(const struct rca_eval_method *m);

#endif
