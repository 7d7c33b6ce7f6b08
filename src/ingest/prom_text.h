/* prom_text: the Prometheus text exposition format (version 0.0.4), one
 * scrape body -> samples in a series_store. Used by `imbalance --scrape`,
 * serve's live scrapes and the testbed's scraper.
 *
 * Every sample line becomes one sample of the series (entity, sample name,
 * labels) where the entity comes from prom_common's rule (opts). Kinds from
 * `# TYPE`: counter -> SERIES_COUNTER; gauge, untyped -> SERIES_GAUGE;
 * histogram: NAME_bucket (with its `le` label), NAME_sum, NAME_count ->
 * SERIES_COUNTER; summary: NAME (with `quantile`) -> SERIES_GAUGE,
 * NAME_sum, NAME_count -> SERIES_COUNTER. Samples of a family without
 * `# TYPE` are gauges. `# HELP` lines and other comments are skipped.
 * A sample's own timestamp (integer ms) is used when present, else
 * scrape_ns. OpenMetrics' `# EOF` ends the body.
 *
 * Errors (-INGEST_E_MALFORMED, "NAME:LINE:COL: expected ..."): a bad metric
 * or label name, an unterminated label value, a bad escape, a missing or
 * non-numeric value, a bad timestamp, a duplicate label name, trailing
 * bytes, an unknown TYPE. Samples before the error stay in the store.
 * -INGEST_E_NOMEM when out of memory; a series key registered before with
 * another kind is malformed ("NAME:LINE:COL: series X is a counter here
 * and a gauge before"). */
#ifndef SKEWSCOPE_PROM_TEXT_H
#define SKEWSCOPE_PROM_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct series_store;
struct prom_opts;

/* Parse len bytes of one scrape body taken at scrape_ns (Unix ns) into
 * store. name labels messages (the target URL or a file name); opts NULL =
 * defaults. Returns the number of samples stored (>= 0) or a negated
 * ingest_status. */
int64_t prom_text_parse(struct series_store *store, const char *name,
                        const char *body, size_t len, int64_t scrape_ns,
                        const struct prom_opts *opts, char *err, size_t errlen);

/* The same for a file (gzip too) as one scrape taken at scrape_ns. */
int64_t prom_text_read(struct series_store *store, const char *path,
                       int64_t scrape_ns, const struct prom_opts *opts,
                       char *err, size_t errlen);

#endif
