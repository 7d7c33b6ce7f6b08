/* trace_writer_zipkin: Zipkin v2 JSON, one list over all batches. Times in
 * µs (floor of ns / 1000; duration = floor(end) - floor(start), so a reader
 * gets end = floor(end)). Kind in capitals, none for INTERNAL; localEndpoint
 * {serviceName, ipv4 when set}; attributes as the tags object (plus
 * host.name when it differs from the service name); events as annotations.
 * An RPC SERVER span is written as its own span with its parentId (no
 * shared spans). Zipkin v2 has no span links: links are dropped. */
#include "output/trace_writer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_store.h"
#include "output/json_out.h"
#include "util/units.h"
#include "util/ids.h"

struct trace_writer {
    size_t written; /* list elements */
    struct json_out o;
};

/* ---- Zipkin pieces ---- */

static void out_hex_id(struct trace_writer *w, const char *key, const char *hex,
                       size_t n)
{
    json_out_put(&w->o, key, strlen(key));
    JSON_OUT_LIT(&w->o, "\"");
    json_out_put(&w->o, hex, n);
    JSON_OUT_LIT(&w->o, "\"");
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case SPAN_KIND_SERVER:
        return "SERVER";
    case SPAN_KIND_CLIENT:
        return "CLIENT";
    case SPAN_KIND_PRODUCER:
        return "PRODUCER";
    case SPAN_KIND_CONSUMER:
        return "CONSUMER";
    default:
        return NULL;
    }
}

static void out_endpoint(struct trace_writer *w, const struct span_desc *sp)
{
    JSON_OUT_LIT(&w->o, ",\"localEndpoint\":{\"serviceName\":");
    json_out_str(&w->o, sp->service_name ? sp->service_name : "");
    if (sp->ipv4) {
        JSON_OUT_LIT(&w->o, ",\"ipv4\":");
        json_out_str(&w->o, sp->ipv4);
    }
    JSON_OUT_LIT(&w->o, "}");
}

static void out_tags(struct trace_writer *w, const struct span_desc *sp)
{
    bool host = sp->host_name && (!sp->service_name ||
                                  strcmp(sp->host_name, sp->service_name) != 0);

    if (!sp->nattrs && !host)
        return;
    JSON_OUT_LIT(&w->o, ",\"tags\":{");
    for (size_t i = 0; i < sp->nattrs; i++) {
        if (i)
            JSON_OUT_LIT(&w->o, ",");
        json_out_str(&w->o, sp->attrs[i].key);
        JSON_OUT_LIT(&w->o, ":");
        json_out_str(&w->o, sp->attrs[i].value);
    }
    if (host) {
        if (sp->nattrs)
            JSON_OUT_LIT(&w->o, ",");
        JSON_OUT_LIT(&w->o, "\"host.name\":");
        json_out_str(&w->o, sp->host_name);
    }
    JSON_OUT_LIT(&w->o, "}");
}

static void out_annotations(struct trace_writer *w, const struct span_desc *sp)
{
    if (!sp->nevents)
        return;
    JSON_OUT_LIT(&w->o, ",\"annotations\":[");
    for (size_t i = 0; i < sp->nevents; i++) {
        if (i)
            JSON_OUT_LIT(&w->o, ",");
        JSON_OUT_LIT(&w->o, "{\"timestamp\":");
        json_out_i64(&w->o, units_floor_us(sp->events[i].time_ns));
        JSON_OUT_LIT(&w->o, ",\"value\":");
        json_out_str(&w->o, sp->events[i].name);
        JSON_OUT_LIT(&w->o, "}");
    }
    JSON_OUT_LIT(&w->o, "]");
}

static void out_span(struct trace_writer *w, const struct span_desc *sp)
{
    char trace[33], id[17];
    const char *kind = kind_name(sp->kind);
    int64_t start_us = units_floor_us(sp->start_ns);

    id_format_trace(sp->trace_id, trace);
    id_format_span(sp->span_id, id);
    out_hex_id(w, "{\"traceId\":", trace, 32);
    if (sp->parent_span_id) {
        id_format_span(sp->parent_span_id, id);
        out_hex_id(w, ",\"parentId\":", id, 16);
        id_format_span(sp->span_id, id);
    }
    out_hex_id(w, ",\"id\":", id, 16);
    if (kind) {
        JSON_OUT_LIT(&w->o, ",\"kind\":\"");
        json_out_put(&w->o, kind, strlen(kind));
        JSON_OUT_LIT(&w->o, "\"");
    }
    JSON_OUT_LIT(&w->o, ",\"name\":");
    json_out_str(&w->o, sp->name ? sp->name : "");
    JSON_OUT_LIT(&w->o, ",\"timestamp\":");
    json_out_i64(&w->o, start_us);
    JSON_OUT_LIT(&w->o, ",\"duration\":");
    json_out_i64(&w->o, units_floor_us(sp->end_ns) - start_us);
    out_endpoint(w, sp);
    out_annotations(w, sp);
    out_tags(w, sp);
    JSON_OUT_LIT(&w->o, "}");
}

/* ---- ops ---- */

static struct trace_writer *zipkin_create(FILE *out, int lines)
{
    struct trace_writer *w = calloc(1, sizeof *w);

    (void)lines;
    if (!w)
        return NULL;
    json_out_init(&w->o, out);
    JSON_OUT_LIT(&w->o, "[");
    return w;
}

static int zipkin_write_batch(struct trace_writer *w,
                              const struct span_desc *spans, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (w->written++ > 0)
            JSON_OUT_LIT(&w->o, ",\n");
        out_span(w, &spans[i]);
    }
    return w->o.failed ? -1 : 0;
}

static int zipkin_finish(struct trace_writer *w)
{
    int rc;

    JSON_OUT_LIT(&w->o, "]\n");
    json_out_flush(&w->o);
    rc = w->o.failed || fflush(w->o.out) != 0 ? -1 : 0;
    free(w);
    return rc;
}

const struct trace_writer_ops trace_writer_zipkin_ops = {
    .name = "zipkin",
    .format = TRACE_FORMAT_ZIPKIN,
    .create = zipkin_create,
    .write_batch = zipkin_write_batch,
    .finish = zipkin_finish,
};
