/* rcaeval: RCAEval metric tables and case folders -> series tables, and
 * rca-llm's preprocessing. The CSV grammar and header rules are
 * rcaeval_csv.c's; traces.csv, logs.csv and the series derived from them
 * are rcaeval_sources.c's. See rcaeval.h and docs/RCA.md ("Data"). */
#include "ingest/rcaeval.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ingest/ingest.h"
#include "ingest/rcaeval_csv.h"
#include "model/series.h"
#include "util/grow.h"

static int nomem(char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    return -INGEST_E_NOMEM;
}

/* ---------------------------------------------------------------------
 * Metric tables
 * --------------------------------------------------------------------- */

struct rows {
    int64_t *t;
    double *v; /* row-major while reading */
    size_t n, tcap, vcap;
};

struct row_ctx {
    struct rcaeval_csv *c;
    const struct rcaeval_csv_header *h;
    size_t tcol, w;
    struct rows *rw;
};

/* Cell k of the row being read: the time, or a value. */
static int row_cell(void *ctx, size_t k, const struct rcaeval_csv_field *f)
{
    struct row_ctx *x = ctx;
    struct rows *rw = x->rw;
    char txt[48], ntxt[48];
    double *cell;

    if (k == x->tcol) {
        if (rcaeval_csv_is_missing(f->p, f->len))
            return rcaeval_csv_fail(x->c, f->line, f->col,
                                    "missing time in column \"time\"");
        if (!rcaeval_csv_time_s(f->p, f->len, &rw->t[rw->n]))
            return rcaeval_csv_fail(
                x->c, f->line, f->col,
                "time \"%s\" is not a number of Unix seconds",
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt));
        return 0;
    }
    cell = &rw->v[rw->n * x->w + (k < x->tcol ? k : k - 1)];
    /* Numbers first: they are most cells, and no missing spelling reads
     * as a number. */
    if (rcaeval_csv_field_number(f, cell))
        return 0;
    if (rcaeval_csv_is_missing(f->p, f->len)) {
        *cell = NAN;
        return 0;
    }
    return rcaeval_csv_fail(
        x->c, f->line, f->col, "cell \"%s\" in column \"%s\" is not a number",
        rcaeval_csv_text(f->p, f->len, txt, sizeof txt),
        rcaeval_csv_text(x->h->names[k], strlen(x->h->names[k]), ntxt,
                         sizeof ntxt));
}

static int read_row(struct rcaeval_csv *c, const struct rcaeval_csv_header *h,
                    size_t tcol, struct rows *rw, bool *done)
{
    struct row_ctx x = {c, h, tcol, h->n - 1, rw};
    int rc;

    if (grow_array((void **)&rw->t, &rw->tcap, rw->n + 1, sizeof(*rw->t)) < 0 ||
        grow_array((void **)&rw->v, &rw->vcap, (rw->n + 1) * x.w,
                   sizeof(*rw->v)) < 0)
        return -INGEST_E_NOMEM;
    rc = rcaeval_csv_row(c, h->n, row_cell, &x);
    *done = rc == 0;
    if (rc < 0)
        return rc;
    rw->n += rc == 1;
    return 0;
}

static int table_fn(struct rcaeval_csv *c, void *out)
{
    struct series_table **res = out, *t = NULL;
    struct rcaeval_csv_header h;
    struct rows rw = {0};
    char txt[48];
    bool done = false;
    int64_t tcol;
    int rc = rcaeval_csv_header_read(c, &h);

    if (rc < 0)
        goto out;
    tcol = rcaeval_csv_header_find(&h, "time");
    if (tcol < 0) {
        rc = rcaeval_csv_fail(
            c, 1, 1,
            "no column named \"time\" (the header has "
            "%zu columns, the first \"%s\")",
            h.n,
            rcaeval_csv_text(h.names[0], strlen(h.names[0]), txt, sizeof txt));
        goto out;
    }
    while (!done)
        if ((rc = read_row(c, &h, (size_t)tcol, &rw, &done)) < 0)
            goto out;
    t = series_table_create(rw.n, h.n - 1);
    if (!t) {
        rc = -INGEST_E_NOMEM;
        goto out;
    }
    if (rw.n)
        memcpy(t->time_ns, rw.t, rw.n * sizeof(*rw.t));
    for (size_t k = 0, col = 0; k < h.n; k++) {
        double *dst;

        if (k == (size_t)tcol)
            continue;
        if (series_table_set_name(t, col, h.names[k]) < 0) {
            rc = -INGEST_E_NOMEM;
            goto out;
        }
        dst = series_table_col(t, col);
        for (size_t r = 0; r < rw.n; r++)
            dst[r] = rw.v[r * (h.n - 1) + col];
        col++;
    }
    *res = t;
    t = NULL;
out:
    series_table_destroy(t);
    rcaeval_csv_header_free(&h);
    free(rw.t);
    free(rw.v);
    return rc;
}

