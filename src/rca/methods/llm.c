/* llm: skewscope's own root cause method for LLM serving, built on what
 * the RCAEval rankers leave out (docs/RCA.md, "llm"):
 *
 *  - direction: each column has a role (signal_roles.h) saying which
 *    change is bad; a drop in tokens/s or SM clock scores like a rise in
 *    latency (NSigma and BARO score rises only);
 *  - persistence: a column's change is the highest level it holds for
 *    more than half of some `persist`-second stretch after the inject
 *    time, in robust units of its normal window (a spread never below a
 *    floor: 5% of the median, 30% for CPU, signal_roles.h), so a spike of
 *    half of that or less counts for nothing;
 *  - ranks: services named "<group>-<n>" (tensor-parallel ranks,
 *    replicas) widen each other's normal spread: a level one held in the
 *    normal window is no fault at another;
 *  - roles: a change in a cause signal (CPU, memory, SM clock, the network
 *    delay into the service) points at the service itself and weighs 1; a
 *    symptom (latency, TTFT, inter-token latency, tokens/s, queues, KV
 *    cache, utilisation) may have come along the call path and weighs
 *    `symptom`; a column no pattern knows weighs `other`. CPU and traffic
 *    are taken per request handled where the service reports its work, so
 *    that they do not move with the load;
 *  - GPU: an SM-clock drop at a service whose utilisation dropped as much
 *    is idleness, not a throttle, and is discounted by that share;
 *  - call structure: with traces (traces.csv), the services' call graph
 *    (parent span's service -> child span's, edges closing a cycle
 *    dropped); a rise in an explainable column (latency, errors) at a
 *    service is discounted by the share of it that the same column of a
 *    service it calls, directly or not, rose by, in the column's units: the
 *    rise belongs to the callee.
 *
 * Score of a column: weight * log(1 + level) * (1 - explained share), level
 * capped at 1000; columns best first. Deterministic; O(rows log rows) per
 * column plus a bounded pass over the spans. Reentrant: everything is
 * allocated per call. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rcaeval.h"
#include "model/series.h"
#include "rca/rca_method.h"
#include "rca/signal_roles.h"
#include "stats/select.h"

#define LEVEL_CAP 1000.0
#define REL_FLOOR 0.05 /* a scale below 5% of the normal level is noise */

static const char *const llm_params[] = {"roles", "persist", "symptom", "other",
                                         "peers", "ranks",   NULL};

struct llm_opts {
    const char *roles; /* a user's role file, or NULL */
    double persist_s;
    double w_symptom, w_other;
    size_t peers; /* 1: each column relative to its peers' common mode */
    size_t ranks; /* 1: ranks of one group share their normal spread */
};

static int llm_opts_read(const struct rca_params *p, struct llm_opts *o,
                         char *err, size_t errlen)
{
    int rc;

    o->roles = rca_param(p, "roles");
    if ((rc = rca_param_double(p, "llm", "persist", 6.0, 0.0, 86400.0,
                               &o->persist_s, err, errlen)) < 0 ||
        (rc = rca_param_double(p, "llm", "symptom", 0.5, 0.0, 1.0,
                               &o->w_symptom, err, errlen)) < 0 ||
        (rc = rca_param_double(p, "llm", "other", 0.25, 0.0, 1.0, &o->w_other,
                               err, errlen)) < 0 ||
        (rc = rca_param_size(p, "llm", "peers", 0, 0, 1, &o->peers, err,
                             errlen)) < 0 ||
        (rc = rca_param_size(p, "llm", "ranks", 1, 0, 1, &o->ranks, err,
                             errlen)) < 0)
        return rc;
    if (o->roles && !*o->roles)
        return rca_fail(err, errlen, RCA_E_INVAL, "llm",
                        "roles=: a file name is needed");
    return 0;
}

static int llm_validate(const struct rca_params *p, char *err, size_t errlen)
{
    struct llm_opts o;

    return llm_opts_read(p, &o, err, errlen);
}

/* ---------------------------------------------------------------------
 * One column's change
 * --------------------------------------------------------------------- */

