/* clock_window: the windowed estimator behind `estimate` and `serve` (see
 * clock_window.h). Everything below works on canonical ids (domains by
 * name, groups by (from, to, class name, sync)); the result is mapped back
 * to the caller's ids at the end.
 *
 * Steps: each window solved on its own (the offset track, against the
 * anchor) -> drift and steps per domain from its track (clock_drift.c)
 * -> the final solve over the windows after the last step, each group's
 * minimum de-trended to at_ns -> with consensus, the scale moved to the
 * median of the clocks that agree. */
#include "analysis/clock_window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/clock_graph_private.h"

#define CONSENSUS_TOL_FLOOR_NS 100000 /* clocks this close always agree */
#define CONSENSUS_TOL_CAP_NS 1000000  /* clocks this far apart never do */
#define CONSENSUS_MAD_K 3.0           /* tolerance: 3 robust sigmas */
#define MAX_QUEUED_SHARE 0.8          /* busier consumers: bounds only */

/* ---- cells ------------------------------------------------------------ */

static void min_at(int64_t *min, int64_t *at, bool first, int64_t v, int64_t t)
{
    if (first || v < *min || (v == *min && t < *at)) {
        *min = v;
        *at = t;
    }
}

void clock_window_cell_merge(struct clock_window_cell *dst,
                             const struct clock_window_cell *src)
{
    if (src->count == 0)
        return;
    bool first = dst->count == 0;
    min_at(&dst->fwd_ns, &dst->fwd_at_ns, first, src->fwd_ns, src->fwd_at_ns);
    min_at(&dst->back_ns, &dst->back_at_ns, first, src->back_ns,
           src->back_at_ns);
    if (src->idle)
        min_at(&dst->idle_fwd_ns, &dst->idle_fwd_at_ns, dst->idle == 0,
               src->idle_fwd_ns, src->idle_fwd_at_ns);
    dst->count += src->count;
    dst->queued += src->queued;
    dst->idle += src->idle;
}

void clock_window_cell_add(struct clock_window_cell *c, int64_t p_start_ns,
                           int64_t fwd_ns, int64_t back_ns,
                           enum clock_wait wait)
{
    struct clock_window_cell one = {
        .count = 1,
        .queued = wait == CLOCK_WAIT_QUEUED,
        .fwd_ns = fwd_ns,
        .fwd_at_ns = p_start_ns,
        .back_ns = back_ns,
        .back_at_ns = p_start_ns,
        .idle = wait == CLOCK_WAIT_IDLE,
        .idle_fwd_ns = fwd_ns,
        .idle_fwd_at_ns = p_start_ns,
    };

    clock_window_cell_merge(c, &one);
}

int64_t clock_window_mean(int64_t base_ns, int64_t sum_rel_ns, uint64_t pairs)
{
    if (pairs == 0)
        return base_ns;
    int64_t q = sum_rel_ns / (int64_t)pairs;
    if (sum_rel_ns % (int64_t)pairs != 0 && sum_rel_ns < 0)
        q--;
    return base_ns + q;
}

int64_t clock_window_index(int64_t t_ns, int64_t width_ns)
{
    int64_t q = t_ns / width_ns;

    return (t_ns % width_ns != 0 && t_ns < 0) ? q - 1 : q;
}

/* ---- canonical order -------------------------------------------------- */

struct cw {
    const struct clock_window_input *in;
    size_t nd, ng, nw;
    uint32_t *dperm, *drank; /* canonical -> caller, caller -> canonical */
    uint32_t *crank;         /* caller class -> canonical */
    uint32_t *gperm;         /* canonical group -> caller group */
    struct cg_group *groups; /* canonical */
    uint32_t ref;            /* canonical anchor */
    int64_t at_ns;
    struct cg_minima *min;        /* ng, scratch */
    struct clock_track_point *tr; /* canonical [v * nw + w] */
    bool *wok;                    /* nw: window solved, consistent, pairs */
    double *drift;                /* nd: applied drift, ppm */
    struct cg_drift *fit;         /* nd */
    unsigned first_window;
    int64_t centre; /* consensus: the members' median offset */
};

