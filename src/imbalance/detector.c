/* detector: what the detectors share (imb_detector.h): hits and their
 * evidence, thresholds, the robust statistics of small arrays (median,
 * MAD scale, quantiles, a trailing-history spike score, a peer median)
 * and the peer-group rules. */
#include "imbalance/imb_detector.h"

#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double imb_th(const struct imb_eval *ev, const char *key)
{
    return imb_cond_param(ev->cond, key);
}

size_t imb_rows(const struct imb_eval *ev, double seconds)
{
    double r = ceil(seconds / ev->rb->step_s - 1e-9);

    return !(r >= 1) ? 1 : r > 1e7 ? 10000000 : (size_t)r;
}

bool imb_excluded(const struct imb_eval *ev, const char *unit)
{
    for (size_t i = 0; i < ev->cond->nexclude; i++)
        if (!fnmatch(ev->cond->exclude[i], unit, 0))
            return true;
    return false;
}

struct imb_hit *imb_hit(struct imb_eval *ev, const char *key, const char *group,
                        double strength)
{
    struct imb_hit *h;

    for (size_t i = 0; i < ev->nhits; i++)
        if (!strcmp(ev->hits[i].key, key)) {
            if (strength > ev->hits[i].strength)
                ev->hits[i].strength = strength;
            return &ev->hits[i];
        }
    if (ev->nhits == ev->cap) {
        size_t cap = ev->cap ? 2 * ev->cap : 16;
        struct imb_hit *v = realloc(ev->hits, cap * sizeof(*v));

        if (!v)
            return NULL;
        ev->hits = v;
        ev->cap = cap;
    }
    h = &ev->hits[ev->nhits++];
    memset(h, 0, sizeof(*h));
    snprintf(h->key, sizeof h->key, "%s", key);
    snprintf(h->group, sizeof h->group, "%s", group ? group : "");
    h->strength = strength >= 1 ? strength : 1;
    h->onset_ns = INT64_MAX;
    imb_hit_subject(h, key);
    return h;
}

void imb_hit_ev(struct imb_hit *h, const char *signal, const char *subject,
                double value, double baseline, const char *unit,
                const char *note, ...)
{
    struct imb_hit_ev *e;
    va_list ap;

    if (h->nev >= IMB_HIT_MAX_EV)
        return;
    e = &h->ev[h->nev++];
    snprintf(e->signal, sizeof e->signal, "%s", signal);
    snprintf(e->subject, sizeof e->subject, "%s", subject);
    snprintf(e->unit, sizeof e->unit, "%s", unit ? unit : "");
    e->value = value;
    e->baseline = baseline;
    e->note[0] = 0;
    if (note) {
        va_start(ap, note);
        vsnprintf(e->note, sizeof e->note, note, ap);
        va_end(ap);
    }
}

void imb_hit_subject(struct imb_hit *h, const char *subject)
{
    for (size_t i = 0; i < h->nsubjects; i++)
        if (!strcmp(h->subjects[i], subject))
            return;
    if (h->nsubjects < IMB_HIT_MAX_SUBJ)
        snprintf(h->subjects[h->nsubjects++], sizeof h->subjects[0], "%s",
                 subject);
}

void imb_hit_cause(struct imb_eval *ev, struct imb_hit *h, const char *id)
{
    int i = imb_cond_cause(ev->cond, id);

    if (i >= 0 && i < 32)
        h->causes |= 1u << i;
}

void imb_note(struct imb_eval *ev, const char *subject, const char *fmt, ...)
{
    va_list ap;

    for (size_t i = 0; i < ev->nnotes; i++)
        if (!strcmp(ev->notes[i].subject, subject))
            return;
    if (ev->nnotes >= sizeof ev->notes / sizeof ev->notes[0])
        return;
    snprintf(ev->notes[ev->nnotes].subject, sizeof ev->notes[0].subject, "%s",
             subject);
    va_start(ap, fmt);
    vsnprintf(ev->notes[ev->nnotes].text, sizeof ev->notes[0].text, fmt, ap);
    va_end(ap);
    ev->nnotes++;
}

/* ---------------------------------------------------------------------
 * Robust statistics
 * --------------------------------------------------------------------- */

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Keep the finite values of x[0..n) at its front, sorted; their count. */
static size_t finite_sorted(double *x, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            x[k++] = x[i];
    qsort(x, k, sizeof(*x), dcmp);
    return k;
}

double imb_median_inplace(double *x, size_t n)
{
    size_t k = finite_sorted(x, n);

    if (!k)
        return NAN;
    return k % 2 ? x[k / 2] : (x[k / 2 - 1] + x[k / 2]) / 2;
}

double imb_median(const double *x, size_t n, double *scratch)
{
    memcpy(scratch, x, n * sizeof(*x));
    return imb_median_inplace(scratch, n);
}

double imb_robust_scale(const double *x, size_t n, double med, double *scratch)
{
    size_t k = 0;
    double mad, mean = 0;

    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            scratch[k++] = fabs(x[i] - med);
    if (!k)
        return 0;
    for (size_t i = 0; i < k; i++)
        mean += scratch[i];
    mean /= (double)k;
    mad = imb_median_inplace(scratch, k);
    return mad > 0 ? 1.4826 * mad : 1.2533 * mean;
}

double imb_quantile(const double *x, size_t n, double q, double *scratch)
{
    size_t k;
    double h;

    memcpy(scratch, x, n * sizeof(*x));
    if (!(k = finite_sorted(scratch, n)))
        return NAN;
    h = (double)(k - 1) * q;
    size_t i = (size_t)floor(h);
    return i + 1 < k
               ? scratch[i] + (h - (double)i) * (scratch[i + 1] - scratch[i])
               : scratch[k - 1];
}

