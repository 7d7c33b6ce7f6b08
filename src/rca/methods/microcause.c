/* microcause: MicroCause (Meng et al., "Localizing Failure Root Causes in a
 * Microservice through Causality Inference", IWQoS 2020) as RCAEval runs it
 * (RCAEval/e2e/microcause.py, microcause(); taken from dycause_rca):
 *
 *  1. RCAEval's preprocess() of the whole window (no split at the inject
 *     time): constant columns dropped, memory to MB.
 *  2. PCMCI with ParCorr, tau_max 10, pc_alpha 0.1, graph at alpha 0.05
 *     (stats/pcmci_parcorr.h: tigramite's run_pcmci).
 *  3. A graph g with an edge i -> k whenever the PCMCI graph has "-->" or
 *     "o-o" from (k, any lag) to i, i.e. from each effect to its causes
 *     (self-loops included).
 *  4. get_Q_matrix_part_corr(g, rho 0.2): with the frontend f (the SLI
 *     column), pa[k] = the non-self nodes i with an edge i -> k, and
 *     pc(y) = |partial correlation of f and y given (pa[f] - {y}) U pa[y]
 *     minus f and y| over all rows (pingouin partial_corr): for each edge
 *     a -> b (a != b): Q[b][a] = pc(a) unless a = f; Q[a][b] = rho pc(b)
 *     unless b -> a is an edge or b = f; Q[i][i] = max(pc(i) - max_k pc(k),
 *     0) over the k != f with an edge k -> i (0 when none), for i != f;
 *     rows normalised.
 *  5. MicroCause's random walk: 1000 walks of up to 1000 steps from f
 *     (stats_rw_walk_epochs), counting visits.
 *  6. gamma = lambda visits / max visits + (1 - lambda) eta / max eta with
 *     lambda 0.5 and eta = 1 (RCAEval leaves SPOT's eta out); every column
 *     ranked by gamma, highest first (stable).
 *
 * The SLI (frontend): the `sli` parameter, else the case's SLI (rca-llm's
 * main.py sets one on llm-ref-stack cases), else -- RCAEval has none and
 * fails -- the latency column (name containing "latency" or "lat_") whose
 * largest z-score after the inject time (normal-window mean and population
 * standard deviation) is the highest, else the first latency column, else
 * the first column. A case SLI that is not a column (e.g. "nginx-proxy")
 * also falls back to that choice where RCAEval raises ValueError.
 *
 * Departures: the walk draws from the seeded generator (same distribution
 * as numpy's, not the same draws), so visit counts match RCAEval's in
 * distribution; when the frontend has no outgoing transition every gamma is
 * NaN in RCAEval too (0/0) and the ranking is the column order.
 *
 * Parameters: sli, tau_max (10), pc_alpha (0.1), alpha_level (0.05), rho
 * (0.2), epochs (1000), walk_step (1000), lambda (0.5). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/citest.h"
#include "stats/pcmci_parcorr.h"
#include "stats/stats_status.h"

static const char *const mc_params[] = {"sli",         "tau_max", "pc_alpha",
                                        "alpha_level", "rho",     "epochs",
                                        "walk_step",   "lambda",  NULL};

struct mc_opts {
    const char *sli;
    size_t tau_max, epochs, steps;
    double pc_alpha, alpha_level, rho, lambda;
};

static int mc_opts_read(const struct rca_params *p, struct mc_opts *o,
                        char *err, size_t errlen)
{
    const char *m = "microcause";
    int rc;

    o->sli = rca_param(p, "sli");
    if ((rc = rca_param_size(p, m, "tau_max", 10, 1, 100, &o->tau_max, err,
                             errlen)) < 0 ||
        (rc = rca_param_double(p, m, "pc_alpha", 0.1, 0.0, 1.0, &o->pc_alpha,
                               err, errlen)) < 0 ||
        (rc = rca_param_double(p, m, "alpha_level", 0.05, 0.0, 1.0,
                               &o->alpha_level, err, errlen)) < 0 ||
        (rc = rca_param_double(p, m, "rho", 0.2, 0.0, 1e6, &o->rho, err,
                               errlen)) < 0 ||
        (rc = rca_param_size(p, m, "epochs", 1000, 1, 1000000, &o->epochs, err,
                             errlen)) < 0 ||
        (rc = rca_param_size(p, m, "walk_step", 1000, 1, 1000000, &o->steps,
                             err, errlen)) < 0 ||
        (rc = rca_param_double(p, m, "lambda", 0.5, 0.0, 1.0, &o->lambda, err,
                               errlen)) < 0)
        return rc;
    return 0;
}

static int mc_validate(const struct rca_params *p, char *err, size_t errlen)
{
    struct mc_opts o;

    return mc_opts_read(p, &o, err, errlen);
}

/* ---------------------------------------------------------------------
 * The frontend
 * --------------------------------------------------------------------- */

static bool is_latency(const char *name)
{
    return strstr(name, "latency") || strstr(name, "lat_");
}

