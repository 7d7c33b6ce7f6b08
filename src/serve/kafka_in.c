/* kafka_in: the Kafka input of `skewscope serve` (see kafka_in.h for the
 * contract). A librdkafka high-level consumer on its own thread polls the
 * topic, decodes each message with receiver_decode_body() and offers the
 * batch to the handler until it is taken.
 *
 * Offsets: every message handed over gets one token, appended to its
 * partition's window (a list in offset order). done() marks the token;
 * the done tokens at the head of the window are dropped and the offset
 * after the last of them is stored (rd_kafka_offsets_store), so the stored
 * offset only ever covers a contiguous prefix of processed messages.
 * auto.commit then commits it every commit_interval_ms, and the revoke
 * step of a rebalance (and kafka_in_stop) commits it synchronously.
 * A message that does not decode needs no token: it moves the window's
 * tail token's commit point past itself, or is stored at once when nothing
 * before it is outstanding.
 *
 * On revoke a partition's window is detached (no more stores for it; its
 * tokens stay valid until done) and a later assignment of the same
 * partition starts a fresh window: what was outstanding is redelivered.
 *
 * Busy handler: the message is held and offered again every 10 ms; the
 * consumer does not poll meanwhile (heartbeats go on in librdkafka's own
 * threads), so a handler busy for longer than max.poll.interval.ms (5 min)
 * makes the consumer leave the group, and the unprocessed messages go to
 * another member: late, never lost. A fatal consumer error ends the
 * consumer thread (logged); kafka_in_stop still cleans up.
 *
 * Counters: committed_messages counts done() calls (handed-over messages
 * marked processed), not rejected ones.
 *
 * Threads: the consumer thread polls, calls the handler and runs the
 * rebalance callback; done() runs on any thread. The windows, the
 * partition table and offset stores are under k->mu (stores inside the
 * lock so that two done() calls cannot store out of order); counters are
 * C11 atomics. */
#include "serve/kafka_in.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "model/span_store.h"
#include "serve/receiver.h"
#include "util/clock.h"
#include "util/counter.h"
#include "util/log.h"

#define MIB ((size_t)1 << 20)
#define POLL_MS 100 /* halt latency of an idle consumer */
#define BUSY_SLEEP_MS 10

struct kin_part;

/* One message handed to the handler. */
struct kin_token {
    struct kin_token *next; /* next in the partition's window */
    struct kin_part *part;
    int64_t commit_to; /* offset to store once this and all before are done:
                          own offset + 1, or past rejected messages after it */
    bool done;
};

/* The window of one partition while (and after) it is assigned. */
struct kin_part {
    struct kafka_in *k;
    struct kin_part *prev, *next; /* k->all_parts */
    int32_t partition;
    bool revoked;                  /* detached: never store again */
    struct kin_token *head, *tail; /* handed over, in offset order */
    /* For rd_kafka_offsets_store(); librdkafka caches a reference to its
     * partition in it, so it is one per partition and destroyed when the
     * partition is revoked (a reference left makes rd_kafka_destroy()
     * wait forever). */
    rd_kafka_topic_partition_list_t *store;
};

struct kin_counters {
    atomic_uint_fast64_t messages, spans, rejected, committed, busy_waits;
    atomic_uint_fast64_t invalid;
};

struct kafka_in {
    rd_kafka_t *rk;
    char *topic, *domain_attr;
    size_t max_decompressed;
    kafka_in_batch_fn handler;
    void *ctx;
    pthread_t thread;
    bool thread_started, joined; /* owner thread only */
    atomic_bool halting;

    pthread_mutex_t mu; /* everything below */
    pthread_cond_t idle;
    struct kin_part **live; /* live[partition], NULL when not assigned */
    size_t nlive;
    struct kin_part *all_parts;
    long pending;   /* handed over, not yet done (may dip below 0 briefly) */
    bool rk_closed; /* no more rd_kafka calls from done() */

