/* runbook: reading the YAML runbook (libyaml's document API: every node
 * keeps its line, so each error names the entry's line) and merging files
 * on top of each other. The schema is checked here in full: a file is
 * parsed into a fresh runbook first and merged only when all of it is
 * valid. */
#include "imbalance/runbook.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "imbalance/imb_detector.h"
#include "imbalance/imbalance.h"
#include "imbalance/signals.h"
#include "model/series.h"

/* Largest runbook file read (a runbook is a page or two of text). */
#define RUNBOOK_MAX_BYTES (16u << 20)

/* ---------------------------------------------------------------------
 * Freeing
 * --------------------------------------------------------------------- */

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void signal_free(struct imb_rb_signal *s)
{
    free(s->engine);
    free(s->match);
    free_list(s->unit_labels, s->nunit_labels);
    free_list(s->rank_labels, s->nrank_labels);
    free_list(s->group_labels, s->ngroup_labels);
    for (size_t i = 0; i < s->nwhere; i++) {
        free((char *)s->where[i].name);
        free((char *)s->where[i].value);
    }
    free(s->where);
    memset(s, 0, sizeof(*s));
}

static void causes_free(struct imb_rb_cause *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].id);
        free(c[i].text);
    }
    free(c);
}

static void params_free(struct imb_rb_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i].key);
    free(p);
}

static void cond_free(struct imb_rb_cond *c)
{
    free(c->id);
    free(c->title);
    free(c->table);
    free(c->summary);
    free(c->detector);
    free_list(c->signals, c->nsignals);
    params_free(c->th, c->nth);
    causes_free(c->causes, c->ncauses);
    free_list(c->mitigations, c->nmitigations);
    free_list(c->exclude, c->nexclude);
    memset(c, 0, sizeof(*c));
}

struct imb_runbook *imb_runbook_create(void)
{
    struct imb_runbook *rb = calloc(1, sizeof(*rb));

    if (rb) {
        rb->step_s = 1;
        rb->history_s = 60;
    }
    return rb;
}

void imb_runbook_destroy(struct imb_runbook *rb)
{
    if (!rb)
        return;
    for (size_t i = 0; i < rb->nsig; i++)
        signal_free(&rb->sig[i]);
    free(rb->sig);
    for (size_t i = 0; i < rb->ncond; i++)
        cond_free(&rb->cond[i]);
    free(rb->cond);
    free_list(rb->sources, rb->nsources);
    free(rb);
}

/* ---------------------------------------------------------------------
 * YAML helpers
 * --------------------------------------------------------------------- */

struct yctx {
    yaml_document_t *doc;
    const char *name; /* file name for messages (owned by the runbook) */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int
yfail(struct yctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    int k = snprintf(c->err, c->errlen, "%s:%lu: ", c->name,
                     n ? (unsigned long)n->start_mark.line + 1 : 1ul);

    if (k >= 0 && (size_t)k < c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -IMB_E_RUNBOOK;
}

static int ynomem(struct yctx *c)
{
    snprintf(c->err, c->errlen, "%s: out of memory", c->name);
    return -IMB_E_NOMEM;
}

static yaml_node_t *ynode(struct yctx *c, int idx)
{
    return yaml_document_get_node(c->doc, idx);
}

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

/* The text of a scalar node (NUL-terminated by libyaml), or NULL. A scalar
 * holding a NUL byte is rejected by the callers through the length. */
static const char *yscalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                            : NULL;
}

static int ystr(struct yctx *c, const yaml_node_t *n, const char *what,
                char **out)
{
    const char *s = yscalar(n);

    if (!s)
        return yfail(c, n, "%s: expected text, got %s", what,
                     n ? type_name(n) : "nothing");
    if (strlen(s) != n->data.scalar.length)
        return yfail(c, n, "%s: text holds a NUL byte", what);
    free(*out);
    if (!(*out = strdup(s)))
        return ynomem(c);
    return 0;
}

static int ynum(struct yctx *c, const yaml_node_t *n, const char *what,
                double *out)
{
    const char *s = yscalar(n);
    char *end;

    if (!s)
        return yfail(c, n, "%s: expected a number, got %s", what,
                     n ? type_name(n) : "nothing");
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(*out) ||
        strlen(s) != n->data.scalar.length)
        return yfail(c, n, "%s: expected a number, got \"%.40s\"", what, s);
    return 0;
}

