/* pc: causal-learn's PC orientation (uc_sepset priority 2, Meek R1-R3) on
 * the stable skeleton; see pc.h. */
#include "stats/pc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stats/citest.h"
#include "stats/stats_status.h"

#define M(a, b) marks[(a)*n + (b)]

static bool directed(const signed char *marks, size_t n, size_t a, size_t b)
{
    return M(a, b) == -1 && M(b, a) == 1;
}

static bool undirected(const signed char *marks, size_t n, size_t a, size_t b)
{
    return M(a, b) == -1 && M(b, a) == -1;
}

static void orient(signed char *marks, size_t n, size_t a, size_t b)
{
    M(a, b) = -1;
    M(b, a) = 1;
}

/* Is a an ancestor of b over directed edges (a == b counts)? */
static bool ancestor(const signed char *marks, size_t n, size_t a, size_t b,
                     size_t *stack, unsigned char *seen)
{
    size_t top = 0;

    if (a == b)
        return true;
    memset(seen, 0, n);
    stack[top++] = a;
    seen[a] = 1;
    while (top) {
        size_t u = stack[--top];
        for (size_t v = 0; v < n; v++)
            if (!seen[v] && directed(marks, n, u, v)) {
                if (v == b)
                    return true;
                seen[v] = 1;
                stack[top++] = v;
            }
    }
    return false;
}

struct pairv {
    size_t a, b;
};

struct triple {
    size_t i, j, k;
};

struct tlist {
    struct triple *v;
    size_t len, cap;
};

static int tl_push(struct tlist *t, size_t i, size_t j, size_t k)
{
    if (t->len == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        struct triple *v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->len].i = i;
    t->v[t->len].j = j;
    t->v[t->len++].k = k;
    return 0;
}

/* causal-learn's find_adj(): find_tails() then find_arrow_heads(), each in
 * row-major order of the matrix, as (column, row) pairs. */
static struct pairv *adj_list(const signed char *marks, size_t n, size_t *len)
{
    struct pairv *v = malloc((n * n + 1) * sizeof(*v));
    size_t m = 0;

    if (!v)
        return NULL;
    for (int pass = 0; pass < 2; pass++) {
        int want = pass == 0 ? -1 : 1;
        for (size_t r = 0; r < n; r++)
            for (size_t c = 0; c < n; c++)
                if (M(r, c) == want) {
                    v[m].a = c;
                    v[m++].b = r;
                }
    }
    *len = m;
    return v;
}

/* Unshielded triples (shielded == false) or triangles (true) in the order
 * of causal-learn's permutations over find_adj(). */
static int triples(const signed char *marks, size_t n, bool shielded,
                   struct tlist *out)
{
    size_t len, *start = NULL, *next = NULL;
    struct pairv *adj = adj_list(marks, n, &len);
    unsigned char *isadj = NULL;
    int rc = -1;

    out->len = 0;
    if (!adj)
        return -1;
    start = malloc((n + 1) * sizeof(size_t));
    next = malloc((len + 1) * sizeof(size_t));
    isadj = calloc(n * n + 1, 1);
    if (!start || !next || !isadj)
        goto done;
    /* Chain the pairs by their first node, keeping list order. */
    for (size_t v = 0; v < n; v++)
        start[v] = len;
    for (size_t p = len; p-- > 0;) {
        next[p] = start[adj[p].a];
        start[adj[p].a] = p;
        isadj[adj[p].a * n + adj[p].b] = 1;
    }
    for (size_t p = 0; p < len; p++) {
        size_t a = adj[p].a, b = adj[p].b;
        for (size_t q = start[b]; q < len; q = next[q]) {
            size_t c = adj[q].b;
            if (c == a)
                continue;
            bool tri = isadj[a * n + c];
            if (shielded ? tri : M(a, c) == 0)
                if (tl_push(out, a, b, c) < 0)
                    goto done;
        }
    }
    rc = 0;
done:
    free(adj);
    free(start);
    free(next);
    free(isadj);
    return rc;
}

struct kite {
    size_t i, j, k, l;
};

/* find_kites(): pairs of triangles (i, j, l), (i, k, l) with j < k and j, k
 * non-adjacent, in permutation order. */
static int kites(const signed char *marks, size_t n, const struct tlist *tri,
                 struct kite **out, size_t *len)
{
    size_t cap = 16, m = 0;
    struct kite *v = malloc(cap * sizeof(*v));

    if (!v)
        return -1;
    for (size_t p = 0; p < tri->len; p++) {
        const struct triple *t0 = &tri->v[p];
        for (size_t q = 0; q < tri->len; q++) {
            const struct triple *t1 = &tri->v[q];
            if (q == p || t0->i != t1->i || t0->k != t1->k ||
                !(t0->j < t1->j) || M(t0->j, t1->j) != 0)
                continue;
            if (m == cap) {
                struct kite *w = realloc(v, 2 * cap * sizeof(*v));
                if (!w) {
                    free(v);
                    return -1;
                }
                v = w;
                cap *= 2;
            }
            v[m].i = t0->i;
            v[m].j = t0->j;
            v[m].k = t1->j;
            v[m++].l = t0->k;
        }
    }
    *out = v;
    *len = m;
    return 0;
}

