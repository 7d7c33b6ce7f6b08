/* clock_track: the estimate over time. Groups observations by edge and
 * transport class, cuts the input's time span into windows, tracks each
 * domain's offset per window, fits drift (and finds steps) from the track,
 * and makes the final de-trended solve that clock_graph_estimate() reports. */
#include "analysis/clock_graph_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock_model.h"

#define MAX_WINDOWS 64
#define AUTO_WINDOWS 8
#define PAIRS_PER_GROUP_WINDOW 30      /* for the automatic window count */
#define MIN_DRIFT_SPAN_NS 2000000000LL /* shorter inputs: no drift fit */
#define MIN_STEP_NS 20000.0            /* smaller jumps are noise */
#define MIN_DRIFT_PPM 0.05             /* smaller drifts are not reported */

struct track_ctx {
    const struct clock_obs *obs;
    size_t n, ndomains;
    uint32_t ref;
    struct cg_group *groups;
    size_t ngroups, nclasses;
    uint32_t *gid; /* per obs */
    uint16_t *wid; /* per obs */
    struct cg_minima *min;
    double *drift_ppm; /* per domain */
    int64_t at_ns;
};

/* Assign group ids with a small open-addressing map. */
static int build_groups(struct track_ctx *t)
{
    size_t cap = 64, mask;
    while (cap < 4 * (t->n + 1) && cap < (1u << 20))
        cap *= 2;
    mask = cap - 1;
    uint32_t *slot = malloc(cap * sizeof(*slot));
    t->groups = malloc((t->n + 1) * sizeof(*t->groups));
    t->gid = malloc((t->n + 1) * sizeof(*t->gid));
    if (!slot || !t->groups || !t->gid) {
        free(slot);
        return -1;
    }
    memset(slot, 0xff, cap * sizeof(*slot));
    for (size_t i = 0; i < t->n; i++) {
        const struct clock_obs *o = &t->obs[i];
        struct cg_group g = {o->from, o->to, o->cls, o->sync != 0};
        uint64_t h = ((uint64_t)g.from * 0x9e3779b97f4a7c15ull) ^
                     ((uint64_t)g.to * 0xc2b2ae3d27d4eb4full) ^
                     ((uint64_t)g.cls << 1) ^ g.sync;
        size_t k = (h ^ (h >> 31)) & mask;
        for (; slot[k] != UINT32_MAX; k = (k + 1) & mask) {
            const struct cg_group *e = &t->groups[slot[k]];
            if (e->from == g.from && e->to == g.to && e->cls == g.cls &&
                e->sync == g.sync)
                break;
        }
        if (slot[k] == UINT32_MAX) {
            slot[k] = (uint32_t)t->ngroups;
            t->groups[t->ngroups++] = g;
            if (g.cls + 1 > t->nclasses)
                t->nclasses = g.cls + 1;
        }
        t->gid[i] = slot[k];
    }
    free(slot);
    return 0;
}

static int64_t detrend(const struct track_ctx *t, uint32_t v, int64_t ts)
{
    double b = t->drift_ppm[v];

    return b == 0.0 ? ts : clock_model_map(0, b, t->at_ns, ts);
}

/* Minimum slacks per group over windows [w0, w1), de-trended with drift. */
static void compute_minima(struct track_ctx *t, unsigned w0, unsigned w1)
{
    memset(t->min, 0, t->ngroups * sizeof(*t->min));
    for (size_t i = 0; i < t->n; i++) {
        if (t->wid[i] < w0 || t->wid[i] >= w1)
            continue;
        const struct clock_obs *o = &t->obs[i];
        struct cg_minima *m = &t->min[t->gid[i]];
        int64_t fwd =
            detrend(t, o->to, o->c_start) - detrend(t, o->from, o->p_start);
        int64_t back =
            detrend(t, o->from, o->p_end) - detrend(t, o->to, o->c_end);
        if (m->count == 0 || fwd < m->fwd)
            m->fwd = fwd;
        if (m->count == 0 || back < m->back)
            m->back = back;
        m->count++;
    }
}

static int solve_windows(struct track_ctx *t, unsigned w0, unsigned w1,
                         struct cg_solution *sol)
{
    struct cg_problem p = {
        .ndomains = t->ndomains,
        .ref = t->ref,
        .nclasses = t->nclasses,
        .groups = t->groups,
        .min = t->min,
        .ngroups = t->ngroups,
    };

    compute_minima(t, w0, w1);
    return cg_solve(&p, sol);
}

