/* bench_fleet: the clock estimator at fleet scale (issue 10, "10,000
 * clock domains"). Generates a fleet of pipelines sharing hosts
 * (sim/sim_fleet.h: every host a clock domain, a handful skewed), runs the
 * estimate against the consensus (the default of `estimate`) and prints
 * one line: hosts, observations, seconds, peak RSS, and the worst error of
 * the offsets against the truth. One size per process, so the peak RSS is
 * this size's:
 *     for n in 100 300 1000 3000 10000; do build/bench/bench_fleet $n; done
 * A second argument sets the drift windows (default: automatic, which for
 * this fleet's 20 requests per pipeline is one window, no drift track);
 * each window adds one solve. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "analysis/clock_graph.h"
#include "sim/sim_fleet.h"
#include "bench_util.h"

int main(int argc, char **argv)
{
    unsigned hosts = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000;
    struct sim_fleet_config cfg;
    struct clock_obs *obs;
    size_t n;
    int64_t *skew = malloc((hosts + 1) * sizeof(*skew));
    struct clock_estimate e;
    struct rusage ru;

    sim_fleet_config_init(&cfg, hosts);
    if (!skew || sim_fleet_obs(&cfg, &obs, &n, skew) < 0) {
        fprintf(stderr, "bench_fleet: cannot generate %u hosts\n", hosts);
        return 1;
    }
    struct clock_graph_opts opts = {
        .reference = CLOCK_REF_CONSENSUS,
        .windows = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0};
    double t0 = clock_now_s(CLOCK_MONOTONIC);
    if (clock_graph_estimate(&e, obs, n, hosts, &opts) < 0) {
        fprintf(stderr, "bench_fleet: out of memory\n");
        return 1;
    }
    double secs = clock_now_s(CLOCK_MONOTONIC) - t0;
    int64_t worst = 0, worst_skewed = 0;
    size_t known = 0, drifts = 0, steps = 0;
    for (unsigned h = 0; h < hosts; h++) {
        if (!e.nodes[h].known)
            continue;
        known++;
        drifts += e.nodes[h].drift_significant;
        steps += e.nodes[h].has_step;
        int64_t err = llabs(e.nodes[h].offset_ns - skew[h]);
        if (skew[h] && err > worst_skewed)
            worst_skewed = err;
        if (!skew[h] && err > worst)
            worst = err;
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("hosts %u  observations %zu  windows %zu  known %zu  "
           "consistent %d  "
           "estimate %.2f s  peak RSS %.1f MB  worst error %.1f us "
           "(skewed hosts %.1f us)  drifts %zu  steps %zu\n",
           hosts, n, e.nwindows, known, e.consistent, secs,
           (double)ru.ru_maxrss / 1024, (double)worst / 1e3,
           (double)worst_skewed / 1e3, drifts, steps);
    clock_estimate_free(&e);
    free(obs);
    free(skew);
    return 0;
}
