/* transport: how the testbed's pipeline stages pass messages to each other.
 * A message is payload bytes plus a few string headers (at least
 * "traceparent", see testbed/traceparent.h) sent on a named channel
 * ("tokenize", "prefill", "decode.0", "detokenize", "response"). A stage
 * opens one transport, subscribes to the channel(s) it receives on, and
 * sends to any channel. Messages from one sender on one channel arrive in
 * the order they were sent; several senders may feed one channel.
 *
 * Backends sit behind struct transport_ops, one file each, listed in the
 * registry in transport.c:
 *   "zmq"   transport_zmq.c: a PULL socket bound per subscribed channel, a
 *           PUSH socket connected per channel sent to; the headers travel
 *           as the first frame of a two-frame message, the payload second.
 *   "kafka" transport_kafka.c: one topic per channel (prefix + channel), a
 *           producer that puts the headers in Kafka record headers, and a
 *           consumer in a group subscribed to the receive channels.
 *
 * Threads: a transport is used by one thread at a time (ZeroMQ sockets are
 * not thread-safe); open several for several threads. Processes: open the
 * transport after fork(), never share one across fork(). */
#ifndef SKEWSCOPE_TRANSPORT_H
#define SKEWSCOPE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

/* Limits. Channel names are [A-Za-z0-9._-], 1..TRANSPORT_CHANNEL_MAX bytes
 * (they become file names and Kafka topic names). */
#define TRANSPORT_CHANNEL_MAX 64
#define TRANSPORT_MAX_HEADERS 8
#define TRANSPORT_HEADER_KEY_MAX 255
#define TRANSPORT_HEADER_VALUE_MAX 4096

struct transport_header {
    const char *key;   /* NUL-terminated */
    const char *value; /* NUL-terminated (headers are strings) */
};

/* One message. On send the caller owns everything and the transport copies
 * what it needs before transport_send() returns. On receive every pointer
 * points into memory owned by the transport, valid until the next
 * transport_recv() or transport_close() on that transport. */
struct transport_msg {
    const char *channel; /* recv: where it arrived; ignored on send */
    const void *payload;
    size_t payload_len; /* bytes */
    size_t nheaders;    /* <= TRANSPORT_MAX_HEADERS */
    struct transport_header headers[TRANSPORT_MAX_HEADERS];
};

/* An explicit ZeroMQ endpoint for a channel, e.g. {"prefill",
 * "tcp://127.0.0.1:5557"}: the receiver binds it, senders connect to it. */
struct transport_route {
    const char *channel;
    const char *endpoint;
};

struct transport_config {
    const char *kind; /* a backend name: "zmq" or "kafka" */
    /* This stage's name: Kafka client.id and message key (so one sender's
     * messages share a partition and stay in order). NULL: "skewscope". */
    const char *name;

    /* zmq: endpoints for channels not in routes[] come from base:
     *   "ipc:///DIR" or "/DIR"  -> ipc:///DIR/<channel>.sock (DIR must
     *                              exist; the socket file is removed again
     *                              when the receiver closes),
     *   "tcp://127.0.0.1"       -> a receiver binds an ephemeral port, which
     *                              transport_endpoint() reports; senders
     *                              then need that endpoint in routes[]. */
    const char *zmq_base;
    const struct transport_route *zmq_routes;
    size_t zmq_nroutes;

    /* kafka */
    const char *kafka_brokers;      /* bootstrap servers "host:port,..." */
    const char *kafka_topic_prefix; /* topic = prefix + channel; NULL: "" */
    const char *kafka_group_id;     /* consumer group; NULL: name */
    int kafka_fetch_wait_ms;        /* broker long-poll; 0: 1 ms */

    /* common */
    int send_timeout_ms; /* how long send may block on a full queue; 0: 5000 */
    int linger_ms;       /* at close, time to deliver what is still queued;
                            0: drop it at once (nothing hangs on close) */
};

struct transport;

/* Open a transport of cfg->kind. cfg and its strings are copied. Returns
 * NULL and a message in err (errlen bytes; err may be NULL when errlen is 0)
 * when the kind is unknown, the configuration is incomplete or the backend
 * cannot start (no partial handle to clean up). */
struct transport *transport_open(const struct transport_config *cfg, char *err,
                                 size_t errlen);

/* Receive on channel from now on (zmq: bind its endpoint; kafka: add its
 * topic to the subscription). Call before the senders start sending where
 * the backend drops early messages (zmq over tcp with ephemeral ports; kafka
 * starts from the earliest offset for a new group, so nothing is lost).
 * Kafka: the consumer joins its group in the background; librdkafka's mock
 * cluster holds the first join of a group for about 3 s, and a group id
 * reused after a restart waits up to session.timeout.ms (6 s) for the old
 * member to expire.
 * Returns 0, or a negative errno code (-EINVAL bad channel name, -EADDRINUSE,
 * -EIO backend failure) with transport_errstr() saying why. */
int transport_subscribe(struct transport *t, const char *channel);

/* Send msg on channel. Copies payload and headers. Blocks at most
 * send_timeout_ms when queues are full. Returns 0, -EINVAL (bad channel or
 * header over the limits), -EAGAIN (timed out, message not sent), or -EIO;
 * transport_errstr() says why. Delivery is asynchronous: 0 means queued. */
int transport_send(struct transport *t, const char *channel,
                   const struct transport_msg *msg);

/* Wait up to timeout_ms (-1: forever, 0: poll) for a message on any
 * subscribed channel. Returns 1 and fills *out (see struct transport_msg for
 * ownership), 0 on timeout, or a negative errno code (-EINVAL nothing
 * subscribed, -EPROTO malformed message, dropped; -EIO). */
int transport_recv(struct transport *t, struct transport_msg *out,
                   int timeout_ms);

/* The address a subscribed channel is reachable at (zmq: the bound endpoint,
 * with the real port for ephemeral tcp ports; kafka: the topic name), owned
 * by t; NULL when channel is not subscribed. */
const char *transport_endpoint(const struct transport *t, const char *channel);

/* The last error message of t ("" when none); owned by t. */
const char *transport_errstr(const struct transport *t);

/* The value of the last header named key in msg, or NULL. */
const char *transport_msg_header(const struct transport_msg *msg,
                                 const char *key);

/* Close t, waiting at most linger_ms for queued messages. NULL is a no-op. */
void transport_close(struct transport *t);

/* ---- backend interface (only transport.c and transport_<impl>.c) ---- */

/* A backend's own state; each transport_<impl>.c completes this type. */
struct transport_impl;

/* Every function fills err (errlen bytes) when it fails; return values as
 * for the public functions above. */
struct transport_ops {
    const char *name;
    struct transport_impl *(*open)(const struct transport_config *cfg,
                                   char *err, size_t errlen);
    int (*subscribe)(struct transport_impl *t, const char *channel, char *err,
                     size_t errlen);
    int (*send)(struct transport_impl *t, const char *channel,
                const struct transport_msg *msg, char *err, size_t errlen);
    int (*recv)(struct transport_impl *t, struct transport_msg *out,
                int timeout_ms, char *err, size_t errlen);
    const char *(*endpoint)(const struct transport_impl *t,
                            const char *channel);
    void (*close)(struct transport_impl *t);
};

extern const struct transport_ops transport_zmq_ops;
extern const struct transport_ops transport_kafka_ops;

/* True when name is a valid channel name (see the limits above). */
bool transport_channel_valid(const char *name);

#endif
