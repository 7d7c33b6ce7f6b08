/* test_util: the helpers that each replaced several copies, held to the
 * behaviour of the copies they replaced: JSON string escaping
 * (util/json_esc), the ppm parser (util/units), the OTLP traces URL
 * (util/http_client), the wall-time format of log lines (util/clock), and
 * the violation test of an edge pair (analysis/causality), and the skew
 * budget moved out of serve/live (analysis/skew_budget), and the
 * listening socket of every server (util/net_listen), and serve's
 * structured log line, now util/log's log_event(). */
#include "testlib.h"

#include <math.h>
#include <unistd.h>

#include "analysis/causality.h"
#include "analysis/skew_budget.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/json_esc.h"
#include "util/log.h"
#include "util/net_listen.h"
#include "util/units.h"

static void test_json_esc(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(json_esc_copy(out, sizeof out, "plain", false), 5);
    assert_string_equal(out, "plain");
    json_esc_copy(out, sizeof out, "a\"b\\c\nd\te\rf\001g", false);
    assert_string_equal(out, "a\\\"b\\\\c\\nd\\te\\rf\\u0001g");
    json_esc_copy(out, sizeof out, "caf\xc3\xa9", false);
    assert_string_equal(out, "caf\xc3\xa9");
    json_esc_copy(out, sizeof out, "caf\xc3\xa9", true);
    assert_string_equal(out, "caf??");
    json_esc_copy(out, sizeof out, NULL, false);
    assert_string_equal(out, "");
    /* an escape that does not fit is left out whole */
    assert_int_equal(json_esc_copy(out, 6, "abc\001", false), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(json_esc_copy(out, 6, "abcd\"", false), 4);
    assert_string_equal(out, "abcd");
}

static void test_ppm(void **state)
{
    double v = 7;

    (void)state;
    assert_int_equal(units_parse_ppm("40ppm", 1e6, &v), 0);
    assert_true(v == 40.0);
    assert_int_equal(units_parse_ppm("-2.5", 1e6, &v), 0);
    assert_true(v == -2.5);
    v = 7;
    assert_int_equal(units_parse_ppm("40ms", 1e6, &v), -1);
    assert_int_equal(units_parse_ppm("", 1e6, &v), -1);
    assert_int_equal(units_parse_ppm("ppm", 1e6, &v), -1);
    assert_int_equal(units_parse_ppm("inf", 1e6, &v), -1);
    assert_int_equal(units_parse_ppm("nanppm", 1e6, &v), -1);
    assert_int_equal(units_parse_ppm("1e400", 1e6, &v), -1);
    assert_int_equal(units_parse_ppm("200001ppm", 200000, &v), -1);
    assert_true(v == 7.0); /* left alone on error */
    assert_int_equal(units_parse_ppm("-200000ppm", 200000, &v), 0);
    assert_true(v == -200000.0);
}

static void expect_url(const char *endpoint, const char *want)
{
    char err[256] = "";
    char *url = http_client_traces_url(endpoint, err, sizeof err);

    if (!want) {
        assert_null(url);
        assert_non_null(strstr(err, "not a URL"));
        return;
    }
    assert_non_null(url);
    assert_string_equal(url, want);
    free(url);
}

static void test_traces_url(void **state)
{
    char err[128];

    (void)state;
    expect_url("http://h:4318", "http://h:4318/v1/traces");
    expect_url("http://h:4318/", "http://h:4318/v1/traces");
    expect_url("http://h:4318/v1/traces", "http://h:4318/v1/traces");
    expect_url("https://h/custom", "https://h/custom");
    expect_url("http://h:4318?x=1", "http://h:4318?x=1");
    expect_url("h:4318", NULL);
    expect_url("://h", NULL);
    expect_url("http://", NULL);
    assert_int_equal(http_client_init(err, sizeof err), 0);
    assert_int_equal(http_client_init(err, sizeof err), 0); /* once */
}

static void test_clock_format(void **state)
{
    char buf[40];

    (void)state;
    /* 2026-03-02T10:00:01.250000Z */
    clock_format_utc(1772445601250000000LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-03-02T10:00:01.250000Z");
    clock_format_utc(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
    clock_format_utc(-1000, buf, sizeof buf); /* 1 us before the epoch */
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
}

static void test_violation(void **state)
{
    (void)state;
    assert_int_equal(causality_violation(0, 0, true), 0);
    assert_int_equal(causality_violation(-1, 0, false),
                     CAUSALITY_STARTS_BEFORE);
    assert_int_equal(causality_violation(5, -1, false), 0);
    assert_int_equal(causality_violation(5, -1, true), CAUSALITY_ENDS_AFTER);
    assert_int_equal(causality_violation(-5, -1, true),
                     CAUSALITY_STARTS_BEFORE | CAUSALITY_ENDS_AFTER);
}

static void test_skew_budget(void **state)
{
    struct skew_budget_side fwd = {0}, back = {0}, none = {0};
    struct skew_budget b = {0};

    (void)state;
    skew_budget_side_note(&fwd, 3000);
    skew_budget_side_note(&fwd, 1000); /* the minimum wins */
    skew_budget_side_note(&fwd, 2000);
    assert_true(fwd.has);
    assert_int_equal(fwd.budget_ns, 1000);
    skew_budget_side_note(&back, 4000);
    /* r = -500 ns uses half the forward side; closing at 100 ns/s
     * (r falling) exhausts it in 5 s */
    skew_budget_use(&b, &none, -1, -500, -100);
    assert_false(b.has);
    skew_budget_use(&b, &fwd, -1, -500, -100);
    skew_budget_use(&b, &back, +1, -500, -100);
    assert_true(b.has);
    assert_int_equal(b.budget_ns, 1000);
    assert_true(fabs(b.used_ratio - 0.5) < 1e-12);
    assert_true(b.exhausts);
    assert_true(fabs(b.exhaust_in_s - 5.0) < 1e-9);
    /* moving away: never */
    b = (struct skew_budget){0};
    skew_budget_use(&b, &fwd, -1, -500, +100);
    assert_false(b.exhausts);
    /* past the budget: exhausted now, whatever the drift */
    b = (struct skew_budget){0};
    skew_budget_use(&b, &fwd, -1, -1500, +100);
    assert_true(b.exhausts);
    assert_true(b.exhaust_in_s == 0);
    assert_true(b.used_ratio > 1.0);
}

static void test_net_listen(void **state)
{
    char err[256];
    int fd;

    (void)state;
    assert_int_equal(
        net_listen_tcp("listen", "nowhere", 8, false, err, sizeof err), -1);
    assert_string_equal(err, "listen nowhere: expected HOST:PORT");
    assert_int_equal(net_listen_tcp("listen-grpc", "127.0.0.1:70000", 8, false,
                                    err, sizeof err),
                     -1);
    assert_string_equal(err, "listen-grpc 127.0.0.1:70000: port must be "
                             "0-65535");
    assert_int_equal(
        net_listen_tcp("listen", "127.0.0.1:x1", 8, false, err, sizeof err),
        -1);
    fd = net_listen_tcp("listen", "127.0.0.1:0", 8, true, err, sizeof err);
    assert_true(fd >= 0);
    assert_true(net_listen_port(fd) > 0);
    close(fd);
    fd = net_listen_tcp("listen", "[::1]:0", 8, false, err, sizeof err);
    if (fd >= 0) { /* hosts without IPv6 refuse it */
        assert_true(net_listen_port(fd) > 0);
        close(fd);
    }
}

static void test_log_event(void **state)
{
    char line[256], esc[64];
    FILE *f = tmpfile();
    int saved = dup(2);

    (void)state;
    assert_non_null(f);
    fflush(stderr);
    assert_true(dup2(fileno(f), 2) >= 0);
    json_esc_copy(esc, sizeof esc, "a\"b", false);
    log_event("warn", "peer_down", "\"url\":\"%s\"", esc);
    log_event("info", "stopped", "%s", "");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    assert_non_null(fgets(line, sizeof line, f));
    /* {"ts":"YYYY-MM-DDTHH:MM:SS.uuuuuuZ",...} */
    assert_int_equal(strncmp(line, "{\"ts\":\"", 7), 0);
    assert_int_equal(line[7 + 26], 'Z');
    assert_string_equal(line + 7 + 27, "\",\"level\":\"warn\",\"event\":"
                                       "\"peer_down\",\"url\":\"a\\\"b\"}\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line + 7 + 27,
                        "\",\"level\":\"info\",\"event\":\"stopped\"}\n");
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_esc),   cmocka_unit_test(test_ppm),
        cmocka_unit_test(test_traces_url), cmocka_unit_test(test_clock_format),
        cmocka_unit_test(test_violation),  cmocka_unit_test(test_skew_budget),
        cmocka_unit_test(test_net_listen), cmocka_unit_test(test_log_event),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
