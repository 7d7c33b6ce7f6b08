/* pc_pagerank: RCAEval/e2e/pc_pagerank.py, pc_pagerank(): PC on the whole
 * preprocessed window, a networkx graph of its edges, scikit-network PageRank
 * on the transpose. Its scores are zipped with the column names in column order
 * although only nodes with an edge were scored; pc_zip=rcaeval keeps that
 * pairing, the default gives each score to its own column (graph_method.h).
 * The pairing and every quirk kept or left: src/rca/graph_method.h. */
#include "rca/graph_method.h"
#include "rca/rca_method.h"

static const struct rca_graph_spec spec = {"pc_pagerank", RCA_GRAPH_PC,
                                           RCA_GRAPH_PAGERANK};
static const char *const params[] = {"alpha", "n_iter", "pc_zip", NULL};

RCA_GRAPH_METHOD_OPS(spec)

const struct rca_method rca_method_pc_pagerank = {
    .name = "pc_pagerank",
    .summary = "PC (causal-learn defaults, Fisher-z) + PageRank over the "
               "reversed causal graph",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_FALLBACK,
    .params = params,
    .validate = validate,
    .rank = rank,
};
