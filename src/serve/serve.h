/* serve: the `skewscope serve` service. Wires the inputs (OTLP/HTTP
 * receiver, Kafka consumer) through trace assembly into the live clock
 * analysis, corrects each received batch with the current clock model and
 * forwards it downstream, and publishes what it knows on /metrics
 * (Prometheus text), /api/v1/status (JSON) and as structured warning log
 * lines. GET /api/v1/windows gives this instance's mergeable statistics
 * (serve/live_io.h); with peers (other instances of the same Kafka
 * consumer group), GET /api/v1/cluster gives the cluster-wide view: this
 * instance's statistics merged with every reachable peer's. GET / is a
 * live page drawn from serve's own JSON (serve/serve_page.h: the clocks
 * over the windows kept, the edges, the warnings as logged, the last
 * traces with a violation before and after correction, findings).
 *
 * Flow:  receiver ---\                         /-> assemble -> edges -> live
 *                     > queue -> pipeline thread
 *        kafka_in ---/                         \-> rewrite -> forward
 *        live_update (every update_interval) -> clock model (for rewrite),
 *        published snapshot (/metrics, /api/v1/status), warning logs,
 *        exported statistics (/api/v1/windows).
 *        cluster thread (with peers, every update_interval): own export +
 *        each peer's GET /api/v1/windows -> live_merge_json into a fresh
 *        struct live -> live_update -> /api/v1/cluster, /metrics.
 *
 * Spans are counted once each: received (decoded from a request or
 * message), accepted (taken into the queue; acknowledged to an HTTP sender
 * with 200), processed (through assembly and correction), forwarded
 * (acknowledged downstream), dropped (refused permanently downstream).
 * Invalid spans (no trace or span ID, no timestamp) are in none of these:
 * counted apart, left out of the analysis, forwarded unchanged with the
 * rest of their request.
 * Durability (HTTP input): with the write-ahead log (serve/wal.h; the
 * default when forwarding), a request is written to the log in wal_dir and
 * fsync'd (group commit) before it is answered 200, and stays there until
 * the forwarder has delivered or spooled it (without forwarding: until it
 * is taken into trace assembly, the point where a Kafka offset is
 * committed). The HTTP thread does not wait for the fsync: the request is
 * suspended and answered by the log's thread once the fsync that covers it
 * is done (no 200 before it; 503 when it fails, and then nothing of the
 * request is kept). serve_start replays what an earlier run left (analysis and
 * forwarding again: at least once, the duplicates counted as replayed).
 * So kill -9 or a power loss loses no acknowledged span (with
 * wal_no_fsync, kill -9 only: the 200 then waits for the write, not the
 * fsync). In memory mode a
 * 200 means "queued in memory": what was acknowledged but not yet
 * forwarded or spooled (up to max_queued_spans) is lost on kill -9 or
 * power loss. Without forwarding the analysis state (windows, assembly)
 * lives in memory in either mode and starts empty after a crash; the WAL
 * then only refeeds the requests that had not reached assembly.
 * Kafka input needs no log: its offsets are committed only once the same
 * point is reached.
 *
 * Memory is bounded by max_queued_spans over the queue and the forwarder's
 * memory queue (beyond it: 429 + Retry-After, Kafka consumption waits) and
 * by max_assembly_spans over assembly (beyond it traces are released
 * early).
 *
 * The cluster view sums counts since each instance started, so it falls
 * when a peer is unreachable or restarts; a peer that fails (unreachable,
 * not 200 within peer_timeout_ms, a document live_io refuses, e.g. another
 * --window) is reported in /api/v1/cluster's "peers", never fatal. List
 * the other instances only: a peer listed twice, or this instance listed
 * as its own peer, is counted twice.
 *
 * With scrape targets (--scrape), a scrape thread (serve/serve_scrape.h)
 * fetches them, runs the imbalance detectors on their metrics and on the
 * collectives the analysis thread finds in assembled traces (arrivals on
 * the live clock model), and adds the findings to /metrics,
 * /api/v1/findings and the log; a target that fails is counted and
 * logged, never fatal.
 *
 * Threads: serve_start / serve_stop from one owner thread; serve_port and
 * serve_counters_read from any thread. The peers are fetched by a thread
 * of their own, so a slow peer never holds up the pipeline. */
#ifndef SKEWSCOPE_SERVE_H
#define SKEWSCOPE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct serve;

enum serve_durability {
    SERVE_DURABILITY_DEFAULT = 0, /* WAL when forwarding, else memory */
    SERVE_DURABILITY_WAL = 1,
    SERVE_DURABILITY_MEMORY = 2,
};

