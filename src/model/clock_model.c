/* clock_model: per-domain offset and drift, and the mapping of a domain's
 * timestamps onto the reference clock. */
#include "model/clock_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct clock_entry {
    char *name;
    size_t len;
    int64_t offset_ns;
    double drift_ppm;
    int64_t at_ns;
};

struct clock_model {
    struct clock_entry *e;
    size_t n, cap;
};

struct clock_model *clock_model_create(void)
{
    return calloc(1, sizeof(struct clock_model));
}

void clock_model_destroy(struct clock_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->e[i].name);
    free(m->e);
    free(m);
}

int clock_model_find(const struct clock_model *m, const char *name, size_t len)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].len == len && memcmp(m->e[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

int clock_model_set(struct clock_model *m, const char *name, int64_t offset_ns,
                    double drift_ppm, int64_t at_ns)
{
    size_t len = strlen(name);
    int id = clock_model_find(m, name, len);

    if (id < 0) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 8;
            struct clock_entry *e = realloc(m->e, cap * sizeof(*e));
            if (!e)
                return -1;
            m->e = e;
            m->cap = cap;
        }
        char *copy = strdup(name);
        if (!copy)
            return -1;
        id = (int)m->n++;
        m->e[id].name = copy;
        m->e[id].len = len;
    }
    m->e[id].offset_ns = offset_ns;
    m->e[id].drift_ppm = drift_ppm;
    m->e[id].at_ns = at_ns;
    return id;
}

size_t clock_model_count(const struct clock_model *m)
{
    return m->n;
}

const char *clock_model_name(const struct clock_model *m, int id)
{
    return m->e[id].name;
}

int64_t clock_model_map(int64_t offset_ns, double drift_ppm, int64_t at_ns,
                        int64_t t_ns)
{
    /* doubles and unsigned arithmetic: hostile timestamps (any int64 from
     * a trace file) wrap instead of overflowing; real ones are far from it */
    double drift_ns = drift_ppm * 1e-6 * ((double)t_ns - (double)at_ns);
    int64_t d = fabs(drift_ns) < 9e18 ? (int64_t)llround(drift_ns) : 0;

    return (int64_t)((uint64_t)t_ns - (uint64_t)d - (uint64_t)offset_ns);
}

int64_t clock_model_to_reference(const struct clock_model *m, int id,
                                 int64_t t_ns)
{
    const struct clock_entry *e = &m->e[id];

    return clock_model_map(e->offset_ns, e->drift_ppm, e->at_ns, t_ns);
}

int64_t clock_model_offset_at(const struct clock_model *m, int id, int64_t t_ns)
{
    return t_ns - clock_model_to_reference(m, id, t_ns);
}
