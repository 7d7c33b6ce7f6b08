/* live: incremental, windowed, mergeable per-edge clock statistics and the
 * live estimate and early warnings computed from them (see live.h). The
 * estimate is analysis/clock_window's, the one `estimate` uses, and the
 * budgets analysis/skew_budget's: live hands them its kept windows' cells
 * and turns the results into the snapshot and its warnings. The struct's body
 * and the primitives that build it are in live_private.h, shared with live_io.c
 * (JSON export and import). */
#include "serve/live.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "analysis/clock_obs.h"
#include "analysis/clock_window.h"
#include "analysis/edges.h"
#include "analysis/skew_budget.h"
#include "model/span_store.h"
#include "serve/live_private.h"

void live_opts_init(struct live_opts *o)
{
    *o = (struct live_opts){
        .window_s = 10.0, .max_windows = 30, .warn_share = 0.5};
}

struct live *live_create(const struct live_opts *opts)
{
    struct live_opts d;
    struct live *lv;

    live_opts_init(&d);
    if (!opts)
        opts = &d;
    if (!(opts->window_s > 0) || opts->max_windows == 0 ||
        opts->max_windows > LIVE_MAX_WINDOWS_LIMIT || !(opts->warn_share > 0) ||
        opts->warn_share > 1)
        return NULL;
    lv = calloc(1, sizeof(*lv));
    if (!lv)
        return NULL;
    lv->o = *opts;
    lv->window_ns = (int64_t)llround(opts->window_s * 1e9);
    if (opts->reference) {
        lv->reference = strdup(opts->reference);
        if (!lv->reference) {
            free(lv);
            return NULL;
        }
    }
    lv->o.reference = lv->reference;
    return lv;
}

static void names_free(struct live_names *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->v[i]);
    free(n->v);
}

void live_destroy(struct live *lv)
{
    if (!lv)
        return;
    names_free(&lv->domains);
    names_free(&lv->classes);
    for (size_t w = 0; w < lv->nwin; w++)
        free(lv->win[w].cells);
    free(lv->win);
    free(lv->groups);
    free(lv->edges);
    free(lv->domain_pairs);
    free(lv->reference);
    free(lv);
}

/* Intern a name; linear search: domains and classes number in the tens. */
static uint32_t names_id(struct live_names *n, const char *s)
{
    for (size_t i = 0; i < n->n; i++)
        if (strcmp(n->v[i], s) == 0)
            return (uint32_t)i;
    char **v = realloc(n->v, (n->n + 1) * sizeof(*v));
    if (!v)
        return LIVE_NO_ID;
    n->v = v;
    if (!(v[n->n] = strdup(s)))
        return LIVE_NO_ID;
    return (uint32_t)n->n++;
}

uint32_t live_class_intern(struct live *lv, const char *name)
{
    return names_id(&lv->classes, name);
}

uint32_t live_domain_intern(struct live *lv, const char *name)
{
    /* Grow the pair counts first, so a new name always has one. */
    uint64_t *p = realloc(lv->domain_pairs, (lv->domains.n + 1) * sizeof(*p));
    if (!p)
        return LIVE_NO_ID;
    lv->domain_pairs = p;
    size_t before = lv->domains.n;
    uint32_t id = names_id(&lv->domains, name);
    if (id != LIVE_NO_ID && lv->domains.n > before)
        p[id] = 0;
    return id;
}

static uint32_t edge_id(struct live *lv, uint32_t from, uint32_t to)
{
    for (size_t i = 0; i < lv->nedges; i++)
        if (lv->edges[i].from == from && lv->edges[i].to == to)
            return (uint32_t)i;
    struct live_edge_state *e =
        realloc(lv->edges, (lv->nedges + 1) * sizeof(*e));
    if (!e)
        return LIVE_NO_ID;
    lv->edges = e;
    e[lv->nedges] = (struct live_edge_state){from, to, false};
    return (uint32_t)lv->nedges++;
}

uint32_t live_group_intern(struct live *lv, const struct live_group *key)
{
    for (size_t g = 0; g < lv->ngroups; g++) {
        const struct live_group *e = &lv->groups[g];
        if (e->from == key->from && e->to == key->to && e->cls == key->cls &&
            e->sync == key->sync)
            return (uint32_t)g;
    }
    uint32_t edge = edge_id(lv, key->from, key->to);
    struct live_group *v = realloc(lv->groups, (lv->ngroups + 1) * sizeof(*v));
    if (edge == LIVE_NO_ID || !v)
        return LIVE_NO_ID;
    lv->groups = v;
    v[lv->ngroups] = (struct live_group){.from = key->from,
                                         .to = key->to,
                                         .cls = key->cls,
                                         .sync = key->sync,
                                         .edge = edge};
    return (uint32_t)lv->ngroups++;
}

