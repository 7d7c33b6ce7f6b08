/* bench_rewrite: spans/s of rewrite_otlp_proto() (output/rewrite.h) on a
 * generated ExportTraceServiceRequest, next to protobuf-c decoding and
 * re-encoding the same body (what a rewriter built on unpack + pack would
 * cost at the least, before changing anything).
 *
 *   bench_rewrite [SPANS [ITERATIONS]]     defaults: 1000 spans, 2000
 *
 * The body: 10 resources (host.name node-0..9, 6 attributes each) of
 * SPANS / 10 spans, each with IDs, a name, kind, times, 6 attributes, a
 * status and, on every 4th span, an event. Prints one line per case:
 *   corrected   every domain in the model (all spans change)
 *   unchanged   no domain in the model (spans copied through)
 *   protobuf-c  otlp_proto_request_unpack() (arena) + pack */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/otlp_proto.h"
#include "model/clock_model.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/correct.h"
#include "output/rewrite.h"
#include "bench_util.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define NRES 10
#define T0 INT64_C(1790000000000000000)

static struct otlp_arena *arena;

static void *alloc0(size_t n)
{
    void *p = otlp_arena_alloc(arena, n);

    if (!p) {
        fprintf(stderr, "bench_rewrite: out of memory\n");
        exit(1);
    }
    memset(p, 0, n);
    return p;
}

static KeyValue *kv_str(const char *key, const char *val)
{
    KeyValue *kv = alloc0(sizeof(*kv));
    AnyValue *v = alloc0(sizeof(*v));

    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    kv->value = v;
    v->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)val;
    return kv;
}

static KeyValue *kv_int(const char *key, int64_t val)
{
    KeyValue *kv = kv_str(key, "");

    kv->value->value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    kv->value->int_value = val;
    return kv;
}

static uint8_t *id_bytes(uint64_t seed, size_t n)
{
    uint8_t *p = alloc0(n);

    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = (uint8_t)(seed >> 56);
    }
    return p;
}

static Span *make_span(unsigned r, unsigned i)
{
    Span *sp = alloc0(sizeof(*sp));
    Status *st = alloc0(sizeof(*st));
    uint64_t start = (uint64_t)T0 + (uint64_t)i * 1000000;

    opentelemetry__proto__trace__v1__span__init(sp);
    opentelemetry__proto__trace__v1__status__init(st);
    sp->trace_id = (ProtobufCBinaryData){16, id_bytes(i / 8 + 1, 16)};
    sp->span_id = (ProtobufCBinaryData){8, id_bytes(r * 100000 + i + 7, 8)};
    if (i % 8)
        sp->parent_span_id =
            (ProtobufCBinaryData){8, id_bytes(r * 100000 + i + 6, 8)};
    sp->name = "GET /api/v1/items/{id}";
    sp->kind =
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    sp->start_time_unix_nano = start;
    sp->end_time_unix_nano = start + 250000 + i % 1000;
    sp->n_attributes = 6;
    sp->attributes = alloc0(6 * sizeof(KeyValue *));
    sp->attributes[0] = kv_str("http.method", "GET");
    sp->attributes[1] = kv_str("http.url", "https://shop.example.com/api/v1/"
                                           "items/12345?fields=all");
    sp->attributes[2] = kv_int("http.status_code", 200);
    sp->attributes[3] = kv_str("net.peer.name", "10.1.2.3");
    sp->attributes[4] = kv_str("rpc.system", "grpc");
    sp->attributes[5] = kv_int("thread.id", 42 + i % 7);
    st->code =
        OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_OK;
    sp->status = st;
    if (i % 4 == 0) {
        Event *ev = alloc0(sizeof(*ev));
        opentelemetry__proto__trace__v1__span__event__init(ev);
        ev->name = "cache.miss";
        ev->time_unix_nano = start + 1000;
        ev->n_attributes = 1;
        ev->attributes = alloc0(sizeof(KeyValue *));
        ev->attributes[0] = kv_str("cache.key", "items:12345");
        sp->n_events = 1;
        sp->events = alloc0(sizeof(Event *));
        sp->events[0] = ev;
    }
    return sp;
}

static const char *const HOSTS[NRES] = {"node-0", "node-1", "node-2", "node-3",
                                        "node-4", "node-5", "node-6", "node-7",
                                        "node-8", "node-9"};

