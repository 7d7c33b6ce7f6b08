/* serve_page: the live page's rings and routes (see serve_page.h). The
 * rings are fixed-size arrays used circularly (start + count); entries own
 * their strings. Writers (the analysis thread, finders) build an entry
 * outside the lock and swap it in; routes build their JSON under the lock
 * (bounded: the rings are) and serialise it outside. */
#include "serve/serve_page.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/edges.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/report_html.h"
#include "serve/live.h"
#include "serve/receiver.h"
#include "util/ids.h"
#include "analysis/causality.h"
#include "util/clock.h"
#include "util/grow.h"

/* ---- entries */

struct hnode {
    char *name;
    bool known, has_lower, has_upper;
    int64_t offset_ns, lower_ns, upper_ns;
    double drift_ppm;
};

struct hsnap {
    int64_t updated_unix_ns, at_ns;
    char *reference;
    bool consistent;
    struct hnode *nodes;
    size_t n;
};

struct warn {
    int64_t ts_unix_ns;
    char level[8], event[32];
    char *from, *to;
    int64_t offset_ns, budget_ns;
    bool has_budget, exhausts;
    double drift_ppm, used, exhaust_in_s;
    uint64_t pairs, violations, new_violations;
};

/* A domain of a kept trace and the model's view of it when kept. */
struct kdom {
    char *name;
    size_t len;
    bool mapped;
    int64_t offset_ns, at_ns;
    double drift_ppm;
};

struct kspan {
    uint64_t span_id, parent_id, link_id;
    int64_t start_ns, end_ns;
    uint32_t dom;
    uint8_t kind, flags;
};

struct ktrace {
    uint8_t id[16];
    int64_t captured_unix_ns, model_at_ns;
    size_t violations, dropped;
    char *reference; /* of the model when kept */
    bool model_complete;
    struct kspan *spans;
    size_t nspans;
    struct report_html_pair *pairs;
    size_t npairs;
    struct kdom *doms;
    size_t ndoms;
};

/* A ring of pointers to entries. */
struct ring {
    void **v;
    size_t cap, start, n;
    uint64_t total; /* ever pushed */
};

struct serve_page {
    struct serve_page_config cfg;
    pthread_mutex_t mu;
    struct ring hist, warns, traces, finds;
    /* the newest snapshot (the model traces are kept with), under mu */
    struct hsnap *cur;
};

static void *ring_at(const struct ring *r, size_t i)
{
    return r->v[(r->start + i) % r->cap];
}

/* Push e; returns the entry pushed out (to free), or NULL. */
static void *ring_push(struct ring *r, void *e)
{
    void *old = NULL;

    if (r->n == r->cap) {
        old = r->v[r->start];
        r->v[r->start] = e;
        r->start = (r->start + 1) % r->cap;
    } else {
        r->v[(r->start + r->n++) % r->cap] = e;
    }
    r->total++;
    return old;
}

static void *ring_pop_front(struct ring *r)
{
    void *e;

    if (!r->n)
        return NULL;
    e = r->v[r->start];
    r->start = (r->start + 1) % r->cap;
    r->n--;
    return e;
}

static int ring_init(struct ring *r, size_t cap)
{
    r->cap = cap;
    r->v = calloc(cap, sizeof(*r->v));
    return r->v ? 0 : -1;
}

static void hsnap_free(struct hsnap *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->nodes[i].name);
    free(h->nodes);
    free(h->reference);
    free(h);
}

static void warn_free(struct warn *w)
{
    if (!w)
        return;
    free(w->from);
    free(w->to);
    free(w);
}

static void ktrace_free(struct ktrace *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ndoms; i++)
        free(t->doms[i].name);
    free(t->doms);
    free(t->spans);
    free(t->pairs);
    free(t->reference);
    free(t);
}

static void ring_free(struct ring *r, void (*fn)(void *))
{
    for (size_t i = 0; r->v && i < r->n; i++)
        fn(ring_at(r, i));
    free(r->v);
}

static void hsnap_free_v(void *p)
{
    hsnap_free(p);
}
static void warn_free_v(void *p)
{
    warn_free(p);
}
static void ktrace_free_v(void *p)
{
    ktrace_free(p);
}
static void json_free_v(void *p)
{
    json_decref(p);
}

static int64_t unix_now_ns(void)
{
    return clock_now_ns(CLOCK_REALTIME);
}

/* ---- create, destroy */

