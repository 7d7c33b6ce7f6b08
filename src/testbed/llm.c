/* llm: a small decoder-only transformer with tensor parallelism, run by the
 * testbed's prefill and decode stages (contract in llm.h).
 *
 * A forward pass over a run of tokens goes in phases (embed, attention
 * partial, all-reduce, MLP partial, all-reduce, logits). Every row (token)
 * goes through the same per-row arithmetic in prefill and decode, so a cached
 * decode reproduces a from-scratch prefill. The single-process references
 * that run all ranks live in llm_tp.c. */
#include "testbed/llm.h"
#include "util/clock.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LLM_MAX_LAYERS 64u
#define LLM_MAX_D_MODEL 4096u
#define LLM_MAX_D_FF 65536u
#define LLM_MAX_SEQ 65536u
#define LLM_LN_EPS 1e-5f

struct llm_layer {
    float *ln1_g, *ln1_b;
    float *wq, *wk, *wv; /* [qd][d]: the rank's heads' rows */
    float *wo;           /* [d][qd]: the rank's heads' input columns */
    float *ln2_g, *ln2_b;
    float *w1, *b1; /* [fl][d], [fl]: the rank's MLP units */
    float *w2;      /* [d][fl] */
};

struct llm {
    struct llm_config cfg;
    unsigned rank, nranks;
    unsigned d, dh, h0, hl, qd, f0, fl; /* qd = hl * dh */
    float *block;                       /* every float below lives here */
    float *tok_emb, *pos_emb, *lnf_g, *lnf_b, *unemb;
    struct llm_layer *layers;
    /* scratch, max_seq rows each */
    float *x, *h, *q, *att, *u, *part, *scores, *logits;
    size_t n_rows, p0; /* the run in progress */
};

struct llm_kv {
    unsigned layers, heads, h0, hl, dh, max_seq;
    size_t len;
    float *k, *v; /* [layer][local head][pos][dh] */
};

/* ---- configuration ---- */

void llm_config_default(struct llm_config *cfg)
{
    cfg->layers = 2;
    cfg->d_model = 64;
    cfg->heads = 4;
    cfg->d_ff = 256;
    cfg->max_seq = 128;
    cfg->vocab = LLM_VOCAB;
    cfg->seed = 1;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return LLM_ERR_INVAL;
}

static unsigned d_ff_of(const struct llm_config *cfg)
{
    return cfg->d_ff ? cfg->d_ff : 4 * cfg->d_model;
}

int llm_config_check(const struct llm_config *cfg, unsigned nranks, char *err,
                     size_t errlen)
{
    unsigned f = d_ff_of(cfg);

    if (cfg->layers < 1 || cfg->layers > LLM_MAX_LAYERS)
        return fail(err, errlen, "layers %u: expected 1..%u", cfg->layers,
                    LLM_MAX_LAYERS);
    if (cfg->d_model < 1 || cfg->d_model > LLM_MAX_D_MODEL)
        return fail(err, errlen, "d_model %u: expected 1..%u", cfg->d_model,
                    LLM_MAX_D_MODEL);
    if (cfg->heads < 1 || cfg->d_model % cfg->heads)
        return fail(err, errlen, "heads %u: must divide d_model %u", cfg->heads,
                    cfg->d_model);
    if (f > LLM_MAX_D_FF)
        return fail(err, errlen, "d_ff %u: expected at most %u", f,
                    LLM_MAX_D_FF);
    if (cfg->max_seq < 1 || cfg->max_seq > LLM_MAX_SEQ)
        return fail(err, errlen, "max_seq %u: expected 1..%u", cfg->max_seq,
                    LLM_MAX_SEQ);
    if (cfg->vocab != LLM_VOCAB)
        return fail(err, errlen, "vocab %u: the byte tokenizer needs %u",
                    cfg->vocab, LLM_VOCAB);
    if (nranks < 1 || cfg->heads % nranks || f % nranks)
        return fail(err, errlen,
                    "%u ranks: must divide heads (%u) and d_ff (%u)", nranks,
                    cfg->heads, f);
    return 0;
}

