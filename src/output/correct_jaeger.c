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

/* The span's process: embedded, or processes[processID]; NULL when the
 * trace does not list it (the readers count such a span as invalid). */
static const json_t *span_process(const json_t *trace, const json_t *span)
{
    const json_t *p = json_object_get(span, "process");
    const json_t *pid = json_object_get(span, "processID");

    if (json_is_object(p))
        return p;
    if (!json_is_string(pid))
        return NULL;
    p = json_object_getn(json_object_get(trace, "processes"),
                         json_string_value(pid), json_string_length(pid));
    return json_is_object(p) ? p : NULL;
}

/* obj's traceID or spanID, in either spelling the reader takes. */
static const json_t *trace_id_of(const json_t *obj)
{
    const json_t *v = json_object_get(obj, "traceID");

    return v ? v : json_object_get(obj, "traceId");
}

static const json_t *span_id_of(const json_t *obj)
{
    const json_t *v = json_object_get(obj, "spanID");

    return v ? v : json_object_get(obj, "spanId");
}

/* Whether the readers analyse span (see correct_json_span_valid()), whose
 * process is process. */
static bool span_valid(const json_t *span, const json_t *process)
{
    return process &&
           correct_json_span_valid(
               trace_id_of(span), span_id_of(span),
               correct_json_present(json_object_get(span, "startTime")));
}

/* ---- The shapes of a document ----------------------------------------- */

/* Called for each span with its trace (whose "processes" resolve its
 * processID; for a lone span, the span itself). */
typedef int (*span_fn)(json_t *trace, json_t *span, void *arg,
                       struct correct_json_ctx *ctx);

/* The spans of one trace-level object: a trace (it has "spans"), or a
 * lone span (it has a spanID; its process inline). Anything else holds
 * none. */
static int unit_spans(json_t *unit, span_fn fn, void *arg,
                      struct correct_json_ctx *ctx)
{
    json_t *spans = json_object_get(unit, "spans"), *span;
    size_t i;
    int rc;

    if (!json_is_object(unit))
        return 0;
    if (!json_is_array(spans))
        return span_id_of(unit) ? fn(unit, unit, arg, ctx) : 0;
    json_array_foreach(spans, i, span)
    {
        if (json_is_object(span) && (rc = fn(unit, span, arg, ctx)) != 0)
            return rc;
    }
    return 0;
}

/* Every span of a document, in the shapes the reader takes:
 * {"data": [traces or spans]}, [traces or spans], a trace, a span. */
static int doc_spans(json_t *doc, span_fn fn, void *arg,
                     struct correct_json_ctx *ctx)
{
    json_t *list = json_object_get(doc, "data"), *unit;
    size_t i;
    int rc;

    if (!json_is_array(list) && json_is_array(doc))
        list = doc;
    if (!json_is_array(list)) {
        if (json_is_object(doc) &&
            (json_is_array(json_object_get(doc, "spans")) || span_id_of(doc)))
            return unit_spans(doc, fn, arg, ctx);
        return correct_json_malformed(
            ctx, "expected a Jaeger JSON document ({\"data\": [traces]}, "
                 "a trace, a span, or an array of traces or spans)");
    }
    json_array_foreach(list, i, unit)
    {
        if ((rc = unit_spans(unit, fn, arg, ctx)) != 0)
            return rc;
    }
    return 0;
}

static void process_domain(const json_t *process, const char *user,
                           struct correct_json_domain *d)
{
    const json_t *tag;
    size_t i;

