/* wal: serve's write-ahead log (see wal.h for the contracts). The record
 * format, the segment files and the damage scan are serve/segment.c's,
 * shared with the spool.
 *
 * State, all under mu: the segments (oldest first; the newest is the
 * active one unless it is of an earlier run), each with its descriptor
 * (appends and done marks), its size, its live record count and whether
 * it was written since the last fsync round took it; the tokens of the
 * records not done (a list, so that wal_close can free them); two record
 * counters: `appended` (records written) and `synced` (records known to be
 * on disk). An appender waits until synced reaches its record's number.
 *
 * Group commit without a thread of its own: the appender that finds no
 * fsync round in progress leads one (sync_round): it takes the written-to
 * segments' descriptors (dup'd, so that a segment deleted meanwhile cannot
 * pull the descriptor away), drops mu, fdatasyncs them (and the directory
 * after a new segment), then moves synced to what `appended` was when it
 * started. A record can only be done after its append returned, so a
 * segment is never deleted while it holds a record a round still has to
 * cover. */
#include "serve/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/segment.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"

#define DEFAULT_SEGMENT_BYTES ((uint64_t)32 << 20)
#define SPARE_NAME "spare.tmp"
#define ZERO_CHUNK ((size_t)1 << 20)
#define MIN_SEGMENT_BYTES ((uint64_t)4 << 10)

struct wseg {
    uint64_t no;
    uint64_t size; /* bytes in the file */
    uint64_t live; /* records not done */
    int fd;        /* O_RDWR */
    bool dirty;    /* written since the last fsync round took it */
};

struct wal_rec {
    struct wal *w;
    struct wal_rec *prev, *next; /* the list of records not done */
    uint64_t seg, off;
    uint32_t len, spans;
    uint8_t type;
    /* wal_append_async: waiting for the fsync that covers record `lsn` */
    struct wal_rec *wait_next;
    uint64_t lsn;
    int64_t written_ns; /* CLOCK_MONOTONIC, for wal_stats.wait_ns */
    wal_synced_fn cb;
    void *cb_ctx;
};

struct wal {
    struct segment_dir d;
    uint64_t segment_bytes;
    unsigned group_delay_us;
    bool no_fsync;           /* acknowledge after the write (wal_config) */
    int (*fsync_fn)(int fd); /* fdatasync or the config's stand-in */

    pthread_mutex_t mu;
    pthread_cond_t synced_cv; /* appenders': synced moved, or broken */

    struct wseg *segs; /* oldest first */
    size_t nsegs, segcap;
    uint64_t next_no;  /* for the next segment file */
    uint64_t first_no; /* first segment of this run (appendable) */
    bool dir_dirty;    /* a segment was created: fsync the directory */
    uint64_t appended, synced;
    bool syncing, broken; /* a round is in progress; an fsync failed */
    int *sync_fds;        /* the leader's: descriptors of one round */
    size_t sync_cap;

    /* The preparer thread zero-fills the next segment ahead, as
     * SPARE_NAME (not a segment name: a scan ignores it), so that appends
     * overwrite blocks instead of growing a file and an fsync writes data
     * only, not the file's size too (half the time on ext4 here). */
    bool preallocate;
    pthread_t prep;
    bool prep_started, prep_stop;
    pthread_cond_t prep_cv; /* the preparer's: spare taken, or stop */
    int spare_fd;           /* a ready spare, or -1 */

    /* The syncer thread (started by the first wal_append_async) leads
     * rounds for the asynchronous appends, in log order, and calls their
     * callbacks once a round covered them. */
    struct wal_rec *waits, *waits_tail; /* FIFO, ascending lsn */
    pthread_t syncer;
    bool syncer_started, stopping;

    struct wal_rec live; /* list head (sentinel) */
    struct wal_rec **replay;
    size_t nreplay, replay_cap, replay_pos;
    bool opened; /* wal_open succeeded: wal_close may delete segments */
    struct wal_stats st;
};

/* ---- segments (mu held) ---- */

