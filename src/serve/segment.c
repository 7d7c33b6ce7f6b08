/* segment: the record format and segment files of serve's spool and
 * write-ahead log. See segment.h for the format and the damage rule. */
#include "serve/segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include "util/log.h"

#define SEG_NAME_DIGITS 16
#define SCAN_CHUNK (64u << 10)

/* ---- small helpers ---- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* CRC of the header's bytes 4..15 (length, spans, type, reserved). */
static uLong hdr_crc(const uint8_t h[SEGMENT_HEADER_BYTES])
{
    return crc32(crc32(0L, Z_NULL, 0), h + 4, 12);
}

/* Whether the 20 bytes at h form a plausible header; fills *out. */
static bool decode_hdr(const uint8_t h[SEGMENT_HEADER_BYTES],
                       struct segment_hdr *out)
{
    out->magic = get32(h);
    out->len = get32(h + 4);
    out->spans = get32(h + 8);
    out->type = h[12];
    out->crc = get32(h + 16);
    return (out->magic == SEGMENT_MAGIC_LIVE ||
            out->magic == SEGMENT_MAGIC_DONE) &&
           h[13] == 0 && h[14] == 0 && h[15] == 0 &&
           out->len <= SEGMENT_MAX_RECORD;
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;

    while (n > 0) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -ENODATA; /* end of file */
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* ---- directory ---- */

/* mkdir -p. Returns 0 or -errno. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof path)
        return -ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -errno;
        path[i] = c;
    }
    return 0;
}

static int lock_dir(struct segment_dir *d, const char *lock_name, char *err,
                    size_t errlen)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/%s", d->path, lock_name);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0) {
        snprintf(err, errlen, "%s %s: %s", d->what, path, strerror(errno));
        return -1;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "%s %s: in use by another process (%s)", d->what,
                 d->path, strerror(errno));
        return -1;
    }
    return 0;
}

int segment_dir_open(struct segment_dir *d, const char *path, const char *what,
                     const char *suffix, const char *lock_name, char *err,
                     size_t errlen)
{
    int rc;

    *d = (struct segment_dir){
        .what = what, .suffix = suffix, .lock_fd = -1, .dir_fd = -1};
    if (!(d->path = strdup(path))) {
        snprintf(err, errlen, "%s %s: out of memory", what, path);
        return -1;
    }
    if ((rc = make_dirs(path)) < 0) {
        snprintf(err, errlen, "%s %s: cannot create: %s", what, path,
                 strerror(-rc));
        goto fail;
    }
    d->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->dir_fd < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (lock_dir(d, lock_name, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    segment_dir_close(d);
    return -1;
}

void segment_dir_close(struct segment_dir *d)
{
    if (d->dir_fd >= 0) {
        fsync(d->dir_fd);
        close(d->dir_fd);
    }
    if (d->lock_fd >= 0)
        close(d->lock_fd); /* releases the flock */
    free(d->path);
    d->path = NULL;
    d->dir_fd = d->lock_fd = -1;
}

int segment_dir_sync(const struct segment_dir *d)
{
    return fsync(d->dir_fd) < 0 ? -errno : 0;
}

void segment_path(const struct segment_dir *d, uint64_t no, char *buf,
                  size_t buflen)
{
    snprintf(buf, buflen, "%s/%016" PRIx64 "%s", d->path, no, d->suffix);
}

/* "0123456789abcdef<suffix>" -> its number. */
static bool parse_name(const char *name, const char *suffix, uint64_t *no)
{
    uint64_t v = 0;

    if (strlen(name) != SEG_NAME_DIGITS + strlen(suffix) ||
        strcmp(name + SEG_NAME_DIGITS, suffix) != 0)
        return false;
    for (int i = 0; i < SEG_NAME_DIGITS; i++) {
        char c = name[i];
        int x = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (x < 0)
            return false;
        v = v << 4 | (uint64_t)x;
    }
    *no = v;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int segment_dir_list(const struct segment_dir *d, uint64_t **nos, size_t *n,
                     char *err, size_t errlen)
{
    DIR *dir = opendir(d->path);
    struct dirent *e;
    uint64_t no, *v = NULL, *q;
    size_t cnt = 0, cap = 0;

    *nos = NULL;
    *n = 0;
    if (!dir) {
        snprintf(err, errlen, "%s %s: %s", d->what, d->path, strerror(errno));
        return -1;
    }
    while ((e = readdir(dir)) != NULL) {
        if (!parse_name(e->d_name, d->suffix, &no))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            if (!(q = realloc(v, cap * sizeof *v))) {
                closedir(dir);
                free(v);
                snprintf(err, errlen, "%s %s: out of memory", d->what, d->path);
                return -1;
            }
            v = q;
        }
        v[cnt++] = no;
    }
    closedir(dir);
    if (cnt > 1)
        qsort(v, cnt, sizeof *v, cmp_u64);
    *nos = v;
    *n = cnt;
    return 0;
}

