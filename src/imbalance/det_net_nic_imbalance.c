/* net_nic_imbalance: the NICs of one host carry very different traffic
 * (runbook table 3c). A NIC's traffic is its received plus transmitted
 * bytes/s; NICs are grouped by entity (the host); the runbook's exclude
 * globs drop loopback and virtual interfaces. A row holds for a host whose
 * busiest NIC carries min_rate or more and ratio times the median of its
 * other NICs or more. */
#include "imbalance/imb_detector.h"

#include <math.h>
#include <string.h>

static const struct imb_param params[] = {
    {"ratio", 3.0, 1, 1e12, "busiest NIC / the host's others' median"},
    {"min_rate", 1e6, 0, 1e15, "bytes/s on the busiest NIC, at least"},
    {"persist_s", 5, 0, 86400, "must hold this long"},
    {"clear_s", 5, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

#define MAXN 64

struct nic {
    const char *name, *entity;
    double bytes;
};

/* Traffic of every NIC at the row (rx + tx; a missing side counts 0). */
static size_t nics(const struct imb_eval *ev, struct nic *v)
{
    static const int roles[] = {IMB_ROLE_NET_RX_BYTES, IMB_ROLE_NET_TX_BYTES};
    size_t n = 0;

    for (int i = 0; i < 2; i++) {
        const struct imb_panel *pn = &ev->p->role[roles[i]];

        for (size_t u = 0; u < pn->nunits; u++) {
            double x = imb_val(ev->p, (enum imb_role)roles[i], u, ev->row);
            size_t j = 0;

            if (!isfinite(x) || imb_excluded(ev, pn->units[u].name))
                continue;
            while (j < n && strcmp(v[j].name, pn->units[u].name))
                j++;
            if (j == n) {
                if (n == MAXN)
                    continue;
                v[n++] =
                    (struct nic){pn->units[u].name, pn->units[u].entity, 0};
            }
            v[j].bytes += x;
        }
    }
    return n;
}

static int eval(struct imb_eval *ev)
{
    struct nic v[MAXN];
    size_t n = nics(ev, v);
    double ratio = imb_th(ev, "ratio"), rmin = imb_th(ev, "min_rate");
    bool done[MAXN] = {false};

    for (size_t i = 0; i < n; i++) {
        double others[MAXN], scratch[MAXN];
        size_t hot = i, m = 0, cnt = 0;

        if (done[i])
            continue;
        for (size_t j = i; j < n; j++)
            if (!strcmp(v[j].entity, v[i].entity)) {
                done[j] = true;
                cnt++;
                if (v[j].bytes > v[hot].bytes)
                    hot = j;
            }
        if (cnt < 2)
            continue;
        for (size_t j = i; j < n; j++)
            if (j != hot && !strcmp(v[j].entity, v[i].entity))
                others[m++] = v[j].bytes;
        double med = imb_median(others, m, scratch);
        if (v[hot].bytes < rmin || v[hot].bytes < ratio * med)
            continue;
        double s = med > 0 ? v[hot].bytes / med / ratio : 2;
        struct imb_hit *h = imb_hit(ev, v[i].entity, NULL, s > 10 ? 10 : s);

        if (!h)
            return -IMB_E_NOMEM;
        imb_hit_subject(h, v[hot].name);
        imb_hit_ev(h, "net_bytes", v[hot].name, v[hot].bytes, med, "bytes/s",
                   "the busiest NIC carries %.3g bytes/s, the host's %zu "
                   "others %.3g (median)",
                   v[hot].bytes, m, med);
        for (size_t j = i; j < n; j++)
            if (j != hot && !strcmp(v[j].entity, v[i].entity))
                imb_hit_subject(h, v[j].name);
    }
    return 0;
}

const struct imb_detector imb_det_net_nic_imbalance = {
    .name = "net_nic_imbalance",
    .summary = "NICs of one host carrying very different traffic",
    .params = params,
    .eval = eval,
};
