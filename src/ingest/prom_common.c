/* prom_common: the entity rule and value spelling shared by the Prometheus
 * readers. See prom_common.h. */
#include "ingest/prom_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/series.h"

int prom_entity_label(const struct prom_opts *opts,
                      const struct series_label *labels, size_t n)
{
    static const char *const defaults[] = PROM_DEFAULT_ENTITY_LABELS;
    const char *one[1];
    const char *const *names = defaults;
    size_t nnames = sizeof(defaults) / sizeof(*defaults);

    if (opts && opts->entity_label) {
        one[0] = opts->entity_label;
        names = one;
        nnames = 1;
    }
    for (size_t k = 0; k < nnames; k++)
        for (size_t i = 0; i < n; i++)
            if (labels[i].value[0] && !strcmp(labels[i].name, names[k]))
                return (int)i;
    return -1;
}

bool prom_parse_value(const char *p, size_t len, double *v)
{
    char small[64], *tmp = small, *end;
    size_t i = 0, digits = 0;
    bool ok;

    if (len == 3 && !strncasecmp(p, "nan", 3)) {
        *v = NAN;
        return true;
    }
    if (len >= 1 && (p[0] == '+' || p[0] == '-'))
        i = 1;
    if ((len - i == 3 && !strncasecmp(p + i, "inf", 3)) ||
        (len - i == 8 && !strncasecmp(p + i, "infinity", 8))) {
        *v = p[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    /* Decimal syntax only (no hex, no "nan(...)", no spaces). */
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
        digits++;
    if (i < len && p[i] == '.')
        for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++)
            digits++;
    if (!digits)
        return false;
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        size_t ed = 0;

        i++;
        if (i < len && (p[i] == '+' || p[i] == '-'))
            i++;
        for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
            ed++;
        if (!ed)
            return false;
    }
    if (i != len)
        return false;
    if (len >= sizeof(small) && !(tmp = malloc(len + 1)))
        return false;
    memcpy(tmp, p, len);
    tmp[len] = 0;
    *v = strtod(tmp, &end);
    ok = end == tmp + len;
    if (tmp != small)
        free(tmp);
    return ok;
}

void prom_put_escaped(FILE *f, const char *s, bool label_value)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else if (label_value && *s == '"')
            fputs("\\\"", f);
        else
            fputc(*s, f);
    }
}
