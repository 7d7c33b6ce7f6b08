/* stage_common: what every pipeline stage process shares: opening its
 * transport and tracer, sending inside a PRODUCER span with the trace
 * context headers, receiving with a bounded wait, the hop delay and a
 * CONSUMER span, and the dispatch to the stage kinds (stage.h). */
#include "testbed/stage.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testbed/llm.h"
#include "testbed/pipeline.h"
#include "testbed/stage_board.h"
#include "testbed/stage_log.h"
#include "testbed/stage_monitor.h"
#include "util/clock.h"

static volatile sig_atomic_t stage_stop_signal;

static void on_signal(int sig)
{
    stage_stop_signal = sig;
}

void stage_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool stage_stop_requested(void)
{
    return stage_stop_signal != 0;
}

int64_t stage_mono_ns(void)
{
    return clock_now_ns(CLOCK_MONOTONIC);
}

size_t stage_msg_bytes(const struct transport_msg *m)
{
    size_t n = m->payload_len;

    for (size_t i = 0; i < m->nheaders; i++)
        n += strlen(m->headers[i].key) + strlen(m->headers[i].value);
    return n;
}

static const char *const kind_names[] = {
    [STAGE_GATEWAY] = "gateway",         [STAGE_TOKENIZER] = "tokenizer",
    [STAGE_PREFILL] = "prefill",         [STAGE_DECODE] = "decode",
    [STAGE_DETOKENIZER] = "detokenizer",
};

const char *stage_name(enum stage_kind kind, unsigned rank, char *out,
                       size_t outlen)
{
    if (kind == STAGE_DECODE)
        snprintf(out, outlen, "decode-%u", rank);
    else if (kind == STAGE_PREFILL && rank > 0)
        snprintf(out, outlen, "prefill-%u", rank - 1);
    else
        snprintf(out, outlen, "%s", kind_names[kind]);
    return out;
}

int stage_parse_name(const char *name, unsigned tp, enum stage_kind *kind,
                     unsigned *rank)
{
    if (strncmp(name, "node-", 5) == 0)
        name += 5;
    *rank = 0;
    for (int k = STAGE_GATEWAY; k <= STAGE_DETOKENIZER; k++)
        if (k != STAGE_DECODE && strcmp(name, kind_names[k]) == 0) {
            *kind = (enum stage_kind)k;
            return 0;
        }
    char *end;
    if (strncmp(name, "prefill-", 8) == 0 && name[8] >= '0' && name[8] <= '9') {
        unsigned long k = strtoul(name + 8, &end, 10);
        if (*end || k >= PIPELINE_MAX_DP)
            return -1;
        *kind = STAGE_PREFILL;
        *rank = (unsigned)k + 1;
        return 0;
    }
    if (strncmp(name, "decode-", 7) != 0 || name[7] < '0' || name[7] > '9')
        return -1;
    unsigned long r = strtoul(name + 7, &end, 10);
    if (*end || r >= tp)
        return -1;
    *kind = STAGE_DECODE;
    *rank = (unsigned)r;
    return 0;
}

void stage_model_config(const struct pipeline_config *cfg,
                        struct llm_config *out)
{
    llm_config_default(out);
    if (cfg->model_layers)
        out->layers = cfg->model_layers;
    if (cfg->model_dim) {
        out->d_model = cfg->model_dim;
        out->d_ff = 4 * cfg->model_dim;
    }
    out->seed = cfg->seed;
    /* prompts are < 64 bytes (pipeline_prompt) */
    if (out->max_seq < 64 + cfg->max_new)
        out->max_seq = 64 + cfg->max_new;
}

struct transport *stage_transport_create(struct stage *s, const char *role,
                                         char *err, size_t errlen)
{
    const struct pipeline_config *cfg = s->env->cfg;
    char prefix[96], group[128], name[64];

    snprintf(prefix, sizeof prefix, "skewscope-%s.", s->env->run_id);
    snprintf(name, sizeof name, "%s%s%s", s->name, role ? "-" : "",
             role ? role : "");
    snprintf(group, sizeof group, "%s-%s", s->env->run_id, name);
    struct transport_config tc = {
        .kind = cfg->transport,
        .name = name,
        .zmq_base = s->env->dir,
        .kafka_brokers = s->env->brokers,
        .kafka_topic_prefix = prefix,
        .kafka_group_id = group,
        .send_timeout_ms = 5000,
        .linger_ms = 3000,
    };
    return transport_open(&tc, err, errlen);
}

