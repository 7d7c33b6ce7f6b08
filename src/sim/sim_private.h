/* sim_private: what the simulator's files share (sim.c runs the loop,
 * sim_pipeline.c models one request, sim_expect.c computes the truth's
 * "expected" block). Not part of the library's interface. */
#ifndef SKEWSCOPE_SIM_PRIVATE_H
#define SKEWSCOPE_SIM_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/trace_writer.h"
#include "sim/sim.h"

#define SIM_MAX_ATTRS 4
#define SIM_MAX_EVENTS 2

/* One node of the pipeline: its clock and the strings its spans use. */
struct sim_node {
    char name[SIM_NODE_NAME_MAX];  /* "node-decode-0" */
    const char *topic;             /* "decode-0" (name without "node-") */
    char publish[48], process[48]; /* "publish decode-0", "process decode-0" */
    const char *rpc_service;       /* "inference.Decode" */
    char rpc_name[48];             /* "inference.Decode/Run" */
    int64_t skew_ns, step_ns, step_at_ns; /* step_at: absolute true time */
    double drift_ppm;
    uint64_t spans;
};

/* A span in true time, before the node's clock reads it. */
struct sim_span {
    uint64_t span_id;
    int parent; /* index in the request, or -1 */
    int link;   /* index of the linked PRODUCER span, or -1 */
    int node;
    int kind;
    const char *name;
    int64_t start, end; /* true unix ns */
    size_t nattrs, nevents;
    struct span_kv attrs[SIM_MAX_ATTRS];
    struct span_event_desc events[SIM_MAX_EVENTS]; /* true times */
};

/* xoshiro256** state. */
struct sim_rng {
    uint64_t s[4];
};

/* The spans of the request being built; buffers reused across requests. */
struct sim_req {
    uint8_t trace_id[16];
    struct sim_span *spans;
    size_t n, cap;
    bool oom;
};

struct sim {
    const struct sim_config *cfg;
    struct sim_node *nodes;
    unsigned nnodes;
    struct sim_rng rng;
    struct sim_req req;
    int64_t t_response; /* oneway: when the gateway received the response */
};

/* Node indices of the pipeline. */
#define SIM_GATEWAY 0
#define SIM_TOKENIZER 1
#define SIM_PREFILL 2
#define SIM_DECODE0 3
#define SIM_DETOK(tp) (3 + (int)(tp))

uint64_t sim_rng_next(struct sim_rng *r);
void sim_rng_seed(struct sim_rng *r, uint64_t seed);
/* Uniform integer in [lo, hi]. */
int64_t sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi);
/* Exponential with the given mean, rounded to ns. */
int64_t sim_rng_exp(struct sim_rng *r, double mean);

/* Build request spans (sim->req reset first) for a request arriving at the
 * gateway at true time t0. Returns 0, or -1 when out of memory. */
int sim_pipeline_request(struct sim *sim, int64_t t0);

/* The time node `node` reads at true time t. */
int64_t sim_observe(const struct sim *sim, int node, int64_t t);

/* Accumulates the check quantities of docs/CONTRACTS.md "Terms" over the
 * written spans. */
struct sim_expect;

struct sim_expect *sim_expect_create(unsigned nnodes, int64_t resolution_ns,
                                     bool links_visible);
void sim_expect_destroy(struct sim_expect *e);
/* Add one request; start/end are the observed times of req's spans (as
 * written, before resolution flooring, which this applies). */
void sim_expect_add(struct sim_expect *e, const struct sim_req *req,
                    const int64_t *start, const int64_t *end);
/* Write the "expected" value (a JSON object) with node names for edges.
 * Returns a new jansson reference, or NULL when out of memory. */
struct json_t *sim_expect_json(const struct sim_expect *e,
                               const struct sim_node *nodes);

#endif
