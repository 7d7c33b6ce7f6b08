/* test_rca_eval: RCAEval's evaluation arithmetic (src/rca/eval.h) on
 * hand-made rankings and truths: service extraction ("-db" removed as
 * Python's str.replace does), duplicates, rankings with fewer services
 * than k, ties, AC@k and Avg@k exactly as evaluation.py computes them, and
 * the per-method, per-fault table. */
#include "testlib.h"

#include <math.h>

#include "rca/eval.h"
#include "rca/rca.h"

static void test_service_rule(void **state)
{
    char b[64];

    (void)state;
    assert_int_equal(rca_eval_service("decode_latency", b, sizeof b), 6);
    assert_string_equal(b, "decode");
    assert_int_equal(rca_eval_service("cartservice-db_mem", b, sizeof b), 11);
    assert_string_equal(b, "cartservice");
    /* every "-db", anywhere before the first '_' */
    rca_eval_service("a-db-db_x", b, sizeof b);
    assert_string_equal(b, "a");
    /* no rescan of what a removal joins: "a--dbb".replace("-db", "") is
     * "a-b" */
    rca_eval_service("a--dbb_x", b, sizeof b);
    assert_string_equal(b, "a-b");
    /* no '_': the whole name (logts columns are container names) */
    rca_eval_service("nginx-proxy", b, sizeof b);
    assert_string_equal(b, "nginx-proxy");
    /* only the first part: "_db" later is not touched */
    rca_eval_service("x_y-db_z", b, sizeof b);
    assert_string_equal(b, "x");
    /* truncation still reports the full length */
    assert_int_equal(rca_eval_service("abcdefgh_x", b, 4), 8);
    assert_string_equal(b, "abc");
}

static void test_rank_first_appearance(void **state)
{
    const char *r[] = {"a_cpu", "b_mem", "a_latency", "c_cpu", "b_cpu", "d_x"};

    (void)state;
    /* distinct services in order: a b c d */
    assert_int_equal(rca_eval_rank(r, 6, "a"), 1);
    assert_int_equal(rca_eval_rank(r, 6, "b"), 2);
    assert_int_equal(rca_eval_rank(r, 6, "c"), 3);
    assert_int_equal(rca_eval_rank(r, 6, "d"), 4);
    assert_int_equal(rca_eval_rank(r, 6, "e"), 0);
    assert_int_equal(rca_eval_rank(r, 0, "a"), 0); /* empty ranking */
    /* duplicates after "-db" removal are one service */
    const char *db[] = {"cart-db_cpu", "cart_mem", "front_lat"};
    assert_int_equal(rca_eval_rank(db, 3, "front"), 2);
    assert_int_equal(rca_eval_rank(db, 3, "cart"), 1);
    /* the truth is compared as given (main.py does not strip it) */
    assert_int_equal(rca_eval_rank(db, 3, "cart-db"), 0);
}

static void test_rank_of_ranking_with_ties(void **state)
{
    struct rca_ranking r;

    (void)state;
    rca_ranking_init(&r);
    /* equal scores keep insertion order, so b is before a */
    rca_ranking_add(&r, "c_x", 1.0);
    rca_ranking_add(&r, "b_x", 3.0);
    rca_ranking_add(&r, "a_x", 3.0);
    rca_ranking_add(&r, "b_y", 2.0);
    rca_ranking_sort(&r);
    assert_int_equal(rca_eval_rank_of(&r, "b"), 1);
    assert_int_equal(rca_eval_rank_of(&r, "a"), 2);
    assert_int_equal(rca_eval_rank_of(&r, "c"), 3);
    rca_ranking_free(&r);
}

/* Four cases at positions 1, 2, absent, 6:
 *   AC@1 = 1/4, AC@2 = AC@3 = AC@4 = AC@5 = 2/4, AC@6 = 3/4
 *   Avg@5 = (0.25 + 0.5 + 0.5 + 0.5 + 0.5) / 5 = 0.45 */
static void test_ac_avg(void **state)
{
    struct rca_eval_acc a = {0};

    (void)state;
    assert_true(isnan(rca_eval_ac(&a, 1))); /* no case: None */
    assert_true(isnan(rca_eval_avg(&a, 5)));
    rca_eval_acc_add(&a, 1);
    rca_eval_acc_add(&a, 2);
    rca_eval_acc_add(&a, 0);
    rca_eval_acc_add(&a, 6);
    assert_int_equal(a.cases, 4);
    assert_true(rca_eval_ac(&a, 1) == 0.25);
    assert_true(rca_eval_ac(&a, 2) == 0.5);
    assert_true(rca_eval_ac(&a, 3) == 0.5);
    assert_true(rca_eval_ac(&a, 5) == 0.5);
    assert_true(rca_eval_ac(&a, 6) == 0.75);
    /* Python: sum(accuracy(i) for i in 1..5) / 5, left to right */
    double want = 0.0;
    want += 0.25;
    want += 0.5;
    want += 0.5;
    want += 0.5;
    want += 0.5;
    want /= 5;
    assert_true(rca_eval_avg(&a, 5) == want);
    assert_true(rca_eval_avg(&a, 1) == 0.25);
    assert_true(isnan(rca_eval_ac(&a, 0)));
    assert_true(isnan(rca_eval_ac(&a, RCA_EVAL_KMAX + 1)));
}

