/* rcaeval_csv: strict streaming CSV scanner and the cell spellings of
 * RCAEval's files (pandas' defaults). See rcaeval_csv.h. */
#include "ingest/rcaeval_csv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest/ingest.h"
#include "ingest/source.h"

#define CSV_BUF_INIT (64u << 10)
#define CSV_FIELD_MAX (256u << 20) /* longest field accepted, bytes */

struct rcaeval_csv {
    struct source *src;
    char *buf;     /* bytes [pos, end) not yet consumed; buf[end] spare */
    size_t cap;    /* allocated bytes (> end) */
    size_t pos;    /* next unread byte */
    size_t end;    /* valid bytes */
    uint64_t base; /* absolute offset of buf[0] in the stream */
    bool eof;
    bool row_start; /* the next field starts a row */
    bool prev_cr;   /* the last byte consumed was a CR (CRLF is one end) */
    bool bom_done;
    uint64_t line;       /* current line, from 1 */
    uint64_t line_start; /* absolute offset of the current line's start */
    char *scratch;       /* unescaped quoted field */
    size_t scratch_cap;
    int err; /* sticky negated status, 0 = none */
    char msg[512];
};

static size_t default_bufsize = CSV_BUF_INIT;

void rcaeval_csv_set_default_bufsize(size_t bufsize)
{
    default_bufsize = bufsize == 0 ? CSV_BUF_INIT : bufsize < 4 ? 4 : bufsize;
}

struct rcaeval_csv *rcaeval_csv_create(struct source *src)
{
    struct rcaeval_csv *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->buf = malloc(default_bufsize);
    if (!c->buf) {
        free(c);
        return NULL;
    }
    c->cap = default_bufsize;
    c->src = src;
    c->row_start = true;
    c->line = 1;
    return c;
}

void rcaeval_csv_destroy(struct rcaeval_csv *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c->scratch);
    free(c);
}

const char *rcaeval_csv_message(const struct rcaeval_csv *c)
{
    return c->msg;
}

const char *rcaeval_csv_name(const struct rcaeval_csv *c)
{
    return source_name(c->src);
}

int rcaeval_csv_fail(struct rcaeval_csv *c, uint64_t line, uint64_t col,
                     const char *fmt, ...)
{
    va_list ap;

    if (c->err)
        return c->err;
    va_start(ap, fmt);
    ingest_vfail_at(c->msg, sizeof(c->msg), source_name(c->src), line, col, fmt,
                    ap);
    va_end(ap);
    c->err = -INGEST_E_MALFORMED;
    return c->err;
}

static int fail_io(struct rcaeval_csv *c, int status, const char *what)
{
    snprintf(c->msg, sizeof(c->msg), "%s", what);
    c->err = -status;
    return c->err;
}

/* Make more bytes available, keeping [pos, end). Shifts the buffer down
 * by pos: callers re-derive offsets. Returns the shift (>= 0) or a negated
 * status; sets eof at the end of input. */
static int64_t refill(struct rcaeval_csv *c)
{
    size_t shift = c->pos;
    ssize_t r;

    if (shift) {
        memmove(c->buf, c->buf + shift, c->end - shift);
        c->end -= shift;
        c->pos = 0;
        c->base += shift;
    }
    if (c->end + 1 >= c->cap) {
        size_t nc = c->cap * 2;
        char *nb;

        if (nc > CSV_FIELD_MAX + 2)
            return rcaeval_csv_fail(
                c, c->line, c->base + c->end - c->line_start + 1,
                "field longer than %u bytes", CSV_FIELD_MAX);
        nb = realloc(c->buf, nc);
        if (!nb)
            return fail_io(c, INGEST_E_NOMEM, "out of memory");
        c->buf = nb;
        c->cap = nc;
    }
    do {
        r = source_read(c->src, c->buf + c->end, c->cap - 1 - c->end);
        if (r < 0)
            return fail_io(c, INGEST_E_NOINPUT, source_error(c->src));
        c->eof = r == 0;
        c->end += (size_t)r;
        /* The first bytes: gather three to see a byte order mark. */
    } while (!c->bom_done && !c->eof && c->end < 3);
    if (!c->bom_done) {
        c->bom_done = true;
        if (c->end >= 3 && !memcmp(c->buf, "\xEF\xBB\xBF", 3))
            c->pos = 3, c->line_start = 3;
    }
    return (int64_t)shift;
}

/* Byte at buffer offset i (>= pos), refilling as needed; bytes from pos on
 * are kept, *i is adjusted when the buffer moves. Returns the byte
 * (0..255), -1 at end of input, or a negated status minus 1 (< -1). */
