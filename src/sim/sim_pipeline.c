/* sim_pipeline: one inference request as spans in true time.
 *
 * gateway SERVER root -> hop -> tokenizer [tokenize] -> hop -> prefill
 * [prefill] -> one hop per decode rank -> decode ranks in lockstep
 * ([decode.step [allreduce]] x steps) -> rank 0 -> hop -> detokenizer
 * [detokenize] -> (oneway) hop -> gateway, which ends the root span.
 *
 * A hop is PRODUCER/CONSUMER (oneway: the sender continues once its short
 * PRODUCER span ends) or CLIENT/SERVER (rpc: the CLIENT span lasts until the
 * response arrives, so the loop closes through the chain of responses).
 * Every latency is hop_min + Exponential(hop_jitter). */
#include "sim/sim_private.h"

#include <string.h>

#include "model/span_store.h"

#define US 1000LL
#define MS 1000000LL

typedef int64_t (*sim_stage_fn)(struct sim *s, int recv, int64_t t);

static int64_t rnd(struct sim *s, int64_t lo, int64_t hi)
{
    return sim_rng_range(&s->rng, lo, hi);
}

static int64_t hop_latency(struct sim *s)
{
    return s->cfg->hop_min_ns +
           sim_rng_exp(&s->rng, (double)s->cfg->hop_jitter_ns);
}

static struct sim_span *at(struct sim *s, int idx)
{
    return &s->req.spans[idx];
}

/* Append a span; on overflow (a sizing bug) flag oom and reuse the last
 * slot so that callers never write out of bounds. */
static int span_open(struct sim *s, int node, int kind, const char *name,
                     int parent, int64_t start)
{
    struct sim_req *r = &s->req;
    struct sim_span *sp;
    uint64_t id;

    if (r->n == r->cap) {
        r->oom = true;
        r->n--;
    }
    sp = &r->spans[r->n];
    do
        id = sim_rng_next(&s->rng);
    while (id == 0);
    sp->span_id = id;
    sp->parent = parent;
    sp->link = -1;
    sp->node = node;
    sp->kind = kind;
    sp->name = name;
    sp->start = sp->end = start;
    sp->nattrs = sp->nevents = 0;
    return (int)r->n++;
}

static void add_attr(struct sim *s, int idx, const char *key, const char *v)
{
    struct sim_span *sp = at(s, idx);

    if (sp->nattrs < SIM_MAX_ATTRS)
        sp->attrs[sp->nattrs++] = (struct span_kv){key, v};
}

static void add_event(struct sim *s, int idx, const char *name, int64_t t)
{
    struct sim_span *sp = at(s, idx);

    if (sp->nevents < SIM_MAX_EVENTS)
        sp->events[sp->nevents++] = (struct span_event_desc){name, t};
}

/* An INTERNAL child of `parent` on the same node; returns its end. */
static int64_t internal(struct sim *s, int parent, const char *name,
                        int64_t start, int64_t dur, int *idx_out)
{
    int idx = span_open(s, at(s, parent)->node, SPAN_KIND_INTERNAL, name,
                        parent, start);

    at(s, idx)->end = start + dur;
    if (idx_out)
        *idx_out = idx;
    return start + dur;
}

static int64_t setup(struct sim *s)
{
    return rnd(s, 10 * US, 50 * US);
}

static int64_t tail(struct sim *s)
{
    return rnd(s, 5 * US, 20 * US);
}

static void transport_attrs(struct sim *s, int idx, const struct sim_node *dst,
                            bool sending)
{
    if (s->cfg->transport == SIM_TRANSPORT_RPC) {
        add_attr(s, idx, "rpc.system", "grpc");
        add_attr(s, idx, "rpc.service", dst->rpc_service);
        add_attr(s, idx, "rpc.method", "Run");
        return;
    }
    add_attr(s, idx, "messaging.system", s->cfg->system);
    add_attr(s, idx, "messaging.destination.name", dst->topic);
    add_attr(s, idx, "messaging.operation.type",
             sending ? "publish" : "process");
}

