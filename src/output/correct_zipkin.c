/* correct_zipkin: `correct` for Zipkin v2 JSON (a list of spans per
 * document). A span's clock domain comes from localEndpoint: ipv4, then
 * ipv6, then serviceName; a --clock-domain attribute is looked up in the
 * span's tags (and localEndpoint) first.
 *
 * Kept as Zipkin: timestamp is mapped and floored to microseconds, duration
 * becomes corrected end minus corrected start, annotation timestamps are
 * mapped; the originals (ns) go into string tags, those of the annotations
 * as one comma-separated tag (annotations carry no attributes).
 * With --output-format otlp-json each document becomes one OTLP JSON
 * document (see zipkin_to_otlp below), corrected in nanoseconds. */
#include "output/correct.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct_json.h"
#include "util/ids.h"

/* ---- Domain ------------------------------------------------------------ */

static void span_domain(const json_t *span, const char *user,
                        struct correct_json_domain *d)
{
    const char *key;
    const json_t *val;

    size_t keylen;

    correct_json_domain_init(d);
    json_object_keylen_foreach((json_t *)json_object_get(span, "localEndpoint"),
                               key, keylen, val)
    {
        correct_json_domain_offer(d, user, CLOCK_DOMAIN_ZIPKIN, key, keylen,
                                  val);
    }
    /* Span tags name the domain only through the user's attribute. */
    if (user)
        correct_json_domain_offer(
            d, user, CLOCK_DOMAIN_ZIPKIN, user, strlen(user),
            json_object_get(json_object_get(span, "tags"), user));
}

/* Whether the readers analyse span (see correct_json_span_valid()). */
static bool span_valid(const json_t *span)
{
    return correct_json_span_valid(
        json_object_get(span, "traceId"), json_object_get(span, "id"),
        correct_json_present(json_object_get(span, "timestamp")));
}

/* ---- Correction in the Zipkin format ----------------------------------- */

static int set_tag_str(json_t *span, const char *key, const char *value)
{
    json_t *tags = json_object_get(span, "tags");

    if (!json_is_object(tags)) {
        tags = json_object();
        if (!tags || json_object_set_new(span, "tags", tags) != 0)
            return -1;
    }
    return json_object_set_new(tags, key, json_string(value));
}

static int set_tag_int(json_t *span, const char *key, int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return set_tag_str(span, key, buf);
}

/* Original annotation times, comma-separated, built while mapping them. */
struct ann_list {
    char *s;
    size_t len, cap;
};

static int ann_list_add(struct ann_list *l, const char *text)
{
    size_t n = strlen(text) + 1;

    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        while (cap < l->len + n + 1)
            cap *= 2;
        char *s = realloc(l->s, cap);
        if (!s)
            return -1;
        l->s = s;
        l->cap = cap;
    }
    l->len += (size_t)sprintf(l->s + l->len, "%s%s", l->len ? "," : "", text);
    return 0;
}

static int map_annotations(json_t *span, int id, struct correct_json_ctx *ctx,
                           struct ann_list *orig, bool *changed)
{
    json_t *ann;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(span, "annotations"), i, ann)
    {
        struct correct_json_us t;
        bool present = false;
        char buf[32] = "";
        if (json_is_object(ann) &&
            (rc = correct_json_map_us_field(ann, "timestamp", id, ctx, &t,
                                            &present)) != 0)
            return rc;
        if (present) {
            snprintf(buf, sizeof(buf), "%" PRId64, t.orig_ns);
            *changed = *changed || t.ref_us * 1000 != t.orig_ns;
        }
        /* One entry per annotation keeps the list aligned with them. */
        if (ann_list_add(orig, buf) != 0)
            return correct_json_nomem(ctx);
    }
    return 0;
}

static int add_span_tags(json_t *span, const struct correct_json_us *start,
                         const struct correct_json_us *end, bool has_end,
                         const struct ann_list *anns)
{
    if (set_tag_int(span, CORRECT_ATTR_OFFSET,
                    start->orig_ns - start->ref_ns) != 0 ||
        set_tag_int(span, CORRECT_ATTR_ORIG_START, start->orig_ns) != 0)
        return -1;
    if (has_end && set_tag_int(span, CORRECT_ATTR_ORIG_END, end->orig_ns))
        return -1;
    if (anns->len > 0 &&
        set_tag_str(span, CORRECT_ATTR_ORIG_ANNOTATIONS, anns->s) != 0)
        return -1;
    return 0;
}

