/* experiment: the paper's experiments on the testbed pipeline
 * (testbed/pipeline.h), analysed in-process with skewscope's own check and
 * estimate. Two experiments:
 *
 *   skew-sweep  one pipeline run per (transport, hops, skew) point with a
 *               constant clock offset at one stage; per point: throughput,
 *               violations per edge kind, the skew budget of the stage's
 *               edges, output identical, the offset `estimate` recovers.
 *   drift       one long run with an initial offset and a drift at one
 *               stage; per time window: violations, and the offset
 *               `estimate` tracks next to the injected one.
 *
 * Flow: experiment_sweep.c / experiment_drift.c run the pipeline, write a
 * fresh trace file per run into the output directory and analyse it
 * (experiment_trace.c: ingest -> span store -> edges -> causality check,
 * clock estimate); experiment_report.c prints the text tables and writes
 * the CSV; experiment_svg.c draws the charts (hand-written SVG).
 *
 * Clocks: docs/CONTRACTS.md's "Sign conventions" throughout. An offset is the
 * stage's clock minus the reference clock (node-gateway, which runs on true
 * time; node-tokenizer when the gateway itself is skewed), in ns; positive
 * = the stage is AHEAD. Drift positive = the stage's clock runs fast.
 *
 * Threads: the run functions call pipeline_run(), which forks: call them
 * from a single-threaded process, one at a time. */
#ifndef SKEWSCOPE_EXPERIMENT_H
#define SKEWSCOPE_EXPERIMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "testbed/pipeline.h"

#define EXPERIMENT_MAX_SKEWS 64
#define EXPERIMENT_MAX_TRANSPORTS 2
#define EXPERIMENT_MAX_HOPS 2
#define EXPERIMENT_PATH_MAX 512

struct span_store;
struct edge_list;

/* What the sweep and the drift run share: the pipeline's shape. */
struct experiment_pipeline {
    int64_t hop_delay_ns; /* default 4 ms: hops then take about 4 ms */
    unsigned tp;          /* decode ranks (default 2) */
    unsigned max_new;     /* tokens per request (default 16) */
    unsigned concurrency; /* requests in flight (default 1: no queueing,
                             so every hop stays near its minimum) */
    unsigned timeout_ms;  /* per pipeline run (default 120000) */
    const char *out_dir;  /* trace, CSV and SVG files (default
                             "build/experiment"); created if missing */
    FILE *progress;       /* one line per run as it ends, or NULL */
};

/* Defaults listed above. */
void experiment_pipeline_init(struct experiment_pipeline *p);

/* A pipeline configuration with p's settings (pipeline_config_init()'s
 * defaults otherwise): no output, no clock error, `requests` requests. */
void experiment_pipeline_config(const struct experiment_pipeline *p,
                                unsigned requests, struct pipeline_config *pc);

struct experiment_sweep_config {
    struct experiment_pipeline p;
    const char *transports[EXPERIMENT_MAX_TRANSPORTS]; /* "zmq", "kafka" */
    size_t ntransports;
    enum pipeline_hops hops[EXPERIMENT_MAX_HOPS];
    size_t nhops;
    int64_t skews_ns[EXPERIMENT_MAX_SKEWS]; /* injected at `stage` */
    size_t nskews;
    char stage[PIPELINE_STAGE_NAME_MAX]; /* without "node-" (default
                                            "prefill") */
    unsigned requests;                   /* per point (default 30) */
};

/* One point of the sweep. */
struct experiment_row {
    const char *transport; /* points into the config */
    enum pipeline_hops hops;
    int64_t skew_ns; /* injected */
    char trace_path[EXPERIMENT_PATH_MAX];
    struct pipeline_result res;
    size_t pairs;           /* edge pairs, all edges */
    size_t violating_pairs; /* each pair once */
    size_t starts_before_parent;
    size_t ends_after_parent;
    size_t stage_pairs;      /* pairs of edges from or to the stage */
    size_t stage_violations; /* violating pairs among them */
    bool has_min_slack;
    int64_t min_slack_ns; /* minimum slack over the stage's edges */
    bool has_offset;
    int64_t offset_ns; /* the stage's offset as `estimate` recovers it */
};

