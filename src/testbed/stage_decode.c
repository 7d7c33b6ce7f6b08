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
#include "testbed/stage_board.h"
#include "testbed/stage_monitor.h"

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
    int64_t wait_ns; /* this step's time inside all-reduce calls */
    size_t slice_floats, slice_len; /* the imported slice (recompute) */
};

/* llm_allreduce_fn: allreduce_sum inside an INTERNAL span. */
static int traced_allreduce(void *ctx, float *buf, size_t n)
{
    struct decode_ctx *d = ctx;
    struct tracer_span sp;

    stage_span_internal(d->s, &sp, "allreduce", d->step);
    int64_t t0 = stage_mono_ns();
    int rc = allreduce_sum(d->ar, buf, n);
    d->wait_ns += stage_mono_ns() - t0;
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
    d->slice_floats = nf;
    d->slice_len = len;
    if (llm_kv_import(d->kv, d->slice, nf, len) != 0) {
        snprintf(err, errlen, "request %u: KV import failed", msg->request);
        return -1;
    }
    d->tokens[0] = atoi(sfirst);
    return 0;
}

/* The KV budget (tokens) of the kv-budget fault whose window holds the
 * request's gateway send time, or 0. Every rank decides from the same
 * x-arrive-mono, so the TP group preempts in lockstep. */
static size_t kv_budget(const struct decode_ctx *d, size_t need)
{
    const struct stage *s = d->s;
    const struct pipeline_config *cfg = s->env->cfg;

    for (size_t i = 0; s->board && i < cfg->nfaults; i++) {
        const struct pipeline_fault *f = &cfg->faults[i];
        int64_t a = atomic_load_explicit(&s->board->fault_start_ns[i],
                                         memory_order_relaxed);
        int64_t b = atomic_load_explicit(&s->board->fault_end_ns[i],
                                         memory_order_relaxed);

        if (f->kind == PIPELINE_FAULT_KV_BUDGET && a && s->arrive_ns >= a &&
            s->arrive_ns < b) {
            size_t budget = (size_t)(f->amount * (double)need);
            return budget ? budget : 1;
        }
    }
    return 0;
}

/* Decode step i (token i from token i - 1) with its span and metrics;
 * `count`: it produces a token (not a recompute, not a stopped
 * sequence's padding). */
static int one_step(struct decode_ctx *d, struct tracer_span *consumer,
                    unsigned i, bool count)
{
    struct stage *s = d->s;
    struct tracer_span sp;
    struct llm_compute_totals c0, c1;
    int64_t t0 = stage_mono_ns();
    int rc;

    d->step = &sp;
    d->wait_ns = 0;
    llm_compute_totals(&c0);
    stage_span_internal(s, &sp, "decode step", consumer);
    rc = llm_decode_step(d->m, d->kv, d->tokens[i - 1], traced_allreduce, d,
                         &d->tokens[i]);
    stage_span_end(s, &sp);
    llm_compute_totals(&c1);
    int64_t itl_ns = stage_mono_ns() - t0;
    /* The step as the stand-in GPU times it (CUDA events around the
     * step): its kernels and its collectives (wall time from arrival to
     * release). A kernel takes its multiply-adds at the GPU's rate,
     * STAGE_KERNEL_MACS_PER_US at the boost clock, times the throttle's
     * and a heavier load's stretch (llm.h), as a GPU's kernel time
     * follows its work and its clock. Measured on the host instead (CPU
     * time or wall time), a rank's ~20 us of compute moves by 25% or
     * more with whatever shares its core on this 2-CPU machine, for
     * seconds at a time: noise no GPU has, and a false straggler. */
    double stretch = llm_workload() / llm_throttle();
    int64_t kernel_ns = (int64_t)((double)(c1.macs - c0.macs) * 1e3 /
                                  STAGE_KERNEL_MACS_PER_US * stretch);
    stage_metrics_decode_step(s->metrics, itl_ns, kernel_ns + d->wait_ns,
                              d->wait_ns);
    if (count)
        stage_metrics_add(&s->metrics->tokens, 1);
    return rc;
}

/* Preemption by recompute (vLLM's default): the request's cache is
 * dropped and rebuilt, here from the prefill slice and the steps 1..i-1
 * done so far, redone in lockstep with the peers. */
static int preempt(struct decode_ctx *d, struct tracer_span *consumer,
                   unsigned i)
{
    int rc = 0;

    stage_metrics_add(&d->s->metrics->preemptions, 1);
    if (llm_kv_import(d->kv, d->slice, d->slice_floats, d->slice_len) != 0)
        return -1;
    for (unsigned k = 1; k < i && rc == 0; k++)
        rc = one_step(d, consumer, k, false);
    return rc;
}

static int decode_one(struct stage *s, void *ctx, const struct stage_msg *msg,
                      struct tracer_span *consumer, char *err, size_t errlen)
{
    struct decode_ctx *d = ctx;
    unsigned max_new = s->env->cfg->max_new;
    int rc = 0;

