/* serve: the pipeline of `skewscope serve` (see serve.h). Input threads
 * (HTTP, Kafka) only decode and queue. With the write-ahead log
 * (serve/wal.h) an HTTP request is written to the log and left pending
 * (RECEIVER_PENDING: its connection is suspended, the HTTP thread goes on);
 * the log's syncer thread, once the fsync that covers it is done, queues
 * it and answers it (receiver_answer: 200, or 503 when the fsync failed:
 * on_wal_synced). A request is answered by exactly one of: its HTTP thread
 * (no log, an empty request, or any refusal before the write), the syncer
 * thread (on_wal_synced), or receiver_stop (503 to what still waits past
 * the grace: the later callback then only lets go). A replay
 * thread queues what an earlier run's log kept. One pipeline thread owns
 * assembly and the rewriting; one analysis thread pairs the released
 * generations into `live` (which only it touches), runs the update tick,
 * publishes the snapshot and builds the clock model, which it swaps under
 * model_lock for the pipeline's rewriter; the queue between input and
 * pipeline is under `lock`, the analysis queue under `alock`. With peers, a
 * cluster thread fetches the peers' statistics (libcurl, all peers at once,
 * short timeouts) and builds the cluster view from them and the pipeline's last
 * export; it shares nothing with the pipeline but the published export (under
 * pub_lock). */
#include "serve/serve.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/edges.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct.h"
#include "serve/assemble.h"
#include "serve/forward.h"
#include "serve/kafka_in.h"
#include "serve/live.h"
#include "serve/live_io.h"
#include "serve/receiver.h"
#include "output/rewrite.h"
#include "serve/serve_memory.h"
#include "serve/serve_page.h"
#include "serve/serve_private.h"
#include "serve/serve_scrape.h"
#include "serve/wal.h"
#include "util/clock.h"
#include "util/counter.h"
#include "util/log.h"

/* ---- input side: HTTP and Kafka threads */

/* Spans held for the pipeline: queued, waiting for their WAL fsync (so
 * that the 429 cap bounds those too), in the forwarder's memory queue. */
static size_t queued_spans(void *ctx)
{
    struct serve *s = ctx;
    size_t n = (size_t)counter_get(&s->queue_spans) +
               (size_t)counter_get(&s->wal_wait_spans);

    if (s->fwd)
        n += forward_queued_spans(s->fwd);
    return n;
}

