/* test_series: the metric time-series model (model/series.h): keys and
 * ids, sample order, the live horizon, counter wrap and reset, alignment
 * onto a grid (last / mean / max / count / increase / rate) with values
 * computed by hand, and the table operations RCAEval's preprocessing is
 * built from (drop_constant with pandas' NaN rule, ffill, windows,
 * intersect, convert_mem_mb). */
#include "testlib.h"

#include <math.h>

#include "model/series.h"

#define S 1000000000LL /* ns per second */

static int64_t gauge(struct series_store *s, const char *e, const char *m,
                     const struct series_label *l, size_t n)
{
    struct series_desc d = {e, m, l, n, SERIES_GAUGE, 0};

    return series_store_intern(s, &d);
}

static void test_counter_delta(void **state)
{
    (void)state;
    assert_true(series_counter_delta(10, 15, 0) == 5);
    assert_true(series_counter_delta(10, 10, 0) == 0);
    /* a decrease without a wrap modulus is a restart from 0 */
    assert_true(series_counter_delta(1000, 7, 0) == 7);
    /* a 32-bit counter just below 2^32 that comes back small wrapped */
    assert_true(series_counter_delta(4294967290.0, 4.0, 4294967296.0) == 10);
    /* far from the modulus it is a reset, even with a modulus */
    assert_true(series_counter_delta(1000, 7, 4294967296.0) == 7);
    assert_true(isnan(series_counter_delta(NAN, 3, 0)));
    assert_true(isnan(series_counter_delta(3, NAN, 0)));
}

static void test_keys(void **state)
{
    struct series_store *s = series_store_create();
    struct series_label ab[] = {{"rank", "0"}, {"gpu", "a"}};
    struct series_label ba[] = {{"gpu", "a"}, {"rank", "0"}, {"nic", ""}};
    struct series_label dup[] = {{"gpu", "a"}, {"gpu", "b"}};
    struct series_label r1[] = {{"rank", "1"}};
    struct series_desc c = {"decode", "steps_total",  NULL,
                            0,        SERIES_COUNTER, 0};
    uint32_t ids[4];
    size_t n;
    int64_t a, b;

    (void)state;
    a = gauge(s, "decode", "util", ab, 2);
    b = gauge(s, "decode", "util", ba, 3); /* order, empty value: same key */
    assert_true(a >= 0);
    assert_int_equal(a, b);
    assert_int_equal(gauge(s, "decode", "util", dup, 2), -SERIES_E_INVAL);
    assert_int_equal(gauge(s, "decode", "util", r1, 1), 1);
    assert_int_equal(series_store_intern(s, &c), 2);
    c.kind = SERIES_GAUGE;
    assert_int_equal(series_store_intern(s, &c), -SERIES_E_KIND);
    assert_int_equal(series_store_count(s), 3);
    assert_int_equal(series_store_find(s, "decode", "util", ba, 3), a);
    assert_int_equal(series_store_find(s, "decode", "util", NULL, 0), -1);
    assert_string_equal(series_label(s, (uint32_t)a, "gpu"), "a");
    assert_null(series_label(s, (uint32_t)a, "nic"));
    assert_string_equal(series_labels(s, (uint32_t)a, &n)[0].name, "gpu");
    assert_int_equal(n, 2);
    /* select: every "util" of rank 1, then everything of decode */
    assert_int_equal(series_store_select(s, NULL, "util", r1, 1, ids, 4), 1);
    assert_int_equal(ids[0], 1);
    assert_int_equal(series_store_select(s, "decode", NULL, NULL, 0, ids, 4),
                     3);
    assert_int_equal(series_kind(s, 2), SERIES_COUNTER);
    series_store_destroy(s);
}

