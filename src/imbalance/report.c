/* report: an engine's findings as text (one block per finding) and JSON
 * (jansson). The JSON shape is documented in imbalance-docs; NaN values
 * are written as null. */
#include "imbalance/imbalance.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imbalance/runbook.h"
#include "imbalance/signals.h"

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *causes_json(const struct imb_finding *f)
{
    json_t *a = json_array();

    /* supported causes first, then the others, each in runbook order */
    for (int pass = 0; a && pass < 2; pass++)
        for (size_t i = 0; i < f->cond->ncauses; i++) {
            bool sup = i < 32 && (f->causes >> i & 1u);

            if (sup != (pass == 0))
                continue;
            json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "id",
                                               f->cond->causes[i].id, "text",
                                               f->cond->causes[i].text,
                                               "supported", sup));
        }
    return a;
}

static json_t *evidence_json(const struct imb_finding *f)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < f->nev; i++) {
        const struct imb_evidence *v = &f->ev[i];
        json_t *o =
            json_pack("{s:s, s:s, s:o, s:o, s:s}", "signal", v->signal,
                      "subject", v->subject, "value", num_or_null(v->value),
                      "baseline", num_or_null(v->baseline), "unit", v->unit);

        if (o && v->note)
            json_object_set_new(o, "note", json_string(v->note));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *strings_json(char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *finding_json(const struct imb_finding *f)
{
    const struct imb_rb_cond *c = f->cond;
    json_t *o = json_pack(
        "{s:s, s:s?, s:s?, s:s, s:o, s:s?, s:I, s:I, s:I, s:f, s:b, s:f, "
        "s:f, s:I}",
        "condition", c->id, "title", c->title, "table", c->table, "subject",
        f->key, "subjects", strings_json(f->subjects, f->nsubjects), "group",
        f->group, "onset_unix_nano", (json_int_t)f->onset_ns,
        "detected_unix_nano", (json_int_t)f->detected_ns, "last_unix_nano",
        (json_int_t)f->last_ns, "detection_delay_s",
        (double)(f->detected_ns - f->onset_ns) / 1e9, "active", f->active,
        "confidence", f->confidence, "strength", f->strength, "rows",
        (json_int_t)f->rows);

    if (!o)
        return NULL;
    json_object_set_new(o, "evidence", evidence_json(f));
    json_object_set_new(o, "causes", causes_json(f));
    json_object_set_new(o, "mitigations",
                        strings_json(c->mitigations, c->nmitigations));
    return o;
}

char *imb_report_finding_json(const struct imb_finding *f)
{
    json_t *o = finding_json(f);
    char *text;

    if (!o)
        return NULL;
    json_object_set_new(o, "seq", json_integer((json_int_t)f->seq));
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    return text;
}

int imb_report_json(FILE *out, const struct imb_engine *e)
{
    const struct imb_runbook *rb = imb_engine_runbook(e);
    size_t nf, nn, rows;
    const struct imb_finding *f = imb_engine_findings(e, &nf);
    const struct imb_note *nt = imb_engine_notes(e, &nn);
    json_t *doc = json_object(), *fa = json_array(), *na = json_array();
    json_t *sig = json_object(), *en = json_array();
    int64_t t0, t1;
    int rc;

    for (size_t i = 0; fa && i < nf; i++)
        json_array_append_new(fa, finding_json(&f[i]));
    for (size_t i = 0; na && i < nn; i++)
        json_array_append_new(
            na, json_pack("{s:s, s:s, s:I, s:s}", "condition", nt[i].condition,
                          "subject", nt[i].subject, "at_unix_nano",
                          (json_int_t)nt[i].t_ns, "text", nt[i].text));
    for (int r = 0; sig && r < IMB_NROLES; r++)
        if (imb_engine_role_series(e, r))
            json_object_set_new(
                sig, imb_role_name((enum imb_role)r),
                json_integer((json_int_t)imb_engine_role_series(e, r)));
    for (size_t i = 0; en && i < rb->ncond; i++)
        if (rb->cond[i].enabled && rb->cond[i].det)
            json_array_append_new(en, json_string(rb->cond[i].id));
    imb_engine_span(e, &t0, &t1, &rows);
    if (!doc)
        return -1;
    json_object_set_new(doc, "findings", fa);
    json_object_set_new(doc, "notes", na);
    json_object_set_new(doc, "signals", sig);
    json_object_set_new(doc, "window",
                        json_pack("{s:I, s:I, s:I, s:f, s:f}",
                                  "start_unix_nano", (json_int_t)t0,
                                  "end_unix_nano", (json_int_t)t1, "rows",
                                  (json_int_t)rows, "step_s", rb->step_s,
                                  "history_s", rb->history_s));
    json_object_set_new(doc, "conditions", en);
    json_object_set_new(doc, "runbook",
                        strings_json(rb->sources, rb->nsources));
    rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(doc);
    if (rc == 0 && fputc('\n', out) == EOF)
        rc = -1;
    return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------
 * Text
 * --------------------------------------------------------------------- */

static const char *fmt_time(char *buf, size_t n, int64_t t_ns)
{
    time_t s = (time_t)(t_ns / 1000000000);
    struct tm tm;
    int ms = (int)(t_ns % 1000000000 / 1000000);

    if (ms < 0) {
        ms += 1000;
        s--;
    }
    if (!gmtime_r(&s, &tm)) {
        snprintf(buf, n, "%lld ns", (long long)t_ns);
        return buf;
    }
    size_t k = strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03d", ms);
    return buf;
}

static void text_value(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.4g", v);
    else
        fputs("-", out);
}

static void text_finding(FILE *out, size_t i, const struct imb_finding *f)
{
    const struct imb_rb_cond *c = f->cond;
    char a[48], b[48];

    fprintf(out, "[%zu] %s: %s (%s)\n", i + 1, c->id, c->title ? c->title : "",
            c->table ? c->table : "");
    fprintf(out, "    subject:     %s", f->key);
    if (f->group)
        fprintf(out, " (group %s)", f->group);
    for (size_t j = 1; j < f->nsubjects; j++)
        fprintf(out, "%s%s", j == 1 ? "; with " : ", ", f->subjects[j]);
    fprintf(out, "\n    onset:       %s UTC, detected %.1f s later\n",
            fmt_time(a, sizeof a, f->onset_ns),
            (double)(f->detected_ns - f->onset_ns) / 1e9);
    fprintf(out, "    %s %s UTC (%zu rows)\n",
            f->active ? "still at:   " : "ended:      ",
            fmt_time(b, sizeof b, f->last_ns), f->rows);
    fprintf(out, "    confidence:  %.2f\n    evidence:\n", f->confidence);
    for (size_t j = 0; j < f->nev; j++) {
        const struct imb_evidence *v = &f->ev[j];

        fprintf(out, "      - %s %s = ", v->signal, v->subject);
        text_value(out, v->value);
        fprintf(out, " %s (reference ", v->unit);
        text_value(out, v->baseline);
        fprintf(out, ")%s%s\n", v->note ? ": " : "", v->note ? v->note : "");
    }
    fputs("    causes:\n", out);
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < c->ncauses; j++) {
            bool sup = j < 32 && (f->causes >> j & 1u);

            if (sup == (pass == 0))
                fprintf(out, "      %s %s: %s\n", sup ? "[supported]" : "-",
                        c->causes[j].id, c->causes[j].text);
        }
    fputs("    mitigations:\n", out);
    for (size_t j = 0; j < c->nmitigations; j++)
        fprintf(out, "      - %s\n", c->mitigations[j]);
}

int imb_report_text(FILE *out, const struct imb_engine *e)
{
    const struct imb_runbook *rb = imb_engine_runbook(e);
    size_t nf, nn, rows;
    const struct imb_finding *f = imb_engine_findings(e, &nf);
    const struct imb_note *nt = imb_engine_notes(e, &nn);
    int64_t t0, t1;
    char a[48], b[48];

    imb_engine_span(e, &t0, &t1, &rows);
    fprintf(out, "imbalance: %zu finding%s over %zu rows of %g s", nf,
            nf == 1 ? "" : "s", rows, rb->step_s);
    if (rows)
        fprintf(out, " (%s to %s UTC)", fmt_time(a, sizeof a, t0),
                fmt_time(b, sizeof b, t1));
    fputs("\nsignals:", out);
    size_t shown = 0;
    for (int r = 0; r < IMB_NROLES; r++)
        if (imb_engine_role_series(e, r))
            fprintf(out, " %s(%zu)", imb_role_name((enum imb_role)r),
                    imb_engine_role_series(e, r)),
                shown++;
    fputs(shown ? "\n" : " none matched the runbook's signal table\n", out);
    for (size_t i = 0; i < nf; i++) {
        fputc('\n', out);
        text_finding(out, i, &f[i]);
    }
    if (nn)
        fputs("\nnotes:\n", out);
    for (size_t i = 0; i < nn; i++)
        fprintf(out, "  - %s %s at %s UTC: %s\n", nt[i].condition,
                nt[i].subject, fmt_time(a, sizeof a, nt[i].t_ns), nt[i].text);
    return ferror(out) ? -1 : 0;
}
