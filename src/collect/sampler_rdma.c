/* sampler_rdma: InfiniBand / RoCE port counters from
 * /sys/class/infiniband/<dev>/ports/<port>/, on slow ticks (each read of a
 * port counter may be a firmware query; `--fast rdma` reads them every
 * tick). counters/: node_exporter's infiniband names where it has one
 * (port_rcv_data and port_xmit_data count 4-byte words: multiplied by 4 to
 * bytes, as node_exporter does), every other file as
 * skewscope_rdma_port_counter_total{counter=FILE}; hw_counters/ (the
 * driver's own: RoCE congestion notifications, retransmits, out-of-
 * sequence, ...) as skewscope_rdma_hw_counter_total{counter=FILE}. Port
 * state, physical state and rate as node_exporter's gauges. Labels:
 * device, port. Counters are 64-bit (the kernel reads the extended
 * counters when the port has them; legacy 32-bit ones saturate, they do
 * not wrap). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/sampler.h"

#define RC(n, h, fl)                                                           \
    {                                                                          \
        n, h, SERIES_COUNTER, COLLECT_T_COUNTER, COLLECT_WRAP64,               \
            COLLECT_F_SLOW | (fl)                                              \
    }
#define RG(n, h)                                                               \
    {                                                                          \
        n, h, SERIES_GAUGE, COLLECT_T_GAUGE, 0, COLLECT_F_SLOW                 \
    }

static const struct {
    const char *file;
    double scale;
    struct collect_family fam;
} known[] = {
    {"port_rcv_data", 4,
     RC("node_infiniband_port_data_received_bytes_total",
        "Data bytes received on the port", COLLECT_F_PEAK)},
    {"port_xmit_data", 4,
     RC("node_infiniband_port_data_transmitted_bytes_total",
        "Data bytes transmitted on the port", COLLECT_F_PEAK)},
    {"port_rcv_packets", 1,
     RC("node_infiniband_port_packets_received_total",
        "Packets received on the port", COLLECT_F_PEAK)},
    {"port_xmit_packets", 1,
     RC("node_infiniband_port_packets_transmitted_total",
        "Packets transmitted on the port", COLLECT_F_PEAK)},
    {"port_rcv_errors", 1,
     RC("node_infiniband_port_errors_received_total",
        "Packets received with an error", 0)},
    {"port_xmit_discards", 1,
     RC("node_infiniband_port_discards_transmitted_total",
        "Outbound packets discarded (port down or congested)", 0)},
    {"port_rcv_constraint_errors", 1,
     RC("node_infiniband_port_constraint_errors_received_total",
        "Inbound packets discarded by constraints", 0)},
    {"port_xmit_constraint_errors", 1,
     RC("node_infiniband_port_constraint_errors_transmitted_total",
        "Outbound packets discarded by constraints", 0)},
    {"port_xmit_wait", 1,
     RC("node_infiniband_port_transmit_wait_total",
        "Ticks the port had data to send but sent none (no credits)",
        COLLECT_F_PEAK)},
    {"link_downed", 1,
     RC("node_infiniband_link_downed_total",
        "Times the link failed to recover from an error and went down", 0)},
    {"link_error_recovery", 1,
     RC("node_infiniband_link_error_recovery_total",
        "Times the link recovered from an error", 0)},
    {"unicast_rcv_packets", 1,
     RC("node_infiniband_unicast_packets_received_total",
        "Unicast packets received", 0)},
    {"unicast_xmit_packets", 1,
     RC("node_infiniband_unicast_packets_transmitted_total",
        "Unicast packets transmitted", 0)},
    {"multicast_rcv_packets", 1,
     RC("node_infiniband_multicast_packets_received_total",
        "Multicast packets received", 0)},
    {"multicast_xmit_packets", 1,
     RC("node_infiniband_multicast_packets_transmitted_total",
        "Multicast packets transmitted", 0)},
};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

static const struct collect_family fam_other =
    RC("skewscope_rdma_port_counter_total",
       "Other port counters (counters/FILE, the counter label)", 0);
static const struct collect_family fam_hw =
    RC("skewscope_rdma_hw_counter_total",
       "Driver counters of the port (hw_counters/FILE, the counter label)", 0);
static const struct collect_family fam_state =
    RG("node_infiniband_state_id",
       "Port state (1 down, 2 init, 3 armed, 4 active, 5 active defer)");
static const struct collect_family fam_phys = RG(
    "node_infiniband_physical_state_id",
    "Physical port state (2 polling, 3 disabled, 5 link up, 6 error recovery)");
static const struct collect_family fam_rate = RG(
    "node_infiniband_rate_bytes_per_second", "Port rate in bytes per second");

static void put(struct collect_src *src, const struct collect_family *f,
                const struct series_label *l, size_t n, double v)
{
    collect_put(src, collect_series(src, f, l, n), v);
}

/* counters/ or hw_counters/ of one port. */
static void counter_dir(struct collect_src *src, struct series_label l[3],
                        const char *dir, bool hw)
{
    struct dirent *e;
    DIR *d = opendir(dir);
    char path[1024];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        double v;
        size_t k = NKNOWN;

        if (e->d_name[0] == '.' || (hw && !strcmp(e->d_name, "lifespan")))
            continue; /* lifespan: the counters' cache time, not a count */
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
                (int)sizeof path ||
            !collect_read_double(path, &v))
            continue;
        if (!hw)
            for (k = 0; k < NKNOWN && strcmp(known[k].file, e->d_name); k++)
                ;
        if (k < NKNOWN) {
            put(src, &known[k].fam, l, 2, v * known[k].scale);
        } else {
            l[2] = (struct series_label){"counter", e->d_name};
            put(src, hw ? &fam_hw : &fam_other, l, 3, v);
        }
    }
    closedir(d);
}