struct serve_page *serve_page_create(const struct serve_page_config *cfg)
{
    struct serve_page *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    if (cfg)
        p->cfg = *cfg;
    if (!p->cfg.history)
        p->cfg.history = 240;
    if (!p->cfg.warnings)
        p->cfg.warnings = 200;
    if (!p->cfg.traces)
        p->cfg.traces = 32;
    if (!p->cfg.trace_spans)
        p->cfg.trace_spans = 500;
    if (!p->cfg.findings)
        p->cfg.findings = 200;
    if (!(p->cfg.warn_share > 0))
        p->cfg.warn_share = 0.5;
    if (!(p->cfg.refresh_s > 0))
        p->cfg.refresh_s = 3;
    pthread_mutex_init(&p->mu, NULL);
    if (ring_init(&p->hist, p->cfg.history) < 0 ||
        ring_init(&p->warns, p->cfg.warnings) < 0 ||
        ring_init(&p->traces, p->cfg.traces) < 0 ||
        ring_init(&p->finds, p->cfg.findings) < 0) {
        serve_page_destroy(p);
        return NULL;
    }
    return p;
}

void serve_page_destroy(struct serve_page *p)
{
    if (!p)
        return;
    ring_free(&p->hist, hsnap_free_v);
    ring_free(&p->warns, warn_free_v);
    ring_free(&p->traces, ktrace_free_v);
    ring_free(&p->finds, json_free_v);
    hsnap_free(p->cur);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- history */

static struct hsnap *hsnap_copy(const struct live_snapshot *sn, int64_t upd)
{
    struct hsnap *h = calloc(1, sizeof(*h));
    bool ok = true;

    if (!h)
        return NULL;
    h->updated_unix_ns = upd;
    h->at_ns = sn->at_ns;
    h->consistent = sn->consistent;
    h->reference = dup_or_null(sn->reference, &ok);
    h->nodes = calloc(sn->ndomains + 1, sizeof(*h->nodes));
    if (!h->nodes)
        ok = false;
    for (size_t i = 0; ok && i < sn->ndomains; i++) {
        const struct live_domain *d = &sn->domains[i];
        h->nodes[i] = (struct hnode){
            .name = dup_or_null(d->name, &ok),
            .known = d->known,
            .has_lower = d->has_lower,
            .has_upper = d->has_upper,
            .offset_ns = d->offset_ns,
            .lower_ns = d->lower_ns,
            .upper_ns = d->upper_ns,
            .drift_ppm = d->drift_ppm,
        };
        h->n = i + 1;
    }
    if (!ok) {
        hsnap_free(h);
        return NULL;
    }
    return h;
}

static struct hsnap *hsnap_copy_h(const struct hsnap *src)
{
    struct hsnap *h = calloc(1, sizeof(*h));
    bool ok = true;

    if (!h)
        return NULL;
    *h = *src;
    h->reference = dup_or_null(src->reference, &ok);
    h->nodes = calloc(src->n + 1, sizeof(*h->nodes));
    h->n = 0;
    if (!h->nodes)
        ok = false;
    for (size_t i = 0; ok && i < src->n; i++) {
        h->nodes[i] = src->nodes[i];
        h->nodes[i].name = dup_or_null(src->nodes[i].name, &ok);
        h->n = i + 1;
    }
    if (!ok) {
        hsnap_free(h);
        return NULL;
    }
    return h;
}

/* Same clock picture (times aside). */
static bool hsnap_same(const struct hsnap *a, const struct hsnap *b)
{
    if (a->at_ns != b->at_ns || a->n != b->n || a->consistent != b->consistent)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct hnode *x = &a->nodes[i], *y = &b->nodes[i];
        if (strcmp(x->name, y->name) || x->known != y->known ||
            x->offset_ns != y->offset_ns || x->has_lower != y->has_lower ||
            x->has_upper != y->has_upper || x->lower_ns != y->lower_ns ||
            x->upper_ns != y->upper_ns || x->drift_ppm != y->drift_ppm)
            return false;
    }
    return true;
}

