/* clock_graph_private: what the parts of the clock graph share (constraint
 * arcs, per-edge minima, one solve's result). Only clock_graph.c,
 * clock_fit.c and clock_track.c include it. */
#ifndef SKEWSCOPE_CLOCK_GRAPH_PRIVATE_H
#define SKEWSCOPE_CLOCK_GRAPH_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/clock_graph.h"

/* Observations with the same (from, to, class, sync) form a group; a solve
 * only needs each group's minimum slacks. */
struct cg_group {
    uint32_t from, to, cls;
    bool sync;
};

struct cg_minima {
    size_t count;
    int64_t fwd;  /* min child.start - parent.start */
    int64_t back; /* min parent.end - child.end (sync groups) */
};

struct cg_problem {
    size_t ndomains;
    uint32_t ref;
    size_t nclasses; /* class ids are < nclasses */
    const struct cg_group *groups;
    const struct cg_minima *min; /* per group, for this solve */
    size_t ngroups;
};

struct cg_solution {
    bool consistent;
    int64_t *x;                /* ndomains, point estimate */
    bool *known;               /* ndomains: touched by some group */
    struct clock_bound *bound; /* ndomains */
    struct clock_cycle_arc *cycle;
    size_t ncycle;
};

/* clock_graph.c: bounds, consistency and the feasible point estimate.
 * Allocates sol's arrays (free with cg_solution_free). Returns 0 or -1. */
int cg_solve(const struct cg_problem *p, struct cg_solution *sol);
void cg_solution_free(struct cg_solution *sol);

/* clock_fit.c: least-squares/L1 point estimate y (ns, y[ref] = 0) from the
 * groups' minima. Returns 0 or -1 (out of memory or singular system). */
int cg_fit(const struct cg_problem *p, double *y_ns);

/* clock_track.c: drift in ppm of one domain's offset track (t in s, y in
 * ns, n points): a least-squares line with at most one outlying point left
 * out, reported when the slope exceeds 3 standard errors and 0.05 ppm, else
 * 0. use: scratch for n flags. Shared by the batch and live estimates. */
double cg_track_drift_ppm(const double *t_s, const double *y_ns, size_t n,
                          bool *use);

#endif
