/* correct_proto: `correct` for OTLP protobuf input. Second pass over the
 * input, one ExportTraceServiceRequest at a time (otlp_proto stream): spans
 * of clock domains the model knows get their start, end and event times
 * mapped onto the reference clock, with the originals kept as int
 * attributes (output/correct.h). Each message is written back either as a
 * length-delimited protobuf message or as one OTLP/JSON document per line;
 * a message larger than correct_json_split_max is written in parts of
 * whole ResourceSpans (one ResourceSpans over correct_max_element is
 * refused), so memory beyond the stream's own buffer stays bounded.
 *
 * Protobuf output is rewritten on the wire format (correct_wire.c: no
 * protobuf-c decoding, the readers' walker). OTLP/JSON output, a
 * conversion, decodes each part with protobuf-c, corrects the decoded
 * message and builds the JSON; correct_otlp_proto_dom_ops writes protobuf
 * that way too (decode, correct, re-encode): the reference the wire path
 * is tested against.
 * Empty messages (zero-length frames: a run of zero bytes) are not written;
 * when nothing was, JSON output still gets one empty document. Spans the
 * readers count as invalid (empty or all-zero IDs) are written through
 * uncorrected.
 *
 * Added attributes and arrays live in the corrector's arena, next to the
 * decoded part, and go away with it. */
#include "output/correct.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest/otlp_proto.h"
#include "ingest/source.h"
#include "ingest/wire.h"
#include "model/clock_domain.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct_json.h"
#include "output/correct_wire.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

struct corrector {
    const struct correct_opts *opts;
    const struct clock_model *model;
    struct correct_stats *stats;
    struct otlp_arena *arena; /* the decoded chunk's, reset per chunk */
    FILE *out;
    bool json; /* OTLP JSON output, else length-delimited protobuf */
    bool wire; /* protobuf output by correct_wire (else protobuf-c) */
    struct correct_wire_out wbuf;
    size_t written; /* messages (documents) written */
    uint8_t *buf;   /* packed output */
    size_t cap;
};

/* ---- rewriting the message -------------------------------------------- */

/* Set key to an int value in a KeyValue array, replacing an entry with the
 * same key or appending (the array is copied into the arena). */
static int attr_set_int(struct corrector *c, KeyValue ***attrs, size_t *n,
                        const char *key, int64_t v)
{
    AnyValue *val = otlp_arena_alloc(c->arena, sizeof(*val));

    if (!val)
        return -1;
    *val = (AnyValue)OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    val->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    val->int_value = v;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*attrs)[i]->key, key) == 0) {
            (*attrs)[i]->value = val;
            return 0;
        }
    }
    KeyValue *kv = otlp_arena_alloc(c->arena, sizeof(*kv));
    KeyValue **na = otlp_arena_alloc(c->arena, (*n + 1) * sizeof(*na));
    if (!kv || !na)
        return -1;
    *kv = (KeyValue)OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    kv->key = (char *)key;
    kv->value = val;
    if (*n)
        memcpy(na, *attrs, *n * sizeof(*na));
    na[(*n)++] = kv;
    *attrs = na;
    return 0;
}

/* Map every event time of sp; sets *changed when one moved. */
static int correct_events(struct corrector *c, Span *sp, int id, bool *changed)
{
    for (size_t i = 0; i < sp->n_events; i++) {
        Event *ev = sp->events[i];
        int64_t orig = (int64_t)ev->time_unix_nano;
        int64_t ref = clock_model_to_reference(c->model, id, orig);
        if (ref == orig)
            continue;
        *changed = true;
        ev->time_unix_nano = (uint64_t)ref;
        if (attr_set_int(c, &ev->attributes, &ev->n_attributes,
                         CORRECT_ATTR_ORIG_TIME, orig) < 0)
            return -1;
    }
    return 0;
}

