/* callgraph: the service call graph and invocation latencies that RCAEval's
 * extra methods (microrca, microscope, monitorrank; rca-llm's
 * RCAEval/e2e/extra_methods) take from two files of the llm-ref-stack case
 * folders, mpg.csv (source,destination call edges from Istio, plus
 * container -> host edges) and latency_merged_90.csv (one p90 latency
 * series per "<source>_<destination>" invocation). Neither file is part of
 * RCAEval's case format; skewscope builds both from the case's metrics:
 *
 *  nodes      the services that have a latency column (in the table's
 *             order): "<svc>_latency", else "<svc>_lat_90", else the
 *             service's first column whose metric contains "lat";
 *  rows       the metric table averaged over 5 s buckets (`step_s`): the
 *             step of rca-llm's Prometheus exports, and the scale Birch's
 *             threshold below was set for (on unit-norm series it is
 *             relative to sqrt(rows));
 *  edges      the skeleton of the PC algorithm (Fisher-z, alpha 0.05;
 *             stats_pc_fisherz) on those latency columns over the rows
 *             before the inject time (the system's normal behaviour; all
 *             rows when fewer than 10), each adjacency oriented as a call
 *             from the service with the larger median latency to the
 *             smaller (a caller's latency includes its callee's; equal
 *             medians: both ways); constant columns get no edge;
 *  latencies  the invocation u -> v carries v's latency series (what u
 *             waits for), and a service's aggregated latency (RCAEval's
 *             aggregate_latency, i.e. data.csv's "<svc>_latency-90") is its
 *             own latency column;
 *  entry      the `entry` parameter, else "nginx-proxy" (RCAEval's fixed
 *             entry point) when it is a node, else the service with the
 *             largest median latency (the front door's includes all);
 *  anomalies  RCAEval's birch_ad_with_smoothing (stats_birch_anomalous:
 *             rolling mean over 10, unit norm, Birch threshold 0.045) on
 *             each invocation series, so an invocation u -> v is anomalous
 *             when v's latency is; services whose name contains "unknown",
 *             "timestamp", "time" or "index" are skipped as RCAEval skips
 *             such columns.
 * There are no host nodes (no container -> host edges in the metrics).
 *
 * Private to src/rca/methods. Errors: negated rca_status with err filled. */
#ifndef SKEWSCOPE_RCA_CALLGRAPH_H
#define SKEWSCOPE_RCA_CALLGRAPH_H

#include <stdbool.h>
#include <stddef.h>

struct rca_case;
struct rca_params;
struct rca_ranking;
struct series_table;

struct rca_callgraph {
    size_t n;           /* services (nodes) */
    const char **name;  /* service names (borrowed from the case table) */
    size_t *lat_col;    /* each node's latency column in the case table */
    const double **lat; /* each node's latency series (rows values) */
    size_t rows;
    unsigned char *call;   /* call[a*n+b]: a calls b (mpg source -> dest) */
    size_t entry;          /* the entry point */
    unsigned char *anom_v; /* the node's invocation series is anomalous */
    double *med;           /* each node's median latency (normal rows) */
    const struct series_table *t; /* the (resampled) metric table */
    struct series_table *own;     /* private */
};

/* Build the graph of case c for method `method` (messages), with the
 * parameters "entry" (a service) and "step_s" (the resampling step, default
 * 5; 0 keeps the rows) from p; every method using this lists both keys.
 * Runs the anomaly detection too. Fewer than two services with a latency
 * column is -RCA_E_DATA; an entry that is not one is -RCA_E_INVAL. */
int rca_callgraph_build(const struct rca_case *c, const char *method,
                        const struct rca_params *p, struct rca_callgraph *g,
                        char *err, size_t errlen);
void rca_callgraph_free(struct rca_callgraph *g);
/* Check the graph's parameters ("step_s") before any data is read. */
int rca_callgraph_validate(const struct rca_params *p, const char *method,
                           char *err, size_t errlen);

/* The invocation u -> v is anomalous (an edge whose series Birch flags). */
static inline bool rca_callgraph_anomalous(const struct rca_callgraph *g,
                                           size_t u, size_t v)
{
    return g->call[u * g->n + v] && g->anom_v[v];
}

/* Is v the destination of an anomalous invocation (RCAEval's
 * anomaly_nodes)? */
bool rca_callgraph_anomaly_node(const struct rca_callgraph *g, size_t v);

/* The series of invocation u -> v (v's latency). */
static inline const double *
rca_callgraph_edge_lat(const struct rca_callgraph *g, size_t u, size_t v)
{
    (void)u;
    return g->lat[v];
}

/* A weighted digraph as networkx's DiGraph holds one: add_edge creates the
 * nodes (in insertion order) or overwrites the weight. */
struct rca_wgraph {
    size_t n;          /* node id space (call graph nodes) */
    double *w;         /* w[u*n+v] */
    unsigned char *e;  /* e[u*n+v]: the edge exists */
    unsigned char *in; /* the node is in the graph */
    size_t *order;     /* nodes in insertion order */
    size_t k;          /* how many */
};

int rca_wgraph_init(struct rca_wgraph *g, size_t n);
void rca_wgraph_free(struct rca_wgraph *g);
void rca_wgraph_add(struct rca_wgraph *g, size_t u, size_t v, double w);
/* networkx degree: in + out edges, a self-loop counting twice. */
size_t rca_wgraph_degree(const struct rca_wgraph *g, size_t v);
/* networkx 2.5 pagerank(G.reverse(), alpha=0.85, personalization,
 * max_iter, tol 1e-6) over the graph's nodes: pers[v] for node v (n-indexed;
 * nodes outside the graph ignored; normalised here); scores into score[v]
 * for graph nodes. Returns 0, -RCA_E_NOCONV (networkx raises
 * PowerIterationFailedConvergence), -RCA_E_DATA (personalisation summing
 * to 0: networkx's ZeroDivisionError) or -RCA_E_NOMEM. */
int rca_wgraph_pagerank_reversed(const struct rca_wgraph *g, const double *pers,
                                 unsigned max_iter, double *score);

/* The ranking of a PageRank over ag: every node of ag, named after the
 * call graph g's services, with score[node], best first. Returns 0 or
 * -RCA_E_NOMEM. */
int rca_wgraph_rank(const struct rca_wgraph *ag, const struct rca_callgraph *g,
                    const double *score, struct rca_ranking *out);

/* pandas Series.corr (Pearson) of a and b over n rows: NaN when either is
 * constant or n < 2. */
double rca_pearson(const double *a, const double *b, size_t n);

/* Python's round(x, 3) (to nearest, ties to even on the scaled value). */
double rca_round3(double x);

#endif
