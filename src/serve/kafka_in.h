/* kafka_in: the Kafka input of `skewscope serve`: a consumer-group member
 * reading a topic of OTLP protobuf messages, one ExportTraceServiceRequest
 * per message without a length prefix, as the OpenTelemetry Collector's
 * Kafka exporter writes them with encoding `otlp_proto`.
 *
 * Flow: Kafka topic -> kafka_in (decode: receiver_decode_body) -> the same
 * batch handler as the HTTP receiver -> ... -> done callback ->
 * offset stored -> committed.
 *
 * At-least-once: auto-commit is on but offsets are stored
 * (rd_kafka_offsets_store) only when the handler's done callback says a
 * message's spans are processed; per partition the stored offset only
 * moves forward over a contiguous prefix of done messages, so a crash
 * redelivers everything not yet processed. Messages that do not decode are
 * counted as rejected, logged (topic, partition, offset, byte) and treated
 * as done (a poison message must not stall the partition). On rebalance
 * (partitions revoked) the stored offsets are committed synchronously
 * first.
 *
 * Several `serve` instances with the same group id split the topic's
 * partitions; a trace stays whole only if producers key messages by trace
 * ID (the Collector's `partition_traces_by_id`).
 *
 * Threads: kafka_in_start / kafka_in_stop from one owner thread; the
 * consumer runs on its own thread, which is where the handler is called;
 * the done callback may be called from any thread. */
#ifndef SKEWSCOPE_KAFKA_IN_H
#define SKEWSCOPE_KAFKA_IN_H

#include <stddef.h>
#include <stdint.h>

struct span_store;
struct kafka_in;

struct kafka_in_config {
    const char *brokers;           /* bootstrap servers (required) */
    const char *topic;             /* (required) */
    const char *group_id;          /* ["skewscope"] */
    const char *clock_domain_attr; /* as --clock-domain [NULL] */
    size_t max_decompressed_bytes; /* per message [64 MiB] */
    unsigned commit_interval_ms;   /* auto.commit.interval.ms [1000] */
};

/* Marks one message processed. Call exactly once per message handed to
 * the handler with verdict 0, from any thread. */
typedef void (*kafka_in_done_fn)(void *token);

/* One decoded message: `batch` (ownership passes to the handler when it
 * returns 0), the message payload `body`/`len` (valid only during the
 * call: copy what you keep), and the done callback + token to call once
 * the spans are processed. Returns 0 = taken, 1 = busy (kafka_in waits
 * and offers the same message again; it never skips it). */
typedef int (*kafka_in_batch_fn)(void *ctx, struct span_store *batch,
                                 const uint8_t *body, size_t len,
                                 kafka_in_done_fn done, void *token);

struct kafka_in_counters {
    uint64_t messages, spans;    /* decoded and handed over */
    uint64_t rejected_messages;  /* did not decode */
    uint64_t committed_messages; /* marked done */
    uint64_t busy_waits;         /* handler said busy */
    /* spans of handed-over messages the readers left out of the batch
     * (span_store_invalid_total: no trace or span ID, no timestamp); in
     * no other count, still in the message's body */
    uint64_t invalid_spans;
};

/* Join the group and start consuming. NULL with a message in err when the
 * configuration is invalid or librdkafka cannot start. Does not wait for
 * the group join. */
struct kafka_in *kafka_in_start(const struct kafka_in_config *cfg,
                                kafka_in_batch_fn handler, void *ctx, char *err,
                                size_t errlen);

void kafka_in_counters_read(const struct kafka_in *k,
                            struct kafka_in_counters *out);

/* Stop handing over new messages (shutdown step 1); returns once the
 * consumer thread is out of the handler for good. Idempotent. */
void kafka_in_halt(struct kafka_in *k);

/* Halt if not yet, wait up to grace_ms for the done callbacks of messages
 * already handed over, commit what is done (synchronously), leave the
 * group, free k. The caller makes sure no done callback can come after it
 * returns (serve: after the pipeline and forward_stop() have finished, so
 * every callback has run). NULL is a no-op. */
void kafka_in_stop(struct kafka_in *k, unsigned grace_ms);

#endif
