/* The comparison the core issue asks for: on a one-way pipeline with one
 * skewed stage, a Jaeger-style clock-skew adjuster (shift each child toward
 * its parent, one edge at a time, descendants on the same host inherit the
 * shift) leaves timestamps off by about the whole skew, while skewscope's
 * joint estimate corrects every span to within 100 us of the truth.
 *
 * The adjuster here follows Jaeger's documented rule (clockskew adjuster):
 * a child on another host that lasts longer than its parent is only moved
 * to start no earlier than the parent; otherwise, when it does not fit in
 * the parent, it is centred in it (latency split equally). */
#include "testlib.h"

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "ingest/ingest.h"
#include "model/span_store.h"
#include "output/trace_writer.h"
#include "sim/sim.h"

#define MS 1000000LL
#define US 1000LL

struct tree {
    size_t n;
    size_t *first; /* CSR: children of i are kids[first[i] .. first[i+1]) */
    size_t *kids;
    int64_t *parent;
};

static void build_tree(struct tree *t, const struct span_store *s)
{
    t->n = span_store_count(s);
    t->first = calloc(t->n + 2, sizeof(size_t));
    t->kids = calloc(t->n + 1, sizeof(size_t));
    t->parent = malloc((t->n + 1) * sizeof(int64_t));
    for (size_t i = 0; i < t->n; i++) {
        const struct span_rec *r = span_store_at(s, i);
        t->parent[i] =
            r->flags & SPAN_F_HAS_PARENT
                ? span_store_find(s, r->trace_id, r->parent_id, false)
                : -1;
        if (t->parent[i] >= 0)
            t->first[t->parent[i] + 2]++;
    }
    for (size_t i = 0; i < t->n; i++)
        t->first[i + 2] += t->first[i + 1];
    for (size_t i = 0; i < t->n; i++)
        if (t->parent[i] >= 0)
            t->kids[t->first[t->parent[i] + 1]++] = i;
}

static int64_t jaeger_skew(const struct span_rec *c, int64_t p_start,
                           int64_t p_end)
{
    int64_t pd = p_end - p_start, cd = c->end_ns - c->start_ns;

    if (cd > pd)
        return c->start_ns < p_start ? p_start - c->start_ns : 0;
    if (c->start_ns >= p_start && c->end_ns <= p_end)
        return 0;
    return p_start + (pd - cd) / 2 - c->start_ns;
}

/* Depth-first from every root; shift[i] = what the adjuster adds. */
static void jaeger_adjust(const struct span_store *s, const struct tree *t,
                          int64_t *shift)
{
    size_t *stack = malloc((t->n + 1) * sizeof(size_t)), top = 0;

    for (size_t i = 0; i < t->n; i++) {
        if (t->parent[i] >= 0)
            continue;
        shift[i] = 0;
        stack[top++] = i;
        while (top) {
            size_t p = stack[--top];
            const struct span_rec *pr = span_store_at(s, p);
            for (size_t k = t->first[p]; k < t->first[p + 1]; k++) {
                size_t c = t->kids[k];
                const struct span_rec *cr = span_store_at(s, c);
                shift[c] = cr->domain == pr->domain
                               ? shift[p]
                               : jaeger_skew(cr, pr->start_ns + shift[p],
                                             pr->end_ns + shift[p]);
                stack[top++] = c;
            }
        }
    }
    free(stack);
}

static void test_joint_estimate_beats_edge_by_edge(void **state)
{
    (void)state;
    struct sim_config cfg;
    char err[256];
    FILE *f = tmpfile();

    sim_config_init(&cfg);
    cfg.requests = 300;
    assert_int_equal(sim_config_parse_clock(&cfg, SIM_CLOCK_SKEW, "prefill=5ms",
                                            err, sizeof(err)),
                     0);
    assert_int_equal(
        sim_run(&cfg, &trace_writer_otlp_json_ops, f, NULL, err, sizeof(err)),
        0);
    fflush(f);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(f));

    struct span_store *s = span_store_create();
    struct ingest_opts io = {0};
    struct edge_list l;
    struct clock_estimate e;
    struct estimate_opts eo = {.reference = "node-gateway"};
    assert_int_equal(ingest_file(s, path, &io, err, sizeof(err)), 0);
    assert_int_equal(span_store_index(s), 0);
    assert_int_equal(edge_list_build(&l, s), 0);
    assert_int_equal(estimate_run(&e, s, &l, &eo, err, sizeof(err)), 0);

    struct tree t;
    build_tree(&t, s);
    int64_t *shift = calloc(t.n + 1, sizeof(int64_t));
    jaeger_adjust(s, &t, shift);

    /* truth: prefill +5 ms, every other clock exact */
    int64_t worst_jaeger = 0, worst_skewscope = 0;
    for (size_t i = 0; i < t.n; i++) {
        const struct span_rec *r = span_store_at(s, i);
        bool prefill =
            !strcmp(span_store_domain_name(s, r->domain), "node-prefill");
        int64_t truth = prefill ? 5 * MS : 0;
        /* corrected = recorded - offset, and should be recorded - truth */
        int64_t ej = llabs(shift[i] + truth);
        int64_t es = llabs(truth - e.nodes[r->domain].offset_ns);
        worst_jaeger = ej > worst_jaeger ? ej : worst_jaeger;
        worst_skewscope = es > worst_skewscope ? es : worst_skewscope;
    }
    print_message("worst timestamp error after correction: jaeger-style "
                  "%.3f ms, skewscope %.3f ms\n",
                  (double)worst_jaeger / 1e6, (double)worst_skewscope / 1e6);
    assert_true(worst_skewscope <= 100 * US);
    assert_true(worst_jaeger >= 4 * MS);

    free(shift);
    free(t.first);
    free(t.kids);
    free(t.parent);
    clock_estimate_free(&e);
    edge_list_free(&l);
    span_store_destroy(s);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_joint_estimate_beats_edge_by_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
