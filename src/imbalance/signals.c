/* signals: the runbook's name map applied to a series_store, and the
 * panels (one aligned row of values per unit and role) the detectors
 * read. The unit and grouping rules are stated in signals.h. */
#include "imbalance/signals.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "imbalance/collectives.h"
#include "imbalance/imbalance.h"
#include "imbalance/runbook.h"
#include "model/series.h"

/* How the series of one unit combine into one value per row. */
enum combine { C_SUM, C_MEAN, C_MAX, C_MIN };

static const struct role_info {
    const char *name;
    const char *unit;
    enum combine comb;
    bool row_max; /* gauges: the row's largest sample, not its last */
} roles[IMB_NROLES] = {
    [IMB_ROLE_STEP_TIME] = {"step_time", "s", C_MEAN, false},
    [IMB_ROLE_COLL_WAIT] = {"collective_wait", "s", C_MEAN, false},
    [IMB_ROLE_BUSY] = {"busy", "share", C_MEAN, false},
    [IMB_ROLE_SM_CLOCK] = {"sm_clock", "MHz", C_MEAN, false},
    [IMB_ROLE_CLOCK_EVENTS] = {"clock_events", "bits", C_MAX, false},
    [IMB_ROLE_CPU_PRESSURE] = {"cpu_pressure", "share", C_MAX, false},
    [IMB_ROLE_REQ_RUNNING] = {"requests_running", "requests", C_SUM, false},
    [IMB_ROLE_REQ_WAITING] = {"requests_waiting", "requests", C_SUM, false},
    [IMB_ROLE_KV_USAGE] = {"kv_usage", "share", C_MAX, false},
    [IMB_ROLE_TOKENS] = {"tokens", "tokens/s", C_SUM, false},
    [IMB_ROLE_PREEMPTIONS] = {"preemptions", "1/s", C_SUM, false},
    [IMB_ROLE_TTFT] = {"ttft", "s", C_MEAN, false},
    [IMB_ROLE_ITL] = {"itl", "s", C_MEAN, false},
    [IMB_ROLE_NET_RX_BYTES] = {"net_rx_bytes", "bytes/s", C_SUM, false},
    [IMB_ROLE_NET_TX_BYTES] = {"net_tx_bytes", "bytes/s", C_SUM, false},
    [IMB_ROLE_NET_RETRANS] = {"net_retrans", "1/s", C_SUM, false},
    [IMB_ROLE_NET_OUT_SEGS] = {"net_out_segs", "1/s", C_SUM, false},
    [IMB_ROLE_NET_CARRIER] = {"net_carrier_changes", "1/s", C_SUM, false},
    [IMB_ROLE_NET_UP] = {"net_up", "state", C_MIN, false},
    [IMB_ROLE_NET_LATENCY] = {"net_latency", "s", C_MAX, true},
    [IMB_ROLE_NET_ECN] = {"net_ecn", "1/s", C_SUM, false},
    [IMB_ROLE_NET_PAUSE] = {"net_pause", "1/s", C_SUM, false},
    [IMB_ROLE_NET_DROPS] = {"net_drops", "1/s", C_SUM, false},
    [IMB_ROLE_PCIE_TX_BYTES] = {"pcie_tx_bytes", "bytes/s", C_SUM, false},
    [IMB_ROLE_PCIE_RX_BYTES] = {"pcie_rx_bytes", "bytes/s", C_SUM, false},
    [IMB_ROLE_PCIE_WIDTH] = {"pcie_width", "lanes", C_MIN, false},
    [IMB_ROLE_PCIE_WIDTH_MAX] = {"pcie_width_max", "lanes", C_MAX, false},
    [IMB_ROLE_PCIE_SPEED] = {"pcie_speed", "GT/s", C_MIN, false},
    [IMB_ROLE_PCIE_SPEED_MAX] = {"pcie_speed_max", "GT/s", C_MAX, false},
    [IMB_ROLE_PCIE_CAPACITY] = {"pcie_capacity", "bytes/s", C_MIN, false},
    [IMB_ROLE_PCIE_AER] = {"pcie_aer", "1/s", C_SUM, false},
    [IMB_ROLE_PCIE_REPLAY] = {"pcie_replay", "1/s", C_SUM, false},
    [IMB_ROLE_COLL_LATENESS] = {"collective_lateness", "s", C_MEAN, false},
    [IMB_ROLE_COLL_LATENESS_RAW] = {"collective_lateness_raw", "s", C_MEAN,
                                    false},
    [IMB_ROLE_COLL_PERIOD] = {"collective_period", "s", C_MEAN, false},
    [IMB_ROLE_TRACE_PREFILL] = {"trace_prefill", "1/s", C_SUM, false},
};

