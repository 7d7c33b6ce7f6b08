/* early_stop: some ranks stop producing while their peers continue and the
 * peers' collectives wait (runbook table 3a). Production is tokens/s
 * (else the busy share); peers are the rank's tensor-parallel group (else
 * units sharing a base name). A rank's level is the 0.9 quantile of its
 * production since ev->lo. A row holds for a rank that produced before in
 * the window and now produces silent_ratio of its level or less (or has
 * no data at all: its process is gone), while at least one peer still
 * produces peer_ratio of its own level or more. */
#include "imbalance/imb_detector.h"

#include <math.h>
#include <stdlib.h>

static const struct imb_param params[] = {
    {"silent_ratio", 0.05, 0, 1, "rate / own recent level, at most"},
    {"peer_ratio", 0.25, 0, 1, "peers still at this share of their level"},
    {"persist_s", 3, 0, 86400, "must hold this long"},
    {"clear_s", 3, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

#define MAXG 256

/* Level (0.9 quantile since lo) and current value of unit u. */
static double level(const struct imb_eval *ev, int r, size_t u, size_t *nfin)
{
    const double *v = imb_row(ev->p, (enum imb_role)r, u);
    size_t n = ev->row - ev->lo + 1;
    double *s = malloc(n * sizeof(*s)), q;

    *nfin = 0;
    for (size_t k = ev->lo; k <= ev->row; k++)
        *nfin += isfinite(v[k]);
    if (!s)
        return NAN;
    q = imb_quantile(v + ev->lo, n, 0.9, s);
    free(s);
    return q;
}

static int eval_group(struct imb_eval *ev, int r, const size_t *idx, size_t n)
{
    double lv[MAXG], x[MAXG];
    size_t nf[MAXG];
    double sr = imb_th(ev, "silent_ratio"), pr = imb_th(ev, "peer_ratio");

    for (size_t i = 0; i < n; i++) {
        lv[i] = level(ev, r, idx[i], &nf[i]);
        x[i] = imb_val(ev->p, (enum imb_role)r, idx[i], ev->row);
    }
    for (size_t i = 0; i < n; i++) {
        const struct imb_unit *un = &ev->p->role[r].units[idx[i]];
        bool gone = !isfinite(x[i]);
        size_t active = 0, peer = SIZE_MAX;
        struct imb_hit *h;

        /* it produced before: a level above 0 from a few samples */
        if (!(lv[i] > 0) || nf[i] < 3 || (!gone && x[i] > sr * lv[i]))
            continue;
        for (size_t j = 0; j < n; j++)
            if (j != i && lv[j] > 0 && isfinite(x[j]) && x[j] >= pr * lv[j])
                active++, peer = peer == SIZE_MAX ? j : peer;
        if (!active)
            continue; /* everyone stopped: the end of the traffic */
        double s = gone ? 2 : x[i] > 0 ? sr * lv[i] / x[i] : 2;
        if (!(h = imb_hit(ev, un->name, un->group ? un->group : un->base,
                          s > 1 ? s : 1)))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, imb_role_name(r), un->name, gone ? NAN : x[i], lv[i],
                   imb_role_unit(r),
                   gone ? "no data any more (its level was %.3g)"
                        : "produces %.1f%% of its level",
                   gone ? lv[i] : 100 * x[i] / lv[i]);
        imb_hit_ev(h, imb_role_name(r), ev->p->role[r].units[idx[peer]].name,
                   x[peer], lv[peer], imb_role_unit(r), "%zu peer(s) continue",
                   active);
        int w = imb_panel_find(ev->p, IMB_ROLE_COLL_WAIT,
                               ev->p->role[r].units[idx[peer]].name);
        if (w >= 0) {
            double med, z = imb_trailing_z(
                            imb_row(ev->p, IMB_ROLE_COLL_WAIT, (size_t)w),
                            ev->lo, ev->row, 3, 0.05, 0, &med);
            if (isfinite(z) && z > 3)
                imb_hit_ev(
                    h, "collective_wait", ev->p->role[r].units[idx[peer]].name,
                    imb_val(ev->p, IMB_ROLE_COLL_WAIT, (size_t)w, ev->row), med,
                    "s", "the peers' collectives wait longer");
        }
        imb_hit_cause(ev, h, gone ? "rank_failure" : "divergent_lengths");
    }
    return 0;
}

static int eval_role(struct imb_eval *ev, int r, bool *found)
{
    const struct imb_panel *pn = &ev->p->role[r];
    size_t *grp = malloc((pn->nunits + 1) * sizeof(*grp));
    size_t ng;
    int rc = 0;

    if (!grp)
        return -IMB_E_NOMEM;
    ng = imb_groups(ev, r, IMB_GROUP_TP, grp);
    size_t any = 0;
    for (size_t u = 0; u < pn->nunits; u++)
        any += grp[u] != SIZE_MAX;
    if (!any) /* no tensor-parallel ranks: peers by base name */
        ng = imb_groups(ev, r, IMB_GROUP_BASE, grp);
    for (size_t g = 0; !rc && g < ng; g++) {
        size_t idx[MAXG], n = 0;

        for (size_t u = 0; u < pn->nunits && n < MAXG; u++)
            if (grp[u] == g)
                idx[n++] = u;
        if (n >= 2) {
            *found = true;
            rc = eval_group(ev, r, idx, n);
        }
    }
    free(grp);
    return rc;
}

static int eval(struct imb_eval *ev)
{
    bool found = false;
    int rc = eval_role(ev, IMB_ROLE_TOKENS, &found);

    if (rc < 0 || found)
        return rc;
    return eval_role(ev, IMB_ROLE_BUSY, &found);
}

const struct imb_detector imb_det_early_stop = {
    .name = "early_stop",
    .summary = "ranks that stop producing while their peers continue",
    .params = params,
    .eval = eval,
};
