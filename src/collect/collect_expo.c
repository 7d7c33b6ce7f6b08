/* collect_expo: the collector's /metrics page (Prometheus text format
 * 0.0.4): each family with HELP and TYPE, then its series that got a value
 * in the last round of their cadence (a vanished interface disappears).
 * Gauges show their last value, counters the total of
 * series_counter_delta() since the collector started (collect.h); the
 * families flagged COLLECT_F_PEAK also give
 * skewscope_collect_peak_rate_per_second, the highest rate between two
 * consecutive samples over the peak window: the bursts a scrape every
 * 15 s averages away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/collect_private.h"
#include "ingest/collect_rec.h"
#include "ingest/prom_common.h"
#include "model/series.h"

static const char *type_name(enum collect_type t)
{
    return t == COLLECT_T_COUNTER ? "counter"
           : t == COLLECT_T_GAUGE ? "gauge"
                                  : "untyped";
}

/* {first="v",name="v",...}; first may be NULL. */
static void put_labels(FILE *f, const struct series_store *s, uint32_t id,
                       const char *first, const char *first_value)
{
    size_t n;
    const struct series_label *l = series_labels(s, id, &n);
    bool any = false;

    if (!n && !first)
        return;
    fputc('{', f);
    if (first) {
        fprintf(f, "%s=\"", first);
        prom_put_escaped(f, first_value, true);
        fputc('"', f);
        any = true;
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s%s=\"", any ? "," : "", l[i].name);
        prom_put_escaped(f, l[i].value, true);
        fputc('"', f);
        any = true;
    }
    fputc('}', f);
}

static void put_value(FILE *f, double v)
{
    char buf[40];

    collect_rec_value(buf, sizeof buf, v);
    fprintf(f, " %s\n", buf);
}

static void put_family(FILE *f, const struct collector *c,
                       const struct cfam *cf)
{
    bool head = false;

    for (size_t i = 0; i < cf->n; i++) {
        uint32_t id = cf->ids[i];
        size_t len = series_len(c->store, id);
        double v;

        if (!collect_series_live(c, id) || !len)
            continue;
        if (!head) {
            fprintf(f, "# HELP %s ", cf->f->name);
            prom_put_escaped(f, cf->f->help, false);
            fprintf(f, "\n# TYPE %s %s\n", cf->f->name, type_name(cf->f->type));
            head = true;
        }
        v = cf->f->kind == SERIES_COUNTER && c->ser[id].have
                ? c->ser[id].total
                : series_values(c->store, id)[len - 1];
        fputs(cf->f->name, f);
        put_labels(f, c->store, id, NULL, NULL);
        put_value(f, v);
    }
}

/* Highest rate (per second) between consecutive samples whose later one
 * lies within window_ns of the newest; false when there is no such pair. */
static bool peak_rate(const struct series_store *s, uint32_t id,
                      int64_t window_ns, double *out)
{
    size_t len = series_len(s, id), first;
    const int64_t *t = series_times(s, id);
    const double *v = series_values(s, id);
    double wrap = series_wrap(s, id), best = -1;

    if (len < 2)
        return false;
    series_range(s, id, t[len - 1] - window_ns + 1, t[len - 1] + 1, &first);
    for (size_t i = first ? first : 1; i < len; i++) {
        double d = series_counter_delta(v[i - 1], v[i], wrap), r;

        if (t[i] <= t[i - 1] || d != d)
            continue;
        r = d / ((double)(t[i] - t[i - 1]) / 1e9);
        if (r > best)
            best = r;
    }
    *out = best;
    return best >= 0;
}

static void put_peaks(FILE *f, const struct collector *c)
{
    bool head = false;

    for (size_t k = 0; k < c->nfam; k++) {
        const struct cfam *cf = &c->fam[k];

        if (!(cf->f->flags & COLLECT_F_PEAK) || cf->f->kind != SERIES_COUNTER)
            continue;
        for (size_t i = 0; i < cf->n; i++) {
            double r;

            if (!collect_series_live(c, cf->ids[i]) ||
                !peak_rate(c->store, cf->ids[i], c->cfg.peak_window_ns, &r))
                continue;
            if (!head) {
                fprintf(f,
                        "# HELP skewscope_collect_peak_rate_per_second "
                        "Highest per-second increase between two consecutive "
                        "samples of the counter named by the metric label, "
                        "over the last %g s\n"
                        "# TYPE skewscope_collect_peak_rate_per_second "
                        "gauge\n",
                        (double)c->cfg.peak_window_ns / 1e9);
                head = true;
            }
            fputs("skewscope_collect_peak_rate_per_second", f);
            put_labels(f, c->store, cf->ids[i], "metric", cf->f->name);
            put_value(f, r);
        }
    }
}

char *collect_render(struct collector *c, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);

    if (!f)
        return NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t k = 0; k < c->nfam; k++)
        put_family(f, c, &c->fam[k]);
    put_peaks(f, c);
    pthread_mutex_unlock(&c->lock);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}
