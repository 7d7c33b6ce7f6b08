/* json_lex: streaming JSON pull scanner shared by the JSON trace readers.
 *
 * One buffer of `cap` bytes (plus a NUL sentinel after the valid data) is
 * refilled from the source; bytes before lx->p (and before lx->pin while a
 * key is held) are discarded on refill, so memory stays bounded by the
 * largest token a reader keeps. Newlines are counted only in bytes that are
 * about to be discarded (one pass over the input in total), which gives
 * line:col for error messages without per-byte bookkeeping in the hot loops.
 *
 * Every byte read is checked once, as it enters the buffer, against the
 * readers' string rule (check_bytes(): valid UTF-8 by util/utf8.h, and
 * escapes that are JSON escapes and no lone surrogate), so the rule also
 * covers the strings readers skip without decoding.
 */
#include "ingest/json_lex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ingest/ingest.h"
#include "ingest/source.h"
#include "util/ids.h"
#include "util/utf8.h"

#define END_OF_INPUT 256 /* next_byte() result at the end of the stream */
#define KEYBUF 256
#define PAD 64 /* allocated bytes after the sentinel, for vector loads */

/* Byte classes. C_BAD must be 0: every byte not listed below. */
enum {
    C_BAD = 0,
    C_WS,
    C_ORD, /* may appear inside a skipped value between the classes below */
    C_QUOTE,
    C_OPEN_O,
    C_OPEN_A,
    C_CLOSE_O,
    C_CLOSE_A,
};

static const unsigned char cls[256] = {
    [' '] = C_WS,      ['\t'] = C_WS,     ['\n'] = C_WS,    ['\r'] = C_WS,
    ['0'] = C_ORD,     ['1'] = C_ORD,     ['2'] = C_ORD,    ['3'] = C_ORD,
    ['4'] = C_ORD,     ['5'] = C_ORD,     ['6'] = C_ORD,    ['7'] = C_ORD,
    ['8'] = C_ORD,     ['9'] = C_ORD,     ['-'] = C_ORD,    ['+'] = C_ORD,
    ['.'] = C_ORD,     ['e'] = C_ORD,     ['E'] = C_ORD,    [','] = C_ORD,
    [':'] = C_ORD,     ['t'] = C_ORD,     ['r'] = C_ORD,    ['u'] = C_ORD,
    ['f'] = C_ORD,     ['a'] = C_ORD,     ['l'] = C_ORD,    ['s'] = C_ORD,
    ['n'] = C_ORD,     ['"'] = C_QUOTE,   ['{'] = C_OPEN_O, ['['] = C_OPEN_A,
    ['}'] = C_CLOSE_O, [']'] = C_CLOSE_A,
};

struct json_lex {
    struct source *src;
    char *buf; /* cap + 1 bytes */
    size_t cap;
    char *p;         /* scan position; bytes before it may be discarded */
    char *e;         /* end of valid data; *e == '\0' */
    const char *pin; /* also kept across refills when set (a key) */
    uint64_t base;   /* stream offset of buf[0] */
    bool eof;
    int status; /* 0 or the sticky negated ingest_status */
    /* Newlines counted in stream bytes [0, counted). */
    uint64_t counted, line, line_start;
    uint64_t tok;     /* stream offset of the last token's first byte */
    uint64_t checked; /* stream bytes [0, checked) passed check_bytes() */
    uint64_t mark, mark_line, mark_col;
    bool mark_set, mark_done;
    int depth;
    uint8_t first[JSON_LEX_MAX_DEPTH + 1]; /* next member is the first */
    char keybuf[KEYBUF];
    char *scratch; /* decoded string values */
    size_t scratch_cap;
    char msg[512];
};

static uint64_t offset_of(const struct json_lex *lx, const char *q)
{
    return lx->base + (uint64_t)(q - lx->buf);
}

/* ---- line accounting -------------------------------------------------- */

/* Count newlines in stream bytes [counted, upto), which are in the buffer.
 * memchr: newlines are rare in machine-written JSON. */
static void count_to(struct json_lex *lx, uint64_t upto)
{
    const char *q = lx->buf + (lx->counted - lx->base);
    const char *end = lx->buf + (upto - lx->base);
    const char *nl;

    while (q < end && (nl = memchr(q, '\n', (size_t)(end - q))) != NULL) {
        lx->line++;
        q = nl + 1;
        lx->line_start = offset_of(lx, q);
    }
    lx->counted = upto;
}

/* Count up to `upto`, resolving the mark's line:col on the way. */
static void account(struct json_lex *lx, uint64_t upto)
{
    if (lx->mark_set && !lx->mark_done && lx->mark >= lx->counted &&
        lx->mark < upto) {
        count_to(lx, lx->mark);
        lx->mark_line = lx->line + 1;
        lx->mark_col = lx->mark - lx->line_start + 1;
        lx->mark_done = true;
    }
    count_to(lx, upto);
}

static void line_col(struct json_lex *lx, uint64_t off, uint64_t *line,
                     uint64_t *col)
{
    uint64_t end = offset_of(lx, lx->e);

    if (lx->mark_set && lx->mark_done && off == lx->mark) {
        *line = lx->mark_line;
        *col = lx->mark_col;
        return;
    }
    if (off >= lx->counted && off <= end)
        account(lx, off);
    *line = lx->line + 1;
    *col = off >= lx->line_start ? off - lx->line_start + 1 : 1;
}

/* ---- errors ----------------------------------------------------------- */

static int fail_va(struct json_lex *lx, uint64_t off, const char *fmt,
                   va_list ap)
{
    uint64_t line, col;
    int n;

    if (lx->status)
        return lx->status;
    line_col(lx, off, &line, &col);
    n = snprintf(lx->msg, sizeof(lx->msg), "%s:%llu:%llu: expected ",
                 source_name(lx->src), (unsigned long long)line,
                 (unsigned long long)col);
    if (n > 0 && (size_t)n < sizeof(lx->msg))
        vsnprintf(lx->msg + n, sizeof(lx->msg) - (size_t)n, fmt, ap);
    lx->status = -INGEST_E_MALFORMED;
    return lx->status;
}

