/* sim: the simulation tier's generator. It models an LLM inference pipeline
 * (node-gateway -> node-tokenizer -> node-prefill -> node-decode-0..N-1 ->
 * node-detokenizer -> node-gateway), every node its own clock domain, and
 * writes one trace per request in any input format (through trace_writer),
 * together with the TRUTH: each node's clock offset, drift and step, and an
 * independent computation of what `check` must report on the file.
 *
 * Flow: sim_config -> sim_run() -> trace_writer backend -> trace file;
 *                                -> truth JSON (the tests' oracle).
 *
 * Clocks: a node v reads true time t as
 *     obs_v(t) = t + skew_v + round(drift_v * 1e-6 * (t - start))
 *                  + (t >= start + step_at_v ? step_v : 0)
 * so a positive skew means the node's clock is AHEAD of true time (the sign
 * convention of docs/CONTRACTS.md's offsets, with true time as the reference).
 *
 * Determinism: the same configuration (seed included) produces the same
 * bytes. Not thread-safe per config; separate runs may run in parallel. */
#ifndef SKEWSCOPE_SIM_H
#define SKEWSCOPE_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct trace_writer_ops;

#define SIM_MAX_TP 64
#define SIM_MAX_NODES (SIM_MAX_TP + 4)
#define SIM_NODE_NAME_MAX 32

enum sim_transport {
    SIM_TRANSPORT_ONEWAY = 0, /* Kafka/ZeroMQ-like PRODUCER -> CONSUMER */
    SIM_TRANSPORT_RPC,        /* synchronous gRPC CLIENT -> SERVER */
};

enum sim_arrivals {
    SIM_ARRIVALS_UNIFORM = 0, /* request i arrives at start + i*duration/N */
    SIM_ARRIVALS_POISSON,     /* exponential gaps, mean duration/N */
};

/* Which clock parameter a "NODE=VALUE" spec sets. */
enum sim_clock_param {
    SIM_CLOCK_ANY = 0, /* decided by the value: "5ms" skew, "40ppm" drift,
                          "2ms@30s" step */
    SIM_CLOCK_SKEW,    /* VALUE is a duration with unit (ns, us, ms, s) */
    SIM_CLOCK_DRIFT,   /* VALUE is ppm, with or without the "ppm" suffix */
    SIM_CLOCK_STEP,    /* VALUE is OFFSET@TIME, both durations with units */
};

/* Clock error of one node, relative to true time. */
struct sim_clock {
    char node[SIM_NODE_NAME_MAX]; /* full node name: "node-prefill" */
    int64_t skew_ns;              /* constant offset; positive = ahead */
    double drift_ppm;             /* rate error; positive = runs fast */
    int64_t step_ns;              /* offset jump (0 = none) ... */
    int64_t step_at_ns;           /* ... at this true time since the start */
};

struct sim_config {
    unsigned requests;            /* traces to generate (default 100) */
    double duration_s;            /* span of request arrivals (default 60) */
    unsigned tp;                  /* tensor-parallel decode ranks (default 2) */
    unsigned steps;               /* decode steps per request (default 4) */
    enum sim_transport transport; /* default SIM_TRANSPORT_ONEWAY */
    bool links;                   /* oneway: consumer links to the producer
                                     instead of being its child */
    const char *system;           /* messaging.system: "kafka" (default) or
                                     "zeromq"; not owned, must outlive the run */
    int64_t hop_min_ns;           /* minimum one-way latency (default 2 ms) */
    int64_t hop_jitter_ns;        /* mean of the exponential extra latency
                                     (default 0.5 ms) */
    uint64_t seed;                /* PRNG seed (default 1) */
    int64_t start_unix_ns;        /* true time of the run's start
                                     (default 1790000000 s) */
    enum sim_arrivals arrivals;
    int lines; /* passed to the writer's create(): OTLP JSON
                  one document per line */
    size_t nclocks;
    struct sim_clock clocks[SIM_MAX_NODES];
};

/* Fill *cfg with the defaults listed above (no clock errors). */
void sim_config_init(struct sim_config *cfg);

/* Parse a duration with a unit: "5ms", "-300us", "2s", "1500ns", decimals
 * allowed ("0.5ms"). A bare number is accepted only when default_unit_ns is
 * non-zero (it is then multiplied by it). Result rounded to the nearest ns.
 * Returns 0, or -1 on bad syntax or overflow. */
int sim_parse_duration(const char *s, int64_t default_unit_ns, int64_t *out_ns);

/* Apply one clock spec "NODE=VALUE" to cfg. NODE may be given with or
 * without the "node-" prefix; it is not checked against the pipeline here
 * (sim_run() does). Specs for the same node merge: each sets only its own
 * parameter, and a later spec replaces an earlier one of the same parameter.
 * Examples: "prefill=5ms", "node-decode-1=-300us", "tokenizer=40ppm",
 * "prefill=2ms@30s". Returns 0, or -1 with a message in err. */
int sim_config_parse_clock(struct sim_config *cfg, enum sim_clock_param param,
                           const char *spec, char *err, size_t errlen);

/* Name of node i of a pipeline with tp decode ranks, in pipeline order:
 * node-gateway, node-tokenizer, node-prefill, node-decode-0 .. tp-1,
 * node-detokenizer. Writes into out (SIM_NODE_NAME_MAX bytes). Returns 0, or
 * -1 when i >= tp + 4. */
int sim_node_name(unsigned tp, unsigned i, char out[SIM_NODE_NAME_MAX]);

/* Check a configuration as sim_run() will: ranges (tp 1..SIM_MAX_TP, steps
 * 0..100000, duration 0..1e7 s, non-negative latencies, a messaging system)
 * and that every clock spec names a node of the pipeline. Returns 0, or -1
 * with a message in err (a usage error for a command line). */
int sim_config_check(const struct sim_config *cfg, char *err, size_t errlen);

/* Generate cfg->requests traces and write them with `ops` to out (not
 * closed; one writer batch per trace). When truth is not NULL, write the
 * truth JSON document to it:
 *   {"start_unix_nano", "end_unix_nano", "at_unix_nano" (= end, true time),
 *    "hop_min_ns", "hop_jitter_ns", "transport", "links", "format",
 *    "time_resolution_ns", "seed",
 *    "nodes": [{"node", "offset_ns" (obs - true at at_unix_nano), "skew_ns",
 *               "drift_ppm", "step_ns", "step_at_unix_nano", "spans"}],
 *    "expected": {"spans", "traces", "pairs", "violating_pairs",
 *                 "by_kind": {"starts_before_parent", "ends_after_parent",
 *                             "negative_duration"},
 *                 "edges": [{"from", "to", "pairs", "violations",
 *                            "min_slack_ns"}]}}
 * "expected" applies the check definitions of docs/CONTRACTS.md ("Terms") to
 * the spans as written: times floored to µs for Jaeger and Zipkin, links only
 * where the format can carry them (not Zipkin). violating_pairs counts edge
 * pairs with starts_before_parent or ends_after_parent; negative_duration
 * counts spans. Returns 0, or -1 with a message in err (bad configuration,
 * unknown node in a clock spec, out of memory, write error). */
int sim_run(const struct sim_config *cfg, const struct trace_writer_ops *ops,
            FILE *out, FILE *truth, char *err, size_t errlen);

#endif
