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
#include "output/json_out.h"
#include "util/units.h"
#include "util/ids.h"

struct process {
    const char *host, *service;
};

struct trace_writer {
    size_t written;     /* data[] elements */
    size_t *process_of; /* per span of the batch */
    size_t span_cap;
    struct process *procs;
    size_t nprocs, proc_cap;
    struct json_out o;
};

/* ---- Jaeger pieces ---- */

static void out_tag(struct trace_writer *w, const char *key, const char *value)
{
    JSON_OUT_LIT(&w->o, "{\"key\":");
    json_out_str(&w->o, key);
    JSON_OUT_LIT(&w->o, ",\"type\":\"string\",\"value\":");
    json_out_str(&w->o, value);
    JSON_OUT_LIT(&w->o, "}");
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
    JSON_OUT_LIT(&w->o, "{\"refType\":\"");
    json_out_put(&w->o, type, strlen(type));
    JSON_OUT_LIT(&w->o, "\",\"traceID\":");
    json_out_trace_id(&w->o, trace_id);
    JSON_OUT_LIT(&w->o, ",\"spanID\":");
    json_out_span_id(&w->o, span_id);
    JSON_OUT_LIT(&w->o, "}");
}

static void out_refs(struct trace_writer *w, const struct span_desc *sp)
{
    bool first = true;

    JSON_OUT_LIT(&w->o, ",\"references\":[");
    if (sp->parent_span_id) {
        out_ref(w, "CHILD_OF", sp->trace_id, sp->parent_span_id);
        first = false;
    }
    for (size_t i = 0; i < sp->nlinks; i++, first = false) {
        if (!first)
            JSON_OUT_LIT(&w->o, ",");
        out_ref(w, "FOLLOWS_FROM", sp->links[i].trace_id, sp->links[i].span_id);
    }
    JSON_OUT_LIT(&w->o, "]");
}

static void out_tags(struct trace_writer *w, const struct span_desc *sp)
{
    const char *kind = kind_name(sp->kind);

    JSON_OUT_LIT(&w->o, ",\"tags\":[");
    if (kind)
        out_tag(w, "span.kind", kind);
    for (size_t i = 0; i < sp->nattrs; i++) {
        if (i || kind)
            JSON_OUT_LIT(&w->o, ",");
        out_tag(w, sp->attrs[i].key, sp->attrs[i].value);
    }
    JSON_OUT_LIT(&w->o, "]");
}

static void out_logs(struct trace_writer *w, const struct span_desc *sp)
{
    JSON_OUT_LIT(&w->o, ",\"logs\":[");
    for (size_t i = 0; i < sp->nevents; i++) {
        if (i)
            JSON_OUT_LIT(&w->o, ",");
        JSON_OUT_LIT(&w->o, "{\"timestamp\":");
        json_out_i64(&w->o, units_floor_us(sp->events[i].time_ns));
        JSON_OUT_LIT(&w->o, ",\"fields\":[");
        out_tag(w, "event", sp->events[i].name);
        JSON_OUT_LIT(&w->o, "]}");
    }
    JSON_OUT_LIT(&w->o, "]");
}

static void out_span(struct trace_writer *w, const struct span_desc *sp,
                     size_t process)
{
    int64_t start_us = units_floor_us(sp->start_ns);

    JSON_OUT_LIT(&w->o, "{\"traceID\":");
    json_out_trace_id(&w->o, sp->trace_id);
    JSON_OUT_LIT(&w->o, ",\"spanID\":");
    json_out_span_id(&w->o, sp->span_id);
    JSON_OUT_LIT(&w->o, ",\"operationName\":");
    json_out_str(&w->o, sp->name ? sp->name : "");
    out_refs(w, sp);
    JSON_OUT_LIT(&w->o, ",\"flags\":1,\"startTime\":");
    json_out_i64(&w->o, start_us);
    JSON_OUT_LIT(&w->o, ",\"duration\":");
    json_out_i64(&w->o, units_floor_us(sp->end_ns) - start_us);
    out_tags(w, sp);
    out_logs(w, sp);
    JSON_OUT_LIT(&w->o, ",\"processID\":\"p");
    json_out_i64(&w->o, (int64_t)process + 1);
    JSON_OUT_LIT(&w->o, "\",\"warnings\":null}");
}

static void out_processes(struct trace_writer *w)
{
    JSON_OUT_LIT(&w->o, ",\"processes\":{");
    for (size_t p = 0; p < w->nprocs; p++) {
        if (p)
            JSON_OUT_LIT(&w->o, ",");
        JSON_OUT_LIT(&w->o, "\"p");
        json_out_i64(&w->o, (int64_t)p + 1);
        JSON_OUT_LIT(&w->o, "\":{\"serviceName\":");
        json_out_str(&w->o, w->procs[p].service ? w->procs[p].service : "");
        JSON_OUT_LIT(&w->o, ",\"tags\":[");
        if (w->procs[p].host)
            out_tag(w, "hostname", w->procs[p].host);
        JSON_OUT_LIT(&w->o, "]}");
    }
    JSON_OUT_LIT(&w->o, "}");
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
    json_out_init(&w->o, out);
    JSON_OUT_LIT(&w->o, "{\"data\":[");
    return w;
}

static int jaeger_write_batch(struct trace_writer *w,
                              const struct span_desc *spans, size_t n)
{
    static const uint8_t zero_id[16];

    if (assign_processes(w, spans, n) < 0)
        return -1;
    if (w->written++ > 0)
        JSON_OUT_LIT(&w->o, ",\n");
    JSON_OUT_LIT(&w->o, "{\"traceID\":");
    json_out_trace_id(&w->o, n ? spans[0].trace_id : zero_id);
    JSON_OUT_LIT(&w->o, ",\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            JSON_OUT_LIT(&w->o, ",");
        out_span(w, &spans[i], w->process_of[i]);
    }
    JSON_OUT_LIT(&w->o, "]");
    out_processes(w);
    JSON_OUT_LIT(&w->o, ",\"warnings\":null}");
    return w->o.failed ? -1 : 0;
}

static int jaeger_finish(struct trace_writer *w)
{
    int rc;

    JSON_OUT_LIT(&w->o,
                 "],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n");
    json_out_flush(&w->o);
    rc = w->o.failed || fflush(w->o.out) != 0 ? -1 : 0;
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
