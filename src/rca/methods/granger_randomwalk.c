/* granger_randomwalk: RCAEval/e2e/pc_randomwalk.py, granger_randomwalk(): the
 * Granger graph, then RCAEval's random walk with all-zero scores (uniform
 * steps); an infeasible pair gives dummy's ranking, as in RCAEval. The pairing
 * and every quirk kept or left: src/rca/graph_method.h. */
#include "rca/graph_method.h"
#include "rca/rca_method.h"

static const struct rca_graph_spec spec = {
    "granger_randomwalk", RCA_GRAPH_GRANGER, RCA_GRAPH_RANDOMWALK};
static const char *const params[] = {"maxlag", "p_threshold", "infeasible",
                                     "n_iter", NULL};

RCA_GRAPH_METHOD_OPS(spec)

const struct rca_method rca_method_granger_randomwalk = {
    .name = "granger_randomwalk",
    .summary =
        "pairwise Granger causality + RCAEval's random walk (uniform steps)",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK | RCA_METHOD_STOCHASTIC,
    .params = params,
    .validate = validate,
    .rank = rank,
};
