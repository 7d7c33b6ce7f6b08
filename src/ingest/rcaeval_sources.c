/* rcaeval_sources: the other files of an RCAEval case, traces.csv (one
 * span per row) and logs.csv (one log line per row), and the series
 * RCAEval's multi-source methods read, derived from them exactly as
 * rca-llm's RCAEval/utility/__init__.py does (logts, tracets_err,
 * tracets_lat: counts per 5 s window). See rcaeval.h. */
#include "ingest/rcaeval.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/rcaeval_csv.h"
#include "model/series.h"
#include "util/grow.h"
#include "util/hash.h"

struct names {
    char **v;
    size_t n, cap;
    uint32_t *slots; /* index + 1 */
    size_t nslots;
};

static uint64_t str_hash(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return hash_mix64(h);
}

static int names_rehash(struct names *nm)
{
    size_t ns = nm->nslots ? nm->nslots * 2 : 64;
    uint32_t *sl = calloc(ns, sizeof(*sl));

    if (!sl)
        return -1;
    for (size_t i = 0; i < nm->n; i++) {
        size_t j = str_hash(nm->v[i], strlen(nm->v[i])) & (ns - 1);

        while (sl[j])
            j = (j + 1) & (ns - 1);
        sl[j] = (uint32_t)i + 1;
    }
    free(nm->slots);
    nm->slots = sl;
    nm->nslots = ns;
    return 0;
}

/* Index of name p[0..len) (added when new), or UINT32_MAX when out of
 * memory. */
static uint32_t names_id(struct names *nm, const char *p, size_t len)
{
    uint64_t h = str_hash(p, len);
    size_t j;

    if ((nm->n + 1) * 2 > nm->nslots && names_rehash(nm) < 0)
        return UINT32_MAX;
    for (j = h & (nm->nslots - 1); nm->slots[j];
         j = (j + 1) & (nm->nslots - 1)) {
        const char *s = nm->v[nm->slots[j] - 1];

        if (strlen(s) == len && !memcmp(s, p, len))
            return nm->slots[j] - 1;
    }
    if (nm->n >= UINT32_MAX - 1 ||
        grow_array((void **)&nm->v, &nm->cap, nm->n + 1, sizeof(*nm->v)) < 0)
        return UINT32_MAX;
    nm->v[nm->n] = strndup(p, len);
    if (!nm->v[nm->n])
        return UINT32_MAX;
    nm->slots[j] = (uint32_t)nm->n + 1;
    return (uint32_t)nm->n++;
}

/* A bump arena for the many small strings of spans and logs. */
struct arena {
    char **blocks;
    size_t nblocks, cap;
    size_t used, size; /* of the last block */
};

static const char *arena_dup(struct arena *a, const char *p, size_t len)
{
    char *d;

    if (!a->nblocks || a->used + len + 1 > a->size) {
        size_t sz = len + 1 > (1u << 20) ? len + 1 : (1u << 20);

        if (grow_array((void **)&a->blocks, &a->cap, a->nblocks + 1,
                       sizeof(*a->blocks)) < 0)
            return NULL;
        a->blocks[a->nblocks] = malloc(sz);
        if (!a->blocks[a->nblocks])
            return NULL;
        a->nblocks++;
        a->used = 0;
        a->size = sz;
    }
    d = a->blocks[a->nblocks - 1] + a->used;
    memcpy(d, p, len);
    d[len] = 0;
    a->used += len + 1;
    return d;
}

static void arena_free(struct arena *a)
{
    for (size_t i = 0; i < a->nblocks; i++)
        free(a->blocks[i]);
    free(a->blocks);
}

/* ---------------------------------------------------------------------
 * traces.csv and logs.csv
 * --------------------------------------------------------------------- */

enum {
    TC_TRACE,
    TC_SPAN,
    TC_PARENT,
    TC_SERVICE,
    TC_METHOD,
    TC_OPERATION,
    TC_START_MS,
    TC_START_US,
    TC_DURATION,
    TC_STATUS,
    TC_N
};

