/* serve_memory: allocator settings, trimming and the memory figures of
 * `skewscope serve` (see serve_memory.h). glibc-specific (mallopt,
 * malloc_trim, mallinfo2); elsewhere the functions do nothing and report
 * the RSS only. */
#define _GNU_SOURCE
#include "serve/serve_memory.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "util/clock.h"
#include "util/counter.h"

/* Arenas: glibc gives each allocating thread one, up to 8 per core; 8 in
 * all bound how many heaps freed memory can hide in on a machine with many
 * cores, and are as many as serve has busy threads. */
#define ARENA_MAX 8
/* Blocks from 1 MiB up are mapped and unmapped, never carved from an
 * arena. Each decoded request's span store starts with a 4 MiB block of
 * which a 100-span request touches 6 KiB: glibc's adaptive threshold (up to
 * 32 MiB after the first such free) put those blocks in the arenas, whose
 * heaps (64 MiB each) then multiplied: 2,362 mappings and 66 GB of address
 * space after a minute of load. With the threshold fixed: about 330
 * mappings, the same resident size and ingest rate (within the noise of a
 * shared machine). */
#define MMAP_THRESHOLD (1024 * 1024)

/* Measured on 2 cores (30-60 s of saturating load, shared machine): glibc's
 * defaults kept 918 MB resident when idle, malloc_trim after each update
 * 15-60 MB; 4 arenas (with fixed thresholds) cost about a fifth of the
 * ingest rate against glibc's 16, so 8. */
static atomic_int_fast64_t last_trim_ns;
static atomic_uint_fast64_t trims, trim_ns_total;

void serve_memory_tune(void)
{
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, ARENA_MAX);
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
#endif
}

int64_t serve_memory_trim(int64_t min_interval_ns)
{
    int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
    int64_t last = atomic_load(&last_trim_ns), took;

    if (last && t0 - last < min_interval_ns)
        return 0;
    if (!atomic_compare_exchange_strong(&last_trim_ns, &last, t0))
        return 0; /* another thread is trimming */
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    took = clock_now_ns(CLOCK_MONOTONIC) - t0;
    counter_add(&trims, 1);
    counter_add(&trim_ns_total, (uint64_t)took);
    return took;
}

void serve_memory_read(struct serve_memory_usage *out)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    out->rss_bytes = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) == 2)
            out->rss_bytes =
                (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    /* arena - fordblks rather than uordblks: under load glibc's per-arena
     * sums can momentarily wrap (seen: 40 GB "in use" at 600 MB RSS) */
    struct mallinfo2 mi = mallinfo2();
    out->heap_in_use =
        (mi.arena > mi.fordblks ? mi.arena - mi.fordblks : 0) + mi.hblkhd;
    out->heap_free = mi.fordblks < mi.arena ? mi.fordblks : mi.arena;
#else
    out->heap_in_use = out->heap_free = 0;
#endif
    out->trims = counter_get(&trims);
    out->trim_ns_total = counter_get(&trim_ns_total);
}
