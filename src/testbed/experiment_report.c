/* experiment_report: the experiments' text tables (with the explanation of
 * the onset) and their CSV files. Charts are in experiment_svg.c. */
#include "testbed/experiment.h"

#include <errno.h>
#include <string.h>

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

static double frac(size_t n, size_t d)
{
    return d ? (double)n / (double)d : 0.0;
}

static const char *hops_name(enum pipeline_hops h)
{
    return experiment_hops_name(h);
}

static void sweep_row_text(FILE *out, const struct experiment_row *r)
{
    fprintf(out, "%-6s %-6s %8.3f ", r->transport, hops_name(r->hops),
            ms(r->skew_ns));
    fprintf(out, "%5u %8.2f %8.1f %6zu %5zu %6.1f%% %5zu %6.1f%% %5zu %6.1f%% ",
            r->res.requests, r->res.requests_per_s, r->res.tokens_per_s,
            r->pairs, r->violating_pairs,
            100 * frac(r->violating_pairs, r->pairs), r->starts_before_parent,
            100 * frac(r->starts_before_parent, r->pairs), r->ends_after_parent,
            100 * frac(r->ends_after_parent, r->pairs));
    if (r->has_min_slack)
        fprintf(out, "%+9.3f ", ms(r->min_slack_ns));
    else
        fprintf(out, "%9s ", "-");
    fprintf(out, "%-5s ", r->res.identical ? "yes" : "NO");
    if (r->has_offset)
        fprintf(out, "%+9.3f %+9.3f\n", ms(r->offset_ns), ms(r->skew_ns));
    else
        fprintf(out, "%9s %+9.3f\n", "-", ms(r->skew_ns));
}

/* True when an earlier row has the same series as row i. */
static bool series_seen(const struct experiment_sweep *s, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (s->rows[j].hops == s->rows[i].hops &&
            strcmp(s->rows[j].transport, s->rows[i].transport) == 0)
            return true;
    return false;
}

static void explain_series(FILE *out, const struct experiment_sweep *s,
                           const struct experiment_row *r)
{
    struct experiment_onset o;

    experiment_sweep_onset(s, r->transport, r->hops, &o);
    fprintf(out, "%s/%s: ", r->transport, hops_name(r->hops));
    if (o.found)
        fprintf(out, "violations begin between %g and %g ms", ms(o.below_ns),
                ms(o.above_ns));
    else if (o.above_ns > 0)
        fprintf(out, "violations already at %g ms, the smallest skew run",
                ms(o.above_ns));
    else if (o.max_clean_ns >= 0)
        fprintf(out, "no violations up to %g ms", ms(o.max_clean_ns));
    else
        fprintf(out, "no data");
    if (o.has_budget)
        fprintf(out,
                ": the minimum hop latency across node-%s's edges is %.3f ms "
                "(minimum slack at skew 0); a larger offset makes a child "
                "span start before its parent",
                s->stage, ms(o.budget_ns));
    fputc('\n', out);
}

int experiment_sweep_print(FILE *out, const struct experiment_sweep *s)
{
    fprintf(out,
            "skew injected at node-%s; offsets: estimated vs injected "
            "(ms, + = ahead)\n\n",
            s->stage);
    fprintf(out,
            "%-6s %-6s %8s %5s %8s %8s %6s %5s %7s %5s %7s %5s %7s %9s %-5s "
            "%9s %9s\n",
            "TRANSP", "HOPS", "SKEW ms", "REQ", "REQ/S", "TOK/S", "PAIRS",
            "VIOL", "RATE", "SBP", "RATE", "EAP", "RATE", "MINSLACK", "IDENT",
            "OFFSET", "INJECTED");
    for (size_t i = 0; i < s->nrows; i++)
        sweep_row_text(out, &s->rows[i]);
    fprintf(out, "\nSBP = starts_before_parent, EAP = ends_after_parent; "
                 "MINSLACK = minimum slack (ms)\nover the edges from or to "
                 "the skewed stage.\n\n");
    for (size_t i = 0; i < s->nrows; i++)
        if (!series_seen(s, i))
            explain_series(out, s, &s->rows[i]);
    return ferror(out) ? -EIO : 0;
}

