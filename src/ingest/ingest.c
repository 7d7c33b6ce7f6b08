/* ingest: the registry of input formats, format detection, and reading one
 * file into the span store. */
#include "ingest/ingest.h"

#include <stdio.h>
#include <string.h>

#include "ingest/source.h"

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

const struct ingest_ops *ingest_detect(struct source *src)
{
    const unsigned char *data;
    ssize_t n = source_peek(src, &data, SNIFF_BYTES);

    if (n < 0)
        return NULL;
    for (size_t i = 0; i < NBACKENDS; i++)
        if (backends[i]->sniff(data, (size_t)n))
            return backends[i];
    return NULL;
}

/* True when the source holds nothing but white space. */
static bool source_blank(struct source *src)
{
    const unsigned char *data;
    ssize_t n = source_peek(src, &data, SNIFF_BYTES);

    for (ssize_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", data[i]))
            return false;
    return n < SNIFF_BYTES;
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
            rc = -INGEST_E_NOINPUT;
            goto out;
        }
        if (!ops && source_blank(src))
            goto out; /* an empty file holds no spans */
        if (!ops) {
            snprintf(err, errlen,
                     "%s:1:1: unrecognised trace format (expected OTLP JSON, "
                     "OTLP protobuf, Jaeger JSON or Zipkin v2 JSON; "
                     "use --format to say which)",
                     source_name(src));
            rc = -INGEST_E_MALFORMED;
            goto out;
        }
    }
    rc = ops->read(src, store, opts, err, errlen);
out:
    source_close(src);
    return rc;
}
