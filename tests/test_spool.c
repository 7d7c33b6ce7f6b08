/* Unit tests of the forwarder's on-disk spool: FIFO order and contents,
 * counters, reopen after a restart (popped records stay popped), a torn
 * tail (cut off, appends continue), a corrupt CRC and a damaged header in
 * the middle (skipped, the records around them kept), damage appearing
 * while open, the size bound (and space coming back when a segment is
 * deleted), segment roll-over and deletion, the directory lock, foreign
 * files, and directory creation. */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "serve/spool.h"

/* ---- helpers */

static size_t count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".spool") != NULL;
    closedir(d);
    return n;
}

static struct spool *open_ok(const char *dir, uint64_t max, uint64_t seg)
{
    char err[256] = "";
    struct spool *s = spool_open(dir, max, seg, err, sizeof err);

    if (!s)
        fail_msg("spool_open %s: %s", dir, err);
    return s;
}

/* Payload i: len bytes of a pattern that depends on i. */
static void fill(uint8_t *buf, size_t len, unsigned i)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(i * 31 + k * 7);
}

static void append_n(struct spool *s, unsigned from, unsigned n, size_t len)
{
    uint8_t buf[4096];
    char err[256];

    assert_true(len <= sizeof buf);
    for (unsigned i = from; i < from + n; i++) {
        fill(buf, len, i);
        assert_int_equal(
            spool_append(s, buf, len, i + 1, (uint8_t)(i % 2), err, sizeof err),
            0);
    }
}

/* The head is record i (as append_n wrote it); pop it. */
static void expect_pop(struct spool *s, unsigned i, size_t len)
{
    struct spool_record r;
    uint8_t want[4096];
    char err[256];

    assert_int_equal(spool_head(s, &r, err, sizeof err), 1);
    assert_int_equal(r.len, len);
    assert_int_equal(r.spans, i + 1);
    assert_int_equal(r.type, i % 2);
    fill(want, len, i);
    assert_memory_equal(r.data, want, len);
    free(r.data);
    assert_int_equal(spool_pop(s, err, sizeof err), 0);
}

static void expect_empty(struct spool *s)
{
    struct spool_record r;
    char err[256];

    assert_int_equal(spool_count(s), 0);
    assert_int_equal(spool_head(s, &r, err, sizeof err), 0);
    assert_int_equal(spool_pop(s, err, sizeof err), -ENOENT);
}

static char *seg_file(const char *dir, unsigned no)
{
    char *p = malloc(strlen(dir) + 32);

    sprintf(p, "%s/%016x.spool", dir, no);
    return p;
}

#define REC(len) (SPOOL_HEADER_BYTES + (len))

/* ---- tests */

static void test_fifo_and_counts(void **state)
{
    char *dir = testlib_temp_dir("spool-test");
    struct spool *s = open_ok(dir, 1 << 20, 0);
    struct spool_stats st;

    (void)state;
    expect_empty(s);
    append_n(s, 0, 5, 100);
    append_n(s, 5, 1, 0); /* an empty payload is a record too */
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 6);
    assert_int_equal(st.spans, 1 + 2 + 3 + 4 + 5 + 6);
    assert_int_equal(st.bytes, 5 * REC(100) + REC(0));
    assert_int_equal(st.disk_bytes, st.bytes);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.damaged_records, 0);
    for (unsigned i = 0; i < 5; i++)
        expect_pop(s, i, 100);
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.bytes, REC(0));
    expect_pop(s, 5, 0);
    expect_empty(s);
    spool_stats_read(s, &st);
    assert_int_equal(st.disk_bytes, 0);
    assert_int_equal(st.segments, 0);
    assert_int_equal(count_segments(dir), 0); /* drained: files deleted */
    spool_close(s);
    testlib_remove_tree(dir);
    free(dir);
}

static void test_reopen_keeps_pops(void **state)
{
    char *dir = testlib_temp_dir("spool-test");
    struct spool *s = open_ok(dir, 1 << 20, 0);
    struct spool_stats st;

    (void)state;
    append_n(s, 0, 5, 300);
    expect_pop(s, 0, 300);
    expect_pop(s, 1, 300);
    spool_close(s);

    s = open_ok(dir, 1 << 20, 0);
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.spans, 3 + 4 + 5);
    assert_int_equal(st.damaged_records, 0);
    append_n(s, 5, 2, 300);
    expect_pop(s, 2, 300);
    spool_close(s);

    s = open_ok(dir, 1 << 20, 0);
    assert_int_equal(spool_count(s), 4);
    for (unsigned i = 3; i < 7; i++)
        expect_pop(s, i, 300);
    expect_empty(s);
    spool_close(s);
    testlib_remove_tree(dir);
    free(dir);
}