/* qsort has no context argument; thread-local: serve estimates on two
 * threads at once (its own view and the cluster view) */
static _Thread_local const struct cw *sort_ctx;

static int cmp_name(const char *const *names, uint32_t a, uint32_t b)
{
    if (names) {
        int c = strcmp(names[a], names[b]);
        if (c)
            return c;
    }
    return a < b ? -1 : a > b;
}

static int cmp_domain(const void *a, const void *b)
{
    return cmp_name(sort_ctx->in->domain_names, *(const uint32_t *)a,
                    *(const uint32_t *)b);
}

static int cmp_class(const void *a, const void *b)
{
    return cmp_name(sort_ctx->in->class_names, *(const uint32_t *)a,
                    *(const uint32_t *)b);
}

static int cmp_group(const void *a, const void *b)
{
    const struct clock_window_group
        *x = &sort_ctx->in->groups[*(const uint32_t *)a],
        *y = &sort_ctx->in->groups[*(const uint32_t *)b];
    const struct cw *c = sort_ctx;
    uint32_t kx[4] = {c->drank[x->from], c->drank[x->to], c->crank[x->cls],
                      x->sync},
             ky[4] = {c->drank[y->from], c->drank[y->to], c->crank[y->cls],
                      y->sync};

    for (int i = 0; i < 4; i++)
        if (kx[i] != ky[i])
            return kx[i] < ky[i] ? -1 : 1;
    return 0;
}

static int canonical(struct cw *c)
{
    const struct clock_window_input *in = c->in;
    size_t nc = in->nclasses;
    uint32_t *cperm = malloc((nc + 1) * sizeof(*cperm));
    int rc = -1;

    c->dperm = malloc((c->nd + 1) * sizeof(*c->dperm));
    c->drank = malloc((c->nd + 1) * sizeof(*c->drank));
    c->crank = malloc((nc + 1) * sizeof(*c->crank));
    c->gperm = malloc((c->ng + 1) * sizeof(*c->gperm));
    c->groups = malloc((c->ng + 1) * sizeof(*c->groups));
    if (!cperm || !c->dperm || !c->drank || !c->crank || !c->gperm ||
        !c->groups)
        goto out;
    sort_ctx = c;
    for (uint32_t i = 0; i < c->nd; i++)
        c->dperm[i] = i;
    qsort(c->dperm, c->nd, sizeof(*c->dperm), cmp_domain);
    for (uint32_t i = 0; i < c->nd; i++)
        c->drank[c->dperm[i]] = i;
    for (uint32_t i = 0; i < nc; i++)
        cperm[i] = i;
    qsort(cperm, nc, sizeof(*cperm), cmp_class);
    for (uint32_t i = 0; i < nc; i++)
        c->crank[cperm[i]] = i;
    for (uint32_t i = 0; i < c->ng; i++)
        c->gperm[i] = i;
    qsort(c->gperm, c->ng, sizeof(*c->gperm), cmp_group);
    for (size_t g = 0; g < c->ng; g++) {
        const struct clock_window_group *x = &in->groups[c->gperm[g]];
        c->groups[g] = (struct cg_group){c->drank[x->from], c->drank[x->to],
                                         c->crank[x->cls], x->sync};
    }
    rc = 0;
out:
    free(cperm);
    return rc;
}

static const struct clock_window_cell *cell(const struct cw *c, size_t w,
                                            size_t g)
{
    const struct clock_window_in *win = &c->in->windows[w];
    uint32_t gg = c->gperm[g];

    return gg < win->ncells && win->cells[gg].count ? &win->cells[gg] : NULL;
}

/* ---- minima and solves ------------------------------------------------ */