const char *imb_role_name(enum imb_role r)
{
    return (unsigned)r < IMB_NROLES ? roles[r].name : "?";
}

const char *imb_role_unit(enum imb_role r)
{
    return (unsigned)r < IMB_NROLES ? roles[r].unit : "";
}

int imb_role_find(const char *name, bool derived_ok)
{
    int n = derived_ok ? IMB_NROLES : IMB_NMAPPED_ROLES;

    for (int r = 0; name && r < n; r++)
        if (!strcmp(roles[r].name, name))
            return r;
    return -1;
}

bool imb_unit_base(const char *name, char *buf, size_t n)
{
    const char *slash = strrchr(name, '/');
    size_t len = strlen(name);
    bool suffixed = false;

    if (slash && slash != name) {
        len = (size_t)(slash - name);
        suffixed = true;
    } else {
        size_t k = len;

        while (k > 0 && name[k - 1] >= '0' && name[k - 1] <= '9')
            k--;
        if (k < len && k > 1 && (name[k - 1] == '-' || name[k - 1] == '_')) {
            len = k - 1;
            suffixed = true;
        }
    }
    if (n) {
        if (len >= n)
            len = n - 1;
        memcpy(buf, name, len);
        buf[len] = 0;
    }
    return suffixed;
}

/* ---------------------------------------------------------------------
 * String pool and units
 * --------------------------------------------------------------------- */

struct pool {
    char **s;
    size_t n, cap;
};

static const char *pool_dup(struct imb_panels *p, const char *s)
{
    struct pool *pl = p->pool;
    char *d;

    if (!s)
        return NULL;
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 64;
        char **v = realloc(pl->s, cap * sizeof(*v));

        if (!v)
            return NULL;
        pl->s = v;
        pl->cap = cap;
    }
    if (!(d = strdup(s)))
        return NULL;
    pl->s[pl->n++] = d;
    return d;
}

int imb_panel_find(const struct imb_panels *p, enum imb_role r,
                   const char *name)
{
    const struct imb_panel *pn = &p->role[r];

    for (size_t u = 0; u < pn->nunits; u++)
        if (!strcmp(pn->units[u].name, name))
            return (int)u;
    return -1;
}

int64_t imb_panels_row(const struct imb_panels *p, int64_t t_ns)
{
    if (t_ns < p->t0_ns || !p->nrows)
        return -1;
    uint64_t k = ((uint64_t)t_ns - (uint64_t)p->t0_ns) / (uint64_t)p->step_ns;
    return k < p->nrows ? (int64_t)k : -1;
}

/* The unit called u->name in role r, added (values NaN) when new. Returns
 * its index or -1 when out of memory. Used by collectives.c too. */
int imb_panel_unit(struct imb_panels *p, int r, const struct imb_unit *u);

int imb_panel_unit(struct imb_panels *p, int r, const struct imb_unit *u)
{
    struct imb_panel *pn = &p->role[r];
    int k = imb_panel_find(p, (enum imb_role)r, u->name);
    struct imb_unit *nu;
    double *nv;
    size_t nrows = p->nrows ? p->nrows : 1;

    if (k >= 0)
        return k;
    if (!(nu = realloc(pn->units, (pn->nunits + 1) * sizeof(*nu))))
        return -1;
    pn->units = nu;
    if (!(nv = realloc(pn->v, (pn->nunits + 1) * nrows * sizeof(*nv))))
        return -1;
    pn->v = nv;
    for (size_t i = 0; i < nrows; i++)
        nv[pn->nunits * nrows + i] = NAN;
    nu[pn->nunits] = (struct imb_unit){
        pool_dup(p, u->name), pool_dup(p, u->entity), pool_dup(p, u->base),
        pool_dup(p, u->rank), pool_dup(p, u->group),  pool_dup(p, u->pp),
        u->suffixed,
    };
    if (!nu[pn->nunits].name || !nu[pn->nunits].base)
        return -1;
    return (int)pn->nunits++;
}

