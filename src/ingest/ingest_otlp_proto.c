/* ingest_otlp_proto: OTLP protobuf trace files (ExportTraceServiceRequest
 * messages, length-delimited or one plain message) -> span_store.
 *
 * The stream (otlp_proto.c) frames the input and hands over one message's
 * bytes at a time; the wire scanner (otlp_wire.c) appends their spans to
 * the store without building protobuf-c structs, so memory stays at one
 * message whatever the file size. Input whose messages hold fields but
 * never a resource_spans is not an OTLP trace: malformed, not 0 spans. */
#include "ingest/ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ingest/otlp_proto.h"
#include "ingest/otlp_wire.h"
#include "ingest/source.h"

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Binary unless it reads as JSON text. A plain request starts with 0x0a
 * ('\n'), so leading "white space" alone proves nothing: text means the
 * first other byte opens a JSON object or array and no control byte (which
 * protobuf lengths and tags below 0x20 produce) appears early on. */
static bool otlp_proto_sniff(const unsigned char *data, size_t n)
{
    size_t i = 0, lim = n < 256 ? n : 256;

    while (i < n && is_space(data[i]))
        i++;
    if (i == n)
        return false;
    if (data[i] != '{' && data[i] != '[')
        return true;
    for (i = 0; i < lim; i++)
        if (data[i] < 0x20 && !is_space(data[i]))
            return true;
    return false;
}

/* Bytes after the "NAME: " that otlp_wire_scan() puts first. */
static const char *without_name(const char *msg, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(msg, name, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
        return msg + n + 2;
    return msg;
}

/* The input was read as one plain message because the delimited reading
 * failed (why); when the plain reading fails too, say both, the delimited
 * reason first as before. */
static void plain_fail(const char *name, const char *why, char *err,
                       size_t errlen)
{
    char scan[512];

    snprintf(scan, sizeof(scan), "%s", without_name(err, name));
    snprintf(err, errlen,
             "%s: %s (nor does the whole input parse as one "
             "ExportTraceServiceRequest: %s)",
             name, why, scan);
}

static int read_messages(struct otlp_proto_stream *st, struct otlp_wire *w,
                         const char *name, char *err, size_t errlen)
{
    const uint8_t *data;
    size_t len;
    uint64_t off;
    int rc;

    while ((rc = otlp_proto_stream_next_raw(st, &data, &len, &off, err,
                                            errlen)) > 0) {
        rc = otlp_wire_scan(w, data, len, off, otlp_proto_stream_offset(st),
                            err, errlen);
        if (rc == 0)
            continue;
        const char *why = otlp_proto_stream_plain_why(st);
        if (rc == -INGEST_E_MALFORMED && why && *why)
            plain_fail(name, why, err, errlen);
        return rc;
    }
    return rc;
}

/* The shape rule: messages that held fields, none a resource_spans. */
static int shape_check(const struct otlp_wire *w, const char *name, char *err,
                       size_t errlen)
{
    size_t rs, unknown;

    otlp_wire_fields(w, &rs, &unknown);
    if (rs > 0 || unknown == 0)
        return 0;
    snprintf(err, errlen,
             "%s: byte 0: expected OTLP ExportTraceServiceRequest messages "
             "(field 1, resource_spans), found only %zu unknown field%s",
             name, unknown, unknown == 1 ? "" : "s");
    return -INGEST_E_MALFORMED;
}

static int otlp_proto_read(struct source *src, struct span_store *store,
                           const struct ingest_opts *opts, char *err,
                           size_t errlen)
{
    const char *name = source_name(src);
    struct otlp_proto_stream *st = otlp_proto_stream_open(src);
    struct otlp_wire *w =
        otlp_wire_create(store, opts ? opts->clock_domain_attr : NULL, name);
    int rc = -INGEST_E_NOMEM;

    if (!st || !w) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto cleanup;
    }
    otlp_wire_set_strict(w, opts && opts->strict);
    rc = read_messages(st, w, name, err, errlen);
    if (rc == 0)
        rc = shape_check(w, name, err, errlen);
cleanup:
    otlp_wire_destroy(w);
    otlp_proto_stream_close(st);
    return rc < 0 ? rc : 0;
}

const struct ingest_ops ingest_otlp_proto_ops = {
    .name = "otlp-proto",
    .format = TRACE_FORMAT_OTLP_PROTO,
    .sniff = otlp_proto_sniff,
    .read = otlp_proto_read,
};
