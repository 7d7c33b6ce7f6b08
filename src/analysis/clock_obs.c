/* clock_obs: transport class names and the consumer's wait (see
 * clock_obs.h). The wait is found with one sorted array of the end times
 * of every domain's CONSUMER and SERVER spans ("work") and a binary search
 * per pair. */
#include "analysis/clock_obs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "analysis/clock_window.h"
#include "analysis/edges.h"
#include "model/span_store.h"

void clock_obs_class_name(const struct span_store *s, const struct span_rec *p,
                          const struct span_rec *c,
                          char buf[CLOCK_OBS_CLASS_MAX])
{
    uint16_t sys = c->system ? c->system : p->system;
    const char *name = sys ? span_store_system_name(s, sys) : "";

    snprintf(buf, CLOCK_OBS_CLASS_MAX, "%.160s/%u/%u", name ? name : "",
             (unsigned)(p->kind & 7), (unsigned)(c->kind & 7));
}

/* A work span: (domain, end, index), sorted by domain then end. */
struct work {
    uint32_t domain;
    uint32_t idx;
    int64_t end;
};

static int cmp_work(const void *a, const void *b)
{
    const struct work *x = a, *y = b;

    if (x->domain != y->domain)
        return x->domain < y->domain ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool is_work(const struct span_rec *r)
{
    return r->kind == SPAN_KIND_CONSUMER || r->kind == SPAN_KIND_SERVER;
}

/* The latest work end of c's domain at or before c's start, other than c
 * itself; false when there is none. */
static bool previous_end(const struct work *w, size_t n, uint32_t idx,
                         const struct span_rec *c, int64_t *end)
{
    size_t lo = 0, hi = n;

    /* first element > (domain, start, max idx) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w[mid].domain < c->domain ||
            (w[mid].domain == c->domain && w[mid].end <= c->start_ns))
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo > 0 && w[lo - 1].domain == c->domain) {
        if (w[lo - 1].idx != idx) {
            *end = w[lo - 1].end;
            return true;
        }
        lo--;
    }
    return false;
}

int clock_obs_waits(const struct span_store *s, const struct edge_list *l,
                    uint8_t *wait)
{
    size_t n = span_store_count(s), k = 0;
    struct work *w = malloc((n + 1) * sizeof(*w));

    if (!w)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct span_rec *r = span_store_at(s, i);
        if (is_work(r))
            w[k++] = (struct work){r->domain, (uint32_t)i, r->end_ns};
    }
    qsort(w, k, sizeof(*w), cmp_work);
    for (size_t i = 0; i < l->npairs; i++) {
        const struct span_rec *c = span_store_at(s, l->pairs[i].child);
        int64_t end;
        if (!is_work(c) || !previous_end(w, k, l->pairs[i].child, c, &end))
            wait[i] = CLOCK_WAIT_UNKNOWN;
        else
            wait[i] = c->start_ns - end < CLOCK_OBS_QUEUE_GAP_NS
                          ? CLOCK_WAIT_QUEUED
                          : CLOCK_WAIT_IDLE;
    }
    free(w);
    return 0;
}
