/* threshold: the generic rule for conditions users add in their own
 * runbook without recompiling: every unit of the entry's `role:` whose
 * value is above `above` or below `below` holds (persist_s, clear_s as for
 * every condition). */
#include "imbalance/imb_detector.h"

#include <math.h>

static const struct imb_param params[] = {
    {"above", 1e300, -1e300, 1e300, "holds above this value"},
    {"below", -1e300, -1e300, 1e300, "holds below this value"},
    {"persist_s", 3, 0, 86400, "must hold this long"},
    {"clear_s", 3, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

static int eval(struct imb_eval *ev)
{
    int r = ev->cond->role;
    double above = imb_th(ev, "above"), below = imb_th(ev, "below");

    if (r < 0 || r >= IMB_NROLES)
        return 0;
    for (size_t u = 0; u < ev->p->role[r].nunits; u++) {
        const char *nm = ev->p->role[r].units[u].name;
        double x = imb_val(ev->p, (enum imb_role)r, u, ev->row);
        struct imb_hit *h;

        if (!(x > above || x < below) || imb_excluded(ev, nm))
            continue;
        double lim = x > above ? above : below;
        double s = lim != 0 ? fabs(x / lim) : 1;
        if (!(h = imb_hit(ev, nm, NULL, s)))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, imb_role_name((enum imb_role)r), nm, x, lim,
                   imb_role_unit((enum imb_role)r), "%s %g",
                   x > above ? "above" : "below", lim);
    }
    return 0;
}

const struct imb_detector imb_det_threshold = {
    .name = "threshold",
    .summary = "a role above or below a value (user-defined conditions)",
    .params = params,
    .needs_role = true,
    .eval = eval,
};
