/* lingam_pagerank: RCAEval/e2e/lingam_pagerank.py, lingam_pagerank():
 * causal-learn's ICALiNGAM() (stats/icalingam.h; FastICA's random start comes
 * from the seed, where RCAEval's is unseeded), edges where the adjacency matrix
 * is non-zero, page_rank(); no edge: the columns in order. The pairing and
 * every quirk kept or left: src/rca/graph_method.h. */
#include "rca/graph_method.h"
#include "rca/rca_method.h"

static const struct rca_graph_spec spec = {"lingam_pagerank", RCA_GRAPH_LINGAM,
                                           RCA_GRAPH_PAGERANK};
static const char *const params[] = {"max_iter", "n_iter", NULL};

RCA_GRAPH_METHOD_OPS(spec)

const struct rca_method rca_method_lingam_pagerank = {
    .name = "lingam_pagerank",
    .summary = "ICA-LiNGAM (FastICA, seeded) + PageRank",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK | RCA_METHOD_STOCHASTIC,
    .params = params,
    .validate = validate,
    .rank = rank,
};