void serve_page_note_update(struct serve_page *p,
                            const struct live_snapshot *snap,
                            int64_t updated_unix_ns)
{
    struct hsnap *h, *cur, *drop = NULL, *last;

    if (!p || !snap->ndomains)
        return;
    h = hsnap_copy(snap, updated_unix_ns);
    cur = hsnap_copy(snap, updated_unix_ns);
    if (!h || !cur) {
        hsnap_free(h);
        hsnap_free(cur);
        return;
    }
    pthread_mutex_lock(&p->mu);
    last = p->hist.n ? ring_at(&p->hist, p->hist.n - 1) : NULL;
    if (last && hsnap_same(last, h)) {
        last->updated_unix_ns = updated_unix_ns;
        drop = h;
    } else {
        drop = ring_push(&p->hist, h);
    }
    /* only the windows kept: older snapshots go */
    int64_t span = (int64_t)(p->cfg.history_span_s * 1e9);
    while (span > 0 && p->hist.n > 1 &&
           ((struct hsnap *)ring_at(&p->hist, 0))->at_ns < h->at_ns - span) {
        hsnap_free(ring_pop_front(&p->hist));
    }
    struct hsnap *old = p->cur;
    p->cur = cur;
    pthread_mutex_unlock(&p->mu);
    hsnap_free(drop);
    hsnap_free(old);
}

static json_t *jbound(bool has, int64_t v)
{
    return has ? json_integer((json_int_t)v) : json_null();
}

static json_t *hsnap_json(const struct hsnap *h)
{
    json_t *nodes = json_array();

    for (size_t i = 0; nodes && i < h->n; i++) {
        const struct hnode *d = &h->nodes[i];
        json_array_append_new(
            nodes,
            json_pack("{s:s, s:b, s:o, s:o, s:o, s:f}", "node", d->name,
                      "known", d->known, "offset_ns",
                      jbound(d->known, d->offset_ns), "lower_ns",
                      jbound(d->known && d->has_lower, d->lower_ns), "upper_ns",
                      jbound(d->known && d->has_upper, d->upper_ns),
                      "drift_ppm", d->drift_ppm));
    }
    return json_pack("{s:I, s:I, s:o, s:b, s:o}", "updated_unix_nano",
                     (json_int_t)h->updated_unix_ns, "at_unix_nano",
                     (json_int_t)h->at_ns, "reference",
                     h->reference ? json_string(h->reference) : json_null(),
                     "consistent", h->consistent, "nodes", nodes);
}

/* ---- warnings as logged */

void serve_page_note_warning(struct serve_page *p, const char *level,
                             const char *event, const struct live_edge *e,
                             uint64_t new_violations)
{
    struct warn *w;
    bool ok = true;

    if (!p || !(w = calloc(1, sizeof(*w))))
        return;
    *w = (struct warn){
        .ts_unix_ns = unix_now_ns(),
        .from = dup_or_null(e->from, &ok),
        .to = dup_or_null(e->to, &ok),
        .offset_ns = e->offset_ns,
        .budget_ns = e->skew_budget_ns,
        .has_budget = e->has_budget,
        .exhausts = e->exhausts,
        .drift_ppm = e->drift_ppm,
        .used = e->budget_used_ratio,
        .exhaust_in_s = e->exhaust_in_s,
        .pairs = e->pairs_total,
        .violations = e->violations_total,
        .new_violations = new_violations,
    };
    snprintf(w->level, sizeof(w->level), "%s", level);
    snprintf(w->event, sizeof(w->event), "%s", event);
    if (!ok) {
        warn_free(w);
        return;
    }
    pthread_mutex_lock(&p->mu);
    w = ring_push(&p->warns, w);
    pthread_mutex_unlock(&p->mu);
    warn_free(w);
}

static json_t *warn_json(const struct warn *w)
{
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:I, s:f, s:o, s:f, s:o, s:I, s:I, s:I}",
        "ts_unix_nano", (json_int_t)w->ts_unix_ns, "level", w->level, "event",
        w->event, "from", w->from, "to", w->to, "relative_offset_ns",
        (json_int_t)w->offset_ns, "drift_ppm", w->drift_ppm, "skew_budget_ns",
        jbound(w->has_budget, w->budget_ns), "budget_used_ratio", w->used,
        "exhausts_in_s", w->exhausts ? json_real(w->exhaust_in_s) : json_null(),
        "pairs", (json_int_t)w->pairs, "violations", (json_int_t)w->violations,
        "new_violations", (json_int_t)w->new_violations);
    return o;
}

/* ---- traces with a violation */

/* One trace of a generation while it is being kept. */
struct pick {
    uint8_t id[16];
    int64_t latest_ns; /* latest parent start of its violating pairs */
    size_t violations;
    size_t *idx; /* store indices of its spans, ascending */
    size_t n, cap, dropped;
    size_t *pairs; /* indices into the edge list's pairs */
    size_t npairs, pcap;
};

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 16); /* the ID comes first in struct pick */
}

