/* test_llm: the testbed's transformer. The references (llm_generate*) are
 * what the testbed's "output unaffected" check trusts, so they are checked
 * here against the per-rank API run by hand on threads with an all-reduce
 * written independently of the library's, against the whole model (logits
 * within float rounding), and the KV cache against recomputing the prefix. */
#include "testlib.h"

#include <math.h>
#include <pthread.h>

#include "testbed/llm.h"

#define PROMPT "The clock at stage 3 is 5 ms fast."
#define MAX_NEW 40

/* ---- running the ranks by hand ---- */

/* All-reduce by a different scheme from the library's: rank 0 sums every
 * partial into one shared buffer (rank order, from rank 0's partial), then
 * every rank copies it out. */
struct hand {
    pthread_barrier_t bar;
    unsigned n;
    int reverse; /* break the contract: sum from the last rank */
    float **slot;
    float *sum;
};

struct hand_rank {
    struct hand *h;
    unsigned r;
    struct llm *m;
    struct llm_kv *kv;
    const int *prompt; /* NULL: kv already filled, start from first */
    size_t n, max_new;
    int first;
    int *out;
    float *logits; /* max_new * LLM_VOCAB, or NULL */
    int rc;
};

static int hand_allreduce(void *ctx, float *buf, size_t n)
{
    struct hand_rank *k = ctx;
    struct hand *h = k->h;

    h->slot[k->r] = buf;
    pthread_barrier_wait(&h->bar);
    if (k->r == 0)
        for (size_t i = 0; i < n; i++) {
            float s = h->slot[h->reverse ? h->n - 1 : 0][i];
            for (unsigned j = 1; j < h->n; j++)
                s += h->slot[h->reverse ? h->n - 1 - j : j][i];
            h->sum[i] = s;
        }
    pthread_barrier_wait(&h->bar);
    memcpy(buf, h->sum, n * sizeof(float));
    pthread_barrier_wait(&h->bar);
    return 0;
}

static void keep_logits(struct hand_rank *k, size_t step)
{
    if (k->logits)
        memcpy(k->logits + step * LLM_VOCAB, llm_logits(k->m),
               LLM_VOCAB * sizeof(float));
}

static void *hand_main(void *arg)
{
    struct hand_rank *k = arg;
    int tok = k->first;

    if (k->prompt) {
        k->rc =
            llm_prefill(k->m, k->kv, k->prompt, k->n, hand_allreduce, k, &tok);
        keep_logits(k, 0);
    }
    k->out[0] = tok;
    for (size_t i = 1; i < k->max_new && !k->rc; i++) {
        k->rc = llm_decode_step(k->m, k->kv, k->out[i - 1], hand_allreduce, k,
                                &k->out[i]);
        keep_logits(k, i);
    }
    return NULL;
}

struct hand_run {
    struct hand h;
    struct hand_rank k[8];
    pthread_t th[8];
};

static void hand_setup(struct hand_run *run, const struct llm_config *cfg,
                       unsigned nranks)
{
    char err[128];

    memset(run, 0, sizeof *run);
    assert_true(nranks <= 8);
    run->h.n = nranks;
    run->h.slot = calloc(nranks, sizeof(float *));
    run->h.sum = calloc((size_t)cfg->max_seq * cfg->d_model, sizeof(float));
    assert_int_equal(pthread_barrier_init(&run->h.bar, NULL, nranks), 0);
    for (unsigned r = 0; r < nranks; r++) {
        struct hand_rank *k = &run->k[r];
        k->h = &run->h;
        k->r = r;
        k->m = llm_create(cfg, r, nranks, err, sizeof err);
        if (!k->m)
            fail_msg("llm_create: %s", err);
        k->kv = llm_kv_create(k->m);
        k->out = calloc(MAX_NEW, sizeof(int));
        k->logits = calloc((size_t)MAX_NEW * LLM_VOCAB, sizeof(float));
        assert_non_null(k->kv);
    }
}

/* Decode MAX_NEW tokens on every rank; checks that the ranks agree. */
static void hand_go(struct hand_run *run, const int *prompt, size_t n)
{
    for (unsigned r = 0; r < run->h.n; r++) {
        run->k[r].prompt = prompt;
        run->k[r].n = n;
        run->k[r].max_new = MAX_NEW;
        assert_int_equal(
            pthread_create(&run->th[r], NULL, hand_main, &run->k[r]), 0);
    }
    for (unsigned r = 0; r < run->h.n; r++) {
        pthread_join(run->th[r], NULL);
        assert_int_equal(run->k[r].rc, 0);
        assert_memory_equal(run->k[r].out, run->k[0].out,
                            MAX_NEW * sizeof(int));
    }
}