/* A crash mid-write leaves part of the last record: it is cut off, the
 * records before it survive and appends continue cleanly behind them. */
static void test_torn_tail(void **state)
{
    char *dir = testlib_temp_dir("spool-test"), *seg = seg_file(dir, 1),
         *seg2 = seg_file(dir, 2);
    struct spool *s = open_ok(dir, 1 << 20, 0);
    struct spool_stats st;
    off_t full;

    (void)state;
    append_n(s, 0, 3, 200);
    spool_close(s);
    full = testlib_file_size(seg);
    assert_int_equal(full, 3 * REC(200));
    assert_int_equal(truncate(seg, full - 7), 0);

    s = open_ok(dir, 1 << 20, 0);
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.damaged_records, 1);
    assert_int_equal(st.damaged_bytes, REC(200) - 7);
    assert_int_equal(testlib_file_size(seg), 2 * REC(200)); /* cut off */
    append_n(s, 10, 1, 50); /* a new run appends to a new segment */
    spool_close(s);
    assert_int_equal(testlib_file_size(seg2), REC(50));

    /* A tail torn inside the header (only 9 bytes of it written). */
    {
        int fd = open(seg2, O_WRONLY | O_APPEND);
        uint8_t junk[9] = {'S', 'S', 'R', '1', 50, 0, 0, 0, 1};
        assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
        close(fd);
    }
    s = open_ok(dir, 1 << 20, 0);
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.damaged_bytes, 9);
    expect_pop(s, 0, 200);
    expect_pop(s, 1, 200);
    expect_pop(s, 10, 50);
    expect_empty(s);
    spool_close(s);
    testlib_remove_tree(dir);
    free(seg);
    free(seg2);
    free(dir);
}

/* Damage in the middle (a flipped payload byte: bad CRC; a smashed header)
 * costs that record only. */
static void test_corrupt_middle(void **state)
{
    char *dir = testlib_temp_dir("spool-test"), *seg = seg_file(dir, 1);
    struct spool *s = open_ok(dir, 1 << 20, 0);
    struct spool_stats st;

    (void)state;
    append_n(s, 0, 5, 100);
    spool_close(s);
    testlib_poke(seg, REC(100) + SPOOL_HEADER_BYTES + 42, 0x01); /* record 1 */
    testlib_poke(seg, 3 * REC(100) + 5, 0x80); /* record 3 len */

    s = open_ok(dir, 1 << 20, 0);
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.damaged_records, 2);
    assert_int_equal(st.damaged_bytes, 2 * REC(100));
    expect_pop(s, 0, 100);
    expect_pop(s, 2, 100);
    expect_pop(s, 4, 100);
    expect_empty(s);
    spool_close(s);
    testlib_remove_tree(dir);
    free(seg);
    free(dir);
}

/* A record damaged on disk after open is skipped when read. */
static void test_corrupt_while_open(void **state)
{
    char *dir = testlib_temp_dir("spool-test"), *seg = seg_file(dir, 1);
    struct spool *s = open_ok(dir, 1 << 20, 0);
    struct spool_stats st;

    (void)state;
    append_n(s, 0, 3, 64);
    testlib_poke(seg, SPOOL_HEADER_BYTES + 10, 0xff); /* record 0's payload */
    expect_pop(s, 1, 64);
    spool_stats_read(s, &st);
    assert_int_equal(st.damaged_records, 1);
    assert_int_equal(st.records, 1);
    expect_pop(s, 2, 64);
    expect_empty(s);
    spool_close(s);
    testlib_remove_tree(dir);
    free(seg);
    free(dir);
}

static void test_bound(void **state)
{
    char *dir = testlib_temp_dir("spool-test");
    struct spool *s = open_ok(dir, 4096, 0);
    uint8_t big[5000] = {0};
    char err[256];

    (void)state;
    append_n(s, 0, 4, 1000); /* 4 * 1020 = 4080 <= 4096 */
    assert_int_equal(spool_append(s, big, 1000, 1, 0, err, sizeof err),
                     -ENOSPC);
    assert_int_equal(spool_append(s, big, 0, 1, 0, err, sizeof err), -ENOSPC);
    assert_int_equal(spool_append(s, big, sizeof big, 1, 0, err, sizeof err),
                     -EFBIG);
    assert_int_equal(spool_count(s), 4);
    /* Space comes back when the segment's records are all popped. */
    for (unsigned i = 0; i < 3; i++)
        expect_pop(s, i, 1000);
    assert_int_equal(spool_append(s, big, 0, 1, 0, err, sizeof err), -ENOSPC);
    expect_pop(s, 3, 1000);
    append_n(s, 20, 4, 1000);
    assert_int_equal(spool_count(s), 4);
    spool_close(s);
    testlib_remove_tree(dir);
    free(dir);
}

