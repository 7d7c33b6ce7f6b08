/* estimate: glue between the span model and the clock graph. Turns edge
 * pairs into clock observations (transport class and the consumer's wait:
 * analysis/clock_obs.h, the rules serve's live estimate shares), names the
 * reference (a domain, or by default the consensus of the clocks that
 * agree), runs clock_graph_estimate(), and converts the result into a
 * clock_model for `correct`. */
#ifndef SKEWSCOPE_ESTIMATE_H
#define SKEWSCOPE_ESTIMATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct span_store;
struct edge_list;
struct clock_estimate;
struct clock_model;

struct estimate_opts {
    const char *reference; /* domain name, or NULL: the consensus of the
                              clocks that agree (clock_graph.h) */
    unsigned windows;      /* 0 = automatic */
    bool no_drift;
    int64_t window_ns; /* > 0: serve's absolute-grid windows instead */
};

/* Estimate offsets for every domain of `s`. Returns 0; -1 when out of
 * memory; -2 when opts->reference names no domain (message in err). Free
 * *out with clock_estimate_free() whatever the result. */
int estimate_run(struct clock_estimate *out, const struct span_store *s,
                 const struct edge_list *l, const struct estimate_opts *opts,
                 char *err, size_t errlen);

/* A clock model holding every domain's offset and applied drift
 * (clock_node.drift_ppm: 0 unless significant); NULL when out of memory.
 * The caller destroys it. */
struct clock_model *estimate_to_model(const struct clock_estimate *e,
                                      const struct span_store *s);

#endif