static int open_transport(struct stage *s, char *err, size_t errlen)
{
    s->system =
        strcmp(s->env->cfg->transport, "kafka") == 0 ? "kafka" : "zeromq";
    s->tr = stage_transport_create(s, NULL, err, errlen);
    return s->tr ? 0 : -1;
}

static int open_tracer(struct stage *s, char *err, size_t errlen)
{
    const struct pipeline_config *cfg = s->env->cfg;
    char host[64];
    struct tracer_config tc;

    tracer_config_init(&tc);
    snprintf(host, sizeof host, "node-%s", s->name);
    tc.host_name = host;
    tc.service_name = kind_names[s->env->kind];
    tc.clock_mode =
        s->env->process_clock ? TRACER_CLOCK_PROCESS : TRACER_CLOCK_INJECT;
    tc.skew_ns = s->env->process_clock ? 0 : s->env->skew_ns;
    tc.drift_ppm = s->env->process_clock ? 0 : s->env->drift_ppm;
    tc.flush_interval_ms = 200;
    if (cfg->out_path) {
        tc.export_kind = TRACER_EXPORT_FILE;
        tc.path = cfg->out_path;
    } else if (cfg->otlp_endpoint) {
        tc.export_kind = TRACER_EXPORT_OTLP_HTTP;
        tc.endpoint = cfg->otlp_endpoint;
    } else {
        return 0; /* tracing off: no tracer at all (stage.h) */
    }
    s->tracer = tracer_create(&tc, err, errlen);
    return s->tracer ? 0 : -1;
}