void imb_panels_free(struct imb_panels *p)
{
    struct pool *pl = p->pool;

    for (int r = 0; r < IMB_NROLES; r++) {
        free(p->role[r].units);
        free(p->role[r].v);
    }
    if (pl) {
        for (size_t i = 0; i < pl->n; i++)
            free(pl->s[i]);
        free(pl->s);
        free(pl);
    }
    memset(p, 0, sizeof(*p));
}

/* ---------------------------------------------------------------------
 * Matching series to roles
 * --------------------------------------------------------------------- */

enum part { PART_VALUE, PART_HSUM, PART_HCOUNT };

struct assign {
    uint32_t id;
    int role;
    int unit; /* index in role's panel, set when the grid exists */
    enum part part;
    enum series_agg agg;
    const struct imb_rb_signal *e;
    char name[192];
    struct imb_unit u; /* borrowed strings (store, entry) */
    char base[160];
};

static bool where_ok(const struct series_store *s, uint32_t id,
                     const struct imb_rb_signal *e)
{
    for (size_t i = 0; i < e->nwhere; i++) {
        const char *v = series_label(s, id, e->where[i].name);

        if (!v || strcmp(v, e->where[i].value))
            return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *suf, size_t *stem)
{
    size_t n = strlen(s), k = strlen(suf);

    if (n <= k || strcmp(s + n - k, suf))
        return false;
    *stem = n - k;
    return true;
}

/* The first entry that claims series id, and the part it plays. */
static const struct imb_rb_signal *match(const struct series_store *s,
                                         uint32_t id,
                                         const struct imb_runbook *rb,
                                         enum part *part)
{
    const char *m = series_metric(s, id);
    char fam[256];
    size_t stem = 0;
    enum part hp = PART_VALUE;

    if (ends_with(m, "_sum", &stem))
        hp = PART_HSUM;
    else if (ends_with(m, "_count", &stem))
        hp = PART_HCOUNT;
    if (hp != PART_VALUE) {
        if (stem >= sizeof fam)
            stem = sizeof fam - 1;
        memcpy(fam, m, stem);
        fam[stem] = 0;
    }
    for (size_t i = 0; i < rb->nsig; i++) {
        const struct imb_rb_signal *e = &rb->sig[i];

        if (e->type == IMB_ST_HISTOGRAM) {
            if (hp == PART_VALUE || fnmatch(e->match, fam, 0))
                continue;
            *part = hp;
        } else {
            if (fnmatch(e->match, m, 0))
                continue;
            *part = PART_VALUE;
        }
        if (where_ok(s, id, e))
            return e;
    }
    return NULL;
}

static const char *first_label(const struct series_store *s, uint32_t id,
                               const char *a, const char *b, char *const *more,
                               size_t nmore)
{
    const char *v = a ? series_label(s, id, a) : NULL;

    if (!v && b)
        v = series_label(s, id, b);
    for (size_t i = 0; !v && i < nmore; i++)
        v = series_label(s, id, more[i]);
    return v;
}

/* The unit of series id under entry e (signals.h). */
static void unit_of(const struct series_store *s, uint32_t id,
                    const struct imb_rb_signal *e, struct assign *a)
{
    size_t len =
        (size_t)snprintf(a->name, sizeof a->name, "%s", series_entity(s, id));

    for (size_t i = 0; i < e->nunit_labels && len < sizeof a->name; i++) {
        const char *v = series_label(s, id, e->unit_labels[i]);

        if (v)
            len +=
                (size_t)snprintf(a->name + len, sizeof a->name - len, "/%s", v);
    }
    a->u.name = a->name;
    a->u.entity = series_entity(s, id);
    a->u.suffixed = imb_unit_base(a->name, a->base, sizeof a->base);
    a->u.base = a->base;
    a->u.rank =
        first_label(s, id, "rank", "tp_rank", e->rank_labels, e->nrank_labels);
    a->u.group =
        first_label(s, id, "tp_group", NULL, e->group_labels, e->ngroup_labels);
    a->u.pp = series_label(s, id, "pp_rank");
}

static enum series_agg agg_of(const struct series_store *s, uint32_t id,
                              int role, const struct imb_rb_signal *e,
                              enum part part)
{
    if (part != PART_VALUE)
        return SERIES_AGG_INCREASE;
    switch (e->type) {
    case IMB_ST_COUNTER:
        return SERIES_AGG_RATE;
    case IMB_ST_GAUGE:
        return roles[role].row_max ? SERIES_AGG_MAX : SERIES_AGG_LAST;
    default:
        if (series_kind(s, id) == SERIES_COUNTER)
            return SERIES_AGG_RATE;
        return roles[role].row_max ? SERIES_AGG_MAX : SERIES_AGG_LAST;
    }
}

static int collect(const struct series_store *s, const struct imb_runbook *rb,
                   struct assign **out, size_t *nout)
{
    size_t n = series_store_count(s), k = 0;
    struct assign *v = calloc(n ? n : 1, sizeof(*v));

    if (!v)
        return -IMB_E_NOMEM;
    for (size_t id = 0; id < n; id++) {
        enum part part;
        const struct imb_rb_signal *e = match(s, (uint32_t)id, rb, &part);

        if (!e || !series_len(s, (uint32_t)id))
            continue;
        v[k].id = (uint32_t)id;
        v[k].role = e->role;
        v[k].part = part;
        v[k].e = e;
        v[k].agg = agg_of(s, (uint32_t)id, e->role, e, part);
        unit_of(s, (uint32_t)id, e, &v[k]);
        k++;
    }
    *out = v;
    *nout = k;
    return 0;
}

/* ---------------------------------------------------------------------
 * Filling values
 * --------------------------------------------------------------------- */

static double pcie_gen_gts(double g)
{
    static const double gts[] = {0, 2.5, 5, 8, 16, 32, 64};

    if (!(g >= 1 && g <= 6) || g != (double)(int)g)
        return NAN;
    return gts[(int)g];
}

static double convert(const struct imb_rb_signal *e, double v)
{
    v *= e->scale;
    return e->xform == IMB_XF_PCIE_GEN ? pcie_gen_gts(v) : v;
}

static void combine_into(double *dst, double v, enum combine c, double *cnt)
{
    if (isnan(v))
        return;
    if (isnan(*dst)) {
        *dst = v;
        *cnt = 1;
        return;
    }
    switch (c) {
    case C_SUM:
        *dst += v;
        break;
    case C_MEAN:
        *dst = (*dst * *cnt + v) / (*cnt + 1);
        break;
    case C_MAX:
        if (v > *dst)
            *dst = v;
        break;
    case C_MIN:
        if (v < *dst)
            *dst = v;
        break;
    }
    *cnt += 1;
}

/* Align one assignment's series onto the grid into col (nrows). */
static int align_one(const struct series_store *s, const struct assign *a,
                     const struct imb_panels *p, double *col)
{
    struct series_align al = {p->t0_ns, p->step_ns,     p->nrows,
                              a->agg,   5 * p->step_ns, 0};
    struct series_table *t = NULL;
    int rc = series_table_from_store(s, &a->id, 1, &al, &t);

    if (rc < 0)
        return rc == -SERIES_E_NOMEM ? -IMB_E_NOMEM : -IMB_E_INVAL;
    memcpy(col, series_table_col(t, 0), p->nrows * sizeof(double));
    series_table_destroy(t);
    return 0;
}

/* Histogram pools per unit: sums and counts of increases per row. */
struct hpool {
    int role, unit;
    double *sum, *cnt;
};

static struct hpool *hpool_get(struct hpool **v, size_t *n, int role, int unit,
                               size_t nrows)
{
    struct hpool *nv;

    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].role == role && (*v)[i].unit == unit)
            return &(*v)[i];
    if (!(nv = realloc(*v, (*n + 1) * sizeof(*nv))))
        return NULL;
    *v = nv;
    nv[*n] = (struct hpool){role, unit, calloc(nrows, sizeof(double)),
                            calloc(nrows, sizeof(double))};
    if (!nv[*n].sum || !nv[*n].cnt) {
        free(nv[*n].sum);
        free(nv[*n].cnt);
        return NULL;
    }
    return &nv[(*n)++];
}

