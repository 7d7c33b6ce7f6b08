/* microscope: MicroScope (Lin et al., "Microscope: Pinpoint Performance
 * Issues with Causal Graphs in Micro-service Environments", ICSOC 2018) as
 * rca-llm's RCAEval runs it (RCAEval/e2e/extra_methods/microscope.py,
 * utils.py), on the call graph skewscope builds from the case's metrics
 * (callgraph.h: RCAEval reads mpg.csv and latency_merged_90.csv instead):
 *
 *  1. The anomalous services: destinations of invocations Birch flags.
 *  2. A depth-first search from the entry point along calls, stepping only
 *     into anomalous, unvisited callees; a visited service with no callee
 *     at all, or with no anomalous unvisited callee, is a candidate (the
 *     end of an anomaly propagation path).
 *  3. Candidates ranked by the Pearson correlation of their aggregated
 *     latency with the reference's, highest first.
 *
 * Departures: RCAEval pops its DFS stack as a Python set (string-hash
 * order); here it is a stack (last pushed first, callees pushed in graph
 * order). RCAEval correlates each candidate with the last node its loop
 * popped (a leftover loop variable, which depends on that set order); here
 * the reference is the entry point, whose latency is the symptom
 * MicroScope's paper ranks against. A constant latency gives a NaN
 * correlation, ranked last. Parameters: entry. */
#include <math.h>
#include <stdlib.h>

#include "rca/methods/callgraph.h"
#include "rca/rca_method.h"

static const char *const ms_params[] = {"entry", "step_s", NULL};

static int ms_validate(const struct rca_params *p, char *err, size_t errlen)
{
    return rca_callgraph_validate(p, "microscope", err, errlen);
}

/* The DFS of _cause_inference: candidates into cand (returns how many). */
static size_t ms_dfs(const struct rca_callgraph *g, const unsigned char *anom,
                     size_t *stack, unsigned char *seen, size_t *cand)
{
    size_t n = g->n, top = 0, nc = 0;

    stack[top++] = g->entry;
    while (top) {
        size_t u = stack[--top], kids = 0, callees = 0;

        if (seen[u])
            continue;
        seen[u] = 1;
        for (size_t v = 0; v < n; v++) {
            if (!g->call[u * n + v])
                continue;
            callees++;
            if (anom[v] && !seen[v]) {
                kids++;
                stack[top++] = v;
            }
        }
        if (callees == 0 || kids == 0)
            cand[nc++] = u;
    }
    return nc;
}

static int microscope_rank(const struct rca_case *c, const struct rca_params *p,
                           struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct rca_callgraph g;
    size_t *stack = NULL, *cand = NULL, nc;
    unsigned char *seen = NULL, *anom = NULL;
    int rc;

    if ((rc = rca_callgraph_build(c, "microscope", p, &g, err, errlen)) < 0)
        return rc;
    /* a service can be pushed once per caller: n*n bounds the stack */
    stack = malloc(g.n * g.n * sizeof(size_t) + sizeof(size_t));
    cand = malloc(g.n * sizeof(size_t));
    seen = calloc(g.n, 1);
    anom = calloc(g.n, 1);
    if (!stack || !cand || !seen || !anom)
        goto oom;
    for (size_t v = 0; v < g.n; v++)
        anom[v] = rca_callgraph_anomaly_node(&g, v);
    nc = ms_dfs(&g, anom, stack, seen, cand);
    for (size_t i = 0; i < nc; i++) {
        double r = rca_pearson(g.lat[g.entry], g.lat[cand[i]], g.rows);
        if (rca_ranking_add(out, g.name[cand[i]], r) < 0)
            goto oom;
    }
    rca_ranking_sort(out);
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    free(stack);
    free(cand);
    free(seen);
    free(anom);
    rca_callgraph_free(&g);
    return rc;
}

const struct rca_method rca_method_microscope = {
    .name = "microscope",
    .summary = "MicroScope: DFS along anomalous calls from the entry, the "
               "path ends ranked by latency correlation",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK,
    .params = ms_params,
    .validate = ms_validate,
    .rank = microscope_rank,
};
