/* bench_ids: what the pattern of trace and span IDs costs. The same
 * spans (traces of 8 spans in a parent chain over 4 clock domains) are
 * loaded into a span store, indexed, paired and checked, once per ID
 * pattern:
 *
 *   random      uniformly random IDs (what most SDKs make)
 *   sequential  trace IDs 1, 2, 3, ... and span IDs from one counter:
 *               they differ only in their low bytes
 *   time        X-Ray style: the first 4 bytes a Unix second, the rest a
 *               per-second counter
 *
 *   bench_ids [SPANS]      default 1,000,000
 *
 * Prints one line per pattern: spans, seconds (wall), spans/s, and the
 * ratio to the random pattern. Any pattern should cost what random IDs
 * cost (ratio near 1). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/causality.h"
#include "analysis/edges.h"
#include "model/span_store.h"
#include "bench_util.h"

#define TRACE_SPANS 8

enum pattern { PAT_RANDOM, PAT_SEQUENTIAL, PAT_TIME, PAT_COUNT };
static const char *const pattern_name[PAT_COUNT] = {"random", "sequential",
                                                    "time"};

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void trace_id(uint8_t id[16], enum pattern p, uint64_t n, uint64_t *rng)
{
    memset(id, 0, 16);
    switch (p) {
    case PAT_RANDOM:
        put_be64(id, splitmix(rng));
        put_be64(id + 8, splitmix(rng));
        break;
    case PAT_SEQUENTIAL:
        put_be64(id + 8, n + 1);
        break;
    case PAT_TIME: /* 1,000 traces a second from 2026-11-01 */
        put_be64(id, (1793491200ull + n / 1000) << 32);
        put_be64(id + 8, n % 1000 + 1);
        break;
    default:
        break;
    }
}

static int load(struct span_store *s, enum pattern p, size_t spans)
{
    uint64_t rng = 42, next_span = 1;
    uint32_t dom[4];
    char name[16];

    for (int d = 0; d < 4; d++) {
        snprintf(name, sizeof(name), "node-%d", d);
        dom[d] = span_store_domain_id(s, name, strlen(name));
    }
    for (size_t t = 0; t * TRACE_SPANS < spans; t++) {
        struct span_rec r = {0};
        int64_t t0 = 1793491200000000000ll + (int64_t)t * 1000000;
        trace_id(r.trace_id, p, t, &rng);
        for (int k = 0; k < TRACE_SPANS; k++) {
            r.parent_id = k ? r.span_id : 0;
            r.span_id = p == PAT_RANDOM ? splitmix(&rng) : next_span++;
            r.start_ns = t0 + k * 100000;
            r.end_ns = t0 + 2000000 - k * 100000;
            r.domain = dom[k % 4];
            r.kind = k % 2 ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
            r.flags = k ? SPAN_F_HAS_PARENT : 0;
            if (span_store_add(s, &r) < 0)
                return -1;
        }
    }
    return 0;
}

static double run(enum pattern p, size_t spans, size_t *pairs)
{
    struct span_store *s = span_store_create();
    struct edge_list l;
    struct causality_report r;
    double t0 = clock_now_s(CLOCK_MONOTONIC), dt = -1;

    if (!s || load(s, p, spans) < 0 || span_store_index(s) < 0)
        goto out;
    if (edge_list_build(&l, s) < 0)
        goto out;
    if (causality_check(&r, s, &l) == 0) {
        dt = clock_now_s(CLOCK_MONOTONIC) - t0;
        *pairs = r.pairs;
        causality_report_free(&r);
    }
    edge_list_free(&l);
out:
    span_store_destroy(s);
    return dt;
}

int main(int argc, char **argv)
{
    size_t spans = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    double base = 0;

    if (spans < TRACE_SPANS) {
        fprintf(stderr, "usage: bench_ids [SPANS >= %d]\n", TRACE_SPANS);
        return 2;
    }
    for (int p = 0; p < PAT_COUNT; p++) {
        size_t pairs = 0;
        double dt = run((enum pattern)p, spans, &pairs);
        if (dt < 0) {
            fprintf(stderr, "bench_ids: %s failed\n", pattern_name[p]);
            return 1;
        }
        if (p == PAT_RANDOM)
            base = dt;
        printf("%-10s spans %zu  pairs %zu  %.3f s  %.0f spans/s  x%.2f of "
               "random\n",
               pattern_name[p], spans, pairs, dt, (double)spans / dt,
               dt / base);
    }
    return 0;
}
