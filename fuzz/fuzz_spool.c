/* libFuzzer target for the spool reader: the input becomes the segment
 * files of a spool directory, which is then opened (the damage scan), read
 * and popped. Layout of an input:
 *   byte 0       bits 0-1: segment files - 1 (1..4);
 *                bit 2: pop half, reopen, then drain (pop marks persist)
 *   then for each segment file but the last, its size (u16, little endian,
 *   clamped to what is left); the rest is the last file.
 * Nothing may crash, leak or fail: damage is never fatal. Checked: every
 * record read back passed its CRC (spool_head), counts agree with what was
 * popped across a reopen, and after draining, a record appended survives a
 * reopen as the only one. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/spool.h"
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
    /* tmpfs when there is one: the spool fsyncs on close. */
    snprintf(dir, sizeof dir, "/dev/shm/skewscope-fuzz-spool-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/skewscope-fuzz-spool-XXXXXX");
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

    snprintf(path, sizeof path, "%s/%016x.spool", dir, no);
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

static struct spool *open_or_die(void)
{
    char err[256];
    struct spool *s = spool_open(dir, 1 << 20, 0, err, sizeof err);

    if (!s) {
        fprintf(stderr, "spool_open: %s\n", err);
        abort();
    }
    return s;
}

/* Read and pop up to n records; returns how many. */
static uint64_t drain(struct spool *s, uint64_t n)
{
    struct spool_record r;
    char err[256];
    uint64_t k = 0;

    for (; k < n; k++) {
        int rc = spool_head(s, &r, err, sizeof err);
        if (rc == 0)
            break;
        if (rc < 0 || r.len > SPOOL_MAX_RECORD)
            abort();
        free(r.data);
        if (spool_pop(s, err, sizeof err) < 0)
            abort();
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t mark[5] = {'m', 'a', 'r', 'k', 0};
    struct spool_record r;
    struct spool *s;
    uint64_t count, popped;
    char err[256];

    if (size < 1)
        return 0;
    clear_dir();
    lay_out(data, size);
    s = open_or_die();
    count = spool_count(s);
    if (data[0] & 4) {
        popped = drain(s, count / 2);
        spool_close(s);
        s = open_or_die();
        if (spool_count(s) != count - popped)
            abort(); /* pops must persist, nothing else may change */
    }
    drain(s, UINT64_MAX);
    if (spool_count(s) != 0)
        abort();
    if (spool_append(s, mark, sizeof mark, 9, 1, err, sizeof err) != 0)
        abort();
    spool_close(s);
    s = open_or_die();
    if (spool_count(s) != 1 || spool_head(s, &r, err, sizeof err) != 1)
        abort();
    if (r.len != sizeof mark || memcmp(r.data, mark, sizeof mark) != 0 ||
        r.spans != 9 || r.type != 1)
        abort();
    free(r.data);
    spool_close(s);
    return 0;
}
