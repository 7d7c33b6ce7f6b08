/* clock_graph: difference constraints between clock offsets, solved with
 * Bellman-Ford: tightest bounds, negative-cycle detection, and moving the
 * fitted point estimate into the feasible set. */
#include "analysis/clock_graph_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define INF INT64_MAX
#define NO_ARC UINT32_MAX

/* x(to) - x(from) <= w */
struct arc {
    uint32_t from, to;
    int64_t w;
    bool end;
};

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;

    if (a == INF || b == INF)
        return INF;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INF - 1 : INT64_MIN + 1;
    return r == INF ? INF - 1 : r;
}

static size_t build_arcs(const struct cg_problem *p, struct arc *arcs)
{
    size_t n = 0;

    for (size_t g = 0; g < p->ngroups; g++) {
        const struct cg_group *gr = &p->groups[g];
        if (p->min[g].count == 0)
            continue;
        arcs[n++] = (struct arc){gr->from, gr->to, p->min[g].fwd, false};
        if (gr->sync)
            arcs[n++] = (struct arc){gr->to, gr->from, p->min[g].back, true};
    }
    return n;
}

/* Relax all arcs (reversed when `rev`) from the distances in dist, at most
 * nodes rounds. Returns a node still relaxing after that (a negative cycle
 * passes through its predecessor chain), or -1 when converged. */
static int64_t relax(size_t nodes, const struct arc *arcs, size_t na, bool rev,
                     int64_t *dist, uint32_t *pred)
{
    for (size_t round = 0; round <= nodes; round++) {
        int64_t changed = -1;
        for (size_t i = 0; i < na; i++) {
            uint32_t u = rev ? arcs[i].to : arcs[i].from;
            uint32_t v = rev ? arcs[i].from : arcs[i].to;
            int64_t d = sat_add(dist[u], arcs[i].w);
            if (d < dist[v]) {
                dist[v] = d;
                if (pred)
                    pred[v] = (uint32_t)i;
                changed = v;
            }
        }
        if (changed < 0)
            return -1;
        if (round == nodes)
            return changed;
    }
    return -1;
}

static int extract_cycle(const struct cg_problem *p, const struct arc *arcs,
                         const uint32_t *pred, uint32_t v,
                         struct cg_solution *sol)
{
    for (size_t i = 0; i < p->ndomains; i++)
        v = arcs[pred[v]].from;
    size_t len = 0;
    uint32_t u = v;
    do {
        len++;
        u = arcs[pred[u]].from;
    } while (u != v && len <= p->ndomains);
    sol->cycle = calloc(len, sizeof(*sol->cycle));
    if (!sol->cycle)
        return -1;
    /* Walk backwards, store forwards. */
    u = v;
    for (size_t k = len; k-- > 0;) {
        const struct arc *a = &arcs[pred[u]];
        sol->cycle[k] = (struct clock_cycle_arc){a->from, a->to, a->w, a->end};
        u = a->from;
    }
    sol->ncycle = len;
    return 0;
}

/* Any negative cycle at all: start every node at 0 (a virtual source). */
static int check_consistent(const struct cg_problem *p, const struct arc *arcs,
                            size_t na, int64_t *dist, uint32_t *pred,
                            struct cg_solution *sol)
{
    memset(dist, 0, p->ndomains * sizeof(*dist));
    int64_t v = relax(p->ndomains, arcs, na, false, dist, pred);
    sol->consistent = v < 0;
    return v < 0 ? 0 : extract_cycle(p, arcs, pred, (uint32_t)v, sol);
}

static void compute_bounds(const struct cg_problem *p, const struct arc *arcs,
                           size_t na, int64_t *dist, struct cg_solution *sol)
{
    for (size_t v = 0; v < p->ndomains; v++)
        dist[v] = INF;
    dist[p->ref] = 0;
    relax(p->ndomains, arcs, na, false, dist, NULL);
    for (size_t v = 0; v < p->ndomains; v++) {
        sol->bound[v].has_upper = dist[v] != INF;
        sol->bound[v].upper_ns = dist[v];
    }
    for (size_t v = 0; v < p->ndomains; v++)
        dist[v] = INF;
    dist[p->ref] = 0;
    relax(p->ndomains, arcs, na, true, dist, NULL);
    for (size_t v = 0; v < p->ndomains; v++) {
        sol->bound[v].has_lower = dist[v] != INF;
        sol->bound[v].lower_ns = dist[v] == INF ? 0 : -dist[v];
    }
}

/* Move y into the feasible set: the largest feasible point below y and the
 * smallest above it (each shifted so x[ref] = 0) are both feasible, and so
 * is their midpoint, rounded down. */
static void project(const struct cg_problem *p, const struct arc *arcs,
                    size_t na, const double *y, int64_t *lo, int64_t *hi,
                    int64_t *x)
{
    size_t n = p->ndomains;

    for (size_t v = 0; v < n; v++) {
        lo[v] = (int64_t)llround(y[v]);
        hi[v] = -lo[v];
    }
    relax(n, arcs, na, false, lo, NULL);
    relax(n, arcs, na, true, hi, NULL);
    int64_t lo_ref = lo[p->ref], hi_ref = -hi[p->ref];
    for (size_t v = 0; v < n; v++) {
        int64_t a = lo[v] - lo_ref, b = -hi[v] - hi_ref;
        /* floor((a + b) / 2) without overflow */
        x[v] = (a >> 1) + (b >> 1) + (a & b & 1);
    }
}

int cg_solve(const struct cg_problem *p, struct cg_solution *sol)
{
    size_t n = p->ndomains;
    struct arc *arcs = malloc((2 * p->ngroups + 1) * sizeof(*arcs));
    int64_t *dist = malloc((n + 1) * sizeof(*dist));
    int64_t *tmp = malloc((n + 1) * sizeof(*tmp));
    uint32_t *pred = malloc((n + 1) * sizeof(*pred));
    double *y = calloc(n + 1, sizeof(*y));
    int rc = -1;

    memset(sol, 0, sizeof(*sol));
    sol->x = calloc(n + 1, sizeof(*sol->x));
    sol->known = calloc(n + 1, sizeof(*sol->known));
    sol->bound = calloc(n + 1, sizeof(*sol->bound));
    if (!arcs || !dist || !tmp || !pred || !y || !sol->x || !sol->known ||
        !sol->bound)
        goto out;
    size_t na = build_arcs(p, arcs);
    for (size_t i = 0; i < na; i++)
        sol->known[arcs[i].from] = sol->known[arcs[i].to] = true;
    sol->known[p->ref] = true;
    if (check_consistent(p, arcs, na, dist, pred, sol) < 0)
        goto out;
    if (cg_fit(p, y) < 0)
        goto out;
    if (!sol->consistent) {
        for (size_t v = 0; v < n; v++)
            sol->x[v] = (int64_t)llround(y[v]);
        rc = 0;
        goto out;
    }
    compute_bounds(p, arcs, na, dist, sol);
    project(p, arcs, na, y, dist, tmp, sol->x);
    rc = 0;
out:
    free(arcs);
    free(dist);
    free(tmp);
    free(pred);
    free(y);
    return rc;
}

void cg_solution_free(struct cg_solution *sol)
{
    free(sol->x);
    free(sol->known);
    free(sol->bound);
    free(sol->cycle);
    memset(sol, 0, sizeof(*sol));
}
