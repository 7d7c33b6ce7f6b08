/* llm: the small decoder-only transformer that the testbed's prefill and
 * decode stages run, so that the pipeline does real inference and the
 * "output unaffected by skew" check compares real tokens.
 *
 * Model: byte-level tokens (token = byte value, vocab 256), learned token and
 * position embeddings, `layers` pre-LayerNorm blocks of multi-head causal
 * self-attention and a GELU MLP (no biases except the MLP up-projection's),
 * a final LayerNorm and a separate unembedding (a tied one makes a random
 * model echo its last token: E e_t peaks at t). Greedy
 * decoding: the next token is the argmax of the logits, ties going to the
 * lowest token id. Weights come from `seed` alone (a splitmix64 stream per
 * tensor, uniform in [-1, 1) scaled by 1/sqrt(fan_in)); no files.
 *
 * Tensor parallelism (Megatron style) over N ranks: rank r holds heads
 * [r*H/N, (r+1)*H/N) (their Q, K, V rows and the matching input columns of
 * the attention output projection) and MLP units [r*F/N, (r+1)*F/N) (rows of
 * the up-projection, columns of the down-projection). Embeddings, norms and
 * the unembedding are replicated. Every layer each rank computes a PARTIAL
 * attention output and a PARTIAL MLP output (d_model floats per token); the
 * caller's all-reduce sums them across ranks (see llm_allreduce_fn), and every
 * rank then holds the same residual stream, the same logits and the same next
 * token.
 *
 * Flow: tokenizer stage -> llm_tokenize(); prefill stage -> llm_prefill() on
 * a whole model, llm_kv_export() per decode rank; decode ranks ->
 * llm_kv_import(), then llm_decode_step() with an all-reduce over the
 * transport; detokenizer -> llm_detokenize(). llm_generate_split() is the
 * single-process reference of exactly that layout.
 *
 * Threads: an llm and its llm_kv are used by one thread at a time; distinct
 * objects are independent. */
#ifndef SKEWSCOPE_LLM_H
#define SKEWSCOPE_LLM_H

#include <stddef.h>
#include <stdint.h>

#define LLM_VOCAB 256

/* Error codes returned (negated) by the functions below. */
enum llm_err {
    LLM_OK = 0,
    LLM_ERR_INVAL = -1,     /* bad config, token, size or mismatched kv */
    LLM_ERR_NOMEM = -2,     /* allocation failed */
    LLM_ERR_RANGE = -3,     /* sequence would exceed max_seq */
    LLM_ERR_ALLREDUCE = -4, /* the caller's all-reduce returned non-zero */
};

struct llm_config {
    unsigned layers;  /* transformer blocks, 1..64 */
    unsigned d_model; /* width, 1..4096, divisible by heads */
    unsigned heads;   /* attention heads, divisible by nranks */
    unsigned d_ff;    /* MLP width, divisible by nranks; 0 = 4 * d_model */
    unsigned max_seq; /* positions (prompt + generated), 1..65536 */
    unsigned vocab;   /* must be LLM_VOCAB (byte-level tokenizer) */
    uint64_t seed;    /* all weights derive from it */
};

/* In-place sum across ranks, supplied by the caller. On return `buf` (n
 * floats) must hold, on EVERY rank, the element-wise sum
 *     ((partial_0 + partial_1) + partial_2) + ... + partial_{N-1}
 * evaluated in float, in rank order, starting from rank 0's partial (not
 * from 0.0f). With that order the result does not depend on how or where the
 * ranks run, so a multi-process run gives bit-identical tokens to the
 * in-process reference. n is tokens * d_model (prefill) or d_model (decode).
 * Returns 0, or -1 on failure (the llm call then fails with
 * LLM_ERR_ALLREDUCE). Never called when nranks == 1. */
typedef int (*llm_allreduce_fn)(void *ctx, float *buf, size_t n);

struct llm;
struct llm_kv;

/* 2 layers, d_model 64, 4 heads, d_ff 256, max_seq 128, vocab 256, seed 1. */
void llm_config_default(struct llm_config *cfg);

