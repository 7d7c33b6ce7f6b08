/* llm_tp: the single-process references of llm.h. All tensor-parallel ranks
 * run in this process, one thread per rank, each through the same per-rank
 * API (llm_prefill, llm_decode_step) that the testbed's decode processes
 * call, joined by an in-memory all-reduce that follows the order contract of
 * llm_allreduce_fn. The testbed's output check compares its tokens against
 * these.
 *
 * Threads: the reference functions may be called from any thread; each call
 * owns its rank threads and joins them before returning. */
#include "testbed/llm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A barrier that can be abandoned, so that a rank that fails (or a thread
 * that never starts) cannot leave the others waiting forever. */
struct tp_shared {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned n, arrived;
    unsigned long gen;
    bool aborted;
    const float **slot; /* each rank's partial, posted for the sum */
};

struct tp_rank {
    struct tp_shared *sh;
    unsigned r;
    struct llm *m;
    struct llm_kv *kv;
    float *tmp;        /* max_seq * d_model: the sum before it is copied */
    const int *prompt; /* NULL: cache already filled, `first` is next */
    size_t n, max_new;
    int first;
    int *out;      /* max_new tokens */
    float *logits; /* NULL, or max_new * LLM_VOCAB */
    int rc;
};

struct tp_run {
    struct tp_shared sh;
    unsigned n;
    struct tp_rank *ranks;
    pthread_t *th;
};

