/* series_align: raw samples in a series_store -> an aligned series_table
 * (last value, mean, max, min, sum, count or counter increase/rate per
 * interval), and the way back (a table's cells as samples). The interval
 * rule (row k covers [t_k, t_k + step)) is stated once, in series.h. */
#include "model/series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool series_align_cover(const struct series_store *s, const uint32_t *ids,
                        size_t nids, int64_t step_ns, struct series_align *a)
{
    int64_t lo, hi, t0;

    if (step_ns <= 0 || !series_store_time_span(s, ids, nids, &lo, &hi))
        return false;
    /* Floor towards -inf so that times before 1970 land in their own row. */
    t0 = lo / step_ns * step_ns;
    if (t0 > lo) {
        if (t0 < INT64_MIN + step_ns)
            return false;
        t0 -= step_ns;
    }
    a->t0_ns = t0;
    a->step_ns = step_ns;
    a->nrows = (size_t)(((uint64_t)hi - (uint64_t)t0) / (uint64_t)step_ns) + 1;
    return true;
}

/* One column: fill out[0..a->nrows) from the samples t[0..n), v[0..n). */
static void align_one(const int64_t *t, const double *v, size_t n,
                      enum series_agg agg, double wrap,
                      const struct series_align *a, double *out)
{
    int64_t keep = a->lookback_ns > a->step_ns ? a->lookback_ns : a->step_ns;
    size_t j0 = 0, j1 = 0; /* samples [j0, j1) lie in the current row */

    for (size_t k = 0; k < a->nrows; k++) {
        int64_t lo = a->t0_ns + (int64_t)k * a->step_ns;
        int64_t hi = lo + a->step_ns;
        double acc = 0, m = NAN;
        size_t cnt = 0;

        while (j0 < n && t[j0] < lo)
            j0++;
        if (j1 < j0)
            j1 = j0;
        while (j1 < n && t[j1] < hi)
            j1++;
        out[k] = NAN;
        switch (agg) {
        case SERIES_AGG_AUTO: /* resolved by the caller */
        case SERIES_AGG_LAST:
            /* t < hi, so the unsigned difference is the exact age */
            if (j1 > 0 && (uint64_t)hi - (uint64_t)t[j1 - 1] <= (uint64_t)keep)
                out[k] = v[j1 - 1];
            break;
        case SERIES_AGG_MEAN:
        case SERIES_AGG_SUM:
        case SERIES_AGG_COUNT:
            for (size_t j = j0; j < j1; j++)
                if (!isnan(v[j]))
                    acc += v[j], cnt++;
            if (agg == SERIES_AGG_COUNT)
                out[k] = (double)cnt;
            else if (cnt)
                out[k] = agg == SERIES_AGG_SUM ? acc : acc / (double)cnt;
            break;
        case SERIES_AGG_MAX:
        case SERIES_AGG_MIN:
            for (size_t j = j0; j < j1; j++)
                if (!isnan(v[j]) &&
                    (isnan(m) || (agg == SERIES_AGG_MAX ? v[j] > m : v[j] < m)))
                    m = v[j];
            out[k] = m;
            break;
        case SERIES_AGG_INCREASE:
        case SERIES_AGG_RATE:
            for (size_t j = j0 ? j0 : 1; j < j1; j++) {
                double d;

                if (a->max_gap_ns > 0 && (uint64_t)t[j] - (uint64_t)t[j - 1] >
                                             (uint64_t)a->max_gap_ns)
                    continue;
                d = series_counter_delta(v[j - 1], v[j], wrap);
                if (!isnan(d))
                    acc += d, cnt++;
            }
            if (cnt)
                out[k] = agg == SERIES_AGG_RATE
                             ? acc / ((double)a->step_ns / 1e9)
                             : acc;
            break;
        }
    }
}

struct ek {
    const char *entity, *metric;
    size_t col;
};

static int ek_cmp(const void *x, const void *y)
{
    const struct ek *a = x, *b = y;
    int c = strcmp(a->entity, b->entity);

    if (!c)
        c = strcmp(a->metric, b->metric);
    if (!c)
        c = a->col < b->col ? -1 : a->col > b->col;
    return c;
}

/* dup[c] = true when column c shares entity and metric with another. */
static int mark_dups(const struct series_store *s, const uint32_t *ids,
                     size_t n, bool *dup)
{
    struct ek *v = malloc((n ? n : 1) * sizeof(*v));

    if (!v)
        return -SERIES_E_NOMEM;
    for (size_t c = 0; c < n; c++) {
        v[c].entity = series_entity(s, ids[c]);
        v[c].metric = series_metric(s, ids[c]);
        v[c].col = c;
        dup[c] = false;
    }
    qsort(v, n, sizeof(*v), ek_cmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(v[i].entity, v[i - 1].entity) &&
            !strcmp(v[i].metric, v[i - 1].metric))
            dup[v[i].col] = dup[v[i - 1].col] = true;
    free(v);
    return 0;
}

