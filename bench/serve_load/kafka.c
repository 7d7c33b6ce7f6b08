/* serve_load's Kafka subcommands: kafka-mock (a librdkafka mock cluster,
 * src/testbed/kafka_mock.h), kafka-produce (the bodies of body.c as
 * messages) and kafka-count (consume and count spans like the sink, with
 * keyset.c); also the option parser they share with dump. Options: the
 * comment at the top of bench/serve_load.c. */
#include "common.h"

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "model/span_store.h"
#include "serve/receiver.h"
#include "testbed/kafka_mock.h"
#include "util/log.h"

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    if (level <= 4)
        log_warn("kafka: %s: %s", fac, buf);
}

static rd_kafka_conf_t *kafka_conf(const char *const *kv, char *err,
                                   size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set_log_cb(conf, kafka_log);
    for (; kv[0]; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, errlen) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    return conf;
}

int sl_kafka_parse(int argc, char **argv, struct kafka_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        bool miss = false, ok = true;
        int s = sl_shape_option(argc, argv, &i, &o->shape);
        if (s < 0)
            return -s;
        if (s > 0)
            continue;
        if (sl_opt_is(argc, argv, &i, "--brokers", &v, &miss))
            o->brokers = v;
        else if (sl_opt_is(argc, argv, &i, "--topic", &v, &miss))
            o->topic = v;
        else if (sl_opt_is(argc, argv, &i, "--group", &v, &miss))
            o->group = v;
        else if (sl_opt_is(argc, argv, &i, "--port-file", &v, &miss))
            o->port_file = v;
        else if (sl_opt_is(argc, argv, &i, "-o", &v, &miss))
            o->out = v;
        else if (sl_opt_is(argc, argv, &i, "--messages", &v, &miss))
            ok = miss || sl_parse_u64(v, &o->messages);
        else if (sl_opt_is(argc, argv, &i, "--expect", &v, &miss))
            ok = miss || sl_parse_u64(v, &o->expect);
        else if (sl_opt_is(argc, argv, &i, "--partitions", &v, &miss))
            ok = miss || sl_parse_uint(v, &o->partitions);
        else if (sl_opt_is(argc, argv, &i, "--idle-s", &v, &miss))
            ok = miss || sl_parse_double(v, &o->idle_s);
        else if (sl_opt_is(argc, argv, &i, "--rate", &v, &miss))
            ok = miss || sl_parse_double(v, &o->rate);
        else
            return sl_usage_error("kafka: unknown option %s", argv[i]);
        if (miss || !ok)
            return sl_usage_error("kafka: bad or missing value for %s",
                                  argv[i - !miss]);
    }
    return 0;
}

int sl_cmd_kafka_mock(int argc, char **argv)
{
    struct kafka_opts o = {.partitions = 4};
    char err[256], line[512];
    sigset_t sigs;
    int sig, rc = sl_kafka_parse(argc, argv, &o);

    if (rc)
        return rc;
    sl_block_stop_signals(&sigs);
    struct kafka_mock *m = kafka_mock_create(1, err, sizeof err);
    if (!m) {
        fprintf(stderr, "serve_load: %s\n", err);
        return 1;
    }
    if (o.topic && kafka_mock_create_topic(m, o.topic, (int)o.partitions, err,
                                           sizeof err) < 0) {
        fprintf(stderr, "serve_load: %s\n", err);
        rc = 1;
    }
    snprintf(line, sizeof line, "%s\n", kafka_mock_bootstraps(m));
    printf("bootstraps=%s", line);
    fflush(stdout);
    if (rc == 0 && o.port_file && sl_write_file_atomic(o.port_file, line) < 0) {
        fprintf(stderr, "serve_load: cannot write %s\n", o.port_file);
        rc = 1;
    }
    if (rc == 0)
        sigwait(&sigs, &sig);
    kafka_mock_destroy(m);
    return rc;
}

struct produce_stats {
    uint64_t acked, failed;
    char first_err[256];
};

static void produce_dr(rd_kafka_t *rk, const rd_kafka_message_t *m,
                       void *opaque)
{
    struct produce_stats *st = opaque;

    (void)rk;
    if (!m->err) {
        st->acked++;
        return;
    }
    if (!st->failed++)
        snprintf(st->first_err, sizeof st->first_err, "%s",
                 rd_kafka_err2str(m->err));
}

static rd_kafka_t *producer_new(const struct kafka_opts *o,
                                struct produce_stats *st)
{
    const char *kv[] = {"bootstrap.servers",    o->brokers, "linger.ms", "5",
                        "socket.nagle.disable", "true",     NULL};
    char err[512];
    rd_kafka_conf_t *conf = kafka_conf(kv, err, sizeof err);
    rd_kafka_t *rk = NULL;