static unsigned choose_windows(const struct track_ctx *t,
                               const struct clock_graph_opts *opts,
                               int64_t span_ns)
{
    if (opts->windows)
        return opts->windows > MAX_WINDOWS ? MAX_WINDOWS : opts->windows;
    if (span_ns < MIN_DRIFT_SPAN_NS || t->ngroups == 0)
        return 1;
    size_t k = t->n / (PAIRS_PER_GROUP_WINDOW * t->ngroups);
    return k < 1 ? 1 : k > AUTO_WINDOWS ? AUTO_WINDOWS : (unsigned)k;
}

static int assign_windows(struct track_ctx *t, struct clock_estimate *e,
                          unsigned k, int64_t tmin, int64_t tmax)
{
    double width = ((double)(tmax - tmin) + 1.0) / k;
    double *sum = calloc(k, sizeof(*sum));

    t->wid = malloc((t->n + 1) * sizeof(*t->wid));
    e->windows = calloc(k, sizeof(*e->windows));
    if (!sum || !t->wid || !e->windows) {
        free(sum);
        return -1;
    }
    e->nwindows = k;
    for (unsigned w = 0; w < k; w++) {
        e->windows[w].start_ns = tmin + (int64_t)(w * width);
        e->windows[w].end_ns = tmin + (int64_t)((w + 1) * width);
    }
    for (size_t i = 0; i < t->n; i++) {
        unsigned w = (unsigned)((double)(t->obs[i].p_start - tmin) / width);
        t->wid[i] = (uint16_t)(w >= k ? k - 1 : w);
        e->windows[t->wid[i]].pairs++;
        sum[t->wid[i]] += (double)(t->obs[i].p_start - tmin);
    }
    for (unsigned w = 0; w < k; w++) {
        struct clock_window *cw = &e->windows[w];
        cw->at_ns = cw->pairs ? tmin + (int64_t)(sum[w] / (double)cw->pairs)
                              : (cw->start_ns + cw->end_ns) / 2;
    }
    free(sum);
    return 0;
}

/* Solve each window on its own (no de-trending): the offset track. */
static int track_windows(struct track_ctx *t, struct clock_estimate *e)
{
    e->track = calloc(t->ndomains * e->nwindows + 1, sizeof(*e->track));
    if (!e->track)
        return -1;
    for (unsigned w = 0; w < e->nwindows; w++) {
        struct cg_solution sol;
        if (solve_windows(t, w, w + 1, &sol) < 0) {
            cg_solution_free(&sol);
            return -1;
        }
        e->windows[w].consistent = sol.consistent;
        for (size_t v = 0; v < t->ndomains; v++) {
            struct clock_track_point *tp = &e->track[v * e->nwindows + w];
            tp->known = sol.known[v] && e->windows[w].pairs > 0;
            tp->offset_ns = sol.x[v];
            tp->bound = sol.bound[v];
        }
        cg_solution_free(&sol);
    }
    return 0;
}

/* A fit of a domain's offset track: y = a + b t (+ s [i >= k] when k > 0),
 * t in seconds, y in ns. Points with use[i] false are left out. */
struct track_fit {
    double a, b, s;
    double sse;  /* residual sum of squares over the points used */
    size_t used; /* points used */
};

static double track_residual(const struct track_fit *f, double t, double y,
                             bool after_step)
{
    return y - f->a - f->b * t - (after_step ? f->s : 0);
}

/* Least squares by elimination on the 2x2 or 3x3 normal equations.
 * Returns 0, or -1 when the system is singular. */
static int fit_track(const double *t, const double *y, const bool *use,
                     size_t n, size_t k, struct track_fit *f)
{
    size_t m = k ? 3 : 2;
    double a[3][4] = {{0}};

    for (size_t i = 0; i < n; i++) {
        double row[3] = {1.0, t[i], i >= k ? 1.0 : 0.0};
        for (size_t r = 0; use[i] && r < m; r++) {
            for (size_t c = 0; c < m; c++)
                a[r][c] += row[r] * row[c];
            a[r][3] += row[r] * y[i];
        }
    }
    for (size_t c = 0; c < m; c++) {
        if (fabs(a[c][c]) < 1e-9)
            return -1;
        for (size_t r = 0; r < m; r++) {
            double q = a[r][c] / a[c][c];
            for (size_t j = c; r != c && j < 4; j++)
                a[r][j] -= q * a[c][j];
        }
    }
    double coef[3] = {0};
    for (size_t c = 0; c < m; c++)
        coef[c] = a[c][3] / a[c][c];
    f->a = coef[0];
    f->b = coef[1];
    f->s = k ? coef[2] : 0;
    f->sse = 0;
    f->used = 0;
    for (size_t i = 0; i < n; i++) {
        double r = track_residual(f, t[i], y[i], i >= k && k);
        f->sse += use[i] ? r * r : 0;
        f->used += use[i];
    }
    return 0;
}

