/* circa: CIRCA (Li et al., "Causal Inference-Based Root Cause Analysis for
 * Online Service Systems with Intervention Recognition", KDD 2022) as
 * RCAEval runs it (RCAEval/e2e/circa.py, circa(); graph_heads/rht.py,
 * rht(); classes/data.py, CaseData; classes/graph.py, MemoryGraph):
 *
 *  1. preprocess() of the whole window (constant columns dropped, mem/1e6),
 *     PC with causal-learn's defaults (pc_default: Fisher-z, alpha 0.05).
 *  2. Nodes are (service, first metric token): the column "svc_a_b" is the
 *     node (svc, a), and columns that share both collapse into one node
 *     (RCAEval's Node(name.split("_")[0], name.split("_")[1])). The graph
 *     holds only nodes with a PC edge: i -> j for a tail at i and an
 *     arrowhead at j, both ways for i -- j; then it is reversed (effect ->
 *     cause), so a node's "parents" are its effects in the PC graph. Any
 *     other mark pair raises in RCAEval (here -RCA_E_DATA).
 *  3. Each node's series is the column named exactly "<service>_<token>"
 *     (a node without such a column has none), cut to [t_F - 120 s, t_F +
 *     300 s] and brought to a 1 s grid as MemoryDataLoader does (mean per
 *     second from the window start, time interpolation, ends held): 421
 *     points. A node without data or with a constant series is dropped.
 *  4. RHTScorer (regression-based hypothesis testing): for each remaining
 *     node, LinearRegression of its series on its parents' series (those
 *     remaining) over the first 111 points (t_F - 120 .. t_F - 10), the
 *     residuals of the last 10 points (t_F + 291 .. t_F + 300) z-scored by
 *     the training residuals (StandardScaler); without parents the series
 *     itself is z-scored. Score: the largest |z|.
 *  5. Ranked by score, highest first. Only scored nodes appear, named
 *     "<service>_<token>".
 *
 * RCAEval defines a descendant-adjustment scorer (DAScorer) in rht.py but
 * rht() does not run it; descendant_adjustment=1 runs it after step 4
 * (threshold 0: each node's score plus the largest score among its
 * children in the reversed graph; ties by topological layer, then z).
 *
 * Departures: ties keep the column order (RCAEval's follow Python's set
 * order of graph nodes, which changes from run to run); a column name
 * without '_' (RCAEval raises IndexError) becomes a node that is never
 * scored. Parameters: alpha (PC, 0.05), descendant_adjustment (0). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/cgraph.h"
#include "stats/descriptive.h"
#include "stats/pc.h"
#include "stats/regress.h"
#include "stats/stats_status.h"

#define CIRCA_LOOKUP_S 120 /* CaseData lookup_window (points at 1 s) */
#define CIRCA_DETECT_S 10  /* CaseData detect_window */
#define CIRCA_AFTER_S 300  /* rht(): current = inject_time + 300 */
#define CIRCA_LEN (CIRCA_LOOKUP_S + CIRCA_AFTER_S + 1)
#define CIRCA_TRAIN (CIRCA_LOOKUP_S - CIRCA_DETECT_S + 1)

static const char *const circa_params[] = {"alpha", "descendant_adjustment",
                                           NULL};

struct circa_opts {
    double alpha;
    size_t adjust;
};

static int circa_opts_read(const struct rca_params *p, struct circa_opts *o,
                           char *err, size_t errlen)
{
    int rc;

    if ((rc = rca_param_double(p, "circa", "alpha", 0.05, 1e-300, 0.999999,
                               &o->alpha, err, errlen)) < 0 ||
        (rc = rca_param_size(p, "circa", "descendant_adjustment", 0, 0, 1,
                             &o->adjust, err, errlen)) < 0)
        return rc;
    return 0;
}

static int circa_validate(const struct rca_params *p, char *err, size_t errlen)
{
    struct circa_opts o;

    return circa_opts_read(p, &o, err, errlen);
}

