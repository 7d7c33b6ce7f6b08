/* stage: the pipeline stages of the testbed, one OS process each (see
 * testbed/pipeline.h for the orchestrator). Every stage opens one
 * transport and one tracer (its own clock domain, host.name =
 * "node-<stage>"), receives on its channel(s), records OpenTelemetry spans
 * and passes its result on:
 *
 *   gateway      sends "tokenize", receives "response"   (stage_gateway.c)
 *   tokenizer    "tokenize"   -> "prefill"               (stage_work.c)
 *   prefill      "prefill"    -> "decode.R" per rank     (stage_work.c)
 *                (with --dp N: replicas prefill-K on "prefill.K", the
 *                tokenizer routing; decode ranks take requests in order)
 *   decode-R     "decode.R"   -> "detokenize" (rank 0)   (stage_decode.c)
 *   detokenizer  "detokenize" -> "response"              (stage_work.c)
 *
 * With cfg->hops == PIPELINE_HOPS_RPC every hop is a synchronous call
 * instead (stage_rpc.c): the caller begins a CLIENT span, sends the request
 * with "traceparent" = that span and "x-reply-to" = its reply channel
 * "reply.<caller>" (received on a transport of its own, so that requests
 * waiting on its request channel stay queued), and ends the span when the
 * reply has arrived (after the hop delay). The callee records a SERVER span
 * (child of the CLIENT span) from the delivery of the request until its
 * reply has been sent, its own downstream call included; replies echo
 * "x-request" and carry "x-from" (the callee's request channel). Prefill
 * calls every decode rank at once; rank 0 calls the detokenizer; the text
 * travels back up the chain to the gateway.
 *
 * Tracing off: when cfg has neither out_path nor otlp_endpoint, no tracer
 * is created (s->tracer == NULL), no span is recorded and no traceparent
 * is sent; the stage_span_* helpers below are then no-ops, so a benchmark
 * without tracing pays nothing for it.
 *
 * Messages carry the headers "traceparent" (the PRODUCER span),
 * "x-request" (request number), "x-sent-mono" (CLOCK_MONOTONIC ns at the
 * send, for --hop-delay: the host's monotonic clock is shared by all
 * stages and libfaketime leaves it alone) and "x-kind" ("stop" ends a
 * stage, which forwards it downstream first). Spans: PRODUCER around every
 * send, CONSUMER (parent = the producer) from the delivery of a message to
 * the end of its handling, INTERNAL for tokenize, prefill, detokenize, each
 * decode step and each all-reduce; the gateway's SERVER span is the root.
 *
 * Messages also carry "x-arrive-mono" (CLOCK_MONOTONIC ns at which the
 * gateway sent the request, passed along by every stage: the start of the
 * time to first token).
 *
 * Observability (stage_metrics.h, stage_log.h, stage_monitor.h): every
 * stage keeps its metrics (s->metrics, always there; served on
 * env->metrics_fd when the orchestrator gave one), appends JSON log lines
 * when cfg->log_path is set, and runs a monitor thread that injects the
 * faults aimed at it and samples its compute gauges. The shared helpers
 * record per data message: its inbound hop and handling time, requests,
 * errors, transport bytes, waiting and running requests; the stage kinds
 * add what only they know (tokens, time to first token, per-step latency,
 * KV cache use).
 *
 * Shared code (open, send, receive, close) lives in stage_common.c.
 * Threads: each stage is single-threaded (the tracer has its own export
 * thread, libmicrohttpd its server thread, the monitor its own). */
#ifndef SKEWSCOPE_STAGE_H
#define SKEWSCOPE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/stage_metrics.h"
#include "testbed/traceparent.h"
#include "testbed/tracer.h"
#include "testbed/transport.h"

struct pipeline_config;
struct stage_log;
struct stage_monitor;
struct stage_board;

enum stage_kind {
    STAGE_GATEWAY = 0,
    STAGE_TOKENIZER,
    STAGE_PREFILL,
    STAGE_DECODE,
    STAGE_DETOKENIZER,
};

