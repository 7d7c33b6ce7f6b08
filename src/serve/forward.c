/* forward: the downstream side of `skewscope serve`. See forward.h for the
 * guarantees; this comment says how they are kept.
 *
 * One mutex (mu) guards the queues, the spool and the counters; network
 * I/O never happens under it, disk writes do (one write(2) per batch).
 *
 * Modes. In memory mode the spool is empty and batches wait in the memory
 * queue. The first failed delivery (or a full memory queue) switches to
 * spool mode: the memory queue moves, in order, to the spool tail, and new
 * batches go to the spool as long as it takes them. What the spool does
 * not take waits in memory behind it ("overflow"), and nothing newer may
 * pass it. The sender delivers the spool head until the spool is empty,
 * then goes back to memory mode, where the overflow is the memory queue.
 *
 * The batch being sent from memory (inflight) is not in the queue, but it
 * is ahead of it: a submitter that spills the memory queue (memory full)
 * copies it to the spool first; the sender then pops it from the spool
 * head once delivered. A batch is "safe" once delivered, dropped, or in
 * the spool; its done callback is queued then and run by the sender.
 *
 * Per-sink progress (both sinks configured): a batch remembers which sinks
 * acknowledged it, and a retry skips them. This survives the move of that
 * batch to the spool head (head_sent) but not a restart: a batch that one
 * sink had and that was replayed by the next run reaches that sink twice.
 *
 * Threads: the sender thread runs sender_main; http and kafka state are
 * its own. Submitters only take mu. */
#include "serve/forward.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "serve/forward_grpc.h"
#include "serve/spool.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/log.h"

#define SINK_HTTP 1u
#define SINK_KAFKA 2u
#define DEFAULT_SPOOL_DIR "skewscope-spool"
#define DEFAULT_SPOOL_MAX ((uint64_t)1 << 30)
#define DEFAULT_MAX_QUEUED ((size_t)256 << 20)
#define KAFKA_PURGE_WAIT_MS 5000

enum fwd_result { FWD_OK = 0, FWD_RETRY = 1, FWD_PERMANENT = 2 };

struct fwd_batch {
    struct fwd_batch *next;
    uint8_t *body; /* NULL once safe */
    size_t len, spans;
    enum forward_content content;
    unsigned sent; /* SINK_* that acknowledged it */
    forward_done_fn done;
    void *done_ctx;
};

struct fwd_list {
    struct fwd_batch *head, *tail;
};

struct fwd_http {
    struct forward_grpc *grpc; /* a grpc:// endpoint: instead of curl */
    CURL *curl;
    struct curl_slist *headers[2]; /* by enum forward_content */
    char *url;
    char errbuf[CURL_ERROR_SIZE];
    char reply[160]; /* start of the last reply body, printable */
    size_t reply_len;
};

struct fwd_kafka {
    rd_kafka_t *rk;
    char *brokers, *topic;
    uint64_t seq; /* of the message awaiting its delivery report */
    bool dr_seen;
    rd_kafka_resp_err_t dr_err;
};

struct forward {
    /* Fixed after forward_start. */
    unsigned sinks;
    unsigned timeout_ms, backoff_initial_ms, backoff_max_ms;
    size_t max_queued_bytes;
    pthread_t thread;
    bool thread_started;
    /* The sender thread's own. */
    struct fwd_http http;
    struct fwd_kafka kafka;
    char last_err[300];
    bool outage_logged;
    /* Read by the sender without mu (set under mu by forward_stop). */
    atomic_bool stopping;
    _Atomic int64_t stop_deadline_ms;
    atomic_size_t queued_spans;

    pthread_mutex_t mu;  /* everything below */
    pthread_cond_t wake; /* the sender's: work, done callbacks, stop */
    struct spool *spool;
    bool spool_mode;
    bool spool_announced;       /* "spooling" logged, "drained" not yet */
    struct fwd_list queue;      /* memory queue (overflow in spool mode) */
    struct fwd_batch *inflight; /* memory batch being sent, ahead of queue */
    bool inflight_spooled;      /* ... and copied to the spool head */
    unsigned head_sent;         /* sinks that have the spool head */
    struct fwd_list done;       /* safe batches whose callback is due */
    size_t queued_bytes;        /* queue + inflight unless spooled */
    struct forward_counters c;
};

