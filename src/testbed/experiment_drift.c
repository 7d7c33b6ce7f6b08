/* experiment_drift: `skewscope experiment drift`. One long pipeline run
 * with an initial offset and a drift at one stage; its trace is cut into
 * time windows (by the parent span's start, the windows `estimate` tracks
 * offsets in), and per window the violations are counted and the offset
 * `estimate` tracks is set next to the injected one. This is the paper's
 * observation that violation rates evolve over long runs as clocks drift. */
#include "testbed/experiment.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "model/span_store.h"
#include "util/clock.h"

void experiment_drift_config_init(struct experiment_drift_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    experiment_pipeline_init(&cfg->p);
    cfg->transport = "zmq";
    cfg->hops = PIPELINE_HOPS_ONEWAY;
    snprintf(cfg->stage, sizeof cfg->stage, "prefill");
    cfg->skew_ns = 3000000;
    cfg->drift_ppm = 40;
    cfg->duration_s = 60;
    cfg->windows = 12;
}

static int64_t realtime_ns(void)
{
    return clock_now_ns(CLOCK_REALTIME);
}

static int check_config(const struct experiment_drift_config *cfg, char *err,
                        size_t errlen)
{
    const char *why = NULL;

    if (!cfg->transport || !cfg->p.out_dir)
        why = "a transport and an output directory";
    else if (cfg->requests == 0 &&
             !(cfg->duration_s > 0 && cfg->duration_s <= 86400))
        why = "a duration of 0 to 86400 s, or a request count";
    else if (cfg->windows < 1 || cfg->windows > 64)
        why = "1 to 64 windows";
    if (why) {
        snprintf(err, errlen, "the drift run needs %s", why);
        return -EINVAL;
    }
    return 0;
}

static int run_traced(const struct experiment_drift_config *cfg,
                      struct experiment_drift *d, int64_t *t0_ns, char *err,
                      size_t errlen)
{
    struct pipeline_config pc;
    char why[512] = "";

    experiment_pipeline_config(&cfg->p, cfg->requests, &pc);
    if (!cfg->requests) /* the gateway sends for this long, then drains */
        pc.duration_ms = (unsigned)(cfg->duration_s * 1000);
    pc.transport = cfg->transport;
    pc.hops = cfg->hops;
    pc.out_path = d->trace_path;
    pc.truncate_out = true;
    snprintf(pc.clocks[0].stage, sizeof pc.clocks[0].stage, "%s", cfg->stage);
    pc.clocks[0].skew_ns = cfg->skew_ns;
    pc.clocks[0].drift_ppm = cfg->drift_ppm;
    pc.nclocks = 1;
    /* The stages' tracers start their drift term at their own creation,
     * a few ms after this; drift * a few ms is well below a ns. */
    *t0_ns = realtime_ns();
    int rc = pipeline_run(&pc, &d->res, why, sizeof why);
    if (rc < 0)
        snprintf(err, errlen, "%s", why);
    d->requests_sent = d->res.requests;
    return rc;
}

static size_t window_of(const struct experiment_drift *d, int64_t t)
{
    for (size_t w = 0; w < d->nwindows; w++)
        if (t < d->windows[w].end_ns)
            return w;
    return d->nwindows - 1;
}

static void count_violations(struct experiment_drift *d,
                             const struct span_store *s,
                             const struct edge_list *l)
{
    for (size_t i = 0; i < l->npairs; i++) {
        int64_t t = span_store_at(s, l->pairs[i].parent)->start_ns;
        struct experiment_window *w = &d->windows[window_of(d, t)];
        bool bad = experiment_pair_violates(s, l, i);
        w->pairs++;
        w->violating_pairs += bad;
        d->pairs++;
        d->violating_pairs += bad;
    }
}

