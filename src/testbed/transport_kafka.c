/* transport_kafka: the Kafka backend of transport.h (librdkafka). Channel c
 * is topic prefix + c. Sending produces a record keyed by the stage's name
 * (so one sender's records share a partition and stay in order) with the
 * message headers as Kafka record headers. Receiving is a consumer in a
 * group subscribed to the receive topics, starting at the earliest offset.
 *
 * Settings favour latency over throughput, since the testbed measures
 * per-hop times: no producer batching delay (linger.ms=0), Nagle off, a
 * short broker long-poll (fetch.wait.max.ms). The producer is idempotent so
 * that retries cannot reorder one sender's records. */
#include "testbed/transport.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "util/log.h"
#include "util/clock.h"

#define KT_MAX_RX 32
#define KT_TOPIC_MAX 256

struct transport_impl {
    rd_kafka_t *producer;
    rd_kafka_t *consumer; /* created by the first subscribe */
    char *brokers, *prefix, *group, *name;
    int fetch_wait_ms, send_timeout_ms, linger_ms;
    char rx[KT_MAX_RX][TRANSPORT_CHANNEL_MAX + 1];
    char rx_topic[KT_MAX_RX][KT_TOPIC_MAX];
    size_t nrx;
    char delivery_err[200]; /* first delivery failure not yet reported */
    unsigned char *buf;     /* the last received message, decoded */
    size_t cap;
    char channel[TRANSPORT_CHANNEL_MAX + 1];
};

static int64_t now_ms(void)
{
    return clock_now_ns(CLOCK_MONOTONIC) / 1000000;
}

/* librdkafka logs from its own threads; route them to the log module. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    if (level <= 3)
        log_warn("kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
    else
        log_debug("kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Called from rd_kafka_poll() in the sending thread. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct transport_impl *k = opaque;

    (void)rk;
    if (m->err && !k->delivery_err[0])
        snprintf(k->delivery_err, sizeof k->delivery_err,
                 "kafka: delivery to %s failed: %s",
                 rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
}

/* ---- configuration ---- */

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val,
                    char *err, size_t errlen)
{
    if (rd_kafka_conf_set(conf, key, val, err, errlen) != RD_KAFKA_CONF_OK)
        return -EINVAL;
    return 0;
}

