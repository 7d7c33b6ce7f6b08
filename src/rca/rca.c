/* rca: rankings, parameters, the steps RCAEval's methods share, and
 * rca_rank(), the one entry point through which every caller (CLI, eval,
 * bench, tests) runs a method, so the @rca fallback and the input checks
 * apply everywhere alike. */
#include "rca/rca.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/descriptive.h"
#include "stats/select.h"
#include "stats/stats_status.h"

const char *rca_strerror(int status)
{
    switch (status < 0 ? -status : status) {
    case RCA_OK:
        return "success";
    case RCA_E_NOMEM:
        return "out of memory";
    case RCA_E_INVAL:
        return "invalid parameter";
    case RCA_E_INPUT:
        return "the case lacks an input the method needs";
    case RCA_E_DATA:
        return "the data cannot be ranked";
    case RCA_E_NOCONV:
        return "did not converge";
    case RCA_E_INFEASIBLE:
        return "test infeasible on this data";
    case RCA_E_NOCHANGE:
        return "no change point found";
    case RCA_E_UNKNOWN:
        return "unknown method";
    default:
        return "unknown error";
    }
}

int rca_fail(char *err, size_t errlen, int status, const char *name,
             const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err && errlen) {
        n = snprintf(err, errlen, "%s: ", name ? name : "rca");
        if (n >= 0 && (size_t)n < errlen) {
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -status;
}

/* ---------------------------------------------------------------------
 * Rankings
 * --------------------------------------------------------------------- */

void rca_ranking_init(struct rca_ranking *r)
{
    memset(r, 0, sizeof(*r));
}

void rca_ranking_free(struct rca_ranking *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->items[i].name);
    free(r->items);
    rca_ranking_init(r);
}

int rca_ranking_add(struct rca_ranking *r, const char *name, double score)
{
    char *copy;

    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        struct rca_item *it = realloc(r->items, cap * sizeof(*it));

        if (!it)
            return -RCA_E_NOMEM;
        r->items = it;
        r->cap = cap;
    }
    if (!(copy = strdup(name)))
        return -RCA_E_NOMEM;
    r->items[r->n].name = copy;
    r->items[r->n].score = score;
    r->n++;
    return 0;
}

/* Sort key: score descending, NaN after every number, then insertion
 * order. The order is carried in a side array so the sort is stable. */
struct sort_ent {
    double score;
    size_t pos;
    char *name;
};

static int cmp_ent(const void *pa, const void *pb)
{
    const struct sort_ent *a = pa, *b = pb;
    bool an = isnan(a->score), bn = isnan(b->score);

    if (an != bn)
        return an ? 1 : -1;
    if (!an && a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* a ranks strictly before b by score alone. */
static bool item_before(double a, double b)
{
    if (isnan(a) || isnan(b))
        return !isnan(a) && isnan(b);
    return a > b;
}

void rca_ranking_sort(struct rca_ranking *r)
{
    struct sort_ent stack[64], *e = stack;

    if (r->n < 2)
        return;
    if (r->n > 64 && !(e = malloc(r->n * sizeof(*e)))) {
        /* No memory for the side array: insertion sort, stable too. */
        for (size_t i = 1; i < r->n; i++) {
            struct rca_item x = r->items[i];
            size_t j = i;

            for (; j > 0 && item_before(x.score, r->items[j - 1].score); j--)
                r->items[j] = r->items[j - 1];
            r->items[j] = x;
        }
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        e[i].score = r->items[i].score;
        e[i].pos = i;
        e[i].name = r->items[i].name;
    }
    qsort(e, r->n, sizeof(*e), cmp_ent);
    for (size_t i = 0; i < r->n; i++) {
        r->items[i].score = e[i].score;
        r->items[i].name = e[i].name;
    }
    if (e != stack)
        free(e);
}

void rca_ranking_truncate(struct rca_ranking *r, size_t k)
{
    while (r->n > k)
        free(r->items[--r->n].name);
}

const char *rca_ranking_service(const struct rca_ranking *r, size_t i,
                                size_t *len)
{
    return series_service_of(r->items[i].name, len);
}

/* ---------------------------------------------------------------------
 * Parameters
 * --------------------------------------------------------------------- */

const char *rca_param(const struct rca_params *p, const char *key)
{
    const char *v = NULL;

    if (!p)
        return NULL;
    for (size_t i = 0; i < p->nkv; i++)
        if (p->kv[i].key && !strcmp(p->kv[i].key, key))
            v = p->kv[i].value;
    return v;
}

int rca_param_double(const struct rca_params *p, const char *method,
                     const char *key, double def, double lo, double hi,
                     double *out, char *err, size_t errlen)
{
    const char *v = rca_param(p, key);
    char *end;
    double d;

    *out = def;
    if (!v)
        return 0;
    errno = 0;
    d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d))
        return rca_fail(err, errlen, RCA_E_INVAL, method, "%s=%s: not a number",
                        key, v);
    if (d < lo || d > hi)
        return rca_fail(err, errlen, RCA_E_INVAL, method,
                        "%s=%s: must be between %g and %g", key, v, lo, hi);
    *out = d;
    return 0;
}

