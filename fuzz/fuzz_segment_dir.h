/* fuzz_segment_dir: what the targets over serve/segment.c's record files
 * share (fuzz_wal, fuzz_spool): a private directory (tmpfs when there is
 * one: the stores fsync), removed at exit, and the layout that turns an
 * input into the directory's segment files:
 *   byte 0       bits 0-1: segment files - 1 (1..4)
 *   then for each segment file but the last, its size (u16, little endian,
 *   clamped to what is left); the rest is the last file.
 * Files are named %016x.<suffix>, numbered from 1. A target defines
 * FUZZ_SEGMENT_SUFFIX ("wal", "spool") and includes this file once. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[64];

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[sizeof dir + 1 + sizeof e->d_name];

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
    snprintf(dir, sizeof dir,
             "/dev/shm/skewscope-fuzz-" FUZZ_SEGMENT_SUFFIX "-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir,
                 "/tmp/skewscope-fuzz-" FUZZ_SEGMENT_SUFFIX "-XXXXXX");
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

    snprintf(path, sizeof path, "%s/%016x." FUZZ_SEGMENT_SUFFIX, dir, no);
    f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n))
        abort();
    fclose(f);
}

/* Empty the directory and write the input's segment files. size >= 1. */
static void lay_out(const uint8_t *data, size_t size)
{
    unsigned nseg = (data[0] & 3) + 1;
    size_t pos = 1 + 2 * (nseg - 1);
    const uint8_t *sizes = data + 1;

    clear_dir();
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