    correct_json_domain_init(d);
    correct_json_domain_offer(d, user, CLOCK_DOMAIN_JAEGER, "serviceName",
                              strlen("serviceName"),
                              json_object_get(process, "serviceName"));
    json_array_foreach(json_object_get(process, "tags"), i, tag)
    {
        const json_t *key = json_object_get(tag, "key");
        /* serviceName is the field, never a tag of that name. */
        if (json_is_string(key) &&
            !correct_json_str_is(key, "serviceName", strlen("serviceName")))
            correct_json_domain_offer(
                d, user, CLOCK_DOMAIN_JAEGER, json_string_value(key),
                json_string_length(key), json_object_get(tag, "value"));
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

static int correct_one(json_t *trace, json_t *span, void *arg,
                       struct correct_json_ctx *ctx)
{
    const json_t *process = span_process(trace, span);
    struct correct_json_domain d;

    (void)arg;
    ctx->stats->spans++;
    if (!span_valid(span, process))
        return 0; /* written through as it is */
    process_domain(process, ctx->opts->clock_domain_attr, &d);
    int id = correct_json_domain_id(&d, ctx->model);
    return id >= 0 ? correct_span(span, id, ctx) : 0;
}

static int jaeger_doc(json_t **doc, struct correct_json_ctx *ctx)
{
    return doc_spans(*doc, correct_one, NULL, ctx);
}

/* ---- Conversion to OTLP JSON ------------------------------------------- */

/* OTLP AnyValue of a Jaeger tag, typed by its "type" (else by the JSON
 * type of its value). Returns NULL for values OTLP cannot hold here
 * (objects, arrays, null) and when out of memory; *skip tells them apart. */
#define STR_IS(v, lit) correct_json_str_is((v), (lit), sizeof(lit) - 1)

static json_t *any_value(const json_t *tag, bool *skip)
{
    const json_t *type = json_object_get(tag, "type");
    const json_t *v = json_object_get(tag, "value");
    char buf[CORRECT_JSON_TMP];
    const char *s;
    size_t len;
    int64_t n;

    *skip = false;
    if (STR_IS(type, "int64") && correct_json_get_int(v, &n) == 0)
        return correct_json_otlp_int(n);
    if (STR_IS(type, "float64") && json_is_number(v))
        return json_pack("{s:f}", "doubleValue", json_number_value(v));
    if (STR_IS(type, "binary") && json_is_string(v))
        return json_pack("{s:O}", "bytesValue", v);
    if (json_is_boolean(v))
        return json_pack("{s:b}", "boolValue", json_is_true(v));
    if (!json_is_string(type) && json_is_integer(v))
        return correct_json_otlp_int(json_integer_value(v));
    if (!json_is_string(type) && json_is_real(v))
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
        const json_t *key = json_object_get(tag, "key");
        bool skip;
        if (!json_is_string(key) ||
            (except && correct_json_str_is(key, except, strlen(except))))
            continue;
        json_t *v = any_value(tag, &skip);
        if (skip)
            continue;
        if (correct_json_otlp_attr_setn(attrs, json_string_value(key),
                                        json_string_length(key), v) != 0)
            return -1;
    }
    return 0;
}

/* Resource attributes of a process: service.name, its tags, and host.name
 * (or the --clock-domain attribute) set to the clock domain the Jaeger rule
 * chose, so that skewscope's OTLP reader names the same domain. No
 * attributes for a span whose process is unknown (NULL). */
static json_t *process_resource(const json_t *process, const char *user)
{
    json_t *attrs = json_array();
    const json_t *svc = json_object_get(process, "serviceName");
    struct correct_json_domain d;
    char tmp[CORRECT_JSON_TMP];
    const char *name;
    size_t len;

    if (!attrs || !process)
        return attrs;
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
        const json_t *v = json_object_get(tag, "value");
        if (!STR_IS(json_object_get(tag, "key"), "span.kind"))
            continue;
        for (int kind = 1; kind <= SPAN_KIND_CONSUMER; kind++)
            if (correct_json_str_is(v, names[kind], strlen(names[kind])))
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
        const json_t *v = json_object_get(tag, "value");
        if (STR_IS(json_object_get(tag, "key"), "error") &&
            (json_is_true(v) || STR_IS(v, "true")))
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
    const json_t *type = json_object_get(ref, "refType");
    char trace[33], span[17];
    uint64_t sid;

    if (correct_json_trace_hex(trace_id_of(ref), trace) != 0 ||
        correct_json_span_hex(span_id_of(ref), span, &sid) != 0)
        return correct_json_malformed(ctx, "reference with a bad traceID "
                                           "or spanID");
    if (STR_IS(type, "CHILD_OF") && strcmp(trace, own_trace) == 0 &&
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
    size_t name_len = 3;
    char ns[32];
    int64_t us, t;
    size_t i;

    if (correct_json_get_int(json_object_get(log, "timestamp"), &us) != 0 ||
        correct_json_us_to_ns(us, &t) != 0)
        return correct_json_malformed(ctx, "log without a valid timestamp");
    json_array_foreach(fields, i, f)
    {
        const json_t *v = json_object_get(f, "value");
        if (STR_IS(json_object_get(f, "key"), "event") && json_is_string(v)) {
            name = json_string_value(v);
            name_len = json_string_length(v);
        }
    }
    snprintf(ns, sizeof(ns), "%" PRId64, t);
    json_t *ev = json_pack("{s:s,s:s%,s:[]}", "timeUnixNano", ns, "name", name,
                           name_len, "attributes");
    if (!ev || json_array_append_new(events, ev) != 0 ||
        tags_to_attrs(fields, json_object_get(ev, "attributes"), "event") != 0)
        return correct_json_nomem(ctx);
    return 0;
}

/* Times in ns; a span without a startTime (invalid, written through) keeps
 * none. */
static int convert_times(const json_t *span, json_t *ospan,
                         struct correct_json_ctx *ctx)
{
    int64_t start_us, dur_us = 0, start, end;
    char s[32], e[32];
    int rc =
        correct_json_get_int(json_object_get(span, "startTime"), &start_us);

    if (rc > 0)
        return 0;
    if (rc < 0 || correct_json_get_duration(span, &dur_us) < 0 ||
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

/* OTLP span of a Jaeger span; NULL with *rc set on error. An invalid span
 * (written through) keeps "" for an ID it lacks. */
static json_t *convert_span(const json_t *trace, const json_t *span, bool valid,
                            struct correct_json_ctx *ctx, int *rc)
{
    const json_t *tid = trace_id_of(span);
    const json_t *op = json_object_get(span, "operationName");
    char thex[33], shex[17];
    uint64_t sid;
    json_t *ospan;

    if (!tid)
        tid = trace_id_of(trace);
    if (!valid) {
        correct_json_trace_hex_lenient(tid, thex);
        correct_json_span_hex_lenient(span_id_of(span), shex);
    } else if (correct_json_trace_hex(tid, thex) != 0 ||
               correct_json_span_hex(span_id_of(span), shex, &sid) != 0) {
        *rc = correct_json_malformed(ctx, "span with a bad traceID or spanID");
        return NULL;
    }
    ospan = json_pack(
        "{s:s,s:s,s:s%,s:i,s:[],s:[]}", "traceId", thex, "spanId", shex, "name",
        json_is_string(op) ? json_string_value(op) : "",
        json_is_string(op) ? json_string_length(op) : 0, "kind",
        kind_of(json_object_get(span, "tags")), "attributes", "events");
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

/* Where converted spans go: the valid ones, or the others. */
struct conversion {
    json_t *resource_spans;
    bool valid;
};

static int convert_one(json_t *trace, json_t *span, void *arg,
                       struct correct_json_ctx *ctx)
{
    const struct conversion *cv = arg;
    const json_t *process = span_process(trace, span);
    int rc;

    if (span_valid(span, process) != cv->valid)
        return 0;
    json_t *ospan = convert_span(trace, span, cv->valid, ctx, &rc);
    if (!ospan)
        return rc;
    if (!cv->valid)
        ctx->stats->spans++; /* the valid ones count when corrected */
    json_t *res = process_resource(process, ctx->opts->clock_domain_attr);
    if (!res) {
        json_decref(ospan);
        return correct_json_nomem(ctx);
    }
    if (correct_json_otlp_add_span(cv->resource_spans, res, ospan) != 0)
        return correct_json_nomem(ctx);
    return 0;
}

/* The whole document as one OTLP ExportTraceServiceRequest, resourceSpans
 * grouped by process, corrected in nanoseconds; then the spans the readers
 * count as invalid, converted but not corrected. */
static int jaeger_to_otlp(json_t **doc, struct correct_json_ctx *ctx)
{
    json_t *otlp = json_pack("{s:[]}", "resourceSpans");
    struct conversion cv = {json_object_get(otlp, "resourceSpans"), true};
    int rc;

    if (!otlp)
        return correct_json_nomem(ctx);
    if ((rc = doc_spans(*doc, convert_one, &cv, ctx)) != 0 ||
        (rc = correct_json_otlp_doc(&otlp, ctx)) != 0)
        goto out;
    cv.valid = false;
    if ((rc = doc_spans(*doc, convert_one, &cv, ctx)) != 0)
        goto out;
    json_decref(*doc);
    *doc = otlp;
    otlp = NULL;
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
