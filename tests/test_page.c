/* test_page: what the pages draw from (issue 12). The timeline JSON that
 * report and serve share (violations as recorded and after correction, by
 * hand); the report's document (escaping of names that hold markup); the
 * live page's rings (history kept to the windows and deduplicated,
 * warnings and traces bounded, the newest kept, findings); and its routes
 * through a real receiver and libcurl (the page public, the data behind
 * the token, trace lookup by ID). */
#include "testlib.h"

#include <curl/curl.h>
#include <jansson.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "ingest/ingest.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/report_html.h"
#include "serve/live.h"
#include "serve/receiver.h"
#include "serve/serve_page.h"

/* ---- the shared timeline JSON */

static const json_t *span_of(const json_t *trace, const char *id)
{
    size_t i;
    json_t *sp;

    json_array_foreach(json_object_get(trace, "spans"), i, sp)
    {
        if (strcmp(json_string_value(json_object_get(sp, "span_id")), id) == 0)
            return sp;
    }
    fail_msg("span %s not in the trace", id);
    return NULL;
}

static const char *str_or_null(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_trace_json_violations(void **state)
{
    (void)state;
    uint8_t id[16] = {[15] = 7};
    /* A's clock is the reference; B's runs 300 ns behind (ref = t + 300). */
    struct report_html_span sp[] = {
        /* 0: A CLIENT 1000..2000 */
        {.span_id = 1,
         .kind = SPAN_KIND_CLIENT,
         .domain = "A",
         .domain_len = 1,
         .start_ns = 1000,
         .end_ns = 2000,
         .ref_start_ns = 1000,
         .ref_end_ns = 2000,
         .mapped = true},
        /* 1: B SERVER 800..1900: starts 200 before its parent; after
         * correction 1100..2200: ends 200 after it */
        {.span_id = 2,
         .parent_id = 1,
         .has_parent = true,
         .kind = SPAN_KIND_SERVER,
         .domain = "B",
         .domain_len = 1,
         .start_ns = 800,
         .end_ns = 1900,
         .ref_start_ns = 1100,
         .ref_end_ns = 2200,
         .mapped = true,
         .offset_ns = -300},
        /* 2: B CONSUMER 950..960 of a PRODUCER link: starts 50 before; fine
         * after correction */
        {.span_id = 3,
         .link_id = 1,
         .kind = SPAN_KIND_CONSUMER,
         .domain = "B",
         .domain_len = 1,
         .start_ns = 950,
         .end_ns = 960,
         .ref_start_ns = 1250,
         .ref_end_ns = 1260,
         .mapped = true},
        /* 3: a span that ends before it starts, on either clock */
        {.span_id = 4,
         .parent_id = 1,
         .has_parent = true,
         .domain = "A",
         .domain_len = 1,
         .start_ns = 1500,
         .end_ns = 1400,
         .ref_start_ns = 1500,
         .ref_end_ns = 1400,
         .mapped = true},
    };
    struct report_html_pair pairs[] = {{0, 1, true}, {0, 2, false}};
    json_t *t = report_html_trace_json(id, sp, 4, pairs, 2);

    assert_non_null(t);
    assert_string_equal(str_or_null(t, "trace_id"),
                        "00000000000000000000000000000007");
    /* base: the earliest start as recorded or corrected (800) */
    assert_string_equal(str_or_null(t, "base_unix_nano"), "800");
    /* as recorded: two pairs start before, one negative duration */
    assert_int_equal(json_integer_value(json_object_get(t, "violations")), 3);
    /* corrected: the server ends after its client; the duration */
    assert_int_equal(
        json_integer_value(json_object_get(t, "corrected_violations")), 2);
    const json_t *s2 = span_of(t, "0000000000000002");
    assert_string_equal(str_or_null(s2, "violation"), "starts_before_parent");
    assert_int_equal(
        json_integer_value(json_object_get(s2, "before_parent_ns")), 200);
    assert_string_equal(str_or_null(s2, "corrected_violation"),
                        "ends_after_parent");
    assert_int_equal(json_integer_value(json_object_get(s2, "start_ns")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(s2, "corrected_start_ns")), 300);
    assert_int_equal(json_integer_value(json_object_get(s2, "offset_ns")),
                     -300);
    assert_string_equal(str_or_null(s2, "parent_span_id"), "0000000000000001");
    const json_t *s3 = span_of(t, "0000000000000003");
    assert_string_equal(str_or_null(s3, "violation"), "starts_before_parent");
    assert_null(str_or_null(s3, "corrected_violation"));
    assert_string_equal(str_or_null(s3, "link_span_id"), "0000000000000001");
    assert_null(str_or_null(s3, "parent_span_id"));
    const json_t *s4 = span_of(t, "0000000000000004");
    assert_string_equal(str_or_null(s4, "violation"), "negative_duration");
    assert_string_equal(str_or_null(s4, "corrected_violation"),
                        "negative_duration");
    assert_null(str_or_null(span_of(t, "0000000000000001"), "violation"));
    json_decref(t);
}

/* ---- the report document */

/* A trace whose child's domain is named with markup, and starts 1 ms
 * before its parent. */
static const char hostile_doc[] =
    "{\"resourceSpans\":["
    "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
    "\"stringValue\":\"gw\"}}]},\"scopeSpans\":[{\"spans\":[{\"traceId\":"
    "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000001\","
    "\"kind\":3,\"startTimeUnixNano\":\"1000000000\",\"endTimeUnixNano\":"
    "\"1009000000\"}]}]},"
    "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
    "\"stringValue\":\"</script><!--<script>x&\"}}]},\"scopeSpans\":[{"
    "\"spans\":[{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
    "\"spanId\":\"0000000000000002\",\"parentSpanId\":\"0000000000000001\","
    "\"kind\":2,\"startTimeUnixNano\":\"999000000\",\"endTimeUnixNano\":"
    "\"1005000000\"}]}]}]}";

static void test_report_escapes_names(void **state)
{
    (void)state;
    char *path = testlib_write_temp_str(hostile_doc);
    struct span_store *s = span_store_create();
    struct ingest_opts io = {0};
    struct estimate_opts eo = {0};
    struct edge_list l = {0};
    struct causality_report cr;
    struct clock_estimate e;
    char err[256], *doc = NULL;
    size_t len = 0;

    assert_int_equal(ingest_file(s, path, &io, err, sizeof(err)), 0);
    assert_int_equal(span_store_index(s), 0);
    assert_int_equal(edge_list_build(&l, s), 0);
    assert_int_equal(causality_check(&cr, s, &l), 0);
    assert_int_equal(estimate_run(&e, s, &l, &eo, err, sizeof(err)), 0);
    struct clock_model *m = estimate_to_model(&e, s);
    const char *files[] = {"<b>in.json</b>"};
    struct report_html_input in = {.store = s,
                                   .edges = &l,
                                   .check = &cr,
                                   .estimate = &e,
                                   .model = m,
                                   .files = files,
                                   .nfiles = 1,
                                   .worst_traces = 3};
    FILE *f = open_memstream(&doc, &len);
    assert_int_equal(report_html_write(f, &in, err, sizeof(err)), 0);
    fclose(f);
    /* one closing script tag per script element, no comment opener, and
     * the name is there, escaped */
    size_t scripts = 0;
    for (const char *p = doc; (p = strstr(p, "</script")); p++)
        scripts++;
    assert_int_equal(scripts, 3);
    assert_null(strstr(doc, "<!--"));
    assert_null(strstr(doc, "<b>in.json"));
    assert_non_null(strstr(doc, "\\u003c/script\\u003e\\u003c!--\\u003cscript"
                                "\\u003ex\\u0026"));
    /* the data reads back whole */
    json_t *data = report_html_data(&in);
    assert_non_null(data);
    json_t *nodes = json_object_get(json_object_get(data, "clock"), "nodes");
    size_t i;
    json_t *n;
    bool found = false;
    json_array_foreach(nodes, i, n)
    {
        found |= strcmp(json_string_value(json_object_get(n, "node")),
                        "</script><!--<script>x&") == 0;
    }
    assert_true(found);
    assert_int_equal(json_array_size(json_object_get(data, "traces")), 1);
    json_decref(data);
    free(doc);
    clock_model_destroy(m);
    clock_estimate_free(&e);
    causality_report_free(&cr);
    edge_list_free(&l);
    span_store_destroy(s);
    unlink(path);
    free(path);
}

/* ---- the page's rings */

static struct live_domain dom(const char *name, int64_t off)
{
    return (struct live_domain){.name = name,
                                .known = true,
                                .offset_ns = off,
                                .has_lower = true,
                                .has_upper = true,
                                .lower_ns = off - 1000,
                                .upper_ns = off + 1000};
}

static void note(struct serve_page *p, int64_t at_ns, int64_t b_off)
{
    struct live_domain d[] = {dom("A", 0), dom("B", b_off)};
    struct live_snapshot sn = {.reference = "A",
                               .at_ns = at_ns,
                               .consistent = true,
                               .ndomains = 2,
                               .domains = d};

    serve_page_note_update(p, &sn, at_ns + 5);
}

/* The JSON a route of the page answers (called directly). */
static json_t *route_json(struct serve_page *p, const char *path)
{
    struct receiver_route r[SERVE_PAGE_NROUTES];
    size_t n = serve_page_routes(p, r);
    char *body = NULL;
    size_t len;
    const char *ct;

    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].path, path) == 0 && r[i].fn) {
            assert_int_equal(r[i].fn(r[i].ctx, &body, &len, &ct), 200);
            assert_string_equal(ct, "application/json");
            json_t *o = json_loadb(body, len, 0, NULL);
            free(body);
            assert_non_null(o);
            return o;
        }
    fail_msg("no route %s", path);
    return NULL;
}

