/* imb_detector: what a detector implements (its ops table) and the helpers
 * detectors share. Private to src/imbalance: the CLI and serve use
 * imbalance.h.
 *
 * Adding a detector: write src/imbalance/det_<name>.c defining
 *     const struct imb_detector imb_det_<name> = { ... };
 * add one line X(<name>) to IMB_DETECTORS in src/imbalance/registry.c, and
 * an entry in runbook/runbook.yaml (signals, thresholds, causes,
 * mitigations).
 *
 * Contract for eval():
 *  - it decides one row (ev->row) from the panels' rows ev->lo .. ev->row
 *    only (ev->lo = row - history + 1, clamped at 0): never a later row,
 *    never an earlier one, so that batch and live evaluation agree;
 *  - it keeps no state of its own between calls (persistence and episodes
 *    are the engine's, imb_track.c); everything it needs is in the panels;
 *  - for every subject for which the condition holds in this row it calls
 *    imb_hit() once, with strength = how far past its threshold (>= 1),
 *    then adds evidence and supported causes to the hit;
 *  - it returns 0, or -IMB_E_NOMEM. */
#ifndef SKEWSCOPE_IMB_DETECTOR_H
#define SKEWSCOPE_IMB_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imbalance/imbalance.h"
#include "imbalance/runbook.h"
#include "imbalance/signals.h"

/* One threshold a detector reads, with its default and allowed range. */
struct imb_param {
    const char *key;
    double def, lo, hi;
    const char *doc; /* one line: what it means, its unit */
};

struct imb_eval;

struct imb_detector {
    const char *name;               /* the condition id it serves by default */
    const char *summary;            /* one line */
    const struct imb_param *params; /* terminated by {NULL} */
    bool needs_role;                /* the runbook entry must name a `role:` */
    int (*eval)(struct imb_eval *ev);
};

/* Registry (registry.c). */
const struct imb_detector *imb_detector_find(const char *name);
size_t imb_detector_count(void);
const struct imb_detector *imb_detector_at(size_t i);
/* The detector's parameter `key`, or NULL. */
const struct imb_param *imb_detector_param(const struct imb_detector *d,
                                           const char *key);

/* Evidence of a hit, before it becomes a finding's. */
struct imb_hit_ev {
    char signal[32];
    char subject[96];
    double value, baseline;
    char unit[16];
    char note[160];
};

#define IMB_HIT_MAX_EV 8
#define IMB_HIT_MAX_SUBJ 8

/* One subject for which the condition holds in the row. */
struct imb_hit {
    char key[96];
    char group[64];
    char subjects[IMB_HIT_MAX_SUBJ][96];
    size_t nsubjects;
    double strength;
    int64_t onset_ns; /* a change point before the run, or INT64_MAX */
    uint32_t causes;
    struct imb_hit_ev ev[IMB_HIT_MAX_EV];
    size_t nev;
};

/* What eval() gets. */
struct imb_eval {
    const struct imb_panels *p;
    const struct imb_rb_cond *cond;
    const struct imb_runbook *rb;
    size_t row;   /* the row to decide */
    size_t lo;    /* first row it may read */
    int64_t t_ns; /* start of the row */
    /* out */
    struct imb_hit *hits;
    size_t nhits, cap;
    /* notes (imbalance.h) raised while deciding the row */
    struct imb_note_req {
        char subject[96];
        char text[200];
    } notes[4];
    size_t nnotes;
};

/* A threshold of the condition being evaluated (imb_cond_param()). */
double imb_th(const struct imb_eval *ev, const char *key);
/* Seconds -> rows at the grid step, at least 1. */
size_t imb_rows(const struct imb_eval *ev, double seconds);
/* True when the condition's `exclude:` globs match unit name. */
bool imb_excluded(const struct imb_eval *ev, const char *unit);

/* Record a hit for subject key (group may be NULL). Returns the hit to
 * fill, or NULL when out of memory. A second call with the same key in
 * one row returns the same hit (strength the larger). */
