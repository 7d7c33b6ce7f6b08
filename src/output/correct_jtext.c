/* correct_jtext: compact JSON text in memory for the streaming OTLP JSON
 * rewriter (see correct_jtext.h). */
#include "output/correct_jtext.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ingest/json_lex.h"
#include "model/clock_domain.h"
#include "model/clock_model.h"
#include "util/ids.h"

#define KEY_MAX 256  /* keys with escapes longer than this match no name */
#define RES_CACHE 16 /* resources remembered (hosts of a batch repeat) */

int correct_jtext_grow(struct correct_jtext_buf *b, size_t n)
{
    size_t cap;
    char *np;

    if (b->cap - b->len >= n)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    if (!(np = realloc(b->p, cap)))
        return -1;
    b->p = np;
    b->cap = cap;
    return 0;
}

/* ---- compact JSON in memory ----------------------------------------------
 * Text json_lex_copy_value() wrote: valid, without white space. */

/* The closing quote of the string whose opening quote is at p. */
const char *correct_jtext_str_end(const char *p)
{
    const char *q = p + 1;

    for (;;) {
#ifdef __SSE2__
        __m128i v = _mm_loadu_si128((const __m128i *)q);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                         _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        if (!m) {
            q += 16;
            continue;
        }
        q += __builtin_ctz(m);
#else
        while (*q != '"' && *q != '\\')
            q++;
#endif
        if (*q == '"')
            return q;
        q += 2; /* an escape: its second byte ends nothing */
    }
}

/* The next '"', '{', '}', '[' or ']' at or after p. */
static inline const char *jt_special(const char *p)
{
#ifdef __SSE2__
    for (;;) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* '[' ']' are 0x5b 0x5d, '{' '}' 0x7b 0x7d: clear bit 0x20 and
         * compare with '[' and ']'. */
        __m128i f = _mm_andnot_si128(_mm_set1_epi8(0x20), v);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                         _mm_or_si128(_mm_cmpeq_epi8(f, _mm_set1_epi8('[')),
                                      _mm_cmpeq_epi8(f, _mm_set1_epi8(']')))));
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#else
    while (*p != '"' && *p != '{' && *p != '}' && *p != '[' && *p != ']')
        p++;
    return p;
#endif
}

/* One past the end of the value at p. */
const char *correct_jtext_skip(const char *p)
{
    int d = 0;

    if (*p != '{' && *p != '[') {
        if (*p == '"')
            return correct_jtext_str_end(p) + 1;
        while (*p != ',' && *p != '}' && *p != ']' && *p)
            p++;
        return p;
    }
    for (;;) {
        p = jt_special(p);
        switch (*p) {
        case '"':
            p = correct_jtext_str_end(p) + 1;
            continue;
        case '{':
        case '[':
            d++;
            break;
        default: /* '}' or ']' */
            if (--d == 0)
                return p + 1;
            break;
        }
        p++;
    }
}

/* Iterate the members of the object whose '{' is at *pp: 1 with the key
 * (raw, between the quotes) and the value [*val, *vend), *pp moved to the
 * ',' or '}' after it; 0 at the end (*pp at the '}'). */
int correct_jtext_member(const char **pp, const char **key, size_t *klen,
                         bool *kesc, const char **val, const char **vend)
{
    const char *p = *pp, *ke;

    if (*p == '}' || p[1] == '}') {
        *pp = *p == '}' ? p : p + 1;
        return 0;
    }
    p++;
    ke = correct_jtext_str_end(p);
    *key = p + 1;
    *klen = (size_t)(ke - p - 1);
    *kesc = memchr(*key, '\\', *klen) != NULL;
    *val = ke + 2;
    *vend = *pp = correct_jtext_skip(*val);
    return 1;
}

