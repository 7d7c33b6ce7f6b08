/* pcie_degraded: a PCIe link below its maximum width or speed, or with AER
 * errors or replays rising (runbook table 3b). A row holds for a link
 *  - whose width is below width_ratio x its maximum width;
 *  - whose speed is below speed_ratio x its maximum while it carries
 *    speed_min_util of its full capacity or more (links lower their speed
 *    when idle to save power; without a throughput signal the speed counts
 *    as it is);
 *  - whose AER errors or replays over the last window_s add up to
 *    errors_min or more. */
#include "imbalance/imb_detector.h"

#include <math.h>

static const struct imb_param params[] = {
    {"width_ratio", 1.0, 0, 1, "width below max x this is degraded"},
    {"speed_ratio", 1.0, 0, 1, "speed below max x this is degraded"},
    {"speed_min_util", 0.05, 0, 1, "speed counts from this utilisation"},
    {"errors_min", 1, 0, 1e15, "AER errors or replays within window_s"},
    {"window_s", 30, 1, 86400, "window for errors_min"},
    {"persist_s", 3, 0, 86400, "must hold this long"},
    {"clear_s", 10, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

static int width(struct imb_eval *ev)
{
    const struct imb_panel *pn = &ev->p->role[IMB_ROLE_PCIE_WIDTH];

    for (size_t u = 0; u < pn->nunits; u++) {
        const char *nm = pn->units[u].name;
        int m = imb_panel_find(ev->p, IMB_ROLE_PCIE_WIDTH_MAX, nm);
        double w = imb_val(ev->p, IMB_ROLE_PCIE_WIDTH, u, ev->row);
        double mx =
            m >= 0 ? imb_val(ev->p, IMB_ROLE_PCIE_WIDTH_MAX, (size_t)m, ev->row)
                   : NAN;
        struct imb_hit *h;

        if (!(w > 0) || !(w < imb_th(ev, "width_ratio") * mx) ||
            imb_excluded(ev, nm))
            continue;
        if (!(h = imb_hit(ev, nm, NULL, mx / w)))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, "pcie_width", nm, w, mx, "lanes",
                   "link trained at x%.0f of x%.0f", w, mx);
        imb_hit_cause(ev, h, "link_training");
    }
    return 0;
}

/* The link's utilisation of its full capacity, or NaN. */
static double util(const struct imb_eval *ev, const char *nm)
{
    double cap = imb_pcie_capacity(ev->p, nm, ev->row, true), best = NAN;
    static const int r[] = {IMB_ROLE_PCIE_RX_BYTES, IMB_ROLE_PCIE_TX_BYTES};

    for (int i = 0; i < 2; i++) {
        int u = imb_panel_find(ev->p, r[i], nm);
        double x = u >= 0
                       ? imb_val(ev->p, (enum imb_role)r[i], (size_t)u, ev->row)
                       : NAN;

        if (cap > 0 && isfinite(x) && !(x / cap <= best))
            best = x / cap;
    }
    return best;
}

static int speed(struct imb_eval *ev)
{
    const struct imb_panel *pn = &ev->p->role[IMB_ROLE_PCIE_SPEED];

    for (size_t u = 0; u < pn->nunits; u++) {
        const char *nm = pn->units[u].name;
        int m = imb_panel_find(ev->p, IMB_ROLE_PCIE_SPEED_MAX, nm);
        double s = imb_val(ev->p, IMB_ROLE_PCIE_SPEED, u, ev->row);
        double mx =
            m >= 0 ? imb_val(ev->p, IMB_ROLE_PCIE_SPEED_MAX, (size_t)m, ev->row)
                   : NAN;
        double ut = util(ev, nm);
        struct imb_hit *h;

        if (!(s > 0) || !(s < imb_th(ev, "speed_ratio") * mx) ||
            (isfinite(ut) && ut < imb_th(ev, "speed_min_util")) ||
            imb_excluded(ev, nm))
            continue;
        if (!(h = imb_hit(ev, nm, NULL, mx / s)))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, "pcie_speed", nm, s, mx, "GT/s",
                   isfinite(ut) ? "link at %.1f of %.1f GT/s under load"
                                : "link at %.1f of %.1f GT/s",
                   s, mx);
        imb_hit_cause(ev, h, "link_training");
    }
    return 0;
}

static int errors(struct imb_eval *ev, int r)
{
    const struct imb_panel *pn = &ev->p->role[r];
    size_t win = imb_rows(ev, imb_th(ev, "window_s")), n;
    size_t a = ev->row + 1 >= win ? ev->row + 1 - win : 0;
    double emin = imb_th(ev, "errors_min");

    a = a < ev->lo ? ev->lo : a;
    for (size_t u = 0; u < pn->nunits; u++) {
        const char *nm = pn->units[u].name;
        double cnt =
            imb_sum(imb_row(ev->p, (enum imb_role)r, u), a, ev->row, &n) *
            (double)ev->p->step_ns / 1e9;
        struct imb_hit *h;

        if (!n || !(cnt > 0) || cnt < emin || imb_excluded(ev, nm))
            continue;
        if (!(h = imb_hit(ev, nm, NULL, emin > 0 ? cnt / emin : cnt)))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, imb_role_name(r), nm, cnt, 0, "errors",
                   "%.0f %s in the last %zu rows", cnt,
                   r == IMB_ROLE_PCIE_AER ? "AER errors" : "replays",
                   ev->row - a + 1);
        imb_hit_cause(ev, h, "signal_integrity");
    }
    return 0;
}

static int eval(struct imb_eval *ev)
{
    int rc;

    if ((rc = width(ev)) < 0 || (rc = speed(ev)) < 0 ||
        (rc = errors(ev, IMB_ROLE_PCIE_AER)) < 0)
        return rc;
    return errors(ev, IMB_ROLE_PCIE_REPLAY);
}

const struct imb_detector imb_det_pcie_degraded = {
    .name = "pcie_degraded",
    .summary = "PCIe link below max width or speed, AER errors rising",
    .params = params,
    .eval = eval,
};
