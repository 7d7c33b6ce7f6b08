/* bench_rca_trace: how long the trace-based RCA methods (microrank,
 * tracerca) and pdiagnose take on one case with about 100,000 spans
 * (tests/rca_trace_synth.h: a request every period through three of five
 * services, a slow service from the middle on; 20 minutes, 10 each side
 * of the inject time, with a request every 36 ms: 33,334 traces, 100,002
 * spans). The case folder is written to a temporary directory and read
 * once (the read is timed separately: traces.csv parsing is part of what
 * a case costs); only rca_rank() is timed per method.
 *
 *   bench_rca_trace [--spans N] [--reps R] [--method NAME]
 *
 * Prints, per method: ms per case (median and min of R repetitions,
 * default 5) and the first candidate. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/rca_trace_synth.h"
#include "ingest/rcaeval.h"
#include "rca/rca.h"
#include "bench_util.h"

struct run {
    const char *method;
    const char *key, *value; /* one parameter, or NULL */
};

static void bench(const struct run *run, const struct rca_case *c,
                  unsigned reps)
{
    const struct rca_method *m = rca_method_find(run->method);
    struct rca_kv kv = {run->key, run->value};
    struct rca_params p = {.seed = 1, .kv = &kv, .nkv = run->key ? 1 : 0};
    double *t = calloc(reps, sizeof(*t));
    char err[512], label[64];

    snprintf(label, sizeof label, "%s%s%s%s", run->method, run->key ? " " : "",
             run->key ? run->key : "", run->key ? "=" : "");
    if (run->key)
        strncat(label, run->value, sizeof label - strlen(label) - 1);
    char first[128] = "-";
    for (unsigned i = 0; i < reps; i++) {
        struct rca_ranking r;
        rca_ranking_init(&r);
        double t0 = clock_now_s(CLOCK_MONOTONIC);
        if (rca_rank(m, c, &p, &r, err, sizeof err) != 0) {
            printf("%-24s failed: %s\n", label, err);
            free(t);
            return;
        }
        t[i] = clock_now_s(CLOCK_MONOTONIC) - t0;
        if (r.n)
            snprintf(first, sizeof first, "%s", r.items[0].name);
        rca_ranking_free(&r);
    }
    qsort(t, reps, sizeof(*t), cmp_double);
    printf("%-24s %9.2f ms median %9.2f ms min   first %s\n", label,
           t[reps / 2] * 1e3, t[0] * 1e3, first);
    free(t);
}

int main(int argc, char **argv)
{
    size_t spans = 100000;
    unsigned reps = 5;
    const char *only = NULL;
    char dir[] = "/tmp/skewscope-bench-trace-XXXXXX", path[256], err[512];

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--spans"))
            spans = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps"))
            reps = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--method"))
            only = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_rca_trace [--spans N] [--reps R] "
                            "[--method NAME]\n");
            return 2;
        }
    }
    if (reps == 0 || spans < 300 || !mkdtemp(dir))
        return 2;
    /* 20 minutes; 3 spans per request */
    struct tsyn t = {.t0_s = 1700000000,
                     .before_s = 600,
                     .after_s = 600,
                     .period_ms = (unsigned)(1200000 / (spans / 3)),
                     .slow = "payment",
                     .slow_ms = 10,
                     .metric_shift = 8,
                     .error_service = "payment",
                     .seed = 7};
    if (t.period_ms == 0)
        t.period_ms = 1;
    snprintf(path, sizeof path, "%s/payment_delay", dir);
    mkdir(path, 0755);
    strcat(path, "/1");
    size_t n = tsyn_write_case(&t, path);

    struct rcaeval_case *src;
    struct rca_case *c;
    double t0 = clock_now_s(CLOCK_MONOTONIC);
    if (rcaeval_case_read(path, NULL, &src, err, sizeof err) != 0 ||
        rca_case_prepare(src, NULL, &c, err, sizeof err) != 0) {
        fprintf(stderr, "bench_rca_trace: %s\n", err);
        return 1;
    }
    printf("case: %zu spans, %zu traces, 5 services; read + prepare %.1f ms "
           "(traces.csv, logs.csv, data.csv, derived tracets/logts)\n",
           n, n / 3, (clock_now_s(CLOCK_MONOTONIC) - t0) * 1e3);
    static const struct run runs[] = {
        {"microrank", NULL, NULL}, {"microrank", "mode", "paper"},
        {"tracerca", NULL, NULL},  {"tracerca", "mode", "traces"},
        {"pdiagnose", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        if (!only || !strcmp(only, runs[i].method))
            bench(&runs[i], c, reps);
    rca_case_destroy(c);
    rcaeval_case_destroy(src);
    for (const char *f = "traces.csv\0data.csv\0logs.csv\0inject_time.txt\0";
         *f; f += strlen(f) + 1) {
        char p2[300];
        snprintf(p2, sizeof p2, "%s/%s", path, f);
        unlink(p2);
    }
    rmdir(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    rmdir(dir);
    return 0;
}
