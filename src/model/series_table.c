/* series_table: the aligned grid (time axis + column-major doubles) that
 * RCA methods and imbalance detectors read, and the table operations that
 * RCAEval's preprocessing is made of (window, select, ffill, fill,
 * drop_constant, convert_mem_mb, intersect). See series.h. */
#include "model/series.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void col_free(struct series_col *c)
{
    free(c->name);
    free(c->entity);
    free(c->metric);
    for (size_t i = 0; i < c->nlabels; i++) {
        free((char *)c->labels[i].name);
        free((char *)c->labels[i].value);
    }
    free(c->labels);
    memset(c, 0, sizeof(*c));
    c->series = SERIES_NONE;
}

/* Fill dst (zeroed) with copies of src's strings. */
static int col_copy(struct series_col *dst, const struct series_col *src)
{
    dst->kind = src->kind;
    dst->series = src->series;
    dst->name = strdup(src->name ? src->name : "");
    dst->entity = strdup(src->entity ? src->entity : "");
    dst->metric = strdup(src->metric ? src->metric : "");
    if (!dst->name || !dst->entity || !dst->metric)
        return -SERIES_E_NOMEM;
    if (src->nlabels) {
        dst->labels = calloc(src->nlabels, sizeof(*dst->labels));
        if (!dst->labels)
            return -SERIES_E_NOMEM;
        dst->nlabels = src->nlabels;
        for (size_t i = 0; i < src->nlabels; i++) {
            dst->labels[i].name = strdup(src->labels[i].name);
            dst->labels[i].value = strdup(src->labels[i].value);
            if (!dst->labels[i].name || !dst->labels[i].value)
                return -SERIES_E_NOMEM;
        }
    }
    return 0;
}

struct series_table *series_table_create(size_t nrows, size_t ncols)
{
    struct series_table *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    if (ncols && nrows > SIZE_MAX / sizeof(double) / ncols)
        goto fail;
    t->nrows = nrows;
    t->ncols = ncols;
    t->time_ns = calloc(nrows ? nrows : 1, sizeof(*t->time_ns));
    t->values = malloc((nrows && ncols ? nrows * ncols : 1) * sizeof(double));
    t->cols = calloc(ncols ? ncols : 1, sizeof(*t->cols));
    if (!t->time_ns || !t->values || !t->cols)
        goto fail;
    for (size_t i = 0; i < nrows * ncols; i++)
        t->values[i] = NAN;
    for (size_t c = 0; c < ncols; c++) {
        t->cols[c].series = SERIES_NONE;
        if (series_table_set_name(t, c, "") < 0)
            goto fail;
    }
    return t;
fail:
    series_table_destroy(t);
    return NULL;
}

void series_table_destroy(struct series_table *t)
{
    if (!t)
        return;
    if (t->cols)
        for (size_t c = 0; c < t->ncols; c++)
            col_free(&t->cols[c]);
    free(t->cols);
    free(t->time_ns);
    free(t->values);
    free(t);
}

/* A table with t's shape of columns (names copied) and nrows rows. */
static struct series_table *like(const struct series_table *t, size_t nrows)
{
    struct series_table *o = series_table_create(nrows, t->ncols);

    if (!o)
        return NULL;
    for (size_t c = 0; c < t->ncols; c++) {
        col_free(&o->cols[c]);
        if (col_copy(&o->cols[c], &t->cols[c]) < 0) {
            series_table_destroy(o);
            return NULL;
        }
    }
    return o;
}

struct series_table *series_table_copy(const struct series_table *t)
{
    struct series_table *o = like(t, t->nrows);

    if (!o)
        return NULL;
    memcpy(o->time_ns, t->time_ns, t->nrows * sizeof(*t->time_ns));
    memcpy(o->values, t->values, t->nrows * t->ncols * sizeof(double));
    return o;
}

