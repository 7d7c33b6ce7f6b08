/* imbalance: skews and imbalances across inference ranks (issue 11), the
 * entry point that `skewscope imbalance` and serve's live scrapes share.
 *
 * An engine holds a runbook (runbook.h: the conditions, their thresholds,
 * causes and mitigations, and the table that gives metrics their roles),
 * the persistence state of every condition and the findings so far. Each
 * imb_engine_update() puts the store's series (and the collectives found in
 * traces, on one clock) on a grid of runbook `step_s` rows, and evaluates
 * every row not evaluated before, in time order, with every enabled
 * detector (imb_detector.h). A detector decides a row from the rows of the
 * last `history_s` only, so evaluating a run at once (batch: until_ns =
 * INT64_MAX) and evaluating it as scrapes arrive (live: until_ns = now)
 * give the same findings: one rule, one code path.
 *
 * A finding opens when a condition holds for `persist_s` on one subject (a
 * rank, a replica, a link) and closes after `clear_s` without it; its onset
 * is the start of the first row of that run (or an earlier change point a
 * detector found), its detection time the end of the row that completed
 * the run. Times are Unix ns on the reference clock: metric samples carry
 * the scraper's time; trace timestamps are mapped through the clock model
 * (offset = domain clock - reference clock, positive = ahead) before any
 * comparison across ranks.
 *
 * Threads: an engine is used by one thread at a time. Errors: negated
 * enum imb_status with a message in err; nothing here exits or prints. */
#ifndef SKEWSCOPE_IMBALANCE_H
#define SKEWSCOPE_IMBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct series_store;
struct imb_runbook;
struct imb_rb_cond;
struct imb_collectives;

enum imb_status {
    IMB_OK = 0,
    IMB_E_NOMEM = 1,   /* out of memory: exit 70 */
    IMB_E_RUNBOOK = 2, /* a runbook that does not parse or validate: 65 */
    IMB_E_INVAL = 3,   /* a bad argument or --set override: usage, 2 */
    IMB_E_DATA = 4,    /* malformed input data: 65 */
    IMB_E_NOINPUT = 5, /* a file that cannot be read: 66 */
};

/* Static message for a status (positive or negated). */
const char *imb_strerror(int status);

/* One piece of evidence: signal `signal` of `subject` had `value` (in
 * `unit`) where the reference (peers' median, own history, capacity) was
 * `baseline` (NaN when none). Strings owned by the finding. */
struct imb_evidence {
    char *signal;
    char *subject;
    double value;
    double baseline;
    char *unit;
    char *note; /* one line, may be NULL */
};

struct imb_finding {
    const struct imb_rb_cond *cond; /* the runbook entry (id, title, causes,
                                       mitigations); borrowed from the
                                       engine's runbook */
    char *key;                      /* the subject: "decode-2", "node-a/eth0" */
    char *group;                    /* its peer group, or NULL */
    char **subjects;                /* ranks or links involved, key first */
    size_t nsubjects;
    int64_t onset_ns;    /* start of the condition (Unix ns) */
    int64_t detected_ns; /* end of the row that completed persistence */
    int64_t last_ns;     /* end of the last row it held */
    bool active;         /* still holding at the last evaluated row */
    double confidence;   /* 0.5 .. 0.99 (imbalance-docs: how it is made) */
    double strength;     /* largest ratio of signal to threshold seen (>= 1) */
    size_t rows;         /* rows it held */
    uint32_t causes;     /* bit i: cond->causes[i] supported by evidence */
    struct imb_evidence *ev; /* at detection, strongest row kept */
    size_t nev;
    uint64_t seq; /* 1, 2, ... in order of opening; stable (live callers
                     follow a finding across updates and prunes by it) */
};

/* A remark that is not a finding: e.g. a rank that looked late on its own
 * clock but not on the reference clock (its offset explains it). */
struct imb_note {
    char *condition;
    char *subject;
    int64_t t_ns;
    char *text;
};

struct imb_engine;

/* A new engine over rb (borrowed: it must outlive the engine and not
 * change while it lives). Returns NULL when out of memory. */
struct imb_engine *imb_engine_create(const struct imb_runbook *rb);
void imb_engine_destroy(struct imb_engine *e);

/* Evaluate the rows of s (and of coll, may be NULL) that end at or before
 * until_ns and were not evaluated before (INT64_MAX: every row holding
 * data; live callers pass the time up to which every target has been
 * scraped). Rows before the first evaluated one are never revisited.
 * Returns the number of rows evaluated (>= 0) or a negated imb_status
 * with a message in err. */
int64_t imb_engine_update(struct imb_engine *e, const struct series_store *s,
                          const struct imb_collectives *coll, int64_t until_ns,
                          char *err, size_t errlen);

/* Live use (serve --scrape): start evaluating at the row holding t_ns
 * (Unix ns) instead of at the data's first row, so that old samples or
 * trace spans never make the first update build years of rows. Only
 * before the first update; later calls are ignored. */
void imb_engine_start_at(struct imb_engine *e, int64_t t_ns);

/* Live use: forget closed findings but the keep_closed most recent ones
 * (open findings are always kept), so a long run holds bounded memory.
 * Pointers from imb_engine_findings() are invalid afterwards; seq numbers
 * stay. Returns the number forgotten. */
size_t imb_engine_prune(struct imb_engine *e, size_t keep_closed);

/* Findings so far, in order of detection; valid until the next update. */
const struct imb_finding *imb_engine_findings(const struct imb_engine *e,
                                              size_t *n);
const struct imb_note *imb_engine_notes(const struct imb_engine *e, size_t *n);

/* What the updates saw: the span of the rows evaluated, and the largest
 * number of series each role had (for the report's "signals" part). */
void imb_engine_span(const struct imb_engine *e, int64_t *t0_ns, int64_t *t1_ns,
                     size_t *rows);
size_t imb_engine_role_series(const struct imb_engine *e, int role);
/* The runbook the engine was created with. */
const struct imb_runbook *imb_engine_runbook(const struct imb_engine *e);

/* Reports. Text: one block per finding (condition, subjects, onset and
 * detection, confidence, evidence, causes with the supported ones first,
 * mitigations), then notes. JSON: {"findings":[...], "notes":[...],
 * "signals":{role: series}, "window":{...}, "runbook":[sources]}; the
 * shape is documented in imbalance-docs. Return 0 or -1 on a write error. */
int imb_report_text(FILE *out, const struct imb_engine *e);
int imb_report_json(FILE *out, const struct imb_engine *e);
/* One finding as compact JSON text, the shape of an element of the JSON
 * report's "findings" (condition, title, subject, subjects, onset,
 * detection, confidence, evidence, causes, mitigations, ...). malloc'd
 * (the caller frees), or NULL when out of memory. */
char *imb_report_finding_json(const struct imb_finding *f);

#endif