/* Minima per group over windows [w0, w1), de-trended to at_ns with the
 * applied drifts when `detrend`: slack - (drift(to) - drift(from)) *
 * (t - at) for the pair of each window's minimum.
 *
 * The latency sample the fit uses: when no pair of the group found its
 * consumer busy, the minimum of all pairs (as the bounds); else the
 * minimum over the pairs whose consumer was idle, and none (the group only
 * bounds) when there is no such pair or when more than
 * MAX_QUEUED_SHARE of the pairs were queued: a consumer that is nearly
 * always busy rarely shows a pure latency, and the few idle pairs it has
 * are the ones most likely misjudged (a busy host slow to wake it). */
static void minima(struct cw *c, size_t w0, size_t w1, bool detrend)
{
    for (size_t g = 0; g < c->ng; g++) {
        const struct cg_group *gr = &c->groups[g];
        struct cg_minima *m = &c->min[g];
        double rate =
            detrend ? (c->drift[gr->to] - c->drift[gr->from]) * 1e-6 : 0.0;
        uint64_t queued = 0, idle = 0;
        int64_t idle_fwd = 0;
        *m = (struct cg_minima){0};
        for (size_t w = w0; w < w1; w++) {
            const struct clock_window_cell *x = cell(c, w, g);
            if (!x)
                continue;
            int64_t fwd = x->fwd_ns, back = x->back_ns, ifwd = x->idle_fwd_ns;
            if (rate != 0.0) {
                fwd -= llround(rate * (double)(x->fwd_at_ns - c->at_ns));
                back += llround(rate * (double)(x->back_at_ns - c->at_ns));
                ifwd -= llround(rate * (double)(x->idle_fwd_at_ns - c->at_ns));
            }
            if (m->count == 0 || fwd < m->fwd)
                m->fwd = fwd;
            if (m->count == 0 || back < m->back)
                m->back = back;
            if (x->idle && (idle == 0 || ifwd < idle_fwd))
                idle_fwd = ifwd;
            m->count += x->count;
            queued += x->queued;
            idle += x->idle;
        }
        m->fit_fwd = queued ? idle_fwd : m->fwd;
        m->no_fit =
            m->count && queued &&
            (idle == 0 || (double)queued > MAX_QUEUED_SHARE * (double)m->count);
    }
}

static int solve(struct cw *c, struct cg_solution *sol)
{
    struct cg_problem p = {
        .ndomains = c->nd,
        .ref = c->ref,
        .nclasses = c->in->nclasses,
        .groups = c->groups,
        .min = c->min,
        .ngroups = c->ng,
    };

    return cg_solve(&p, sol);
}

/* Each window on its own, no de-trending: the offset track. */
static int track(struct cw *c, struct clock_estimate *e)
{
    for (size_t w = 0; w < c->nw; w++) {
        struct cg_solution sol;
        minima(c, w, w + 1, false);
        if (solve(c, &sol) < 0) {
            cg_solution_free(&sol);
            return -1;
        }
        e->windows[w].consistent = sol.consistent;
        c->wok[w] = sol.consistent && c->in->windows[w].pairs > 0;
        for (size_t v = 0; v < c->nd; v++) {
            struct clock_track_point *tp = &c->tr[v * c->nw + w];
            const struct clock_bound *b = &sol.bound[v];
            tp->known = sol.known[v] && c->wok[w] &&
                        (v == c->ref || b->has_lower || b->has_upper);
            tp->offset_ns = sol.x[v];
            tp->bound = *b;
        }
        cg_solution_free(&sol);
    }
    return 0;
}

/* Drift (and a step) per domain from its track; first_window is the first
 * window after the latest step. */
