/* serve_load send: POST the bodies (body.c) over --connections keep-alive
 * libcurl handles, one thread each, retrying 429/502/503/504 and transport
 * errors, and report throughput and latency (RESULT line). Options: the
 * comment at the top of bench/serve_load.c. */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "util/log.h"

#define MAX_CONNECTIONS 256

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- latency histogram: microseconds, exact below 128, then 64
 * sub-buckets per power of two (1.6% resolution) ---- */

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2 * HIST_SUB)
#define HIST_MAX_EXP 40
#define HIST_BUCKETS                                                           \
    (HIST_LINEAR + (HIST_MAX_EXP - HIST_SUB_BITS - 1) * HIST_SUB)

struct hist {
    uint64_t count, max_us;
    uint64_t b[HIST_BUCKETS];
};

static void hist_add(struct hist *h, int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    size_t i;

    if (us < HIST_LINEAR) {
        i = us;
    } else {
        unsigned e = 63u - (unsigned)__builtin_clzll(us);
        i = e >= HIST_MAX_EXP
                ? HIST_BUCKETS - 1
                : HIST_LINEAR + (e - HIST_SUB_BITS - 1) * HIST_SUB +
                      ((us >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
    }
    h->b[i]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += h->b[i];
    into->count += h->count;
    if (h->max_us > into->max_us)
        into->max_us = h->max_us;
}

/* Middle of bucket i, in microseconds. */
static double hist_value(size_t i)
{
    if (i < HIST_LINEAR)
        return (double)i;
    size_t j = i - HIST_LINEAR;
    unsigned shift = (unsigned)(j / HIST_SUB) + 1;
    double width = (double)(1ULL << shift);
    return (double)(HIST_SUB + j % HIST_SUB) * width + width / 2;
}

/* The q-quantile (0..1) in milliseconds; 0 when empty. */
static double hist_quantile_ms(const struct hist *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;

    if (h->count == 0)
        return 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank && h->b[i]) {
            double v = hist_value(i);
            return (v > (double)h->max_us ? (double)h->max_us : v) / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

/* ---- send ---- */

struct send_opts {
    const char *url, *token;
    unsigned connections, timeout_ms, max_retries;
    uint64_t requests;       /* 0 = no limit */
    double duration_s;       /* 0 = no limit */
    double retry_grace_s;    /* retries go on this long after --duration */
    struct shape_opts shape; /* spans = per request */
};

struct send_shared {
    const struct send_opts *o;
    const struct body_tpl *tpl;
    _Atomic uint64_t next; /* next request number */
    int64_t deadline_ns;   /* CLOCK_MONOTONIC; INT64_MAX = none */
    int64_t give_up_ns;    /* no retry starts after this */
};

#define NCODES 600

/* One connection: a thread, its libcurl handle and its own counters. */
struct sender {
    pthread_t th;
    struct send_shared *sh;
    CURL *curl;
    struct curl_slist *headers;
    uint8_t *body;
    char resp[4096];
    size_t resp_len;
    char curl_err[CURL_ERROR_SIZE];
    uint64_t ok, spans, rejected, retries, transport_errors, failed, abandoned;
    uint64_t connects;       /* TCP connections opened (keep-alive: 1 each) */
    uint64_t codes[NCODES];  /* non-2xx replies, every attempt; [0] other */
    struct hist lat;         /* 2xx attempts */
    struct hist lat_retried; /* first attempt to 2xx, requests retried */
    int64_t end_ns;
};

static size_t on_response(char *data, size_t size, size_t n, void *ctx)
{
    struct sender *w = ctx;
    size_t len = size * n, room = sizeof(w->resp) - w->resp_len;

    memcpy(w->resp + w->resp_len, data, len < room ? len : room);
    w->resp_len += len < room ? len : room;
    return len;
}

static int sender_init(struct sender *w, struct send_shared *sh)
{
    const struct send_opts *o = sh->o;
    char auth[512];

    w->sh = sh;
    w->body = malloc(sh->tpl->len);
    w->curl = curl_easy_init();
    w->headers =
        curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    /* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
    w->headers = curl_slist_append(w->headers, "Expect:");
    if (o->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
        w->headers = curl_slist_append(w->headers, auth);
    }
    if (!w->body || !w->curl || !w->headers)
        return -1;
    memcpy(w->body, sh->tpl->buf, sh->tpl->len);
    curl_easy_setopt(w->curl, CURLOPT_URL, o->url);
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, (char *)w->body);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)sh->tpl->len);
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_response);
    curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, w->curl_err);
    curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    return 0;
}

static void sender_free(struct sender *w)
{
    curl_easy_cleanup(w->curl);
    curl_slist_free_all(w->headers);
    free(w->body);
}

/* Spans the 2xx reply says were rejected (partial_success); an empty body
 * (the usual case) means none. */
static uint64_t reply_rejected(struct sender *w)
{
    char *ct = NULL;
    int64_t n = 0;

    if (w->resp_len == 0 || w->resp_len >= sizeof(w->resp))
        return 0;
    curl_easy_getinfo(w->curl, CURLINFO_CONTENT_TYPE, &ct);
    if (ct && strstr(ct, "json")) {
        w->resp[w->resp_len] = '\0';
        const char *p = strstr(w->resp, "\"rejectedSpans\"");
        if (p)
            n = strtoll(p + strcspn(p, "0123456789"), NULL, 10);
    } else {
        Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
                NULL, w->resp_len, (const uint8_t *)w->resp);
        if (r && r->partial_success)
            n = r->partial_success->rejected_spans;
        if (r)
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
                r, NULL);
    }
    return n > 0 ? (uint64_t)n : 0;
}

enum attempt { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL };

/* One POST of the current body. On ATTEMPT_RETRY, *wait_ms is how long to
 * wait first: Retry-After, else a backoff doubling from 50 ms to 2 s. */
static enum attempt send_attempt(struct sender *w, unsigned attempt,
                                 int64_t *lat_ns, int64_t *wait_ms)
{
    long code = 0, connects = 0;
    curl_off_t retry_after = 0;

    w->resp_len = 0;
    int64_t t0 = mono_ns();
    CURLcode rc = curl_easy_perform(w->curl);
    *lat_ns = mono_ns() - t0;
    curl_easy_getinfo(w->curl, CURLINFO_NUM_CONNECTS, &connects);
    w->connects += (uint64_t)connects;
    *wait_ms = attempt < 6 ? 50LL << attempt : 2000;
    if (rc != CURLE_OK) {
        w->transport_errors++;
        log_ratelimited(LOG_WARN, 5, "send: %s", w->curl_err);
        return ATTEMPT_RETRY;
    }
    curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300)
        return ATTEMPT_OK;
    w->codes[code > 0 && code < NCODES ? code : 0]++;
    if (code != 429 && code != 502 && code != 503 && code != 504)
        return ATTEMPT_FAIL;
    curl_easy_getinfo(w->curl, CURLINFO_RETRY_AFTER, &retry_after);
    if (retry_after > 0)
        *wait_ms = (int64_t)retry_after * 1000;
    return ATTEMPT_RETRY;
}

static void send_request(struct sender *w, uint32_t n)
{
    const struct send_shared *sh = w->sh;
    int64_t first = mono_ns(), lat, wait_ms;

    sl_body_patch(w->body, sh->tpl, n, clock_ns(CLOCK_REALTIME));
    for (unsigned attempt = 0;; attempt++) {
        enum attempt a = send_attempt(w, attempt, &lat, &wait_ms);
        if (a == ATTEMPT_OK) {
            uint64_t rej = reply_rejected(w);
            if (rej > sh->tpl->nspans)
                rej = sh->tpl->nspans;
            w->ok++;
            w->rejected += rej;
            w->spans += sh->tpl->nspans - rej;
            hist_add(&w->lat, lat);
            if (attempt)
                hist_add(&w->lat_retried, mono_ns() - first);
            return;
        }
        if (a == ATTEMPT_FAIL) {
            w->failed++;
            log_ratelimited(LOG_WARN, 5,
                            "send: request %" PRIu32 " refused, not retried",
                            n);
            return;
        }
        if (attempt >= sh->o->max_retries ||
            mono_ns() + wait_ms * 1000000 > sh->give_up_ns) {
            w->abandoned++;
            return;
        }
        w->retries++;
        sleep_ms(wait_ms);
    }
}

static void *send_thread(void *arg)
{
    struct sender *w = arg;
    struct send_shared *sh = w->sh;

    for (;;) {
        if (mono_ns() >= sh->deadline_ns)
            break;
        uint64_t n = atomic_fetch_add(&sh->next, 1);
        if (sh->o->requests && n >= sh->o->requests)
            break;
        send_request(w, (uint32_t)n);
    }
    w->end_ns = mono_ns();
    return NULL;
}

static int send_parse(int argc, char **argv, struct send_opts *o)
{
    *o = (struct send_opts){
        .url = "http://127.0.0.1:4318/v1/traces",
        .connections = 4,
        .timeout_ms = 10000,
        .max_retries = 20,
        .retry_grace_s = 5,
        .shape = {.spans = 100, .domains = 4, .spans_per_trace = 10}};
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        bool miss = false, ok = true;
        int s = sl_shape_option(argc, argv, &i, &o->shape);
        if (s < 0)
            return -s;
        if (s > 0)
            continue;
        if (sl_opt_is(argc, argv, &i, "--url", &v, &miss))
            o->url = v;
        else if (sl_opt_is(argc, argv, &i, "--token", &v, &miss))
            o->token = v;
        else if (sl_opt_is(argc, argv, &i, "--connections", &v, &miss))
            ok = miss || sl_parse_uint(v, &o->connections);
        else if (sl_opt_is(argc, argv, &i, "--requests", &v, &miss))
            ok = miss || sl_parse_u64(v, &o->requests);
        else if (sl_opt_is(argc, argv, &i, "--duration", &v, &miss))
            ok = miss || sl_parse_double(v, &o->duration_s);
        else if (sl_opt_is(argc, argv, &i, "--timeout-ms", &v, &miss))
            ok = miss || sl_parse_uint(v, &o->timeout_ms);
        else if (sl_opt_is(argc, argv, &i, "--max-retries", &v, &miss))
            ok = miss || sl_parse_uint(v, &o->max_retries);
        else if (sl_opt_is(argc, argv, &i, "--retry-grace", &v, &miss))
            ok = miss || sl_parse_double(v, &o->retry_grace_s);
        else
            return sl_usage_error("send: unknown option %s", argv[i]);
        if (miss || !ok)
            return sl_usage_error("send: bad or missing value for %s",
                                  argv[i - !miss]);
    }
    if (o->connections < 1 || o->connections > MAX_CONNECTIONS)
        return sl_usage_error("%s", "send: --connections must be 1..256");
    if (o->requests > UINT32_MAX)
        return sl_usage_error("%s", "send: --requests must be < 2^32");
    if (!o->requests && o->duration_s == 0)
        o->duration_s = 10;
    return sl_shape_check(&o->shape);
}