static void hand_teardown(struct hand_run *run)
{
    for (unsigned r = 0; r < run->h.n; r++) {
        llm_kv_destroy(run->k[r].kv);
        llm_destroy(run->k[r].m);
        free(run->k[r].out);
        free(run->k[r].logits);
    }
    pthread_barrier_destroy(&run->h.bar);
    free(run->h.slot);
    free(run->h.sum);
}

static size_t prompt_tokens(int *tokens)
{
    return llm_tokenize(PROMPT, strlen(PROMPT), tokens);
}

/* ---- tests ---- */

static void test_tokenizer_round_trip(void **state)
{
    unsigned char bytes[256], back[256];
    int tokens[256];

    (void)state;
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)(255 - i);
    assert_int_equal(llm_tokenize(bytes, sizeof bytes, tokens), 256);
    assert_int_equal(tokens[0], 255);
    assert_int_equal(tokens[255], 0);
    assert_int_equal(llm_detokenize(tokens, 256, back), 0);
    assert_memory_equal(bytes, back, sizeof bytes);
    tokens[7] = 256;
    assert_int_equal(llm_detokenize(tokens, 256, back), LLM_ERR_INVAL);
    tokens[7] = -1;
    assert_int_equal(llm_detokenize(tokens, 256, back), LLM_ERR_INVAL);
}

static void test_argmax_ties(void **state)
{
    const float v[] = {-1.0f, 3.0f, 2.0f, 3.0f, 3.0f};

    (void)state;
    assert_int_equal(llm_argmax(v, 5), 1);
    assert_int_equal(llm_argmax(v + 2, 3), 1);
    assert_int_equal(llm_argmax(v, 1), 0);
}

static void test_determinism(void **state)
{
    struct llm_config cfg;
    int prompt[64], a[MAX_NEW], b[MAX_NEW], c[MAX_NEW];
    size_t n = prompt_tokens(prompt);

    (void)state;
    llm_config_default(&cfg);
    assert_int_equal(llm_generate(&cfg, prompt, n, MAX_NEW, a), 0);
    assert_int_equal(llm_generate(&cfg, prompt, n, MAX_NEW, b), 0);
    assert_memory_equal(a, b, sizeof a);
    cfg.seed = 2;
    assert_int_equal(llm_generate(&cfg, prompt, n, MAX_NEW, c), 0);
    assert_memory_not_equal(a, c, sizeof a);
    for (int i = 0; i < MAX_NEW; i++)
        assert_in_range(a[i], 0, 255);
}

/* The reference equals the per-rank API run by hand, bit for bit, logits
 * included; an all-reduce that breaks the order contract does not. */
static void test_tp_reference_matches_by_hand(void **state)
{
    static const unsigned ns[] = {1, 2, 4};
    struct llm_config cfg;
    int prompt[64], ref[MAX_NEW];
    size_t n = prompt_tokens(prompt), nl = (size_t)MAX_NEW * LLM_VOCAB;
    float *logits = calloc(nl, sizeof(float));
    struct hand_run run;

    (void)state;
    llm_config_default(&cfg);
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        assert_int_equal(
            llm_generate_tp(&cfg, ns[i], prompt, n, MAX_NEW, ref, logits), 0);
        hand_setup(&run, &cfg, ns[i]);
        hand_go(&run, prompt, n);
        assert_memory_equal(run.k[0].out, ref, sizeof ref);
        assert_memory_equal(run.k[0].logits, logits, nl * sizeof(float));
        hand_teardown(&run);
    }
    hand_setup(&run, &cfg, 4);
    run.h.reverse = 1;
    hand_go(&run, prompt, n);
    assert_memory_not_equal(run.k[0].logits, logits, nl * sizeof(float));
    hand_teardown(&run);
    free(logits);
}

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float d = 0;

    for (size_t i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

static float max_abs(const float *a, size_t n)
{
    float d = 0;

    for (size_t i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i]));
    return d;
}

/* Sharding only changes the summation order: logits agree with the whole
 * model to float rounding, and so do the greedy tokens here. */
static void test_tp_logits_match_whole_model(void **state)
{
    struct llm_config cfg;
    int prompt[64];
    size_t n = prompt_tokens(prompt), nl = (size_t)MAX_NEW * LLM_VOCAB;
    struct hand_run one, two, four;

    (void)state;
    llm_config_default(&cfg);
    hand_setup(&one, &cfg, 1);
    hand_setup(&two, &cfg, 2);
    hand_setup(&four, &cfg, 4);
    hand_go(&one, prompt, n);
    hand_go(&two, prompt, n);
    hand_go(&four, prompt, n);
    assert_true(max_abs(one.k[0].logits, nl) > 1.0f); /* not all zero */
    assert_true(max_abs_diff(one.k[0].logits, two.k[0].logits, nl) < 1e-4f);
    assert_true(max_abs_diff(one.k[0].logits, four.k[0].logits, nl) < 1e-4f);
    assert_memory_equal(one.k[0].out, two.k[0].out, MAX_NEW * sizeof(int));
    hand_teardown(&one);
    hand_teardown(&two);
    hand_teardown(&four);
}

