/* test_collect: the host collector (src/collect) on fake /proc and /sys
 * trees written by the test (collect_config.root), ticked with explicit
 * times: exact values read by each sampler, counter wrap (32-bit) and
 * reset in the totals and peak rates /metrics shows, missing sources
 * reported once, degraded PCIe links and AER counters, the recording
 * written and read back sample for sample, the recording reader's errors,
 * and /metrics over HTTP with libcurl. */
#define _GNU_SOURCE
#include "testlib.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "collect/collect.h"
#include "collect/collect_http.h"
#include "ingest/collect_rec.h"
#include "ingest/ingest.h"
#include "model/series.h"
#include "util/log.h"

#define T0 1700000000000000000LL
#define MS 1000000LL

/* ---- fake trees */

static void mkdirs(const char *path)
{
    char buf[1024];

    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

/* Write root/rel (parents created), truncating in place: the collector
 * keeps some files open and reads them again from offset 0. */
static void put_file(const char *root, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_file(const char *root, const char *rel, const char *fmt, ...)
{
    char path[1024], dir[1024];
    va_list ap;
    FILE *f;

    snprintf(path, sizeof path, "%s%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    mkdirs(dir);
    assert_non_null(f = fopen(path, "w"));
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    assert_int_equal(fclose(f), 0);
}

static const char dev_header[] =
    "Inter-|   Receive                                                |  "
    "Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes "
    "   packets errs drop fifo colls carrier compressed\n";

static void put_netdev(const char *root, unsigned long long eth0_rx_bytes)
{
    put_file(root, "/proc/net/dev",
             "%s    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
             "  eth0: %llu 1534 1 2 3 4 5 6 69146 840 7 8 9 10 11 12\n",
             dev_header, eth0_rx_bytes);
}

static struct collector *make(const char *root, const char *sources,
                              unsigned kernel_bits)
{
    struct collect_config cfg = {0};
    char err[256];
    struct collector *c;

    cfg.root = root;
    cfg.entity = "host-a";
    cfg.sources = sources;
    cfg.kernel_bits = kernel_bits;
    cfg.interval_ns = 10 * MS;
    cfg.slow_interval_ns = 10 * MS; /* every tick slow */
    cfg.nvml_lib = "/nonexistent/libnvidia-ml.so.1";
    c = collect_create(&cfg, NULL, err, sizeof err);
    if (!c)
        fail_msg("collect_create: %s", err);
    return c;
}

static void tick(struct collector *c, int64_t t)
{
    char err[256];

    if (collect_tick(c, t, err, sizeof err) != 0)
        fail_msg("collect_tick: %s", err);
}

static char *page(struct collector *c)
{
    size_t len;
    char *p = collect_render(c, &len);

    assert_non_null(p);
    assert_int_equal(strlen(p), len);
    return p;
}

/* The page has this exact line. */
static bool has_line(const char *pg, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = pg; (p = strstr(p, line)); p++)
        if ((p == pg || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
            return true;
    return false;
}

#define assert_line(pg, line)                                                  \
    do {                                                                       \
        if (!has_line(pg, line))                                               \
            fail_msg("/metrics lacks the line\n  %s\npage:\n%s", line, pg);    \
    } while (0)
#define assert_no_line(pg, text)                                               \
    do {                                                                       \
        if (strstr(pg, text))                                                  \
            fail_msg("/metrics should not hold\n  %s", text);                  \
    } while (0)

/* Newest raw value of a series in the collector's store. */
static double stored(struct collector *c, const char *metric,
                     const struct series_label *l, size_t n)
{
    const struct series_store *s = collect_store(c);
    int64_t id = series_store_find(s, "host-a", metric, l, n);
    size_t len;

    if (id < 0)
        fail_msg("no series %s", metric);
    len = series_len(s, (uint32_t)id);
    assert_true(len > 0);
    return series_values(s, (uint32_t)id)[len - 1];
}

/* ---- net */

static void test_net_exact(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct series_label eth0 = {"device", "eth0"};
    struct collector *c;
    char *pg;

    (void)state;
    put_netdev(root, 62881370);
    put_file(root, "/sys/class/net/eth0/carrier", "1\n");
    put_file(root, "/sys/class/net/eth0/carrier_changes", "7\n");
    put_file(root, "/sys/class/net/eth0/carrier_up_count", "4\n");
    put_file(root, "/sys/class/net/eth0/carrier_down_count", "3\n");
    put_file(root, "/sys/class/net/eth0/speed", "100000\n");
    put_file(root, "/sys/class/net/eth0/operstate", "up\n");
    put_file(root, "/sys/class/net/eth0/mtu", "9000\n");
    put_file(root, "/sys/class/net/lo/operstate", "unknown\n");
    put_file(root, "/sys/class/net/lo/speed", "-1\n");
    c = make(root, "net", 64);
    tick(c, T0);
    assert_true(stored(c, "node_network_receive_bytes_total", &eth0, 1) ==
                62881370);
    assert_true(stored(c, "node_network_transmit_compressed_total", &eth0, 1) ==
                12);
    pg = page(c);
    assert_line(pg, "# TYPE node_network_receive_bytes_total counter");
    assert_line(pg, "node_network_receive_bytes_total{device=\"eth0\"} "
                    "62881370");
    assert_line(pg, "node_network_receive_packets_total{device=\"eth0\"} 1534");
    assert_line(pg, "node_network_receive_errs_total{device=\"eth0\"} 1");
    assert_line(pg, "node_network_receive_drop_total{device=\"eth0\"} 2");
    assert_line(pg, "node_network_receive_multicast_total{device=\"eth0\"} 6");
    assert_line(pg, "node_network_transmit_bytes_total{device=\"eth0\"} 69146");
    assert_line(pg, "node_network_transmit_carrier_total{device=\"eth0\"} 11");
    assert_line(pg, "node_network_receive_bytes_total{device=\"lo\"} 1000");
    assert_line(pg, "node_network_carrier{device=\"eth0\"} 1");
    assert_line(pg, "node_network_carrier_changes_total{device=\"eth0\"} 7");
    assert_line(pg, "node_network_carrier_up_changes_total{device=\"eth0\"} 4");
    assert_line(pg,
                "node_network_carrier_down_changes_total{device=\"eth0\"} 3");
    assert_line(pg, "node_network_speed_bytes{device=\"eth0\"} 12500000000");
    assert_line(pg, "node_network_up{device=\"eth0\"} 1");
    assert_line(pg, "node_network_up{device=\"lo\"} 0");
    assert_line(pg, "node_network_mtu_bytes{device=\"eth0\"} 9000");
    /* speed -1 (unknown) is left out, not shown as a negative speed */
    assert_no_line(pg, "node_network_speed_bytes{device=\"lo\"}");
    assert_line(pg, "skewscope_collect_source_up{source=\"net\"} 1");
    free(pg);
    /* a link flap seen on the next slow tick */
    put_file(root, "/sys/class/net/eth0/carrier_changes", "9\n");
    tick(c, T0 + 10 * MS);
    pg = page(c);
    assert_line(pg, "node_network_carrier_changes_total{device=\"eth0\"} 9");
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

/* rx bytes of eth0 through a 32-bit wrap, then a reset. */
static const unsigned long long wrap_seq[] = {4294967000ull, 200, 1200, 10};

static struct collector *run_wrap_seq(const char *root, unsigned bits)
{
    struct collector *c;

    put_netdev(root, wrap_seq[0]);
    c = make(root, "net", bits);
    for (int i = 0; i < 4; i++) {
        put_netdev(root, wrap_seq[i]);
        tick(c, T0 + i * 10 * MS);
    }
    return c;
}

static void test_net_wrap32_and_reset(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct series_label eth0 = {"device", "eth0"};
    struct collector *c;
    const struct series_store *s;
    int64_t id;
    char *pg;

    (void)state;
    c = run_wrap_seq(root, 32);
    s = collect_store(c);
    id = series_store_find(s, "host-a", "node_network_receive_bytes_total",
                           &eth0, 1);
    assert_true(id >= 0);
    /* raw values kept as read, with the 32-bit wrap */
    assert_int_equal(series_len(s, (uint32_t)id), 4);
    assert_true(series_values(s, (uint32_t)id)[1] == 200);
    assert_true(series_wrap(s, (uint32_t)id) == 4294967296.0);
    pg = page(c);
    /* total = first + 496 (wrap) + 1000 + 10 (reset: counts from 0) */
    assert_line(pg, "node_network_receive_bytes_total{device=\"eth0\"} "
                    "4294968506");
    /* peak rate over the last second: the 1000 bytes in 10 ms */
    assert_line(pg, "skewscope_collect_peak_rate_per_second{metric=\"node_"
                    "network_receive_bytes_total\",device=\"eth0\"} 100000");
    free(pg);
    collect_destroy(c);

    /* The same counter on a 64-bit kernel: the drop to 200 is a reset. */
    c = run_wrap_seq(root, 64);
    pg = page(c);
    assert_line(pg, "node_network_receive_bytes_total{device=\"eth0\"} "
                    "4294968210");
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

/* A counter seen above 2^32 on a "32-bit" kernel is 64 bits wide. */
static void test_net_widens(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct series_label eth0 = {"device", "eth0"};
    struct collector *c;
    int64_t id;

    (void)state;
    put_netdev(root, 1000);
    c = make(root, "net", 32);
    tick(c, T0);
    id = series_store_find(collect_store(c), "host-a",
                           "node_network_receive_bytes_total", &eth0, 1);
    assert_true(series_wrap(collect_store(c), (uint32_t)id) == 4294967296.0);
    put_netdev(root, 5000000000ull);
    tick(c, T0 + 10 * MS);
    assert_true(series_wrap(collect_store(c), (uint32_t)id) ==
                18446744073709551616.0);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

static void test_net_sysfs_fallback(void **state)
{
    static const char *const files[] = {
        "rx_bytes=100",          "rx_packets=5",        "rx_errors=1",
        "rx_dropped=2",          "rx_missed_errors=3",  "rx_fifo_errors=0",
        "rx_length_errors=1",    "rx_over_errors=1",    "rx_crc_errors=1",
        "rx_frame_errors=1",     "rx_compressed=0",     "multicast=9",
        "tx_bytes=200",          "tx_packets=6",        "tx_errors=0",
        "tx_dropped=0",          "tx_fifo_errors=0",    "collisions=0",
        "tx_carrier_errors=1",   "tx_aborted_errors=1", "tx_window_errors=0",
        "tx_heartbeat_errors=0", "tx_compressed=0",
    };
    char *root = testlib_temp_dir("collect");
    struct collector *c;
    char *pg;

    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char rel[128], name[64];
        const char *eq = strchr(files[i], '=');

        snprintf(name, sizeof name, "%.*s", (int)(eq - files[i]), files[i]);
        snprintf(rel, sizeof rel, "/sys/class/net/ens1/statistics/%s", name);
        put_file(root, rel, "%s\n", eq + 1);
    }
    c = make(root, "net", 64);
    tick(c, T0);
    pg = page(c);
    assert_line(pg, "node_network_receive_bytes_total{device=\"ens1\"} 100");
    /* /proc/net/dev's sums: drop = dropped + missed, frame = 4 errors */
    assert_line(pg, "node_network_receive_drop_total{device=\"ens1\"} 5");
    assert_line(pg, "node_network_receive_frame_total{device=\"ens1\"} 4");
    assert_line(pg, "node_network_receive_multicast_total{device=\"ens1\"} 9");
    assert_line(pg, "node_network_transmit_carrier_total{device=\"ens1\"} 2");
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

/* An interface that goes away leaves /metrics; back, it continues. */
static void test_net_interface_goes_and_comes_back(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct collector *c;
    char *pg;

    (void)state;
    put_netdev(root, 500);
    c = make(root, "net", 64);
    tick(c, T0);
    put_file(root, "/proc/net/dev",
             "%s    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n", dev_header);
    tick(c, T0 + 10 * MS);
    pg = page(c);
    assert_no_line(pg, "device=\"eth0\"");
    assert_line(pg, "node_network_receive_bytes_total{device=\"lo\"} 1000");
    free(pg);
    put_netdev(root, 40); /* back, counters from 0 again */
    tick(c, T0 + 20 * MS);
    pg = page(c);
    assert_line(pg, "node_network_receive_bytes_total{device=\"eth0\"} 540");
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

/* ---- tcp, cpu, pressure */

static void test_tcp_exact(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct collector *c;
    char *pg;

    (void)state;
    put_file(root, "/proc/net/snmp",
             "Ip: Forwarding DefaultTTL\nIp: 2 64\n"
             "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens "
             "AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs "
             "InErrs OutRsts InCsumErrors\n"
             "Tcp: 1 200 120000 -1 143907 126659 15474 96277 12 24301135 "
             "24288845 14559 3 111158 0\n"
             "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors "
             "SndbufErrors InCsumErrors IgnoredMulti MemErrors\n"
             "Udp: 35 1 2 36 4 5 0 0 0\n");
    put_file(root, "/proc/net/netstat",
             "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPTimeouts "
             "TCPSynRetrans\nTcpExt: 0 17 18 321 99\n"
             "IpExt: InNoRoutes InOctets\nIpExt: 0 123\n");
    c = make(root, "tcp", 64);
    tick(c, T0);
    pg = page(c);
    assert_line(pg, "# TYPE node_netstat_Tcp_RetransSegs untyped");
    assert_line(pg, "node_netstat_Tcp_RetransSegs 14559");
    assert_line(pg, "node_netstat_Tcp_CurrEstab 12");
    assert_line(pg, "node_netstat_Tcp_InSegs 24301135");
    assert_line(pg, "node_netstat_Tcp_InErrs 3");
    assert_line(pg, "node_netstat_Udp_RcvbufErrors 4");
    assert_line(pg, "node_netstat_TcpExt_ListenOverflows 17");
    assert_line(pg, "node_netstat_TcpExt_TCPTimeouts 321");
    assert_line(pg, "node_netstat_TcpExt_TCPSynRetrans 99");
    assert_no_line(pg, "MaxConn");
    free(pg);
    /* a retransmit storm: 500 more in 10 ms */
    put_file(root, "/proc/net/snmp",
             "Tcp: ActiveOpens CurrEstab RetransSegs\nTcp: 143907 11 15059\n");
    tick(c, T0 + 10 * MS);
    pg = page(c);
    assert_line(pg, "node_netstat_Tcp_RetransSegs 15059");
    assert_line(pg, "node_netstat_Tcp_CurrEstab 11");
    assert_line(pg, "skewscope_collect_peak_rate_per_second{metric=\"node_"
                    "netstat_Tcp_RetransSegs\"} 50000");
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

static void test_cpu_exact(void **state)
{
    char *root = testlib_temp_dir("collect");
    double hz = (double)sysconf(_SC_CLK_TCK);
    struct series_label l[2] = {{"cpu", "1"}, {"mode", "iowait"}};
    struct series_label all = {"mode", "steal"};
    struct collector *c;
    char *pg, want[128];

    (void)state;
    put_file(root, "/proc/stat",
             "cpu  300 10 150 2000 16 0 13 15 4 1\n"
             "cpu0 150 5 75 1000 8 0 6 7 2 0\n"
             "cpu1 150 5 75 1000 8 0 7 8 2 1\n"
             "intr 13888820 0 0 5\nctxt 70114472\nbtime 1\n"
             "processes 4242\nprocs_running 3\nprocs_blocked 1\n");
    c = make(root, "cpu", 64);
    tick(c, T0);
    assert_true(stored(c, "node_cpu_seconds_total", l, 2) == 8 / hz);
    assert_true(stored(c, "skewscope_cpu_all_seconds_total", &all, 1) ==
                15 / hz);
    pg = page(c);
    snprintf(want, sizeof want,
             "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} %.15g", 150 / hz);
    assert_line(pg, want);
    snprintf(want, sizeof want,
             "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"nice\"} %.15g",
             1 / hz);
    assert_line(pg, want);
    assert_line(pg, "node_context_switches_total 70114472");
    assert_line(pg, "node_intr_total 13888820");
    assert_line(pg, "node_forks_total 4242");
    assert_line(pg, "node_procs_running 3");
    assert_line(pg, "node_procs_blocked 1");
    free(pg);
    /* iowait of cpu1 steps back (NO_HZ): held at its previous value */
    put_file(root, "/proc/stat",
             "cpu  301 10 150 2000 16 0 13 15 4 1\n"
             "cpu1 151 5 75 1000 6 0 7 8 2 1\n");
    tick(c, T0 + 10 * MS);
    assert_true(stored(c, "node_cpu_seconds_total", l, 2) == 8 / hz);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

static void test_pressure_exact(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct collector *c;
    char *pg;

    (void)state;
    put_file(root, "/proc/pressure/cpu",
             "some avg10=87.34 avg60=92.92 avg300=91.90 total=1902621035\n"
             "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    put_file(root, "/proc/pressure/io",
             "some avg10=1.50 avg60=0.50 avg300=0.25 total=2500000\n"
             "full avg10=1.00 avg60=0.25 avg300=0.10 total=1000000\n");
    put_file(root, "/proc/pressure/memory",
             "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
             "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    c = make(root, "pressure", 64);
    tick(c, T0);
    pg = page(c);
    assert_line(pg, "node_pressure_cpu_waiting_seconds_total 1902.621035");
    assert_line(pg, "node_pressure_io_waiting_seconds_total 2.5");
    assert_line(pg, "node_pressure_io_stalled_seconds_total 1");
    assert_line(pg, "skewscope_pressure_avg_ratio{resource=\"cpu\",scope="
                    "\"some\",window=\"10s\"} 0.8734");
    assert_line(pg, "skewscope_pressure_avg_ratio{resource=\"io\",scope="
                    "\"full\",window=\"300s\"} 0.001");
    /* no irq file: its families are absent, the source is up */
    assert_no_line(pg, "irq");
    assert_line(pg, "skewscope_collect_source_up{source=\"pressure\"} 1");
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

/* ---- PCIe and AER */

static void put_pci(const char *root, const char *bdf, const char *cs,
                    const char *ms, int cw, int mw)
{
    char rel[256];

    snprintf(rel, sizeof rel, "/sys/bus/pci/devices/%s/current_link_speed",
             bdf);
    put_file(root, rel, "%s\n", cs);
    snprintf(rel, sizeof rel, "/sys/bus/pci/devices/%s/max_link_speed", bdf);
    put_file(root, rel, "%s\n", ms);
    snprintf(rel, sizeof rel, "/sys/bus/pci/devices/%s/current_link_width",
             bdf);
    put_file(root, rel, "%d\n", cw);
    snprintf(rel, sizeof rel, "/sys/bus/pci/devices/%s/max_link_width", bdf);
    put_file(root, rel, "%d\n", mw);
    snprintf(rel, sizeof rel, "/sys/bus/pci/devices/%s/class", bdf);
    put_file(root, rel, "0x030200\n");
    snprintf(rel, sizeof rel, "/sys/bus/pci/devices/%s/vendor", bdf);
    put_file(root, rel, "0x10de\n");
}

static void test_pcie_degraded(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct collector *c;
    char *pg, want[1024];

    (void)state;
    /* a GPU trained at x8 Gen3 on a x16 Gen4 link, and a healthy one */
    put_pci(root, "0000:3b:00.0", "8.0 GT/s PCIe", "16.0 GT/s PCIe", 8, 16);
    put_pci(root, "0000:5e:00.0", "16.0 GT/s PCIe", "16.0 GT/s PCIe", 16, 16);
    snprintf(want, sizeof want, "%s/sys/bus/pci/devices/0000:00:1f.0", root);
    mkdirs(want); /* a device without link state */
    c = make(root, "pcie", 64);
    tick(c, T0);
    pg = page(c);
    assert_line(pg, "node_pcidevice_current_link_transfers_per_second{bus="
                    "\"3b\",device=\"00\",function=\"0\",segment=\"0000\"} "
                    "8000000000");
    assert_line(pg, "node_pcidevice_max_link_transfers_per_second{bus=\"3b\","
                    "device=\"00\",function=\"0\",segment=\"0000\"} "
                    "16000000000");
    assert_line(pg, "node_pcidevice_current_link_width{bus=\"3b\",device="
                    "\"00\",function=\"0\",segment=\"0000\"} 8");
    assert_line(pg, "node_pcidevice_max_link_width{bus=\"3b\",device=\"00\","
                    "function=\"0\",segment=\"0000\"} 16");
    assert_line(pg, "skewscope_pcie_link_degraded{aspect=\"width\",bus=\"3b\","
                    "device=\"00\",function=\"0\",segment=\"0000\"} 1");
    assert_line(pg, "skewscope_pcie_link_degraded{aspect=\"speed\",bus=\"3b\","
                    "device=\"00\",function=\"0\",segment=\"0000\"} 1");
    assert_line(pg, "skewscope_pcie_link_degraded{aspect=\"width\",bus=\"5e\","
                    "device=\"00\",function=\"0\",segment=\"0000\"} 0");
    assert_line(pg, "skewscope_pcie_link_degraded{aspect=\"speed\",bus=\"5e\","
                    "device=\"00\",function=\"0\",segment=\"0000\"} 0");
    assert_line(pg, "node_pcidevice_info{bus=\"3b\",class_id=\"0x030200\","
                    "device=\"00\",function=\"0\",segment=\"0000\",vendor_id="
                    "\"0x10de\"} 1");
    assert_no_line(pg, "bus=\"00\"");
    free(pg);
    /* retrained to full width */
    put_pci(root, "0000:3b:00.0", "16.0 GT/s PCIe", "16.0 GT/s PCIe", 16, 16);
    tick(c, T0 + 10 * MS);
    pg = page(c);
    assert_line(pg, "skewscope_pcie_link_degraded{aspect=\"width\",bus=\"3b\","
                    "device=\"00\",function=\"0\",segment=\"0000\"} 0");
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

static void put_aer(const char *root, int bad_tlp, int total)
{
    put_file(root, "/sys/bus/pci/devices/0000:3b:00.0/aer_dev_correctable",
             "RxErr 0\nBadTLP %d\nBadDLLP 2\nRollover 0\nTimeout 1\n"
             "NonFatalErr 0\nCorrIntErr 0\nHeaderOF 0\nTOTAL_ERR_COR %d\n",
             bad_tlp, total);
    put_file(root, "/sys/bus/pci/devices/0000:3b:00.0/aer_dev_nonfatal",
             "Undefined 0\nDLP 0\nSDES 0\nTLP 0\nFCP 0\nCmpltTO 4\n"
             "TOTAL_ERR_NONFATAL 4\n");
    put_file(root, "/sys/bus/pci/devices/0000:3b:00.0/aer_dev_fatal",
             "Undefined 0\nDLP 0\nTOTAL_ERR_FATAL 0\n");
}

static void test_aer_parsed(void **state)
{
    char *root = testlib_temp_dir("collect");
    static const char lbl[] =
        "bus=\"3b\",device=\"00\",error=\"%s\",function=\"0\",segment=\"0000\","
        "severity=\"%s\"} %d";
    struct collector *c;
    char *pg, want[256], fmt[300];

    (void)state;
    put_aer(root, 3, 6);
    put_file(root,
             "/sys/bus/pci/devices/0000:00:01.0/aer_rootport_total_err_cor",
             "6\n");
    c = make(root, "aer", 64);
    tick(c, T0);
    pg = page(c);
    snprintf(fmt, sizeof fmt, "skewscope_pcie_aer_errors_total{%s", lbl);
    snprintf(want, sizeof want, fmt, "BadTLP", "correctable", 3);
    assert_line(pg, want);
    snprintf(want, sizeof want, fmt, "BadDLLP", "correctable", 2);
    assert_line(pg, want);
    snprintf(want, sizeof want, fmt, "CmpltTO", "nonfatal", 4);
    assert_line(pg, want);
    snprintf(want, sizeof want, fmt, "DLP", "fatal", 0);
    assert_line(pg, want);
    assert_line(pg, "skewscope_pcie_aer_reports_total{bus=\"3b\",device=\"00\","
                    "function=\"0\",segment=\"0000\",severity=\"correctable\"} "
                    "6");
    assert_line(pg, "skewscope_pcie_aer_rootport_reports_total{bus=\"00\","
                    "device=\"01\",function=\"0\",segment=\"0000\",severity="
                    "\"correctable\"} 6");
    assert_no_line(pg, "error=\"TOTAL_ERR");
    free(pg);
    put_aer(root, 10, 13); /* rising */
    tick(c, T0 + 10 * MS);
    pg = page(c);
    snprintf(want, sizeof want, fmt, "BadTLP", "correctable", 10);
    assert_line(pg, want);
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

/* ---- RDMA */

static void test_rdma(void **state)
{
    char *root = testlib_temp_dir("collect");
    const char *port = "/sys/class/infiniband/mlx5_0/ports/1";
    char rel[256];
    struct collector *c;
    char *pg;

#define PORT_FILE(name, ...)                                                   \
    (snprintf(rel, sizeof rel, "%s/%s", port, name),                           \
     put_file(root, rel, __VA_ARGS__))
    (void)state;
    PORT_FILE("state", "4: ACTIVE\n");
    PORT_FILE("phys_state", "5: LinkUp\n");
    PORT_FILE("rate", "200 Gb/sec (4X HDR)\n");
    PORT_FILE("counters/port_xmit_data", "1000\n");
    PORT_FILE("counters/port_rcv_packets", "77\n");
    PORT_FILE("counters/link_downed", "2\n");
    PORT_FILE("counters/symbol_error", "5\n");
    PORT_FILE("hw_counters/np_cnp_sent", "7\n");
    PORT_FILE("hw_counters/lifespan", "12\n");
    c = make(root, "rdma", 64);
    tick(c, T0);
    pg = page(c);
    assert_line(pg, "node_infiniband_port_data_transmitted_bytes_total{device="
                    "\"mlx5_0\",port=\"1\"} 4000");
    assert_line(pg, "node_infiniband_port_packets_received_total{device="
                    "\"mlx5_0\",port=\"1\"} 77");
    assert_line(pg, "node_infiniband_link_downed_total{device=\"mlx5_0\","
                    "port=\"1\"} 2");
    assert_line(pg, "skewscope_rdma_port_counter_total{counter=\"symbol_"
                    "error\",device=\"mlx5_0\",port=\"1\"} 5");
    assert_line(pg, "skewscope_rdma_hw_counter_total{counter=\"np_cnp_sent\","
                    "device=\"mlx5_0\",port=\"1\"} 7");
    assert_line(pg, "node_infiniband_state_id{device=\"mlx5_0\",port=\"1\"} 4");
    assert_line(pg, "node_infiniband_physical_state_id{device=\"mlx5_0\","
                    "port=\"1\"} 5");
    assert_line(pg, "node_infiniband_rate_bytes_per_second{device=\"mlx5_0\","
                    "port=\"1\"} 25000000000");
    assert_no_line(pg, "lifespan");
    free(pg);
#undef PORT_FILE
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

/* ---- missing sources */

static void test_missing_sources_said_once(void **state)
{
    char *root = testlib_temp_dir("collect");
    char log[] = "/tmp/skewscope-collect-log-XXXXXX", buf[8192];
    int fd = mkstemp(log), saved = dup(2);
    struct collector *c;
    ssize_t n;
    char *pg;

    (void)state;
    assert_true(fd >= 0);
    fflush(stderr);
    dup2(fd, 2);
    log_set_level(LOG_WARN);
    c = make(root, NULL, 64); /* an empty tree: nothing is there */
    for (int i = 0; i < 5; i++)
        tick(c, T0 + i * 10 * MS);
    fflush(stderr);
    log_set_level(LOG_ERROR);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(log);
    assert_true(n > 0);
    buf[n] = 0;
    for (size_t i = 0; i < collect_source_count(c); i++) {
        const char *name = collect_source_name(c, i);
        char said[64];
        const char *p = buf;
        int times = 0;

        assert_false(collect_source_up(c, i));
        assert_true(strlen(collect_source_why(c, i)) > 0);
        snprintf(said, sizeof said, "collect: %s left out: ", name);
        while ((p = strstr(p, said))) {
            times++;
            p++;
        }
        if (times != 1)
            fail_msg("%s named %d times on stderr:\n%s", name, times, buf);
    }
    assert_int_equal(collect_source_count(c), 8);
    pg = page(c);
    snprintf(buf, sizeof buf,
             "skewscope_collect_source_up{reason=\"no RDMA device in "
             "%s/sys/class/infiniband\",source=\"rdma\"} 0",
             root);
    assert_line(pg, buf);
    assert_true(strstr(pg, "skewscope_collect_source_up{reason=\"") &&
                strstr(pg, "source=\"nvml\"} 0"));
    assert_line(pg, "skewscope_collect_rounds_total 5");
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

/* The page value of an unlabelled metric. */
static double page_value(const char *pg, const char *name)
{
    char key[128];
    const char *p;

    snprintf(key, sizeof key, "\n%s ", name);
    if (!(p = strstr(pg, key)))
        fail_msg("/metrics lacks %s", name);
    return strtod(p + strlen(key), NULL);
}

static void test_core_metrics(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct collector *c;
    char *pg;

    (void)state;
    put_netdev(root, 1);
    c = make(root, "net", 64);
    for (int i = 0; i < 2; i++)
        tick(c, T0 + i * 10 * MS);
    pg = page(c);
    assert_line(pg, "skewscope_collect_rounds_total 2");
    assert_line(pg, "skewscope_collect_overruns_total 0");
    assert_line(pg, "skewscope_collect_interval_seconds 0.01");
    /* the longest round of the previous slow interval (here: round 1,
     * shown by round 2): never 0, a round takes time */
    assert_true(page_value(pg, "skewscope_collect_round_max_seconds") > 0);
    assert_true(page_value(pg, "skewscope_collect_series") >= 32);
    assert_true(page_value(pg, "process_resident_memory_bytes") > 0);
    free(pg);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

static void test_config_errors(void **state)
{
    struct collect_config cfg = {0};
    enum collect_failure why = 0;
    char err[256];

    (void)state;
    cfg.sources = "net,gpu";
    assert_null(collect_create(&cfg, &why, err, sizeof err));
    assert_int_equal(why, COLLECT_FAIL_CONFIG);
    assert_non_null(strstr(err, "unknown source 'gpu'"));
    cfg.sources = "net";
    cfg.out = "/nonexistent-dir/rec.csv";
    assert_null(collect_create(&cfg, &why, err, sizeof err));
    assert_int_equal(why, COLLECT_FAIL_OUTPUT);
    assert_non_null(strstr(err, "/nonexistent-dir/rec.csv"));
}

/* ---- the recording */

/* Every series and sample of a equal those of b (values bit for bit). */
static size_t nonempty(const struct series_store *s)
{
    size_t n = 0;

    for (uint32_t i = 0; i < series_store_count(s); i++)
        n += series_len(s, i) > 0;
    return n;
}

/* (Series without samples -- interned, never given a value -- are not in
 * a recording.) */
static void assert_same_store(const struct series_store *a,
                              const struct series_store *b)
{
    assert_int_equal(nonempty(a), nonempty(b));
    for (uint32_t i = 0; i < series_store_count(a); i++) {
        size_t n;
        const struct series_label *l = series_labels(a, i, &n);
        int64_t j = series_store_find(b, series_entity(a, i),
                                      series_metric(a, i), l, n);

        if (!series_len(a, i))
            continue;

        if (j < 0)
            fail_msg("series %s lost", series_metric(a, i));
        assert_int_equal(series_kind(a, i), series_kind(b, (uint32_t)j));
        assert_true(series_wrap(a, i) == series_wrap(b, (uint32_t)j));
        assert_int_equal(series_len(a, i), series_len(b, (uint32_t)j));
        for (size_t k = 0; k < series_len(a, i); k++) {
            double x = series_values(a, i)[k],
                   y = series_values(b, (uint32_t)j)[k];

            assert_int_equal(series_times(a, i)[k],
                             series_times(b, (uint32_t)j)[k]);
            assert_true(memcmp(&x, &y, sizeof x) == 0 ||
                        (isnan(x) && isnan(y)));
        }
    }
}

static void record_and_read_back(const char *name)
{
    char *root = testlib_temp_dir("collect");
    char out[1024], err[256];
    struct collect_config cfg = {0};
    struct collector *c;
    struct series_store *back = series_store_create();
    int64_t n;

    snprintf(out, sizeof out, "%s/%s", root, name);
    put_netdev(root, 4294967000ull);
    put_file(root, "/proc/stat",
             "cpu  300 10 150 2000 16 0 13 15 4 1\n"
             "cpu0 150 5 75 1000 8 0 6 7 2 0\n");
    put_file(root, "/sys/class/net/eth0/carrier_changes", "1\n");
    cfg.root = root;
    cfg.entity = "host,a"; /* a comma: escaped in the recording */
    cfg.kernel_bits = 32;
    cfg.interval_ns = 10 * MS;
    cfg.slow_interval_ns = 20 * MS;
    cfg.out = out;
    cfg.nvml_lib = "/nonexistent/libnvidia-ml.so.1";
    assert_non_null(c = collect_create(&cfg, NULL, err, sizeof err));
    for (int i = 0; i < 6; i++) {
        put_netdev(root, wrap_seq[i % 4] + (unsigned)i);
        tick(c, T0 + i * 10 * MS);
    }
    assert_int_equal(collect_finish(c, err, sizeof err), 0);
    n = collect_rec_read(back, out, err, sizeof err);
    if (n < 0)
        fail_msg("collect_rec_read: %s", err);
    assert_true(n > 100);
    assert_same_store(collect_store(c), back);
    assert_same_store(back, collect_store(c));
    series_store_destroy(back);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

static void test_recording_round_trip(void **state)
{
    (void)state;
    record_and_read_back("rec.csv");
}

static void test_recording_round_trip_gzip(void **state)
{
    (void)state;
    record_and_read_back("rec.csv.gz");
}

/* A recording in progress grows by whole lines only: a reader never sees
 * a torn last line, however the stdio buffer fills. */
static void test_recording_whole_lines(void **state)
{
    char *root = testlib_temp_dir("collect");
    char out[1024], err[256];
    struct collect_config cfg = {0};
    struct collector *c;
    int fd, grew = 0;

    (void)state;
    snprintf(out, sizeof out, "%s/rec.csv", root);
    put_netdev(root, 1);
    cfg.root = root;
    cfg.sources = "net";
    cfg.interval_ns = 10 * MS;
    cfg.slow_interval_ns = 100000 * MS; /* no flush: the buffer fills */
    cfg.horizon_ns = 100 * MS;
    cfg.out = out;
    assert_non_null(c = collect_create(&cfg, NULL, err, sizeof err));
    assert_true((fd = open(out, O_RDONLY)) >= 0);
    for (int i = 0; i < 3000; i++) {
        off_t size;
        char last;

        put_netdev(root, 1000000000000ull + (unsigned long long)i * 977);
        tick(c, T0 + i * 10 * MS);
        size = lseek(fd, 0, SEEK_END);
        if (size <= 0)
            continue;
        grew++;
        assert_int_equal(pread(fd, &last, 1, size - 1), 1);
        if (last != '\n')
            fail_msg("round %d: the recording ends in a torn line", i);
    }
    assert_true(grew > 0);
    close(fd);
    assert_int_equal(collect_finish(c, err, sizeof err), 0);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

static int64_t parse(struct series_store *s, const char *text, char *err,
                     size_t errlen)
{
    return collect_rec_parse(s, "rec", text, strlen(text), err, errlen);
}

static void test_rec_reader_values(void **state)
{
    struct series_store *s = series_store_create();
    struct series_label l[2] = {{"device", "eth,0;x=y"}, {"gpu", "0"}};
    char err[256];
    int64_t id;

    (void)state;
    assert_int_equal(parse(s,
                           COLLECT_REC_HEADER
                           "\r\n"
                           "2000,h%2C1,m_total,device=eth%2C0%3Bx%3Dy;"
                           "gpu=0,counter32,4294967290\r\n"
                           "\n"
                           "1000,h%2C1,m_total,gpu=0;device=eth%2C0%3Bx%"
                           "3Dy,counter32,5\n"
                           "1000,,g,,gauge,NaN\n"
                           "-5,%C3%A9,g,,gauge,-Inf\n"
                           "3000,h%2C1,m_total,device=eth%2C0%3Bx%3Dy;"
                           "gpu=0,counter64,1e3",
                           err, sizeof err),
                     5);
    id = series_store_find(s, "h,1", "m_total", l, 2);
    assert_true(id >= 0);
    assert_int_equal(series_kind(s, (uint32_t)id), SERIES_COUNTER);
    /* widened to 64 bits by the last line */
    assert_true(series_wrap(s, (uint32_t)id) == 18446744073709551616.0);
    assert_int_equal(series_len(s, (uint32_t)id), 3);
    assert_int_equal(series_times(s, (uint32_t)id)[0], 1000);
    assert_true(series_values(s, (uint32_t)id)[0] == 5);
    assert_true(series_values(s, (uint32_t)id)[1] == 4294967290.0);
    assert_true(series_values(s, (uint32_t)id)[2] == 1000);
    id = series_store_find(s, "", "g", NULL, 0);
    assert_true(id >= 0 && isnan(series_values(s, (uint32_t)id)[0]));
    id = series_store_find(s, "\xc3\xa9", "g", NULL, 0);
    assert_true(id >= 0 && series_times(s, (uint32_t)id)[0] == -5);
    assert_true(isinf(series_values(s, (uint32_t)id)[0]));
    series_store_destroy(s);
    /* empty input: no samples, fine */
    s = series_store_create();
    assert_int_equal(parse(s, "", err, sizeof err), 0);
    series_store_destroy(s);
}

static void test_rec_reader_errors(void **state)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"time,entity\n", "rec:1:1: expected the header"},
        {COLLECT_REC_HEADER "\n1,h,m,,gauge\n",
         "rec:2:13: expected 6 fields, found 5"},
        {COLLECT_REC_HEADER "\n1,h,m,,gauge,1,2\n",
         "rec:2:15: expected 6 fields, found more"},
        {COLLECT_REC_HEADER "\nx,h,m,,gauge,1\n",
         "rec:2:1: expected the time in Unix ns"},
        {COLLECT_REC_HEADER "\n99999999999999999999,h,m,,gauge,1\n",
         "rec:2:1: time out of the int64 range"},
        {COLLECT_REC_HEADER "\n1,h%2,m,,gauge,1\n",
         "rec:2:4: expected two hex digits after % in the entity"},
        {COLLECT_REC_HEADER "\n1,h%00,m,,gauge,1\n",
         "rec:2:4: NUL (%00) in the entity"},
        {COLLECT_REC_HEADER "\n1,h,m\"x,,gauge,1\n",
         "rec:2:6: byte 0x22 must be written %22 in the metric"},
        {COLLECT_REC_HEADER "\n1,h,,,gauge,1\n",
         "rec:2:5: expected a metric name"},
        {COLLECT_REC_HEADER "\n1,h,m,9a=1,gauge,1\n",
         "rec:2:7: expected a label name"},
        {COLLECT_REC_HEADER "\n1,h,m,a,gauge,1\n",
         "rec:2:8: expected '=' after the label name"},
        {COLLECT_REC_HEADER "\n1,h,m,a=1;,gauge,1\n",
         "rec:2:11: expected a label after ';'"},
        {COLLECT_REC_HEADER "\n1,h,m,a=1;a=2,gauge,1\n",
         "rec:2:7: a label name given twice"},
        {COLLECT_REC_HEADER "\n1,h,m,a=%FF,gauge,1\n",
         "rec:2:9: the label value is not valid UTF-8"},
        {COLLECT_REC_HEADER "\n1,h,m,,counter16,1\n",
         "rec:2:8: expected a kind: gauge, counter, counter32 or counter64"},
        {COLLECT_REC_HEADER "\n1,h,m,,gauge,one\n",
         "rec:2:14: expected a number, NaN, +Inf or -Inf"},
        {COLLECT_REC_HEADER "\n1,h,m,,gauge,1\n2,h,m,,counter,2\n",
         "rec:3:8: series m is a counter here and a gauge before"},
    };
    char err[256];
    int wrong = 0;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct series_store *s = series_store_create();

        assert_int_equal(parse(s, bad[i].text, err, sizeof err),
                         -INGEST_E_MALFORMED);
        if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0) {
            printf("case %zu: got \"%s\", want \"%s...\"\n", i, err,
                   bad[i].msg);
            wrong++;
        }
        series_store_destroy(s);
    }
    assert_int_equal(wrong, 0);
}

/* Strings with every byte the format escapes survive a write and a read. */
static void test_rec_write_store_round_trip(void **state)
{
    struct series_store *a = series_store_create(), *b = series_store_create();
    struct series_label l[2] = {{"x", "a,b;c=d\"e%f\ng\x7f"},
                                {"y", "caf\xc3\xa9"}};
    struct series_desc d = {"node 1,%",     "m",         l, 2,
                            SERIES_COUNTER, 4294967296.0};
    char *text = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int64_t id = series_store_intern(a, &d);

    (void)state;
    assert_true(id >= 0);
    series_store_append(a, (uint32_t)id, 1, 0.1);
    series_store_append(a, (uint32_t)id, 2, 1e300);
    series_store_append(a, (uint32_t)id, 3, NAN);
    d.metric = "g";
    d.kind = SERIES_GAUGE;
    d.wrap = 0;
    id = series_store_intern(a, &d);
    series_store_append(a, (uint32_t)id, -7, -0.0);
    assert_int_equal(collect_rec_write_store(f, a, err, sizeof err), 0);
    fclose(f);
    assert_int_equal(collect_rec_parse(b, "mem", text, len, err, sizeof err),
                     4);
    assert_same_store(a, b);
    assert_null(strchr(text, '"'));
    free(text);
    series_store_destroy(a);
    series_store_destroy(b);
}

/* ---- HTTP */

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

static long http(int port, const char *path, const char *method, struct body *b,
                 char **ctype)
{
    CURL *h = curl_easy_init();
    char url[128];
    long code = 0;
    char *ct = NULL;

    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype)
        *ctype = ct ? strdup(ct) : NULL;
    curl_easy_cleanup(h);
    return code;
}

static void test_http_metrics(void **state)
{
    char *root = testlib_temp_dir("collect");
    struct collect_http *h;
    struct collector *c;
    struct body b = {0};
    char err[256], *ct, *pg;

    (void)state;
    put_netdev(root, 123);
    c = make(root, "net", 64);
    tick(c, T0);
    h = collect_http_start(c, "127.0.0.1:0", err, sizeof err);
    if (!h)
        fail_msg("collect_http_start: %s", err);
    assert_int_equal(http(collect_http_port(h), "/metrics", "GET", &b, &ct),
                     200);
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    pg = page(c);
    assert_string_equal(b.p, pg);
    assert_line(b.p, "node_network_receive_bytes_total{device=\"eth0\"} 123");
    free(pg);
    free(ct);
    free(b.p);
    b = (struct body){0};
    assert_int_equal(http(collect_http_port(h), "/other", "GET", &b, NULL),
                     404);
    free(b.p);
    b = (struct body){0};
    assert_int_equal(http(collect_http_port(h), "/metrics", "DELETE", &b, NULL),
                     405);
    free(b.p);
    /* the port is taken: a second server cannot start */
    {
        char at[64];

        snprintf(at, sizeof at, "127.0.0.1:%d", collect_http_port(h));
        assert_null(collect_http_start(c, at, err, sizeof err));
        assert_non_null(strstr(err, "Address already in use"));
        assert_null(collect_http_start(c, "nonsense", err, sizeof err));
    }
    collect_http_stop(h);
    collect_destroy(c);
    testlib_remove_tree(root);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_exact),
        cmocka_unit_test(test_net_wrap32_and_reset),
        cmocka_unit_test(test_net_widens),
        cmocka_unit_test(test_net_sysfs_fallback),
        cmocka_unit_test(test_net_interface_goes_and_comes_back),
        cmocka_unit_test(test_tcp_exact),
        cmocka_unit_test(test_cpu_exact),
        cmocka_unit_test(test_pressure_exact),
        cmocka_unit_test(test_pcie_degraded),
        cmocka_unit_test(test_aer_parsed),
        cmocka_unit_test(test_rdma),
        cmocka_unit_test(test_missing_sources_said_once),
        cmocka_unit_test(test_core_metrics),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_recording_round_trip),
        cmocka_unit_test(test_recording_round_trip_gzip),
        cmocka_unit_test(test_recording_whole_lines),
        cmocka_unit_test(test_rec_reader_values),
        cmocka_unit_test(test_rec_reader_errors),
        cmocka_unit_test(test_rec_write_store_round_trip),
        cmocka_unit_test(test_http_metrics),
    };

    curl_global_init(CURL_GLOBAL_ALL);
    log_set_level(LOG_ERROR); /* sources left out are expected here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
