/* testlib: small helpers shared by the cmocka test programs. */
#ifndef SKEWSCOPE_TESTLIB_H
#define SKEWSCOPE_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

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

#endif
