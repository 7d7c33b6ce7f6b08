/* pipeline: the orchestrator of `skewscope testbed`. It starts the stages
 * of a real multi-process inference pipeline (testbed/stage.h), each its
 * own OS process and clock domain, lets the gateway drive a fixed number of
 * requests (or requests for a fixed time) around the loop, stops everything
 * again and reports what ran:
 *
 *   gateway -> tokenizer -> prefill -> decode-0..N-1 -> detokenizer -> gateway
 *                                      (all-reduce every layer over ZeroMQ)
 *
 * Hops: one-way messages (PRODUCER -> CONSUMER spans) or synchronous RPCs
 * (CLIENT -> SERVER, each callee's SERVER span enclosing its own downstream
 * call, replies travelling back up the chain; see testbed/stage.h). A
 * synchronous stage serves one call at a time, so RPC runs are serial
 * whatever the concurrency; --hop-delay applies to requests and replies.
 *
 * Start-up: the gateway is started only once every other stage has set
 * itself up (transport, tracer, model, all-reduce) and said so on a pipe,
 * so the first requests do not queue behind a slow start (an exec'ed
 * libfaketime stage takes ~200 ms) and skew the slack statistics.
 *
 * Tracing: spans are recorded only when out_path or otlp_endpoint is set;
 * with neither, the stages create no tracer at all (the "without tracing"
 * figure of BENCHMARKS.md).
 *
 * Process model: every stage (and, for Kafka without --brokers, a broker
 * process holding librdkafka's mock cluster) is forked into one process
 * group of its own. A stage run under libfaketime is exec'ed instead
 * (cfg->self_exe with `testbed --stage NAME ...`, see pipeline_stage_argv)
 * so that LD_PRELOAD applies. On success the gateway sends a stop message
 * through the pipeline and every stage exits by itself; on any failure, on
 * the deadline or on SIGINT/SIGTERM the orchestrator sends SIGTERM and then
 * SIGKILL to the group. In every case it reaps each child it started and
 * removes its ipc directory (/tmp/skewscope-tb-<pid>-XXXXXX) before
 * pipeline_run() returns.
 *
 * Clocks: docs/CONTRACTS.md's "Sign conventions". skew_ns > 0 = the stage's
 * clock is AHEAD of true time, drift_ppm > 0 = it runs fast.
 *
 * Replicas: with cfg->dp > 1 the prefill stage runs as dp replicas
 * prefill-0.. behind the tokenizer, which routes requests round robin (a
 * route-skew fault skews it); each replica feeds every decode rank, and the
 * ranks take requests in request order (stage_decode.c).
 *
 * Faults (testbed/stage_monitor.h): each stage injects the faults aimed at
 * it (cpu hog, growing memory, inbound network delay, compute throttle,
 * heavier work, early stop; the KV budget and the routing skew are read
 * from the board by the decode ranks and the tokenizer)
 * in the window the orchestrator publishes on the run's board
 * (testbed/stage_board.h): from the first whole Unix second at least
 * fault_at after the gateway starts, for fault_for.
 *
 * Metrics: with cfg->metrics every stage serves Prometheus text on
 * http://127.0.0.1:PORT/metrics (testbed/stage_metrics.h). The
 * orchestrator binds each stage's listening socket itself (ports
 * metrics_port + i, or free ones) and hands it to the stage, so the ports
 * are known before any stage runs; with scrape_fn set it scrapes every
 * stage at scrape_interval_ms, aligned to whole seconds + 100 ms, for as
 * long as the gateway runs, and passes each body to scrape_fn. Logs: with
 * cfg->log_path every stage appends JSON lines (testbed/stage_log.h).
 *
 * Threads: pipeline_run() forks, installs SIGINT/SIGTERM handlers for its
 * duration and reaps only its own children; call it from a process with a
 * single thread (librdkafka handles, tracers and the like must not exist in
 * the caller), one run at a time. */
#ifndef SKEWSCOPE_PIPELINE_H
#define SKEWSCOPE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PIPELINE_MAX_TP 8
#define PIPELINE_MAX_CLOCKS 16
#define PIPELINE_STAGE_NAME_MAX 32
#define PIPELINE_MAX_FAULTS 8
#define PIPELINE_MAX_DP 4
/* slots: gateway, tokenizer, prefill (or prefill-0), detokenizer,
 * decode-0..MAX_TP-1, prefill-1..MAX_DP-1 (pipeline_stage_index) */
