/* Unit tests of serve's write-ahead log: append and replay (contents,
 * order, counts), done marks that persist, segment reclaim as records
 * become done, a process killed mid-stream (fork + _exit: nothing closed,
 * the page cache keeps what was written), a torn tail and a CRC error
 * (tolerated, counted, the other records replayed), the directory lock,
 * concurrent appenders sharing one fsync (group commit), and a disk whose
 * fsync fails (every waiting and later append refused, nothing of them
 * kept). */
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "serve/segment.h"
#include "serve/wal.h"

#define REC(len) (SEGMENT_HEADER_BYTES + (len))

/* ---- helpers */

static size_t count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".wal") != NULL;
    closedir(d);
    return n;
}

/* Without preallocation (file sizes are what the records make them),
 * unless a test says otherwise. */
static struct wal *open_ok(const char *dir, uint64_t seg_bytes)
{
    struct wal_config cfg = {
        .dir = dir, .segment_bytes = seg_bytes, .no_preallocate = true};
    char err[256] = "";
    struct wal *w = wal_open(&cfg, err, sizeof err);

    if (!w)
        fail_msg("wal_open %s: %s", dir, err);
    return w;
}

/* Payload i: len_of(i) bytes of a pattern that depends on i. */
static size_t len_of(unsigned i)
{
    return 50 + (i * 37) % 300;
}

static void fill(uint8_t *buf, size_t len, unsigned i)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(i * 31 + k * 7);
}

static struct wal_rec *append_one(struct wal *w, unsigned i)
{
    uint8_t buf[400];
    struct wal_rec *r;
    char err[256];

    fill(buf, len_of(i), i);
    assert_int_equal(wal_append(w, buf, len_of(i), i + 1, (uint8_t)(i % 3), &r,
                                err, sizeof err),
                     0);
    assert_non_null(r);
    return r;
}

/* The next replayed record is i (as append_one wrote it); returns its
 * token. */
static struct wal_rec *expect_replay(struct wal *w, unsigned i)
{
    struct wal_record rec;
    uint8_t want[400];
    char err[256];

    assert_int_equal(wal_replay_next(w, &rec, err, sizeof err), 1);
    assert_int_equal(rec.len, len_of(i));
    assert_int_equal(rec.spans, i + 1);
    assert_int_equal(rec.type, i % 3);
    fill(want, rec.len, i);
    assert_memory_equal(rec.data, want, rec.len);
    free(rec.data);
    return rec.rec;
}

static void expect_no_replay(struct wal *w)
{
    struct wal_record rec;
    char err[256];

    assert_int_equal(wal_replay_next(w, &rec, err, sizeof err), 0);
}

static char *seg_file(const char *dir, unsigned no)
{
    char *p = malloc(strlen(dir) + 32);

    sprintf(p, "%s/%016x.wal", dir, no);
    return p;
}

/* ---- tests */

/* Records not done survive a close and come back in order with their
 * contents; done ones do not; replayed records can be done in turn. */
static void test_append_replay_done(void **state)
{
    char *dir = testlib_temp_dir("wal-test");
    struct wal_rec *r[10];
    struct wal_stats st;
    struct wal *w = open_ok(dir, 0);

    (void)state;
    expect_no_replay(w);
    for (unsigned i = 0; i < 10; i++)
        r[i] = append_one(w, i);
    wal_stats_read(w, &st);
    assert_int_equal(st.appended_records, 10);
    assert_int_equal(st.live_records_now, 10);
    assert_int_equal(st.live_spans_now, 55);
    assert_true(st.fsyncs >= 1 && st.fsyncs <= 10);
    for (unsigned i = 0; i < 10; i += 2)
        wal_done(r[i]); /* out of order is fine */
    wal_stats_read(w, &st);
    assert_int_equal(st.live_records_now, 5);
    assert_int_equal(st.done_records, 5);
    wal_close(w);

    w = open_ok(dir, 0);
    wal_stats_read(w, &st);
    assert_int_equal(st.replay_records, 5);
    assert_int_equal(st.replay_spans, 2 + 4 + 6 + 8 + 10);
    assert_int_equal(st.damaged_records, 0);
    for (unsigned i = 1; i < 10; i += 2)
        r[i] = expect_replay(w, i);
    expect_no_replay(w);
    r[0] = append_one(w, 100); /* new appends go to a new segment */
    assert_int_equal(count_segments(dir), 2);
    for (unsigned i = 1; i < 10; i += 2)
        wal_done(r[i]);
    assert_int_equal(count_segments(dir), 1); /* the old one is reclaimed */
    wal_close(w);

    w = open_ok(dir, 0);
    r[0] = expect_replay(w, 100);
    expect_no_replay(w);
    wal_done(r[0]);
    wal_close(w);
    assert_int_equal(count_segments(dir), 0); /* all done: nothing left */
    testlib_remove_tree(dir);
    free(dir);
}

