/* receiver_grpc: the OTLP/gRPC trace receiver of `skewscope serve`.
 *
 * A gRPC server for one method, opentelemetry.proto.collector.trace.v1.
 * TraceService/Export, over HTTP/2 in cleartext with prior knowledge (h2c,
 * what OTLP/gRPC exporters speak to an "http://" or insecure endpoint),
 * on libnghttp2 with its own event loops (epoll, non-blocking sockets).
 * Each Export's request message is decoded exactly as an OTLP/HTTP
 * protobuf body (receiver_decode_body) and handed to the same body handler
 * as the HTTP receiver's (serve's on_http), with the same verdicts,
 * including RECEIVER_PENDING: the stream then waits, without holding its
 * loop, until receiver_answer() comes (serve: after the write-ahead log's
 * fsync). Answers, as the gRPC and OTLP specifications say:
 *   OK                  ExportTraceServiceResponse, with partial_success
 *                       when the handler rejected spans;
 *   INVALID_ARGUMENT    a malformed message or framing (the message says
 *                       where: "byte N: ..."); a second message in the
 *                       call; a compressed message without grpc-encoding;
 *   UNAUTHENTICATED     bearer token configured and the "authorization"
 *                       metadata missing or wrong;
 *   UNIMPLEMENTED       any other method (path), or a grpc-encoding other
 *                       than identity and gzip (with grpc-accept-encoding);
 *   RESOURCE_EXHAUSTED  a message over max_body_bytes or, inflated, over
 *                       max_decompressed_bytes (no retry info: do not
 *                       retry); or the consumer is behind (queue over
 *                       max_queued_spans, handler busy): with a
 *                       google.rpc.RetryInfo in grpc-status-details-bin
 *                       (OTLP/gRPC Throttling: retryable);
 *   UNAVAILABLE         handler unavailable, or stopping (with RetryInfo);
 *   DEADLINE_EXCEEDED   the request was not all in within its deadline;
 *   INTERNAL            out of memory.
 * Not gRPC at all: a request whose content-type is not application/grpc
 * gets HTTP 415, a method other than POST HTTP 405 (gRPC's rule, so that a
 * plain HTTP/2 client does not take a gRPC error for a success); broken
 * HTTP/2 (a bad preface, frames out of order) ends the connection with a
 * GOAWAY (nghttp2's checks), nothing else.
 *
 * Limits: max_connections open connections (more are closed at accept);
 * 100 concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS);
 * request metadata up to 64 KiB; a stream's request must be complete
 * within body_timeout_ms plus 1 s per body_min_rate bytes; a connection
 * with no stream open and nothing received for idle_timeout_s is closed
 * with a GOAWAY. Calls past their deadline are answered
 * DEADLINE_EXCEEDED.
 *
 * Flow: gRPC client -> loop thread (nghttp2 -> grpc_frame ->
 *       receiver_decode_body) -> body handler (serve's queue / WAL)
 *       [-> receiver_answer, any thread -> the loop's answer queue ->
 *       response on the stream].
 *
 * Threads: receiver_grpc_start(), _port() and _stop() are called by one
 * owner thread. The body handler and queued_spans() run on the loop
 * threads, several at once: they must be thread-safe (as for the HTTP
 * receiver). receiver_answer() on a handle from this receiver, and
 * receiver_grpc_counters_read() / _write_metrics(), may be called from any
 * thread. */
#ifndef SKEWSCOPE_RECEIVER_GRPC_H
#define SKEWSCOPE_RECEIVER_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "serve/grpc_frame.h"
#include "serve/receiver.h"

struct receiver_grpc;
struct receiver_grpc_counters;

/* The one method served. */
#define RECEIVER_GRPC_EXPORT_PATH                                              \
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

