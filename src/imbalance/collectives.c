/* collectives: matching the collective spans of tensor-parallel ranks
 * across their clock domains, on the reference clock, and the per-row
 * panels (lateness, wait, period) the straggler detector reads. The
 * matching rule is stated in collectives.h. */
#include "imbalance/collectives.h"

#include <stdlib.h>
#include <string.h>

#include "imbalance/imbalance.h"
#include "imbalance/signals.h"
#include "model/clock_model.h"
#include "model/span_store.h"

int imb_panel_unit(struct imb_panels *p, int r, const struct imb_unit *u);

struct imb_collectives *imb_collectives_create(void)
{
    return calloc(1, sizeof(struct imb_collectives));
}

void imb_collectives_destroy(struct imb_collectives *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nranks; i++)
        free(c->ranks[i]);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i]);
    free(c->ranks);
    free(c->groups);
    free(c->v);
    free(c->m);
    free(c->prefill_ns);
    free(c);
}

/* Index of name in v[0..*n), appended when new; -1 when out of memory. */
static int64_t intern(char ***v, size_t *n, const char *name)
{
    char **nv;

    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i], name))
            return (int64_t)i;
    if (!(nv = realloc(*v, (*n + 1) * sizeof(*nv))))
        return -1;
    *v = nv;
    if (!(nv[*n] = strdup(name)))
        return -1;
    return (int64_t)(*n)++;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    void *nv;
    size_t c = *cap ? *cap : 64;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    if (!(nv = realloc(*v, c * size)))
        return -IMB_E_NOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

int imb_collectives_add(struct imb_collectives *c, const char *group, size_t n,
                        const char *const *ranks, const int64_t *arrive_ns,
                        const int64_t *arrive_raw_ns, const int64_t *wait_ns,
                        int64_t period_ns)
{
    int64_t g = intern(&c->groups, &c->ngroups, group);
    int64_t t = INT64_MAX;

    if (g < 0 || grow((void **)&c->v, &c->cap_v, c->n + 1, sizeof(*c->v)) ||
        grow((void **)&c->m, &c->cap_m, c->nm + n, sizeof(*c->m)))
        return -IMB_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int64_t r = intern(&c->ranks, &c->nranks, ranks[i]);

        if (r < 0)
            return -IMB_E_NOMEM;
        c->m[c->nm + i] = (struct imb_coll_member){
            (uint32_t)r, arrive_ns[i], arrive_raw_ns[i],
            wait_ns[i] > 0 ? wait_ns[i] : 0};
        if (arrive_ns[i] < t)
            t = arrive_ns[i];
    }
    c->v[c->n++] =
        (struct imb_collective){(uint32_t)g, c->nm, (uint32_t)n, t, period_ns};
    c->nm += n;
    return 0;
}

int imb_collectives_add_prefill(struct imb_collectives *c, int64_t t_ns)
{
    if (grow((void **)&c->prefill_ns, &c->cap_p, c->nprefill + 1,
             sizeof(int64_t)))
        return -IMB_E_NOMEM;
    c->prefill_ns[c->nprefill++] = t_ns;
    return 0;
}

bool imb_collectives_span(const struct imb_collectives *c, int64_t *t0_ns,
                          int64_t *t1_ns)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;

    for (size_t i = 0; i < c->n; i++) {
        lo = c->v[i].t_ns < lo ? c->v[i].t_ns : lo;
        hi = c->v[i].t_ns > hi ? c->v[i].t_ns : hi;
    }
    for (size_t i = 0; i < c->nprefill; i++) {
        lo = c->prefill_ns[i] < lo ? c->prefill_ns[i] : lo;
        hi = c->prefill_ns[i] > hi ? c->prefill_ns[i] : hi;
    }
    if (lo > hi)
        return false;
    *t0_ns = lo;
    *t1_ns = hi;
    return true;
}

/* ---------------------------------------------------------------------
 * From spans
 * --------------------------------------------------------------------- */

struct scan {
    const struct span_store *s;
    const struct clock_model *m;
    int *model_id; /* per domain: clock model id or -1 */
    int64_t tol_ns;
    struct imb_collectives *c;
};

static int64_t to_ref(const struct scan *sc, uint32_t dom, int64_t t)
{
    int id = sc->model_id[dom];

    return id >= 0 ? clock_model_to_reference(sc->m, id, t) : t;
}

/* qsort context; thread-local so that threads may scan stores at once */
static _Thread_local const struct scan *cmp_scan;

static int cand_cmp(const void *x, const void *y)
{
    const struct span_rec *a = span_store_at(cmp_scan->s, *(const size_t *)x);
    const struct span_rec *b = span_store_at(cmp_scan->s, *(const size_t *)y);
    int c = memcmp(a->trace_id, b->trace_id, 16);

    if (c)
        return c;
    if (a->domain != b->domain)
        return a->domain < b->domain ? -1 : 1;
    if (a->start_ns != b->start_ns)
        return a->start_ns < b->start_ns ? -1 : 1;
    return *(const size_t *)x < *(const size_t *)y ? -1 : 1;
}

