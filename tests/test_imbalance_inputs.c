/* test_imbalance_inputs: what imbalance reads. DPU/switch counters in CSV
 * and JSON lines (values, kinds, wrap, every kind of bad line named with
 * its line and column); multi-scrape Prometheus text files (times per
 * scrape, targets, error lines counted from the file's start); input
 * detection; the offsets file; and collectives found in a span store of a
 * simulated tensor-parallel pipeline whose rank 1 clock is 3 ms ahead:
 * the offset estimated from the same traces puts the ranks' arrivals on
 * one clock, so an offset alone is no straggler and a real slowdown is. */
#include "testlib.h"

#include <math.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "imbalance/collectives.h"
#include "imbalance/imbalance.h"
#include "imbalance/input.h"
#include "imbalance/runbook.h"
#include "ingest/dpu_counters.h"
#include "ingest/ingest.h"
#include "model/clock_model.h"
#include "model/series.h"
#include "model/span_store.h"

#define S 1000000000LL

static int64_t id_of(struct series_store *st, const char *e, const char *m,
                     const char *port)
{
    struct series_label l = {"port", port};

    return series_store_find(st, e, m, port ? &l : NULL, port ? 1 : 0);
}

/* ---------------------------------------------------------------------
 * DPU / switch counters
 * --------------------------------------------------------------------- */

static void test_dpu_csv(void **state)
{
    const char *csv = "time,device,port,counter,value,type\n"
                      "1700000000.5,bf3-a,p0,rx_bytes,100,\n"
                      "1700000001.5,bf3-a,p0,rx_bytes,4294967200,counter32\n"
                      "1700000002.5,bf3-a,p0,rx_bytes,104,counter32\n"
                      "1700000001.5,bf3-a,,link_up,1,\n"
                      "1700000001.5,leaf-1,swp3,latency_seconds,0.000012,\n";
    struct series_store *st = series_store_create();
    char err[256];
    int64_t id;

    (void)state;
    assert_int_equal(
        dpu_counters_parse(st, "c.csv", csv, strlen(csv), err, sizeof err), 5);
    id = id_of(st, "bf3-a", "dpu_rx_bytes", "p0");
    assert_true(id >= 0);
    assert_int_equal(series_kind(st, (uint32_t)id), SERIES_COUNTER);
    assert_true(series_wrap(st, (uint32_t)id) == 4294967296.0);
    assert_int_equal(series_len(st, (uint32_t)id), 3);
    assert_true(series_times(st, (uint32_t)id)[0] == 1700000000500000000LL);
    /* by name: link_up and latency_seconds are gauges; no port label */
    id = id_of(st, "bf3-a", "dpu_link_up", NULL);
    assert_true(id >= 0);
    assert_int_equal(series_kind(st, (uint32_t)id), SERIES_GAUGE);
    id = id_of(st, "leaf-1", "dpu_latency_seconds", "swp3");
    assert_true(id >= 0 && series_values(st, (uint32_t)id)[0] == 0.000012);
    series_store_destroy(st);
}

static void test_dpu_json(void **state)
{
    const char *jl =
        "{\"time_ns\": 1700000000500000000, \"device\": \"bf3-a\", \"port\": "
        "\"p0\", \"counters\": {\"tx_bytes\": 10, \"retransmits\": 2}, "
        "\"gauges\": {\"latency_seconds\": 0.00002}}\n"
        "\n"
        "{\"time\": 1700000001, \"device\": \"bf3-a\", \"port\": \"p0\", "
        "\"counters\": {\"tx_bytes\": 20}}\r\n";
    struct series_store *st = series_store_create();
    char err[256];
    int64_t id;

    (void)state;
    assert_true(dpu_counters_sniff(jl, strlen(jl)));
    assert_int_equal(
        dpu_counters_parse(st, "c.jsonl", jl, strlen(jl), err, sizeof err), 4);
    id = id_of(st, "bf3-a", "dpu_tx_bytes", "p0");
    assert_int_equal(series_len(st, (uint32_t)id), 2);
    assert_true(series_times(st, (uint32_t)id)[1] == 1700000001LL * S);
    id = id_of(st, "bf3-a", "dpu_latency_seconds", "p0");
    assert_int_equal(series_kind(st, (uint32_t)id), SERIES_GAUGE);
    series_store_destroy(st);
}