#define PIPELINE_MAX_STAGES (PIPELINE_MAX_TP + 4 + PIPELINE_MAX_DP - 1)

/* Clock error of one stage, by stage name without "node-" ("prefill",
 * "decode-1"). */
struct pipeline_clock {
    char stage[PIPELINE_STAGE_NAME_MAX];
    int64_t skew_ns;  /* + = ahead */
    double drift_ppm; /* + = runs fast */
};

enum pipeline_skew_mode {
    PIPELINE_SKEW_TRACER = 0, /* the tracer adds the error (INJECT) */
    PIPELINE_SKEW_FAKETIME,   /* the stage runs under libfaketime */
};

/* How a stage hands a request to the next one. */
enum pipeline_hops {
    PIPELINE_HOPS_ONEWAY = 0, /* PRODUCER -> CONSUMER messages (default) */
    PIPELINE_HOPS_RPC,        /* synchronous calls: CLIENT -> SERVER, the
                                 reply travels back along the chain */
};

/* An injected fault (parsed by pipeline_config_add_fault, fault.c). */
enum pipeline_fault_kind {
    PIPELINE_FAULT_CPU = 0,      /* competing CPU hogs pinned with the stage */
    PIPELINE_FAULT_MEMORY,       /* a growing allocation in the stage */
    PIPELINE_FAULT_NETWORK,      /* delay + jitter on the stage's inbound hop */
    PIPELINE_FAULT_GPU_THROTTLE, /* the stage's compute slowed (prefill and
                                    decode ranks: they run the model) */
    /* imbalance conditions (issue 11; experiment_imbalance.c) */
    PIPELINE_FAULT_HEAVY,      /* the stage's work multiplied (a heavier
                                  pipeline stage): compute stretched by
                                  `amount` (>= 1), SM clock unchanged */
    PIPELINE_FAULT_EARLY_STOP, /* a decode rank's sequences end after their
                                  first token: it keeps stepping with its
                                  peers (padding, as a static batch does)
                                  but produces no tokens */
    PIPELINE_FAULT_KV_BUDGET,  /* "decode": the TP group's KV cache cut to
                                  `amount` of the tokens a request needs;
                                  a request that outgrows it is preempted
                                  (recomputed) */
    PIPELINE_FAULT_ROUTE_SKEW, /* "tokenizer", the router of --dp replicas:
                                  `amount` of the requests go to prefill-0,
                                  the rest spread over the others */
};

struct pipeline_fault {
    enum pipeline_fault_kind kind;
    char stage[PIPELINE_STAGE_NAME_MAX]; /* "prefill", "decode-1" */
    int64_t at_ns;  /* start: this long after the gateway starts (then
                       rounded up to a whole Unix second) */
    int64_t for_ns; /* duration, > 0 */
    /* cpu: competing processes (default 4); memory: bytes the allocation
     * grows to over the first half of the window, then holds (default 256
     * MiB); gpu-throttle: the compute speed left, in (0, 1) (default 0.5:
     * half speed); heavy: work factor, > 1 (default 4); kv-budget: budget
     * as a share of prompt + max_new tokens, in (0, 1) (default 0.6:
     * below the testbed's prompts, so the cache is full from a request's
     * first step and each request is preempted once);
     * route-skew: prefill-0's share of the requests, in (0, 1) (0.8);
     * network, early-stop: unused. */
    double amount;
    int64_t delay_ns;  /* network: added delay (default 20 ms) */
    int64_t jitter_ns; /* network: +- uniform jitter (default delay / 10) */
};

/* Called by the orchestrator with one scrape of a stage's /metrics: the
 * stage name, the Unix time the request was sent (ns) and the body (len
 * bytes, not NUL-terminated, valid for the call only). Orchestrator thread
 * (the one in pipeline_run). */
typedef void (*pipeline_scrape_fn)(void *ctx, const char *stage,
                                   int64_t unix_ns, const char *body,
                                   size_t len);

