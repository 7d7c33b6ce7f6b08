/* series_csv: write a series_table as an RCAEval-style CSV (data.csv): a
 * header `time,<col>,<col>,...`, then one row per table row. The testbed
 * writes its cases with it; users export with it.
 *
 * Cells: time in Unix seconds (an integer when the row time is a whole
 * second, else a decimal with up to 9 fraction digits, trailing zeros
 * cut); values in the shortest decimal that reads back to the same double
 * ("%.15g" when that round-trips, else "%.17g"); NaN as an empty cell
 * (pandas reads it as NaN); +-Inf as "inf"/"-inf". Names that hold a
 * comma, a quote, CR or LF are quoted (RFC 4180). So rcaeval_table_parse()
 * gives back the same table (times, values bit for bit, NaN as NaN).
 *
 * A column named "time" cannot be written (it would collide with the time
 * axis on reading back): that is an error.
 *
 * Errors: the functions return 0, or -1 with a message in err (a write
 * error with its errno text, or the column named "time"). */
#ifndef SKEWSCOPE_SERIES_CSV_H
#define SKEWSCOPE_SERIES_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct series_table;

/* The one CSV cell rule of the RCAEval writers (data.csv here, traces.csv
 * and logs.csv in output/traces_csv and the testbed's case recorder):
 * s as is, or quoted with its quotes doubled when it holds a comma, a
 * quote, CR or LF (RFC 4180). */
void series_csv_put_field(FILE *f, const char *s);

/* unix_ns in pandas' datetime spelling (UTC), as RCAEval's traces.csv and
 * logs.csv hold it: "2026-03-02 10:00:01.250000" (microseconds, truncated
 * toward zero). */
void series_csv_put_datetime(FILE *f, int64_t unix_ns);

/* Write t to f. Returns 0, or -1 when a write fails (message in err). */
int series_csv_write(FILE *f, const struct series_table *t, char *err,
                     size_t errlen);
/* Write t to the file at path (created or truncated; "-" = stdout). */
int series_csv_write_file(const char *path, const struct series_table *t,
                          char *err, size_t errlen);

#endif
