/* live: incremental, windowed, mergeable per-edge clock statistics and the
 * live estimate and early warnings computed from them (see live.h). The
 * solver is analysis/clock_graph's cg_solve, called once per window (the
 * offset track) and once over all kept windows de-trended with the drift
 * fitted to the track. The struct's body and the primitives that build it
 * are in live_private.h, shared with live_io.c (JSON export and import). */
#include "serve/live.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/clock_graph_private.h"
#include "analysis/edges.h"
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

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
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
    struct live_cell *c = realloc(w->cells, ngroups * sizeof(*c));
    if (!c)
        return -1;
    memset(&c[w->ncells], 0, (ngroups - w->ncells) * sizeof(*c));
    w->cells = c;
    w->ncells = ngroups;
    return 0;
}

static void min_at(int64_t *min, int64_t *at, bool first, int64_t v, int64_t t)
{
    if (first || v < *min || (v == *min && t < *at)) {
        *min = v;
        *at = t;
    }
}

/* (live_private.h) Fold a cell (count n, minima at times) into dst. */
void live_cell_merge(struct live_cell *dst, const struct live_cell *src)
{
    if (src->m.count == 0)
        return;
    bool first = dst->m.count == 0;
    min_at(&dst->m.fwd, &dst->fwd_at, first, src->m.fwd, src->fwd_at);
    min_at(&dst->m.back, &dst->back_at, first, src->m.back, src->back_at);
    dst->m.count += src->m.count;
}

/* One pair, already reduced to ids and slacks. */
struct pair_obs {
    struct live_group key;
    int64_t p_start, fwd, back;
};

static int add_pair(struct live *lv, const struct pair_obs *po)
{
    bool late;
    uint32_t g = live_group_intern(lv, &po->key);

    if (g == LIVE_NO_ID)
        return -1;
    struct live_group *gr = &lv->groups[g];
    bool before = po->fwd < 0, after = po->key.sync && po->back < 0;
    gr->pairs++;
    gr->before += before;
    gr->after += after;
    gr->viol += before || after;
    lv->pairs++;
    lv->domain_pairs[gr->from]++;
    lv->domain_pairs[gr->to]++;
    struct live_window *w =
        live_window_at(lv, floor_div(po->p_start, lv->window_ns), &late);
    if (!w) {
        lv->late += late;
        return late ? 0 : -1;
    }
    if (live_window_grow(w, lv->ngroups) < 0)
        return -1;
    struct live_cell c = {{1, po->fwd, po->back}, po->p_start, po->p_start};
    live_cell_merge(&w->cells[g], &c);
    w->pairs++;
    w->sum_rel += po->p_start - w->idx * lv->window_ns;
    w->last = po->p_start > w->last ? po->p_start : w->last;
    return 0;
}

/* Transport class as a name: system and the two span kinds, so that it
 * means the same in every batch and instance (estimate.c's pair_class). */
static uint32_t class_id(struct live *lv, const struct span_store *s,
                         const struct span_rec *p, const struct span_rec *c)
{
    char key[192];
    uint16_t sys = c->system ? c->system : p->system;
    const char *name = sys ? span_store_system_name(s, sys) : "";

    snprintf(key, sizeof(key), "%.160s/%u/%u", name ? name : "",
             (unsigned)(p->kind & 7), (unsigned)(c->kind & 7));
    return names_id(&lv->classes, key);
}

int live_add_batch(struct live *lv, const struct span_store *s,
                   const struct edge_list *l)
{
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
        };
        if (po.key.from == LIVE_NO_ID || po.key.to == LIVE_NO_ID ||
            po.key.cls == LIVE_NO_ID || add_pair(lv, &po) < 0)
            return -1;
    }
    return 0;
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
        live_cell_merge(&w->cells[gmap[g]], &sw->cells[g]);
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

struct est {
    size_t n, nw; /* domains, windows */
    uint32_t ref;
    int64_t at_ns;
    struct cg_group *groups;
    size_t nclasses;
    struct cg_minima *min;        /* ngroups, scratch */
    struct clock_track_point *tr; /* [v * nw + w] */
    bool *wok;                    /* nw: window solved and consistent */
    double *t_s;                  /* nw: mean parent start - at_ns, s */
    double *drift;                /* n, ppm */
    struct cg_solution fin;       /* the de-trended solve at at_ns */
};

static uint32_t pick_reference(const struct live *lv)
{
    uint32_t best = 0;

    for (uint32_t d = 0; d < lv->domains.n; d++)
        if (lv->reference && strcmp(lv->domains.v[d], lv->reference) == 0)
            return d;
    for (uint32_t d = 1; d < lv->domains.n; d++)
        if (lv->domain_pairs[d] > lv->domain_pairs[best] ||
            (lv->domain_pairs[d] == lv->domain_pairs[best] &&
             strcmp(lv->domains.v[d], lv->domains.v[best]) < 0))
            best = d;
    return best;
}

