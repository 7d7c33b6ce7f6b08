/* trace_pysort: CPython 3.12's list sort on (score, index) items, so that
 * rankings with NaN scores come out in the order RCAEval's sorted() gave
 * (trace_pysort.h). Written from the algorithm's description in CPython's
 * Objects/listsort.txt and its listobject.c; the names follow it so the two
 * can be read side by side. */
#include "rca/trace_pysort.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MIN_GALLOP 7
#define MAX_PENDING 85

struct item {
    double key;
    size_t val;
};

struct run {
    struct item *base;
    size_t len;
    int power;
};

struct mstate {
    struct item *tmp; /* merge scratch, at least half the list */
    size_t min_gallop;
    struct run pending[MAX_PENDING];
    size_t n;
    size_t listlen;
    struct item *basekeys;
};

/* Python's a < b on floats. */
static bool lt(const struct item *a, const struct item *b)
{
    return a->key < b->key;
}

static void reverse(struct item *lo, struct item *hi)
{
    for (--hi; lo < hi; lo++, hi--) {
        struct item t = *lo;
        *lo = *hi;
        *hi = t;
    }
}

/* Binary insertion sort of lo[0..hi-lo), lo[0..start-lo) already sorted. */
static void binarysort(struct item *lo, struct item *hi, struct item *start)
{
    if (lo == start)
        ++start;
    for (; start < hi; ++start) {
        struct item *l = lo, *r = start, pivot = *start;
        do {
            struct item *p = l + ((r - l) >> 1);
            if (lt(&pivot, p))
                r = p;
            else
                l = p + 1;
        } while (l < r);
        memmove(l + 1, l, (size_t)(start - l) * sizeof(*l));
        *l = pivot;
    }
}

/* Length of the run at lo: ascending (a[i] >= a[i-1]) or strictly
 * descending (*descending set). */
static size_t count_run(struct item *lo, struct item *hi, bool *descending)
{
    size_t n;

    *descending = false;
    ++lo;
    if (lo == hi)
        return 1;
    n = 2;
    if (lt(lo, lo - 1)) {
        *descending = true;
        for (lo = lo + 1; lo < hi; ++lo, ++n)
            if (!lt(lo, lo - 1))
                break;
    } else {
        for (lo = lo + 1; lo < hi; ++lo, ++n)
            if (lt(lo, lo - 1))
                break;
    }
    return n;
}

/* Where key goes in the sorted a[0..n): the leftmost position (all
 * before are < key), searching from a[hint] outwards. */
static size_t gallop_left(const struct item *key, const struct item *a,
                          size_t n, size_t hint)
{
    size_t ofs = 1, lastofs = 0, k;

    a += hint;
    if (lt(a, key)) {
        size_t maxofs = n - hint;
        while (ofs < maxofs) {
            if (lt(a + ofs, key)) {
                lastofs = ofs;
                ofs = (ofs << 1) + 1;
            } else {
                break;
            }
        }
        if (ofs > maxofs)
            ofs = maxofs;
        lastofs += hint;
        ofs += hint;
    } else {
        size_t maxofs = hint + 1;
        while (ofs < maxofs) {
            if (lt(a - ofs, key))
                break;
            lastofs = ofs;
            ofs = (ofs << 1) + 1;
        }
        if (ofs > maxofs)
            ofs = maxofs;
        k = lastofs;
        /* hint - ofs may be -1 (CPython's lastofs = hint - ofs): carry it
         * as lastofs + 1 below to stay unsigned */
        lastofs = hint + 1 - ofs;
        ofs = hint - k;
        a -= hint;
        goto search; /* lastofs already holds the +1 */
    }
    a -= hint;
    ++lastofs;
search:
    while (lastofs < ofs) {
        size_t m = lastofs + ((ofs - lastofs) >> 1);
        if (lt(a + m, key))
            lastofs = m + 1;
        else
            ofs = m;
    }
    return ofs;
}

/* The rightmost position for key in the sorted a[0..n) (all before are
 * <= key). */
static size_t gallop_right(const struct item *key, const struct item *a,
                           size_t n, size_t hint)
{
    size_t ofs = 1, lastofs = 0, k;

    a += hint;
    if (lt(key, a)) {
        size_t maxofs = hint + 1;
        while (ofs < maxofs) {
            if (lt(key, a - ofs)) {
                lastofs = ofs;
                ofs = (ofs << 1) + 1;
            } else {
                break;
            }
        }
        if (ofs > maxofs)
            ofs = maxofs;
        k = lastofs;
        lastofs = hint + 1 - ofs; /* CPython's hint - ofs, plus 1 */
        ofs = hint - k;
        a -= hint;
        goto search;
    } else {
        size_t maxofs = n - hint;
        while (ofs < maxofs) {
            if (lt(key, a + ofs))
                break;
            lastofs = ofs;
            ofs = (ofs << 1) + 1;
        }
        if (ofs > maxofs)
            ofs = maxofs;
        lastofs += hint;
        ofs += hint;
    }
    a -= hint;
    ++lastofs;
search:
    while (lastofs < ofs) {
        size_t m = lastofs + ((ofs - lastofs) >> 1);
        if (lt(key, a + m))
            ofs = m;
        else
            lastofs = m + 1;
    }
    return ofs;
}

