/* pd_interference: time-to-first-token spikes that coincide with
 * inter-token-latency spikes (runbook table 3a). A spike of a unit's
 * series at a row: robust z of spike_z or more against the unit's own
 * history since ev->lo and spike_ratio times its median or more. A row is
 * coincident when some ITL unit spikes in it and some TTFT unit spiked in
 * it or in the coincide_s before. The condition holds at a coincident row
 * when min_events coincident rows lie in the last window_s.
 *
 * Without TTFT metrics the prefill phase is inferred from traffic: a burst
 * of host-to-device PCIe bytes or received network bytes (burst_z,
 * burst_ratio against the unit's history) stands in for a TTFT spike, and
 * when the traces show prefill spans (trace_prefill) the share of those
 * bursts that fall on rows with more prefill starts than usual is reported
 * as the check of the inferred phases. */
#include "imbalance/imb_detector.h"

#include <math.h>
#include <stdlib.h>

static const struct imb_param params[] = {
    {"spike_z", 4.0, 0, 1e6, "robust z against the own history"},
    {"spike_ratio", 1.5, 1, 1e6, "value / own trailing median"},
    {"coincide_s", 1, 0, 3600, "ITL spike within this long after TTFT's"},
    {"min_events", 3, 1, 1e6, "coincident spikes within window_s"},
    {"window_s", 30, 1, 86400, "window for min_events"},
    {"burst_z", 4.0, 0, 1e6, "traffic burst (prefill stand-in) z"},
    {"burst_ratio", 3.0, 1, 1e6, "traffic burst / own trailing median"},
    {"persist_s", 1, 0, 86400, "must hold this long"},
    {"clear_s", 10, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

#define MIN_HIST 5

/* Does unit u of role r spike at row k (history from ev->lo)? *ratio gets
 * value / median. */
static bool spikes(const struct imb_eval *ev, int r, size_t u, size_t k,
                   double zth, double rth, double *ratio)
{
    double med, z = imb_trailing_z(imb_row(ev->p, (enum imb_role)r, u), ev->lo,
                                   k, MIN_HIST, 0.02, 0, &med);
    double x = imb_val(ev->p, (enum imb_role)r, u, k);

    *ratio = med > 0 ? x / med : NAN;
    return isfinite(z) && z >= zth && med > 0 && x >= rth * med;
}

/* The first unit of roles r[0..n) spiking at row k, or -1 (*role set). */
static int any_spike(const struct imb_eval *ev, const int *r, size_t n,
                     size_t k, double zth, double rth, int *role, double *ratio)
{
    for (size_t i = 0; i < n; i++)
        for (size_t u = 0; u < ev->p->role[r[i]].nunits; u++)
            if (!imb_excluded(ev, ev->p->role[r[i]].units[u].name) &&
                spikes(ev, r[i], u, k, zth, rth, ratio)) {
                *role = r[i];
                return (int)u;
            }
    return -1;
}

struct pd {
    int ttft_roles[2];
    size_t nttft;
    double tz, tr; /* thresholds of the TTFT side */
};

static bool coincident(const struct imb_eval *ev, const struct pd *d, size_t k,
                       size_t back, int *tu, int *trole, int *iu)
{
    static const int itl[] = {IMB_ROLE_ITL};
    double zth = imb_th(ev, "spike_z"), rth = imb_th(ev, "spike_ratio"), ra;
    int irole;

    if ((*iu = any_spike(ev, itl, 1, k, zth, rth, &irole, &ra)) < 0)
        return false;
    for (size_t j = k >= back ? k - back : 0; j <= k; j++) {
        if (j < ev->lo)
            continue;
        if ((*tu = any_spike(ev, d->ttft_roles, d->nttft, j, d->tz, d->tr,
                             trole, &ra)) >= 0)
            return true;
    }
    return false;
}

/* Share of traffic bursts in [a, b] on rows with more prefill starts than
 * the window's median, or NaN without trace phases. */
static double phase_check(const struct imb_eval *ev, const struct pd *d,
                          size_t a, size_t b)
{
    const struct imb_panel *tp = &ev->p->role[IMB_ROLE_TRACE_PREFILL];
    double scratch[4096], med;
    size_t bursts = 0, agree = 0, n = b - a + 1;
    int role, u;
    double ra;

    if (!tp->nunits || n > 4096)
        return NAN;
    med = imb_median(imb_row(ev->p, IMB_ROLE_TRACE_PREFILL, 0) + a, n, scratch);
    for (size_t k = a; k <= b; k++) {
        if ((u = any_spike(ev, d->ttft_roles, d->nttft, k, d->tz, d->tr, &role,
                           &ra)) < 0)
            continue;
        bursts++;
        agree += imb_val(ev->p, IMB_ROLE_TRACE_PREFILL, 0, k) > med;
    }
    return bursts ? (double)agree / (double)bursts : NAN;
}

static int eval(struct imb_eval *ev)
{
    struct pd d = {{IMB_ROLE_TTFT, 0},
                   1,
                   imb_th(ev, "spike_z"),
                   imb_th(ev, "spike_ratio")};
    size_t back = imb_rows(ev, imb_th(ev, "coincide_s"));
    size_t win = imb_rows(ev, imb_th(ev, "window_s"));
    size_t a = ev->row + 1 >= win ? ev->row + 1 - win : 0, events = 0;
    int tu, trole, iu, tu0 = -1, trole0 = 0, iu0 = -1;
    bool inferred = false;
    struct imb_hit *h;

    if (!ev->p->role[IMB_ROLE_TTFT].nunits) {
        d.ttft_roles[0] = IMB_ROLE_PCIE_RX_BYTES;
        d.ttft_roles[1] = IMB_ROLE_NET_RX_BYTES;
        d.nttft = 2;
        d.tz = imb_th(ev, "burst_z");
        d.tr = imb_th(ev, "burst_ratio");
        inferred = true;
    }
    if (!coincident(ev, &d, ev->row, back, &tu0, &trole0, &iu0))
        return 0;
    a = a < ev->lo ? ev->lo : a;
    for (size_t k = a; k <= ev->row; k++)
        events += coincident(ev, &d, k, back, &tu, &trole, &iu);
    if ((double)events < imb_th(ev, "min_events"))
        return 0;
    const char *iname = ev->p->role[IMB_ROLE_ITL].units[iu0].name;
    const char *tname = ev->p->role[trole0].units[tu0].name;
    if (!(h = imb_hit(ev, "prefill/decode", NULL,
                      (double)events / imb_th(ev, "min_events"))))
        return -IMB_E_NOMEM;
    imb_hit_subject(h, iname);
    imb_hit_subject(h, tname);
    double med, z = imb_trailing_z(imb_row(ev->p, IMB_ROLE_ITL, (size_t)iu0),
                                   ev->lo, ev->row, MIN_HIST, 0.02, 0, &med);
    imb_hit_ev(h, "itl", iname,
               imb_val(ev->p, IMB_ROLE_ITL, (size_t)iu0, ev->row), med, "s",
               "inter-token latency spike, z %.1f", z);
    imb_hit_ev(h, inferred ? imb_role_name(trole0) : "ttft", tname, NAN, NAN,
               inferred ? imb_role_unit(trole0) : "s",
               inferred ? "prefill inferred from a traffic burst (no TTFT "
                          "metric)"
                        : "time-to-first-token spike");
    imb_hit_ev(h, "coincident_spikes", "", (double)events, NAN, "rows",
               "%zu coincident TTFT/ITL spikes in the last %zu rows", events,
               ev->row - a + 1);
    if (inferred) {
        double agree = phase_check(ev, &d, a, ev->row);

        if (isfinite(agree))
            imb_hit_ev(h, "phase_check", "traces", agree, NAN, "share",
                       "%.0f%% of the inferred prefill bursts fall on rows "
                       "with more prefill spans than usual",
                       100 * agree);
    }
    imb_hit_cause(ev, h, "colocated_phases");
    return 0;
}

const struct imb_detector imb_det_pd_interference = {
    .name = "pd_interference",
    .summary = "TTFT spikes coinciding with inter-token-latency spikes",
    .params = params,
    .eval = eval,
};
