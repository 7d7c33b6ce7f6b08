/* kafka_mock: start and stop librdkafka's mock cluster for the testbed (the
 * embedded broker behind `--transport kafka` when no --brokers is given). */
#include "testbed/kafka_mock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "util/log.h"

struct kafka_mock {
    rd_kafka_t *rk; /* the mock's book-keeping handle, otherwise idle */
    rd_kafka_mock_cluster_t *cluster;
};

/* The handle has no brokers of its own: its complaints are noise. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    if (level <= 3)
        log_warn("kafka mock: %s: %s", fac, buf);
    else
        log_debug("kafka mock: %s: %s", fac, buf);
}

struct kafka_mock *kafka_mock_create(int nbrokers, char *err, size_t errlen)
{
    struct kafka_mock *m = calloc(1, sizeof *m);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (!m || !conf) {
        snprintf(err, errlen, "kafka mock: out of memory");
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    /* rd_kafka_new takes conf only when it succeeds. */
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!m->rk)
        goto fail;
    conf = NULL;
    m->cluster = rd_kafka_mock_cluster_new(m->rk, nbrokers < 1 ? 1 : nbrokers);
    if (!m->cluster) {
        snprintf(err, errlen, "kafka mock: cannot start %d broker(s)",
                 nbrokers);
        goto fail;
    }
    return m;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    kafka_mock_destroy(m);
    return NULL;
}

const char *kafka_mock_bootstraps(const struct kafka_mock *m)
{
    return rd_kafka_mock_cluster_bootstraps(m->cluster);
}

int kafka_mock_create_topic(struct kafka_mock *m, const char *topic,
                            int partitions, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e;

    if (!topic || !topic[0] || partitions < 1) {
        snprintf(err, errlen, "kafka mock: bad topic or partition count");
        return -EINVAL;
    }
    e = rd_kafka_mock_topic_create(m->cluster, topic, partitions, 1);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(err, errlen, "kafka mock: create topic %s: %s", topic,
                 rd_kafka_err2str(e));
        return -EIO;
    }
    return 0;
}

void kafka_mock_destroy(struct kafka_mock *m)
{
    if (!m)
        return;
    if (m->cluster)
        rd_kafka_mock_cluster_destroy(m->cluster);
    if (m->rk)
        rd_kafka_destroy(m->rk);
    free(m);
}