static int byte_at(struct rcaeval_csv *c, size_t *i)
{
    while (*i >= c->end) {
        size_t pos = c->pos;
        int64_t sh;

        if (c->eof)
            return -1;
        sh = refill(c);
        if (sh < 0)
            return (int)sh - 1;
        *i -= (size_t)sh;
        if (c->pos > pos - (size_t)sh) /* a byte order mark was skipped */
            *i = c->pos;
    }
    return (unsigned char)c->buf[*i];
}

/* Count a line end at buffer offset i (the byte there is CR or LF). */
static void line_end(struct rcaeval_csv *c, size_t i, char b)
{
    if (!(b == '\n' && c->prev_cr)) {
        c->line++;
    }
    c->line_start = c->base + i + 1;
    c->prev_cr = b == '\r';
}

static int put_scratch(struct rcaeval_csv *c, size_t n, char b)
{
    if (n + 2 > c->scratch_cap) {
        size_t nc = c->scratch_cap ? c->scratch_cap * 2 : 256;
        char *ns = realloc(c->scratch, nc);

        if (!ns)
            return fail_io(c, INGEST_E_NOMEM, "out of memory");
        c->scratch = ns;
        c->scratch_cap = nc;
    }
    c->scratch[n] = b;
    c->scratch[n + 1] = 0;
    return 0;
}

/* After a field: consume its terminator at offset i. Returns 1 (','), 2
 * (line end or end of input) or a negated status. */
static int finish(struct rcaeval_csv *c, size_t i, int b)
{
    if (b == ',') {
        c->pos = i + 1;
        c->prev_cr = false;
        c->row_start = false;
        return 1;
    }
    if (b >= 0) {
        line_end(c, i, (char)b);
        c->pos = i + 1;
    } else {
        c->pos = i;
    }
    c->row_start = true;
    return 2;
}

static int quoted(struct rcaeval_csv *c, struct rcaeval_csv_field *f)
{
    size_t i = c->pos + 1, n = 0;
    int b;

    for (;;) {
        c->pos = i; /* what precedes i is in scratch already */
        b = byte_at(c, &i);
        if (b < -1)
            return b + 1;
        if (b == -1)
            return rcaeval_csv_fail(c, f->line, f->col,
                                    "unterminated quoted field");
        if (b == '"') {
            i++;
            b = byte_at(c, &i);
            if (b < -1)
                return b + 1;
            if (b != '"')
                break; /* the closing quote; b is what follows it */
        } else if (b == '\n' || b == '\r') {
            line_end(c, i, (char)b);
        } else {
            c->prev_cr = false;
        }
        if (put_scratch(c, n++, (char)b) < 0)
            return c->err;
        i++;
    }
    if (b != -1 && b != ',' && b != '\n' && b != '\r')
        return rcaeval_csv_fail(c, c->line, c->base + i - c->line_start + 1,
                                "expected ',' or end of line after a closing "
                                "quote");
    if (!n && put_scratch(c, 0, 0) < 0)
        return c->err;
    f->p = c->scratch;
    f->len = n;
    f->quoted = true;
    return finish(c, i, b);
}

static int raw(struct rcaeval_csv *c, struct rcaeval_csv_field *f)
{
    size_t i = c->pos;
    int b;

    for (;;) {
        /* The common case: scan the buffered bytes without a call each. */
        while (i < c->end && c->buf[i] != ',' && c->buf[i] != '\n' &&
               c->buf[i] != '\r' && c->buf[i] != '"')
            i++;
        b = byte_at(c, &i);
        if (b < -1)
            return b + 1;
        if (b == -1 || b == ',' || b == '\n' || b == '\r')
            break;
        if (b == '"')
            return rcaeval_csv_fail(c, c->line, c->base + i - c->line_start + 1,
                                    "quote inside an unquoted field");
        i++;
    }
    /* The field is buf[pos, i); its terminator is consumed now, so its
     * byte can hold the NUL (buf[end] is spare at the end of input). */
    c->buf[i] = 0;
    f->p = c->buf + c->pos;
    f->len = i - c->pos;
    f->quoted = false;
    return finish(c, i, b);
}

