/* case_record: one testbed run recorded as a root-cause-analysis case in
 * RCAEval's format (the layout rca-llm's dataset has), with the injected
 * fault as known ground truth:
 *
 *   <root>/<service>_<fault>/<n>/   service = the faulted stage ("prefill",
 *                                   "decode-1"; names hold no '_'), fault =
 *                                   cpu, memory, network or gpu; n from 1
 *     data.csv        `time` (Unix s, one row per second of scrapes) and
 *                     one column per <stage>_<metric> (RCA_CASE_METRICS
 *                     below); counters as per-second rates, histograms as
 *                     per-second quantiles or means; empty cell = no value
 *     inject_time.txt the fault's start, Unix s (a whole second)
 *     traces.csv      the spans between stages (INTERNAL spans left out,
 *                     as network-level traces hold none), RCAEval's
 *                     columns: time, traceID, spanID, parentSpanID,
 *                     serviceName, methodName, operationName,
 *                     startTimeMillis, startTime (us), duration (us),
 *                     statusCode (500 for a span with an "error"
 *                     attribute, else 200)
 *     logs.csv        the stages' log lines: time, timestamp (Unix ns),
 *                     container_name (the stage), message; fault start/stop
 *                     lines are left out (they would give the answer away)
 *     logs.jsonl      the stages' raw JSON log lines, fault lines included
 *
 * Metrics of every stage (data.csv column <stage>_<metric>, from the
 * Prometheus series of testbed/stage_metrics.h):
 *   cpu          rate(container_cpu_usage_seconds_total), cores
 *   mem          process_resident_memory_bytes
 *   net-rx       rate(skewscope_transport_received_bytes_total), bytes/s
 *   net-tx       rate(skewscope_transport_sent_bytes_total), bytes/s
 *   latency-50   median of skewscope_stage_request_duration_seconds over
 *   latency-90   the second (histogram_quantile's interpolation), s
 *   latency-hop  median of skewscope_stage_inbound_hop_seconds (the
 *                hop itself, robust to bursts of queueing), s
 *   net-delay    mean of skewscope_stage_network_delay_seconds: the
 *                link's delay, what a network probe sees, queueing at the
 *                stage excluded (under a load that queues work at a
 *                stage, its latency-hop is mostly queueing), s
 *   workload     rate(skewscope_stage_requests_total), requests/s
 *   running      vllm:num_requests_running
 *   waiting      vllm:num_requests_waiting
 * and where they apply:
 *   tokens       rate(vllm:generation_tokens_total) (gateway, prefill,
 *                decode ranks)
 *   ttft         mean vllm:time_to_first_token_seconds (prefill)
 *   itl          mean vllm:inter_token_latency_seconds (decode ranks)
 *   kv           vllm:kv_cache_usage_perc (prefill, decode ranks)
 *   sm-clock     DCGM_FI_DEV_SM_CLOCK, MHz (prefill, decode ranks)
 *   gpu-util     DCGM_FI_DEV_GPU_UTIL, % (prefill, decode ranks)
 *
 * Flow: pipeline_run (scrapes via case_record_on_scrape -> prom_text ->
 * series_store) -> case_record_write (series_table -> series_csv; trace file
 * -> traces.csv; log file -> logs.csv).
 *
 * Threads: one thread. */
#ifndef SKEWSCOPE_CASE_RECORD_H
#define SKEWSCOPE_CASE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "testbed/pipeline.h"

#define CASE_RECORD_PATH_MAX 512

struct case_record;
struct series_table;

/* A recorder for one run. NULL when out of memory. */
struct case_record *case_record_create(void);
void case_record_destroy(struct case_record *c);

/* Make cfg record into the case folder dir (created with its parents):
 * metrics on, scrapes into c, logs to dir/logs.jsonl, and, when cfg has no
 * trace output, spans (between stages only) to dir/spans.otlp.jsonl,
 * removed again by case_record_write. Strings are kept in c. Returns 0 or -1
 * (err). */
int case_record_prepare(struct case_record *c, struct pipeline_config *cfg,
                        const char *dir, char *err, size_t errlen);

/* pipeline_scrape_fn: store one scrape (ctx = the struct case_record). A body
 * that does not parse is counted (case_record_bad_scrapes) and skipped. */
void case_record_on_scrape(void *ctx, const char *stage, int64_t unix_ns,
                           const char *body, size_t len);
size_t case_record_scrapes(const struct case_record *c);
size_t case_record_bad_scrapes(const struct case_record *c);

/* The data.csv table of the run so far (columns in stage slot order, then
 * metric order above). Returns 0 with *out (series_table_destroy), or -1
 * (err: nothing scraped, out of memory). */
int case_record_table(const struct case_record *c,
                      const struct pipeline_config *cfg,
                      struct series_table **out, char *err, size_t errlen);

/* Write the case into the folder given to case_record_prepare: data.csv,
 * inject_time.txt (the first fault's window; none without a fault),
 * traces.csv, logs.csv. Returns 0 or -1 (err). */
int case_record_write(struct case_record *c, const struct pipeline_config *cfg,
                      const struct pipeline_result *res, char *err,
                      size_t errlen);

/* "<root>/<service>_<fault>/<n>" with n the first of 1, 2, ... not yet
 * there (fault: pipeline_fault_case_name; a run without a fault is
 * "normal_none"). Returns 0 or -1 (err: name too long). */
int case_record_next_dir(const char *root, const struct pipeline_config *cfg,
                         char *out, size_t outlen, char *err, size_t errlen);

#endif
