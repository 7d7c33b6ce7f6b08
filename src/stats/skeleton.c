/* skeleton: PC/FCI adjacency search (see skeleton.h). */
#include "stats/skeleton.h"

#include <stdlib.h>
#include <string.h>

#include "stats/citest.h"
#include "stats/stats_status.h"

int stats_ci_fisherz(void *ctx, size_t x, size_t y, const size_t *s, size_t k,
                     double *p)
{
    return stats_fisherz_test(ctx, x, y, s, k, p, NULL);
}

int stats_ci_disc(void *ctx, size_t x, size_t y, const size_t *s, size_t k,
                  double *p)
{
    return stats_disc_test(ctx, x, y, s, k, p, NULL, NULL);
}

void stats_skeleton_free(struct stats_skeleton *sk)
{
    if (!sk->sepset) {
        free(sk->adj);
        return;
    }
    for (size_t a = 0; a < sk->n; a++)
        for (size_t b = a + 1; b < sk->n; b++)
            free(sk->sepset[a * sk->n + b]);
    free(sk->sepset);
    free(sk->adj);
    memset(sk, 0, sizeof(*sk));
}

bool stats_skeleton_sep_has(const struct stats_skeleton *sk, size_t a, size_t b,
                            size_t v)
{
    const uint64_t *bs = sk->sepset[a * sk->n + b];

    return bs && (bs[v / 64] >> (v % 64) & 1);
}

/* Union S into the pair's separating set (allocating it on first use). */
static int sep_add(struct stats_skeleton *sk, size_t a, size_t b,
                   const size_t *s, size_t k)
{
    uint64_t **slot = &sk->sepset[a * sk->n + b];

    if (!*slot) {
        *slot = calloc(sk->words, sizeof(uint64_t));
        if (!*slot)
            return -STATS_E_NOMEM;
        sk->sepset[b * sk->n + a] = *slot;
    }
    for (size_t i = 0; i < k; i++)
        (*slot)[s[i] / 64] |= (uint64_t)1 << (s[i] % 64);
    return 0;
}

static size_t max_degree(const struct stats_skeleton *sk)
{
    size_t best = 0;

    for (size_t a = 0; a < sk->n; a++) {
        size_t d = 0;
        for (size_t b = 0; b < sk->n; b++)
            d += sk->adj[a * sk->n + b];
        if (d > best)
            best = d;
    }
    return best;
}

struct pair {
    size_t x, y;
};

/* Test x against y over every depth-subset of nb (x's neighbours but y). */
static int test_pair(struct stats_skeleton *sk, stats_ci_fn ci, void *ctx,
                     const struct stats_skeleton_opts *o, size_t x, size_t y,
                     const size_t *nb, size_t m, size_t depth, size_t *comb,
                     size_t *s, bool *removed)
{
    double alpha = o->alpha > 0 ? o->alpha : 0.05;

    *removed = false;
    if (depth > m)
        return 0;
    for (size_t i = 0; i < depth; i++)
        comb[i] = i;
    do {
        double p;
        for (size_t i = 0; i < depth; i++)
            s[i] = nb[comb[i]];
        int rc = ci(ctx, x, y, s, depth, &p);
        sk->tests++;
        if (rc < 0)
            return rc;
        if (p > alpha) {
            *removed = true;
            if (sep_add(sk, x, y, s, depth) < 0)
                return -STATS_E_NOMEM;
            if (o->unstable)
                return 0;
        }
    } while (depth > 0 && stats_comb_next(comb, depth, m));
    return 0;
}

int stats_skeleton_run(size_t n, stats_ci_fn ci, void *ctx,
                       const struct stats_skeleton_opts *opts,
                       struct stats_skeleton *sk)
{
    struct stats_skeleton_opts o = {0.05, false, -1};
    size_t *nb = NULL, *nb2 = NULL, *comb = NULL, *s = NULL;
    struct pair *rem = NULL;
    size_t nrem = 0;
    int rc = -STATS_E_NOMEM;

    if (opts)
        o = *opts;
    memset(sk, 0, sizeof(*sk));
    sk->n = n;
    sk->words = (n + 63) / 64 ? (n + 63) / 64 : 1;
    sk->adj = malloc(n * n + 1);
    sk->sepset = calloc(n * n + 1, sizeof(uint64_t *));
    nb = malloc((n + 1) * sizeof(size_t));
    nb2 = malloc((n + 1) * sizeof(size_t));
    comb = malloc((n + 1) * sizeof(size_t));
    s = malloc((n + 1) * sizeof(size_t));
    rem = malloc((n * n + 1) * sizeof(*rem));
    if (!sk->adj || !sk->sepset || !nb || !nb2 || !comb || !s || !rem)
        goto fail;
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            sk->adj[a * n + b] = a != b;
    sk->depth_reached = -1;
    for (size_t depth = 0; n > 0 && max_degree(sk) > depth; depth++) {
        if (o.max_depth >= 0 && (int)depth > o.max_depth)
            break;
        sk->depth_reached = (int)depth;
        nrem = 0;
        for (size_t x = 0; x < n; x++) {
            size_t m = 0;
            for (size_t y = 0; y < n; y++)
                if (sk->adj[x * n + y])
                    nb[m++] = y;
            for (size_t yi = 0; yi < m; yi++) {
                size_t y = nb[yi], m2 = 0;
                bool removed;
                if (o.unstable && !sk->adj[x * n + y])
                    continue; /* causal-learn finds no edge and moves on */
                for (size_t i = 0; i < m; i++)
                    if (nb[i] != y)
                        nb2[m2++] = nb[i];
                rc = test_pair(sk, ci, ctx, &o, x, y, nb2, m2, depth, comb, s,
                               &removed);
                if (rc < 0)
                    goto fail;
                if (removed && o.unstable) {
                    sk->adj[x * n + y] = sk->adj[y * n + x] = 0;
                } else if (removed) {
                    rem[nrem].x = x;
                    rem[nrem++].y = y;
                }
            }
        }
        for (size_t i = 0; i < nrem; i++)
            sk->adj[rem[i].x * n + rem[i].y] =
                sk->adj[rem[i].y * n + rem[i].x] = 0;
    }
    free(nb);
    free(nb2);
    free(comb);
    free(s);
    free(rem);
    return 0;
fail:
    free(nb);
    free(nb2);
    free(comb);
    free(s);
    free(rem);
    stats_skeleton_free(sk);
    return rc;
}