/* What a stage process is told by the orchestrator. */
struct stage_env {
    const struct pipeline_config *cfg;
    enum stage_kind kind;
    unsigned rank;       /* STAGE_DECODE: 0..tp-1; STAGE_PREFILL: 0, or
                            replica + 1 with cfg->dp > 1 (stage_name) */
    const char *dir;     /* ipc directory (zmq channels, all-reduce) */
    const char *brokers; /* kafka bootstrap servers */
    const char *run_id;  /* names Kafka topics and consumer groups */
    int result_fd;       /* gateway: where results go; else -1 */
    int ready_fd;        /* other stages: one byte here once set up, then
                            closed (the gateway starts after all); or -1 */
    bool process_clock;  /* record the process clock (under libfaketime) */
    int64_t skew_ns;     /* else: injected offset, + = ahead */
    double drift_ppm;    /* injected drift, + = fast */
    int metrics_fd;      /* listening socket for /metrics, or -1 */
};

/* A running stage (stage_common.c). */
struct stage {
    const struct stage_env *env;
    char name[32]; /* "decode-1" */
    struct transport *tr;
    struct tracer *tracer;         /* NULL: tracing off */
    const char *system;            /* messaging.system: "zeromq" or "kafka" */
    bool rpc;                      /* cfg->hops == PIPELINE_HOPS_RPC */
    struct transport *reply_tr;    /* RPC callers: receives reply.<name>; may
                                      be tr itself (gateway) */
    char reply_ch[48];             /* "reply.<name>" */
    struct stage_metrics *metrics; /* never NULL once running */
    struct stage_log *log;         /* NULL: no log */
    struct stage_monitor *monitor; /* NULL: none */
    struct stage_board *board;     /* NULL: none */
    int64_t arrive_ns;             /* gateway send time of the request in hand
                                      (monotonic ns): sent on as "x-arrive-mono" */
};

/* A received message. `m` points into the transport (valid until the next
 * stage_recv). */
struct stage_msg {
    struct transport_msg m;
    struct traceparent tp;
    bool stop;
    unsigned request;
    bool traced;       /* tp is valid */
    char reply_to[64]; /* RPC request: the caller's reply channel, else "" */
    int64_t sent_ns;   /* its "x-sent-mono" (monotonic ns), or 0 */
    int64_t begin_ns;  /* when its handling began (after the hold) */
};

/* One outstanding RPC of a caller (stage_rpc.c). The reply payload is
 * copied into buf (cap bytes, owned by the caller; NULL when the payload
 * is not wanted) and its length set in len. */
struct stage_call {
    char channel[32]; /* callee's request channel */
    unsigned request;
    struct tracer_span client;
    bool done;
    void *buf;
    size_t cap, len;
};

/* What the gateway writes to result_fd when every request completed:
 * this header, then requests * max_new token bytes in request order. */
struct stage_report {
    uint32_t requests;
    uint32_t max_new;
    int64_t wall_ns; /* first request sent .. last response (monotonic) */
};

/* Stage name of kind/rank into out ("decode-1"); returns out. Prefill:
 * rank 0 is the one stage "prefill"; with --dp replicas rank K + 1 is
 * "prefill-K". */
const char *stage_name(enum stage_kind kind, unsigned rank, char *out,
                       size_t outlen);
/* Parse a stage name; 0 or -1 (unknown, or rank >= tp). */
int stage_parse_name(const char *name, unsigned tp, enum stage_kind *kind,
                     unsigned *rank);

/* Run the stage env describes until it gets a stop message. Returns 0, or
 * -1 with a message in err (errlen bytes). */
int stage_main(const struct stage_env *env, char *err, size_t errlen);

/* SIGTERM/SIGINT set a flag that stage_recv() checks (call once). */
void stage_install_signals(void);
/* True once SIGTERM or SIGINT arrived after stage_install_signals(). */
bool stage_stop_requested(void);

/* A new transport of the run for stage s (Kafka group and client name
 * "<run>-<stage>[-role]"). NULL with err on failure. */
