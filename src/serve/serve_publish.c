/* serve_publish: what `skewscope serve` tells the world: the Prometheus
 * text exposition on /metrics, the JSON on /api/v1/status, the exported
 * statistics on /api/v1/windows, the cluster view on /api/v1/cluster, and
 * structured log lines (one JSON object per line on stderr) for warnings
 * and violations. The pipeline thread publishes a snapshot and an export
 * after every live_update, the cluster thread the cluster view after every
 * round; HTTP threads render from them under pub_lock, with the counters
 * read live. */
#include "serve/serve_private.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "serve/forward.h"
#include "serve/kafka_in.h"
#include "serve/receiver.h"
#include "serve/serve_memory.h"
#include "serve/serve_page.h"
#include "serve/serve_scrape.h"

/* malloc_trim at most this often (it runs after an update). */
#define TRIM_INTERVAL_NS (1000 * 1000000LL)
#include "serve/wal.h"
#include "util/counter.h"
#include "util/json_esc.h"
#include "util/log.h"
#include "ingest/prom_common.h"
#include "util/clock.h"

/* ---- structured log lines */

void serve_log_event(const char *level, const char *event,
                     const char *fields_fmt, ...)
{
    va_list ap;

    va_start(ap, fields_fmt);
    log_vevent(level, event, fields_fmt, ap);
    va_end(ap);
}

/* JSON string body of s (names come from span attributes: escape). */
static const char *jesc(const char *s, char *buf, size_t len)
{
    json_esc_copy(buf, len, s, false);
    return buf;
}

void serve_log_peer(const char *url, bool ok, const char *error)
{
    char u[512], e[512];

    if (ok)
        serve_log_event("info", "peer_up", "\"url\":\"%s\"",
                        jesc(url, u, sizeof(u)));
    else
        serve_log_event("warn", "peer_down", "\"url\":\"%s\",\"error\":\"%s\"",
                        jesc(url, u, sizeof(u)), jesc(error, e, sizeof(e)));
}

static const struct live_edge *find_edge(const struct live_snapshot *snap,
                                         const struct live_edge *e)
{
    /* names are interned by the struct live: pointers compare */
    for (size_t i = 0; i < snap->nedges; i++)
        if (snap->edges[i].from == e->from && snap->edges[i].to == e->to)
            return &snap->edges[i];
    return NULL;
}

/* One warning line on stderr, and in the page's ring (serve_page.h). */
static void log_edge(struct serve_page *page, const char *level,
                     const char *event, const struct live_edge *e,
                     uint64_t new_violations)
{
    char from[256], to[256], exhaust[48], budget[48];

    if (e->exhausts)
        snprintf(exhaust, sizeof(exhaust), "%.3f", e->exhaust_in_s);
    else
        snprintf(exhaust, sizeof(exhaust), "null");
    if (e->has_budget)
        snprintf(budget, sizeof(budget), "%" PRId64, e->skew_budget_ns);
    else
        snprintf(budget, sizeof(budget), "null");
    serve_log_event(
        level, event,
        "\"from\":\"%s\",\"to\":\"%s\",\"relative_offset_ns\":%" PRId64
        ",\"drift_ppm\":%.3f,\"skew_budget_ns\":%s,"
        "\"budget_used_ratio\":%.4f,\"exhausts_in_s\":%s,"
        "\"pairs\":%" PRIu64 ",\"violations\":%" PRIu64
        ",\"new_violations\":%" PRIu64,
        jesc(e->from, from, sizeof(from)), jesc(e->to, to, sizeof(to)),
        e->offset_ns, e->drift_ppm, budget, e->budget_used_ratio, exhaust,
        e->pairs_total, e->violations_total, new_violations);
    serve_page_note_warning(page, level, event, e, new_violations);
}

/* Warnings raised by this update, and edges whose violations grew. */
static void log_changes(struct serve_page *page,
                        const struct live_snapshot *old,
                        const struct live_snapshot *snap)
{
    for (size_t i = 0; i < snap->nedges; i++) {
        const struct live_edge *e = &snap->edges[i];
        const struct live_edge *o = old ? find_edge(old, e) : NULL;
        uint64_t before = o ? o->violations_total : 0;

        if (e->new_warning)
            log_edge(page, "warn", "skew_budget_warning", e, 0);
        if (e->violations_total > before)
            log_edge(page, "warn", "causality_violations", e,
                     e->violations_total - before);
    }
}

