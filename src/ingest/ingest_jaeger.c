/* ingest_jaeger: Jaeger JSON reader (the UI's "Download JSON" and the query
 * API: {"data":[trace...]}; also a bare array of traces, a single trace
 * object, a bare array of spans (each with its "process" inline, as the
 * UI's trace model and storage exports have them) or a single span, and
 * concatenated documents). Times are microseconds and become nanoseconds.
 * The parent is the first CHILD_OF reference (else the legacy
 * parentSpanID); FOLLOWS_FROM references become links. Jaeger's api_v3
 * responses are OTLP JSON (ingest_otlp_json).
 *
 * The clock domain comes from the span's process (tags hostname, ip, then
 * serviceName; clock_domain_rank). "processes" usually follows "spans" in a
 * trace, so a span whose process is not known yet waits (record and links
 * kept here) until its trace object closes. A span whose processID names
 * no process of its trace, or that has none, is invalid (unknown_process),
 * as are spans without IDs or startTime (ingest.h).
 *
 * Flow: source -> json_lex -> here -> span_store. */
#include "ingest/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/json_lex.h"
#include "ingest/json_span.h"
#include "ingest/source.h"
#include "model/clock_domain.h"
#include "model/span_store.h"
#include "util/ids.h"

#define NO_DOMAIN UINT32_MAX

struct link_tmp {
    uint8_t trace_id[16];
    uint64_t span_id;
};

/* A process of the current trace: its ID (in jaeger.names) and domain. */
struct proc {
    size_t off, len;
    uint32_t domain;
};

/* A span waiting for its process: its record, its links (in
 * jaeger.plinks), its processID (in jaeger.names), its number. */
struct pending {
    struct span_rec rec;
    size_t link0, nlinks;
    size_t off, len;
    size_t index;
};

struct jaeger {
    struct json_lex *lx;
    struct span_store *store;
    const char *user_attr;
    bool strict;
    struct json_span_shape shape;
    uint32_t unknown;
    size_t nspans;
    /* Current trace. */
    struct json_buf names; /* process IDs, concatenated */
    struct proc *procs;
    size_t nprocs, procs_cap;
    struct pending *pend;
    size_t npend, pend_cap;
    struct link_tmp *plinks; /* links of the pending spans */
    size_t nplinks, plinks_cap;
    /* Current span. */
    struct json_buf pid;  /* its processID */
    uint32_t span_domain; /* from an embedded "process", or NO_DOMAIN */
    struct json_buf sys;
    int sys_rank;
    int kind;
    bool have_child_of;
    struct link_tmp *links;
    size_t nlinks, links_cap;
    /* Current process / tag. */
    struct json_buf best, tval;
    int best_rank;
};

/* Room for element n of an array of `size`-byte elements: returns the
 * (possibly moved) array, or NULL when out of memory (recorded). */
static void *grow_array(struct jaeger *c, void *arr, size_t *cap, size_t n,
                        size_t size)
{
    size_t ncap;
    void *na;

    if (n < *cap)
        return arr;
    ncap = *cap ? 2 * *cap : 16;
    na = realloc(arr, ncap * size);
    if (!na) {
        json_lex_nomem(c->lx);
        return NULL;
    }
    *cap = ncap;
    return na;
}

static uint32_t unknown_domain(struct jaeger *c)
{
    if (c->unknown == NO_DOMAIN)
        c->unknown = span_store_domain_id(c->store, CLOCK_DOMAIN_UNKNOWN,
                                          strlen(CLOCK_DOMAIN_UNKNOWN));
    return c->unknown;
}

/* ---- tags ------------------------------------------------------------- */

enum tag_mode { TAG_PROCESS, TAG_SPAN };
#define RANK_KIND 100 /* span.kind tag */