static int correct_span(struct corrector *c, Span *sp, int id)
{
    int64_t start = (int64_t)sp->start_time_unix_nano;
    int64_t end = (int64_t)sp->end_time_unix_nano;
    int64_t start_ref = clock_model_to_reference(c->model, id, start);
    int64_t end_ref = clock_model_to_reference(c->model, id, end);
    bool changed = start_ref != start || end_ref != end;

    if (correct_events(c, sp, id, &changed) < 0)
        return -1;
    if (!changed)
        return 0;
    c->stats->adjusted++;
    sp->start_time_unix_nano = (uint64_t)start_ref;
    sp->end_time_unix_nano = (uint64_t)end_ref;
    if (attr_set_int(c, &sp->attributes, &sp->n_attributes, CORRECT_ATTR_OFFSET,
                     start - start_ref) < 0 ||
        attr_set_int(c, &sp->attributes, &sp->n_attributes,
                     CORRECT_ATTR_ORIG_START, start) < 0 ||
        attr_set_int(c, &sp->attributes, &sp->n_attributes,
                     CORRECT_ATTR_ORIG_END, end) < 0)
        return -1;
    return 0;
}

static int domain_of(struct corrector *c, const ResourceSpans *rs)
{
    char buf[128];
    const char *name = CLOCK_DOMAIN_UNKNOWN;
    size_t len = strlen(CLOCK_DOMAIN_UNKNOWN);

    otlp_proto_resource_domain(rs->resource, c->opts->clock_domain_attr, &name,
                               &len, buf, sizeof(buf));
    return clock_model_find(c->model, name, len);
}

/* Whether the readers analyse sp (ingest_span_invalid(); protobuf has no
 * absent time). Those they count as invalid (an empty or all-zero trace or
 * span ID) are written through uncorrected. */
static bool span_valid(const Span *sp)
{
    struct span_rec rec;

    memset(&rec, 0, sizeof(rec));
    if (sp->trace_id.len == 16)
        memcpy(rec.trace_id, sp->trace_id.data, 16);
    if (sp->span_id.len == 8)
        rec.span_id = otlp_proto_span_id(sp->span_id.data);
    return ingest_span_invalid(&rec, true) < 0;
}

static int correct_message(struct corrector *c, Request *msg)
{
    for (size_t r = 0; r < msg->n_resource_spans; r++) {
        ResourceSpans *rs = msg->resource_spans[r];
        int id = domain_of(c, rs);
        for (size_t s = 0; s < rs->n_scope_spans; s++) {
            ScopeSpans *ss = rs->scope_spans[s];
            c->stats->spans += ss->n_spans;
            for (size_t k = 0; id >= 0 && k < ss->n_spans; k++)
                if (span_valid(ss->spans[k]) &&
                    correct_span(c, ss->spans[k], id) < 0)
                    return -1;
        }
    }
    return 0;
}

/* ---- protobuf output -------------------------------------------------- */

static int write_proto(struct corrector *c, const Request *msg)
{
    size_t size =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            msg);
    uint8_t prefix[10];
    size_t k = otlp_proto_put_varint(prefix, size);

    if (size > c->cap) {
        uint8_t *nb = realloc(c->buf, size);
        if (!nb)
            return -INGEST_E_NOMEM;
        c->buf = nb;
        c->cap = size;
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        msg, c->buf);
    if (fwrite(prefix, 1, k, c->out) != k ||
        (size && fwrite(c->buf, 1, size, c->out) != size))
        return -INGEST_E_NOINPUT;
    return 0;
}

/* ---- OTLP/JSON output ------------------------------------------------- */
/* proto3 JSON mapping as OTLP specifies it: lowerCamelCase names, trace and
 * span IDs as hex, 64-bit integers as decimal strings, enums as integers;
 * fields at their default value are left out. Every builder returns a new
 * reference or NULL when out of memory. */

static bool put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static bool push(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}

