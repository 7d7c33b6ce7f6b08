/* collect_rec: the collector's recording format (collect_rec.h), read line
 * by line into a series_store, and the spelling of its fields for writers.
 * A line's key text (entity..kind) maps to its series id through a small
 * hash table, so a recording of a few series and many samples decodes
 * each key once. */
#include "ingest/collect_rec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/prom_common.h"
#include "ingest/source.h"
#include "model/series.h"
#include "util/grow.h"
#include "util/hash.h"
#include "util/utf8.h"

#define NFIELDS 6
#define MAX_LINE (16u << 20) /* a longer line is malformed */
#define WRAP32 4294967296.0
#define WRAP64 18446744073709551616.0

struct kslot {
    uint64_t h;
    size_t off; /* key text in x->keys */
    size_t len;
    uint32_t id;
    bool used;
};

struct crx {
    struct series_store *st;
    const char *name;
    uint64_t line;
    bool header_done;
    int64_t count;
    char *err;
    size_t errlen;
    const char *lp; /* the current line, for columns */
    /* key text -> series id */
    struct kslot *slots;
    size_t nslots, nkeys;
    char *keys;
    size_t keys_len, keys_cap;
    /* decoded strings of one key, NUL-separated */
    char *dec;
    size_t dec_len, dec_cap;
    struct series_label *lab;
    size_t lab_cap;
};

static int fail_at(struct crx *x, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct crx *x, const char *at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ingest_vfail_at(x->err, x->errlen, x->name, x->line,
                    (uint64_t)(at - x->lp + 1), fmt, ap);
    va_end(ap);
    return -INGEST_E_MALFORMED;
}

static int nomem(struct crx *x)
{
    snprintf(x->err, x->errlen, "%s: out of memory", x->name);
    return -INGEST_E_NOMEM;
}

/* ---- fields */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The bytes written as %XX (collect_rec.h). */
static bool must_escape(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '%' || c == ',' || c == ';' ||
           c == '=' || c == '"';
}

/* Decode the escaped text p[0..n) onto x->dec, NUL-terminated; *off gets
 * where it starts. */
static int decode(struct crx *x, const char *p, size_t n, const char *what,
                  size_t *off)
{
    size_t start = x->dec_len;

    if (grow_array((void **)&x->dec, &x->dec_cap, x->dec_len + n + 1, 1) < 0)
        return nomem(x);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '%') {
            int hi = i + 2 < n ? hexval(p[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(p[i + 2]) : -1;

            if (hi < 0 || lo < 0)
                return fail_at(x, p + i,
                               "expected two hex digits after %% in the %s",
                               what);
            if (hi == 0 && lo == 0)
                return fail_at(x, p + i, "NUL (%%00) in the %s", what);
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (must_escape(c)) {
            return fail_at(x, p + i,
                           "byte 0x%02x must be written %%%02X in the %s", c, c,
                           what);
        }
        x->dec[x->dec_len++] = (char)c;
    }
    if (!utf8_valid(x->dec + start, x->dec_len - start))
        return fail_at(x, p, "the %s is not valid UTF-8", what);
    x->dec[x->dec_len++] = 0;
    *off = start;
    return 0;
}

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

/* labels: "" or name=value;name=value. Decoded as pairs of strings on
 * x->dec; *n gets the count, *first the offset of the first name. */
static int labels(struct crx *x, const char *p, size_t n, size_t *count,
                  size_t *first)
{
    size_t i = 0, off;
    int rc;

    *count = 0;
    *first = x->dec_len;
    while (i < n) {
        size_t s = i, vend;

        if (!name_start(p[i]))
            return fail_at(x, p + i, "expected a label name");
        while (i < n && name_char(p[i]))
            i++;
        if (i >= n || p[i] != '=')
            return fail_at(x, p + i, "expected '=' after the label name");
        if (grow_array((void **)&x->dec, &x->dec_cap, x->dec_len + (i - s) + 1,
                       1) < 0)
            return nomem(x);
        memcpy(x->dec + x->dec_len, p + s, i - s);
        x->dec_len += i - s;
        x->dec[x->dec_len++] = 0;
        i++;
        for (vend = i; vend < n && p[vend] != ';'; vend++)
            ;
        if ((rc = decode(x, p + i, vend - i, "label value", &off)) < 0)
            return rc;
        (*count)++;
        i = vend;
        if (i < n && ++i == n)
            return fail_at(x, p + i, "expected a label after ';'");
    }
    return 0;
}

static int parse_kind(struct crx *x, const char *p, size_t n,
                      enum series_kind *kind, double *wrap)
{
    static const struct {
        const char *name;
        enum series_kind kind;
        double wrap;
    } kinds[] = {
        {"gauge", SERIES_GAUGE, 0},
        {"counter", SERIES_COUNTER, 0},
        {"counter32", SERIES_COUNTER, WRAP32},
        {"counter64", SERIES_COUNTER, WRAP64},
    };

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strlen(kinds[i].name) == n && !memcmp(kinds[i].name, p, n)) {
            *kind = kinds[i].kind;
            *wrap = kinds[i].wrap;
            return 0;
        }
    return fail_at(x, p,
                   "expected a kind: gauge, counter, counter32 or counter64");
}

