/* fci: causal-learn 0.1.3.3's FCI on top of the shared adjacency search
 * (see fci.h for the steps and the departures). The graph is one mark
 * matrix, m[a*n + b] the mark at a on edge a - b, exactly causal-learn's
 * GeneralGraph.graph, so every rule below reads as its Python original:
 * get_endpoint(x, y) (the mark at y on x - y) is M(y, x). */
#include "stats/fci.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/cgraph.h"
#include "stats/citest.h"
#include "stats/stats_status.h"

#define PDSEP_BUDGET_DEFAULT 2000000UL

struct fci {
    size_t n, words;
    signed char *m;
    struct stats_skeleton sk; /* FAS: adjacency search, symmetric sepsets */
    uint64_t **sepdir;        /* [a*n + b]: set by possible-d-sep, ordered */
    stats_ci_fn ci;
    void *ctx;
    double alpha;
    unsigned long tests, pdsep_tests, budget;
    size_t pdsep_removed, pdsep_max;
    bool truncated;
    /* scratch, n (+1) each unless noted */
    size_t *list, *queue, *rqueue, *comb, *set, *rank;
    unsigned char *flag, *flag2;
    uint64_t *prev;          /* possible-d-sep: n bitsets, "reached from" */
    uint64_t *reach;         /* semi-directed reachability: n bitsets */
    unsigned char *reach_ok; /* reach[r] valid for the current edges */
};

#define M(a, b) (f->m[(a)*f->n + (b)])

static bool adj(const struct fci *f, size_t a, size_t b)
{
    return M(a, b) != 0;
}

static bool bit(const uint64_t *s, size_t v)
{
    return s && (s[v / 64] >> (v % 64) & 1);
}

static void bit_set(uint64_t *s, size_t v)
{
    s[v / 64] |= (uint64_t)1 << (v % 64);
}

/* The separating set recorded for the ordered pair (a, b), or NULL:
 * possible-d-sep's (ordered) first, else the FAS one (both orders). */
static const uint64_t *sep_get(const struct fci *f, size_t a, size_t b)
{
    const uint64_t *s = f->sepdir[a * f->n + b];

    return s ? s : f->sk.sepset[a * f->n + b];
}

/* causal-learn's is_arrow_point_allowed(x, y) without knowledge: by the
 * mark at y on x - y. */
static bool arrow_allowed(const struct fci *f, size_t x, size_t y)
{
    return M(y, x) == STATS_MARK_ARROW || M(y, x) == STATS_MARK_CIRCLE;
}

/* is_def_collider(a, b, c): both marks at b are arrowheads. */
static bool def_collider(const struct fci *f, size_t a, size_t b, size_t c)
{
    return adj(f, a, b) && adj(f, b, c) && M(b, a) == STATS_MARK_ARROW &&
           M(b, c) == STATS_MARK_ARROW;
}

static int test(struct fci *f, size_t x, size_t y, const size_t *s, size_t k,
                bool *indep)
{
    double p;
    int rc = f->ci(f->ctx, x, y, s, k, &p);

    f->tests++;
    if (rc < 0)
        return rc;
    *indep = p > f->alpha;
    return 0;
}

/* Neighbours of b in index order into f->list; returns the count. */
static size_t neighbours(const struct fci *f, size_t b, size_t *out)
{
    size_t k = 0;

    for (size_t v = 0; v < f->n; v++)
        if (v != b && adj(f, b, v))
            out[k++] = v;
    return k;
}

static void all_circles(struct fci *f)
{
    for (size_t i = 0; i < f->n * f->n; i++)
        if (f->m[i])
            f->m[i] = STATS_MARK_CIRCLE;
}

/* ---------------------------------------------------------------------
 * R0: unshielded colliders from the separating sets
 * --------------------------------------------------------------------- */

static void rule0(struct fci *f)
{
    for (size_t b = 0; b < f->n; b++) {
        size_t k = neighbours(f, b, f->list);
        for (size_t i = 0; i + 1 < k; i++)
            for (size_t j = i + 1; j < k; j++) {
                size_t a = f->list[i], c = f->list[j];
                if (adj(f, a, c) || def_collider(f, a, b, c))
                    continue;
                const uint64_t *s = sep_get(f, a, c);
                if (!s || bit(s, b))
                    continue;
                if (!arrow_allowed(f, a, b) || !arrow_allowed(f, c, b))
                    continue;
                M(b, a) = STATS_MARK_ARROW;
                M(b, c) = STATS_MARK_ARROW;
            }
    }
}

/* ---------------------------------------------------------------------
 * Possible-d-sep
 * --------------------------------------------------------------------- */

