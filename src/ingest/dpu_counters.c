/* dpu_counters: DPU / SmartNIC / switch counters in skewscope's CSV or
 * JSON-lines format (dpu_counters.h) -> series_store. CSV goes through the
 * strict RFC 4180 scanner (rcaeval_csv: positions for every field); JSON
 * lines are read one line at a time with jansson (memory: one line). */
#include "ingest/dpu_counters.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/rcaeval_csv.h"
#include "ingest/source.h"
#include "model/series.h"

/* Longest JSON line accepted. */
#define DPU_MAX_LINE (1u << 20)

static const char *const gauges[] = DPU_COUNTERS_GAUGES;

static bool is_alpha(char c)
{
    return (c | 32) >= 'a' && (c | 32) <= 'z';
}

static bool name_ok(const char *p, size_t n)
{
    if (!n || n > 200 || !(p[0] == '_' || is_alpha(p[0])))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(p[i] == '_' || (p[i] >= '0' && p[i] <= '9') || is_alpha(p[i])))
            return false;
    return true;
}

static bool default_gauge(const char *name)
{
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
        if (!strcmp(gauges[i], name))
            return true;
    return false;
}

/* One sample: its series (device, "dpu_" + counter, port) of kind and
 * wrap. Returns 0, -INGEST_E_NOMEM, or -INGEST_E_MALFORMED with a short
 * reason in why (the caller adds the position). */
static int put(struct series_store *st, const char *device, const char *port,
               const char *counter, enum series_kind kind, double wrap,
               int64_t t_ns, double v, char *why, size_t wlen)
{
    char metric[256];
    struct series_label l = {"port", port ? port : ""};
    struct series_desc d = {device, metric, &l, 1, kind, wrap};
    int64_t id;

    snprintf(metric, sizeof metric, "dpu_%s", counter);
    id = series_store_intern(st, &d);
    if (id == -SERIES_E_NOMEM)
        return -INGEST_E_NOMEM;
    if (id < 0) {
        snprintf(why, wlen,
                 "counter \"%s\" of %s is a %s here and a %s "
                 "before",
                 counter, device, kind == SERIES_GAUGE ? "gauge" : "counter",
                 kind == SERIES_GAUGE ? "counter" : "gauge");
        return -INGEST_E_MALFORMED;
    }
    if (series_store_append(st, (uint32_t)id, t_ns, v) < 0)
        return -INGEST_E_NOMEM;
    return 0;
}

/* ---------------------------------------------------------------------
 * CSV
 * --------------------------------------------------------------------- */

enum col {
    COL_TIME,
    COL_TIME_NS,
    COL_DEVICE,
    COL_PORT,
    COL_COUNTER,
    COL_VALUE,
    COL_TYPE,
    NCOLS
};
static const char *const col_names[NCOLS] = {
    "time", "time_ns", "device", "port", "counter", "value", "type"};

struct csv_ctx {
    struct series_store *st;
    int64_t samples;
};

struct csv_row {
    int64_t t;
    char device[256], port[256], counter[256];
    double v;
    enum series_kind kind;
    double wrap;
    bool has_type;
};

static int csv_text(struct rcaeval_csv *c, const struct rcaeval_csv_field *f,
                    char *dst, size_t n, const char *what, bool empty_ok)
{
    if ((!f->len && !empty_ok) || f->len >= n || memchr(f->p, 0, f->len))
        return rcaeval_csv_fail(c, f->line, f->col,
                                "%s: expected text of 1 to %zu bytes", what,
                                n - 1);
    memcpy(dst, f->p, f->len);
    dst[f->len] = 0;
    return 0;
}

static int csv_type(struct rcaeval_csv *c, const struct rcaeval_csv_field *f,
                    struct csv_row *r)
{
    static const struct {
        const char *name;
        enum series_kind kind;
        double wrap;
    } types[] = {{"counter", SERIES_COUNTER, 0},
                 {"counter32", SERIES_COUNTER, 4294967296.0},
                 {"counter64", SERIES_COUNTER, 18446744073709551616.0},
                 {"gauge", SERIES_GAUGE, 0}};

    if (!f->len)
        return 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].name) == f->len &&
            !memcmp(types[i].name, f->p, f->len)) {
            r->kind = types[i].kind;
            r->wrap = types[i].wrap;
            r->has_type = true;
            return 0;
        }
    return rcaeval_csv_fail(c, f->line, f->col,
                            "type: expected counter, counter32, counter64 "
                            "or gauge");
}

