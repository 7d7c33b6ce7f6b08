/* experiment_imbalance: `skewscope experiment imbalance`, issue 11's proof
 * (experiment.h). Each run: the testbed with its stages' metrics scraped
 * every second into one multi-scrape Prometheus file and its spans into an
 * OTLP JSON file, a condition from onset_s on; then what `skewscope
 * imbalance --traces traces.json scrapes.prom` does (the built-in
 * runbook, the clock model `estimate` recovers from the traces, the
 * collectives on it, one engine update over the whole run), and the
 * findings judged against the run's label.
 *
 * Flow: experiment_imb_run -> one_run (pipeline_run + scrape_write) ->
 * analyse (input -> series_store; experiment_load -> estimate ->
 * clock_model -> imb_collectives; imb_engine) -> experiment_imb_judge. */
#include "testbed/experiment.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "imbalance/collectives.h"
#include "imbalance/imbalance.h"
#include "imbalance/input.h"
#include "imbalance/runbook.h"
#include "ingest/prom_common.h"
#include "model/clock_model.h"
#include "model/series.h"
#include "model/span_store.h"
#include "util/clock.h"

#define EXP_IMB_STALL_S 2
#define EXP_IMB_RERUNS 2

static const struct {
    const char *name;
    const char *expect;  /* runbook condition id, or NULL: no finding */
    const char *subject; /* the finding's subject contains this */
} conds[EXP_IMB_NCOND] = {
    [EXP_IMB_CLEAN] = {"clean", NULL, NULL},
    [EXP_IMB_OFFSET] = {"clock-offset", NULL, NULL},
    [EXP_IMB_JITTER] = {"hop-jitter", NULL, NULL},
    [EXP_IMB_TP] = {"tp-straggler", "tp_straggler", "decode-1"},
    [EXP_IMB_PP] = {"pp-imbalance", "pp_imbalance", "prefill"},
    [EXP_IMB_EARLY] = {"early-stop", "early_stop", "decode-1"},
    [EXP_IMB_KV] = {"kv-pressure", "kv_pressure", "decode-"},
    [EXP_IMB_DP] = {"dp-load-skew", "dp_load_skew", "prefill-0"},
};

void experiment_imb_config_init(struct experiment_imb_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    experiment_pipeline_init(&cfg->p);
    /* below the host's saturation: about 100 requests/s on 2 cores, so a
     * condition's effect stays where it was injected */
    cfg->p.hop_delay_ns = 2000000;
    cfg->p.concurrency = 4;
    cfg->p.out_dir = "build/imbalance-exp";
    cfg->reps = 3;
    cfg->run_s = 20;
    cfg->onset_s = 8;
    cfg->within_s = 5;
    for (int c = 0; c < EXP_IMB_NCOND; c++)
        cfg->conds[c] = true;
    cfg->offset_ns = 3000000;
    cfg->slow_speed = 0.5;
    /* prefill computes ~0.1 ms per request; it becomes the pipeline's
     * bottleneck (busy ~100%, decode idle) only past about a loop's time
     * over the concurrency (~3 ms), and stays one through the host's
     * stalls only well past it (at 40x a 0.5 s stall of the loop drained
     * its queue and broke the condition's run) */
    cfg->heavy = 100;
    /* below the prompts' share of a request (~0.7): the cache is full from
     * a request's first step, as vLLM's pool stays full while requests
     * wait; at 0.8 the first steps of each request read 0.86-0.95 and a
     * third of the 1 s samples fell below the detector's 0.95 */
    cfg->kv_budget = 0.6;
    /* 9x prefill-1's requests: the detector's ratio is 3, and a replica
     * with 1/N of ~100 requests/s has +-20% of Poisson noise per second */
    cfg->route_share = 0.9;
}

const char *experiment_imb_cond_name(enum experiment_imb_cond c)
{
    return c < EXP_IMB_NCOND ? conds[c].name : "?";
}

const char *experiment_imb_expected(enum experiment_imb_cond c)
{
    return c < EXP_IMB_NCOND ? conds[c].expect : NULL;
}

