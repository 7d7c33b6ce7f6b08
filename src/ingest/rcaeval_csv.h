/* rcaeval_csv: a small strict CSV scanner (RFC 4180) for RCAEval's case
 * files (data.csv, traces.csv, logs.csv, logts.csv, ...). It pulls bytes
 * from a struct source (files, stdin, gzip, memory) through one refillable
 * buffer, so memory is bounded by the longest field, not the file size,
 * and every field carries its line and byte column for error messages.
 *
 * Why not libcsv (Debian's libcsv3): it reports a parse error without a
 * position (we must name line and column), leaves quote handling of
 * malformed input to a lenient default, and is unmaintained upstream since
 * 3.0.3 (2013); the grammar below is ~150 lines.
 *
 * Grammar: fields separated by ',', rows ended by LF, CRLF or a lone CR (a
 * final row without a line end is accepted); a field is either raw bytes
 * without ',', '"', CR, LF, or '"'-quoted with '""' for a quote inside and
 * any byte (line ends included) between the quotes. A '"' inside a raw
 * field, bytes after a closing quote and an unterminated quote are errors.
 * Empty lines between rows are skipped (pandas' skip_blank_lines). A
 * UTF-8 byte order mark at the start is skipped.
 *
 * Flow: source -> rcaeval_csv -> rcaeval.c readers -> series_table. */
#ifndef SKEWSCOPE_RCAEVAL_CSV_H
#define SKEWSCOPE_RCAEVAL_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct source;
struct rcaeval_csv;

/* One field. p holds len bytes (quotes removed, "" unescaped) followed by
 * a NUL; valid until the next rcaeval_csv_next() call. line and col (from
 * 1) give the position of the field's first byte. */
struct rcaeval_csv_field {
    const char *p;
    size_t len;
    bool quoted;
    uint64_t line;
    uint64_t col;
};

/* A scanner over src (borrowed; close it after rcaeval_csv_destroy()).
 * Returns NULL when out of memory. */
struct rcaeval_csv *rcaeval_csv_create(struct source *src);
void rcaeval_csv_destroy(struct rcaeval_csv *c);

/* Initial buffer size of new scanners in bytes (0 restores the default,
 * 64 KiB; values below 4 count as 4). For tests and fuzzing, which use
 * tiny buffers so that every field straddles a refill. Process-wide: set
 * it before starting readers, not while any run. */
void rcaeval_csv_set_default_bufsize(size_t bufsize);

/* The next field. Returns 1 when the field is followed by another in its
 * row, 2 when it ends its row, 0 at the end of the input (only at a row
 * start), or a negated ingest_status (message in rcaeval_csv_message()).
 * Errors are sticky. */
int rcaeval_csv_next(struct rcaeval_csv *c, struct rcaeval_csv_field *f);

/* Record a malformed-input error at (line, col): the message becomes
 * "NAME:LINE:COL: " + the formatted text. Returns -INGEST_E_MALFORMED.
 * Later calls of rcaeval_csv_next() return the same error. */
int rcaeval_csv_fail(struct rcaeval_csv *c, uint64_t line, uint64_t col,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The error message ("" when none) and the source's name. */
const char *rcaeval_csv_message(const struct rcaeval_csv *c);
const char *rcaeval_csv_name(const struct rcaeval_csv *c);

/* ---- header rows and row shapes: the checks every RCAEval file shares */

/* A header row: n names (malloc'd, NUL-terminated) and the line and column
 * of each, for messages. */
struct rcaeval_csv_header {
    char **names;
    uint64_t *line, *col;
    size_t n;
};

/* Read the first row as the header. Errors (named, -INGEST_E_MALFORMED):
 * an empty file, an empty name ("column N of the header has no name"), a
 * name holding a NUL byte, a repeated name ("duplicate column name",
 * at the second occurrence). *h is always safe to free afterwards. */
int rcaeval_csv_header_read(struct rcaeval_csv *c,
                            struct rcaeval_csv_header *h);
void rcaeval_csv_header_free(struct rcaeval_csv_header *h);
/* Index of the column with this exact name, or -1. */
int64_t rcaeval_csv_header_find(const struct rcaeval_csv_header *h,
                                const char *name);

/* The ragged-row rule: f is cell k (from 0) of a row, rc the status
 * rcaeval_csv_next() gave for it, n the header's width. Returns 0 while the
 * row's shape is right, else the error: "row has more cells than the
 * header's N" (at the first extra cell) or "row has K cells, the header has
 * N" (at the end of the short row). */
int rcaeval_csv_row_shape(struct rcaeval_csv *c,
                          const struct rcaeval_csv_field *f, int rc, size_t k,
                          size_t n);

/* Read one row of n cells (the header's width), handing each to
 * cell(ctx, k, f) in order, with the ragged-row rule applied. Returns 1
 * after a whole row, 0 at the end of the input (no cell read), or the
 * first negative status of the reader, the shape rule or cell (which
 * stops the row). */
int rcaeval_csv_row(struct rcaeval_csv *c, size_t n,
                    int (*cell)(void *ctx, size_t k,
                                const struct rcaeval_csv_field *f),
                    void *ctx);

/* Cell or name text for messages: at most n-1 bytes of p[0..len),
 * non-printing bytes as '?'. Returns buf. */
const char *rcaeval_csv_text(const char *p, size_t len, char *buf, size_t n);

/* Run a reader over a file (gzip too) or over memory: opens the source
 * and a scanner, calls fn(scanner, out), and turns its negated status into
 * a message in err (the scanner's "NAME:LINE:COL: ..." message, or "NAME:
 * out of memory"). Returns fn's status, or -INGEST_E_NOINPUT when the file
 * cannot be opened. */
typedef int (*rcaeval_csv_fn)(struct rcaeval_csv *c, void *out);
int rcaeval_csv_run_file(const char *path, rcaeval_csv_fn fn, void *out,
                         char *err, size_t errlen);
int rcaeval_csv_run_memory(const char *name, const char *buf, size_t len,
                           rcaeval_csv_fn fn, void *out, char *err,
                           size_t errlen);

/* ---- cell spellings */

/* The cell spellings shared by every RCAEval CSV reader:
 *  - missing: empty, or one of pandas' default NA strings ("", "#N/A",
 *    "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
 *    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan",
 *    "null") -> true.
 *  - number: optional spaces, [+-] digits [. digits] [(e|E) [+-] digits]
 *    (or . digits), optional spaces; or inf / infinity (any case, optional
 *    sign) -> true with *v. Anything else (hex, "1,5", "12abc") -> false. */
bool rcaeval_csv_is_missing(const char *p, size_t len);
bool rcaeval_csv_number(const char *p, size_t len, double *v);

/* rcaeval_csv_number() for a field the scanner returned (faster: its text
 * is NUL-terminated, so strtod reads it in place). */
bool rcaeval_csv_field_number(const struct rcaeval_csv_field *f, double *v);

/* A decimal Unix-seconds time ("1700000000", "1700000000.25", "-3.5",
 * "1.7e9") -> Unix ns, exact for up to 9 fraction digits (more are
 * rounded half away from zero); false when it is not a number or is out of
 * int64 ns range. */
bool rcaeval_csv_time_s(const char *p, size_t len, int64_t *ns);

/* An integer cell ("1700000000123", "-5", "3.0", "1.7e12") -> *v; false
 * when not an integral number within int64. */
bool rcaeval_csv_int64(const char *p, size_t len, int64_t *v);

#endif
