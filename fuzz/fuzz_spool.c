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
#define FUZZ_SEGMENT_SUFFIX "spool"
#include "fuzz_segment_dir.h"

#include "serve/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