/* (live_private.h) The window with index idx, created (and the oldest
 * dropped) as needed; NULL when idx is older than the kept range or out of
 * memory (*late). */
struct live_window *live_window_at(struct live *lv, int64_t idx, bool *late)
{
    size_t w = lv->nwin;

    *late = false;
    while (w > 0 && lv->win[w - 1].idx > idx)
        w--;
    if (w > 0 && lv->win[w - 1].idx == idx)
        return &lv->win[w - 1];
    int64_t newest = lv->nwin ? lv->win[lv->nwin - 1].idx : idx;
    if (idx <= newest - (int64_t)lv->o.max_windows) {
        *late = true;
        return NULL;
    }
    struct live_window *v = realloc(lv->win, (lv->nwin + 1) * sizeof(*v));
    if (!v)
        return NULL;
    lv->win = v;
    memmove(&v[w + 1], &v[w], (lv->nwin - w) * sizeof(*v));
    v[w] = (struct live_window){.idx = idx, .last = INT64_MIN};
    lv->nwin++;
    /* Slide: drop windows that fell out of the kept range. */
    newest = v[lv->nwin - 1].idx;
    size_t drop = 0;
    while (v[drop].idx <= newest - (int64_t)lv->o.max_windows)
        free(v[drop++].cells);
    memmove(v, &v[drop], (lv->nwin - drop) * sizeof(*v));
    lv->nwin -= drop;
    return &v[w - drop];
}

int live_window_grow(struct live_window *w, size_t ngroups)
{
    if (w->ncells >= ngroups)
        return 0;
    struct clock_window_cell *c = realloc(w->cells, ngroups * sizeof(*c));
    if (!c)
        return -1;
    memset(&c[w->ncells], 0, (ngroups - w->ncells) * sizeof(*c));
    w->cells = c;
    w->ncells = ngroups;
    return 0;
}

/* One pair, already reduced to ids and slacks. */
struct pair_obs {
    struct live_group key;
    int64_t p_start, fwd, back;
    enum clock_wait wait;
};

static int add_pair(struct live *lv, const struct pair_obs *po)
{
    bool late;
    uint32_t g = live_group_intern(lv, &po->key);

    if (g == LIVE_NO_ID)
        return -1;
    struct live_group *gr = &lv->groups[g];
    unsigned v = causality_violation(po->fwd, po->back, po->key.sync);
    bool before = (v & CAUSALITY_STARTS_BEFORE) != 0;
    bool after = (v & CAUSALITY_ENDS_AFTER) != 0;
    gr->pairs++;
    gr->before += before;
    gr->after += after;
    gr->viol += before || after;
    lv->pairs++;
    lv->domain_pairs[gr->from]++;
    lv->domain_pairs[gr->to]++;
    struct live_window *w = live_window_at(
        lv, clock_window_index(po->p_start, lv->window_ns), &late);
    if (!w) {
        lv->late += late;
        return late ? 0 : -1;
    }
    if (live_window_grow(w, lv->ngroups) < 0)
        return -1;
    clock_window_cell_add(&w->cells[g], po->p_start, po->fwd, po->back,
                          po->wait);
    w->pairs++;
    w->sum_rel += po->p_start - w->idx * lv->window_ns;
    w->last = po->p_start > w->last ? po->p_start : w->last;
    return 0;
}

/* Transport class as a name (analysis/clock_obs.h), so that it means the
 * same in every batch and instance, and in `estimate`. */
static uint32_t class_id(struct live *lv, const struct span_store *s,
                         const struct span_rec *p, const struct span_rec *c)
{
    char key[CLOCK_OBS_CLASS_MAX];

    clock_obs_class_name(s, p, c, key);
    return names_id(&lv->classes, key);
}

