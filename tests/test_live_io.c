/* test_live_io: the JSON export and import of the live statistics
 * (src/serve/live_io), with the simulator's traces:
 *   - export then import gives a struct live whose live_update snapshot
 *     equals the original's field by field, and whose export is the same
 *     text; also for an empty live and with non-UTF-8 names;
 *   - halves merged through JSON (live_merge_json) equal the whole;
 *   - importing with fewer windows trims like live_merge;
 *   - every kind of bad document is refused with its code and a message
 *     naming the place, and a refused merge leaves the target unchanged;
 *   - hostile values (huge slacks, windows far outside the epoch) are
 *     clamped or left out, and the analysis of the result still runs. */
#include "testlib.h"

#include "live_feed.h"

#include <jansson.h>
#include <math.h>

#include "analysis/edges.h"
#include "ingest/ingest.h"
#include "model/span_store.h"
#include "output/trace_writer.h"
#include "serve/live.h"
#include "serve/live_io.h"
#include "sim/sim.h"

/* ---- the simulator's traces, fed batch by batch (as test_live.c) */

/* Skewed and drifting clocks over synchronous (RPC) edges, so that both
 * minima and the de-trending times matter. */
static struct span_store *skewed_traces(void)
{
    struct sim_config cfg;

    sim_config_init(&cfg);
    cfg.requests = 200;
    cfg.transport = SIM_TRANSPORT_RPC;
    assert_int_equal(
        sim_config_parse_clock(&cfg, SIM_CLOCK_SKEW, "prefill=5ms", NULL, 0),
        0);
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_SKEW,
                                            "decode-1=-300us", NULL, 0),
                     0);
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_DRIFT,
                                            "tokenizer=20ppm", NULL, 0),
                     0);
    return live_simulate(&cfg);
}

static struct live *live_small_windows(void)
{
    struct live_opts o;

    live_opts_init(&o);
    o.window_s = 2;
    o.max_windows = 64;
    struct live *lv = live_create(&o);
    assert_non_null(lv);
    return lv;
}

/* ---- comparing */