static int ybool(struct yctx *c, const yaml_node_t *n, const char *what,
                 bool *out)
{
    const char *s = yscalar(n);

    if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")))
        *out = true;
    else if (s &&
             (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")))
        *out = false;
    else
        return yfail(c, n, "%s: expected true or false", what);
    return 0;
}

/* A list of texts (a single scalar counts as a list of one). */
static int ystrlist(struct yctx *c, const yaml_node_t *n, const char *what,
                    char ***out, size_t *nout)
{
    size_t cnt = 0;
    char **v;

    if (n && n->type == YAML_SCALAR_NODE)
        cnt = 1;
    else if (n && n->type == YAML_SEQUENCE_NODE)
        cnt =
            (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    else
        return yfail(c, n, "%s: expected a list of texts, got %s", what,
                     n ? type_name(n) : "nothing");
    if (!(v = calloc(cnt ? cnt : 1, sizeof(*v))))
        return ynomem(c);
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *e = n->type == YAML_SCALAR_NODE
                                   ? n
                                   : ynode(c, n->data.sequence.items.start[i]);
        int rc = ystr(c, e, what, &v[i]);

        if (rc) {
            free_list(v, cnt);
            return rc;
        }
    }
    free_list(*out, *nout);
    *out = v;
    *nout = cnt;
    return 0;
}

/* Iterate a mapping's pairs: checks that it is a mapping, that every key
 * is a scalar, and that no key repeats. */
static int ymap_check(struct yctx *c, const yaml_node_t *n, const char *what)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return yfail(c, n, "%s: expected a mapping, got %s", what,
                     n ? type_name(n) : "nothing");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ynode(c, p->key);
        const char *ks = yscalar(k);

        if (!ks)
            return yfail(c, k, "%s: a key must be text", what);
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(yscalar(ynode(c, q->key)), ks))
                return yfail(c, k, "%s: key \"%.40s\" given twice", what, ks);
    }
    return 0;
}

#define YMAP_FOREACH(c, n, K, V)                                               \
    for (yaml_node_pair_t *p_ = (n)->data.mapping.pairs.start;                 \
         p_ < (n)->data.mapping.pairs.top &&                                   \
         ((K) = yscalar(ynode(c, p_->key)), (V) = ynode(c, p_->value), 1);     \
         p_++)

/* A glob fnmatch(3) would treat oddly: an unterminated bracket or a
 * trailing backslash. */
static bool glob_ok(const char *g)
{
    for (const char *s = g; *s; s++) {
        if (*s == '\\') {
            if (!*++s)
                return false;
        } else if (*s == '[') {
            const char *e = s + 1;

            if (*e == '!' || *e == '^')
                e++;
            if (*e == ']')
                e++;
            while (*e && *e != ']')
                e++;
            if (!*e)
                return false;
            s = e;
        }
    }
    return *g != 0;
}

/* ---------------------------------------------------------------------
 * signals:
 * --------------------------------------------------------------------- */

static int parse_where(struct yctx *c, const yaml_node_t *n,
                       struct imb_rb_signal *s)
{
    const char *k;
    const yaml_node_t *v;
    size_t cnt;
    int rc;

    if ((rc = ymap_check(c, n, "where")))
        return rc;
    cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (!(s->where = calloc(cnt ? cnt : 1, sizeof(*s->where))))
        return ynomem(c);
    YMAP_FOREACH(c, n, k, v)
    {
        char *name = NULL, *val = NULL;

        if ((rc = ystr(c, ynode(c, p_->key), k, &name)) ||
            (rc = ystr(c, v, k, &val))) {
            free(name);
            return rc;
        }
        s->where[s->nwhere].name = name;
        s->where[s->nwhere++].value = val;
    }
    return 0;
}

static int parse_signal_key(struct yctx *c, const char *k, const yaml_node_t *v,
                            struct imb_rb_signal *s)
{
    char *t = NULL;
    int rc = 0;

    if (!strcmp(k, "engine"))
        return ystr(c, v, "engine", &s->engine);
    if (!strcmp(k, "match")) {
        if ((rc = ystr(c, v, "match", &s->match)))
            return rc;
        if (!glob_ok(s->match))
            return yfail(c, v, "match: \"%.60s\" is not a valid glob",
                         s->match);
        return 0;
    }
    if (!strcmp(k, "role")) {
        if ((rc = ystr(c, v, "role", &t)))
            return rc;
        s->role = imb_role_find(t, false);
        if (s->role < 0)
            rc = yfail(c, v, "role: unknown role \"%.40s\"", t);
    } else if (!strcmp(k, "type")) {
        if ((rc = ystr(c, v, "type", &t)))
            return rc;
        if (!strcmp(t, "auto"))
            s->type = IMB_ST_AUTO;
        else if (!strcmp(t, "gauge"))
            s->type = IMB_ST_GAUGE;
        else if (!strcmp(t, "counter"))
            s->type = IMB_ST_COUNTER;
        else if (!strcmp(t, "histogram"))
            s->type = IMB_ST_HISTOGRAM;
        else
            rc = yfail(c, v,
                       "type: expected auto, gauge, counter or histogram, "
                       "got \"%.40s\"",
                       t);
    } else if (!strcmp(k, "transform")) {
        if ((rc = ystr(c, v, "transform", &t)))
            return rc;
        if (!strcmp(t, "pcie_gen"))
            s->xform = IMB_XF_PCIE_GEN;
        else if (strcmp(t, "none"))
            rc = yfail(c, v, "transform: expected none or pcie_gen");
    } else if (!strcmp(k, "scale")) {
        if ((rc = ynum(c, v, "scale", &s->scale)))
            return rc;
        if (s->scale == 0)
            rc = yfail(c, v, "scale: must not be 0");
    } else if (!strcmp(k, "unit_labels")) {
        rc = ystrlist(c, v, k, &s->unit_labels, &s->nunit_labels);
    } else if (!strcmp(k, "rank_labels")) {
        rc = ystrlist(c, v, k, &s->rank_labels, &s->nrank_labels);
    } else if (!strcmp(k, "group_labels")) {
        rc = ystrlist(c, v, k, &s->group_labels, &s->ngroup_labels);
    } else if (!strcmp(k, "where")) {
        rc = parse_where(c, v, s);
    } else {
        rc = yfail(c, v,
                   "signals: unknown key \"%.40s\" (engine, match, role, "
                   "type, scale, transform, unit_labels, rank_labels, "
                   "group_labels, where)",
                   k);
    }
    free(t);
    return rc;
}

