/* causalai: Salesforce CausalAI's RootCauseDetector as RCAEval calls it
 * (RCAEval/e2e/causalai.py; causalai/application/root_cause_detection.py;
 * the PC variant is causalai/models/tabular/pc.py with
 * models/common/orient_edges.py; after Ikram et al., "Root Cause Analysis
 * of Failures in Microservices through Causal Discovery", NeurIPS 2022).
 *
 * The fault is treated as an intervention by a context variable, time:
 *
 *  1. Drop the constant columns (nunique == 1). Rows: those before the
 *     inject time, then those at or after it (pandas concat), and a last
 *     variable "time" holding the case's row times in their original order
 *     (RCAEval assigns the list positionally, so for time-sorted rows this is
 *     just the time axis). Everything standardised (partial correlations do
 *     not depend on it).
 *  2. CausalAI's PC: for each variable X in order, a greedy search for its
 *     neighbours: candidates are all other variables, except that nothing
 *     may be a parent of time (so time's own search tests nothing). For
 *     condition sizes s = 0 .. min(max_condition_set_size, |others| - 1):
 *     each remaining candidate Y is tested against X given every size-s
 *     subset (lexicographic) of the other remaining variables, stopping at
 *     the first p-value above pvalue_thres; a candidate whose largest p-value
 *     at this size exceeds the threshold is removed (from the candidates and
 *     the conditioning pool) after the size is done. The test is a partial
 *     correlation with Student's t p-value, df = n - 2 - s.
 *  3. The neighbour lists are made symmetric and oriented by orient_edges():
 *     colliders i -> k <- j for non-adjacent i, j with k outside the
 *     separating set the search for i recorded for j (time's recorded sets
 *     are all empty, so every neighbour of time with a neighbour that is not
 *     adjacent to time becomes a collider), then CausalAI's rules R1, R2, R3
 *     repeated while R2 orients something. Links into time are removed.
 *  4. The root causes are the children of time (neighbours whose edge with
 *     time was not oriented towards time).
 *
 * Departure: RCAEval returns those children as list(set), whose order is
 * Python's per-process string-hash order, i.e. arbitrary. Here they are
 * ranked by the strength of their link to time (|partial correlation| at
 * the largest p-value the search saw), strongest first; the score is that
 * value. Only the children are ranked (a case without any is an empty
 * ranking, as in RCAEval). The partial correlation comes from the
 * correlation matrix (stats_fisherz_test), which equals CausalAI's
 * no-intercept least squares on standardised data; a singular submatrix
 * uses the pseudo-inverse where numpy's lstsq gives the minimum-norm fit.
 *
 * Parameters: pvalue_thres (RCAEval 0.001), max_condition_set_size (4). */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/citest.h"

static const char *const cai_params[] = {"pvalue_thres",
                                         "max_condition_set_size", NULL};

#define CAI_MAXS 8 /* largest max_condition_set_size accepted */

struct cai_opts {
    double thres;
    size_t maxs;
};

static int cai_opts_read(const struct rca_params *p, struct cai_opts *o,
                         char *err, size_t errlen)
{
    int rc;

    if ((rc = rca_param_double(p, "causalai", "pvalue_thres", 0.001, 0.0, 1.0,
                               &o->thres, err, errlen)) < 0 ||
        (rc = rca_param_size(p, "causalai", "max_condition_set_size", 4, 0,
                             CAI_MAXS, &o->maxs, err, errlen)) < 0)
        return rc;
    return 0;
}

static int cai_validate(const struct rca_params *p, char *err, size_t errlen)
{
    struct cai_opts o;

    return cai_opts_read(p, &o, err, errlen);
}

/* The state of one run. Variables 0..d-2 are the metrics, d-1 is time. */
struct cai {
    size_t d, n;
    struct cai_opts o;
    struct stats_fisherz *fz;
    unsigned char *nb; /* nb[x*d+y]: y is in x's neighbour list */
    double *val;       /* val[x*d+y]: statistic at the largest p-value */
    /* separation_set[x][y]: sepk -1 = None, else the size of the set in
     * sepv[(x*d+y)*CAI_MAXS ...] (0 = empty list) */
    signed char *sepk;
    size_t *sepv;
    unsigned char *dag; /* dag[x*d+y]: y in x's parent/undirected list */
};

