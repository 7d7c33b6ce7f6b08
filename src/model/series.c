/* series: the store of raw samples, keyed (entity, metric, labels) -> id,
 * and the one counter-increase rule. Tables live in series_table.c, the
 * store -> table alignment in series_align.c. See series.h. */
#include "model/series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

const char *series_strerror(int status)
{
    switch (status < 0 ? -status : status) {
    case SERIES_OK:
        return "ok";
    case SERIES_E_NOMEM:
        return "out of memory";
    case SERIES_E_KIND:
        return "series already registered with another kind";
    case SERIES_E_INVAL:
        return "invalid argument";
    case SERIES_E_MISMATCH:
        return "tables do not match";
    }
    return "unknown series status";
}

double series_counter_delta(double prev, double cur, double wrap)
{
    if (isnan(prev) || isnan(cur))
        return NAN;
    if (cur >= prev)
        return cur - prev;
    /* A wrap leaves the counter just past 0 after it was just below the
     * modulus; anything else that goes down is a restart from 0. */
    if (wrap > 0 && prev < wrap && (wrap - prev) + cur < wrap / 2)
        return (wrap - prev) + cur;
    return cur >= 0 ? cur : 0;
}

/* One series. Samples are t[head .. head+len), v likewise; the prefix
 * before head was dropped by the horizon and is reclaimed by compaction. */
struct ser {
    char *entity;
    char *metric;
    struct series_label *labels;
    size_t nlabels;
    enum series_kind kind;
    double wrap;
    uint64_t hash;
    int64_t *t;
    double *v;
    size_t head, len, cap;
};

struct series_store {
    struct ser *ser;
    size_t n, cap;
    uint32_t *slots; /* open addressing: id + 1, 0 = empty */
    size_t nslots;   /* power of two */
    int64_t horizon_ns;
};

struct series_store *series_store_create(void)
{
    return calloc(1, sizeof(struct series_store));
}

static void ser_free(struct ser *r)
{
    free(r->entity); /* one block holds every string of the key */
    free(r->labels);
    free(r->t);
    free(r->v);
}

void series_store_destroy(struct series_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        ser_free(&s->ser[i]);
    free(s->ser);
    free(s->slots);
    free(s);
}

/* ---- keys ---- */

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct series_label *)a)->name,
                  ((const struct series_label *)b)->name);
}

/* Normalised label set: non-empty values, sorted by name, names unique.
 * *out is malloc'd (NULL when none). Returns count or a negated status. */
static int64_t norm_labels(const struct series_label *in, size_t n,
                           struct series_label **out)
{
    struct series_label *l;
    size_t k = 0;

    *out = NULL;
    if (n == 0)
        return 0;
    if (!in)
        return -SERIES_E_INVAL;
    l = malloc(n * sizeof(*l));
    if (!l)
        return -SERIES_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!in[i].name || !in[i].value)
            goto inval;
        if (in[i].value[0])
            l[k++] = in[i];
    }
    qsort(l, k, sizeof(*l), label_cmp);
    for (size_t i = 1; i < k; i++)
        if (!strcmp(l[i - 1].name, l[i].name))
            goto inval;
    if (k == 0) {
        free(l);
        l = NULL;
    }
    *out = l;
    return (int64_t)k;
inval:
    free(l);
    return -SERIES_E_INVAL;
}

static uint64_t hash_str(uint64_t h, const char *p)
{
    /* FNV-1a over the bytes and the terminating NUL, mixed at the end. */
    do {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ull;
    } while (*p++);
    return h;
}

static uint64_t key_hash(const char *entity, const char *metric,
                         const struct series_label *l, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    h = hash_str(h, entity);
    h = hash_str(h, metric);
    for (size_t i = 0; i < n; i++) {
        h = hash_str(h, l[i].name);
        h = hash_str(h, l[i].value);
    }
    return hash_mix64(h);
}

static bool key_eq(const struct ser *r, const char *entity, const char *metric,
                   const struct series_label *l, size_t n)
{
    if (r->nlabels != n || strcmp(r->entity, entity) ||
        strcmp(r->metric, metric))
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(r->labels[i].name, l[i].name) ||
            strcmp(r->labels[i].value, l[i].value))
            return false;
    return true;
}

