/* causality: violation counts and slack statistics per edge. */
#include "analysis/causality.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/edges.h"
#include "model/span_store.h"

static void swap64(int64_t *a, int64_t *b)
{
    int64_t t = *a;
    *a = *b;
    *b = t;
}

/* k-th smallest of v[0..n) by quickselect with a three-way partition
 * (runs of equal slacks are common); reorders v. */
static int64_t select_kth(int64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n;

    while (hi - lo > 1) {
        int64_t pivot = v[lo + (hi - lo) / 2];
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (v[i] < pivot)
                swap64(&v[lt++], &v[i++]);
            else if (v[i] > pivot)
                swap64(&v[i], &v[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return pivot;
    }
    return v[lo];
}

unsigned causality_pair_violation(const struct span_rec *p,
                                  const struct span_rec *c, uint32_t flags)
{
    return causality_violation(c->start_ns - p->start_ns, p->end_ns - c->end_ns,
                               (flags & EDGE_PAIR_SYNC) != 0);
}

static void count_pair(struct causality_report *r, struct causality_edge *e,
                       const struct span_rec *p, const struct span_rec *c,
                       uint32_t flags)
{
    unsigned v = causality_pair_violation(p, c, flags);
    bool before = (v & CAUSALITY_STARTS_BEFORE) != 0;
    bool after = (v & CAUSALITY_ENDS_AFTER) != 0;

    e->starts_before_parent += before;
    e->ends_after_parent += after;
    e->violations += before || after;
    r->starts_before_parent += before;
    r->ends_after_parent += after;
    r->violating_pairs += before || after;
}

/* Gather each edge's slacks contiguously and take min and median. */
static int slack_stats(struct causality_report *r, const struct span_store *s,
                       const struct edge_list *l)
{
    size_t *pos = calloc(l->nedges + 1, sizeof(*pos));
    int64_t *slack = malloc((l->npairs + 1) * sizeof(*slack));

    if (!pos || !slack) {
        free(pos);
        free(slack);
        return -1;
    }
    for (size_t e = 0; e < l->nedges; e++)
        pos[e + 1] = pos[e] + l->edges[e].pairs;
    for (size_t i = 0; i < l->npairs; i++) {
        const struct edge_pair *ep = &l->pairs[i];
        slack[pos[ep->edge]++] = span_store_at(s, ep->child)->start_ns -
                                 span_store_at(s, ep->parent)->start_ns;
    }
    for (size_t e = 0, start = 0; e < l->nedges; e++) {
        size_t n = l->edges[e].pairs;
        int64_t *v = slack + start, min = v[0];
        for (size_t i = 1; i < n; i++)
            min = v[i] < min ? v[i] : min;
        r->edges[e].min_slack_ns = min;
        r->edges[e].median_slack_ns = select_kth(v, n, (n - 1) / 2);
        start += n;
    }
    free(pos);
    free(slack);
    return 0;
}

int causality_check(struct causality_report *r, const struct span_store *s,
                    const struct edge_list *l)
{
    memset(r, 0, sizeof(*r));
    r->spans = span_store_count(s);
    r->traces = span_store_traces(s);
    r->duplicates = span_store_duplicates(s);
    r->orphans = l->orphans;
    r->dangling_links = l->dangling_links;
    r->pairs = l->npairs;
    r->nedges = l->nedges;
    r->edges = calloc(l->nedges + 1, sizeof(*r->edges));
    if (!r->edges)
        return -1;
    for (size_t i = 0; i < r->spans; i++) {
        const struct span_rec *sp = span_store_at(s, i);
        r->negative_duration +=
            !(sp->flags & SPAN_F_DUPLICATE) && sp->end_ns < sp->start_ns;
    }
    for (size_t e = 0; e < l->nedges; e++) {
        r->edges[e].from = l->edges[e].from;
        r->edges[e].to = l->edges[e].to;
        r->edges[e].pairs = l->edges[e].pairs;
    }
    for (size_t i = 0; i < l->npairs; i++) {
        const struct edge_pair *ep = &l->pairs[i];
        count_pair(r, &r->edges[ep->edge], span_store_at(s, ep->parent),
                   span_store_at(s, ep->child), ep->flags);
    }
    return slack_stats(r, s, l);
}

void causality_report_free(struct causality_report *r)
{
    free(r->edges);
    memset(r, 0, sizeof(*r));
}
