/* microrank: MicroRank (Yu et al., "MicroRank: End-to-End Latency Issue
 * Localization with Extended Spectrum Analysis in Microservice
 * Environments", WWW 2021) as the RCAEval copy vendored in rca-llm runs it
 * (rca-benchmark/RCAEval/e2e/microrank.py, itself refactored from
 * IntelligentDDS/MicroRank):
 *
 *  1. traces.csv split at the inject time (trace_spans.h): spans ending
 *     before it are the normal side; each operation's SLO (mean, sd in ms,
 *     rounded to 0.01) comes from it; a span at or after the inject time
 *     is abnormal when its duration >= mean + 3 sd.
 *  2. Two trace-operation graphs, one over the spans before the inject
 *     time ("normal") and one over those at or after it ("anomalous").
 *     RCAEval counts normal and abnormal traces from the latency split
 *     (traces with a span under / at or over the threshold) but builds the
 *     graphs from the time split; mode=paper builds them from the latency
 *     split instead (MicroRank's own flow; see below).
 *  3. Per graph, MicroRank's PageRank over operations and traces: 25
 *     iterations of s = d (P_sr r + alpha P_ss s), r = d P_rs s + (1-d) v,
 *     each rescaled by its maximum (d 0.85, alpha 0.01). P_ss: operation
 *     -> its child operations, 1/children; P_sr: operation <- trace,
 *     1/(operations in the trace); P_rs: trace <- operation, 1/(traces
 *     through it). The preference v favours traces of rare shapes (kind =
 *     traces with the same set of operations) and, in the anomalous graph,
 *     short traces. An operation's weight = its score * (sum of scores) /
 *     operations.
 *  4. Spectrum: for each operation ef = w_a * n_a, nf = w_a * (A - n_a),
 *     ep = w_n * n_n, np = w_n * (N - n_n), with n_* the traces through
 *     it in each graph and A, N the abnormal and normal trace counts (an
 *     operation missing from one graph gets RCAEval's 1e-7 stand-ins);
 *     score by the spectrum formula (dstar2: ef^2 / (ep + nf)).
 *  5. The first top_max + 6 = 11 operations by score ("<service>_<method>"
 *     names: the service is the text before the first '_').
 *
 * RCAEval's quirks kept on purpose (they are what the benchmark scored):
 *  - The call graph (P_ss) of an operation holds the child operations of
 *    the LAST span of that operation only (get_pagerank_graph() resets the
 *    list on every row).
 *  - Span IDs and parent IDs are matched across the whole side, not per
 *    trace; the span of a duplicated ID is the last one.
 *  - The matrices are float32 in RCAEval: their entries and the preference
 *    vector are rounded to float here too; the iteration is in double.
 *  - With the default mode, the latency split only sets A and N: the two
 *    graphs differ only by time, so on a system whose requests all take
 *    the same path every operation has the same coverage on both sides
 *    and the ranking follows the graph's shape, not the latency. This is
 *    why microrank blames the same operations whatever the fault
 *    (tests/test_rca_trace.c shows it).
 *
 * Departures (RCAEval raises where these apply): an operation first seen
 * after the inject time has no SLO and its spans are neither normal nor
 * abnormal (KeyError in RCAEval); spans without serviceName are left out;
 * a side without spans is -RCA_E_DATA (numpy's max of an empty array);
 * scores that divide by zero follow IEEE (inf, NaN; numpy does the same
 * with a warning, but Python's math.sqrt in ochiai would raise). The
 * final sort is CPython's (trace_pysort.h), so a NaN score lands where
 * RCAEval's sorted() put it.
 *
 * Parameters: spectrum (dstar2 | ochiai | jaccard | sorensendice | m1 | m2
 * | goodman | tarantula | russellrao | hamann | dice | simplematcing |
 * rogers; RCAEval's spellings), top_max (5: keep top_max + 6 operations),
 * mode (rcaeval | paper: MicroRank's own flow: the post-inject traces
 * split by their end-to-end latency, i.e. a trace is abnormal when its
 * root span is at or above its operation's threshold, normal when below;
 * the normal graph over the normal traces' post-inject spans, the
 * anomalous graph over the abnormal ones', A and N their counts, as
 * MicroRank's online loop does with its detector's trace lists; traces
 * whose root is not after the inject time take no part; a case with no
 * trace on one side is -RCA_E_DATA), slo_round (1: RCAEval's 0.01 ms
 * rounding of the SLO; 0: exact, see trace_spans.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rcaeval.h"
#include "rca/rca_method.h"
#include "rca/trace_pysort.h"
#include "rca/trace_spans.h"

#define MR_DAMPING 0.85
#define MR_ALPHA 0.01
#define MR_ITERATIONS 25
#define MR_STANDIN 0.0000001 /* RCAEval's ep/np/ef/nf for a missing node */

