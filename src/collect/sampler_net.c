/* sampler_net: network interfaces. Every tick: the sixteen counters of
 * /proc/net/dev per interface (node_exporter's netdev names); when
 * /proc/net/dev cannot be read, the same sums from
 * /sys/class/net/<if>/statistics/ (what the kernel adds up for
 * /proc/net/dev). Slow ticks: link state from /sys/class/net/<if>/ --
 * carrier, carrier changes (link flaps), speed, operstate, MTU.
 * Counters are kernel `unsigned long`s (COLLECT_WRAP_ULONG); the carrier
 * change counts are 32-bit. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/sampler.h"

#define NDEV 16
#define NATTR 7
#define NAME_MAX_IF 32

#define CTR(n, h, fl)                                                          \
    {                                                                          \
        n, h, SERIES_COUNTER, COLLECT_T_COUNTER, COLLECT_WRAP_ULONG, fl        \
    }

/* In /proc/net/dev's column order. */
static const struct collect_family dev_fam[NDEV] = {
    CTR("node_network_receive_bytes_total", "Bytes received", COLLECT_F_PEAK),
    CTR("node_network_receive_packets_total", "Packets received",
        COLLECT_F_PEAK),
    CTR("node_network_receive_errs_total", "Receive errors", COLLECT_F_PEAK),
    CTR("node_network_receive_drop_total",
        "Received packets dropped (rx_dropped + rx_missed_errors)",
        COLLECT_F_PEAK),
    CTR("node_network_receive_fifo_total", "Receive FIFO overruns", 0),
    CTR("node_network_receive_frame_total",
        "Receive length, overrun, CRC and frame errors", 0),
    CTR("node_network_receive_compressed_total", "Compressed packets received",
        0),
    CTR("node_network_receive_multicast_total", "Multicast packets received",
        0),
    CTR("node_network_transmit_bytes_total", "Bytes transmitted",
        COLLECT_F_PEAK),
    CTR("node_network_transmit_packets_total", "Packets transmitted",
        COLLECT_F_PEAK),
    CTR("node_network_transmit_errs_total", "Transmit errors", COLLECT_F_PEAK),
    CTR("node_network_transmit_drop_total", "Transmitted packets dropped",
        COLLECT_F_PEAK),
    CTR("node_network_transmit_fifo_total", "Transmit FIFO errors", 0),
    CTR("node_network_transmit_colls_total", "Collisions", 0),
    CTR("node_network_transmit_carrier_total",
        "Transmit carrier, aborted, window and heartbeat errors", 0),
    CTR("node_network_transmit_compressed_total",
        "Compressed packets transmitted", 0),
};

/* statistics/ files summed into each column (sysfs fallback). */
static const char *const dev_files[NDEV][4] = {
    {"rx_bytes"},
    {"rx_packets"},
    {"rx_errors"},
    {"rx_dropped", "rx_missed_errors"},
    {"rx_fifo_errors"},
    {"rx_length_errors", "rx_over_errors", "rx_crc_errors", "rx_frame_errors"},
    {"rx_compressed"},
    {"multicast"},
    {"tx_bytes"},
    {"tx_packets"},
    {"tx_errors"},
    {"tx_dropped"},
    {"tx_fifo_errors"},
    {"collisions"},
    {"tx_carrier_errors", "tx_aborted_errors", "tx_window_errors",
     "tx_heartbeat_errors"},
    {"tx_compressed"},
};

enum { A_CARRIER, A_CHANGES, A_UP, A_DOWN, A_SPEED, A_OPER, A_MTU };

static const struct collect_family attr_fam[NATTR] = {
    {"node_network_carrier", "1 when the link has carrier, 0 when not",
     SERIES_GAUGE, COLLECT_T_GAUGE, 0, COLLECT_F_SLOW},
    {"node_network_carrier_changes_total",
     "Times the link went up or down (link flaps)", SERIES_COUNTER,
     COLLECT_T_COUNTER, COLLECT_WRAP32, COLLECT_F_SLOW},
    {"node_network_carrier_up_changes_total", "Times the link came up",
     SERIES_COUNTER, COLLECT_T_COUNTER, COLLECT_WRAP32, COLLECT_F_SLOW},
    {"node_network_carrier_down_changes_total", "Times the link went down",
     SERIES_COUNTER, COLLECT_T_COUNTER, COLLECT_WRAP32, COLLECT_F_SLOW},
    {"node_network_speed_bytes",
     "Link speed in bytes per second (absent when the driver does not say)",
     SERIES_GAUGE, COLLECT_T_GAUGE, 0, COLLECT_F_SLOW},
    {"node_network_up", "1 when the operational state is up", SERIES_GAUGE,
     COLLECT_T_GAUGE, 0, COLLECT_F_SLOW},
    {"node_network_mtu_bytes", "MTU in bytes", SERIES_GAUGE, COLLECT_T_GAUGE, 0,
     COLLECT_F_SLOW},
};

struct iface {
    char name[NAME_MAX_IF];
    uint32_t dev[NDEV];
    uint32_t attr[NATTR];
    bool seen;
};

struct net {
    struct collect_file dev; /* /proc/net/dev; closed in sysfs mode */
    bool sysfs;
    struct iface *ifs;
    size_t n, cap;
    size_t hint; /* interfaces come in the same order each read */
};

