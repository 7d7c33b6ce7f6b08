/* json_lex: a streaming JSON pull scanner for the JSON trace readers
 * (ingest_otlp_json.c, ingest_jaeger.c, ingest_zipkin.c).
 *
 * It pulls bytes from a struct source into one refillable buffer, so memory
 * is bounded by the largest single token a reader asks for, never by the file
 * size. The reader drives the structure (begin an object, walk its keys, read
 * a value or skip it); skipped subtrees are scanned without being decoded and
 * checked only for balanced brackets, terminated strings and legal bytes.
 *
 * Strings come back as raw slices into the buffer, with a flag telling
 * whether they contain backslash escapes. A slice stays valid only until the
 * next json_lex_* call on the same scanner.
 *
 * Every byte is checked as it is read, skipped or not: strings must be
 * valid UTF-8 (util/utf8.h) with JSON escapes only and no lone surrogate
 * (\uD800 without its low half); else the scan fails there ("expected
 * valid UTF-8, found byte 0xff"). U+0000 (\u0000) is a valid character.
 *
 * Errors are sticky: after the first one every call returns the same negated
 * enum ingest_status, and json_lex_message() holds
 * "NAME:LINE:COL: expected X" (columns count bytes from 1).
 *
 * Flow: source -> json_lex -> ingest_<json format>.c -> span_store. */
#ifndef SKEWSCOPE_JSON_LEX_H
#define SKEWSCOPE_JSON_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct source;
struct json_lex;

/* Deepest nesting of objects and arrays accepted; deeper input is an error. */
#define JSON_LEX_MAX_DEPTH 512
/* Largest single token (string or number) a reader may ask for, in bytes. */
#define JSON_LEX_MAX_TOKEN (64u << 20)
#define JSON_LEX_DEFAULT_BUFSIZE (256u << 10)

/* A string or scalar value as it appears between the quotes. */
struct json_str {
    const char *p;
    size_t len;
    bool esc; /* contains backslash escapes (p is not decoded) */
};

/* What the next value is, from its first byte. */
enum json_type {
    JSON_EOF = 0, /* no more input (only between top-level values) */
    JSON_OBJECT,
    JSON_ARRAY,
    JSON_STRING,
    JSON_NUMBER,
    JSON_TRUE,
    JSON_FALSE,
    JSON_NULL,
};

/* New scanner over src (borrowed: the caller closes it after
 * json_lex_destroy()). bufsize is the initial buffer size in bytes (0 =
 * JSON_LEX_DEFAULT_BUFSIZE; tiny sizes are allowed and used by tests); the
 * buffer grows only while one token does not fit. A leading UTF-8 byte order
 * mark is skipped. Returns NULL when out of memory. */
struct json_lex *json_lex_create(struct source *src, size_t bufsize);
void json_lex_destroy(struct json_lex *lx);

/* Buffer size used when json_lex_create() gets 0 (the readers do), in
 * bytes; 0 restores JSON_LEX_DEFAULT_BUFSIZE. For tests and fuzzing, which
 * drive the readers with tiny buffers to exercise refills. Process-wide;
 * set it before starting readers, not while any run. */
void json_lex_set_default_bufsize(size_t bufsize);

/* Type of the next value without consuming it (whitespace is skipped).
 * Returns an enum json_type (>= 0), or a negated ingest_status; a byte that
 * cannot start a value is an error. */
int json_lex_peek(struct json_lex *lx);

/* Consume '{' (or '['). Returns 1 when a container was opened, 0 when the
 * value was null (consumed; treat it as empty), or a negated ingest_status. */
int json_lex_begin_object(struct json_lex *lx);
int json_lex_begin_array(struct json_lex *lx);

/* Next member of the innermost open object: returns 1 with *key set and the
 * ':' consumed (the value must be read or skipped next), 0 when the closing
 * '}' was consumed, or a negated ingest_status. Keys with escapes are decoded
 * when short (< 256 bytes); a key left with esc set matches no plain name. */
int json_lex_next_key(struct json_lex *lx, struct json_str *key);

/* Next element of the innermost open array: 1 when an element follows (not
 * consumed), 0 when the closing ']' was consumed, or a negated status. */
int json_lex_next_elem(struct json_lex *lx);

/* Read a string value as a raw slice (esc tells whether it has escapes).
 * Any other value is an error "expected EXPECTED". */
int json_lex_string(struct json_lex *lx, struct json_str *out,
                    const char *expected);

/* Read a scalar as text: strings decoded (escapes resolved), numbers and
 * true/false/null as spelled. *type gets the value's enum json_type. Objects
 * and arrays are skipped and yield an empty text. The text is valid until
 * the next call. Returns 0 or a negated status. */
int json_lex_text(struct json_lex *lx, struct json_str *out, int *type);

/* Read an integer held as a JSON number or as a decimal string ("123",
 * "-4", also "1.5e9" when it is integral). Values outside int64 are errors
 * "expected EXPECTED". Returns 0 or a negated status. */
int json_lex_int64(struct json_lex *lx, int64_t *out, const char *expected);
/* The same for an unsigned integer (0 .. 2^64 - 1; timestamps): a negative
 * value is an error "expected EXPECTED, found a negative value". */
int json_lex_uint64(struct json_lex *lx, uint64_t *out, const char *expected);

/* Read an ID held as a string, spelled as util/ids.h accepts (hex or
 * base64). null and "" give the all-zero ("absent") ID. Anything else is an
 * error "expected EXPECTED". Returns 0 or a negated status. */