static const char *const trace_cols[TC_N] = {
    "traceID",    "spanID",        "parentSpanID",    "serviceName",
    "methodName", "operationName", "startTimeMillis", "startTime",
    "duration",   "statusCode"};

struct traces_build {
    struct rcaeval_traces *tr;
    struct names nm;
    struct arena ar;
    size_t cap;
};

/* Map header columns to the roles in names[0..n) (-1 when absent). */
static void map_columns(const struct rcaeval_csv_header *h,
                        const char *const *names, size_t n, int64_t *idx)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = rcaeval_csv_header_find(h, names[i]);
}

static int need_columns(struct rcaeval_csv *c, const int64_t *idx,
                        const char *const *names, const int *req, size_t nreq)
{
    for (size_t i = 0; i < nreq; i++)
        if (idx[req[i]] < 0)
            return rcaeval_csv_fail(c, 1, 1, "no column named \"%s\"",
                                    names[req[i]]);
    return 0;
}

static uint32_t name_or_none(struct names *nm,
                             const struct rcaeval_csv_field *f, bool *oom)
{
    uint32_t id;

    if (rcaeval_csv_is_missing(f->p, f->len))
        return RCAEVAL_NO_NAME;
    id = names_id(nm, f->p, f->len);
    if (id == UINT32_MAX)
        *oom = true;
    return id;
}

/* One cell of a span row into sp; k is the cell's role (TC_*). */
static int span_cell(struct rcaeval_csv *c, struct traces_build *b,
                     struct rcaeval_span *sp, int role,
                     const struct rcaeval_csv_field *f)
{
    bool oom = false, missing = rcaeval_csv_is_missing(f->p, f->len);
    const char *s;
    char txt[48];

    if ((role == TC_SERVICE || role == TC_METHOD || role == TC_OPERATION) &&
        memchr(f->p, 0, f->len))
        return rcaeval_csv_fail(c, f->line, f->col, "%s holds a NUL byte",
                                trace_cols[role]);
    switch (role) {
    case TC_TRACE:
    case TC_SPAN:
    case TC_PARENT:
        s = arena_dup(&b->ar, missing ? "" : f->p, missing ? 0 : f->len);
        if (!s)
            return -INGEST_E_NOMEM;
        if (role == TC_TRACE)
            sp->trace_id = s;
        else if (role == TC_SPAN)
            sp->span_id = s;
        else
            sp->parent_id = s;
        return 0;
    case TC_SERVICE:
        sp->service = name_or_none(&b->nm, f, &oom);
        break;
    case TC_METHOD:
        sp->method = name_or_none(&b->nm, f, &oom);
        break;
    case TC_OPERATION:
        sp->operation = name_or_none(&b->nm, f, &oom);
        break;
    case TC_START_MS:
    case TC_START_US: {
        int64_t *v = role == TC_START_MS ? &sp->start_ms : &sp->start_us;
        /* within what nanoseconds can hold (the derived series count in
         * ns windows): about +-285 years around 1970 */
        int64_t lim = role == TC_START_MS ? INT64_C(9000000000000)
                                          : INT64_C(9000000000000000);
        if (!rcaeval_csv_int64(f->p, f->len, v))
            return rcaeval_csv_fail(
                c, f->line, f->col, "%s \"%s\" is not an integer",
                trace_cols[role],
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt));
        if (*v > lim || *v < -lim)
            return rcaeval_csv_fail(
                c, f->line, f->col,
                "%s %s is out of range (Unix time in %s, at most %" PRId64
                " in magnitude)",
                trace_cols[role],
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt),
                role == TC_START_MS ? "ms" : "us", lim);
        break;
    }
    case TC_DURATION:
    case TC_STATUS:
        if (missing) {
            if (role == TC_DURATION)
                sp->duration_us = NAN;
            else
                sp->status_code = NAN;
        } else if (!rcaeval_csv_number(f->p, f->len,
                                       role == TC_DURATION
                                           ? &sp->duration_us
                                           : &sp->status_code)) {
            return rcaeval_csv_fail(
                c, f->line, f->col, "%s \"%s\" is not a number",
                trace_cols[role],
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt));
        }
        break;
    }
    return oom ? -INGEST_E_NOMEM : 0;
}

