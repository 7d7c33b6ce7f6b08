/* receiver: the OTLP/HTTP trace receiver of `skewscope serve`.
 *
 * An HTTP server (libmicrohttpd, epoll, internal thread pool) that takes
 * ExportTraceServiceRequest bodies on POST /v1/traces (application/x-protobuf
 * or application/json, optionally gzip Content-Encoding), decodes each into
 * a fresh span_store and hands it to the caller's batch handler; it replies
 * as the OTLP/HTTP specification says:
 *   200  ExportTraceServiceResponse, in the request's encoding, with
 *        partial_success when the handler rejected some spans;
 *   400  malformed body (the message says where: "byte N" or "LINE:COL");
 *   401  bearer token configured and missing or wrong;
 *   404  unknown path (the whole decoded path: "/metrics%00.txt" is not
 *        "/metrics");  405 wrong method (with Allow);
 *   413  body or decompressed body over its limit (a gzip bomb is refused
 *        while inflating, never inflated past max_decompressed_bytes);
 *   415  unsupported Content-Type or Content-Encoding;
 *   429  the consumer is behind (queue over max_queued_spans or handler
 *        says busy), 503 handler unavailable; both with Retry-After.
 * Error bodies are a google.rpc.Status in the request's encoding (text/plain
 * when the request's type is unknown). Slow clients: every connection has
 * a header and a body deadline (receiver_conns.h), and connections are
 * limited per client address and in all, so that clients that trickle
 * bytes cannot hold every slot. Extra GET routes (/metrics,
 * /api/v1/status) are plugged in by the caller with receiver_route.
 *
 * Flow: HTTP client -> receiver (decode: receiver_decode.c) -> handler
 * (the serve pipeline's queue).
 *
 * Asynchronous answers: a handler that must wait for something slow (serve
 * waits for the write-ahead log's fsync) returns RECEIVER_PENDING; the
 * request is suspended (libmicrohttpd's MHD_suspend_connection: off the
 * thread's poll set, no timeouts) and answered when receiver_answer() comes,
 * from whatever thread finished the work; the HTTP thread serves other
 * connections meanwhile.
 *
 * Threads: receiver_start(), receiver_port(), receiver_stop() are called by
 * one owner thread. The batch handler, queued_spans() and route callbacks
 * run on the receiver's HTTP threads, several at once (threads > 1): they
 * must be thread-safe. receiver_answer() and receiver_counters_read() may
 * be called from any thread, including from a route callback. */
#ifndef SKEWSCOPE_RECEIVER_H
#define SKEWSCOPE_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct span_store;
struct receiver;

/* What the batch handler did with a batch. */
enum receiver_verdict {
    RECEIVER_ACCEPTED = 0,    /* took the batch: reply 200 */
    RECEIVER_BUSY = 1,        /* cannot take it now: 429 + Retry-After */
    RECEIVER_UNAVAILABLE = 2, /* shutting down or broken: 503 + Retry-After */
    /* Took the batch (the batch's ownership as for ACCEPTED) and answers
     * later, with receiver_answer(out->pending, ...): the request waits
     * suspended, holding no HTTP thread, until then. Only when
     * out->pending was set. */
    RECEIVER_PENDING = 3,
};

/* One request whose handler answered RECEIVER_PENDING (opaque). */
struct receiver_pending;

/* Filled in by the handler (zeroed before the call). */
struct receiver_outcome {
    /* Spans of the batch the handler refused although it took the batch
     * (<= span count); > 0 makes the reply carry partial_success with
     * error_message. Only read for RECEIVER_ACCEPTED. */
    size_t rejected_spans;
    char error_message[256];
    /* Retry-After seconds for BUSY / UNAVAILABLE; 0 = the config's. */
    unsigned retry_after_s;
    /* Set by the receiver before the call: this request's handle for a
     * RECEIVER_PENDING verdict (never NULL for POST /v1/traces). */
    struct receiver_pending *pending;
};

