/* test_hash: the trace/span ID hash (util/hash.h) spreads IDs that are not
 * random: counters in the low bytes, X-Ray-style time-prefixed IDs, IDs
 * that differ in one byte only. A table index is the hash's low bits; the
 * number of distinct buckets that n keys fill in a table of n slots must be
 * near what random keys fill (1 - 1/e, about 63%). The hash this replaced
 * filled 2 buckets of 65,536 with counter trace IDs. */
#include "testlib.h"

#include "util/hash.h"

#define N 65536u

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

enum pattern { SEQ_TRACE, SEQ_SPAN, TIME_PREFIX, HIGH_BYTE };

static double filled_share(enum pattern p)
{
    static uint8_t used[N];
    size_t filled = 0;

    memset(used, 0, sizeof(used));
    for (uint64_t n = 0; n < N; n++) {
        uint8_t id[16] = {0};
        uint64_t salt = 0;
        switch (p) {
        case SEQ_TRACE: /* trace IDs 1, 2, 3, ... */
            put_be64(id + 8, n + 1);
            break;
        case SEQ_SPAN: /* one trace, span IDs 1, 2, 3, ... */
            put_be64(id + 8, 7);
            salt = n + 1;
            break;
        case TIME_PREFIX: /* a Unix second, then a per-second counter */
            put_be64(id, (1793491200ull + n / 1000) << 32);
            put_be64(id + 8, n % 1000 + 1);
            break;
        case HIGH_BYTE: /* IDs that differ in their first two bytes */
            id[0] = (uint8_t)(n >> 8);
            id[1] = (uint8_t)n;
            break;
        }
        size_t b = hash_id128(id, salt) & (N - 1);
        filled += !used[b];
        used[b] = 1;
    }
    return (double)filled / N;
}

static void test_patterns_spread(void **state)
{
    (void)state;
    for (int p = SEQ_TRACE; p <= HIGH_BYTE; p++) {
        double share = filled_share((enum pattern)p);
        if (share < 0.60 || share > 0.66)
            fail_msg("pattern %d fills %.3f of the buckets (random: 0.632)", p,
                     share);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
