/* report_html: the HTML report of `skewscope report` and the timeline JSON
 * serve's page shares with it (see report_html.h). The document is
 * web/report.html with three markers replaced: the style sheet
 * (web/skewscope.css), the data (report_html_data() as JSON, every '<',
 * '>' and '&' escaped so no text in it can end the script element) and the
 * drawing code (web/skewscope.js). */
#include "output/report_html.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "util/ids.h"

/* $(GEN)/web_assets.c (mk/web.mk) */
extern const struct report_html_asset report_html_assets[];
extern const size_t report_html_nassets;

#define DEFAULT_TRACE_SPANS 500

/* ---- assets */

static const char *mime_of(const char *name)
{
    const char *dot = strrchr(name, '.');

    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    return "application/octet-stream";
}

const struct report_html_asset *report_html_asset(const char *name,
                                                  const char **content_type)
{
    for (size_t i = 0; i < report_html_nassets; i++)
        if (strcmp(report_html_assets[i].name, name) == 0) {
            if (content_type)
                *content_type = mime_of(name);
            return &report_html_assets[i];
        }
    return NULL;
}

/* ---- JSON helpers */

/* A name as a JSON string (bytes that are not UTF-8 become U+FFFD; the
 * readers let none through, so this is a last resort). */
static json_t *jname(const char *p, size_t len)
{
    json_t *j = json_stringn(p, len);
    char *fix;
    size_t o = 0;

    if (j || !(fix = malloc(3 * len + 1)))
        return j;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            fix[o++] = (char)c;
        } else {
            memcpy(fix + o, "\xef\xbf\xbd", 3);
            o += 3;
        }
    }
    j = json_stringn(fix, o);
    free(fix);
    return j;
}

static json_t *jdomain(const struct span_store *s, uint32_t d)
{
    return jname(span_store_domain_name(s, d),
                 span_store_domain_name_len(s, d));
}

static json_t *jint_or_null(bool has, int64_t v)
{
    return has ? json_integer((json_int_t)v) : json_null();
}

static json_t *jspan_id(bool has, uint64_t id)
{
    char hex[17];

    if (!has)
        return json_null();
    id_format_span(id, hex);
    return json_string(hex);
}

static const char *kind_name(uint8_t kind)
{
    static const char *const names[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
                                        "CLIENT",      "PRODUCER", "CONSUMER"};

    return kind < sizeof(names) / sizeof(names[0]) ? names[kind]
                                                   : "UNSPECIFIED";
}

/* ---- one trace as a timeline */

enum viol {
    VIOL_NONE = 0,
    VIOL_STARTS_BEFORE = 1,
    VIOL_ENDS_AFTER = 2,
    VIOL_NEGATIVE = 3,
};

static const char *viol_name(enum viol v)
{
    switch (v) {
    case VIOL_STARTS_BEFORE:
        return "starts_before_parent";
    case VIOL_ENDS_AFTER:
        return "ends_after_parent";
    case VIOL_NEGATIVE:
        return "negative_duration";
    default:
        return NULL;
    }
}

/* What one side (recorded or corrected) of a trace shows per span. */
struct side {
    enum viol *viol;
    int64_t *before_ns; /* parent.start - child.start when > 0 */
    size_t count;       /* violating pairs + negative durations */
};

static void side_mark(struct side *sd, uint32_t child, enum viol v)
{
    if (sd->viol[child] == VIOL_NONE || v < sd->viol[child])
        sd->viol[child] = v;
}

/* Fill sd from the times (recorded: ref = false; corrected: true). */
static void side_eval(struct side *sd, const struct report_html_span *sp,
                      size_t n, const struct report_html_pair *pairs, size_t np,
                      bool ref)
{
    for (size_t i = 0; i < n; i++) {
        int64_t s = ref ? sp[i].ref_start_ns : sp[i].start_ns;
        int64_t e = ref ? sp[i].ref_end_ns : sp[i].end_ns;
        if (e < s) {
            side_mark(sd, (uint32_t)i, VIOL_NEGATIVE);
            sd->count++;
        }
    }
    for (size_t k = 0; k < np; k++) {
        const struct report_html_span *p = &sp[pairs[k].parent];
        const struct report_html_span *c = &sp[pairs[k].child];
        int64_t ps = ref ? p->ref_start_ns : p->start_ns;
        int64_t cs = ref ? c->ref_start_ns : c->start_ns;
        int64_t pe = ref ? p->ref_end_ns : p->end_ns;
        int64_t ce = ref ? c->ref_end_ns : c->end_ns;
        unsigned v = causality_violation(cs - ps, pe - ce, pairs[k].sync);
        bool before = (v & CAUSALITY_STARTS_BEFORE) != 0;
        bool after = (v & CAUSALITY_ENDS_AFTER) != 0;
        if (before) {
            side_mark(sd, pairs[k].child, VIOL_STARTS_BEFORE);
            if (ps - cs > sd->before_ns[pairs[k].child])
                sd->before_ns[pairs[k].child] = ps - cs;
        }
        if (after)
            side_mark(sd, pairs[k].child, VIOL_ENDS_AFTER);
        sd->count += before || after;
    }
}

