/* stage: the pipeline stages of the testbed, one OS process each (see
 * testbed/pipeline.h for the orchestrator). Every stage opens one
 * transport and one tracer (its own clock domain, host.name =
 * "node-<stage>"), receives on its channel(s), records OpenTelemetry spans
 * and passes its result on:
 *
 *   gateway      sends "tokenize", receives "response"   (stage_gateway.c)
 *   tokenizer    "tokenize"   -> "prefill"               (stage_work.c)
 *   prefill      "prefill"    -> "decode.R" per rank     (stage_work.c)
 *   decode-R     "decode.R"   -> "detokenize" (rank 0)   (stage_decode.c)
 *   detokenizer  "detokenize" -> "response"              (stage_work.c)
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
 * Shared code (open, send, receive, close) lives in stage_common.c.
 * Threads: each stage is single-threaded (the tracer has its own export
 * thread). */
#ifndef SKEWSCOPE_STAGE_H
#define SKEWSCOPE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/traceparent.h"
#include "testbed/tracer.h"
#include "testbed/transport.h"

struct pipeline_config;

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
    unsigned rank;       /* STAGE_DECODE: 0..tp-1 */
    const char *dir;     /* ipc directory (zmq channels, all-reduce) */
    const char *brokers; /* kafka bootstrap servers */
    const char *run_id;  /* names Kafka topics and consumer groups */
    int result_fd;       /* gateway: where results go; else -1 */
    bool process_clock;  /* record the process clock (under libfaketime) */
    int64_t skew_ns;     /* else: injected offset, + = ahead */
    double drift_ppm;    /* injected drift, + = fast */
};

/* A running stage (stage_common.c). */
struct stage {
    const struct stage_env *env;
    char name[32]; /* "decode-1" */
    struct transport *tr;
    struct tracer *tracer;
    const char *system; /* messaging.system: "zeromq" or "kafka" */
};

/* A received message. `m` points into the transport (valid until the next
 * stage_recv). */
struct stage_msg {
    struct transport_msg m;
    struct traceparent tp;
    bool stop;
    unsigned request;
};

/* What the gateway writes to result_fd when every request completed:
 * this header, then requests * max_new token bytes in request order. */
struct stage_report {
    uint32_t requests;
    uint32_t max_new;
    int64_t wall_ns; /* first request sent .. last response (monotonic) */
};

/* Stage name of kind/rank into out ("decode-1"); returns out. */
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

/* Open transport and tracer and subscribe to channels. 0 or -1 (err). */
int stage_open(struct stage *s, const struct stage_env *env,
               const char *const *channels, size_t nchannels, char *err,
               size_t errlen);
/* Close transport (lingering for queued messages) and tracer. Returns 0,
 * or -1 (err) when spans could not be exported. */
int stage_close(struct stage *s, char *err, size_t errlen);

/* Wait for the next message (bounded by cfg->timeout_ms, and by a signal),
 * then hold it until the hop delay after its send time has passed. For a
 * data message begin `consumer` (CONSUMER, parent = the sender's PRODUCER).
 * Returns 0, or -1 (err: timeout, signal, transport error, bad headers). */
int stage_recv(struct stage *s, struct stage_msg *out,
               struct tracer_span *consumer, char *err, size_t errlen);

/* Send payload on channel inside a PRODUCER span (child of parent) with
 * the standard headers plus extra ones. Returns 0 or -1 (err). */
int stage_send(struct stage *s, const char *channel,
               const struct tracer_span *parent, unsigned request,
               const void *payload, size_t len,
               const struct transport_header *extra, size_t nextra, char *err,
               size_t errlen);
/* Send a stop message (no span). 0 or -1 (err). */
int stage_send_stop(struct stage *s, const char *channel, char *err,
                    size_t errlen);

/* Handles one data message; `consumer` is its open CONSUMER span (ended by
 * stage_serve). Returns 0 or -1 (err). */
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

/* Begin an INTERNAL span child of parent. */
void stage_span_internal(struct stage *s, struct tracer_span *sp,
                         const char *name, const struct tracer_span *parent);

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
