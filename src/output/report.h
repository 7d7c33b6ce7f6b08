/* report: the text tables and JSON documents that `check` and `estimate`
 * print. JSON shapes are docs/CONTRACTS.md's ("check --json", "estimate
 * --json"); fields may be added, never renamed or removed. */
#ifndef SKEWSCOPE_REPORT_H
#define SKEWSCOPE_REPORT_H

#include <stdbool.h>
#include <stdio.h>

struct causality_report;
struct clock_estimate;
struct span_store;

/* Each returns 0, or -1 on a write error or out of memory. */
int report_check_json(FILE *out, const struct causality_report *r,
                      const struct span_store *s);
int report_check_text(FILE *out, const struct causality_report *r,
                      const struct span_store *s);
int report_estimate_json(FILE *out, const struct clock_estimate *e,
                         const struct span_store *s);
/* `track`: also print each domain's per-window offsets. */
int report_estimate_text(FILE *out, const struct clock_estimate *e,
                         const struct span_store *s, bool track);

#endif