struct imb_hit *imb_hit(struct imb_eval *ev, const char *key, const char *group,
                        double strength);
/* Add evidence (note printf-style, may be NULL); silently full at
 * IMB_HIT_MAX_EV. */
void imb_hit_ev(struct imb_hit *h, const char *signal, const char *subject,
                double value, double baseline, const char *unit,
                const char *note, ...) __attribute__((format(printf, 7, 8)));
/* Add a subject (deduplicated; the key is the first). */
void imb_hit_subject(struct imb_hit *h, const char *subject);
/* Mark cause `id` of the condition as supported (unknown ids ignored). */
void imb_hit_cause(struct imb_eval *ev, struct imb_hit *h, const char *id);
/* Raise a note (dedup per condition and subject is the engine's). */
void imb_note(struct imb_eval *ev, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------------
 * Robust statistics over small arrays (no allocation)
 * --------------------------------------------------------------------- */

/* Median of the finite values of x[0..n) (x is reordered); NaN if none. */
double imb_median_inplace(double *x, size_t n);
/* Median / MAD of the finite values of x[0..n), copied into scratch
 * (n doubles). NaN when none. */
double imb_median(const double *x, size_t n, double *scratch);
/* Robust scale: 1.4826 MAD, else 1.2533 mean absolute deviation, of the
 * finite values of x[0..n) around med (scratch n doubles). 0 when all
 * equal. */
double imb_robust_scale(const double *x, size_t n, double med, double *scratch);
/* q-quantile (0..1, linear) of the finite values (scratch n). */
double imb_quantile(const double *x, size_t n, double q, double *scratch);

/* A spike test of v[row] against v[lo .. row-1] (its own trailing
 * history): needs at least min_hist finite values there. Sets *med to the
 * history's median and returns the robust z-score (the scale floored at
 * floor_frac * |median| and at abs_floor); NaN when not decidable. */
double imb_trailing_z(const double *v, size_t lo, size_t row, size_t min_hist,
                      double floor_frac, double abs_floor, double *med);

/* Median of the peers of unit u in role r at row k: the finite values of
 * the units listed in idx[0..n) other than u. *npeers gets their count,
 * *scale (may be NULL) their robust scale. NaN when no peer has a value. */
double imb_peer_median(const struct imb_panels *p, int r, const size_t *idx,
                       size_t n, size_t u, size_t k, size_t *npeers,
                       double *scale);

/* Peer groups: units of role r grouped by key (see signals.h): for each
 * unit, a group number into grp[u] (SIZE_MAX: no group); returns the
 * number of groups. mode TP: units with a rank, by group label else base;
 * mode DP: units without a rank whose base is shared by another suffixed
 * unit; mode BASE: every unit by base; mode ENTITY: by entity. */
enum imb_group_mode {
    IMB_GROUP_TP,
    IMB_GROUP_DP,
    IMB_GROUP_BASE,
    IMB_GROUP_ENTITY,
};
size_t imb_groups(const struct imb_eval *ev, int r, enum imb_group_mode mode,
                  size_t *grp);
/* The group name of unit u under mode (its group label, base or entity). */
const char *imb_group_name(const struct imb_panels *p, int r, size_t u,
                           enum imb_group_mode mode);

/* Capacity of PCIe link `unit` per direction at row (bytes/s): its
 * pcie_capacity, else width x speed x encoding / 8 (8b/10b below 8 GT/s,
 * 128b/130b up to 32 GT/s, 242/256 at 64 GT/s); at_max: from the maximum
 * width and speed. NaN when unknown. */
double imb_pcie_capacity(const struct imb_panels *p, const char *unit,
                         size_t row, bool at_max);

/* Sum of v[a..b] (inclusive) over finite values; *n gets their count. */
double imb_sum(const double *v, size_t a, size_t b, size_t *n);

#endif
