/* clock_graph_private: what the parts of the clock estimator share
 * (constraint groups, per-group minima, one solve's result, the track
 * fits). Only src/analysis/clock_*.c include it; other modules use
 * clock_graph.h and clock_window.h. */
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
    int64_t fwd;     /* min child.start - parent.start */
    int64_t back;    /* min parent.end - child.end (sync groups) */
    int64_t fit_fwd; /* the latency sample the fit uses (queueing left out) */
    bool no_fit;     /* a bound only: left out of the point estimate */
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
 * groups' minima, on sparse normal equations (preconditioned conjugate
 * gradients). Returns 0 or -1 (out of memory). */
int cg_fit(const struct cg_problem *p, double *y_ns);

/* clock_drift.c: a domain's offset track (t in s from at_ns, y in ns, n
 * points) -> drift with its standard error, or a step. */
struct cg_drift {
    bool fitted; /* >= 3 points and a solvable fit */
    double ppm, se_ppm;
    bool significant; /* |ppm| > t(0.999, dof) * se and > MIN_DRIFT_PPM */
    bool has_step;
    double step_ns;
    size_t step_point; /* first point after the step */
};

/* Fit a line (and, when allow_step and the track jumps, a line with a
 * step) to the track. use: scratch for n flags. */
void cg_track_fit(const double *t_s, const double *y_ns, size_t n,
                  bool allow_step, bool *use, struct cg_drift *out);

#endif
