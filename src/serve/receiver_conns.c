/* receiver_conns: connection deadlines of the receiver (see
 * receiver_conns.h). One table of open connections (an array of pointers,
 * each connection knowing its slot) under one mutex; each connection's
 * deadline and phase are atomics, so libmicrohttpd's threads move them
 * without the lock. The watchdog scans the table every tick: a few
 * thousand entries cost microseconds. */
#include "serve/receiver_conns.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "util/clock.h"
#include "util/counter.h"

#define TICK_NS (100 * 1000000LL)

enum phase {
    PHASE_HEADER = 0,
    PHASE_BODY = 1,
    PHASE_HANDLING = 2,
};

struct receiver_conn {
    int fd;
    size_t slot;                  /* index in g->v, under g->lock */
    atomic_int_fast64_t deadline; /* CLOCK_MONOTONIC ns; 0 = none */
    atomic_int phase;
    int64_t body_start; /* ns; only the connection's own thread */
};

struct receiver_conns {
    struct receiver_conns_config cfg;
    pthread_mutex_t lock; /* v, n, cap, stopping */
    pthread_cond_t wake;
    struct receiver_conn **v;
    size_t n, cap;
    bool stopping;
    pthread_t thread;
    atomic_uint_fast64_t open, opened, timed_out_header, timed_out_body;
};

static int64_t now_ns(void)
{
    return clock_now_ns(CLOCK_MONOTONIC);
}

/* Shut down every connection past its deadline. Under g->lock. */
static void sweep(struct receiver_conns *g, int64_t now)
{
    for (size_t i = 0; i < g->n; i++) {
        struct receiver_conn *c = g->v[i];
        int64_t d = atomic_load(&c->deadline);
        if (d == 0 || now < d)
            continue;
        /* only once: the connection closes soon, its slot is freed then */
        if (!atomic_compare_exchange_strong(&c->deadline, &d, 0))
            continue;
        counter_add(atomic_load(&c->phase) == PHASE_BODY ? &g->timed_out_body
                                                         : &g->timed_out_header,
                    1);
        shutdown(c->fd, SHUT_RDWR);
    }
}

static void *watchdog(void *arg)
{
    struct receiver_conns *g = arg;

    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec until = clock_deadline(CLOCK_REALTIME, TICK_NS);
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
        if (!g->stopping)
            sweep(g, now_ns());
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

struct receiver_conns *
receiver_conns_create(const struct receiver_conns_config *cfg, char *err,
                      size_t errlen)
{
    struct receiver_conns *g = calloc(1, sizeof(*g));

    if (!g) {
        snprintf(err, errlen, "receiver: out of memory");
        return NULL;
    }
    g->cfg = *cfg;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (pthread_create(&g->thread, NULL, watchdog, g) != 0) {
        snprintf(err, errlen, "receiver: cannot start the deadline thread");
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    return g;
}

void receiver_conns_destroy(struct receiver_conns *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    for (size_t i = 0; i < g->n; i++) /* none unless a close was missed */
        free(g->v[i]);
    free(g->v);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

struct receiver_conn *receiver_conns_open(struct receiver_conns *g, int fd)
{
    struct receiver_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->fd = fd;
    atomic_init(&c->deadline, now_ns() + g->cfg.header_timeout_ns);
    atomic_init(&c->phase, PHASE_HEADER);
    pthread_mutex_lock(&g->lock);
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 256;
        struct receiver_conn **v = realloc(g->v, cap * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&g->lock);
            free(c);
            return NULL;
        }
        g->v = v;
        g->cap = cap;
    }
    c->slot = g->n;
    g->v[g->n++] = c;
    pthread_mutex_unlock(&g->lock);
    counter_add(&g->open, 1);
    counter_add(&g->opened, 1);
    return c;
}

void receiver_conns_close(struct receiver_conns *g, struct receiver_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    g->v[c->slot] = g->v[--g->n];
    g->v[c->slot]->slot = c->slot;
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_sub(&g->open, 1);
    free(c);
}

void receiver_conns_body_begin(struct receiver_conns *g,
                               struct receiver_conn *c)
{
    if (!c)
        return;
    c->body_start = now_ns();
    atomic_store(&c->phase, PHASE_BODY);
    atomic_store(&c->deadline, c->body_start + g->cfg.body_timeout_ns);
}

bool receiver_conns_body_progress(struct receiver_conns *g,
                                  struct receiver_conn *c, uint64_t total)
{
    int64_t d, cur;

    if (!c)
        return true;
    /* 0 in the body phase: the watchdog has fired (and counted) */
    cur = atomic_load(&c->deadline);
    if (cur == 0)
        return false;
    d = c->body_start + g->cfg.body_timeout_ns;
    if (g->cfg.body_min_rate)
        d += (int64_t)((double)total / (double)g->cfg.body_min_rate * 1e9);
    if (now_ns() >= d) {
        /* as the watchdog would have: count it once */
        if (atomic_compare_exchange_strong(&c->deadline, &cur, 0))
            counter_add(&g->timed_out_body, 1);
        return false;
    }
    return atomic_compare_exchange_strong(&c->deadline, &cur, d);
}

void receiver_conns_handling(struct receiver_conns *g, struct receiver_conn *c)
{
    (void)g;
    if (!c)
        return;
    atomic_store(&c->phase, PHASE_HANDLING);
    atomic_store(&c->deadline, 0);
}

void receiver_conns_request_done(struct receiver_conns *g,
                                 struct receiver_conn *c)
{
    int64_t wait = g->cfg.header_timeout_ns > g->cfg.idle_timeout_ns
                       ? g->cfg.header_timeout_ns
                       : g->cfg.idle_timeout_ns;

    if (!c)
        return;
    atomic_store(&c->phase, PHASE_HEADER);
    atomic_store(&c->deadline, now_ns() + wait);
}

void receiver_conns_counters_read(struct receiver_conns *g,
                                  struct receiver_conns_counters *out)
{
    out->open = counter_get(&g->open);
    out->opened = counter_get(&g->opened);
    out->timed_out_header = counter_get(&g->timed_out_header);
    out->timed_out_body = counter_get(&g->timed_out_body);
}
