/* prom_range: Prometheus /api/v1/query_range (and /api/v1/query) JSON ->
 * series_store, streamed with json_lex. See prom_range.h. */
#include "ingest/prom_range.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/json_lex.h"
#include "ingest/prom_common.h"
#include "ingest/rcaeval_csv.h"
#include "ingest/source.h"
#include "model/series.h"
#include "util/grow.h"

struct prr {
    struct json_lex *lx;
    struct series_store *st;
    const struct prom_opts *opts;
    int64_t samples;
    /* The current result: labels as offsets into lb, samples. */
    struct json_buf lb;
    size_t *loff; /* 2 per label: name, value */
    size_t nl, lcap;
    int64_t *t;
    double *v;
    size_t ns, tcap, vcap;
    struct series_label *sl;
    size_t slcap;
    bool bad_type; /* resultType is scalar or string */
};

/* Append s[0..n) and a NUL to lb; *off gets its offset. */
static int lb_put(struct prr *c, const char *s, size_t n, size_t *off)
{
    struct json_buf *b = &c->lb;

    if (grow_array((void **)&b->p, &b->cap, b->len + n + 1, 1) < 0)
        return json_lex_nomem(c->lx);
    *off = b->len;
    memcpy(b->p + b->len, s, n);
    b->p[b->len + n] = 0;
    b->len += n + 1;
    return 0;
}

/* "metric": {"name": "value", ...} */
static int metric_obj(struct prr *c)
{
    struct json_str k, t;
    int type, r;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        size_t kn;

        if (k.esc)
            return json_lex_fail(c->lx, "a label name without escapes");
        if (grow_array((void **)&c->loff, &c->lcap, 2 * c->nl + 2,
                       sizeof(*c->loff)) < 0)
            return json_lex_nomem(c->lx);
        if ((r = lb_put(c, k.p, k.len, &kn)) < 0)
            return r;
        if ((r = json_lex_text(c->lx, &t, &type)) < 0)
            return r;
        if (type != JSON_STRING)
            return json_lex_fail(c->lx, "a label value as a string");
        if (memchr(t.p, 0, t.len))
            return json_lex_fail(c->lx, "a label value without NUL bytes");
        c->loff[2 * c->nl] = kn;
        if ((r = lb_put(c, t.p, t.len, &c->loff[2 * c->nl + 1])) < 0)
            return r;
        c->nl++;
    }
    return r;
}

/* [1700000000.5, "0.25"] */
static int pair(struct prr *c)
{
    struct json_str t;
    int type, r;

    if ((r = json_lex_begin_array(c->lx)) < 0)
        return r;
    if (r == 0 || (r = json_lex_next_elem(c->lx)) <= 0)
        return r < 0 ? r : json_lex_fail(c->lx, "[time, \"value\"]");
    if (grow_array((void **)&c->t, &c->tcap, c->ns + 1, sizeof(*c->t)) < 0 ||
        grow_array((void **)&c->v, &c->vcap, c->ns + 1, sizeof(*c->v)) < 0)
        return json_lex_nomem(c->lx);
    if ((r = json_lex_text(c->lx, &t, &type)) < 0)
        return r;
    if ((type != JSON_NUMBER && type != JSON_STRING) ||
        !rcaeval_csv_time_s(t.p, t.len, &c->t[c->ns]))
        return json_lex_fail(c->lx, "a time in Unix seconds");
    if ((r = json_lex_next_elem(c->lx)) <= 0)
        return r < 0 ? r
                     : json_lex_fail(c->lx, "a sample value after the "
                                            "time");
    if ((r = json_lex_text(c->lx, &t, &type)) < 0)
        return r;
    if ((type != JSON_STRING && type != JSON_NUMBER) ||
        !prom_parse_value(t.p, t.len, &c->v[c->ns]))
        return json_lex_fail(c->lx, "a sample value (\"1.5\", \"NaN\", "
                                    "\"+Inf\")");
    if ((r = json_lex_next_elem(c->lx)) != 0) {
        /* Point at the extra element: consume it, it is the last token. */
        if (r > 0 && (r = json_lex_skip(c->lx)) == 0)
            r = json_lex_fail(c->lx, "']' after [time, value]");
        return r;
    }
    c->ns++;
    return 0;
}

