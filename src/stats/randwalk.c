/* randwalk: seeded PRNG and the random-walk scorers (see randwalk.h). */
#include "stats/randwalk.h"

#include <math.h>
#include <string.h>

#include "stats/stats_status.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void stats_rng_seed(struct stats_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t stats_rng_next(struct stats_rng *r)
{
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double stats_rng_u01(struct stats_rng *r)
{
    return (double)(stats_rng_next(r) >> 11) * 0x1.0p-53;
}

size_t stats_rng_choice(struct stats_rng *r, const double *p, size_t n)
{
    double total = 0.0, acc = 0.0, u;

    for (size_t i = 0; i < n; i++)
        total += p[i];
    if (!(total > 0.0))
        return n;
    u = stats_rng_u01(r);
    for (size_t i = 0; i < n; i++) {
        acc += p[i];
        if (acc / total > u)
            return i;
    }
    /* rounding left u above the last share: the last positive weight */
    for (size_t i = n; i-- > 0;)
        if (p[i] > 0.0)
            return i;
    return n;
}

int stats_rw_transition(const unsigned char *g, size_t n, const double *score,
                        double rho, double *P)
{
    if (n == 0)
        return -STATS_E_INVAL;
    for (size_t v = 0; v < n; v++) {
        double *row = P + v * n, mx = 0.0, sum = 0.0;
        memset(row, 0, n * sizeof(double));
        for (size_t c = 0; c < n; c++)
            if (g[v * n + c])
                row[c] = rho * fabs(score[c]);
        for (size_t q = 0; q < n; q++)
            if (g[q * n + v])
                row[q] = fabs(score[q]);
        for (size_t u = 0; u < n; u++)
            mx = fmax(mx, row[u]);
        row[v] = fmax(fabs(score[v]) - mx, 0.0);
        for (size_t u = 0; u < n; u++)
            sum += row[u];
        for (size_t u = 0; u < n; u++)
            row[u] = sum > 0.0 ? row[u] / sum : 1.0 / (double)n;
    }
    return 0;
}

int stats_rw_walk(const double *P, size_t n, size_t start, size_t steps,
                  struct stats_rng *rng, double *counts)
{
    size_t v = start;

    if (start >= n)
        return -STATS_E_INVAL;
    memset(counts, 0, n * sizeof(double));
    for (size_t s = 0; s < steps; s++) {
        size_t nx = stats_rng_choice(rng, P + v * n, n);
        if (nx == n)
            return -STATS_E_INVAL; /* numpy raises on a zero row */
        counts[nx] += 1.0;
        v = nx;
    }
    return 0;
}

int stats_rw_walk_epochs(const double *P, size_t n, size_t start, size_t epochs,
                         size_t steps, struct stats_rng *rng, double *counts)
{
    if (start >= n)
        return -STATS_E_INVAL;
    memset(counts, 0, n * sizeof(double));
    for (size_t e = 0; e < epochs; e++) {
        size_t v = start;
        for (size_t s = 0; s < steps; s++) {
            size_t nx = stats_rng_choice(rng, P + v * n, n);
            if (nx == n)
                break;
            counts[nx] += 1.0;
            v = nx;
        }
    }
    return 0;
}