int stage_open(struct stage *s, const struct stage_env *env,
               const char *const *channels, size_t nchannels, char *err,
               size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->env = env;
    s->rpc = env->cfg->hops == PIPELINE_HOPS_RPC;
    stage_name(env->kind, env->rank, s->name, sizeof s->name);
    snprintf(s->reply_ch, sizeof s->reply_ch, "reply.%s", s->name);
    if (open_tracer(s, err, errlen) < 0 || open_transport(s, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < nchannels; i++)
        if (transport_subscribe(s->tr, channels[i]) < 0) {
            snprintf(err, errlen, "subscribe %s: %s", channels[i],
                     transport_errstr(s->tr));
            goto fail;
        }
    return 0;
fail:
    stage_close(s, NULL, 0);
    return -1;
}

int stage_close(struct stage *s, char *err, size_t errlen)
{
    int rc = 0;

    stage_rpc_close(s);
    transport_close(s->tr);
    s->tr = NULL;
    if (s->tracer && tracer_destroy(s->tracer) < 0) {
        rc = -1;
        if (err)
            snprintf(err, errlen, "trace export failed (spans lost)");
    }
    s->tracer = NULL;
    return rc;
}

void stage_ready(struct stage *s)
{
    int fd = s->env->ready_fd;

    if (fd < 0)
        return;
    if (write(fd, "r", 1) != 1) {
        /* the orchestrator then times out and says so */
    }
}

void stage_span_begin(struct stage *s, struct tracer_span *sp, const char *name,
                      enum span_kind kind, const struct tracer_span *parent)
{
    if (!s->tracer)
        return;
    tracer_span_begin(s->tracer, sp, name, kind,
                      parent ? parent->trace_id : NULL,
                      parent ? parent->span_id : 0);
}

void stage_span_end(struct stage *s, struct tracer_span *sp)
{
    if (s->tracer && sp->span_id)
        tracer_span_end(s->tracer, sp);
}

void stage_span_attr(struct stage *s, struct tracer_span *sp, const char *key,
                     const char *value)
{
    if (s->tracer && sp->span_id)
        tracer_span_set_attr(sp, key, value);
}

void stage_span_internal(struct stage *s, struct tracer_span *sp,
                         const char *name, const struct tracer_span *parent)
{
    if (s->env->cfg->no_internal_spans) {
        sp->span_id = 0; /* not begun: end and attr skip it */
        return;
    }
    stage_span_begin(s, sp, name, SPAN_KIND_INTERNAL, parent);
}

bool stage_span_traceparent(const struct stage *s, const struct tracer_span *sp,
                            char buf[TRACEPARENT_LEN + 1])
{
    if (!s->tracer)
        return false;
    struct traceparent tp = {.span_id = sp->span_id,
                             .flags = TRACEPARENT_FLAG_SAMPLED};
    memcpy(tp.trace_id, sp->trace_id, 16);
    traceparent_format(&tp, buf);
    return true;
}

static void messaging_attrs(struct stage *s, struct tracer_span *sp,
                            const char *channel, const char *op)
{
    stage_span_attr(s, sp, "messaging.system", s->system);
    stage_span_attr(s, sp, "messaging.destination.name", channel);
    stage_span_attr(s, sp, "messaging.operation", op);
}

void stage_sent(struct stage *s, const char *channel,
                const struct transport_msg *m)
{
    stage_metrics_add(&s->metrics->tx_bytes, stage_msg_bytes(m));
    int slot = stage_board_slot_of_channel(channel);
    if (s->board && slot >= 0)
        atomic_fetch_add_explicit(&s->board->sent_to[slot], 1,
                                  memory_order_relaxed);
}

int stage_send(struct stage *s, const char *channel,
               const struct tracer_span *parent, unsigned request,
               const void *payload, size_t len,
               const struct transport_header *extra, size_t nextra, char *err,
               size_t errlen)
{
    struct tracer_span sp;
    struct transport_msg m = {.payload = payload, .payload_len = len};
    char name[96], tpbuf[TRACEPARENT_LEN + 1], req[16], sent[24], arrive[24];
    int rc;

    snprintf(name, sizeof name, "%s publish", channel);
    stage_span_begin(s, &sp, name, SPAN_KIND_PRODUCER, parent);
    messaging_attrs(s, &sp, channel, "publish");
    if (stage_span_traceparent(s, &sp, tpbuf))
        m.headers[m.nheaders++] =
            (struct transport_header){"traceparent", tpbuf};
    snprintf(req, sizeof req, "%u", request);
    snprintf(sent, sizeof sent, "%" PRId64, stage_mono_ns());
    snprintf(arrive, sizeof arrive, "%" PRId64, s->arrive_ns);
    m.headers[m.nheaders++] = (struct transport_header){"x-request", req};
    m.headers[m.nheaders++] = (struct transport_header){"x-sent-mono", sent};
    m.headers[m.nheaders++] =
        (struct transport_header){"x-arrive-mono", arrive};
    for (size_t i = 0; i < nextra && m.nheaders < TRANSPORT_MAX_HEADERS; i++)
        m.headers[m.nheaders++] = extra[i];
    rc = transport_send(s->tr, channel, &m);
    if (rc < 0)
        snprintf(err, errlen, "send on %s: %s", channel,
                 transport_errstr(s->tr));
    else
        stage_sent(s, channel, &m);
    stage_span_end(s, &sp);
    return rc < 0 ? -1 : 0;
}

int stage_send_stop(struct stage *s, const char *channel, char *err,
                    size_t errlen)
{
    struct transport_msg m = {.payload = "", .payload_len = 0};

    m.headers[m.nheaders++] = (struct transport_header){"x-kind", "stop"};
    if (transport_send(s->tr, channel, &m) < 0) {
        snprintf(err, errlen, "send stop on %s: %s", channel,
                 transport_errstr(s->tr));
        return -1;
    }
    stage_metrics_add(&s->metrics->tx_bytes, stage_msg_bytes(&m));
    return 0;
}

int stage_wait_msg(struct stage *s, struct transport *tr,
                   struct transport_msg *m, char *err, size_t errlen)
{
    unsigned timeout_ms = s->env->cfg->timeout_ms;
    int64_t deadline = stage_mono_ns() + (int64_t)timeout_ms * 1000000;

    for (;;) {
        if (stage_stop_signal) {
            snprintf(err, errlen, "stopped by signal %d",
                     (int)stage_stop_signal);
            return -1;
        }
        int rc = transport_recv(tr, m, 100);
        if (rc == 1) {
            stage_metrics_add(&s->metrics->rx_bytes, stage_msg_bytes(m));
            return 0;
        }
        if (rc < 0 && rc != -EPROTO && rc != -EINTR) {
            snprintf(err, errlen, "receive: %s", transport_errstr(tr));
            return -1;
        }
        if (stage_mono_ns() > deadline) {
            snprintf(err, errlen, "no message for %u ms", timeout_ms);
            return -1;
        }
    }
}

/* --hop-jitter: uniform in [-J, +J] per message (xorshift64*, seeded by
 * the process so that stages draw independently). */
static int64_t hop_jitter_ns(const struct pipeline_config *cfg)
{
    static uint64_t x;

    if (cfg->hop_jitter_ns <= 0)
        return 0;
    if (x == 0)
        x = 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 17) ^
            (uint64_t)stage_mono_ns();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    double u = (double)((x * 0x2545f4914f6cdd1dull) >> 11) * 0x1.0p-53;
    return (int64_t)((2 * u - 1) * (double)cfg->hop_jitter_ns);
}