struct col {
    struct rca_role_match m;
    size_t svc;      /* index into the case's services */
    double med;      /* normal window: median */
    double scale;    /* robust spread (> 0) */
    double up, down; /* persistent levels, robust units, >= 0 */
    double level;    /* in the bad direction */
    double delta;    /* level * scale: the change in the column's units */
    double score;
    bool scored;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Does some window of L consecutive values of s hold at least k >= v? */
static bool held(const double *s, size_t n, size_t L, size_t k, double v)
{
    size_t in = 0;

    for (size_t i = 0; i < n; i++) {
        in += s[i] >= v;
        if (i >= L)
            in -= s[i - L] >= v;
        if (in >= k)
            return true;
    }
    return false;
}

/* The highest value v such that some window of L consecutive values of
 * s[0..n) holds at least k values >= v; NaN values never count. 0 when
 * none (a level below 0 is no change in this direction). sorted: n
 * doubles of scratch. */
static double persistent(const double *s, size_t n, size_t L, size_t k,
                         double *sorted)
{
    size_t m = 0;

    for (size_t i = 0; i < n; i++)
        if (!isnan(s[i]))
            sorted[m++] = s[i];
    if (m < k)
        return 0;
    qsort(sorted, m, sizeof *sorted, cmp_double);
    if (!held(s, n, L, k, sorted[0]))
        return 0;
    size_t lo = 0, hi = m - 1; /* sorted[lo] is held */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (held(s, n, L, k, sorted[mid]))
            lo = mid;
        else
            hi = mid - 1;
    }
    return sorted[lo] > 0 ? sorted[lo] : 0;
}

/* Scratch for one case: rows split at the inject time. */
struct work {
    size_t *nrm, *anm; /* row indices */
    size_t nn, na;
    size_t L, k; /* persistence window and count */
    double *buf, *tmp, *s, *ratio;
    double *pool, *ptmp; /* normal values of a column and its ranks */
};

/* Median and robust scale of the m values v (clobbered; tmp: m doubles);
 * absmax: the largest magnitude the column takes, for the floor when the
 * median is 0. false when there is no value or none moves at all. */
static bool fit(double *v, size_t m, double absmax, double *tmp, double *med,
                double *scale)
{
    static const double q[] = {0.25, 0.5, 0.75};
    double qv[3];

    if (m == 0 || stats_quantiles_select(v, m, q, 3, tmp, qv) < 0)
        return false;
    *med = qv[1];
    *scale = (qv[2] - qv[0]) / 1.349;
    if (!(*scale > 0)) { /* MAD, then the standard deviation */
        double mean = 0, ss = 0;
        for (size_t i = 0; i < m; i++)
            mean += v[i] / (double)m;
        for (size_t i = 0; i < m; i++) {
            ss += (v[i] - mean) * (v[i] - mean);
            v[i] = fabs(v[i] - *med);
        }
        static const double h[] = {0.5};
        double mad = 0;
        if (stats_quantiles_select(v, m, h, 1, tmp, &mad) == 0)
            *scale = 1.4826 * mad;
        if (!(*scale > 0))
            *scale = sqrt(ss / (double)m);
    }
    double floor = REL_FLOOR * (*med != 0 ? fabs(*med) : absmax);
    if (*scale < floor)
        *scale = floor;
    return *scale > 0 && isfinite(*scale);
}

/* The finite normal-window values of x appended to w->pool at *m; the
 * largest magnitude over the rows [0, nrows) (all of them, or the normal
 * ones when nrows is 0) raised into *absmax. */
static void pool_normal(const struct work *w, const double *x, size_t nrows,
                        size_t *m, double *absmax)
{
    for (size_t i = 0; i < w->nn; i++)
        if (isfinite(x[w->nrm[i]])) {
            w->pool[(*m)++] = x[w->nrm[i]];
            if (!nrows && fabs(x[w->nrm[i]]) > *absmax)
                *absmax = fabs(x[w->nrm[i]]);
        }
    for (size_t r = 0; r < nrows; r++)
        if (isfinite(x[r]) && fabs(x[r]) > *absmax)
            *absmax = fabs(x[r]);
}

/* Column x's change after the inject time, in robust units of its normal
 * window: its own median, and the larger of its own spread and that of
 * its normal values pooled with those of its ranks (peer[0..np): the same
 * metric at the other ranks of its group, see rank_peers()). */