/* 0 if `cfg` is valid for `nranks` tensor-parallel ranks, else
 * LLM_ERR_INVAL with a message in err (which may be NULL). */
int llm_config_check(const struct llm_config *cfg, unsigned nranks, char *err,
                     size_t errlen);

/* Short text for an llm_err code. Static storage. */
const char *llm_strerror(int code);

/* Rank `rank`'s shard of the model for `nranks` ranks (nranks 1 = the whole
 * model). All scratch memory is allocated here; prefill and decode do not
 * allocate. NULL on a bad config (message in err) or out of memory. Destroy
 * with llm_destroy(). */
struct llm *llm_create(const struct llm_config *cfg, unsigned rank,
                       unsigned nranks, char *err, size_t errlen);
void llm_destroy(struct llm *m);

/* Logits (LLM_VOCAB floats) of the last token of the last successful
 * llm_prefill/llm_decode_step; all zero before. Owned by `m`, valid until
 * the next call on `m`. */
const float *llm_logits(const struct llm *m);

/* A KV cache for `m`'s heads: layers * heads_of_rank * max_seq * 2 vectors.
 * NULL when out of memory. It may only be used with models of the same
 * config, rank and nranks. Destroy with llm_kv_destroy(). */
struct llm_kv *llm_kv_create(const struct llm *m);
void llm_kv_destroy(struct llm_kv *kv);
/* Tokens cached (the position the next token will take). */
size_t llm_kv_len(const struct llm_kv *kv);
/* Forget all cached tokens. */
void llm_kv_reset(struct llm_kv *kv);

/* Run `n` >= 1 tokens at positions llm_kv_len(kv) .. + n - 1 (normally the
 * whole prompt into an empty cache), append their keys and values to `kv`
 * and set *next_token (may be NULL) to the greedy next token. Calls
 * allreduce(ctx, ...) twice per layer with n * d_model floats when nranks >
 * 1 (may be NULL when nranks == 1). Returns 0; LLM_ERR_INVAL (token outside
 * 0..255, kv of another shape, n == 0), LLM_ERR_RANGE (would pass max_seq)
 * or LLM_ERR_ALLREDUCE; on error the cache length is unchanged. */
int llm_prefill(struct llm *m, struct llm_kv *kv, const int *tokens, size_t n,
                llm_allreduce_fn allreduce, void *ctx, int *next_token);

/* One decode step: llm_prefill() of the single token `token`. */
int llm_decode_step(struct llm *m, struct llm_kv *kv, int token,
                    llm_allreduce_fn allreduce, void *ctx, int *next_token);

/* Floats in one rank's KV slice holding `len` tokens, for `nranks` ranks:
 * layers * 2 * (heads / nranks) * len * (d_model / heads). 0 when cfg and
 * nranks are invalid. */
size_t llm_kv_slice_floats(const struct llm_config *cfg, unsigned nranks,
                           size_t len);

/* Copy the cached keys and values of rank `rank` of `nranks` out of `kv`
 * (whose own heads must include that rank's heads, e.g. a whole-model cache)
 * into buf, laid out as: for each layer, the keys of each of the rank's heads
 * in head order (len * head_dim floats each, position-major), then their
 * values likewise; len = llm_kv_len(kv). n_floats must equal
 * llm_kv_slice_floats(cfg, nranks, len). Returns 0 or LLM_ERR_INVAL. */
int llm_kv_export(const struct llm_kv *kv, unsigned rank, unsigned nranks,
                  float *buf, size_t n_floats);

/* Replace the contents of `kv` (a rank's cache) with a slice written by
 * llm_kv_export() for the same rank and nranks holding `len` tokens. Returns
 * 0, LLM_ERR_INVAL (n_floats does not match) or LLM_ERR_RANGE (len >
 * max_seq). */
int llm_kv_import(struct llm_kv *kv, const float *buf, size_t n_floats,
                  size_t len);

