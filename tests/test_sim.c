/* test_sim: the simulator and the JSON trace writers. The simulator is the
 * oracle of the simulation tier, so these tests check it against first
 * principles: determinism, the clock formula, where skew must (and must not)
 * produce violations, and that every writer's output parses back to the
 * spans it was given. */
#include "testlib.h"

#include <jansson.h>
#include <math.h>

#include "model/span_store.h"
#include "output/trace_writer.h"
#include "sim/sim.h"

struct run {
    char *out;
    size_t len;
    json_t *truth;
};

static void run_sim(const struct sim_config *cfg,
                    const struct trace_writer_ops *ops, struct run *r)
{
    char *tbuf = NULL;
    size_t tlen = 0;
    char err[256] = "";
    FILE *out = open_memstream(&r->out, &r->len);
    FILE *truth = open_memstream(&tbuf, &tlen);
    json_error_t jerr;

    assert_non_null(out);
    assert_non_null(truth);
    if (sim_run(cfg, ops, out, truth, err, sizeof err) != 0)
        fail_msg("sim_run: %s", err);
    fclose(out);
    fclose(truth);
    r->truth = json_loadb(tbuf, tlen, 0, &jerr);
    if (!r->truth)
        fail_msg("truth: %s at line %d", jerr.text, jerr.line);
    free(tbuf);
}

static void run_free(struct run *r)
{
    free(r->out);
    json_decref(r->truth);
}

static json_int_t jint(const json_t *obj, const char *path1, const char *key)
{
    const json_t *o = path1 ? json_object_get(obj, path1) : obj;
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("no integer '%s'", key);
    return json_integer_value(v);
}

static json_int_t expected(const struct run *r, const char *key)
{
    return jint(r->truth, "expected", key);
}

static json_int_t by_kind(const struct run *r, const char *key)
{
    return jint(json_object_get(r->truth, "expected"), "by_kind", key);
}

static void base_config(struct sim_config *cfg, unsigned requests)
{
    sim_config_init(cfg);
    cfg->requests = requests;
    cfg->duration_s = 60;
}

static void add_clock(struct sim_config *cfg, enum sim_clock_param p,
                      const char *spec)
{
    char err[256];

    if (sim_config_parse_clock(cfg, p, spec, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* ---- configuration parsing ---- */

static void test_parse_clock(void **state)
{
    struct sim_config cfg;
    char err[256];
    int64_t ns;

    (void)state;
    sim_config_init(&cfg);
    add_clock(&cfg, SIM_CLOCK_ANY, "prefill=5ms");
    add_clock(&cfg, SIM_CLOCK_ANY, "node-prefill=40ppm");
    add_clock(&cfg, SIM_CLOCK_ANY, "prefill=2ms@30s");
    add_clock(&cfg, SIM_CLOCK_SKEW, "decode-1=-300us");
    add_clock(&cfg, SIM_CLOCK_DRIFT, "tokenizer=-12.5");
    assert_int_equal(cfg.nclocks, 3);
    assert_string_equal(cfg.clocks[0].node, "node-prefill");
    assert_int_equal(cfg.clocks[0].skew_ns, 5000000);
    assert_true(cfg.clocks[0].drift_ppm == 40.0);
    assert_int_equal(cfg.clocks[0].step_ns, 2000000);
    assert_int_equal(cfg.clocks[0].step_at_ns, 30000000000LL);
    assert_string_equal(cfg.clocks[1].node, "node-decode-1");
    assert_int_equal(cfg.clocks[1].skew_ns, -300000);
    assert_true(cfg.clocks[2].drift_ppm == -12.5);

    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_SKEW, "prefill=5",
                                            err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "unit"));
    assert_int_equal(
        sim_config_parse_clock(&cfg, SIM_CLOCK_SKEW, "=5ms", err, sizeof err),
        -1);
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_DRIFT,
                                            "prefill=5ms", err, sizeof err),
                     -1);
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_STEP, "prefill=5ms",
                                            err, sizeof err),
                     -1);
    assert_int_equal(sim_parse_duration("0.5ms", 0, &ns), 0);
    assert_int_equal(ns, 500000);
    assert_int_equal(sim_parse_duration("3", 0, &ns), -1);
    assert_int_equal(sim_parse_duration("3", 1000000000, &ns), 0);
    assert_int_equal(ns, 3000000000LL);
    assert_int_equal(sim_parse_duration("3 ms", 0, &ns), -1);
}