static void test_order_and_duplicates(void **state)
{
    struct series_store *s = series_store_create();
    uint32_t id = (uint32_t)gauge(s, "e", "m", NULL, 0);
    const int64_t *t;
    const double *v;
    size_t first;

    (void)state;
    assert_int_equal(series_store_append(s, id, 30 * S, 3), 0);
    assert_int_equal(series_store_append(s, id, 10 * S, 1), 0);
    assert_int_equal(series_store_append(s, id, 20 * S, 2), 0);
    assert_int_equal(series_store_append(s, id, 20 * S, 22), 0); /* replace */
    assert_int_equal(series_store_append(s, 99, 0, 0), -SERIES_E_INVAL);
    assert_int_equal(series_len(s, id), 3);
    t = series_times(s, id);
    v = series_values(s, id);
    assert_true(t[0] == 10 * S && t[1] == 20 * S && t[2] == 30 * S);
    assert_true(v[0] == 1 && v[1] == 22 && v[2] == 3);
    assert_int_equal(series_range(s, id, 15 * S, 30 * S, &first), 1);
    assert_int_equal(first, 1);
    assert_int_equal(series_range(s, id, 0, 31 * S, &first), 3);
    series_store_destroy(s);
}

/* Live use: memory stays bounded by the horizon, and the newest sample
 * older than the horizon is kept as the baseline. */
static void test_horizon(void **state)
{
    struct series_store *s = series_store_create();
    uint32_t id = (uint32_t)gauge(s, "e", "m", NULL, 0);
    size_t mem_early = 0;

    (void)state;
    series_store_set_horizon(s, 10 * S);
    for (int64_t i = 0; i < 100000; i++) {
        assert_int_equal(series_store_append(s, id, i * S, (double)i), 0);
        if (i == 1000)
            mem_early = series_store_memory(s);
    }
    /* samples 99989 .. 99999 are within 10 s; 99989 is exactly at the
     * cut, 99988 the baseline older than it */
    assert_int_equal(series_len(s, id), 12);
    assert_true(series_times(s, id)[0] == 99988 * S);
    assert_true(series_store_memory(s) <= mem_early);
    series_store_set_horizon(s, 0);
    assert_int_equal(series_store_trim(s, 99995 * S), 6);
    assert_true(series_times(s, id)[0] == 99994 * S);
    series_store_destroy(s);
}

/* Gauge samples at irregular times onto a 10 s grid, by hand:
 * samples (s -> v): 1->1, 4->3, 9->5, 12->7, 31->9 ; grid t0=0, 4 rows.
 * row [0,10): last 5, mean 3, max 5, count 3
 * row [10,20): last 7, mean 7, max 7, count 1
 * row [20,30): last: none in row, 7 is 18 s old -> NaN (lookback 0 =
 *              step); with lookback 20 s -> 7 ; mean NaN ; count 0
 * row [30,40): last 9 */
static void test_align_gauge(void **state)
{
    struct series_store *s = series_store_create();
    uint32_t id = (uint32_t)gauge(s, "svc", "cpu", NULL, 0);
    static const int64_t ts[] = {1, 4, 9, 12, 31};
    static const double vs[] = {1, 3, 5, 7, 9};
    struct series_align a = {0, 10 * S, 4, SERIES_AGG_LAST, 0, 0};
    struct series_table *t;

    (void)state;
    for (size_t i = 0; i < 5; i++)
        series_store_append(s, id, ts[i] * S, vs[i]);
    assert_int_equal(series_table_from_store(s, NULL, 0, &a, &t), 0);
    assert_int_equal(t->nrows, 4);
    assert_int_equal(t->ncols, 1);
    assert_string_equal(t->cols[0].name, "svc_cpu");
    assert_true(t->time_ns[2] == 20 * S);
    assert_true(t->values[0] == 5 && t->values[1] == 7);
    assert_true(isnan(t->values[2]) && t->values[3] == 9);
    series_table_destroy(t);

    a.lookback_ns = 20 * S;
    assert_int_equal(series_table_from_store(s, &id, 1, &a, &t), 0);
    assert_true(t->values[2] == 7);
    series_table_destroy(t);

    a.agg = SERIES_AGG_MEAN;
    assert_int_equal(series_table_from_store(s, &id, 1, &a, &t), 0);
    assert_true(t->values[0] == 3 && t->values[1] == 7);
    assert_true(isnan(t->values[2]) && t->values[3] == 9);
    series_table_destroy(t);

    a.agg = SERIES_AGG_MAX;
    assert_int_equal(series_table_from_store(s, &id, 1, &a, &t), 0);
    assert_true(t->values[0] == 5);
    series_table_destroy(t);

    a.agg = SERIES_AGG_COUNT;
    assert_int_equal(series_table_from_store(s, &id, 1, &a, &t), 0);
    assert_true(t->values[0] == 3 && t->values[2] == 0);
    series_table_destroy(t);

    a.step_ns = 0;
    assert_int_equal(series_table_from_store(s, &id, 1, &a, &t),
                     -SERIES_E_INVAL);
    assert_null(t);
    series_store_destroy(s);
}