struct span_row_ctx {
    struct rcaeval_csv *c;
    struct traces_build *b;
    struct rcaeval_span *sp;
    const int *role;
};

static int span_row_cell(void *ctx, size_t k, const struct rcaeval_csv_field *f)
{
    struct span_row_ctx *x = ctx;

    return x->role[k] >= 0 ? span_cell(x->c, x->b, x->sp, x->role[k], f) : 0;
}

static int traces_row(struct rcaeval_csv *c, struct traces_build *b,
                      const struct rcaeval_csv_header *h, const int *role,
                      bool *done)
{
    struct rcaeval_traces *tr = b->tr;
    struct rcaeval_span *sp;

    if (grow_array((void **)&tr->spans, &b->cap, tr->nspans + 1, sizeof(*sp)) <
        0)
        return -INGEST_E_NOMEM;
    sp = &tr->spans[tr->nspans];
    memset(sp, 0, sizeof(*sp));
    sp->trace_id = sp->span_id = sp->parent_id = "";
    sp->service = sp->method = sp->operation = RCAEVAL_NO_NAME;
    sp->status_code = NAN;
    struct span_row_ctx x = {c, b, sp, role};
    int rc = rcaeval_csv_row(c, h->n, span_row_cell, &x);

    *done = rc == 0;
    return rc < 0 ? rc : 0;
}

static int traces_fn(struct rcaeval_csv *c, void *out)
{
    static const int req[] = {TC_TRACE, TC_SPAN, TC_SERVICE, TC_OPERATION,
                              TC_DURATION};
    struct traces_build b = {0};
    struct rcaeval_csv_header h;
    int64_t idx[TC_N];
    int *role = NULL;
    bool done = false;
    int rc;

    b.tr = calloc(1, sizeof(*b.tr));
    if (!b.tr)
        return -INGEST_E_NOMEM;
    if ((rc = rcaeval_csv_header_read(c, &h)) < 0)
        goto out;
    map_columns(&h, trace_cols, TC_N, idx);
    if ((rc = need_columns(c, idx, trace_cols, req, 5)) < 0)
        goto out;
    if (idx[TC_START_MS] < 0 && idx[TC_START_US] < 0) {
        rc = rcaeval_csv_fail(c, 1, 1,
                              "no column named \"startTime\" or "
                              "\"startTimeMillis\"");
        goto out;
    }
    role = malloc(h.n * sizeof(*role));
    if (!role) {
        rc = -INGEST_E_NOMEM;
        goto out;
    }
    for (size_t k = 0; k < h.n; k++)
        role[k] = -1;
    for (int r = 0; r < TC_N; r++)
        if (idx[r] >= 0)
            role[idx[r]] = r;
    while (!done) {
        if ((rc = traces_row(c, &b, &h, role, &done)) < 0)
            goto out;
        if (done)
            break;
        struct rcaeval_span *sp = &b.tr->spans[b.tr->nspans++];

        /* RCAEval: startTime (us) and startTimeMillis (ms) hold the same
         * instant; derive the one that is missing. */
        if (idx[TC_START_MS] < 0)
            sp->start_ms = sp->start_us >= 0 ? sp->start_us / 1000
                                             : -((-sp->start_us + 999) / 1000);
        if (idx[TC_START_US] < 0)
            sp->start_us = sp->start_ms * 1000;
        if (sp->method == RCAEVAL_NO_NAME)
            sp->flags |= RCAEVAL_SPAN_NO_METHOD, sp->method = sp->operation;
    }
    b.tr->names = b.nm.v;
    b.tr->nnames = b.nm.n;
    b.nm.v = NULL;
    b.tr->arena = b.ar.blocks;
    b.tr->narena = b.ar.nblocks;
    b.ar.blocks = NULL;
    b.ar.nblocks = 0;
    *(struct rcaeval_traces **)out = b.tr;
    b.tr = NULL;
out:
    free(role);
    rcaeval_csv_header_free(&h);
    if (b.tr) {
        b.tr->names = b.nm.v;
        b.tr->nnames = b.nm.n;
        b.nm.v = NULL;
        rcaeval_traces_destroy(b.tr);
    }
    free(b.nm.slots);
    arena_free(&b.ar);
    return rc;
}