static int cmp_pick_time(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;

    if (x->latest_ns != y->latest_ns)
        return x->latest_ns < y->latest_ns ? -1 : 1;
    return memcmp(x->id, y->id, 16);
}

static bool violates(const struct span_rec *p, const struct span_rec *c,
                     uint32_t flags)
{
    return causality_pair_violation(p, c, flags) != 0;
}

/* The newest `keep` violating traces seen so far (by their latest
 * violation), streaming: a trace already held takes the later time; a
 * new one takes a free slot, or the place of the oldest when it is newer.
 * That leaves exactly the `keep` traces with the latest maxima: a trace
 * pushed out had `keep` others at least as new. O(keep) per violation;
 * `hit` remembers the last slot (a trace's pairs come together). */
struct top {
    struct pick *v;
    size_t n, keep, hit;
};

static void top_note(struct top *tp, const uint8_t id[16], int64_t t)
{
    size_t i = tp->hit, oldest = 0;

    if (i >= tp->n || memcmp(tp->v[i].id, id, 16) != 0)
        for (i = 0; i < tp->n && memcmp(tp->v[i].id, id, 16) != 0; i++)
            ;
    if (i == tp->n && tp->n == tp->keep) {
        for (size_t k = 1; k < tp->n; k++)
            if (tp->v[k].latest_ns < tp->v[oldest].latest_ns)
                oldest = k;
        if (t <= tp->v[oldest].latest_ns)
            return;
        i = oldest;
        memcpy(tp->v[i].id, id, 16);
        tp->v[i].latest_ns = t;
    } else if (i == tp->n) {
        memcpy(tp->v[i].id, id, 16);
        tp->v[tp->n++].latest_ns = t;
    } else if (t > tp->v[i].latest_ns) {
        tp->v[i].latest_ns = t;
    }
    tp->hit = i;
}

/* The violating traces of the generation (a violating pair, at its
 * parent's start, or a negative duration), at most keep: the newest;
 * sorted by ID. Their violations are counted by picks_fill. */
static struct pick *picks_find(const struct span_store *st,
                               const struct edge_list *l, size_t keep,
                               size_t *n)
{
    struct top tp = {.v = calloc(keep + 1, sizeof(struct pick)), .keep = keep};
    size_t ns = span_store_count(st);

    *n = 0;
    if (!tp.v)
        return NULL;
    for (size_t k = 0; k < l->npairs; k++) {
        const struct span_rec *p = span_store_at(st, l->pairs[k].parent);
        const struct span_rec *c = span_store_at(st, l->pairs[k].child);
        if (violates(p, c, l->pairs[k].flags))
            top_note(&tp, c->trace_id, p->start_ns);
    }
    for (size_t i = 0; i < ns; i++) {
        const struct span_rec *r = span_store_at(st, i);
        if (!(r->flags & SPAN_F_DUPLICATE) && r->end_ns < r->start_ns)
            top_note(&tp, r->trace_id, r->start_ns);
    }
    qsort(tp.v, tp.n, sizeof(*tp.v), cmp_id);
    *n = tp.n;
    return tp.v;
}

/* Append x to a size_t array (up to max, counting the rest in *dropped). */
static int push_index(size_t **a, size_t *n, size_t *cap, size_t x, size_t max,
                      size_t *dropped)
{
    if (*n == max) {
        (*dropped)++;
        return 0;
    }
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 32;
        void *y = realloc(*a, c * sizeof(**a));
        if (!y)
            return -1;
        *a = y;
        *cap = c;
    }
    (*a)[(*n)++] = x;
    return 0;
}

/* Each pick's spans and pairs: one pass over the store, one over the
 * pairs. */
