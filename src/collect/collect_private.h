/* collect_private: the collector's state, shared by the core (collect.c)
 * and the /metrics renderer (collect_expo.c). Not for samplers (they see
 * sampler.h only). */
#ifndef SKEWSCOPE_COLLECT_PRIVATE_H
#define SKEWSCOPE_COLLECT_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collect/collect.h"
#include "collect/sampler.h"

struct collect_record;

/* One source: a sampler, or (the last one) the core's own metrics. */
struct csrc {
    const struct collect_sampler_ops *ops; /* NULL: the core */
    const char *name;
    void *state;
    bool up;
    bool fast; /* slow parts every tick */
    char why[256];
    /* Tick numbers of its last round and last slow round: a series is
     * shown when it got a value in the last round of its cadence. */
    uint64_t last_fast, last_slow;
    uint32_t up_id; /* skewscope_collect_source_up series */
};

/* What the core keeps per store series (indexed by series id). */
struct cser {
    const struct collect_family *fam;
    uint32_t src;
    uint64_t last_tick;
    double prev;  /* last raw value */
    double total; /* counters: sum of deltas since the first value */
    bool have;
};

/* A family and its series, in the order they were created. */
struct cfam {
    const struct collect_family *f;
    uint32_t *ids;
    size_t n, cap;
};

struct collect_src {
    struct collector *c;
    uint32_t index; /* into c->src */
    int64_t now_ns;
    char err[256];
};

#define COLLECT_MAX_SRC 16

struct collector {
    struct collect_config cfg; /* strings below are copies */
    char *root;                /* without trailing '/' */
    char *entity;
    char *nvml_lib;
    char *out;
    struct series_store *store;
    pthread_mutex_t lock;
    struct csrc src[COLLECT_MAX_SRC];
    size_t nsrc; /* samplers, then the core */
    struct cser *ser;
    size_t sercap;
    struct cfam *fam;
    size_t nfam, famcap;
    uint32_t *touched; /* series put in this tick */
    size_t ntouched, touchedcap;
    double ulong_wrap;
    uint64_t tick;
    uint64_t slow_every;
    uint64_t overruns;
    int64_t round_max_ns, round_max_prev_ns;
    uint64_t rec_samples;
    struct collect_record *rec;
    /* the core's series */
    uint32_t id_overruns, id_ticks, id_round_max, id_interval, id_series;
    uint32_t id_cpu, id_rss;
};

/* Whether series id got a value in the last round of its cadence. */
bool collect_series_live(const struct collector *c, uint32_t id);

/* ---- the recording writer (collect_record.c) */

/* Open path ("-" = stdout; a name ending in ".gz" is written gzip) and
 * write the header. NULL with a message in err. */
struct collect_record *collect_record_open(const char *path, char *err,
                                           size_t errlen);
/* Append the newest sample of each of ids[0..n). Returns 0 or -1 (a write
 * error, reported by collect_record_close). */
int collect_record_write(struct collect_record *r, const struct series_store *s,
                         const uint32_t *ids, size_t n);
/* Hand the buffered lines to the OS (gzip: a sync flush). */
int collect_record_flush(struct collect_record *r);
/* Flush and close; 0, or -1 with the first write error in err. */
int collect_record_close(struct collect_record *r, char *err, size_t errlen);

#endif