const char *llm_strerror(int code)
{
    switch (code) {
    case LLM_OK:
        return "success";
    case LLM_ERR_INVAL:
        return "invalid argument";
    case LLM_ERR_NOMEM:
        return "out of memory";
    case LLM_ERR_RANGE:
        return "sequence longer than max_seq";
    case LLM_ERR_ALLREDUCE:
        return "all-reduce failed";
    default:
        return "unknown error";
    }
}

/* ---- deterministic weights ---- */

/* splitmix64 (Steele, Lea, Flood 2014): element i of the stream seeded with
 * `state` is mix(state + (i + 1) * golden), so any element of a tensor can be
 * generated without the others, and a shard takes its slice of exactly the
 * weights the whole model has. */
static uint64_t splitmix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One tensor of the whole model: `tag` names it, `layer` its block. */
struct tensor_gen {
    uint64_t key;
    unsigned cols; /* full width (row stride of the whole matrix) */
    float scale, offset;
};

static struct tensor_gen tensor(uint64_t seed, unsigned tag, unsigned layer,
                                unsigned cols, float scale, float offset)
{
    struct tensor_gen g;

    g.key = splitmix64(seed ^ splitmix64(((uint64_t)tag << 32) | layer));
    g.cols = cols;
    g.scale = scale;
    g.offset = offset;
    return g;
}

/* Fill dst with rows [r0, r1) x columns [c0, c1) of the whole tensor. */
static void tensor_fill(const struct tensor_gen *g, float *dst, unsigned r0,
                        unsigned r1, unsigned c0, unsigned c1)
{
    for (unsigned r = r0; r < r1; r++)
        for (unsigned c = c0; c < c1; c++) {
            uint64_t i = (uint64_t)r * g->cols + c;
            uint64_t bits = splitmix64(g->key + i * 0x9e3779b97f4a7c15ull);
            /* 24 random bits -> uniform in [-1, 1) */
            float u = (float)(bits >> 40) * (1.0f / 8388608.0f) - 1.0f;
            *dst++ = g->offset + g->scale * u;
        }
}

/* ---- memory layout: one block, carved twice (count, then assign) ---- */

struct carver {
    float *base; /* NULL while counting */
    size_t used;
};

static float *carve(struct carver *c, size_t n)
{
    float *p = c->base ? c->base + c->used : NULL;

    c->used += n;
    return p;
}

static void carve_layer(struct llm *m, struct carver *c, struct llm_layer *L)
{
    size_t d = m->d;

    L->ln1_g = carve(c, d);
    L->ln1_b = carve(c, d);
    L->wq = carve(c, (size_t)m->qd * d);
    L->wk = carve(c, (size_t)m->qd * d);
    L->wv = carve(c, (size_t)m->qd * d);
    L->wo = carve(c, d * m->qd);
    L->ln2_g = carve(c, d);
    L->ln2_b = carve(c, d);
    L->w1 = carve(c, (size_t)m->fl * d);
    L->b1 = carve(c, m->fl);
    L->w2 = carve(c, d * m->fl);
}

static void carve_all(struct llm *m, struct carver *c)
{
    size_t d = m->d, s = m->cfg.max_seq;

    m->tok_emb = carve(c, (size_t)LLM_VOCAB * d);
    m->pos_emb = carve(c, s * d);
    m->lnf_g = carve(c, d);
    m->lnf_b = carve(c, d);
    m->unemb = carve(c, (size_t)LLM_VOCAB * d);
    for (unsigned l = 0; l < m->cfg.layers; l++)
        carve_layer(m, c, &m->layers[l]);
    m->x = carve(c, s * d);
    m->h = carve(c, s * d);
    m->q = carve(c, s * m->qd);
    m->att = carve(c, s * m->qd);
    m->u = carve(c, s * m->fl);
    m->part = carve(c, s * d);
    m->scores = carve(c, s);
    m->logits = carve(c, LLM_VOCAB);
}

enum tensor_tag {
    T_TOK,
    T_POS,
    T_LNF_G,
    T_LNF_B,
    T_LN1_G,
    T_LN1_B,
    T_WQ,
    T_WK,
    T_WV,
    T_WO,
    T_LN2_G,
    T_LN2_B,
    T_W1,
    T_B1,
    T_W2,
    T_UNEMB,
};

