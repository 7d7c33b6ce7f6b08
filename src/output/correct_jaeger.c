/* correct_jaeger: `correct` for Jaeger JSON (the query API / UI export:
 * {"data":[trace...]}, or a bare trace object). A span's clock domain comes
 * from its process (embedded "process", else processes[processID]): tag
 * hostname, then ip, then serviceName, or the --clock-domain tag.
 *
 * Kept as Jaeger: startTime is mapped and floored to microseconds, duration
 * becomes corrected end minus corrected start, log timestamps are mapped,
 * and the originals (ns) are added as int64 tags and log fields.
 * With --output-format otlp-json each document becomes one OTLP JSON
 * document (see to_otlp below), corrected in nanoseconds afterwards. */
#include "output/correct.h"

#include <inttypes.h>
#include <string.h>

#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct_json.h"

/* ---- Domain ------------------------------------------------------------ */

static const json_t *span_process(const json_t *trace, const json_t *span)
{
    const json_t *p = json_object_get(span, "process");
    const char *pid;

    if (json_is_object(p))
        return p;
    pid = json_string_value(json_object_get(span, "processID"));
    if (!pid)
        return NULL;
    return json_object_get(json_object_get(trace, "processes"), pid);
}

static void process_domain(const json_t *process, const char *user,
                           struct correct_json_domain *d)
{
    const json_t *tag;
    size_t i;

    correct_json_domain_init(d);
    correct_json_domain_offer(d, user, CLOCK_DOMAIN_JAEGER, "serviceName",
                              json_object_get(process, "serviceName"));
    json_array_foreach(json_object_get(process, "tags"), i, tag)
    {
        const char *key = json_string_value(json_object_get(tag, "key"));
        /* serviceName is the field, never a tag of that name. */
        if (key && strcmp(key, "serviceName") != 0)
            correct_json_domain_offer(d, user, CLOCK_DOMAIN_JAEGER, key,
                                      json_object_get(tag, "value"));
    }
}

/* ---- Correction in the Jaeger format ----------------------------------- */

static int set_tag(json_t *obj, const char *field, const char *key, int64_t v)
{
    json_t *tags = correct_json_attrs_of(obj, field);
    json_t *tag;
    size_t i;

    if (!tags)
        return -1;
    json_array_foreach(tags, i, tag)
    {
        const char *k = json_string_value(json_object_get(tag, "key"));
        if (k && strcmp(k, key) == 0)
            return json_object_set_new(tag, "type", json_string("int64")) ||
                   json_object_set_new(tag, "value", json_integer(v));
    }
    return json_array_append_new(tags,
                                 json_pack("{s:s,s:s,s:I}", "key", key, "type",
                                           "int64", "value", (json_int_t)v));
}

static int correct_logs(json_t *span, int id, struct correct_json_ctx *ctx,
                        bool *changed)
{
    json_t *log;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(span, "logs"), i, log)
    {
        struct correct_json_us t;
        bool present;
        if (!json_is_object(log))
            continue;
        if ((rc = correct_json_map_us_field(log, "timestamp", id, ctx, &t,
                                            &present)))
            return rc;
        if (!present || t.ref_us * 1000 == t.orig_ns)
            continue;
        *changed = true;
        if (set_tag(log, "fields", CORRECT_ATTR_ORIG_TIME, t.orig_ns) != 0)
            return correct_json_nomem(ctx);
    }
    return 0;
}