int rcaeval_traces_parse(const char *name, const char *buf, size_t len,
                         struct rcaeval_traces **out, char *err, size_t errlen)
{
    *out = NULL;
    return rcaeval_csv_run_memory(name, buf, len, traces_fn, out, err, errlen);
}

int rcaeval_traces_read(const char *path, struct rcaeval_traces **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    return rcaeval_csv_run_file(path, traces_fn, out, err, errlen);
}

void rcaeval_traces_destroy(struct rcaeval_traces *tr)
{
    if (!tr)
        return;
    for (size_t i = 0; i < tr->nnames; i++)
        free(tr->names[i]);
    free(tr->names);
    for (size_t i = 0; i < tr->narena; i++)
        free(tr->arena[i]);
    free(tr->arena);
    free(tr->spans);
    free(tr);
}

enum { LC_CONTAINER, LC_TIMESTAMP, LC_MESSAGE, LC_N };
static const char *const log_cols[LC_N] = {"container_name", "timestamp",
                                           "message"};

struct logs_build {
    struct rcaeval_logs *lg;
    struct names nm;
    struct arena ar;
    size_t cap;
};

static int log_cell(struct rcaeval_csv *c, struct logs_build *b,
                    struct rcaeval_log *l, int role,
                    const struct rcaeval_csv_field *f)
{
    bool oom = false;
    char txt[48];

    if (role == LC_CONTAINER) {
        if (memchr(f->p, 0, f->len))
            return rcaeval_csv_fail(c, f->line, f->col,
                                    "container_name holds a NUL byte");
        l->container = name_or_none(&b->nm, f, &oom);
        return oom ? -INGEST_E_NOMEM : 0;
    }
    if (role == LC_TIMESTAMP) {
        if (!rcaeval_csv_int64(f->p, f->len, &l->time_ns))
            return rcaeval_csv_fail(
                c, f->line, f->col,
                "timestamp \"%s\" is not an integer of Unix nanoseconds",
                rcaeval_csv_text(f->p, f->len, txt, sizeof txt));
        return 0;
    }
    l->message = arena_dup(&b->ar, f->p, f->len);
    return l->message ? 0 : -INGEST_E_NOMEM;
}

struct log_row_ctx {
    struct rcaeval_csv *c;
    struct logs_build *b;
    struct rcaeval_log *l;
    const int *role;
};

static int log_row_cell(void *ctx, size_t k, const struct rcaeval_csv_field *f)
{
    struct log_row_ctx *x = ctx;

    return x->role[k] >= 0 ? log_cell(x->c, x->b, x->l, x->role[k], f) : 0;
}

static int logs_row(struct rcaeval_csv *c, struct logs_build *b,
                    const struct rcaeval_csv_header *h, const int *role,
                    bool *done)
{
    struct rcaeval_logs *lg = b->lg;
    struct rcaeval_log *l;

    if (grow_array((void **)&lg->logs, &b->cap, lg->nlogs + 1, sizeof(*l)) < 0)
        return -INGEST_E_NOMEM;
    l = &lg->logs[lg->nlogs];
    memset(l, 0, sizeof(*l));
    l->message = "";
    l->container = RCAEVAL_NO_NAME;
    struct log_row_ctx x = {c, b, l, role};
    int rc = rcaeval_csv_row(c, h->n, log_row_cell, &x);

    *done = rc == 0;
    if (rc < 0)
        return rc;
    lg->nlogs += rc == 1;
    return 0;
}

