/* Unit tests of span_store, edges and causality on hand-built stores with
 * every rule of docs/CONTRACTS.md's definitions exercised: cross-domain pairs
 * only, sync CLIENT->SERVER ends, links from CONSUMER to PRODUCER, duplicates,
 * orphans, cyclic parents, Zipkin shared spans, slack min/median. */
#include "testlib.h"

#include "analysis/causality.h"
#include "analysis/edges.h"
#include "model/span_store.h"
#include "util/ids.h"

static uint8_t trace_a[16] = {1};
static uint8_t trace_b[16] = {2};

static size_t add(struct span_store *s, const uint8_t *trace, uint64_t id,
                  uint64_t parent, const char *dom, int kind, int64_t start,
                  int64_t end)
{
    struct span_rec r = {0};

    memcpy(r.trace_id, trace, 16);
    r.span_id = id;
    r.parent_id = parent;
    r.flags = parent ? SPAN_F_HAS_PARENT : 0;
    r.domain = span_store_domain_id(s, dom, strlen(dom));
    r.kind = (uint8_t)kind;
    r.start_ns = start;
    r.end_ns = end;
    int64_t idx = span_store_add(s, &r);
    assert_true(idx >= 0);
    return (size_t)idx;
}

struct fixture {
    struct span_store *s;
    struct edge_list l;
    struct causality_report r;
};

static void run(struct fixture *f)
{
    assert_int_equal(span_store_index(f->s), 0);
    assert_int_equal(edge_list_build(&f->l, f->s), 0);
    assert_int_equal(causality_check(&f->r, f->s, &f->l), 0);
}

static void done(struct fixture *f)
{
    causality_report_free(&f->r);
    edge_list_free(&f->l);
    span_store_destroy(f->s);
}

static const struct causality_edge *edge(const struct fixture *f,
                                         const char *from, const char *to)
{
    for (size_t i = 0; i < f->r.nedges; i++)
        if (!strcmp(span_store_domain_name(f->s, f->r.edges[i].from), from) &&
            !strcmp(span_store_domain_name(f->s, f->r.edges[i].to), to))
            return &f->r.edges[i];
    fail_msg("no edge %s -> %s", from, to);
    return NULL;
}

static void test_sync_rpc_kinds(void **state)
{
    (void)state;
    struct fixture f = {.s = span_store_create()};

    /* client on A, server on B: starts before and ends after */
    add(f.s, trace_a, 1, 0, "A", SPAN_KIND_CLIENT, 1000, 2000);
    add(f.s, trace_a, 2, 1, "B", SPAN_KIND_SERVER, 900, 2100);
    /* same domain child: not an edge even though it starts early */
    add(f.s, trace_a, 3, 1, "A", SPAN_KIND_INTERNAL, 500, 600);
    /* producer -> consumer on C: ends after parent, but not sync */
    add(f.s, trace_a, 4, 1, "A", SPAN_KIND_PRODUCER, 1100, 1200);
    add(f.s, trace_a, 5, 4, "C", SPAN_KIND_CONSUMER, 1300, 5000);
    /* negative duration */
    add(f.s, trace_a, 6, 5, "C", SPAN_KIND_INTERNAL, 4000, 3999);
    run(&f);
    assert_int_equal(f.r.spans, 6);
    assert_int_equal(f.r.traces, 1);
    assert_int_equal(f.r.pairs, 2);
    assert_int_equal(f.r.violating_pairs, 1);
    assert_int_equal(f.r.starts_before_parent, 1);
    assert_int_equal(f.r.ends_after_parent, 1);
    assert_int_equal(f.r.negative_duration, 1);
    assert_int_equal(f.r.nedges, 2);
    assert_int_equal(edge(&f, "A", "B")->min_slack_ns, -100);
    assert_int_equal(edge(&f, "A", "C")->violations, 0);
    assert_int_equal(edge(&f, "A", "C")->min_slack_ns, 200);
    done(&f);
}

