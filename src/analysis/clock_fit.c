/* clock_fit: the point estimate of the clock graph. Weighted least squares
 * over per-group equations (see clock_graph.h), with an L1 prior pulling
 * offsets towards a common centre, solved by iteratively reweighted least
 * squares (IRLS).
 *
 * Each IRLS step solves the normal equations A'WA z = A'Wy without forming
 * them (a product walks the equations once: time and memory linear in
 * groups + domains; the dense solve it replaces needed m^2 memory and m^3
 * time, and 10,000 domains were out of reach). The unknowns split in two:
 * the domains' offsets x, whose block is a graph Laplacian (pinned at the
 * reference) plus the prior's diagonal, and a few global ones (each
 * class's latency L, the prior's centre c, and one offset per connected
 * component that does not hold the reference). The globals couple
 * everything and make the system ill-conditioned, so they are eliminated
 * exactly: the x block is solved by conjugate gradients (Jacobi
 * preconditioner, warm-started from the previous step) once per global
 * and once for the right-hand side, and the small Schur complement by
 * Gaussian elimination. A sparse Cholesky factor would not stay sparse: a
 * fleet whose pipelines share hosts at random is an expander graph, whose
 * factor fills in, while conjugate gradients converge fastest on such
 * graphs. Units inside: µs. */
#include "analysis/clock_graph_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRIOR_WEIGHT 1e-3 /* per µs of L1 distance; tiny next to the edges */
#define PRIOR_EPS_US 1e-3 /* 1 ns: the IRLS weight cap */
#define IRLS_ITERATIONS 80
#define IRLS_CONVERGED_US 1e-3 /* stop once no unknown moves by 1 ns */
#define RIDGE 1e-9
#define CG_REL_TOL 1e-20 /* squared relative residual */
#define CG_MAX_ITER 2000
#define MAX_ANCHORS 256 /* components without the reference made global */

/* Column of an unknown: x columns are [0, nx), globals [nx, nx + ng). */
struct layout {
    size_t nx, ng;
    long *col; /* domain -> column, -1 for the reference */
    long *li;  /* class -> column, -1 when unused */
    long centre;
};

/* One equation a.z = y with weight w, at most 3 non-zero coefficients. */
struct row {
    long col[3];
    double coef[3];
    double y, w;
};

struct fit {
    const struct cg_problem *p;
    struct layout lo;
    struct row *rows; /* edge rows, then one prior row per domain */
    size_t nedge, nrows;
    double *x, *g, *prev;   /* nx, ng, nx + ng */
    double *bx, *bg, *diag; /* right-hand sides, Jacobi */
    double *mxg;            /* ng columns of nx: the x-global coupling */
    double *u;              /* ng + 1 solutions of the x block, warm */
    double *s;              /* (ng) x (ng + 1): Schur system */
    double *r, *d, *q, *t;  /* CG scratch, nx each */
};

/* ---- layout: components and globals ----------------------------------- */

static uint32_t find(uint32_t *parent, uint32_t v)
{
    while (parent[v] != v)
        v = parent[v] = parent[parent[v]];
    return v;
}

static bool fit_row(const struct cg_problem *p, size_t g)
{
    return p->min[g].count && !p->min[g].no_fit;
}

/* Union-find over the fit's edges; *big: components of >= 2 domains. */
static int components(const struct cg_problem *p, uint32_t *parent,
                      uint32_t *size)
{
    for (uint32_t v = 0; v < p->ndomains; v++) {
        parent[v] = v;
        size[v] = 1;
    }
    for (size_t g = 0; g < p->ngroups; g++) {
        if (!fit_row(p, g))
            continue;
        uint32_t a = find(parent, p->groups[g].from);
        uint32_t b = find(parent, p->groups[g].to);
        if (a == b)
            continue;
        if (size[a] < size[b]) {
            uint32_t t = a;
            a = b;
            b = t;
        }
        parent[b] = a;
        size[a] += size[b];
    }
    return 0;
}

