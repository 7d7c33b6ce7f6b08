/* stage_metrics: what a testbed stage measures about itself, served as
 * Prometheus text (exposition format 0.0.4) at GET /metrics on a listening
 * socket the orchestrator bound for it, the way vLLM and dcgm-exporter
 * expose theirs. Every series carries service="<stage>" ("decode-1") and,
 * on decode ranks, rank="<r>". Names follow vLLM and DCGM where one exists:
 *
 *   vllm:num_requests_running        gauge   requests being handled here
 *                                            (the gateway: in flight)
 *   vllm:num_requests_waiting        gauge   data messages sent to this
 *                                            stage and not yet received
 *   vllm:kv_cache_usage_perc         gauge   KV cache positions in use /
 *                                            max_seq, 0..1 (as vLLM: a
 *                                            fraction despite the name)
 *   vllm:time_to_first_token_seconds histogram  prefill: gateway send ->
 *                                            first token
 *   vllm:inter_token_latency_seconds histogram  decode ranks: per step
 *   vllm:e2e_request_latency_seconds histogram  gateway: request -> reply
 *   vllm:generation_tokens_total     counter tokens this stage produced
 *                                            (prefill 1 per request, each
 *                                            decode rank max_new - 1, the
 *                                            gateway every token returned)
 *   DCGM_FI_DEV_SM_CLOCK             gauge   the clock the stand-in GPU
 *                                            runs at, MHz: an A100's boost
 *                                            clock (STAGE_SM_CLOCK_MHZ), one
 *                                            boost bin lower half of the
 *                                            seconds, times a gpu-throttle's
 *                                            speed (as a power cap sets it)
 *   skewscope_compute_rate_mhz       gauge   the compute rate achieved:
 *                                            multiply-adds per us of busy
 *                                            compute over the last second
 *                                            (llm.h; moves with the host's
 *                                            load, which a GPU's clock does
 *                                            not)
 *   DCGM_FI_DEV_GPU_UTIL             gauge   % of the last second during
 *                                            which the stage's engine held
 *                                            a request (DCGM: "one or more
 *                                            kernels executing"; see
 *                                            stage_engine_begin())
 *   process_cpu_seconds_total        counter this process, user + system
 *   process_resident_memory_bytes    gauge   this process's RSS
 *   process_start_time_seconds       gauge
 *   container_cpu_usage_seconds_total counter this process plus any CPU
 *                                            hog a cpu fault started in its
 *                                            place (cAdvisor counts a
 *                                            container's stressors too)
 *   skewscope_transport_sent_bytes_total / _received_bytes_total counter
 *                                            payload + header bytes over
 *                                            the transport, all-reduce
 *                                            included
 *   skewscope_stage_requests_total   counter data messages handled
 *   skewscope_stage_errors_total     counter handling failures
 *   skewscope_stage_request_duration_seconds histogram  upstream send ->
 *                                            handling done (the gateway:
 *                                            its whole requests)
 *   skewscope_stage_network_delay_seconds histogram  the link's delay of
 *                                            each message received (hop
 *                                            delay, a network fault's
 *                                            delay and jitter): what a
 *                                            network probe (DeepFlow's
 *                                            RTT) sees, queueing excluded
 *   skewscope_stage_inbound_hop_seconds histogram  upstream send ->
 *                                            handling begins (the hop and
 *                                            any queueing)
 *   skewscope_compute_macs_total, skewscope_compute_busy_seconds_total
 *                                    counter the totals behind the SM
 *                                            clock stand-in
 *   skewscope_engine_busy_seconds_total counter the total behind the GPU
 *                                            utilisation stand-in
 *   vllm:num_preemptions_total       counter requests preempted for want of
 *                                            KV cache (kv-budget fault)
 *   skewscope_step_seconds           histogram  decode ranks: each decode
 *                                            step as a GPU times it: its
 *                                            kernels (multiply-adds at
 *                                            STAGE_KERNEL_MACS_PER_US,
 *                                            stretched by a throttle or a
 *                                            heavier load) + collectives
 *   skewscope_collective_wait_seconds histogram decode ranks: per step, the
 *                                            time spent inside its
 *                                            all-reduce calls (arrival to
 *                                            release, summed); step minus
 *                                            wait is the rank's compute
 *
 * Threads: the stage thread (and its monitor thread) update fields with
 * the inline helpers below (relaxed atomics); libmicrohttpd's thread
 * renders. Times are CLOCK_MONOTONIC ns, which all stages share. */
#ifndef SKEWSCOPE_STAGE_METRICS_H
#define SKEWSCOPE_STAGE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stage_board;

/* Upper bounds (seconds) of the histogram buckets, +Inf implied. */
#define STAGE_HIST_BOUNDS                                                      \
    {                                                                          \
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01,  \
            0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,  \
            2.5, 5.0, 10.0                                                     \
    }
#define STAGE_HIST_NBOUNDS 23

/* The stand-in GPU's SM clock: an A100 SXM's boost clock, and the step
 * (a boost bin) by which a loaded GPU's reported clock wanders. */
#define STAGE_SM_CLOCK_MHZ 1410.0
#define STAGE_SM_CLOCK_BIN_MHZ 15.0
/* The stand-in GPU's kernel rate at the boost clock, multiply-adds per
 * us: what the testbed's model achieves on one core of the development
 * host (skewscope_compute_rate_mhz, about 4000). Decode ranks time their
 * steps' kernels with it (skewscope_step_seconds). */
