/* spool: the forwarder's on-disk FIFO (segment files of CRC-checked
 * records, serve/segment.h). See spool.h for the contracts.
 *
 * In memory the spool keeps an index of its live records (segment number,
 * offset, length, spans, type: one entry per batch) and the list of its
 * segment files, oldest first. Every listed segment holds at least one live
 * record, except for a moment while the newest is being created, so the
 * head record is always in the first segment. Two descriptors stay open:
 * the newest segment's (appends) and the oldest's (reads, pop marks). */
#include "serve/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/grow.h"
#include "util/log.h"

#define SEG_MIN_BYTES (4u << 10)
#define SEG_MAX_BYTES (64u << 20)

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
    struct segment_dir d;
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
    int unsynced_fd; /* a closed-for-appends segment not yet fsync'd */
    bool dirty;      /* appended since the last spool_sync */
    bool dir_dirty;  /* a segment was created since then */
    struct spool_stats st;
};

/* ---- small helpers ---- */

static int add_seg(struct spool *s, uint64_t no, uint64_t size)
{
    if (grow_array((void **)&s->segs, &s->segcap, s->nsegs + 1,
                   sizeof *s->segs) < 0)
        return -ENOMEM;
    s->segs[s->nsegs++] = (struct seg){.no = no, .size = size};
    return 0;
}

