/* test_assemble: trace assembly for `serve` (src/serve/assemble): a trace
 * whose spans arrive in several batches within the window is released
 * whole (its pairs are seen, no orphans); one whose straggler comes later
 * than the window is split; generations are released on time, early when
 * over the cap, and all at once on shutdown; names and links survive the
 * copy whatever the batch's own domain numbering. */
#include "testlib.h"

#include "analysis/edges.h"
#include "model/span_store.h"
#include "serve/assemble.h"

#define MS 1000000LL
#define S 1000000000LL

/* Add one span: trace t (1-based), span id, parent (0 = root), domain. */
static void add(struct span_store *b, unsigned t, uint64_t id, uint64_t parent,
                const char *domain, int64_t start_ns)
{
    struct span_rec r;

    memset(&r, 0, sizeof(r));
    r.trace_id[15] = (uint8_t)t;
    r.trace_id[0] = 0x42;
    r.span_id = id;
    r.parent_id = parent;
    r.flags = parent ? SPAN_F_HAS_PARENT : 0;
    r.start_ns = start_ns;
    r.end_ns = start_ns + 10 * MS;
    r.kind = parent ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
    r.domain = span_store_domain_id(b, domain, strlen(domain));
    assert_true(span_store_add(b, &r) >= 0);
}

/* Pairs and orphans of a released store. */
static void pairs_of(struct span_store *s, size_t *pairs, size_t *orphans)
{
    struct edge_list l;

    memset(&l, 0, sizeof(l));
    assert_int_equal(span_store_index(s), 0);
    assert_int_equal(edge_list_build(&l, s), 0);
    *pairs = l.npairs;
    *orphans = l.orphans;
    edge_list_free(&l);
}

static void test_trace_across_batches(void **state)
{
    struct assemble *a = assemble_create(2.0, 0);
    struct span_store *b1 = span_store_create(), *b2 = span_store_create();
    struct span_store *out;
    size_t pairs, orphans;

    (void)state;
    /* b2 numbers its domains the other way round */
    add(b1, 1, 1, 0, "node-a", 100 * MS);
    add(b1, 2, 3, 0, "node-a", 100 * MS);
    add(b2, 2, 4, 3, "node-b", 101 * MS);
    add(b2, 1, 2, 1, "node-b", 101 * MS);
    add(b2, 1, 5, 1, "node-c", 102 * MS);
    assert_int_equal(assemble_add(a, b1, 0), 0);
    assert_int_equal(assemble_add(a, b2, 1500 * MS), 0);
    assert_int_equal(assemble_spans(a), 5);
    /* the open generation closes at 2 s and is due 2 s later */
    assert_null(assemble_take(a, 3 * S, false));
    assert_null(assemble_take(a, 3999 * MS, false));
    out = assemble_take(a, 4 * S, false);
    assert_non_null(out);
    assert_int_equal(span_store_count(out), 5);
    assert_int_equal(assemble_spans(a), 0);
    pairs_of(out, &pairs, &orphans);
    assert_int_equal(pairs, 3);
    assert_int_equal(orphans, 0);
    /* names, not ids, came across */
    for (size_t i = 0; i < span_store_count(out); i++) {
        const struct span_rec *r = span_store_at(out, i);
        const char *d = span_store_domain_name(out, r->domain);
        if (r->span_id == 5)
            assert_string_equal(d, "node-c");
        else if (r->span_id == 2 || r->span_id == 4)
            assert_string_equal(d, "node-b");
        else
            assert_string_equal(d, "node-a");
    }
    span_store_destroy(out);
    span_store_destroy(b1);
    span_store_destroy(b2);
    assemble_destroy(a);
}

/* A span of a trace held by a closed generation joins it, not the open one;
 * a straggler after the trace was released becomes an orphan elsewhere. */