static int fill(const struct series_store *s, struct assign *as, size_t nas,
                struct imb_panels *p)
{
    double *col = malloc(p->nrows * sizeof(double));
    struct hpool *hp = NULL, *vp = NULL; /* histogram pools, value counts */
    size_t nhp = 0, nvp = 0;
    int rc = 0;

    if (!col)
        return -IMB_E_NOMEM;
    for (size_t i = 0; i < nas; i++) {
        struct assign *a = &as[i];
        double *dst = p->role[a->role].v + (size_t)a->unit * p->nrows;
        bool hist = a->part != PART_VALUE;
        struct hpool *h;

        if ((rc = align_one(s, a, p, col)) < 0)
            break;
        h = hist ? hpool_get(&hp, &nhp, a->role, a->unit, p->nrows)
                 : hpool_get(&vp, &nvp, a->role, a->unit, p->nrows);
        if (!h) {
            rc = -IMB_E_NOMEM;
            break;
        }
        for (size_t k = 0; k < p->nrows; k++) {
            if (hist && !isnan(col[k]) && a->part == PART_HSUM)
                h->sum[k] += col[k] * a->e->scale;
            else if (hist && !isnan(col[k]))
                h->cnt[k] += col[k];
            else if (!hist)
                combine_into(&dst[k], convert(a->e, col[k]),
                             roles[a->role].comb, &h->cnt[k]);
        }
    }
    for (size_t i = 0; i < nhp; i++) {
        double *dst = p->role[hp[i].role].v + (size_t)hp[i].unit * p->nrows;

        for (size_t k = 0; !rc && k < p->nrows; k++)
            dst[k] = hp[i].cnt[k] > 0 ? hp[i].sum[k] / hp[i].cnt[k] : NAN;
    }
    for (size_t i = 0; i < nhp; i++)
        free(hp[i].sum), free(hp[i].cnt);
    for (size_t i = 0; i < nvp; i++)
        free(vp[i].sum), free(vp[i].cnt);
    free(hp);
    free(vp);
    free(col);
    return rc;
}

