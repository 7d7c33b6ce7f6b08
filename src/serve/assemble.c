/* assemble: trace assembly over a time window for the serve pipeline
 * (see assemble.h). Each generation is a span_store plus an open-addressing
 * set of the trace IDs it holds; a span looks its trace up in the (at most
 * three) generations held, newest first. */
#include "serve/assemble.h"

#include <stdlib.h>
#include <string.h>

#include "model/span_store.h"
#include "util/hash.h"

#define MAX_GENS 3 /* closed-due, closed, open */

struct trace_set {
    uint8_t (*keys)[16]; /* all-zero = empty slot (OTLP forbids zero IDs) */
    size_t cap, n;       /* cap a power of two */
};

struct generation {
    struct span_store *store;
    struct trace_set traces;
    int64_t opened_ns, closed_ns; /* closed_ns 0 while open */
    uint32_t *dmap; /* batch domain id -> this store's, for batch `epoch` */
    size_t dcap;
    uint64_t epoch;
};

struct assemble {
    int64_t window_ns;
    size_t max_spans, held;
    uint64_t early;
    struct generation gens[MAX_GENS]; /* oldest first */
    size_t ngens;
    uint64_t epoch; /* batches added */
};

static const uint8_t zero_id[16];

/* ---- trace ID set */

static uint64_t trace_hash(const uint8_t id[16])
{
    return hash_id128(id, 0);
}

static bool set_has(const struct trace_set *t, const uint8_t id[16])
{
    if (!t->cap)
        return false;
    for (size_t i = trace_hash(id) & (t->cap - 1);;
         i = (i + 1) & (t->cap - 1)) {
        if (memcmp(t->keys[i], id, 16) == 0)
            return true;
        if (memcmp(t->keys[i], zero_id, 16) == 0)
            return false;
    }
}

static void set_put_new(struct trace_set *t, const uint8_t id[16])
{
    size_t i = trace_hash(id) & (t->cap - 1);

    while (memcmp(t->keys[i], zero_id, 16) != 0) {
        if (memcmp(t->keys[i], id, 16) == 0)
            return;
        i = (i + 1) & (t->cap - 1);
    }
    memcpy(t->keys[i], id, 16);
    t->n++;
}

static int set_add(struct trace_set *t, const uint8_t id[16])
{
    if ((t->n + 1) * 2 > t->cap) {
        struct trace_set g = {NULL, t->cap ? t->cap * 2 : 1024, 0};
        g.keys = calloc(g.cap, 16);
        if (!g.keys)
            return -1;
        for (size_t i = 0; i < t->cap; i++)
            if (memcmp(t->keys[i], zero_id, 16) != 0)
                set_put_new(&g, t->keys[i]);
        free(t->keys);
        *t = g;
    }
    set_put_new(t, id);
    return 0;
}

/* ---- generations */

static int gen_open(struct assemble *a, int64_t now_ns)
{
    struct generation *g = &a->gens[a->ngens];

    memset(g, 0, sizeof(*g));
    g->store = span_store_create();
    if (!g->store)
        return -1;
    g->opened_ns = now_ns;
    a->ngens++;
    return 0;
}

/* Close the open generation when it is due and open a new one. */
static int rotate(struct assemble *a, int64_t now_ns)
{
    struct generation *open = &a->gens[a->ngens - 1];

    if (now_ns - open->opened_ns < a->window_ns || a->ngens == MAX_GENS)
        return 0;
    /* nominally closed at the end of its window, even when nothing came
     * by at that instant to rotate it */
    open->closed_ns = open->opened_ns + a->window_ns;
    return gen_open(a, now_ns);
}

struct assemble *assemble_create(double window_s, size_t max_spans)
{
    struct assemble *a;

    if (!(window_s > 0) || window_s > 86400)
        return NULL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->window_ns = (int64_t)(window_s * 1e9);
    a->max_spans = max_spans;
    return a;
}

void assemble_destroy(struct assemble *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->ngens; i++) {
        span_store_destroy(a->gens[i].store);
        free(a->gens[i].traces.keys);
        free(a->gens[i].dmap);
    }
    free(a);
}

