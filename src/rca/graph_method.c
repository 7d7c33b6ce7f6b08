/* graph_method: one builder + one head for RCAEval's causal-graph methods
 * (see graph_method.h). */
#include "rca/graph_method.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/cgraph.h"
#include "stats/fci.h"
#include "stats/granger.h"
#include "stats/icalingam.h"
#include "stats/pagerank.h"
#include "stats/pc.h"
#include "stats/randwalk.h"
#include "stats/stats_status.h"

struct gconf {
    double alpha, p_threshold;
    size_t maxlag, max_iter, pdsep_budget, n_iter;
    bool skip_infeasible, zip_rcaeval;
};

static int choice(const struct rca_params *p, const char *method,
                  const char *key, const char *a, const char *b, bool *is_b,
                  char *err, size_t errlen)
{
    const char *v = rca_param(p, key);

    *is_b = false;
    if (!v || !strcmp(v, a))
        return 0;
    if (!strcmp(v, b)) {
        *is_b = true;
        return 0;
    }
    return rca_fail(err, errlen, RCA_E_INVAL, method, "%s=%s: must be %s or %s",
                    key, v, a, b);
}

static int conf_read(const char *m, const struct rca_params *p, struct gconf *g,
                     char *err, size_t errlen)
{
    int rc;

    if ((rc = rca_param_double(p, m, "alpha", 0.05, 1e-300, 0.999999, &g->alpha,
                               err, errlen)) < 0 ||
        (rc = rca_param_double(p, m, "p_threshold", 0.05, 1e-300, 1.0,
                               &g->p_threshold, err, errlen)) < 0 ||
        (rc = rca_param_size(p, m, "maxlag", 3, 1, 3, &g->maxlag, err,
                             errlen)) < 0 ||
        (rc = rca_param_size(p, m, "max_iter", 1000, 1, 1000000, &g->max_iter,
                             err, errlen)) < 0 ||
        (rc = rca_param_size(p, m, "pdsep_budget", 2000000, 1, (size_t)1 << 40,
                             &g->pdsep_budget, err, errlen)) < 0 ||
        (rc = rca_param_size(p, m, "n_iter", 0, 1, 1000000000, &g->n_iter, err,
                             errlen)) < 0 ||
        (rc = choice(p, m, "infeasible", "fallback", "skip",
                     &g->skip_infeasible, err, errlen)) < 0 ||
        (rc = choice(p, m, "pc_zip", "fixed", "rcaeval", &g->zip_rcaeval, err,
                     errlen)) < 0)
        return rc;
    return 0;
}

int rca_graph_validate(const char *method, const struct rca_params *p,
                       char *err, size_t errlen)
{
    struct gconf g;

    return conf_read(method, p, &g, err, errlen);
}

/* ---------------------------------------------------------------------
 * Builders: marks (cgraph.h) or, for Granger and LiNGAM, RCAEval's 0/1
 * matrix stored in the same bytes (the converters take both)
 * --------------------------------------------------------------------- */

static int stats_to_rca(int src)
{
    switch (-src) {
    case STATS_E_NOMEM:
        return RCA_E_NOMEM;
    case STATS_E_INFEASIBLE:
        return RCA_E_INFEASIBLE;
    case STATS_E_NOCONV:
        return RCA_E_NOCONV;
    default:
        return RCA_E_DATA;
    }
}