static int fail_at(struct json_lex *lx, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct json_lex *lx, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = fail_va(lx, off, fmt, ap);
    va_end(ap);
    return r;
}

int json_lex_fail(struct json_lex *lx, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = fail_va(lx, lx->tok, fmt, ap);
    va_end(ap);
    return r;
}

int json_lex_fail_mark(struct json_lex *lx, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = fail_va(lx, lx->mark_set ? lx->mark : lx->tok, fmt, ap);
    va_end(ap);
    return r;
}

int json_lex_nomem(struct json_lex *lx)
{
    if (lx->status)
        return lx->status;
    snprintf(lx->msg, sizeof(lx->msg), "%s: out of memory",
             source_name(lx->src));
    lx->status = -INGEST_E_NOMEM;
    return lx->status;
}

const char *json_lex_message(const struct json_lex *lx)
{
    return lx->msg;
}

uint64_t json_lex_offset(const struct json_lex *lx)
{
    return offset_of(lx, lx->p);
}

/* Describe the byte at q for "found ..." in messages. */
static int fail_found(struct json_lex *lx, const char *q, const char *what)
{
    unsigned char c = (unsigned char)*q;

    if (q >= lx->e)
        return fail_at(lx, offset_of(lx, q), "%s, found end of input", what);
    if (c >= 0x20 && c < 0x7f)
        return fail_at(lx, offset_of(lx, q), "%s, found '%c'", what, c);
    return fail_at(lx, offset_of(lx, q), "%s, found byte 0x%02x", what, c);
}

/* ---- the string rule ---------------------------------------------------- */

static int hex4(const char *s);

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* The escape at q (q[0] == '\\', n bytes available): its length; 0 when
 * the bytes end before it is decided; -1 when it is not a JSON escape; -2
 * when it is a lone surrogate (a high one not followed by a low one, or a
 * low one alone). It decides as soon as the bytes allow, so that a string
 * whose closing quote is buffered is decided whole. Escapes pair left to
 * right from the stream's start, which in a valid document is how each
 * string's escapes pair. */
static int escape_len(const char *q, size_t n)
{
    int hi, lo;

    if (n < 2)
        return 0;
    if (q[1] && strchr("\"\\/bfnrt", q[1]))
        return 2;
    if (q[1] != 'u')
        return -1;
    for (size_t i = 2; i < 6 && i < n; i++)
        if (!is_hex(q[i]))
            return -1;
    if (n < 6)
        return 0;
    hi = hex4(q + 2);
    if (hi >= 0xdc00 && hi < 0xe000)
        return -2;
    if (hi < 0xd800 || hi >= 0xdc00)
        return 6;
    /* A high surrogate: "\\uDC00".."\\uDFFF" must follow. */
    if ((n > 6 && q[6] != '\\') || (n > 7 && q[7] != 'u') ||
        (n > 8 && q[8] != 'd' && q[8] != 'D') ||
        (n > 9 && (!q[9] || !strchr("cdefCDEF", q[9]))))
        return -2;
    for (size_t i = 10; i < 12 && i < n; i++)
        if (!is_hex(q[i]))
            return -2;
    if (n < 12)
        return 0;
    lo = hex4(q + 8);
    return lo >= 0xdc00 && lo < 0xe000 ? 12 : -2;
}

/* Bytes at q: 16 of them none of which is a backslash or non-ASCII. */
static inline bool plain16(const char *q)
{
#ifdef __SSE2__
    __m128i v = _mm_loadu_si128((const __m128i *)q);
    return _mm_movemask_epi8(
               _mm_or_si128(v, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))) == 0;
#else
    uint64_t w[2];
    memcpy(w, q, 16);
    for (int i = 0; i < 2; i++) {
        uint64_t x = w[i] ^ UINT64_C(0x5c5c5c5c5c5c5c5c); /* '\\' -> 0 */
        uint64_t zero = (x - UINT64_C(0x0101010101010101)) & ~x;
        if ((w[i] | zero) & UINT64_C(0x8080808080808080))
            return false;
    }
    return true;
#endif
}

static int check_fail(struct json_lex *lx, const char *q, int why)
{
    uint64_t off = lx->base + (uint64_t)(q - lx->buf);

    if (why == -2)
        return fail_at(lx, off,
                       "a surrogate escape pair (\\uD800-\\uDBFF then "
                       "\\uDC00-\\uDFFF); a lone surrogate is not a "
                       "character");
    if (*q == '\\')
        return fail_at(lx, off,
                       "a JSON escape (\\\" \\\\ \\/ \\b \\f \\n \\r "
                       "\\t or \\u and 4 hex digits)");
    return fail_at(lx, off, "valid UTF-8, found byte 0x%02x",
                   (unsigned char)*q);
}

/* Check the buffered bytes from stream offset `checked` to lx->e against
 * the string rule. A character or escape the buffer cuts off waits for the
 * next refill (at most 12 bytes), unless at_eof. Returns 0 or the error. */
static int check_bytes(struct json_lex *lx, bool at_eof)
{
    const char *q = lx->buf + (lx->checked - lx->base), *end = lx->e;
    int r = 0;

    while (q < end) {
        while (end - q >= 16 && plain16(q))
            q += 16;
        if (q >= end)
            break;
        unsigned char c = (unsigned char)*q;
        if (c < 0x80 && c != '\\') {
            q++;
            continue;
        }
        r = c == '\\' ? escape_len(q, (size_t)(end - q))
                      : utf8_char((const uint8_t *)q, (size_t)(end - q));
        if (r == 0 && !at_eof)
            break;
        if (r <= 0) {
            lx->checked = lx->base + (uint64_t)(q - lx->buf);
            return check_fail(lx, q, r == -2 ? -2 : -1);
        }
        q += r;
    }
    lx->checked = lx->base + (uint64_t)(q - lx->buf);
    return 0;
}

/* ---- buffer ----------------------------------------------------------- */

/* Double the buffer. malloc + copy rather than realloc: growth is rare,
 * and it keeps the pointer rebasing obviously correct. */
