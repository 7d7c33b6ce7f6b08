/* rcd: RCD (Ikram et al., "Root Cause Analysis of Failures in
 * Microservices through Causal Discovery", NeurIPS 2022) as RCAEval runs it
 * (RCAEval/e2e/rcd.py, rcd() with gamma 5, bins 5, localized; its
 * utility/SkeletonDiscovery.py, local_skeleton_discovery(); its
 * utility/GraphClass.py):
 *
 *  1. The windows split at the inject time, each preprocessed (constant
 *     columns dropped, mem/1e6), columns intersected (normal's order).
 *  2. Each column over both windows discretised into 5 bins (scikit-learn's
 *     KBinsDiscretizer, k-means strategy); an extra F-node column is 0 on
 *     normal rows and 1 on anomalous rows.
 *  3. Psi-PC on a set of columns: for alpha = a0, a0 + 0.1, ... below 1,
 *     the localized skeleton search around the F-node with the chi-square
 *     test: at depth d = 0, 1, ... (while the graph's largest degree - 1
 *     exceeds d) the F-node's neighbours are visited in a random order and
 *     each neighbour y is tested against F given every d-subset of the
 *     other F-neighbours (depth 0: marginally); the edge goes at the first
 *     p > alpha, and every p <= alpha is appended to y's p-value list. The
 *     F-node's remaining neighbours not yet found are appended to the
 *     result, ordered by their p-value lists compared as Python lists
 *     (lexicographically), smallest first, equal lists in reverse order of
 *     position (RCD's _order_neighbors: argmax taken and prepended). The
 *     search stops at the alpha where the result holds min_nodes nodes.
 *  4. Phase 1: the columns, in a random order, cut into chunks of gamma;
 *     Psi-PC on each chunk (a0 = 0.01, min_nodes 1); the union of what the
 *     chunks return replaces the columns, level after level, until it has
 *     at most gamma columns or stops shrinking. Phase 2: Psi-PC on the
 *     union (a0 = 0.001, all of its columns).
 *  5. The ranking is Phase 2's result in its order; columns not in it are
 *     not ranked (as RCAEval).
 *
 * The random orders (chunks, neighbour visits) come from the seeded
 * generator (RCAEval leaves numpy's global one unseeded). Parameters:
 * gamma (5), bins (5), shuffle (1; 0 keeps the column and neighbour order,
 * which is RCAEval's result with numpy.random.permutation made the
 * identity: the way its output was compared with this code). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/citest.h"
#include "stats/stats_status.h"

#define RCD_LOCAL_ALPHA 0.01 /* Phase 1's first alpha (LOCAL_ALPHA) */
#define RCD_START_ALPHA 0.001
#define RCD_ALPHA_STEP 0.1

static const char *const rcd_params[] = {"gamma", "bins", "shuffle", NULL};

struct rcd {
    size_t n, rows; /* columns, rows of both windows */
    int *code;      /* rows x (n + 1), column-major; column n: F */
    struct stats_rng rng;
    size_t gamma;
    bool shuffle; /* false: no random orders (to compare with RCAEval's
                     code with numpy.random.permutation patched out) */
    /* scratch for one Psi-PC run (k + 1 <= n + 1 variables) */
    /* the chi-square test over every column and F (column n), recoded
     * once: a column's codes do not depend on which others are tested */
    struct stats_disc *disc;
    unsigned char *adjf; /* adjacency to F of each local variable */
    double **pl;         /* p-value lists */
    size_t *plen, *pcap;
    size_t *perm, *nbf, *comb, *set, *tmp;
};

/* ---------------------------------------------------------------------
 * The localized skeleton (local_skeleton_discovery) and Psi-PC
 * --------------------------------------------------------------------- */

static int pl_push(struct rcd *r, size_t y, double p)
{
    if (r->plen[y] == r->pcap[y]) {
        size_t cap = r->pcap[y] ? 2 * r->pcap[y] : 8;
        double *v = realloc(r->pl[y], cap * sizeof(double));
        if (!v)
            return -RCA_E_NOMEM;
        r->pl[y] = v;
        r->pcap[y] = cap;
    }
    r->pl[y][r->plen[y]++] = p;
    return 0;
}