/* Iterate the elements of the array whose '[' is at *pp. */
int correct_jtext_elem(const char **pp, const char **val, const char **vend)
{
    const char *p = *pp;

    if (*p == ']' || p[1] == ']') {
        *pp = *p == ']' ? p : p + 1;
        return 0;
    }
    *val = p + 1;
    *vend = *pp = correct_jtext_skip(*val);
    return 1;
}

/* The string [v, vend) (quotes included) decoded into c->dec, followed by
 * a NUL. Returns its length, or -1 (ENOMEM). */
long correct_jtext_decode(struct correct_jtext_buf *dec, const char *v,
                          const char *vend)
{
    size_t n = (size_t)(vend - v) - 2;
    long m;

    dec->len = 0;
    if (correct_jtext_reserve(dec, n + 1) < 0)
        return -1;
    if (memchr(v + 1, '\\', n)) {
        m = json_unescape(v + 1, n, dec->p);
        if (m < 0)
            m = 0; /* checked by the scanner: cannot happen */
    } else {
        memcpy(dec->p, v + 1, n);
        m = (long)n;
    }
    dec->p[m] = '\0';
    return m;
}

/* ---- values as correct_json.c reads them from the DOM ------------------ */

/* strtoll()'s reading of the n bytes at s as a whole: an optional '-',
 * then digits, in int64 range. (Overflow is tested per digit without a
 * division: this runs for every time value.) */
static bool dec_int(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    size_t i = neg;

    if (i == n)
        return false;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || __builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, d, &v) || v > lim)
            return false;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HAVE_DIGITS8 1
/* Eight ASCII digits at s (little-endian load) as their value: true, or
 * false when one is no digit (Lemire's SWAR parse). */
static inline bool digits8(const char *s, uint64_t *out)
{
    uint64_t x;

    memcpy(&x, s, 8);
    /* A byte below '0' borrows into its high bit, one above '9' carries
     * into it; the lowest bad byte is always seen. */
    if (((x - 0x3030303030303030u) | (x + 0x4646464646464646u)) &
        0x8080808080808080u)
        return false;
    x -= 0x3030303030303030u;
    x = x * 10 + (x >> 8);
    x = ((x & 0x000000FF000000FFu) * 0x000F424000000064u +
         ((x >> 16) & 0x000000FF000000FFu) * 0x0000271000000001u) >>
        32;
    *out = x;
    return true;
}
#endif

bool correct_jtext_time_plain(const char *v, const char *vend, int64_t *out)
{
    size_t m = (size_t)(vend - v);
    const char *s = v + 1;
    uint64_t x = 0;

    if (m < 3 || m > 21 || *v != '"' || vend[-1] != '"' ||
        (s[0] == '0' && m > 3))
        return false;
    m -= 2;
#ifdef HAVE_DIGITS8
    for (; m >= 8; s += 8, m -= 8) {
        uint64_t chunk;
        if (!digits8(s, &chunk))
            return false;
        x = x * 100000000u + chunk;
    }
#endif
    /* At most 19 digits in all: below 10^19, no uint64 overflow. */
    for (; m > 0; s++, m--) {
        unsigned d = (unsigned)(unsigned char)*s - '0';
        if (d > 9)
            return false;
        x = x * 10 + d;
    }
    if (x > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)x;
    return true;
}

/* A time member's value [v, vend), as correct_json_get_int() reads the
 * value jansson made of it: 0 with *out, 1 for null, -1 when it is no
 * integer in int64 range (integral reals up to 9.2e18 are). */