static int correct_span(json_t *span, int id, struct correct_json_ctx *ctx)
{
    struct correct_json_us start, end;
    bool has_start, has_end = false, changed = false;
    int rc;

    if ((rc = correct_json_map_us_field(span, "startTime", id, ctx, &start,
                                        &has_start)))
        return rc;
    if (has_start &&
        (rc = correct_json_map_duration(span, id, &start, ctx, &end, &has_end)))
        return rc;
    if ((rc = correct_logs(span, id, ctx, &changed)) != 0)
        return rc;
    changed = changed || (has_start && start.ref_us * 1000 != start.orig_ns) ||
              (has_end && end.ref_us * 1000 != end.orig_ns);
    if (!changed || !has_start)
        return 0;
    ctx->stats->adjusted++;
    if (set_tag(span, "tags", CORRECT_ATTR_OFFSET,
                start.orig_ns - start.ref_ns) != 0 ||
        set_tag(span, "tags", CORRECT_ATTR_ORIG_START, start.orig_ns) != 0 ||
        (has_end &&
         set_tag(span, "tags", CORRECT_ATTR_ORIG_END, end.orig_ns) != 0))
        return correct_json_nomem(ctx);
    return 0;
}

static int correct_trace(json_t *trace, struct correct_json_ctx *ctx)
{
    json_t *span;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(trace, "spans"), i, span)
    {
        struct correct_json_domain d;
        if (!json_is_object(span))
            continue;
        ctx->stats->spans++;
        process_domain(span_process(trace, span), ctx->opts->clock_domain_attr,
                       &d);
        int id = correct_json_domain_id(&d, ctx->model);
        if (id >= 0 && (rc = correct_span(span, id, ctx)) != 0)
            return rc;
    }
    return 0;
}

/* The traces of a document: data[], or the document itself. */
static json_t *doc_traces(json_t *doc, struct correct_json_ctx *ctx, int *rc)
{
    json_t *data = json_object_get(doc, "data");

    *rc = 0;
    if (json_is_array(data))
        return data;
    if (json_is_object(doc) && json_is_array(json_object_get(doc, "spans")))
        return doc;
    *rc = correct_json_malformed(ctx, "expected a Jaeger JSON object with "
                                      "data[] or spans[]");
    return NULL;
}

static int jaeger_doc(json_t **doc, struct correct_json_ctx *ctx)
{
    int rc;
    json_t *traces = doc_traces(*doc, ctx, &rc);
    json_t *trace;
    size_t i;

    if (!traces)
        return rc;
    if (json_is_object(traces))
        return correct_trace(traces, ctx);
    json_array_foreach(traces, i, trace)
    {
        if (json_is_object(trace) && (rc = correct_trace(trace, ctx)) != 0)
            return rc;
    }
    return 0;
}

/* ---- Conversion to OTLP JSON ------------------------------------------- */

/* OTLP AnyValue of a Jaeger tag, typed by its "type" (else by the JSON
 * type of its value). Returns NULL for values OTLP cannot hold here
 * (objects, arrays, null) and when out of memory; *skip tells them apart. */
static json_t *any_value(const json_t *tag, bool *skip)
{
    const char *type = json_string_value(json_object_get(tag, "type"));
    const json_t *v = json_object_get(tag, "value");
    char buf[CORRECT_JSON_TMP];
    const char *s;
    size_t len;
    int64_t n;

    *skip = false;
    if (type && strcmp(type, "int64") == 0 && correct_json_get_int(v, &n) == 0)
        return correct_json_otlp_int(n);
    if (type && strcmp(type, "float64") == 0 && json_is_number(v))
        return json_pack("{s:f}", "doubleValue", json_number_value(v));
    if (type && strcmp(type, "binary") == 0 && json_is_string(v))
        return json_pack("{s:O}", "bytesValue", v);
    if (json_is_boolean(v))
        return json_pack("{s:b}", "boolValue", json_is_true(v));
    if (!type && json_is_integer(v))
        return correct_json_otlp_int(json_integer_value(v));
    if (!type && json_is_real(v))
        return json_pack("{s:f}", "doubleValue", json_real_value(v));
    if (!correct_json_scalar_text(v, buf, sizeof(buf), &s, &len)) {
        *skip = true;
        return NULL;
    }
    return correct_json_otlp_str(s, len);
}

/* Append the Jaeger key/value list `tags` as OTLP attributes, leaving out
 * key `except` (NULL: none). Returns 0 or -1 (ENOMEM). */
