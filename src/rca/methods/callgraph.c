/* callgraph: the call graph the extra methods need, built from a case's
 * metrics (see callgraph.h). */
#include "rca/methods/callgraph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/birch.h"
#include "stats/cgraph.h"
#include "stats/pagerank.h"
#include "stats/pc.h"
#include "stats/stats_status.h"

double rca_pearson(const double *a, const double *b, size_t n)
{
    double ma = 0.0, mb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0;

    if (n < 2)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    for (size_t i = 0; i < n; i++) {
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
        sab += (a[i] - ma) * (b[i] - mb);
    }
    if (!(saa > 0.0) || !(sbb > 0.0))
        return NAN;
    double r = sab / sqrt(saa * sbb);
    return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

double rca_round3(double x)
{
    return nearbyint(x * 1000.0) / 1000.0;
}

bool rca_callgraph_anomaly_node(const struct rca_callgraph *g, size_t v)
{
    for (size_t u = 0; u < g->n; u++)
        if (rca_callgraph_anomalous(g, u, v))
            return true;
    return false;
}

/* The table averaged over step_ns buckets of time (from the earliest row;
 * empty buckets skipped), rca-llm's 5 s Prometheus step; step_ns <= 0 or
 * a table already that coarse: a plain copy. */
static struct series_table *resample(const struct series_table *t,
                                     int64_t step_ns)
{
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    struct series_table *o = NULL;
    size_t nb, *cnt = NULL, *map = NULL, k = 0;

    for (size_t r = 0; r < t->nrows; r++) {
        tmin = t->time_ns[r] < tmin ? t->time_ns[r] : tmin;
        tmax = t->time_ns[r] > tmax ? t->time_ns[r] : tmax;
    }
    if (step_ns <= 0 || t->nrows < 2 ||
        (tmax - tmin) / step_ns + 1 >= (int64_t)t->nrows)
        return series_table_copy(t);
    nb = (size_t)((tmax - tmin) / step_ns) + 1;
    cnt = calloc(nb, sizeof(size_t));
    map = malloc(nb * sizeof(size_t));
    if (!cnt || !map)
        goto out;
    for (size_t r = 0; r < t->nrows; r++)
        cnt[(t->time_ns[r] - tmin) / step_ns]++;
    for (size_t b = 0; b < nb; b++)
        map[b] = cnt[b] ? k++ : SIZE_MAX;
    if (!(o = series_table_create(k, t->ncols)))
        goto out;
    for (size_t b = 0; b < nb; b++)
        if (cnt[b])
            o->time_ns[map[b]] = tmin + (int64_t)b * step_ns;
    for (size_t c = 0; c < t->ncols; c++) {
        double *dst = series_table_col(o, c);
        const double *src = series_table_col(t, c);
        if (series_table_set_name(o, c, t->cols[c].name) < 0) {
            series_table_destroy(o);
            o = NULL;
            goto out;
        }
        for (size_t i = 0; i < k; i++)
            dst[i] = 0.0;
        for (size_t r = 0; r < t->nrows; r++) {
            size_t b = (size_t)((t->time_ns[r] - tmin) / step_ns);
            dst[map[b]] += src[r] / (double)cnt[b];
        }
    }
out:
    free(cnt);
    free(map);
    return o;
}

/* The latency column of service `svc` (entity), or -1. */
static int64_t latency_col(const struct series_table *t, const char *svc)
{
    int64_t j;

    if ((j = series_table_find_metric(t, svc, "latency")) >= 0 ||
        (j = series_table_find_metric(t, svc, "lat_90")) >= 0)
        return j;
    for (size_t c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c].entity, svc) && strstr(t->cols[c].metric, "lat"))
            return (int64_t)c;
    return -1;
}