static int parse_time(struct crx *x, const char *p, size_t n, int64_t *t)
{
    size_t i = p[0] == '-' && n > 1;
    uint64_t v = 0, lim = i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

    if (n == 0 || i == n)
        return fail_at(x, p, "expected the time in Unix ns");
    for (size_t k = i; k < n; k++) {
        if (p[k] < '0' || p[k] > '9')
            return fail_at(x, p + k, "expected the time in Unix ns");
        if (v > (lim - (uint64_t)(p[k] - '0')) / 10)
            return fail_at(x, p, "time out of the int64 range");
        v = v * 10 + (uint64_t)(p[k] - '0');
    }
    *t = i ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* ---- key cache */

static uint64_t text_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return hash_mix64(h);
}

static struct kslot *cache_find(struct crx *x, uint64_t h, const char *p,
                                size_t n)
{
    if (!x->nslots)
        return NULL;
    for (size_t i = h & (x->nslots - 1);; i = (i + 1) & (x->nslots - 1)) {
        struct kslot *k = &x->slots[i];

        if (!k->used)
            return NULL;
        if (k->h == h && k->len == n && !memcmp(x->keys + k->off, p, n))
            return k;
    }
}

static int cache_put(struct crx *x, uint64_t h, const char *p, size_t n,
                     uint32_t id)
{
    if (2 * (x->nkeys + 1) > x->nslots) {
        size_t ns = x->nslots ? 2 * x->nslots : 64;
        struct kslot *s = calloc(ns, sizeof(*s));

        if (!s)
            return -1;
        for (size_t i = 0; i < x->nslots; i++) {
            size_t j;

            if (!x->slots[i].used)
                continue;
            for (j = x->slots[i].h & (ns - 1); s[j].used;
                 j = (j + 1) & (ns - 1))
                ;
            s[j] = x->slots[i];
        }
        free(x->slots);
        x->slots = s;
        x->nslots = ns;
    }
    if (grow_array((void **)&x->keys, &x->keys_cap, x->keys_len + n, 1) < 0)
        return -1;
    memcpy(x->keys + x->keys_len, p, n);
    for (size_t j = h & (x->nslots - 1);; j = (j + 1) & (x->nslots - 1))
        if (!x->slots[j].used) {
            x->slots[j] = (struct kslot){h, x->keys_len, n, id, true};
            break;
        }
    x->keys_len += n;
    x->nkeys++;
    return 0;
}

/* ---- lines */

/* Decode and intern the series of fields f[1..4]. */
static int intern(struct crx *x, const char *const f[NFIELDS],
                  const size_t fl[NFIELDS], uint32_t *id)
{
    struct series_desc d = {0};
    size_t eoff, moff, loff, nl;
    int64_t r;
    int rc;

    x->dec_len = 0;
    if ((rc = decode(x, f[1], fl[1], "entity", &eoff)) < 0 ||
        (rc = decode(x, f[2], fl[2], "metric", &moff)) < 0 ||
        (rc = labels(x, f[3], fl[3], &nl, &loff)) < 0 ||
        (rc = parse_kind(x, f[4], fl[4], &d.kind, &d.wrap)) < 0)
        return rc;
    if (fl[2] == 0)
        return fail_at(x, f[2], "expected a metric name");
    if (grow_array((void **)&x->lab, &x->lab_cap, nl + 1, sizeof(*x->lab)) < 0)
        return nomem(x);
    for (size_t i = 0, off = loff; i < nl; i++) {
        x->lab[i].name = x->dec + off;
        off += strlen(x->dec + off) + 1;
        x->lab[i].value = x->dec + off;
        off += strlen(x->dec + off) + 1;
    }
    d.entity = x->dec + eoff;
    d.metric = x->dec + moff;
    d.labels = x->lab;
    d.nlabels = nl;
    r = series_store_intern(x->st, &d);
    if (r == -SERIES_E_NOMEM)
        return nomem(x);
    if (r == -SERIES_E_KIND)
        return fail_at(x, f[4], "series %s is a %s here and a %s before",
                       d.metric, d.kind == SERIES_COUNTER ? "counter" : "gauge",
                       d.kind == SERIES_COUNTER ? "gauge" : "counter");
    if (r < 0)
        return fail_at(x, f[3], "a label name given twice");
    *id = (uint32_t)r;
    return 0;
}