static void test_history_windows_and_dedupe(void **state)
{
    (void)state;
    struct serve_page *p = serve_page_create(
        &(struct serve_page_config){.history = 3, .history_span_s = 30});
    json_t *h, *snaps;

    assert_non_null(p);
    note(p, 10000000000LL, -2000);
    note(p, 10000000000LL, -2000); /* the same picture: one entry */
    h = route_json(p, "/api/v1/history");
    snaps = json_object_get(h, "snapshots");
    assert_int_equal(json_array_size(snaps), 1);
    json_t *b =
        json_array_get(json_object_get(json_array_get(snaps, 0), "nodes"), 1);
    assert_string_equal(json_string_value(json_object_get(b, "node")), "B");
    assert_int_equal(json_integer_value(json_object_get(b, "offset_ns")),
                     -2000);
    assert_int_equal(json_integer_value(json_object_get(b, "lower_ns")), -3000);
    json_decref(h);
    note(p, 20000000000LL, -2100);
    note(p, 30000000000LL, -2200);
    note(p, 40000000000LL, -2300); /* over the count: the first goes */
    h = route_json(p, "/api/v1/history");
    snaps = json_object_get(h, "snapshots");
    assert_int_equal(json_array_size(snaps), 3);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(snaps, 0), "at_unix_nano")),
                     20000000000LL);
    json_decref(h);
    note(p, 65000000000LL, -2400); /* 30 s of windows: 20 s and 30 s go */
    h = route_json(p, "/api/v1/history");
    snaps = json_object_get(h, "snapshots");
    assert_int_equal(json_array_size(snaps), 2);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(snaps, 0), "at_unix_nano")),
                     40000000000LL);
    assert_true(json_real_value(json_object_get(h, "window_span_s")) == 30);
    json_decref(h);
    serve_page_destroy(p);
}