static int grow(struct json_lex *lx)
{
    size_t ncap = lx->cap * 2;
    size_t p = (size_t)(lx->p - lx->buf), e = (size_t)(lx->e - lx->buf);
    size_t pin = lx->pin ? (size_t)(lx->pin - lx->buf) : 0;
    char *nb;

    if (e >= JSON_LEX_MAX_TOKEN)
        return fail_at(lx, offset_of(lx, lx->pin ? lx->pin : lx->p),
                       "a token shorter than %u MiB", JSON_LEX_MAX_TOKEN >> 20);
    nb = malloc(ncap + 1 + PAD);
    if (!nb)
        return json_lex_nomem(lx);
    memcpy(nb, lx->buf, e);
    memset(nb + e, 0, ncap + 1 + PAD - e);
    free(lx->buf);
    lx->buf = nb;
    lx->cap = ncap;
    lx->p = nb + p;
    lx->e = nb + e;
    if (lx->pin)
        lx->pin = nb + pin;
    return 0;
}

/* Discard what precedes lx->p (and lx->pin) and read more input. Returns 1
 * when bytes were added, 0 at end of input, or a negated status. Pointers
 * into the buffer other than p, e and pin are invalid afterwards. */
static int refill(struct json_lex *lx)
{
    char *keep = lx->pin && lx->pin < lx->p ? (char *)lx->pin : lx->p;
    char *unchecked = lx->buf + (lx->checked - lx->base);
    size_t k, live;
    ssize_t n;

    if (lx->status)
        return lx->status;
    if (lx->eof)
        return 0;
    if (unchecked < keep)
        keep = unchecked; /* a cut-off character waits for its bytes */
    k = (size_t)(keep - lx->buf);
    live = (size_t)(lx->e - keep);
    if (k > 0) {
        account(lx, lx->base + k);
        memmove(lx->buf, keep, live);
        lx->base += k;
        lx->p -= k;
        lx->e -= k;
        if (lx->pin)
            lx->pin -= k;
        *lx->e = '\0';
    }
    /* Grow while the kept token fills more than half: keeps refills
     * amortised O(1) per byte however long the token is. */
    if (live >= lx->cap / 2 + 1 && grow(lx) < 0)
        return lx->status;
    n = source_read(lx->src, lx->e, lx->cap - live);
    if (n < 0) {
        const char *why = source_error(lx->src);

        if (why[0])
            snprintf(lx->msg, sizeof(lx->msg), "%s", why);
        else
            snprintf(lx->msg, sizeof(lx->msg), "%s: read error",
                     source_name(lx->src));
        lx->status = source_error_is_data(lx->src) ? -INGEST_E_MALFORMED
                                                   : -INGEST_E_NOINPUT;
        return lx->status;
    }
    if (n == 0) {
        lx->eof = true;
        return check_bytes(lx, true);
    }
    lx->e += n;
    *lx->e = '\0';
    if (check_bytes(lx, false) < 0)
        return lx->status;
    return 1;
}

/* Make at least n bytes available at lx->p unless the input ends first.
 * Returns the bytes available (may be < n at the end) or a negated status. */
static long ensure(struct json_lex *lx, size_t n)
{
    while ((size_t)(lx->e - lx->p) < n) {
        int r = refill(lx);
        if (r < 0)
            return r;
        if (r == 0)
            break;
    }
    return (long)(lx->e - lx->p);
}

/* Next non-whitespace byte, not consumed: 0..255, END_OF_INPUT, or a
 * negated status. */
static inline int next_byte(struct json_lex *lx)
{
    for (;;) {
        const unsigned char *q = (const unsigned char *)lx->p;
        int r;

        while (cls[*q] == C_WS)
            q++;
        lx->p = (char *)q;
        if (q < (const unsigned char *)lx->e)
            return *q;
        r = refill(lx);
        if (r < 0)
            return r;
        if (r == 0)
            return END_OF_INPUT;
    }
}

/* ---- create / destroy ------------------------------------------------- */

static size_t default_bufsize = JSON_LEX_DEFAULT_BUFSIZE;

void json_lex_set_default_bufsize(size_t bufsize)
{
    default_bufsize = bufsize ? bufsize : JSON_LEX_DEFAULT_BUFSIZE;
}

struct json_lex *json_lex_create(struct source *src, size_t bufsize)
{
    struct json_lex *lx = calloc(1, sizeof(*lx));
    const unsigned char *head;

    if (!lx)
        return NULL;
    lx->src = src;
    lx->cap = bufsize ? bufsize : default_bufsize;
    lx->buf = calloc(1, lx->cap + 1 + PAD);
    if (!lx->buf) {
        free(lx);
        return NULL;
    }
    lx->p = lx->e = lx->buf;
    *lx->e = '\0';
    /* Start where the source is (format detection may have consumed a
     * blank run), after a byte order mark at the very start. */
    source_position(src, &lx->base, &lx->line, &lx->line_start);
    if (lx->base == 0 && source_peek(src, &head, 3) == 3 && head[0] == 0xef &&
        head[1] == 0xbb && head[2] == 0xbf) {
        char bom[3];
        if (source_read(src, bom, 3) == 3)
            lx->base = lx->line_start = 3;
    }
    lx->counted = lx->checked = lx->base;
    return lx;
}

void json_lex_destroy(struct json_lex *lx)
{
    if (!lx)
        return;
    free(lx->scratch);
    free(lx->buf);
    free(lx);
}

/* ---- tokens ----------------------------------------------------------- */

/* Odd number of backslashes right before q (not looking before `from`)? */
static bool quote_escaped(const char *from, const char *q)
{
    size_t n = 0;

    while (q - n > from && q[-1 - (long)n] == '\\')
        n++;
    return n & 1;
}