    if (conf) {
        rd_kafka_conf_set_opaque(conf, st);
        rd_kafka_conf_set_dr_msg_cb(conf, produce_dr);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    }
    if (!rk)
        fprintf(stderr, "serve_load: kafka producer: %s\n", err);
    return rk;
}

/* Produce message n (the body patched for n), waiting while the local
 * queue is full. The key is the trace ID of the message's first trace. */
static rd_kafka_resp_err_t produce_one(rd_kafka_t *rk, const char *topic,
                                       uint8_t *body, const struct body_tpl *t,
                                       uint32_t n)
{
    rd_kafka_resp_err_t e;

    sl_body_patch(body, t, n, clock_ns(CLOCK_REALTIME));
    do {
        e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(body + t->spans[0].off_trace, 16),
                              RD_KAFKA_V_VALUE(body, t->len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    rd_kafka_poll(rk, 0);
    return e;
}

/* Messages the brokers no longer hold: the sum of the topic's log start
 * offsets (on a fresh topic, what retention dropped; librdkafka's mock
 * keeps about 5 MB per partition). -1 when it cannot be asked. */
static int64_t produce_dropped(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t sum = -1, lo, hi;

    if (rkt && !rd_kafka_metadata(rk, 0, rkt, &md, 5000) &&
        md->topic_cnt == 1) {
        sum = 0;
        for (int p = 0; p < md->topics[0].partition_cnt && sum >= 0; p++)
            if (rd_kafka_query_watermark_offsets(
                    rk, topic, md->topics[0].partitions[p].id, &lo, &hi,
                    5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
                sum += lo;
            else
                sum = -1;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return sum;
}

/* With --rate, wait until message n is due (serving delivery reports). */
static void produce_pace(rd_kafka_t *rk, const struct kafka_opts *o, int64_t t0,
                         uint64_t n)
{
    int64_t due = t0 + (int64_t)((double)n * 1e9 / o->rate), now;

    while (o->rate > 0 && (now = mono_ns()) < due)
        rd_kafka_poll(rk, (int)((due - now) / 1000000));
}

static void produce_report(const struct kafka_opts *o, const struct body_tpl *t,
                           const struct produce_stats *st, double s,
                           int64_t dropped, bool failed)
{
    uint64_t spans = st->acked * t->nspans;

    printf("kafka-produce: %s %s: %" PRIu64 " messages acked, %" PRIu64
           " failed%s%s, %.2f s\n",
           o->brokers, o->topic, st->acked, st->failed, st->failed ? ": " : "",
           st->first_err, s);
    printf("messages/s %.0f, spans/s %.0f, MB/s %.1f\n", (double)st->acked / s,
           (double)spans / s, (double)st->acked * (double)t->len / s / 1e6);
    if (dropped != 0)
        printf("%s: %" PRId64 " messages already gone from the topic "
               "(fine if a consumer read them first; else retention: "
               "librdkafka's mock keeps about 5 MB per partition, use more "
               "partitions or --rate with a live consumer)\n",
               dropped > 0 ? "WARNING" : "note", dropped);
    printf("RESULT messages=%" PRIu64 " spans=%" PRIu64
           " messages_per_s=%.0f spans_per_s=%.0f dropped_messages=%" PRId64
           " errors=%" PRIu64 "\n",
           st->acked, spans, (double)st->acked / s, (double)spans / s, dropped,
           st->failed + failed);
}

static int produce_all(rd_kafka_t *rk, const struct kafka_opts *o,
                       const struct body_tpl *t, struct produce_stats *st)
{
    uint8_t *body = malloc(t->len);
    int64_t t0 = mono_ns();
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (!body)
        return 1;
    memcpy(body, t->buf, t->len);
    for (uint64_t n = 0; n < o->messages && !e; n++) {
        produce_pace(rk, o, t0, n);
        e = produce_one(rk, o->topic, body, t, (uint32_t)n);
    }
    if (e)
        fprintf(stderr, "serve_load: produce: %s\n", rd_kafka_err2str(e));
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "serve_load: produce: flush timed out\n");
    double s = (double)(mono_ns() - t0) / 1e9;
    produce_report(o, t, st, s, produce_dropped(rk, o->topic), e != 0);
    free(body);
    return e || st->failed || st->acked < o->messages ? 1 : 0;
}

int sl_cmd_kafka_produce(int argc, char **argv)
{
    struct kafka_opts o = {.messages = 1000,
                           .shape = {.spans = 100, .domains = 4}};
    struct produce_stats st = {0};
    struct body_tpl t;
    int rc = sl_kafka_parse(argc, argv, &o);

    if (rc)
        return rc;
    if (!o.brokers || !o.topic)
        return sl_usage_error("%s", "kafka-produce: --brokers and --topic");
    if (o.messages > UINT32_MAX)
        return sl_usage_error("%s", "kafka-produce: --messages must be < 2^32");
    if ((rc = sl_shape_check(&o.shape)))
        return rc;
    if (sl_tpl_build(&t, &o.shape) < 0) {
        fprintf(stderr, "serve_load: cannot build the message body\n");
        return 1;
    }
    sl_tpl_print(&t, &o.shape,
                 o.shape.spans_per_trace ? o.shape.spans_per_trace
                                         : o.shape.spans);
    rd_kafka_t *rk = producer_new(&o, &st);
    rc = rk ? produce_all(rk, &o, &t, &st) : 1;
    if (rk)
        rd_kafka_destroy(rk);
    sl_tpl_destroy(&t);
    return rc;
}

static rd_kafka_t *consumer_new(const struct kafka_opts *o)
{
    const char *kv[] = {"bootstrap.servers",
                        o->brokers,
                        "group.id",
                        o->group,
                        "auto.offset.reset",
                        "earliest",
                        "enable.auto.commit",
                        "false",
                        NULL};
    char err[512];
    rd_kafka_conf_t *conf = kafka_conf(kv, err, sizeof err);
    rd_kafka_t *rk =
        conf ? rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err) : NULL;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(tl, o->topic, RD_KAFKA_PARTITION_UA);
    if (rk) {
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, tl);
        if (e) {
            snprintf(err, sizeof err, "subscribe: %s", rd_kafka_err2str(e));
            rd_kafka_destroy(rk);
            rk = NULL;
        }
    }
    rd_kafka_topic_partition_list_destroy(tl);
    if (!rk)
        fprintf(stderr, "serve_load: kafka consumer: %s\n", err);
    return rk;
}

/* Decode one message into s's counts; -1 when it does not decode. */
static int count_message(struct key_set *s, const rd_kafka_message_t *m)
{
    struct span_store *st = span_store_create();
    char err[256] = "out of memory";
    int rc = -1;

    if (st && receiver_decode_body(
                  m->payload, m->len, RECEIVER_CONTENT_PROTOBUF, false,
                  (size_t)64 << 20, NULL, st, NULL, err, sizeof err) == 0) {
        sl_key_set_add_store(s, st);
        rc = 0;
    } else {
        log_ratelimited(LOG_WARN, 5,
                        "kafka-count: partition %d offset %" PRId64 ": %s",
                        (int)m->partition, m->offset, err);
    }
    span_store_destroy(st);
    return rc;
}

int sl_cmd_kafka_count(int argc, char **argv)
{
    static struct key_set set;
    struct kafka_opts o = {.group = "serve_load", .idle_s = 10};
    uint64_t msgs = 0, bad = 0;
    int64_t first = 0, last = 0, start = mono_ns();
    char line[256];
    sigset_t sigs;
    int rc = sl_kafka_parse(argc, argv, &o);

    if (rc)
        return rc;
    if (!o.brokers || !o.topic)
        return sl_usage_error("%s", "kafka-count: --brokers and --topic");
    sl_key_set_init(&set);
    sl_block_stop_signals(&sigs);
    rd_kafka_t *rk = consumer_new(&o);
    if (!rk)
        return 1;
    while (!sl_stop_requested(&sigs) && !(o.expect && set.spans >= o.expect)) {
        int64_t now = mono_ns(), since = first ? last : start;
        if (now - since > (int64_t)(o.idle_s * 1e9) * (first ? 1 : 3))
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            last = mono_ns();
            first = first ? first : last;
            msgs++;
            bad += count_message(&set, m) < 0;
        } else {
            log_ratelimited(LOG_WARN, 5, "kafka-count: %s",
                            rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    double s = first && last > first ? (double)(last - first) / 1e9 : 0;
    printf("kafka-count: %" PRIu64 " messages (%" PRIu64
           " not decoded), first to last %.2f s, spans/s %.0f\n",
           msgs, bad, s, s > 0 ? (double)set.spans / s : 0.0);
    sl_key_set_line(&set, line, sizeof line);
    fputs(line, stdout);
    rc = bad || set.nomem || (o.expect && sl_key_set_unique(&set) != o.expect);
    sl_key_set_free(&set);
    return rc;
}