/* Partial correlation test: *p from Student's t on r, df = n - 2 - k. */
static int cai_test(struct cai *s, size_t x, size_t y, const size_t *z,
                    size_t k, double *val, double *p)
{
    double pz, r, df = (double)s->n - 2.0 - (double)k;

    if (stats_fisherz_test(s->fz, x, y, z, k, &pz, &r) < 0)
        return -RCA_E_DATA;
    *val = r;
    if (df < 1.0)
        *p = NAN; /* CausalAI's nan: never above the threshold */
    else if (fabs(1.0 - fabs(r)) < 1e-15)
        *p = 0.0;
    else
        *p = 2.0 * gsl_cdf_tdist_Q(fabs(r * sqrt(df / (1.0 - r * r))), df);
    return 0;
}

/* _greedy_subroutine: the size-s subsets of pool[0..np) in lexicographic
 * order until a p-value exceeds the threshold. *found gets whether it did
 * (then z holds the subset). */
static int cai_greedy(struct cai *s, size_t x, size_t y, const size_t *pool,
                      size_t np, size_t k, double *val, double *pmax, size_t *z,
                      bool *found)
{
    size_t idx[CAI_MAXS];
    bool have = false;
    int rc;

    *found = false;
    for (size_t i = 0; i < k; i++)
        idx[i] = i;
    for (;;) {
        double v, p;

        for (size_t i = 0; i < k; i++)
            z[i] = pool[idx[i]];
        if ((rc = cai_test(s, x, y, z, k, &v, &p)) < 0)
            return rc;
        if (!have || *pmax < p) {
            *pmax = p;
            *val = v;
            have = true;
        }
        if (*pmax > s->o.thres) {
            *found = true;
            return 0;
        }
        /* next combination */
        size_t i = k;
        while (i > 0 && idx[i - 1] == np - k + i - 1)
            i--;
        if (i == 0)
            return 0;
        idx[i - 1]++;
        for (size_t j = i; j < k; j++)
            idx[j] = idx[j - 1] + 1;
    }
}

/* PCSingle.run_greedy for target x: fills s->nb (row x), s->val, s->sep*. */
struct cai_scratch {
    size_t *all, *par, *pool, *zbuf;
    double *pv, *pbuf, *vbuf;
    unsigned char *seen, *g;
    bool *fbuf;
};

static int cai_single(struct cai *s, size_t x, struct cai_scratch *w)
{
    size_t d = s->d, time = d - 1, nall = 0, npar = 0, depth;
    size_t *all = w->all, *par = w->par, *pool = w->pool, *zbuf = w->zbuf;
    double *pv = w->pv, *pbuf = w->pbuf, *vbuf = w->vbuf;
    unsigned char *seen = w->seen;
    bool *fbuf = w->fbuf;

    for (size_t v = 0; v < d; v++) {
        if (v == x)
            continue;
        all[nall++] = v;
        if (x != time)
            par[npar++] = v;
        s->sepk[x * d + v] = 0; /* [] until tested */
        seen[v] = 0;
    }
    if (nall == 0)
        return 0;
    depth = nall - 1 < s->o.maxs ? nall - 1 : s->o.maxs;
    for (size_t k = 0; k <= depth; k++) {
        if (nall < k + 1)
            break;
        for (size_t i = 0; i < npar; i++) {
            size_t np = 0, y = par[i];
            int rc;

            for (size_t j = 0; j < nall; j++)
                if (all[j] != y)
                    pool[np++] = all[j];
            if ((rc = cai_greedy(s, x, y, pool, np, k, &vbuf[i], &pbuf[i],
                                 zbuf + i * CAI_MAXS, &fbuf[i])) < 0)
                return rc;
        }
        size_t keep = 0;
        for (size_t i = 0; i < npar; i++) {
            size_t y = par[i];
            bool nonsig = pbuf[i] > s->o.thres;

            s->sepk[x * d + y] = fbuf[i] ? (signed char)k : -1;
            memcpy(s->sepv + (x * d + y) * CAI_MAXS, zbuf + i * CAI_MAXS,
                   k * sizeof(size_t));
            if (!seen[y] || pv[y] < pbuf[i]) {
                pv[y] = pbuf[i];
                s->val[x * d + y] = vbuf[i];
                seen[y] = 1;
            }
            if (nonsig) {
                size_t na = 0;
                for (size_t j = 0; j < nall; j++)
                    if (all[j] != y)
                        all[na++] = all[j];
                nall = na;
            } else {
                par[keep++] = y;
            }
        }
        npar = keep;
    }
    for (size_t i = 0; i < npar; i++)
        s->nb[x * d + par[i]] = 1;
    return 0;
}

