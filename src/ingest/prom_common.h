/* prom_common: what the two Prometheus readers (prom_text.c: the text
 * exposition format of one scrape; prom_range.c: query_range JSON) share:
 * their options, the one rule that picks a sample's entity from its labels,
 * and the spelling of sample values; and the text format's escaping, which
 * the writers of /metrics (collect, serve) share with the reader.
 *
 * Flow: prom_text / prom_range -> prom_common -> series_store. */
#ifndef SKEWSCOPE_PROM_COMMON_H
#define SKEWSCOPE_PROM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct series_label;

/* Label names tried in order for the entity when no --service-label is
 * given: "service", then "job", then "pod". */
#define PROM_DEFAULT_ENTITY_LABELS                                             \
    {                                                                          \
        "service", "job", "pod"                                                \
    }

struct prom_opts {
    /* --service-label NAME: the label whose value is the entity; NULL =
     * try "service", "job", "pod" in that order. The label used is taken
     * out of the series' labels (it became the entity). */
    const char *entity_label;
    /* Entity when no such label is present (the scrape target's name, for
     * a scraper that knows it); NULL = "" (an empty entity). */
    const char *default_entity;
    /* Labels added to every series (e.g. {"rank", "3"} for a per-rank
     * target); they do not override labels of the sample. */
    const struct series_label *extra_labels;
    size_t nextra;
};

/* The entity rule: index into labels[0..n) of the label that names the
 * entity under opts (NULL opts = defaults), or -1 when none is present
 * (the caller then uses opts->default_entity, else ""). A label with an
 * empty value does not count. */
int prom_entity_label(const struct prom_opts *opts,
                      const struct series_label *labels, size_t n);

/* Parse a sample value as Prometheus spells it: a Go float (decimal or
 * exponent, optional sign), "NaN", "+Inf", "-Inf", "Inf" (these four case
 * sensitive as Prometheus writes them; "nan"/"inf" in any case accepted
 * too). len bytes at p, no surrounding space. Returns true and *v, or
 * false when it is not a number. */
bool prom_parse_value(const char *p, size_t len, double *v);

/* Write s escaped as the text exposition format wants: a label value
 * (label_value true) escapes backslash, double quote and newline; a HELP
 * text escapes backslash and newline. prom_text.c reads both back. */
void prom_put_escaped(FILE *f, const char *s, bool label_value);

#endif