static int64_t unix_now_ns(void)
{
    return clock_now_ns(CLOCK_REALTIME);
}

void serve_publish(struct serve *s, struct live_snapshot *snap)
{
    struct live_snapshot old;
    uint64_t violations = 0;
    bool had;

    for (size_t i = 0; i < snap->nedges; i++)
        violations += snap->edges[i].violations_total;
    atomic_store(&s->violations, violations);
    pthread_mutex_lock(&s->pub_lock);
    old = s->pub.snap;
    had = s->pub.valid;
    s->pub.snap = *snap;
    s->pub.valid = true;
    s->pub.updated_unix_ns = unix_now_ns();
    pthread_mutex_unlock(&s->pub_lock);
    memset(snap, 0, sizeof(*snap));
    /* old is only the pipeline thread's now */
    log_changes(s->page, had ? &old : NULL, &s->pub.snap);
    serve_page_note_update(s->page, &s->pub.snap, s->pub.updated_unix_ns);
    if (had)
        live_snapshot_free(&old);
    /* the generations analysed since the last update are freed: give
     * their pages back (a few ms at most, on this thread) */
    serve_memory_trim(TRIM_INTERVAL_NS);
}

void serve_publish_windows(struct serve *s, char *text, size_t len)
{
    char *old;

    if (!text)
        return;
    pthread_mutex_lock(&s->pub_lock);
    old = s->pub.windows;
    s->pub.windows = text;
    s->pub.windows_len = len;
    pthread_mutex_unlock(&s->pub_lock);
    free(old);
}

void serve_publish_cluster(struct serve *s, struct live *lv,
                           struct live_snapshot *snap,
                           const struct serve_peer_status *peers)
{
    struct serve_cluster old;
    size_t up = 0;

    for (size_t i = 0; i < s->cfg.npeers; i++)
        up += peers[i].ok;
    pthread_mutex_lock(&s->pub_lock);
    old = s->cluster;
    s->cluster.lv = lv;
    s->cluster.snap = *snap;
    s->cluster.valid = true;
    s->cluster.updated_unix_ns = unix_now_ns();
    memcpy(s->cluster.peers, peers, s->cfg.npeers * sizeof(*peers));
    s->cluster.peers_up = up;
    pthread_mutex_unlock(&s->pub_lock);
    memset(snap, 0, sizeof(*snap));
    if (old.valid)
        live_snapshot_free(&old.snap);
    live_destroy(old.lv);
}

void serve_published_free(struct serve *s)
{
    if (s->pub.valid)
        live_snapshot_free(&s->pub.snap);
    s->pub.valid = false;
    free(s->pub.windows);
    s->pub.windows = NULL;
    if (s->cluster.valid)
        live_snapshot_free(&s->cluster.snap);
    s->cluster.valid = false;
    live_destroy(s->cluster.lv);
    s->cluster.lv = NULL;
    free(s->cluster.peers);
    s->cluster.peers = NULL;
}

/* ---- /metrics */

struct prom {
    FILE *f;
};

/* Label value escaping (text exposition format). */
static void put_label(FILE *f, const char *v)
{
    prom_put_escaped(f, v, true);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(FILE *f, const char *name, const char *type,
                   const char *help, double v)
{
    head(f, name, type, help);
    fprintf(f, "%s %.15g\n", name, v);
}

static void sample_domain(FILE *f, const char *name, const char *domain,
                          double v)
{
    fprintf(f, "%s{domain=\"", name);
    put_label(f, domain);
    if (isinf(v))
        fprintf(f, "\"} %s\n", v > 0 ? "+Inf" : "-Inf");
    else
        fprintf(f, "\"} %.15g\n", v);
}

static void sample_edge(FILE *f, const char *name, const struct live_edge *e,
                        double v)
{
    fprintf(f, "%s{from=\"", name);
    put_label(f, e->from);
    fputs("\",to=\"", f);
    put_label(f, e->to);
    if (isinf(v))
        fprintf(f, "\"} %s\n", v > 0 ? "+Inf" : "-Inf");
    else
        fprintf(f, "\"} %.15g\n", v);
}

static void domain_metrics(FILE *f, const struct live_snapshot *sn)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"skewscope_clock_offset_seconds", "gauge",
         "Estimated clock offset (domain clock - reference clock), s; "
         "positive = ahead"},
        {"skewscope_clock_offset_lower_seconds", "gauge",
         "Lowest offset the traces allow, s (-Inf: unbounded)"},
        {"skewscope_clock_offset_upper_seconds", "gauge",
         "Highest offset the traces allow, s (+Inf: unbounded)"},
        {"skewscope_clock_drift_ppm", "gauge",
         "Clock drift relative to the reference, ppm; positive = fast"},
        {"skewscope_clock_pairs_total", "counter",
         "Edge pairs touching the domain"},
    };
    for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        head(f, m[k].name, m[k].type, m[k].help);
        for (size_t i = 0; i < sn->ndomains; i++) {
            const struct live_domain *d = &sn->domains[i];
            double v;
            if (!d->known && k < 4)
                continue;
            switch (k) {
            case 0:
                v = d->offset_ns * 1e-9;
                break;
            case 1:
                v = d->has_lower ? d->lower_ns * 1e-9 : -INFINITY;
                break;
            case 2:
                v = d->has_upper ? d->upper_ns * 1e-9 : INFINITY;
                break;
            case 3:
                v = d->drift_ppm;
                break;
            default:
                v = (double)d->pairs;
                break;
            }
            sample_domain(f, m[k].name, d->name, v);
        }
    }
}