/* Small segments: a full segment is deleted once all its records are done
 * (in any order), the active one only once it is full or closed. */
static void test_reclaim(void **state)
{
    char *dir = testlib_temp_dir("wal-test");
    struct wal *w = open_ok(dir, 4096);
    struct wal_rec *r[60];
    struct wal_stats st;
    size_t segs;

    (void)state;
    for (unsigned i = 0; i < 60; i++)
        r[i] = append_one(w, i);
    segs = count_segments(dir);
    assert_true(segs >= 4);
    wal_stats_read(w, &st);
    assert_int_equal(st.segments_now, segs);
    /* done from the newest back: the segments wholly done go at once */
    for (unsigned i = 59; i >= 30; i--)
        wal_done(r[i]);
    assert_true(count_segments(dir) < segs);
    for (unsigned i = 0; i < 30; i++)
        wal_done(r[i]);
    assert_int_equal(count_segments(dir), 1); /* the active segment */
    wal_stats_read(w, &st);
    assert_int_equal(st.live_records_now, 0);
    assert_int_equal(st.segments_now, 1);
    wal_close(w);
    assert_int_equal(count_segments(dir), 0);
    testlib_remove_tree(dir);
    free(dir);
}

/* kill -9 stand-in: a child appends 40 records, marks every third done,
 * and _exits without closing anything. The parent finds exactly the
 * others. */
