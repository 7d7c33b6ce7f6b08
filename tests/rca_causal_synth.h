/* rca_causal_synth: synthetic RCAEval-shaped cases where the fault
 * propagates, for the causal-graph RCA tests (tests/test_rca_causal.c;
 * 12 services give the Online Boutique shape, 48 metrics x 1,200 rows, for
 * benchmarks too). Header-only.
 *
 * `services` services s0 .. s{S-1} form a call tree (s0 the gateway; the
 * parent of s_k is drawn among s0 .. s_{k-1} from the seed). Each has four
 * metrics, as a case looks after rca-llm's main.py (latency-50 dropped,
 * latency-90 renamed): cpu, mem (bytes), latency (s), error (rate). Rows
 * are 1 s apart from t0; noise is AR(1) (phi 0.3) and uniform (non-
 * Gaussian, so the LiNGAM methods see an identifiable model):
 *
 *   cpu_k(t)  = 0.4 + 0.03 e                  (+ cpu fault)
 *   mem_k(t)  = 2e8 + 2e6 e                   (+ memory fault)
 *   lat_k(t)  = 0.05 + 0.004 e + 0.25 cpu_k(t) + 0.8 sum_{callee c} lat_c(t-1)
 *                                             (+ latency fault)
 *   err_k(t)  = 0.01 + 0.002 e + 0.5 (lat_k(t) - its level)
 *
 * From inject_row on, the root service's cpu (fault "cpu"), mem
 * ("memory") or latency ("latency") rises by `shift` of its noise scale,
 * and the rise reaches its callers' latency and errors a second later, one
 * hop per second: the root drives its ancestors in the call tree. */
#ifndef SKEWSCOPE_RCA_CAUSAL_SYNTH_H
#define SKEWSCOPE_RCA_CAUSAL_SYNTH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "test_rng.h"

struct rca_causal_synth {
    unsigned services;
    size_t rows;
    int64_t t0_s;
    size_t inject_row;
    unsigned root;
    const char *fault; /* "cpu", "memory", "latency" */
    double shift;      /* in noise scales */
    uint64_t seed;
};

/* uniform on [-sqrt(3), sqrt(3)]: mean 0, variance 1 */
static inline double rcs_noise(uint64_t *s)
{
    double u = (double)(test_rng_next(s) >> 11) / 9007199254740992.0;
    return (2.0 * u - 1.0) * 1.7320508075688772;
}

/* The case as rca_case_prepare() would hand it to a method: NULL when out
 * of memory. parent (optional, services entries) gets the call tree. */
static inline struct series_table *
rca_causal_synth_table(const struct rca_causal_synth *c, unsigned *parent)
{
    static const char *const metric[] = {"cpu", "mem", "latency", "error"};
    size_t S = c->services, n = c->rows;
    struct series_table *t = series_table_create(n, 4 * S);
    unsigned *par = calloc(S + 1, sizeof(unsigned));
    double *ar = calloc(4 * S + 1, sizeof(double));
    uint64_t s = c->seed;
    char col[64];

    if (!t || !par || !ar) {
        series_table_destroy(t);
        free(par);
        free(ar);
        return NULL;
    }
    for (size_t k = 1; k < S; k++)
        par[k] = (unsigned)(test_rng_next(&s) % k);
    if (parent)
        memcpy(parent, par, S * sizeof(unsigned));
    for (size_t k = 0; k < S; k++)
        for (size_t m = 0; m < 4; m++) {
            snprintf(col, sizeof col, "s%zu_%s", k, metric[m]);
            if (series_table_set_name(t, 4 * k + m, col) < 0) {
                series_table_destroy(t);
                free(par);
                free(ar);
                return NULL;
            }
        }
    for (size_t r = 0; r < n; r++) {
        t->time_ns[r] = (c->t0_s + (int64_t)r) * 1000000000;
        bool on = r >= c->inject_row;
        /* callees before callers: children have larger indices */
        for (size_t kk = S; kk-- > 0;) {
            double *cpu = series_table_col(t, 4 * kk),
                   *mem = series_table_col(t, 4 * kk + 1),
                   *lat = series_table_col(t, 4 * kk + 2),
                   *err = series_table_col(t, 4 * kk + 3);
            for (size_t m = 0; m < 4; m++)
                ar[4 * kk + m] = 0.3 * ar[4 * kk + m] + rcs_noise(&s);
            bool root = on && kk == c->root;
            cpu[r] = 0.4 + 0.03 * ar[4 * kk] +
                     (root && !strcmp(c->fault, "cpu") ? c->shift * 0.03 : 0);
            mem[r] = 2e8 + 2e6 * ar[4 * kk + 1] +
                     (root && !strcmp(c->fault, "memory") ? c->shift * 2e6 : 0);
            double l = 0.05 + 0.004 * ar[4 * kk + 2] + 0.25 * (cpu[r] - 0.4);
            if (root && !strcmp(c->fault, "memory"))
                l += 0.004 * c->shift; /* swapping slows it */
            if (root && !strcmp(c->fault, "latency"))
                l += 0.004 * c->shift;
            for (size_t ch = kk + 1; ch < S && r > 0; ch++)
                if (par[ch] == kk)
                    l += 0.8 * (series_table_col(t, 4 * ch + 2)[r - 1] - 0.05);
            lat[r] = l;
            err[r] = 0.01 + 0.002 * ar[4 * kk + 3] + 0.5 * (l - 0.05);
        }
    }
    free(par);
    free(ar);
    return t;
}

#endif
