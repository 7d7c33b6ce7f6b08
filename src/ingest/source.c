/* source: file or stdin, with gzip inflated on the fly. A small look-ahead
 * buffer serves source_peek() for format detection. */
#include "ingest/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define RAW_CHUNK (256 * 1024)
#define PEEK_MAX 65536

struct source {
    int fd;
    bool owns_fd;
    const unsigned char *mem; /* source_open_memory(): read from here */
    size_t mem_len, mem_pos;
    bool gzip;
    bool raw_eof;
    bool failed;
    bool data_error;   /* the failure is in the data (gzip), not the I/O */
    bool member_open;  /* inside a gzip member: its end not seen yet */
    uint64_t consumed; /* bytes handed out by source_read() */
    uint64_t gz_done;  /* compressed bytes of the members before this one */
    uint64_t lines, line_start; /* newlines source_skip_space() ate */
    char *name;
    z_stream z;
    unsigned char *raw;  /* compressed input buffer (gzip only) */
    unsigned char *peek; /* look-ahead of decompressed bytes */
    size_t peek_len, peek_pos;
    char error[256];
};

static ssize_t read_fd(struct source *src, void *buf, size_t n)
{
    if (src->mem) {
        size_t k = src->mem_len - src->mem_pos;
        k = k < n ? k : n;
        memcpy(buf, src->mem + src->mem_pos, k);
        src->mem_pos += k;
        return (ssize_t)k;
    }
    for (;;) {
        ssize_t r = read(src->fd, buf, n);
        if (r >= 0)
            return r;
        if (errno != EINTR) {
            snprintf(src->error, sizeof(src->error), "%s: read: %s", src->name,
                     strerror(errno));
            src->failed = true;
            return -1;
        }
    }
}

static ssize_t gzip_fail(struct source *src, const char *why)
{
    snprintf(src->error, sizeof(src->error),
             "%s: gzip: byte %llu of the compressed stream: %s", src->name,
             (unsigned long long)(src->gz_done + src->z.total_in), why);
    src->failed = true;
    src->data_error = true;
    return -1;
}

/* Inflate into buf; handles concatenated gzip members. A stream that ends
 * inside a member, or bytes after the last member that do not start
 * another one, are corrupt data: a silent short read would drop spans. */
static ssize_t read_gzip(struct source *src, unsigned char *buf, size_t n)
{
    if (n > UINT32_MAX / 2)
        n = UINT32_MAX / 2;
    src->z.next_out = buf;
    src->z.avail_out = (uInt)n;
    while (src->z.avail_out == n) {
        if (src->z.avail_in == 0 && !src->raw_eof) {
            ssize_t r = read_fd(src, src->raw, RAW_CHUNK);
            if (r < 0)
                return -1;
            src->raw_eof = r == 0;
            src->z.next_in = src->raw;
            src->z.avail_in = (uInt)r;
        }
        if (src->z.avail_in == 0 && src->raw_eof) {
            if (src->member_open)
                return gzip_fail(src, "truncated (the input ends inside "
                                      "the compressed data)");
            break;
        }
        if (!src->member_open && src->z.avail_in > 0) {
            /* A new member must start here, with the gzip magic. */
            if (src->z.next_in[0] != 0x1f ||
                (src->z.avail_in > 1 && src->z.next_in[1] != 0x8b))
                return gzip_fail(src, "trailing bytes after the gzip data");
            src->member_open = true;
        }
        int rc = inflate(&src->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            src->gz_done += src->z.total_in; /* inflateReset zeroes it */
            inflateReset(&src->z);
            src->member_open = false;
        } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && src->z.avail_in == 0)) {
            return gzip_fail(src, src->z.msg ? src->z.msg : "corrupt data");
        }
    }
    return (ssize_t)(n - src->z.avail_out);
}

static ssize_t read_stream(struct source *src, void *buf, size_t n)
{
    if (src->failed)
        return -1;
    return src->gzip ? read_gzip(src, buf, n) : read_fd(src, buf, n);
}

/* Fill the look-ahead with up to n bytes; returns bytes held or -1. */
static ssize_t fill_peek(struct source *src, size_t n)
{
    if (src->peek_pos > 0) {
        memmove(src->peek, src->peek + src->peek_pos,
                src->peek_len - src->peek_pos);
        src->peek_len -= src->peek_pos;
        src->peek_pos = 0;
    }
    while (src->peek_len < n) {
        ssize_t r =
            read_stream(src, src->peek + src->peek_len, n - src->peek_len);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        src->peek_len += (size_t)r;
    }
    return (ssize_t)src->peek_len;
}

/* Detect gzip from the first two raw bytes, which stay in src->raw. At most
 * PEEK_MAX bytes are read here, so plain data fits the look-ahead. */