/* Nodes reachable from r over edges whose mark at the near end is a tail
 * or a circle (causal-learn's existsSemiDirectedPath, one BFS per r and
 * edge set). */
static const uint64_t *semi_reach(struct fci *f, size_t r)
{
    uint64_t *rs = f->reach + r * f->words;
    size_t head = 0, tail = 0;

    if (f->reach_ok[r])
        return rs;
    memset(rs, 0, f->words * sizeof(uint64_t));
    f->rqueue[tail++] = r;
    while (head < tail) {
        size_t t = f->rqueue[head++];
        for (size_t u = 0; u < f->n; u++) {
            if (u == t || !adj(f, t, u) || M(t, u) == STATS_MARK_ARROW)
                continue;
            if (!bit(rs, u)) {
                bit_set(rs, u);
                f->rqueue[tail++] = u;
            }
        }
    }
    f->reach_ok[r] = 1;
    return rs;
}

/* existOnePathWithPossibleParents(previous, w, x, w): some r that w was
 * reached from (r != w, r != x) has a semi-directed path to x or to w. */
static bool one_path(struct fci *f, size_t w, size_t x)
{
    const uint64_t *pw = f->prev + w * f->words;

    for (size_t r = 0; r < f->n; r++) {
        if (!bit(pw, r) || r == w || r == x)
            continue;
        const uint64_t *rs = semi_reach(f, r);
        if (bit(rs, x) || bit(rs, w))
            return true;
    }
    return false;
}

/* Possible-d-sep(x, y) into out (causal-learn's order: node names
 * descending as strings); returns its size. */
static size_t possible_dsep(struct fci *f, size_t x, size_t y, size_t *out)
{
    size_t n = f->n, head = 0, tail = 0, k = 0;
    unsigned char *queued = f->flag, *in = f->flag2;

    memset(queued, 0, n);
    memset(in, 0, n);
    memset(f->prev, 0, n * f->words * sizeof(uint64_t));
    for (size_t b = 0; b < n; b++)
        if (b != x && b != y && adj(f, x, b)) {
            f->queue[tail++] = b;
            queued[b] = 1;
            in[b] = 1;
        }
    while (head < tail) {
        size_t b = f->queue[head++];
        if (one_path(f, b, x))
            in[b] = 1;
        for (size_t c = 0; c < n; c++) {
            if (c == b || !adj(f, b, c) || c == x || c == y)
                continue;
            bit_set(f->prev + c * f->words, b);
            /* causal-learn queues (x, c), not (b, c) */
            if ((def_collider(f, x, b, c) || adj(f, x, c)) && !queued[c]) {
                queued[c] = 1;
                f->queue[tail++] = c;
            }
        }
    }
    in[x] = in[y] = 0;
    for (size_t r = 0; r < n; r++) /* f->rank: nodes by name, descending */
        if (in[f->rank[r]])
            out[k++] = f->rank[r];
    return k;
}

static bool all_adjacent(const struct fci *f, size_t a, const size_t *s,
                         size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (!adj(f, a, s[i]))
            return false;
    return true;
}

/* Test a against b given every subset of pds (sizes >= 2, ascending) that
 * lies inside neither adj(a) nor adj(b); when one separates, *removed is
 * set and the set is f->set[0..*r). */
static int pdsep_search(struct fci *f, size_t a, size_t b, const size_t *pds,
                        size_t k, bool *removed, size_t *rsize)
{
    *removed = false;
    for (size_t r = 2; r <= k; r++) {
        for (size_t i = 0; i < r; i++)
            f->comb[i] = i;
        /* causal-learn keeps a reference to DepthChoiceGenerator's list,
         * which next() then advances in place: below the full size, the
         * first subset of each size is never tested (the last one twice) */
        if (r < k && !stats_comb_next(f->comb, r, k))
            continue;
        do {
            bool indep;
            int rc;
            for (size_t i = 0; i < r; i++)
                f->set[i] = pds[f->comb[i]];
            if (all_adjacent(f, a, f->set, r) || all_adjacent(f, b, f->set, r))
                continue;
            if (f->budget != (unsigned long)-1 && f->pdsep_tests >= f->budget) {
                f->truncated = true;
                return 0;
            }
            f->pdsep_tests++;
            if ((rc = test(f, a, b, f->set, r, &indep)) < 0)
                return rc;
            if (indep) {
                *removed = true;
                *rsize = r;
                return 0;
            }
        } while (stats_comb_next(f->comb, r, k));
    }
    return 0;
}

