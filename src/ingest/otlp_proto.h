/* otlp_proto: what the OTLP protobuf reader, writer and corrector share.
 *  - a bump arena that plugs into protobuf-c as its allocator, reset once per
 *    message, so decoding a message costs a few pointer bumps instead of one
 *    malloc per span, attribute and string;
 *  - a message stream over a source: a sequence of varint-length-delimited
 *    ExportTraceServiceRequest messages (protobuf's writeDelimitedTo layout,
 *    what trace_writer_otlp_proto writes), or, when the first message does
 *    not parse that way, the whole input as one plain message;
 *  - the clock domain of a resource (docs/CONTRACTS.md "Terms").
 *
 * Flow: source -> otlp_proto stream -> ingest_otlp_proto / correct_proto.
 * Not thread-safe; one thread owns a stream or arena. */
#ifndef SKEWSCOPE_OTLP_PROTO_H
#define SKEWSCOPE_OTLP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct source;
struct ProtobufCAllocator;
struct ProtobufCMessageDescriptor;
struct Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest;
struct Opentelemetry__Proto__Resource__V1__Resource;
struct Opentelemetry__Proto__Common__V1__AnyValue;

/* Largest message the stream accepts (bytes); larger length prefixes are
 * reported as malformed instead of being buffered. */
#define OTLP_PROTO_MAX_MESSAGE ((uint64_t)1 << 31)
/* Deepest nesting of messages (AnyValue arrays and maps nest freely) that
 * the stream lets protobuf-c decode; deeper input is malformed. */
#define OTLP_PROTO_MAX_DEPTH 64
/* Most empty length-delimited messages (a 0x00 length prefix each) in a
 * row the stream accepts: a longer run of zero bytes is malformed input,
 * not a trace, and fails at once instead of reading on (/dev/zero). */
#define OTLP_PROTO_MAX_EMPTY_RUN 16

struct otlp_arena;

/* A new arena, or NULL when out of memory. */
struct otlp_arena *otlp_arena_create(void);
void otlp_arena_destroy(struct otlp_arena *a);
/* size bytes aligned for any protobuf-c type, valid until the next reset.
 * Returns NULL when out of memory. */
void *otlp_arena_alloc(struct otlp_arena *a, size_t size);
/* Forget every allocation; keeps (at most) one block for reuse. */
void otlp_arena_reset(struct otlp_arena *a);
/* The arena as a protobuf-c allocator (free is a no-op). Owned by a. */
struct ProtobufCAllocator *otlp_arena_allocator(struct otlp_arena *a);
/* Bytes the arena holds on the heap. */
size_t otlp_arena_memory(const struct otlp_arena *a);

struct otlp_proto_stream;

/* Start reading messages from src (not closed by the stream). Returns NULL
 * when out of memory. */
struct otlp_proto_stream *otlp_proto_stream_open(struct source *src);
void otlp_proto_stream_close(struct otlp_proto_stream *st);

/* Decode the next message into *msg. The message lives in the stream's
 * arena until the next call (callers may allocate more in that arena with
 * otlp_proto_stream_arena(), e.g. to add attributes). Returns 1 with *msg
 * set, 0 at the end of the input, or a negated enum ingest_status with
 * NAME: byte OFFSET: what was expected in err. */
int otlp_proto_stream_next(
    struct otlp_proto_stream *st,
    struct Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
        **msg,
    char *err, size_t errlen);
/* Like otlp_proto_stream_next(), but hand over the next message's bytes
 * (*len bytes at *data, without the length prefix; *offset is where they
 * start in the decompressed input) instead of decoding them. The bytes stay
 * valid until the next call. Only the first message is decoded, to tell
 * length-delimited input from one plain message the same way; a plain
 * message is handed over unchecked (see otlp_proto_stream_plain_why()).
 * Do not mix with otlp_proto_stream_next() on one stream. Returns 1, 0 at
 * the end, or a negated enum ingest_status with err filled. */
int otlp_proto_stream_next_raw(struct otlp_proto_stream *st,
                               const uint8_t **data, size_t *len,
                               uint64_t *offset, char *err, size_t errlen);
/* NULL while the input reads as length-delimited messages; once it was
 * taken as one plain message, why the delimited reading failed ("" when it
 * only had unknown fields). Owned by the stream. */
const char *otlp_proto_stream_plain_why(const struct otlp_proto_stream *st);
/* Byte offset (decompressed input) where the last returned message starts,
 * counting its length prefix. */
uint64_t otlp_proto_stream_offset(const struct otlp_proto_stream *st);
struct otlp_arena *otlp_proto_stream_arena(struct otlp_proto_stream *st);
/* Heap bytes held by the stream (read buffer and arena). */
size_t otlp_proto_stream_memory(const struct otlp_proto_stream *st);

/* Decode one ExportTraceServiceRequest (n bytes at p, no length prefix)
 * into arena a (reset first), refusing nesting deeper than
 * OTLP_PROTO_MAX_DEPTH. Returns NULL when it does not parse. */
struct Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *
otlp_proto_request_unpack(struct otlp_arena *a, const uint8_t *p, size_t n);

/* Whether the n bytes at p, a message of type d at nesting depth `depth`
 * (0 = the request), are wire format whose message-typed fields nest at
 * most OTLP_PROTO_MAX_DEPTH deep. Sub-messages too short to go that deep
 * are not looked at, so this is cheap unless n > 2 * (MAX_DEPTH - depth). */
bool otlp_proto_nesting_ok(const uint8_t *p, size_t n,
                           const struct ProtobufCMessageDescriptor *d,
                           unsigned depth);

/* Clock domain name of a resource (may be NULL): the value of the attribute
 * with the lowest clock_domain_rank(user_attr, CLOCK_DOMAIN_OTLP_RESOURCE,
 * key); strings as they are, other scalars as text (written into buf,
 * buflen bytes). Sets *name and *len and returns 0; returns -1 when no
 * candidate attribute is present. *name points into the resource or buf. */
int otlp_proto_resource_domain(
    const struct Opentelemetry__Proto__Resource__V1__Resource *res,
    const char *user_attr, const char **name, size_t *len, char *buf,
    size_t buflen);

/* Text of a scalar AnyValue: strings point at their own bytes, numbers and
 * booleans are formatted into buf; bytes as lowercase hex (truncated to
 * buflen). Returns 0, or -1 for unset, array and map values. */
int otlp_proto_value_text(
    const struct Opentelemetry__Proto__Common__V1__AnyValue *v,
    const char **text, size_t *len, char *buf, size_t buflen);

/* Write v as a protobuf varint into out (at least 10 bytes); returns the
 * number of bytes written. */
size_t otlp_proto_put_varint(uint8_t *out, uint64_t v);

/* 8 big-endian bytes <-> span ID. */
uint64_t otlp_proto_span_id(const uint8_t b[8]);
void otlp_proto_span_id_bytes(uint64_t id, uint8_t out[8]);

#endif