static int parse_signal(struct yctx *c, const yaml_node_t *n,
                        struct imb_rb_signal *s)
{
    const char *k;
    const yaml_node_t *v;
    int rc;

    s->role = -1;
    s->scale = 1;
    s->file = c->name;
    s->line = (unsigned)n->start_mark.line + 1;
    if ((rc = ymap_check(c, n, "signals entry")))
        return rc;
    YMAP_FOREACH(c, n, k, v)
    {
        if ((rc = parse_signal_key(c, k, v, s)))
            return rc;
    }
    if (!s->match)
        return yfail(c, n, "signals entry: no \"match\"");
    if (s->role < 0)
        return yfail(c, n, "signals entry \"%.60s\": no \"role\"", s->match);
    return 0;
}

/* ---------------------------------------------------------------------
 * conditions:
 * --------------------------------------------------------------------- */

/* Which fields a file gave, for merging onto an existing entry. */
enum {
    GAVE_TITLE = 1 << 0,
    GAVE_TABLE = 1 << 1,
    GAVE_SUMMARY = 1 << 2,
    GAVE_DETECTOR = 1 << 3,
    GAVE_SIGNALS = 1 << 4,
    GAVE_CAUSES = 1 << 5,
    GAVE_MITIGATIONS = 1 << 6,
    GAVE_EXCLUDE = 1 << 7,
    GAVE_ROLE = 1 << 8,
    GAVE_ENABLED = 1 << 9,
};

struct cond_in {
    struct imb_rb_cond c;
    unsigned gave;
    const yaml_node_t *node, *det_node, *th_node, *role_node;
};

static int parse_causes(struct yctx *c, const yaml_node_t *n,
                        struct imb_rb_cond *d)
{
    size_t cnt;
    int rc;

    if (!n || n->type != YAML_SEQUENCE_NODE)
        return yfail(c, n, "causes: expected a list of {id, text}");
    cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt > 32)
        return yfail(c, n, "causes: at most 32 per condition");
    causes_free(d->causes, d->ncauses);
    d->ncauses = 0;
    if (!(d->causes = calloc(cnt ? cnt : 1, sizeof(*d->causes))))
        return ynomem(c);
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *e = ynode(c, n->data.sequence.items.start[i]);
        struct imb_rb_cause *cs = &d->causes[d->ncauses++];
        const char *k;
        const yaml_node_t *v;

        if ((rc = ymap_check(c, e, "cause")))
            return rc;
        YMAP_FOREACH(c, e, k, v)
        {
            if (!strcmp(k, "id"))
                rc = ystr(c, v, "cause id", &cs->id);
            else if (!strcmp(k, "text"))
                rc = ystr(c, v, "cause text", &cs->text);
            else
                rc = yfail(c, v, "cause: unknown key \"%.40s\" (id, text)", k);
            if (rc)
                return rc;
        }
        if (!cs->id || !cs->text)
            return yfail(c, e, "cause: needs both \"id\" and \"text\"");
        for (size_t j = 0; j + 1 < d->ncauses; j++)
            if (!strcmp(d->causes[j].id, cs->id))
                return yfail(c, e, "cause \"%.40s\" given twice", cs->id);
    }
    return 0;
}

static int parse_thresholds(struct yctx *c, const yaml_node_t *n,
                            struct imb_rb_cond *d)
{
    const char *k;
    const yaml_node_t *v;
    size_t cnt;
    int rc;

    if ((rc = ymap_check(c, n, "thresholds")))
        return rc;
    cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (!(d->th = calloc(cnt ? cnt : 1, sizeof(*d->th))))
        return ynomem(c);
    YMAP_FOREACH(c, n, k, v)
    {
        struct imb_rb_param *p = &d->th[d->nth];

        if (!(p->key = strdup(k)))
            return ynomem(c);
        d->nth++;
        p->file = c->name;
        p->line = (unsigned)v->start_mark.line + 1;
        if ((rc = ynum(c, v, k, &p->value)))
            return rc;
    }
    return 0;
}

