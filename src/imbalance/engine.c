/* engine: evaluation of the runbook's conditions row by row, and the one
 * persistence rule every condition shares: a subject's finding opens when
 * the condition held on it in persist_s worth of consecutive rows, and
 * closes after clear_s worth of rows without it. Batch and live callers go
 * through imb_engine_update() alike (imbalance.h). */
#include "imbalance/imbalance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "imbalance/imb_detector.h"
#include "imbalance/runbook.h"
#include "imbalance/signals.h"

/* Persistence state of one (condition, subject). */
struct track {
    size_t cond;
    char key[96];
    size_t run, misses;
    int64_t run_start_ns;
    int64_t onset_hint_ns;
    int64_t finding; /* open finding, or -1 */
};

struct imb_engine {
    const struct imb_runbook *rb;
    int64_t next_ns; /* start of the first row not evaluated yet */
    struct track *tr;
    size_t ntr, captr;
    struct imb_finding *f;
    size_t nf, capf;
    struct imb_note *notes;
    size_t nnotes, capnotes;
    int64_t t0_ns, t1_ns; /* evaluated span */
    size_t rows;
    uint64_t seq;     /* findings opened */
    int64_t start_ns; /* imb_engine_start_at(), or INT64_MIN */
    size_t nseries[IMB_NROLES];
};

const char *imb_strerror(int status)
{
    switch (status < 0 ? -status : status) {
    case IMB_OK:
        return "ok";
    case IMB_E_NOMEM:
        return "out of memory";
    case IMB_E_RUNBOOK:
        return "bad runbook";
    case IMB_E_INVAL:
        return "invalid argument";
    case IMB_E_DATA:
        return "malformed input";
    case IMB_E_NOINPUT:
        return "input not readable";
    default:
        return "unknown error";
    }
}

struct imb_engine *imb_engine_create(const struct imb_runbook *rb)
{
    struct imb_engine *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->rb = rb;
    e->next_ns = INT64_MIN;
    e->t0_ns = INT64_MAX;
    e->t1_ns = INT64_MIN;
    e->start_ns = INT64_MIN;
    return e;
}

void imb_engine_start_at(struct imb_engine *e, int64_t t_ns)
{
    if (e->next_ns == INT64_MIN)
        e->start_ns = t_ns;
}

static void finding_free(struct imb_finding *f)
{
    free(f->key);
    free(f->group);
    for (size_t i = 0; i < f->nsubjects; i++)
        free(f->subjects[i]);
    free(f->subjects);
    for (size_t i = 0; i < f->nev; i++) {
        free(f->ev[i].signal);
        free(f->ev[i].subject);
        free(f->ev[i].unit);
        free(f->ev[i].note);
    }
    free(f->ev);
}

void imb_engine_destroy(struct imb_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nf; i++)
        finding_free(&e->f[i]);
    free(e->f);
    for (size_t i = 0; i < e->nnotes; i++) {
        free(e->notes[i].condition);
        free(e->notes[i].subject);
        free(e->notes[i].text);
    }
    free(e->notes);
    free(e->tr);
    free(e);
}

size_t imb_engine_prune(struct imb_engine *e, size_t keep_closed)
{
    size_t closed = 0, drop, k = 0, gone = 0;
    int64_t *moved;

    for (size_t i = 0; i < e->nf; i++)
        closed += !e->f[i].active;
    if (closed <= keep_closed)
        return 0;
    drop = closed - keep_closed; /* the oldest closed ones */
    if (!(moved = malloc(e->nf * sizeof(*moved))))
        return 0;
    for (size_t i = 0; i < e->nf; i++) {
        if (!e->f[i].active && gone < drop) {
            finding_free(&e->f[i]);
            moved[i] = -1;
            gone++;
            continue;
        }
        moved[i] = (int64_t)k;
        e->f[k++] = e->f[i];
    }
    e->nf = k;
    /* open findings moved: their tracks follow (closed ones have none) */
    for (size_t i = 0; i < e->ntr; i++)
        if (e->tr[i].finding >= 0)
            e->tr[i].finding = moved[e->tr[i].finding];
    free(moved);
    return gone;
}

