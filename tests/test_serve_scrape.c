/* test_serve_scrape: `serve --scrape` (src/serve/serve_scrape.c) end to end
 * with known truth. A Prometheus target in this process (libmicrohttpd)
 * serves vLLM metrics that look healthy for a number of scrapes, then show
 * KV-cache pressure (usage 0.99, preemptions climbing, the waiting queue
 * growing), then healthy again; next to it a target that stays healthy,
 * one that returns garbage and one where nothing listens. serve runs in
 * this process (serve_start) with its stderr sent to a file:
 *   - while every target is healthy: rows evaluated, no finding;
 *   - the pressure is found on the right subject within a bounded number
 *     of scrapes (counted by the target, not timed), on /api/v1/findings
 *     (condition, evidence, causes, mitigations, confidence, onset and
 *     detection) and on /metrics; the healthy target never is;
 *   - it ends within a bounded number of scrapes once the target is
 *     healthy again: the same /api/v1/findings entry, "active": false;
 *   - one log line when it starts and one when it ends, not one a scrape;
 *   - the garbage and the unreachable target are counted (errors, up 0),
 *     logged once (rate limited), never fatal;
 *   - traces of two tensor-parallel ranks, rank 1's clock 3 ms ahead, sent
 *     live: the collectives reach the detectors on serve's clock model
 *     (counted), and no straggler is found; the same traces with rank 1
 *     really arriving 0.3 ms late at each all-reduce: it is found, on
 *     node-decode-1. */
#define _GNU_SOURCE
#include "testlib.h"

#include "serve_client.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "imbalance/imbalance.h"
#include "imbalance/runbook.h"
#include "model/series.h"
#include "model/span_store.h"
#include "output/trace_writer.h"
#include "serve/serve.h"

/* scrapes of the kv target: healthy before PRESSURE_AT, pressure until
 * HEALTHY_AGAIN_AT, healthy after */
#define PRESSURE_AT 12
#define HEALTHY_AGAIN_AT 40
/* a finding must start (end) within this many scrapes of its cause */
#define WITHIN 15

static atomic_int kv_scrapes, healthy_scrapes, garbage_scrapes;

static char *kv_body(int i)
{
    bool bad = i >= PRESSURE_AT && i < HEALTHY_AGAIN_AT;
    int k = bad ? i - PRESSURE_AT : 0;
    char *b = NULL;

    assert_true(asprintf(&b,
                         "# HELP vllm:kv_cache_usage_perc KV cache usage\n"
                         "# TYPE vllm:kv_cache_usage_perc gauge\n"
                         "vllm:kv_cache_usage_perc %.3f\n"
                         "# TYPE vllm:num_requests_waiting gauge\n"
                         "vllm:num_requests_waiting %d\n"
                         "# TYPE vllm:num_requests_running gauge\n"
                         "vllm:num_requests_running 8\n"
                         "# TYPE vllm:num_preemptions_total counter\n"
                         "vllm:num_preemptions_total %d\n",
                         bad ? 0.99 : 0.40, bad ? 2 + 2 * k : 1, 3 * k) > 0);
    return b;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_len, void **state)
{
    char *body;
    struct MHD_Response *r;
    enum MHD_Result ok;

    (void)cls, (void)method, (void)version, (void)upload, (void)upload_len,
        (void)state;
    if (strcmp(url, "/kv") == 0)
        body = kv_body(atomic_fetch_add(&kv_scrapes, 1));
    else if (strcmp(url, "/healthy") == 0)
        body = (atomic_fetch_add(&healthy_scrapes, 1),
                strdup("# TYPE vllm:kv_cache_usage_perc gauge\n"
                       "vllm:kv_cache_usage_perc 0.5\n"
                       "vllm:num_requests_waiting 0\n"));
    else
        body = (atomic_fetch_add(&garbage_scrapes, 1),
                strdup("<html>this {is not\" prometheus</html>\n"));
    r = MHD_create_response_from_buffer(strlen(body), body,
                                        MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
    ok = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- serve's stderr into a file, to count its log lines */

static int saved_stderr = -1;
static char log_path[64];

static void capture_stderr(void)
{
    int fd;

    snprintf(log_path, sizeof log_path, "/tmp/skewscope-scrape-log-XXXXXX");
    fd = mkstemp(log_path);

    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(2);
    assert_true(dup2(fd, 2) == 2);
    close(fd);
}

static char *release_stderr(void)
{
    FILE *f;
    char *text = NULL;
    size_t n = 0;

    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    f = fopen(log_path, "r");
    assert_non_null(f);
    assert_true(getdelim(&text, &n, '\0', f) >= 0);
    fclose(f);
    unlink(log_path);
    return text;
}

static size_t count_lines(const char *text, const char *a, const char *b)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, a)); p++) {
        const char *eol = strchr(p, '\n');
        const char *q = strstr(p, b);
        if (q && (!eol || q < eol))
            n++;
    }
    return n;
}