static void score_column(const struct work *w, const double *x, size_t nrows,
                         const double *const *peer, size_t np, struct col *c)
{
    double absmax = 0, med, scale;
    size_t m = 0;

    pool_normal(w, x, nrows, &m, &absmax);
    if (!fit(w->pool, m, absmax, w->ptmp, &c->med, &c->scale))
        return;
    /* the group's spread widens the rank's own, never narrows it; the
     * centre stays the rank's own (rank 0 may do more of the work) */
    m = 0;
    pool_normal(w, x, nrows, &m, &absmax);
    for (size_t i = 0; i < np; i++)
        pool_normal(w, peer[i], 0, &m, &absmax);
    if (np && fit(w->pool, m, absmax, w->ptmp, &med, &scale) &&
        scale > c->scale)
        c->scale = scale;
    double floor = rca_role_info(c->m.role)->floor * fabs(c->med);
    c->scale = c->scale > floor ? c->scale : floor;
    for (size_t i = 0; i < w->na; i++) {
        double v = x[w->anm[i]];
        w->s[i] = isfinite(v) ? (v - c->med) / c->scale : NAN;
    }
    c->up = persistent(w->s, w->na, w->L, w->k, w->buf);
    for (size_t i = 0; i < w->na; i++)
        w->s[i] = -w->s[i];
    c->down = persistent(w->s, w->na, w->L, w->k, w->buf);
    c->up = c->up < LEVEL_CAP ? c->up : LEVEL_CAP;
    c->down = c->down < LEVEL_CAP ? c->down : LEVEL_CAP;
    c->level = c->m.dir == RCA_DIR_UP     ? c->up
               : c->m.dir == RCA_DIR_DOWN ? c->down
               : c->up > c->down          ? c->up
                                          : c->down;
    c->delta = c->level * c->scale;
    c->scored = true;
}

/* CPU or traffic per unit of work: column j divided, row by row, by its
 * service's first work column (requests handled per second), so that CPU
 * or bytes that grow and shrink with the load are no change, while CPU
 * taken by a competing process or spent per request is. The
 * column itself when the service has no work column or did no work in
 * most of the normal window. The result is in w->ratio (rows where no
 * work was done: NaN, left out). */
static const double *per_work(const struct series_table *t,
                              const struct col *cs, size_t j,
                              const struct work *w)
{
    const double *x = series_table_col(t, j);
    size_t k = 0;

    while (k < t->ncols &&
           (cs[k].svc != cs[j].svc || cs[k].m.role != RCA_ROLE_WORK))
        k++;
    if (k == t->ncols)
        return x;
    const double *d = series_table_col(t, k);
    size_t busy = 0;
    for (size_t i = 0; i < w->nn; i++)
        busy += d[w->nrm[i]] > 0;
    if (2 * busy < w->nn)
        return x;
    for (size_t r = 0; r < t->nrows; r++)
        w->ratio[r] = d[r] > 0 ? x[r] / d[r] : NAN;
    return w->ratio;
}

/* Median of the finite normal-window values of x; NaN when none. */
static double normal_median(const struct work *w, const double *x)
{
    static const double h[] = {0.5};
    double med = NAN;
    size_t m = 0;

    for (size_t i = 0; i < w->nn; i++)
        if (isfinite(x[w->nrm[i]]))
            w->buf[m++] = x[w->nrm[i]];
    if (m)
        stats_quantiles_select(w->buf, m, h, 1, w->tmp, &med);
    return med;
}

#define MAX_PEERS 64

/* Column j relative to the common mode of its peers (the same metric at
 * other services, at least two, with positive normal medians): row by
 * row, divided by the median over the peers of each peer's value over its
 * own normal median. A host-wide slowdown or a change of load moves every
 * service's CPU, clock or latency together and cancels here; a fault at
 * one service does not. Column j itself (base) when it has fewer peers,
 * no positive normal median, or a role bad in both directions. The
 * result is in w->ratio. Off by default (`peers=1`): with peers of
 * unlike kind (a prefill and a decode stage) it adds as much noise as it
 * removes. */
