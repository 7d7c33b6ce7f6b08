/* prom_text: one Prometheus text-format scrape body -> series_store
 * samples. Line by line; families' kinds come from `# TYPE`. See
 * prom_text.h for the grammar accepted and the kinds given. */
#include "ingest/prom_text.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/prom_common.h"
#include "ingest/source.h"
#include "model/series.h"
#include "util/grow.h"

enum ftype { F_UNTYPED, F_COUNTER, F_GAUGE, F_HISTOGRAM, F_SUMMARY };

struct family {
    char *name;
    enum ftype type;
};

struct lab {
    size_t name, value; /* offsets into scratch */
    uint64_t col;       /* column of the label name, for messages */
};

struct ptx {
    struct series_store *st;
    const char *name;
    const char *p;
    size_t len;
    size_t pos;
    uint64_t line;
    size_t line_start;
    const struct prom_opts *opts;
    int64_t scrape_ns;
    struct family *fam;
    size_t nfam, famcap;
    size_t last_fam; /* cache: samples of a family come together */
    struct lab *lab;
    size_t nlab, labcap;
    char *scratch;
    size_t nscratch, scratchcap;
    struct series_label *sl; /* labels handed to the store */
    size_t slcap;
    char *err;
    size_t errlen;
};

static int fail_at(struct ptx *x, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct ptx *x, size_t at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ingest_vfail_at(x->err, x->errlen, x->name, x->line,
                    (uint64_t)(at - x->line_start + 1), fmt, ap);
    va_end(ap);
    return -INGEST_E_MALFORMED;
}

static int nomem(struct ptx *x)
{
    snprintf(x->err, x->errlen, "%s: out of memory", x->name);
    return -INGEST_E_NOMEM;
}

/* Append bytes to scratch; returns the offset where they start. */
static int64_t scratch_put(struct ptx *x, const char *s, size_t n)
{
    size_t at = x->nscratch;

    if (grow_array((void **)&x->scratch, &x->scratchcap, at + n + 1, 1) < 0)
        return -1;
    memcpy(x->scratch + at, s, n);
    x->scratch[at + n] = 0;
    x->nscratch = at + n + 1;
    return (int64_t)at;
}

static bool is_name_start(char c, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon && c == ':');
}

static bool is_name_char(char c, bool colon)
{
    return is_name_start(c, colon) || (c >= '0' && c <= '9');
}

static size_t eol(const struct ptx *x)
{
    const char *nl = memchr(x->p + x->pos, '\n', x->len - x->pos);

    return nl ? (size_t)(nl - x->p) : x->len;
}

static void blanks(struct ptx *x, size_t end)
{
    while (x->pos < end && (x->p[x->pos] == ' ' || x->p[x->pos] == '\t'))
        x->pos++;
}

/* A name at pos; returns its length (0 when none). */
static size_t name_len(const struct ptx *x, size_t end, bool colon)
{
    size_t i = x->pos;

    if (i >= end || !is_name_start(x->p[i], colon))
        return 0;
    while (i < end && is_name_char(x->p[i], colon))
        i++;
    return i - x->pos;
}

/* A token (up to a blank or the line end). */
static size_t token_len(const struct ptx *x, size_t end)
{
    size_t i = x->pos;

    while (i < end && x->p[i] != ' ' && x->p[i] != '\t')
        i++;
    return i - x->pos;
}

static struct family *family_find(struct ptx *x, const char *name, size_t n)
{
    if (x->last_fam < x->nfam && !strncmp(x->fam[x->last_fam].name, name, n) &&
        !x->fam[x->last_fam].name[n])
        return &x->fam[x->last_fam];
    for (size_t i = 0; i < x->nfam; i++)
        if (!strncmp(x->fam[i].name, name, n) && !x->fam[i].name[n]) {
            x->last_fam = i;
            return &x->fam[i];
        }
    return NULL;
}

