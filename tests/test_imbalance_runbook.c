/* test_imbalance_runbook: the runbook file. The built-in runbook parses,
 * names a condition for every detector with causes and mitigations, and
 * its thresholds are the detectors' own keys; a user's file overrides key
 * by key, puts its signal patterns first, disables conditions and adds new
 * ones through the generic detector; every kind of bad entry is an error
 * naming the file and the line, and leaves the runbook as it was; --set
 * overrides. */
#include "testlib.h"

#include <math.h>

#include "imbalance/imb_detector.h"
#include "imbalance/imbalance.h"
#include "imbalance/runbook.h"
#include "imbalance/signals.h"
#include "model/series.h"

static struct imb_runbook *def(void)
{
    struct imb_runbook *rb = imb_runbook_create();
    char err[512];

    assert_non_null(rb);
    if (imb_runbook_load_default(rb, err, sizeof err))
        fail_msg("%s", err);
    return rb;
}

static void test_default(void **state)
{
    struct imb_runbook *rb = def();

    (void)state;
    assert_true(rb->step_s == 1 && rb->history_s == 60);
    assert_true(rb->nsig >= 60);
    /* every detector serves an enabled condition of the built-in runbook
     * (threshold: the disabled example) */
    for (size_t i = 0; i < imb_detector_count(); i++) {
        const struct imb_detector *d = imb_detector_at(i);
        bool found = false;

        for (size_t c = 0; c < rb->ncond; c++)
            if (rb->cond[c].det == d &&
                (rb->cond[c].enabled || !strcmp(d->name, "threshold")))
                found = true;
        if (!found)
            fail_msg("no runbook entry for detector %s", d->name);
    }
    for (size_t c = 0; c < rb->ncond; c++) {
        const struct imb_rb_cond *k = &rb->cond[c];

        assert_non_null(k->det);
        assert_true(k->ncauses >= 1 && k->nmitigations >= 1);
        assert_non_null(k->title);
        assert_non_null(k->table);
        /* the runbook's values are the documented defaults */
        for (size_t t = 0; t < k->nth; t++) {
            const struct imb_param *p =
                imb_detector_param(k->det, k->th[t].key);

            assert_non_null(p);
            if (strcmp(k->det->name, "threshold") && p->def != k->th[t].value)
                fail_msg("%s.%s: runbook %g, detector default %g", k->id,
                         p->key, k->th[t].value, p->def);
        }
    }
    assert_int_equal(imb_runbook_cond(rb, "threshold_example")->enabled, false);
    /* the tables of the paper */
    assert_string_equal(imb_runbook_cond(rb, "tp_straggler")->table,
                        "3a compute");
    assert_string_equal(imb_runbook_cond(rb, "dp_load_skew")->table,
                        "3b north-south");
    assert_string_equal(imb_runbook_cond(rb, "net_congestion")->table,
                        "3c east-west");
    imb_runbook_destroy(rb);
}