struct pipeline_config {
    const char *transport; /* "zmq" (default) or "kafka" */
    enum pipeline_hops hops;
    const char *brokers;   /* kafka: bootstrap servers; NULL = embedded mock */
    unsigned requests;     /* requests the gateway sends (default 10) */
    unsigned duration_ms;  /* > 0: send for this long instead, then drain
                              the requests in flight (requests ignored) */
    unsigned tp;           /* decode ranks, 1..PIPELINE_MAX_TP (default 2) */
    unsigned max_new;      /* tokens generated per request (default 16) */
    unsigned concurrency;  /* requests in flight at most (default 4) */
    uint64_t seed;         /* model weights and prompts (default 1) */
    unsigned model_layers; /* 0 = llm_config_default's */
    unsigned model_dim;    /* 0 = llm_config_default's */
    int64_t hop_delay_ns;  /* a receiver handles a message no earlier than
                              this long after it was sent (CLOCK_MONOTONIC
                              send time carried in the message) */
    const char *out_path;  /* OTLP JSON lines, all stages append; or NULL */
    bool truncate_out;     /* empty out_path before the run */
    const char *otlp_endpoint; /* OTLP/HTTP collector URL, or NULL */
    struct pipeline_clock clocks[PIPELINE_MAX_CLOCKS];
    size_t nclocks;
    enum pipeline_skew_mode skew_mode;
    const char *self_exe;    /* faketime: the skewscope binary to exec;
                                NULL = /proc/self/exe */
    unsigned timeout_ms;     /* bound on any wait inside a stage, and on the
                                whole run beyond duration_ms (default 60000) */
    bool no_internal_spans;  /* trace only the spans between stages (no
                                tokenize/prefill/decode step/all-reduce) */
    unsigned check_requests; /* compare only the first N requests' tokens
                                with the reference (0 = all; the check
                                takes about as long as the run's compute) */
    struct pipeline_fault faults[PIPELINE_MAX_FAULTS];
    size_t nfaults;
    bool metrics;                /* every stage serves /metrics */
    unsigned metrics_port;       /* first port: stage i gets metrics_port + i in
                                    pipeline_stage_index() order; 0 = free ones */
    const char *metrics_sd_path; /* write the endpoints as Prometheus
                                    file_sd JSON here before the stages
                                    start; NULL = no file */
    const char *log_path;        /* JSON log lines of every stage (appended);
                                    NULL = no logs */
    pipeline_scrape_fn scrape_fn; /* with metrics: called per scrape */
    void *scrape_ctx;
    unsigned scrape_interval_ms; /* default 1000 */
    int64_t hop_jitter_ns; /* +- uniform jitter on every hop's delay (at most
                              hop_delay_ns; default 0) */
    /* Data-parallel prefill replicas behind the tokenizer, which routes
     * (round robin; a route-skew fault skews it). 1 (default): one stage
     * "prefill"; N > 1: "prefill-0".."prefill-<N-1>", one-way hops only.
     * The decode ranks take the replicas' requests in request order, so
     * that every rank decodes the same request at the same step. */
    unsigned dp;
};

/* A stage's metrics endpoint. */
struct pipeline_endpoint {
    char stage[PIPELINE_STAGE_NAME_MAX];
    unsigned port; /* http://127.0.0.1:port/metrics */
};

/* When a fault was active, as the orchestrator scheduled it (Unix ns; 0
 * when the run ended before it began). */
struct pipeline_fault_window {
    int64_t start_unix_ns, end_unix_ns;
};

struct pipeline_result {
    unsigned requests; /* completed requests */
    uint64_t tokens;   /* tokens generated, all requests */
    double wall_s;     /* gateway: first request sent .. last response */
    double requests_per_s;
    double tokens_per_s;
    uint64_t output_hash;  /* FNV-1a 64 over every token (one byte each) in
                              request order */
    bool identical;        /* tokens == llm_generate_split's for every prompt
                              (the first cfg->check_requests when set) */
    int64_t start_unix_ns; /* when the gateway was started */
    int64_t end_unix_ns;   /* when the last stage had exited */
    struct pipeline_endpoint endpoints[PIPELINE_MAX_STAGES]; /* metrics */
    size_t nendpoints;
    struct pipeline_fault_window windows[PIPELINE_MAX_FAULTS]; /* cfg's
                                                                  faults */
    unsigned scrapes_failed; /* scrapes without an answer (a stage already
                                gone at the end is normal) */
};