static int picks_fill(struct pick *v, size_t n, const struct span_store *st,
                      const struct edge_list *l, size_t max)
{
    size_t ns = span_store_count(st), none = 0;

    for (size_t i = 0; i < ns; i++) {
        const struct span_rec *r = span_store_at(st, i);
        struct pick *pk;
        if (r->flags & SPAN_F_DUPLICATE)
            continue;
        pk = bsearch(r->trace_id, v, n, sizeof(*v), cmp_id);
        if (!pk)
            continue;
        pk->violations += r->end_ns < r->start_ns;
        if (push_index(&pk->idx, &pk->n, &pk->cap, i, max, &pk->dropped) < 0)
            return -1;
    }
    for (size_t k = 0; k < l->npairs; k++) {
        const struct span_rec *c = span_store_at(st, l->pairs[k].child);
        struct pick *pk = bsearch(c->trace_id, v, n, sizeof(*v), cmp_id);
        if (!pk)
            continue;
        pk->violations += violates(span_store_at(st, l->pairs[k].parent), c,
                                   l->pairs[k].flags);
        if (push_index(&pk->pairs, &pk->npairs, &pk->pcap, k, SIZE_MAX, &none) <
            0)
            return -1;
    }
    return 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

/* The model's view of domain `name` in snapshot cur (NULL: none). */
static void model_of(const struct hsnap *cur, struct kdom *d)
{
    for (size_t i = 0; cur && i < cur->n; i++)
        if (cur->nodes[i].known && strlen(d->name) == d->len &&
            strcmp(cur->nodes[i].name, d->name) == 0) {
            d->mapped = true;
            d->offset_ns = cur->nodes[i].offset_ns;
            d->drift_ppm = cur->nodes[i].drift_ppm;
            d->at_ns = cur->at_ns;
            return;
        }
}

/* The trace's domain for store domain id (added on first use). */
static long kdom_of(struct ktrace *t, const struct span_store *st, uint32_t id,
                    uint32_t *map)
{
    if (map[id] != UINT32_MAX)
        return map[id];
    size_t len = span_store_domain_name_len(st, id);
    char *name = malloc(len + 1);
    if (!name)
        return -1;
    memcpy(name, span_store_domain_name(st, id), len + 1);
    t->doms[t->ndoms] = (struct kdom){.name = name, .len = len};
    map[id] = (uint32_t)t->ndoms;
    return (long)t->ndoms++;
}

static int ktrace_spans(struct ktrace *t, const struct pick *pk,
                        const struct span_store *st, uint32_t *map)
{
    for (size_t i = 0; i < pk->n; i++) {
        const struct span_rec *r = span_store_at(st, pk->idx[i]);
        long d = kdom_of(t, st, r->domain, map);
        if (d < 0)
            return -1;
        t->spans[i] = (struct kspan){
            .span_id = r->span_id,
            .parent_id = r->parent_id,
            .start_ns = r->start_ns,
            .end_ns = r->end_ns,
            .dom = (uint32_t)d,
            .kind = r->kind,
            .flags = r->flags,
            .link_id = r->link != SPAN_NO_LINK
                           ? span_store_link(st, r->link)->span_id
                           : 0,
        };
        t->nspans = i + 1;
    }
    return 0;
}

/* The pick's pairs whose two spans are kept, as indices into t->spans. */
static int ktrace_pairs(struct ktrace *t, const struct pick *pk,
                        const struct edge_list *l)
{
    if (!(t->pairs = calloc(pk->npairs + 1, sizeof(*t->pairs))))
        return -1;
    if (!pk->n)
        return 0;
    for (size_t k = 0; k < pk->npairs; k++) {
        const struct edge_pair *ep = &l->pairs[pk->pairs[k]];
        size_t pi = ep->parent, ci = ep->child;
        const size_t *a =
            bsearch(&pi, pk->idx, pk->n, sizeof(size_t), cmp_size);
        const size_t *b =
            bsearch(&ci, pk->idx, pk->n, sizeof(size_t), cmp_size);
        if (a && b)
            t->pairs[t->npairs++] = (struct report_html_pair){
                (uint32_t)(a - pk->idx), (uint32_t)(b - pk->idx),
                (ep->flags & EDGE_PAIR_SYNC) != 0};
    }
    return 0;
}

/* Build the kept copy of pick pk: spans, its pairs, its domains with the
 * model of cur. */
static struct ktrace *ktrace_make(const struct pick *pk,
                                  const struct span_store *st,
                                  const struct edge_list *l,
                                  const struct hsnap *cur, uint32_t *map)
{
    struct ktrace *t = calloc(1, sizeof(*t));
    bool ok = true;

    if (!t || !(t->spans = calloc(pk->n + 1, sizeof(*t->spans))) ||
        !(t->doms = calloc(pk->n + 1, sizeof(*t->doms))) ||
        ktrace_spans(t, pk, st, map) < 0 || ktrace_pairs(t, pk, l) < 0)
        goto fail;
    memcpy(t->id, pk->id, 16);
    t->violations = pk->violations;
    t->dropped = pk->dropped;
    t->captured_unix_ns = unix_now_ns();
    t->model_complete = cur != NULL;
    for (size_t i = 0; i < t->ndoms; i++) {
        model_of(cur, &t->doms[i]);
        t->model_complete &= t->doms[i].mapped;
    }
    t->reference = cur ? dup_or_null(cur->reference, &ok) : NULL;
    t->model_at_ns = cur ? cur->at_ns : 0;
    if (ok)
        return t;
fail:
    ktrace_free(t);
    return NULL;
}

void serve_page_note_batch(struct serve_page *p, const struct span_store *st,
                           const struct edge_list *l)
{
    size_t n = 0, nd;
    struct pick *v = NULL;
    uint32_t *map = NULL;
    struct hsnap *cur = NULL;

    if (!p || !(v = picks_find(st, l, p->cfg.traces, &n)) || !n)
        goto out;
    nd = span_store_domain_count(st);
    if (picks_fill(v, n, st, l, p->cfg.trace_spans) < 0 ||
        !(map = malloc((nd + 1) * sizeof(*map))))
        goto out;
    /* the model now: a private copy (the lock is not held while building) */
    pthread_mutex_lock(&p->mu);
    cur = p->cur ? hsnap_copy_h(p->cur) : NULL;
    pthread_mutex_unlock(&p->mu);
    qsort(v, n, sizeof(*v), cmp_pick_time); /* oldest first into the ring */
    for (size_t i = 0; i < n; i++) {
        memset(map, 0xff, (nd + 1) * sizeof(*map));
        struct ktrace *t = ktrace_make(&v[i], st, l, cur, map);
        if (!t)
            break;
        pthread_mutex_lock(&p->mu);
        t = ring_push(&p->traces, t);
        pthread_mutex_unlock(&p->mu);
        ktrace_free(t);
    }
out:
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].idx);
        free(v[i].pairs);
    }
    free(v);
    free(map);
    hsnap_free(cur);
}

