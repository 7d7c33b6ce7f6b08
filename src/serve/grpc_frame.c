/* grpc_frame: gRPC message framing, status names, grpc-message encoding and
 * grpc-status-details-bin (google.rpc.Status with RetryInfo) for serve's
 * OTLP/gRPC receiver and forwarder (see grpc_frame.h). The protobuf of the
 * status is written and read by hand with the wire primitives: three small
 * messages do not justify generated code. */
#include "serve/grpc_frame.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ingest/otlp_proto.h"
#include "ingest/wire.h"

static const char *const code_names[GRPC_NCODES] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *grpc_code_name(int code)
{
    return code >= 0 && code < GRPC_NCODES ? code_names[code] : "UNKNOWN";
}

/* ---- length-prefixed messages */

void grpc_frame_prefix(uint8_t out[GRPC_PREFIX_LEN], bool compressed,
                       uint32_t len)
{
    out[0] = compressed ? 1 : 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int64_t grpc_frame_peek_len(const uint8_t *body, size_t len)
{
    if (len < GRPC_PREFIX_LEN)
        return -1;
    return (int64_t)((uint32_t)body[1] << 24 | (uint32_t)body[2] << 16 |
                     (uint32_t)body[3] << 8 | body[4]);
}

int grpc_frame_unary(const uint8_t *body, size_t len, size_t max_len,
                     const uint8_t **msg, size_t *msg_len, bool *compressed,
                     char *err, size_t errlen)
{
    int64_t n = grpc_frame_peek_len(body, len);

    if (n < 0) {
        snprintf(err, errlen,
                 "byte %zu: expected a 5-byte gRPC message prefix, the body "
                 "ends",
                 len);
        return -GRPC_FRAME_MALFORMED;
    }
    if (body[0] > 1) {
        snprintf(err, errlen, "byte 0: compressed flag %u: expected 0 or 1",
                 body[0]);
        return -GRPC_FRAME_MALFORMED;
    }
    if ((uint64_t)n > max_len) {
        snprintf(err, errlen, "message of %lld bytes exceeds %zu", (long long)n,
                 max_len);
        return -GRPC_FRAME_TOO_LARGE;
    }
    if ((uint64_t)n > len - GRPC_PREFIX_LEN) {
        snprintf(err, errlen,
                 "byte %zu: the prefix announces %lld message bytes, the "
                 "body ends after %zu",
                 len, (long long)n, len - GRPC_PREFIX_LEN);
        return -GRPC_FRAME_MALFORMED;
    }
    if ((uint64_t)n < len - GRPC_PREFIX_LEN) {
        snprintf(err, errlen,
                 "byte %lld: a second message: Export takes exactly one",
                 (long long)n + GRPC_PREFIX_LEN);
        return -GRPC_FRAME_MALFORMED;
    }
    *msg = body + GRPC_PREFIX_LEN;
    *msg_len = (size_t)n;
    *compressed = body[0] == 1;
    return 0;
}

/* ---- grpc-message */

size_t grpc_message_encode(const char *msg, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;

    if (cap == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        bool plain = *p >= 0x20 && *p <= 0x7e && *p != '%';
        if (k + (plain ? 1 : 3) >= cap)
            break;
        if (plain) {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    out[k] = '\0';
    return k;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t grpc_message_decode(char *s)
{
    size_t k = 0;

    for (size_t i = 0; s[i]; i++) {
        int hi, lo;
        if (s[i] == '%' && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            s[k++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            s[k++] = s[i];
        }
    }
    s[k] = '\0';
    return k;
}

/* ---- grpc-status-details-bin */

#define RETRY_INFO_URL "type.googleapis.com/google.rpc.RetryInfo"
#define MAX_DETAIL_MSG 512

/* Append a length-delimited field (tag, length, bytes) at out + k. */
static size_t put_len_field(uint8_t *out, size_t k, unsigned field,
                            const void *p, size_t n)
{
    out[k++] = (uint8_t)(field << 3 | WT_LEN);
    k += otlp_proto_put_varint(out + k, n);
    memcpy(out + k, p, n);
    return k + n;
}

/* google.rpc.RetryInfo {retry_delay: Duration {seconds = 1, nanos = 2}}
 * wrapped in a google.protobuf.Any {type_url = 1, value = 2}. */
static size_t put_retry_any(uint8_t *out, unsigned delay_ms)
{
    uint8_t dur[24], ri[32];
    size_t nd = 0, nr = 0, k = 0;
    uint64_t s = delay_ms / 1000, ns = (uint64_t)(delay_ms % 1000) * 1000000;

    if (s) {
        dur[nd++] = 0x08;
        nd += otlp_proto_put_varint(dur + nd, s);
    }
    if (ns) {
        dur[nd++] = 0x10;
        nd += otlp_proto_put_varint(dur + nd, ns);
    }
    nr = put_len_field(ri, 0, 1, dur, nd);
    k = put_len_field(out, k, 1, RETRY_INFO_URL, sizeof(RETRY_INFO_URL) - 1);
    return put_len_field(out, k, 2, ri, nr);
}

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 without padding; out needs 4 * ceil(n / 3) + 1 bytes. */
static size_t b64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t k = 0, i = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[k++] = b64_chars[v >> 18];
        out[k++] = b64_chars[(v >> 12) & 63];
        out[k++] = b64_chars[(v >> 6) & 63];
        out[k++] = b64_chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        out[k++] = b64_chars[v >> 18];
        out[k++] = b64_chars[(v >> 12) & 63];
        if (i + 1 < n)
            out[k++] = b64_chars[(v >> 6) & 63];
    }
    out[k] = '\0';
    return k;
}

size_t grpc_status_details(int code, const char *message,
                           unsigned retry_delay_ms, char *out, size_t cap)
{
    uint8_t st[MAX_DETAIL_MSG + 160], any[96];
    size_t k = 0, mlen = strlen(message), na;

    if (mlen > MAX_DETAIL_MSG)
        mlen = MAX_DETAIL_MSG;
    if (code) {
        st[k++] = 0x08;
        k += otlp_proto_put_varint(st + k, (uint64_t)(uint32_t)code);
    }
    if (mlen)
        k = put_len_field(st, k, 2, message, mlen);
    if (retry_delay_ms) {
        na = put_retry_any(any, retry_delay_ms);
        k = put_len_field(st, k, 3, any, na);
    }
    if (cap < (k + 2) / 3 * 4 + 1)
        return 0;
    return b64_encode(st, k, out);
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64_chars, c) : NULL;

    if (c == '-')
        return 62; /* base64url, which some servers send */
    if (c == '_')
        return 63;
    return p ? (int)(p - b64_chars) : -1;
}

/* Decode base64 (padding optional) into out (cap bytes). Returns the
 * length, or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;

    while (n > 0 && s[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k >= cap)
                return -1;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)k;
}

/* One field of a message in [*pp, end): its number, wire type, and for
 * WT_LEN the payload (*v = its length, *data its start), else the value.
 * Returns 0, or -1 on a malformed field. */
static int next_field(const uint8_t **pp, const uint8_t *end, unsigned *field,
                      unsigned *wt, uint64_t *v, const uint8_t **data)
{
    uint64_t key;

    if (wire_varint(pp, end, &key) < 0 || (key >> 3) == 0)
        return -1;
    *field = (unsigned)(key >> 3);
    *wt = (unsigned)(key & 7);
    switch (*wt) {
    case WT_VARINT:
        return wire_varint(pp, end, v);
    case WT_I64:
    case WT_I32: {
        size_t w = *wt == WT_I64 ? 8 : 4;
        if ((size_t)(end - *pp) < w)
            return -1;
        *pp += w;
        return 0;
    }
    case WT_LEN:
        if (wire_varint(pp, end, v) < 0 || *v > (uint64_t)(end - *pp))
            return -1;
        *data = *pp;
        *pp += *v;
        return 0;
    default:
        return -1;
    }
}

/* retry_delay of a RetryInfo message, in ms (capped). */
static int parse_retry_info(const uint8_t *p, const uint8_t *end,
                            unsigned *delay_ms)
{
    unsigned f, wt;
    uint64_t v = 0, s = 0, ns = 0;
    const uint8_t *d = NULL;

    while (p < end) {
        if (next_field(&p, end, &f, &wt, &v, &d) < 0)
            return -1;
        if (f != 1 || wt != WT_LEN)
            continue;
        const uint8_t *q = d, *qe = d + v;
        while (q < qe) {
            uint64_t x = 0;
            const uint8_t *dd = NULL;
            if (next_field(&q, qe, &f, &wt, &x, &dd) < 0)
                return -1;
            if (f == 1 && wt == WT_VARINT)
                s = x;
            else if (f == 2 && wt == WT_VARINT)
                ns = x;
        }
    }
    if (s >= 3600 || (int64_t)s < 0)
        *delay_ms = 3600000;
    else
        *delay_ms = (unsigned)(s * 1000 + (ns % 1000000000) / 1000000);
    return 0;
}

/* An Any {type_url = 1, value = 2}: the retry delay when it is a
 * RetryInfo. */
static int parse_any(const uint8_t *p, const uint8_t *end, unsigned *delay_ms)
{
    unsigned f, wt;
    uint64_t v = 0;
    const uint8_t *d = NULL, *val = NULL;
    size_t vlen = 0;
    bool retry = false;

    while (p < end) {
        if (next_field(&p, end, &f, &wt, &v, &d) < 0)
            return -1;
        if (f == 1 && wt == WT_LEN)
            retry = v == sizeof(RETRY_INFO_URL) - 1 &&
                    memcmp(d, RETRY_INFO_URL, (size_t)v) == 0;
        else if (f == 2 && wt == WT_LEN) {
            val = d;
            vlen = (size_t)v;
        }
    }
    if (retry && val)
        return parse_retry_info(val, val + vlen, delay_ms);
    return 0;
}

int grpc_status_details_parse(const char *b64, size_t len, int *code,
                              unsigned *retry_delay_ms)
{
    uint8_t buf[4096];
    long n = b64_decode(b64, len, buf, sizeof(buf));
    const uint8_t *p = buf, *end, *d = NULL;
    unsigned f, wt;
    uint64_t v = 0;

    *code = 0;
    *retry_delay_ms = 0;
    if (n < 0)
        return -1;
    end = buf + n;
    while (p < end) {
        if (next_field(&p, end, &f, &wt, &v, &d) < 0)
            return -1;
        if (f == 1 && wt == WT_VARINT)
            *code = (int)(int32_t)v;
        else if (f == 3 && wt == WT_LEN &&
                 parse_any(d, d + v, retry_delay_ms) < 0)
            return -1;
    }
    return 0;
}

bool grpc_encoding_listed(const char *list, const char *enc)
{
    size_t n = strlen(enc);

    while (list && *list) {
        while (*list == ' ' || *list == ',')
            list++;
        size_t w = strcspn(list, ", ");
        if (w == n && strncasecmp(list, enc, n) == 0)
            return true;
        list += w;
    }
    return false;
}
