/* fault: the faults `skewscope testbed --fault KIND@STAGE[:PARAM]` injects
 * (pipeline.h): their spelling, defaults and where each applies. The
 * injection itself runs in the stage (stage_monitor.c), in the window the
 * orchestrator schedules (pipeline.c). */
#include "testbed/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define MIB (1024.0 * 1024.0)

static const struct {
    const char *name, *case_name;
} fault_names[] = {
    [PIPELINE_FAULT_CPU] = {"cpu", "cpu"},
    [PIPELINE_FAULT_MEMORY] = {"memory", "memory"},
    [PIPELINE_FAULT_NETWORK] = {"network", "network"},
    [PIPELINE_FAULT_GPU_THROTTLE] = {"gpu-throttle", "gpu"},
    [PIPELINE_FAULT_HEAVY] = {"heavy", "heavy"},
    [PIPELINE_FAULT_EARLY_STOP] = {"early-stop", "early-stop"},
    [PIPELINE_FAULT_KV_BUDGET] = {"kv-budget", "kv"},
    [PIPELINE_FAULT_ROUTE_SKEW] = {"route-skew", "route"},
};

const char *pipeline_fault_name(enum pipeline_fault_kind kind)
{
    return fault_names[kind].name;
}

const char *pipeline_fault_case_name(enum pipeline_fault_kind kind)
{
    return fault_names[kind].case_name;
}

bool pipeline_fault_applies(enum pipeline_fault_kind kind, const char *stage)
{
    switch (kind) {
    case PIPELINE_FAULT_GPU_THROTTLE:
    case PIPELINE_FAULT_HEAVY:
        return strcmp(stage, "prefill") == 0 ||
               strncmp(stage, "decode-", 7) == 0;
    case PIPELINE_FAULT_EARLY_STOP:
        return strncmp(stage, "decode-", 7) == 0;
    case PIPELINE_FAULT_KV_BUDGET:
        return strcmp(stage, "decode") == 0;
    case PIPELINE_FAULT_ROUTE_SKEW:
        return strcmp(stage, "tokenizer") == 0;
    default:
        return true;
    }
}

int pipeline_stage_index(const char *stage, unsigned tp)
{
    static const char *const fixed[] = {"gateway", "tokenizer", "prefill",
                                        "detokenizer"};
    char *end;

    if (strncmp(stage, "node-", 5) == 0)
        stage += 5;
    for (int i = 0; i < 4; i++)
        if (strcmp(stage, fixed[i]) == 0)
            return i;
    if (strncmp(stage, "prefill-", 8) == 0 && stage[8] >= '0' &&
        stage[8] <= '9') {
        unsigned long k = strtoul(stage + 8, &end, 10);
        if (*end || k >= PIPELINE_MAX_DP)
            return -1;
        return k == 0 ? 2 : 3 + PIPELINE_MAX_TP + (int)k;
    }
    if (strncmp(stage, "decode-", 7) != 0 || stage[7] < '0' || stage[7] > '9')
        return -1;
    unsigned long r = strtoul(stage + 7, &end, 10);
    return *end == '\0' && r < tp ? 4 + (int)r : -1;
}

/* "512MiB", "1GiB", "300MB", "1048576" -> bytes. */
static int parse_bytes(const char *v, double *out)
{
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", 1024},
                 {"MiB", MIB},
                 {"GiB", MIB * 1024},
                 {"KB", 1e3},
                 {"MB", 1e6},
                 {"GB", 1e9}};
    char *end;

    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || !(d > 0) || !isfinite(d))
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0) {
            *out = d * units[i].mult;
            return 0;
        }
    return -1;
}

/* "0.5" or "50%" -> 0.5; must lie in (0, 1). */
static int parse_speed(const char *v, double *out)
{
    char *end;

    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v)
        return -1;
    if (strcmp(end, "%") == 0)
        d /= 100;
    else if (*end)
        return -1;
    if (!(d > 0 && d < 1))
        return -1;
    *out = d;
    return 0;
}

/* "50ms" or "50ms/5ms" (delay/jitter). */
static int parse_delay(const char *v, struct pipeline_fault *f)
{
    char buf[64];
    const char *slash = strchr(v, '/');
    size_t n = slash ? (size_t)(slash - v) : strlen(v);

    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    if (sim_parse_duration(buf, 0, &f->delay_ns) < 0 || f->delay_ns <= 0)
        return -1;
    f->jitter_ns = f->delay_ns / 10;
    if (slash && (sim_parse_duration(slash + 1, 0, &f->jitter_ns) < 0 ||
                  f->jitter_ns < 0 || f->jitter_ns > f->delay_ns))
        return -1;
    return 0;
}

