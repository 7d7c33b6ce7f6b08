/* trace_writer_otlp_json: OTLP/JSON (the protobuf JSON mapping: lowerCamelCase
 * fields, hex IDs, 64-bit times as decimal strings, kind as an integer).
 * Spans of a batch are grouped into one resourceSpans entry per resource
 * (host.name, service.name). Document mode writes one
 * {"resourceSpans":[...]} over all batches; lines mode one per batch and line.
 * Output is assembled in a 64 KiB buffer with hand-written formatting: the
 * benchmark writes a million spans with it. */
#include "output/trace_writer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/ids.h"

#define OUT_BUF 65536

struct resource_group {
    const char *host, *service;
    size_t count, pos;
};

struct trace_writer {
    FILE *out;
    int lines;
    int failed;
    size_t written; /* resourceSpans entries in the open document */
    size_t len;
    /* per-batch scratch, grown on demand */
    size_t *order;
    size_t *group_of;
    size_t span_cap;
    struct resource_group *groups;
    size_t ngroups, group_cap;
    char buf[OUT_BUF];
};

/* ---- buffered output (same helpers in every JSON backend) ---- */

static void out_flush(struct trace_writer *w)
{
    if (w->len && fwrite(w->buf, 1, w->len, w->out) != w->len)
        w->failed = 1;
    w->len = 0;
}