static int correct_span(json_t *span, int id, struct correct_json_ctx *ctx)
{
    struct correct_json_us start, end;
    struct ann_list anns = {0};
    bool has_start, has_end = false, changed = false;
    int rc;

    if ((rc = correct_json_map_us_field(span, "timestamp", id, ctx, &start,
                                        &has_start)) != 0 ||
        (has_start && (rc = correct_json_map_duration(span, id, &start, ctx,
                                                      &end, &has_end)) != 0) ||
        (rc = map_annotations(span, id, ctx, &anns, &changed)) != 0)
        goto out;
    changed = changed || (has_start && start.ref_us * 1000 != start.orig_ns) ||
              (has_end && end.ref_us * 1000 != end.orig_ns);
    /* Without a timestamp there is no start to state an offset for. */
    if (!changed || !has_start)
        goto out;
    ctx->stats->adjusted++;
    if (add_span_tags(span, &start, &end, has_end, &anns) != 0)
        rc = correct_json_nomem(ctx);
out:
    free(anns.s);
    return rc;
}

/* The spans of a document as a list: the document itself, or, for a bare
 * span object (as the reader takes one: an object with a span member), a
 * new list holding it; an object without any is no span (an empty list).
 * Returns a new reference, NULL with *rc set on error. */
static json_t *doc_spans(json_t *doc, struct correct_json_ctx *ctx, int *rc)
{
    static const char *const members[] = {
        "traceId",       "id",   "parentId", "kind", "timestamp", "duration",
        "localEndpoint", "tags", "shared"};
    json_t *list;

    if (json_is_array(doc))
        return json_incref(doc);
    if (!json_is_object(doc)) {
        *rc = correct_json_malformed(ctx, "expected a Zipkin JSON list of "
                                          "spans");
        return NULL;
    }
    list = json_array();
    for (size_t i = 0; list && i < sizeof(members) / sizeof(members[0]); i++)
        if (json_object_get(doc, members[i])) {
            if (json_array_append(list, doc) != 0) {
                json_decref(list);
                list = NULL;
            }
            break;
        }
    if (!list)
        *rc = correct_json_nomem(ctx);
    return list;
}

static int correct_spans(json_t *list, struct correct_json_ctx *ctx)
{
    json_t *span;
    size_t i;
    int rc;

    json_array_foreach(list, i, span)
    {
        struct correct_json_domain d;
        if (!json_is_object(span))
            continue;
        ctx->stats->spans++;
        if (!span_valid(span))
            continue; /* written through as it is */
        span_domain(span, ctx->opts->clock_domain_attr, &d);
        int id = correct_json_domain_id(&d, ctx->model);
        if (id >= 0 && (rc = correct_span(span, id, ctx)) != 0)
            return rc;
    }
    return 0;
}

/* In place: a bare span is the list's element itself. */
static int zipkin_doc(json_t **doc, struct correct_json_ctx *ctx)
{
    int rc;
    json_t *list = doc_spans(*doc, ctx, &rc);

    if (!list)
        return rc;
    rc = correct_spans(list, ctx);
    json_decref(list);
    return rc;
}

/* ---- Conversion to OTLP JSON ------------------------------------------- */

/* A Zipkin "shared" SERVER span reuses its client's span ID. In OTLP the
 * server half gets its own ID: the shared ID with the top bit flipped (a
 * collision with a real span ID is astronomically unlikely), and the
 * client as parent. */
#define SHARED_FLIP (UINT64_C(1) << 63)

#define STR_IS(v, lit) correct_json_str_is((v), (lit), sizeof(lit) - 1)

static bool is_shared_server(const json_t *span)
{
    return json_is_true(json_object_get(span, "shared")) &&
           STR_IS(json_object_get(span, "kind"), "SERVER");
}

/* Key of a (trace, span, domain) triple for the shared-server set. */
static int shared_key(const json_t *span, const char *id_field,
                      struct correct_json_ctx *ctx, char *key, size_t keylen)
{
    struct correct_json_domain d;
    char thex[33], shex[17], tmp[CORRECT_JSON_TMP];
    const char *name;
    size_t len;
    uint64_t id;