/* ---- time ---- */

static int64_t mono_ms(void)
{
    return clock_now_ns(CLOCK_MONOTONIC) / 1000000;
}

/* Whether forward_stop's grace period is over. */
static bool grace_over(const struct forward *f)
{
    return atomic_load(&f->stopping) &&
           mono_ms() >= atomic_load(&f->stop_deadline_ms);
}

/* Timeout for one request: the configured one, cut to the grace left. */
static long request_timeout_ms(const struct forward *f)
{
    int64_t t = f->timeout_ms;

    if (atomic_load(&f->stopping)) {
        int64_t left = atomic_load(&f->stop_deadline_ms) - mono_ms();
        t = left < t ? left : t;
    }
    return t < 1 ? 1 : (long)t;
}

/* Wait on f->wake (mu held) until woken or until_ms (< 0: no limit). */
static void wait_until(struct forward *f, int64_t until_ms)
{
    struct timespec ts;

    if (until_ms < 0) {
        pthread_cond_wait(&f->wake, &f->mu);
        return;
    }
    ts.tv_sec = (time_t)(until_ms / 1000);
    ts.tv_nsec = (long)(until_ms % 1000) * 1000000;
    pthread_cond_timedwait(&f->wake, &f->mu, &ts);
}

/* ---- the OTLP/HTTP sink (libcurl) ---- */

/* Keeps the start of the reply body (for the log), printable. */
static size_t on_reply(char *p, size_t size, size_t nmemb, void *arg)
{
    struct fwd_http *h = arg;
    size_t n = size * nmemb;

    for (size_t i = 0; i < n && h->reply_len + 1 < sizeof h->reply; i++) {
        unsigned char c = (unsigned char)p[i];
        h->reply[h->reply_len++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
    }
    h->reply[h->reply_len] = '\0';
    return n;
}

/* Aborts a transfer when forward_stop's grace period is over. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return grace_over(arg) ? 1 : 0;
}

static struct curl_slist *make_headers(const char *content_type,
                                       const char *auth)
{
    struct curl_slist *l = curl_slist_append(NULL, content_type), *n;

    /* No "Expect: 100-continue" round trip before larger bodies. */
    if (!l || !(n = curl_slist_append(l, "Expect:")))
        goto fail;
    l = n;
    if (auth && !(n = curl_slist_append(l, auth)))
        goto fail;
    return n;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static int http_setup(struct forward *f, const char *token)
{
    struct fwd_http *h = &f->http;
    char *auth = NULL;
    int rc = -1;

    if (token) {
        size_t n = strlen(token) + sizeof "Authorization: Bearer ";
        if (!(auth = malloc(n)))
            return -1;
        snprintf(auth, n, "Authorization: Bearer %s", token);
    }
    h->headers[FORWARD_PROTOBUF] =
        make_headers("Content-Type: application/x-protobuf", auth);
    h->headers[FORWARD_JSON] =
        make_headers("Content-Type: application/json", auth);
    if (!h->headers[0] || !h->headers[1] || !(h->curl = curl_easy_init()))
        goto out;
    if (curl_easy_setopt(h->curl, CURLOPT_URL, h->url) != CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "skewscope-forward") !=
            CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_reply) !=
            CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h) != CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress) !=
            CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, f) != CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK)
        goto out;
    rc = 0;
out:
    free(auth);
    return rc;
}

static int http_init(struct forward *f, const struct forward_config *cfg,
                     char *err, size_t errlen)
{
    char why[512];

    if (http_client_init(why, sizeof why) < 0) {
        snprintf(err, errlen, "forward: %s", why);
        return -1;
    }
    if (forward_grpc_is_url(cfg->otlp_endpoint)) {
        f->http.grpc = forward_grpc_create(cfg->otlp_endpoint, cfg->otlp_token,
                                           err, errlen);
        if (!f->http.grpc)
            return -1;
        f->sinks |= SINK_HTTP;
        return 0;
    }
    f->http.url = http_client_traces_url(cfg->otlp_endpoint, why, sizeof why);
    if (!f->http.url) {
        snprintf(err, errlen, "forward: %s", why);
        return -1;
    }
    if (http_setup(f, cfg->otlp_token) < 0) {
        snprintf(err, errlen, "forward: cannot set up the HTTP client for %s",
                 f->http.url);
        return -1;
    }
    f->sinks |= SINK_HTTP;
    return 0;
}