double imb_trailing_z(const double *v, size_t lo, size_t row, size_t min_hist,
                      double floor_frac, double abs_floor, double *med)
{
    size_t n = row > lo ? row - lo : 0, k = 0;
    double *s, m, sc;

    *med = NAN;
    if (!isfinite(v[row]) || n < min_hist)
        return NAN;
    if (!(s = malloc(2 * n * sizeof(*s))))
        return NAN;
    for (size_t i = lo; i < row; i++)
        k += isfinite(v[i]);
    if (k < min_hist) {
        free(s);
        return NAN;
    }
    m = imb_median(v + lo, n, s);
    sc = imb_robust_scale(v + lo, n, m, s + n);
    free(s);
    if (sc < floor_frac * fabs(m))
        sc = floor_frac * fabs(m);
    if (sc < abs_floor)
        sc = abs_floor;
    *med = m;
    return sc > 0 ? (v[row] - m) / sc : NAN;
}

double imb_peer_median(const struct imb_panels *p, int r, const size_t *idx,
                       size_t n, size_t u, size_t k, size_t *npeers,
                       double *scale)
{
    double buf[64], sc[64];
    size_t m = 0;

    for (size_t i = 0; i < n && m < 64; i++) {
        double x;

        if (idx[i] == u)
            continue;
        x = imb_val(p, (enum imb_role)r, idx[i], k);
        if (isfinite(x))
            buf[m++] = x;
    }
    *npeers = m;
    if (!m) {
        if (scale)
            *scale = 0;
        return NAN;
    }
    double med = imb_median(buf, m, sc);
    if (scale)
        *scale = imb_robust_scale(buf, m, med, sc);
    return med;
}

double imb_sum(const double *v, size_t a, size_t b, size_t *n)
{
    double s = 0;

    *n = 0;
    for (size_t i = a; i <= b; i++)
        if (isfinite(v[i]))
            s += v[i], (*n)++;
    return s;
}

/* ---------------------------------------------------------------------
 * Peer groups
 * --------------------------------------------------------------------- */

const char *imb_group_name(const struct imb_panels *p, int r, size_t u,
                           enum imb_group_mode mode)
{
    const struct imb_unit *un = &p->role[r].units[u];

    switch (mode) {
    case IMB_GROUP_TP:
        return un->group ? un->group : un->base;
    case IMB_GROUP_ENTITY:
        return un->entity;
    default:
        return un->base;
    }
}

static bool in_mode(const struct imb_panels *p, int r, size_t u,
                    enum imb_group_mode mode)
{
    const struct imb_unit *un = &p->role[r].units[u];

    switch (mode) {
    case IMB_GROUP_TP:
        return un->rank != NULL;
    case IMB_GROUP_DP:
        return un->rank == NULL && un->suffixed;
    default:
        return true;
    }
}

size_t imb_groups(const struct imb_eval *ev, int r, enum imb_group_mode mode,
                  size_t *grp)
{
    const struct imb_panels *p = ev->p;
    size_t n = p->role[r].nunits, ng = 0;

    for (size_t u = 0; u < n; u++) {
        const char *name;

        grp[u] = SIZE_MAX;
        if (!in_mode(p, r, u, mode) ||
            imb_excluded(ev, p->role[r].units[u].name))
            continue;
        name = imb_group_name(p, r, u, mode);
        for (size_t v = 0; v < u; v++)
            if (grp[v] != SIZE_MAX &&
                !strcmp(imb_group_name(p, r, v, mode), name)) {
                grp[u] = grp[v];
                break;
            }
        if (grp[u] == SIZE_MAX)
            grp[u] = ng++;
    }
    /* a group of one has no peers */
    for (size_t g = 0; g < ng; g++) {
        size_t cnt = 0;

        for (size_t u = 0; u < n; u++)
            cnt += grp[u] == g;
        if (cnt < 2)
            for (size_t u = 0; u < n; u++)
                if (grp[u] == g)
                    grp[u] = SIZE_MAX;
    }
    return ng;
}

/* ---------------------------------------------------------------------
 * PCIe
 * --------------------------------------------------------------------- */

double imb_pcie_capacity(const struct imb_panels *p, const char *unit,
                         size_t row, bool at_max)
{
    int c = imb_panel_find(p, IMB_ROLE_PCIE_CAPACITY, unit);
    int w = imb_panel_find(
        p, at_max ? IMB_ROLE_PCIE_WIDTH_MAX : IMB_ROLE_PCIE_WIDTH, unit);
    int sp = imb_panel_find(
        p, at_max ? IMB_ROLE_PCIE_SPEED_MAX : IMB_ROLE_PCIE_SPEED, unit);
    double width, gts;

    if (c >= 0 && !at_max &&
        isfinite(imb_val(p, IMB_ROLE_PCIE_CAPACITY, (size_t)c, row)))
        return imb_val(p, IMB_ROLE_PCIE_CAPACITY, (size_t)c, row);
    if (w < 0 || sp < 0)
        return NAN;
    width = imb_val(p, at_max ? IMB_ROLE_PCIE_WIDTH_MAX : IMB_ROLE_PCIE_WIDTH,
                    (size_t)w, row);
    gts = imb_val(p, at_max ? IMB_ROLE_PCIE_SPEED_MAX : IMB_ROLE_PCIE_SPEED,
                  (size_t)sp, row);
    if (!(width > 0) || !(gts > 0))
        return NAN;
    /* 8b/10b below 8 GT/s, 128b/130b from 8 GT/s, FLIT (242/256) at 64 */
    double enc = gts < 8 ? 0.8 : gts < 64 ? 128.0 / 130.0 : 242.0 / 256.0;
    return width * gts * 1e9 * enc / 8;
}