static void test_unknown_node(void **state)
{
    struct sim_config cfg;
    char err[256];

    (void)state;
    base_config(&cfg, 1);
    add_clock(&cfg, SIM_CLOCK_SKEW, "decode-2=1ms"); /* tp = 2: ranks 0, 1 */
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "node-decode-2"));
    assert_int_equal(sim_run(&cfg, &trace_writer_otlp_json_ops, stdout, NULL,
                             err, sizeof err),
                     -1);
    cfg.tp = 3;
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), 0);
}

/* ---- the model ---- */

static void test_determinism(void **state)
{
    struct sim_config cfg;
    struct run a, b, c;

    (void)state;
    base_config(&cfg, 20);
    cfg.seed = 7;
    cfg.arrivals = SIM_ARRIVALS_POISSON;
    add_clock(&cfg, SIM_CLOCK_SKEW, "prefill=5ms");
    run_sim(&cfg, &trace_writer_otlp_json_ops, &a);
    run_sim(&cfg, &trace_writer_otlp_json_ops, &b);
    cfg.seed = 8;
    run_sim(&cfg, &trace_writer_otlp_json_ops, &c);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.out, b.out, a.len);
    assert_true(a.len != c.len || memcmp(a.out, c.out, a.len) != 0);
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

static void test_truth_offsets(void **state)
{
    struct sim_config cfg;
    struct run r;
    size_t i;
    json_t *node;

    (void)state;
    base_config(&cfg, 30);
    add_clock(&cfg, SIM_CLOCK_SKEW, "prefill=5ms");
    add_clock(&cfg, SIM_CLOCK_DRIFT, "decode-1=40ppm");
    add_clock(&cfg, SIM_CLOCK_SKEW, "tokenizer=-300us");
    add_clock(&cfg, SIM_CLOCK_DRIFT, "tokenizer=-20ppm");
    add_clock(&cfg, SIM_CLOCK_STEP, "detokenizer=2ms@10s");
    run_sim(&cfg, &trace_writer_otlp_json_ops, &r);
    json_int_t start = jint(r.truth, NULL, "start_unix_nano");
    json_int_t at = jint(r.truth, NULL, "at_unix_nano");
    assert_int_equal(start, cfg.start_unix_ns);
    /* the last request arrives at 58 s and lasts well under a second */
    assert_true(at > start + 58000000000LL && at < start + 60000000000LL);
    assert_int_equal(json_array_size(json_object_get(r.truth, "nodes")), 6);
    json_array_foreach(json_object_get(r.truth, "nodes"), i, node)
    {
        json_int_t skew = jint(node, NULL, "skew_ns");
        double ppm = json_number_value(json_object_get(node, "drift_ppm"));
        json_int_t step = jint(node, NULL, "step_ns");
        json_int_t want =
            skew + llround(ppm * 1e-6 * (double)(at - start)) + step;
        assert_int_equal(jint(node, NULL, "offset_ns"), want);
        assert_true(jint(node, NULL, "spans") > 0);
    }
    node = json_array_get(json_object_get(r.truth, "nodes"), 4);
    assert_string_equal(json_string_value(json_object_get(node, "node")),
                        "node-decode-1");
    assert_int_equal(jint(node, NULL, "offset_ns"),
                     llround(40e-6 * (double)(at - start)));
    node = json_array_get(json_object_get(r.truth, "nodes"), 5);
    assert_int_equal(jint(node, NULL, "step_at_unix_nano"),
                     start + 10000000000LL);
    run_free(&r);
}