    if (correct_json_trace_hex(json_object_get(span, "traceId"), thex) != 0 ||
        correct_json_span_hex(json_object_get(span, id_field), shex, &id) != 0)
        return -1;
    span_domain(span, ctx->opts->clock_domain_attr, &d);
    correct_json_domain_text(&d, tmp, &name, &len);
    snprintf(key, keylen, "%s/%s/%.*s", thex, shex, (int)len, name);
    return 0;
}

/* Shared server spans of a document, keyed by shared_key(). Children that
 * name the shared ID as parent and run in the server's clock domain are
 * children of the server half (Zipkin's own tree builder decides the same
 * way, by endpoint). */
static json_t *shared_servers(const json_t *doc, struct correct_json_ctx *ctx)
{
    json_t *set = json_object();
    const json_t *span;
    char key[512];
    size_t i;

    json_array_foreach(doc, i, span)
    {
        if (set && is_shared_server(span) &&
            shared_key(span, "id", ctx, key, sizeof(key)) == 0 &&
            json_object_set_new(set, key, json_true()) != 0) {
            json_decref(set);
            set = NULL;
        }
    }
    return set;
}

static int kind_of(const json_t *span)
{
    static const char *const names[] = {"",       "",         "SERVER",
                                        "CLIENT", "PRODUCER", "CONSUMER"};
    const json_t *k = json_object_get(span, "kind");

    for (int kind = SPAN_KIND_SERVER; kind <= SPAN_KIND_CONSUMER; kind++)
        if (correct_json_str_is(k, names[kind], strlen(names[kind])))
            return kind;
    /* No kind: a local span. */
    return SPAN_KIND_INTERNAL;
}

static int set_span_id(json_t *ospan, const char *field, uint64_t id)
{
    char hex[17];

    id_format_span(id, hex);
    return json_object_set_new(ospan, field, json_string(hex));
}

/* spanId and parentSpanId, with the shared-server rewrite. An invalid span
 * (written through) without an id gets spanId "". */
static int convert_ids(const json_t *span, json_t *ospan, const json_t *shared,
                       bool valid, struct correct_json_ctx *ctx)
{
    char shex[17], phex[17], key[512];
    uint64_t id, parent = 0;
    const json_t *p = json_object_get(span, "parentId");

    if (!valid &&
        correct_json_span_hex(json_object_get(span, "id"), shex, &id) != 0) {
        if (json_object_set_new(ospan, "spanId", json_string("")) != 0)
            return correct_json_nomem(ctx);
        id = 0;
        if (p && correct_json_span_hex(p, phex, &parent) == 0 && parent &&
            set_span_id(ospan, "parentSpanId", parent) != 0)
            return correct_json_nomem(ctx);
        return 0;
    }
    if (correct_json_span_hex(json_object_get(span, "id"), shex, &id) != 0 ||
        (p && correct_json_span_hex(p, phex, &parent) != 0))
        return correct_json_malformed(ctx, "span with a bad id or parentId");
    if (is_shared_server(span)) {
        parent = id;
        id ^= SHARED_FLIP;
    } else if (parent &&
               shared_key(span, "parentId", ctx, key, sizeof(key)) == 0 &&
               json_object_get(shared, key)) {
        parent ^= SHARED_FLIP;
    }
    if (set_span_id(ospan, "spanId", id) != 0 ||
        (parent && set_span_id(ospan, "parentSpanId", parent) != 0))
        return correct_json_nomem(ctx);
    return 0;
}

static json_t *decimal(int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_string(buf);
}

/* Times in ns; a span without a timestamp keeps none (OTLP then has no
 * start or end to correct, as the Zipkin span had none). */
static int convert_times(const json_t *span, json_t *ospan,
                         struct correct_json_ctx *ctx)
{
    int64_t start_us, dur_us = 0, start, end;
    int rc =
        correct_json_get_int(json_object_get(span, "timestamp"), &start_us);

    if (rc > 0)
        return 0;
    if (rc < 0 || correct_json_get_duration(span, &dur_us) < 0 ||
        correct_json_us_to_ns(start_us, &start) != 0 ||
        correct_json_us_to_ns(start_us + dur_us, &end) != 0)
        return correct_json_malformed(ctx, "span with a bad timestamp or "
                                           "duration");
    if (json_object_set_new(ospan, "startTimeUnixNano", decimal(start)) ||
        json_object_set_new(ospan, "endTimeUnixNano", decimal(end)))
        return correct_json_nomem(ctx);
    return 0;
}