static const double *peer_relative(const struct series_table *t,
                                   const struct col *cs, const double *base,
                                   const double *bmed, size_t j,
                                   const struct work *w)
{
    const double *x = base + j * t->nrows;
    size_t peer[MAX_PEERS], np = 0;

    /* a role bad either way would see the mirror of a peer's fault */
    if (!(bmed[j] > 0) || cs[j].m.dir == RCA_DIR_BOTH)
        return x;
    for (size_t k = 0; k < t->ncols && np < MAX_PEERS; k++)
        if (k != j && cs[k].svc != cs[j].svc && bmed[k] > 0 &&
            cs[k].m.role != RCA_ROLE_IGNORE &&
            !strcmp(t->cols[k].metric, t->cols[j].metric))
            peer[np++] = k;
    if (np < 2)
        return x;
    for (size_t r = 0; r < t->nrows; r++) {
        double v[MAX_PEERS];
        size_t m = 0;
        for (size_t i = 0; i < np; i++) {
            double p = base[peer[i] * t->nrows + r] / bmed[peer[i]];
            if (isfinite(p)) { /* insertion into sorted v */
                size_t at = m++;
                while (at > 0 && v[at - 1] > p) {
                    v[at] = v[at - 1];
                    at--;
                }
                v[at] = p;
            }
        }
        double mode = m == 0       ? NAN
                      : m % 2 == 1 ? v[m / 2]
                                   : (v[m / 2 - 1] + v[m / 2]) / 2;
        w->ratio[r] = mode > 0 ? x[r] / mode : NAN;
    }
    return w->ratio;
}

static double role_weight(const struct llm_opts *o, enum rca_role r)
{
    if (r == RCA_ROLE_OTHER)
        return o->w_other;
    return rca_role_info(r)->cause ? 1.0 : o->w_symptom;
}

/* ---------------------------------------------------------------------
 * Services and the call graph
 * --------------------------------------------------------------------- */

struct svcs {
    const char **name; /* borrowed: column names (service = prefix) */
    size_t *len;
    size_t *grp; /* first service of its rank group, or SIZE_MAX */
    size_t n;
};

static size_t svc_index(struct svcs *s, const char *colname)
{
    size_t len;
    const char *p = series_service_of(colname, &len);

    for (size_t i = 0; i < s->n; i++)
        if (s->len[i] == len && !memcmp(s->name[i], p, len))
            return i;
    s->name[s->n] = p;
    s->len[s->n] = len;
    return s->n++;
}

/* Length of the group part of a rank's name: "decode-" of "decode-1"
 * (a name, a '-', digits); 0 when the name is not a rank's. */
static size_t rank_prefix(const char *name, size_t len)
{
    size_t d = len;

    while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9')
        d--;
    return d > 1 && d < len && name[d - 1] == '-' ? d : 0;
}

/* Rank groups: services named alike but for a trailing "-<n>" (the
 * tensor-parallel ranks decode-0, decode-1; replicas redis-0, redis-1)
 * run the same code on the same kind of work. */
static void rank_groups(struct svcs *s)
{
    for (size_t i = 0; i < s->n; i++) {
        size_t p = rank_prefix(s->name[i], s->len[i]);
        s->grp[i] = SIZE_MAX;
        for (size_t k = 0; p && k <= i && s->grp[i] == SIZE_MAX; k++)
            if (rank_prefix(s->name[k], s->len[k]) == p &&
                !memcmp(s->name[k], s->name[i], p))
                s->grp[i] = k;
    }
}

/* The same metric as column j at the other ranks of j's group, as series
 * of base (nrows each) into peer[0..max); returns how many. Which of two
 * tensor-parallel ranks waits for the other (and spins its CPU in the
 * all-reduce) flips back and forth; a level one rank reached in the normal
 * window is a level the other may reach without a fault. */
static size_t rank_peers(const struct series_table *t, const struct col *cs,
                         const struct svcs *sv, const double *base, size_t j,
                         const double **peer, size_t max)
{
    size_t np = 0, g = sv->grp[cs[j].svc];

    for (size_t k = 0; g != SIZE_MAX && k < t->ncols && np < max; k++)
        if (cs[k].svc != cs[j].svc && sv->grp[cs[k].svc] == g &&
            cs[k].m.role != RCA_ROLE_IGNORE &&
            !strcmp(t->cols[k].metric, t->cols[j].metric))
            peer[np++] = base + k * t->nrows;
    return np;
}