/* Each bad input fails with its position and what was expected. */
static void test_dpu_bad(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"time,device,counter\n1,a,b\n", "c:1:1: the header has no column "
                                         "\"value\""},
        {"time,device,counter,value,color\n", "c:1:27: unknown column "
                                              "\"color\""},
        {"device,counter,value\n", "c:1:1: the header needs one of the "
                                   "columns time and time_ns"},
        {"time,device,counter,value\n1,a,rx,5\n2,a,rx\n",
         "c:3:7: row has 3 cells, the header has 4"},
        {"time,device,counter,value\n1,a,rx-bytes,5\n",
         "c:2:5: counter \"rx-bytes\": expected a name"},
        {"time,device,counter,value\nsoon,a,rx,5\n",
         "c:2:1: time \"soon\": expected Unix seconds"},
        {"time,device,counter,value\n1,a,rx,lots\n",
         "c:2:8: value \"lots\" is not a number"},
        {"time,device,counter,value,type\n1,a,rx,1,gauge\n2,a,rx,1,counter\n",
         "c:3:1: counter \"rx\" of a is a counter here and a gauge before"},
        {"time,device,counter,value,type\n1,a,rx,1,meter\n",
         "c:2:10: type: expected counter"},
        {"{\"time\": 1, \"device\": \"a\", \"counters\": {\"x\": "
         "1}}\n{\"time\": 1,",
         "c:2:"},
        {"{\"time\": 1, \"device\": \"a\", \"counters\": {\"x\": \"1\"}}\n",
         "c:1:1: \"counters\".\"x\": expected a number"},
        {"{\"time\": 1, \"device\": \"a\", \"colour\": 1, \"counters\": {}}\n",
         "c:1:1: unknown member \"colour\""},
        {"{\"time\": 1, \"counters\": {\"x\": 1}}\n",
         "c:1:1: \"device\": expected a non-empty string"},
        {"{\"device\": \"a\", \"counters\": {\"x\": 1}}\n",
         "c:1:1: expected one of \"time\" and \"time_ns\""},
    };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct series_store *st = series_store_create();
        int64_t rc = dpu_counters_parse(st, "c", cases[i].text,
                                        strlen(cases[i].text), err, sizeof err);

        if (rc != -INGEST_E_MALFORMED ||
            strncmp(err, cases[i].want, strlen(cases[i].want)))
            fail_msg("case %zu: rc %lld, \"%s\" (want \"%s\")", i,
                     (long long)rc, err, cases[i].want);
        series_store_destroy(st);
    }
}

/* ---------------------------------------------------------------------
 * Scrapes, detection, offsets
 * --------------------------------------------------------------------- */

static void test_scrapes(void **state)
{
    const char *text = "# TYPE up gauge\n"
                       "up 1\n"
                       "# SCRAPE 1700000010.5 node-a\n"
                       "# TYPE up gauge\n"
                       "up 1\n"
                       "# SCRAPE 1700000011.5 node-a\n"
                       "up 0\n"
                       "up{service=\"x\"} 2 1700000000123\n";
    struct series_store *st = series_store_create();
    char err[256];
    int64_t id;

    (void)state;
    assert_int_equal(imb_scrapes_parse(st, "s.prom", text, strlen(text),
                                       1700000000LL * S, NULL, err, sizeof err),
                     4);
    /* before the first marker: the default time, entity "" */
    id = series_store_find(st, "", "up", NULL, 0);
    assert_true(id >= 0 && series_len(st, (uint32_t)id) == 1);
    assert_true(series_times(st, (uint32_t)id)[0] == 1700000000LL * S);
    /* after it: the marker's target and times */
    id = series_store_find(st, "node-a", "up", NULL, 0);
    assert_int_equal(series_len(st, (uint32_t)id), 2);
    assert_true(series_times(st, (uint32_t)id)[1] == 1700000011500000000LL);
    assert_true(series_values(st, (uint32_t)id)[1] == 0);
    /* a sample's own timestamp wins */
    id = series_store_find(st, "x", "up", NULL, 0);
    assert_true(series_times(st, (uint32_t)id)[0] == 1700000000123000000LL);
    series_store_destroy(st);

    /* an error in the third scrape names the file's line 6 */
    const char *bad = "up 1\n# SCRAPE 1 a\nup 1\n# SCRAPE 2 a\nup 1\nup{ 3\n";
    st = series_store_create();
    assert_int_equal(imb_scrapes_parse(st, "b.prom", bad, strlen(bad), 0, NULL,
                                       err, sizeof err),
                     -INGEST_E_MALFORMED);
    assert_true(!strncmp(err, "b.prom:6:", 9));
    series_store_destroy(st);
}

