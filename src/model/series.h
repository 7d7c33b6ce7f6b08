/* series: the one metric time-series model, read by RCA (src/rca) and by
 * imbalance detection (src/imbalance) alike.
 *
 * Two shapes:
 *  - struct series_store: raw samples. A series is keyed (entity, metric,
 *    labels) -> a dense id; each holds int64 Unix-ns times (ascending) and
 *    double values, and is a gauge or a counter. Readers of scrapes
 *    (Prometheus text, query_range JSON, the host collector) append here;
 *    serve appends live and bounds memory with a horizon.
 *  - struct series_table: an aligned grid. One time axis (nrows times) and
 *    ncols columns of doubles, column-major, NaN = missing. Built from a
 *    store (series_table_from_store: last / mean / counter rate per
 *    interval) or read directly (RCAEval's data.csv rows kept as they are,
 *    without resampling, so that RCAEval's preprocessing is matched
 *    exactly). RCA methods read tables.
 *
 * Column names are "<entity>_<metric>"; the service of a column (RCAEval's
 * evaluation rule) is the text before its first '_' (series_service_of()).
 *
 * Counter handling (increase with wrap and reset detection) lives here
 * once: series_counter_delta(), used by the RATE/INCREASE aggregations and
 * by anyone else who differences counters.
 *
 * Errors: functions that can fail return 0 (or an id/count >= 0) and a
 * negated enum series_status; series_strerror() names it. Nothing here
 * does I/O, starts threads or exits.
 *
 * Threads: not thread-safe. One thread builds and reads a store; tables are
 * plain values that may be handed to another thread whole.
 *
 * Flow: src/ingest (rcaeval, prom_text, prom_range) -> series_store /
 * series_table -> src/rca, src/imbalance -> src/output (series_csv). */
#ifndef SKEWSCOPE_SERIES_H
#define SKEWSCOPE_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status codes, returned negated. */
enum series_status {
    SERIES_OK = 0,
    SERIES_E_NOMEM = 1,    /* out of memory (callers map it to exit 70) */
    SERIES_E_KIND = 2,     /* key already registered with another kind */
    SERIES_E_INVAL = 3,    /* bad argument: unknown id, step <= 0, ... */
    SERIES_E_MISMATCH = 4, /* tables whose columns do not match */
};

/* Static message for a status (positive or negated). */
const char *series_strerror(int status);

enum series_kind {
    SERIES_GAUGE = 0,   /* a value at an instant */
    SERIES_COUNTER = 1, /* monotonic total; decreases are wraps or resets */
};

/* No series / no column. */
#define SERIES_NONE UINT32_MAX

/* One label. Strings are NUL-terminated; in arguments they are borrowed,
 * in results they are owned by the store or table that returned them. */
struct series_label {
    const char *name;
    const char *value;
};

/* ---------------------------------------------------------------------
 * Counters
 * --------------------------------------------------------------------- */

/* Increase of a counter from sample `prev` to the next sample `cur`.
 *  - cur >= prev: cur - prev.
 *  - cur < prev and wrap > 0 and (wrap - prev) + cur < wrap / 2: the
 *    counter wrapped at `wrap` (e.g. 4294967296.0 for a 32-bit counter):
 *    (wrap - prev) + cur.
 *  - otherwise cur < prev is a reset (the process restarted and counts from
 *    0 again, as Prometheus assumes): cur.
 * NaN in, NaN out. Never negative otherwise. Pure; usable anywhere. */
double series_counter_delta(double prev, double cur, double wrap);

/* ---------------------------------------------------------------------
 * Store of raw samples
 * --------------------------------------------------------------------- */

struct series_store;

/* Returns a new empty store, or NULL when out of memory. */
struct series_store *series_store_create(void);
void series_store_destroy(struct series_store *s);

/* What identifies a series, plus its kind. entity and metric are required
 * (may be "", not NULL). Labels may come in any order; the store keeps
 * them sorted by name, so {a,b} and {b,a} are one key. A label with an
 * empty value is the same as no label (Prometheus semantics) and is
 * dropped. Duplicate label names are an error (-SERIES_E_INVAL). */