static void test_warnings_bounded(void **state)
{
    (void)state;
    struct serve_page *p =
        serve_page_create(&(struct serve_page_config){.warnings = 3});
    struct live_edge e = {.from = "A",
                          .to = "B",
                          .offset_ns = -1500,
                          .has_budget = true,
                          .skew_budget_ns = 2000,
                          .budget_used_ratio = 0.75,
                          .exhausts = true,
                          .exhaust_in_s = 12.5,
                          .pairs_total = 10};

    for (int i = 0; i < 5; i++) {
        e.violations_total = (uint64_t)i;
        serve_page_note_warning(
            p, "warn", i ? "causality_violations" : "skew_budget_warning", &e,
            (uint64_t)i);
    }
    json_t *w = route_json(p, "/api/v1/warnings");
    json_t *a = json_object_get(w, "warnings");
    assert_int_equal(json_integer_value(json_object_get(w, "total")), 5);
    assert_int_equal(json_array_size(a), 3);
    json_t *first = json_array_get(a, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "violations")),
                     2);
    assert_string_equal(json_string_value(json_object_get(first, "event")),
                        "causality_violations");
    assert_int_equal(
        json_integer_value(json_object_get(first, "skew_budget_ns")), 2000);
    assert_true(json_real_value(json_object_get(first, "exhausts_in_s")) ==
                12.5);
    json_decref(w);
    serve_page_destroy(p);
}