int correct_jtext_time(struct correct_jtext_buf *dec, const char *v,
                       const char *vend, int64_t *out)
{
    char num[64];
    size_t n = (size_t)(vend - v);

    if (*v == 'n')
        return 1;
    if (correct_jtext_time_plain(v, vend, out))
        return 0;
    if (*v == '"') {
        long m;
        if (!memchr(v + 1, '\\', n - 2))
            return dec_int(v + 1, n - 2, out) ? 0 : -1;
        /* jansson's string ends at a decoded U+0000 for strtoll() */
        if ((m = correct_jtext_decode(dec, v, vend)) < 0)
            return -2;
        return dec_int(dec->p, strlen(dec->p), out) ? 0 : -1;
    }
    if (*v != '-' && (*v < '0' || *v > '9'))
        return -1;
    if (!memchr(v, '.', n) && !memchr(v, 'e', n) && !memchr(v, 'E', n))
        return dec_int(v, n, out) ? 0 : -1;
    if (n >= sizeof(num))
        return -1;
    memcpy(num, v, n);
    num[n] = '\0';
    double d = strtod(num, NULL);
    if (d != floor(d) || fabs(d) >= 9.2e18)
        return -1;
    *out = (int64_t)d;
    return 0;
}

#if defined(__SSE2__) && defined(HAVE_DIGITS8)
#define HAVE_HEX_FAST 1
/* Whether the 16 bytes at p are all hex digits (0-9, a-f, A-F: what
 * util/ids.c accepts). */
static inline bool hex16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8((char)('0' + 128)));
    __m128i l = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)),
                             _mm_set1_epi8((char)('a' + 128)));
    __m128i ok = _mm_or_si128(_mm_cmplt_epi8(d, _mm_set1_epi8(-128 + 10)),
                              _mm_cmplt_epi8(l, _mm_set1_epi8(-128 + 6)));

    return _mm_movemask_epi8(ok) == 0xFFFF;
}

/* 16 hex digits at p (checked) as 8 bytes in order at out. */
static inline void hex16_bytes(const char *p, uint8_t out[8])
{
    for (int half = 0; half < 2; half++) {
        uint64_t x, n;
        uint32_t b;
        memcpy(&x, p + 8 * half, 8);
        /* A digit's nibble: its low 4 bits, plus 9 for a letter (bit 6). */
        n = (x & 0x0F0F0F0F0F0F0F0Fu) + 9 * ((x >> 6) & 0x0101010101010101u);
        n = ((n << 4) | (n >> 8)) & 0x00FF00FF00FF00FFu;
        n = (n | (n >> 8)) & 0x0000FFFF0000FFFFu;
        b = (uint32_t)(n | (n >> 16));
        memcpy(out + 4 * half, &b, 4);
    }
}
#endif

/* The ID string [v, vend) parsed as the readers parse it; anything else
 * (absent, not a string, not an ID) leaves the all-zero ID. Text without
 * escapes is parsed where it lies. */
int correct_jtext_trace_id(struct correct_jtext_buf *dec, const char *v,
                           const char *vend, uint8_t out[16])
{
    const char *s;
    long n;

    memset(out, 0, 16);
    if (!v || *v != '"')
        return 0;
    s = v + 1;
    n = vend - v - 2;
#ifdef HAVE_HEX_FAST
    /* The common spelling, parsed as id_parse_trace() parses it. */
    if (n == 32 && hex16(s) && hex16(s + 16)) {
        hex16_bytes(s, out);
        hex16_bytes(s + 16, out + 8);
        return 0;
    }
#endif
    if (memchr(s, '\\', (size_t)n)) {
        if ((n = correct_jtext_decode(dec, v, vend)) < 0)
            return -1;
        s = dec->p;
    }
    if (id_parse_trace(s, (size_t)n, out) != 0)
        memset(out, 0, 16);
    return 0;
}

int correct_jtext_span_id(struct correct_jtext_buf *dec, const char *v,
                          const char *vend, uint64_t *out)
{
    const char *s;
    long n;

    *out = 0;
    if (!v || *v != '"')
        return 0;
    s = v + 1;
    n = vend - v - 2;
#ifdef HAVE_HEX_FAST
    /* The common spelling, parsed as id_parse_span() parses it. */
    if (n == 16 && hex16(s)) {
        uint8_t b[8];
        uint64_t x;
        hex16_bytes(s, b);
        memcpy(&x, b, 8);
        *out = __builtin_bswap64(x);
        return 0;
    }
#endif
    if (memchr(s, '\\', (size_t)n)) {
        if ((n = correct_jtext_decode(dec, v, vend)) < 0)
            return -1;
        s = dec->p;
    }
    if (id_parse_span(s, (size_t)n, out) != 0)
        *out = 0;
    return 0;
}

