/* json_esc: whole-string JSON escaping into a bounded buffer (json_esc.h). */
#include "util/json_esc.h"

#include <string.h>

size_t json_esc_copy(char *out, size_t cap, const char *s, bool ascii_only)
{
    size_t k = 0;

    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6];
        size_t n = json_esc_byte(c, esc);

        if (!n) {
            esc[0] = ascii_only && c >= 0x80 ? '?' : (char)c;
            n = 1;
        }
        if (k + n >= cap)
            break;
        memcpy(out + k, esc, n);
        k += n;
    }
    out[k] = '\0';
    return k;
}
