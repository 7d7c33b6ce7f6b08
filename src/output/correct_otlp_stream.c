/* correct_otlp_stream: `correct` for OTLP JSON input without a DOM: the
 * document streams from the scanner (ingest/json_lex.h) to the output, and
 * only what changes is looked at.
 *
 * Flow: source -> json_lex -> here -> FILE (one document per line).
 *
 * The structure above the spans (document, resourceSpans entries,
 * scopeSpans) is walked with the scanner's reader calls and written back
 * compactly; every other value is passed through json_lex_copy_value(),
 * which checks it against the whole JSON grammar. A span of a clock domain
 * the model knows is held (in the output buffer, at most
 * correct_max_element bytes) until its closing brace, since its members
 * come in any order (attributes before times); then its text is walked in
 * memory and patched: the time members become the mapped decimal strings,
 * the CORRECT_ATTR_* attributes are set. A span of a domain the model does
 * not know is never held: however long, it streams through.
 *
 * The clock domain of a resourceSpans entry comes from its "resource"
 * member. When scopeSpans come first (or there is no resource at all),
 * the rest of the entry is held (at most correct_max_element bytes) until
 * the entry closes; the entry is then rewritten from memory. A second
 * "resource" member that names another domain after spans were written
 * for the first is refused (a JSON member given twice; the readers take
 * the last).
 *
 * What it writes means what correct_json_otlp_doc() (the jansson path that
 * the Jaeger and Zipkin converters use, and that tests compare against)
 * writes for the same document: the same members with the same values,
 * times of corrected spans as decimal strings, attributes appended to (or
 * replaced in) the same arrays. Tokens are copied as written (numbers keep
 * their spelling, strings their escapes) and white space is dropped. Where
 * a document names a member twice, the readers' rule applies (each
 * occurrence is read and the last one wins: every time member is mapped,
 * every attributes array gets the attributes), and both camelCase and
 * snake_case spellings are read, as the readers read them.
 *
 * Memory: the scanner's buffer, an output buffer drained to the FILE as it
 * fills, and one held span or entry (bounded by correct_max_element). */
#include "output/correct.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ingest/json_lex.h"
#include "ingest/source.h"
#include "model/clock_domain.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct_jtext.h"

#define HOLD_NONE SIZE_MAX
#define OUT_INITIAL ((size_t)256 << 10)
#define KEY_MAX 256 /* keys with escapes longer than this match no name */

/* An edit of a held span's text: del bytes at off replaced by ins_len
 * bytes at ins_off of the insertion buffer. */
struct edit {
    size_t off, del, ins_off, ins_len;
};

/* A member of an object in memory (offsets from the object's text). */
struct occ {
    int kind;
    size_t val, end; /* value [val, end) */
};

/* A member of a held resourceSpans entry (offsets in the capture). */
struct member {
    int kind;
    size_t key, key_len, val, end;
};

struct ost {
    struct json_sink out; /* first: out_reserve() finds the rest */
    struct json_sink cap; /* held rest of a resourceSpans entry */
    struct json_lex *lx;
    FILE *f;
    const struct correct_opts *opts;
    const struct clock_model *model;
    struct correct_stats *stats;
    const char *name;
    size_t out_cap;        /* out's real capacity (see out_cap()) */
    size_t hold;           /* out: held bytes start here, or HOLD_NONE */
    const char *hold_what; /* for the too-large message */
    int unknown_id;        /* model id of CLOCK_DOMAIN_UNKNOWN, or -1 */
    char *err;
    size_t errlen;
    bool own_err; /* err holds the message (not the scanner) */
    bool held;    /* writing a held resourceSpans entry */
    struct correct_jtext_domains *domains;
    /* scratch */
    struct edit *ed;
    size_t ned, ed_cap;
    struct correct_jtext_buf ins, tmp, dec;
    struct occ *oc;
    size_t noc, oc_cap;
    struct member *mem;
    size_t nmem, mem_cap;
    struct json_members idx; /* the held span's members */
};

/* ---- errors ------------------------------------------------------------ */

static int own_error(struct ost *c, int rc, const char *what)
{
    if (!c->own_err && !json_lex_message(c->lx)[0]) {
        snprintf(c->err, c->errlen, "%s: %s", c->name, what);
        c->own_err = true;
    }
    return rc;
}

static int nomem(struct ost *c)
{
    return own_error(c, -INGEST_E_NOMEM, "out of memory");
}

/* ---- buffers ----------------------------------------------------------- */

/* Grow a buffer of *cap bytes at *p, len of them used, to hold n more
 * (and at most `most` in all when that is enough). */
static int grow_to(struct ost *c, char **p, size_t *cap, size_t len, size_t n,
                   size_t most)
{
    size_t ncap = *cap ? *cap : OUT_INITIAL;
    char *np;

    while (ncap - len < n) {
        if (ncap > SIZE_MAX / 2)
            return nomem(c);
        ncap *= 2;
    }
    if (ncap > most && most - len >= n)
        ncap = most;
    if (!(np = realloc(*p, ncap)))
        return nomem(c);
    *p = np;
    *cap = ncap;
    return 0;
}

/* The output buffer's capacity as json_sink_put() sees it: all of it, or,
 * while a span is held, no more than the element limit allows, so that
 * out_reserve() is asked before the held bytes pass the limit. */
static void out_cap(struct ost *c)
{
    size_t most =
        c->hold == HOLD_NONE || c->hold > SIZE_MAX - correct_max_element
            ? SIZE_MAX
            : c->hold + correct_max_element;

    c->out.cap = c->out_cap < most ? c->out_cap : most;
}

static void hold_set(struct ost *c, const char *what)
{
    c->hold = c->out.len;
    c->hold_what = what;
    out_cap(c);
}

/* Release the hold: the held text starts at the returned offset. */
static size_t hold_end(struct ost *c)
{
    size_t s = c->hold;

    c->hold = HOLD_NONE;
    out_cap(c);
    return s;
}

/* Room for n more bytes in the output buffer, past any limit (the text of
 * a held span grows when it is corrected). */
static int out_room(struct ost *c, size_t n)
{
    int r = 0;

    if (c->out_cap - c->out.len < n)
        r = grow_to(c, &c->out.p, &c->out_cap, c->out.len, n, SIZE_MAX);
    out_cap(c);
    return r;
}

