/* json_split: a byte-level scanner (strings, escapes, nesting) that finds
 * document and element boundaries, and buffers one document, or one part
 * of one, at a time. */
#include "output/json_split.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/source.h"

#define READ_CHUNK 65536
#define MAX_DEPTH 4096
#define KEY_MAX 64

struct json_split {
    struct source *src;
    const char *const *keys;
    size_t max, max_element;
    char *in; /* input chunk */
    size_t in_pos, in_len;
    bool eof, read_error, begun;
    long line, col; /* position of in[in_pos] */
    char *buf;      /* the current document (or what is left of it) */
    size_t len, cap;
    /* scanner state for the current document */
    int depth;
    bool in_str, esc, started, top_array;
    bool expect_key; /* at depth 1 of an object: next string is a key */
    size_t key_start;
    bool key_match, armed;
    int split_depth;         /* depth of the cut array's elements, 0 = none */
    size_t prefix_len;       /* bytes up to and including the array's '[' */
    size_t region_start;     /* first byte of the elements not yet emitted */
    size_t last_end;         /* end of the last complete element, 0 = none */
    bool in_element, closed; /* document complete */
    size_t documents, pieces_of_doc;
    long doc_line, doc_col, piece_line, piece_col, elem_line, elem_col;
    char *out; /* assembled piece */
    size_t out_cap;
};

struct json_split *json_split_create(struct source *src,
                                     const char *const *keys, size_t max_bytes)
{
    struct json_split *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->src = src;
    s->keys = keys;
    s->max = max_bytes ? max_bytes : JSON_SPLIT_DEFAULT_MAX;
    s->max_element = JSON_SPLIT_DEFAULT_MAX_ELEMENT;
    s->in = malloc(READ_CHUNK);
    s->line = 1;
    s->col = 1;
    if (!s->in) {
        free(s);
        return NULL;
    }
    return s;
}

void json_split_set_max_element(struct json_split *s, size_t bytes)
{
    s->max_element = bytes ? bytes : JSON_SPLIT_DEFAULT_MAX_ELEMENT;
}

void json_split_destroy(struct json_split *s)
{
    if (!s)
        return;
    free(s->in);
    free(s->buf);
    free(s->out);
    free(s);
}

/* Next input byte, or -1 at the end (-2 on a read error). */
static int next_byte(struct json_split *s)
{
    if (s->in_pos == s->in_len) {
        if (s->eof)
            return -1;
        ssize_t n = source_read(s->src, s->in, READ_CHUNK);
        if (n <= 0) {
            s->eof = true;
            s->read_error = n < 0;
            return n < 0 ? -2 : -1;
        }
        s->in_pos = 0;
        s->in_len = (size_t)n;
    }
    return (unsigned char)s->in[s->in_pos++];
}

static void advance_position(struct json_split *s, int c)
{
    if (c == '\n') {
        s->line++;
        s->col = 1;
    } else {
        s->col++;
    }
}

static int append(struct json_split *s, char c)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 65536;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return -3;
        s->buf = nb;
        s->cap = cap;
    }
    s->buf[s->len++] = c;
    return 0;
}

static bool key_is_split(const struct json_split *s, size_t start, size_t end)
{
    size_t n = end - start;

    for (size_t i = 0; s->keys && s->keys[i]; i++)
        if (strlen(s->keys[i]) == n && !memcmp(s->buf + start, s->keys[i], n))
            return true;
    return false;
}

static void reset_document(struct json_split *s)
{
    s->len = 0;
    s->depth = 0;
    s->in_str = s->esc = s->started = s->top_array = false;
    s->expect_key = s->key_match = s->armed = false;
    s->split_depth = 0;
    s->prefix_len = s->region_start = s->last_end = 0;
    s->in_element = s->closed = false;
    s->pieces_of_doc = 0;
}

static int fail(struct json_split *s, char *err, size_t errlen,
                const char *what)
{
    snprintf(err, errlen, "%ld:%ld: %s", s->line, s->col, what);
    return -1;
}

/* Bytes held beyond the complete elements waiting to be cut: the opening,
 * the element being read, and what follows the cut array. */
static size_t held(const struct json_split *s)
{
    return s->len - (s->last_end ? s->last_end - s->region_start : 0);
}

static int too_large(struct json_split *s, char *err, size_t errlen)
{
    bool elem = s->in_element && s->depth >= s->split_depth;

    snprintf(err, errlen,
             "%ld:%ld: this %s is larger than %zu bytes, the most that is "
             "held in memory at once",
             elem ? s->elem_line : s->doc_line, elem ? s->elem_col : s->doc_col,
             elem ? "element" : "document", s->max_element);
    return -4;
}

/* The string that just closed at depth 1 (its bytes end before len - 1). */
static void string_closed(struct json_split *s)
{
    if (s->depth == 1 && s->expect_key) {
        s->key_match = key_is_split(s, s->key_start + 1, s->len - 1);
        s->expect_key = false;
    }
}

/* An element of the cut array ends at the byte just appended (a ',' or
 * the closing ']'), which is not part of it. */
static void element_closed(struct json_split *s)
{
    if (s->in_element)
        s->last_end = s->len - 1;
    s->in_element = false;
}