/* Open both halves of a hop from the node of span `parent` to node `to`,
 * sent at true time t. The receiving span starts at the arrival. */
static void hop_open(struct sim *s, int parent, int to, int64_t t, int *send,
                     int *recv)
{
    const struct sim_node *dst = &s->nodes[to];
    bool rpc = s->cfg->transport == SIM_TRANSPORT_RPC;
    bool link = !rpc && s->cfg->links;
    int64_t arrive = t + hop_latency(s);

    *send = span_open(s, at(s, parent)->node,
                      rpc ? SPAN_KIND_CLIENT : SPAN_KIND_PRODUCER,
                      rpc ? dst->rpc_name : dst->publish, parent, t);
    if (!rpc)
        at(s, *send)->end = t + rnd(s, 5 * US, 100 * US);
    *recv = span_open(s, to, rpc ? SPAN_KIND_SERVER : SPAN_KIND_CONSUMER,
                      rpc ? dst->rpc_name : dst->process, link ? -1 : *send,
                      arrive);
    if (link)
        at(s, *recv)->link = *send;
    transport_attrs(s, *send, dst, true);
    transport_attrs(s, *recv, dst, false);
}

/* The receiving span ends at `done`. Returns when the sender continues:
 * oneway at the end of its PRODUCER span, rpc when the response arrives. */
static int64_t hop_close(struct sim *s, int send, int recv, int64_t done)
{
    at(s, recv)->end = done;
    if (s->cfg->transport == SIM_TRANSPORT_RPC)
        at(s, send)->end = done + hop_latency(s);
    return at(s, send)->end;
}

static int64_t hop_call(struct sim *s, int parent, int to, int64_t t,
                        sim_stage_fn stage)
{
    int send, recv;

    hop_open(s, parent, to, t, &send, &recv);
    return hop_close(s, send, recv, stage(s, recv, at(s, recv)->start));
}

static int64_t stage_gateway_response(struct sim *s, int recv, int64_t t)
{
    (void)recv;
    s->t_response = t;
    return t + rnd(s, 20 * US, 60 * US);
}

static int64_t stage_detokenizer(struct sim *s, int recv, int64_t t)
{
    t = internal(s, recv, "detokenize", t + setup(s),
                 rnd(s, 100 * US, 300 * US), NULL);
    if (s->cfg->transport == SIM_TRANSPORT_ONEWAY)
        t = hop_call(s, recv, SIM_GATEWAY, t, stage_gateway_response);
    return t + tail(s);
}

/* One decode step on every rank: compute, then an allreduce that ends on
 * all ranks when the slowest rank has joined. t[r] advances to the step's
 * end on rank r. */
static void decode_step(struct sim *s, const int *recv, int64_t *t)
{
    unsigned tp = s->cfg->tp;
    int step[SIM_MAX_TP];
    int64_t joined[SIM_MAX_TP], barrier = 0, base = rnd(s, 8 * MS, 12 * MS);

    for (unsigned r = 0; r < tp; r++) {
        step[r] = span_open(s, at(s, recv[r])->node, SPAN_KIND_INTERNAL,
                            "decode.step", recv[r], t[r]);
        joined[r] = t[r] + base + rnd(s, 0, 300 * US);
        if (joined[r] > barrier)
            barrier = joined[r];
    }
    int64_t ar_end = barrier + rnd(s, 100 * US, 300 * US);
    for (unsigned r = 0; r < tp; r++) {
        int ar = span_open(s, at(s, recv[r])->node, SPAN_KIND_INTERNAL,
                           "allreduce", step[r], joined[r]);
        at(s, ar)->end = ar_end;
        t[r] = at(s, step[r])->end = ar_end + rnd(s, 1 * US, 5 * US);
    }
}

/* All ranks decode; rank 0 then hands the tokens to the detokenizer.
 * done[r] is when rank r's receiving span ends. */