static int layout_init(struct layout *lo, const struct cg_problem *p)
{
    size_t nd = p->ndomains;
    uint32_t *parent = malloc((nd + 1) * sizeof(*parent));
    uint32_t *size = malloc((nd + 1) * sizeof(*size));
    int rc = -1;

    lo->col = malloc((nd + 1) * sizeof(long));
    lo->li = malloc((p->nclasses + 1) * sizeof(long));
    if (!parent || !size || !lo->col || !lo->li)
        goto out;
    components(p, parent, size);
    uint32_t refroot = find(parent, p->ref);
    size_t anchors = 0;
    /* A component's first domain (its root's representative by id) is its
     * anchor when the component has >= 2 domains and not the reference. */
    for (uint32_t v = 0; v < nd; v++)
        lo->col[v] = -2; /* undecided */
    lo->col[p->ref] = -1;
    for (uint32_t v = 0; v < nd; v++) {
        uint32_t r = find(parent, v);
        if (v == p->ref || r == refroot || size[r] < 2 ||
            anchors >= MAX_ANCHORS)
            continue;
        if (size[r] != UINT32_MAX) {
            size[r] = UINT32_MAX; /* anchored: v is its first domain */
            lo->col[v] = -3;      /* global, numbered below */
            anchors++;
        }
    }
    lo->nx = 0;
    for (uint32_t v = 0; v < nd; v++)
        if (lo->col[v] == -2)
            lo->col[v] = (long)lo->nx++;
    long next = (long)lo->nx;
    for (uint32_t v = 0; v < nd; v++)
        if (lo->col[v] == -3)
            lo->col[v] = next++;
    for (size_t c = 0; c < p->nclasses; c++)
        lo->li[c] = -1;
    for (size_t g = 0; g < p->ngroups; g++) {
        const struct cg_group *gr = &p->groups[g];
        if (fit_row(p, g) && !gr->sync && lo->li[gr->cls] < 0)
            lo->li[gr->cls] = next++;
    }
    lo->centre = next++;
    lo->ng = (size_t)next - lo->nx;
    rc = 0;
out:
    free(parent);
    free(size);
    return rc;
}

static int build_rows(struct fit *f)
{
    const struct cg_problem *p = f->p;
    const struct layout *lo = &f->lo;

    f->rows = malloc((p->ngroups + p->ndomains + 1) * sizeof(*f->rows));
    if (!f->rows)
        return -1;
    for (size_t g = 0; g < p->ngroups; g++) {
        const struct cg_group *gr = &p->groups[g];
        const struct cg_minima *mn = &p->min[g];
        if (!fit_row(p, g))
            continue;
        struct row *r = &f->rows[f->nedge++];
        *r = (struct row){{lo->col[gr->to], lo->col[gr->from], -1},
                          {1, -1, 1},
                          (double)mn->fit_fwd / 1e3,
                          1.0};
        if (gr->sync)
            r->y = ((double)mn->fit_fwd - (double)mn->back) / 2e3;
        else
            r->col[2] = lo->li[gr->cls];
    }
    f->nrows = f->nedge;
    for (size_t v = 0; v < p->ndomains; v++)
        f->rows[f->nrows++] =
            (struct row){{lo->col[v], lo->centre, -1}, {1, -1, 0}, 0.0, 0.0};
    return 0;
}

/* ---- the x block -------------------------------------------------------- */

