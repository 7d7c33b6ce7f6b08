/* wire_buf: building protobuf bytes by hand in tests (fields the generated
 * code would never write: unknown fields, odd orders, truncations). */
#ifndef SKEWSCOPE_TEST_WIRE_BUF_H
#define SKEWSCOPE_TEST_WIRE_BUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/otlp_proto.h"

struct buf {
    uint8_t *p;
    size_t len;
};

static inline void buf_put(struct buf *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->len + n + 1);
    assert_non_null(b->p);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline void buf_varint(struct buf *b, uint64_t v)
{
    uint8_t t[10];

    buf_put(b, t, otlp_proto_put_varint(t, v));
}

/* A length-delimited field: tag(num, 2) len payload. */
static inline void buf_field(struct buf *b, unsigned num, const void *p,
                             size_t n)
{
    buf_varint(b, (uint64_t)num << 3 | 2);
    buf_varint(b, n);
    buf_put(b, p, n);
}

#endif