static void out_put(struct trace_writer *w, const char *s, size_t n)
{
    if (n > OUT_BUF - w->len) {
        out_flush(w);
        if (n > OUT_BUF) {
            if (fwrite(s, 1, n, w->out) != n)
                w->failed = 1;
            return;
        }
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

#define OUT_LIT(w, lit) out_put((w), (lit), sizeof(lit) - 1)

static void out_i64(struct trace_writer *w, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    out_put(w, p, (size_t)(tmp + sizeof tmp - p));
}

/* A JSON string with quotes; bytes >= 0x80 pass through (UTF-8 assumed). */
static void out_str(struct trace_writer *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;

    OUT_LIT(w, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out_put(w, run, (size_t)(s - run));
        run = s + 1;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\t')
            esc[1] = 't';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        out_put(w, esc, n);
    }
    if (s)
        out_put(w, run, (size_t)(s - run));
    OUT_LIT(w, "\"");
}

/* ---- OTLP pieces ---- */

static void out_trace_id(struct trace_writer *w, const uint8_t id[16])
{
    char hex[33];

    id_format_trace(id, hex);
    OUT_LIT(w, "\"");
    out_put(w, hex, 32);
    OUT_LIT(w, "\"");
}

static void out_span_id(struct trace_writer *w, uint64_t id)
{
    char hex[17];

    id_format_span(id, hex);
    OUT_LIT(w, "\"");
    out_put(w, hex, 16);
    OUT_LIT(w, "\"");
}

static void out_time(struct trace_writer *w, int64_t ns)
{
    OUT_LIT(w, "\"");
    out_i64(w, ns);
    OUT_LIT(w, "\"");
}

static void out_kv(struct trace_writer *w, const char *key, const char *value)
{
    OUT_LIT(w, "{\"key\":");
    out_str(w, key);
    OUT_LIT(w, ",\"value\":{\"stringValue\":");
    out_str(w, value);
    OUT_LIT(w, "}}");
}

static void out_attrs(struct trace_writer *w, const struct span_kv *kv,
                      size_t n)
{
    OUT_LIT(w, "\"attributes\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            OUT_LIT(w, ",");
        out_kv(w, kv[i].key, kv[i].value);
    }
    OUT_LIT(w, "]");
}

static void out_events(struct trace_writer *w, const struct span_desc *sp)
{
    OUT_LIT(w, ",\"events\":[");
    for (size_t i = 0; i < sp->nevents; i++) {
        if (i)
            OUT_LIT(w, ",");
        OUT_LIT(w, "{\"timeUnixNano\":");
        out_time(w, sp->events[i].time_ns);
        OUT_LIT(w, ",\"name\":");
        out_str(w, sp->events[i].name);
        OUT_LIT(w, "}");
    }
    OUT_LIT(w, "]");
}

static void out_links(struct trace_writer *w, const struct span_desc *sp)
{
    OUT_LIT(w, ",\"links\":[");
    for (size_t i = 0; i < sp->nlinks; i++) {
        if (i)
            OUT_LIT(w, ",");
        OUT_LIT(w, "{\"traceId\":");
        out_trace_id(w, sp->links[i].trace_id);
        OUT_LIT(w, ",\"spanId\":");
        out_span_id(w, sp->links[i].span_id);
        OUT_LIT(w, "}");
    }
    OUT_LIT(w, "]");
}

static void out_span(struct trace_writer *w, const struct span_desc *sp)
{
    OUT_LIT(w, "{\"traceId\":");
    out_trace_id(w, sp->trace_id);
    OUT_LIT(w, ",\"spanId\":");
    out_span_id(w, sp->span_id);
    if (sp->parent_span_id) {
        OUT_LIT(w, ",\"parentSpanId\":");
        out_span_id(w, sp->parent_span_id);
    }
    OUT_LIT(w, ",\"name\":");
    out_str(w, sp->name ? sp->name : "");
    OUT_LIT(w, ",\"kind\":");
    out_i64(w, sp->kind);
    OUT_LIT(w, ",\"startTimeUnixNano\":");
    out_time(w, sp->start_ns);
    OUT_LIT(w, ",\"endTimeUnixNano\":");
    out_time(w, sp->end_ns);
    if (sp->nattrs) {
        OUT_LIT(w, ",");
        out_attrs(w, sp->attrs, sp->nattrs);
    }
    if (sp->nevents)
        out_events(w, sp);
    if (sp->nlinks)
        out_links(w, sp);
    OUT_LIT(w, "}");
}

static void out_resource(struct trace_writer *w, const struct resource_group *g)
{
    struct span_kv kv[2];
    size_t n = 0;

    if (g->host)
        kv[n++] = (struct span_kv){"host.name", g->host};
    if (g->service)
        kv[n++] = (struct span_kv){"service.name", g->service};
    OUT_LIT(w, "{\"resource\":{");
    out_attrs(w, kv, n);
    OUT_LIT(w, "},\"scopeSpans\":[{\"scope\":{\"name\":\"skewscope\"},"
               "\"spans\":[");
}

/* ---- grouping spans by resource ---- */

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int reserve(struct trace_writer *w, size_t n)
{
    if (n <= w->span_cap)
        return 0;
    size_t cap = n > 2 * w->span_cap ? n : 2 * w->span_cap;
    size_t *order = realloc(w->order, cap * sizeof *order);
    if (!order)
        return -1;
    w->order = order;
    size_t *group_of = realloc(w->group_of, cap * sizeof *group_of);
    if (!group_of)
        return -1;
    w->group_of = group_of;
    w->span_cap = cap;
    return 0;
}

/* Group id of a span's resource, adding a group when new. */
static long find_group(struct trace_writer *w, const struct span_desc *sp,
                       size_t hint)
{
    for (size_t k = 0; k < w->ngroups; k++) {
        size_t g = (hint + k) % w->ngroups;
        if (same_str(w->groups[g].host, sp->host_name) &&
            same_str(w->groups[g].service, sp->service_name))
            return (long)g;
    }
    if (w->ngroups == w->group_cap) {
        size_t cap = w->group_cap ? 2 * w->group_cap : 16;
        struct resource_group *g = realloc(w->groups, cap * sizeof *g);
        if (!g)
            return -1;
        w->groups = g;
        w->group_cap = cap;
    }
    w->groups[w->ngroups] =
        (struct resource_group){sp->host_name, sp->service_name, 0, 0};
    return (long)w->ngroups++;
}

/* Fill w->order with span indices grouped by resource (a counting sort
 * that keeps the batch's order within a group). */
static int group_spans(struct trace_writer *w, const struct span_desc *spans,
                       size_t n)
{
    size_t last = 0, pos = 0;

    w->ngroups = 0;
    if (reserve(w, n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        long g = find_group(w, &spans[i], last);
        if (g < 0)
            return -1;
        last = (size_t)g;
        w->group_of[i] = last;
        w->groups[last].count++;
    }
    for (size_t g = 0; g < w->ngroups; g++) {
        w->groups[g].pos = pos;
        pos += w->groups[g].count;
    }
    for (size_t i = 0; i < n; i++)
        w->order[w->groups[w->group_of[i]].pos++] = i;
    return 0;
}

/* ---- ops ---- */

static struct trace_writer *otlp_json_create(FILE *out, int lines)
{
    struct trace_writer *w = calloc(1, sizeof *w);

    if (!w)
        return NULL;
    w->out = out;
    w->lines = lines;
    if (!lines)
        OUT_LIT(w, "{\"resourceSpans\":[");
    return w;
}

static int otlp_json_write_batch(struct trace_writer *w,
                                 const struct span_desc *spans, size_t n)
{
    size_t k = 0;

    if (group_spans(w, spans, n) < 0)
        return -1;
    if (w->lines)
        OUT_LIT(w, "{\"resourceSpans\":[");
    for (size_t g = 0; g < w->ngroups; g++) {
        if (w->written++ > 0)
            OUT_LIT(w, ",");
        out_resource(w, &w->groups[g]);
        for (size_t i = 0; i < w->groups[g].count; i++, k++) {
            if (i)
                OUT_LIT(w, ",");
            out_span(w, &spans[w->order[k]]);
        }
        OUT_LIT(w, "]}]}");
    }
    if (w->lines) {
        OUT_LIT(w, "]}\n");
        w->written = 0;
    }
    return w->failed ? -1 : 0;
}

static int otlp_json_finish(struct trace_writer *w)
{
    int rc;

    if (!w->lines)
        OUT_LIT(w, "]}\n");
    out_flush(w);
    rc = w->failed || fflush(w->out) != 0 ? -1 : 0;
    free(w->order);
    free(w->group_of);
    free(w->groups);
    free(w);
    return rc;
}

const struct trace_writer_ops trace_writer_otlp_json_ops = {
    .name = "otlp-json",
    .format = TRACE_FORMAT_OTLP_JSON,
    .create = otlp_json_create,
    .write_batch = otlp_json_write_batch,
    .finish = otlp_json_finish,
};