/* ---- serve's answers */

static char *metrics(int port)
{
    struct buf b;

    assert_int_equal(sc_http(port, "/metrics", NULL, NULL, NULL, &b), 200);
    return b.data;
}

static double metric_value(const char *page, const char *sample)
{
    char key[256];
    const char *p;

    snprintf(key, sizeof key, "\n%s ", sample);
    p = strstr(page, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static json_t *findings(int port)
{
    json_t *o = sc_get_json(port, "/api/v1/findings", NULL);
    assert_true(json_is_array(json_object_get(o, "findings")));
    return o;
}

static json_t *finding_of(json_t *doc, const char *cond)
{
    size_t i;
    json_t *f;

    json_array_foreach(json_object_get(doc, "findings"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "kind")), cond) == 0)
            return f;
    }
    return NULL;
}

/* Poll until pred holds; fails once the kv target has been scraped more
 * than max_scrapes times (a bound in scrapes, not in time; the 120 s cap
 * only keeps a broken build from hanging). */
static json_t *wait_findings(int port, bool (*pred)(json_t *), int max_scrapes)
{
    double t0 = clock_now_s(CLOCK_MONOTONIC);

    for (;;) {
        json_t *doc = findings(port);
        if (pred(doc))
            return doc;
        json_decref(doc);
        if (atomic_load(&kv_scrapes) > max_scrapes)
            fail_msg("not within %d scrapes of the kv target", max_scrapes);
        if (clock_now_s(CLOCK_MONOTONIC) - t0 > 120)
            fail_msg("serve stopped scraping");
        sc_sleep_ms(20);
    }
}

static bool kv_started(json_t *doc)
{
    return finding_of(doc, "kv_pressure") != NULL;
}

static bool kv_ended(json_t *doc)
{
    json_t *f = finding_of(doc, "kv_pressure");
    return f && json_is_false(json_object_get(f, "active"));
}

static void check_finding(json_t *f)
{
    json_t *ev = json_object_get(f, "evidence");
    int64_t onset = json_integer_value(json_object_get(f, "onset_unix_nano"));
    int64_t det = json_integer_value(json_object_get(f, "detected_unix_nano"));

    assert_string_equal(json_string_value(json_object_get(f, "source")),
                        "imbalance");
    assert_string_equal(json_string_value(json_object_get(f, "condition")),
                        "kv_pressure");
    assert_string_equal(json_string_value(json_object_get(f, "subject")), "kv");
    assert_true(json_is_array(ev) && json_array_size(ev) >= 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(ev, 0), "signal")),
        "kv_usage");
    assert_true(json_real_value(
                    json_object_get(json_array_get(ev, 0), "value")) > 0.98);
    assert_true(json_array_size(json_object_get(f, "causes")) >= 1);
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(f, "causes"), 0), "supported")));
    assert_true(json_array_size(json_object_get(f, "mitigations")) >= 1);
    assert_true(json_real_value(json_object_get(f, "confidence")) >= 0.5);
    assert_true(onset > 0 && det > onset);
    assert_non_null(json_string_value(json_object_get(f, "id")));
}

