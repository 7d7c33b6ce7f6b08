/* rca_trace_synth: small synthetic RCAEval cases with spans, metrics and
 * logs and a known root cause, for tests/test_rca_trace.c and
 * bench/bench_rca_trace.c. Header-only.
 *
 * Topology: a request enters `gateway` and takes one of four paths, in
 * turn (request k takes path k % 4):
 *
 *   path 0: gateway -> cart     -> payment
 *   path 1: gateway -> cart     -> shipping
 *   path 2: gateway -> checkout -> payment
 *   path 3: gateway -> checkout -> shipping
 *
 * Calls are synchronous: a caller's span holds its own time plus its
 * callee's span (and the hop delay, below). Own times (ms): gateway 2,
 * cart 3, checkout 3.5, payment 5, shipping 4, each + N(0, 0.3) (at least
 * 0.1). From the inject time on:
 *   slow       its own time + slow_ms (the service's spans get slower);
 *   hop_caller its call to its callee takes hop_ms longer (a slow network
 *              hop or a queue in front of the callee): the caller's span
 *              grows, the callee's does not.
 * A request starts every period_ms from t0_s for before_s + after_s
 * seconds; the inject time is t0_s + before_s.
 *
 * Metrics (data.csv, 1 s rows): <service>_cpu and <service>_mem, noise,
 * and metric_shift noise sd added to slow's cpu from the inject time on.
 * Logs (logs.csv): one "INFO request ok" line per service per second, and
 * from the inject time on one "upstream error: timeout" line per second
 * from error_service. */
#ifndef SKEWSCOPE_RCA_TRACE_SYNTH_H
#define SKEWSCOPE_RCA_TRACE_SYNTH_H

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "test_rng.h"

#define TSYN_NSVC 5
static const char *const tsyn_svc[TSYN_NSVC] = {"gateway", "cart", "checkout",
                                                "payment", "shipping"};
static const char *const tsyn_method[TSYN_NSVC] = {
    "POST /order", "AddItem", "PlaceOrder", "Charge", "Quote"};
static const double tsyn_own_ms[TSYN_NSVC] = {2.0, 3.0, 3.5, 5.0, 4.0};

struct tsyn {
    int64_t t0_s;
    unsigned before_s, after_s;
    unsigned period_ms;
    const char *slow; /* service name or NULL */
    double slow_ms;
    const char *hop_caller; /* "cart" or "checkout" or NULL */
    double hop_ms;
    double metric_shift;       /* cpu rise of `slow`, noise sds */
    const char *error_service; /* error log lines from it, or NULL */
    uint64_t seed;
};

static inline int tsyn_index(const char *name)
{
    for (int i = 0; name && i < TSYN_NSVC; i++)
        if (!strcmp(tsyn_svc[i], name))
            return i;
    return -1;
}

/* Own time of service i for a request starting at t_us (us). */
static inline double tsyn_own_us(const struct tsyn *c, int i, int64_t t_us,
                                 uint64_t *rng)
{
    double ms = tsyn_own_ms[i] + 0.3 * test_rng_normal(rng);

    if (ms < 0.1)
        ms = 0.1;
    if (t_us >= (c->t0_s + (int64_t)c->before_s) * 1000000 &&
        tsyn_index(c->slow) == i)
        ms += c->slow_ms;
    return ms * 1000.0;
}