static int64_t lookup(const struct series_store *s, uint64_t h,
                      const char *entity, const char *metric,
                      const struct series_label *l, size_t n)
{
    if (!s->nslots)
        return -1;
    for (size_t i = h & (s->nslots - 1);; i = (i + 1) & (s->nslots - 1)) {
        uint32_t slot = s->slots[i];

        if (!slot)
            return -1;
        if (s->ser[slot - 1].hash == h &&
            key_eq(&s->ser[slot - 1], entity, metric, l, n))
            return slot - 1;
    }
}

static void slot_put(uint32_t *slots, size_t nslots, uint64_t h, uint32_t id)
{
    size_t i = h & (nslots - 1);

    while (slots[i])
        i = (i + 1) & (nslots - 1);
    slots[i] = id + 1;
}

static int grow_slots(struct series_store *s)
{
    size_t ns = s->nslots ? s->nslots * 2 : 64;
    uint32_t *sl;

    if ((s->n + 1) * 2 <= s->nslots)
        return 0;
    sl = calloc(ns, sizeof(*sl));
    if (!sl)
        return -SERIES_E_NOMEM;
    for (size_t i = 0; i < s->n; i++)
        slot_put(sl, ns, s->ser[i].hash, (uint32_t)i);
    free(s->slots);
    s->slots = sl;
    s->nslots = ns;
    return 0;
}

/* Copy the key's strings into one block owned by r. */
static int ser_set_key(struct ser *r, const char *entity, const char *metric,
                       const struct series_label *l, size_t n)
{
    size_t total = strlen(entity) + strlen(metric) + 2;
    char *p;

    for (size_t i = 0; i < n; i++)
        total += strlen(l[i].name) + strlen(l[i].value) + 2;
    p = malloc(total);
    if (!p)
        return -SERIES_E_NOMEM;
    if (n) {
        r->labels = malloc(n * sizeof(*r->labels));
        if (!r->labels) {
            free(p);
            return -SERIES_E_NOMEM;
        }
    }
    r->nlabels = n;
    r->entity = p;
    p = stpcpy(p, entity) + 1;
    r->metric = p;
    p = stpcpy(p, metric) + 1;
    for (size_t i = 0; i < n; i++) {
        r->labels[i].name = p;
        p = stpcpy(p, l[i].name) + 1;
        r->labels[i].value = p;
        p = stpcpy(p, l[i].value) + 1;
    }
    return 0;
}

int64_t series_store_intern(struct series_store *s, const struct series_desc *d)
{
    struct series_label *l = NULL;
    struct ser *r;
    int64_t n, id;
    uint64_t h;
    int rc;

    if (!d || !d->entity || !d->metric ||
        (d->kind != SERIES_GAUGE && d->kind != SERIES_COUNTER))
        return -SERIES_E_INVAL;
    n = norm_labels(d->labels, d->nlabels, &l);
    if (n < 0)
        return n;
    h = key_hash(d->entity, d->metric, l, (size_t)n);
    id = lookup(s, h, d->entity, d->metric, l, (size_t)n);
    if (id >= 0) {
        r = &s->ser[id];
        free(l);
        if (r->kind != d->kind)
            return -SERIES_E_KIND;
        if (d->wrap > 0 && r->kind == SERIES_COUNTER)
            r->wrap = d->wrap;
        return id;
    }
    if (s->n >= UINT32_MAX - 1) {
        free(l);
        return -SERIES_E_NOMEM;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct ser *ns = realloc(s->ser, nc * sizeof(*ns));

        if (!ns) {
            free(l);
            return -SERIES_E_NOMEM;
        }
        s->ser = ns;
        s->cap = nc;
    }
    if ((rc = grow_slots(s)) < 0) {
        free(l);
        return rc;
    }
    r = &s->ser[s->n];
    memset(r, 0, sizeof(*r));
    rc = ser_set_key(r, d->entity, d->metric, l, (size_t)n);
    free(l);
    if (rc < 0)
        return rc;
    r->kind = d->kind;
    r->wrap = d->kind == SERIES_COUNTER && d->wrap > 0 ? d->wrap : 0;
    r->hash = h;
    slot_put(s->slots, s->nslots, h, (uint32_t)s->n);
    return (int64_t)s->n++;
}

