/* sampler_cpu: /proc/stat every tick: time per CPU and mode
 * (node_cpu_seconds_total{cpu,mode}, guest time apart as node_exporter
 * does), the same for all CPUs together (skewscope_cpu_all_seconds_total,
 * /proc/stat's "cpu" line), context switches, interrupts, forks, and the
 * run-queue gauges (procs_running, procs_blocked). Times come in USER_HZ
 * ticks and are stored in seconds. The kernel's per-CPU idle and iowait
 * times can step back slightly (NO_HZ accounting); a mode's value that
 * goes down is held at its previous one, as node_exporter does, so that
 * it is not taken for a counter reset. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/sampler.h"

#define NMODE 10
#define MAX_CPUS 65536

static const char *const modes[NMODE] = {
    "user", "nice",    "system", "idle",  "iowait",
    "irq",  "softirq", "steal",  "guest", "guest_nice"};

static const struct collect_family fam_cpu = {
    "node_cpu_seconds_total",
    "Seconds each CPU spent in each mode (/proc/stat)",
    SERIES_COUNTER,
    COLLECT_T_COUNTER,
    0,
    0};
static const struct collect_family fam_guest = {
    "node_cpu_guest_seconds_total",
    "Seconds each CPU spent running guests (mode user or nice)",
    SERIES_COUNTER,
    COLLECT_T_COUNTER,
    0,
    0};
static const struct collect_family fam_all = {
    "skewscope_cpu_all_seconds_total",
    "Seconds all CPUs together spent in each mode (/proc/stat's cpu line; "
    "guest and guest_nice included as modes)",
    SERIES_COUNTER,
    COLLECT_T_COUNTER,
    0,
    0};
static const struct collect_family fam_ctxt = {"node_context_switches_total",
                                               "Context switches",
                                               SERIES_COUNTER,
                                               COLLECT_T_COUNTER,
                                               0,
                                               0};
static const struct collect_family fam_intr = {"node_intr_total",
                                               "Interrupts serviced",
                                               SERIES_COUNTER,
                                               COLLECT_T_COUNTER,
                                               0,
                                               0};
static const struct collect_family fam_forks = {
    "node_forks_total", "Processes and threads created",
    SERIES_COUNTER,     COLLECT_T_COUNTER,
    COLLECT_WRAP_ULONG, 0};
static const struct collect_family fam_running = {"node_procs_running",
                                                  "Threads runnable now",
                                                  SERIES_GAUGE,
                                                  COLLECT_T_GAUGE,
                                                  0,
                                                  0};
static const struct collect_family fam_blocked = {"node_procs_blocked",
                                                  "Threads blocked on I/O now",
                                                  SERIES_GAUGE,
                                                  COLLECT_T_GAUGE,
                                                  0,
                                                  0};

struct cpu_ids {
    uint32_t id[NMODE];
    bool made;
};

struct cpu {
    struct collect_file stat;
    double tick_s; /* seconds per USER_HZ tick */
    struct cpu_ids all;
    struct cpu_ids *cpus;
    size_t ncpus;
    uint32_t ctxt, intr, forks, running, blocked;
};

static void make_ids(struct collect_src *src, struct cpu_ids *c, long cpu)
{
    char num[24];

    snprintf(num, sizeof num, "%ld", cpu);
    for (int m = 0; m < NMODE; m++) {
        /* node_exporter: guest and guest_nice are
         * node_cpu_guest_seconds_total{mode="user"|"nice"} */
        struct series_label l[2] = {{"cpu", num},
                                    {"mode", m >= 8 ? modes[m - 8] : modes[m]}};
        struct series_label all = {"mode", modes[m]};

        if (cpu < 0)
            c->id[m] = collect_series(src, &fam_all, &all, 1);
        else
            c->id[m] =
                collect_series(src, m >= 8 ? &fam_guest : &fam_cpu, l, 2);
    }
    c->made = true;
}

