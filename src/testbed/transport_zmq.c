/* transport_zmq: the ZeroMQ backend of transport.h. The receiver of a
 * channel binds a PULL socket at the channel's endpoint; every sender
 * connects a PUSH socket to it (connect before bind is fine: messages wait
 * in the sender's pipe until the receiver appears). A message is two
 * frames: the headers, then the payload. The header frame is a sequence of
 * [u8 key length][key][u16 big-endian value length][value].
 *
 * Each transport has its own ZeroMQ context, so that a transport opened
 * after fork() shares nothing with the parent's. */
#include "testbed/transport.h"
#include "util/clock.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#define ZT_MAX_RX 32
#define ZT_MAX_TX 64
#define ZT_ENDPOINT_MAX 256

enum zt_base { ZT_BASE_NONE, ZT_BASE_IPC, ZT_BASE_TCP };

struct zt_sock {
    char channel[TRANSPORT_CHANNEL_MAX + 1];
    char endpoint[ZT_ENDPOINT_MAX];
    void *sock;
};

struct transport_impl {
    void *ctx;
    enum zt_base base_kind;
    char base[128]; /* ipc directory, or "tcp://host" */
    struct transport_route *routes;
    size_t nroutes;
    struct zt_sock rx[ZT_MAX_RX], tx[ZT_MAX_TX];
    size_t nrx, ntx, next_rx; /* next_rx: where the fair scan starts */
    zmq_pollitem_t items[ZT_MAX_RX];
    int send_timeout_ms, linger_ms;
    unsigned char *buf; /* the last received message, decoded */
    size_t cap;
    unsigned char *hbuf; /* the header frame being sent */
    size_t hcap;
};

static int zerr(char *err, size_t errlen, int rc, const char *what)
{
    snprintf(err, errlen, "zmq: %s: %s", what, zmq_strerror(zmq_errno()));
    return rc;
}

/* ---- configuration ---- */

static int set_base(struct transport_impl *z, const char *base, char *err,
                    size_t errlen)
{
    const char *dir = NULL;

    if (!base)
        return 0;
    if (strncmp(base, "ipc://", 6) == 0)
        dir = base + 6;
    else if (base[0] == '/')
        dir = base;
    else if (strncmp(base, "tcp://", 6) == 0)
        z->base_kind = ZT_BASE_TCP;
    else
        goto bad;
    if (dir)
        z->base_kind = ZT_BASE_IPC;
    /* "/DIR/" + channel + ".sock" must fit a sun_path of 108 bytes. */
    if (dir && strlen(dir) + TRANSPORT_CHANNEL_MAX + 7 > 107)
        goto bad;
    snprintf(z->base, sizeof z->base, "%s", dir ? dir : base);
    return 0;
bad:
    snprintf(err, errlen,
             "zmq: base \"%s\": expected ipc:///DIR (DIR under %d bytes) "
             "or tcp://HOST",
             base, 107 - TRANSPORT_CHANNEL_MAX - 7);
    return -EINVAL;
}

static int copy_routes(struct transport_impl *z,
                       const struct transport_config *cfg, char *err,
                       size_t errlen)
{
    if (cfg->zmq_nroutes == 0)
        return 0;
    z->routes = calloc(cfg->zmq_nroutes, sizeof *z->routes);
    if (!z->routes)
        return snprintf(err, errlen, "zmq: out of memory"), -ENOMEM;
    for (size_t i = 0; i < cfg->zmq_nroutes; i++) {
        const struct transport_route *r = &cfg->zmq_routes[i];
        z->routes[i].channel = r->channel ? strdup(r->channel) : NULL;
        z->routes[i].endpoint = r->endpoint ? strdup(r->endpoint) : NULL;
        z->nroutes = i + 1;
        if (!z->routes[i].channel || !z->routes[i].endpoint) {
            snprintf(err, errlen, "zmq: route %zu incomplete", i);
            return -EINVAL;
        }
    }
    return 0;
}

