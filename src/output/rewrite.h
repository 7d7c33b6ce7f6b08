/* rewrite: correct one OTLP request body in memory, for `skewscope serve`'s
 * forwarding. The same correction as `skewscope correct` (output/correct.h):
 * spans of clock domains the model knows get start, end and event times
 * mapped onto the reference clock with clock_model_to_reference(), and the
 * originals kept as the CORRECT_ATTR_* attributes (replacing attributes of
 * the same key, so correcting twice keeps one of each).
 *
 * One of the correction writers of src/output, beside correct_wire (which
 * it wraps for protobuf) and correct_otlp_json (for JSON); serve calls it.
 * Flow: serve pipeline (decoded request body + live clock model) ->
 *       rewrite -> forward (downstream OTLP/HTTP or Kafka).
 *
 * The protobuf path is correct's wire rewriter (output/correct_wire.h: no
 * full unpack/repack; times patched in place, attributes appended, length
 * prefixes rewritten, unknown fields copied through), on the readers'
 * walker (ingest/otlp_walk.h): a body the receiver accepts is rewritten,
 * and its errors read like the receiver's.
 *
 * Threads: no shared state; each call is independent. */
#ifndef SKEWSCOPE_REWRITE_H
#define SKEWSCOPE_REWRITE_H

#include <stddef.h>
#include <stdint.h>

struct clock_model;
struct correct_stats;

/* Correct one ExportTraceServiceRequest (protobuf, no length prefix) of
 * len bytes. The clock domain of a ResourceSpans is found as the readers
 * find it (clock_domain_attr, else host.name, else service.name). On
 * success *out is a malloc'd buffer of *outlen bytes (the caller frees it;
 * a request with nothing to change comes back as an identical copy); stats
 * (may be NULL) gets spans and adjusted added. Returns 0, or -1 with
 * "request body: byte N: expected ... (message at byte 0: PATH)" in err
 * when the input is not a well-formed message (the readers' rules), -2
 * when out of memory. */
int rewrite_otlp_proto(const uint8_t *in, size_t len,
                       const struct clock_model *model,
                       const char *clock_domain_attr, uint8_t **out,
                       size_t *outlen, struct correct_stats *stats, char *err,
                       size_t errlen);

/* The same for one OTLP/JSON ExportTraceServiceRequest document; *out is
 * an OTLP/JSON document (one line, no trailing newline). Returns 0, -1
 * malformed (message "request body:LINE:COL: ..."), -2 out of memory. */
int rewrite_otlp_json(const char *in, size_t len,
                      const struct clock_model *model,
                      const char *clock_domain_attr, char **out, size_t *outlen,
                      struct correct_stats *stats, char *err, size_t errlen);

#endif