/* out = (M_xx + ridge) z over the x columns only. */
static void apply_xx(const struct fit *f, const double *z, double *out)
{
    size_t nx = f->lo.nx;

    for (size_t i = 0; i < nx; i++)
        out[i] = RIDGE * z[i];
    for (size_t k = 0; k < f->nrows; k++) {
        const struct row *r = &f->rows[k];
        double s = 0;
        for (int i = 0; i < 3; i++)
            if (r->col[i] >= 0 && (size_t)r->col[i] < nx)
                s += r->coef[i] * z[r->col[i]];
        if (s == 0)
            continue;
        s *= r->w;
        for (int i = 0; i < 3; i++)
            if (r->col[i] >= 0 && (size_t)r->col[i] < nx)
                out[r->col[i]] += r->coef[i] * s;
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;

    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Solve (M_xx + ridge) z = b by preconditioned CG from the current z. */
static void solve_xx(struct fit *f, const double *b, double *z)
{
    size_t n = f->lo.nx;

    if (n == 0)
        return;
    apply_xx(f, z, f->q);
    for (size_t i = 0; i < n; i++) {
        f->r[i] = b[i] - f->q[i];
        f->d[i] = f->r[i] / f->diag[i];
    }
    double rs = dot(f->r, f->d, n);
    double bn = 0;
    for (size_t i = 0; i < n; i++)
        bn += b[i] * b[i] / f->diag[i];
    double stop = CG_REL_TOL * (bn > 0 ? bn : 1);
    for (size_t it = 0; it < CG_MAX_ITER && rs > stop; it++) {
        apply_xx(f, f->d, f->q);
        double dq = dot(f->d, f->q, n);
        if (!(dq > 0))
            break;
        double alpha = rs / dq;
        for (size_t i = 0; i < n; i++) {
            z[i] += alpha * f->d[i];
            f->r[i] -= alpha * f->q[i];
            f->t[i] = f->r[i] / f->diag[i];
        }
        double rs_new = dot(f->r, f->t, n);
        double beta = rs_new / rs;
        rs = rs_new;
        for (size_t i = 0; i < n; i++)
            f->d[i] = f->t[i] + beta * f->d[i];
    }
}

/* ---- one IRLS step ------------------------------------------------------ */

/* Right-hand sides, the Jacobi diagonal, the coupling columns M_xg and
 * the global block M_gg (into s, with b_g as its last column). */
static void assemble(struct fit *f)
{
    size_t nx = f->lo.nx, ng = f->lo.ng;

    memset(f->bx, 0, nx * sizeof(double));
    memset(f->mxg, 0, nx * ng * sizeof(double));
    memset(f->s, 0, ng * (ng + 1) * sizeof(double));
    for (size_t i = 0; i < nx; i++)
        f->diag[i] = RIDGE;
    for (size_t j = 0; j < ng; j++)
        f->s[j * (ng + 1) + j] = RIDGE;
    for (size_t k = 0; k < f->nrows; k++) {
        const struct row *r = &f->rows[k];
        for (int i = 0; i < 3; i++) {
            long ci = r->col[i];
            if (ci < 0)
                continue;
            double wa = r->w * r->coef[i];
            for (int j = 0; j < 3; j++) {
                long cj = r->col[j];
                if (cj < 0)
                    continue;
                double v = wa * r->coef[j];
                if ((size_t)ci < nx && (size_t)cj < nx) {
                    if (ci == cj)
                        f->diag[ci] += v;
                } else if ((size_t)ci < nx) {
                    f->mxg[((size_t)cj - nx) * nx + (size_t)ci] += v;
                } else if ((size_t)cj >= nx) {
                    f->s[((size_t)ci - nx) * (ng + 1) + ((size_t)cj - nx)] += v;
                }
            }
            if ((size_t)ci < nx)
                f->bx[ci] += wa * r->y;
            else
                f->s[((size_t)ci - nx) * (ng + 1) + ng] += wa * r->y;
        }
    }
}

/* Gaussian elimination with partial pivoting on the n x (n+1) system in
 * a; the solution into out. Returns 0, or -1 when singular. */
static int solve_dense(double *a, size_t n, double *out)
{
    size_t w = n + 1;

    for (size_t c = 0; c < n; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * w + c]) > fabs(a[piv * w + c]))
                piv = r;
        if (fabs(a[piv * w + c]) < 1e-300)
            return -1;
        for (size_t j = 0; j < w && piv != c; j++) {
            double t = a[c * w + j];
            a[c * w + j] = a[piv * w + j];
            a[piv * w + j] = t;
        }
        for (size_t r = c + 1; r < n; r++) {
            double q = a[r * w + c] / a[c * w + c];
            for (size_t j = c; j < w; j++)
                a[r * w + j] -= q * a[c * w + j];
        }
    }
    for (size_t c = n; c-- > 0;) {
        double v = a[c * w + n];
        for (size_t j = c + 1; j < n; j++)
            v -= a[c * w + j] * out[j];
        out[c] = v / a[c * w + c];
    }
    return 0;
}

