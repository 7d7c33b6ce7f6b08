/* test_rca_methods_basic: the deterministic and simple RCA methods (dummy,
 * nsigma, baro, e_diagnosis, mmbaro) on small tables whose rankings are
 * computed by hand below, the method interface (rca_rank: inputs,
 * parameters, the @rca fallback, seeds), and on synthetic case folders
 * with a known root cause (the case setup, --inject-time auto). */
#include "testlib.h"

#include <math.h>

#include "ingest/rcaeval.h"
#include "model/series.h"
#include "rca/rca.h"
#include "rca/rca_method.h"
#include "rca_synth.h"

/* ---------------------------------------------------------------------
 * The hand-computed table: 8 rows at t = 0..7 s, inject at t = 4 s.
 *
 *   column  normal (t<4)   anomalous (t>=4)
 *   a_cpu   1 2 3 4        4 4 4 10
 *   b_lat   0 2 0 2        1 3 1 1
 *   c_err   5 5 5 5        5 9 5 5     constant in normal: dropped
 *   d_q     1 2 3 4        1 1 1 1     constant in anomalous: dropped
 *   e_x     2 4 6 8        5 6 11 5
 *   f_y     0 0 0 100      0 0 0 30
 *   g_t     0 2 0 2        1 3 1 1     same as b_lat: a tie
 *   h_d     10 12 10 12    5 6 5 7     a drop
 *
 * NSigma (mean, population sd; max z after):
 *   a: mean 2.5 sd sqrt(1.25): (10-2.5)/sqrt(1.25) = 6.7082
 *   b, g: mean 1 sd 1: (3-1)/1 = 2
 *   e: mean 5 sd sqrt(5): (11-5)/sqrt(5) = 2.6833
 *   f: mean 25 sd sqrt(1875): (30-25)/sqrt(1875) = 0.11547
 *   h: mean 11 sd 1: (7-11)/1 = -4
 *   -> a, e, b, g, f, h
 * BARO (median, IQR with numpy's linear quantiles):
 *   a: median 2.5, q25 1.75, q75 3.25: (10-2.5)/1.5 = 5
 *   b, g: sorted 0 0 2 2: median 1, q25 0, q75 2: (3-1)/2 = 1
 *   e: median 5, q25 3.5, q75 6.5: (11-5)/3 = 2
 *   f: sorted 0 0 0 100: median 0, q25 0, q75 25: 30/25 = 1.2
 *   h: sorted 10 10 12 12: median 11, IQR 2: (7-11)/2 = -2
 *   -> a, e, f, b, g, h
 * --------------------------------------------------------------------- */

static const char *const hand_names[] = {"a_cpu", "b_lat", "c_err", "d_q",
                                         "e_x",   "f_y",   "g_t",   "h_d"};
static const double hand_values[8][8] = {
    {1, 2, 3, 4, 4, 4, 4, 10}, {0, 2, 0, 2, 1, 3, 1, 1},
    {5, 5, 5, 5, 5, 9, 5, 5},  {1, 2, 3, 4, 1, 1, 1, 1},
    {2, 4, 6, 8, 5, 6, 11, 5}, {0, 0, 0, 100, 0, 0, 0, 30},
    {0, 2, 0, 2, 1, 3, 1, 1},  {10, 12, 10, 12, 5, 6, 5, 7},
};

static struct series_table *table_of(const char *const *names,
                                     const double *values, size_t ncols,
                                     size_t nrows, const int64_t *times_s)
{
    struct series_table *t = series_table_create(nrows, ncols);

    assert_non_null(t);
    for (size_t r = 0; r < nrows; r++)
        t->time_ns[r] = times_s[r] * 1000000000;
    for (size_t j = 0; j < ncols; j++) {
        assert_int_equal(series_table_set_name(t, j, names[j]), 0);
        memcpy(series_table_col(t, j), values + j * nrows,
               nrows * sizeof(double));
    }
    return t;
}

static struct series_table *hand_table(void)
{
    static const int64_t times[8] = {0, 1, 2, 3, 4, 5, 6, 7};

    return table_of(hand_names, &hand_values[0][0], 8, 8, times);
}

static void case_of(struct rca_case *c, const struct series_table *t,
                    int64_t inject_s)
{
    memset(c, 0, sizeof(*c));
    c->metrics = t;
    c->inject_ns = inject_s * 1000000000;
    c->has_inject = true;
    c->name = "hand";
}