static void test_kv_pressure_live(void **state)
{
    struct MHD_Daemon *d;
    char urls[4][128];
    const char *targets[4];
    const char *sets[] = {"defaults.step_s=0.2", "kv_pressure.persist_s=0.6",
                          "kv_pressure.clear_s=0.6", "kv_pressure.growth_s=1"};
    struct serve_config cfg;
    struct serve *s;
    char err[512], *page, *log;
    int port, mport;
    json_t *doc, *f;

    (void)state;
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL,
                         NULL, on_request, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)10, MHD_OPTION_END);
    assert_non_null(d);
    mport = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(urls[0], sizeof urls[0], "kv=http://127.0.0.1:%d/kv", mport);
    snprintf(urls[1], sizeof urls[1], "healthy=http://127.0.0.1:%d/healthy",
             mport);
    snprintf(urls[2], sizeof urls[2], "garbage=http://127.0.0.1:%d/garbage",
             mport);
    snprintf(urls[3], sizeof urls[3], "down=http://127.0.0.1:%d/metrics",
             sc_free_port());
    for (int i = 0; i < 4; i++)
        targets[i] = urls[i];

    memset(&cfg, 0, sizeof cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.assembly_window_s = 0.3;
    cfg.update_interval_s = 0.1;
    cfg.scrape_targets = targets;
    cfg.nscrape_targets = 4;
    cfg.scrape_interval_s = 0.2;
    cfg.runbook_sets = sets;
    cfg.nrunbook_sets = 4;
    capture_stderr();
    s = serve_start(&cfg, err, sizeof err);
    if (!s) {
        release_stderr();
        fail_msg("serve_start: %s", err);
    }
    port = serve_port(s);

    /* healthy: rows evaluated, nothing found */
    while (atomic_load(&kv_scrapes) < PRESSURE_AT - 1)
        sc_sleep_ms(20);
    page = metrics(port);
    assert_true(metric_value(page, "skewscope_imbalance_rows_total") >= 3);
    assert_null(strstr(page, "\nskewscope_imbalance_findings{"));
    assert_true(metric_value(page, "skewscope_scrape_up{target=\"kv\"}") == 1);
    free(page);
    doc = findings(port);
    assert_int_equal(json_array_size(json_object_get(doc, "findings")), 0);
    json_decref(doc);

    /* pressure: found on kv within WITHIN scrapes, and only there */
    doc = wait_findings(port, kv_started, PRESSURE_AT + WITHIN);
    f = finding_of(doc, "kv_pressure");
    check_finding(f);
    assert_true(json_is_true(json_object_get(f, "active")));
    assert_int_equal(json_array_size(json_object_get(doc, "findings")), 1);
    json_decref(doc);
    page = metrics(port);
    assert_true(metric_value(page, "skewscope_imbalance_findings{condition="
                                   "\"kv_pressure\",subject=\"kv\"}") == 1);
    assert_true(metric_value(page, "skewscope_imbalance_findings_total{"
                                   "condition=\"kv_pressure\"}") == 1);
    assert_true(metric_value(page, "skewscope_imbalance_findings_total{"
                                   "condition=\"dp_load_skew\"}") == 0);
    assert_true(
        metric_value(page,
                     "skewscope_scrape_errors_total{target=\"garbage\"}") >= 1);
    assert_true(
        metric_value(page, "skewscope_scrape_errors_total{target=\"down\"}") >=
        1);
    assert_true(metric_value(page, "skewscope_scrape_up{target=\"garbage\"}") ==
                0);
    assert_true(metric_value(page, "skewscope_scrape_up{target=\"down\"}") ==
                0);
    assert_true(metric_value(
                    page, "skewscope_scrape_errors_total{target=\"kv\"}") == 0);
    assert_true(metric_value(page, "skewscope_scrape_samples{target=\"kv\"}") ==
                4);
    free(page);

    /* healthy again: the same entry, ended, within WITHIN scrapes */
    doc = wait_findings(port, kv_ended, HEALTHY_AGAIN_AT + WITHIN);
    assert_int_equal(json_array_size(json_object_get(doc, "findings")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 1);
    f = finding_of(doc, "kv_pressure");
    check_finding(f);
    assert_true(json_integer_value(json_object_get(f, "last_unix_nano")) >
                json_integer_value(json_object_get(f, "detected_unix_nano")));
    json_decref(doc);
    page = metrics(port);
    assert_null(strstr(page, "\nskewscope_imbalance_findings{"));
    free(page);

    assert_int_equal(serve_stop(s), 0);
    log = release_stderr();
    MHD_stop_daemon(d);
    /* once when it starts, once when it ends */
    assert_int_equal(count_lines(log, "\"event\":\"imbalance_finding\"",
                                 "\"state\":\"started\""),
                     1);
    assert_int_equal(count_lines(log, "\"event\":\"imbalance_finding\"",
                                 "\"state\":\"ended\""),
                     1);
    assert_int_equal(count_lines(log, "\"event\":\"imbalance_finding\"",
                                 "\"condition\":\"kv_pressure\""),
                     2);
    /* the failing targets: logged once each (rate limited), never fatal */
    assert_int_equal(count_lines(log, "\"event\":\"scrape_failed\"",
                                 "\"target\":\"garbage\""),
                     1);
    assert_int_equal(
        count_lines(log, "\"event\":\"scrape_failed\"", "\"target\":\"down\""),
        1);
    assert_true(atomic_load(&garbage_scrapes) >= HEALTHY_AGAIN_AT / 2);
    free(log);
}

/* serve does not start on a target that is not a URL; it does start with
 * targets that are all unreachable. */
static void test_bad_and_unreachable_targets(void **state)
{
    const char *bad[] = {"ftp://x/metrics"};
    char down[128];
    const char *targets[] = {down};
    struct serve_config cfg;
    struct serve *s;
    char err[512];

    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.scrape_targets = bad;
    cfg.nscrape_targets = 1;
    assert_null(serve_start(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "http://"));

    int dport = sc_free_port();
    char name[128];
    snprintf(down, sizeof down, "http://127.0.0.1:%d/metrics", dport);
    snprintf(name, sizeof name,
             "skewscope_scrape_errors_total{target=\"127.0.0.1:%d\"}", dport);
    cfg.scrape_targets = targets;
    cfg.scrape_interval_s = 0.1;
    capture_stderr();
    s = serve_start(&cfg, err, sizeof err);
    if (!s) {
        release_stderr();
        fail_msg("serve_start: %s", err);
    }
    double t0 = clock_now_s(CLOCK_MONOTONIC), v = -1;
    while (v < 3 && clock_now_s(CLOCK_MONOTONIC) - t0 < 60) {
        char *page = metrics(serve_port(s));
        v = metric_value(page, name);
        free(page);
        sc_sleep_ms(50);
    }
    assert_true(v >= 3);
    assert_int_equal(serve_stop(s), 0);
    free(release_stderr());
}

/* ---- traces: two tensor-parallel ranks behind a gateway */

#define RANK1_AHEAD_NS 3000000 /* node-decode-1's clock is this far ahead */
#define TRACE_SPANS 67

static const char *const domains[3] = {"node-gateway", "node-decode-0",
                                       "node-decode-1"};

static int64_t unix_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Append one span of domain dom (its clock: rank 1 ahead). */
static uint64_t span(struct span_desc *d, size_t *n, uint64_t *sid, unsigned id,
                     uint64_t parent, int dom, int kind, int64_t a, int64_t b)
{
    int64_t skew = dom == 2 ? RANK1_AHEAD_NS : 0;

    d[*n] = (struct span_desc){.span_id = ++*sid,
                               .parent_span_id = parent,
                               .name = "op",
                               .kind = kind,
                               .start_ns = a + skew,
                               .end_ns = b + skew,
                               .host_name = domains[dom],
                               .service_name = domains[dom]};
    d[*n].trace_id[0] = 0x7a;
    d[*n].trace_id[14] = (uint8_t)(id >> 8);
    d[*n].trace_id[15] = (uint8_t)id;
    (*n)++;
    return *sid;
}

/* One request as a trace (times in ns since t, on each domain's clock):
 * gateway -> both ranks (1 ms hop), 10 steps of 2 all-reduces (arrival
 * 1 ms after the previous release; rank 1 0.3 ms later when late), back
 * to the gateway. */
static size_t make_trace(struct span_desc *d, unsigned id, int64_t t, bool late)
{
    size_t n = 0;
    uint64_t sid = 0;
    int64_t rank_t[2];
    uint64_t cons[2];

    uint64_t prod =
        span(d, &n, &sid, id, 0, 0, SPAN_KIND_PRODUCER, t, t + 100000);
    for (int r = 0; r < 2; r++) {
        rank_t[r] = t + 1000000;
        cons[r] = span(d, &n, &sid, id, prod, 1 + r, SPAN_KIND_CONSUMER,
                       rank_t[r], rank_t[r] + 100000);
    }
    for (int k = 0; k < 10; k++) {
        uint64_t step[2];
        for (int r = 0; r < 2; r++)
            step[r] = span(d, &n, &sid, id, cons[r], 1 + r, SPAN_KIND_INTERNAL,
                           rank_t[r], rank_t[r] + 3000000);
        for (int l = 0; l < 2; l++) {
            int64_t arr[2], rel;
            for (int r = 0; r < 2; r++)
                arr[r] = rank_t[r] + (r == 1 && late ? 1300000 : 1000000);
            rel = (arr[0] > arr[1] ? arr[0] : arr[1]) + 50000;
            for (int r = 0; r < 2; r++) {
                span(d, &n, &sid, id, step[r], 1 + r, SPAN_KIND_INTERNAL,
                     arr[r], rel);
                rank_t[r] = rel;
            }
        }
    }
    for (int r = 0; r < 2; r++) {
        uint64_t p = span(d, &n, &sid, id, cons[r], 1 + r, SPAN_KIND_PRODUCER,
                          rank_t[0], rank_t[0] + 100000);
        span(d, &n, &sid, id, p, 0, SPAN_KIND_CONSUMER, rank_t[0] + 1000000,
             rank_t[0] + 1100000);
    }
    assert_int_equal(n, TRACE_SPANS);
    return n;
}

static bool has_straggler(json_t *doc)
{
    return finding_of(doc, "tp_straggler") != NULL;
}

/* Send a trace every 50 ms; stop once done(findings) holds or after
 * max_traces. Returns the last findings document. */
static json_t *send_traces(int port, bool late, unsigned *id,
                           unsigned max_traces, bool (*done)(json_t *))
{
    struct span_desc d[TRACE_SPANS];
    json_t *doc = NULL;

    for (unsigned i = 0; i < max_traces; i++) {
        struct buf body, out;

        make_trace(d, (*id)++, unix_ns() - 40000000, late);
        body = sc_proto_body(d, TRACE_SPANS);
        assert_int_equal(sc_http(port, "/v1/traces", &body,
                                 "application/x-protobuf", NULL, &out),
                         200);
        free(out.data);
        free(body.data);
        json_decref(doc);
        doc = findings(port);
        if (done && done(doc))
            break;
        sc_sleep_ms(50);
    }
    return doc;
}

static struct serve *start_with_healthy_target(struct MHD_Daemon **d, char *url,
                                               size_t n, const char **targets,
                                               const char **sets, size_t nsets)
{
    struct serve_config cfg;
    struct serve *s;
    char err[512];

    *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0,
                          NULL, NULL, on_request, NULL, MHD_OPTION_END);
    assert_non_null(*d);
    snprintf(url, n, "healthy=http://127.0.0.1:%d/healthy",
             MHD_get_daemon_info(*d, MHD_DAEMON_INFO_BIND_PORT)->port);
    targets[0] = url;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.assembly_window_s = 0.3;
    cfg.update_interval_s = 0.1;
    cfg.reference = "node-gateway";
    cfg.scrape_targets = targets;
    cfg.nscrape_targets = 1;
    cfg.scrape_interval_s = 0.2;
    cfg.runbook_sets = sets;
    cfg.nrunbook_sets = nsets;
    s = serve_start(&cfg, err, sizeof err);
    if (!s)
        fail_msg("serve_start: %s", err);
    return s;
}

