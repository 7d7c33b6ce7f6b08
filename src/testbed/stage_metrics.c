/* stage_metrics: a stage's Prometheus endpoint (stage_metrics.h): the
 * counters the stage updates, process statistics read at scrape time, and
 * libmicrohttpd serving GET /metrics on the socket the orchestrator bound. */
#include "testbed/stage_metrics.h"

#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "testbed/llm.h"
#include "testbed/stage_board.h"
#include "util/clock.h"

static const double hist_bounds[STAGE_HIST_NBOUNDS] = STAGE_HIST_BOUNDS;

void stage_hist_observe(struct stage_hist *h, int64_t ns)
{
    double s = ns > 0 ? (double)ns * 1e-9 : 0;
    size_t i = 0;

    while (i < STAGE_HIST_NBOUNDS && s > hist_bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns > 0 ? ns : 0,
                              memory_order_relaxed);
}

void stage_metrics_decode_step(struct stage_metrics *m, int64_t itl_ns,
                               int64_t step_ns, int64_t wait_ns)
{
    atomic_fetch_add(&m->step_seq, 1); /* odd: being written */
    stage_hist_observe(&m->itl, itl_ns);
    stage_hist_observe(&m->step, step_ns);
    stage_hist_observe(&m->coll_wait, wait_ns);
    atomic_fetch_add(&m->step_seq, 1);
}

static void hist_copy(struct stage_hist *dst, const struct stage_hist *src)
{
    for (size_t i = 0; i <= STAGE_HIST_NBOUNDS; i++)
        atomic_store_explicit(
            &dst->bucket[i],
            atomic_load_explicit(&src->bucket[i], memory_order_relaxed),
            memory_order_relaxed);
    atomic_store_explicit(
        &dst->count, atomic_load_explicit(&src->count, memory_order_relaxed),
        memory_order_relaxed);
    atomic_store_explicit(
        &dst->sum_ns, atomic_load_explicit(&src->sum_ns, memory_order_relaxed),
        memory_order_relaxed);
}

/* The decode-step histograms as of one moment between steps (the
 * sequence lock of stage_metrics_decode_step). */
static void decode_snapshot(const struct stage_metrics *m,
                            struct stage_hist *itl, struct stage_hist *step,
                            struct stage_hist *wait)
{
    for (;;) {
        uint64_t q0 = atomic_load(&m->step_seq);
        hist_copy(itl, &m->itl);
        hist_copy(step, &m->step);
        hist_copy(wait, &m->coll_wait);
        atomic_thread_fence(memory_order_acquire);
        if (!(q0 & 1) && q0 == atomic_load(&m->step_seq))
            return;
        sched_yield(); /* the stage thread is mid-step (maybe preempted) */
    }
}

/* ---- process statistics ---- */

static int64_t mono_now_ns(void)
{
    return clock_now_ns(CLOCK_MONOTONIC);
}

int64_t stage_engine_busy_ns(const struct stage_metrics *m, int64_t now_ns)
{
    uint64_t q0, q1;
    int64_t busy, since;

    /* a sequence lock: the stage (the one writer) makes engine_seq odd
     * while it changes the pair */
    for (;;) {
        q0 = atomic_load(&m->engine_seq);
        busy = atomic_load(&m->engine_busy_ns);
        since = atomic_load(&m->engine_since_ns);
        q1 = atomic_load(&m->engine_seq);
        if (!(q0 & 1) && q0 == q1)
            break;
        sched_yield(); /* the stage thread is mid-update (maybe preempted) */
    }
    return busy + (since && now_ns > since ? now_ns - since : 0);
}

static double process_cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double resident_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* ---- rendering ---- */

struct out {
    FILE *f;
    const struct stage_metrics *m;
};

static void labels(const struct out *o, const char *extra_name,
                   const char *extra_value)
{
    fprintf(o->f, "{service=\"%s\"", o->m->service);
    if (o->m->rank >= 0)
        fprintf(o->f, ",rank=\"%d\"", o->m->rank);
    if (extra_name)
        fprintf(o->f, ",%s=\"%s\"", extra_name, extra_value);
    fputc('}', o->f);
}

