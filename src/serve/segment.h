/* segment: the on-disk record format and segment files that serve's two
 * logs share: the forwarder's spool (serve/spool.h: batches waiting for
 * the downstream) and the write-ahead log (serve/wal.h: requests
 * acknowledged but not yet delivered or spooled). One format, one reader,
 * one damage rule for both.
 *
 * Layout: a directory of segment files named "%016x<suffix>" (hexadecimal
 * sequence number; other names are ignored), read in name order, plus a
 * lock file that one process holds (flock) while the directory is open.
 * A segment is a sequence of records, all integers little endian:
 *   0  magic    u32  SEGMENT_MAGIC_LIVE, or SEGMENT_MAGIC_DONE once done
 *   4  length   u32  bytes of payload
 *   8  spans    u32  span count (the caller's, not interpreted)
 *   12 type     u8   content type (the caller's), then 3 zero bytes
 *   16 crc32    u32  zlib crc32() of bytes 4..15 and the payload
 *   20 payload
 * The magic is outside the CRC so that a record can be marked done by
 * rewriting its first 4 bytes in place (segment_mark_done).
 *
 * Damage: segment_scan() checks every record (magic, length, CRC). A torn
 * record at the end of a segment the caller lets it cut (a crash
 * mid-write) is cut off with ftruncate; damaged bytes elsewhere are
 * skipped up to the next valid record. Both are logged and counted, never
 * fatal. A tail of zero bytes is not damage but space a writer
 * preallocated (the WAL zero-fills its segments ahead, so that an fsync
 * need not update the file's size). segment_read() checks a record again
 * when it is read back.
 *
 * Threads: the functions keep no state of their own; a struct segment_dir
 * is read-only after segment_dir_open, so any thread may use it. The
 * caller serialises writes to one file. */
#ifndef SKEWSCOPE_SEGMENT_H
#define SKEWSCOPE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEGMENT_MAGIC_LIVE 0x31525353u /* "SSR1" on disk */
#define SEGMENT_MAGIC_DONE 0x30525353u /* "SSR0" on disk */
#define SEGMENT_HEADER_BYTES 20u
#define SEGMENT_MAX_RECORD 0x40000000u /* payload limit: 1 GiB */

/* A record header as decoded. */
struct segment_hdr {
    uint32_t magic, len, spans, crc;
    uint8_t type;
};

/* An open, locked segment directory. Fields are read-only for callers. */
struct segment_dir {
    char *path;         /* the directory */
    const char *what;   /* "spool", "wal": first word of messages */
    const char *suffix; /* ".spool", ".wal" */
    int lock_fd, dir_fd;
};

/* Create (with its parents, mode 0700) and lock the directory path for
 * segment files "%016x<suffix>"; the lock file is path/lock_name. `what`
 * and `suffix` must be static strings. Returns 0, or -1 with a message in
 * err ("<what> <path>: in use by another process" when the lock is held,
 * a file in the way, permissions); *d is then closed. */
int segment_dir_open(struct segment_dir *d, const char *path, const char *what,
                     const char *suffix, const char *lock_name, char *err,
                     size_t errlen);

/* Fsync the directory, release the lock, free d's contents (not d). A
 * zeroed or failed d is a no-op. */
void segment_dir_close(struct segment_dir *d);

/* Fsync the directory itself (new and deleted names survive a crash).
 * Returns 0 or -errno. */
int segment_dir_sync(const struct segment_dir *d);

/* The segment numbers in the directory, ascending, as a malloc'd array
 * (*nos, NULL when *n is 0). Returns 0, or -1 with a message in err. */
int segment_dir_list(const struct segment_dir *d, uint64_t **nos, size_t *n,
                     char *err, size_t errlen);

/* "path/%016x<suffix>" into buf. */
void segment_path(const struct segment_dir *d, uint64_t no, char *buf,
                  size_t buflen);

/* open(2) segment no with flags (O_CREAT creates it with mode 0600;
 * O_CLOEXEC is added). Returns the descriptor or -errno. */
int segment_open(const struct segment_dir *d, uint64_t no, int flags);

/* Delete segment no (a warning is logged when that fails). */
void segment_remove(const struct segment_dir *d, uint64_t no);

/* Header of a live record of len bytes of data into hdr (CRC included). */
void segment_encode(uint8_t hdr[SEGMENT_HEADER_BYTES], const void *data,
                    uint32_t len, uint32_t spans, uint8_t type);

/* Write a header and its payload at off with pwritev(2) (retried on short
 * writes and EINTR). Returns 0 or -errno. */
int segment_write(int fd, uint64_t off, const uint8_t *hdr, const void *data,
                  size_t len);

/* Read the record at off whose header should be `want` (as the scan found
 * it; the magic is not compared) into data (want->len bytes). Returns 1
 * when it is there, live and its CRC holds; 0 when damaged (changed, gone,
 * marked done, cut short); -errno on a read error. */
int segment_read(int fd, uint64_t off, const struct segment_hdr *want,
                 void *data);

/* Rewrite the magic of the record at off to SEGMENT_MAGIC_DONE. Returns 0
 * or -errno. Not synced: a mark lost in a crash replays the record (at
 * least once). */
int segment_mark_done(int fd, uint64_t off);

/* Called by segment_scan for each valid record at offset off (live or
 * done: see h->magic); a negative return stops the scan with that code. */
typedef int (*segment_record_fn)(void *ctx, uint64_t off,
                                 const struct segment_hdr *h);

/* What a scan found: the file's size after cutting, where its records
 * end (before a tail of zero bytes: space preallocated for appends, which
 * is neither damage nor cut), and the damage. */
struct segment_scan_result {
    uint64_t size, end;
    uint64_t damaged_bytes, damaged_records;
};

/* Check every record of segment no, open as fd (O_RDWR when cut_tail),
 * calling fn for each valid one in file order. With cut_tail, damage that
 * runs to the end of the file is cut off (ftruncate); otherwise it is only
 * skipped. Damage is logged ("<what> <path>: segment ...: skipped N
 * damaged byte(s) at byte M"). Returns 0 or a negative errno (or fn's
 * code). */
int segment_scan(const struct segment_dir *d, uint64_t no, int fd,
                 bool cut_tail, segment_record_fn fn, void *ctx,
                 struct segment_scan_result *out);

/* Log and count one damaged region [off, end) of segment no. */
void segment_report_damage(const struct segment_dir *d, uint64_t no,
                           uint64_t off, uint64_t end, bool cut,
                           struct segment_scan_result *acc);

#endif
