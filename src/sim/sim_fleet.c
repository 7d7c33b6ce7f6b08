/* sim_fleet: pipelines sharing hosts, as clock observations (see
 * sim_fleet.h). */
#include "sim/sim_fleet.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/clock_graph.h"
#include "sim/sim_private.h"

#define MS 1000000LL

void sim_fleet_config_init(struct sim_fleet_config *cfg, unsigned hosts)
{
    *cfg = (struct sim_fleet_config){
        .hosts = hosts,
        .pipelines = hosts / 2 ? hosts / 2 : 1,
        .stages = 6,
        .requests = 20,
        .duration_s = 60,
        .hop_min_ns = 2 * MS,
        .hop_jitter_ns = MS / 2,
        .skewed = 5,
        .seed = 1,
    };
}

/* Distinct hosts for one pipeline's stages. */
static void draw_stages(struct sim_rng *r, unsigned hosts, unsigned stages,
                        uint32_t *st)
{
    for (unsigned i = 0; i < stages; i++) {
        bool again;
        do {
            st[i] = (uint32_t)sim_rng_range(r, 0, hosts - 1);
            again = false;
            for (unsigned j = 0; j < i; j++)
                again |= st[j] == st[i];
        } while (again);
    }
}

static int64_t latency(struct sim_rng *r, const struct sim_fleet_config *c)
{
    return c->hop_min_ns + sim_rng_exp(r, (double)c->hop_jitter_ns);
}

/* One request through pipeline st, starting at true time t. */
static size_t request(struct sim_rng *r, const struct sim_fleet_config *c,
                      const uint32_t *st, bool rpc, int64_t t,
                      const int64_t *skew, struct clock_obs *o)
{
    size_t k = 0;

    for (unsigned i = 0; i < c->stages; i++) {
        uint32_t from = st[i], to = st[(i + 1) % c->stages];
        int64_t arrive = t + latency(r, c), done = arrive + MS / 2;
        int64_t back = rpc ? done + latency(r, c) : t + 50000;
        o[k++] = (struct clock_obs){
            .p_start = t + skew[from],
            .p_end = back + skew[from],
            .c_start = arrive + skew[to],
            .c_end = done + skew[to],
            .from = from,
            .to = to,
            .cls = rpc ? 1 : 0,
            .sync = rpc,
        };
        t = rpc ? back + 100000 : done;
    }
    return k;
}

int sim_fleet_obs(const struct sim_fleet_config *c, struct clock_obs **obs,
                  size_t *n, int64_t *skew)
{
    struct sim_rng r;
    size_t cap = (size_t)c->pipelines * c->requests * c->stages;
    uint32_t *st = malloc((c->stages + 1) * sizeof(*st));

    *obs = malloc((cap + 1) * sizeof(**obs));
    *n = 0;
    if (!st || !*obs || c->hosts < c->stages || c->stages < 2) {
        free(st);
        free(*obs);
        *obs = NULL;
        return -1;
    }
    sim_rng_seed(&r, c->seed);
    memset(skew, 0, c->hosts * sizeof(*skew));
    for (unsigned i = 0; i < c->skewed && i < c->hosts; i++) {
        uint32_t h = (uint32_t)sim_rng_range(&r, 0, c->hosts - 1);
        int64_t s = sim_rng_range(&r, 2 * MS, 6 * MS);
        skew[h] = sim_rng_range(&r, 0, 1) ? s : -s;
    }
    int64_t t0 = 1790000000LL * 1000000000LL;
    for (unsigned p = 0; p < c->pipelines; p++) {
        draw_stages(&r, c->hosts, c->stages, st);
        for (unsigned q = 0; q < c->requests; q++) {
            int64_t t =
                t0 + (int64_t)(c->duration_s * 1e9 * (q + 0.5) / c->requests) +
                sim_rng_range(&r, 0, 100 * MS);
            *n += request(&r, c, st, p % 4 == 3, t, skew, *obs + *n);
        }
    }
    free(st);
    return 0;
}
