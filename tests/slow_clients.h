/* slow_clients: slow HTTP clients and a latency prober, shared by
 * tests/test_slow_clients.c and bench/bench_slow_clients.c. Needs no test
 * framework: failures are returned or counted, the caller asserts.
 *
 * An attack holds `n` connections to 127.0.0.1:port, each from one of
 * `naddrs` loopback source addresses (127.0.0.2, 127.0.0.3, ...): each
 * sends a request line, then one header line every interval_ms and never
 * ends its headers (the "slowloris" pattern). A connection the server
 * closes is opened again after a pause, as an attacker would.
 *
 * A prober, from source address `src` (NULL: the default, 127.0.0.1),
 * alternates GET /metrics and POST /v1/traces (a real OTLP protobuf body)
 * on a new connection each time, every period_ms, and records each
 * probe's status and latency. */
#ifndef SKEWSCOPE_TEST_SLOW_CLIENTS_H
#define SKEWSCOPE_TEST_SLOW_CLIENTS_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "model/span_store.h"
#include "output/trace_writer.h"
#include "util/clock.h"

/* Raise RLIMIT_NOFILE's soft limit to at least n; returns the limit now. */
static inline unsigned long slow_raise_nofile(unsigned long n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < n) {
        rl.rlim_cur =
            rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n ? rl.rlim_max : n;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (unsigned long)rl.rlim_cur;
}

/* ---- the attack */

struct slow_conn {
    int fd; /* -1: closed */
    bool connected;
    unsigned lines;   /* header lines sent */
    double next;      /* when to send (or reconnect) next */
    double opened_at; /* connect() time */
};

struct slow_attack {
    /* set by the caller */
    int port;
    unsigned n, naddrs;
    unsigned interval_ms;
    /* results */
    atomic_uint open_now;          /* connected and not closed by the server */
    atomic_uint_fast64_t connects; /* connect() calls */
    atomic_uint_fast64_t closed;   /* closed by the server, by any cause */
    atomic_uint_fast64_t lines;    /* header lines sent */
    double longest_s;              /* longest a connection stayed open */
    /* private */
    atomic_bool stop;
    pthread_t thread;
    struct slow_conn *c;
};

static inline void slow_close(struct slow_attack *a, struct slow_conn *c,
                              double now)
{
    if (c->connected) {
        atomic_fetch_sub(&a->open_now, 1);
        if (now - c->opened_at > a->longest_s)
            a->longest_s = now - c->opened_at;
    }
    close(c->fd);
    c->fd = -1;
    c->connected = false;
    c->lines = 0;
    c->next = now + 0.5; /* pause before opening it again */
}

static inline void slow_open(struct slow_attack *a, size_t i, double now)
{
    struct slow_conn *c = &a->c[i];
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)a->port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    c->next = now + 0.5;
    if (fd < 0)
        return;
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % a->naddrs));
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 &&
         errno != EINPROGRESS)) {
        close(fd);
        return;
    }
    atomic_fetch_add(&a->connects, 1);
    c->fd = fd;
    c->opened_at = now;
    /* the first line right away, then one every interval, staggered */
    c->next = now;
}

/* Send what is due on c; false when the connection failed. */
static inline bool slow_send(struct slow_attack *a, struct slow_conn *c,
                             size_t i, double now)
{
    char line[64];
    int len;

    if (c->lines == 0)
        len = snprintf(line, sizeof(line), "POST /v1/traces HTTP/1.1\r\n");
    else
        len = snprintf(line, sizeof(line), "X-Slow-%u: %zu\r\n", c->lines, i);
    if (send(c->fd, line, (size_t)len, MSG_NOSIGNAL) != len)
        return false;
    c->lines++;
    atomic_fetch_add(&a->lines, 1);
    c->next = now + a->interval_ms * 1e-3 *
                        (c->lines == 1 ? (double)(i % 97) / 97.0 + 0.01 : 1.0);
    return true;
}

