/* rca_synth: small synthetic RCAEval cases with a known root cause, for
 * the RCA tests and bench/bench_rca.c. A case has `services` services with
 * the metrics cpu, mem, latency-50, latency-90 (renamed to latency by the
 * case setup), error; `rows` rows at 1 s from t0; noise from a seeded
 * generator; and from the inject time on, a fault in one service: a rise of
 * `shift` noise standard deviations in its cpu (fault "cpu"), mem
 * ("memory") or latency-90 and error ("network"). Header-only. */
#ifndef SKEWSCOPE_RCA_SYNTH_H
#define SKEWSCOPE_RCA_SYNTH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/series.h"
#include "test_rng.h"

static const char *const rca_synth_metrics[] = {"cpu", "mem", "latency-50",
                                                "latency-90", "error"};
#define RCA_SYNTH_NMETRICS 5

struct rca_synth {
    unsigned services; /* named s0, s1, ... unless names is set */
    const char *const *names;
    size_t rows;       /* at 1 s */
    int64_t t0_s;      /* time of row 0, Unix s */
    size_t inject_row; /* the fault starts at this row */
    unsigned root;     /* index of the faulty service */
    const char *fault; /* "cpu", "memory" or "network" */
    double shift;      /* rise in noise standard deviations */
    uint64_t seed;
    int laplace; /* noise: 0 normal, 1 Laplace (heavy-tailed, as
                    real metrics; FastICA can separate it) */
};

/* A Laplace draw of unit standard deviation. */
static inline double rca_synth_laplace(uint64_t *s)
{
    double u = test_rng_u01(s);
    double b = 0.7071067811865476;
    return u < 0.5 ? b * log(2.0 * u) : -b * log(2.0 * (1.0 - u));
}

static inline const char *rca_synth_name(const struct rca_synth *c, unsigned s,
                                         char *buf, size_t len)
{
    if (c->names)
        return c->names[s];
    snprintf(buf, len, "s%u", s);
    return buf;
}

/* Is metric m of service s where this fault shows? */
static inline int rca_synth_faulty(const struct rca_synth *c, unsigned s,
                                   unsigned m)
{
    const char *name = rca_synth_metrics[m];

    if (s != c->root)
        return 0;
    if (!strcmp(c->fault, "cpu"))
        return !strcmp(name, "cpu");
    if (!strcmp(c->fault, "memory"))
        return !strcmp(name, "mem");
    return !strcmp(name, "latency-90") || !strcmp(name, "error");
}

/* Base level and noise of metric m (memory in bytes, as RCAEval's). */
static inline void rca_synth_level(unsigned m, double *base, double *sd)
{
    static const double b[] = {0.4, 2.0e8, 0.05, 0.12, 0.01};
    static const double d[] = {0.03, 2.0e6, 0.004, 0.01, 0.002};
    *base = b[m];
    *sd = d[m];
}

/* The case as a table, as rcaeval_table_read() would return it. */
static inline struct series_table *rca_synth_table(const struct rca_synth *c)
{
    size_t ncols = (size_t)c->services * RCA_SYNTH_NMETRICS;
    struct series_table *t = series_table_create(c->rows, ncols);
    uint64_t s = c->seed;
    char nb[32], col[128];

    if (!t)
        return NULL;
    for (size_t r = 0; r < c->rows; r++)
        t->time_ns[r] = (c->t0_s + (int64_t)r) * 1000000000;
    for (unsigned sv = 0; sv < c->services; sv++)
        for (unsigned m = 0; m < RCA_SYNTH_NMETRICS; m++) {
            size_t j = (size_t)sv * RCA_SYNTH_NMETRICS + m;
            double base, sd, *v = series_table_col(t, j);

            snprintf(col, sizeof col, "%s_%s",
                     rca_synth_name(c, sv, nb, sizeof nb),
                     rca_synth_metrics[m]);
            if (series_table_set_name(t, j, col) < 0) {
                series_table_destroy(t);
                return NULL;
            }
            rca_synth_level(m, &base, &sd);
            for (size_t r = 0; r < c->rows; r++) {
                v[r] = base + sd * (c->laplace ? rca_synth_laplace(&s)
                                               : test_rng_normal(&s));
                if (r >= c->inject_row && rca_synth_faulty(c, sv, m))
                    v[r] += c->shift * sd;
            }
        }
    return t;
}

/* Write the case as DIR/<root>_<fault>/<n>/data.csv + inject_time.txt
 * (folders created). Returns 0, or -1 on an I/O error. */
static inline int rca_synth_write(const struct rca_synth *c, const char *dir,
                                  unsigned n)
{
    struct series_table *t = rca_synth_table(c);
    char path[1024], nb[32];
    FILE *f;

    if (!t)
        return -1;
    snprintf(path, sizeof path, "%s/%s_%s", dir,
             rca_synth_name(c, c->root, nb, sizeof nb), c->fault);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    snprintf(path + strlen(path), sizeof path - strlen(path), "/%u", n);
    mkdir(path, 0755);
    snprintf(path + strlen(path), sizeof path - strlen(path), "/data.csv");
    if (!(f = fopen(path, "w"))) {
        series_table_destroy(t);
        return -1;
    }
    fprintf(f, "time");
    for (size_t j = 0; j < t->ncols; j++)
        fprintf(f, ",%s", t->cols[j].name);
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
        fprintf(f, "%lld", (long long)(t->time_ns[r] / 1000000000));
        for (size_t j = 0; j < t->ncols; j++)
            fprintf(f, ",%.17g", series_table_col(t, j)[r]);
        fputc('\n', f);
    }
    fclose(f);
    series_table_destroy(t);
    strcpy(strrchr(path, '/') + 1, "inject_time.txt");
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f, "%lld\n", (long long)(c->t0_s + (int64_t)c->inject_row));
    fclose(f);
    return 0;
}

#endif
