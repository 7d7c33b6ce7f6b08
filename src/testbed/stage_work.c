/* stage_work: the relay stages of the testbed pipeline (stage.h):
 * tokenizer (prompt bytes -> tokens), prefill (whole-model prefill, then one
 * KV slice per decode rank) and detokenizer (tokens -> bytes for the
 * gateway). Payloads: "prefill" and "detokenize" carry native ints (the
 * stages share one host), "decode.R" carries the rank's KV slice (floats)
 * with headers x-len (tokens cached) and x-first (prefill's next token).
 * In RPC mode each stage replies to its caller once its own call returned;
 * the reply is the generated text, from the detokenizer up. */
#include "testbed/stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/llm.h"
#include "testbed/pipeline.h"

/* ---- tokenizer ---- */

static int tokenize_one(struct stage *s, void *ctx, const struct stage_msg *msg,
                        struct tracer_span *consumer, char *err, size_t errlen)
{
    struct tracer_span sp;
    size_t n = msg->m.payload_len;
    int *tokens = malloc((n ? n : 1) * sizeof(int));
    int rc;

    (void)ctx;
    if (!tokens) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    stage_span_internal(s, &sp, "tokenize", consumer);
    llm_tokenize(msg->m.payload, n, tokens);
    stage_span_end(s, &sp);
    rc = stage_relay(s, msg, "prefill", consumer, tokens, n * sizeof(int), err,
                     errlen);
    free(tokens);
    return rc;
}

int stage_tokenizer_run(struct stage *s, char *err, size_t errlen)
{
    static const char *const next[] = {"prefill"};

    return stage_serve(s, tokenize_one, NULL, next, 1, err, errlen);
}

/* ---- prefill ---- */

struct prefill_ctx {
    struct llm_config mc;
    struct llm *m;
    struct llm_kv *kv;
    float *slice;
    unsigned tp;
    struct stage_call calls[PIPELINE_MAX_TP]; /* RPC */
    unsigned char *text;                      /* RPC: rank 0's reply */
};

/* One-way: a PRODUCER send per rank. RPC: a call per rank, all in flight
 * at once (the ranks meet in the all-reduce), then the reply to our caller
 * with rank 0's reply (the text). */
static int send_slices(struct stage *s, struct prefill_ctx *p,
                       const struct stage_msg *msg,
                       struct tracer_span *consumer, int first, char *err,
                       size_t errlen)
{
    size_t len = llm_kv_len(p->kv);
    size_t nf = llm_kv_slice_floats(&p->mc, p->tp, len);
    char ch[32], slen[24], sfirst[24];
    struct transport_header extra[] = {{"x-len", slen}, {"x-first", sfirst}};
    int rc;

    snprintf(slen, sizeof slen, "%zu", len);
    snprintf(sfirst, sizeof sfirst, "%d", first);
    for (unsigned r = 0; r < p->tp; r++) {
        if (llm_kv_export(p->kv, r, p->tp, p->slice, nf) != 0) {
            snprintf(err, errlen, "kv export for rank %u failed", r);
            return -1;
        }
        snprintf(ch, sizeof ch, "decode.%u", r);
        p->calls[r].buf = r == 0 ? p->text : NULL;
        p->calls[r].cap = r == 0 ? s->env->cfg->max_new : 0;
        rc = s->rpc ? stage_call_send(s, &p->calls[r], ch, consumer,
                                      msg->request, p->slice,
                                      nf * sizeof(float), extra, 2, err, errlen)
                    : stage_send(s, ch, consumer, msg->request, p->slice,
                                 nf * sizeof(float), extra, 2, err, errlen);
        if (rc < 0)
            return -1;
    }
    /* the KV is handed off: the engine is free for the next prompt (an
     * RPC's wait for the decode ranks' reply is not GPU work) */
    stage_engine_end(s->metrics, stage_mono_ns());
    if (!s->rpc)
        return 0;
    if (stage_call_wait(s, p->calls, p->tp, err, errlen) < 0)
        return -1;
    return stage_reply(s, msg, p->text, p->calls[0].len, err, errlen);
}