static int parse_param(struct pipeline_fault *f, const char *p, char *err,
                       size_t errlen)
{
    static const char *const want[] = {
        [PIPELINE_FAULT_CPU] = "a number of competing processes (1..64)",
        [PIPELINE_FAULT_MEMORY] = "a size like 512MiB",
        [PIPELINE_FAULT_NETWORK] = "a delay like 50ms, or 50ms/5ms with "
                                   "jitter (at most the delay)",
        [PIPELINE_FAULT_GPU_THROTTLE] = "the speed left, like 0.5 or 50%",
        [PIPELINE_FAULT_HEAVY] = "a work factor above 1, like 4",
        [PIPELINE_FAULT_EARLY_STOP] = "no parameter",
        [PIPELINE_FAULT_KV_BUDGET] = "the budget's share of a request's "
                                     "tokens, like 0.8",
        [PIPELINE_FAULT_ROUTE_SKEW] = "prefill-0's share of the requests, "
                                      "like 0.8",
    };
    char *end;
    int rc = -1;

    switch (f->kind) {
    case PIPELINE_FAULT_CPU:
        f->amount = (double)strtoul(p, &end, 10);
        rc = (end != p && !*end && f->amount >= 1 && f->amount <= 64) ? 0 : -1;
        break;
    case PIPELINE_FAULT_MEMORY:
        rc = parse_bytes(p, &f->amount);
        break;
    case PIPELINE_FAULT_NETWORK:
        rc = parse_delay(p, f);
        break;
    case PIPELINE_FAULT_GPU_THROTTLE:
    case PIPELINE_FAULT_KV_BUDGET:
    case PIPELINE_FAULT_ROUTE_SKEW:
        rc = parse_speed(p, &f->amount);
        break;
    case PIPELINE_FAULT_HEAVY:
        f->amount = strtod(p, &end);
        rc = (end != p && !*end && f->amount > 1 && f->amount <= 1000) ? 0 : -1;
        break;
    case PIPELINE_FAULT_EARLY_STOP:
        break;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s fault: '%s': expected %s",
                 pipeline_fault_name(f->kind), p, want[f->kind]);
    return rc;
}

static void fault_defaults(struct pipeline_fault *f)
{
    switch (f->kind) {
    case PIPELINE_FAULT_CPU:
        f->amount = 4;
        break;
    case PIPELINE_FAULT_MEMORY:
        f->amount = 256 * MIB;
        break;
    case PIPELINE_FAULT_NETWORK:
        f->delay_ns = 20000000;
        f->jitter_ns = 2000000;
        break;
    case PIPELINE_FAULT_GPU_THROTTLE:
        f->amount = 0.5;
        break;
    case PIPELINE_FAULT_HEAVY:
        f->amount = 4;
        break;
    case PIPELINE_FAULT_KV_BUDGET:
        f->amount = 0.6;
        break;
    case PIPELINE_FAULT_ROUTE_SKEW:
        f->amount = 0.8;
        break;
    case PIPELINE_FAULT_EARLY_STOP:
        break;
    }
}

static int parse_kind(const char *s, size_t n, enum pipeline_fault_kind *k)
{
    for (size_t i = 0; i < sizeof fault_names / sizeof fault_names[0]; i++)
        if (strlen(fault_names[i].name) == n &&
            strncmp(s, fault_names[i].name, n) == 0) {
            *k = (enum pipeline_fault_kind)i;
            return 0;
        }
    return -1;
}

int pipeline_config_add_fault(struct pipeline_config *cfg, const char *spec,
                              int64_t at_ns, int64_t for_ns, char *err,
                              size_t errlen)
{
    const char *at = strchr(spec, '@');
    struct pipeline_fault f;

    memset(&f, 0, sizeof f);
    if (cfg->nfaults == PIPELINE_MAX_FAULTS) {
        snprintf(err, errlen, "at most %d faults", PIPELINE_MAX_FAULTS);
        return -1;
    }
    if (!at || parse_kind(spec, (size_t)(at - spec), &f.kind) < 0) {
        snprintf(err, errlen,
                 "'%s': expected KIND@STAGE[:PARAM] with KIND cpu, memory, "
                 "network, gpu-throttle, heavy, early-stop, kv-budget or "
                 "route-skew",
                 spec);
        return -1;
    }
    const char *stage = at + 1, *colon = strchr(stage, ':');
    size_t n = colon ? (size_t)(colon - stage) : strlen(stage);
    if (strncmp(stage, "node-", 5) == 0 && n > 5) {
        stage += 5;
        n -= 5;
    }
    if (n == 0 || n >= sizeof f.stage) {
        snprintf(err, errlen, "'%s': bad stage name", spec);
        return -1;
    }
    memcpy(f.stage, stage, n);
    f.stage[n] = '\0';
    if (!pipeline_fault_applies(f.kind, f.stage)) {
        snprintf(err, errlen,
                 "'%s': gpu-throttle and heavy apply to the stages that run "
                 "the model (prefill, decode-N), early-stop to decode-N, "
                 "kv-budget to decode (the TP group), route-skew to "
                 "tokenizer (the router)",
                 spec);
        return -1;
    }
    fault_defaults(&f);
    if (colon && parse_param(&f, colon + 1, err, errlen) < 0)
        return -1;
    if (at_ns < 0 || for_ns <= 0) {
        snprintf(err, errlen,
                 "a fault needs --fault-at >= 0 and --fault-for "
                 "> 0");
        return -1;
    }
    f.at_ns = at_ns;
    f.for_ns = for_ns;
    cfg->faults[cfg->nfaults++] = f;
    return 0;
}
