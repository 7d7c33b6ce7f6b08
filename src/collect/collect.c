/* collect: the collector core: the registry of samplers, the series the
 * samplers create and the totals /metrics shows for counters, the tick and
 * the sampling loop, and the core's own metrics. See collect.h for the
 * contract; the samplers' file helpers are in collect_fs.c. */
#include "collect/collect.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "collect/collect_private.h"
#include "model/series.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"

/* The samplers, in the order of COLLECT_SOURCES. */
static const struct collect_sampler_ops *const samplers[] = {
    &collect_net_ops,      &collect_tcp_ops,  &collect_cpu_ops,
    &collect_pressure_ops, &collect_pcie_ops, &collect_aer_ops,
    &collect_rdma_ops,     &collect_nvml_ops,
};
#define NSAMPLERS (sizeof(samplers) / sizeof(samplers[0]))

/* ---- the core's own metrics (slow) */

/* CORE(name, help, G or C): a slow gauge or counter that never wraps. */
#define CORE(name, help, ...)                                                  \
    {                                                                          \
        name, help, __VA_ARGS__, 0, COLLECT_F_SLOW                             \
    }
#define G SERIES_GAUGE, COLLECT_T_GAUGE
#define C SERIES_COUNTER, COLLECT_T_COUNTER

static const struct collect_family fam_up =
    CORE("skewscope_collect_source_up",
         "1 when the source is sampled, 0 when it is not available on this "
         "host (the reason label says why)",
         G);
static const struct collect_family fam_overruns =
    CORE("skewscope_collect_overruns_total",
         "Sampling deadlines missed because a round ran past them", C);
static const struct collect_family fam_ticks =
    CORE("skewscope_collect_rounds_total", "Sampling rounds run", C);
static const struct collect_family fam_round_max =
    CORE("skewscope_collect_round_max_seconds",
         "Longest sampling round in the previous slow interval, in seconds", G);
static const struct collect_family fam_interval =
    CORE("skewscope_collect_interval_seconds",
         "Fast sampling interval, in seconds", G);
static const struct collect_family fam_series =
    CORE("skewscope_collect_series", "Series in the collector's store", G);
static const struct collect_family fam_cpu =
    CORE("process_cpu_seconds_total",
         "User and system CPU time of the collector process, in seconds", C);
static const struct collect_family fam_rss =
    CORE("process_resident_memory_bytes",
         "Resident memory of the collector process, in bytes", G);

#undef G
#undef C

/* ---- series */

static struct cfam *family_of(struct collector *c,
                              const struct collect_family *f)
{
    for (size_t i = 0; i < c->nfam; i++)
        if (c->fam[i].f == f)
            return &c->fam[i];
    if (grow_array_zeroed((void **)&c->fam, &c->famcap, c->nfam + 1,
                          sizeof(*c->fam)) < 0)
        return NULL;
    c->fam[c->nfam].f = f;
    return &c->fam[c->nfam++];
}

static double resolve_wrap(const struct collector *c, double wrap)
{
    return wrap == COLLECT_WRAP_ULONG ? c->ulong_wrap : wrap;
}

static uint32_t series_in(struct collector *c, uint32_t src,
                          const struct collect_family *f,
                          const struct series_label *labels, size_t n)
{
    struct series_desc d = {c->entity, f->name, labels, n, f->kind, 0};
    struct cfam *cf;
    int64_t id;

    d.wrap = f->kind == SERIES_COUNTER ? resolve_wrap(c, f->wrap) : 0;
    /* An existing series keeps the wrap it learnt (a 32-bit counter seen
     * above 2^32 is 64-bit). */
    if (f->kind == SERIES_COUNTER && d.wrap > 0) {
        int64_t old =
            series_store_find(c->store, c->entity, f->name, labels, n);

        if (old >= 0 && series_wrap(c->store, (uint32_t)old) > d.wrap)
            d.wrap = 0;
    }
    id = series_store_intern(c->store, &d);
    if (id < 0) {
        if (id != -SERIES_E_NOMEM)
            log_error("collect: series %s: %s", f->name,
                      series_strerror((int)id));
        return SERIES_NONE;
    }
    if ((size_t)id < c->sercap && c->ser[id].fam)
        return (uint32_t)id;
    if (grow_array_zeroed((void **)&c->ser, &c->sercap, (size_t)id + 1,
                          sizeof(*c->ser)) < 0 ||
        !(cf = family_of(c, f)) ||
        grow_array_zeroed((void **)&cf->ids, &cf->cap, cf->n + 1,
                          sizeof(*cf->ids)) < 0)
        return SERIES_NONE;
    c->ser[id].fam = f;
    c->ser[id].src = src;
    cf->ids[cf->n++] = (uint32_t)id;
    return (uint32_t)id;
}

