/* json_split: cut a stream of JSON documents into pieces small enough to
 * load as a DOM, for `correct`. A document no larger than the limit comes
 * out verbatim, as one piece. A larger one is cut between the elements of
 * its big array (a top-level array, or the array value of one of the given
 * top-level keys, e.g. "resourceSpans" or Jaeger's "data"): each piece is
 * the document's opening (everything up to and including that array's '['),
 * some whole elements, and "]}" (or "]"); the last piece ends with the
 * document's own closing bytes. Each element (a resource's spans, a trace, a
 * Zipkin span) stays whole, so every piece is a valid document of the same
 * format, and memory is bounded by the limit plus the largest element.
 *
 * Memory is bounded whatever the input: besides the pieces, the splitter
 * holds at most the document's opening plus one element (or, for a
 * document it cannot cut, the whole document) and refuses more than the
 * element limit (json_split_set_max_element(), default
 * JSON_SPLIT_DEFAULT_MAX_ELEMENT) with -4, naming where that element starts,
 * instead of buffering a 10 GiB string.
 *
 * The splitter checks only bracket nesting and strings; the DOM parser that
 * loads each piece checks the rest. */
#ifndef SKEWSCOPE_JSON_SPLIT_H
#define SKEWSCOPE_JSON_SPLIT_H

#include <stddef.h>

struct source;
struct json_split;

#define JSON_SPLIT_DEFAULT_MAX (8u << 20)                 /* bytes */
#define JSON_SPLIT_DEFAULT_MAX_ELEMENT ((size_t)64 << 20) /* bytes */

/* keys: NULL-terminated list of top-level keys whose array may be cut (the
 * list must outlive the splitter). max_bytes: the size beyond which a
 * document is cut. Returns NULL when out of memory. */
struct json_split *json_split_create(struct source *src,
                                     const char *const *keys, size_t max_bytes);
void json_split_destroy(struct json_split *s);
/* The most bytes held at once for the document's opening and the element
 * being read (0: the default). */
void json_split_set_max_element(struct json_split *s, size_t bytes);

struct json_piece {
    const char *text; /* owned by the splitter, valid until the next call */
    size_t len;
    long line, col;  /* where the piece's first byte was read (1-based) */
    size_t document; /* 0-based index of the document it belongs to */
};

/* Next piece. Returns 1, 0 at the end of the input, -1 on a structural
 * error (message "LINE:COL: expected ..." in err), -2 on a read error
 * (source_error() says which), -3 when out of memory, -4 when an element
 * is larger than the element limit (message "LINE:COL: ..." giving where
 * that element, or the document, starts and the limit in bytes). */
int json_split_next(struct json_split *s, struct json_piece *p, char *err,
                    size_t errlen);

#endif