struct want {
    const char *name;
    double score;
};

static void rank_expect(const char *method, const struct rca_case *c,
                        const struct rca_params *p, const struct want *w,
                        size_t n)
{
    const struct rca_method *m = rca_method_find(method);
    struct rca_ranking r;
    char err[256] = "";

    assert_non_null(m);
    rca_ranking_init(&r);
    if (rca_rank(m, c, p, &r, err, sizeof err) != 0)
        fail_msg("%s: %s", method, err);
    if (r.n != n) {
        for (size_t i = 0; i < r.n; i++)
            print_message("%s %g\n", r.items[i].name, r.items[i].score);
        fail_msg("%s: %zu candidates, want %zu", method, r.n, n);
    }
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r.items[i].name, w[i].name);
        assert_float_equal(r.items[i].score, w[i].score, 1e-12);
    }
    assert_false(r.fallback);
    rca_ranking_free(&r);
}

static void test_nsigma_hand(void **state)
{
    struct series_table *t = hand_table();
    struct rca_case c;
    const struct want w[] = {
        {"a_cpu", 7.5 / sqrt(1.25)},
        {"e_x", 6.0 / sqrt(5.0)},
        {"b_lat", 2.0},
        {"g_t", 2.0},
        {"f_y", 5.0 / sqrt(1875.0)},
        {"h_d", -4.0},
    };

    (void)state;
    case_of(&c, t, 4);
    rank_expect("nsigma", &c, NULL, w, 6);
    series_table_destroy(t);
}

static void test_baro_hand(void **state)
{
    struct series_table *t = hand_table();
    struct rca_case c;
    const struct want w[] = {
        {"a_cpu", 5.0}, {"e_x", 2.0}, {"f_y", 1.2},
        {"b_lat", 1.0}, {"g_t", 1.0}, {"h_d", -2.0},
    };

    (void)state;
    case_of(&c, t, 4);
    rank_expect("baro", &c, NULL, w, 6);
    series_table_destroy(t);
}

/* Memory columns are divided by 1e6 per window (convert_mem_mb); the
 * z-scores do not change, so the ranking is the one above. And the split
 * is by time, not by row: rows out of order land in their windows. */
static void test_baro_mem_and_row_order(void **state)
{
    static const char *const names[] = {"m_mem", "n_cpu"};
    /* rows: t = 4 5 0 1 6 2 3 7 */
    static const int64_t times[8] = {4, 5, 0, 1, 6, 2, 3, 7};
    static const double v[2][8] = {
        {4e6, 4e6, 1e6, 2e6, 4e6, 3e6, 4e6, 10e6}, /* a_cpu x 1e6 */
        {1, 3, 0, 2, 1, 0, 2, 1},                  /* b_lat */
    };
    struct series_table *t = table_of(names, &v[0][0], 2, 8, times);
    struct rca_case c;
    const struct want w[] = {{"m_mem", 5.0}, {"n_cpu", 1.0}};

    (void)state;
    case_of(&c, t, 4);
    rank_expect("baro", &c, NULL, w, 2);
    series_table_destroy(t);
}

/* e_diagnosis, 4 rows each side. score = cov(n, a)^2 / (var(n) var(a))
 * with np.cov's ddof 1 and np.var's ddof 0 = rho^2 (4/3)^2:
 *   x_neg  1 2 3 4 | 8 6 4 2    rho = -1: 16/9 = 1.7778
 *   y_pos  1 2 3 4 | 3 5 7 9    rho = 1:  16/9
 *   z_zero 1 2 3 4 | 1 0 0 1    cov 0: score 0, never above a threshold
 *   w_part 1 2 3 4 | 4 4 4 10   rho^2 = 81 / (5 * 27) = 0.6: 16/15
 * Every squared correlation of two resamples is <= 1, so any threshold is
 * <= 1 and the three scores above 1 are root causes whatever the draws;
 * the zero one never is. pyrca keeps the top 3 by default. */
