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
 * violation that the nanosecond correction removed.
 *
 * Spans the readers count as invalid (no or an all-zero trace or span ID,
 * no start time, OTLP: no end time; Jaeger: no process, or a processID the
 * trace does not list) are written through as they are, never dropped and
 * never corrected (a conversion to OTLP JSON converts them but moves no
 * time).
 *
 * Input without spans is not an error: its documents are written through
 * (a blank input becomes one empty document of the output format,
 * correct_empty_document()).
 *
 * Memory: OTLP JSON streams (correct_otlp_stream.c): one span of a known
 * clock domain is held at a time (or the rest of a resourceSpans entry
 * whose resource follows its spans), everything else passes through
 * whatever its size. The other formats load one element at a time (a
 * protobuf ResourceSpans, a Jaeger trace, a Zipkin span; a whole document
 * where there is no such array). What is held is bounded by
 * correct_max_element: more is malformed input for correct, reported with
 * its position. */
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

/* The most bytes of one element (see above) that correct holds at once
 * (JSON text, or protobuf wire bytes). Peak memory is about ten times this
 * for the Jaeger and Zipkin rewriters (a jansson DOM), about twice for
 * OTLP. Set before correcting; not while another thread corrects. */
#define CORRECT_MAX_ELEMENT_DEFAULT ((size_t)64 << 20)
extern size_t correct_max_element;

/* What correct writes for an input that holds no document: the empty
 * document of the output format: {"resourceSpans":[]} for OTLP JSON (also
 * for TRACE_FORMAT_AUTO), {"data":[]} for Jaeger, [] for Zipkin, and ""
 * for OTLP protobuf (zero messages). Static storage. */
const char *correct_empty_document(enum trace_format fmt);

/* OTLP JSON: correct_otlp_stream.c, which streams (memory bounded by one
 * held span, see there). correct_otlp_json_dom_ops is the same correction
 * on a jansson DOM of each document (correct_otlp_json.c, what the Jaeger
 * and Zipkin converters use): the reference the tests compare the stream
 * with; not in correct_file()'s registry. */
extern const struct correct_ops correct_otlp_json_ops;
extern const struct correct_ops correct_otlp_json_dom_ops;
extern const struct correct_ops correct_jaeger_ops;
extern const struct correct_ops correct_zipkin_ops;
/* OTLP protobuf: protobuf output rewritten on the wire format
 * (correct_wire.h); correct_otlp_proto_dom_ops decodes with protobuf-c,
 * corrects and re-encodes instead: the reference the tests compare the
 * wire path with; not in correct_file()'s registry. */
extern const struct correct_ops correct_otlp_proto_ops;
extern const struct correct_ops correct_otlp_proto_dom_ops;

/* Correct file `path` ("-" = stdin) into out. Domains the model does not
 * know are left as they are. Returns 0, CORRECT_E_FORMAT when the output
 * format is neither OTLP JSON nor the input's own (a usage error), or a
 * negated enum ingest_status as correct_ops.run does. */
#define CORRECT_E_FORMAT (-100)
int correct_file(const char *path, const struct correct_opts *opts,
                 const struct clock_model *model, FILE *out,
                 struct correct_stats *stats, char *err, size_t errlen);

#endif