int live_add_batch(struct live *lv, const struct span_store *s,
                   const struct edge_list *l)
{
    uint8_t *wait = malloc(l->npairs + 1);
    int rc = -1;

    if (!wait || clock_obs_waits(s, l, wait) < 0)
        goto out;
    lv->orphans += l->orphans;
    for (size_t i = 0; i < l->npairs; i++) {
        const struct span_rec *p = span_store_at(s, l->pairs[i].parent);
        const struct span_rec *c = span_store_at(s, l->pairs[i].child);
        struct pair_obs po = {
            .key.from =
                live_domain_intern(lv, span_store_domain_name(s, p->domain)),
            .key.to =
                live_domain_intern(lv, span_store_domain_name(s, c->domain)),
            .key.cls = class_id(lv, s, p, c),
            .key.sync = (l->pairs[i].flags & EDGE_PAIR_SYNC) != 0,
            .p_start = p->start_ns,
            .fwd = c->start_ns - p->start_ns,
            .back = p->end_ns - c->end_ns,
            .wait = (enum clock_wait)wait[i],
        };
        if (po.key.from == LIVE_NO_ID || po.key.to == LIVE_NO_ID ||
            po.key.cls == LIVE_NO_ID || add_pair(lv, &po) < 0)
            goto out;
    }
    rc = 0;
out:
    free(wait);
    return rc;
}

/* Map src's window w into dst (groups already mapped by gmap). */
static int merge_window(struct live *dst, const struct live_window *sw,
                        const uint32_t *gmap)
{
    bool late;
    struct live_window *w = live_window_at(dst, sw->idx, &late);

    if (!w) {
        dst->late += late ? sw->pairs : 0;
        return late ? 0 : -1;
    }
    if (live_window_grow(w, dst->ngroups) < 0)
        return -1;
    for (size_t g = 0; g < sw->ncells; g++)
        clock_window_cell_merge(&w->cells[gmap[g]], &sw->cells[g]);
    w->pairs += sw->pairs;
    w->sum_rel += sw->sum_rel;
    w->last = sw->last > w->last ? sw->last : w->last;
    return 0;
}

static int merge_groups(struct live *dst, const struct live *src,
                        uint32_t *gmap)
{
    for (size_t g = 0; g < src->ngroups; g++) {
        const struct live_group *sg = &src->groups[g];
        struct live_group key = {
            .from = live_domain_intern(dst, src->domains.v[sg->from]),
            .to = live_domain_intern(dst, src->domains.v[sg->to]),
            .cls = names_id(&dst->classes, src->classes.v[sg->cls]),
            .sync = sg->sync};
        if (key.from == LIVE_NO_ID || key.to == LIVE_NO_ID ||
            key.cls == LIVE_NO_ID ||
            (gmap[g] = live_group_intern(dst, &key)) == LIVE_NO_ID)
            return -1;
        struct live_group *dg = &dst->groups[gmap[g]];
        dg->pairs += sg->pairs;
        dg->before += sg->before;
        dg->after += sg->after;
        dg->viol += sg->viol;
        dst->domain_pairs[dg->from] += sg->pairs;
        dst->domain_pairs[dg->to] += sg->pairs;
    }
    return 0;
}

int live_merge(struct live *dst, const struct live *src)
{
    uint32_t *gmap;
    int rc = -1;

    if (dst->window_ns != src->window_ns)
        return -2;
    gmap = malloc((src->ngroups + 1) * sizeof(*gmap));
    if (!gmap)
        return -1;
    if (merge_groups(dst, src, gmap) < 0)
        goto out;
    for (size_t w = 0; w < src->nwin; w++)
        if (merge_window(dst, &src->win[w], gmap) < 0)
            goto out;
    dst->pairs += src->pairs;
    dst->orphans += src->orphans;
    dst->late += src->late;
    rc = 0;
out:
    free(gmap);
    return rc;
}

/* ---- the live estimate ---------------------------------------------- */

/* analysis/clock_window's estimate over the kept windows, and what the
 * budgets need besides: which windows were solved and consistent. */
struct est {
    struct clock_estimate ce;
    size_t n, nw; /* domains, windows */
    bool *wok;    /* nw: window consistent and holding pairs */
};

static uint32_t reference_id(const struct live *lv)
{
    for (uint32_t d = 0; lv->reference && d < lv->domains.n; d++)
        if (strcmp(lv->domains.v[d], lv->reference) == 0)
            return d;
    return CLOCK_REF_CONSENSUS;
}