int64_t stage_hold(struct stage *s, const struct transport_msg *m)
{
    const char *sent = transport_msg_header(m, "x-sent-mono");
    int64_t d = s->env->cfg->hop_delay_ns + hop_jitter_ns(s->env->cfg) +
                stage_monitor_net_delay_ns(s->monitor, stage_mono_ns());

    if (d <= 0 || !sent)
        return 0;
    int64_t until = strtoll(sent, NULL, 10) + d;
    /* Relative sleeps, re-checked against the real monotonic clock: under
     * libfaketime an absolute clock_nanosleep returns at once, and a
     * relative one may be scaled by its rate. */
    for (int64_t left; (left = until - stage_mono_ns()) > 0;) {
        struct timespec ts = {.tv_sec = left / 1000000000,
                              .tv_nsec = left % 1000000000};
        if (nanosleep(&ts, NULL) < 0 && stage_stop_signal)
            return d;
    }
    return d;
}

/* Begin the span of a received data message: CONSUMER for a one-way
 * message, SERVER for an RPC request. */
static void begin_receive_span(struct stage *s, const struct stage_msg *msg,
                               struct tracer_span *sp)
{
    struct tracer_span parent;
    char name[96];

    if (!s->tracer)
        return;
    memset(&parent, 0, sizeof parent);
    memcpy(parent.trace_id, msg->tp.trace_id, 16);
    parent.span_id = msg->tp.span_id;
    if (msg->reply_to[0]) {
        stage_rpc_server_span(s, sp, msg->m.channel, &parent);
        return;
    }
    snprintf(name, sizeof name, "%s process", msg->m.channel);
    stage_span_begin(s, sp, name, SPAN_KIND_CONSUMER, &parent);
    messaging_attrs(s, sp, msg->m.channel, "process");
}