static int tag_rank(const struct jaeger *c, enum tag_mode mode,
                    const struct json_str *key)
{
    if (key->esc)
        return -1;
    if (mode == TAG_PROCESS) {
        /* serviceName is a field, not a tag. */
        if (JSON_KEY_IS(key, "serviceName"))
            return -1;
        return clock_domain_rank(c->user_attr, CLOCK_DOMAIN_JAEGER, key->p,
                                 key->len);
    }
    if (JSON_KEY_IS(key, "messaging.system"))
        return 0;
    if (JSON_KEY_IS(key, "rpc.system"))
        return 1;
    if (JSON_KEY_IS(key, "span.kind"))
        return RANK_KIND;
    return -1;
}

static int kind_from_text(const char *s, size_t n)
{
    static const struct {
        const char *name;
        int kind;
    } tab[] = {{"client", SPAN_KIND_CLIENT},
               {"server", SPAN_KIND_SERVER},
               {"producer", SPAN_KIND_PRODUCER},
               {"consumer", SPAN_KIND_CONSUMER},
               {"internal", SPAN_KIND_INTERNAL}};
    char low[16];

    if (n >= sizeof(low))
        return SPAN_KIND_UNSPECIFIED;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strlen(tab[i].name) == n && memcmp(tab[i].name, low, n) == 0)
            return tab[i].kind;
    return SPAN_KIND_UNSPECIFIED;
}

/* Act on a tag whose key ranked `rank` and whose value is in c->tval. */
static int tag_apply(struct jaeger *c, enum tag_mode mode, int rank)
{
    if (rank == RANK_KIND) {
        c->kind = kind_from_text(c->tval.p, c->tval.len);
        return 0;
    }
    if (mode == TAG_PROCESS) {
        /* An empty name would merge unrelated clocks. */
        if ((c->best_rank >= 0 && rank >= c->best_rank) || c->tval.len == 0)
            return 0;
        c->best_rank = rank;
        return json_lex_copy(c->lx, &c->best, c->tval.p, c->tval.len);
    }
    if (c->sys_rank >= 0 && rank >= c->sys_rank)
        return 0;
    c->sys_rank = rank;
    return json_lex_copy(c->lx, &c->sys, c->tval.p, c->tval.len);
}

/* {"key": .., "type": .., "value": ..} in any member order. */
static int tag(struct jaeger *c, enum tag_mode mode)
{
    struct json_str k, t;
    int r, type, rank = -1;
    bool have_key = false, have_val = false;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "key")) {
            if ((r = json_lex_text(c->lx, &t, &type)) < 0)
                return r;
            have_key = true;
            rank = tag_rank(c, mode, &t);
        } else if (JSON_KEY_IS(&k, "value") && !(have_key && rank < 0)) {
            if ((r = json_lex_text(c->lx, &t, &type)) < 0)
                return r;
            have_val =
                type != JSON_OBJECT && type != JSON_ARRAY && type != JSON_NULL;
            r = json_lex_copy(c->lx, &c->tval, t.p, t.len);
        } else {
            r = json_lex_skip(c->lx);
        }
        if (r < 0)
            return r;
    }
    if (r < 0 || !have_key || !have_val || rank < 0)
        return r;
    return tag_apply(c, mode, rank);
}

