/* rca_skew: the driver behind scripts/rca_skew.sh, the experiment of issue
 * 8 "is clock skew part of why trace methods fail?": the trace-based RCA
 * methods scored on testbed cases recorded with a skewed stage, and on the
 * same cases after `skewscope correct`.
 *
 *   rca_skew convert IN.otlp.json OUT.csv
 *       OTLP JSON (the testbed's --out, or correct's output) -> traces.csv
 *       with the testbed's own rules (output/traces_csv.h).
 *   rca_skew compare SKEWED_CASE CORRECTED_CASE [SKEWED CORRECTED ...]
 *       For each pair of case folders (the same run, traces.csv before and
 *       after correction): the true service's rank under each trace method
 *       (microrank and tracerca as RCAEval runs them; microrank mode=paper,
 *       tracerca mode=traces and tracerca alone with the SLO unrounded,
 *       slo_round=0) on both, whether the rankings are identical, and why they
 * may differ: spans whose side of the inject time or latency class
 *       (trace_spans.h) changed, and the largest change of a span's
 *       duration. Then AC@1, AC@3 and Avg@5 per method on each side.
 *
 * Output: one line per case and method, then a summary table; tab
 * separated, so a script can cut it. Exit 0, or 1 on a read error. This
 * belongs in `skewscope experiment rca-skew` once that command exists (the
 * conversion as `skewscope correct --format traces-csv`); until then it
 * is a bench program so it can be built without touching the CLI. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rcaeval.h"
#include "output/traces_csv.h"
#include "rca/eval.h"
#include "rca/rca.h"
#include "rca/trace_spans.h"

struct variant {
    const char *label;
    const char *method;
    const char *key, *value, *key2, *value2;
};

static const struct variant variants[] = {
    {"microrank", "microrank", NULL, NULL, NULL, NULL},
    {"microrank/paper/exact", "microrank", "mode", "paper", "slo_round", "0"},
    {"tracerca", "tracerca", NULL, NULL, NULL, NULL},
    {"tracerca/exact", "tracerca", "slo_round", "0", NULL, NULL},
    {"tracerca/traces/exact", "tracerca", "mode", "traces", "slo_round", "0"},
};
#define NVAR (sizeof variants / sizeof variants[0])

struct side {
    struct rcaeval_case *src;
    struct rca_case *c;
};

static int side_open(struct side *s, const char *dir)
{
    char err[512];

    if (rcaeval_case_read(dir, NULL, &s->src, err, sizeof err) != 0 ||
        rca_case_prepare(s->src, NULL, &s->c, err, sizeof err) != 0) {
        fprintf(stderr, "rca_skew: %s\n", err);
        return -1;
    }
    if (!s->src->traces || !s->src->root_service) {
        fprintf(stderr,
                "rca_skew: %s: no traces.csv or no <service>_<fault> "
                "parent folder\n",
                dir);
        return -1;
    }
    return 0;
}

static void side_close(struct side *s)
{
    rca_case_destroy(s->c);
    rcaeval_case_destroy(s->src);
}

/* Rank of the true service (0 absent, -1 failed); r gets the ranking
 * (empty on failure). */
static long rank_once(const struct variant *v, const struct side *s,
                      struct rca_ranking *r)
{
    struct rca_kv kv[2] = {{v->key, v->value}, {v->key2, v->value2}};
    struct rca_params p = {
        .seed = 1, .kv = kv, .nkv = (size_t) !!v->key + (size_t) !!v->key2};
    char err[512];

    rca_ranking_init(r);
    if (rca_rank(rca_method_find(v->method), s->c, &p, r, err, sizeof err)) {
        fprintf(stderr, "rca_skew: %s: %s\n", v->label, err);
        return -1;
    }
    return (long)rca_eval_rank_of(r, s->src->root_service);
}

static bool same_ranking(const struct rca_ranking *a,
                         const struct rca_ranking *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].name, b->items[i].name) != 0)
            return false;
    return true;
}

/* ---- span-level differences between the two sides ---- */

struct key_state {
    const char *trace, *span;
    uint8_t state;
    double dur;
};

static int cmp_key(const void *a, const void *b)
{
    const struct key_state *x = a, *y = b;
    int c = strcmp(x->trace, y->trace);
    return c ? c : strcmp(x->span, y->span);
}

static struct key_state *keyed(const struct trace_spans *s)
{
    struct key_state *k = malloc((s->nspans ? s->nspans : 1) * sizeof(*k));

    if (!k)
        return NULL;
    for (size_t i = 0; i < s->nspans; i++)
        k[i] = (struct key_state){s->tr->spans[i].trace_id,
                                  s->tr->spans[i].span_id, s->state[i],
                                  s->tr->spans[i].duration_us};
    qsort(k, s->nspans, sizeof(*k), cmp_key);
    return k;
}

struct span_diff {
    size_t matched, side_changed, class_changed;
    double max_dur_change_us;
};