const struct imb_finding *imb_engine_findings(const struct imb_engine *e,
                                              size_t *n)
{
    *n = e->nf;
    return e->f;
}

const struct imb_note *imb_engine_notes(const struct imb_engine *e, size_t *n)
{
    *n = e->nnotes;
    return e->notes;
}

void imb_engine_span(const struct imb_engine *e, int64_t *t0_ns, int64_t *t1_ns,
                     size_t *rows)
{
    *t0_ns = e->rows ? e->t0_ns : 0;
    *t1_ns = e->rows ? e->t1_ns : 0;
    *rows = e->rows;
}

const struct imb_runbook *imb_engine_runbook(const struct imb_engine *e)
{
    return e->rb;
}

size_t imb_engine_role_series(const struct imb_engine *e, int role)
{
    return role >= 0 && role < IMB_NROLES ? e->nseries[role] : 0;
}

/* ---------------------------------------------------------------------
 * Findings from hits
 * --------------------------------------------------------------------- */

static double confidence(const struct imb_finding *f, size_t persist)
{
    double s = f->strength - 1, p;

    s = s < 0 ? 0 : s > 1 ? 1 : s;
    p = f->rows > persist ? (double)(f->rows - persist) / (3.0 * persist) : 0;
    p = p > 1 ? 1 : p;
    double c = 0.5 + 0.25 * s + 0.15 * p + (f->causes ? 0.09 : 0);
    return c > 0.99 ? 0.99 : c;
}

static int set_evidence(struct imb_finding *f, const struct imb_hit *h)
{
    for (size_t i = 0; i < f->nev; i++) {
        free(f->ev[i].signal);
        free(f->ev[i].subject);
        free(f->ev[i].unit);
        free(f->ev[i].note);
    }
    free(f->ev);
    f->nev = 0;
    if (!(f->ev = calloc(h->nev ? h->nev : 1, sizeof(*f->ev))))
        return -IMB_E_NOMEM;
    for (size_t i = 0; i < h->nev; i++) {
        struct imb_evidence *d = &f->ev[i];
        const struct imb_hit_ev *s = &h->ev[i];

        d->signal = strdup(s->signal);
        d->subject = strdup(s->subject);
        d->unit = strdup(s->unit);
        d->note = s->note[0] ? strdup(s->note) : NULL;
        d->value = s->value;
        d->baseline = s->baseline;
        f->nev++;
        if (!d->signal || !d->subject || !d->unit || (s->note[0] && !d->note))
            return -IMB_E_NOMEM;
    }
    return 0;
}

static int add_subjects(struct imb_finding *f, const struct imb_hit *h)
{
    for (size_t i = 0; i < h->nsubjects; i++) {
        size_t j = 0;
        char **v;

        while (j < f->nsubjects && strcmp(f->subjects[j], h->subjects[i]))
            j++;
        if (j < f->nsubjects)
            continue;
        if (!(v = realloc(f->subjects, (f->nsubjects + 1) * sizeof(*v))))
            return -IMB_E_NOMEM;
        f->subjects = v;
        if (!(v[f->nsubjects] = strdup(h->subjects[i])))
            return -IMB_E_NOMEM;
        f->nsubjects++;
    }
    return 0;
}

static int open_finding(struct imb_engine *e, struct track *t,
                        const struct imb_rb_cond *c, const struct imb_hit *h,
                        int64_t end_ns, int64_t history_ns, size_t persist)
{
    struct imb_finding *f;

    if (e->nf == e->capf) {
        size_t cap = e->capf ? 2 * e->capf : 16;
        struct imb_finding *v = realloc(e->f, cap * sizeof(*v));

        if (!v)
            return -IMB_E_NOMEM;
        e->f = v;
        e->capf = cap;
    }
    f = &e->f[e->nf++];
    memset(f, 0, sizeof(*f));
    f->cond = c;
    f->key = strdup(h->key);
    f->group = h->group[0] ? strdup(h->group) : NULL;
    f->onset_ns = t->run_start_ns;
    /* a change point found by the detector, if not far before the run */
    if (t->onset_hint_ns < f->onset_ns &&
        t->onset_hint_ns >= t->run_start_ns - history_ns)
        f->onset_ns = t->onset_hint_ns;
    f->detected_ns = end_ns;
    f->last_ns = end_ns;
    f->active = true;
    f->strength = h->strength;
    f->rows = t->run;
    f->causes = h->causes;
    t->finding = (int64_t)(e->nf - 1);
    f->seq = ++e->seq;
    if (!f->key || (h->group[0] && !f->group) || add_subjects(f, h) < 0 ||
        set_evidence(f, h) < 0)
        return -IMB_E_NOMEM;
    f->confidence = confidence(f, persist);
    return 0;
}

