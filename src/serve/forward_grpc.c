/* forward_grpc: OTLP/gRPC client for the forwarder (see forward_grpc.h).
 * libcurl does the HTTP/2 (CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE: h2c
 * without an upgrade); the body is the 5-byte gRPC prefix then the
 * message, streamed by a read callback (no copy); grpc-status,
 * grpc-message and grpc-status-details-bin are picked out of the header
 * callback, which libcurl also calls for HTTP/2 trailers. */
#include "serve/forward_grpc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "serve/grpc_frame.h"

#define EXPORT_PATH                                                            \
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

struct forward_grpc {
    CURL *curl;
    struct curl_slist *headers;
    char *url;     /* http://HOST:PORT/...Export */
    char *display; /* grpc://HOST:PORT, for messages */
    char errbuf[CURL_ERROR_SIZE];
    /* the call in progress */
    const uint8_t *msg;
    size_t len, sent;
    uint8_t prefix[GRPC_PREFIX_LEN];
    int status; /* -1: none seen */
    char message[256];
    char details[2048];
    int (*abort_fn)(void *);
    void *abort_ctx;
};

bool forward_grpc_is_url(const char *endpoint)
{
    return endpoint && strncasecmp(endpoint, "grpc://", 7) == 0;
}

enum forward_grpc_result forward_grpc_classify(int code, bool has_retry_info)
{
    switch (code) {
    case GRPC_OK:
        return FORWARD_GRPC_OK;
    case GRPC_CANCELLED:
    case GRPC_DEADLINE_EXCEEDED:
    case GRPC_ABORTED:
    case GRPC_OUT_OF_RANGE:
    case GRPC_UNAVAILABLE:
    case GRPC_DATA_LOSS:
        return FORWARD_GRPC_RETRY;
    case GRPC_RESOURCE_EXHAUSTED:
        return has_retry_info ? FORWARD_GRPC_RETRY : FORWARD_GRPC_PERMANENT;
    default:
        return FORWARD_GRPC_PERMANENT;
    }
}

/* The request body: prefix, then the message. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct forward_grpc *c = arg;
    size_t cap = size * nitems, k = 0, total = GRPC_PREFIX_LEN + c->len;

    while (k < cap && c->sent < total) {
        size_t n;
        if (c->sent < GRPC_PREFIX_LEN) {
            n = GRPC_PREFIX_LEN - c->sent;
            if (n > cap - k)
                n = cap - k;
            memcpy(buf + k, c->prefix + c->sent, n);
        } else {
            n = total - c->sent;
            if (n > cap - k)
                n = cap - k;
            memcpy(buf + k, c->msg + (c->sent - GRPC_PREFIX_LEN), n);
        }
        k += n;
        c->sent += n;
    }
    return k;
}

/* The response message (ExportTraceServiceResponse): not needed. */
static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p, (void)arg;
    return size * nmemb;
}

/* Copy a header value (trimmed) into out. */
static void header_value(const char *v, size_t n, char *out, size_t cap)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

/* Headers and trailers alike. */
static size_t on_header(char *p, size_t size, size_t nitems, void *arg)
{
    struct forward_grpc *c = arg;
    size_t n = size * nitems;
    char num[16];

    if (n > 12 && strncasecmp(p, "grpc-status:", 12) == 0) {
        header_value(p + 12, n - 12, num, sizeof(num));
        c->status = atoi(num);
    } else if (n > 13 && strncasecmp(p, "grpc-message:", 13) == 0) {
        header_value(p + 13, n - 13, c->message, sizeof(c->message));
        grpc_message_decode(c->message);
    } else if (n > 24 && strncasecmp(p, "grpc-status-details-bin:", 24) == 0) {
        header_value(p + 24, n - 24, c->details, sizeof(c->details));
    }
    return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    struct forward_grpc *c = arg;

    (void)dt, (void)dn, (void)ut, (void)un;
    return c->abort_fn && c->abort_fn(c->abort_ctx) ? 1 : 0;
}

/* "grpc://HOST:PORT[/]" -> "http://HOST:PORT" + EXPORT_PATH. */
static char *export_url(const char *endpoint, char *err, size_t errlen)
{
    const char *hp = endpoint + 7;
    size_t n = strcspn(hp, "/?#");
    char *url;

    if (n == 0 || (hp[n] && strcmp(hp + n, "/") != 0) || !strchr(hp, ':')) {
        snprintf(err, errlen,
                 "forward: gRPC endpoint '%s': expected grpc://HOST:PORT (the "
                 "method is TraceService/Export; no path)",
                 endpoint);
        return NULL;
    }
    if (!(url = malloc(n + sizeof("http://") + sizeof(EXPORT_PATH)))) {
        snprintf(err, errlen, "forward: out of memory");
        return NULL;
    }
    sprintf(url, "http://%.*s%s", (int)n, hp, EXPORT_PATH);
    return url;
}