/* `# TYPE name type` (x->pos after "TYPE"). */
static int type_line(struct ptx *x, size_t end)
{
    static const char *const types[] = {"untyped", "counter", "gauge",
                                        "histogram", "summary"};
    struct family *f;
    size_t n, tn;
    const char *name;

    blanks(x, end);
    n = name_len(x, end, true);
    if (!n)
        return fail_at(x, x->pos, "expected a metric name after # TYPE");
    name = x->p + x->pos;
    x->pos += n;
    blanks(x, end);
    tn = token_len(x, end);
    for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++) {
        if (strlen(types[t]) != tn || strncmp(types[t], x->p + x->pos, tn))
            continue;
        f = family_find(x, name, n);
        if (!f) {
            if (grow_array((void **)&x->fam, &x->famcap, x->nfam + 1,
                           sizeof(*x->fam)) < 0)
                return nomem(x);
            f = &x->fam[x->nfam];
            f->name = strndup(name, n);
            if (!f->name)
                return nomem(x);
            x->nfam++;
        }
        f->type = (enum ftype)t;
        x->pos += tn;
        blanks(x, end);
        if (x->pos < end && x->p[x->pos] != '\r')
            return fail_at(x, x->pos, "unexpected text after the type");
        return 0;
    }
    return fail_at(x, x->pos,
                   "expected counter, gauge, histogram, summary or untyped");
}

static bool has_suffix(const char *s, size_t n, const char *suf, size_t *base)
{
    size_t k = strlen(suf);

    if (n <= k || strncmp(s + n - k, suf, k))
        return false;
    *base = n - k;
    return true;
}

/* Kind of a sample named name[0..n), from its family's TYPE. */
static enum series_kind sample_kind(struct ptx *x, const char *name, size_t n)
{
    struct family *f = family_find(x, name, n);
    size_t base;

    if (f)
        return f->type == F_COUNTER ? SERIES_COUNTER : SERIES_GAUGE;
    if (has_suffix(name, n, "_bucket", &base) ||
        has_suffix(name, n, "_count", &base) ||
        has_suffix(name, n, "_sum", &base)) {
        f = family_find(x, name, base);
        if (f && (f->type == F_HISTOGRAM || f->type == F_SUMMARY))
            return SERIES_COUNTER;
    }
    /* OpenMetrics: TYPE x counter, samples x_total. */
    if (has_suffix(name, n, "_total", &base)) {
        f = family_find(x, name, base);
        if (f && f->type == F_COUNTER)
            return SERIES_COUNTER;
    }
    return SERIES_GAUGE;
}

/* A label value in quotes at pos, unescaped into scratch. */
static int label_value(struct ptx *x, size_t end, size_t *off)
{
    size_t start = x->pos;
    int64_t at = scratch_put(x, "", 0);

    if (at < 0)
        return nomem(x);
    x->nscratch--; /* overwrite the NUL as we go */
    if (x->pos >= end || x->p[x->pos] != '"')
        return fail_at(x, x->pos, "expected '\"' to open a label value");
    for (x->pos++;; x->pos++) {
        char c;

        if (x->pos >= end)
            return fail_at(x, start, "unterminated label value");
        c = x->p[x->pos];
        if (c == '"')
            break;
        if (c == '\\') {
            char e = x->pos + 1 < end ? x->p[x->pos + 1] : 0;

            if (e != '\\' && e != '"' && e != 'n')
                return fail_at(x, x->pos,
                               "expected \\\\, \\\" or \\n in a label value");
            c = e == 'n' ? '\n' : e;
            x->pos++;
        }
        if (scratch_put(x, &c, 1) < 0)
            return nomem(x);
        x->nscratch--;
    }
    x->pos++;
    if (scratch_put(x, "", 0) < 0)
        return nomem(x);
    *off = (size_t)at;
    return 0;
}