int segment_open(const struct segment_dir *d, uint64_t no, int flags)
{
    char path[PATH_MAX];
    int fd;

    segment_path(d, no, path, sizeof path);
    fd = open(path, flags | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}

void segment_remove(const struct segment_dir *d, uint64_t no)
{
    char path[PATH_MAX];

    segment_path(d, no, path, sizeof path);
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("%s: cannot delete %s: %s", d->what, path, strerror(errno));
}

/* ---- records ---- */

void segment_encode(uint8_t hdr[SEGMENT_HEADER_BYTES], const void *data,
                    uint32_t len, uint32_t spans, uint8_t type)
{
    memset(hdr, 0, SEGMENT_HEADER_BYTES);
    put32(hdr, SEGMENT_MAGIC_LIVE);
    put32(hdr + 4, len);
    put32(hdr + 8, spans);
    hdr[12] = type;
    put32(hdr + 16, (uint32_t)crc32(hdr_crc(hdr), data, (uInt)len));
}

int segment_write(int fd, uint64_t off, const uint8_t *hdr, const void *data,
                  size_t len)
{
    struct iovec iov[2] = {{(void *)(uintptr_t)hdr, SEGMENT_HEADER_BYTES},
                           {(void *)(uintptr_t)data, len}};
    uint64_t want = SEGMENT_HEADER_BYTES + (uint64_t)len, done = 0;

    while (done < want) {
        ssize_t k = pwritev(fd, iov, 2, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        done += (uint64_t)k;
        for (int i = 0; i < 2 && k > 0; i++) {
            size_t step =
                (size_t)k < iov[i].iov_len ? (size_t)k : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + step;
            iov[i].iov_len -= step;
            k -= (ssize_t)step;
        }
    }
    return 0;
}

int segment_read(int fd, uint64_t off, const struct segment_hdr *want,
                 void *data)
{
    uint8_t raw[SEGMENT_HEADER_BYTES];
    struct segment_hdr h;
    int rc;

    if ((rc = pread_full(fd, raw, sizeof raw, off)) < 0 ||
        (rc = pread_full(fd, data, want->len, off + SEGMENT_HEADER_BYTES)) < 0)
        return rc == -ENODATA ? 0 : rc; /* the file got shorter */
    if (!decode_hdr(raw, &h) || h.magic != SEGMENT_MAGIC_LIVE ||
        h.len != want->len || h.spans != want->spans || h.type != want->type)
        return 0;
    return crc32(hdr_crc(raw), data, (uInt)want->len) == h.crc;
}

int segment_mark_done(int fd, uint64_t off)
{
    uint8_t magic[4];

    put32(magic, SEGMENT_MAGIC_DONE);
    for (;;) {
        ssize_t k = pwrite(fd, magic, sizeof magic, (off_t)off);
        if (k == (ssize_t)sizeof magic)
            return 0;
        if (k < 0 && errno == EINTR)
            continue;
        return k < 0 ? -errno : -EIO;
    }
}

/* ---- scanning ---- */

/* Whether a valid record starts at off of a file of size bytes. Returns 1
 * (and *h), 0 when not, -errno on a read error. buf: SCAN_CHUNK bytes. */
static int valid_at(int fd, uint64_t off, uint64_t size, uint8_t *buf,
                    struct segment_hdr *h)
{
    uint8_t raw[SEGMENT_HEADER_BYTES];
    uint64_t pos, end;
    uLong crc;
    int rc;

    if (size - off < SEGMENT_HEADER_BYTES)
        return 0;
    if ((rc = pread_full(fd, raw, sizeof raw, off)) < 0)
        return rc;
    if (!decode_hdr(raw, h) || h->len > size - off - SEGMENT_HEADER_BYTES)
        return 0;
    crc = hdr_crc(raw);
    end = off + SEGMENT_HEADER_BYTES + h->len;
    for (pos = off + SEGMENT_HEADER_BYTES; pos < end;) {
        size_t n = end - pos < SCAN_CHUNK ? (size_t)(end - pos) : SCAN_CHUNK;
        if ((rc = pread_full(fd, buf, n, pos)) < 0)
            return rc;
        crc = crc32(crc, buf, (uInt)n);
        pos += n;
    }
    return crc == h->crc;
}

/* The first offset >= from where a valid record starts, or size. */
static int64_t resync(int fd, uint64_t from, uint64_t size, uint8_t *buf)
{
    uint8_t win[SCAN_CHUNK + 3];
    struct segment_hdr h;

    while (from + SEGMENT_HEADER_BYTES <= size) {
        size_t n =
            size - from < sizeof win ? (size_t)(size - from) : sizeof win;
        int rc = pread_full(fd, win, n, from);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i + 4 <= n; i++) {
            if (win[i] != 'S' || win[i + 1] != 'S' || win[i + 2] != 'R' ||
                (win[i + 3] != '1' && win[i + 3] != '0'))
                continue;
            rc = valid_at(fd, from + i, size, buf, &h);
            if (rc != 0)
                return rc < 0 ? rc : (int64_t)(from + i);
        }
        from += n - 3;
    }
    return (int64_t)size;
}

void segment_report_damage(const struct segment_dir *d, uint64_t no,
                           uint64_t off, uint64_t end, bool cut,
                           struct segment_scan_result *acc)
{
    log_warn("%s %s: segment %016" PRIx64 "%s: %s %" PRIu64
             " damaged byte(s) at byte %" PRIu64,
             d->what, d->path, no, d->suffix, cut ? "cut off" : "skipped",
             end - off, off);
    acc->damaged_bytes += end - off;
    acc->damaged_records++;
}

/* Whether bytes [from, to) of fd are all zero: 1, 0, or -errno. */
static int all_zero(int fd, uint64_t from, uint64_t to, uint8_t *buf)
{
    while (from < to) {
        size_t n = to - from < SCAN_CHUNK ? (size_t)(to - from) : SCAN_CHUNK;
        int rc = pread_full(fd, buf, n, from);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (buf[i])
                return 0;
        from += n;
    }
    return 1;
}

static int scan_fd(const struct segment_dir *d, uint64_t no, int fd,
                   bool cut_tail, segment_record_fn fn, void *ctx, uint8_t *buf,
                   struct segment_scan_result *r)
{
    uint64_t off = 0;
    struct segment_hdr h;

    while (off < r->size) {
        int rc = valid_at(fd, off, r->size, buf, &h);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if ((rc = fn(ctx, off, &h)) < 0)
                return rc;
            off += SEGMENT_HEADER_BYTES + (uint64_t)h.len;
            continue;
        }
        int64_t next = resync(fd, off + 1, r->size, buf);
        if (next < 0)
            return (int)next;
        if ((uint64_t)next == r->size &&
            (rc = all_zero(fd, off, r->size, buf)) != 0) {
            r->end = off; /* preallocated space, not damage */
            return rc < 0 ? rc : 0;
        }
        bool cut = cut_tail && (uint64_t)next == r->size;
        segment_report_damage(d, no, off, (uint64_t)next, cut, r);
        if (cut) {
            if (ftruncate(fd, (off_t)off) < 0)
                return -errno;
            r->size = off;
        }
        off = (uint64_t)next;
    }
    r->end = r->size;
    return 0;
}

int segment_scan(const struct segment_dir *d, uint64_t no, int fd,
                 bool cut_tail, segment_record_fn fn, void *ctx,
                 struct segment_scan_result *out)
{
    struct stat sb;
    uint8_t *buf;
    int rc;

    *out = (struct segment_scan_result){0};
    if (fstat(fd, &sb) < 0)
        return -errno;
    out->size = (uint64_t)sb.st_size;
    if (!(buf = malloc(SCAN_CHUNK)))
        return -ENOMEM;
    rc = scan_fd(d, no, fd, cut_tail, fn, ctx, buf, out);
    free(buf);
    return rc;
}
