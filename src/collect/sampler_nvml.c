/* sampler_nvml: NVIDIA GPUs through NVML, loaded at run time with dlopen
 * (no build-time dependency; collect_config.nvml_lib or
 * $SKEWSCOPE_NVML_LIB names another library, e.g. a test's stand-in).
 * Names are dcgm-exporter's (DCGM field names), labels gpu, UUID,
 * device ("nvidia<minor>"), modelName, pci_bus_id and Hostname (the
 * collector's entity) as it sets them.
 *
 * Every tick: SM clock, clock-event (throttle) reasons, power -- what
 * moves when a GPU throttles and its rank turns straggler. Slow ticks:
 * memory clock, utilisation, temperature, energy, PCIe replays, PCIe
 * throughput, PCIe link generation and width, framebuffer use. NVML's
 * PCIe throughput call samples for about 20 ms per direction, so it is
 * never read on fast ticks.
 *
 * Units: clocks MHz, power W (NVML: mW), energy mJ (counter), PCIe
 * throughput bytes/s (NVML: KB/s, times 1024), framebuffer MiB. The
 * replay counter is NVML's 32-bit unsigned int (wraps at 2^32). The
 * clock-event reasons are NVML's bit mask (0x1 GPU idle, 0x2 application
 * clocks setting, 0x4 SW power cap, 0x8 HW slowdown, 0x10 sync boost,
 * 0x20 SW thermal slowdown, 0x40 HW thermal slowdown, 0x80 HW power brake,
 * 0x100 display clock setting), shown under both dcgm-exporter names:
 * DCGM_FI_DEV_CLOCK_THROTTLE_REASONS and the newer
 * DCGM_FI_DEV_CLOCKS_EVENT_REASONS. The counters whose dcgm names lack
 * _total are shown untyped (Prometheus's naming rules). A field a GPU
 * does not support is skipped for that GPU from then on. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/collect.h"
#include "collect/sampler.h"

/* NVML's ABI, as its nvml.h declares it. */
typedef int nvml_ret;
typedef void *nvml_dev;
struct nvml_util {
    unsigned gpu, memory;
};
struct nvml_mem {
    unsigned long long total, free, used;
};
struct nvml_pci {
    char bus_id_legacy[16];
    unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
};
enum {
    NVML_OK = 0,
    NVML_NOT_SUPPORTED = 3,
    NVML_NO_PERMISSION = 4,
    NVML_FUNCTION_NOT_FOUND = 13,
};
enum { NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2 };
enum { NVML_PCIE_TX = 0, NVML_PCIE_RX = 1 };

struct nvml_api {
    void *lib;
    nvml_ret (*init)(void);
    nvml_ret (*shutdown)(void);
    const char *(*error_string)(nvml_ret);
    nvml_ret (*count)(unsigned *);
    nvml_ret (*handle)(unsigned, nvml_dev *);
    nvml_ret (*uuid)(nvml_dev, char *, unsigned);
    nvml_ret (*name)(nvml_dev, char *, unsigned);
    nvml_ret (*pci)(nvml_dev, struct nvml_pci *);
    nvml_ret (*minor)(nvml_dev, unsigned *);
    nvml_ret (*clock)(nvml_dev, int, unsigned *);
    nvml_ret (*event_reasons)(nvml_dev, unsigned long long *);
    nvml_ret (*throttle_reasons)(nvml_dev, unsigned long long *);
    nvml_ret (*power)(nvml_dev, unsigned *);
    nvml_ret (*util)(nvml_dev, struct nvml_util *);
    nvml_ret (*temp)(nvml_dev, int, unsigned *);
    nvml_ret (*energy)(nvml_dev, unsigned long long *);
    nvml_ret (*replay)(nvml_dev, unsigned *);
    nvml_ret (*pcie_tput)(nvml_dev, int, unsigned *);
    nvml_ret (*link_gen)(nvml_dev, unsigned *);
    nvml_ret (*link_width)(nvml_dev, unsigned *);
    nvml_ret (*max_link_gen)(nvml_dev, unsigned *);
    nvml_ret (*max_link_width)(nvml_dev, unsigned *);
    nvml_ret (*memory)(nvml_dev, struct nvml_mem *);
};

/* The families, in field order. */
enum {
    F_SM_CLOCK,
    F_THROTTLE,
    F_EVENTS,
    F_POWER,
    F_MEM_CLOCK,
    F_GPU_UTIL,
    F_MEM_UTIL,
    F_TEMP,
    F_ENERGY,
    F_REPLAY,
    F_PCIE_TX,
    F_PCIE_RX,
    F_LINK_GEN,
    F_LINK_WIDTH,
    F_MAX_LINK_GEN,
    F_MAX_LINK_WIDTH,
    F_FB_USED,
    F_FB_FREE,
    NF
};

