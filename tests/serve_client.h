/* serve_client: what the tests of `skewscope serve` share: a libcurl HTTP
 * client, JSON lookups in its replies, OTLP protobuf request bodies built
 * with the simulator's writer, clocks and ports. */
#ifndef SKEWSCOPE_TEST_SERVE_CLIENT_H
#define SKEWSCOPE_TEST_SERVE_CLIENT_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "output/trace_writer.h"
#include "util/clock.h"

static inline void sc_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct buf {
    char *data;
    size_t len;
};

static inline size_t sc_on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct buf *b = ud;
    char *q = realloc(b->data, b->len + sz * n + 1);

    assert_non_null(q);
    memcpy(q + b->len, p, sz * n);
    b->data = q;
    b->len += sz * n;
    b->data[b->len] = '\0';
    return sz * n;
}

/* GET (body NULL) or POST body as ctype, with "Authorization: Bearer
 * token" unless token is NULL. Returns the status (0: no answer); *out
 * gets the reply (malloc'd, NUL-terminated; free it). */
static inline long sc_http(int port, const char *path, const struct buf *body,
                           const char *ctype, const char *token,
                           struct buf *out)
{
    CURL *c = curl_easy_init();
    char url[128], hdr[128], auth[160];
    struct curl_slist *h = NULL;
    long code = 0;

    out->data = NULL;
    out->len = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sc_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body) {
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
        h = curl_slist_append(h, hdr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body->len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return code;
}

/* GET path, expect 200 and JSON; returns the document (json_decref it). */
static inline json_t *sc_get_json(int port, const char *path, const char *token)
{
    struct buf b;
    json_error_t je;
    json_t *j;

    assert_int_equal(sc_http(port, path, NULL, NULL, token, &b), 200);
    j = json_loads(b.data, 0, &je);
    if (!j)
        fail_msg("%s is not JSON: %s", path, je.text);
    free(b.data);
    return j;
}

/* The element of arr whose key is name (and key2 is name2, unless key2 is
 * NULL), or NULL. */
static inline json_t *sc_find_named(json_t *arr, const char *key,
                                    const char *name, const char *key2,
                                    const char *name2)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, key)), name) == 0 &&
            (!key2 ||
             strcmp(json_string_value(json_object_get(v, key2)), name2) == 0))
            return v;
    }
    return NULL;
}

/* The "nodes" element of a status document for clock domain `name`. */
static inline json_t *sc_node(json_t *doc, const char *name)
{
    json_t *n =
        sc_find_named(json_object_get(doc, "nodes"), "node", name, NULL, NULL);
    if (!n)
        fail_msg("no node %s", name);
    return n;
}

/* One ExportTraceServiceRequest of spans d[0..n) as an OTLP/HTTP body (the
 * writer's message without its length prefix). */
static inline struct buf sc_proto_body(const struct span_desc *d, size_t n)
{
    struct buf b = {NULL, 0};
    FILE *f = open_memstream(&b.data, &b.len);
    struct trace_writer *w = trace_writer_otlp_proto_ops.create(f, 0);
    size_t k = 0;

    assert_non_null(w);
    assert_int_equal(trace_writer_otlp_proto_ops.write_batch(w, d, n), 0);
    assert_int_equal(trace_writer_otlp_proto_ops.finish(w), 0);
    fclose(f);
    while (k < b.len && (b.data[k] & 0x80))
        k++;
    k++;
    memmove(b.data, b.data + k, b.len - k);
    b.len -= k;
    return b;
}

/* A loopback TCP port nothing listens on now (bound, then closed). */
static inline int sc_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

#endif
