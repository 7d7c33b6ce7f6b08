/* net_listen: listening sockets from HOST:PORT (net_listen.h). */
#include "util/net_listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Split "HOST:PORT" / "[V6]:PORT" into host (brackets removed) and the
 * port text. Returns the port, or NULL with err filled. */
static const char *split(const char *what, const char *at, char *host,
                         size_t hostlen, char *err, size_t errlen)
{
    const char *colon = strrchr(at, ':');
    size_t hl;

    if (!colon || colon == at || !colon[1] || (size_t)(colon - at) >= hostlen) {
        snprintf(err, errlen, "%s %s: expected HOST:PORT", what, at);
        return NULL;
    }
    if (strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        strlen(colon + 1) > 5 || atoi(colon + 1) > 65535) {
        snprintf(err, errlen, "%s %s: port must be 0-65535", what, at);
        return NULL;
    }
    hl = (size_t)(colon - at);
    memcpy(host, at, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    return colon + 1;
}

int net_listen_tcp(const char *what, const char *at, int backlog, bool nonblock,
                   char *err, size_t errlen)
{
    char host[256];
    const char *port = split(what, at, host, sizeof host, err, errlen);
    struct addrinfo hints, *ai = NULL;
    int fd, one = 1, rc;

    if (!port)
        return -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
        snprintf(err, errlen, "%s %s: %s", what, at, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family,
                SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "%s %s: %s", what, at, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int net_listen_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
