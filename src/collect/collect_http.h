/* collect_http: `skewscope collect --listen`: GET /metrics (and HEAD) with
 * the collector's page (collect_render), on libmicrohttpd with one
 * internal polling thread. Other paths: 404; other methods: 405 with
 * Allow. Bounded: 64 connections in all, 16 per client address, 10 s idle
 * timeout, 32 KiB per connection; request bodies are not read.
 *
 * Threads: start/port/stop from one owner thread; requests are answered
 * on libmicrohttpd's thread, which only calls collect_render(). The
 * caller blocks the signals it wants on its own thread before
 * collect_http_start() (the thread inherits the mask). */
#ifndef SKEWSCOPE_COLLECT_HTTP_H
#define SKEWSCOPE_COLLECT_HTTP_H

#include <stddef.h>

struct collector;
struct collect_http;

/* Listen on "HOST:PORT" or "[V6]:PORT" (port 0: any free port). Returns
 * NULL with a message in err ("listen 127.0.0.1:9100: Address already in
 * use"). c must outlive the server. */
struct collect_http *collect_http_start(struct collector *c, const char *listen,
                                        char *err, size_t errlen);
/* The TCP port bound. */
int collect_http_port(const struct collect_http *h);
/* Stop answering, close every connection and free h; NULL is a no-op. */
void collect_http_stop(struct collect_http *h);

#endif