static void http_free(struct fwd_http *h)
{
    forward_grpc_destroy(h->grpc);
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers[0]);
    curl_slist_free_all(h->headers[1]);
    free(h->url);
}

static enum fwd_result http_status(struct forward *f, long code,
                                   unsigned *retry_after_ms)
{
    struct fwd_http *h = &f->http;
    curl_off_t ra = 0;

    if (code >= 200 && code < 300)
        return FWD_OK;
    snprintf(f->last_err, sizeof f->last_err, "POST %s: HTTP %ld %s", h->url,
             code, h->reply);
    if (code >= 400 && code < 500 && code != 408 && code != 429)
        return FWD_PERMANENT;
    if (curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
        ra > 0)
        *retry_after_ms = ra > 3600 ? 3600000u : (unsigned)ra * 1000u;
    return FWD_RETRY; /* 408, 429, 5xx, and anything unexpected */
}

static int grace_over_cb(void *f)
{
    return grace_over(f);
}

/* The grpc:// downstream (serve/forward_grpc.h). */
static enum fwd_result grpc_send(struct forward *f, const struct fwd_batch *b,
                                 unsigned *retry_after_ms)
{
    enum forward_grpc_result r = forward_grpc_send(
        f->http.grpc, b->body, b->len, b->content == FORWARD_JSON,
        request_timeout_ms(f), grace_over_cb, f, retry_after_ms, f->last_err,
        sizeof f->last_err);

    return r == FORWARD_GRPC_OK      ? FWD_OK
           : r == FORWARD_GRPC_RETRY ? FWD_RETRY
                                     : FWD_PERMANENT;
}

static enum fwd_result http_send(struct forward *f, const struct fwd_batch *b,
                                 unsigned *retry_after_ms)
{
    struct fwd_http *h = &f->http;
    long code = 0, timeout = request_timeout_ms(f);
    CURLcode rc;

    if (h->grpc)
        return grpc_send(f, b, retry_after_ms);
    h->errbuf[0] = '\0';
    h->reply[0] = '\0';
    h->reply_len = 0;
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers[b->content]);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS,
                     b->body ? (const char *)b->body : "");
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK) {
        snprintf(f->last_err, sizeof f->last_err, "POST %s: %s", h->url,
                 h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
        return FWD_RETRY;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
    return http_status(f, code, retry_after_ms);
}

/* ---- the Kafka sink (librdkafka) ---- */

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    if (level <= 3)
        log_warn("forward: kafka: %s: %s", fac, buf);
    else
        log_debug("forward: kafka: %s: %s", fac, buf);
}

/* Runs inside rd_kafka_poll(), on the sender thread. */
static void kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct fwd_kafka *k = opaque;

    (void)rk;
    if ((uint64_t)(uintptr_t)m->_private != k->seq)
        return; /* a report for a message given up on earlier */
    k->dr_seen = true;
    k->dr_err = m->err;
}

static int kafka_set(rd_kafka_conf_t *conf, const char *key, const char *val,
                     char *err, size_t errlen)
{
    return rd_kafka_conf_set(conf, key, val, err, errlen) == RD_KAFKA_CONF_OK
               ? 0
               : -1;
}

