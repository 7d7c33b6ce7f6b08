/* tp_straggler: one rank of a tensor-parallel group slower than its peers
 * (runbook table 3a). Three rules, any of which makes a row hold for a
 * rank; their evidence goes into one finding per rank:
 *  A. step time: the rank's step time (its compute time, step minus
 *     collective wait, when a wait metric exists) is step_ratio times its
 *     peers' median or more (and, with 3 or more peers, z or more robust
 *     standard deviations above them);
 *  B. wait: the rank waits least in the collective, by wait_share of a step
 *     or more below its peers' median wait (everyone else waits for it);
 *     only for groups whose arrivals the traces do not give (C is the
 *     robust form of the same question, see arrivals_known());
 *  C. arrival (traces): on the reference clock, the rank arrives at the
 *     collectives lateness_share of a collective period (and lateness_min_s)
 *     or more after its peers' median arrival. The same comparison on the
 *     ranks' own clocks is made too: a rank late on its own clock only is
 *     a note, not a finding (its clock offset explains it).
 * Onset: the least-squares change point of the rank's step ratio over the
 * history, when it precedes the persistence run. Causes supported by
 * evidence: throttling (SM clock below peers, clock-event reasons set),
 * cpu_contention (CPU pressure on the rank's host). */
#include "imbalance/imb_detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/changepoint.h"

