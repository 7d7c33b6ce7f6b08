/* clock_window: the one windowed clock estimator. `estimate` (batch,
 * through clock_graph_estimate) and `serve` (live, serve/live.c) both
 * reduce their edge pairs to the same per-window, per-group statistics
 * (struct clock_window_cell) and call clock_window_estimate(), so every
 * rule users see lives here once: which clock is the reference (a named
 * domain, or the consensus of the clocks that agree), which groups the
 * point estimate trusts (queueing), how drift is fitted and when it is
 * significant, when a jump in the track is a step, and what the final,
 * de-trended solve uses.
 *
 * Flow: pairs -> (clock_track.c: equal windows over a file, or an
 *       absolute grid; serve/live.c: sliding windows on the absolute grid)
 *       -> cells -> clock_window_estimate() -> struct clock_estimate.
 *
 * Groups: pairs with the same (parent domain, child domain, transport
 * class, synchronous) form a group; a window keeps per group only the
 * minimum slacks and when they were seen, so statistics of several
 * instances merge exactly (counts add, minima take the minimum, the earlier
 * time on a tie: clock_window_cell_merge).
 *
 * Determinism: domains and groups are put in a canonical order (names,
 * then the class name and sync) before anything is solved, so two callers
 * that number the same domains differently get bit-identical results.
 *
 * Sign convention (model/clock_model.h): offset = domain clock - reference
 * clock, ns; positive = the domain's clock is ahead. Drift in ppm, positive
 * = the domain's clock runs fast against the reference. All times are ns of
 * the traces' clocks. Not thread-safe per call; no global state. */
#ifndef SKEWSCOPE_CLOCK_WINDOW_H
#define SKEWSCOPE_CLOCK_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct clock_estimate;

/* How the consumer of a pair was doing when the message came
 * (clock_obs_wait() decides it from the consumer domain's own spans). */
enum clock_wait {
    CLOCK_WAIT_IDLE = 0, /* the consumer had nothing to do: its span
                            started when the message arrived */
    CLOCK_WAIT_QUEUED,   /* it started within the queueing gap of the end
                            of its previous work: the message waited */
    CLOCK_WAIT_UNKNOWN,  /* no earlier work of the consumer is known */
};

/* One group's statistics in one window. count == 0: empty. */
struct clock_window_cell {
    uint64_t count;    /* pairs */
    uint64_t queued;   /* of which CLOCK_WAIT_QUEUED */
    int64_t fwd_ns;    /* min child.start - parent.start (all pairs) */
    int64_t fwd_at_ns; /* parent start of that pair (the earlier on a tie) */
    int64_t back_ns;   /* min parent.end - child.end */
    int64_t back_at_ns;
    uint64_t idle;       /* pairs whose consumer was CLOCK_WAIT_IDLE */
    int64_t idle_fwd_ns; /* min child.start - parent.start over those */
    int64_t idle_fwd_at_ns;
};

/* Start a cell with one pair, or fold one into it. */
void clock_window_cell_add(struct clock_window_cell *c, int64_t p_start_ns,
                           int64_t fwd_ns, int64_t back_ns,
                           enum clock_wait wait);

/* Fold src into dst: counts add, minima take the minimum (the earlier time
 * on a tie), so the result does not depend on the order of folding. */
void clock_window_cell_merge(struct clock_window_cell *dst,
                             const struct clock_window_cell *src);

/* A group: parent domain -> child domain over one transport class. Ids
 * index clock_window_input's name arrays. */
struct clock_window_group {
    uint32_t from, to, cls;
    bool sync; /* CLIENT -> SERVER: the end constraint applies too */
};

struct clock_window_in {
    int64_t start_ns, end_ns; /* parent start times covered */
    int64_t at_ns;            /* mean parent start of its pairs
                                 (clock_window_mean) */
    int64_t last_ns;          /* latest parent start of its pairs */
    uint64_t pairs;
    const struct clock_window_cell *cells; /* indexed by group id */
    size_t ncells; /* groups >= ncells have no pair in the window */
};

struct clock_window_input {
    size_t ndomains;
    const char *const *domain_names; /* ndomains, distinct */
    size_t nclasses;
    const char *const *class_names; /* nclasses */
    size_t ngroups;
    const struct clock_window_group *groups; /* distinct keys */
    size_t nwindows;
    const struct clock_window_in *windows; /* ascending time */
};

/* CLOCK_REF_CONSENSUS: report offsets against the consensus of the clocks
 * that agree (see clock_estimate.consensus in clock_graph.h). */
#define CLOCK_REF_CONSENSUS UINT32_MAX

struct clock_window_opts {
    uint32_t reference; /* domain id, or CLOCK_REF_CONSENSUS */
    bool no_drift;      /* assume constant offsets (no drift, no steps) */
};

/* Mean parent start of a window from the sum of (parent start - base) over
 * its pairs: base + sum_rel / pairs (floored). Batch and live call it so
 * their windows sit at the same time. */
int64_t clock_window_mean(int64_t base_ns, int64_t sum_rel_ns, uint64_t pairs);

/* floor(t / width): a time's window on the absolute grid. width > 0. */
int64_t clock_window_index(int64_t t_ns, int64_t width_ns);

/* Estimate every domain's offset, bounds, drift (with its standard error)
 * and step from the windows' statistics; fills *out (free with
 * clock_estimate_free, whatever the result), indexed by the caller's domain
 * ids. at_ns is the latest parent start of any window. Returns 0, or -1
 * when out of memory. With no pair at all every offset is 0. */
int clock_window_estimate(struct clock_estimate *out,
                          const struct clock_window_input *in,
                          const struct clock_window_opts *opts);

#endif
