/* stage_common: what every pipeline stage process shares: opening its
 * transport and tracer, sending inside a PRODUCER span with the trace
 * context headers, receiving with a bounded wait, the hop delay and a
 * CONSUMER span, and the dispatch to the stage kinds (stage.h). */
#include "testbed/stage.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testbed/llm.h"
#include "testbed/pipeline.h"

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

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
    if (strncmp(name, "decode-", 7) != 0 || name[7] < '0' || name[7] > '9')
        return -1;
    char *end;
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

static int open_transport(struct stage *s, char *err, size_t errlen)
{
    const struct pipeline_config *cfg = s->env->cfg;
    bool kafka = strcmp(cfg->transport, "kafka") == 0;
    char prefix[96], group[128];

    snprintf(prefix, sizeof prefix, "skewscope-%s.", s->env->run_id);
    snprintf(group, sizeof group, "%s-%s", s->env->run_id, s->name);
    struct transport_config tc = {
        .kind = cfg->transport,
        .name = s->name,
        .zmq_base = s->env->dir,
        .kafka_brokers = s->env->brokers,
        .kafka_topic_prefix = prefix,
        .kafka_group_id = group,
        .send_timeout_ms = 5000,
        .linger_ms = 3000,
    };
    s->system = kafka ? "kafka" : "zeromq";
    s->tr = transport_open(&tc, err, errlen);
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
        tc.export_kind = TRACER_EXPORT_NONE;
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
    stage_name(env->kind, env->rank, s->name, sizeof s->name);
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

void stage_span_internal(struct stage *s, struct tracer_span *sp,
                         const char *name, const struct tracer_span *parent)
{
    tracer_span_begin(s->tracer, sp, name, SPAN_KIND_INTERNAL, parent->trace_id,
                      parent->span_id);
}

static void messaging_attrs(struct stage *s, struct tracer_span *sp,
                            const char *channel, const char *op)
{
    tracer_span_set_attr(sp, "messaging.system", s->system);
    tracer_span_set_attr(sp, "messaging.destination.name", channel);
    tracer_span_set_attr(sp, "messaging.operation", op);
}

int stage_send(struct stage *s, const char *channel,
               const struct tracer_span *parent, unsigned request,
               const void *payload, size_t len,
               const struct transport_header *extra, size_t nextra, char *err,
               size_t errlen)
{
    struct tracer_span sp;
    struct transport_msg m = {.payload = payload, .payload_len = len};
    char name[96], tpbuf[TRACEPARENT_LEN + 1], req[16], sent[24];
    int rc;

    snprintf(name, sizeof name, "%s publish", channel);
    tracer_span_begin(s->tracer, &sp, name, SPAN_KIND_PRODUCER,
                      parent->trace_id, parent->span_id);
    messaging_attrs(s, &sp, channel, "publish");
    struct traceparent tp = {.span_id = sp.span_id,
                             .flags = TRACEPARENT_FLAG_SAMPLED};
    memcpy(tp.trace_id, sp.trace_id, 16);
    traceparent_format(&tp, tpbuf);
    snprintf(req, sizeof req, "%u", request);
    snprintf(sent, sizeof sent, "%" PRId64, mono_ns());
    m.headers[m.nheaders++] = (struct transport_header){"traceparent", tpbuf};
    m.headers[m.nheaders++] = (struct transport_header){"x-request", req};
    m.headers[m.nheaders++] = (struct transport_header){"x-sent-mono", sent};
    for (size_t i = 0; i < nextra && m.nheaders < TRANSPORT_MAX_HEADERS; i++)
        m.headers[m.nheaders++] = extra[i];
    rc = transport_send(s->tr, channel, &m);
    if (rc < 0)
        snprintf(err, errlen, "send on %s: %s", channel,
                 transport_errstr(s->tr));
    tracer_span_end(s->tracer, &sp);
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
    return 0;
}

/* Block for the next message, checking signals and the deadline. */
static int wait_msg(struct stage *s, struct transport_msg *m, char *err,
                    size_t errlen)
{
    unsigned timeout_ms = s->env->cfg->timeout_ms;
    int64_t deadline = mono_ns() + (int64_t)timeout_ms * 1000000;

    for (;;) {
        if (stage_stop_signal) {
            snprintf(err, errlen, "stopped by signal %d",
                     (int)stage_stop_signal);
            return -1;
        }
        int rc = transport_recv(s->tr, m, 100);
        if (rc == 1)
            return 0;
        if (rc < 0 && rc != -EPROTO && rc != -EINTR) {
            snprintf(err, errlen, "receive: %s", transport_errstr(s->tr));
            return -1;
        }
        if (mono_ns() > deadline) {
            snprintf(err, errlen, "no message for %u ms", timeout_ms);
            return -1;
        }
    }
}

static void hop_delay(struct stage *s, const struct transport_msg *m)
{
    const char *sent = transport_msg_header(m, "x-sent-mono");
    int64_t d = s->env->cfg->hop_delay_ns;

    if (d <= 0 || !sent)
        return;
    int64_t until = strtoll(sent, NULL, 10) + d;
    struct timespec ts = {.tv_sec = until / 1000000000,
                          .tv_nsec = until % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        if (stage_stop_signal)
            return;
}

int stage_recv(struct stage *s, struct stage_msg *out,
               struct tracer_span *consumer, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (wait_msg(s, &out->m, err, errlen) < 0)
        return -1;
    const char *kind = transport_msg_header(&out->m, "x-kind");
    if (kind && strcmp(kind, "stop") == 0) {
        out->stop = true;
        return 0;
    }
    const char *tp = transport_msg_header(&out->m, "traceparent");
    const char *req = transport_msg_header(&out->m, "x-request");
    if (!tp || !req ||
        traceparent_parse(tp, strlen(tp), &out->tp, err, errlen) < 0) {
        snprintf(err, errlen, "message on %s without valid trace headers",
                 out->m.channel);
        return -1;
    }
    out->request = (unsigned)strtoul(req, NULL, 10);
    hop_delay(s, &out->m);
    char name[96];
    snprintf(name, sizeof name, "%s process", out->m.channel);
    tracer_span_begin(s->tracer, consumer, name, SPAN_KIND_CONSUMER,
                      out->tp.trace_id, out->tp.span_id);
    messaging_attrs(s, consumer, out->m.channel, "process");
    return 0;
}

int stage_serve(struct stage *s, stage_handler_fn fn, void *ctx,
                const char *const *stop_to, size_t nstop, char *err,
                size_t errlen)
{
    struct stage_msg msg;
    struct tracer_span consumer;

    for (;;) {
        if (stage_recv(s, &msg, &consumer, err, errlen) < 0)
            return -1;
        if (msg.stop)
            break;
        int rc = fn(s, ctx, &msg, &consumer, err, errlen);
        tracer_span_end(s->tracer, &consumer);
        if (rc < 0)
            return -1;
    }
    for (size_t i = 0; i < nstop; i++)
        if (stage_send_stop(s, stop_to[i], err, errlen) < 0)
            return -1;
    return 0;
}

int stage_main(const struct stage_env *env, char *err, size_t errlen)
{
    static const char *const channels[] = {
        [STAGE_GATEWAY] = "response",
        [STAGE_TOKENIZER] = "tokenize",
        [STAGE_PREFILL] = "prefill",
        [STAGE_DETOKENIZER] = "detokenize",
    };
    char decode_ch[32];
    const char *ch = channels[env->kind];
    struct stage s;
    int rc;

    if (env->kind == STAGE_DECODE) {
        snprintf(decode_ch, sizeof decode_ch, "decode.%u", env->rank);
        ch = decode_ch;
    }
    if (stage_open(&s, env, &ch, 1, err, errlen) < 0)
        return -1;
    switch (env->kind) {
    case STAGE_GATEWAY:
        rc = stage_gateway_run(&s, err, errlen);
        break;
    case STAGE_TOKENIZER:
        rc = stage_tokenizer_run(&s, err, errlen);
        break;
    case STAGE_PREFILL:
        rc = stage_prefill_run(&s, err, errlen);
        break;
    case STAGE_DECODE:
        rc = stage_decode_run(&s, err, errlen);
        break;
    default:
        rc = stage_detokenizer_run(&s, err, errlen);
        break;
    }
    if (stage_close(&s, rc ? NULL : err, errlen) < 0)
        rc = -1;
    return rc;
}