int rcaeval_table_parse(const char *name, const char *buf, size_t len,
                        struct series_table **out, char *err, size_t errlen)
{
    *out = NULL;
    return rcaeval_csv_run_memory(name, buf, len, table_fn, out, err, errlen);
}

int rcaeval_table_read(const char *path, struct series_table **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    return rcaeval_csv_run_file(path, table_fn, out, err, errlen);
}

/* ---------------------------------------------------------------------
 * A case folder
 * --------------------------------------------------------------------- */

static char *path_join(const char *dir, const char *file)
{
    size_t n = strlen(dir);
    char *p = malloc(n + strlen(file) + 2);

    if (p)
        sprintf(p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", file);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;

    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* inject_time.txt: int(first line.strip()). */
static int read_inject(const char *path, int64_t *out, char *err, size_t errlen)
{
    char line[256], *p, *end;
    FILE *f = fopen(path, "r");
    long long v;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -INGEST_E_NOINPUT;
    }
    if (!fgets(line, sizeof line, f))
        line[0] = 0;
    fclose(f);
    for (p = line; *p == ' ' || *p == '\t'; p++)
        ;
    errno = 0;
    v = strtoll(p, &end, 10);
    if (end == p || errno ||
        (*p != '+' && *p != '-' && (*p < '0' || *p > '9'))) {
        snprintf(err, errlen,
                 "%s:1:%zu: expected the inject time as an integer of Unix "
                 "seconds",
                 path, (size_t)(p - line) + 1);
        return -INGEST_E_MALFORMED;
    }
    for (p = end; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++)
        ;
    if (*p) {
        snprintf(err, errlen, "%s:1:%zu: unexpected text after the inject time",
                 path, (size_t)(p - line) + 1);
        return -INGEST_E_MALFORMED;
    }
    *out = v;
    return 0;
}

/* The parent folder's name of dir, split at its first '_'. */
static int root_cause(struct rcaeval_case *c)
{
    char *abs = realpath(c->dir, NULL), *d = abs ? abs : strdup(c->dir);
    char *slash, *parent, *us;
    size_t n;

    if (!d)
        return -INGEST_E_NOMEM;
    n = strlen(d);
    while (n > 1 && d[n - 1] == '/')
        d[--n] = 0;
    slash = strrchr(d, '/');
    if (slash) {
        *slash = 0;
        parent = strrchr(d, '/');
        parent = parent ? parent + 1 : d;
        us = strchr(parent, '_');
        if (us && us > parent) {
            c->root_service = strndup(parent, (size_t)(us - parent));
            c->fault = strdup(us + 1);
            if (!c->root_service || !c->fault) {
                free(d);
                return -INGEST_E_NOMEM;
            }
        }
    }
    free(d);
    return 0;
}

/* file in the case folder: read as a table when present, else derive. */
static int side_table(struct rcaeval_case *c, const char *file,
                      struct series_table **dst, char *err, size_t errlen)
{
    char *p = path_join(c->dir, file);
    int rc = 0;

    if (!p)
        return nomem(err, errlen);
    if (exists(p))
        rc = rcaeval_table_read(p, dst, err, errlen);
    free(p);
    return rc;
}

static int read_sources(struct rcaeval_case *c, char *err, size_t errlen)
{
    char *tp = path_join(c->dir, "traces.csv");
    char *lp = path_join(c->dir, "logs.csv");
    int rc = 0;

    if (!tp || !lp) {
        rc = nomem(err, errlen);
        goto out;
    }
    if (exists(tp) && (rc = rcaeval_traces_read(tp, &c->traces, err, errlen)))
        goto out;
    if (exists(lp) && (rc = rcaeval_logs_read(lp, &c->logs, err, errlen)))
        goto out;
    if ((rc = side_table(c, "logts.csv", &c->logts, err, errlen)) ||
        (rc = side_table(c, "tracets_err.csv", &c->tracets_err, err, errlen)) ||
        (rc = side_table(c, "tracets_lat.csv", &c->tracets_lat, err, errlen)))
        goto out;
    if (!c->logts && c->logs) {
        if ((rc = rcaeval_logts(c->logs, 5000, &c->logts)) < 0)
            goto oom;
        c->derived |= RCAEVAL_DERIVED_LOGTS;
    }
    if (!c->tracets_err && c->traces) {
        if ((rc = rcaeval_tracets(c->traces, 5000, false, &c->tracets_err)))
            goto oom;
        c->derived |= RCAEVAL_DERIVED_TRACETS_ERR;
    }
    if (!c->tracets_lat && c->traces) {
        if ((rc = rcaeval_tracets(c->traces, 5000, true, &c->tracets_lat)))
            goto oom;
        c->derived |= RCAEVAL_DERIVED_TRACETS_LAT;
    }
    goto out;
oom:
    nomem(err, errlen);
out:
    free(tp);
    free(lp);
    return rc;
}

int rcaeval_case_read(const char *dir, const struct rcaeval_read_opts *opts,
                      struct rcaeval_case **out, char *err, size_t errlen)
{
    struct rcaeval_case *c = calloc(1, sizeof(*c));
    char *ip = NULL;
    int rc = -INGEST_E_NOMEM;

    *out = NULL;
    if (!c || !(c->dir = strdup(dir)))
        goto fail_nomem;
    c->metrics_path = path_join(dir, "data.csv");
    if (!c->metrics_path)
        goto fail_nomem;
    if (!exists(c->metrics_path)) {
        free(c->metrics_path);
        c->metrics_path = path_join(dir, "simple_metrics.csv");
        if (!c->metrics_path)
            goto fail_nomem;
        if (!exists(c->metrics_path)) {
            snprintf(err, errlen,
                     "%s: no data.csv or simple_metrics.csv in this folder",
                     dir);
            rc = -INGEST_E_NOINPUT;
            goto fail;
        }
    }
    if ((rc = rcaeval_table_read(c->metrics_path, &c->metrics, err, errlen)))
        goto fail;
    if (!(ip = path_join(dir, "inject_time.txt")))
        goto fail_nomem;
    if (exists(ip)) {
        if ((rc = read_inject(ip, &c->inject_time_s, err, errlen)))
            goto fail;
        c->has_inject_time = true;
    }
    if ((rc = root_cause(c)) < 0)
        goto fail_nomem;
    if (!(opts && opts->metrics_only) &&
        (rc = read_sources(c, err, errlen)) < 0)
        goto fail;
    free(ip);
    *out = c;
    return 0;
fail_nomem:
    rc = nomem(err, errlen);
fail:
    free(ip);
    rcaeval_case_destroy(c);
    return rc;
}

void rcaeval_case_destroy(struct rcaeval_case *c)
{
    if (!c)
        return;
    free(c->dir);
    free(c->metrics_path);
    series_table_destroy(c->metrics);
    free(c->root_service);
    free(c->fault);
    rcaeval_traces_destroy(c->traces);
    rcaeval_logs_destroy(c->logs);
    series_table_destroy(c->logts);
    series_table_destroy(c->tracets_err);
    series_table_destroy(c->tracets_lat);
    free(c);
}

/* ---------------------------------------------------------------------
 * Preprocessing (rca-llm rca-benchmark/main.py, process())
 * --------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && !strcmp(s + n - k, suffix);
}

/* Python's str.replace(old, new) for every occurrence; NULL when out of
 * memory. */
static char *replace_all(const char *s, const char *old, const char *new)
{
    size_t lo = strlen(old), ln = strlen(new), n = 0;
    char *r, *w;

    for (const char *p = s; (p = strstr(p, old)); p += lo)
        n++;
    r = malloc(strlen(s) + n * ln + 1);
    if (!r)
        return NULL;
    w = r;
    for (const char *p = s, *q;; p = q + lo) {
        q = strstr(p, old);
        if (!q) {
            strcpy(w, p);
            break;
        }
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, new, ln);
        w += ln;
    }
    return r;
}

