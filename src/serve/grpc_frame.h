/* grpc_frame: the gRPC wire pieces that sit above HTTP/2, shared by serve's
 * OTLP/gRPC receiver (receiver_grpc.c) and the grpc:// forwarder
 * (forward_grpc.c); no I/O, no allocation, so that the fuzzer can drive
 * every parser here (fuzz/fuzz_grpc_frame.c).
 *
 *  - Length-prefixed messages (gRPC PROTOCOL-HTTP2 "Length-Prefixed-
 *    Message"): 1 byte compressed flag (0 or 1), 4 bytes big-endian length,
 *    the message. A unary call's body (Export) is exactly one of them.
 *  - Status: the codes (0 OK .. 16 UNAUTHENTICATED) and their names, the
 *    grpc-message header's percent-encoding, and grpc-status-details-bin: a
 *    google.rpc.Status {code, message, details} whose details carry a
 *    google.rpc.RetryInfo {retry_delay} when the server asks the client to
 *    come back later (what the OTLP specification's "OTLP/gRPC Throttling"
 *    asks of a server that is behind), base64 without padding.
 *
 * Flow: HTTP/2 DATA bytes -> grpc_frame_* -> protobuf message ->
 *       receiver_decode_body; status -> grpc_status_details -> trailers. */
#ifndef SKEWSCOPE_GRPC_FRAME_H
#define SKEWSCOPE_GRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum grpc_code {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_ALREADY_EXISTS = 6,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_ABORTED = 10,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_DATA_LOSS = 15,
    GRPC_UNAUTHENTICATED = 16,
};
#define GRPC_NCODES 17

/* "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for a code out of range. */
const char *grpc_code_name(int code);

/* Bytes of a message's prefix. */
#define GRPC_PREFIX_LEN 5

/* Write the 5-byte prefix of a message of len bytes. */
void grpc_frame_prefix(uint8_t out[GRPC_PREFIX_LEN], bool compressed,
                       uint32_t len);

enum grpc_frame_status {
    GRPC_FRAME_OK = 0,
    GRPC_FRAME_MALFORMED = 1, /* -> INVALID_ARGUMENT */
    GRPC_FRAME_TOO_LARGE = 2, /* -> RESOURCE_EXHAUSTED */
};

/* The one message of a unary call's complete body of len bytes: *msg
 * points into body (not copied), *msg_len bytes, *compressed its flag.
 * Returns 0, or a negated enum grpc_frame_status with a message in err
 * ("byte N: ..."): fewer than 5 bytes, a flag other than 0 or 1, a body
 * shorter than the prefix says, bytes after the message (a second message:
 * Export is unary), or a length over max_len (TOO_LARGE). */
int grpc_frame_unary(const uint8_t *body, size_t len, size_t max_len,
                     const uint8_t **msg, size_t *msg_len, bool *compressed,
                     char *err, size_t errlen);

/* The length a prefix announces, once its 5 bytes are in (len >= 5):
 * lets a receiver refuse an oversized message before its bytes arrive.
 * Returns the length, or -1 when len < 5. */
int64_t grpc_frame_peek_len(const uint8_t *body, size_t len);

/* Percent-encode a grpc-message value: bytes outside 0x20-0x7e and '%'
 * become %XX (gRPC's rule). Writes at most cap bytes including the NUL
 * (truncated at a whole escape); returns the length written. */
size_t grpc_message_encode(const char *msg, char *out, size_t cap);

/* Undo grpc_message_encode in place (a malformed escape is kept as is).
 * Returns the new length. */
size_t grpc_message_decode(char *s);

/* A grpc-status-details-bin value: base64 (no padding) of a
 * google.rpc.Status {code, message (at most 512 bytes of it), details: a
 * google.rpc.RetryInfo with retry_delay = retry_delay_ms when > 0}.
 * Returns the length written (NUL-terminated), or 0 when cap (>= 1200 is
 * always enough) is too small; an all-default Status (code 0, no message,
 * no delay) is zero bytes, written as "" (returns 0 too). */
size_t grpc_status_details(int code, const char *message,
                           unsigned retry_delay_ms, char *out, size_t cap);

/* Read a grpc-status-details-bin value (base64, padded or not): the
 * google.rpc.Status's code and, when its details hold a
 * google.rpc.RetryInfo, its retry_delay in ms (else 0; capped at
 * 3,600,000). Returns 0, or -1 when the value is not base64 or not a
 * well-formed Status (nothing is allocated either way). */
int grpc_status_details_parse(const char *b64, size_t len, int *code,
                              unsigned *retry_delay_ms);

/* Whether a grpc-accept-encoding / grpc-encoding style list ("identity,
 * gzip") names enc (case-insensitive, spaces ignored). */
bool grpc_encoding_listed(const char *list, const char *enc);

#endif