/* The endpoint of channel; bind selects ":*" for a tcp base. */
static int resolve(const struct transport_impl *z, const char *channel,
                   bool bind, char out[ZT_ENDPOINT_MAX], char *err,
                   size_t errlen)
{
    for (size_t i = 0; i < z->nroutes; i++)
        if (strcmp(z->routes[i].channel, channel) == 0) {
            snprintf(out, ZT_ENDPOINT_MAX, "%s", z->routes[i].endpoint);
            return 0;
        }
    if (z->base_kind == ZT_BASE_IPC) {
        snprintf(out, ZT_ENDPOINT_MAX, "ipc://%s/%s.sock", z->base, channel);
        return 0;
    }
    if (z->base_kind == ZT_BASE_TCP && bind) {
        snprintf(out, ZT_ENDPOINT_MAX, "%s:*", z->base);
        return 0;
    }
    snprintf(err, errlen,
             "zmq: no endpoint for channel \"%s\" (give a route, or an ipc "
             "base)",
             channel);
    return -EINVAL;
}

/* ---- open / close ---- */

static void zt_close(struct transport_impl *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->nrx; i++) {
        zmq_close(z->rx[i].sock);
        /* libzmq 4.3 leaves the socket file of a bound ipc endpoint. */
        if (strncmp(z->rx[i].endpoint, "ipc://", 6) == 0)
            unlink(z->rx[i].endpoint + 6);
    }
    for (size_t i = 0; i < z->ntx; i++)
        zmq_close(z->tx[i].sock);
    /* Returns once the tx sockets have delivered or lingered linger_ms. */
    if (z->ctx)
        zmq_ctx_term(z->ctx);
    for (size_t i = 0; i < z->nroutes; i++) {
        free((char *)z->routes[i].channel);
        free((char *)z->routes[i].endpoint);
    }
    free(z->routes);
    free(z->buf);
    free(z->hbuf);
    free(z);
}

static struct transport_impl *zt_open(const struct transport_config *cfg,
                                      char *err, size_t errlen)
{
    struct transport_impl *z = calloc(1, sizeof *z);

    if (!z) {
        snprintf(err, errlen, "zmq: out of memory");
        return NULL;
    }
    z->send_timeout_ms = cfg->send_timeout_ms > 0 ? cfg->send_timeout_ms : 5000;
    z->linger_ms = cfg->linger_ms > 0 ? cfg->linger_ms : 0;
    if (set_base(z, cfg->zmq_base, err, errlen) < 0 ||
        copy_routes(z, cfg, err, errlen) < 0)
        goto fail;
    z->ctx = zmq_ctx_new();
    if (!z->ctx) {
        zerr(err, errlen, -EIO, "zmq_ctx_new");
        goto fail;
    }
    return z;
fail:
    zt_close(z);
    return NULL;
}

/* ---- sockets ---- */

