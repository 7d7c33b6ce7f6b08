/* tracerca: TraceRCA (Li et al., "Practical Root Cause Localization for
 * Microservice Systems via Trace Analysis", IWQoS 2021) as the RCAEval
 * copy vendored in rca-llm runs it (rca-benchmark/RCAEval/e2e/tracerca.py):
 *
 *  1. Trace anomaly detection: traces.csv split at the inject time
 *     (trace_spans.h); a span at or after it is abnormal when its
 *     duration >= mean + 3 sd of its operation before it (ms, rounded to
 *     0.01).
 *  2. Suspicious operation mining over the spans at or after the inject
 *     time, itemsets of one operation:
 *        support    = abnormal spans of the operation / abnormal spans
 *        confidence = abnormal spans of the operation / its spans
 *        score      = 2 support confidence / (support + confidence)
 *  3. Operations ("<service>_<method>") by score, highest first, in order
 *     of first row among equals; an operation whose score is NaN (no
 *     abnormal span: 0/0) is left out, after the sort. The NaNs take part
 *     in RCAEval's sorted() and make its order only piecewise sorted;
 *     trace_pysort reproduces CPython's sort, so the order here is the
 *     one RCAEval produced, not a clean sort by score.
 *
 * The paper mines sets of microservices from whole abnormal and normal
 * traces (frequent itemsets of any size over the services a trace
 * touches, then ranks by a Jaccard-style score); RCAEval counts single
 * operations span by span. This follows RCAEval. mode=traces counts
 * traces instead of spans (support = abnormal traces through the
 * operation / abnormal traces, confidence = abnormal traces through it /
 * traces through it; a trace is abnormal when one of its post-inject spans
 * is), the paper's support and confidence for one-item sets. slo_round=0
 * keeps the SLO unrounded (RCAEval rounds mean and sd to 0.01 ms, so an
 * operation faster than 5 us has threshold 0 and every one of its spans
 * is abnormal; see trace_spans.h).
 *
 * With synchronous calls a caller's span contains its callees' time, so a
 * slow callee makes its callers' spans abnormal too; the callers' spans
 * are longer and vary more, so their confidence is usually lower, but a
 * latency that shows only in the caller (a slow network hop, a queue in
 * front of the callee) is blamed on the caller (tests/test_rca_trace.c).
 *
 * Departures (RCAEval raises where these apply): an operation first seen
 * after the inject time has no SLO and its spans are never abnormal
 * (KeyError in RCAEval); spans without serviceName are left out; no span
 * before the inject time is -RCA_E_DATA (RCAEval raises KeyError). With
 * no abnormal span at all every score is NaN and the ranking is empty, as
 * in RCAEval (a miss for the evaluation, not a failure). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rcaeval.h"
#include "rca/rca_method.h"
#include "rca/trace_pysort.h"
#include "rca/trace_spans.h"

static const char *const tr_params[] = {"mode", "slo_round", NULL};

static int tr_mode(const struct rca_params *p, bool *traces, bool *exact,
                   char *err, size_t errlen)
{
    const char *mode = rca_param(p, "mode");
    size_t round;
    int rc;

    if ((rc = rca_param_size(p, "tracerca", "slo_round", 1, 0, 1, &round, err,
                             errlen)) < 0)
        return rc;
    *exact = round == 0;
    *traces = false;
    if (!mode || !strcmp(mode, "spans"))
        return 0;
    if (strcmp(mode, "traces") != 0)
        return rca_fail(err, errlen, RCA_E_INVAL, "tracerca",
                        "mode=%s: expected spans or traces", mode);
    *traces = true;
    return 0;
}

static int tr_validate(const struct rca_params *p, char *err, size_t errlen)
{
    bool t, e;

    return tr_mode(p, &t, &e, err, errlen);
}

static bool after(uint8_t st)
{
    return st == TRACE_SPAN_FAST || st == TRACE_SPAN_SLOW ||
           st == TRACE_SPAN_UNSCORED;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Trace mode: abn[op] / tot[op] over the distinct (trace, operation)
 * pairs after the inject time; *abn_total the abnormal traces. */
