/* utf8: the one UTF-8 rule of the trace readers (RFC 3629): a string is
 * valid when its bytes are whole characters of at most 4 bytes, in
 * their shortest form, outside the surrogates U+D800..U+DFFF and at most
 * U+10FFFF. U+0000 (a NUL byte) is a valid character.
 *
 * Every reader path calls it: the JSON scanner on every byte it reads
 * (ingest/json_lex.c: strings hold the only non-ASCII bytes JSON allows),
 * the protobuf wire scanner on every `string` field of the OTLP request
 * (ingest/otlp_wire.c), so `check`, `estimate`, `correct` and `serve`
 * refuse the same inputs. Header-only so the per-field checks inline;
 * utf8.c holds the loop over a whole buffer. Thread-safe (no state). */
#ifndef SKEWSCOPE_UTF8_H
#define SKEWSCOPE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The character that starts at p, with n > 0 bytes available: returns its
 * length (1..4); 0 when the n bytes are the valid beginning of a character
 * that they cut off (more bytes may complete it); -1 when p does not start
 * a valid character. */
static inline int utf8_char(const uint8_t *p, size_t n)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xbf;
    int len;

    if (c < 0x80)
        return 1;
    if (c < 0xc2)
        return -1; /* continuation byte or overlong 2-byte form */
    if (c < 0xe0) {
        len = 2;
    } else if (c < 0xf0) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c < 0xf5) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        if (p[i] < lo || p[i] > hi)
            return -1;
        lo = 0x80;
        hi = 0xbf;
    }
    return len;
}

/* True when none of the n bytes at p has its high bit set (then they are
 * valid UTF-8, and so is every string field inside them). Short strings
 * (keys, names) take two overlapping loads, not a byte loop. */
static inline bool utf8_is_ascii(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t acc = 0, w;
    uint32_t h;

    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&w, s + i, 8);
            acc |= w;
        }
        memcpy(&w, s + n - 8, 8);
        return !((acc | w) & UINT64_C(0x8080808080808080));
    }
    if (n >= 4) {
        memcpy(&h, s, 4);
        acc = h;
        memcpy(&h, s + n - 4, 4);
        return !((acc | h) & 0x80808080u);
    }
    for (size_t i = 0; i < n; i++)
        acc |= s[i];
    return !(acc & 0x80);
}

/* Length of the longest prefix of p[0..n) made of valid whole characters.
 * When it is less than n, *cut (may be NULL) tells why it stopped: true when
 * the remaining bytes are the valid beginning of a character cut off by the
 * end of the buffer (a stream may complete it), false when the byte at the
 * returned offset is not valid UTF-8. */
size_t utf8_prefix(const void *p, size_t n, bool *cut);

/* Offset of the first byte of p[0..n) that is not part of a valid
 * character (a character cut off by the end counts as invalid), or n when
 * all of it is valid UTF-8. */
static inline size_t utf8_check(const void *p, size_t n)
{
    if (utf8_is_ascii(p, n))
        return n;
    return utf8_prefix(p, n, NULL);
}

static inline bool utf8_valid(const void *p, size_t n)
{
    return utf8_check(p, n) == n;
}

#endif