    struct kin_counters n;
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- partitions and windows (k->mu held) ---- */

static struct kin_part *part_new(struct kafka_in *k, int32_t partition)
{
    struct kin_part *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->store = rd_kafka_topic_partition_list_new(1);
    if (!p->store) {
        free(p);
        return NULL;
    }
    rd_kafka_topic_partition_list_add(p->store, k->topic, partition);
    p->k = k;
    p->partition = partition;
    p->next = k->all_parts;
    if (k->all_parts)
        k->all_parts->prev = p;
    k->all_parts = p;
    return p;
}

static void part_free(struct kafka_in *k, struct kin_part *p)
{
    struct kin_token *t = p->head;

    while (t) {
        struct kin_token *next = t->next;
        free(t);
        t = next;
    }
    if (p->store)
        rd_kafka_topic_partition_list_destroy(p->store);
    if (p->prev)
        p->prev->next = p->next;
    else
        k->all_parts = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p);
}

/* The live window of partition, created when missing; NULL on ENOMEM. */
static struct kin_part *part_live(struct kafka_in *k, int32_t partition)
{
    size_t i = (size_t)partition;

    if (partition < 0)
        return NULL;
    if (i >= k->nlive) {
        size_t n = i + 1 > 2 * k->nlive ? i + 1 : 2 * k->nlive;
        struct kin_part **live = realloc(k->live, n * sizeof *live);
        if (!live)
            return NULL;
        memset(live + k->nlive, 0, (n - k->nlive) * sizeof *live);
        k->live = live;
        k->nlive = n;
    }
    if (!k->live[i])
        k->live[i] = part_new(k, partition);
    return k->live[i];
}

/* Detach the live window of partition (revoked or lost). */
static void part_revoke(struct kafka_in *k, int32_t partition)
{
    struct kin_part *p;

    if (partition < 0 || (size_t)partition >= k->nlive)
        return;
    p = k->live[partition];
    k->live[partition] = NULL;
    if (!p)
        return;
    p->revoked = true;
    rd_kafka_topic_partition_list_destroy(p->store);
    p->store = NULL;
    if (!p->head)
        part_free(k, p);
}

static void store_offset(struct kafka_in *k, struct kin_part *p, int64_t offset)
{
    rd_kafka_topic_partition_t *e;
    rd_kafka_resp_err_t err;

    if (k->rk_closed || p->revoked)
        return;
    e = &p->store->elems[0];
    e->offset = offset;
    e->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    err = rd_kafka_offsets_store(k->rk, p->store);
    if (err || e->err)
        log_ratelimited(LOG_WARN, 10,
                        "kafka_in: %s [%d]: cannot store offset %lld: %s",
                        k->topic, (int)p->partition, (long long)offset,
                        rd_kafka_err2str(err ? err : e->err));
}

/* Drop the done tokens at the head of p's window and store the offset
 * after them. Frees p when it is detached and now empty. */
static void part_advance(struct kafka_in *k, struct kin_part *p)
{
    int64_t commit_to = -1;

    while (p->head && p->head->done) {
        struct kin_token *t = p->head;
        commit_to = t->commit_to;
        p->head = t->next;
        free(t);
    }
    if (!p->head)
        p->tail = NULL;
    if (p->revoked) {
        if (!p->head)
            part_free(k, p);
        return;
    }
    if (commit_to >= 0)
        store_offset(k, p, commit_to);
}

/* ---- done callback (any thread) ---- */

static void kin_done(void *token)
{
    struct kin_token *t = token;
    struct kin_part *p = t->part;
    struct kafka_in *k = p->k;

    pthread_mutex_lock(&k->mu);
    t->done = true;
    counter_add(&k->n.committed, 1);
    if (--k->pending <= 0)
        pthread_cond_broadcast(&k->idle);
    part_advance(k, p);
    pthread_mutex_unlock(&k->mu);
}

/* ---- rebalance (consumer thread, or the owner inside consumer_close) ---- */

static void parts_assign(struct kafka_in *k,
                         const rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&k->mu);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &parts->elems[i];
        if (strcmp(e->topic, k->topic) == 0 && !part_live(k, e->partition))
            log_error("kafka_in: %s [%d]: out of memory", k->topic,
                      (int)e->partition);
    }
    pthread_mutex_unlock(&k->mu);
}

static void parts_revoke(struct kafka_in *k,
                         const rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&k->mu);
    for (int i = 0; parts && i < parts->cnt; i++)
        if (strcmp(parts->elems[i].topic, k->topic) == 0)
            part_revoke(k, parts->elems[i].partition);
    if (!parts)
        for (size_t i = 0; i < k->nlive; i++)
            part_revoke(k, (int32_t)i);
    pthread_mutex_unlock(&k->mu);
}

/* Commit the stored offsets of the current assignment, waiting for the
 * broker. Nothing new to commit is not an error. */