static int csv_cell(struct rcaeval_csv *c, const struct rcaeval_csv_field *f,
                    int col, struct csv_row *r)
{
    char txt[48];

    switch (col) {
    case COL_TIME:
        if (!rcaeval_csv_time_s(f->p, f->len, &r->t))
            return rcaeval_csv_fail(
                c, f->line, f->col, "time \"%s\": expected Unix seconds",
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt));
        return 0;
    case COL_TIME_NS:
        if (!rcaeval_csv_int64(f->p, f->len, &r->t))
            return rcaeval_csv_fail(
                c, f->line, f->col, "time_ns \"%s\": expected an integer",
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt));
        return 0;
    case COL_DEVICE:
        return csv_text(c, f, r->device, sizeof r->device, "device", false);
    case COL_PORT:
        return csv_text(c, f, r->port, sizeof r->port, "port", true);
    case COL_COUNTER:
        if (!name_ok(f->p, f->len))
            return rcaeval_csv_fail(
                c, f->line, f->col,
                "counter \"%s\": expected a name "
                "[A-Za-z_][A-Za-z0-9_]*",
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt));
        return csv_text(c, f, r->counter, sizeof r->counter, "counter", false);
    case COL_VALUE:
        if (!rcaeval_csv_field_number(f, &r->v))
            return rcaeval_csv_fail(
                c, f->line, f->col, "value \"%s\" is not a number",
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt));
        return 0;
    default:
        return csv_type(c, f, r);
    }
}

static int csv_header(struct rcaeval_csv *c, struct rcaeval_csv_header *h,
                      int *colmap)
{
    int64_t at[NCOLS];
    char txt[48];

    for (size_t k = 0; k < h->n; k++) {
        colmap[k] = -1;
        for (int i = 0; i < NCOLS; i++)
            if (!strcmp(h->names[k], col_names[i]))
                colmap[k] = i;
        if (colmap[k] < 0)
            return rcaeval_csv_fail(
                c, h->line[k], h->col[k],
                "unknown column \"%s\" (time or time_ns, device, port, "
                "counter, value, type)",
                rcaeval_csv_text(h->names[k], strlen(h->names[k]), txt,
                                 sizeof txt));
    }
    for (int i = 0; i < NCOLS; i++)
        at[i] = rcaeval_csv_header_find(h, col_names[i]);
    if ((at[COL_TIME] < 0) == (at[COL_TIME_NS] < 0))
        return rcaeval_csv_fail(c, 1, 1,
                                "the header needs one of the columns time "
                                "and time_ns");
    for (int i = COL_DEVICE; i <= COL_VALUE; i++)
        if (i != COL_PORT && at[i] < 0)
            return rcaeval_csv_fail(c, 1, 1, "the header has no column \"%s\"",
                                    col_names[i]);
    return 0;
}