/* One node: the key "<service>_<first token>" and its data column. */
struct cnode {
    char *key;
    long col; /* the column named exactly key, or -1 */
    bool in_graph;
    bool loaded; /* in the data (non-constant series) */
    double *y;   /* CIRCA_LEN points */
    double score, z;
    size_t layer; /* topological layer (descendant adjustment) */
};

struct circa {
    size_t n;       /* columns */
    size_t nn;      /* nodes */
    size_t *nodeof; /* column -> node */
    struct cnode *node;
    unsigned char *g; /* nn x nn: g[u*nn + v] edge u -> v, reversed graph */
};

static void circa_free(struct circa *cc)
{
    for (size_t i = 0; cc->node && i < cc->nn; i++) {
        free(cc->node[i].key);
        free(cc->node[i].y);
    }
    free(cc->node);
    free(cc->nodeof);
    free(cc->g);
}

/* "svc_a_b" -> "svc_a"; "svc" -> "svc_" (never a column name). */
static char *node_key(const char *name)
{
    const char *u1 = strchr(name, '_');
    const char *u2 = u1 ? strchr(u1 + 1, '_') : NULL;
    size_t len = u2 ? (size_t)(u2 - name) : strlen(name);
    char *k = malloc(len + 2);

    if (!k)
        return NULL;
    memcpy(k, name, len);
    k[len] = 0;
    if (!u1)
        strcat(k, "_");
    return k;
}

static int nodes_build(struct circa *cc, const struct series_table *t)
{
    cc->n = t->ncols;
    cc->nodeof = malloc((cc->n + 1) * sizeof(size_t));
    cc->node = calloc(cc->n + 1, sizeof(struct cnode));
    if (!cc->nodeof || !cc->node)
        return -RCA_E_NOMEM;
    for (size_t j = 0; j < cc->n; j++) {
        char *k = node_key(t->cols[j].name);
        size_t i;
        if (!k)
            return -RCA_E_NOMEM;
        for (i = 0; i < cc->nn && strcmp(cc->node[i].key, k); i++)
            ;
        if (i < cc->nn) {
            free(k);
        } else {
            cc->node[i].key = k;
            cc->node[i].col = (long)series_table_find(t, k);
            cc->nn++;
        }
        cc->nodeof[j] = i;
    }
    cc->g = calloc(cc->nn * cc->nn + 1, 1);
    return cc->g ? 0 : -RCA_E_NOMEM;
}

/* rht(): the PC marks as a networkx DiGraph of nodes, then reversed. */
static int graph_build(struct circa *cc, const signed char *m)
{
    size_t n = cc->n, nn = cc->nn;

    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            int u = m[a * n + b], v = m[b * n + a];
            size_t na = cc->nodeof[a], nb = cc->nodeof[b], from, to;
            if (u == 0 && v == 0)
                continue;
            if ((u == -1 && v == -1) || (u == 1 && v == -1)) {
                from = nb; /* b -> a */
                to = na;
            } else if (u == -1 && v == 1) {
                from = na; /* a -> b */
                to = nb;
            } else {
                return -RCA_E_DATA;
            }
            cc->node[from].in_graph = cc->node[to].in_graph = true;
            cc->g[to * nn + from] = 1; /* reversed */
        }
    return 0;
}

/* MemoryDataLoader.load + DataLoader.preprocess for one column: the
 * samples in [start, start + CIRCA_LEN - 1] s, mean per 1 s bin from
 * start, linear interpolation in time between filled bins, ends held.
 * Returns false when no sample falls in the window. */