int64_t series_store_find(const struct series_store *s, const char *entity,
                          const char *metric, const struct series_label *labels,
                          size_t nlabels)
{
    struct series_label *l = NULL;
    int64_t n, id;

    if (!entity || !metric)
        return -1;
    n = norm_labels(labels, nlabels, &l);
    if (n < 0)
        return -1;
    id = lookup(s, key_hash(entity, metric, l, (size_t)n), entity, metric, l,
                (size_t)n);
    free(l);
    return id;
}

/* ---- samples ---- */

/* First index i in [0, len) of r's live samples with t[i] >= t (len when
 * none). */
static size_t lower_bound(const struct ser *r, int64_t t)
{
    const int64_t *ts = r->t + r->head;
    size_t lo = 0, hi = r->len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void compact(struct ser *r)
{
    if (!r->head)
        return;
    memmove(r->t, r->t + r->head, r->len * sizeof(*r->t));
    memmove(r->v, r->v + r->head, r->len * sizeof(*r->v));
    r->head = 0;
}

static int reserve_one(struct ser *r)
{
    size_t nc;
    int64_t *nt;
    double *nv;

    if (r->head + r->len < r->cap)
        return 0;
    if (r->head && r->head >= r->cap / 2) {
        compact(r);
        return 0;
    }
    nc = r->cap ? r->cap * 2 : 16;
    nt = realloc(r->t, nc * sizeof(*nt));
    if (!nt)
        return -SERIES_E_NOMEM;
    r->t = nt;
    nv = realloc(r->v, nc * sizeof(*nv));
    if (!nv)
        return -SERIES_E_NOMEM;
    r->v = nv;
    r->cap = nc;
    return 0;
}

/* Drop the samples older than cut except the newest of them. */
static size_t drop_before(struct ser *r, int64_t cut)
{
    size_t k = 0;

    while (r->len >= 2 && r->t[r->head + 1] < cut) {
        r->head++;
        r->len--;
        k++;
    }
    if (r->head > 64 && r->head > r->len)
        compact(r);
    return k;
}

int series_store_append(struct series_store *s, uint32_t id, int64_t t_ns,
                        double v)
{
    struct ser *r;
    size_t i;
    int rc;

    if (id >= s->n)
        return -SERIES_E_INVAL;
    r = &s->ser[id];
    if (r->len && t_ns <= r->t[r->head + r->len - 1]) {
        i = lower_bound(r, t_ns);
        if (r->t[r->head + i] == t_ns) {
            r->v[r->head + i] = v;
            return 0;
        }
    } else {
        i = r->len;
    }
    if ((rc = reserve_one(r)) < 0)
        return rc;
    if (i < r->len) {
        size_t at = r->head + i;

        memmove(r->t + at + 1, r->t + at, (r->len - i) * sizeof(*r->t));
        memmove(r->v + at + 1, r->v + at, (r->len - i) * sizeof(*r->v));
    }
    r->t[r->head + i] = t_ns;
    r->v[r->head + i] = v;
    r->len++;
    if (s->horizon_ns > 0) {
        int64_t newest = r->t[r->head + r->len - 1];

        if (newest > INT64_MIN + s->horizon_ns)
            drop_before(r, newest - s->horizon_ns);
    }
    return 0;
}

void series_store_set_horizon(struct series_store *s, int64_t horizon_ns)
{
    s->horizon_ns = horizon_ns > 0 ? horizon_ns : 0;
}

size_t series_store_trim(struct series_store *s, int64_t before_ns)
{
    size_t k = 0;

    for (size_t i = 0; i < s->n; i++)
        k += drop_before(&s->ser[i], before_ns);
    return k;
}

size_t series_store_count(const struct series_store *s)
{
    return s->n;
}

const char *series_entity(const struct series_store *s, uint32_t id)
{
    return id < s->n ? s->ser[id].entity : NULL;
}

const char *series_metric(const struct series_store *s, uint32_t id)
{
    return id < s->n ? s->ser[id].metric : NULL;
}

enum series_kind series_kind(const struct series_store *s, uint32_t id)
{
    return id < s->n ? s->ser[id].kind : SERIES_GAUGE;
}

double series_wrap(const struct series_store *s, uint32_t id)
{
    return id < s->n ? s->ser[id].wrap : 0;
}

const struct series_label *series_labels(const struct series_store *s,
                                         uint32_t id, size_t *n)
{
    *n = id < s->n ? s->ser[id].nlabels : 0;
    return id < s->n ? s->ser[id].labels : NULL;
}

const char *series_label(const struct series_store *s, uint32_t id,
                         const char *name)
{
    if (id >= s->n)
        return NULL;
    for (size_t i = 0; i < s->ser[id].nlabels; i++)
        if (!strcmp(s->ser[id].labels[i].name, name))
            return s->ser[id].labels[i].value;
    return NULL;
}

size_t series_len(const struct series_store *s, uint32_t id)
{
    return id < s->n ? s->ser[id].len : 0;
}

const int64_t *series_times(const struct series_store *s, uint32_t id)
{
    return id < s->n && s->ser[id].t ? s->ser[id].t + s->ser[id].head : NULL;
}

const double *series_values(const struct series_store *s, uint32_t id)
{
    return id < s->n && s->ser[id].v ? s->ser[id].v + s->ser[id].head : NULL;
}

size_t series_range(const struct series_store *s, uint32_t id, int64_t t0_ns,
                    int64_t t1_ns, size_t *first)
{
    size_t a, b;

    *first = 0;
    if (id >= s->n || t1_ns <= t0_ns)
        return 0;
    a = lower_bound(&s->ser[id], t0_ns);
    b = lower_bound(&s->ser[id], t1_ns);
    *first = a;
    return b - a;
}

static bool labels_match(const struct ser *r, const struct series_label *m,
                         size_t nm)
{
    for (size_t j = 0; j < nm; j++) {
        bool found = false;

        for (size_t i = 0; i < r->nlabels && !found; i++)
            found = !strcmp(r->labels[i].name, m[j].name) &&
                    !strcmp(r->labels[i].value, m[j].value);
        if (!found)
            return false;
    }
    return true;
}

size_t series_store_select(const struct series_store *s, const char *entity,
                           const char *metric, const struct series_label *match,
                           size_t nmatch, uint32_t *ids, size_t max)
{
    size_t k = 0;

    for (size_t i = 0; i < s->n; i++) {
        const struct ser *r = &s->ser[i];

        if ((entity && strcmp(r->entity, entity)) ||
            (metric && strcmp(r->metric, metric)) ||
            !labels_match(r, match, nmatch))
            continue;
        if (k < max)
            ids[k] = (uint32_t)i;
        k++;
    }
    return k;
}

bool series_store_time_span(const struct series_store *s, const uint32_t *ids,
                            size_t nids, int64_t *tmin_ns, int64_t *tmax_ns)
{
    bool any = false;
    size_t n = ids ? nids : s->n;

    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids ? ids[i] : (uint32_t)i;
        const struct ser *r;

        if (id >= s->n || !s->ser[id].len)
            continue;
        r = &s->ser[id];
        if (!any || r->t[r->head] < *tmin_ns)
            *tmin_ns = r->t[r->head];
        if (!any || r->t[r->head + r->len - 1] > *tmax_ns)
            *tmax_ns = r->t[r->head + r->len - 1];
        any = true;
    }
    return any;
}

size_t series_store_memory(const struct series_store *s)
{
    size_t m =
        sizeof(*s) + s->cap * sizeof(*s->ser) + s->nslots * sizeof(*s->slots);

    for (size_t i = 0; i < s->n; i++) {
        const struct ser *r = &s->ser[i];

        m += r->cap * (sizeof(*r->t) + sizeof(*r->v));
        m += r->nlabels * sizeof(*r->labels) + strlen(r->entity) +
             strlen(r->metric) + 2;
        for (size_t j = 0; j < r->nlabels; j++)
            m += strlen(r->labels[j].name) + strlen(r->labels[j].value) + 2;
    }
    return m;
}