/* One localized skeleton search around F (index k) on the k local
 * variables at alpha. Leaves r->adjf (F's neighbours) and the p-value
 * lists. */
static int local_skeleton(struct rcd *r, const size_t *cols, size_t k,
                          double alpha)
{
    size_t f = r->n; /* the F-node's global index */
    int depth = -1;

    for (size_t y = 0; y < k; y++) {
        r->adjf[y] = 1;
        r->plen[y] = 0;
    }
    for (;;) {
        /* the largest degree: a non-F variable is adjacent to the other
         * k - 1 and to F if still its neighbour */
        size_t nf = 0;
        for (size_t y = 0; y < k; y++)
            nf += r->adjf[y];
        size_t maxdeg = k > 0 ? k - 1 + (nf > 0) : 0;
        if (nf > maxdeg)
            maxdeg = nf;
        if (!((long)maxdeg - 1 > depth))
            break;
        depth++;
        size_t m = 0;
        for (size_t y = 0; y < k; y++)
            if (r->adjf[y])
                r->perm[m++] = y;
        if (r->shuffle)
            rca_rng_shuffle(&r->rng, r->perm, m);
        for (size_t pi = 0; pi < m; pi++) {
            size_t y = r->perm[pi], mb = 0;
            if (!r->adjf[y])
                continue; /* cannot happen: only y's own edge goes */
            if (depth > 0)
                for (size_t s = 0; s < k; s++)
                    if (s != y && r->adjf[s])
                        r->nbf[mb++] = s;
            if ((size_t)depth > mb)
                continue;
            for (size_t i = 0; i < (size_t)depth; i++)
                r->comb[i] = i;
            do {
                double pv;
                for (size_t i = 0; i < (size_t)depth; i++)
                    r->set[i] = cols[r->nbf[r->comb[i]]];
                int rc = stats_disc_test(r->disc, f, cols[y], r->set,
                                         (size_t)depth, &pv, NULL, NULL);
                if (rc < 0)
                    return rc == -STATS_E_NOMEM ? -RCA_E_NOMEM : -RCA_E_DATA;
                if (pv > alpha) {
                    r->adjf[y] = 0;
                    break;
                }
                if ((rc = pl_push(r, y, pv)) < 0)
                    return rc;
            } while (depth > 0 && stats_comb_next(r->comb, (size_t)depth, mb));
        }
    }
    return 0;
}

/* Python's list comparison of two p-value lists: <0, 0, >0. */
static int pl_cmp(const struct rcd *r, size_t a, size_t b)
{
    size_t la = r->plen[a], lb = r->plen[b];

    for (size_t i = 0; i < la && i < lb; i++)
        if (r->pl[a][i] != r->pl[b][i])
            return r->pl[a][i] < r->pl[b][i] ? -1 : 1;
    return la < lb ? -1 : la > lb;
}

/* _order_neighbors: take the largest list (first on ties), put it in
 * front of those taken before; new[0..m) is reordered in place. */
static void order_neighbours(const struct rcd *r, size_t *nw, size_t m)
{
    size_t *out = r->tmp, left = m;

    while (left > 0) {
        size_t best = 0;
        for (size_t i = 1; i < left; i++)
            if (pl_cmp(r, nw[i], nw[best]) > 0)
                best = i;
        out[--left] = nw[best];
        memmove(nw + best, nw + best + 1, (left - best) * sizeof(size_t));
    }
    memcpy(nw, out, m * sizeof(size_t));
}

/* run_psi_pc on the columns cols[0..k) (global indices, in this order):
 * result (global indices) into res, *nres its length. */
