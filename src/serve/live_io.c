/* live_io: export and import of a struct live's statistics as JSON (see
 * live_io.h for the document). The export walks live_private.h's arrays;
 * the import checks the document in full while it rebuilds a struct live
 * through live_private.h's primitives, so that the result keeps every
 * invariant live.c relies on. jansson does the JSON. */
#include "serve/live_io.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "serve/live.h"
#include "serve/live_private.h"

#define MAX_COUNT (INT64_C(1) << 53)
#define MAX_SLACK_NS (INT64_C(1) << 50)
#define TIME_LIMIT_NS (INT64_C(1) << 62)
#define MAX_DOMAINS 4096
#define MAX_CLASSES 4096
#define MAX_GROUPS 16384
#define MAX_CELLS (1u << 22)
#define MIN_WINDOW_S 1e-3
#define MAX_WINDOW_S 1e6

/* ---- export ---------------------------------------------------------- */

/* jansson's _new setters take the reference even when they fail. */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static bool push(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}

static json_t *jint(int64_t v)
{
    return json_integer((json_int_t)v);
}

/* A name as a JSON string; bytes that are not UTF-8 become '?'. */
static json_t *jname(const char *s)
{
    json_t *v = json_string(s);

    if (v)
        return v;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

static json_t *export_names(const struct live_names *n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n->n; i++)
        if (!push(a, jname(n->v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *export_group(const struct live_group *g)
{
    return json_pack("{s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I}", "from",
                     (json_int_t)g->from, "to", (json_int_t)g->to, "class",
                     (json_int_t)g->cls, "sync", g->sync, "pairs",
                     (json_int_t)g->pairs, "starts_before_parent",
                     (json_int_t)g->before, "ends_after_parent",
                     (json_int_t)g->after, "violations", (json_int_t)g->viol);
}

static json_t *export_cell(size_t g, const struct clock_window_cell *c)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "group", (json_int_t)g,
        "count", (json_int_t)c->count, "fwd_ns", (json_int_t)c->fwd_ns,
        "fwd_at_ns", (json_int_t)c->fwd_at_ns, "back_ns",
        (json_int_t)c->back_ns, "back_at_ns", (json_int_t)c->back_at_ns,
        "queued", (json_int_t)c->queued, "idle", (json_int_t)c->idle);

    if (o && c->idle &&
        (!put(o, "idle_fwd_ns", jint(c->idle_fwd_ns)) ||
         !put(o, "idle_fwd_at_ns", jint(c->idle_fwd_at_ns)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *export_window(const struct live_window *w)
{
    json_t *cells = json_array();
    json_t *o =
        json_pack("{s:I, s:I, s:I}", "index", (json_int_t)w->idx, "pairs",
                  (json_int_t)w->pairs, "sum_rel_ns", (json_int_t)w->sum_rel);

    if (!o || !put(o, "last_ns", w->pairs ? jint(w->last) : json_null()))
        goto fail;
    for (size_t g = 0; cells && g < w->ncells; g++)
        if (w->cells[g].count && !push(cells, export_cell(g, &w->cells[g])))
            goto fail;
    if (!put(o, "cells", cells))
        goto fail_o; /* put took cells */
    return o;
fail:
    json_decref(cells);
fail_o:
    json_decref(o);
    return NULL;
}

static bool export_body(const struct live *lv, json_t *o)
{
    json_t *groups = json_array(), *windows = json_array();
    bool ok = groups && windows;

    for (size_t g = 0; ok && g < lv->ngroups; g++)
        ok = push(groups, export_group(&lv->groups[g]));
    for (size_t w = 0; ok && w < lv->nwin; w++)
        ok = push(windows, export_window(&lv->win[w]));
    ok = ok && put(o, "domains", export_names(&lv->domains)) &&
         put(o, "classes", export_names(&lv->classes));
    if (ok) {
        ok = put(o, "groups", groups);
        groups = NULL; /* o's now, or freed by put */
    }
    if (ok) {
        ok = put(o, "windows", windows);
        windows = NULL;
    }
    json_decref(groups);
    json_decref(windows);
    return ok;
}

int live_export_json(const struct live *lv, char **out, size_t *len)
{
    json_t *o = json_pack(
        "{s:s, s:i, s:f, s:I, s:I, s:I, s:I}", "format", LIVE_IO_FORMAT,
        "version", LIVE_IO_VERSION, "window_s", lv->o.window_s, "max_windows",
        (json_int_t)lv->o.max_windows, "pairs_total", (json_int_t)lv->pairs,
        "orphans_total", (json_int_t)lv->orphans, "late_pairs_total",
        (json_int_t)lv->late);

    *out = NULL;
    *len = 0;
    if (o && export_body(lv, o))
        *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!*out)
        return LIVE_IO_ENOMEM;
    *len = strlen(*out);
    return 0;
}

/* ---- import: reading checked values ---------------------------------- */

struct rd {
    char *err;
    size_t errlen;
    char where[64]; /* "groups[3]", "windows[2].cells[0]", "" at the top */
};

static int fail(struct rd *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct rd *r, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(r->err, r->errlen, "live statistics: %s%s%s", r->where,
             r->where[0] ? ": " : "", msg);
    return code;
}

static int get_int(struct rd *r, json_t *obj, const char *key, int64_t lo,
                   int64_t hi, int64_t *out)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi)
        return fail(r, LIVE_IO_EDOC,
                    "\"%s\" is missing or not an integer in [%lld, %lld]", key,
                    (long long)lo, (long long)hi);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_count(struct rd *r, json_t *obj, const char *key, uint64_t *out)
{
    int64_t v;

    if (get_int(r, obj, key, 0, MAX_COUNT, &v) < 0)
        return LIVE_IO_EDOC;
    *out = (uint64_t)v;
    return 0;
}

static int get_index(struct rd *r, json_t *obj, const char *key, size_t n,
                     size_t *out)
{
    int64_t v;

    if (n == 0)
        return fail(r, LIVE_IO_EDOC, "\"%s\" refers to an empty list", key);
    if (get_int(r, obj, key, 0, (int64_t)n - 1, &v) < 0)
        return LIVE_IO_EDOC;
    *out = (size_t)v;
    return 0;
}

static json_t *get_array(struct rd *r, json_t *obj, const char *key, size_t max)
{
    json_t *a = json_object_get(obj, key);

    if (!json_is_array(a)) {
        fail(r, LIVE_IO_EDOC, "\"%s\" is missing or not an array", key);
        return NULL;
    }
    if (json_array_size(a) > max) {
        fail(r, LIVE_IO_EDOC, "\"%s\" has %zu entries, at most %zu allowed",
             key, json_array_size(a), max);
        return NULL;
    }
    return a;
}

static json_t *get_object(struct rd *r, json_t *arr, size_t i)
{
    json_t *o = json_array_get(arr, i);

    if (!json_is_object(o))
        fail(r, LIVE_IO_EDOC, "not an object");
    return json_is_object(o) ? o : NULL;
}

static int64_t clamp_slack(int64_t v)
{
    return v > MAX_SLACK_NS    ? MAX_SLACK_NS
           : v < -MAX_SLACK_NS ? -MAX_SLACK_NS
                               : v;
}

/* ---- import: the document's parts ------------------------------------ */

/* What the parts share: the live being built and the document-to-live id
 * maps. */
struct imp {
    struct rd r;
    struct live *lv;
    uint32_t *dmap, *cmap, *gmap; /* by document index */
    size_t nd, nc, ng;
    uint64_t *gcells; /* per document group: cell counts seen */
    uint64_t pairs;   /* sum of the groups' pairs */
    int64_t prev_idx; /* the last window's index */
};

/* The header: format, version, window_s, max_windows. */
static int read_header(struct rd *r, json_t *doc, const struct live_opts *opts,
                       struct live_opts *lo)
{
    json_t *v = json_object_get(doc, "format");
    int64_t version, maxw;

    if (!json_is_string(v) || strcmp(json_string_value(v), LIVE_IO_FORMAT))
        return fail(r, LIVE_IO_EDOC,
                    "not a skewscope live statistics document (\"format\" "
                    "is not \"" LIVE_IO_FORMAT "\")");
    v = json_object_get(doc, "version");
    if (!json_is_integer(v))
        return fail(r, LIVE_IO_EDOC, "\"version\" is missing");
    version = (int64_t)json_integer_value(v);
    if (version != LIVE_IO_VERSION)
        return fail(r, LIVE_IO_EVERSION,
                    "schema version %lld; this build reads version %d",
                    (long long)version, LIVE_IO_VERSION);
    v = json_object_get(doc, "window_s");
    if (!json_is_number(v) || !(json_number_value(v) >= MIN_WINDOW_S) ||
        !(json_number_value(v) <= MAX_WINDOW_S))
        return fail(r, LIVE_IO_EDOC,
                    "\"window_s\" is missing or not a number in [%g, %g]",
                    MIN_WINDOW_S, MAX_WINDOW_S);
    if (get_int(r, doc, "max_windows", 1, LIVE_MAX_WINDOWS_LIMIT, &maxw) < 0)
        return LIVE_IO_EDOC;
    if (opts) {
        *lo = *opts;
        if (llround(opts->window_s * 1e9) !=
            llround(json_number_value(v) * 1e9))
            return fail(r, LIVE_IO_EWINDOW,
                        "window_s is %g s in the document, %g s expected "
                        "(every instance needs the same --window)",
                        json_number_value(v), opts->window_s);
        return 0;
    }
    live_opts_init(lo);
    lo->window_s = json_number_value(v);
    lo->max_windows = (unsigned)maxw;
    return 0;
}

/* "domains" or "classes": a list of names, interned in order. */
static int read_names(struct imp *im, json_t *doc, bool domains, uint32_t **map,
                      size_t *n)
{
    const char *key = domains ? "domains" : "classes";
    size_t max = domains ? MAX_DOMAINS : MAX_CLASSES;
    json_t *a = get_array(&im->r, doc, key, max);

    if (!a)
        return LIVE_IO_EDOC;
    *n = json_array_size(a);
    *map = malloc((*n + 1) * sizeof(**map));
    if (!*map)
        return LIVE_IO_ENOMEM;
    for (size_t i = 0; i < *n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v) ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(im->r.where, sizeof(im->r.where), "%s[%zu]", key, i);
            return fail(&im->r, LIVE_IO_EDOC, "not a string without NULs");
        }
        (*map)[i] = domains ? live_domain_intern(im->lv, json_string_value(v))
                            : live_class_intern(im->lv, json_string_value(v));
        if ((*map)[i] == LIVE_NO_ID)
            return LIVE_IO_ENOMEM;
    }
    return 0;
}

static int read_group(struct imp *im, json_t *o, size_t i)
{
    struct live_group key = {0}, c = {0};
    size_t from = 0, to = 0, cls = 0;
    json_t *sync = json_object_get(o, "sync");

    if (get_index(&im->r, o, "from", im->nd, &from) < 0 ||
        get_index(&im->r, o, "to", im->nd, &to) < 0 ||
        get_index(&im->r, o, "class", im->nc, &cls) < 0 ||
        get_count(&im->r, o, "pairs", &c.pairs) < 0 ||
        get_count(&im->r, o, "starts_before_parent", &c.before) < 0 ||
        get_count(&im->r, o, "ends_after_parent", &c.after) < 0 ||
        get_count(&im->r, o, "violations", &c.viol) < 0)
        return LIVE_IO_EDOC;
    if (!json_is_boolean(sync))
        return fail(&im->r, LIVE_IO_EDOC,
                    "\"sync\" is missing or not true "
                    "or false");
    if (c.before > c.pairs || c.after > c.pairs || c.viol > c.pairs)
        return fail(&im->r, LIVE_IO_EDOC, "more violations than pairs");
    key = (struct live_group){.from = im->dmap[from],
                              .to = im->dmap[to],
                              .cls = im->cmap[cls],
                              .sync = json_is_true(sync)};
    if ((im->gmap[i] = live_group_intern(im->lv, &key)) == LIVE_NO_ID)
        return LIVE_IO_ENOMEM;
    struct live_group *g = &im->lv->groups[im->gmap[i]];
    g->pairs += c.pairs;
    g->before += c.before;
    g->after += c.after;
    g->viol += c.viol;
    im->lv->domain_pairs[g->from] += c.pairs;
    im->lv->domain_pairs[g->to] += c.pairs;
    im->pairs += c.pairs;
    return 0;
}

static int read_groups(struct imp *im, json_t *doc)
{
    json_t *a = get_array(&im->r, doc, "groups", MAX_GROUPS);
    int rc;

    if (!a)
        return LIVE_IO_EDOC;
    im->ng = json_array_size(a);
    im->gmap = malloc((im->ng + 1) * sizeof(*im->gmap));
    im->gcells = calloc(im->ng + 1, sizeof(*im->gcells));
    if (!im->gmap || !im->gcells)
        return LIVE_IO_ENOMEM;
    for (size_t i = 0; i < im->ng; i++) {
        snprintf(im->r.where, sizeof(im->r.where), "groups[%zu]", i);
        json_t *o = get_object(&im->r, a, i);
        if (!o)
            return LIVE_IO_EDOC;
        if ((rc = read_group(im, o, i)) < 0)
            return rc;
    }
    im->r.where[0] = '\0';
    return 0;
}

/* One window's time range [t0, t0 + window_ns). */
struct wrange {
    int64_t t0, w;
};

static int get_time(struct rd *r, json_t *o, const char *key,
                    const struct wrange *wr, int64_t *out)
{
    return get_int(r, o, key, wr->t0, wr->t0 + (wr->w - 1), out);
}

/* An optional integer member: def when absent. */
static int get_opt_int(struct rd *r, json_t *obj, const char *key, int64_t lo,
                       int64_t hi, int64_t def, int64_t *out)
{
    if (!json_object_get(obj, key)) {
        *out = def;
        return 0;
    }
    return get_int(r, obj, key, lo, hi, out);
}

static int read_cell(struct imp *im, json_t *o, const struct wrange *wr,
                     size_t *g, struct clock_window_cell *c)
{
    int64_t count, queued, idle;

    memset(c, 0, sizeof(*c));
    if (get_index(&im->r, o, "group", im->ng, g) < 0 ||
        get_int(&im->r, o, "count", 1, MAX_COUNT, &count) < 0 ||
        get_int(&im->r, o, "fwd_ns", INT64_MIN, INT64_MAX, &c->fwd_ns) < 0 ||
        get_int(&im->r, o, "back_ns", INT64_MIN, INT64_MAX, &c->back_ns) < 0 ||
        get_time(&im->r, o, "fwd_at_ns", wr, &c->fwd_at_ns) < 0 ||
        get_time(&im->r, o, "back_at_ns", wr, &c->back_at_ns) < 0 ||
        get_opt_int(&im->r, o, "queued", 0, count, 0, &queued) < 0 ||
        get_opt_int(&im->r, o, "idle", 0, count - queued, 0, &idle) < 0)
        return LIVE_IO_EDOC;
    if (idle &&
        (get_int(&im->r, o, "idle_fwd_ns", INT64_MIN, INT64_MAX,
                 &c->idle_fwd_ns) < 0 ||
         get_time(&im->r, o, "idle_fwd_at_ns", wr, &c->idle_fwd_at_ns) < 0))
        return LIVE_IO_EDOC;
    c->count = (uint64_t)count;
    c->queued = (uint64_t)queued;
    c->idle = (uint64_t)idle;
    c->fwd_ns = clamp_slack(c->fwd_ns);
    c->back_ns = clamp_slack(c->back_ns);
    c->idle_fwd_ns = clamp_slack(c->idle_fwd_ns);
    im->gcells[*g] += (uint64_t)count;
    return 0;
}

/* A window's cells, checked and summed into cells[] (by document group)
 * before anything goes into the live. */
static int read_cells(struct imp *im, json_t *o, size_t wi,
                      const struct wrange *wr, struct clock_window_cell *cells,
                      uint64_t *sum)
{
    json_t *a = get_array(&im->r, o, "cells", im->ng);
    int rc;

    if (!a)
        return LIVE_IO_EDOC;
    *sum = 0;
    memset(cells, 0, (im->ng + 1) * sizeof(*cells));
    for (size_t k = 0; k < json_array_size(a); k++) {
        struct clock_window_cell c;
        size_t g = 0;
        snprintf(im->r.where, sizeof(im->r.where), "windows[%zu].cells[%zu]",
                 wi, k);
        json_t *co = get_object(&im->r, a, k);
        if (!co)
            return LIVE_IO_EDOC;
        if ((rc = read_cell(im, co, wr, &g, &c)) < 0)
            return rc;
        if (cells[g].count)
            return fail(&im->r, LIVE_IO_EDOC, "group %zu appears twice", g);
        cells[g] = c;
        *sum += c.count;
    }
    snprintf(im->r.where, sizeof(im->r.where), "windows[%zu]", wi);
    return 0;
}

/* Window index idx's range, or false when it is outside +-2^62 ns. */
static bool window_range(int64_t idx, int64_t w, struct wrange *wr)
{
    int64_t lo = -(TIME_LIMIT_NS / w), hi = TIME_LIMIT_NS / w - 1;

    if (idx < lo || idx > hi)
        return false;
    wr->t0 = idx * w;
    wr->w = w;
    return true;
}

/* Move a checked window into the live. */
static int store_window(struct imp *im, int64_t idx,
                        const struct live_window *src,
                        const struct clock_window_cell *cells)
{
    struct live *lv = im->lv;
    bool late;
    struct live_window *w = live_window_at(lv, idx, &late);

    if (!w) {
        lv->late += late ? src->pairs : 0;
        return late ? 0 : LIVE_IO_ENOMEM;
    }
    if (live_window_grow(w, lv->ngroups) < 0)
        return LIVE_IO_ENOMEM;
    for (size_t g = 0; g < im->ng; g++)
        clock_window_cell_merge(&w->cells[im->gmap[g]], &cells[g]);
    w->pairs += src->pairs;
    w->sum_rel += src->sum_rel;
    w->last = src->last > w->last ? src->last : w->last;
    return 0;
}

static int read_window_fields(struct imp *im, json_t *o, struct wrange *wr,
                              struct live_window *win)
{
    json_t *last = json_object_get(o, "last_ns");
    int64_t hi;

    if (get_count(&im->r, o, "pairs", &win->pairs) < 0)
        return LIVE_IO_EDOC;
    /* each pair adds at most window_ns - 1 */
    if (__builtin_mul_overflow((int64_t)win->pairs, wr->w - 1, &hi))
        hi = INT64_MAX;
    if (get_int(&im->r, o, "sum_rel_ns", 0, hi, &win->sum_rel) < 0)
        return LIVE_IO_EDOC;
    win->last = INT64_MIN;
    if (win->pairs == 0 && !json_is_null(last))
        return fail(&im->r, LIVE_IO_EDOC,
                    "\"last_ns\" of an empty window is "
                    "not null");
    if (win->pairs && get_time(&im->r, o, "last_ns", wr, &win->last) < 0)
        return LIVE_IO_EDOC;
    return 0;
}

static int read_window(struct imp *im, json_t *o, size_t wi, int64_t idx,
                       struct clock_window_cell *cells)
{
    struct live_window win = {.idx = idx};
    struct wrange wr;
    uint64_t sum;
    int rc;

    if (!window_range(idx, im->lv->window_ns, &wr)) {
        /* hostile timestamps: leave the window out (see live_io.h) */
        if (get_count(&im->r, o, "pairs", &win.pairs) < 0)
            return LIVE_IO_EDOC;
        im->lv->late += win.pairs;
        return 0;
    }
    if ((rc = read_window_fields(im, o, &wr, &win)) < 0 ||
        (rc = read_cells(im, o, wi, &wr, cells, &sum)) < 0)
        return rc;
    if (sum != win.pairs)
        return fail(&im->r, LIVE_IO_EDOC,
                    "\"pairs\" is %llu, its cells count %llu",
                    (unsigned long long)win.pairs, (unsigned long long)sum);
    return store_window(im, idx, &win, cells);
}

/* Window i's "index": ascending, fewer than 4096 after the first. */
static int read_window_index(struct imp *im, json_t *o, size_t i,
                             int64_t *first, int64_t *idx)
{
    if (get_int(&im->r, o, "index", INT64_MIN, INT64_MAX, idx) < 0)
        return LIVE_IO_EDOC;
    if (i == 0)
        *first = *idx;
    else if (*idx <= im->prev_idx ||
             (uint64_t)*idx - (uint64_t)*first >= LIVE_MAX_WINDOWS_LIMIT)
        return fail(&im->r, LIVE_IO_EDOC,
                    "\"index\" %lld not ascending or %d or more after the "
                    "first",
                    (long long)*idx, LIVE_MAX_WINDOWS_LIMIT);
    im->prev_idx = *idx;
    return 0;
}

static int read_windows(struct imp *im, json_t *doc)
{
    json_t *a = get_array(&im->r, doc, "windows", LIVE_MAX_WINDOWS_LIMIT);
    struct clock_window_cell *cells;
    int64_t first = 0, idx = 0;
    int rc = 0;

    if (!a)
        return LIVE_IO_EDOC;
    if (json_array_size(a) * (im->ng + 1) > MAX_CELLS)
        return fail(&im->r, LIVE_IO_EDOC, "%zu windows x %zu groups: too large",
                    json_array_size(a), im->ng);
    cells = malloc((im->ng + 1) * sizeof(*cells));
    if (!cells)
        return LIVE_IO_ENOMEM;
    for (size_t i = 0; rc == 0 && i < json_array_size(a); i++) {
        snprintf(im->r.where, sizeof(im->r.where), "windows[%zu]", i);
        json_t *o = get_object(&im->r, a, i);
        rc = o ? read_window_index(im, o, i, &first, &idx) : LIVE_IO_EDOC;
        if (rc == 0)
            rc = read_window(im, o, i, idx, cells);
    }
    free(cells);
    im->r.where[0] = '\0';
    return rc;
}

/* Totals, and the per-group sums the windows must not exceed. */
static int read_totals(struct imp *im, json_t *doc)
{
    uint64_t pairs, orphans, late;

    if (get_count(&im->r, doc, "pairs_total", &pairs) < 0 ||
        get_count(&im->r, doc, "orphans_total", &orphans) < 0 ||
        get_count(&im->r, doc, "late_pairs_total", &late) < 0)
        return LIVE_IO_EDOC;
    if (pairs != im->pairs)
        return fail(&im->r, LIVE_IO_EDOC,
                    "\"pairs_total\" is %llu, the groups count %llu",
                    (unsigned long long)pairs, (unsigned long long)im->pairs);
    for (size_t g = 0; g < im->ng; g++)
        if (im->gcells[g] > im->lv->groups[im->gmap[g]].pairs)
            return fail(&im->r, LIVE_IO_EDOC,
                        "the windows count more pairs of group %zu than the "
                        "group has",
                        g);
    im->lv->pairs += pairs;
    im->lv->orphans += orphans;
    im->lv->late += late;
    return 0;
}

static int import_doc(struct imp *im, json_t *doc, const struct live_opts *opts)
{
    struct live_opts lo;
    int rc;

    if (!json_is_object(doc))
        return fail(&im->r, LIVE_IO_EDOC, "not a JSON object");
    if ((rc = read_header(&im->r, doc, opts, &lo)) < 0)
        return rc;
    if (!(im->lv = live_create(&lo)))
        return opts ? fail(&im->r, LIVE_IO_EDOC, "invalid live options")
                    : LIVE_IO_ENOMEM;
    if ((rc = read_names(im, doc, true, &im->dmap, &im->nd)) < 0 ||
        (rc = read_names(im, doc, false, &im->cmap, &im->nc)) < 0 ||
        (rc = read_groups(im, doc)) < 0 || (rc = read_windows(im, doc)) < 0)
        return rc;
    return read_totals(im, doc);
}

int live_import_json(const char *text, size_t len, const struct live_opts *opts,
                     struct live **out, char *err, size_t errlen)
{
    struct imp im = {.r = {.err = err, .errlen = errlen}};
    json_error_t je;
    json_t *doc;
    int rc;

    *out = NULL;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return fail(&im.r, LIVE_IO_EDOC, "not JSON: %s (line %d, column %d)",
                    je.text, je.line, je.column);
    rc = import_doc(&im, doc, opts);
    if (rc == LIVE_IO_ENOMEM)
        fail(&im.r, rc, "out of memory");
    if (rc == 0)
        *out = im.lv;
    else
        live_destroy(im.lv);
    free(im.dmap);
    free(im.cmap);
    free(im.gmap);
    free(im.gcells);
    json_decref(doc);
    return rc;
}

/* ---- merge ------------------------------------------------------------ */

/* live_merge() adds the windows' int64 sums: check they fit first. */
static bool sums_fit(const struct live *dst, const struct live *src)
{
    size_t d = 0;

    for (size_t s = 0; s < src->nwin; s++) {
        int64_t r;
        while (d < dst->nwin && dst->win[d].idx < src->win[s].idx)
            d++;
        if (d < dst->nwin && dst->win[d].idx == src->win[s].idx &&
            __builtin_add_overflow(dst->win[d].sum_rel, src->win[s].sum_rel,
                                   &r))
            return false;
    }
    return true;
}

int live_merge_json(struct live *dst, const char *text, size_t len, char *err,
                    size_t errlen)
{
    struct live *src;
    int rc = live_import_json(text, len, &dst->o, &src, err, errlen);

    if (rc < 0)
        return rc;
    if (!sums_fit(dst, src)) {
        snprintf(err, errlen,
                 "live statistics: too many pairs in a window "
                 "to merge");
        rc = LIVE_IO_EDOC;
    } else if (live_merge(dst, src) < 0) {
        snprintf(err, errlen, "live statistics: out of memory");
        rc = LIVE_IO_ENOMEM;
    }
    live_destroy(src);
    return rc;
}