struct experiment_sweep {
    struct experiment_row *rows; /* transport-major, then hops, then skew
                                    in config order */
    size_t nrows;
    char stage[PIPELINE_STAGE_NAME_MAX];
};

/* Defaults listed above: transports zmq and kafka, one-way hops, skews 0,
 * 1, 2, 3, 4, 5, 10 ms at prefill, 30 requests per point. */
void experiment_sweep_config_init(struct experiment_sweep_config *cfg);

/* Run every point. Returns 0 with *out filled; -EINVAL for a bad
 * configuration (message in err); -EINTR when interrupted; -EIO (or
 * pipeline_run's code) when a run or its analysis failed (err says which
 * point). Free *out with
 * experiment_sweep_free() whatever the result. */
int experiment_sweep_run(const struct experiment_sweep_config *cfg,
                         struct experiment_sweep *out, char *err,
                         size_t errlen);
void experiment_sweep_free(struct experiment_sweep *s);

/* The onset of violations in one series (rows of one transport and hops
 * mode, by increasing skew): the largest skew without violations below the
 * smallest with. found = false when the series has no such pair of
 * points. budget_ns = the minimum slack over the stage's edges at skew 0
 * (has_budget false when the series has no skew-0 point). */
struct experiment_onset {
    bool found;
    int64_t below_ns, above_ns;
    bool has_budget;
    int64_t budget_ns;
    int64_t max_clean_ns; /* largest skew without violations (or -1) */
};

/* Onset of the series (transport, hops) of sweep s. */
void experiment_sweep_onset(const struct experiment_sweep *s,
                            const char *transport, enum pipeline_hops hops,
                            struct experiment_onset *o);

struct experiment_drift_config {
    struct experiment_pipeline p;
    const char *transport; /* default "zmq" */
    enum pipeline_hops hops;
    char stage[PIPELINE_STAGE_NAME_MAX]; /* default "prefill" */
    int64_t skew_ns;                     /* initial offset (default 3 ms) */
    double drift_ppm;                    /* default 40 */
    double duration_s; /* default 60; used when requests == 0 */
    unsigned requests; /* > 0: send exactly this many instead */
    unsigned windows;  /* time windows (default 12) */
};

struct experiment_window {
    int64_t start_ns, end_ns; /* parent start times covered (unix ns) */
    double t_s;               /* window's mean pair time - run start, s */
    size_t pairs, violating_pairs;
    bool known;        /* estimate has an offset for the stage in the window */
    int64_t offset_ns; /* tracked by estimate in this window */
    int64_t injected_ns; /* skew + drift * (t - t0) at the window's time */
};

struct experiment_drift {
    char stage[PIPELINE_STAGE_NAME_MAX];
    const char *transport; /* points into the config */
    int64_t skew_ns;       /* injected, as configured */
    double drift_ppm;
    char trace_path[EXPERIMENT_PATH_MAX];
    unsigned requests_sent;
    struct pipeline_result res;
    size_t pairs, violating_pairs;
    double drift_ppm_estimated; /* estimate's drift of the stage */
    struct experiment_window *windows;
    size_t nwindows;
};

/* Defaults listed above. */
void experiment_drift_config_init(struct experiment_drift_config *cfg);

/* Run the drift experiment: cfg->requests requests, or, when that is 0,
 * as many as the gateway sends in cfg->duration_s (the pipeline's own time
 * bound). Returns 0, or the codes of experiment_sweep_run(). Free *out with
 * experiment_drift_free() in every case. */
int experiment_drift_run(const struct experiment_drift_config *cfg,
                         struct experiment_drift *out, char *err,
                         size_t errlen);
void experiment_drift_free(struct experiment_drift *d);

/* --- rca-dataset (experiment_rca.c) ---
 * Every fault kind at every stage it applies to, `reps` times: one
 * pipeline run per case, recorded as an RCAEval case (testbed/case_record.h)
 * in out_dir/<stage>_<fault>/<rep>/. */