/* FNV-1a of a NUL-terminated string. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Call edges from spans: a span whose parent belongs to another service.
 * The span-id lookup runs in blocks of consecutive rows (a parent is
 * looked for in its child's block), so that its table stays in cache:
 * the whole file when it is small, else BLOCKS blocks of BLOCK_ROWS rows
 * spread over it. Exports list a trace's spans together or in time
 * order, so nearly every parent is in its child's block; when fewer than
 * half are, the whole file is one block. */
#define BLOCK_ROWS 4096
#define BLOCKS 4

struct span_index {
    uint32_t *slot; /* span index + 1; 0 empty */
    size_t cap;     /* a power of 2 */
};

/* Edges of spans [b0, b1): edge[parent * n + child]; root[s] when s has a
 * span without a parent id. Returns the share of spans with a parent id
 * whose parent was found (1 when none has one). */
static double block_edges(const struct rcaeval_traces *tr, const long *of,
                          size_t n, size_t b0, size_t b1, struct span_index *ix,
                          bool *edge, bool *root)
{
    size_t want = 0, found = 0, cap = ix->cap;

    memset(ix->slot, 0, cap * sizeof *ix->slot);
    for (size_t i = b0; i < b1; i++) {
        size_t h = hash_str(tr->spans[i].span_id) & (cap - 1);
        while (ix->slot[h])
            h = (h + 1) & (cap - 1);
        ix->slot[h] = (uint32_t)(i + 1);
    }
    for (size_t i = b0; i < b1; i++) {
        const struct rcaeval_span *sp = &tr->spans[i];
        long child = sp->service < tr->nnames ? of[sp->service] : -1;
        if (!sp->parent_id || !*sp->parent_id) {
            if (child >= 0)
                root[child] = true;
            continue;
        }
        want++;
        size_t h = hash_str(sp->parent_id) & (cap - 1);
        for (; ix->slot[h]; h = (h + 1) & (cap - 1)) {
            const struct rcaeval_span *p = &tr->spans[ix->slot[h] - 1];
            if (strcmp(p->span_id, sp->parent_id) != 0)
                continue;
            long parent = p->service < tr->nnames ? of[p->service] : -1;
            found++;
            if (child >= 0 && parent >= 0 && child != parent)
                edge[(size_t)parent * n + (size_t)child] = true;
            break;
        }
    }
    return want ? (double)found / (double)want : 1;
}

/* calls[a * n + b]: service a calls b, directly or not (services of the
 * case, by index; trace services no column names are left out). Edges
 * that close a cycle (a reply flowing back to its caller) are dropped by
 * a depth-first walk from the services with root spans. Returns 0 or
 * -RCA_E_NOMEM. */
