/* experiment_rca: `skewscope experiment rca-dataset`. Each case is one
 * pipeline run of run_s seconds with one fault at one stage in the middle,
 * recorded as an RCAEval case (case_record.h) in
 * out_dir/<stage>_<fault>/<rep>/, so that the RCA methods can be scored on
 * a dataset whose root causes are known. Per case the stage's own signal
 * before and during the fault is reported, a check that the fault took. */
#include "testbed/experiment.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/series.h"
#include "testbed/case_record.h"
#include "util/clock.h"

typedef char stage_names[PIPELINE_MAX_STAGES][PIPELINE_STAGE_NAME_MAX];

/* The stages faults go to: cfg's, or every stage but the gateway. */
static size_t stage_list(const struct experiment_rca_config *cfg,
                         stage_names out)
{
    size_t n = 0;

    if (cfg->nstages) {
        memcpy(out, cfg->stages, sizeof(stage_names));
        return cfg->nstages;
    }
    snprintf(out[n++], PIPELINE_STAGE_NAME_MAX, "tokenizer");
    snprintf(out[n++], PIPELINE_STAGE_NAME_MAX, "prefill");
    for (unsigned r = 0; r < cfg->p.tp && r < PIPELINE_MAX_TP; r++)
        snprintf(out[n++], PIPELINE_STAGE_NAME_MAX, "decode-%u", r);
    snprintf(out[n++], PIPELINE_STAGE_NAME_MAX, "detokenizer");
    return n;
}

void experiment_rca_config_init(struct experiment_rca_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    experiment_pipeline_init(&cfg->p);
    cfg->p.hop_delay_ns = 2000000;
    /* a serving load: the decode ranks (the pipeline's slowest stage)
     * always have a request queued, so their GPU utilisation (the
     * engine's occupancy) sits near 100% before and during a fault, as
     * on the paper's vLLM GPUs; the CPUs stay below saturation */
    cfg->p.concurrency = 4;
    cfg->p.out_dir = "build/rca-dataset";
    cfg->transport = "zmq";
    cfg->hops = PIPELINE_HOPS_ONEWAY;
    cfg->reps = 5;
    cfg->run_s = 30;
    cfg->fault_at_s = 10;
    cfg->fault_for_s = 10;
    for (int k = 0; k < EXPERIMENT_RCA_KINDS; k++)
        cfg->kinds[k] = true;
}

size_t experiment_rca_count(const struct experiment_rca_config *cfg)
{
    stage_names st;
    size_t n = 0, ns = stage_list(cfg, st);

    for (int k = 0; k < EXPERIMENT_RCA_KINDS; k++)
        for (size_t i = 0; cfg->kinds[k] && i < ns; i++)
            n += pipeline_fault_applies((enum pipeline_fault_kind)k, st[i]);
    return n * cfg->reps;
}

static int check_config(const struct experiment_rca_config *cfg, char *err,
                        size_t errlen)
{
    const char *why = NULL;

    if (!cfg->transport || !cfg->p.out_dir)
        why = "a transport and an output directory";
    else if (cfg->reps < 1 || cfg->reps > 1000)
        why = "1 to 1000 repetitions";
    else if (!(cfg->run_s >= 2 && cfg->run_s <= 86400))
        why = "runs of 2 s to a day";
    else if (!(cfg->fault_at_s >= 1 && cfg->fault_for_s >= 1 &&
               cfg->fault_at_s + cfg->fault_for_s < cfg->run_s))
        why = "a fault window of at least 1 s that starts at least 1 s into "
              "the run and ends before it does";
    else if (experiment_rca_count(cfg) == 0)
        why = "at least one fault kind that applies to one of the stages";
    for (size_t i = 0; !why && i < cfg->nstages; i++)
        if (pipeline_stage_index(cfg->stages[i], cfg->p.tp) < 0)
            why = "stages of the pipeline (tokenizer, prefill, decode-N, "
                  "detokenizer, gateway)";
    if (why) {
        snprintf(err, errlen, "rca-dataset needs %s", why);
        return -EINVAL;
    }
    return 0;
}