static int span_diff(const struct side *a, const struct side *b,
                     struct span_diff *d)
{
    struct trace_spans sa, sb;
    struct key_state *ka = NULL, *kb = NULL;
    int rc = -1;

    memset(d, 0, sizeof(*d));
    if (trace_spans_build(a->src->traces, a->c->inject_ns, NULL, &sa) < 0)
        return -1;
    if (trace_spans_build(b->src->traces, b->c->inject_ns, NULL, &sb) < 0)
        goto out_a;
    if (!(ka = keyed(&sa)) || !(kb = keyed(&sb)))
        goto out;
    for (size_t i = 0, j = 0; i < sa.nspans && j < sb.nspans;) {
        int c = cmp_key(&ka[i], &kb[j]);
        if (c) {
            c < 0 ? i++ : j++;
            continue;
        }
        bool before_a = ka[i].state == TRACE_SPAN_BEFORE;
        bool before_b = kb[j].state == TRACE_SPAN_BEFORE;
        d->matched++;
        if (before_a != before_b)
            d->side_changed++;
        else if (ka[i].state != kb[j].state)
            d->class_changed++;
        double dd = fabs(ka[i].dur - kb[j].dur);
        if (dd > d->max_dur_change_us)
            d->max_dur_change_us = dd;
        i++;
        j++;
    }
    rc = 0;
out:
    free(ka);
    free(kb);
    trace_spans_free(&sb);
out_a:
    trace_spans_free(&sa);
    return rc;
}

static int compare(int argc, char **argv)
{
    struct rca_eval_acc acc[NVAR][2];
    size_t changed[NVAR] = {0}, ncases = 0;
    int rc = 0;

    memset(acc, 0, sizeof acc);
    printf("case\ttruth\tmethod\trank_skewed\trank_corrected\tsame_ranking\t"
           "top_skewed\ttop_corrected\tspans\tside_changed\tclass_changed\t"
           "max_duration_change_us\n");
    for (int i = 0; i + 1 < argc; i += 2) {
        struct side a = {0}, b = {0};
        struct span_diff d;

        if (side_open(&a, argv[i]) < 0 || side_open(&b, argv[i + 1]) < 0 ||
            span_diff(&a, &b, &d) < 0) {
            rc = 1;
            if (a.c)
                side_close(&a);
            if (b.c)
                side_close(&b);
            continue;
        }
        ncases++;
        for (size_t v = 0; v < NVAR; v++) {
            struct rca_ranking ra, rb;
            long xa = rank_once(&variants[v], &a, &ra);
            long xb = rank_once(&variants[v], &b, &rb);
            bool same = xa >= 0 && xb >= 0 && same_ranking(&ra, &rb);

            if (xa >= 0)
                rca_eval_acc_add(&acc[v][0], (size_t)xa);
            if (xb >= 0)
                rca_eval_acc_add(&acc[v][1], (size_t)xb);
            changed[v] += !same;
            printf("%s\t%s\t%s\t%ld\t%ld\t%s\t%s\t%s\t%zu\t%zu\t%zu\t%.0f\n",
                   argv[i], a.src->root_service, variants[v].label, xa, xb,
                   same ? "yes" : "no", ra.n ? ra.items[0].name : "-",
                   rb.n ? rb.items[0].name : "-", d.matched, d.side_changed,
                   d.class_changed, d.max_dur_change_us);
            rca_ranking_free(&ra);
            rca_ranking_free(&rb);
        }
        side_close(&a);
        side_close(&b);
    }
    printf("\nsummary over %zu cases (rank 0 = true service absent)\n", ncases);
    printf("method\tAC@1_skewed\tAC@1_corrected\tAC@3_skewed\t"
           "AC@3_corrected\tAvg@5_skewed\tAvg@5_corrected\t"
           "rankings_changed\n");
    for (size_t v = 0; v < NVAR; v++)
        printf("%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%zu\n",
               variants[v].label, rca_eval_ac(&acc[v][0], 1),
               rca_eval_ac(&acc[v][1], 1), rca_eval_ac(&acc[v][0], 3),
               rca_eval_ac(&acc[v][1], 3), rca_eval_avg(&acc[v][0], 5),
               rca_eval_avg(&acc[v][1], 5), changed[v]);
    return rc;
}

int main(int argc, char **argv)
{
    char err[512];
    size_t n;

    if (argc == 4 && !strcmp(argv[1], "convert")) {
        if (traces_csv_convert_file(argv[2], argv[3], NULL, &n, err,
                                    sizeof err) != 0) {
            fprintf(stderr, "rca_skew: %s\n", err);
            return 1;
        }
        fprintf(stderr, "rca_skew: %zu spans -> %s\n", n, argv[3]);
        return 0;
    }
    if (argc >= 4 && argc % 2 == 0 && !strcmp(argv[1], "compare"))
        return compare(argc - 2, argv + 2);
    fprintf(stderr, "usage: rca_skew convert IN.otlp.json OUT.csv\n"
                    "       rca_skew compare SKEWED_CASE CORRECTED_CASE "
                    "[...]\n");
    return 2;
}