static bool load_series(const struct series_table *t, long col, double start,
                        double *y, size_t *cnt)
{
    const double *v = series_table_col(t, (size_t)col);
    double end = start + (double)(CIRCA_LEN - 1);
    bool any = false;

    memset(y, 0, CIRCA_LEN * sizeof(double));
    memset(cnt, 0, CIRCA_LEN * sizeof(size_t));
    for (size_t r = 0; r < t->nrows; r++) {
        double ts = (double)t->time_ns[r] / 1e9;
        if (!(ts >= start && ts <= end) || isnan(v[r]))
            continue;
        size_t k = (size_t)floor(ts - start);
        if (k >= CIRCA_LEN)
            k = CIRCA_LEN - 1;
        y[k] += v[r];
        cnt[k]++;
        any = true;
    }
    if (!any)
        return false;
    long last = -1;
    for (size_t k = 0; k < CIRCA_LEN; k++) {
        if (!cnt[k])
            continue;
        y[k] /= (double)cnt[k];
        if (last < 0) {
            for (size_t q = 0; q < k; q++)
                y[q] = y[k];
        } else {
            for (size_t q = (size_t)last + 1; q < k; q++)
                y[q] = y[last] + (y[k] - y[last]) * (double)(q - (size_t)last) /
                                     (double)(k - (size_t)last);
        }
        last = (long)k;
    }
    for (size_t q = (size_t)last + 1; q < CIRCA_LEN; q++)
        y[q] = y[last];
    return true;
}

static bool constant(const double *y, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (y[i] != y[0])
            return false;
    return true;
}

/* zscore(train, test): StandardScaler on train; the largest |z| of test. */
static double max_abs_z(const double *train, size_t ntr, const double *test,
                        size_t nte)
{
    struct stats_scaler s;
    double m = 0.0;

    if (stats_standard_scaler_fit(train, ntr, &s) < 0)
        return NAN;
    for (size_t i = 0; i < nte; i++) {
        double z = fabs((test[i] - s.center) / s.scale);
        if (z > m || i == 0)
            m = z;
    }
    return m;
}

/* RHTScorer.score_node for node x (regressor: ANM LinearRegression). */
static int score_node(struct circa *cc, size_t x, double *xs, double *res)
{
    size_t nn = cc->nn, k = 0, te = CIRCA_LEN - CIRCA_DETECT_S;
    struct cnode *nx = &cc->node[x];
    struct stats_ols o;
    double coef[64], *cf = coef;
    int rc;

    for (size_t q = 0; q < nn; q++)
        if (cc->g[q * nn + x] && cc->node[q].loaded)
            memcpy(xs + k++ * CIRCA_LEN, cc->node[q].y,
                   CIRCA_LEN * sizeof(double));
    if (k == 0) {
        nx->z = max_abs_z(nx->y, CIRCA_TRAIN, nx->y + te, CIRCA_DETECT_S);
        return 0;
    }
    if (k > 64 && !(cf = malloc(k * sizeof(double))))
        return -RCA_E_NOMEM;
    /* train rows 0..CIRCA_TRAIN-1 of each regressor: the design is
     * column-major with stride CIRCA_LEN, so fit on a compacted copy */
    double *des = malloc(CIRCA_TRAIN * k * sizeof(double));
    if (!des) {
        rc = -RCA_E_NOMEM;
        goto out;
    }
    for (size_t c = 0; c < k; c++)
        memcpy(des + c * CIRCA_TRAIN, xs + c * CIRCA_LEN,
               CIRCA_TRAIN * sizeof(double));
    rc = stats_ols_fit(des, CIRCA_TRAIN, k, nx->y, true, cf, &o);
    free(des);
    if (rc < 0) {
        rc = rc == -STATS_E_NOMEM ? -RCA_E_NOMEM : -RCA_E_DATA;
        goto out;
    }
    for (size_t r = 0; r < CIRCA_LEN; r++) {
        double pred = o.intercept;
        for (size_t c = 0; c < k; c++)
            pred += cf[c] * xs[c * CIRCA_LEN + r];
        res[r] = nx->y[r] - pred;
    }
    nx->z = max_abs_z(res, CIRCA_TRAIN, res + te, CIRCA_DETECT_S);
    rc = 0;
out:
    if (cf != coef)
        free(cf);
    return rc;
}

/* ---------------------------------------------------------------------
 * Descendant adjustment (DAScorer, opt-in)
 * --------------------------------------------------------------------- */

