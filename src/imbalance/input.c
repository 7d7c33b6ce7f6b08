/* input: detection of `imbalance`'s input files, multi-scrape Prometheus
 * text files, and the clock offsets file (input.h). */
#include "imbalance/input.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ingest/collect_rec.h"
#include "ingest/dpu_counters.h"
#include "ingest/ingest.h"
#include "ingest/prom_common.h"
#include "ingest/prom_range.h"
#include "ingest/prom_text.h"
#include "ingest/rcaeval_csv.h"
#include "ingest/source.h"
#include "model/clock_model.h"

#define PEEK 4096

const char *imb_input_kind_name(enum imb_input_kind k)
{
    static const char *const names[] = {"unknown",
                                        "prometheus text",
                                        "prometheus query_range json",
                                        "collector recording",
                                        "dpu/switch counters",
                                        "traces"};

    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static bool contains(const unsigned char *p, size_t n, const char *s)
{
    size_t k = strlen(s);

    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(p + i, s, k))
            return true;
    return false;
}

static bool ident_start(unsigned char c)
{
    return c == '_' || c == ':' || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

enum imb_input_kind imb_input_detect(const char *path, int *status, char *err,
                                     size_t errlen)
{
    struct source *src = source_open(path, err, errlen);
    const unsigned char *p;
    enum imb_input_kind k = IMB_IN_UNKNOWN;
    ssize_t n;
    size_t i = 0, hl = strlen(COLLECT_REC_HEADER);

    *status = 0;
    if (!src) {
        *status = -INGEST_E_NOINPUT;
        return k;
    }
    if ((n = source_peek(src, &p, PEEK)) < 0) {
        snprintf(err, errlen, "%s", source_error(src));
        *status =
            source_error_is_data(src) ? -INGEST_E_MALFORMED : -INGEST_E_NOINPUT;
        source_close(src);
        return k;
    }
    while (i < (size_t)n && strchr(" \t\r\n", p[i]))
        i++;
    if ((size_t)n >= hl && !memcmp(p, COLLECT_REC_HEADER, hl))
        k = IMB_IN_COLLECT_REC;
    else if (dpu_counters_sniff((const char *)p, (size_t)n))
        k = IMB_IN_DPU;
    else if (i == (size_t)n || p[i] == '#' || ident_start(p[i]))
        k = IMB_IN_PROM_TEXT;
    else if (p[i] == '{' && (contains(p, (size_t)n, "\"resultType\"") ||
                             contains(p, (size_t)n, "\"status\"")))
        k = IMB_IN_PROM_RANGE;
    else if (ingest_detect(src))
        k = IMB_IN_TRACES;
    if (k == IMB_IN_UNKNOWN) {
        snprintf(err, errlen,
                 "%s: not a format imbalance reads (Prometheus text or "
                 "query_range JSON, a collector recording, DPU/switch "
                 "counters, traces)",
                 path);
        *status = -INGEST_E_MALFORMED;
    }
    source_close(src);
    return k;
}

/* ---------------------------------------------------------------------
 * Scrapes
 * --------------------------------------------------------------------- */

/* Rewrite prom_text's "NAME:LINE:COL: ..." with LINE + add. */
static void shift_line(char *err, size_t errlen, const char *name, uint64_t add)
{
    size_t nl = strlen(name);
    char rest[512], *end;
    unsigned long long line;

    if (!add || strncmp(err, name, nl) || err[nl] != ':')
        return;
    line = strtoull(err + nl + 1, &end, 10);
    if (end == err + nl + 1)
        return;
    snprintf(rest, sizeof rest, "%s", end);
    snprintf(err, errlen, "%s:%llu%s", name, line + add, rest);
}

/* "# SCRAPE <seconds> [target]" at p (a line of n bytes)? */
static bool scrape_marker(const char *p, size_t n, int64_t *t, char *target,
                          size_t tlen)
{
    const char *s = p + 9, *e = p + n, *sp;

    if (n < 10 || memcmp(p, "# SCRAPE ", 9))
        return false;
    for (sp = s; sp < e && *sp != ' ' && *sp != '\t' && *sp != '\r'; sp++)
        ;
    if (!rcaeval_csv_time_s(s, (size_t)(sp - s), t))
        return false;
    while (sp < e && (*sp == ' ' || *sp == '\t'))
        sp++;
    size_t l = (size_t)(e - sp);
    while (l && (sp[l - 1] == '\r' || sp[l - 1] == ' '))
        l--;
    if (l >= tlen)
        l = tlen - 1;
    memcpy(target, sp, l);
    target[l] = 0;
    return true;
}

static int64_t parse_chunk(struct series_store *store, const char *name,
                           const char *p, size_t n, int64_t t,
                           const char *target, const struct prom_opts *opts,
                           uint64_t line0, char *err, size_t errlen)
{
    struct prom_opts o = opts ? *opts : (struct prom_opts){0};
    int64_t k;

    if (target && *target)
        o.default_entity = target;
    k = prom_text_parse(store, name, p, n, t, &o, err, errlen);
    if (k < 0)
        shift_line(err, errlen, name, line0);
    return k;
}

int64_t imb_scrapes_parse(struct series_store *store, const char *name,
                          const char *data, size_t len, int64_t default_ns,
                          const struct prom_opts *opts, char *err,
                          size_t errlen)
{
    const char *start = data, *p = data, *end = data + len;
    uint64_t line = 0, line0 = 0;
    int64_t t = default_ns, total = 0, k;
    char target[256] = "", ntarget[256];

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        int64_t nt;

        if (scrape_marker(p, (size_t)(le - p), &nt, ntarget, sizeof ntarget)) {
            if ((k = parse_chunk(store, name, start, (size_t)(p - start), t,
                                 target, opts, line0, err, errlen)) < 0)
                return k;
            total += k;
            t = nt;
            memcpy(target, ntarget, sizeof target);
            start = nl ? nl + 1 : end;
            line0 = line + 1;
        }
        line++;
        p = nl ? nl + 1 : end;
    }
    if ((k = parse_chunk(store, name, start, (size_t)(end - start), t, target,
                         opts, line0, err, errlen)) < 0)
        return k;
    return total + k;
}