#define EXPERIMENT_RCA_KINDS 4

struct experiment_rca_config {
    struct experiment_pipeline p;     /* defaults: hop delay 2 ms, concurrency
                                         4, out_dir "build/rca-dataset" */
    const char *transport;            /* default "zmq" */
    enum pipeline_hops hops;          /* default one-way */
    unsigned reps;                    /* default 5 */
    double run_s;                     /* each run's length (default 30) */
    double fault_at_s, fault_for_s;   /* default 10 and 10: the middle */
    bool kinds[EXPERIMENT_RCA_KINDS]; /* by enum pipeline_fault_kind;
                                         default all */
    /* the stages faults go to; nstages 0 (the default) = every stage but
     * the gateway (the load generator, whose latency is the service
     * level) */
    char stages[PIPELINE_MAX_STAGES][PIPELINE_STAGE_NAME_MAX];
    size_t nstages;
    /* the faults' parameters: pipeline_config_add_fault's defaults when
     * 0; network jitter = delay / 10 */
    unsigned cpu_hogs;
    double memory_bytes;
    int64_t net_delay_ns;
    double gpu_speed;
};

/* One case of the dataset and what its fault did to the stage's own
 * signal (cpu for cpu, mem for memory, latency-hop for network, sm-clock
 * for gpu): means over the rows before and during the fault window. */
struct experiment_rca_case {
    char dir[EXPERIMENT_PATH_MAX];
    enum pipeline_fault_kind kind;
    char stage[PIPELINE_STAGE_NAME_MAX];
    unsigned rep;
    unsigned requests;
    char signal[64]; /* "prefill_cpu" */
    double before, during;
    double seconds; /* the run, written case included */
};

struct experiment_rca {
    struct experiment_rca_case *cases;
    size_t ncases;
    double seconds;
};

void experiment_rca_config_init(struct experiment_rca_config *cfg);
/* Cases a config makes (kinds x stages where they apply x reps). */
size_t experiment_rca_count(const struct experiment_rca_config *cfg);
/* Run every case. Returns 0 with *out filled, or the codes of
 * experiment_sweep_run() (-EINVAL bad configuration, -EINTR, -EIO: err
 * names the case). Free *out with experiment_rca_free() in every case. */
int experiment_rca_run(const struct experiment_rca_config *cfg,
                       struct experiment_rca *out, char *err, size_t errlen);
void experiment_rca_free(struct experiment_rca *r);
/* One line per case, then the totals. Returns 0 or -EIO. */
int experiment_rca_print(FILE *out, const struct experiment_rca *r);

/* --- trace analysis (experiment_trace.c) --- */

/* Read an OTLP JSON trace file into a new indexed store and build its edge
 * list. Returns 0 with *out owning the store (free the edges with
 * edge_list_free, the store with span_store_destroy), or -EIO / -ENOMEM
 * with a message in err. */
int experiment_load(const char *path, struct span_store **out,
                    struct edge_list *edges, char *err, size_t errlen);

/* Domain id of node-<stage> in s, or UINT32_MAX. */
uint32_t experiment_domain(const struct span_store *s, const char *stage);

/* The reference clock domain for a skewed stage: "node-gateway", or
 * "node-tokenizer" when the stage is the gateway. */
const char *experiment_reference(const char *stage);

/* True when edge pair `i` of l violates causality (child starts before
 * its parent; for a synchronous pair also child ends after its parent). */
bool experiment_pair_violates(const struct span_store *s,
                              const struct edge_list *l, size_t i);

/* Create directory `path` and its parents (mode 0777 before umask).
 * Returns 0, or -errno with a message in err. */
int experiment_mkdir_p(const char *path, char *err, size_t errlen);

/* "<dir>/<name>" into out (outlen bytes). Returns 0, or -ENAMETOOLONG. */
int experiment_path(char *out, size_t outlen, const char *dir,
                    const char *name);

