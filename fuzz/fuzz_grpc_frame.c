/* libFuzzer target for the OTLP/gRPC receiver's framing and decoding
 * (serve/grpc_frame.h) and what the receiver does with a call's body. The
 * first byte picks the path, the rest is its input:
 *   0: a unary call's body as the receiver takes it: grpc_frame_unary
 *      (the limit from byte 1), then, flagged compressed, receiver_gunzip,
 *      then receiver_decode_body into a span store; checked: an accepted
 *      message lies inside the body and is exactly its announced length;
 *   1: grpc-status-details-bin as a client reads it
 *      (grpc_status_details_parse, with and without padding cut);
 *   2: grpc-message: decode of the input, and encode then decode gives
 *      the input back (up to its first NUL) and only printable ASCII;
 *   3: status details round trip: code, delay and message from the input,
 *      written then read back equal (the all-default Status too: empty).
 * Nothing may crash, leak or read out of bounds. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_store.h"
#include "serve/grpc_frame.h"
#include "serve/receiver.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void call_body(const uint8_t *p, size_t n)
{
    const uint8_t *msg;
    size_t mlen, limit, plain_len = 0;
    bool compressed;
    char err[512];
    uint8_t *plain = NULL;
    struct span_store *st;

    if (n < 1)
        return;
    limit = (size_t)p[0] * 64; /* 0 .. 16 KiB */
    p++, n--;
    if (grpc_frame_unary(p, n, limit, &msg, &mlen, &compressed, err,
                         sizeof(err)) < 0)
        return;
    assert(msg == p + GRPC_PREFIX_LEN && mlen == n - GRPC_PREFIX_LEN);
    assert(mlen <= limit);
    if (compressed && receiver_gunzip(msg, mlen, 1 << 20, &plain, &plain_len,
                                      err, sizeof(err)) < 0)
        return;
    st = span_store_create_hint(16);
    if (st) {
        receiver_decode_body(compressed ? plain : msg,
                             compressed ? plain_len : mlen,
                             RECEIVER_CONTENT_PROTOBUF, false, 0, NULL, st,
                             NULL, err, sizeof(err));
        span_store_destroy(st);
    }
    free(plain);
}

static void details(const uint8_t *p, size_t n)
{
    int code;
    unsigned ms;

    grpc_status_details_parse((const char *)p, n, &code, &ms);
    assert(ms <= 3600000 || ms == 0);
    if (n > 1)
        grpc_status_details_parse((const char *)p, n - 1, &code, &ms);
}

static void message(const uint8_t *p, size_t n)
{
    char *in = malloc(n + 1), *enc = malloc(3 * n + 1), *dec;
    size_t len;

    if (!in || !enc)
        goto out;
    memcpy(in, p, n);
    in[n] = '\0';
    len = strlen(in);
    grpc_message_encode(in, enc, 3 * n + 1);
    for (const char *c = enc; *c; c++)
        assert(*c >= 0x20 && *c <= 0x7e);
    dec = strdup(enc);
    if (dec) {
        assert(grpc_message_decode(dec) == len);
        assert(memcmp(dec, in, len) == 0);
        free(dec);
    }
    grpc_message_decode(in); /* raw input: any escapes, malformed ones */
out:
    free(in);
    free(enc);
}

static void roundtrip(const uint8_t *p, size_t n)
{
    char msg[600], out[1400];
    int code, got;
    unsigned delay, ms;
    size_t k;

    if (n < 5)
        return;
    code = p[0] % GRPC_NCODES;
    delay = ((unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3]) % 3600000;
    k = n - 4 < sizeof(msg) - 1 ? n - 4 : sizeof(msg) - 1;
    memcpy(msg, p + 4, k);
    msg[k] = '\0';
    k = grpc_status_details(code, msg, delay, out, sizeof(out));
    /* an all-default Status (OK, no message, no delay) is zero bytes: its
     * base64 is the empty string */
    assert(k > 0 || (code == 0 && !msg[0] && delay == 0 && !out[0]));
    assert(grpc_status_details_parse(out, k, &got, &ms) == 0);
    assert(got == code && ms == delay);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    log_set_level(LOG_ERROR);
    switch (data[0] & 3) {
    case 0:
        call_body(data + 1, size - 1);
        break;
    case 1:
        details(data + 1, size - 1);
        break;
    case 2:
        message(data + 1, size - 1);
        break;
    default:
        roundtrip(data + 1, size - 1);
        break;
    }
    return 0;
}