int experiment_imb_cond_of(const char *name)
{
    for (int c = 0; c < EXP_IMB_NCOND; c++)
        if (strcmp(name, conds[c].name) == 0)
            return c;
    return -1;
}

int experiment_imb_apply(const struct experiment_imb_config *cfg,
                         enum experiment_imb_cond c, int64_t onset_ns,
                         int64_t for_ns, struct pipeline_config *pc, char *err,
                         size_t errlen)
{
    char spec[96];

    switch (c) {
    case EXP_IMB_CLEAN:
        return 0;
    case EXP_IMB_OFFSET:
        snprintf(spec, sizeof spec, "decode-1=%" PRId64 "ns", cfg->offset_ns);
        return pipeline_config_add_clock(pc, false, spec, err, errlen);
    case EXP_IMB_JITTER:
        pc->hop_jitter_ns =
            cfg->jitter_ns > 0 ? cfg->jitter_ns : pc->hop_delay_ns / 2;
        return 0;
    case EXP_IMB_TP:
        snprintf(spec, sizeof spec, "gpu-throttle@decode-1:%.17g",
                 cfg->slow_speed);
        break;
    case EXP_IMB_PP:
        snprintf(spec, sizeof spec, "heavy@prefill:%.17g", cfg->heavy);
        break;
    case EXP_IMB_EARLY:
        snprintf(spec, sizeof spec, "early-stop@decode-1");
        break;
    case EXP_IMB_KV:
        snprintf(spec, sizeof spec, "kv-budget@decode:%.17g", cfg->kv_budget);
        break;
    case EXP_IMB_DP:
        pc->dp = 2;
        snprintf(spec, sizeof spec, "route-skew@tokenizer:%.17g",
                 cfg->route_share);
        break;
    default:
        snprintf(err, errlen, "unknown condition %d", (int)c);
        return -1;
    }
    return pipeline_config_add_fault(pc, spec, onset_ns, for_ns, err, errlen);
}

/* ---- judging ---- */

void experiment_imb_judge(const struct imb_engine *e,
                          struct experiment_imb_run *r)
{
    size_t n;
    const struct imb_finding *f = imb_engine_findings(e, &n);
    const char *want = conds[r->cond].expect, *subj = conds[r->cond].subject;

    r->detected = false;
    r->false_findings = 0;
    r->other[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        bool match = want && strcmp(f[i].cond->id, want) == 0 &&
                     strstr(f[i].key, subj) != NULL &&
                     f[i].detected_ns >= r->onset_ns;

        if (match) {
            if (!r->detected || f[i].detected_ns < r->detected_ns) {
                r->detected_ns = f[i].detected_ns;
                r->finding_onset_ns = f[i].onset_ns;
                r->confidence = f[i].confidence;
            }
            r->detected = true;
            continue;
        }
        if (r->false_findings++ == 0)
            snprintf(r->other, sizeof r->other, "%s %s", f[i].cond->id,
                     f[i].key);
    }
}

/* ---- one run ---- */

struct scrape_file {
    FILE *f;
    size_t n;
    int64_t last_ns;  /* the gateway's previous scrape (Unix ns) */
    int64_t stall_ns; /* the scrape rounds' lateness beyond 1 s, summed */
};

/* pipeline_scrape_fn: append one scrape after its `# SCRAPE` marker. */
static void scrape_write(void *ctx, const char *stage, int64_t unix_ns,
                         const char *body, size_t len)
{
    struct scrape_file *sf = ctx;

    if (!sf->f)
        return;
    if (strcmp(stage, "gateway") == 0) {
        /* rounds are 1 s apart; a later one means the host did not run
         * the orchestrator (nor, most likely, the stages) meanwhile */
        if (sf->last_ns && unix_ns - sf->last_ns > 1500000000)
            sf->stall_ns += unix_ns - sf->last_ns - 1000000000;
        sf->last_ns = unix_ns;
    }
    fprintf(sf->f, "# SCRAPE %" PRId64 ".%09" PRId64 " %s\n",
            unix_ns / 1000000000, unix_ns % 1000000000, stage);
    fwrite(body, 1, len, sf->f);
    if (len && body[len - 1] != '\n')
        fputc('\n', sf->f);
    sf->n++;
}

