/* net_congestion: latency spikes on many links at once, in step with
 * collective traffic, or ECN marks / PFC pauses climbing (runbook table
 * 3c). A row is congested when link_share of the links with a latency
 * signal (at least one) spike at once (robust z of spike_z or more against
 * the link's own history, spike_ratio times its median or more), or when
 * ECN marks reach ecn_min/s or pause frames pause_min/s on some link. The
 * condition holds at a congested row when min_events congested rows lie in
 * the last window_s. The transmitted bytes of all links together, at
 * traffic_ratio times their median or more in the congested row, make the
 * spikes "in step with collective traffic" (cause incast). */
#include "imbalance/imb_detector.h"

#include <math.h>
#include <stdlib.h>

static const struct imb_param params[] = {
    {"spike_z", 4.0, 0, 1e6, "latency z against the link's history"},
    {"spike_ratio", 2.0, 1, 1e6, "latency / the link's trailing median"},
    {"link_share", 0.5, 0, 1, "share of links spiking at once"},
    {"traffic_ratio", 1.5, 1, 1e6, "traffic / its median: in step"},
    {"ecn_min", 100, 0, 1e15, "ECN-marked packets per second"},
    {"pause_min", 100, 0, 1e15, "PFC pause frames per second"},
    {"min_events", 3, 1, 1e6, "congested rows within window_s"},
    {"window_s", 30, 1, 86400, "window for min_events"},
    {"persist_s", 1, 0, 86400, "must hold this long"},
    {"clear_s", 10, 0, 86400, "gone this long closes the finding"},
    {NULL, 0, 0, 0, NULL},
};

#define MIN_HIST 5

/* Links spiking at row k; returns their count, *nlinks the links with a
 * latency value, first spiking link in *first. */
static size_t spiking(const struct imb_eval *ev, size_t k, size_t *nlinks,
                      int *first)
{
    const struct imb_panel *pn = &ev->p->role[IMB_ROLE_NET_LATENCY];
    double zth = imb_th(ev, "spike_z"), rth = imb_th(ev, "spike_ratio");
    size_t n = 0;

    *nlinks = 0;
    *first = -1;
    for (size_t u = 0; u < pn->nunits; u++) {
        double med, x = imb_val(ev->p, IMB_ROLE_NET_LATENCY, u, k), z;

        if (!isfinite(x) || imb_excluded(ev, pn->units[u].name))
            continue;
        (*nlinks)++;
        z = imb_trailing_z(imb_row(ev->p, IMB_ROLE_NET_LATENCY, u), ev->lo, k,
                           MIN_HIST, 0.02, 0, &med);
        if (isfinite(z) && z >= zth && med > 0 && x >= rth * med) {
            n++;
            *first = *first < 0 ? (int)u : *first;
        }
    }
    return n;
}

/* A unit of role r at or above min at row k, or -1. */
static int over(const struct imb_eval *ev, int r, size_t k, double min)
{
    for (size_t u = 0; u < ev->p->role[r].nunits; u++)
        if (imb_val(ev->p, (enum imb_role)r, u, k) >= min && min > 0 &&
            !imb_excluded(ev, ev->p->role[r].units[u].name))
            return (int)u;
    return -1;
}

static bool congested(const struct imb_eval *ev, size_t k)
{
    size_t nl;
    int first;
    size_t ns = spiking(ev, k, &nl, &first);
    double need = ceil(imb_th(ev, "link_share") * (double)nl);

    if (ns && (double)ns >= (need > 1 ? need : 1))
        return true;
    return over(ev, IMB_ROLE_NET_ECN, k, imb_th(ev, "ecn_min")) >= 0 ||
           over(ev, IMB_ROLE_NET_PAUSE, k, imb_th(ev, "pause_min")) >= 0;
}

/* Total transmitted bytes at row k over every link, and its median. */
static double traffic(const struct imb_eval *ev, size_t k)
{
    const struct imb_panel *pn = &ev->p->role[IMB_ROLE_NET_TX_BYTES];
    double s = 0;
    size_t n = 0;

    for (size_t u = 0; u < pn->nunits; u++) {
        double x = imb_val(ev->p, IMB_ROLE_NET_TX_BYTES, u, k);

        if (isfinite(x) && !imb_excluded(ev, pn->units[u].name))
            s += x, n++;
    }
    return n ? s : NAN;
}

