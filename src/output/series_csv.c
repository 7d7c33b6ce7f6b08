/* series_csv: series_table -> RCAEval-style CSV (data.csv). The spelling
 * of every cell is chosen so that rcaeval_table_parse() reads the same
 * table back. See series_csv.h. */
#include "output/series_csv.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/series.h"

void series_csv_put_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void series_csv_put_datetime(FILE *f, int64_t unix_ns)
{
    time_t sec = (time_t)(unix_ns / 1000000000);
    struct tm tm;
    char buf[32];

    gmtime_r(&sec, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(f, "%s.%06" PRId64, buf, (unix_ns % 1000000000) / 1000);
}

/* Unix ns -> seconds, exact: "1700000000" or "1700000000.25". */
static void put_time(FILE *f, int64_t ns)
{
    uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    uint64_t whole = a / 1000000000u, frac = a % 1000000000u;
    char fs[16];
    int n;

    fprintf(f, "%s%" PRIu64, ns < 0 ? "-" : "", whole);
    if (!frac)
        return;
    n = snprintf(fs, sizeof fs, "%09" PRIu64, frac);
    while (n > 0 && fs[n - 1] == '0')
        fs[--n] = 0;
    fprintf(f, ".%s", fs);
}

/* The shortest of %.15g, %.16g, %.17g that reads back to v. */
static void put_value(FILE *f, double v)
{
    char buf[40];

    if (isnan(v))
        return;
    if (isinf(v)) {
        fputs(v > 0 ? "inf" : "-inf", f);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

int series_csv_write(FILE *f, const struct series_table *t, char *err,
                     size_t errlen)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c].name, "time")) {
            snprintf(err, errlen,
                     "column %zu is named \"time\", which is the time axis",
                     c + 1);
            return -1;
        }
    fputs("time", f);
    for (size_t c = 0; c < t->ncols; c++) {
        fputc(',', f);
        series_csv_put_field(f, t->cols[c].name);
    }
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
        put_time(f, t->time_ns[r]);
        for (size_t c = 0; c < t->ncols; c++) {
            fputc(',', f);
            put_value(f, series_table_col(t, c)[r]);
        }
        fputc('\n', f);
    }
    if (fflush(f) != 0 || ferror(f)) {
        snprintf(err, errlen, "write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int series_csv_write_file(const char *path, const struct series_table *t,
                          char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
    int rc;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    rc = series_csv_write(f, t, err, errlen);
    if (f != stdout && fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc < 0 && strncmp(err, path, strlen(path))) {
        char tmp[256];

        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "%s: %s", path, tmp);
    }
    return rc;
}
