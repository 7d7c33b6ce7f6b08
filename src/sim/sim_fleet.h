/* sim_fleet: a fleet for the clock estimator at scale (issue 10, "10,000
 * clock domains"): many small pipelines whose stages run on hosts drawn at
 * random, so pipelines share hosts and the clock graph is one connected,
 * expander-like graph. Each host is a clock domain with a known skew; the
 * output is the estimator's input (struct clock_obs, analysis/
 * clock_graph.h) directly, since a trace file of such a fleet would only
 * measure the reader.
 *
 * A pipeline of `stages` stages sends each request one way (PRODUCER ->
 * CONSUMER, class 0) from stage to stage and back to its first stage, so
 * every pipeline closes a cycle; every fourth pipeline calls instead
 * (CLIENT -> SERVER, class 1, synchronous). Latency: hop_min +
 * Exponential(hop_jitter). Clocks: host h reads true time t as t +
 * skew[h]; `skewed` hosts (the first ones drawn) get skews of +-2..6 ms,
 * the rest 0. Deterministic for a seed. */
#ifndef SKEWSCOPE_SIM_FLEET_H
#define SKEWSCOPE_SIM_FLEET_H

#include <stddef.h>
#include <stdint.h>

struct clock_obs;

struct sim_fleet_config {
    unsigned hosts;                    /* clock domains */
    unsigned pipelines;                /* default hosts / 2 */
    unsigned stages;                   /* per pipeline (6) */
    unsigned requests;                 /* per pipeline (20) */
    double duration_s;                 /* span of the requests (60) */
    int64_t hop_min_ns, hop_jitter_ns; /* 2 ms, 0.5 ms */
    unsigned skewed;                   /* hosts with a skew (5) */
    uint64_t seed;                     /* 1 */
};

/* Defaults above for `hosts` hosts. */
void sim_fleet_config_init(struct sim_fleet_config *cfg, unsigned hosts);

/* Generate the fleet's observations: *obs (malloc'd, *n of them; the
 * caller frees) and skew_ns[h] for every host (caller's array of
 * cfg->hosts). Returns 0, or -1 when out of memory or hosts < stages. */
int sim_fleet_obs(const struct sim_fleet_config *cfg, struct clock_obs **obs,
                  size_t *n, int64_t *skew_ns);

#endif