/* uc_sepset(priority 2) on the undirected skeleton in marks. */
static int uc_sepset(const struct stats_skeleton *sk, signed char *marks,
                     size_t *colliders)
{
    size_t n = sk->n;
    struct tlist ut = {0};

    if (triples(marks, n, false, &ut) < 0)
        return -STATS_E_NOMEM;
    for (size_t t = 0; t < ut.len; t++) {
        size_t x = ut.v[t].i, y = ut.v[t].j, z = ut.v[t].k;
        if (x >= z || stats_skeleton_sep_has(sk, x, z, y))
            continue;
        if (directed(marks, n, y, x) || directed(marks, n, y, z))
            continue;
        orient(marks, n, x, y);
        orient(marks, n, z, y);
        (*colliders)++;
    }
    free(ut.v);
    return 0;
}

static int meek(signed char *marks, size_t n)
{
    struct tlist ut = {0}, tri = {0};
    struct kite *kt = NULL;
    size_t nk = 0, *stack = malloc((n + 1) * sizeof(size_t));
    unsigned char *seen = malloc(n + 1);
    int rc = -STATS_E_NOMEM;
    bool loop = true;

    if (!stack || !seen || triples(marks, n, false, &ut) < 0 ||
        triples(marks, n, true, &tri) < 0 ||
        kites(marks, n, &tri, &kt, &nk) < 0)
        goto done;
    while (loop) {
        loop = false;
        for (size_t t = 0; t < ut.len; t++) { /* R1 */
            size_t i = ut.v[t].i, j = ut.v[t].j, k = ut.v[t].k;
            if (directed(marks, n, i, j) && undirected(marks, n, j, k) &&
                !ancestor(marks, n, k, j, stack, seen)) {
                orient(marks, n, j, k);
                loop = true;
            }
        }
        for (size_t t = 0; t < tri.len; t++) { /* R2 */
            size_t i = tri.v[t].i, j = tri.v[t].j, k = tri.v[t].k;
            if (directed(marks, n, i, j) && directed(marks, n, j, k) &&
                undirected(marks, n, i, k) &&
                !ancestor(marks, n, k, i, stack, seen)) {
                orient(marks, n, i, k);
                loop = true;
            }
        }
        for (size_t t = 0; t < nk; t++) { /* R3 */
            size_t i = kt[t].i, j = kt[t].j, k = kt[t].k, l = kt[t].l;
            if (undirected(marks, n, i, j) && undirected(marks, n, i, k) &&
                directed(marks, n, j, l) && directed(marks, n, k, l) &&
                undirected(marks, n, i, l) &&
                !ancestor(marks, n, l, i, stack, seen)) {
                orient(marks, n, i, l);
                loop = true;
            }
        }
    }
    rc = 0;
done:
    free(ut.v);
    free(tri.v);
    free(kt);
    free(stack);
    free(seen);
    return rc;
}

int stats_pc_orient(const struct stats_skeleton *sk, signed char *marks,
                    size_t *colliders)
{
    size_t n = sk->n, c = 0;
    int rc;

    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            M(a, b) = sk->adj[a * n + b] ? -1 : 0;
    rc = uc_sepset(sk, marks, &c);
    if (rc == 0)
        rc = meek(marks, n);
    if (colliders)
        *colliders = c;
    return rc;
}

int stats_pc_run(size_t n, stats_ci_fn ci, void *ctx,
                 const struct stats_pc_opts *opts, signed char *marks,
                 struct stats_pc_info *info)
{
    struct stats_skeleton sk;
    size_t colliders = 0;
    int rc = stats_skeleton_run(n, ci, ctx, opts ? &opts->skeleton : NULL, &sk);

    if (rc < 0)
        return rc;
    rc = stats_pc_orient(&sk, marks, &colliders);
    if (info) {
        info->tests = sk.tests;
        info->colliders = colliders;
        info->depth = sk.depth_reached;
        info->edges = 0;
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b < n; b++)
                info->edges += sk.adj[a * n + b];
    }
    stats_skeleton_free(&sk);
    return rc;
}

int stats_pc_fisherz(const double *x, size_t rows, size_t cols,
                     const struct stats_pc_opts *opts, signed char *marks,
                     struct stats_pc_info *info)
{
    struct stats_fisherz *fz = stats_fisherz_create(x, rows, cols);
    int rc;

    if (!fz)
        return -STATS_E_INVAL;
    rc = stats_pc_run(cols, stats_ci_fisherz, fz, opts, marks, info);
    stats_fisherz_destroy(fz);
    return rc;
}