static void test_clock_ahead_is_not_late(void **state)
{
    const char *sets[] = {"defaults.step_s=0.2", "tp_straggler.persist_s=0.6",
                          "tp_straggler.clear_s=0.6"};
    const char *targets[1];
    char url[128], *page;
    struct MHD_Daemon *d;
    unsigned id = 1;
    json_t *doc;

    (void)state;
    /* rank 1's clock 3 ms ahead, no slowdown: 120 traces over 6 s+ */
    struct serve *s =
        start_with_healthy_target(&d, url, sizeof url, targets, sets, 3);
    doc = send_traces(serve_port(s), false, &id, 120, NULL);
    sc_sleep_ms(1500); /* the last traces through assembly and the lag */
    json_decref(doc);
    doc = findings(serve_port(s));
    page = metrics(serve_port(s));
    /* the detectors saw the collectives (every trace has 20) ... */
    double taken = metric_value(page, "skewscope_imbalance_collectives_total");
    if (taken < 20 * 60)
        fail_msg("only %g collectives reached the detectors:\n%s", taken, page);
    /* ... on one clock: nobody is late */
    if (has_straggler(doc))
        fail_msg("a rank whose clock is ahead was called late: %s",
                 json_dumps(doc, 0));
    free(page);
    json_decref(doc);
    assert_int_equal(serve_stop(s), 0);
    MHD_stop_daemon(d);

    /* the same with rank 1 really 0.3 ms late at every all-reduce */
    s = start_with_healthy_target(&d, url, sizeof url, targets, sets, 3);
    doc = send_traces(serve_port(s), true, &id, 400, has_straggler);
    json_t *f = finding_of(doc, "tp_straggler");
    if (!f)
        fail_msg("the late rank was not found within 400 traces");
    assert_string_equal(json_string_value(json_object_get(f, "subject")),
                        "node-decode-1");
    json_decref(doc);
    assert_int_equal(serve_stop(s), 0);
    MHD_stop_daemon(d);
}

