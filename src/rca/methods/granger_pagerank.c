/* granger_pagerank: RCAEval/e2e/granger_pagerank.py:
 * graph_construction/granger.py (j -> i when the mean of statsmodels' four
 * p-values is below 0.05 at some lag 1..3; stats/granger.h), then page_rank();
 * no edge at all: the columns in order. An infeasible pair ends RCAEval's loop
 * and @rca answers with dummy's ranking (here -RCA_E_INFEASIBLE and
 * RCA_METHOD_FALLBACK). The pairing and every quirk kept or left:
 * src/rca/graph_method.h. */
#include "rca/graph_method.h"
#include "rca/rca_method.h"

static const struct rca_graph_spec spec = {
    "granger_pagerank", RCA_GRAPH_GRANGER, RCA_GRAPH_PAGERANK};
static const char *const params[] = {"maxlag", "p_threshold", "infeasible",
                                     "n_iter", NULL};

RCA_GRAPH_METHOD_OPS(spec)

const struct rca_method rca_method_granger_pagerank = {
    .name = "granger_pagerank",
    .summary = "pairwise Granger causality (statsmodels' four tests, lag <= 3) "
               "+ PageRank",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK,
    .params = params,
    .validate = validate,
    .rank = rank,
};