static json_t *span_json(const struct report_html_span *sp, int64_t base,
                         const struct side *raw, const struct side *cor,
                         size_t i)
{
    json_t *o = json_pack(
        "{s:o, s:o, s:o, s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "span_id",
        jspan_id(true, sp->span_id), "parent_span_id",
        jspan_id(sp->has_parent, sp->parent_id), "link_span_id",
        jspan_id(sp->link_id != 0, sp->link_id), "domain",
        jname(sp->domain, sp->domain_len), "kind", kind_name(sp->kind),
        "start_ns", (json_int_t)(sp->start_ns - base), "end_ns",
        (json_int_t)(sp->end_ns - base), "corrected_start_ns",
        (json_int_t)(sp->ref_start_ns - base), "corrected_end_ns",
        (json_int_t)(sp->ref_end_ns - base), "offset_ns",
        (json_int_t)sp->offset_ns, "mapped", sp->mapped);
    const char *v = viol_name(raw->viol[i]), *cv = viol_name(cor->viol[i]);

    if (!o)
        return NULL;
    if (sp->shared) /* a Zipkin server half: its ID is its client's */
        json_object_set_new(o, "shared", json_true());
    json_object_set_new(o, "violation", v ? json_string(v) : json_null());
    json_object_set_new(o, "corrected_violation",
                        cv ? json_string(cv) : json_null());
    json_object_set_new(o, "before_parent_ns",
                        json_integer((json_int_t)raw->before_ns[i]));
    json_object_set_new(o, "corrected_before_parent_ns",
                        json_integer((json_int_t)cor->before_ns[i]));
    return o;
}

json_t *report_html_trace_json(const uint8_t trace_id[16],
                               const struct report_html_span *spans,
                               size_t nspans,
                               const struct report_html_pair *pairs,
                               size_t npairs)
{
    struct side raw = {0}, cor = {0};
    int64_t base = 0;
    char hex[33], basetxt[32];
    json_t *o = NULL, *a;

    raw.viol = calloc(nspans + 1, sizeof(*raw.viol));
    cor.viol = calloc(nspans + 1, sizeof(*cor.viol));
    raw.before_ns = calloc(nspans + 1, sizeof(*raw.before_ns));
    cor.before_ns = calloc(nspans + 1, sizeof(*cor.before_ns));
    if (!raw.viol || !cor.viol || !raw.before_ns || !cor.before_ns)
        goto out;
    side_eval(&raw, spans, nspans, pairs, npairs, false);
    side_eval(&cor, spans, nspans, pairs, npairs, true);
    for (size_t i = 0; i < nspans; i++) {
        int64_t s = spans[i].start_ns < spans[i].ref_start_ns
                        ? spans[i].start_ns
                        : spans[i].ref_start_ns;
        if (i == 0 || s < base)
            base = s;
    }
    id_format_trace(trace_id, hex);
    snprintf(basetxt, sizeof(basetxt), "%lld", (long long)base);
    o = json_pack("{s:s, s:s, s:I, s:I, s:[]}", "trace_id", hex,
                  "base_unix_nano", basetxt, "violations",
                  (json_int_t)raw.count, "corrected_violations",
                  (json_int_t)cor.count, "spans");
    a = o ? json_object_get(o, "spans") : NULL;
    for (size_t i = 0; a && i < nspans; i++)
        if (json_array_append_new(
                a, span_json(&spans[i], base, &raw, &cor, i)) < 0) {
            json_decref(o);
            o = NULL;
            break;
        }
out:
    free(raw.viol);
    free(cor.viol);
    free(raw.before_ns);
    free(cor.before_ns);
    return o;
}

