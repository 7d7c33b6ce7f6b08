/* libFuzzer target for the OTLP/HTTP receiver's body decoder
 * (receiver_decode_body): the first input byte picks the case, the rest is
 * the body.
 *   bit 0: content type (0 protobuf, 1 JSON)
 *   bit 1: Content-Encoding gzip: the body as given (mostly bad gzip)
 *   bit 2: gzip the body here first, then decode with gzip on, so that the
 *          readers see the fuzzed bytes behind a valid gzip layer
 *   bit 3: tiny decompressed-size limit (64 bytes), to hit the bomb path
 * Nothing may crash, leak or read out of bounds; the result code and the
 * store are checked for consistency. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "model/span_store.h"
#include "serve/receiver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gzip of n bytes at p into a malloc'd buffer (*out_len), or NULL. */
static unsigned char *gzip_bytes(const uint8_t *p, size_t n, size_t *out_len)
{
    size_t cap = n + n / 8 + 128;
    unsigned char *out = malloc(cap);
    z_stream z;

    if (!out)
        return NULL;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        free(out);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&z);
        free(out);
        return NULL;
    }
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum receiver_content ct;
    struct span_store *s;
    unsigned char *packed = NULL;
    const uint8_t *body;
    size_t len, limit, decoded = 0;
    bool gzip;
    char err[512];
    int rc;

    if (size < 1)
        return 0;
    ct = data[0] & 1 ? RECEIVER_CONTENT_JSON : RECEIVER_CONTENT_PROTOBUF;
    gzip = data[0] & 6;
    limit = data[0] & 8 ? 64 : 1 << 20;
    body = data + 1;
    len = size - 1;
    if (data[0] & 4) {
        packed = gzip_bytes(body, len, &len);
        if (!packed)
            return 0;
        body = packed;
    }
    s = span_store_create();
    if (s) {
        err[0] = '\0';
        rc = receiver_decode_body(body, len, ct, gzip, limit, NULL, s, &decoded,
                                  err, sizeof(err));
        if (rc < 0 && err[0] == '\0')
            abort(); /* every failure must say why */
        if (rc == -RECEIVER_DECODE_TOO_LARGE && !gzip)
            abort();
        if (rc == 0 && gzip && decoded > limit)
            abort();
        span_store_destroy(s);
    }
    free(packed);
    return 0;
}
