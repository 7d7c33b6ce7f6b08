/* runbook: the data file that says, per condition, which signals a
 * detector reads, its thresholds, the root causes and the mitigations
 * (after the paper's tables 3a-c: compute, north-south, east-west), and the
 * table that maps metric names of each engine onto signal roles.
 *
 * Format: YAML (libyaml, Debian's libyaml-0-2), documented in
 * runbook/runbook.yaml itself and in imbalance-docs. The default runbook is
 * compiled into the binary (generated from runbook/runbook.yaml at build
 * time); `--runbook FILE` loads a user's file on top of it:
 *  - its `signals:` entries come before the default ones (first match
 *    wins, so a user's pattern overrides);
 *  - a condition with a known id changes only the fields it gives
 *    (thresholds key by key; causes, mitigations, exclude replace the
 *    lists; `enabled: false` turns it off);
 *  - a condition with a new id needs `detector:` naming a built-in detector
 *    (e.g. `threshold`, a generic role-above/below rule).
 * A bad entry is an error "FILE:LINE: what" (-IMB_E_RUNBOOK): a YAML syntax
 * error, an unknown key, a wrong type, an unknown role or detector, a
 * threshold key the detector does not have or a value outside its range,
 * a duplicate id in one file, a bad glob.
 *
 * Structures are public and read directly (by signals.c and the detectors);
 * change them only through the functions below. Threads: a runbook is
 * built by one thread, then may be read by any. */
#ifndef SKEWSCOPE_IMB_RUNBOOK_H
#define SKEWSCOPE_IMB_RUNBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imb_detector;
struct series_label;

/* How a mapped series is turned into values (signals.h). */
enum imb_sigtype {
    IMB_ST_AUTO = 0,  /* by the series' kind: gauge LAST, counter RATE */
    IMB_ST_GAUGE,     /* LAST (MAX for latency roles), whatever its kind */
    IMB_ST_COUNTER,   /* per-second RATE, whatever its kind (untyped
                         node-exporter netstat counters) */
    IMB_ST_HISTOGRAM, /* pattern names the family: mean of _sum / _count */
};

/* A value conversion after scaling. */
enum imb_xform {
    IMB_XF_NONE = 0,
    IMB_XF_PCIE_GEN, /* PCIe generation 1..6 -> GT/s per lane */
};

/* One `signals:` entry. Strings owned by the runbook. */
struct imb_rb_signal {
    char *engine; /* "vllm", "dcgm", ... (documentation only) */
    char *match;  /* fnmatch(3) glob on the metric name */
    int role;     /* enum imb_role */
    enum imb_sigtype type;
    double scale; /* multiply values (percent -> share: 0.01) */
    enum imb_xform xform;
    char **unit_labels; /* labels appended to the entity to name units */
    size_t nunit_labels;
    char **rank_labels; /* tried after "rank", "tp_rank" */
    size_t nrank_labels;
    char **group_labels; /* tried after "tp_group" */
    size_t ngroup_labels;
    struct series_label *where; /* labels the series must carry */
    size_t nwhere;
    const char *file; /* where it was written (owned by the runbook) */
    unsigned line;
};

/* One threshold value of a condition. */
struct imb_rb_param {
    char *key;
    double value;
    const char *file;
    unsigned line;
};

struct imb_rb_cause {
    char *id;
    char *text;
};

/* One `conditions:` entry. */
struct imb_rb_cond {
    char *id;       /* "tp_straggler" */
    char *title;    /* "Tensor-parallel straggler" */
    char *table;    /* "3a compute", "3b north-south", "3c east-west" */
    char *summary;  /* what it looks like, one paragraph */
    char *detector; /* built-in detector name (default: the id) */
    const struct imb_detector *det; /* resolved */
    char **signals; /* roles it reads (for people; checked to be roles) */
    size_t nsignals;
    struct imb_rb_param *th; /* thresholds given (others: defaults) */
    size_t nth;
    struct imb_rb_cause *causes;
    size_t ncauses; /* at most 32 */
    char **mitigations;
    size_t nmitigations;
    char **exclude; /* fnmatch globs of units the detector ignores */
    size_t nexclude;
    int role; /* detector `threshold`: the role it watches, else -1 */
    bool enabled;
    const char *file;
    unsigned line;
};

struct imb_runbook {
    struct imb_rb_signal *sig;
    size_t nsig;
    struct imb_rb_cond *cond;
    size_t ncond;
    double step_s;    /* grid step (defaults.step_s, 1) */
    double history_s; /* how far back a detector may look (60) */
    char **sources;   /* files loaded, "<embedded>" first */
    size_t nsources;
};

/* An empty runbook (no entries; step 1 s, history 60 s), or NULL. */
struct imb_runbook *imb_runbook_create(void);
void imb_runbook_destroy(struct imb_runbook *rb);

/* Load YAML text (name for messages) into rb, merged as described above.
 * Returns 0 or -IMB_E_RUNBOOK / -IMB_E_NOMEM with "NAME:LINE: ..." in err.
 * On error rb is unchanged (the text is validated in full before anything
 * is merged). */
int imb_runbook_load_buffer(struct imb_runbook *rb, const char *name,
                            const char *text, size_t len, char *err,
                            size_t errlen);
/* The same for a file; -IMB_E_NOINPUT when it cannot be read. */
int imb_runbook_load_file(struct imb_runbook *rb, const char *path, char *err,
                          size_t errlen);
/* The runbook compiled into the binary (runbook/runbook.yaml). */
int imb_runbook_load_default(struct imb_runbook *rb, char *err, size_t errlen);
/* The embedded text itself (for `--print-runbook`). */
const char *imb_runbook_default_text(size_t *len);

/* A command-line override "COND.KEY=VALUE" (a threshold of condition
 * COND), "COND.enabled=false|true", or "defaults.step_s=V" /
 * "defaults.history_s=V". Returns 0 or -IMB_E_INVAL with a message. */
int imb_runbook_set(struct imb_runbook *rb, const char *assignment, char *err,
                    size_t errlen);

/* The condition with this id, or NULL. */
const struct imb_rb_cond *imb_runbook_cond(const struct imb_runbook *rb,
                                           const char *id);

/* Threshold `key` of c: the runbook's value, else the detector's default.
 * NaN when the detector has no such key. */
double imb_cond_param(const struct imb_rb_cond *c, const char *key);

/* Index of cause `id` in c->causes, or -1. */
int imb_cond_cause(const struct imb_rb_cond *c, const char *id);

#endif
