/* scraper: periodic GET /metrics of every stage (scraper.h), with libcurl. */
#include "testbed/scraper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

struct buf {
    char *p;
    size_t len, cap;
};

struct target {
    struct pipeline_endpoint ep;
    char url[64];
    CURL *h;
};

struct scraper {
    struct target *t;
    size_t n;
    int64_t interval_ns, offset_ns, next_ns;
    pipeline_scrape_fn fn;
    void *ctx;
    struct buf body;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t k = size * n;

    if (b->len + k + 1 > b->cap) {
        size_t cap = (b->len + k + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return 0; /* aborts the transfer */
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, k);
    b->len += k;
    b->p[b->len] = '\0';
    return k;
}

static CURL *easy(const char *url, long timeout_ms, struct buf *b)
{
    CURL *h = curl_easy_init();

    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    return h;
}

static int64_t next_due(const struct scraper *sc, int64_t now)
{
    int64_t sec = 1000000000;
    int64_t t = (now / sec + 1) * sec + sc->offset_ns;

    while (t - sc->interval_ns > now)
        t -= sc->interval_ns;
    return t;
}

struct scraper *scraper_create(const struct pipeline_endpoint *eps, size_t n,
                               unsigned interval_ms, unsigned offset_ms,
                               pipeline_scrape_fn fn, void *ctx)
{
    struct scraper *sc = calloc(1, sizeof *sc);

    if (!sc || !(sc->t = calloc(n ? n : 1, sizeof *sc->t)))
        goto fail;
    sc->n = n;
    sc->interval_ns =
        (int64_t)(interval_ms < 100 ? 100 : interval_ms) * 1000000;
    sc->offset_ns = (int64_t)offset_ms * 1000000;
    sc->fn = fn;
    sc->ctx = ctx;
    for (size_t i = 0; i < n; i++) {
        struct target *t = &sc->t[i];
        t->ep = eps[i];
        snprintf(t->url, sizeof t->url, "http://127.0.0.1:%u/metrics",
                 eps[i].port);
        if (!(t->h = easy(t->url, 500, &sc->body)))
            goto fail;
    }
    return sc;
fail:
    scraper_destroy(sc);
    return NULL;
}

void scraper_destroy(struct scraper *sc)
{
    if (!sc)
        return;
    for (size_t i = 0; sc->t && i < sc->n; i++)
        if (sc->t[i].h)
            curl_easy_cleanup(sc->t[i].h);
    free(sc->t);
    free(sc->body.p);
    free(sc);
}

unsigned scraper_poll(struct scraper *sc, int64_t now_unix_ns,
                      bool (*skip)(void *ctx, const char *stage),
                      void *skip_ctx)
{
    unsigned failed = 0;
    long code = 0;

    if (sc->next_ns == 0)
        sc->next_ns = next_due(sc, now_unix_ns);
    if (now_unix_ns < sc->next_ns)
        return 0;
    /* a late loop skips missed slots instead of scraping twice in a row */
    while (sc->next_ns <= now_unix_ns)
        sc->next_ns += sc->interval_ns;
    for (size_t i = 0; i < sc->n; i++) {
        struct target *t = &sc->t[i];
        if (skip && skip(skip_ctx, t->ep.stage))
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        sc->body.len = 0;
        if (curl_easy_perform(t->h) != CURLE_OK ||
            curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code) !=
                CURLE_OK ||
            code != 200 || !sc->body.p) {
            failed++;
            continue;
        }
        sc->fn(sc->ctx, t->ep.stage, at, sc->body.p, sc->body.len);
    }
    return failed;
}

char *scraper_get(const char *url, long timeout_ms, size_t *len, char *err,
                  size_t errlen)
{
    struct buf b = {0};
    long code = 0;
    CURL *h = easy(url, timeout_ms, &b);

    if (!h) {
        snprintf(err, errlen, "libcurl failed to start");
        return NULL;
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || code != 200) {
        snprintf(err, errlen, "GET %s: %s", url,
                 rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error");
        if (rc == CURLE_OK)
            snprintf(err, errlen, "GET %s: HTTP %ld", url, code);
        free(b.p);
        return NULL;
    }
    if (!b.p && !(b.p = calloc(1, 1))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *len = b.len;
    return b.p;
}
