/* pc_randomwalk: RCAEval/e2e/pc_randomwalk.py, pc_randomwalk(): PC on the whole
 * preprocessed window, then graph_heads/random_walk.py with all-zero
 * scores, which makes every step uniform over all nodes: the ranking is a
 * seeded uniform walk of n_iter steps whatever the graph (graph_method.h).
 * The pairing and every quirk kept or left: src/rca/graph_method.h. */
#include "rca/graph_method.h"
#include "rca/rca_method.h"

static const struct rca_graph_spec spec = {"pc_randomwalk", RCA_GRAPH_PC,
                                           RCA_GRAPH_RANDOMWALK};
static const char *const params[] = {"alpha", "n_iter", NULL};

RCA_GRAPH_METHOD_OPS(spec)

const struct rca_method rca_method_pc_randomwalk = {
    .name = "pc_randomwalk",
    .summary = "PC (Fisher-z) + RCAEval's random walk (all-zero scores: "
               "uniform steps)",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK | RCA_METHOD_STOCHASTIC,
    .params = params,
    .validate = validate,
    .rank = rank,
};
