/* trace_spans: a case's spans split at the inject time and classified by
 * latency as RCAEval's trace methods do (trace_spans.h). Sits between
 * src/ingest/rcaeval (traces.csv) and the methods microrank, tracerca and
 * pdiagnose. */
#include "rca/trace_spans.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rcaeval.h"
#include "rca/rca.h"
#include "util/hash.h"

/* ---------------------------------------------------------------------
 * pandas' arithmetic
 * --------------------------------------------------------------------- */

double trace_np_sum(const double *x, size_t n)
{
    if (n < 8) {
        double r = 0.0;
        for (size_t i = 0; i < n; i++)
            r += x[i];
        return r;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i;

        memcpy(r, x, sizeof r);
        for (i = 8; i < n - n % 8; i += 8)
            for (size_t j = 0; j < 8; j++)
                r[j] += x[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += x[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return trace_np_sum(x, n2) + trace_np_sum(x + n2, n - n2);
}

double trace_pd_mean(const double *x, size_t n)
{
    return n ? trace_np_sum(x, n) / (double)n : NAN;
}

double trace_pd_std(const double *x, size_t n, double *work)
{
    if (n < 2)
        return NAN;
    double avg = trace_np_sum(x, n) / (double)n;
    for (size_t i = 0; i < n; i++)
        work[i] = (avg - x[i]) * (avg - x[i]);
    return sqrt(trace_np_sum(work, n) / (double)(n - 1));
}

double trace_py_round2(double x)
{
    char buf[400];

    if (!isfinite(x))
        return x;
    /* glibc's printf rounds the exact binary value correctly (ties to
     * even), which is what CPython's round(x, 2) does through dtoa. */
    snprintf(buf, sizeof buf, "%.2f", x);
    return strtod(buf, NULL);
}

/* ---------------------------------------------------------------------
 * Interning: open addressing over indices, keys compared by the caller's
 * rule (strings or 64-bit pairs).
 * --------------------------------------------------------------------- */

struct intern {
    uint32_t *slot; /* index + 1, 0 = empty */
    size_t mask;
};

static int intern_init(struct intern *t, size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n + 2)
        cap *= 2;
    t->slot = calloc(cap, sizeof(*t->slot));
    t->mask = cap - 1;
    return t->slot ? 0 : -1;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a full mix */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return hash_mix64(h);
}

/* The index of string s among keys[0..*n), adding it when new (as index
 * *n). The table never fills: it was sized for every row. */
static uint32_t intern_str(struct intern *t, const char **keys, size_t *n,
                           const char *s)
{
    size_t i = hash_str(s) & t->mask;

    for (; t->slot[i]; i = (i + 1) & t->mask)
        if (!strcmp(keys[t->slot[i] - 1], s))
            return t->slot[i] - 1;
    keys[*n] = s;
    t->slot[i] = (uint32_t)++ * n;
    return (uint32_t)(*n - 1);
}

/* Look s up without adding it. */
static uint32_t lookup_str(const struct intern *t, const char *const *keys,
                           const char *s)
{
    size_t i = hash_str(s) & t->mask;

    for (; t->slot[i]; i = (i + 1) & t->mask)
        if (!strcmp(keys[t->slot[i] - 1], s))
            return t->slot[i] - 1;
    return TRACE_SPANS_NONE;
}

static uint32_t intern_pair(struct intern *t, uint64_t *keys, size_t *n,
                            uint64_t k)
{
    size_t i = hash_mix64(k) & t->mask;

    for (; t->slot[i]; i = (i + 1) & t->mask)
        if (keys[t->slot[i] - 1] == k)
            return t->slot[i] - 1;
    keys[*n] = k;
    t->slot[i] = (uint32_t)++ * n;
    return (uint32_t)(*n - 1);
}

/* ---------------------------------------------------------------------
 * The view
 * --------------------------------------------------------------------- */

double trace_spans_end_us(const struct trace_spans *s, size_t i)
{
    const struct rcaeval_span *sp = &s->tr->spans[i];

    return (double)sp->start_us + sp->duration_us;
}

void trace_spans_free(struct trace_spans *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nops; i++)
        free(s->ops[i].name);
    free(s->ops);
    free(s->op);
    free(s->trace);
    free(s->key);
    free(s->parent_key);
    free(s->state);
    memset(s, 0, sizeof(*s));
}

/* Operations from the (service, method) pairs in order of first row:
 * pandas compares the joined strings, so two pairs that join to the same
 * "<service>_<method>" are one operation. Rewrites s->op from pair to
 * operation indices. */
static int pairs_to_ops(struct trace_spans *s, const uint64_t *pair,
                        size_t npairs)
{
    const struct rcaeval_traces *tr = s->tr;
    uint32_t *map = malloc((npairs ? npairs : 1) * sizeof(*map));
    const char **keys = calloc(npairs ? npairs : 1, sizeof(*keys));
    char **names = calloc(npairs ? npairs : 1, sizeof(*names));
    struct intern t = {0};
    size_t nops = 0;
    int rc = -1;

    if (!map || !keys || !names || intern_init(&t, npairs) < 0)
        goto out;
    for (size_t p = 0; p < npairs; p++) {
        const char *sv = tr->names[pair[p] >> 32];
        const char *me = tr->names[pair[p] & 0xffffffffu];
        size_t len = strlen(sv) + strlen(me) + 2;

        if (!(names[p] = malloc(len)))
            goto out;
        snprintf(names[p], len, "%s_%s", sv, me);
        map[p] = intern_str(&t, keys, &nops, names[p]);
    }
    if (!(s->ops = calloc(nops ? nops : 1, sizeof(*s->ops))))
        goto out;
    s->nops = nops;
    for (size_t p = 0; p < npairs; p++)
        if (keys[map[p]] == names[p]) { /* the first pair of its name */
            s->ops[map[p]].name = names[p];
            s->ops[map[p]].service = (uint32_t)(pair[p] >> 32);
            names[p] = NULL;
        }
    for (size_t i = 0; i < s->nspans; i++)
        if (s->op[i] != TRACE_SPANS_NONE)
            s->op[i] = map[s->op[i]];
    rc = 0;
out:
    for (size_t p = 0; names && p < npairs; p++)
        free(names[p]);
    free(names);
    free(keys);
    free(map);
    free(t.slot);
    return rc;
}

/* Dense indices of operations, traces and span IDs, in order of first row.
 */
static int index_rows(struct trace_spans *s)
{
    const struct rcaeval_traces *tr = s->tr;
    size_t n = tr->nspans, nops = 0, ntr = 0, nkeys = 0;
    uint64_t *opk = malloc((n ? n : 1) * sizeof(*opk));
    const char **trk = malloc((n ? n : 1) * sizeof(*trk));
    const char **spk = malloc((n ? n : 1) * sizeof(*spk));
    struct intern to = {0}, tt = {0}, tk = {0};
    int rc = -1;

    if (!opk || !trk || !spk || intern_init(&to, n) < 0 ||
        intern_init(&tt, n) < 0 || intern_init(&tk, n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct rcaeval_span *sp = &tr->spans[i];

        s->trace[i] = intern_str(&tt, trk, &ntr, sp->trace_id);
        s->key[i] = intern_str(&tk, spk, &nkeys, sp->span_id);
        /* pandas: service + "_" + NaN is NaN, no operation */
        s->op[i] =
            sp->service == RCAEVAL_NO_NAME || sp->method == RCAEVAL_NO_NAME
                ? TRACE_SPANS_NONE
                : intern_pair(&to, opk, &nops,
                              (uint64_t)sp->service << 32 | sp->method);
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = tr->spans[i].parent_id;
        s->parent_key[i] = p && *p ? lookup_str(&tk, spk, p) : TRACE_SPANS_NONE;
    }
    s->ntraces = ntr;
    s->nkeys = nkeys;
    if (pairs_to_ops(s, opk, nops) < 0)
        goto out;
    rc = 0;
out:
    free(opk);
    free(trk);
    free(spk);
    free(to.slot);
    free(tt.slot);
    free(tk.slot);
    return rc;
}

/* Each operation's SLO over the spans before the inject time, the
 * durations taken in row order (pandas' filter keeps it). */
static int fit_slo(struct trace_spans *s, double k_sigma, bool exact)
{
    size_t n = s->nspans, nops = s->nops;
    size_t *start = calloc(nops + 1, sizeof(*start));
    double *dur = malloc((n ? n : 1) * sizeof(*dur));
    double *work = malloc((n ? n : 1) * sizeof(*work));
    int rc = -1;

    if (!start || !dur || !work)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (s->state[i] == TRACE_SPAN_BEFORE)
            start[s->op[i] + 1]++;
    for (size_t o = 0; o < nops; o++)
        start[o + 1] += start[o];
    for (size_t o = 0; o < nops; o++)
        s->ops[o].n_before = 0;
    for (size_t i = 0; i < n; i++)
        if (s->state[i] == TRACE_SPAN_BEFORE) {
            struct trace_op *op = &s->ops[s->op[i]];
            dur[start[s->op[i]] + op->n_before++] = s->tr->spans[i].duration_us;
        }
    for (size_t o = 0; o < nops; o++) {
        struct trace_op *op = &s->ops[o];
        const double *d = dur + start[o];

        /* round(Series.mean() / 1_000, 2), likewise std() */
        op->mean_ms = trace_pd_mean(d, op->n_before) / 1000.0;
        op->sd_ms = trace_pd_std(d, op->n_before, work) / 1000.0;
        if (!exact) {
            op->mean_ms = trace_py_round2(op->mean_ms);
            op->sd_ms = trace_py_round2(op->sd_ms);
        }
        op->thresh_ms = op->mean_ms + k_sigma * op->sd_ms;
    }
    rc = 0;
out:
    free(start);
    free(dur);
    free(work);
    return rc;
}

int trace_spans_build(const struct rcaeval_traces *tr, int64_t inject_ns,
                      const struct trace_spans_opts *o, struct trace_spans *out)
{
    double k_sigma = o && o->k_sigma > 0 ? o->k_sigma : 3.0;
    size_t n = tr->nspans, m = n ? n : 1;
    /* RCAEval: int(inject_time) * 1_000_000 us; exact for whole seconds. */
    double inject_us = (double)(inject_ns / 1000);

    memset(out, 0, sizeof(*out));
    out->tr = tr;
    out->nspans = n;
    out->op = malloc(m * sizeof(*out->op));
    out->trace = malloc(m * sizeof(*out->trace));
    out->key = malloc(m * sizeof(*out->key));
    out->parent_key = malloc(m * sizeof(*out->parent_key));
    out->state = malloc(m);
    if (!out->op || !out->trace || !out->key || !out->parent_key ||
        !out->state || index_rows(out) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++)
        out->state[i] = out->op[i] == TRACE_SPANS_NONE ? TRACE_SPAN_SKIPPED
                        : trace_spans_end_us(out, i) < inject_us
                            ? TRACE_SPAN_BEFORE
                            : TRACE_SPAN_UNSCORED;
    if (fit_slo(out, k_sigma, o && o->exact_slo) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (out->state[i] == TRACE_SPAN_UNSCORED) {
            double t = out->ops[out->op[i]].thresh_ms;
            double d_ms = tr->spans[i].duration_us / 1000.0;

            /* NaN thresholds make both of RCAEval's comparisons false */
            if (!isnan(t) && !isnan(d_ms))
                out->state[i] = d_ms >= t ? TRACE_SPAN_SLOW : TRACE_SPAN_FAST;
        }
        out->count[out->state[i]]++;
    }
    return 0;
oom:
    trace_spans_free(out);
    return -RCA_E_NOMEM;
}