static int list_segments(struct spool *s, char *err, size_t errlen)
{
    uint64_t *nos;
    size_t n;

    if (segment_dir_list(&s->d, &nos, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (add_seg(s, nos[i], 0) < 0) {
            free(nos);
            snprintf(err, errlen, "spool %s: out of memory", s->d.path);
            return -1;
        }
    free(nos);
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
    if (grow_array((void **)&s->recs, &s->reccap, s->nrecs + 1,
                   sizeof *s->recs) < 0)
        return -ENOMEM;
    s->recs[s->nrecs++] = *r;
    s->st.records++;
    s->st.spans += r->spans;
    s->st.bytes += SPOOL_HEADER_BYTES + (uint64_t)r->len;
    return 0;
}

/* Close the descriptors on segment no. The append descriptor of a segment
 * that stays is kept for spool_sync when it has unsynced records. */
static void close_fd_of(struct spool *s, uint64_t no, bool stays)
{
    if (s->wfd >= 0 && s->wfd_no == no) {
        if (stays && s->dirty && s->unsynced_fd < 0)
            s->unsynced_fd = s->wfd;
        else if (stays)
            fsync(s->wfd), close(s->wfd);
        else
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
    close_fd_of(s, s->segs[i].no, false);
    segment_remove(&s->d, s->segs[i].no);
    s->st.disk_bytes -= s->segs[i].size;
    memmove(s->segs + i, s->segs + i + 1, (s->nsegs - i - 1) * sizeof *s->segs);
    s->nsegs--;
}

/* ---- scanning at open ---- */

struct scan_ctx {
    struct spool *s;
    struct seg *g;
};

static int on_record(void *ctx, uint64_t off, const struct segment_hdr *h)
{
    struct scan_ctx *c = ctx;
    struct rec r = {c->g->no, off, h->len, h->spans, h->type};

    if (h->magic != SEGMENT_MAGIC_LIVE)
        return 0;
    if (index_push(c->s, &r) < 0)
        return -ENOMEM;
    c->g->live++;
    return 0;
}

static int scan_segment(struct spool *s, struct seg *g, bool newest, char *err,
                        size_t errlen)
{
    struct segment_scan_result res;
    struct scan_ctx ctx = {s, g};
    char path[1024];
    int fd, rc;

    fd = segment_open(&s->d, g->no, newest ? O_RDWR : O_RDONLY);
    rc = fd < 0 ? fd
                : segment_scan(&s->d, g->no, fd, newest, on_record, &ctx, &res);
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        segment_path(&s->d, g->no, path, sizeof path);
        snprintf(err, errlen, "spool %s: %s", path, strerror(-rc));
        return rc;
    }
    g->size = res.size;
    s->st.damaged_bytes += res.damaged_bytes;
    s->st.damaged_records += res.damaged_records;
    return 0;
}

static int scan_all(struct spool *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        if (scan_segment(s, &s->segs[i], i + 1 == s->nsegs, err, errlen) < 0)
            return -1;
        s->st.disk_bytes += s->segs[i].size;
    }
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

    if (!s) {
        snprintf(err, errlen, "spool %s: out of memory", dir);
        return NULL;
    }
    s->wfd = s->rfd = s->unsynced_fd = -1;
    s->max_bytes = max_bytes;
    s->segment_bytes = pick_segment_bytes(max_bytes, segment_bytes);
    if (segment_dir_open(&s->d, dir, "spool", ".spool", "LOCK", err, errlen) <
            0 ||
        list_segments(s, err, errlen) < 0 || scan_all(s, err, errlen) < 0)
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
    if (s->unsynced_fd >= 0) {
        fsync(s->unsynced_fd);
        close(s->unsynced_fd);
    }
    if (s->wfd >= 0) {
        fsync(s->wfd);
        close(s->wfd);
    }
    if (s->rfd >= 0)
        close(s->rfd);
    segment_dir_close(&s->d);
    free(s->segs);
    free(s->recs);
    free(s);
}

int spool_sync(struct spool *s, char *err, size_t errlen)
{
    int rc = 0;

    if (s->unsynced_fd >= 0) {
        if (fsync(s->unsynced_fd) < 0)
            rc = -errno;
        close(s->unsynced_fd);
        s->unsynced_fd = -1;
    }
    if (s->dirty && s->wfd >= 0 && rc == 0 && fdatasync(s->wfd) < 0)
        rc = -errno;
    if (s->dir_dirty && rc == 0 && (rc = segment_dir_sync(&s->d)) == 0)
        s->dir_dirty = false;
    if (s->dirty)
        s->st.syncs++;
    s->dirty = false;
    if (rc < 0) {
        snprintf(err, errlen, "spool %s: fsync: %s", s->d.path, strerror(-rc));
        return -EIO;
    }
    return 0;
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
    s->wfd = segment_open(&s->d, t->no, O_RDWR | O_CREAT);
    if (s->wfd < 0)
        return s->wfd;
    s->wfd_no = t->no;
    if (t->size == 0)
        s->dir_dirty = true; /* spool_sync makes the new name durable */
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
        log_warn("spool %s: cannot cut back a failed write: %s", s->d.path,
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
    segment_encode(hdr, data, (uint32_t)len, spans, type);
    if ((rc = ready_tail(s, rec_bytes)) < 0 ||
        (rc = segment_write(s->wfd, newest(s)->size, hdr, data, len)) < 0)
        goto fail;
    s->dirty = true;
    r = (struct rec){newest(s)->no, newest(s)->size, (uint32_t)len, spans,
                     type};
    if ((rc = index_push(s, &r)) < 0) {
        /* Not indexed: mark it popped so a restart does not replay it
         * behind records appended later. */
        segment_mark_done(s->wfd, r.off);
        goto fail_noundo;
    }
    newest(s)->size += rec_bytes;
    newest(s)->live++;
    s->st.disk_bytes += rec_bytes;
    return 0;
fail:
    undo_append(s);
fail_noundo:
    snprintf(err, errlen, "spool %s: append: %s", s->d.path, strerror(-rc));
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
    if (s->wfd >= 0 && s->wfd_no == no)
        return s->wfd;
    if (s->rfd >= 0 && s->rfd_no == no)
        return s->rfd;
    if (s->rfd >= 0)
        close(s->rfd);
    s->rfd = segment_open(&s->d, no, O_RDWR);
    s->rfd_no = no;
    return s->rfd;
}

/* Read and check the head record. 1 = ok, 0 = damaged, -errno. */
static int read_head(struct spool *s, const struct rec *r, uint8_t *data)
{
    struct segment_hdr want = {
        .len = r->len, .spans = r->spans, .type = r->type};
    int fd = head_fd(s, r->seg);

    if (fd < 0)
        return fd == -ENOENT ? 0 : fd;
    return segment_read(fd, r->off, &want, data);
}

static void count_damage(struct spool *s, const struct rec *r)
{
    struct segment_scan_result acc = {0};

    segment_report_damage(&s->d, r->seg, r->off,
                          r->off + SPOOL_HEADER_BYTES + r->len, false, &acc);
    s->st.damaged_bytes += acc.damaged_bytes;
    s->st.damaged_records += acc.damaged_records;
}

int spool_head(struct spool *s, struct spool_record *out, char *err,
               size_t errlen)
{
    while (spool_count(s) > 0) {
        const struct rec *r = &s->recs[s->rhead];
        uint8_t *data = malloc(r->len ? r->len : 1);
        int rc;

        if (!data) {
            snprintf(err, errlen, "spool %s: out of memory", s->d.path);
            return -ENOMEM;
        }
        rc = read_head(s, r, data);
        if (rc == 1) {
            *out = (struct spool_record){data, r->len, r->spans, r->type};
            return 1;
        }
        free(data);
        if (rc < 0) {
            snprintf(err, errlen, "spool %s: read: %s", s->d.path,
                     strerror(-rc));
            return -EIO;
        }
        count_damage(s, r);
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
    if ((fd = head_fd(s, r.seg)) < 0 ||
        (rc = segment_mark_done(fd, r.off)) < 0) {
        snprintf(err, errlen, "spool %s: cannot mark a record sent: %s",
                 s->d.path, strerror(fd < 0 ? -fd : -rc));
        return -EIO;
    }
    return 0;
}

void spool_stats_read(const struct spool *s, struct spool_stats *out)
{
    *out = s->st;
    out->segments = s->nsegs;
}