static int parse_role(struct yctx *c, const yaml_node_t *v,
                      struct imb_rb_cond *d)
{
    char *t = NULL;
    int rc = ystr(c, v, "role", &t);

    if (!rc && (d->role = imb_role_find(t, false)) < 0)
        rc = yfail(c, v, "role: unknown role \"%.40s\"", t);
    free(t);
    return rc;
}

static int check_signal_roles(struct yctx *c, const yaml_node_t *v,
                              const struct imb_rb_cond *d)
{
    for (size_t i = 0; i < d->nsignals; i++)
        if (imb_role_find(d->signals[i], true) < 0)
            return yfail(c, v, "signals: unknown role \"%.40s\"",
                         d->signals[i]);
    return 0;
}

/* A text field of a condition, recording that the file gave it. */
static int cond_text(struct yctx *c, const yaml_node_t *v, const char *k,
                     char **dst, struct cond_in *in, unsigned gave)
{
    in->gave |= gave;
    return ystr(c, v, k, dst);
}

static int parse_cond_lists(struct yctx *c, const char *k, const yaml_node_t *v,
                            struct cond_in *in)
{
    struct imb_rb_cond *d = &in->c;
    int rc;

    if (!strcmp(k, "signals")) {
        in->gave |= GAVE_SIGNALS;
        if ((rc = ystrlist(c, v, k, &d->signals, &d->nsignals)))
            return rc;
        return check_signal_roles(c, v, d);
    }
    if (!strcmp(k, "mitigations")) {
        in->gave |= GAVE_MITIGATIONS;
        return ystrlist(c, v, k, &d->mitigations, &d->nmitigations);
    }
    in->gave |= GAVE_EXCLUDE;
    if ((rc = ystrlist(c, v, k, &d->exclude, &d->nexclude)))
        return rc;
    for (size_t i = 0; i < d->nexclude; i++)
        if (!glob_ok(d->exclude[i]))
            return yfail(c, v, "exclude: \"%.60s\" is not a valid glob",
                         d->exclude[i]);
    return 0;
}

static int parse_cond_key(struct yctx *c, const char *k, const yaml_node_t *v,
                          struct cond_in *in)
{
    struct imb_rb_cond *d = &in->c;

    if (!strcmp(k, "id"))
        return ystr(c, v, "id", &d->id);
    if (!strcmp(k, "title"))
        return cond_text(c, v, k, &d->title, in, GAVE_TITLE);
    if (!strcmp(k, "table"))
        return cond_text(c, v, k, &d->table, in, GAVE_TABLE);
    if (!strcmp(k, "summary"))
        return cond_text(c, v, k, &d->summary, in, GAVE_SUMMARY);
    if (!strcmp(k, "detector")) {
        in->det_node = v;
        return cond_text(c, v, k, &d->detector, in, GAVE_DETECTOR);
    }
    if (!strcmp(k, "signals") || !strcmp(k, "mitigations") ||
        !strcmp(k, "exclude"))
        return parse_cond_lists(c, k, v, in);
    if (!strcmp(k, "thresholds")) {
        in->th_node = v;
        return parse_thresholds(c, v, d);
    }
    if (!strcmp(k, "causes")) {
        in->gave |= GAVE_CAUSES;
        return parse_causes(c, v, d);
    }
    if (!strcmp(k, "role")) {
        in->gave |= GAVE_ROLE;
        in->role_node = v;
        return parse_role(c, v, d);
    }
    if (!strcmp(k, "enabled")) {
        in->gave |= GAVE_ENABLED;
        return ybool(c, v, k, &d->enabled);
    }
    return yfail(c, v,
                 "conditions: unknown key \"%.40s\" (id, title, table, "
                 "summary, detector, signals, thresholds, causes, "
                 "mitigations, exclude, role, enabled)",
                 k);
}

static int parse_cond(struct yctx *c, const yaml_node_t *n, struct cond_in *in)
{
    const char *k;
    const yaml_node_t *v;
    int rc;

    in->node = n;
    in->c.role = -1;
    in->c.enabled = true;
    in->c.file = c->name;
    in->c.line = (unsigned)n->start_mark.line + 1;
    if ((rc = ymap_check(c, n, "conditions entry")))
        return rc;
    YMAP_FOREACH(c, n, k, v)
    {
        if ((rc = parse_cond_key(c, k, v, in)))
            return rc;
    }
    if (!in->c.id || !*in->c.id)
        return yfail(c, n, "conditions entry: no \"id\"");
    return 0;
}

/* Check a parsed condition against what it will be merged onto (old, may
 * be NULL): its detector exists, thresholds are the detector's keys and in
 * range, a role where the detector needs one. */
