/* libFuzzer target: the RCAEval CSV readers (ingest/rcaeval.h) on
 * arbitrary bytes: as a metric table, as traces.csv and as logs.csv, with
 * the scanner buffer size derived from the input so that tiny buffers
 * (every field straddling a refill) are exercised too. A table that parses
 * must survive rca-llm's preprocessing, RCAEval's per-window preprocess,
 * and a round trip through the CSV writer unchanged, bit for bit. */
#define _GNU_SOURCE
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rcaeval.h"
#include "ingest/rcaeval_csv.h"
#include "model/series.h"
#include "output/series_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_table(const struct series_table *a,
                       const struct series_table *b)
{
    if (a->nrows != b->nrows || a->ncols != b->ncols)
        abort();
    if (a->nrows &&
        memcmp(a->time_ns, b->time_ns, a->nrows * sizeof(*a->time_ns)))
        abort();
    for (size_t c = 0; c < a->ncols; c++)
        if (strcmp(a->cols[c].name, b->cols[c].name))
            abort();
    for (size_t i = 0; i < a->nrows * a->ncols; i++)
        if (!(isnan(a->values[i]) && isnan(b->values[i])) &&
            memcmp(&a->values[i], &b->values[i], sizeof(double)))
            abort();
}

static void roundtrip(const struct series_table *t)
{
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct series_table *u = NULL;

    if (!f)
        return;
    if (series_csv_write(f, t, err, sizeof err) != 0)
        abort(); /* a table read from CSV can always be written */
    fclose(f);
    if (rcaeval_table_parse("rt", buf, len, &u, err, sizeof err) != 0)
        abort(); /* ... and read back */
    same_table(t, u);
    series_table_destroy(u);
    free(buf);
}

static void table(const char *p, size_t n)
{
    struct series_table *t = NULL, *w = NULL, *a = NULL, *b = NULL;
    struct rcaeval_prep prep = {.rows_each_side = 1 + n % 7,
                                .llm_ref_stack = n & 1};
    int64_t inj;
    char err[256];

    if (rcaeval_table_parse("f", p, n, &t, err, sizeof err) != 0)
        return;
    roundtrip(t);
    if (rcaeval_prepare(t, t->nrows ? t->time_ns[t->nrows / 2] / 1000000000 : 0,
                        &prep, &w, &inj) == 0) {
        if (w->nrows > 2 * prep.rows_each_side || w->ncols > t->ncols)
            abort();
        for (size_t i = 0; i < w->nrows * w->ncols; i++)
            if (isnan(w->values[i]) || isinf(w->values[i]))
                abort(); /* step 2 leaves no missing or infinite value */
        if (series_table_window(w, INT64_MIN, inj, &a) == 0 &&
            series_table_window(w, inj, INT64_MAX, &b) == 0) {
            series_table_preprocess_rcaeval(a);
            series_table_preprocess_rcaeval(b);
            series_table_intersect(a, b);
            if (a->ncols != b->ncols)
                abort();
        }
    }
    series_table_destroy(a);
    series_table_destroy(b);
    series_table_destroy(w);
    series_table_destroy(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct rcaeval_traces *tr = NULL;
    struct rcaeval_logs *lg = NULL;
    struct series_table *x = NULL;
    char err[256];

    rcaeval_csv_set_default_bufsize(size % 3 == 0 ? 1 + size % 13 : 0);
    table(p, size);
    if (rcaeval_traces_parse("tr", p, size, &tr, err, sizeof err) == 0) {
        for (int ok = 0; ok < 2; ok++) {
            if (rcaeval_tracets(tr, 5000, ok, &x) != 0)
                abort();
            series_table_destroy(x);
            x = NULL;
        }
        rcaeval_traces_destroy(tr);
    }
    if (rcaeval_logs_parse("lg", p, size, &lg, err, sizeof err) == 0) {
        if (rcaeval_logts(lg, 5000, &x) != 0)
            abort();
        series_table_destroy(x);
        rcaeval_logs_destroy(lg);
    }
    return 0;
}