/* "KIND@STAGE:PARAM" of a case, with the configured parameters. */
static void case_spec(const struct experiment_rca_config *cfg,
                      enum pipeline_fault_kind k, const char *stage, char *buf,
                      size_t len)
{
    int n = snprintf(buf, len, "%s@%s", pipeline_fault_name(k), stage);

    if (k == PIPELINE_FAULT_CPU && cfg->cpu_hogs)
        snprintf(buf + n, len - (size_t)n, ":%u", cfg->cpu_hogs);
    else if (k == PIPELINE_FAULT_MEMORY && cfg->memory_bytes > 0)
        snprintf(buf + n, len - (size_t)n, ":%.0fB", cfg->memory_bytes);
    else if (k == PIPELINE_FAULT_NETWORK && cfg->net_delay_ns > 0)
        snprintf(buf + n, len - (size_t)n, ":%lldns",
                 (long long)cfg->net_delay_ns);
    else if (k == PIPELINE_FAULT_GPU_THROTTLE && cfg->gpu_speed > 0)
        snprintf(buf + n, len - (size_t)n, ":%.17g", cfg->gpu_speed);
}

/* The stage's own signal for its fault kind, before and during. */
static void measure(struct experiment_rca_case *rc, const struct case_record *c,
                    const struct pipeline_config *pc,
                    const struct pipeline_result *res)
{
    static const char *const sig[] = {
        [PIPELINE_FAULT_CPU] = "cpu",
        [PIPELINE_FAULT_MEMORY] = "mem",
        [PIPELINE_FAULT_NETWORK] = "latency-hop",
        [PIPELINE_FAULT_GPU_THROTTLE] = "sm-clock",
    };
    struct series_table *t = NULL;
    char err[256];
    double sum[2] = {0, 0};
    size_t n[2] = {0, 0};

    snprintf(rc->signal, sizeof rc->signal, "%s_%s", rc->stage, sig[rc->kind]);
    rc->before = rc->during = NAN;
    if (case_record_table(c, pc, &t, err, sizeof err) < 0)
        return;
    int64_t col = series_table_find(t, rc->signal);
    int64_t s = res->windows[0].start_unix_ns, e = res->windows[0].end_unix_ns;
    for (size_t r = 0; col >= 0 && r < t->nrows; r++) {
        double v = series_table_col(t, (size_t)col)[r];
        int64_t tm = t->time_ns[r];
        int w = tm < s ? 0 : tm >= s + 1000000000 && tm <= e ? 1 : -1;
        if (w >= 0 && !isnan(v)) {
            sum[w] += v;
            n[w]++;
        }
    }
    if (n[0])
        rc->before = sum[0] / (double)n[0];
    if (n[1])
        rc->during = sum[1] / (double)n[1];
    series_table_destroy(t);
}

/* Run and record one case. */
static int run_case(const struct experiment_rca_config *cfg,
                    struct experiment_rca_case *rc, char *err, size_t errlen)
{
    struct pipeline_config pc;
    struct pipeline_result res;
    char spec[160];
    double t0 = clock_now_s(CLOCK_MONOTONIC);
    int rc_run = -ENOMEM;
    struct case_record *c = case_record_create();

    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    experiment_pipeline_config(&cfg->p, 0, &pc);
    pc.duration_ms = (unsigned)(cfg->run_s * 1000);
    pc.check_requests = 32; /* all of them would take ~8 s per case */
    pc.transport = cfg->transport;
    pc.hops = cfg->hops;
    case_spec(cfg, rc->kind, rc->stage, spec, sizeof spec);
    if (pipeline_config_add_fault(&pc, spec, (int64_t)(cfg->fault_at_s * 1e9),
                                  (int64_t)(cfg->fault_for_s * 1e9), err,
                                  errlen) < 0 ||
        case_record_prepare(c, &pc, rc->dir, err, errlen) < 0) {
        rc_run = -EINVAL;
        goto done;
    }
    rc_run = pipeline_run(&pc, &res, err, errlen);
    if (rc_run == 0 && case_record_write(c, &pc, &res, err, errlen) < 0)
        rc_run = -EIO;
    if (rc_run == 0) {
        rc->requests = res.requests;
        measure(rc, c, &pc, &res);
    }
done:
    case_record_destroy(c);
    rc->seconds = clock_now_s(CLOCK_MONOTONIC) - t0;
    return rc_run;
}