/* Follow the text of the output (or of the capture) with a NUL and slack
 * (CORRECT_JTEXT_SLACK): not part of it. */
static int terminate(struct ost *c, struct json_sink *s)
{
    if (s == &c->out) {
        if (out_room(c, CORRECT_JTEXT_SLACK) < 0)
            return -INGEST_E_NOMEM;
    } else if (s->cap - s->len < CORRECT_JTEXT_SLACK &&
               grow_to(c, &s->p, &s->cap, s->len, CORRECT_JTEXT_SLACK,
                       SIZE_MAX) < 0) {
        return -INGEST_E_NOMEM;
    }
    s->p[s->len] = '\0';
    return 0;
}

/* Write out[0, upto) to the FILE and keep the rest. */
static int out_drain(struct ost *c, size_t upto)
{
    struct json_sink *s = &c->out;

    if (upto && fwrite(s->p, 1, upto, c->f) != upto) {
        snprintf(c->err, c->errlen, "%s: writing the corrected output: %s",
                 c->name, strerror(errno));
        c->own_err = true;
        return -INGEST_E_NOINPUT;
    }
    memmove(s->p, s->p + upto, s->len - upto);
    s->len -= upto;
    if (c->hold != HOLD_NONE)
        c->hold -= upto;
    out_cap(c);
    return 0;
}

/* Room for n more bytes after the span held at out[*s, len) while it is
 * patched: the bytes before it are written out first when that makes the
 * room, so the buffer grows only for a span longer than it (*s becomes 0
 * then). */
static int out_room_held(struct ost *c, size_t *s, size_t n)
{
    int r;

    if (*s > 0 && c->out_cap - c->out.len < n) {
        if ((r = out_drain(c, *s)) < 0)
            return r;
        *s = 0;
    }
    return out_room(c, n) < 0 ? -INGEST_E_NOMEM : 0;
}

static int too_large(struct ost *c, const char *what)
{
    return json_lex_fail_mark(c->lx,
                              "%s of at most %zu bytes (correct holds one "
                              "span in memory at once, or the rest of a "
                              "resourceSpans entry whose resource follows its "
                              "spans; --max-element raises the limit)",
                              what, correct_max_element);
}

/* The output buffer is full: drain what is not held, or grow it for the
 * held span (up to the element limit). */
static int out_reserve(struct json_sink *s, size_t n)
{
    struct ost *c = (struct ost *)s;
    int r;

    if (c->hold != HOLD_NONE && s->len - c->hold + n > correct_max_element)
        return too_large(c, c->hold_what);
    if (c->hold == HOLD_NONE) {
        if ((r = out_drain(c, s->len)) < 0)
            return r;
    } else if (c->hold > 0 && (r = out_drain(c, c->hold)) < 0) {
        return r;
    }
    return out_room(c, n);
}

/* The capture never grows past the element limit. */
static int cap_reserve(struct json_sink *s, size_t n)
{
    struct ost *c = (struct ost *)((char *)s - offsetof(struct ost, cap));

    if (s->len + n > correct_max_element)
        return too_large(c, "the rest of a resourceSpans entry");
    return grow_to(c, &s->p, &s->cap, s->len, n, correct_max_element);
}

static inline int put(struct ost *c, const char *p, size_t n)
{
    return json_sink_put(&c->out, p, n);
}

static inline int put_ch(struct ost *c, char ch)
{
    return json_sink_put(&c->out, &ch, 1);
}

/* [","] "KEY": with the key's raw text. */
static int put_key(struct ost *c, const char *k, size_t len, bool comma)
{
    struct json_sink *s = &c->out;
    int r;

    if (s->cap - s->len < len + 4 && (r = s->reserve(s, len + 4)) < 0)
        return r;
    if (comma)
        s->p[s->len++] = ',';
    s->p[s->len++] = '"';
    memcpy(s->p + s->len, k, len);
    s->len += len;
    s->p[s->len++] = '"';
    s->p[s->len++] = ':';
    return 0;
}

/* ---- member names ------------------------------------------------------ */

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

enum {
    K_OTHER = 0,
    K_RS,       /* document: resourceSpans */
    K_RESULT,   /* document: Jaeger api_v3 "result" */
    K_RESOURCE, /* resourceSpans entry */
    K_SS,       /* resourceSpans entry: scopeSpans and its old names */
    K_SPANS,    /* scopeSpans */
    K_TRACE,    /* span */
    K_SPAN,
    K_START,
    K_END,
    K_ATTRS, /* span, event, resource */
    K_EVENTS,
    K_TIME, /* event */
    K_KEY,  /* attribute */
    K_VALUE,
};

static const struct name DOC_NAMES[] = {
    NAME("resourceSpans", K_RS),
    NAME("resource_spans", K_RS),
    NAME("result", K_RESULT),
};
static const struct name RS_NAMES[] = {
    NAME("resource", K_RESOURCE),
    NAME("scopeSpans", K_SS),
    NAME("scope_spans", K_SS),
    NAME("instrumentationLibrarySpans", K_SS),
    NAME("instrumentation_library_spans", K_SS),
};
static const struct name SS_NAMES[] = {NAME("spans", K_SPANS)};
static const struct name SPAN_NAMES[] = {
    NAME("traceId", K_TRACE),
    NAME("spanId", K_SPAN),
    NAME("startTimeUnixNano", K_START),
    NAME("endTimeUnixNano", K_END),
    NAME("attributes", K_ATTRS),
    NAME("events", K_EVENTS),
    NAME("trace_id", K_TRACE),
    NAME("span_id", K_SPAN),
    NAME("start_time_unix_nano", K_START),
    NAME("end_time_unix_nano", K_END),
};
static const struct name EVENT_NAMES[] = {
    NAME("timeUnixNano", K_TIME),
    NAME("attributes", K_ATTRS),
    NAME("time_unix_nano", K_TIME),
};
static const struct name ATTR_NAMES[] = {
    NAME("key", K_KEY),
    NAME("value", K_VALUE),
};
/* The kind of the key k (raw text, len bytes; esc: it holds escapes,
 * decoded when short, as the scanner decodes keys). */
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
        if (tab[i].len == len && tab[i].s[0] == k[0] &&
            memcmp(tab[i].s, k, len) == 0)
            return tab[i].kind;
    return K_OTHER;
}

/* ---- patching a held span ---------------------------------------------- */