struct series_desc {
    const char *entity; /* service, stage, host or rank group: "decode" */
    const char *metric; /* "cpu", "vllm:num_requests_running", ... */
    const struct series_label *labels;
    size_t nlabels;
    enum series_kind kind;
    /* Counters only: modulus at which the counter wraps (2^32, 2^64 as a
     * double), 0 = it never wraps (a decrease is a reset). */
    double wrap;
};

/* Find the series with this key, or create it. Returns its id (>= 0; ids
 * are dense 0 .. series_store_count()-1 and never change), or
 * -SERIES_E_KIND when the key exists with another kind, -SERIES_E_INVAL for
 * NULL entity/metric or duplicate label names, -SERIES_E_NOMEM. The wrap of
 * an existing counter is updated when d->wrap > 0. */
int64_t series_store_intern(struct series_store *s,
                            const struct series_desc *d);

/* Id of the series with this key (labels as for intern), or -1. */
int64_t series_store_find(const struct series_store *s, const char *entity,
                          const char *metric, const struct series_label *labels,
                          size_t nlabels);

/* Append one sample: t_ns in Unix nanoseconds, v any double (NaN is kept
 * as a missing sample, +-Inf as given). Samples normally come in time
 * order; a sample with the same time as a stored one replaces its value,
 * an older one is inserted in order (slower: a move). Returns 0,
 * -SERIES_E_INVAL (bad id) or -SERIES_E_NOMEM. When a horizon is set, old
 * samples of this series may be dropped (series_store_set_horizon()). */
int series_store_append(struct series_store *s, uint32_t id, int64_t t_ns,
                        double v);

/* Bounded memory for live use: after each append to a series, its samples
 * older than (that series' newest time - horizon_ns) are dropped, except
 * the newest of them, kept as the baseline for LAST and RATE at the window
 * start. 0 (the default) keeps everything. */
void series_store_set_horizon(struct series_store *s, int64_t horizon_ns);

/* Drop, in every series, the samples older than before_ns except the
 * newest of them (same rule as the horizon). Returns the number dropped. */
size_t series_store_trim(struct series_store *s, int64_t before_ns);

size_t series_store_count(const struct series_store *s);

/* Properties of series id (< count). Strings are owned by the store and
 * live as long as it. */
const char *series_entity(const struct series_store *s, uint32_t id);
const char *series_metric(const struct series_store *s, uint32_t id);
enum series_kind series_kind(const struct series_store *s, uint32_t id);
double series_wrap(const struct series_store *s, uint32_t id);
/* The series' labels, sorted by name; *n gets their count. */
const struct series_label *series_labels(const struct series_store *s,
                                         uint32_t id, size_t *n);
/* Value of one label, or NULL when the series lacks it. */
const char *series_label(const struct series_store *s, uint32_t id,
                         const char *name);

/* The samples of series id: len, and pointers to len times (ascending,
 * Unix ns) and len values. The pointers stay valid until the next append
 * or trim on this store. */
size_t series_len(const struct series_store *s, uint32_t id);
const int64_t *series_times(const struct series_store *s, uint32_t id);
const double *series_values(const struct series_store *s, uint32_t id);

/* Samples of series id with t0_ns <= time < t1_ns: returns their count and
 * sets *first to the index of the first (binary search). */
size_t series_range(const struct series_store *s, uint32_t id, int64_t t0_ns,
                    int64_t t1_ns, size_t *first);

/* Ids of the series matching entity (NULL = any), metric (NULL = any) and
 * every label in match[0..nmatch) (name = value). Writes up to max ids, in
 * id order, into ids (may be NULL when max is 0) and returns how many
 * match in total. */
size_t series_store_select(const struct series_store *s, const char *entity,
                           const char *metric, const struct series_label *match,
                           size_t nmatch, uint32_t *ids, size_t max);

/* Earliest and latest sample time over the given series (ids NULL = all).
 * Returns false when they hold no sample. */
bool series_store_time_span(const struct series_store *s, const uint32_t *ids,
                            size_t nids, int64_t *tmin_ns, int64_t *tmax_ns);

/* Bytes the store holds on the heap. */
size_t series_store_memory(const struct series_store *s);

/* ---------------------------------------------------------------------
 * Tables: an aligned grid
 * --------------------------------------------------------------------- */