static int record_removal(struct fci *f, size_t a, size_t b, size_t r)
{
    uint64_t *s = calloc(f->words, sizeof(uint64_t));

    if (!s)
        return -STATS_E_NOMEM;
    for (size_t i = 0; i < r; i++)
        bit_set(s, f->set[i]);
    free(f->sepdir[a * f->n + b]);
    f->sepdir[a * f->n + b] = s;
    M(a, b) = M(b, a) = 0;
    memset(f->reach_ok, 0, f->n);
    f->pdsep_removed++;
    return 0;
}

static int remove_by_pdsep(struct fci *f, size_t *pds)
{
    size_t n = f->n, ne = 0, *ea, *eb;
    int rc = 0;

    ea = malloc((n * n / 2 + 1) * sizeof(size_t));
    eb = malloc((n * n / 2 + 1) * sizeof(size_t));
    if (!ea || !eb) {
        rc = -STATS_E_NOMEM;
        goto out;
    }
    /* get_graph_edges(): pairs i < j; Edge() flips an edge whose first
     * mark is an arrowhead and second a tail or circle */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (!adj(f, i, j))
                continue;
            bool flip =
                M(i, j) == STATS_MARK_ARROW &&
                (M(j, i) == STATS_MARK_TAIL || M(j, i) == STATS_MARK_CIRCLE);
            ea[ne] = flip ? j : i;
            eb[ne++] = flip ? i : j;
        }
    memset(f->reach_ok, 0, n);
    for (size_t e = 0; e < ne && !f->truncated; e++) {
        size_t a = ea[e], b = eb[e];
        bool removed = false;
        size_t r = 0;
        for (int dir = 0; dir < 2 && !removed && !f->truncated; dir++) {
            size_t k =
                dir ? possible_dsep(f, b, a, pds) : possible_dsep(f, a, b, pds);
            if (k > f->pdsep_max)
                f->pdsep_max = k;
            if ((rc = pdsep_search(f, a, b, pds, k, &removed, &r)) < 0)
                goto out;
            if (removed && (rc = record_removal(f, a, b, r)) < 0)
                goto out;
        }
    }
out:
    free(ea);
    free(eb);
    return rc;
}

/* ---------------------------------------------------------------------
 * Orientation rules R1, R2, R4
 * --------------------------------------------------------------------- */

/* R1: a *-> b o-* c, a and c not adjacent: b -> c. */
static bool rule1(struct fci *f, size_t a, size_t b, size_t c)
{
    if (adj(f, a, c))
        return false;
    if (M(b, a) != STATS_MARK_ARROW || M(b, c) != STATS_MARK_CIRCLE)
        return false;
    if (!arrow_allowed(f, b, c))
        return false;
    M(c, b) = STATS_MARK_ARROW;
    M(b, c) = STATS_MARK_TAIL;
    return true;
}

/* R2: a -> b *-> c or a *-> b -> c, and a *-o c: a *-> c. */
static bool rule2(struct fci *f, size_t a, size_t b, size_t c)
{
    if (!adj(f, a, c) || M(c, a) != STATS_MARK_CIRCLE)
        return false;
    if (M(b, a) != STATS_MARK_ARROW || M(c, b) != STATS_MARK_ARROW)
        return false;
    if (M(a, b) != STATS_MARK_TAIL && M(b, c) != STATS_MARK_TAIL)
        return false;
    if (!arrow_allowed(f, a, c))
        return false;
    M(c, a) = STATS_MARK_ARROW;
    return true;
}

static bool rules_r1r2(struct fci *f)
{
    bool ch = false;

    for (size_t b = 0; b < f->n; b++) {
        size_t k = neighbours(f, b, f->list);
        for (size_t i = 0; i + 1 < k; i++)
            for (size_t j = i + 1; j < k; j++) {
                size_t a = f->list[i], c = f->list[j];
                ch |= rule1(f, a, b, c);
                ch |= rule1(f, c, b, a);
                ch |= rule2(f, a, b, c);
                ch |= rule2(f, c, b, a);
            }
    }
    return ch;
}

static bool parent_of(const struct fci *f, size_t a, size_t c)
{
    return M(a, c) == STATS_MARK_TAIL && M(c, a) == STATS_MARK_ARROW;
}

/* doDdpOrientation: d ... a b c a discriminating path for b (prev holds
 * the path back from d to b). Sets *done when it oriented. */