static ResourceSpans *make_rs(unsigned r, unsigned nspans)
{
    ResourceSpans *rs = alloc0(sizeof(*rs));
    Resource *res = alloc0(sizeof(*res));
    ScopeSpans *ss = alloc0(sizeof(*ss));
    Scope *sc = alloc0(sizeof(*sc));

    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    opentelemetry__proto__resource__v1__resource__init(res);
    opentelemetry__proto__trace__v1__scope_spans__init(ss);
    opentelemetry__proto__common__v1__instrumentation_scope__init(sc);
    res->n_attributes = 6;
    res->attributes = alloc0(6 * sizeof(KeyValue *));
    res->attributes[0] = kv_str("service.name", "checkout");
    res->attributes[1] = kv_str("service.version", "1.4.2");
    res->attributes[2] = kv_str("host.name", HOSTS[r]);
    res->attributes[3] = kv_str("telemetry.sdk.name", "opentelemetry");
    res->attributes[4] = kv_str("telemetry.sdk.language", "go");
    res->attributes[5] = kv_str("telemetry.sdk.version", "1.24.0");
    sc->name = "net/http";
    sc->version = "0.49.0";
    ss->scope = sc;
    ss->n_spans = nspans;
    ss->spans = alloc0(nspans * sizeof(Span *));
    for (unsigned i = 0; i < nspans; i++)
        ss->spans[i] = make_span(r, i);
    rs->resource = res;
    rs->n_scope_spans = 1;
    rs->scope_spans = alloc0(sizeof(ScopeSpans *));
    rs->scope_spans[0] = ss;
    return rs;
}

static uint8_t *make_body(unsigned nspans, size_t *len)
{
    Request req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    uint8_t *body;

    req.n_resource_spans = NRES;
    req.resource_spans = alloc0(NRES * sizeof(ResourceSpans *));
    for (unsigned r = 0; r < NRES; r++)
        req.resource_spans[r] = make_rs(r, nspans / NRES);
    *len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    body = malloc(*len);
    if (!body)
        exit(1);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        &req, body);
    return body;
}

static void report(const char *what, size_t spans, double secs, size_t in,
                   size_t out, unsigned iters)
{
    printf("%-11s %8zu spans  %7.3f s  %10.0f spans/s  %7.1f MB/s in  "
           "body %zu -> %zu bytes\n",
           what, spans, secs, (double)spans / secs,
           (double)in * iters / secs / 1e6, in, out);
}

static int bench_rewrite(const char *what, const uint8_t *body, size_t len,
                         const struct clock_model *m, unsigned iters)
{
    struct correct_stats st = {0, 0};
    size_t outlen = 0;
    char err[256];
    double t0 = clock_now_s(CLOCK_MONOTONIC);

    for (unsigned i = 0; i < iters; i++) {
        uint8_t *out;
        if (rewrite_otlp_proto(body, len, m, NULL, &out, &outlen, &st, err,
                               sizeof(err)) != 0) {
            fprintf(stderr, "bench_rewrite: %s\n", err);
            return -1;
        }
        free(out);
    }
    report(what, st.spans, clock_now_s(CLOCK_MONOTONIC) - t0, len, outlen,
           iters);
    return 0;
}

static int bench_protobuf_c(const uint8_t *body, size_t len, unsigned nspans,
                            unsigned iters)
{
    struct otlp_arena *a = otlp_arena_create();
    uint8_t *out = malloc(2 * len + 64);
    size_t outlen = 0;
    double t0 = clock_now_s(CLOCK_MONOTONIC);

    if (!a || !out)
        return -1;
    for (unsigned i = 0; i < iters; i++) {
        Request *msg = otlp_proto_request_unpack(a, body, len);
        if (!msg)
            return -1;
        outlen =
            opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
                msg, out);
    }
    report("protobuf-c", (size_t)nspans * iters,
           clock_now_s(CLOCK_MONOTONIC) - t0, len, outlen, iters);
    otlp_arena_destroy(a);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned nspans = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000;
    unsigned iters = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2000;
    struct clock_model *all = clock_model_create(),
                       *none = clock_model_create();
    size_t len;
    int rc = 0;

    arena = otlp_arena_create();
    if (!all || !none || !arena || nspans < NRES || iters == 0)
        return 2;
    nspans -= nspans % NRES;
    for (unsigned r = 0; r < NRES; r++)
        if (clock_model_set(all, HOSTS[r], 1000 * (int64_t)r + 5, 2.5 * r, T0) <
            0)
            return 1;
    uint8_t *body = make_body(nspans, &len);

    printf("body: %u spans in %zu bytes, %u iterations\n", nspans, len, iters);
    rc |= bench_rewrite("corrected", body, len, all, iters);
    rc |= bench_rewrite("unchanged", body, len, none, iters);
    rc |= bench_protobuf_c(body, len, nspans, iters);
    free(body);
    otlp_arena_destroy(arena);
    clock_model_destroy(all);
    clock_model_destroy(none);
    return rc ? 1 : 0;
}