uint32_t collect_series(struct collect_src *src, const struct collect_family *f,
                        const struct series_label *labels, size_t n)
{
    return series_in(src->c, src->index, f, labels, n);
}

/* A counter seen at or above 2^32 is at least 64 bits wide. */
static void widen(struct collector *c, uint32_t id)
{
    size_t n;
    const struct series_label *l = series_labels(c->store, id, &n);
    struct series_desc d = {series_entity(c->store, id),
                            series_metric(c->store, id),
                            l,
                            n,
                            SERIES_COUNTER,
                            COLLECT_WRAP64};

    (void)series_store_intern(c->store, &d);
}

static void put_at(struct collector *c, uint32_t id, int64_t t_ns, double v)
{
    struct cser *s;

    if (id == SERIES_NONE || id >= c->sercap || !c->ser[id].fam)
        return;
    s = &c->ser[id];
    if (series_store_append(c->store, id, t_ns, v) < 0)
        return;
    if (s->fam->kind == SERIES_COUNTER && v == v) {
        double wrap = series_wrap(c->store, id);

        if (wrap == COLLECT_WRAP32 && v >= COLLECT_WRAP32) {
            widen(c, id);
            wrap = COLLECT_WRAP64;
        }
        s->total =
            s->have ? s->total + series_counter_delta(s->prev, v, wrap) : v;
    }
    if (v == v) {
        s->prev = v;
        s->have = true;
    }
    if (s->last_tick != c->tick &&
        grow_array_zeroed((void **)&c->touched, &c->touchedcap, c->ntouched + 1,
                          sizeof(*c->touched)) == 0)
        c->touched[c->ntouched++] = id;
    s->last_tick = c->tick;
}

void collect_put(struct collect_src *src, uint32_t id, double v)
{
    put_at(src->c, id, src->now_ns, v);
}

bool collect_last(const struct collect_src *src, uint32_t id, double *v)
{
    const struct collector *c = src->c;

    if (id == SERIES_NONE || id >= c->sercap || !c->ser[id].have)
        return false;
    *v = c->ser[id].prev;
    return true;
}

bool collect_series_live(const struct collector *c, uint32_t id)
{
    const struct cser *s = &c->ser[id];
    const struct csrc *o;

    if (!s->fam || !s->last_tick)
        return false;
    o = &c->src[s->src];
    return s->last_tick ==
           ((s->fam->flags & COLLECT_F_SLOW) ? o->last_slow : o->last_fast);
}

const char *collect_root(const struct collect_src *src)
{
    return src->c->root;
}

const struct collect_config *collect_cfg(const struct collect_src *src)
{
    return &src->c->cfg;
}

void collect_src_error(struct collect_src *src, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(src->err, sizeof(src->err), fmt, ap);
    va_end(ap);
}

/* ---- create / destroy */

static double kernel_ulong_wrap(unsigned bits)
{
    struct utsname u;

    if (bits == 32)
        return COLLECT_WRAP32;
    if (bits == 64 || uname(&u) != 0)
        return COLLECT_WRAP64;
    return strstr(u.machine, "64") || !strcmp(u.machine, "s390x")
               ? COLLECT_WRAP64
               : COLLECT_WRAP32;
}

/* Whether name is in the comma-separated list (NULL = every name when
 * all_if_null). */
static bool listed(const char *list, const char *name, bool all_if_null)
{
    size_t n = strlen(name);

    if (!list)
        return all_if_null;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);

        if (l == n && !strncmp(p, name, n))
            return true;
        p += l + (e != NULL);
    }
    return false;
}