/* ---- the worst traces of a file */

struct trace_pick {
    uint8_t id[16];
    size_t violations;
    size_t rank;
    size_t *idx; /* store indices of its spans, ascending */
    size_t n, cap;
    size_t dropped; /* spans over max_trace_spans */
};

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static int cmp_worst(const void *a, const void *b)
{
    const struct trace_pick *x = a, *y = b;

    if (x->violations != y->violations)
        return x->violations > y->violations ? -1 : 1;
    return memcmp(x->id, y->id, 16);
}

static bool pair_violates(const struct span_rec *p, const struct span_rec *c,
                          uint32_t flags)
{
    return c->start_ns < p->start_ns ||
           ((flags & EDGE_PAIR_SYNC) && c->end_ns > p->end_ns);
}

/* Trace IDs with a violation, one entry per violating pair or negative
 * duration (sorted by ID). */
static uint8_t (*violating_ids(const struct span_store *s,
                               const struct edge_list *l, size_t *n))[16]
{
    size_t cap = 64, k = 0, ns = span_store_count(s);
    uint8_t(*ids)[16] = malloc(cap * 16);

    for (size_t i = 0; ids && i < l->npairs + ns; i++) {
        const struct span_rec *r;
        if (i < l->npairs) {
            const struct edge_pair *ep = &l->pairs[i];
            r = span_store_at(s, ep->child);
            if (!pair_violates(span_store_at(s, ep->parent), r, ep->flags))
                continue;
        } else {
            r = span_store_at(s, i - l->npairs);
            if ((r->flags & SPAN_F_DUPLICATE) || r->end_ns >= r->start_ns)
                continue;
        }
        if (k == cap) {
            void *t = realloc(ids, (cap *= 2) * 16);
            if (!t) {
                free(ids);
                return NULL;
            }
            ids = t;
        }
        memcpy(ids[k++], r->trace_id, 16);
    }
    if (ids)
        qsort(ids, k, 16, cmp_id);
    *n = k;
    return ids;
}

/* The `want` traces with the most violations, sorted by ID (rank says
 * their order by violations). NULL (and *n 0) when none or out of
 * memory (*oom set). */
static struct trace_pick *pick_worst(const struct span_store *s,
                                     const struct edge_list *l, size_t want,
                                     size_t *n, bool *oom)
{
    size_t nids = 0, k = 0;
    uint8_t(*ids)[16] = violating_ids(s, l, &nids);
    struct trace_pick *t = NULL;

    *n = 0;
    *oom = ids == NULL;
    if (!ids || nids == 0 || want == 0)
        goto out;
    if (!(t = calloc(nids, sizeof(*t)))) {
        *oom = true;
        goto out;
    }
    for (size_t i = 0; i < nids; i++) {
        if (k && memcmp(t[k - 1].id, ids[i], 16) == 0) {
            t[k - 1].violations++;
            continue;
        }
        memcpy(t[k].id, ids[i], 16);
        t[k++].violations = 1;
    }
    qsort(t, k, sizeof(*t), cmp_worst);
    k = k < want ? k : want;
    for (size_t i = 0; i < k; i++)
        t[i].rank = i;
    qsort(t, k, sizeof(*t), cmp_id); /* id is the first member */
    *n = k;
out:
    free(ids);
    return t;
}

static int pick_add(struct trace_pick *p, size_t idx, size_t max)
{
    if (p->n == max) {
        p->dropped++;
        return 0;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        void *x = realloc(p->idx, cap * sizeof(*p->idx));
        if (!x)
            return -1;
        p->idx = x;
        p->cap = cap;
    }
    p->idx[p->n++] = idx;
    return 0;
}