static void fill_norm(const struct llm *m, float *g, float *b, unsigned tg,
                      unsigned tb, unsigned layer)
{
    struct tensor_gen gg = tensor(m->cfg.seed, tg, layer, m->d, 0.1f, 1.0f);
    struct tensor_gen gb = tensor(m->cfg.seed, tb, layer, m->d, 0.1f, 0.0f);

    tensor_fill(&gg, g, 0, 1, 0, m->d);
    tensor_fill(&gb, b, 0, 1, 0, m->d);
}

static void fill_layer(const struct llm *m, unsigned l)
{
    const struct llm_layer *L = &m->layers[l];
    uint64_t seed = m->cfg.seed;
    unsigned d = m->d, f = d_ff_of(&m->cfg);
    unsigned q0 = m->h0 * m->dh, q1 = q0 + m->qd, f1 = m->f0 + m->fl;
    float sd = 1.0f / sqrtf((float)d), sf = 1.0f / sqrtf((float)f);
    struct tensor_gen g;

    fill_norm(m, L->ln1_g, L->ln1_b, T_LN1_G, T_LN1_B, l);
    fill_norm(m, L->ln2_g, L->ln2_b, T_LN2_G, T_LN2_B, l);
    g = tensor(seed, T_WQ, l, d, sd, 0.0f);
    tensor_fill(&g, L->wq, q0, q1, 0, d);
    g = tensor(seed, T_WK, l, d, sd, 0.0f);
    tensor_fill(&g, L->wk, q0, q1, 0, d);
    g = tensor(seed, T_WV, l, d, sd, 0.0f);
    tensor_fill(&g, L->wv, q0, q1, 0, d);
    g = tensor(seed, T_WO, l, d, sd, 0.0f);
    tensor_fill(&g, L->wo, 0, d, q0, q1);
    g = tensor(seed, T_W1, l, d, sd, 0.0f);
    tensor_fill(&g, L->w1, m->f0, f1, 0, d);
    g = tensor(seed, T_B1, l, f, 0.1f, 0.0f);
    tensor_fill(&g, L->b1, 0, 1, m->f0, f1);
    g = tensor(seed, T_W2, l, f, sf, 0.0f);
    tensor_fill(&g, L->w2, 0, d, m->f0, f1);
}

static void fill_weights(struct llm *m)
{
    uint64_t seed = m->cfg.seed;
    struct tensor_gen g = tensor(seed, T_TOK, 0, m->d, 1.0f, 0.0f);

    tensor_fill(&g, m->tok_emb, 0, LLM_VOCAB, 0, m->d);
    g = tensor(seed, T_POS, 0, m->d, 0.5f, 0.0f);
    tensor_fill(&g, m->pos_emb, 0, m->cfg.max_seq, 0, m->d);
    fill_norm(m, m->lnf_g, m->lnf_b, T_LNF_G, T_LNF_B, 0);
    g = tensor(seed, T_UNEMB, 0, m->d, 1.0f, 0.0f);
    tensor_fill(&g, m->unemb, 0, LLM_VOCAB, 0, m->d);
    for (unsigned l = 0; l < m->cfg.layers; l++)
        fill_layer(m, l);
}

static void set_shape(struct llm *m, const struct llm_config *cfg,
                      unsigned rank, unsigned nranks)
{
    m->cfg = *cfg;
    m->cfg.d_ff = d_ff_of(cfg);
    m->rank = rank;
    m->nranks = nranks;
    m->d = cfg->d_model;
    m->dh = cfg->d_model / cfg->heads;
    m->hl = cfg->heads / nranks;
    m->h0 = rank * m->hl;
    m->qd = m->hl * m->dh;
    m->fl = m->cfg.d_ff / nranks;
    m->f0 = rank * m->fl;
}

