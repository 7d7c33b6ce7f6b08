/* grow: the one growth rule of the arrays that readers and stores build
 * element by element (ingest's RCAEval, Prometheus and recording readers,
 * collect's families, serve's spool and write-ahead log): the capacity
 * doubles, from 16 elements, until what is needed fits; and the copy of an
 * optional string that configurations keep. Thread-safe (no state). */
#ifndef SKEWSCOPE_GROW_H
#define SKEWSCOPE_GROW_H

#include <stdbool.h>
#include <stddef.h>

/* Make room for `need` elements of `elem` bytes in the malloc'd array *p
 * of capacity *cap elements (NULL and 0 to start). Returns 0, or -ENOMEM
 * when out of memory or when the size overflows; *p and *cap are then
 * unchanged (the array is still the caller's to free). */
int grow_array(void **p, size_t *cap, size_t need, size_t elem);

/* The same, with the new elements zeroed. */
int grow_array_zeroed(void **p, size_t *cap, size_t need, size_t elem);

/* A malloc'd copy of s, or NULL for NULL; when out of memory, NULL and
 * *ok set false (a caller copying several strings checks once). */
char *dup_or_null(const char *s, bool *ok);

#endif