static bool counter_name(const char *m)
{
    static const char *const suf[] = {"_total", "_count", "_sum", "_bucket"};
    size_t n = strlen(m);

    for (size_t i = 0; i < sizeof(suf) / sizeof(*suf); i++) {
        size_t k = strlen(suf[i]);

        if (n > k && !strcmp(m + n - k, suf[i]))
            return true;
    }
    return false;
}

/* The finished result object -> one series. */
static int flush(struct prr *c)
{
    struct series_desc d = {0};
    const char *metric = NULL;
    size_t k = 0, nextra = c->opts ? c->opts->nextra : 0;
    int64_t id;
    int ent;

    if (grow_array((void **)&c->sl, &c->slcap, c->nl + nextra + 1,
                   sizeof(*c->sl)) < 0)
        return json_lex_nomem(c->lx);
    for (size_t i = 0; i < c->nl; i++) {
        const char *n = c->lb.p + c->loff[2 * i];
        const char *v = c->lb.p + c->loff[2 * i + 1];

        if (!strcmp(n, "__name__"))
            metric = v;
        else
            c->sl[k].name = n, c->sl[k++].value = v;
    }
    ent = prom_entity_label(c->opts, c->sl, k);
    d.entity = ent >= 0                             ? c->sl[ent].value
               : c->opts && c->opts->default_entity ? c->opts->default_entity
                                                    : "";
    if (ent >= 0) {
        memmove(&c->sl[ent], &c->sl[ent + 1],
                (k - (size_t)ent - 1) * sizeof(*c->sl));
        k--;
    }
    for (size_t e = 0; e < nextra; e++) {
        bool dup = false;

        for (size_t i = 0; i < k && !dup; i++)
            dup = !strcmp(c->sl[i].name, c->opts->extra_labels[e].name);
        if (!dup)
            c->sl[k++] = c->opts->extra_labels[e];
    }
    d.metric = metric ? metric : "value";
    d.labels = c->sl;
    d.nlabels = k;
    d.kind = metric && counter_name(metric) ? SERIES_COUNTER : SERIES_GAUGE;
    id = series_store_intern(c->st, &d);
    if (id == -SERIES_E_KIND || id == -SERIES_E_INVAL)
        return json_lex_fail_mark(c->lx,
                                  id == -SERIES_E_KIND
                                      ? "series %s of one kind only"
                                      : "a valid label set for %s",
                                  d.metric);
    if (id < 0)
        return json_lex_nomem(c->lx);
    for (size_t i = 0; i < c->ns; i++)
        if (series_store_append(c->st, (uint32_t)id, c->t[i], c->v[i]) < 0)
            return json_lex_nomem(c->lx);
    c->samples += (int64_t)c->ns;
    return 0;
}

/* {"metric": {...}, "values": [[t, "v"], ...]} or "value": [t, "v"] */
static int result(struct prr *c)
{
    struct json_str k;
    int r;

    c->lb.len = 0;
    c->nl = 0;
    c->ns = 0;
    json_lex_mark(c->lx);
    if (json_lex_peek(c->lx) != JSON_OBJECT || c->bad_type)
        return json_lex_fail_mark(c->lx, "a series object {\"metric\": ..., "
                                         "\"values\": ...} (resultType "
                                         "matrix or vector)");
    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "metric")) {
            r = metric_obj(c);
        } else if (JSON_KEY_IS(&k, "values")) {
            if ((r = json_lex_begin_array(c->lx)) > 0)
                while ((r = json_lex_next_elem(c->lx)) > 0)
                    if ((r = pair(c)) < 0)
                        break;
        } else if (JSON_KEY_IS(&k, "value")) {
            r = pair(c);
        } else {
            r = json_lex_skip(c->lx); /* histogram(s), anything new */
        }
        if (r < 0)
            return r;
    }
    return r < 0 ? r : flush(c);
}

