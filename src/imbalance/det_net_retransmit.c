/* net_retransmit: retransmitted segments bursting far above their usual
 * rate (runbook table 3c): burst detection on a counter's rate. A row
 * holds for a unit whose retransmit rate is rate_min/s or more and z or
 * more robust standard deviations above its own history (with too little
 * history: 10 x rate_min or more), and, when the segments sent are known,
 * share_min of them or more. */
#include "imbalance/imb_detector.h"

#include <math.h>

static const struct imb_param params[] = {
    {"rate_min", 50, 0, 1e15, "retransmits per second, at least"},
    {"z", 5.0, 0, 1e6, "robust z against the own history"},
    {"share_min", 0.01, 0, 1, "retransmits / segments sent, at least"},
    {"persist_s", 2, 0, 86400, "must hold this long"},
    {"clear_s", 5, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

static int eval(struct imb_eval *ev)
{
    const struct imb_panel *pn = &ev->p->role[IMB_ROLE_NET_RETRANS];
    double rmin = imb_th(ev, "rate_min");

    for (size_t u = 0; u < pn->nunits; u++) {
        const struct imb_unit *un = &pn->units[u];
        double med, x = imb_val(ev->p, IMB_ROLE_NET_RETRANS, u, ev->row);
        double z = imb_trailing_z(imb_row(ev->p, IMB_ROLE_NET_RETRANS, u),
                                  ev->lo, ev->row, 5, 0.05, 1, &med);
        int o = imb_panel_find(ev->p, IMB_ROLE_NET_OUT_SEGS, un->name);
        double out =
            o >= 0 ? imb_val(ev->p, IMB_ROLE_NET_OUT_SEGS, (size_t)o, ev->row)
                   : NAN;
        struct imb_hit *h;

        if (!(x >= rmin) || rmin <= 0 || imb_excluded(ev, un->name))
            continue;
        if (isfinite(z) ? z < imb_th(ev, "z") : x < 10 * rmin)
            continue;
        if (isfinite(out) && out > 0 && x / out < imb_th(ev, "share_min"))
            continue;
        if (!(h = imb_hit(ev, un->name, NULL, x / rmin)))
            return -IMB_E_NOMEM;
        if (isfinite(z))
            imb_hit_ev(h, "net_retrans", un->name, x, med, "1/s",
                       "%.0f retransmits/s, z %.1f against its history", x, z);
        else
            imb_hit_ev(h, "net_retrans", un->name, x, med, "1/s",
                       "%.0f retransmits/s (little history)", x);
        if (isfinite(out) && out > 0)
            imb_hit_ev(h, "net_out_segs", un->name, out, NAN, "1/s",
                       "%.2f%% of the segments sent", 100 * x / out);
    }
    return 0;
}

const struct imb_detector imb_det_net_retransmit = {
    .name = "net_retransmit",
    .summary = "retransmit storms (bursts of the retransmit counter's rate)",
    .params = params,
    .eval = eval,
};