static int psi_pc(struct rcd *r, const size_t *cols, size_t k,
                  double start_alpha, size_t min_nodes, size_t *res,
                  size_t *nres)
{
    size_t *nw = malloc((k + 1) * sizeof(size_t));
    unsigned char *found = calloc(k + 1, 1);
    int rc = 0;

    *nres = 0;
    if (!nw || !found) {
        rc = -RCA_E_NOMEM;
        goto out;
    }
    if (k == 0)
        goto out;
    /* numpy.arange(start_alpha, 1, 0.1) */
    size_t steps = (size_t)ceil((1.0 - start_alpha) / RCD_ALPHA_STEP);
    for (size_t s = 0; s < steps && rc == 0; s++) {
        double alpha = start_alpha + (double)s * RCD_ALPHA_STEP;
        size_t m = 0;
        if ((rc = local_skeleton(r, cols, k, alpha)) < 0)
            break;
        for (size_t y = 0; y < k; y++)
            if (r->adjf[y] && !found[y])
                nw[m++] = y;
        if (m == 0)
            continue;
        order_neighbours(r, nw, m);
        for (size_t i = 0; i < m; i++) {
            found[nw[i]] = 1;
            res[(*nres)++] = cols[nw[i]];
        }
        if (*nres == min_nodes)
            break;
    }
out:
    free(nw);
    free(found);
    return rc;
}

/* ---------------------------------------------------------------------
 * The phases
 * --------------------------------------------------------------------- */

static int run_level(struct rcd *r, const size_t *cur, size_t k, size_t *next,
                     size_t *nnext)
{
    size_t g = r->gamma, *names = malloc((k + 1) * sizeof(size_t));
    int rc = 0;

    if (!names)
        return -RCA_E_NOMEM;
    memcpy(names, cur, k * sizeof(size_t));
    if (r->shuffle) /* numpy.random.permutation */
        rca_rng_shuffle(&r->rng, names, k);
    *nnext = 0;
    for (size_t c0 = 0; c0 < k && rc == 0; c0 += g) {
        size_t len = k - c0 < g ? k - c0 : g, got;
        rc =
            psi_pc(r, names + c0, len, RCD_LOCAL_ALPHA, 1, next + *nnext, &got);
        *nnext += got;
    }
    free(names);
    return rc;
}

static int multi_phase(struct rcd *r, size_t *res, size_t *nres)
{
    size_t n = r->n, k = n, prev = n, nk;
    size_t *cur = malloc((n + 1) * sizeof(size_t));
    size_t *next = malloc((n + 1) * sizeof(size_t));
    int rc = -RCA_E_NOMEM;

    if (!cur || !next)
        goto out;
    for (size_t j = 0; j < n; j++)
        cur[j] = j;
    for (;;) {
        if ((rc = run_level(r, cur, k, next, &nk)) < 0)
            goto out;
        memcpy(cur, next, nk * sizeof(size_t));
        k = nk;
        if (k <= r->gamma || k == prev)
            break;
        prev = k;
    }
    rc = psi_pc(r, cur, k, RCD_START_ALPHA, k, res, nres);
out:
    free(cur);
    free(next);
    return rc;
}

static void rcd_free(struct rcd *r)
{
    for (size_t i = 0; r->pl && i <= r->n; i++)
        free(r->pl[i]);
    free(r->pl);
    free(r->plen);
    free(r->pcap);
    free(r->code);
    if (r->disc)
        stats_disc_destroy(r->disc);
    free(r->adjf);
    free(r->perm);
    free(r->nbf);
    free(r->comb);
    free(r->set);
    free(r->tmp);
}

static int rcd_alloc(struct rcd *r)
{
    size_t n = r->n + 1;

    r->code = malloc((r->rows * n + 1) * sizeof(int));
    r->adjf = malloc(n);
    r->pl = calloc(n, sizeof(double *));
    r->plen = calloc(n, sizeof(size_t));
    r->pcap = calloc(n, sizeof(size_t));
    r->perm = malloc(n * sizeof(size_t));
    r->nbf = malloc(n * sizeof(size_t));
    r->comb = malloc(n * sizeof(size_t));
    r->set = malloc(n * sizeof(size_t));
    r->tmp = malloc(n * sizeof(size_t));
    return r->code && r->adjf && r->pl && r->plen && r->pcap && r->perm &&
                   r->nbf && r->comb && r->set && r->tmp
               ? 0
               : -RCA_E_NOMEM;
}