static int update_finding(struct imb_finding *f, const struct imb_hit *h,
                          int64_t end_ns, size_t persist)
{
    f->last_ns = end_ns;
    f->rows++;
    f->causes |= h->causes;
    if (add_subjects(f, h) < 0)
        return -IMB_E_NOMEM;
    if (h->strength > f->strength) {
        f->strength = h->strength;
        if (set_evidence(f, h) < 0)
            return -IMB_E_NOMEM;
    }
    f->confidence = confidence(f, persist);
    return 0;
}

static struct track *track_get(struct imb_engine *e, size_t cond,
                               const char *key)
{
    for (size_t i = 0; i < e->ntr; i++)
        if (e->tr[i].cond == cond && !strcmp(e->tr[i].key, key))
            return &e->tr[i];
    if (e->ntr == e->captr) {
        size_t cap = e->captr ? 2 * e->captr : 32;
        struct track *v = realloc(e->tr, cap * sizeof(*v));

        if (!v)
            return NULL;
        e->tr = v;
        e->captr = cap;
    }
    struct track *t = &e->tr[e->ntr++];
    memset(t, 0, sizeof(*t));
    t->cond = cond;
    snprintf(t->key, sizeof t->key, "%s", key);
    t->finding = -1;
    return t;
}

/* The persistence rule, once, for every condition. */
static int apply_hits(struct imb_engine *e, size_t ci,
                      const struct imb_eval *ev, int64_t step_ns)
{
    const struct imb_rb_cond *c = &e->rb->cond[ci];
    size_t persist = imb_rows(ev, imb_cond_param(c, "persist_s"));
    size_t clear = imb_rows(ev, imb_cond_param(c, "clear_s"));
    int64_t end = ev->t_ns + step_ns;
    int64_t hist = (int64_t)(e->rb->history_s * 1e9);
    size_t ntr0 = e->ntr;
    bool *hit = calloc(ntr0 + ev->nhits + 1, sizeof(bool));
    int rc = 0;

    if (!hit)
        return -IMB_E_NOMEM;
    for (size_t i = 0; !rc && i < ev->nhits; i++) {
        const struct imb_hit *h = &ev->hits[i];
        struct track *t = track_get(e, ci, h->key);

        if (!t) {
            rc = -IMB_E_NOMEM;
            break;
        }
        hit[t - e->tr] = true;
        if (t->run == 0) {
            t->run_start_ns = ev->t_ns;
            t->onset_hint_ns = h->onset_ns;
        } else if (h->onset_ns < t->onset_hint_ns) {
            t->onset_hint_ns = h->onset_ns;
        }
        t->run++;
        t->misses = 0;
        if (t->finding >= 0)
            rc = update_finding(&e->f[t->finding], h, end, persist);
        else if (t->run >= persist)
            rc = open_finding(e, t, c, h, end, hist, persist);
    }
    for (size_t i = 0; i < e->ntr; i++) {
        struct track *t = &e->tr[i];

        if (t->cond != ci || hit[i])
            continue;
        t->run = 0;
        t->onset_hint_ns = INT64_MAX;
        if (t->finding >= 0 && ++t->misses >= clear) {
            e->f[t->finding].active = false;
            t->finding = -1;
        }
    }
    free(hit);
    return rc;
}

