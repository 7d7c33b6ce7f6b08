/* live: the clock analysis of `skewscope serve` (issue 4, "Live analysis").
 * Batches of spans arrive as they are received; each batch's edge pairs
 * (analysis/edges) are folded into per-edge statistics kept in sliding time
 * windows; an update recomputes every domain's offset, bounds, drift and
 * steps from those windows with analysis/clock_window's estimator (the one
 * `estimate` runs: same reference rule, transport classes, drift test and
 * step detection), judges pairs with analysis/causality's violation test,
 * and raises early warnings per edge from analysis/skew_budget.
 *
 * Flow: receiver -> span_store batch -> edges -> live_add_batch()
 *       -> live_update() -> struct live_snapshot -> /metrics, status, logs.
 *
 * Statistics are keyed by names, not ids: (parent domain name, child domain
 * name, transport class (analysis/clock_obs.h), synchronous). A pair's
 * consumer wait is judged from the spans of its own batch.
 * Windows sit on an absolute grid, floor(parent start / window_s), so two
 * instances' statistics line up and live_merge() combines them: counts
 * add, minimum slacks take the minimum. This is the cluster-wide view of
 * several `serve` instances (each consumes some Kafka partitions);
 * serve/live_io.h moves the statistics between processes as JSON.
 *
 * Sign convention (docs/CONTRACTS.md, "Sign conventions"): offset =
 * domain clock - reference clock, ns; positive = the domain's clock is ahead.
 * An edge's relative offset is offset(child domain) - offset(parent domain);
 * drift in ppm, positive = the clock runs fast relative to the reference.
 *
 * A pair is only seen when parent and child (or linked producer and
 * consumer) arrive in the same batch: serve assembles traces over a window
 * (serve/assemble.h) before it calls live_add_batch(); children whose
 * parent still arrives in another batch count as orphans in
 * live_snapshot.orphans_total.
 *
 * Memory: O(domains + groups * max_windows); windows older than the newest
 * one minus max_windows are dropped (pairs falling before the kept range
 * are counted in late_pairs_total and otherwise ignored).
 *
 * Threads: a struct live is not thread-safe; one thread (or one lock) owns
 * it. Snapshots are plain data, free to hand to another thread, except
 * that their name pointers belong to the struct live (valid until
 * live_destroy()). */
#ifndef SKEWSCOPE_LIVE_H
#define SKEWSCOPE_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct span_store;
struct edge_list;
struct live;

struct live_opts {
    double window_s;       /* window width, s of parent start time (10) */
    unsigned max_windows;  /* windows kept (30); older ones slide out */
    double warn_share;     /* warn when offset uses more than this share of
                              the edge's skew budget (0.5) */
    const char *reference; /* reference domain name (copied), or NULL (or
                              a name not seen yet): the consensus of the
                              clocks that agree, as `estimate` */
};

/* Fill *o with the defaults above. */
void live_opts_init(struct live_opts *o);

/* New empty statistics; NULL when out of memory or when opts are invalid
 * (window_s <= 0, max_windows 0 or > 4096, warn_share outside (0, 1]).
 * opts NULL = defaults. */
struct live *live_create(const struct live_opts *opts);
void live_destroy(struct live *lv);

/* Fold one batch in: `s` indexed (span_store_index) and `l` its edge list
 * (edge_list_build). Only names are kept from the store. Returns 0, or -1
 * when out of memory (the statistics may then hold part of the batch). */
int live_add_batch(struct live *lv, const struct span_store *s,
                   const struct edge_list *l);

/* Add src's statistics to dst (src is unchanged): pair and violation counts
 * add, per-window minimum slacks take the minimum, windows are the union
 * trimmed to dst's max_windows newest. Both must use the same window_s.
 * warnings_total is not merged (dst counts its own warnings in
 * live_update). Returns 0, -1 when out of memory, -2 when window_s
 * differs. */
int live_merge(struct live *dst, const struct live *src);

/* One clock domain, at live_snapshot.at_ns. */
struct live_domain {
    const char *name; /* owned by the struct live */
    bool known;       /* some kept pair connects it to the reference */
    int64_t offset_ns;
    bool has_lower, has_upper; /* false: unbounded on that side */
    int64_t lower_ns, upper_ns;
    double drift_ppm; /* applied drift: 0 when not significant or < 3
                         usable windows */
    double drift_fit_ppm, drift_se_ppm; /* fitted drift and its standard
                                           error (0 when not fitted) */
    bool drift_significant;             /* analysis/clock_graph.h's test */
    bool has_step;                      /* the track jumped ... */
    int64_t step_ns, step_at_ns;        /* ... by this much, at this time */
    bool consensus_member;              /* defines the consensus scale */
    bool fitted;    /* measured, not only bounded (clock_graph.h's fitted) */
    uint64_t pairs; /* pairs touching it, since creation */
};

/* One edge: parent domain -> child domain, all classes together. */
struct live_edge {
    const char *from, *to; /* owned by the struct live */
    uint64_t pairs_total;
    uint64_t violations_total; /* pairs with either kind below */
    uint64_t starts_before_parent_total;
    uint64_t ends_after_parent_total; /* synchronous pairs only */
    /* Relative offset across the edge, offset(to) - offset(from), and its
     * trend drift(to) - drift(from). */
    int64_t offset_ns;
    double drift_ppm;
    /* Skew budget: the edge's minimum slack with the clock error removed,
     * min over kept windows of (min slack in the window - the window's own
     * relative offset estimate), i.e. how much relative offset the edge
     * can take before a pair violates. For the forward constraint a
     * negative relative offset consumes it; for the end constraint of
     * synchronous edges a positive one. The side closer to exhaustion is
     * reported. */
    bool has_budget; /* false before a consistent window, or budget <= 0 */
    int64_t skew_budget_ns;
    double budget_used_ratio; /* offset used / budget, >= 0 */
    bool warning;             /* budget_used_ratio > warn_share */
    bool new_warning;         /* warning raised by this update */
    /* Time until the budget runs out at the current drift, s from at_ns;
     * exhausts false ("never") when the drift moves away from the budget;
     * an edge already past its budget (budget_used_ratio >= 1) exhausts
     * in 0 s, whatever its drift. */
    bool exhausts;
    double exhaust_in_s;
};

struct live_snapshot {
    /* "consensus" (static) when offsets are against the consensus of the
     * clocks that agree, else the reference domain's name (owned by the
     * struct live); NULL when empty. */
    const char *reference;
    bool consensus;
    const char *anchor;         /* the clock bounds are proven against (owned by
                                   the struct live); NULL when empty */
    size_t fit_excluded_groups; /* groups whose minimum pair was queued */
    int64_t at_ns;   /* latest parent start time seen in the kept windows */
    bool consistent; /* the kept windows' constraints are satisfiable */
    size_t ndomains;
    struct live_domain *domains; /* sorted by name */
    size_t nedges;
    struct live_edge *edges; /* sorted by from name, then to name */
    size_t nwindows;         /* windows kept */
    uint64_t warnings_total; /* warnings raised (rising edges) so far */
    uint64_t pairs_total, orphans_total, late_pairs_total;
    size_t memory_bytes; /* heap held by the struct live */
};

/* Recompute offsets, bounds, drift, budgets and warnings from the kept
 * windows and fill *out (free with live_snapshot_free, whatever the
 * result). Counts rising warnings into warnings_total. Returns 0, or -1
 * when out of memory. */
int live_update(struct live *lv, struct live_snapshot *out);
void live_snapshot_free(struct live_snapshot *snap);

#endif