static double per_dof(const struct track_fit *f, size_t params)
{
    return f->used > params ? f->sse / (double)(f->used - params) : INFINITY;
}

/* Fit with every point, and with each point left out in turn; keep the
 * leave-one-out fit when it explains the rest four times better per degree
 * of freedom (a window that straddles a step, or one whose few pairs
 * mislead). use[] says which points the kept fit used. Returns 0 or -1. */
static int fit_robust(const double *t, const double *y, size_t n, size_t k,
                      bool *use, struct track_fit *f)
{
    size_t params = k ? 3 : 2;
    size_t drop = n;
    struct track_fit g;

    for (size_t i = 0; i < n; i++)
        use[i] = true;
    if (fit_track(t, y, use, n, k, f) < 0)
        return -1;
    double best = per_dof(f, params) / 4;
    for (size_t j = 0; n >= params + 3 && j < n; j++) {
        use[j] = false;
        if (fit_track(t, y, use, n, k, &g) == 0 && per_dof(&g, params) < best) {
            best = per_dof(&g, params);
            drop = j;
        }
        use[j] = true;
    }
    if (drop == n)
        return 0;
    use[drop] = false;
    return fit_track(t, y, use, n, k, f);
}

/* Drift (and a step, when the track jumps) of one domain from its track.
 * Returns the first window of the regime the final solve should use. */
static unsigned fit_domain(struct track_ctx *t, struct clock_estimate *e,
                           uint32_t v, double *tt, double *yy, unsigned *ww,
                           bool *use)
{
    size_t n = 0;
    struct clock_node *node = &e->nodes[v];
    struct track_fit line, step, best = {0};
    size_t best_k = 0;

    for (unsigned w = 0; w < e->nwindows; w++) {
        const struct clock_track_point *tp = &e->track[v * e->nwindows + w];
        if (!tp->known || !e->windows[w].consistent)
            continue;
        tt[n] = (double)(e->windows[w].at_ns - t->at_ns) / 1e9; /* s */
        yy[n] = (double)tp->offset_ns;
        ww[n++] = w;
    }
    if (n < 3 || fit_robust(tt, yy, n, 0, use, &line) < 0)
        return 0;
    for (size_t k = 2; n >= 5 && k + 2 <= n; k++) {
        if (fit_robust(tt, yy, n, k, use, &step) == 0 &&
            (!best_k || per_dof(&step, 3) < per_dof(&best, 3))) {
            best = step;
            best_k = k;
        }
    }
    if (best_k && per_dof(&best, 3) * 16 < per_dof(&line, 2) &&
        fabs(best.s) > MIN_STEP_NS &&
        fabs(best.s) > 6 * sqrt(per_dof(&best, 3))) {
        node->has_step = true;
        node->step_ns = (int64_t)llround(best.s);
        node->step_at_ns = e->windows[ww[best_k]].start_ns;
        double ppm = best.b * 1e-3; /* ns/s -> ppm */
        t->drift_ppm[v] = fabs(ppm) > MIN_DRIFT_PPM ? ppm : 0;
        return ww[best_k] + 1 < e->nwindows ? ww[best_k] + 1 : ww[best_k];
    }
    t->drift_ppm[v] = cg_track_drift_ppm(tt, yy, n, use);
    return 0;
}