static void test_zero_skew_no_violations(void **state)
{
    struct sim_config cfg;
    struct run r;
    size_t i;
    json_t *e;

    (void)state;
    for (int rpc = 0; rpc < 2; rpc++) {
        base_config(&cfg, 40);
        cfg.tp = 3;
        cfg.transport = rpc ? SIM_TRANSPORT_RPC : SIM_TRANSPORT_ONEWAY;
        run_sim(&cfg, &trace_writer_otlp_json_ops, &r);
        assert_int_equal(expected(&r, "traces"), 40);
        /* oneway: 3 hops + one per rank + detokenizer->gateway; rpc has no
         * hop back (the responses close the loop) */
        assert_int_equal(expected(&r, "pairs"), 40 * (rpc ? 6 : 7));
        assert_int_equal(expected(&r, "violating_pairs"), 0);
        assert_int_equal(by_kind(&r, "negative_duration"), 0);
        json_array_foreach(
            json_object_get(json_object_get(r.truth, "expected"), "edges"), i,
            e) assert_true(jint(e, NULL, "min_slack_ns") >= cfg.hop_min_ns);
        run_free(&r);
    }
}

/* Prefill's clock 5 ms ahead with 2 ms hops: messages out of prefill seem to
 * arrive before they were sent (slack = latency - 5 ms < 0); messages into
 * prefill only look slower. With rpc the SERVER span at prefill also seems
 * to end after its CLIENT span at the tokenizer. */
static void check_prefill_edges(const struct run *r, bool rpc)
{
    size_t i;
    json_t *e;

    json_array_foreach(
        json_object_get(json_object_get(r->truth, "expected"), "edges"), i, e)
    {
        const char *from = json_string_value(json_object_get(e, "from"));
        const char *to = json_string_value(json_object_get(e, "to"));
        json_int_t slack = jint(e, NULL, "min_slack_ns");
        json_int_t viol = jint(e, NULL, "violations");

        if (strcmp(from, "node-prefill") == 0) {
            assert_true(viol > 0);
            assert_true(slack < 0 && slack >= 2000000 - 5000000);
        } else if (strcmp(to, "node-prefill") == 0) {
            assert_true(slack >= 7000000);
            assert_int_equal(viol, rpc ? jint(e, NULL, "pairs") : 0);
        } else {
            assert_int_equal(viol, 0);
        }
    }
}

static void test_prefill_skew(void **state)
{
    struct sim_config cfg;
    struct run r;

    (void)state;
    for (int rpc = 0; rpc < 2; rpc++) {
        base_config(&cfg, 50);
        cfg.transport = rpc ? SIM_TRANSPORT_RPC : SIM_TRANSPORT_ONEWAY;
        add_clock(&cfg, SIM_CLOCK_SKEW, "prefill=5ms");
        run_sim(&cfg, &trace_writer_otlp_json_ops, &r);
        assert_true(by_kind(&r, "starts_before_parent") > 0);
        if (rpc)
            assert_int_equal(by_kind(&r, "ends_after_parent"), 50);
        else
            assert_int_equal(by_kind(&r, "ends_after_parent"), 0);
        check_prefill_edges(&r, rpc);
        run_free(&r);
    }
}

/* ---- the writers ---- */

/* Calls fn(span, resource-or-process, ctx) for every span of a document. */
typedef void (*span_fn)(json_t *span, const char *node, void *ctx);

static void foreach_otlp_doc(json_t *doc, span_fn fn, void *ctx)
{
    size_t i, j, k;
    json_t *rs, *ss, *sp;

    json_array_foreach(json_object_get(doc, "resourceSpans"), i, rs)
    {
        json_t *attr = json_array_get(
            json_object_get(json_object_get(rs, "resource"), "attributes"), 0);
        const char *node = json_string_value(
            json_object_get(json_object_get(attr, "value"), "stringValue"));
        assert_string_equal(json_string_value(json_object_get(attr, "key")),
                            "host.name");
        json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss)
            json_array_foreach(json_object_get(ss, "spans"), k, sp)
                fn(sp, node, ctx);
    }
}

