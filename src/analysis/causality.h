/* causality: the `check` analysis. Counts DESIGN.md's violations over the
 * edge pairs of an indexed store:
 *   starts_before_parent  child.start < parent.start            (any pair)
 *   ends_after_parent     child.end > parent.end     (synchronous pairs only)
 *   negative_duration     end < start          (any span, duplicates excluded)
 * A pair with both pair kinds counts once in violating_pairs. Slack of a
 * pair = child.start - parent.start in ns; per edge the minimum (the skew
 * budget) and the lower median (element (n-1)/2 of the sorted slacks). */
#ifndef SKEWSCOPE_CAUSALITY_H
#define SKEWSCOPE_CAUSALITY_H

#include <stddef.h>
#include <stdint.h>

struct span_store;
struct edge_list;

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
