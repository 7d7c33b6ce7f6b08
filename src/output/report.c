/* report: check and estimate results as text tables or JSON (jansson).
 *
 * Clock-domain names are printed whole: a name may hold NUL bytes (U+0000
 * is valid UTF-8, and the readers accept it), so JSON gets it escaped as
 * \u0000 (jansson, from the name's length) and text shows control bytes
 * visibly (\0, \xNN) instead of ending the name there or breaking the
 * table. */
#include "output/report.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "model/span_store.h"
#include "util/utf8.h"

static int dump(FILE *out, json_t *doc)
{
    int rc = doc ? json_dumpf(doc, out, JSON_REAL_PRECISION(10)) : -1;

    if (rc == 0 && fputc('\n', out) == EOF)
        rc = -1;
    json_decref(doc);
    return rc;
}

/* A domain name as a JSON string, NULs included. A name that is not UTF-8
 * (the readers let none through) gets U+FFFD for each bad byte rather
 * than failing the report. */
static json_t *name_json(const struct span_store *s, uint32_t id)
{
    const char *name = span_store_domain_name(s, id);
    size_t len = span_store_domain_name_len(s, id), i = 0, o = 0;
    json_t *j = json_stringn(name, len);
    char *fix;

    if (j || !(fix = malloc(3 * len + 1)))
        return j;
    while (i < len) {
        int k = utf8_char((const uint8_t *)name + i, len - i);
        if (k > 0) {
            memcpy(fix + o, name + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(fix + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(fix, o);
    free(fix);
    return j;
}

/* {"total": N, "empty_trace_id": .., ...}: spans left out by reason. */
static json_t *invalid_json(const struct span_store *s)
{
    json_t *o =
        json_pack("{s:I}", "total", (json_int_t)span_store_invalid_total(s));

    for (int r = 0; o && r < SPAN_INVALID_NREASONS; r++)
        json_object_set_new(o, span_invalid_name((enum span_invalid)r),
                            json_integer((json_int_t)span_store_invalid(
                                s, (enum span_invalid)r)));
    return o;
}

/* The names of every domain as text tables show them: control bytes
 * escaped (NUL as \0, others as \xNN). */
struct text_names {
    char **name;
    size_t n;
    int width; /* widest name, at least the minimum asked for */
};

static char *escape_name(const char *p, size_t len)
{
    char *t = malloc(4 * len + 1), *o = t;

    if (!t)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == 0)
            o += sprintf(o, "\\0");
        else if (c < 0x20 || c == 0x7f)
            o += sprintf(o, "\\x%02x", c);
        else
            *o++ = (char)c;
    }
    *o = '\0';
    return t;
}

static void text_names_free(struct text_names *t)
{
    for (size_t i = 0; t->name && i < t->n; i++)
        free(t->name[i]);
    free(t->name);
}

static int text_names_make(struct text_names *t, const struct span_store *s,
                           int min)
{
    t->n = span_store_domain_count(s);
    t->width = min;
    t->name = calloc(t->n ? t->n : 1, sizeof(*t->name));
    if (!t->name)
        return -1;
    for (uint32_t d = 0; d < t->n; d++) {
        t->name[d] = escape_name(span_store_domain_name(s, d),
                                 span_store_domain_name_len(s, d));
        if (!t->name[d]) {
            text_names_free(t);
            return -1;
        }
        int len = (int)strlen(t->name[d]);
        t->width = len > t->width ? len : t->width;
    }
    return 0;
}

/* One line "invalid spans N (reason n, ...)" when any were left out. */
static void text_invalid(FILE *out, const struct span_store *s)
{
    const char *sep = "";

    if (span_store_invalid_total(s) == 0)
        return;
    fprintf(out, "invalid spans %zu (", span_store_invalid_total(s));
    for (int r = 0; r < SPAN_INVALID_NREASONS; r++) {
        size_t n = span_store_invalid(s, (enum span_invalid)r);
        if (n) {
            fprintf(out, "%s%s %zu", sep,
                    span_invalid_name((enum span_invalid)r), n);
            sep = ", ";
        }
    }
    fprintf(out, "), not analysed\n");
}

static json_t *check_edge_json(const struct causality_edge *e,
                               const struct span_store *s)
{
    return json_pack(
        "{s:o, s:o, s:I, s:I, s:f, s:I, s:I, s:I, s:I}", "from",
        name_json(s, e->from), "to", name_json(s, e->to), "pairs",
        (json_int_t)e->pairs, "violations", (json_int_t)e->violations, "rate",
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
    if (doc)
        json_object_set_new(doc, "invalid_spans", invalid_json(s));
    return dump(out, doc);
}

/* "-4.920 ms" style, fixed width for tables. */
static const char *fmt_ms(char *buf, size_t n, int64_t ns)
{
    snprintf(buf, n, "%+.3f ms", (double)ns / 1e6);
    return buf;
}

int report_check_text(FILE *out, const struct causality_report *r,
                      const struct span_store *s)
{
    struct text_names nm;
    char a[32], b[32];
    int w;

    if (text_names_make(&nm, s, 4) < 0)
        return -1;
    w = nm.width;

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
    text_invalid(out, s);
    if (r->nedges)
        fprintf(out, "\n%-*s  %-*s  %8s  %9s  %6s  %13s  %13s\n", w, "FROM", w,
                "TO", "PAIRS", "VIOLATING", "RATE", "MIN SLACK",
                "MEDIAN SLACK");
    for (size_t i = 0; i < r->nedges; i++) {
        const struct causality_edge *e = &r->edges[i];
        fprintf(out, "%-*s  %-*s  %8zu  %9zu  %5.1f%%  %13s  %13s\n", w,
                nm.name[e->from], w, nm.name[e->to], e->pairs, e->violations,
                100.0 * (double)e->violations / (double)e->pairs,
                fmt_ms(a, sizeof(a), e->min_slack_ns),
                fmt_ms(b, sizeof(b), e->median_slack_ns));
    }
    text_names_free(&nm);
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
        "{s:o, s:I, s:o, s:o, s:f, s:I, s:I}", "node", name_json(s, v),
        "offset_ns", (json_int_t)n->offset_ns, "lower_ns",
        bound_json(ok && n->bound.has_lower, n->bound.lower_ns), "upper_ns",
        bound_json(ok && n->bound.has_upper, n->bound.upper_ns), "drift_ppm",
        n->drift_ppm, "edges", (json_int_t)n->edges, "pairs",
        (json_int_t)n->pairs);

    if (o) {
        json_object_set_new(o, "drift_fit_ppm", json_real(n->drift_fit_ppm));
        json_object_set_new(o, "drift_se_ppm",
                            n->drift_fitted ? json_real(n->drift_se_ppm)
                                            : json_null());
        json_object_set_new(o, "drift_significant",
                            json_boolean(n->drift_significant));
        if (e->consensus)
            json_object_set_new(o, "consensus_member",
                                json_boolean(n->consensus_member));
        json_object_set_new(o, "fitted", json_boolean(n->fitted));
    }
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
            a, json_pack("{s:o, s:o, s:I, s:s}", "from", name_json(s, c->from),
                         "to", name_json(s, c->to), "bound_ns",
                         (json_int_t)c->bound_ns, "constraint",
                         c->end_constraint ? "end" : "start"));
    }
    return a;
}