static rd_kafka_t *kafka_producer(struct forward *f, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char timeout[16];

    if (!conf) {
        snprintf(err, errlen, "forward: kafka: out of memory");
        return NULL;
    }
    snprintf(timeout, sizeof timeout, "%u", f->timeout_ms);
    rd_kafka_conf_set_opaque(conf, &f->kafka);
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr);
    /* message.timeout.ms bounds the wait for each delivery report. */
    if (kafka_set(conf, "bootstrap.servers", f->kafka.brokers, err, errlen) ||
        kafka_set(conf, "client.id", "skewscope-forward", err, errlen) ||
        kafka_set(conf, "acks", "all", err, errlen) ||
        kafka_set(conf, "enable.idempotence", "true", err, errlen) ||
        kafka_set(conf, "linger.ms", "0", err, errlen) ||
        kafka_set(conf, "request.timeout.ms", timeout, err, errlen) ||
        kafka_set(conf, "message.timeout.ms", timeout, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
}

static void kafka_close(struct fwd_kafka *k)
{
    if (!k->rk)
        return;
    rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(k->rk, 0);
    rd_kafka_destroy(k->rk);
    k->rk = NULL;
}

static int kafka_init(struct forward *f, const struct forward_config *cfg,
                      char *err, size_t errlen)
{
    if (!cfg->kafka_brokers || !cfg->kafka_brokers[0]) {
        snprintf(err, errlen,
                 "forward: kafka_topic %s given without kafka_brokers",
                 cfg->kafka_topic);
        return -1;
    }
    f->kafka.brokers = strdup(cfg->kafka_brokers);
    f->kafka.topic = strdup(cfg->kafka_topic);
    if (!f->kafka.brokers || !f->kafka.topic) {
        snprintf(err, errlen, "forward: out of memory");
        return -1;
    }
    if (!(f->kafka.rk = kafka_producer(f, err, errlen)))
        return -1;
    f->sinks |= SINK_KAFKA;
    return 0;
}

static bool kafka_permanent(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           e == RD_KAFKA_RESP_ERR_INVALID_RECORD;
}

/* Serve delivery reports until the one for k->seq came, giving up (purge)
 * after the message timeout or when the stop grace is over. */
static void kafka_wait_report(struct forward *f)
{
    struct fwd_kafka *k = &f->kafka;
    int64_t give_up = mono_ms() + f->timeout_ms + 2000;

    while (!k->dr_seen) {
        rd_kafka_poll(k->rk, 20);
        if (k->dr_seen || (mono_ms() < give_up && !grace_over(f)))
            continue;
        rd_kafka_purge(k->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int64_t t = mono_ms() + KAFKA_PURGE_WAIT_MS;
             !k->dr_seen && mono_ms() < t;)
            rd_kafka_poll(k->rk, 20);
        if (!k->dr_seen) {
            k->dr_seen = true; /* a late report no longer matches seq */
            k->dr_err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        }
    }
}

/* After a fatal (idempotence) error the producer must be replaced. */
static void kafka_check_fatal(struct forward *f)
{
    char why[256], err[256];

    if (!rd_kafka_fatal_error(f->kafka.rk, why, sizeof why))
        return;
    log_error("forward: kafka producer failed (%s); starting a new one", why);
    kafka_close(&f->kafka);
    f->kafka.rk = kafka_producer(f, err, sizeof err);
    if (!f->kafka.rk)
        log_error("forward: kafka: %s", err);
}

static enum fwd_result kafka_send(struct forward *f, const struct fwd_batch *b)
{
    struct fwd_kafka *k = &f->kafka;
    const char *ct = b->content == FORWARD_JSON ? "application/json"
                                                : "application/x-protobuf";
    rd_kafka_resp_err_t e;

    if (!k->rk && !(k->rk = kafka_producer(f, f->last_err, sizeof f->last_err)))
        return FWD_RETRY;
    k->seq++;
    k->dr_seen = false;
    e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(k->topic), RD_KAFKA_V_VALUE(b->body, b->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("content-type", ct, -1),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)k->seq), RD_KAFKA_V_END);
    if (!e) {
        kafka_wait_report(f);
        e = k->dr_err;
    }
    if (!e)
        return FWD_OK;
    snprintf(f->last_err, sizeof f->last_err, "kafka topic %s: %s", k->topic,
             rd_kafka_err2str(e));
    kafka_check_fatal(f);
    return kafka_permanent(e) ? FWD_PERMANENT : FWD_RETRY;
}

/* ---- delivery to every configured sink ---- */

/* Sends b to the sinks that do not have it yet (b->sent). Sender thread,
 * without mu. */
