/* test_clock_obs: the pair rules `estimate` and `serve` share
 * (analysis/clock_obs): the transport class name, and the consumer's wait
 * judged from its own spans: a CONSUMER span that starts right after the
 * previous one ends was queued, one after a gap was idle, the first is
 * unknown. */
#include "testlib.h"

#include "analysis/clock_obs.h"
#include "analysis/clock_window.h"
#include "analysis/edges.h"
#include "model/span_store.h"

#define US 1000LL

/* Message k: a PRODUCER span on p, its CONSUMER child on c, one trace. */
static void message(struct span_store *s, uint8_t k, int64_t send,
                    int64_t c_start, int64_t c_end)
{
    struct span_rec r;

    memset(&r, 0, sizeof(r));
    r.trace_id[0] = k + 1;
    r.span_id = 100 + k;
    r.domain = span_store_domain_id(s, "p", 1);
    r.system = span_store_system_id(s, "kafka", 5);
    r.kind = SPAN_KIND_PRODUCER;
    r.start_ns = send;
    r.end_ns = send + 10 * US;
    assert_true(span_store_add(s, &r) >= 0);
    r.span_id = 200 + k;
    r.parent_id = 100 + k;
    r.flags = SPAN_F_HAS_PARENT;
    r.domain = span_store_domain_id(s, "c", 1);
    r.kind = SPAN_KIND_CONSUMER;
    r.start_ns = c_start;
    r.end_ns = c_end;
    assert_true(span_store_add(s, &r) >= 0);
}

static void test_waits_and_class(void **state)
{
    (void)state;
    struct span_store *s = span_store_create();
    struct edge_list l;
    int64_t t = 1790000000000000000LL;

    message(s, 0, t, t + 2000 * US, t + 3000 * US); /* first: unknown */
    message(s, 1, t + 100 * US, t + 3010 * US, t + 4000 * US);  /* 10 us */
    message(s, 2, t + 5000 * US, t + 5500 * US, t + 6000 * US); /* idle */
    message(s, 3, t + 5800 * US, t + 6099 * US, t + 7000 * US); /* 99 us */
    message(s, 4, t + 6900 * US, t + 7101 * US, t + 8000 * US); /* 101 us */
    assert_int_equal(span_store_index(s), 0);
    assert_int_equal(edge_list_build(&l, s), 0);
    assert_int_equal(l.npairs, 5);
    uint8_t wait[5];
    assert_int_equal(clock_obs_waits(s, &l, wait), 0);
    for (size_t i = 0; i < l.npairs; i++) {
        const struct span_rec *c = span_store_at(s, l.pairs[i].child);
        static const uint8_t expect[] = {CLOCK_WAIT_UNKNOWN, CLOCK_WAIT_QUEUED,
                                         CLOCK_WAIT_IDLE, CLOCK_WAIT_QUEUED,
                                         CLOCK_WAIT_IDLE};
        assert_int_equal(wait[i], expect[c->span_id - 200]);
    }
    char name[CLOCK_OBS_CLASS_MAX];
    clock_obs_class_name(s, span_store_at(s, l.pairs[0].parent),
                         span_store_at(s, l.pairs[0].child), name);
    assert_string_equal(name, "kafka/4/5");
    edge_list_free(&l);
    span_store_destroy(s);
}

/* A cell's merge does not depend on the order of folding: the minimum,
 * then the earlier time wins; idle pairs keep their own minimum. */
static void test_cell_merge_order(void **state)
{
    (void)state;
    struct clock_window_cell a = {0}, b = {0};

    clock_window_cell_add(&a, 10, 500, 7, CLOCK_WAIT_QUEUED);
    clock_window_cell_add(&a, 5, 500, 9, CLOCK_WAIT_IDLE);
    clock_window_cell_add(&a, 20, 600, 3, CLOCK_WAIT_IDLE);
    clock_window_cell_add(&b, 20, 600, 3, CLOCK_WAIT_IDLE);
    clock_window_cell_add(&b, 5, 500, 9, CLOCK_WAIT_IDLE);
    clock_window_cell_add(&b, 10, 500, 7, CLOCK_WAIT_QUEUED);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(a.count, 3);
    assert_int_equal(a.queued, 1);
    assert_int_equal(a.fwd_ns, 500);
    assert_int_equal(a.fwd_at_ns, 5);
    assert_int_equal(a.idle, 2);
    assert_int_equal(a.idle_fwd_ns, 500);
    assert_int_equal(a.idle_fwd_at_ns, 5);
    assert_int_equal(a.back_ns, 3);
    assert_int_equal(a.back_at_ns, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waits_and_class),
        cmocka_unit_test(test_cell_merge_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