/* The answer to a request whose handler returned RECEIVER_PENDING:
 * RECEIVER_ACCEPTED (200), RECEIVER_BUSY (429) or RECEIVER_UNAVAILABLE
 * (503), both with the config's Retry-After. Exactly once per PENDING
 * verdict, from any thread (also from inside the handler, before it
 * returns PENDING), at any time: also after receiver_stop() has returned.
 * Until it is called the request waits, suspended: no header, body or
 * idle timeout applies to it (the client waits on us, not we on it).
 * receiver_stop() waits for these answers up to shutdown_grace_ms, then
 * answers the requests still waiting 503 itself (the client retries; an
 * ACCEPTED given later is then not what the client got, and a batch kept
 * anyway arrives twice: at least once). Returns true when v is what the
 * client is sent, false when the stop had already answered 503. Frees
 * the handle: p is not used again. */
bool receiver_answer(struct receiver_pending *p, enum receiver_verdict v);

/* For another transport that hands its requests to the same handlers
 * (serve/receiver_grpc.h): a handle whose receiver_answer(p, v) calls
 * answer(ctx, v) (on the answering thread) and returns what it returns,
 * then frees p. NULL when out of memory. A handle the handler did not keep
 * (its verdict was not RECEIVER_PENDING) is freed with
 * receiver_pending_discard(), which does not call answer. */
struct receiver_pending *
receiver_pending_external(bool (*answer)(void *ctx, enum receiver_verdict v),
                          void *ctx);
void receiver_pending_discard(struct receiver_pending *p);

/* Called on an HTTP thread with one decoded request (span_store_count() may
 * be 0). Ownership of `batch`: it passes to the handler when it returns
 * RECEIVER_ACCEPTED or RECEIVER_PENDING (the handler keeps or destroys it
 * with span_store_destroy()); for any other verdict the receiver destroys
 * it. */
typedef enum receiver_verdict (*receiver_batch_fn)(
    void *ctx, struct span_store *batch, struct receiver_outcome *out);

/* One decoded request for a body_handler: the spans, and the body as
 * decoded (after Content-Encoding) in its content type. On
 * RECEIVER_ACCEPTED or RECEIVER_PENDING the handler may take `store`
 * and/or `body` by setting the field to NULL (it then owns and frees them:
 * span_store_destroy(), free()); whatever is left non-NULL the receiver
 * frees when the handler returns. */
struct receiver_batch {
    struct span_store *store;
    unsigned char *body; /* malloc'd; may be NULL when len == 0 */
    size_t len;
    int content; /* enum receiver_content */
};

typedef enum receiver_verdict (*receiver_body_fn)(void *ctx,
                                                  struct receiver_batch *batch,
                                                  struct receiver_outcome *out);

/* A GET (and HEAD) route. The callback sets *body to a malloc'd buffer of
 * *len bytes (freed by the receiver with free()), *content_type to a static
 * string, and returns the HTTP status (200, ...), or -1 for a 500 (then
 * *body is ignored). Runs on an HTTP thread. */
typedef int (*receiver_route_fn)(void *ctx, char **body, size_t *len,
                                 const char **content_type);

/* The query arguments of the request a route answers (opaque; only
 * valid during the route call). */
struct receiver_args;
/* The value of query argument `name` ("?id=..."), URL-decoded, or NULL
 * when the request has none. */
const char *receiver_arg(const struct receiver_args *args, const char *name);
/* A route that reads query arguments; otherwise as receiver_route_fn. */
typedef int (*receiver_args_route_fn)(void *ctx,
                                      const struct receiver_args *args,
                                      char **body, size_t *len,
                                      const char **content_type);

struct receiver_route {
    const char *path; /* exact match, e.g. "/metrics" */
    receiver_route_fn fn;
    void *ctx;
    receiver_args_route_fn args_fn; /* called instead of fn when set */
    /* Served without the bearer token (a page and its assets, which a
     * browser requests without headers of ours; never data). */
    bool public;
};