/* Single-process references. Each writes max_new greedy tokens after the
 * n-token prompt to out (the prompt is not copied) and, when `logits` is not
 * NULL, the logits each was chosen from (max_new * LLM_VOCAB floats, token
 * i's at logits + i * LLM_VOCAB); returns 0,
 * LLM_ERR_INVAL (bad config or nranks, n == 0, bad token), LLM_ERR_RANGE (n
 * + max_new - 1 > max_seq) or LLM_ERR_NOMEM.
 *
 * llm_generate_tp: prefill and decode both on `nranks` ranks, one thread
 * per rank (llm_tp.c) through llm_prefill/llm_decode_step and an in-memory
 * all-reduce that follows the order of llm_allreduce_fn.
 * llm_generate_split: prefill on the whole model, KV slices exported to
 * `nranks` decode ranks, decode on those ranks: the testbed's layout, so
 * its tokens must equal the testbed's bit for bit.
 * llm_generate: the whole model on one rank. */
int llm_generate_tp(const struct llm_config *cfg, unsigned nranks,
                    const int *prompt, size_t n, size_t max_new, int *out,
                    float *logits);
int llm_generate_split(const struct llm_config *cfg, unsigned nranks,
                       const int *prompt, size_t n, size_t max_new, int *out,
                       float *logits);
int llm_generate(const struct llm_config *cfg, const int *prompt, size_t n,
                 size_t max_new, int *out);

/* Greedy choice: index of the largest of v[0..n), the lowest index among
 * equal maxima; 0 when n == 0. */
int llm_argmax(const float *v, size_t n);

/* ---- compute accounting and throttle: the testbed's GPU stand-in ----
 * Every llm_prefill()/llm_decode_step() in this process adds the
 * multiply-adds of its matrix products and attention, and the time its
 * compute phases took (the thread's CPU time in them, so that time the
 * scheduler gives to other processes does not count; all-reduce waits
 * excluded; throttle stretch included), to process-wide totals. A stage reports
 * from them its compute rate (multiply-adds per microsecond of busy time,
 * skewscope_compute_rate_mhz). Its "SM clock" is the clock the throttle
 * sets (STAGE_SM_CLOCK_MHZ times llm_throttle(), stage_metrics.h) and its
 * "GPU utilisation" the engine's occupancy (stage_engine_begin()), as
 * DCGM reports them.
 *
 * llm_throttle_set(speed), 0 < speed <= 1, slows every compute phase of
 * every model in the process to `speed` of its pace, as a power cap slows
 * a GPU: a phase that computed for t is stretched by t * (1/speed - 1) of
 * waiting, which counts as busy time (a capped GPU is still running its
 * kernel). The waiting sleeps, so it costs no CPU time (a capped GPU does
 * not make the host busier); the debt is paid in sleeps of at least 200
 * us and at the end of every llm_prefill/llm_decode_step, the sleeps'
 * overshoot carried over, so the rate drops by exactly `speed` on average.
 * Threads: any thread; the totals and the speed are atomics. */
struct llm_compute_totals {
    uint64_t macs;   /* multiply-adds since the process started */
    int64_t busy_ns; /* time in compute phases (throttle included) */
};

void llm_compute_totals(struct llm_compute_totals *out);
/* Set the process-wide speed; values outside (0, 1] mean 1 (no throttle). */
void llm_throttle_set(double speed);
double llm_throttle(void);
/* A heavier workload (the `heavy` fault: a pipeline stage given more of the
 * model than its peers): every compute phase takes `factor` times as long,
 * stretched as the throttle stretches it (the two multiply) and counted as
 * busy, but the SM clock stays where it is: the stage does more work, not
 * slower work. Values outside (1, inf) mean 1. Any thread. */
void llm_workload_set(double factor);
double llm_workload(void);

/* Byte-level tokenizer: tokens[i] = bytes[i]; returns len (tokens must hold
 * len ints). */
size_t llm_tokenize(const void *bytes, size_t len, int *tokens);

/* Inverse of llm_tokenize: out[i] = tokens[i]. Returns 0, or LLM_ERR_INVAL
 * if a token is outside 0..255 (out is then partly written). */
int llm_detokenize(const int *tokens, size_t n, unsigned char *out);

#endif