static void *new_socket(struct transport_impl *z, int type, int linger_ms)
{
    void *s = zmq_socket(z->ctx, type);

    if (!s)
        return NULL;
    zmq_setsockopt(s, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
    if (type == ZMQ_PUSH)
        zmq_setsockopt(s, ZMQ_SNDTIMEO, &z->send_timeout_ms,
                       sizeof z->send_timeout_ms);
    return s;
}

static int zt_subscribe(struct transport_impl *z, const char *channel,
                        char *err, size_t errlen)
{
    struct zt_sock *r = &z->rx[z->nrx];
    size_t len = sizeof r->endpoint;
    int rc;

    for (size_t i = 0; i < z->nrx; i++)
        if (strcmp(z->rx[i].channel, channel) == 0)
            return 0;
    if (z->nrx == ZT_MAX_RX)
        return snprintf(err, errlen, "zmq: more than %d receive channels",
                        ZT_MAX_RX),
               -EINVAL;
    rc = resolve(z, channel, true, r->endpoint, err, errlen);
    if (rc < 0)
        return rc;
    r->sock = new_socket(z, ZMQ_PULL, 0);
    if (!r->sock)
        return zerr(err, errlen, -EIO, "zmq_socket");
    if (zmq_bind(r->sock, r->endpoint) != 0) {
        rc = zmq_errno() == EADDRINUSE ? -EADDRINUSE : -EIO;
        zerr(err, errlen, rc, r->endpoint);
        zmq_close(r->sock);
        return rc;
    }
    /* The real address (an ephemeral tcp port becomes a number). */
    zmq_getsockopt(r->sock, ZMQ_LAST_ENDPOINT, r->endpoint, &len);
    snprintf(r->channel, sizeof r->channel, "%s", channel);
    z->items[z->nrx] =
        (zmq_pollitem_t){.socket = r->sock, .events = ZMQ_POLLIN};
    z->nrx++;
    return 0;
}

/* The PUSH socket for channel, connected on first use. */
static int tx_socket(struct transport_impl *z, const char *channel,
                     struct zt_sock **out, char *err, size_t errlen)
{
    struct zt_sock *s = &z->tx[z->ntx];
    int rc;

    for (size_t i = 0; i < z->ntx; i++)
        if (strcmp(z->tx[i].channel, channel) == 0)
            return *out = &z->tx[i], 0;
    if (z->ntx == ZT_MAX_TX)
        return snprintf(err, errlen, "zmq: more than %d send channels",
                        ZT_MAX_TX),
               -EINVAL;
    rc = resolve(z, channel, false, s->endpoint, err, errlen);
    if (rc < 0)
        return rc;
    s->sock = new_socket(z, ZMQ_PUSH, z->linger_ms);
    if (!s->sock)
        return zerr(err, errlen, -EIO, "zmq_socket");
    if (zmq_connect(s->sock, s->endpoint) != 0) {
        rc = zerr(err, errlen, -EINVAL, s->endpoint);
        zmq_close(s->sock);
        return rc;
    }
    snprintf(s->channel, sizeof s->channel, "%s", channel);
    z->ntx++;
    *out = s;
    return 0;
}

/* ---- send ---- */

/* Make *buf hold at least need bytes. Returns 0 or -ENOMEM. */
static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    unsigned char *p;

    if (need <= *cap)
        return 0;
    p = realloc(*buf, need);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = need;
    return 0;
}

static size_t encode_headers(const struct transport_msg *msg,
                             unsigned char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < msg->nheaders; i++) {
        size_t kl = strlen(msg->headers[i].key);
        size_t vl = strlen(msg->headers[i].value);
        if (out) {
            out[o] = (unsigned char)kl;
            memcpy(out + o + 1, msg->headers[i].key, kl);
            out[o + 1 + kl] = (unsigned char)(vl >> 8);
            out[o + 2 + kl] = (unsigned char)vl;
            memcpy(out + o + 3 + kl, msg->headers[i].value, vl);
        }
        o += 3 + kl + vl;
    }
    return o;
}

static int zt_send(struct transport_impl *z, const char *channel,
                   const struct transport_msg *msg, char *err, size_t errlen)
{
    struct zt_sock *s;
    size_t hlen = encode_headers(msg, NULL);
    int rc = tx_socket(z, channel, &s, err, errlen);

    if (rc < 0)
        return rc;
    if (grow(&z->hbuf, &z->hcap, hlen + 1) < 0)
        return snprintf(err, errlen, "zmq: out of memory"), -ENOMEM;
    encode_headers(msg, z->hbuf);
    if (zmq_send(s->sock, z->hbuf, hlen, ZMQ_SNDMORE) < 0)
        return zerr(err, errlen, zmq_errno() == EAGAIN ? -EAGAIN : -EIO,
                    channel);
    /* Later frames of a message are never refused once the first is in. */
    if (zmq_send(s->sock, msg->payload, msg->payload_len, 0) < 0)
        return zerr(err, errlen, -EIO, channel);
    return 0;
}

/* ---- recv ---- */

/* Decode the header frame h (hlen bytes) into z->buf as NUL-terminated
 * strings, then the payload after them; fill out. */
