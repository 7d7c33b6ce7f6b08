/* causality: the `check` analysis. Counts the violations of
 * docs/CONTRACTS.md ("Terms") over the edge pairs of an indexed store:
 *   starts_before_parent  child.start < parent.start            (any pair)
 *   ends_after_parent     child.end > parent.end     (synchronous pairs only)
 *   negative_duration     end < start          (any span, duplicates excluded)
 * A pair with both pair kinds counts once in violating_pairs. Slack of a
 * pair = child.start - parent.start in ns; per edge the minimum (the skew
 * budget) and the lower median (element (n-1)/2 of the sorted slacks). */
#ifndef SKEWSCOPE_CAUSALITY_H
#define SKEWSCOPE_CAUSALITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct span_store;
struct span_rec;
struct edge_list;

/* The kinds of violation of one pair (a bit set). */
#define CAUSALITY_STARTS_BEFORE 0x1u
#define CAUSALITY_ENDS_AFTER 0x2u

/* The one violation test of an edge pair, on its slacks in ns:
 * fwd_ns = child.start - parent.start, back_ns = parent.end - child.end
 * (timestamps are clamped to [0, 2^62], so neither overflows). Returns
 * CAUSALITY_STARTS_BEFORE when fwd_ns < 0, | CAUSALITY_ENDS_AFTER when the
 * pair is synchronous (CLIENT -> SERVER) and back_ns < 0; 0 for none.
 * Every path that judges a pair calls it: check, serve's live windows and
 * its trace page, the HTML report. */
static inline unsigned causality_violation(int64_t fwd_ns, int64_t back_ns,
                                           bool sync)
{
    return (fwd_ns < 0 ? CAUSALITY_STARTS_BEFORE : 0u) |
           (sync && back_ns < 0 ? CAUSALITY_ENDS_AFTER : 0u);
}

/* causality_violation() of parent p and child c; flags are the pair's
 * edge_list flags (EDGE_PAIR_SYNC). */
unsigned causality_pair_violation(const struct span_rec *p,
                                  const struct span_rec *c, uint32_t flags);

struct causality_edge {
    uint32_t from, to; /* clock domain ids */
    size_t pairs;
    size_t violations; /* violating pairs */
    size_t starts_before_parent;
    size_t ends_after_parent;
    int64_t min_slack_ns;
    int64_t median_slack_ns;
};

struct causality_report {
    size_t spans;  /* records read, duplicates included */
    size_t traces; /* distinct trace IDs */
    size_t pairs;
    size_t violating_pairs;
    size_t starts_before_parent;
    size_t ends_after_parent;
    size_t negative_duration;
    size_t orphans;
    size_t duplicates;
    size_t dangling_links;
    struct causality_edge *edges; /* same order as edge_list.edges */
    size_t nedges;
};

/* Fill *out from store `s` and its edge list. Returns 0 or -1 when out of
 * memory; free with causality_report_free() in both cases. */
int causality_check(struct causality_report *out, const struct span_store *s,
                    const struct edge_list *l);
void causality_report_free(struct causality_report *r);

#endif