/* Thirds do not sum exactly: check the order of the additions. Three
 * cases at positions 1, 3, absent: AC@1 = 1/3, AC@2 = 1/3, AC@3..5 = 2/3.
 */
static void test_avg_rounding_order(void **state)
{
    struct rca_eval_acc a = {0};
    double third = 1.0 / 3.0, two = 2.0 / 3.0, want = 0.0;

    (void)state;
    rca_eval_acc_add(&a, 1);
    rca_eval_acc_add(&a, 3);
    rca_eval_acc_add(&a, 0);
    assert_true(rca_eval_ac(&a, 1) == third);
    assert_true(rca_eval_ac(&a, 3) == two);
    want = (((((0.0 + third) + third) + two) + two) + two) / 5.0;
    assert_true(rca_eval_avg(&a, 5) == want);
}

/* A ranking with fewer services than k: it can only hit within them. */
static void test_fewer_services_than_k(void **state)
{
    const char *r[] = {"a_x", "a_y", "b_z"};
    struct rca_eval_acc a = {0};

    (void)state;
    rca_eval_acc_add(&a, rca_eval_rank(r, 3, "b")); /* 2 */
    rca_eval_acc_add(&a, rca_eval_rank(r, 3, "q")); /* absent */
    assert_true(rca_eval_ac(&a, 1) == 0.0);
    assert_true(rca_eval_ac(&a, 2) == 0.5);
    assert_true(rca_eval_ac(&a, 5) == 0.5);
    assert_true(rca_eval_avg(&a, 5) == (0.0 + 0.5 + 0.5 + 0.5 + 0.5) / 5);
}

static void test_table(void **state)
{
    const char *methods[] = {"nsigma", "baro"};
    struct rca_eval_table t;
    struct rca_ranking r;

    (void)state;
    assert_int_equal(rca_eval_table_init(&t, methods, 2), 0);
    rca_ranking_init(&r);
    rca_ranking_add(&r, "decode_cpu", 3);
    rca_ranking_add(&r, "prefill_cpu", 2);
    /* nsigma: memory case hit at 2, two cpu cases hit at 1, one failure */
    assert_int_equal(rca_eval_record(&t, 0, "memory", "prefill", &r, 0.5), 0);
    assert_int_equal(rca_eval_record(&t, 0, "cpu", "decode", &r, 1.0), 0);
    assert_int_equal(rca_eval_record(&t, 0, "cpu", "decode", &r, 1.5), 0);
    assert_int_equal(rca_eval_record_failure(&t, 0, "x_gpu/1",
                                             "no rows before the inject "
                                             "time",
                                             1.0),
                     0);
    r.fallback = true;
    assert_int_equal(rca_eval_record(&t, 1, "gpu", "x", &r, 2.0), 0);
    rca_eval_table_finish(&t);

    const struct rca_eval_method *m = &t.methods[0];
    assert_string_equal(m->method, "nsigma");
    assert_int_equal(m->nfaults, 2);
    assert_string_equal(m->faults[0].fault, "cpu"); /* sorted */
    assert_string_equal(m->faults[1].fault, "memory");
    assert_int_equal(m->faults[0].acc.cases, 2);
    assert_true(rca_eval_ac(&m->faults[0].acc, 1) == 1.0);
    assert_true(rca_eval_ac(&m->faults[1].acc, 1) == 0.0);
    assert_true(rca_eval_ac(&m->faults[1].acc, 3) == 1.0);
    assert_true(rca_eval_avg(&m->faults[1].acc, 5) == 0.8);
    /* failures are listed, not counted, but their time is */
    assert_int_equal(m->nfailures, 1);
    assert_string_equal(m->failures[0].case_name, "x_gpu/1");
    assert_true(rca_eval_seconds_per_case(m) == 4.0 / 4);
    assert_int_equal(t.methods[1].fallbacks, 1);
    assert_true(rca_eval_ac(&t.methods[1].faults[0].acc, 5) == 0.0);
    rca_ranking_free(&r);
    rca_eval_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_rule),
        cmocka_unit_test(test_rank_first_appearance),
        cmocka_unit_test(test_rank_of_ranking_with_ties),
        cmocka_unit_test(test_ac_avg),
        cmocka_unit_test(test_avg_rounding_order),
        cmocka_unit_test(test_fewer_services_than_k),
        cmocka_unit_test(test_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
