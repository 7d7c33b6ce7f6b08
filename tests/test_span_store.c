/* test_span_store: the record blocks of model/span_store: records read back
 * across block boundaries and pointers stay valid while the store grows,
 * also when the first block is sized by a hint (span_store_create_hint:
 * small first block, then 65,536-record blocks). */
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

/* The first block's size for a hint (the header's rule), worked out here
 * independently: a power of two in [256, 65536]. */
static size_t first_for(size_t hint)
{
    if (hint <= 256)
        return 256;
    if (hint >= 65536)
        return 65536;
    size_t f = 1;
    while (f < hint)
        f <<= 1;
    return f;
}

static void check_all(const struct span_store *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct span_rec *r = span_store_at(s, i);
        if (r->span_id != i + 1 || r->start_ns != (int64_t)i)
            fail_msg("record %zu reads back as span %llu", i,
                     (unsigned long long)r->span_id);
    }
}

/* Records around the end of a small first block and of the 64 Ki blocks
 * after it read back, distinct, and never move; a small store takes a
 * small block, not 4 MiB. */
static void test_hint(void **state)
{
    static const size_t hints[] = {0,    1,     100,   256,    257,
                                   1000, 40000, 65536, 1000000};
    (void)state;
    for (size_t h = 0; h < sizeof(hints) / sizeof(hints[0]); h++) {
        size_t f = first_for(hints[h]);
        size_t probe[] = {0,
                          f - 1,
                          f,
                          f + 1,
                          f + 65535,
                          f + 65536,
                          f + 2 * 65536 - 1,
                          f + 2 * 65536};
        size_t np = sizeof(probe) / sizeof(probe[0]), n = f + 2 * 65536 + 10;
        struct span_rec *at[sizeof(probe) / sizeof(probe[0])];
        struct span_store *s = span_store_create_hint(hints[h]);

        assert_non_null(s);
        add_n(s, 0, 10);
        /* 10 records: one block of f records, nothing more */
        assert_true(span_store_memory(s) < f * sizeof(struct span_rec) + 4096);
        if (hints[h] <= 256)
            assert_true(span_store_memory(s) < 32 * 1024);
        add_n(s, 10, n);
        check_all(s, n);
        for (size_t k = 0; k < np; k++) {
            at[k] = span_store_at(s, probe[k]);
            for (size_t j = 0; j < k; j++)
                assert_true(at[k] != at[j]);
        }
        /* consecutive records in one block are adjacent; across a block
         * boundary they need not be */
        assert_ptr_equal(span_store_at(s, 1), span_store_at(s, 0) + 1);
        assert_ptr_equal(span_store_at(s, f + 1), span_store_at(s, f) + 1);
        add_n(s, n, n + 70000);
        check_all(s, n + 70000);
        for (size_t k = 0; k < np; k++) {
            assert_ptr_equal(at[k], span_store_at(s, probe[k]));
            assert_int_equal(at[k]->span_id, probe[k] + 1);
        }
        /* the index works across the blocks as before */
        assert_int_equal(span_store_index(s), 0);
        uint8_t tid[16] = {0};
        assert_int_equal(span_store_find(s, tid, f + 1, false), (int64_t)f);
        assert_int_equal(span_store_find(s, tid, n + 5, false), (int64_t)n + 4);
        span_store_destroy(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