static void edge_metrics(FILE *f, const struct live_snapshot *sn)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"skewscope_edge_pairs_total", "counter", "Parent/child pairs seen"},
        {"skewscope_edge_violations_total", "counter",
         "Pairs violating causality (child starts before parent, or ends "
         "after a synchronous parent)"},
        {"skewscope_edge_skew_budget_seconds", "gauge",
         "Relative offset the edge can take before pairs violate, s"},
        {"skewscope_edge_budget_used_ratio", "gauge",
         "Share of the skew budget the relative offset uses"},
        {"skewscope_edge_relative_offset_seconds", "gauge",
         "offset(to) - offset(from), s"},
        {"skewscope_edge_drift_ppm", "gauge", "drift(to) - drift(from), ppm"},
        {"skewscope_edge_warning", "gauge",
         "1 while the budget used is over the warning share"},
        {"skewscope_edge_budget_exhausted_in_seconds", "gauge",
         "Time until the budget runs out at the current drift, s "
         "(0: already exhausted; +Inf: never)"},
    };
    for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        head(f, m[k].name, m[k].type, m[k].help);
        for (size_t i = 0; i < sn->nedges; i++) {
            const struct live_edge *e = &sn->edges[i];
            double v;
            if ((k == 2 || k == 3 || k == 7) && !e->has_budget)
                continue;
            switch (k) {
            case 0:
                v = (double)e->pairs_total;
                break;
            case 1:
                v = (double)e->violations_total;
                break;
            case 2:
                v = e->skew_budget_ns * 1e-9;
                break;
            case 3:
                v = e->budget_used_ratio;
                break;
            case 4:
                v = e->offset_ns * 1e-9;
                break;
            case 5:
                v = e->drift_ppm;
                break;
            case 6:
                v = e->warning ? 1 : 0;
                break;
            default:
                v = e->exhausts ? e->exhaust_in_s : INFINITY;
                break;
            }
            sample_edge(f, m[k].name, e, v);
        }
    }
}

static void counter_metrics(FILE *f, struct serve *s)
{
    struct serve_counters c;

    serve_counters_read(s, &c);
    scalar(f, "skewscope_spans_received_total", "counter",
           "Spans decoded from requests and Kafka messages", c.received);
    scalar(f, "skewscope_spans_accepted_total", "counter",
           "Spans taken in (acknowledged to HTTP senders)", c.accepted);
    scalar(f, "skewscope_spans_rejected_total", "counter",
           "Spans refused in a partial_success", c.rejected);
    scalar(f, "skewscope_spans_throttled_total", "counter",
           "Spans of requests refused with 429/503 after decoding (requests "
           "refused before: skewscope_http_throttled_requests_total)",
           c.throttled);
    scalar(f, "skewscope_spans_invalid_total", "counter",
           "Spans left out of the analysis and of every other span count "
           "(no trace or span ID, no timestamp); forwarded unchanged",
           c.invalid);
    scalar(f, "skewscope_spans_processed_total", "counter",
           "Spans through assembly and correction", c.processed);
    scalar(f, "skewscope_spans_forwarded_total", "counter",
           "Corrected spans acknowledged downstream", c.forwarded);
    scalar(f, "skewscope_spans_spooled_total", "counter",
           "Spans written to the on-disk spool", c.spooled);
    scalar(f, "skewscope_spans_dropped_total", "counter",
           "Spans refused permanently downstream", c.dropped);
    scalar(f, "skewscope_queue_spans", "gauge",
           "Spans waiting for processing or delivery in memory", c.queue_spans);
    scalar(f, "skewscope_assembly_spans", "gauge",
           "Spans held for trace assembly", c.assembly_spans);
    scalar(f, "skewscope_warnings_total", "counter",
           "Skew budget warnings raised", c.warnings);
}

