/* spool: the on-disk FIFO queue behind `skewscope serve`'s forwarder: where
 * batches wait while the downstream is unreachable, and what the next run
 * replays first.
 *
 * Flow: forward (memory queue) -> spool_append -> segment files ->
 *       spool_head / spool_pop -> forward's sender -> downstream.
 *
 * Layout: a directory of segment files named "%016x.spool" in the record
 * format of serve/segment.h (shared with the write-ahead log), read in
 * name order, appended to at the newest, plus a "LOCK" file that one
 * process holds (flock) while the spool is open. Records are written with
 * one write(2) each (they survive the process being killed); spool_sync()
 * makes them survive a power loss too (the forwarder calls it before it
 * tells anyone that a batch is safe in the spool; segments are also
 * fsync'd when closed). Popping a record rewrites its magic to
 * SEGMENT_MAGIC_DONE in place, so a restart does not replay it (a crash
 * between delivery and pop replays it: at least once); a segment whose
 * records are all popped is deleted. A new segment starts when the newest
 * would grow past segment_bytes, and at the first append after
 * spool_open() (segments of an earlier run are only read).
 *
 * Damage: spool_open() checks every record (segment_scan: magic, length,
 * CRC). A torn record at the end of the newest segment (a crash
 * mid-write) is cut off with ftruncate; damaged bytes elsewhere are
 * skipped up to the next valid record. Both are logged and counted
 * (spool_stats.damaged_*), never fatal. A record found damaged when read
 * back (changed on disk after open) is skipped and counted the same way.
 *
 * Bound: the segment files together never exceed max_bytes (popped records
 * take space until their segment is deleted; at most one segment's worth).
 *
 * Threads: not thread-safe; the owner serialises all calls. */
#ifndef SKEWSCOPE_SPOOL_H
#define SKEWSCOPE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "serve/segment.h"

#define SPOOL_HEADER_BYTES SEGMENT_HEADER_BYTES
#define SPOOL_MAX_RECORD SEGMENT_MAX_RECORD /* payload limit: 1 GiB */

struct spool;

/* One record read back: data is malloc'd (the caller frees it). */
struct spool_record {
    uint8_t *data;
    size_t len;
    uint32_t spans;
    uint8_t type;
};

struct spool_stats {
    uint64_t records, spans;  /* live (appended, not yet popped) */
    uint64_t bytes;           /* live records, headers included */
    uint64_t disk_bytes;      /* segment files, popped records included */
    uint64_t segments;        /* segment files now */
    uint64_t damaged_bytes;   /* skipped or cut off since open */
    uint64_t damaged_records; /* damaged regions / records since open */
    uint64_t syncs;           /* spool_sync() calls that wrote to disk */
};

/* Open (creating the directory, and its parents, when missing) the spool
 * in dir, bounded to max_bytes on disk, with segments of segment_bytes
 * (0 = max_bytes / 8, clamped to 4 KiB .. 64 MiB). Scans and checks every
 * existing record (see Damage). Returns NULL with a message in err when the
 * directory cannot be created or read, another process holds it, a
 * segment cannot be read, or out of memory. */
struct spool *spool_open(const char *dir, uint64_t max_bytes,
                         uint64_t segment_bytes, char *err, size_t errlen);

/* Fsync and close the newest segment, release the lock, free s. NULL is a
 * no-op. */
void spool_close(struct spool *s);

/* Append one record of len bytes at the tail. Returns 0; -ENOSPC when it
 * does not fit under max_bytes now; -EFBIG when it never could (len over
 * SPOOL_MAX_RECORD or max_bytes); -EIO with a message in err when a write
 * fails (what was written is cut off again, the spool stays usable). */
int spool_append(struct spool *s, const void *data, size_t len, uint32_t spans,
                 uint8_t type, char *err, size_t errlen);

/* Read the oldest live record into *out (out->data malloc'd). Returns 1,
 * 0 when the spool is empty, or -EIO / -ENOMEM with a message in err (the
 * record stays at the head). Damaged records are skipped (popped). */
int spool_head(struct spool *s, struct spool_record *out, char *err,
               size_t errlen);

/* Drop the oldest live record (after spool_head). Returns 0, -ENOENT when
 * empty, -EIO with a message in err when it cannot be marked (it is gone
 * from this run's queue but a restart may replay it). */
int spool_pop(struct spool *s, char *err, size_t errlen);

/* Make every record appended so far survive a power loss (fsync of the
 * segments written since the last call, and of the directory when a
 * segment was created). Cheap when nothing was appended since. Returns 0,
 * or -EIO with a message in err. */
int spool_sync(struct spool *s, char *err, size_t errlen);

/* Live records now. */
uint64_t spool_count(const struct spool *s);

void spool_stats_read(const struct spool *s, struct spool_stats *out);

#endif
