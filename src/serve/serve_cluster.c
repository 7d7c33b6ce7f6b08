/* serve_cluster: the cluster-wide view of `skewscope serve` (--peer). A
 * thread of its own fetches every peer's mergeable statistics
 * (/api/v1/windows, live_io) each update interval, merges them with this
 * instance's own export into a fresh struct live, solves it and publishes
 * the result for /api/v1/cluster and the skewscope_cluster_* metrics. The
 * pipeline thread never waits for a peer.
 *
 * Flow: peers' /api/v1/windows + own export -> live_merge_json -> live
 *       -> live_update -> published cluster snapshot. */
#include "serve/serve_private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "serve/live.h"
#include "serve/live_io.h"
#include "util/clock.h"
#include "util/counter.h"
#include "util/http_client.h"
#include "util/log.h"

/* ---- cluster thread: the peers' statistics and the cluster view */

#define PEER_PATH "/api/v1/windows"
#define PEER_MAX_BYTES ((size_t)64 << 20)

struct peer {
    CURL *h;
    char *url; /* base URL + PEER_PATH */
    char *body;
    size_t len;
    bool too_big, done;
    bool logged, was_ok; /* state last logged */
    CURLcode rc;
    char errbuf[CURL_ERROR_SIZE];
};

struct serve_fetcher {
    CURLM *multi;
    struct curl_slist *headers;
    struct peer *peers; /* cfg.npeers */
    size_t n;
    struct serve_peer_status *status; /* scratch for one round */
};

static size_t on_peer_body(char *p, size_t sz, size_t n, void *ud)
{
    struct peer *pr = ud;
    size_t k = sz * n;
    char *q;

    if (pr->len + k > PEER_MAX_BYTES) {
        pr->too_big = true;
        return 0;
    }
    if (!(q = realloc(pr->body, pr->len + k + 1)))
        return 0;
    memcpy(q + pr->len, p, k);
    pr->body = q;
    pr->len += k;
    q[pr->len] = '\0';
    return k;
}

static bool peer_url_ok(const char *u)
{
    return u &&
           (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
}

/* base (trailing slashes dropped) + PEER_PATH, malloc'd. */
static char *peer_url(const char *base)
{
    size_t n = strlen(base);
    char *u;

    while (n > 0 && base[n - 1] == '/')
        n--;
    if (!(u = malloc(n + sizeof(PEER_PATH))))
        return NULL;
    memcpy(u, base, n);
    memcpy(u + n, PEER_PATH, sizeof(PEER_PATH));
    return u;
}

static int peer_init(struct peer *p, const char *base,
                     struct curl_slist *headers, long timeout_ms)
{
    if (!(p->url = peer_url(base)) || !(p->h = curl_easy_init()))
        return -1;
    if (curl_easy_setopt(p->h, CURLOPT_URL, p->url) != CURLE_OK ||
        curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(p->h, CURLOPT_USERAGENT, "skewscope-cluster") !=
            CURLE_OK ||
        curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, on_peer_body) !=
            CURLE_OK ||
        curl_easy_setopt(p->h, CURLOPT_WRITEDATA, p) != CURLE_OK ||
        curl_easy_setopt(p->h, CURLOPT_PRIVATE, p) != CURLE_OK ||
        curl_easy_setopt(p->h, CURLOPT_ERRORBUFFER, p->errbuf) != CURLE_OK ||
        curl_easy_setopt(p->h, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
        curl_easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) !=
            CURLE_OK ||
        (headers &&
         curl_easy_setopt(p->h, CURLOPT_HTTPHEADER, headers) != CURLE_OK))
        return -1;
    return 0;
}

static void fetcher_destroy(struct serve_fetcher *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->peers && i < f->n; i++) {
        curl_easy_cleanup(f->peers[i].h);
        free(f->peers[i].url);
        free(f->peers[i].body);
    }
    free(f->peers);
    free(f->status);
    curl_slist_free_all(f->headers);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    free(f);
}

static struct serve_fetcher *fetcher_create(const struct serve_config *c)
{
    struct serve_fetcher *f = calloc(1, sizeof(*f));
    char auth[4200];

    if (!f)
        return NULL;
    f->n = c->npeers;
    f->peers = calloc(f->n, sizeof(*f->peers));
    f->status = calloc(f->n, sizeof(*f->status));
    if (!f->peers || !f->status || !(f->multi = curl_multi_init()))
        goto fail;
    if (c->bearer_token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
                 c->bearer_token);
        if (!(f->headers = curl_slist_append(NULL, auth)))
            goto fail;
    }
    for (size_t i = 0; i < f->n; i++)
        if (peer_init(&f->peers[i], c->peers[i], f->headers,
                      (long)c->peer_timeout_ms) < 0)
            goto fail;
    return f;
fail:
    fetcher_destroy(f);
    return NULL;
}