static int ddp_orient(struct fci *f, size_t d, size_t a, size_t b, size_t c,
                      const size_t *prev, bool *done)
{
    size_t k = 0, k2 = 0;
    bool ind, ind2;
    int rc;

    *done = false;
    for (size_t p = prev[d]; p != SIZE_MAX; p = prev[p])
        f->set[k++] = p; /* t, ..., a, b */
    if ((rc = test(f, d, c, f->set, k, &ind)) < 0)
        return rc;
    for (size_t i = 0; i < k; i++)
        if (f->set[i] != b)
            f->comb[k2++] = f->set[i];
    if ((rc = test(f, d, c, f->comb, k2, &ind2)) < 0)
        return rc;
    if (!ind && !ind2) {
        const uint64_t *s = sep_get(f, d, c);
        if (!s)
            return 0;
        ind = bit(s, b);
    }
    if (ind) {
        M(b, c) = STATS_MARK_TAIL;
    } else {
        if (!arrow_allowed(f, a, b) || !arrow_allowed(f, c, b))
            return 0;
        M(b, a) = STATS_MARK_ARROW;
        M(b, c) = STATS_MARK_ARROW;
    }
    *done = true;
    return 0;
}

/* ddpOrient: breadth-first back from a over colliders that are parents of
 * c, trying each end d not adjacent to c. */
static int ddp_search(struct fci *f, size_t a, size_t b, size_t c, size_t *prev,
                      bool *changed)
{
    size_t n = f->n, head = 0, tail = 0;
    unsigned char *seen = f->flag;

    memset(seen, 0, n);
    for (size_t i = 0; i < n; i++)
        prev[i] = SIZE_MAX;
    f->queue[tail++] = a;
    seen[a] = seen[b] = 1;
    prev[a] = b;
    while (head < tail) {
        size_t t = f->queue[head++];
        for (size_t d = 0; d < n; d++) {
            bool done;
            int rc;
            if (d == t || !adj(f, t, d) || M(t, d) != STATS_MARK_ARROW ||
                seen[d])
                continue;
            prev[d] = t;
            if (!def_collider(f, d, t, prev[t]))
                continue;
            if (!adj(f, d, c) && d != c) {
                if ((rc = ddp_orient(f, d, a, b, c, prev, &done)) < 0)
                    return rc;
                if (done) {
                    *changed = true;
                    return 0;
                }
            }
            if (parent_of(f, d, c)) {
                f->queue[tail++] = d;
                seen[d] = 1;
            }
        }
    }
    return 0;
}

static int rule4(struct fci *f, size_t *prev, bool *changed)
{
    size_t n = f->n;
    size_t *pa = malloc((n + 1) * sizeof(size_t));
    size_t *pc = malloc((n + 1) * sizeof(size_t));
    int rc = 0;

    if (!pa || !pc) {
        rc = -STATS_E_NOMEM;
        goto out;
    }
    for (size_t b = 0; b < n && rc == 0; b++) {
        size_t na = 0, nc = 0;
        for (size_t v = 0; v < n; v++) {
            if (v == b || !adj(f, b, v))
                continue;
            if (M(v, b) == STATS_MARK_ARROW) /* b *-> v */
                pa[na++] = v;
            if (M(b, v) == STATS_MARK_CIRCLE) /* v *-o b */
                pc[nc++] = v;
        }
        for (size_t i = 0; i < na && rc == 0; i++)
            for (size_t j = 0; j < nc && rc == 0; j++) {
                size_t a = pa[i], c = pc[j];
                if (!parent_of(f, a, c) || M(c, b) != STATS_MARK_ARROW)
                    continue;
                rc = ddp_search(f, a, b, c, prev, changed);
            }
    }
out:
    free(pa);
    free(pc);
    return rc;
}

/* ---------------------------------------------------------------------
 * The run
 * --------------------------------------------------------------------- */

/* causal-learn names node i "X{i+1}" and sorts possible-d-sep by those
 * names, descending as strings: X9 ... X2 X12 X11 X10 X1. */
static int name_rank(struct fci *f)
{
    size_t n = f->n;
    char(*names)[24] = malloc((n + 1) * sizeof(*names));
    const char **ptr = malloc((n + 1) * sizeof(char *));

    if (!names || !ptr) {
        free(names);
        free(ptr);
        return -STATS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "X%zu", i + 1);
        ptr[i] = names[i];
        f->rank[i] = i;
    }
    /* insertion sort: n is small and qsort_r is not C11 */
    for (size_t i = 1; i < n; i++) {
        size_t v = f->rank[i], j = i;
        while (j > 0 && strcmp(ptr[f->rank[j - 1]], ptr[v]) < 0) {
            f->rank[j] = f->rank[j - 1];
            j--;
        }
        f->rank[j] = v;
    }
    free(names);
    free(ptr);
    return 0;
}