static struct wseg *find_seg(struct wal *w, uint64_t no)
{
    for (size_t i = 0; i < w->nsegs; i++)
        if (w->segs[i].no == no)
            return &w->segs[i];
    return NULL;
}

static struct wseg *active(struct wal *w)
{
    struct wseg *t = w->nsegs ? &w->segs[w->nsegs - 1] : NULL;

    return t && t->no >= w->first_no ? t : NULL;
}

static void drop_seg(struct wal *w, struct wseg *g)
{
    size_t i = (size_t)(g - w->segs);

    if (g->fd >= 0)
        close(g->fd);
    segment_remove(&w->d, g->no);
    w->st.disk_bytes_now -= g->size;
    memmove(w->segs + i, w->segs + i + 1, (w->nsegs - i - 1) * sizeof *g);
    w->nsegs--;
}

/* The ready spare renamed to segment no (its descriptor), or -1 when
 * there is none; the preparer is asked for the next. The new name is made
 * durable by the next fsync round (dir_dirty), before any record in it is
 * acknowledged. */
static int take_spare(struct wal *w, uint64_t no)
{
    char from[1024], to[1024];
    int fd = w->spare_fd;

    if (fd < 0)
        return -1;
    w->spare_fd = -1;
    pthread_cond_signal(&w->prep_cv);
    snprintf(from, sizeof from, "%s/" SPARE_NAME, w->d.path);
    segment_path(&w->d, no, to, sizeof to);
    if (rename(from, to) < 0) {
        log_warn("wal %s: cannot use the preallocated segment: %s", w->d.path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The active segment, with room for rec_bytes (or empty); rolls over to a
 * new file when full. Returns it, or NULL with *rc = -errno. */
static struct wseg *ready_active(struct wal *w, uint64_t rec_bytes, int *rc)
{
    struct wseg *t = active(w);
    int fd;

    if (t && t->size > 0 && t->size + rec_bytes > w->segment_bytes) {
        if (t->live == 0)
            drop_seg(w, t);
        w->first_no = w->next_no; /* t takes no more appends */
        t = NULL;
    }
    if (t)
        return t;
    if ((*rc = grow_array((void **)&w->segs, &w->segcap, w->nsegs + 1,
                          sizeof *w->segs)) < 0)
        return NULL;
    fd = take_spare(w, w->next_no);
    if (fd < 0)
        fd = segment_open(&w->d, w->next_no, O_RDWR | O_CREAT | O_TRUNC);
    if (fd < 0) {
        *rc = fd;
        return NULL;
    }
    w->first_no = w->next_no;
    w->segs[w->nsegs++] = (struct wseg){.no = w->next_no++, .fd = fd};
    w->dir_dirty = true;
    return &w->segs[w->nsegs - 1];
}

/* ---- records (mu held) ---- */

static void link_rec(struct wal *w, struct wal_rec *r)
{
    r->w = w;
    r->next = &w->live;
    r->prev = w->live.prev;
    w->live.prev->next = r;
    w->live.prev = r;
    w->st.live_records_now++;
    w->st.live_spans_now += r->spans;
}

/* Mark r done on disk, count it out, delete its segment when that was the
 * last live record of a segment no longer appended to; free r. */
static void done_locked(struct wal *w, struct wal_rec *r)
{
    struct wseg *g = find_seg(w, r->seg);
    int rc;

    r->prev->next = r->next;
    r->next->prev = r->prev;
    w->st.live_records_now--;
    w->st.live_spans_now -= r->spans;
    w->st.done_records++;
    if (g && g->live > 0)
        g->live--;
    if (g && g->live == 0 && g != active(w))
        drop_seg(w, g);
    else if (g && g->fd >= 0 && (rc = segment_mark_done(g->fd, r->off)) < 0)
        log_ratelimited(LOG_WARN, 5,
                        "wal %s: cannot mark a record done (%s); a "
                        "restart replays it",
                        w->d.path, strerror(-rc));
    free(r);
}

void wal_done(void *rec)
{
    struct wal_rec *r = rec;
    struct wal *w = r->w;

    pthread_mutex_lock(&w->mu);
    done_locked(w, r);
    pthread_mutex_unlock(&w->mu);
}

/* ---- the preparer ---- */

/* A zero-filled, fsync'd SPARE_NAME of segment_bytes; its descriptor or
 * -errno. */
static int make_spare(struct wal *w)
{
    static const uint8_t zeros[ZERO_CHUNK];
    char path[1024];
    int fd, rc = 0;

    snprintf(path, sizeof path, "%s/" SPARE_NAME, w->d.path);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    for (uint64_t off = 0; off < w->segment_bytes && rc == 0;) {
        size_t n = w->segment_bytes - off < ZERO_CHUNK
                       ? (size_t)(w->segment_bytes - off)
                       : ZERO_CHUNK;
        ssize_t k = pwrite(fd, zeros, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            rc = k < 0 ? -errno : -EIO;
        else
            off += (uint64_t)k;
    }
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    if (rc < 0) {
        close(fd);
        unlink(path);
        return rc;
    }
    return fd;
}

static void *prep_main(void *arg)
{
    struct wal *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->prep_stop && w->spare_fd >= 0)
            pthread_cond_wait(&w->prep_cv, &w->mu);
        if (w->prep_stop)
            break;
        pthread_mutex_unlock(&w->mu);
        int fd = make_spare(w);
        pthread_mutex_lock(&w->mu);
        if (fd < 0) {
            /* e.g. a full disk: appends grow their files instead */
            log_warn("wal %s: cannot preallocate a segment (%s)", w->d.path,
                     strerror(-fd));
            break;
        }
        w->spare_fd = fd;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int start_prep(struct wal *w)
{
    char path[1024];

    snprintf(path, sizeof path, "%s/" SPARE_NAME, w->d.path);
    unlink(path); /* an earlier run's, maybe half made */
    if (!w->preallocate)
        return 0;
    /* The first one now: the first appends find it ready. */
    if ((w->spare_fd = make_spare(w)) < 0) {
        log_warn("wal %s: cannot preallocate a segment (%s)", w->d.path,
                 strerror(-w->spare_fd));
        w->spare_fd = -1;
        return 0;
    }
    if (pthread_cond_init(&w->prep_cv, NULL) != 0 ||
        pthread_create(&w->prep, NULL, prep_main, w) != 0)
        return -1;
    w->prep_started = true;
    return 0;
}

static void stop_prep(struct wal *w)
{
    char path[1024];

    if (w->prep_started) {
        pthread_mutex_lock(&w->mu);
        w->prep_stop = true;
        pthread_cond_signal(&w->prep_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->prep, NULL);
        pthread_cond_destroy(&w->prep_cv);
        w->prep_started = false;
    }
    if (w->spare_fd >= 0) {
        close(w->spare_fd);
        w->spare_fd = -1;
        snprintf(path, sizeof path, "%s/" SPARE_NAME, w->d.path);
        unlink(path);
    }
}

/* ---- group commit ---- */

/* Take the descriptors written to since the last round (dup'd into
 * w->sync_fds); returns how many, or -1 when out of memory or out of
 * descriptors (the round fails like a failed fsync would). */
static int take_dirty(struct wal *w)
{
    int n = 0;

    if (grow_array((void **)&w->sync_fds, &w->sync_cap, w->nsegs + 1,
                   sizeof *w->sync_fds) < 0)
        return -1;
    for (size_t i = 0; i < w->nsegs; i++) {
        struct wseg *g = &w->segs[i];
        if (!g->dirty)
            continue;
        int fd = dup(g->fd);
        if (fd < 0) {
            while (n > 0)
                close(w->sync_fds[--n]);
            return -1;
        }
        g->dirty = false;
        w->sync_fds[n++] = fd;
    }
    return n;
}

/* fdatasync n descriptors (closing them) and the directory when dir.
 * Returns 0 or the first -errno. */
static int sync_fds(struct wal *w, int n, bool dir)
{
    int rc = 0;

    for (int i = 0; i < n; i++) {
        if (w->fsync_fn(w->sync_fds[i]) < 0 && rc == 0)
            rc = -errno;
        close(w->sync_fds[i]);
    }
    if (dir && rc == 0)
        rc = segment_dir_sync(&w->d);
    return rc;
}

/* One round, run by the appender that found no round in progress (the
 * leader; mu held, released during the fsync): covers every record
 * written so far, its own and those of whoever appended meanwhile. The
 * others wait on synced_cv; one that wrote after the round started leads
 * the next. Leading from the appending thread saves a thread hand-off per
 * request, which on a busy 2-core machine cost more than the fsync. */
static void sync_round(struct wal *w)
{
    w->syncing = true;
    if (w->group_delay_us) {
        pthread_mutex_unlock(&w->mu);
        usleep(w->group_delay_us);
        pthread_mutex_lock(&w->mu);
    }
    uint64_t target = w->appended;
    bool dir = w->dir_dirty;
    int n = take_dirty(w), rc;
    w->dir_dirty = false;
    pthread_mutex_unlock(&w->mu);
    int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
    rc = n < 0 ? -EMFILE : sync_fds(w, n, dir);
    int64_t t1 = clock_now_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&w->mu);
    w->st.fsyncs++;
    w->st.fsync_ns += (uint64_t)(t1 - t0);
    if (rc < 0) {
        w->broken = true;
        log_error("wal %s: fsync failed (%s): refusing input until "
                  "restarted",
                  w->d.path, strerror(-rc));
    } else if (target > w->synced) {
        w->synced = target;
    }
    w->syncing = false;
    pthread_cond_broadcast(&w->synced_cv);
}

/* ---- append ---- */

static int append_locked(struct wal *w, struct wal_rec *r, const uint8_t *hdr,
                         const void *data, char *err, size_t errlen)
{
    uint64_t rec_bytes = SEGMENT_HEADER_BYTES + (uint64_t)r->len;
    struct wseg *g;
    int rc = 0;

    if (w->broken) {
        snprintf(err, errlen, "wal %s: an earlier fsync failed", w->d.path);
        return -EIO;
    }
    if (!(g = ready_active(w, rec_bytes, &rc)) ||
        (rc = segment_write(g->fd, g->size, hdr, data, r->len)) < 0) {
        if (g && ftruncate(g->fd, (off_t)g->size) < 0)
            log_warn("wal %s: cannot cut back a failed write: %s", w->d.path,
                     strerror(errno));
        snprintf(err, errlen, "wal %s: append: %s", w->d.path, strerror(-rc));
        return rc == -ENOMEM ? -ENOMEM : -EIO;
    }
    r->seg = g->no;
    r->off = g->size;
    g->size += rec_bytes;
    g->live++;
    g->dirty = true;
    link_rec(w, r);
    w->st.disk_bytes_now += rec_bytes;
    w->st.appended_records++;
    w->st.appended_spans += r->spans;
    w->st.appended_bytes += rec_bytes;
    return 0;
}

/* A token for a record of len bytes; the header encoded into hdr (the
 * CRC computed before the lock is taken). NULL with err when out of
 * memory; *rc = -EFBIG when too large. */
static struct wal_rec *new_rec(const void *data, size_t len, uint32_t spans,
                               uint8_t type, uint8_t *hdr, int *rc, char *err,
                               size_t errlen)
{
    struct wal_rec *r;

    *rc = -EFBIG;
    if (len > SEGMENT_MAX_RECORD) {
        snprintf(err, errlen, "wal: a record of %zu bytes is over the limit",
                 len);
        return NULL;
    }
    *rc = -ENOMEM;
    if (!(r = calloc(1, sizeof *r))) {
        snprintf(err, errlen, "wal: out of memory");
        return NULL;
    }
    r->len = (uint32_t)len;
    r->spans = spans;
    r->type = type;
    segment_encode(hdr, data, (uint32_t)len, spans, type);
    return r;
}

int wal_append(struct wal *w, const void *data, size_t len, uint32_t spans,
               uint8_t type, struct wal_rec **rec, char *err, size_t errlen)
{
    uint8_t hdr[SEGMENT_HEADER_BYTES];
    struct wal_rec *r;
    uint64_t lsn;
    int rc;

    *rec = NULL;
    if (!(r = new_rec(data, len, spans, type, hdr, &rc, err, errlen)))
        return rc;
    pthread_mutex_lock(&w->mu);
    if ((rc = append_locked(w, r, hdr, data, err, errlen)) < 0) {
        w->st.append_errors++;
        pthread_mutex_unlock(&w->mu);
        free(r);
        return rc;
    }
    if (w->no_fsync) {
        /* In the page cache: it survives the process, not the machine. */
        pthread_mutex_unlock(&w->mu);
        *rec = r;
        return 0;
    }
    lsn = ++w->appended;
    int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
    while (w->synced < lsn && !w->broken) {
        if (!w->syncing)
            sync_round(w);
        else
            pthread_cond_wait(&w->synced_cv, &w->mu);
    }
    w->st.wait_ns += (uint64_t)(clock_now_ns(CLOCK_MONOTONIC) - t0);
    if (w->synced < lsn) {
        /* Not known to be on disk: not acknowledged, so not kept. */
        w->st.append_errors++;
        done_locked(w, r);
        pthread_mutex_unlock(&w->mu);
        snprintf(err, errlen, "wal %s: fsync failed", w->d.path);
        return -EIO;
    }
    pthread_mutex_unlock(&w->mu);
    *rec = r;
    return 0;
}

/* ---- asynchronous appends: the syncer thread ---- */

#define CALLBACK_BATCH 64

/* Detach up to CALLBACK_BATCH waits that are settled (covered by synced,
 * or failed: the log is broken) into cbs/ctxs/recs; failed ones are taken
 * out of the log (recs[i] NULL). Returns how many. mu held. */
static size_t take_settled(struct wal *w, wal_synced_fn *cbs, void **ctxs,
                           struct wal_rec **recs)
{
    size_t n = 0;
    struct wal_rec *r;
    int64_t now = clock_now_ns(CLOCK_MONOTONIC);

    while (n < CALLBACK_BATCH && (r = w->waits) != NULL &&
           (r->lsn <= w->synced || w->broken)) {
        if (!(w->waits = r->wait_next))
            w->waits_tail = NULL;
        w->st.wait_ns += (uint64_t)(now - r->written_ns);
        cbs[n] = r->cb;
        ctxs[n] = r->cb_ctx;
        if (r->lsn <= w->synced) {
            recs[n] = r;
        } else {
            w->st.append_errors++;
            done_locked(w, r); /* not on disk: not acknowledged */
            recs[n] = NULL;
        }
        n++;
    }
    return n;
}

static void *syncer_main(void *arg)
{
    struct wal *w = arg;
    wal_synced_fn cbs[CALLBACK_BATCH];
    void *ctxs[CALLBACK_BATCH];
    struct wal_rec *recs[CALLBACK_BATCH];

    pthread_mutex_lock(&w->mu);
    for (;;) {
        size_t n = take_settled(w, cbs, ctxs, recs);
        if (n) {
            pthread_mutex_unlock(&w->mu);
            for (size_t i = 0; i < n; i++)
                cbs[i](ctxs[i], recs[i], recs[i] ? 0 : -EIO);
            pthread_mutex_lock(&w->mu);
        } else if (w->waits && !w->syncing) {
            sync_round(w);
        } else if (w->stopping && !w->waits) {
            break;
        } else {
            pthread_cond_wait(&w->synced_cv, &w->mu);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int wal_append_async(struct wal *w, const void *data, size_t len,
                     uint32_t spans, uint8_t type, wal_synced_fn cb, void *ctx,
                     char *err, size_t errlen)
{
    uint8_t hdr[SEGMENT_HEADER_BYTES];
    struct wal_rec *r;
    int rc;

    if (!(r = new_rec(data, len, spans, type, hdr, &rc, err, errlen)))
        return rc;
    pthread_mutex_lock(&w->mu);
    if (!w->syncer_started && !w->no_fsync) {
        if (pthread_create(&w->syncer, NULL, syncer_main, w) != 0) {
            pthread_mutex_unlock(&w->mu);
            free(r);
            snprintf(err, errlen, "wal: cannot start the syncer thread");
            return -ENOMEM;
        }
        w->syncer_started = true;
    }
    if ((rc = append_locked(w, r, hdr, data, err, errlen)) < 0) {
        w->st.append_errors++;
        pthread_mutex_unlock(&w->mu);
        free(r);
        return rc;
    }
    if (w->no_fsync) {
        pthread_mutex_unlock(&w->mu);
        cb(ctx, r, 0);
        return 0;
    }
    r->lsn = ++w->appended;
    r->cb = cb;
    r->cb_ctx = ctx;
    r->written_ns = clock_now_ns(CLOCK_MONOTONIC);
    if (w->waits_tail)
        w->waits_tail->wait_next = r;
    else
        w->waits = r;
    w->waits_tail = r;
    pthread_cond_broadcast(&w->synced_cv); /* the syncer */
    pthread_mutex_unlock(&w->mu);
    return 0;
}

/* ---- open: scan, index what is not done ---- */

struct scan_ctx {
    struct wal *w;
    struct wseg *g;
};

static int on_record(void *ctx, uint64_t off, const struct segment_hdr *h)
{
    struct scan_ctx *c = ctx;
    struct wal *w = c->w;
    struct wal_rec *r;

    if (h->magic != SEGMENT_MAGIC_LIVE)
        return 0;
    if (grow_array((void **)&w->replay, &w->replay_cap, w->nreplay + 1,
                   sizeof *w->replay) < 0 ||
        !(r = calloc(1, sizeof *r)))
        return -ENOMEM;
    *r = (struct wal_rec){.seg = c->g->no,
                          .off = off,
                          .len = h->len,
                          .spans = h->spans,
                          .type = h->type};
    link_rec(w, r);
    c->g->live++;
    w->replay[w->nreplay++] = r;
    w->st.replay_records++;
    w->st.replay_spans += h->spans;
    return 0;
}

static int scan_one(struct wal *w, uint64_t no, bool newest, char *err,
                    size_t errlen)
{
    struct segment_scan_result res;
    struct scan_ctx ctx = {w, NULL};
    struct wseg *g;
    int fd, rc;

    if (grow_array((void **)&w->segs, &w->segcap, w->nsegs + 1,
                   sizeof *w->segs) < 0) {
        snprintf(err, errlen, "wal %s: out of memory", w->d.path);
        return -1;
    }
    g = &w->segs[w->nsegs++];
    *g = (struct wseg){.no = no, .fd = -1};
    ctx.g = g;
    fd = segment_open(&w->d, no, O_RDWR);
    rc = fd < 0 ? fd
                : segment_scan(&w->d, no, fd, newest, on_record, &ctx, &res);
    g->fd = fd;
    if (rc < 0) {
        char path[1024];
        segment_path(&w->d, no, path, sizeof path);
        snprintf(err, errlen, "wal %s: %s", path, strerror(-rc));
        return -1;
    }
    g->size = res.end; /* a zero tail is a preallocation, not records */
    w->st.disk_bytes_now += res.end;
    w->st.damaged_bytes += res.damaged_bytes;
    w->st.damaged_records += res.damaged_records;
    if (g->live == 0)
        drop_seg(w, g); /* nothing left to replay */
    return 0;
}

static int scan_all(struct wal *w, char *err, size_t errlen)
{
    uint64_t *nos;
    size_t n;
    int rc = 0;

    if (segment_dir_list(&w->d, &nos, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = scan_one(w, nos[i], i + 1 == n, err, errlen);
    w->next_no = n ? nos[n - 1] + 1 : 1;
    w->first_no = w->next_no; /* earlier runs' segments are only read */
    free(nos);
    return rc;
}

static int init_sync(struct wal *w)
{
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return -1;
    return pthread_cond_init(&w->synced_cv, NULL) != 0 ? -1 : 0;
}

struct wal *wal_open(const struct wal_config *cfg, char *err, size_t errlen)
{
    struct wal *w;

    if (!cfg || !cfg->dir || !cfg->dir[0]) {
        snprintf(err, errlen, "wal: no directory given");
        return NULL;
    }
    if (!(w = calloc(1, sizeof *w)) || init_sync(w) < 0) {
        snprintf(err, errlen, "wal %s: out of memory", cfg->dir);
        free(w);
        return NULL;
    }
    w->d.lock_fd = w->d.dir_fd = w->spare_fd = -1;
    w->live.next = w->live.prev = &w->live;
    w->preallocate = !cfg->no_preallocate;
    w->no_fsync = cfg->no_fsync;
    w->segment_bytes =
        cfg->segment_bytes ? cfg->segment_bytes : DEFAULT_SEGMENT_BYTES;
    w->group_delay_us = cfg->group_delay_us;
    w->fsync_fn = cfg->fsync_fn ? cfg->fsync_fn : fdatasync;
    if (w->segment_bytes < MIN_SEGMENT_BYTES)
        w->segment_bytes = MIN_SEGMENT_BYTES;
    if (segment_dir_open(&w->d, cfg->dir, "wal", ".wal", "wal.lock", err,
                         errlen) < 0 ||
        scan_all(w, err, errlen) < 0)
        goto fail;
    if (start_prep(w) < 0) {
        snprintf(err, errlen, "wal %s: cannot start the preparer thread",
                 cfg->dir);
        goto fail;
    }
    w->opened = true;
    if (w->nreplay)
        log_info("wal %s: %" PRIu64 " spans in %zu requests to replay",
                 w->d.path, w->st.replay_spans, w->nreplay);
    return w;
fail:
    wal_close(w);
    return NULL;
}

void wal_close(struct wal *w)
{
    struct wal_rec *r, *next;

    if (!w)
        return;
    if (w->syncer_started) {
        /* it settles every wait first */
        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        pthread_cond_broadcast(&w->synced_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->syncer, NULL);
    }
    stop_prep(w);
    for (size_t i = w->nsegs; i-- > 0;) {
        /* (after a failed open the counts may be incomplete: keep all) */
        if (w->opened && w->segs[i].live == 0)
            drop_seg(w, &w->segs[i]);
        else if (w->segs[i].fd >= 0)
            close(w->segs[i].fd);
    }
    for (r = w->live.next; r && r != &w->live; r = next) {
        next = r->next;
        free(r);
    }
    segment_dir_close(&w->d);
    free(w->segs);
    free(w->replay);
    free(w->sync_fds);
    pthread_cond_destroy(&w->synced_cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* ---- replay ---- */

int wal_replay_next(struct wal *w, struct wal_record *out, char *err,
                    size_t errlen)
{
    pthread_mutex_lock(&w->mu);
    while (w->replay_pos < w->nreplay) {
        struct wal_rec *r = w->replay[w->replay_pos++];
        struct segment_hdr want = {
            .len = r->len, .spans = r->spans, .type = r->type};
        struct wseg *g = find_seg(w, r->seg);
        uint8_t *data = malloc(r->len ? r->len : 1);
        int rc;

        if (!data) {
            pthread_mutex_unlock(&w->mu);
            snprintf(err, errlen, "wal %s: out of memory", w->d.path);
            return -ENOMEM;
        }
        rc = g && g->fd >= 0 ? segment_read(g->fd, r->off, &want, data) : 0;
        if (rc == 1) {
            pthread_mutex_unlock(&w->mu);
            *out = (struct wal_record){data, r->len, r->spans, r->type, r};
            return 1;
        }
        free(data);
        if (rc < 0) {
            pthread_mutex_unlock(&w->mu);
            snprintf(err, errlen, "wal %s: read: %s", w->d.path, strerror(-rc));
            return -EIO;
        }
        struct segment_scan_result acc = {0};
        segment_report_damage(&w->d, r->seg, r->off,
                              r->off + SEGMENT_HEADER_BYTES + r->len, false,
                              &acc);
        w->st.damaged_bytes += acc.damaged_bytes;
        w->st.damaged_records += acc.damaged_records;
        done_locked(w, r);
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void wal_stats_read(struct wal *w, struct wal_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    out->segments_now = w->nsegs;
    pthread_mutex_unlock(&w->mu);
}