static void decode_ranks(struct sim *s, const int *recv, int64_t *done)
{
    unsigned tp = s->cfg->tp;
    int64_t t[SIM_MAX_TP] = {0};

    for (unsigned r = 0; r < tp; r++)
        t[r] = at(s, recv[r])->start + setup(s);
    for (unsigned k = 0; k < s->cfg->steps; k++) {
        decode_step(s, recv, t);
        if (k == 0)
            add_event(s, recv[0], "first_token", t[0]);
    }
    t[0] = hop_call(s, recv[0], SIM_DETOK(tp), t[0], stage_detokenizer);
    for (unsigned r = 0; r < tp; r++)
        done[r] = t[r] + tail(s);
}

/* Prefill sends to every rank: one after the other (oneway) or as
 * concurrent calls (rpc). Returns when prefill may finish. */
static int64_t fanout_decode(struct sim *s, int parent, int64_t t)
{
    unsigned tp = s->cfg->tp;
    int send[SIM_MAX_TP], recv[SIM_MAX_TP];
    int64_t done[SIM_MAX_TP];
    bool rpc = s->cfg->transport == SIM_TRANSPORT_RPC;

    for (unsigned r = 0; r < tp; r++) {
        hop_open(s, parent, SIM_DECODE0 + (int)r, t, &send[r], &recv[r]);
        t = rpc ? t + rnd(s, 5 * US, 15 * US) : at(s, send[r])->end;
    }
    decode_ranks(s, recv, done);
    for (unsigned r = 0; r < tp; r++) {
        int64_t c = hop_close(s, send[r], recv[r], done[r]);
        if (c > t)
            t = c;
    }
    return t;
}

static int64_t stage_prefill(struct sim *s, int recv, int64_t t)
{
    int idx;

    t = internal(s, recv, "prefill", t + setup(s), rnd(s, 20 * MS, 40 * MS),
                 &idx);
    add_event(s, idx, "kv_cache.ready", t - 1 * US);
    return fanout_decode(s, recv, t) + tail(s);
}

static int64_t stage_tokenizer(struct sim *s, int recv, int64_t t)
{
    t = internal(s, recv, "tokenize", t + setup(s), rnd(s, 300 * US, 800 * US),
                 NULL);
    t = hop_call(s, recv, SIM_PREFILL, t, stage_prefill);
    return t + tail(s);
}

static void new_trace_id(struct sim *s)
{
    uint64_t hi = sim_rng_next(&s->rng), lo = sim_rng_next(&s->rng);

    if (hi == 0 && lo == 0)
        lo = 1;
    for (int i = 0; i < 8; i++) {
        s->req.trace_id[i] = (uint8_t)(hi >> (56 - 8 * i));
        s->req.trace_id[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
}

int sim_pipeline_request(struct sim *s, int64_t t0)
{
    int root;
    int64_t t, end;

    s->req.n = 0;
    s->req.oom = false;
    new_trace_id(s);
    root = span_open(s, SIM_GATEWAY, SPAN_KIND_SERVER, "POST /v1/completions",
                     -1, t0);
    add_attr(s, root, "http.request.method", "POST");
    add_attr(s, root, "http.route", "/v1/completions");
    s->t_response = 0;
    t = t0 + rnd(s, 100 * US, 200 * US);
    t = hop_call(s, root, SIM_TOKENIZER, t, stage_tokenizer);
    if (s->cfg->transport == SIM_TRANSPORT_RPC)
        s->t_response = t;
    add_event(s, root, "first_token", s->t_response);
    /* The root ends after the last gateway span (oneway: the CONSUMER span
     * of the response; rpc: the CLIENT span of the call chain). */
    end = t;
    for (size_t i = 1; i < s->req.n; i++)
        if (s->req.spans[i].node == SIM_GATEWAY && s->req.spans[i].end > end)
            end = s->req.spans[i].end;
    at(s, root)->end = end + rnd(s, 20 * US, 60 * US);
    return s->req.oom ? -1 : 0;
}