static void progress(FILE *f, size_t i, size_t n,
                     const struct experiment_rca_case *rc)
{
    if (!f)
        return;
    fprintf(f, "[%zu/%zu] %s: %u requests, %s %.4g -> %.4g (x%.2f), %.1f s\n",
            i + 1, n, rc->dir, rc->requests, rc->signal, rc->before, rc->during,
            rc->during / rc->before, rc->seconds);
    fflush(f);
}

int experiment_rca_run(const struct experiment_rca_config *cfg,
                       struct experiment_rca *out, char *err, size_t errlen)
{
    int rc = check_config(cfg, err, errlen);
    size_t n = experiment_rca_count(cfg), i = 0;
    double t0 = clock_now_s(CLOCK_MONOTONIC);
    stage_names st;
    size_t ns = stage_list(cfg, st);

    memset(out, 0, sizeof *out);
    if (rc < 0)
        return rc;
    if (!(out->cases = calloc(n, sizeof *out->cases))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (unsigned rep = 1; rep <= cfg->reps; rep++)
        for (int k = 0; k < EXPERIMENT_RCA_KINDS; k++)
            for (size_t s = 0; cfg->kinds[k] && s < ns; s++) {
                enum pipeline_fault_kind kind = (enum pipeline_fault_kind)k;
                if (!pipeline_fault_applies(kind, st[s]))
                    continue;
                struct experiment_rca_case *c = &out->cases[i];
                c->kind = kind;
                c->rep = rep;
                snprintf(c->stage, sizeof c->stage, "%s", st[s]);
                if ((size_t)snprintf(c->dir, sizeof c->dir, "%s/%s_%s/%u",
                                     cfg->p.out_dir, c->stage,
                                     pipeline_fault_case_name(kind),
                                     rep) >= sizeof c->dir) {
                    snprintf(err, errlen, "%s: path too long", cfg->p.out_dir);
                    return -EINVAL;
                }
                if ((rc = run_case(cfg, c, err, errlen)) < 0) {
                    size_t len = strlen(err);
                    snprintf(err + len, errlen - len, " (case %s)", c->dir);
                    return rc;
                }
                out->ncases = ++i;
                progress(cfg->p.progress, i - 1, n, c);
            }
    out->seconds = clock_now_s(CLOCK_MONOTONIC) - t0;
    return 0;
}

void experiment_rca_free(struct experiment_rca *r)
{
    free(r->cases);
    memset(r, 0, sizeof *r);
}

int experiment_rca_print(FILE *out, const struct experiment_rca *r)
{
    fprintf(out, "%-40s %8s %-26s %12s %12s %8s\n", "CASE", "REQ", "SIGNAL",
            "BEFORE", "DURING", "RATIO");
    for (size_t i = 0; i < r->ncases; i++) {
        const struct experiment_rca_case *c = &r->cases[i];
        fprintf(out, "%-40s %8u %-26s %12.5g %12.5g %8.2f\n", c->dir,
                c->requests, c->signal, c->before, c->during,
                c->during / c->before);
    }
    fprintf(out, "%zu cases in %.1f s (%.1f s per case)\n", r->ncases,
            r->seconds, r->ncases ? r->seconds / (double)r->ncases : 0);
    return ferror(out) ? -EIO : 0;
}