static int detect_gzip(struct source *src)
{
    size_t got = 0;

    while (got < 2) {
        ssize_t r = read_fd(src, src->raw + got, PEEK_MAX - got);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    src->z.next_in = src->raw;
    src->z.avail_in = (uInt)got;
    if (got >= 2 && src->raw[0] == 0x1f && src->raw[1] == 0x8b) {
        src->gzip = true;
        if (inflateInit2(&src->z, 16 + MAX_WBITS) != Z_OK)
            return -1;
        return 0;
    }
    /* Plain data: hand the bytes read so far to the look-ahead. */
    memcpy(src->peek, src->raw, got);
    src->peek_len = got;
    src->z.avail_in = 0;
    src->raw_eof = got == 0;
    return 0;
}

struct source *source_open(const char *path, char *err, size_t errlen)
{
    struct source *src = calloc(1, sizeof(*src));

    if (!src)
        goto nomem;
    src->name = strdup(strcmp(path, "-") == 0 ? "<stdin>" : path);
    src->raw = malloc(RAW_CHUNK);
    src->peek = malloc(PEEK_MAX);
    if (!src->name || !src->raw || !src->peek)
        goto nomem;
    if (strcmp(path, "-") == 0) {
        src->fd = STDIN_FILENO;
    } else {
        src->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (src->fd < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        src->owns_fd = true;
        posix_fadvise(src->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    if (detect_gzip(src) < 0) {
        snprintf(err, errlen, "%s",
                 src->error[0] ? src->error : "cannot start gzip decoder");
        goto fail;
    }
    return src;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    source_close(src);
    return NULL;
}

struct source *source_open_memory(const void *data, size_t len,
                                  const char *name, char *err, size_t errlen)
{
    struct source *src = calloc(1, sizeof(*src));

    if (!src)
        goto nomem;
    src->fd = -1;
    src->mem = data ? data : (const unsigned char *)"";
    src->mem_len = data ? len : 0;
    src->name = strdup(name);
    src->raw = malloc(RAW_CHUNK);
    src->peek = malloc(PEEK_MAX);
    if (!src->name || !src->raw || !src->peek)
        goto nomem;
    if (detect_gzip(src) < 0) {
        snprintf(err, errlen, "%s",
                 src->error[0] ? src->error : "cannot start gzip decoder");
        goto fail;
    }
    return src;
nomem:
    snprintf(err, errlen, "%s: out of memory", name);
fail:
    source_close(src);
    return NULL;
}

ssize_t source_read(struct source *src, void *buf, size_t n)
{
    ssize_t r;

    if (src->peek_pos < src->peek_len) {
        size_t k = src->peek_len - src->peek_pos;
        if (k > n)
            k = n;
        memcpy(buf, src->peek + src->peek_pos, k);
        src->peek_pos += k;
        src->consumed += k;
        return (ssize_t)k;
    }
    r = read_stream(src, buf, n);
    if (r > 0)
        src->consumed += (uint64_t)r;
    return r;
}

ssize_t source_peek(struct source *src, const unsigned char **data, size_t n)
{
    if (n > PEEK_MAX)
        n = PEEK_MAX;
    ssize_t r = fill_peek(src, n);
    *data = src->peek;
    return r < 0 ? -1 : (ssize_t)((size_t)r < n ? (size_t)r : n);
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int source_skip_space(struct source *src)
{
    for (;;) {
        const unsigned char *d;
        ssize_t n = source_peek(src, &d, PEEK_MAX);
        size_t i = 0;

        if (n < 0)
            return -1;
        if (src->consumed == 0 && n >= 3 && d[0] == 0xef && d[1] == 0xbb &&
            d[2] == 0xbf)
            i = 3;
        for (; i < (size_t)n && is_space(d[i]); i++)
            if (d[i] == '\n') {
                src->lines++;
                src->line_start = src->consumed + i + 1;
            }
        src->peek_pos += i;
        src->consumed += i;
        if (i < (size_t)n || n == 0)
            return 0;
    }
}

void source_position(const struct source *src, uint64_t *offset,
                     uint64_t *lines, uint64_t *line_start)
{
    *offset = src->consumed;
    *lines = src->lines;
    *line_start = src->line_start;
}

bool source_error_is_data(const struct source *src)
{
    return src->data_error;
}

const char *source_name(const struct source *src)
{
    return src->name;
}

const char *source_error(const struct source *src)
{
    return src->error;
}

bool source_is_gzip(const struct source *src)
{
    return src->gzip;
}

void source_close(struct source *src)
{
    if (!src)
        return;
    if (src->gzip)
        inflateEnd(&src->z);
    if (src->owns_fd)
        close(src->fd);
    free(src->name);
    free(src->raw);
    free(src->peek);
    free(src);
}