int rcaeval_csv_next(struct rcaeval_csv *c, struct rcaeval_csv_field *f)
{
    size_t i;
    int b;

    if (c->err)
        return c->err;
    for (;;) {
        i = c->pos;
        b = byte_at(c, &i);
        c->pos = i;
        if (b < -1)
            return b + 1;
        if (!c->row_start || (b != '\n' && b != '\r'))
            break;
        line_end(c, i, (char)b); /* a blank line between rows */
        c->pos = i + 1;
    }
    if (b == -1 && c->row_start)
        return 0;
    f->line = c->line;
    f->col = c->base + c->pos - c->line_start + 1;
    c->prev_cr = false;
    if (b == '"')
        return quoted(c, f);
    return raw(c, f);
}
/* ---- header rows, row shapes, running a reader over a file ---- */

void rcaeval_csv_header_free(struct rcaeval_csv_header *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->names[i]);
    free(h->names);
    free(h->line);
    free(h->col);
    memset(h, 0, sizeof(*h));
}

const char *rcaeval_csv_text(const char *p, size_t len, char *buf, size_t n)
{
    size_t k = len < n - 1 ? len : n - 1;

    for (size_t i = 0; i < k; i++)
        buf[i] = (unsigned char)p[i] >= 32 && p[i] != 127 ? p[i] : '?';
    buf[k] = 0;
    return buf;
}

struct hpos {
    const char *name;
    size_t idx;
};

static int hpos_cmp(const void *a, const void *b)
{
    const struct hpos *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* The second occurrence of a repeated name, or SIZE_MAX. */
static size_t first_duplicate(const struct rcaeval_csv_header *h)
{
    struct hpos *v = malloc((h->n ? h->n : 1) * sizeof(*v));
    size_t dup = SIZE_MAX;

    if (!v)
        return SIZE_MAX;
    for (size_t i = 0; i < h->n; i++)
        v[i].name = h->names[i], v[i].idx = i;
    qsort(v, h->n, sizeof(*v), hpos_cmp);
    for (size_t i = 1; i < h->n; i++)
        if (!strcmp(v[i].name, v[i - 1].name) && v[i].idx < dup)
            dup = v[i].idx;
    free(v);
    return dup;
}

/* Read the header row: names non-empty and unique. */
int rcaeval_csv_header_read(struct rcaeval_csv *c, struct rcaeval_csv_header *h)
{
    struct rcaeval_csv_field f;
    size_t cap = 0, dup;
    char txt[48];
    int rc;

    memset(h, 0, sizeof(*h));
    rc = rcaeval_csv_next(c, &f);
    if (rc == 0)
        return rcaeval_csv_fail(c, 1, 1, "empty file: expected a header row");
    for (;;) {
        if (rc < 0)
            return rc;
        if (h->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(h->names, nc * sizeof(*nn));
            uint64_t *nl, *ncl;

            if (nn)
                h->names = nn;
            nl = realloc(h->line, nc * sizeof(*nl));
            if (nl)
                h->line = nl;
            ncl = realloc(h->col, nc * sizeof(*ncl));
            if (ncl)
                h->col = ncl;
            if (!nn || !nl || !ncl)
                return -INGEST_E_NOMEM;
            cap = nc;
        }
        if (!f.len)
            return rcaeval_csv_fail(c, f.line, f.col,
                                    "column %zu of the header has no name",
                                    h->n + 1);
        if (memchr(f.p, 0, f.len))
            return rcaeval_csv_fail(c, f.line, f.col,
                                    "a column name holds a NUL byte");
        h->names[h->n] = strdup(f.p);
        if (!h->names[h->n])
            return -INGEST_E_NOMEM;
        h->line[h->n] = f.line;
        h->col[h->n] = f.col;
        h->n++;
        if (rc == 2)
            break;
        rc = rcaeval_csv_next(c, &f);
    }
    dup = first_duplicate(h);
    if (dup != SIZE_MAX)
        return rcaeval_csv_fail(
            c, h->line[dup], h->col[dup], "duplicate column name \"%s\"",
            rcaeval_csv_text(h->names[dup], strlen(h->names[dup]), txt,
                             sizeof txt));
    return 0;
}

int64_t rcaeval_csv_header_find(const struct rcaeval_csv_header *h,
                                const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->names[i], name))
            return (int64_t)i;
    return -1;
}

/* A ragged row: rc is the status of the field at index k (0-based) just
 * read; n the header's width. Returns 0 when the row shape is right so
 * far, else the error. */
int rcaeval_csv_row_shape(struct rcaeval_csv *c,
                          const struct rcaeval_csv_field *f, int rc, size_t k,
                          size_t n)
{
    if (rc == 1 && k + 1 >= n)
        return rcaeval_csv_fail(c, f->line, f->col + f->len + 1,
                                "row has more cells than the header's %zu", n);
    if (rc == 2 && k + 1 < n)
        return rcaeval_csv_fail(c, f->line, f->col + f->len,
                                "row has %zu cells, the header has %zu", k + 1,
                                n);
    return 0;
}