int stage_recv(struct stage *s, struct stage_msg *out,
               struct tracer_span *consumer, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (stage_wait_msg(s, s->tr, &out->m, err, errlen) < 0)
        return -1;
    const char *kind = transport_msg_header(&out->m, "x-kind");
    if (kind && strcmp(kind, "stop") == 0) {
        out->stop = true;
        return 0;
    }
    const char *tp = transport_msg_header(&out->m, "traceparent");
    const char *req = transport_msg_header(&out->m, "x-request");
    const char *reply = transport_msg_header(&out->m, "x-reply-to");
    if (!req || (s->tracer && !tp) ||
        (tp && traceparent_parse(tp, strlen(tp), &out->tp, err, errlen) < 0)) {
        snprintf(err, errlen, "message on %s without valid trace headers",
                 out->m.channel);
        return -1;
    }
    out->traced = tp != NULL;
    out->request = (unsigned)strtoul(req, NULL, 10);
    const char *sent = transport_msg_header(&out->m, "x-sent-mono");
    const char *arrive = transport_msg_header(&out->m, "x-arrive-mono");
    out->sent_ns = sent ? strtoll(sent, NULL, 10) : 0;
    s->arrive_ns = arrive ? strtoll(arrive, NULL, 10) : stage_mono_ns();
    stage_metrics_add(&s->metrics->received, 1);
    if (s->rpc != (reply != NULL) ||
        (reply && (size_t)snprintf(out->reply_to, sizeof out->reply_to, "%s",
                                   reply) >= sizeof out->reply_to)) {
        snprintf(err, errlen, "message on %s: bad or missing x-reply-to",
                 out->m.channel);
        return -1;
    }
    int64_t link_ns = stage_hold(s, &out->m);
    out->begin_ns = stage_mono_ns();
    if (out->sent_ns) {
        stage_hist_observe(&s->metrics->hop, out->begin_ns - out->sent_ns);
        stage_hist_observe(&s->metrics->net, link_ns);
    }
    begin_receive_span(s, out, consumer);
    return 0;
}

void stage_handled(struct stage *s, const struct stage_msg *msg, int rc,
                   const char *err)
{
    int64_t now = stage_mono_ns();
    int64_t from = msg->sent_ns ? msg->sent_ns : msg->begin_ns;

    stage_hist_observe(&s->metrics->duration, now - from);
    stage_metrics_add(&s->metrics->requests, 1);
    if (rc < 0) {
        stage_metrics_add(&s->metrics->errors, 1);
        stage_log_event(s->log, "error", "error", msg->request, NULL, NULL,
                        "request %u failed: %s", msg->request, err);
        return;
    }
    stage_log_event(s->log, "info", "request", msg->request, NULL, NULL,
                    "request %u handled in %.3f ms (hop %.3f ms)", msg->request,
                    (double)(now - msg->begin_ns) * 1e-6,
                    (double)(msg->begin_ns - from) * 1e-6);
}

int stage_serve(struct stage *s, stage_handler_fn fn, void *ctx,
                const char *const *stop_to, size_t nstop, char *err,
                size_t errlen)
{
    struct stage_msg msg;
    struct tracer_span consumer;

    stage_ready(s);
    for (;;) {
        if (stage_recv(s, &msg, &consumer, err, errlen) < 0)
            return -1;
        if (msg.stop)
            break;
        atomic_store_explicit(&s->metrics->running, 1, memory_order_relaxed);
        int rc = fn(s, ctx, &msg, &consumer, err, errlen);
        stage_engine_end(s->metrics, stage_mono_ns()); /* error paths */
        stage_span_end(s, &consumer);
        atomic_store_explicit(&s->metrics->running, 0, memory_order_relaxed);
        stage_handled(s, &msg, rc, err);
        if (rc < 0)
            return -1;
    }
    for (size_t i = 0; i < nstop; i++)
        if (stage_send_stop(s, stop_to[i], err, errlen) < 0)
            return -1;
    return 0;
}

/* Which stages call another one in RPC mode (and so need replies). */
static bool rpc_caller(const struct stage_env *env)
{
    return env->kind == STAGE_TOKENIZER || env->kind == STAGE_PREFILL ||
           (env->kind == STAGE_DECODE && env->rank == 0);
}

static int run_kind(struct stage *s, char *err, size_t errlen)
{
    switch (s->env->kind) {
    case STAGE_GATEWAY:
        return stage_gateway_run(s, err, errlen);
    case STAGE_TOKENIZER:
        return stage_tokenizer_run(s, err, errlen);
    case STAGE_PREFILL:
        return stage_prefill_run(s, err, errlen);
    case STAGE_DECODE:
        return stage_decode_run(s, err, errlen);
    default:
        return stage_detokenizer_run(s, err, errlen);
    }
}

/* What a stage has besides transport and tracer: the run's board, its
 * metrics (and their server), its log and its monitor. */