static struct curl_slist *make_headers(const char *token)
{
    static const char *const fixed[] = {
        "Content-Type: application/grpc",
        "TE: trailers",
        "grpc-accept-encoding: identity",
        "User-Agent: skewscope-forward grpc-c/0 (libcurl)",
        "Expect:",
    };
    struct curl_slist *l = NULL, *n;
    char auth[1200];

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (!(n = curl_slist_append(l, fixed[i])))
            goto fail;
        l = n;
    }
    if (token) {
        if (strlen(token) > sizeof(auth) - 32)
            goto fail;
        snprintf(auth, sizeof(auth), "authorization: Bearer %s", token);
        if (!(n = curl_slist_append(l, auth)))
            goto fail;
        l = n;
    }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static int setup(struct forward_grpc *c)
{
    CURL *h = c->curl;

    if (curl_easy_setopt(h, CURLOPT_URL, c->url) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                         (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) !=
            CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        /* libcurl 7.88 fails (CURLE_HTTP2) the second request on a reused
         * prior-knowledge h2c connection, whatever the server: one
         * connection per call */
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_READDATA, c) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_HEADERDATA, c) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) !=
            CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, c) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK)
        return -1;
    return 0;
}

struct forward_grpc *forward_grpc_create(const char *endpoint,
                                         const char *token, char *err,
                                         size_t errlen)
{
    struct forward_grpc *c = calloc(1, sizeof(*c));
    curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);

    if (!c) {
        snprintf(err, errlen, "forward: out of memory");
        return NULL;
    }
    if (!vi || !(vi->features & CURL_VERSION_HTTP2)) {
        snprintf(err, errlen,
                 "forward: this libcurl has no HTTP/2: cannot send to %s",
                 endpoint);
        goto fail;
    }
    if (!forward_grpc_is_url(endpoint) ||
        !(c->url = export_url(endpoint, err, errlen)))
        goto fail;
    if (!(c->display = strdup(endpoint)) ||
        !(c->headers = make_headers(token)) || !(c->curl = curl_easy_init()) ||
        setup(c) < 0) {
        snprintf(err, errlen, "forward: cannot set up the gRPC client for %s",
                 endpoint);
        goto fail;
    }
    return c;
fail:
    forward_grpc_destroy(c);
    return NULL;
}

/* The call's outcome from its status (and HTTP code when it had none). */
static enum forward_grpc_result outcome(struct forward_grpc *c, long http,
                                        unsigned *retry_after_ms, char *err,
                                        size_t errlen)
{
    int dcode = 0;
    unsigned delay = 0;
    bool retry_info = false;

    if (c->status < 0) {
        snprintf(err, errlen, "%s: HTTP %ld without grpc-status", c->display,
                 http);
        return http >= 400 && http < 500 && http != 408 && http != 429
                   ? FORWARD_GRPC_PERMANENT
                   : FORWARD_GRPC_RETRY;
    }
    if (c->status == GRPC_OK)
        return FORWARD_GRPC_OK;
    if (c->details[0] &&
        grpc_status_details_parse(c->details, strlen(c->details), &dcode,
                                  &delay) == 0 &&
        delay > 0) {
        retry_info = true;
        *retry_after_ms = delay;
    }
    snprintf(err, errlen, "%s: %s: %s", c->display, grpc_code_name(c->status),
             c->message);
    return forward_grpc_classify(c->status, retry_info);
}

enum forward_grpc_result
forward_grpc_send(struct forward_grpc *c, const uint8_t *msg, size_t len,
                  bool json, long timeout_ms, int (*abort_fn)(void *),
                  void *abort_ctx, unsigned *retry_after_ms, char *err,
                  size_t errlen)
{
    long http = 0;
    CURLcode rc;

    if (json) {
        snprintf(
            err, errlen,
            "%s: an OTLP/JSON batch cannot go over gRPC (protobuf only): "
            "send OTLP/HTTP protobuf or OTLP/gRPC to skewscope, or forward "
            "to an http:// endpoint",
            c->display);
        return FORWARD_GRPC_PERMANENT;
    }
    if (len > UINT32_MAX) {
        snprintf(err, errlen, "%s: a batch of %zu bytes exceeds gRPC's 4 GiB",
                 c->display, len);
        return FORWARD_GRPC_PERMANENT;
    }
    c->msg = msg;
    c->len = len;
    c->sent = 0;
    c->status = -1;
    c->message[0] = c->details[0] = c->errbuf[0] = '\0';
    c->abort_fn = abort_fn;
    c->abort_ctx = abort_ctx;
    grpc_frame_prefix(c->prefix, false, (uint32_t)len);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(len + GRPC_PREFIX_LEN));
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK && c->status < 0) {
        snprintf(err, errlen, "%s: %s", c->display,
                 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        return FORWARD_GRPC_RETRY;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
    return outcome(c, http, retry_after_ms, err, errlen);
}

void forward_grpc_destroy(struct forward_grpc *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->display);
    free(c);
}