/* Largest z-score of column j after the inject time (normal mean and
 * population sd; -inf when a window is empty or the sd is 0). */
static double after_z(const struct series_table *t, size_t j, int64_t inj)
{
    const double *v = series_table_col(t, j);
    double m = 0.0, ss = 0.0, best = -INFINITY;
    size_t n = 0;

    for (size_t r = 0; r < t->nrows; r++)
        if (t->time_ns[r] < inj) {
            m += v[r];
            n++;
        }
    if (n == 0)
        return -INFINITY;
    m /= (double)n;
    for (size_t r = 0; r < t->nrows; r++)
        if (t->time_ns[r] < inj)
            ss += (v[r] - m) * (v[r] - m);
    double sd = sqrt(ss / (double)n);
    if (!(sd > 0.0))
        return -INFINITY;
    for (size_t r = 0; r < t->nrows; r++)
        if (t->time_ns[r] >= inj && (v[r] - m) / sd > best)
            best = (v[r] - m) / sd;
    return best;
}

static size_t auto_frontend(const struct rca_case *c,
                            const struct series_table *t)
{
    size_t best = t->ncols, first = t->ncols;
    double bz = -INFINITY;

    for (size_t j = 0; j < t->ncols; j++) {
        if (!is_latency(t->cols[j].name))
            continue;
        if (first == t->ncols)
            first = j;
        if (!c->has_inject)
            continue;
        double z = after_z(t, j, c->inject_ns);
        if (z > bz) {
            bz = z;
            best = j;
        }
    }
    if (best < t->ncols)
        return best;
    return first < t->ncols ? first : 0;
}

static int frontend_of(const struct rca_case *c, const struct series_table *t,
                       const struct mc_opts *o, size_t *f, char *err,
                       size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    int64_t j;

    if (o->sli) {
        if ((j = series_table_find(t, o->sli)) < 0)
            return rca_fail(err, errlen, RCA_E_DATA, name,
                            "microcause: sli=%s is not a (non-constant) "
                            "column",
                            o->sli);
        *f = (size_t)j;
        return 0;
    }
    if (c->sli && (j = series_table_find(t, c->sli)) >= 0) {
        *f = (size_t)j;
        return 0;
    }
    *f = auto_frontend(c, t);
    return 0;
}

/* ---------------------------------------------------------------------
 * The transition matrix
 * --------------------------------------------------------------------- */

struct mc {
    size_t n, f;
    unsigned char *g;  /* g[i*n+k]: edge i -> k (effect to cause) */
    unsigned char *pa; /* pa[k*n+i]: i in pa_set[k] */
    double *corr;      /* correlation matrix of the columns */
    double *pc;        /* pc(y) cache, NaN until computed */
    size_t *cond;
    double *work;
};

/* get_part_corr(f, y). */
static int mc_pc(struct mc *s, size_t y, double *out)
{
    size_t n = s->n, k = 0;
    double r;
    int rc;

    if (!isnan(s->pc[y])) {
        *out = s->pc[y];
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        bool in = (s->pa[s->f * n + i] && i != y) || s->pa[y * n + i];
        if (in && i != s->f && i != y)
            s->cond[k++] = i;
    }
    if ((rc = stats_partial_corr(s->corr, n, s->f, y, s->cond, k, s->work,
                                 &r)) < 0)
        return -RCA_E_DATA;
    s->pc[y] = fabs(r);
    *out = s->pc[y];
    return 0;
}

static int mc_q(struct mc *s, double rho, double *Q)
{
    size_t n = s->n, f = s->f;
    double v;
    int rc;

    memset(Q, 0, n * n * sizeof(double));
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            if (a == b || !s->g[a * n + b])
                continue;
            if (f != a) {
                if ((rc = mc_pc(s, a, &v)) < 0)
                    return rc;
                Q[b * n + a] = v;
            }
            if (!s->g[b * n + a] && f != b) {
                if ((rc = mc_pc(s, b, &v)) < 0)
                    return rc;
                Q[a * n + b] = rho * v;
            }
        }
    for (size_t i = 0; i < n; i++) {
        double pmax = 0.0, q;
        bool any = false;

        for (size_t k = 0; k < n; k++) {
            if (!s->g[k * n + i] || k == f)
                continue;
            if ((rc = mc_pc(s, k, &v)) < 0)
                return rc;
            pmax = !any || v > pmax ? v : pmax;
            any = true;
        }
        if (i == f)
            continue;
        if ((rc = mc_pc(s, i, &q)) < 0)
            return rc;
        Q[i * n + i] = q > pmax ? q - pmax : 0.0;
    }
    for (size_t i = 0; i < n; i++) {
        double sum = 0.0;
        for (size_t k = 0; k < n; k++)
            sum += Q[i * n + k];
        for (size_t k = 0; k < n; k++)
            Q[i * n + k] = sum > 0.0 ? Q[i * n + k] / sum : 0.0;
    }
    return 0;
}