/* Each picked trace's spans (duplicates left out), up to max each. */
static int pick_spans(struct trace_pick *t, size_t n,
                      const struct span_store *s, size_t max)
{
    size_t ns = span_store_count(s);

    for (size_t i = 0; i < ns; i++) {
        const struct span_rec *r = span_store_at(s, i);
        struct trace_pick *p;
        if (r->flags & SPAN_F_DUPLICATE)
            continue;
        p = bsearch(r->trace_id, t, n, sizeof(*t), cmp_id);
        if (p && pick_add(p, i, max) < 0)
            return -1;
    }
    return 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

/* Local index of store index idx in p, or -1. */
static long local_of(const struct trace_pick *p, size_t idx)
{
    const size_t *hit =
        p->n ? bsearch(&idx, p->idx, p->n, sizeof(size_t), cmp_size) : NULL;

    return hit ? (long)(hit - p->idx) : -1;
}

static void map_span(const struct span_store *s, const struct clock_model *m,
                     const struct span_rec *r, struct report_html_span *o)
{
    const char *name = span_store_domain_name(s, r->domain);
    int id = m ? clock_model_find(m, name, strlen(name)) : -1;

    *o = (struct report_html_span){
        .span_id = r->span_id,
        .parent_id = r->parent_id,
        .has_parent = (r->flags & SPAN_F_HAS_PARENT) != 0,
        .shared = (r->flags & SPAN_F_SHARED) != 0,
        .kind = r->kind,
        .domain = name,
        .domain_len = span_store_domain_name_len(s, r->domain),
        .start_ns = r->start_ns,
        .end_ns = r->end_ns,
        .ref_start_ns = r->start_ns,
        .ref_end_ns = r->end_ns,
        .mapped = id >= 0,
    };
    if (r->link != SPAN_NO_LINK)
        o->link_id = span_store_link(s, r->link)->span_id;
    if (id >= 0) {
        o->ref_start_ns = clock_model_to_reference(m, id, r->start_ns);
        o->ref_end_ns = clock_model_to_reference(m, id, r->end_ns);
        o->offset_ns = clock_model_offset_at(m, id, r->start_ns);
    }
}

/* One picked trace as timeline JSON. */
static json_t *pick_json(const struct trace_pick *p,
                         const struct report_html_input *in)
{
    const struct edge_list *l = in->edges;
    struct report_html_span *sp = calloc(p->n + 1, sizeof(*sp));
    struct report_html_pair *pr = NULL;
    size_t np = 0, cap = 0;
    json_t *o = NULL;

    if (!sp)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        map_span(in->store, in->model, span_store_at(in->store, p->idx[i]),
                 &sp[i]);
    for (size_t k = 0; k < l->npairs; k++) {
        const struct edge_pair *ep = &l->pairs[k];
        if (memcmp(span_store_at(in->store, ep->child)->trace_id, p->id, 16))
            continue;
        long a = local_of(p, ep->parent), b = local_of(p, ep->child);
        if (a < 0 || b < 0)
            continue;
        if (np == cap) {
            cap = cap ? cap * 2 : 32;
            void *x = realloc(pr, cap * sizeof(*pr));
            if (!x)
                goto out;
            pr = x;
        }
        pr[np++] = (struct report_html_pair){(uint32_t)a, (uint32_t)b,
                                             (ep->flags & EDGE_PAIR_SYNC) != 0};
    }
    o = report_html_trace_json(p->id, sp, p->n, pr, np);
    if (o) {
        json_object_set_new(o, "rank", json_integer((json_int_t)p->rank + 1));
        json_object_set_new(o, "spans_left_out",
                            json_integer((json_int_t)p->dropped));
    }
out:
    free(sp);
    free(pr);
    return o;
}

static int cmp_rank(const void *a, const void *b)
{
    const struct trace_pick *x = a, *y = b;

    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static json_t *worst_traces_json(const struct report_html_input *in)
{
    size_t n = 0, max = in->max_trace_spans ? in->max_trace_spans
                                            : DEFAULT_TRACE_SPANS;
    bool oom;
    struct trace_pick *t =
        pick_worst(in->store, in->edges, in->worst_traces, &n, &oom);
    json_t *a = oom ? NULL : json_array();

    if (a && n && pick_spans(t, n, in->store, max) < 0) {
        json_decref(a);
        a = NULL;
    }
    if (a && n)
        qsort(t, n, sizeof(*t), cmp_rank);
    for (size_t i = 0; a && i < n; i++) {
        json_t *one = pick_json(&t[i], in);
        if (!one || json_array_append_new(a, one) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(t[i].idx);
    free(t);
    return a;
}

/* ---- edges: check's counts with the skew budget */

struct budget {
    bool has_fwd, has_back;
    int64_t fwd_ns, back_ns;
};

/* Per edge the smallest corrected slack of its pairs (see report_html.h). */
static struct budget *edge_budgets(const struct report_html_input *in)
{
    const struct edge_list *l = in->edges;
    size_t nd = span_store_domain_count(in->store);
    struct budget *b = calloc(l->nedges + 1, sizeof(*b));
    int *mid = calloc(nd + 1, sizeof(*mid));

    if (!b || !mid) {
        free(b);
        free(mid);
        return NULL;
    }
    for (uint32_t d = 0; d < nd; d++) {
        const char *name = span_store_domain_name(in->store, d);
        mid[d] = clock_model_find(in->model, name, strlen(name));
    }
    for (size_t k = 0; k < l->npairs; k++) {
        const struct edge_pair *ep = &l->pairs[k];
        const struct span_rec *p = span_store_at(in->store, ep->parent);
        const struct span_rec *c = span_store_at(in->store, ep->child);
        int a = mid[p->domain], z = mid[c->domain];
        struct budget *e = &b[ep->edge];
        if (a < 0 || z < 0)
            continue;
        int64_t fwd = clock_model_to_reference(in->model, z, c->start_ns) -
                      clock_model_to_reference(in->model, a, p->start_ns);
        if (!e->has_fwd || fwd < e->fwd_ns)
            e->fwd_ns = fwd;
        e->has_fwd = true;
        if (!(ep->flags & EDGE_PAIR_SYNC))
            continue;
        int64_t back = clock_model_to_reference(in->model, a, p->end_ns) -
                       clock_model_to_reference(in->model, z, c->end_ns);
        if (!e->has_back || back < e->back_ns)
            e->back_ns = back;
        e->has_back = true;
    }
    free(mid);
    return b;
}

struct use {
    bool has;
    int64_t budget_ns;
    double used, exhausts_in_s;
    bool exhausts;
};

/* One side's use (sign -1: negative relative offsets consume it, +1:
 * positive ones), kept when closer to exhaustion than *u: serve/live.c's
 * rule on batch figures. */
static void side_use(bool has, int64_t budget, int sign, int64_t r,
                     double rate_ns_s, struct use *u)
{
    if (!has || budget <= 0)
        return;
    double used = (double)(sign * r) / (double)budget;
    used = used > 0 ? used : 0;
    if (u->has && used <= u->used)
        return;
    double remaining = (double)budget - (double)(sign * r);
    double closing = sign * rate_ns_s;
    u->has = true;
    u->budget_ns = budget;
    u->used = used;
    u->exhausts = closing > 0 || remaining <= 0;
    u->exhausts_in_s = remaining > 0 && closing > 0 ? remaining / closing : 0;
}

static json_t *edge_json(const struct report_html_input *in, size_t i,
                         const struct budget *b)
{
    const struct causality_edge *ce = &in->check->edges[i];
    const struct clock_estimate *e = in->estimate;
    const struct clock_node *f = &e->nodes[ce->from], *t = &e->nodes[ce->to];
    int64_t rel = t->offset_ns - f->offset_ns;
    double drift = t->drift_ppm - f->drift_ppm;
    struct use u = {0};

    if (e->consistent && f->known && t->known) {
        side_use(b->has_fwd, b->fwd_ns, -1, rel, drift * 1e3, &u);
        side_use(b->has_back, b->back_ns, +1, rel, drift * 1e3, &u);
    }
    json_t *o = json_pack(
        "{s:o, s:o, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:f}", "from",
        jdomain(in->store, ce->from), "to", jdomain(in->store, ce->to), "pairs",
        (json_int_t)ce->pairs, "violations", (json_int_t)ce->violations, "rate",
        ce->pairs ? (double)ce->violations / (double)ce->pairs : 0.0,
        "min_slack_ns", (json_int_t)ce->min_slack_ns, "median_slack_ns",
        (json_int_t)ce->median_slack_ns, "starts_before_parent",
        (json_int_t)ce->starts_before_parent, "ends_after_parent",
        (json_int_t)ce->ends_after_parent, "relative_offset_ns",
        (json_int_t)rel, "drift_ppm", drift);

    if (!o)
        return NULL;
    json_object_set_new(o, "skew_budget_ns", jint_or_null(u.has, u.budget_ns));
    json_object_set_new(o, "budget_used_ratio", json_real(u.has ? u.used : 0));
    json_object_set_new(o, "exhausts_in_s",
                        u.has && u.exhausts ? json_real(u.exhausts_in_s)
                                            : json_null());
    return o;
}

static json_t *edges_json(const struct report_html_input *in)
{
    struct budget *b = edge_budgets(in);
    json_t *a = b ? json_array() : NULL;

    /* causality's edges are in edge_list order: index i is edge i */
    for (size_t i = 0; a && i < in->check->nedges; i++)
        if (json_array_append_new(a, edge_json(in, i, &b[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    free(b);
    return a;
}

/* ---- check and estimate figures */

static json_t *check_json(const struct report_html_input *in)
{
    const struct causality_report *r = in->check;

    return json_pack(
        "{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:I, s:I, s:I}", "spans",
        (json_int_t)r->spans, "traces", (json_int_t)r->traces, "pairs",
        (json_int_t)r->pairs, "violating_pairs", (json_int_t)r->violating_pairs,
        "by_kind", "starts_before_parent", (json_int_t)r->starts_before_parent,
        "ends_after_parent", (json_int_t)r->ends_after_parent,
        "negative_duration", (json_int_t)r->negative_duration, "orphans",
        (json_int_t)r->orphans, "duplicate_spans", (json_int_t)r->duplicates,
        "dangling_links", (json_int_t)r->dangling_links, "invalid_spans",
        (json_int_t)span_store_invalid_total(in->store));
}

static json_t *track_json(const struct clock_estimate *e, uint32_t v)
{
    json_t *a = json_array();

    for (size_t w = 0; a && w < e->nwindows; w++) {
        const struct clock_track_point *tp = &e->track[v * e->nwindows + w];
        if (tp->known)
            json_array_append_new(
                a, json_pack(
                       "{s:I, s:I, s:o, s:o}", "at_unix_nano",
                       (json_int_t)e->windows[w].at_ns, "offset_ns",
                       (json_int_t)tp->offset_ns, "lower_ns",
                       jint_or_null(tp->bound.has_lower, tp->bound.lower_ns),
                       "upper_ns",
                       jint_or_null(tp->bound.has_upper, tp->bound.upper_ns)));
    }
    return a;
}

static json_t *node_json(const struct report_html_input *in, uint32_t v)
{
    const struct clock_estimate *e = in->estimate;
    const struct clock_node *n = &e->nodes[v];
    bool ok = e->consistent;
    json_t *o = json_pack(
        "{s:o, s:b, s:I, s:o, s:o, s:f, s:I, s:I, s:o}", "node",
        jdomain(in->store, v), "known", n->known, "offset_ns",
        (json_int_t)n->offset_ns, "lower_ns",
        jint_or_null(ok && n->bound.has_lower, n->bound.lower_ns), "upper_ns",
        jint_or_null(ok && n->bound.has_upper, n->bound.upper_ns), "drift_ppm",
        n->drift_ppm, "pairs", (json_int_t)n->pairs, "edges",
        (json_int_t)n->edges, "track", track_json(e, v));

    if (o && n->has_step) {
        json_object_set_new(o, "step_ns", json_integer(n->step_ns));
        json_object_set_new(o, "step_at_unix_nano",
                            json_integer(n->step_at_ns));
    }
    return o;
}

static json_t *clock_json(const struct report_html_input *in)
{
    const struct clock_estimate *e = in->estimate;
    json_t *nodes = json_array();
    json_t *o;

    for (uint32_t v = 0; nodes && v < e->ndomains; v++)
        json_array_append_new(nodes, node_json(in, v));
    o = json_pack("{s:o, s:b, s:I, s:I, s:o}", "reference",
                  e->ndomains ? jdomain(in->store, e->reference) : json_null(),
                  "consistent", e->consistent, "at_unix_nano",
                  (json_int_t)e->at_ns, "windows", (json_int_t)e->nwindows,
                  "nodes", nodes);
    if (o && !e->consistent) {
        json_t *cyc = json_array();
        for (size_t i = 0; cyc && i < e->ncycle; i++)
            json_array_append_new(
                cyc, json_pack("{s:o, s:o, s:I, s:s}", "from",
                               jdomain(in->store, e->cycle[i].from), "to",
                               jdomain(in->store, e->cycle[i].to), "bound_ns",
                               (json_int_t)e->cycle[i].bound_ns, "constraint",
                               e->cycle[i].end_constraint ? "end" : "start"));
        json_object_set_new(o, "cycle", cyc);
    }
    return o;
}

json_t *report_html_data(const struct report_html_input *in)
{
    json_t *files = json_array();
    json_t *o;

    for (size_t i = 0; files && i < in->nfiles; i++)
        json_array_append_new(files, jname(in->files[i], strlen(in->files[i])));
    o = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "title",
        in->title ? in->title : "skewscope report", "generated_unix_nano",
        in->generated_unix_ns ? json_integer((json_int_t)in->generated_unix_ns)
                              : json_null(),
        "files", files, "check", check_json(in), "clock", clock_json(in),
        "edges", edges_json(in), "traces", worst_traces_json(in));
    return o; /* json_pack fails (NULL) if any part is NULL */
}

/* ---- the document */

/* The JSON text with '<', '>' and '&' as \u escapes: then nothing in it
 * can close the script element it sits in or open a comment there. */
static int put_json_for_html(FILE *out, const char *txt)
{
    for (const char *p = txt; *p; p++) {
        int rc;
        if (*p == '<')
            rc = fputs("\\u003c", out);
        else if (*p == '>')
            rc = fputs("\\u003e", out);
        else if (*p == '&')
            rc = fputs("\\u0026", out);
        else
            rc = fputc(*p, out);
        if (rc == EOF)
            return -1;
    }
    return 0;
}

/* Asset text that may be inlined into an element whose end tag is
 * `endtag` (it must contain neither that nor a comment opener, which
 * would change how the HTML parser reads a script element). */
static const char *inline_asset(const char *name, const char *endtag, char *err,
                                size_t errlen)
{
    const struct report_html_asset *a = report_html_asset(name, NULL);
    const char *bad = NULL;

    if (!a) {
        snprintf(err, errlen, "report: web/%s is not in this build", name);
        return NULL;
    }
    if (endtag && strstr((const char *)a->data, endtag))
        bad = endtag;
    else if (endtag && strstr((const char *)a->data, "<!--"))
        bad = "<!--";
    if (bad) {
        snprintf(err, errlen, "report: web/%s contains \"%s\"", name, bad);
        return NULL;
    }
    return (const char *)a->data;
}

/* Write tpl with each marker replaced by its text (data: JSON). */
static int fill_template(FILE *out, const char *tpl, const char *css,
                         const char *js, const char *data, char *err,
                         size_t errlen)
{
    static const char *const marks[] = {
        "/*SKEWSCOPE_STYLE*/", "\"SKEWSCOPE_DATA\"", "/*SKEWSCOPE_SCRIPT*/"};
    const char *p = tpl;

    for (size_t m = 0; m < 3; m++) {
        const char *at = strstr(p, marks[m]);
        if (!at) {
            snprintf(err, errlen, "report: web/report.html lacks %s", marks[m]);
            return -1;
        }
        int rc;
        if (fwrite(p, 1, (size_t)(at - p), out) != (size_t)(at - p))
            goto write_error;
        if (m == 1)
            rc = put_json_for_html(out, data);
        else
            rc = fputs(m == 0 ? css : js, out) == EOF ? -1 : 0;
        if (rc < 0)
            goto write_error;
        p = at + strlen(marks[m]);
    }
    if (fputs(p, out) == EOF)
        goto write_error;
    return 0;
write_error:
    snprintf(err, errlen, "report: write error");
    return -1;
}

int report_html_write(FILE *out, const struct report_html_input *in, char *err,
                      size_t errlen)
{
    const char *tpl = inline_asset("report.html", NULL, err, errlen);
    const char *css =
        tpl ? inline_asset("skewscope.css", "</style", err, errlen) : NULL;
    const char *js =
        css ? inline_asset("skewscope.js", "</script", err, errlen) : NULL;
    json_t *data;
    char *txt;
    int rc;

    if (!js)
        return -1;
    data = report_html_data(in);
    txt =
        data ? json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(data);
    if (!txt) {
        snprintf(err, errlen, "report: out of memory");
        return -1;
    }
    rc = fill_template(out, tpl, css, js, txt, err, errlen);
    free(txt);
    if (rc == 0 && (fflush(out) != 0 || ferror(out))) {
        snprintf(err, errlen, "report: write error");
        rc = -1;
    }
    return rc;
}