static int build(const struct rca_graph_spec *s, const struct gconf *g,
                 const struct series_table *t, uint64_t seed, signed char *m,
                 char *err, size_t errlen)
{
    size_t n = t->ncols, rows = t->nrows;
    const char *what = "";
    int rc = 0;

    switch (s->builder) {
    case RCA_GRAPH_PC: {
        struct stats_pc_opts o = {{g->alpha, false, -1}};
        what = "PC (Fisher-z)";
        rc = stats_pc_fisherz(t->values, rows, n, &o, m, NULL);
        break;
    }
    case RCA_GRAPH_FCI: {
        struct stats_fci_opts o = {{g->alpha, false, -1}, g->pdsep_budget};
        what = "FCI (Fisher-z)";
        rc = stats_fci_fisherz(t->values, rows, n, &o, m, NULL);
        break;
    }
    case RCA_GRAPH_GRANGER: {
        struct stats_granger_opts o = {0};
        o.maxlag = (unsigned)g->maxlag;
        o.p_threshold = g->p_threshold;
        o.stop_infeasible = !g->skip_infeasible;
        what = "Granger";
        rc = stats_granger_graph(t->values, rows, n, &o, (unsigned char *)m,
                                 NULL);
        if (rc == -STATS_E_INFEASIBLE)
            return rca_fail(err, errlen, RCA_E_INFEASIBLE, s->name,
                            "a Granger test is infeasible on this data "
                            "(statsmodels raises InfeasibleTestError)");
        break;
    }
    case RCA_GRAPH_LINGAM: {
        struct stats_fastica_opts o = {(unsigned)g->max_iter, 0.0, seed};
        size_t *order = malloc((n + 1) * sizeof(size_t));
        what = "ICALiNGAM";
        if (rows <= n) { /* RCAEval raises too: see icalingam.h */
            free(order);
            return rca_fail(err, errlen, RCA_E_DATA, s->name,
                            "ICALiNGAM needs more rows than columns (%zu "
                            "columns x %zu rows); RCAEval's fails on such a "
                            "table as well",
                            n, rows);
        }
        rc = order ? stats_ica_lingam(t->values, rows, n, &o, order, NULL,
                                      (unsigned char *)m, NULL)
                   : -STATS_E_NOMEM;
        free(order);
        break;
    }
    }
    if (rc < 0)
        return rca_fail(err, errlen, stats_to_rca(rc), s->name,
                        "%s on %zu columns x %zu rows: %s", what, n, rows,
                        stats_strerror(rc));
    return 0;
}

/* ---------------------------------------------------------------------
 * Heads
 * --------------------------------------------------------------------- */

static bool zero_01(const signed char *m, size_t n)
{
    for (size_t i = 0; i < n * n; i++)
        if (m[i])
            return false;
    return true;
}

/* pc_pagerank as RCAEval writes it: a networkx graph of the nodes with an
 * edge (i -> j for a tail at i, j -> i for an arrowhead at i), PageRank on
 * its transpose. RCAEval zips the k scores with the first k column names
 * (zip_first); otherwise score[i] is column i's own and an edgeless column
 * gets NaN (ranked last). */
static int pc_subgraph_pagerank(const signed char *m, size_t n, bool zip_first,
                                double *score, size_t *k_out)
{
    size_t *node = malloc((n + 1) * sizeof(size_t)), k = 0;
    double *sc = malloc((n + 1) * sizeof(double));
    unsigned char *pr = NULL;
    int rc = -STATS_E_NOMEM;

    if (!node || !sc)
        goto out;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (m[i * n + j] || m[j * n + i]) {
                node[k++] = i;
                break;
            }
    if (!(pr = calloc(k * k + 1, 1)))
        goto out;
    /* adj[a][b] for the edge a -> b; PageRank walks adj^T: b -> a */
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++) {
            signed char u = m[node[a] * n + node[b]];
            if (u == STATS_MARK_TAIL) /* edge a -> b */
                pr[b * k + a] = 1;
            if (u == STATS_MARK_ARROW) /* edge b -> a */
                pr[a * k + b] = 1;
        }
    if (k && (rc = stats_pagerank_rcaeval(pr, k, 10, sc)) < 0)
        goto out;
    rc = 0;
    if (zip_first) {
        memcpy(score, sc, k * sizeof(double));
        *k_out = k;
    } else {
        for (size_t i = 0; i < n; i++)
            score[i] = NAN;
        for (size_t a = 0; a < k; a++)
            score[node[a]] = sc[a];
        *k_out = n;
    }
out:
    free(node);
    free(sc);
    free(pr);
    return rc;
}