/* "oneway" or "rpc". */
const char *experiment_hops_name(enum pipeline_hops h);

/* --- output (experiment_report.c, experiment_svg.c) --- */

/* The sweep as a text table, followed by one explanation line per series
 * ("zmq/oneway: violations begin between 3 and 4 ms: the minimum hop
 * latency across node-prefill's edges is 4.09 ms"). Returns 0 or -EIO. */
int experiment_sweep_print(FILE *out, const struct experiment_sweep *s);

/* The sweep as CSV: a header line (EXPERIMENT_SWEEP_CSV_HEADER), then one
 * line per row; times in ms, rates as fractions. Returns 0 or -EIO. */
#define EXPERIMENT_SWEEP_CSV_HEADER                                            \
    "transport,hops,skew_ms,requests,requests_per_s,tokens_per_s,"             \
    "pairs,violating_pairs,violation_rate,starts_before_parent,"               \
    "starts_before_parent_rate,ends_after_parent,ends_after_parent_rate,"      \
    "stage_pairs,stage_violations,min_slack_ms,identical,offset_ms,"           \
    "offset_error_ms"
int experiment_sweep_csv(FILE *out, const struct experiment_sweep *s);

/* Chart: violation rate (% of all edge pairs) against injected skew (ms),
 * one polyline with point markers per (transport, hops) series; axes,
 * ticks, labels, legend, title. Returns 0 or -EIO. */
int experiment_sweep_svg(FILE *out, const struct experiment_sweep *s);

/* The drift run as a text table (one line per window) with a summary.
 * Returns 0 or -EIO. */
int experiment_drift_print(FILE *out, const struct experiment_drift *d);

#define EXPERIMENT_DRIFT_CSV_HEADER                                            \
    "window,t_s,start_unix_ns,end_unix_ns,pairs,violating_pairs,"              \
    "violation_rate,offset_known,offset_ms,injected_ms,error_ms"
/* The windows as CSV (EXPERIMENT_DRIFT_CSV_HEADER). Returns 0 or -EIO. */
int experiment_drift_csv(FILE *out, const struct experiment_drift *d);

/* Two panels: violation rate (%) over time, and the estimated next to the
 * injected offset (ms) over time (two polylines). Returns 0 or -EIO. */
int experiment_drift_svg(FILE *out, const struct experiment_drift *d);

/* --- imbalance (experiment_imbalance.c) ---
 * A labelled set of testbed runs for `skewscope imbalance`'s detectors
 * (issue 11's proof): clean runs, clock-offset-only runs (a rank's clock
 * ahead, nothing slower: must not be flagged), hop-jitter-only runs, and
 * one run per condition the testbed can produce, each `reps` times. Every
 * run records its traces (OTLP JSON) and its stages' /metrics scrapes (one
 * multi-scrape Prometheus file, `# SCRAPE` markers) into
 * out_dir/<condition>/<rep>/, then runs the same engine as the command
 * (built-in runbook, collectives on the clock `estimate` recovers from the
 * same traces). A condition starts at the first whole Unix second
 * onset_s after the run starts (the fault window of testbed/pipeline.h)
 * and holds to the end; that is the truth its onset is measured from. */

enum experiment_imb_cond {
    EXP_IMB_CLEAN = 0,
    EXP_IMB_OFFSET, /* --skew decode-1=offset: no finding expected */
    EXP_IMB_JITTER, /* hop delay +- jitter everywhere: no finding */
    EXP_IMB_TP,     /* gpu-throttle@decode-1 -> tp_straggler decode-1 */
    EXP_IMB_PP,     /* heavy@prefill -> pp_imbalance prefill */
    EXP_IMB_EARLY,  /* early-stop@decode-1 -> early_stop decode-1 */
    EXP_IMB_KV,     /* kv-budget@decode -> kv_pressure decode-N */
    EXP_IMB_DP,     /* --dp 2, route-skew@tokenizer -> dp_load_skew
                       prefill-0 */
    EXP_IMB_NCOND,
};

