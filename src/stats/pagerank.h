/* pagerank: the PageRank graph head, in the two semantics RCAEval uses.
 *
 * sknet  scikit-network 0.31's PageRank(damping_factor=0.85,
 *        solver="piteration", n_iter=10, tol=1e-6), which RCAEval's
 *        page_rank() and pc_pagerank call: P the row-normalised adjacency
 *        (dangling rows stay zero), b = (1 - d [out-degree > 0]) * seeds,
 *        x0 = b, x <- d P^T x + b sum(x), normalised each step; stops when
 *        the L1 change is below tol (keeping the previous iterate, as
 *        scikit-network does) or after n_iter steps.
 * nx     networkx's pagerank(G, alpha=0.85, personalization, max_iter=100,
 *        tol=1e-6, dangling): x0 uniform, dangling mass redistributed by the
 *        dangling weights (default: the personalisation), converged when the
 *        L1 change is below n * tol; -STATS_E_NOCONV otherwise (networkx
 *        raises PowerIterationFailedConvergence).
 *
 * Graphs: w[a*n + b] >= 0 is the weight of the step a -> b (row-major,
 * n x n). Remember RCAEval hands PageRank the reversed causal graph
 * (cgraph.h: stats_cgraph_pagerank_input), so scores rank likely causes.
 * Scores are written to out (n, caller-owned) and sum to 1. */
#ifndef SKEWSCOPE_STATS_PAGERANK_H
#define SKEWSCOPE_STATS_PAGERANK_H

#include <stddef.h>

struct stats_pagerank_opts {
    double damping;                /* 0 means 0.85 */
    unsigned max_iter;             /* 0 means 10 (sknet) / 100 (nx) */
    double tol;                    /* 0 means 1e-6 */
    const double *personalization; /* n non-negative weights or NULL */
    const double *dangling;        /* nx only: n weights or NULL */
};

int stats_pagerank_sknet(const double *w, size_t n,
                         const struct stats_pagerank_opts *opts, double *out);
int stats_pagerank_nx(const double *w, size_t n,
                      const struct stats_pagerank_opts *opts, double *out);

/* Convenience: RCAEval's page_rank(adj) on a 0/1 byte matrix that is
 * already the PageRank input (sknet semantics with RCAEval's arguments:
 * damping 0.85, n_iter 10, tol 1e-6, or n_iter as given). */
int stats_pagerank_rcaeval(const unsigned char *pr, size_t n, unsigned n_iter,
                           double *out);

#endif
