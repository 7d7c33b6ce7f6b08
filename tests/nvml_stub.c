/* nvml_stub: a stand-in for libnvidia-ml.so.1 that test_collect_nvml loads
 * through $SKEWSCOPE_NVML_LIB / collect_config.nvml_lib (the Makefile
 * builds it as $(BUILD)/tests/libnvml_stub.so). It exports the NVML
 * functions the collector calls, with scripted values:
 *
 *   GPU 0: SM clock 1980 MHz for its first NVML_STUB_DROP_AFTER (default 3)
 *          reads, then 1410 MHz with clock-event reasons 0x24 (SW power
 *          cap | SW thermal slowdown; 0 before); power 300123 mW; PCIe
 *          replay counter 4294967290 on its first read, then 5 (a 32-bit
 *          wrap: 11 replays); link gen 5 x16 of 5 x16.
 *   GPU 1: SM clock 1980 MHz, reasons 0x1 (idle); power 75000 mW; replays
 *          0; link gen 5 x8 of 5 x16 (a degraded width).
 *   Both:  memory clock 2619 MHz, utilisation 87 % / 45 %, 65 C, energy
 *          1000 mJ more at each read, PCIe TX 1000 KB/s and RX 2000 KB/s,
 *          framebuffer 80 GiB total, 1 GiB used.
 *
 * Environment, read by nvmlInit_v2: NVML_STUB_GPUS (default 2),
 * NVML_STUB_INIT_FAIL=1 (nvmlInit_v2 fails: "Driver Not Loaded"),
 * NVML_STUB_NO_EVENT_REASONS=1 (nvmlDeviceGetCurrentClocksEventReasons
 * answers "Function Not Found", as on a driver before R535),
 * NVML_STUB_DROP_AFTER=N. Not thread-safe (the collector calls NVML from
 * its sampling thread only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct stub_gpu *nvmlDevice_t;
typedef struct {
    unsigned gpu, memory;
} nvmlUtilization_t;
typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

enum {
    OK = 0,
    UNINITIALIZED = 1,
    INVALID_ARGUMENT = 2,
    DRIVER_NOT_LOADED = 9,
    FUNCTION_NOT_FOUND = 13,
};

struct stub_gpu {
    unsigned index;
    unsigned sm_reads, replay_reads;
    unsigned long long energy;
};

static struct stub_gpu gpus[8];
static unsigned ngpus;
static int initialised;
static unsigned drop_after = 3;
static int no_event_reasons;

/* Prototypes: the library exports exactly these (and -Wmissing-prototypes
 * wants them declared). */
nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
const char *nvmlErrorString(nvmlReturn_t r);
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *buf, unsigned len);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *buf, unsigned len);
nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p);
nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t d, unsigned *m);
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned *mhz);
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d,
                                                    unsigned long long *r);
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d,
                                                       unsigned long long *r);
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned *mw);
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d,
                                           nvmlUtilization_t *u);
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned *t);
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d,
                                                 unsigned long long *mj);
nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t d, unsigned *n);
nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter,
                                         unsigned *kbs);
nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t d, unsigned *g);
nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t d, unsigned *w);
nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t d, unsigned *g);
nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t d, unsigned *w);
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m);

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);

    return v && *v ? atoi(v) : dflt;
}

nvmlReturn_t nvmlInit_v2(void)
{
    if (env_int("NVML_STUB_INIT_FAIL", 0))
        return DRIVER_NOT_LOADED;
    ngpus = (unsigned)env_int("NVML_STUB_GPUS", 2);
    if (ngpus > 8)
        ngpus = 8;
    drop_after = (unsigned)env_int("NVML_STUB_DROP_AFTER", 3);
    no_event_reasons = env_int("NVML_STUB_NO_EVENT_REASONS", 0);
    memset(gpus, 0, sizeof gpus);
    for (unsigned i = 0; i < 8; i++)
        gpus[i].index = i;
    initialised = 1;
    return OK;
}

nvmlReturn_t nvmlShutdown(void)
{
    initialised = 0;
    return OK;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
    switch (r) {
    case OK:
        return "Success";
    case DRIVER_NOT_LOADED:
        return "Driver Not Loaded";
    case FUNCTION_NOT_FOUND:
        return "Function Not Found";
    default:
        return "Unknown Error";
    }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n)
{
    if (!initialised)
        return UNINITIALIZED;
    *n = ngpus;
    return OK;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d)
{
    if (!initialised || i >= ngpus)
        return INVALID_ARGUMENT;
    *d = &gpus[i];
    return OK;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *buf, unsigned len)
{
    snprintf(buf, len, "GPU-stub-%u", d->index);
    return OK;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *buf, unsigned len)
{
    (void)d;
    snprintf(buf, len, "Stub GPU 80GB");
    return OK;
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p)
{
    memset(p, 0, sizeof *p);
    p->bus = 0x3b + 0x20 * d->index;
    snprintf(p->busId, sizeof p->busId, "00000000:%02X:00.0", p->bus);
    return OK;
}

nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t d, unsigned *m)
{
    *m = d->index;
    return OK;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned *mhz)
{
    if (type == 2) { /* memory */
        *mhz = 2619;
        return OK;
    }
    if (type != 1)
        return INVALID_ARGUMENT;
    d->sm_reads++;
    *mhz = d->index == 0 && d->sm_reads > drop_after ? 1410 : 1980;
    return OK;
}

static unsigned long long reasons_of(const struct stub_gpu *d)
{
    if (d->index == 0)
        return d->sm_reads > drop_after ? 0x24 : 0;
    return 0x1;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d,
                                                    unsigned long long *r)
{
    if (no_event_reasons)
        return FUNCTION_NOT_FOUND;
    *r = reasons_of(d);
    return OK;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d,
                                                       unsigned long long *r)
{
    *r = reasons_of(d);
    return OK;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned *mw)
{
    *mw = d->index == 0 ? 300123 : 75000;
    return OK;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
    (void)d;
    u->gpu = 87;
    u->memory = 45;
    return OK;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned *t)
{
    (void)d;
    if (sensor != 0)
        return INVALID_ARGUMENT;
    *t = 65;
    return OK;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d,
                                                 unsigned long long *mj)
{
    d->energy += 1000;
    *mj = d->energy;
    return OK;
}

nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t d, unsigned *n)
{
    d->replay_reads++;
    *n = d->index != 0 ? 0 : d->replay_reads == 1 ? 4294967290u : 5u;
    return OK;
}

nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter,
                                         unsigned *kbs)
{
    (void)d;
    *kbs = counter == 0 ? 1000 : 2000;
    return OK;
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t d, unsigned *g)
{
    (void)d;
    *g = 5;
    return OK;
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t d, unsigned *w)
{
    *w = d->index == 1 ? 8 : 16;
    return OK;
}

nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t d, unsigned *g)
{
    (void)d;
    *g = 5;
    return OK;
}

nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t d, unsigned *w)
{
    (void)d;
    *w = 16;
    return OK;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
    (void)d;
    m->total = 80ull << 30;
    m->used = 1ull << 30;
    m->free = m->total - m->used;
    return OK;
}