static enum fwd_result deliver(struct forward *f, struct fwd_batch *b,
                               unsigned *retry_after_ms)
{
    enum fwd_result res = FWD_OK, r;

    if ((f->sinks & SINK_HTTP) && !(b->sent & SINK_HTTP)) {
        r = http_send(f, b, retry_after_ms);
        if (r == FWD_OK)
            b->sent |= SINK_HTTP;
        res = r;
    }
    if ((f->sinks & SINK_KAFKA) && !(b->sent & SINK_KAFKA) &&
        res != FWD_PERMANENT) {
        r = kafka_send(f, b);
        if (r == FWD_OK)
            b->sent |= SINK_KAFKA;
        else if (r > res)
            res = r;
    }
    return res;
}

/* ---- queues (mu held) ---- */

static void list_push(struct fwd_list *l, struct fwd_batch *b)
{
    b->next = NULL;
    if (l->tail)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
}

static struct fwd_batch *list_pop(struct fwd_list *l)
{
    struct fwd_batch *b = l->head;

    if (b && !(l->head = b->next))
        l->tail = NULL;
    return b;
}

static void list_push_front(struct fwd_list *l, struct fwd_batch *b)
{
    b->next = l->head;
    l->head = b;
    if (!l->tail)
        l->tail = b;
}

/* Whether batches wait in memory (that nothing newer may pass). */
static bool memory_pending(const struct forward *f)
{
    return f->queue.head || (f->inflight && !f->inflight_spooled);
}

static bool memory_fits(const struct forward *f, size_t len)
{
    return f->queued_bytes == 0 ||
           (len <= f->max_queued_bytes &&
            f->queued_bytes <= f->max_queued_bytes - len);
}

static void memory_add(struct forward *f, struct fwd_batch *b)
{
    f->queued_bytes += b->len;
    atomic_fetch_add(&f->queued_spans, b->spans);
}

static void memory_sub(struct forward *f, const struct fwd_batch *b)
{
    f->queued_bytes -= b->len;
    atomic_fetch_sub(&f->queued_spans, b->spans);
}

/* b is safe (delivered, dropped or spooled): free its body and queue its
 * done callback for the sender. */
static void batch_safe(struct forward *f, struct fwd_batch *b)
{
    free(b->body);
    b->body = NULL;
    if (!b->done) {
        free(b);
        return;
    }
    list_push(&f->done, b);
    pthread_cond_signal(&f->wake);
}

/* Append b's body to the spool. `sent` is the sinks that have it, kept for
 * when it becomes the spool head. Returns 0 or -1 (does not fit / error). */
static int spool_put(struct forward *f, const struct fwd_batch *b,
                     unsigned sent)
{
    uint32_t spans = b->spans > UINT32_MAX ? UINT32_MAX : (uint32_t)b->spans;
    bool first = spool_count(f->spool) == 0;
    char err[300];
    int rc;

    rc = spool_append(f->spool, b->body, b->len, spans, (uint8_t)b->content,
                      err, sizeof err);
    if (rc == -EFBIG)
        log_ratelimited(LOG_WARN, 5,
                        "forward: a batch of %zu bytes is larger than the "
                        "spool; it waits in memory",
                        b->len);
    else if (rc < 0 && rc != -ENOSPC)
        log_ratelimited(LOG_ERROR, 20, "forward: %s", err);
    if (rc < 0)
        return -1;
    if (first)
        f->head_sent = sent;
    f->c.spooled_spans += b->spans;
    return 0;
}

/* Move what waits in memory, in order, to the spool tail, as far as the
 * spool takes it. */
static void spill(struct forward *f)
{
    struct fwd_batch *b;

    if (f->inflight && !f->inflight_spooled) {
        /* The sender owns it (and its progress) until its attempt ends. */
        if (spool_put(f, f->inflight, 0) < 0)
            return;
        f->inflight_spooled = true;
        memory_sub(f, f->inflight);
    }
    while ((b = f->queue.head) != NULL) {
        if (spool_put(f, b, b->sent) < 0)
            return;
        list_pop(&f->queue);
        memory_sub(f, b);
        batch_safe(f, b);
    }
}

static void enter_spool_mode(struct forward *f)
{
    f->spool_mode = true;
    spill(f);
    if (!f->spool_announced && spool_count(f->spool) > 0) {
        log_info("forward: spooling to disk until the downstream catches up");
        f->spool_announced = true;
    }
}

