/* correct_otlp_json: the OTLP JSON correction on a jansson DOM
 * (ExportTraceServiceRequest documents, one per line or concatenated). Each
 * span whose resource names a clock domain the model knows gets its start,
 * end and event times mapped to the reference clock, written as decimal
 * strings; the originals go into the attributes named in correct.h.
 * Everything else in the document stays as it was. The Jaeger and Zipkin
 * converters call correct_json_otlp_doc() on the documents they build;
 * `correct` itself streams OTLP JSON input (correct_otlp_stream.c), and
 * correct_otlp_json_dom_ops, this path over whole documents, is what the
 * tests compare the stream with. */
#include "output/correct.h"

#include <stdbool.h>
#include <stdint.h>

#include "model/clock_model.h"
#include "output/correct_json.h"

/* One time field, read and mapped. */
struct mapped_time {
    bool present;
    int64_t orig, ref;
};

static json_t *decimal(int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return json_string(buf);
}

/* The member name obj uses: lowerCamelCase (the OTLP JSON mapping), or the
 * proto field name, which protobuf JSON parsers and skewscope's reader also
 * accept. */
static const char *spelling(const json_t *obj, const char *camel,
                            const char *snake)
{
    return !json_object_get(obj, camel) && json_object_get(obj, snake) ? snake
                                                                       : camel;
}

/* Map obj.field (either spelling) onto the reference clock and write it
 * back as a decimal string. Absent fields are left alone. */
static int map_field(json_t *obj, const char *camel, const char *snake, int id,
                     struct correct_json_ctx *ctx, struct mapped_time *t)
{
    const char *field = spelling(obj, camel, snake);
    int rc = correct_json_get_int(json_object_get(obj, field), &t->orig);

    t->present = rc == 0;
    if (rc < 0)
        return correct_json_malformed(ctx, "%s is not an integer", field);
    if (rc > 0)
        return 0;
    t->ref = clock_model_to_reference(ctx->model, id, t->orig);
    if (json_object_set_new(obj, field, decimal(t->ref)) != 0)
        return correct_json_nomem(ctx);
    return 0;
}

static int set_int_attr(json_t *obj, const char *key, int64_t v,
                        struct correct_json_ctx *ctx)
{
    json_t *attrs = correct_json_attrs_of(obj, "attributes");

    if (!attrs ||
        correct_json_otlp_attr_set(attrs, key, correct_json_otlp_int(v)) != 0)
        return correct_json_nomem(ctx);
    return 0;
}

/* Map every event time; *changed is set when one moved. */
static int correct_events(json_t *span, int id, struct correct_json_ctx *ctx,
                          bool *changed)
{
    json_t *events = json_object_get(span, "events");
    json_t *ev;
    size_t i;
    int rc;

    json_array_foreach(events, i, ev)
    {
        struct mapped_time t;
        if (!json_is_object(ev))
            continue;
        if ((rc = map_field(ev, "timeUnixNano", "time_unix_nano", id, ctx,
                            &t)) != 0)
            return rc;
        if (!t.present || t.ref == t.orig)
            continue;
        *changed = true;
        if ((rc = set_int_attr(ev, CORRECT_ATTR_ORIG_TIME, t.orig, ctx)) != 0)
            return rc;
    }
    return 0;
}

static int add_span_attrs(json_t *span, const struct mapped_time *start,
                          const struct mapped_time *end,
                          struct correct_json_ctx *ctx)
{
    const struct mapped_time *at = start->present ? start : end;
    int rc = 0;

    if (at->present)
        rc = set_int_attr(span, CORRECT_ATTR_OFFSET, at->orig - at->ref, ctx);
    if (rc == 0 && start->present)
        rc = set_int_attr(span, CORRECT_ATTR_ORIG_START, start->orig, ctx);
    if (rc == 0 && end->present)
        rc = set_int_attr(span, CORRECT_ATTR_ORIG_END, end->orig, ctx);
    return rc;
}

static int correct_span(json_t *span, int id, struct correct_json_ctx *ctx)
{
    struct mapped_time start, end;
    bool changed = false;
    int rc;

    if ((rc = map_field(span, "startTimeUnixNano", "start_time_unix_nano", id,
                        ctx, &start)) != 0 ||
        (rc = map_field(span, "endTimeUnixNano", "end_time_unix_nano", id, ctx,
                        &end)) != 0 ||
        (rc = correct_events(span, id, ctx, &changed)) != 0)
        return rc;
    changed = changed || (start.present && start.ref != start.orig) ||
              (end.present && end.ref != end.orig);
    if (!changed)
        return 0;
    ctx->stats->adjusted++;
    return add_span_attrs(span, &start, &end, ctx);
}

