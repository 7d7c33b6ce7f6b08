/* monitorrank: MonitorRank (Kim et al., "Root Cause Detection in a
 * Service-Oriented Architecture", SIGMETRICS 2013) as rca-llm's RCAEval
 * runs it (RCAEval/e2e/extra_methods/monitorrank.py, interface.py,
 * utils.py), on the call graph skewscope builds from the case's metrics
 * (callgraph.h: RCAEval reads mpg.csv and latency_merged_90.csv instead):
 *
 *  1. The anomalous services: destinations of invocations Birch flags.
 *  2. sim(x) = round(|corr(latency(entry), latency(x))|, 3) on the
 *     services' aggregated latencies.
 *  3. The anomaly graph: for each anomalous service s, for each caller u of
 *     s and callee v of s that is not the entry point, the edges u -> s
 *     (weight sim(s)), s -> u (rho sim(u)), s -> v (sim(v)), v -> s
 *     (rho sim(s)); a later write of the same edge replaces its weight, as
 *     networkx's add_edge does. rho = 0.5.
 *  4. Each node gets a self-loop weighted by its self score max(sim(node) -
 *     max over its callees v of sim(v), 0) (0 for the entry point) and the
 *     personalisation sim(node), 0 for the entry point.
 *  5. networkx PageRank (alpha 0.85, max_iter 10000) on the reversed graph;
 *     services by score, highest first.
 *
 * Departures: RCAEval iterates the anomalous services in Python's
 * string-hash set order, which decides which write of an edge written
 * twice wins and the order of ties; here they go in graph order. A NaN
 * correlation (a constant latency) counts as 0 where RCAEval would carry
 * NaN into PageRank. A non-converging PageRank gives dummy's ranking
 * (RCAEval's @rca). Parameters: entry, rho (0.5). */
#include <math.h>
#include <stdlib.h>

#include "rca/methods/callgraph.h"
#include "rca/rca_method.h"

static const char *const mr_params[] = {"entry", "step_s", "rho", NULL};

static int mr_read(const struct rca_params *p, double *rho, char *err,
                   size_t errlen)
{
    return rca_param_double(p, "monitorrank", "rho", 0.5, 0.0, 1e6, rho, err,
                            errlen);
}

static int mr_validate(const struct rca_params *p, char *err, size_t errlen)
{
    double rho;
    int rc;

    if ((rc = mr_read(p, &rho, err, errlen)) < 0)
        return rc;
    return rca_callgraph_validate(p, "monitorrank", err, errlen);
}

static void mr_sims(const struct rca_callgraph *g, double *sim)
{
    for (size_t v = 0; v < g->n; v++) {
        double r = rca_pearson(g->lat[g->entry], g->lat[v], g->rows);
        sim[v] = isnan(r) ? 0.0 : rca_round3(fabs(r));
    }
}

static void mr_subgraph(const struct rca_callgraph *g, const double *sim,
                        double rho, struct rca_wgraph *ag)
{
    size_t n = g->n;

    for (size_t s = 0; s < n; s++) {
        if (!rca_callgraph_anomaly_node(g, s))
            continue;
        for (size_t u = 0; u < n; u++)
            if (g->call[u * n + s] && s != g->entry) {
                rca_wgraph_add(ag, u, s, sim[s]);
                rca_wgraph_add(ag, s, u, rho * sim[u]);
            }
        for (size_t v = 0; v < n; v++)
            if (g->call[s * n + v] && v != g->entry) {
                rca_wgraph_add(ag, s, v, sim[v]);
                rca_wgraph_add(ag, v, s, rho * sim[s]);
            }
    }
}

static double self_score(const struct rca_callgraph *g, const double *sim,
                         size_t v)
{
    double child = 0.0;

    if (v == g->entry)
        return 0.0;
    for (size_t c = 0; c < g->n; c++)
        if (g->call[v * g->n + c] && sim[c] > child)
            child = sim[c];
    return sim[v] - child > 0.0 ? sim[v] - child : 0.0;
}

static int monitorrank_rank(const struct rca_case *c,
                            const struct rca_params *p, struct rca_ranking *out,
                            char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct rca_callgraph g;
    struct rca_wgraph ag = {0};
    double rho, *sim = NULL, *pers = NULL, *score = NULL;
    int rc;

    if ((rc = mr_read(p, &rho, err, errlen)) < 0 ||
        (rc = rca_callgraph_build(c, "monitorrank", p, &g, err, errlen)) < 0)
        return rc;
    sim = malloc(g.n * sizeof(double));
    pers = calloc(g.n, sizeof(double));
    score = calloc(g.n, sizeof(double));
    if (!sim || !pers || !score || rca_wgraph_init(&ag, g.n) < 0)
        goto oom;
    mr_sims(&g, sim);
    mr_subgraph(&g, sim, rho, &ag);
    for (size_t i = 0; i < ag.k; i++) {
        size_t v = ag.order[i];
        rca_wgraph_add(&ag, v, v, self_score(&g, sim, v));
        pers[v] = v == g.entry ? 0.0 : sim[v];
    }
    rc = rca_wgraph_pagerank_reversed(&ag, pers, 10000, score);
    if (rc == -RCA_E_NOMEM)
        goto oom;
    if (rc < 0) {
        rc = rca_fail(err, errlen, -rc, name,
                      rc == -RCA_E_NOCONV
                          ? "monitorrank: PageRank did not converge"
                          : "monitorrank: every personalisation weight is 0");
        goto out;
    }
    if (rca_wgraph_rank(&ag, &g, score, out) < 0)
        goto oom;
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    free(sim);
    free(pers);
    free(score);
    rca_wgraph_free(&ag);
    rca_callgraph_free(&g);
    return rc;
}

const struct rca_method rca_method_monitorrank = {
    .name = "monitorrank",
    .summary = "MonitorRank: personalised PageRank over the anomalous part of "
               "a latency call graph",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK,
    .params = mr_params,
    .validate = mr_validate,
    .rank = monitorrank_rank,
};