static void commit_sync(struct kafka_in *k, const char *why)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, NULL, 0);

    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("kafka_in: %s: commit on %s failed: %s", k->topic, why,
                 rd_kafka_err2str(err));
}

static void assign_result(struct kafka_in *k, rd_kafka_error_t *error,
                          rd_kafka_resp_err_t err)
{
    if (error) {
        log_error("kafka_in: %s: assign: %s", k->topic,
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        log_error("kafka_in: %s: assign: %s", k->topic, rd_kafka_err2str(err));
    }
}

static void kin_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kafka_in *k = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("kafka_in: %s: %d partition(s) assigned", k->topic,
                 parts->cnt);
        parts_assign(k, parts);
        if (coop)
            assign_result(k, rd_kafka_incremental_assign(rk, parts), 0);
        else
            assign_result(k, NULL, rd_kafka_assign(rk, parts));
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        log_info("kafka_in: %s: %d partition(s) revoked", k->topic, parts->cnt);
        /* Detach first: a done() racing with the commit must not store an
         * offset that the next owner would then skip past. */
        parts_revoke(k, parts);
        if (!rd_kafka_assignment_lost(rk))
            commit_sync(k, "revoke");
        if (coop)
            assign_result(k, rd_kafka_incremental_unassign(rk, parts), 0);
        else
            assign_result(k, NULL, rd_kafka_assign(rk, NULL));
        return;
    }
    log_warn("kafka_in: %s: rebalance failed: %s", k->topic,
             rd_kafka_err2str(err));
    parts_revoke(k, NULL);
    assign_result(k, NULL, rd_kafka_assign(rk, NULL));
}

/* ---- messages (consumer thread) ---- */

/* A message that does not decode counts as done: its offset is stored at
 * once when nothing before it is outstanding, else the tail token's
 * commit point moves past it. */
static void reject(struct kafka_in *k, const rd_kafka_message_t *m,
                   const char *why)
{
    struct kin_part *p;

    counter_add(&k->n.rejected, 1);
    log_ratelimited(LOG_WARN, 20, "kafka_in: %s [%d] offset %lld: rejected: %s",
                    k->topic, (int)m->partition, (long long)m->offset, why);
    pthread_mutex_lock(&k->mu);
    p = part_live(k, m->partition);
    if (p && p->tail)
        p->tail->commit_to = m->offset + 1;
    else if (p)
        store_offset(k, p, m->offset + 1);
    pthread_mutex_unlock(&k->mu);
}

/* Returns a new token at the tail of the message's window, or NULL on
 * ENOMEM. */
static struct kin_token *token_add(struct kafka_in *k,
                                   const rd_kafka_message_t *m)
{
    struct kin_token *t = calloc(1, sizeof *t);
    struct kin_part *p;

    if (!t)
        return NULL;
    pthread_mutex_lock(&k->mu);
    p = part_live(k, m->partition);
    if (p) {
        t->part = p;
        t->commit_to = m->offset + 1;
        if (p->tail)
            p->tail->next = t;
        else
            p->head = t;
        p->tail = t;
    }
    pthread_mutex_unlock(&k->mu);
    if (!p) {
        free(t);
        return NULL;
    }
    return t;
}

/* Offer batch until the handler takes it. Returns false when halted
 * first (the batch is then still ours). */
static bool offer(struct kafka_in *k, const rd_kafka_message_t *m,
                  struct span_store *batch, struct kin_token *t)
{
    size_t spans = span_store_count(batch); /* batch is not ours after */
    size_t invalid = span_store_invalid_total(batch);

    while (!atomic_load(&k->halting)) {
        int rc = k->handler(k->ctx, batch, m->payload, m->len, kin_done, t);
        if (rc == 0) {
            /* done() may already have run and counted it down. */
            pthread_mutex_lock(&k->mu);
            k->pending++;
            pthread_mutex_unlock(&k->mu);
            counter_add(&k->n.messages, 1);
            counter_add(&k->n.spans, spans);
            counter_add(&k->n.invalid, invalid);
            return true;
        }
        if (rc != 1)
            log_ratelimited(LOG_WARN, 5,
                            "kafka_in: handler returned %d; taken as busy", rc);
        counter_add(&k->n.busy_waits, 1);
        sleep_ms(BUSY_SLEEP_MS);
    }
    return false;
}