static struct cpu_ids *ids_of(struct cpu *s, struct collect_src *src, long n)
{
    if (n < 0)
        return s->all.made ? &s->all : (make_ids(src, &s->all, -1), &s->all);
    if (n >= MAX_CPUS)
        return NULL;
    if ((size_t)n >= s->ncpus) {
        size_t nc = (size_t)n + 1;
        struct cpu_ids *q = realloc(s->cpus, nc * sizeof(*q));

        if (!q)
            return NULL;
        memset(q + s->ncpus, 0, (nc - s->ncpus) * sizeof(*q));
        s->cpus = q;
        s->ncpus = nc;
    }
    if (!s->cpus[n].made)
        make_ids(src, &s->cpus[n], n);
    return &s->cpus[n];
}

/* "cpu ..." or "cpuN ...": up to ten tick counts. */
static void cpu_line(struct cpu *s, struct collect_src *src, const char *p)
{
    long n = -1;
    struct cpu_ids *c;
    uint64_t v;

    p += 3;
    if (*p >= '0' && *p <= '9') {
        char *end;

        n = strtol(p, &end, 10);
        p = end;
    }
    if (*p != ' ' || !(c = ids_of(s, src, n)))
        return;
    for (int m = 0; m < NMODE && collect_parse_u64(&p, &v); m++) {
        double x = (double)v * s->tick_s, prev;

        if (collect_last(src, c->id[m], &prev) && x < prev)
            x = prev; /* stepped back: hold */
        collect_put(src, c->id[m], x);
    }
}

static void scalar(struct collect_src *src, uint32_t id, const char *p)
{
    uint64_t v;

    if (collect_parse_u64(&p, &v))
        collect_put(src, id, (double)v);
}

static int cpu_open(struct collect_src *src, void **state, char *why,
                    size_t whylen)
{
    struct cpu *s = calloc(1, sizeof(*s));
    long hz = sysconf(_SC_CLK_TCK);

    if (!s) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (collect_file_open(src, &s->stat, "/proc/stat") < 0) {
        snprintf(why, whylen, "%s/proc/stat: %s", collect_root(src),
                 strerror(errno));
        free(s);
        return -1;
    }
    s->tick_s = 1.0 / (double)(hz > 0 ? hz : 100);
    s->ctxt = collect_series(src, &fam_ctxt, NULL, 0);
    s->intr = collect_series(src, &fam_intr, NULL, 0);
    s->forks = collect_series(src, &fam_forks, NULL, 0);
    s->running = collect_series(src, &fam_running, NULL, 0);
    s->blocked = collect_series(src, &fam_blocked, NULL, 0);
    *state = s;
    return 0;
}

static int cpu_sample(void *state, struct collect_src *src, bool slow)
{
    struct cpu *s = state;
    char *line, *save = NULL;

    (void)slow;
    if (collect_file_read(&s->stat) < 0) {
        collect_src_error(src, "%s: %s", s->stat.path, strerror(errno));
        return -1;
    }
    for (line = strtok_r(s->stat.buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "cpu", 3))
            cpu_line(s, src, line);
        else if (!strncmp(line, "ctxt ", 5))
            scalar(src, s->ctxt, line + 5);
        else if (!strncmp(line, "intr ", 5))
            scalar(src, s->intr, line + 5);
        else if (!strncmp(line, "processes ", 10))
            scalar(src, s->forks, line + 10);
        else if (!strncmp(line, "procs_running ", 14))
            scalar(src, s->running, line + 14);
        else if (!strncmp(line, "procs_blocked ", 14))
            scalar(src, s->blocked, line + 14);
    }
    return 0;
}

static void cpu_close(void *state)
{
    struct cpu *s = state;

    collect_file_close(&s->stat);
    free(s->cpus);
    free(s);
}

const struct collect_sampler_ops collect_cpu_ops = {"cpu", cpu_open, cpu_sample,
                                                    cpu_close};