static int prefill_one(struct stage *s, void *ctx, const struct stage_msg *msg,
                       struct tracer_span *consumer, char *err, size_t errlen)
{
    struct prefill_ctx *p = ctx;
    struct tracer_span sp;
    size_t n = msg->m.payload_len / sizeof(int);
    int first = 0, rc;

    if (n == 0 || msg->m.payload_len % sizeof(int)) {
        snprintf(err, errlen, "request %u: bad token payload", msg->request);
        return -1;
    }
    /* the payload may be unaligned in the transport's buffer */
    int *tokens = malloc(n * sizeof(int));
    if (!tokens) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(tokens, msg->m.payload, n * sizeof(int));
    stage_engine_begin(s->metrics, stage_mono_ns());
    stage_span_internal(s, &sp, "prefill", consumer);
    llm_kv_reset(p->kv);
    rc = llm_prefill(p->m, p->kv, tokens, n, NULL, NULL, &first);
    stage_span_end(s, &sp);
    free(tokens);
    if (rc == 0) {
        stage_hist_observe(&s->metrics->ttft, stage_mono_ns() - s->arrive_ns);
        stage_metrics_add(&s->metrics->tokens, 1);
        atomic_store_explicit(&s->metrics->kv_usage,
                              (double)llm_kv_len(p->kv) / p->mc.max_seq,
                              memory_order_relaxed);
    }
    if (rc != 0) {
        snprintf(err, errlen, "request %u: prefill: %s", msg->request,
                 llm_strerror(rc));
        return -1;
    }
    return send_slices(s, p, msg, consumer, first, err, errlen);
}

int stage_prefill_run(struct stage *s, char *err, size_t errlen)
{
    const char *next[PIPELINE_MAX_TP];
    char names[PIPELINE_MAX_TP][24];
    struct prefill_ctx p = {.tp = s->env->cfg->tp};
    int rc = -1;

    stage_model_config(s->env->cfg, &p.mc);
    p.m = llm_create(&p.mc, 0, 1, err, errlen);
    p.kv = p.m ? llm_kv_create(p.m) : NULL;
    p.slice =
        malloc(llm_kv_slice_floats(&p.mc, p.tp, p.mc.max_seq) * sizeof(float));
    p.text = malloc(s->env->cfg->max_new + 1);
    if (!p.kv || !p.slice || !p.text) {
        if (p.m)
            snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    for (unsigned r = 0; r < p.tp; r++) {
        snprintf(names[r], sizeof names[r], "decode.%u", r);
        next[r] = names[r];
    }
    rc = stage_serve(s, prefill_one, &p, next, p.tp, err, errlen);
cleanup:
    free(p.text);
    free(p.slice);
    llm_kv_destroy(p.kv);
    llm_destroy(p.m);
    return rc;
}

/* ---- detokenizer ---- */

static int detokenize_one(struct stage *s, void *ctx,
                          const struct stage_msg *msg,
                          struct tracer_span *consumer, char *err,
                          size_t errlen)
{
    struct tracer_span sp;
    size_t n = msg->m.payload_len / sizeof(int);
    int *tokens = malloc((n ? n : 1) * sizeof(int));
    unsigned char *text = malloc(n ? n : 1);
    int rc = -1;

    (void)ctx;
    if (!tokens || !text) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    memcpy(tokens, msg->m.payload, n * sizeof(int));
    stage_span_internal(s, &sp, "detokenize", consumer);
    rc = llm_detokenize(tokens, n, text);
    stage_span_end(s, &sp);
    if (rc != 0) {
        snprintf(err, errlen, "request %u: token out of range", msg->request);
        rc = -1;
        goto cleanup;
    }
    if (s->rpc)
        rc = stage_reply(s, msg, text, n, err, errlen);
    else
        rc = stage_send(s, "response", consumer, msg->request, text, n, NULL, 0,
                        err, errlen);
cleanup:
    free(text);
    free(tokens);
    return rc;
}

int stage_detokenizer_run(struct stage *s, char *err, size_t errlen)
{
    return stage_serve(s, detokenize_one, NULL, NULL, 0, err, errlen);
}
