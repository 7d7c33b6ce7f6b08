/* libFuzzer target for the OTLP wire scanner (otlp_wire.c), differential
 * against protobuf-c: the input is one ExportTraceServiceRequest. It is
 * scanned into one span_store and, when protobuf-c (behind the same
 * nesting guard the stream uses) decodes it, read the way the protobuf-c
 * reader did into another, after the reference's own walk for the rules
 * protobuf-c does not apply (UTF-8 strings, field number 0); then both
 * must agree: same status and, when they read it, the same records, links,
 * invalid-span counts, clock domain names and transport systems. The
 * scanner must never crash, whatever the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/otlp_proto.h"
#include "ingest/otlp_wire.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include "../tests/otlp_reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct otlp_arena *arena;
    struct span_store *got = span_store_create(), *want = span_store_create();
    struct otlp_wire *w = otlp_wire_create(got, NULL, "fuzz");
    char err[512];

    if (!arena)
        arena = otlp_arena_create();
    if (!got || !want || !w || !arena)
        abort();
    int rc = otlp_wire_scan(w, data, size, 0, 0, err, sizeof(err));
    if (rc < 0 && strncmp(err, "fuzz: byte ", 11) != 0 && rc != -INGEST_E_NOMEM)
        abort();
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
        *msg = otlp_proto_request_unpack(arena, data, size);
    if (msg) {
        int ref = otlp_ref_read_raw(want, data, size, msg, NULL);
        if (ref != rc) {
            fprintf(stderr, "scanner %d (%s), protobuf-c %d\n", rc,
                    rc ? err : "", ref);
            abort();
        }
        if (rc == 0 && otlp_ref_diff(got, want))
            abort();
    }
    otlp_wire_destroy(w);
    span_store_destroy(want);
    span_store_destroy(got);
    return 0;
}
