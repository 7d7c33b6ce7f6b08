/* collect_record: the collector's --out writer: each round's samples as
 * lines of the recording format (ingest/collect_rec.h), through a large
 * stdio buffer (gzip through zlib when the name ends in ".gz"), which
 * reaches the file in whole lines. Each series' key text is built once
 * (again when its wrap widens). */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "collect/collect_private.h"
#include "ingest/collect_rec.h"
#include "model/series.h"

struct rkey {
    char *text; /* "entity,metric,labels,kind" */
    double wrap;
};

struct collect_record {
    FILE *f;
    bool is_stdout;
    gzFile gz;
    struct rkey *keys;
    size_t nkeys;
    int err;        /* first errno of a failed write, 0 = none */
    char *buf;      /* stdio buffer */
    size_t pending; /* bytes in it (whole lines) */
};

#define BUF_SIZE (1 << 18)

static ssize_t gz_write(void *cookie, const char *p, size_t n)
{
    int w = gzwrite((gzFile)cookie, p, (unsigned)n);

    if (w <= 0 && n > 0) {
        errno = EIO;
        return -1;
    }
    return w;
}

static int gz_close(void *cookie)
{
    return gzclose((gzFile)cookie) == Z_OK ? 0 : EOF;
}

static size_t ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);

    return n >= m && !strcmp(s + n - m, suf);
}

struct collect_record *collect_record_open(const char *path, char *err,
                                           size_t errlen)
{
    struct collect_record *r = calloc(1, sizeof(*r));
    cookie_io_functions_t io = {NULL, gz_write, NULL, gz_close};

    if (!r || !(r->buf = malloc(BUF_SIZE))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!strcmp(path, "-")) {
        r->f = stdout;
        r->is_stdout = true;
    } else if (ends_with(path, ".gz")) {
        if (!(r->gz = gzopen(path, "wb1"))) {
            snprintf(err, errlen, "%s: %s", path,
                     errno ? strerror(errno) : "cannot open");
            goto fail;
        }
        if (!(r->f = fopencookie(r->gz, "w", io))) {
            gzclose(r->gz);
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
    } else if (!(r->f = fopen(path, "w"))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!r->is_stdout)
        setvbuf(r->f, r->buf, _IOFBF, BUF_SIZE);
    if (fputs(COLLECT_REC_HEADER "\n", r->f) < 0)
        r->err = errno;
    r->pending = sizeof(COLLECT_REC_HEADER);
    return r;
fail:
    if (r)
        free(r->buf);
    free(r);
    return NULL;
}

static const char *key_of(struct collect_record *r,
                          const struct series_store *s, uint32_t id)
{
    double wrap = series_wrap(s, id);

    if (id >= r->nkeys) {
        size_t n = r->nkeys ? r->nkeys : 64;
        struct rkey *k;

        while (n <= id)
            n *= 2;
        if (!(k = realloc(r->keys, n * sizeof(*k))))
            return NULL;
        memset(k + r->nkeys, 0, (n - r->nkeys) * sizeof(*k));
        r->keys = k;
        r->nkeys = n;
    }
    if (!r->keys[id].text || r->keys[id].wrap != wrap) {
        free(r->keys[id].text);
        r->keys[id].text = collect_rec_key(s, id);
        r->keys[id].wrap = wrap;
    }
    return r->keys[id].text;
}

/* One line "time,key,value\n". The stdio buffer is flushed before a line
 * that would not fit in it, so that the file only ever grows by whole
 * lines: a reader of a recording in progress never sees a torn one. */
static void put_line(struct collect_record *r, const char *time_comma,
                     const char *key, const char *val)
{
    size_t n = strlen(time_comma) + strlen(key) + 1 + strlen(val) + 1;

    if (r->pending + n > BUF_SIZE && r->pending) {
        if (fflush(r->f) != 0) {
            r->err = errno ? errno : EIO;
            return;
        }
        r->pending = 0;
    }
    if (fputs(time_comma, r->f) < 0 || fputs(key, r->f) < 0 ||
        fputc(',', r->f) < 0 || fputs(val, r->f) < 0 || fputc('\n', r->f) < 0)
        r->err = errno ? errno : EIO;
    r->pending += n;
}

int collect_record_write(struct collect_record *r, const struct series_store *s,
                         const uint32_t *ids, size_t n)
{
    char val[40], line[32];

    for (size_t i = 0; i < n && !r->err; i++) {
        size_t len = series_len(s, ids[i]);
        const char *key = key_of(r, s, ids[i]);

        if (!key) {
            r->err = ENOMEM;
            break;
        }
        if (!len)
            continue;
        collect_rec_value(val, sizeof val, series_values(s, ids[i])[len - 1]);
        if (snprintf(line, sizeof line, "%lld,",
                     (long long)series_times(s, ids[i])[len - 1]) < 0)
            continue;
        put_line(r, line, key, val);
    }
    return r->err ? -1 : 0;
}

int collect_record_flush(struct collect_record *r)
{
    if (!r->err && fflush(r->f) != 0)
        r->err = errno ? errno : EIO;
    r->pending = 0;
    if (!r->err && r->gz && gzflush(r->gz, Z_SYNC_FLUSH) != Z_OK)
        r->err = EIO;
    return r->err ? -1 : 0;
}

int collect_record_close(struct collect_record *r, char *err, size_t errlen)
{
    int rc;

    (void)collect_record_flush(r);
    if (r->is_stdout) {
        rc = r->err ? -1 : 0;
    } else {
        rc = fclose(r->f) != 0 || r->err ? -1 : 0;
        if (rc && !r->err)
            r->err = errno ? errno : EIO;
    }
    if (rc)
        snprintf(err, errlen, "recording: %s", strerror(r->err));
    for (size_t i = 0; i < r->nkeys; i++)
        free(r->keys[i].text);
    free(r->keys);
    free(r->buf);
    free(r);
    return rc;
}