/* Merge a[0..na) and b = a + na [0..nb), na <= nb, through a copy of a. */
static void merge_lo(struct mstate *ms, struct item *ssa, size_t na,
                     struct item *ssb, size_t nb)
{
    struct item *dest = ssa;
    size_t min_gallop, k;

    memcpy(ms->tmp, ssa, na * sizeof(*ssa));
    ssa = ms->tmp;
    *dest++ = *ssb++;
    if (--nb == 0)
        goto succeed;
    if (na == 1)
        goto copy_b;
    min_gallop = ms->min_gallop;
    for (;;) {
        size_t acount = 0, bcount = 0;

        for (;;) {
            if (lt(ssb, ssa)) {
                *dest++ = *ssb++;
                ++bcount;
                acount = 0;
                if (--nb == 0)
                    goto succeed;
                if (bcount >= min_gallop)
                    break;
            } else {
                *dest++ = *ssa++;
                ++acount;
                bcount = 0;
                if (--na == 1)
                    goto copy_b;
                if (acount >= min_gallop)
                    break;
            }
        }
        ++min_gallop;
        do {
            min_gallop -= min_gallop > 1;
            ms->min_gallop = min_gallop;
            k = gallop_right(ssb, ssa, na, 0);
            acount = k;
            if (k) {
                memcpy(dest, ssa, k * sizeof(*dest));
                dest += k;
                ssa += k;
                na -= k;
                if (na == 1)
                    goto copy_b;
                if (na == 0) /* only with inconsistent comparisons */
                    goto succeed;
            }
            *dest++ = *ssb++;
            if (--nb == 0)
                goto succeed;
            k = gallop_left(ssa, ssb, nb, 0);
            bcount = k;
            if (k) {
                memmove(dest, ssb, k * sizeof(*dest));
                dest += k;
                ssb += k;
                nb -= k;
                if (nb == 0)
                    goto succeed;
            }
            *dest++ = *ssa++;
            if (--na == 1)
                goto copy_b;
        } while (acount >= MIN_GALLOP || bcount >= MIN_GALLOP);
        ++min_gallop;
        ms->min_gallop = min_gallop;
    }
succeed:
    if (na)
        memcpy(dest, ssa, na * sizeof(*dest));
    return;
copy_b:
    memmove(dest, ssb, nb * sizeof(*dest));
    dest[nb] = *ssa;
}

/* Merge a[0..na) and b = a + na [0..nb), na >= nb, from the right,
 * through a copy of b. */
static void merge_hi(struct mstate *ms, struct item *ssa, size_t na,
                     struct item *ssb, size_t nb)
{
    struct item *dest = ssb + nb - 1, *basea = ssa, *baseb = ms->tmp;
    size_t min_gallop, k;

    memcpy(ms->tmp, ssb, nb * sizeof(*ssb));
    ssb = ms->tmp + nb - 1;
    ssa += na - 1;
    *dest-- = *ssa--;
    if (--na == 0)
        goto succeed;
    if (nb == 1)
        goto copy_a;
    min_gallop = ms->min_gallop;
    for (;;) {
        size_t acount = 0, bcount = 0;

        for (;;) {
            if (lt(ssb, ssa)) {
                *dest-- = *ssa--;
                ++acount;
                bcount = 0;
                if (--na == 0)
                    goto succeed;
                if (acount >= min_gallop)
                    break;
            } else {
                *dest-- = *ssb--;
                ++bcount;
                acount = 0;
                if (--nb == 1)
                    goto copy_a;
                if (bcount >= min_gallop)
                    break;
            }
        }
        ++min_gallop;
        do {
            min_gallop -= min_gallop > 1;
            ms->min_gallop = min_gallop;
            k = na - gallop_right(ssb, basea, na, na - 1);
            acount = k;
            if (k) {
                dest -= k;
                ssa -= k;
                memmove(dest + 1, ssa + 1, k * sizeof(*dest));
                na -= k;
                if (na == 0)
                    goto succeed;
            }
            *dest-- = *ssb--;
            if (--nb == 1)
                goto copy_a;
            k = nb - gallop_left(ssa, baseb, nb, nb - 1);
            bcount = k;
            if (k) {
                dest -= k;
                ssb -= k;
                memcpy(dest + 1, ssb + 1, k * sizeof(*dest));
                nb -= k;
                if (nb == 1)
                    goto copy_a;
                if (nb == 0) /* only with inconsistent comparisons */
                    goto succeed;
            }
            *dest-- = *ssa--;
            if (--na == 0)
                goto succeed;
        } while (acount >= MIN_GALLOP || bcount >= MIN_GALLOP);
        ++min_gallop;
        ms->min_gallop = min_gallop;
    }
succeed:
    if (nb)
        memcpy(dest - (nb - 1), baseb, nb * sizeof(*dest));
    return;
copy_a:
    /* dest + 1 - na .. dest and ssa + 1 - na .. ssa move up by one */
    memmove(dest + 1 - na, ssa + 1 - na, na * sizeof(*dest));
    dest -= na;
    *dest = *ssb;
}