#define G(n, h, fl)                                                            \
    {                                                                          \
        n, h, SERIES_GAUGE, COLLECT_T_GAUGE, 0, fl                             \
    }
#define S COLLECT_F_SLOW

static const struct collect_family fams[NF] = {
    G("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)", 0),
    G("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
      "Current clock throttle reasons (NVML bit mask)", 0),
    G("DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
      "Current clock event reasons (NVML bit mask; newer name of the "
      "throttle reasons)",
      0),
    G("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)", 0),
    G("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz)", S),
    G("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)", S),
    G("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)", S),
    G("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)", S),
    {"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
     "Total energy consumption since the driver loaded (in mJ)", SERIES_COUNTER,
     COLLECT_T_UNTYPED, COLLECT_WRAP64, S},
    {"DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "Total number of PCIe retries",
     SERIES_COUNTER, COLLECT_T_UNTYPED, COLLECT_WRAP32, S},
    G("DCGM_FI_PROF_PCIE_TX_BYTES",
      "PCIe transmit throughput (in bytes/s, NVML's 20 ms sample)", S),
    G("DCGM_FI_PROF_PCIE_RX_BYTES",
      "PCIe receive throughput (in bytes/s, NVML's 20 ms sample)", S),
    G("DCGM_FI_DEV_PCIE_LINK_GEN", "Current PCIe link generation", S),
    G("DCGM_FI_DEV_PCIE_LINK_WIDTH", "Current PCIe link width (lanes)", S),
    G("DCGM_FI_DEV_PCIE_MAX_LINK_GEN", "Maximum PCIe link generation", S),
    G("DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH", "Maximum PCIe link width (lanes)", S),
    G("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)", S),
    G("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)", S),
};

struct gpu {
    nvml_dev dev;
    char index[12], uuid[96], device[24], model[96], bus_id[32];
    uint32_t ids[NF];
    uint32_t off; /* fields this GPU does not support (bit per field) */
};

struct nvml {
    struct nvml_api api;
    struct gpu *gpus;
    unsigned n;
};

#define SYM(field, name) *(void **)(&a->field) = dlsym(a->lib, name)

static void load_symbols(struct nvml_api *a)
{
    SYM(init, "nvmlInit_v2");
    if (!a->init)
        SYM(init, "nvmlInit");
    SYM(shutdown, "nvmlShutdown");
    SYM(error_string, "nvmlErrorString");
    SYM(count, "nvmlDeviceGetCount_v2");
    if (!a->count)
        SYM(count, "nvmlDeviceGetCount");
    SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
    if (!a->handle)
        SYM(handle, "nvmlDeviceGetHandleByIndex");
    SYM(uuid, "nvmlDeviceGetUUID");
    SYM(name, "nvmlDeviceGetName");
    SYM(pci, "nvmlDeviceGetPciInfo_v3");
    SYM(minor, "nvmlDeviceGetMinorNumber");
    SYM(clock, "nvmlDeviceGetClockInfo");
    SYM(event_reasons, "nvmlDeviceGetCurrentClocksEventReasons");
    SYM(throttle_reasons, "nvmlDeviceGetCurrentClocksThrottleReasons");
    SYM(power, "nvmlDeviceGetPowerUsage");
    SYM(util, "nvmlDeviceGetUtilizationRates");
    SYM(temp, "nvmlDeviceGetTemperature");
    SYM(energy, "nvmlDeviceGetTotalEnergyConsumption");
    SYM(replay, "nvmlDeviceGetPcieReplayCounter");
    SYM(pcie_tput, "nvmlDeviceGetPcieThroughput");
    SYM(link_gen, "nvmlDeviceGetCurrPcieLinkGeneration");
    SYM(link_width, "nvmlDeviceGetCurrPcieLinkWidth");
    SYM(max_link_gen, "nvmlDeviceGetMaxPcieLinkGeneration");
    SYM(max_link_width, "nvmlDeviceGetMaxPcieLinkWidth");
    SYM(memory, "nvmlDeviceGetMemoryInfo");
}

static const char *nvml_error(const struct nvml_api *a, nvml_ret r)
{
    const char *s = a->error_string ? a->error_string(r) : NULL;

    return s ? s : "unknown error";
}

