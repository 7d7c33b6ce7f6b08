/* edges: find the edge pairs of an indexed span store (docs/CONTRACTS.md
 * "Terms"): a parent->child span pair, or a PRODUCER span linked from a
 * CONSUMER span, whose two spans lie in different clock domains. Both analyses
 * (causality check, clock graph) start from this list.
 *
 * Rules, exactly:
 * - Only the first record of a key counts; duplicates (SPAN_F_DUPLICATE) are
 *   neither parents nor children.
 * - A span with a parent ID whose parent is absent from the input (same
 *   trace) is an orphan.
 * - A link from a CONSUMER span to a PRODUCER span is an edge pair unless the
 *   same two spans already form a parent->child pair; links to absent spans
 *   are counted as dangling.
 * - A pair is synchronous when the parent is a CLIENT span and the child a
 *   SERVER span joined by the parent relation (not a link).
 * No ancestor walk is ever made, so cyclic parent references cannot loop. */
#ifndef SKEWSCOPE_EDGES_H
#define SKEWSCOPE_EDGES_H

#include <stddef.h>
#include <stdint.h>

struct span_store;

#define EDGE_PAIR_SYNC 0x01 /* CLIENT parent -> SERVER child */
#define EDGE_PAIR_LINK 0x02 /* joined by a span link, not a parent ID */

struct edge_pair {
    uint32_t parent; /* span index in the store */
    uint32_t child;
    uint32_t edge; /* index into edge_list.edges */
    uint32_t flags;
};

/* A directed pair of clock domains that carries at least one edge pair. */
struct edge {
    uint32_t from; /* domain of the parent (or linked producer) */
    uint32_t to;   /* domain of the child (or linking consumer) */
    size_t pairs;
};

struct edge_list {
    struct edge_pair *pairs;
    size_t npairs;
    struct edge *edges; /* sorted by from name, then to name */
    size_t nedges;
    size_t orphans;        /* spans whose parent is absent */
    size_t dangling_links; /* links whose target is absent */
};

/* Build the edge list of store `s`, which must be indexed
 * (span_store_index). Returns 0 or -1 when out of memory; free with
 * edge_list_free() in both cases. */
int edge_list_build(struct edge_list *out, const struct span_store *s);
void edge_list_free(struct edge_list *l);

#endif