/* Map the batch's domain ids onto generation g's store, once per batch. */
static int map_domains(struct assemble *a, const struct span_store *batch,
                       struct generation *g)
{
    size_t nd = span_store_domain_count(batch);

    if (g->epoch == a->epoch)
        return 0;
    if (nd > g->dcap) {
        uint32_t *d = realloc(g->dmap, nd * sizeof(*d));
        if (!d)
            return -1;
        g->dmap = d;
        g->dcap = nd;
    }
    for (size_t i = 0; i < nd; i++) {
        const char *name = span_store_domain_name(batch, (uint32_t)i);
        g->dmap[i] = span_store_domain_id(g->store, name, strlen(name));
        if (g->dmap[i] == UINT32_MAX)
            return -1;
    }
    g->epoch = a->epoch;
    return 0;
}

static int copy_span(struct assemble *a, const struct span_store *batch,
                     const struct span_rec *r, struct generation *g)
{
    struct span_rec c = *r;
    int64_t idx;

    if (map_domains(a, batch, g) < 0)
        return -1;
    c.domain = g->dmap[r->domain];
    if (r->system) {
        const char *sys = span_store_system_name(batch, r->system);
        c.system = span_store_system_id(g->store, sys, strlen(sys));
        if (c.system == UINT16_MAX)
            return -1;
    }
    c.flags &= (uint8_t)~SPAN_F_DUPLICATE;
    idx = span_store_add(g->store, &c);
    if (idx < 0)
        return -1;
    for (uint32_t l = r->link; l != SPAN_NO_LINK;) {
        const struct span_link *k = span_store_link(batch, l);
        if (span_store_add_link(g->store, (size_t)idx, k->trace_id,
                                k->span_id) < 0)
            return -1;
        l = k->next;
    }
    a->held++;
    return 0;
}

/* The generation holding trace id, or the open one (which then records it). */
static struct generation *gen_of(struct assemble *a, const uint8_t id[16])
{
    struct generation *open = &a->gens[a->ngens - 1];

    for (size_t i = a->ngens - 1; i-- > 0;)
        if (set_has(&a->gens[i].traces, id))
            return &a->gens[i];
    if (set_add(&open->traces, id) < 0)
        return NULL;
    return open;
}

int assemble_add(struct assemble *a, const struct span_store *batch,
                 int64_t now_ns)
{
    size_t n = span_store_count(batch);

    a->epoch++;
    if (!a->ngens && gen_open(a, now_ns) < 0)
        return -1;
    if (rotate(a, now_ns) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct span_rec *r = span_store_at(batch, i);
        struct generation *g = gen_of(a, r->trace_id);
        if (!g || copy_span(a, batch, r, g) < 0)
            return -1;
    }
    return 0;
}

static struct span_store *release_oldest(struct assemble *a)
{
    struct span_store *s = a->gens[0].store;

    free(a->gens[0].traces.keys);
    free(a->gens[0].dmap);
    a->held -= span_store_count(s);
    memmove(&a->gens[0], &a->gens[1], (a->ngens - 1) * sizeof(a->gens[0]));
    a->ngens--;
    return s;
}

/* Is the oldest generation to be released now? */
static bool oldest_due(struct assemble *a, int64_t now_ns, bool all)
{
    struct generation *old = &a->gens[0];

    if (all)
        return true;
    if (old->closed_ns && now_ns - old->closed_ns >= a->window_ns)
        return true;
    if (a->max_spans && a->held > a->max_spans) {
        /* over the cap: out early, even the open generation */
        a->early++;
        return true;
    }
    return false;
}

struct span_store *assemble_take(struct assemble *a, int64_t now_ns, bool all)
{
    if (a->ngens && rotate(a, now_ns) < 0)
        return NULL;
    while (a->ngens && oldest_due(a, now_ns, all)) {
        struct span_store *s = release_oldest(a);
        if (span_store_count(s))
            return s;
        span_store_destroy(s); /* nothing came in its window */
    }
    return NULL;
}

size_t assemble_spans(const struct assemble *a)
{
    return a->held;
}

uint64_t assemble_early_releases(const struct assemble *a)
{
    return a->early;
}
