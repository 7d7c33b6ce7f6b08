/* pagerank: scikit-network's and networkx's power iterations (see
 * pagerank.h). */
#include "stats/pagerank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats_status.h"

/* Normalised personalisation (uniform when NULL or summing to 0). */
static int seeds_of(const double *pers, size_t n, double *s)
{
    double sum = 0.0;

    for (size_t i = 0; i < n; i++) {
        s[i] = pers ? pers[i] : 1.0;
        if (!(s[i] >= 0.0))
            return -STATS_E_INVAL;
        sum += s[i];
    }
    for (size_t i = 0; i < n; i++)
        s[i] = sum > 0.0 ? s[i] / sum : 1.0 / (double)n;
    return 0;
}

static double *row_sums(const double *w, size_t n)
{
    double *d = malloc(n * sizeof(double));

    if (!d)
        return NULL;
    for (size_t a = 0; a < n; a++) {
        d[a] = 0.0;
        for (size_t b = 0; b < n; b++)
            d[a] += w[a * n + b];
    }
    return d;
}

int stats_pagerank_sknet(const double *w, size_t n,
                         const struct stats_pagerank_opts *opts, double *out)
{
    double d = opts && opts->damping > 0 ? opts->damping : 0.85;
    unsigned iters = opts && opts->max_iter ? opts->max_iter : 10;
    double tol = opts && opts->tol > 0 ? opts->tol : 1e-6;
    double *seeds = malloc((n + 1) * sizeof(double)), *b = NULL, *x = NULL,
           *nx = NULL, *deg = NULL;
    int rc = -STATS_E_NOMEM;

    if (n == 0) {
        free(seeds);
        return -STATS_E_INVAL;
    }
    b = malloc(n * sizeof(double));
    x = malloc(n * sizeof(double));
    nx = malloc(n * sizeof(double));
    deg = row_sums(w, n);
    if (!seeds || !b || !x || !nx || !deg)
        goto out;
    rc = seeds_of(opts ? opts->personalization : NULL, n, seeds);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        b[i] = (1.0 - d * (deg[i] != 0.0)) * seeds[i];
    memcpy(x, b, n * sizeof(double));
    for (unsigned it = 0; it < iters; it++) {
        double sx = 0.0, s = 0.0, diff = 0.0;
        for (size_t i = 0; i < n; i++)
            sx += x[i];
        for (size_t i = 0; i < n; i++)
            nx[i] = b[i] * sx;
        for (size_t a = 0; a < n; a++) {
            if (deg[a] == 0.0)
                continue;
            double f = d * x[a] / deg[a];
            for (size_t c = 0; c < n; c++)
                nx[c] += f * w[a * n + c];
        }
        for (size_t i = 0; i < n; i++)
            s += nx[i];
        for (size_t i = 0; i < n; i++) {
            nx[i] /= s;
            diff += fabs(x[i] - nx[i]);
        }
        if (diff < tol)
            break; /* scikit-network keeps the previous iterate */
        memcpy(x, nx, n * sizeof(double));
    }
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] / s;
    rc = 0;
out:
    free(seeds);
    free(b);
    free(x);
    free(nx);
    free(deg);
    return rc;
}

int stats_pagerank_nx(const double *w, size_t n,
                      const struct stats_pagerank_opts *opts, double *out)
{
    double alpha = opts && opts->damping > 0 ? opts->damping : 0.85;
    unsigned iters = opts && opts->max_iter ? opts->max_iter : 100;
    double tol = opts && opts->tol > 0 ? opts->tol : 1e-6;
    double *p = malloc((n + 1) * sizeof(double)), *dw = NULL, *x = NULL,
           *last = NULL, *deg = NULL;
    int rc = -STATS_E_NOMEM;

    if (n == 0) {
        free(p);
        for (size_t i = 0; i < n; i++)
            out[i] = 0.0;
        return 0; /* networkx returns {} for an empty graph */
    }
    dw = malloc(n * sizeof(double));
    x = malloc(n * sizeof(double));
    last = malloc(n * sizeof(double));
    deg = row_sums(w, n);
    if (!p || !dw || !x || !last || !deg)
        goto out;
    rc = seeds_of(opts ? opts->personalization : NULL, n, p);
    if (rc == 0 && opts && opts->dangling)
        rc = seeds_of(opts->dangling, n, dw);
    else if (rc == 0)
        memcpy(dw, p, n * sizeof(double));
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0 / (double)n;
    rc = -STATS_E_NOCONV;
    for (unsigned it = 0; it < iters; it++) {
        double dangle = 0.0, err = 0.0;
        memcpy(last, x, n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            if (deg[i] == 0.0)
                dangle += last[i];
        dangle *= alpha;
        for (size_t i = 0; i < n; i++)
            x[i] = dangle * dw[i] + (1.0 - alpha) * p[i];
        for (size_t a = 0; a < n; a++) {
            if (deg[a] == 0.0)
                continue;
            double f = alpha * last[a] / deg[a];
            for (size_t c = 0; c < n; c++)
                x[c] += f * w[a * n + c];
        }
        for (size_t i = 0; i < n; i++)
            err += fabs(x[i] - last[i]);
        if (err < (double)n * tol) {
            rc = 0;
            break;
        }
    }
    memcpy(out, x, n * sizeof(double));
out:
    free(p);
    free(dw);
    free(x);
    free(last);
    free(deg);
    return rc;
}

int stats_pagerank_rcaeval(const unsigned char *pr, size_t n, unsigned n_iter,
                           double *out)
{
    double *w = malloc((n * n + 1) * sizeof(double));
    struct stats_pagerank_opts o = {0.85, n_iter ? n_iter : 10, 1e-6, NULL,
                                    NULL};
    int rc;

    if (!w)
        return -STATS_E_NOMEM;
    for (size_t i = 0; i < n * n; i++)
        w[i] = pr[i] ? 1.0 : 0.0;
    rc = stats_pagerank_sknet(w, n, &o, out);
    free(w);
    return rc;
}
