/* serve_private: the state serve.c (pipeline) and serve_publish.c (metrics,
 * status, log lines) share. Not for other modules. */
#ifndef SKEWSCOPE_SERVE_PRIVATE_H
#define SKEWSCOPE_SERVE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/forward.h"
#include "serve/live.h"
#include "serve/receiver.h"
#include "serve/serve.h"

struct kafka_in;
struct assemble;
struct clock_model;

/* One accepted request or Kafka message waiting for the pipeline. */
struct serve_item {
    struct serve_item *next;
    struct span_store *store;
    uint8_t *body; /* decoded body, for forwarding (NULL without) */
    size_t len;
    int content; /* enum receiver_content */
    size_t spans;
    void (*done)(void *token); /* Kafka: commit once safe */
    void *token;
};

/* What /metrics and /api/v1/status show of the analysis: a copy of the
 * last live_update's snapshot (names stay owned by the struct live). */
struct serve_published {
    struct live_snapshot snap; /* domains/edges arrays owned here */
    bool valid;
    int64_t updated_unix_ns;
};

struct serve {
    struct serve_config cfg;
    struct receiver *rx;
    struct kafka_in *kin;
    struct forward *fwd;
    struct forward_counters final_fwd; /* after forward_stop() */
    struct receiver_counters final_rx; /* after receiver_stop() */
    struct assemble *asm_;
    struct live *lv;
    struct clock_model *model; /* pipeline thread only */
    int64_t started_mono_ns;
    bool started; /* serve_start() completed */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* queue, stopping */
    pthread_cond_t wake;
    struct serve_item *head, *tail;
    bool stopping;

    atomic_uint_fast64_t queue_spans, accepted, processed, kafka_accepted;
    atomic_uint_fast64_t assembly_spans, analysis_errors, forward_failed;
    atomic_uint_fast64_t warnings, pairs, violations;

    pthread_mutex_t pub_lock;
    struct serve_published pub;
};

/* serve_publish.c */
int serve_metrics_route(void *ctx, char **body, size_t *len,
                        const char **content_type);
int serve_status_route(void *ctx, char **body, size_t *len,
                       const char **content_type);
/* Take snap (moved into the published copy; the old one is freed) and log
 * warnings and first violations as structured lines. Pipeline thread. */
void serve_publish(struct serve *s, struct live_snapshot *snap);
void serve_published_free(struct serve *s);
/* One structured log line on stderr: {"ts":...,"level":...,"event":...,
 * <fields>} where fields is a JSON object text without braces (or ""). */
void serve_log_event(const char *level, const char *event,
                     const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