static void labelled(FILE *f, const char *name, const char *label,
                     const char *value, uint64_t v)
{
    fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, value,
            (unsigned long long)v);
}

static void connection_metrics(FILE *f, const struct receiver_counters *rc)
{
    static const char to[] = "skewscope_http_connections_timed_out_total";

    scalar(f, "skewscope_http_connections", "gauge",
           "HTTP connections open now", (double)rc->connections_open);
    scalar(f, "skewscope_http_connections_accepted_total", "counter",
           "HTTP connections accepted", (double)rc->connections_accepted);
    scalar(f, "skewscope_http_connections_refused_total", "counter",
           "HTTP connections closed at accept: over --max-connections or "
           "--max-connections-per-ip",
           (double)rc->connections_refused);
    head(f, to, "counter",
         "HTTP connections closed for missing a deadline: request headers "
         "(--header-timeout) or body (--body-timeout, --body-min-rate)");
    labelled(f, to, "phase", "header", rc->connections_timed_out_header);
    labelled(f, to, "phase", "body", rc->connections_timed_out_body);
}

static void http_metrics(FILE *f, struct serve *s)
{
    static const char th[] = "skewscope_http_throttled_requests_total";
    struct receiver_counters rc;
    char code[16];
    struct receiver *rx = atomic_load(&s->rx_routes);

    if (!rx)
        return;
    receiver_counters_read(rx, &rc);
    head(f, "skewscope_http_requests_total", "counter",
         "HTTP requests answered, by status code (also the errors "
         "libmicrohttpd answers itself: 400, 414, 431, ...)");
    for (size_t i = 0; i < RECEIVER_NSTATUS; i++) {
        snprintf(code, sizeof(code), "%u", receiver_status_codes[i]);
        labelled(f, "skewscope_http_requests_total", "code", code,
                 rc.requests[i]);
    }
    labelled(f, "skewscope_http_requests_total", "code", "other",
             rc.requests_other);
    head(f, th, "counter",
         "POST /v1/traces refused with 429/503: stage=\"headers\" before "
         "the body was read (its spans unknown, so not in "
         "skewscope_spans_throttled_total), stage=\"decoded\" after (its "
         "spans are)");
    labelled(f, th, "stage", "headers", rc.requests_throttled_undecoded);
    labelled(f, th, "stage", "decoded", rc.requests_throttled_decoded);
    scalar(f, "skewscope_http_received_bytes_total", "counter",
           "Request body bytes as sent", (double)rc.bytes_received);
    scalar(f, "skewscope_http_requests_waiting", "gauge",
           "POST /v1/traces requests written to the write-ahead log and "
           "waiting for its fsync before they are answered",
           (double)rc.requests_waiting);
    connection_metrics(f, &rc);
}

static void memory_metrics(FILE *f)
{
    struct serve_memory_usage m;

    serve_memory_read(&m);
    scalar(f, "process_resident_memory_bytes", "gauge",
           "Resident memory size in bytes", (double)m.rss_bytes);
    scalar(f, "skewscope_heap_in_use_bytes", "gauge",
           "Bytes allocated on the heap (malloc), mapped blocks included",
           (double)m.heap_in_use);
    scalar(f, "skewscope_heap_free_bytes", "gauge",
           "Free bytes the allocator holds in its arenas", (double)m.heap_free);
    scalar(f, "skewscope_heap_trims_total", "counter",
           "Times free heap pages were given back to the system (malloc_trim)",
           (double)m.trims);
    scalar(f, "skewscope_heap_trim_seconds_total", "counter",
           "Time those took, s", (double)m.trim_ns_total * 1e-9);
}

