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

#include "output/json_out.h"
#include "util/ids.h"

struct resource_group {
    const char *host, *service;
    size_t count, pos;
};

struct trace_writer {
    int lines;
    size_t written; /* resourceSpans entries in the open document */
    /* per-batch scratch, grown on demand */
    size_t *order;
    size_t *group_of;
    size_t span_cap;
    struct resource_group *groups;
    size_t ngroups, group_cap;
    struct json_out o;
};

/* ---- OTLP pieces ---- */

static void out_time(struct trace_writer *w, int64_t ns)
{
    JSON_OUT_LIT(&w->o, "\"");
    json_out_i64(&w->o, ns);
    JSON_OUT_LIT(&w->o, "\"");
}

static void out_kv(struct trace_writer *w, const char *key, const char *value)
{
    JSON_OUT_LIT(&w->o, "{\"key\":");
    json_out_str(&w->o, key);
    JSON_OUT_LIT(&w->o, ",\"value\":{\"stringValue\":");
    json_out_str(&w->o, value);
    JSON_OUT_LIT(&w->o, "}}");
}

static void out_attrs(struct trace_writer *w, const struct span_kv *kv,
                      size_t n)
{
    JSON_OUT_LIT(&w->o, "\"attributes\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            JSON_OUT_LIT(&w->o, ",");
        out_kv(w, kv[i].key, kv[i].value);
    }
    JSON_OUT_LIT(&w->o, "]");
}

static void out_events(struct trace_writer *w, const struct span_desc *sp)
{
    JSON_OUT_LIT(&w->o, ",\"events\":[");
    for (size_t i = 0; i < sp->nevents; i++) {
        if (i)
            JSON_OUT_LIT(&w->o, ",");
        JSON_OUT_LIT(&w->o, "{\"timeUnixNano\":");
        out_time(w, sp->events[i].time_ns);
        JSON_OUT_LIT(&w->o, ",\"name\":");
        json_out_str(&w->o, sp->events[i].name);
        JSON_OUT_LIT(&w->o, "}");
    }
    JSON_OUT_LIT(&w->o, "]");
}

static void out_links(struct trace_writer *w, const struct span_desc *sp)
{
    JSON_OUT_LIT(&w->o, ",\"links\":[");
    for (size_t i = 0; i < sp->nlinks; i++) {
        if (i)
            JSON_OUT_LIT(&w->o, ",");
        JSON_OUT_LIT(&w->o, "{\"traceId\":");
        json_out_trace_id(&w->o, sp->links[i].trace_id);
        JSON_OUT_LIT(&w->o, ",\"spanId\":");
        json_out_span_id(&w->o, sp->links[i].span_id);
        JSON_OUT_LIT(&w->o, "}");
    }
    JSON_OUT_LIT(&w->o, "]");
}

static void out_span(struct trace_writer *w, const struct span_desc *sp)
{
    JSON_OUT_LIT(&w->o, "{\"traceId\":");
    json_out_trace_id(&w->o, sp->trace_id);
    JSON_OUT_LIT(&w->o, ",\"spanId\":");
    json_out_span_id(&w->o, sp->span_id);
    if (sp->parent_span_id) {
        JSON_OUT_LIT(&w->o, ",\"parentSpanId\":");
        json_out_span_id(&w->o, sp->parent_span_id);
    }
    JSON_OUT_LIT(&w->o, ",\"name\":");
    json_out_str(&w->o, sp->name ? sp->name : "");
    JSON_OUT_LIT(&w->o, ",\"kind\":");
    json_out_i64(&w->o, sp->kind);
    JSON_OUT_LIT(&w->o, ",\"startTimeUnixNano\":");
    out_time(w, sp->start_ns);
    JSON_OUT_LIT(&w->o, ",\"endTimeUnixNano\":");
    out_time(w, sp->end_ns);
    if (sp->nattrs) {
        JSON_OUT_LIT(&w->o, ",");
        out_attrs(w, sp->attrs, sp->nattrs);
    }
    if (sp->nevents)
        out_events(w, sp);
    if (sp->nlinks)
        out_links(w, sp);
    JSON_OUT_LIT(&w->o, "}");
}

static void out_resource(struct trace_writer *w, const struct resource_group *g)
{
    struct span_kv kv[2];
    size_t n = 0;

    if (g->host)
        kv[n++] = (struct span_kv){"host.name", g->host};
    if (g->service)
        kv[n++] = (struct span_kv){"service.name", g->service};
    JSON_OUT_LIT(&w->o, "{\"resource\":{");
    out_attrs(w, kv, n);
    JSON_OUT_LIT(&w->o, "},\"scopeSpans\":[{\"scope\":{\"name\":\"skewscope\"},"
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
    json_out_init(&w->o, out);
    w->lines = lines;
    if (!lines)
        JSON_OUT_LIT(&w->o, "{\"resourceSpans\":[");
    return w;
}

static int otlp_json_write_batch(struct trace_writer *w,
                                 const struct span_desc *spans, size_t n)
{
    size_t k = 0;

    if (group_spans(w, spans, n) < 0)
        return -1;
    if (w->lines)
        JSON_OUT_LIT(&w->o, "{\"resourceSpans\":[");
    for (size_t g = 0; g < w->ngroups; g++) {
        if (w->written++ > 0)
            JSON_OUT_LIT(&w->o, ",");
        out_resource(w, &w->groups[g]);
        for (size_t i = 0; i < w->groups[g].count; i++, k++) {
            if (i)
                JSON_OUT_LIT(&w->o, ",");
            out_span(w, &spans[w->order[k]]);
        }
        JSON_OUT_LIT(&w->o, "]}]}");
    }
    if (w->lines) {
        JSON_OUT_LIT(&w->o, "]}\n");
        w->written = 0;
    }
    return w->o.failed ? -1 : 0;
}

static int otlp_json_finish(struct trace_writer *w)
{
    int rc;

    if (!w->lines)
        JSON_OUT_LIT(&w->o, "]}\n");
    json_out_flush(&w->o);
    rc = w->o.failed || fflush(w->o.out) != 0 ? -1 : 0;
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