static void handle_message(struct kafka_in *k, const rd_kafka_message_t *m)
{
    /* sized for the message (span_store_create_hint; 64 bytes a span is a
     * low guess for OTLP protobuf) */
    struct span_store *batch = span_store_create_hint(m->len / 64);
    struct kin_token *t = NULL;
    char err[256];
    int rc;

    if (!batch) {
        reject(k, m, "out of memory");
        return;
    }
    rc = receiver_decode_body(
        m->payload ? m->payload : "", m->len, RECEIVER_CONTENT_PROTOBUF, false,
        k->max_decompressed, k->domain_attr, batch, NULL, err, sizeof err);
    if (rc < 0) {
        reject(k, m, err);
        goto cleanup;
    }
    /* A token is needed before the first offer; never skip the message
     * for want of one (later done() calls would store past it). */
    while (!(t = token_add(k, m)) && !atomic_load(&k->halting))
        sleep_ms(BUSY_SLEEP_MS);
    /* Halted before the handler took it: the token stays undone, so the
     * stored offset stays before this message and it is redelivered. */
    if (t && offer(k, m, batch, t))
        batch = NULL;
cleanup:
    span_store_destroy(batch);
}

static bool handle_error(struct kafka_in *k, const rd_kafka_message_t *m)
{
    char fatal[256];

    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return true;
    if (rd_kafka_fatal_error(k->rk, fatal, sizeof fatal)) {
        log_error("kafka_in: %s: consumer failed: %s", k->topic, fatal);
        return false;
    }
    log_ratelimited(LOG_WARN, 20, "kafka_in: %s: %s", k->topic,
                    rd_kafka_message_errstr(m));
    return true;
}

