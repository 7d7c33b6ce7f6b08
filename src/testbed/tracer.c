/* tracer: span recording for the testbed's pipeline stages (see tracer.h).
 * Finished spans are copied into a queue (one array of fixed records plus
 * one byte arena for their strings, attributes, events and links: no malloc
 * per span). The exporter thread swaps the filled queue with an empty one
 * under the mutex, turns its records into struct span_desc batches and
 * hands them to the exporter backend (tracer_export_<name>.c). */
#include "testbed/tracer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output/trace_writer.h"
#include "testbed/tracer_export.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/log.h"

/* One queued span; its variable parts live in the queue's byte arena at
 * `blob`: attribute offsets, events, links, then text. */
struct qspan {
    uint8_t trace_id[16];
    uint64_t span_id, parent_span_id;
    int64_t start_ns, end_ns;
    size_t blob;
    uint16_t text_len, name_off;
    uint8_t kind, nattrs, nevents, nlinks;
};

struct queue {
    struct qspan *spans;
    size_t n, cap;
    unsigned char *bytes;
    size_t len, bytes_cap;
};

/* Exporter-thread scratch: the span_desc view of one batch. */
struct scratch {
    struct span_desc *desc;
    struct span_kv *kv;
    struct span_event_desc *ev;
    struct span_link_desc *ln;
    size_t desc_cap, kv_cap, ev_cap, ln_cap;
};

struct tracer {
    /* immutable after create */
    char *host_name, *service_name;
    enum tracer_clock_mode mode;
    int64_t skew_ns, t0_ns;
    double drift_ppm;
    tracer_clock_fn clock;
    void *clock_arg;
    size_t batch, max_queue;
    unsigned interval_ms;
    const struct tracer_exporter_ops *ops; /* NULL: discard */
    struct tracer_exporter *exporter;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* exporter thread: work or stop */
    pthread_cond_t done;  /* flushers: `handled` advanced */
    pthread_t thread;
    uint64_t rng;
    struct queue queues[2];
    struct queue *fill, *spare;
    uint64_t queued, handled, flush_target;
    uint64_t bad_at_flush; /* failed + dropped at the last flush */
    bool stopping;
    struct tracer_stats stats;

    struct scratch scratch; /* exporter thread only */
};

/* ---- clock ---- */

static int64_t realtime_ns(void *arg)
{
    (void)arg;
    return clock_now_ns(CLOCK_REALTIME);
}

int64_t tracer_clock_at(const struct tracer *t, int64_t true_ns)
{
    int64_t rec = true_ns;

    if (t->mode == TRACER_CLOCK_PROCESS)
        return rec;
    rec += t->skew_ns;
    if (t->drift_ppm != 0)
        rec += llround(t->drift_ppm * 1e-6 * (double)(true_ns - t->t0_ns));
    return rec;
}

int64_t tracer_now_ns(struct tracer *t)
{
    return tracer_clock_at(t, t->clock(t->clock_arg));
}

/* ---- IDs ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static int urandom_seed(uint64_t *out)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, out, sizeof(*out));
    close(fd);
    return n == (ssize_t)sizeof(*out) ? 0 : -1;
}

static uint64_t next_random(struct tracer *t)
{
    uint64_t v;

    pthread_mutex_lock(&t->lock);
    v = splitmix64(&t->rng);
    pthread_mutex_unlock(&t->lock);
    return v;
}

uint64_t tracer_new_span_id(struct tracer *t)
{
    uint64_t id;

    while ((id = next_random(t)) == 0)
        ;
    return id;
}

void tracer_new_trace_id(struct tracer *t, uint8_t out[16])
{
    do {
        uint64_t hi = next_random(t), lo = next_random(t);
        for (int i = 0; i < 8; i++) {
            out[i] = (uint8_t)(hi >> (56 - 8 * i));
            out[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
        }
    } while (id_trace_is_zero(out));
}

/* ---- spans ---- */

/* Copy up to max bytes of s and a NUL into sp's text; returns the offset,
 * or -1 when nothing fits. */