static int logs_fn(struct rcaeval_csv *c, void *out)
{
    static const int req[] = {LC_CONTAINER, LC_TIMESTAMP};
    struct logs_build b = {0};
    struct rcaeval_csv_header h;
    int64_t idx[LC_N];
    int *role = NULL;
    bool done = false;
    int rc;

    b.lg = calloc(1, sizeof(*b.lg));
    if (!b.lg)
        return -INGEST_E_NOMEM;
    if ((rc = rcaeval_csv_header_read(c, &h)) < 0)
        goto out;
    map_columns(&h, log_cols, LC_N, idx);
    if ((rc = need_columns(c, idx, log_cols, req, 2)) < 0)
        goto out;
    role = malloc(h.n * sizeof(*role));
    if (!role) {
        rc = -INGEST_E_NOMEM;
        goto out;
    }
    for (size_t k = 0; k < h.n; k++)
        role[k] = -1;
    for (int r = 0; r < LC_N; r++)
        if (idx[r] >= 0)
            role[idx[r]] = r;
    while (!done)
        if ((rc = logs_row(c, &b, &h, role, &done)) < 0)
            goto out;
out:
    free(role);
    rcaeval_csv_header_free(&h);
    b.lg->names = b.nm.v;
    b.lg->nnames = b.nm.n;
    b.lg->arena = b.ar.blocks;
    b.lg->narena = b.ar.nblocks;
    free(b.nm.slots);
    if (rc < 0)
        rcaeval_logs_destroy(b.lg);
    else
        *(struct rcaeval_logs **)out = b.lg;
    return rc;
}

int rcaeval_logs_parse(const char *name, const char *buf, size_t len,
                       struct rcaeval_logs **out, char *err, size_t errlen)
{
    *out = NULL;
    return rcaeval_csv_run_memory(name, buf, len, logs_fn, out, err, errlen);
}

int rcaeval_logs_read(const char *path, struct rcaeval_logs **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    return rcaeval_csv_run_file(path, logs_fn, out, err, errlen);
}

void rcaeval_logs_destroy(struct rcaeval_logs *lg)
{
    if (!lg)
        return;
    for (size_t i = 0; i < lg->nnames; i++)
        free(lg->names[i]);
    free(lg->names);
    for (size_t i = 0; i < lg->narena; i++)
        free(lg->arena[i]);
    free(lg->arena);
    free(lg->logs);
    free(lg);
}

/* ---------------------------------------------------------------------
 * The derived multi-source series (rca-llm's RCAEval/utility/__init__.py)
 * --------------------------------------------------------------------- */

/* Python's a // b for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A counts table: rows = the distinct values of win[0..n) sorted, columns
 * = names sorted by byte order; each i with col[i] != RCAEVAL_NO_NAME and
 * hit[i] adds 1 at (its window, its column). */
static int count_table(const int64_t *win, const uint32_t *col, const bool *hit,
                       size_t n, char **names, size_t nnames, int64_t window_s,
                       struct series_table **out)
{
    int64_t *rows = malloc((n ? n : 1) * sizeof(*rows));
    char **sorted = malloc((nnames ? nnames : 1) * sizeof(*sorted));
    size_t *rank = malloc((nnames ? nnames : 1) * sizeof(*rank));
    struct series_table *t = NULL;
    size_t nr = 0;
    int rc = -INGEST_E_NOMEM;