static int csv_fn(struct rcaeval_csv *c, void *out)
{
    struct csv_ctx *x = out;
    struct rcaeval_csv_header h;
    int colmap[64];
    int rc = rcaeval_csv_header_read(c, &h);

    if (rc >= 0 && h.n > 64)
        rc = rcaeval_csv_fail(c, 1, 1, "too many columns");
    if (rc >= 0)
        rc = csv_header(c, &h, colmap);
    while (rc >= 0) {
        struct csv_row r = {0};
        struct rcaeval_csv_field f, first = {0};
        char why[160];
        size_t k = 0;

        for (;; k++) {
            int st = rcaeval_csv_next(c, &f);

            if (st == 0 && k == 0)
                goto done;
            if (st <= 0) {
                rc = st;
                goto done;
            }
            if (k == 0)
                first = f;
            if ((rc = rcaeval_csv_row_shape(c, &f, st, k, h.n)) < 0 ||
                (rc = csv_cell(c, &f, colmap[k], &r)) < 0)
                goto done;
            if (k + 1 == h.n)
                break;
        }
        if (!r.has_type) {
            r.kind = default_gauge(r.counter) ? SERIES_GAUGE : SERIES_COUNTER;
            r.wrap = 0;
        }
        rc = put(x->st, r.device, r.port[0] ? r.port : NULL, r.counter, r.kind,
                 r.wrap, r.t, r.v, why, sizeof why);
        if (rc == -INGEST_E_MALFORMED)
            rc = rcaeval_csv_fail(c, first.line, first.col, "%s", why);
        if (rc == 0)
            x->samples++;
    }
done:
    rcaeval_csv_header_free(&h);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------
 * JSON lines
 * --------------------------------------------------------------------- */

struct jl {
    struct series_store *st;
    const char *name;
    char *err;
    size_t errlen;
    int64_t samples;
    uint64_t line;
};

__attribute__((format(printf, 3, 4))) static int jfail(struct jl *j, int col,
                                                       const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ingest_vfail_at(j->err, j->errlen, j->name, j->line,
                    col > 0 ? (uint64_t)col : 1, fmt, ap);
    va_end(ap);
    return -INGEST_E_MALFORMED;
}

static int jl_time(struct jl *j, json_t *o, int64_t *t)
{
    json_t *s = json_object_get(o, "time"), *ns = json_object_get(o, "time_ns");

    if ((s != NULL) == (ns != NULL))
        return jfail(j, 1, "expected one of \"time\" and \"time_ns\"");
    if (ns) {
        if (!json_is_integer(ns))
            return jfail(j, 1, "\"time_ns\": expected an integer");
        *t = (int64_t)json_integer_value(ns);
        return 0;
    }
    if (json_is_integer(s)) {
        json_int_t v = json_integer_value(s);

        if (v > INT64_MAX / 1000000000 || v < INT64_MIN / 1000000000)
            return jfail(j, 1, "\"time\": out of range");
        *t = (int64_t)v * 1000000000;
        return 0;
    }
    double x = json_is_real(s) ? json_real_value(s) : NAN;
    if (!(fabs(x) < 9.2e9))
        return jfail(j, 1, "\"time\": expected Unix seconds");
    *t = llround(x * 1e9);
    return 0;
}

static int jl_values(struct jl *j, json_t *obj, const char *what,
                     enum series_kind kind, const char *device,
                     const char *port, int64_t t)
{
    const char *k;
    json_t *v;
    char why[160];

    if (!json_is_object(obj))
        return jfail(j, 1, "\"%s\": expected an object of numbers", what);
    json_object_foreach(obj, k, v)
    {
        int rc;

        if (!name_ok(k, strlen(k)))
            return jfail(j, 1,
                         "\"%s\": counter name \"%.60s\" is not "
                         "[A-Za-z_][A-Za-z0-9_]*",
                         what, k);
        if (!json_is_number(v))
            return jfail(j, 1, "\"%s\".\"%.60s\": expected a number", what, k);
        rc = put(j->st, device, port, k, kind, 0, t, json_number_value(v), why,
                 sizeof why);
        if (rc == -INGEST_E_MALFORMED)
            return jfail(j, 1, "%s", why);
        if (rc < 0)
            return rc;
        j->samples++;
    }
    return 0;
}

static int jl_line(struct jl *j, const char *p, size_t n)
{
    json_error_t e;
    json_t *o, *dev, *port, *cn, *ga;
    const char *k;
    json_t *v;
    int64_t t = 0;
    int rc = 0;

    while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i == n)
        return 0; /* blank line */
    if (!(o = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e)))
        return jfail(j, e.column, "JSON: %s", e.text);
    if (!json_is_object(o)) {
        json_decref(o);
        return jfail(j, 1, "expected one JSON object per line");
    }
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "time") && strcmp(k, "time_ns") && strcmp(k, "device") &&
            strcmp(k, "port") && strcmp(k, "counters") && strcmp(k, "gauges")) {
            rc = jfail(j, 1,
                       "unknown member \"%.40s\" (time or time_ns, device, "
                       "port, counters, gauges)",
                       k);
            goto out;
        }
    }
    dev = json_object_get(o, "device");
    port = json_object_get(o, "port");
    cn = json_object_get(o, "counters");
    ga = json_object_get(o, "gauges");
    if (!json_is_string(dev) || !json_string_length(dev) ||
        strlen(json_string_value(dev)) != json_string_length(dev)) {
        rc = jfail(j, 1, "\"device\": expected a non-empty string");
        goto out;
    }
    if (port && (!json_is_string(port) ||
                 strlen(json_string_value(port)) != json_string_length(port))) {
        rc = jfail(j, 1, "\"port\": expected a string");
        goto out;
    }
    if (!cn && !ga) {
        rc = jfail(j, 1, "expected \"counters\" or \"gauges\"");
        goto out;
    }
    if ((rc = jl_time(j, o, &t)) < 0)
        goto out;
    const char *ps = port ? json_string_value(port) : NULL;
    if (cn && (rc = jl_values(j, cn, "counters", SERIES_COUNTER,
                              json_string_value(dev), ps, t)) < 0)
        goto out;
    if (ga)
        rc = jl_values(j, ga, "gauges", SERIES_GAUGE, json_string_value(dev),
                       ps, t);