/* graph.topological_sort: strongly connected components condensed, then
 * networkx's topological generations; layer[u] for the graph's nodes. */
static int topo_layers(struct circa *cc)
{
    size_t nn = cc->nn, ncomp = 0;
    size_t *comp = malloc((nn + 1) * sizeof(size_t));
    unsigned char *reach = malloc(nn * nn + 1);
    size_t *indeg = NULL, *clayer = NULL;
    int rc = -RCA_E_NOMEM;

    if (!comp || !reach)
        goto out;
    /* reachability (Warshall; n is small), SCC = mutual reachability */
    for (size_t u = 0; u < nn; u++)
        for (size_t v = 0; v < nn; v++)
            reach[u * nn + v] = u == v || cc->g[u * nn + v];
    for (size_t w = 0; w < nn; w++)
        for (size_t u = 0; u < nn; u++)
            if (reach[u * nn + w])
                for (size_t v = 0; v < nn; v++)
                    reach[u * nn + v] |= reach[w * nn + v];
    for (size_t u = 0; u < nn; u++)
        comp[u] = SIZE_MAX;
    for (size_t u = 0; u < nn; u++) {
        if (comp[u] != SIZE_MAX || !cc->node[u].in_graph)
            continue;
        for (size_t v = u; v < nn; v++)
            if (reach[u * nn + v] && reach[v * nn + u])
                comp[v] = ncomp;
        ncomp++;
    }
    indeg = calloc(ncomp + 1, sizeof(size_t));
    clayer = calloc(ncomp + 1, sizeof(size_t));
    if (!indeg || !clayer)
        goto out;
    /* longest-path layering = topological generations */
    for (size_t c = 0; c < ncomp; c++)
        clayer[c] = 0;
    for (size_t pass = 0; pass < ncomp; pass++)
        for (size_t u = 0; u < nn; u++)
            for (size_t v = 0; v < nn; v++)
                if (cc->g[u * nn + v] && comp[u] != SIZE_MAX &&
                    comp[v] != SIZE_MAX && comp[u] != comp[v] &&
                    clayer[comp[v]] < clayer[comp[u]] + 1)
                    clayer[comp[v]] = clayer[comp[u]] + 1;
    for (size_t u = 0; u < nn; u++)
        cc->node[u].layer = comp[u] == SIZE_MAX ? 0 : clayer[comp[u]];
    rc = 0;
out:
    free(comp);
    free(reach);
    free(indeg);
    free(clayer);
    return rc;
}