static int check_list(const char *what, const char *list, char *err,
                      size_t errlen)
{
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        bool known = false;

        for (size_t i = 0; i < NSAMPLERS; i++)
            known |= strlen(samplers[i]->name) == l &&
                     !strncmp(samplers[i]->name, p, l);
        if (!known) {
            snprintf(err, errlen, "%s: unknown source '%.*s' (known: %s)", what,
                     (int)l, p, COLLECT_SOURCES);
            return -1;
        }
        p += l + (e != NULL);
    }
    return 0;
}

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s && *s ? s : dflt);
}

/* Defaults, checks and copies of cfg into c. Returns 0 or a negated
 * enum collect_failure. */
static int apply_config(struct collector *c, const struct collect_config *cfg,
                        char *err, size_t errlen)
{
    char host[256] = "localhost";
    size_t rl;

    c->cfg = *cfg;
    if (!c->cfg.interval_ns)
        c->cfg.interval_ns = 10000000;
    if (!c->cfg.slow_interval_ns)
        c->cfg.slow_interval_ns = 1000000000;
    if (!c->cfg.peak_window_ns)
        c->cfg.peak_window_ns = 1000000000;
    if (c->cfg.interval_ns < 0 || c->cfg.slow_interval_ns < 0 ||
        c->cfg.peak_window_ns < 0 || c->cfg.horizon_ns < 0) {
        snprintf(err, errlen, "intervals must be positive");
        return -COLLECT_FAIL_CONFIG;
    }
    if (check_list("sources", cfg->sources, err, errlen) < 0 ||
        check_list("fast", cfg->fast, err, errlen) < 0)
        return -COLLECT_FAIL_CONFIG;
    c->slow_every = (uint64_t)(c->cfg.slow_interval_ns / c->cfg.interval_ns);
    if (c->slow_every < 1)
        c->slow_every = 1;
    c->cfg.slow_interval_ns = (int64_t)c->slow_every * c->cfg.interval_ns;
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = 0;
    c->root = dup_or(cfg->root, "/");
    c->entity = dup_or(cfg->entity, host);
    c->nvml_lib =
        dup_or(cfg->nvml_lib ? cfg->nvml_lib : getenv("SKEWSCOPE_NVML_LIB"),
               "libnvidia-ml.so.1");
    if (!c->root || !c->entity || !c->nvml_lib ||
        (cfg->out && !(c->out = strdup(cfg->out)))) {
        snprintf(err, errlen, "out of memory");
        return -COLLECT_FAIL_NOMEM;
    }
    rl = strlen(c->root);
    while (rl > 0 && c->root[rl - 1] == '/')
        c->root[--rl] = 0;
    c->cfg.root = c->root;
    c->cfg.entity = c->entity;
    c->cfg.nvml_lib = c->nvml_lib;
    c->cfg.sources = c->cfg.fast = NULL; /* not kept */
    c->cfg.out = c->out;
    c->ulong_wrap = kernel_ulong_wrap(cfg->kernel_bits);
    return 0;
}

static void open_sources(struct collector *c, const struct collect_config *cfg)
{
    for (size_t i = 0; i < NSAMPLERS; i++) {
        struct csrc *s;
        struct collect_src ctx = {c, 0, 0, ""};

        if (!listed(cfg->sources, samplers[i]->name, true))
            continue;
        s = &c->src[c->nsrc];
        ctx.index = (uint32_t)c->nsrc++;
        s->ops = samplers[i];
        s->name = samplers[i]->name;
        s->fast = listed(cfg->fast, s->name, false);
        s->up = s->ops->open(&ctx, &s->state, s->why, sizeof(s->why)) == 0;
        if (!s->up) {
            if (!s->why[0])
                snprintf(s->why, sizeof(s->why), "not found");
            log_warn("collect: %s left out: %s", s->name, s->why);
        }
    }
    c->src[c->nsrc].name = "collect";
    c->src[c->nsrc].up = true;
    c->nsrc++;
}

