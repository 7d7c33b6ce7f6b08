/* tracer_export_otlp_http: the tracer's OTLP/HTTP exporter. Each batch is
 * one ExportTraceServiceRequest in protobuf (trace_writer_otlp_proto, with
 * its length prefix taken off), POSTed with Content-Type
 * application/x-protobuf through one libcurl handle that keeps its
 * connection alive between batches.
 *
 * Retries (OTLP's guidance): connection and transfer errors and HTTP 408,
 * 429 and 5xx are retried with exponential backoff (retry_initial_ms,
 * doubling up to 5 s, +-25% jitter); other 4xx replies drop the batch. The
 * whole batch, retries and waits included, is bounded by
 * export_timeout_ms on CLOCK_MONOTONIC. */
#include "testbed/tracer_export.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "output/trace_writer.h"
#include "testbed/tracer.h"
#include "util/clock.h"
#include "util/http_client.h"

#define MAX_BACKOFF_MS 5000u

struct tracer_exporter {
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    unsigned timeout_ms, retry_initial_ms;
    uint64_t rng; /* backoff jitter */
    char curl_err[CURL_ERROR_SIZE];
};

static int64_t mono_ms(void)
{
    return clock_now_ns(CLOCK_MONOTONIC) / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static size_t discard_body(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

static int setup_handle(struct tracer_exporter *e)
{
    e->headers =
        curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    if (!e->headers)
        return -1;
    /* No "Expect: 100-continue" round trip before larger bodies. */
    struct curl_slist *h = curl_slist_append(e->headers, "Expect:");
    if (!h)
        return -1;
    e->headers = h;
    if (curl_easy_setopt(e->curl, CURLOPT_URL, e->url) != CURLE_OK ||
        curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers) != CURLE_OK ||
        curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e->curl, CURLOPT_USERAGENT, "skewscope-testbed") !=
            CURLE_OK ||
        curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, discard_body) !=
            CURLE_OK ||
        curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, e->curl_err) !=
            CURLE_OK ||
        curl_easy_setopt(e->curl, CURLOPT_POST, 1L) != CURLE_OK)
        return -1;
    return 0;
}

static void http_destroy(struct tracer_exporter *e)
{
    if (!e)
        return;
    if (e->curl)
        curl_easy_cleanup(e->curl);
    curl_slist_free_all(e->headers);
    free(e->url);
    free(e);
}

static struct tracer_exporter *http_create(const struct tracer_config *cfg,
                                           char *err, size_t errlen)
{
    struct tracer_exporter *e = NULL;

    if (http_client_init(err, errlen) < 0 || !cfg->endpoint)
        return NULL;
    if (!(e = calloc(1, sizeof(*e))))
        goto nomem;
    e->timeout_ms = cfg->export_timeout_ms;
    e->retry_initial_ms = cfg->retry_initial_ms;
    e->rng = (uint64_t)mono_ms() * 0x9e3779b97f4a7c15ULL | 1;
    if (!(e->url = http_client_traces_url(cfg->endpoint, err, errlen))) {
        http_destroy(e);
        return NULL;
    }
    if (!(e->curl = curl_easy_init()) || setup_handle(e) < 0)
        goto nomem;
    return e;
nomem:
    snprintf(err, errlen, "cannot set up the HTTP client for %s",
             cfg->endpoint);
    http_destroy(e);
    return NULL;
}

static bool retryable_status(long code)
{
    return code == 408 || code == 429 || code >= 500;
}

static bool retryable_curl(CURLcode rc)
{
    return rc != CURLE_URL_MALFORMAT && rc != CURLE_UNSUPPORTED_PROTOCOL &&
           rc != CURLE_OUT_OF_MEMORY && rc != CURLE_BAD_FUNCTION_ARGUMENT;
}

/* One POST. Returns 0 (2xx), 1 (retry) or -1 (give up), err filled. */
static int post_once(struct tracer_exporter *e, int64_t remaining_ms, char *err,
                     size_t errlen)
{
    long code = 0;
    CURLcode rc;

    e->curl_err[0] = '\0';
    curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)remaining_ms);
    curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)remaining_ms);
    rc = curl_easy_perform(e->curl);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "POST %s: %s", e->url,
                 e->curl_err[0] ? e->curl_err : curl_easy_strerror(rc));
        return retryable_curl(rc) ? 1 : -1;
    }
    curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300)
        return 0;
    snprintf(err, errlen, "POST %s: HTTP %ld", e->url, code);
    return retryable_status(code) ? 1 : -1;
}

/* The wait before retry number `retry` (1-based), with +-25% jitter. */
static int64_t backoff_ms(struct tracer_exporter *e, unsigned retry)
{
    uint64_t base = e->retry_initial_ms ? e->retry_initial_ms : 1;

    for (unsigned i = 1; i < retry && base < MAX_BACKOFF_MS; i++)
        base *= 2;
    if (base > MAX_BACKOFF_MS)
        base = MAX_BACKOFF_MS;
    e->rng ^= e->rng << 13;
    e->rng ^= e->rng >> 7;
    e->rng ^= e->rng << 17;
    return (int64_t)(base * 3 / 4 + e->rng % (base / 2 + 1));
}

static int post_with_retries(struct tracer_exporter *e,
                             struct tracer_export_result *res, char *err,
                             size_t errlen)
{
    int64_t deadline = mono_ms() + e->timeout_ms;

    for (unsigned attempt = 0;; attempt++) {
        int64_t left = deadline - mono_ms();
        if (attempt > 0) {
            int64_t wait = backoff_ms(e, attempt);
            if (wait >= left)
                return -1; /* err holds the last failure */
            sleep_ms(wait);
            left = deadline - mono_ms();
        }
        if (left < 1)
            left = 1;
        res->attempts++;
        int rc = post_once(e, left, err, errlen);
        if (rc <= 0)
            return rc;
    }
}

static int http_export(struct tracer_exporter *e, const struct span_desc *spans,
                       size_t n, struct tracer_export_result *res, char *err,
                       size_t errlen)
{
    char *buf = NULL;
    size_t len = 0, k;
    uint64_t body_len;
    int rc = -1;

    res->attempts = 0;
    if (tracer_export_encode(&trace_writer_otlp_proto_ops, 0, spans, n, &buf,
                             &len) < 0) {
        snprintf(err, errlen, "out of memory encoding %zu spans", n);
        goto cleanup;
    }
    /* The writer emits writeDelimitedTo framing; HTTP wants the bare
     * message. */
    k = tracer_export_varint((const unsigned char *)buf, len, &body_len);
    if (k == 0 || body_len != len - k) {
        snprintf(err, errlen, "internal error: bad protobuf framing");
        goto cleanup;
    }
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, buf + k);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)body_len);
    rc = post_with_retries(e, res, err, errlen);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, NULL);
cleanup:
    free(buf);
    return rc;
}

const struct tracer_exporter_ops tracer_export_otlp_http_ops = {
    .name = "otlp-http",
    .create = http_create,
    .export_batch = http_export,
    .destroy = http_destroy,
};