static void foreach_span(const char *format, const struct run *r, span_fn fn,
                         void *ctx)
{
    json_error_t jerr;
    size_t i, j;
    json_t *doc, *x, *sp;

    if (strcmp(format, "otlp-json-lines") == 0) {
        /* JSON_DISABLE_EOF_CHECK: stop after each line's document */
        size_t off = 0;
        while (off < r->len) {
            doc = json_loadb(r->out + off, r->len - off, JSON_DISABLE_EOF_CHECK,
                             &jerr);
            if (!doc)
                fail_msg("%s: %s", format, jerr.text);
            off += jerr.position;
            assert_true(r->out[off] == '\n');
            off++;
            foreach_otlp_doc(doc, fn, ctx);
            json_decref(doc);
        }
        return;
    }
    doc = json_loadb(r->out, r->len, 0, &jerr);
    if (!doc)
        fail_msg("%s: %s at line %d", format, jerr.text, jerr.line);
    if (strcmp(format, "otlp-json") == 0) {
        foreach_otlp_doc(doc, fn, ctx);
    } else if (strcmp(format, "jaeger") == 0) {
        json_array_foreach(json_object_get(doc, "data"), i, x)
        {
            json_t *procs = json_object_get(x, "processes");
            json_array_foreach(json_object_get(x, "spans"), j, sp)
            {
                json_t *p = json_object_get(
                    procs, json_string_value(json_object_get(sp, "processID")));
                fn(sp, json_string_value(json_object_get(p, "serviceName")),
                   ctx);
            }
        }
    } else {
        json_array_foreach(doc, i, sp)
            fn(sp,
               json_string_value(json_object_get(
                   json_object_get(sp, "localEndpoint"), "serviceName")),
               ctx);
    }
    json_decref(doc);
}

static void count_span(json_t *span, const char *node, void *ctx)
{
    (void)span;
    assert_non_null(node);
    assert_true(strncmp(node, "node-", 5) == 0);
    (*(size_t *)ctx)++;
}

static const struct {
    const char *name;
    const struct trace_writer_ops *ops;
    int lines;
} formats[] = {
    {"otlp-json", &trace_writer_otlp_json_ops, 0},
    {"otlp-json-lines", &trace_writer_otlp_json_ops, 1},
    {"jaeger", &trace_writer_jaeger_ops, 0},
    {"zipkin", &trace_writer_zipkin_ops, 0},
};

static void test_writers_valid_json(void **state)
{
    struct sim_config cfg;
    struct run r;

    (void)state;
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        size_t n = 0;
        base_config(&cfg, 25);
        cfg.lines = formats[f].lines;
        cfg.transport = f % 2 ? SIM_TRANSPORT_RPC : SIM_TRANSPORT_ONEWAY;
        run_sim(&cfg, formats[f].ops, &r);
        foreach_span(formats[f].name, &r, count_span, &n);
        assert_int_equal(n, expected(&r, "spans"));
        assert_true(n > 25 * 20);
        run_free(&r);
    }
}

/* Maps span ID -> [start_ns, end_ns] from OTLP JSON. */
static void collect_ns(json_t *span, const char *node, void *ctx)
{
    (void)node;
    json_object_set_new(
        ctx, json_string_value(json_object_get(span, "spanId")),
        json_pack("[I,I]",
                  (json_int_t)strtoll(json_string_value(json_object_get(
                                          span, "startTimeUnixNano")),
                                      NULL, 10),
                  (json_int_t)strtoll(json_string_value(json_object_get(
                                          span, "endTimeUnixNano")),
                                      NULL, 10)));
}

struct us_check {
    json_t *ns;
    const char *id_key, *start_key;
    size_t checked;
};

