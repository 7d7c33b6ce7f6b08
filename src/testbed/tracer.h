/* tracer: the span recorder of one testbed pipeline stage (one OS process,
 * one clock domain). A stage creates one tracer with its resource
 * (host.name = the stage's node name, service.name), the clock error to
 * inject into the timestamps it records, and an exporter; it then records
 * spans with tracer_span_begin() / tracer_span_end(). Finished spans are
 * buffered and exported in batches by a background thread, as OTLP JSON
 * lines to a file or as OTLP/HTTP protobuf to any OTLP receiver.
 *
 * Flow: stage code -> tracer (clock error, IDs, buffer) -> exporter thread
 *       -> trace_writer (otlp-json lines | otlp-proto) -> file | HTTP POST.
 *
 * Clock: in TRACER_CLOCK_INJECT mode a timestamp recorded at true time t
 * (CLOCK_REALTIME) is
 *     recorded(t) = t + skew_ns + round(drift_ppm * 1e-6 * (t - t0_ns))
 * (the simulator's formula, sim.h): positive skew = the stage's clock is
 * AHEAD, positive drift = it runs fast (docs/CONTRACTS.md's "Sign conventions"
 * with the true clock as reference). In TRACER_CLOCK_PROCESS mode timestamps
 * are the process clock as read, unadjusted: the mode for stages started under
 * libfaketime (testbed/faketime.h), whose clock is skewed already.
 *
 * Threads: every function taking a struct tracer may be called from any
 * thread of the process, concurrently, except tracer_destroy(), which must
 * be the last call and not race with any other. A struct tracer_span
 * belongs to the thread that fills it. A mutex guards the span buffer and
 * the ID generator; exports run on the tracer's own thread, so a slow or
 * unreachable collector never blocks tracer_span_end() (spans beyond
 * max_queue_spans are dropped and counted instead). Do not fork() while a
 * tracer exists unless the child only execs. */
#ifndef SKEWSCOPE_TRACER_H
#define SKEWSCOPE_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/span_store.h" /* enum span_kind */

enum tracer_clock_mode {
    TRACER_CLOCK_INJECT = 0, /* add skew_ns and drift_ppm to the clock */
    TRACER_CLOCK_PROCESS,    /* record the process clock as it is */
};

enum tracer_export_kind {
    TRACER_EXPORT_FILE = 0,  /* OTLP JSON, one ExportTraceServiceRequest per
                                line, appended to `path` */
    TRACER_EXPORT_OTLP_HTTP, /* OTLP/HTTP protobuf POSTs to `endpoint` */
    TRACER_EXPORT_NONE,      /* discard (measures tracing overhead) */
};

/* Clock source of the tracer: returns the true time in unix ns. NULL in
 * tracer_config means clock_gettime(CLOCK_REALTIME); tests pass their own. */
typedef int64_t (*tracer_clock_fn)(void *arg);

struct tracer_config {
    const char *host_name;    /* resource host.name (clock domain); copied */
    const char *service_name; /* resource service.name; copied */

    enum tracer_clock_mode clock_mode;
    int64_t skew_ns;       /* INJECT: offset, + = ahead */
    double drift_ppm;      /* INJECT: rate error, + = runs fast */
    int64_t t0_ns;         /* INJECT: true time where the drift term is 0;
                              0 = the true clock at tracer_create() */
    tracer_clock_fn clock; /* NULL = CLOCK_REALTIME */
    void *clock_arg;

    uint64_t seed; /* ID generator seed; 0 = from /dev/urandom. With a seed,
                      the IDs are a function of (seed, host_name,
                      service_name, order of calls) */

    enum tracer_export_kind export_kind;
    const char *path;     /* FILE: output file; copied */
    bool truncate;        /* FILE: empty the file first (else append; one
                             write(2) per batch, so stages may share it) */
    const char *endpoint; /* OTLP_HTTP: collector URL. A URL without a path
                             ("http://h:4318" or ".../") gets "/v1/traces"
                             appended; one with a path is used as given */

    size_t batch_spans;         /* spans per export (default 512) */
    size_t max_queue_spans;     /* buffered spans before dropping (65536) */
    unsigned flush_interval_ms; /* export at least this often (1000) */
    unsigned export_timeout_ms; /* OTLP_HTTP: bound on one batch, retries
                                   included (10000) */
    unsigned retry_initial_ms;  /* OTLP_HTTP: first backoff, doubled per
                                   retry up to 5 s, +-25% jitter (100) */
};

/* Fill *cfg with the defaults above (INJECT with no error, FILE export with
 * no path: the caller sets host/service names and the destination). */
void tracer_config_init(struct tracer_config *cfg);

struct tracer;

/* A new tracer and its exporter thread. Opens the file (FILE) or prepares
 * the HTTP client (OTLP_HTTP; nothing is sent until the first batch).
 * Returns NULL with a message in err on a bad configuration (missing names,
 * path or endpoint; batch sizes of 0), a file that cannot be opened, or
 * out of memory. */
