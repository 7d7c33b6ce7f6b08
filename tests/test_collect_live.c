/* test_collect_live: the `skewscope collect` binary ($SKEWSCOPE, default
 * build/skewscope) on this machine, whatever sources it has: a 2 s
 * recording at 10 ms read back into a store; --listen answered over HTTP
 * by libcurl, the page checked by promtool when it is installed; SIGTERM
 * and SIGINT stop it with exit 0 and a complete, readable recording. */
#define _GNU_SOURCE
#include "testlib.h"

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "ingest/collect_rec.h"
#include "model/series.h"
#include "promtool.h"

static const char *bin(void)
{
    const char *s = getenv("SKEWSCOPE");

    return s && *s ? s : "build/skewscope";
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static pid_t child; /* killed by the teardown if a test fails */

static int reap_child(void **state)
{
    (void)state;
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    child = 0;
    return 0;
}

/* Start the binary with args; its stdout on *out_fd (a pipe). */
static pid_t spawn(char *const argv[], int *out_fd)
{
    int p[2];
    pid_t pid;

    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    child = pid;
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;

    assert_int_equal(waitpid(pid, &st, 0), pid);
    child = 0;
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static struct series_store *read_back(const char *path)
{
    struct series_store *s = series_store_create();
    char err[256];
    int64_t n = collect_rec_read(s, path, err, sizeof err);

    if (n <= 0)
        fail_msg("read %s: %lld: %s", path, (long long)n, err);
    return s;
}

/* The recording's last byte ends a line: nothing torn at the stop. */
static void assert_complete(const char *path)
{
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    assert_int_equal(fseek(f, -1, SEEK_END), 0);
    assert_int_equal(fgetc(f), '\n');
    fclose(f);
}

static void test_record_two_seconds(void **state)
{
    char *dir = testlib_temp_dir("collect-live");
    char out[512];
    char *argv[] = {(char *)bin(), "collect",    "--interval",
                    "10ms",        "--duration", "2s",
                    "--out",       out,          NULL};
    struct series_store *s;
    struct series_label l = {"source", "cpu"};
    uint32_t ids[512];
    int64_t t0, t1;
    size_t n;
    int fd;
    pid_t pid;

    (void)state;
    snprintf(out, sizeof out, "%s/rec.csv", dir);
    t0 = now_ns();
    pid = spawn(argv, &fd);
    assert_int_equal(wait_exit(pid), 0);
    close(fd);
    t1 = now_ns();
    assert_complete(out);
    s = read_back(out);
    /* every sample was taken during the run, stamped in Unix ns */
    for (uint32_t i = 0; i < series_store_count(s); i++) {
        const int64_t *t = series_times(s, i);

        for (size_t k = 0; k < series_len(s, i); k++)
            assert_true(t[k] >= t0 && t[k] <= t1);
    }
    /* /proc/stat is on every Linux: the cpu source ran, and each CPU time
     * counter rose monotonically over at least two rounds */
    assert_int_equal(series_store_select(s, NULL, "skewscope_collect_source_up",
                                         &l, 1, ids, 1),
                     1);
    assert_true(series_values(s, ids[0])[0] == 1);
    n = series_store_select(s, NULL, "node_cpu_seconds_total", NULL, 0, ids,
                            512);
    assert_true(n >= 8);
    for (size_t i = 0; i < n && i < 512; i++) {
        const double *v = series_values(s, ids[i]);

        assert_true(series_len(s, ids[i]) >= 2);
        for (size_t k = 1; k < series_len(s, ids[i]); k++)
            assert_true(v[k] >= v[k - 1]);
    }
    /* every source said whether it is up */
    assert_int_equal(series_store_select(s, NULL, "skewscope_collect_source_up",
                                         NULL, 0, ids, 512),
                     8);
    series_store_destroy(s);
    testlib_remove_tree(dir);
    free(dir);
}

/* ---- --listen */

struct body {
    char *p;
    size_t n;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct body *b = ud;

    b->p = realloc(b->p, b->n + sz * n + 1);
    memcpy(b->p + b->n, p, sz * n);
    b->n += sz * n;
    b->p[b->n] = 0;
    return sz * n;
}

static char *get_metrics(int port)
{
    CURL *h = curl_easy_init();
    struct body b = {0};
    char url[64], *ct = NULL;
    long code = 0;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    assert_int_equal(code, 200);
    assert_non_null(b.p); /* announced after the first round: never empty */
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    curl_easy_cleanup(h);
    return b.p;
}

/* The port collect announces on stdout: "... (port N): GET /metrics". */
static int read_port(int fd)
{
    char buf[512];
    size_t n = 0;
    struct pollfd p = {fd, POLLIN, 0};
    const char *at;

    while (n + 1 < sizeof buf && !memchr(buf, '\n', n)) {
        ssize_t r;

        if (poll(&p, 1, 15000) <= 0)
            fail_msg("collect did not announce its port");
        if ((r = read(fd, buf + n, sizeof buf - 1 - n)) <= 0)
            fail_msg("collect exited before announcing its port");
        n += (size_t)r;
        buf[n] = 0;
    }
    at = strstr(buf, "(port ");
    assert_non_null(at);
    return atoi(at + 6);
}

/* A lint promtool draws on node_exporter's and dcgm-exporter's own pages,
 * for names kept as they spell them. */
static bool known_lint(const char *line)
{
    return (!strncmp(line, "node_netstat_", 13) &&
            strstr(line, " metric names should be written in 'snake_case' not "
                         "'camelCase'")) ||
           (!strncmp(line, "DCGM_FI_", 8) &&
            strstr(line, " label names should be written in 'snake_case' not "
                         "'camelCase'")) ||
           !strcmp(line, "DCGM_FI_DEV_PCIE_REPLAY_COUNTER metric name should "
                         "not include type 'counter'");
}

static void listen_and_stop(int sig)
{
    char *dir = testlib_temp_dir("collect-live");
    char out[512];
    char *argv[] = {(char *)bin(), "collect", "--interval", "10ms", "--listen",
                    "127.0.0.1:0", "--out",   out,          NULL};
    struct series_store *s;
    char *pg;
    int fd, port;
    pid_t pid;

    snprintf(out, sizeof out, "%s/rec.csv.gz", dir);
    pid = spawn(argv, &fd);
    port = read_port(fd);
    pg = get_metrics(port);
    assert_non_null(strstr(pg, "# TYPE node_cpu_seconds_total counter\n"));
    assert_non_null(
        strstr(pg, "skewscope_collect_source_up{source=\"cpu\"} 1\n"));
    assert_non_null(strstr(pg, "\nprocess_resident_memory_bytes "));
    promtool_check_page("collect's /metrics", pg, known_lint);
    free(pg);
    assert_int_equal(kill(pid, sig), 0);
    assert_int_equal(wait_exit(pid), 0);
    close(fd);
    /* flushed and closed: a whole gzip stream */
    s = read_back(out);
    assert_true(series_store_count(s) > 0);
    series_store_destroy(s);
    testlib_remove_tree(dir);
    free(dir);
}

static void test_listen_sigterm(void **state)
{
    (void)state;
    listen_and_stop(SIGTERM);
}

static void test_listen_sigint(void **state)
{
    (void)state;
    listen_and_stop(SIGINT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_record_two_seconds, reap_child),
        cmocka_unit_test_teardown(test_listen_sigterm, reap_child),
        cmocka_unit_test_teardown(test_listen_sigint, reap_child),
    };

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