static int call_graph(const struct rcaeval_traces *tr, const struct svcs *sv,
                      bool *calls)
{
    size_t n = sv->n, ns = tr->nspans;
    bool whole = ns <= (size_t)BLOCKS * BLOCK_ROWS;
    struct span_index ix = {NULL, 16};
    int rc = -RCA_E_NOMEM;

    while (ix.cap < 2 * (whole ? ns : BLOCK_ROWS))
        ix.cap *= 2;
    ix.slot = malloc(ix.cap * sizeof *ix.slot);
    long *of = malloc((tr->nnames ? tr->nnames : 1) * sizeof *of);
    bool *root = calloc(n ? n : 1, sizeof *root);
    bool *edge = calloc(n ? n * n : 1, sizeof *edge);
    unsigned char *state = calloc(n ? n : 1, 1);
    size_t *stack = malloc((n ? n : 1) * 2 * sizeof *stack);
    if (!ix.slot || !of || !root || !edge || !state || !stack)
        goto done;
    for (size_t i = 0; i < tr->nnames; i++) { /* trace name -> service */
        of[i] = -1;
        for (size_t j = 0; j < n; j++)
            if (strlen(tr->names[i]) == sv->len[j] &&
                !memcmp(tr->names[i], sv->name[j], sv->len[j]))
                of[i] = (long)j;
    }
    double share = 1;
    for (size_t b = 0; !whole && b < BLOCKS; b++) {
        size_t b0 = (ns - BLOCK_ROWS) / (BLOCKS - 1) * b;
        double f = block_edges(tr, of, n, b0, b0 + BLOCK_ROWS, &ix, edge, root);
        share = f < share ? f : share;
    }
    if (!whole && share < 0.5) { /* parents far from children: all rows */
        free(ix.slot);
        for (ix.cap = 16; ix.cap < 2 * ns;)
            ix.cap *= 2;
        if (!(ix.slot = malloc(ix.cap * sizeof *ix.slot)))
            goto done;
        whole = true;
    }
    if (whole)
        block_edges(tr, of, n, 0, ns, &ix, edge, root);
    /* depth-first from the roots, then from anything left: tree and
     * forward edges are calls; an edge to a service on the current path
     * closes a cycle and is dropped. state: 0 new, 1 on the path, 2 done */
    memset(calls, 0, n * n * sizeof *calls);
    for (int pass = 0; pass < 2; pass++)
        for (size_t r = 0; r < n; r++) {
            if (state[r] || (pass == 0 && !root[r]))
                continue;
            size_t top = 0;
            stack[top++] = r;
            stack[top++] = 0; /* next neighbour to look at */
            state[r] = 1;
            while (top) {
                size_t u = stack[top - 2], v = stack[top - 1];
                if (v == n) {
                    state[u] = 2;
                    top -= 2;
                    continue;
                }
                stack[top - 1] = v + 1;
                if (!edge[u * n + v] || state[v] == 1)
                    continue;
                calls[u * n + v] = true;
                if (state[v] == 0) {
                    state[v] = 1;
                    stack[top++] = v;
                    stack[top++] = 0;
                }
            }
        }
    for (size_t k = 0; k < n; k++) /* transitive closure */
        for (size_t a = 0; a < n; a++)
            if (calls[a * n + k])
                for (size_t b = 0; b < n; b++)
                    calls[a * n + b] |= calls[k * n + b];
    rc = 0;
done:
    free(stack);
    free(state);
    free(edge);
    free(root);
    free(of);
    free(ix.slot);
    return rc;
}

/* A rise in an explainable column that a callee's same column rose by
 * (in the column's units) belongs to the callee: discount by that share. */
static void explain_by_callees(const struct series_table *t, struct col *cs,
                               const bool *calls, size_t nsvc)
{
    for (size_t j = 0; j < t->ncols; j++) {
        struct col *c = &cs[j];
        if (!c->scored || !rca_role_info(c->m.role)->explainable ||
            !(c->delta > 0) || c->m.dir == RCA_DIR_DOWN)
            continue;
        double best = 0;
        for (size_t i = 0; i < t->ncols; i++) {
            const struct col *d = &cs[i];
            if (i == j || !d->scored || d->svc == c->svc ||
                !calls[c->svc * nsvc + d->svc] ||
                strcmp(t->cols[i].metric, t->cols[j].metric) != 0)
                continue;
            double rise = d->up * d->scale;
            best = rise > best ? rise : best;
        }
        double f = best / c->delta;
        c->score *= 1 - (f < 1 ? f : 1);
    }
}

/* Median of the relative drop (med - x) / |med| of series x over the
 * rows rows[0..n) (w->buf as scratch); 0 when none. */
static double median_drop(const struct work *w, const double *x, double med,
                          const size_t *rows, size_t n)
{
    static const double h[] = {0.5};
    double d = 0;
    size_t m = 0;

    for (size_t i = 0; i < n; i++)
        if (isfinite(x[rows[i]]))
            w->buf[m++] = (med - x[rows[i]]) / fabs(med);
    if (m)
        stats_quantiles_select(w->buf, m, h, 1, w->tmp, &d);
    return d;
}

/* An SM-clock drop at a service whose GPU utilisation dropped by a like
 * share in the same rows is an idle GPU clocking down, not a throttle:
 * over the anomalous rows where the clock is down by at least half its
 * level, the median relative drop of utilisation over that of the clock
 * is the share discounted (a utilisation that drops at other times, as
 * the load moves, does not count). */
