/* rcaeval: read RCAEval case folders, and RCAEval's preprocessing of a
 * case's metrics, matched to RCAEval (github.com/phamquiluan/RCAEval) and
 * the rca-llm benchmark that runs it (github.com/exalsius/rca-llm,
 * rca-benchmark/main.py and RCAEval/utility/__init__.py). docs/RCA.md
 * ("Data") lists every rule and every departure.
 *
 * A case folder holds:
 *   data.csv (or simple_metrics.csv)  `time` (Unix s) + one column per
 *                                     <service>_<metric>
 *   inject_time.txt                   first line: Unix seconds
 *   traces.csv (optional)             one span per row, RCAEval's columns
 *   logs.csv (optional)               one log line per row
 *   logts.csv, tracets_err.csv, tracets_lat.csv (optional): the series the
 *   multi-source methods read; computed from logs.csv / traces.csv when
 *   absent, exactly as rca-llm computes them (5 s windows of counts).
 * Its parent folder is named <service>_<fault>: the true root cause.
 *
 * Errors: negated enum ingest_status (ingest.h): -INGEST_E_MALFORMED with
 * "FILE:LINE:COL: what" in err (exit 65), -INGEST_E_NOINPUT (exit 66),
 * -INGEST_E_NOMEM (exit 70). Lines and columns count from 1; the column is
 * the byte column of the offending cell's first byte.
 *
 * Flow: case folder -> rcaeval_csv (strict CSV) -> series_table ->
 * rcaeval_prepare() -> src/rca methods. */
#ifndef SKEWSCOPE_RCAEVAL_H
#define SKEWSCOPE_RCAEVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct series_table;

/* ---------------------------------------------------------------------
 * Metric tables (data.csv and every other CSV with a `time` column)
 * --------------------------------------------------------------------- */

/* Parse a CSV with a header row into a table: the column named exactly
 * `time` (anywhere in the header) becomes the time axis (Unix seconds,
 * integer or decimal, read exactly into ns); every other column becomes a
 * table column named as in the header (entity = text before the first '_',
 * metric = the rest). Rows stay in file order, none are resampled.
 * Cells: empty, or one of pandas' default missing spellings (NaN, nan,
 * NA, N/A, null, NULL, None, ...; docs/RCA.md lists them) -> NaN;
 * inf/-inf/Infinity (any case, optional sign) -> +-Inf; otherwise a
 * decimal number (strtod syntax, no hex) or it is an error. A quoted field
 * is allowed anywhere (RFC 4180; "" inside quotes is a quote). A final
 * line without newline is accepted, CRLF line ends too.
 * Named errors (exit 65): empty file, header with an empty or duplicate
 * column name, no `time` column, a row with fewer or more cells than the
 * header (ragged), a non-numeric cell, a missing or non-numeric time, an
 * unterminated quote, a byte after a closing quote.
 * `name` labels messages. Returns 0 with *out set, or a negated
 * ingest_status with *out NULL. */
int rcaeval_table_parse(const char *name, const char *buf, size_t len,
                        struct series_table **out, char *err, size_t errlen);
/* The same, reading the file at path (gzip-compressed files too). */
int rcaeval_table_read(const char *path, struct series_table **out, char *err,
                       size_t errlen);

/* ---------------------------------------------------------------------
 * Traces and logs of a case
 * --------------------------------------------------------------------- */

/* A name index meaning "missing in the file" (empty or a NaN spelling). */
#define RCAEVAL_NO_NAME UINT32_MAX
/* methodName was missing: method holds operationName (RCAEval's fillna). */
#define RCAEVAL_SPAN_NO_METHOD 0x1

/* One row of traces.csv. Strings are owned by the struct rcaeval_traces;
 * name indices are RCAEVAL_NO_NAME when the cell was missing. */
struct rcaeval_span {
    const char *trace_id;  /* traceID */
    const char *span_id;   /* spanID */
    const char *parent_id; /* parentSpanID ("" when missing) */
    uint32_t service;      /* serviceName: index into names[] */
    uint32_t method;       /* methodName, or operationName when methodName
                              is missing (RCAEval's fillna) */
    uint32_t operation;    /* operationName */
    int64_t start_ms;      /* startTimeMillis, Unix ms */
    int64_t start_us;      /* startTime, Unix us */
    double duration_us;    /* duration, us */
    double status_code;    /* statusCode; NaN when missing */
    unsigned flags;        /* RCAEVAL_SPAN_* */
};

/* traces.csv. Required columns: traceID, spanID, serviceName,
 * operationName, startTime or startTimeMillis (each derived from the
 * other when one is missing), duration. Optional: parentSpanID,
 * methodName, statusCode. Other columns are ignored. */
struct rcaeval_traces {
    struct rcaeval_span *spans;
    size_t nspans;
    char **names; /* interned service / method / operation names */
    size_t nnames;
    char **arena; /* private: blocks holding the ID strings */
    size_t narena;
};

/* One row of logs.csv. */
struct rcaeval_log {
    int64_t time_ns;     /* `timestamp` column: Unix ns */
    uint32_t container;  /* container_name: index into names[], or
                            RCAEVAL_NO_NAME */
    const char *message; /* message ("" when the column is absent) */
};

/* logs.csv. Required columns: container_name and timestamp (Unix ns, as
 * rca-llm writes it). Optional: message. Others ignored. */
struct rcaeval_logs {
    struct rcaeval_log *logs;
    size_t nlogs;
    char **names; /* interned container names */
    size_t nnames;
    char **arena; /* private: blocks holding the messages */
    size_t narena;
};