/* ---------------------------------------------------------------------
 * orient_edges(): P[x*d+y] = y in dag[x] (y -> x, or y - x when also
 * x in dag[y]).
 * --------------------------------------------------------------------- */

#define IN(P, x, y) ((P)[(x)*d + (y)]) /* y in dag[x] */

static bool cai_sep_has(const struct cai *s, size_t i, size_t j, size_t k)
{
    size_t d = s->d;
    signed char n = s->sepk[i * d + j];

    for (signed char a = 0; a < n; a++)
        if (s->sepv[(i * d + j) * CAI_MAXS + (size_t)a] == k)
            return true;
    return false;
}

static void cai_colliders(const struct cai *s, const unsigned char *g,
                          unsigned char *P)
{
    size_t d = s->d;

    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            if (i == j || IN(g, j, i))
                continue;
            for (size_t k = 0; k < d; k++)
                if (IN(g, i, k) && IN(g, j, k) && !cai_sep_has(s, i, j, k)) {
                    IN(P, i, k) = 0;
                    IN(P, j, k) = 0;
                }
        }
}

/* R1: i -> k - j with i not in dag[j]: orient k -> j. */
static void cai_r1(size_t d, unsigned char *P, unsigned char *mark)
{
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            if (i == j || IN(P, j, i))
                continue;
            /* the set is evaluated before any removal */
            for (size_t k = 0; k < d; k++)
                mark[k] =
                    IN(P, k, i) && !IN(P, i, k) && IN(P, k, j) && IN(P, j, k);
            for (size_t k = 0; k < d; k++)
                if (mark[k])
                    IN(P, k, j) = 0;
        }
}

/* R2: i - j with a chain i -> k -> j: orient i -> j. */
static bool cai_r2(size_t d, unsigned char *P)
{
    bool changed = false;

    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            if (i == j || !(IN(P, j, i) && IN(P, i, j)))
                continue;
            for (size_t k = 0; k < d; k++)
                if (IN(P, k, i) && !IN(P, i, k) && IN(P, j, k) &&
                    !IN(P, k, j)) {
                    IN(P, i, j) = 0;
                    changed = true;
                    break;
                }
        }
    return changed;
}

/* R3 (CausalAI's, without the non-adjacency check): i - k - j, i -> m,
 * j -> m, k - m: orient k -> m. */
static void cai_r3(size_t d, unsigned char *P)
{
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            if (i == j)
                continue;
            for (size_t k = 0; k < d; k++) {
                if (!(IN(P, k, i) && IN(P, i, k) && IN(P, k, j) && IN(P, j, k)))
                    continue;
                for (size_t m = 0; m < d; m++)
                    if (IN(P, m, i) && !IN(P, i, m) && IN(P, m, j) &&
                        !IN(P, j, m) && IN(P, m, k) && IN(P, k, m))
                        IN(P, k, m) = 0;
            }
        }
}

static void cai_orient(struct cai *s, unsigned char *g, unsigned char *mark)
{
    size_t d = s->d;
    bool again = true;

    for (size_t x = 0; x < d; x++)
        for (size_t y = 0; y < d; y++)
            IN(g, x, y) = IN(s->nb, x, y) || IN(s->nb, y, x);
    memcpy(s->dag, g, d * d);
    cai_colliders(s, g, s->dag);
    while (again) {
        cai_r1(d, s->dag, mark);
        again = cai_r2(d, s->dag);
        cai_r3(d, s->dag);
    }
    /* post_process_tabular: nothing may be a parent of time */
    memset(s->dag + (d - 1) * d, 0, d);
}

#undef IN

/* ---------------------------------------------------------------------
 * The method
 * --------------------------------------------------------------------- */

