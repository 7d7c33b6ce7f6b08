/* trace_writer_jaeger: the Jaeger UI's JSON export,
 * {"data":[{"traceID","spans":[...],"processes":{...}}]}, one data[] element
 * per batch (a batch is one trace). Times are µs (floor of ns / 1000;
 * duration = floor(end) - floor(start), so a reader gets end = floor(end));
 * parents are CHILD_OF references, span links FOLLOWS_FROM; the kind is the
 * span.kind tag; events are logs with an "event" field; a process per
 * (serviceName, hostname tag). Buffered hand-written output for speed. */
#include "output/trace_writer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_store.h"
#include "util/ids.h"

#define OUT_BUF 65536

struct process {
    const char *host, *service;
};

struct trace_writer {
    FILE *out;
    int failed;
    size_t written; /* data[] elements */
    size_t len;
    size_t *process_of; /* per span of the batch */
    size_t span_cap;
    struct process *procs;
    size_t nprocs, proc_cap;
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

/* ---- Jaeger pieces ---- */

/* Floor division: µs of a ns timestamp, also for times before 1970. */
static int64_t to_us(int64_t ns)
{
    int64_t q = ns / 1000;

    return ns % 1000 < 0 ? q - 1 : q;
}

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

static void out_tag(struct trace_writer *w, const char *key, const char *value)
{
    OUT_LIT(w, "{\"key\":");
    out_str(w, key);
    OUT_LIT(w, ",\"type\":\"string\",\"value\":");
    out_str(w, value);
    OUT_LIT(w, "}");
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case SPAN_KIND_INTERNAL:
        return "internal";
    case SPAN_KIND_SERVER:
        return "server";
    case SPAN_KIND_CLIENT:
        return "client";
    case SPAN_KIND_PRODUCER:
        return "producer";
    case SPAN_KIND_CONSUMER:
        return "consumer";
    default:
        return NULL;
    }
}

static void out_ref(struct trace_writer *w, const char *type,
                    const uint8_t trace_id[16], uint64_t span_id)
{
    OUT_LIT(w, "{\"refType\":\"");
    out_put(w, type, strlen(type));
    OUT_LIT(w, "\",\"traceID\":");
    out_trace_id(w, trace_id);
    OUT_LIT(w, ",\"spanID\":");
    out_span_id(w, span_id);
    OUT_LIT(w, "}");
}

static void out_refs(struct trace_writer *w, const struct span_desc *sp)
{
    bool first = true;

    OUT_LIT(w, ",\"references\":[");
    if (sp->parent_span_id) {
        out_ref(w, "CHILD_OF", sp->trace_id, sp->parent_span_id);
        first = false;
    }
    for (size_t i = 0; i < sp->nlinks; i++, first = false) {
        if (!first)
            OUT_LIT(w, ",");
        out_ref(w, "FOLLOWS_FROM", sp->links[i].trace_id, sp->links[i].span_id);
    }
    OUT_LIT(w, "]");
}

static void out_tags(struct trace_writer *w, const struct span_desc *sp)
{
    const char *kind = kind_name(sp->kind);

    OUT_LIT(w, ",\"tags\":[");
    if (kind)
        out_tag(w, "span.kind", kind);
    for (size_t i = 0; i < sp->nattrs; i++) {
        if (i || kind)
            OUT_LIT(w, ",");
        out_tag(w, sp->attrs[i].key, sp->attrs[i].value);
    }
    OUT_LIT(w, "]");
}

static void out_logs(struct trace_writer *w, const struct span_desc *sp)
{
    OUT_LIT(w, ",\"logs\":[");
    for (size_t i = 0; i < sp->nevents; i++) {
        if (i)
            OUT_LIT(w, ",");
        OUT_LIT(w, "{\"timestamp\":");
        out_i64(w, to_us(sp->events[i].time_ns));
        OUT_LIT(w, ",\"fields\":[");
        out_tag(w, "event", sp->events[i].name);
        OUT_LIT(w, "]}");
    }
    OUT_LIT(w, "]");
}

