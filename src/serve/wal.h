/* wal: the write-ahead log of `skewscope serve`'s HTTP input: a request is
 * written here, and fsync'd, before it is answered 200, so that what was
 * acknowledged survives kill -9 and power loss; the next start replays
 * what was not done yet.
 *
 * Flow: receiver (HTTP thread) -> wal_append_async (write) -> the syncer
 *       thread's group commit -> callback -> serve queue + receiver_answer
 *       -> 200 (the HTTP thread serves others meanwhile; wal_append is the
 *       same with the caller waiting for its fsync)
 *       ... serve queue -> pipeline -> forward -> delivered or spooled ->
 *       wal_done (the record is marked done; its segment is deleted once
 *       all its records are done).
 *       Next start: wal_open -> wal_replay_next -> serve queue -> ...
 *
 * Format: segment files "%016x.wal" of serve/segment.h's records (the
 * spool's format: magic, length, spans, type, CRC32, payload) in a
 * directory locked by "wal.lock". A record is a request body as decoded
 * (after Content-Encoding), its span count and content type (the
 * caller's). Done records have their magic rewritten in place (not
 * synced: a lost mark replays the record, at least once). The next
 * segment is zero-filled ahead as "spare.tmp" and renamed when needed, so
 * a segment usually ends in zeros, which a scan takes as free space.
 *
 * Group commit: wal_append writes the record (one pwritev, under the
 * log's lock) and then waits for the fsync that covers it. One fdatasync
 * runs at a time, led by an appending thread, over the segments written
 * since the last one (by the syncer thread for wal_append_async); every
 * record written while one fsync runs is covered by the next, so one fsync
 * serves all the requests that arrived meanwhile however many threads
 * append. serve appends asynchronously: an HTTP thread that waited for its
 * fsync could not read the other requests of its connections meanwhile,
 * and most fsyncs then covered a single request.
 *
 * Damage: at open every segment is checked (segment_scan): a torn record
 * at the end of a segment (a crash mid-write, never acknowledged) is cut
 * off, damaged bytes elsewhere are skipped to the next valid record; both
 * are logged and counted (wal_stats.damaged_*), never fatal. Segments of
 * an earlier run are only read, marked and deleted; appends go to new
 * ones.
 *
 * With no_fsync (wal_config) appends do not wait for an fsync: the log
 * then keeps what was acknowledged across kill -9 but not across a power
 * loss.
 *
 * Errors: a failed write is cut back and reported to that caller only. A
 * failed fsync leaves the log's state on disk unknown: every waiting and
 * later append fails (-EIO) until the process restarts (the serve answers
 * 503), as PostgreSQL does after a failed fsync.
 *
 * Threads: wal_open / wal_close from one owner thread; wal_append,
 * wal_done and wal_stats_read from any thread, concurrently;
 * wal_replay_next from one thread at a time. */
#ifndef SKEWSCOPE_WAL_H
#define SKEWSCOPE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wal;

/* One record appended or replayed and not yet done: the token for
 * wal_done (owned by the log; freed by wal_done or wal_close). */
struct wal_rec;

/* Zero fields take the defaults in brackets. */
struct wal_config {
    const char *dir;        /* created (mode 0700) if missing (required) */
    uint64_t segment_bytes; /* a new segment after this many [32 MiB] */
    /* Segments are zero-filled ahead by a thread of the log's (an fsync
     * then need not update a file's size: half the time on ext4); true
     * makes appends grow the files instead. [false] */
    bool no_preallocate;
    /* wal_append returns once the record is written (in the page cache),
     * without waiting for an fsync: it then survives the process being
     * killed (kill -9, a crash) but not the machine (power loss, kernel
     * crash), as the OpenTelemetry Collector's file_storage with its
     * default fsync: false. [false: every append waits for its fsync] */
    bool no_fsync;
    /* A round's leader waits this long before its fsync, to gather more
     * records (PostgreSQL's commit_delay); every append waits that much
     * longer. For tests of the grouping. [0] */
    unsigned group_delay_us;
    /* Stands in for fdatasync(2) on the segments of a group commit (0, or
     * -1 with errno set), for tests of a disk that fails or is slow.
     * [NULL: fdatasync] */
    int (*fsync_fn)(int fd);
};

