/* test_ingest_prom: the Prometheus readers (ingest/prom_text.h: one scrape
 * in the text exposition format; ingest/prom_range.h: query_range JSON):
 * known bodies in, known series out (entity rule, labels, kinds from
 * # TYPE, timestamps, NaN and Inf), every malformed input named with line
 * and column, and a counter scraped three times aligned to a rate. */
#include "testlib.h"

#include <math.h>

#include "ingest/ingest.h"
#include "ingest/prom_common.h"
#include "ingest/prom_range.h"
#include "ingest/prom_text.h"
#include "ingest/source.h"
#include "model/series.h"

#define S 1000000000LL
#define T0 (1700000000 * S)

static const char scrape[] =
    "# HELP vllm:num_requests_running Number of requests running.\n"
    "# TYPE vllm:num_requests_running gauge\n"
    "vllm:num_requests_running{model_name=\"m\",service=\"decode\"} 3\n"
    "# TYPE vllm:generation_tokens_total counter\n"
    "vllm:generation_tokens_total{service=\"decode\"} 1027 1700000000123\n"
    "# TYPE ttft histogram\n"
    "ttft_bucket{service=\"decode\",le=\"0.1\"} 2\n"
    "ttft_bucket{service=\"decode\",le=\"+Inf\"} 5\n"
    "ttft_sum{service=\"decode\"} 1.5\n"
    "ttft_count{service=\"decode\"} 5\n"
    "# TYPE lat summary\n"
    "lat{job=\"api\",quantile=\"0.5\"} 0.2\n"
    "lat_sum{job=\"api\"} 10\n"
    "lat_count{job=\"api\",} 40\n"
    "# TYPE req counter\n"
    "req_total{pod=\"p1\"} 7\n"
    "\n"
    "  untyped_thing { path = \"a\\\\b\\\"c\\nd\" } NaN\r\n"
    "no_labels +Inf\n"
    "# EOF\n"
    "after_eof 1\n";

static int64_t find(struct series_store *s, const char *e, const char *m,
                    const struct series_label *l, size_t n)
{
    int64_t id = series_store_find(s, e, m, l, n);

    if (id < 0)
        fail_msg("no series %s %s", e, m);
    return id;
}

static double last(struct series_store *s, int64_t id)
{
    return series_values(s, (uint32_t)id)[series_len(s, (uint32_t)id) - 1];
}

static void test_text(void **state)
{
    struct series_store *s = series_store_create();
    struct series_label rank[] = {{"rank", "3"}};
    struct prom_opts o = {NULL, "stage0", rank, 1};
    struct series_label l[3];
    char err[512];
    int64_t id;

    (void)state;
    assert_int_equal(prom_text_parse(s, "s", scrape, strlen(scrape), T0, &o,
                                     err, sizeof err),
                     12);
    l[0] = (struct series_label){"model_name", "m"};
    l[1] = rank[0];
    id = find(s, "decode", "vllm:num_requests_running", l, 2);
    assert_int_equal(series_kind(s, (uint32_t)id), SERIES_GAUGE);
    assert_true(last(s, id) == 3);
    assert_true(series_times(s, (uint32_t)id)[0] == T0);
    id = find(s, "decode", "vllm:generation_tokens_total", rank, 1);
    assert_int_equal(series_kind(s, (uint32_t)id), SERIES_COUNTER);
    assert_true(series_times(s, (uint32_t)id)[0] == 1700000000123000000LL);
    l[0] = (struct series_label){"le", "+Inf"};
    id = find(s, "decode", "ttft_bucket", l, 2);
    assert_int_equal(series_kind(s, (uint32_t)id), SERIES_COUNTER);
    assert_true(last(s, id) == 5);
    assert_int_equal(
        series_kind(s, (uint32_t)find(s, "decode", "ttft_sum", rank, 1)),
        SERIES_COUNTER);
    l[0] = (struct series_label){"quantile", "0.5"};
    id = find(s, "api", "lat", l, 2); /* entity from job */
    assert_int_equal(series_kind(s, (uint32_t)id), SERIES_GAUGE);
    assert_int_equal(
        series_kind(s, (uint32_t)find(s, "api", "lat_count", rank, 1)),
        SERIES_COUNTER);
    id = find(s, "p1", "req_total", rank, 1); /* pod; OpenMetrics counter */
    assert_int_equal(series_kind(s, (uint32_t)id), SERIES_COUNTER);
    l[0] = (struct series_label){"path", "a\\b\"c\nd"};
    id = find(s, "stage0", "untyped_thing", l, 2);
    assert_true(isnan(last(s, id)));
    id = find(s, "stage0", "no_labels", rank, 1);
    assert_true(isinf(last(s, id)));
    assert_int_equal(series_store_find(s, "stage0", "after_eof", rank, 1), -1);
    series_store_destroy(s);

    /* --service-label job: decode's samples have no job -> default "" */
    s = series_store_create();
    o = (struct prom_opts){"job", NULL, NULL, 0};
    assert_int_equal(prom_text_parse(s, "s", scrape, strlen(scrape), T0, &o,
                                     err, sizeof err),
                     12);
    l[0] = (struct series_label){"service", "decode"};
    find(s, "", "ttft_sum", l, 1);
    l[0] = (struct series_label){"quantile", "0.5"};
    find(s, "api", "lat", l, 1);
    series_store_destroy(s);
}