static int enqueue(struct forward *f, struct fwd_batch *b)
{
    if (atomic_load(&f->stopping))
        return -1;
    if (!f->spool_mode && memory_fits(f, b->len))
        goto memory;
    enter_spool_mode(f); /* older batches first */
    if (!memory_pending(f) && spool_put(f, b, 0) == 0) {
        batch_safe(f, b);
        return 0;
    }
    if (!memory_fits(f, b->len))
        return -1;
memory:
    list_push(&f->queue, b);
    memory_add(f, b);
    pthread_cond_signal(&f->wake);
    return 0;
}

/* ---- the sender ---- */

/* Runs the due done callbacks without mu. A callback tells its owner that
 * the batch is safe (the WAL forgets it, Kafka commits it), so the spool
 * records behind it are made to survive a power loss first: one fsync for
 * all the callbacks of a round (cheap when nothing was spooled). */
static void run_done(struct forward *f)
{
    struct fwd_batch *b = f->done.head, *next;
    char err[300];

    if (spool_sync(f->spool, err, sizeof err) < 0)
        log_ratelimited(LOG_ERROR, 5, "forward: %s", err);
    f->done.head = f->done.tail = NULL;
    pthread_mutex_unlock(&f->mu);
    for (; b; b = next) {
        next = b->next;
        b->done(b->done_ctx);
        free(b);
    }
    pthread_mutex_lock(&f->mu);
}

/* The next batch to send: the spool head into *tmp (spool mode), or the
 * memory queue's head, which becomes inflight. 1 = *out set, 0 = nothing
 * to send, -1 = the spool cannot be read (retry later). */
static int next_batch(struct forward *f, struct fwd_batch *tmp,
                      struct fwd_batch **out)
{
    struct spool_record rec;
    char err[300];
    int rc;

    if (f->spool_mode) {
        rc = spool_head(f->spool, &rec, err, sizeof err);
        if (rc < 0) {
            log_ratelimited(LOG_ERROR, 20, "forward: %s; retrying", err);
            return -1;
        }
        if (rc == 1) {
            *tmp = (struct fwd_batch){
                .body = rec.data,
                .len = rec.len,
                .spans = rec.spans,
                .content =
                    rec.type == FORWARD_JSON ? FORWARD_JSON : FORWARD_PROTOBUF,
                .sent = f->head_sent,
            };
            *out = tmp;
            return 1;
        }
        f->spool_mode = false; /* drained: overflow is the memory queue */
        if (f->spool_announced)
            log_info("forward: spool drained");
        f->spool_announced = false;
    }
    if (!(*out = list_pop(&f->queue)))
        return 0;
    f->inflight = *out;
    f->inflight_spooled = false;
    return 1;
}

static void pop_spool_head(struct forward *f)
{
    char err[300];

    if (spool_pop(f->spool, err, sizeof err) < 0)
        log_error("forward: %s", err);
    f->head_sent = 0;
}

static void count_result(struct forward *f, const struct fwd_batch *b,
                         enum fwd_result r)
{
    if (r == FWD_RETRY) {
        f->c.retries++;
        f->c.downstream_up = false;
        if (!f->outage_logged)
            log_warn("forward: delivery failed (%s); retrying with backoff",
                     f->last_err);
        else
            log_debug("forward: retry failed: %s", f->last_err);
        f->outage_logged = true;
        return;
    }
    f->c.downstream_up = true;
    if (f->outage_logged)
        log_info("forward: downstream is back");
    f->outage_logged = false;
    if (r == FWD_OK) {
        f->c.forwarded_spans += b->spans;
        f->c.forwarded_batches++;
        return;
    }
    f->c.dropped_spans += b->spans;
    log_ratelimited(LOG_WARN, 50,
                    "forward: downstream refused a batch of %zu spans (%s); "
                    "dropped",
                    b->spans, f->last_err);
}