static int tags_to_attrs(const json_t *tags, json_t *attrs, const char *except)
{
    const json_t *tag;
    size_t i;

    json_array_foreach(tags, i, tag)
    {
        const char *key = json_string_value(json_object_get(tag, "key"));
        bool skip;
        if (!key || (except && strcmp(key, except) == 0))
            continue;
        json_t *v = any_value(tag, &skip);
        if (skip)
            continue;
        if (correct_json_otlp_attr_set(attrs, key, v) != 0)
            return -1;
    }
    return 0;
}

/* Resource attributes of a process: service.name, its tags, and host.name
 * (or the --clock-domain attribute) set to the clock domain the Jaeger rule
 * chose, so that skewscope's OTLP reader names the same domain. */
static json_t *process_resource(const json_t *process, const char *user)
{
    json_t *attrs = json_array();
    const json_t *svc = json_object_get(process, "serviceName");
    struct correct_json_domain d;
    char tmp[CORRECT_JSON_TMP];
    const char *name;
    size_t len;

    if (!attrs)
        return NULL;
    if ((json_is_string(svc) &&
         correct_json_otlp_attr_set(
             attrs, "service.name",
             correct_json_otlp_str(json_string_value(svc),
                                   json_string_length(svc))) != 0) ||
        tags_to_attrs(json_object_get(process, "tags"), attrs, NULL) != 0)
        goto fail;
    process_domain(process, user, &d);
    correct_json_domain_text(&d, tmp, &name, &len);
    if (correct_json_otlp_resource_fix(attrs, user, name, len,
                                       user && d.rank == 0) != 0)
        goto fail;
    return attrs;
fail:
    json_decref(attrs);
    return NULL;
}

static int kind_of(const json_t *tags)
{
    static const char *const names[] = {"",       "internal", "server",
                                        "client", "producer", "consumer"};
    const json_t *tag;
    size_t i;

    json_array_foreach(tags, i, tag)
    {
        const char *k = json_string_value(json_object_get(tag, "key"));
        const char *v = json_string_value(json_object_get(tag, "value"));
        if (!k || !v || strcmp(k, "span.kind") != 0)
            continue;
        for (int kind = 1; kind <= SPAN_KIND_CONSUMER; kind++)
            if (strcmp(v, names[kind]) == 0)
                return kind;
    }
    return SPAN_KIND_UNSPECIFIED;
}

static bool has_error_tag(const json_t *tags)
{
    const json_t *tag;
    size_t i;

    json_array_foreach(tags, i, tag)
    {
        const char *k = json_string_value(json_object_get(tag, "key"));
        const json_t *v = json_object_get(tag, "value");
        if (k && strcmp(k, "error") == 0 &&
            (json_is_true(v) ||
             (json_is_string(v) && strcmp(json_string_value(v), "true") == 0)))
            return true;
    }
    return false;
}

static int add_link(json_t *links, const char *trace, const char *span)
{
    return json_array_append_new(
        links, json_pack("{s:s,s:s}", "traceId", trace, "spanId", span));
}

/* One reference: the first CHILD_OF in the span's own trace becomes the
 * parent, every other reference a link. */
static int convert_ref(const json_t *ref, json_t *ospan, json_t *links,
                       const char *own_trace, struct correct_json_ctx *ctx)
{
    const char *type = json_string_value(json_object_get(ref, "refType"));
    char trace[33], span[17];
    uint64_t sid;

    if (correct_json_trace_hex(json_object_get(ref, "traceID"), trace) != 0 ||
        correct_json_span_hex(json_object_get(ref, "spanID"), span, &sid) != 0)
        return correct_json_malformed(ctx, "reference with a bad traceID "
                                           "or spanID");
    if (type && strcmp(type, "CHILD_OF") == 0 &&
        strcmp(trace, own_trace) == 0 &&
        !json_object_get(ospan, "parentSpanId")) {
        if (json_object_set_new(ospan, "parentSpanId", json_string(span)))
            return correct_json_nomem(ctx);
        return 0;
    }
    if (add_link(links, trace, span) != 0)
        return correct_json_nomem(ctx);
    return 0;
}