static void *consumer_main(void *arg)
{
    struct kafka_in *k = arg;
    bool ok = true;

    while (ok && !atomic_load(&k->halting)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, POLL_MS);
        if (!m)
            continue;
        if (m->err)
            ok = handle_error(k, m);
        else
            handle_message(k, m);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

/* ---- start / stop ---- */

/* The grace wait must not stretch or shrink when the wall clock is set
 * (or faked, as the testbed does). */
static void cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

static void kin_log(const rd_kafka_t *rk, int level, const char *fac,
                    const char *buf)
{
    if (level <= 3)
        log_warn("kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
    else
        log_debug("kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val,
                    char *err, size_t errlen)
{
    char msg[256];

    if (rd_kafka_conf_set(conf, key, val, msg, sizeof msg) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errlen, "kafka_in: %s", msg);
    return -EINVAL;
}

/* session.timeout.ms at the brokers' default minimum so that a restarted
 * instance gets its partitions back within seconds; the rebalance and
 * commit settings are what at-least-once rests on (see kafka_in.h). */
static rd_kafka_conf_t *make_conf(struct kafka_in *k,
                                  const struct kafka_in_config *cfg, char *err,
                                  size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char interval[16];

    snprintf(interval, sizeof interval, "%u",
             cfg->commit_interval_ms ? cfg->commit_interval_ms : 1000);
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_log_cb(conf, kin_log);
    rd_kafka_conf_set_rebalance_cb(conf, kin_rebalance);
    if (conf_set(conf, "bootstrap.servers", cfg->brokers, err, errlen) < 0 ||
        conf_set(conf, "group.id", cfg->group_id ? cfg->group_id : "skewscope",
                 err, errlen) < 0 ||
        conf_set(conf, "client.id", "skewscope-kafka-in", err, errlen) < 0 ||
        conf_set(conf, "enable.auto.commit", "true", err, errlen) < 0 ||
        conf_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        conf_set(conf, "auto.commit.interval.ms", interval, err, errlen) < 0 ||
        conf_set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        conf_set(conf, "session.timeout.ms", "6000", err, errlen) < 0 ||
        conf_set(conf, "heartbeat.interval.ms", "1000", err, errlen) < 0 ||
        conf_set(conf, "topic.metadata.refresh.interval.ms", "5000", err,
                 errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static int subscribe(struct kafka_in *k, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(list, k->topic, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(k->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e) {
        snprintf(err, errlen, "kafka_in: subscribe %s: %s", k->topic,
                 rd_kafka_err2str(e));
        return -EIO;
    }
    return 0;
}

static int open_consumer(struct kafka_in *k, const struct kafka_in_config *cfg,
                         char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = make_conf(k, cfg, err, errlen);
    char msg[256];

    if (!conf)
        return -EINVAL;
    /* rd_kafka_new frees conf only on success. */
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, msg, sizeof msg);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka_in: %s", msg);
        return -EIO;
    }
    rd_kafka_poll_set_consumer(k->rk);
    return subscribe(k, err, errlen);
}

static void kin_free(struct kafka_in *k)
{
    if (k->rk) {
        rd_kafka_consumer_close(k->rk);
        /* Detach what the last revoke left (nothing, normally) so that no
         * store list holds a reference into rk. */
        parts_revoke(k, NULL);
        pthread_mutex_lock(&k->mu);
        k->rk_closed = true;
        pthread_mutex_unlock(&k->mu);
        rd_kafka_destroy(k->rk);
    }
    while (k->all_parts)
        part_free(k, k->all_parts);
    pthread_cond_destroy(&k->idle);
    pthread_mutex_destroy(&k->mu);
    free(k->live);
    free(k->topic);
    free(k->domain_attr);
    free(k);
}

struct kafka_in *kafka_in_start(const struct kafka_in_config *cfg,
                                kafka_in_batch_fn handler, void *ctx, char *err,
                                size_t errlen)
{
    struct kafka_in *k;

    if (!cfg || !cfg->brokers || !cfg->brokers[0] || !cfg->topic ||
        !cfg->topic[0] || !handler) {
        snprintf(err, errlen,
                 "kafka_in: brokers, topic and handler are required");
        return NULL;
    }
    k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "kafka_in: out of memory");
        return NULL;
    }
    pthread_mutex_init(&k->mu, NULL);
    cond_init_monotonic(&k->idle);
    k->handler = handler;
    k->ctx = ctx;
    k->max_decompressed =
        cfg->max_decompressed_bytes ? cfg->max_decompressed_bytes : 64 * MIB;
    k->topic = strdup(cfg->topic);
    k->domain_attr =
        cfg->clock_domain_attr ? strdup(cfg->clock_domain_attr) : NULL;
    if (!k->topic || (cfg->clock_domain_attr && !k->domain_attr)) {
        snprintf(err, errlen, "kafka_in: out of memory");
        goto fail;
    }
    if (open_consumer(k, cfg, err, errlen) < 0)
        goto fail;
    if (pthread_create(&k->thread, NULL, consumer_main, k) != 0) {
        snprintf(err, errlen, "kafka_in: cannot start the consumer thread");
        goto fail;
    }
    k->thread_started = true;
    return k;
fail:
    kin_free(k);
    return NULL;
}

void kafka_in_counters_read(const struct kafka_in *k,
                            struct kafka_in_counters *out)
{
    const struct kin_counters *n = &k->n;

    out->messages = atomic_load(&n->messages);
    out->spans = atomic_load(&n->spans);
    out->rejected_messages = atomic_load(&n->rejected);
    out->committed_messages = atomic_load(&n->committed);
    out->busy_waits = atomic_load(&n->busy_waits);
    out->invalid_spans = atomic_load(&n->invalid);
}

void kafka_in_halt(struct kafka_in *k)
{
    if (!k)
        return;
    atomic_store(&k->halting, true);
    if (k->thread_started && !k->joined) {
        pthread_join(k->thread, NULL);
        k->joined = true;
    }
}

/* Wait until every handed-over message is done or grace_ms passed. */
static void wait_idle(struct kafka_in *k, unsigned grace_ms)
{
    struct timespec until;

    until = clock_deadline(CLOCK_MONOTONIC, (int64_t)grace_ms * 1000000);
    pthread_mutex_lock(&k->mu);
    while (k->pending > 0 &&
           pthread_cond_timedwait(&k->idle, &k->mu, &until) != ETIMEDOUT)
        ;
    if (k->pending > 0)
        log_warn("kafka_in: %s: %ld message(s) not done after %u ms; they "
                 "will be redelivered",
                 k->topic, k->pending, grace_ms);
    pthread_mutex_unlock(&k->mu);
}

void kafka_in_stop(struct kafka_in *k, unsigned grace_ms)
{
    if (!k)
        return;
    kafka_in_halt(k);
    wait_idle(k, grace_ms);
    commit_sync(k, "stop");
    /* kin_free closes the consumer: the revoke callback runs once more
     * (detach, commit), then the group is left. */
    kin_free(k);
}