static void test_links_dedupe_and_dangling(void **state)
{
    (void)state;
    struct fixture f = {.s = span_store_create()};

    size_t p = add(f.s, trace_a, 10, 0, "P", SPAN_KIND_PRODUCER, 100, 110);
    (void)p;
    /* consumer in another trace, linked (not parented) to the producer */
    size_t c = add(f.s, trace_b, 20, 0, "Q", SPAN_KIND_CONSUMER, 90, 200);
    assert_int_equal(span_store_add_link(f.s, c, trace_a, 10), 0);
    assert_int_equal(span_store_add_link(f.s, c, trace_a, 99), 0);
    /* consumer parented AND linked to the same producer: one pair */
    size_t d = add(f.s, trace_a, 30, 10, "R", SPAN_KIND_CONSUMER, 150, 160);
    assert_int_equal(span_store_add_link(f.s, d, trace_a, 10), 0);
    /* an INTERNAL span's link is not an edge */
    size_t i = add(f.s, trace_b, 40, 0, "S", SPAN_KIND_INTERNAL, 0, 1);
    assert_int_equal(span_store_add_link(f.s, i, trace_a, 10), 0);
    run(&f);
    assert_int_equal(f.r.traces, 2);
    assert_int_equal(f.r.pairs, 2);
    assert_int_equal(f.r.dangling_links, 1);
    assert_int_equal(f.r.violating_pairs, 1);
    assert_int_equal(edge(&f, "P", "Q")->starts_before_parent, 1);
    assert_int_equal(edge(&f, "P", "R")->violations, 0);
    done(&f);
}

static void test_duplicates_orphans_cycles(void **state)
{
    (void)state;
    struct fixture f = {.s = span_store_create()};

    add(f.s, trace_a, 1, 0, "A", SPAN_KIND_SERVER, 0, 100);
    /* a re-sent duplicate of span 1 with other times: ignored */
    add(f.s, trace_a, 1, 0, "B", SPAN_KIND_SERVER, 50, 10);
    add(f.s, trace_a, 2, 77, "B", SPAN_KIND_SERVER, 0, 1); /* orphan */
    /* 3 <-> 4 cycle across domains, and a self-parent */
    add(f.s, trace_a, 3, 4, "A", SPAN_KIND_INTERNAL, 10, 20);
    add(f.s, trace_a, 4, 3, "B", SPAN_KIND_INTERNAL, 5, 30);
    add(f.s, trace_a, 5, 5, "C", SPAN_KIND_INTERNAL, 5, 30);
    run(&f);
    assert_int_equal(f.r.spans, 6);
    assert_int_equal(f.r.duplicates, 1);
    assert_int_equal(f.r.orphans, 1);
    assert_int_equal(f.r.negative_duration, 0);
    assert_int_equal(f.r.pairs, 2);
    assert_int_equal(edge(&f, "A", "B")->starts_before_parent, 1);
    assert_int_equal(edge(&f, "B", "A")->starts_before_parent, 0);
    done(&f);
}

static void test_shared_zipkin_span(void **state)
{
    (void)state;
    struct fixture f = {.s = span_store_create()};
    struct span_rec r = {0};

    add(f.s, trace_a, 7, 0, "client", SPAN_KIND_CLIENT, 100, 900);
    memcpy(r.trace_id, trace_a, 16);
    r.span_id = r.parent_id = 7;
    r.flags = SPAN_F_SHARED | SPAN_F_HAS_PARENT;
    r.kind = SPAN_KIND_SERVER;
    r.domain = span_store_domain_id(f.s, "server", 6);
    r.start_ns = 200;
    r.end_ns = 950;
    assert_true(span_store_add(f.s, &r) >= 0);
    run(&f);
    assert_int_equal(f.r.duplicates, 0);
    assert_int_equal(f.r.pairs, 1);
    assert_int_equal(f.r.ends_after_parent, 1);
    assert_int_equal(f.r.violating_pairs, 1);
    done(&f);
}