/* One column's identity. All strings are owned by the table. */
struct series_col {
    char *name;   /* "<entity>_<metric>", or as read from a CSV header */
    char *entity; /* RCAEval tables: the text before the first '_' */
    char *metric; /* RCAEval tables: the text after it ("" when none) */
    struct series_label *labels; /* sorted by name; NULL when none */
    size_t nlabels;
    enum series_kind kind; /* SERIES_GAUGE for tables read from CSV */
    uint32_t series; /* source series id, or SERIES_NONE (read from CSV) */
};

/* The grid. Fields are public and read directly by methods; change them
 * only through the functions below. Invariants: time_ns has nrows
 * entries, values has ncols * nrows, column c's values are values[c *
 * nrows + r] for row r (column-major), cols has ncols entries. Row times
 * are Unix ns; rows of a table read from CSV are in file order (not
 * necessarily sorted), rows built from a store ascend. */
struct series_table {
    size_t nrows;
    size_t ncols;
    int64_t *time_ns;
    double *values;
    struct series_col *cols;
};

/* New table of nrows x ncols, times 0, values NaN, columns named "" (set
 * them with series_table_set_name()). Returns NULL when out of memory. */
struct series_table *series_table_create(size_t nrows, size_t ncols);
void series_table_destroy(struct series_table *t);
/* A deep copy, or NULL when out of memory. */
struct series_table *series_table_copy(const struct series_table *t);

/* Column c's nrows values (column-major storage makes this a pointer). */
static inline double *series_table_col(const struct series_table *t, size_t c)
{
    return t->values + c * t->nrows;
}

/* Name column c from a CSV header: name as given, entity the text before
 * the first '_', metric the rest (RCAEval's rule). Returns 0 or
 * -SERIES_E_NOMEM. */
int series_table_set_name(struct series_table *t, size_t c, const char *name);
/* Name column c from its parts: name "<entity>_<metric>" followed, when
 * nlabels > 0, by "{k1="v1",k2="v2"}" (labels sorted by name, values with
 * '"' and '\' escaped as in Prometheus). Returns 0 or -SERIES_E_NOMEM. */
int series_table_set_parts(struct series_table *t, size_t c, const char *entity,
                           const char *metric,
                           const struct series_label *labels, size_t nlabels);

/* Index of the first column with this exact name, or -1. */
int64_t series_table_find(const struct series_table *t, const char *name);
/* Index of the first column with this entity and metric, or -1. */
int64_t series_table_find_metric(const struct series_table *t,
                                 const char *entity, const char *metric);

/* Service of a column name: the text before the first '_' (the whole name
 * when there is none). Returns name and sets *len; not NUL-terminated at
 * len. This is RCAEval's evaluation rule; every ranking-to-service step
 * uses it. */
const char *series_service_of(const char *name, size_t *len);

/* New tables from parts of t (deep copies; t is unchanged). Each returns 0
 * with *out set, or a negated status with *out NULL.
 *  - select: columns cols[0..n) in that order (an index >= ncols:
 *    -SERIES_E_INVAL).
 *  - take_rows: rows rows[0..n) in that order (index >= nrows: INVAL).
 *  - rows: rows r0 .. r1-1 (clamped to nrows).
 *  - window: the rows with t0_ns <= time < t1_ns, in table order (works on
 *    unsorted tables; INT64_MIN / INT64_MAX leave an end open). */
int series_table_select(const struct series_table *t, const size_t *cols,
                        size_t n, struct series_table **out);
int series_table_take_rows(const struct series_table *t, const size_t *rows,
                           size_t n, struct series_table **out);
int series_table_rows(const struct series_table *t, size_t r0, size_t r1,
                      struct series_table **out);
int series_table_window(const struct series_table *t, int64_t t0_ns,
                        int64_t t1_ns, struct series_table **out);

/* In place: keep column c iff keep[c]; the others are freed and the kept
 * ones close up in order. */
void series_table_keep_columns(struct series_table *t, const bool *keep);

/* In place: keep only the columns whose name appears in both a and b, in
 * each table's own order (RCAEval's "intersect" of the normal and the
 * anomalous window; with the same source both end in a's order). */
void series_table_intersect(struct series_table *a, struct series_table *b);

/* In place, value by value (pandas semantics):
 *  - inf_to_nan: +-Inf -> NaN (data.replace([inf, -inf], nan)).
 *  - ffill: each NaN takes the previous row's value in its column; leading
 *    NaN stay (fillna(method="ffill")).
 *  - fill: each NaN becomes v (fillna(v)). */
