/* assemble: gathers the spans `skewscope serve` receives into whole traces
 * before the live analysis pairs parents with children. Exporters send a
 * trace's spans in several requests (each process exports its own spans,
 * in its own batches), so a pair is only visible once both halves are in
 * one store.
 *
 * Generations: spans go into the open generation unless their trace is
 * already held by an older one, which then gets them (a trace is never
 * split while it is held). The open generation closes `window_s` after it
 * opened; a closed generation is released `window_s` after it closed.
 * So every span that arrives within window_s of its trace's first span is
 * released together with it; later stragglers start a new piece of the
 * trace and are counted as orphans by the analysis.
 *
 * Flow: receiver / kafka_in -> serve queue -> assemble_add() ->
 *       assemble_take() -> span_store_index -> edges -> live.
 *
 * Memory: O(spans held). When more than max_spans are held the oldest
 * generation is released early (assemble_take says so), which bounds
 * memory at the price of splitting more traces.
 *
 * Threads: not thread-safe; the serve pipeline thread owns it. */
#ifndef SKEWSCOPE_ASSEMBLE_H
#define SKEWSCOPE_ASSEMBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct span_store;
struct assemble;

/* window_s > 0; max_spans 0 = no cap. NULL when out of memory or window_s
 * is not positive. */
struct assemble *assemble_create(double window_s, size_t max_spans);
void assemble_destroy(struct assemble *a);

/* Copy batch's spans (records, links, domain and system names) into the
 * generation of their trace. now_ns: a monotonic clock. Returns 0, or -1
 * when out of memory (part of the batch may have been added). */
int assemble_add(struct assemble *a, const struct span_store *batch,
                 int64_t now_ns);

/* The oldest generation if it is due at now_ns (or over the cap, or `all`
 * is set: shutdown flush), as a store (not indexed) the caller owns and
 * destroys; NULL when nothing is due. Call until NULL. */
struct span_store *assemble_take(struct assemble *a, int64_t now_ns, bool all);

/* Spans held now; generations released early because of the cap. */
size_t assemble_spans(const struct assemble *a);
uint64_t assemble_early_releases(const struct assemble *a);

#endif