/* Zero or NULL fields take the defaults in brackets. */
struct receiver_config {
    const char *listen;            /* "HOST:PORT", "[V6]:PORT"; port 0 = any
                                      free port ["127.0.0.1:4318"] */
    const char *bearer_token;      /* required "Authorization: Bearer T" on
                                      every route but the public ones
                                      [NULL = none] */
    size_t max_body_bytes;         /* request body as sent [8 MiB] -> 413 */
    size_t max_decompressed_bytes; /* after gzip [64 MiB] -> 413 */
    /* Back-pressure: before reading a body, and again with the decoded
     * span count, queued_spans(handler ctx) (+ the batch) over
     * max_queued_spans -> 429 (an empty queue takes any one batch, so that
     * a batch larger than the cap is not refused forever).
     * queued_spans NULL = no check. */
    size_t max_queued_spans;           /* [1,000,000] */
    size_t (*queued_spans)(void *ctx); /* [NULL] */
    unsigned retry_after_s;            /* Retry-After [1] */
    unsigned threads;                  /* HTTP threads (epoll, each
                                          polling its share of the
                                          connections) [2] */
    /* Connection limits: a connection over either is closed as soon as
     * it is accepted (counted in connections_refused). The process's
     * RLIMIT_NOFILE soft limit is raised to fit max_connections (+ 256
     * for the rest of the process); when the hard limit is lower,
     * max_connections is lowered to fit and a warning logged. */
    unsigned max_connections;        /* in all [4096] */
    unsigned max_connections_per_ip; /* from one client address [256] */
    unsigned idle_timeout_s;         /* a connection that sends nothing
                                        is closed after this [10] */
    /* Deadlines (receiver_conns.h): a request's headers must be in within
     * header_timeout_ms of the connection's accept (or of the end of its
     * previous request); its body within body_timeout_ms of the headers
     * plus 1 s per body_min_rate bytes received. A connection past its
     * deadline is closed (counted in connections_timed_out_*). */
    unsigned header_timeout_ms;    /* [10000] */
    unsigned body_timeout_ms;      /* [20000] */
    unsigned body_min_rate;        /* bytes/s [1024] */
    unsigned shutdown_grace_ms;    /* receiver_stop() waits this
                                      long for requests [5000] */
    const char *clock_domain_attr; /* as --clock-domain [NULL] */
    /* When set, called instead of receiver_start()'s handler, with the
     * decoded body as well (for forwarding); same threads and verdicts. */
    receiver_body_fn body_handler;
    const struct receiver_route *routes; /* copied by receiver_start() */
    size_t nroutes;
};

/* Start listening and serving. `handler` and `ctx` must stay valid until
 * receiver_stop() returns. Returns NULL with a message in err (errlen
 * bytes), e.g. "listen 127.0.0.1:4318: Address already in use", when the
 * address is bad, the port is busy, or out of memory. */
struct receiver *receiver_start(const struct receiver_config *cfg,
                                receiver_batch_fn handler, void *ctx, char *err,
                                size_t errlen);

/* The TCP port actually bound (useful after port 0). */
int receiver_port(const struct receiver *r);

/* Graceful stop: stop accepting connections, let requests already being
 * received, handled or waiting for their receiver_answer() finish (up to
 * shutdown_grace_ms), answer 503 to those still waiting, then close every
 * connection and free r. Handler calls have all returned when it returns
 * (receiver_answer() calls may still follow: see there). NULL is a
 * no-op. */
void receiver_stop(struct receiver *r);

/* Status codes counted, in the order of receiver_counters.requests[]:
 * the receiver's own replies and those libmicrohttpd sends by itself
 * (400 bad request line or header, 413, 414 URI too long, 431 headers too
 * large, 500, 505). */
#define RECEIVER_NSTATUS 14
extern const unsigned receiver_status_codes[RECEIVER_NSTATUS];

