/* bench_rca: how long an RCA method takes to rank one case of RCAEval's
 * Online Boutique shape: 13 services x (cpu, mem, latency-50, latency-90,
 * error) = 52 metrics after main.py drops latency-50, 20 minutes at 1 s
 * (600 rows each side of the inject time), a cpu fault in one service. The
 * case is built in memory and prepared once (rca-llm's windowing); only
 * rca_rank() is timed, i.e. what a method costs per case excluding the
 * read. --auto times BARO's change-point detection (--inject-time auto)
 * instead, on a network fault (a latency and error rise), since it reads
 * the latency and error columns.
 *
 *   bench_rca [--method NAME|all] [--reps N] [--services N] [--minutes M]
 *             [--noise normal|laplace] [--auto [--prune L]]
 *
 * --noise laplace: heavy-tailed noise, as real metrics have, which
 * FastICA (the LiNGAM methods) can separate; on normal noise it cannot and
 * runs its 1,000 iterations.
 *
 * Defaults: nsigma and baro, reps chosen to run about a second each.
 * Prints per method: ms per case (median and min of the repetitions),
 * cases per second, and the rank of the true root cause's service. The
 * goal for nsigma and baro is under 1 ms per case (issue 8). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/rca_synth.h"
#include "ingest/rcaeval.h"
#include "model/series.h"
#include "rca/eval.h"
#include "rca/rca.h"
#include "bench_util.h"

struct opts {
    const char *method;
    unsigned reps;
    unsigned services;
    unsigned minutes;
    bool auto_inject;
    bool laplace; /* --noise laplace */
    double prune; /* --prune: BOCPD log_prune (0 exact) */
};

static void usage(void)
{
    fprintf(stderr, "usage: bench_rca [--method NAME|all] [--reps N] "
                    "[--services N] [--minutes M] [--noise normal|laplace] "
                    "[--auto [--prune L]]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--auto")) {
            o->auto_inject = true;
            continue;
        }
        if (!v) {
            usage();
            return -1;
        }
        if (!strcmp(a, "--method"))
            o->method = v;
        else if (!strcmp(a, "--reps"))
            o->reps = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--services"))
            o->services = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--prune"))
            o->prune = strtod(v, NULL);
        else if (!strcmp(a, "--minutes"))
            o->minutes = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--noise") &&
                 (!strcmp(v, "normal") || !strcmp(v, "laplace")))
            o->laplace = !strcmp(v, "laplace");
        else {
            usage();
            return -1;
        }
        i++;
    }
    if (o->services < 2 || o->minutes < 1) {
        usage();
        return -1;
    }
    return 0;
}