static void test_user_overrides(void **state)
{
    const char *user =
        "# my runbook\n"
        "version: 1\n"
        "defaults: {step_s: 2}\n"
        "signals:\n"
        "  - {engine: mine, match: \"my_queue_depth\", role: "
        "requests_waiting}\n"
        "  - {engine: mine, match: \"vllm:num_requests_waiting\", role: "
        "requests_running}\n"
        "conditions:\n"
        "  - id: tp_straggler\n"
        "    thresholds: {step_ratio: 1.4}\n"
        "  - id: net_link_flap\n"
        "    enabled: no\n"
        "  - id: pcie_degraded\n"
        "    mitigations: [\"call the vendor\"]\n"
        "  - id: hot_kv\n"
        "    title: KV above 90%\n"
        "    detector: threshold\n"
        "    role: kv_usage\n"
        "    thresholds: {above: 0.9, persist_s: 2}\n"
        "    causes: [{id: c, text: \"too full\"}]\n"
        "    mitigations: [\"shed load\"]\n";
    struct imb_runbook *rb = def();
    size_t ncond = rb->ncond;
    char err[512];
    const struct imb_rb_cond *c;

    (void)state;
    if (imb_runbook_load_buffer(rb, "user.yaml", user, strlen(user), err,
                                sizeof err))
        fail_msg("%s", err);
    assert_true(rb->step_s == 2 && rb->history_s == 60);
    /* user patterns first */
    assert_string_equal(rb->sig[0].match, "my_queue_depth");
    assert_int_equal(rb->sig[1].role, IMB_ROLE_REQ_RUNNING);
    assert_string_equal(rb->sig[0].file, "user.yaml");
    assert_int_equal(rb->sig[0].line, 5);
    c = imb_runbook_cond(rb, "tp_straggler");
    assert_true(imb_cond_param(c, "step_ratio") == 1.4);
    assert_true(imb_cond_param(c, "wait_share") == 0.10); /* kept */
    assert_int_equal(c->ncauses, 3);                      /* kept */
    assert_false(imb_runbook_cond(rb, "net_link_flap")->enabled);
    c = imb_runbook_cond(rb, "pcie_degraded");
    assert_int_equal(c->nmitigations, 1);
    assert_int_equal(c->ncauses, 2);
    c = imb_runbook_cond(rb, "hot_kv");
    assert_non_null(c);
    assert_int_equal(rb->ncond, ncond + 1);
    assert_int_equal(c->role, IMB_ROLE_KV_USAGE);
    assert_true(imb_cond_param(c, "above") == 0.9);
    assert_int_equal(rb->nsources, 2);

    /* the new condition works: kv_usage 0.95 for 5 s */
    struct series_store *st = series_store_create();
    struct series_desc d = {
        "e", "vllm:kv_cache_usage_perc", NULL, 0, SERIES_GAUGE, 0};
    int64_t id = series_store_intern(st, &d);
    for (int k = 0; k < 20; k++)
        series_store_append(st, (uint32_t)id,
                            (1700000000LL + 2 * k) * 1000000000LL + 1,
                            k >= 5 && k < 10 ? 0.95 : 0.5);
    struct imb_engine *e = imb_engine_create(rb);
    size_t n;
    assert_true(imb_engine_update(e, st, NULL, INT64_MAX, err, sizeof err) >=
                0);
    const struct imb_finding *f = imb_engine_findings(e, &n);
    assert_int_equal(n, 1);
    assert_string_equal(f[0].cond->id, "hot_kv");
    assert_true(f[0].onset_ns == (1700000000LL + 10) * 1000000000LL);
    imb_engine_destroy(e);
    series_store_destroy(st);
    imb_runbook_destroy(rb);
}

/* Every kind of bad entry: the message names the file and the line, and
 * nothing of the file is kept. */
static void test_bad_entries(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"conditions:\n  - id: x\n   bad: [\n", "bad.yaml:3: YAML: "},
        {"version: 1\ncolour: red\n", "bad.yaml:2: unknown key \"colour\""},
        {"version: 2\n", "bad.yaml:1: version: this skewscope reads version 1"},
        {"conditions:\n  - id: tp_straggler\n    threshold: {z: 1}\n",
         "bad.yaml:3: conditions: unknown key \"threshold\""},
        {"conditions:\n  - id: tp_straggler\n    thresholds: [1, 2]\n",
         "bad.yaml:3: thresholds: expected a mapping, got a list"},
        {"conditions:\n  - id: tp_straggler\n    thresholds:\n      "
         "step_ratio: "
         "fast\n",
         "bad.yaml:4: step_ratio: expected a number, got \"fast\""},
        {"conditions:\n  - id: tp_straggler\n    thresholds:\n      speed: "
         "1\n",
         "bad.yaml:4: thresholds: detector tp_straggler has no key \"speed\""},
        {"conditions:\n  - id: tp_straggler\n    thresholds:\n"
         "      z: 1\n      step_ratio: 0.5\n",
         "bad.yaml:5: thresholds: step_ratio = 0.5 is outside [1, 100]"},
        {"conditions:\n  - id: x\n  - id: y\n    detector: magic\n",
         "bad.yaml:2: condition \"x\" is new: name its \"detector:\""},
        {"conditions:\n  - id: y\n    detector: magic\n",
         "bad.yaml:3: detector: unknown detector \"magic\""},
        {"conditions:\n  - id: y\n    detector: threshold\n",
         "bad.yaml:2: condition \"y\": detector threshold needs \"role:\""},
        {"conditions:\n  - id: kv_pressure\n  - id: kv_pressure\n",
         "bad.yaml:3: condition \"kv_pressure\" given twice"},
        {"conditions:\n  - title: no id\n",
         "bad.yaml:2: conditions entry: no \"id\""},
        {"conditions:\n  - id: kv_pressure\n    causes:\n      - {id: a}\n",
         "bad.yaml:4: cause: needs both \"id\" and \"text\""},
        {"conditions:\n  - id: kv_pressure\n    signals: [kv_usage, vibes]\n",
         "bad.yaml:3: signals: unknown role \"vibes\""},
        {"conditions:\n  - id: kv_pressure\n    enabled: maybe\n",
         "bad.yaml:3: enabled: expected true or false"},
        {"conditions:\n  - id: kv_pressure\n    exclude: [\"eth[0\"]\n",
         "bad.yaml:3: exclude: \"eth[0\" is not a valid glob"},
        {"signals:\n  - {match: \"x\", role: nope}\n",
         "bad.yaml:2: role: unknown role \"nope\""},
        {"signals:\n  - {match: \"x\"}\n",
         "bad.yaml:2: signals entry \"x\": no \"role\""},
        {"signals:\n  - {role: busy}\n", "bad.yaml:2: signals entry: no "
                                         "\"match\""},
        {"signals:\n  - match: \"[abc\"\n    role: busy\n",
         "bad.yaml:2: match: \"[abc\" is not a valid glob"},
        {"signals:\n  - {match: x, role: busy, type: sometimes}\n",
         "bad.yaml:2: type: expected auto, gauge, counter or histogram"},
        {"signals:\n  - {match: x, role: busy, scale: 0}\n",
         "bad.yaml:2: scale: must not be 0"},
        {"signals:\n  - {match: x, role: busy, colour: 1}\n",
         "bad.yaml:2: signals: unknown key \"colour\""},
        {"signals:\n  - {match: x, role: busy, match: y}\n",
         "bad.yaml:2: signals entry: key \"match\" given twice"},
        {"signals:\n  - {match: x, role: collective_lateness}\n",
         "bad.yaml:2: role: unknown role \"collective_lateness\""},
        {"defaults:\n  step_s: 0\n",
         "bad.yaml:2: step_s: 0 is outside [0.001, 3600]"},
        {"signals: {a: 1}\n", "bad.yaml:1: signals: expected a list"},
        {"- 1\n- 2\n", "bad.yaml:1: runbook: expected a mapping, got a list"},
    };
    char err[512];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct imb_runbook *rb = def();
        size_t nsig = rb->nsig, ncond = rb->ncond, nsrc = rb->nsources;
        int rc =
            imb_runbook_load_buffer(rb, "bad.yaml", cases[i].text,
                                    strlen(cases[i].text), err, sizeof err);

        if (rc != -IMB_E_RUNBOOK ||
            strncmp(err, cases[i].want, strlen(cases[i].want)))
            fail_msg("case %zu: rc %d, \"%s\" (want \"%s\")", i, rc, err,
                     cases[i].want);
        assert_int_equal(rb->nsig, nsig);
        assert_int_equal(rb->ncond, ncond);
        assert_int_equal(rb->nsources, nsrc);
        assert_true(imb_cond_param(imb_runbook_cond(rb, "tp_straggler"),
                                   "step_ratio") == 1.15);
        assert_true(imb_cond_param(imb_runbook_cond(rb, "tp_straggler"), "z") ==
                    3.5);
        imb_runbook_destroy(rb);
    }
}