static int cg_nodes(struct rca_callgraph *g, const struct series_table *t)
{
    g->name = malloc((t->ncols + 1) * sizeof(char *));
    g->lat_col = malloc((t->ncols + 1) * sizeof(size_t));
    g->lat = malloc((t->ncols + 1) * sizeof(double *));
    if (!g->name || !g->lat_col || !g->lat)
        return -RCA_E_NOMEM;
    for (size_t c = 0; c < t->ncols; c++) {
        const char *svc = t->cols[c].entity;
        bool seen = false;
        int64_t j;

        for (size_t k = 0; k < g->n && !seen; k++)
            seen = !strcmp(g->name[k], svc);
        if (seen || (j = latency_col(t, svc)) < 0)
            continue;
        g->name[g->n] = svc;
        g->lat_col[g->n] = (size_t)j;
        g->lat[g->n] = series_table_col(t, (size_t)j);
        g->n++;
    }
    return 0;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v over the rows flagged in use; w: scratch. */
static double median_of(const double *v, const unsigned char *use, size_t rows,
                        double *w)
{
    size_t k = 0;

    for (size_t r = 0; r < rows; r++)
        if (use[r])
            w[k++] = v[r];
    qsort(w, k, sizeof(double), cmp_dbl);
    if (k == 0)
        return NAN;
    return k % 2 ? w[k / 2] : 0.5 * (w[k / 2 - 1] + w[k / 2]);
}

/* Call edges: the PC skeleton (Fisher-z, alpha 0.05) of the non-constant
 * latency columns over the normal rows, each adjacency oriented from the
 * service with the larger median latency (the caller, whose latency
 * includes its callee's) to the smaller; equal medians call both ways. */
static int cg_edges(struct rca_callgraph *g, const unsigned char *use,
                    size_t nu)
{
    size_t n = g->n, rows = g->rows, k = 0;
    size_t *idx = malloc(n * sizeof(size_t));
    double *x = malloc((n * nu + 1) * sizeof(double));
    double *w = malloc((rows + 1) * sizeof(double));
    signed char *m = malloc(n * n + 1);
    int rc = -RCA_E_NOMEM;

    if (!idx || !x || !m || !w)
        goto out;
    for (size_t v = 0; v < n; v++) {
        const double *s = g->lat[v];
        double *dst = x + k * nu;
        bool same = true;
        size_t q = 0;
        g->med[v] = median_of(s, use, rows, w);
        for (size_t r = 0; r < rows; r++)
            if (use[r]) {
                dst[q] = s[r];
                same &= dst[q] == dst[0];
                q++;
            }
        if (!same)
            idx[k++] = v;
    }
    rc = 0;
    if (k < 2 || nu < 5)
        goto out;
    if (stats_pc_fisherz(x, nu, k, NULL, m, NULL) < 0) {
        rc = -RCA_E_DATA;
        goto out;
    }
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++) {
            size_t va = idx[a], vb = idx[b];
            if (a != b && m[a * k + b] != STATS_MARK_NONE &&
                g->med[va] >= g->med[vb])
                g->call[va * n + vb] = 1;
        }
out:
    free(idx);
    free(x);
    free(w);
    free(m);
    return rc;
}

/* The entry: the `entry` service, else "nginx-proxy", else the service with
 * the largest median latency (the front door's latency includes every
 * other: first on ties). */
static int cg_entry(struct rca_callgraph *g, const char *entry)
{
    size_t best = 0;

    for (size_t v = 0; v < g->n; v++)
        if (!strcmp(g->name[v], entry ? entry : "nginx-proxy")) {
            g->entry = v;
            return 0;
        }
    if (entry)
        return -RCA_E_INVAL;
    for (size_t v = 1; v < g->n; v++)
        if (g->med[v] > g->med[best])
            best = v;
    g->entry = best;
    return 0;
}

static bool skipped_name(const char *s)
{
    return strstr(s, "unknown") || strstr(s, "timestamp") ||
           strstr(s, "time") || strstr(s, "index");
}

static int cg_anomalies(struct rca_callgraph *g)
{
    for (size_t v = 0; v < g->n; v++) {
        bool a = false;
        int rc;

        if (skipped_name(g->name[v]))
            continue;
        if ((rc = stats_birch_anomalous(g->lat[v], g->rows, 10, 0.045, &a)) < 0)
            return rc == -STATS_E_NOMEM ? -RCA_E_NOMEM : -RCA_E_DATA;
        g->anom_v[v] = a;
    }
    return 0;
}

void rca_callgraph_free(struct rca_callgraph *g)
{
    free(g->name);
    free(g->lat_col);
    free(g->lat);
    free(g->med);
    free(g->call);
    free(g->anom_v);
    series_table_destroy(g->own);
    memset(g, 0, sizeof(*g));
}

int rca_callgraph_validate(const struct rca_params *p, const char *method,
                           char *err, size_t errlen)
{
    double step_s;

    return rca_param_double(p, method, "step_s", 5.0, 0.0, 86400.0, &step_s,
                            err, errlen);
}

/* The rows the graph is learned on: before the inject time when there are
 * at least 10 such rows, else all. */
static unsigned char *normal_rows(const struct rca_case *c,
                                  const struct series_table *t, size_t *nu)
{
    unsigned char *use = malloc(t->nrows + 1);
    size_t k = 0;

    if (!use)
        return NULL;
    for (size_t r = 0; r < t->nrows; r++)
        k += use[r] = !c->has_inject || t->time_ns[r] < c->inject_ns;
    if (k < 10) {
        memset(use, 1, t->nrows);
        k = t->nrows;
    }
    *nu = k;
    return use;
}

