/* stage_monitor: fault injection and gauge sampling inside a testbed stage
 * (stage_monitor.h). One thread per stage process; it sleeps on a
 * condition variable (CLOCK_MONOTONIC) between ticks so that stop is
 * prompt. */
#define _GNU_SOURCE /* sched_setaffinity, CPU_* macros */
#include "testbed/stage_monitor.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testbed/llm.h"
#include "testbed/pipeline.h"
#include "testbed/stage_board.h"
#include "testbed/stage_log.h"
#include "testbed/stage_metrics.h"
#include "util/clock.h"

#define TICK_NS 50000000     /* wake at least this often */
#define SAMPLE_NS 1000000000 /* compute gauges over this window */
#define MAX_HOGS 64

struct fault_run {
    const struct pipeline_fault *f;
    size_t index; /* in cfg->faults: its board slot */
    bool active, done;
    /* cpu */
    pid_t hogs[MAX_HOGS];
    size_t nhogs;
    cpu_set_t saved;
    bool pinned;
    int cpu;
    /* memory */
    unsigned char *mem;
    size_t mem_len, touched;
    int64_t began_ns;
};

struct stage_monitor {
    const struct pipeline_config *cfg;
    const struct stage_board *board;
    struct stage_metrics *m;
    struct stage_log *log;
    pid_t main_tid;
    struct fault_run runs[PIPELINE_MAX_FAULTS];
    size_t nruns;
    double dead_hog_cpu_s;
    /* gauge sampling */
    int64_t sample_t0;
    struct llm_compute_totals sample_c0;
    int64_t sample_engine0; /* stage_engine_busy_ns() at sample_t0 */
    uint64_t clock_rng;     /* the SM clock's boost bin */
    /* network jitter: used by the stage thread only */
    uint64_t rng;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static int64_t mono_ns(void)
{
    return clock_now_ns(CLOCK_MONOTONIC);
}

static int64_t load_ns(const _Atomic int64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

/* ---- cpu: hogs pinned with the stage's main thread ---- */

/* The CPU the thread last ran on (/proc .../stat field 39), or -1. */
static int last_cpu(pid_t tid)
{
    char path[64], buf[1024];
    int cpu = -1;

    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the name may hold spaces */
    for (int field = 2; p && *p && field < 39; field++)
        p = strchr(p + 1, ' ');
    if (p && sscanf(p + 1, "%d", &cpu) != 1)
        cpu = -1;
    return cpu;
}

/* CPU seconds of a live process (/proc/PID/stat utime + stime). */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    for (int field = 2; p && *p && field < 13; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The hog: spin on `cpu` until killed, or until `until` (a safety bound).
 * Only async-signal-safe calls: this runs in a child of a threaded
 * process. */
static void hog_main(int cpu, int64_t until)
{
    cpu_set_t set;
    volatile uint64_t x = 0;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    for (;;) {
        for (int i = 0; i < 1000000; i++)
            x += (uint64_t)i;
        if (mono_ns() > until)
            _exit(x == 0); /* x read: the loop is the point, not dead code */
    }
}

static void cpu_begin(struct stage_monitor *mon, struct fault_run *r,
                      int64_t end_ns)
{
    cpu_set_t one;
    int cpu = last_cpu(mon->main_tid);

    if (sched_getaffinity(mon->main_tid, sizeof r->saved, &r->saved) == 0) {
        if (cpu < 0 || !CPU_ISSET(cpu, &r->saved))
            for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &r->saved);)
                cpu++;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        r->pinned = sched_setaffinity(mon->main_tid, sizeof one, &one) == 0;
    }
    r->cpu = cpu < 0 || cpu >= CPU_SETSIZE ? 0 : cpu;
    size_t n = (size_t)r->f->amount;
    for (r->nhogs = 0; r->nhogs < n && r->nhogs < MAX_HOGS; r->nhogs++) {
        pid_t pid = fork();
        if (pid == 0)
            hog_main(r->cpu, end_ns + 5000000000);
        if (pid < 0)
            break;
        r->hogs[r->nhogs] = pid;
    }
}

static void cpu_end(struct stage_monitor *mon, struct fault_run *r)
{
    for (size_t i = 0; i < r->nhogs; i++) {
        struct rusage ru;
        kill(r->hogs[i], SIGKILL);
        if (wait4(r->hogs[i], NULL, 0, &ru) > 0)
            mon->dead_hog_cpu_s +=
                (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    }
    r->nhogs = 0;
    if (r->pinned)
        sched_setaffinity(mon->main_tid, sizeof r->saved, &r->saved);
    r->pinned = false;
}

static void hog_cpu_update(struct stage_monitor *mon)
{
    double s = mon->dead_hog_cpu_s;

    for (size_t i = 0; i < mon->nruns; i++)
        for (size_t k = 0; k < mon->runs[i].nhogs; k++)
            s += proc_cpu_s(mon->runs[i].hogs[k]);
    atomic_store_explicit(&mon->m->hog_cpu_s, s, memory_order_relaxed);
}

/* ---- memory: pages written over the first half of the window ---- */

static void mem_begin(struct fault_run *r)
{
    r->mem_len = (size_t)r->f->amount;
    r->touched = 0;
    r->mem = mmap(NULL, r->mem_len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r->mem == MAP_FAILED)
        r->mem = NULL;
}

static void mem_grow(struct fault_run *r, int64_t now)
{
    int64_t ramp = r->f->for_ns / 2;
    double frac = ramp > 0 ? (double)(now - r->began_ns) / (double)ramp : 1;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    if (!r->mem)
        return;
    size_t want = frac >= 1 ? r->mem_len : (size_t)(frac * (double)r->mem_len);
    for (; r->touched < want; r->touched += page)
        r->mem[r->touched] = (unsigned char)(r->touched / page);
}

static void mem_end(struct fault_run *r)
{
    if (r->mem)
        munmap(r->mem, r->mem_len);
    r->mem = NULL;
}

/* ---- the schedule ---- */

static void describe(const struct fault_run *r, char *buf, size_t len)
{
    const struct pipeline_fault *f = r->f;

    switch (f->kind) {
    case PIPELINE_FAULT_CPU:
        snprintf(buf, len, "%zu competing processes on CPU %d", r->nhogs,
                 r->cpu);
        break;
    case PIPELINE_FAULT_MEMORY:
        snprintf(buf, len, "allocation growing to %.0f MiB",
                 f->amount / 1048576);
        break;
    case PIPELINE_FAULT_NETWORK:
        snprintf(buf, len, "inbound delay %.3f ms +- %.3f ms",
                 (double)f->delay_ns * 1e-6, (double)f->jitter_ns * 1e-6);
        break;
    case PIPELINE_FAULT_GPU_THROTTLE:
        snprintf(buf, len, "compute at %.0f%% speed", f->amount * 100);
        break;
    case PIPELINE_FAULT_HEAVY:
        snprintf(buf, len, "%.3gx the work", f->amount);
        break;
    case PIPELINE_FAULT_EARLY_STOP:
        snprintf(buf, len, "sequences end after their first token");
        break;
    case PIPELINE_FAULT_KV_BUDGET:
        snprintf(buf, len, "KV budget %.0f%% of a request's tokens",
                 f->amount * 100);
        break;
    case PIPELINE_FAULT_ROUTE_SKEW:
        snprintf(buf, len, "%.0f%% of the requests to prefill-0",
                 f->amount * 100);
        break;
    }
}

static void begin(struct stage_monitor *mon, struct fault_run *r, int64_t now,
                  int64_t end_ns)
{
    char what[128];

    r->active = true;
    r->began_ns = now;
    switch (r->f->kind) {
    case PIPELINE_FAULT_CPU:
        cpu_begin(mon, r, end_ns);
        break;
    case PIPELINE_FAULT_MEMORY:
        mem_begin(r);
        mem_grow(r, now);
        break;
    case PIPELINE_FAULT_GPU_THROTTLE:
        llm_throttle_set(r->f->amount);
        break;
    case PIPELINE_FAULT_HEAVY:
        llm_workload_set(r->f->amount);
        break;
    case PIPELINE_FAULT_NETWORK:
    case PIPELINE_FAULT_EARLY_STOP: /* the stage asks stage_monitor_active */
    case PIPELINE_FAULT_KV_BUDGET:  /* decode ranks read the board */
    case PIPELINE_FAULT_ROUTE_SKEW: /* the tokenizer reads the board */
        break;
    }
    describe(r, what, sizeof what);
    stage_log_event(
        mon->log, "info", "fault", -1, pipeline_fault_name(r->f->kind), "start",
        "%s fault started: %s", pipeline_fault_name(r->f->kind), what);
}

static void end(struct stage_monitor *mon, struct fault_run *r)
{
    switch (r->f->kind) {
    case PIPELINE_FAULT_CPU:
        cpu_end(mon, r);
        hog_cpu_update(mon);
        break;
    case PIPELINE_FAULT_MEMORY:
        mem_end(r);
        break;
    case PIPELINE_FAULT_GPU_THROTTLE:
        llm_throttle_set(1);
        break;
    case PIPELINE_FAULT_HEAVY:
        llm_workload_set(1);
        break;
    case PIPELINE_FAULT_NETWORK:
    case PIPELINE_FAULT_EARLY_STOP:
    case PIPELINE_FAULT_KV_BUDGET:
    case PIPELINE_FAULT_ROUTE_SKEW:
        break;
    }
    r->active = false;
    r->done = true;
    stage_log_event(mon->log, "info", "fault", -1,
                    pipeline_fault_name(r->f->kind), "stop", "%s fault stopped",
                    pipeline_fault_name(r->f->kind));
}

static void step_faults(struct stage_monitor *mon, int64_t now)
{
    for (size_t i = 0; i < mon->nruns; i++) {
        struct fault_run *r = &mon->runs[i];
        int64_t s = load_ns(&mon->board->fault_start_ns[r->index]);
        int64_t e = load_ns(&mon->board->fault_end_ns[r->index]);
        if (!r->active && !r->done && s && now >= s && now < e)
            begin(mon, r, now, e);
        if (r->active && now >= e)
            end(mon, r);
        if (r->active && r->f->kind == PIPELINE_FAULT_MEMORY)
            mem_grow(r, now);
    }
}

/* The DCGM stand-ins over the last sampling window: the SM clock the
 * stand-in GPU runs at (stage_metrics.h: the nominal boost clock, a boost
 * bin lower half of the time, times the throttle's speed), the compute
 * rate it achieved (multiply-adds per us of compute, throttle stretch
 * included), the utilisation from the engine's occupancy (the share of
 * the window during which it held a request: DCGM's "kernels executing",
 * see stage_engine_begin()). */
static void sample(struct stage_monitor *mon, int64_t now)
{
    struct llm_compute_totals c;

    llm_compute_totals(&c);
    int64_t engine = stage_engine_busy_ns(mon->m, now);
    int64_t wall = now - mon->sample_t0;
    int64_t busy = c.busy_ns - mon->sample_c0.busy_ns;
    uint64_t macs = c.macs - mon->sample_c0.macs;
    if (wall <= 0)
        return;
    mon->clock_rng = mon->clock_rng * 6364136223846793005ull +
                     1442695040888963407ull; /* an LCG: its top bit */
    double bin = (mon->clock_rng >> 63) ? STAGE_SM_CLOCK_BIN_MHZ : 0;
    atomic_store_explicit(&mon->m->sm_clock_mhz,
                          (STAGE_SM_CLOCK_MHZ - bin) * llm_throttle(),
                          memory_order_relaxed);
    if (busy > 0) /* idle: the rate keeps its last value */
        atomic_store_explicit(&mon->m->compute_rate_mhz,
                              (double)macs / ((double)busy * 1e-3),
                              memory_order_relaxed);
    double util = 100.0 * (double)(engine - mon->sample_engine0) / (double)wall;
    atomic_store_explicit(&mon->m->gpu_util_pct,
                          util > 100 ? 100
                          : util < 0 ? 0
                                     : util,
                          memory_order_relaxed);
    mon->sample_t0 = now;
    mon->sample_c0 = c;
    mon->sample_engine0 = engine;
}

static void *monitor_main(void *arg)
{
    struct stage_monitor *mon = arg;

    pthread_mutex_lock(&mon->mu);
    while (!mon->stop) {
        pthread_mutex_unlock(&mon->mu);
        int64_t now = mono_ns();
        step_faults(mon, now);
        hog_cpu_update(mon);
        if (now - mon->sample_t0 >= SAMPLE_NS)
            sample(mon, now);
        int64_t wake = now + TICK_NS;
        struct timespec ts = {.tv_sec = wake / 1000000000,
                              .tv_nsec = wake % 1000000000};
        pthread_mutex_lock(&mon->mu);
        if (!mon->stop)
            pthread_cond_timedwait(&mon->cv, &mon->mu, &ts);
    }
    pthread_mutex_unlock(&mon->mu);
    for (size_t i = 0; i < mon->nruns; i++)
        if (mon->runs[i].active)
            end(mon, &mon->runs[i]);
    return NULL;
}

struct stage_monitor *
stage_monitor_start(const struct pipeline_config *cfg, const char *stage,
                    const struct stage_board *board, struct stage_metrics *m,
                    struct stage_log *log, char *err, size_t errlen)
{
    struct stage_monitor *mon = calloc(1, sizeof *mon);
    pthread_condattr_t ca;

    if (!mon) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mon->cfg = cfg;
    mon->board = board;
    mon->m = m;
    mon->log = log;
    mon->main_tid = (pid_t)syscall(SYS_gettid);
    mon->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    mon->clock_rng = mon->rng ^ 0x2545f4914f6cdd1dull;
    atomic_store_explicit(&m->sm_clock_mhz, STAGE_SM_CLOCK_MHZ,
                          memory_order_relaxed);
    for (size_t i = 0; i < cfg->nfaults; i++)
        if (strcmp(cfg->faults[i].stage, stage) == 0) {
            mon->runs[mon->nruns].f = &cfg->faults[i];
            mon->runs[mon->nruns++].index = i;
        }
    mon->sample_t0 = mono_ns();
    llm_compute_totals(&mon->sample_c0);
    mon->sample_engine0 = stage_engine_busy_ns(m, mon->sample_t0);
    pthread_mutex_init(&mon->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mon->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&mon->th, NULL, monitor_main, mon);
    if (rc != 0) {
        snprintf(err, errlen, "monitor thread: %s", strerror(rc));
        pthread_cond_destroy(&mon->cv);
        pthread_mutex_destroy(&mon->mu);
        free(mon);
        return NULL;
    }
    return mon;
}

void stage_monitor_stop(struct stage_monitor *mon)
{
    if (!mon)
        return;
    pthread_mutex_lock(&mon->mu);
    mon->stop = true;
    pthread_cond_signal(&mon->cv);
    pthread_mutex_unlock(&mon->mu);
    pthread_join(mon->th, NULL);
    pthread_cond_destroy(&mon->cv);
    pthread_mutex_destroy(&mon->mu);
    free(mon);
}

int64_t stage_monitor_net_delay_ns(struct stage_monitor *mon, int64_t now_ns)
{
    if (!mon)
        return 0;
    for (size_t i = 0; i < mon->nruns; i++) {
        const struct fault_run *r = &mon->runs[i];
        if (r->f->kind != PIPELINE_FAULT_NETWORK)
            continue;
        int64_t s = load_ns(&mon->board->fault_start_ns[r->index]);
        int64_t e = load_ns(&mon->board->fault_end_ns[r->index]);
        if (!s || now_ns < s || now_ns >= e)
            continue;
        /* xorshift64*: jitter uniform in [-jitter, +jitter] */
        mon->rng ^= mon->rng >> 12;
        mon->rng ^= mon->rng << 25;
        mon->rng ^= mon->rng >> 27;
        uint64_t x = mon->rng * 0x2545f4914f6cdd1dull;
        double u = (double)(x >> 11) * (1.0 / 9007199254740992.0) * 2 - 1;
        int64_t d = r->f->delay_ns + (int64_t)(u * (double)r->f->jitter_ns);
        return d > 0 ? d : 0;
    }
    return 0;
}

bool stage_monitor_in_window(const struct stage_monitor *mon, int kind,
                             int64_t now_ns)
{
    if (!mon)
        return false;
    for (size_t i = 0; i < mon->nruns; i++) {
        const struct fault_run *r = &mon->runs[i];
        if ((int)r->f->kind != kind)
            continue;
        int64_t s = load_ns(&mon->board->fault_start_ns[r->index]);
        int64_t e = load_ns(&mon->board->fault_end_ns[r->index]);
        if (s && now_ns >= s && now_ns < e)
            return true;
    }
    return false;
}