static void explain_clock_by_idle(const struct series_table *t, struct col *cs,
                                  const struct work *w)
{
    size_t *low = malloc((w->na ? w->na : 1) * sizeof *low);

    for (size_t j = 0; low && j < t->ncols; j++) {
        struct col *c = &cs[j];
        if (!c->scored || c->m.role != RCA_ROLE_CLOCK ||
            c->m.dir != RCA_DIR_DOWN || !(c->delta > 0) || c->med == 0)
            continue;
        const double *x = series_table_col(t, j);
        size_t n = 0;
        for (size_t i = 0; i < w->na; i++)
            if ((c->med - x[w->anm[i]]) / c->scale >= c->level / 2)
                low[n++] = w->anm[i];
        double clock_drop = median_drop(w, x, c->med, low, n), idle = 0;
        for (size_t i = 0; i < t->ncols; i++) {
            const struct col *u = &cs[i];
            if (!u->scored || u->svc != c->svc || u->m.role != RCA_ROLE_UTIL ||
                u->med == 0)
                continue;
            double d = median_drop(w, series_table_col(t, i), u->med, low, n);
            idle = d > idle ? d : idle;
        }
        if (clock_drop > 0) {
            double f = idle / clock_drop;
            c->score *= 1 - (f < 1 ? f : 1);
        }
    }
    free(low);
}

/* ---------------------------------------------------------------------
 * rank
 * --------------------------------------------------------------------- */

static int split_rows(const struct rca_case *c, const struct llm_opts *o,
                      struct work *w)
{
    const struct series_table *t = c->metrics;

    for (size_t r = 0; r < t->nrows; r++) {
        if (t->time_ns[r] < c->inject_ns)
            w->nrm[w->nn++] = r;
        else
            w->anm[w->na++] = r;
    }
    if (!w->nn || !w->na)
        return -RCA_E_DATA;
    /* the scrape step: the median gap between anomalous rows */
    int64_t step = 0;
    if (w->na > 1) {
        size_t m = 0;
        for (size_t i = 1; i < w->na; i++) {
            int64_t d = t->time_ns[w->anm[i]] - t->time_ns[w->anm[i - 1]];
            if (d > 0)
                w->buf[m++] = (double)d;
        }
        static const double h[] = {0.5};
        double med;
        if (m && stats_quantiles_select(w->buf, m, h, 1, w->tmp, &med) == 0)
            step = (int64_t)med;
    }
    if (step <= 0)
        step = 1000000000;
    double rows = o->persist_s * 1e9 / (double)step;
    w->L = rows < 1 ? 1 : rows > (double)w->na ? w->na : (size_t)llround(rows);
    w->L = w->L ? w->L : 1;
    w->k = w->L / 2 + 1;
    return 0;
}

static int llm_rank(const struct rca_case *c, const struct rca_params *p,
                    struct rca_ranking *out, char *err, size_t errlen)
{
    const struct series_table *t = c->metrics;
    const char *name = c->name && *c->name ? c->name : "case";
    struct llm_opts o;
    struct rca_roles *roles = NULL;
    struct work w = {0};
    struct svcs sv = {0};
    struct col *cs = NULL;
    bool *calls = NULL;
    double *base = NULL, *bmed = NULL;
    size_t n = t->nrows ? t->nrows : 1, nc = t->ncols;
    int rc;