static int fill_table(const struct series_store *s, const uint32_t *ids,
                      const struct series_align *a, struct series_table *t)
{
    bool *dup = malloc((t->ncols ? t->ncols : 1) * sizeof(bool));
    int rc;

    if (!dup)
        return -SERIES_E_NOMEM;
    if ((rc = mark_dups(s, ids, t->ncols, dup)) < 0)
        goto out;
    for (size_t k = 0; k < a->nrows; k++)
        t->time_ns[k] = a->t0_ns + (int64_t)k * a->step_ns;
    for (size_t c = 0; c < t->ncols; c++) {
        uint32_t id = ids[c];
        enum series_kind kind = series_kind(s, id);
        enum series_agg agg = a->agg;
        size_t nl;
        const struct series_label *l = series_labels(s, id, &nl);

        if (agg == SERIES_AGG_AUTO)
            agg = kind == SERIES_COUNTER ? SERIES_AGG_RATE : SERIES_AGG_LAST;
        t->cols[c].kind = kind;
        t->cols[c].series = id;
        rc = series_table_set_parts(t, c, series_entity(s, id),
                                    series_metric(s, id), dup[c] ? l : NULL,
                                    dup[c] ? nl : 0);
        if (rc < 0)
            goto out;
        if (!dup[c] && nl) {
            /* Keep the labels on the column even when the name omits them. */
            struct series_col *col = &t->cols[c];

            col->labels = calloc(nl, sizeof(*col->labels));
            if (!col->labels) {
                rc = -SERIES_E_NOMEM;
                goto out;
            }
            col->nlabels = nl;
            for (size_t i = 0; i < nl; i++) {
                col->labels[i].name = strdup(l[i].name);
                col->labels[i].value = strdup(l[i].value);
                if (!col->labels[i].name || !col->labels[i].value) {
                    rc = -SERIES_E_NOMEM;
                    goto out;
                }
            }
        }
        align_one(series_times(s, id), series_values(s, id), series_len(s, id),
                  agg, series_wrap(s, id), a, series_table_col(t, c));
    }
out:
    free(dup);
    return rc;
}

/* The last row's interval end, t0 + nrows * step, fits in int64. */
static bool grid_fits(const struct series_align *a)
{
    int64_t span, end;

    if (a->nrows > (uint64_t)INT64_MAX)
        return false;
    return !__builtin_mul_overflow((int64_t)a->nrows, a->step_ns, &span) &&
           !__builtin_add_overflow(a->t0_ns, span, &end);
}

int series_table_from_store(const struct series_store *s, const uint32_t *ids,
                            size_t nids, const struct series_align *a,
                            struct series_table **out)
{
    size_t n = ids ? nids : series_store_count(s);
    uint32_t *all = NULL;
    struct series_table *t;
    int rc;

    *out = NULL;
    if (!a || a->step_ns <= 0 || a->agg < SERIES_AGG_AUTO ||
        a->agg > SERIES_AGG_RATE || !grid_fits(a))
        return -SERIES_E_INVAL;
    for (size_t c = 0; ids && c < n; c++)
        if (ids[c] >= series_store_count(s))
            return -SERIES_E_INVAL;
    if (!ids) {
        all = malloc((n ? n : 1) * sizeof(*all));
        if (!all)
            return -SERIES_E_NOMEM;
        for (size_t c = 0; c < n; c++)
            all[c] = (uint32_t)c;
        ids = all;
    }
    t = series_table_create(a->nrows, n);
    rc = t ? fill_table(s, ids, a, t) : -SERIES_E_NOMEM;
    free(all);
    if (rc < 0) {
        series_table_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

int series_store_add_table(struct series_store *s, const struct series_table *t,
                           uint32_t *ids)
{
    for (size_t c = 0; c < t->ncols; c++) {
        const struct series_col *col = &t->cols[c];
        struct series_desc d = {col->entity,  col->metric, col->labels,
                                col->nlabels, col->kind,   0};
        const double *v = series_table_col(t, c);
        int64_t id = series_store_intern(s, &d);

        if (id < 0)
            return (int)id;
        if (ids)
            ids[c] = (uint32_t)id;
        for (size_t r = 0; r < t->nrows; r++) {
            int rc;

            if (isnan(v[r]))
                continue;
            rc = series_store_append(s, (uint32_t)id, t->time_ns[r], v[r]);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