struct llm *llm_create(const struct llm_config *cfg, unsigned rank,
                       unsigned nranks, char *err, size_t errlen)
{
    struct carver c = {NULL, 0};
    struct llm *m = NULL;

    if (llm_config_check(cfg, nranks, err, errlen))
        return NULL;
    if (rank >= nranks) {
        fail(err, errlen, "rank %u: expected 0..%u", rank, nranks - 1);
        return NULL;
    }
    m = calloc(1, sizeof *m);
    if (!m)
        goto nomem;
    set_shape(m, cfg, rank, nranks);
    m->layers = calloc(cfg->layers, sizeof *m->layers);
    if (!m->layers)
        goto nomem;
    carve_all(m, &c);
    m->block = calloc(c.used, sizeof(float));
    if (!m->block)
        goto nomem;
    c.base = m->block;
    c.used = 0;
    carve_all(m, &c);
    fill_weights(m);
    return m;
nomem:
    fail(err, errlen, "out of memory");
    llm_destroy(m);
    return NULL;
}

void llm_destroy(struct llm *m)
{
    if (!m)
        return;
    free(m->block);
    free(m->layers);
    free(m);
}

const float *llm_logits(const struct llm *m)
{
    return m->logits;
}

/* ---- KV cache ---- */

struct llm_kv *llm_kv_create(const struct llm *m)
{
    struct llm_kv *kv = calloc(1, sizeof *kv);
    size_t n = (size_t)m->cfg.layers * m->hl * m->cfg.max_seq * m->dh;

    if (!kv)
        return NULL;
    kv->layers = m->cfg.layers;
    kv->heads = m->cfg.heads;
    kv->h0 = m->h0;
    kv->hl = m->hl;
    kv->dh = m->dh;
    kv->max_seq = m->cfg.max_seq;
    kv->k = calloc(n, sizeof(float));
    kv->v = calloc(n, sizeof(float));
    if (!kv->k || !kv->v) {
        llm_kv_destroy(kv);
        return NULL;
    }
    return kv;
}