static struct cg_problem problem(const struct live *lv, const struct est *e)
{
    return (struct cg_problem){.ndomains = e->n,
                               .ref = e->ref,
                               .nclasses = e->nclasses,
                               .groups = e->groups,
                               .min = e->min,
                               .ngroups = lv->ngroups};
}

static void window_minima(const struct live *lv, const struct live_window *w,
                          struct cg_minima *min)
{
    memset(min, 0, lv->ngroups * sizeof(*min));
    for (size_t g = 0; g < w->ncells; g++)
        min[g] = w->cells[g].m;
}

/* Each window solved on its own: the offset track. */
static int track(const struct live *lv, struct est *e)
{
    struct cg_problem p = problem(lv, e);

    for (size_t w = 0; w < e->nw; w++) {
        const struct live_window *lw = &lv->win[w];
        struct cg_solution sol;
        window_minima(lv, lw, e->min);
        if (cg_solve(&p, &sol) < 0) {
            cg_solution_free(&sol);
            return -1;
        }
        e->wok[w] = sol.consistent && lw->pairs > 0;
        e->t_s[w] =
            (double)(lw->idx * lv->window_ns - e->at_ns) / 1e9 +
            (double)lw->sum_rel / (double)(lw->pairs ? lw->pairs : 1) / 1e9;
        for (size_t v = 0; v < e->n; v++) {
            struct clock_track_point *tp = &e->tr[v * e->nw + w];
            tp->known = sol.known[v] && e->wok[w] &&
                        (sol.bound[v].has_lower || sol.bound[v].has_upper);
            tp->offset_ns = sol.x[v];
            tp->bound = sol.bound[v];
        }
        cg_solution_free(&sol);
    }
    return 0;
}

/* Drift of domain v from its track: the batch estimate's rule
 * (cg_track_drift_ppm). */
static double fit_drift(const struct est *e, uint32_t v)
{
    double *t = malloc((e->nw + 1) * sizeof(*t));
    double *y = malloc((e->nw + 1) * sizeof(*y));
    bool *use = malloc((e->nw + 1) * sizeof(*use));
    size_t n = 0;
    double ppm = 0;

    if (t && y && use) {
        for (size_t w = 0; w < e->nw; w++) {
            const struct clock_track_point *tp = &e->tr[v * e->nw + w];
            if (!tp->known)
                continue;
            t[n] = e->t_s[w];
            y[n++] = (double)tp->offset_ns;
        }
        ppm = cg_track_drift_ppm(t, y, n, use);
    }
    free(t);
    free(y);
    free(use);
    return ppm;
}

/* Minima over all kept windows with each group's minimum pair de-trended
 * to at_ns: slack - (drift(to) - drift(from)) * (t - at). */
static void detrended_minima(const struct live *lv, struct est *e)
{
    memset(e->min, 0, lv->ngroups * sizeof(*e->min));
    for (size_t w = 0; w < e->nw; w++) {
        const struct live_window *lw = &lv->win[w];
        for (size_t g = 0; g < lw->ncells; g++) {
            const struct live_cell *c = &lw->cells[g];
            const struct cg_group *gr = &e->groups[g];
            if (c->m.count == 0)
                continue;
            double rate = (e->drift[gr->to] - e->drift[gr->from]) * 1e-6;
            struct live_cell d = {
                {c->m.count,
                 c->m.fwd - llround(rate * (double)(c->fwd_at - e->at_ns)),
                 c->m.back + llround(rate * (double)(c->back_at - e->at_ns))},
                0,
                0};
            bool first = e->min[g].count == 0;
            if (first || d.m.fwd < e->min[g].fwd)
                e->min[g].fwd = d.m.fwd;
            if (first || d.m.back < e->min[g].back)
                e->min[g].back = d.m.back;
            e->min[g].count += d.m.count;
        }
    }
}

static int est_alloc(const struct live *lv, struct est *e)
{
    e->n = lv->domains.n;
    e->nw = lv->nwin;
    e->groups = calloc(lv->ngroups + 1, sizeof(*e->groups));
    e->min = calloc(lv->ngroups + 1, sizeof(*e->min));
    e->tr = calloc(e->n * e->nw + 1, sizeof(*e->tr));
    e->wok = calloc(e->nw + 1, sizeof(*e->wok));
    e->t_s = calloc(e->nw + 1, sizeof(*e->t_s));
    e->drift = calloc(e->n + 1, sizeof(*e->drift));
    if (!e->groups || !e->min || !e->tr || !e->wok || !e->t_s || !e->drift)
        return -1;
    for (size_t g = 0; g < lv->ngroups; g++)
        e->groups[g] = (struct cg_group){lv->groups[g].from, lv->groups[g].to,
                                         lv->groups[g].cls, lv->groups[g].sync};
    e->nclasses = lv->classes.n;
    e->ref = pick_reference(lv);
    e->at_ns = 0;
    for (size_t w = 0; w < e->nw; w++)
        if (lv->win[w].pairs && (e->at_ns == 0 || lv->win[w].last > e->at_ns))
            e->at_ns = lv->win[w].last;
    return 0;
}