struct experiment_imb_config {
    struct experiment_pipeline p; /* defaults: hop delay 2 ms, concurrency 4,
                                     out_dir "build/imbalance-exp" */
    unsigned reps;                /* default 3 */
    double run_s;                 /* each run (default 20) */
    double onset_s;               /* condition starts (default 8) */
    double within_s;              /* the detection goal (default 5) */
    bool conds[EXP_IMB_NCOND];    /* default all */
    int64_t offset_ns;            /* clock offset (default 3 ms) */
    int64_t jitter_ns;            /* hop jitter (default hop delay / 2) */
    double slow_speed;            /* straggler's speed (default 0.5) */
    double heavy;                 /* heavy stage's work factor (default 100) */
    double kv_budget;             /* KV budget share (default 0.6) */
    double route_share;           /* prefill-0's share (default 0.9) */
    unsigned model_dim;           /* 0: the testbed's default */
};

/* One run and what the detectors made of it. */
struct experiment_imb_run {
    enum experiment_imb_cond cond;
    unsigned rep;
    char dir[EXPERIMENT_PATH_MAX];
    int64_t onset_ns;    /* truth: the condition's start (Unix ns); 0 none */
    bool detected;       /* the expected finding, at or after the onset */
    int64_t detected_ns; /* its detection time */
    int64_t finding_onset_ns;
    double confidence;
    size_t false_findings; /* findings of another condition or subject, or
                              before the onset (all findings of a run
                              without a condition) */
    char other[160];       /* the first of them: "pp_imbalance decode-0" */
    unsigned requests;
    int64_t load_end_ns; /* the gateway stopped sending: rows judged end
                            by then (Unix ns) */
    unsigned scrapes_failed, nstages; /* of the run judged */
    double stall_s;  /* its 1 s scrape rounds' lateness, summed */
    unsigned reruns; /* runs repeated because the host stalled the testbed
                        (more than 2 s of scrapes unanswered or late; at
                        most 2) */
    double seconds;  /* run and analysis */
};

struct experiment_imb {
    struct experiment_imb_run *runs;
    size_t nruns;
    double seconds;
    double within_s;
};

void experiment_imb_config_init(struct experiment_imb_config *cfg);
/* Name of a condition as the command spells it ("clean", "clock-offset",
 * "hop-jitter", "tp-straggler", "pp-imbalance", "early-stop",
 * "kv-pressure", "dp-load-skew"); the runbook condition it expects, or
 * NULL. */
const char *experiment_imb_cond_name(enum experiment_imb_cond c);
const char *experiment_imb_expected(enum experiment_imb_cond c);
/* Condition of a name, or -1. */
int experiment_imb_cond_of(const char *name);
/* Add condition c's fault or clock error to pc (at onset_ns after the
 * start, for for_ns). Returns 0 or -1 with a message in err. */
int experiment_imb_apply(const struct experiment_imb_config *cfg,
                         enum experiment_imb_cond c, int64_t onset_ns,
                         int64_t for_ns, struct pipeline_config *pc, char *err,
                         size_t errlen);
/* Judge one run's findings against its label (fills detected..other of
 * r from the findings of engine e; r->cond and r->onset_ns set). */
struct imb_engine;
void experiment_imb_judge(const struct imb_engine *e,
                          struct experiment_imb_run *r);
/* Run every (condition, rep). Returns 0 with *out filled, or the codes of
 * experiment_sweep_run() (-EINVAL, -EINTR, -EIO with err naming the run).
 * Free *out with experiment_imb_free() in every case. */
int experiment_imb_run(const struct experiment_imb_config *cfg,
                       struct experiment_imb *out, char *err, size_t errlen);
void experiment_imb_free(struct experiment_imb *x);
/* The per-condition table (runs, recall, false positives, onset to
 * detection: median and max) and each run's line; JSON: {"conditions":
 * [...], "runs": [...]}. Return 0 or -EIO. */
int experiment_imb_print(FILE *out, const struct experiment_imb *x);
int experiment_imb_json(FILE *out, const struct experiment_imb *x);

#endif
