/* rca: root cause analysis over metric time series (and, for some methods,
 * logs and traces), with RCAEval's methods behind one interface.
 *
 * Flow: src/ingest/rcaeval (a case folder) -> rca_case_prepare() (rca-llm's
 * main.py windowing, the inject time given, read or detected) -> a method
 * (src/rca/methods/<name>.c, listed in src/rca/registry.c) -> struct
 * rca_ranking -> src/rca/eval (AC@k, Avg@k) or the CLI (`skewscope rca`,
 * `skewscope rca-eval`).
 *
 * A method sees a struct rca_case: the metric table exactly as RCAEval's
 * main.py hands it to the method (windowed around the inject time, infinities
 * and gaps filled, `_latency-90` renamed; NOT yet split or preprocessed: each
 * method does its own per-window preprocessing, as in RCAEval), the inject
 * time, and optional multi-source tables. It returns a ranking: column names
 * "<service>_<metric>" best first, each with a score.
 *
 * Errors: functions that can fail return 0 or a negated enum rca_status and,
 * where they take one, fill err (errlen bytes, always NUL-terminated) with a
 * message naming the method, the case and what is wrong. Nothing here exits
 * or prints.
 *
 * Threads: methods are reentrant. Any number of threads may rank different
 * (or the same, read-only) cases at once; a method allocates what it needs
 * per call and starts no threads. The registry is immutable. */
#ifndef SKEWSCOPE_RCA_H
#define SKEWSCOPE_RCA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct series_table;
struct rcaeval_case;
struct rcaeval_traces;
struct rcaeval_logs;

/* ---------------------------------------------------------------------
 * Status
 * --------------------------------------------------------------------- */

/* Returned negated. The CLI maps them to exit codes: NOMEM 70; INVAL and
 * UNKNOWN 2 (usage); INPUT, DATA, NOCHANGE 65 (a case the method cannot
 * use). NOCONV and INFEASIBLE are RCAEval's two recoverable failures: for a
 * method flagged RCA_METHOD_FALLBACK, rca_rank() answers them with dummy's
 * ranking, as RCAEval's @rca decorator does. */
enum rca_status {
    RCA_OK = 0,
    RCA_E_NOMEM = 1,      /* out of memory */
    RCA_E_INVAL = 2,      /* bad parameter: unknown key, bad value */
    RCA_E_INPUT = 3,      /* the case lacks an input the method needs
                             (inject time, logts, traces, ...) */
    RCA_E_DATA = 4,       /* the data cannot be ranked (a window without
                             rows, a column the method cannot handle) */
    RCA_E_NOCONV = 5,     /* an iteration did not converge (networkx's
                             PowerIterationFailedConvergence) */
    RCA_E_INFEASIBLE = 6, /* a test cannot be computed on this data
                             (statsmodels' InfeasibleTestError) */
    RCA_E_NOCHANGE = 7,   /* --inject-time auto found no change point */
    RCA_E_UNKNOWN = 8,    /* no method by that name */
};

/* Static English message for a status (positive or negated). */
const char *rca_strerror(int status);

/* ---------------------------------------------------------------------
 * A case as methods see it
 * --------------------------------------------------------------------- */

/* Inputs a method needs (struct rca_method's `inputs`, a bit set). */
#define RCA_IN_METRICS 0x01u /* c->metrics (every case has it) */
#define RCA_IN_INJECT 0x02u  /* c->has_inject: the method splits at it */
#define RCA_IN_LOGTS 0x04u   /* c->logts */
#define RCA_IN_TRACETS 0x08u /* c->tracets_err and c->tracets_lat */
#define RCA_IN_TRACES 0x10u  /* c->traces: raw spans */
#define RCA_IN_LOGS 0x20u    /* c->logs: raw log lines */
#define RCA_IN_SLI 0x40u     /* c->sli */
/* Not required: the method uses c->traces when the case has traces.csv
 * (so readers must load them), and ranks without them otherwise. */
#define RCA_IN_TRACES_OPT 0x80u