/* Who defines the consensus scale and where the anchor sits on it. */
static json_t *consensus_json(const struct clock_estimate *e,
                              const struct span_store *s)
{
    json_t *members = json_array();

    for (uint32_t v = 0; members && v < e->ndomains; v++)
        if (e->nodes[v].consensus_member)
            json_array_append_new(members, name_json(s, v));
    return json_pack("{s:o, s:I, s:f, s:I, s:o}", "anchor",
                     name_json(s, e->reference), "anchor_offset_ns",
                     (json_int_t)e->anchor_offset_ns, "anchor_drift_ppm",
                     e->anchor_drift_ppm, "tolerance_ns",
                     (json_int_t)e->tolerance_ns, "members", members);
}

int report_estimate_json(FILE *out, const struct clock_estimate *e,
                         const struct span_store *s)
{
    json_t *nodes = json_array();

    for (uint32_t v = 0; nodes && v < e->ndomains; v++)
        json_array_append_new(nodes, node_json(e, v, s));
    json_t *ref = !e->ndomains   ? NULL
                  : e->consensus ? json_string("consensus")
                                 : name_json(s, e->reference);
    json_t *doc =
        json_pack("{s:o?, s:b, s:I, s:I, s:o}", "reference", ref, "consistent",
                  e->consistent, "at_unix_nano", (json_int_t)e->at_ns,
                  "windows", (json_int_t)e->nwindows, "nodes", nodes);
    if (doc && e->ndomains)
        json_object_set_new(doc, "anchor", name_json(s, e->reference));
    if (doc && e->consensus)
        json_object_set_new(doc, "consensus", consensus_json(e, s));
    if (doc)
        json_object_set_new(doc, "fit_excluded_groups",
                            json_integer((json_int_t)e->fit_excluded_groups));
    if (doc && !e->consistent)
        json_object_set_new(doc, "cycle", cycle_json(e, s));
    if (doc)
        json_object_set_new(doc, "invalid_spans", invalid_json(s));
    return dump(out, doc);
}