struct stage_extras {
    struct stage_board *board;
    struct stage_metrics *metrics;
    struct stage_log *log;
    struct stage_monitor *monitor;
};

static void extras_close(struct stage_extras *x, int rc, const char *err)
{
    stage_monitor_stop(x->monitor);
    if (rc < 0 && !stage_stop_requested())
        stage_log_event(x->log, "error", "error", -1, NULL, NULL,
                        "stage failed: %s", err);
    else
        stage_log_event(x->log, "info", "stop", -1, NULL, NULL, "stage %s",
                        rc < 0 ? "stopped by a signal" : "done");
    stage_log_close(x->log);
    stage_metrics_destroy(x->metrics);
    stage_board_unmap(x->board);
}

static int extras_open(struct stage_extras *x, const struct stage_env *env,
                       char *err, size_t errlen)
{
    const struct pipeline_config *cfg = env->cfg;
    char name[32];
    int rank = env->kind == STAGE_DECODE ? (int)env->rank : -1;

    memset(x, 0, sizeof *x);
    stage_name(env->kind, env->rank, name, sizeof name);
    x->board = stage_board_map(env->dir, false, err, errlen);
    if (!x->board) {
        if (env->metrics_fd >= 0)
            close(env->metrics_fd);
        return -1;
    }
    x->metrics =
        stage_metrics_create(name, rank, pipeline_stage_index(name, cfg->tp),
                             x->board, env->metrics_fd, err, errlen);
    if (!x->metrics)
        goto fail;
    if (cfg->log_path &&
        !(x->log = stage_log_open(cfg->log_path, name, rank, err, errlen)))
        goto fail;
    x->monitor = stage_monitor_start(cfg, name, x->board, x->metrics, x->log,
                                     err, errlen);
    if (!x->monitor)
        goto fail;
    stage_log_event(x->log, "info", "start", -1, NULL, NULL,
                    "stage %s started (pid %d)", name, (int)getpid());
    return 0;
fail:
    stage_log_close(x->log);
    stage_metrics_destroy(x->metrics);
    stage_board_unmap(x->board);
    return -1;
}

int stage_main(const struct stage_env *env, char *err, size_t errlen)
{
    static const char *const channels[] = {
        [STAGE_GATEWAY] = "response",
        [STAGE_TOKENIZER] = "tokenize",
        [STAGE_PREFILL] = "prefill",
        [STAGE_DETOKENIZER] = "detokenize",
    };
    char ch_buf[48];
    const char *ch = channels[env->kind];
    bool rpc = env->cfg->hops == PIPELINE_HOPS_RPC;
    struct stage s;
    struct stage_extras x;
    int rc;

    if (env->kind == STAGE_DECODE) {
        snprintf(ch_buf, sizeof ch_buf, "decode.%u", env->rank);
        ch = ch_buf;
    } else if (env->kind == STAGE_PREFILL && env->rank > 0) {
        snprintf(ch_buf, sizeof ch_buf, "prefill.%u", env->rank - 1);
        ch = ch_buf;
    } else if (env->kind == STAGE_GATEWAY && rpc) {
        /* the gateway only calls: its one transport takes the replies */
        snprintf(ch_buf, sizeof ch_buf, "reply.gateway");
        ch = ch_buf;
    }
    if (extras_open(&x, env, err, errlen) < 0)
        return -1;
    if (stage_open(&s, env, &ch, 1, err, errlen) < 0) {
        extras_close(&x, -1, err);
        return -1;
    }
    s.metrics = x.metrics;
    s.log = x.log;
    s.monitor = x.monitor;
    s.board = x.board;
    s.arrive_ns = stage_mono_ns();
    if (rpc && env->kind == STAGE_GATEWAY)
        s.reply_tr = s.tr;
    if (rpc && rpc_caller(env) && stage_rpc_open(&s, err, errlen) < 0) {
        stage_close(&s, NULL, 0);
        extras_close(&x, -1, err);
        return -1;
    }
    rc = run_kind(&s, err, errlen);
    if (stage_close(&s, rc ? NULL : err, errlen) < 0)
        rc = -1;
    extras_close(&x, rc, err);
    return rc;
}
