/* fci_pagerank: RCAEval/e2e/fci_pagerank.py, fci_pagerank(): causal-learn's
 * fci() on the whole preprocessed window (stats/fci.h),
 * page_rank_preprocess()'s PAG reading (a o-> b as a -> b, o-o both ways),
 * PageRank with main.py's n_iter (the case's column count). The pairing and
 * every quirk kept or left: src/rca/graph_method.h. */
#include "rca/graph_method.h"
#include "rca/rca_method.h"

static const struct rca_graph_spec spec = {"fci_pagerank", RCA_GRAPH_FCI,
                                           RCA_GRAPH_PAGERANK};
static const char *const params[] = {"alpha", "n_iter", "pdsep_budget", NULL};

RCA_GRAPH_METHOD_OPS(spec)

const struct rca_method rca_method_fci_pagerank = {
    .name = "fci_pagerank",
    .summary = "FCI (causal-learn defaults, Fisher-z) + PageRank (n_iter = "
               "column count)",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK,
    .params = params,
    .validate = validate,
    .rank = rank,
};