/* The testbed's layout: whole-model prefill, each decode rank imports its
 * slice of the cache. */
static void test_kv_export_import(void **state)
{
    struct llm_config cfg;
    int prompt[64], ref[MAX_NEW], tp[MAX_NEW], first;
    float *logits = calloc((size_t)MAX_NEW * LLM_VOCAB, sizeof(float));
    size_t n = prompt_tokens(prompt);
    struct llm *full;
    struct llm_kv *kv;
    struct hand_run run;
    size_t nf;
    float *buf;

    (void)state;
    llm_config_default(&cfg);
    full = llm_create(&cfg, 0, 1, NULL, 0);
    kv = llm_kv_create(full);
    assert_int_equal(llm_prefill(full, kv, prompt, n, NULL, NULL, &first), 0);
    nf = llm_kv_slice_floats(&cfg, 2, n);
    assert_int_equal(nf, 2 * 2 * 2 * n * 16);
    buf = malloc(nf * sizeof(float));
    hand_setup(&run, &cfg, 2);
    for (unsigned r = 0; r < 2; r++) {
        assert_int_equal(llm_kv_export(kv, r, 2, buf, nf), 0);
        assert_int_equal(llm_kv_import(run.k[r].kv, buf, nf, n), 0);
        assert_int_equal(llm_kv_len(run.k[r].kv), n);
        run.k[r].first = first;
    }
    memcpy(run.k[0].logits, llm_logits(full), LLM_VOCAB * sizeof(float));
    hand_go(&run, NULL, 0);
    assert_int_equal(
        llm_generate_split(&cfg, 2, prompt, n, MAX_NEW, ref, logits), 0);
    assert_memory_equal(run.k[0].out, ref, sizeof ref);
    assert_memory_equal(run.k[0].logits, logits,
                        (size_t)MAX_NEW * LLM_VOCAB * sizeof(float));
    /* whole-model prefill vs sharded prefill: same tokens for this prompt */
    assert_int_equal(llm_generate_tp(&cfg, 2, prompt, n, MAX_NEW, tp, NULL), 0);
    assert_memory_equal(tp, ref, sizeof ref);

    /* a rank's cache does not hold the other rank's heads; sizes must fit */
    assert_int_equal(llm_kv_export(run.k[1].kv, 0, 2, buf, nf), LLM_ERR_INVAL);
    assert_int_equal(llm_kv_export(kv, 0, 2, buf, nf - 1), LLM_ERR_INVAL);
    assert_int_equal(llm_kv_export(kv, 2, 2, buf, nf), LLM_ERR_INVAL);
    assert_int_equal(llm_kv_import(run.k[0].kv, buf, nf, n + 1), LLM_ERR_INVAL);
    hand_teardown(&run);
    free(logits);
    free(buf);
    llm_kv_destroy(kv);
    llm_destroy(full);
}

/* Decoding with the cache gives the logits of a fresh prefill of the whole
 * prefix; so does a prefill in two chunks. */
static void test_cache_matches_recompute(void **state)
{
    struct llm_config cfg;
    int seq[128], tok, tok2;
    size_t n = prompt_tokens(seq);
    struct llm *m, *m2;
    struct llm_kv *kv, *kv2;

    (void)state;
    llm_config_default(&cfg);
    m = llm_create(&cfg, 0, 1, NULL, 0);
    m2 = llm_create(&cfg, 0, 1, NULL, 0);
    kv = llm_kv_create(m);
    kv2 = llm_kv_create(m2);
    assert_int_equal(llm_prefill(m, kv, seq, 10, NULL, NULL, &tok), 0);
    assert_int_equal(llm_prefill(m, kv, seq + 10, n - 10, NULL, NULL, &tok), 0);
    for (int step = 0; step < 20; step++) {
        llm_kv_reset(kv2);
        assert_int_equal(llm_prefill(m2, kv2, seq, n, NULL, NULL, &tok2), 0);
        assert_int_equal(tok, tok2);
        assert_true(max_abs(llm_logits(m), LLM_VOCAB) > 1.0f);
        assert_true(max_abs_diff(llm_logits(m), llm_logits(m2), LLM_VOCAB) <
                    1e-4f);
        seq[n++] = tok;
        assert_int_equal(llm_decode_step(m, kv, tok, NULL, NULL, &tok), 0);
        assert_int_equal(llm_kv_len(kv), n);
    }
    llm_kv_destroy(kv);
    llm_kv_destroy(kv2);
    llm_destroy(m);
    llm_destroy(m2);
}