/* ---- the engine's live entry points (imbalance.h) */

/* kv's KV-cache samples, one a second from t0_s: pressure (0.99, 5
 * preemptions a second) in the seconds [a, a + 8) for each a in bad[]. */
static void kv_series(struct series_store *st, int64_t t0_s, int n,
                      const int *bad, int nbad)
{
    struct series_desc g = {.entity = "kv",
                            .metric = "vllm:kv_cache_usage_perc",
                            .kind = SERIES_GAUGE};
    struct series_desc c = {.entity = "kv",
                            .metric = "vllm:num_preemptions_total",
                            .kind = SERIES_COUNTER};
    int64_t gid = series_store_intern(st, &g),
            cid = series_store_intern(st, &c);
    double pre = 0;

    assert_true(gid >= 0 && cid >= 0);
    for (int k = 0; k < n; k++) {
        bool on = false;
        int64_t t = (t0_s + k) * 1000000000LL + 500000000;
        for (int j = 0; j < nbad; j++)
            on |= k >= bad[j] && k < bad[j] + 8;
        pre += on ? 5 : 0;
        assert_int_equal(
            series_store_append(st, (uint32_t)gid, t, on ? 0.99 : 0.4), 0);
        assert_int_equal(series_store_append(st, (uint32_t)cid, t, pre), 0);
    }
}

