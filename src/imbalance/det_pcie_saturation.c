/* pcie_saturation: traffic over a PCIe link near the link's capacity for
 * seconds (runbook table 3b): a ratio against capacity. Utilisation is the
 * larger direction's bytes/s over the link's capacity per direction (its
 * pcie_capacity, else current width x speed x encoding; imb_detector.h).
 * A row holds for a link at util_high or more; persist_s says for how
 * long. */
#include "imbalance/imb_detector.h"

#include <math.h>

static const struct imb_param params[] = {
    {"util_high", 0.90, 0, 10, "throughput / capacity, either direction"},
    {"persist_s", 5, 0, 86400, "must hold this long"},
    {"clear_s", 3, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

static int eval_dir(struct imb_eval *ev, int r, const char *dir)
{
    const struct imb_panel *pn = &ev->p->role[r];
    double high = imb_th(ev, "util_high");

    for (size_t u = 0; u < pn->nunits; u++) {
        const char *nm = pn->units[u].name;
        double x = imb_val(ev->p, (enum imb_role)r, u, ev->row);
        double cap = imb_pcie_capacity(ev->p, nm, ev->row, false);
        struct imb_hit *h;

        if (!(cap > 0) || !(x >= high * cap) || high <= 0 ||
            imb_excluded(ev, nm))
            continue;
        if (!(h = imb_hit(ev, nm, NULL, x / cap / high)))
            return -IMB_E_NOMEM;
        imb_hit_ev(h, imb_role_name(r), nm, x, cap, "bytes/s",
                   "%s at %.0f%% of the link's capacity", dir, 100 * x / cap);
    }
    return 0;
}

static int eval(struct imb_eval *ev)
{
    int rc = eval_dir(ev, IMB_ROLE_PCIE_RX_BYTES, "host to device");

    return rc < 0 ? rc : eval_dir(ev, IMB_ROLE_PCIE_TX_BYTES, "device to host");
}

const struct imb_detector imb_det_pcie_saturation = {
    .name = "pcie_saturation",
    .summary = "PCIe throughput near the link's capacity for seconds",
    .params = params,
    .eval = eval,
};