/* lx->p at the opening quote: set *out to the body, consume the string. */
static int scan_string(struct json_lex *lx, struct json_str *out)
{
    const unsigned char *q0 = (const unsigned char *)lx->p + 1;
    size_t off, chk;
    bool esc = false;

    lx->tok = offset_of(lx, lx->p);
    /* Most keys and IDs are short and plain: an inline scan beats memchr.
     * The NUL sentinel at lx->e stops it; SSE2 loads may read into the
     * padding after the sentinel, which is allocated. */
#ifdef __SSE2__
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)q0);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                         _mm_cmpeq_epi8(v, _mm_setzero_si128())));
        if (m) {
            q0 += __builtin_ctz(m);
            break;
        }
        q0 += 16;
    }
#else
    for (int i = 0; i < 48 && *q0 != '"' && *q0 != '\\' && *q0; i++)
        q0++;
#endif
    if (*q0 == '"') {
        out->p = lx->p + 1;
        out->len = (size_t)((const char *)q0 - out->p);
        out->esc = false;
        lx->p = (char *)q0 + 1;
        return 0;
    }
    off = chk = (size_t)((const char *)q0 - lx->p);
    for (;;) {
        char *q = memchr(lx->p + off, '"', (size_t)(lx->e - lx->p) - off);
        int r;

        if (q) {
            if (!esc && memchr(lx->p + chk, '\\', (size_t)(q - lx->p) - chk))
                esc = true;
            chk = (size_t)(q - lx->p);
            if (esc && quote_escaped(lx->p + 1, q)) {
                off = chk + 1;
                continue;
            }
            out->p = lx->p + 1;
            out->len = (size_t)(q - out->p);
            out->esc = esc;
            lx->p = q + 1;
            return 0;
        }
        off = (size_t)(lx->e - lx->p);
        r = refill(lx);
        if (r < 0)
            return r;
        if (r == 0)
            return fail_at(lx, lx->tok, "a closing '\"' for this string");
    }
}

/* lx->p just after an opening quote: consume the string, keeping nothing. */
static int skip_string(struct json_lex *lx)
{
    char *cur = lx->p;

    for (;;) {
        char *q = memchr(cur, '"', (size_t)(lx->e - cur));
        char *t;
        size_t back;
        int r;

        if (q) {
            if (quote_escaped(lx->p, q)) {
                cur = q + 1;
                continue;
            }
            lx->p = q + 1;
            return 0;
        }
        /* Keep a trailing run of backslashes: it decides the next quote. */
        for (t = lx->e; t > lx->p && t[-1] == '\\'; t--)
            ;
        back = (size_t)(lx->e - t);
        lx->p = t;
        r = refill(lx);
        if (r < 0)
            return r;
        if (r == 0)
            return fail_at(lx, offset_of(lx, lx->e),
                           "a closing '\"', found end of input");
        cur = lx->p + back;
    }
}

static bool is_numch(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
           c == 'e' || c == 'E';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* JSON number grammar over s[0..n). */
static bool number_valid(const char *s, size_t n)
{
    size_t i = 0, d;

    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && is_digit(s[i]))
            i++;
    else
        return false;
    if (i < n && s[i] == '.') {
        for (d = ++i; i < n && is_digit(s[i]); i++)
            ;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (d = i; i < n && is_digit(s[i]); i++)
            ;
        if (i == d)
            return false;
    }
    return i == n;
}

/* lx->p at a number's first byte: set *out to its text, consume it. */
static int scan_number(struct json_lex *lx, struct json_str *out)
{
    size_t off = 0;

    lx->tok = offset_of(lx, lx->p);
    for (;;) {
        while (is_numch((unsigned char)lx->p[off]))
            off++;
        if (lx->p + off < lx->e)
            break;
        int r = refill(lx);
        if (r < 0)
            return r;
        if (r == 0)
            break;
    }
    if (!number_valid(lx->p, off))
        return fail_at(lx, lx->tok, "a number");
    out->p = lx->p;
    out->len = off;
    out->esc = false;
    lx->p += off;
    return 0;
}

/* lx->p at 't', 'f' or 'n': consume the literal, return its enum type. */
static int scan_literal(struct json_lex *lx, struct json_str *out)
{
    static const char *const words[] = {"true", "false", "null"};
    static const int types[] = {JSON_TRUE, JSON_FALSE, JSON_NULL};
    int i = *lx->p == 't' ? 0 : *lx->p == 'f' ? 1 : 2;
    size_t n = strlen(words[i]);
    long have;

    lx->tok = offset_of(lx, lx->p);
    have = ensure(lx, n);
    if (have < 0)
        return (int)have;
    /* Trailing letters ("nullx") fail at the next token. */
    if ((size_t)have < n || memcmp(lx->p, words[i], n) != 0)
        return fail_at(lx, lx->tok, "a JSON value");
    out->p = words[i];
    out->len = n;
    out->esc = false;
    lx->p += n;
    return types[i];
}

/* lx->p at '{' or '[': consume the whole container without decoding it. */
static int skip_container(struct json_lex *lx)
{
    uint64_t is_obj[JSON_LEX_MAX_DEPTH / 64 + 1] = {0};
    int d = 0, maxd = JSON_LEX_MAX_DEPTH - lx->depth;
    const unsigned char *q = (const unsigned char *)lx->p;
    int r;

    lx->tok = offset_of(lx, lx->p);
    for (;;) {
        unsigned char k;

        while ((unsigned)(cls[*q] - C_WS) <= C_ORD - C_WS)
            q++;
        k = cls[*q];
        if (k == C_QUOTE) {
            lx->p = (char *)q + 1;
            if ((r = skip_string(lx)) < 0)
                return r;
            q = (const unsigned char *)lx->p;
        } else if (k == C_OPEN_O || k == C_OPEN_A) {
            if (d >= maxd)
                return fail_at(lx, offset_of(lx, (const char *)q),
                               "nesting at most %d deep", JSON_LEX_MAX_DEPTH);
            if (k == C_OPEN_O)
                is_obj[d / 64] |= 1ull << (d % 64);
            else
                is_obj[d / 64] &= ~(1ull << (d % 64));
            d++;
            q++;
        } else if (k == C_CLOSE_O || k == C_CLOSE_A) {
            d--;
            if (!(is_obj[d / 64] >> (d % 64) & 1) != (k == C_CLOSE_A))
                return fail_found(lx, (const char *)q,
                                  k == C_CLOSE_A ? "'}'" : "']'");
            q++;
            if (d == 0) {
                lx->p = (char *)q;
                return 0;
            }
        } else if (q == (const unsigned char *)lx->e) {
            lx->p = (char *)q;
            if ((r = refill(lx)) < 0)
                return r;
            if (r == 0)
                return fail_found(lx, lx->e, "a closing bracket");
            q = (const unsigned char *)lx->p;
        } else {
            return fail_found(lx, (const char *)q, "a JSON value");
        }
    }
}