static void text_bad(const char *body, const char *want)
{
    struct series_store *s = series_store_create();
    char err[512] = "";

    assert_int_equal(
        prom_text_parse(s, "s", body, strlen(body), T0, NULL, err, sizeof err),
        -INGEST_E_MALFORMED);
    assert_string_equal(err, want);
    series_store_destroy(s);
}

static void test_text_errors(void **state)
{
    (void)state;
    text_bad("x{a=\"1\",a=\"2\"} 1\n", "s:1:9: duplicate label name \"a\"");
    text_bad("x{a=\"1} 1\n", "s:1:5: unterminated label value");
    text_bad("x 1 abc\n", "s:1:5: expected a timestamp in ms");
    text_bad("x abc\n", "s:1:3: expected a sample value (a number, NaN, "
                        "+Inf or -Inf)");
    text_bad("x\n", "s:1:2: expected a sample value (a number, NaN, +Inf or "
                    "-Inf)");
    text_bad("x{a=\"\\q\"} 1\n",
             "s:1:6: expected \\\\, \\\" or \\n in a label value");
    text_bad("# TYPE x countr\n", "s:1:10: expected counter, gauge, "
                                  "histogram, summary or untyped");
    text_bad("ok 1\n# c\n1x 2\n", "s:3:1: expected a metric name");
    text_bad("x{a=\"1\" b=\"2\"} 1\n",
             "s:1:9: expected ',' or '}' after a label value");
    text_bad("x{1=\"2\"} 1\n", "s:1:3: expected a label name or '}'");
    text_bad("x 1 2 3\n", "s:1:7: unexpected text after the sample");
    text_bad("x 0x10\n", "s:1:3: expected a sample value (a number, NaN, "
                         "+Inf or -Inf)");
    text_bad("# TYPE x counter\nx 1\n# TYPE x gauge\nx 2\n",
             "s:4:1: series x is a gauge here and a counter before");
}

/* A counter scraped at 0, 1, 2 s (0, 10, 30), then the target restarts
 * (5 at 3 s): rate per 1 s row = NaN, 10, 20, 5. */
static void test_text_scrapes_rate(void **state)
{
    struct series_store *s = series_store_create();
    static const char *bodies[] = {"# TYPE req_total counter\nreq_total 0\n",
                                   "# TYPE req_total counter\nreq_total 10\n",
                                   "# TYPE req_total counter\nreq_total 30\n",
                                   "# TYPE req_total counter\nreq_total 5\n"};
    struct prom_opts o = {NULL, "gw", NULL, 0};
    struct series_align a = {0};
    struct series_table *t;
    char err[256];

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(prom_text_parse(s, "s", bodies[i], strlen(bodies[i]),
                                         T0 + i * S, &o, err, sizeof err),
                         1);
    assert_true(series_align_cover(s, NULL, 0, S, &a));
    a.agg = SERIES_AGG_AUTO;
    assert_int_equal(series_table_from_store(s, NULL, 0, &a, &t), 0);
    assert_int_equal(t->nrows, 4);
    assert_string_equal(t->cols[0].name, "gw_req_total");
    assert_true(isnan(t->values[0]) && t->values[1] == 10 &&
                t->values[2] == 20 && t->values[3] == 5);
    series_table_destroy(t);
    series_store_destroy(s);
}

static int64_t range_parse(struct series_store *s, const char *doc,
                           const struct prom_opts *o, char *err, size_t n)
{
    struct source *src = source_open_memory(doc, strlen(doc), "r.json", err, n);
    int64_t rc;

    assert_non_null(src);
    rc = prom_range_read_source(s, src, o, err, n);
    source_close(src);
    return rc;
}