int series_table_set_name(struct series_table *t, size_t c, const char *name)
{
    const char *us = strchr(name, '_');
    struct series_col n = {0};

    if (c >= t->ncols)
        return -SERIES_E_INVAL;
    n.name = strdup(name);
    n.entity = us ? strndup(name, (size_t)(us - name)) : strdup(name);
    n.metric = strdup(us ? us + 1 : "");
    if (!n.name || !n.entity || !n.metric) {
        col_free(&n);
        return -SERIES_E_NOMEM;
    }
    n.kind = t->cols[c].kind;
    n.series = t->cols[c].series;
    col_free(&t->cols[c]);
    t->cols[c] = n;
    return 0;
}

/* Append s to the growing buffer *b (len *n, capacity *cap), escaping '"',
 * '\' and newline when esc. */
static int buf_put(char **b, size_t *n, size_t *cap, const char *s, bool esc)
{
    for (; *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, 0};

        if (esc && *s == '"')
            rep = "\\\"";
        else if (esc && *s == '\\')
            rep = "\\\\";
        else if (esc && *s == '\n')
            rep = "\\n";
        else
            rep = one;
        for (; *rep; rep++) {
            if (*n + 2 > *cap) {
                size_t nc = *cap ? *cap * 2 : 64;
                char *nb = realloc(*b, nc);

                if (!nb)
                    return -SERIES_E_NOMEM;
                *b = nb;
                *cap = nc;
            }
            (*b)[(*n)++] = *rep;
            (*b)[*n] = 0;
        }
    }
    return 0;
}

int series_table_set_parts(struct series_table *t, size_t c, const char *entity,
                           const char *metric,
                           const struct series_label *labels, size_t nlabels)
{
    struct series_col n = {0};
    size_t len = 0, cap = 0;
    int rc = 0;

    if (c >= t->ncols)
        return -SERIES_E_INVAL;
    rc |= buf_put(&n.name, &len, &cap, entity, false);
    rc |= buf_put(&n.name, &len, &cap, "_", false);
    rc |= buf_put(&n.name, &len, &cap, metric, false);
    for (size_t i = 0; i < nlabels; i++) {
        rc |= buf_put(&n.name, &len, &cap, i ? "," : "{", false);
        rc |= buf_put(&n.name, &len, &cap, labels[i].name, false);
        rc |= buf_put(&n.name, &len, &cap, "=\"", false);
        rc |= buf_put(&n.name, &len, &cap, labels[i].value, true);
        rc |= buf_put(&n.name, &len, &cap, "\"", false);
    }
    if (nlabels)
        rc |= buf_put(&n.name, &len, &cap, "}", false);
    n.entity = strdup(entity);
    n.metric = strdup(metric);
    if (rc || !n.entity || !n.metric)
        goto nomem;
    if (nlabels) {
        n.labels = calloc(nlabels, sizeof(*n.labels));
        if (!n.labels)
            goto nomem;
        n.nlabels = nlabels;
        for (size_t i = 0; i < nlabels; i++) {
            n.labels[i].name = strdup(labels[i].name);
            n.labels[i].value = strdup(labels[i].value);
            if (!n.labels[i].name || !n.labels[i].value)
                goto nomem;
        }
    }
    n.kind = t->cols[c].kind;
    n.series = t->cols[c].series;
    col_free(&t->cols[c]);
    t->cols[c] = n;
    return 0;
nomem:
    col_free(&n);
    return -SERIES_E_NOMEM;
}

int64_t series_table_find(const struct series_table *t, const char *name)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c].name, name))
            return (int64_t)c;
    return -1;
}

int64_t series_table_find_metric(const struct series_table *t,
                                 const char *entity, const char *metric)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c].entity, entity) &&
            !strcmp(t->cols[c].metric, metric))
            return (int64_t)c;
    return -1;
}

const char *series_service_of(const char *name, size_t *len)
{
    const char *us = strchr(name, '_');

    *len = us ? (size_t)(us - name) : strlen(name);
    return name;
}

