/* serve_page: the live page of `skewscope serve` and the JSON it reads.
 * GET / serves web/page.html (its script and style sheet beside it, all
 * compiled into the binary: output/report_html.h), which redraws itself
 * every few seconds from serve's own routes, with no request to any other
 * host. This module keeps what /api/v1/status alone cannot tell, in
 * bounded rings filled by the analysis thread:
 *   - the clock picture over the windows kept: one entry per live update
 *     that changed something (offset, bounds, drift per domain), older
 *     than the kept windows (history_span_s before the newest) dropped;
 *   - the warnings as they were logged (skew_budget_warning,
 *     causality_violations: the fields of the log line);
 *   - the last traces with a violation, their spans as received and the
 *     clock model at the time, to draw before and after correction;
 *   - findings of root-cause analysis and imbalance detection
 *     (serve_page_add_finding(); `serve --scrape` adds the imbalance
 *     detectors' findings: serve/serve_scrape.h).
 *
 * Routes (serve_page_routes; JSON ones need the bearer token when serve has
 * one, the page and its assets do not):
 *   GET /, /page.js, /skewscope.js, /skewscope.css   the page
 *   GET /api/v1/page     {"token_required": bool, "refresh_s": s}
 *   GET /api/v1/history  {"window_span_s", "warn_share", "snapshots":
 *        [{"updated_unix_nano", "at_unix_nano", "reference",
 *          "consistent", "nodes": [{"node", "known", "offset_ns",
 *          "lower_ns", "upper_ns", "drift_ppm"}]}]}   oldest first
 *   GET /api/v1/warnings {"total": logged ever, "warnings": [{
 *        "ts_unix_nano", "level", "event", "from", "to",
 *        "relative_offset_ns", "drift_ppm", "skew_budget_ns",
 *        "budget_used_ratio", "exhausts_in_s", "pairs", "violations",
 *        "new_violations"}]}   oldest first (the log line's fields)
 *   GET /api/v1/traces   {"traces": [{"trace_id", "captured_unix_nano",
 *        "spans", "violations", "domains": [...]}]}   newest first
 *   GET /api/v1/trace?id=HEX | id=latest-violation
 *        {"trace": report_html_trace_json() + "captured_unix_nano",
 *         "reference", "model" ("capture": the model when the trace was
 *         kept; "current": the newest, for traces kept before the model
 *         knew all their domains), "model_at_unix_nano"}
 *        {"trace": null} when no violation is kept; 404 for an ID not
 *        kept, 400 for a malformed one
 *   GET /api/v1/findings {"total", "findings": [{"source", "kind",
 *        "subject", "summary", "evidence", "time_unix_nano", ...the
 *        source's details (imbalance: "id", "condition", "active",
 *        "onset_unix_nano", "detected_unix_nano", "confidence", "causes",
 *        "mitigations", ...)}]}   oldest first
 * Times in ns since the unix epoch; offsets as everywhere: domain clock -
 * reference clock, positive = ahead.
 *
 * Threads: serve_page_note_update, serve_page_note_warning and
 * serve_page_note_batch from the analysis thread (they read nothing
 * shared but the page); serve_page_add_finding from any thread; the routes
 * on the HTTP threads. One mutex guards the rings; no call holds it while
 * calling out. create/destroy by the owner, destroy after every other
 * caller has stopped. */
#ifndef SKEWSCOPE_SERVE_PAGE_H
#define SKEWSCOPE_SERVE_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct serve_page;
struct span_store;
struct edge_list;
struct live_snapshot;
struct live_edge;
struct receiver_route;

/* Zero fields take the defaults in brackets. */
struct serve_page_config {
    size_t history;        /* snapshots kept [240] */
    double history_span_s; /* drop snapshots older than the newest minus
                              this (the kept windows) [0: by count only] */
    size_t warnings;       /* log lines kept [200] */
    size_t traces;         /* traces with a violation kept [32] */
    size_t trace_spans;    /* spans kept per trace [500] */
    size_t findings;       /* findings kept [200] */
    double warn_share;     /* the warning share, shown [0.5] */
    double refresh_s;      /* the page's refresh period [3] */
    bool token_required;   /* serve has a bearer token */
};

/* NULL when out of memory. */
struct serve_page *serve_page_create(const struct serve_page_config *cfg);
void serve_page_destroy(struct serve_page *p);

/* One live update's snapshot (copied), published at updated_unix_ns: the
 * history, and the model later traces are corrected with. No-op on
 * p == NULL (as are the other notes). */
void serve_page_note_update(struct serve_page *p,
                            const struct live_snapshot *snap,
                            int64_t updated_unix_ns);

/* One logged warning line (level "warn"; event "skew_budget_warning" or
 * "causality_violations") for edge e (copied). */
void serve_page_note_warning(struct serve_page *p, const char *level,
                             const char *event, const struct live_edge *e,
                             uint64_t new_violations);

/* One assembled generation (indexed store and its edge list, both only
 * read): keeps the traces in it with a violating pair or a negative
 * duration (the newest ones when there are more than the ring holds). */
void serve_page_note_batch(struct serve_page *p, const struct span_store *st,
                           const struct edge_list *l);

/* A finding for the findings panel. Strings are copied; evidence_json is
 * JSON text (kept as JSON; text that does not parse is kept as a string)
 * or NULL. details_json (or NULL) is a JSON object whose members are added
 * to the entry (imbalance: condition, onset_unix_nano, confidence, causes,
 * mitigations, active, ...; they never replace the six fields above). An
 * entry with the id of one still in the ring replaces it in place (a
 * finding that ended: "active": false) and does not count in "total"; id
 * NULL always appends. Returns 0, or -1 when out of memory or a required
 * string is NULL. */
struct serve_finding {
    const char *source;  /* "rca", "imbalance", ... */
    const char *kind;    /* what was found, e.g. "straggler" */
    const char *subject; /* what it is about: a node, an edge, a rank */
    const char *summary; /* one sentence for people */
    const char *evidence_json;
    int64_t time_unix_ns;
    const char *id;           /* [NULL] "imbalance/17" */
    const char *details_json; /* [NULL] */
};
int serve_page_add_finding(struct serve_page *p, const struct serve_finding *f);

/* The page's routes, written to out (room for SERVE_PAGE_NROUTES);
 * returns how many. They stay valid while p lives. */
#define SERVE_PAGE_NROUTES 10
size_t serve_page_routes(struct serve_page *p, struct receiver_route *out);

#endif
