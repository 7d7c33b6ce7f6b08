/* serve_scrape: `skewscope serve --scrape URL`: the imbalance detectors of
 * `skewscope imbalance` (src/imbalance) run live on Prometheus text
 * targets (vLLM, SGLang, TGI, dcgm-exporter, node-exporter, `skewscope
 * collect --listen`, the testbed stages), next to the trace analysis.
 *
 * Flow:  scrape thread, every interval (rounds due at whole multiples of
 *        the interval plus half of it, so that jitter never moves a scrape
 *        into another row of the detectors' grid):
 *          GET every target at once (libcurl multi, keep-alive)
 *          -> ingest/prom_text (the reader `imbalance` uses; the target's
 *             name is the entity of series without service/job/pod)
 *          -> model/series store (horizon: the runbook's history + 2 steps)
 *          + collectives of the tensor-parallel ranks, found by the
 *            analysis thread in each assembled generation with serve's
 *            current clock model (imbalance/collectives.h: arrivals on the
 *            reference clock, as `imbalance --offsets` gives them)
 *          -> imb_engine_update(until = the start of the row the next round
 *             falls in: every row before it has all its scrapes; once
 *             traces bring collectives, trace_lag_s earlier)
 *          -> findings: /metrics (skewscope_imbalance_*, skewscope_scrape_*),
 *             GET /api/v1/findings (serve_page ring, one entry per finding,
 *             updated in place until it ends), and one JSON log line when a
 *             finding starts and one when it ends.
 * The engine is the batch command's (one rule, one code path): the same
 * scrapes give the same findings live and offline.
 *
 * A target that is unreachable, answers with another status than 200, or
 * returns a body the reader refuses is counted (skewscope_scrape_errors_
 * total{target}, skewscope_scrape_up{target} 0) and logged when its state
 * changes and at most once a minute while it stays down; never fatal, at
 * start neither. Samples of a refused body read before the error stay (as
 * in the batch reader).
 *
 * Threads: serve_scrape_start / serve_scrape_destroy by serve's owner
 * thread; serve_scrape_add_collectives from the analysis thread;
 * serve_scrape_metrics from HTTP threads. The store and the engine are the
 * scrape thread's alone; one mutex guards what the others touch (pending
 * collectives, the published state); no call holds it while calling out. */
#ifndef SKEWSCOPE_SERVE_SCRAPE_H
#define SKEWSCOPE_SERVE_SCRAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct serve_page;
struct serve_scrape;
struct span_store;
struct clock_model;

/* Zero or NULL fields take the defaults in brackets. Arrays and strings
 * are borrowed for the life of the scraper. */
struct serve_scrape_config {
    /* "URL" or "NAME=URL" (http:// or https://); NAME (default: the URL's
     * host:port) labels the target's metrics and is the entity of its
     * series without a service/job/pod label */
    const char *const *targets;
    size_t ntargets;
    double interval_s; /* [the runbook's step_s, 1] */
    double timeout_s;  /* per request [0.8 x interval, at most 10] */
    /* runbook files loaded on top of the built-in one, then overrides
     * "COND.KEY=VALUE" (imbalance/runbook.h) */
    const char *const *runbooks;
    size_t nrunbooks;
    const char *const *sets;
    size_t nsets;
    size_t keep_closed; /* ended findings the engine keeps [64] */
    /* How long after its spans' times a trace reaches the detectors (the
     * assembly window plus processing) [0]: once traces have brought
     * collectives, rows are evaluated this much later, so that a row is
     * judged with its collectives (the engine evaluates each row once). */
    double trace_lag_s;
};

/* Check the configuration without starting anything: targets, runbook
 * files and overrides. Returns 0, or a negated enum imb_status with a
 * message in err (-IMB_E_INVAL: a bad target or override; -IMB_E_RUNBOOK /
 * -IMB_E_NOINPUT: a runbook file; -IMB_E_NOMEM). */
int serve_scrape_check(const struct serve_scrape_config *cfg, char *err,
                       size_t errlen);

/* Start the scrape thread; findings go to page (may be NULL). Returns NULL
 * with a message in err (a configuration serve_scrape_check refuses, out
 * of memory, libcurl or the thread cannot start). Unreachable targets are
 * not an error. */
struct serve_scrape *serve_scrape_start(const struct serve_scrape_config *cfg,
                                        struct serve_page *page, char *err,
                                        size_t errlen);

/* Stop and join the thread, free everything. NULL is a no-op. Call after
 * the analysis thread and the HTTP threads have stopped. */
void serve_scrape_destroy(struct serve_scrape *sc);

/* Analysis thread: find the collectives of one assembled generation st
 * (indexed) on the clock of m (offset = domain clock - reference clock,
 * positive = ahead) and queue them for the detectors. Generations holding
 * a rank the model does not know yet are left out (arrivals on unknown
 * clocks would make a rank whose clock is ahead look late). sc NULL is a
 * no-op. Out of memory: the generation is left out (counted). */
void serve_scrape_add_spans(struct serve_scrape *sc,
                            const struct span_store *st,
                            const struct clock_model *m);

/* Append the Prometheus text of the scrapes and findings to f:
 * skewscope_scrape_up{target}, skewscope_scrape_errors_total{target},
 * skewscope_scrape_samples{target}, skewscope_scrape_duration_seconds
 * {target}, skewscope_imbalance_rows_total,
 * skewscope_imbalance_collectives_total (taken from traces),
 * skewscope_imbalance_trace_generations_skipped_total,
 * skewscope_imbalance_findings{condition,subject} (1 per open finding),
 * skewscope_imbalance_findings_total{condition} (findings started).
 * Any thread. */
void serve_scrape_metrics(struct serve_scrape *sc, FILE *f);

#endif