/* The totals of all connections, kept in sender 0's counters. */
static void send_merge(struct sender *ws, unsigned n, int64_t *end_ns)
{
    struct sender *t = &ws[0];

    *end_ns = t->end_ns;
    for (unsigned i = 1; i < n; i++) {
        const struct sender *w = &ws[i];
        t->ok += w->ok;
        t->spans += w->spans;
        t->rejected += w->rejected;
        t->retries += w->retries;
        t->transport_errors += w->transport_errors;
        t->failed += w->failed;
        t->abandoned += w->abandoned;
        t->connects += w->connects;
        for (size_t c = 0; c < NCODES; c++)
            t->codes[c] += w->codes[c];
        hist_merge(&t->lat, &w->lat);
        hist_merge(&t->lat_retried, &w->lat_retried);
        if (w->end_ns > *end_ns)
            *end_ns = w->end_ns;
    }
}

static void send_report(const struct sender *t, const struct send_opts *o,
                        double elapsed_s)
{
    uint64_t non2xx = 0;
    double p50 = hist_quantile_ms(&t->lat, 0.50);
    double p99 = hist_quantile_ms(&t->lat, 0.99);

    printf("send: %s, %u connections, %u spans/request\n", o->url,
           o->connections, o->shape.spans);
    printf("requests ok %" PRIu64 ", spans accepted %" PRIu64
           " (rejected by partial_success %" PRIu64 "), elapsed %.2f s\n",
           t->ok, t->spans, t->rejected, elapsed_s);
    printf("spans/s %.0f, requests/s %.1f\n", (double)t->spans / elapsed_s,
           (double)t->ok / elapsed_s);
    printf("latency ms (2xx attempts): p50 %.3f p90 %.3f p99 %.3f max %.3f\n",
           p50, hist_quantile_ms(&t->lat, 0.90), p99,
           (double)t->lat.max_us / 1000.0);
    if (t->lat_retried.count)
        printf("latency ms (%" PRIu64 " retried requests, first attempt to "
               "2xx): p50 %.3f max %.3f\n",
               t->lat_retried.count, hist_quantile_ms(&t->lat_retried, 0.5),
               (double)t->lat_retried.max_us / 1000.0);
    printf("retries %" PRIu64 ", transport errors %" PRIu64 ", failed %" PRIu64
           ", abandoned %" PRIu64 ", TCP connects %" PRIu64 "\nnon-2xx:",
           t->retries, t->transport_errors, t->failed, t->abandoned,
           t->connects);
    for (size_t c = 0; c < NCODES; c++)
        if (t->codes[c]) {
            printf(c ? " %zu=%" PRIu64 : " other=%" PRIu64, c, t->codes[c]);
            non2xx += t->codes[c];
        }
    printf("%s\n", non2xx ? "" : " none");
    printf("RESULT spans_accepted=%" PRIu64 " spans_per_s=%.0f p50_ms=%.3f "
           "p99_ms=%.3f errors=%" PRIu64 " requests_ok=%" PRIu64
           " retries=%" PRIu64 " failed=%" PRIu64 "\n",
           t->spans, (double)t->spans / elapsed_s, p50, p99,
           non2xx + t->transport_errors, t->ok, t->retries,
           t->failed + t->abandoned);
}