/* Time one method over reps repetitions (0: about one second). */
static int bench_method(const struct rca_method *m, const struct rca_case *c,
                        unsigned reps, const char *truth)
{
    struct rca_params p = {.seed = 1};
    struct rca_ranking r;
    double *t, t0;
    char err[512];
    size_t rank = 0;

    if (reps == 0) {
        /* calibrate: one run, then enough for ~1 s (at least 5) */
        rca_ranking_init(&r);
        t0 = clock_now_s(CLOCK_MONOTONIC);
        if (rca_rank(m, c, &p, &r, err, sizeof err) < 0) {
            printf("%-16s failed: %s\n", rca_method_name(m), err);
            return -1;
        }
        double once = clock_now_s(CLOCK_MONOTONIC) - t0;
        rca_ranking_free(&r);
        reps = once > 0.2 ? 5 : (unsigned)(1.0 / (once + 1e-7));
        if (reps < 5)
            reps = 5;
        if (reps > 20000)
            reps = 20000;
    }
    if (!(t = malloc(reps * sizeof(*t))))
        return -1;
    for (unsigned i = 0; i < reps; i++) {
        rca_ranking_init(&r);
        t0 = clock_now_s(CLOCK_MONOTONIC);
        if (rca_rank(m, c, &p, &r, err, sizeof err) < 0) {
            printf("%-16s failed: %s\n", rca_method_name(m), err);
            free(t);
            return -1;
        }
        t[i] = clock_now_s(CLOCK_MONOTONIC) - t0;
        if (i == 0)
            rank = rca_eval_rank_of(&r, truth);
        rca_ranking_free(&r);
    }
    qsort(t, reps, sizeof(*t), cmp_double);
    printf("%-16s %8u %12.4f %12.4f %12.0f %6zu\n", rca_method_name(m), reps,
           t[reps / 2] * 1e3, t[0] * 1e3, 1.0 / t[reps / 2], rank);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.services = 13, .minutes = 20};
    size_t rows_side;
    struct rca_synth s;
    struct series_table *raw, *prep;
    struct rca_case c = {0};
    struct rcaeval_prep pp = {0};
    int64_t inject_ns;
    int rc = 0;

    if (parse(argc, argv, &o) < 0)
        return 2;
    rows_side = rcaeval_rows_for_length(o.minutes);
    s = (struct rca_synth){
        .services = o.services,
        .rows = 4 * rows_side,
        .t0_s = 1700000000,
        .inject_row = 2 * rows_side,
        .root = o.services / 2,
        /* change-point detection reads latency and error columns */
        .fault = o.auto_inject ? "network" : "cpu",
        .shift = 4.0,
        .seed = 42,
        .laplace = o.laplace,
    };
    if (!(raw = rca_synth_table(&s)))
        return 70;
    pp.rows_each_side = rows_side;
    if (rcaeval_prepare(raw, s.t0_s + (int64_t)s.inject_row, &pp, &prep,
                        &inject_ns) < 0)
        return 70;
    c.metrics = prep;
    c.inject_ns = inject_ns;
    c.has_inject = true;
    c.n_iter = prep->ncols;
    c.name = "synthetic-ob";
    printf("case: %zu metrics x %zu rows (%u min at 1 s), %s noise, inject "
           "at row %zu, root cause s%u\n\n",
           prep->ncols, prep->nrows, o.minutes,
           o.laplace ? "Laplace" : "normal", rows_side, s.root);
    char truth[16];
    snprintf(truth, sizeof truth, "s%u", s.root);

    if (o.auto_inject) {
        unsigned reps = o.reps ? o.reps : 3;
        double best = 1e30;
        size_t row = 0;

        for (unsigned i = 0; i < reps; i++) {
            double t0 = clock_now_s(CLOCK_MONOTONIC);
            int drc = rca_detect_inject(prep, o.prune, &row);
            double dt = clock_now_s(CLOCK_MONOTONIC) - t0;

            if (drc < 0) {
                printf("change-point detection: %s\n", rca_strerror(drc));
                rc = 1;
                break;
            }
            best = dt < best ? dt : best;
        }
        if (rc == 0)
            printf("change-point detection (BOCPD, latency+error columns, "
                   "log_prune %g): %.1f ms (best of %u), change point at "
                   "row %zu\n",
                   o.prune, best * 1e3, reps, row);
        goto out;
    }
    printf("%-16s %8s %12s %12s %12s %6s\n", "method", "reps", "median ms",
           "min ms", "cases/s", "rank");
    for (size_t i = 0; i < rca_method_count(); i++) {
        const struct rca_method *m = rca_method_at(i);
        const char *name = rca_method_name(m);
        bool want = o.method
                        ? !strcmp(o.method, "all") || !strcmp(o.method, name)
                        : !strcmp(name, "nsigma") || !strcmp(name, "baro");

        if (!want)
            continue;
        if (rca_method_inputs(m) &
            ~(RCA_IN_METRICS | RCA_IN_INJECT | RCA_IN_TRACES_OPT)) {
            printf("%-16s skipped: needs logs or traces\n", name);
            continue;
        }
        if (bench_method(m, &c, o.reps, truth) < 0)
            rc = 1;
    }
    if (o.method && strcmp(o.method, "all") && !rca_method_find(o.method)) {
        fprintf(stderr, "bench_rca: unknown method '%s'\n", o.method);
        rc = 2;
    }
out:
    series_table_destroy(prep);
    series_table_destroy(raw);
    return rc;
}