int rcaeval_traces_parse(const char *name, const char *buf, size_t len,
                         struct rcaeval_traces **out, char *err, size_t errlen);
int rcaeval_traces_read(const char *path, struct rcaeval_traces **out,
                        char *err, size_t errlen);
void rcaeval_traces_destroy(struct rcaeval_traces *tr);

int rcaeval_logs_parse(const char *name, const char *buf, size_t len,
                       struct rcaeval_logs **out, char *err, size_t errlen);
int rcaeval_logs_read(const char *path, struct rcaeval_logs **out, char *err,
                      size_t errlen);
void rcaeval_logs_destroy(struct rcaeval_logs *lg);

/* rca-llm's _create_logts_infos(): one row per 5 s window that holds at
 * least one log line (time = floor(timestamp_ms / window_ms) * (window_ms /
 * 1000), Unix s), sorted by time; one column per container (named as the
 * container, sorted by byte order); values = number of lines in the window.
 * window_ms = 0 means 5000. Returns 0 with *out, or -INGEST_E_NOMEM. */
int rcaeval_logts(const struct rcaeval_logs *lg, int64_t window_ms,
                  struct series_table **out);

/* rca-llm's _create_tracets_infos(): rows = every 5 s window holding any
 * span (floor(startTimeMillis / window_ms) * (window_ms / 1000)), sorted;
 * columns "<serviceName>_<methodName>" sorted by byte order; values = the
 * number of spans with 200 <= statusCode < 300 (success = true: the file
 * tracets_lat.csv) or with any other status, NaN included (success =
 * false: tracets_err.csv). Note: rca-llm's tracets_lat holds counts of
 * successful spans, not latencies; this follows it. */
int rcaeval_tracets(const struct rcaeval_traces *tr, int64_t window_ms,
                    bool success, struct series_table **out);

/* ---------------------------------------------------------------------
 * A case folder
 * --------------------------------------------------------------------- */

#define RCAEVAL_DERIVED_LOGTS 0x1       /* logts computed from logs.csv */
#define RCAEVAL_DERIVED_TRACETS_ERR 0x2 /* from traces.csv */
#define RCAEVAL_DERIVED_TRACETS_LAT 0x4 /* from traces.csv */

struct rcaeval_case {
    char *dir;                    /* the folder as given */
    char *metrics_path;           /* dir/data.csv or dir/simple_metrics.csv */
    struct series_table *metrics; /* as read: no preprocessing */
    int64_t inject_time_s;        /* first line of inject_time.txt */
    bool has_inject_time;         /* false when the file is absent */
    /* From the parent folder's name "<service>_<fault>" (split at the
     * first '_'); NULL when it has no '_'. */
    char *root_service;
    char *fault;
    struct rcaeval_traces *traces; /* NULL without traces.csv */
    struct rcaeval_logs *logs;     /* NULL without logs.csv */
    /* Read from their files, else derived (flags in `derived`), else NULL
     * when neither the file nor its source is there. */
    struct series_table *logts;
    struct series_table *tracets_err;
    struct series_table *tracets_lat;
    unsigned derived; /* RCAEVAL_DERIVED_* */
};

struct rcaeval_read_opts {
    bool metrics_only; /* skip traces, logs and the derived series */
};

/* Read the case folder dir (opts may be NULL: read everything). Missing
 * data.csv and simple_metrics.csv is -INGEST_E_NOINPUT naming both; a
 * malformed inject_time.txt is -INGEST_E_MALFORMED. Returns 0 with *out
 * set, or a negated ingest_status with *out NULL. */
int rcaeval_case_read(const char *dir, const struct rcaeval_read_opts *opts,
                      struct rcaeval_case **out, char *err, size_t errlen);
void rcaeval_case_destroy(struct rcaeval_case *c);

/* ---------------------------------------------------------------------
 * Preprocessing, as rca-llm's main.py process()
 * --------------------------------------------------------------------- */

struct rcaeval_prep {
    /* Rows kept on each side of the inject time: main.py's
     * length * 60 // 2 with --length in minutes (default 20 -> 600 rows,
     * i.e. 10 minutes at RCAEval's 1 s step). 0 means 600. */
    size_t rows_each_side;
    int64_t tdelta_s; /* main.py --tdelta: added to the inject time */
    /* main.py's llm-ref-stack branch: also drop the columns whose name
     * contains "_pod_", "_node_" or "unknown". */
    bool llm_ref_stack;
};

/* rca-llm's --length in minutes -> rows_each_side (length * 60 / 2). */
static inline size_t rcaeval_rows_for_length(unsigned length_min)
{
    return (size_t)length_min * 60 / 2;
}

/* main.py's preprocessing of a case's metrics, in its order:
 *  1. drop the columns whose name ends in "_latency-50";
 *  2. +-Inf -> missing; forward fill; remaining missing -> 0;
 *  3. with T = inject_time_s + tdelta_s: the last rows_each_side rows (in
 *     file order) with time < T, then the first rows_each_side rows with
 *     time >= T;
 *  4. rename "<x>_latency-90" to "<x>_latency";
 *  5. llm_ref_stack: drop "_pod_", "_node_", "unknown" columns.
 * Constant columns are NOT dropped here: the methods drop them per window
 * with series_table_preprocess_rcaeval(), as RCAEval does. *inject_ns gets
 * T in Unix ns (may be NULL). raw is unchanged. Returns 0 with *out set or
 * -INGEST_E_NOMEM. */
int rcaeval_prepare(const struct series_table *raw, int64_t inject_time_s,
                    const struct rcaeval_prep *p, struct series_table **out,
                    int64_t *inject_ns);

#endif