static void transport_metrics(FILE *f, struct serve *s)
{
    struct receiver_grpc *grx = atomic_load(&s->grx_routes);

    http_metrics(f, s);
    if (grx) {
        struct receiver_grpc_counters gc;
        receiver_grpc_counters_read(grx, &gc);
        receiver_grpc_write_metrics(&gc, f);
    }
    if (s->fwd) {
        struct forward_counters fc;
        forward_counters_read(s->fwd, &fc);
        scalar(f, "skewscope_spool_spans", "gauge", "Spans in the spool",
               fc.spool_spans);
        scalar(f, "skewscope_spool_bytes", "gauge", "Bytes in the spool",
               fc.spool_bytes);
        scalar(f, "skewscope_forward_retries_total", "counter",
               "Failed delivery attempts", fc.retries);
        scalar(f, "skewscope_downstream_up", "gauge",
               "1 when the last delivery attempt succeeded", fc.downstream_up);
    }
    if (s->kin) {
        struct kafka_in_counters kc;
        kafka_in_counters_read(s->kin, &kc);
        scalar(f, "skewscope_kafka_messages_total", "counter",
               "Kafka messages decoded", kc.messages);
        scalar(f, "skewscope_kafka_rejected_messages_total", "counter",
               "Kafka messages that did not decode", kc.rejected_messages);
        scalar(f, "skewscope_kafka_committed_messages_total", "counter",
               "Kafka messages processed and marked for commit",
               kc.committed_messages);
    }
}

/* The cluster view, under the caller's pub_lock. The sums are gauges:
 * they fall when a peer drops out or restarts. */
static void cluster_metrics(FILE *f, struct serve *s)
{
    const struct serve_cluster *c = &s->cluster;

    scalar(f, "skewscope_cluster_peers", "gauge", "Peers configured (--peer)",
           (double)s->cfg.npeers);
    scalar(f, "skewscope_cluster_peers_up", "gauge",
           "Peers whose statistics the last cluster round merged",
           (double)c->peers_up);
    if (!c->valid)
        return;
    head(f, "skewscope_cluster_clock_offset_seconds", "gauge",
         "Cluster-wide estimated clock offset (domain clock - reference "
         "clock), s; positive = ahead");
    for (size_t i = 0; i < c->snap.ndomains; i++)
        if (c->snap.domains[i].known)
            sample_domain(f, "skewscope_cluster_clock_offset_seconds",
                          c->snap.domains[i].name,
                          c->snap.domains[i].offset_ns * 1e-9);
    /* gauges, not counters (they fall when a peer drops out), so no
     * _total suffix */
    head(f, "skewscope_cluster_edge_pairs", "gauge",
         "Parent/child pairs seen by this instance and the reachable peers "
         "(falls when a peer drops out)");
    for (size_t i = 0; i < c->snap.nedges; i++)
        sample_edge(f, "skewscope_cluster_edge_pairs", &c->snap.edges[i],
                    (double)c->snap.edges[i].pairs_total);
    head(f, "skewscope_cluster_edge_violations", "gauge",
         "Pairs violating causality, this instance and the reachable peers "
         "(falls when a peer drops out)");
    for (size_t i = 0; i < c->snap.nedges; i++)
        sample_edge(f, "skewscope_cluster_edge_violations", &c->snap.edges[i],
                    (double)c->snap.edges[i].violations_total);
}

/* The write-ahead log of HTTP requests (--durability wal; absent in
 * memory mode). */
static void wal_metrics(FILE *f, struct serve *s)
{
    struct wal_stats w;

    if (!s->wal)
        return;
    wal_stats_read(s->wal, &w);
    scalar(f, "skewscope_wal_appended_records_total", "counter",
           "Requests written to the write-ahead log before their 200",
           (double)w.appended_records);
    scalar(f, "skewscope_wal_appended_spans_total", "counter",
           "Spans written to the write-ahead log", (double)w.appended_spans);
    scalar(f, "skewscope_wal_appended_bytes_total", "counter",
           "Bytes written to the write-ahead log", (double)w.appended_bytes);
    scalar(f, "skewscope_wal_fsyncs_total", "counter",
           "Group commits (one fsync covers every request written meanwhile)",
           (double)w.fsyncs);
    scalar(f, "skewscope_wal_fsync_seconds_total", "counter",
           "Time spent in the write-ahead log's fsyncs", w.fsync_ns * 1e-9);
    scalar(f, "skewscope_wal_wait_seconds_total", "counter",
           "Time requests waited for the fsync that covers them",
           w.wait_ns * 1e-9);
    scalar(f, "skewscope_wal_errors_total", "counter",
           "Requests answered 503 because the log could not keep them",
           (double)w.append_errors);
    scalar(f, "skewscope_wal_replayed_spans_total", "counter",
           "Spans of an earlier run's log fed to the pipeline again at start "
           "(may have been delivered before the crash: duplicates)",
           (double)counter_get(&s->replayed));
    scalar(f, "skewscope_wal_damaged_bytes_total", "counter",
           "Log bytes skipped or cut off as damaged (torn tail, CRC)",
           (double)w.damaged_bytes);
    scalar(f, "skewscope_wal_spans", "gauge",
           "Spans in the log not yet delivered or spooled",
           (double)w.live_spans_now);
    scalar(f, "skewscope_wal_bytes", "gauge",
           "Bytes of log segment files on disk", (double)w.disk_bytes_now);
}