int rca_param_size(const struct rca_params *p, const char *method,
                   const char *key, size_t def, size_t lo, size_t hi,
                   size_t *out, char *err, size_t errlen)
{
    const char *v = rca_param(p, key);
    char *end;
    unsigned long long u;

    *out = def;
    if (!v)
        return 0;
    errno = 0;
    u = strtoull(v, &end, 10);
    if (end == v || *end || errno || *v == '-')
        return rca_fail(err, errlen, RCA_E_INVAL, method,
                        "%s=%s: not a non-negative integer", key, v);
    if (u < lo || u > hi)
        return rca_fail(err, errlen, RCA_E_INVAL, method,
                        "%s=%s: must be between %zu and %zu", key, v, lo, hi);
    *out = (size_t)u;
    return 0;
}

/* ---------------------------------------------------------------------
 * Randomness
 * --------------------------------------------------------------------- */

void rca_rng_init(struct stats_rng *r, uint64_t seed)
{
    stats_rng_seed(r, seed);
}

uint64_t rca_rng_below(struct stats_rng *r, uint64_t n)
{
    /* Reject the top partial block so that every residue is equally
     * likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;

    do
        x = stats_rng_next(r);
    while (x >= limit);
    return x % n;
}

void rca_rng_shuffle(struct stats_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rca_rng_below(r, i), t = idx[i - 1];

        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* ---------------------------------------------------------------------
 * Shared steps
 * --------------------------------------------------------------------- */

int rca_split_windows(const struct rca_case *c, struct series_table **normal,
                      struct series_table **anomal, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *n = NULL, *a = NULL;

    *normal = *anomal = NULL;
    if (series_table_window(c->metrics, INT64_MIN, c->inject_ns, &n) < 0 ||
        series_table_window(c->metrics, c->inject_ns, INT64_MAX, &a) < 0)
        goto oom;
    if (n->nrows == 0 || a->nrows == 0) {
        int rc = rca_fail(err, errlen, RCA_E_DATA, name,
                          "no rows %s the inject time",
                          n->nrows == 0 ? "before" : "at or after");
        series_table_destroy(n);
        series_table_destroy(a);
        return rc;
    }
    series_table_preprocess_rcaeval(n);
    series_table_preprocess_rcaeval(a);
    series_table_intersect(n, a);
    *normal = n;
    *anomal = a;
    return 0;
oom:
    series_table_destroy(n);
    series_table_destroy(a);
    return rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
}

double rca_py_max(const double *x, size_t n)
{
    double m;

    if (n == 0)
        return NAN;
    m = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    return m;
}

int rca_scaler_score(const double *a, size_t na, const double *b, size_t nb,
                     bool robust, double *work, double *score)
{
    struct stats_scaler s;
    double *own = NULL, m;
    int rc;

    *score = NAN;
    if (na == 0 || nb == 0)
        return -RCA_E_DATA;
    if (robust && !work && !(work = own = malloc(na * sizeof(*work))))
        return -RCA_E_NOMEM;
    /* Quantiles by selection: the same values as stats_robust_scaler_fit()
     * without its sort, which was most of BARO's time. */
    rc = robust ? stats_robust_scaler_fit_work(a, na, 25.0, 75.0, work, &s)
                : stats_standard_scaler_fit(a, na, &s);
    free(own);
    if (rc == -STATS_E_NOMEM)
        return -RCA_E_NOMEM;
    if (rc < 0)
        return 0; /* all NaN: scikit-learn's centre and scale are NaN */
    /* max((b - center) / scale) in Python's order, without a buffer. */
    m = (b[0] - s.center) / s.scale;
    for (size_t i = 1; i < nb; i++) {
        double z = (b[i] - s.center) / s.scale;

        if (z > m)
            m = z;
    }
    *score = m;
    return 0;
}

int rca_scaler_rank_metrics(const struct rca_case *c, bool robust,
                            struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *n, *a;
    double *work = NULL;
    int rc = rca_split_windows(c, &n, &a, err, errlen);

    if (rc < 0)
        return rc;
    if (robust && !(work = malloc((n->nrows ? n->nrows : 1) * sizeof(*work))))
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    for (size_t j = 0; j < n->ncols && rc == 0; j++) {
        double score;

        rc = rca_scaler_score(series_table_col(n, j), n->nrows,
                              series_table_col(a, j), a->nrows, robust, work,
                              &score);
        if (rc < 0)
            rc = rca_fail(err, errlen, -rc, name, "column %s: %s",
                          n->cols[j].name, rca_strerror(rc));
        else if (rca_ranking_add(out, n->cols[j].name, score) < 0)
            rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    }
    free(work);
    series_table_destroy(n);
    series_table_destroy(a);
    return rc;
}

/* ---------------------------------------------------------------------
 * Running a method
 * --------------------------------------------------------------------- */

const char *rca_method_name(const struct rca_method *m)
{
    return m->name;
}

const char *rca_method_summary(const struct rca_method *m)
{
    return m->summary;
}

unsigned rca_method_inputs(const struct rca_method *m)
{
    return m->inputs;
}

bool rca_method_stochastic(const struct rca_method *m)
{
    return (m->flags & RCA_METHOD_STOCHASTIC) != 0;
}

int rca_method_validate(const struct rca_method *m, const struct rca_params *p,
                        char *err, size_t errlen)
{
    for (size_t i = 0; p && i < p->nkv; i++) {
        bool known = false;

        for (size_t k = 0; m->params && m->params[k]; k++)
            known |= p->kv[i].key && !strcmp(p->kv[i].key, m->params[k]);
        if (!known)
            return rca_fail(err, errlen, RCA_E_INVAL, m->name,
                            "unknown parameter '%s'%s",
                            p->kv[i].key ? p->kv[i].key : "",
                            m->params && m->params[0]
                                ? " (docs/RCA.md lists the method's keys)"
                                : " (this method takes none)");
        if (!p->kv[i].value)
            return rca_fail(err, errlen, RCA_E_INVAL, m->name,
                            "parameter '%s' has no value", p->kv[i].key);
    }
    return m->validate ? m->validate(p, err, errlen) : 0;
}

int rca_method_check_inputs(const struct rca_method *m,
                            const struct rca_case *c, char *err, size_t errlen)
{
    static const struct {
        unsigned bit;
        const char *what;
    } need[] = {
        {RCA_IN_INJECT, "the inject time (inject_time.txt, --inject-time T "
                        "or --inject-time auto)"},
        {RCA_IN_LOGTS, "log time series (logts.csv or logs.csv)"},
        {RCA_IN_TRACETS, "trace time series (tracets_err.csv and "
                         "tracets_lat.csv, or traces.csv)"},
        {RCA_IN_TRACES, "traces (traces.csv)"},
        {RCA_IN_LOGS, "logs (logs.csv)"},
        {RCA_IN_SLI, "an SLI column"},
    };
    const char *name = c->name && *c->name ? c->name : "case";

    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        bool have;

        if (!(m->inputs & need[i].bit))
            continue;
        switch (need[i].bit) {
        case RCA_IN_INJECT:
            have = c->has_inject;
            break;
        case RCA_IN_LOGTS:
            have = c->logts != NULL;
            break;
        case RCA_IN_TRACETS:
            have = c->tracets_err && c->tracets_lat;
            break;
        case RCA_IN_TRACES:
            have = c->traces != NULL;
            break;
        case RCA_IN_LOGS:
            have = c->logs != NULL;
            break;
        default:
            have = c->sli != NULL;
            break;
        }
        if (!have)
            return rca_fail(err, errlen, RCA_E_INPUT, name,
                            "method %s needs %s", m->name, need[i].what);
    }
    if (!c->metrics)
        return rca_fail(err, errlen, RCA_E_INPUT, name, "no metric table");
    return 0;
}

int rca_rank(const struct rca_method *m, const struct rca_case *c,
             const struct rca_params *p, struct rca_ranking *out, char *err,
             size_t errlen)
{
    static const struct rca_params none = {0};
    int rc;

    if (!p)
        p = &none;
    if ((rc = rca_method_validate(m, p, err, errlen)) < 0 ||
        (rc = rca_method_check_inputs(m, c, err, errlen)) < 0)
        return rc;
    rc = m->rank(c, p, out, err, errlen);
    if (rc < 0)
        rca_ranking_free(out);
    if ((rc == -RCA_E_NOCONV || rc == -RCA_E_INFEASIBLE) &&
        (m->flags & RCA_METHOD_FALLBACK)) {
        snprintf(out->note, sizeof(out->note), "%s", err ? err : "");
        rc = rca_dummy_rank(c, p->seed, out, err, errlen);
        if (rc == 0)
            out->fallback = true;
        else
            rca_ranking_free(out);
    }
    return rc;
}