static void out_span(struct trace_writer *w, const struct span_desc *sp,
                     size_t process)
{
    int64_t start_us = to_us(sp->start_ns);

    OUT_LIT(w, "{\"traceID\":");
    out_trace_id(w, sp->trace_id);
    OUT_LIT(w, ",\"spanID\":");
    out_span_id(w, sp->span_id);
    OUT_LIT(w, ",\"operationName\":");
    out_str(w, sp->name ? sp->name : "");
    out_refs(w, sp);
    OUT_LIT(w, ",\"flags\":1,\"startTime\":");
    out_i64(w, start_us);
    OUT_LIT(w, ",\"duration\":");
    out_i64(w, to_us(sp->end_ns) - start_us);
    out_tags(w, sp);
    out_logs(w, sp);
    OUT_LIT(w, ",\"processID\":\"p");
    out_i64(w, (int64_t)process + 1);
    OUT_LIT(w, "\",\"warnings\":null}");
}

static void out_processes(struct trace_writer *w)
{
    OUT_LIT(w, ",\"processes\":{");
    for (size_t p = 0; p < w->nprocs; p++) {
        if (p)
            OUT_LIT(w, ",");
        OUT_LIT(w, "\"p");
        out_i64(w, (int64_t)p + 1);
        OUT_LIT(w, "\":{\"serviceName\":");
        out_str(w, w->procs[p].service ? w->procs[p].service : "");
        OUT_LIT(w, ",\"tags\":[");
        if (w->procs[p].host)
            out_tag(w, "hostname", w->procs[p].host);
        OUT_LIT(w, "]}");
    }
    OUT_LIT(w, "}");
}

/* ---- processes of a batch ---- */

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static long find_process(struct trace_writer *w, const struct span_desc *sp,
                         size_t hint)
{
    for (size_t k = 0; k < w->nprocs; k++) {
        size_t p = (hint + k) % w->nprocs;
        if (same_str(w->procs[p].host, sp->host_name) &&
            same_str(w->procs[p].service, sp->service_name))
            return (long)p;
    }
    if (w->nprocs == w->proc_cap) {
        size_t cap = w->proc_cap ? 2 * w->proc_cap : 16;
        struct process *p = realloc(w->procs, cap * sizeof *p);
        if (!p)
            return -1;
        w->procs = p;
        w->proc_cap = cap;
    }
    w->procs[w->nprocs] = (struct process){sp->host_name, sp->service_name};
    return (long)w->nprocs++;
}

static int assign_processes(struct trace_writer *w,
                            const struct span_desc *spans, size_t n)
{
    size_t last = 0;

    w->nprocs = 0;
    if (n > w->span_cap) {
        size_t *p = realloc(w->process_of, n * sizeof *p);
        if (!p)
            return -1;
        w->process_of = p;
        w->span_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        long p = find_process(w, &spans[i], last);
        if (p < 0)
            return -1;
        w->process_of[i] = last = (size_t)p;
    }
    return 0;
}

/* ---- ops ---- */

static struct trace_writer *jaeger_create(FILE *out, int lines)
{
    struct trace_writer *w = calloc(1, sizeof *w);

    (void)lines;
    if (!w)
        return NULL;
    w->out = out;
    OUT_LIT(w, "{\"data\":[");
    return w;
}

static int jaeger_write_batch(struct trace_writer *w,
                              const struct span_desc *spans, size_t n)
{
    static const uint8_t zero_id[16];

    if (assign_processes(w, spans, n) < 0)
        return -1;
    if (w->written++ > 0)
        OUT_LIT(w, ",\n");
    OUT_LIT(w, "{\"traceID\":");
    out_trace_id(w, n ? spans[0].trace_id : zero_id);
    OUT_LIT(w, ",\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            OUT_LIT(w, ",");
        out_span(w, &spans[i], w->process_of[i]);
    }
    OUT_LIT(w, "]");
    out_processes(w);
    OUT_LIT(w, ",\"warnings\":null}");
    return w->failed ? -1 : 0;
}

static int jaeger_finish(struct trace_writer *w)
{
    int rc;

    OUT_LIT(w, "],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n");
    out_flush(w);
    rc = w->failed || fflush(w->out) != 0 ? -1 : 0;
    free(w->process_of);
    free(w->procs);
    free(w);
    return rc;
}

const struct trace_writer_ops trace_writer_jaeger_ops = {
    .name = "jaeger",
    .format = TRACE_FORMAT_JAEGER,
    .create = jaeger_create,
    .write_batch = jaeger_write_batch,
    .finish = jaeger_finish,
};