static struct iface *iface_get(struct net *s, struct collect_src *src,
                               const char *name, size_t len)
{
    struct series_label l = {"device", NULL};
    struct iface *f;

    if (len >= NAME_MAX_IF)
        return NULL;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = (s->hint + k) % s->n;

        if (strlen(s->ifs[i].name) == len &&
            !memcmp(s->ifs[i].name, name, len)) {
            s->hint = i + 1;
            return &s->ifs[i];
        }
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 8;
        struct iface *q = realloc(s->ifs, nc * sizeof(*q));

        if (!q)
            return NULL;
        s->ifs = q;
        s->cap = nc;
    }
    f = &s->ifs[s->n++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, len);
    l.value = f->name;
    for (int i = 0; i < NDEV; i++)
        f->dev[i] = collect_series(src, &dev_fam[i], &l, 1);
    for (int i = 0; i < NATTR; i++)
        f->attr[i] = collect_series(src, &attr_fam[i], &l, 1);
    s->hint = s->n;
    return f;
}

/* One line of /proc/net/dev: "  eth0: 1 2 ... 16". */
static void dev_line(struct net *s, struct collect_src *src, const char *p)
{
    const char *colon = strchr(p, ':'), *q;
    uint64_t v[NDEV];
    struct iface *f;
    int i;

    if (!colon)
        return;
    while (*p == ' ')
        p++;
    if (colon == p)
        return;
    q = colon + 1;
    for (i = 0; i < NDEV && collect_parse_u64(&q, &v[i]); i++)
        ;
    if (i < NDEV)
        return; /* not a line of sixteen counters */
    if (!(f = iface_get(s, src, p, (size_t)(colon - p))))
        return;
    f->seen = true;
    for (i = 0; i < NDEV; i++)
        collect_put(src, f->dev[i], (double)v[i]);
}

static int read_proc(struct net *s, struct collect_src *src)
{
    char *line, *save = NULL;
    int k = 0;

    if (collect_file_read(&s->dev) < 0) {
        collect_src_error(src, "%s: %s", s->dev.path, strerror(errno));
        return -1;
    }
    for (line = strtok_r(s->dev.buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        if (k++ >= 2) /* two header lines */
            dev_line(s, src, line);
    return 0;
}

static bool stat_sum(struct collect_src *src, const char *dev, int col,
                     double *sum)
{
    char path[512];
    double v;

    *sum = 0;
    for (int j = 0; j < 4 && dev_files[col][j]; j++) {
        if (!collect_path(src, path, sizeof path,
                          "/sys/class/net/%s/statistics/%s", dev,
                          dev_files[col][j]) ||
            !collect_read_double(path, &v))
            return j > 0; /* an optional part may be missing */
        *sum += v;
    }
    return true;
}

static int read_sysfs(struct net *s, struct collect_src *src)
{
    char path[512];
    struct dirent *e;
    DIR *d;

    if (!collect_path(src, path, sizeof path, "/sys/class/net") ||
        !(d = opendir(path))) {
        collect_src_error(src, "%s: %s", path, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        struct iface *f;
        double v;

        if (e->d_name[0] == '.' ||
            !(f = iface_get(s, src, e->d_name, strlen(e->d_name))))
            continue;
        f->seen = true;
        for (int i = 0; i < NDEV; i++)
            if (stat_sum(src, f->name, i, &v))
                collect_put(src, f->dev[i], v);
    }
    closedir(d);
    return 0;
}

static void read_attrs(struct collect_src *src, struct iface *f)
{
    static const char *const file[NATTR] = {"carrier",
                                            "carrier_changes",
                                            "carrier_up_count",
                                            "carrier_down_count",
                                            "speed",
                                            "operstate",
                                            "mtu"};
    char path[512], text[64];
    double v;

    for (int i = 0; i < NATTR; i++) {
        if (!collect_path(src, path, sizeof path, "/sys/class/net/%s/%s",
                          f->name, file[i]))
            continue;
        if (i == A_OPER) {
            if (collect_read_text(path, text, sizeof text) >= 0)
                collect_put(src, f->attr[i], !strcmp(text, "up"));
            continue;
        }
        if (!collect_read_double(path, &v))
            continue; /* e.g. carrier and speed of a link that is down */
        if (i == A_SPEED) {
            if (v < 0)
                continue;  /* -1: unknown */
            v *= 125000.0; /* Mb/s -> bytes/s */
        }
        collect_put(src, f->attr[i], v);
    }
}

static int net_open(struct collect_src *src, void **state, char *why,
                    size_t whylen)
{
    struct net *s = calloc(1, sizeof(*s));
    char path[512];
    DIR *d;

    if (!s) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (collect_file_open(src, &s->dev, "/proc/net/dev") == 0) {
        *state = s;
        return 0;
    }
    if (collect_path(src, path, sizeof path, "/sys/class/net") &&
        (d = opendir(path))) {
        closedir(d);
        s->sysfs = true;
        *state = s;
        return 0;
    }
    snprintf(why, whylen,
             "neither %s/proc/net/dev nor %s/sys/class/net can "
             "be read",
             collect_root(src), collect_root(src));
    free(s);
    return -1;
}

static int net_sample(void *state, struct collect_src *src, bool slow)
{
    struct net *s = state;
    int rc;

    for (size_t i = 0; i < s->n; i++)
        s->ifs[i].seen = false;
    rc = s->sysfs ? read_sysfs(s, src) : read_proc(s, src);
    if (slow)
        for (size_t i = 0; i < s->n; i++)
            if (s->ifs[i].seen)
                read_attrs(src, &s->ifs[i]);
    return rc;
}

static void net_close(void *state)
{
    struct net *s = state;

    collect_file_close(&s->dev);
    free(s->ifs);
    free(s);
}

const struct collect_sampler_ops collect_net_ops = {"net", net_open, net_sample,
                                                    net_close};