static int set_str_attrn(json_t *attrs, const char *key, size_t keylen,
                         const json_t *v)
{
    char buf[CORRECT_JSON_TMP];
    const char *s;
    size_t len;

    if (!v || !correct_json_scalar_text(v, buf, sizeof(buf), &s, &len))
        return 0;
    return correct_json_otlp_attr_setn(attrs, key, keylen,
                                       correct_json_otlp_str(s, len));
}

static int set_str_attr(json_t *attrs, const char *key, const json_t *v)
{
    return set_str_attrn(attrs, key, strlen(key), v);
}

/* Tags (all strings in Zipkin) and the remote endpoint, named as the
 * OpenTelemetry Zipkin translator names them. */
static int convert_attrs(const json_t *span, json_t *attrs)
{
    const json_t *remote = json_object_get(span, "remoteEndpoint");
    const json_t *ip = json_object_get(remote, "ipv4");
    const char *key;
    const json_t *v;

    size_t keylen;

    json_object_keylen_foreach((json_t *)json_object_get(span, "tags"), key,
                               keylen, v)
    {
        if (set_str_attrn(attrs, key, keylen, v) != 0)
            return -1;
    }
    if (!ip)
        ip = json_object_get(remote, "ipv6");
    if (set_str_attr(attrs, "peer.service",
                     json_object_get(remote, "serviceName")) != 0 ||
        set_str_attr(attrs, "net.peer.ip", ip) != 0)
        return -1;
    v = json_object_get(remote, "port");
    if (json_is_integer(v) &&
        correct_json_otlp_attr_set(
            attrs, "net.peer.port",
            correct_json_otlp_int(json_integer_value(v))) != 0)
        return -1;
    return 0;
}

static int convert_annotations(const json_t *span, json_t *events,
                               struct correct_json_ctx *ctx)
{
    const json_t *ann;
    size_t i;
    int64_t us, ns;

    json_array_foreach(json_object_get(span, "annotations"), i, ann)
    {
        const json_t *value = json_object_get(ann, "value");
        if (correct_json_get_int(json_object_get(ann, "timestamp"), &us) ||
            correct_json_us_to_ns(us, &ns) != 0)
            return correct_json_malformed(ctx, "annotation without a valid "
                                               "timestamp");
        json_t *ev =
            json_pack("{s:o,s:s%}", "timeUnixNano", decimal(ns), "name",
                      json_is_string(value) ? json_string_value(value) : "",
                      json_is_string(value) ? json_string_length(value) : 0);
        if (json_array_append_new(events, ev) != 0)
            return correct_json_nomem(ctx);
    }
    return 0;
}

static int convert_body(const json_t *span, json_t *ospan, const json_t *shared,
                        bool valid, struct correct_json_ctx *ctx)
{
    int rc;

    if ((rc = convert_ids(span, ospan, shared, valid, ctx)) != 0 ||
        (rc = convert_times(span, ospan, ctx)) != 0 ||
        (rc = convert_annotations(span, json_object_get(ospan, "events"),
                                  ctx)) != 0)
        return rc;
    if (convert_attrs(span, json_object_get(ospan, "attributes")) != 0)
        return correct_json_nomem(ctx);
    /* Zipkin marks a failed span with an "error" tag of any value. */
    if (json_object_get(json_object_get(span, "tags"), "error") &&
        json_object_set_new(ospan, "status", json_pack("{s:i}", "code", 2)))
        return correct_json_nomem(ctx);
    return 0;
}

static json_t *convert_span(const json_t *span, const json_t *shared,
                            bool valid, struct correct_json_ctx *ctx, int *rc)
{
    const json_t *name = json_object_get(span, "name");
    char thex[33];
    json_t *ospan;

    if (!valid) {
        correct_json_trace_hex_lenient(json_object_get(span, "traceId"), thex);
    } else if (correct_json_trace_hex(json_object_get(span, "traceId"), thex) !=
               0) {
        *rc = correct_json_malformed(ctx, "span with a bad traceId");
        return NULL;
    }
    ospan = json_pack("{s:s,s:s%,s:i,s:[],s:[]}", "traceId", thex, "name",
                      json_is_string(name) ? json_string_value(name) : "",
                      json_is_string(name) ? json_string_length(name) : 0,
                      "kind", kind_of(span), "attributes", "events");
    if (!ospan) {
        *rc = correct_json_nomem(ctx);
        return NULL;
    }
    if ((*rc = convert_body(span, ospan, shared, valid, ctx)) != 0) {
        json_decref(ospan);
        return NULL;
    }
    return ospan;
}