static inline void slow_step(struct slow_attack *a, struct pollfd *p,
                             size_t *idx)
{
    double now = clock_now_s(CLOCK_MONOTONIC);
    size_t np = 0;

    for (size_t i = 0; i < a->n; i++) {
        struct slow_conn *c = &a->c[i];
        if (c->fd < 0) {
            if (now >= c->next)
                slow_open(a, i, now);
            if (c->fd < 0)
                continue;
        }
        p[np].fd = c->fd;
        p[np].events = c->connected ? POLLIN : POLLOUT;
        p[np].revents = 0;
        idx[np++] = i;
    }
    if (poll(p, np, 20) < 0)
        return;
    now = clock_now_s(CLOCK_MONOTONIC);
    for (size_t k = 0; k < np; k++) {
        struct slow_conn *c = &a->c[idx[k]];
        char b[512];
        int err = 0;
        socklen_t el = sizeof(err);
        if (!c->connected && (p[k].revents & (POLLOUT | POLLERR | POLLHUP))) {
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                close(c->fd);
                c->fd = -1;
                continue;
            }
            c->connected = true;
            atomic_fetch_add(&a->open_now, 1);
        } else if (c->connected &&
                   (p[k].revents & (POLLIN | POLLERR | POLLHUP))) {
            /* the server answered or closed: either way it let go */
            if (recv(c->fd, b, sizeof(b), 0) <= 0 ||
                (p[k].revents & (POLLERR | POLLHUP))) {
                atomic_fetch_add(&a->closed, 1);
                slow_close(a, c, now);
                continue;
            }
        }
        if (c->connected && now >= c->next && !slow_send(a, c, idx[k], now)) {
            atomic_fetch_add(&a->closed, 1);
            slow_close(a, c, now);
        }
    }
}

static inline void *slow_attack_main(void *arg)
{
    struct slow_attack *a = arg;
    struct pollfd *p = calloc(a->n, sizeof(*p));
    size_t *idx = calloc(a->n, sizeof(*idx));

    while (p && idx && !atomic_load(&a->stop))
        slow_step(a, p, idx);
    free(p);
    free(idx);
    return NULL;
}

/* Start the attack (a's caller fields set, the rest zero). Returns 0, or
 * -1 when out of memory or threads. */
static inline int slow_attack_start(struct slow_attack *a)
{
    a->c = calloc(a->n, sizeof(*a->c));
    if (!a->c)
        return -1;
    for (size_t i = 0; i < a->n; i++)
        a->c[i].fd = -1;
    atomic_store(&a->stop, false);
    return pthread_create(&a->thread, NULL, slow_attack_main, a) ? -1 : 0;
}

/* Wait up to timeout_s for `want` connections to be open; returns the
 * number open. */
static inline unsigned slow_attack_wait(struct slow_attack *a, unsigned want,
                                        double timeout_s)
{
    double until = clock_now_s(CLOCK_MONOTONIC) + timeout_s;
    struct timespec ts = {0, 50 * 1000000L};

    while (atomic_load(&a->open_now) < want &&
           clock_now_s(CLOCK_MONOTONIC) < until)
        nanosleep(&ts, NULL);
    return atomic_load(&a->open_now);
}

static inline void slow_attack_stop(struct slow_attack *a)
{
    atomic_store(&a->stop, true);
    pthread_join(a->thread, NULL);
    for (size_t i = 0; i < a->n; i++)
        if (a->c[i].fd >= 0)
            close(a->c[i].fd);
    free(a->c);
    a->c = NULL;
}

/* ---- the prober */

