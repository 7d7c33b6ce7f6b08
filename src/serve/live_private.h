/* live_private: the body of struct live (serve/live.h) and the few
 * primitives that build it, for the modules that read or rebuild its
 * statistics directly: live.c itself and live_io.c (JSON export and
 * import). Not for other modules: they use live.h.
 *
 * Ids: domains, classes, groups and edges are numbered in the order they
 * were first seen (interned); a window's cells are indexed by group id.
 * Invariants kept by every writer (live_io.c's import checks them on its
 * input): pairs == sum of groups' pairs; a window's pairs == sum of its
 * cells' counts; every *_at and `last` of window idx lies in
 * [idx * window_ns, (idx + 1) * window_ns); domain_pairs[d] == sum of the
 * pairs of the groups touching d (twice for a group from d to d).
 *
 * Threads: as struct live (one owner). */
#ifndef SKEWSCOPE_LIVE_PRIVATE_H
#define SKEWSCOPE_LIVE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/clock_window.h"
#include "serve/live.h"

#define LIVE_MAX_WINDOWS_LIMIT 4096
#define LIVE_NO_ID UINT32_MAX

/* A (from, to, class, sync) group and its counts since creation. */
struct live_group {
    uint32_t from, to, cls, edge;
    bool sync;
    uint64_t pairs, before, after, viol; /* viol: pairs with either */
};

/* A group's statistics in one window are analysis/clock_window.h's
 * struct clock_window_cell: count, queued pairs, minima with the parent
 * start of their pair (for de-trending; the smaller time wins a tie, so
 * merging is exact) and the wait of the forward minimum's pair. */

struct live_window {
    int64_t idx;     /* floor(parent start / window_ns) */
    uint64_t pairs;  /* pairs in the window */
    int64_t sum_rel; /* sum of (parent start - idx * window_ns) */
    int64_t last;    /* latest parent start */
    struct clock_window_cell *cells;
    size_t ncells; /* groups known when last grown */
};

struct live_edge_state {
    uint32_t from, to;
    bool warning;
};

struct live_names {
    char **v;
    size_t n;
};

struct live {
    struct live_opts o;
    char *reference;
    int64_t window_ns;
    struct live_names domains, classes;
    uint64_t *domain_pairs;
    struct live_group *groups;
    size_t ngroups;
    struct live_edge_state *edges;
    size_t nedges;
    struct live_window *win; /* ascending idx */
    size_t nwin;
    uint64_t warnings, pairs, orphans, late;
};

/* Id of a domain or class name, interned (copied) when new, with a zero
 * pair count for a new domain. LIVE_NO_ID when out of memory. */
uint32_t live_domain_intern(struct live *lv, const char *name);
uint32_t live_class_intern(struct live *lv, const char *name);

/* Id of the group with key's from, to, cls and sync (other fields
 * ignored), created with zero counts (and its edge) when new. LIVE_NO_ID
 * when out of memory. */
uint32_t live_group_intern(struct live *lv, const struct live_group *key);

/* The window with index idx, created (and windows older than the newest
 * minus max_windows dropped) as needed; NULL when idx is older than the
 * kept range (*late = true) or out of memory (*late = false). The pointer
 * is valid until the next call. */
struct live_window *live_window_at(struct live *lv, int64_t idx, bool *late);

/* Give w a (zeroed) cell for each of ngroups groups. 0, or -1 when out of
 * memory. */
int live_window_grow(struct live_window *w, size_t ngroups);

#endif
