/* select: quickselect quantiles (see select.h). */
#include "stats/select.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "stats/descriptive.h"
#include "stats/stats_status.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Move the values of a[lo..hi] that are below the pivot (strict) or not
 * above it (!strict) to the front, in one branch-free pass (Lomuto's
 * scheme with the comparison as an increment: random data mispredicts
 * half the branches of a classic partition). Returns the first index
 * after them. */
static ptrdiff_t partition(double *a, ptrdiff_t lo, ptrdiff_t hi, double pivot,
                           int strict)
{
    ptrdiff_t j = lo;

    for (ptrdiff_t i = lo; i <= hi; i++) {
        double x = a[i];
        ptrdiff_t in = strict ? x < pivot : x <= pivot;

        a[i] = a[j];
        a[j] = x;
        j += in;
    }
    return j;
}

static double median3(double a, double b, double c)
{
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    return c < a ? a : c > b ? b : c;
}

/* Put the k-th smallest of a[lo..hi] (inclusive, lo <= k <= hi) at a[k],
 * smaller-or-equal values before it and larger-or-equal after. */
static void select_kth(double *a, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t k)
{
    unsigned budget = 64; /* ~2 log2 n partitions; then sort the rest */

    while (hi > lo) {
        double pivot = median3(a[lo], a[lo + (hi - lo) / 2], a[hi]);
        ptrdiff_t lt, le;

        if (budget-- == 0) {
            qsort(a + lo, (size_t)(hi - lo + 1), sizeof(*a), cmp_double);
            return;
        }
        /* a[lo..lt-1] < pivot <= a[lt..hi] */
        lt = partition(a, lo, hi, pivot, 1);
        if (k < lt) {
            hi = lt - 1;
            continue;
        }
        /* a[lt..le-1] == pivot < a[le..hi]; the pivot is in the range,
         * so le > lt and every round shrinks it. */
        le = partition(a, lt, hi, pivot, 0);
        if (k < le)
            return;
        lo = le;
    }
}

/* Select every rank in r[0..nr) (ascending, within [lo, hi]): the middle
 * one on the whole range, then the lower ranks left of it and the upper
 * ones right of it, so each level partitions ever smaller ranges. */
static void multiselect(double *a, ptrdiff_t lo, ptrdiff_t hi, const size_t *r,
                        size_t nr)
{
    while (nr > 0) {
        size_t mid = nr / 2;
        ptrdiff_t k = (ptrdiff_t)r[mid];

        select_kth(a, lo, hi, k);
        multiselect(a, lo, k - 1, r, mid);
        lo = k + 1;
        r += mid + 1;
        nr -= mid + 1;
    }
}

int stats_quantiles_select(const double *x, size_t n, const double *q,
                           size_t nq, double *work, double *out)
{
    size_t m = 0, ranks[8] = {0}, nr = 0;

    if (nq > 8)
        return -STATS_E_INVAL;
    for (size_t i = 0; i < nq; i++)
        if (!(q[i] >= 0.0 && q[i] <= 1.0))
            return -STATS_E_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]))
            work[m++] = x[i];
    if (m == 0)
        return -STATS_E_INVAL;
    /* The lower order statistic of each quantile, ascending, each once. */
    for (size_t i = 0; i < nq; i++) {
        size_t r = (size_t)floor((double)(m - 1) * q[i]), p = 0;

        while (p < nr && ranks[p] < r)
            p++;
        if (p < nr && ranks[p] == r)
            continue;
        for (size_t s = nr; s > p; s--)
            ranks[s] = ranks[s - 1];
        ranks[p] = r;
        nr++;
    }
    multiselect(work, 0, (ptrdiff_t)m - 1, ranks, nr);
    /* descriptive.c's quantile_sorted() on the selected positions. The
     * next order statistic after a selected rank r is the least value
     * between r + 1 and the next selected rank (or the end): everything
     * there is >= work[r] and <= the next selected value. */
    for (size_t i = 0; i < nq; i++) {
        double h = (double)(m - 1) * q[i], next;
        size_t lo = (size_t)floor(h), end = m - 1;

        if (lo + 1 >= m) {
            out[i] = work[m - 1];
            continue;
        }
        for (size_t p = 0; p < nr; p++)
            if (ranks[p] > lo) {
                end = ranks[p];
                break;
            }
        next = work[lo + 1];
        for (size_t k = lo + 2; k <= end; k++)
            if (work[k] < next)
                next = work[k];
        out[i] = work[lo] + (h - (double)lo) * (next - work[lo]);
    }
    return 0;
}

int stats_robust_scaler_fit_work(const double *x, size_t n, double q_lo_pct,
                                 double q_hi_pct, double *work,
                                 struct stats_scaler *out)
{
    double q[3], v[3], s;
    int rc;

    if (!(q_lo_pct >= 0.0 && q_lo_pct <= q_hi_pct && q_hi_pct <= 100.0))
        return -STATS_E_INVAL;
    q[0] = 0.5;
    q[1] = q_lo_pct / 100.0;
    q[2] = q_hi_pct / 100.0;
    if ((rc = stats_quantiles_select(x, n, q, 3, work, v)) < 0)
        return rc;
    out->center = v[0];
    s = v[2] - v[1];
    /* scikit-learn's _handle_zeros_in_scale, as descriptive.c */
    out->scale = s < 10.0 * DBL_EPSILON ? 1.0 : s;
    return 0;
}