static uint32_t add_span(struct span_store *s, const char *d, uint8_t trace,
                         uint64_t id, uint64_t parent, uint8_t kind,
                         int64_t start, int64_t end)
{
    struct span_rec r = {.span_id = id,
                         .parent_id = parent,
                         .start_ns = start,
                         .end_ns = end,
                         .kind = kind,
                         .flags = parent ? SPAN_F_HAS_PARENT : 0};

    r.trace_id[15] = trace;
    r.trace_id[0] = 0xab;
    r.domain = span_store_domain_id(s, d, strlen(d));
    return (uint32_t)span_store_add(s, &r);
}

/* Traces 1..n: A's PRODUCER at k s, B's CONSUMER 1 ms before it (B's clock
 * 2 ms behind: it arrived 1 ms after); trace 0 has no violation. */
static struct span_store *traces_store(int n)
{
    struct span_store *s = span_store_create();

    for (int k = 0; k <= n; k++) {
        int64_t t = (int64_t)(k + 1) * 1000000000;
        add_span(s, "A", (uint8_t)k, 100 + k, 0, SPAN_KIND_PRODUCER, t,
                 t + 1000);
        add_span(s, "B", (uint8_t)k, 200 + k, 100 + k, SPAN_KIND_CONSUMER,
                 k ? t - 1000000 : t + 1000000, t + 5000000);
    }
    assert_int_equal(span_store_index(s), 0);
    return s;
}

/* The routes as a receiver serves them (token "tok"), and a client. */
struct served {
    struct receiver *rx;
    char base[64];
};

static enum receiver_verdict no_batches(void *ctx, struct span_store *b,
                                        struct receiver_outcome *o)
{
    (void)ctx;
    (void)b;
    (void)o;
    return RECEIVER_UNAVAILABLE;
}

static void serve_routes(struct served *sv, struct serve_page *p)
{
    struct receiver_route r[SERVE_PAGE_NROUTES];
    struct receiver_config c = {.listen = "127.0.0.1:0",
                                .bearer_token = "tok",
                                .routes = r,
                                .nroutes = serve_page_routes(p, r)};
    char err[256];

    sv->rx = receiver_start(&c, no_batches, NULL, err, sizeof(err));
    if (!sv->rx)
        fail_msg("receiver_start: %s", err);
    snprintf(sv->base, sizeof(sv->base), "http://127.0.0.1:%d",
             receiver_port(sv->rx));
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    FILE *f = ud;

    return fwrite(p, size, n, f);
}

