/* stage_monitor: a thread in each testbed stage that injects the faults
 * aimed at the stage, in the windows the orchestrator publishes on the
 * run's board (stage_board.h), and samples the stage's compute gauges once
 * a second (the DCGM stand-ins of stage_metrics.h):
 *
 *   cpu           `amount` competing processes, forked at the start, each
 *                 spinning on one CPU; the stage's main thread is pinned to
 *                 that same CPU for the window (its affinity restored
 *                 after), so the hogs take most of its time slices. Their
 *                 CPU time is counted in the stage's container CPU, as
 *                 cAdvisor counts a chaos-mesh stressor's. Killed at the
 *                 end (and by PR_SET_PDEATHSIG if the stage dies first).
 *   memory        an anonymous mapping of `amount` bytes whose pages are
 *                 written progressively over the first half of the window
 *                 (the resident set grows), then held, then unmapped.
 *   network       nothing here: the stage thread asks
 *                 stage_monitor_net_delay_ns() for the extra hold of each
 *                 message it receives (stage_hold), the inbound hop's
 *                 added delay and jitter while the window is open.
 *   gpu-throttle  llm_throttle_set(amount) for the window (llm.h): the
 *                 SM clock (DCGM_FI_DEV_SM_CLOCK) is set to `amount` of
 *                 the boost clock and the compute rate drops by as much;
 *                 the utilisation (DCGM_FI_DEV_GPU_UTIL, the engine's
 *                 occupancy) rises only where the engine had idle time
 *                 to give, and stays near 100% on a stage with work
 *                 queued, as on a power-capped serving GPU.
 *   heavy         llm_workload_set(amount) for the window: every compute
 *                 phase takes `amount` times as long (a heavier pipeline
 *                 stage), the SM clock unchanged.
 *   early-stop, kv-budget, route-skew
 *                 nothing here: the stage carries them out itself (a decode
 *                 rank asks stage_monitor_in_window() per request; the
 *                 decode ranks and the tokenizer read the board's windows
 *                 for faults aimed at "decode" and at the router).
 *
 * Each start and stop is logged ("fault" events, stage_log.h) with the
 * time the stage saw. Windows are CLOCK_MONOTONIC; the monitor wakes at
 * least every 50 ms, so a fault starts and stops within about 50 ms of its
 * window (the hogs' and the throttle's effect in the metrics is exact to
 * the scrape).
 *
 * Threads: start/stop and stage_monitor_net_delay_ns() from the stage's
 * main thread only (start records it as the thread to pin); the monitor
 * thread touches the metrics' atomics and the log. */
#ifndef SKEWSCOPE_STAGE_MONITOR_H
#define SKEWSCOPE_STAGE_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pipeline_config;
struct stage_board;
struct stage_metrics;
struct stage_log;
struct stage_monitor;

/* Start the monitor of stage `stage` (board and metrics required, log may
 * be NULL). Returns NULL with a message in err. */
struct stage_monitor *
stage_monitor_start(const struct pipeline_config *cfg, const char *stage,
                    const struct stage_board *board, struct stage_metrics *m,
                    struct stage_log *log, char *err, size_t errlen);
/* End every active fault (hogs killed and reaped, memory unmapped,
 * throttle lifted, affinity restored), join and free. NULL is a no-op. */
void stage_monitor_stop(struct stage_monitor *mon);

/* Extra hold (ns, >= 0) for a message received now (monotonic ns): the
 * delay of an open network window of this stage +- uniform jitter; 0
 * outside one. NULL mon: 0. */
int64_t stage_monitor_net_delay_ns(struct stage_monitor *mon, int64_t now_ns);

/* True when a fault of `kind` (enum pipeline_fault_kind) aimed at this
 * stage has its window open at now_ns (monotonic ns): how the stage thread
 * asks for the faults it carries out itself (early-stop). NULL mon: false.
 * Any thread (reads the board). */
bool stage_monitor_in_window(const struct stage_monitor *mon, int kind,
                             int64_t now_ns);

#endif