/* KBinsDiscretizer per column over both windows; the F-node last. */
static int discretise(struct rcd *r, const struct series_table *nt,
                      const struct series_table *at, unsigned bins)
{
    double *col = malloc((r->rows + 1) * sizeof(double));
    int rc = 0;

    if (!col)
        return -RCA_E_NOMEM;
    for (size_t j = 0; j < r->n && rc == 0; j++) {
        memcpy(col, series_table_col(nt, j), nt->nrows * sizeof(double));
        memcpy(col + nt->nrows, series_table_col(at, j),
               at->nrows * sizeof(double));
        rc =
            stats_kbins_kmeans(col, r->rows, bins, r->code + j * r->rows, NULL);
    }
    for (size_t i = 0; i < r->rows; i++)
        r->code[r->n * r->rows + i] = i >= nt->nrows;
    free(col);
    if (rc < 0)
        return rc == -STATS_E_NOMEM ? -RCA_E_NOMEM : -RCA_E_DATA;
    double *all = malloc((r->rows * (r->n + 1) + 1) * sizeof(double));
    if (!all)
        return -RCA_E_NOMEM;
    for (size_t i = 0; i < r->rows * (r->n + 1); i++)
        all[i] = (double)r->code[i];
    r->disc = stats_disc_create(all, r->rows, r->n + 1, STATS_CHISQ);
    free(all);
    return r->disc ? 0 : -RCA_E_NOMEM;
}

static int rcd_rank(const struct rca_case *c, const struct rca_params *p,
                    struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *nt = NULL, *at = NULL;
    struct rcd r;
    size_t gamma, bins, shuffle, *res = NULL, nres = 0;
    int rc;

    memset(&r, 0, sizeof(r));
    if ((rc = rca_param_size(p, "rcd", "gamma", 5, 1, 1000, &gamma, err,
                             errlen)) < 0 ||
        (rc = rca_param_size(p, "rcd", "bins", 5, 2, 1000, &bins, err,
                             errlen)) < 0 ||
        (rc = rca_param_size(p, "rcd", "shuffle", 1, 0, 1, &shuffle, err,
                             errlen)) < 0)
        return rc;
    if ((rc = rca_split_windows(c, &nt, &at, err, errlen)) < 0)
        return rc;
    r.n = nt->ncols;
    r.rows = nt->nrows + at->nrows;
    r.gamma = gamma;
    r.shuffle = shuffle != 0;
    rca_rng_init(&r.rng, p->seed);
    if (rcd_alloc(&r) < 0 || !(res = malloc((r.n + 1) * sizeof(size_t)))) {
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
        goto out;
    }
    if ((rc = discretise(&r, nt, at, (unsigned)bins)) < 0 ||
        (rc = multi_phase(&r, res, &nres)) < 0) {
        rc = rca_fail(err, errlen, -rc, name, "rcd: %s",
                      rc == -RCA_E_NOMEM ? "out of memory"
                                         : "a chi-square test failed");
        goto out;
    }
    for (size_t i = 0; i < nres && rc == 0; i++)
        if (rca_ranking_add(out, nt->cols[res[i]].name, (double)(nres - i)) < 0)
            rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    rcd_free(&r);
    free(res);
    series_table_destroy(nt);
    series_table_destroy(at);
    return rc;
}

static int rcd_validate(const struct rca_params *p, char *err, size_t errlen)
{
    size_t v;
    int rc;

    if ((rc = rca_param_size(p, "rcd", "gamma", 5, 1, 1000, &v, err, errlen)) <
        0)
        return rc;
    return rca_param_size(p, "rcd", "bins", 5, 2, 1000, &v, err, errlen);
}

const struct rca_method rca_method_rcd = {
    .name = "rcd",
    .summary = "localized PC around an anomaly indicator on discretised "
               "data, chunk by chunk (RCD)",
    .inputs = RCA_IN_METRICS | RCA_IN_INJECT,
    .flags = RCA_METHOD_STOCHASTIC,
    .params = rcd_params,
    .validate = rcd_validate,
    .rank = rcd_rank,
};