out:
    json_decref(o);
    return rc;
}

/* Lines of src, one at a time, to jl_line(). */
static int jl_run(struct source *src, struct jl *j)
{
    size_t cap = 65536, len = 0, start = 0;
    char *buf = malloc(cap);
    int rc = 0;

    if (!buf)
        return -INGEST_E_NOMEM;
    j->line = 0;
    for (bool eof = false; !rc;) {
        char *nl = memchr(buf + start, '\n', len - start);

        if (!nl && !eof) {
            /* keep the partial line, read more */
            memmove(buf, buf + start, len - start);
            len -= start;
            start = 0;
            if (len == cap) {
                char *nb;

                if (cap >= DPU_MAX_LINE) {
                    j->line++;
                    rc = jfail(j, 1, "line longer than %u bytes", DPU_MAX_LINE);
                    break;
                }
                if (!(nb = realloc(buf, cap * 2))) {
                    rc = -INGEST_E_NOMEM;
                    break;
                }
                buf = nb;
                cap *= 2;
            }
            ssize_t k = source_read(src, buf + len, cap - len);
            if (k < 0) {
                snprintf(j->err, j->errlen, "%s: %s", j->name,
                         source_error(src));
                rc = source_error_is_data(src) ? -INGEST_E_MALFORMED
                                               : -INGEST_E_NOINPUT;
                break;
            }
            eof = k == 0;
            len += (size_t)k;
            continue;
        }
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (!nl && start == len)
            break;
        j->line++;
        rc = jl_line(j, buf + start, end - start);
        start = nl ? end + 1 : len;
        if (!nl)
            break;
    }
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------
 * Entry points
 * --------------------------------------------------------------------- */

static bool starts_json(struct source *src)
{
    const unsigned char *p;
    ssize_t n = source_peek(src, &p, 4096);

    for (ssize_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", p[i]))
            return p[i] == '{';
    return false;
}

static int64_t run(struct series_store *st, struct source *src, char *err,
                   size_t errlen)
{
    int rc;
    int64_t samples;

    if (starts_json(src)) {
        struct jl j = {st, source_name(src), err, errlen, 0, 0};

        rc = jl_run(src, &j);
        samples = j.samples;
        source_close(src);
    } else {
        struct csv_ctx x = {st, 0};
        struct rcaeval_csv *c = rcaeval_csv_create(src);

        if (!c) {
            source_close(src);
            snprintf(err, errlen, "out of memory");
            return -INGEST_E_NOMEM;
        }
        rc = csv_fn(c, &x);
        if (rc < 0 && rc != -INGEST_E_NOMEM)
            snprintf(err, errlen, "%s", rcaeval_csv_message(c));
        samples = x.samples;
        rcaeval_csv_destroy(c);
        source_close(src);
    }
    if (rc == -INGEST_E_NOMEM)
        snprintf(err, errlen, "out of memory");
    return rc < 0 ? rc : samples;
}

int64_t dpu_counters_parse(struct series_store *store, const char *name,
                           const char *data, size_t len, char *err,
                           size_t errlen)
{
    struct source *src = source_open_memory(data, len, name, err, errlen);

    if (!src)
        return -INGEST_E_NOMEM;
    return run(store, src, err, errlen);
}

int64_t dpu_counters_read(struct series_store *store, const char *path,
                          char *err, size_t errlen)
{
    struct source *src = source_open(path, err, errlen);

    if (!src)
        return -INGEST_E_NOINPUT;
    return run(store, src, err, errlen);
}

static bool has(const char *s, size_t m, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= m; i++)
        if (!memcmp(s + i, needle, k))
            return true;
    return false;
}

bool dpu_counters_sniff(const char *data, size_t n)
{
    size_t i = 0, e;

    while (i < n && strchr(" \t\r\n", data[i]))
        i++;
    if (i < n && data[i] == '{') {
        e = i;
        while (e < n && data[e] != '\n')
            e++;
        /* a JSON object line mentioning device and counters or gauges */
        const char *s = data + i;
        size_t m = e - i;
        return has(s, m, "\"device\"") &&
               (has(s, m, "\"counters\"") || has(s, m, "\"gauges\""));
    }
    e = i;
    while (e < n && data[e] != '\n' && data[e] != '\r')
        e++;
    /* a CSV header line naming device, counter and value */
    const char *s = data + i;
    size_t m = e - i;
    return has(s, m, "device") && has(s, m, "counter") && has(s, m, "value") &&
           memchr(s, ',', m);
}
