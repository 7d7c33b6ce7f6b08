/* test_collect_nvml: the collector's NVML sampler against a stand-in
 * library the build makes (tests/nvml_stub.c -> libnvml_stub.so next to
 * this program), loaded at run time by path and through
 * $SKEWSCOPE_NVML_LIB: the DCGM_* values it shows (an SM clock that drops
 * mid-run with its clock-event reasons, a 32-bit replay counter that
 * wraps, a degraded PCIe width, units), the fast/slow cadence, an older
 * driver without the clock-event call, and NVML that is absent, fails to
 * initialise or sees no GPU. The page passes promtool when installed. */
#define _GNU_SOURCE
#include "testlib.h"

#include <libgen.h>
#include <sys/wait.h>

#include "collect/collect.h"
#include "model/series.h"
#include "promtool.h"
#include "util/log.h"

#define T0 1700000000000000000LL
#define MS 1000000LL

static char stub[1024];

static const char gpu0[] = "{Hostname=\"gpu-host\",UUID=\"GPU-stub-0\",device="
                           "\"nvidia0\",gpu=\"0\",modelName=\"Stub GPU "
                           "80GB\",pci_bus_id=\"00000000:3B:00.0\"}";
static const char gpu1[] = "{Hostname=\"gpu-host\",UUID=\"GPU-stub-1\",device="
                           "\"nvidia1\",gpu=\"1\",modelName=\"Stub GPU "
                           "80GB\",pci_bus_id=\"00000000:5B:00.0\"}";

static struct collector *make(const char *lib, int64_t slow_ns)
{
    struct collect_config cfg = {0};
    char err[256];
    struct collector *c;

    cfg.sources = "nvml";
    cfg.entity = "gpu-host";
    cfg.nvml_lib = lib;
    cfg.interval_ns = 10 * MS;
    cfg.slow_interval_ns = slow_ns;
    c = collect_create(&cfg, NULL, err, sizeof err);
    if (!c)
        fail_msg("collect_create: %s", err);
    return c;
}

static void ticks(struct collector *c, int n)
{
    char err[256];

    for (int i = 0; i < n; i++)
        assert_int_equal(collect_tick(c, T0 + i * 10 * MS, err, sizeof err), 0);
}

static char *page(struct collector *c)
{
    size_t len;
    char *p = collect_render(c, &len);

    assert_non_null(p);
    return p;
}

