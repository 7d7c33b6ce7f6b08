/* test_span_store: the record blocks of model/span_store: records read back
 * across block boundaries and pointers stay valid while the store grows. */
#include "testlib.h"

#include "model/span_store.h"

static void add_n(struct span_store *s, size_t from, size_t to)
{
    struct span_rec r;

    memset(&r, 0, sizeof(r));
    r.domain = span_store_domain_id(s, "d", 1);
    for (size_t i = from; i < to; i++) {
        r.span_id = i + 1;
        r.start_ns = (int64_t)i;
        assert_int_equal(span_store_add(s, &r), (int64_t)i);
    }
}

static void test_blocks(void **state)
{
    static const size_t probe[] = {0,     1023,  1024,   2047,   2048,
                                   4095,  4096,  32767,  32768,  65535,
                                   65536, 65537, 131071, 131072, 199999};
    struct span_store *s = span_store_create();
    struct span_rec *early[sizeof(probe) / sizeof(probe[0])];
    size_t n = 200000;

    (void)state;
    add_n(s, 0, 1);
    early[0] = span_store_at(s, 0);
    add_n(s, 1, n);
    assert_int_equal(span_store_count(s), n);
    for (size_t i = 0; i < n; i++) {
        const struct span_rec *r = span_store_at(s, i);
        if (r->span_id != i + 1 || r->start_ns != (int64_t)i)
            fail_msg("record %zu reads back as span %llu", i,
                     (unsigned long long)r->span_id);
    }
    /* distinct records never share memory, and none moved */
    assert_ptr_equal(early[0], span_store_at(s, 0));
    for (size_t k = 1; k < sizeof(probe) / sizeof(probe[0]); k++) {
        early[k] = span_store_at(s, probe[k]);
        assert_true(early[k] != early[k - 1]);
    }
    add_n(s, n, n + 70000);
    for (size_t k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
        assert_ptr_equal(early[k], span_store_at(s, probe[k]));
        assert_int_equal(early[k]->span_id, probe[k] + 1);
    }
    span_store_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
