/* stage_decode: one tensor-parallel decode rank of the testbed pipeline
 * (stage.h). It imports its KV slice from prefill, then steps in lockstep
 * with the other ranks, which it meets in an all-reduce (allreduce_zmq)
 * twice per layer per step; rank 0 sends the generated tokens (prefill's
 * first token, then max_new - 1 decoded ones) on to the detokenizer. The
 * ranks receive the same requests in the same order from prefill, so they
 * always agree on what they are decoding. In RPC mode rank 0 calls the
 * detokenizer and replies with its text; the other ranks reply empty. */
#include "testbed/stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/allreduce_zmq.h"
#include "testbed/llm.h"
#include "testbed/pipeline.h"

struct decode_ctx {
    struct llm_config mc;
    struct llm *m;
    struct llm_kv *kv;
    struct allreduce *ar;
    int *tokens; /* max_new */
    float *slice;
    /* the all-reduce callback's span context */
    struct stage *s;
    const struct tracer_span *step;
};

/* llm_allreduce_fn: allreduce_sum inside an INTERNAL span. */
static int traced_allreduce(void *ctx, float *buf, size_t n)
{
    struct decode_ctx *d = ctx;
    struct tracer_span sp;

    stage_span_internal(d->s, &sp, "allreduce", d->step);
    int rc = allreduce_sum(d->ar, buf, n);
    /* rank 0 gathers every other rank's partial and sends each the sum */
    unsigned peers = d->s->env->rank == 0 ? d->s->env->cfg->tp - 1 : 1;
    stage_metrics_add(&d->s->metrics->tx_bytes, n * sizeof(float) * peers);
    stage_metrics_add(&d->s->metrics->rx_bytes, n * sizeof(float) * peers);
    if (rc < 0)
        stage_span_attr(d->s, &sp, "error", allreduce_errstr(d->ar));
    stage_span_end(d->s, &sp);
    return rc < 0 ? -1 : 0;
}

static int import_slice(struct decode_ctx *d, const struct stage_msg *msg,
                        char *err, size_t errlen)
{
    const char *slen = transport_msg_header(&msg->m, "x-len");
    const char *sfirst = transport_msg_header(&msg->m, "x-first");
    size_t len = slen ? strtoul(slen, NULL, 10) : 0;
    size_t nf = llm_kv_slice_floats(&d->mc, d->s->env->cfg->tp, len);

    if (!sfirst || len == 0 || len > d->mc.max_seq ||
        msg->m.payload_len != nf * sizeof(float)) {
        snprintf(err, errlen, "request %u: malformed KV slice", msg->request);
        return -1;
    }
    memcpy(d->slice, msg->m.payload, nf * sizeof(float));
    if (llm_kv_import(d->kv, d->slice, nf, len) != 0) {
        snprintf(err, errlen, "request %u: KV import failed", msg->request);
        return -1;
    }
    d->tokens[0] = atoi(sfirst);
    return 0;
}

static int decode_one(struct stage *s, void *ctx, const struct stage_msg *msg,
                      struct tracer_span *consumer, char *err, size_t errlen)
{
    struct decode_ctx *d = ctx;
    unsigned max_new = s->env->cfg->max_new;
    struct tracer_span sp;
    int rc = 0;

    stage_engine_begin(s->metrics, stage_mono_ns());
    if (import_slice(d, msg, err, errlen) < 0)
        return -1;
    d->step = &sp;
    for (unsigned i = 1; i < max_new && rc == 0; i++) {
        int64_t t0 = stage_mono_ns();
        stage_span_internal(s, &sp, "decode step", consumer);
        rc = llm_decode_step(d->m, d->kv, d->tokens[i - 1], traced_allreduce, d,
                             &d->tokens[i]);
        stage_span_end(s, &sp);
        stage_hist_observe(&s->metrics->itl, stage_mono_ns() - t0);
        stage_metrics_add(&s->metrics->tokens, 1);
        atomic_store_explicit(&s->metrics->kv_usage,
                              (double)llm_kv_len(d->kv) / d->mc.max_seq,
                              memory_order_relaxed);
    }
    /* the engine's work on this request is done; relaying the tokens is
     * the host's */
    stage_engine_end(s->metrics, stage_mono_ns());
    if (rc != 0) {
        snprintf(err, errlen, "request %u: decode: %s (%s)", msg->request,
                 llm_strerror(rc), allreduce_errstr(d->ar));
        return -1;
    }
    if (s->env->rank != 0)
        return s->rpc ? stage_reply(s, msg, "", 0, err, errlen) : 0;
    return stage_relay(s, msg, "detokenize", consumer, d->tokens,
                       max_new * sizeof(int), err, errlen);
}

static int decode_setup(struct stage *s, struct decode_ctx *d, char *err,
                        size_t errlen)
{
    const struct pipeline_config *cfg = s->env->cfg;

    d->s = s;
    stage_model_config(cfg, &d->mc);
    d->m = llm_create(&d->mc, s->env->rank, cfg->tp, err, errlen);
    if (!d->m)
        return -1;
    d->kv = llm_kv_create(d->m);
    d->tokens = calloc(cfg->max_new ? cfg->max_new : 1, sizeof(int));
    d->slice = malloc(llm_kv_slice_floats(&d->mc, cfg->tp, d->mc.max_seq) *
                      sizeof(float));
    if (!d->kv || !d->tokens || !d->slice) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->ar = allreduce_create(s->env->dir, s->env->rank, cfg->tp, err, errlen);
    if (!d->ar)
        return -1;
    allreduce_set_timeout_ms(d->ar, (int)cfg->timeout_ms);
    return 0;
}

int stage_decode_run(struct stage *s, char *err, size_t errlen)
{
    static const char *const next[] = {"detokenize"};
    struct decode_ctx d;
    int rc = -1;

    memset(&d, 0, sizeof d);
    if (decode_setup(s, &d, err, errlen) == 0)
        rc = stage_serve(s, decode_one, &d, next, s->env->rank == 0 ? 1 : 0,
                         err, errlen);
    allreduce_destroy(d.ar);
    free(d.slice);
    free(d.tokens);
    llm_kv_destroy(d.kv);
    llm_destroy(d.m);
    return rc;
}