static int put_text(struct tracer_span *sp, const char *s, size_t max)
{
    size_t n = strlen(s), room = TRACER_SPAN_TEXT - sp->text_len;
    int off = sp->text_len;

    if (n > max)
        n = max;
    if (n + 1 > room)
        return -1;
    memcpy(sp->text + off, s, n);
    sp->text[off + n] = '\0';
    sp->text_len = (uint16_t)(sp->text_len + n + 1);
    return off;
}

void tracer_span_begin(struct tracer *t, struct tracer_span *sp,
                       const char *name, enum span_kind kind,
                       const uint8_t trace_id[16], uint64_t parent_span_id)
{
    size_t n = strlen(name ? name : "");

    sp->text_len = 0;
    sp->nattrs = sp->nevents = sp->nlinks = 0;
    sp->truncated = n >= TRACER_SPAN_TEXT;
    sp->name_off =
        (uint16_t)put_text(sp, name ? name : "", TRACER_SPAN_TEXT - 1);
    if (trace_id)
        memcpy(sp->trace_id, trace_id, 16);
    else
        tracer_new_trace_id(t, sp->trace_id);
    sp->span_id = tracer_new_span_id(t);
    sp->parent_span_id = parent_span_id;
    sp->kind = kind;
    sp->end_ns = 0;
    sp->start_ns = tracer_now_ns(t);
}

int tracer_span_set_attr(struct tracer_span *sp, const char *key,
                         const char *value)
{
    uint16_t save = sp->text_len;
    int k, v;

    if (sp->nattrs >= TRACER_SPAN_MAX_ATTRS)
        goto full;
    if ((k = put_text(sp, key ? key : "", SIZE_MAX)) < 0 ||
        (v = put_text(sp, value ? value : "", SIZE_MAX)) < 0) {
        sp->text_len = save;
        goto full;
    }
    sp->attr_off[sp->nattrs][0] = (uint16_t)k;
    sp->attr_off[sp->nattrs][1] = (uint16_t)v;
    sp->nattrs++;
    return 0;
full:
    sp->truncated = true;
    return -1;
}

int tracer_span_add_event(struct tracer *t, struct tracer_span *sp,
                          const char *name)
{
    int off;

    if (sp->nevents >= TRACER_SPAN_MAX_EVENTS ||
        (off = put_text(sp, name ? name : "", SIZE_MAX)) < 0) {
        sp->truncated = true;
        return -1;
    }
    sp->events[sp->nevents].name_off = (uint16_t)off;
    sp->events[sp->nevents].time_ns = tracer_now_ns(t);
    sp->nevents++;
    return 0;
}

int tracer_span_add_link(struct tracer_span *sp, const uint8_t trace_id[16],
                         uint64_t span_id)
{
    if (sp->nlinks >= TRACER_SPAN_MAX_LINKS) {
        sp->truncated = true;
        return -1;
    }
    memcpy(sp->links[sp->nlinks].trace_id, trace_id, 16);
    sp->links[sp->nlinks].span_id = span_id;
    sp->nlinks++;
    return 0;
}

/* ---- queue ---- */

static size_t blob_size(const struct tracer_span *sp)
{
    return sp->nattrs * sizeof(sp->attr_off[0]) +
           sp->nevents * sizeof(sp->events[0]) +
           sp->nlinks * sizeof(sp->links[0]) + sp->text_len;
}

static int queue_reserve(struct queue *q, size_t bytes)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 256;
        struct qspan *s = realloc(q->spans, cap * sizeof(*s));
        if (!s)
            return -1;
        q->spans = s;
        q->cap = cap;
    }
    if (q->len + bytes > q->bytes_cap) {
        size_t cap = q->bytes_cap ? 2 * q->bytes_cap : 65536;
        while (cap < q->len + bytes)
            cap *= 2;
        unsigned char *b = realloc(q->bytes, cap);
        if (!b)
            return -1;
        q->bytes = b;
        q->bytes_cap = cap;
    }
    return 0;
}