/* ---- the clock domain of a resource (the OTLP JSON reader's rule) ------- */

struct correct_jtext_domains {
    const struct clock_model *model;
    const char *user_attr;
    int unknown_id; /* model id of CLOCK_DOMAIN_UNKNOWN, or -1 */
    struct correct_jtext_buf dec, best, aval;
    /* recent resource texts and their domain ids (a ring) */
    struct correct_jtext_buf res[RES_CACHE];
    int res_id[RES_CACHE];
    unsigned res_next;
};

enum { K_OTHER, K_KEY, K_VALUE, K_ATTRS, K_SCALAR };

struct name {
    const char *s;
    size_t len;
    int kind;
};
#define NAME(lit, k)                                                           \
    {                                                                          \
        lit, sizeof(lit) - 1, k                                                \
    }
#define NNAMES(t) (sizeof(t) / sizeof((t)[0]))

static const struct name ATTR_NAMES[] = {NAME("key", K_KEY),
                                         NAME("value", K_VALUE)};
static const struct name RESOURCE_NAMES[] = {NAME("attributes", K_ATTRS)};
/* The scalar members of an AnyValue the readers take a domain name from. */
static const struct name ANY_NAMES[] = {
    NAME("stringValue", K_SCALAR),  NAME("intValue", K_SCALAR),
    NAME("boolValue", K_SCALAR),    NAME("doubleValue", K_SCALAR),
    NAME("string_value", K_SCALAR), NAME("int_value", K_SCALAR),
    NAME("bool_value", K_SCALAR),   NAME("double_value", K_SCALAR),
};

/* The kind of the raw key k (escapes decoded when short, as the scanner
 * decodes keys). */
static int key_kind(const char *k, size_t len, bool esc, const struct name *tab,
                    size_t n)
{
    char buf[KEY_MAX];

    if (esc) {
        long m = len < KEY_MAX ? json_unescape(k, len, buf) : -1;
        if (m < 0)
            return K_OTHER;
        k = buf;
        len = (size_t)m;
    }
    for (size_t i = 0; i < n; i++)
        if (tab[i].len == len && memcmp(tab[i].s, k, len) == 0)
            return tab[i].kind;
    return K_OTHER;
}

struct correct_jtext_domains *
correct_jtext_domains_create(const struct clock_model *model,
                             const char *user_attr)
{
    struct correct_jtext_domains *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->model = model;
    d->user_attr = user_attr;
    d->unknown_id = clock_model_find(model, CLOCK_DOMAIN_UNKNOWN,
                                     strlen(CLOCK_DOMAIN_UNKNOWN));
    return d;
}

void correct_jtext_domains_destroy(struct correct_jtext_domains *d)
{
    if (!d)
        return;
    free(d->dec.p);
    free(d->best.p);
    free(d->aval.p);
    for (unsigned i = 0; i < RES_CACHE; i++)
        free(d->res[i].p);
    free(d);
}

/* Text of a scalar value as json_lex_text() gives it: strings decoded,
 * numbers and literals as spelled, containers empty. Sets *is_scalar for
 * strings, numbers and booleans. */
static int scalar_text(struct correct_jtext_domains *c, const char *v,
                       const char *vend, const char **s, size_t *len,
                       bool *is_scalar)
{
    long n;

    *is_scalar = *v != '{' && *v != '[' && *v != 'n';
    if (*v == '"') {
        if ((n = correct_jtext_decode(&c->dec, v, vend)) < 0)
            return -1;
        *s = c->dec.p;
        *len = (size_t)n;
    } else if (*v == '{' || *v == '[') {
        *s = "";
        *len = 0;
    } else {
        *s = v;
        *len = (size_t)(vend - v);
    }
    return 0;
}