/* The kind of a span member's key k (raw text): looked up as it is first;
 * only a key long enough to spell a name with \uXXXX escapes (5 bytes
 * more than the name) is searched for escapes and decoded. */
static int span_key_kind(const char *k, size_t len)
{
    int kind = key_kind(k, len, false, SPAN_NAMES, NNAMES(SPAN_NAMES));

    if (kind != K_OTHER || len < sizeof("spanId") - 1 + 5 ||
        !memchr(k, '\\', len))
        return kind;
    return key_kind(k, len, true, SPAN_NAMES, NNAMES(SPAN_NAMES));
}

/* Whether text [p, p + n) holds "skewscope" or an escape, so may hold an
 * attribute key of ours (the usual span holds neither: checked 16 bytes
 * at a time). */
static bool may_hold_ours(const char *p, size_t n)
{
    static const char ours[] = "skewscope";
    const char *end;

    if (memchr(p, '\\', n))
        return true;
    if (n < sizeof(ours) - 1)
        return false;
    end = p + n - (sizeof(ours) - 2); /* candidate starts below end */
#ifdef __SSE2__
    /* Loads reach p + 24 <= the text's end. */
    while (end - p >= 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)p);
        __m128i b = _mm_loadu_si128((const __m128i *)(p + 1));
        __m128i e = _mm_loadu_si128((const __m128i *)(p + 8));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(a, _mm_set1_epi8('s')),
                                        _mm_cmpeq_epi8(b, _mm_set1_epi8('k'))),
                          _mm_cmpeq_epi8(e, _mm_set1_epi8('e'))));
        for (; m; m &= m - 1)
            if (memcmp(p + __builtin_ctz(m), ours, sizeof(ours) - 1) == 0)
                return true;
        p += 16;
    }
#endif
    for (; p < end; p++)
        if (*p == 's' && memcmp(p, ours, sizeof(ours) - 1) == 0)
            return true;
    return false;
}

static int edit_add(struct ost *c, size_t off, size_t del, size_t ins_off)
{
    if (c->ned == c->ed_cap) {
        size_t cap = c->ed_cap ? 2 * c->ed_cap : 16;
        struct edit *ne = realloc(c->ed, cap * sizeof(*ne));
        if (!ne)
            return -1;
        c->ed = ne;
        c->ed_cap = cap;
    }
    c->ed[c->ned++] = (struct edit){off, del, ins_off, c->ins.len - ins_off};
    return 0;
}

static const char PAIRS[201] = "00010203040506070809"
                               "10111213141516171819"
                               "20212223242526272829"
                               "30313233343536373839"
                               "40414243444546474849"
                               "50515253545556575859"
                               "60616263646566676869"
                               "70717273747576777879"
                               "80818283848586878889"
                               "90919293949596979899";

/* v < 10^8 in exactly 8 digits at q. */
static inline void put8(char *q, uint32_t v)
{
    uint32_t hi = v / 10000, lo = v % 10000;

    memcpy(q, PAIRS + 2 * (hi / 100), 2);
    memcpy(q + 2, PAIRS + 2 * (hi % 100), 2);
    memcpy(q + 4, PAIRS + 2 * (lo / 100), 2);
    memcpy(q + 6, PAIRS + 2 * (lo % 100), 2);
}