int series_table_select(const struct series_table *t, const size_t *cols,
                        size_t n, struct series_table **out)
{
    struct series_table *o;

    *out = NULL;
    for (size_t i = 0; i < n; i++)
        if (cols[i] >= t->ncols)
            return -SERIES_E_INVAL;
    o = series_table_create(t->nrows, n);
    if (!o)
        return -SERIES_E_NOMEM;
    memcpy(o->time_ns, t->time_ns, t->nrows * sizeof(*t->time_ns));
    for (size_t i = 0; i < n; i++) {
        col_free(&o->cols[i]);
        if (col_copy(&o->cols[i], &t->cols[cols[i]]) < 0) {
            series_table_destroy(o);
            return -SERIES_E_NOMEM;
        }
        memcpy(series_table_col(o, i), series_table_col(t, cols[i]),
               t->nrows * sizeof(double));
    }
    *out = o;
    return 0;
}

int series_table_take_rows(const struct series_table *t, const size_t *rows,
                           size_t n, struct series_table **out)
{
    struct series_table *o;

    *out = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= t->nrows)
            return -SERIES_E_INVAL;
    o = like(t, n);
    if (!o)
        return -SERIES_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        o->time_ns[i] = t->time_ns[rows[i]];
    for (size_t c = 0; c < t->ncols; c++) {
        const double *src = series_table_col(t, c);
        double *dst = series_table_col(o, c);

        for (size_t i = 0; i < n; i++)
            dst[i] = src[rows[i]];
    }
    *out = o;
    return 0;
}

int series_table_rows(const struct series_table *t, size_t r0, size_t r1,
                      struct series_table **out)
{
    struct series_table *o;

    *out = NULL;
    if (r1 > t->nrows)
        r1 = t->nrows;
    if (r0 > r1)
        r0 = r1;
    o = like(t, r1 - r0);
    if (!o)
        return -SERIES_E_NOMEM;
    memcpy(o->time_ns, t->time_ns + r0, (r1 - r0) * sizeof(*t->time_ns));
    for (size_t c = 0; c < t->ncols; c++)
        memcpy(series_table_col(o, c), series_table_col(t, c) + r0,
               (r1 - r0) * sizeof(double));
    *out = o;
    return 0;
}

int series_table_window(const struct series_table *t, int64_t t0_ns,
                        int64_t t1_ns, struct series_table **out)
{
    size_t *rows = malloc((t->nrows ? t->nrows : 1) * sizeof(*rows));
    size_t n = 0;
    int rc;

    *out = NULL;
    if (!rows)
        return -SERIES_E_NOMEM;
    for (size_t r = 0; r < t->nrows; r++)
        if (t->time_ns[r] >= t0_ns && t->time_ns[r] < t1_ns)
            rows[n++] = r;
    rc = series_table_take_rows(t, rows, n, out);
    free(rows);
    return rc;
}

void series_table_keep_columns(struct series_table *t, const bool *keep)
{
    size_t k = 0;

    for (size_t c = 0; c < t->ncols; c++) {
        if (!keep[c]) {
            col_free(&t->cols[c]);
            continue;
        }
        if (k != c) {
            t->cols[k] = t->cols[c];
            memmove(series_table_col(t, k), series_table_col(t, c),
                    t->nrows * sizeof(double));
        }
        k++;
    }
    t->ncols = k;
}