/* The kept trace as the timeline reads it, corrected with the model kept
 * with it, or (when that did not know all its domains) with cur. */
static json_t *ktrace_json(const struct ktrace *t, const struct hsnap *cur)
{
    struct report_html_span *sp = calloc(t->nspans + 1, sizeof(*sp));
    struct kdom *doms = calloc(t->ndoms + 1, sizeof(*doms));
    bool use_cur = !t->model_complete && cur;
    json_t *o = NULL;

    if (!sp || !doms)
        goto out;
    for (size_t i = 0; i < t->ndoms; i++) {
        doms[i] = t->doms[i];
        if (use_cur) {
            doms[i].mapped = false;
            model_of(cur, &doms[i]);
        }
    }
    for (size_t i = 0; i < t->nspans; i++) {
        const struct kspan *k = &t->spans[i];
        const struct kdom *d = &doms[k->dom];
        sp[i] = (struct report_html_span){
            .span_id = k->span_id,
            .parent_id = k->parent_id,
            .link_id = k->link_id,
            .has_parent = (k->flags & SPAN_F_HAS_PARENT) != 0,
            .shared = (k->flags & SPAN_F_SHARED) != 0,
            .kind = k->kind,
            .domain = d->name,
            .domain_len = d->len,
            .start_ns = k->start_ns,
            .end_ns = k->end_ns,
            .ref_start_ns = k->start_ns,
            .ref_end_ns = k->end_ns,
            .mapped = d->mapped,
        };
        if (d->mapped) {
            sp[i].ref_start_ns = clock_model_map(d->offset_ns, d->drift_ppm,
                                                 d->at_ns, k->start_ns);
            sp[i].ref_end_ns = clock_model_map(d->offset_ns, d->drift_ppm,
                                               d->at_ns, k->end_ns);
            sp[i].offset_ns = k->start_ns - sp[i].ref_start_ns;
        }
    }
    o = report_html_trace_json(t->id, sp, t->nspans, t->pairs, t->npairs);
    if (o) {
        const char *ref = use_cur ? cur->reference : t->reference;
        json_object_set_new(o, "captured_unix_nano",
                            json_integer((json_int_t)t->captured_unix_ns));
        json_object_set_new(o, "reference",
                            ref ? json_string(ref) : json_null());
        json_object_set_new(o, "model",
                            json_string(use_cur ? "current" : "capture"));
        json_object_set_new(
            o, "model_at_unix_nano",
            json_integer((json_int_t)(use_cur ? cur->at_ns : t->model_at_ns)));
        json_object_set_new(o, "spans_left_out",
                            json_integer((json_int_t)t->dropped));
    }
out:
    free(sp);
    free(doms);
    return o;
}