/* Book the outcome of sending b (from the spool when b == tmp). */
static void finish(struct forward *f, struct fwd_batch *b, bool from_spool,
                   enum fwd_result r)
{
    count_result(f, b, r);
    if (from_spool || f->inflight_spooled) {
        /* b is the spool head. */
        if (r == FWD_RETRY) {
            f->head_sent = b->sent;
        } else {
            pop_spool_head(f);
            if (r == FWD_OK && from_spool)
                f->c.replayed_spans += b->spans;
        }
        if (from_spool) {
            free(b->body);
            return;
        }
        f->inflight = NULL;
        f->inflight_spooled = false;
        batch_safe(f, b);
        return;
    }
    f->inflight = NULL;
    if (r == FWD_RETRY) {
        list_push_front(&f->queue, b);
        enter_spool_mode(f);
        return;
    }
    memory_sub(f, b);
    batch_safe(f, b);
}

static unsigned next_backoff(const struct forward *f, unsigned cur)
{
    return cur >= f->backoff_max_ms / 2 ? f->backoff_max_ms : cur * 2;
}

/* One attempt on the next batch (mu held; released while sending).
 * Returns 1 = sent (any outcome), 0 = nothing to send, -1 = retry later. */
static int attempt(struct forward *f, unsigned *retry_after_ms)
{
    struct fwd_batch tmp, *b;
    enum fwd_result r;
    int rc = next_batch(f, &tmp, &b);

    if (rc <= 0)
        return rc;
    pthread_mutex_unlock(&f->mu);
    r = deliver(f, b, retry_after_ms);
    pthread_mutex_lock(&f->mu);
    finish(f, b, b == &tmp, r);
    return r == FWD_RETRY ? -1 : 1;
}

/* At exit: what is still in memory goes to the spool; what the spool does
 * not take is lost (logged, counted in lost_spans, no callback). */
static void shutdown_queues(struct forward *f)
{
    struct fwd_batch *b;
    size_t lost = 0, batches = 0;

    f->spool_mode = true;
    spill(f);
    while ((b = list_pop(&f->queue)) != NULL) {
        lost += b->spans;
        batches++;
        f->c.lost_spans += b->spans;
        memory_sub(f, b);
        /* no done callback: the data is not safe (Kafka must not commit) */
        free(b->body);
        free(b);
    }
    if (lost)
        log_error("forward: the spool is full: %zu spans in %zu batches "
                  "lost at shutdown",
                  lost, batches);
}

