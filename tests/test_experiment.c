/* Tests of the experiments (testbed/experiment.h) end to end: short skew
 * sweeps on the real pipeline (ZeroMQ, one Kafka point) and a short drift
 * run, with known injected clock errors, checking what the paper found
 * (no violations below the hop latency, violations above it, output
 * unchanged) and that the recovered offsets and drift are close to the
 * injected ones; plus the onset logic and the CSV/SVG writers. After every
 * run no child process may remain. */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>

#include "testbed/experiment.h"

#define MS 1000000LL
#define OFFSET_TOLERANCE_NS 100000 /* the core issue's bar (one-way hops) */
#define TRACK_TOLERANCE_NS 200000  /* a drift window has fewer pairs */

static char *make_dir(void)
{
    char *dir = strdup("/tmp/skewscope-exp-XXXXXX");

    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
    free(dir);
}

static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void small_pipeline(struct experiment_pipeline *p, const char *dir)
{
    p->hop_delay_ns = 4 * MS;
    p->max_new = 8;
    p->timeout_ms = 30000;
    p->out_dir = dir;
}

/* The writer's output as a string (free it). */
static char *render(int (*fn)(FILE *, const void *), const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    assert_int_equal(fn(f, arg), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static int sweep_csv(FILE *f, const void *s)
{
    return experiment_sweep_csv(f, s);
}

static int sweep_svg(FILE *f, const void *s)
{
    return experiment_sweep_svg(f, s);
}

static int drift_csv(FILE *f, const void *d)
{
    return experiment_drift_csv(f, d);
}

static int drift_svg(FILE *f, const void *d)
{
    return experiment_drift_svg(f, d);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void assert_svg(const char *svg, size_t polylines)
{
    size_t len = strlen(svg);

    assert_true(strncmp(svg, "<svg ", 5) == 0);
    assert_true(len > 8 && strcmp(svg + len - 7, "</svg>\n") == 0);
    assert_int_equal(count(svg, "<polyline"), polylines);
    assert_int_equal(count(svg, "<text"), count(svg, "</text>"));
}

/* Header, then one line per row, each starting with `prefix`. */
static void assert_csv(const char *csv, const char *header, size_t rows,
                       const char *prefix)
{
    size_t hl = strlen(header);

    assert_true(strncmp(csv, header, hl) == 0 && csv[hl] == '\n');
    assert_int_equal(count(csv, "\n"), rows + 1);
    size_t fields = count(header, ",");
    for (const char *line = strchr(csv, '\n') + 1; *line;
         line = strchr(line, '\n') + 1) {
        assert_true(strncmp(line, prefix, strlen(prefix)) == 0);
        size_t commas = 0;
        for (const char *c = line; *c != '\n'; c++)
            commas += *c == ',';
        assert_int_equal(commas, fields);
    }
}

static void assert_point(const struct experiment_row *r, bool violations)
{
    assert_int_equal(r->res.requests, 10);
    assert_true(r->res.identical);
    assert_true(r->pairs > 0);
    if (violations) {
        assert_true(r->violating_pairs > 0);
        assert_true(r->stage_violations > 0);
    } else {
        assert_int_equal(r->violating_pairs, 0);
    }
    assert_true(r->has_offset);
    if (llabs(r->offset_ns - r->skew_ns) > OFFSET_TOLERANCE_NS)
        fail_msg("%s skew %lld ns: estimated %lld ns", r->transport,
                 (long long)r->skew_ns, (long long)r->offset_ns);
}

/* Hops take about 4 ms: 0 and 2 ms show nothing, 6 ms shows violations. */
static void test_sweep_zmq(void **state)
{
    struct experiment_sweep_config c;
    struct experiment_sweep s;
    struct experiment_onset o;
    char err[1024] = "";
    char *dir = make_dir();

    (void)state;
    experiment_sweep_config_init(&c);
    small_pipeline(&c.p, dir);
    c.transports[0] = "zmq";
    c.ntransports = 1;
    c.skews_ns[0] = 0;
    c.skews_ns[1] = 2 * MS;
    c.skews_ns[2] = 6 * MS;
    c.nskews = 3;
    c.requests = 10;
    if (experiment_sweep_run(&c, &s, err, sizeof err) != 0)
        fail_msg("sweep: %s", err);
    assert_no_children();
    assert_int_equal(s.nrows, 3);
    assert_point(&s.rows[0], false);
    assert_point(&s.rows[1], false);
    assert_point(&s.rows[2], true);
    assert_true(s.rows[0].min_slack_ns > 3 * MS);
    assert_true(s.rows[2].min_slack_ns < 0);
    experiment_sweep_onset(&s, "zmq", PIPELINE_HOPS_ONEWAY, &o);
    assert_true(o.found && o.has_budget);
    assert_int_equal(o.below_ns, 2 * MS);
    assert_int_equal(o.above_ns, 6 * MS);
    assert_true(o.budget_ns > 2 * MS && o.budget_ns < 6 * MS);
    char *csv = render(sweep_csv, &s);
    assert_csv(csv, EXPERIMENT_SWEEP_CSV_HEADER, 3, "zmq,oneway,");
    char *svg = render(sweep_svg, &s);
    assert_svg(svg, 1);
    free(csv);
    free(svg);
    experiment_sweep_free(&s);
    remove_dir(dir);
}

/* RPC hops: round-trip edges, no violation at skew 0, and the offset
 * within 2 ms, which is stricter than the bar of half the smallest
 * round-trip slack (two hop delays of 4 ms each way). */
static void test_sweep_rpc(void **state)
{
    struct experiment_sweep_config c;
    struct experiment_sweep s;
    char err[1024] = "";
    char *dir = make_dir();

    (void)state;
    experiment_sweep_config_init(&c);
    small_pipeline(&c.p, dir);
    c.transports[0] = "zmq";
    c.ntransports = 1;
    c.hops[0] = PIPELINE_HOPS_RPC;
    c.nskews = 1;
    c.skews_ns[0] = 0;
    c.requests = 10;
    if (experiment_sweep_run(&c, &s, err, sizeof err) != 0)
        fail_msg("sweep: %s", err);
    assert_no_children();
    assert_int_equal(s.nrows, 1);
    char *csv = render(sweep_csv, &s);
    char *svg = render(sweep_svg, &s);
    const struct experiment_row *r = &s.rows[0];
    print_message("RPC hops: offset at skew 0 estimated %lld ns\n",
                  (long long)r->offset_ns);
    assert_true(r->res.identical && r->pairs > 0);
    assert_int_equal(r->violating_pairs, 0);
    assert_true(r->has_offset && llabs(r->offset_ns) < 2 * MS);
    assert_svg(svg, 1);
    assert_csv(csv, EXPERIMENT_SWEEP_CSV_HEADER, 1, "zmq,rpc,");
    free(csv);
    free(svg);
    experiment_sweep_free(&s);
    remove_dir(dir);
}

/* One Kafka point (embedded mock; the consumer-group join costs ~3 s). */
/* The same assertions over Kafka (the embedded mock broker): no violation
 * at 0, violations above the hop latency, output identical, offsets. */
static void test_sweep_kafka(void **state)
{
    struct experiment_sweep_config c;
    struct experiment_sweep s;
    char err[1024] = "";
    char *dir = make_dir();

    (void)state;
    experiment_sweep_config_init(&c);
    small_pipeline(&c.p, dir);
    c.transports[0] = "kafka";
    c.ntransports = 1;
    c.nskews = 2;
    c.skews_ns[0] = 0;
    c.skews_ns[1] = 6 * MS;
    c.requests = 10;
    if (experiment_sweep_run(&c, &s, err, sizeof err) != 0)
        fail_msg("sweep: %s", err);
    assert_no_children();
    assert_int_equal(s.nrows, 2);
    assert_point(&s.rows[0], false);
    assert_point(&s.rows[1], true);
    experiment_sweep_free(&s);
    remove_dir(dir);
}

static void test_sweep_bad_config(void **state)
{
    struct experiment_sweep_config c;
    struct experiment_sweep s;
    char err[1024] = "";
    char *dir = make_dir();

    (void)state;
    experiment_sweep_config_init(&c);
    small_pipeline(&c.p, dir);
    c.nskews = 0;
    assert_int_equal(experiment_sweep_run(&c, &s, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "skews"));
    experiment_sweep_free(&s);
    c.nskews = 1;
    c.ntransports = 1;
    c.requests = 2;
    snprintf(c.stage, sizeof c.stage, "nosuch");
    assert_int_equal(experiment_sweep_run(&c, &s, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "nosuch"));
    experiment_sweep_free(&s);
    assert_no_children();
    remove_dir(dir);
}

static struct experiment_row row(const char *t, int64_t skew_ms, size_t viol,
                                 int64_t slack_ns)
{
    struct experiment_row r = {.transport = t,
                               .skew_ns = skew_ms * MS,
                               .violating_pairs = viol,
                               .has_min_slack = true,
                               .min_slack_ns = slack_ns};
    return r;
}

/* The onset from rows in any order; series kept apart. */
static void test_onset_logic(void **state)
{
    struct experiment_row rows[] = {
        row("zmq", 10, 50, -6 * MS), row("zmq", 0, 0, 4 * MS),
        row("zmq", 5, 40, -1 * MS),  row("zmq", 3, 0, 1 * MS),
        row("kafka", 0, 0, 5 * MS),  row("kafka", 3, 0, 2 * MS),
    };
    struct experiment_sweep s = {.rows = rows, .nrows = 6};
    struct experiment_onset o;

    (void)state;
    experiment_sweep_onset(&s, "zmq", PIPELINE_HOPS_ONEWAY, &o);
    assert_true(o.found && o.has_budget);
    assert_int_equal(o.below_ns, 3 * MS);
    assert_int_equal(o.above_ns, 5 * MS);
    assert_int_equal(o.budget_ns, 4 * MS);
    experiment_sweep_onset(&s, "kafka", PIPELINE_HOPS_ONEWAY, &o);
    assert_false(o.found);
    assert_int_equal(o.max_clean_ns, 3 * MS);
    assert_int_equal(o.budget_ns, 5 * MS);
    experiment_sweep_onset(&s, "zmq", PIPELINE_HOPS_RPC, &o);
    assert_false(o.found || o.has_budget);
}

/* 200 ppm over ~3 s at prefill: the tracked offset follows the injected
 * one and the fitted drift has the right sign and size. */
static void test_drift_short(void **state)
{
    struct experiment_drift_config c;
    struct experiment_drift d;
    char err[1024] = "";
    char *dir = make_dir();
    size_t known = 0;

    (void)state;
    experiment_drift_config_init(&c);
    small_pipeline(&c.p, dir);
    c.skew_ns = 1 * MS;
    c.drift_ppm = 200;
    c.requests = 100;
    c.windows = 6;
    if (experiment_drift_run(&c, &d, err, sizeof err) != 0)
        fail_msg("drift: %s", err);
    assert_no_children();
    assert_true(d.res.identical);
    assert_int_equal(d.nwindows, 6);
    assert_int_equal(d.violating_pairs, 0); /* 1 ms + 0.6 ms < 4 ms hops */
    for (size_t w = 0; w < d.nwindows; w++) {
        const struct experiment_window *x = &d.windows[w];
        if (!x->known)
            continue;
        known++;
        if (llabs(x->offset_ns - x->injected_ns) > TRACK_TOLERANCE_NS)
            fail_msg("window %zu: tracked %lld ns, injected %lld ns", w,
                     (long long)x->offset_ns, (long long)x->injected_ns);
    }
    assert_true(known >= 4);
    if (d.drift_ppm_estimated < 100 || d.drift_ppm_estimated > 300)
        fail_msg("drift estimated %.1f ppm, injected 200",
                 d.drift_ppm_estimated);
    char *csv = render(drift_csv, &d);
    assert_csv(csv, EXPERIMENT_DRIFT_CSV_HEADER, 6, "");
    char *svg = render(drift_svg, &d);
    assert_svg(svg, 2 + (known ? 1 : 0));
    free(csv);
    free(svg);
    experiment_drift_free(&d);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onset_logic),
        cmocka_unit_test(test_sweep_bad_config),
        cmocka_unit_test(test_sweep_zmq),
        cmocka_unit_test(test_sweep_rpc),
        cmocka_unit_test(test_drift_short),
        cmocka_unit_test(test_sweep_kafka),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