    *out = NULL;
    if (!rows || !sorted || !rank)
        goto out;
    if (n)
        memcpy(rows, win, n * sizeof(*rows));
    qsort(rows, n, sizeof(*rows), i64_cmp);
    for (size_t i = 0; i < n; i++)
        if (!nr || rows[nr - 1] != rows[i])
            rows[nr++] = rows[i];
    if (nnames)
        memcpy(sorted, names, nnames * sizeof(*sorted));
    qsort(sorted, nnames, sizeof(*sorted), str_cmp);
    for (size_t j = 0; j < nnames; j++) {
        char **p = bsearch(&names[j], sorted, nnames, sizeof(*sorted), str_cmp);
        rank[j] = (size_t)(p - sorted);
    }
    t = series_table_create(nr, nnames);
    if (!t)
        goto out;
    for (size_t r = 0; r < nr; r++)
        t->time_ns[r] = rows[r] * window_s * 1000000000;
    for (size_t j = 0; j < nnames; j++) {
        if (series_table_set_name(t, j, sorted[j]) < 0)
            goto out;
        for (size_t r = 0; r < nr; r++)
            series_table_col(t, j)[r] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t *p;

        if (col[i] == RCAEVAL_NO_NAME || !hit[i])
            continue;
        p = bsearch(&win[i], rows, nr, sizeof(*rows), i64_cmp);
        series_table_col(t, rank[col[i]])[p - rows] += 1;
    }
    *out = t;
    t = NULL;
    rc = 0;
out:
    series_table_destroy(t);
    free(rows);
    free(sorted);
    free(rank);
    return rc;
}

int rcaeval_logts(const struct rcaeval_logs *lg, int64_t window_ms,
                  struct series_table **out)
{
    size_t n = lg->nlogs;
    int64_t *win = malloc((n ? n : 1) * sizeof(*win));
    uint32_t *col = malloc((n ? n : 1) * sizeof(*col));
    bool *hit = malloc((n ? n : 1) * sizeof(*hit));
    int rc = -INGEST_E_NOMEM;

    *out = NULL;
    if (window_ms <= 0)
        window_ms = 5000;
    if (win && col && hit) {
        for (size_t i = 0; i < n; i++) {
            /* (timestamp // 1_000_000 // window_ms): the window index;
             * times window_ms // 1000 it is Unix seconds. */
            win[i] =
                floor_div(floor_div(lg->logs[i].time_ns, 1000000), window_ms);
            col[i] = lg->logs[i].container;
            hit[i] = true;
        }
        rc = count_table(win, col, hit, n, lg->names, lg->nnames,
                         window_ms / 1000, out);
    }
    free(win);
    free(col);
    free(hit);
    return rc;
}

int rcaeval_tracets(const struct rcaeval_traces *tr, int64_t window_ms,
                    bool success, struct series_table **out)
{
    size_t n = tr->nspans;
    int64_t *win = malloc((n ? n : 1) * sizeof(*win));
    uint32_t *col = malloc((n ? n : 1) * sizeof(*col));
    bool *hit = malloc((n ? n : 1) * sizeof(*hit));
    struct names nm = {0};
    char *key = NULL;
    size_t keycap = 0;
    int rc = -INGEST_E_NOMEM;

    *out = NULL;
    if (window_ms <= 0)
        window_ms = 5000;
    if (!win || !col || !hit)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct rcaeval_span *sp = &tr->spans[i];
        double s = sp->status_code;

        win[i] = floor_div(sp->start_ms, window_ms);
        hit[i] = (s >= 200 && s < 300) == success;
        col[i] = RCAEVAL_NO_NAME;
        if (sp->service == RCAEVAL_NO_NAME ||
            (sp->flags & RCAEVAL_SPAN_NO_METHOD) ||
            sp->method == RCAEVAL_NO_NAME)
            continue; /* pandas: NaN + "_" + x is NaN, dropped */
        const char *a = tr->names[sp->service], *b = tr->names[sp->method];
        size_t la = strlen(a), lb = strlen(b);

        if (grow_array((void **)&key, &keycap, la + lb + 2, 1) < 0)
            goto out;
        memcpy(key, a, la);
        key[la] = '_';
        memcpy(key + la + 1, b, lb + 1);
        col[i] = names_id(&nm, key, la + lb + 1);
        if (col[i] == UINT32_MAX)
            goto out;
    }
    rc = count_table(win, col, hit, n, nm.v, nm.n, window_ms / 1000, out);
out:
    for (size_t j = 0; j < nm.n; j++)
        free(nm.v[j]);
    free(nm.v);
    free(nm.slots);
    free(key);
    free(win);
    free(col);
    free(hit);
    return rc;
}