/* Remove column c, closing up the ones after it. */
static void drop_col(struct series_table *t, size_t c)
{
    col_free(&t->cols[c]);
    memmove(&t->cols[c], &t->cols[c + 1],
            (t->ncols - c - 1) * sizeof(*t->cols));
    memmove(series_table_col(t, c), series_table_col(t, c + 1),
            (t->ncols - c - 1) * t->nrows * sizeof(double));
    t->ncols--;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted array of t's column names (borrowed), or NULL when out of memory
 * (callers then fall back to a linear search). */
static const char **sorted_names(const struct series_table *t)
{
    const char **v = malloc((t->ncols ? t->ncols : 1) * sizeof(*v));

    if (!v)
        return NULL;
    for (size_t c = 0; c < t->ncols; c++)
        v[c] = t->cols[c].name;
    qsort(v, t->ncols, sizeof(*v), name_cmp);
    return v;
}

static bool has_name(const struct series_table *t, const char **sorted,
                     const char *name)
{
    if (!sorted)
        return series_table_find(t, name) >= 0;
    return bsearch(&name, sorted, t->ncols, sizeof(*sorted), name_cmp) != NULL;
}

/* keep[c] for the columns of x whose name is in y. */
static void keep_common(struct series_table *x, const struct series_table *y,
                        bool *keep)
{
    const char **sy = sorted_names(y);

    for (size_t c = 0; c < x->ncols; c++)
        keep[c] = has_name(y, sy, x->cols[c].name);
    free(sy);
}

void series_table_intersect(struct series_table *a, struct series_table *b)
{
    size_t n = a->ncols > b->ncols ? a->ncols : b->ncols;
    bool *ka = malloc((n ? n : 1) * sizeof(bool));
    bool *kb = malloc((n ? n : 1) * sizeof(bool));

    if (ka && kb) {
        keep_common(a, b, ka);
        keep_common(b, a, kb);
        series_table_keep_columns(a, ka);
        series_table_keep_columns(b, kb);
    } else {
        /* Out of memory: decide column by column without scratch space. */
        for (size_t c = 0; c < a->ncols;)
            if (series_table_find(b, a->cols[c].name) >= 0)
                c++;
            else
                drop_col(a, c);
        for (size_t c = 0; c < b->ncols;)
            if (series_table_find(a, b->cols[c].name) >= 0)
                c++;
            else
                drop_col(b, c);
    }
    free(ka);
    free(kb);
}

void series_table_inf_to_nan(struct series_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        if (isinf(t->values[i]))
            t->values[i] = NAN;
}

void series_table_ffill(struct series_table *t)
{
    for (size_t c = 0; c < t->ncols; c++) {
        double *v = series_table_col(t, c);

        for (size_t r = 1; r < t->nrows; r++)
            if (isnan(v[r]))
                v[r] = v[r - 1];
    }
}

void series_table_fill(struct series_table *t, double v)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        if (isnan(t->values[i]))
            t->values[i] = v;
}

/* pandas' (df != df.iloc[0]).any() for one column: NaN != x is true. */
static bool varies(const double *v, size_t n)
{
    for (size_t r = 1; r < n; r++)
        if (!(v[r] == v[0]))
            return true;
    /* A lone NaN row compares NaN != NaN: true. */
    return n >= 1 && isnan(v[0]);
}

size_t series_table_drop_constant(struct series_table *t)
{
    bool *keep = malloc((t->ncols ? t->ncols : 1) * sizeof(bool));
    size_t before = t->ncols;

    if (!keep) {
        /* Without scratch space, drop one column at a time. */
        for (size_t c = 0; c < t->ncols;)
            if (varies(series_table_col(t, c), t->nrows))
                c++;
            else
                drop_col(t, c);
        return before - t->ncols;
    }
    for (size_t c = 0; c < t->ncols; c++)
        keep[c] = varies(series_table_col(t, c), t->nrows);
    series_table_keep_columns(t, keep);
    free(keep);
    return before - t->ncols;
}

void series_table_mem_to_mb(struct series_table *t)
{
    for (size_t c = 0; c < t->ncols; c++) {
        size_t n = strlen(t->cols[c].name);
        double *v = series_table_col(t, c);

        if (n < 4 || strcmp(t->cols[c].name + n - 4, "_mem"))
            continue;
        for (size_t r = 0; r < t->nrows; r++)
            v[r] /= 1e6;
    }
}

size_t series_table_preprocess_rcaeval(struct series_table *t)
{
    size_t dropped = series_table_drop_constant(t);

    series_table_mem_to_mb(t);
    return dropped;
}
