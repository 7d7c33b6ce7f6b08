/* transport: the registry of message-transport backends and the dispatch
 * from the public API to the chosen backend's ops. Checks that are the same
 * for every backend (channel names, header limits) live here, so a backend
 * sees only valid input. */
#include "testbed/transport.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adding a backend: one file and one line here. */
static const struct transport_ops *const registry[] = {
    &transport_zmq_ops,
    &transport_kafka_ops,
};

struct transport {
    const struct transport_ops *ops;
    struct transport_impl *impl;
    char err[256];
};

static const struct transport_ops *find_ops(const char *kind)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (kind && strcmp(registry[i]->name, kind) == 0)
            return registry[i];
    return NULL;
}

bool transport_channel_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > TRANSPORT_CHANNEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    /* "." and ".." are not valid Kafka topic names. */
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int set_err(struct transport *t, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_err(struct transport *t, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    return rc;
}

struct transport *transport_open(const struct transport_config *cfg, char *err,
                                 size_t errlen)
{
    const struct transport_ops *ops = find_ops(cfg ? cfg->kind : NULL);
    struct transport *t;

    if (!ops) {
        snprintf(err, errlen, "transport: unknown kind \"%s\" (zmq, kafka)",
                 cfg && cfg->kind ? cfg->kind : "(null)");
        return NULL;
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "transport: out of memory");
        return NULL;
    }
    t->ops = ops;
    t->impl = ops->open(cfg, err, errlen);
    if (!t->impl) {
        free(t);
        return NULL;
    }
    return t;
}

int transport_subscribe(struct transport *t, const char *channel)
{
    t->err[0] = '\0';
    if (!transport_channel_valid(channel))
        return set_err(t, -EINVAL,
                       "transport: bad channel name \"%s\" "
                       "(1-%d of [A-Za-z0-9._-])",
                       channel ? channel : "(null)", TRANSPORT_CHANNEL_MAX);
    return t->ops->subscribe(t->impl, channel, t->err, sizeof t->err);
}

static int check_msg(struct transport *t, const struct transport_msg *msg)
{
    if (msg->nheaders > TRANSPORT_MAX_HEADERS)
        return set_err(t, -EINVAL, "transport: %zu headers (at most %d)",
                       msg->nheaders, TRANSPORT_MAX_HEADERS);
    if (msg->payload_len && !msg->payload)
        return set_err(t, -EINVAL, "transport: payload is NULL");
    for (size_t i = 0; i < msg->nheaders; i++) {
        const struct transport_header *h = &msg->headers[i];
        if (!h->key || !h->value || !h->key[0] ||
            strlen(h->key) > TRANSPORT_HEADER_KEY_MAX ||
            strlen(h->value) > TRANSPORT_HEADER_VALUE_MAX)
            return set_err(t, -EINVAL,
                           "transport: header %zu: key must be 1-%d bytes, "
                           "value at most %d",
                           i, TRANSPORT_HEADER_KEY_MAX,
                           TRANSPORT_HEADER_VALUE_MAX);
    }
    return 0;
}

int transport_send(struct transport *t, const char *channel,
                   const struct transport_msg *msg)
{
    int rc;

    t->err[0] = '\0';
    if (!transport_channel_valid(channel))
        return set_err(t, -EINVAL, "transport: bad channel name \"%s\"",
                       channel ? channel : "(null)");
    rc = check_msg(t, msg);
    if (rc < 0)
        return rc;
    return t->ops->send(t->impl, channel, msg, t->err, sizeof t->err);
}

int transport_recv(struct transport *t, struct transport_msg *out,
                   int timeout_ms)
{
    t->err[0] = '\0';
    memset(out, 0, sizeof *out);
    return t->ops->recv(t->impl, out, timeout_ms, t->err, sizeof t->err);
}

const char *transport_endpoint(const struct transport *t, const char *channel)
{
    return channel ? t->ops->endpoint(t->impl, channel) : NULL;
}

const char *transport_errstr(const struct transport *t)
{
    return t->err;
}

const char *transport_msg_header(const struct transport_msg *msg,
                                 const char *key)
{
    for (size_t i = msg->nheaders; i-- > 0;)
        if (strcmp(msg->headers[i].key, key) == 0)
            return msg->headers[i].value;
    return NULL;
}

void transport_close(struct transport *t)
{
    if (!t)
        return;
    t->ops->close(t->impl);
    free(t);
}