static const char *const mr_params[] = {"spectrum", "top_max", "mode",
                                        "slo_round", NULL};

static const char *const mr_spectra[] = {
    "dstar2",     "ochiai", "jaccard", "sorensendice",
    "m1",         "m2",     "goodman", "tarantula",
    "russellrao", "hamann", "dice",    "simplematcing",
    "rogers",     NULL};

struct mr_opts {
    int spectrum; /* index into mr_spectra */
    size_t top_max;
    bool paper;
    bool exact; /* slo_round=0 */
};

static int mr_opts_read(const struct rca_params *p, struct mr_opts *o,
                        char *err, size_t errlen)
{
    const char *sp = rca_param(p, "spectrum"), *mode = rca_param(p, "mode");
    int rc;

    o->spectrum = 0;
    if (sp) {
        o->spectrum = -1;
        for (int i = 0; mr_spectra[i]; i++)
            if (!strcmp(mr_spectra[i], sp))
                o->spectrum = i;
        if (o->spectrum < 0)
            return rca_fail(err, errlen, RCA_E_INVAL, "microrank",
                            "spectrum=%s: not one of dstar2, ochiai, jaccard, "
                            "sorensendice, m1, m2, goodman, tarantula, "
                            "russellrao, hamann, dice, simplematcing, rogers",
                            sp);
    }
    o->paper = false;
    if (mode && strcmp(mode, "rcaeval") != 0) {
        if (strcmp(mode, "paper") != 0)
            return rca_fail(err, errlen, RCA_E_INVAL, "microrank",
                            "mode=%s: expected rcaeval or paper", mode);
        o->paper = true;
    }
    size_t round;
    if ((rc = rca_param_size(p, "microrank", "top_max", 5, 0, SIZE_MAX - 6,
                             &o->top_max, err, errlen)) < 0 ||
        (rc = rca_param_size(p, "microrank", "slo_round", 1, 0, 1, &round, err,
                             errlen)) < 0)
        return rc;
    o->exact = round == 0;
    return 0;
}

static int mr_validate(const struct rca_params *p, char *err, size_t errlen)
{
    struct mr_opts o;

    return mr_opts_read(p, &o, err, errlen);
}

/* ---------------------------------------------------------------------
 * One trace-operation graph and its PageRank (get_pagerank_graph() and
 * trace_pagerank())
 * --------------------------------------------------------------------- */

struct mr_graph {
    size_t nnodes;     /* operations, in order of first row */
    size_t ntraces;    /* traces, in order of first row */
    uint32_t *node_op; /* node -> operation */
    uint32_t *op_node; /* operation -> node or TRACE_SPANS_NONE */
    uint32_t *tcount;  /* node -> traces through it (trace_num_list) */
    uint32_t *tstart;  /* trace -> first of its nodes in tnodes (CSR) */
    uint32_t *tnodes;  /* distinct nodes of each trace, ascending */
    uint32_t *tlen;    /* trace -> spans (pr_trace: with repeats) */
    uint32_t *cstart;  /* node -> first of its children in cnodes (CSR) */
    uint32_t *cnodes;  /* distinct child nodes */
    double *weight;    /* node -> MicroRank weight */
};