/* Eliminate the globals: x = u_b - U g with M_xx U = M_xg, M_xx u_b = b_x,
 * then (M_gg - M_xg' U) g = b_g - M_xg' u_b. */
static int irls_step(struct fit *f)
{
    size_t nx = f->lo.nx, ng = f->lo.ng, w = ng + 1;
    double centre = f->g[f->lo.centre - (long)nx];

    for (size_t v = 0; v < f->p->ndomains; v++) {
        long c = f->lo.col[v];
        double xv = c < 0 ? 0.0 : (size_t)c < nx ? f->x[c] : f->g[c - (long)nx];
        double d = fabs(xv - centre);
        f->rows[f->nedge + v].w =
            PRIOR_WEIGHT / (d > PRIOR_EPS_US ? d : PRIOR_EPS_US);
    }
    assemble(f);
    for (size_t j = 0; j < ng; j++)
        solve_xx(f, &f->mxg[j * nx], &f->u[j * nx]);
    solve_xx(f, f->bx, &f->u[ng * nx]);
    for (size_t i = 0; i < ng; i++) {
        for (size_t j = 0; j < ng; j++)
            f->s[i * w + j] -= dot(&f->mxg[i * nx], &f->u[j * nx], nx);
        f->s[i * w + ng] -= dot(&f->mxg[i * nx], &f->u[ng * nx], nx);
    }
    if (solve_dense(f->s, ng, f->g) < 0)
        return -1;
    for (size_t i = 0; i < nx; i++) {
        double v = f->u[ng * nx + i];
        for (size_t j = 0; j < ng; j++)
            v -= f->u[j * nx + i] * f->g[j];
        f->x[i] = v;
    }
    return 0;
}

/* ---- driver ------------------------------------------------------------- */

static double offset_of(const struct fit *f, size_t v)
{
    long c = f->lo.col[v];

    if (c < 0)
        return 0.0;
    return (size_t)c < f->lo.nx ? f->x[c] : f->g[c - (long)f->lo.nx];
}

static void fit_free(struct fit *f)
{
    free(f->lo.col);
    free(f->lo.li);
    free(f->rows);
    double *v[] = {f->x, f->g, f->prev, f->bx, f->bg, f->diag, f->mxg,
                   f->u, f->s, f->r,    f->d,  f->q,  f->t};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        free(v[i]);
}

static int fit_alloc(struct fit *f)
{
    size_t nx = f->lo.nx, ng = f->lo.ng;
    struct {
        double **p;
        size_t n;
    } a[] = {{&f->x, nx},
             {&f->g, ng},
             {&f->prev, nx + ng},
             {&f->bx, nx},
             {&f->bg, ng},
             {&f->diag, nx},
             {&f->mxg, nx * ng},
             {&f->u, nx * (ng + 1)},
             {&f->s, ng * (ng + 1)},
             {&f->r, nx},
             {&f->d, nx},
             {&f->q, nx},
             {&f->t, nx}};

    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
        if (!(*a[i].p = calloc(a[i].n + 1, sizeof(double))))
            return -1;
    return 0;
}

int cg_fit(const struct cg_problem *p, double *y_ns)
{
    struct fit f = {.p = p};
    int rc = -1;

    if (layout_init(&f.lo, p) < 0 || build_rows(&f) < 0 || fit_alloc(&f) < 0)
        goto out;
    size_t nx = f.lo.nx, ng = f.lo.ng;
    for (int it = 0; it < IRLS_ITERATIONS; it++) {
        memcpy(f.prev, f.x, nx * sizeof(double));
        memcpy(f.prev + nx, f.g, ng * sizeof(double));
        if (irls_step(&f) < 0)
            goto out;
        double moved = 0;
        for (size_t i = 0; i < nx; i++)
            moved = fmax(moved, fabs(f.prev[i] - f.x[i]));
        for (size_t i = 0; i < ng; i++)
            moved = fmax(moved, fabs(f.prev[nx + i] - f.g[i]));
        if (it > 0 && moved < IRLS_CONVERGED_US)
            break;
    }
    for (size_t d = 0; d < p->ndomains; d++)
        y_ns[d] = offset_of(&f, d) * 1e3;
    rc = 0;
out:
    fit_free(&f);
    return rc;
}