static void core_series(struct collector *c)
{
    uint32_t core = (uint32_t)(c->nsrc - 1);

    for (size_t i = 0; i + 1 < c->nsrc; i++) {
        struct series_label l[2] = {{"source", c->src[i].name},
                                    {"reason", c->src[i].why}};

        c->src[i].up_id = series_in(c, core, &fam_up, l, c->src[i].up ? 1 : 2);
    }
    c->id_overruns = series_in(c, core, &fam_overruns, NULL, 0);
    c->id_ticks = series_in(c, core, &fam_ticks, NULL, 0);
    c->id_round_max = series_in(c, core, &fam_round_max, NULL, 0);
    c->id_interval = series_in(c, core, &fam_interval, NULL, 0);
    c->id_series = series_in(c, core, &fam_series, NULL, 0);
    c->id_cpu = series_in(c, core, &fam_cpu, NULL, 0);
    c->id_rss = series_in(c, core, &fam_rss, NULL, 0);
}

struct collector *collect_create(const struct collect_config *cfg,
                                 enum collect_failure *failure, char *err,
                                 size_t errlen)
{
    struct collector *c = calloc(1, sizeof(*c));
    enum collect_failure why = COLLECT_FAIL_NOMEM;
    int rc;

    if (!c) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&c->lock, NULL);
    if ((rc = apply_config(c, cfg, err, errlen)) < 0) {
        why = (enum collect_failure) - rc;
        goto fail;
    }
    if (!(c->store = series_store_create())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    series_store_set_horizon(c->store, c->cfg.horizon_ns);
    if (cfg->out && !(c->rec = collect_record_open(cfg->out, err, errlen))) {
        why = COLLECT_FAIL_OUTPUT;
        goto fail;
    }
    open_sources(c, cfg);
    core_series(c);
    return c;
fail:
    if (failure)
        *failure = why;
    collect_destroy(c);
    return NULL;
}

void collect_destroy(struct collector *c)
{
    char err[256];

    if (!c)
        return;
    if (c->rec)
        (void)collect_record_close(c->rec, err, sizeof err);
    for (size_t i = 0; i < c->nsrc; i++)
        if (c->src[i].ops && c->src[i].up)
            c->src[i].ops->close(c->src[i].state);
    for (size_t i = 0; i < c->nfam; i++)
        free(c->fam[i].ids);
    free(c->fam);
    free(c->ser);
    free(c->touched);
    series_store_destroy(c->store);
    pthread_mutex_destroy(&c->lock);
    free(c->root);
    free(c->entity);
    free(c->nvml_lib);
    free(c->out);
    free(c);
}

/* ---- ticks */

static int64_t realtime_ns(void)
{
    return clock_now_ns(CLOCK_REALTIME);
}

/* utime + stime (s) and RSS (bytes) of this process, from /proc/self/stat
 * (the real one: the root prefix is for what is sampled). */
static bool self_usage(double *cpu_s, double *rss_bytes)
{
    char buf[1024];
    const char *p;
    uint64_t v[24] = {0};
    int field = 3;

    if (collect_read_text("/proc/self/stat", buf, sizeof buf) <= 0 ||
        !(p = strrchr(buf, ')')))
        return false;
    for (p++; field <= 24; field++) {
        while (*p == ' ')
            p++;
        if (*p >= '0' && *p <= '9') {
            if (!collect_parse_u64(&p, &v[field - 1]))
                return false;
        } else {
            while (*p && *p != ' ')
                p++; /* the state letter, signed fields */
        }
        if (!*p && field < 24)
            return false;
    }
    *cpu_s = (double)(v[13] + v[14]) / (double)sysconf(_SC_CLK_TCK);
    *rss_bytes = (double)v[23] * (double)sysconf(_SC_PAGESIZE);
    return true;
}

static void core_round(struct collector *c, int64_t now_ns)
{
    struct csrc *core = &c->src[c->nsrc - 1];
    double cpu, rss;

    for (size_t i = 0; i + 1 < c->nsrc; i++)
        put_at(c, c->src[i].up_id, now_ns, c->src[i].up ? 1 : 0);
    put_at(c, c->id_overruns, now_ns, (double)c->overruns);
    put_at(c, c->id_ticks, now_ns, (double)c->tick);
    put_at(c, c->id_round_max, now_ns, (double)c->round_max_prev_ns / 1e9);
    put_at(c, c->id_interval, now_ns, (double)c->cfg.interval_ns / 1e9);
    put_at(c, c->id_series, now_ns, (double)series_store_count(c->store));
    if (self_usage(&cpu, &rss)) {
        put_at(c, c->id_cpu, now_ns, cpu);
        put_at(c, c->id_rss, now_ns, rss);
    }
    core->last_fast = core->last_slow = c->tick;
}

