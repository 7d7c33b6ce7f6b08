/* collect_fs: the file helpers the samplers share (sampler.h): paths
 * under the collector's root, whole small files, and files read again
 * every round through one descriptor (pread from offset 0: procfs and
 * sysfs print the text afresh, without an open() per round). */
#include "collect/sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/collect_private.h"

bool collect_path(const struct collect_src *src, char *buf, size_t len,
                  const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(buf, len, "%s", src->c->root), m;

    if (n < 0 || (size_t)n >= len)
        return false;
    va_start(ap, fmt);
    m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
    va_end(ap);
    return m >= 0 && (size_t)m < len - (size_t)n;
}

int collect_file_open(const struct collect_src *src, struct collect_file *f,
                      const char *rel)
{
    size_t n = strlen(src->c->root) + strlen(rel) + 1;

    memset(f, 0, sizeof(*f));
    f->fd = -1;
    if (!(f->path = malloc(n)))
        return -1;
    snprintf(f->path, n, "%s%s", src->c->root, rel);
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;

        free(f->path);
        f->path = NULL;
        errno = e;
        return -1;
    }
    return 0;
}

static ssize_t read_all(struct collect_file *f)
{
    size_t len = 0;

    for (;;) {
        ssize_t r;

        if (len + 4096 > f->cap) {
            size_t nc = f->cap ? 2 * f->cap : 16384;
            char *q = realloc(f->buf, nc);

            if (!q) {
                errno = ENOMEM;
                return -1;
            }
            f->buf = q;
            f->cap = nc;
        }
        r = pread(f->fd, f->buf + len, f->cap - len - 1, (off_t)len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        len += (size_t)r;
    }
    f->buf[len] = 0;
    return (ssize_t)len;
}

ssize_t collect_file_read(struct collect_file *f)
{
    ssize_t r;

    if (!f->path)
        return -1;
    if (f->fd >= 0 && (r = read_all(f)) >= 0)
        return r;
    /* The file was replaced (a device came back) or the read failed:
     * once more through a fresh descriptor. */
    if (f->fd >= 0)
        close(f->fd);
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return -1;
    return read_all(f);
}

void collect_file_close(struct collect_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f->buf);
    memset(f, 0, sizeof(*f));
    f->fd = -1;
}

ssize_t collect_read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    do
        n = read(fd, buf, len - 1);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    buf[n] = 0;
    return n;
}

bool collect_read_double(const char *path, double *v)
{
    char buf[64], *end;

    if (collect_read_text(path, buf, sizeof buf) <= 0)
        return false;
    errno = 0;
    *v = strtod(buf, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    return end != buf && *end == 0 && errno == 0;
}

bool collect_parse_u64(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    *p = s;
    return true;
}