/* v < 10^8 in as many digits as it needs at q; returns their count. */
static inline size_t put_small(char *q, uint32_t v)
{
    char tmp[8], *e = tmp + sizeof(tmp), *p = e;

    while (v >= 100) {
        p -= 2;
        memcpy(p, PAIRS + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, PAIRS + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    memcpy(q, p, (size_t)(e - p));
    return (size_t)(e - p);
}

/* v in decimal at buf (at most 20 bytes); returns the length. In 32-bit
 * pieces of eight digits: this runs for every time written. */
static size_t fmt_i64(char *buf, int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t k = 0;

    if (v < 0)
        buf[k++] = '-';
    if (u < 100000000u)
        return k + put_small(buf + k, (uint32_t)u);
    if (u < 10000000000000000u) {
        k += put_small(buf + k, (uint32_t)(u / 100000000u));
        put8(buf + k, (uint32_t)(u % 100000000u));
        return k + 8;
    }
    k += put_small(buf + k, (uint32_t)(u / 10000000000000000u));
    u %= 10000000000000000u;
    put8(buf + k, (uint32_t)(u / 100000000u));
    put8(buf + k + 8, (uint32_t)(u % 100000000u));
    return k + 16;
}

/* Insertion text: a quoted decimal. */
static int ins_decimal(struct ost *c, int64_t v)
{
    char *q;

    if (correct_jtext_reserve(&c->ins, 24) < 0)
        return -1;
    q = c->ins.p + c->ins.len;
    q[0] = '"';
    size_t n = fmt_i64(q + 1, v);
    q[n + 1] = '"';
    c->ins.len += n + 2;
    return 0;
}

/* Insertion text: a string literal. */
#define INS_LIT(c, lit) correct_jtext_put(&(c)->ins, (lit), sizeof(lit) - 1)

/* An int attribute to set (CORRECT_ATTR_* key), and its value's text when
 * the input spelled it as that decimal already (NULL: formatted). */
struct attr {
    const char *key;
    size_t key_len;
    int64_t v;
    const char *text; /* quoted */
    size_t len;
};
#define ATTR(key, v)                                                           \
    {                                                                          \
        key, sizeof(key) - 1, v, NULL, 0                                       \
    }

/* The attribute's value: its text, or formatted. */
static int ins_value(struct ost *c, const struct attr *a)
{
    return a->text ? correct_jtext_put(&c->ins, a->text, a->len)
                   : ins_decimal(c, a->v);
}

/* {"intValue":"N"} */
static int ins_any_int(struct ost *c, const struct attr *a)
{
    if (INS_LIT(c, "{\"intValue\":") < 0 || ins_value(c, a) < 0)
        return -1;
    return INS_LIT(c, "}");
}

/* {"key":"K","value":{"intValue":"N"}} */
static int ins_entry(struct ost *c, const struct attr *a)
{
    static const char k[] = "{\"key\":\"", v[] = "\",\"value\":{\"intValue\":";
    char *q;

    if (correct_jtext_reserve(&c->ins, sizeof(k) + a->key_len + sizeof(v)) < 0)
        return -1;
    q = c->ins.p + c->ins.len;
    memcpy(q, k, sizeof(k) - 1);
    q += sizeof(k) - 1;
    memcpy(q, a->key, a->key_len);
    q += a->key_len;
    memcpy(q, v, sizeof(v) - 1);
    c->ins.len += sizeof(k) - 1 + a->key_len + sizeof(v) - 1;
    if (ins_value(c, a) < 0)
        return -1;
    return INS_LIT(c, "}}");
}

/* Replace the time member value [v, vend) of text t by its mapped value,
 * unless that is what it says already. Values that are no integer are
 * left (only the last one counts: the caller checked it). */
static int edit_time(struct ost *c, const char *t, const char *v,
                     const char *vend, int id, const int64_t *known)
{
    char now[26];
    int64_t orig, ref;
    size_t at = c->ins.len, n;
    int r = known ? 0 : correct_jtext_time(&c->dec, v, vend, &orig);

    if (r == -2)
        return -1;
    if (r != 0)
        return 0;
    if (known)
        orig = *known;
    ref = clock_model_to_reference(c->model, id, orig);
    now[0] = '"';
    n = fmt_i64(now + 1, ref);
    now[n + 1] = '"';
    if ((size_t)(vend - v) == n + 2 && memcmp(v, now, n + 2) == 0)
        return 0;
    if (correct_jtext_put(&c->ins, now, n + 2) < 0)
        return -1;
    return edit_add(c, (size_t)(v - t), (size_t)(vend - v), at);
}

/* The attribute entry of array [v, vend) whose key is `key`, the first one
 * (as correct_json_otlp_attr_set() finds it): its '{' or NULL. */
static const char *find_entry(struct ost *c, const char *v, const char *key,
                              int *err)
{
    const char *q = v, *e, *ee;
    size_t want = strlen(key);

    *err = 0;
    while (correct_jtext_elem(&q, &e, &ee)) {
        const char *p = e, *k, *val, *vend, *kv = NULL, *kvend = NULL;
        size_t klen;
        bool kesc;
        long n;
        if (*e != '{')
            continue;
        while (correct_jtext_member(&p, &k, &klen, &kesc, &val, &vend))
            if (key_kind(k, klen, kesc, ATTR_NAMES, NNAMES(ATTR_NAMES)) ==
                K_KEY) {
                kv = val;
                kvend = vend;
            }
        if (!kv || *kv != '"')
            continue;
        if ((n = correct_jtext_decode(&c->dec, kv, kvend)) < 0) {
            *err = -1;
            return NULL;
        }
        if ((size_t)n == want && memcmp(c->dec.p, key, want) == 0)
            return e;
    }
    return NULL;
}

/* Give the entry at e (an object with a key) the int value of a: every
 * "value" member replaced, or one added. */
static int set_entry_value(struct ost *c, const char *t, const char *e,
                           const struct attr *a)
{
    const char *p = e, *k, *val, *vend;
    size_t klen, at;
    bool kesc, had = false;

    while (correct_jtext_member(&p, &k, &klen, &kesc, &val, &vend)) {
        if (key_kind(k, klen, kesc, ATTR_NAMES, NNAMES(ATTR_NAMES)) != K_VALUE)
            continue;
        had = true;
        at = c->ins.len;
        if (ins_any_int(c, a) < 0 ||
            edit_add(c, (size_t)(val - t), (size_t)(vend - val), at) < 0)
            return -1;
    }
    if (had)
        return 0;
    at = c->ins.len; /* p is at the entry's '}' */
    if (INS_LIT(c, ",\"value\":") < 0 || ins_any_int(c, a) < 0)
        return -1;
    return edit_add(c, (size_t)(p - t), 0, at);
}

/* Set the n attributes a in one "attributes" value [v, vend) of text t, as
 * correct_json_otlp_attr_set() does in the DOM: an entry with the key gets
 * the value, the others are appended in order; a value that is no array
 * becomes one. */
static int set_attrs_in(struct ost *c, const char *t, const char *v,
                        const char *vend, const struct attr *a, size_t n)
{
    bool placed[3] = {false, false, false};
    size_t at;
    bool first;

    if (*v != '[') {
        at = c->ins.len;
        if (INS_LIT(c, "[") < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if ((i && INS_LIT(c, ",") < 0) || ins_entry(c, &a[i]) < 0)
                return -1;
        if (INS_LIT(c, "]") < 0)
            return -1;
        return edit_add(c, (size_t)(v - t), (size_t)(vend - v), at);
    }
    /* Only an array that spells "skewscope" or holds escapes can hold a
     * key of ours. */
    if (may_hold_ours(v, (size_t)(vend - v))) {
        for (size_t i = 0; i < n; i++) {
            int err;
            const char *e = find_entry(c, v, a[i].key, &err);
            if (err < 0)
                return -1;
            if (e) {
                placed[i] = true;
                if (set_entry_value(c, t, e, &a[i]) < 0)
                    return -1;
            }
        }
    }
    at = c->ins.len;
    first = vend - v == 2; /* "[]" */
    for (size_t i = 0; i < n; i++) {
        if (placed[i])
            continue;
        if ((!first && INS_LIT(c, ",") < 0) || ins_entry(c, &a[i]) < 0)
            return -1;
        first = false;
    }
    if (c->ins.len == at)
        return 0;
    return edit_add(c, (size_t)(vend - 1 - t), 0, at);
}

/* Set the attributes a in the object of text t whose attributes members
 * are occurrences oc[from, to) of kind K_ATTRS (among others), closing at
 * offset close: in each of them, or in a new member when there is none. */
static int set_attrs(struct ost *c, const char *t, size_t from, size_t to,
                     size_t close, const struct attr *a, size_t n)
{
    size_t at;
    bool any = false;

    for (size_t i = from; i < to; i++) {
        if (c->oc[i].kind != K_ATTRS)
            continue;
        any = true;
        if (set_attrs_in(c, t, t + c->oc[i].val, t + c->oc[i].end, a, n) < 0)
            return -1;
    }
    if (any)
        return 0;
    at = c->ins.len;
    if (INS_LIT(c, ",\"attributes\":[") < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((i && INS_LIT(c, ",") < 0) || ins_entry(c, &a[i]) < 0)
            return -1;
    if (INS_LIT(c, "]") < 0)
        return -1;
    return edit_add(c, close, 0, at);
}

static int occ_add(struct ost *c, int kind, size_t val, size_t end)
{
    if (c->noc == c->oc_cap) {
        size_t cap = c->oc_cap ? 2 * c->oc_cap : 32;
        struct occ *no = realloc(c->oc, cap * sizeof(*no));
        if (!no)
            return -1;
        c->oc = no;
        c->oc_cap = cap;
    }
    c->oc[c->noc++] = (struct occ){kind, val, end};
    return 0;
}

/* Record the members of the object at o (text t) of the kinds tab names
 * into c->oc; *close gets the offset of its '}'. */
static int members(struct ost *c, const char *t, const char *o,
                   const struct name *tab, size_t ntab, size_t *close)
{
    const char *p = o, *k, *val, *vend;
    size_t klen;
    bool kesc;

    while (correct_jtext_member(&p, &k, &klen, &kesc, &val, &vend)) {
        int kind = key_kind(k, klen, kesc, tab, ntab);
        if (kind != K_OTHER &&
            occ_add(c, kind, (size_t)(val - t), (size_t)(vend - t)) < 0)
            return -1;
    }
    *close = (size_t)(p - t);
    return 0;
}

/* Index of the last occurrence of kind in oc[from, to), or -1. */
static long last_of(const struct ost *c, size_t from, size_t to, int kind)
{
    for (size_t i = to; i-- > from;)
        if (c->oc[i].kind == kind)
            return (long)i;
    return -1;
}

static bool present(const struct ost *c, const char *t, long i)
{
    return i >= 0 && t[c->oc[i].val] != 'n';
}

static int bad_time(struct ost *c, const char *what)
{
    return json_lex_fail_mark(c->lx,
                              "%s as an integer (ns) in the span that "
                              "starts here%s",
                              what,
                              c->held ? " (or in a span of the "
                                        "resourceSpans entry held from here)"
                                      : "");
}

/* Map every time member of kind in oc[from, to) (text t); the last one,
 * oc[last], holds `value`. */
static int edit_times(struct ost *c, const char *t, size_t from, size_t to,
                      int kind, int id, long last, int64_t value)
{
    for (size_t i = from; i < to; i++)
        if (c->oc[i].kind == kind &&
            edit_time(c, t, t + c->oc[i].val, t + c->oc[i].end, id,
                      (long)i == last ? &value : NULL) < 0)
            return nomem(c);
    return 0;
}

/* One event object at e of a span being corrected; *changed is set when
 * its time moves. */
static int fix_event(struct ost *c, const char *t, const char *e, int id,
                     bool *changed)
{
    size_t from = c->noc, close;
    const char *v, *vend;
    int64_t orig, ref;
    long last;
    bool plain;
    int r;

    if (members(c, t, e, EVENT_NAMES, NNAMES(EVENT_NAMES), &close) < 0)
        return nomem(c);
    last = last_of(c, from, c->noc, K_TIME);
    if (!present(c, t, last))
        goto out;
    v = t + c->oc[last].val;
    vend = t + c->oc[last].end;
    plain = correct_jtext_time_plain(v, vend, &orig);
    r = plain ? 0 : correct_jtext_time(&c->dec, v, vend, &orig);
    if (r == -2)
        return nomem(c);
    if (r != 0)
        return bad_time(c, "an event's timeUnixNano");
    ref = clock_model_to_reference(c->model, id, orig);
    if ((r = edit_times(c, t, from, c->noc, K_TIME, id, last, orig)) < 0)
        return r;
    if (ref != orig) {
        struct attr a = ATTR(CORRECT_ATTR_ORIG_TIME, orig);
        if (plain) {
            a.text = v;
            a.len = (size_t)(vend - v);
        }
        *changed = true;
        if (set_attrs(c, t, from, c->noc, close, &a, 1) < 0)
            return nomem(c);
    }
out:
    c->noc = from;
    return 0;
}

/* The events of every "events" member among oc[from, to). */
static int fix_events(struct ost *c, const char *t, size_t from, size_t to,
                      int id, bool *changed)
{
    int r;

    for (size_t i = from; i < to; i++) {
        const char *q = t + c->oc[i].val, *e, *ee;
        if (c->oc[i].kind != K_EVENTS || *q != '[')
            continue;
        while (correct_jtext_elem(&q, &e, &ee))
            if (*e == '{' && (r = fix_event(c, t, e, id, changed)) < 0)
                return r;
    }
    return 0;
}

static int cmp_edit(const void *a, const void *b)
{
    const struct edit *x = a, *y = b;

    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->ins_off < y->ins_off ? -1 : x->ins_off > y->ins_off;
}

/* Apply the sorted edits to the held text out[s, len) through c->tmp
 * (when one of them shortens its piece). */
static int apply_copy(struct ost *c, size_t s)
{
    const char *t = c->out.p + s;
    size_t len = c->out.len - s, pos = 0, grow = 0;
    struct correct_jtext_buf *b = &c->tmp;
    int r;

    for (size_t i = 0; i < c->ned; i++)
        grow += c->ed[i].ins_len;
    b->len = 0;
    if (correct_jtext_reserve(b, len + grow) < 0)
        return nomem(c);
    for (size_t i = 0; i < c->ned; i++) {
        const struct edit *e = &c->ed[i];
        memcpy(b->p + b->len, t + pos, e->off - pos);
        b->len += e->off - pos;
        memcpy(b->p + b->len, c->ins.p + e->ins_off, e->ins_len);
        b->len += e->ins_len;
        pos = e->off + e->del;
    }
    memcpy(b->p + b->len, t + pos, len - pos);
    b->len += len - pos;
    c->out.len = s;
    if ((r = out_room_held(c, &s, b->len)) < 0)
        return r;
    memcpy(c->out.p + s, b->p, b->len);
    c->out.len = s + b->len;
    return 0;
}

/* Apply the edits to the held text out[s, len). None shortening its
 * piece (the usual case), in place: from the last to the first, each
 * piece moved once, never onto one not yet moved. */
static int apply_edits(struct ost *c, size_t s)
{
    size_t len = c->out.len - s, grow = 0, shrink = 0, end, to;
    char *t;
    int r;

    /* Few edits, nearly in order: insertion sort. */
    for (size_t i = 1; i < c->ned; i++) {
        struct edit e = c->ed[i];
        size_t j = i;
        while (j > 0 && cmp_edit(&c->ed[j - 1], &e) > 0) {
            c->ed[j] = c->ed[j - 1];
            j--;
        }
        c->ed[j] = e;
    }
    for (size_t i = 0; i < c->ned; i++) {
        if (c->ed[i].ins_len < c->ed[i].del)
            return apply_copy(c, s);
        grow += c->ed[i].ins_len;
        shrink += c->ed[i].del;
    }
    if ((r = out_room_held(c, &s, grow - shrink)) < 0)
        return r;
    t = c->out.p + s;
    end = len;                /* old text [.., end) still to place */
    to = len + grow - shrink; /* where it ends in the new text */
    for (size_t i = c->ned; i-- > 0;) {
        const struct edit *e = &c->ed[i];
        size_t tail = end - (e->off + e->del);
        memmove(t + to - tail, t + e->off + e->del, tail);
        to -= tail;
        memcpy(t + to - e->ins_len, c->ins.p + e->ins_off, e->ins_len);
        to -= e->ins_len;
        end = e->off;
    }
    c->out.len = s + len + grow - shrink;
    return 0;
}

/* The members of the span at t (its text n bytes) into c->oc, from the
 * copier's list when there is one; *close: the offset of its '}'. */
static int span_members(struct ost *c, const char *t, size_t n,
                        const struct json_members *idx, size_t *close)
{
    if (!idx)
        return members(c, t, t, SPAN_NAMES, NNAMES(SPAN_NAMES), close);
    for (size_t i = 0; i < idx->n; i++) {
        const struct json_member *m = &idx->m[i];
        const char *k = t + m->key;
        int kind = span_key_kind(k, m->key_len);
        if (kind != K_OTHER && occ_add(c, kind, m->val, m->end) < 0)
            return -1;
    }
    *close = n - 1;
    return 0;
}

/* The span held at out[s, len), of domain id (known to the model):
 * mapped as correct_json_otlp_doc() maps it, if the readers analyse it.
 * idx: its members as the copier listed them, or NULL. */
static int fix_span(struct ost *c, size_t s, int id,
                    const struct json_members *idx)
{
    const char *t = c->out.p + s;
    struct span_rec rec;
    size_t close, n;
    long ti, si, st, en;
    int64_t start, end, start_ref, end_ref;
    bool changed = false, st_plain, en_plain;
    int r;

    c->noc = c->ned = c->ins.len = 0;
    if ((r = out_room_held(c, &s, CORRECT_JTEXT_SLACK)) < 0)
        return r;
    c->out.p[c->out.len] = '\0'; /* and slack: correct_jtext.h */
    t = c->out.p + s;
    if (span_members(c, t, c->out.len - s, idx, &close) < 0)
        return nomem(c);
    n = c->noc;
    ti = last_of(c, 0, n, K_TRACE);
    si = last_of(c, 0, n, K_SPAN);
    st = last_of(c, 0, n, K_START);
    en = last_of(c, 0, n, K_END);
    memset(&rec, 0, sizeof(rec));
    if (correct_jtext_trace_id(&c->dec, ti < 0 ? NULL : t + c->oc[ti].val,
                               ti < 0 ? NULL : t + c->oc[ti].end,
                               rec.trace_id) < 0 ||
        correct_jtext_span_id(&c->dec, si < 0 ? NULL : t + c->oc[si].val,
                              si < 0 ? NULL : t + c->oc[si].end,
                              &rec.span_id) < 0)
        return nomem(c);
    /* Spans the readers do not analyse are written through as they are. */
    if (ingest_span_invalid(&rec, present(c, t, st) && present(c, t, en)) >= 0)
        return 0;
    /* Plain spellings (the usual case) are copied into the attributes. */
    st_plain =
        correct_jtext_time_plain(t + c->oc[st].val, t + c->oc[st].end, &start);
    en_plain =
        correct_jtext_time_plain(t + c->oc[en].val, t + c->oc[en].end, &end);
    if (!st_plain && (r = correct_jtext_time(&c->dec, t + c->oc[st].val,
                                             t + c->oc[st].end, &start)) < 0)
        return r == -2 ? nomem(c) : bad_time(c, "startTimeUnixNano");
    if (!en_plain && (r = correct_jtext_time(&c->dec, t + c->oc[en].val,
                                             t + c->oc[en].end, &end)) < 0)
        return r == -2 ? nomem(c) : bad_time(c, "endTimeUnixNano");
    start_ref = clock_model_to_reference(c->model, id, start);
    end_ref = clock_model_to_reference(c->model, id, end);
    changed = start_ref != start || end_ref != end;
    if ((r = edit_times(c, t, 0, n, K_START, id, st, start)) < 0 ||
        (r = edit_times(c, t, 0, n, K_END, id, en, end)) < 0 ||
        (r = fix_events(c, t, 0, n, id, &changed)) < 0)
        return r;
    if (changed) {
        struct attr a[3] = {
            ATTR(CORRECT_ATTR_OFFSET, start - start_ref),
            ATTR(CORRECT_ATTR_ORIG_START, start),
            ATTR(CORRECT_ATTR_ORIG_END, end),
        };
        if (st_plain) {
            a[1].text = t + c->oc[st].val;
            a[1].len = c->oc[st].end - c->oc[st].val;
        }
        if (en_plain) {
            a[2].text = t + c->oc[en].val;
            a[2].len = c->oc[en].end - c->oc[en].val;
        }
        c->stats->adjusted++;
        if (set_attrs(c, t, 0, n, close, a, 3) < 0)
            return nomem(c);
    }
    return c->ned ? apply_edits(c, s) : 0;
}

/* ---- held resourceSpans entries (resource after the spans) ------------- */

/* Write text [v, vend) through. */
static int put_text(struct ost *c, const char *v, const char *vend)
{
    return put(c, v, (size_t)(vend - v));
}

/* A span's text from memory: held in the output and corrected. */
static int span_text(struct ost *c, const char *v, const char *vend, int id)
{
    size_t s = c->out.len;
    int r;

    c->stats->spans++;
    if (id < 0)
        return put_text(c, v, vend);
    /* v lies in the capture, not in the output: no hold needed. */
    if ((r = put_text(c, v, vend)) < 0)
        return r;
    if (c->out.len < (size_t)(vend - v)) /* drained meanwhile: cannot be */
        return nomem(c);
    s = c->out.len - (size_t)(vend - v);
    return fix_span(c, s, id, NULL);
}

/* The value of a "spans" member in memory. */
static int spans_text(struct ost *c, const char *v, const char *vend, int id)
{
    const char *q = v, *e, *ee;
    bool first = true;
    int r;

    if (*v != '[')
        return put_text(c, v, vend);
    if ((r = put_ch(c, '[')) < 0)
        return r;
    while (correct_jtext_elem(&q, &e, &ee)) {
        if ((!first && (r = put_ch(c, ',')) < 0) ||
            (r = *e == '{' ? span_text(c, e, ee, id) : put_text(c, e, ee)) < 0)
            return r;
        first = false;
    }
    return put_ch(c, ']');
}

/* One scopeSpans object in memory. */
static int scope_text(struct ost *c, const char *v, const char *vend, int id)
{
    const char *p = v, *k, *val, *end;
    size_t klen;
    bool kesc, first = true;
    int r;

    if (*v != '{')
        return put_text(c, v, vend);
    if ((r = put_ch(c, '{')) < 0)
        return r;
    while (correct_jtext_member(&p, &k, &klen, &kesc, &val, &end)) {
        if ((r = put_key(c, k, klen, !first)) < 0)
            return r;
        first = false;
        r = key_kind(k, klen, kesc, SS_NAMES, NNAMES(SS_NAMES)) == K_SPANS
                ? spans_text(c, val, end, id)
                : put_text(c, val, end);
        if (r < 0)
            return r;
    }
    return put_ch(c, '}');
}

static int scopes_text(struct ost *c, const char *v, const char *vend, int id)
{
    const char *q = v, *e, *ee;
    bool first = true;
    int r;

    if (*v != '[')
        return put_text(c, v, vend);
    if ((r = put_ch(c, '[')) < 0)
        return r;
    while (correct_jtext_elem(&q, &e, &ee)) {
        if ((!first && (r = put_ch(c, ',')) < 0) ||
            (r = scope_text(c, e, ee, id)) < 0)
            return r;
        first = false;
    }
    return put_ch(c, ']');
}

static int member_add(struct ost *c, int kind, size_t key, size_t key_len,
                      size_t val, size_t end)
{
    if (c->nmem == c->mem_cap) {
        size_t cap = c->mem_cap ? 2 * c->mem_cap : 8;
        struct member *nm = realloc(c->mem, cap * sizeof(*nm));
        if (!nm)
            return nomem(c);
        c->mem = nm;
        c->mem_cap = cap;
    }
    c->mem[c->nmem++] = (struct member){kind, key, key_len, val, end};
    return 0;
}

/* The rest of a resourceSpans entry whose scopeSpans came before any
 * resource, from member k (its ':' consumed) to the closing brace: held,
 * then written with the domain of its last resource. `comma`: members were
 * written before k. */
static int rs_held(struct ost *c, struct json_str *k, bool comma)
{
    struct json_sink *cap = &c->cap;
    int r, id = c->unknown_id;

    cap->len = 0;
    c->nmem = 0;
    json_lex_mark(c->lx);
    do {
        size_t key = cap->len, val;
        int kind = key_kind(k->p, k->len, k->esc, RS_NAMES, NNAMES(RS_NAMES));
        if ((r = json_sink_put(cap, k->p, k->len)) < 0)
            return r;
        val = cap->len;
        if ((r = json_lex_copy_value(c->lx, cap)) < 0 ||
            (r = member_add(c, kind, key, k->len, val, cap->len)) < 0)
            return r;
    } while ((r = json_lex_next_key_raw(c->lx, k)) > 0);
    if (r < 0)
        return r;
    if ((r = terminate(c, cap)) < 0)
        return r;
    for (size_t i = 0; i < c->nmem; i++)
        if (c->mem[i].kind == K_RESOURCE &&
            (id = correct_jtext_domain(c->domains, cap->p + c->mem[i].val,
                                       cap->p + c->mem[i].end)) == -2)
            return nomem(c);
    c->held = true;
    for (size_t i = 0; i < c->nmem; i++) {
        const struct member *m = &c->mem[i];
        const char *v = cap->p + m->val, *vend = cap->p + m->end;
        if ((r = put_key(c, cap->p + m->key, m->key_len, comma || i > 0)) < 0)
            return r;
        r = m->kind == K_SS ? scopes_text(c, v, vend, id)
                            : put_text(c, v, vend);
        if (r < 0)
            return r;
    }
    c->held = false;
    return put_ch(c, '}');
}

/* ---- the streaming walk ------------------------------------------------ */

static int copy(struct ost *c)
{
    return json_lex_copy_value(c->lx, &c->out);
}

/* The next value when it is of type `want`: 1; else it is copied: 0. */
static int expect(struct ost *c, int want)
{
    int t = json_lex_peek(c->lx);

    if (t < 0)
        return t;
    if (t == want)
        return 1;
    return copy(c);
}

static int span(struct ost *c, int id)
{
    int r;

    if ((r = expect(c, JSON_OBJECT)) <= 0)
        return r; /* not an object: not a span (the DOM path skips it) */
    c->stats->spans++;
    if (id < 0)
        return copy(c);
    json_lex_mark(c->lx);
    hold_set(c, "a span");
    r = json_lex_copy_object(c->lx, &c->out, &c->idx);
    size_t s = hold_end(c);
    return r < 0 ? r : fix_span(c, s, id, &c->idx);
}

/* An array whose elements each(c, id) writes. */
static int array_of(struct ost *c, int id, int (*each)(struct ost *, int))
{
    bool first = true;
    int r;

    if ((r = expect(c, JSON_ARRAY)) <= 0)
        return r;
    if ((r = json_lex_begin_array(c->lx)) < 0 || (r = put_ch(c, '[')) < 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0) {
        if ((!first && (r = put_ch(c, ',')) < 0) || (r = each(c, id)) < 0)
            return r;
        first = false;
    }
    return r < 0 ? r : put_ch(c, ']');
}

static int scope_spans(struct ost *c, int id)
{
    struct json_str k;
    bool first = true;
    int r;

    if ((r = expect(c, JSON_OBJECT)) <= 0)
        return r;
    if ((r = json_lex_begin_object(c->lx)) < 0 || (r = put_ch(c, '{')) < 0)
        return r;
    while ((r = json_lex_next_key_raw(c->lx, &k)) > 0) {
        if ((r = put_key(c, k.p, k.len, !first)) < 0)
            return r;
        first = false;
        r = key_kind(k.p, k.len, k.esc, SS_NAMES, NNAMES(SS_NAMES)) == K_SPANS
                ? array_of(c, id, span)
                : copy(c);
        if (r < 0)
            return r;
    }
    return r < 0 ? r : put_ch(c, '}');
}

/* A "resource" member: written through, and the domain it names. */
static int resource(struct ost *c, int *id)
{
    size_t s;
    int r;

    json_lex_mark(c->lx);
    hold_set(c, "a resource");
    if ((r = copy(c)) == 0)
        r = terminate(c, &c->out);
    s = hold_end(c);
    if (r < 0)
        return r;
    *id = correct_jtext_domain(c->domains, c->out.p + s, c->out.p + c->out.len);
    return *id == -2 ? nomem(c) : 0;
}

static int resource_spans(struct ost *c, int unused)
{
    struct json_str k;
    bool first = true, have_res = false, streamed = false;
    int r, id = c->unknown_id, nid;

    (void)unused;
    if ((r = expect(c, JSON_OBJECT)) <= 0)
        return r;
    if ((r = json_lex_begin_object(c->lx)) < 0 || (r = put_ch(c, '{')) < 0)
        return r;
    while ((r = json_lex_next_key_raw(c->lx, &k)) > 0) {
        int kind = key_kind(k.p, k.len, k.esc, RS_NAMES, NNAMES(RS_NAMES));
        if (kind == K_SS && !have_res)
            return rs_held(c, &k, !first);
        if ((r = put_key(c, k.p, k.len, !first)) < 0)
            return r;
        first = false;
        if (kind == K_RESOURCE) {
            if ((r = resource(c, &nid)) < 0)
                return r;
            if (streamed && nid != id)
                return json_lex_fail_mark(
                    c->lx, "one \"resource\" per resourceSpans entry (this "
                           "second one names another clock domain than the "
                           "one its spans above were corrected for)");
            id = nid;
            have_res = true;
        } else if (kind == K_SS) {
            streamed = true;
            r = array_of(c, id, scope_spans);
        } else {
            r = copy(c);
        }
        if (r < 0)
            return r;
    }
    return r < 0 ? r : put_ch(c, '}');
}

/* A TracesData object; `outer`: at the top, where a Jaeger api_v3
 * "result" may wrap one. */
static int document(struct ost *c, bool outer)
{
    struct json_str k;
    bool first = true;
    int r;

    if ((r = json_lex_begin_object(c->lx)) < 0 || (r = put_ch(c, '{')) < 0)
        return r;
    while ((r = json_lex_next_key_raw(c->lx, &k)) > 0) {
        int kind = key_kind(k.p, k.len, k.esc, DOC_NAMES, NNAMES(DOC_NAMES));
        if ((r = put_key(c, k.p, k.len, !first)) < 0)
            return r;
        first = false;
        if (kind == K_RS)
            r = array_of(c, 0, resource_spans);
        else if (kind == K_RESULT && outer &&
                 (r = json_lex_peek(c->lx)) == JSON_OBJECT)
            r = document(c, false);
        else if (r >= 0)
            r = copy(c);
        if (r < 0)
            return r;
    }
    return r < 0 ? r : put_ch(c, '}');
}

static int documents(struct ost *c)
{
    size_t docs = 0;
    int t, r;

    while ((t = json_lex_peek(c->lx)) > 0) {
        if (t != JSON_OBJECT) {
            json_lex_mark(c->lx);
            return json_lex_fail_mark(c->lx, "an OTLP JSON object with "
                                             "resourceSpans");
        }
        if ((r = document(c, true)) < 0 || (r = put_ch(c, '\n')) < 0 ||
            (r = out_drain(c, c->out.len)) < 0)
            return r;
        docs++;
    }
    if (t < 0)
        return t;
    /* A blank input still gives a document (correct_empty_document()). */
    if (docs == 0) {
        const char *e = correct_empty_document(c->opts->out_format);
        if ((r = put(c, e, strlen(e))) < 0 || (r = put_ch(c, '\n')) < 0)
            return r;
    }
    return out_drain(c, c->out.len);
}

static int stream_run(struct source *src, const struct correct_opts *opts,
                      const struct clock_model *model, FILE *out,
                      struct correct_stats *stats, char *err, size_t errlen)
{
    struct ost c = {
        .out = {.reserve = out_reserve},
        .cap = {.reserve = cap_reserve},
        .f = out,
        .opts = opts,
        .model = model,
        .stats = stats,
        .name = source_name(src),
        .hold = HOLD_NONE,
        .err = err,
        .errlen = errlen,
    };
    int rc;

    c.unknown_id = clock_model_find(model, CLOCK_DOMAIN_UNKNOWN,
                                    strlen(CLOCK_DOMAIN_UNKNOWN));
    err[0] = '\0';
    c.lx = json_lex_create(src, 0);
    c.out.p = malloc(OUT_INITIAL);
    c.domains = correct_jtext_domains_create(model, opts->clock_domain_attr);
    if (!c.lx || !c.out.p || !c.domains) {
        snprintf(err, errlen, "%s: out of memory", c.name);
        rc = -INGEST_E_NOMEM;
        goto out;
    }
    c.out.cap = c.out_cap = OUT_INITIAL;
    rc = documents(&c);
    if (rc == 0 && fflush(out) != 0) {
        snprintf(err, errlen, "%s: writing the corrected output: %s", c.name,
                 strerror(errno));
        rc = -INGEST_E_NOINPUT;
    }
    if (rc < 0 && !c.own_err)
        snprintf(err, errlen, "%s", json_lex_message(c.lx));
out:
    json_lex_destroy(c.lx);
    free(c.out.p);
    free(c.cap.p);
    correct_jtext_domains_destroy(c.domains);
    free(c.ed);
    free(c.ins.p);
    free(c.tmp.p);
    free(c.dec.p);
    free(c.oc);
    free(c.mem);
    free(c.idx.m);
    return rc;
}

const struct correct_ops correct_otlp_json_ops = {
    .in_format = TRACE_FORMAT_OTLP_JSON,
    .run = stream_run,
};
