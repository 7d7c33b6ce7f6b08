/* eval: RCAEval's AC@k and Avg@k (see eval.h). */
#include "rca/eval.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rca/rca.h"

size_t rca_eval_service(const char *name, char *buf, size_t len)
{
    size_t n = 0;

    /* split("_")[0], then replace("-db", "") scanning left to right
     * without rescanning what a removal joins, as Python does. */
    for (const char *p = name; *p && *p != '_';) {
        if (p[0] == '-' && p[1] == 'd' && p[2] == 'b') {
            p += 3;
            continue;
        }
        if (len && n < len - 1)
            buf[n] = *p;
        n++;
        p++;
    }
    if (len)
        buf[n < len - 1 ? n : len - 1] = 0;
    return n;
}

/* Service of name compared with truth, without a buffer limit. */
static bool service_equals(const char *name, const char *truth)
{
    char small[256], *big = NULL, *s = small;
    size_t n = rca_eval_service(name, small, sizeof small);
    bool eq;

    if (n >= sizeof small) {
        if (!(big = malloc(n + 1)))
            return false;
        rca_eval_service(name, big, n + 1);
        s = big;
    }
    eq = !strcmp(s, truth);
    free(big);
    return eq;
}

static bool same_service(const char *a, const char *b)
{
    char sa[256], sb[256];
    size_t na = rca_eval_service(a, sa, sizeof sa);
    size_t nb = rca_eval_service(b, sb, sizeof sb);

    if (na < sizeof sa && nb < sizeof sb)
        return na == nb && !memcmp(sa, sb, na);
    /* Long names: compare through allocated copies. */
    char *la = malloc(na + 1), *lb = malloc(nb + 1);
    bool eq = false;
    if (la && lb) {
        rca_eval_service(a, la, na + 1);
        rca_eval_service(b, lb, nb + 1);
        eq = !strcmp(la, lb);
    }
    free(la);
    free(lb);
    return eq;
}

size_t rca_eval_rank(const char *const *names, size_t n, const char *truth)
{
    size_t distinct = 0;

    for (size_t i = 0; i < n; i++) {
        bool seen = false;

        for (size_t j = 0; j < i && !seen; j++)
            seen = same_service(names[j], names[i]);
        if (seen)
            continue;
        distinct++;
        if (service_equals(names[i], truth))
            return distinct;
    }
    return 0;
}

size_t rca_eval_rank_of(const struct rca_ranking *r, const char *truth)
{
    const char **names = malloc((r->n ? r->n : 1) * sizeof(*names));
    size_t rank;

    if (!names)
        return 0;
    for (size_t i = 0; i < r->n; i++)
        names[i] = r->items[i].name;
    rank = rca_eval_rank(names, r->n, truth);
    free(names);
    return rank;
}

void rca_eval_acc_add(struct rca_eval_acc *a, size_t rank)
{
    a->cases++;
    for (size_t k = 1; k <= RCA_EVAL_KMAX; k++)
        a->hits[k] += rank >= 1 && rank <= k;
}

double rca_eval_ac(const struct rca_eval_acc *a, unsigned k)
{
    if (k < 1 || k > RCA_EVAL_KMAX || a->cases == 0)
        return NAN;
    return (double)a->hits[k] / (double)a->cases;
}

double rca_eval_avg(const struct rca_eval_acc *a, unsigned k)
{
    double sum = 0.0;

    if (k < 1 || k > RCA_EVAL_KMAX || a->cases == 0)
        return NAN;
    for (unsigned i = 1; i <= k; i++)
        sum += rca_eval_ac(a, i);
    return sum / (double)k;
}

int rca_eval_table_init(struct rca_eval_table *t, const char *const *methods,
                        size_t n)
{
    t->nmethods = 0;
    t->methods = calloc(n ? n : 1, sizeof(*t->methods));
    if (!t->methods)
        return -RCA_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        t->methods[i].method = methods[i];
    t->nmethods = n;
    return 0;
}

void rca_eval_table_free(struct rca_eval_table *t)
{
    for (size_t i = 0; i < t->nmethods; i++) {
        struct rca_eval_method *m = &t->methods[i];

        for (size_t f = 0; f < m->nfaults; f++)
            free(m->faults[f].fault);
        for (size_t f = 0; f < m->nfailures; f++) {
            free(m->failures[f].case_name);
            free(m->failures[f].error);
        }
        free(m->faults);
        free(m->failures);
    }
    free(t->methods);
    t->methods = NULL;
    t->nmethods = 0;
}

static struct rca_eval_fault *fault_slot(struct rca_eval_method *m,
                                         const char *fault)
{
    struct rca_eval_fault *f;

    for (size_t i = 0; i < m->nfaults; i++)
        if (!strcmp(m->faults[i].fault, fault))
            return &m->faults[i];
    f = realloc(m->faults, (m->nfaults + 1) * sizeof(*f));
    if (!f)
        return NULL;
    m->faults = f;
    f += m->nfaults;
    memset(f, 0, sizeof(*f));
    if (!(f->fault = strdup(fault)))
        return NULL;
    m->nfaults++;
    return f;
}

int rca_eval_record_rank(struct rca_eval_table *t, size_t m, const char *fault,
                         size_t rank, int fallback, double seconds)
{
    struct rca_eval_method *em = &t->methods[m];
    struct rca_eval_fault *f = fault_slot(em, fault ? fault : "");

    if (!f)
        return -RCA_E_NOMEM;
    rca_eval_acc_add(&f->acc, rank);
    em->fallbacks += fallback != 0;
    em->runs++;
    em->seconds += seconds;
    return 0;
}

int rca_eval_record(struct rca_eval_table *t, size_t m, const char *fault,
                    const char *truth, const struct rca_ranking *r,
                    double seconds)
{
    return rca_eval_record_rank(t, m, fault, rca_eval_rank_of(r, truth),
                                r->fallback, seconds);
}

int rca_eval_record_failure(struct rca_eval_table *t, size_t m,
                            const char *case_name, const char *error,
                            double seconds)
{
    struct rca_eval_method *em = &t->methods[m];
    struct rca_eval_failure *f =
        realloc(em->failures, (em->nfailures + 1) * sizeof(*f));

    if (!f)
        return -RCA_E_NOMEM;
    em->failures = f;
    f += em->nfailures;
    f->case_name = strdup(case_name ? case_name : "");
    f->error = strdup(error ? error : "");
    if (!f->case_name || !f->error) {
        free(f->case_name);
        free(f->error);
        return -RCA_E_NOMEM;
    }
    em->nfailures++;
    em->runs++;
    em->seconds += seconds;
    return 0;
}

static int cmp_fault(const void *a, const void *b)
{
    return strcmp(((const struct rca_eval_fault *)a)->fault,
                  ((const struct rca_eval_fault *)b)->fault);
}

void rca_eval_table_finish(struct rca_eval_table *t)
{
    for (size_t i = 0; i < t->nmethods; i++)
        if (t->methods[i].nfaults > 1)
            qsort(t->methods[i].faults, t->methods[i].nfaults,
                  sizeof(struct rca_eval_fault), cmp_fault);
}

double rca_eval_seconds_per_case(const struct rca_eval_method *m)
{
    return m->runs ? m->seconds / (double)m->runs : NAN;
}