static void test_late_spans(void **state)
{
    struct assemble *a = assemble_create(1.0, 0);
    struct span_store *b1 = span_store_create(), *b2 = span_store_create();
    struct span_store *b3 = span_store_create(), *b4 = span_store_create();
    struct span_store *g1, *g2;
    size_t pairs, orphans;

    (void)state;
    add(b1, 1, 1, 0, "a", 0);
    add(b2, 1, 2, 1, "b", MS); /* 1.5 s later: generation 1 is closed */
    add(b2, 2, 7, 0, "a", MS); /* a new trace: generation 2 */
    add(b3, 2, 8, 7, "b", MS);
    add(b4, 1, 3, 1, "c", MS); /* after trace 1 was released */
    assert_int_equal(assemble_add(a, b1, 0), 0);
    assert_int_equal(assemble_add(a, b2, 1500 * MS), 0);
    g1 = assemble_take(a, 2 * S, false);
    assert_non_null(g1);
    assert_int_equal(span_store_count(g1), 2);
    pairs_of(g1, &pairs, &orphans);
    assert_int_equal(pairs, 1);
    assert_int_equal(orphans, 0);
    assert_null(assemble_take(a, 2 * S, false));
    assert_int_equal(assemble_add(a, b3, 2100 * MS), 0);
    assert_int_equal(assemble_add(a, b4, 2200 * MS), 0);
    g2 = assemble_take(a, 10 * S, true);
    assert_non_null(g2);
    /* trace 2 is whole; trace 1's straggler stands alone */
    pairs_of(g2, &pairs, &orphans);
    assert_int_equal(pairs, 1);
    assert_int_equal(orphans, 1);
    assert_null(assemble_take(a, 10 * S, true));
    assert_int_equal(assemble_spans(a), 0);
    span_store_destroy(g1);
    span_store_destroy(g2);
    span_store_destroy(b1);
    span_store_destroy(b2);
    span_store_destroy(b3);
    span_store_destroy(b4);
    assemble_destroy(a);
}

static void test_cap_releases_early(void **state)
{
    struct assemble *a = assemble_create(60.0, 10);
    struct span_store *b = span_store_create(), *out;
    size_t total = 0;

    (void)state;
    for (unsigned t = 1; t <= 12; t++)
        add(b, t, t, 0, "a", 0);
    assert_int_equal(assemble_add(a, b, 0), 0);
    assert_int_equal(assemble_spans(a), 12);
    out = assemble_take(a, 1, false);
    assert_non_null(out);
    total += span_store_count(out);
    span_store_destroy(out);
    assert_int_equal(total, 12);
    assert_int_equal(assemble_early_releases(a), 1);
    assert_int_equal(assemble_spans(a), 0);
    assert_null(assemble_take(a, 2, false));
    span_store_destroy(b);
    assemble_destroy(a);
}

static void test_links_and_systems(void **state)
{
    struct assemble *a = assemble_create(1.0, 0);
    struct span_store *b = span_store_create(), *out;
    struct span_rec r;
    const uint8_t tid[16] = {9, 9};
    int64_t idx;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.trace_id[0] = 7;
    r.span_id = 11;
    r.kind = SPAN_KIND_CONSUMER;
    r.domain = span_store_domain_id(b, "x", 1);
    r.system = span_store_system_id(b, "kafka", 5);
    idx = span_store_add(b, &r);
    assert_true(idx >= 0);
    assert_int_equal(span_store_add_link(b, (size_t)idx, tid, 99), 0);
    assert_int_equal(assemble_add(a, b, 0), 0);
    out = assemble_take(a, 0, true);
    assert_non_null(out);
    const struct span_rec *c = span_store_at(out, 0);
    assert_string_equal(span_store_system_name(out, c->system), "kafka");
    assert_int_not_equal(c->link, SPAN_NO_LINK);
    assert_int_equal(span_store_link(out, c->link)->span_id, 99);
    assert_memory_equal(span_store_link(out, c->link)->trace_id, tid, 16);
    span_store_destroy(out);
    span_store_destroy(b);
    assemble_destroy(a);
}

static void test_bad_window(void **state)
{
    (void)state;
    assert_null(assemble_create(0, 0));
    assert_null(assemble_create(-1, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_across_batches),
        cmocka_unit_test(test_late_spans),
        cmocka_unit_test(test_cap_releases_early),
        cmocka_unit_test(test_links_and_systems),
        cmocka_unit_test(test_bad_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
