/* forward: delivers corrected span batches downstream for `skewscope
 * serve`, to an OTLP/HTTP endpoint (libcurl) and/or a Kafka topic
 * (librdkafka producer), with a bounded on-disk spool for outages.
 *
 * Flow: serve pipeline -> rewrite -> forward_submit() -> memory queue ->
 *       sender thread -> downstream; on failure -> spool (disk) -> retried
 *       with exponential backoff -> downstream.
 *
 * Delivery guarantee: at-least-once for every batch forward_submit()
 * accepted, across downstream outages and forward_stop() (SIGTERM): a batch
 * is released only after every configured downstream acknowledged it
 * (HTTP 2xx; Kafka delivery report without error), or after it was written
 * to the spool, from which the next forward_start() with the same spool
 * directory sends it first. A batch that was in flight when the connection
 * broke may arrive twice. A batch the downstream refuses permanently (HTTP
 * 400/401/403/404/413/415 etc., not 408/429/5xx) is dropped, logged and
 * counted in dropped_spans; nothing else is ever dropped.
 *
 * Order: batches are delivered in submission order (FIFO): once the
 * downstream fails, the memory queue moves to the spool in order and new
 * submissions go to the spool behind it until it is drained.
 *
 * Spool: files in spool_dir holding records [magic, length, span count,
 * content type, CRC32, bytes] (serve/segment.h); written with write(2)
 * (they survive the process being killed) and fsync'd before the done
 * callbacks of spooled batches run (so that what a callback declares safe
 * survives a power loss too; one fsync per round of callbacks). A torn or
 * corrupt record at a file's tail (a crash mid-write) is reported and
 * skipped, not fatal. Total size bounded by spool_max_bytes.
 *
 * Threads: one owner thread calls forward_start / forward_stop;
 * forward_submit, forward_queued_spans and forward_counters_read may be
 * called from any thread. Done callbacks run on the forwarder's thread. */
#ifndef SKEWSCOPE_FORWARD_H
#define SKEWSCOPE_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct forward;

enum forward_content {
    FORWARD_PROTOBUF = 0, /* application/x-protobuf, Kafka otlp_proto */
    FORWARD_JSON = 1,     /* application/json, Kafka otlp_json */
};

/* Zero or NULL fields take the defaults in brackets. At least one of
 * otlp_endpoint and kafka_topic must be set. */
struct forward_config {
    const char *otlp_endpoint;   /* "http://host:port/v1/traces", or
                                    "grpc://host:port" for OTLP/gRPC
                                    (serve/forward_grpc.h) [NULL] */
    const char *otlp_token;      /* sent as "Authorization: Bearer T" */
    const char *kafka_brokers;   /* bootstrap servers [NULL] */
    const char *kafka_topic;     /* [NULL] */
    const char *spool_dir;       /* created if missing ["skewscope-spool"] */
    uint64_t spool_max_bytes;    /* [1 GiB] */
    size_t max_queued_bytes;     /* memory queue [256 MiB] */
    unsigned timeout_ms;         /* per HTTP request / Kafka delivery [10000] */
    unsigned backoff_initial_ms; /* first retry delay [100] */
    unsigned backoff_max_ms;     /* cap, doubling from the initial [5000] */
};

/* Called once per accepted batch when it is delivered, spooled (and the
 * spool fsync'd) or dropped (its data is then no longer the forwarder's
 * concern): used to commit Kafka input offsets, and to let the write-ahead
 * log forget an HTTP request, only after the spans are safe. Runs on the
 * forwarder's thread; must not call forward_* functions. */
typedef void (*forward_done_fn)(void *done_ctx);

/* Start the sender (and replay what an earlier run left in the spool).
 * NULL with a message in err when the configuration is invalid, the spool
 * directory cannot be created or read, or libcurl/librdkafka cannot start. */
struct forward *forward_start(const struct forward_config *cfg, char *err,
                              size_t errlen);

/* Hand over one batch: `body` (malloc'd, ownership passes to the forwarder
 * on success and on failure alike) of `len` bytes encoded as `content`,
 * holding `spans` spans. `done` may be NULL. Returns 0 when accepted, -1
 * when both the memory queue and the spool are full (the caller should
 * refuse new input: 429/503) or the forwarder is stopping. */
int forward_submit(struct forward *f, uint8_t *body, size_t len,
                   enum forward_content content, size_t spans,
                   forward_done_fn done, void *done_ctx);

/* Spans waiting in memory (not yet delivered or spooled). */
size_t forward_queued_spans(const struct forward *f);

/* Totals since start; spool_* are the current spool contents. */
struct forward_counters {
    uint64_t forwarded_spans, forwarded_batches; /* acknowledged downstream */
    uint64_t dropped_spans;                      /* refused permanently */
    uint64_t lost_spans;     /* at stop: neither delivered nor spooled (the
                                spool was full); no done callback for them */
    uint64_t spooled_spans;  /* ever written to spool */
    uint64_t replayed_spans; /* read back from the spool and delivered */
    uint64_t retries;        /* failed delivery attempts */
    uint64_t spool_bytes, spool_spans; /* in the spool now */
    uint64_t spool_syncs;              /* fsyncs of the spool */
    bool downstream_up;                /* last attempt succeeded */
};
void forward_counters_read(const struct forward *f,
                           struct forward_counters *out);

/* Stop accepting, try to deliver what is queued for up to grace_ms, write
 * the rest to the spool, close it, free f. When it returns, the done
 * callback of every batch delivered, spooled or dropped has run; a batch
 * the full spool could not take is lost (logged, counted in lost_spans)
 * and gets no callback, so Kafka input does not commit it. `final` (may be
 * NULL) gets the counters as they ended. NULL f is a no-op. */
void forward_stop(struct forward *f, unsigned grace_ms,
                  struct forward_counters *final);

#endif
