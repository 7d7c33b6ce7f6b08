/* pdiagnose: PDiagnose (Hou et al., "Diagnosing Performance Issues in
 * Microservices with Heterogeneous Data Source", ISPA 2021) as the RCAEval
 * copy vendored in rca-llm runs it (rca-benchmark/RCAEval/e2e/
 * pdiagnose.py): one vote count per service from three sources, each vote
 * worth ALPHA = 5:
 *
 *   metrics  every column of the case's metric table whose name does not
 *            contain "time": mean and sample sd (ddof 1) over the rows
 *            before the inject time; a vote for the column's service per
 *            row at or after it with value >= mean + 3 sd. (A column
 *            constant before the fault has sd 0, so every later row at
 *            its level votes: RCAEval's rule, kept.)
 *   logs     per container, the lines of logs.csv (the whole file, not
 *            windowed) whose message contains "error" or "fail"
 *            (case-sensitive, pandas' str.contains("error|fail")).
 *   traces   per serviceName, its abnormal spans at or after the inject
 *            time (trace_spans.h: duration >= mean + 3 sd of its
 *            operation before the fault); "frontendservice" counts as
 *            "frontend".
 *
 * The ranking is the services (names without a metric: the service is the
 * whole name) by votes, highest first; equal votes keep the order in which
 * services were first met (metric columns, then log containers, then span
 * services). RCAEval also reads logts.csv but does not use it; it is not
 * needed here.
 *
 * The paper scores metrics with kernel density estimation, logs with
 * error-keyword patterns and traces with a 3-sigma rule on call latency,
 * and votes across them; RCAEval's simplification (above) is what the
 * benchmark scored and what this follows.
 *
 * Departures (RCAEval raises KeyError where the first three apply): a log
 * container or span service that is no metric service is added with its
 * votes after the others; lines without container_name and spans without
 * serviceName are left out; an operation first seen after the inject time
 * has no SLO and its spans are not abnormal; a case without any span
 * before the inject time gets no trace votes. Missing metric cells (none
 * after the case setup's fill) are skipped by the mean and sd, as pandas'
 * skipna does, and never vote. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rcaeval.h"
#include "model/series.h"
#include "rca/rca_method.h"
#include "rca/trace_spans.h"

#define PD_ALPHA 5.0

/* The vote table: services in order of first mention. */
struct pd_votes {
    char **name;
    double *votes;
    size_t n, cap;
};

static void pd_votes_free(struct pd_votes *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->name[i]);
    free(v->name);
    free(v->votes);
}

/* Index of service (len bytes of s), added with 0 votes when new; -1 when
 * out of memory. Linear: services are few. */
static long pd_service(struct pd_votes *v, const char *s, size_t len)
{
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->name[i]) == len && !memcmp(v->name[i], s, len))
            return (long)i;
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        char **nn = realloc(v->name, cap * sizeof(*nn));
        if (!nn)
            return -1;
        v->name = nn;
        double *nv = realloc(v->votes, cap * sizeof(*nv));
        if (!nv)
            return -1;
        v->votes = nv;
        v->cap = cap;
    }
    if (!(v->name[v->n] = strndup(s, len)))
        return -1;
    v->votes[v->n] = 0.0;
    return (long)v->n++;
}

/* Rows of one column above mean + 3 sd of the rows before inject_ns. */
static size_t pd_column_votes(const struct series_table *t, size_t j,
                              int64_t inject_ns, double *buf, double *work)
{
    const double *x = series_table_col(t, j);
    size_t nb = 0, votes = 0;

    for (size_t r = 0; r < t->nrows; r++)
        if (t->time_ns[r] < inject_ns && !isnan(x[r]))
            buf[nb++] = x[r];
    double thr = trace_pd_mean(buf, nb) + 3.0 * trace_pd_std(buf, nb, work);
    for (size_t r = 0; r < t->nrows; r++)
        if (t->time_ns[r] >= inject_ns && x[r] >= thr)
            votes++;
    return votes;
}