static void check_us(json_t *span, const char *node, void *ctx)
{
    struct us_check *c = ctx;
    json_t *ns = json_object_get(
        c->ns, json_string_value(json_object_get(span, c->id_key)));
    json_int_t start = json_integer_value(json_object_get(span, c->start_key));
    json_int_t dur = json_integer_value(json_object_get(span, "duration"));

    (void)node;
    assert_non_null(ns);
    /* times are far after 1970, so C division floors */
    assert_int_equal(start, json_integer_value(json_array_get(ns, 0)) / 1000);
    assert_int_equal(start + dur,
                     json_integer_value(json_array_get(ns, 1)) / 1000);
    c->checked++;
}

static void test_microsecond_formats(void **state)
{
    struct sim_config cfg;
    struct run ref, r;
    json_t *ns = json_object();

    (void)state;
    base_config(&cfg, 10);
    add_clock(&cfg, SIM_CLOCK_SKEW, "decode-0=1234567ns");
    run_sim(&cfg, &trace_writer_otlp_json_ops, &ref);
    foreach_span("otlp-json", &ref, collect_ns, ns);
    for (int z = 0; z < 2; z++) {
        struct us_check c = {ns, z ? "id" : "spanID",
                             z ? "timestamp" : "startTime", 0};
        run_sim(&cfg, z ? &trace_writer_zipkin_ops : &trace_writer_jaeger_ops,
                &r);
        assert_int_equal(jint(r.truth, NULL, "time_resolution_ns"), 1000);
        foreach_span(z ? "zipkin" : "jaeger", &r, check_us, &c);
        assert_int_equal(c.checked, json_object_size(ns));
        /* same spans and pairs as the ns format (no links here) */
        assert_int_equal(expected(&r, "pairs"), expected(&ref, "pairs"));
        run_free(&r);
    }
    run_free(&ref);
    json_decref(ns);
}

struct link_check {
    json_t *node_of; /* span ID -> node */
    size_t consumers, links;
};

static void collect_nodes(json_t *span, const char *node, void *ctx)
{
    struct link_check *c = ctx;

    json_object_set_new(c->node_of,
                        json_string_value(json_object_get(span, "spanId")),
                        json_string(node));
}

static void check_links(json_t *span, const char *node, void *ctx)
{
    struct link_check *c = ctx;
    json_t *parent = json_object_get(span, "parentSpanId");
    json_t *links = json_object_get(span, "links");

    if (parent) {
        const char *pn = json_string_value(
            json_object_get(c->node_of, json_string_value(parent)));
        assert_non_null(pn);
        assert_string_equal(pn, node); /* no cross-domain parent */
    }
    if (json_integer_value(json_object_get(span, "kind")) ==
        SPAN_KIND_CONSUMER) {
        c->consumers++;
        assert_null(parent);
        assert_int_equal(json_array_size(links), 1);
        const char *ln = json_string_value(json_object_get(
            c->node_of, json_string_value(json_object_get(
                            json_array_get(links, 0), "spanId"))));
        assert_non_null(ln);
        assert_string_not_equal(ln, node);
    }
    c->links += json_array_size(links);
}

static void test_links_mode(void **state)
{
    struct sim_config cfg;
    struct run r, plain, zipkin;
    struct link_check c = {json_object(), 0, 0};

    (void)state;
    base_config(&cfg, 12);
    add_clock(&cfg, SIM_CLOCK_SKEW, "prefill=5ms");
    run_sim(&cfg, &trace_writer_otlp_json_ops, &plain);
    cfg.links = true;
    run_sim(&cfg, &trace_writer_otlp_json_ops, &r);
    foreach_span("otlp-json", &r, collect_nodes, &c);
    foreach_span("otlp-json", &r, check_links, &c);
    assert_int_equal(c.consumers, 12 * 6);
    assert_int_equal(c.links, c.consumers);
    /* a link pair is an edge pair just like a parent pair */
    assert_int_equal(expected(&r, "pairs"), expected(&plain, "pairs"));
    assert_int_equal(expected(&r, "violating_pairs"),
                     expected(&plain, "violating_pairs"));
    /* Zipkin cannot carry links, so a reader sees no edges at all */
    run_sim(&cfg, &trace_writer_zipkin_ops, &zipkin);
    assert_int_equal(expected(&zipkin, "pairs"), 0);
    assert_non_null(strstr(r.out, "\"links\":[{"));
    run_free(&zipkin);
    run_free(&plain);
    run_free(&r);
    json_decref(c.node_of);
}

