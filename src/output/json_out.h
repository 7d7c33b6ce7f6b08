/* json_out: buffered writing of JSON text by hand, for the writers that
 * must be fast (a million spans in a second): a 64 KiB buffer, integers
 * without printf, strings escaped by util/json_esc. Write errors are sticky in
 * `failed`. */
#ifndef SKEWSCOPE_JSON_OUT_H
#define SKEWSCOPE_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_OUT_BUF 65536

struct json_out {
    FILE *out;  /* not closed by json_out */
    int failed; /* nonzero after any write error */
    size_t len;
    char buf[JSON_OUT_BUF];
};

void json_out_init(struct json_out *o, FILE *out);
/* Hand the buffered bytes to the FILE (not fflush'ed). */
void json_out_flush(struct json_out *o);
void json_out_put(struct json_out *o, const char *s, size_t n);
#define JSON_OUT_LIT(o, lit) json_out_put((o), (lit), sizeof(lit) - 1)
/* A decimal integer. */
void json_out_i64(struct json_out *o, int64_t v);
/* A trace ID as 32 quoted hex digits; a span ID as 16. */
void json_out_trace_id(struct json_out *o, const uint8_t id[16]);
void json_out_span_id(struct json_out *o, uint64_t id);
/* A quoted JSON string; NULL writes "". Bytes >= 0x80 pass through
 * (UTF-8 assumed). */
void json_out_str(struct json_out *o, const char *s);

#endif