static int tags(struct jaeger *c, enum tag_mode mode)
{
    int r;

    if ((r = json_lex_begin_array(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0)
        if ((r = tag(c, mode)) < 0)
            return r;
    return r;
}

/* ---- processes -------------------------------------------------------- */

/* {"serviceName": .., "tags": [..]} -> *domain. */
static int process(struct jaeger *c, uint32_t *domain)
{
    struct json_str k, t;
    int open, r = 0, type;

    c->best_rank = -1;
    if ((open = json_lex_begin_object(c->lx)) < 0)
        return open;
    while (open && (r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "serviceName")) {
            int rank = clock_domain_rank(c->user_attr, CLOCK_DOMAIN_JAEGER,
                                         "serviceName", 11);
            if ((r = json_lex_text(c->lx, &t, &type)) == 0 &&
                type == JSON_STRING &&
                (r = json_lex_copy(c->lx, &c->tval, t.p, t.len)) == 0)
                r = tag_apply(c, TAG_PROCESS, rank);
        } else if (JSON_KEY_IS(&k, "tags")) {
            r = tags(c, TAG_PROCESS);
        } else {
            r = json_lex_skip(c->lx);
        }
        if (r < 0)
            return r;
    }
    if (r < 0)
        return r;
    *domain = c->best_rank >= 0
                  ? span_store_domain_id(c->store, c->best.p, c->best.len)
                  : unknown_domain(c);
    return *domain == NO_DOMAIN ? json_lex_nomem(c->lx) : 0;
}

static const struct proc *proc_find(const struct jaeger *c, const char *id,
                                    size_t len)
{
    for (size_t i = 0; i < c->nprocs; i++)
        if (c->procs[i].len == len &&
            memcmp(c->names.p + c->procs[i].off, id, len) == 0)
            return &c->procs[i];
    return NULL;
}

/* Append bytes to c->names; *off gets where they start. */
static int names_add(struct jaeger *c, const char *p, size_t n, size_t *off)
{
    struct json_buf *b = &c->names;

    if (b->len + n > b->cap) {
        size_t ncap = (b->len + n) * 2 + 64;
        char *np = realloc(b->p, ncap);
        if (!np)
            return json_lex_nomem(c->lx);
        b->p = np;
        b->cap = ncap;
    }
    *off = b->len;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/* "processes": {"p1": {..}, ..} */
static int processes(struct jaeger *c)
{
    struct json_str k;
    struct proc pr;
    int r;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        struct proc *np;

        pr.len = k.len;
        if ((r = names_add(c, k.p, k.len, &pr.off)) < 0 ||
            (r = process(c, &pr.domain)) < 0)
            return r;
        np = grow_array(c, c->procs, &c->procs_cap, c->nprocs, sizeof(*np));
        if (!np)
            return -INGEST_E_NOMEM;
        c->procs = np;
        c->procs[c->nprocs++] = pr;
    }
    return r;
}

/* ---- spans ------------------------------------------------------------ */

static int read_trace_id(struct jaeger *c, uint8_t out[16])
{
    return json_lex_trace_id(c->lx, out, "a traceID (hex string)");
}

static int read_span_id(struct jaeger *c, uint64_t *out)
{
    return json_lex_span_id(c->lx, out, "a spanID (hex string)");
}

static int add_link(struct jaeger *c, const struct link_tmp *l)
{
    struct link_tmp *nl =
        grow_array(c, c->links, &c->links_cap, c->nlinks, sizeof(*nl));

    if (!nl)
        return -INGEST_E_NOMEM;
    c->links = nl;
    c->links[c->nlinks++] = *l;
    return 0;
}

/* {"refType": "CHILD_OF"|"FOLLOWS_FROM", "traceID": .., "spanID": ..} */
static int reference(struct jaeger *c, struct span_rec *rec)
{
    struct link_tmp l;
    struct json_str k, t;
    bool follows = false;
    int r, type;

    memset(&l, 0, sizeof(l));
    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "refType")) {
            if ((r = json_lex_text(c->lx, &t, &type)) == 0)
                follows = t.len == 12 && memcmp(t.p, "FOLLOWS_FROM", 12) == 0;
        } else if (JSON_KEY_IS(&k, "traceID") || JSON_KEY_IS(&k, "traceId")) {
            r = read_trace_id(c, l.trace_id);
        } else if (JSON_KEY_IS(&k, "spanID") || JSON_KEY_IS(&k, "spanId")) {
            r = read_span_id(c, &l.span_id);
        } else {
            r = json_lex_skip(c->lx);
        }
        if (r < 0)
            return r;
    }
    if (r < 0 || l.span_id == 0)
        return r;
    if (follows)
        return id_trace_is_zero(l.trace_id) ? 0 : add_link(c, &l);
    if (!c->have_child_of) {
        c->have_child_of = true;
        rec->parent_id = l.span_id;
    }
    return 0;
}