static void blob_put(struct queue *q, const void *p, size_t n)
{
    if (n) {
        memcpy(q->bytes + q->len, p, n);
        q->len += n;
    }
}

/* Append sp to q (which has room, queue_reserve()). */
static void queue_append(struct queue *q, const struct tracer_span *sp)
{
    struct qspan *r = &q->spans[q->n++];

    memcpy(r->trace_id, sp->trace_id, 16);
    r->span_id = sp->span_id;
    r->parent_span_id = sp->parent_span_id;
    r->start_ns = sp->start_ns;
    r->end_ns = sp->end_ns;
    r->kind = (uint8_t)sp->kind;
    r->name_off = sp->name_off;
    r->text_len = sp->text_len;
    r->nattrs = sp->nattrs;
    r->nevents = sp->nevents;
    r->nlinks = sp->nlinks;
    r->blob = q->len;
    blob_put(q, sp->attr_off, sp->nattrs * sizeof(sp->attr_off[0]));
    blob_put(q, sp->events, sp->nevents * sizeof(sp->events[0]));
    blob_put(q, sp->links, sp->nlinks * sizeof(sp->links[0]));
    blob_put(q, sp->text, sp->text_len);
}

void tracer_span_submit(struct tracer *t, struct tracer_span *sp)
{
    pthread_mutex_lock(&t->lock);
    t->stats.spans_ended++;
    if (sp->truncated)
        t->stats.spans_truncated++;
    if (t->fill->n >= t->max_queue || queue_reserve(t->fill, blob_size(sp))) {
        t->stats.spans_dropped++;
        log_ratelimited(LOG_WARN, 5,
                        "tracer %s: export queue full, dropping spans",
                        t->host_name);
    } else {
        queue_append(t->fill, sp);
        t->queued++;
        if (t->fill->n == t->batch)
            pthread_cond_signal(&t->wake);
    }
    pthread_mutex_unlock(&t->lock);
}

void tracer_span_end(struct tracer *t, struct tracer_span *sp)
{
    sp->end_ns = tracer_now_ns(t);
    tracer_span_submit(t, sp);
}

/* ---- export (exporter thread) ---- */