/* Totals since open; *_now are the current contents. */
struct wal_stats {
    uint64_t appended_records, appended_spans, appended_bytes;
    uint64_t fsyncs;         /* group commits (appended / fsyncs = batch) */
    uint64_t fsync_ns;       /* time spent in them */
    uint64_t wait_ns;        /* appenders' time from write to durable */
    uint64_t append_errors;  /* appends refused (write or fsync failed) */
    uint64_t replay_records; /* found live at open (from an earlier run) */
    uint64_t replay_spans;
    uint64_t done_records;  /* wal_done calls */
    uint64_t damaged_bytes; /* skipped or cut off at open or replay */
    uint64_t damaged_records;
    uint64_t live_records_now, live_spans_now; /* appended/replayed, not done */
    uint64_t disk_bytes_now; /* records in segment files (done ones
                                included, preallocated space not) */
    uint64_t segments_now;
};

/* Open (creating the directory) and lock the log in cfg->dir, check every
 * segment and index the records not done, to be replayed with
 * wal_replay_next (a record an earlier run wrote but never got through
 * its fsync was never acknowledged; replaying it is harmless). NULL with a
 * message in err when the directory cannot be created, read or locked
 * (another process has it), a segment cannot be read, or out of memory. */
struct wal *wal_open(const struct wal_config *cfg, char *err, size_t errlen);

/* Close, free (no wal_append may be running; the callbacks of
 * asynchronous appends all run first). Records not done stay on
 * disk for the next wal_open (their wal_rec tokens are freed: no wal_done may
 * follow). Segments whose records are all done are deleted. NULL is a no-op. */
void wal_close(struct wal *w);

/* Append one record (data: len bytes, copied) and wait until it is on
 * disk (fsync'd). On success *rec is its token: pass it to wal_done once
 * the record's spans are safe elsewhere. Returns 0; -EFBIG when len is
 * over SEGMENT_MAX_RECORD; -ENOMEM; -EIO with a message in err when the
 * write or the fsync failed (nothing is acknowledged: the caller answers
 * 503). */
int wal_append(struct wal *w, const void *data, size_t len, uint32_t spans,
               uint8_t type, struct wal_rec **rec, char *err, size_t errlen);

/* Called once per wal_append_async record when it is on disk (status 0;
 * rec is its token for wal_done) or cannot be (status -EIO, rec NULL:
 * not kept, answer 503). Runs on the log's syncer thread (with no_fsync:
 * on the appending thread, before wal_append_async returns); it must not
 * call wal_append*. */
typedef void (*wal_synced_fn)(void *ctx, struct wal_rec *rec, int status);

/* wal_append without the wait: write the record and return; cb(ctx, ...)
 * follows once the fsync that covers it has run (group commit with every
 * other record written meanwhile, synchronous or not), in log order. For
 * a caller that must not block while the disk works (an HTTP server that
 * suspends the request and answers from cb). Returns 0 (cb will be called
 * exactly once), or -EFBIG / -ENOMEM / -EIO with a message in err (cb is
 * not called). Any thread. */
int wal_append_async(struct wal *w, const void *data, size_t len,
                     uint32_t spans, uint8_t type, wal_synced_fn cb, void *ctx,
                     char *err, size_t errlen);

/* One record of an earlier run, not done, in log order. */
struct wal_record {
    uint8_t *data; /* malloc'd (the caller frees it) */
    size_t len;
    uint32_t spans;
    uint8_t type;
    struct wal_rec *rec; /* token for wal_done */
};

/* The next record to replay into *out. Returns 1, 0 when none is left, or
 * -EIO / -ENOMEM with a message in err (that record is skipped: it stays
 * on disk for the next open). Damaged records are skipped and counted. */
int wal_replay_next(struct wal *w, struct wal_record *out, char *err,
                    size_t errlen);

/* The record of `rec` (a struct wal_rec *) is done: delivered downstream
 * or safe in the spool. Marks it on disk, deletes its segment when that
 * was the segment's last record (and no more appends go there), frees
 * rec. Exactly once per token. The signature is forward_done_fn's and
 * kafka_in_done_fn's. Any thread. */
void wal_done(void *rec);

void wal_stats_read(struct wal *w, struct wal_stats *out);

#endif
