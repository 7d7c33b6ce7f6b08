/* counter: relaxed atomic event counters, read from any thread (each read
 * is atomic; a set of them is not one instant). Header-only. */
#ifndef SKEWSCOPE_COUNTER_H
#define SKEWSCOPE_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

static inline void counter_add(atomic_uint_fast64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t counter_get(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