static void mr_graph_free(struct mr_graph *g)
{
    free(g->node_op);
    free(g->op_node);
    free(g->tcount);
    free(g->tstart);
    free(g->tnodes);
    free(g->tlen);
    free(g->cstart);
    free(g->cnodes);
    free(g->weight);
    memset(g, 0, sizeof(*g));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nodes, traces, and the distinct (trace, node) pairs as a CSR. */
static int mr_coverage(const struct trace_spans *s, const uint8_t *in,
                       struct mr_graph *g)
{
    size_t n = s->nspans, npairs = 0;
    uint32_t *tr_local =
        malloc((s->ntraces ? s->ntraces : 1) * sizeof(*tr_local));
    uint64_t *pairs = malloc((n ? n : 1) * sizeof(*pairs));
    int rc = -1;

    g->node_op = malloc((s->nops ? s->nops : 1) * sizeof(*g->node_op));
    g->op_node = malloc((s->nops ? s->nops : 1) * sizeof(*g->op_node));
    g->tlen = calloc(s->ntraces ? s->ntraces : 1, sizeof(*g->tlen));
    if (!tr_local || !pairs || !g->node_op || !g->op_node || !g->tlen)
        goto out;
    memset(g->op_node, 0xff, s->nops * sizeof(*g->op_node));
    memset(tr_local, 0xff, s->ntraces * sizeof(*tr_local));
    for (size_t i = 0; i < n; i++) {
        if (!in[i])
            continue;
        uint32_t op = s->op[i], t = s->trace[i];
        if (g->op_node[op] == TRACE_SPANS_NONE) {
            g->op_node[op] = (uint32_t)g->nnodes;
            g->node_op[g->nnodes++] = op;
        }
        if (tr_local[t] == TRACE_SPANS_NONE)
            tr_local[t] = (uint32_t)g->ntraces++;
        g->tlen[tr_local[t]]++;
        pairs[npairs++] = (uint64_t)tr_local[t] << 32 | g->op_node[op];
    }
    qsort(pairs, npairs, sizeof(*pairs), cmp_u64);
    g->tstart = calloc(g->ntraces + 1, sizeof(*g->tstart));
    g->tnodes = malloc((npairs ? npairs : 1) * sizeof(*g->tnodes));
    g->tcount = calloc(g->nnodes ? g->nnodes : 1, sizeof(*g->tcount));
    if (!g->tstart || !g->tnodes || !g->tcount)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < npairs; i++) {
        if (i > 0 && pairs[i] == pairs[i - 1])
            continue;
        uint32_t t = (uint32_t)(pairs[i] >> 32), node = (uint32_t)pairs[i];
        g->tnodes[k++] = node;
        g->tstart[t + 1]++;
        g->tcount[node]++;
    }
    for (size_t t = 0; t < g->ntraces; t++)
        g->tstart[t + 1] += g->tstart[t];
    rc = 0;
out:
    free(tr_local);
    free(pairs);
    return rc;
}

/* operation_operation: each node's distinct child nodes, from the children
 * of the last span (row) of its operation. */
static int mr_calls(const struct trace_spans *s, const uint8_t *in,
                    struct mr_graph *g)
{
    size_t n = s->nspans, nk = s->nkeys ? s->nkeys : 1;
    uint32_t *last_key = malloc(nk * sizeof(*last_key));
    uint32_t *head = malloc(nk * sizeof(*head));
    uint32_t *next = malloc((n ? n : 1) * sizeof(*next));
    uint32_t *last_op = malloc((g->nnodes ? g->nnodes : 1) * sizeof(*last_op));
    uint32_t *mark = calloc(g->nnodes ? g->nnodes : 1, sizeof(*mark));
    size_t ncap = 64, k = 0;
    int rc = -1;