static void *sender_main(void *arg)
{
    struct forward *f = arg;
    unsigned backoff = f->backoff_initial_ms, retry_after_ms;
    int64_t retry_at = 0, now, deadline;

    pthread_mutex_lock(&f->mu);
    for (;;) {
        if (f->done.head) {
            run_done(f);
            continue;
        }
        now = mono_ms();
        deadline =
            atomic_load(&f->stopping) ? atomic_load(&f->stop_deadline_ms) : -1;
        if (deadline >= 0 && (!memory_pending(f) || now >= deadline))
            break;
        if (now < retry_at) {
            wait_until(f, deadline >= 0 && deadline < retry_at ? deadline
                                                               : retry_at);
            continue;
        }
        retry_after_ms = 0;
        int rc = attempt(f, &retry_after_ms);
        if (rc == 0) {
            wait_until(f, deadline);
        } else if (rc > 0) {
            backoff = f->backoff_initial_ms;
        } else {
            unsigned wait = backoff;
            if (retry_after_ms > wait)
                wait = retry_after_ms < f->backoff_max_ms ? retry_after_ms
                                                          : f->backoff_max_ms;
            retry_at = mono_ms() + wait;
            backoff = next_backoff(f, backoff);
        }
    }
    shutdown_queues(f);
    if (f->done.head)
        run_done(f);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* ---- start / stop ---- */

static void forward_free(struct forward *f)
{
    if (!f)
        return;
    http_free(&f->http);
    kafka_close(&f->kafka);
    free(f->kafka.brokers);
    free(f->kafka.topic);
    spool_close(f->spool);
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void apply_config(struct forward *f, const struct forward_config *cfg)
{
    f->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
    f->backoff_initial_ms =
        cfg->backoff_initial_ms ? cfg->backoff_initial_ms : 100;
    f->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 5000;
    if (f->backoff_max_ms < f->backoff_initial_ms)
        f->backoff_max_ms = f->backoff_initial_ms;
    f->max_queued_bytes =
        cfg->max_queued_bytes ? cfg->max_queued_bytes : DEFAULT_MAX_QUEUED;
}

static int init_sync(struct forward *f)
{
    pthread_condattr_t ca;
    int rc;

    if (pthread_mutex_init(&f->mu, NULL) != 0)
        return -1;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                 pthread_cond_init(&f->wake, &ca) == 0
             ? 0
             : -1;
    pthread_condattr_destroy(&ca);
    return rc;
}

static int open_spool(struct forward *f, const struct forward_config *cfg,
                      char *err, size_t errlen)
{
    struct spool_stats st;

    f->spool = spool_open(cfg->spool_dir ? cfg->spool_dir : DEFAULT_SPOOL_DIR,
                          cfg->spool_max_bytes ? cfg->spool_max_bytes
                                               : DEFAULT_SPOOL_MAX,
                          0, err, errlen);
    if (!f->spool)
        return -1;
    spool_stats_read(f->spool, &st);
    if (st.records > 0) {
        f->spool_mode = f->spool_announced = true;
        log_info("forward: replaying %" PRIu64 " spans in %" PRIu64
                 " batches from the spool first",
                 st.spans, st.records);
    }
    return 0;
}

struct forward *forward_start(const struct forward_config *cfg, char *err,
                              size_t errlen)
{
    struct forward *f;

    if (!cfg || (!cfg->otlp_endpoint && !cfg->kafka_topic)) {
        snprintf(err, errlen,
                 "forward: no downstream (set an OTLP endpoint or a Kafka "
                 "topic)");
        return NULL;
    }
    if (!(f = calloc(1, sizeof *f)) || init_sync(f) < 0) {
        snprintf(err, errlen, "forward: out of memory");
        free(f);
        return NULL;
    }
    apply_config(f, cfg);
    if ((cfg->otlp_endpoint && http_init(f, cfg, err, errlen) < 0) ||
        (cfg->kafka_topic && kafka_init(f, cfg, err, errlen) < 0) ||
        open_spool(f, cfg, err, errlen) < 0)
        goto fail;
    if (pthread_create(&f->thread, NULL, sender_main, f) != 0) {
        snprintf(err, errlen, "forward: cannot start the sender thread");
        goto fail;
    }
    f->thread_started = true;
    return f;
fail:
    forward_free(f);
    return NULL;
}

int forward_submit(struct forward *f, uint8_t *body, size_t len,
                   enum forward_content content, size_t spans,
                   forward_done_fn done, void *done_ctx)
{
    struct fwd_batch *b = malloc(sizeof *b);
    int rc;

    if (!b) {
        free(body);
        return -1;
    }
    *b = (struct fwd_batch){
        .body = body,
        .len = len,
        .spans = spans,
        .content = content == FORWARD_JSON ? FORWARD_JSON : FORWARD_PROTOBUF,
        .done = done,
        .done_ctx = done_ctx};
    pthread_mutex_lock(&f->mu);
    rc = enqueue(f, b);
    pthread_mutex_unlock(&f->mu);
    if (rc < 0) {
        free(body);
        free(b);
    }
    return rc;
}

size_t forward_queued_spans(const struct forward *f)
{
    return atomic_load(&f->queued_spans);
}

void forward_counters_read(const struct forward *f,
                           struct forward_counters *out)
{
    /* The mutex is not part of the observable state: const is kept. */
    pthread_mutex_t *mu = (pthread_mutex_t *)(uintptr_t)&f->mu;
    struct spool_stats st;

    pthread_mutex_lock(mu);
    *out = f->c;
    spool_stats_read(f->spool, &st);
    pthread_mutex_unlock(mu);
    out->spool_bytes = st.bytes;
    out->spool_spans = st.spans;
    out->spool_syncs = st.syncs;
}

void forward_stop(struct forward *f, unsigned grace_ms,
                  struct forward_counters *final)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    atomic_store(&f->stop_deadline_ms, mono_ms() + (int64_t)grace_ms);
    atomic_store(&f->stopping, true);
    pthread_cond_broadcast(&f->wake);
    pthread_mutex_unlock(&f->mu);
    if (f->thread_started)
        pthread_join(f->thread, NULL);
    if (final)
        forward_counters_read(f, final);
    forward_free(f);
}
