/* prom_range: the JSON that Prometheus' HTTP API returns for
 * /api/v1/query_range (resultType "matrix"; also "vector" from
 * /api/v1/query), so a user can export an incident window from their own
 * Prometheus:
 *   {"status":"success","data":{"resultType":"matrix","result":[
 *     {"metric":{"__name__":"cpu","service":"cart",...},
 *      "values":[[1700000000.5,"0.25"],[1700000001,"NaN"],...]}]}}
 * Each result becomes one series: entity from prom_common's rule (the
 * --service-label, default service, then job, then pod), metric from
 * __name__ (a result without __name__, e.g. of rate(x[1m]), gets metric
 * "value"), the other labels kept. Values are strings as Prometheus writes
 * them ("NaN", "+Inf" included); times are Unix seconds (float) read
 * exactly into ns (to the microsecond the JSON holds). Kind: a result
 * that keeps its __name__ is a raw selector, so a name ending in "_total",
 * "_count", "_sum" or "_bucket" (OpenMetrics' counter suffixes) is stored
 * as SERIES_COUNTER (align it with SERIES_AGG_RATE); everything else,
 * including every function result (PromQL drops __name__), is a gauge.
 * "histogram"/"histograms" entries (native histograms) are skipped.
 * A document with "status":"error" is malformed, its "error" text quoted.
 *
 * Read with the streaming scanner json_lex (memory bounded by the store,
 * not the document: an incident export of 1,000 series x 3,600 points is
 * ~60 MB of JSON, which jansson would hold as ~7 million objects).
 *
 * Errors: negated ingest_status, message "NAME:LINE:COL: expected ...". */
#ifndef SKEWSCOPE_PROM_RANGE_H
#define SKEWSCOPE_PROM_RANGE_H

#include <stddef.h>
#include <stdint.h>

struct series_store;
struct source;
struct prom_opts;

/* Read one query_range (or query) response from src into store. Returns
 * the number of samples stored (>= 0) or a negated ingest_status; series
 * stored before an error stay. opts NULL = defaults. */
int64_t prom_range_read_source(struct series_store *store, struct source *src,
                               const struct prom_opts *opts, char *err,
                               size_t errlen);
/* The same for a file path ("-" = stdin; gzip too). */
int64_t prom_range_read(struct series_store *store, const char *path,
                        const struct prom_opts *opts, char *err, size_t errlen);

#endif