static int convert_refs(const json_t *span, json_t *ospan, const char *trace,
                        struct correct_json_ctx *ctx)
{
    json_t *links = json_array();
    const json_t *ref, *legacy;
    char hex[17];
    uint64_t pid;
    size_t i;
    int rc = 0;

    if (!links)
        return correct_json_nomem(ctx);
    json_array_foreach(json_object_get(span, "references"), i, ref)
    {
        if ((rc = convert_ref(ref, ospan, links, trace, ctx)) != 0)
            goto out;
    }
    /* Old exports carry parentSpanID instead of a CHILD_OF reference. */
    legacy = json_object_get(span, "parentSpanID");
    if (!json_object_get(ospan, "parentSpanId") &&
        correct_json_span_hex(legacy, hex, &pid) == 0 && pid != 0 &&
        json_object_set_new(ospan, "parentSpanId", json_string(hex)) != 0)
        rc = correct_json_nomem(ctx);
    if (rc == 0 && json_array_size(links) > 0 &&
        json_object_set(ospan, "links", links) != 0)
        rc = correct_json_nomem(ctx);
out:
    json_decref(links);
    return rc;
}

static int convert_log(const json_t *log, json_t *events,
                       struct correct_json_ctx *ctx)
{
    const json_t *fields = json_object_get(log, "fields"), *f;
    const char *name = "log";
    char ns[32];
    int64_t us, t;
    size_t i;

    if (correct_json_get_int(json_object_get(log, "timestamp"), &us) != 0 ||
        correct_json_us_to_ns(us, &t) != 0)
        return correct_json_malformed(ctx, "log without a valid timestamp");
    json_array_foreach(fields, i, f)
    {
        const char *k = json_string_value(json_object_get(f, "key"));
        const char *v = json_string_value(json_object_get(f, "value"));
        if (k && v && strcmp(k, "event") == 0)
            name = v;
    }
    snprintf(ns, sizeof(ns), "%" PRId64, t);
    json_t *ev = json_pack("{s:s,s:s,s:[]}", "timeUnixNano", ns, "name", name,
                           "attributes");
    if (!ev || json_array_append_new(events, ev) != 0 ||
        tags_to_attrs(fields, json_object_get(ev, "attributes"), "event") != 0)
        return correct_json_nomem(ctx);
    return 0;
}

static int convert_times(const json_t *span, json_t *ospan,
                         struct correct_json_ctx *ctx)
{
    int64_t start_us, dur_us = 0, start, end;
    char s[32], e[32];

    if (correct_json_get_int(json_object_get(span, "startTime"), &start_us) ||
        correct_json_get_duration(span, &dur_us) < 0 ||
        correct_json_us_to_ns(start_us, &start) != 0 ||
        correct_json_us_to_ns(start_us + dur_us, &end) != 0)
        return correct_json_malformed(ctx, "span without a valid startTime "
                                           "and duration");
    snprintf(s, sizeof(s), "%" PRId64, start);
    snprintf(e, sizeof(e), "%" PRId64, end);
    if (json_object_set_new(ospan, "startTimeUnixNano", json_string(s)) ||
        json_object_set_new(ospan, "endTimeUnixNano", json_string(e)))
        return correct_json_nomem(ctx);
    return 0;
}

static int convert_body(const json_t *span, json_t *ospan, const char *trace,
                        struct correct_json_ctx *ctx)
{
    const json_t *tags = json_object_get(span, "tags"), *log;
    json_t *attrs = json_object_get(ospan, "attributes");
    json_t *events = json_object_get(ospan, "events");
    size_t i;
    int rc;

    if ((rc = convert_refs(span, ospan, trace, ctx)) != 0 ||
        (rc = convert_times(span, ospan, ctx)) != 0)
        return rc;
    if (tags_to_attrs(tags, attrs, "span.kind") != 0)
        return correct_json_nomem(ctx);
    json_array_foreach(json_object_get(span, "logs"), i, log)
    {
        if ((rc = convert_log(log, events, ctx)) != 0)
            return rc;
    }
    if (has_error_tag(tags) &&
        json_object_set_new(ospan, "status", json_pack("{s:i}", "code", 2)))
        return correct_json_nomem(ctx);
    return 0;
}

