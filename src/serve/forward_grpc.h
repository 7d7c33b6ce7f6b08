/* forward_grpc: the OTLP/gRPC downstream of serve's forwarder
 * (`--forward-otlp grpc://HOST:PORT`): one blocking TraceService/Export
 * call per batch over h2c (HTTP/2 with prior knowledge, libcurl), the
 * batch's protobuf ExportTraceServiceRequest framed as one gRPC message,
 * the outcome read from grpc-status in the trailers (or a trailers-only
 * response) and classified as the OTLP specification says for OTLP/gRPC
 * clients:
 *   OK                                   -> delivered;
 *   CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE,
 *   DATA_LOSS, RESOURCE_EXHAUSTED with a google.rpc.RetryInfo (its delay
 *   is returned), no connection, no status at all -> retry;
 *   anything else (INVALID_ARGUMENT, UNIMPLEMENTED, UNAUTHENTICATED,
 *   RESOURCE_EXHAUSTED without RetryInfo, ...) -> permanent (dropped).
 * Only protobuf goes over gRPC: a JSON batch (OTLP/HTTP JSON input) is
 * refused as permanent, with a message saying so.
 *
 * Flow: forward.c's sender thread -> forward_grpc_send -> downstream.
 * Threads: a struct forward_grpc belongs to one thread at a time (the
 * forwarder's sender). One connection per call: libcurl 7.88 (Debian 12)
 * breaks on the second request of a reused h2c prior-knowledge
 * connection. */
#ifndef SKEWSCOPE_FORWARD_GRPC_H
#define SKEWSCOPE_FORWARD_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct forward_grpc;

enum forward_grpc_result {
    FORWARD_GRPC_OK = 0,
    FORWARD_GRPC_RETRY = 1,
    FORWARD_GRPC_PERMANENT = 2,
};

/* Whether endpoint is a grpc:// URL (case-insensitive scheme). */
bool forward_grpc_is_url(const char *endpoint);

/* A client for "grpc://HOST:PORT" (a trailing "/" is allowed; any other
 * path is refused: the method is fixed). token: sent as "authorization:
 * Bearer T" metadata (NULL = none). NULL with a message in err when the
 * URL is malformed or libcurl cannot start or lacks HTTP/2. */
struct forward_grpc *forward_grpc_create(const char *endpoint,
                                         const char *token, char *err,
                                         size_t errlen);

/* One Export call with the protobuf ExportTraceServiceRequest msg (len
 * bytes; json true = the batch is OTLP JSON, refused). timeout_ms bounds
 * the call, connecting included. abort_fn (may be NULL) is polled during
 * the call; nonzero aborts it (-> RETRY). On RETRY, *retry_after_ms gets
 * the server's RetryInfo delay when it sent one (else left alone). err
 * gets what happened ("grpc://h:p: UNAVAILABLE: ...") for anything but
 * OK. */
enum forward_grpc_result
forward_grpc_send(struct forward_grpc *c, const uint8_t *msg, size_t len,
                  bool json, long timeout_ms, int (*abort_fn)(void *),
                  void *abort_ctx, unsigned *retry_after_ms, char *err,
                  size_t errlen);

/* The classification above for a gRPC status code (has_retry_info: the
 * status carried a RetryInfo). */
enum forward_grpc_result forward_grpc_classify(int code, bool has_retry_info);

void forward_grpc_destroy(struct forward_grpc *c);

#endif