/* Track nesting for one structural byte c (already appended). */
static int structure(struct json_split *s, int c, char *err, size_t errlen)
{
    if (c == '{' || c == '[') {
        if (s->depth == 0)
            s->top_array = c == '[';
        if (++s->depth > MAX_DEPTH)
            return fail(s, err, errlen, "nesting deeper than 4096 levels");
        if (s->depth == 1 && c == '[') {
            s->split_depth = 1;
            s->prefix_len = s->region_start = s->len;
        } else if (s->depth == 2 && c == '[' && s->armed &&
                   s->split_depth == 0) {
            /* only the first such array is cut: the opening kept for every
             * piece must not contain elements already emitted */
            s->split_depth = 2;
            s->prefix_len = s->region_start = s->len;
        }
        s->expect_key = s->depth == 1 && c == '{';
        s->armed = false;
    } else if (c == '}' || c == ']') {
        if (s->depth == 0)
            return fail(s, err, errlen, "unbalanced closing bracket");
        if (s->depth == s->split_depth) {
            element_closed(s);
            s->split_depth = -1; /* the cut array is over */
        }
        if (--s->depth == 0)
            s->closed = true;
    } else if (c == ',' && s->depth == 1) {
        s->expect_key = !s->top_array;
        s->armed = false;
    } else if (c == ':' && s->depth == 1) {
        s->armed = s->key_match;
        s->key_match = false;
    }
    if (c == ',' && s->depth == s->split_depth)
        element_closed(s);
    return 0;
}

/* Emit the complete elements so far as a piece of their own. */
static int cut(struct json_split *s, struct json_piece *p)
{
    const char *closer = s->split_depth == 1 ? "]" : "]}";
    size_t body = s->last_end - s->region_start;
    size_t need = s->prefix_len + body + 3;

    if (need > s->out_cap) {
        char *no = realloc(s->out, need);
        if (!no)
            return -3;
        s->out = no;
        s->out_cap = need;
    }
    memcpy(s->out, s->buf, s->prefix_len);
    memcpy(s->out + s->prefix_len, s->buf + s->region_start, body);
    memcpy(s->out + s->prefix_len + body, closer, strlen(closer));
    p->text = s->out;
    p->len = s->prefix_len + body + strlen(closer);
    p->line = s->piece_line;
    p->col = s->piece_col;
    p->document = s->documents;
    /* keep the opening and the element being read; drop the ',' */
    size_t keep = s->len - (s->last_end + 1);
    memmove(s->buf + s->prefix_len, s->buf + s->last_end + 1, keep);
    s->len = s->prefix_len + keep;
    s->region_start = s->prefix_len;
    s->last_end = 0;
    s->pieces_of_doc++;
    s->piece_line = s->elem_line;
    s->piece_col = s->elem_col;
    return 1;
}

static int whole(struct json_split *s, struct json_piece *p)
{
    p->text = s->buf;
    p->len = s->len;
    p->line = s->pieces_of_doc ? s->piece_line : s->doc_line;
    p->col = s->pieces_of_doc ? s->piece_col : s->doc_col;
    p->document = s->documents++;
    s->closed = false;
    s->started = false;
    return 1;
}

/* One byte of the document: string state, element starts, structure. */
static int scan(struct json_split *s, int c, char *err, size_t errlen)
{
    if (s->in_str) {
        if (s->esc)
            s->esc = false;
        else if (c == '\\')
            s->esc = true;
        else if (c == '"') {
            s->in_str = false;
            string_closed(s);
        }
        return 0;
    }
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && s->split_depth > 0 && s->depth == s->split_depth &&
        !s->in_element && c != ',' && c != ']') {
        s->in_element = true;
        s->elem_line = s->line;
        s->elem_col = s->col;
    }
    if (c == '"') {
        s->in_str = true;
        if (s->depth == 1 && s->expect_key)
            s->key_start = s->len - 1;
        return 0;
    }
    return structure(s, c, err, errlen);
}

/* Skip a byte order mark and white space at the start of the stream (as
 * the readers do; format detection may have consumed some already) and
 * take the position from there. */
static int begin(struct json_split *s)
{
    uint64_t off, lines, line_start;

    if (source_skip_space(s->src) < 0) {
        s->eof = s->read_error = true;
        return -2;
    }
    source_position(s->src, &off, &lines, &line_start);
    s->line = (long)lines + 1;
    s->col = (long)(off - line_start) + 1;
    s->begun = true;
    return 0;
}

int json_split_next(struct json_split *s, struct json_piece *p, char *err,
                    size_t errlen)
{
    int c, r;

    if (!s->begun && (r = begin(s)) < 0)
        return r;
    if (!s->started)
        reset_document(s);
    for (;;) {
        if (s->closed)
            return whole(s, p);
        c = next_byte(s);
        if (c == -2)
            return -2;
        if (c == -1) {
            if (!s->started)
                return 0;
            return fail(s, err, errlen,
                        "unexpected end of input inside a "
                        "document");
        }
        if (!s->started) {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                advance_position(s, c);
                continue;
            }
            if (c != '{' && c != '[') {
                return fail(s, err, errlen, "expected '{' or '['");
            }
            s->started = true;
            s->doc_line = s->piece_line = s->line;
            s->doc_col = s->piece_col = s->col;
        }
        if ((r = append(s, (char)c)) < 0)
            return r;
        if ((r = scan(s, c, err, errlen)) < 0)
            return r;
        if (held(s) > s->max_element)
            return too_large(s, err, errlen);
        advance_position(s, c);
        if (s->last_end && s->len > s->max && s->split_depth > 0 &&
            s->depth >= s->split_depth)
            return cut(s, p);
    }
}