static int estimate(const struct live *lv, struct est *e)
{
    struct clock_window_group *groups =
        malloc((lv->ngroups + 1) * sizeof(*groups));
    struct clock_window_in *win = calloc(lv->nwin + 1, sizeof(*win));
    int rc = -1;

    e->n = lv->domains.n;
    e->nw = lv->nwin;
    e->wok = calloc(lv->nwin + 1, sizeof(*e->wok));
    if (!groups || !win || !e->wok)
        goto out;
    for (size_t g = 0; g < lv->ngroups; g++)
        groups[g] =
            (struct clock_window_group){lv->groups[g].from, lv->groups[g].to,
                                        lv->groups[g].cls, lv->groups[g].sync};
    for (size_t w = 0; w < lv->nwin; w++) {
        const struct live_window *lw = &lv->win[w];
        int64_t t0 = lw->idx * lv->window_ns;
        win[w] = (struct clock_window_in){
            .start_ns = t0,
            .end_ns = t0 + lv->window_ns,
            .at_ns = clock_window_mean(t0, lw->sum_rel, lw->pairs),
            .last_ns = lw->last,
            .pairs = lw->pairs,
            .cells = lw->cells,
            .ncells = lw->ncells,
        };
    }
    struct clock_window_input in = {
        .ndomains = lv->domains.n,
        .domain_names = (const char *const *)lv->domains.v,
        .nclasses = lv->classes.n,
        .class_names = (const char *const *)lv->classes.v,
        .ngroups = lv->ngroups,
        .groups = groups,
        .nwindows = lv->nwin,
        .windows = win,
    };
    struct clock_window_opts o = {.reference = reference_id(lv)};
    if (clock_window_estimate(&e->ce, &in, &o) < 0)
        goto out;
    for (size_t w = 0; w < lv->nwin; w++)
        e->wok[w] = e->ce.windows[w].consistent && lv->win[w].pairs > 0;
    rc = 0;
out:
    free(groups);
    free(win);
    return rc;
}

static void est_free(struct est *e)
{
    clock_estimate_free(&e->ce);
    free(e->wok);
}

/* ---- budgets, warnings, snapshot ------------------------------------ */

static void edge_budgets(const struct live *lv, const struct est *e,
                         uint32_t edge, struct skew_budget_side *fwd,
                         struct skew_budget_side *back)
{
    const struct live_edge_state *es = &lv->edges[edge];

    *fwd = *back = (struct skew_budget_side){0};
    for (size_t w = 0; w < e->nw; w++) {
        const struct clock_track_point *a = &e->ce.track[es->from * e->nw + w];
        const struct clock_track_point *b = &e->ce.track[es->to * e->nw + w];
        if (!e->wok[w] || !a->known || !b->known)
            continue;
        int64_t r = b->offset_ns - a->offset_ns;
        const struct live_window *lw = &lv->win[w];
        for (size_t g = 0; g < lw->ncells; g++) {
            if (lv->groups[g].edge != edge || lw->cells[g].count == 0)
                continue;
            skew_budget_side_note(fwd, lw->cells[g].fwd_ns - r);
            if (lv->groups[g].sync)
                skew_budget_side_note(back, lw->cells[g].back_ns + r);
        }
    }
}

static void edge_stat(struct live *lv, const struct est *e, uint32_t edge,
                      struct live_edge *out)
{
    struct live_edge_state *es = &lv->edges[edge];
    struct skew_budget_side fwd, back;
    struct skew_budget bud = {0};

    *out = (struct live_edge){.from = lv->domains.v[es->from],
                              .to = lv->domains.v[es->to]};
    for (size_t g = 0; g < lv->ngroups; g++) {
        const struct live_group *gr = &lv->groups[g];
        if (gr->edge != edge)
            continue;
        out->pairs_total += gr->pairs;
        out->starts_before_parent_total += gr->before;
        out->ends_after_parent_total += gr->after;
    }
    edge_budgets(lv, e, edge, &fwd, &back);
    out->offset_ns =
        e->ce.nodes[es->to].offset_ns - e->ce.nodes[es->from].offset_ns;
    out->drift_ppm =
        e->ce.nodes[es->to].drift_ppm - e->ce.nodes[es->from].drift_ppm;
    double rate = out->drift_ppm * 1e3; /* ns per s */
    skew_budget_use(&bud, &fwd, -1, out->offset_ns, rate);
    skew_budget_use(&bud, &back, +1, out->offset_ns, rate);
    out->has_budget = bud.has;
    out->skew_budget_ns = bud.budget_ns;
    out->budget_used_ratio = bud.used_ratio;
    out->exhausts = bud.exhausts;
    out->exhaust_in_s = bud.exhaust_in_s;
    bool warn = out->has_budget && out->budget_used_ratio > lv->o.warn_share;
    out->new_warning = warn && !es->warning;
    out->warning = warn;
    es->warning = warn;
    lv->warnings += out->new_warning;
}

