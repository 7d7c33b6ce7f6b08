/* libFuzzer target for the write-ahead log's reader (serve/wal.c over the
 * record scanner of serve/segment.c, which the spool shares; fuzz_spool
 * drives the same scanner through the spool's index). The input becomes
 * the segment files of a WAL directory, which is then opened (the damage
 * scan, zero tails as preallocated space), replayed, partly marked done,
 * reopened, and drained. Layout of an input:
 *   byte 0       bits 0-1: segment files - 1 (1..4)
 *   then for each segment file but the last, its size (u16, little endian,
 *   clamped to what is left); the rest is the last file.
 * Nothing may crash, leak or fail: damage is never fatal. Checked: every
 * record replayed passed its CRC (within the limits), the records marked
 * done stay done across a reopen and the others come back, and after all
 * are done a record appended survives a reopen as the only one. */
#define FUZZ_SEGMENT_SUFFIX "wal"
#include "fuzz_segment_dir.h"

#include "serve/segment.h"
#include "serve/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wal *open_or_die(void)
{
    struct wal_config cfg = {.dir = dir, .no_preallocate = true};
    char err[256];
    struct wal *w = wal_open(&cfg, err, sizeof err);

    if (!w) {
        fprintf(stderr, "wal_open: %s\n", err);
        abort();
    }
    return w;
}

/* Replay everything; mark done every record whose index has bit 0 equal
 * to `keep_odd` ... or all when keep_odd < 0. Returns the records seen. */
static uint64_t replay(struct wal *w, int keep_odd, uint64_t *kept)
{
    struct wal_record r;
    char err[256];
    uint64_t n = 0;
    int rc;

    *kept = 0;
    while ((rc = wal_replay_next(w, &r, err, sizeof err)) == 1) {
        if (r.len > SEGMENT_MAX_RECORD)
            abort();
        free(r.data);
        if (keep_odd >= 0 && (int)(n & 1) == keep_odd)
            (*kept)++; /* not done: stays for the next open */
        else
            wal_done(r.rec);
        n++;
    }
    if (rc < 0)
        abort();
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t mark[5] = {'m', 'a', 'r', 'k', 0};
    struct wal_record r;
    struct wal_rec *rec;
    struct wal_stats st;
    struct wal *w;
    uint64_t seen, kept, again, dummy;
    char err[256];

    if (size < 1)
        return 0;
    lay_out(data, size);
    w = open_or_die();
    wal_stats_read(w, &st);
    seen = replay(w, 1, &kept);
    if (seen > st.replay_records)
        abort();
    wal_close(w);
    w = open_or_die();
    again = replay(w, -1, &dummy);
    if (again != kept)
        abort(); /* done marks persist, nothing else may change */
    if (wal_append(w, mark, sizeof mark, 9, 1, &rec, err, sizeof err) != 0)
        abort();
    wal_close(w);
    w = open_or_die();
    if (wal_replay_next(w, &r, err, sizeof err) != 1)
        abort();
    if (r.len != sizeof mark || memcmp(r.data, mark, sizeof mark) != 0 ||
        r.spans != 9 || r.type != 1)
        abort();
    free(r.data);
    wal_done(r.rec);
    if (wal_replay_next(w, &r, err, sizeof err) != 0)
        abort();
    wal_close(w);
    return 0;
}
