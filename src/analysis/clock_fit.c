/* clock_fit: the point estimate of the clock graph. Weighted least squares
 * over per-edge equations (see clock_graph.h), with an L1 prior pulling
 * offsets towards a common centre, solved by iteratively reweighted least
 * squares on the normal equations (GSL Cholesky). Units inside: µs. */
#include "analysis/clock_graph_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#define PRIOR_WEIGHT 1e-3 /* per µs of L1 distance; tiny next to the edges */
#define PRIOR_EPS_US 1e-3 /* 1 ns: the IRLS weight cap */
#define IRLS_ITERATIONS 80
#define IRLS_CONVERGED_US 1e-4 /* stop once no unknown moves by 0.1 ns */
#define RIDGE 1e-9

/* Unknowns: x(v) for v != ref, L(class) for classes with one-way groups,
 * and the prior's centre c. */
struct layout {
    size_t nx, nl, m;
    long *xi; /* domain -> column, -1 for ref */
    long *li; /* class -> column, -1 when unused */
};

static int layout_init(struct layout *lo, const struct cg_problem *p)
{
    lo->xi = malloc((p->ndomains + 1) * sizeof(long));
    lo->li = malloc((p->nclasses + 1) * sizeof(long));
    if (!lo->xi || !lo->li)
        return -1;
    size_t col = 0;
    for (size_t v = 0; v < p->ndomains; v++)
        lo->xi[v] = v == p->ref ? -1 : (long)col++;
    lo->nx = col;
    for (size_t c = 0; c < p->nclasses; c++)
        lo->li[c] = -1;
    for (size_t g = 0; g < p->ngroups; g++) {
        const struct cg_group *gr = &p->groups[g];
        if (p->min[g].count && !gr->sync && lo->li[gr->cls] < 0)
            lo->li[gr->cls] = (long)col++;
    }
    lo->nl = col - lo->nx;
    lo->m = col + 1; /* + centre */
    return 0;
}

static void layout_free(struct layout *lo)
{
    free(lo->xi);
    free(lo->li);
}

/* Add w * (a.z - y)^2 to the normal equations; a given sparsely. */
static void add_row(gsl_matrix *ata, gsl_vector *aty, const long *col,
                    const double *coef, size_t k, double y, double w)
{
    for (size_t i = 0; i < k; i++) {
        if (col[i] < 0)
            continue;
        for (size_t j = 0; j < k; j++)
            if (col[j] >= 0)
                *gsl_matrix_ptr(ata, (size_t)col[i], (size_t)col[j]) +=
                    w * coef[i] * coef[j];
        *gsl_vector_ptr(aty, (size_t)col[i]) += w * coef[i] * y;
    }
}

static void add_edges(const struct cg_problem *p, const struct layout *lo,
                      gsl_matrix *ata, gsl_vector *aty)
{
    for (size_t g = 0; g < p->ngroups; g++) {
        const struct cg_group *gr = &p->groups[g];
        const struct cg_minima *mn = &p->min[g];
        if (!mn->count)
            continue;
        long col[3] = {lo->xi[gr->to], lo->xi[gr->from], -1};
        double coef[3] = {1, -1, 1};
        double y = (double)mn->fwd / 1e3;
        if (gr->sync)
            y = ((double)mn->fwd - (double)mn->back) / 2e3;
        else
            col[2] = lo->li[gr->cls];
        add_row(ata, aty, col, coef, 3, y, 1.0);
    }
}

static double offset_of(const struct layout *lo, const gsl_vector *z, size_t v)
{
    return lo->xi[v] < 0 ? 0.0 : gsl_vector_get(z, (size_t)lo->xi[v]);
}

/* One IRLS step: prior weights from the current z, then solve. */
static int irls_step(const struct cg_problem *p, const struct layout *lo,
                     gsl_vector *z, gsl_matrix *ata, gsl_vector *aty)
{
    double centre = gsl_vector_get(z, lo->m - 1);

    gsl_matrix_set_zero(ata);
    gsl_vector_set_zero(aty);
    add_edges(p, lo, ata, aty);
    for (size_t v = 0; v < p->ndomains; v++) {
        double d = fabs(offset_of(lo, z, v) - centre);
        double w = PRIOR_WEIGHT / (d > PRIOR_EPS_US ? d : PRIOR_EPS_US);
        long col[2] = {lo->xi[v], (long)lo->m - 1};
        double coef[2] = {1, -1};
        add_row(ata, aty, col, coef, 2, 0.0, w);
    }
    for (size_t i = 0; i < lo->m; i++)
        *gsl_matrix_ptr(ata, i, i) += RIDGE;
    if (gsl_linalg_cholesky_decomp1(ata) != GSL_SUCCESS)
        return -1;
    return gsl_linalg_cholesky_solve(ata, aty, z) == GSL_SUCCESS ? 0 : -1;
}

int cg_fit(const struct cg_problem *p, double *y_ns)
{
    struct layout lo = {0};
    gsl_matrix *ata = NULL;
    gsl_vector *aty = NULL, *z = NULL, *prev = NULL;
    int rc = -1;

    gsl_set_error_handler_off();
    if (layout_init(&lo, p) < 0)
        goto out;
    ata = gsl_matrix_alloc(lo.m, lo.m);
    aty = gsl_vector_alloc(lo.m);
    z = gsl_vector_calloc(lo.m);
    prev = gsl_vector_alloc(lo.m);
    if (!ata || !aty || !z || !prev)
        goto out;
    for (int it = 0; it < IRLS_ITERATIONS; it++) {
        gsl_vector_memcpy(prev, z);
        if (irls_step(p, &lo, z, ata, aty) < 0)
            goto out;
        gsl_vector_sub(prev, z);
        if (it > 0 && gsl_vector_max(prev) < IRLS_CONVERGED_US &&
            gsl_vector_min(prev) > -IRLS_CONVERGED_US)
            break;
    }
    for (size_t v = 0; v < p->ndomains; v++)
        y_ns[v] = offset_of(&lo, z, v) * 1e3;
    rc = 0;
out:
    gsl_matrix_free(ata);
    gsl_vector_free(aty);
    gsl_vector_free(z);
    gsl_vector_free(prev);
    layout_free(&lo);
    return rc;
}
