/* rca_case: a case folder (src/ingest/rcaeval) becomes what methods see:
 * rca-llm main.py's windowing and filling (rcaeval_prepare()), the inject
 * time given, read or found by BARO's change-point detection, main.py's
 * n_iter and SLI. Every method gets its case from here, so `rca`,
 * `rca-eval` and `--inject-time auto` treat a case the same way for all of
 * them. */
#include "rca/rca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rcaeval.h"
#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/changepoint.h"
#include "stats/stats_status.h"

/* BARO's bocpd() column choice (baro/anomaly_detection.py). */
static bool baro_cp_column(const char *name)
{
    if (strstr(name, "queue-master") || strstr(name, "rabbitmq_"))
        return false;
    return strstr(name, "latency") || strstr(name, "_error");
}

int rca_detect_inject(const struct series_table *t, double log_prune,
                      size_t *row)
{
    struct stats_bocpd_opts o = {.lambda = 50.0, .log_prune = log_prune};
    size_t d = 0, cp;
    double *x;
    bool any = false;
    int rc;

    for (size_t j = 0; j < t->ncols; j++)
        any |= baro_cp_column(t->cols[j].name);
    if (!(x = malloc((t->ncols * t->nrows + 1) * sizeof(*x))))
        return -RCA_E_NOMEM;
    for (size_t j = 0; j < t->ncols; j++)
        if (!any || baro_cp_column(t->cols[j].name))
            memcpy(x + d++ * t->nrows, series_table_col(t, j),
                   t->nrows * sizeof(*x));
    rc = stats_bocpd_baro(x, t->nrows, d, &o, &cp);
    free(x);
    if (rc == -STATS_E_NOMEM)
        return -RCA_E_NOMEM;
    /* A change point at the end leaves nothing anomalous: RCAEval's
     * scalers would fail on the empty window. */
    if (rc < 0 || cp >= t->nrows)
        return -RCA_E_NOCHANGE;
    *row = cp;
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && !strcmp(s + n - k, suffix);
}

/* main.py: num_node = len(data.columns) - 1 after the _latency-50 drop. */
static size_t n_iter_of(const struct series_table *raw)
{
    size_t n = 0;

    for (size_t j = 0; j < raw->ncols; j++)
        n += !ends_with(raw->cols[j].name, "_latency-50");
    return n;
}

/* main.py's SLI (llm-ref-stack only): "<service>_lat_90" when present,
 * else "<service>_latency", else "nginx-proxy". Writes into buf. */
static void sli_of(const struct series_table *t, const char *service, char *buf,
                   size_t len)
{
    snprintf(buf, len, "nginx-proxy");
    if (!service)
        return;
    char cand[512];
    snprintf(cand, sizeof cand, "%s_latency", service);
    if (series_table_find(t, cand) >= 0)
        snprintf(buf, len, "%s", cand);
    snprintf(cand, sizeof cand, "%s_lat_90", service);
    if (series_table_find(t, cand) >= 0)
        snprintf(buf, len, "%s", cand);
}

/* The latest row time in whole seconds, rounded up, plus one: an inject
 * time after every row. */
static int64_t after_last_s(const struct series_table *t)
{
    int64_t mx = INT64_MIN;

    for (size_t r = 0; r < t->nrows; r++)
        if (t->time_ns[r] > mx)
            mx = t->time_ns[r];
    if (mx == INT64_MIN)
        return 0;
    return mx / 1000000000 + 2;
}

int rca_case_prepare(const struct rcaeval_case *src,
                     const struct rca_setup *setup, struct rca_case **out,
                     char *err, size_t errlen)
{
    static const struct rca_setup defaults = {0};
    const char *name = src->dir ? src->dir : "case";
    struct rcaeval_prep prep = {0};
    struct series_table *t = NULL;
    struct rca_case *c;
    char sli[600];
    size_t side;
    int64_t inject_s, inject_ns;
    bool have_ref, llm;
    int rc;

    *out = NULL;
    if (!setup)
        setup = &defaults;
    side = rcaeval_rows_for_length(setup->length_min ? setup->length_min : 20);
    llm = setup->llm_ref_stack > 0 || (setup->llm_ref_stack < 0 && src->dir &&
                                       strstr(src->dir, "llm-ref-stack"));
    have_ref = setup->inject_given || src->has_inject_time;
    prep.llm_ref_stack = llm;
    if (have_ref) {
        prep.rows_each_side = side;
        prep.tdelta_s = setup->tdelta_s;
        inject_s =
            setup->inject_given ? setup->inject_time_s : src->inject_time_s;
    } else {
        /* No inject time to centre on: the last 2 * side rows. */
        prep.rows_each_side = 2 * side;
        inject_s = after_last_s(src->metrics);
    }
    if (rcaeval_prepare(src->metrics, inject_s, &prep, &t, &inject_ns) < 0)
        return rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    if (t->nrows == 0) {
        series_table_destroy(t);
        return rca_fail(err, errlen, RCA_E_DATA, name,
                        "no metric rows within %u minutes around the "
                        "inject time",
                        setup->length_min ? setup->length_min : 20);
    }
    sli[0] = 0;
    if (llm)
        sli_of(t, src->root_service, sli, sizeof sli);
    if (!(c = calloc(1, sizeof(*c) + strlen(sli) + 1))) {
        series_table_destroy(t);
        return rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
    }
    c->own = t;
    c->metrics = t;
    c->has_inject = have_ref;
    c->inject_ns = have_ref ? inject_ns : 0;
    c->n_iter = n_iter_of(src->metrics);
    if (llm) {
        char *s = (char *)(c + 1);
        strcpy(s, sli);
        c->sli = s;
    }
    c->logts = src->logts;
    c->tracets_err = src->tracets_err;
    c->tracets_lat = src->tracets_lat;
    c->traces = src->traces;
    c->logs = src->logs;
    c->name = name;
    for (size_t r = 0; have_ref && r < t->nrows; r++)
        if (t->time_ns[r] >= inject_ns) {
            c->inject_row = r;
            break;
        }
    if (setup->inject_auto) {
        size_t row;

        if ((rc = rca_detect_inject(t, setup->cp_log_prune, &row)) < 0) {
            rca_case_destroy(c);
            return rca_fail(err, errlen, -rc, name, "%s",
                            rc == -RCA_E_NOCHANGE
                                ? "--inject-time auto: no change point in "
                                  "the latency and error metrics"
                                : "out of memory");
        }
        c->inject_ns = t->time_ns[row];
        c->inject_row = row;
        c->has_inject = true;
        c->inject_detected = true;
    }
    *out = c;
    return 0;
}

void rca_case_destroy(struct rca_case *c)
{
    if (!c)
        return;
    series_table_destroy(c->own);
    free(c);
}