static void sweep_row_csv(FILE *out, const struct experiment_row *r)
{
    fprintf(out, "%s,%s,%.6f,", r->transport, hops_name(r->hops),
            ms(r->skew_ns));
    fprintf(out, "%u,%.3f,%.3f,%zu,%zu,%.6f,%zu,%.6f,%zu,%.6f,%zu,%zu,",
            r->res.requests, r->res.requests_per_s, r->res.tokens_per_s,
            r->pairs, r->violating_pairs, frac(r->violating_pairs, r->pairs),
            r->starts_before_parent, frac(r->starts_before_parent, r->pairs),
            r->ends_after_parent, frac(r->ends_after_parent, r->pairs),
            r->stage_pairs, r->stage_violations);
    if (r->has_min_slack)
        fprintf(out, "%.6f", ms(r->min_slack_ns));
    fprintf(out, ",%s,", r->res.identical ? "yes" : "no");
    if (r->has_offset)
        fprintf(out, "%.6f,%.6f", ms(r->offset_ns),
                ms(r->offset_ns - r->skew_ns));
    else
        fputc(',', out);
    fputc('\n', out);
}

int experiment_sweep_csv(FILE *out, const struct experiment_sweep *s)
{
    fprintf(out, "%s\n", EXPERIMENT_SWEEP_CSV_HEADER);
    for (size_t i = 0; i < s->nrows; i++)
        sweep_row_csv(out, &s->rows[i]);
    return ferror(out) ? -EIO : 0;
}

int experiment_drift_print(FILE *out, const struct experiment_drift *d)
{
    fprintf(out,
            "%s: node-%s with %+.3f ms initial offset and %+.1f ppm drift; "
            "%u requests in %.1f s (%.2f requests/s), output identical: %s\n",
            d->transport, d->stage, ms(d->skew_ns), d->drift_ppm,
            d->res.requests, d->res.wall_s, d->res.requests_per_s,
            d->res.identical ? "yes" : "NO");
    fprintf(out, "\n%6s %8s %7s %6s %7s %11s %11s %9s\n", "WINDOW", "T s",
            "PAIRS", "VIOL", "RATE", "OFFSET ms", "INJECTED ms", "ERROR ms");
    for (size_t w = 0; w < d->nwindows; w++) {
        const struct experiment_window *x = &d->windows[w];
        fprintf(out, "%6zu %8.2f %7zu %6zu %6.1f%% ", w, x->t_s, x->pairs,
                x->violating_pairs, 100 * frac(x->violating_pairs, x->pairs));
        if (x->known)
            fprintf(out, "%+11.3f %+11.3f %+9.3f\n", ms(x->offset_ns),
                    ms(x->injected_ns), ms(x->offset_ns - x->injected_ns));
        else
            fprintf(out, "%11s %+11.3f %9s\n", "-", ms(x->injected_ns), "-");
    }
    fprintf(out,
            "\nall windows: %zu pairs, %zu violating (%.1f%%); drift "
            "estimated %+.1f ppm, injected %+.1f ppm\n",
            d->pairs, d->violating_pairs,
            100 * frac(d->violating_pairs, d->pairs), d->drift_ppm_estimated,
            d->drift_ppm);
    return ferror(out) ? -EIO : 0;
}

int experiment_drift_csv(FILE *out, const struct experiment_drift *d)
{
    fprintf(out, "%s\n", EXPERIMENT_DRIFT_CSV_HEADER);
    for (size_t w = 0; w < d->nwindows; w++) {
        const struct experiment_window *x = &d->windows[w];
        fprintf(out, "%zu,%.3f,%lld,%lld,%zu,%zu,%.6f,%s,", w, x->t_s,
                (long long)x->start_ns, (long long)x->end_ns, x->pairs,
                x->violating_pairs, frac(x->violating_pairs, x->pairs),
                x->known ? "yes" : "no");
        if (x->known)
            fprintf(out, "%.6f,%.6f,%.6f\n", ms(x->offset_ns),
                    ms(x->injected_ns), ms(x->offset_ns - x->injected_ns));
        else
            fprintf(out, ",%.6f,\n", ms(x->injected_ns));
    }
    return ferror(out) ? -EIO : 0;
}
