/* correct: the `correct` entry point. Opens the input, finds its format
 * (detected like ingest does, or forced), checks that the requested output
 * is OTLP JSON or the input's own format, and hands the stream to that
 * format's rewriter (correct_<format>.c). */
#include "output/correct.h"

#include <stdint.h>
#include <string.h>

#include "ingest/source.h"

/* One rewriter per input format: adding a format is one line here. */
static const struct correct_ops *const rewriters[] = {
    &correct_otlp_json_ops,
    &correct_otlp_proto_ops,
    &correct_jaeger_ops,
    &correct_zipkin_ops,
};
#define NREWRITERS (sizeof(rewriters) / sizeof(rewriters[0]))

size_t correct_max_element = CORRECT_MAX_ELEMENT_DEFAULT;

const char *correct_empty_document(enum trace_format fmt)
{
    switch (fmt) {
    case TRACE_FORMAT_JAEGER:
        return "{\"data\":[]}";
    case TRACE_FORMAT_ZIPKIN:
        return "[]";
    case TRACE_FORMAT_OTLP_PROTO:
        return "";
    default:
        return "{\"resourceSpans\":[]}";
    }
}

static const struct correct_ops *rewriter_for(enum trace_format fmt)
{
    for (size_t i = 0; i < NREWRITERS; i++)
        if (rewriters[i]->in_format == fmt)
            return rewriters[i];
    return NULL;
}

static const char *format_name(enum trace_format fmt)
{
    const struct ingest_ops *ops = ingest_by_format(fmt);

    return ops ? ops->name : "unknown";
}

/* True when the source holds nothing but white space (and a byte order
 * mark), the readers' rule for an input without spans. */
static bool source_blank(struct source *src)
{
    const unsigned char *data;

    return source_skip_space(src) == 0 && source_peek(src, &data, 1) == 0;
}

/* The input format: forced, or detected. Returns 1 with *fmt set, 0 for a
 * blank input, or a negated ingest_status with a message. */
static int input_format(struct source *src, const struct correct_opts *opts,
                        enum trace_format *fmt, char *err, size_t errlen)
{
    const struct ingest_ops *ops;
    uint64_t off, lines, line_start;

    if (opts->in_format != TRACE_FORMAT_AUTO) {
        *fmt = opts->in_format;
        return 1;
    }
    ops = ingest_detect(src);
    if (ops) {
        *fmt = ops->format;
        return 1;
    }
    if (!source_error(src)[0] && source_blank(src))
        return 0;
    if (source_error(src)[0]) {
        snprintf(err, errlen, "%s", source_error(src));
        return source_error_is_data(src) ? -INGEST_E_MALFORMED
                                         : -INGEST_E_NOINPUT;
    }
    source_position(src, &off, &lines, &line_start);
    snprintf(err, errlen,
             "%s:%llu:%llu: unrecognised trace format (expected OTLP JSON, "
             "OTLP protobuf, Jaeger JSON or Zipkin v2 JSON; use --format to "
             "say which)",
             source_name(src), (unsigned long long)lines + 1,
             (unsigned long long)(off - line_start) + 1);
    return -INGEST_E_MALFORMED;
}

/* A blank input gives one empty document (of any format: a blank input
 * has none). */
static int write_empty(FILE *out, enum trace_format fmt, const char *path,
                       char *err, size_t errlen)
{
    const char *doc = correct_empty_document(fmt);

    if ((*doc && fprintf(out, "%s\n", doc) < 0) || fflush(out) != 0) {
        snprintf(err, errlen, "%s: cannot write the corrected output", path);
        return -INGEST_E_NOINPUT;
    }
    return 0;
}

static int check_output(enum trace_format in, enum trace_format out, char *err,
                        size_t errlen)
{
    if (out == TRACE_FORMAT_AUTO || out == in || out == TRACE_FORMAT_OTLP_JSON)
        return 0;
    snprintf(err, errlen,
             "correct writes OTLP JSON or the input's own format (%s), "
             "not %s",
             format_name(in), format_name(out));
    return CORRECT_E_FORMAT;
}

int correct_file(const char *path, const struct correct_opts *opts,
                 const struct clock_model *model, FILE *out,
                 struct correct_stats *stats, char *err, size_t errlen)
{
    struct correct_stats unused;
    struct correct_opts run_opts = *opts;
    const struct correct_ops *ops;
    struct source *src;
    int rc;

    if (!stats)
        stats = &unused;
    memset(stats, 0, sizeof(*stats));
    /* A forced input format lets a usage error show before any I/O. */
    if (opts->in_format != TRACE_FORMAT_AUTO &&
        (rc = check_output(opts->in_format, opts->out_format, err, errlen)))
        return rc;
    src = source_open(path, err, errlen);
    if (!src)
        return -INGEST_E_NOINPUT;
    if ((rc = input_format(src, opts, &run_opts.in_format, err, errlen)) < 0)
        goto out;
    if (rc == 0) {
        rc = write_empty(out, opts->out_format, path, err, errlen);
        goto out;
    }
    if ((rc = check_output(run_opts.in_format, opts->out_format, err,
                           errlen)) != 0)
        goto out;
    if (run_opts.out_format == TRACE_FORMAT_AUTO)
        run_opts.out_format = run_opts.in_format;
    ops = rewriter_for(run_opts.in_format);
    if (!ops) {
        snprintf(err, errlen, "%s: no rewriter for format %s", path,
                 format_name(run_opts.in_format));
        rc = CORRECT_E_FORMAT;
        goto out;
    }
    rc = ops->run(src, &run_opts, model, out, stats, err, errlen);
out:
    source_close(src);
    return rc;
}