/* A 32-bit counter scraped every 2 s that wraps and then restarts; rate
 * per 4 s row, by hand. Samples (s -> v):
 *   0 -> 4294967000, 2 -> 4294967200, 4 -> 104 (wrapped: +200),
 *   6 -> 304, 8 -> 10 (restart: +10), 10 -> 20
 * increases by the later sample's time: 2:+200, 4:+200, 6:+200, 8:+10,
 * 10:+10 -> rows [0,4): 200, [4,8): 400, [8,12): 20; rate = /4 s. */
static void test_align_counter(void **state)
{
    struct series_store *s = series_store_create();
    struct series_desc d = {"nic0", "rx_bytes_total", NULL,
                            0,      SERIES_COUNTER,   4294967296.0};
    static const double vs[] = {4294967000.0, 4294967200.0, 104, 304, 10, 20};
    uint32_t id = (uint32_t)series_store_intern(s, &d);
    struct series_align a = {0, 4 * S, 3, SERIES_AGG_AUTO, 0, 0};
    struct series_table *t;
    double total = 0;

    (void)state;
    for (int i = 0; i < 6; i++)
        series_store_append(s, id, 2 * i * S, vs[i]);
    assert_int_equal(series_table_from_store(s, NULL, 0, &a, &t), 0);
    assert_true(t->values[0] == 50 && t->values[1] == 100 && t->values[2] == 5);
    assert_int_equal(t->cols[0].kind, SERIES_COUNTER);
    series_table_destroy(t);

    a.agg = SERIES_AGG_INCREASE;
    assert_int_equal(series_table_from_store(s, NULL, 0, &a, &t), 0);
    for (size_t r = 0; r < 3; r++)
        total += t->values[r];
    assert_true(total == 620); /* the exact total: no extrapolation */
    series_table_destroy(t);

    /* pairs 3 s or more apart are gaps: every 2 s pair still counts, but
     * with max_gap 1 s none does -> all NaN */
    a.max_gap_ns = 1 * S;
    assert_int_equal(series_table_from_store(s, NULL, 0, &a, &t), 0);
    assert_true(isnan(t->values[0]) && isnan(t->values[1]));
    series_table_destroy(t);
    series_store_destroy(s);
}

static void test_align_names_and_cover(void **state)
{
    struct series_store *s = series_store_create();
    struct series_label r0[] = {{"rank", "0"}}, r1[] = {{"rank", "1"}};
    struct series_align a = {0};
    struct series_table *t;
    uint32_t x = (uint32_t)gauge(s, "tp", "step_s", r0, 1);
    uint32_t y = (uint32_t)gauge(s, "tp", "step_s", r1, 1);
    uint32_t z = (uint32_t)gauge(s, "kv", "usage", r1, 1);

    (void)state;
    series_store_append(s, x, -5 * S, 1); /* before 1970: floors down */
    series_store_append(s, y, 7 * S, 2);
    series_store_append(s, z, 7 * S + 1, 3);
    assert_true(series_align_cover(s, NULL, 0, 10 * S, &a));
    assert_true(a.t0_ns == -10 * S);
    assert_int_equal(a.nrows, 2);
    a.agg = SERIES_AGG_LAST;
    assert_int_equal(series_table_from_store(s, NULL, 0, &a, &t), 0);
    /* two series share entity and metric: their labels name them apart;
     * the third keeps its labels on the column, not in its name */
    assert_string_equal(t->cols[0].name, "tp_step_s{rank=\"0\"}");
    assert_string_equal(t->cols[1].name, "tp_step_s{rank=\"1\"}");
    assert_string_equal(t->cols[2].name, "kv_usage");
    assert_int_equal(t->cols[2].nlabels, 1);
    assert_string_equal(t->cols[2].labels[0].value, "1");
    assert_int_equal(t->cols[1].series, y);
    assert_true(t->values[0] == 1 && isnan(t->values[1]));
    assert_true(isnan(series_table_col(t, 2)[0]) &&
                series_table_col(t, 2)[1] == 3);
    series_table_destroy(t);
    series_store_destroy(s);
}