    stage_engine_begin(s->metrics, stage_mono_ns());
    if (import_slice(d, msg, err, errlen) < 0)
        return -1;
    /* early-stop: this rank's sequences end after their first token; it
     * keeps stepping with its peers (padding) and produces nothing */
    bool stopped = stage_monitor_in_window(
        s->monitor, PIPELINE_FAULT_EARLY_STOP, stage_mono_ns());
    size_t budget = kv_budget(d, d->slice_len + max_new);
    bool preempted = false;
    for (unsigned i = 1; i < max_new && rc == 0; i++) {
        if (budget && !preempted && llm_kv_len(d->kv) + 1 > budget) {
            preempted = true;
            rc = preempt(d, consumer, i);
            if (rc != 0)
                break;
        }
        rc = one_step(d, consumer, i, !stopped);
        double use = budget ? (double)llm_kv_len(d->kv) / (double)budget
                            : (double)llm_kv_len(d->kv) / d->mc.max_seq;
        atomic_store_explicit(&s->metrics->kv_usage, use < 1 ? use : 1.0,
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

/* ---- request order across --dp prefill replicas ----
 * Each replica sends its requests' slices to every rank, and a rank's
 * channel interleaves the replicas' messages in no fixed order; the ranks
 * meet in every all-reduce, so they must decode the same request at the
 * same time. They take requests in request order (the gateway numbers
 * them 0, 1, ...), holding copies of those that arrive early. */

#define HOLD_MAX 64

struct held {
    bool used;
    struct stage_msg msg; /* payload and header strings in buf */
    struct tracer_span consumer;
    char *buf;
};

static char *put_str(char **p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *at = *p;

    memcpy(at, s, n);
    *p += n;
    return at;
}

static int hold_copy(struct held *h, const struct stage_msg *msg,
                     const struct tracer_span *consumer)
{
    const struct transport_msg *m = &msg->m;
    size_t need = m->payload_len + 1 + (m->channel ? strlen(m->channel) : 0);
    char *p;

    for (size_t i = 0; i < m->nheaders; i++)
        need += strlen(m->headers[i].key) + strlen(m->headers[i].value) + 2;
    if (!(h->buf = malloc(need + 1)))
        return -1;
    h->msg = *msg;
    memcpy(h->buf, m->payload, m->payload_len);
    h->msg.m.payload = h->buf;
    p = h->buf + m->payload_len;
    h->msg.m.channel = m->channel ? put_str(&p, m->channel) : NULL;
    for (size_t i = 0; i < m->nheaders; i++) {
        h->msg.m.headers[i].key = put_str(&p, m->headers[i].key);
        h->msg.m.headers[i].value = put_str(&p, m->headers[i].value);
    }
    h->consumer = *consumer;
    h->used = true;
    return 0;
}

/* stage_serve's step for one message (taken now or held). */
static int handle(struct stage *s, struct decode_ctx *d,
                  const struct stage_msg *msg, struct tracer_span *consumer,
                  char *err, size_t errlen)
{
    const char *arrive = transport_msg_header(&msg->m, "x-arrive-mono");

    if (arrive) /* stage_recv set it from the message received last */
        s->arrive_ns = strtoll(arrive, NULL, 10);
    atomic_store_explicit(&s->metrics->running, 1, memory_order_relaxed);
    int rc = decode_one(s, d, msg, consumer, err, errlen);
    stage_engine_end(s->metrics, stage_mono_ns());
    stage_span_end(s, consumer);
    atomic_store_explicit(&s->metrics->running, 0, memory_order_relaxed);
    stage_handled(s, msg, rc, err);
    return rc;
}

/* Take the held message of request `next`, if any, into *out (the caller
 * frees out->buf). */
static bool take_held(struct held *held, unsigned next, struct held *out)
{
    for (size_t i = 0; i < HOLD_MAX; i++)
        if (held[i].used && held[i].msg.request == next) {
            *out = held[i];
            held[i].used = false;
            return true;
        }
    return false;
}

static int hold(struct held *held, const struct stage_msg *msg,
                const struct tracer_span *consumer, unsigned next, char *err,
                size_t errlen)
{
    if (msg->request < next) {
        snprintf(err, errlen, "request %u arrived twice", msg->request);
        return -1;
    }
    for (size_t i = 0; i < HOLD_MAX; i++)
        if (!held[i].used)
            return hold_copy(&held[i], msg, consumer) == 0 ? 0 : -1;
    snprintf(err, errlen, "more than %d requests ahead of request %u", HOLD_MAX,
             next);
    return -1;
}

/* The loop of a rank with cfg->dp prefill replicas: requests in request
 * order; a stop from every replica ends it. */
static int serve_in_order(struct stage *s, struct decode_ctx *d, char *err,
                          size_t errlen)
{
    struct held held[HOLD_MAX], h;
    unsigned next = 0, stops = 0, dp = s->env->cfg->dp;
    int rc = 0;

    memset(held, 0, sizeof held);
    stage_ready(s);
    while (rc == 0) {
        struct stage_msg msg;
        struct tracer_span consumer;

        if (take_held(held, next, &h)) {
            rc = handle(s, d, &h.msg, &h.consumer, err, errlen);
            free(h.buf);
            next++;
            continue;
        }
        if (stops == dp)
            break;
        if ((rc = stage_recv(s, &msg, &consumer, err, errlen)) < 0)
            break;
        if (msg.stop)
            stops++;
        else if (msg.request == next) {
            rc = handle(s, d, &msg, &consumer, err, errlen);
            next++;
        } else {
            rc = hold(held, &msg, &consumer, next, err, errlen);
        }
    }
    for (size_t i = 0; i < HOLD_MAX; i++)
        if (held[i].used) {
            if (rc == 0)
                snprintf(err, errlen, "request %u never arrived", next);
            rc = -1;
            free(held[i].buf);
        }
    if (rc == 0 && s->env->rank == 0)
        rc = stage_send_stop(s, "detokenize", err, errlen);
    return rc < 0 ? -1 : 0;
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
        rc = s->env->cfg->dp > 1
                 ? serve_in_order(s, &d, err, errlen)
                 : stage_serve(s, decode_one, &d, next,
                               s->env->rank == 0 ? 1 : 0, err, errlen);
    allreduce_destroy(d.ar);
    free(d.slice);
    free(d.tokens);
    llm_kv_destroy(d.kv);
    llm_destroy(d.m);
    return rc;
}
