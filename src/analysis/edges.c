/* edges: parent->child and producer<-consumer pairs across clock domains. */
#include "analysis/edges.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_store.h"

struct builder {
    struct edge_list *l;
    size_t cap;
    const struct span_store *s;
    /* (from, to) -> edge index, open addressing; key from*2^32+to. */
    uint64_t *keys;
    uint32_t *vals;
    size_t mask;
    size_t edge_cap;
};

static int edge_map_grow(struct builder *b)
{
    size_t n = b->mask ? 2 * (b->mask + 1) : 64;
    uint64_t *keys = malloc(n * sizeof(*keys));
    uint32_t *vals = malloc(n * sizeof(*vals));

    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    memset(keys, 0xff, n * sizeof(*keys));
    for (size_t e = 0; e < b->l->nedges; e++) {
        uint64_t k = (uint64_t)b->l->edges[e].from << 32 | b->l->edges[e].to;
        size_t i = (k * 0x9e3779b97f4a7c15ull >> 20) & (n - 1);
        while (keys[i] != UINT64_MAX)
            i = (i + 1) & (n - 1);
        keys[i] = k;
        vals[i] = (uint32_t)e;
    }
    free(b->keys);
    free(b->vals);
    b->keys = keys;
    b->vals = vals;
    b->mask = n - 1;
    return 0;
}

/* Index of edge (from, to), created on first use; -1 when out of memory. */
static int64_t edge_of(struct builder *b, uint32_t from, uint32_t to)
{
    if (2 * (b->l->nedges + 1) > b->mask + 1 && edge_map_grow(b) < 0)
        return -1;
    uint64_t k = (uint64_t)from << 32 | to;
    size_t i = (k * 0x9e3779b97f4a7c15ull >> 20) & b->mask;
    for (; b->keys[i] != UINT64_MAX; i = (i + 1) & b->mask)
        if (b->keys[i] == k)
            return b->vals[i];
    if (b->l->nedges == b->edge_cap) {
        size_t cap = b->edge_cap ? 2 * b->edge_cap : 16;
        struct edge *e = realloc(b->l->edges, cap * sizeof(*e));
        if (!e)
            return -1;
        b->l->edges = e;
        b->edge_cap = cap;
    }
    b->l->edges[b->l->nedges] = (struct edge){.from = from, .to = to};
    b->keys[i] = k;
    b->vals[i] = (uint32_t)b->l->nedges;
    return (int64_t)b->l->nedges++;
}

static int add_pair(struct builder *b, size_t parent, size_t child,
                    uint32_t flags)
{
    const struct span_rec *p = span_store_at(b->s, parent);
    const struct span_rec *c = span_store_at(b->s, child);

    if (p->domain == c->domain)
        return 0;
    int64_t e = edge_of(b, p->domain, c->domain);
    if (e < 0)
        return -1;
    if (b->l->npairs == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1024;
        struct edge_pair *np = realloc(b->l->pairs, cap * sizeof(*np));
        if (!np)
            return -1;
        b->l->pairs = np;
        b->cap = cap;
    }
    if (p->kind == SPAN_KIND_CLIENT && c->kind == SPAN_KIND_SERVER &&
        !(flags & EDGE_PAIR_LINK))
        flags |= EDGE_PAIR_SYNC;
    b->l->pairs[b->l->npairs++] = (struct edge_pair){
        .parent = (uint32_t)parent,
        .child = (uint32_t)child,
        .edge = (uint32_t)e,
        .flags = flags,
    };
    b->l->edges[e].pairs++;
    return 0;
}

static int add_links(struct builder *b, size_t child, int64_t parent)
{
    const struct span_rec *c = span_store_at(b->s, child);

    for (uint32_t li = c->link; li != SPAN_NO_LINK;) {
        const struct span_link *l = span_store_link(b->s, li);
        int64_t t = span_store_find(b->s, l->trace_id, l->span_id, false);
        li = l->next;
        if (t < 0) {
            b->l->dangling_links++;
            continue;
        }
        if (t == parent || c->kind != SPAN_KIND_CONSUMER ||
            span_store_at(b->s, (size_t)t)->kind != SPAN_KIND_PRODUCER)
            continue;
        if (add_pair(b, (size_t)t, child, EDGE_PAIR_LINK) < 0)
            return -1;
    }
    return 0;
}

static int span_pairs(struct builder *b, size_t idx)
{
    const struct span_rec *c = span_store_at(b->s, idx);
    int64_t p = -1;

    if (c->flags & SPAN_F_DUPLICATE)
        return 0;
    if (c->flags & SPAN_F_HAS_PARENT) {
        p = span_store_find(b->s, c->trace_id, c->parent_id, false);
        if (p < 0)
            b->l->orphans++;
        else if (add_pair(b, (size_t)p, idx, 0) < 0)
            return -1;
    }
    return c->link == SPAN_NO_LINK ? 0 : add_links(b, idx, p);
}

/* the comparator's store: per thread, as several serve instances (or
 * threads) may build edge lists at once */
static _Thread_local const struct span_store *sort_store;

static int edge_cmp(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    int c = strcmp(span_store_domain_name(sort_store, x->from),
                   span_store_domain_name(sort_store, y->from));

    return c ? c
             : strcmp(span_store_domain_name(sort_store, x->to),
                      span_store_domain_name(sort_store, y->to));
}

/* Sort edges by name and renumber the pairs' edge indices to match. */
static int sort_edges(struct edge_list *l, const struct span_store *s)
{
    uint32_t *rank = malloc((l->nedges + 1) * sizeof(*rank));

    if (!rank)
        return -1;
    for (size_t e = 0; e < l->nedges; e++)
        l->edges[e].pairs = e; /* remember the old index */
    sort_store = s;
    if (l->nedges > 1)
        qsort(l->edges, l->nedges, sizeof(*l->edges), edge_cmp);
    for (size_t e = 0; e < l->nedges; e++) {
        rank[l->edges[e].pairs] = (uint32_t)e;
        l->edges[e].pairs = 0;
    }
    for (size_t i = 0; i < l->npairs; i++) {
        l->pairs[i].edge = rank[l->pairs[i].edge];
        l->edges[l->pairs[i].edge].pairs++;
    }
    free(rank);
    return 0;
}

int edge_list_build(struct edge_list *out, const struct span_store *s)
{
    struct builder b = {.l = out, .s = s};
    int rc = -1;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < span_store_count(s); i++)
        if (span_pairs(&b, i) < 0)
            goto out;
    rc = sort_edges(out, s);
out:
    free(b.keys);
    free(b.vals);
    return rc;
}

void edge_list_free(struct edge_list *l)
{
    free(l->pairs);
    free(l->edges);
    memset(l, 0, sizeof(*l));
}