static void test_e_diagnosis_hand(void **state)
{
    static const char *const names[] = {"x_neg", "y_pos", "z_zero", "w_part"};
    static const int64_t times[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const double v[4][8] = {
        {1, 2, 3, 4, 8, 6, 4, 2},
        {1, 2, 3, 4, 3, 5, 7, 9},
        {1, 2, 3, 4, 1, 0, 0, 1},
        {1, 2, 3, 4, 4, 4, 4, 10},
    };
    struct series_table *t = table_of(names, &v[0][0], 4, 8, times);
    struct rca_case c;
    const struct want w[] = {
        {"x_neg", 16.0 / 9.0}, {"y_pos", 16.0 / 9.0}, {"w_part", 16.0 / 15.0}};
    struct rca_kv kv[] = {{"root_cause_top_k", "2"}};
    struct rca_params p = {.seed = 1};

    (void)state;
    case_of(&c, t, 4);
    for (uint64_t seed = 0; seed < 5; seed++) {
        p.seed = seed;
        rank_expect("e_diagnosis", &c, &p, w, 3);
    }
    p.kv = kv;
    p.nkv = 1;
    rank_expect("e_diagnosis", &c, &p, w, 2);
    series_table_destroy(t);
}

/* The windows are cut to the shorter one: normal's last rows, anomalous'
 * first rows. With 6 normal rows 9 9 1 2 3 4 and anomalous 8 6 4 2 the
 * score is the x_neg one above; with the first two normal rows it is not
 * (rho of 9 9 1 2 against 8 6 4 2 is 0.877...). */
static void test_e_diagnosis_trims(void **state)
{
    static const char *const names[] = {"x_neg"};
    static const int64_t times[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const double v[10] = {9, 9, 1, 2, 3, 4, 8, 6, 4, 2};
    struct series_table *t = table_of(names, v, 1, 10, times);
    struct rca_case c;
    const struct want w[] = {{"x_neg", 16.0 / 9.0}};

    (void)state;
    case_of(&c, t, 6);
    rank_expect("e_diagnosis", &c, NULL, w, 1);
    series_table_destroy(t);
}

/* Scores within [0, 1] go through the bootstrap threshold. With 100 rows
 * a side, two resamples of one series correlate like independent series:
 * r^2 around 1/100, its 0.99 quantile near 6.6/100. A metric whose
 * anomalous window follows its normal one (rho^2 ~ 0.9) passes; one that
 * does not (rho^2 ~ 0.01) stays out. */
static void test_e_diagnosis_threshold(void **state)
{
    static const char *const names[] = {"follows", "random", "flat"};
    int64_t times[200];
    double v[3][200];
    uint64_t s = 99;
    struct rca_case c;
    struct rca_params p = {0};
    const struct want w[1] = {{"follows", 0.0}};
    struct rca_ranking r;
    char err[256];

    (void)state;
    for (int i = 0; i < 200; i++)
        times[i] = i;
    for (int i = 0; i < 100; i++) {
        double x = test_rng_normal(&s);
        v[0][i] = x;
        v[0][100 + i] = x + 0.33 * test_rng_normal(&s);
        v[1][i] = test_rng_normal(&s);
        v[1][100 + i] = test_rng_normal(&s);
        v[2][i] = 1.0 + (i == 3);       /* normal: not constant */
        v[2][100 + i] = 5.0 + (i == 7); /* anomalous: not constant either */
    }
    struct series_table *t = table_of(names, &v[0][0], 3, 200, times);
    case_of(&c, t, 100);
    for (p.seed = 0; p.seed < 4; p.seed++) {
        rca_ranking_init(&r);
        assert_int_equal(rca_rank(rca_method_find("e_diagnosis"), &c, &p, &r,
                                  err, sizeof err),
                         0);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.items[0].name, w[0].name);
        assert_true(r.items[0].score > 0.8 && r.items[0].score < 1.0);
        rca_ranking_free(&r);
    }
    series_table_destroy(t);
}

static void test_e_diagnosis_params(void **state)
{
    const struct rca_method *m = rca_method_find("e_diagnosis");
    struct rca_kv bad[] = {{"alpha", "2"}}, unknown[] = {{"beta", "1"}},
                  nan[] = {{"alpha", "x"}};
    struct rca_params p = {.kv = bad, .nkv = 1};
    char err[256];

    (void)state;
    assert_int_equal(rca_method_validate(m, &p, err, sizeof err), -RCA_E_INVAL);
    assert_non_null(strstr(err, "alpha=2"));
    p.kv = unknown;
    assert_int_equal(rca_method_validate(m, &p, err, sizeof err), -RCA_E_INVAL);
    assert_non_null(strstr(err, "beta"));
    p.kv = nan;
    assert_int_equal(rca_method_validate(m, &p, err, sizeof err), -RCA_E_INVAL);
    /* nsigma takes no parameter at all */
    p.kv = unknown;
    assert_int_equal(
        rca_method_validate(rca_method_find("nsigma"), &p, err, sizeof err),
        -RCA_E_INVAL);
}

/* mmbaro: the hand table's metrics (inject 4 s) plus three side sources.
 * logts (NOT filled): rows at -16 -12 -8 -4 | 4 8 s
 *   svc1      1 NaN 3 4 | 10 NaN   the fit skips NaN: 1 3 4, median 3,
 *                                  q25 2, q75 3.5: (10-3)/1.5 = 4.6667
 *                                  (filled it would be 1 1 3 4: 3.5556);
 *                                  Python's max skips the later NaN
 *   flat      7 7 7 7 | 7 7        constant: dropped
 * tracets_err (filled, normal loses its last 2 rows):
 *   svc2_op   1 2 3 4 | 2 2    normal used 1 2: median 1.5, IQR 0.5:
 *                              (2-1.5)/0.5 = 1 (without [:-2]: -1/3)
 * tracets_lat (filled):
 *   svc3_op   NaN 1 2 3 | 6 6  ffill leaves the first NaN, 0 fills it:
 *                              0 1 2 3: median 1.5, IQR 1.5: 3
 * Together with the metrics' BARO scores (a 5, e 2, f 1.2, b 1, g 1,
 * h -2), stable by score: a_cpu 5, svc1 4.67, svc3_op 3, e_x 2, f_y 1.2,
 * b_lat 1, g_t 1, svc2_op 1, h_d -2. */
static void test_mmbaro_hand(void **state)
{
    static const int64_t ts[6] = {-16, -12, -8, -4, 4, 8};
    static const char *const ln[] = {"svc1", "flat"};
    const double lv[2][6] = {{1, NAN, 3, 4, 10, NAN}, {7, 7, 7, 7, 7, 7}};
    static const char *const en[] = {"svc2_op"};
    static const double ev[6] = {1, 2, 3, 4, 2, 2};
    static const char *const tn[] = {"svc3_op"};
    const double tv[6] = {NAN, 1, 2, 3, 6, 6};
    struct series_table *t = hand_table();
    struct series_table *logts = table_of(ln, &lv[0][0], 2, 6, ts);
    struct series_table *err_t = table_of(en, ev, 1, 6, ts);
    struct series_table *lat_t = table_of(tn, tv, 1, 6, ts);
    struct rca_case c;
    const struct want w[] = {
        {"a_cpu", 5.0}, {"svc1", 7.0 / 1.5}, {"svc3_op", 3.0},
        {"e_x", 2.0},   {"f_y", 1.2},        {"b_lat", 1.0},
        {"g_t", 1.0},   {"svc2_op", 1.0},    {"h_d", -2.0},
    };

    (void)state;
    case_of(&c, t, 4);
    c.logts = logts;
    c.tracets_err = err_t;
    c.tracets_lat = lat_t;
    rank_expect("mmbaro", &c, NULL, w, 9);
    series_table_destroy(t);
    series_table_destroy(logts);
    series_table_destroy(err_t);
    series_table_destroy(lat_t);
}

static void test_inputs_checked(void **state)
{
    struct series_table *t = hand_table();
    struct rca_case c;
    struct rca_ranking r;
    char err[256];

    (void)state;
    case_of(&c, t, 4);
    rca_ranking_init(&r);
    assert_int_equal(
        rca_rank(rca_method_find("mmbaro"), &c, NULL, &r, err, sizeof err),
        -RCA_E_INPUT);
    assert_non_null(strstr(err, "logts"));
    c.has_inject = false;
    assert_int_equal(
        rca_rank(rca_method_find("baro"), &c, NULL, &r, err, sizeof err),
        -RCA_E_INPUT);
    assert_non_null(strstr(err, "inject"));
    /* dummy needs no inject time */
    assert_int_equal(
        rca_rank(rca_method_find("dummy"), &c, NULL, &r, err, sizeof err), 0);
    rca_ranking_free(&r);
    /* an inject time after every row: the anomalous window is empty */
    case_of(&c, t, 100);
    assert_int_equal(
        rca_rank(rca_method_find("nsigma"), &c, NULL, &r, err, sizeof err),
        -RCA_E_DATA);
    assert_int_equal(r.n, 0);
    series_table_destroy(t);
}

/* dummy: a permutation of the columns left after dropping constant ones,
 * the same for the same seed. */
static void test_dummy_seeded(void **state)
{
    struct series_table *t = hand_table();
    struct rca_case c;
    struct rca_ranking a, b;
    struct rca_params p = {.seed = 42};
    char err[256];
    bool differs = false;

    (void)state;
    case_of(&c, t, 4);
    rca_ranking_init(&a);
    rca_ranking_init(&b);
    assert_int_equal(
        rca_rank(rca_method_find("dummy"), &c, &p, &a, err, sizeof err), 0);
    assert_int_equal(a.n, 8); /* no column is constant over all 8 rows */
    assert_int_equal(
        rca_rank(rca_method_find("dummy"), &c, &p, &b, err, sizeof err), 0);
    for (size_t i = 0; i < a.n; i++)
        assert_string_equal(a.items[i].name, b.items[i].name);
    for (uint64_t s = 43; s < 53 && !differs; s++) {
        rca_ranking_free(&b);
        p.seed = s;
        assert_int_equal(
            rca_rank(rca_method_find("dummy"), &c, &p, &b, err, sizeof err), 0);
        for (size_t i = 0; i < a.n; i++)
            differs |= strcmp(a.items[i].name, b.items[i].name) != 0;
    }
    assert_true(differs);
    rca_ranking_free(&a);
    rca_ranking_free(&b);
    series_table_destroy(t);
}

/* A method flagged RCA_METHOD_FALLBACK that does not converge gets
 * dummy's ranking (RCAEval's @rca); without the flag the error stays. */
static int noconv_rank(const struct rca_case *c, const struct rca_params *p,
                       struct rca_ranking *out, char *err, size_t errlen)
{
    (void)p;
    rca_ranking_add(out, c->metrics->cols[0].name, 1.0); /* discarded */
    return rca_fail(err, errlen, RCA_E_NOCONV, "fake",
                    "PageRank did not "
                    "converge");
}

static void test_fallback(void **state)
{
    struct rca_method fake = {
        .name = "fake",
        .inputs = RCA_IN_METRICS,
        .flags = RCA_METHOD_FALLBACK,
        .rank = noconv_rank,
    };
    struct series_table *t = hand_table();
    struct rca_case c;
    struct rca_ranking r, d;
    struct rca_params p = {.seed = 7};
    char err[256];

    (void)state;
    case_of(&c, t, 4);
    rca_ranking_init(&r);
    rca_ranking_init(&d);
    assert_int_equal(rca_rank(&fake, &c, &p, &r, err, sizeof err), 0);
    assert_true(r.fallback);
    assert_non_null(strstr(r.note, "converge"));
    assert_int_equal(
        rca_rank(rca_method_find("dummy"), &c, &p, &d, err, sizeof err), 0);
    assert_int_equal(r.n, d.n);
    for (size_t i = 0; i < r.n; i++)
        assert_string_equal(r.items[i].name, d.items[i].name);
    rca_ranking_free(&r);
    fake.flags = 0;
    assert_int_equal(rca_rank(&fake, &c, &p, &r, err, sizeof err),
                     -RCA_E_NOCONV);
    assert_int_equal(r.n, 0);
    rca_ranking_free(&d);
    series_table_destroy(t);
}

static void test_ranking_sort_stable_nan_last(void **state)
{
    struct rca_ranking r;
    const char *want[] = {"b", "d", "a", "c", "e", "f"};

    (void)state;
    rca_ranking_init(&r);
    rca_ranking_add(&r, "a", 1.0);
    rca_ranking_add(&r, "n1", NAN);
    rca_ranking_add(&r, "b", 2.0);
    rca_ranking_add(&r, "c", 1.0);
    rca_ranking_add(&r, "d", 2.0);
    rca_ranking_add(&r, "n2", NAN);
    rca_ranking_add(&r, "e", -INFINITY);
    rca_ranking_add(&r, "f", -INFINITY);
    rca_ranking_sort(&r);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(r.items[i].name, want[i]);
    assert_string_equal(r.items[6].name, "n1");
    assert_string_equal(r.items[7].name, "n2");
    /* 100 equal scores stay in order (the side-array path) */
    rca_ranking_free(&r);
    for (int i = 0; i < 100; i++) {
        char n[16];
        snprintf(n, sizeof n, "x%03d", i);
        rca_ranking_add(&r, n, i % 2 ? 1.0 : 2.0);
    }
    rca_ranking_sort(&r);
    for (int i = 0; i < 100; i++) {
        char n[16];
        snprintf(n, sizeof n, "x%03d", i < 50 ? 2 * i : 2 * (i - 50) + 1);
        assert_string_equal(r.items[i].name, n);
    }
    rca_ranking_truncate(&r, 3);
    assert_int_equal(r.n, 3);
    rca_ranking_free(&r);
}

static void test_py_max(void **state)
{
    const double a[] = {NAN, 1, 5}, b[] = {1, NAN, 5, 2};

    (void)state;
    assert_true(isnan(rca_py_max(a, 3))); /* NaN first stays */
    assert_float_equal(rca_py_max(b, 4), 5.0, 0);
    assert_true(isnan(rca_py_max(b, 0)));
}

/* ---------------------------------------------------------------------
 * Synthetic case folders: a fault in one service after the inject time
 * --------------------------------------------------------------------- */

static const char *const svc_names[] = {"frontend", "tokenizer", "prefill",
                                        "decode",   "kvcache",   "detok"};

static struct rca_case *read_prepared(const char *dir, unsigned root,
                                      const char *fault,
                                      const struct rca_setup *setup,
                                      struct rcaeval_case **src)
{
    char path[1024], err[512];
    struct rca_case *c = NULL;

    snprintf(path, sizeof path, "%s/%s_%s/1", dir, svc_names[root], fault);
    if (rcaeval_case_read(path, NULL, src, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (rca_case_prepare(*src, setup, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    return c;
}

static void test_synthetic_rank1(void **state)
{
    char *dir = testlib_temp_dir("rca-synth");
    const char *faults[] = {"cpu", "memory", "network"};

    (void)state;
    for (unsigned k = 0; k < 3; k++) {
        struct rca_synth s = {
            .services = 6,
            .names = svc_names,
            .rows = 1800,
            .t0_s = 1700000000,
            .inject_row = 900,
            .root = 1 + k,
            .fault = faults[k],
            .shift = 6.0,
            .seed = 11 + k,
        };
        struct rcaeval_case *src;
        struct rca_case *c;

        assert_int_equal(rca_synth_write(&s, dir, 1), 0);
        c = read_prepared(dir, s.root, s.fault, NULL, &src);
        /* main.py's window: 600 rows each side; latency-50 dropped,
         * latency-90 renamed */
        assert_int_equal(c->metrics->nrows, 1200);
        assert_int_equal(c->metrics->ncols, 6 * 4);
        assert_true(series_table_find(c->metrics, "decode_latency") >= 0);
        assert_int_equal(c->n_iter, 6 * 4);
        assert_string_equal(src->root_service, svc_names[s.root]);
        for (int m = 0; m < 2; m++) {
            const char *method = m ? "baro" : "nsigma";
            struct rca_ranking r;
            char err[256];
            size_t sl;

            rca_ranking_init(&r);
            assert_int_equal(
                rca_rank(rca_method_find(method), c, NULL, &r, err, sizeof err),
                0);
            const char *sv = rca_ranking_service(&r, 0, &sl);
            if (sl != strlen(svc_names[s.root]) ||
                strncmp(sv, svc_names[s.root], sl))
                fail_msg("%s on %s_%s: rank 1 is %s", method, svc_names[s.root],
                         s.fault, r.items[0].name);
            rca_ranking_free(&r);
        }
        rca_case_destroy(c);
        rcaeval_case_destroy(src);
    }
    testlib_remove_tree(dir);
    free(dir);
}

/* --inject-time auto: BARO's BOCPD on the latency and error columns finds
 * the step near the true inject row, and the methods still rank the root
 * cause first from the detected time. */
static void test_inject_auto(void **state)
{
    char *dir = testlib_temp_dir("rca-auto");
    struct rca_synth s = {
        .services = 4,
        .names = svc_names,
        .rows = 400,
        .t0_s = 1700000000,
        .inject_row = 200,
        .root = 3,
        .fault = "network",
        .shift = 8.0,
        .seed = 5,
    };
    struct rca_setup setup = {.length_min = 10, .inject_auto = true};
    struct rcaeval_case *src;
    struct rca_case *c;
    struct rca_ranking r;
    char err[256];
    size_t sl;

    (void)state;
    assert_int_equal(rca_synth_write(&s, dir, 1), 0);
    c = read_prepared(dir, s.root, s.fault, &setup, &src);
    assert_true(c->inject_detected);
    assert_true(c->has_inject);
    /* 300 rows each side of the true inject time: row 200 of the case is
     * row 200 of the window (it starts at row 0) */
    assert_int_equal(c->metrics->nrows, 400);
    if (c->inject_row < 195 || c->inject_row > 205)
        fail_msg("change point at row %zu, fault at 200", c->inject_row);
    assert_true(c->inject_ns == c->metrics->time_ns[c->inject_row]);
    rca_ranking_init(&r);
    assert_int_equal(
        rca_rank(rca_method_find("baro"), c, NULL, &r, err, sizeof err), 0);
    const char *sv = rca_ranking_service(&r, 0, &sl);
    assert_true(sl == 6 && !strncmp(sv, "decode", 6));
    rca_ranking_free(&r);
    rca_case_destroy(c);
    rcaeval_case_destroy(src);
    testlib_remove_tree(dir);
    free(dir);
}

/* A flat case has no change point: -RCA_E_NOCHANGE, not a guess. */
static void test_inject_auto_none(void **state)
{
    static const char *const names[] = {"a_latency", "b_cpu"};
    static const int64_t times[6] = {0, 1, 2, 3, 4, 5};
    static const double v[2][6] = {{1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2}};
    struct series_table *t = table_of(names, &v[0][0], 2, 6, times);
    size_t row;

    (void)state;
    assert_int_equal(rca_detect_inject(t, 0, &row), -RCA_E_NOCHANGE);
    series_table_destroy(t);
}

/* No inject time at all: the last 2 * length*30 rows, has_inject false;
 * --inject-time T overrides inject_time.txt; --tdelta shifts it. */
static void test_case_setup_inject_sources(void **state)
{
    char *dir = testlib_temp_dir("rca-setup");
    struct rca_synth s = {
        .services = 2,
        .names = svc_names,
        .rows = 300,
        .t0_s = 1000,
        .inject_row = 150,
        .root = 0,
        .fault = "cpu",
        .shift = 5,
        .seed = 1,
    };
    struct rca_setup setup = {.length_min = 2};
    struct rcaeval_case *src;
    struct rca_case *c;
    char path[1024];

    (void)state;
    assert_int_equal(rca_synth_write(&s, dir, 1), 0);
    c = read_prepared(dir, 0, "cpu", &setup, &src);
    assert_int_equal(c->metrics->nrows, 120); /* 60 each side */
    assert_true(c->inject_ns == 1150LL * 1000000000);
    assert_int_equal(c->inject_row, 60);
    rca_case_destroy(c);
    rcaeval_case_destroy(src);

    setup.inject_given = true;
    setup.inject_time_s = 1100;
    setup.tdelta_s = 10;
    c = read_prepared(dir, 0, "cpu", &setup, &src);
    assert_true(c->inject_ns == 1110LL * 1000000000);
    assert_true(c->metrics->time_ns[0] == 1050LL * 1000000000);
    rca_case_destroy(c);
    rcaeval_case_destroy(src);

    snprintf(path, sizeof path, "%s/frontend_cpu/1/inject_time.txt", dir);
    assert_int_equal(unlink(path), 0);
    setup = (struct rca_setup){.length_min = 1};
    c = read_prepared(dir, 0, "cpu", &setup, &src);
    assert_false(c->has_inject);
    assert_int_equal(c->metrics->nrows, 60);
    assert_true(c->metrics->time_ns[59] == 1299LL * 1000000000);
    rca_case_destroy(c);
    rcaeval_case_destroy(src);
    testlib_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nsigma_hand),
        cmocka_unit_test(test_baro_hand),
        cmocka_unit_test(test_baro_mem_and_row_order),
        cmocka_unit_test(test_e_diagnosis_hand),
        cmocka_unit_test(test_e_diagnosis_trims),
        cmocka_unit_test(test_e_diagnosis_threshold),
        cmocka_unit_test(test_e_diagnosis_params),
        cmocka_unit_test(test_mmbaro_hand),
        cmocka_unit_test(test_inputs_checked),
        cmocka_unit_test(test_dummy_seeded),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_ranking_sort_stable_nan_last),
        cmocka_unit_test(test_py_max),
        cmocka_unit_test(test_synthetic_rank1),
        cmocka_unit_test(test_inject_auto),
        cmocka_unit_test(test_inject_auto_none),
        cmocka_unit_test(test_case_setup_inject_sources),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