/* One domain's run of candidates inside a trace. */
struct run {
    uint32_t domain;
    size_t first, n;
};

static int run_name_cmp(const void *x, const void *y)
{
    const struct run *a = x, *b = y;

    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    return strcmp(span_store_domain_name(cmp_scan->s, a->domain),
                  span_store_domain_name(cmp_scan->s, b->domain));
}

/* The k-th candidates of runs r[0..nr) as one collective, if they overlap
 * on the reference clock. */
static bool member_times(const struct scan *sc, const size_t *cand,
                         const struct run *r, size_t nr, size_t k, int64_t *arr,
                         int64_t *raw, int64_t *wait)
{
    int64_t max_start = INT64_MIN, min_end = INT64_MAX;

    for (size_t i = 0; i < nr; i++) {
        const struct span_rec *sp = span_store_at(sc->s, cand[r[i].first + k]);
        int64_t st = to_ref(sc, sp->domain, sp->start_ns);
        int64_t en = to_ref(sc, sp->domain, sp->end_ns);

        arr[i] = st;
        raw[i] = sp->start_ns;
        wait[i] = sp->end_ns - sp->start_ns;
        max_start = st > max_start ? st : max_start;
        min_end = en < min_end ? en : min_end;
    }
    return max_start <= min_end + sc->tol_ns;
}

/* A class of runs with the same count: add its collectives when at least
 * half of its candidates overlap. */
static int64_t add_class(const struct scan *sc, const size_t *cand,
                         const struct run *r, size_t nr)
{
    size_t cnt = r[0].n, ok = 0, len = 0;
    const char **names = malloc(nr * sizeof(*names));
    int64_t *buf = malloc(3 * nr * cnt * sizeof(*buf));
    bool *good = calloc(cnt, sizeof(*good));
    char *group = NULL;
    int64_t added = 0, prev = -1;

    if (!names || !buf || !good)
        goto nomem;
    for (size_t i = 0; i < nr; i++) {
        names[i] = span_store_domain_name(sc->s, r[i].domain);
        len += strlen(names[i]) + 1;
    }
    if (!(group = malloc(len + 1)))
        goto nomem;
    group[0] = 0;
    for (size_t i = 0; i < nr; i++)
        strcat(strcat(group, i ? "," : ""), names[i]);
    for (size_t k = 0; k < cnt; k++) {
        int64_t *b = buf + 3 * nr * k;

        good[k] = member_times(sc, cand, r, nr, k, b, b + nr, b + 2 * nr);
        ok += good[k];
    }
    for (size_t k = 0; 2 * ok >= cnt && k < cnt; k++) {
        int64_t *b = buf + 3 * nr * k, t = INT64_MAX;

        if (!good[k])
            continue;
        for (size_t i = 0; i < nr; i++)
            t = b[i] < t ? b[i] : t;
        if (imb_collectives_add(sc->c, group, nr, names, b, b + nr, b + 2 * nr,
                                prev >= 0 ? t - prev : -1) < 0)
            goto nomem;
        prev = t;
        added++;
    }
    free(names);
    free(buf);
    free(good);
    free(group);
    return added;
nomem:
    free(names);
    free(buf);
    free(good);
    free(group);
    return -IMB_E_NOMEM;
}

/* The candidates of one trace: cand[a..b). */
static int64_t scan_trace(const struct scan *sc, const size_t *cand, size_t a,
                          size_t b)
{
    struct run *r = malloc((b - a) * sizeof(*r));
    size_t nr = 0;
    int64_t total = 0;

    if (!r)
        return -IMB_E_NOMEM;
    for (size_t i = a; i < b; i++) {
        uint32_t d = span_store_at(sc->s, cand[i])->domain;

        if (nr && r[nr - 1].domain == d)
            r[nr - 1].n++;
        else
            r[nr++] = (struct run){d, i, 1};
    }
    qsort(r, nr, sizeof(*r), run_name_cmp);
    for (size_t i = 0; i < nr;) {
        size_t j = i;

        while (j < nr && r[j].n == r[i].n)
            j++;
        if (j - i >= 2) {
            int64_t k = add_class(sc, cand, r + i, j - i);

            if (k < 0) {
                free(r);
                return k;
            }
            total += k;
        }
        i = j;
    }
    free(r);
    return total;
}

static bool is_prefill_domain(const struct span_store *s, uint32_t d)
{
    return strstr(span_store_domain_name(s, d), "prefill") != NULL;
}

/* A span is a domain's entry span when its parent is absent or in another
 * domain; prefill entry spans mark the prefill phase. */