/* ---- public reader API ------------------------------------------------ */

int json_lex_peek(struct json_lex *lx)
{
    int c = next_byte(lx);

    switch (c) {
    case END_OF_INPUT:
        return JSON_EOF;
    case '{':
        return JSON_OBJECT;
    case '[':
        return JSON_ARRAY;
    case '"':
        return JSON_STRING;
    case 't':
        return JSON_TRUE;
    case 'f':
        return JSON_FALSE;
    case 'n':
        return JSON_NULL;
    default:
        if (c < 0)
            return c;
        if (c == '-' || (c >= '0' && c <= '9'))
            return JSON_NUMBER;
        return fail_found(lx, lx->p, "a JSON value");
    }
}

static int begin(struct json_lex *lx, char open, const char *what)
{
    struct json_str lit;
    int c = next_byte(lx);

    if (c < 0)
        return c;
    lx->tok = offset_of(lx, lx->p);
    if (c == open) {
        if (lx->depth >= JSON_LEX_MAX_DEPTH)
            return fail_at(lx, lx->tok, "nesting at most %d deep",
                           JSON_LEX_MAX_DEPTH);
        lx->p++;
        lx->first[++lx->depth] = 1;
        return 1;
    }
    if (c == 'n') {
        c = scan_literal(lx, &lit);
        return c < 0 ? c : 0;
    }
    return fail_found(lx, lx->p, what);
}

int json_lex_begin_object(struct json_lex *lx)
{
    return begin(lx, '{', "an object");
}

int json_lex_begin_array(struct json_lex *lx)
{
    return begin(lx, '[', "an array");
}

/* Shared by next_key/next_elem: 1 = member follows, 0 = closed. */
static int next_member(struct json_lex *lx, char close, const char *what)
{
    int c = next_byte(lx);

    if (c < 0)
        return c;
    if (lx->depth == 0)
        return fail_found(lx, lx->p, "a value inside a container");
    if (c == close) {
        lx->p++;
        lx->depth--;
        return 0;
    }
    if (lx->first[lx->depth]) {
        lx->first[lx->depth] = 0;
        return 1;
    }
    if (c != ',')
        return fail_found(lx, lx->p, what);
    lx->p++;
    c = next_byte(lx);
    return c < 0 ? c : 1;
}

/* The next key as a raw slice, its ':' consumed: 1, 0 at the closing '}',
 * or a negated status. */
static int next_key_raw(struct json_lex *lx, struct json_str *key)
{
    int c = next_member(lx, '}', "',' or '}'");

    if (c <= 0)
        return c;
    if (*lx->p != '"' || lx->p == lx->e)
        return fail_found(lx, lx->p, "a key in double quotes");
    if ((c = scan_string(lx, key)) < 0)
        return c;
    lx->pin = key->p;
    c = next_byte(lx);
    key->p = lx->pin;
    lx->pin = NULL;
    if (c < 0)
        return c;
    if (c != ':')
        return fail_found(lx, lx->p, "':' after a key");
    lx->p++;
    return 1;
}

int json_lex_next_key(struct json_lex *lx, struct json_str *key)
{
    int c = next_key_raw(lx, key);

    if (c <= 0)
        return c;
    if (key->esc && key->len < KEYBUF) {
        long n = json_unescape(key->p, key->len, lx->keybuf);
        if (n >= 0) {
            key->p = lx->keybuf;
            key->len = (size_t)n;
            key->esc = false;
        }
    }
    return 1;
}

int json_lex_next_elem(struct json_lex *lx)
{
    int c = next_member(lx, ']', "',' or ']'");

    if (c == 1 && lx->p == lx->e)
        return fail_found(lx, lx->p, "a value");
    return c;
}

int json_lex_string(struct json_lex *lx, struct json_str *out,
                    const char *expected)
{
    int c = next_byte(lx);

    if (c < 0)
        return c;
    if (c != '"') {
        lx->tok = offset_of(lx, lx->p);
        return fail_found(lx, lx->p, expected);
    }
    return scan_string(lx, out);
}

/* Decode out's escapes into the scratch buffer. */
static int decode_scratch(struct json_lex *lx, struct json_str *out)
{
    long n;

    if (out->len > lx->scratch_cap) {
        size_t ncap = out->len < 256 ? 256 : out->len;
        char *ns = realloc(lx->scratch, ncap);
        if (!ns)
            return json_lex_nomem(lx);
        lx->scratch = ns;
        lx->scratch_cap = ncap;
    }
    n = json_unescape(out->p, out->len, lx->scratch);
    if (n < 0)
        return fail_at(lx, lx->tok, "valid escape sequences in this string");
    out->p = lx->scratch;
    out->len = (size_t)n;
    out->esc = false;
    return 0;
}

int json_lex_text(struct json_lex *lx, struct json_str *out, int *type)
{
    int c = next_byte(lx), r;

    if (c < 0)
        return c;
    out->p = "";
    out->len = 0;
    out->esc = false;
    if (c == '"') {
        *type = JSON_STRING;
        if ((r = scan_string(lx, out)) < 0)
            return r;
        return out->esc ? decode_scratch(lx, out) : 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        *type = JSON_NUMBER;
        return scan_number(lx, out);
    }
    if (c == 't' || c == 'f' || c == 'n') {
        r = scan_literal(lx, out);
        *type = r;
        return r < 0 ? r : 0;
    }
    if (c == '{' || c == '[') {
        *type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
        return skip_container(lx);
    }
    lx->tok = offset_of(lx, lx->p);
    return fail_found(lx, lx->p, "a JSON value");
}