/* GET base+path; the status, the body (malloc'd) in *body. */
static long get(const struct served *sv, const char *path, bool token,
                char **body)
{
    char url[512];
    size_t len = 0;
    long code = 0;
    FILE *f = open_memstream(body, &len);
    CURL *c = curl_easy_init();
    struct curl_slist *h =
        token ? curl_slist_append(NULL, "Authorization: Bearer tok") : NULL;

    snprintf(url, sizeof(url), "%s%s", sv->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    fclose(f);
    return code;
}

static json_t *get_json(const struct served *sv, const char *path, long want)
{
    char *body;
    long code = get(sv, path, true, &body);
    json_t *o = json_loads(body, 0, NULL);

    if (code != want)
        fail_msg("GET %s: %ld, want %ld (%s)", path, code, want, body);
    free(body);
    assert_non_null(o);
    return o;
}

static void test_traces_kept_and_served(void **state)
{
    (void)state;
    struct serve_page *p = serve_page_create(
        &(struct serve_page_config){.traces = 4, .token_required = true});
    struct span_store *s = traces_store(10);
    struct edge_list l = {0};
    struct served sv;
    char *body;

    note(p, 11000000000LL, -2000000); /* the model: B 2 ms behind */
    assert_int_equal(edge_list_build(&l, s), 0);
    serve_page_note_batch(p, s, &l);
    serve_routes(&sv, p);

    /* the page without the token, the data only with it */
    assert_int_equal(get(&sv, "/", false, &body), 200);
    assert_non_null(strstr(body, "<title>skewscope serve</title>"));
    free(body);
    assert_int_equal(get(&sv, "/skewscope.js", false, &body), 200);
    assert_non_null(strstr(body, "standsOut"));
    free(body);
    assert_int_equal(get(&sv, "/api/v1/traces", false, &body), 401);
    free(body);
    json_t *pg = get_json(&sv, "/api/v1/page", 200);
    assert_true(json_is_true(json_object_get(pg, "token_required")));
    json_decref(pg);

    /* the 4 newest of the 10 violating traces, newest first */
    json_t *tr = get_json(&sv, "/api/v1/traces", 200);
    json_t *a = json_object_get(tr, "traces");
    assert_int_equal(json_array_size(a), 4);
    const char *ids[] = {
        "ab00000000000000000000000000000a", "ab000000000000000000000000000009",
        "ab000000000000000000000000000008", "ab000000000000000000000000000007"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(a, i), "trace_id")),
                            ids[i]);
    json_decref(tr);

    json_t *t = get_json(&sv, "/api/v1/trace?id=latest-violation", 200);
    json_t *tt = json_object_get(t, "trace");
    assert_string_equal(json_string_value(json_object_get(tt, "trace_id")),
                        ids[0]);
    assert_int_equal(json_integer_value(json_object_get(tt, "violations")), 1);
    /* corrected with the model kept with it: B + 2 ms, no violation */
    assert_int_equal(
        json_integer_value(json_object_get(tt, "corrected_violations")), 0);
    assert_string_equal(json_string_value(json_object_get(tt, "model")),
                        "capture");
    assert_string_equal(json_string_value(json_object_get(tt, "reference")),
                        "A");
    json_decref(t);
    t = get_json(&sv, "/api/v1/trace?id=AB000000000000000000000000000008", 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(t, "trace"), "trace_id")),
                        ids[2]);
    json_decref(t);
    /* pushed out of the ring; never violating; not an ID */
    json_decref(get_json(
        &sv, "/api/v1/trace?id=ab000000000000000000000000000001", 404));
    json_decref(get_json(
        &sv, "/api/v1/trace?id=ab000000000000000000000000000000", 404));
    json_decref(get_json(&sv, "/api/v1/trace?id=nope", 400));
    json_decref(get_json(&sv, "/api/v1/trace", 400));

    receiver_stop(sv.rx);
    edge_list_free(&l);
    span_store_destroy(s);
    serve_page_destroy(p);
}

/* Traces kept before the model knew their domains are corrected with the
 * model at the time they are asked for. */
static void test_trace_before_the_model(void **state)
{
    (void)state;
    struct serve_page *p = serve_page_create(NULL);
    struct span_store *s = traces_store(1);
    struct edge_list l = {0};
    struct served sv;

    assert_int_equal(edge_list_build(&l, s), 0);
    serve_page_note_batch(p, s, &l);
    serve_routes(&sv, p);
    json_t *t = get_json(&sv, "/api/v1/trace?id=latest-violation", 200);
    json_t *tt = json_object_get(t, "trace");
    assert_int_equal(
        json_integer_value(json_object_get(tt, "corrected_violations")), 1);
    json_decref(t);
    note(p, 2000000000LL, -2000000);
    t = get_json(&sv, "/api/v1/trace?id=latest-violation", 200);
    tt = json_object_get(t, "trace");
    assert_int_equal(
        json_integer_value(json_object_get(tt, "corrected_violations")), 0);
    assert_string_equal(json_string_value(json_object_get(tt, "model")),
                        "current");
    json_decref(t);
    receiver_stop(sv.rx);
    edge_list_free(&l);
    span_store_destroy(s);
    serve_page_destroy(p);
}