static char *export(const struct live *lv)
{
    char *text;
    size_t len;

    assert_int_equal(live_export_json(lv, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static struct live *import(const char *text, const struct live_opts *opts)
{
    struct live *lv;
    char err[256] = "";

    if (live_import_json(text, strlen(text), opts, &lv, err, sizeof err) != 0)
        fail_msg("import: %s", err);
    assert_non_null(lv);
    return lv;
}

/* Snapshots of both equal; exports the same text. */
static void assert_round_trip(struct live *orig, struct live *back)
{
    struct live_snapshot a, b;
    char *ta = export(orig), *tb = export(back);

    assert_string_equal(ta, tb);
    assert_int_equal(live_update(orig, &a), 0);
    assert_int_equal(live_update(back, &b), 0);
    live_assert_same(&a, &b);
    live_snapshot_free(&a);
    live_snapshot_free(&b);
    free(ta);
    free(tb);
}

/* ---- tests */

static void test_round_trip(void **state)
{
    (void)state;
    struct span_store *s = skewed_traces();
    struct live *lv = live_small_windows();
    struct live_snapshot snap;

    live_feed(s, 3, &lv, 1, NULL, NULL);
    char *text = export(lv);
    struct live *back = import(text, NULL);
    assert_round_trip(lv, back);

    /* the data is not trivial: several windows, violations, drift */
    assert_int_equal(live_update(back, &snap), 0);
    print_message("%zu windows, %llu pairs\n", snap.nwindows,
                  (unsigned long long)snap.pairs_total);
    assert_true(snap.nwindows >= 3);
    assert_true(snap.pairs_total >= 800);
    bool violations = false, drift = false;
    for (size_t i = 0; i < snap.nedges; i++)
        violations |= snap.edges[i].violations_total > 0;
    for (size_t i = 0; i < snap.ndomains; i++)
        drift |= fabs(snap.domains[i].drift_ppm) > 5;
    assert_true(violations);
    assert_true(drift);
    live_snapshot_free(&snap);

    /* with the same options given explicitly */
    struct live_opts o;
    live_opts_init(&o);
    o.window_s = 2;
    o.max_windows = 64;
    struct live *again = import(text, &o);
    assert_round_trip(lv, again);

    live_destroy(again);
    live_destroy(back);
    free(text);
    live_destroy(lv);
    span_store_destroy(s);
}

static void test_empty_and_names(void **state)
{
    (void)state;
    struct live *lv = live_create(NULL);
    char *text = export(lv);
    struct live *back = import(text, NULL);

    assert_round_trip(lv, back);
    live_destroy(back);
    free(text);
    live_destroy(lv);

    /* a name that is not UTF-8 comes back with '?' for its high bytes, a
     * quote and a backslash survive */
    json_t *doc = json_loads(
        "{\"format\":\"skewscope.live\",\"version\":1,\"window_s\":10,"
        "\"max_windows\":30,\"pairs_total\":0,\"orphans_total\":0,"
        "\"late_pairs_total\":0,\"domains\":[\"a\\\"b\\\\c\"],\"classes\":[],"
        "\"groups\":[],\"windows\":[]}",
        0, NULL);
    assert_non_null(doc);
    char *src = json_dumps(doc, JSON_COMPACT);
    lv = import(src, NULL);
    text = export(lv);
    assert_non_null(strstr(text, "\"domains\":[\"a\\\"b\\\\c\"]"));
    free(text);
    live_destroy(lv);
    free(src);
    json_decref(doc);
}

static void test_merge_halves(void **state)
{
    (void)state;
    struct span_store *s = skewed_traces();
    struct live *whole = live_small_windows();
    struct live *half[2] = {live_small_windows(), live_small_windows()};
    struct live *sum = live_small_windows();
    struct live_snapshot a, b;
    char err[256];

    live_feed(s, 2, &whole, 1, NULL, NULL);
    live_feed(s, 2, half, 2, NULL, NULL);
    for (int k = 1; k >= 0; k--) {
        char *text = export(half[k]);
        assert_int_equal(
            live_merge_json(sum, text, strlen(text), err, sizeof err), 0);
        free(text);
    }
    assert_int_equal(live_update(whole, &a), 0);
    assert_int_equal(live_update(sum, &b), 0);
    assert_true(a.pairs_total > 0);
    live_assert_same(&a, &b);

    /* each half has part of the pairs */
    uint64_t whole_pairs = a.pairs_total;
    live_snapshot_free(&a);
    live_snapshot_free(&b);
    assert_int_equal(live_update(half[0], &a), 0);
    assert_int_equal(live_update(half[1], &b), 0);
    assert_true(a.pairs_total > 0 && b.pairs_total > 0);
    assert_int_equal(a.pairs_total + b.pairs_total, whole_pairs);
    live_snapshot_free(&a);
    live_snapshot_free(&b);

    live_destroy(whole);
    live_destroy(half[0]);
    live_destroy(half[1]);
    live_destroy(sum);
    span_store_destroy(s);
}

static void test_trim(void **state)
{
    (void)state;
    struct span_store *s = skewed_traces();
    struct live *lv = live_small_windows();
    struct live_opts o;
    struct live_snapshot a, b;

    live_feed(s, 3, &lv, 1, NULL, NULL);
    live_opts_init(&o);
    o.window_s = 2;
    o.max_windows = 2;
    /* live_merge into an empty live with 2 windows is the reference */
    struct live *ref = live_create(&o);
    assert_int_equal(live_merge(ref, lv), 0);
    char *text = export(lv);
    struct live *back = import(text, &o);
    assert_int_equal(live_update(ref, &a), 0);
    assert_int_equal(live_update(back, &b), 0);
    assert_int_equal(b.nwindows, 2);
    live_assert_same(&a, &b);
    live_snapshot_free(&a);
    live_snapshot_free(&b);
    live_destroy(back);
    live_destroy(ref);
    free(text);
    live_destroy(lv);
    span_store_destroy(s);
}

/* ---- bad documents */

/* A small valid document: two domains, one group, two windows. */
static json_t *small_doc(void)
{
    json_error_t je;
    json_t *doc = json_loads(
        "{\"format\":\"skewscope.live\",\"version\":1,\"window_s\":10,"
        "\"max_windows\":30,\"pairs_total\":3,\"orphans_total\":1,"
        "\"late_pairs_total\":0,\"domains\":[\"a\",\"b\"],"
        "\"classes\":[\"kafka/4/5\"],"
        "\"groups\":[{\"from\":0,\"to\":1,\"class\":0,\"sync\":false,"
        "\"pairs\":3,\"starts_before_parent\":1,\"ends_after_parent\":0,"
        "\"violations\":1}],"
        "\"windows\":[{\"index\":179000000,\"pairs\":2,"
        "\"sum_rel_ns\":3000000000,\"last_ns\":1790000002000000000,"
        "\"cells\":[{\"group\":0,\"count\":2,\"fwd_ns\":-1000,"
        "\"fwd_at_ns\":1790000001000000000,\"back_ns\":500,"
        "\"back_at_ns\":1790000002000000000}]},"
        "{\"index\":179000001,\"pairs\":1,\"sum_rel_ns\":0,"
        "\"last_ns\":1790000010000000000,"
        "\"cells\":[{\"group\":0,\"count\":1,\"fwd_ns\":2000,"
        "\"fwd_at_ns\":1790000010000000000,\"back_ns\":700,"
        "\"back_at_ns\":1790000010000000000}]}]}",
        0, &je);
    if (!doc)
        fail_msg("small_doc: %s", je.text);
    return doc;
}

/* Import doc (with opts) expecting code and a message containing want. */
static void expect_refused(json_t *doc, const struct live_opts *opts, int code,
                           const char *want)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    char err[256] = "";
    struct live *lv = (struct live *)&err; /* must be set to NULL */

    assert_non_null(text);
    int rc = live_import_json(text, strlen(text), opts, &lv, err, sizeof err);
    if (rc != code || !strstr(err, want))
        fail_msg("import of %s: %d \"%s\", expected %d with \"%s\"", text, rc,
                 err, code, want);
    assert_null(lv);
    free(text);
    json_decref(doc);
}

static json_t *with(json_t *doc, const char *path, json_t *v)
{
    /* path: "key" or "windows.N.key" or "windows.N.cells.M.key" or
     * "groups.N.key" */
    char buf[128], *save, *tok, *next;
    json_t *at = doc;

    snprintf(buf, sizeof buf, "%s", path);
    tok = strtok_r(buf, ".", &save);
    while ((next = strtok_r(NULL, ".", &save))) {
        at = json_is_array(at) ? json_array_get(at, strtoul(tok, NULL, 10))
                               : json_object_get(at, tok);
        assert_non_null(at);
        tok = next;
    }
    if (v)
        assert_int_equal(json_object_set_new(at, tok, v), 0);
    else
        assert_int_equal(json_object_del(at, tok), 0);
    return doc;
}

static void test_small_doc_valid(void **state)
{
    (void)state;
    json_t *doc = small_doc();
    char *text = json_dumps(doc, JSON_COMPACT);
    struct live *lv = import(text, NULL);
    struct live_snapshot snap;

    assert_int_equal(live_update(lv, &snap), 0);
    assert_int_equal(snap.pairs_total, 3);
    assert_int_equal(snap.orphans_total, 1);
    assert_int_equal(snap.nwindows, 2);
    assert_int_equal(snap.nedges, 1);
    assert_int_equal(snap.edges[0].violations_total, 1);
    assert_int_equal(snap.at_ns, 1790000010000000000LL);
    /* one-way edge: b's offset is bounded above by the smallest slack,
     * against a (the anchor: its interval is a point on the consensus
     * scale) */
    assert_string_equal(snap.domains[1].name, "b");
    assert_true(snap.domains[1].has_upper);
    assert_string_equal(snap.anchor, "a");
    assert_int_equal(snap.domains[0].lower_ns, snap.domains[0].upper_ns);
    assert_int_equal(snap.domains[1].upper_ns - snap.domains[0].upper_ns,
                     -1000);
    live_snapshot_free(&snap);
    live_destroy(lv);
    free(text);
    json_decref(doc);
}

static void test_refused(void **state)
{
    (void)state;
    struct live_opts o;

    expect_refused(json_array(), NULL, LIVE_IO_EDOC, "not a JSON object");
    {
        char err[256];
        struct live *lv;
        assert_int_equal(
            live_import_json("{\"format\":", 11, NULL, &lv, err, sizeof err),
            LIVE_IO_EDOC);
        assert_non_null(strstr(err, "not JSON"));
        assert_null(lv);
    }
    expect_refused(with(small_doc(), "format", json_string("other")), NULL,
                   LIVE_IO_EDOC, "not a skewscope live statistics document");
    expect_refused(with(small_doc(), "version", json_integer(2)), NULL,
                   LIVE_IO_EVERSION, "schema version 2");
    expect_refused(with(small_doc(), "version", NULL), NULL, LIVE_IO_EDOC,
                   "\"version\" is missing");
    live_opts_init(&o);
    o.window_s = 5;
    expect_refused(small_doc(), &o, LIVE_IO_EWINDOW,
                   "window_s is 10 s in the document, 5 s expected");
    expect_refused(with(small_doc(), "window_s", json_real(0)), NULL,
                   LIVE_IO_EDOC, "\"window_s\"");
    expect_refused(with(small_doc(), "max_windows", json_integer(5000)), NULL,
                   LIVE_IO_EDOC, "\"max_windows\"");
    expect_refused(with(small_doc(), "domains", json_integer(1)), NULL,
                   LIVE_IO_EDOC, "\"domains\" is missing or not an array");
    expect_refused(with(small_doc(), "groups.0.to", json_integer(2)), NULL,
                   LIVE_IO_EDOC,
                   "groups[0]: \"to\" is missing or not an "
                   "integer in [0, 1]");
    expect_refused(with(small_doc(), "groups.0.sync", json_integer(1)), NULL,
                   LIVE_IO_EDOC, "groups[0]: \"sync\"");
    expect_refused(with(small_doc(), "groups.0.violations", json_integer(4)),
                   NULL, LIVE_IO_EDOC, "more violations than pairs");
    expect_refused(with(small_doc(), "groups.0.pairs", json_integer(-1)), NULL,
                   LIVE_IO_EDOC, "groups[0]: \"pairs\"");
    expect_refused(with(small_doc(), "pairs_total", json_integer(4)), NULL,
                   LIVE_IO_EDOC, "\"pairs_total\" is 4, the groups count 3");
    expect_refused(
        with(small_doc(), "windows.1.index", json_integer(179000000)), NULL,
        LIVE_IO_EDOC, "windows[1]: \"index\"");
    expect_refused(
        with(small_doc(), "windows.1.index", json_integer(179004096)), NULL,
        LIVE_IO_EDOC, "not ascending or 4096 or more");
    expect_refused(with(small_doc(), "windows.0.pairs", json_integer(3)), NULL,
                   LIVE_IO_EDOC,
                   "windows[0]: \"pairs\" is 3, its cells "
                   "count 2");
    expect_refused(with(small_doc(), "windows.0.last_ns",
                        json_integer(1790000010000000000LL)),
                   NULL, LIVE_IO_EDOC, "windows[0]: \"last_ns\"");
    expect_refused(
        with(small_doc(), "windows.0.sum_rel_ns", json_integer(20000000000LL)),
        NULL, LIVE_IO_EDOC, "windows[0]: \"sum_rel_ns\"");
    expect_refused(
        with(small_doc(), "windows.0.cells.0.group", json_integer(1)), NULL,
        LIVE_IO_EDOC, "windows[0].cells[0]: \"group\"");
    expect_refused(with(small_doc(), "windows.1.cells.0.fwd_at_ns",
                        json_integer(1790000000000000000LL)),
                   NULL, LIVE_IO_EDOC, "windows[1].cells[0]: \"fwd_at_ns\"");
    expect_refused(
        with(small_doc(), "windows.1.cells.0.count", json_integer(0)), NULL,
        LIVE_IO_EDOC, "windows[1].cells[0]: \"count\"");
    /* the consumer-wait counts (optional) stay within the cell's count */
    expect_refused(
        with(small_doc(), "windows.0.cells.0.queued", json_integer(3)), NULL,
        LIVE_IO_EDOC, "windows[0].cells[0]: \"queued\"");
    expect_refused(
        with(with(small_doc(), "windows.0.cells.0.queued", json_integer(1)),
             "windows.0.cells.0.idle", json_integer(2)),
        NULL, LIVE_IO_EDOC, "windows[0].cells[0]: \"idle\"");
    expect_refused(with(small_doc(), "windows.0.cells.0.idle", json_integer(1)),
                   NULL, LIVE_IO_EDOC, "windows[0].cells[0]: \"idle_fwd_ns\"");
    /* the windows may not count more pairs of a group than it has */
    json_t *doc = with(small_doc(), "groups.0.pairs", json_integer(2));
    with(doc, "groups.0.violations", json_integer(0));
    with(doc, "groups.0.starts_before_parent", json_integer(0));
    expect_refused(with(doc, "pairs_total", json_integer(2)), NULL,
                   LIVE_IO_EDOC, "more pairs of group 0 than the group has");
}

/* A refused merge leaves dst as it was. */
static void test_merge_refused_unchanged(void **state)
{
    (void)state;
    json_t *doc = small_doc();
    char *good = json_dumps(doc, JSON_COMPACT), err[256];
    struct live *dst = live_create(NULL);

    assert_int_equal(live_merge_json(dst, good, strlen(good), err, sizeof err),
                     0);
    char *before = export(dst);
    with(doc, "windows.1.cells.0.count", json_integer(5));
    char *bad = json_dumps(doc, JSON_COMPACT);
    assert_int_equal(live_merge_json(dst, bad, strlen(bad), err, sizeof err),
                     LIVE_IO_EDOC);
    char *after = export(dst);
    assert_string_equal(before, after);
    /* the same document merged twice: counts double */
    assert_int_equal(live_merge_json(dst, good, strlen(good), err, sizeof err),
                     0);
    struct live_snapshot snap;
    assert_int_equal(live_update(dst, &snap), 0);
    assert_int_equal(snap.pairs_total, 6);
    assert_int_equal(snap.edges[0].violations_total, 2);
    live_snapshot_free(&snap);

    /* a window whose sums would overflow is refused, dst unchanged */
    json_t *big = small_doc();
    with(big, "windows.0.pairs", json_integer(1LL << 40));
    with(big, "windows.0.cells.0.count", json_integer(1LL << 40));
    with(big, "windows.0.sum_rel_ns", json_integer(INT64_MAX - 5));
    with(big, "groups.0.pairs", json_integer((1LL << 40) + 1));
    with(big, "pairs_total", json_integer((1LL << 40) + 1));
    char *btext = json_dumps(big, JSON_COMPACT);
    struct live *dst2 = live_create(NULL);
    assert_int_equal(
        live_merge_json(dst2, btext, strlen(btext), err, sizeof err), 0);
    free(after);
    after = export(dst2);
    assert_int_equal(
        live_merge_json(dst2, btext, strlen(btext), err, sizeof err),
        LIVE_IO_EDOC);
    assert_non_null(strstr(err, "too many pairs"));
    char *after2 = export(dst2);
    assert_string_equal(after, after2);
    live_destroy(dst2);

    free(after2);
    free(btext);
    json_decref(big);
    free(before);
    free(after);
    free(bad);
    free(good);
    live_destroy(dst);
    json_decref(doc);
}

/* Hostile values: slacks clamped to +-2^50; windows beyond +-2^62 ns
 * left out and counted late; the analysis of the result still runs. */
static void test_hostile_values(void **state)
{
    (void)state;
    json_t *doc = small_doc();
    struct live_snapshot snap;

    with(doc, "windows.0.cells.0.fwd_ns", json_integer(INT64_MIN));
    with(doc, "windows.0.cells.0.back_ns", json_integer(INT64_MAX));
    char *text = json_dumps(doc, JSON_COMPACT);
    struct live *lv = import(text, NULL);
    char *out = export(lv);
    assert_non_null(strstr(out, "\"fwd_ns\":-1125899906842624,"));
    assert_non_null(strstr(out, "\"back_ns\":1125899906842624,"));
    assert_int_equal(live_update(lv, &snap), 0);
    assert_int_equal(snap.nwindows, 2);
    live_snapshot_free(&snap);
    live_destroy(lv);
    free(out);
    free(text);

    /* one window, at the far end of int64 time, then at the near end */
    static const int64_t far[] = {INT64_MAX / 10000000000LL,
                                  INT64_MIN / 10000000000LL};
    for (size_t k = 0; k < 2; k++) {
        json_t *d = small_doc();
        json_array_remove(json_object_get(d, "windows"), 1);
        with(d, "windows.0.index", json_integer(far[k]));
        text = json_dumps(d, JSON_COMPACT);
        lv = import(text, NULL);
        assert_int_equal(live_update(lv, &snap), 0);
        assert_int_equal(snap.nwindows, 0);
        assert_int_equal(snap.late_pairs_total, 2);
        assert_int_equal(snap.pairs_total, 3);
        live_snapshot_free(&snap);
        live_destroy(lv);
        free(text);
        json_decref(d);
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_and_names),
        cmocka_unit_test(test_merge_halves),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_small_doc_valid),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_merge_refused_unchanged),
        cmocka_unit_test(test_hostile_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