/* Zero or NULL fields take the defaults in brackets. */
struct serve_config {
    const char *listen; /* ["127.0.0.1:4318"] */
    /* OTLP/gRPC input (serve/receiver_grpc.h), "HOST:PORT" [NULL = none];
     * its requests take the HTTP requests' path (queue, WAL, counters) and
     * limits. grpc_listen_optional: an address that cannot be bound is
     * logged and gRPC left off instead of failing the start (the CLI's
     * default address). */
    const char *grpc_listen;
    bool grpc_listen_optional;
    const char *bearer_token;      /* [NULL = none] */
    size_t max_body_bytes;         /* [8 MiB] */
    size_t max_decompressed_bytes; /* [64 MiB] */
    unsigned http_threads;         /* [2] */
    const char *clock_domain_attr; /* [NULL: host.name, service.name] */
    /* HTTP connection limits and deadlines (serve/receiver.h) */
    unsigned max_connections;        /* [4096] */
    unsigned max_connections_per_ip; /* [256] */
    unsigned header_timeout_ms;      /* [10000] */
    unsigned body_timeout_ms;        /* [20000] */
    unsigned body_min_rate;          /* bytes/s [1024] */
    unsigned idle_timeout_s;         /* [10] */

    double assembly_window_s;  /* trace assembly [2] */
    size_t max_queued_spans;   /* queue + forward memory queue [1,000,000] */
    size_t max_assembly_spans; /* [2,000,000] */
    double stat_window_s;      /* live statistics window [10] */
    unsigned max_windows;      /* [30] */
    double warn_share;         /* [0.5] */
    const char *reference;     /* reference domain [NULL: most connected] */
    double update_interval_s;  /* live_update period [1] */

    const char *kafka_brokers; /* Kafka input when kafka_topic is set */
    const char *kafka_topic;
    const char *kafka_group; /* ["skewscope"] */

    const char *forward_otlp;          /* downstream OTLP/HTTP URL [none] */
    const char *forward_token;         /* its bearer token [none] */
    const char *forward_kafka_brokers; /* [kafka_brokers] */
    const char *forward_kafka_topic;   /* [none] */
    const char *spool_dir;             /* ["skewscope-spool"] */
    uint64_t spool_max_bytes;          /* [1 GiB] */
    /* What a 200 to an HTTP sender promises (see Durability above):
     * SERVE_DURABILITY_DEFAULT is the write-ahead log when forwarding is
     * on, memory otherwise. */
    enum serve_durability durability;
    const char *wal_dir;        /* [spool_dir + "-wal"] */
    uint64_t wal_segment_bytes; /* [32 MiB] */
    /* Acknowledge once written, without waiting for an fsync: survives
     * kill -9, not a power loss (serve/wal.h). [false] */
    bool wal_no_fsync;
    /* Tests: stands in for the WAL's fdatasync (wal_config.fsync_fn), to
     * make the disk fail or slow. [NULL: fdatasync] */
    int (*wal_fsync_fn)(int fd);
    unsigned forward_backoff_max_ms; /* [5000] */
    unsigned shutdown_grace_ms;      /* each stop step [5000] */

    /* Cluster view: base URLs of the other instances ("http://host:port";
     * GET <url>/api/v1/windows is fetched, with bearer_token when set).
     * The array and strings must outlive the serve. [none] */
    const char *const *peers;
    size_t npeers;
    unsigned peer_timeout_ms; /* per fetch, connecting included [500] */

    /* Live imbalance detection (serve/serve_scrape.h): Prometheus text
     * targets, "URL" or "NAME=URL", scraped every scrape_interval_s [the
     * runbook's step, 1 s] and judged by the detectors of `skewscope
     * imbalance` (runbook files and COND.KEY=VALUE overrides on top of the
     * built-in runbook), with the collectives of the traces on serve's
     * clock model. Arrays and strings must outlive the serve. [none] */
    const char *const *scrape_targets;
    size_t nscrape_targets;
    double scrape_interval_s;
    double scrape_timeout_s; /* [0.8 x interval, at most 10 s] */
    const char *const *runbooks;
    size_t nrunbooks;
    const char *const *runbook_sets;
    size_t nrunbook_sets;
};

struct serve_counters {
    uint64_t received, accepted, rejected, throttled; /* spans */
    uint64_t processed, forwarded, dropped, spooled;  /* spans */
    uint64_t queue_spans, assembly_spans;             /* now */
    uint64_t warnings, pairs, violations;
    uint64_t replayed; /* spans read back from the WAL at start */
    /* spans of well-formed requests and messages that the readers left
     * out (an empty trace or span ID, no timestamp: ingest_span_invalid);
     * in no other count, forwarded unchanged in their batch's body */
    uint64_t invalid;
};

/* Start everything; NULL with a message in err (e.g. "listen
 * 127.0.0.1:4318: Address already in use", a bad spool directory, Kafka
 * configuration refused, a peer that is not an http:// or https:// URL). */
struct serve *serve_start(const struct serve_config *cfg, char *err,
                          size_t errlen);

/* TCP port of the HTTP listener. */
int serve_port(const struct serve *s);

/* TCP port of the OTLP/gRPC listener, or -1 when there is none. */
int serve_grpc_port(const struct serve *s);

void serve_counters_read(struct serve *s, struct serve_counters *out);

/* Graceful stop: stop accepting (HTTP and Kafka), finish requests in
 * flight, process everything queued, release every assembled trace into
 * the analysis, deliver or spool every accepted span, commit Kafka
 * offsets, log a final summary, free s. Returns 0, or -1 when some
 * accepted spans could be neither delivered nor spooled (logged). */
int serve_stop(struct serve *s);

#endif
