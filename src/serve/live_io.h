/* live_io: a struct live's mergeable statistics (serve/live.h) as a JSON
 * document, and back. This is how several `skewscope serve` instances of
 * one Kafka consumer group build the cluster-wide view (issue 4): each
 * publishes its export on GET /api/v1/windows, and an instance with peers
 * imports theirs and live_merge()s them with its own.
 *
 * Flow: live (instance A) -> live_export_json -> HTTP -> live_merge_json
 *       -> cluster live (instance B) -> live_update -> /api/v1/cluster.
 *
 * The document (version 1), all times in ns of the traces' clocks:
 *   {"format": "skewscope.live", "version": 1,
 *    "window_s": 10.0, "max_windows": 30,
 *    "pairs_total": N, "orphans_total": N, "late_pairs_total": N,
 *    "domains": ["node-a", ...], "classes": ["kafka/5/5", ...],
 *    "groups": [{"from": 0, "to": 1, "class": 0, "sync": false,
 *                "pairs": N, "starts_before_parent": N,
 *                "ends_after_parent": N, "violations": N}, ...],
 *    "windows": [{"index": I, "pairs": N, "sum_rel_ns": N, "last_ns": T,
 *                 "cells": [{"group": 0, "count": N,
 *                            "fwd_ns": S, "fwd_at_ns": T,
 *                            "back_ns": S, "back_at_ns": T,
 *                            "queued": N, "idle": N, "idle_fwd_ns": S,
 *                            "idle_fwd_at_ns": T}, ...]}, ...]}
 * "from", "to", "class" and "group" index the arrays above; windows are in
 * ascending "index" (floor(parent start / window), the absolute grid);
 * "fwd_ns" is the minimum child.start - parent.start of the group in the
 * window and "fwd_at_ns" that pair's parent start ("back": parent.end -
 * child.end); "queued" and "idle" count the cell's pairs whose consumer
 * was busy / idle (analysis/clock_obs.h), "idle_fwd_ns" the minimum over
 * the idle ones (present when "idle" > 0); all four optional on import
 * (absent: 0, which is what documents before them meant);
 * "last_ns" the window's latest parent start (null when the
 * window holds no pair), "sum_rel_ns" the sum of (parent start - index *
 * window). Warning state and warnings_total are not part of it (every
 * instance warns for itself), nor is the reference domain (an option).
 *
 * Import checks what a struct live guarantees and refuses the rest: the
 * format and version, window_s in [1e-3, 1e6] s, max_windows in [1, 4096],
 * indexes in range, windows ascending and fewer than 4096 apart, counts in
 * [0, 2^53] and consistent (pairs_total = sum of the groups' pairs; a
 * window's pairs = sum of its cells' counts, no group's cells counting
 * more than the group), times inside their window, at most 4096 domains,
 * 4096 classes, 16384 groups and 2^22 windows x groups. Two values are
 * accepted but changed: slacks are clamped to +-2^50 ns (13 days), and
 * windows whose time range falls outside +-2^62 ns of the epoch (about
 * 1824..2116) are left out and their pairs counted in late_pairs_total,
 * so that hostile timestamps in one instance's traces cannot make the
 * cluster's arithmetic overflow. Names that are not UTF-8 are exported
 * with '?' for each byte >= 0x80 (as correct does).
 *
 * Threads: the functions keep no state; each struct live has one owner
 * (live.h). */
#ifndef SKEWSCOPE_LIVE_IO_H
#define SKEWSCOPE_LIVE_IO_H

#include <stddef.h>

struct live;
struct live_opts;

#define LIVE_IO_FORMAT "skewscope.live"
#define LIVE_IO_VERSION 1

/* Negative results of the functions below. */
enum live_io_error {
    LIVE_IO_ENOMEM = -1,
    LIVE_IO_EDOC = -2,     /* not JSON, not this format, or fails a check */
    LIVE_IO_EVERSION = -3, /* "version" is not one this build reads */
    LIVE_IO_EWINDOW = -4,  /* window_s differs from the one expected */
};

/* The statistics of lv as a compact JSON document: *out a malloc'd,
 * NUL-terminated string of *len bytes (the caller frees it). Returns 0 or
 * LIVE_IO_ENOMEM. */
int live_export_json(const struct live *lv, char **out, size_t *len);

/* A new struct live (*out, destroyed with live_destroy) holding the
 * statistics of the document text[0..len). With opts, the live is created
 * with them and the document's window_s must equal opts->window_s (else
 * LIVE_IO_EWINDOW); its windows are then trimmed to opts->max_windows
 * newest, as live_merge() does. opts NULL: the defaults with the
 * document's window_s and max_windows. Returns 0, or a negative
 * live_io_error with a message in err (e.g. "windows[2].cells[0]: \"count\"
 * is missing or not an integer in [1, 9007199254740992]"); *out is then
 * NULL. */
int live_import_json(const char *text, size_t len, const struct live_opts *opts,
                     struct live **out, char *err, size_t errlen);

/* Add the document's statistics to dst, as live_merge() adds a struct
 * live's. The document is checked in full first, so on LIVE_IO_EDOC,
 * LIVE_IO_EVERSION and LIVE_IO_EWINDOW (window_s differs from dst's) dst
 * is unchanged; also LIVE_IO_EDOC, dst unchanged, when a window's sums
 * would overflow. On LIVE_IO_ENOMEM dst may hold part of it. Returns 0 or
 * a negative live_io_error with a message in err. */
int live_merge_json(struct live *dst, const char *text, size_t len, char *err,
                    size_t errlen);

#endif