static void test_detect_and_offsets(void **state)
{
    static const struct {
        const char *text;
        enum imb_input_kind kind;
    } cases[] = {
        {"# HELP up x\nup 1\n", IMB_IN_PROM_TEXT},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
         "\"result\":[]}}",
         IMB_IN_PROM_RANGE},
        {"time_ns,entity,metric,labels,kind,value\n", IMB_IN_COLLECT_REC},
        {"time,device,port,counter,value\n", IMB_IN_DPU},
        {"{\"resourceSpans\":[]}", IMB_IN_TRACES},
    };
    char err[256], *p;
    int status;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p = testlib_write_temp_str(cases[i].text);
        assert_int_equal(imb_input_detect(p, &status, err, sizeof err),
                         cases[i].kind);
        unlink(p);
        free(p);
    }
    assert_int_equal(
        imb_input_detect("/nonexistent/x", &status, err, sizeof err),
        IMB_IN_UNKNOWN);
    assert_int_equal(status, -INGEST_E_NOINPUT);

    struct clock_model *m;
    p = testlib_write_temp_str(
        "{\"reference\":\"a\",\"at_unix_nano\":5,\"nodes\":["
        "{\"node\":\"a\",\"offset_ns\":0},"
        "{\"node\":\"b\",\"offset_ns\":3000000,\"drift_ppm\":0}]}");
    assert_int_equal(imb_offsets_read(p, &m, err, sizeof err), 0);
    int b = clock_model_find(m, "b", 1);
    assert_true(b >= 0);
    /* b's clock is 3 ms ahead: its reading maps 3 ms earlier */
    assert_true(clock_model_to_reference(m, b, 10000000) == 7000000);
    clock_model_destroy(m);
    unlink(p);
    free(p);
    p = testlib_write_temp_str("{\"nodes\":[{\"node\":1}]}");
    assert_int_equal(imb_offsets_read(p, &m, err, sizeof err),
                     -INGEST_E_MALFORMED);
    assert_null(m);
    unlink(p);
    free(p);
}

/* ---------------------------------------------------------------------
 * Collectives from spans, on the estimated clock
 * --------------------------------------------------------------------- */

struct gen {
    struct span_store *s;
    uint64_t next_id;
    uint32_t dom[5];
};

static uint64_t add(struct gen *g, const uint8_t *tid, uint64_t parent,
                    uint32_t dom, enum span_kind kind, double start, double end,
                    double skew)
{
    struct span_rec r = {0};

    memcpy(r.trace_id, tid, 16);
    r.span_id = ++g->next_id;
    r.parent_id = parent;
    r.flags = parent ? SPAN_F_HAS_PARENT : 0;
    r.start_ns = (int64_t)llround((start + skew) * 1e9);
    r.end_ns = (int64_t)llround((end + skew) * 1e9);
    r.domain = dom;
    r.kind = (uint8_t)kind;
    assert_true(span_store_add(g->s, &r) >= 0);
    return r.span_id;
}

/* 120 requests over 60 s: gateway -> two decode ranks (10 steps of 2
 * all-reduces each, 1 ms of compute before each) -> gateway; rank 1 is
 * slowed 30% from t = 20 s when slow; its clock is 3 ms ahead. A
 * tokenizer and a detokenizer add one leaf span each per request. */
static struct span_store *pipeline(bool slow)
{
    static const char *names[5] = {"node-gateway", "node-decode-0",
                                   "node-decode-1", "node-tokenizer",
                                   "node-detok"};
    struct gen g = {span_store_create(), 0, {0}};
    const double base = 1700000000.0, skew1 = 0.003, hop = 0.001;

    for (int d = 0; d < 5; d++)
        g.dom[d] = span_store_domain_id(g.s, names[d], strlen(names[d]));
    for (int i = 0; i < 120; i++) {
        uint8_t tid[16] = {1};
        double t = base + i * 0.5, rank_t[2], done = 0;
        uint64_t prod, cons[2], step[2];

        memcpy(tid + 8, &i, sizeof i);
        add(&g, tid, 0, g.dom[3], SPAN_KIND_INTERNAL, t - 0.002, t - 0.0015, 0);
        prod = add(&g, tid, 0, g.dom[0], SPAN_KIND_PRODUCER, t, t + 0.0001, 0);
        for (int r = 0; r < 2; r++) {
            rank_t[r] = t + hop;
            cons[r] = add(&g, tid, prod, g.dom[1 + r], SPAN_KIND_CONSUMER,
                          rank_t[r], rank_t[r] + 0.0001, r ? skew1 : 0);
        }
        for (int k = 0; k < 10; k++) {
            double st0 = rank_t[0];
            for (int r = 0; r < 2; r++)
                step[r] =
                    add(&g, tid, cons[r], g.dom[1 + r], SPAN_KIND_INTERNAL,
                        rank_t[r], rank_t[r] + 0.003, r ? skew1 : 0);
            (void)st0;
            for (int l = 0; l < 2; l++) {
                double arr[2], rel;

                for (int r = 0; r < 2; r++)
                    arr[r] = rank_t[r] +
                             (r == 1 && slow && i >= 40 ? 0.0013 : 0.001);
                rel = (arr[0] > arr[1] ? arr[0] : arr[1]) + 0.00005;
                for (int r = 0; r < 2; r++) {
                    add(&g, tid, step[r], g.dom[1 + r], SPAN_KIND_INTERNAL,
                        arr[r], rel, r ? skew1 : 0);
                    rank_t[r] = rel;
                }
            }
        }
        done = rank_t[0];
        for (int r = 0; r < 2; r++) {
            uint64_t p = add(&g, tid, cons[r], g.dom[1 + r], SPAN_KIND_PRODUCER,
                             done, done + 0.0001, r ? skew1 : 0);
            add(&g, tid, p, g.dom[0], SPAN_KIND_CONSUMER, done + hop,
                done + hop + 0.0001, 0);
        }
        add(&g, tid, 0, g.dom[4], SPAN_KIND_INTERNAL, done + 0.002,
            done + 0.0025, 0);
    }
    assert_int_equal(span_store_index(g.s), 0);
    return g.s;
}

