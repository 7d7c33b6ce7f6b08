/* report: check and estimate results as text tables or JSON (jansson). */
#include "output/report.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "model/span_store.h"

static int dump(FILE *out, json_t *doc)
{
    int rc = doc ? json_dumpf(doc, out, JSON_REAL_PRECISION(10)) : -1;

    if (rc == 0 && fputc('\n', out) == EOF)
        rc = -1;
    json_decref(doc);
    return rc;
}

static json_t *check_edge_json(const struct causality_edge *e,
                               const struct span_store *s)
{
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I}", "from",
        span_store_domain_name(s, e->from), "to",
        span_store_domain_name(s, e->to), "pairs", (json_int_t)e->pairs,
        "violations", (json_int_t)e->violations, "rate",
        e->pairs ? (double)e->violations / (double)e->pairs : 0.0,
        "min_slack_ns", (json_int_t)e->min_slack_ns, "median_slack_ns",
        (json_int_t)e->median_slack_ns, "starts_before_parent",
        (json_int_t)e->starts_before_parent, "ends_after_parent",
        (json_int_t)e->ends_after_parent);
}

int report_check_json(FILE *out, const struct causality_report *r,
                      const struct span_store *s)
{
    json_t *edges = json_array();

    for (size_t i = 0; edges && i < r->nedges; i++)
        json_array_append_new(edges, check_edge_json(&r->edges[i], s));
    json_t *doc = json_pack(
        "{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:o, s:I, s:I, s:I}", "spans",
        (json_int_t)r->spans, "traces", (json_int_t)r->traces, "pairs",
        (json_int_t)r->pairs, "violating_pairs", (json_int_t)r->violating_pairs,
        "by_kind", "starts_before_parent", (json_int_t)r->starts_before_parent,
        "ends_after_parent", (json_int_t)r->ends_after_parent,
        "negative_duration", (json_int_t)r->negative_duration, "edges", edges,
        "orphans", (json_int_t)r->orphans, "duplicate_spans",
        (json_int_t)r->duplicates, "dangling_links",
        (json_int_t)r->dangling_links);
    return dump(out, doc);
}

/* "-4.920 ms" style, fixed width for tables. */
static const char *fmt_ms(char *buf, size_t n, int64_t ns)
{
    snprintf(buf, n, "%+.3f ms", (double)ns / 1e6);
    return buf;
}

static int name_width(const struct span_store *s, int min)
{
    int w = min;

    for (uint32_t d = 0; d < span_store_domain_count(s); d++) {
        int len = (int)strlen(span_store_domain_name(s, d));
        w = len > w ? len : w;
    }
    return w;
}

int report_check_text(FILE *out, const struct causality_report *r,
                      const struct span_store *s)
{
    int w = name_width(s, 4);
    char a[32], b[32];

    fprintf(out, "spans %zu  traces %zu  pairs %zu  violating pairs %zu",
            r->spans, r->traces, r->pairs, r->violating_pairs);
    if (r->pairs)
        fprintf(out, " (%.1f%%)",
                100.0 * (double)r->violating_pairs / (double)r->pairs);
    fprintf(out,
            "\nstarts_before_parent %zu  ends_after_parent %zu  "
            "negative_duration %zu\n",
            r->starts_before_parent, r->ends_after_parent,
            r->negative_duration);
    fprintf(out, "orphans %zu  duplicate spans %zu  dangling links %zu\n",
            r->orphans, r->duplicates, r->dangling_links);
    if (r->nedges)
        fprintf(out, "\n%-*s  %-*s  %8s  %9s  %6s  %13s  %13s\n", w, "FROM", w,
                "TO", "PAIRS", "VIOLATING", "RATE", "MIN SLACK",
                "MEDIAN SLACK");
    for (size_t i = 0; i < r->nedges; i++) {
        const struct causality_edge *e = &r->edges[i];
        fprintf(out, "%-*s  %-*s  %8zu  %9zu  %5.1f%%  %13s  %13s\n", w,
                span_store_domain_name(s, e->from), w,
                span_store_domain_name(s, e->to), e->pairs, e->violations,
                100.0 * (double)e->violations / (double)e->pairs,
                fmt_ms(a, sizeof(a), e->min_slack_ns),
                fmt_ms(b, sizeof(b), e->median_slack_ns));
    }
    return ferror(out) ? -1 : 0;
}

static json_t *bound_json(bool has, int64_t v)
{
    return has ? json_integer((json_int_t)v) : json_null();
}

static json_t *track_json(const struct clock_estimate *e, uint32_t v)
{
    json_t *track = json_array();

    for (size_t w = 0; track && w < e->nwindows; w++) {
        const struct clock_track_point *tp = &e->track[v * e->nwindows + w];
        if (!tp->known)
            continue;
        json_array_append_new(
            track,
            json_pack("{s:I, s:I, s:o, s:o}", "at_unix_nano",
                      (json_int_t)e->windows[w].at_ns, "offset_ns",
                      (json_int_t)tp->offset_ns, "lower_ns",
                      bound_json(tp->bound.has_lower, tp->bound.lower_ns),
                      "upper_ns",
                      bound_json(tp->bound.has_upper, tp->bound.upper_ns)));
    }
    return track;
}

