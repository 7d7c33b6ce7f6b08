/* libFuzzer target for the protobuf rewriter (output/correct_wire.c, which
 * `correct` and serve's forwarding use, here through rewrite_otlp_proto()):
 * the input is one ExportTraceServiceRequest body, rewritten with a fixed
 * clock model (offsets, drift, a known domain that maps to itself, and
 * "unknown"). Whatever the bytes, the rewriter must not crash and must
 * return 0 or -1 with "request body: byte N: ...". When the readers' wire
 * scanner (otlp_wire.c, the same walker) accepts the input and protobuf-c
 * (behind the nesting guard the readers use) decodes it:
 *   - the rewriter must accept it, and its output must decode too, with
 *     as many spans (also in the stats), and the scanner must accept the
 *     output;
 *   - the output must be what `correct` writes for the same message on
 *     protobuf-c's path (correct_otlp_proto_dom_ops over a memory source:
 *     decode, correct, encode), compared as protobuf-c re-encodes both. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/otlp_wire.h"
#include "ingest/source.h"
#include "model/clock_domain.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/correct.h"
#include "output/rewrite.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;

#define T0 INT64_C(1790000000000000000)

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

/* Spans of msg. */
static size_t scan_spans(const Request *msg)
{
    size_t n = 0;

    for (size_t r = 0; r < msg->n_resource_spans; r++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs =
            msg->resource_spans[r];
        for (size_t s = 0; s < rs->n_scope_spans; s++)
            n += rs->scope_spans[s]->n_spans;
    }
    return n;
}

/* Whether the readers' scanner accepts the n bytes at p. */
static bool readers_accept(const uint8_t *p, size_t n)
{
    struct span_store *st = span_store_create();
    struct otlp_wire *w = otlp_wire_create(st, NULL, "fuzz");
    char err[512];
    bool ok;

    if (!st || !w)
        abort();
    ok = otlp_wire_scan(w, p, n, 0, 0, err, sizeof(err)) == 0;
    otlp_wire_destroy(w);
    span_store_destroy(st);
    return ok;
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

/* What correct's protobuf-c path writes for the message: the input is a
 * message of one empty ResourceSpans and then this one, length-delimited
 * (a first message with unknown fields would make the stream try the
 * whole input as one plain message; an empty one is written with
 * fwrite(NULL, 1, 0, ...), which UBSan refuses).
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
    if (correct_otlp_proto_dom_ops.run(src, &opts, model, f, &st, err,
                                       sizeof(err)) != 0) {
        fprintf(stderr, "correct refused: %s\n", err);
        abort();
    }
    fclose(f);
    source_close(src);
    free(in);
    if (n < 3 || memcmp(buf, "\x02\x0a\x00", 3) != 0)
        abort();
    if (n == 3) { /* an empty message is not written: nothing */
        *outlen = 0;
        if (!(*out = malloc(1)))
            abort();
        free(buf);
        return;
    }
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
    if (in && readers_accept(data, size)) {
        if (rc != 0) {
            fprintf(stderr, "refused what the readers take: %s\n", err);
            abort();
        }
        const Request *got = otlp_proto_request_unpack(out_arena, out, outlen);
        if (!got || !readers_accept(out, outlen))
            abort();
        size_t n = scan_spans(in);
        if (scan_spans(got) != n || st.spans != n)
            abort();
        compare_with_correct(model, ref_arena, data, size, got);
    }
    free(out);
    return 0;
}