static void test_no_violation_kept(void **state)
{
    (void)state;
    struct serve_page *p = serve_page_create(NULL);
    struct span_store *s = traces_store(0); /* trace 0 only: fine */
    struct edge_list l = {0};
    struct served sv;

    assert_int_equal(edge_list_build(&l, s), 0);
    serve_page_note_batch(p, s, &l);
    serve_routes(&sv, p);
    json_t *tr = get_json(&sv, "/api/v1/traces", 200);
    assert_int_equal(json_array_size(json_object_get(tr, "traces")), 0);
    json_decref(tr);
    json_t *t = get_json(&sv, "/api/v1/trace?id=latest-violation", 200);
    assert_true(json_is_null(json_object_get(t, "trace")));
    json_decref(t);
    receiver_stop(sv.rx);
    edge_list_free(&l);
    span_store_destroy(s);
    serve_page_destroy(p);
}

static void test_findings(void **state)
{
    (void)state;
    struct serve_page *p =
        serve_page_create(&(struct serve_page_config){.findings = 2});
    struct serve_finding f = {.source = "imbalance",
                              .kind = "straggler",
                              .subject = "decode-1",
                              .summary = "rank 1 is 30% slower",
                              .evidence_json = "{\"ratio\":1.3}",
                              .time_unix_ns = 42};

    json_t *empty = route_json(p, "/api/v1/findings");
    assert_int_equal(json_array_size(json_object_get(empty, "findings")), 0);
    json_decref(empty);
    assert_int_equal(serve_page_add_finding(p, &f), 0);
    f.evidence_json = "not json";
    f.subject = "decode-0";
    assert_int_equal(serve_page_add_finding(p, &f), 0);
    f.evidence_json = NULL;
    assert_int_equal(serve_page_add_finding(p, &f), 0);
    f.summary = NULL;
    assert_int_equal(serve_page_add_finding(p, &f), -1);
    json_t *o = route_json(p, "/api/v1/findings");
    json_t *a = json_object_get(o, "findings");
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 3);
    assert_int_equal(json_array_size(a), 2);
    json_t *f0 = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(f0, "evidence")),
                        "not json");
    assert_string_equal(json_string_value(json_object_get(f0, "source")),
                        "imbalance");
    assert_int_equal(json_integer_value(json_object_get(f0, "time_unix_nano")),
                     42);
    assert_true(
        json_is_null(json_object_get(json_array_get(a, 1), "evidence")));
    json_decref(o);
    serve_page_destroy(p);
}

static void test_assets_embedded(void **state)
{
    (void)state;
    const char *ct;
    const char *names[] = {"page.html", "page.js", "skewscope.js",
                           "skewscope.css", "report.html"};

    for (size_t i = 0; i < 5; i++) {
        const struct report_html_asset *a = report_html_asset(names[i], &ct);
        assert_non_null(a);
        assert_true(a->len > 100);
        assert_int_equal(strlen((const char *)a->data), a->len);
    }
    report_html_asset("page.js", &ct);
    assert_string_equal(ct, "text/javascript; charset=utf-8");
    assert_null(report_html_asset("../Makefile", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_json_violations),
        cmocka_unit_test(test_report_escapes_names),
        cmocka_unit_test(test_history_windows_and_dedupe),
        cmocka_unit_test(test_warnings_bounded),
        cmocka_unit_test(test_traces_kept_and_served),
        cmocka_unit_test(test_trace_before_the_model),
        cmocka_unit_test(test_no_violation_kept),
        cmocka_unit_test(test_findings),
        cmocka_unit_test(test_assets_embedded),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
