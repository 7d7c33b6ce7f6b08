/* experiment_sweep: `skewscope experiment skew-sweep`. One pipeline run per
 * (transport, hops, skew) point, each writing a fresh trace file, then the
 * causality check and the clock estimate on that file: the table that
 * shows where violations begin (the skew budget of the skewed stage's
 * edges), that output and throughput do not change, and that `estimate`
 * recovers the injected offset. */
#include "testbed/experiment.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "model/span_store.h"

void experiment_pipeline_init(struct experiment_pipeline *p)
{
    memset(p, 0, sizeof(*p));
    p->hop_delay_ns = 4000000;
    p->tp = 2;
    p->max_new = 16;
    p->concurrency = 1;
    p->timeout_ms = 120000;
    p->out_dir = "build/experiment";
}

void experiment_pipeline_config(const struct experiment_pipeline *p,
                                unsigned requests, struct pipeline_config *pc)
{
    pipeline_config_init(pc);
    pc->requests = requests;
    pc->tp = p->tp;
    pc->max_new = p->max_new;
    pc->concurrency = p->concurrency;
    pc->hop_delay_ns = p->hop_delay_ns;
    pc->timeout_ms = p->timeout_ms;
}

void experiment_sweep_config_init(struct experiment_sweep_config *cfg)
{
    static const int64_t skews_ms[] = {0, 1, 2, 3, 4, 5, 10};

    memset(cfg, 0, sizeof(*cfg));
    experiment_pipeline_init(&cfg->p);
    cfg->transports[0] = "zmq";
    cfg->transports[1] = "kafka";
    cfg->ntransports = 2;
    cfg->hops[0] = PIPELINE_HOPS_ONEWAY;
    cfg->nhops = 1;
    for (size_t i = 0; i < sizeof skews_ms / sizeof skews_ms[0]; i++)
        cfg->skews_ns[i] = skews_ms[i] * 1000000;
    cfg->nskews = sizeof skews_ms / sizeof skews_ms[0];
    snprintf(cfg->stage, sizeof cfg->stage, "prefill");
    cfg->requests = 30;
}

static int check_config(const struct experiment_sweep_config *cfg, char *err,
                        size_t errlen)
{
    const char *why = NULL;

    if (cfg->ntransports == 0 || cfg->ntransports > EXPERIMENT_MAX_TRANSPORTS)
        why = "one or two transports";
    else if (cfg->nhops == 0 || cfg->nhops > EXPERIMENT_MAX_HOPS)
        why = "one or two hops modes";
    else if (cfg->nskews == 0 || cfg->nskews > EXPERIMENT_MAX_SKEWS)
        why = "1 to 64 skews";
    else if (cfg->requests == 0)
        why = "at least one request per point";
    else if (!cfg->p.out_dir)
        why = "an output directory";
    if (why) {
        snprintf(err, errlen, "the sweep needs %s", why);
        return -EINVAL;
    }
    return 0;
}

/* Totals, and the stage's edges: pairs, violations, minimum slack. */
static void take_check(struct experiment_row *row,
                       const struct causality_report *r, uint32_t stage)
{
    row->pairs = r->pairs;
    row->violating_pairs = r->violating_pairs;
    row->starts_before_parent = r->starts_before_parent;
    row->ends_after_parent = r->ends_after_parent;
    for (size_t i = 0; i < r->nedges; i++) {
        const struct causality_edge *e = &r->edges[i];
        if (e->from != stage && e->to != stage)
            continue;
        row->stage_pairs += e->pairs;
        row->stage_violations += e->violations;
        if (e->pairs &&
            (!row->has_min_slack || e->min_slack_ns < row->min_slack_ns)) {
            row->min_slack_ns = e->min_slack_ns;
            row->has_min_slack = true;
        }
    }
}

static int take_estimate(struct experiment_row *row, const char *stage_name,
                         const struct span_store *s,
                         const struct edge_list *edges, uint32_t stage,
                         char *err, size_t errlen)
{
    struct estimate_opts eo = {.reference = experiment_reference(stage_name),
                               .no_drift = true};
    struct clock_estimate e;
    char why[256] = "";
    int rc = estimate_run(&e, s, edges, &eo, why, sizeof why);

    if (rc == 0) {
        row->offset_ns =
            e.nodes[stage].offset_ns - e.nodes[e.reference].offset_ns;
        row->has_offset = true;
    } else {
        snprintf(err, errlen, "estimate: %s", rc == -2 ? why : "out of memory");
    }
    clock_estimate_free(&e);
    return rc == 0 ? 0 : -EIO;
}