static int labels(struct ptx *x, size_t end)
{
    x->pos++; /* '{' */
    for (;;) {
        size_t n, noff = 0;
        int64_t at;
        int rc;

        blanks(x, end);
        if (x->pos < end && x->p[x->pos] == '}')
            break;
        n = name_len(x, end, false);
        if (!n)
            return fail_at(x, x->pos, "expected a label name or '}'");
        if (grow_array((void **)&x->lab, &x->labcap, x->nlab + 1,
                       sizeof(*x->lab)) < 0)
            return nomem(x);
        x->lab[x->nlab].col = x->pos;
        if ((at = scratch_put(x, x->p + x->pos, n)) < 0)
            return nomem(x);
        x->pos += n;
        blanks(x, end);
        if (x->pos >= end || x->p[x->pos] != '=')
            return fail_at(x, x->pos, "expected '=' after a label name");
        x->pos++;
        blanks(x, end);
        if ((rc = label_value(x, end, &noff)) < 0)
            return rc;
        x->lab[x->nlab].name = (size_t)at;
        x->lab[x->nlab].value = noff;
        x->nlab++;
        blanks(x, end);
        if (x->pos < end && x->p[x->pos] == ',') {
            x->pos++;
            continue;
        }
        if (x->pos < end && x->p[x->pos] == '}')
            break;
        return fail_at(x, x->pos, "expected ',' or '}' after a label value");
    }
    x->pos++; /* '}' */
    return 0;
}

/* Store the sample: entity from the labels, the rest as the key. */
static int store(struct ptx *x, const char *name, size_t n, size_t name_at,
                 double v, int64_t t_ns)
{
    struct series_desc d = {0};
    char *metric = NULL;
    int64_t id;
    int ent, rc = 0;
    size_t k = 0;

    if (grow_array((void **)&x->sl, &x->slcap,
                   x->nlab + (x->opts ? x->opts->nextra : 0) + 1,
                   sizeof(*x->sl)) < 0)
        return nomem(x);
    for (size_t i = 0; i < x->nlab; i++) {
        x->sl[i].name = x->scratch + x->lab[i].name;
        x->sl[i].value = x->scratch + x->lab[i].value;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(x->sl[i].name, x->sl[j].name))
                return fail_at(x, x->lab[i].col, "duplicate label name \"%s\"",
                               x->sl[i].name);
    }
    ent = prom_entity_label(x->opts, x->sl, x->nlab);
    d.entity = ent >= 0                             ? x->sl[ent].value
               : x->opts && x->opts->default_entity ? x->opts->default_entity
                                                    : "";
    for (size_t i = 0; i < x->nlab; i++)
        if ((int)i != ent)
            x->sl[k++] = x->sl[i];
    for (size_t e = 0; x->opts && e < x->opts->nextra; e++) {
        bool dup = false;

        for (size_t i = 0; i < k && !dup; i++)
            dup = !strcmp(x->sl[i].name, x->opts->extra_labels[e].name);
        if (!dup)
            x->sl[k++] = x->opts->extra_labels[e];
    }
    metric = strndup(name, n);
    if (!metric)
        return nomem(x);
    d.metric = metric;
    d.labels = x->sl;
    d.nlabels = k;
    d.kind = sample_kind(x, name, n);
    id = series_store_intern(x->st, &d);
    if (id == -SERIES_E_KIND)
        rc = fail_at(x, name_at, "series %s is a %s here and a %s before",
                     metric, d.kind == SERIES_COUNTER ? "counter" : "gauge",
                     d.kind == SERIES_COUNTER ? "gauge" : "counter");
    else if (id == -SERIES_E_INVAL)
        rc = fail_at(x, name_at, "invalid label set");
    else if (id < 0 || series_store_append(x->st, (uint32_t)id, t_ns, v) < 0)
        rc = nomem(x);
    free(metric);
    return rc;
}

