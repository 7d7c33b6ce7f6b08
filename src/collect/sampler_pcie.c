/* sampler_pcie: PCIe link state on slow ticks, for every device under
 * /sys/bus/pci/devices that has one: current and maximum link speed
 * (transfers per second) and width (lanes), with node_exporter's
 * pcidevice names and labels (segment, bus, device, function), and
 * skewscope_pcie_link_degraded{aspect="speed"|"width"}: 1 while the link
 * runs below its maximum. A GPU lowers its link speed when idle to save
 * power, so a degraded speed matters under load; a degraded width (a lane
 * that failed training, a card half out of its slot) does not come back
 * by itself. node_pcidevice_info ties a device to its upstream port
 * (parent_*) and says what it is (class_id, vendor_id, device_id). The
 * device list is read again each slow tick (hot plug). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/sampler.h"

#define SLOW_GAUGE(n, h)                                                       \
    {                                                                          \
        n, h, SERIES_GAUGE, COLLECT_T_GAUGE, 0, COLLECT_F_SLOW                 \
    }

static const struct collect_family fam_cur_speed =
    SLOW_GAUGE("node_pcidevice_current_link_transfers_per_second",
               "Current link speed in transfers per second (8 GT/s = 8e9)");
static const struct collect_family fam_max_speed =
    SLOW_GAUGE("node_pcidevice_max_link_transfers_per_second",
               "Maximum link speed in transfers per second");
static const struct collect_family fam_cur_width = SLOW_GAUGE(
    "node_pcidevice_current_link_width", "Current link width (lanes)");
static const struct collect_family fam_max_width =
    SLOW_GAUGE("node_pcidevice_max_link_width", "Maximum link width (lanes)");
static const struct collect_family fam_degraded = SLOW_GAUGE(
    "skewscope_pcie_link_degraded",
    "1 while the link runs below its maximum speed or width (aspect label)");
static const struct collect_family fam_info =
    SLOW_GAUGE("node_pcidevice_info",
               "Always 1: a PCIe device, its upstream device and its IDs");

bool collect_pci_addr(const char *name, struct collect_pci_addr *a)
{
    const char *c1 = strchr(name, ':'), *c2, *dot;
    size_t sl;

    if (!c1 || !(c2 = strchr(c1 + 1, ':')) || !(dot = strchr(c2 + 1, '.')))
        return false;
    sl = (size_t)(c1 - name);
    if (sl == 0 || sl >= sizeof(a->segment) || c2 - c1 != 3 || dot - c2 != 3 ||
        strlen(dot + 1) != 1)
        return false;
    memcpy(a->segment, name, sl);
    a->segment[sl] = 0;
    memcpy(a->bus, c1 + 1, 2);
    a->bus[2] = 0;
    memcpy(a->device, c2 + 1, 2);
    a->device[2] = 0;
    a->function[0] = dot[1];
    a->function[1] = 0;
    return true;
}

void collect_pci_labels(const struct collect_pci_addr *a,
                        struct series_label l[4])
{
    l[0] = (struct series_label){"segment", a->segment};
    l[1] = (struct series_label){"bus", a->bus};
    l[2] = (struct series_label){"device", a->device};
    l[3] = (struct series_label){"function", a->function};
}

/* "16.0 GT/s PCIe", "8 GT/s", "2.5 GT/s": transfers per second; false for
 * "Unknown" and anything else. */
static bool parse_speed(const char *text, double *tps)
{
    char *end;
    double v = strtod(text, &end);

    if (end == text || v <= 0)
        return false;
    while (*end == ' ')
        end++;
    if (strncmp(end, "GT/s", 4) != 0)
        return false;
    *tps = v * 1e9;
    return true;
}

static bool read_speed(struct collect_src *src, const char *dev,
                       const char *attr, double *tps)
{
    char path[512], text[64];

    return collect_path(src, path, sizeof path, "/sys/bus/pci/devices/%s/%s",
                        dev, attr) &&
           collect_read_text(path, text, sizeof text) > 0 &&
           parse_speed(text, tps);
}

static bool read_num(struct collect_src *src, const char *dev, const char *attr,
                     double *v)
{
    char path[512];

    return collect_path(src, path, sizeof path, "/sys/bus/pci/devices/%s/%s",
                        dev, attr) &&
           collect_read_double(path, v);
}

static void put(struct collect_src *src, const struct collect_family *f,
                const struct series_label *l, size_t n, double v)
{
    collect_put(src, collect_series(src, f, l, n), v);
}

/* node_pcidevice_info: the parent is the directory above the device in
 * its /sys/devices path, when that is a PCI device too. */