static int add_note(struct imb_engine *e, const char *cond, const char *subj,
                    int64_t t_ns, const char *text)
{
    struct imb_note *n;

    for (size_t i = 0; i < e->nnotes; i++)
        if (!strcmp(e->notes[i].condition, cond) &&
            !strcmp(e->notes[i].subject, subj))
            return 0;
    if (e->nnotes == e->capnotes) {
        size_t cap = e->capnotes ? 2 * e->capnotes : 8;
        struct imb_note *v = realloc(e->notes, cap * sizeof(*v));

        if (!v)
            return -IMB_E_NOMEM;
        e->notes = v;
        e->capnotes = cap;
    }
    n = &e->notes[e->nnotes++];
    n->condition = strdup(cond);
    n->subject = strdup(subj);
    n->text = strdup(text);
    n->t_ns = t_ns;
    return n->condition && n->subject && n->text ? 0 : -IMB_E_NOMEM;
}

/* ---------------------------------------------------------------------
 * Rows
 * --------------------------------------------------------------------- */

static int eval_row(struct imb_engine *e, const struct imb_panels *p,
                    size_t row, size_t hist_rows, struct imb_eval *ev)
{
    for (size_t ci = 0; ci < e->rb->ncond; ci++) {
        const struct imb_rb_cond *c = &e->rb->cond[ci];
        int rc;

        if (!c->enabled || !c->det)
            continue;
        ev->p = p;
        ev->cond = c;
        ev->rb = e->rb;
        ev->row = row;
        ev->lo = row + 1 >= hist_rows ? row + 1 - hist_rows : 0;
        ev->t_ns = p->t0_ns + (int64_t)row * p->step_ns;
        ev->nhits = 0;
        ev->nnotes = 0;
        if ((rc = c->det->eval(ev)) < 0)
            return rc;
        for (size_t i = 0; i < ev->nnotes; i++)
            if ((rc = add_note(e, c->id, ev->notes[i].subject, ev->t_ns,
                               ev->notes[i].text)) < 0)
                return rc;
        if ((rc = apply_hits(e, ci, ev, p->step_ns)) < 0)
            return rc;
    }
    return 0;
}

int64_t imb_engine_update(struct imb_engine *e, const struct series_store *s,
                          const struct imb_collectives *coll, int64_t until_ns,
                          char *err, size_t errlen)
{
    int64_t step = (int64_t)llround(e->rb->step_s * 1e9);
    size_t hist_rows = (size_t)ceil(e->rb->history_s / e->rb->step_s);
    int64_t from = INT64_MIN, to = INT64_MAX, done = 0;
    struct imb_panels p;
    struct imb_eval ev = {0};
    int rc;

    if (step <= 0) {
        snprintf(err, errlen, "step must be positive");
        return -IMB_E_INVAL;
    }
    if (e->next_ns == INT64_MIN && e->start_ns != INT64_MIN)
        e->next_ns = e->start_ns / step * step -
                     (e->start_ns < 0 && e->start_ns % step ? step : 0);
    if (e->next_ns != INT64_MIN)
        from = e->next_ns - (int64_t)hist_rows * step;
    if (until_ns != INT64_MAX)
        to = until_ns / step * step -
             (until_ns < 0 && until_ns % step ? step : 0);
    rc = imb_panels_build(s, coll, e->rb, step, from, to, &p);
    for (int r = 0; !rc && r < IMB_NROLES; r++)
        e->nseries[r] =
            p.nseries[r] > e->nseries[r] ? p.nseries[r] : e->nseries[r];
    for (size_t k = 0; !rc && k < p.nrows; k++) {
        int64_t t = p.t0_ns + (int64_t)k * step;

        if (t < e->next_ns)
            continue;
        if ((rc = eval_row(e, &p, k, hist_rows, &ev)) < 0)
            break;
        e->next_ns = t + step;
        e->t0_ns = t < e->t0_ns ? t : e->t0_ns;
        e->t1_ns = t + step;
        e->rows++;
        done++;
    }
    free(ev.hits);
    imb_panels_free(&p);
    if (rc < 0) {
        snprintf(err, errlen, "%s", imb_strerror(rc));
        return rc;
    }
    return done;
}