    g->cstart = calloc(g->nnodes + 1, sizeof(*g->cstart));
    g->cnodes = malloc(ncap * sizeof(*g->cnodes));
    if (!last_key || !head || !next || !last_op || !mark || !g->cstart ||
        !g->cnodes)
        goto out;
    memset(last_key, 0xff, nk * sizeof(*last_key));
    memset(head, 0xff, nk * sizeof(*head));
    /* rows pushed in reverse so each list runs in row order (for
     * readability only: the children form a set) */
    for (size_t i = n; i-- > 0;) {
        if (!in[i])
            continue;
        if (s->parent_key[i] != TRACE_SPANS_NONE) {
            next[i] = head[s->parent_key[i]];
            head[s->parent_key[i]] = (uint32_t)i;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (in[i]) {
            last_key[s->key[i]] = (uint32_t)i;
            last_op[g->op_node[s->op[i]]] = (uint32_t)i;
        }
    for (size_t v = 0; v < g->nnodes; v++) {
        uint32_t key = s->key[last_op[v]];

        g->cstart[v] = (uint32_t)k;
        for (uint32_t c = head[key]; c != TRACE_SPANS_NONE; c = next[c]) {
            /* op_dict[child span ID]: the last row with that ID */
            uint32_t child = g->op_node[s->op[last_key[s->key[c]]]];
            if (mark[child] == v + 1)
                continue;
            mark[child] = (uint32_t)v + 1;
            if (k == ncap) {
                uint32_t *p = realloc(g->cnodes, 2 * ncap * sizeof(*p));
                if (!p)
                    goto out;
                g->cnodes = p;
                ncap *= 2;
            }
            g->cnodes[k++] = child;
        }
    }
    g->cstart[g->nnodes] = (uint32_t)k;
    rc = 0;
out:
    free(last_key);
    free(head);
    free(next);
    free(last_op);
    free(mark);
    return rc;
}

struct mr_shape {
    uint32_t trace;
    uint32_t len;
    const uint32_t *nodes;
};

static int cmp_shape(const void *a, const void *b)
{
    const struct mr_shape *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    for (uint32_t i = 0; i < x->len; i++)
        if (x->nodes[i] != y->nodes[i])
            return x->nodes[i] < y->nodes[i] ? -1 : 1;
    return (x->trace > y->trace) - (x->trace < y->trace);
}

/* kind_list: per trace, how many traces have exactly its set of nodes. */
static int mr_kinds(const struct mr_graph *g, double *kind)
{
    struct mr_shape *sh = malloc((g->ntraces ? g->ntraces : 1) * sizeof(*sh));

    if (!sh)
        return -1;
    for (size_t t = 0; t < g->ntraces; t++)
        sh[t] = (struct mr_shape){(uint32_t)t, g->tstart[t + 1] - g->tstart[t],
                                  g->tnodes + g->tstart[t]};
    qsort(sh, g->ntraces, sizeof(*sh), cmp_shape);
    for (size_t i = 0; i < g->ntraces;) {
        size_t j = i + 1;
        while (j < g->ntraces && sh[j].len == sh[i].len &&
               !memcmp(sh[j].nodes, sh[i].nodes, sh[i].len * sizeof(uint32_t)))
            j++;
        for (size_t q = i; q < j; q++)
            kind[sh[q].trace] = (double)(j - i);
        i = j;
    }
    free(sh);
    return 0;
}

/* The preference vector pr (float32 in RCAEval). */
static void mr_preference(const struct mr_graph *g, const double *kind,
                          bool anomaly, double *v)
{
    double kind_sum = 0.0, num_sum = 0.0;

    for (size_t t = 0; t < g->ntraces; t++) {
        kind_sum += 1.0 / kind[t];
        num_sum += 1.0 / (double)g->tlen[t];
    }
    for (size_t t = 0; t < g->ntraces; t++) {
        double x =
            anomaly
                ? 1.0 / (kind[t] / kind_sum * 0.5 + 1.0 / (double)g->tlen[t]) /
                      num_sum * 0.5
                : 1.0 / kind[t] / kind_sum;
        v[t] = (float)x;
    }
}

/* np.amax: NaN when any value is NaN. */
static double max_of(const double *x, size_t n)
{
    double m = x[0];

    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return x[i];
        if (x[i] > m)
            m = x[i];
    }
    return m;
}

/* P_sr r into ps and P_ss s into ss (N each). */
static void mr_service_step(const struct mr_graph *g, const double *sv,
                            const double *rv, double *ps, double *ss)
{
    size_t N = g->nnodes;

    memset(ps, 0, N * sizeof(*ps));
    memset(ss, 0, N * sizeof(*ss));
    for (size_t t = 0; t < g->ntraces; t++) {
        uint32_t a = g->tstart[t], b = g->tstart[t + 1];
        double w = (double)(float)(1.0 / (double)(b - a)) * rv[t];
        for (uint32_t q = a; q < b; q++)
            ps[g->tnodes[q]] += w;
    }
    for (size_t u = 0; u < N; u++) {
        uint32_t a = g->cstart[u], b = g->cstart[u + 1];
        if (a == b)
            continue;
        double w = (double)(float)(1.0 / (double)(b - a)) * sv[u];
        for (uint32_t q = a; q < b; q++)
            ss[g->cnodes[q]] += w;
    }
}

/* pageRank(): 25 steps of s = d (P_sr r + alpha P_ss s), r = d P_rs s +
 * (1 - d) v, each rescaled by its maximum; sv gets the operations' final
 * scores (rescaled once more). rv, nr: M doubles; ps, ss: N doubles. */
static void mr_iterate(const struct mr_graph *g, const double *v, double *sv,
                       double *rv, double *nr, double *ps, double *ss)
{
    size_t N = g->nnodes, M = g->ntraces;

    for (size_t u = 0; u < N; u++)
        sv[u] = 1.0 / (double)(N + M);
    for (size_t t = 0; t < M; t++)
        rv[t] = 1.0 / (double)(N + M);
    for (int it = 0; it < MR_ITERATIONS; it++) {
        mr_service_step(g, sv, rv, ps, ss);
        for (size_t u = 0; u < N; u++)
            ps[u] = MR_DAMPING * (ps[u] + MR_ALPHA * ss[u]);
        for (size_t t = 0; t < M; t++) {
            uint32_t a = g->tstart[t], b = g->tstart[t + 1];
            double x = 0.0;
            for (uint32_t q = a; q < b; q++)
                x += (double)(float)(1.0 / (double)g->tcount[g->tnodes[q]]) *
                     sv[g->tnodes[q]];
            /* (1 - d) * v is a float32 product in numpy < 2 */
            nr[t] = MR_DAMPING * x +
                    (double)((float)(1.0 - MR_DAMPING) * (float)v[t]);
        }
        /* both updates read the old s: assign after computing r */
        double ms = max_of(ps, N), mr = max_of(nr, M);
        for (size_t u = 0; u < N; u++)
            sv[u] = ps[u] / ms;
        for (size_t t = 0; t < M; t++)
            rv[t] = nr[t] / mr;
    }
    double ms = max_of(sv, N);
    for (size_t u = 0; u < N; u++)
        sv[u] /= ms;
}

/* The graph of the rows with in[i] set, and its weights. */
static int mr_graph_build(const struct trace_spans *s, const uint8_t *in,
                          bool anomaly, struct mr_graph *g)
{
    double *kind = NULL, *v = NULL, *rv = NULL, *nr = NULL, *ns = NULL;
    int rc = -1;

    memset(g, 0, sizeof(*g));
    if (mr_coverage(s, in, g) < 0 || mr_calls(s, in, g) < 0)
        goto out;
    size_t N = g->nnodes, M = g->ntraces;
    kind = malloc(M * sizeof(*kind));
    v = malloc(M * sizeof(*v));
    rv = malloc(M * sizeof(*rv));
    nr = malloc(M * sizeof(*nr));
    ns = malloc(2 * N * sizeof(*ns));
    g->weight = malloc(N * sizeof(*g->weight));
    if (!kind || !v || !rv || !nr || !ns || !g->weight || mr_kinds(g, kind) < 0)
        goto out;
    mr_preference(g, kind, anomaly, v);
    mr_iterate(g, v, g->weight, rv, nr, ns, ns + N);
    /* weight = score * sum(scores) / operations; Python sums in order */
    double sum = 0.0;
    for (size_t u = 0; u < N; u++)
        sum += g->weight[u];
    for (size_t u = 0; u < N; u++)
        g->weight[u] = g->weight[u] * sum / (double)N;
    rc = 0;
out:
    free(kind);
    free(v);
    free(rv);
    free(nr);
    free(ns);
    if (rc < 0)
        mr_graph_free(g);
    return rc;
}

/* ---------------------------------------------------------------------
 * Spectrum (calculate_spectrum_without_delay_list())
 * --------------------------------------------------------------------- */

static double mr_score(int f, double ef, double ep, double nf, double np)
{
    switch (f) {
    case 0: /* dstar2 */
        return ef * ef / (ep + nf);
    case 1: /* ochiai */
        return ef / sqrt((ep + ef) * (ef + nf));
    case 2: /* jaccard */
        return ef / (ef + ep + nf);
    case 3: /* sorensendice */
        return 2 * ef / (2 * ef + ep + nf);
    case 4: /* m1 */
        return (ef + np) / (ep + nf);
    case 5: /* m2 */
        return ef / (2 * ep + 2 * nf + ef + np);
    case 6: /* goodman */
        return (2 * ef - nf - ep) / (2 * ef + nf + ep);
    case 7: /* tarantula */
        return ef / (ef + nf) / (ef / (ef + nf) + ep / (ep + np));
    case 8: /* russellrao */
        return ef / (ef + nf + ep + np);
    case 9: /* hamann */
        return (ef + np - ep - nf) / (ef + nf + ep + np);
    case 10: /* dice */
        return 2 * ef / (ef + nf + ep);
    case 11: /* simplematcing */
        return (ef + np) / (ef + np + nf + ep);
    default: /* rogers */
        return (ef + np) / (ef + np + 2 * nf + 2 * ep);
    }
}

/* The spectrum score of every operation, in RCAEval's dict order (the
 * anomalous graph's nodes, then the normal graph's others), into
 * op_of[]/score[]; returns how many. */
static size_t mr_spectrum(const struct mr_graph *a, const struct mr_graph *n,
                          double alen, double nlen, int f, uint32_t *op_of,
                          double *score)
{
    size_t k = 0;

    for (size_t u = 0; u < a->nnodes; u++) {
        uint32_t op = a->node_op[u], w = n->op_node[op];
        double ef = a->weight[u] * a->tcount[u];
        double nf = a->weight[u] * (alen - a->tcount[u]);
        double ep = MR_STANDIN, np = MR_STANDIN;

        if (w != TRACE_SPANS_NONE) {
            ep = n->weight[w] * n->tcount[w];
            np = n->weight[w] * (nlen - n->tcount[w]);
        }
        op_of[k] = op;
        score[k++] = mr_score(f, ef, ep, nf, np);
    }
    for (size_t u = 0; u < n->nnodes; u++) {
        uint32_t op = n->node_op[u];
        if (a->op_node[op] != TRACE_SPANS_NONE)
            continue;
        double ep = (1 + n->weight[u]) * n->tcount[u];
        double np = nlen - n->tcount[u];
        op_of[k] = op;
        score[k++] = mr_score(f, MR_STANDIN, ep, MR_STANDIN, np);
    }
    return k;
}

/* sorted(result.items(), key=score, reverse=True)[:keep] into out. */
static int mr_emit(const struct trace_spans *s, const uint32_t *op_of,
                   const double *score, size_t k, size_t keep,
                   struct rca_ranking *out)
{
    size_t *order = malloc((k ? k : 1) * sizeof(*order));

