/* report_html: what people look at. `skewscope report` writes one
 * self-contained HTML file (every byte inline: no request to any host) with
 * what check and estimate found in a trace file: the clock picture (every
 * domain's offset, its proven bounds as a band, its drift, over the
 * estimate's windows), the edge table (pairs, violations, minimum slack,
 * skew budget and the share of it used, sorted by urgency) and before/after
 * timelines of the traces with the most violations. `skewscope serve`'s
 * live page (serve/serve_page.h) draws the same pictures from its own JSON
 * with the same script: the files under web/ are compiled into the binary
 * (mk/web.mk: $(GEN)/web_assets.c) and looked up here.
 *
 * Flow: cli_load -> causality_check + estimate_run -> estimate_to_model ->
 *       report_html_write (data as JSON inlined into web/report.html
 *       with web/skewscope.css and web/skewscope.js).
 *
 * Sign conventions as everywhere (model/clock_model.h): offset = domain
 * clock - reference clock, ns, positive = ahead; an edge's relative offset
 * is offset(to) - offset(from); drift in ppm, positive = fast.
 *
 * Skew budget of an edge (the batch analogue of serve/live.h's): the
 * smallest slack of its pairs once both ends are mapped onto the reference
 * clock (child.start - parent.start; for synchronous pairs also
 * parent.end - child.end), i.e. exactly the minimum slack `check` reports
 * on the output of `correct`. A negative relative offset uses the forward
 * budget, a positive one the end budget; the side closer to exhaustion is
 * reported, with the time until it runs out at the edge's drift.
 *
 * Threads: no global state; each call is independent. */
#ifndef SKEWSCOPE_REPORT_HTML_H
#define SKEWSCOPE_REPORT_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct span_store;
struct edge_list;
struct causality_report;
struct clock_estimate;
struct clock_model;
struct json_t;

/* ---- embedded web assets (web/, compiled in by mk/web.mk) */

struct report_html_asset {
    const char *name;          /* file name under web/, e.g. "page.html" */
    const unsigned char *data; /* NUL-terminated after len bytes */
    size_t len;
};

/* The asset called name ("skewscope.js"), or NULL. content_type (may be
 * NULL) gets a static MIME type from the name's extension. */
const struct report_html_asset *report_html_asset(const char *name,
                                                  const char **content_type);

/* ---- one trace as a timeline (shared with serve's page) */

/* One span. Times in ns since the unix epoch: as recorded (on the span's
 * own clock) and mapped onto the reference clock (equal to the recorded
 * ones when the model did not know the domain: mapped false). domain is
 * domain_len bytes (NULs allowed) and only read during the call. */
struct report_html_span {
    uint64_t span_id, parent_id, link_id; /* link_id: first link, or 0 */
    bool has_parent;
    bool shared;  /* Zipkin shared server half (SPAN_F_SHARED) */
    uint8_t kind; /* enum span_kind */
    const char *domain;
    size_t domain_len;
    int64_t start_ns, end_ns;
    int64_t ref_start_ns, ref_end_ns;
    bool mapped;
    int64_t offset_ns; /* offset removed at the span's start (0 if !mapped) */
};

/* An edge pair between two of the spans (indices); sync: the end
 * constraint applies too (CLIENT parent -> SERVER child). */
struct report_html_pair {
    uint32_t parent, child;
    bool sync;
};

/* The trace as the pages' timeline reads it (web/skewscope.js):
 *   {"trace_id": hex, "base_unix_nano": "decimal string",
 *    "violations": n, "corrected_violations": n,
 *    "spans": [{"span_id", "parent_span_id" (hex or null; a Zipkin shared
 *               server half, "shared": true, has its client's span ID as
 *               both),
 *               "link_span_id" (hex or null), "domain", "kind",
 *               "start_ns", "end_ns" (recorded, ns after base),
 *               "corrected_start_ns", "corrected_end_ns",
 *               "offset_ns", "mapped",
 *               "violation", "corrected_violation":
 *                   null | "starts_before_parent" | "ends_after_parent"
 *                   | "negative_duration",
 *               "before_parent_ns", "corrected_before_parent_ns":
 *                   parent.start - child.start when positive, else 0}]}
 * Times are relative to base (the earliest recorded or corrected start)
 * so that JavaScript's doubles hold them exactly. A child with several
 * violating pairs shows the first kind found (starts_before_parent
 * first). violations counts violating pairs plus negative durations.
 * Returns a new reference, or NULL when out of memory. */
struct json_t *report_html_trace_json(const uint8_t trace_id[16],
                                      const struct report_html_span *spans,
                                      size_t nspans,
                                      const struct report_html_pair *pairs,
                                      size_t npairs);

/* ---- the report */

struct report_html_input {
    const struct span_store *store; /* indexed */
    const struct edge_list *edges;
    const struct causality_report *check;
    const struct clock_estimate *estimate;
    const struct clock_model *model; /* estimate_to_model(estimate) */
    const char *const *files;        /* input names, shown in the header */
    size_t nfiles;
    size_t worst_traces;       /* timelines of the N worst traces */
    size_t max_trace_spans;    /* spans drawn per trace (0: 500) */
    const char *title;         /* NULL: "skewscope report" */
    int64_t generated_unix_ns; /* shown; 0: not shown */
};

/* The report's data as one JSON object (what report_html_write inlines):
 *   {"title", "generated_unix_nano", "files": [...],
 *    "check": {spans, traces, pairs, violating_pairs, by_kind, orphans,
 *              duplicate_spans, dangling_links, invalid_spans},
 *    "clock": {reference, consistent, at_unix_nano, windows,
 *              nodes: [{node, known, offset_ns, lower_ns, upper_ns,
 *                       drift_ppm, pairs, edges, track: [{at_unix_nano,
 *                       offset_ns, lower_ns, upper_ns}]}], cycle?},
 *    "edges": [{from, to, pairs, violations, rate, min_slack_ns,
 *               median_slack_ns, starts_before_parent, ends_after_parent,
 *               relative_offset_ns, drift_ppm, skew_budget_ns (or null),
 *               budget_used_ratio, exhausts_in_s (or null: never)}],
 *    "traces": [report_html_trace_json() of the worst traces, most
 *               violations first, with "rank"]}
 * Bounds are null when unbounded (or the constraints are inconsistent).
 * Returns a new reference, or NULL when out of memory. */
struct json_t *report_html_data(const struct report_html_input *in);

/* Write the HTML document to out. Returns 0, or -1 when out of memory, an
 * asset is missing (a build without web/) or the write fails (message in
 * err). */
int report_html_write(FILE *out, const struct report_html_input *in, char *err,
                      size_t errlen);

#endif
