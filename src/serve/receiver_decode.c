/* receiver_decode: OTLP/HTTP request bodies -> span_store. Content-Type
 * parsing, a gunzip that counts what it produces and stops at the limit (a
 * gzip bomb costs at most max_decompressed bytes of memory, never more),
 * and the two readers: the protobuf wire scanner on the body as one plain
 * ExportTraceServiceRequest (the OTLP/HTTP layout, no length prefix), and
 * the OTLP JSON reader over a memory source.
 *
 * The readers' contract (ingest.h) is serve's too: a body with a string
 * that is not valid UTF-8 (or, JSON, a lone surrogate escape) anywhere,
 * or with a field number 0, is malformed (-RECEIVER_DECODE_MALFORMED, so
 * 400 with the byte offset or line:col) before anything is acknowledged;
 * spans that cannot be analysed (empty IDs, missing times) are not in the
 * store but counted there (span_store_invalid_total()), while the body,
 * forwarded as it is, keeps them. The JSON reader also refuses a document
 * of no OTLP shape ({} or {"result": ...} without resourceSpans).
 *
 * Flow: receiver.c (HTTP thread) -> here -> ingest readers -> span_store.
 * No shared state: callers on different threads use different stores. */
#include "serve/receiver.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "ingest/ingest.h"
#include "ingest/otlp_wire.h"
#include "ingest/source.h"

#define BODY_NAME "request body"