static void test_invalid_configs(void **state)
{
    struct llm_config cfg, bad;
    char err[128] = "";
    int prompt[200] = {0}, out[200];

    (void)state;
    llm_config_default(&cfg);
    assert_null(llm_create(&cfg, 0, 3, err, sizeof err)); /* 4 heads */
    assert_non_null(strstr(err, "3 ranks"));
    assert_null(llm_create(&cfg, 2, 2, err, sizeof err)); /* rank >= n */
    assert_null(llm_create(&cfg, 0, 0, err, sizeof err));
    bad = cfg;
    bad.heads = 5; /* does not divide 64 */
    assert_int_equal(llm_config_check(&bad, 1, err, sizeof err), LLM_ERR_INVAL);
    bad = cfg;
    bad.vocab = 512;
    assert_null(llm_create(&bad, 0, 1, NULL, 0));
    bad = cfg;
    bad.d_ff = 250; /* 4 heads divide, but d_ff % 4 != 0 */
    assert_int_equal(llm_config_check(&bad, 4, NULL, 0), LLM_ERR_INVAL);
    assert_int_equal(llm_config_check(&bad, 2, NULL, 0), 0);
    bad = cfg;
    bad.layers = 0;
    assert_int_equal(llm_generate(&bad, prompt, 4, 4, out), LLM_ERR_INVAL);
    assert_int_equal(llm_kv_slice_floats(&cfg, 3, 10), 0);

    assert_int_equal(llm_generate_tp(&cfg, 3, prompt, 4, 4, out, NULL),
                     LLM_ERR_INVAL);
    assert_int_equal(llm_generate(&cfg, prompt, 0, 4, out), LLM_ERR_INVAL);
    assert_int_equal(llm_generate(&cfg, prompt, 129, 1, out), LLM_ERR_RANGE);
    assert_int_equal(llm_generate(&cfg, prompt, 100, 30, out), LLM_ERR_RANGE);
    assert_int_equal(llm_generate(&cfg, prompt, 100, 29, out), 0);
    assert_int_equal(llm_generate_split(&cfg, 2, prompt, 128, 2, out, NULL),
                     LLM_ERR_RANGE);
    prompt[3] = 300;
    assert_int_equal(llm_generate_tp(&cfg, 2, prompt, 4, 4, out, NULL),
                     LLM_ERR_INVAL);
}

static int failing_allreduce(void *ctx, float *buf, size_t n)
{
    (void)buf;
    (void)n;
    ++*(int *)ctx;
    return -1;
}

/* Errors at run time leave the cache as it was. */
static void test_runtime_errors(void **state)
{
    struct llm_config cfg;
    struct llm *m, *r1;
    struct llm_kv *kv, *kv1;
    int prompt[128] = {0}, tok, calls = 0;

    (void)state;
    llm_config_default(&cfg);
    m = llm_create(&cfg, 0, 1, NULL, 0);
    kv = llm_kv_create(m);
    r1 = llm_create(&cfg, 1, 2, NULL, 0);
    kv1 = llm_kv_create(r1);
    assert_int_equal(llm_prefill(m, kv1, prompt, 4, NULL, NULL, &tok),
                     LLM_ERR_INVAL); /* kv of another shard */
    assert_int_equal(llm_decode_step(m, kv, -1, NULL, NULL, &tok),
                     LLM_ERR_INVAL);
    assert_int_equal(
        llm_prefill(r1, kv1, prompt, 4, failing_allreduce, &calls, &tok),
        LLM_ERR_ALLREDUCE);
    assert_int_equal(calls, 1);
    assert_int_equal(llm_kv_len(kv1), 0);
    assert_int_equal(llm_prefill(r1, kv1, prompt, 4, NULL, NULL, &tok),
                     LLM_ERR_ALLREDUCE); /* 2 ranks need an all-reduce */
    assert_int_equal(llm_prefill(m, kv, prompt, 127, NULL, NULL, &tok), 0);
    assert_int_equal(llm_decode_step(m, kv, tok, NULL, NULL, &tok), 0);
    assert_int_equal(llm_decode_step(m, kv, tok, NULL, NULL, &tok),
                     LLM_ERR_RANGE);
    assert_int_equal(llm_kv_len(kv), 128);
    llm_kv_destroy(kv1);
    llm_destroy(r1);
    llm_kv_destroy(kv);
    llm_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer_round_trip),
        cmocka_unit_test(test_argmax_ties),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_tp_reference_matches_by_hand),
        cmocka_unit_test(test_tp_logits_match_whole_model),
        cmocka_unit_test(test_kv_export_import),
        cmocka_unit_test(test_cache_matches_recompute),
        cmocka_unit_test(test_invalid_configs),
        cmocka_unit_test(test_runtime_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