/* Write traces.csv to f. Returns the number of spans. */
static inline size_t tsyn_write_traces(const struct tsyn *c, FILE *f)
{
    uint64_t rng = c->seed;
    int64_t inject_us = (c->t0_s + (int64_t)c->before_s) * 1000000;
    int64_t end_us = inject_us + (int64_t)c->after_s * 1000000;
    size_t nspans = 0;
    uint64_t sid = 0x1000;

    fputs("traceID,spanID,parentSpanID,serviceName,methodName,"
          "operationName,startTimeMillis,startTime,duration,statusCode\n",
          f);
    for (uint64_t k = 0;; k++) {
        int64_t t = c->t0_s * 1000000 + (int64_t)(k * c->period_ms * 1000);
        if (t >= end_us)
            break;
        int mid = (k % 4) < 2 ? 1 : 2, leaf = (k % 2) == 0 ? 3 : 4;
        int path[3] = {0, mid, leaf};
        double own[3], dur[3], hop = 0.0;
        int64_t start[3];

        for (int j = 0; j < 3; j++)
            own[j] = tsyn_own_us(c, path[j], t, &rng);
        if (t >= inject_us && c->hop_caller && tsyn_index(c->hop_caller) == mid)
            hop = c->hop_ms * 1000.0;
        dur[2] = floor(own[2]);
        dur[1] = floor(own[1] + hop) + dur[2];
        dur[0] = floor(own[0]) + dur[1];
        start[0] = t;
        start[1] = t + (int64_t)(own[0] / 2);
        start[2] = start[1] + (int64_t)(own[1] / 2 + hop);
        uint64_t ids[3] = {sid, sid + 1, sid + 2};
        sid += 3;
        for (int j = 0; j < 3; j++) {
            char parent[24] = "";
            if (j > 0)
                snprintf(parent, sizeof parent, "%016" PRIx64, ids[j - 1]);
            fprintf(f,
                    "%016" PRIx64 "%016" PRIx64 ",%016" PRIx64
                    ",%s,%s,%s,%s,%" PRId64 ",%" PRId64 ",%.0f,200\n",
                    c->seed, k, ids[j], parent, tsyn_svc[path[j]],
                    tsyn_method[path[j]], tsyn_method[path[j]], start[j] / 1000,
                    start[j], dur[j]);
            nspans++;
        }
    }
    return nspans;
}

static inline void tsyn_write_metrics(const struct tsyn *c, FILE *f)
{
    uint64_t rng = c->seed ^ 0x5eed;
    unsigned rows = c->before_s + c->after_s;

    fputs("time", f);
    for (int i = 0; i < TSYN_NSVC; i++)
        fprintf(f, ",%s_cpu,%s_mem", tsyn_svc[i], tsyn_svc[i]);
    fputc('\n', f);
    for (unsigned r = 0; r < rows; r++) {
        fprintf(f, "%" PRId64, c->t0_s + (int64_t)r);
        for (int i = 0; i < TSYN_NSVC; i++) {
            double cpu = 0.3 + 0.02 * test_rng_normal(&rng);
            double mem = 1.0e8 + 1.0e6 * test_rng_normal(&rng);
            if (r >= c->before_s && tsyn_index(c->slow) == i)
                cpu += c->metric_shift * 0.02;
            fprintf(f, ",%.6f,%.0f", cpu, mem);
        }
        fputc('\n', f);
    }
}

static inline void tsyn_write_logs(const struct tsyn *c, FILE *f)
{
    unsigned rows = c->before_s + c->after_s;

    fputs("timestamp,container_name,message\n", f);
    for (unsigned r = 0; r < rows; r++) {
        int64_t ns = (c->t0_s + (int64_t)r) * 1000000000 + 250000000;
        for (int i = 0; i < TSYN_NSVC; i++)
            fprintf(f, "%" PRId64 ",%s,INFO request ok\n", ns, tsyn_svc[i]);
        if (r >= c->before_s && c->error_service)
            fprintf(f, "%" PRId64 ",%s,upstream error: timeout\n", ns + 1000,
                    c->error_service);
    }
}

/* Open dir/name for writing; NULL when the path is too long or fopen
 * fails. */
static inline FILE *tsyn_open(const char *dir, const char *name)
{
    char path[1024];

    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return NULL;
    return fopen(path, "w");
}

/* Write the case folder dir (created): traces.csv, data.csv, logs.csv,
 * inject_time.txt. Returns the number of spans, or 0 on an I/O error. */
static inline size_t tsyn_write_case(const struct tsyn *c, const char *dir)
{
    size_t n = 0;
    FILE *f;

    mkdir(dir, 0755);
    if (!(f = tsyn_open(dir, "traces.csv")))
        return 0;
    n = tsyn_write_traces(c, f);
    fclose(f);
    if (!(f = tsyn_open(dir, "data.csv")))
        return 0;
    tsyn_write_metrics(c, f);
    fclose(f);
    if (!(f = tsyn_open(dir, "logs.csv")))
        return 0;
    tsyn_write_logs(c, f);
    fclose(f);
    if (!(f = tsyn_open(dir, "inject_time.txt")))
        return 0;
    fprintf(f, "%" PRId64 "\n", c->t0_s + (int64_t)c->before_s);
    fclose(f);
    return n;
}

#endif