/* Media type without parameters, compared case-insensitively. */
static bool media_is(const char *ct, const char *type)
{
    size_t n = strlen(type);

    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, type, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

enum receiver_content receiver_content_parse(const char *content_type)
{
    if (!content_type)
        return RECEIVER_CONTENT_UNKNOWN;
    if (media_is(content_type, "application/x-protobuf") ||
        media_is(content_type, "application/protobuf"))
        return RECEIVER_CONTENT_PROTOBUF;
    if (media_is(content_type, "application/json"))
        return RECEIVER_CONTENT_JSON;
    return RECEIVER_CONTENT_UNKNOWN;
}

struct inflated {
    unsigned char *data;
    size_t len, cap;
};

/* Make room for more output, never past limit + 1 bytes: one byte beyond
 * the limit is how an over-long stream is noticed. */
static int inflated_grow(struct inflated *o, size_t limit)
{
    size_t cap = o->cap ? o->cap * 2 : 64 * 1024;
    unsigned char *p;

    if (cap > limit + 1)
        cap = limit + 1;
    if (cap <= o->cap)
        return -1;
    p = realloc(o->data, cap);
    if (!p)
        return -1;
    o->data = p;
    o->cap = cap;
    return 0;
}

static int gunzip_fail(z_stream *z, int code, const char *what, char *err,
                       size_t errlen)
{
    snprintf(err, errlen, BODY_NAME ": byte %lu of the gzip data: %s",
             (unsigned long)z->total_in, what);
    return -code;
}

/* Inflate one or more concatenated gzip members into o. */
static int gunzip_run(z_stream *z, struct inflated *o, size_t limit, char *err,
                      size_t errlen)
{
    for (;;) {
        if (o->len == o->cap && inflated_grow(o, limit) < 0) {
            if (o->cap > limit) {
                snprintf(err, errlen,
                         BODY_NAME ": decompresses to more than %zu bytes",
                         limit);
                return -RECEIVER_DECODE_TOO_LARGE;
            }
            snprintf(err, errlen, BODY_NAME ": out of memory");
            return -RECEIVER_DECODE_NOMEM;
        }
        z->next_out = o->data + o->len;
        size_t room = o->cap - o->len;
        z->avail_out = (uInt)(room > (1u << 30) ? (1u << 30) : room);
        int zr = inflate(z, Z_NO_FLUSH);
        o->len = o->cap - z->avail_out;
        /* the buffer holds up to limit + 1 bytes: one more than allowed
         * means too large, even when the stream ends right there */
        if (o->len > limit) {
            snprintf(err, errlen,
                     BODY_NAME ": decompresses to more than %zu bytes", limit);
            return -RECEIVER_DECODE_TOO_LARGE;
        }
        if (zr == Z_STREAM_END) {
            if (z->avail_in == 0)
                return 0;
            if (z->avail_in < 2 || z->next_in[0] != 0x1f ||
                z->next_in[1] != 0x8b)
                return gunzip_fail(z, RECEIVER_DECODE_MALFORMED,
                                   "trailing bytes after the gzip stream", err,
                                   errlen);
            inflateReset(z);
            continue;
        }
        if (zr == Z_BUF_ERROR && z->avail_in == 0)
            return gunzip_fail(z, RECEIVER_DECODE_MALFORMED,
                               "truncated gzip data", err, errlen);
        if (zr == Z_MEM_ERROR) {
            snprintf(err, errlen, BODY_NAME ": out of memory");
            return -RECEIVER_DECODE_NOMEM;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return gunzip_fail(z, RECEIVER_DECODE_MALFORMED,
                               z->msg ? z->msg : "bad gzip data", err, errlen);
    }
}

static int gunzip(const void *body, size_t len, size_t limit,
                  struct inflated *o, char *err, size_t errlen)
{
    z_stream z;
    int rc;

    memset(&z, 0, sizeof(z));
    if (limit > SIZE_MAX / 2)
        limit = SIZE_MAX / 2;
    if (len > UINT32_MAX) {
        snprintf(err, errlen, BODY_NAME ": gzip body too large");
        return -RECEIVER_DECODE_TOO_LARGE;
    }
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        snprintf(err, errlen, BODY_NAME ": out of memory");
        return -RECEIVER_DECODE_NOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)body;
    z.avail_in = (uInt)len;
    rc = gunzip_run(&z, o, limit, err, errlen);
    inflateEnd(&z);
    return rc;
}

int receiver_gunzip(const void *body, size_t len, size_t max_decompressed,
                    unsigned char **out, size_t *outlen, char *err,
                    size_t errlen)
{
    struct inflated o = {NULL, 0, 0};
    int rc = gunzip(body, len, max_decompressed, &o, err, errlen);

    if (rc < 0) {
        free(o.data);
        return rc;
    }
    *out = o.data;
    *outlen = o.len;
    return 0;
}

static int decode_proto(const unsigned char *data, size_t len, const char *attr,
                        struct span_store *store, char *err, size_t errlen)
{
    struct otlp_wire *w = otlp_wire_create(store, attr, BODY_NAME);
    int rc;

    if (!w) {
        snprintf(err, errlen, BODY_NAME ": out of memory");
        return -RECEIVER_DECODE_NOMEM;
    }
    rc = otlp_wire_scan(w, data, len, 0, 0, err, errlen);
    otlp_wire_destroy(w);
    if (rc == -INGEST_E_NOMEM)
        return -RECEIVER_DECODE_NOMEM;
    return rc < 0 ? -RECEIVER_DECODE_MALFORMED : 0;
}

static int decode_json(const unsigned char *data, size_t len, const char *attr,
                       struct span_store *store, char *err, size_t errlen)
{
    struct ingest_opts opts = {.format = TRACE_FORMAT_OTLP_JSON,
                               .clock_domain_attr = attr};
    struct source *src;
    int rc;

    /* The memory source would inflate gzip magic on its own, unbounded:
     * compressed bytes must be announced by Content-Encoding instead. */
    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        snprintf(err, errlen,
                 BODY_NAME ": byte 0: gzip data without "
                           "Content-Encoding: gzip (or compressed twice)");
        return -RECEIVER_DECODE_MALFORMED;
    }
    src = source_open_memory(data, len, BODY_NAME, err, errlen);
    if (!src)
        return -RECEIVER_DECODE_NOMEM;
    rc = ingest_otlp_json_ops.read(src, store, &opts, err, errlen);
    source_close(src);
    if (rc == -INGEST_E_NOMEM)
        return -RECEIVER_DECODE_NOMEM;
    return rc < 0 ? -RECEIVER_DECODE_MALFORMED : 0;
}

int receiver_decode_body(const void *body, size_t len,
                         enum receiver_content content, bool gzip,
                         size_t max_decompressed, const char *clock_domain_attr,
                         struct span_store *store, size_t *decoded_len,
                         char *err, size_t errlen)
{
    struct inflated o = {NULL, 0, 0};
    const unsigned char *data = body;
    int rc;

    if (gzip) {
        rc = gunzip(body, len, max_decompressed, &o, err, errlen);
        if (rc < 0)
            goto cleanup;
        data = o.data;
        len = o.len;
    }
    if (decoded_len)
        *decoded_len = len;
    if (!data)
        data = (const unsigned char *)"";
    if (content == RECEIVER_CONTENT_PROTOBUF)
        rc = decode_proto(data, len, clock_domain_attr, store, err, errlen);
    else if (content == RECEIVER_CONTENT_JSON)
        rc = decode_json(data, len, clock_domain_attr, store, err, errlen);
    else {
        snprintf(err, errlen, BODY_NAME ": unsupported content type");
        rc = -RECEIVER_DECODE_MALFORMED;
    }
cleanup:
    free(o.data);
    return rc;
}