/* Integer text (JSON number syntax) to int64; false when out of range or
 * not integral. */
static bool parse_int64(const char *s, size_t n, int64_t *out)
{
    uint64_t v = 0, lim;
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg;

    if (!number_valid(s, n))
        return false;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n && is_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i < n) {
        /* Fraction or exponent: exporters that print uint64 as doubles. */
        char tmp[64];
        double d;
        if (n >= sizeof(tmp))
            return false;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        d = strtod(tmp, NULL);
        if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0) ||
            (double)(int64_t)d != d)
            return false;
        *out = (int64_t)d;
        return true;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Unsigned integer text (JSON number syntax, no sign) to uint64; false
 * when negative, out of range or not integral. */
static bool parse_uint64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;

    if (!number_valid(s, n) || s[0] == '-')
        return false;
    for (; i < n && is_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i < n) {
        /* Fraction or exponent: exporters that print uint64 as doubles. */
        char tmp[64];
        double d;
        if (n >= sizeof(tmp))
            return false;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        d = strtod(tmp, NULL);
        if (!(d >= 0.0 && d < 18446744073709551616.0) ||
            (double)(uint64_t)d != d)
            return false;
        *out = (uint64_t)d;
        return true;
    }
    *out = v;
    return true;
}

/* The next value as the text of a number or a numeric string. */
static int number_text(struct json_lex *lx, struct json_str *s,
                       const char *expected)
{
    int c = next_byte(lx), r;

    if (c < 0)
        return c;
    if (c == '"') {
        if ((r = scan_string(lx, s)) < 0)
            return r;
        if (s->esc && (r = decode_scratch(lx, s)) < 0)
            return r;
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(lx, s);
    lx->tok = offset_of(lx, lx->p);
    return fail_found(lx, lx->p, expected);
}

int json_lex_int64(struct json_lex *lx, int64_t *out, const char *expected)
{
    struct json_str s;
    int r = number_text(lx, &s, expected);

    if (r < 0)
        return r;
    if (!parse_int64(s.p, s.len, out))
        return fail_at(lx, lx->tok, "%s", expected);
    return 0;
}

int json_lex_uint64(struct json_lex *lx, uint64_t *out, const char *expected)
{
    struct json_str s;
    int r = number_text(lx, &s, expected);

    if (r < 0)
        return r;
    if (!parse_uint64(s.p, s.len, out)) {
        if (s.len > 0 && s.p[0] == '-')
            return fail_at(lx, lx->tok, "%s, found a negative value", expected);
        return fail_at(lx, lx->tok, "%s", expected);
    }
    return 0;
}

/* Next value as the text of an ID string: 1 with *s set, 0 for null. */
static int id_text(struct json_lex *lx, struct json_str *s,
                   const char *expected)
{
    int c = next_byte(lx), r;

    if (c < 0)
        return c;
    if (c == 'n') {
        r = scan_literal(lx, s);
        return r < 0 ? r : 0;
    }
    if (c != '"') {
        lx->tok = offset_of(lx, lx->p);
        return fail_found(lx, lx->p, expected);
    }
    if ((r = scan_string(lx, s)) < 0)
        return r;
    if (s->esc && (r = decode_scratch(lx, s)) < 0)
        return r;
    return 1;
}

int json_lex_trace_id(struct json_lex *lx, uint8_t out[16],
                      const char *expected)
{
    struct json_str s;
    int r = id_text(lx, &s, expected);

    if (r <= 0) {
        memset(out, 0, 16);
        return r;
    }
    if (id_parse_trace(s.p, s.len, out) == 0)
        return 0;
    return fail_at(lx, lx->tok, "%s", expected);
}

int json_lex_span_id(struct json_lex *lx, uint64_t *out, const char *expected)
{
    struct json_str s;
    int r = id_text(lx, &s, expected);

    *out = 0;
    if (r <= 0)
        return r;
    if (id_parse_span(s.p, s.len, out) == 0)
        return 0;
    return fail_at(lx, lx->tok, "%s", expected);
}

int json_lex_skip(struct json_lex *lx)
{
    struct json_str s;
    int c = next_byte(lx), r;

    if (c < 0)
        return c;
    lx->tok = offset_of(lx, lx->p);
    if (c == '"') {
        lx->p++;
        return skip_string(lx);
    }
    if (c == '{' || c == '[')
        return skip_container(lx);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(lx, &s);
    if (c == 't' || c == 'f' || c == 'n') {
        r = scan_literal(lx, &s);
        return r < 0 ? r : 0;
    }
    return fail_found(lx, lx->p, "a JSON value");
}

void json_lex_position(struct json_lex *lx, uint64_t *line, uint64_t *col)
{
    (void)next_byte(lx); /* an error here stays recorded for the caller */
    line_col(lx, offset_of(lx, lx->p), line, col);
}

void json_lex_mark(struct json_lex *lx)
{
    (void)next_byte(lx); /* an error here stays recorded for the caller */
    lx->mark = offset_of(lx, lx->p);
    lx->mark_set = true;
    lx->mark_done = false;
}

/* ---- copying: the streaming rewriter's pass-through ------------------- */

int json_lex_next_key_raw(struct json_lex *lx, struct json_str *key)
{
    int c = next_key_raw(lx, key);

    if (c <= 0)
        return c;
    for (size_t i = 0; i < key->len; i++)
        if ((unsigned char)key->p[i] < 0x20) {
            lx->tok = offset_of(lx, key->p + i);
            return fail_found(lx, key->p + i,
                              "a key without raw control characters (JSON "
                              "escapes them)");
        }
    return 1;
}

/* What the copier expects next. */
enum {
    CP_VALUE,
    CP_ELEM_OR_CLOSE, /* after '[' */
    CP_KEY,           /* after ',' in an object */
    CP_KEY_OR_CLOSE,  /* after '{' */
    CP_COLON,
    CP_NEXT, /* ',' or the closing bracket */
};

static const char *const cp_what[] = {
    "a JSON value",           "a JSON value or ']'",
    "a key in double quotes", "a key in double quotes or '}'",
    "':' after a key",        "',' or a closing bracket",
};

/* One copy in progress. Bytes of the buffer from `run` up to the scan
 * position are copied but not yet written to the sink; `done` counts
 * those written, so that done + (q - run) is the output offset of q. */
struct cp {
    struct json_lex *lx;
    struct json_sink *out;
    const char *run;
    size_t done;
    struct json_members *idx;
};

/* Write the pending bytes up to q. */
static inline int cp_put(struct cp *c, const char *q)
{
    size_t n = (size_t)(q - c->run);
    int r;

    if (n == 0)
        return 0;
    if ((r = json_sink_put(c->out, c->run, n)) < 0)
        return r;
    c->done += n;
    c->run = q;
    return 0;
}

static inline size_t cp_at(const struct cp *c, const char *q)
{
    return c->done + (size_t)(q - c->run);
}

/* The first byte at q (16 of them available, the NUL sentinel stopping
 * the search at the end of the data) that ends a run of plain string
 * bytes: '"', '\\' or a control character. */
static inline const char *cp_string_stop(const char *q)
{
#ifdef __SSE2__
    for (;;) {
        __m128i v = _mm_loadu_si128((const __m128i *)q);
        __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)),
                                     _mm_set1_epi8(0x1f));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            ctl, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))));
        if (m)
            return q + __builtin_ctz(m);
        q += 16;
    }
