/* clock_track: the batch side of the windowed estimator. Groups a file's
 * observations by edge and transport class, cuts its time span into
 * windows (equal ones, or the absolute grid serve uses), reduces each
 * window to per-group cells and hands them to clock_window_estimate(),
 * which serve's live estimate calls with its own windows. */
#include "analysis/clock_graph.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/clock_window.h"

#define MAX_WINDOWS 64
#define AUTO_WINDOWS 8
#define PAIRS_PER_GROUP_WINDOW 30      /* for the automatic window count */
#define MIN_DRIFT_SPAN_NS 2000000000LL /* shorter inputs: no drift fit */

struct batch {
    const struct clock_obs *obs;
    size_t n;
    struct clock_window_group *groups;
    size_t ngroups;
    uint32_t *gid; /* per obs */
    uint32_t *wid; /* per obs */
    size_t nwindows;
    struct clock_window_in *win;
    struct clock_window_cell *cells; /* [w * ngroups + g] */
    int64_t *sum_rel;                /* per window */
};

/* Assign group ids with a small open-addressing map. */
static int build_groups(struct batch *b)
{
    size_t cap = 64, mask;
    while (cap < 4 * (b->n + 1))
        cap *= 2;
    mask = cap - 1;
    uint32_t *slot = malloc(cap * sizeof(*slot));
    b->groups = malloc((b->n + 1) * sizeof(*b->groups));
    b->gid = malloc((b->n + 1) * sizeof(*b->gid));
    if (!slot || !b->groups || !b->gid) {
        free(slot);
        return -1;
    }
    memset(slot, 0xff, cap * sizeof(*slot));
    for (size_t i = 0; i < b->n; i++) {
        const struct clock_obs *o = &b->obs[i];
        struct clock_window_group g = {o->from, o->to, o->cls, o->sync != 0};
        uint64_t h = ((uint64_t)g.from * 0x9e3779b97f4a7c15ull) ^
                     ((uint64_t)g.to * 0xc2b2ae3d27d4eb4full) ^
                     ((uint64_t)g.cls << 1) ^ g.sync;
        size_t k = (h ^ (h >> 31)) & mask;
        for (; slot[k] != UINT32_MAX; k = (k + 1) & mask) {
            const struct clock_window_group *e = &b->groups[slot[k]];
            if (e->from == g.from && e->to == g.to && e->cls == g.cls &&
                e->sync == g.sync)
                break;
        }
        if (slot[k] == UINT32_MAX) {
            slot[k] = (uint32_t)b->ngroups;
            b->groups[b->ngroups++] = g;
        }
        b->gid[i] = slot[k];
    }
    free(slot);
    return 0;
}

static unsigned choose_windows(const struct batch *b,
                               const struct clock_graph_opts *opts,
                               int64_t span_ns)
{
    if (opts->windows)
        return opts->windows > MAX_WINDOWS ? MAX_WINDOWS : opts->windows;
    if (span_ns < MIN_DRIFT_SPAN_NS || b->ngroups == 0)
        return 1;
    size_t k = b->n / (PAIRS_PER_GROUP_WINDOW * b->ngroups);
    return k < 1 ? 1 : k > AUTO_WINDOWS ? AUTO_WINDOWS : (unsigned)k;
}

static int alloc_windows(struct batch *b, size_t k)
{
    b->nwindows = k;
    b->win = calloc(k + 1, sizeof(*b->win));
    b->sum_rel = calloc(k + 1, sizeof(*b->sum_rel));
    b->cells = calloc(k * b->ngroups + 1, sizeof(*b->cells));
    return b->win && b->sum_rel && b->cells ? 0 : -1;
}

