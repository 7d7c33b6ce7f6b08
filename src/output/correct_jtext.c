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

int correct_jtext_reserve(struct correct_jtext_buf *b, size_t n)
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

int correct_jtext_put(struct correct_jtext_buf *b, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (correct_jtext_reserve(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, p, n);
    b->len += n;
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
 * then digits, in int64 range. */
static bool dec_int(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    size_t i = neg;

    if (i == n)
        return false;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
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

/* The ID string [v, vend) parsed as the readers parse it; anything else
 * (absent, not a string, not an ID) leaves the all-zero ID. */
int correct_jtext_trace_id(struct correct_jtext_buf *dec, const char *v,
                           const char *vend, uint8_t out[16])
{
    long n;

    memset(out, 0, 16);
    if (!v || *v != '"')
        return 0;
    if ((n = correct_jtext_decode(dec, v, vend)) < 0)
        return -1;
    if (id_parse_trace(dec->p, (size_t)n, out) != 0)
        memset(out, 0, 16);
    return 0;
}

int correct_jtext_span_id(struct correct_jtext_buf *dec, const char *v,
                          const char *vend, uint64_t *out)
{
    long n;

    *out = 0;
    if (!v || *v != '"')
        return 0;
    if ((n = correct_jtext_decode(dec, v, vend)) < 0)
        return -1;
    if (id_parse_span(dec->p, (size_t)n, out) != 0)
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