int json_lex_trace_id(struct json_lex *lx, uint8_t out[16],
                      const char *expected);
int json_lex_span_id(struct json_lex *lx, uint64_t *out, const char *expected);

/* Skip the next value (any type, any size) without decoding it. */
int json_lex_skip(struct json_lex *lx);

/* Line and column (from 1, bytes) of the next value's first byte. */
void json_lex_position(struct json_lex *lx, uint64_t *line, uint64_t *col);

/* Remember the position of the next value, for a later json_lex_fail_mark()
 * (e.g. "the span that starts here lacks a traceId"). One mark at a time. */
void json_lex_mark(struct json_lex *lx);

/* Record a malformed-input error at the start of the last token read
 * (json_lex_fail) or at the mark (json_lex_fail_mark): the message becomes
 * "NAME:LINE:COL: expected " followed by the formatted text. Returns
 * -INGEST_E_MALFORMED (or the earlier error when one is already recorded). */
int json_lex_fail(struct json_lex *lx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int json_lex_fail_mark(struct json_lex *lx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record out-of-memory (the readers' own allocations); returns
 * -INGEST_E_NOMEM. */
int json_lex_nomem(struct json_lex *lx);

/* Message of the recorded error ("" when none); owned by the scanner. */
const char *json_lex_message(const struct json_lex *lx);

/* Bytes consumed so far (stream offset of the scan position). */
uint64_t json_lex_offset(const struct json_lex *lx);

/* Decode the escapes of a JSON string body s[0..len) into out, which must
 * hold len bytes (decoding never lengthens). \uXXXX becomes UTF-8 (\u0000 a
 * NUL byte). Returns the decoded length, or -1 on an invalid escape or a
 * lone surrogate. */
long json_unescape(const char *s, size_t len, char *out);

/* A reader-owned copy of a value that must outlive the next scanner call.
 * Zero-initialise; free(b.p) when done. */
struct json_buf {
    char *p;
    size_t len, cap;
};

/* Copy p[0..n) into b (growing it). Returns 0, or -INGEST_E_NOMEM recorded
 * as the scanner's error. */
int json_lex_copy(struct json_lex *lx, struct json_buf *b, const char *p,
                  size_t n);

/* ---- copying (output/correct_otlp_stream.c) ----------------------------
 * A streaming rewriter reads the structure it changes with the calls above
 * and passes everything else through with json_lex_copy_value(). */

/* Where copied bytes go: a buffer its owner drains. */
struct json_sink {
    char *p;
    size_t len, cap;
    /* Make cap - len >= n (by draining the buffer, growing it, or
     * refusing). Returns 0, or a negated enum ingest_status whose message
     * the owner keeps (the scanner records none). */
    int (*reserve)(struct json_sink *s, size_t n);
};

/* Append n bytes at p to s. Returns 0 or what s->reserve() returned. */
static inline int json_sink_put(struct json_sink *s, const void *p, size_t n)
{
    if (s->cap - s->len < n) {
        int r = s->reserve(s, n);
        if (r < 0)
            return r;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    return 0;
}

/* Copy the next value, whatever its type and size, to out: checked
 * against the whole JSON grammar (which json_lex_skip() does not do),
 * strings also for raw control characters (U+0000..U+001F must be
 * escaped), and written compactly: the white space between tokens is
 * dropped, every token is copied byte for byte. Memory: nothing is held
 * beyond the scanner's buffer; out->reserve() is asked for room as the
 * bytes come. Returns 0, a negated ingest_status with the scanner's
 * message ("NAME:LINE:COL: expected ..."), or what out->reserve()
 * returned. */
int json_lex_copy_value(struct json_lex *lx, struct json_sink *out);

/* Where the members of an object copied by json_lex_copy_object() lie:
 * offsets in the bytes that call wrote (0 is its '{'). */
struct json_member {
    size_t key, key_len; /* the key's raw text, between its quotes */
    size_t val, end;     /* its value: [val, end) */
};
struct json_members {
    struct json_member *m; /* owned: free(m) when done */
    size_t n, cap;
};

/* json_lex_copy_value() that also lists, when the value is an object, its
 * members into idx (emptied first; grown as needed). Same returns. */
int json_lex_copy_object(struct json_lex *lx, struct json_sink *out,
                         struct json_members *idx);

/* json_lex_next_key() for copying: *key is the raw slice between the
 * quotes (esc set when it holds escapes; never decoded), and a key with a
 * raw control character is an error. Same returns. */
int json_lex_next_key_raw(struct json_lex *lx, struct json_str *key);

/* Format sniffing over the first bytes of a file (no scanner needed).
 * json_sniff_first: the first byte after an optional UTF-8 BOM and
 * whitespace, or -1 when there is none in data[0..n). json_sniff_key: true
 * when "key" appears as an object key (quoted, then ':' after optional
 * whitespace) anywhere in data[0..n). */
int json_sniff_first(const unsigned char *data, size_t n);
bool json_sniff_key(const unsigned char *data, size_t n, const char *key);

/* True when key equals the NUL-terminated name (keys with undecoded escapes
 * never match). */
static inline bool json_key_is(const struct json_str *key, const char *name,
                               size_t name_len)
{
    return !key->esc && key->len == name_len &&
           memcmp(key->p, name, name_len) == 0;
}
#define JSON_KEY_IS(key, lit) json_key_is((key), lit, sizeof(lit) - 1)

#endif
