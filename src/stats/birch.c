/* birch: one-dimensional Birch and RCAEval's smoothed Birch detector (see
 * birch.h). */
#include "stats/birch.h"

#include <math.h>
#include <stdlib.h>

#include "stats/stats_status.h"

struct cf {
    double n, ls, ss; /* count, linear sum, squared sum */
    double c, c2;     /* centroid and its square */
};

/* _CFNode.insert_cf_subcluster on a single leaf. Returns the new count of
 * subclusters. */
static size_t insert(struct cf *cf, size_t k, double x, double thr2)
{
    size_t best = 0;
    double bd = 0.0;

    if (k == 0)
        goto append;
    for (size_t i = 0; i < k; i++) {
        /* scikit-learn's reduced distance: |c|^2 - 2 c.x */
        double dist = cf[i].c2 - 2.0 * cf[i].c * x;
        if (i == 0 || dist < bd) {
            bd = dist;
            best = i;
        }
    }
    /* merge_subcluster */
    double n = cf[best].n + 1.0, ls = cf[best].ls + x, ss = cf[best].ss + x * x;
    double c = ls / n, c2 = c * c;
    if (ss / n - c2 <= thr2) {
        cf[best] = (struct cf){n, ls, ss, c, c2};
        return k;
    }
append:
    cf[k] = (struct cf){1.0, x, x * x, x, x * x};
    return k + 1;
}

int stats_birch_1d(const double *x, size_t n, double threshold,
                   unsigned branching, size_t *nlabels)
{
    struct cf *cf;
    unsigned char *used;
    size_t k = 0, labels = 0;

    if (n == 0 || !(threshold >= 0.0) || branching < 2)
        return -STATS_E_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return -STATS_E_INVAL;
    cf = malloc(((size_t)branching + 1) * sizeof(*cf));
    used = calloc((size_t)branching + 1, 1);
    if (!cf || !used) {
        free(cf);
        free(used);
        return -STATS_E_NOMEM;
    }
    for (size_t i = 0; i < n && k <= branching; i++)
        k = insert(cf, k, x[i], threshold * threshold);
    if (k > branching) {
        /* the leaf would split: past what this models exactly */
        *nlabels = k;
        goto out;
    }
    /* labels: the nearest centroid of each value (first on ties) */
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        double bd = 0.0;
        for (size_t j = 0; j < k; j++) {
            double dist = cf[j].c2 - 2.0 * cf[j].c * x[i];
            if (j == 0 || dist < bd) {
                bd = dist;
                best = j;
            }
        }
        if (!used[best]) {
            used[best] = 1;
            labels++;
        }
    }
    *nlabels = labels;
out:
    free(cf);
    free(used);
    return 0;
}

int stats_birch_anomalous(const double *x, size_t n, size_t window,
                          double threshold, bool *anomalous)
{
    double *y, norm = 0.0;
    size_t labels = 0;
    int rc;

    if (n == 0 || window == 0)
        return -STATS_E_INVAL;
    if (!(y = malloc(n * sizeof(double))))
        return -STATS_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        size_t cnt = 0;
        for (size_t j = i + 1 > window ? i + 1 - window : 0; j <= i; j++)
            if (!isnan(x[j])) {
                s += x[j];
                cnt++;
            }
        y[i] = cnt ? s / (double)cnt : 0.0;
        if (!isfinite(y[i]))
            y[i] = 0.0;
        norm += y[i] * y[i];
    }
    norm = sqrt(norm);
    if (norm > 0.0)
        for (size_t i = 0; i < n; i++)
            y[i] /= norm;
    rc = stats_birch_1d(y, n, threshold, 50, &labels);
    free(y);
    if (rc < 0)
        return rc;
    *anomalous = labels > 1;
    return 0;
}
