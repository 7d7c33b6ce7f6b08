/* sampler_aer: PCIe Advanced Error Reporting counters on slow ticks, from
 * /sys/bus/pci/devices/<dev>/aer_dev_{correctable,nonfatal,fatal} (one
 * "Name count" line per error type and a TOTAL_ERR_* line) and, on root
 * ports, aer_rootport_total_err_{cor,nonfatal,fatal}:
 *   skewscope_pcie_aer_errors_total{segment,bus,device,function,severity,
 *                                   error}  per error type (RxErr, BadTLP,
 *                                   BadDLLP, Timeout, ...: the kernel's names)
 *   skewscope_pcie_aer_reports_total{...,severity}    the TOTAL_ERR_* lines:
 *                                   error messages received (one may set
 *                                   several error bits)
 *   skewscope_pcie_aer_rootport_reports_total{...,severity}
 * severity is correctable, nonfatal or fatal. Rising correctable counts
 * (BadTLP, BadDLLP, Rollover, Timeout) are what a marginal link shows
 * before it downtrains. The counters are 64-bit; absent on kernels
 * without CONFIG_PCIEAER or when firmware keeps AER to itself. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/sampler.h"

#define SLOW_COUNTER(n, h)                                                     \
    {                                                                          \
        n, h, SERIES_COUNTER, COLLECT_T_COUNTER, 0, COLLECT_F_SLOW             \
    }

static const struct collect_family fam_errors =
    SLOW_COUNTER("skewscope_pcie_aer_errors_total",
                 "AER errors of one type seen by the device (aer_dev_* files)");
static const struct collect_family fam_reports =
    SLOW_COUNTER("skewscope_pcie_aer_reports_total",
                 "AER error messages of one severity (the TOTAL_ERR_* lines)");
static const struct collect_family fam_root =
    SLOW_COUNTER("skewscope_pcie_aer_rootport_reports_total",
                 "AER error messages a root port received from below it");

static const char *const sev_file[3] = {"aer_dev_correctable",
                                        "aer_dev_nonfatal", "aer_dev_fatal"};
static const char *const root_file[3] = {"aer_rootport_total_err_cor",
                                         "aer_rootport_total_err_nonfatal",
                                         "aer_rootport_total_err_fatal"};
static const char *const sev[3] = {"correctable", "nonfatal", "fatal"};

/* One aer_dev_* file: "RxErr 0\nBadTLP 3\n...\nTOTAL_ERR_COR 3\n". */
static void dev_file(struct collect_src *src, struct series_label l[6],
                     char *text, int k)
{
    char *line, *save = NULL;

    l[4] = (struct series_label){"severity", sev[k]};
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        const char *p;
        uint64_t v;

        if (!sp || sp == line)
            continue;
        *sp = 0;
        p = sp + 1;
        if (!collect_parse_u64(&p, &v))
            continue;
        if (!strncmp(line, "TOTAL_ERR_", 10)) {
            collect_put(src, collect_series(src, &fam_reports, l, 5),
                        (double)v);
        } else {
            l[5] = (struct series_label){"error", line};
            collect_put(src, collect_series(src, &fam_errors, l, 6), (double)v);
        }
    }
}

static void sample_device(struct collect_src *src, const char *dev)
{
    struct collect_pci_addr a;
    struct series_label l[6];
    char path[512], text[4096];
    double v;

    if (!collect_pci_addr(dev, &a))
        return;
    collect_pci_labels(&a, l);
    for (int k = 0; k < 3; k++) {
        if (collect_path(src, path, sizeof path, "/sys/bus/pci/devices/%s/%s",
                         dev, sev_file[k]) &&
            collect_read_text(path, text, sizeof text) > 0)
            dev_file(src, l, text, k);
        if (collect_path(src, path, sizeof path, "/sys/bus/pci/devices/%s/%s",
                         dev, root_file[k]) &&
            collect_read_double(path, &v)) {
            l[4] = (struct series_label){"severity", sev[k]};
            collect_put(src, collect_series(src, &fam_root, l, 5), v);
        }
    }
}

static int aer_open(struct collect_src *src, void **state, char *why,
                    size_t whylen)
{
    *state = NULL;
    return collect_pci_require(
        src, "aer_dev_correctable", "AER counters",
        "a kernel without CONFIG_PCIEAER, firmware-first error handling, "
        "or no PCIe",
        why, whylen);
}

static int aer_sample(void *state, struct collect_src *src, bool slow)
{
    char path[512];
    struct dirent *e;
    DIR *d;

    (void)state;
    if (!slow)
        return 0;
    if (!collect_path(src, path, sizeof path, "/sys/bus/pci/devices") ||
        !(d = opendir(path))) {
        collect_src_error(src, "%s: %s", path, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            sample_device(src, e->d_name);
    closedir(d);
    return 0;
}

static void aer_close(void *state)
{
    (void)state;
}

const struct collect_sampler_ops collect_aer_ops = {"aer", aer_open, aer_sample,
                                                    aer_close};
