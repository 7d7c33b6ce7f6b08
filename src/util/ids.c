/* ids: parsing and printing of trace and span identifiers (hex or base64). */
#include "util/ids.h"

#include <string.h>

/* Hex digit value + 1; 0 for anything else. */
static const unsigned char hex1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static int hex_value(unsigned char c)
{
    return (int)hex1[c] - 1;
}

/* The common spelling, exactly 2*n hex digits, without branches per digit
 * (IDs are parsed for every span: this is on the ingest hot path). */
static bool hex_exact(const char *s, uint8_t *out, size_t n)
{
    unsigned bad = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned hi = hex1[(unsigned char)s[2 * i]];
        unsigned lo = hex1[(unsigned char)s[2 * i + 1]];
        bad |= (hi == 0) | (lo == 0);
        out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
    }
    return !bad;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decode hex digits right-aligned into out[n]; shorter input is left-padded. */
static int hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    memset(out, 0, n);
    if (len > 2 * n)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = hex_value((unsigned char)s[len - 1 - i]);
        if (v < 0)
            return -1;
        out[n - 1 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
    }
    return 0;
}

/* Decode base64 (with or without padding) into exactly n bytes. */
static int b64_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    while (len > 0 && s[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == n)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o == n ? 0 : -1;
}

static bool all_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (hex_value((unsigned char)s[i]) < 0)
            return false;
    return true;
}

int id_parse_trace(const char *s, size_t len, uint8_t out[16])
{
    if (len == 32 && hex_exact(s, out, 16))
        return 0;
    if (len == 0) {
        memset(out, 0, 16);
        return 0;
    }
    if ((len == 32 || len <= 16) && all_hex(s, len))
        return hex_decode(s, len, out, 16);
    if (len == 24 || len == 22)
        return b64_decode(s, len, out, 16);
    return -1;
}

int id_parse_span(const char *s, size_t len, uint64_t *out)
{
    uint8_t b[8];

    if (len == 16 && hex_exact(s, b, 8)) {
        /* decoded */
    } else if (len <= 16 && all_hex(s, len)) {
        if (hex_decode(s, len, b, 8) < 0)
            return -1;
    } else if (len == 12 || len == 11) {
        if (b64_decode(s, len, b, 8) < 0)
            return -1;
    } else {
        return -1;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    *out = v;
    return 0;
}

void id_format_trace(const uint8_t id[16], char out[33])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[32] = '\0';
}

void id_format_span(uint64_t id, char out[17])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 15; i >= 0; i--) {
        out[i] = digits[id & 15];
        id >>= 4;
    }
    out[16] = '\0';
}

bool id_trace_is_zero(const uint8_t id[16])
{
    for (int i = 0; i < 16; i++)
        if (id[i])
            return false;
    return true;
}