static int fit_drifts(struct cw *c, const struct clock_window_opts *opts)
{
    double *t = malloc((c->nw + 1) * sizeof(*t));
    double *y = malloc((c->nw + 1) * sizeof(*y));
    size_t *ww = malloc((c->nw + 1) * sizeof(*ww));
    bool *use = malloc((c->nw + 1) * sizeof(*use));
    int rc = -1;

    if (!t || !y || !ww || !use)
        goto out;
    for (uint32_t v = 0; v < c->nd && c->nw >= 3 && !opts->no_drift; v++) {
        size_t n = 0;
        if (v == c->ref)
            continue;
        for (size_t w = 0; w < c->nw; w++) {
            const struct clock_track_point *tp = &c->tr[v * c->nw + w];
            if (!tp->known)
                continue;
            t[n] = (double)(c->in->windows[w].at_ns - c->at_ns) / 1e9;
            y[n] = (double)tp->offset_ns;
            ww[n++] = w;
        }
        struct cg_drift *f = &c->fit[v];
        cg_track_fit(t, y, n, true, use, f);
        c->drift[v] = f->significant ? f->ppm : 0;
        if (f->has_step) {
            size_t w = ww[f->step_point];
            unsigned first = (unsigned)(w + 1 < c->nw ? w + 1 : w);
            if (first > c->first_window)
                c->first_window = first;
        }
    }
    rc = 0;
out:
    free(t);
    free(y);
    free(ww);
    free(use);
    return rc;
}

/* ---- consensus -------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median of sorted v[0..n), n > 0, floored for an even count. */
static int64_t median_i64(const int64_t *v, size_t n)
{
    int64_t a = v[(n - 1) / 2], b = v[n / 2];

    return (a >> 1) + (b >> 1) + (a & b & 1);
}

/* The members: known, fitted domains within tolerance of the median
 * offset (a node only bounded has no measured offset to agree with), the
 * tolerance 3 robust sigmas (1.4826 * median absolute deviation), kept
 * within [CONSENSUS_TOL_FLOOR_NS, CONSENSUS_TOL_CAP_NS]. Fills e->tolerance_ns,
 * nodes[]. consensus_member (caller ids) and returns the members' median. */
static int consensus_centre(struct cw *c, struct clock_estimate *e,
                            int64_t *centre)
{
    int64_t *x = malloc((c->nd + 1) * sizeof(*x));
    int64_t *dev = malloc((c->nd + 1) * sizeof(*dev));
    size_t n = 0, m = 0;

    if (!x || !dev) {
        free(x);
        free(dev);
        return -1;
    }
    for (uint32_t v = 0; v < c->nd; v++)
        if (e->nodes[c->dperm[v]].known && e->nodes[c->dperm[v]].fitted)
            x[n++] = e->nodes[c->dperm[v]].offset_ns;
    *centre = 0;
    if (n) {
        qsort(x, n, sizeof(*x), cmp_i64);
        int64_t med = median_i64(x, n);
        for (size_t i = 0; i < n; i++)
            dev[i] = llabs(x[i] - med);
        qsort(dev, n, sizeof(*dev), cmp_i64);
        double tol = CONSENSUS_MAD_K * 1.4826 * (double)median_i64(dev, n);
        e->tolerance_ns = tol < CONSENSUS_TOL_FLOOR_NS ? CONSENSUS_TOL_FLOOR_NS
                          : tol > CONSENSUS_TOL_CAP_NS ? CONSENSUS_TOL_CAP_NS
                                                       : (int64_t)tol;
        for (size_t i = 0; i < n; i++)
            if (llabs(x[i] - med) <= e->tolerance_ns)
                x[m++] = x[i];
        /* No clock near the median (an even count split in two far-apart
         * halves): no consensus to speak of, every known clock counts. */
        bool all = m == 0;
        m = all ? n : m;
        *centre = all ? med : median_i64(x, m);
        for (uint32_t v = 0; v < c->nd; v++) {
            struct clock_node *nd = &e->nodes[c->dperm[v]];
            nd->consensus_member =
                nd->known && nd->fitted &&
                (all || llabs(nd->offset_ns - med) <= e->tolerance_ns);
        }
    }
    e->nmembers = m;
    free(x);
    free(dev);
    return 0;
}