static int grow(void **p, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return 0;
    void *np = realloc(*p, want * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = want;
    return 0;
}

static int scratch_reserve(struct scratch *s, const struct qspan *r, size_t m)
{
    size_t na = 0, ne = 0, nl = 0;

    for (size_t i = 0; i < m; i++) {
        na += r[i].nattrs;
        ne += r[i].nevents;
        nl += r[i].nlinks;
    }
    if (grow((void **)&s->desc, &s->desc_cap, m, sizeof(*s->desc)) ||
        grow((void **)&s->kv, &s->kv_cap, na, sizeof(*s->kv)) ||
        grow((void **)&s->ev, &s->ev_cap, ne, sizeof(*s->ev)) ||
        grow((void **)&s->ln, &s->ln_cap, nl, sizeof(*s->ln)))
        return -1;
    return 0;
}

/* Fill d from r; kv, ev, ln advance past what r uses. */
static void describe(const struct tracer *t, const struct queue *q,
                     const struct qspan *r, struct span_desc *d,
                     struct span_kv **kv, struct span_event_desc **ev,
                     struct span_link_desc **ln)
{
    const unsigned char *b = q->bytes + r->blob;
    uint16_t ao[TRACER_SPAN_MAX_ATTRS][2];
    struct tracer_span proto; /* only for the element types and sizes */
    const char *text;

    memcpy(ao, b, r->nattrs * sizeof(ao[0]));
    b += r->nattrs * sizeof(ao[0]);
    memcpy(proto.events, b, r->nevents * sizeof(proto.events[0]));
    b += r->nevents * sizeof(proto.events[0]);
    memcpy(proto.links, b, r->nlinks * sizeof(proto.links[0]));
    text = (const char *)b + r->nlinks * sizeof(proto.links[0]);

    *d = (struct span_desc){.span_id = r->span_id,
                            .parent_span_id = r->parent_span_id,
                            .name = text + r->name_off,
                            .kind = r->kind,
                            .start_ns = r->start_ns,
                            .end_ns = r->end_ns,
                            .host_name = t->host_name,
                            .service_name = t->service_name,
                            .attrs = *kv,
                            .nattrs = r->nattrs,
                            .events = *ev,
                            .nevents = r->nevents,
                            .links = *ln,
                            .nlinks = r->nlinks};
    memcpy(d->trace_id, r->trace_id, 16);
    for (size_t i = 0; i < r->nattrs; i++, (*kv)++)
        **kv = (struct span_kv){text + ao[i][0], text + ao[i][1]};
    for (size_t i = 0; i < r->nevents; i++, (*ev)++)
        **ev = (struct span_event_desc){text + proto.events[i].name_off,
                                        proto.events[i].time_ns};
    for (size_t i = 0; i < r->nlinks; i++, (*ln)++) {
        memcpy((*ln)->trace_id, proto.links[i].trace_id, 16);
        (*ln)->span_id = proto.links[i].span_id;
    }
}

/* Export m records starting at r; returns 0 or -1 with err filled. */
static int export_chunk(struct tracer *t, const struct queue *q,
                        const struct qspan *r, size_t m,
                        struct tracer_export_result *res, char *err,
                        size_t errlen)
{
    struct scratch *s = &t->scratch;
    struct span_kv *kv;
    struct span_event_desc *ev;
    struct span_link_desc *ln;

    res->attempts = 0;
    if (!t->ops)
        return 0;
    if (scratch_reserve(s, r, m) < 0) {
        snprintf(err, errlen, "out of memory preparing %zu spans", m);
        return -1;
    }
    kv = s->kv;
    ev = s->ev;
    ln = s->ln;
    for (size_t i = 0; i < m; i++)
        describe(t, q, &r[i], &s->desc[i], &kv, &ev, &ln);
    return t->ops->export_batch(t->exporter, s->desc, m, res, err, errlen);
}

static void export_queue(struct tracer *t, struct queue *q)
{
    for (size_t i = 0; i < q->n; i += t->batch) {
        size_t m = q->n - i < t->batch ? q->n - i : t->batch;
        struct tracer_export_result res;
        char err[sizeof t->stats.last_error] = "";
        int rc = export_chunk(t, q, q->spans + i, m, &res, err, sizeof err);

        pthread_mutex_lock(&t->lock);
        t->stats.batches++;
        t->stats.http_attempts += res.attempts;
        t->stats.http_retries += res.attempts > 1 ? res.attempts - 1 : 0;
        if (rc == 0)
            t->stats.spans_exported += m;
        else {
            t->stats.spans_failed += m;
            memcpy(t->stats.last_error, err, sizeof err);
        }
        pthread_mutex_unlock(&t->lock);
        if (rc < 0)
            log_ratelimited(LOG_WARN, 5, "tracer %s: %zu spans lost: %s",
                            t->host_name, m, err);
    }
    q->n = 0;
    q->len = 0;
}

static struct timespec mono_after_ms(unsigned ms)
{
    return clock_deadline(CLOCK_MONOTONIC, (int64_t)ms * 1000000);
}

/* With the lock held: wait until there is something to export (a full
 * batch, a flush, the interval, or stop). */
static void wait_for_work(struct tracer *t)
{
    struct timespec due = mono_after_ms(t->interval_ms);

    while (!t->stopping && t->fill->n < t->batch &&
           t->flush_target <= t->handled) {
        if (pthread_cond_timedwait(&t->wake, &t->lock, &due) == ETIMEDOUT) {
            if (t->fill->n > 0)
                return;
            due = mono_after_ms(t->interval_ms);
        }
    }
}

static void *export_main(void *arg)
{
    struct tracer *t = arg;

    pthread_mutex_lock(&t->lock);
    for (;;) {
        wait_for_work(t);
        if (t->fill->n == 0) {
            t->handled = t->queued;
            pthread_cond_broadcast(&t->done);
            if (t->stopping)
                break;
            continue;
        }
        struct queue *q = t->fill;
        uint64_t upto = t->queued;
        t->fill = t->spare;
        t->spare = q;
        pthread_mutex_unlock(&t->lock);
        export_queue(t, q);
        pthread_mutex_lock(&t->lock);
        t->handled = upto;
        pthread_cond_broadcast(&t->done);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int tracer_export_encode(const struct trace_writer_ops *ops, int lines,
                         const struct span_desc *spans, size_t n, char **buf,
                         size_t *len)
{
    FILE *mem;
    struct trace_writer *w;
    int rc;

    *buf = NULL;
    *len = 0;
    if (!(mem = open_memstream(buf, len)))
        return -1;
    if (!(w = ops->create(mem, lines))) {
        fclose(mem);
        goto fail;
    }
    rc = ops->write_batch(w, spans, n);
    if (ops->finish(w) < 0)
        rc = -1;
    if (fclose(mem) != 0 || rc < 0)
        goto fail;
    return 0;
fail:
    free(*buf);
    *buf = NULL;
    *len = 0;
    return -1;
}

size_t tracer_export_varint(const unsigned char *buf, size_t len,
                            uint64_t *value)
{
    uint64_t v = 0;

    for (size_t i = 0; i < len && i < 10; i++) {
        v |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
        if (!(buf[i] & 0x80)) {
            *value = v;
            return i + 1;
        }
    }
    return 0;
}

/* ---- flush, stats ---- */

int tracer_flush(struct tracer *t)
{
    uint64_t target, bad;

    pthread_mutex_lock(&t->lock);
    target = t->queued;
    if (target > t->flush_target)
        t->flush_target = target;
    pthread_cond_signal(&t->wake);
    while (t->handled < target)
        pthread_cond_wait(&t->done, &t->lock);
    bad = t->stats.spans_failed + t->stats.spans_dropped;
    int rc = bad != t->bad_at_flush ? -1 : 0;
    t->bad_at_flush = bad;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void tracer_get_stats(struct tracer *t, struct tracer_stats *out)
{
    pthread_mutex_lock(&t->lock);
    *out = t->stats;
    pthread_mutex_unlock(&t->lock);
}

/* ---- create, destroy ---- */

void tracer_config_init(struct tracer_config *cfg)
{
    *cfg = (struct tracer_config){
        .clock_mode = TRACER_CLOCK_INJECT,
        .export_kind = TRACER_EXPORT_FILE,
        .batch_spans = 512,
        .max_queue_spans = 65536,
        .flush_interval_ms = 1000,
        .export_timeout_ms = 10000,
        .retry_initial_ms = 100,
    };
}

static int check_config(const struct tracer_config *cfg, char *err,
                        size_t errlen)
{
    const char *why = NULL;

    if (!cfg->host_name || !*cfg->host_name)
        why = "host_name (the stage's node name) is required";
    else if (!cfg->service_name || !*cfg->service_name)
        why = "service_name is required";
    else if (cfg->batch_spans == 0 || cfg->max_queue_spans == 0 ||
             cfg->flush_interval_ms == 0)
        why = "batch_spans, max_queue_spans and flush_interval_ms must be > 0";
    else if (!isfinite(cfg->drift_ppm) || fabs(cfg->drift_ppm) > 1e6)
        why = "drift_ppm must be within +-1e6";
    else if (cfg->export_kind == TRACER_EXPORT_FILE &&
             (!cfg->path || !*cfg->path))
        why = "file export needs a path";
    else if (cfg->export_kind == TRACER_EXPORT_OTLP_HTTP &&
             (!cfg->endpoint || !*cfg->endpoint))
        why = "OTLP/HTTP export needs an endpoint URL";
    else if (cfg->export_kind > TRACER_EXPORT_NONE)
        why = "unknown export kind";
    if (why)
        snprintf(err, errlen, "tracer: %s", why);
    return why ? -1 : 0;
}

static int init_sync(struct tracer *t)
{
    pthread_condattr_t ca;
    int rc = -1;

    if (pthread_condattr_init(&ca) != 0)
        return -1;
    /* Interval waits on the monotonic clock: the wall clock may be the one
     * libfaketime skews. */
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_mutex_init(&t->lock, NULL) == 0) {
        if (pthread_cond_init(&t->wake, &ca) != 0)
            pthread_mutex_destroy(&t->lock);
        else if (pthread_cond_init(&t->done, NULL) != 0) {
            pthread_cond_destroy(&t->wake);
            pthread_mutex_destroy(&t->lock);
        } else
            rc = 0;
    }
    pthread_condattr_destroy(&ca);
    return rc;
}

static void set_params(struct tracer *t, const struct tracer_config *cfg)
{
    t->mode = cfg->clock_mode;
    t->skew_ns = cfg->skew_ns;
    t->drift_ppm = cfg->drift_ppm;
    t->clock = cfg->clock ? cfg->clock : realtime_ns;
    t->clock_arg = cfg->clock ? cfg->clock_arg : NULL;
    t->t0_ns = cfg->t0_ns ? cfg->t0_ns : t->clock(t->clock_arg);
    t->batch = cfg->batch_spans;
    t->max_queue = cfg->max_queue_spans;
    t->interval_ms = cfg->flush_interval_ms;
    t->fill = &t->queues[0];
    t->spare = &t->queues[1];
    if (cfg->seed)
        t->rng = fnv1a(fnv1a(cfg->seed ^ 0xcbf29ce484222325ULL, cfg->host_name),
                       cfg->service_name);
    else if (urandom_seed(&t->rng) < 0)
        t->rng = (uint64_t)realtime_ns(NULL) ^ ((uint64_t)getpid() << 32);
}

static void free_parts(struct tracer *t)
{
    for (int i = 0; i < 2; i++) {
        free(t->queues[i].spans);
        free(t->queues[i].bytes);
    }
    free(t->scratch.desc);
    free(t->scratch.kv);
    free(t->scratch.ev);
    free(t->scratch.ln);
    free(t->host_name);
    free(t->service_name);
    free(t);
}

struct tracer *tracer_create(const struct tracer_config *cfg, char *err,
                             size_t errlen)
{
    struct tracer *t;

    if (check_config(cfg, err, errlen) < 0)
        return NULL;
    if (!(t = calloc(1, sizeof(*t))) ||
        !(t->host_name = strdup(cfg->host_name)) ||
        !(t->service_name = strdup(cfg->service_name))) {
        snprintf(err, errlen, "tracer: out of memory");
        goto fail;
    }
    set_params(t, cfg);
    t->ops = cfg->export_kind == TRACER_EXPORT_FILE ? &tracer_export_file_ops
             : cfg->export_kind == TRACER_EXPORT_OTLP_HTTP
                 ? &tracer_export_otlp_http_ops
                 : NULL;
    if (t->ops && !(t->exporter = t->ops->create(cfg, err, errlen)))
        goto fail;
    if (init_sync(t) < 0) {
        snprintf(err, errlen, "tracer: cannot initialise locks");
        goto fail_exporter;
    }
    if (pthread_create(&t->thread, NULL, export_main, t) != 0) {
        snprintf(err, errlen, "tracer: cannot start the exporter thread");
        goto fail_sync;
    }
    return t;
fail_sync:
    pthread_cond_destroy(&t->done);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
fail_exporter:
    if (t->ops)
        t->ops->destroy(t->exporter);
fail:
    if (t)
        free_parts(t);
    return NULL;
}

int tracer_destroy(struct tracer *t)
{
    int rc;

    if (!t)
        return 0;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    rc = t->stats.spans_failed || t->stats.spans_dropped ? -1 : 0;
    if (t->ops)
        t->ops->destroy(t->exporter);
    pthread_cond_destroy(&t->done);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free_parts(t);
    return rc;
}
