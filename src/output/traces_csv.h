/* traces_csv: OTLP JSON spans -> RCAEval's traces.csv, the span table the
 * trace-based RCA methods read (src/ingest/rcaeval.h, rcaeval_traces_*).
 *
 * The rules are those the testbed's case recorder applies to a run's
 * spans (src/testbed/case_record.c), so a trace file converted here gives
 * the traces.csv the testbed would have written for it; the skew
 * experiment (scripts/rca_skew.sh) uses that to turn the output of
 * `skewscope correct` into a case:
 *   - one row per span, INTERNAL spans (kind 1) left out (network-level
 *     traces hold none), unless keep_internal;
 *   - serviceName: the resource's host.name without its "node-" prefix
 *     (the testbed's stage), else service.name, else "unknown";
 *   - methodName = operationName = the span's name;
 *   - time (pandas' datetime spelling, UTC), startTimeMillis, startTime
 *     (us), duration (us): from startTimeUnixNano / endTimeUnixNano,
 *     truncated toward zero;
 *   - statusCode 500 for a span with a string attribute "error" or status
 *     code 2 (ERROR), else 200;
 *   - rows in order of start time, equal starts in input order.
 * Columns: time,traceID,spanID,parentSpanID,serviceName,methodName,
 * operationName,startTimeMillis,startTime,duration,statusCode. Names with
 * a comma, quote, CR or LF are quoted (RFC 4180).
 *
 * Input: one or more OTLP JSON documents ({"resourceSpans": [...]}) one
 * after another, with any white space between (JSON lines as the testbed
 * and `correct` write, or one pretty document). Each document is held in
 * memory while it is read; the rows of all of them until the end (they
 * are sorted).
 *
 * Errors: negated enum ingest_status (src/ingest/ingest.h) with a message
 * in err: -INGEST_E_NOINPUT (cannot open or read: exit 66),
 * -INGEST_E_MALFORMED ("FILE: document N, line L, column C: ...": exit
 * 65), -INGEST_E_NOMEM (exit 70); a write failure is -INGEST_E_NOINPUT
 * naming the output. Nothing is left half-written by the _file variant
 * on a read error: the output is opened only after the input was read.
 *
 * Threads: no shared state; any thread may convert. */
#ifndef SKEWSCOPE_TRACES_CSV_H
#define SKEWSCOPE_TRACES_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct traces_csv_opts {
    bool keep_internal; /* also write INTERNAL spans */
};

/* Read OTLP JSON from in (name labels messages), write traces.csv to out.
 * *nrows (may be NULL) gets the rows written. o may be NULL (defaults). */
int traces_csv_convert(FILE *in, const char *name, FILE *out,
                       const struct traces_csv_opts *o, size_t *nrows,
                       char *err, size_t errlen);

/* The same from the file at in_path to the file at out_path ("-": stdout),
 * created or truncated. */
int traces_csv_convert_file(const char *in_path, const char *out_path,
                            const struct traces_csv_opts *o, size_t *nrows,
                            char *err, size_t errlen);

#endif