/* The members' median applied drift: non-zero only when most members
 * drift against the anchor, i.e. the anchor is the one that drifts. */
static double consensus_drift(const struct cw *c,
                              const struct clock_estimate *e)
{
    double *d = malloc((c->nd + 1) * sizeof(*d));
    size_t n = 0;
    double med = 0;

    if (!d)
        return 0;
    for (uint32_t v = 0; v < c->nd; v++)
        if (e->nodes[v].consensus_member)
            d[n++] = e->nodes[v].drift_ppm;
    if (n) {
        qsort(d, n, sizeof(*d), cmp_dbl);
        med = (d[(n - 1) / 2] + d[n / 2]) / 2;
    }
    free(d);
    return med;
}

static int consensus_members(struct cw *c, struct clock_estimate *e)
{
    return consensus_centre(c, e, &c->centre);
}

/* Move offsets, bounds, the track and drifts onto the consensus scale. */
static int apply_consensus(struct cw *c, struct clock_estimate *e)
{
    int64_t centre = c->centre;
    double dc = consensus_drift(c, e);
    e->consensus = true;
    e->anchor_offset_ns = centre;
    e->anchor_drift_ppm = dc;
    for (size_t v = 0; v < c->nd; v++) {
        struct clock_node *n = &e->nodes[v];
        n->offset_ns -= centre;
        n->bound.lower_ns -= n->bound.has_lower ? centre : 0;
        n->bound.upper_ns -= n->bound.has_upper ? centre : 0;
        for (size_t w = 0; w < c->nw; w++) {
            struct clock_track_point *tp = &e->track[v * c->nw + w];
            double dt = (double)(e->windows[w].at_ns - e->at_ns) / 1e9;
            int64_t shift = centre + llround(dc * 1e3 * dt);
            tp->offset_ns -= shift;
            tp->bound.lower_ns -= tp->bound.has_lower ? shift : 0;
            tp->bound.upper_ns -= tp->bound.has_upper ? shift : 0;
        }
        if (dc != 0.0) {
            /* the anchor drifts against the consensus: every drift moves */
            n->drift_fit_ppm -= dc;
            n->drift_ppm = n->drift_significant ? n->drift_ppm - dc : -dc;
            n->drift_significant = n->drift_ppm != 0.0;
        }
    }
    return 0;
}

/* ---- the estimate ----------------------------------------------------- */

/* The anchor of a consensus estimate: the domain touching the most pairs
 * (ties: the smaller name, i.e. canonical id); with e, among the consensus
 * members only. */
static uint32_t busiest(const struct cw *c, const uint64_t *pairs,
                        const struct clock_estimate *e)
{
    uint32_t best = UINT32_MAX;

    for (uint32_t v = 0; v < c->nd; v++)
        if ((!e || e->nodes[c->dperm[v]].consensus_member) &&
            (best == UINT32_MAX || pairs[v] > pairs[best]))
            best = v;
    return best == UINT32_MAX ? 0 : best;
}

/* Pairs per canonical domain (all windows) and distinct edges. */
static void node_stats(const struct cw *c, struct clock_estimate *e,
                       uint64_t *pairs)
{
    for (size_t g = 0; g < c->ng; g++) {
        const struct cg_group *gr = &c->groups[g];
        uint64_t n = 0;
        for (size_t w = 0; w < c->nw; w++) {
            const struct clock_window_cell *x = cell(c, w, g);
            n += x ? x->count : 0;
        }
        pairs[gr->from] += n;
        pairs[gr->to] += n;
        /* groups are sorted by (from, to): an edge is a run of them */
        if (g == 0 || c->groups[g - 1].from != gr->from ||
            c->groups[g - 1].to != gr->to) {
            e->nodes[c->dperm[gr->from]].edges++;
            e->nodes[c->dperm[gr->to]].edges++;
        }
    }
    for (uint32_t v = 0; v < c->nd; v++)
        e->nodes[c->dperm[v]].pairs = (size_t)pairs[v];
}