static const char *fmt_bound(char *buf, size_t n, bool ok, bool has, int64_t v)
{
    if (!ok || !has)
        return "unbounded";
    return fmt_ms(buf, n, v);
}

static void text_cycle(FILE *out, const struct clock_estimate *e,
                       const struct text_names *nm)
{
    fprintf(out,
            "constraints INCONSISTENT: a clock step, a wrong clock-domain "
            "mapping or broken\ninstrumentation. These edges contradict each "
            "other (offset(to) - offset(from) <= bound):\n");
    for (size_t i = 0; i < e->ncycle; i++)
        fprintf(out, "  %s -> %s  bound %+lld ns (%s)\n",
                nm->name[e->cycle[i].from], nm->name[e->cycle[i].to],
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
    struct text_names nm;
    char a[32], b[32], c[32];
    int w;

    if (!e->ndomains) {
        fprintf(out, "no spans\n");
        text_invalid(out, s);
        return ferror(out) ? -1 : 0;
    }
    if (text_names_make(&nm, s, 4) < 0)
        return -1;
    w = nm.width;
    if (e->consensus)
        fprintf(out,
                "reference consensus of %zu of %zu domains (within %s; "
                "bounds proven against %s)  at %lld (unix ns)  windows %zu\n",
                e->nmembers, e->ndomains, fmt_ms(a, sizeof(a), e->tolerance_ns),
                nm.name[e->reference], (long long)e->at_ns, e->nwindows);
    else
        fprintf(out, "reference %s  at %lld (unix ns)  windows %zu\n",
                nm.name[e->reference], (long long)e->at_ns, e->nwindows);
    if (e->fit_excluded_groups)
        fprintf(out,
                "%zu edge group(s) only bound the offsets: their fastest "
                "message waited in a busy consumer's queue\n",
                e->fit_excluded_groups);
    text_invalid(out, s);
    if (!e->consistent)
        text_cycle(out, e, &nm);
    fprintf(out, "\n%-*s  %13s  %13s  %13s  %10s  %5s  %8s\n", w, "NODE",
            "OFFSET", "LOWER", "UPPER", "DRIFT", "EDGES", "PAIRS");
    for (uint32_t v = 0; v < e->ndomains; v++) {
        const struct clock_node *n = &e->nodes[v];
        char note[96] = "";
        if (n->drift_fitted)
            snprintf(note, sizeof(note), "  ±%.2f ppm%s", n->drift_se_ppm,
                     n->drift_significant ? "" : " (not significant)");
        fprintf(out, "%-*s  %13s  %13s  %13s  %6.2f ppm  %5zu  %8zu%s%s\n", w,
                nm.name[v], fmt_ms(a, sizeof(a), n->offset_ns),
                fmt_bound(b, sizeof(b), e->consistent, n->bound.has_lower,
                          n->bound.lower_ns),
                fmt_bound(c, sizeof(c), e->consistent, n->bound.has_upper,
                          n->bound.upper_ns),
                n->drift_fitted ? n->drift_fit_ppm : n->drift_ppm, n->edges,
                n->pairs, note,
                n->known && !n->fitted
                    ? "  (bounds only: too few pairs without queueing)"
                : e->consensus && !n->consensus_member && n->known
                    ? "  (off the consensus)"
                    : "");
        if (n->has_step)
            fprintf(out, "    step of %s at %lld\n",
                    fmt_ms(a, sizeof(a), n->step_ns), (long long)n->step_at_ns);
        if (track)
            text_track(out, e, v);
    }
    text_names_free(&nm);
    return ferror(out) ? -1 : 0;
}
