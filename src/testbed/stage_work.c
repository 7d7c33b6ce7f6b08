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
#include "testbed/stage_board.h"

/* ---- tokenizer ---- */

/* The share of the requests a route-skew fault whose window is open sends
 * to prefill-0, or -1 (none open). */
static double route_share(const struct stage *s)
{
    const struct pipeline_config *cfg = s->env->cfg;
    int64_t now = stage_mono_ns();

    for (size_t i = 0; s->board && i < cfg->nfaults; i++) {
        int64_t a = atomic_load_explicit(&s->board->fault_start_ns[i],
                                         memory_order_relaxed);
        int64_t b = atomic_load_explicit(&s->board->fault_end_ns[i],
                                         memory_order_relaxed);

        if (cfg->faults[i].kind == PIPELINE_FAULT_ROUTE_SKEW && a && now >= a &&
            now < b)
            return cfg->faults[i].amount;
    }
    return -1;
}

/* The router of the --dp prefill replicas: round robin, or under a
 * route-skew fault `share` of the requests to prefill-0 and the rest
 * round robin over the others (a hash of the request number decides, so
 * a run routes the same way each time). */
static unsigned route(const struct stage *s, unsigned request)
{
    unsigned dp = s->env->cfg->dp;
    double share = route_share(s);

    if (share < 0)
        return request % dp;
    uint64_t x = (uint64_t)request * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    if ((double)(x >> 11) * 0x1.0p-53 < share)
        return 0;
    return 1 + request % (dp - 1);
}

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
    char ch[32] = "prefill";
    if (s->env->cfg->dp > 1)
        snprintf(ch, sizeof ch, "prefill.%u", route(s, msg->request));
    rc =
        stage_relay(s, msg, ch, consumer, tokens, n * sizeof(int), err, errlen);
    free(tokens);
    return rc;
}

int stage_tokenizer_run(struct stage *s, char *err, size_t errlen)
{
    static const char *const one[] = {"prefill"};
    static const char *const replicas[PIPELINE_MAX_DP] = {
        "prefill.0", "prefill.1", "prefill.2", "prefill.3"};
    unsigned dp = s->env->cfg->dp;

    return stage_serve(s, tokenize_one, NULL, dp > 1 ? replicas : one,
                       dp > 1 ? dp : 1, err, errlen);
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