static json_t *ktrace_summary(const struct ktrace *t)
{
    char hex[33];
    json_t *doms = json_array();

    for (size_t i = 0; doms && i < t->ndoms; i++)
        json_array_append_new(doms,
                              json_stringn(t->doms[i].name, t->doms[i].len));
    id_format_trace(t->id, hex);
    return json_pack("{s:s, s:I, s:I, s:I, s:o}", "trace_id", hex,
                     "captured_unix_nano", (json_int_t)t->captured_unix_ns,
                     "spans", (json_int_t)t->nspans, "violations",
                     (json_int_t)t->violations, "domains", doms);
}

/* ---- findings */

/* The ring's entry with this "id", or -1. Under mu. */
static long find_by_id(const struct ring *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *v = json_string_value(json_object_get(ring_at(r, i), "id"));
        if (v && strcmp(v, id) == 0)
            return (long)i;
    }
    return -1;
}

int serve_page_add_finding(struct serve_page *p, const struct serve_finding *f)
{
    json_t *ev = json_null(), *o, *det = NULL, *old = NULL;
    const char *k;
    json_t *v;

    if (!p || !f->source || !f->kind || !f->subject || !f->summary)
        return -1;
    if (f->evidence_json) {
        json_decref(ev);
        ev = json_loads(f->evidence_json, JSON_DECODE_ANY, NULL);
        if (!ev)
            ev = json_string(f->evidence_json);
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "source", f->source, "kind",
                  f->kind, "subject", f->subject, "summary", f->summary,
                  "evidence", ev ? ev : json_null(), "time_unix_nano",
                  (json_int_t)f->time_unix_ns);
    if (!o)
        return -1;
    if (f->details_json && (det = json_loads(f->details_json, 0, NULL)))
        json_object_foreach(det, k, v)
        {
            if (!json_object_get(o, k))
                json_object_set(o, k, v);
        }
    json_decref(det);
    if (f->id && json_object_set_new(o, "id", json_string(f->id)) < 0) {
        json_decref(o);
        return -1;
    }
    pthread_mutex_lock(&p->mu);
    long at = f->id ? find_by_id(&p->finds, f->id) : -1;
    if (at >= 0) {
        size_t slot = (p->finds.start + (size_t)at) % p->finds.cap;
        old = p->finds.v[slot];
        p->finds.v[slot] = o;
    } else {
        old = ring_push(&p->finds, o);
    }
    pthread_mutex_unlock(&p->mu);
    json_decref(old);
    return 0;
}

/* ---- routes */

/* Serialise o (taken) as the reply. */
static int reply(json_t *o, int status, char **body, size_t *len,
                 const char **content_type)
{
    *body = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    if (!*body)
        return -1;
    *len = strlen(*body);
    *content_type = "application/json";
    return status;
}

static int asset_route(void *ctx, char **body, size_t *len,
                       const char **content_type)
{
    const char *name = ctx;
    const struct report_html_asset *a = report_html_asset(name, content_type);

    if (!a || !(*body = malloc(a->len + 1)))
        return -1;
    memcpy(*body, a->data, a->len + 1);
    *len = a->len;
    return 200;
}

static int page_route(void *ctx, char **body, size_t *len,
                      const char **content_type)
{
    struct serve_page *p = ctx;

    return reply(json_pack("{s:b, s:f}", "token_required",
                           p->cfg.token_required, "refresh_s",
                           p->cfg.refresh_s),
                 200, body, len, content_type);
}

/* {"<key>": [fn(entry) for the ring, oldest first], "total": n}, and
 * extra fields from the caller. Under mu. */
static json_t *ring_json(const struct ring *r, const char *key,
                         json_t *(*fn)(const void *))
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < r->n; i++)
        json_array_append_new(a, fn(ring_at(r, i)));
    return json_pack("{s:o, s:I}", key, a, "total", (json_int_t)r->total);
}

static json_t *hsnap_json_v(const void *e)
{
    return hsnap_json(e);
}
static json_t *warn_json_v(const void *e)
{
    return warn_json(e);
}
/* A copy, not a reference: jansson's reference counts release without
 * acquiring, so an entry shared with an HTTP thread and freed by a writer
 * that replaced it is a data race (ThreadSanitizer reports it). */
