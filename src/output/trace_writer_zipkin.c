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
#include "util/ids.h"

#define OUT_BUF 65536

struct trace_writer {
    FILE *out;
    int failed;
    size_t written; /* list elements */
    size_t len;
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

/* ---- Zipkin pieces ---- */

/* Floor division: µs of a ns timestamp, also for times before 1970. */
static int64_t to_us(int64_t ns)
{
    int64_t q = ns / 1000;

    return ns % 1000 < 0 ? q - 1 : q;
}

static void out_hex_id(struct trace_writer *w, const char *key, const char *hex,
                       size_t n)
{
    out_put(w, key, strlen(key));
    OUT_LIT(w, "\"");
    out_put(w, hex, n);
    OUT_LIT(w, "\"");
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
    OUT_LIT(w, ",\"localEndpoint\":{\"serviceName\":");
    out_str(w, sp->service_name ? sp->service_name : "");
    if (sp->ipv4) {
        OUT_LIT(w, ",\"ipv4\":");
        out_str(w, sp->ipv4);
    }
    OUT_LIT(w, "}");
}

static void out_tags(struct trace_writer *w, const struct span_desc *sp)
{
    bool host = sp->host_name && (!sp->service_name ||
                                  strcmp(sp->host_name, sp->service_name) != 0);

    if (!sp->nattrs && !host)
        return;
    OUT_LIT(w, ",\"tags\":{");
    for (size_t i = 0; i < sp->nattrs; i++) {
        if (i)
            OUT_LIT(w, ",");
        out_str(w, sp->attrs[i].key);
        OUT_LIT(w, ":");
        out_str(w, sp->attrs[i].value);
    }
    if (host) {
        if (sp->nattrs)
            OUT_LIT(w, ",");
        OUT_LIT(w, "\"host.name\":");
        out_str(w, sp->host_name);
    }
    OUT_LIT(w, "}");
}

static void out_annotations(struct trace_writer *w, const struct span_desc *sp)
{
    if (!sp->nevents)
        return;
    OUT_LIT(w, ",\"annotations\":[");
    for (size_t i = 0; i < sp->nevents; i++) {
        if (i)
            OUT_LIT(w, ",");
        OUT_LIT(w, "{\"timestamp\":");
        out_i64(w, to_us(sp->events[i].time_ns));
        OUT_LIT(w, ",\"value\":");
        out_str(w, sp->events[i].name);
        OUT_LIT(w, "}");
    }
    OUT_LIT(w, "]");
}

static void out_span(struct trace_writer *w, const struct span_desc *sp)
{
    char trace[33], id[17];
    const char *kind = kind_name(sp->kind);
    int64_t start_us = to_us(sp->start_ns);

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
        OUT_LIT(w, ",\"kind\":\"");
        out_put(w, kind, strlen(kind));
        OUT_LIT(w, "\"");
    }
    OUT_LIT(w, ",\"name\":");
    out_str(w, sp->name ? sp->name : "");
    OUT_LIT(w, ",\"timestamp\":");
    out_i64(w, start_us);
    OUT_LIT(w, ",\"duration\":");
    out_i64(w, to_us(sp->end_ns) - start_us);
    out_endpoint(w, sp);
    out_annotations(w, sp);
    out_tags(w, sp);
    OUT_LIT(w, "}");
}

/* ---- ops ---- */

static struct trace_writer *zipkin_create(FILE *out, int lines)
{
    struct trace_writer *w = calloc(1, sizeof *w);

    (void)lines;
    if (!w)
        return NULL;
    w->out = out;
    OUT_LIT(w, "[");
    return w;
}

static int zipkin_write_batch(struct trace_writer *w,
                              const struct span_desc *spans, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (w->written++ > 0)
            OUT_LIT(w, ",\n");
        out_span(w, &spans[i]);
    }
    return w->failed ? -1 : 0;
}

static int zipkin_finish(struct trace_writer *w)
{
    int rc;

    OUT_LIT(w, "]\n");
    out_flush(w);
    rc = w->failed || fflush(w->out) != 0 ? -1 : 0;
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
