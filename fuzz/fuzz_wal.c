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
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/segment.h"
#include "serve/wal.h"
#include "util/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[128];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static void remove_dir(void)
{
    clear_dir();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR); /* damage reports are the normal case here */
    /* tmpfs when there is one: the log fsyncs. */
    snprintf(dir, sizeof dir, "/dev/shm/skewscope-fuzz-wal-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/skewscope-fuzz-wal-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    atexit(remove_dir);
    return 0;
}

static void write_file(unsigned no, const uint8_t *p, size_t n)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof path, "%s/%016x.wal", dir, no);
    f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n))
        abort();
    fclose(f);
}

static void lay_out(const uint8_t *data, size_t size)
{
    unsigned nseg = (data[0] & 3) + 1;
    size_t pos = 1 + 2 * (nseg - 1);
    const uint8_t *sizes = data + 1;

    if (pos > size)
        pos = size;
    for (unsigned i = 0; i + 1 < nseg; i++) {
        size_t n = 1 + 2 * i + 1 < size
                       ? (size_t)sizes[2 * i] | (size_t)sizes[2 * i + 1] << 8
                       : 0;
        if (n > size - pos)
            n = size - pos;
        write_file(i + 1, data + pos, n);
        pos += n;
    }
    write_file(nseg, data + pos, size - pos);
}

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
    clear_dir();
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
