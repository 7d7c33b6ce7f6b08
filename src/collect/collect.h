/* collect: the host collector behind `skewscope collect`. It samples what a
 * Linux host, its NICs and its GPUs expose -- network interface counters
 * and link state, TCP retransmits, CPU time and pressure, PCIe link state
 * and AER counters, RDMA port counters, NVML (loaded at run time) -- into
 * a series_store (model/series.h), serves the latest values as Prometheus
 * metrics (collect_render(), collect_http.h) and records every sample
 * (ingest/collect_rec.h) for the imbalance detectors.
 *
 * Each source is a sampler behind one ops table (sampler.h, one file
 * each: sampler_net.c, ...). A source absent on this machine (no GPU, no
 * RDMA, no AER, no PSI) is left out: it is named once on stderr with the
 * reason, and skewscope_collect_source_up{source,reason} says so.
 *
 * Cadence: every tick (the fast interval, 10 ms by default) reads the fast
 * sources -- interface counters, TCP, CPU, pressure, and NVML's SM clock,
 * clock-event reasons and power; every slow tick (1 s by default, a
 * multiple of the interval) also reads what is slow to read or changes
 * slowly -- link attributes, PCIe, AER, RDMA, NVML's other fields.
 * collect_config.fast lists sources whose slow parts are read every tick.
 *
 * Counters: the store keeps each counter's raw value with the width it
 * wraps at (series_desc.wrap); /metrics shows a counter as the sum of
 * series_counter_delta() over its samples since the collector started,
 * so a 32-bit wrap is not mistaken for a reset by Prometheus and a reset
 * continues from the last total. Widths: what the source fixes (NVML's
 * replay counter: 32 bits; AER, PSI, /proc/stat: 64); for counters printed
 * from a kernel `unsigned long` (interface statistics, /proc/net/snmp)
 * the kernel's word size (uname; collect_config.kernel_bits), and a
 * counter seen above 2^32 is 64-bit from then on.
 *
 * Times: every sample is stamped with CLOCK_REALTIME in Unix ns, read just
 * before its sampler runs. The loop (collect_run) sleeps to absolute
 * CLOCK_MONOTONIC deadlines; a round that runs past one or more deadlines
 * counts them in skewscope_collect_overruns_total and waits for the next.
 *
 * Threads: collect_create, collect_tick, collect_run, collect_finish and
 * collect_destroy belong to one thread (the sampling thread).
 * collect_render() may be called from any thread at any time (the HTTP
 * threads): it takes the collector's lock, which a tick holds while it
 * samples. Errors: negative returns with a message in err; nothing here
 * exits. */
#ifndef SKEWSCOPE_COLLECT_H
#define SKEWSCOPE_COLLECT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct collector;
struct series_store;

/* The sources, in the order they are sampled; the names of --sources. */
#define COLLECT_SOURCES "net,tcp,cpu,pressure,pcie,aer,rdma,nvml"

/* Zero or NULL fields take the defaults in brackets. */
struct collect_config {
    const char *root;         /* prefix of /proc and /sys: a test points it at a
                                 fake tree ["/"] */
    const char *entity;       /* entity of every series [the host name] */
    const char *sources;      /* comma-separated subset of COLLECT_SOURCES
                                 [all] */
    const char *fast;         /* sources whose slow parts are read every tick
                                 (e.g. "rdma") [none] */
    const char *nvml_lib;     /* NVML library to dlopen [$SKEWSCOPE_NVML_LIB,
                                 else "libnvidia-ml.so.1"] */
    const char *out;          /* recording (ingest/collect_rec.h) to write;
                                 "-" = stdout, "*.gz" gzip [none] */
    int64_t interval_ns;      /* fast interval [10 ms] */
    int64_t slow_interval_ns; /* slow interval, rounded to a multiple of
                                 interval_ns [1 s] */
    int64_t peak_window_ns;   /* window of the peak rates on /metrics [1 s] */
    int64_t horizon_ns;       /* store horizon (series_store_set_horizon):
                                 0 keeps every sample (tests, short runs);
                                 `collect` sets one so memory stays bounded */
    unsigned kernel_bits;     /* width of kernel `unsigned long` counters:
                                 0 = from uname, else 32 or 64 */
};

/* Why collect_create failed. */
enum collect_failure {
    COLLECT_FAIL_CONFIG = 1, /* unknown source, negative interval */
    COLLECT_FAIL_OUTPUT = 2, /* the recording cannot be created */
    COLLECT_FAIL_NOMEM = 3,
};

/* Open every selected source (each one that is absent is logged once,
 * with why) and the recording. Returns NULL with a message in err and
 * *failure (when not NULL) saying which kind of failure it was. */
struct collector *collect_create(const struct collect_config *cfg,
                                 enum collect_failure *failure, char *err,
                                 size_t errlen);

/* Close the recording (flushing it) and the sources, and free c. NULL is a
 * no-op. Errors of the recording are lost: call collect_finish() first. */
void collect_destroy(struct collector *c);

/* One round of sampling at tick number collect_ticks()+1: every source's
 * fast part, and on every slow tick (the first included) the slow parts.
 * now_ns: the Unix-ns time to stamp the samples with (tests), or 0 to
 * read CLOCK_REALTIME before each sampler. The round's samples are
 * appended to the recording. Returns 0, or -1 with a message in err when
 * writing the recording failed. */
int collect_tick(struct collector *c, int64_t now_ns, char *err, size_t errlen);

/* Tick every interval_ns to absolute CLOCK_MONOTONIC deadlines until
 * duration_ns has passed (0: no limit) or *stop is set (by a signal
 * handler: the sleep is interrupted by a signal delivered to this thread).
 * first(ctx), when not NULL, is called once after the first tick (so that
 * a server started there never shows an empty page). Returns 0, or -1
 * with a message in err when the recording failed or first() returned
 * non-zero (its message in err). */
int collect_run(struct collector *c, int64_t duration_ns,
                const volatile sig_atomic_t *stop,
                int (*first)(void *ctx, char *err, size_t errlen), void *ctx,
                char *err, size_t errlen);

/* Flush and close the recording. Returns 0, or -1 with a message in err
 * (a write error: disk full, ...). Idempotent. */
int collect_finish(struct collector *c, char *err, size_t errlen);

/* The Prometheus text exposition (format 0.0.4) of the latest values: a
 * malloc'd, NUL-terminated page (caller frees) of *len bytes, or NULL when
 * out of memory. Thread-safe. */
char *collect_render(struct collector *c, size_t *len);

/* The store (owned by c). Sampling thread only, or when no tick runs. */
const struct series_store *collect_store(const struct collector *c);

/* Sources: how many were selected, and for i < that: name, whether it is
 * up, and why not ("" when up). Strings owned by c. */
size_t collect_source_count(const struct collector *c);
const char *collect_source_name(const struct collector *c, size_t i);
bool collect_source_up(const struct collector *c, size_t i);
const char *collect_source_why(const struct collector *c, size_t i);

/* Totals since create: rounds run, deadlines missed, samples recorded. */
struct collect_stats {
    uint64_t ticks;
    uint64_t overruns;
    uint64_t samples_recorded;
    size_t series;
};
void collect_stats(const struct collector *c, struct collect_stats *out);

#endif