static int drop_where(struct series_table *t, bool (*drop)(const char *))
{
    bool *keep = malloc((t->ncols ? t->ncols : 1) * sizeof(bool));

    if (!keep)
        return -INGEST_E_NOMEM;
    for (size_t c = 0; c < t->ncols; c++)
        keep[c] = !drop(t->cols[c].name);
    series_table_keep_columns(t, keep);
    free(keep);
    return 0;
}

static bool is_latency_50(const char *name)
{
    return ends_with(name, "_latency-50");
}

static bool is_llm_ref_extra(const char *name)
{
    return strstr(name, "_pod_") || strstr(name, "_node_") ||
           strstr(name, "unknown");
}

/* The rows of step 3: the last `side` rows before T, then the first
 * `side` rows at or after T, each in file order. */
static int window_rows(const struct series_table *t, int64_t T, size_t side,
                       struct series_table **out)
{
    size_t *rows = malloc((t->nrows ? t->nrows : 1) * sizeof(*rows));
    size_t nb = 0, n = 0, skip;
    int rc;

    if (!rows)
        return -INGEST_E_NOMEM;
    for (size_t r = 0; r < t->nrows; r++)
        nb += t->time_ns[r] < T;
    skip = nb > side ? nb - side : 0; /* .tail(side) of the normal rows */
    for (size_t r = 0, seen = 0; r < t->nrows; r++)
        if (t->time_ns[r] < T && seen++ >= skip)
            rows[n++] = r;
    for (size_t r = 0, taken = 0; r < t->nrows && taken < side; r++)
        if (t->time_ns[r] >= T)
            rows[n++] = r, taken++; /* .head(side) of the anomalous rows */
    rc = series_table_take_rows(t, rows, n, out);
    free(rows);
    return rc < 0 ? -INGEST_E_NOMEM : 0;
}