int rca_callgraph_build(const struct rca_case *c, const char *method,
                        const struct rca_params *p, struct rca_callgraph *g,
                        char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    const char *entry = rca_param(p, "entry");
    unsigned char *use = NULL;
    double step_s;
    size_t nu = 0;
    int rc;

    memset(g, 0, sizeof(*g));
    if ((rc = rca_param_double(p, method, "step_s", 5.0, 0.0, 86400.0, &step_s,
                               err, errlen)) < 0)
        return rc;
    if (!(g->own = resample(c->metrics, (int64_t)(step_s * 1e9)))) {
        rc = -RCA_E_NOMEM;
        goto fail;
    }
    g->t = g->own;
    g->rows = g->t->nrows;
    if ((rc = cg_nodes(g, g->t)) < 0)
        goto fail;
    if (g->n < 2 || g->rows < 2) {
        size_t n = g->n;
        rca_callgraph_free(g);
        return rca_fail(err, errlen, RCA_E_DATA, name,
                        "%s needs at least two services with a latency "
                        "column (has %zu)",
                        method, n);
    }
    g->call = calloc(g->n * g->n, 1);
    g->anom_v = calloc(g->n, 1);
    g->med = calloc(g->n, sizeof(double));
    if (!g->call || !g->anom_v || !g->med ||
        !(use = normal_rows(c, g->t, &nu))) {
        rc = -RCA_E_NOMEM;
        goto fail;
    }
    if ((rc = cg_edges(g, use, nu)) < 0 || (rc = cg_entry(g, entry)) < 0 ||
        (rc = cg_anomalies(g)) < 0)
        goto fail;
    free(use);
    return 0;
fail:
    free(use);
    rca_callgraph_free(g);
    if (rc == -RCA_E_INVAL)
        return rca_fail(err, errlen, RCA_E_INVAL, method,
                        "entry=%s: not a service with a latency column", entry);
    if (rc == -RCA_E_NOMEM)
        return rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    return rca_fail(err, errlen, RCA_E_DATA, name,
                    "%s: the latency graph could not be built", method);
}

/* ---------------------------------------------------------------------
 * Weighted digraphs
 * --------------------------------------------------------------------- */

int rca_wgraph_init(struct rca_wgraph *g, size_t n)
{
    memset(g, 0, sizeof(*g));
    g->n = n;
    g->w = calloc(n * n + 1, sizeof(double));
    g->e = calloc(n * n + 1, 1);
    g->in = calloc(n + 1, 1);
    g->order = malloc((n + 1) * sizeof(size_t));
    return g->w && g->e && g->in && g->order ? 0 : -RCA_E_NOMEM;
}

void rca_wgraph_free(struct rca_wgraph *g)
{
    free(g->w);
    free(g->e);
    free(g->in);
    free(g->order);
    memset(g, 0, sizeof(*g));
}

static void wg_node(struct rca_wgraph *g, size_t v)
{
    if (!g->in[v]) {
        g->in[v] = 1;
        g->order[g->k++] = v;
    }
}

void rca_wgraph_add(struct rca_wgraph *g, size_t u, size_t v, double w)
{
    wg_node(g, u);
    wg_node(g, v);
    g->e[u * g->n + v] = 1;
    g->w[u * g->n + v] = w;
}

size_t rca_wgraph_degree(const struct rca_wgraph *g, size_t v)
{
    size_t d = 0;

    for (size_t u = 0; u < g->n; u++)
        d += g->e[u * g->n + v] + g->e[v * g->n + u];
    return d;
}

int rca_wgraph_rank(const struct rca_wgraph *ag, const struct rca_callgraph *g,
                    const double *score, struct rca_ranking *out)
{
    for (size_t i = 0; i < ag->k; i++)
        if (rca_ranking_add(out, g->name[ag->order[i]], score[ag->order[i]]) <
            0)
            return -RCA_E_NOMEM;
    rca_ranking_sort(out);
    return 0;
}

int rca_wgraph_pagerank_reversed(const struct rca_wgraph *g, const double *pers,
                                 unsigned max_iter, double *score)
{
    size_t k = g->k, n = g->n;
    double *w = calloc(k * k + 1, sizeof(double));
    double *p = malloc((k + 1) * sizeof(double)),
           *sc = malloc((k + 1) * sizeof(double)), sum = 0.0;
    struct stats_pagerank_opts o = {0.85, max_iter, 1e-6, NULL, NULL};
    int rc = -RCA_E_NOMEM;

    if (!w || !p || !sc)
        goto out;
    for (size_t a = 0; a < k; a++) {
        p[a] = pers[g->order[a]];
        sum += p[a];
        /* reversed: the edge order[b] -> order[a] becomes a -> b */
        for (size_t b = 0; b < k; b++)
            if (g->e[g->order[b] * n + g->order[a]])
                w[a * k + b] = g->w[g->order[b] * n + g->order[a]];
    }
    if (k == 0) {
        rc = 0;
        goto out;
    }
    if (!(sum != 0.0)) {
        rc = -RCA_E_DATA;
        goto out;
    }
    o.personalization = p;
    rc = stats_pagerank_nx(w, k, &o, sc);
    if (rc == -STATS_E_NOCONV)
        rc = -RCA_E_NOCONV;
    else if (rc < 0)
        rc = rc == -STATS_E_NOMEM ? -RCA_E_NOMEM : -RCA_E_DATA;
    for (size_t a = 0; rc == 0 && a < k; a++)
        score[g->order[a]] = sc[a];
out:
    free(w);
    free(p);
    free(sc);
    return rc;
}