static int references(struct jaeger *c, struct span_rec *rec)
{
    int r;

    if ((r = json_lex_begin_array(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0)
        if ((r = reference(c, rec)) < 0)
            return r;
    return r;
}

enum span_field {
    F_OTHER,
    F_TRACE,
    F_SPAN,
    F_PARENT,
    F_REFS,
    F_START,
    F_DURATION,
    F_TAGS,
    F_PID,
    F_PROCESS,
};

static enum span_field span_field(const struct json_str *k)
{
    static const struct json_key_map tab[] = {
        JSON_KEY_MAP("traceID", F_TRACE),
        JSON_KEY_MAP("spanID", F_SPAN),
        JSON_KEY_MAP("references", F_REFS),
        JSON_KEY_MAP("startTime", F_START),
        JSON_KEY_MAP("duration", F_DURATION),
        JSON_KEY_MAP("tags", F_TAGS),
        JSON_KEY_MAP("processID", F_PID),
        JSON_KEY_MAP("parentSpanID", F_PARENT),
        JSON_KEY_MAP("process", F_PROCESS),
        JSON_KEY_MAP("traceId", F_TRACE),
        JSON_KEY_MAP("spanId", F_SPAN),
    };

    return (enum span_field)json_key_lookup(
        k, tab, sizeof(tab) / sizeof(tab[0]), F_OTHER);
}

static int read_pid(struct jaeger *c)
{
    struct json_str t;
    int type, r = json_lex_text(c->lx, &t, &type);

    return r < 0 ? r : json_lex_copy(c->lx, &c->pid, t.p, t.len);
}

/* The span being read: its record and the members seen. */
struct span_acc {
    struct span_rec rec;
    int64_t dur;
    unsigned seen;
};

/* Forget the previous span; its start is at the next value. */
static void span_begin(struct jaeger *c, struct span_acc *a)
{
    memset(a, 0, sizeof(*a));
    c->pid.len = 0;
    c->span_domain = NO_DOMAIN;
    c->sys_rank = -1;
    c->kind = SPAN_KIND_UNSPECIFIED;
    c->have_child_of = false;
    c->nlinks = 0;
    json_lex_mark(c->lx);
}

static int span_member(struct jaeger *c, const struct json_str *k,
                       struct span_acc *a)
{
    enum span_field f = span_field(k);
    struct span_rec *rec = &a->rec;

    a->seen |= 1u << f;
    switch (f) {
    case F_TRACE:
        return read_trace_id(c, rec->trace_id);
    case F_SPAN:
        return read_span_id(c, &rec->span_id);
    case F_PARENT:
        /* Legacy field: a CHILD_OF reference takes precedence. */
        return c->have_child_of ? json_lex_skip(c->lx)
                                : read_span_id(c, &rec->parent_id);
    case F_REFS:
        return references(c, rec);
    case F_START:
        return json_span_read_us(c->lx, &rec->start_ns,
                                 "startTime as an unsigned integer "
                                 "(microseconds)");
    case F_DURATION:
        return json_span_read_dur_us(c->lx, &a->dur,
                                     "duration in microseconds");
    case F_TAGS:
        return tags(c, TAG_SPAN);
    case F_PID:
        return read_pid(c);
    case F_PROCESS:
        return process(c, &c->span_domain);
    default:
        return json_lex_skip(c->lx);
    }
}

/* Append a span whose domain is known, with its links. */
static int span_store_one(struct jaeger *c, struct span_rec *rec,
                          uint32_t domain, const struct link_tmp *links,
                          size_t nlinks)
{
    int64_t idx;

    rec->domain = domain;
    if ((idx = span_store_add(c->store, rec)) < 0)
        return json_lex_nomem(c->lx);
    for (size_t i = 0; i < nlinks; i++)
        if (span_store_add_link(c->store, (size_t)idx, links[i].trace_id,
                                links[i].span_id) < 0)
            return json_lex_nomem(c->lx);
    return 0;
}

/* Keep a span whose process is not known yet until its trace closes. */
static int pend_add(struct jaeger *c, const struct span_rec *rec)
{
    struct pending p, *np;
    struct link_tmp *nl;
    int r;

    p.rec = *rec;
    p.index = c->nspans;
    p.len = c->pid.len;
    p.link0 = c->nplinks;
    p.nlinks = c->nlinks;
    if ((r = names_add(c, c->pid.p, c->pid.len, &p.off)) < 0)
        return r;
    for (size_t i = 0; i < c->nlinks; i++) {
        nl = grow_array(c, c->plinks, &c->plinks_cap, c->nplinks, sizeof(*nl));
        if (!nl)
            return -INGEST_E_NOMEM;
        c->plinks = nl;
        c->plinks[c->nplinks++] = c->links[i];
    }
    np = grow_array(c, c->pend, &c->pend_cap, c->npend, sizeof(*np));
    if (!np)
        return -INGEST_E_NOMEM;
    c->pend = np;
    c->pend[c->npend++] = p;
    return 0;
}

/* The span read into a is complete: count it as invalid, store it, or
 * keep it until its process is known. */
static int span_done(struct jaeger *c, struct span_acc *a)
{
    static const struct json_span_names names = {"a traceID", "a spanID",
                                                 "a startTime"};
    struct span_rec *rec = &a->rec;
    const struct proc *pr;
    int r;

    c->shape.recognised = true;
    c->nspans++;
    json_span_finish_us(rec, a->dur);
    r = json_span_valid(c->lx, c->store, c->strict, rec,
                        a->seen & 1u << F_START, &names, c->nspans);
    if (r <= 0)
        return r;
    rec->kind = (uint8_t)c->kind;
    if (rec->parent_id)
        rec->flags |= SPAN_F_HAS_PARENT;
    if (c->sys_rank >= 0) {
        rec->system = span_store_system_id(c->store, c->sys.p, c->sys.len);
        if (rec->system == UINT16_MAX)
            return json_lex_nomem(c->lx);
    }
    if (c->span_domain != NO_DOMAIN)
        return span_store_one(c, rec, c->span_domain, c->links, c->nlinks);
    if ((pr = proc_find(c, c->pid.p, c->pid.len)) != NULL)
        return span_store_one(c, rec, pr->domain, c->links, c->nlinks);
    return pend_add(c, rec);
}

/* An element of "spans". */
static int span(struct jaeger *c)
{
    struct span_acc a;
    struct json_str k;
    int r;

    span_begin(c, &a);
    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0)
        if ((r = span_member(c, &k, &a)) < 0)
            return r;
    return r < 0 ? r : span_done(c, &a);
}

static int spans(struct jaeger *c)
{
    int r;

    c->shape.recognised = true; /* a trace, even without spans */
    if ((r = json_lex_begin_array(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0)
        if ((r = span(c)) < 0)
            return r;
    return r;
}

/* ---- traces and documents --------------------------------------------- */

static void trace_start(struct jaeger *c)
{
    c->names.len = 0;
    c->nprocs = 0;
    c->npend = 0;
    c->nplinks = 0;
}

/* A waiting span whose process never came: invalid. */
static int unknown_process(struct jaeger *c, const struct pending *p,
                           const char *pid)
{
    if (!c->strict) {
        span_store_add_invalid(c->store, SPAN_INVALID_UNKNOWN_PROCESS);
        return 0;
    }
    return json_lex_fail(c->lx,
                         "a process for processID \"%.*s\" of span %zu (in "
                         "its trace's \"processes\" or inline; --strict "
                         "refuses spans that cannot be analysed)",
                         (int)(p->len < 64 ? p->len : 64), pid, p->index);
}

/* Store the waiting spans whose process is now known; count the others
 * as invalid. Called when a trace object closes. */
static int trace_finish(struct jaeger *c)
{
    int r = 0;

    for (size_t i = 0; i < c->npend && r == 0; i++) {
        struct pending *p = &c->pend[i];
        /* no processID at all leaves the name buffer unallocated */
        const char *name = c->names.p ? c->names.p + p->off : "";
        const struct proc *pr = proc_find(c, name, p->len);

        if (pr)
            r = span_store_one(c, &p->rec, pr->domain,
                               p->nlinks ? c->plinks + p->link0 : NULL,
                               p->nlinks);
        else
            r = unknown_process(c, p, name);
    }
    trace_start(c);
    return r;
}

static int trace_array(struct jaeger *c, bool top);

/* A member of a trace object; 1 when the key is not a trace member. */
static int trace_member(struct jaeger *c, const struct json_str *k)
{
    if (JSON_KEY_IS(k, "spans"))
        return spans(c);
    if (JSON_KEY_IS(k, "processes"))
        return processes(c);
    return 1;
}

/* One member of a top-level or array-element object, which may be a
 * document ({"data": ...}, top level only), a trace or a span. */
static int object_member(struct jaeger *c, const struct json_str *k, bool top,
                         struct span_acc *a)
{
    int r;

    if (top && JSON_KEY_IS(k, "data")) {
        c->shape.recognised = true;
        if ((r = trace_finish(c)) < 0)
            return r;
        return trace_array(c, false);
    }
    if ((r = trace_member(c, k)) != 1)
        return r;
    if (top && JSON_KEY_IS(k, "result"))
        c->shape.hint = "; {\"result\": ...} is a Jaeger api_v3 response, "
                        "which holds OTLP JSON: use --format otlp-json";
    return span_member(c, k, a);
}

/* An object at the top level (top) or in a top-level array: a document,
 * a trace (it has "spans") or a span (it has a "spanID"). */
static int object(struct jaeger *c, bool top)
{
    struct span_acc a;
    struct json_str k;
    int r;

    trace_start(c);
    span_begin(c, &a);
    if ((r = json_lex_begin_object(c->lx)) < 0)
        return r;
    while (r > 0 && (r = json_lex_next_key(c->lx, &k)) > 0)
        if ((r = object_member(c, &k, top, &a)) >= 0)
            r = 1;
    if (r == 0 && a.seen & 1u << F_SPAN)
        r = span_done(c, &a);
    /* Spans stored before an error keep a valid domain. */
    if (r >= 0)
        r = trace_finish(c);
    else
        trace_start(c);
    return r;
}

static int trace_array(struct jaeger *c, bool top)
{
    size_t n = 0;
    int r;

    if ((r = json_lex_begin_array(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_elem(c->lx)) > 0) {
        n++;
        if ((r = object(c, false)) < 0)
            return r;
    }
    if (top && n == 0)
        c->shape.recognised = true; /* [] */
    return r;
}

static int each_value(void *ctx, int kind)
{
    struct jaeger *c = ctx;

    return kind == JSON_ARRAY ? trace_array(c, true) : object(c, true);
}

static int jaeger_read(struct source *src, struct span_store *store,
                       const struct ingest_opts *opts, char *err, size_t errlen)
{
    struct jaeger c;
    int r;

    memset(&c, 0, sizeof(c));
    c.store = store;
    c.user_attr = opts ? opts->clock_domain_attr : NULL;
    c.strict = opts && opts->strict;
    c.unknown = NO_DOMAIN;
    c.shape.expected =
        "a Jaeger JSON document ({\"data\": [traces]}, a trace {\"traceID\", "
        "\"spans\", \"processes\"}, or an array of traces or of spans with "
        "\"spanID\")";
    r = json_span_read_all(src, &c.lx, each_value, &c, &c.shape, err, errlen);
    free(c.names.p);
    free(c.procs);
    free(c.pend);
    free(c.plinks);
    free(c.pid.p);
    free(c.sys.p);
    free(c.links);
    free(c.best.p);
    free(c.tval.p);
    return r;
}

static bool jaeger_sniff(const unsigned char *data, size_t n)
{
    int first = json_sniff_first(data, n);
    bool trace =
        json_sniff_key(data, n, "traceID") &&
        (json_sniff_key(data, n, "spans") || json_sniff_key(data, n, "spanID"));

    if (first == '{')
        return trace || json_sniff_key(data, n, "data");
    return first == '[' && trace;
}

const struct ingest_ops ingest_jaeger_ops = {
    .name = "jaeger",
    .format = TRACE_FORMAT_JAEGER,
    .sniff = jaeger_sniff,
    .read = jaeger_read,
};