static const struct imb_param params[] = {
    {"step_ratio", 1.15, 1.0, 100, "step (compute) time / peers' median"},
    {"wait_share", 0.10, 0, 1, "(peers' wait - its wait) / step time"},
    {"lateness_share", 0.10, 0, 100, "arrival lateness / collective period"},
    {"lateness_min_s", 0.0002, 0, 3600, "arrival lateness at least, s"},
    {"z", 3.5, 0, 1e6, "robust z against peers (3 or more peers)"},
    {"sm_clock_drop", 0.10, 0, 1, "cause throttling: SM clock below peers"},
    {"cpu_pressure", 0.10, 0, 1, "cause cpu_contention: CPU waiting share"},
    {"persist_s", 3, 0, 86400, "must hold this long"},
    {"clear_s", 3, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

#define MAXG 256 /* ranks per group considered */

/* Units of role r in group g (at most MAXG). */
static size_t members(const struct imb_eval *ev, int r, const size_t *grp,
                      size_t g, size_t *idx)
{
    size_t n = 0;

    for (size_t u = 0; u < ev->p->role[r].nunits && n < MAXG; u++)
        if (grp[u] == g)
            idx[n++] = u;
    return n;
}

/* The rank's step (compute) time at row k: step minus wait when known. */
static double compute_time(const struct imb_panels *p, size_t u, size_t k)
{
    double x = imb_val(p, IMB_ROLE_STEP_TIME, u, k);
    int w = imb_panel_find(p, IMB_ROLE_COLL_WAIT,
                           p->role[IMB_ROLE_STEP_TIME].units[u].name);
    double wt = w >= 0 ? imb_val(p, IMB_ROLE_COLL_WAIT, (size_t)w, k) : NAN;

    return isfinite(wt) && wt >= 0 && wt < x ? x - wt : x;
}

/* Ratio of unit idx[i]'s compute time to its peers' median at row k. */
static double step_ratio_at(const struct imb_panels *p, const size_t *idx,
                            size_t n, size_t i, size_t k)
{
    double peers[MAXG], scratch[MAXG], x = compute_time(p, idx[i], k);
    size_t m = 0;

    for (size_t j = 0; j < n; j++)
        if (j != i)
            peers[m++] = compute_time(p, idx[j], k);
    double med = imb_median(peers, m, scratch);
    return med > 0 && isfinite(x) ? x / med : NAN;
}

/* The change point of the rank's ratio over the history, as a time. */
static int64_t onset_of(const struct imb_eval *ev, const size_t *idx, size_t n,
                        size_t i)
{
    size_t len = ev->row - ev->lo + 1, m = 0, cp;
    double *x = malloc(len * sizeof(*x));
    size_t *at = malloc(len * sizeof(*at));
    int64_t t = INT64_MAX;

    if (x && at) {
        for (size_t k = ev->lo; k <= ev->row; k++) {
            double r = step_ratio_at(ev->p, idx, n, i, k);

            if (isfinite(r))
                x[m] = r, at[m++] = k;
        }
        if (m >= 4 && stats_cusum_changepoint(x, m, &cp) == 0 && cp > 0) {
            double before = 0, after = 0;

            for (size_t j = 0; j < m; j++)
                *(j < cp ? &before : &after) += x[j];
            before /= (double)cp;
            after /= (double)(m - cp);
            if (after - before >= (imb_th(ev, "step_ratio") - 1) / 2)
                t = ev->p->t0_ns + (int64_t)at[cp] * ev->p->step_ns;
        }
    }
    free(x);
    free(at);
    return t;
}

/* Evidence for the causes the runbook lists. */
static void causes(struct imb_eval *ev, struct imb_hit *h, const char *unit,
                   const char *entity)
{
    const struct imb_panels *p = ev->p;
    int u = imb_panel_find(p, IMB_ROLE_SM_CLOCK, unit);
    double drop = imb_th(ev, "sm_clock_drop");

    if (u >= 0) {
        const struct imb_panel *pn = &p->role[IMB_ROLE_SM_CLOCK];
        size_t idx[MAXG], n = 0, np;

        for (size_t v = 0; v < pn->nunits && n < MAXG; v++)
            if (!strcmp(pn->units[v].base, pn->units[u].base))
                idx[n++] = v;
        double med = imb_peer_median(p, IMB_ROLE_SM_CLOCK, idx, n, (size_t)u,
                                     ev->row, &np, NULL);
        double x = imb_val(p, IMB_ROLE_SM_CLOCK, (size_t)u, ev->row);
        if (np && x < (1 - drop) * med) {
            imb_hit_ev(h, "sm_clock", unit, x, med, "MHz",
                       "SM clock %.0f%% below its peers", 100 * (1 - x / med));
            imb_hit_cause(ev, h, "throttling");
        }
    }
    u = imb_panel_find(p, IMB_ROLE_CLOCK_EVENTS, unit);
    if (u >= 0 && imb_val(p, IMB_ROLE_CLOCK_EVENTS, (size_t)u, ev->row) > 0) {
        imb_hit_ev(h, "clock_events", unit,
                   imb_val(p, IMB_ROLE_CLOCK_EVENTS, (size_t)u, ev->row), NAN,
                   "bits", "clock-event (throttle) reasons set");
        imb_hit_cause(ev, h, "throttling");
    }
    u = imb_panel_find(p, IMB_ROLE_CPU_PRESSURE, unit);
    if (u < 0)
        u = imb_panel_find(p, IMB_ROLE_CPU_PRESSURE, entity);
    if (u >= 0) {
        double x = imb_val(p, IMB_ROLE_CPU_PRESSURE, (size_t)u, ev->row);

        if (x >= imb_th(ev, "cpu_pressure")) {
            imb_hit_ev(h, "cpu_pressure", unit, x, NAN, "share",
                       "tasks waited for a CPU %.0f%% of the time", 100 * x);
            imb_hit_cause(ev, h, "cpu_contention");
        }
    }
}

/* Rule A. */
static int rule_step(struct imb_eval *ev)
{
    const struct imb_panels *p = ev->p;
    const struct imb_panel *pn = &p->role[IMB_ROLE_STEP_TIME];
    size_t *grp = malloc((pn->nunits + 1) * sizeof(*grp));
    size_t ng = grp ? imb_groups(ev, IMB_ROLE_STEP_TIME, IMB_GROUP_TP, grp) : 0;
    double ratio = imb_th(ev, "step_ratio"), zth = imb_th(ev, "z");

    if (!grp)
        return -IMB_E_NOMEM;
    for (size_t g = 0; g < ng; g++) {
        size_t idx[MAXG], n = members(ev, IMB_ROLE_STEP_TIME, grp, g, idx);
        double c[MAXG], peers[MAXG], scratch[MAXG];

        for (size_t i = 0; i < n; i++)
            c[i] = compute_time(p, idx[i], ev->row);
        for (size_t i = 0; i < n; i++) {
            size_t m = 0;

            for (size_t j = 0; j < n; j++)
                if (j != i && isfinite(c[j]))
                    peers[m++] = c[j];
            double med = imb_median(peers, m, scratch);
            if (!(med > 0) || !(c[i] >= ratio * med))
                continue;
            if (m >= 3) {
                double sc = imb_robust_scale(peers, m, med, scratch);

                sc = sc > 0.01 * med ? sc : 0.01 * med;
                if ((c[i] - med) / sc < zth)
                    continue;
            }
            const struct imb_unit *un = &pn->units[idx[i]];
            double s = ratio > 1 ? (c[i] / med - 1) / (ratio - 1) : c[i] / med;
            struct imb_hit *h =
                imb_hit(ev, un->name, un->group ? un->group : un->base, s);
            if (!h) {
                free(grp);
                return -IMB_E_NOMEM;
            }
            imb_hit_ev(h, "step_time", un->name,
                       imb_val(p, IMB_ROLE_STEP_TIME, idx[i], ev->row), med,
                       "s", "compute time %.2fx its %zu peers' median",
                       c[i] / med, m);
            int64_t on = onset_of(ev, idx, n, i);
            h->onset_ns = on < h->onset_ns ? on : h->onset_ns;
            causes(ev, h, un->name, un->entity);
        }
    }
    free(grp);
    return 0;
}

/* The step time of a wait unit's group at row k: the median step time of
 * the group's ranks, else the unit's collective period. */
static double step_of(const struct imb_panels *p, const size_t *idx, size_t n,
                      size_t k)
{
    double v[MAXG], scratch[MAXG];
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        const char *nm = p->role[IMB_ROLE_COLL_WAIT].units[idx[i]].name;
        int s = imb_panel_find(p, IMB_ROLE_STEP_TIME, nm);
        int q = imb_panel_find(p, IMB_ROLE_COLL_PERIOD, nm);
        double x = s >= 0 ? imb_val(p, IMB_ROLE_STEP_TIME, (size_t)s, k) : NAN;

        if (!isfinite(x) && q >= 0)
            x = imb_val(p, IMB_ROLE_COLL_PERIOD, (size_t)q, k);
        v[m++] = x;
    }
    return imb_median(v, m, scratch);
}

/* True when the traces give every rank of the wait group its arrival
 * lateness at row k. Rule C then answers B's question (who arrives last,
 * so that everyone waits for it) per collective, on the reference clock,
 * by the median; B's per-row mean wait is ruled by the few longest waits,
 * which on a host that deschedules ranks for milliseconds at a time
 * single out a rank by chance. */
static bool arrivals_known(const struct imb_panels *p, const size_t *idx,
                           size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        int l = imb_panel_find(p, IMB_ROLE_COLL_LATENESS,
                               p->role[IMB_ROLE_COLL_WAIT].units[idx[i]].name);

        if (l < 0 ||
            !isfinite(imb_val(p, IMB_ROLE_COLL_LATENESS, (size_t)l, k)))
            return false;
    }
    return n > 0;
}

