/* serve_memory: keeping `skewscope serve`'s resident memory close to what
 * it holds. serve allocates per request and per trace generation: bodies
 * and span stores of up to tens of MB, freed a moment later, on several
 * threads. glibc's allocator left alone keeps what is freed: each thread
 * that allocates may get an arena of its own (up to 8 per core), and the
 * mmap threshold adapts upwards after each large free, so that large
 * buffers come from the arenas' heaps and their pages stay resident when
 * freed. Measured under steady load: RSS 656 MB at 5 s, 1.3 GB after
 * two minutes, and the idle RSS climbing from one load phase to the next
 * while the bytes in use were 0.45 MB.
 *
 * Flow: serve_start -> serve_memory_tune (before any thread starts);
 * the analysis thread -> serve_publish -> serve_memory_trim after each
 * update; /metrics -> serve_memory_read.
 *
 * Threads: serve_memory_tune from the owner thread before the service's
 * threads start; the others from any thread. */
#ifndef SKEWSCOPE_SERVE_MEMORY_H
#define SKEWSCOPE_SERVE_MEMORY_H

#include <stdint.h>

/* Allocator settings for a long-running serve: at most 8 arenas whatever
 * the number of cores, and a fixed mmap threshold of 1 MiB (large blocks
 * are mapped and unmapped, never kept in an arena). Process-wide;
 * idempotent. What returns the arenas' free pages is serve_memory_trim. */
void serve_memory_tune(void);

/* Give the free pages of every arena back to the system (malloc_trim),
 * at most once per min_interval_ns (calls in between return at once).
 * Returns the nanoseconds it took (0 when it did not run). */
int64_t serve_memory_trim(int64_t min_interval_ns);

struct serve_memory_usage {
    uint64_t rss_bytes;     /* resident set size now */
    uint64_t heap_in_use;   /* bytes allocated (arenas + mapped blocks) */
    uint64_t heap_free;     /* free bytes the arenas hold */
    uint64_t trims;         /* serve_memory_trim runs */
    uint64_t trim_ns_total; /* time they took */
};

/* What the process holds now (mallinfo2, /proc/self/statm). Thread-safe;
 * mallinfo2 walks every arena under its lock: call it at scrape rate,
 * not per request. */
void serve_memory_read(struct serve_memory_usage *out);

#endif