void llm_kv_destroy(struct llm_kv *kv)
{
    if (!kv)
        return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

size_t llm_kv_len(const struct llm_kv *kv)
{
    return kv->len;
}

void llm_kv_reset(struct llm_kv *kv)
{
    kv->len = 0;
}

static size_t kv_off(const struct llm_kv *kv, unsigned l, unsigned hh,
                     size_t pos)
{
    return (((size_t)l * kv->hl + hh) * kv->max_seq + pos) * kv->dh;
}

static bool kv_fits(const struct llm_kv *kv, const struct llm *m)
{
    return kv->layers == m->cfg.layers && kv->heads == m->cfg.heads &&
           kv->h0 == m->h0 && kv->hl == m->hl && kv->dh == m->dh &&
           kv->max_seq == m->cfg.max_seq;
}

size_t llm_kv_slice_floats(const struct llm_config *cfg, unsigned nranks,
                           size_t len)
{
    if (llm_config_check(cfg, nranks, NULL, 0))
        return 0;
    return (size_t)cfg->layers * 2 * (cfg->heads / nranks) * len *
           (cfg->d_model / cfg->heads);
}

/* Copy the `len`-token runs of heads [hh0, hh0 + nh) of one layer's cache
 * (K or V) to or from the packed slice. */
static float *kv_pack(const struct llm_kv *kv, float *cache, unsigned l,
                      unsigned hh0, unsigned nh, float *buf, bool out)
{
    size_t run = kv->len * kv->dh;

    if (run == 0)
        return buf;
    for (unsigned i = 0; i < nh; i++) {
        float *c = cache + kv_off(kv, l, hh0 + i, 0);
        if (out)
            memcpy(buf, c, run * sizeof(float));
        else
            memcpy(c, buf, run * sizeof(float));
        buf += run;
    }
    return buf;
}

int llm_kv_export(const struct llm_kv *kv, unsigned rank, unsigned nranks,
                  float *buf, size_t n_floats)
{
    unsigned nh, t0;

    if (nranks < 1 || rank >= nranks || kv->heads % nranks)
        return LLM_ERR_INVAL;
    nh = kv->heads / nranks;
    t0 = rank * nh;
    if (t0 < kv->h0 || t0 + nh > kv->h0 + kv->hl)
        return LLM_ERR_INVAL; /* kv does not hold that rank's heads */
    if (n_floats != (size_t)kv->layers * 2 * nh * kv->len * kv->dh)
        return LLM_ERR_INVAL;
    for (unsigned l = 0; l < kv->layers; l++) {
        buf = kv_pack(kv, kv->k, l, t0 - kv->h0, nh, buf, true);
        buf = kv_pack(kv, kv->v, l, t0 - kv->h0, nh, buf, true);
    }
    return 0;
}

int llm_kv_import(struct llm_kv *kv, const float *buf, size_t n_floats,
                  size_t len)
{
    if (len > kv->max_seq)
        return LLM_ERR_RANGE;
    if (n_floats != (size_t)kv->layers * 2 * kv->hl * len * kv->dh)
        return LLM_ERR_INVAL;
    kv->len = len;
    for (unsigned l = 0; l < kv->layers; l++) {
        /* kv_pack only reads from buf when copying in */
        buf = kv_pack(kv, kv->k, l, 0, kv->hl, (float *)buf, false);
        buf = kv_pack(kv, kv->v, l, 0, kv->hl, (float *)buf, false);
    }
    return 0;
}

/* ---- per-row arithmetic ---- */

/* Four accumulators in a fixed order: faster than one, and the order is
 * part of the code, so every rank and process gets the same bits. */
static float dot(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;

    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* y[rows] = W[rows][cols] x[cols] */
static void matvec(const float *w, const float *x, float *y, size_t rows,
                   size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = dot(w + r * cols, x, cols);
}

static void layer_norm(const float *x, const float *g, const float *b, float *y,
                       size_t d)
{
    float mean = 0, var = 0;

    for (size_t i = 0; i < d; i++)
        mean += x[i];
    mean /= (float)d;
    for (size_t i = 0; i < d; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (float)d;
    float inv = 1.0f / sqrtf(var + LLM_LN_EPS);
    for (size_t i = 0; i < d; i++)
        y[i] = (x[i] - mean) * inv * g[i] + b[i];
}

static float gelu(float x)
{
    const float c = 0.7978845608f; /* sqrt(2 / pi) */

    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

/* Causal attention of one query over cached positions 0..pos of one head. */
static void attend(struct llm *m, const struct llm_kv *kv, unsigned l,
                   unsigned hh, size_t pos, const float *q, float *out)
{
    const float *k = kv->k + kv_off(kv, l, hh, 0);
    const float *v = kv->v + kv_off(kv, l, hh, 0);
    float scale = 1.0f / sqrtf((float)m->dh), mx = -INFINITY, sum = 0;

    for (size_t t = 0; t <= pos; t++) {
        m->scores[t] = dot(q, k + t * m->dh, m->dh) * scale;
        mx = m->scores[t] > mx ? m->scores[t] : mx;
    }
    for (size_t t = 0; t <= pos; t++) {
        m->scores[t] = expf(m->scores[t] - mx);
        sum += m->scores[t];
    }
    memset(out, 0, m->dh * sizeof(float));
    for (size_t t = 0; t <= pos; t++) {
        float p = m->scores[t] / sum;
        for (unsigned j = 0; j < m->dh; j++)
            out[j] += p * v[t * m->dh + j];
    }
}

/* ---- compute accounting and throttle (llm.h) ---- */

#define THROTTLE_MIN_SLEEP_NS 200000

static _Atomic uint64_t total_macs;
static _Atomic int64_t total_busy_ns;
static _Atomic double throttle_speed = 1.0;
static _Atomic double work_factor = 1.0;
/* throttle time owed by this thread (negative: a sleep overshot) */
static _Thread_local int64_t throttle_debt_ns;

static int64_t mono_ns(void)
{
    return clock_now_ns(CLOCK_MONOTONIC);
}

/* The calling thread's CPU time: a phase's compute time without the time
 * the scheduler gave to other processes (on a busy host a wall-clock
 * measure would make the "clock" wander with the load). */
static int64_t cpu_ns(void)
{
    return clock_now_ns(CLOCK_THREAD_CPUTIME_ID);
}

void llm_compute_totals(struct llm_compute_totals *out)
{
    out->macs = atomic_load_explicit(&total_macs, memory_order_relaxed);
    out->busy_ns = atomic_load_explicit(&total_busy_ns, memory_order_relaxed);
}

void llm_throttle_set(double speed)
{
    atomic_store(&throttle_speed, speed > 0 && speed < 1 ? speed : 1.0);
}

double llm_throttle(void)
{
    return atomic_load(&throttle_speed);
}

void llm_workload_set(double factor)
{
    atomic_store(&work_factor, factor > 1 && isfinite(factor) ? factor : 1.0);
}

double llm_workload(void)
{
    return atomic_load(&work_factor);
}

/* Sleep off the debt when it is at least min_ns; returns the time slept. */
static int64_t throttle_pay(int64_t min_ns)
{
    if (throttle_debt_ns <= 0 || throttle_debt_ns < min_ns)
        return 0;
    int64_t t0 = mono_ns();
    struct timespec ts = {.tv_sec = throttle_debt_ns / 1000000000,
                          .tv_nsec = throttle_debt_ns % 1000000000};
    nanosleep(&ts, NULL);
    int64_t slept = mono_ns() - t0;
    throttle_debt_ns -= slept;
    return slept;
}

/* End of a compute phase begun at t0 (cpu_ns()) that did `macs`
 * multiply-adds. */
static void phase_done(int64_t t0, uint64_t macs)
{
    int64_t el = cpu_ns() - t0;
    double speed = atomic_load_explicit(&throttle_speed, memory_order_relaxed);
    double stretch =
        atomic_load_explicit(&work_factor, memory_order_relaxed) / speed;

    if (stretch > 1)
        throttle_debt_ns += (int64_t)((double)el * (stretch - 1));
    else if (throttle_debt_ns > 0)
        throttle_debt_ns = 0; /* the throttle was lifted */
    el += throttle_pay(THROTTLE_MIN_SLEEP_NS);
    atomic_fetch_add_explicit(&total_macs, macs, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_busy_ns, el, memory_order_relaxed);
}

/* At the end of a forward pass: pay what is left, so that each call takes
 * as long as the throttle says. */
static void pass_done(void)
{
    int64_t slept = throttle_pay(1);

    if (slept)
        atomic_fetch_add_explicit(&total_busy_ns, slept, memory_order_relaxed);
}

/* Multiply-adds of phase_attn / phase_mlp over the current run. */
static uint64_t attn_macs(const struct llm *m)
{
    uint64_t n = m->n_rows, per_row = 4ull * m->qd * m->d, att = 0;

    for (uint64_t i = 0; i < n; i++)
        att += 2ull * m->hl * (m->p0 + i + 1) * m->dh;
    return n * per_row + att;
}

static uint64_t mlp_macs(const struct llm *m)
{
    return (uint64_t)m->n_rows * 2ull * m->fl * m->d;
}

/* ---- forward phases over the run of rows [0, n_rows) at p0 ---- */

static int fwd_begin(struct llm *m, struct llm_kv *kv, const int *tokens,
                     size_t n)
{
    if (!kv_fits(kv, m) || n == 0 || !tokens)
        return LLM_ERR_INVAL;
    if (n > kv->max_seq - kv->len)
        return LLM_ERR_RANGE;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= LLM_VOCAB)
            return LLM_ERR_INVAL;
    m->n_rows = n;
    m->p0 = kv->len;
    for (size_t i = 0; i < n; i++) {
        const float *te = m->tok_emb + (size_t)tokens[i] * m->d;
        const float *pe = m->pos_emb + (m->p0 + i) * m->d;
        for (unsigned j = 0; j < m->d; j++)
            m->x[i * m->d + j] = te[j] + pe[j];
    }
    return 0;
}

/* Partial attention output of this rank's heads into m->part. Keys and
 * values of every row go into the cache before any row attends, so row i
 * sees rows 0..i of this run. */
static void phase_attn(struct llm *m, struct llm_kv *kv, unsigned l)
{
    const struct llm_layer *L = &m->layers[l];
    size_t d = m->d, qd = m->qd, dh = m->dh;

    for (size_t i = 0; i < m->n_rows; i++) {
        float *h = m->h + i * d;
        layer_norm(m->x + i * d, L->ln1_g, L->ln1_b, h, d);
        matvec(L->wq, h, m->q + i * qd, qd, d);
        for (unsigned hh = 0; hh < m->hl; hh++) {
            size_t o = kv_off(kv, l, hh, m->p0 + i);
            matvec(L->wk + hh * dh * d, h, kv->k + o, dh, d);
            matvec(L->wv + hh * dh * d, h, kv->v + o, dh, d);
        }
    }
    for (size_t i = 0; i < m->n_rows; i++) {
        for (unsigned hh = 0; hh < m->hl; hh++)
            attend(m, kv, l, hh, m->p0 + i, m->q + i * qd + hh * dh,
                   m->att + i * qd + hh * dh);
        matvec(L->wo, m->att + i * qd, m->part + i * d, d, qd);
    }
}

/* Partial MLP output of this rank's units into m->part. */
static void phase_mlp(struct llm *m, unsigned l)
{
    const struct llm_layer *L = &m->layers[l];
    size_t d = m->d, fl = m->fl;

    for (size_t i = 0; i < m->n_rows; i++) {
        float *h = m->h + i * d, *u = m->u + i * fl;
        layer_norm(m->x + i * d, L->ln2_g, L->ln2_b, h, d);
        matvec(L->w1, h, u, fl, d);
        for (size_t j = 0; j < fl; j++)
            u[j] = gelu(u[j] + L->b1[j]);
        matvec(L->w2, u, m->part + i * d, d, fl);
    }
}

/* Residual connection with the all-reduced sum in m->part. */
static void phase_add(struct llm *m)
{
    size_t n = m->n_rows * m->d;

    for (size_t i = 0; i < n; i++)
        m->x[i] += m->part[i];
}

int llm_argmax(const float *v, size_t n)
{
    size_t best = 0;

    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best]) /* strict: ties keep the lowest id */
            best = i;
    return (int)best;
}

static int fwd_end(struct llm *m, struct llm_kv *kv)
{
    const float *x = m->x + (m->n_rows - 1) * m->d;

    kv->len += m->n_rows;
    layer_norm(x, m->lnf_g, m->lnf_b, m->h, m->d);
    matvec(m->unemb, m->h, m->logits, LLM_VOCAB, m->d);
    return llm_argmax(m->logits, LLM_VOCAB);
}

static int reduce(struct llm *m, llm_allreduce_fn fn, void *ctx)
{
    if (m->nranks == 1)
        return 0;
    if (!fn || fn(ctx, m->part, m->n_rows * m->d) != 0)
        return LLM_ERR_ALLREDUCE;
    return 0;
}

int llm_prefill(struct llm *m, struct llm_kv *kv, const int *tokens, size_t n,
                llm_allreduce_fn allreduce, void *ctx, int *next_token)
{
    int rc = fwd_begin(m, kv, tokens, n), next;

    if (rc)
        return rc;
    for (unsigned l = 0; l < m->cfg.layers; l++) {
        int64_t t0 = cpu_ns();
        phase_attn(m, kv, l);
        phase_done(t0, attn_macs(m));
        if ((rc = reduce(m, allreduce, ctx)))
            return rc;
        phase_add(m);
        t0 = cpu_ns();
        phase_mlp(m, l);
        phase_done(t0, mlp_macs(m));
        if ((rc = reduce(m, allreduce, ctx)))
            return rc;
        phase_add(m);
    }
    int64_t t0 = cpu_ns();
    next = fwd_end(m, kv);
    phase_done(t0, (uint64_t)LLM_VOCAB * m->d);
    pass_done();
    if (next_token)
        *next_token = next;
    return 0;
}

int llm_decode_step(struct llm *m, struct llm_kv *kv, int token,
                    llm_allreduce_fn allreduce, void *ctx, int *next_token)
{
    return llm_prefill(m, kv, &token, 1, allreduce, ctx, next_token);
}

/* ---- byte-level tokenizer ---- */

size_t llm_tokenize(const void *bytes, size_t len, int *tokens)
{
    const unsigned char *b = bytes;

    for (size_t i = 0; i < len; i++)
        tokens[i] = b[i];
    return len;
}

int llm_detokenize(const int *tokens, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] > 255)
            return LLM_ERR_INVAL;
        out[i] = (unsigned char)tokens[i];
    }
    return 0;
}