void series_table_inf_to_nan(struct series_table *t);
void series_table_ffill(struct series_table *t);
void series_table_fill(struct series_table *t, double v);

/* RCAEval's drop_constant(): drop every column in which no value differs
 * from the column's first value, with pandas' comparison (NaN differs from
 * everything, itself included, so a column holding a NaN is kept). A table
 * with no rows loses every column (pandas would raise). Returns how many
 * columns were dropped. */
size_t series_table_drop_constant(struct series_table *t);

/* RCAEval's convert_mem_mb(): columns whose name ends in "_mem" are divided
 * by 1e6. */
void series_table_mem_to_mb(struct series_table *t);

/* RCAEval's preprocess(data, dataset=<any>, dk_select_useful=False), which
 * every metric method applies to each window it scores: drop_time (a no-op
 * here: the time axis is not a column), drop_constant, convert_mem_mb.
 * Returns the number of columns dropped. */
size_t series_table_preprocess_rcaeval(struct series_table *t);

/* ---------------------------------------------------------------------
 * Alignment: store -> table
 * --------------------------------------------------------------------- */

/* How the samples of one series become the value of one row. Row k has
 * time t_k = t0_ns + k * step_ns and covers the interval
 * I_k = [t_k, t_k + step_ns) (left label, left-closed, as RCAEval's own
 * 5 s trace and log windows). Missing -> NaN. */
enum series_agg {
    SERIES_AGG_AUTO = 0, /* LAST for gauges, RATE for counters */
    SERIES_AGG_LAST,     /* the last sample with time < t_k + step, if its
                            time >= t_k + step - max(step, lookback_ns) */
    SERIES_AGG_MEAN,     /* mean of the samples in I_k (NaN samples skipped) */
    SERIES_AGG_MAX,      /* largest sample in I_k */
    SERIES_AGG_MIN,      /* smallest sample in I_k */
    SERIES_AGG_SUM,      /* sum of the samples in I_k */
    SERIES_AGG_COUNT,    /* number of non-NaN samples in I_k (never NaN) */
    SERIES_AGG_INCREASE, /* counter increase: the sum of
                            series_counter_delta(prev, cur, wrap) over the
                            consecutive sample pairs whose later sample lies
                            in I_k (the earlier may precede I_k; pairs
                            further apart than max_gap_ns, when > 0, are
                            skipped); NaN when no pair qualifies. Summed
                            over rows this is the exact total increase: no
                            extrapolation, unlike PromQL's increase(). */
    SERIES_AGG_RATE,     /* INCREASE / (step_ns / 1e9): per second */
};

struct series_align {
    int64_t t0_ns;   /* time of row 0, Unix ns */
    int64_t step_ns; /* > 0 */
    size_t nrows;
    enum series_agg agg;
    int64_t lookback_ns; /* LAST: how old a carried value may be (0: step) */
    int64_t max_gap_ns;  /* INCREASE/RATE: 0 = any gap */
};

/* The grid covering every sample of the given series (ids NULL = all):
 * t0 = the earliest time floored to a multiple of step_ns, nrows so that
 * the latest sample falls in the last row. Returns false when there is no
 * sample or step_ns <= 0. Other fields of *a are left as they are. */
bool series_align_cover(const struct series_store *s, const uint32_t *ids,
                        size_t nids, int64_t step_ns, struct series_align *a);

/* Build a table from series ids[0..nids) (NULL = every series, in id
 * order), one column per series in that order, named with
 * series_table_set_parts(): labels appear in the name only when two chosen
 * series share entity and metric. Returns 0 with *out set, or
 * -SERIES_E_INVAL (bad id, step <= 0) / -SERIES_E_NOMEM with *out NULL. */
int series_table_from_store(const struct series_store *s, const uint32_t *ids,
                            size_t nids, const struct series_align *a,
                            struct series_table **out);

/* Load a table into a store: one series per column (entity, metric and
 * labels of the column, its kind, wrap 0), one sample per non-NaN cell at
 * the row's time. If ids is not NULL, ids[c] gets column c's series id.
 * Returns 0 or a negated status (-SERIES_E_KIND when a column's key exists
 * with another kind). */
int series_store_add_table(struct series_store *s, const struct series_table *t,
                           uint32_t *ids);

#endif