static void test_slack_median(void **state)
{
    (void)state;
    struct fixture f = {.s = span_store_create()};
    int64_t slacks[] = {50, -3, 7, 7, 7, 1000, -3, 12};
    size_t n = sizeof(slacks) / sizeof(slacks[0]);

    for (size_t i = 0; i < n; i++) {
        uint8_t t[16] = {(uint8_t)(i + 10)};
        add(f.s, t, 1, 0, "A", SPAN_KIND_PRODUCER, 1000, 1001);
        add(f.s, t, 2, 1, "B", SPAN_KIND_CONSUMER, 1000 + slacks[i], 2000);
    }
    run(&f);
    /* sorted: -3 -3 7 7 7 12 50 1000 -> lower median is element 3 = 7 */
    assert_int_equal(edge(&f, "A", "B")->min_slack_ns, -3);
    assert_int_equal(edge(&f, "A", "B")->median_slack_ns, 7);
    assert_int_equal(edge(&f, "A", "B")->violations, 2);
    assert_int_equal(f.r.traces, n);
    done(&f);
}

static void test_store_many_blocks(void **state)
{
    (void)state;
    struct span_store *s = span_store_create();
    size_t n = 200000;

    for (size_t i = 0; i < n; i++) {
        uint8_t t[16] = {0};
        memcpy(t, &i, sizeof(i));
        add(s, t, i + 1, 0, i % 2 ? "x" : "y", SPAN_KIND_INTERNAL, 1, 2);
    }
    assert_int_equal(span_store_index(s), 0);
    assert_int_equal(span_store_count(s), n);
    assert_int_equal(span_store_traces(s), n);
    assert_int_equal(span_store_domain_count(s), 2);
    for (size_t i = 0; i < n; i += 9973) {
        uint8_t t[16] = {0};
        memcpy(t, &i, sizeof(i));
        assert_int_equal(span_store_find(s, t, i + 1, false), (int64_t)i);
        assert_int_equal(span_store_find(s, t, i + 2, false), -1);
    }
    assert_true(span_store_memory(s) < n * 100);
    span_store_destroy(s);
}

static void test_ids(void **state)
{
    (void)state;
    uint8_t t[16];
    uint64_t sp;
    char buf[33];

    assert_int_equal(id_parse_trace("5b8efff798038103d269b633813fc60c", 32, t),
                     0);
    id_format_trace(t, buf);
    assert_string_equal(buf, "5b8efff798038103d269b633813fc60c");
    /* base64 of the same 16 bytes */
    assert_int_equal(id_parse_trace("W47/95gDgQPSabYzgT/GDA==", 24, t), 0);
    id_format_trace(t, buf);
    assert_string_equal(buf, "5b8efff798038103d269b633813fc60c");
    assert_int_equal(id_parse_trace("d269b633813fc60c", 16, t), 0);
    id_format_trace(t, buf);
    assert_string_equal(buf, "0000000000000000d269b633813fc60c");
    assert_int_equal(id_parse_span("eee19b7ec3c1b174", 16, &sp), 0);
    assert_true(sp == 0xeee19b7ec3c1b174ull);
    assert_int_equal(id_parse_span("7uGbfsPBsXQ=", 12, &sp), 0);
    assert_true(sp == 0xeee19b7ec3c1b174ull);
    assert_int_equal(id_parse_span("", 0, &sp), 0);
    assert_true(sp == 0);
    assert_int_equal(id_parse_span("xyz", 3, &sp), -1);
    assert_int_equal(id_parse_trace("5b8efff798038103d269b633813fc60", 31, t),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_rpc_kinds),
        cmocka_unit_test(test_links_dedupe_and_dangling),
        cmocka_unit_test(test_duplicates_orphans_cycles),
        cmocka_unit_test(test_shared_zipkin_span),
        cmocka_unit_test(test_slack_median),
        cmocka_unit_test(test_store_many_blocks),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
