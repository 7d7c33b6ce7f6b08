/* spool: the forwarder's on-disk FIFO (segment files of CRC-checked
 * records). See spool.h for the format and the contracts.
 *
 * In memory the spool keeps an index of its live records (segment number,
 * offset, length, spans, type: one entry per batch) and the list of its
 * segment files, oldest first. Every listed segment holds at least one live
 * record, except for a moment while the newest is being created, so the
 * head record is always in the first segment. Two descriptors stay open:
 * the newest segment's (appends) and the oldest's (reads, pop marks). */
#include "serve/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include "util/log.h"

#define SEG_SUFFIX ".spool"
#define SEG_NAME_DIGITS 16
#define SEG_MIN_BYTES (4u << 10)
#define SEG_MAX_BYTES (64u << 20)
#define SCAN_CHUNK (64u << 10)

struct seg {
    uint64_t no;   /* sequence number (file name) */
    uint64_t size; /* bytes in the file */
    uint64_t live; /* live records in it */
};

struct rec {
    uint64_t seg; /* segment number */
    uint64_t off; /* of the record header in the segment */
    uint32_t len, spans;
    uint8_t type;
};

struct spool {
    char *dir;
    int lock_fd, dir_fd;
    uint64_t max_bytes, segment_bytes;
    struct seg *segs; /* oldest first */
    size_t nsegs, segcap;
    struct rec *recs; /* live records: recs[rhead .. nrecs) */
    size_t rhead, nrecs, reccap;
    uint64_t next_no;  /* for the next segment file */
    uint64_t first_no; /* first segment of this session (appendable) */
    int wfd;           /* newest segment, when open for appending */
    uint64_t wfd_no;
    int rfd; /* oldest segment, when open for reading */
    uint64_t rfd_no;
    struct spool_stats st;
    uint8_t *scan_buf; /* SCAN_CHUNK bytes, during spool_open */
};

struct hdr {
    uint32_t magic, len, spans, crc;
    uint8_t type;
};

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

static void encode_hdr(uint8_t out[SPOOL_HEADER_BYTES], uint32_t magic,
                       uint32_t len, uint32_t spans, uint8_t type)
{
    memset(out, 0, SPOOL_HEADER_BYTES);
    put32(out, magic);
    put32(out + 4, len);
    put32(out + 8, spans);
    out[12] = type;
}

/* CRC of the header's bytes 4..15 (length, spans, type, reserved). */
static uLong hdr_crc(const uint8_t h[SPOOL_HEADER_BYTES])
{
    return crc32(crc32(0L, Z_NULL, 0), h + 4, 12);
}

/* Whether the 20 bytes at h form a plausible header; fills *out. */
static bool decode_hdr(const uint8_t h[SPOOL_HEADER_BYTES], struct hdr *out)
{
    out->magic = get32(h);
    out->len = get32(h + 4);
    out->spans = get32(h + 8);
    out->type = h[12];
    out->crc = get32(h + 16);
    return (out->magic == SPOOL_MAGIC_LIVE || out->magic == SPOOL_MAGIC_DONE) &&
           h[13] == 0 && h[14] == 0 && h[15] == 0 &&
           out->len <= SPOOL_MAX_RECORD;
}