static void head(const struct out *o, const char *name, const char *type,
                 const char *help)
{
    fprintf(o->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(const struct out *o, const char *name, const char *help,
                  double v)
{
    head(o, name, "gauge", help);
    fputs(name, o->f);
    labels(o, NULL, NULL);
    fprintf(o->f, " %.17g\n", v);
}

static void counter(const struct out *o, const char *name, const char *help,
                    double v)
{
    head(o, name, "counter", help);
    fputs(name, o->f);
    labels(o, NULL, NULL);
    fprintf(o->f, " %.17g\n", v);
}

static void histogram(const struct out *o, const char *name, const char *help,
                      const struct stage_hist *h)
{
    uint64_t cum = 0;
    char le[32];

    head(o, name, "histogram", help);
    for (size_t i = 0; i <= STAGE_HIST_NBOUNDS; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (i < STAGE_HIST_NBOUNDS)
            snprintf(le, sizeof le, "%g", hist_bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        fprintf(o->f, "%s_bucket", name);
        labels(o, "le", le);
        fprintf(o->f, " %" PRIu64 "\n", cum);
    }
    /* the count is read after the buckets and may be ahead of them by an
     * observation in progress: report the buckets' total as the count */
    fprintf(o->f, "%s_sum", name);
    labels(o, NULL, NULL);
    fprintf(o->f, " %.17g\n",
            (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) *
                1e-9);
    fprintf(o->f, "%s_count", name);
    labels(o, NULL, NULL);
    fprintf(o->f, " %" PRIu64 "\n", cum);
}

static double waiting(const struct stage_metrics *m)
{
    if (!m->board || m->slot < 0)
        return 0;
    uint64_t sent =
        atomic_load_explicit(&m->board->sent_to[m->slot], memory_order_relaxed);
    uint64_t got = atomic_load_explicit(&m->received, memory_order_relaxed);
    return sent > got ? (double)(sent - got) : 0;
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void render_vllm(const struct out *o)
{
    const struct stage_metrics *m = o->m;
    struct stage_hist itl, step, wait;

    decode_snapshot(m, &itl, &step, &wait);
    gauge(o, "vllm:num_requests_running",
          "Requests being handled by this stage.", (double)LOAD(m->running));
    gauge(o, "vllm:num_requests_waiting",
          "Requests sent to this stage and not yet received.", waiting(m));
    gauge(o, "vllm:kv_cache_usage_perc",
          "KV cache positions in use over max_seq (1 = full).",
          LOAD(m->kv_usage));
    histogram(o, "vllm:time_to_first_token_seconds",
              "Gateway send to first token (prefill).", &m->ttft);
    histogram(o, "vllm:inter_token_latency_seconds",
              "Time per decode step (decode ranks).", &itl);
    histogram(o, "vllm:e2e_request_latency_seconds",
              "Request to response at the gateway.", &m->e2e);
    counter(o, "vllm:generation_tokens_total", "Tokens this stage produced.",
            (double)LOAD(m->tokens));
    counter(o, "vllm:num_preemptions_total",
            "Requests preempted for want of KV cache blocks.",
            (double)LOAD(m->preemptions));
    if (m->rank < 0)
        return;
    histogram(o, "skewscope_step_seconds",
              "Decode step time: compute and collectives.", &step);
    histogram(o, "skewscope_collective_wait_seconds",
              "Time of a decode step spent in its all-reduce calls.", &wait);
}

static void render_process(const struct out *o)
{
    const struct stage_metrics *m = o->m;
    double cpu = process_cpu_s();

    counter(o, "process_cpu_seconds_total",
            "User and system CPU time of this process.", cpu);
    gauge(o, "process_resident_memory_bytes", "Resident set size.",
          resident_bytes());
    gauge(o, "process_start_time_seconds", "Start of the process, Unix s.",
          m->start_time_s);
    counter(o, "container_cpu_usage_seconds_total",
            "CPU time of the stage and of any CPU hog injected with it.",
            cpu + LOAD(m->hog_cpu_s));
    counter(o, "skewscope_transport_sent_bytes_total",
            "Payload and header bytes sent over the transport.",
            (double)LOAD(m->tx_bytes));
    counter(o, "skewscope_transport_received_bytes_total",
            "Payload and header bytes received over the transport.",
            (double)LOAD(m->rx_bytes));
}

static void render_stage(const struct out *o)
{
    const struct stage_metrics *m = o->m;
    struct llm_compute_totals ct;

    llm_compute_totals(&ct);
    gauge(o, "DCGM_FI_DEV_SM_CLOCK",
          "SM clock of the stand-in GPU (MHz): boost clock times a "
          "throttle's speed.",
          LOAD(m->sm_clock_mhz));
    gauge(o, "skewscope_compute_rate_mhz",
          "Compute rate achieved: multiply-adds per us of busy compute.",
          LOAD(m->compute_rate_mhz));
    gauge(o, "DCGM_FI_DEV_GPU_UTIL",
          "Share of the last second the engine held a request, standing in "
          "for GPU utilisation (%).",
          LOAD(m->gpu_util_pct));
    counter(o, "skewscope_stage_requests_total", "Data messages handled.",
            (double)LOAD(m->requests));
    counter(o, "skewscope_stage_errors_total", "Handling failures.",
            (double)LOAD(m->errors));
    histogram(o, "skewscope_stage_request_duration_seconds",
              "Upstream send to handling done.", &m->duration);
    histogram(o, "skewscope_stage_inbound_hop_seconds",
              "Upstream send to handling begins.", &m->hop);
    histogram(o, "skewscope_stage_network_delay_seconds",
              "The link's delay of each message received (queueing "
              "excluded).",
              &m->net);
    counter(o, "skewscope_compute_macs_total",
            "Multiply-adds of the model's compute.", (double)ct.macs);
    counter(o, "skewscope_compute_busy_seconds_total",
            "Time in the model's compute phases (throttle included).",
            (double)ct.busy_ns * 1e-9);
    counter(o, "skewscope_engine_busy_seconds_total",
            "Time the stage's engine held a request (GPU utilisation's "
            "source).",
            (double)stage_engine_busy_ns(m, mono_now_ns()) * 1e-9);
}

char *stage_metrics_render(struct stage_metrics *m)
{
    char *buf = NULL;
    size_t len = 0;
    struct out o = {.f = open_memstream(&buf, &len), .m = m};

    if (!o.f)
        return NULL;
    render_vllm(&o);
    render_process(&o);
    render_stage(&o);
    if (fclose(o.f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
                             const char *type, char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ok;

    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    struct stage_metrics *m = cls;

    (void)version;
    (void)upload;
    (void)upload_len;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                     strdup("GET /metrics\n"), 13);
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
                     strdup("not found: GET /metrics\n"), 24);
    char *body = stage_metrics_render(m);
    if (!body)
        return MHD_NO;
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 body, strlen(body));
}

struct stage_metrics *stage_metrics_create(const char *service, int rank,
                                           int slot,
                                           const struct stage_board *board,
                                           int listen_fd, char *err,
                                           size_t errlen)
{
    struct stage_metrics *m = calloc(1, sizeof *m);
    struct timespec now;

    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(m->service, sizeof m->service, "%s", service);
    m->rank = rank;
    m->slot = slot;
    m->board = board;
    clock_gettime(CLOCK_REALTIME, &now);
    m->start_time_s = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
    if (listen_fd < 0)
        return m;
    m->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL, NULL,
        on_request, m, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!m->daemon) {
        snprintf(err, errlen, "cannot serve /metrics on fd %d", listen_fd);
        close(listen_fd);
        free(m);
        return NULL;
    }
    return m;
}

void stage_metrics_destroy(struct stage_metrics *m)
{
    if (!m)
        return;
    if (m->daemon)
        MHD_stop_daemon(m->daemon);
    free(m);
}