/* Append an item; false when stopping (the caller keeps ownership). */
static bool enqueue(struct serve *s, struct serve_item *it)
{
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    it->next = NULL;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    counter_add(&s->queue_spans, it->spans);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* A request written to the WAL, waiting for the fsync that covers it. */
struct wal_wait {
    struct serve *s;
    struct serve_item *it;
    struct receiver_pending *p;
};

/* The WAL's syncer thread (with wal_no_fsync: the HTTP thread, inside
 * wal_append_async): the request's record is on disk (status 0): queue it
 * (its record is done when the forwarder has the spans safe) and answer
 * 200; or it cannot be (the fsync failed; the log has dropped the record):
 * answer 503, nothing kept. */
static void on_wal_synced(void *ctx, struct wal_rec *rec, int status)
{
    struct wal_wait *ww = ctx;
    struct serve *s = ww->s;
    struct serve_item *it = ww->it;
    size_t n = it->spans;
    enum receiver_verdict v = RECEIVER_UNAVAILABLE;

    if (status == 0) {
        it->done = wal_done;
        it->token = rec;
        if (enqueue(s, it)) {
            counter_add(&s->accepted, n);
            v = RECEIVER_ACCEPTED;
            it = NULL; /* the pipeline's: it may be freed already */
        } else {
            wal_done(rec); /* stopping: not acknowledged, nothing to keep */
        }
    }
    counter_add(&s->wal_wait_spans, -(uint64_t)n);
    if (it) {
        span_store_destroy(it->store);
        free(it->body);
        free(it);
    }
    if (!receiver_answer(ww->p, v) && v == RECEIVER_ACCEPTED)
        log_ratelimited(LOG_WARN, 5,
                        "serve: a request answered 503 at stop was kept "
                        "after all: its spans may arrive twice");
    free(ww);
}

/* Durable before acknowledged: write the request to the WAL and leave it
 * pending; on_wal_synced answers it once the fsync that covers it is done
 * (group commit with every request written meanwhile, from any
 * connection and HTTP thread). The item holds the batch from here: on
 * success it is the callback's, which may run (and the pipeline free it)
 * before wal_append_async returns. */
static enum receiver_verdict wal_then_answer(struct serve *s,
                                             struct receiver_batch *b,
                                             struct serve_item *it,
                                             struct receiver_pending *p)
{
    struct wal_wait *ww = malloc(sizeof(*ww));
    size_t n = it->spans;
    char err[300];

    if (!ww || !p) {
        free(ww);
        free(it);
        return RECEIVER_UNAVAILABLE;
    }
    *ww = (struct wal_wait){s, it, p};
    counter_add(&s->wal_wait_spans, n);
    if (wal_append_async(
            s->wal, b->body, b->len, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n,
            (uint8_t)b->content, on_wal_synced, ww, err, sizeof(err)) < 0) {
        counter_add(&s->wal_wait_spans, -(uint64_t)n);
        log_ratelimited(LOG_ERROR, 5, "serve: %s; answering 503", err);
        free(ww);
        free(it);
        return RECEIVER_UNAVAILABLE;
    }
    b->store = NULL;
    if (s->fwd)
        b->body = NULL;
    return RECEIVER_PENDING;
}

static enum receiver_verdict on_http(void *ctx, struct receiver_batch *b,
                                     struct receiver_outcome *out)
{
    struct serve *s = ctx;
    struct serve_item *it = calloc(1, sizeof(*it));
    size_t n = span_store_count(b->store);

    if (!it)
        return RECEIVER_UNAVAILABLE;
    it->store = b->store;
    it->spans = n;
    if (s->fwd) {
        it->body = b->body;
        it->len = b->len;
        it->content = b->content;
    }
    if (s->wal && n)
        return wal_then_answer(s, b, it, out->pending);
    if (!enqueue(s, it)) {
        free(it);
        return RECEIVER_UNAVAILABLE;
    }
    /* `it` may be processed and freed already: only locals from here */
    b->store = NULL;
    if (s->fwd)
        b->body = NULL;
    counter_add(&s->accepted, n);
    return RECEIVER_ACCEPTED;
}

static int on_kafka(void *ctx, struct span_store *batch, const uint8_t *body,
                    size_t len, kafka_in_done_fn done, void *token)
{
    struct serve *s = ctx;
    size_t n = span_store_count(batch), q = queued_spans(s);
    struct serve_item *it;

    if (q > 0 && q + n > s->cfg.max_queued_spans)
        return 1;
    it = calloc(1, sizeof(*it));
    if (!it)
        return 1;
    if (s->fwd && len) {
        it->body = malloc(len);
        if (!it->body) {
            free(it);
            return 1;
        }
        memcpy(it->body, body, len);
        it->len = len;
        it->content = RECEIVER_CONTENT_PROTOBUF;
    }
    it->store = batch;
    it->spans = n;
    it->done = done;
    it->token = token;
    if (!enqueue(s, it)) {
        /* stopping: not processed, so not done: redelivered next time */
        free(it->body);
        free(it);
        return 1;
    }
    counter_add(&s->kafka_accepted, n);
    counter_add(&s->accepted, n);
    return 0;
}

/* ---- replay thread: an earlier run's WAL records, fed to the queue */

/* Wait until the queue has room for n spans (as the receiver's 429 rule:
 * an empty queue takes any batch). false when stopping. */
static bool replay_room(struct serve *s, size_t n)
{
    for (;;) {
        size_t q = queued_spans(s);
        if (atomic_load(&s->replay_stop))
            return false;
        if (q == 0 || q + n <= s->cfg.max_queued_spans)
            return true;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Decode one record and queue it as the request it was. The record stays
 * in the log (no done) when it cannot be queued now; one that no longer
 * decodes (another skewscope version?) is logged and done. */
static void replay_one(struct serve *s, struct wal_record *r)
{
    struct serve_item *it = calloc(1, sizeof(*it));
    struct span_store *st = span_store_create_hint(r->len / 64);
    char err[256];
    size_t n;

    if (!it || !st)
        goto keep;
    if (receiver_decode_body(r->data, r->len, r->type, false, SIZE_MAX,
                             s->cfg.clock_domain_attr, st, NULL, err,
                             sizeof(err)) < 0) {
        log_ratelimited(LOG_ERROR, 5,
                        "serve: a WAL record does not decode "
                        "(%s); dropped",
                        err);
        wal_done(r->rec);
        goto keep;
    }
    n = span_store_count(st);
    if (!replay_room(s, n))
        goto keep;
    *it = (struct serve_item){
        .store = st, .spans = n, .done = wal_done, .token = r->rec};
    if (s->fwd) {
        it->body = r->data;
        it->len = r->len;
        it->content = r->type;
        r->data = NULL;
    }
    if (!enqueue(s, it)) {
        free(it->body);
        goto keep;
    }
    counter_add(&s->replayed, n);
    free(r->data);
    return;
keep:
    free(it);
    span_store_destroy(st);
    free(r->data);
}

static void *replay_main(void *arg)
{
    struct serve *s = arg;
    struct wal_record r;
    char err[300];
    int rc;

    while (!atomic_load(&s->replay_stop) &&
           (rc = wal_replay_next(s->wal, &r, err, sizeof(err))) != 0) {
        if (rc < 0)
            log_error("serve: %s (left for the next start)", err);
        else
            replay_one(s, &r);
    }
    return NULL;
}

/* ---- pipeline thread */

/* Correct the item's body with the current model and hand it to the
 * forwarder (which then owns the done callback). */
static void forward_item(struct serve *s, struct serve_item *it)
{
    uint8_t *out = NULL;
    size_t outlen = 0;
    char err[256];
    int rc;
    bool json = it->content == RECEIVER_CONTENT_JSON;

    pthread_mutex_lock(&s->model_lock);
    if (json)
        rc = rewrite_otlp_json((const char *)it->body, it->len, s->model,
                               s->cfg.clock_domain_attr, (char **)&out, &outlen,
                               NULL, err, sizeof(err));
    else
        rc = rewrite_otlp_proto(it->body, it->len, s->model,
                                s->cfg.clock_domain_attr, &out, &outlen, NULL,
                                err, sizeof(err));
    pthread_mutex_unlock(&s->model_lock);
    if (rc < 0) {
        /* it decoded, so this is memory: forward it uncorrected rather
         * than lose it */
        log_ratelimited(LOG_WARN, 5,
                        "serve: cannot correct a batch (%s); "
                        "forwarding it as received",
                        err);
        out = it->body;
        outlen = it->len;
        it->body = NULL;
    }
    if (forward_submit(s->fwd, out, outlen,
                       json ? FORWARD_JSON : FORWARD_PROTOBUF, it->spans,
                       it->done, it->token) < 0) {
        counter_add(&s->forward_failed, it->spans);
        serve_log_event("error", "forward_refused",
                        "\"spans\":%zu,\"reason\":\"memory queue and spool "
                        "full or stopping\"",
                        it->spans);
        /* Kafka commits past it (a stuck partition helps nobody); a WAL
         * record stays in the log and is replayed by the next start */
        if (it->done && it->done != wal_done)
            it->done(it->token);
    }
    it->done = NULL;
}

static void process_item(struct serve *s, struct serve_item *it)
{
    if (it->spans &&
        assemble_add(s->asm_, it->store, clock_now_ns(CLOCK_MONOTONIC)) < 0) {
        counter_add(&s->analysis_errors, 1);
        log_ratelimited(LOG_ERROR, 5,
                        "serve: out of memory assembling "
                        "traces; batch left out of the analysis");
    }
    span_store_destroy(it->store);
    it->store = NULL;
    if (s->fwd && it->spans)
        forward_item(s, it);
    else if (it->done)
        it->done(it->token);
    free(it->body);
    counter_add(&s->processed, it->spans);
    counter_add(&s->queue_spans, -(uint64_t)it->spans);
    free(it);
}

/* Pair up one assembled generation and fold it into the statistics. */
static void analyse(struct serve *s, struct span_store *st)
{
    struct edge_list l;

    memset(&l, 0, sizeof(l));
    if (span_store_index(st) < 0 || edge_list_build(&l, st) < 0 ||
        live_add_batch(s->lv, st, &l) < 0) {
        counter_add(&s->analysis_errors, 1);
        log_ratelimited(LOG_ERROR, 5, "serve: out of memory in the analysis");
    } else {
        serve_page_note_batch(s->page, st, &l); /* traces with a violation */
        /* collectives on the clock model (this thread is its only writer) */
        serve_scrape_add_spans(s->scrape, st, s->model);
    }
    edge_list_free(&l);
    span_store_destroy(st);
}

/* The clock model the next batches are corrected with. */
static void rebuild_model(struct serve *s, const struct live_snapshot *snap)
{
    struct clock_model *m = clock_model_create();

    if (!m)
        return;
    for (size_t i = 0; i < snap->ndomains; i++) {
        const struct live_domain *d = &snap->domains[i];
        if (d->known && clock_model_set(m, d->name, d->offset_ns, d->drift_ppm,
                                        snap->at_ns) < 0) {
            clock_model_destroy(m);
            return;
        }
    }
    pthread_mutex_lock(&s->model_lock);
    struct clock_model *old = s->model;
    s->model = m;
    pthread_mutex_unlock(&s->model_lock);
    clock_model_destroy(old);
}

/* What /api/v1/windows serves (and the cluster thread merges). */
static void publish_export(struct serve *s)
{
    char *text;
    size_t len;

    if (live_export_json(s->lv, &text, &len) < 0) {
        counter_add(&s->analysis_errors, 1);
        return;
    }
    serve_publish_windows(s, text, len);
}

static void update(struct serve *s)
{
    struct live_snapshot snap;

    publish_export(s);
    if (live_update(s->lv, &snap) < 0) {
        live_snapshot_free(&snap);
        counter_add(&s->analysis_errors, 1);
        return;
    }
    rebuild_model(s, &snap);
    atomic_store(&s->warnings, snap.warnings_total);
    atomic_store(&s->pairs, snap.pairs_total);
    serve_publish(s, &snap);
}

/* Hand released generations to the analysis thread. The pipeline waits
 * (and so, through the queue cap, do the inputs) only when the analysis
 * is behind by more than max_assembly_spans. */
static void drain_assembly(struct serve *s, bool all)
{
    struct span_store *st;
    int64_t now = clock_now_ns(CLOCK_MONOTONIC);

    while ((st = assemble_take(s->asm_, now, all))) {
        size_t n = span_store_count(st);
        pthread_mutex_lock(&s->alock);
        while (s->aq_spans > 0 && s->aq_spans + n > s->cfg.max_assembly_spans)
            pthread_cond_wait(&s->awake, &s->alock);
        if (s->naq == s->aq_cap) {
            size_t cap = s->aq_cap ? s->aq_cap * 2 : 16;
            struct span_store **q = realloc(s->aq, cap * sizeof(*q));
            if (!q) {
                pthread_mutex_unlock(&s->alock);
                counter_add(&s->analysis_errors, 1);
                span_store_destroy(st);
                continue;
            }
            s->aq = q;
            s->aq_cap = cap;
        }
        s->aq[s->naq++] = st;
        s->aq_spans += n;
        pthread_cond_broadcast(&s->awake);
        pthread_mutex_unlock(&s->alock);
    }
    pthread_mutex_lock(&s->alock);
    atomic_store(&s->assembly_spans, assemble_spans(s->asm_) + s->aq_spans);
    pthread_mutex_unlock(&s->alock);
}

static void *pipeline(void *arg)
{
    struct serve *s = arg;

    for (;;) {
        struct serve_item *batch;
        bool stop;
        struct timespec until;

        until = clock_deadline(CLOCK_REALTIME, 100 * 1000000LL);
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stopping &&
               pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0)
            ;
        batch = s->head;
        s->head = s->tail = NULL;
        stop = s->stopping && !batch;
        pthread_mutex_unlock(&s->lock);

        while (batch) {
            struct serve_item *next = batch->next;
            process_item(s, batch);
            batch = next;
        }
        drain_assembly(s, stop);
        if (stop)
            break;
    }
    /* the analysis thread takes what is queued, updates a last time, ends */
    pthread_mutex_lock(&s->alock);
    s->analysis_stopping = true;
    pthread_cond_broadcast(&s->awake);
    pthread_mutex_unlock(&s->alock);
    return NULL;
}

/* The analysis thread: pairs and folds in released generations, and every
 * update interval solves the clocks, rebuilds the model and publishes. */
static void *analysis(void *arg)
{
    struct serve *s = arg;
    int64_t interval = (int64_t)(s->cfg.update_interval_s * 1e9);
    int64_t next_update = clock_now_ns(CLOCK_MONOTONIC) + interval;

    for (;;) {
        struct span_store *st = NULL;
        bool stop;
        struct timespec until;

        until = clock_deadline(CLOCK_REALTIME, 50 * 1000000LL);
        pthread_mutex_lock(&s->alock);
        while (!s->naq && !s->analysis_stopping &&
               pthread_cond_timedwait(&s->awake, &s->alock, &until) == 0)
            ;
        if (s->naq) {
            st = s->aq[0];
            memmove(s->aq, s->aq + 1, (s->naq - 1) * sizeof(*s->aq));
            s->naq--;
        }
        stop = s->analysis_stopping && !st;
        pthread_mutex_unlock(&s->alock);
        if (st) {
            size_t n = span_store_count(st);
            analyse(s, st);
            pthread_mutex_lock(&s->alock);
            s->aq_spans -= n; /* counted until analysed */
            pthread_cond_broadcast(&s->awake);
            pthread_mutex_unlock(&s->alock);
        }
        if (clock_now_ns(CLOCK_MONOTONIC) >= next_update || stop) {
            update(s);
            next_update = clock_now_ns(CLOCK_MONOTONIC) + interval;
        }
        if (stop)
            break;
    }
    return NULL;
}

/* ---- start and stop */

static void config_defaults(struct serve_config *c)
{
    if (!c->listen)
        c->listen = "127.0.0.1:4318";
    if (!(c->assembly_window_s > 0))
        c->assembly_window_s = 2;
    if (!c->max_queued_spans)
        c->max_queued_spans = 1000000;
    if (!c->max_assembly_spans)
        c->max_assembly_spans = 2000000;
    if (!(c->update_interval_s > 0))
        c->update_interval_s = 1;
    if (!c->kafka_group)
        c->kafka_group = "skewscope";
    if (!c->forward_kafka_brokers)
        c->forward_kafka_brokers = c->kafka_brokers;
    if (!c->shutdown_grace_ms)
        c->shutdown_grace_ms = 5000;
    if (!c->peer_timeout_ms)
        c->peer_timeout_ms = 500;
}

static int start_analysis(struct serve *s, char *err, size_t errlen)
{
    struct live_opts lo;

    live_opts_init(&lo);
    if (s->cfg.stat_window_s > 0)
        lo.window_s = s->cfg.stat_window_s;
    if (s->cfg.max_windows)
        lo.max_windows = s->cfg.max_windows;
    if (s->cfg.warn_share > 0)
        lo.warn_share = s->cfg.warn_share;
    lo.reference = s->cfg.reference;
    s->live_opts = lo;
    s->lv = live_create(&lo);
    s->asm_ =
        assemble_create(s->cfg.assembly_window_s, s->cfg.max_assembly_spans);
    s->model = clock_model_create();
    s->page = serve_page_create(&(struct serve_page_config){
        .history_span_s = lo.window_s * lo.max_windows,
        .warn_share = lo.warn_share,
        .token_required = s->cfg.bearer_token != NULL});
    if (!s->lv || !s->asm_ || !s->model || !s->page) {
        snprintf(err, errlen,
                 "serve: invalid analysis settings (window %gs, "
                 "%u windows, warn share %g) or out of memory",
                 lo.window_s, lo.max_windows, lo.warn_share);
        return -1;
    }
    publish_export(s); /* /api/v1/windows answers from the start */
    return 0;
}

/* Live imbalance detection on the --scrape targets (serve_scrape.h). */
static int start_scrape(struct serve *s, char *err, size_t errlen)
{
    struct serve_scrape_config sc = {
        .targets = s->cfg.scrape_targets,
        .ntargets = s->cfg.nscrape_targets,
        .interval_s = s->cfg.scrape_interval_s,
        .timeout_s = s->cfg.scrape_timeout_s,
        .runbooks = s->cfg.runbooks,
        .nrunbooks = s->cfg.nrunbooks,
        .sets = s->cfg.runbook_sets,
        .nsets = s->cfg.nrunbook_sets,
        /* a trace reaches the analysis one assembly window after its last
         * span, then waits at most a pipeline tick (100 ms) */
        .trace_lag_s = s->cfg.assembly_window_s + 0.5,
    };

    if (!s->cfg.nscrape_targets)
        return 0;
    s->scrape = serve_scrape_start(&sc, s->page, err, errlen);
    return s->scrape ? 0 : -1;
}

static int start_forward(struct serve *s, char *err, size_t errlen)
{
    struct forward_config fc;

    if (!s->cfg.forward_otlp && !s->cfg.forward_kafka_topic)
        return 0;
    memset(&fc, 0, sizeof(fc));
    fc.otlp_endpoint = s->cfg.forward_otlp;
    fc.otlp_token = s->cfg.forward_token;
    if (s->cfg.forward_kafka_topic) {
        fc.kafka_brokers = s->cfg.forward_kafka_brokers;
        fc.kafka_topic = s->cfg.forward_kafka_topic;
    }
    fc.spool_dir = s->cfg.spool_dir;
    fc.spool_max_bytes = s->cfg.spool_max_bytes;
    fc.backoff_max_ms = s->cfg.forward_backoff_max_ms;
    s->fwd = forward_start(&fc, err, errlen);
    return s->fwd ? 0 : -1;
}

/* "DIR-wal" next to the spool directory DIR (trailing slashes dropped). */
static char *default_wal_dir(const char *spool_dir)
{
    const char *d = spool_dir ? spool_dir : "skewscope-spool";
    size_t n = strlen(d);
    char *p;

    while (n > 1 && d[n - 1] == '/')
        n--;
    if ((p = malloc(n + sizeof("-wal"))) != NULL) {
        memcpy(p, d, n);
        memcpy(p + n, "-wal", sizeof("-wal"));
    }
    return p;
}

/* The write-ahead log, unless memory mode (see serve.h: Durability). */
static int start_wal(struct serve *s, char *err, size_t errlen)
{
    struct wal_config wc;
    bool forwarding = s->cfg.forward_otlp || s->cfg.forward_kafka_topic;

    if (s->cfg.durability == SERVE_DURABILITY_MEMORY ||
        (s->cfg.durability == SERVE_DURABILITY_DEFAULT && !forwarding))
        return 0;
    memset(&wc, 0, sizeof(wc));
    wc.dir = s->cfg.wal_dir;
    if (!wc.dir &&
        !(wc.dir = s->wal_dir_owned = default_wal_dir(s->cfg.spool_dir))) {
        snprintf(err, errlen, "serve: out of memory");
        return -1;
    }
    wc.segment_bytes = s->cfg.wal_segment_bytes;
    wc.no_fsync = s->cfg.wal_no_fsync;
    wc.fsync_fn = s->cfg.wal_fsync_fn;
    s->wal = wal_open(&wc, err, errlen);
    return s->wal ? 0 : -1;
}

static int start_replay(struct serve *s, char *err, size_t errlen)
{
    if (!s->wal)
        return 0;
    if (pthread_create(&s->replay_thread, NULL, replay_main, s) != 0) {
        snprintf(err, errlen, "serve: cannot start the WAL replay thread");
        return -1;
    }
    s->replay_started = true;
    return 0;
}

/* OTLP/gRPC input: the same handler (on_http), limits and token as HTTP. */
static int start_grpc(struct serve *s, char *err, size_t errlen)
{
    struct receiver_grpc_config gc;

    memset(&gc, 0, sizeof(gc));
    gc.listen = s->cfg.grpc_listen;
    gc.bearer_token = s->cfg.bearer_token;
    gc.max_body_bytes = s->cfg.max_body_bytes;
    gc.max_decompressed_bytes = s->cfg.max_decompressed_bytes;
    gc.max_queued_spans = s->cfg.max_queued_spans;
    gc.queued_spans = queued_spans;
    gc.max_connections = s->cfg.max_connections;
    gc.body_timeout_ms = s->cfg.body_timeout_ms;
    gc.body_min_rate = s->cfg.body_min_rate;
    gc.shutdown_grace_ms = s->cfg.shutdown_grace_ms;
    gc.clock_domain_attr = s->cfg.clock_domain_attr;
    gc.body_handler = on_http;
    s->grx = receiver_grpc_start(&gc, s, err, errlen);
    if (!s->grx && !s->cfg.grpc_listen_optional)
        return -1;
    if (!s->grx) {
        log_warn("serve: %s; OTLP/gRPC input off", err);
        err[0] = '\0';
        return 0;
    }
    atomic_store(&s->grx_routes, s->grx);
    return 0;
}

static int start_inputs(struct serve *s, char *err, size_t errlen)
{
    struct receiver_route routes[4 + SERVE_PAGE_NROUTES] = {
        {.path = "/metrics", .fn = serve_metrics_route, .ctx = s},
        {.path = "/api/v1/status", .fn = serve_status_route, .ctx = s},
        {.path = "/api/v1/windows", .fn = serve_windows_route, .ctx = s},
        {.path = "/api/v1/cluster", .fn = serve_cluster_route, .ctx = s},
    };
    struct receiver_config rc;

    memset(&rc, 0, sizeof(rc));
    rc.listen = s->cfg.listen;
    rc.bearer_token = s->cfg.bearer_token;
    rc.max_body_bytes = s->cfg.max_body_bytes;
    rc.max_decompressed_bytes = s->cfg.max_decompressed_bytes;
    rc.max_queued_spans = s->cfg.max_queued_spans;
    rc.queued_spans = queued_spans;
    rc.threads = s->cfg.http_threads;
    rc.clock_domain_attr = s->cfg.clock_domain_attr;
    rc.max_connections = s->cfg.max_connections;
    rc.max_connections_per_ip = s->cfg.max_connections_per_ip;
    rc.header_timeout_ms = s->cfg.header_timeout_ms;
    rc.body_timeout_ms = s->cfg.body_timeout_ms;
    rc.body_min_rate = s->cfg.body_min_rate;
    rc.idle_timeout_s = s->cfg.idle_timeout_s;
    rc.shutdown_grace_ms = s->cfg.shutdown_grace_ms;
    rc.body_handler = on_http;
    rc.routes = routes;
    rc.nroutes = 4 + serve_page_routes(s->page, routes + 4); /* GET / ... */
    s->rx = receiver_start(&rc, NULL, s, err, errlen);
    if (!s->rx)
        return -1;
    atomic_store(&s->rx_routes, s->rx);
    if (s->cfg.grpc_listen && start_grpc(s, err, errlen) < 0)
        return -1;
    if (s->cfg.kafka_topic) {
        struct kafka_in_config kc;
        memset(&kc, 0, sizeof(kc));
        kc.brokers = s->cfg.kafka_brokers;
        kc.topic = s->cfg.kafka_topic;
        kc.group_id = s->cfg.kafka_group;
        kc.clock_domain_attr = s->cfg.clock_domain_attr;
        kc.max_decompressed_bytes = s->cfg.max_decompressed_bytes;
        s->kin = kafka_in_start(&kc, on_kafka, s, err, errlen);
        if (!s->kin)
            return -1;
    }
    return 0;
}

struct serve *serve_start(const struct serve_config *cfg, char *err,
                          size_t errlen)
{
    struct serve *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(err, errlen, "serve: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    config_defaults(&s->cfg);
    serve_memory_tune(); /* before any thread allocates */
    s->started_mono_ns = clock_now_ns(CLOCK_MONOTONIC);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->pub_lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_mutex_init(&s->alock, NULL);
    pthread_cond_init(&s->awake, NULL);
    pthread_mutex_init(&s->model_lock, NULL);
    pthread_mutex_init(&s->cluster_lock, NULL);
    pthread_cond_init(&s->cluster_wake, NULL);
    if (s->cfg.kafka_topic && !s->cfg.kafka_brokers) {
        snprintf(err, errlen, "serve: Kafka input needs brokers");
        goto fail;
    }
    if (start_analysis(s, err, errlen) < 0 ||
        start_scrape(s, err, errlen) < 0 || start_forward(s, err, errlen) < 0 ||
        start_wal(s, err, errlen) < 0)
        goto fail;
    if (pthread_create(&s->analysis_thread, NULL, analysis, s) != 0) {
        snprintf(err, errlen, "serve: cannot start the analysis thread");
        goto fail;
    }
    s->analysis_started = true;
    if (pthread_create(&s->thread, NULL, pipeline, s) != 0) {
        snprintf(err, errlen, "serve: cannot start the pipeline thread");
        goto fail;
    }
    s->thread_started = true;
    /* before the inputs: the routes read what start_cluster sets up, and
     * the replayed requests queue ahead of new ones */
    if (serve_cluster_start(s, err, errlen) < 0 ||
        start_replay(s, err, errlen) < 0 || start_inputs(s, err, errlen) < 0)
        goto fail;
    s->started = true;
    return s;
fail:
    serve_stop(s);
    return NULL;
}

int serve_port(const struct serve *s)
{
    return s->rx ? receiver_port(s->rx) : -1;
}

int serve_grpc_port(const struct serve *s)
{
    return s->grx ? receiver_grpc_port(s->grx) : -1;
}

void serve_counters_read(struct serve *s, struct serve_counters *out)
{
    struct receiver_counters rc = s->final_rx;
    struct receiver *rx = atomic_load(&s->rx_routes);

    memset(out, 0, sizeof(*out));
    if (rx)
        receiver_counters_read(rx, &rc);
    out->received = rc.spans_received;
    out->rejected = rc.spans_rejected;
    out->throttled = rc.spans_throttled;
    out->invalid = rc.spans_invalid;
    struct receiver_grpc_counters gc = s->final_grx;
    struct receiver_grpc *grx = atomic_load(&s->grx_routes);
    if (grx)
        receiver_grpc_counters_read(grx, &gc);
    out->received += gc.spans_received;
    out->rejected += gc.spans_rejected;
    out->throttled += gc.spans_throttled;
    out->invalid += gc.spans_invalid;
    if (s->kin) {
        struct kafka_in_counters kc;
        kafka_in_counters_read(s->kin, &kc);
        out->received += kc.spans;
        out->invalid += kc.invalid_spans;
    }
    out->accepted = counter_get(&s->accepted);
    out->processed = counter_get(&s->processed);
    /* the forwarder's final counters once it has stopped (zero without) */
    struct forward_counters fc = s->final_fwd;
    if (s->fwd)
        forward_counters_read(s->fwd, &fc);
    out->forwarded = fc.forwarded_spans;
    out->dropped = fc.dropped_spans;
    out->spooled = fc.spooled_spans;
    out->dropped += counter_get(&s->forward_failed);
    out->queue_spans = queued_spans(s);
    out->assembly_spans = counter_get(&s->assembly_spans);
    out->warnings = counter_get(&s->warnings);
    out->pairs = counter_get(&s->pairs);
    out->violations = counter_get(&s->violations);
    out->replayed = counter_get(&s->replayed);
}

static void log_summary(struct serve *s)
{
    struct serve_counters c;

    serve_counters_read(s, &c);
    serve_log_event("info", "stopped",
                    "\"spans_received\":%" PRIu64 ",\"spans_accepted\":%" PRIu64
                    ",\"spans_processed\":%" PRIu64
                    ",\"spans_forwarded\":%" PRIu64
                    ",\"spans_spooled\":%" PRIu64 ",\"spans_dropped\":%" PRIu64
                    ",\"warnings\":%" PRIu64 ",\"spans_replayed\":%" PRIu64
                    ",\"spans_invalid\":%" PRIu64,
                    c.received, c.accepted, c.processed, c.forwarded, c.spooled,
                    c.dropped, c.warnings, c.replayed, c.invalid);
}

int serve_stop(struct serve *s)
{
    int rc;

    if (!s)
        return 0;
    /* 0: no more cluster rounds (at most one fetch timeout) */
    serve_cluster_stop(s);
    /* 1: no new input; requests in flight finish and are queued */
    if (s->kin)
        kafka_in_halt(s->kin);
    receiver_stop_counters(s->rx, &s->final_rx);
    s->rx = NULL;
    atomic_store(&s->rx_routes, NULL);
    if (s->grx) {
        receiver_grpc_stop(s->grx, &s->final_grx);
        s->grx = NULL;
        atomic_store(&s->grx_routes, NULL);
    }
    if (s->replay_started) {
        /* what it has not queued stays in the WAL for the next start */
        atomic_store(&s->replay_stop, true);
        pthread_join(s->replay_thread, NULL);
        s->replay_started = false;
    }
    /* 2: the pipeline processes the queue and releases every trace; the
     * analysis thread folds them in and updates a last time */
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    if (s->analysis_started) {
        /* (also when the pipeline never ran: a failed start) */
        pthread_mutex_lock(&s->alock);
        s->analysis_stopping = true;
        pthread_cond_broadcast(&s->awake);
        pthread_mutex_unlock(&s->alock);
        pthread_join(s->analysis_thread, NULL);
    }
    atomic_store(&s->assembly_spans, 0);
    /* 3: deliver or spool; every done callback has run after this */
    if (s->fwd) {
        struct forward_counters fc;
        forward_stop(s->fwd, s->cfg.shutdown_grace_ms, &fc);
        s->fwd = NULL;
        s->final_fwd = fc;
        counter_add(&s->forward_failed, fc.lost_spans);
    }
    if (s->started)
        log_summary(s);
    /* 4: commit what is done, leave the group; the WAL keeps only what
     * could be neither delivered nor spooled (replayed next start) */
    kafka_in_stop(s->kin, s->cfg.shutdown_grace_ms);
    s->kin = NULL;
    wal_close(s->wal);
    s->wal = NULL;
    free(s->wal_dir_owned);
    rc = counter_get(&s->forward_failed) ? -1 : 0;
    /* after the analysis thread (which feeds it) and the HTTP threads */
    serve_scrape_destroy(s->scrape);
    s->scrape = NULL;
    serve_published_free(s);
    serve_page_destroy(s->page);
    assemble_destroy(s->asm_);
    live_destroy(s->lv);
    clock_model_destroy(s->model);
    for (size_t i = 0; i < s->naq; i++)
        span_store_destroy(s->aq[i]);
    free(s->aq);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->awake);
    pthread_mutex_destroy(&s->alock);
    pthread_mutex_destroy(&s->model_lock);
    pthread_cond_destroy(&s->cluster_wake);
    pthread_mutex_destroy(&s->cluster_lock);
    pthread_mutex_destroy(&s->pub_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return rc;
}