static void seg_path(const struct spool *s, uint64_t no, char *buf,
                     size_t buflen)
{
    snprintf(buf, buflen, "%s/%016" PRIx64 SEG_SUFFIX, s->dir, no);
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

static int pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;

    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
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

static int lock_dir(struct spool *s, char *err, size_t errlen)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/LOCK", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        snprintf(err, errlen, "spool %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen,
                 "spool %s: in use by another process or forwarder (%s)",
                 s->dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* "0123456789abcdef.spool" -> its number. */
static bool parse_seg_name(const char *name, uint64_t *no)
{
    uint64_t v = 0;

    if (strlen(name) != SEG_NAME_DIGITS + strlen(SEG_SUFFIX) ||
        strcmp(name + SEG_NAME_DIGITS, SEG_SUFFIX) != 0)
        return false;
    for (int i = 0; i < SEG_NAME_DIGITS; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *no = v;
    return true;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 8;
    void *q;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static int add_seg(struct spool *s, uint64_t no, uint64_t size)
{
    if (grow((void **)&s->segs, &s->segcap, s->nsegs + 1, sizeof *s->segs) < 0)
        return -ENOMEM;
    s->segs[s->nsegs++] = (struct seg){.no = no, .size = size};
    return 0;
}

static int cmp_seg(const void *a, const void *b)
{
    uint64_t x = ((const struct seg *)a)->no, y = ((const struct seg *)b)->no;

    return x < y ? -1 : x > y;
}

static int list_segments(struct spool *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    uint64_t no;

    if (!d) {
        snprintf(err, errlen, "spool %s: %s", s->dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (!parse_seg_name(e->d_name, &no))
            continue;
        if (add_seg(s, no, 0) < 0) {
            closedir(d);
            snprintf(err, errlen, "spool %s: out of memory", s->dir);
            return -1;
        }
    }
    closedir(d);
    if (s->nsegs > 1)
        qsort(s->segs, s->nsegs, sizeof *s->segs, cmp_seg);
    s->next_no = s->nsegs ? s->segs[s->nsegs - 1].no + 1 : 1;
    s->first_no = s->next_no;
    return 0;
}

/* ---- the record index ---- */

static int index_push(struct spool *s, const struct rec *r)
{
    if (s->rhead > 0 && s->nrecs == s->reccap && s->rhead >= s->nrecs / 2) {
        memmove(s->recs, s->recs + s->rhead,
                (s->nrecs - s->rhead) * sizeof *s->recs);
        s->nrecs -= s->rhead;
        s->rhead = 0;
    }
    if (grow((void **)&s->recs, &s->reccap, s->nrecs + 1, sizeof *s->recs) < 0)
        return -ENOMEM;
    s->recs[s->nrecs++] = *r;
    s->st.records++;
    s->st.spans += r->spans;
    s->st.bytes += SPOOL_HEADER_BYTES + (uint64_t)r->len;
    return 0;
}

/* Close the descriptors on segment no; fsync it first when it stays. */
static void close_fd_of(struct spool *s, uint64_t no, bool sync)
{
    if (s->wfd >= 0 && s->wfd_no == no) {
        if (sync)
            fsync(s->wfd);
        close(s->wfd);
        s->wfd = -1;
    }
    if (s->rfd >= 0 && s->rfd_no == no) {
        close(s->rfd);
        s->rfd = -1;
    }
}

/* Delete segment i (its file and its entry). */
static void drop_seg(struct spool *s, size_t i)
{
    char path[PATH_MAX];

    close_fd_of(s, s->segs[i].no, false);
    seg_path(s, s->segs[i].no, path, sizeof path);
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("spool: cannot delete %s: %s", path, strerror(errno));
    s->st.disk_bytes -= s->segs[i].size;
    memmove(s->segs + i, s->segs + i + 1, (s->nsegs - i - 1) * sizeof *s->segs);
    s->nsegs--;
}

/* ---- scanning at open ---- */

/* Whether a valid record starts at off of a segment of size bytes. Returns
 * 1 (and *h), 0 when not, -errno on a read error. */
static int valid_at(struct spool *s, int fd, uint64_t off, uint64_t size,
                    struct hdr *h)
{
    uint8_t raw[SPOOL_HEADER_BYTES];
    uint64_t pos, end;
    uLong crc;
    int rc;

    if (size - off < SPOOL_HEADER_BYTES)
        return 0;
    if ((rc = pread_full(fd, raw, sizeof raw, off)) < 0)
        return rc;
    if (!decode_hdr(raw, h) || h->len > size - off - SPOOL_HEADER_BYTES)
        return 0;
    crc = hdr_crc(raw);
    end = off + SPOOL_HEADER_BYTES + h->len;
    for (pos = off + SPOOL_HEADER_BYTES; pos < end;) {
        size_t n = end - pos < SCAN_CHUNK ? (size_t)(end - pos) : SCAN_CHUNK;
        if ((rc = pread_full(fd, s->scan_buf, n, pos)) < 0)
            return rc;
        crc = crc32(crc, s->scan_buf, (uInt)n);
        pos += n;
    }
    return crc == h->crc;
}

/* The first offset >= from where a valid record starts, or size. */
static int64_t resync(struct spool *s, int fd, uint64_t from, uint64_t size)
{
    uint8_t win[SCAN_CHUNK + 3];
    struct hdr h;

    while (from + SPOOL_HEADER_BYTES <= size) {
        size_t n =
            size - from < sizeof win ? (size_t)(size - from) : sizeof win;
        int rc = pread_full(fd, win, n, from);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i + 4 <= n; i++) {
            if (win[i] != 'S' || win[i + 1] != 'S' || win[i + 2] != 'R' ||
                (win[i + 3] != '1' && win[i + 3] != '0'))
                continue;
            rc = valid_at(s, fd, from + i, size, &h);
            if (rc != 0)
                return rc < 0 ? rc : (int64_t)(from + i);
        }
        from += n - 3;
    }
    return (int64_t)size;
}

static void report_damage(struct spool *s, uint64_t no, uint64_t off,
                          uint64_t end, bool cut)
{
    log_warn("spool %s: segment %016" PRIx64 SEG_SUFFIX ": %s %" PRIu64
             " damaged byte(s) at byte %" PRIu64,
             s->dir, no, cut ? "cut off" : "skipped", end - off, off);
    s->st.damaged_bytes += end - off;
    s->st.damaged_records++;
}

/* Index the live records of segment g (open as fd); cut a damaged tail of
 * the newest. Returns 0 or -errno. */
static int scan_fd(struct spool *s, struct seg *g, int fd, bool newest)
{
    uint64_t off = 0;
    struct hdr h;

    while (off < g->size) {
        int rc = valid_at(s, fd, off, g->size, &h);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            struct rec r = {g->no, off, h.len, h.spans, h.type};
            if (h.magic == SPOOL_MAGIC_LIVE) {
                if (index_push(s, &r) < 0)
                    return -ENOMEM;
                g->live++;
            }
            off += SPOOL_HEADER_BYTES + (uint64_t)h.len;
            continue;
        }
        int64_t next = resync(s, fd, off + 1, g->size);
        if (next < 0)
            return (int)next;
        bool cut = newest && (uint64_t)next == g->size;
        report_damage(s, g->no, off, (uint64_t)next, cut);
        if (cut) {
            if (ftruncate(fd, (off_t)off) < 0)
                return -errno;
            g->size = off;
        }
        off = (uint64_t)next;
    }
    return 0;
}

static int scan_segment(struct spool *s, struct seg *g, bool newest, char *err,
                        size_t errlen)
{
    char path[PATH_MAX];
    struct stat sb;
    int fd, rc = 0;

    seg_path(s, g->no, path, sizeof path);
    fd = open(path, (newest ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        rc = -errno;
        goto out;
    }
    g->size = (uint64_t)sb.st_size;
    rc = scan_fd(s, g, fd, newest);
out:
    if (rc < 0)
        snprintf(err, errlen, "spool %s: %s", path, strerror(-rc));
    if (fd >= 0)
        close(fd);
    return rc;
}

static int scan_all(struct spool *s, char *err, size_t errlen)
{
    s->scan_buf = malloc(SCAN_CHUNK);
    if (!s->scan_buf) {
        snprintf(err, errlen, "spool %s: out of memory", s->dir);
        return -1;
    }
    for (size_t i = 0; i < s->nsegs; i++) {
        if (scan_segment(s, &s->segs[i], i + 1 == s->nsegs, err, errlen) < 0)
            return -1;
        s->st.disk_bytes += s->segs[i].size;
    }
    free(s->scan_buf);
    s->scan_buf = NULL;
    /* Segments without live records have nothing left to say. */
    for (size_t i = s->nsegs; i-- > 0;)
        if (s->segs[i].live == 0)
            drop_seg(s, i);
    return 0;
}

/* ---- open / close ---- */

static uint64_t pick_segment_bytes(uint64_t max_bytes, uint64_t want)
{
    if (want)
        return want < SEG_MIN_BYTES ? SEG_MIN_BYTES : want;
    want = max_bytes / 8;
    if (want < SEG_MIN_BYTES)
        return SEG_MIN_BYTES;
    return want > SEG_MAX_BYTES ? SEG_MAX_BYTES : want;
}

struct spool *spool_open(const char *dir, uint64_t max_bytes,
                         uint64_t segment_bytes, char *err, size_t errlen)
{
    struct spool *s = calloc(1, sizeof *s);
    int rc;

    if (!s || !(s->dir = strdup(dir))) {
        snprintf(err, errlen, "spool %s: out of memory", dir);
        goto fail;
    }
    s->lock_fd = s->dir_fd = s->wfd = s->rfd = -1;
    s->max_bytes = max_bytes;
    s->segment_bytes = pick_segment_bytes(max_bytes, segment_bytes);
    if ((rc = make_dirs(dir)) < 0) {
        snprintf(err, errlen, "spool %s: cannot create: %s", dir,
                 strerror(-rc));
        goto fail;
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        snprintf(err, errlen, "spool %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (lock_dir(s, err, errlen) < 0 || list_segments(s, err, errlen) < 0 ||
        scan_all(s, err, errlen) < 0)
        goto fail;
    return s;
fail:
    spool_close(s);
    return NULL;
}

void spool_close(struct spool *s)
{
    if (!s)
        return;
    if (s->wfd >= 0) {
        fsync(s->wfd);
        close(s->wfd);
    }
    if (s->rfd >= 0)
        close(s->rfd);
    if (s->dir_fd >= 0) {
        fsync(s->dir_fd);
        close(s->dir_fd);
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s->scan_buf);
    free(s->segs);
    free(s->recs);
    free(s->dir);
    free(s);
}

/* ---- append ---- */

static struct seg *newest(struct spool *s)
{
    return s->nsegs ? &s->segs[s->nsegs - 1] : NULL;
}

/* Make sure the newest segment is open for appending and has room for
 * rec_bytes (or is empty). Returns 0 or -errno. */
static int ready_tail(struct spool *s, uint64_t rec_bytes)
{
    struct seg *t = newest(s);
    char path[PATH_MAX];

    /* Roll over to a new segment when this one is full, and never append
     * to a segment of an earlier run (it may end in skipped damage). */
    if (t && (t->no < s->first_no ||
              (t->size > 0 && t->size + rec_bytes > s->segment_bytes))) {
        close_fd_of(s, t->no, true);
        t = NULL;
    }
    if (t && s->wfd >= 0 && s->wfd_no == t->no)
        return 0;
    if (!t) {
        if (add_seg(s, s->next_no++, 0) < 0)
            return -ENOMEM;
        t = newest(s);
    }
    seg_path(s, t->no, path, sizeof path);
    s->wfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->wfd < 0)
        return -errno;
    s->wfd_no = t->no;
    if (t->size == 0)
        fsync(s->dir_fd); /* the new name survives a crash */
    return 0;
}

static int write_record(struct spool *s, const uint8_t *hdr, const void *data,
                        size_t len)
{
    struct seg *t = newest(s);
    struct iovec iov[2] = {{(void *)(uintptr_t)hdr, SPOOL_HEADER_BYTES},
                           {(void *)(uintptr_t)data, len}};
    uint64_t off = t->size, want = SPOOL_HEADER_BYTES + (uint64_t)len;
    uint64_t done = 0;

    while (done < want) {
        ssize_t k = pwritev(s->wfd, iov, 2, (off_t)(off + done));
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

/* Undo a failed append: cut the file back; forget an empty new segment. */
static void undo_append(struct spool *s)
{
    struct seg *t = newest(s);

    if (!t)
        return;
    if (s->wfd >= 0 && s->wfd_no == t->no &&
        ftruncate(s->wfd, (off_t)t->size) < 0)
        log_warn("spool %s: cannot cut back a failed write: %s", s->dir,
                 strerror(errno));
    if (t->live == 0)
        drop_seg(s, s->nsegs - 1);
}

int spool_append(struct spool *s, const void *data, size_t len, uint32_t spans,
                 uint8_t type, char *err, size_t errlen)
{
    uint8_t hdr[SPOOL_HEADER_BYTES];
    uint64_t rec_bytes = SPOOL_HEADER_BYTES + (uint64_t)len;
    struct rec r;
    int rc;

    if (len > SPOOL_MAX_RECORD || rec_bytes > s->max_bytes)
        return -EFBIG;
    if (s->st.disk_bytes + rec_bytes > s->max_bytes)
        return -ENOSPC;
    encode_hdr(hdr, SPOOL_MAGIC_LIVE, (uint32_t)len, spans, type);
    put32(hdr + 16, (uint32_t)crc32(hdr_crc(hdr), data, (uInt)len));
    if ((rc = ready_tail(s, rec_bytes)) < 0 ||
        (rc = write_record(s, hdr, data, len)) < 0)
        goto fail;
    r = (struct rec){newest(s)->no, newest(s)->size, (uint32_t)len, spans,
                     type};
    if ((rc = index_push(s, &r)) < 0) {
        /* Not indexed: mark it popped so a restart does not replay it
         * behind records appended later. */
        put32(hdr, SPOOL_MAGIC_DONE);
        pwrite_full(s->wfd, hdr, 4, r.off);
        goto fail_noundo;
    }
    newest(s)->size += rec_bytes;
    newest(s)->live++;
    s->st.disk_bytes += rec_bytes;
    return 0;
fail:
    undo_append(s);
fail_noundo:
    snprintf(err, errlen, "spool %s: append: %s", s->dir, strerror(-rc));
    return rc == -ENOMEM ? -ENOMEM : -EIO;
}

/* ---- read / pop ---- */

uint64_t spool_count(const struct spool *s)
{
    return s->nrecs - s->rhead;
}

/* A descriptor on segment no (the oldest, which holds the head record). */
static int head_fd(struct spool *s, uint64_t no)
{
    char path[PATH_MAX];

    if (s->wfd >= 0 && s->wfd_no == no)
        return s->wfd;
    if (s->rfd >= 0 && s->rfd_no == no)
        return s->rfd;
    if (s->rfd >= 0)
        close(s->rfd);
    seg_path(s, no, path, sizeof path);
    s->rfd = open(path, O_RDWR | O_CLOEXEC);
    s->rfd_no = no;
    return s->rfd < 0 ? -errno : s->rfd;
}

/* Read and check the head record. 1 = ok, 0 = damaged, -errno. */
static int read_head(struct spool *s, const struct rec *r, uint8_t *data)
{
    uint8_t raw[SPOOL_HEADER_BYTES];
    struct hdr h;
    int fd = head_fd(s, r->seg), rc;

    if (fd < 0)
        return fd == -ENOENT ? 0 : fd;
    if ((rc = pread_full(fd, raw, sizeof raw, r->off)) < 0 ||
        (rc = pread_full(fd, data, r->len, r->off + SPOOL_HEADER_BYTES)) < 0)
        return rc == -ENODATA ? 0 : rc; /* the file got shorter */
    if (!decode_hdr(raw, &h) || h.magic != SPOOL_MAGIC_LIVE ||
        h.len != r->len || h.spans != r->spans || h.type != r->type)
        return 0;
    return crc32(hdr_crc(raw), data, (uInt)r->len) == h.crc;
}

int spool_head(struct spool *s, struct spool_record *out, char *err,
               size_t errlen)
{
    while (spool_count(s) > 0) {
        const struct rec *r = &s->recs[s->rhead];
        uint8_t *data = malloc(r->len ? r->len : 1);
        int rc;

        if (!data) {
            snprintf(err, errlen, "spool %s: out of memory", s->dir);
            return -ENOMEM;
        }
        rc = read_head(s, r, data);
        if (rc == 1) {
            *out = (struct spool_record){data, r->len, r->spans, r->type};
            return 1;
        }
        free(data);
        if (rc < 0) {
            snprintf(err, errlen, "spool %s: read: %s", s->dir, strerror(-rc));
            return -EIO;
        }
        report_damage(s, r->seg, r->off, r->off + SPOOL_HEADER_BYTES + r->len,
                      false);
        if (spool_pop(s, err, errlen) < 0)
            return -EIO;
    }
    return 0;
}

/* Index of segment no in s->segs (0 unless the invariant broke). */
static size_t find_seg(const struct spool *s, uint64_t no)
{
    size_t i = 0;

    while (i + 1 < s->nsegs && s->segs[i].no != no)
        i++;
    return i;
}

int spool_pop(struct spool *s, char *err, size_t errlen)
{
    struct rec r;
    uint8_t magic[4];
    size_t i;
    int fd, rc = 0;

    if (spool_count(s) == 0)
        return -ENOENT;
    r = s->recs[s->rhead];
    s->rhead++;
    s->st.records--;
    s->st.spans -= r.spans;
    s->st.bytes -= SPOOL_HEADER_BYTES + (uint64_t)r.len;
    if (s->rhead == s->nrecs)
        s->rhead = s->nrecs = 0;
    if (s->nsegs == 0)
        return 0; /* cannot happen: a live record has a segment */
    i = find_seg(s, r.seg);
    if (s->segs[i].live > 0 && --s->segs[i].live == 0) {
        drop_seg(s, i); /* nothing to mark: the file is gone */
        return 0;
    }
    put32(magic, SPOOL_MAGIC_DONE);
    if ((fd = head_fd(s, r.seg)) < 0 ||
        (rc = pwrite_full(fd, magic, 4, r.off)) < 0) {
        snprintf(err, errlen, "spool %s: cannot mark a record sent: %s", s->dir,
                 strerror(fd < 0 ? -fd : -rc));
        return -EIO;
    }
    return 0;
}

void spool_stats_read(const struct spool *s, struct spool_stats *out)
{
    *out = s->st;
    out->segments = s->nsegs;
}