/* Settings both clients share. */
static rd_kafka_conf_t *base_conf(struct transport_impl *k, char *err,
                                  size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (!conf)
        return NULL;
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (conf_set(conf, "bootstrap.servers", k->brokers, err, errlen) < 0 ||
        conf_set(conf, "client.id", k->name, err, errlen) < 0 ||
        conf_set(conf, "socket.nagle.disable", "true", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static rd_kafka_t *new_producer(struct transport_impl *k, char *err,
                                size_t errlen)
{
    rd_kafka_conf_t *conf = base_conf(k, err, errlen);

    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    if (conf_set(conf, "linger.ms", "0", err, errlen) < 0 ||
        conf_set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        conf_set(conf, "message.timeout.ms", "30000", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk) /* conf is only taken on success */
        rd_kafka_conf_destroy(conf);
    return rk;
}

static rd_kafka_t *new_consumer(struct transport_impl *k, char *err,
                                size_t errlen)
{
    rd_kafka_conf_t *conf = base_conf(k, err, errlen);
    char wait[16];
    rd_kafka_t *rk;

    if (!conf)
        return NULL;
    snprintf(wait, sizeof wait, "%d", k->fetch_wait_ms);
    /* allow.auto.create.topics: a receiver may start before any sender
     * has created its topic; the metadata refresh keeps a late topic from
     * waiting minutes for the next periodic refresh. session.timeout.ms at
     * the brokers' minimum: a stage restarted under the same group id waits
     * for its dead predecessor to expire (the mock ignores LeaveGroup). */
    if (conf_set(conf, "group.id", k->group, err, errlen) < 0 ||
        conf_set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        conf_set(conf, "fetch.wait.max.ms", wait, err, errlen) < 0 ||
        conf_set(conf, "fetch.error.backoff.ms", "10", err, errlen) < 0 ||
        conf_set(conf, "allow.auto.create.topics", "true", err, errlen) < 0 ||
        conf_set(conf, "topic.metadata.refresh.interval.ms", "1000", err,
                 errlen) < 0 ||
        conf_set(conf, "session.timeout.ms", "6000", err, errlen) < 0 ||
        conf_set(conf, "heartbeat.interval.ms", "1000", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    else /* conf is only taken on success */
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* ---- open / close ---- */

static void kt_close(struct transport_impl *k)
{
    if (!k)
        return;
    if (k->consumer) {
        rd_kafka_consumer_close(k->consumer);
        rd_kafka_destroy(k->consumer);
    }
    if (k->producer) {
        if (rd_kafka_flush(k->producer, k->linger_ms) != 0)
            rd_kafka_purge(k->producer,
                           RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(k->producer);
    }
    free(k->brokers);
    free(k->prefix);
    free(k->group);
    free(k->name);
    free(k->buf);
    free(k);
}

static struct transport_impl *kt_open(const struct transport_config *cfg,
                                      char *err, size_t errlen)
{
    struct transport_impl *k = calloc(1, sizeof *k);
    const char *name = cfg->name ? cfg->name : "skewscope";

    if (!k)
        goto nomem;
    if (!cfg->kafka_brokers || !cfg->kafka_brokers[0]) {
        snprintf(err, errlen, "kafka: no bootstrap servers given");
        goto fail;
    }
    k->brokers = strdup(cfg->kafka_brokers);
    k->prefix = strdup(cfg->kafka_topic_prefix ? cfg->kafka_topic_prefix : "");
    k->group = strdup(cfg->kafka_group_id ? cfg->kafka_group_id : name);
    k->name = strdup(name);
    if (!k->brokers || !k->prefix || !k->group || !k->name)
        goto nomem;
    k->fetch_wait_ms =
        cfg->kafka_fetch_wait_ms > 0 ? cfg->kafka_fetch_wait_ms : 1;
    k->send_timeout_ms = cfg->send_timeout_ms > 0 ? cfg->send_timeout_ms : 5000;
    k->linger_ms = cfg->linger_ms > 0 ? cfg->linger_ms : 0;
    k->producer = new_producer(k, err, errlen);
    if (!k->producer)
        goto fail;
    return k;
nomem:
    snprintf(err, errlen, "kafka: out of memory");
fail:
    kt_close(k);
    return NULL;
}

/* ---- subscribe ---- */

static int kt_subscribe(struct transport_impl *k, const char *channel,
                        char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t e;

    for (size_t i = 0; i < k->nrx; i++)
        if (strcmp(k->rx[i], channel) == 0)
            return 0;
    if (k->nrx == KT_MAX_RX)
        return snprintf(err, errlen, "kafka: more than %d receive channels",
                        KT_MAX_RX),
               -EINVAL;
    if (!k->consumer && !(k->consumer = new_consumer(k, err, errlen)))
        return -EIO;
    snprintf(k->rx[k->nrx], sizeof k->rx[0], "%s", channel);
    snprintf(k->rx_topic[k->nrx], sizeof k->rx_topic[0], "%s%s", k->prefix,
             channel);
    list = rd_kafka_topic_partition_list_new((int)k->nrx + 1);
    for (size_t i = 0; i <= k->nrx; i++)
        rd_kafka_topic_partition_list_add(list, k->rx_topic[i],
                                          RD_KAFKA_PARTITION_UA);
    /* A new subscription replaces the old one: give the whole list. */
    e = rd_kafka_subscribe(k->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e)
        return snprintf(err, errlen, "kafka: subscribe %s: %s",
                        k->rx_topic[k->nrx], rd_kafka_err2str(e)),
               -EIO;
    k->nrx++;
    return 0;
}

/* ---- send ---- */

static rd_kafka_headers_t *make_headers(const struct transport_msg *msg)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(msg->nheaders);

    for (size_t i = 0; h && i < msg->nheaders; i++)
        rd_kafka_header_add(h, msg->headers[i].key, -1, msg->headers[i].value,
                            -1);
    return h;
}

static rd_kafka_resp_err_t produce(struct transport_impl *k, const char *topic,
                                   const struct transport_msg *msg)
{
    rd_kafka_headers_t *h = make_headers(msg);
    rd_kafka_resp_err_t e;

    if (!h)
        return RD_KAFKA_RESP_ERR__FAIL;
    e = rd_kafka_producev(
        k->producer, RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)msg->payload, msg->payload_len),
        RD_KAFKA_V_KEY(k->name, strlen(k->name)), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_END);
    /* On success librdkafka owns the headers; on failure we still do. */
    if (e)
        rd_kafka_headers_destroy(h);
    return e;
}

static int kt_send(struct transport_impl *k, const char *channel,
                   const struct transport_msg *msg, char *err, size_t errlen)
{
    char topic[KT_TOPIC_MAX];
    int64_t deadline = now_ms() + k->send_timeout_ms;
    rd_kafka_resp_err_t e;

    /* Serve delivery reports of earlier sends; report a failure once. */
    rd_kafka_poll(k->producer, 0);
    if (k->delivery_err[0]) {
        snprintf(err, errlen, "%s", k->delivery_err);
        k->delivery_err[0] = '\0';
        return -EIO;
    }
    snprintf(topic, sizeof topic, "%s%s", k->prefix, channel);
    while ((e = produce(k, topic, msg)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
           now_ms() < deadline)
        rd_kafka_poll(k->producer, 10);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return snprintf(err, errlen, "kafka: %s: producer queue full", topic),
               -EAGAIN;
    if (e)
        return snprintf(err, errlen, "kafka: %s: %s", topic,
                        rd_kafka_err2str(e)),
               -EIO;
    return 0;
}

/* ---- recv ---- */

static int grow(struct transport_impl *k, size_t need)
{
    unsigned char *p;

    if (need <= k->cap)
        return 0;
    p = realloc(k->buf, need);
    if (!p)
        return -ENOMEM;
    k->buf = p;
    k->cap = need;
    return 0;
}

/* Bytes that the headers take as NUL-terminated strings. */
static size_t headers_size(rd_kafka_headers_t *h)
{
    const char *name;
    const void *val;
    size_t size, total = 0;

    for (size_t i = 0;
         h && rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++)
        total += strlen(name) + size + 2;
    return total;
}

/* Copy headers (the first TRANSPORT_MAX_HEADERS) and payload into k->buf. */
static int copy_message(struct transport_impl *k, rd_kafka_message_t *m,
                        struct transport_msg *out)
{
    rd_kafka_headers_t *h = NULL;
    const char *name;
    const void *val;
    size_t size, o = 0;

    rd_kafka_message_headers(m, &h);
    if (grow(k, headers_size(h) + m->len + 1) < 0)
        return -ENOMEM;
    for (size_t i = 0; h && out->nheaders < TRANSPORT_MAX_HEADERS &&
                       rd_kafka_header_get_all(h, i, &name, &val, &size) == 0;
         i++) {
        size_t nl = strlen(name);
        out->headers[out->nheaders].key = memcpy(k->buf + o, name, nl + 1);
        o += nl + 1;
        out->headers[out->nheaders++].value = (char *)k->buf + o;
        if (size)
            memcpy(k->buf + o, val, size);
        k->buf[o + size] = '\0';
        o += size + 1;
    }
    if (m->len)
        memcpy(k->buf + o, m->payload, m->len);
    out->payload = k->buf + o;
    out->payload_len = m->len;
    return 0;
}

static void set_channel(struct transport_impl *k, rd_kafka_message_t *m,
                        struct transport_msg *out)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    size_t pl = strlen(k->prefix);

    if (strncmp(topic, k->prefix, pl) == 0)
        topic += pl;
    snprintf(k->channel, sizeof k->channel, "%s", topic);
    out->channel = k->channel;
}

/* Returns 1 with a message, 0 when m carried a transient error, <0 fatal. */
static int take(struct transport_impl *k, rd_kafka_message_t *m,
                struct transport_msg *out, char *err, size_t errlen)
{
    int rc = 1;

    if (m->err) {
        char fatal[200];
        if (rd_kafka_fatal_error(k->consumer, fatal, sizeof fatal)) {
            snprintf(err, errlen, "kafka: consumer: %s", fatal);
            rc = -EIO;
        } else {
            /* e.g. a subscribed topic that does not exist yet */
            log_debug("kafka: consumer: %s", rd_kafka_message_errstr(m));
            rc = 0;
        }
    } else if (copy_message(k, m, out) < 0) {
        snprintf(err, errlen, "kafka: out of memory");
        rc = -ENOMEM;
    } else {
        set_channel(k, m, out);
    }
    rd_kafka_message_destroy(m);
    return rc;
}

static int kt_recv(struct transport_impl *k, struct transport_msg *out,
                   int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    int left = timeout_ms;

    if (!k->consumer)
        return snprintf(err, errlen, "kafka: recv with no channel subscribed"),
               -EINVAL;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->consumer, left);
        int rc = m ? take(k, m, out, err, errlen) : 0;
        if (rc != 0)
            return rc;
        if (timeout_ms >= 0) {
            left = (int)(deadline - now_ms());
            if (left <= 0)
                return 0;
        }
    }
}

static const char *kt_endpoint(const struct transport_impl *k,
                               const char *channel)
{
    for (size_t i = 0; i < k->nrx; i++)
        if (strcmp(k->rx[i], channel) == 0)
            return k->rx_topic[i];
    return NULL;
}

const struct transport_ops transport_kafka_ops = {
    .name = "kafka",
    .open = kt_open,
    .subscribe = kt_subscribe,
    .send = kt_send,
    .recv = kt_recv,
    .endpoint = kt_endpoint,
    .close = kt_close,
};
