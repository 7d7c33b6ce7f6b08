/* hash: the one hash for table keys built from trace and span IDs, shared by
 * the span store's index and serve's trace assembly. IDs in the wild are not
 * random: counters, time-prefixed IDs (X-Ray style) and IDs that differ only
 * in their last bytes must spread over every bit of the table index, so each
 * 64-bit half goes through a full-avalanche finaliser (the one of
 * MurmurHash3/SplitMix64) before it is combined. Header-only. */
#ifndef SKEWSCOPE_HASH_H
#define SKEWSCOPE_HASH_H

#include <stdint.h>
#include <string.h>

/* A bijection on 64-bit words in which every input bit affects every
 * output bit. */
static inline uint64_t hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Hash of a 16-byte trace ID combined with a 64-bit salt (a span ID, a flag
 * or 0). Any bit of either changes the low bits a table takes as its index. */
static inline uint64_t hash_id128(const uint8_t id[16], uint64_t salt)
{
    uint64_t a, b;

    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return hash_mix64(a ^ hash_mix64(b ^ hash_mix64(salt)));
}

#endif