static void merge_at(struct mstate *ms, size_t i)
{
    struct item *ssa = ms->pending[i].base, *ssb = ms->pending[i + 1].base;
    size_t na = ms->pending[i].len, nb = ms->pending[i + 1].len, k;

    ms->pending[i].len = na + nb;
    if (i + 3 == ms->n)
        ms->pending[i + 1] = ms->pending[i + 2];
    --ms->n;
    k = gallop_right(ssb, ssa, na, 0);
    ssa += k;
    na -= k;
    if (na == 0)
        return;
    nb = gallop_left(ssa + na - 1, ssb, nb, nb - 1);
    if (nb == 0)
        return;
    if (na <= nb)
        merge_lo(ms, ssa, na, ssb, nb);
    else
        merge_hi(ms, ssa, na, ssb, nb);
}

static int powerloop(size_t s1, size_t n1, size_t n2, size_t n)
{
    int result = 0;
    size_t a = 2 * s1 + n1, b = a + n1 + n2;

    for (;;) {
        ++result;
        if (a >= n) {
            a -= n;
            b -= n;
        } else if (b >= n) {
            break;
        }
        a <<= 1;
        b <<= 1;
    }
    return result;
}

static void found_new_run(struct mstate *ms, size_t n2)
{
    if (ms->n) {
        struct run *p = ms->pending;
        size_t s1 = (size_t)(p[ms->n - 1].base - ms->basekeys);
        int power = powerloop(s1, p[ms->n - 1].len, n2, ms->listlen);

        while (ms->n > 1 && p[ms->n - 2].power > power)
            merge_at(ms, ms->n - 2);
        p[ms->n - 1].power = power;
    }
}

static void merge_force_collapse(struct mstate *ms)
{
    struct run *p = ms->pending;

    while (ms->n > 1) {
        size_t n = ms->n - 2;
        if (n > 0 && p[n - 1].len < p[n + 1].len)
            --n;
        merge_at(ms, n);
    }
}

static size_t compute_minrun(size_t n)
{
    size_t r = 0;

    while (n >= 64) {
        r |= n & 1;
        n >>= 1;
    }
    return n + r;
}

/* list.sort() on it[0..n) (ascending, stable). */
static void listsort(struct mstate *ms, struct item *it, size_t n)
{
    struct item *lo = it;
    size_t nremaining = n, minrun = compute_minrun(n);

    ms->n = 0;
    ms->min_gallop = MIN_GALLOP;
    ms->listlen = n;
    ms->basekeys = it;
    do {
        bool descending;
        size_t r = count_run(lo, lo + nremaining, &descending);

        if (descending)
            reverse(lo, lo + r);
        if (r < minrun) {
            size_t force = nremaining <= minrun ? nremaining : minrun;
            binarysort(lo, lo + force, lo + r);
            r = force;
        }
        found_new_run(ms, r);
        ms->pending[ms->n].base = lo;
        ms->pending[ms->n].len = r;
        ++ms->n;
        lo += r;
        nremaining -= r;
    } while (nremaining);
    merge_force_collapse(ms);
}

int trace_pysort_desc(const double *key, size_t n, size_t *order)
{
    struct mstate ms;
    struct item *it;

    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (n < 2)
        return 0;
    it = malloc(n * sizeof(*it));
    ms.tmp = malloc((n / 2 + 1) * sizeof(*ms.tmp));
    if (!it || !ms.tmp) {
        free(it);
        free(ms.tmp);
        return -1;
    }
    /* reverse=True: reverse, sort ascending (stable), reverse back */
    for (size_t i = 0; i < n; i++)
        it[i] = (struct item){key[n - 1 - i], n - 1 - i};
    listsort(&ms, it, n);
    for (size_t i = 0; i < n; i++)
        order[i] = it[n - 1 - i].val;
    free(it);
    free(ms.tmp);
    return 0;
}