int rcaeval_csv_row(struct rcaeval_csv *c, size_t n,
                    int (*cell)(void *ctx, size_t k,
                                const struct rcaeval_csv_field *f),
                    void *ctx)
{
    struct rcaeval_csv_field f;

    for (size_t k = 0;; k++) {
        int rc = rcaeval_csv_next(c, &f);

        if (rc == 0 && k == 0)
            return 0;
        if (rc <= 0)
            return rc;
        if ((rc = rcaeval_csv_row_shape(c, &f, rc, k, n)) < 0 ||
            (rc = cell(ctx, k, &f)) < 0)
            return rc;
        if (k + 1 == n)
            return 1;
    }
}

static int run(struct source *src, rcaeval_csv_fn fn, void *out, char *err,
               size_t errlen)
{
    struct rcaeval_csv *c = rcaeval_csv_create(src);
    int rc;

    if (!c) {
        snprintf(err, errlen, "%s: out of memory", source_name(src));
        source_close(src);
        return -INGEST_E_NOMEM;
    }
    rc = fn(c, out);
    if (rc == -INGEST_E_NOMEM)
        snprintf(err, errlen, "%s: out of memory", source_name(src));
    else if (rc < 0)
        snprintf(err, errlen, "%s", rcaeval_csv_message(c));
    rcaeval_csv_destroy(c);
    source_close(src);
    return rc;
}

int rcaeval_csv_run_file(const char *path, rcaeval_csv_fn fn, void *out,
                         char *err, size_t errlen)
{
    struct source *src = source_open(path, err, errlen);

    if (!src)
        return -INGEST_E_NOINPUT;
    return run(src, fn, out, err, errlen);
}

int rcaeval_csv_run_memory(const char *name, const char *buf, size_t len,
                           rcaeval_csv_fn fn, void *out, char *err,
                           size_t errlen)
{
    struct source *src = source_open_memory(buf, len, name, err, errlen);

    if (!src)
        return -INGEST_E_NOMEM;
    return run(src, fn, out, err, errlen);
}

/* Interned names: a small open-addressing set of strings -> index. */

/* ---- cell spellings ---- */

static const char *const na_values[] = {
    "#N/A", "#N/A N/A", "#NA",     "-1.#IND", "-1.#QNAN", "-NaN",
    "-nan", "1.#IND",   "1.#QNAN", "<NA>",    "N/A",      "NA",
    "NULL", "NaN",      "None",    "n/a",     "nan",      "null"};

bool rcaeval_csv_is_missing(const char *p, size_t len)
{
    if (len == 0)
        return true;
    if (len > 8 || !memchr("#-1<Nn", p[0], 6))
        return false; /* no spelling is longer or starts otherwise */
    for (size_t i = 0; i < sizeof(na_values) / sizeof(*na_values); i++)
        if (strlen(na_values[i]) == len && !memcmp(na_values[i], p, len))
            return true;
    return false;
}

static void trim(const char **p, size_t *len)
{
    while (*len && (**p == ' ' || **p == '\t'))
        (*p)++, (*len)--;
    while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
        (*len)--;
}