#else
    while ((unsigned char)*q >= 0x20 && *q != '"' && *q != '\\')
        q++;
    return q;
#endif
}

/* Refill after writing the pending bytes up to `keep`, which stays. The
 * caller continues at c->lx->p (== c->run). Returns 1, 0 at the end of
 * input, or a negated status. */
static int cp_refill(struct cp *c, const char *keep)
{
    int r;

    if ((r = cp_put(c, keep)) < 0)
        return r;
    c->lx->p = (char *)keep;
    r = refill(c->lx);
    c->run = c->lx->p;
    return r;
}

/* Copy the string whose opening quote is at *qp; moves *qp past the
 * closing quote. */
static int cp_string(struct cp *c, const char **qp)
{
    struct json_lex *lx = c->lx;
    const char *q = *qp + 1;
    int r;

    for (;;) {
        q = cp_string_stop(q);
        if (*q == '"') {
            *qp = q + 1;
            return 0;
        }
        if (*q == '\\' && q + 1 < lx->e) {
            /* check_bytes() checked the escape; its bytes after the
             * backslash hold no quote, backslash or control byte. */
            q += 2;
            continue;
        }
        if (q < lx->e && *q != '\\')
            return fail_at(lx, offset_of(lx, q),
                           "a string without raw control characters (JSON "
                           "escapes U+0000 to U+001F), found byte 0x%02x",
                           (unsigned char)*q);
        /* The end of the data, or a backslash that ends it (kept). */
        if ((r = cp_refill(c, q)) < 0)
            return r;
        if (r == 0)
            return fail_found(lx, lx->e, "a closing '\"'");
        q = lx->p;
    }
}

/* Copy the number or literal whose first byte is at *qp, checked. */
static int cp_scalar(struct cp *c, const char **qp)
{
    struct json_lex *lx = c->lx;
    const char *t = *qp, *q;
    int r;

    for (;;) {
        q = t;
        if (*q == 't' || *q == 'f' || *q == 'n') {
            const char *w = *q == 't' ? "true" : *q == 'f' ? "false" : "null";
            size_t n = strlen(w);
            if ((size_t)(lx->e - q) >= n || lx->eof) {
                if ((size_t)(lx->e - q) < n || memcmp(q, w, n) != 0)
                    return fail_at(lx, offset_of(lx, q), "a JSON value");
                *qp = q + n;
                return 0;
            }
        } else {
            while (is_numch((unsigned char)*q))
                q++;
            if (q < lx->e || lx->eof) {
                if (!number_valid(t, (size_t)(q - t)))
                    return fail_at(lx, offset_of(lx, t), "a number");
                *qp = q;
                return 0;
            }
        }
        /* The token may go on past the data: keep it, read more. */
        if ((r = cp_refill(c, t)) < 0)
            return r;
        t = lx->p;
    }
}

static int cp_index(struct cp *c, const char *key_end, size_t key_at)
{
    struct json_members *x = c->idx;

    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 16;
        struct json_member *nm = realloc(x->m, cap * sizeof(*nm));
        if (!nm)
            return json_lex_nomem(c->lx);
        x->m = nm;
        x->cap = cap;
    }
    x->m[x->n++] = (struct json_member){
        .key = key_at,
        .key_len = cp_at(c, key_end) - key_at,
    };
    return 0;
}

static int copy_value(struct json_lex *lx, struct json_sink *out,
                      struct json_members *idx)
{
    uint64_t is_obj[JSON_LEX_MAX_DEPTH / 64 + 1];
    int d = 0, maxd = JSON_LEX_MAX_DEPTH - lx->depth, st = CP_VALUE, r;
    struct cp c = {.lx = lx, .out = out, .idx = idx};
    const char *q;