/* Rule B (without the traces' arrivals). */
static int rule_wait(struct imb_eval *ev)
{
    const struct imb_panels *p = ev->p;
    const struct imb_panel *pn = &p->role[IMB_ROLE_COLL_WAIT];
    size_t *grp = malloc((pn->nunits + 1) * sizeof(*grp));
    size_t ng = grp ? imb_groups(ev, IMB_ROLE_COLL_WAIT, IMB_GROUP_TP, grp) : 0;
    double share = imb_th(ev, "wait_share");

    if (!grp)
        return -IMB_E_NOMEM;
    for (size_t g = 0; g < ng; g++) {
        size_t idx[MAXG], n = members(ev, IMB_ROLE_COLL_WAIT, grp, g, idx);
        size_t least = SIZE_MAX, np;
        double wmin = INFINITY;

        for (size_t i = 0; i < n; i++) {
            double w = imb_val(p, IMB_ROLE_COLL_WAIT, idx[i], ev->row);

            if (isfinite(w) && w < wmin)
                wmin = w, least = idx[i];
        }
        if (least == SIZE_MAX || arrivals_known(p, idx, n, ev->row))
            continue;
        double med = imb_peer_median(p, IMB_ROLE_COLL_WAIT, idx, n, least,
                                     ev->row, &np, NULL);
        double step = step_of(p, idx, n, ev->row);
        if (!np || !(step > 0) || !((med - wmin) / step >= share) || share <= 0)
            continue;
        const struct imb_unit *un = &pn->units[least];
        struct imb_hit *h =
            imb_hit(ev, un->name, un->group ? un->group : un->base,
                    (med - wmin) / step / share);
        if (!h) {
            free(grp);
            return -IMB_E_NOMEM;
        }
        imb_hit_ev(h, "collective_wait", un->name, wmin, med, "s",
                   "waits least in the collective: %.1f%% of a step less "
                   "than its peers",
                   100 * (med - wmin) / step);
        causes(ev, h, un->name, un->entity);
    }
    free(grp);
    return 0;
}