#define STAGE_KERNEL_MACS_PER_US 4000.0

struct stage_hist {
    _Atomic uint64_t bucket[STAGE_HIST_NBOUNDS + 1]; /* not cumulative */
    _Atomic uint64_t count;
    _Atomic int64_t sum_ns;
};

struct stage_metrics {
    /* updated by the stage */
    _Atomic int64_t running;
    _Atomic uint64_t received; /* data messages received (for waiting) */
    _Atomic uint64_t requests, errors, tokens;
    _Atomic uint64_t tx_bytes, rx_bytes;
    _Atomic double kv_usage; /* 0..1 */
    /* the engine's occupancy (stage_engine_begin/end), monotonic ns */
    _Atomic int64_t engine_busy_ns;  /* closed intervals, summed */
    _Atomic int64_t engine_since_ns; /* start of the open one; 0: idle */
    _Atomic uint64_t engine_seq;     /* odd while the stage updates them */
    struct stage_hist duration, hop, net, ttft, itl, e2e;
    /* decode ranks: each decode step, and the time of that step spent
     * waiting in its collectives (all-reduce calls, summed) */
    struct stage_hist step, coll_wait;
    /* odd while a decode step's itl, step and coll_wait are observed
     * (stage_metrics_decode_step), so a page shows all three or none */
    _Atomic uint64_t step_seq;
    _Atomic uint64_t preemptions; /* KV-budget preemptions (recomputes) */
    /* updated by the stage's monitor (stage_monitor.c) */
    _Atomic double sm_clock_mhz, compute_rate_mhz, gpu_util_pct;
    _Atomic double hog_cpu_s; /* CPU seconds of cpu-fault hogs, dead ones
                                 included */
    /* identity, set at creation */
    char service[32];
    int rank;                        /* decode ranks; -1 for the others */
    int slot;                        /* pipeline_stage_index() */
    const struct stage_board *board; /* NULL: waiting is 0 */
    double start_time_s;             /* process start, Unix s */
    struct MHD_Daemon *daemon;
};

/* New metrics of stage `service` (rank >= 0 for decode ranks, else -1;
 * slot its board slot). With listen_fd >= 0, serve them on that listening
 * socket from a thread of libmicrohttpd's (the fd is then owned and closed
 * by the server). Returns NULL with a message in err (out of memory, the
 * server could not start). */
struct stage_metrics *stage_metrics_create(const char *service, int rank,
                                           int slot,
                                           const struct stage_board *board,
                                           int listen_fd, char *err,
                                           size_t errlen);
/* Stop the server and free (NULL is a no-op). */
void stage_metrics_destroy(struct stage_metrics *m);

/* The exposition text of m now, NUL-terminated (malloc'ed, the caller
 * frees), or NULL when out of memory. */
char *stage_metrics_render(struct stage_metrics *m);

/* Record a duration (ns; negative counts as 0). */
void stage_hist_observe(struct stage_hist *h, int64_t ns);

/* A decode step's observations, itl, step and coll_wait, made together:
 * a page rendered meanwhile counts the step in all three or in none
 * (their _count lines are equal on every page). Stage thread only. */
void stage_metrics_decode_step(struct stage_metrics *m, int64_t itl_ns,
                               int64_t step_ns, int64_t wait_ns);

static inline void stage_metrics_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The GPU stand-in's occupancy, behind DCGM_FI_DEV_GPU_UTIL. DCGM reports
 * the share of its sample period during which one or more kernels were
 * executing on the GPU. A serving engine (vLLM's step loop) keeps kernels
 * on its GPU back to back while it holds a request: the model's compute,
 * and on tensor-parallel ranks the all-reduce, whose NCCL kernel runs
 * (spinning) until every peer has joined, so a rank waiting for a slower
 * peer is busy too. A GPU with work queued therefore reports close to
 * 100%, and a power cap that slows each kernel leaves it there while the
 * SM clock drops. The prefill and decode stages bracket the span in
 * which their model holds a request (KV import, compute, all-reduce, KV
 * export and hand-off; not waiting for an RPC reply, not the inbound hop)
 * with begin/end, from the stage thread only. end is a no-op when no
 * span is open. now_ns: CLOCK_MONOTONIC. */
static inline void stage_engine_begin(struct stage_metrics *m, int64_t now_ns)
{
    if (atomic_load(&m->engine_since_ns) != 0)
        return;
    atomic_fetch_add(&m->engine_seq, 1); /* odd: being written */
    atomic_store(&m->engine_since_ns, now_ns ? now_ns : 1);
    atomic_fetch_add(&m->engine_seq, 1);
}

static inline void stage_engine_end(struct stage_metrics *m, int64_t now_ns)
{
    int64_t since = atomic_load(&m->engine_since_ns);

    if (since == 0)
        return;
    atomic_fetch_add(&m->engine_seq, 1);
    atomic_fetch_add(&m->engine_busy_ns, now_ns > since ? now_ns - since : 0);
    atomic_store(&m->engine_since_ns, 0);
    atomic_fetch_add(&m->engine_seq, 1);
}

/* Engine-occupied ns up to now_ns, the open span included. Any thread. */
int64_t stage_engine_busy_ns(const struct stage_metrics *m, int64_t now_ns);

#endif