    if (lx->status)
        return lx->status;
    if ((r = next_byte(lx)) < 0)
        return r;
    lx->tok = offset_of(lx, lx->p);
    q = c.run = lx->p;
    if (idx)
        idx->n = 0;
    for (;;) {
        unsigned char ch = (unsigned char)*q;
        unsigned char k = cls[ch];

        if (k == C_WS) {
            if ((r = cp_put(&c, q)) < 0)
                return r;
            while (cls[(unsigned char)*q] == C_WS)
                q++;
            c.run = q;
            continue;
        }
        if (q == lx->e) {
            if ((r = cp_refill(&c, q)) < 0)
                return r;
            if (r == 0)
                return fail_found(lx, lx->e, cp_what[st]);
            q = lx->p;
            continue;
        }
        switch (st) {
        case CP_NEXT:
            if (ch == ',') {
                q++;
                st = is_obj[(d - 1) / 64] >> ((d - 1) % 64) & 1 ? CP_KEY
                                                                : CP_VALUE;
                continue;
            }
            if (k != C_CLOSE_O && k != C_CLOSE_A)
                return fail_found(lx, q, cp_what[st]);
            goto close;
        case CP_COLON:
            if (ch != ':')
                return fail_found(lx, q, cp_what[st]);
            q++;
            st = CP_VALUE;
            continue;
        case CP_KEY_OR_CLOSE:
            if (k == C_CLOSE_O)
                goto close;
            /* fall through */
        case CP_KEY:
            if (ch != '"')
                return fail_found(lx, q, cp_what[st]);
            if (d == 1 && idx) {
                size_t at = cp_at(&c, q + 1);
                if ((r = cp_string(&c, &q)) < 0 ||
                    (r = cp_index(&c, q - 1, at)) < 0)
                    return r;
            } else if ((r = cp_string(&c, &q)) < 0) {
                return r;
            }
            st = CP_COLON;
            continue;
        case CP_ELEM_OR_CLOSE:
            if (k == C_CLOSE_A)
                goto close;
            /* fall through */
        default:
            break;
        }
        /* A value. */
        if (d == 1 && idx && is_obj[0] & 1)
            idx->m[idx->n - 1].val = cp_at(&c, q);
        if (k == C_OPEN_O || k == C_OPEN_A) {
            if (d >= maxd)
                return fail_at(lx, offset_of(lx, q), "nesting at most %d deep",
                               JSON_LEX_MAX_DEPTH);
            if (k == C_OPEN_O)
                is_obj[d / 64] |= 1ull << (d % 64);
            else
                is_obj[d / 64] &= ~(1ull << (d % 64));
            d++;
            q++;
            st = k == C_OPEN_O ? CP_KEY_OR_CLOSE : CP_ELEM_OR_CLOSE;
            continue;
        }
        if (ch == '"')
            r = cp_string(&c, &q);
        else if (ch == '-' || (ch >= '0' && ch <= '9') || ch == 't' ||
                 ch == 'f' || ch == 'n')
            r = cp_scalar(&c, &q);
        else
            return fail_found(lx, q, cp_what[st]);
        if (r < 0)
            return r;
        goto value_done;
    close:
        d--;
        if (!(is_obj[d / 64] >> (d % 64) & 1) != (k == C_CLOSE_A))
            return fail_found(lx, q, k == C_CLOSE_A ? "'}'" : "']'");
        q++;
    value_done:
        if (d == 0)
            break;
        if (d == 1 && idx && is_obj[0] & 1)
            idx->m[idx->n - 1].end = cp_at(&c, q);
        st = CP_NEXT;
    }
    if ((r = cp_put(&c, q)) < 0)
        return r;
    lx->p = (char *)q;
    return 0;
}

int json_lex_copy_value(struct json_lex *lx, struct json_sink *out)
{
    return copy_value(lx, out, NULL);
}

int json_lex_copy_object(struct json_lex *lx, struct json_sink *out,
                         struct json_members *idx)
{
    return copy_value(lx, out, idx);
}

/* ---- helpers for readers -------------------------------------------- */

int json_lex_copy(struct json_lex *lx, struct json_buf *b, const char *p,
                  size_t n)
{
    if (n > b->cap) {
        size_t ncap = n < 64 ? 64 : n + n / 2;
        char *np = realloc(b->p, ncap);
        if (!np)
            return json_lex_nomem(lx);
        b->p = np;
        b->cap = ncap;
    }
    if (n)
        memcpy(b->p, p, n);
    b->len = n;
    return 0;
}

int json_sniff_first(const unsigned char *data, size_t n)
{
    size_t i = 0;

    if (n >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf)
        i = 3;
    while (i < n && cls[data[i]] == C_WS)
        i++;
    return i < n ? data[i] : -1;
}

bool json_sniff_key(const unsigned char *data, size_t n, const char *key)
{
    size_t k = strlen(key);

    for (size_t i = 0; i + k + 2 < n; i++) {
        size_t j = i + k + 2;
        if (data[i] != '"' || data[i + k + 1] != '"' ||
            memcmp(data + i + 1, key, k) != 0)
            continue;
        while (j < n && cls[data[j]] == C_WS)
            j++;
        if (j < n && data[j] == ':')
            return true;
    }
    return false;
}

/* ---- unescaping ------------------------------------------------------- */

static int hex4(const char *s)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decode "\uXXXX" (and a following low surrogate) at s[i]; advances *i.
 * A lone surrogate is no character: -1, as check_bytes() rules. */
static long unescape_u(const char *s, size_t len, size_t *i, char *o)
{
    int hi, lo;
    unsigned cp;

    if (*i + 6 > len || (hi = hex4(s + *i + 2)) < 0)
        return -1;
    *i += 6;
    cp = (unsigned)hi;
    if (hi >= 0xd800 && hi < 0xdc00) {
        if (!(*i + 6 <= len && s[*i] == '\\' && s[*i + 1] == 'u' &&
              (lo = hex4(s + *i + 2)) >= 0xdc00 && lo < 0xe000))
            return -1;
        cp =
            0x10000 + (((unsigned)hi - 0xd800) << 10) + ((unsigned)lo - 0xdc00);
        *i += 6;
    } else if (hi >= 0xdc00 && hi < 0xe000) {
        return -1;
    }
    return (long)put_utf8(o, cp);
}

long json_unescape(const char *s, size_t len, char *out)
{
    size_t i = 0, o = 0;

    while (i < len) {
        const char *bs = memchr(s + i, '\\', len - i);
        size_t run = bs ? (size_t)(bs - (s + i)) : len - i;
        long n;

        memmove(out + o, s + i, run);
        o += run;
        i += run;
        if (i >= len)
            break;
        if (i + 1 >= len)
            return -1;
        switch (s[i + 1]) {
        case '"':
            out[o++] = '"';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        case '/':
            out[o++] = '/';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            if ((n = unescape_u(s, len, &i, out + o)) < 0)
                return -1;
            o += (size_t)n;
            continue;
        default:
            return -1;
        }
        i += 2;
    }
    return (long)o;
}