int serve_metrics_route(void *ctx, char **body, size_t *len,
                        const char **content_type)
{
    struct serve *s = ctx;
    FILE *f = open_memstream(body, len);

    if (!f)
        return -1;
    counter_metrics(f, s);
    transport_metrics(f, s);
    memory_metrics(f);
    wal_metrics(f, s);
    serve_scrape_metrics(s->scrape, f);
    pthread_mutex_lock(&s->pub_lock);
    if (s->pub.valid) {
        scalar(f, "skewscope_clock_consistent", "gauge",
               "1 when the kept windows' constraints are satisfiable",
               s->pub.snap.consistent);
        scalar(f, "skewscope_orphan_spans_total", "counter",
               "Spans whose parent was not assembled with them",
               (double)s->pub.snap.orphans_total);
        domain_metrics(f, &s->pub.snap);
        edge_metrics(f, &s->pub.snap);
    }
    if (s->cfg.npeers)
        cluster_metrics(f, s);
    pthread_mutex_unlock(&s->pub_lock);
    if (fclose(f) != 0) {
        free(*body);
        return -1;
    }
    *content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 200;
}

/* ---- /api/v1/status */

static json_t *jnum_or_null(bool has, int64_t v)
{
    return has ? json_integer(v) : json_null();
}

static json_t *status_nodes(const struct live_snapshot *sn)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < sn->ndomains; i++) {
        const struct live_domain *d = &sn->domains[i];
        json_array_append_new(
            a,
            json_pack(
                "{s:s, s:b, s:o, s:o, s:o, s:f, s:I}", "node", d->name, "known",
                d->known, "offset_ns", jnum_or_null(d->known, d->offset_ns),
                "lower_ns", jnum_or_null(d->known && d->has_lower, d->lower_ns),
                "upper_ns", jnum_or_null(d->known && d->has_upper, d->upper_ns),
                "drift_ppm", d->drift_ppm, "pairs", (json_int_t)d->pairs));
        json_t *n = json_array_get(a, json_array_size(a) - 1);
        if (n) { /* issue 10: drift significance, consensus membership */
            json_object_set_new(n, "drift_se_ppm", json_real(d->drift_se_ppm));
            json_object_set_new(n, "drift_significant",
                                json_boolean(d->drift_significant));
            json_object_set_new(n, "consensus_member",
                                json_boolean(d->consensus_member));
            json_object_set_new(n, "fitted", json_boolean(d->fitted));
        }
    }
    return a;
}

static json_t *status_edges(const struct live_snapshot *sn)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < sn->nedges; i++) {
        const struct live_edge *e = &sn->edges[i];
        json_array_append_new(
            a, json_pack(
                   "{s:s, s:s, s:I, s:I, s:I, s:f, s:o, s:f, s:b, s:o}", "from",
                   e->from, "to", e->to, "pairs", (json_int_t)e->pairs_total,
                   "violations", (json_int_t)e->violations_total,
                   "relative_offset_ns", (json_int_t)e->offset_ns, "drift_ppm",
                   e->drift_ppm, "skew_budget_ns",
                   jnum_or_null(e->has_budget, e->skew_budget_ns),
                   "budget_used_ratio", e->budget_used_ratio, "warning",
                   e->warning, "exhausts_in_s",
                   e->exhausts ? json_real(e->exhaust_in_s) : json_null()));
    }
    return a;
}

