/* scraper: the orchestrator's side of the testbed's metrics: it GETs
 * http://127.0.0.1:PORT/metrics of every stage (libcurl, one easy handle
 * per target, so connections are kept alive) and hands each body to the
 * caller's pipeline_scrape_fn. Scrapes are due at whole Unix seconds plus
 * an offset (the rows of a dataset then fall on whole seconds whatever the
 * jitter of the loop that drives them).
 *
 * Threads: one thread (the orchestrator's). */
#ifndef SKEWSCOPE_SCRAPER_H
#define SKEWSCOPE_SCRAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/pipeline.h"

struct scraper;

/* A scraper of the given endpoints (copied) every interval_ms (>= 100),
 * first due at the next whole second + offset_ms. Returns NULL when out of
 * memory or libcurl cannot start. */
struct scraper *scraper_create(const struct pipeline_endpoint *eps, size_t n,
                               unsigned interval_ms, unsigned offset_ms,
                               pipeline_scrape_fn fn, void *ctx);
void scraper_destroy(struct scraper *sc);

/* Scrape every target once if a scrape is due at now_unix_ns (CLOCK_REALTIME
 * ns), skipping targets for which skip(ctx, stage) says true (a stage that
 * has exited). Returns the number of targets that did not answer. Each
 * request waits at most 500 ms. */
unsigned scraper_poll(struct scraper *sc, int64_t now_unix_ns,
                      bool (*skip)(void *ctx, const char *stage),
                      void *skip_ctx);

/* One GET of url with a timeout: the body (malloc'ed, NUL-terminated; the
 * caller frees) and its length, or NULL with a message in err. For tests
 * and the Prometheus test's API queries. */
char *scraper_get(const char *url, long timeout_ms, size_t *len, char *err,
                  size_t errlen);

#endif
