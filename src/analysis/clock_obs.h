/* clock_obs: the rules that turn an edge pair (analysis/edges.h) into what
 * the clock estimator sees, shared by `estimate` (analysis/estimate.c) and
 * `serve` (serve/live.c) so that both key and judge pairs alike:
 *
 * - the transport class: "SYSTEM/PARENT_KIND/CHILD_KIND" (SYSTEM the
 *   child's messaging.system or rpc.system, else the parent's, else empty;
 *   kinds as enum span_kind numbers), a name that means the same in every
 *   file, batch and instance. Pairs of one class are assumed to share a
 *   minimum latency.
 * - the consumer's wait (enum clock_wait in analysis/clock_window.h): a
 *   message handled by an idle consumer starts its span when it arrives;
 *   one handled by a busy consumer starts when the previous work ends. A
 *   child CONSUMER or SERVER span that starts less than
 *   CLOCK_OBS_QUEUE_GAP_NS after the end of the latest earlier CONSUMER or
 *   SERVER span of its own clock domain (on that same clock) was queued:
 *   its slack includes the wait, so it is a bound but not a latency sample.
 *   A child with no earlier such span in the store is CLOCK_WAIT_UNKNOWN;
 *   children of other kinds too. */
#ifndef SKEWSCOPE_CLOCK_OBS_H
#define SKEWSCOPE_CLOCK_OBS_H

#include <stddef.h>
#include <stdint.h>

struct span_store;
struct span_rec;
struct edge_list;

#define CLOCK_OBS_QUEUE_GAP_NS 100000 /* 100 µs */
#define CLOCK_OBS_CLASS_MAX 192       /* buffer size for a class name */

/* The class name of pair (p, c) of store s into buf (CLOCK_OBS_CLASS_MAX
 * bytes; a longer system name is cut at 160 bytes). */
void clock_obs_class_name(const struct span_store *s, const struct span_rec *p,
                          const struct span_rec *c,
                          char buf[CLOCK_OBS_CLASS_MAX]);

/* The wait of every pair of l (edge_list_build over s): wait[i] for
 * l->pairs[i], an enum clock_wait. Judged from the spans of s only (serve:
 * the batch). Returns 0, or -1 when out of memory. */
int clock_obs_waits(const struct span_store *s, const struct edge_list *l,
                    uint8_t *wait);

#endif
