/* units: the ppm parser (units.h). */
#include "util/units.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int units_parse_ppm(const char *v, double max_abs, double *ppm)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno || end == v || (*end && strcmp(end, "ppm") != 0) ||
        !isfinite(d) || fabs(d) > max_abs)
        return -1;
    *ppm = d;
    return 0;
}