static json_t *find_json_v(const void *e)
{
    return json_deep_copy((const json_t *)e);
}

static int history_route(void *ctx, char **body, size_t *len,
                         const char **content_type)
{
    struct serve_page *p = ctx;
    json_t *o;

    pthread_mutex_lock(&p->mu);
    o = ring_json(&p->hist, "snapshots", hsnap_json_v);
    pthread_mutex_unlock(&p->mu);
    if (o) {
        json_object_set_new(o, "window_span_s",
                            json_real(p->cfg.history_span_s));
        json_object_set_new(o, "warn_share", json_real(p->cfg.warn_share));
    }
    return reply(o, 200, body, len, content_type);
}

static int warnings_route(void *ctx, char **body, size_t *len,
                          const char **content_type)
{
    struct serve_page *p = ctx;
    json_t *o;

    pthread_mutex_lock(&p->mu);
    o = ring_json(&p->warns, "warnings", warn_json_v);
    pthread_mutex_unlock(&p->mu);
    return reply(o, 200, body, len, content_type);
}

static int findings_route(void *ctx, char **body, size_t *len,
                          const char **content_type)
{
    struct serve_page *p = ctx;
    json_t *o;

    pthread_mutex_lock(&p->mu);
    o = ring_json(&p->finds, "findings", find_json_v);
    pthread_mutex_unlock(&p->mu);
    return reply(o, 200, body, len, content_type);
}

static int traces_route(void *ctx, char **body, size_t *len,
                        const char **content_type)
{
    struct serve_page *p = ctx;
    json_t *a = json_array();

    pthread_mutex_lock(&p->mu);
    for (size_t i = p->traces.n; a && i-- > 0;)
        json_array_append_new(a, ktrace_summary(ring_at(&p->traces, i)));
    pthread_mutex_unlock(&p->mu);
    return reply(json_pack("{s:o}", "traces", a), 200, body, len, content_type);
}

static int trace_route(void *ctx, const struct receiver_args *args, char **body,
                       size_t *len, const char **content_type)
{
    struct serve_page *p = ctx;
    const char *id = receiver_arg(args, "id");
    uint8_t want[16];
    bool latest = id && strcmp(id, "latest-violation") == 0;
    json_t *o = NULL;
    bool found = false;

    if (!id || (!latest && (id_parse_trace(id, strlen(id), want) < 0 ||
                            id_trace_is_zero(want))))
        return reply(json_pack("{s:s}", "error",
                               "id must be a trace ID (32 hex digits) or "
                               "latest-violation"),
                     400, body, len, content_type);
    pthread_mutex_lock(&p->mu);
    for (size_t i = p->traces.n; i-- > 0;) {
        const struct ktrace *t = ring_at(&p->traces, i);
        if (latest || memcmp(t->id, want, 16) == 0) {
            o = ktrace_json(t, p->cur);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (found && !o)
        return -1;
    if (!found && !latest)
        return reply(json_pack("{s:s}", "error",
                               "no such trace kept: the page keeps the last "
                               "traces with a violation"),
                     404, body, len, content_type);
    return reply(json_pack("{s:o}", "trace", o ? o : json_null()), 200, body,
                 len, content_type);
}

size_t serve_page_routes(struct serve_page *p, struct receiver_route *out)
{
    const struct receiver_route r[SERVE_PAGE_NROUTES] = {
        {.path = "/", .fn = asset_route, .ctx = "page.html", .public = true},
        {.path = "/page.js",
         .fn = asset_route,
         .ctx = "page.js",
         .public = true},
        {.path = "/skewscope.js",
         .fn = asset_route,
         .ctx = "skewscope.js",
         .public = true},
        {.path = "/skewscope.css",
         .fn = asset_route,
         .ctx = "skewscope.css",
         .public = true},
        {.path = "/api/v1/page", .fn = page_route, .ctx = p, .public = true},
        {.path = "/api/v1/history", .fn = history_route, .ctx = p},
        {.path = "/api/v1/warnings", .fn = warnings_route, .ctx = p},
        {.path = "/api/v1/traces", .fn = traces_route, .ctx = p},
        {.path = "/api/v1/trace", .args_fn = trace_route, .ctx = p},
        {.path = "/api/v1/findings", .fn = findings_route, .ctx = p},
    };

    memcpy(out, r, sizeof(r));
    return SERVE_PAGE_NROUTES;
}