/* The page has the line "name<labels> value". */
static void assert_metric(const char *pg, const char *name, const char *labels,
                          const char *value)
{
    char line[512];
    const char *p = pg;
    size_t n;

    snprintf(line, sizeof line, "%s%s %s", name, labels, value);
    n = strlen(line);
    for (; (p = strstr(p, line)); p++)
        if ((p == pg || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
            return;
    fail_msg("/metrics lacks\n  %s\npage:\n%s", line, pg);
}

static void test_nvml_values(void **state)
{
    struct collector *c = make(stub, 10 * MS); /* every tick slow */
    struct series_label l[1] = {{"gpu", "0"}};
    const struct series_store *s;
    uint32_t ids[4];
    const double *v;
    char *pg;

    (void)state;
    assert_true(collect_source_up(c, 0));
    ticks(c, 5);
    pg = page(c);
    /* GPU 0 throttled after its third read: 1410 MHz, SW power cap |
     * SW thermal slowdown, under both names */
    assert_metric(pg, "DCGM_FI_DEV_SM_CLOCK", gpu0, "1410");
    assert_metric(pg, "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", gpu0, "36");
    assert_metric(pg, "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", gpu0, "36");
    assert_metric(pg, "DCGM_FI_DEV_SM_CLOCK", gpu1, "1980");
    assert_metric(pg, "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", gpu1, "1");
    assert_metric(pg, "DCGM_FI_DEV_POWER_USAGE", gpu0, "300.123");
    assert_metric(pg, "DCGM_FI_DEV_POWER_USAGE", gpu1, "75");
    /* 4294967290 then 5: a 32-bit wrap, 11 replays */
    assert_metric(pg, "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", gpu0, "4294967301");
    assert_metric(pg, "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", gpu1, "0");
    assert_metric(pg, "DCGM_FI_PROF_PCIE_TX_BYTES", gpu0, "1024000");
    assert_metric(pg, "DCGM_FI_PROF_PCIE_RX_BYTES", gpu0, "2048000");
    assert_metric(pg, "DCGM_FI_DEV_PCIE_LINK_WIDTH", gpu1, "8");
    assert_metric(pg, "DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH", gpu1, "16");
    assert_metric(pg, "DCGM_FI_DEV_PCIE_LINK_GEN", gpu0, "5");
    assert_metric(pg, "DCGM_FI_DEV_GPU_UTIL", gpu0, "87");
    assert_metric(pg, "DCGM_FI_DEV_MEM_COPY_UTIL", gpu0, "45");
    assert_metric(pg, "DCGM_FI_DEV_MEM_CLOCK", gpu0, "2619");
    assert_metric(pg, "DCGM_FI_DEV_GPU_TEMP", gpu0, "65");
    assert_metric(pg, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", gpu0, "5000");
    assert_metric(pg, "DCGM_FI_DEV_FB_USED", gpu0, "1024");
    assert_metric(pg, "DCGM_FI_DEV_FB_FREE", gpu0, "80896");
    assert_metric(pg, "skewscope_collect_source_up", "{source=\"nvml\"}", "1");
    assert_non_null(
        strstr(pg, "# TYPE DCGM_FI_DEV_PCIE_REPLAY_COUNTER untyped"));
    free(pg);
    /* the store has the drop as it happened, sample by sample */
    s = collect_store(c);
    assert_int_equal(
        series_store_select(s, NULL, "DCGM_FI_DEV_SM_CLOCK", l, 1, ids, 4), 1);
    assert_int_equal(series_len(s, ids[0]), 5);
    v = series_values(s, ids[0]);
    assert_true(v[0] == 1980 && v[2] == 1980 && v[3] == 1410 && v[4] == 1410);
    assert_int_equal(series_store_select(s, NULL,
                                         "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", l,
                                         1, ids, 4),
                     1);
    assert_true(series_wrap(s, ids[0]) == 4294967296.0);
    collect_destroy(c);
}

static void test_nvml_env_var(void **state)
{
    struct collector *c;
    char *pg;

    (void)state;
    setenv("SKEWSCOPE_NVML_LIB", stub, 1);
    c = make(NULL, 10 * MS);
    unsetenv("SKEWSCOPE_NVML_LIB");
    assert_true(collect_source_up(c, 0));
    ticks(c, 1);
    pg = page(c);
    assert_metric(pg, "DCGM_FI_DEV_SM_CLOCK", gpu0, "1980");
    free(pg);
    collect_destroy(c);
}

/* Slow fields only on slow ticks; fast ones every tick. */
static void test_nvml_cadence(void **state)
{
    struct collector *c = make(stub, 30 * MS);
    struct series_label l[1] = {{"gpu", "1"}};
    const struct series_store *s;
    uint32_t id;
    char *pg;

    (void)state;
    ticks(c, 5); /* slow at ticks 1 and 4 */
    s = collect_store(c);
    assert_int_equal(
        series_store_select(s, NULL, "DCGM_FI_DEV_SM_CLOCK", l, 1, &id, 1), 1);
    assert_int_equal(series_len(s, id), 5);
    assert_int_equal(
        series_store_select(s, NULL, "DCGM_FI_DEV_GPU_UTIL", l, 1, &id, 1), 1);
    assert_int_equal(series_len(s, id), 2);
    pg = page(c); /* the slow value from tick 4 is still shown */
    assert_metric(pg, "DCGM_FI_DEV_GPU_UTIL", gpu1, "87");
    free(pg);
    collect_destroy(c);
}

static void test_nvml_old_driver(void **state)
{
    struct collector *c;
    char *pg;

    (void)state;
    setenv("NVML_STUB_NO_EVENT_REASONS", "1", 1);
    setenv("NVML_STUB_DROP_AFTER", "0", 1);
    c = make(stub, 10 * MS);
    ticks(c, 2);
    pg = page(c);
    assert_metric(pg, "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", gpu0, "36");
    assert_metric(pg, "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", gpu0, "36");
    assert_metric(pg, "DCGM_FI_DEV_SM_CLOCK", gpu0, "1410");
    free(pg);
    collect_destroy(c);
    unsetenv("NVML_STUB_NO_EVENT_REASONS");
    unsetenv("NVML_STUB_DROP_AFTER");
}

/* NVML there but unusable, or not there: left out, with why. */
static void expect_down(const char *lib, const char *why)
{
    struct collector *c = make(lib, 10 * MS);
    char *pg;

    assert_false(collect_source_up(c, 0));
    if (!strstr(collect_source_why(c, 0), why))
        fail_msg("why: \"%s\", want \"%s\"", collect_source_why(c, 0), why);
    ticks(c, 2);
    pg = page(c);
    assert_non_null(strstr(pg, why));
    assert_null(strstr(pg, "DCGM_FI"));
    assert_non_null(strstr(pg, ",source=\"nvml\"} 0\n"));
    free(pg);
    collect_destroy(c);
}

static void test_nvml_unavailable(void **state)
{
    (void)state;
    setenv("NVML_STUB_INIT_FAIL", "1", 1);
    expect_down(stub, "nvmlInit: Driver Not Loaded");
    unsetenv("NVML_STUB_INIT_FAIL");
    setenv("NVML_STUB_GPUS", "0", 1);
    expect_down(stub, "NVML sees no GPU");
    unsetenv("NVML_STUB_GPUS");
    expect_down("/nonexistent/libnvidia-ml.so.1",
                "cannot open shared object file");
}

/* dcgm-exporter's own page draws these lints, names kept for its
 * dashboards: the camelCase label modelName and "COUNTER" in
 * DCGM_FI_DEV_PCIE_REPLAY_COUNTER. */
static bool dcgm_lint(const char *line)
{
    return strcmp(line, "DCGM_FI_DEV_PCIE_REPLAY_COUNTER metric name "
                        "should not include type 'counter'") == 0 ||
           (strncmp(line, "DCGM_FI_", 8) == 0 &&
            strstr(line, " label names should be written in 'snake_case' "
                         "not 'camelCase'"));
}

static void test_nvml_page_promtool(void **state)
{
    struct collector *c;
    char *pg;

    (void)state;
    if (!promtool()) {
        printf("# SKIP: promtool not found (Debian package prometheus)\n");
        skip();
    }
    c = make(stub, 10 * MS);
    ticks(c, 5);
    pg = page(c);
    promtool_check_page("the NVML page", pg, dcgm_lint);
    free(pg);
    collect_destroy(c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nvml_values),
        cmocka_unit_test(test_nvml_env_var),
        cmocka_unit_test(test_nvml_cadence),
        cmocka_unit_test(test_nvml_old_driver),
        cmocka_unit_test(test_nvml_unavailable),
        cmocka_unit_test(test_nvml_page_promtool),
    };
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

    (void)argc;
    (void)argv;
    if (n <= 0)
        return 1;
    self[n] = 0;
    snprintf(stub, sizeof stub, "%s/libnvml_stub.so", dirname(self));
    if (access(stub, R_OK) != 0) {
        fprintf(stderr, "test_collect_nvml: %s missing (make builds it)\n",
                stub);
        return 1;
    }
    log_set_level(LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