/* A JSON string; bytes that are not UTF-8 become '?'. */
static json_t *jstr(const char *s)
{
    json_t *v = json_string(s);

    if (v || !s)
        return v;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/* v in decimal at the end of buf[24], NUL-terminated; returns its start
 * (no snprintf: three of these and three IDs per span). */
static char *udec(char buf[24], uint64_t v)
{
    char *p = buf + 23;

    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

static json_t *jdec(int64_t v)
{
    char buf[24], *p = udec(buf, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);

    if (v < 0)
        *--p = '-';
    return json_string(p);
}

static json_t *judec(uint64_t v)
{
    char buf[24];

    return json_string(udec(buf, v));
}

static json_t *jhex(const ProtobufCBinaryData *b)
{
    static const char digits[] = "0123456789abcdef";
    char small[65], *s = b->len <= 32 ? small : malloc(b->len * 2 + 1);
    json_t *v;

    if (!s)
        return NULL;
    for (size_t i = 0; i < b->len; i++) {
        s[2 * i] = digits[b->data[i] >> 4];
        s[2 * i + 1] = digits[b->data[i] & 15];
    }
    s[b->len * 2] = '\0';
    v = json_string(s);
    if (s != small)
        free(s);
    return v;
}

static json_t *jbase64(const ProtobufCBinaryData *b)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc((b->len + 2) / 3 * 4 + 1), *o = s;
    json_t *v;

    if (!s)
        return NULL;
    for (size_t i = 0; i < b->len; i += 3) {
        uint32_t x = (uint32_t)b->data[i] << 16;
        size_t left = b->len - i;
        if (left > 1)
            x |= (uint32_t)b->data[i + 1] << 8;
        if (left > 2)
            x |= b->data[i + 2];
        *o++ = tab[x >> 18 & 63];
        *o++ = tab[x >> 12 & 63];
        *o++ = left > 1 ? tab[x >> 6 & 63] : '=';
        *o++ = left > 2 ? tab[x & 63] : '=';
    }
    *o = '\0';
    v = json_string(s);
    free(s);
    return v;
}

static json_t *jdouble(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

static json_t *json_kvs(KeyValue *const *kvs, size_t n);

static json_t *json_any_array(const AnyValue *v);

static json_t *json_any(const AnyValue *v)
{
    json_t *o = json_object();
    bool ok = o != NULL;

    if (!ok || !v)
        return o;
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        ok = put(o, "stringValue", jstr(v->string_value));
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        ok = put(o, "boolValue", json_boolean(v->bool_value));
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        ok = put(o, "intValue", jdec(v->int_value));
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        ok = put(o, "doubleValue", jdouble(v->double_value));
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        ok = put(o, "arrayValue", json_any_array(v));
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE: {
        json_t *l = json_object();
        ok = put(o, "kvlistValue", l) &&
             put(l, "values",
                 json_kvs(v->kvlist_value->values, v->kvlist_value->n_values));
        break;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        ok = put(o, "bytesValue", jbase64(&v->bytes_value));
        break;
    default:
        break;
    }
    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_any_array(const AnyValue *v)
{
    json_t *o = json_object(), *a = json_array();
    bool ok = put(o, "values", a);

    for (size_t i = 0; ok && i < v->array_value->n_values; i++)
        ok = push(a, json_any(v->array_value->values[i]));
    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_kvs(KeyValue *const *kvs, size_t n)
{
    json_t *a = json_array();
    bool ok = a != NULL;

    for (size_t i = 0; ok && i < n; i++) {
        json_t *kv = json_object();
        ok = push(a, kv) && put(kv, "key", jstr(kvs[i]->key)) &&
             put(kv, "value", json_any(kvs[i]->value));
    }
    if (!ok)
        json_decref(a);
    return ok ? a : NULL;
}

/* The attributes and droppedAttributesCount of obj. */
static bool put_attrs(json_t *obj, KeyValue *const *kvs, size_t n,
                      uint32_t dropped)
{
    if (n && !put(obj, "attributes", json_kvs(kvs, n)))
        return false;
    return !dropped ||
           put(obj, "droppedAttributesCount", json_integer(dropped));
}

static bool put_str(json_t *obj, const char *key, const char *s)
{
    return !s || !*s || put(obj, key, jstr(s));
}

static json_t *json_event(const Event *ev)
{
    json_t *o = json_object();
    bool ok = put(o, "timeUnixNano", judec(ev->time_unix_nano)) &&
              put_str(o, "name", ev->name) &&
              put_attrs(o, ev->attributes, ev->n_attributes,
                        ev->dropped_attributes_count);

    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_link(const Link *l)
{
    json_t *o = json_object();
    bool ok = put(o, "traceId", jhex(&l->trace_id)) &&
              put(o, "spanId", jhex(&l->span_id)) &&
              put_str(o, "traceState", l->trace_state) &&
              put_attrs(o, l->attributes, l->n_attributes,
                        l->dropped_attributes_count) &&
              (!l->flags || put(o, "flags", json_integer(l->flags)));

    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_status(const Opentelemetry__Proto__Trace__V1__Status *st)
{
    json_t *o = json_object();
    bool ok = put_str(o, "message", st->message) &&
              (!st->code || put(o, "code", json_integer(st->code)));

    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

/* Span fields that are lists (events, links) and the status. */
static bool put_span_lists(json_t *o, const Span *sp)
{
    json_t *a;
    bool ok = true;

    if (sp->n_events) {
        ok = put(o, "events", a = json_array());
        for (size_t i = 0; ok && i < sp->n_events; i++)
            ok = push(a, json_event(sp->events[i]));
    }
    if (ok && sp->dropped_events_count)
        ok = put(o, "droppedEventsCount",
                 json_integer(sp->dropped_events_count));
    if (ok && sp->n_links) {
        ok = put(o, "links", a = json_array());
        for (size_t i = 0; ok && i < sp->n_links; i++)
            ok = push(a, json_link(sp->links[i]));
    }
    if (ok && sp->dropped_links_count)
        ok = put(o, "droppedLinksCount", json_integer(sp->dropped_links_count));
    if (ok && sp->status)
        ok = put(o, "status", json_status(sp->status));
    return ok;
}

static json_t *json_span(const Span *sp)
{
    json_t *o = json_object();
    bool ok = put(o, "traceId", jhex(&sp->trace_id)) &&
              put(o, "spanId", jhex(&sp->span_id)) &&
              put_str(o, "traceState", sp->trace_state) &&
              (!sp->parent_span_id.len ||
               put(o, "parentSpanId", jhex(&sp->parent_span_id))) &&
              (!sp->flags || put(o, "flags", json_integer(sp->flags))) &&
              put(o, "name", jstr(sp->name)) &&
              put(o, "kind", json_integer(sp->kind)) &&
              put(o, "startTimeUnixNano", judec(sp->start_time_unix_nano)) &&
              put(o, "endTimeUnixNano", judec(sp->end_time_unix_nano)) &&
              put_attrs(o, sp->attributes, sp->n_attributes,
                        sp->dropped_attributes_count) &&
              put_span_lists(o, sp);

    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *
json_scope(const Opentelemetry__Proto__Common__V1__InstrumentationScope *sc)
{
    json_t *o = json_object();
    bool ok = put_str(o, "name", sc->name) &&
              put_str(o, "version", sc->version) &&
              put_attrs(o, sc->attributes, sc->n_attributes,
                        sc->dropped_attributes_count);

    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_strings(char *const *s, size_t n)
{
    json_t *a = json_array();
    bool ok = a != NULL;

    for (size_t i = 0; ok && i < n; i++)
        ok = push(a, jstr(s[i]));
    if (!ok)
        json_decref(a);
    return ok ? a : NULL;
}

static json_t *
json_resource(const Opentelemetry__Proto__Resource__V1__Resource *r)
{
    json_t *o = json_object(), *a;
    bool ok = put_attrs(o, r->attributes, r->n_attributes,
                        r->dropped_attributes_count);

    if (ok && r->n_entity_refs) {
        ok = put(o, "entityRefs", a = json_array());
        for (size_t i = 0; ok && i < r->n_entity_refs; i++) {
            const Opentelemetry__Proto__Common__V1__EntityRef *e =
                r->entity_refs[i];
            json_t *eo = json_object();
            ok = push(a, eo) && put_str(eo, "schemaUrl", e->schema_url) &&
                 put_str(eo, "type", e->type) &&
                 put(eo, "idKeys", json_strings(e->id_keys, e->n_id_keys)) &&
                 put(eo, "descriptionKeys",
                     json_strings(e->description_keys, e->n_description_keys));
        }
    }
    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_scope_spans(const ScopeSpans *ss)
{
    json_t *o = json_object(), *a = json_array();
    bool ok = (!ss->scope || put(o, "scope", json_scope(ss->scope))) &&
              put(o, "spans", a) && put_str(o, "schemaUrl", ss->schema_url);

    if (!ok && a && !json_object_get(o, "spans"))
        json_decref(a);
    for (size_t i = 0; ok && i < ss->n_spans; i++)
        ok = push(a, json_span(ss->spans[i]));
    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_resource_spans(const ResourceSpans *rs)
{
    json_t *o = json_object(), *a = json_array();
    bool ok =
        (!rs->resource || put(o, "resource", json_resource(rs->resource))) &&
        put(o, "scopeSpans", a) && put_str(o, "schemaUrl", rs->schema_url);

    if (!ok && a && !json_object_get(o, "scopeSpans"))
        json_decref(a);
    for (size_t i = 0; ok && i < rs->n_scope_spans; i++)
        ok = push(a, json_scope_spans(rs->scope_spans[i]));
    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_request(const Request *msg)
{
    json_t *o = json_object(), *a = json_array();
    bool ok = put(o, "resourceSpans", a);

    if (!ok && a)
        json_decref(a);
    for (size_t i = 0; ok && i < msg->n_resource_spans; i++)
        ok = push(a, json_resource_spans(msg->resource_spans[i]));
    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

/* json_dump_callback()'s sink: the text gathered in memory (jansson
 * writes token by token; one stdio call per token cost more than the
 * conversion). */
static int dump_to(const char *p, size_t n, void *data)
{
    struct correct_wire_out *b = data;

    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 65536;
        uint8_t *np;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        if (!(np = realloc(b->p, cap)))
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int write_json(struct corrector *c, const Request *msg)
{
    json_t *doc = json_request(msg);
    int rc = 0;

    if (!doc)
        return -INGEST_E_NOMEM;
    c->wbuf.len = 0;
    if (json_dump_callback(doc, dump_to, &c->wbuf,
                           JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
        dump_to("\n", 1, &c->wbuf) != 0)
        rc = -INGEST_E_NOMEM;
    else if (fwrite(c->wbuf.p, 1, c->wbuf.len, c->out) != c->wbuf.len)
        rc = -INGEST_E_NOINPUT;
    json_decref(doc);
    return rc;
}

/* ---- driver ----------------------------------------------------------- */

static int output_error(struct source *src, int rc, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", source_name(src),
             rc == -INGEST_E_NOMEM ? "out of memory"
                                   : "cannot write the corrected output");
    return rc;
}

/* Write out what the wire path gathered in c->wbuf. */
static int wire_flush(struct corrector *c, struct source *src, char *err,
                      size_t errlen)
{
    size_t n = c->wbuf.len;

    c->wbuf.len = 0;
    if (n && fwrite(c->wbuf.p, 1, n, c->out) != n)
        return output_error(src, -INGEST_E_NOINPUT, err, errlen);
    return 0;
}

/* n bytes at p (part of the message at input offset off, in the frame at
 * frame_off) corrected on the wire and written length-delimited. Messages
 * are gathered and written WIRE_FLUSH bytes at a time: two stdio calls
 * per message (its prefix, then the message, which passes stdio's buffer)
 * cost as much as the rewriting for messages of a few KiB. */
#define WIRE_FLUSH ((size_t)256 << 10)
static int wire_chunk(struct corrector *c, struct source *src, const uint8_t *p,
                      size_t n, uint64_t off, uint64_t frame_off, char *err,
                      size_t errlen)
{
    static const char room[10];
    const struct correct_wire_at at = {source_name(src), off, frame_off};
    size_t start = c->wbuf.len, len, k;
    uint8_t prefix[10];
    int rc;

    /* An empty message (a zero-length frame) carries nothing: writing it
     * would turn a run of zero bytes into as many messages. */
    if (n == 0)
        return 0;
    /* The message goes after room for its prefix, then moves up to it. */
    if (dump_to(room, sizeof(room), &c->wbuf) < 0)
        return output_error(src, -INGEST_E_NOMEM, err, errlen);
    rc = correct_wire_request(p, n, &at, c->model, c->opts->clock_domain_attr,
                              &c->wbuf, c->stats, err, errlen);
    if (rc < 0)
        return rc;
    len = c->wbuf.len - start - sizeof(room);
    k = otlp_proto_put_varint(prefix, len);
    memmove(c->wbuf.p + start + k, c->wbuf.p + start + sizeof(room), len);
    memcpy(c->wbuf.p + start, prefix, k);
    c->wbuf.len = start + k + len;
    c->written++;
    return c->wbuf.len >= WIRE_FLUSH ? wire_flush(c, src, err, errlen) : 0;
}

/* Decode n bytes at p (part of the message at input offset off, in the
 * frame at frame_off), correct and write them. */
static int correct_chunk(struct corrector *c, struct source *src,
                         const uint8_t *p, size_t n, uint64_t off,
                         uint64_t frame_off, char *err, size_t errlen)
{
    Request *msg;
    int rc;

    if (c->wire)
        return wire_chunk(c, src, p, n, off, frame_off, err, errlen);
    msg = otlp_proto_request_unpack(c->arena, p, n);

    if (!msg) {
        snprintf(err, errlen,
                 "%s: byte %" PRIu64 ": expected an ExportTraceServiceRequest "
                 "message of %zu bytes; it does not parse",
                 source_name(src), off, n);
        return -INGEST_E_MALFORMED;
    }
    /* An empty message (a zero-length frame) carries nothing: writing it
     * would turn a run of zero bytes into as many empty documents. */
    if (msg->n_resource_spans == 0 && msg->base.n_unknown_fields == 0)
        return 0;
    if (correct_message(c, msg) < 0)
        rc = -INGEST_E_NOMEM;
    else
        rc = c->json ? write_json(c, msg) : write_proto(c, msg);
    if (rc < 0)
        return output_error(src, rc, err, errlen);
    c->written++;
    return 0;
}

/* End of the top-level field at p (before end), or NULL when it is not
 * well-formed wire data of a supported wire type. */
static const uint8_t *field_end(const uint8_t *p, const uint8_t *end)
{
    uint64_t tag, v;

    if (wire_varint(&p, end, &tag) < 0)
        return NULL;
    switch (tag & 7) {
    case WT_VARINT:
        return wire_varint(&p, end, &v) < 0 ? NULL : p;
    case WT_I64:
        return end - p >= 8 ? p + 8 : NULL;
    case WT_I32:
        return end - p >= 4 ? p + 4 : NULL;
    case WT_LEN:
        if (wire_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
            return NULL;
        return p + v;
    default:
        return NULL;
    }
}

static int too_large(struct source *src, uint64_t off, size_t n,
                     const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "%s: byte %" PRIu64 ": %s of %zu bytes is larger than %zu bytes, "
             "the most that is held in memory at once (correct rewrites one "
             "ResourceSpans at a time; --max-element raises the limit)",
             source_name(src), off, what, n, correct_max_element);
    return -INGEST_E_MALFORMED;
}

/* One message of the input (n bytes at p, at input offset off). Up to
 * correct_json_split_max (the size beyond which JSON documents are cut too)
 * it is decoded whole; a larger one is decoded and written in chunks of
 * whole top-level fields (ResourceSpans: protobuf concatenates repeated
 * fields, so each chunk is a request of its own), so that memory stays
 * bounded by the largest ResourceSpans, which correct_max_element bounds. */

static int correct_frame(struct corrector *c, struct source *src,
                         const uint8_t *p, size_t n, uint64_t off,
                         uint64_t frame_off, char *err, size_t errlen)
{
    const uint8_t *end = p + n, *chunk = p, *q = p, *next;
    int rc;

    if (n <= correct_json_split_max && n <= correct_max_element)
        return correct_chunk(c, src, p, n, off, frame_off, err, errlen);
    for (; q < end; q = next) {
        if (!(next = field_end(q, end)))
            break; /* not walkable: protobuf-c decides, on the whole */
        if ((size_t)(next - q) > correct_max_element)
            return too_large(src, off + (uint64_t)(q - p), (size_t)(next - q),
                             "one ResourceSpans", err, errlen);
        if ((size_t)(next - chunk) > correct_json_split_max && q > chunk) {
            rc = correct_chunk(c, src, chunk, (size_t)(q - chunk),
                               off + (uint64_t)(chunk - p), frame_off, err,
                               errlen);
            if (rc < 0)
                return rc;
            chunk = q;
        }
    }
    if (q < end && (size_t)(end - chunk) > correct_max_element)
        return too_large(src, off + (uint64_t)(chunk - p),
                         (size_t)(end - chunk), "a message", err, errlen);
    return correct_chunk(c, src, chunk, (size_t)(end - chunk),
                         off + (uint64_t)(chunk - p), frame_off, err, errlen);
}

static int run(struct source *src, const struct correct_opts *opts,
               const struct clock_model *model, FILE *out,
               struct correct_stats *stats, char *err, size_t errlen, bool wire)
{
    struct corrector c = {.opts = opts,
                          .model = model,
                          .stats = stats,
                          .out = out,
                          .json = opts->out_format == TRACE_FORMAT_OTLP_JSON};
    struct otlp_proto_stream *st;
    const uint8_t *data;
    uint64_t off;
    size_t len;
    int rc;

    memset(stats, 0, sizeof(*stats));
    if (!c.json && opts->out_format != TRACE_FORMAT_OTLP_PROTO &&
        opts->out_format != TRACE_FORMAT_AUTO) {
        snprintf(err, errlen,
                 "%s: OTLP protobuf input can be corrected into "
                 "otlp-proto or otlp-json only",
                 source_name(src));
        return CORRECT_E_FORMAT;
    }
    c.wire = wire && !c.json;
    st = otlp_proto_stream_open(src);
    c.arena = otlp_arena_create();
    if (!st || !c.arena) {
        rc = output_error(src, -INGEST_E_NOMEM, err, errlen);
        goto out;
    }
    while ((rc = otlp_proto_stream_next_raw(st, &data, &len, &off, err,
                                            errlen)) > 0 &&
           (rc = correct_frame(&c, src, data, len, off,
                               otlp_proto_stream_offset(st), err, errlen)) == 0)
        ;
    if (rc == 0 && c.wire)
        rc = wire_flush(&c, src, err, errlen);
    /* Nothing written: JSON still gets a document; zero protobuf messages
     * are a valid (empty) output. */
    if (rc == 0 && c.written == 0 && c.json &&
        fputs("{\"resourceSpans\":[]}\n", out) == EOF)
        rc = output_error(src, -INGEST_E_NOINPUT, err, errlen);
    if (rc == 0 && fflush(out) != 0)
        rc = output_error(src, -INGEST_E_NOINPUT, err, errlen);
out:
    otlp_proto_stream_close(st);
    otlp_arena_destroy(c.arena);
    free(c.buf);
    free(c.wbuf.p);
    return rc;
}

static int wire_run(struct source *src, const struct correct_opts *opts,
                    const struct clock_model *model, FILE *out,
                    struct correct_stats *stats, char *err, size_t errlen)
{
    return run(src, opts, model, out, stats, err, errlen, true);
}

static int dom_run(struct source *src, const struct correct_opts *opts,
                   const struct clock_model *model, FILE *out,
                   struct correct_stats *stats, char *err, size_t errlen)
{
    return run(src, opts, model, out, stats, err, errlen, false);
}

const struct correct_ops correct_otlp_proto_ops = {
    .in_format = TRACE_FORMAT_OTLP_PROTO,
    .run = wire_run,
};

const struct correct_ops correct_otlp_proto_dom_ops = {
    .in_format = TRACE_FORMAT_OTLP_PROTO,
    .run = dom_run,
};