static int pd_metrics(const struct rca_case *c, struct pd_votes *v)
{
    const struct series_table *t = c->metrics;
    size_t m = t->nrows ? t->nrows : 1;
    double *buf = malloc(m * sizeof(*buf)), *work = malloc(m * sizeof(*work));
    int rc = -1;

    if (!buf || !work)
        goto out;
    for (size_t j = 0; j < t->ncols; j++) {
        const char *name = t->cols[j].name;
        size_t len;

        if (strstr(name, "time")) /* RCAEval: if "time" not in m */
            continue;
        const char *svc = series_service_of(name, &len);
        long k = pd_service(v, svc, len);
        if (k < 0)
            goto out;
        v->votes[k] +=
            PD_ALPHA * (double)pd_column_votes(t, j, c->inject_ns, buf, work);
    }
    rc = 0;
out:
    free(buf);
    free(work);
    return rc;
}

static int pd_logs(const struct rcaeval_logs *lg, struct pd_votes *v)
{
    double *count = calloc(lg->nnames ? lg->nnames : 1, sizeof(*count));
    uint32_t *order = malloc((lg->nnames ? lg->nnames : 1) * sizeof(*order));
    uint8_t *seen = calloc(lg->nnames ? lg->nnames : 1, 1);
    size_t nord = 0;
    int rc = -1;

    if (!count || !order || !seen)
        goto out;
    for (size_t i = 0; i < lg->nlogs; i++) {
        const struct rcaeval_log *l = &lg->logs[i];
        if (l->container == RCAEVAL_NO_NAME)
            continue;
        if (!seen[l->container]) {
            seen[l->container] = 1;
            order[nord++] = l->container;
        }
        if (l->message &&
            (strstr(l->message, "error") || strstr(l->message, "fail")))
            count[l->container] += 1;
    }
    for (size_t i = 0; i < nord; i++) {
        const char *cn = lg->names[order[i]];
        long k = pd_service(v, cn, strlen(cn));
        if (k < 0)
            goto out;
        v->votes[k] += PD_ALPHA * count[order[i]];
    }
    rc = 0;
out:
    free(count);
    free(order);
    free(seen);
    return rc;
}

static int pd_traces(const struct rca_case *c, struct pd_votes *v)
{
    const struct rcaeval_traces *tr = c->traces;
    struct trace_spans s;
    double *count = NULL;
    uint32_t *order = NULL;
    uint8_t *seen = NULL;
    size_t nord = 0, nn = tr->nnames ? tr->nnames : 1;
    int rc = -1;

    if (trace_spans_build(tr, c->inject_ns, NULL, &s) < 0)
        return -1;
    count = calloc(nn, sizeof(*count));
    order = malloc(nn * sizeof(*order));
    seen = calloc(nn, 1);
    if (!count || !order || !seen)
        goto out;
    for (size_t i = 0; i < s.nspans; i++) {
        uint8_t st = s.state[i];
        uint32_t sv = tr->spans[i].service;
        if (st == TRACE_SPAN_BEFORE || st == TRACE_SPAN_SKIPPED)
            continue;
        if (!seen[sv]) {
            seen[sv] = 1;
            order[nord++] = sv;
        }
        count[sv] += st == TRACE_SPAN_SLOW;
    }
    for (size_t i = 0; i < nord; i++) {
        const char *sn = tr->names[order[i]];
        if (!strcmp(sn, "frontendservice"))
            sn = "frontend";
        long k = pd_service(v, sn, strlen(sn));
        if (k < 0)
            goto out;
        v->votes[k] += PD_ALPHA * count[order[i]];
    }
    rc = 0;
out:
    free(count);
    free(order);
    free(seen);
    trace_spans_free(&s);
    return rc;
}

static int pd_rank(const struct rca_case *c, const struct rca_params *p,
                   struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct pd_votes v = {0};
    int rc = 0;

    (void)p;
    if (pd_metrics(c, &v) < 0 || pd_logs(c->logs, &v) < 0 ||
        pd_traces(c, &v) < 0)
        goto oom;
    for (size_t i = 0; i < v.n; i++)
        if (rca_ranking_add(out, v.name[i], v.votes[i]) < 0)
            goto oom;
    rca_ranking_sort(out);
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    pd_votes_free(&v);
    return rc;
}

const struct rca_method rca_method_pdiagnose = {
    .name = "pdiagnose",
    .summary = "PDiagnose: votes per service from metric 3-sigma rows, "
               "error log lines and abnormal spans",
    .inputs = RCA_IN_METRICS | RCA_IN_INJECT | RCA_IN_TRACES | RCA_IN_LOGS,
    .rank = pd_rank,
};
