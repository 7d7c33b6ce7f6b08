/* correct: rewrite a trace file with every span's timestamps mapped onto the
 * reference clock (model/clock_model.h), keeping the originals as attributes
 * so nothing is lost.
 *
 * Flow: estimate -> clock_model -> correct (second pass over the input) ->
 * OTLP JSON, or the input's own format.
 *
 * Per changed span it adds these attributes (Jaeger: tags of type int64;
 * Zipkin: tags with decimal string values), all in nanoseconds:
 *   skewscope.clock_offset_ns                 offset subtracted at span start
 *   skewscope.original_start_time_unix_nano   start as recorded
 *   skewscope.original_end_time_unix_nano     end as recorded
 * and on each changed span event (OTLP) or log (Jaeger):
 *   skewscope.original_time_unix_nano
 * Zipkin annotations cannot carry attributes: their original timestamps go
 * into the span tag skewscope.original_annotation_times_unix_nano as a
 * comma-separated list in annotation order.
 * Formats with microsecond times (Jaeger, Zipkin) are rounded down (floor),
 * which keeps the order of any two timestamps, so a corrected trace has no
 * violation that the nanosecond correction removed. */
#ifndef SKEWSCOPE_CORRECT_H
#define SKEWSCOPE_CORRECT_H

#include <stddef.h>
#include <stdio.h>

#include "ingest/ingest.h"

struct clock_model;
struct source;

#define CORRECT_ATTR_OFFSET "skewscope.clock_offset_ns"
#define CORRECT_ATTR_ORIG_START "skewscope.original_start_time_unix_nano"
#define CORRECT_ATTR_ORIG_END "skewscope.original_end_time_unix_nano"
#define CORRECT_ATTR_ORIG_TIME "skewscope.original_time_unix_nano"
#define CORRECT_ATTR_ORIG_ANNOTATIONS                                          \
    "skewscope.original_annotation_times_unix_nano"

struct correct_opts {
    enum trace_format in_format;   /* TRACE_FORMAT_AUTO: detect */
    enum trace_format out_format;  /* TRACE_FORMAT_OTLP_JSON or the input's */
    const char *clock_domain_attr; /* --clock-domain ATTR or NULL */
};

struct correct_stats {
    size_t spans;    /* spans written */
    size_t adjusted; /* spans whose timestamps changed */
};

/* One input format's rewriter. run() reads the whole source and writes the
 * corrected document(s) to out. Returns 0 or a negated enum ingest_status
 * with a message ("NAME:LINE:COL: ..." or "NAME: byte N: ...") in err. */
struct correct_ops {
    enum trace_format in_format;
    int (*run)(struct source *src, const struct correct_opts *opts,
               const struct clock_model *model, FILE *out,
               struct correct_stats *stats, char *err, size_t errlen);
};

extern const struct correct_ops correct_otlp_json_ops;
extern const struct correct_ops correct_jaeger_ops;
extern const struct correct_ops correct_zipkin_ops;
extern const struct correct_ops correct_otlp_proto_ops;

/* Correct file `path` ("-" = stdin) into out. Domains the model does not
 * know are left as they are. Returns 0, CORRECT_E_FORMAT when the output
 * format is neither OTLP JSON nor the input's own (a usage error), or a
 * negated enum ingest_status as correct_ops.run does. */
#define CORRECT_E_FORMAT (-100)
int correct_file(const char *path, const struct correct_opts *opts,
                 const struct clock_model *model, FILE *out,
                 struct correct_stats *stats, char *err, size_t errlen);

#endif
