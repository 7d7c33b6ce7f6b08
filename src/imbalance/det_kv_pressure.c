/* kv_pressure: a KV cache near full while requests are preempted or the
 * waiting queue grows (runbook table 3a). A row holds for a unit whose KV
 * usage is usage_high or more and either its preemption rate is
 * preempt_min or more, or its waiting queue holds growth_min more requests
 * than growth_s before. */
#include "imbalance/imb_detector.h"

#include <math.h>

static const struct imb_param params[] = {
    {"usage_high", 0.95, 0, 1, "KV cache usage, at least"},
    {"preempt_min", 0.1, 0, 1e9, "preemptions per second, at least"},
    {"growth_s", 10, 0, 86400, "window for the waiting queue's growth"},
    {"growth_min", 2, 0, 1e9, "waiting requests more than growth_s ago"},
    {"persist_s", 3, 0, 86400, "must hold this long"},
    {"clear_s", 5, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

static int eval(struct imb_eval *ev)
{
    const struct imb_panels *p = ev->p;
    const struct imb_panel *kv = &p->role[IMB_ROLE_KV_USAGE];
    double high = imb_th(ev, "usage_high");
    size_t back = imb_rows(ev, imb_th(ev, "growth_s"));

    for (size_t u = 0; u < kv->nunits; u++) {
        const struct imb_unit *un = &kv->units[u];
        double x = imb_val(p, IMB_ROLE_KV_USAGE, u, ev->row);
        int pu = imb_panel_find(p, IMB_ROLE_PREEMPTIONS, un->name);
        int wu = imb_panel_find(p, IMB_ROLE_REQ_WAITING, un->name);
        double pre = pu >= 0
                         ? imb_val(p, IMB_ROLE_PREEMPTIONS, (size_t)pu, ev->row)
                         : NAN;
        double w = wu >= 0
                       ? imb_val(p, IMB_ROLE_REQ_WAITING, (size_t)wu, ev->row)
                       : NAN;
        size_t k0 = ev->row >= back ? ev->row - back : 0;
        double w0 = NAN, s;
        struct imb_hit *h;

        if (!(x >= high) || imb_excluded(ev, un->name))
            continue;
        for (size_t k = k0 < ev->lo ? ev->lo : k0; wu >= 0 && k < ev->row; k++)
            if (isfinite(w0 = imb_val(p, IMB_ROLE_REQ_WAITING, (size_t)wu, k)))
                break;
        bool preempt = pre >= imb_th(ev, "preempt_min") && pre > 0;
        bool grows = isfinite(w) && isfinite(w0) &&
                     w - w0 >= imb_th(ev, "growth_min") && w > w0;
        if (!preempt && !grows)
            continue;
        s = (1 - high) > 0 ? 1 + (x - high) / (1 - high) : 1;
        if (!(h = imb_hit(ev, un->name, NULL, s)))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, "kv_usage", un->name, x, high, "share",
                   "KV cache %.1f%% full", 100 * x);
        if (preempt)
            imb_hit_ev(h, "preemptions", un->name, pre, NAN, "1/s",
                       "%.2f preemptions per second", pre);
        if (grows)
            imb_hit_ev(h, "requests_waiting", un->name, w, w0, "requests",
                       "waiting queue grew from %.0f to %.0f", w0, w);
        imb_hit_cause(ev, h, "oversubscription");
    }
    return 0;
}

const struct imb_detector imb_det_kv_pressure = {
    .name = "kv_pressure",
    .summary = "KV cache near full, preemptions, waiting queue growing",
    .params = params,
    .eval = eval,
};