struct tracer *tracer_create(const struct tracer_config *cfg, char *err,
                             size_t errlen);

/* Export every buffered span (waiting for the exporter thread, bounded by
 * the HTTP timeout), stop the thread, close the exporter and free t.
 * Returns 0 when every span ever ended was exported, -1 otherwise (see
 * tracer_get_stats()). NULL is a no-op returning 0. */
int tracer_destroy(struct tracer *t);

/* Export every span ended before the call and wait until that is done.
 * Returns 0 when all of them were exported, -1 when any export failed or
 * spans were dropped since the last flush. */
int tracer_flush(struct tracer *t);

/* The tracer's clock now, in unix ns: the true clock plus the injected
 * error (INJECT), or the process clock (PROCESS). */
int64_t tracer_now_ns(struct tracer *t);
/* recorded(true_ns) of the formula above (INJECT), or true_ns (PROCESS). */
int64_t tracer_clock_at(const struct tracer *t, int64_t true_ns);

/* A fresh random trace ID (16 bytes, never all zero) or span ID (never 0). */
void tracer_new_trace_id(struct tracer *t, uint8_t out[16]);
uint64_t tracer_new_span_id(struct tracer *t);

/* ---- spans ---- */

#define TRACER_SPAN_MAX_ATTRS 16
#define TRACER_SPAN_MAX_EVENTS 8
#define TRACER_SPAN_MAX_LINKS 4
#define TRACER_SPAN_TEXT 1024 /* bytes for name, attributes, event names */

/* A span being recorded. The caller allocates it (the stack is fine) and
 * may read the public fields; the rest is private to the tracer. Strings
 * given to the tracer_span_* functions are copied, so they need not
 * outlive the call. */
struct tracer_span {
    uint8_t trace_id[16];    /* public: propagate these two ... */
    uint64_t span_id;        /* ... (testbed/traceparent.h) */
    uint64_t parent_span_id; /* public: 0 = root */
    enum span_kind kind;     /* public */
    int64_t start_ns;        /* public: recorded (tracer) clock */
    int64_t end_ns;          /* public: set by tracer_span_end() */

    /* private */
    uint16_t name_off, text_len;
    uint8_t nattrs, nevents, nlinks;
    bool truncated; /* something did not fit; counted when the span ends */
    uint16_t attr_off[TRACER_SPAN_MAX_ATTRS][2];
    struct {
        uint16_t name_off;
        int64_t time_ns;
    } events[TRACER_SPAN_MAX_EVENTS];
    struct {
        uint8_t trace_id[16];
        uint64_t span_id;
    } links[TRACER_SPAN_MAX_LINKS];
    char text[TRACER_SPAN_TEXT];
};

/* Start span sp now (tracer clock) with a new span ID. trace_id NULL starts
 * a new trace (and parent_span_id should then be 0); otherwise the span
 * joins that trace under parent_span_id (0 = a root span of it). */
void tracer_span_begin(struct tracer *t, struct tracer_span *sp,
                       const char *name, enum span_kind kind,
                       const uint8_t trace_id[16], uint64_t parent_span_id);

/* Add a string attribute (key and value copied). Returns 0, or -1 when the
 * span has no room left (TRACER_SPAN_MAX_ATTRS, TRACER_SPAN_TEXT); the
 * attribute is then dropped and the tracer counts a truncated span. */
int tracer_span_set_attr(struct tracer_span *sp, const char *key,
                         const char *value);
/* Add an event at the tracer's clock now. Returns 0 or -1 (no room). */
int tracer_span_add_event(struct tracer *t, struct tracer_span *sp,
                          const char *name);
/* Add a link to another span (e.g. CONSUMER -> PRODUCER). Returns 0 or -1
 * (no room). */
int tracer_span_add_link(struct tracer_span *sp, const uint8_t trace_id[16],
                         uint64_t span_id);

/* End sp now (tracer clock) and queue it for export; sp may be reused
 * afterwards. */
void tracer_span_end(struct tracer *t, struct tracer_span *sp);
/* Queue sp with its times as set by the caller (start_ns, end_ns on the
 * tracer's clock, e.g. from tracer_clock_at()). */
void tracer_span_submit(struct tracer *t, struct tracer_span *sp);

/* ---- counters ---- */

struct tracer_stats {
    uint64_t spans_ended;     /* tracer_span_end/submit calls */
    uint64_t spans_exported;  /* delivered (file written / HTTP 2xx) */
    uint64_t spans_failed;    /* export gave up on them */
    uint64_t spans_dropped;   /* queue full: never handed to the exporter */
    uint64_t spans_truncated; /* lost an attribute, event or link */
    uint64_t batches;         /* export calls */
    uint64_t http_attempts;   /* OTLP_HTTP: POSTs, retries included */
    uint64_t http_retries;    /* OTLP_HTTP: of which retries */
    char last_error[256];     /* latest export error, "" when none */
};

/* A snapshot of the counters; any thread. */
void tracer_get_stats(struct tracer *t, struct tracer_stats *out);

#endif
