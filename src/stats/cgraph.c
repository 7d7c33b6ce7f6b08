/* cgraph: RCAEval's edge-mark conversions before its graph heads (see
 * cgraph.h for the case table). */
#include "stats/cgraph.h"

#include <string.h>

#include "stats/stats_status.h"

int stats_cgraph_pagerank_input(const signed char *m, size_t n,
                                unsigned char *pr)
{
    memset(pr, 0, n * n);
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            int u = m[a * n + b], v = m[b * n + a];
            if (u == 0 && v == 0)
                continue;
            if ((u == -1 && v == -1) || (u == 1 && v == -1) ||
                (u == 1 && v == 0) || (u == 1 && v == 1) ||
                (u == 2 && v == 1) || (u == 2 && v == 2))
                pr[a * n + b] = 1;
            else if (!((u == -1 && v == 1) || (u == 0 && v == 1) ||
                       (u == 1 && v == 2)))
                return -STATS_E_UNSUPPORTED;
        }
    return 0;
}

int stats_cgraph_randomwalk_input(const signed char *m, size_t n,
                                  unsigned char *out)
{
    memset(out, 0, n * n);
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            int u = m[a * n + b], v = m[b * n + a];
            if (u == 0 && v == 0)
                continue;
            if ((u == -1 && v == -1) || (u == 1 && v == -1) ||
                (u == 1 && v == 0) || (u == 1 && v == 1))
                out[a * n + b] = 1;
            else if (!((u == -1 && v == 1) || (u == 0 && v == 1)))
                return -STATS_E_UNSUPPORTED;
        }
    return 0;
}

void stats_cgraph_from_01(const unsigned char *adj, size_t n, signed char *m)
{
    memset(m, 0, n * n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            if (i == j || !adj[i * n + j])
                continue;
            if (adj[j * n + i]) {
                m[i * n + j] = m[j * n + i] = 1;
            } else {
                m[j * n + i] = -1; /* tail at the cause j */
                m[i * n + j] = 1;  /* arrow at the effect i */
            }
        }
}
