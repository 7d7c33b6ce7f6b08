/* ingest: the registry of input formats, format detection, and reading one
 * file into the span store. */
#include "ingest/ingest.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ingest/source.h"
#include "model/span_store.h"

#define SNIFF_BYTES 4096

/* Detection order matters: the JSON formats sniff for their own keys; the
 * protobuf backend accepts what does not look like text. */
static const struct ingest_ops *const backends[] = {
    &ingest_otlp_json_ops,
    &ingest_jaeger_ops,
    &ingest_zipkin_ops,
    &ingest_otlp_proto_ops,
};
#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct ingest_ops *ingest_by_name(const char *name)
{
    for (size_t i = 0; i < NBACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const struct ingest_ops *ingest_by_format(enum trace_format fmt)
{
    for (size_t i = 0; i < NBACKENDS; i++)
        if (backends[i]->format == fmt)
            return backends[i];
    return NULL;
}

static bool is_blank(const unsigned char *data, size_t n)
{
    size_t i =
        n >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf ? 3 : 0;

    for (; i < n; i++)
        if (!strchr(" \t\r\n", data[i]) || data[i] == 0)
            return false;
    return true;
}

const struct ingest_ops *ingest_detect(struct source *src)
{
    const unsigned char *data;
    ssize_t n = source_peek(src, &data, SNIFF_BYTES);

    if (n == SNIFF_BYTES && is_blank(data, (size_t)n)) {
        /* A document after more white space than the sniff window. */
        if (source_skip_space(src) < 0)
            return NULL;
        n = source_peek(src, &data, SNIFF_BYTES);
    }
    if (n < 0)
        return NULL;
    for (size_t i = 0; i < NBACKENDS; i++)
        if (backends[i]->sniff(data, (size_t)n))
            return backends[i];
    return NULL;
}

/* True when the source holds nothing but white space (ingest_detect()
 * consumed any longer blank run). */
static bool source_blank(struct source *src)
{
    const unsigned char *data;
    ssize_t n = source_peek(src, &data, SNIFF_BYTES);

    return n >= 0 && n < SNIFF_BYTES && is_blank(data, (size_t)n);
}

int ingest_span_invalid(const struct span_rec *rec, bool has_times)
{
    uint64_t hi, lo;

    /* id_trace_is_zero() without the call: this runs once per span. */
    memcpy(&hi, rec->trace_id, 8);
    memcpy(&lo, rec->trace_id + 8, 8);
    if ((hi | lo) == 0)
        return SPAN_INVALID_EMPTY_TRACE_ID;
    if (rec->span_id == 0)
        return SPAN_INVALID_EMPTY_SPAN_ID;
    if (!has_times)
        return SPAN_INVALID_MISSING_TIMESTAMP;
    return -1;
}

int ingest_file(struct span_store *store, const char *path,
                const struct ingest_opts *opts, char *err, size_t errlen)
{
    const struct ingest_ops *ops;
    int rc = 0;
    struct source *src = source_open(path, err, errlen);

    if (!src)
        return -INGEST_E_NOINPUT;
    if (opts->format != TRACE_FORMAT_AUTO) {
        ops = ingest_by_format(opts->format);
    } else {
        ops = ingest_detect(src);
        if (!ops && source_error(src)[0]) {
            snprintf(err, errlen, "%s", source_error(src));
            rc = source_error_is_data(src) ? -INGEST_E_MALFORMED
                                           : -INGEST_E_NOINPUT;
            goto out;
        }
        if (!ops && source_blank(src))
            goto out; /* an empty file holds no spans */
        if (!ops) {
            uint64_t off, lines, line_start;
            source_position(src, &off, &lines, &line_start);
            snprintf(err, errlen,
                     "%s:%llu:%llu: unrecognised trace format (expected OTLP "
                     "JSON, OTLP protobuf, Jaeger JSON or Zipkin v2 JSON; "
                     "use --format to say which)",
                     source_name(src), (unsigned long long)lines + 1,
                     (unsigned long long)(off - line_start) + 1);
            rc = -INGEST_E_MALFORMED;
            goto out;
        }
    }
    rc = ops->read(src, store, opts, err, errlen);
out:
    source_close(src);
    return rc;
}

void ingest_vfail_at(char *err, size_t errlen, const char *name, uint64_t line,
                     uint64_t col, const char *fmt, va_list ap)
{
    int n = snprintf(err, errlen, "%s:%llu:%llu: ", name,
                     (unsigned long long)line, (unsigned long long)col);

    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}