static int head_pagerank(const struct rca_graph_spec *s, const struct gconf *g,
                         const struct rca_case *c, const signed char *m,
                         size_t n, double *score, size_t *nscored)
{
    bool is01 =
        s->builder == RCA_GRAPH_GRANGER || s->builder == RCA_GRAPH_LINGAM;
    unsigned char *pr;
    size_t it = 10;
    int rc;

    *nscored = n;
    if (is01 && zero_01(m, n)) { /* RCAEval returns the column order */
        memset(score, 0, n * sizeof(double));
        return 0;
    }
    if (s->builder == RCA_GRAPH_PC)
        return pc_subgraph_pagerank(m, n, g->zip_rcaeval, score, nscored);
    if (g->n_iter)
        it = g->n_iter;
    else if (s->builder == RCA_GRAPH_FCI && c->n_iter)
        it = c->n_iter; /* fci_pagerank(n_iter=num_node) */
    if (!(pr = malloc(n * n + 1)))
        return -STATS_E_NOMEM;
    rc = stats_cgraph_pagerank_input(m, n, pr);
    if (rc == 0)
        rc = stats_pagerank_rcaeval(pr, n, (unsigned)it, score);
    free(pr);
    return rc;
}

static int head_walk(const struct rca_graph_spec *s, const struct gconf *g,
                     const struct rca_case *c, signed char *m, size_t n,
                     uint64_t seed, double *score)
{
    unsigned char *gr = malloc(n * n + 1);
    double *P = malloc((n * n + 1) * sizeof(double));
    double *zero = calloc(n + 1, sizeof(double));
    size_t steps = g->n_iter ? g->n_iter : c->n_iter ? c->n_iter : n;
    struct stats_rng rng;
    int rc = -STATS_E_NOMEM;

    if (!gr || !P || !zero)
        goto out;
    if (s->builder == RCA_GRAPH_FCI) /* numpy.sign: a circle is an arrow */
        for (size_t i = 0; i < n * n; i++)
            if (m[i] == STATS_MARK_CIRCLE)
                m[i] = STATS_MARK_ARROW;
    if ((rc = stats_cgraph_randomwalk_input(m, n, gr)) < 0 ||
        (rc = stats_rw_transition(gr, n, zero, 0.5, P)) < 0)
        goto out;
    /* a stream apart from ICALiNGAM's, which is seeded with seed itself */
    rca_rng_init(&rng, seed ^ 0x7261776b5f77616cULL);
    size_t start = (size_t)rca_rng_below(&rng, n);
    if ((rc = stats_rw_walk(P, n, start, steps, &rng, score)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        score[i] /= (double)steps;
out:
    free(gr);
    free(P);
    free(zero);
    return rc;
}

int rca_graph_rank(const struct rca_graph_spec *spec, const struct rca_case *c,
                   const struct rca_params *p, struct rca_ranking *out,
                   char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *t = NULL;
    signed char *m = NULL;
    double *score = NULL;
    struct gconf g;
    size_t n, nscored = 0;
    int rc;

    if ((rc = conf_read(spec->name, p, &g, err, errlen)) < 0)
        return rc;
    if (!(t = series_table_copy(c->metrics)))
        return rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    series_table_preprocess_rcaeval(t);
    n = t->ncols;
    if (n == 0) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "%s: no column varies in the window", spec->name);
        goto out;
    }
    m = calloc(n * n + 1, 1);
    score = calloc(n + 1, sizeof(double));
    if (!m || !score) {
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
        goto out;
    }
    if ((rc = build(spec, &g, t, p->seed, m, err, errlen)) < 0)
        goto out;
    rc = spec->head == RCA_GRAPH_PAGERANK
             ? head_pagerank(spec, &g, c, m, n, score, &nscored)
             : head_walk(spec, &g, c, m, n, p->seed, score);
    if (spec->head == RCA_GRAPH_RANDOMWALK)
        nscored = n;
    if (rc < 0) {
        rc = rca_fail(err, errlen, stats_to_rca(rc), name, "%s: %s", spec->name,
                      rc == -STATS_E_UNSUPPORTED
                          ? "an edge mark pair RCAEval's head raises on"
                          : stats_strerror(rc));
        goto out;
    }
    /* score i belongs to column i (pc_zip=rcaeval: to whatever column
     * RCAEval's zip pairs it with, the first nscored names) */
    for (size_t i = 0; i < nscored && rc == 0; i++)
        if (rca_ranking_add(out, t->cols[i].name, score[i]) < 0)
            rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    if (rc == 0)
        rca_ranking_sort(out);
out:
    series_table_destroy(t);
    free(m);
    free(score);
    return rc;
}