static void fill_windows(struct cw *c, struct clock_estimate *e)
{
    e->nwindows = c->nw;
    c->at_ns = 0;
    for (size_t w = 0; w < c->nw; w++) {
        const struct clock_window_in *in = &c->in->windows[w];
        e->windows[w] = (struct clock_window){.start_ns = in->start_ns,
                                              .end_ns = in->end_ns,
                                              .at_ns = in->at_ns,
                                              .pairs = (size_t)in->pairs};
        if (in->pairs && (w == 0 || in->last_ns > c->at_ns))
            c->at_ns = in->last_ns;
    }
    e->at_ns = c->at_ns;
}

static uint32_t uf_find(uint32_t *parent, uint32_t v)
{
    while (parent[v] != v)
        v = parent[v] = parent[parent[v]];
    return v;
}

/* nodes[].fitted: in the anchor's component of the graph of the groups the
 * point estimate uses (c->min as the last minima() left it). */
static int mark_fitted(struct cw *c, struct clock_estimate *e)
{
    uint32_t *parent = malloc((c->nd + 1) * sizeof(*parent));

    if (!parent)
        return -1;
    for (uint32_t v = 0; v < c->nd; v++)
        parent[v] = v;
    for (size_t g = 0; g < c->ng; g++)
        if (c->min[g].count && !c->min[g].no_fit)
            parent[uf_find(parent, c->groups[g].from)] =
                uf_find(parent, c->groups[g].to);
    uint32_t root = uf_find(parent, c->ref);
    for (uint32_t v = 0; v < c->nd; v++)
        e->nodes[c->dperm[v]].fitted = uf_find(parent, v) == root;
    free(parent);
    return 0;
}

static int final_solve(struct cw *c, struct clock_estimate *e)
{
    struct cg_solution sol;

    minima(c, c->first_window, c->nw, true);
    for (size_t g = 0; g < c->ng; g++)
        e->fit_excluded_groups += c->min[g].no_fit;
    if (solve(c, &sol) < 0 || mark_fitted(c, e) < 0) {
        cg_solution_free(&sol);
        return -1;
    }
    e->consistent = sol.consistent;
    for (uint32_t v = 0; v < c->nd; v++) {
        struct clock_node *n = &e->nodes[c->dperm[v]];
        const struct cg_drift *f = &c->fit[v];
        n->offset_ns = sol.x[v];
        n->bound = sol.bound[v];
        n->known = sol.known[v] && (v == c->ref || sol.bound[v].has_lower ||
                                    sol.bound[v].has_upper);
        n->drift_ppm = c->drift[v];
        n->drift_fit_ppm = f->fitted ? f->ppm : 0;
        n->drift_se_ppm = f->fitted && isfinite(f->se_ppm) ? f->se_ppm : 0;
        n->drift_fitted = f->fitted;
        n->drift_significant = f->significant;
        n->has_step = f->has_step;
        n->step_ns = f->has_step ? llround(f->step_ns) : 0;
        for (size_t w = 0; w < c->nw; w++)
            e->track[c->dperm[v] * c->nw + w] = c->tr[v * c->nw + w];
    }
    for (size_t i = 0; i < sol.ncycle; i++) {
        sol.cycle[i].from = c->dperm[sol.cycle[i].from];
        sol.cycle[i].to = c->dperm[sol.cycle[i].to];
    }
    e->cycle = sol.cycle;
    e->ncycle = sol.ncycle;
    sol.cycle = NULL;
    cg_solution_free(&sol);
    return 0;
}

