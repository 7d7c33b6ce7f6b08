/* skew_budget: how much relative clock offset an edge can take before its
 * pairs violate causality, how much of that the current offset uses, and
 * when the current drift exhausts it. The early warning of `serve` (live
 * windows) is computed here; serve/live.c only gathers the inputs.
 *
 * An edge parent domain -> child domain has a relative offset
 * r = offset(child) - offset(parent), ns (docs/CONTRACTS.md, "Sign
 * conventions"). A budget has two sides:
 *  - forward (every pair): the minimum over kept windows of the window's
 *    minimum slack child.start - parent.start minus that window's own r;
 *    a negative r consumes it (sign -1);
 *  - end (synchronous pairs only): the minimum of parent.end - child.end
 *    plus the window's r; a positive r consumes it (sign +1).
 * Pure functions, no state: any thread. */
#ifndef SKEWSCOPE_SKEW_BUDGET_H
#define SKEWSCOPE_SKEW_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* One side of a budget, gathered with skew_budget_side_note(). Start it
 * zeroed (has = false). */
struct skew_budget_side {
    bool has;
    int64_t budget_ns;
};

/* Fold one window's de-trended minimum slack (ns) into the side. */
void skew_budget_side_note(struct skew_budget_side *s, int64_t slack_ns);

/* The state of an edge's budget: the side closer to exhaustion. */
struct skew_budget {
    bool has;            /* false until a side with budget > 0 was used */
    int64_t budget_ns;   /* that side's budget */
    double used_ratio;   /* share of it the offset uses, >= 0 */
    bool exhausts;       /* false ("never") when the drift moves away */
    double exhaust_in_s; /* time left at the current drift, s; 0 when
                            already past the budget */
};

/* Weigh side s (consumed by offsets of sign `sign`: -1 forward, +1 end)
 * for relative offset r_ns moving at rate_ns_per_s, and keep it in *out
 * when it is used more than what *out holds. A side without budget
 * (has false, or budget <= 0) leaves *out alone. Start *out zeroed. */
void skew_budget_use(struct skew_budget *out, const struct skew_budget_side *s,
                     int sign, int64_t r_ns, double rate_ns_per_s);

#endif