static void fci_free(struct fci *f)
{
    if (f->sepdir)
        for (size_t i = 0; i < f->n * f->n; i++)
            free(f->sepdir[i]);
    free(f->sepdir);
    free(f->list);
    free(f->queue);
    free(f->rqueue);
    free(f->comb);
    free(f->set);
    free(f->rank);
    free(f->flag);
    free(f->flag2);
    free(f->prev);
    free(f->reach);
    free(f->reach_ok);
    stats_skeleton_free(&f->sk);
}

static int fci_alloc(struct fci *f, size_t n)
{
    size_t w = (n + 63) / 64 ? (n + 63) / 64 : 1;

    f->words = w;
    f->sepdir = calloc(n * n + 1, sizeof(uint64_t *));
    f->list = malloc((n + 1) * sizeof(size_t));
    f->queue = malloc((n + 1) * sizeof(size_t));
    f->rqueue = malloc((n + 1) * sizeof(size_t));
    f->comb = malloc((n + 1) * sizeof(size_t));
    f->set = malloc((n + 1) * sizeof(size_t));
    f->rank = malloc((n + 1) * sizeof(size_t));
    f->flag = malloc(n + 1);
    f->flag2 = malloc(n + 1);
    f->prev = malloc((n * w + 1) * sizeof(uint64_t));
    f->reach = malloc((n * w + 1) * sizeof(uint64_t));
    f->reach_ok = malloc(n + 1);
    if (!f->sepdir || !f->list || !f->queue || !f->rqueue || !f->comb ||
        !f->set || !f->rank || !f->flag || !f->flag2 || !f->prev || !f->reach ||
        !f->reach_ok)
        return -STATS_E_NOMEM;
    return name_rank(f);
}

static int orient(struct fci *f, size_t *scratch)
{
    bool changed = true;
    int rc;

    while (changed) {
        changed = rules_r1r2(f);
        /* R3: a no-op in causal-learn 0.1.3.3 (see fci.h) */
        if (changed && (rc = rule4(f, scratch, &changed)) < 0)
            return rc;
    }
    return 0;
}

int stats_fci_run(size_t n, stats_ci_fn ci, void *ctx,
                  const struct stats_fci_opts *opts, signed char *marks,
                  struct stats_fci_info *info)
{
    struct stats_skeleton_opts so = {0.05, false, -1};
    struct fci fs, *f = &fs;
    size_t *scratch = NULL;
    int rc;

    memset(f, 0, sizeof(*f));
    if (opts)
        so = opts->skeleton;
    f->n = n;
    f->m = marks;
    f->ci = ci;
    f->ctx = ctx;
    f->alpha = so.alpha > 0 ? so.alpha : 0.05;
    f->budget =
        opts && opts->pdsep_budget ? opts->pdsep_budget : PDSEP_BUDGET_DEFAULT;
    if ((rc = stats_skeleton_run(n, ci, ctx, &so, &f->sk)) < 0)
        return rc;
    f->tests = f->sk.tests;
    if ((rc = fci_alloc(f, n)) < 0 ||
        !(scratch = malloc((n + 1) * sizeof(size_t)))) {
        rc = rc < 0 ? rc : -STATS_E_NOMEM;
        goto out;
    }
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            M(a, b) = f->sk.adj[a * n + b] ? STATS_MARK_CIRCLE : 0;
    rule0(f);
    if ((rc = remove_by_pdsep(f, scratch)) < 0)
        goto out;
    all_circles(f);
    rule0(f);
    if ((rc = orient(f, scratch)) < 0)
        goto out;
    if (info) {
        memset(info, 0, sizeof(*info));
        info->tests = f->tests;
        info->pdsep_tests = f->pdsep_tests;
        info->pdsep_removed = f->pdsep_removed;
        info->pdsep_max = f->pdsep_max;
        info->pdsep_truncated = f->truncated;
        info->depth = f->sk.depth_reached;
        for (size_t a = 0; a < n; a++)
            for (size_t b = 0; b < n; b++) {
                info->edges += a < b && adj(f, a, b);
                info->circles += M(a, b) == STATS_MARK_CIRCLE;
            }
    }
out:
    free(scratch);
    fci_free(f);
    return rc;
}

int stats_fci_fisherz(const double *x, size_t rows, size_t cols,
                      const struct stats_fci_opts *opts, signed char *marks,
                      struct stats_fci_info *info)
{
    struct stats_fisherz *fz = stats_fisherz_create(x, rows, cols);
    int rc;

    if (!fz)
        return -STATS_E_INVAL;
    rc = stats_fci_run(cols, stats_ci_fisherz, fz, opts, marks, info);
    stats_fisherz_destroy(fz);
    return rc;
}