static int decode(struct transport_impl *z, const unsigned char *h, size_t hlen,
                  const void *payload, size_t plen, struct transport_msg *out)
{
    size_t i = 0, o = 0;

    if (grow(&z->buf, &z->cap, hlen + 2 * TRANSPORT_MAX_HEADERS + plen + 1) < 0)
        return -ENOMEM;
    while (i < hlen) {
        size_t kl = h[i], vl;
        if (out->nheaders == TRANSPORT_MAX_HEADERS || kl == 0 ||
            i + 3 + kl > hlen)
            return -EPROTO;
        vl = (size_t)h[i + 1 + kl] << 8 | h[i + 2 + kl];
        if (i + 3 + kl + vl > hlen)
            return -EPROTO;
        out->headers[out->nheaders].key = (char *)z->buf + o;
        memcpy(z->buf + o, h + i + 1, kl);
        z->buf[o + kl] = '\0';
        o += kl + 1;
        out->headers[out->nheaders++].value = (char *)z->buf + o;
        memcpy(z->buf + o, h + i + 3 + kl, vl);
        z->buf[o + vl] = '\0';
        o += vl + 1;
        i += 3 + kl + vl;
    }
    if (plen)
        memcpy(z->buf + o, payload, plen);
    out->payload = z->buf + o;
    out->payload_len = plen;
    return 0;
}

/* Read one whole message from a socket that has input. */
static int read_one(struct transport_impl *z, struct zt_sock *r,
                    struct transport_msg *out, char *err, size_t errlen)
{
    zmq_msg_t f[2];
    int nf = 0, more = 1, rc = -EPROTO;

    while (more) {
        zmq_msg_t tmp, *m = nf < 2 ? &f[nf] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, r->sock, 0) < 0) {
            zmq_msg_close(m);
            rc = zerr(err, errlen, -EIO, r->channel);
            goto cleanup;
        }
        more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(m);
        nf++;
    }
    if (nf == 2)
        rc = decode(z, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]),
                    zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), out);
    if (rc == -EPROTO)
        snprintf(err, errlen, "zmq: channel %s: malformed message dropped",
                 r->channel);
    out->channel = r->channel;
cleanup:
    for (int i = 0; i < nf && i < 2; i++)
        zmq_msg_close(&f[i]);
    return rc < 0 ? rc : 1;
}

static int64_t now_ms(void)
{
    return clock_now_ns(CLOCK_MONOTONIC) / 1000000;
}

static int zt_recv(struct transport_impl *z, struct transport_msg *out,
                   int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    long left = timeout_ms;

    if (z->nrx == 0)
        return snprintf(err, errlen, "zmq: recv with no channel subscribed"),
               -EINVAL;
    for (;;) {
        int n = zmq_poll(z->items, (int)z->nrx, left);
        if (n < 0 && zmq_errno() != EINTR)
            return zerr(err, errlen, -EIO, "zmq_poll");
        for (size_t k = 0; n > 0 && k < z->nrx; k++) {
            size_t i = (z->next_rx + k) % z->nrx;
            if (z->items[i].revents & ZMQ_POLLIN) {
                z->next_rx = (i + 1) % z->nrx;
                return read_one(z, &z->rx[i], out, err, errlen);
            }
        }
        if (timeout_ms >= 0) {
            left = (long)(deadline - now_ms());
            if (left <= 0)
                return 0;
        }
    }
}

static const char *zt_endpoint(const struct transport_impl *z,
                               const char *channel)
{
    for (size_t i = 0; i < z->nrx; i++)
        if (strcmp(z->rx[i].channel, channel) == 0)
            return z->rx[i].endpoint;
    return NULL;
}

const struct transport_ops transport_zmq_ops = {
    .name = "zmq",
    .open = zt_open,
    .subscribe = zt_subscribe,
    .send = zt_send,
    .recv = zt_recv,
    .endpoint = zt_endpoint,
    .close = zt_close,
};