/* Step 1: the data matrix (column-major, n x d) with time last. */
static double *cai_matrix(const struct rca_case *c, struct series_table *t,
                          size_t *nrows)
{
    size_t n = t->nrows, d = t->ncols + 1, r = 0;
    double *x = malloc((n * d + 1) * sizeof(*x));

    if (!x)
        return NULL;
    /* normal rows, then anomalous rows, each in table order */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            bool anom = c->has_inject && t->time_ns[i] >= c->inject_ns;
            if (anom != (pass == 1))
                continue;
            for (size_t j = 0; j < t->ncols; j++)
                x[j * n + r] = series_table_col(t, j)[i];
            r++;
        }
    /* time, positionally, in seconds */
    for (size_t i = 0; i < n; i++)
        x[(d - 1) * n + i] = (double)t->time_ns[i] / 1e9;
    *nrows = n;
    return x;
}

static int cai_run(struct cai *s)
{
    size_t d = s->d;
    struct cai_scratch w = {
        .all = malloc(d * sizeof(size_t)),
        .par = malloc(d * sizeof(size_t)),
        .pool = malloc(d * sizeof(size_t)),
        .zbuf = malloc(d * CAI_MAXS * sizeof(size_t)),
        .pv = malloc(d * sizeof(double)),
        .pbuf = malloc(d * sizeof(double)),
        .vbuf = malloc(d * sizeof(double)),
        .seen = malloc(d),
        .g = malloc(d * d),
        .fbuf = malloc(d * sizeof(bool)),
    };
    int rc = -RCA_E_NOMEM;

    if (!w.all || !w.par || !w.pool || !w.zbuf || !w.pv || !w.pbuf || !w.vbuf ||
        !w.seen || !w.g || !w.fbuf)
        goto out;
    rc = 0;
    for (size_t x = 0; x < d && rc == 0; x++)
        rc = cai_single(s, x, &w);
    if (rc == 0)
        cai_orient(s, w.g, w.seen);
out:
    free(w.all);
    free(w.par);
    free(w.pool);
    free(w.zbuf);
    free(w.pv);
    free(w.pbuf);
    free(w.vbuf);
    free(w.seen);
    free(w.g);
    free(w.fbuf);
    return rc;
}

static int cai_rank_children(const struct cai *s, const struct series_table *t,
                             struct rca_ranking *out)
{
    size_t d = s->d, time = d - 1;

    for (size_t x = 0; x < time; x++)
        if (s->dag[x * d + time] &&
            rca_ranking_add(out, t->cols[x].name, fabs(s->val[x * d + time])) <
                0)
            return -RCA_E_NOMEM;
    rca_ranking_sort(out);
    return 0;
}

static int causalai_rank(const struct rca_case *c, const struct rca_params *p,
                         struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *t = series_table_copy(c->metrics);
    struct cai s = {0};
    double *x = NULL;
    int rc;

    if ((rc = cai_opts_read(p, &s.o, err, errlen)) < 0)
        goto out;
    if (!t) {
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
        goto out;
    }
    series_table_drop_constant(t);
    if (t->nrows < 2 * CAI_MAXS + 8) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "causalai needs at least %d rows, has %zu",
                      2 * CAI_MAXS + 8, t->nrows);
        goto out;
    }
    s.d = t->ncols + 1;
    if (!(x = cai_matrix(c, t, &s.n)) ||
        !(s.fz = stats_fisherz_create(x, s.n, s.d)) ||
        !(s.nb = calloc(s.d * s.d, 1)) ||
        !(s.val = calloc(s.d * s.d, sizeof(double))) ||
        !(s.sepk = calloc(s.d * s.d, 1)) ||
        !(s.sepv = calloc(s.d * s.d * CAI_MAXS, sizeof(size_t))) ||
        !(s.dag = calloc(s.d * s.d, 1))) {
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
        goto out;
    }
    if ((rc = cai_run(&s)) == 0)
        rc = cai_rank_children(&s, t, out);
    if (rc == -RCA_E_NOMEM)
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    else if (rc < 0)
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "a partial correlation could not be computed");
out:
    stats_fisherz_destroy(s.fz);
    free(s.nb);
    free(s.val);
    free(s.sepk);
    free(s.sepv);
    free(s.dag);
    free(x);
    series_table_destroy(t);
    return rc;
}

const struct rca_method rca_method_causalai = {
    .name = "causalai",
    .summary = "CausalAI RootCauseDetector: PC with time as the intervention "
               "variable, its children are the root causes",
    .inputs = RCA_IN_METRICS,
    .params = cai_params,
    .validate = cai_validate,
    .rank = causalai_rank,
};