/* A 4 x 4 table: time 0..3 s; columns by design:
 *   a_cpu  1 2 3 4
 *   b_mem  5e6 5e6 5e6 5e6   (constant)
 *   c_lat  NaN 1 NaN inf
 *   d_x    7 7 7 NaN          (NaN differs: kept by drop_constant) */
static struct series_table *sample_table(void)
{
    static const double v[4][4] = {{1, 2, 3, 4},
                                   {5e6, 5e6, 5e6, 5e6},
                                   {NAN, 1, NAN, INFINITY},
                                   {7, 7, 7, NAN}};
    static const char *names[] = {"a_cpu", "b_mem", "c_lat", "d_x"};
    struct series_table *t = series_table_create(4, 4);

    assert_non_null(t);
    for (size_t c = 0; c < 4; c++) {
        assert_int_equal(series_table_set_name(t, c, names[c]), 0);
        memcpy(series_table_col(t, c), v[c], sizeof(v[c]));
    }
    for (size_t r = 0; r < 4; r++)
        t->time_ns[r] = (int64_t)r * S;
    return t;
}

static void test_table_fill_and_constant(void **state)
{
    struct series_table *t = sample_table(), *u;

    (void)state;
    u = series_table_copy(t);
    /* pandas: drop_constant keeps d_x (NaN != 7) and c_lat, drops b_mem */
    assert_int_equal(series_table_drop_constant(u), 1);
    assert_int_equal(u->ncols, 3);
    assert_string_equal(u->cols[2].name, "d_x");
    series_table_destroy(u);

    series_table_inf_to_nan(t);
    series_table_ffill(t);
    series_table_fill(t, 0);
    /* c_lat: NaN 1 NaN inf -> NaN 1 1 NaN -> ffill NaN 1 1 1 -> 0 1 1 1 */
    assert_true(series_table_col(t, 2)[0] == 0 &&
                series_table_col(t, 2)[1] == 1 &&
                series_table_col(t, 2)[3] == 1);
    assert_true(series_table_col(t, 3)[3] == 7);
    /* now d_x is constant too */
    assert_int_equal(series_table_preprocess_rcaeval(t), 2);
    assert_int_equal(t->ncols, 2);
    assert_string_equal(t->cols[0].name, "a_cpu");
    assert_string_equal(t->cols[1].name, "c_lat");
    series_table_destroy(t);

    /* convert_mem_mb divides *_mem by 1e6 */
    t = sample_table();
    series_table_mem_to_mb(t);
    assert_true(series_table_col(t, 1)[0] == 5);
    assert_true(series_table_col(t, 0)[3] == 4);
    series_table_destroy(t);

    /* a single row: constant unless NaN; no rows: every column goes */
    t = sample_table();
    assert_int_equal(series_table_rows(t, 2, 3, &u), 0);
    assert_int_equal(series_table_drop_constant(u), 3); /* c_lat is NaN */
    assert_string_equal(u->cols[0].name, "c_lat");
    series_table_destroy(u);
    assert_int_equal(series_table_rows(t, 4, 9, &u), 0);
    assert_int_equal(u->nrows, 0);
    assert_int_equal(series_table_drop_constant(u), 4);
    series_table_destroy(u);
    series_table_destroy(t);
}

