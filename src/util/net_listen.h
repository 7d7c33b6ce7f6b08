/* net_listen: the one way skewscope's servers open a listening TCP socket
 * from a "HOST:PORT" / "[V6]:PORT" option (serve's OTLP/HTTP receiver and
 * OTLP/gRPC input, collect's /metrics), and learn the port it got (PORT 0:
 * any free one). Thread-safe (no state). */
#ifndef SKEWSCOPE_NET_LISTEN_H
#define SKEWSCOPE_NET_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

/* Bind and listen (SO_REUSEADDR, close-on-exec, non-blocking when asked)
 * with the given backlog. Returns the socket, or -1 with err filled:
 * "<what> <at>: expected HOST:PORT", "<what> <at>: port must be 0-65535",
 * or the resolver's or the system's reason. `what` names the option in
 * messages ("listen", "listen-grpc"). */
int net_listen_tcp(const char *what, const char *at, int backlog, bool nonblock,
                   char *err, size_t errlen);

/* The local port of socket fd, or -1. */
int net_listen_port(int fd);

#endif
