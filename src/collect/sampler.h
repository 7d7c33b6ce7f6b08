/* sampler: the private interface between the collector core (collect.c)
 * and its samplers (sampler_<source>.c), in the manner of linuxptp's
 * servo_private.h. Adding a source means one file with one ops table and
 * one line in collect.c's registry.
 *
 * A sampler describes its metrics as static families (name, help, kind,
 * wrap, cadence), interns each series once with collect_series() (caching
 * the id: interning hashes the key) and, each round, puts values with
 * collect_put(). It reads its files under collect_root() through the
 * helpers below, so that tests can run it on a fake /proc and /sys tree.
 *
 * Threads: every function here runs on the sampling thread, inside a tick
 * (the core holds its lock). */
#ifndef SKEWSCOPE_COLLECT_SAMPLER_H
#define SKEWSCOPE_COLLECT_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/series.h"

struct collect_src;
struct collect_config;

/* TYPE on /metrics. node_exporter's netstat values are counters shown as
 * untyped (their names lack _total). */
enum collect_type {
    COLLECT_T_GAUGE = 0,
    COLLECT_T_COUNTER,
    COLLECT_T_UNTYPED,
};

/* The counter's width is the kernel's `unsigned long` (collect.h). */
#define COLLECT_WRAP_ULONG (-1.0)
#define COLLECT_WRAP32 4294967296.0
#define COLLECT_WRAP64 18446744073709551616.0

enum {
    COLLECT_F_SLOW = 1, /* sampled on slow ticks only */
    COLLECT_F_PEAK = 2, /* counter: its peak rate over the window on
                           /metrics (skewscope_collect_peak_rate_per_second) */
};

/* One metric family. Static; the core keeps the pointer. */
struct collect_family {
    const char *name; /* Prometheus metric name, also the store's metric */
    const char *help; /* one line, with the unit */
    enum series_kind kind;
    enum collect_type type;
    double wrap; /* counters: a modulus, COLLECT_WRAP_ULONG, or 0 = never */
    unsigned flags;
};

struct collect_sampler_ops {
    const char *name; /* as in COLLECT_SOURCES */
    /* Look for the source. Returns 0 with *state set, or -1 with why it
     * is not available in why ("no RDMA device in /sys/class/infiniband"),
     * nothing allocated. */
    int (*open)(struct collect_src *src, void **state, char *why,
                size_t whylen);
    /* One round: the fast families, and the slow ones too when slow.
     * Returns 0, or -1 when nothing could be read this round (the core
     * logs it, rate-limited, with collect_src_error()). */
    int (*sample)(void *state, struct collect_src *src, bool slow);
    void (*close)(void *state);
};

extern const struct collect_sampler_ops collect_net_ops;
extern const struct collect_sampler_ops collect_tcp_ops;
extern const struct collect_sampler_ops collect_cpu_ops;
extern const struct collect_sampler_ops collect_pressure_ops;
extern const struct collect_sampler_ops collect_pcie_ops;
extern const struct collect_sampler_ops collect_aer_ops;
extern const struct collect_sampler_ops collect_rdma_ops;
extern const struct collect_sampler_ops collect_nvml_ops;

/* ---- for samplers */

/* The root prefix without a trailing '/' ("" for "/"). */
const char *collect_root(const struct collect_src *src);
const struct collect_config *collect_cfg(const struct collect_src *src);

/* The series (entity, f->name, labels) of this sampler: its id, or
 * SERIES_NONE when out of memory (collect_put ignores SERIES_NONE). The
 * same key gives the same id (an interface that comes back continues its
 * series). */
uint32_t collect_series(struct collect_src *src, const struct collect_family *f,
                        const struct series_label *labels, size_t n);

/* Append v to series id at this round's time. For counters the core also
 * advances the total /metrics shows. */
void collect_put(struct collect_src *src, uint32_t id, double v);

/* The last value put into series id (raw), if any. */
bool collect_last(const struct collect_src *src, uint32_t id, double *v);

/* Record why a round failed, for the core's log line. */
void collect_src_error(struct collect_src *src, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- files under the root */

/* A file read again every round through one descriptor (pread from 0:
 * procfs and sysfs regenerate the text); reopened when a read fails. */
struct collect_file {
    char *path; /* absolute, root included */
    int fd;
    char *buf; /* the last content, NUL-terminated */
    size_t cap;
};

/* Set f up for root + rel ("/proc/net/dev"); returns 0, or -1 when it
 * cannot be opened (f left closed, errno set). */
int collect_file_open(const struct collect_src *src, struct collect_file *f,
                      const char *rel);
/* Read the whole file into f->buf; returns its length or -1 (errno). */
ssize_t collect_file_read(struct collect_file *f);
void collect_file_close(struct collect_file *f);

/* root + the printf-formatted rest into buf; false when it does not fit. */
bool collect_path(const struct collect_src *src, char *buf, size_t len,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Read a small file (an absolute path from collect_path) into buf,
 * NUL-terminated, trailing newline removed. Returns its length, or -1
 * (errno set: a sysfs attribute may refuse to be read, e.g. carrier of a
 * device that is down). */
ssize_t collect_read_text(const char *path, char *buf, size_t len);
/* The same, parsed as a decimal number (leading/trailing blanks allowed). */
bool collect_read_double(const char *path, double *v);

/* Parse an unsigned decimal at *p, skipping blanks first; advances *p.
 * False when there is none. Exact up to 2^64 - 1 (as a double). */
bool collect_parse_u64(const char **p, uint64_t *v);

/* ---- PCI (sampler_pcie.c; sampler_aer.c uses it too) */

/* A PCI address "0000:3b:00.0" split as node_exporter labels it. */
struct collect_pci_addr {
    char segment[16], bus[4], device[4], function[4];
};
/* False when name is not a PCI address. */
bool collect_pci_addr(const char *name, struct collect_pci_addr *a);
/* Its four labels into l[0..4) (strings point into a). */
void collect_pci_labels(const struct collect_pci_addr *a,
                        struct series_label l[4]);
/* How many devices under /sys/bus/pci/devices have the attribute file
 * attr; -1 (errno) when the directory cannot be read. */
int collect_pci_count(const struct collect_src *src, const char *attr);
/* A PCI sampler's open: 0 when some device has attr, else -1 with why
 * saying the directory cannot be read, or "no device under .../sys/bus/
 * pci/devices has <has> (<hint>)". */
int collect_pci_require(const struct collect_src *src, const char *attr,
                        const char *has, const char *hint, char *why,
                        size_t whylen);

#endif