static int data_line(struct crx *x, const char *p, size_t n)
{
    const char *f[NFIELDS];
    size_t fl[NFIELDS], k = 0, keylen;
    const char *s = p;
    struct kslot *slot;
    uint64_t h;
    uint32_t id = 0;
    int64_t t = 0;
    double v;
    int rc;

    for (size_t i = 0; i <= n; i++)
        if (i == n || p[i] == ',') {
            if (i < n && k == NFIELDS - 1)
                return fail_at(x, p + i, "expected %d fields, found more",
                               NFIELDS);
            f[k] = s;
            fl[k++] = (size_t)(p + i - s);
            s = p + i + 1;
        }
    if (k != NFIELDS)
        return fail_at(x, p + n, "expected %d fields, found %zu", NFIELDS, k);
    if ((rc = parse_time(x, f[0], fl[0], &t)) < 0)
        return rc;
    keylen = (size_t)(f[4] + fl[4] - f[1]);
    h = text_hash(f[1], keylen);
    slot = cache_find(x, h, f[1], keylen);
    if (slot) {
        id = slot->id;
    } else {
        if ((rc = intern(x, f, fl, &id)) < 0)
            return rc;
        if (cache_put(x, h, f[1], keylen, id) < 0)
            return nomem(x);
    }
    if (!prom_parse_value(f[5], fl[5], &v))
        return fail_at(x, f[5], "expected a number, NaN, +Inf or -Inf");
    if (series_store_append(x->st, id, t, v) < 0)
        return nomem(x);
    x->count++;
    return 0;
}

static int line(struct crx *x, const char *p, size_t n)
{
    x->line++;
    x->lp = p;
    if (n && p[n - 1] == '\r')
        n--;
    if (n == 0)
        return 0;
    if (!x->header_done) {
        if (n != strlen(COLLECT_REC_HEADER) ||
            memcmp(p, COLLECT_REC_HEADER, n) != 0)
            return fail_at(x, p, "expected the header " COLLECT_REC_HEADER);
        x->header_done = true;
        return 0;
    }
    return data_line(x, p, n);
}

static void crx_init(struct crx *x, struct series_store *store,
                     const char *name, char *err, size_t errlen)
{
    memset(x, 0, sizeof(*x));
    x->st = store;
    x->name = name ? name : "<recording>";
    x->err = err;
    x->errlen = errlen;
    if (errlen)
        err[0] = 0;
}

static void crx_free(struct crx *x)
{
    free(x->slots);
    free(x->keys);
    free(x->dec);
    free(x->lab);
}

int64_t collect_rec_parse(struct series_store *store, const char *name,
                          const char *data, size_t len, char *err,
                          size_t errlen)
{
    struct crx x;
    size_t pos = 0;
    int rc = 0;

    crx_init(&x, store, name, err, errlen);
    while (pos < len && rc == 0) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;

        rc = line(&x, data + pos, end - pos);
        pos = end + 1;
    }
    crx_free(&x);
    return rc < 0 ? rc : x.count;
}