static json_t *status_spans(struct serve *s)
{
    struct serve_counters c;

    serve_counters_read(s, &c);
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "received",
        (json_int_t)c.received, "accepted", (json_int_t)c.accepted, "rejected",
        (json_int_t)c.rejected, "throttled", (json_int_t)c.throttled, "invalid",
        (json_int_t)c.invalid, "processed", (json_int_t)c.processed,
        "forwarded", (json_int_t)c.forwarded, "spooled", (json_int_t)c.spooled,
        "dropped", (json_int_t)c.dropped, "queued", (json_int_t)c.queue_spans,
        "assembling", (json_int_t)c.assembly_spans);
}

/* The analysis part of /api/v1/status and /api/v1/cluster (warnings_total
 * only for this instance's own analysis: a cluster live is new each
 * round). */
static void put_analysis(json_t *o, const struct live_snapshot *sn,
                         int64_t updated_unix_ns, bool warnings)
{
    json_object_set_new(o, "reference",
                        sn->reference ? json_string(sn->reference)
                                      : json_null());
    json_object_set_new(o, "anchor",
                        sn->anchor ? json_string(sn->anchor) : json_null());
    json_object_set_new(o, "consistent", json_boolean(sn->consistent));
    json_object_set_new(o, "at_unix_nano", json_integer(sn->at_ns));
    json_object_set_new(o, "updated_unix_nano", json_integer(updated_unix_ns));
    json_object_set_new(o, "windows", json_integer((json_int_t)sn->nwindows));
    if (warnings)
        json_object_set_new(o, "warnings_total",
                            json_integer((json_int_t)sn->warnings_total));
    json_object_set_new(o, "orphans_total",
                        json_integer((json_int_t)sn->orphans_total));
    json_object_set_new(o, "nodes", status_nodes(sn));
    json_object_set_new(o, "edges", status_edges(sn));
}

/* Serialise o (taken) as the reply. */
static int json_reply(json_t *o, char **body, size_t *len,
                      const char **content_type, int status)
{
    *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!*body)
        return -1;
    *len = strlen(*body);
    *content_type = "application/json";
    return status;
}

int serve_status_route(void *ctx, char **body, size_t *len,
                       const char **content_type)
{
    struct serve *s = ctx;
    json_t *o = json_object();

    if (!o)
        return -1;
    json_object_set_new(
        o, "uptime_s",
        json_real((clock_now_ns(CLOCK_MONOTONIC) - s->started_mono_ns) * 1e-9));
    json_object_set_new(o, "spans", status_spans(s));
    pthread_mutex_lock(&s->pub_lock);
    if (s->pub.valid)
        put_analysis(o, &s->pub.snap, s->pub.updated_unix_ns, true);
    pthread_mutex_unlock(&s->pub_lock);
    return json_reply(o, body, len, content_type, 200);
}

/* ---- /api/v1/windows, /api/v1/cluster */

int serve_windows_route(void *ctx, char **body, size_t *len,
                        const char **content_type)
{
    struct serve *s = ctx;

    pthread_mutex_lock(&s->pub_lock);
    *body = s->pub.windows ? malloc(s->pub.windows_len + 1) : NULL;
    if (*body) {
        memcpy(*body, s->pub.windows, s->pub.windows_len + 1);
        *len = s->pub.windows_len;
    }
    pthread_mutex_unlock(&s->pub_lock);
    if (!*body)
        return -1;
    *content_type = "application/json";
    return 200;
}

static json_t *cluster_peers(const struct serve *s)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < s->cfg.npeers; i++) {
        const struct serve_peer_status *p = &s->cluster.peers[i];
        json_array_append_new(
            a, json_pack("{s:s, s:b, s:o}", "url", p->url, "ok", p->ok, "error",
                         p->ok ? json_null() : json_string(p->error)));
    }
    return a;
}

int serve_cluster_route(void *ctx, char **body, size_t *len,
                        const char **content_type)
{
    struct serve *s = ctx;
    json_t *o;

    if (!s->cfg.npeers)
        return json_reply(json_pack("{s:s}", "error",
                                    "no --peer configured: this instance "
                                    "has no cluster view"),
                          body, len, content_type, 404);
    if (!(o = json_object()))
        return -1;
    pthread_mutex_lock(&s->pub_lock);
    json_object_set_new(o, "peers_up",
                        json_integer((json_int_t)s->cluster.peers_up));
    json_object_set_new(o, "peers", cluster_peers(s));
    if (s->cluster.valid)
        put_analysis(o, &s->cluster.snap, s->cluster.updated_unix_ns, false);
    pthread_mutex_unlock(&s->pub_lock);
    return json_reply(o, body, len, content_type, 200);
}
