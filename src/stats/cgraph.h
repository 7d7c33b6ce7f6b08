/* cgraph: the edge-mark matrix every graph builder here returns, and the
 * conversions RCAEval applies before its graph heads.
 *
 * Marks follow causal-learn's GeneralGraph.graph exactly: m[a*n + b] is the
 * mark AT a on the edge a - b:
 *     0 no edge, -1 tail, 1 arrowhead, 2 circle (FCI only).
 * So a -> b is m[a][b] = -1, m[b][a] = 1; a -- b is -1/-1; a <-> b is 1/1;
 * a o-> b is m[a][b] = 2, m[b][a] = 1; a o-o b is 2/2.
 *
 * 0/1 builders (Granger, LiNGAM) return RCAEval's other convention instead:
 * adj[i*n + j] = 1 means j causes i (lingam's B[i][j], Granger "j -> i").
 * Both kinds go through the same converters below, which reproduce
 * RCAEval's page_rank_preprocess() and random_walk() case by case. */
#ifndef SKEWSCOPE_STATS_CGRAPH_H
#define SKEWSCOPE_STATS_CGRAPH_H

#include <stddef.h>

enum stats_mark {
    STATS_MARK_NONE = 0,
    STATS_MARK_TAIL = -1,
    STATS_MARK_ARROW = 1,
    STATS_MARK_CIRCLE = 2,
};

/* RCAEval graph_heads/page_rank.py page_rank_preprocess(): the 0/1 matrix
 * handed to PageRank, pr[a*n + b] = 1 for a walk step a -> b. A causal edge
 * cause -> effect becomes effect -> cause (the walk runs towards causes);
 * undirected and <-> edges go both ways; a o-> b becomes a -> b and a o-o b
 * both ways (RCAEval's choices, kept). 0/1 input matrices (Granger, LiNGAM:
 * m[a][b] = 1 when b causes a) pass through unchanged. m and pr are n x n
 * (int8 marks in, bytes out). Returns 0, or -STATS_E_UNSUPPORTED for a mark
 * pair RCAEval raises ValueError on (e.g. tail-circle). */
int stats_cgraph_pagerank_input(const signed char *m, size_t n,
                                unsigned char *pr);

/* RCAEval graph_heads/random_walk.py random_walk(): the directed graph its
 * walker uses, after its graph.reverse(); out[a*n + b] = 1 for a step
 * a -> b. A causal edge cause -> effect is again effect -> cause; a -- b
 * and a <-> b go both ways. Circles are not supported there:
 * -STATS_E_UNSUPPORTED
 * (RCAEval's FCI random-walk methods raise and fall back to the column
 * order when the PAG has a circle). */
int stats_cgraph_randomwalk_input(const signed char *m, size_t n,
                                  unsigned char *out);

/* Convert a 0/1 adjacency (RCAEval convention, adj[i][j] = 1: j causes i)
 * to marks: j -> i as m[j][i] = -1, m[i][j] = 1; both directions give
 * 1/1 as RCAEval's (1, 1) case reads them. */
void stats_cgraph_from_01(const unsigned char *adj, size_t n, signed char *m);

#endif