/* Every peer's GET at once; returns when all finished or timed out. */
static void fetch_all(struct serve_fetcher *f)
{
    int running = 1, left;
    CURLMsg *m;

    for (size_t i = 0; i < f->n; i++) {
        struct peer *p = &f->peers[i];
        free(p->body);
        p->body = NULL;
        p->len = 0;
        p->too_big = p->done = false;
        p->errbuf[0] = '\0';
        curl_multi_add_handle(f->multi, p->h);
    }
    while (running) {
        if (curl_multi_perform(f->multi, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(f->multi, NULL, 0, 100, NULL);
    }
    while ((m = curl_multi_info_read(f->multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            struct peer *p = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            p->rc = m->data.result;
            p->done = true;
        }
    for (size_t i = 0; i < f->n; i++)
        curl_multi_remove_handle(f->multi, f->peers[i].h);
}

/* Merge one peer's answer into cl; its state in *st. */
static void merge_peer(struct peer *p, struct live *cl,
                       struct serve_peer_status *st)
{
    long code = 0;

    st->ok = false;
    if (!p->done)
        snprintf(st->error, sizeof(st->error), "no answer");
    else if (p->rc != CURLE_OK)
        snprintf(st->error, sizeof(st->error), "%s",
                 p->too_big     ? "answer larger than 64 MiB"
                 : p->errbuf[0] ? p->errbuf
                                : curl_easy_strerror(p->rc));
    else if (curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &code) !=
                 CURLE_OK ||
             code != 200)
        snprintf(st->error, sizeof(st->error), "HTTP %ld from %s", code,
                 p->url);
    else if (live_merge_json(cl, p->body, p->len, st->error,
                             sizeof(st->error)) == 0)
        st->ok = true;
    if (st->ok)
        st->error[0] = '\0';
    free(p->body);
    p->body = NULL;
}

/* Log a peer's first state and every change. */
static void log_peer(struct peer *p, const struct serve_peer_status *st)
{
    if (p->logged && st->ok == p->was_ok)
        return;
    p->logged = true;
    p->was_ok = st->ok;
    serve_log_peer(st->url, st->ok, st->error);
}

/* This instance's last export, merged into cl. */
static void merge_own(struct serve *s, struct live *cl)
{
    char *own = NULL, err[256];
    size_t len = 0;

    pthread_mutex_lock(&s->pub_lock);
    if (s->pub.windows && (own = malloc(s->pub.windows_len + 1))) {
        memcpy(own, s->pub.windows, s->pub.windows_len + 1);
        len = s->pub.windows_len;
    }
    pthread_mutex_unlock(&s->pub_lock);
    if (!own || live_merge_json(cl, own, len, err, sizeof(err)) < 0) {
        counter_add(&s->analysis_errors, 1);
        log_ratelimited(LOG_ERROR, 5,
                        "serve: cluster view without this instance's "
                        "statistics (%s)",
                        own ? err : "out of memory");
    }
    free(own);
}

static void cluster_round(struct serve *s, struct serve_fetcher *f)
{
    struct live_snapshot snap;
    struct live *cl;

    fetch_all(f);
    if (!(cl = live_create(&s->live_opts))) {
        counter_add(&s->analysis_errors, 1);
        return;
    }
    merge_own(s, cl);
    for (size_t i = 0; i < f->n; i++) {
        f->status[i].url = s->cfg.peers[i];
        merge_peer(&f->peers[i], cl, &f->status[i]);
        log_peer(&f->peers[i], &f->status[i]);
    }
    if (live_update(cl, &snap) < 0) {
        live_snapshot_free(&snap);
        live_destroy(cl);
        counter_add(&s->analysis_errors, 1);
        return;
    }
    serve_publish_cluster(s, cl, &snap, f->status);
}

/* Sleep interval_ns; false once the serve is stopping. */
static bool cluster_wait(struct serve *s, int64_t interval_ns)
{
    struct timespec until;
    bool go;

    until = clock_deadline(CLOCK_REALTIME, interval_ns);
    pthread_mutex_lock(&s->cluster_lock);
    while (!s->cluster_stopping &&
           pthread_cond_timedwait(&s->cluster_wake, &s->cluster_lock, &until) ==
               0)
        ;
    go = !s->cluster_stopping;
    pthread_mutex_unlock(&s->cluster_lock);
    return go;
}

static void *cluster_main(void *arg)
{
    struct serve *s = arg;
    int64_t interval = (int64_t)(s->cfg.update_interval_s * 1e9);

    while (cluster_wait(s, interval))
        cluster_round(s, s->fetch);
    return NULL;
}

int serve_cluster_start(struct serve *s, char *err, size_t errlen)
{
    if (!s->cfg.npeers)
        return 0;
    for (size_t i = 0; i < s->cfg.npeers; i++)
        if (!peer_url_ok(s->cfg.peers[i])) {
            snprintf(err, errlen,
                     "serve: peer '%s': expected an http:// or https:// URL",
                     s->cfg.peers[i] ? s->cfg.peers[i] : "(null)");
            return -1;
        }
    s->cluster.peers = calloc(s->cfg.npeers, sizeof(*s->cluster.peers));
    if (http_client_init(NULL, 0) < 0 || !s->cluster.peers ||
        !(s->fetch = fetcher_create(&s->cfg))) {
        snprintf(err, errlen,
                 "serve: cannot set up the peer fetches "
                 "(libcurl or memory)");
        return -1;
    }
    for (size_t i = 0; i < s->cfg.npeers; i++) {
        s->cluster.peers[i].url = s->cfg.peers[i];
        snprintf(s->cluster.peers[i].error, sizeof(s->cluster.peers[i].error),
                 "not fetched yet");
    }
    if (pthread_create(&s->cluster_thread, NULL, cluster_main, s) != 0) {
        snprintf(err, errlen, "serve: cannot start the cluster thread");
        return -1;
    }
    s->cluster_started = true;
    return 0;
}

void serve_cluster_stop(struct serve *s)
{
    if (s->cluster_started) {
        pthread_mutex_lock(&s->cluster_lock);
        s->cluster_stopping = true;
        pthread_cond_signal(&s->cluster_wake);
        pthread_mutex_unlock(&s->cluster_lock);
        pthread_join(s->cluster_thread, NULL);
        s->cluster_started = false;
    }
    fetcher_destroy(s->fetch);
    s->fetch = NULL;
}