static void gpu_labels(struct nvml *s, struct gpu *g, unsigned i)
{
    struct nvml_pci pci;
    unsigned minor;

    snprintf(g->index, sizeof g->index, "%u", i);
    if (!s->api.uuid || s->api.uuid(g->dev, g->uuid, sizeof g->uuid) != NVML_OK)
        g->uuid[0] = 0;
    if (!s->api.name ||
        s->api.name(g->dev, g->model, sizeof g->model) != NVML_OK)
        g->model[0] = 0;
    if (s->api.minor && s->api.minor(g->dev, &minor) == NVML_OK)
        snprintf(g->device, sizeof g->device, "nvidia%u", minor);
    memset(&pci, 0, sizeof pci);
    if (s->api.pci && s->api.pci(g->dev, &pci) == NVML_OK) {
        memcpy(g->bus_id, pci.bus_id, sizeof g->bus_id);
        g->bus_id[sizeof g->bus_id - 1] = 0;
    }
    g->uuid[sizeof g->uuid - 1] = 0;
    g->model[sizeof g->model - 1] = 0;
}

static void gpu_series(struct collect_src *src, struct gpu *g)
{
    struct series_label l[6] = {
        {"gpu", g->index},         {"UUID", g->uuid},
        {"device", g->device},     {"modelName", g->model},
        {"pci_bus_id", g->bus_id}, {"Hostname", collect_cfg(src)->entity}};

    for (int f = 0; f < NF; f++)
        g->ids[f] = collect_series(src, &fams[f], l, 6);
}