int rcaeval_prepare(const struct series_table *raw, int64_t inject_time_s,
                    const struct rcaeval_prep *p, struct series_table **out,
                    int64_t *inject_ns)
{
    struct rcaeval_prep def = {0};
    struct series_table *t = NULL, *w = NULL;
    size_t side;
    int64_t T;
    int rc = -INGEST_E_NOMEM;

    *out = NULL;
    if (!p)
        p = &def;
    side = p->rows_each_side ? p->rows_each_side : 600;
    if (__builtin_add_overflow(inject_time_s, p->tdelta_s, &T) ||
        __builtin_mul_overflow(T, (int64_t)1000000000, &T))
        T = (inject_time_s + (p->tdelta_s / 2)) > 0 ? INT64_MAX : INT64_MIN;
    if (inject_ns)
        *inject_ns = T;
    if (!(t = series_table_copy(raw)))
        goto out;
    if (drop_where(t, is_latency_50) < 0)
        goto out;
    series_table_inf_to_nan(t);
    series_table_ffill(t);
    series_table_fill(t, 0.0);
    if (window_rows(t, T, side, &w) < 0)
        goto out;
    for (size_t c = 0; c < w->ncols; c++) {
        char *nn;

        if (!ends_with(w->cols[c].name, "_latency-90"))
            continue;
        nn = replace_all(w->cols[c].name, "_latency-90", "_latency");
        if (!nn || series_table_set_name(w, c, nn) < 0) {
            free(nn);
            goto out;
        }
        free(nn);
    }
    if (p->llm_ref_stack && drop_where(w, is_llm_ref_extra) < 0)
        goto out;
    *out = w;
    w = NULL;
    rc = 0;
out:
    series_table_destroy(t);
    series_table_destroy(w);
    return rc;
}