/* Length of the decimal number at p (grammar of rcaeval_csv.h), or 0. */
static size_t decimal_len(const char *p, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && (p[i] == '+' || p[i] == '-'))
        i++;
    while (i < len && p[i] >= '0' && p[i] <= '9')
        i++, digits++;
    if (i < len && p[i] == '.') {
        i++;
        while (i < len && p[i] >= '0' && p[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return 0;
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        size_t e = i + 1, ed = 0;

        if (e < len && (p[e] == '+' || p[e] == '-'))
            e++;
        while (e < len && p[e] >= '0' && p[e] <= '9')
            e++, ed++;
        if (!ed)
            return 0;
        i = e;
    }
    return i;
}

static bool is_inf(const char *p, size_t len, double *v)
{
    bool neg = false;

    if (len && (*p == '+' || *p == '-'))
        neg = *p == '-', p++, len--;
    if ((len == 3 && !strncasecmp(p, "inf", 3)) ||
        (len == 8 && !strncasecmp(p, "infinity", 8))) {
        *v = neg ? -INFINITY : INFINITY;
        return true;
    }
    return false;
}

bool rcaeval_csv_number(const char *p, size_t len, double *v)
{
    char small[64], *tmp = small, *endp;
    bool ok;

    trim(&p, &len);
    if (!len)
        return false;
    if (is_inf(p, len, v))
        return true;
    if (decimal_len(p, len) != len)
        return false;
    if (len >= sizeof(small) && !(tmp = malloc(len + 1)))
        return false;
    memcpy(tmp, p, len);
    tmp[len] = 0;
    errno = 0;
    *v = strtod(tmp, &endp);
    /* Overflow gives +-HUGE_VAL (= inf), as pandas does; underflow 0. */
    ok = endp == tmp + len;
    if (tmp != small)
        free(tmp);
    return ok;
}

/* Clinger's fast path: [-]digits[.digits] with at most 2^53 as the digits'
 * integer and at most 22 fraction digits is m / 10^k with both exact
 * doubles, so one IEEE division rounds it correctly (as strtod would).
 * Returns false when the text is not of that shape. */
static bool fast_decimal(const char *p, size_t len, double *v)
{
    static const double pow10[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t m = 0;
    size_t i = 0, k = 0, digits = 0;
    bool neg = false, dot = false;

    if (len && (p[0] == '-' || p[0] == '+'))
        neg = p[i++] == '-';
    for (; i < len; i++) {
        if (p[i] == '.' && !dot) {
            dot = true;
            continue;
        }
        if (p[i] < '0' || p[i] > '9' || ++digits > 15)
            return false; /* 15 digits: m stays below 2^53 */
        m = m * 10 + (uint64_t)(p[i] - '0');
        k += dot;
    }
    if (!digits || k > 22)
        return false;
    *v = (double)m / pow10[k];
    if (neg)
        *v = -*v;
    return true;
}

bool rcaeval_csv_field_number(const struct rcaeval_csv_field *f, double *v)
{
    char *end;

    if (fast_decimal(f->p, f->len, v))
        return true;
    /* Scanner fields end in a NUL: no copy needed unless spaces trail. */
    if (!f->len || f->p[0] == ' ' || f->p[0] == '\t' ||
        f->p[f->len - 1] == ' ' || f->p[f->len - 1] == '\t' ||
        decimal_len(f->p, f->len) != f->len)
        return rcaeval_csv_number(f->p, f->len, v);
    *v = strtod(f->p, &end);
    return end == f->p + f->len;
}

bool rcaeval_csv_time_s(const char *p, size_t len, int64_t *ns)
{
    size_t i = 0;
    bool neg = false;
    uint64_t whole = 0, frac = 0;
    int fd = 0;
    bool round_up = false;
    double d;

    trim(&p, &len);
    if (!len || decimal_len(p, len) != len)
        return false;
    if (memchr(p, 'e', len) || memchr(p, 'E', len)) {
        if (!rcaeval_csv_number(p, len, &d) || !(fabs(d) < 9.2e9))
            return false;
        *ns = (int64_t)llround(d * 1e9);
        return true;
    }
    if (p[i] == '+' || p[i] == '-')
        neg = p[i++] == '-';
    for (; i < len && p[i] != '.'; i++) {
        if (whole > (uint64_t)INT64_MAX / 10)
            return false;
        whole = whole * 10 + (uint64_t)(p[i] - '0');
    }
    if (i < len)
        i++; /* '.' */
    for (; i < len; i++, fd++) {
        if (fd < 9)
            frac = frac * 10 + (uint64_t)(p[i] - '0');
        else if (fd == 9)
            round_up = p[i] >= '5';
    }
    for (; fd < 9; fd++)
        frac *= 10;
    frac += round_up;
    if (whole > (uint64_t)(INT64_MAX / 1000000000) - 1)
        return false;
    *ns = (int64_t)(whole * 1000000000u + frac);
    if (neg)
        *ns = -*ns;
    return true;
}

bool rcaeval_csv_int64(const char *p, size_t len, int64_t *v)
{
    double d;
    size_t i = 0;
    bool neg = false;
    uint64_t acc = 0;

    trim(&p, &len);
    if (!len)
        return false;
    if (p[0] == '+' || p[0] == '-')
        neg = p[i++] == '-';
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        if (acc > ((uint64_t)INT64_MAX + neg - (uint64_t)(p[i] - '0')) / 10)
            return false;
        acc = acc * 10 + (uint64_t)(p[i] - '0');
    }
    if (i == len && i > (size_t)(p[0] == '+' || p[0] == '-')) {
        *v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
        return true;
    }
    /* "3.0", "1.7e12": integral values spelled as floats (pandas writes
     * int columns with NaN as floats). */
    if (!rcaeval_csv_number(p, len, &d) || d != floor(d) || !(d >= -9.2e18) ||
        !(d <= 9.2e18))
        return false;
    *v = (int64_t)d;
    return true;
}