static const char matrix[] =
    "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[\n"
    "{\"metric\":{\"__name__\":\"cpu\",\"service\":\"cart\",\"instance\":"
    "\"h:1\"},\"values\":[[1700000000,\"0.5\"],[1700000001.5,\"NaN\"],"
    "[1700000003,\"+Inf\"]]},\n"
    "{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"api\"},"
    "\"values\":[[1700000000,\"1\"]]},\n"
    "{\"values\":[[1700000000,\"2\"]],\"metric\":{\"pod\":\"p\"}}\n"
    "]},\"warnings\":[\"x\"]}\n";

static void test_range(void **state)
{
    struct series_store *s = series_store_create();
    struct series_label inst[] = {{"instance", "h:1"}};
    struct series_label svc[] = {{"service", "cart"}};
    struct prom_opts o = {"instance", NULL, NULL, 0};
    char err[512];
    int64_t id;
    const char *vec = "{\"status\":\"success\",\"data\":{\"resultType\":"
                      "\"vector\",\"result\":[{\"metric\":{\"__name__\":"
                      "\"up\",\"job\":\"x\"},\"value\":[1700000000.123,"
                      "\"1\"]}]}}";

    (void)state;
    assert_int_equal(range_parse(s, matrix, NULL, err, sizeof err), 5);
    assert_int_equal(series_store_count(s), 3);
    id = find(s, "cart", "cpu", inst, 1);
    assert_int_equal(series_len(s, (uint32_t)id), 3);
    assert_true(series_times(s, (uint32_t)id)[1] == T0 + 1500000000);
    assert_true(series_values(s, (uint32_t)id)[0] == 0.5);
    assert_true(isnan(series_values(s, (uint32_t)id)[1]));
    assert_true(isinf(series_values(s, (uint32_t)id)[2]));
    assert_int_equal(series_kind(s, (uint32_t)id), SERIES_GAUGE);
    id = find(s, "api", "http_requests_total", NULL, 0);
    assert_int_equal(series_kind(s, (uint32_t)id), SERIES_COUNTER);
    id = find(s, "p", "value", NULL, 0); /* no __name__: a function result */
    assert_true(last(s, id) == 2);
    series_store_destroy(s);

    s = series_store_create();
    assert_int_equal(range_parse(s, matrix, &o, err, sizeof err), 5);
    find(s, "h:1", "cpu", svc, 1);
    assert_int_equal(range_parse(s, vec, NULL, err, sizeof err), 1);
    id = find(s, "x", "up", NULL, 0);
    assert_true(series_times(s, (uint32_t)id)[0] == T0 + 123000000);
    series_store_destroy(s);
}

static void range_bad(const char *doc, const char *want)
{
    struct series_store *s = series_store_create();
    char err[512] = "";

    assert_int_equal(range_parse(s, doc, NULL, err, sizeof err),
                     -INGEST_E_MALFORMED);
    if (!strstr(err, want))
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    series_store_destroy(s);
}

static void test_range_errors(void **state)
{
    (void)state;
    range_bad("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
              "\"parse error at char 1\"}",
              "r.json:1:1: expected a successful response; Prometheus "
              "returned the error \"parse error at char 1\"");
    range_bad("{\"data\":{\"result\":[{\"metric\":{},\"values\":"
              "[[1,\"x\"]]}]}}",
              "r.json:1:46: expected a sample value");
    range_bad("{\"data\":{\"result\":[{\"values\":[[\"t\",\"1\"]]}]}}",
              "r.json:1:32: expected a time in Unix seconds");
    range_bad("{\"data\":{\"result\":[{\"values\":[[1,\"1\",3]]}]}}",
              "r.json:1:38: expected ']' after [time, value]");
    range_bad("{\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"1\"]}}",
              "r.json:1:23: expected resultType \"matrix\" or \"vector\"");
    range_bad("{\"data\":{\"result\":[[1,\"1\"]]}}",
              "r.json:1:20: expected a series object");
    range_bad("{\"data\":{}}\n{", "r.json:2:1: expected the end of the "
                                  "document");
    range_bad("[1]", "r.json:1:1: expected a Prometheus API response");
    range_bad("{\"data\":{\"result\":[{\"metric\":{\"a\":1}}]}}",
              "r.json:1:35: expected a label value as a string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_errors),
        cmocka_unit_test(test_text_scrapes_rate),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_range_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