/* "4: ACTIVE" -> 4; "100 Gb/sec (4X EDR)" -> bytes/s. */
static void port_state(struct collect_src *src, struct series_label l[3],
                       const char *port_dir)
{
    char path[1100], text[128], *end;
    double v;

    if (snprintf(path, sizeof path, "%s/state", port_dir) < (int)sizeof path &&
        collect_read_text(path, text, sizeof text) > 0 &&
        (v = strtod(text, &end), end != text))
        put(src, &fam_state, l, 2, v);
    if (snprintf(path, sizeof path, "%s/phys_state", port_dir) <
            (int)sizeof path &&
        collect_read_text(path, text, sizeof text) > 0 &&
        (v = strtod(text, &end), end != text))
        put(src, &fam_phys, l, 2, v);
    if (snprintf(path, sizeof path, "%s/rate", port_dir) < (int)sizeof path &&
        collect_read_text(path, text, sizeof text) > 0 &&
        (v = strtod(text, &end), end != text) && strstr(end, "Gb/sec"))
        put(src, &fam_rate, l, 2, v * 1e9 / 8);
}

static void sample_device(struct collect_src *src, const char *base,
                          const char *dev)
{
    char ports[1024], port_dir[1024], dir[1100];
    struct dirent *e;
    DIR *d;

    if (snprintf(ports, sizeof ports, "%s/%s/ports", base, dev) >=
            (int)sizeof ports ||
        !(d = opendir(ports)))
        return;
    while ((e = readdir(d)) != NULL) {
        struct series_label l[3] = {{"device", dev}, {"port", e->d_name}};

        if (e->d_name[0] == '.')
            continue;
        if (snprintf(port_dir, sizeof port_dir, "%s/%s", ports, e->d_name) >=
            (int)sizeof port_dir)
            continue;
        port_state(src, l, port_dir);
        if (snprintf(dir, sizeof dir, "%s/counters", port_dir) <
            (int)sizeof dir)
            counter_dir(src, l, dir, false);
        if (snprintf(dir, sizeof dir, "%s/hw_counters", port_dir) <
            (int)sizeof dir)
            counter_dir(src, l, dir, true);
    }
    closedir(d);
}

/* Devices under /sys/class/infiniband; -1 when it cannot be read. */
static int each_device(struct collect_src *src, bool sample)
{
    char base[512];
    struct dirent *e;
    DIR *d;
    int n = 0;

    if (!collect_path(src, base, sizeof base, "/sys/class/infiniband") ||
        !(d = opendir(base)))
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        if (sample)
            sample_device(src, base, e->d_name);
    }
    closedir(d);
    return n;
}

static int rdma_open(struct collect_src *src, void **state, char *why,
                     size_t whylen)
{
    if (each_device(src, false) <= 0) {
        snprintf(why, whylen, "no RDMA device in %s/sys/class/infiniband",
                 collect_root(src));
        return -1;
    }
    *state = NULL;
    return 0;
}

static int rdma_sample(void *state, struct collect_src *src, bool slow)
{
    (void)state;
    if (!slow)
        return 0;
    if (each_device(src, true) < 0) {
        collect_src_error(src, "/sys/class/infiniband: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void rdma_close(void *state)
{
    (void)state;
}

const struct collect_sampler_ops collect_rdma_ops = {"rdma", rdma_open,
                                                     rdma_sample, rdma_close};
