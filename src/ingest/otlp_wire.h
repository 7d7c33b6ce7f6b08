/* otlp_wire: the OTLP protobuf read path without protobuf-c. A scanner of
 * the protobuf wire format that walks one ExportTraceServiceRequest (with
 * ingest/otlp_walk.h, the walker the rewriter shares) and appends its spans
 * straight to a span_store, decoding only what check and estimate need
 * (resource attributes for the clock domain; per span the IDs, kind,
 * times, messaging.system / rpc.system and links) and skipping everything
 * else by wire type.
 *
 * It gives the records ingest_otlp_proto gave when it decoded with
 * protobuf-c: same IDs, flags, times, kinds, domain and system ids (interned
 * in the same order) and links, with protobuf semantics for repeated
 * singular fields (the last one wins; repeated sub-messages merge).
 *
 * Flow: otlp_proto stream (framing) -> otlp_wire -> span_store.
 * Not thread-safe; one thread owns a scanner. */
#ifndef SKEWSCOPE_OTLP_WIRE_H
#define SKEWSCOPE_OTLP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct span_store;
struct otlp_wire;

/* A scanner that appends to `store` (not owned). `user_attr` is the
 * --clock-domain attribute or NULL; `name` names the input in messages.
 * Both strings must outlive the scanner. Returns NULL when out of memory. */
struct otlp_wire *otlp_wire_create(struct span_store *store,
                                   const char *user_attr, const char *name);
void otlp_wire_destroy(struct otlp_wire *w);

/* With strict, a span with an empty or zero trace or span ID is malformed
 * input instead of being counted as invalid (ingest.h; default false). */
void otlp_wire_set_strict(struct otlp_wire *w, bool strict);

/* Top-level fields of the requests scanned so far: resource_spans, and
 * unknown ones (a message of only unknown fields is not a trace). */
void otlp_wire_fields(const struct otlp_wire *w, size_t *resource_spans,
                      size_t *unknown);

/* Scan one ExportTraceServiceRequest: `len` bytes at `msg` (no length
 * prefix) that start at byte `offset` of the (decompressed) input, in a
 * frame (length prefix included) that starts at byte `frame_offset`.
 * Appends the message's spans in document order; spans with an empty or
 * all-zero trace or span ID are counted in span_store_add_invalid()
 * instead. Every string field (read or skipped) must be valid UTF-8 and no
 * field number may be 0. Returns 0, or a negated
 * enum ingest_status: -INGEST_E_MALFORMED with
 *   "NAME: byte N: expected WHAT (message at byte M: PATH)"
 * in err, N being the exact input offset of the offending bytes (a tag,
 * length prefix or value), or -INGEST_E_NOMEM. Spans appended before an
 * error stay in the store. */
int otlp_wire_scan(struct otlp_wire *w, const uint8_t *msg, size_t len,
                   uint64_t offset, uint64_t frame_offset, char *err,
                   size_t errlen);

#endif