/* Rule C, and the clock note. */
static int rule_arrival(struct imb_eval *ev)
{
    const struct imb_panels *p = ev->p;
    const struct imb_panel *pn = &p->role[IMB_ROLE_COLL_LATENESS];
    size_t *grp = malloc((pn->nunits + 1) * sizeof(*grp));
    size_t ng =
        grp ? imb_groups(ev, IMB_ROLE_COLL_LATENESS, IMB_GROUP_TP, grp) : 0;
    double share = imb_th(ev, "lateness_share"),
           lmin = imb_th(ev, "lateness_min_s");

    if (!grp)
        return -IMB_E_NOMEM;
    for (size_t g = 0; g < ng; g++) {
        size_t idx[MAXG], n = members(ev, IMB_ROLE_COLL_LATENESS, grp, g, idx);

        for (size_t i = 0; i < n; i++) {
            const struct imb_unit *un = &pn->units[idx[i]];
            size_t np;
            double med = imb_peer_median(p, IMB_ROLE_COLL_LATENESS, idx, n,
                                         idx[i], ev->row, &np, NULL);
            double x = imb_val(p, IMB_ROLE_COLL_LATENESS, idx[i], ev->row);
            int q = imb_panel_find(p, IMB_ROLE_COLL_PERIOD, un->name);
            double per =
                q >= 0 ? imb_val(p, IMB_ROLE_COLL_PERIOD, (size_t)q, ev->row)
                       : NAN;
            double thr =
                isfinite(per) && share * per > lmin ? share * per : lmin;
            if (!np || !isfinite(x) || !(thr > 0))
                continue;
            int r = imb_panel_find(p, IMB_ROLE_COLL_LATENESS_RAW, un->name);
            if (x - med >= thr) {
                struct imb_hit *h =
                    imb_hit(ev, un->name, un->group, (x - med) / thr);
                if (!h) {
                    free(grp);
                    return -IMB_E_NOMEM;
                }
                imb_hit_ev(h, "collective_lateness", un->name, x, med, "s",
                           "arrives %.3f ms after its peers on the reference "
                           "clock",
                           1e3 * (x - med));
                causes(ev, h, un->name, un->entity);
            } else if (r >= 0) {
                /* late on its own clock only: the offset explains it */
                size_t ridx[MAXG], rn = 0, rnp;
                const struct imb_panel *rp =
                    &p->role[IMB_ROLE_COLL_LATENESS_RAW];
                for (size_t j = 0; j < n; j++) {
                    int k = imb_panel_find(p, IMB_ROLE_COLL_LATENESS_RAW,
                                           pn->units[idx[j]].name);
                    if (k >= 0 && rn < MAXG)
                        ridx[rn++] = (size_t)k;
                }
                double rmed =
                    imb_peer_median(p, IMB_ROLE_COLL_LATENESS_RAW, ridx, rn,
                                    (size_t)r, ev->row, &rnp, NULL);
                double rx =
                    imb_val(p, IMB_ROLE_COLL_LATENESS_RAW, (size_t)r, ev->row);
                (void)rp;
                if (rnp && rx - rmed >= thr)
                    imb_note(ev, un->name,
                             "looks %.3f ms late on its own clock but %.3f ms "
                             "on the reference clock: its clock offset, not "
                             "the rank, explains it",
                             1e3 * (rx - rmed), 1e3 * (x - med));
            }
        }
    }
    free(grp);
    return 0;
}

static int eval(struct imb_eval *ev)
{
    int rc;

    if ((rc = rule_step(ev)) < 0 || (rc = rule_wait(ev)) < 0)
        return rc;
    return rule_arrival(ev);
}

const struct imb_detector imb_det_tp_straggler = {
    .name = "tp_straggler",
    .summary = "a tensor-parallel rank slower than its peers (step time, "
               "least wait, late arrival on one clock)",
    .params = params,
    .eval = eval,
};