/* violations_total: pairs with either kind (a pair may have both). */
static uint64_t group_violations(const struct live *lv, uint32_t edge)
{
    uint64_t v = 0;

    for (size_t g = 0; g < lv->ngroups; g++)
        if (lv->groups[g].edge == edge)
            v += lv->groups[g].viol;
    return v;
}

static int cmp_domain(const void *a, const void *b)
{
    return strcmp(((const struct live_domain *)a)->name,
                  ((const struct live_domain *)b)->name);
}

static int cmp_edge(const void *a, const void *b)
{
    const struct live_edge *x = a, *y = b;
    int c = strcmp(x->from, y->from);

    return c ? c : strcmp(x->to, y->to);
}

static void domain_stat(const struct live *lv, const struct est *e, uint32_t v,
                        struct live_domain *out)
{
    const struct clock_node *n = &e->ce.nodes[v];

    *out = (struct live_domain){
        .name = lv->domains.v[v],
        .known = n->known,
        .offset_ns = n->offset_ns,
        .has_lower = n->bound.has_lower,
        .has_upper = n->bound.has_upper,
        .lower_ns = n->bound.lower_ns,
        .upper_ns = n->bound.upper_ns,
        .drift_ppm = n->drift_ppm,
        .drift_fit_ppm = n->drift_fit_ppm,
        .drift_se_ppm = n->drift_se_ppm,
        .drift_significant = n->drift_significant,
        .has_step = n->has_step,
        .step_ns = n->step_ns,
        .step_at_ns = n->step_at_ns,
        .consensus_member = n->consensus_member,
        .fitted = n->fitted,
        .pairs = lv->domain_pairs[v],
    };
}

static size_t live_memory(const struct live *lv)
{
    size_t m = sizeof(*lv) + lv->ngroups * sizeof(*lv->groups) +
               lv->nedges * sizeof(*lv->edges) +
               lv->domains.n * (sizeof(char *) + sizeof(uint64_t)) +
               lv->nwin * sizeof(*lv->win);

    for (size_t w = 0; w < lv->nwin; w++)
        m += lv->win[w].ncells * sizeof(struct clock_window_cell);
    for (size_t i = 0; i < lv->domains.n; i++)
        m += strlen(lv->domains.v[i]) + 1;
    for (size_t i = 0; i < lv->classes.n; i++)
        m += strlen(lv->classes.v[i]) + 1 + sizeof(char *);
    return m;
}

static int fill_snapshot(struct live *lv, const struct est *e,
                         struct live_snapshot *out)
{
    out->domains = calloc(e->n + 1, sizeof(*out->domains));
    out->edges = calloc(lv->nedges + 1, sizeof(*out->edges));
    if (!out->domains || !out->edges)
        return -1;
    out->ndomains = e->n;
    out->nedges = lv->nedges;
    for (uint32_t v = 0; v < e->n; v++)
        domain_stat(lv, e, v, &out->domains[v]);
    for (uint32_t i = 0; i < lv->nedges; i++) {
        edge_stat(lv, e, i, &out->edges[i]);
        out->edges[i].violations_total = group_violations(lv, i);
    }
    qsort(out->domains, out->ndomains, sizeof(*out->domains), cmp_domain);
    qsort(out->edges, out->nedges, sizeof(*out->edges), cmp_edge);
    out->consensus = e->n && e->ce.consensus;
    out->anchor = e->n ? lv->domains.v[e->ce.reference] : NULL;
    out->reference = !e->n ? NULL : out->consensus ? "consensus" : out->anchor;
    out->at_ns = e->ce.at_ns;
    out->consistent = e->ce.consistent;
    out->fit_excluded_groups = e->ce.fit_excluded_groups;
    return 0;
}

int live_update(struct live *lv, struct live_snapshot *out)
{
    struct est e = {0};
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->consistent = true;
    if (lv->domains.n > 0 &&
        (estimate(lv, &e) < 0 || fill_snapshot(lv, &e, out) < 0))
        goto out;
    out->nwindows = lv->nwin;
    out->warnings_total = lv->warnings;
    out->pairs_total = lv->pairs;
    out->orphans_total = lv->orphans;
    out->late_pairs_total = lv->late;
    out->memory_bytes = live_memory(lv);
    rc = 0;
out:
    est_free(&e);
    return rc;
}

void live_snapshot_free(struct live_snapshot *snap)
{
    free(snap->domains);
    free(snap->edges);
    memset(snap, 0, sizeof(*snap));
}