/* Totals since start (monotonic) unless said. Spans: received = decoded
 * from well-formed /v1/traces bodies; accepted + rejected = those of
 * batches the handler took (rejected = its partial_success count);
 * throttled = those refused with 429/503 after decoding. A request refused
 * with 429 on its headers (queue full) is never read, so its spans are
 * unknown: it is counted in requests_throttled_undecoded only;
 * requests_throttled_decoded counts the requests behind spans_throttled.
 * Bytes: as sent (body) and after Content-Encoding (decoded).
 * Connections: open now; refused at accept by max_connections or
 * max_connections_per_ip; closed by the header or body deadline.
 * Invalid: spans of well-formed bodies that the readers left out of the
 * batch (ingest_span_invalid(): an empty trace or span ID, no timestamp;
 * span_store_invalid_total()) and so out of every other span count; they
 * stay in the body as sent (a body_handler forwards them unchanged).
 * Waiting: requests suspended now for their receiver_answer(); their
 * spans are in spans_received, and in accepted or throttled once
 * answered. */
struct receiver_counters {
    uint64_t requests[RECEIVER_NSTATUS]; /* by receiver_status_codes[] */
    uint64_t requests_other;             /* any other status */
    uint64_t spans_received, spans_accepted, spans_rejected;
    uint64_t spans_throttled, spans_invalid;
    uint64_t requests_throttled_undecoded, requests_throttled_decoded;
    uint64_t requests_waiting; /* now */
    uint64_t bytes_received, bytes_decoded;
    uint64_t connections_open, connections_accepted, connections_refused;
    uint64_t connections_timed_out_header, connections_timed_out_body;
};

/* Snapshot of the counters (each read atomically; the set is not one
 * instant). Thread-safe. */
void receiver_counters_read(const struct receiver *r,
                            struct receiver_counters *out);

/* ---- Body decoding (receiver_decode.c); also for Kafka input and fuzz. */

enum receiver_content {
    RECEIVER_CONTENT_UNKNOWN = 0,
    RECEIVER_CONTENT_PROTOBUF, /* application/x-protobuf */
    RECEIVER_CONTENT_JSON,     /* application/json */
};

enum receiver_decode_status {
    RECEIVER_DECODE_OK = 0,
    RECEIVER_DECODE_MALFORMED = 1, /* -> 400 */
    RECEIVER_DECODE_TOO_LARGE = 2, /* decompressed over the limit -> 413 */
    RECEIVER_DECODE_NOMEM = 3,     /* -> 500 */
};

/* Content-Type header value (parameters such as "; charset=utf-8" and case
 * ignored) -> content; UNKNOWN for anything else or NULL. */
enum receiver_content receiver_content_parse(const char *content_type);

/* Decode one OTLP/HTTP request body of `len` bytes: gunzip it first when
 * `gzip` (refusing, while inflating, to produce more than max_decompressed
 * bytes), then read it as one ExportTraceServiceRequest (protobuf, no
 * length prefix) or OTLP JSON, appending its spans to `store`. When
 * decoded_len is not NULL it gets the size after gunzip. Returns 0 or a
 * negated enum receiver_decode_status with a message in err ("request
 * body: byte N: ...", "request body:LINE:COL: ..."); spans appended before
 * an error stay in the store. Thread-safe for distinct stores. */
int receiver_decode_body(const void *body, size_t len,
                         enum receiver_content content, bool gzip,
                         size_t max_decompressed, const char *clock_domain_attr,
                         struct span_store *store, size_t *decoded_len,
                         char *err, size_t errlen);

/* Inflate a gzip body (one or more members) into a malloc'd *out of
 * *outlen bytes, refusing while inflating to produce more than
 * max_decompressed bytes. Returns 0 or a negated enum
 * receiver_decode_status with a message in err. */
int receiver_gunzip(const void *body, size_t len, size_t max_decompressed,
                    unsigned char **out, size_t *outlen, char *err,
                    size_t errlen);

/* receiver_stop() that first fills *out (may be NULL) with the final
 * counters, every request finished. */
void receiver_stop_counters(struct receiver *r, struct receiver_counters *out);

#endif