    if ((rc = llm_opts_read(p, &o, err, errlen)) < 0)
        return rc;
    if ((rc = rca_roles_create(&roles)) < 0 ||
        (o.roles && (rc = rca_roles_load(roles, o.roles, err, errlen)) < 0))
        goto done;
    rc = -RCA_E_NOMEM;
    w.nrm = malloc(n * sizeof *w.nrm);
    w.anm = malloc(n * sizeof *w.anm);
    w.buf = malloc(n * sizeof *w.buf);
    w.tmp = malloc(n * sizeof *w.tmp);
    w.s = malloc(n * sizeof *w.s);
    w.ratio = malloc(n * sizeof *w.ratio);
    cs = calloc(nc ? nc : 1, sizeof *cs);
    base = malloc((nc ? nc : 1) * n * sizeof *base);
    bmed = malloc((nc ? nc : 1) * sizeof *bmed);
    sv.name = malloc((nc ? nc : 1) * sizeof *sv.name);
    sv.len = malloc((nc ? nc : 1) * sizeof *sv.len);
    sv.grp = malloc((nc ? nc : 1) * sizeof *sv.grp);
    if (!w.nrm || !w.anm || !w.buf || !w.tmp || !w.s || !w.ratio || !cs ||
        !base || !bmed || !sv.name || !sv.len || !sv.grp)
        goto done;
    if ((rc = split_rows(c, &o, &w)) < 0) {
        rca_fail(err, errlen, RCA_E_DATA, name,
                 "llm: no rows before or after the inject time");
        goto done;
    }
    for (size_t j = 0; j < nc; j++) {
        const struct series_col *col = &t->cols[j];
        cs[j].m =
            rca_roles_match(roles, *col->metric ? col->metric : col->name);
        cs[j].svc = svc_index(&sv, col->name);
    }
    rank_groups(&sv);
    size_t maxpeers = 0; /* the largest group's size - 1, at most MAX_PEERS */
    for (size_t i = 0; o.ranks && !o.peers && i < sv.n; i++) {
        size_t in = 0;
        for (size_t k = 0; sv.grp[i] != SIZE_MAX && k < sv.n; k++)
            in += k != i && sv.grp[k] == sv.grp[i];
        maxpeers = in > maxpeers ? in : maxpeers;
    }
    maxpeers = maxpeers < MAX_PEERS ? maxpeers : MAX_PEERS;
    w.pool = malloc(n * (1 + maxpeers) * sizeof *w.pool);
    w.ptmp = malloc(n * (1 + maxpeers) * sizeof *w.ptmp);
    if (!w.pool || !w.ptmp)
        goto done;
    /* the series each column is judged on: per unit of work where that
     * applies, then relative to its peers */
    for (size_t j = 0; j < nc; j++) {
        const double *x = series_table_col(t, j);
        if (cs[j].m.role == RCA_ROLE_CPU || cs[j].m.role == RCA_ROLE_NET)
            x = per_work(t, cs, j, &w);
        memcpy(base + j * t->nrows, x, t->nrows * sizeof *base);
        bmed[j] = normal_median(&w, base + j * t->nrows);
    }
    for (size_t j = 0; j < nc; j++) {
        if (cs[j].m.role == RCA_ROLE_IGNORE)
            continue;
        const double *x = base + j * t->nrows, *peer[MAX_PEERS];
        size_t np = rank_peers(t, cs, &sv, base, j, peer, maxpeers);
        if (o.peers)
            x = peer_relative(t, cs, base, bmed, j, &w);
        score_column(&w, x, t->nrows, peer, np, &cs[j]);
        cs[j].score = role_weight(&o, cs[j].m.role) * log1p(cs[j].level);
    }
    explain_clock_by_idle(t, cs, &w);
    if (c->traces && sv.n) {
        if (!(calls = malloc(sv.n * sv.n * sizeof *calls)) ||
            call_graph(c->traces, &sv, calls) < 0)
            goto done;
        explain_by_callees(t, cs, calls, sv.n);
    }
    for (size_t j = 0; j < nc; j++)
        if (cs[j].scored &&
            rca_ranking_add(out, t->cols[j].name, cs[j].score) < 0)
            goto done;
    rca_ranking_sort(out);
    rc = 0;
done:
    if (rc == -RCA_E_NOMEM)
        rca_fail(err, errlen, RCA_E_NOMEM, name, "llm: out of memory");
    free(calls);
    free(bmed);
    free(base);
    free(sv.grp);
    free(sv.len);
    free(sv.name);
    free(cs);
    free(w.ptmp);
    free(w.pool);
    free(w.ratio);
    free(w.s);
    free(w.tmp);
    free(w.buf);
    free(w.anm);
    free(w.nrm);
    rca_roles_destroy(roles);
    return rc;
}

const struct rca_method rca_method_llm = {
    .name = "llm",
    .summary = "skewscope's LLM-aware ranking: direction, persistence and "
               "roles of signals, call structure from traces",
    .inputs = RCA_IN_METRICS | RCA_IN_INJECT | RCA_IN_TRACES_OPT,
    .params = llm_params,
    .validate = llm_validate,
    .rank = llm_rank,
};