    if (!order || trace_pysort_desc(score, k, order) < 0) {
        free(order);
        return -1;
    }
    for (size_t i = 0; i < k && i < keep; i++)
        if (rca_ranking_add(out, s->ops[op_of[order[i]]].name,
                            score[order[i]]) < 0) {
            free(order);
            return -1;
        }
    free(order);
    return 0;
}

/* ---------------------------------------------------------------------
 * The method
 * --------------------------------------------------------------------- */

/* Distinct traces among the rows with in[i] set. */
static size_t count_traces(const struct trace_spans *s, const uint8_t *in,
                           uint8_t *seen)
{
    size_t k = 0;

    memset(seen, 0, s->ntraces ? s->ntraces : 1);
    for (size_t i = 0; i < s->nspans; i++)
        if (in[i] && !seen[s->trace[i]]) {
            seen[s->trace[i]] = 1;
            k++;
        }
    return k;
}

/* Which rows feed the normal (in_n) and the anomalous (in_a) graph, and
 * RCAEval's normal and abnormal trace counts. */
static void mr_sides(const struct trace_spans *s, bool paper, uint8_t *in_n,
                     uint8_t *in_a, uint8_t *work, double *nlen, double *alen)
{
    size_t n = s->nspans;

    if (!paper) {
        for (size_t i = 0; i < n; i++)
            in_n[i] = s->state[i] == TRACE_SPAN_FAST;
        *nlen = (double)count_traces(s, in_n, work);
        for (size_t i = 0; i < n; i++)
            in_a[i] = s->state[i] == TRACE_SPAN_SLOW;
        *alen = (double)count_traces(s, in_a, work);
        for (size_t i = 0; i < n; i++) {
            in_n[i] = s->state[i] == TRACE_SPAN_BEFORE;
            in_a[i] = s->state[i] == TRACE_SPAN_FAST ||
                      s->state[i] == TRACE_SPAN_SLOW ||
                      s->state[i] == TRACE_SPAN_UNSCORED;
        }
        return;
    }
    /* paper: MicroRank judges a trace by its end-to-end latency. A trace
     * is abnormal when its root span (one without a parent among the
     * spans) is at or after the inject time and slow, normal when fast;
     * traces without such a root (cut by the inject time, or a root
     * operation without threshold) take no part. */
    memset(work, 0, s->ntraces ? s->ntraces : 1);
    for (size_t i = 0; i < n; i++)
        if (s->parent_key[i] == TRACE_SPANS_NONE &&
            (s->state[i] == TRACE_SPAN_FAST ||
             s->state[i] == TRACE_SPAN_SLOW)) {
            uint8_t cls = s->state[i] == TRACE_SPAN_SLOW ? 2 : 1;
            if (cls > work[s->trace[i]])
                work[s->trace[i]] = cls;
        }
    for (size_t i = 0; i < n; i++) {
        bool after = s->state[i] == TRACE_SPAN_FAST ||
                     s->state[i] == TRACE_SPAN_SLOW ||
                     s->state[i] == TRACE_SPAN_UNSCORED;
        in_a[i] = after && work[s->trace[i]] == 2;
        in_n[i] = after && work[s->trace[i]] == 1;
    }
    *nlen = (double)count_traces(s, in_n, work);
    *alen = (double)count_traces(s, in_a, work);
}

static bool any(const uint8_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i])
            return true;
    return false;
}