/* The time a scrape file without markers was taken: its name as Unix
 * seconds, else its modification time. */
static int64_t file_time(const char *path)
{
    const char *base = strrchr(path, '/');
    char buf[64];
    struct stat st;
    int64_t t;

    base = base ? base + 1 : path;
    snprintf(buf, sizeof buf, "%s", base);
    static const char *const exts[] = {".gz", ".prom", ".txt"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t bl = strlen(buf), el = strlen(exts[i]);

        if (bl > el && !strcmp(buf + bl - el, exts[i]))
            buf[bl - el] = 0;
    }
    if (rcaeval_csv_time_s(buf, strlen(buf), &t))
        return t;
    if (stat(path, &st) == 0)
        return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return 0;
}

static int64_t scrapes_read(struct series_store *store, const char *path,
                            const struct prom_opts *opts, char *err,
                            size_t errlen)
{
    struct source *src = source_open(path, err, errlen);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int64_t rc;

    if (!src) {
        free(buf);
        return -INGEST_E_NOINPUT;
    }
    for (ssize_t k = 1; buf && k > 0;) {
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);

            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        if ((k = source_read(src, buf + len, cap - len)) < 0) {
            snprintf(err, errlen, "%s", source_error(src));
            rc = source_error_is_data(src) ? -INGEST_E_MALFORMED
                                           : -INGEST_E_NOINPUT;
            free(buf);
            source_close(src);
            return rc;
        }
        len += (size_t)k;
    }
    source_close(src);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -INGEST_E_NOMEM;
    }
    rc = imb_scrapes_parse(store, path, buf, len, file_time(path), opts, err,
                           errlen);
    free(buf);
    return rc;
}

int64_t imb_input_read(struct series_store *store, const char *path,
                       enum imb_input_kind k, const struct prom_opts *opts,
                       char *err, size_t errlen)
{
    switch (k) {
    case IMB_IN_PROM_TEXT:
        return scrapes_read(store, path, opts, err, errlen);
    case IMB_IN_PROM_RANGE:
        return prom_range_read(store, path, opts, err, errlen);
    case IMB_IN_COLLECT_REC:
        return collect_rec_read(store, path, err, errlen);
    case IMB_IN_DPU:
        return dpu_counters_read(store, path, err, errlen);
    default:
        snprintf(err, errlen, "%s: not a metric input", path);
        return -INGEST_E_MALFORMED;
    }
}

/* ---------------------------------------------------------------------
 * Offsets
 * --------------------------------------------------------------------- */

int imb_offsets_read(const char *path, struct clock_model **out, char *err,
                     size_t errlen)
{
    json_error_t e;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &e), *nodes, *n;
    struct clock_model *m = NULL;
    int64_t at = 0;
    size_t i;

    *out = NULL;
    if (!doc) {
        FILE *f = fopen(path, "rb");

        if (!f) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -INGEST_E_NOINPUT;
        }
        fclose(f);
        snprintf(err, errlen, "%s:%d:%d: %s", path, e.line, e.column, e.text);
        return -INGEST_E_MALFORMED;
    }
    nodes = json_object_get(doc, "nodes");
    if (!json_is_array(nodes)) {
        snprintf(err, errlen,
                 "%s: expected {\"nodes\": [{\"node\", \"offset_ns\"}, ...]} "
                 "(skewscope estimate --json)",
                 path);
        goto bad;
    }
    if (json_is_integer(json_object_get(doc, "at_unix_nano")))
        at = json_integer_value(json_object_get(doc, "at_unix_nano"));
    if (!(m = clock_model_create()))
        goto nomem;
    json_array_foreach(nodes, i, n)
    {
        json_t *nm = json_object_get(n, "node");
        json_t *off = json_object_get(n, "offset_ns");
        json_t *dr = json_object_get(n, "drift_ppm");

        if (!json_is_string(nm) || !json_is_integer(off) ||
            (dr && !json_is_number(dr))) {
            snprintf(err, errlen,
                     "%s: nodes[%zu]: expected \"node\" (string), "
                     "\"offset_ns\" (integer), optional \"drift_ppm\"",
                     path, i);
            goto bad;
        }
        if (clock_model_set(m, json_string_value(nm), json_integer_value(off),
                            dr ? json_number_value(dr) : 0, at) < 0)
            goto nomem;
    }
    json_decref(doc);
    *out = m;
    return 0;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
    clock_model_destroy(m);
    json_decref(doc);
    return -INGEST_E_NOMEM;
bad:
    clock_model_destroy(m);
    json_decref(doc);
    return -INGEST_E_MALFORMED;
}