struct transport *stage_transport_create(struct stage *s, const char *role,
                                         char *err, size_t errlen);
/* Open transport and tracer and subscribe to channels. 0 or -1 (err). */
int stage_open(struct stage *s, const struct stage_env *env,
               const char *const *channels, size_t nchannels, char *err,
               size_t errlen);
/* Close transport (lingering for queued messages) and tracer. Returns 0,
 * or -1 (err) when spans could not be exported. */
int stage_close(struct stage *s, char *err, size_t errlen);

/* Wait for the next message (bounded by cfg->timeout_ms, and by a signal),
 * then hold it until the hop delay after its send time has passed. For a
 * data message begin `consumer` (CONSUMER, parent = the sender's PRODUCER;
 * for an RPC request a SERVER span, parent = the caller's CLIENT).
 * Returns 0, or -1 (err: timeout, signal, transport error, bad headers). */
int stage_recv(struct stage *s, struct stage_msg *out,
               struct tracer_span *consumer, char *err, size_t errlen);

/* The pieces of stage_recv, shared with stage_rpc.c: wait for a message on
 * transport tr (bounded by cfg->timeout_ms and by a signal; 0 or -1 with
 * err), and hold a received message until the hop delay after its
 * "x-sent-mono" has passed (a relative-sleep loop on CLOCK_MONOTONIC:
 * libfaketime 0.9.10 turns an absolute clock_nanosleep into no sleep).
 * stage_hold returns the link's delay for this message (ns: --hop-delay
 * plus an open network fault's delay and jitter; 0 without
 * "x-sent-mono"), what a network probe would measure, queueing at the
 * stage not included. */
int stage_wait_msg(struct stage *s, struct transport *tr,
                   struct transport_msg *m, char *err, size_t errlen);
int64_t stage_hold(struct stage *s, const struct transport_msg *m);
/* CLOCK_MONOTONIC now, ns (not faked by libfaketime here). */
int64_t stage_mono_ns(void);

/* Bytes of a message on the wire as the metrics count them: payload plus
 * header keys and values. */
size_t stage_msg_bytes(const struct transport_msg *m);

/* Send payload on channel inside a PRODUCER span (child of parent) with
 * the standard headers plus extra ones. Returns 0 or -1 (err). */
int stage_send(struct stage *s, const char *channel,
               const struct tracer_span *parent, unsigned request,
               const void *payload, size_t len,
               const struct transport_header *extra, size_t nextra, char *err,
               size_t errlen);
/* Account a data message sent on channel (transport bytes, and the
 * receiving stage's waiting count on the board). */
void stage_sent(struct stage *s, const char *channel,
                const struct transport_msg *m);
/* Account a data message handled with result rc (its duration from the
 * upstream send, requests, errors) and log it. */
void stage_handled(struct stage *s, const struct stage_msg *msg, int rc,
                   const char *err);

/* Send a stop message (no span). 0 or -1 (err). */
int stage_send_stop(struct stage *s, const char *channel, char *err,
                    size_t errlen);

/* Handles one data message; `consumer` is its open CONSUMER (RPC: SERVER)
 * span, ended by stage_serve. An RPC handler replies with stage_reply()
 * before it returns. Returns 0 or -1 (err). */
typedef int (*stage_handler_fn)(struct stage *s, void *ctx,
                                const struct stage_msg *msg,
                                struct tracer_span *consumer, char *err,
                                size_t errlen);

/* The loop of a relay stage: receive, handle, until a stop message, which
 * is forwarded to each channel of stop_to before returning 0. Returns -1
 * (err) when receiving or the handler fails. */
int stage_serve(struct stage *s, stage_handler_fn fn, void *ctx,
                const char *const *stop_to, size_t nstop, char *err,
                size_t errlen);

/* Tell the orchestrator this stage is set up (env->ready_fd; once). */
void stage_ready(struct stage *s);

/* Span helpers: no-ops when tracing is off (s->tracer == NULL). parent
 * NULL (or tracing off) begins a root span of a new trace. */
