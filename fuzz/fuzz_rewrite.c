/* libFuzzer target for serve/rewrite's protobuf path: the input is one
 * ExportTraceServiceRequest body, rewritten with a fixed clock model
 * (offsets, drift, a known domain that maps to itself, and "unknown").
 * Whatever the bytes, the rewriter must not crash and must return 0 or -1
 * with "request body: byte N: ...". When protobuf-c (behind the nesting
 * guard the readers use) decodes the input:
 *   - the rewriter must accept it, and its output must decode too, with
 *     as many spans (also in the stats);
 *   - when every time lies within +-2^62 ns (beyond, the rewriter leaves
 *     times alone on purpose), the output must be what `correct` writes
 *     for the same message (correct_otlp_proto_ops over a memory source),
 *     compared as protobuf-c re-encodes both. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/source.h"
#include "model/clock_domain.h"
#include "model/clock_model.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/correct.h"
#include "serve/rewrite.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;

#define T0 INT64_C(1790000000000000000)
#define TIME_LIMIT (INT64_C(1) << 62)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct clock_model *fuzz_model(void)
{
    struct clock_model *m = clock_model_create();

    if (!m || clock_model_set(m, "a", 5000000, 10.0, T0) < 0 ||
        clock_model_set(m, "s", -7, 0.5, 0) < 0 ||
        clock_model_set(m, "same", 0, 0.0, 0) < 0 ||
        clock_model_set(m, CLOCK_DOMAIN_UNKNOWN, 1000, 0.0, 0) < 0)
        abort();
    return m;
}

static bool time_ok(uint64_t t)
{
    return (int64_t)t <= TIME_LIMIT && (int64_t)t >= -TIME_LIMIT;
}

/* Spans of msg; *sane is cleared when a time lies beyond +-2^62. */
static size_t scan_spans(const Request *msg, bool *sane)
{
    size_t n = 0;

    for (size_t r = 0; r < msg->n_resource_spans; r++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs =
            msg->resource_spans[r];
        for (size_t s = 0; s < rs->n_scope_spans; s++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
                rs->scope_spans[s];
            n += ss->n_spans;
            for (size_t k = 0; k < ss->n_spans; k++) {
                const Opentelemetry__Proto__Trace__V1__Span *sp = ss->spans[k];
                *sane = *sane && time_ok(sp->start_time_unix_nano) &&
                        time_ok(sp->end_time_unix_nano);
                for (size_t e = 0; e < sp->n_events; e++)
                    *sane = *sane && time_ok(sp->events[e]->time_unix_nano);
            }
        }
    }
    return n;
}

/* protobuf-c's encoding of msg (malloc'd, *len bytes). */
static uint8_t *repack(const Request *msg, size_t *len)
{
    const ProtobufCMessage *m = &msg->base;
    uint8_t *p;

    *len = protobuf_c_message_get_packed_size(m);
    p = malloc(*len + 1);
    if (!p)
        abort();
    protobuf_c_message_pack(m, p);
    return p;
}

/* What correct writes for the message: the input is a message of one
 * empty ResourceSpans and then this one, length-delimited (a first message
 * with unknown fields would make the stream try the whole input as one
 * plain message; an empty one is written with fwrite(NULL, 1, 0, ...),
 * which UBSan refuses).
 * *out (malloc'd) is correct's second message, without its prefix. */
static void run_correct(const struct clock_model *model, const uint8_t *data,
                        size_t size, uint8_t **out, size_t *outlen)
{
    struct correct_opts opts = {TRACE_FORMAT_OTLP_PROTO,
                                TRACE_FORMAT_OTLP_PROTO, NULL};
    struct correct_stats st;
    uint8_t *in = malloc(size + 13);
    char *buf = NULL, err[512];
    size_t n = 0, k;
    struct source *src;
    FILE *f;

    if (!in)
        abort();
    memcpy(in, "\x02\x0a\x00", 3);
    k = 3 + otlp_proto_put_varint(in + 3, size);
    memcpy(in + k, data, size);
    src = source_open_memory(in, k + size, "fuzz", err, sizeof(err));
    f = open_memstream(&buf, &n);
    if (!src || !f)
        abort();
    if (correct_otlp_proto_ops.run(src, &opts, model, f, &st, err,
                                   sizeof(err)) != 0) {
        fprintf(stderr, "correct refused: %s\n", err);
        abort();
    }
    fclose(f);
    source_close(src);
    free(in);
    if (n < 4 || memcmp(buf, "\x02\x0a\x00", 3) != 0)
        abort();
    for (k = 3; k < n && ((uint8_t)buf[k] & 0x80); k++)
        ;
    if (k >= n)
        abort();
    *outlen = n - k - 1;
    *out = malloc(*outlen + 1);
    if (!*out)
        abort();
    memcpy(*out, buf + k + 1, *outlen);
    free(buf);
}

/* The rewriter's output equals correct's, once protobuf-c re-encodes
 * both. */
static void compare_with_correct(const struct clock_model *model,
                                 struct otlp_arena *arena, const uint8_t *data,
                                 size_t size, const Request *got)
{
    uint8_t *want_bytes, *a, *b;
    size_t want_len, alen, blen;
    const Request *want;

    run_correct(model, data, size, &want_bytes, &want_len);
    want = otlp_proto_request_unpack(arena, want_bytes, want_len);
    if (!want) {
        /* protobuf-c reads a field number 0 in a 2-byte tag ("80 00") but
         * writes it back as "00", which it refuses: nothing to compare. */
        free(want_bytes);
        return;
    }
    a = repack(got, &alen);
    b = repack(want, &blen);
    if (alen != blen || memcmp(a, b, alen) != 0) {
        fprintf(stderr, "rewrite and correct differ (%zu and %zu bytes)\n",
                alen, blen);
        abort();
    }
    free(a);
    free(b);
    free(want_bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct clock_model *model;
    static struct otlp_arena *in_arena, *out_arena, *ref_arena;
    struct correct_stats st = {0, 0};
    uint8_t *out = NULL;
    size_t outlen = 0;
    char err[512];
    bool sane = true;

    if (!model) {
        model = fuzz_model();
        in_arena = otlp_arena_create();
        out_arena = otlp_arena_create();
        ref_arena = otlp_arena_create();
        if (!in_arena || !out_arena || !ref_arena)
            abort();
    }
    int rc = rewrite_otlp_proto(data, size, model, NULL, &out, &outlen, &st,
                                err, sizeof(err));
    if (rc == -1 && strncmp(err, "request body: byte ", 19) != 0)
        abort();
    if (rc != 0 && rc != -1 && rc != -2)
        abort();
    if (rc != 0 && out)
        abort();
    const Request *in = otlp_proto_request_unpack(in_arena, data, size);
    if (in) {
        if (rc != 0) {
            fprintf(stderr, "refused what protobuf-c decodes: %s\n", err);
            abort();
        }
        const Request *got = otlp_proto_request_unpack(out_arena, out, outlen);
        if (!got)
            abort();
        size_t n = scan_spans(in, &sane);
        bool unused = true;
        if (scan_spans(got, &unused) != n || st.spans != n)
            abort();
        if (sane)
            compare_with_correct(model, ref_arena, data, size, got);
    }
    free(out);
    return 0;
}
