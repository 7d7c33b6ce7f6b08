/* grow: array growth (grow.h). */
#include "util/grow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int grow_array(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t nc = *cap ? *cap : 16;
    void *q;

    if (need <= *cap)
        return 0;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return -ENOMEM;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem)
        return -ENOMEM;
    if (!(q = realloc(*p, nc * elem)))
        return -ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

int grow_array_zeroed(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t old = *cap;
    int rc = grow_array(p, cap, need, elem);

    if (rc == 0 && *cap > old)
        memset((char *)*p + old * elem, 0, (*cap - old) * elem);
    return rc;
}

char *dup_or_null(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        *ok = false;
    return d;
}
