/* json_esc: the one rule for writing a string inside JSON text (RFC 8259):
 * '"' and '\\' get a backslash, \n \t \r their short escapes, every other
 * byte below 0x20 \u00XX; all other bytes pass through (UTF-8 assumed).
 * Used by every hand-written JSON writer: output/json_out (spans), the
 * receiver's error bodies, serve's structured log lines (util/log).
 * Header-only so the per-byte test inlines; json_esc.c holds the
 * whole-string copy. Thread-safe (no state). */
#ifndef SKEWSCOPE_JSON_ESC_H
#define SKEWSCOPE_JSON_ESC_H

#include <stdbool.h>
#include <stddef.h>

/* The escape of byte c into esc[0..6): returns its length (2 or 6), or 0
 * when c stands for itself. */
static inline size_t json_esc_byte(unsigned char c, char esc[6])
{
    static const char hex[] = "0123456789abcdef";

    if (c >= 0x20 && c != '"' && c != '\\')
        return 0;
    esc[0] = '\\';
    switch (c) {
    case '\n':
        esc[1] = 'n';
        return 2;
    case '\t':
        esc[1] = 't';
        return 2;
    case '\r':
        esc[1] = 'r';
        return 2;
    case '"':
    case '\\':
        esc[1] = (char)c;
        return 2;
    default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        return 6;
    }
}

/* Copy s (NULL: "") escaped into out[0..cap), NUL-terminated, without
 * quotes; stops before an escape that would not fit, so the result is
 * always valid JSON string content. ascii_only replaces bytes >= 0x80 by
 * '?' (for replies that must be valid UTF-8 whatever they quote). Returns
 * the length written (< cap); cap must be >= 1. */
size_t json_esc_copy(char *out, size_t cap, const char *s, bool ascii_only);

#endif