static void in_step(struct imb_eval *ev, struct imb_hit *h)
{
    size_t n = ev->row - ev->lo + 1;
    double *t = malloc(2 * n * sizeof(*t)), med;

    if (!t)
        return;
    for (size_t k = ev->lo; k <= ev->row; k++)
        t[k - ev->lo] = traffic(ev, k);
    med = imb_median(t, n, t + n);
    if (isfinite(t[n - 1]) && med > 0 &&
        t[n - 1] >= imb_th(ev, "traffic_ratio") * med) {
        imb_hit_ev(h, "net_tx_bytes", "all links", t[n - 1], med, "bytes/s",
                   "traffic %.1fx its median: in step with collectives",
                   t[n - 1] / med);
        imb_hit_cause(ev, h, "incast");
    }
    free(t);
}

static int eval(struct imb_eval *ev)
{
    size_t win = imb_rows(ev, imb_th(ev, "window_s")), events = 0, nl;
    size_t a = ev->row + 1 >= win ? ev->row + 1 - win : 0;
    struct imb_hit *h;
    int first, u;

    if (!congested(ev, ev->row))
        return 0;
    for (size_t k = a < ev->lo ? ev->lo : a; k <= ev->row; k++)
        events += congested(ev, k);
    if ((double)events < imb_th(ev, "min_events"))
        return 0;
    if (!(h = imb_hit(ev, "network", NULL,
                      (double)events / imb_th(ev, "min_events"))))
        return -IMB_E_NOMEM;
    size_t ns = spiking(ev, ev->row, &nl, &first);
    if (ns) {
        const struct imb_panel *pn = &ev->p->role[IMB_ROLE_NET_LATENCY];
        double med;
        size_t f = (size_t)first;

        (void)imb_trailing_z(imb_row(ev->p, IMB_ROLE_NET_LATENCY, f), ev->lo,
                             ev->row, MIN_HIST, 0.02, 0, &med);
        imb_hit_ev(h, "net_latency", pn->units[f].name,
                   imb_val(ev->p, IMB_ROLE_NET_LATENCY, f, ev->row), med, "s",
                   "latency spikes on %zu of %zu links at once", ns, nl);
        for (size_t v = 0; v < pn->nunits; v++) {
            double z = imb_trailing_z(imb_row(ev->p, IMB_ROLE_NET_LATENCY, v),
                                      ev->lo, ev->row, MIN_HIST, 0.02, 0, &med);
            if (isfinite(z) && z >= imb_th(ev, "spike_z"))
                imb_hit_subject(h, pn->units[v].name);
        }
    }
    if ((u = over(ev, IMB_ROLE_NET_ECN, ev->row, imb_th(ev, "ecn_min"))) >= 0)
        imb_hit_ev(h, "net_ecn", ev->p->role[IMB_ROLE_NET_ECN].units[u].name,
                   imb_val(ev->p, IMB_ROLE_NET_ECN, (size_t)u, ev->row),
                   imb_th(ev, "ecn_min"), "1/s", "ECN marks climbing");
    if ((u = over(ev, IMB_ROLE_NET_PAUSE, ev->row, imb_th(ev, "pause_min"))) >=
        0) {
        imb_hit_ev(h, "net_pause",
                   ev->p->role[IMB_ROLE_NET_PAUSE].units[u].name,
                   imb_val(ev->p, IMB_ROLE_NET_PAUSE, (size_t)u, ev->row),
                   imb_th(ev, "pause_min"), "1/s", "PFC pause frames");
        imb_hit_cause(ev, h, "pfc_storm");
    }
    imb_hit_ev(h, "congested_rows", "", (double)events, NAN, "rows",
               "%zu congested rows in the last %zu", events,
               ev->row - (a < ev->lo ? ev->lo : a) + 1);
    in_step(ev, h);
    return 0;
}

const struct imb_detector imb_det_net_congestion = {
    .name = "net_congestion",
    .summary = "latency spikes across links in step with collective traffic",
    .params = params,
    .eval = eval,
};
