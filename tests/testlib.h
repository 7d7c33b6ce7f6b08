/* testlib: small helpers shared by the cmocka test programs. */
#ifndef SKEWSCOPE_TESTLIB_H
#define SKEWSCOPE_TESTLIB_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* cmocka's assert_float_equal compares in single precision: use this. */
#define NEAR(a, b, tol)                                                        \
    do {                                                                       \
        double na_ = (a), nb_ = (b);                                           \
        if (!(fabs(na_ - nb_) <= (tol)))                                       \
            fail_msg("%s = %.17g, want %.17g (tol %g)", #a, na_, nb_,          \
                     (double)(tol));                                           \
    } while (0)

/* CMOCKA_ONLY=PATTERN runs only the tests whose names match (cmocka's
 * wildcards * and ?), CMOCKA_SKIP=PATTERN skips those that match: how the
 * ThreadSanitizer run (make TSAN=1 tsan-check) picks its cases. Set
 * before main() runs. */
__attribute__((constructor)) static void testlib_filters(void)
{
    const char *only = getenv("CMOCKA_ONLY"), *skip = getenv("CMOCKA_SKIP");

    if (only && *only)
        cmocka_set_test_filter(only);
    if (skip && *skip)
        cmocka_set_skip_filter(skip);
}

/* Write `len` bytes to a new temporary file; returns its malloc'd path. */
static inline char *testlib_write_temp(const void *data, size_t len)
{
    char *path = strdup("/tmp/skewscope-test-XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static inline char *testlib_write_temp_str(const char *s)
{
    return testlib_write_temp(s, strlen(s));
}

/* path's size in bytes (the test fails when it cannot be read). */
static inline off_t testlib_file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Flip the bits of xor_mask in the byte at off of path: a corruption at a
 * chosen place, for the readers of checksummed files. */
static inline void testlib_poke(const char *path, off_t off, uint8_t xor_mask)
{
    int fd = open(path, O_RDWR);
    uint8_t b;

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= xor_mask;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

/* A new directory /tmp/skewscope-<what>-XXXXXX; returns its malloc'd path. */
static inline char *testlib_temp_dir(const char *what)
{
    char *d = malloc(strlen(what) + 32);

    assert_non_null(d);
    sprintf(d, "/tmp/skewscope-%s-XXXXXX", what);
    assert_non_null(mkdtemp(d));
    return d;
}

/* rm -r: a directory of files and subdirectories. */
static inline void testlib_remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
            (int)sizeof path)
            continue;
        if (unlink(path) < 0)
            testlib_remove_tree(path);
    }
    closedir(d);
    rmdir(dir);
}

#endif