/* The clock model of the run's traces (as `imbalance --traces` makes it)
 * and the collectives on it. */
static int collectives_of(const char *traces, struct imb_collectives *coll,
                          char *err, size_t errlen)
{
    struct span_store *s = NULL;
    struct edge_list edges;
    struct clock_estimate e;
    struct estimate_opts eo = {0};
    struct clock_model *m = NULL;
    int rc = experiment_load(traces, &s, &edges, err, errlen);

    if (rc < 0)
        return rc;
    memset(&e, 0, sizeof e);
    rc = -EIO;
    if (estimate_run(&e, s, &edges, &eo, err, errlen) < 0 ||
        !(m = estimate_to_model(&e, s)))
        goto out;
    rc = imb_collectives_from_spans(coll, s, m, 1000000) < 0 ? -ENOMEM : 0;
    if (rc < 0)
        snprintf(err, errlen, "%s: out of memory", traces);
out:
    clock_estimate_free(&e);
    clock_model_destroy(m);
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

/* `skewscope imbalance --traces TRACES SCRAPES` in-process over the rows
 * ending by until_ns; the engine in *out (NULL on failure). */
static int analyse(const struct imb_runbook *rb, const char *scrapes,
                   const char *traces, int64_t until_ns,
                   struct imb_engine **out, char *err, size_t errlen)
{
    struct series_store *st = series_store_create();
    struct imb_collectives *coll = imb_collectives_create();
    struct prom_opts po = {NULL, NULL, NULL, 0};
    struct imb_engine *e = NULL;
    int rc = -ENOMEM;

    *out = NULL;
    if (!st || !coll)
        goto out;
    if (imb_input_read(st, scrapes, IMB_IN_PROM_TEXT, &po, err, errlen) < 0 ||
        collectives_of(traces, coll, err, errlen) < 0) {
        rc = -EIO;
        goto out;
    }
    if (!(e = imb_engine_create(rb)))
        goto out;
    if (imb_engine_update(e, st, coll, until_ns, err, errlen) < 0) {
        imb_engine_destroy(e);
        rc = -EIO;
        goto out;
    }
    *out = e;
    rc = 0;
out:
    if (rc == -ENOMEM && !err[0])
        snprintf(err, errlen, "out of memory");
    imb_collectives_destroy(coll);
    series_store_destroy(st);
    return rc;
}

static int run_pipeline(const struct experiment_imb_config *cfg,
                        struct experiment_imb_run *r, const char *traces,
                        const char *scrapes, char *err, size_t errlen)
{
    struct pipeline_config pc;
    struct pipeline_result res;
    struct scrape_file sf = {fopen(scrapes, "w"), 0, 0, 0};
    int64_t onset = (int64_t)llround(cfg->onset_s * 1e9);
    int64_t run = (int64_t)llround(cfg->run_s * 1e9);
    int rc;

    if (!sf.f) {
        snprintf(err, errlen, "%s: %s", scrapes, strerror(errno));
        return -EIO;
    }
    experiment_pipeline_config(&cfg->p, 1, &pc);
    pc.duration_ms = (unsigned)(cfg->run_s * 1000);
    pc.model_dim = cfg->model_dim;
    pc.out_path = traces;
    pc.truncate_out = true;
    pc.metrics = true;
    pc.scrape_fn = scrape_write;
    pc.scrape_ctx = &sf;
    pc.check_requests = 8;
    rc = experiment_imb_apply(cfg, r->cond, onset, run, &pc, err, errlen);
    if (rc == 0)
        rc = pipeline_run(&pc, &res, err, errlen);
    else
        rc = -EINVAL;
    if (fclose(sf.f) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: write error", scrapes);
        rc = -EIO;
    }
    if (rc < 0)
        return rc;
    r->requests = res.requests;
    r->scrapes_failed = res.scrapes_failed;
    r->stall_s = (double)sf.stall_ns * 1e-9;
    r->nstages = res.nendpoints;
    r->load_end_ns = res.start_unix_ns + (int64_t)llround(cfg->run_s * 1e9);
    /* the truth: the fault window's start; 0 for the runs without one
     * (clean, offset, jitter: any finding there is false) */
    r->onset_ns = pc.nfaults ? res.windows[0].start_unix_ns : 0;
    if (pc.nfaults && r->onset_ns == 0) {
        snprintf(err, errlen, "the condition never began (run too short)");
        return -EIO;
    }
    return 0;
}

static int one_run(const struct experiment_imb_config *cfg,
                   const struct imb_runbook *rb, struct experiment_imb_run *r,
                   char *err, size_t errlen)
{
    char traces[EXPERIMENT_PATH_MAX], scrapes[EXPERIMENT_PATH_MAX];
    struct imb_engine *e = NULL;
    double t0 = clock_now_s(CLOCK_MONOTONIC);
    int rc;

    snprintf(r->dir, sizeof r->dir, "%s/%s/%u", cfg->p.out_dir,
             conds[r->cond].name, r->rep);
    if ((rc = experiment_mkdir_p(r->dir, err, errlen)) < 0 ||
        experiment_path(traces, sizeof traces, r->dir, "traces.json") < 0 ||
        experiment_path(scrapes, sizeof scrapes, r->dir, "scrapes.prom") < 0)
        return rc < 0 ? rc : -EINVAL;
    /* A run in which the host stopped running the testbed for seconds
     * (the scrapes of more than EXP_IMB_STALL_S seconds' worth of stages
     * went unanswered, or the 1 s scrape rounds came more than that late
     * in all: the machine is shared) holds no signal to judge, of the
     * condition or of its absence; it is run again, at most
     * EXP_IMB_RERUNS times, and counted. */
    for (r->reruns = 0;; r->reruns++) {
        if ((rc = run_pipeline(cfg, r, traces, scrapes, err, errlen)) < 0)
            return rc;
        if ((r->scrapes_failed <= EXP_IMB_STALL_S * r->nstages &&
             r->stall_s <= EXP_IMB_STALL_S) ||
            r->reruns == EXP_IMB_RERUNS)
            break;
        if (cfg->p.progress)
            fprintf(cfg->p.progress,
                    "%s/%u: the host stalled the run (%u scrapes "
                    "unanswered, scrapes %.1f s late): run again\n",
                    conds[r->cond].name, r->rep, r->scrapes_failed, r->stall_s);
    }
    /* the rows of the load only: after --run-for the gateway stops
     * sending and the pipeline drains, so the last rows hold a few
     * requests' latencies and no prefill (the end of the traffic is no
     * condition to judge) */
    if ((rc = analyse(rb, scrapes, traces, r->load_end_ns, &e, err, errlen)) <
        0)
        return rc;
    experiment_imb_judge(e, r);
    imb_engine_destroy(e);
    r->seconds = clock_now_s(CLOCK_MONOTONIC) - t0;
    return 0;
}

static void progress(const struct experiment_imb_config *cfg,
                     const struct experiment_imb_run *r, size_t i, size_t n)
{
    FILE *o = cfg->p.progress;

    if (!o)
        return;
    fprintf(o, "[%zu/%zu] %s/%u: ", i + 1, n, conds[r->cond].name, r->rep);
    if (conds[r->cond].expect)
        fprintf(o, "%s", r->detected ? "detected" : "MISSED");
    if (r->detected)
        fprintf(o, " %.1f s after onset",
                (double)(r->detected_ns - r->onset_ns) * 1e-9);
    if (r->false_findings)
        fprintf(o, "%s%zu other finding(s), first %s",
                conds[r->cond].expect ? "; " : "", r->false_findings, r->other);
    else if (!conds[r->cond].expect)
        fprintf(o, "no finding");
    fprintf(o, " (%u requests, %.1f s", r->requests, r->seconds);
    if (r->reruns)
        fprintf(o, ", run %u times", r->reruns + 1);
    fprintf(o, ")\n");
    fflush(o);
}

static int check_config(const struct experiment_imb_config *cfg, char *err,
                        size_t errlen)
{
    if (cfg->reps < 1 || !(cfg->run_s >= 4) || !(cfg->onset_s >= 1) ||
        cfg->onset_s + 2 > cfg->run_s) {
        snprintf(err, errlen,
                 "need reps >= 1, run >= 4 s and 1 s <= onset <= run - 2 s");
        return -EINVAL;
    }
    for (int c = 0; c < EXP_IMB_NCOND; c++)
        if (cfg->conds[c])
            return 0;
    snprintf(err, errlen, "no condition selected");
    return -EINVAL;
}

int experiment_imb_run(const struct experiment_imb_config *cfg,
                       struct experiment_imb *out, char *err, size_t errlen)
{
    struct imb_runbook *rb = NULL;
    size_t n = 0, k = 0;
    double t0 = clock_now_s(CLOCK_MONOTONIC);
    int rc;

    memset(out, 0, sizeof(*out));
    out->within_s = cfg->within_s;
    if ((rc = check_config(cfg, err, errlen)) < 0)
        return rc;
    for (int c = 0; c < EXP_IMB_NCOND; c++)
        n += cfg->conds[c] ? cfg->reps : 0;
    if (!(out->runs = calloc(n, sizeof(*out->runs))) ||
        !(rb = imb_runbook_create())) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (imb_runbook_load_default(rb, err, errlen) < 0) {
        imb_runbook_destroy(rb);
        return -EIO;
    }
    /* repetitions outermost: a rep of every condition before the next, so
     * a change in the host's load spreads over all conditions alike */
    for (unsigned rep = 1; rep <= cfg->reps; rep++)
        for (int c = 0; c < EXP_IMB_NCOND; c++) {
            if (!cfg->conds[c])
                continue;
            struct experiment_imb_run *r = &out->runs[k];
            r->cond = (enum experiment_imb_cond)c;
            r->rep = rep;
            if ((rc = one_run(cfg, rb, r, err, errlen)) < 0) {
                size_t l = strlen(err);
                snprintf(err + l, errlen - l, " (run %s/%u)", conds[c].name,
                         rep);
                imb_runbook_destroy(rb);
                out->nruns = k;
                return rc;
            }
            progress(cfg, r, k, n);
            out->nruns = ++k;
        }
    imb_runbook_destroy(rb);
    out->seconds = clock_now_s(CLOCK_MONOTONIC) - t0;
    return 0;
}

void experiment_imb_free(struct experiment_imb *x)
{
    free(x->runs);
    memset(x, 0, sizeof(*x));
}

/* ---- reports ---- */

struct cond_sum {
    size_t runs, detected, within, fp_runs, findings;
    double lat[256];
    size_t nlat;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void summarise(const struct experiment_imb *x,
                      enum experiment_imb_cond c, struct cond_sum *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < x->nruns; i++) {
        const struct experiment_imb_run *r = &x->runs[i];

        if (r->cond != c)
            continue;
        s->runs++;
        s->findings += r->false_findings;
        s->fp_runs += r->false_findings > 0;
        if (!r->detected)
            continue;
        s->detected++;
        double l = (double)(r->detected_ns - r->onset_ns) * 1e-9;
        s->within += l <= x->within_s;
        if (s->nlat < sizeof s->lat / sizeof s->lat[0])
            s->lat[s->nlat++] = l;
    }
    qsort(s->lat, s->nlat, sizeof(double), cmp_double);
}

static double median_of(const struct cond_sum *s)
{
    if (!s->nlat)
        return NAN;
    return s->nlat % 2 ? s->lat[s->nlat / 2]
                       : (s->lat[s->nlat / 2 - 1] + s->lat[s->nlat / 2]) / 2;
}

int experiment_imb_print(FILE *out, const struct experiment_imb *x)
{
    fprintf(out, "%-13s %-13s %4s %6s %7s %9s %9s %9s\n", "condition",
            "expects", "runs", "recall", "in-goal", "median_s", "max_s",
            "other");
    for (int c = 0; c < EXP_IMB_NCOND; c++) {
        struct cond_sum s;

        summarise(x, (enum experiment_imb_cond)c, &s);
        if (!s.runs)
            continue;
        fprintf(out, "%-13s %-13s %4zu ", conds[c].name,
                conds[c].expect ? conds[c].expect : "(nothing)", s.runs);
        if (conds[c].expect)
            fprintf(out, "%6.2f %7.2f %9.1f %9.1f", (double)s.detected / s.runs,
                    (double)s.within / s.runs, median_of(&s),
                    s.nlat ? s.lat[s.nlat - 1] : NAN);
        else
            fprintf(out, "%6s %7s %9s %9s", "-", "-", "-", "-");
        fprintf(out, " %4zu/%zu\n", s.fp_runs, s.runs);
    }
    fprintf(out,
            "recall: runs with the expected finding (condition and subject) "
            "detected at or\nafter the onset; in-goal: within %.0f s of it; "
            "other: runs with any other finding\n(or one before the onset); "
            "on clean, clock-offset and hop-jitter runs these are\nfalse "
            "positives. %zu runs, %.0f s.\n",
            x->within_s, x->nruns, x->seconds);
    unsigned reruns = 0;
    for (size_t i = 0; i < x->nruns; i++)
        reruns += x->runs[i].reruns;
    if (reruns)
        fprintf(out,
                "%u run(s) repeated: the host stalled the testbed for more "
                "than 2 s.\n",
                reruns);
    return ferror(out) ? -EIO : 0;
}

int experiment_imb_json(FILE *out, const struct experiment_imb *x)
{
    bool first = true;

    fprintf(out, "{\"within_s\":%g,\"seconds\":%.1f,\"conditions\":[",
            x->within_s, x->seconds);
    for (int c = 0; c < EXP_IMB_NCOND; c++) {
        struct cond_sum s;

        summarise(x, (enum experiment_imb_cond)c, &s);
        if (!s.runs)
            continue;
        fprintf(out, "%s{\"condition\":\"%s\",\"expects\":", first ? "" : ",",
                conds[c].name);
        first = false;
        if (conds[c].expect)
            fprintf(out, "\"%s\"", conds[c].expect);
        else
            fputs("null", out);
        fprintf(out, ",\"runs\":%zu,\"detected\":%zu,\"within_goal\":%zu",
                s.runs, s.detected, s.within);
        if (conds[c].expect)
            fprintf(out, ",\"recall\":%.4f", (double)s.detected / s.runs);
        else
            fputs(",\"recall\":null", out);
        if (s.nlat)
            fprintf(out, ",\"latency_median_s\":%.3f,\"latency_max_s\":%.3f",
                    median_of(&s), s.lat[s.nlat - 1]);
        else
            fputs(",\"latency_median_s\":null,\"latency_max_s\":null", out);
        fprintf(out, ",\"other_finding_runs\":%zu,\"other_findings\":%zu}",
                s.fp_runs, s.findings);
    }
    fputs("],\"runs\":[", out);
    for (size_t i = 0; i < x->nruns; i++) {
        const struct experiment_imb_run *r = &x->runs[i];

        fprintf(out,
                "%s{\"condition\":\"%s\",\"rep\":%u,\"dir\":\"%s\","
                "\"onset_unix_ns\":%" PRId64 ",\"detected\":%s",
                i ? "," : "", conds[r->cond].name, r->rep, r->dir, r->onset_ns,
                r->detected ? "true" : "false");
        if (r->detected)
            fprintf(out,
                    ",\"detected_unix_ns\":%" PRId64
                    ",\"latency_s\":%.3f,\"confidence\":%.2f",
                    r->detected_ns,
                    (double)(r->detected_ns - r->onset_ns) * 1e-9,
                    r->confidence);
        fprintf(out,
                ",\"other_findings\":%zu,\"first_other\":\"%s\","
                "\"requests\":%u,\"scrapes_failed\":%u,\"stall_s\":%.1f,"
                "\"reruns\":%u,\"seconds\":%.1f}",
                r->false_findings, r->other, r->requests, r->scrapes_failed,
                r->stall_s, r->reruns, r->seconds);
    }
    fputs("]}\n", out);
    return ferror(out) ? -EIO : 0;
}