static int check_cond(struct yctx *c, const struct cond_in *in,
                      const struct imb_rb_cond *old)
{
    const struct imb_rb_cond *d = &in->c;
    const char *dname = d->detector ? d->detector : old ? old->detector : d->id;
    const struct imb_detector *det = imb_detector_find(dname);
    int role = (in->gave & GAVE_ROLE) ? d->role : old ? old->role : -1;

    if (!det) {
        if (d->detector)
            return yfail(c, in->det_node,
                         "detector: unknown detector "
                         "\"%.40s\"",
                         d->detector);
        return yfail(c, in->node,
                     "condition \"%.40s\" is new: name its \"detector:\" "
                     "(e.g. threshold)",
                     d->id);
    }
    for (size_t i = 0; i < d->nth; i++) {
        const struct imb_param *p = imb_detector_param(det, d->th[i].key);

        if (!p) {
            snprintf(c->err, c->errlen,
                     "%s:%u: thresholds: detector %s has no key \"%.40s\"",
                     d->th[i].file, d->th[i].line, det->name, d->th[i].key);
            return -IMB_E_RUNBOOK;
        }
        if (d->th[i].value < p->lo || d->th[i].value > p->hi) {
            snprintf(c->err, c->errlen,
                     "%s:%u: thresholds: %s = %g is outside [%g, %g]",
                     d->th[i].file, d->th[i].line, p->key, d->th[i].value,
                     p->lo, p->hi);
            return -IMB_E_RUNBOOK;
        }
    }
    if (det->needs_role && role < 0)
        return yfail(c, in->node,
                     "condition \"%.40s\": detector %s needs "
                     "\"role:\"",
                     d->id, det->name);
    if (!det->needs_role && (in->gave & GAVE_ROLE))
        return yfail(c, in->role_node, "role: detector %s takes no role",
                     det->name);
    return 0;
}

/* ---------------------------------------------------------------------
 * Whole documents
 * --------------------------------------------------------------------- */

struct parsed {
    struct imb_rb_signal *sig;
    size_t nsig;
    struct cond_in *cond;
    size_t ncond;
    bool has_step, has_history;
    double step_s, history_s;
};

static void parsed_free(struct parsed *p)
{
    for (size_t i = 0; i < p->nsig; i++)
        signal_free(&p->sig[i]);
    free(p->sig);
    for (size_t i = 0; i < p->ncond; i++)
        cond_free(&p->cond[i].c);
    free(p->cond);
}

static int parse_defaults(struct yctx *c, const yaml_node_t *n,
                          struct parsed *out)
{
    const char *k;
    const yaml_node_t *v;
    int rc;

    if ((rc = ymap_check(c, n, "defaults")))
        return rc;
    YMAP_FOREACH(c, n, k, v)
    {
        double x;

        if (strcmp(k, "step_s") && strcmp(k, "history_s"))
            return yfail(c, v,
                         "defaults: unknown key \"%.40s\" (step_s, "
                         "history_s)",
                         k);
        if ((rc = ynum(c, v, k, &x)))
            return rc;
        if (!strcmp(k, "step_s")) {
            if (x < 0.001 || x > 3600)
                return yfail(c, v, "step_s: %g is outside [0.001, 3600]", x);
            out->has_step = true, out->step_s = x;
        } else {
            if (x < 1 || x > 86400)
                return yfail(c, v, "history_s: %g is outside [1, 86400]", x);
            out->has_history = true, out->history_s = x;
        }
    }
    return 0;
}

static size_t seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static int parse_signals(struct yctx *c, const yaml_node_t *n,
                         struct parsed *out)
{
    int rc;