/* k equal windows over [tmin, tmax]. */
static int equal_windows(struct batch *b, unsigned k, int64_t tmin,
                         int64_t tmax)
{
    double width = ((double)(tmax - tmin) + 1.0) / k;

    if (alloc_windows(b, k) < 0)
        return -1;
    for (unsigned w = 0; w < k; w++) {
        b->win[w].start_ns = tmin + (int64_t)(w * width);
        b->win[w].end_ns = tmin + (int64_t)((w + 1) * width);
    }
    for (size_t i = 0; i < b->n; i++) {
        unsigned w = (unsigned)((double)(b->obs[i].p_start - tmin) / width);
        b->wid[i] = w >= k ? k - 1 : w;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The non-empty windows of the absolute grid of width width_ns (serve's
 * windows, floor(parent start / width)). */
static int grid_windows(struct batch *b, int64_t width_ns)
{
    int64_t *idx = malloc((b->n + 1) * sizeof(*idx));
    size_t k = 0;

    if (!idx)
        return -1;
    for (size_t i = 0; i < b->n; i++)
        idx[i] = clock_window_index(b->obs[i].p_start, width_ns);
    qsort(idx, b->n, sizeof(*idx), cmp_i64);
    for (size_t i = 0; i < b->n; i++)
        if (i == 0 || idx[i] != idx[k - 1])
            idx[k++] = idx[i];
    if (alloc_windows(b, k) < 0) {
        free(idx);
        return -1;
    }
    for (size_t w = 0; w < k; w++) {
        b->win[w].start_ns = idx[w] * width_ns;
        b->win[w].end_ns = (idx[w] + 1) * width_ns;
    }
    for (size_t i = 0; i < b->n; i++) {
        int64_t x = clock_window_index(b->obs[i].p_start, width_ns);
        const int64_t *f = bsearch(&x, idx, k, sizeof(*idx), cmp_i64);
        b->wid[i] = (uint32_t)(f - idx);
    }
    free(idx);
    return 0;
}

/* Fold every observation into its window's cell. */
static void fill_cells(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct clock_obs *o = &b->obs[i];
        struct clock_window_in *w = &b->win[b->wid[i]];
        clock_window_cell_add(&b->cells[b->wid[i] * b->ngroups + b->gid[i]],
                              o->p_start, o->c_start - o->p_start,
                              o->p_end - o->c_end, (enum clock_wait)o->wait);
        if (w->pairs == 0 || o->p_start > w->last_ns)
            w->last_ns = o->p_start;
        w->pairs++;
        b->sum_rel[b->wid[i]] += o->p_start - w->start_ns;
    }
    for (size_t w = 0; w < b->nwindows; w++) {
        struct clock_window_in *in = &b->win[w];
        in->at_ns = in->pairs ? clock_window_mean(in->start_ns, b->sum_rel[w],
                                                  in->pairs)
                              : (in->start_ns + in->end_ns) / 2;
        in->cells = &b->cells[w * b->ngroups];
        in->ncells = b->ngroups;
    }
}

static size_t class_count(const struct batch *b,
                          const struct clock_graph_opts *opts)
{
    size_t nc = opts->class_names ? opts->nclasses : 0;

    for (size_t g = 0; g < b->ngroups; g++)
        if (b->groups[g].cls + 1 > nc)
            nc = b->groups[g].cls + 1;
    return nc;
}

int clock_graph_estimate(struct clock_estimate *e, const struct clock_obs *obs,
                         size_t n, size_t ndomains,
                         const struct clock_graph_opts *opts)
{
    struct batch b = {.obs = obs, .n = n};
    int64_t tmin = n ? obs[0].p_start : 0, tmax = tmin;
    int rc = -1;

    memset(e, 0, sizeof(*e));
    if (build_groups(&b) < 0 || !(b.wid = malloc((n + 1) * sizeof(*b.wid))))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        tmin = obs[i].p_start < tmin ? obs[i].p_start : tmin;
        tmax = obs[i].p_start > tmax ? obs[i].p_start : tmax;
    }
    if (opts->window_ns > 0 && n
            ? grid_windows(&b, opts->window_ns)
            : equal_windows(&b, choose_windows(&b, opts, tmax - tmin), tmin,
                            tmax))
        goto fail;
    fill_cells(&b);
    struct clock_window_input in = {
        .ndomains = ndomains,
        .domain_names = opts->domain_names,
        .nclasses = class_count(&b, opts),
        .class_names = opts->class_names,
        .ngroups = b.ngroups,
        .groups = b.groups,
        .nwindows = b.nwindows,
        .windows = b.win,
    };
    struct clock_window_opts wo = {.reference = opts->reference,
                                   .no_drift = opts->no_drift};
    rc = clock_window_estimate(e, &in, &wo);
    goto out;
fail:
    e->ndomains = ndomains;
    e->consistent = true;
    e->nodes = calloc(ndomains + 1, sizeof(*e->nodes));
out:
    free(b.groups);
    free(b.gid);
    free(b.wid);
    free(b.win);
    free(b.cells);
    free(b.sum_rel);
    return rc;
}

void clock_estimate_free(struct clock_estimate *e)
{
    free(e->nodes);
    free(e->windows);
    free(e->track);
    free(e->cycle);
    memset(e, 0, sizeof(*e));
}