static int send_run(struct send_shared *sh, struct sender *ws, unsigned n)
{
    const struct send_opts *o = sh->o;
    unsigned started = 0;
    int64_t end_ns, t0 = mono_ns();

    sh->deadline_ns =
        o->duration_s > 0 ? t0 + (int64_t)(o->duration_s * 1e9) : INT64_MAX;
    sh->give_up_ns = o->duration_s > 0
                         ? sh->deadline_ns + (int64_t)(o->retry_grace_s * 1e9)
                         : INT64_MAX;
    for (; started < n; started++)
        if (pthread_create(&ws[started].th, NULL, send_thread, &ws[started]))
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(ws[i].th, NULL);
    if (started < n) {
        fprintf(stderr, "serve_load: cannot start sender threads\n");
        return 1;
    }
    send_merge(ws, n, &end_ns);
    send_report(&ws[0], o, (double)(end_ns - t0) / 1e9);
    return ws[0].failed + ws[0].abandoned ? 1 : 0;
}

int sl_cmd_send(int argc, char **argv)
{
    struct send_opts o;
    struct body_tpl tpl;
    struct send_shared sh = {.o = &o, .tpl = &tpl};
    struct sender *ws = NULL;
    int rc = send_parse(argc, argv, &o);

    if (rc)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        sl_tpl_build(&tpl, &o.shape) < 0) {
        fprintf(stderr, "serve_load: cannot build the request body\n");
        return 1;
    }
    sl_tpl_print(&tpl, &o.shape,
                 o.shape.spans_per_trace ? o.shape.spans_per_trace
                                         : o.shape.spans);
    ws = calloc(o.connections, sizeof(*ws));
    rc = ws ? 0 : 1;
    for (unsigned i = 0; ws && i < o.connections && rc == 0; i++)
        rc = sender_init(&ws[i], &sh) < 0 ? 1 : 0;
    if (rc == 0)
        rc = send_run(&sh, ws, o.connections);
    else
        fprintf(stderr, "serve_load: out of memory\n");
    for (unsigned i = 0; ws && i < o.connections; i++)
        sender_free(&ws[i]);
    free(ws);
    sl_tpl_destroy(&tpl);
    curl_global_cleanup();
    return rc;
}
