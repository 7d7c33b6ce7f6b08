/* collect_rec: the recording format of `skewscope collect --out FILE`, and
 * its reader into a series_store. The format is a "long" CSV, one sample a
 * line, that pandas reads as it is (pandas.read_csv(FILE)):
 *
 *   time_ns,entity,metric,labels,kind,value
 *   1718000000010000000,gpu-node-3,node_network_receive_bytes_total,device=eth0,counter64,62881370
 *   1718000000010000000,gpu-node-3,DCGM_FI_DEV_SM_CLOCK,UUID=GPU-1;gpu=0,gauge,1980
 *
 * Version 1, defined here:
 *  - The first line is exactly the header above (LF or CRLF line ends;
 *    empty lines anywhere are skipped; an empty file holds no samples).
 *  - time_ns: the sample's Unix time in ns, a decimal int64 ("-" allowed).
 *  - entity, metric: text with the bytes '%', ',', ';', '=', '"', DEL and
 *    every byte below 0x20 written as %XX (two hex digits); the decoded
 *    text is UTF-8 without NUL. metric is not empty.
 *  - labels: "" or name=value pairs joined by ';', names as Prometheus's
 *    ([A-Za-z_][A-Za-z0-9_]*), values escaped as entity; no name twice.
 *  - kind: gauge | counter (never wraps: a decrease is a reset) |
 *    counter32 (wraps at 2^32) | counter64 (wraps at 2^64): the series
 *    kind and wrap of model/series.h. A counter's wrap may widen from
 *    counter32 to counter64 within a file (the collector learns it); the
 *    store keeps the last one given. A store counter with any other wrap
 *    is written as counter (that wrap is not kept).
 *  - value: a decimal or exponent number, NaN, +Inf or -Inf (Prometheus's
 *    spelling, prom_parse_value()); written as the shortest "%.15g" ..
 *    "%.17g" that reads back to the same double.
 * Lines need not be in time order; the store sorts each series.
 *
 * Errors (-INGEST_E_MALFORMED, "NAME:LINE:COL: expected ..."): a missing
 * or different header, a wrong field count, a bad time, escape, label,
 * kind or value, invalid UTF-8, a series given as a gauge and a counter.
 * Samples before the error stay in the store. -INGEST_E_NOINPUT: the
 * file cannot be opened or read; -INGEST_E_NOMEM.
 *
 * Flow: skewscope collect (src/collect, writes with collect_rec_key() and
 * collect_rec_value()) -> FILE -> collect_rec_read() -> series_store ->
 * imbalance detection. */
#ifndef SKEWSCOPE_COLLECT_REC_H
#define SKEWSCOPE_COLLECT_REC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct series_store;

#define COLLECT_REC_HEADER "time_ns,entity,metric,labels,kind,value"

/* Parse len bytes of a whole recording into store; name labels messages.
 * Returns the number of samples stored (>= 0) or a negated ingest_status
 * with a message in err. */
int64_t collect_rec_parse(struct series_store *store, const char *name,
                          const char *data, size_t len, char *err,
                          size_t errlen);

/* The same for a file ("-" = stdin; gzip inflated on the fly), read as a
 * stream (memory: the store plus one line). */
int64_t collect_rec_read(struct series_store *store, const char *path,
                         char *err, size_t errlen);

/* ---- Writing (the collector and tests) */

/* The middle four fields of every line of series id, escaped:
 * "entity,metric,labels,kind" (no time, no value, no commas around). A
 * malloc'd string (caller frees), or NULL when out of memory. */
char *collect_rec_key(const struct series_store *s, uint32_t id);

/* The value field for v into buf (at least 32 bytes); returns its length. */
size_t collect_rec_value(char *buf, size_t len, double v);

/* Write a whole store as a recording: the header, then every sample of
 * every series (series in id order, each in time order). Returns 0, or -1
 * with a message in err (out of memory, or a write error with its errno
 * text). */
int collect_rec_write_store(FILE *f, const struct series_store *s, char *err,
                            size_t errlen);

#endif
