/* lingam_randomwalk: RCAEval/e2e/pc_randomwalk.py, lingam_randomwalk():
 * ICALiNGAM's graph, then RCAEval's random walk with all-zero scores (uniform
 * steps). The pairing and every quirk kept or left: src/rca/graph_method.h. */
#include "rca/graph_method.h"
#include "rca/rca_method.h"

static const struct rca_graph_spec spec = {
    "lingam_randomwalk", RCA_GRAPH_LINGAM, RCA_GRAPH_RANDOMWALK};
static const char *const params[] = {"max_iter", "n_iter", NULL};

RCA_GRAPH_METHOD_OPS(spec)

const struct rca_method rca_method_lingam_randomwalk = {
    .name = "lingam_randomwalk",
    .summary = "ICA-LiNGAM (seeded) + RCAEval's random walk (uniform steps)",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK | RCA_METHOD_STOCHASTIC,
    .params = params,
    .validate = validate,
    .rank = rank,
};