int collect_tick(struct collector *c, int64_t now_ns, char *err, size_t errlen)
{
    int64_t t0 = clock_now_ns(CLOCK_MONOTONIC), dt;
    bool slow;
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    c->tick++;
    slow = (c->tick - 1) % c->slow_every == 0;
    if (slow) { /* a new window for skewscope_collect_round_max_seconds */
        c->round_max_prev_ns = c->round_max_ns;
        c->round_max_ns = 0;
    }
    c->ntouched = 0;
    for (size_t i = 0; i + 1 < c->nsrc; i++) {
        struct csrc *s = &c->src[i];
        struct collect_src ctx = {c, (uint32_t)i, 0, ""};
        bool sl = slow || s->fast;

        if (!s->up)
            continue;
        ctx.now_ns = now_ns ? now_ns : realtime_ns();
        if (s->ops->sample(s->state, &ctx, sl) < 0)
            log_ratelimited(LOG_WARN, 5, "collect: %s: %s", s->name,
                            ctx.err[0] ? ctx.err : "round failed");
        s->last_fast = c->tick;
        if (sl)
            s->last_slow = c->tick;
    }
    if (slow)
        core_round(c, now_ns ? now_ns : realtime_ns());
    pthread_mutex_unlock(&c->lock);
    if (c->rec) {
        if (collect_record_write(c->rec, c->store, c->touched, c->ntouched) <
                0 ||
            (slow && collect_record_flush(c->rec) < 0)) {
            snprintf(err, errlen, "%s: write failed: %s", c->out,
                     strerror(errno));
            rc = -1;
        }
        c->rec_samples += c->ntouched;
    }
    dt = clock_now_ns(CLOCK_MONOTONIC) - t0;
    if (dt > c->round_max_ns)
        c->round_max_ns = dt;
    return rc;
}

int collect_run(struct collector *c, int64_t duration_ns,
                const volatile sig_atomic_t *stop,
                int (*first)(void *ctx, char *err, size_t errlen), void *ctx,
                char *err, size_t errlen)
{
    int64_t t0 = clock_now_ns(CLOCK_MONOTONIC), iv = c->cfg.interval_ns;
    uint64_t k = 0;

    while (!*stop) {
        int64_t deadline, now;
        struct timespec ts;

        if (collect_tick(c, 0, err, errlen) < 0)
            return -1;
        if (k == 0 && first && first(ctx, err, errlen) != 0)
            return -1;
        k++;
        if (duration_ns > 0 && (int64_t)k * iv >= duration_ns)
            break;
        deadline = t0 + (int64_t)k * iv;
        now = clock_now_ns(CLOCK_MONOTONIC);
        if (now >= deadline) {
            /* Missed: count every deadline passed, resume at the next. */
            uint64_t missed = (uint64_t)((now - deadline) / iv) + 1;

            c->overruns += missed;
            k += missed;
            if (duration_ns > 0 && (int64_t)k * iv >= duration_ns)
                break;
            deadline = t0 + (int64_t)k * iv;
        }
        ts.tv_sec = (time_t)(deadline / 1000000000);
        ts.tv_nsec = (long)(deadline % 1000000000);
        while (!*stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
                                         NULL) == EINTR)
            ;
    }
    return 0;
}

int collect_finish(struct collector *c, char *err, size_t errlen)
{
    int rc = 0;

    if (c->rec) {
        rc = collect_record_close(c->rec, err, errlen);
        c->rec = NULL;
    }
    return rc;
}

/* ---- queries */

const struct series_store *collect_store(const struct collector *c)
{
    return c->store;
}

size_t collect_source_count(const struct collector *c)
{
    return c->nsrc - 1;
}

const char *collect_source_name(const struct collector *c, size_t i)
{
    return c->src[i].name;
}

bool collect_source_up(const struct collector *c, size_t i)
{
    return c->src[i].up;
}

const char *collect_source_why(const struct collector *c, size_t i)
{
    return c->src[i].up ? "" : c->src[i].why;
}

void collect_stats(const struct collector *c, struct collect_stats *out)
{
    out->ticks = c->tick;
    out->overruns = c->overruns;
    out->samples_recorded = c->rec_samples;
    out->series = series_store_count(c->store);
}