static int nvml_open(struct collect_src *src, void **state, char *why,
                     size_t whylen)
{
    const char *path = collect_cfg(src)->nvml_lib;
    struct nvml *s = calloc(1, sizeof(*s));
    unsigned n = 0;
    nvml_ret r;

    if (!s) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (!(s->api.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        snprintf(why, whylen, "%s (no NVIDIA driver?)", dlerror());
        goto fail;
    }
    load_symbols(&s->api);
    if (!s->api.init || !s->api.count || !s->api.handle) {
        snprintf(why, whylen, "%s lacks nvmlInit or nvmlDeviceGetCount", path);
        goto fail;
    }
    if ((r = s->api.init()) != NVML_OK) {
        snprintf(why, whylen, "nvmlInit: %s", nvml_error(&s->api, r));
        goto fail;
    }
    if ((r = s->api.count(&n)) != NVML_OK || n == 0) {
        snprintf(why, whylen, "%s",
                 r != NVML_OK ? nvml_error(&s->api, r) : "NVML sees no GPU");
        if (s->api.shutdown)
            s->api.shutdown();
        goto fail;
    }
    if (!(s->gpus = calloc(n, sizeof(*s->gpus)))) {
        snprintf(why, whylen, "out of memory");
        if (s->api.shutdown)
            s->api.shutdown();
        goto fail;
    }
    for (unsigned i = 0; i < n; i++) {
        struct gpu *g = &s->gpus[s->n];

        if (s->api.handle(i, &g->dev) != NVML_OK)
            continue; /* e.g. no permission on this one */
        gpu_labels(s, g, i);
        gpu_series(src, g);
        s->n++;
    }
    if (!s->n) {
        snprintf(why, whylen, "NVML sees %u GPUs but opens none (permissions?)",
                 n);
        if (s->api.shutdown)
            s->api.shutdown();
        goto fail;
    }
    *state = s;
    return 0;
fail:
    if (s->api.lib)
        dlclose(s->api.lib);
    free(s->gpus);
    free(s);
    return -1;
}

/* Whether field f of g can be read: not switched off, function present. */
static bool want(const struct gpu *g, int f, bool have_fn)
{
    return have_fn && !(g->off & (1u << f));
}

/* Put v, or switch the field off when the GPU says it never will. */
static void got(struct collect_src *src, struct gpu *g, int f, nvml_ret r,
                double v)
{
    if (r == NVML_OK)
        collect_put(src, g->ids[f], v);
    else if (r == NVML_NOT_SUPPORTED || r == NVML_NO_PERMISSION ||
             r == NVML_FUNCTION_NOT_FOUND)
        g->off |= 1u << f;
}

static void reasons(struct nvml *s, struct collect_src *src, struct gpu *g)
{
    unsigned long long m = 0;
    nvml_ret r = NVML_FUNCTION_NOT_FOUND;

    if (want(g, F_EVENTS, s->api.event_reasons != NULL))
        r = s->api.event_reasons(g->dev, &m);
    if (r != NVML_OK && r != NVML_FUNCTION_NOT_FOUND && r != NVML_NOT_SUPPORTED)
        return; /* a passing error: try again next tick */
    if (r != NVML_OK) {
        g->off |= 1u << F_EVENTS; /* an older driver: the old name */
        if (!want(g, F_THROTTLE, s->api.throttle_reasons != NULL))
            return;
        r = s->api.throttle_reasons(g->dev, &m);
        if (r != NVML_OK) {
            got(src, g, F_THROTTLE, r, 0);
            return;
        }
    }
    collect_put(src, g->ids[F_THROTTLE], (double)m);
    collect_put(src, g->ids[F_EVENTS], (double)m);
}

static void fast_fields(struct nvml *s, struct collect_src *src, struct gpu *g)
{
    unsigned u = 0;

    nvml_ret r;

    /* (each call before its value is read: got()'s arguments are
     * evaluated in no set order) */
    if (want(g, F_SM_CLOCK, s->api.clock != NULL)) {
        r = s->api.clock(g->dev, NVML_CLOCK_SM, &u);
        got(src, g, F_SM_CLOCK, r, u);
    }
    reasons(s, src, g);
    if (want(g, F_POWER, s->api.power != NULL)) {
        r = s->api.power(g->dev, &u);
        got(src, g, F_POWER, r, u / 1000.0);
    }
}

/* A field read through an `unsigned *` accessor. */
#define UFIELD(f, call, scale)                                                 \
    do {                                                                       \
        if (want(g, f, s->api.call != NULL)) {                                 \
            nvml_ret r_ = s->api.call(g->dev, &u);                             \
            got(src, g, f, r_, (double)u *(scale));                            \
        }                                                                      \
    } while (0)

static void slow_fields(struct nvml *s, struct collect_src *src, struct gpu *g)
{
    struct nvml_util ut = {0, 0};
    struct nvml_mem mem = {0, 0, 0};
    unsigned long long e = 0;
    unsigned u = 0;
    nvml_ret r;

    if (want(g, F_MEM_CLOCK, s->api.clock != NULL)) {
        r = s->api.clock(g->dev, NVML_CLOCK_MEM, &u);
        got(src, g, F_MEM_CLOCK, r, u);
    }
    if (want(g, F_GPU_UTIL, s->api.util != NULL)) {
        r = s->api.util(g->dev, &ut);
        got(src, g, F_GPU_UTIL, r, ut.gpu);
        got(src, g, F_MEM_UTIL, r, ut.memory);
    }
    if (want(g, F_TEMP, s->api.temp != NULL)) {
        r = s->api.temp(g->dev, 0, &u);
        got(src, g, F_TEMP, r, u);
    }
    if (want(g, F_ENERGY, s->api.energy != NULL)) {
        r = s->api.energy(g->dev, &e);
        got(src, g, F_ENERGY, r, (double)e);
    }
    UFIELD(F_REPLAY, replay, 1);
    if (want(g, F_PCIE_TX, s->api.pcie_tput != NULL)) {
        r = s->api.pcie_tput(g->dev, NVML_PCIE_TX, &u);
        got(src, g, F_PCIE_TX, r, u * 1024.0);
        r = s->api.pcie_tput(g->dev, NVML_PCIE_RX, &u);
        got(src, g, F_PCIE_RX, r, u * 1024.0);
    }
    UFIELD(F_LINK_GEN, link_gen, 1);
    UFIELD(F_LINK_WIDTH, link_width, 1);
    UFIELD(F_MAX_LINK_GEN, max_link_gen, 1);
    UFIELD(F_MAX_LINK_WIDTH, max_link_width, 1);
    if (want(g, F_FB_USED, s->api.memory != NULL)) {
        r = s->api.memory(g->dev, &mem);
        got(src, g, F_FB_USED, r, (double)mem.used / 1048576.0);
        got(src, g, F_FB_FREE, r, (double)mem.free / 1048576.0);
    }
}

static int nvml_sample(void *state, struct collect_src *src, bool slow)
{
    struct nvml *s = state;

    for (unsigned i = 0; i < s->n; i++) {
        fast_fields(s, src, &s->gpus[i]);
        if (slow)
            slow_fields(s, src, &s->gpus[i]);
    }
    return 0;
}

static void nvml_close(void *state)
{
    struct nvml *s = state;

    if (s->api.shutdown)
        s->api.shutdown();
    dlclose(s->api.lib);
    free(s->gpus);
    free(s);
}

const struct collect_sampler_ops collect_nvml_ops = {"nvml", nvml_open,
                                                     nvml_sample, nvml_close};