/* The step's time: the start of the window of the first point after it. */
static void step_times(struct cw *c, struct clock_estimate *e)
{
    for (uint32_t v = 0; v < c->nd; v++) {
        struct clock_node *n = &e->nodes[c->dperm[v]];
        if (!n->has_step)
            continue;
        size_t k = 0;
        for (size_t w = 0; w < c->nw; w++) {
            if (!c->tr[v * c->nw + w].known)
                continue;
            if (k++ == c->fit[v].step_point) {
                n->step_at_ns = c->in->windows[w].start_ns;
                break;
            }
        }
    }
}

/* Track, drifts and steps, and the final solve against anchor c->ref. */
static int run(struct cw *c, struct clock_estimate *e,
               const struct clock_window_opts *opts)
{
    c->first_window = 0;
    e->fit_excluded_groups = 0;
    memset(c->drift, 0, c->nd * sizeof(*c->drift));
    memset(c->fit, 0, c->nd * sizeof(*c->fit));
    free(e->cycle);
    e->cycle = NULL;
    e->ncycle = 0;
    e->reference = c->dperm[c->ref];
    if (track(c, e) < 0 || fit_drifts(c, opts) < 0 || final_solve(c, e) < 0)
        return -1;
    step_times(c, e);
    return 0;
}

static void cw_free(struct cw *c)
{
    free(c->dperm);
    free(c->drank);
    free(c->crank);
    free(c->gperm);
    free(c->groups);
    free(c->min);
    free(c->tr);
    free(c->wok);
    free(c->drift);
    free(c->fit);
}

static int cw_alloc(struct cw *c, struct clock_estimate *e)
{
    c->min = calloc(c->ng + 1, sizeof(*c->min));
    c->tr = calloc(c->nd * c->nw + 1, sizeof(*c->tr));
    c->wok = calloc(c->nw + 1, sizeof(*c->wok));
    c->drift = calloc(c->nd + 1, sizeof(*c->drift));
    c->fit = calloc(c->nd + 1, sizeof(*c->fit));
    e->nodes = calloc(c->nd + 1, sizeof(*e->nodes));
    e->windows = calloc(c->nw + 1, sizeof(*e->windows));
    e->track = calloc(c->nd * c->nw + 1, sizeof(*e->track));
    return c->min && c->tr && c->wok && c->drift && c->fit && e->nodes &&
                   e->windows && e->track
               ? 0
               : -1;
}

int clock_window_estimate(struct clock_estimate *e,
                          const struct clock_window_input *in,
                          const struct clock_window_opts *opts)
{
    struct cw c = {
        .in = in, .nd = in->ndomains, .ng = in->ngroups, .nw = in->nwindows};
    uint64_t *pairs = calloc(in->ndomains + 1, sizeof(*pairs));
    bool consensus = opts->reference == CLOCK_REF_CONSENSUS;
    int rc = -1;

    memset(e, 0, sizeof(*e));
    e->ndomains = in->ndomains;
    e->consistent = true;
    if (!pairs || cw_alloc(&c, e) < 0 || canonical(&c) < 0)
        goto out;
    fill_windows(&c, e);
    node_stats(&c, e, pairs);
    if (c.nd == 0) {
        rc = 0;
        goto out;
    }
    c.ref = consensus || opts->reference >= c.nd ? busiest(&c, pairs, NULL)
                                                 : c.drank[opts->reference];
    if (run(&c, e, opts) < 0 || (consensus && consensus_members(&c, e) < 0))
        goto out;
    /* Bounds are proven against the anchor: let it be one of the clocks
     * that agree (the busiest of them), not the odd one out. */
    if (consensus && e->nmembers &&
        !e->nodes[c.dperm[c.ref]].consensus_member) {
        c.ref = busiest(&c, pairs, e);
        if (run(&c, e, opts) < 0 || consensus_members(&c, e) < 0)
            goto out;
    }
    rc = consensus ? apply_consensus(&c, e) : 0;
out:
    cw_free(&c);
    free(pairs);
    return rc;
}
