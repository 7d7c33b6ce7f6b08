/* live_feed: what the tests of serve's live statistics share: simulated
 * traces fed batch by batch, and comparing two snapshots field by field. */
#ifndef SKEWSCOPE_TEST_LIVE_FEED_H
#define SKEWSCOPE_TEST_LIVE_FEED_H

#include <stdio.h>
#include <string.h>

#include "analysis/edges.h"
#include "ingest/ingest.h"
#include "model/span_store.h"
#include "output/trace_writer.h"
#include "serve/live.h"
#include "sim/sim.h"

static inline struct span_store *live_simulate(const struct sim_config *cfg)
{
    char err[256] = "", path[64];
    FILE *f = tmpfile();
    struct span_store *s = span_store_create();
    struct ingest_opts io = {0};

    assert_non_null(f);
    assert_non_null(s);
    if (sim_run(cfg, &trace_writer_otlp_json_ops, f, NULL, err, sizeof err))
        fail_msg("sim_run: %s", err);
    fflush(f);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fileno(f));
    if (ingest_file(s, path, &io, err, sizeof err) != 0)
        fail_msg("ingest: %s", err);
    fclose(f);
    return s;
}

static inline void live_copy_span(struct span_store *b,
                                  const struct span_store *s,
                                  const struct span_rec *r)
{
    struct span_rec c = *r;
    const char *dn = span_store_domain_name(s, r->domain);
    const char *sn = span_store_system_name(s, r->system);

    c.domain = span_store_domain_id(b, dn, strlen(dn));
    c.system = r->system ? span_store_system_id(b, sn, strlen(sn)) : 0;
    int64_t idx = span_store_add(b, &c);
    assert_true(idx >= 0);
    for (uint32_t k = r->link; k != SPAN_NO_LINK;) {
        const struct span_link *l = span_store_link(s, k);
        assert_int_equal(
            span_store_add_link(b, (size_t)idx, l->trace_id, l->span_id), 0);
        k = l->next;
    }
}

/* Feed the spans of `s`, `per` traces a batch, batch k to lv[k % nlv]
 * (the simulator writes traces contiguously); fn (may be NULL) is called
 * after each batch with the instance fed and the batch number. */
typedef void (*live_feed_fn)(struct live *lv, size_t batch, void *arg);

static inline void live_feed(const struct span_store *s, size_t per,
                             struct live **lv, size_t nlv, live_feed_fn fn,
                             void *arg)
{
    size_t n = span_store_count(s), i = 0, batch = 0;

    while (i < n) {
        struct span_store *b = span_store_create();
        size_t traces = 0;
        for (; i < n; i++) {
            const struct span_rec *r = span_store_at(s, i);
            if (i == 0 || memcmp(r->trace_id, span_store_at(s, i - 1)->trace_id,
                                 16) != 0) {
                if (traces == per)
                    break;
                traces++;
            }
            live_copy_span(b, s, r);
        }
        struct edge_list l;
        struct live *to = lv[batch % nlv];
        assert_int_equal(span_store_index(b), 0);
        assert_int_equal(edge_list_build(&l, b), 0);
        assert_int_equal(live_add_batch(to, b, &l), 0);
        edge_list_free(&l);
        span_store_destroy(b);
        if (fn)
            fn(to, batch, arg);
        batch++;
    }
}

static inline void live_assert_same_domain(const struct live_domain *x,
                                           const struct live_domain *y)
{
    assert_string_equal(x->name, y->name);
    assert_int_equal(x->known, y->known);
    assert_int_equal(x->offset_ns, y->offset_ns);
    assert_int_equal(x->has_lower, y->has_lower);
    assert_int_equal(x->has_upper, y->has_upper);
    assert_int_equal(x->lower_ns, y->lower_ns);
    assert_int_equal(x->upper_ns, y->upper_ns);
    assert_true(x->drift_ppm == y->drift_ppm);
    assert_int_equal(x->pairs, y->pairs);
}

static inline void live_assert_same_edge(const struct live_edge *x,
                                         const struct live_edge *y)
{
    assert_string_equal(x->from, y->from);
    assert_string_equal(x->to, y->to);
    assert_int_equal(x->pairs_total, y->pairs_total);
    assert_int_equal(x->violations_total, y->violations_total);
    assert_int_equal(x->starts_before_parent_total,
                     y->starts_before_parent_total);
    assert_int_equal(x->ends_after_parent_total, y->ends_after_parent_total);
    assert_int_equal(x->offset_ns, y->offset_ns);
    assert_true(x->drift_ppm == y->drift_ppm);
    assert_int_equal(x->has_budget, y->has_budget);
    assert_int_equal(x->skew_budget_ns, y->skew_budget_ns);
    assert_true(x->budget_used_ratio == y->budget_used_ratio);
    assert_int_equal(x->warning, y->warning);
    assert_int_equal(x->exhausts, y->exhausts);
    assert_true(x->exhaust_in_s == y->exhaust_in_s);
}

/* Every field but memory_bytes (the import sizes every window for every
 * group at once) and warnings_total (not exported). */
static inline void live_assert_same(const struct live_snapshot *a,
                                    const struct live_snapshot *b)
{
    if (a->reference || b->reference)
        assert_string_equal(a->reference, b->reference);
    assert_int_equal(a->at_ns, b->at_ns);
    assert_int_equal(a->consistent, b->consistent);
    assert_int_equal(a->nwindows, b->nwindows);
    assert_int_equal(a->pairs_total, b->pairs_total);
    assert_int_equal(a->orphans_total, b->orphans_total);
    assert_int_equal(a->late_pairs_total, b->late_pairs_total);
    assert_int_equal(a->ndomains, b->ndomains);
    for (size_t i = 0; i < a->ndomains; i++)
        live_assert_same_domain(&a->domains[i], &b->domains[i]);
    assert_int_equal(a->nedges, b->nedges);
    for (size_t i = 0; i < a->nedges; i++)
        live_assert_same_edge(&a->edges[i], &b->edges[i]);
}

#endif