static struct clock_model *estimated(struct span_store *s)
{
    struct edge_list el;
    struct clock_estimate e;
    struct estimate_opts eo = {.reference = "node-gateway", .no_drift = true};
    struct clock_model *m;
    char err[128];

    assert_int_equal(edge_list_build(&el, s), 0);
    assert_int_equal(estimate_run(&e, s, &el, &eo, err, sizeof err), 0);
    m = estimate_to_model(&e, s);
    assert_non_null(m);
    clock_estimate_free(&e);
    edge_list_free(&el);
    return m;
}

static size_t tp_findings(struct imb_collectives *c, const char **key)
{
    struct imb_runbook *rb = imb_runbook_create();
    struct series_store *st = series_store_create();
    struct imb_engine *e;
    char err[256];
    size_t n, k = 0;

    assert_int_equal(imb_runbook_load_default(rb, err, sizeof err), 0);
    e = imb_engine_create(rb);
    assert_true(imb_engine_update(e, st, c, INT64_MAX, err, sizeof err) > 0);
    const struct imb_finding *f = imb_engine_findings(e, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].cond->id, "tp_straggler")) {
            k++;
            *key = f[i].key;
        }
    static char keep[64];
    if (k)
        snprintf(keep, sizeof keep, "%s", *key), *key = keep;
    imb_engine_destroy(e);
    imb_runbook_destroy(rb);
    series_store_destroy(st);
    return k;
}

static void test_collectives_from_traces(void **state)
{
    struct span_store *s = pipeline(false);
    struct clock_model *m = estimated(s);
    struct imb_collectives *c = imb_collectives_create();
    const char *key = NULL;
    int d1 = clock_model_find(m, "node-decode-1", 13);

    (void)state;
    /* the estimate sees rank 1's clock 3 ms ahead (within 0.1 ms) */
    assert_true(d1 >= 0);
    assert_true(llabs(clock_model_offset_at(m, d1, 0) - 3000000) < 100000);
    /* every all-reduce matched (tokenizer and detokenizer spans are leaf
     * spans too, but they do not overlap: no collective) */
    assert_int_equal(imb_collectives_from_spans(c, s, m, 1000000), 120 * 20);
    assert_int_equal(c->nranks, 2);
    /* on one clock: no straggler */
    assert_int_equal(tp_findings(c, &key), 0);
    imb_collectives_destroy(c);

    /* on the ranks' own clocks rank 1 would look 3 ms late (a wider overlap
     * tolerance: uncorrected, the spans of a collective lie 3 ms apart) */
    c = imb_collectives_create();
    assert_int_equal(imb_collectives_from_spans(c, s, NULL, 10000000),
                     120 * 20);
    assert_int_equal(tp_findings(c, &key), 1);
    assert_string_equal(key, "node-decode-1");
    imb_collectives_destroy(c);
    clock_model_destroy(m);
    span_store_destroy(s);

    /* a real slowdown of rank 1 from t = 20 s is found through the offset */
    s = pipeline(true);
    m = estimated(s);
    c = imb_collectives_create();
    assert_int_equal(imb_collectives_from_spans(c, s, m, 1000000), 120 * 20);
    assert_int_equal(tp_findings(c, &key), 1);
    assert_string_equal(key, "node-decode-1");
    imb_collectives_destroy(c);
    clock_model_destroy(m);
    span_store_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dpu_csv),
        cmocka_unit_test(test_dpu_json),
        cmocka_unit_test(test_dpu_bad),
        cmocka_unit_test(test_scrapes),
        cmocka_unit_test(test_detect_and_offsets),
        cmocka_unit_test(test_collectives_from_traces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