static void test_jaeger_links_and_kinds(void **state)
{
    struct sim_config cfg;
    struct run r;

    (void)state;
    base_config(&cfg, 2);
    cfg.links = true;
    run_sim(&cfg, &trace_writer_jaeger_ops, &r);
    assert_non_null(strstr(r.out, "\"refType\":\"FOLLOWS_FROM\""));
    assert_non_null(strstr(r.out, "\"refType\":\"CHILD_OF\""));
    assert_non_null(strstr(r.out, "\"value\":\"consumer\""));
    assert_non_null(strstr(r.out, "{\"key\":\"hostname\",\"type\":\"string\","
                                  "\"value\":\"node-prefill\"}"));
    run_free(&r);
}

static json_t *first_of(json_t *obj, const char *key)
{
    return json_array_get(json_object_get(obj, key), 0);
}

static json_t *first_span(json_t *doc, const char *format)
{
    if (strcmp(format, "jaeger") == 0)
        return first_of(first_of(doc, "data"), "spans");
    if (strcmp(format, "zipkin") == 0)
        return json_array_get(doc, 0);
    return first_of(first_of(first_of(doc, "resourceSpans"), "scopeSpans"),
                    "spans");
}

/* Names with every character class that needs escaping survive a round
 * trip through each writer and jansson. */
static void test_escaping(void **state)
{
    static const char nasty[] = "q\"b\\s/n\nt\tc\x01\x1f utf8 \xc3\xa9";
    struct span_kv kv = {"k\"ey", nasty};
    struct span_event_desc ev = {nasty, 1790000000123456789LL};
    struct span_desc sp = {.trace_id = {1, 2, 3},
                           .span_id = 0x0123456789abcdefULL,
                           .name = nasty,
                           .kind = SPAN_KIND_INTERNAL,
                           .start_ns = 1790000000123456789LL,
                           .end_ns = 1790000000123459999LL,
                           .host_name = "h\"ost",
                           .service_name = nasty,
                           .attrs = &kv,
                           .nattrs = 1,
                           .events = &ev,
                           .nevents = 1};

    (void)state;
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        struct run r = {0};
        json_error_t jerr;
        FILE *out = open_memstream(&r.out, &r.len);
        struct trace_writer *w = formats[f].ops->create(out, formats[f].lines);

        assert_non_null(w);
        assert_int_equal(formats[f].ops->write_batch(w, &sp, 1), 0);
        assert_int_equal(formats[f].ops->finish(w), 0);
        fclose(out);
        json_t *doc = json_loadb(r.out, r.len, 0, &jerr);
        if (!doc)
            fail_msg("%s: %s: %s", formats[f].name, jerr.text, r.out);
        json_t *s = first_span(doc, formats[f].name);
        const char *key = f == 2 ? "operationName" : "name";
        assert_string_equal(json_string_value(json_object_get(s, key)), nasty);
        json_decref(doc);
        free(r.out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_clock),
        cmocka_unit_test(test_unknown_node),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_truth_offsets),
        cmocka_unit_test(test_zero_skew_no_violations),
        cmocka_unit_test(test_prefill_skew),
        cmocka_unit_test(test_writers_valid_json),
        cmocka_unit_test(test_microsecond_formats),
        cmocka_unit_test(test_links_mode),
        cmocka_unit_test(test_jaeger_links_and_kinds),
        cmocka_unit_test(test_escaping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