static int sample_line(struct ptx *x, size_t end)
{
    size_t n = name_len(x, end, true), name_at = x->pos, vn;
    const char *name = x->p + x->pos;
    int64_t t_ns = x->scrape_ns;
    double v;
    int rc;

    if (!n)
        return fail_at(x, x->pos, "expected a metric name");
    x->pos += n;
    x->nlab = 0;
    x->nscratch = 0;
    blanks(x, end);
    if (x->pos < end && x->p[x->pos] == '{' && (rc = labels(x, end)) < 0)
        return rc;
    blanks(x, end);
    vn = token_len(x, end);
    if (vn && x->p[x->pos + vn - 1] == '\r' && x->pos + vn == end)
        vn--;
    if (!vn || !prom_parse_value(x->p + x->pos, vn, &v))
        return fail_at(x, x->pos,
                       "expected a sample value (a number, NaN, "
                       "+Inf or -Inf)");
    x->pos += vn;
    blanks(x, end);
    if (x->pos < end && x->p[x->pos] != '\r') {
        size_t tn = token_len(x, end);
        char buf[32], *e;
        long long ms;

        if (tn && x->p[x->pos + tn - 1] == '\r' && x->pos + tn == end)
            tn--;
        if (tn == 0 || tn >= sizeof(buf))
            return fail_at(x, x->pos, "expected a timestamp in ms");
        memcpy(buf, x->p + x->pos, tn);
        buf[tn] = 0;
        ms = strtoll(buf, &e, 10);
        if (*e || e == buf || buf[0] == '+' || buf[0] == ' ' ||
            ms > INT64_MAX / 1000000 || ms < INT64_MIN / 1000000)
            return fail_at(x, x->pos, "expected a timestamp in ms");
        t_ns = (int64_t)ms * 1000000;
        x->pos += tn;
        blanks(x, end);
    }
    if (x->pos < end && !(x->p[x->pos] == '\r' && x->pos + 1 == end))
        return fail_at(x, x->pos, "unexpected text after the sample");
    return store(x, name, n, name_at, v, t_ns);
}

/* One line [pos, end). Returns 1 for a sample, 0 for anything else, 2 at
 * "# EOF", or a negated status. */
static int line(struct ptx *x, size_t end)
{
    int rc;

    blanks(x, end);
    if (x->pos >= end || (x->p[x->pos] == '\r' && x->pos + 1 == end))
        return 0;
    if (x->p[x->pos] == '#') {
        x->pos++;
        blanks(x, end);
        if (end - x->pos >= 4 && !strncmp(x->p + x->pos, "TYPE", 4) &&
            (end - x->pos == 4 || x->p[x->pos + 4] == ' ' ||
             x->p[x->pos + 4] == '\t')) {
            x->pos += 4;
            return type_line(x, end);
        }
        if (end - x->pos >= 3 && !strncmp(x->p + x->pos, "EOF", 3))
            return 2;
        return 0; /* HELP and other comments */
    }
    rc = sample_line(x, end);
    return rc < 0 ? rc : 1;
}

int64_t prom_text_parse(struct series_store *store, const char *name,
                        const char *body, size_t len, int64_t scrape_ns,
                        const struct prom_opts *opts, char *err, size_t errlen)
{
    struct ptx x = {0};
    int64_t count = 0;
    int rc = 0;

    x.st = store;
    x.name = name ? name : "<scrape>";
    x.p = body;
    x.len = len;
    x.line = 1;
    x.opts = opts;
    x.scrape_ns = scrape_ns;
    x.err = err;
    x.errlen = errlen;
    if (errlen)
        err[0] = 0;
    while (x.pos < x.len) {
        size_t end = eol(&x);

        rc = line(&x, end);
        if (rc < 0)
            break;
        count += rc == 1;
        if (rc == 2)
            break;
        x.pos = end + 1;
        x.line++;
        x.line_start = x.pos;
    }
    for (size_t i = 0; i < x.nfam; i++)
        free(x.fam[i].name);
    free(x.fam);
    free(x.lab);
    free(x.scratch);
    free(x.sl);
    return rc < 0 ? rc : count;
}

int64_t prom_text_read(struct series_store *store, const char *path,
                       int64_t scrape_ns, const struct prom_opts *opts,
                       char *err, size_t errlen)
{
    struct source *src = source_open(path, err, errlen);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int64_t rc;

    if (!src)
        return -INGEST_E_NOINPUT;
    for (;;) {
        ssize_t r;

        if (grow_array((void **)&buf, &cap, len + 65536, 1) < 0) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -INGEST_E_NOMEM;
            goto out;
        }
        r = source_read(src, buf + len, cap - len);
        if (r < 0) {
            snprintf(err, errlen, "%s", source_error(src));
            rc = -INGEST_E_NOINPUT;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    rc = prom_text_parse(store, source_name(src), buf, len, scrape_ns, opts,
                         err, errlen);
out:
    free(buf);
    source_close(src);
    return rc;
}