static void test_engine_live_entry_points(void **state)
{
    struct imb_runbook *rb = imb_runbook_create();
    struct series_store *st = series_store_create();
    struct imb_engine *e;
    const int bad[] = {10, 30, 50};
    int64_t now_s = unix_ns() / 1000000000LL;
    char err[256];
    size_t n;

    (void)state;
    assert_int_equal(imb_runbook_load_default(rb, err, sizeof err), 0);
    /* an old sample (three years ago) and a minute of samples from now */
    kv_series(st, now_s - 3 * 365 * 86400LL, 1, NULL, 0);
    kv_series(st, now_s, 80, bad, 3);

    /* without a start the first update covers the data's whole span:
     * years of rows, refused */
    e = imb_engine_create(rb);
    assert_true(imb_engine_update(e, st, NULL, (now_s + 80) * 1000000000LL, err,
                                  sizeof err) < 0);
    imb_engine_destroy(e);

    /* started now: only the rows from now on, one second at a time, and
     * the closed findings pruned to one while open ones stay */
    e = imb_engine_create(rb);
    imb_engine_start_at(e, now_s * 1000000000LL);
    uint64_t seen = 0;
    for (int k = 1; k <= 80; k++) {
        assert_true(imb_engine_update(e, st, NULL, (now_s + k) * 1000000000LL,
                                      err, sizeof err) >= 0);
        imb_engine_prune(e, 1);
        const struct imb_finding *f = imb_engine_findings(e, &n);
        size_t closed = 0;
        for (size_t i = 0; i < n; i++) {
            closed += !f[i].active;
            assert_string_equal(f[i].cond->id, "kv_pressure");
            if (f[i].seq > seen)
                seen = f[i].seq;
        }
        assert_true(closed <= 1);
        if (k == 58) { /* the third open, the second closed and kept */
            assert_int_equal(n, 2);
            assert_true(!f[0].active && f[0].seq == 2);
            assert_true(f[1].active && f[1].seq == 3);
        }
    }
    int64_t t0, t1;
    size_t rows;
    imb_engine_span(e, &t0, &t1, &rows);
    assert_int_equal(rows, 80);
    assert_true(t0 == now_s * 1000000000LL);
    /* three episodes, three findings, numbered 1..3; one kept */
    assert_int_equal(seen, 3);
    const struct imb_finding *f = imb_engine_findings(e, &n);
    assert_int_equal(n, 1);
    assert_int_equal(f[0].seq, 3);
    assert_true(f[0].onset_ns == (now_s + 50) * 1000000000LL);
    char *js = imb_report_finding_json(&f[0]);
    assert_non_null(strstr(js, "\"seq\":3"));
    assert_non_null(strstr(js, "\"condition\":\"kv_pressure\""));
    free(js);
    imb_engine_destroy(e);
    series_store_destroy(st);
    imb_runbook_destroy(rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_live_entry_points),
        cmocka_unit_test(test_kv_pressure_live),
        cmocka_unit_test(test_bad_and_unreachable_targets),
        cmocka_unit_test(test_clock_ahead_is_not_late),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