/* OTLP span of a Jaeger span; NULL with *rc set on error. */
static json_t *convert_span(const json_t *trace, const json_t *span,
                            struct correct_json_ctx *ctx, int *rc)
{
    const json_t *tid = json_object_get(span, "traceID");
    const char *op = json_string_value(json_object_get(span, "operationName"));
    char thex[33], shex[17];
    uint64_t sid;
    json_t *ospan;

    if (correct_json_trace_hex(tid ? tid : json_object_get(trace, "traceID"),
                               thex) != 0 ||
        correct_json_span_hex(json_object_get(span, "spanID"), shex, &sid) !=
            0) {
        *rc = correct_json_malformed(ctx, "span with a bad traceID or spanID");
        return NULL;
    }
    ospan = json_pack("{s:s,s:s,s:s,s:i,s:[],s:[]}", "traceId", thex, "spanId",
                      shex, "name", op ? op : "", "kind",
                      kind_of(json_object_get(span, "tags")), "attributes",
                      "events");
    if (!ospan) {
        *rc = correct_json_nomem(ctx);
        return NULL;
    }
    if ((*rc = convert_body(span, ospan, thex, ctx)) != 0) {
        json_decref(ospan);
        return NULL;
    }
    return ospan;
}

static int convert_trace(const json_t *trace, json_t *resource_spans,
                         struct correct_json_ctx *ctx)
{
    const json_t *span;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(trace, "spans"), i, span)
    {
        if (!json_is_object(span))
            continue;
        json_t *ospan = convert_span(trace, span, ctx, &rc);
        if (!ospan)
            return rc;
        json_t *res = process_resource(span_process(trace, span),
                                       ctx->opts->clock_domain_attr);
        if (!res) {
            json_decref(ospan);
            return correct_json_nomem(ctx);
        }
        if (correct_json_otlp_add_span(resource_spans, res, ospan) != 0)
            return correct_json_nomem(ctx);
    }
    return 0;
}

/* The whole document as one OTLP ExportTraceServiceRequest, resourceSpans
 * grouped by process within each trace, then corrected in nanoseconds. */
static int jaeger_to_otlp(json_t **doc, struct correct_json_ctx *ctx)
{
    int rc;
    json_t *traces = doc_traces(*doc, ctx, &rc);
    json_t *otlp = json_pack("{s:[]}", "resourceSpans");
    json_t *rs = json_object_get(otlp, "resourceSpans");
    json_t *trace;
    size_t i;

    if (!traces || !otlp) {
        rc = traces ? correct_json_nomem(ctx) : rc;
        goto out;
    }
    if (json_is_object(traces)) {
        rc = convert_trace(traces, rs, ctx);
    } else {
        json_array_foreach(traces, i, trace)
        {
            if (json_is_object(trace) &&
                (rc = convert_trace(trace, rs, ctx)) != 0)
                break;
        }
    }
    if (rc == 0) {
        json_decref(*doc);
        *doc = otlp;
        otlp = NULL;
        rc = correct_json_otlp_doc(doc, ctx);
    }
out:
    json_decref(otlp);
    return rc;
}

static int jaeger_run(struct source *src, const struct correct_opts *opts,
                      const struct clock_model *model, FILE *out,
                      struct correct_stats *stats, char *err, size_t errlen)
{
    correct_json_doc_fn fn = opts->out_format == TRACE_FORMAT_OTLP_JSON
                                 ? jaeger_to_otlp
                                 : jaeger_doc;

    return correct_json_run(src, opts, model, out, stats, err, errlen, fn);
}

const struct correct_ops correct_jaeger_ops = {
    .in_format = TRACE_FORMAT_JAEGER,
    .run = jaeger_run,
};
