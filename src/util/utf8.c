/* utf8: validation of a whole buffer (see utf8.h for the rule). */
#include "util/utf8.h"

size_t utf8_prefix(const void *p, size_t n, bool *cut)
{
    const uint8_t *s = p;
    size_t i = 0;

    if (cut)
        *cut = false;
    while (i < n) {
        uint64_t w;
        int k;

        /* Machine-written traces are mostly ASCII: 8 bytes at a time. */
        if (i + 8 <= n) {
            memcpy(&w, s + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        k = utf8_char(s + i, n - i);
        if (k <= 0) {
            if (cut)
                *cut = k == 0;
            return i;
        }
        i += (size_t)k;
    }
    return n;
}