/* ---------------------------------------------------------------------
 * The grid and the whole build
 * --------------------------------------------------------------------- */

static int64_t floor_step(int64_t t, int64_t step)
{
    int64_t f = t / step * step;

    return f > t ? f - step : f;
}

static int grid(const struct series_store *s, const struct assign *as,
                size_t nas, const struct imb_collectives *coll, int64_t step_ns,
                int64_t from_ns, int64_t to_ns, struct imb_panels *p)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN, a, b;
    uint32_t *ids = malloc((nas ? nas : 1) * sizeof(*ids));

    if (!ids)
        return -IMB_E_NOMEM;
    for (size_t i = 0; i < nas; i++)
        ids[i] = as[i].id;
    if (nas && series_store_time_span(s, ids, nas, &a, &b))
        lo = a, hi = b;
    free(ids);
    if (coll && imb_collectives_span(coll, &a, &b)) {
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
    }
    p->step_ns = step_ns;
    if (lo > hi)
        return 0;
    if (from_ns != INT64_MIN && from_ns > lo)
        lo = from_ns;
    if (to_ns != INT64_MAX && to_ns <= hi)
        hi = to_ns - 1;
    if (lo > hi)
        return 0;
    p->t0_ns = floor_step(lo, step_ns);
    uint64_t rows = ((uint64_t)hi - (uint64_t)p->t0_ns) / (uint64_t)step_ns + 1;
    if (rows > 10000000)
        return -IMB_E_INVAL;
    p->nrows = (size_t)rows;
    return 0;
}

int imb_panels_build(const struct series_store *s,
                     const struct imb_collectives *coll,
                     const struct imb_runbook *rb, int64_t step_ns,
                     int64_t from_ns, int64_t to_ns, struct imb_panels *out)
{
    struct assign *as = NULL;
    size_t nas = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (step_ns <= 0)
        return -IMB_E_INVAL;
    if (!(out->pool = calloc(1, sizeof(struct pool))))
        return -IMB_E_NOMEM;
    if ((rc = collect(s, rb, &as, &nas)) < 0)
        return rc;
    if ((rc = grid(s, as, nas, coll, step_ns, from_ns, to_ns, out)) < 0 ||
        !out->nrows)
        goto out;
    for (size_t i = 0; i < nas; i++) {
        if ((as[i].unit = imb_panel_unit(out, as[i].role, &as[i].u)) < 0) {
            rc = -IMB_E_NOMEM;
            goto out;
        }
        out->nseries[as[i].role]++;
    }
    if ((rc = fill(s, as, nas, out)) < 0)
        goto out;
    if (coll)
        rc = imb_collectives_panels(coll, out);
out:
    free(as);
    return rc;
}
