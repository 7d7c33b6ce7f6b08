/* dp_load_skew: replicas behind one router with very different load
 * (runbook table 3b). Replicas: units without a rank whose base name is
 * shared (signals.h: "vllm/pod-a" and "vllm/pod-b", "replica-0" and
 * "replica-1"). Per signal, a row holds for a replica whose value is
 * `ratio` times the other replicas' median or more and above the signal's
 * floor (waiting_min, running_min, tokens_min; for KV usage: kv_gap above
 * the median), and, with 3 or more other replicas, z or more robust
 * standard deviations above them. */
#include "imbalance/imb_detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct imb_param params[] = {
    {"ratio", 3.0, 1.0, 1e6, "replica / the others' median"},
    {"waiting_min", 4, 0, 1e9, "waiting requests, at least"},
    {"running_min", 4, 0, 1e9, "running requests, at least"},
    {"kv_gap", 0.30, 0, 1, "KV usage above the others' median"},
    {"tokens_min", 10, 0, 1e12, "tokens/s, at least"},
    {"z", 3.5, 0, 1e6, "robust z (3 or more other replicas)"},
    {"itl_ratio", 1.2, 1, 100, "cause slow_replica: ITL / others' median"},
    {"persist_s", 3, 0, 86400, "must hold this long"},
    {"clear_s", 5, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

#define MAXR 256

static const struct sig {
    int role;
    const char *floor; /* threshold key of the absolute floor, or NULL */
    bool gap;          /* compare by difference (kv_gap), not ratio */
} sigs[] = {
    {IMB_ROLE_REQ_WAITING, "waiting_min", false},
    {IMB_ROLE_REQ_RUNNING, "running_min", false},
    {IMB_ROLE_KV_USAGE, NULL, true},
    {IMB_ROLE_TOKENS, "tokens_min", false},
};

/* The excess of x over the others (>= 1 past the threshold), or 0. */
static double excess(const struct imb_eval *ev, const struct sig *s, double x,
                     double med, double scale, size_t npeers)
{
    double ratio = imb_th(ev, "ratio"), e;

    if (s->gap) {
        double gap = imb_th(ev, "kv_gap");

        e = gap > 0 ? (x - med) / gap : 0;
    } else {
        if (x < imb_th(ev, s->floor))
            return 0;
        e = med > 0 ? x / med / ratio : x > 0 ? ratio : 0;
    }
    if (e >= 1 && npeers >= 3) {
        double sc = scale > 0.01 * fabs(med) ? scale : 0.01 * fabs(med);

        if (sc > 0 && (x - med) / sc < imb_th(ev, "z"))
            return 0;
    }
    return e >= 1 ? e : 0;
}

static void slow_or_routed(struct imb_eval *ev, struct imb_hit *h,
                           const char *unit, const char *base)
{
    const struct imb_panel *pn = &ev->p->role[IMB_ROLE_ITL];
    int u = imb_panel_find(ev->p, IMB_ROLE_ITL, unit);
    size_t idx[MAXR], n = 0, np;

    for (size_t v = 0; u >= 0 && v < pn->nunits && n < MAXR; v++)
        if (!strcmp(pn->units[v].base, base))
            idx[n++] = v;
    double med = u >= 0 ? imb_peer_median(ev->p, IMB_ROLE_ITL, idx, n,
                                          (size_t)u, ev->row, &np, NULL)
                        : NAN;
    double x = u >= 0 ? imb_val(ev->p, IMB_ROLE_ITL, (size_t)u, ev->row) : NAN;
    if (u >= 0 && np && x >= imb_th(ev, "itl_ratio") * med) {
        imb_hit_ev(h, "itl", unit, x, med, "s",
                   "inter-token latency %.2fx the other replicas'", x / med);
        imb_hit_cause(ev, h, "slow_replica");
    } else {
        imb_hit_cause(ev, h, "routing_policy");
    }
}

static int eval_sig(struct imb_eval *ev, const struct sig *s)
{
    const struct imb_panel *pn = &ev->p->role[s->role];
    size_t *grp = malloc((pn->nunits + 1) * sizeof(*grp));
    size_t ng = grp ? imb_groups(ev, s->role, IMB_GROUP_DP, grp) : 0;

    if (!grp)
        return -IMB_E_NOMEM;
    for (size_t g = 0; g < ng; g++) {
        size_t idx[MAXR], n = 0;

        for (size_t u = 0; u < pn->nunits && n < MAXR; u++)
            if (grp[u] == g)
                idx[n++] = u;
        for (size_t i = 0; i < n; i++) {
            size_t np;
            double sc, x = imb_val(ev->p, s->role, idx[i], ev->row);
            double med = imb_peer_median(ev->p, s->role, idx, n, idx[i],
                                         ev->row, &np, &sc);
            double e = np && isfinite(x) ? excess(ev, s, x, med, sc, np) : 0;
            const struct imb_unit *un = &pn->units[idx[i]];
            struct imb_hit *h;

            if (e < 1)
                continue;
            if (!(h = imb_hit(ev, un->name, un->base, e))) {
                free(grp);
                return -IMB_E_NOMEM;
            }
            imb_hit_ev(h, imb_role_name(s->role), un->name, x, med,
                       imb_role_unit(s->role),
                       "%.3g against the other %zu "
                       "replicas' median %.3g",
                       x, np, med);
            slow_or_routed(ev, h, un->name, un->base);
        }
    }
    free(grp);
    return 0;
}

static int eval(struct imb_eval *ev)
{
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        int rc = eval_sig(ev, &sigs[i]);

        if (rc < 0)
            return rc;
    }
    return 0;
}

const struct imb_detector imb_det_dp_load_skew = {
    .name = "dp_load_skew",
    .summary = "replicas behind one router with very different load",
    .params = params,
    .eval = eval,
};
