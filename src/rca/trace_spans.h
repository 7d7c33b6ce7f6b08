/* trace_spans: what RCAEval's trace-based methods (microrank, tracerca) and
 * the trace part of pdiagnose share: a case's spans (traces.csv, struct
 * rcaeval_traces) split at the inject time and classified by latency,
 * exactly as the RCAEval copy vendored in rca-llm does it
 * (rca-benchmark/RCAEval/e2e/{microrank,tracerca,pdiagnose}.py):
 *
 *   operation    serviceName + "_" + methodName (methodName missing:
 *                operationName, RCAEval's fillna)
 *   normal side  spans with startTime + duration < inject time (us)
 *   SLO          per operation over the normal side: mean and sample
 *                standard deviation (pandas, ddof 1) of duration / 1000
 *                (ms), each rounded to 2 decimals (Python's round())
 *   abnormal     a span at or after the inject time whose duration / 1000
 *                >= mean + k * sd of its operation (k = 3 in RCAEval)
 *
 * Each span also gets dense indices for its trace ID and its span ID (and
 * its parent's, when the parent ID is some span's ID in the file), so a
 * method can build call graphs with arrays instead of string maps.
 *
 * The pandas-compatible sums used here (numpy's pairwise summation) are
 * exported for pdiagnose's metric part.
 *
 * Errors: trace_spans_build() returns 0 or -RCA_E_NOMEM (enum rca_status).
 * Threads: a struct trace_spans is built and read by one rank() call; the
 * traces it points into are only read. */
#ifndef SKEWSCOPE_TRACE_SPANS_H
#define SKEWSCOPE_TRACE_SPANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rcaeval_traces;

/* No operation / trace / span key. */
#define TRACE_SPANS_NONE UINT32_MAX

/* Where a span falls. */
enum trace_span_state {
    TRACE_SPAN_BEFORE = 0,   /* ends before the inject time (normal_df) */
    TRACE_SPAN_FAST = 1,     /* at or after it, below its operation's
                                threshold (RCAEval's "normal" span) */
    TRACE_SPAN_SLOW = 2,     /* at or after it, at or above the threshold
                                (RCAEval's "abnormal" span) */
    TRACE_SPAN_UNSCORED = 3, /* at or after it, but its operation has no
                                threshold: no span on the normal side
                                (RCAEval raises KeyError there) or one only
                                (sd NaN: RCAEval's comparisons are false) */
    TRACE_SPAN_SKIPPED = 4,  /* no serviceName, or neither methodName nor
                                operationName: no operation (RCAEval's
                                operation is NaN and the method raises) */
};

/* One operation. */
struct trace_op {
    char *name;       /* "<service>_<method>" (owned) */
    uint32_t service; /* index into the traces' names[] */
    size_t n_before;  /* spans on the normal side */
    double mean_ms;   /* SLO mean, rounded to 0.01 ms; NaN without spans */
    double sd_ms;     /* SLO sd (ddof 1), rounded; NaN below 2 spans */
    double thresh_ms; /* mean_ms + k * sd_ms (NaN when either is) */
};

struct trace_spans {
    const struct rcaeval_traces *tr; /* borrowed */
    size_t nspans;                   /* tr->nspans */
    /* Per span (index = row of traces.csv): */
    uint32_t *op;         /* operation, TRACE_SPANS_NONE when SKIPPED */
    uint32_t *trace;      /* trace index, dense in order of first row */
    uint32_t *key;        /* span ID index, dense in order of first row */
    uint32_t *parent_key; /* key of the parent's span ID when some span
                             has that ID, else TRACE_SPANS_NONE */
    uint8_t *state;       /* enum trace_span_state */
    struct trace_op *ops; /* in order of first row */
    size_t nops;
    size_t ntraces;
    size_t nkeys;
    size_t count[5]; /* spans per state */
};

/* How spans are classified; zero-initialised or NULL means RCAEval's. */
struct trace_spans_opts {
    double k_sigma; /* threshold mean + k_sigma sd; 0 means 3 */
    /* Keep the SLO's mean and sd unrounded. RCAEval rounds both to 0.01
     * ms, which turns every operation faster than 5 us into mean 0, sd 0,
     * threshold 0: all of its spans are "abnormal" (the testbed's
     * consumer spans of a few hundred ns are). */
    bool exact_slo;
};

/* Build the view of tr split at inject_ns (Unix ns; spans ending before
 * inject_ns / 1000 us are the normal side). out is overwritten. Returns 0
 * or -RCA_E_NOMEM (out then empty). */
int trace_spans_build(const struct rcaeval_traces *tr, int64_t inject_ns,
                      const struct trace_spans_opts *o,
                      struct trace_spans *out);
void trace_spans_free(struct trace_spans *s);

/* The end of span i in us: startTime + duration. */
double trace_spans_end_us(const struct trace_spans *s, size_t i);

/* ---------------------------------------------------------------------
 * pandas' arithmetic
 * --------------------------------------------------------------------- */

/* numpy's pairwise summation of x[0..n) (np.add.reduce on a contiguous
 * float64 array: blocks of 8 below 128 values, halves above), so sums
 * match pandas' to the bit. 0 for n == 0. */
double trace_np_sum(const double *x, size_t n);
/* pandas Series.mean() and Series.std() (ddof 1) of x[0..n) without
 * missing values: sum / n, and sqrt(sum((mean - x)^2) / (n - 1)) with
 * numpy sums. NaN for n == 0 (mean) or n < 2 (std). work: n doubles of
 * scratch for std. */
double trace_pd_mean(const double *x, size_t n);
double trace_pd_std(const double *x, size_t n, double *work);
/* Python's round(x, 2): x correctly rounded to the nearest multiple of
 * 0.01 (ties to even on the exact binary value); NaN and infinities
 * unchanged. */
double trace_py_round2(double x);

#endif