/* Several segments: roll-over, deletion of consumed ones, and the bound
 * counting popped records until their segment goes. */
static void test_segments(void **state)
{
    char *dir = testlib_temp_dir("spool-test");
    struct spool *s = open_ok(dir, 8192, 4096);
    struct spool_stats st;
    uint8_t buf[1000] = {0};
    char err[256];

    (void)state;
    append_n(s, 0, 8, 1000); /* 4 per 4 KiB segment */
    spool_stats_read(s, &st);
    assert_int_equal(st.segments, 2);
    assert_int_equal(count_segments(dir), 2);
    assert_int_equal(spool_append(s, buf, 1000, 1, 0, err, sizeof err),
                     -ENOSPC);
    expect_pop(s, 0, 1000);
    assert_int_equal(spool_append(s, buf, 1000, 1, 0, err, sizeof err),
                     -ENOSPC); /* popped, but its segment remains */
    for (unsigned i = 1; i < 4; i++)
        expect_pop(s, i, 1000);
    assert_int_equal(count_segments(dir), 1);
    append_n(s, 8, 4, 1000);
    spool_close(s);

    s = open_ok(dir, 8192, 4096);
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 8);
    assert_int_equal(st.segments, 2);
    for (unsigned i = 4; i < 12; i++)
        expect_pop(s, i, 1000);
    expect_empty(s);
    assert_int_equal(count_segments(dir), 0);
    spool_close(s);
    testlib_remove_tree(dir);
    free(dir);
}

/* One owner at a time; foreign files are left alone; the directory (and
 * its parents) are created; a file in the way is an error. */
static void test_dir_lock_and_foreign_files(void **state)
{
    char *dir = testlib_temp_dir("spool-test"), sub[512], other[600],
         err[256] = "";
    struct spool *s, *s2;
    FILE *fp;

    (void)state;
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    s = open_ok(sub, 1 << 20, 0);
    s2 = spool_open(sub, 1 << 20, 0, err, sizeof err);
    assert_null(s2);
    assert_non_null(strstr(err, "in use"));
    append_n(s, 0, 2, 10);
    spool_close(s);

    snprintf(other, sizeof other, "%s/notes.txt", sub);
    fp = fopen(other, "w");
    fputs("hello", fp);
    fclose(fp);
    snprintf(other, sizeof other, "%s/00000000000000zz.spool", sub);
    fp = fopen(other, "w");
    fputs("SSR1 garbage", fp);
    fclose(fp);
    s = open_ok(sub, 1 << 20, 0);
    assert_int_equal(spool_count(s), 2);
    expect_pop(s, 0, 10);
    expect_pop(s, 1, 10);
    spool_close(s);
    assert_int_equal(access(other, F_OK), 0);

    snprintf(other, sizeof other, "%s/notes.txt/x", sub);
    err[0] = '\0';
    assert_null(spool_open(other, 1 << 20, 0, err, sizeof err));
    assert_true(err[0] != '\0');
    testlib_remove_tree(dir);
    free(dir);
}

/* A segment of nothing but garbage and an empty segment file: no records,
 * damage counted, files of no use deleted, appends work. */
static void test_garbage_segment(void **state)
{
    char *dir = testlib_temp_dir("spool-test"), *seg1 = seg_file(dir, 1),
         *seg2 = seg_file(dir, 2);
    struct spool_stats st;
    struct spool *s;
    uint8_t junk[777];
    FILE *fp;

    (void)state;
    fill(junk, sizeof junk, 3);
    fp = fopen(seg1, "w");
    fwrite(junk, 1, sizeof junk, fp);
    fclose(fp);
    fp = fopen(seg2, "w");
    fclose(fp);
    s = open_ok(dir, 1 << 20, 0);
    spool_stats_read(s, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.damaged_bytes, sizeof junk);
    assert_int_equal(count_segments(dir), 0);
    append_n(s, 0, 1, 10);
    spool_close(s);
    s = open_ok(dir, 1 << 20, 0);
    expect_pop(s, 0, 10);
    expect_empty(s);
    spool_close(s);
    testlib_remove_tree(dir);
    free(seg1);
    free(seg2);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_counts),
        cmocka_unit_test(test_reopen_keeps_pops),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_corrupt_while_open),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_dir_lock_and_foreign_files),
        cmocka_unit_test(test_garbage_segment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