/* Zero or NULL fields take the defaults in brackets. */
struct receiver_grpc_config {
    const char *listen;            /* "HOST:PORT", "[V6]:PORT"; port 0 = any
                                      free port ["127.0.0.1:4317"] */
    const char *bearer_token;      /* required "authorization: Bearer T"
                                      metadata [NULL = none] */
    size_t max_body_bytes;         /* one message as sent (after its 5-byte
                                      prefix) [8 MiB] */
    size_t max_decompressed_bytes; /* inflated (grpc-encoding gzip)
                                      [64 MiB] */
    /* Back-pressure as the HTTP receiver's: on the request's headers, and
     * again with the decoded span count, queued_spans(handler ctx) (+ the
     * batch) over max_queued_spans -> RESOURCE_EXHAUSTED with RetryInfo
     * (an empty queue takes any one batch). NULL = no check. */
    size_t max_queued_spans;           /* [1,000,000] */
    size_t (*queued_spans)(void *ctx); /* [NULL] */
    unsigned retry_after_s;            /* RetryInfo's retry_delay [1] */
    unsigned threads;                  /* event loops [1] */
    unsigned max_connections;          /* [4096] */
    unsigned idle_timeout_s;           /* [300] */
    unsigned body_timeout_ms;          /* [20000] */
    unsigned body_min_rate;            /* bytes/s [1024] */
    unsigned shutdown_grace_ms;        /* receiver_grpc_stop() waits this
                                          long for calls in progress
                                          [5000] */
    const char *clock_domain_attr;     /* as --clock-domain [NULL] */
    /* Called with each decoded Export (content RECEIVER_CONTENT_PROTOBUF,
     * body = the request message as decoded, after grpc-encoding), with
     * the verdicts, ownership rules and out->pending of receiver.h's
     * receiver_body_fn. Required. */
    receiver_body_fn body_handler;
};

/* Start listening and serving. body_handler and ctx must stay valid until
 * receiver_grpc_stop() returns. Returns NULL with a message in err, e.g.
 * "listen-grpc 127.0.0.1:4317: Address already in use". */
struct receiver_grpc *
receiver_grpc_start(const struct receiver_grpc_config *cfg, void *ctx,
                    char *err, size_t errlen);

/* The TCP port actually bound (useful after port 0). */
int receiver_grpc_port(const struct receiver_grpc *g);

/* Graceful stop: stop accepting, tell every connection GOAWAY (calls begun
 * go on), wait up to shutdown_grace_ms for the calls in progress (received,
 * handled, or waiting for their receiver_answer()), answer UNAVAILABLE to
 * those still waiting (a receiver_answer() that comes later returns
 * false), flush, close every connection, free g. Handler calls have all
 * returned when it returns. NULL is a no-op. `out` (may be NULL) gets the
 * final counters. */
void receiver_grpc_stop(struct receiver_grpc *g,
                        struct receiver_grpc_counters *out);

/* Totals since start unless said; spans as receiver_counters' (received =
 * decoded from well-formed messages; accepted + rejected = of the batches
 * the handler took; throttled = refused RESOURCE_EXHAUSTED/UNAVAILABLE
 * after decoding; invalid = left out by the readers). Calls: answered, by
 * gRPC status code; http_refused = answered with an HTTP error (415, 405)
 * instead; reset = streams the client reset or that ended without an
 * answer (a connection closed mid-call). */
struct receiver_grpc_counters {
    uint64_t calls[GRPC_NCODES]; /* by enum grpc_code */
    uint64_t http_refused, reset;
    uint64_t spans_received, spans_accepted, spans_rejected;
    uint64_t spans_throttled, spans_invalid;
    uint64_t calls_throttled_undecoded;     /* refused on their headers */
    uint64_t calls_waiting;                 /* now: for receiver_answer() */
    uint64_t bytes_received, bytes_decoded; /* messages as sent, inflated */
    uint64_t connections_open, connections_accepted, connections_refused;
    uint64_t connections_timed_out; /* closed for idle_timeout_s */
};

/* Snapshot of the counters (each read atomically). Thread-safe. */
void receiver_grpc_counters_read(const struct receiver_grpc *g,
                                 struct receiver_grpc_counters *out);

/* The counters as Prometheus text (skewscope_grpc_*: calls by code,
 * bytes, connections, waiting), with HELP and TYPE lines. */
void receiver_grpc_write_metrics(const struct receiver_grpc_counters *c,
                                 FILE *f);

#endif