/* Windows, tracked offsets and the drift from estimate `e`. */
static int take_track(struct experiment_drift *d,
                      const struct clock_estimate *e, uint32_t stage,
                      int64_t t0_ns)
{
    size_t nw = e->nwindows;
    uint32_t ref = e->reference;

    d->windows = calloc(nw ? nw : 1, sizeof(*d->windows));
    if (!d->windows)
        return -ENOMEM;
    d->nwindows = nw;
    d->drift_ppm_estimated =
        e->nodes[stage].drift_ppm - e->nodes[ref].drift_ppm;
    for (size_t w = 0; w < nw; w++) {
        struct experiment_window *x = &d->windows[w];
        const struct clock_track_point *ts = &e->track[stage * nw + w];
        const struct clock_track_point *tr = &e->track[ref * nw + w];
        int64_t since = e->windows[w].at_ns - t0_ns;
        x->start_ns = e->windows[w].start_ns;
        x->end_ns = e->windows[w].end_ns;
        x->t_s = (double)since / 1e9;
        x->injected_ns =
            d->skew_ns + llround(d->drift_ppm * 1e-6 * (double)since);
        x->known = ts->known;
        x->offset_ns = ts->offset_ns - (tr->known ? tr->offset_ns : 0);
    }
    return 0;
}

static int analyse(const struct experiment_drift_config *cfg,
                   struct experiment_drift *d, int64_t t0_ns, char *err,
                   size_t errlen)
{
    struct estimate_opts eo = {.reference = experiment_reference(cfg->stage),
                               .windows = cfg->windows};
    struct span_store *s = NULL;
    struct edge_list edges;
    struct clock_estimate e;
    char why[256] = "";
    int rc = experiment_load(d->trace_path, &s, &edges, err, errlen);

    if (rc < 0)
        return rc;
    memset(&e, 0, sizeof e);
    uint32_t stage = experiment_domain(s, cfg->stage);
    if (stage == UINT32_MAX) {
        snprintf(err, errlen, "no spans of node-%s", cfg->stage);
        rc = -EIO;
        goto out;
    }
    int er = estimate_run(&e, s, &edges, &eo, why, sizeof why);
    if (er < 0 || e.nwindows == 0) {
        snprintf(err, errlen, "estimate: %s",
                 er == -2 ? why
                 : er < 0 ? "out of memory"
                          : "no edge pairs");
        rc = er == -1 ? -ENOMEM : -EIO;
        goto out;
    }
    if ((rc = take_track(d, &e, stage, t0_ns)) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    count_violations(d, s, &edges);
out:
    clock_estimate_free(&e);
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

int experiment_drift_run(const struct experiment_drift_config *cfg,
                         struct experiment_drift *out, char *err, size_t errlen)
{
    char why[512] = "";
    int64_t t0_ns;

    memset(out, 0, sizeof(*out));
    snprintf(out->stage, sizeof out->stage, "%s", cfg->stage);
    out->transport = cfg->transport;
    out->skew_ns = cfg->skew_ns;
    out->drift_ppm = cfg->drift_ppm;
    int rc = check_config(cfg, err, errlen);
    if (rc < 0 || (rc = experiment_mkdir_p(cfg->p.out_dir, err, errlen)) < 0)
        return rc;
    if (experiment_path(out->trace_path, sizeof out->trace_path, cfg->p.out_dir,
                        "drift.json") < 0) {
        snprintf(err, errlen, "output directory path too long");
        return -ENAMETOOLONG;
    }
    if ((rc = run_traced(cfg, out, &t0_ns, why, sizeof why)) < 0) {
        snprintf(err, errlen, "drift run: %s", why);
        return rc;
    }
    if ((rc = analyse(cfg, out, t0_ns, why, sizeof why)) < 0)
        snprintf(err, errlen, "%s: %s", out->trace_path, why);
    return rc;
}

void experiment_drift_free(struct experiment_drift *d)
{
    free(d->windows);
    d->windows = NULL;
    d->nwindows = 0;
}
