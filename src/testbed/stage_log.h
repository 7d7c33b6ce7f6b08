/* stage_log: a testbed stage's log, JSON lines appended to the run's log
 * file (cfg->log_path), one object per line written with a single write(2)
 * on an O_APPEND descriptor so that every stage process (and each stage's
 * threads) may share the file without interleaving:
 *
 *   {"time":"2026-03-02T10:00:01.250000Z","timestamp":1772445601250000000,
 *    "service":"prefill","level":"info","event":"request","request":17,
 *    "msg":"request 17 handled in 1.204 ms"}
 *
 * "rank" is added on decode ranks. Events: "start", "stop", "request"
 * (one per data message handled), "error", "fault" (a fault began or
 * ended: fields "fault", "phase" = "start"/"stop"). Times are the stage's
 * own CLOCK_REALTIME (under libfaketime: its skewed clock, as a real log
 * would be). Threads: any thread of the stage. */
#ifndef SKEWSCOPE_STAGE_LOG_H
#define SKEWSCOPE_STAGE_LOG_H

#include <stddef.h>

struct stage_log;

/* Open path for appending lines of stage `service` (rank >= 0 for decode
 * ranks). Returns NULL with a message in err. */
struct stage_log *stage_log_open(const char *path, const char *service,
                                 int rank, char *err, size_t errlen);
void stage_log_close(struct stage_log *l); /* NULL is a no-op */

/* Append one line. request < 0 leaves the field out; fault NULL likewise
 * (with fault set, phase is its "phase"). l NULL is a no-op. Write
 * failures are ignored (logging must not stop the stage). */
void stage_log_event(struct stage_log *l, const char *level, const char *event,
                     long long request, const char *fault, const char *phase,
                     const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

#endif