/* An AnyValue: the last scalar member's text into c->aval. Returns 1 when
 * one was found, 0 when not, -1 (ENOMEM). */
static int any_value(struct correct_jtext_domains *c, const char *v)
{
    const char *p = v, *k, *val, *vend, *s;
    size_t klen, len;
    bool kesc, scalar;
    int found = 0;

    if (*v != '{')
        return 0;
    while (correct_jtext_member(&p, &k, &klen, &kesc, &val, &vend))
        if (key_kind(k, klen, kesc, ANY_NAMES, NNAMES(ANY_NAMES)) == K_SCALAR) {
            if (scalar_text(c, val, vend, &s, &len, &scalar) < 0)
                return -1;
            if (!scalar)
                continue;
            c->aval.len = 0;
            if (correct_jtext_put(&c->aval, s, len) < 0)
                return -1;
            found = 1;
        }
    return found;
}

/* One attribute {"key": .., "value": ..} in either order, offered as a
 * clock domain candidate. */
static int domain_attr(struct correct_jtext_domains *c, const char *v,
                       int *best)
{
    const char *p = v, *k, *val, *vend, *s;
    size_t klen, len;
    bool kesc, have_key = false, scalar;
    int rank = -1, have_val = 0, kind;

    if (*v != '{')
        return 0;
    while (correct_jtext_member(&p, &k, &klen, &kesc, &val, &vend)) {
        kind = key_kind(k, klen, kesc, ATTR_NAMES, NNAMES(ATTR_NAMES));
        if (kind == K_KEY) {
            if (scalar_text(c, val, vend, &s, &len, &scalar) < 0)
                return -1;
            have_key = true;
            rank = clock_domain_rank(c->user_attr, CLOCK_DOMAIN_OTLP_RESOURCE,
                                     s, len);
        } else if (kind == K_VALUE && !(have_key && rank < 0)) {
            if ((have_val = any_value(c, val)) < 0)
                return -1;
        }
    }
    /* An empty name would merge unrelated clocks: not a candidate. */
    if (!have_key || have_val <= 0 || rank < 0 ||
        (*best >= 0 && rank >= *best) || c->aval.len == 0)
        return 0;
    *best = rank;
    c->best.len = 0;
    return correct_jtext_put(&c->best, c->aval.p, c->aval.len);
}

/* Model id of the clock domain a resource value [v, vend) names, as the
 * OTLP JSON reader names it ("unknown" when no attribute does); -1 when
 * the model does not know it, -2 when out of memory. The last resource's
 * answer is kept: entries of one host repeat it. */
int correct_jtext_domain(struct correct_jtext_domains *c, const char *v,
                         const char *vend)
{
    const char *p = v, *k, *val, *end, *e, *ee;
    size_t klen, n = (size_t)(vend - v);
    bool kesc;
    int best = -1;

    for (unsigned i = 0; i < RES_CACHE; i++)
        if (c->res[i].len == n && memcmp(c->res[i].p, v, n) == 0)
            return c->res_id[i];
    if (*v == '{')
        while (correct_jtext_member(&p, &k, &klen, &kesc, &val, &end)) {
            if (key_kind(k, klen, kesc, RESOURCE_NAMES,
                         NNAMES(RESOURCE_NAMES)) != K_ATTRS ||
                *val != '[')
                continue;
            const char *q = val;
            while (correct_jtext_elem(&q, &e, &ee))
                if (domain_attr(c, e, &best) < 0)
                    return -2;
        }
    unsigned slot = c->res_next++ % RES_CACHE;
    c->res[slot].len = 0;
    if (correct_jtext_put(&c->res[slot], v, n) < 0)
        return -2;
    c->res_id[slot] = best >= 0
                          ? clock_model_find(c->model, c->best.p, c->best.len)
                          : c->unknown_id;
    return c->res_id[slot];
}