/* Step 3: g from the PCMCI graph. */
static void mc_graph(struct mc *s, const struct stats_pcmci *r)
{
    size_t n = s->n, T1 = (size_t)r->tau_max + 1;

    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++)
            for (size_t lag = 0; lag < T1; lag++) {
                unsigned char e = r->graph[(k * n + i) * T1 + lag];
                if (e == STATS_PCMCI_RIGHT || e == STATS_PCMCI_UNDIR) {
                    s->g[i * n + k] = 1;
                    if (i != k)
                        s->pa[k * n + i] = 1;
                }
            }
}

/* ---------------------------------------------------------------------
 * The method
 * --------------------------------------------------------------------- */

static int mc_alloc(struct mc *s, size_t n)
{
    s->n = n;
    s->g = calloc(n * n, 1);
    s->pa = calloc(n * n, 1);
    s->corr = malloc(n * n * sizeof(double));
    s->pc = malloc(n * sizeof(double));
    s->cond = malloc(n * sizeof(size_t));
    s->work = malloc(((n + 2) * (n + 2) + n + 2) * sizeof(double));
    if (!s->g || !s->pa || !s->corr || !s->pc || !s->cond || !s->work)
        return -RCA_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        s->pc[i] = NAN;
    return 0;
}

static void mc_free(struct mc *s)
{
    free(s->g);
    free(s->pa);
    free(s->corr);
    free(s->pc);
    free(s->cond);
    free(s->work);
}

static int mc_walk_rank(const struct series_table *t, const struct mc_opts *o,
                        const double *Q, size_t f, uint64_t seed,
                        struct rca_ranking *out)
{
    size_t n = t->ncols;
    double *counts = malloc(n * sizeof(double)), mx = 0.0;
    struct stats_rng rng;
    int rc = -RCA_E_NOMEM;

    if (!counts)
        return rc;
    rca_rng_init(&rng, seed);
    if (stats_rw_walk_epochs(Q, n, f, o->epochs, o->steps, &rng, counts) < 0) {
        free(counts);
        return -RCA_E_DATA;
    }
    for (size_t i = 0; i < n; i++)
        mx = counts[i] > mx ? counts[i] : mx;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* 0/0 is NaN in RCAEval as here */
        double g =
            o->lambda * (mx > 0.0 ? counts[i] / mx : NAN) + (1.0 - o->lambda);
        if (rca_ranking_add(out, t->cols[i].name, g) < 0)
            rc = -RCA_E_NOMEM;
    }
    free(counts);
    if (rc == 0)
        rca_ranking_sort(out);
    return rc;
}

static int microcause_rank(const struct rca_case *c, const struct rca_params *p,
                           struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *t = series_table_copy(c->metrics);
    struct stats_pcmci r = {0};
    struct mc s = {0};
    struct mc_opts o;
    double *Q = NULL;
    int rc;

    if ((rc = mc_opts_read(p, &o, err, errlen)) < 0)
        goto out;
    if (!t)
        goto oom;
    series_table_preprocess_rcaeval(t);
    if (t->ncols == 0 || t->nrows <= 2 * o.tau_max + 2) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "microcause needs a non-constant column and more than "
                      "%zu rows (has %zu x %zu)",
                      2 * o.tau_max + 2, t->nrows, t->ncols);
        goto out;
    }
    if ((rc = frontend_of(c, t, &o, &s.f, err, errlen)) < 0)
        goto out;
    struct stats_pcmci_opts po = {(unsigned)o.tau_max, o.pc_alpha,
                                  o.alpha_level};
    if ((rc = stats_pcmci_parcorr(t->values, t->nrows, t->ncols, &po, &r)) <
        0) {
        if (rc == -STATS_E_NOMEM)
            goto oom;
        rc = rca_fail(err, errlen, RCA_E_DATA, name, "PCMCI: %s",
                      stats_strerror(rc));
        goto out;
    }
    if (mc_alloc(&s, t->ncols) < 0 ||
        !(Q = malloc(t->ncols * t->ncols * sizeof(double))) ||
        stats_corrcoef(t->values, t->nrows, t->ncols, s.corr) < 0)
        goto oom;
    mc_graph(&s, &r);
    if ((rc = mc_q(&s, o.rho, Q)) < 0) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "a partial correlation could not be computed");
        goto out;
    }
    if ((rc = mc_walk_rank(t, &o, Q, s.f, p->seed, out)) == -RCA_E_NOMEM)
        goto oom;
    if (rc < 0)
        rc = rca_fail(err, errlen, RCA_E_DATA, name, "random walk failed");
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    free(Q);
    mc_free(&s);
    stats_pcmci_free(&r);
    series_table_destroy(t);
    return rc;
}

const struct rca_method rca_method_microcause = {
    .name = "microcause",
    .summary = "MicroCause: PCMCI graph, partial-correlation random walk from "
               "the SLI",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_STOCHASTIC,
    .params = mc_params,
    .validate = mc_validate,
    .rank = microcause_rank,
};