int64_t collect_rec_read(struct series_store *store, const char *path,
                         char *err, size_t errlen)
{
    struct source *src = source_open(path, err, errlen);
    struct crx x;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    int rc = 0;

    if (!src)
        return -INGEST_E_NOINPUT;
    crx_init(&x, store, source_name(src), err, errlen);
    for (;;) {
        size_t pos = 0;
        ssize_t r;

        if (len == cap) {
            if (cap >= MAX_LINE) {
                x.line++;
                x.lp = buf;
                rc = fail_at(&x, buf, "line longer than %u bytes", MAX_LINE);
                break;
            }
            if (grow_array((void **)&buf, &cap, cap ? 2 * cap : 65536, 1) < 0) {
                rc = nomem(&x);
                break;
            }
        }
        r = source_read(src, buf + len, cap - len);
        if (r < 0) {
            snprintf(err, errlen, "%s", source_error(src));
            rc = source_error_is_data(src) ? -INGEST_E_MALFORMED
                                           : -INGEST_E_NOINPUT;
            break;
        }
        if (r == 0) {
            if (len)
                rc = line(&x, buf, len);
            break;
        }
        len += (size_t)r;
        for (char *nl; rc == 0 && (nl = memchr(buf + pos, '\n', len - pos));
             pos = (size_t)(nl - buf) + 1)
            rc = line(&x, buf + pos, (size_t)(nl - buf) - pos);
        if (rc < 0)
            break;
        memmove(buf, buf + pos, len - pos);
        len -= pos;
    }
    free(buf);
    crx_free(&x);
    source_close(src);
    return rc < 0 ? rc : x.count;
}

/* ---- writing */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom || grow_array((void **)&b->p, &b->cap, b->len + n + 1, 1) < 0) {
        b->oom = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_escaped(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (must_escape(c)) {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            sb_putn(b, e, 3);
        } else {
            sb_putn(b, s, 1);
        }
    }
}

char *collect_rec_key(const struct series_store *s, uint32_t id)
{
    struct sbuf b = {0};
    const struct series_label *l;
    size_t n;
    double wrap = series_wrap(s, id);

    sb_escaped(&b, series_entity(s, id));
    sb_putn(&b, ",", 1);
    sb_escaped(&b, series_metric(s, id));
    sb_putn(&b, ",", 1);
    l = series_labels(s, id, &n);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_putn(&b, ";", 1);
        sb_putn(&b, l[i].name, strlen(l[i].name));
        sb_putn(&b, "=", 1);
        sb_escaped(&b, l[i].value);
    }
    if (series_kind(s, id) == SERIES_GAUGE)
        sb_putn(&b, ",gauge", 6);
    else if (wrap == WRAP32)
        sb_putn(&b, ",counter32", 10);
    else if (wrap == WRAP64)
        sb_putn(&b, ",counter64", 10);
    else
        sb_putn(&b, ",counter", 8);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* An integer below 2^53 in decimal (most values: counters), without
 * printf's floating-point path. Returns its length, or 0 when v is not
 * such an integer (or is -0). */
static size_t put_integer(char *buf, size_t len, double v)
{
    char tmp[24];
    size_t n = 0, k = 0;
    uint64_t u;

    if (!(v > -9007199254740992.0 && v < 9007199254740992.0) ||
        v != (double)(int64_t)v || (v == 0 && signbit(v)))
        return 0;
    u = v < 0 ? (uint64_t) - (int64_t)v : (uint64_t)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    if (n + 2 > len)
        return 0;
    if (v < 0)
        buf[k++] = '-';
    while (n)
        buf[k++] = tmp[--n];
    buf[k] = 0;
    return k;
}

size_t collect_rec_value(char *buf, size_t len, double v)
{
    size_t k;
    int n;

    if ((k = put_integer(buf, len, v)) > 0)
        return k;
    if (isnan(v))
        n = snprintf(buf, len, "NaN");
    else if (isinf(v))
        n = snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
    else
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(buf, len, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

int collect_rec_write_store(FILE *f, const struct series_store *s, char *err,
                            size_t errlen)
{
    char val[40];

    fputs(COLLECT_REC_HEADER "\n", f);
    for (uint32_t id = 0; id < series_store_count(s); id++) {
        char *key = collect_rec_key(s, id);
        const int64_t *t = series_times(s, id);
        const double *v = series_values(s, id);

        if (!key) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < series_len(s, id); i++) {
            collect_rec_value(val, sizeof val, v[i]);
            fprintf(f, "%lld,%s,%s\n", (long long)t[i], key, val);
        }
        free(key);
    }
    if (fflush(f) != 0 || ferror(f)) {
        snprintf(err, errlen, "write: %s", strerror(errno));
        return -1;
    }
    return 0;
}