static int scan_prefill(const struct scan *sc, size_t i, int64_t parent)
{
    const struct span_rec *sp = span_store_at(sc->s, i);

    if (!is_prefill_domain(sc->s, sp->domain))
        return 0;
    if (parent >= 0 &&
        span_store_at(sc->s, (size_t)parent)->domain == sp->domain)
        return 0;
    return imb_collectives_add_prefill(sc->c,
                                       to_ref(sc, sp->domain, sp->start_ns));
}

int64_t imb_collectives_from_spans(struct imb_collectives *c,
                                   const struct span_store *s,
                                   const struct clock_model *m, int64_t tol_ns)
{
    size_t n = span_store_count(s), nd = span_store_domain_count(s), nc = 0;
    bool *has_child = calloc(n ? n : 1, sizeof(bool));
    size_t *cand = malloc((n ? n : 1) * sizeof(size_t));
    struct scan sc = {s, m, malloc((nd ? nd : 1) * sizeof(int)), tol_ns, c};
    int64_t total = 0;

    if (!has_child || !cand || !sc.model_id) {
        total = -IMB_E_NOMEM;
        goto out;
    }
    for (uint32_t d = 0; d < nd; d++)
        sc.model_id[d] = m ? clock_model_find(m, span_store_domain_name(s, d),
                                              span_store_domain_name_len(s, d))
                           : -1;
    for (size_t i = 0; i < n; i++) {
        const struct span_rec *sp = span_store_at(s, i);
        int64_t j = -1;

        if (sp->flags & SPAN_F_DUPLICATE)
            continue;
        if (sp->flags & SPAN_F_HAS_PARENT)
            j = span_store_find(s, sp->trace_id, sp->parent_id, false);
        if (j >= 0)
            has_child[j] = true;
        if (scan_prefill(&sc, i, j) < 0) {
            total = -IMB_E_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct span_rec *sp = span_store_at(s, i);

        if (sp->kind == SPAN_KIND_INTERNAL && !has_child[i] &&
            !(sp->flags & SPAN_F_DUPLICATE) && sp->end_ns >= sp->start_ns)
            cand[nc++] = i;
    }
    cmp_scan = &sc;
    qsort(cand, nc, sizeof(*cand), cand_cmp);
    for (size_t a = 0; a < nc;) {
        const uint8_t *tid = span_store_at(s, cand[a])->trace_id;
        size_t b = a;
        int64_t k;

        while (b < nc && !memcmp(span_store_at(s, cand[b])->trace_id, tid, 16))
            b++;
        if ((k = scan_trace(&sc, cand, a, b)) < 0) {
            total = k;
            goto out;
        }
        total += k;
        a = b;
    }
out:
    cmp_scan = NULL;
    free(has_child);
    free(cand);
    free(sc.model_id);
    return total;
}

/* ---------------------------------------------------------------------
 * Panels
 * --------------------------------------------------------------------- */

/* A rank named like a metric unit takes the unit's name. */
static const char *canon(const struct imb_panels *p, const char *rank)
{
    static const int rr[] = {IMB_ROLE_STEP_TIME, IMB_ROLE_COLL_WAIT,
                             IMB_ROLE_BUSY, IMB_ROLE_TOKENS, IMB_ROLE_SM_CLOCK};
    size_t rl = strlen(rank);

    for (size_t i = 0; i < sizeof rr / sizeof rr[0]; i++) {
        const struct imb_panel *pn = &p->role[rr[i]];

        for (size_t u = 0; u < pn->nunits; u++) {
            const char *nm = pn->units[u].name;
            size_t l = strlen(nm);

            if (!strcmp(nm, rank))
                return nm;
            if (rl > l && !strcmp(rank + rl - l, nm) &&
                strchr("-./", rank[rl - l - 1]))
                return nm;
        }
    }
    return rank;
}

struct cell {
    uint32_t rank;
    size_t row;
    double v;
};

static int cell_cmp(const void *x, const void *y)
{
    const struct cell *a = x, *b = y;

    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    if (a->row != b->row)
        return a->row < b->row ? -1 : 1;
    return a->v < b->v ? -1 : a->v > b->v;
}

/* Medians of cells per (rank, row) into role r's units. */
static int put_medians(const struct imb_collectives *c, struct imb_panels *p,
                       int role, struct cell *cells, size_t n,
                       const char *const *names, const uint32_t *rank_group,
                       const bool *skip)
{
    qsort(cells, n, sizeof(*cells), cell_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        char base[160], idx[16];
        struct imb_unit u = {0};
        int k;

        while (j < n && cells[j].rank == cells[i].rank &&
               cells[j].row == cells[i].row)
            j++;
        u.name = u.entity = names[cells[i].rank];
        u.suffixed = imb_unit_base(u.name, base, sizeof base);
        u.base = base;
        snprintf(idx, sizeof idx, "%u", cells[i].rank);
        u.rank = idx;
        u.group = rank_group[cells[i].rank] < c->ngroups
                      ? c->groups[rank_group[cells[i].rank]]
                      : NULL;
        if (skip && skip[cells[i].rank]) {
            i = j;
            continue;
        }
        if ((k = imb_panel_unit(p, role, &u)) < 0)
            return -IMB_E_NOMEM;
        p->role[role].v[(size_t)k * p->nrows + cells[i].row] =
            (j - i) % 2
                ? cells[i + (j - i) / 2].v
                : (cells[i + (j - i) / 2 - 1].v + cells[i + (j - i) / 2].v) / 2;
        i = j;
    }
    return 0;
}

static int prefill_panel(const struct imb_collectives *c, struct imb_panels *p)
{
    struct imb_unit u = {"traces", "traces", "traces", NULL, NULL, NULL, false};
    int k;

    if (!c->nprefill)
        return 0;
    if ((k = imb_panel_unit(p, IMB_ROLE_TRACE_PREFILL, &u)) < 0)
        return -IMB_E_NOMEM;
    p->nseries[IMB_ROLE_TRACE_PREFILL] = 1;
    double *v = p->role[IMB_ROLE_TRACE_PREFILL].v + (size_t)k * p->nrows;
    for (size_t r = 0; r < p->nrows; r++)
        v[r] = 0;
    for (size_t i = 0; i < c->nprefill; i++) {
        int64_t r = imb_panels_row(p, c->prefill_ns[i]);

        if (r >= 0)
            v[r] += 1e9 / (double)p->step_ns;
    }
    return 0;
}

int imb_collectives_panels(const struct imb_collectives *c,
                           struct imb_panels *p)
{
    struct cell *cl[4] = {0};
    size_t ncl[4] = {0};
    const char **names = malloc((c->nranks ? c->nranks : 1) * sizeof(*names));
    uint32_t *rg = malloc((c->nranks ? c->nranks : 1) * sizeof(*rg));
    bool *has_wait = malloc((c->nranks ? c->nranks : 1) * sizeof(bool));
    static const int role_of[4] = {IMB_ROLE_COLL_LATENESS,
                                   IMB_ROLE_COLL_LATENESS_RAW,
                                   IMB_ROLE_COLL_WAIT, IMB_ROLE_COLL_PERIOD};
    int rc = -IMB_E_NOMEM;

    if (!names || !rg || !has_wait)
        goto out;
    for (size_t i = 0; i < c->nranks; i++) {
        names[i] = canon(p, c->ranks[i]);
        rg[i] = UINT32_MAX;
        /* a rank's own wait metric wins over the trace's */
        has_wait[i] = imb_panel_find(p, IMB_ROLE_COLL_WAIT, names[i]) >= 0;
    }
    for (int q = 0; q < 4; q++)
        if (!(cl[q] = malloc((c->nm ? c->nm : 1) * sizeof(struct cell))))
            goto out;
    for (size_t i = 0; i < c->n; i++) {
        const struct imb_collective *co = &c->v[i];
        int64_t row = imb_panels_row(p, co->t_ns), raw0 = INT64_MAX;

        if (row < 0)
            continue;
        for (uint32_t k = 0; k < co->n; k++)
            if (c->m[co->first + k].arrive_raw_ns < raw0)
                raw0 = c->m[co->first + k].arrive_raw_ns;
        for (uint32_t k = 0; k < co->n; k++) {
            const struct imb_coll_member *mb = &c->m[co->first + k];
            double v[4] = {(double)(mb->arrive_ns - co->t_ns) / 1e9,
                           (double)(mb->arrive_raw_ns - raw0) / 1e9,
                           (double)mb->wait_ns / 1e9,
                           (double)co->period_ns / 1e9};

            if (rg[mb->rank] == UINT32_MAX)
                rg[mb->rank] = co->group;
            for (int q = 0; q < 4; q++)
                if (q < 3 || co->period_ns >= 0)
                    cl[q][ncl[q]++] =
                        (struct cell){mb->rank, (size_t)row, v[q]};
        }
    }
    rc = 0;
    for (int q = 0; !rc && q < 4; q++) {
        size_t before = p->role[role_of[q]].nunits;

        rc = put_medians(c, p, role_of[q], cl[q], ncl[q], names, rg,
                         q == 2 ? has_wait : NULL);
        /* for reports: the ranks the traces gave this role */
        p->nseries[role_of[q]] += p->role[role_of[q]].nunits - before;
    }
    if (!rc)
        rc = prefill_panel(c, p);
out:
    for (int q = 0; q < 4; q++)
        free(cl[q]);
    free(names);
    free(rg);
    free(has_wait);
    return rc;
}