/* Defaults above; no output, no skew. */
void pipeline_config_init(struct pipeline_config *cfg);

/* Apply "STAGE=VALUE" ("prefill=5ms", "node-decode-1=-300us" for skew;
 * "tokenizer=40ppm" for drift) to cfg: is_drift selects which parameter.
 * The stage name is checked when the run starts. Returns 0, or -1 with a
 * message in err. */
int pipeline_config_add_clock(struct pipeline_config *cfg, bool is_drift,
                              const char *spec, char *err, size_t errlen);

/* Apply "KIND@STAGE[:PARAM]" (cpu@prefill:2, memory@decode-1:512MiB,
 * network@detokenizer:50ms/5ms, gpu-throttle@prefill:0.5) with window
 * [at_ns, at_ns + for_ns) after the run starts. The stage name is checked
 * when the run starts. Returns 0, or -1 with a message in err. */
int pipeline_config_add_fault(struct pipeline_config *cfg, const char *spec,
                              int64_t at_ns, int64_t for_ns, char *err,
                              size_t errlen);

/* "cpu", "memory", "network", "gpu-throttle", "heavy", "early-stop",
 * "kv-budget", "route-skew" (CLI spelling). */
const char *pipeline_fault_name(enum pipeline_fault_kind kind);
/* The fault's name in a dataset folder <service>_<fault>: "cpu",
 * "memory", "network", "gpu" (as rca-llm's cases are named). */
const char *pipeline_fault_case_name(enum pipeline_fault_kind kind);
/* True when a fault of kind can hit stage (gpu-throttle, heavy: prefill
 * and the decode ranks; early-stop: the decode ranks; kv-budget: "decode",
 * the TP group; the others: every stage). */
bool pipeline_fault_applies(enum pipeline_fault_kind kind, const char *stage);

/* Slot of a stage in the run: gateway 0, tokenizer 1, prefill (or
 * prefill-0) 2, detokenizer 3, decode-R 4 + R, prefill-K (K >= 1)
 * 3 + PIPELINE_MAX_TP + K; -1 for an unknown name. */
int pipeline_stage_index(const char *stage, unsigned tp);

/* Run the pipeline. Returns 0 and fills *res when every request completed
 * and every stage exited cleanly (res->requests = cfg->requests, or the
 * requests sent within cfg->duration_ms); -EINVAL for a bad configuration;
 * -EINTR when SIGINT/SIGTERM arrived; -ETIMEDOUT when the run passed
 * cfg->timeout_ms; -EIO when a stage failed or anything else went wrong.
 * err (errlen bytes) says what happened. No child process and no ipc
 * socket file is left behind in any case. */
int pipeline_run(const struct pipeline_config *cfg, struct pipeline_result *res,
                 char *err, size_t errlen);

/* The signal (SIGINT or SIGTERM) that interrupted the last pipeline_run()
 * returning -EINTR, or 0. For the caller's exit code (128 + signal). */
int pipeline_last_signal(void);

/* The deterministic prompt of request `i` for `seed` ("request 17: the
 * quick brown fox"), NUL-terminated in out (outlen bytes, >= 64). Returns
 * its length. */
size_t pipeline_prompt(uint64_t seed, unsigned i, char *out, size_t outlen);

/* Where an exec'ed stage finds its run (hidden options of `testbed`). */
struct pipeline_stage_args {
    const char *stage;   /* "gateway", "decode-0", ... */
    const char *dir;     /* the run's ipc directory */
    const char *run_id;  /* names Kafka topics and groups */
    const char *brokers; /* kafka bootstrap servers actually used */
    int result_fd;       /* gateway: pipe to the orchestrator; else -1 */
    int ready_fd;        /* others: the start-up pipe; else -1 */
    int metrics_fd;      /* the listening socket of its /metrics; or -1 */
};

/* Entry of an exec'ed stage (`skewscope testbed --stage NAME ...`): run
 * the stage with the process clock (it is under libfaketime). Returns 0,
 * or -1 with a message in err. */
int pipeline_stage_exec_main(const struct pipeline_config *cfg,
                             const struct pipeline_stage_args *a, char *err,
                             size_t errlen);

#endif
