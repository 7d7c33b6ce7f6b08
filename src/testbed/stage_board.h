/* stage_board: a small shared-memory board of one testbed run, a file
 * "board" in the run's ipc directory mapped by the orchestrator and by every
 * stage (forked or exec'ed), so that they share what no message carries:
 *   - when the run started and when each fault is active (written by the
 *     orchestrator, read by the stages' monitors; CLOCK_MONOTONIC ns,
 *     which every process of the host shares and libfaketime leaves alone);
 *   - how many data messages were sent to each stage (senders add, the
 *     stage subtracts what it received: its waiting requests).
 * Fields are lock-free 64-bit atomics (address-free on the platforms the
 * testbed runs on), read and written with relaxed order: each is a
 * counter or a value written once.
 *
 * Flow: pipeline.c creates it before any stage starts and removes it with
 * the ipc directory; stage_common.c maps it; stage_monitor.c reads the
 * fault windows. */
#ifndef SKEWSCOPE_STAGE_BOARD_H
#define SKEWSCOPE_STAGE_BOARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/pipeline.h"

struct stage_board {
    _Atomic int64_t start_mono_ns; /* the gateway was started; 0 before */
    /* fault i of the run's config: active in [start, end) (monotonic ns);
     * 0 = not scheduled (the run has not started) */
    _Atomic int64_t fault_start_ns[PIPELINE_MAX_FAULTS];
    _Atomic int64_t fault_end_ns[PIPELINE_MAX_FAULTS];
    /* data messages sent to stage slot i (pipeline_stage_index) */
    _Atomic uint64_t sent_to[PIPELINE_MAX_STAGES];
};

/* Create (create = true: the orchestrator; the file must not exist) or
 * open the board file "<dir>/board" and map it. Returns the mapping, or
 * NULL with a message in err. */
struct stage_board *stage_board_map(const char *dir, bool create, char *err,
                                    size_t errlen);
/* Unmap (NULL is a no-op). The file goes with the ipc directory. */
void stage_board_unmap(struct stage_board *b);

/* The stage slot a data channel feeds ("tokenize" -> tokenizer's, "decode.1"
 * -> decode-1's, "response" -> the gateway's), or -1 (reply channels and
 * unknown ones). */
int stage_board_slot_of_channel(const char *channel);

#endif
