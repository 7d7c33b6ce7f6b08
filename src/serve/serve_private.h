/* serve_private: the state serve.c (pipeline and analysis threads),
 * serve_publish.c (metrics, status, log lines), serve_cluster.c (peers) and
 * serve_scrape.c (--scrape) share. Not for other modules. */
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
#include "serve/receiver_grpc.h"
#include "serve/serve.h"

struct kafka_in;
struct wal;
struct assemble;
struct clock_model;
struct serve_fetcher; /* serve_cluster.c: the peers' libcurl handles */
struct serve_page;
struct serve_scrape;

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
 * last live_update's snapshot (names stay owned by the struct live), and
 * what /api/v1/windows serves: the export made at the same update. */
struct serve_published {
    struct live_snapshot snap; /* domains/edges arrays owned here */
    bool valid;
    int64_t updated_unix_ns;
    char *windows; /* live_export_json text, owned here; NULL: none */
    size_t windows_len;
};

/* One peer's state after the last cluster round. */
struct serve_peer_status {
    const char *url; /* the configured base URL (cfg.peers[i]) */
    bool ok;
    char error[256]; /* "" when ok */
};

/* What /api/v1/cluster and the cluster metrics show: the cluster live
 * (kept, as the snapshot's names belong to it), its snapshot, and the
 * peers' states (npeers = cfg.npeers entries, allocated at start). */
struct serve_cluster {
    struct live *lv;
    struct live_snapshot snap;
    bool valid;
    int64_t updated_unix_ns;
    struct serve_peer_status *peers;
    size_t peers_up;
};

struct serve {
    struct serve_config cfg;
    struct receiver *rx;
    struct kafka_in *kin;
    struct forward *fwd;
    struct forward_counters final_fwd; /* after forward_stop() */
    /* The write-ahead log of HTTP requests (NULL in memory mode), its
     * directory (malloc'd when derived from spool_dir), and the replay
     * thread that feeds an earlier run's records into the queue. */
    struct wal *wal;
    char *wal_dir_owned;
    pthread_t replay_thread;
    bool replay_started;
    atomic_bool replay_stop;
    atomic_uint_fast64_t replayed;
    struct receiver_counters final_rx; /* after receiver_stop() */
    /* OTLP/gRPC input (NULL without), its final counters, and the copy
     * /metrics reads (set after start, cleared after stop, as rx_routes) */
    struct receiver_grpc *grx;
    struct receiver_grpc_counters final_grx;
    _Atomic(struct receiver_grpc *) grx_routes;
    /* rx for the HTTP threads' routes (/metrics, /api/v1/status), which
     * may run before receiver_start() has returned and set rx: set after,
     * cleared after receiver_stop() (which joins those threads) */
    _Atomic(struct receiver *) rx_routes;
    struct assemble *asm_;
    struct live *lv;
    struct clock_model *model; /* under model_lock */
    int64_t started_mono_ns;
    bool started; /* serve_start() completed */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* queue, stopping */
    pthread_cond_t wake;
    struct serve_item *head, *tail;
    bool stopping;

    /* Analysis thread: assembled generations waiting to be paired and
     * folded into `lv` (which only it touches), the update tick, and the
     * clock model it hands to the pipeline's rewriter under model_lock. */
    pthread_t analysis_thread;
    bool analysis_started;
    pthread_mutex_t alock; /* the fields below */
    pthread_cond_t awake;  /* work arrived / room freed */
    struct span_store **aq;
    size_t naq, aq_cap, aq_spans;
    bool analysis_stopping;
    pthread_mutex_t model_lock;

    atomic_uint_fast64_t queue_spans, accepted, processed, kafka_accepted;
    /* spans of HTTP requests written to the WAL, waiting for its fsync
     * (on_wal_synced); counted with the queue against max_queued_spans */
    atomic_uint_fast64_t wal_wait_spans;
    atomic_uint_fast64_t assembly_spans, analysis_errors, forward_failed;
    atomic_uint_fast64_t warnings, pairs, violations;

    struct live_opts live_opts; /* of lv, for the cluster live */
    struct serve_page *page;    /* the live page's rings (serve_page.h) */
    /* live imbalance detection (serve_scrape.h), NULL without --scrape;
     * set before the inputs start, destroyed after every thread stopped */
    struct serve_scrape *scrape;

    pthread_mutex_t pub_lock; /* pub, cluster */
    struct serve_published pub;
    struct serve_cluster cluster;

    /* The cluster thread (serve_cluster.c), with peers only. */
    struct serve_fetcher *fetch; /* cluster thread only, once started */
    pthread_t cluster_thread;
    bool cluster_started;
    pthread_mutex_t cluster_lock; /* cluster_stopping */
    pthread_cond_t cluster_wake;
    bool cluster_stopping;
};

/* serve_cluster.c: start the cluster thread when peers are configured
 * (0, or -1 with err); stop and join it (no-op when not started). */
int serve_cluster_start(struct serve *s, char *err, size_t errlen);
void serve_cluster_stop(struct serve *s);

/* serve_publish.c */
int serve_metrics_route(void *ctx, char **body, size_t *len,
                        const char **content_type);
int serve_status_route(void *ctx, char **body, size_t *len,
                       const char **content_type);
int serve_windows_route(void *ctx, char **body, size_t *len,
                        const char **content_type);
int serve_cluster_route(void *ctx, char **body, size_t *len,
                        const char **content_type);
/* Take snap (moved into the published copy; the old one is freed) and log
 * warnings and first violations as structured lines. Analysis thread. */
void serve_publish(struct serve *s, struct live_snapshot *snap);
/* Take the export text (malloc'd, len bytes; NULL keeps the previous
 * one). Analysis thread, or the owner before it starts. */
void serve_publish_windows(struct serve *s, char *text, size_t len);
/* Take lv and snap (the old ones are destroyed) and copy the peers'
 * states (cfg.npeers entries). Cluster thread. */
void serve_publish_cluster(struct serve *s, struct live *lv,
                           struct live_snapshot *snap,
                           const struct serve_peer_status *peers);
/* Free what serve_publish* took. Owner, after the threads stopped. */
void serve_published_free(struct serve *s);
/* A peer's state as a log line: "peer_up" (info) or "peer_down" (warn,
 * with the error). */
void serve_log_peer(const char *url, bool ok, const char *error);
/* One structured log line on stderr: {"ts":...,"level":...,"event":...,
 * <fields>} where fields is a JSON object text without braces (or ""). */
void serve_log_event(const char *level, const char *event,
                     const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
