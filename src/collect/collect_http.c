/* collect_http: the collector's /metrics server. See collect_http.h. */
#include "collect/collect_http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "collect/collect.h"
#include "util/net_listen.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct collect_http {
    struct collector *c;
    struct MHD_Daemon *d;
    int fd; /* listening socket (libmicrohttpd owns it until stop) */
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body, size_t len, bool take,
                             const char *ctype, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)body,
        take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok;

    if (!r) {
        if (take)
            free((void *)(uintptr_t)body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_len, void **state)
{
    static const char not_found[] = "not found: GET /metrics\n";
    static const char not_allowed[] = "method not allowed: GET /metrics\n";
    struct collect_http *h = cls;
    bool get = !strcmp(method, MHD_HTTP_METHOD_GET),
         head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
    char *page;
    size_t len;

    (void)version;
    (void)upload;
    (void)upload_len;
    (void)state;
    if (strcmp(url, "/metrics") != 0)
        return reply(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1,
                     false, "text/plain", NULL);
    if (!get && !head)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
                     sizeof not_allowed - 1, false, "text/plain", "GET, HEAD");
    if (!(page = collect_render(h->c, &len)))
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n",
                     14, false, "text/plain", NULL);
    return reply(conn, MHD_HTTP_OK, page, len, true, CONTENT_TYPE, NULL);
}

struct collect_http *collect_http_start(struct collector *c, const char *listen,
                                        char *err, size_t errlen)
{
    struct collect_http *h = calloc(1, sizeof(*h));

    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->c = c;
    if ((h->fd = net_listen_tcp("listen", listen, 64, false, err, errlen)) <
        0) {
        free(h);
        return NULL;
    }
    h->port = net_listen_port(h->fd);
    h->d = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL,
        NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, h->fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)16,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "listen %s: cannot start the HTTP server",
                 listen);
        close(h->fd);
        free(h);
        return NULL;
    }
    return h;
}

int collect_http_port(const struct collect_http *h)
{
    return h->port;
}

void collect_http_stop(struct collect_http *h)
{
    if (!h)
        return;
    /* Quiesced, libmicrohttpd hands the listening socket back to us. */
    int fd = MHD_quiesce_daemon(h->d);

    MHD_stop_daemon(h->d);
    if (fd >= 0)
        close(fd);
    free(h);
}