void stage_span_begin(struct stage *s, struct tracer_span *sp, const char *name,
                      enum span_kind kind, const struct tracer_span *parent);
void stage_span_end(struct stage *s, struct tracer_span *sp);
void stage_span_attr(struct stage *s, struct tracer_span *sp, const char *key,
                     const char *value);
/* Begin an INTERNAL span child of parent. */
void stage_span_internal(struct stage *s, struct tracer_span *sp,
                         const char *name, const struct tracer_span *parent);
/* The traceparent header value for sp into buf; false when tracing off. */
bool stage_span_traceparent(const struct stage *s, const struct tracer_span *sp,
                            char buf[TRACEPARENT_LEN + 1]);

/* ---- RPC hops (stage_rpc.c) ---- */

/* The relay step of tokenizer and decode-0: stage_forward() msg's request
 * to channel, and in RPC mode reply to msg's caller with the callee's reply
 * (at most cfg->max_new bytes: the generated text). 0 or -1 (err). */
int stage_relay(struct stage *s, const struct stage_msg *msg,
                const char *channel, const struct tracer_span *parent,
                const void *payload, size_t plen, char *err, size_t errlen);

/* Open the reply transport of an RPC caller (subscribed to reply_ch).
 * Returns 0 or -1 (err). */
int stage_rpc_open(struct stage *s, char *err, size_t errlen);
void stage_rpc_close(struct stage *s);
/* Begin the SERVER span of an RPC request that arrived on channel, child of
 * the caller's CLIENT span `parent` (no-op when tracing is off). */
void stage_rpc_server_span(struct stage *s, struct tracer_span *sp,
                           const char *channel,
                           const struct tracer_span *parent);

/* Begin call c: a CLIENT span (child of parent) named after the callee,
 * the request sent on channel with the standard headers plus extra ones.
 * c->buf/cap must be set by the caller. Returns 0 or -1 (err). */
int stage_call_send(struct stage *s, struct stage_call *c, const char *channel,
                    const struct tracer_span *parent, unsigned request,
                    const void *payload, size_t len,
                    const struct transport_header *extra, size_t nextra,
                    char *err, size_t errlen);
/* Wait until every call of calls[0..n) has its reply (each held until the
 * hop delay after its send), ending each CLIENT span as its reply is
 * taken. Returns 0, or -1 (err: timeout, signal, unexpected reply, reply
 * larger than the call's cap). */
int stage_call_wait(struct stage *s, struct stage_call *calls, size_t n,
                    char *err, size_t errlen);
/* Wait for the reply of any one of calls[0..n) and return its index in
 * *which (the gateway's window). Returns 0 or -1 (err). */
int stage_call_wait_any(struct stage *s, struct stage_call *calls, size_t n,
                        size_t *which, char *err, size_t errlen);
/* Reply to RPC request msg with payload. Returns 0 or -1 (err). */
int stage_reply(struct stage *s, const struct stage_msg *msg,
                const void *payload, size_t len, char *err, size_t errlen);

/* Hand a request on to channel: one-way, a PRODUCER send (reply ignored);
 * RPC, a call and its reply (copied into buf, cap bytes; *len set). The
 * relay stages' common step. Returns 0 or -1 (err). */
int stage_forward(struct stage *s, const char *channel,
                  const struct tracer_span *parent, unsigned request,
                  const void *payload, size_t plen, void *buf, size_t cap,
                  size_t *len, char *err, size_t errlen);

/* The stages (one file each, or a few). */
int stage_gateway_run(struct stage *s, char *err, size_t errlen);
int stage_tokenizer_run(struct stage *s, char *err, size_t errlen);
int stage_prefill_run(struct stage *s, char *err, size_t errlen);
int stage_decode_run(struct stage *s, char *err, size_t errlen);
int stage_detokenizer_run(struct stage *s, char *err, size_t errlen);

/* The model config of a run (llm_config_default with cfg's overrides and a
 * max_seq that fits prompt + max_new). */
struct llm_config;
void stage_model_config(const struct pipeline_config *cfg,
                        struct llm_config *out);

#endif
