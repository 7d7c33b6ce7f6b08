/* graph_method: RCAEval's causal-graph methods as one builder + one head.
 * Private to src/rca (methods include it; the CLI uses rca.h).
 *
 * Every *_pagerank and *_randomwalk method of RCAEval does the same:
 *   data = preprocess(whole window)     constant columns dropped, mem/1e6
 *   graph = BUILDER(data)               PC, FCI, Granger or ICALiNGAM
 *   ranks = HEAD(graph)                 PageRank or random walk
 * with no use of the inject time (RCA_IN_METRICS only). A method file names
 * its pair in a struct rca_graph_spec and calls rca_graph_rank().
 *
 * Builders (src/stats): PC and FCI with Fisher-z (pc.h, fci.h), Granger
 * (granger.h: RCAEval's four-test mean, maxlag 3, p < 0.05), ICALiNGAM
 * (icalingam.h, FastICA seeded from rca_params.seed). Heads: RCAEval's
 * page_rank() (scikit-network, damping 0.85, n_iter 10; fci_pagerank passes
 * main.py's n_iter, the case's column count) and random_walk() (RCAEval's
 * RandomWalkScorer with all-zero scores, which makes every step uniform
 * over all nodes whatever the graph: the graph only decides whether the
 * method fails; steps = the case's n_iter; seeded here).
 *
 * RCAEval's quirks kept or left (docs/RCA.md lists them per method):
 *   - pc_pagerank builds its own PageRank input from the nodes that have an
 *     edge and pairs the scores with the first column names in order (zip
 *     with all names): a column without an edge shifts every later score
 *     to the wrong name and drops the last names. Default here: the same
 *     subgraph and PageRank, each score with its own column, edgeless
 *     columns after all others (score NaN); pc_zip=rcaeval reproduces
 *     RCAEval's pairing. (page_rank(), which the other builders use, keeps
 *     every column, and scikit-network gives a node without out-links the
 *     full teleport weight: there an isolated column can outrank the
 *     graph, in RCAEval as here.)
 *   - granger_*: RCAEval's loop stops at the first pair statsmodels finds
 *     infeasible and the @rca decorator returns dummy's ranking
 *     (-RCA_E_INFEASIBLE here, the methods carry RCA_METHOD_FALLBACK);
 *     infeasible=skip builds the graph without those pairs instead.
 *   - granger_pagerank and lingam_pagerank with no edge at all return the
 *     columns in table order (all scores 0).
 *   - fci_randomwalk: RCAEval applies numpy.sign to the PAG first, so a
 *     circle reads as an arrowhead.
 *
 * Parameters (rca_params.kv), each accepted only where it applies:
 *   alpha=A          PC/FCI significance level (0.05)
 *   maxlag=L         Granger maximum lag, 1..3 (3)
 *   p_threshold=P    Granger decision level (0.05)
 *   infeasible=fallback|skip   Granger infeasible pairs (fallback)
 *   max_iter=N       FastICA iterations (1000)
 *   pdsep_budget=N   FCI possible-d-sep CI tests (2,000,000)
 *   n_iter=N         head iterations / walk steps (see above)
 *   pc_zip=fixed|rcaeval       pc_pagerank's score pairing (fixed) */
#ifndef SKEWSCOPE_RCA_GRAPH_METHOD_H
#define SKEWSCOPE_RCA_GRAPH_METHOD_H

#include <stddef.h>

#include "rca/rca.h"

enum rca_graph_builder {
    RCA_GRAPH_PC,
    RCA_GRAPH_FCI,
    RCA_GRAPH_GRANGER,
    RCA_GRAPH_LINGAM,
};

enum rca_graph_head {
    RCA_GRAPH_PAGERANK,
    RCA_GRAPH_RANDOMWALK,
};

struct rca_graph_spec {
    const char *name; /* the method's name, for messages */
    enum rca_graph_builder builder;
    enum rca_graph_head head;
};

/* Check the values of the keys above (each method file lists the keys
 * it accepts in its ops table). 0 or -RCA_E_INVAL. */
int rca_graph_validate(const char *method, const struct rca_params *p,
                       char *err, size_t errlen);

/* Rank c's metrics with the spec's builder and head (see above). Returns
 * 0 or a negated rca_status: -RCA_E_INFEASIBLE (Granger, RCAEval's
 * fallback), -RCA_E_DATA (a table the builder cannot take: fewer rows than
 * it needs, a column it rejects), -RCA_E_NOMEM. */
int rca_graph_rank(const struct rca_graph_spec *spec, const struct rca_case *c,
                   const struct rca_params *p, struct rca_ranking *out,
                   char *err, size_t errlen);

/* A method file's validate() and rank() for its ops table: the spec's. */
#define RCA_GRAPH_METHOD_OPS(spec)                                             \
    static int validate(const struct rca_params *p, char *err, size_t errlen)  \
    {                                                                          \
        return rca_graph_validate((spec).name, p, err, errlen);                \
    }                                                                          \
    static int rank(const struct rca_case *c, const struct rca_params *p,      \
                    struct rca_ranking *out, char *err, size_t errlen)         \
    {                                                                          \
        return rca_graph_rank(&(spec), c, p, out, err, errlen);                \
    }

#endif