static int adjust(struct circa *cc, double *orig)
{
    size_t nn = cc->nn;
    int rc = topo_layers(cc);

    if (rc < 0)
        return rc;
    for (size_t u = 0; u < nn; u++)
        orig[u] = cc->node[u].score;
    for (size_t u = 0; u < nn; u++) {
        double best = -INFINITY;
        if (!cc->node[u].loaded)
            continue;
        for (size_t v = 0; v < nn; v++)
            if (cc->g[u * nn + v] && cc->node[v].loaded && orig[v] > best)
                best = orig[v];
        if (best > -INFINITY)
            cc->node[u].score += best;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * The method
 * --------------------------------------------------------------------- */

static int circa_rank(const struct rca_case *c, const struct rca_params *p,
                      struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct circa cc = {0};
    struct circa_opts o;
    struct series_table *t = NULL;
    signed char *m = NULL;
    double *xs = NULL, *res = NULL, *orig = NULL;
    size_t *cnt = NULL, *ord = NULL, nord = 0;
    int rc;

    if ((rc = circa_opts_read(p, &o, err, errlen)) < 0)
        return rc;
    if (!(t = series_table_copy(c->metrics)))
        return rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    series_table_preprocess_rcaeval(t);
    if (t->ncols == 0) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "circa: no column varies in the window");
        goto out;
    }
    struct stats_pc_opts po = {{o.alpha, false, -1}};
    m = malloc(t->ncols * t->ncols + 1);
    if (!m) {
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
        goto out;
    }
    if ((rc = stats_pc_fisherz(t->values, t->nrows, t->ncols, &po, m, NULL)) <
        0) {
        rc = rca_fail(err, errlen,
                      rc == -STATS_E_NOMEM ? RCA_E_NOMEM : RCA_E_DATA, name,
                      "circa: PC on %zu columns x %zu rows: %s", t->ncols,
                      t->nrows, stats_strerror(rc));
        goto out;
    }
    if ((rc = nodes_build(&cc, t)) < 0 || (rc = graph_build(&cc, m)) < 0) {
        rc = rca_fail(err, errlen, -rc, name, "circa: %s",
                      rc == -RCA_E_DATA
                          ? "a PC mark pair RCAEval's rht() raises on"
                          : "out of memory");
        goto out;
    }
    xs = malloc((cc.nn * CIRCA_LEN + 1) * sizeof(double));
    res = malloc(CIRCA_LEN * sizeof(double));
    cnt = malloc(CIRCA_LEN * sizeof(size_t));
    orig = malloc((cc.nn + 1) * sizeof(double));
    ord = malloc((cc.nn + 1) * sizeof(size_t));
    if (!xs || !res || !cnt || !orig || !ord) {
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
        goto out;
    }
    /* CaseData.load_data: start = t_F - lookup window */
    double start = floor((double)c->inject_ns / 1e9) - CIRCA_LOOKUP_S;
    for (size_t i = 0; i < cc.nn; i++) {
        struct cnode *nd = &cc.node[i];
        if (!nd->in_graph || nd->col < 0)
            continue;
        if (!(nd->y = malloc(CIRCA_LEN * sizeof(double)))) {
            rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
            goto out;
        }
        nd->loaded = load_series(t, nd->col, start, nd->y, cnt) &&
                     !constant(nd->y, CIRCA_LEN);
        if (nd->loaded)
            ord[nord++] = i;
    }
    for (size_t k = 0; k < nord; k++)
        if ((rc = score_node(&cc, ord[k], xs, res)) < 0) {
            rc = rca_fail(err, errlen, -rc, name, "circa: %s: regression",
                          cc.node[ord[k]].key);
            goto out;
        } else {
            cc.node[ord[k]].score = cc.node[ord[k]].z;
        }
    if (o.adjust && (rc = adjust(&cc, orig)) < 0) {
        rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
        goto out;
    }
    if (o.adjust) {
        /* key (score, -layer, z): a stable sort on the later keys first */
        for (size_t a = 1; a < nord; a++) {
            size_t v = ord[a], b = a;
            while (b > 0) {
                const struct cnode *x = &cc.node[ord[b - 1]], *y = &cc.node[v];
                bool later = x->score < y->score ||
                             (x->score == y->score &&
                              (x->layer > y->layer ||
                               (x->layer == y->layer && x->z < y->z)));
                if (!later)
                    break;
                ord[b] = ord[b - 1];
                b--;
            }
            ord[b] = v;
        }
    }
    for (size_t k = 0; k < nord; k++)
        if (rca_ranking_add(out, cc.node[ord[k]].key, cc.node[ord[k]].score) <
            0) {
            rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
            goto out;
        }
    if (!o.adjust)
        rca_ranking_sort(out);
    rc = 0;
out:
    circa_free(&cc);
    series_table_destroy(t);
    free(m);
    free(xs);
    free(res);
    free(cnt);
    free(orig);
    free(ord);
    return rc;
}

const struct rca_method rca_method_circa = {
    .name = "circa",
    .summary = "PC graph + regression-based hypothesis testing of each "
               "metric on its graph neighbours (CIRCA, RCAEval's rht)",
    .inputs = RCA_IN_METRICS | RCA_IN_INJECT,
    .flags = RCA_METHOD_FALLBACK,
    .params = circa_params,
    .validate = circa_validate,
    .rank = circa_rank,
};
