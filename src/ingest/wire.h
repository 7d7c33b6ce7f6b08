/* wire: protobuf wire-format primitives shared by the hand-written
 * protobuf paths (ingest/otlp_walk under the fast read path and the
 * in-place correction, output/correct_wire; output/correct_proto; serve's
 * gRPC framing). Header-only so the per-field
 * readers inline; bounds-checked, never reading at or past `end`. */
#ifndef SKEWSCOPE_WIRE_H
#define SKEWSCOPE_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Wire types (groups, 3 and 4, are not supported). */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* The per-field readers run tens of times per span: keep them inlined. */
#if defined(__GNUC__)
#define WIRE_INLINE inline __attribute__((always_inline))
#else
#define WIRE_INLINE inline
#endif

/* A varint of at most 10 bytes at *pp (before end): 0 with *pp moved past
 * it, or -1 with *pp unchanged. */
static inline int wire_varint_slow(const uint8_t **pp, const uint8_t *end,
                                   uint64_t *v)
{
    const uint8_t *p = *pp;
    size_t n = (size_t)(end - p);
    uint64_t x = 0;

    for (size_t i = 0; i < 10 && i < n; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            *pp = p + i + 1;
            return 0;
        }
    }
    return -1;
}

/* wire_varint_slow with the one-byte case first. */
static WIRE_INLINE int wire_varint(const uint8_t **pp, const uint8_t *end,
                                   uint64_t *v)
{
    const uint8_t *p = *pp;

    if (p < end && *p < 0x80) {
        *v = *p;
        *pp = p + 1;
        return 0;
    }
    return wire_varint_slow(pp, end, v);
}

/* Little-endian unsigned of n (<= 8) bytes at p. */
static WIRE_INLINE uint64_t wire_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static WIRE_INLINE void wire_put_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Bytes of v as a varint (1..10). */
static WIRE_INLINE size_t wire_varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

#endif
