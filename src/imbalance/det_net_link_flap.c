/* net_link_flap: a link went down and up (runbook table 3c). A row holds
 * for a link whose carrier-change counter increased by changes_min or more
 * over the last window_s, or whose up/down state changed in that window.
 * The first sample of a counter has no increase, so a link that flapped
 * before the data began is not flagged. */
#include "imbalance/imb_detector.h"

#include <math.h>

static const struct imb_param params[] = {
    {"changes_min", 1, 0, 1e12, "carrier changes within window_s"},
    {"window_s", 60, 1, 86400, "window for changes_min"},
    {"persist_s", 1, 0, 86400, "must hold this long"},
    {"clear_s", 30, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

static int eval(struct imb_eval *ev)
{
    size_t win = imb_rows(ev, imb_th(ev, "window_s")), n;
    size_t a = ev->row + 1 >= win ? ev->row + 1 - win : 0;
    double step_s = (double)ev->p->step_ns / 1e9,
           cmin = imb_th(ev, "changes_min");
    const struct imb_panel *cp = &ev->p->role[IMB_ROLE_NET_CARRIER];
    const struct imb_panel *up = &ev->p->role[IMB_ROLE_NET_UP];
    struct imb_hit *h;

    a = a < ev->lo ? ev->lo : a;
    for (size_t u = 0; u < cp->nunits; u++) {
        const double *v = imb_row(ev->p, IMB_ROLE_NET_CARRIER, u);
        double changes = imb_sum(v, a, ev->row, &n) * step_s;

        if (!n || changes < cmin || !(changes > 0) ||
            imb_excluded(ev, cp->units[u].name))
            continue;
        if (!(h = imb_hit(ev, cp->units[u].name, NULL,
                          changes / (cmin > 0 ? cmin : 1))))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, "net_carrier_changes", cp->units[u].name, changes, 0,
                   "changes", "%.0f carrier changes in the last %zu rows",
                   changes, ev->row - a + 1);
        imb_hit_cause(ev, h, "physical_layer");
    }
    for (size_t u = 0; u < up->nunits; u++) {
        const double *v = imb_row(ev->p, IMB_ROLE_NET_UP, u);
        double prev = NAN, flips = 0;

        for (size_t k = a; k <= ev->row; k++)
            if (isfinite(v[k])) {
                if (isfinite(prev) && (v[k] > 0) != (prev > 0))
                    flips++;
                prev = v[k];
            }
        if (!flips || imb_excluded(ev, up->units[u].name))
            continue;
        if (!(h = imb_hit(ev, up->units[u].name, NULL, flips)))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, "net_up", up->units[u].name, v[ev->row], NAN, "state",
                   "link state changed %.0f times in the last %zu rows", flips,
                   ev->row - a + 1);
        imb_hit_cause(ev, h, "physical_layer");
    }
    return 0;
}

const struct imb_detector imb_det_net_link_flap = {
    .name = "net_link_flap",
    .summary = "link flaps (carrier changes, state toggling)",
    .params = params,
    .eval = eval,
};