static void est_free(struct est *e)
{
    free(e->groups);
    free(e->min);
    free(e->tr);
    free(e->wok);
    free(e->t_s);
    free(e->drift);
    cg_solution_free(&e->fin);
}

static int estimate(const struct live *lv, struct est *e)
{
    if (est_alloc(lv, e) < 0 || track(lv, e) < 0)
        return -1;
    for (uint32_t v = 0; v < e->n; v++)
        e->drift[v] = v == e->ref ? 0 : fit_drift(e, v);
    detrended_minima(lv, e);
    struct cg_problem p = problem(lv, e);
    return cg_solve(&p, &e->fin);
}

/* ---- budgets, warnings, snapshot ------------------------------------ */

/* One side of an edge's budget: the constraint that a relative offset of
 * sign `sign` consumes (-1: forward, +1: end of synchronous pairs). */
struct side {
    bool has;
    int64_t budget_ns;
};

static void side_min(struct side *s, int64_t v)
{
    if (!s->has || v < s->budget_ns)
        s->budget_ns = v;
    s->has = true;
}

static void edge_budgets(const struct live *lv, const struct est *e,
                         uint32_t edge, struct side *fwd, struct side *back)
{
    const struct live_edge_state *es = &lv->edges[edge];

    *fwd = *back = (struct side){0};
    for (size_t w = 0; w < e->nw; w++) {
        const struct clock_track_point *a = &e->tr[es->from * e->nw + w];
        const struct clock_track_point *b = &e->tr[es->to * e->nw + w];
        if (!e->wok[w] || !a->known || !b->known)
            continue;
        int64_t r = b->offset_ns - a->offset_ns;
        const struct live_window *lw = &lv->win[w];
        for (size_t g = 0; g < lw->ncells; g++) {
            if (lv->groups[g].edge != edge || lw->cells[g].m.count == 0)
                continue;
            side_min(fwd, lw->cells[g].m.fwd - r);
            if (lv->groups[g].sync)
                side_min(back, lw->cells[g].m.back + r);
        }
    }
}

/* Use of one side and when it runs out: offset r (ns) moves at rate
 * (ns/s); sign -1 = negative offsets consume the side. */
static void side_use(const struct side *s, int sign, int64_t r, double rate,
                     struct live_edge *out)
{
    if (!s->has || s->budget_ns <= 0)
        return;
    double used = (double)(sign * r) / (double)s->budget_ns;
    used = used > 0 ? used : 0;
    if (out->has_budget && used <= out->budget_used_ratio)
        return;
    double remaining = (double)s->budget_ns - (double)(sign * r);
    double closing = sign * rate;
    out->has_budget = true;
    out->skew_budget_ns = s->budget_ns;
    out->budget_used_ratio = used;
    out->exhausts = closing > 0;
    out->exhaust_in_s =
        closing > 0 ? (remaining > 0 ? remaining : 0) / closing : 0;
}

static void edge_stat(struct live *lv, const struct est *e, uint32_t edge,
                      struct live_edge *out)
{
    struct live_edge_state *es = &lv->edges[edge];
    struct side fwd, back;

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
    out->offset_ns = e->fin.x[es->to] - e->fin.x[es->from];
    out->drift_ppm = e->drift[es->to] - e->drift[es->from];
    double rate = out->drift_ppm * 1e3; /* ns per s */
    side_use(&fwd, -1, out->offset_ns, rate, out);
    side_use(&back, +1, out->offset_ns, rate, out);
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
    const struct clock_bound *b = &e->fin.bound[v];

    *out = (struct live_domain){
        .name = lv->domains.v[v],
        .known =
            e->fin.known[v] && (v == e->ref || b->has_lower || b->has_upper),
        .offset_ns = e->fin.x[v],
        .has_lower = b->has_lower,
        .has_upper = b->has_upper,
        .lower_ns = b->lower_ns,
        .upper_ns = b->upper_ns,
        .drift_ppm = e->drift[v],
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
        m += lv->win[w].ncells * sizeof(struct live_cell);
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
    out->reference = e->n ? lv->domains.v[e->ref] : NULL;
    out->at_ns = e->at_ns;
    out->consistent = e->fin.consistent;
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