static void test_files_and_set(void **state)
{
    struct imb_runbook *rb = def();
    char err[512], *p;

    (void)state;
    assert_int_equal(
        imb_runbook_load_file(rb, "/nonexistent/rb.yaml", err, sizeof err),
        -IMB_E_NOINPUT);
    p = testlib_write_temp_str("conditions:\n  - id: kv_pressure\n"
                               "    thresholds: {usage_high: 2}\n");
    assert_int_equal(imb_runbook_load_file(rb, p, err, sizeof err),
                     -IMB_E_RUNBOOK);
    assert_true(!strncmp(err, p, strlen(p)) &&
                !strncmp(err + strlen(p), ":3:", 3));
    unlink(p);
    free(p);
    /* an empty file changes nothing */
    assert_int_equal(imb_runbook_load_buffer(rb, "e", "", 0, err, sizeof err),
                     0);

    assert_int_equal(
        imb_runbook_set(rb, "kv_pressure.usage_high=0.9", err, sizeof err), 0);
    assert_true(imb_cond_param(imb_runbook_cond(rb, "kv_pressure"),
                               "usage_high") == 0.9);
    assert_int_equal(
        imb_runbook_set(rb, "kv_pressure.enabled=false", err, sizeof err), 0);
    assert_false(imb_runbook_cond(rb, "kv_pressure")->enabled);
    assert_int_equal(
        imb_runbook_set(rb, "defaults.step_s=0.5", err, sizeof err), 0);
    assert_true(rb->step_s == 0.5);
    assert_int_equal(
        imb_runbook_set(rb, "kv_pressure.usage_high=2", err, sizeof err),
        -IMB_E_INVAL);
    assert_int_equal(
        imb_runbook_set(rb, "kv_pressure.speed=2", err, sizeof err),
        -IMB_E_INVAL);
    assert_int_equal(imb_runbook_set(rb, "nope.z=2", err, sizeof err),
                     -IMB_E_INVAL);
    assert_int_equal(imb_runbook_set(rb, "kv_pressure", err, sizeof err),
                     -IMB_E_INVAL);
    imb_runbook_destroy(rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default),
        cmocka_unit_test(test_user_overrides),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_files_and_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