/* The scalar of an OTLP AnyValue, or NULL (arrays, kvlists, bytes). The
 * snake_case spellings are those of protobuf's JSON mapping, which the
 * reader also accepts. */
static const json_t *any_scalar(const json_t *val)
{
    static const char *const keys[] = {
        "stringValue",  "intValue",  "boolValue",  "doubleValue",
        "string_value", "int_value", "bool_value", "double_value"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *v = json_object_get(val, keys[i]);
        if (v)
            return v;
    }
    return NULL;
}

/* Clock domain of a resourceSpans element; -1 when the model lacks it. */
static int resource_domain(const json_t *rs, struct correct_json_ctx *ctx)
{
    json_t *attrs =
        json_object_get(json_object_get(rs, "resource"), "attributes");
    struct correct_json_domain d;
    json_t *a;
    size_t i;

    correct_json_domain_init(&d);
    json_array_foreach(attrs, i, a)
    {
        const json_t *key = json_object_get(a, "key");
        if (json_is_string(key))
            correct_json_domain_offer(
                &d, ctx->opts->clock_domain_attr, CLOCK_DOMAIN_OTLP_RESOURCE,
                json_string_value(key), json_string_length(key),
                any_scalar(json_object_get(a, "value")));
    }
    return correct_json_domain_id(&d, ctx->model);
}

/* Whether the readers analyse span: IDs, start and end time present. */
static bool span_valid(const json_t *span)
{
    bool has_times =
        correct_json_present(
            json_object_get(span, spelling(span, "startTimeUnixNano",
                                           "start_time_unix_nano"))) &&
        correct_json_present(json_object_get(
            span, spelling(span, "endTimeUnixNano", "end_time_unix_nano")));

    return correct_json_span_valid(
        json_object_get(span, spelling(span, "traceId", "trace_id")),
        json_object_get(span, spelling(span, "spanId", "span_id")), has_times);
}

static int correct_spans(json_t *spans, int id, struct correct_json_ctx *ctx)
{
    json_t *span;
    size_t i;
    int rc;

    json_array_foreach(spans, i, span)
    {
        if (!json_is_object(span))
            continue;
        ctx->stats->spans++;
        /* Spans the readers do not analyse are written through as they
         * are: no estimate saw them. */
        if (id >= 0 && span_valid(span) &&
            (rc = correct_span(span, id, ctx)) != 0)
            return rc;
    }
    return 0;
}

/* scopeSpans, or instrumentationLibrarySpans from before OTLP 0.15, in
 * either spelling. */
static int correct_scopes(json_t *rs, int id, struct correct_json_ctx *ctx)
{
    static const char *const fields[] = {
        "scopeSpans", "instrumentationLibrarySpans", "scope_spans",
        "instrumentation_library_spans"};
    json_t *ss;
    size_t i;
    int rc;

    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        json_array_foreach(json_object_get(rs, fields[f]), i, ss)
        {
            rc = correct_spans(json_object_get(ss, "spans"), id, ctx);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* The resourceSpans of one TracesData object. */
static int correct_request(json_t *req, struct correct_json_ctx *ctx)
{
    const char *key = spelling(req, "resourceSpans", "resource_spans");
    json_t *rs;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(req, key), i, rs)
    {
        if (!json_is_object(rs))
            continue;
        rc = correct_scopes(rs, resource_domain(rs, ctx), ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int correct_json_otlp_doc(json_t **doc, struct correct_json_ctx *ctx)
{
    json_t *result;
    int rc;

    if (!json_is_object(*doc))
        return correct_json_malformed(ctx, "expected an OTLP JSON object "
                                           "with resourceSpans");
    /* A Jaeger api_v3 response wraps the request in "result", as the
     * reader takes it. */
    result = json_object_get(*doc, "result");
    if (json_is_object(result) && (rc = correct_request(result, ctx)) != 0)
        return rc;
    return correct_request(*doc, ctx);
}

static int otlp_json_run(struct source *src, const struct correct_opts *opts,
                         const struct clock_model *model, FILE *out,
                         struct correct_stats *stats, char *err, size_t errlen)
{
    return correct_json_run(src, opts, model, out, stats, err, errlen,
                            correct_json_otlp_doc);
}

const struct correct_ops correct_otlp_json_dom_ops = {
    .in_format = TRACE_FORMAT_OTLP_JSON,
    .run = otlp_json_run,
};