struct rca_case {
    /* rca-llm main.py's process() output (rcaeval_prepare()): rows in file
     * order, times Unix ns, no NaN or infinity left, columns
     * "<service>_<metric>". Never empty of rows when built by
     * rca_case_prepare(); may have 0 columns. */
    const struct series_table *metrics;
    /* Rows with time >= inject_ns are the anomalous window (RCAEval's
     * data["time"] >= inject_time), Unix ns. Meaningful only when
     * has_inject; methods that need it declare RCA_IN_INJECT. */
    int64_t inject_ns;
    bool has_inject;
    /* main.py's n_iter (num_node): metric columns before the renames and
     * the llm-ref-stack drops, time excluded. Random-walk methods use it. */
    size_t n_iter;
    /* main.py's SLI column name (llm-ref-stack datasets), or NULL. */
    const char *sli;
    /* Multi-source inputs as RCAEval reads them from the case folder (NOT
     * windowed: RCAEval's mm* methods read the files whole), or NULL. */
    const struct series_table *logts;
    const struct series_table *tracets_err;
    const struct series_table *tracets_lat;
    const struct rcaeval_traces *traces;
    const struct rcaeval_logs *logs;
    /* Where the case came from, for messages ("" or NULL when built in
     * memory). */
    const char *name;

    /* Set by rca_case_prepare(); zero in a case built by hand. */
    bool inject_detected;     /* inject_ns came from change-point detection */
    size_t inject_row;        /* first row at or after inject_ns */
    struct series_table *own; /* private: freed by rca_case_destroy() */
};

/* How a case folder becomes a struct rca_case. Zero-initialised means
 * rca-llm's defaults: --length 20, --tdelta 0, the inject time from
 * inject_time.txt. */
struct rca_setup {
    unsigned length_min; /* main.py --length (minutes): length*60/2 rows on
                            each side of the inject time; 0 means 20 */
    int64_t tdelta_s;    /* main.py --tdelta: added to the inject time */
    bool inject_given;   /* use inject_time_s instead of inject_time.txt */
    int64_t inject_time_s;
    /* --inject-time auto: find the inject time with BARO's multivariate
     * BOCPD (stats_bocpd_baro) on the latency and error columns. The table
     * it runs on is the window main.py would cut around inject_time.txt
     * when there is one (BARO's own evaluation protocol: reproduce_bocpd()
     * cuts around the true inject time first), else the last 2 * length*30
     * rows. The inject time becomes the time of the first change point's
     * row. */
    bool inject_auto;
    /* auto only: drop BOCPD run lengths whose log posterior is this far
     * below the best (stats_bocpd_opts.log_prune); 0 keeps all, exactly
     * as BARO does. */
    double cp_log_prune;
    /* main.py's llm-ref-stack branch (drop *_pod_*, *_node_*, *unknown*
     * columns; SLI from the root-cause service): -1 = when the case path
     * contains "llm-ref-stack" (main.py's test), 0 = never, 1 = always. */
    int llm_ref_stack;
};

/* Build the case a method sees from a case folder read by
 * rcaeval_case_read(). src must outlive the result (multi-source tables,
 * traces and logs are borrowed); the metric table is the case's own.
 * Without inject_time.txt, --inject-time or auto, has_inject is false and
 * the table is the last 2 * length*30 rows. Returns 0 with *out set, or
 * -RCA_E_NOMEM, -RCA_E_DATA (no rows in the window), -RCA_E_NOCHANGE (auto
 * found no change point) with err filled and *out NULL. */
int rca_case_prepare(const struct rcaeval_case *src,
                     const struct rca_setup *setup, struct rca_case **out,
                     char *err, size_t errlen);
void rca_case_destroy(struct rca_case *c);

/* BARO's change-point detection on a metric table (main.py's, as in a
 * case): the columns whose name contains "latency" or "_error" (none with
 * "queue-master" or "rabbitmq_"), or every column when there is none,
 * through stats_bocpd_baro(). *row gets the first change point (rows
 * before it are normal). A change point at the last row boundary (nothing
 * after it) counts as none. log_prune: as rca_setup.cp_log_prune (0:
 * exact). Returns 0, -RCA_E_NOCHANGE or -RCA_E_NOMEM. Cost O(rows^2 d^2)
 * for d selected columns when exact. */