static int mr_rank(const struct rca_case *c, const struct rca_params *p,
                   struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct trace_spans s;
    struct mr_graph gn = {0}, ga = {0};
    struct mr_opts o;
    uint8_t *in_n = NULL, *in_a = NULL, *work = NULL;
    uint32_t *op_of = NULL;
    double nlen, alen, *score = NULL;
    int rc;

    if ((rc = mr_opts_read(p, &o, err, errlen)) < 0)
        return rc;
    struct trace_spans_opts so = {.exact_slo = o.exact};
    if (trace_spans_build(c->traces, c->inject_ns, &so, &s) < 0)
        return rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    size_t n = s.nspans ? s.nspans : 1;
    in_n = calloc(n, 1);
    in_a = calloc(n, 1);
    work = malloc(s.ntraces ? s.ntraces : 1);
    if (!in_n || !in_a || !work)
        goto oom;
    mr_sides(&s, o.paper, in_n, in_a, work, &nlen, &alen);
    if (!any(in_n, s.nspans) || !any(in_a, s.nspans)) {
        const char *what =
            o.paper ? (!any(in_a, s.nspans) ? "no abnormal trace after"
                                            : "no normal trace after")
                    : (!any(in_n, s.nspans) ? "no span ends before"
                                            : "no span ends at or after");
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "microrank: %s the inject time", what);
        goto out;
    }
    if (mr_graph_build(&s, in_n, false, &gn) < 0 ||
        mr_graph_build(&s, in_a, true, &ga) < 0)
        goto oom;
    op_of = malloc((s.nops ? s.nops : 1) * sizeof(*op_of));
    score = malloc((s.nops ? s.nops : 1) * sizeof(*score));
    if (!op_of || !score)
        goto oom;
    size_t k = mr_spectrum(&ga, &gn, alen, nlen, o.spectrum, op_of, score);
    if (mr_emit(&s, op_of, score, k, o.top_max + 6, out) < 0)
        goto oom;
    rc = 0;
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    mr_graph_free(&gn);
    mr_graph_free(&ga);
    free(in_n);
    free(in_a);
    free(work);
    free(op_of);
    free(score);
    trace_spans_free(&s);
    return rc;
}

const struct rca_method rca_method_microrank = {
    .name = "microrank",
    .summary = "MicroRank: PageRank over the trace-operation graphs before "
               "and after the fault, then spectrum analysis (traces)",
    .inputs = RCA_IN_TRACES | RCA_IN_INJECT,
    .params = mr_params,
    .validate = mr_validate,
    .rank = mr_rank,
};
