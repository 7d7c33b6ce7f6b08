/* microrca: MicroRCA (Wu et al., "MicroRCA: Root Cause Localization of
 * Performance Issues in Microservices", NOMS 2020) as rca-llm's RCAEval
 * runs it (RCAEval/e2e/extra_methods/microrca.py, interface.py, utils.py),
 * on the call graph skewscope builds from the case's metrics (callgraph.h:
 * RCAEval reads mpg.csv, with container -> host edges, and
 * latency_merged_90.csv instead):
 *
 *  1. Anomalous invocations u -> v (Birch); their destinations are the
 *     anomalous services, each with a baseline: the latency of its
 *     (last) anomalous incoming invocation.
 *  2. The anomaly graph: for each anomalous service s, every call u -> s
 *     weighted alpha (0.55) when anomalous, else corr(baseline(s),
 *     latency(u -> s)); every call s -> v weighted alpha when anomalous,
 *     else corr(baseline(s), latency(s -> v)); weights rounded to 3
 *     decimals, NaN or infinite ones 0.
 *  3. Personalisation of each anomalous service s: the mean weight of its
 *     in-edges and its out-edges in the anomaly graph, times max(0.01, the
 *     largest |corr(baseline(s), m)| over the service's resource metrics
 *     m), divided by its degree, negative values 0; all 0 -> uniform over
 *     the anomalous services.
 *  4. networkx PageRank (alpha 0.85, max_iter 10000) on the reversed graph;
 *     services by score, highest first.
 *
 * The resource metrics: RCAEval reads "<svc>_ctn_cpu", "_ctn_network",
 * "_ctn_memory" and "_ctn_gpu" from data.csv; here they are every column of
 * the service except its latency column, so the same rule covers RCAEval's
 * other datasets (cpu, mem, ...). Without host nodes, RCAEval's host
 * weights (node_cpu, node_network, node_memory correlations) do not arise.
 * Departures: the anomalous services are visited in graph order (RCAEval:
 * Python's set order, which decides the write order of edges and the order
 * of ties). A non-converging PageRank gives dummy's ranking (RCAEval's
 * @rca). Parameters: entry (unused by the ranking but shared by the graph
 * builder), alpha (0.55). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/methods/callgraph.h"
#include "rca/rca_method.h"

static const char *const mrca_params[] = {"entry", "step_s", "alpha", NULL};

static int mrca_read(const struct rca_params *p, double *alpha, char *err,
                     size_t errlen)
{
    return rca_param_double(p, "microrca", "alpha", 0.55, -1e6, 1e6, alpha, err,
                            errlen);
}

static int mrca_validate(const struct rca_params *p, char *err, size_t errlen)
{
    double a;
    int rc;

    if ((rc = mrca_read(p, &a, err, errlen)) < 0)
        return rc;
    return rca_callgraph_validate(p, "microrca", err, errlen);
}

static double weight_of(double r)
{
    return isfinite(r) ? rca_round3(r) : 0.0;
}

/* Step 2. base[s]: the baseline series of anomalous service s. */
static void mrca_graph(const struct rca_callgraph *g, const double *const *base,
                       double alpha, struct rca_wgraph *ag)
{
    size_t n = g->n;

    for (size_t s = 0; s < n; s++) {
        if (!base[s])
            continue;
        for (size_t u = 0; u < n; u++)
            if (g->call[u * n + s])
                rca_wgraph_add(
                    ag, u, s,
                    rca_callgraph_anomalous(g, u, s)
                        ? alpha
                        : weight_of(rca_pearson(base[s],
                                                rca_callgraph_edge_lat(g, u, s),
                                                g->rows)));
        for (size_t v = 0; v < n; v++)
            if (g->call[s * n + v])
                rca_wgraph_add(
                    ag, s, v,
                    rca_callgraph_anomalous(g, s, v)
                        ? alpha
                        : weight_of(rca_pearson(base[s],
                                                rca_callgraph_edge_lat(g, s, v),
                                                g->rows)));
    }
}

/* Step 3 for one service. */
static double mrca_pers(const struct rca_callgraph *g,
                        const struct rca_wgraph *ag, const double *base,
                        size_t s)
{
    const struct series_table *t = g->t;
    double best = 0.01, sum = 0.0;
    size_t num = 0, n = g->n, deg;

    for (size_t j = 0; j < t->ncols; j++) {
        if (j == g->lat_col[s] || strcmp(t->cols[j].entity, g->name[s]))
            continue;
        double r = fabs(rca_pearson(base, series_table_col(t, j), g->rows));
        if (r > best)
            best = r;
    }
    for (size_t u = 0; u < n; u++) {
        if (ag->e[u * n + s]) {
            sum += ag->w[u * n + s];
            num++;
        }
        if (ag->e[s * n + u]) {
            sum += ag->w[s * n + u];
            num++;
        }
    }
    deg = rca_wgraph_degree(ag, s);
    if (num == 0 || deg == 0)
        return 0.0;
    double pz = sum / (double)num * best / (double)deg;
    return pz > 0.0 ? pz : 0.0;
}

static int microrca_rank(const struct rca_case *c, const struct rca_params *p,
                         struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct rca_callgraph g;
    struct rca_wgraph ag = {0};
    const double **base = NULL;
    double alpha, *pers = NULL, *score = NULL, psum = 0.0;
    size_t nanom = 0;
    int rc;

    if ((rc = mrca_read(p, &alpha, err, errlen)) < 0 ||
        (rc = rca_callgraph_build(c, "microrca", p, &g, err, errlen)) < 0)
        return rc;
    base = calloc(g.n, sizeof(*base));
    pers = calloc(g.n, sizeof(double));
    score = calloc(g.n, sizeof(double));
    if (!base || !pers || !score || rca_wgraph_init(&ag, g.n) < 0)
        goto oom;
    for (size_t u = 0; u < g.n; u++)
        for (size_t v = 0; v < g.n; v++)
            if (rca_callgraph_anomalous(&g, u, v))
                base[v] = rca_callgraph_edge_lat(&g, u, v);
    mrca_graph(&g, base, alpha, &ag);
    for (size_t s = 0; s < g.n; s++)
        if (base[s]) {
            pers[s] = mrca_pers(&g, &ag, base[s], s);
            psum += pers[s];
            nanom++;
        }
    for (size_t s = 0; psum == 0.0 && s < g.n; s++)
        pers[s] = base[s] ? 1.0 / (double)nanom : 0.0;
    rc = rca_wgraph_pagerank_reversed(&ag, pers, 10000, score);
    if (rc == -RCA_E_NOMEM)
        goto oom;
    if (rc < 0) {
        rc = rca_fail(err, errlen, -rc, name, "microrca: %s",
                      rc == -RCA_E_NOCONV ? "PageRank did not converge"
                                          : "PageRank failed");
        goto out;
    }
    if (rca_wgraph_rank(&ag, &g, score, out) < 0)
        goto oom;
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    free(base);
    free(pers);
    free(score);
    rca_wgraph_free(&ag);
    rca_callgraph_free(&g);
    return rc;
}

const struct rca_method rca_method_microrca = {
    .name = "microrca",
    .summary = "MicroRCA: attributed anomaly graph of a latency call graph, "
               "personalised PageRank",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK,
    .params = mrca_params,
    .validate = mrca_validate,
    .rank = microrca_rank,
};