static void test_table_select_window(void **state)
{
    struct series_table *t = sample_table(), *u, *v;
    size_t cols[] = {3, 0}, rows[] = {3, 1};
    size_t len;

    (void)state;
    assert_int_equal(series_table_select(t, cols, 2, &u), 0);
    assert_string_equal(u->cols[0].name, "d_x");
    assert_true(series_table_col(u, 1)[2] == 3);
    series_table_destroy(u);
    cols[0] = 4;
    assert_int_equal(series_table_select(t, cols, 2, &u), -SERIES_E_INVAL);

    assert_int_equal(series_table_take_rows(t, rows, 2, &u), 0);
    assert_true(u->time_ns[0] == 3 * S && series_table_col(u, 0)[1] == 2);
    series_table_destroy(u);

    /* [1 s, 3 s) -> rows 1 and 2 */
    assert_int_equal(series_table_window(t, 1 * S, 3 * S, &u), 0);
    assert_int_equal(u->nrows, 2);
    assert_true(series_table_col(u, 0)[0] == 2 &&
                series_table_col(u, 0)[1] == 3);

    /* intersect: drop different columns from each, keep order */
    assert_int_equal(series_table_rows(t, 0, 4, &v), 0);
    series_table_keep_columns(v, (bool[]){false, true, true, true});
    series_table_keep_columns(u, (bool[]){true, true, false, true});
    series_table_intersect(u, v);
    assert_int_equal(u->ncols, 2);
    assert_int_equal(v->ncols, 2);
    assert_string_equal(u->cols[0].name, "b_mem");
    assert_string_equal(v->cols[1].name, "d_x");
    assert_true(series_table_col(v, 1)[2] == 7);

    assert_int_equal(series_table_find(t, "c_lat"), 2);
    assert_int_equal(series_table_find(t, "zz"), -1);
    assert_int_equal(series_table_find_metric(t, "d", "x"), 3);
    assert_string_equal(t->cols[1].entity, "b");
    assert_string_equal(t->cols[1].metric, "mem");
    assert_int_equal(series_table_set_name(t, 1, "my-svc_latency_p90"), 0);
    assert_string_equal(t->cols[1].entity, "my-svc");
    assert_string_equal(t->cols[1].metric, "latency_p90");
    assert_string_equal(series_service_of("cart_cpu_total", &len),
                        "cart_cpu_total");
    assert_int_equal(len, 4);
    series_service_of("nounderscore", &len);
    assert_int_equal(len, 12);
    series_table_destroy(u);
    series_table_destroy(v);
    series_table_destroy(t);
}

/* table -> store -> the same table (LAST on the table's own grid). */
static void test_table_store_roundtrip(void **state)
{
    struct series_table *t = sample_table(), *u;
    struct series_store *s = series_store_create();
    struct series_align a = {0, S, 4, SERIES_AGG_LAST, 0, 0};
    uint32_t ids[4];

    (void)state;
    assert_int_equal(series_store_add_table(s, t, ids), 0);
    assert_int_equal(series_store_count(s), 4);
    assert_int_equal(series_len(s, ids[2]), 2); /* NaN cells are no samples */
    assert_int_equal(series_table_from_store(s, ids, 4, &a, &u), 0);
    for (size_t c = 0; c < 4; c++) {
        assert_string_equal(u->cols[c].name, t->cols[c].name);
        for (size_t r = 0; r < 4; r++) {
            double x = series_table_col(t, c)[r], y = series_table_col(u, c)[r];

            assert_true((isnan(x) && isnan(y)) || x == y);
        }
    }
    series_table_destroy(u);
    series_table_destroy(t);
    series_store_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_delta),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_order_and_duplicates),
        cmocka_unit_test(test_horizon),
        cmocka_unit_test(test_align_gauge),
        cmocka_unit_test(test_align_counter),
        cmocka_unit_test(test_align_names_and_cover),
        cmocka_unit_test(test_table_fill_and_constant),
        cmocka_unit_test(test_table_select_window),
        cmocka_unit_test(test_table_store_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