static void test_killed_process(void **state)
{
    char *dir = testlib_temp_dir("wal-test");
    struct wal_rec *r;
    struct wal *w;
    pid_t pid;
    int st;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        w = open_ok(dir, 4096);
        for (unsigned i = 0; i < 40; i++) {
            r = append_one(w, i);
            if (i % 3 == 0)
                wal_done(r);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    w = open_ok(dir, 4096);
    for (unsigned i = 0; i < 40; i++)
        if (i % 3 != 0)
            wal_done(expect_replay(w, i));
    expect_no_replay(w);
    wal_close(w);
    assert_int_equal(count_segments(dir), 0);
    testlib_remove_tree(dir);
    free(dir);
}

/* no_fsync: appends return after the write, no fsync at all; what they
 * wrote still survives the process dying (the page cache keeps it). */
static void test_no_fsync_survives_kill(void **state)
{
    char *dir = testlib_temp_dir("wal-test");
    struct wal_config cfg = {.dir = dir, .no_fsync = true};
    struct wal_stats st;
    char err[256];
    struct wal *w;
    pid_t pid;
    int status;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        w = wal_open(&cfg, err, sizeof err);
        if (!w)
            _exit(1);
        for (unsigned i = 0; i < 20; i++)
            append_one(w, i);
        wal_stats_read(w, &st);
        _exit(st.fsyncs == 0 && st.appended_records == 20 ? 0 : 2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    w = open_ok(dir, 0);
    for (unsigned i = 0; i < 20; i++)
        wal_done(expect_replay(w, i));
    expect_no_replay(w);
    wal_close(w);
    testlib_remove_tree(dir);
    free(dir);
}

/* A crash mid-write leaves part of the last record: cut off, counted, the
 * records before it replayed; a flipped payload byte (CRC) or a smashed
 * header costs that record only. */
static void test_torn_tail_and_crc(void **state)
{
    char *dir = testlib_temp_dir("wal-test"), *seg = seg_file(dir, 1);
    struct wal *w = open_ok(dir, 0);
    struct wal_stats st;
    off_t full, off3 = 0;

    (void)state;
    for (unsigned i = 0; i < 6; i++)
        append_one(w, i); /* never done */
    wal_close(w);
    full = testlib_file_size(seg);
    for (unsigned i = 0; i < 3; i++)
        off3 += REC(len_of(i));
    assert_int_equal(truncate(seg, full - 7), 0); /* record 5 torn */
    testlib_poke(seg, REC(len_of(0)) + SEGMENT_HEADER_BYTES + 3,
                 0x10);                /* 1: CRC */
    testlib_poke(seg, off3 + 5, 0x80); /* record 3: length */

    w = open_ok(dir, 0);
    wal_stats_read(w, &st);
    assert_int_equal(st.replay_records, 3);
    assert_int_equal(st.damaged_records, 3);
    assert_int_equal(st.damaged_bytes,
                     REC(len_of(1)) + REC(len_of(3)) + REC(len_of(5)) - 7);
    assert_int_equal(testlib_file_size(seg),
                     full - REC(len_of(5))); /* cut off */
    wal_done(expect_replay(w, 0));
    wal_done(expect_replay(w, 2));
    wal_done(expect_replay(w, 4));
    expect_no_replay(w);
    wal_close(w);
    assert_int_equal(count_segments(dir), 0);
    testlib_remove_tree(dir);
    free(seg);
    free(dir);
}

/* Damage that appears after open is found at replay: skipped, counted. */
static void test_damage_at_replay(void **state)
{
    char *dir = testlib_temp_dir("wal-test"), *seg = seg_file(dir, 1);
    struct wal *w = open_ok(dir, 0);
    struct wal_stats st;

    (void)state;
    for (unsigned i = 0; i < 3; i++)
        append_one(w, i);
    wal_close(w);
    w = open_ok(dir, 0);
    testlib_poke(seg, REC(len_of(0)) + SEGMENT_HEADER_BYTES + 1, 0x01);
    wal_done(expect_replay(w, 0));
    wal_done(expect_replay(w, 2));
    expect_no_replay(w);
    wal_stats_read(w, &st);
    assert_int_equal(st.damaged_records, 1);
    assert_int_equal(st.live_records_now, 0);
    wal_close(w);
    testlib_remove_tree(dir);
    free(seg);
    free(dir);
}

static void test_lock_and_limits(void **state)
{
    char *dir = testlib_temp_dir("wal-test"), sub[512], err[256] = "";
    struct wal_config cfg = {.dir = sub};
    struct wal_rec *r = (struct wal_rec *)&cfg;
    struct wal *w, *w2;

    (void)state;
    snprintf(sub, sizeof sub, "%s/a/b", dir); /* parents are created */
    w = open_ok(sub, 0);
    w2 = wal_open(&cfg, err, sizeof err);
    assert_null(w2);
    assert_non_null(strstr(err, "in use"));
    assert_int_equal(wal_append(w, "x", (size_t)SEGMENT_MAX_RECORD + 1, 1, 0,
                                &r, err, sizeof err),
                     -EFBIG);
    assert_null(r);
    wal_close(w);
    cfg.dir = "";
    assert_null(wal_open(&cfg, err, sizeof err));
    testlib_remove_tree(dir);
    free(dir);
}

/* Preallocated segments: the next one is zero-filled ahead (spare.tmp),
 * appends overwrite its zeros, the zero tail is free space at the next
 * open (not damage); the spare goes at close. */
static void test_preallocated(void **state)
{
    char *dir = testlib_temp_dir("wal-test"), *seg1 = seg_file(dir, 1),
         *seg2 = seg_file(dir, 2), spare[600];
    struct wal_config cfg = {.dir = dir, .segment_bytes = 4096};
    struct wal_rec *r[30];
    struct wal_stats st;
    char err[256];
    struct wal *w = wal_open(&cfg, err, sizeof err);
    off_t used = 0;

    (void)state;
    assert_non_null(w);
    snprintf(spare, sizeof spare, "%s/spare.tmp", dir);
    assert_int_equal(testlib_file_size(spare),
                     4096); /* ready before any append */
    for (unsigned i = 0; i < 3; i++) {
        r[i] = append_one(w, i);
        used += REC(len_of(i));
    }
    assert_int_equal(testlib_file_size(seg1), 4096); /* the spare, renamed */
    for (unsigned i = 3; i < 30; i++)
        r[i] = append_one(w, i); /* over 4 KiB: a second segment */
    assert_int_equal(access(seg2, F_OK), 0);
    wal_stats_read(w, &st);
    assert_true(st.disk_bytes_now < 2 * 4096);
    for (unsigned i = 0; i < 30; i += 2)
        wal_done(r[i]);
    wal_close(w);
    assert_int_equal(access(spare, F_OK), -1); /* removed at close */

    w = open_ok(dir, 4096);
    wal_stats_read(w, &st);
    assert_int_equal(st.damaged_records, 0); /* zeros are free space */
    assert_int_equal(st.damaged_bytes, 0);
    assert_int_equal(st.replay_records, 15);
    for (unsigned i = 1; i < 30; i += 2)
        wal_done(expect_replay(w, i));
    expect_no_replay(w);
    wal_close(w);
    assert_int_equal(count_segments(dir), 0);
    assert_true(used > 0);
    testlib_remove_tree(dir);
    free(seg1);
    free(seg2);
    free(dir);
}

/* Group commit: 8 threads append 25 records each at once; every append
 * returns only once its record is on disk, and the fsyncs are shared
 * (fewer than the records). All 200 come back after a reopen. */
struct appender {
    struct wal *w;
    unsigned base;
    struct wal_rec *r[25];
};

static void *appender_run(void *arg)
{
    struct appender *a = arg;

    for (unsigned i = 0; i < 25; i++)
        a->r[i] = append_one(a->w, a->base + i);
    return NULL;
}

static void test_concurrent_group_commit(void **state)
{
    char *dir = testlib_temp_dir("wal-test");
    struct wal_config cfg = {
        .dir = dir, .group_delay_us = 2000, .segment_bytes = 1 << 20};
    struct appender a[8];
    pthread_t th[8];
    struct wal_stats st;
    char err[256];
    struct wal *w = wal_open(&cfg, err, sizeof err);
    bool seen[8 * 25] = {0};
    struct wal_record rec;
    unsigned n = 0;

    (void)state;
    assert_non_null(w);
    for (unsigned t = 0; t < 8; t++) {
        a[t] = (struct appender){.w = w, .base = t * 25};
        assert_int_equal(pthread_create(&th[t], NULL, appender_run, &a[t]), 0);
    }
    for (unsigned t = 0; t < 8; t++)
        pthread_join(th[t], NULL);
    wal_stats_read(w, &st);
    print_message("200 appends from 8 threads: %llu fsyncs\n",
                  (unsigned long long)st.fsyncs);
    assert_int_equal(st.appended_records, 200);
    assert_int_equal(st.live_records_now, 200);
    assert_true(st.fsyncs < 200 / 2); /* shared: > 2 records per fsync */
    /* done half of them from two threads at once */
    for (unsigned t = 0; t < 8; t += 2)
        for (unsigned i = 0; i < 25; i++)
            wal_done(a[t].r[i]);
    wal_close(w);

    w = open_ok(dir, 0);
    while (wal_replay_next(w, &rec, err, sizeof err) == 1) {
        unsigned i = rec.spans - 1;
        uint8_t want[400];
        assert_true(i < 200 && !seen[i] && (i / 25) % 2 == 1);
        assert_int_equal(rec.len, len_of(i));
        fill(want, rec.len, i);
        assert_memory_equal(rec.data, want, rec.len);
        seen[i] = true;
        free(rec.data);
        wal_done(rec.rec);
        n++;
    }
    assert_int_equal(n, 100);
    wal_close(w);
    testlib_remove_tree(dir);
    free(dir);
}

/* Asynchronous appends: the callback comes once the record is on disk,
 * from the log's own thread, fsyncs shared with other records; wal_close
 * runs the callbacks still due; what was not done is replayed. */
struct async_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned calls, failures;
    struct wal_rec *rec[200];
};

static void on_synced(void *ctx, struct wal_rec *rec, int status)
{
    struct async_log *l = ctx;

    pthread_mutex_lock(&l->mu);
    if (status == 0 && l->calls < 200)
        l->rec[l->calls] = rec;
    l->failures += status != 0;
    l->calls++;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void append_async_n(struct wal *w, struct async_log *l, unsigned from,
                           unsigned n)
{
    uint8_t buf[400];
    char err[256];

    for (unsigned i = from; i < from + n; i++) {
        fill(buf, len_of(i), i);
        assert_int_equal(wal_append_async(w, buf, len_of(i), i + 1,
                                          (uint8_t)(i % 3), on_synced, l, err,
                                          sizeof err),
                         0);
    }
}

static void test_async(void **state)
{
    char *dir = testlib_temp_dir("wal-test");
    struct wal_config cfg = {.dir = dir, .segment_bytes = 1 << 20};
    struct async_log *l = calloc(1, sizeof *l);
    struct wal_stats st;
    char err[256];
    struct wal *w = wal_open(&cfg, err, sizeof err);

    (void)state;
    assert_non_null(w);
    assert_non_null(l);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    append_async_n(w, l, 0, 100); /* nobody waits: one thread writes */
    pthread_mutex_lock(&l->mu);
    while (l->calls < 100)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    wal_stats_read(w, &st);
    print_message("100 asynchronous appends: %llu fsyncs\n",
                  (unsigned long long)st.fsyncs);
    assert_int_equal(l->failures, 0);
    assert_true(st.fsyncs >= 1 && st.fsyncs < 100); /* shared */
    for (unsigned i = 0; i < 100; i++)
        wal_done(l->rec[i]);
    append_async_n(w, l, 100, 10);
    wal_close(w); /* runs the 10 callbacks due */
    assert_int_equal(l->calls, 110);
    w = open_ok(dir, 0);
    for (unsigned i = 100; i < 110; i++)
        wal_done(expect_replay(w, i)); /* in log order */
    expect_no_replay(w);
    wal_close(w);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
    testlib_remove_tree(dir);
    free(dir);
}

/* ---- a disk whose fsync fails */

static atomic_int fsync_calls;
static atomic_bool fsync_fails, fsync_held;

static int flaky_fsync(int fd)
{
    atomic_fetch_add(&fsync_calls, 1);
    while (atomic_load(&fsync_held)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&fsync_fails)) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

/* Once an fsync fails, no append is acknowledged: the asynchronous ones
 * waiting for it get -EIO in their callback, later ones (either kind) are
 * refused at once, and none of them is replayed by the next open; the
 * records acknowledged before the failure are. */
static void test_fsync_fails(void **state)
{
    char *dir = testlib_temp_dir("wal-test");
    struct wal_config cfg = {
        .dir = dir, .no_preallocate = true, .fsync_fn = flaky_fsync};
    struct async_log *l = calloc(1, sizeof *l);
    struct wal_stats st;
    struct wal_rec *r;
    uint8_t buf[400];
    char err[256];
    struct wal *w = wal_open(&cfg, err, sizeof err);

    (void)state;
    assert_non_null(w);
    assert_non_null(l);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    append_one(w, 0); /* acknowledged: on disk */
    assert_true(atomic_load(&fsync_calls) >= 1);
    atomic_store(&fsync_fails, true);
    /* all 5 written before the failing fsync returns: they wait for it
     * (or for the next round, which the failure cancels) */
    atomic_store(&fsync_held, true);
    append_async_n(w, l, 1, 5);
    atomic_store(&fsync_held, false);
    pthread_mutex_lock(&l->mu);
    while (l->calls < 5)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    assert_int_equal(l->failures, 5);
    fill(buf, len_of(6), 6);
    assert_int_equal(wal_append(w, buf, len_of(6), 7, 0, &r, err, sizeof err),
                     -EIO);
    assert_null(r);
    assert_int_equal(wal_append_async(w, buf, len_of(6), 7, 0, on_synced, l,
                                      err, sizeof err),
                     -EIO);
    wal_stats_read(w, &st);
    assert_int_equal(st.append_errors, 7);
    assert_int_equal(st.live_records_now, 1);
    wal_close(w);
    atomic_store(&fsync_fails, false);
    w = open_ok(dir, 0);
    wal_done(expect_replay(w, 0));
    expect_no_replay(w);
    wal_close(w);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
    testlib_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_replay_done),
        cmocka_unit_test(test_reclaim),
        cmocka_unit_test(test_killed_process),
        cmocka_unit_test(test_no_fsync_survives_kill),
        cmocka_unit_test(test_torn_tail_and_crc),
        cmocka_unit_test(test_damage_at_replay),
        cmocka_unit_test(test_lock_and_limits),
        cmocka_unit_test(test_preallocated),
        cmocka_unit_test(test_concurrent_group_commit),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_fsync_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