static void put_info(struct collect_src *src, const char *dev,
                     const struct series_label addr[4])
{
    static const char *const ids[3][2] = {{"class", "class_id"},
                                          {"vendor", "vendor_id"},
                                          {"device", "device_id"}};
    char path[512], link[1024], text[3][32];
    struct series_label l[11];
    struct collect_pci_addr pa;
    size_t n = 4;
    ssize_t ll;

    memcpy(l, addr, 4 * sizeof(*l));
    if (collect_path(src, path, sizeof path, "/sys/bus/pci/devices/%s", dev) &&
        (ll = readlink(path, link, sizeof link - 1)) > 0) {
        char *slash;

        link[ll] = 0;
        if ((slash = strrchr(link, '/'))) {
            *slash = 0;
            slash = strrchr(link, '/');
            if (collect_pci_addr(slash ? slash + 1 : link, &pa)) {
                l[n++] = (struct series_label){"parent_segment", pa.segment};
                l[n++] = (struct series_label){"parent_bus", pa.bus};
                l[n++] = (struct series_label){"parent_device", pa.device};
                l[n++] = (struct series_label){"parent_function", pa.function};
            }
        }
    }
    for (int i = 0; i < 3; i++)
        if (collect_path(src, path, sizeof path, "/sys/bus/pci/devices/%s/%s",
                         dev, ids[i][0]) &&
            collect_read_text(path, text[i], sizeof text[i]) > 0)
            l[n++] = (struct series_label){ids[i][1], text[i]};
    put(src, &fam_info, l, n, 1);
}

/* One device; false when it has no link state. */
static bool sample_device(struct collect_src *src, const char *dev)
{
    struct collect_pci_addr a;
    struct series_label l[5];
    double cs, ms, cw, mw;
    bool has_cs, has_ms, has_cw, has_mw;

    if (!collect_pci_addr(dev, &a))
        return false;
    has_cs = read_speed(src, dev, "current_link_speed", &cs);
    has_ms = read_speed(src, dev, "max_link_speed", &ms);
    has_cw = read_num(src, dev, "current_link_width", &cw);
    has_mw = read_num(src, dev, "max_link_width", &mw);
    if (!has_cs && !has_ms && !has_cw && !has_mw)
        return false;
    collect_pci_labels(&a, l);
    if (has_cs)
        put(src, &fam_cur_speed, l, 4, cs);
    if (has_ms)
        put(src, &fam_max_speed, l, 4, ms);
    if (has_cw)
        put(src, &fam_cur_width, l, 4, cw);
    if (has_mw)
        put(src, &fam_max_width, l, 4, mw);
    if (has_cs && has_ms) {
        l[4] = (struct series_label){"aspect", "speed"};
        put(src, &fam_degraded, l, 5, cs < ms);
    }
    if (has_cw && has_mw) {
        l[4] = (struct series_label){"aspect", "width"};
        put(src, &fam_degraded, l, 5, cw < mw);
    }
    put_info(src, dev, l);
    return true;
}

/* Every device with link state; returns how many, or -1 (errno). */
static int scan(struct collect_src *src)
{
    char path[512];
    struct dirent *e;
    DIR *d;
    int n = 0;

    if (!collect_path(src, path, sizeof path, "/sys/bus/pci/devices") ||
        !(d = opendir(path)))
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n += sample_device(src, e->d_name);
    closedir(d);
    return n;
}

int collect_pci_count(const struct collect_src *src, const char *attr)
{
    char path[512], p2[1024];
    struct dirent *e;
    DIR *d;
    int n = 0;

    if (!collect_path(src, path, sizeof path, "/sys/bus/pci/devices") ||
        !(d = opendir(path)))
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && snprintf(p2, sizeof p2, "%s/%s/%s", path,
                                            e->d_name, attr) < (int)sizeof p2)
            n += access(p2, R_OK) == 0;
    closedir(d);
    return n;
}

int collect_pci_require(const struct collect_src *src, const char *attr,
                        const char *has, const char *hint, char *why,
                        size_t whylen)
{
    int n = collect_pci_count(src, attr);

    if (n < 0) {
        snprintf(why, whylen, "%s/sys/bus/pci/devices: %s", collect_root(src),
                 strerror(errno));
        return -1;
    }
    if (!n) {
        snprintf(why, whylen,
                 "no device under %s/sys/bus/pci/devices has %s (%s)",
                 collect_root(src), has, hint);
        return -1;
    }
    return 0;
}

static int pcie_open(struct collect_src *src, void **state, char *why,
                     size_t whylen)
{
    *state = NULL;
    return collect_pci_require(src, "current_link_speed", "PCIe link state",
                               "a virtual machine without PCIe passthrough?",
                               why, whylen);
}

static int pcie_sample(void *state, struct collect_src *src, bool slow)
{
    (void)state;
    if (!slow)
        return 0;
    if (scan(src) < 0) {
        collect_src_error(src, "/sys/bus/pci/devices: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void pcie_close(void *state)
{
    (void)state;
}

const struct collect_sampler_ops collect_pcie_ops = {"pcie", pcie_open,
                                                     pcie_sample, pcie_close};