/* Resource of a span: service.name and net.host.ip from localEndpoint, and
 * host.name (or the --clock-domain attribute) set to the clock domain the
 * Zipkin rule chose, so that skewscope's OTLP reader names the same domain
 * (an ipv4-named domain thus reads back through host.name). */
static json_t *span_resource(const json_t *span, const char *user)
{
    const json_t *ep = json_object_get(span, "localEndpoint");
    const json_t *ip = json_object_get(ep, "ipv4");
    json_t *attrs = json_array();
    struct correct_json_domain d;
    char tmp[CORRECT_JSON_TMP];
    const char *name;
    size_t len;

    if (!ip)
        ip = json_object_get(ep, "ipv6");
    if (!attrs ||
        set_str_attr(attrs, "service.name",
                     json_object_get(ep, "serviceName")) != 0 ||
        set_str_attr(attrs, "net.host.ip", ip) != 0)
        goto fail;
    span_domain(span, user, &d);
    correct_json_domain_text(&d, tmp, &name, &len);
    if (correct_json_otlp_resource_fix(attrs, user, name, len,
                                       user && d.rank == 0) != 0)
        goto fail;
    return attrs;
fail:
    json_decref(attrs);
    return NULL;
}

/* Convert the spans of doc that are valid (or, with !valid, those that are
 * not) into resource_spans. */
static int convert_spans(const json_t *doc, json_t *resource_spans,
                         const json_t *shared, bool valid,
                         struct correct_json_ctx *ctx)
{
    const json_t *span;
    size_t i;
    int rc;

    json_array_foreach(doc, i, span)
    {
        if (!json_is_object(span) || span_valid(span) != valid)
            continue;
        json_t *ospan = convert_span(span, shared, valid, ctx, &rc);
        if (!ospan)
            return rc;
        if (!valid)
            ctx->stats->spans++; /* the valid ones count when corrected */
        json_t *res = span_resource(span, ctx->opts->clock_domain_attr);
        if (!res) {
            json_decref(ospan);
            return correct_json_nomem(ctx);
        }
        if (correct_json_otlp_add_span(resource_spans, res, ospan) != 0)
            return correct_json_nomem(ctx);
    }
    return 0;
}

/* The document as one OTLP ExportTraceServiceRequest, resourceSpans grouped
 * by local endpoint and clock domain, corrected in nanoseconds; then the
 * spans the readers count as invalid, converted but not corrected. */
static int zipkin_to_otlp(json_t **doc, struct correct_json_ctx *ctx)
{
    json_t *otlp = NULL, *shared = NULL, *list;
    int rc;

    if (!(list = doc_spans(*doc, ctx, &rc)))
        return rc;
    otlp = json_pack("{s:[]}", "resourceSpans");
    shared = shared_servers(list, ctx);
    if (!otlp || !shared) {
        rc = correct_json_nomem(ctx);
        goto out;
    }
    if ((rc = convert_spans(list, json_object_get(otlp, "resourceSpans"),
                            shared, true, ctx)) != 0 ||
        (rc = correct_json_otlp_doc(&otlp, ctx)) != 0 ||
        (rc = convert_spans(list, json_object_get(otlp, "resourceSpans"),
                            shared, false, ctx)) != 0)
        goto out;
    json_decref(*doc);
    *doc = otlp;
    otlp = NULL;
out:
    json_decref(shared);
    json_decref(otlp);
    json_decref(list);
    return rc;
}

static int zipkin_run(struct source *src, const struct correct_opts *opts,
                      const struct clock_model *model, FILE *out,
                      struct correct_stats *stats, char *err, size_t errlen)
{
    correct_json_doc_fn fn = opts->out_format == TRACE_FORMAT_OTLP_JSON
                                 ? zipkin_to_otlp
                                 : zipkin_doc;

    return correct_json_run(src, opts, model, out, stats, err, errlen, fn);
}

const struct correct_ops correct_zipkin_ops = {
    .in_format = TRACE_FORMAT_ZIPKIN,
    .run = zipkin_run,
};