double cg_track_drift_ppm(const double *t_s, const double *y_ns, size_t n,
                          bool *use)
{
    struct track_fit line;
    double sxx = 0, mean = 0;

    if (n < 3 || fit_robust(t_s, y_ns, n, 0, use, &line) < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        mean += use[i] ? t_s[i] / (double)line.used : 0;
    for (size_t i = 0; i < n; i++)
        sxx += use[i] ? (t_s[i] - mean) * (t_s[i] - mean) : 0;
    double se = sqrt(per_dof(&line, 2) / sxx);
    double ppm = line.b * 1e-3; /* ns/s -> ppm */
    return fabs(line.b) > 3 * se && fabs(ppm) > MIN_DRIFT_PPM ? ppm : 0;
}

static int fit_drift(struct track_ctx *t, struct clock_estimate *e,
                     unsigned *first_window)
{
    double *tt = malloc(e->nwindows * sizeof(*tt));
    double *yy = malloc(e->nwindows * sizeof(*yy));
    unsigned *ww = malloc(e->nwindows * sizeof(*ww));
    bool *use = malloc(e->nwindows * sizeof(*use));
    int rc = -1;

    if (!tt || !yy || !ww || !use)
        goto out;
    *first_window = 0;
    for (uint32_t v = 0; v < t->ndomains; v++) {
        if (v == t->ref)
            continue;
        unsigned w = fit_domain(t, e, v, tt, yy, ww, use);
        if (w > *first_window)
            *first_window = w;
    }
    rc = 0;
out:
    free(tt);
    free(yy);
    free(ww);
    free(use);
    return rc;
}

static void node_stats(const struct track_ctx *t, struct clock_estimate *e)
{
    for (size_t g = 0; g < t->ngroups; g++) {
        /* An edge is (from, to); count it once however many classes. */
        bool first = true;
        for (size_t h = 0; h < g && first; h++)
            first = t->groups[h].from != t->groups[g].from ||
                    t->groups[h].to != t->groups[g].to;
        if (first) {
            e->nodes[t->groups[g].from].edges++;
            e->nodes[t->groups[g].to].edges++;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        e->nodes[t->obs[i].from].pairs++;
        e->nodes[t->obs[i].to].pairs++;
    }
}

static int final_solve(struct track_ctx *t, struct clock_estimate *e,
                       unsigned first_window)
{
    struct cg_solution sol;

    if (solve_windows(t, first_window, (unsigned)e->nwindows, &sol) < 0) {
        cg_solution_free(&sol);
        return -1;
    }
    e->consistent = sol.consistent;
    for (size_t v = 0; v < t->ndomains; v++) {
        e->nodes[v].offset_ns = sol.x[v];
        e->nodes[v].bound = sol.bound[v];
        e->nodes[v].drift_ppm = t->drift_ppm[v];
    }
    e->cycle = sol.cycle;
    e->ncycle = sol.ncycle;
    sol.cycle = NULL;
    cg_solution_free(&sol);
    return 0;
}

static void time_range(const struct track_ctx *t, int64_t *tmin, int64_t *tmax,
                       int64_t *at)
{
    bool ref_seen = false;

    *tmin = *tmax = *at = t->n ? t->obs[0].p_start : 0;
    for (size_t i = 0; i < t->n; i++) {
        int64_t ps = t->obs[i].p_start;
        *tmin = ps < *tmin ? ps : *tmin;
        *tmax = ps > *tmax ? ps : *tmax;
        if (t->obs[i].from == t->ref && (!ref_seen || ps > *at)) {
            *at = ps;
            ref_seen = true;
        }
    }
    if (!ref_seen)
        *at = *tmax;
}

int clock_graph_estimate(struct clock_estimate *e, const struct clock_obs *obs,
                         size_t n, size_t ndomains,
                         const struct clock_graph_opts *opts)
{
    struct track_ctx t = {
        .obs = obs, .n = n, .ndomains = ndomains, .ref = opts->reference};
    int64_t tmin, tmax;
    unsigned first_window = 0;
    int rc = -1;

    memset(e, 0, sizeof(*e));
    e->ndomains = ndomains;
    e->reference = opts->reference;
    e->consistent = true;
    e->nodes = calloc(ndomains + 1, sizeof(*e->nodes));
    t.drift_ppm = calloc(ndomains + 1, sizeof(*t.drift_ppm));
    if (!e->nodes || !t.drift_ppm || build_groups(&t) < 0)
        goto out;
    t.min = calloc(t.ngroups + 1, sizeof(*t.min));
    if (!t.min)
        goto out;
    time_range(&t, &tmin, &tmax, &t.at_ns);
    e->at_ns = t.at_ns;
    unsigned k = choose_windows(&t, opts, tmax - tmin);
    if (assign_windows(&t, e, k, tmin, tmax) < 0 || track_windows(&t, e) < 0)
        goto out;
    if (k >= 3 && !opts->no_drift && fit_drift(&t, e, &first_window) < 0)
        goto out;
    node_stats(&t, e);
    rc = final_solve(&t, e, first_window);
out:
    free(t.groups);
    free(t.gid);
    free(t.wid);
    free(t.min);
    free(t.drift_ppm);
    return rc;
}

void clock_estimate_free(struct clock_estimate *e)
{
    free(e->nodes);
    free(e->windows);
    free(e->track);
    free(e->cycle);
    memset(e, 0, sizeof(*e));
}
