/* correct_wire: `correct` for one OTLP protobuf request on the wire
 * format, without decoding it into protobuf-c messages: start, end and
 * event times of spans of clock domains the model knows are patched in
 * place (mapped with clock_model_to_reference()), the originals added as
 * the CORRECT_ATTR_* int attributes (output/correct.h), everything else
 * copied byte for byte. The walk (field rules, strings, nesting, clock
 * domain, span IDs, error messages) is ingest/otlp_walk's, the one the
 * read path uses, so a request the readers accept is rewritten.
 *
 * It writes what correct_otlp_proto_dom_ops (decode with protobuf-c,
 * correct, re-encode) writes, up to field order: both decode to the same
 * message (tests/test_rewrite.c, fuzz/fuzz_rewrite.c).
 *
 * Callers: correct_proto.c (`correct` with protobuf output) and
 * serve/rewrite.c (serve's forwarding).
 * Flow: request bytes -> otlp_walk -> here -> bytes.
 * Threads: no shared state; each call is independent. */
#ifndef SKEWSCOPE_CORRECT_WIRE_H
#define SKEWSCOPE_CORRECT_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct clock_model;
struct correct_stats;

/* Bytes written (owned by the caller: free(p)). */
struct correct_wire_out {
    uint8_t *p;
    size_t len, cap;
};

/* Where the request lies in the input, for messages: its name ("in.pb",
 * "request body"), the offset of its byte 0 and of its frame. */
struct correct_wire_at {
    const char *name;
    uint64_t offset, frame_offset;
};

/* Correct one ExportTraceServiceRequest (len bytes at in, no length
 * prefix) and append the result to out. The clock domain of a
 * ResourceSpans is the one the readers name (clock_domain_attr: the
 * --clock-domain attribute or NULL); spans the readers count as invalid
 * (an empty or all-zero trace or span ID) are copied unchanged. stats (may
 * be NULL) gets spans and adjusted added. Returns 0, -INGEST_E_MALFORMED
 * with "NAME: byte N: expected ..." in err (out then holds a partial
 * result), or -INGEST_E_NOMEM. */
int correct_wire_request(const uint8_t *in, size_t len,
                         const struct correct_wire_at *at,
                         const struct clock_model *model,
                         const char *clock_domain_attr,
                         struct correct_wire_out *out,
                         struct correct_stats *stats, char *err, size_t errlen);

#endif
