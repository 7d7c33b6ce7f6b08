/* clock_graph: estimate every clock domain's offset and drift from the edge
 * pairs of all traces at once (the `estimate` analysis).
 *
 * Each pair gives a difference constraint on the offsets x (domain clock
 * minus reference clock, ns; positive = the domain's clock is ahead):
 *     x(child) - x(parent) <= child.start - parent.start       (every pair)
 *     x(parent) - x(child) <= parent.end - child.end    (synchronous pairs)
 * assuming only that a message never arrives before it was sent. The
 * tightest bounds these prove for x(v) relative to the reference r are
 * shortest-path distances: x(v) <= d(r, v) and x(v) >= -d(v, r) (Bellman-
 * Ford); a negative cycle means the constraints are inconsistent, and its
 * arcs are reported.
 *
 * Point estimate: a least-squares fit of per-edge minimum slacks, where
 * synchronous edges give x(child)-x(parent) = (min fwd - min back)/2 (NTP's
 * symmetric-delay assumption) and one-way edges of one transport class share
 * an unknown minimum latency L(class): x(child)-x(parent)+L = min slack.
 * Pairs whose consumer was busy (clock_obs.wait CLOCK_WAIT_QUEUED: the
 * slack includes the wait, not only latency) are no latency samples: a
 * group that has them fits the minimum over its idle pairs, and none at
 * all (it only bounds) when it has no idle pair or is more than 80 %
 * queued. The bounds use every pair.
 * What the data leaves undetermined is settled by the prior that most clocks
 * agree (an L1 penalty on each offset's distance from a common centre,
 * solved by iteratively reweighted least squares). The estimate is then
 * moved into the feasible set (average of the nearest feasible points from
 * above and below), so it always lies within the bounds and correcting with
 * it removes every violation when the constraints are consistent.
 *
 * Drift: the input's time span is cut into windows; a per-window estimate
 * tracks each offset, a line through the track gives the drift (with its
 * standard error and a t test: clock_node.drift_significant), and a jump
 * in the track is reported as a step. The final solve de-trends each
 * group's per-window minimum with the significant drifts and uses only
 * windows after the last step, so offsets and bounds hold at `at_ns` (the
 * latest parent start of any pair) under the linear-drift model.
 *
 * The windows, the drift and step rules, the reference (a named domain or
 * the consensus of the clocks that agree) and the final solve are
 * clock_window's (analysis/clock_window.h), shared with `serve`.
 *
 * All times are ns; drift is ppm. Not thread-safe per estimate. */
#ifndef SKEWSCOPE_CLOCK_GRAPH_H
#define SKEWSCOPE_CLOCK_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/clock_window.h"

/* One edge pair as the clock graph sees it. */
struct clock_obs {
    int64_t p_start, p_end; /* parent span, parent's clock */
    int64_t c_start, c_end; /* child span, child's clock */
    uint32_t from, to;      /* parent and child clock domains */
    uint32_t cls;           /* transport class (same class = same latency) */
    uint32_t sync;          /* nonzero: the end constraint applies too */
    uint32_t wait;          /* enum clock_wait of the child (0 = idle) */
};

struct clock_graph_opts {
    uint32_t reference; /* domain id of the reference clock, or
                           CLOCK_REF_CONSENSUS */
    unsigned windows;   /* equal time windows over the input; 0 = automatic */
    int64_t window_ns;  /* > 0: windows on the absolute grid of this width
                           instead (serve's windows; for comparisons) */
    bool no_drift;      /* assume constant offsets */
    /* Optional names (NULL: ids order the domains and classes): the
     * canonical order of the solve and the consensus tie-breaks. */
    const char *const *domain_names; /* ndomains */
    const char *const *class_names;  /* nclasses; obs cls ids index it */
    size_t nclasses;
};

struct clock_bound {
    bool has_lower, has_upper; /* false: unbounded on that side */
    int64_t lower_ns, upper_ns;
};

struct clock_node {
    bool known;        /* some group touches it and bounds it against the
                          reference on at least one side (or it is the reference) */
    int64_t offset_ns; /* at clock_estimate.at_ns */
    struct clock_bound bound;
    double drift_ppm;       /* the drift applied (de-trending, correct): the
                               fitted one when significant, else 0 */
    double drift_fit_ppm;   /* the fitted drift, significant or not */
    double drift_se_ppm;    /* its standard error; 0 when not fitted */
    bool drift_fitted;      /* a drift was fitted (>= 3 usable windows) */
    bool drift_significant; /* |fit| > t(0.999, dof) * se and > 0.05 ppm */
    bool consensus_member;  /* one of the clocks that define the scale */
    bool fitted; /* joined to the anchor by the point estimate's equations:
                    false when every pair on every path to it was queued
                    (only bounds it), and its offset is then no measurement
                    but the fit's prior, a point within its bounds; such a
                    node is never a consensus member */
    bool has_step;
    int64_t step_ns;    /* size of the step (new offset - old offset) */
    int64_t step_at_ns; /* start of the first window after the step */
    size_t edges;       /* distinct (from, to) edges touching the node */
    size_t pairs;       /* pairs touching the node */
};

struct clock_window {
    int64_t start_ns, end_ns; /* parent start times covered */
    int64_t at_ns;            /* mean parent start time of its pairs */
    size_t pairs;
    bool consistent;
};

/* A domain's estimate within one window (no de-trending). */
struct clock_track_point {
    bool known; /* false when no pair in the window touches the domain */
    int64_t offset_ns;
    struct clock_bound bound;
};

/* One arc of a negative cycle: x(to) - x(from) <= bound_ns. */
struct clock_cycle_arc {
    uint32_t from, to;
    int64_t bound_ns;
    bool end_constraint; /* from the ends of a synchronous pair */
};

struct clock_estimate {
    size_t ndomains;
    /* The clock the bounds are proven against: the named reference, or
     * with consensus the anchor (the domain touching the most pairs). */
    uint32_t reference;
    /* consensus: offsets, bounds and drifts are against the consensus
     * scale: the anchor's clock minus anchor_offset_ns (and its drift
     * minus anchor_drift_ppm), where anchor_offset_ns is the median offset
     * of the members (nodes[].consensus_member: the largest set of known
     * domains whose offsets lie within tolerance_ns of each other) and so
     * the anchor's own offset. Bounds are the anchor-relative bounds moved
     * by the same amount (the anchor's interval is a point). */
    bool consensus;
    int64_t anchor_offset_ns;
    double anchor_drift_ppm;
    int64_t tolerance_ns;
    size_t nmembers;
    size_t fit_excluded_groups; /* groups left out of the point estimate
                                   because their minimum pair was queued */
    bool consistent;
    int64_t at_ns;
    struct clock_node *nodes; /* ndomains */
    size_t nwindows;
    struct clock_window *windows;
    struct clock_track_point *track; /* [v * nwindows + w] */
    struct clock_cycle_arc *cycle;   /* when !consistent */
    size_t ncycle;
};

/* Estimate offsets of domains 0..ndomains-1 from n observations. Returns 0
 * or -1 when out of memory; free *out with clock_estimate_free() in both
 * cases. With no observations every offset is 0 and unbounded. */
int clock_graph_estimate(struct clock_estimate *out,
                         const struct clock_obs *obs, size_t n, size_t ndomains,
                         const struct clock_graph_opts *opts);
void clock_estimate_free(struct clock_estimate *e);

#endif