int rca_detect_inject(const struct series_table *t, double log_prune,
                      size_t *row);

/* ---------------------------------------------------------------------
 * Rankings
 * --------------------------------------------------------------------- */

struct rca_item {
    char *name;   /* column name "<service>_<metric>"; owned by the ranking */
    double score; /* the method's score; higher ranks first; NaN when the
                     method has none (then ranks last) */
};

struct rca_ranking {
    struct rca_item *items; /* best first */
    size_t n;
    size_t cap;
    /* The method failed with RCAEval's recoverable errors and this is
     * dummy's ranking instead (RCAEval's @rca); note holds why. */
    bool fallback;
    char note[160];
};

/* An empty ranking (no allocation). */
void rca_ranking_init(struct rca_ranking *r);
/* Free the items; r becomes empty (re-usable). */
void rca_ranking_free(struct rca_ranking *r);
/* Append a candidate (name copied). Returns 0 or -RCA_E_NOMEM. */
int rca_ranking_add(struct rca_ranking *r, const char *name, double score);
/* Sort by score, highest first; equal scores keep insertion order
 * (Python's stable sorted(..., reverse=True)); NaN scores go last. */
void rca_ranking_sort(struct rca_ranking *r);
/* Keep the first k items. */
void rca_ranking_truncate(struct rca_ranking *r, size_t k);
/* Service of item i: series_service_of() (text before the first '_');
 * not NUL-terminated at *len. */
const char *rca_ranking_service(const struct rca_ranking *r, size_t i,
                                size_t *len);

/* ---------------------------------------------------------------------
 * Parameters
 * --------------------------------------------------------------------- */

struct rca_kv {
    const char *key;
    const char *value;
};

/* What a caller may tune. Strings are borrowed for the call. */
struct rca_params {
    /* Stochastic methods draw from a generator seeded with this: the same
     * seed gives the same ranking. Deterministic methods ignore it. */
    uint64_t seed;
    /* Method-specific overrides, KEY=VALUE (`--param`); each method lists
     * the keys it accepts (docs/RCA.md) and rejects others. */
    const struct rca_kv *kv;
    size_t nkv;
};

/* ---------------------------------------------------------------------
 * Methods
 * --------------------------------------------------------------------- */

struct rca_method; /* private: src/rca/rca_method.h */

/* The registry, in RCAEval's order. */
size_t rca_method_count(void);
const struct rca_method *rca_method_at(size_t i);
/* The method named exactly as RCAEval spells it, or NULL. */
const struct rca_method *rca_method_find(const char *name);
const char *rca_method_name(const struct rca_method *m);
const char *rca_method_summary(const struct rca_method *m);
unsigned rca_method_inputs(const struct rca_method *m); /* RCA_IN_* */
bool rca_method_stochastic(const struct rca_method *m);

/* Check parameters before any data is read. Returns 0 or -RCA_E_INVAL with
 * a message naming the method and the key. */
int rca_method_validate(const struct rca_method *m, const struct rca_params *p,
                        char *err, size_t errlen);

/* Does the case hold every input m needs? Returns 0 or -RCA_E_INPUT naming
 * the first missing one. */
int rca_method_check_inputs(const struct rca_method *m,
                            const struct rca_case *c, char *err, size_t errlen);

/* Rank the candidates of case c with method m. out must be initialised
 * (rca_ranking_init) and empty; on success it holds the ranking (best
 * first); on failure it is empty. Validates p and the inputs first. For a
 * method flagged RCA_METHOD_FALLBACK, -RCA_E_NOCONV and -RCA_E_INFEASIBLE
 * from the method become dummy's seeded ranking with out->fallback set and
 * the reason in out->note, and 0 is returned (RCAEval's @rca). Returns 0 or
 * a negated rca_status with err filled. */
int rca_rank(const struct rca_method *m, const struct rca_case *c,
             const struct rca_params *p, struct rca_ranking *out, char *err,
             size_t errlen);

#endif