/* Check and estimate the trace of a finished point. */
static int analyse_point(struct experiment_row *row, const char *stage_name,
                         char *err, size_t errlen)
{
    struct span_store *s = NULL;
    struct edge_list edges;
    struct causality_report r;
    int rc = experiment_load(row->trace_path, &s, &edges, err, errlen);

    if (rc < 0)
        return rc;
    memset(&r, 0, sizeof r);
    uint32_t stage = experiment_domain(s, stage_name);
    if (stage == UINT32_MAX) {
        snprintf(err, errlen, "no spans of node-%s", stage_name);
        rc = -EIO;
        goto out;
    }
    if (causality_check(&r, s, &edges) < 0) {
        snprintf(err, errlen, "causality check: out of memory");
        rc = -ENOMEM;
        goto out;
    }
    take_check(row, &r, stage);
    rc = take_estimate(row, stage_name, s, &edges, stage, err, errlen);
out:
    causality_report_free(&r);
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

static int trace_path(const struct experiment_sweep_config *cfg,
                      struct experiment_row *row)
{
    char name[128];

    snprintf(name, sizeof name, "sweep-%s-%s-%" PRId64 "us.json",
             row->transport, experiment_hops_name(row->hops),
             row->skew_ns / 1000);
    return experiment_path(row->trace_path, sizeof row->trace_path,
                           cfg->p.out_dir, name);
}

static void report_progress(FILE *f, const struct experiment_row *row)
{
    if (!f)
        return;
    fprintf(f, "  %s/%s skew %.3f ms: %u requests, %zu/%zu violating\n",
            row->transport, experiment_hops_name(row->hops),
            (double)row->skew_ns / 1e6, row->res.requests, row->violating_pairs,
            row->pairs);
    fflush(f);
}

/* Run and analyse one point. */
static int run_point(const struct experiment_sweep_config *cfg,
                     struct experiment_row *row, char *err, size_t errlen)
{
    struct pipeline_config pc;
    char why[512] = "";
    int rc = trace_path(cfg, row);

    if (rc < 0) {
        snprintf(err, errlen, "output directory path too long");
        return rc;
    }
    experiment_pipeline_config(&cfg->p, cfg->requests, &pc);
    pc.transport = row->transport;
    pc.hops = row->hops;
    pc.out_path = row->trace_path;
    pc.truncate_out = true;
    snprintf(pc.clocks[0].stage, sizeof pc.clocks[0].stage, "%s", cfg->stage);
    pc.clocks[0].skew_ns = row->skew_ns;
    pc.nclocks = 1;
    rc = pipeline_run(&pc, &row->res, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "%s/%s skew %" PRId64 " ns: %s", row->transport,
                 experiment_hops_name(row->hops), row->skew_ns, why);
        return rc;
    }
    if ((rc = analyse_point(row, cfg->stage, why, sizeof why)) < 0)
        snprintf(err, errlen, "%s: %s", row->trace_path, why);
    return rc;
}

int experiment_sweep_run(const struct experiment_sweep_config *cfg,
                         struct experiment_sweep *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->stage, sizeof out->stage, "%s", cfg->stage);
    int rc = check_config(cfg, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = experiment_mkdir_p(cfg->p.out_dir, err, errlen)) < 0)
        return rc;
    size_t n = cfg->ntransports * cfg->nhops * cfg->nskews;
    out->rows = calloc(n, sizeof(*out->rows));
    if (!out->rows) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t t = 0; t < cfg->ntransports; t++)
        for (size_t h = 0; h < cfg->nhops; h++)
            for (size_t k = 0; k < cfg->nskews; k++) {
                struct experiment_row *row = &out->rows[out->nrows++];
                row->transport = cfg->transports[t];
                row->hops = cfg->hops[h];
                row->skew_ns = cfg->skews_ns[k];
                if ((rc = run_point(cfg, row, err, errlen)) < 0)
                    return rc;
                report_progress(cfg->p.progress, row);
            }
    return 0;
}

void experiment_sweep_free(struct experiment_sweep *s)
{
    free(s->rows);
    s->rows = NULL;
    s->nrows = 0;
}

static bool in_series(const struct experiment_row *row, const char *transport,
                      enum pipeline_hops hops)
{
    return row->hops == hops && strcmp(row->transport, transport) == 0;
}

void experiment_sweep_onset(const struct experiment_sweep *s,
                            const char *transport, enum pipeline_hops hops,
                            struct experiment_onset *o)
{
    int64_t first_bad = INT64_MAX;

    memset(o, 0, sizeof(*o));
    o->max_clean_ns = -1;
    for (size_t i = 0; i < s->nrows; i++) {
        const struct experiment_row *r = &s->rows[i];
        if (!in_series(r, transport, hops) || r->skew_ns < 0)
            continue;
        if (r->skew_ns == 0 && r->has_min_slack) {
            o->has_budget = true;
            o->budget_ns = r->min_slack_ns;
        }
        if (r->violating_pairs && r->skew_ns < first_bad)
            first_bad = r->skew_ns;
        if (!r->violating_pairs && r->skew_ns > o->max_clean_ns)
            o->max_clean_ns = r->skew_ns;
    }
    if (first_bad == INT64_MAX)
        return;
    o->above_ns = first_bad;
    o->below_ns = -1;
    for (size_t i = 0; i < s->nrows; i++) {
        const struct experiment_row *r = &s->rows[i];
        if (in_series(r, transport, hops) && !r->violating_pairs &&
            r->skew_ns >= 0 && r->skew_ns < first_bad &&
            r->skew_ns > o->below_ns)
            o->below_ns = r->skew_ns;
    }
    o->found = o->below_ns >= 0;
}