struct slow_probe {
    /* set by the caller */
    int port;
    const char *src;  /* source address, or NULL */
    const void *body; /* OTLP protobuf ExportTraceServiceRequest */
    size_t body_len;
    unsigned period_ms;
    long timeout_s; /* per probe (a probe that takes longer fails) */
    /* results: probes sent, answered 200, latencies of the answered (s) */
    size_t sent, ok, ok_get, ok_post;
    double *lat;
    size_t nlat, cap;
    long last_fail_code;
    char last_fail[CURL_ERROR_SIZE];
    /* private */
    atomic_bool stop;
    pthread_t thread;
};

static inline size_t slow_discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* One probe: GET /metrics (post false) or POST /v1/traces. */
static inline void slow_probe_once(struct slow_probe *pr, bool post)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[96], err[CURL_ERROR_SIZE] = "";
    long code = 0;
    double t0;

    if (!c)
        return;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", pr->port,
             post ? "/v1/traces" : "/metrics");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, pr->timeout_s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, slow_discard);
    if (pr->src)
        curl_easy_setopt(c, CURLOPT_INTERFACE, pr->src);
    if (post) {
        h = curl_slist_append(h, "Content-Type: application/x-protobuf");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, pr->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)pr->body_len);
    }
    t0 = clock_now_s(CLOCK_MONOTONIC);
    pr->sent++;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200) {
        pr->ok++;
        *(post ? &pr->ok_post : &pr->ok_get) += 1;
        if (pr->nlat == pr->cap) {
            size_t cap = pr->cap ? 2 * pr->cap : 256;
            double *v = realloc(pr->lat, cap * sizeof(*v));
            if (v) {
                pr->lat = v;
                pr->cap = cap;
            }
        }
        if (pr->nlat < pr->cap)
            pr->lat[pr->nlat++] = clock_now_s(CLOCK_MONOTONIC) - t0;
    } else {
        pr->last_fail_code = code;
        snprintf(pr->last_fail, sizeof(pr->last_fail), "%s",
                 err[0] ? err : "no error text");
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static inline void *slow_probe_main(void *arg)
{
    struct slow_probe *pr = arg;
    struct timespec ts = {0, (long)pr->period_ms * 1000000L};
    bool post = false;

    while (!atomic_load(&pr->stop)) {
        slow_probe_once(pr, post);
        post = !post;
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static inline int slow_probe_start(struct slow_probe *pr)
{
    atomic_store(&pr->stop, false);
    return pthread_create(&pr->thread, NULL, slow_probe_main, pr) ? -1 : 0;
}

static inline void slow_probe_stop(struct slow_probe *pr)
{
    atomic_store(&pr->stop, true);
    pthread_join(pr->thread, NULL);
}

static inline int slow_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of the answered probes' latencies, s (0: none). */
static inline double slow_quantile(struct slow_probe *pr, double q)
{
    size_t k;

    if (!pr->nlat)
        return 0;
    qsort(pr->lat, pr->nlat, sizeof(*pr->lat), slow_cmp_double);
    k = (size_t)(q * (double)(pr->nlat - 1) + 0.5);
    return pr->lat[k];
}

static inline void slow_probe_free(struct slow_probe *pr)
{
    free(pr->lat);
    pr->lat = NULL;
    pr->nlat = pr->cap = 0;
}

/* The prober's POST body as spans: one trace of 4 spans, CLIENT and SERVER
 * in turn, on node-a and node-b. */
static inline void slow_probe_spans(struct span_desc d[4])
{
    memset(d, 0, 4 * sizeof(*d));
    for (size_t i = 0; i < 4; i++) {
        d[i].trace_id[0] = 0x5c;
        d[i].trace_id[15] = 1;
        d[i].span_id = 0x100 + i;
        d[i].parent_span_id = i ? 0x100 + i - 1 : 0;
        d[i].name = "probe";
        d[i].kind = i % 2 ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
        d[i].start_ns = 1700000000000000000LL + (int64_t)i * 1000;
        d[i].end_ns = d[i].start_ns + 500;
        d[i].host_name = i % 2 ? "node-b" : "node-a";
        d[i].service_name = "svc";
    }
}

#endif