static int barrier_wait(struct tp_shared *sh)
{
    int rc;

    pthread_mutex_lock(&sh->mu);
    unsigned long gen = sh->gen;
    if (++sh->arrived == sh->n) {
        sh->arrived = 0;
        sh->gen++;
        pthread_cond_broadcast(&sh->cv);
    } else {
        while (gen == sh->gen && !sh->aborted)
            pthread_cond_wait(&sh->cv, &sh->mu);
    }
    rc = sh->aborted ? -1 : 0;
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

static void barrier_abort(struct tp_shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    sh->aborted = true;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

/* llm_allreduce_fn: every rank sums all posted partials itself, in rank
 * order from rank 0's, so all ranks get the same bits. The second barrier
 * keeps each partial alive until every rank has read it. */
static int mem_allreduce(void *ctx, float *buf, size_t n)
{
    struct tp_rank *me = ctx;
    struct tp_shared *sh = me->sh;

    sh->slot[me->r] = buf;
    if (barrier_wait(sh))
        return -1;
    for (size_t i = 0; i < n; i++) {
        float s = sh->slot[0][i];
        for (unsigned r = 1; r < sh->n; r++)
            s += sh->slot[r][i];
        me->tmp[i] = s;
    }
    if (barrier_wait(sh))
        return -1;
    memcpy(buf, me->tmp, n * sizeof(float));
    return 0;
}

static void keep_logits(struct tp_rank *k, size_t step)
{
    if (k->logits)
        memcpy(k->logits + step * LLM_VOCAB, llm_logits(k->m),
               LLM_VOCAB * sizeof(float));
}

static void *rank_main(void *arg)
{
    struct tp_rank *k = arg;
    int rc = 0, tok = k->first;

    if (k->prompt)
        rc = llm_prefill(k->m, k->kv, k->prompt, k->n, mem_allreduce, k, &tok);
    if (!rc && k->max_new > 0) {
        k->out[0] = tok;
        if (k->prompt)
            keep_logits(k, 0);
    }
    for (size_t i = 1; i < k->max_new && !rc; i++) {
        rc = llm_decode_step(k->m, k->kv, k->out[i - 1], mem_allreduce, k,
                             &k->out[i]);
        keep_logits(k, i);
    }
    if (rc)
        barrier_abort(k->sh);
    k->rc = rc;
    return NULL;
}

static void run_destroy(struct tp_run *run)
{
    for (unsigned r = 0; run->ranks && r < run->n; r++) {
        struct tp_rank *k = &run->ranks[r];
        llm_kv_destroy(k->kv);
        llm_destroy(k->m);
        free(k->tmp);
        free(k->out);
    }
    free(run->ranks);
    free(run->th);
    free(run->sh.slot);
    pthread_cond_destroy(&run->sh.cv);
    pthread_mutex_destroy(&run->sh.mu);
}

static int rank_init(struct tp_run *run, unsigned r,
                     const struct llm_config *cfg, size_t max_new)
{
    struct tp_rank *k = &run->ranks[r];

    k->sh = &run->sh;
    k->r = r;
    k->max_new = max_new;
    k->m = llm_create(cfg, r, run->n, NULL, 0);
    k->kv = k->m ? llm_kv_create(k->m) : NULL;
    k->tmp = malloc((size_t)cfg->max_seq * cfg->d_model * sizeof(float));
    k->out = malloc((max_new ? max_new : 1) * sizeof(int));
    return k->kv && k->tmp && k->out ? 0 : LLM_ERR_NOMEM;
}

static int run_create(struct tp_run *run, const struct llm_config *cfg,
                      unsigned nranks, size_t max_new)
{
    memset(run, 0, sizeof *run);
    pthread_mutex_init(&run->sh.mu, NULL);
    pthread_cond_init(&run->sh.cv, NULL);
    run->n = run->sh.n = nranks;
    run->sh.slot = calloc(nranks, sizeof *run->sh.slot);
    run->ranks = calloc(nranks, sizeof *run->ranks);
    run->th = calloc(nranks, sizeof *run->th);
    if (!run->sh.slot || !run->ranks || !run->th)
        return LLM_ERR_NOMEM;
    for (unsigned r = 0; r < nranks; r++)
        if (rank_init(run, r, cfg, max_new))
            return LLM_ERR_NOMEM;
    return 0;
}

/* Run every rank to completion; rank 0's tokens go to out. */
static int run_go(struct tp_run *run, int *out)
{
    unsigned started = 0;
    int rc = 0;

    for (; started < run->n; started++)
        if (pthread_create(&run->th[started], NULL, rank_main,
                           &run->ranks[started]) != 0) {
            barrier_abort(&run->sh);
            rc = LLM_ERR_NOMEM;
            break;
        }
    for (unsigned r = 0; r < started; r++) {
        pthread_join(run->th[r], NULL);
        if (!rc)
            rc = run->ranks[r].rc;
    }
    if (!rc && run->ranks[0].max_new > 0)
        memcpy(out, run->ranks[0].out, run->ranks[0].max_new * sizeof(int));
    return rc;
}

static int check_run(const struct llm_config *cfg, unsigned nranks, size_t n,
                     size_t max_new)
{
    if (llm_config_check(cfg, nranks, NULL, 0) || n == 0)
        return LLM_ERR_INVAL;
    if (n > cfg->max_seq || (max_new > 0 && max_new - 1 > cfg->max_seq - n))
        return LLM_ERR_RANGE;
    return 0;
}

int llm_generate_tp(const struct llm_config *cfg, unsigned nranks,
                    const int *prompt, size_t n, size_t max_new, int *out,
                    float *logits)
{
    struct tp_run run;
    int rc = check_run(cfg, nranks, n, max_new);

    if (rc)
        return rc;
    if ((rc = run_create(&run, cfg, nranks, max_new)))
        goto cleanup;
    for (unsigned r = 0; r < nranks; r++) {
        run.ranks[r].prompt = prompt;
        run.ranks[r].n = n;
    }
    run.ranks[0].logits = max_new > 0 ? logits : NULL;
    rc = run_go(&run, out);
cleanup:
    run_destroy(&run);
    return rc;
}

/* Whole-model prefill; each rank of `run` imports its slice of the cache. */
static int split_prefill(const struct llm_config *cfg, struct tp_run *run,
                         const int *prompt, size_t n)
{
    struct llm *full = llm_create(cfg, 0, 1, NULL, 0);
    struct llm_kv *kv = full ? llm_kv_create(full) : NULL;
    size_t nf = llm_kv_slice_floats(cfg, run->n, n);
    float *buf = malloc((nf ? nf : 1) * sizeof(float));
    int rc = LLM_ERR_NOMEM, first = 0;

    if (!kv || !buf)
        goto cleanup;
    if ((rc = llm_prefill(full, kv, prompt, n, NULL, NULL, &first)))
        goto cleanup;
    if (run->ranks[0].logits)
        memcpy(run->ranks[0].logits, llm_logits(full),
               LLM_VOCAB * sizeof(float));
    for (unsigned r = 0; r < run->n && !rc; r++) {
        run->ranks[r].first = first;
        rc = llm_kv_export(kv, r, run->n, buf, nf);
        if (!rc)
            rc = llm_kv_import(run->ranks[r].kv, buf, nf, n);
    }
cleanup:
    free(buf);
    llm_kv_destroy(kv);
    llm_destroy(full);
    return rc;
}

int llm_generate_split(const struct llm_config *cfg, unsigned nranks,
                       const int *prompt, size_t n, size_t max_new, int *out,
                       float *logits)
{
    struct tp_run run;
    int rc = check_run(cfg, nranks, n, max_new);

    if (rc)
        return rc;
    if ((rc = run_create(&run, cfg, nranks, max_new)))
        goto cleanup;
    run.ranks[0].logits = max_new > 0 ? logits : NULL;
    if ((rc = split_prefill(cfg, &run, prompt, n)))
        goto cleanup;
    rc = run_go(&run, out);
cleanup:
    run_destroy(&run);
    return rc;
}

int llm_generate(const struct llm_config *cfg, const int *prompt, size_t n,
                 size_t max_new, int *out)
{
    return llm_generate_tp(cfg, 1, prompt, n, max_new, out, NULL);
}
