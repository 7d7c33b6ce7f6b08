/* pp_imbalance: a pipeline stage busy far more than the others, and the
 * idle time (bubbles) it leaves in the stages after it (runbook table 3a).
 * Stages are the busy-share units by base name: the ranks of one
 * tensor-parallel group ("decode-0", "decode-1") or the replicas of one
 * stage count as one stage, at their mean busy share. A row holds for the
 * hottest stage when its busy share is busy_high or more and busy_gap or
 * more above the other stages' median. Downstream stages are those with a
 * higher pp_rank label, else all others. */
#include "imbalance/imb_detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct imb_param params[] = {
    {"busy_high", 0.80, 0, 1, "the hot stage's busy share, at least"},
    {"busy_gap", 0.30, 0.001, 1, "hot stage minus the others' median"},
    {"persist_s", 3, 0, 86400, "must hold this long"},
    {"clear_s", 5, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

#define MAXS 128

struct stage {
    const char *name;
    const char *pp;
    double busy;
    size_t n;
};

static size_t stages(const struct imb_eval *ev, struct stage *st)
{
    const struct imb_panel *pn = &ev->p->role[IMB_ROLE_BUSY];
    size_t ns = 0;

    for (size_t u = 0; u < pn->nunits; u++) {
        const struct imb_unit *un = &pn->units[u];
        double x = imb_val(ev->p, IMB_ROLE_BUSY, u, ev->row);
        size_t s = 0;

        if (!isfinite(x) || imb_excluded(ev, un->name))
            continue;
        while (s < ns && strcmp(st[s].name, un->base))
            s++;
        if (s == ns) {
            if (ns == MAXS)
                continue;
            st[ns++] = (struct stage){un->base, un->pp, 0, 0};
        }
        st[s].busy += x;
        st[s].n++;
    }
    for (size_t s = 0; s < ns; s++)
        st[s].busy /= (double)st[s].n;
    return ns;
}

static bool downstream(const struct stage *hot, const struct stage *s)
{
    char *end;
    long a, b;

    if (!hot->pp || !s->pp)
        return true;
    a = strtol(hot->pp, &end, 10);
    b = strtol(s->pp, &end, 10);
    return b > a;
}

static int eval(struct imb_eval *ev)
{
    struct stage st[MAXS];
    size_t ns = stages(ev, st), hot = 0, m = 0;
    double others[MAXS], scratch[MAXS], gap = imb_th(ev, "busy_gap");
    struct imb_hit *h;

    if (ns < 2)
        return 0;
    for (size_t s = 1; s < ns; s++)
        if (st[s].busy > st[hot].busy)
            hot = s;
    for (size_t s = 0; s < ns; s++)
        if (s != hot)
            others[m++] = st[s].busy;
    double med = imb_median(others, m, scratch);
    if (st[hot].busy < imb_th(ev, "busy_high") || st[hot].busy - med < gap)
        return 0;
    if (!(h = imb_hit(ev, st[hot].name, NULL, (st[hot].busy - med) / gap)))
        return -IMB_E_NOMEM;
    imb_hit_ev(h, "busy", st[hot].name, st[hot].busy, med, "share",
               "busy %.0f%% of the time, the other stages %.0f%%",
               100 * st[hot].busy, 100 * med);
    for (size_t s = 0; s < ns; s++) {
        if (s == hot || !downstream(&st[hot], &st[s]))
            continue;
        imb_hit_subject(h, st[s].name);
        imb_hit_ev(h, "idle", st[s].name, 1 - st[s].busy, 1 - st[hot].busy,
                   "share", "idle %.0f%% of the time (bubbles: %.2f s/s)",
                   100 * (1 - st[s].busy), 1 - st[s].busy);
    }
    if (strstr(st[hot].name, "prefill"))
        imb_hit_cause(ev, h, "heavy_phase");
    return 0;
}

const struct imb_detector imb_det_pp_imbalance = {
    .name = "pp_imbalance",
    .summary = "a pipeline stage busy far more than the others (bubbles "
               "downstream)",
    .params = params,
    .eval = eval,
};