static int data_obj(struct prr *c)
{
    struct json_str k, t;
    int type, r;

    if ((r = json_lex_begin_object(c->lx)) <= 0)
        return r;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "resultType")) {
            if ((r = json_lex_text(c->lx, &t, &type)) < 0)
                return r;
            c->bad_type = !((t.len == 6 && !memcmp(t.p, "matrix", 6)) ||
                            (t.len == 6 && !memcmp(t.p, "vector", 6)));
            if (c->bad_type)
                return json_lex_fail(c->lx, "resultType \"matrix\" or "
                                            "\"vector\"");
        } else if (JSON_KEY_IS(&k, "result")) {
            if ((r = json_lex_begin_array(c->lx)) > 0)
                while ((r = json_lex_next_elem(c->lx)) > 0)
                    if ((r = result(c)) < 0)
                        break;
        } else {
            r = json_lex_skip(c->lx);
        }
        if (r < 0)
            return r;
    }
    return r;
}

static int top(struct prr *c)
{
    struct json_str k, t;
    struct json_buf status = {0}, error = {0};
    int type, r;

    json_lex_mark(c->lx);
    if (json_lex_peek(c->lx) != JSON_OBJECT)
        return json_lex_fail_mark(c->lx, "a Prometheus API response "
                                         "{\"status\": ..., \"data\": ...}");
    if ((r = json_lex_begin_object(c->lx)) <= 0)
        goto out;
    while ((r = json_lex_next_key(c->lx, &k)) > 0) {
        if (JSON_KEY_IS(&k, "status") || JSON_KEY_IS(&k, "error")) {
            bool is_status = JSON_KEY_IS(&k, "status");

            if ((r = json_lex_text(c->lx, &t, &type)) == 0)
                r = json_lex_copy(c->lx, is_status ? &status : &error, t.p,
                                  t.len);
        } else if (JSON_KEY_IS(&k, "data")) {
            r = data_obj(c);
        } else {
            r = json_lex_skip(c->lx);
        }
        if (r < 0)
            goto out;
    }
    if (r < 0)
        goto out;
    if (status.p && status.len == 5 && !memcmp(status.p, "error", 5)) {
        r = json_lex_fail_mark(c->lx,
                               "a successful response; Prometheus returned "
                               "the error \"%.*s\"",
                               (int)(error.len > 200 ? 200 : error.len),
                               error.p ? error.p : "");
        goto out;
    }
    json_lex_mark(c->lx);
    if (json_lex_peek(c->lx) != JSON_EOF)
        r = json_lex_fail_mark(c->lx, "the end of the document");
out:
    free(status.p);
    free(error.p);
    return r < 0 ? r : 0;
}

int64_t prom_range_read_source(struct series_store *store, struct source *src,
                               const struct prom_opts *opts, char *err,
                               size_t errlen)
{
    struct prr c = {0};
    int r;

    c.lx = json_lex_create(src, 0);
    if (!c.lx) {
        snprintf(err, errlen, "%s: out of memory", source_name(src));
        return -INGEST_E_NOMEM;
    }
    c.st = store;
    c.opts = opts;
    r = top(&c);
    if (r < 0)
        snprintf(err, errlen, "%s", json_lex_message(c.lx));
    json_lex_destroy(c.lx);
    free(c.lb.p);
    free(c.loff);
    free(c.t);
    free(c.v);
    free(c.sl);
    return r < 0 ? r : c.samples;
}

int64_t prom_range_read(struct series_store *store, const char *path,
                        const struct prom_opts *opts, char *err, size_t errlen)
{
    struct source *src = source_open(path, err, errlen);
    int64_t r;

    if (!src)
        return -INGEST_E_NOINPUT;
    r = prom_range_read_source(store, src, opts, err, errlen);
    source_close(src);
    return r;
}