static json_t *node_json(const struct clock_estimate *e, uint32_t v,
                         const struct span_store *s)
{
    const struct clock_node *n = &e->nodes[v];
    bool ok = e->consistent;
    json_t *o = json_pack(
        "{s:s, s:I, s:o, s:o, s:f, s:I, s:I}", "node",
        span_store_domain_name(s, v), "offset_ns", (json_int_t)n->offset_ns,
        "lower_ns", bound_json(ok && n->bound.has_lower, n->bound.lower_ns),
        "upper_ns", bound_json(ok && n->bound.has_upper, n->bound.upper_ns),
        "drift_ppm", n->drift_ppm, "edges", (json_int_t)n->edges, "pairs",
        (json_int_t)n->pairs);

    if (o && n->has_step) {
        json_object_set_new(o, "step_ns", json_integer(n->step_ns));
        json_object_set_new(o, "step_at_unix_nano",
                            json_integer(n->step_at_ns));
    }
    if (o)
        json_object_set_new(o, "track", track_json(e, v));
    return o;
}

static json_t *cycle_json(const struct clock_estimate *e,
                          const struct span_store *s)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < e->ncycle; i++) {
        const struct clock_cycle_arc *c = &e->cycle[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:I, s:s}", "from",
                         span_store_domain_name(s, c->from), "to",
                         span_store_domain_name(s, c->to), "bound_ns",
                         (json_int_t)c->bound_ns, "constraint",
                         c->end_constraint ? "end" : "start"));
    }
    return a;
}

int report_estimate_json(FILE *out, const struct clock_estimate *e,
                         const struct span_store *s)
{
    json_t *nodes = json_array();

    for (uint32_t v = 0; nodes && v < e->ndomains; v++)
        json_array_append_new(nodes, node_json(e, v, s));
    json_t *doc = json_pack(
        "{s:s?, s:b, s:I, s:I, s:o}", "reference",
        e->ndomains ? span_store_domain_name(s, e->reference) : NULL,
        "consistent", e->consistent, "at_unix_nano", (json_int_t)e->at_ns,
        "windows", (json_int_t)e->nwindows, "nodes", nodes);
    if (doc && !e->consistent)
        json_object_set_new(doc, "cycle", cycle_json(e, s));
    return dump(out, doc);
}

static const char *fmt_bound(char *buf, size_t n, bool ok, bool has, int64_t v)
{
    if (!ok || !has)
        return "unbounded";
    return fmt_ms(buf, n, v);
}

static void text_cycle(FILE *out, const struct clock_estimate *e,
                       const struct span_store *s)
{
    fprintf(out,
            "constraints INCONSISTENT: a clock step, a wrong clock-domain "
            "mapping or broken\ninstrumentation. These edges contradict each "
            "other (offset(to) - offset(from) <= bound):\n");
    for (size_t i = 0; i < e->ncycle; i++)
        fprintf(out, "  %s -> %s  bound %+lld ns (%s)\n",
                span_store_domain_name(s, e->cycle[i].from),
                span_store_domain_name(s, e->cycle[i].to),
                (long long)e->cycle[i].bound_ns,
                e->cycle[i].end_constraint ? "span ends" : "span starts");
    fprintf(out, "bounds are not shown; offsets are least-squares fits.\n");
}

static void text_track(FILE *out, const struct clock_estimate *e, uint32_t v)
{
    char a[32];

    for (size_t w = 0; w < e->nwindows; w++) {
        const struct clock_track_point *tp = &e->track[v * e->nwindows + w];
        if (tp->known)
            fprintf(out, "    window %2zu at %lld  %s\n", w,
                    (long long)e->windows[w].at_ns,
                    fmt_ms(a, sizeof(a), tp->offset_ns));
    }
}

int report_estimate_text(FILE *out, const struct clock_estimate *e,
                         const struct span_store *s, bool track)
{
    int w = name_width(s, 4);
    char a[32], b[32], c[32];

    if (!e->ndomains) {
        fprintf(out, "no spans\n");
        return ferror(out) ? -1 : 0;
    }
    fprintf(out, "reference %s  at %lld (unix ns)  windows %zu\n",
            span_store_domain_name(s, e->reference), (long long)e->at_ns,
            e->nwindows);
    if (!e->consistent)
        text_cycle(out, e, s);
    fprintf(out, "\n%-*s  %13s  %13s  %13s  %10s  %5s  %8s\n", w, "NODE",
            "OFFSET", "LOWER", "UPPER", "DRIFT", "EDGES", "PAIRS");
    for (uint32_t v = 0; v < e->ndomains; v++) {
        const struct clock_node *n = &e->nodes[v];
        fprintf(out, "%-*s  %13s  %13s  %13s  %6.2f ppm  %5zu  %8zu\n", w,
                span_store_domain_name(s, v),
                fmt_ms(a, sizeof(a), n->offset_ns),
                fmt_bound(b, sizeof(b), e->consistent, n->bound.has_lower,
                          n->bound.lower_ns),
                fmt_bound(c, sizeof(c), e->consistent, n->bound.has_upper,
                          n->bound.upper_ns),
                n->drift_ppm, n->edges, n->pairs);
        if (n->has_step)
            fprintf(out, "    step of %s at %lld\n",
                    fmt_ms(a, sizeof(a), n->step_ns), (long long)n->step_at_ns);
        if (track)
            text_track(out, e, v);
    }
    return ferror(out) ? -1 : 0;
}