    if (!n || n->type != YAML_SEQUENCE_NODE)
        return yfail(c, n, "signals: expected a list");
    if (!(out->sig = calloc(seq_len(n) + 1, sizeof(*out->sig))))
        return ynomem(c);
    for (size_t i = 0; i < seq_len(n); i++) {
        const yaml_node_t *e = ynode(c, n->data.sequence.items.start[i]);

        rc = parse_signal(c, e, &out->sig[out->nsig++]);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_conditions(struct yctx *c, const yaml_node_t *n,
                            struct parsed *out)
{
    int rc;

    if (!n || n->type != YAML_SEQUENCE_NODE)
        return yfail(c, n, "conditions: expected a list");
    if (!(out->cond = calloc(seq_len(n) + 1, sizeof(*out->cond))))
        return ynomem(c);
    for (size_t i = 0; i < seq_len(n); i++) {
        const yaml_node_t *e = ynode(c, n->data.sequence.items.start[i]);
        struct cond_in *in = &out->cond[out->ncond++];

        if ((rc = parse_cond(c, e, in)))
            return rc;
        for (size_t j = 0; j + 1 < out->ncond; j++)
            if (!strcmp(out->cond[j].c.id, in->c.id))
                return yfail(c, e, "condition \"%.40s\" given twice", in->c.id);
    }
    return 0;
}

static int parse_root(struct yctx *c, const yaml_node_t *root,
                      struct parsed *out)
{
    const char *k;
    const yaml_node_t *v;
    int rc;

    if (!root)
        return 0; /* an empty document: nothing to change */
    if ((rc = ymap_check(c, root, "runbook")))
        return rc;
    YMAP_FOREACH(c, root, k, v)
    {
        if (!strcmp(k, "version")) {
            double ver;

            if ((rc = ynum(c, v, k, &ver)))
                return rc;
            if (ver != 1)
                return yfail(c, v, "version: this skewscope reads version 1");
        } else if (!strcmp(k, "defaults")) {
            rc = parse_defaults(c, v, out);
        } else if (!strcmp(k, "signals")) {
            rc = parse_signals(c, v, out);
        } else if (!strcmp(k, "conditions")) {
            rc = parse_conditions(c, v, out);
        } else {
            rc = yfail(c, v,
                       "unknown key \"%.40s\" (version, defaults, signals, "
                       "conditions)",
                       k);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* libyaml's own errors (syntax): "NAME:LINE: problem (context)". */
static int yaml_syntax_error(const yaml_parser_t *ps, const char *name,
                             char *err, size_t errlen)
{
    if (ps->error == YAML_MEMORY_ERROR) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -IMB_E_NOMEM;
    }
    snprintf(err, errlen, "%s:%lu: YAML: %s%s%s", name,
             (unsigned long)ps->problem_mark.line + 1,
             ps->problem ? ps->problem : "syntax error", ps->context ? " " : "",
             ps->context ? ps->context : "");
    return -IMB_E_RUNBOOK;
}

/* ---------------------------------------------------------------------
 * Merging
 * --------------------------------------------------------------------- */

static struct imb_rb_cond *find_cond(struct imb_runbook *rb, const char *id)
{
    for (size_t i = 0; i < rb->ncond; i++)
        if (!strcmp(rb->cond[i].id, id))
            return &rb->cond[i];
    return NULL;
}

const struct imb_rb_cond *imb_runbook_cond(const struct imb_runbook *rb,
                                           const char *id)
{
    return find_cond((struct imb_runbook *)rb, id);
}

#define TAKE(dst, src)                                                         \
    do {                                                                       \
        free(dst);                                                             \
        (dst) = (src);                                                         \
        (src) = NULL;                                                          \
    } while (0)
#define TAKE_LIST(dst, ndst, src, nsrc)                                        \
    do {                                                                       \
        free_list(dst, ndst);                                                  \
        (dst) = (src);                                                         \
        (ndst) = (nsrc);                                                       \
        (src) = NULL;                                                          \
        (nsrc) = 0;                                                            \
    } while (0)

/* Thresholds of in onto old, key by key. Returns 0 or -IMB_E_NOMEM. */
static int merge_thresholds(struct imb_rb_cond *old, struct imb_rb_cond *in)
{
    struct imb_rb_param *v =
        realloc(old->th, (old->nth + in->nth + 1) * sizeof(*v));

    if (!v)
        return -IMB_E_NOMEM;
    old->th = v;
    for (size_t i = 0; i < in->nth; i++) {
        size_t j = 0;

        while (j < old->nth && strcmp(old->th[j].key, in->th[i].key))
            j++;
        if (j == old->nth) {
            old->th[old->nth++] = in->th[i];
        } else {
            free(old->th[j].key);
            old->th[j] = in->th[i];
        }
        in->th[i].key = NULL;
    }
    in->nth = 0;
    return 0;
}

static int merge_cond(struct imb_rb_cond *old, struct cond_in *in)
{
    struct imb_rb_cond *d = &in->c;

    if (in->gave & GAVE_TITLE)
        TAKE(old->title, d->title);
    if (in->gave & GAVE_TABLE)
        TAKE(old->table, d->table);
    if (in->gave & GAVE_SUMMARY)
        TAKE(old->summary, d->summary);
    if (in->gave & GAVE_DETECTOR)
        TAKE(old->detector, d->detector);
    if (in->gave & GAVE_SIGNALS)
        TAKE_LIST(old->signals, old->nsignals, d->signals, d->nsignals);
    if (in->gave & GAVE_MITIGATIONS)
        TAKE_LIST(old->mitigations, old->nmitigations, d->mitigations,
                  d->nmitigations);
    if (in->gave & GAVE_EXCLUDE)
        TAKE_LIST(old->exclude, old->nexclude, d->exclude, d->nexclude);
    if (in->gave & GAVE_CAUSES) {
        causes_free(old->causes, old->ncauses);
        old->causes = d->causes;
        old->ncauses = d->ncauses;
        d->causes = NULL;
        d->ncauses = 0;
    }
    if (in->gave & GAVE_ROLE)
        old->role = d->role;
    if (in->gave & GAVE_ENABLED)
        old->enabled = d->enabled;
    return merge_thresholds(old, d);
}

/* Move everything parsed into rb (validated already). */
static int merge_parsed(struct imb_runbook *rb, struct parsed *p)
{
    struct imb_rb_signal *sig;
    size_t nnew = 0;

    if (p->nsig) {
        if (!(sig = malloc((rb->nsig + p->nsig) * sizeof(*sig))))
            return -IMB_E_NOMEM;
        memcpy(sig, p->sig, p->nsig * sizeof(*sig));
        if (rb->nsig)
            memcpy(sig + p->nsig, rb->sig, rb->nsig * sizeof(*sig));
        free(rb->sig);
        rb->sig = sig;
        rb->nsig += p->nsig;
        p->nsig = 0;
    }
    for (size_t i = 0; i < p->ncond; i++)
        nnew += !find_cond(rb, p->cond[i].c.id);
    if (nnew) {
        struct imb_rb_cond *v =
            realloc(rb->cond, (rb->ncond + nnew) * sizeof(*v));

        if (!v)
            return -IMB_E_NOMEM;
        rb->cond = v;
    }
    for (size_t i = 0; i < p->ncond; i++) {
        struct imb_rb_cond *old = find_cond(rb, p->cond[i].c.id);

        if (old) {
            if (merge_cond(old, &p->cond[i]) < 0)
                return -IMB_E_NOMEM;
        } else {
            struct imb_rb_cond *d = &p->cond[i].c;

            if (!d->detector && !(d->detector = strdup(d->id)))
                return -IMB_E_NOMEM;
            rb->cond[rb->ncond++] = *d;
            memset(d, 0, sizeof(*d));
        }
    }
    for (size_t i = 0; i < rb->ncond; i++)
        rb->cond[i].det = imb_detector_find(rb->cond[i].detector);
    if (p->has_step)
        rb->step_s = p->step_s;
    if (p->has_history)
        rb->history_s = p->history_s;
    return 0;
}

static const char *add_source(struct imb_runbook *rb, const char *name)
{
    char **v = realloc(rb->sources, (rb->nsources + 1) * sizeof(*v));

    if (!v)
        return NULL;
    rb->sources = v;
    if (!(v[rb->nsources] = strdup(name)))
        return NULL;
    return v[rb->nsources++];
}

int imb_runbook_load_buffer(struct imb_runbook *rb, const char *name,
                            const char *text, size_t len, char *err,
                            size_t errlen)
{
    yaml_parser_t ps;
    yaml_document_t doc;
    struct parsed p = {0};
    struct yctx c = {&doc, NULL, err, errlen};
    int rc = 0;

    if (!(c.name = add_source(rb, name))) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -IMB_E_NOMEM;
    }
    if (!yaml_parser_initialize(&ps)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -IMB_E_NOMEM;
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
    if (!yaml_parser_load(&ps, &doc)) {
        rc = yaml_syntax_error(&ps, c.name, err, errlen);
        yaml_parser_delete(&ps);
        free(rb->sources[--rb->nsources]);
        return rc;
    }
    rc = parse_root(&c, yaml_document_get_root_node(&doc), &p);
    for (size_t i = 0; !rc && i < p.ncond; i++)
        rc = check_cond(&c, &p.cond[i], find_cond(rb, p.cond[i].c.id));
    if (!rc && (rc = merge_parsed(rb, &p)) < 0)
        snprintf(err, errlen, "%s: out of memory", name);
    if (rc && rc != -IMB_E_NOMEM) /* nothing of this file is kept */
        free(rb->sources[--rb->nsources]);
    parsed_free(&p);
    yaml_document_delete(&doc);
    yaml_parser_delete(&ps);
    return rc;
}

int imb_runbook_load_file(struct imb_runbook *rb, const char *path, char *err,
                          size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -IMB_E_NOINPUT;
    }
    for (;;) {
        if (len + 4096 > cap) {
            char *nb;

            cap = cap ? cap * 2 : 8192;
            if (cap > RUNBOOK_MAX_BYTES + 8192 || !(nb = realloc(buf, cap))) {
                snprintf(err, errlen, "%s: runbook larger than %u bytes", path,
                         RUNBOOK_MAX_BYTES);
                free(buf);
                fclose(f);
                return -IMB_E_RUNBOOK;
            }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, cap - len, f);

        len += k;
        if (k == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return -IMB_E_NOINPUT;
    }
    fclose(f);
    rc = imb_runbook_load_buffer(rb, path, buf ? buf : "", len, err, errlen);
    free(buf);
    return rc;
}

/* The generated file (mk/runbook.mk) defines these from runbook.yaml. */
extern const char imb_runbook_embedded[];
extern const size_t imb_runbook_embedded_len;

const char *imb_runbook_default_text(size_t *len)
{
    *len = imb_runbook_embedded_len;
    return imb_runbook_embedded;
}

int imb_runbook_load_default(struct imb_runbook *rb, char *err, size_t errlen)
{
    return imb_runbook_load_buffer(rb, "<embedded runbook>",
                                   imb_runbook_embedded,
                                   imb_runbook_embedded_len, err, errlen);
}

/* ---------------------------------------------------------------------
 * Lookups and overrides
 * --------------------------------------------------------------------- */

double imb_cond_param(const struct imb_rb_cond *c, const char *key)
{
    const struct imb_param *p;

    for (size_t i = 0; i < c->nth; i++)
        if (!strcmp(c->th[i].key, key))
            return c->th[i].value;
    p = c->det ? imb_detector_param(c->det, key) : NULL;
    return p ? p->def : NAN;
}

int imb_cond_cause(const struct imb_rb_cond *c, const char *id)
{
    for (size_t i = 0; i < c->ncauses; i++)
        if (!strcmp(c->causes[i].id, id))
            return (int)i;
    return -1;
}

static int set_number(const char *v, double *x)
{
    char *end;

    errno = 0;
    *x = strtod(v, &end);
    return end != v && !*end && errno != ERANGE && isfinite(*x) ? 0 : -1;
}

static int set_defaults(struct imb_runbook *rb, const char *key,
                        const char *val, char *err, size_t errlen)
{
    double x;

    if (set_number(val, &x) < 0) {
        snprintf(err, errlen, "--set defaults.%s: \"%s\" is not a number", key,
                 val);
        return -IMB_E_INVAL;
    }
    if (!strcmp(key, "step_s") && x >= 0.001 && x <= 3600)
        rb->step_s = x;
    else if (!strcmp(key, "history_s") && x >= 1 && x <= 86400)
        rb->history_s = x;
    else {
        snprintf(err, errlen,
                 "--set defaults.%s: expected step_s in [0.001, 3600] or "
                 "history_s in [1, 86400]",
                 key);
        return -IMB_E_INVAL;
    }
    return 0;
}

static int set_threshold(struct imb_rb_cond *c, const char *key,
                         const char *val, char *err, size_t errlen)
{
    const struct imb_param *p = c->det ? imb_detector_param(c->det, key) : NULL;
    struct imb_rb_param *v;
    double x;

    if (!p) {
        snprintf(err, errlen, "--set %s.%s: condition %s has no threshold %s",
                 c->id, key, c->id, key);
        return -IMB_E_INVAL;
    }
    if (set_number(val, &x) < 0 || x < p->lo || x > p->hi) {
        snprintf(err, errlen, "--set %s.%s: expected a number in [%g, %g]",
                 c->id, key, p->lo, p->hi);
        return -IMB_E_INVAL;
    }
    for (size_t i = 0; i < c->nth; i++)
        if (!strcmp(c->th[i].key, key)) {
            c->th[i].value = x;
            return 0;
        }
    if (!(v = realloc(c->th, (c->nth + 1) * sizeof(*v))))
        return -IMB_E_NOMEM;
    c->th = v;
    if (!(v[c->nth].key = strdup(key)))
        return -IMB_E_NOMEM;
    v[c->nth].value = x;
    v[c->nth].file = "--set";
    v[c->nth++].line = 0;
    return 0;
}

int imb_runbook_set(struct imb_runbook *rb, const char *assignment, char *err,
                    size_t errlen)
{
    const char *dot = strchr(assignment, '.');
    const char *eq = dot ? strchr(dot, '=') : NULL;
    char id[128], key[128];
    struct imb_rb_cond *c;
    int rc;

    if (!dot || !eq || dot == assignment || eq == dot + 1 ||
        (size_t)(dot - assignment) >= sizeof id ||
        (size_t)(eq - dot - 1) >= sizeof key) {
        snprintf(err, errlen, "--set \"%s\": expected COND.KEY=VALUE",
                 assignment);
        return -IMB_E_INVAL;
    }
    memcpy(id, assignment, (size_t)(dot - assignment));
    id[dot - assignment] = 0;
    memcpy(key, dot + 1, (size_t)(eq - dot - 1));
    key[eq - dot - 1] = 0;
    if (!strcmp(id, "defaults"))
        return set_defaults(rb, key, eq + 1, err, errlen);
    if (!(c = find_cond(rb, id))) {
        snprintf(err, errlen,
                 "--set %s.%s: no condition \"%s\" in the "
                 "runbook",
                 id, key, id);
        return -IMB_E_INVAL;
    }
    if (!strcmp(key, "enabled")) {
        if (!strcmp(eq + 1, "true") || !strcmp(eq + 1, "false")) {
            c->enabled = eq[1] == 't';
            return 0;
        }
        snprintf(err, errlen, "--set %s.enabled: expected true or false", id);
        return -IMB_E_INVAL;
    }
    rc = set_threshold(c, key, eq + 1, err, errlen);
    if (rc == -IMB_E_NOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}
