/* fci_randomwalk: RCAEval/e2e/pc_randomwalk.py, fci_randomwalk(): FCI,
 * numpy.sign of the PAG (circles read as arrowheads), RCAEval's random walk
 * with all-zero scores (uniform steps: the graph does not steer it). The
 * pairing and every quirk kept or left: src/rca/graph_method.h. */
#include "rca/graph_method.h"
#include "rca/rca_method.h"

static const struct rca_graph_spec spec = {"fci_randomwalk", RCA_GRAPH_FCI,
                                           RCA_GRAPH_RANDOMWALK};
static const char *const params[] = {"alpha", "n_iter", "pdsep_budget", NULL};

RCA_GRAPH_METHOD_OPS(spec)

const struct rca_method rca_method_fci_randomwalk = {
    .name = "fci_randomwalk",
    .summary = "FCI (Fisher-z) + RCAEval's random walk (uniform steps)",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK | RCA_METHOD_STOCHASTIC,
    .params = params,
    .validate = validate,
    .rank = rank,
};