static int tr_count_traces(const struct trace_spans *s, double *abn,
                           double *tot, double *abn_total)
{
    size_t n = s->nspans, np = 0;
    uint8_t *slow = calloc(s->ntraces ? s->ntraces : 1, 1);
    uint64_t *pairs = malloc((n ? n : 1) * sizeof(*pairs));

    if (!slow || !pairs) {
        free(slow);
        free(pairs);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (after(s->state[i])) {
            pairs[np++] = (uint64_t)s->trace[i] << 32 | s->op[i];
            if (s->state[i] == TRACE_SPAN_SLOW)
                slow[s->trace[i]] = 1;
        }
    qsort(pairs, np, sizeof(*pairs), cmp_u64);
    for (size_t i = 0; i < np; i++) {
        if (i > 0 && pairs[i] == pairs[i - 1])
            continue;
        uint32_t t = (uint32_t)(pairs[i] >> 32), op = (uint32_t)pairs[i];
        tot[op] += 1;
        abn[op] += slow[t];
    }
    *abn_total = 0;
    for (size_t t = 0; t < s->ntraces; t++)
        *abn_total += slow[t];
    free(slow);
    free(pairs);
    return 0;
}

/* Span mode (RCAEval): abnormal and total spans per operation. */
static void tr_count_spans(const struct trace_spans *s, double *abn,
                           double *tot, double *abn_total)
{
    *abn_total = 0;
    for (size_t i = 0; i < s->nspans; i++) {
        if (!after(s->state[i]))
            continue;
        tot[s->op[i]] += 1;
        if (s->state[i] == TRACE_SPAN_SLOW) {
            abn[s->op[i]] += 1;
            *abn_total += 1;
        }
    }
}

/* The scores in order of each operation's first post-inject row
 * (anomal_df.operation.unique()), sorted as RCAEval's sorted(...,
 * reverse=True) does with its NaNs still in (trace_pysort.h), then the
 * NaN scores dropped. */
static int tr_scores(const struct trace_spans *s, const double *abn,
                     const double *tot, double abn_total,
                     struct rca_ranking *out)
{
    size_t nops = s->nops ? s->nops : 1, k = 0;
    uint8_t *seen = calloc(nops, 1);
    uint32_t *op_of = malloc(nops * sizeof(*op_of));
    double *ji = malloc(nops * sizeof(*ji));
    size_t *order = malloc(nops * sizeof(*order));
    int rc = -1;

    if (!seen || !op_of || !ji || !order)
        goto out;
    for (size_t i = 0; i < s->nspans; i++) {
        uint32_t op = s->op[i];
        if (!after(s->state[i]) || seen[op])
            continue;
        seen[op] = 1;
        /* numpy: 0/0 is NaN; an operation listed here has tot > 0 */
        double sup = abn[op] / abn_total, conf = abn[op] / tot[op];
        op_of[k] = op;
        ji[k++] = 2 * sup * conf / (sup + conf);
    }
    if (trace_pysort_desc(ji, k, order) < 0)
        goto out;
    rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++)
        if (!isnan(ji[order[i]]))
            rc = rca_ranking_add(out, s->ops[op_of[order[i]]].name,
                                 ji[order[i]]);
out:
    free(seen);
    free(op_of);
    free(ji);
    free(order);
    return rc;
}

static int tr_rank(const struct rca_case *c, const struct rca_params *p,
                   struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct trace_spans s;
    double *abn = NULL, *tot = NULL, abn_total;
    bool traces, exact;
    int rc;

    if ((rc = tr_mode(p, &traces, &exact, err, errlen)) < 0)
        return rc;
    struct trace_spans_opts so = {.exact_slo = exact};
    if (trace_spans_build(c->traces, c->inject_ns, &so, &s) < 0)
        return rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    if (s.count[TRACE_SPAN_BEFORE] == 0) {
        /* RCAEval: every lookup of an SLO raises KeyError */
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "tracerca: no span ends before the inject time");
        goto out;
    }
    abn = calloc(s.nops ? s.nops : 1, sizeof(*abn));
    tot = calloc(s.nops ? s.nops : 1, sizeof(*tot));
    if (!abn || !tot)
        goto oom;
    if (traces) {
        if (tr_count_traces(&s, abn, tot, &abn_total) < 0)
            goto oom;
    } else {
        tr_count_spans(&s, abn, tot, &abn_total);
    }
    if (tr_scores(&s, abn, tot, abn_total, out) < 0)
        goto oom;
    rc = 0;
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    free(abn);
    free(tot);
    trace_spans_free(&s);
    return rc;
}

const struct rca_method rca_method_tracerca = {
    .name = "tracerca",
    .summary = "TraceRCA: support and confidence of each operation among "
               "the abnormal spans after the fault (traces)",
    .inputs = RCA_IN_TRACES | RCA_IN_INJECT,
    .params = tr_params,
    .validate = tr_validate,
    .rank = tr_rank,
};
