/* trace_pysort: the order Python 3.12's sorted(items, key=score,
 * reverse=True) gives, NaN scores included.
 *
 * RCAEval ranks with sorted() on float scores. With a NaN among them the
 * comparisons are inconsistent (NaN < x and x < NaN are both false), and
 * the result is whatever CPython's list sort (timsort with powersort's
 * merge policy, Objects/listobject.c) happens to do: NaNs split the list
 * into segments that are each sorted but not merged in order. tracerca
 * meets this on every case (operations without an abnormal span score
 * NaN and are dropped only after the sort), so the ranking RCAEval
 * scored depends on it. This reproduces that algorithm step for step (runs,
 * binary insertion, galloping merges, the power-based merge order, the
 * reverse-sort-reverse trick that keeps equal keys in input order) with
 * IEEE '<' as Python's float comparison. Python 3.13 changed run
 * detection, so its order can differ; 3.11 and 3.12 agree.
 *
 * Without NaN the result equals a stable sort by score, highest first.
 *
 * Threads: reentrant. */
#ifndef SKEWSCOPE_TRACE_PYSORT_H
#define SKEWSCOPE_TRACE_PYSORT_H

#include <stddef.h>

/* order[0..n) gets the indices 0..n-1 of key[] in the order of
 * sorted(range(n), key=lambda i: key[i], reverse=True). Returns 0, or -1
 * when out of memory (order then holds 0..n-1). */
int trace_pysort_desc(const double *key, size_t n, size_t *order);

#endif
