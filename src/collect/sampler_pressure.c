/* sampler_pressure: Linux pressure stall information, /proc/pressure/{cpu,
 * io,memory,irq}. Every tick: the stall totals (node_exporter's
 * node_pressure_<resource>_{waiting,stalled}_seconds_total: "some" tasks
 * waiting, "full": all non-idle tasks stalled), from microseconds to
 * seconds. Slow ticks: the kernel's running averages as ratios
 * (skewscope_pressure_avg_ratio{resource,scope,window}); the kernel
 * updates them every 2 s. Absent on kernels without PSI or booted with
 * psi=0; irq pressure needs Linux 6.1 and CONFIG_IRQ_TIME_ACCOUNTING. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/sampler.h"

#define NRES 4

static const char *const res[NRES] = {"cpu", "io", "memory", "irq"};

#define TOTAL(n, h)                                                            \
    {                                                                          \
        n, h, SERIES_COUNTER, COLLECT_T_COUNTER, 0, 0                          \
    }

/* [resource][0 = some, 1 = full] */
static const struct collect_family totals[NRES][2] = {
    {TOTAL("node_pressure_cpu_waiting_seconds_total",
           "Seconds some runnable tasks waited for a CPU"),
     TOTAL("node_pressure_cpu_stalled_seconds_total",
           "Seconds all non-idle tasks waited for a CPU")},
    {TOTAL("node_pressure_io_waiting_seconds_total",
           "Seconds some tasks waited for I/O"),
     TOTAL("node_pressure_io_stalled_seconds_total",
           "Seconds all non-idle tasks were stalled on I/O")},
    {TOTAL("node_pressure_memory_waiting_seconds_total",
           "Seconds some tasks waited for memory"),
     TOTAL("node_pressure_memory_stalled_seconds_total",
           "Seconds all non-idle tasks were stalled on memory")},
    {TOTAL("node_pressure_irq_waiting_seconds_total",
           "Seconds some tasks were delayed by interrupts"),
     TOTAL("node_pressure_irq_stalled_seconds_total",
           "Seconds all non-idle tasks were stalled by interrupts")},
};

static const struct collect_family fam_avg = {
    "skewscope_pressure_avg_ratio",
    "Share of time stalled, the kernel's running average over the window "
    "(/proc/pressure avg10/avg60/avg300 divided by 100)",
    SERIES_GAUGE,
    COLLECT_T_GAUGE,
    0,
    COLLECT_F_SLOW};

static const char *const windows[3] = {"10s", "60s", "300s"};

struct res_state {
    struct collect_file f;
    bool open;
    uint32_t total[2];
    uint32_t avg[2][3];
};

struct pressure {
    struct res_state r[NRES];
};

static void make_ids(struct collect_src *src, struct res_state *r, int i)
{
    for (int k = 0; k < 2; k++) {
        r->total[k] = collect_series(src, &totals[i][k], NULL, 0);
        for (int w = 0; w < 3; w++) {
            struct series_label l[3] = {{"resource", res[i]},
                                        {"scope", k ? "full" : "some"},
                                        {"window", windows[w]}};

            r->avg[k][w] = collect_series(src, &fam_avg, l, 3);
        }
    }
}

/* The kernel prints an average as "87.34" (percent, two decimals): as a
 * ratio 8734 / 10000, the double nearest 0.8734 (87.34 / 100 is not). */
static bool parse_percent(const char *p, double *ratio)
{
    uint64_t whole, frac = 0;
    int digits = 0;

    if (!collect_parse_u64(&p, &whole))
        return false;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9' && digits < 2; p++, digits++)
            frac = frac * 10 + (uint64_t)(*p - '0');
    while (digits++ < 2)
        frac *= 10;
    *ratio = (double)(whole * 100 + frac) / 10000.0;
    return true;
}

/* "some avg10=0.12 avg60=0.05 avg300=0.01 total=123456" */
static void pressure_line(struct collect_src *src, struct res_state *r,
                          const char *line, bool slow)
{
    int k = !strncmp(line, "some ", 5)   ? 0
            : !strncmp(line, "full ", 5) ? 1
                                         : -1;
    const char *p;
    uint64_t total;

    if (k < 0)
        return;
    if (slow)
        for (int w = 0; w < 3; w++) {
            static const char *const key[3] = {
                " avg10=", " avg60=", " avg300="};
            double v;

            if ((p = strstr(line, key[w])) &&
                parse_percent(p + strlen(key[w]), &v))
                collect_put(src, r->avg[k][w], v);
        }
    if ((p = strstr(line, " total=")) &&
        (p += 7, collect_parse_u64(&p, &total)))
        collect_put(src, r->total[k], (double)total / 1e6);
}

static int pressure_open(struct collect_src *src, void **state, char *why,
                         size_t whylen)
{
    struct pressure *s = calloc(1, sizeof(*s));
    int n = 0;

    if (!s) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (int i = 0; i < NRES; i++) {
        char rel[64];

        snprintf(rel, sizeof rel, "/proc/pressure/%s", res[i]);
        s->r[i].open = collect_file_open(src, &s->r[i].f, rel) == 0;
        if (s->r[i].open) {
            make_ids(src, &s->r[i], i);
            n++;
        } else if (i == 0) {
            snprintf(why, whylen,
                     "%s/proc/pressure/cpu: %s (a kernel without "
                     "PSI, or booted with psi=0)",
                     collect_root(src), strerror(errno));
        }
    }
    if (!n) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int pressure_sample(void *state, struct collect_src *src, bool slow)
{
    struct pressure *s = state;
    int ok = 0;

    for (int i = 0; i < NRES; i++) {
        char *line, *save = NULL;

        if (!s->r[i].open || collect_file_read(&s->r[i].f) < 0)
            continue;
        ok++;
        for (line = strtok_r(s->r[i].f.buf, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
            pressure_line(src, &s->r[i], line, slow);
    }
    if (!ok) {
        collect_src_error(src, "no /proc/pressure file could be read");
        return -1;
    }
    return 0;
}

static void pressure_close(void *state)
{
    struct pressure *s = state;

    for (int i = 0; i < NRES; i++)
        if (s->r[i].open)
            collect_file_close(&s->r[i].f);
    free(s);
}

const struct collect_sampler_ops collect_pressure_ops = {
    "pressure", pressure_open, pressure_sample, pressure_close};
