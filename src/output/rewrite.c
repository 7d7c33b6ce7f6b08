/* rewrite: `skewscope correct` for one request body in memory (see
 * rewrite.h), the correction writer of serve's forwarding path. The correction
 * itself is correct's: protobuf bodies go through output/correct_wire.c (the
 * wire rewriter on the readers' walker, ingest/otlp_walk.h), JSON bodies
 * through correct_otlp_json_ops (the streaming rewriter) over a memory source,
 * into a memory stream; what it writes (one line per document) is merged back
 * into one document.
 *
 * Threads: no shared state. */
#include "output/rewrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest/ingest.h"
#include "ingest/source.h"
#include "output/correct.h"
#include "output/correct_wire.h"

#define BODY_NAME "request body"

int rewrite_otlp_proto(const uint8_t *in, size_t len,
                       const struct clock_model *model,
                       const char *clock_domain_attr, uint8_t **out,
                       size_t *outlen, struct correct_stats *stats, char *err,
                       size_t errlen)
{
    const struct correct_wire_at at = {BODY_NAME, 0, 0};
    struct correct_wire_out o = {NULL, 0, 0};
    int rc = correct_wire_request(in, len, &at, model, clock_domain_attr, &o,
                                  stats, err, errlen);

    *out = NULL;
    *outlen = 0;
    if (rc < 0) {
        free(o.p);
        return rc == -INGEST_E_MALFORMED ? -1 : -2;
    }
    /* Never a NULL buffer on success, even for an empty body. */
    if (!o.p && !(o.p = malloc(1))) {
        snprintf(err, errlen, BODY_NAME ": out of memory");
        return -2;
    }
    *out = o.p;
    *outlen = o.len;
    return 0;
}

/* ---- OTLP/JSON -------------------------------------------------------- */

static const char EMPTY_DOC[] = "{\"resourceSpans\":[]}";

static int json_nomem(char *err, size_t errlen)
{
    snprintf(err, errlen, BODY_NAME ": out of memory");
    return -2;
}

/* The resourceSpans array of a document, in either spelling. */
static json_t *json_resource_spans(json_t *doc)
{
    json_t *a = json_object_get(doc, "resourceSpans");

    return a ? a : json_object_get(doc, "resource_spans");
}

/* One document out of the n-byte output of correct (one per line; n > 0,
 * the last byte a newline): the resourceSpans of every line after the
 * first appended to the first's. */
static int json_merge(const char *buf, size_t n, char **out, size_t *outlen,
                      char *err, size_t errlen)
{
    const char *p = buf, *end = buf + n;
    json_t *first = NULL, *all = NULL;
    int rc = 0;

    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        json_t *doc = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, NULL);
        p = nl < end ? nl + 1 : end;
        if (!doc) {
            rc = json_nomem(err, errlen); /* correct wrote it: valid */
        } else if (!first) {
            first = doc;
            all = json_resource_spans(first);
            if (!json_is_array(all) &&
                json_object_set_new(first, "resourceSpans",
                                    all = json_array()) != 0)
                rc = json_nomem(err, errlen);
        } else {
            json_t *more = json_resource_spans(doc);
            if (json_is_array(more) && json_array_extend(all, more) != 0)
                rc = json_nomem(err, errlen);
            json_decref(doc);
        }
    }
    if (rc == 0) {
        size_t len = json_dumpb(first, NULL, 0, JSON_COMPACT);
        *out = len ? malloc(len + 1) : NULL;
        if (!*out || json_dumpb(first, *out, len, JSON_COMPACT) != len) {
            free(*out);
            *out = NULL;
            rc = json_nomem(err, errlen);
        } else {
            (*out)[len] = '\0';
            *outlen = len;
        }
    }
    json_decref(first);
    return rc;
}

/* What correct wrote (buf, n bytes, taken over) as one document. */
static int json_one_document(char *buf, size_t n, char **out, size_t *outlen,
                             char *err, size_t errlen)
{
    int rc = 0;

    if (n == 0) { /* a blank body: no document */
        free(buf);
        *out = strdup(EMPTY_DOC);
        *outlen = sizeof(EMPTY_DOC) - 1;
        return *out ? 0 : json_nomem(err, errlen);
    }
    if (buf[n - 1] != '\n') { /* correct ends every line */
        free(buf);
        return json_nomem(err, errlen);
    }
    if (!memchr(buf, '\n', n - 1)) {
        buf[n - 1] = '\0';
        *out = buf;
        *outlen = n - 1;
        return 0;
    }
    rc = json_merge(buf, n, out, outlen, err, errlen);
    free(buf);
    return rc;
}

int rewrite_otlp_json(const char *in, size_t len,
                      const struct clock_model *model,
                      const char *clock_domain_attr, char **out, size_t *outlen,
                      struct correct_stats *stats, char *err, size_t errlen)
{
    struct correct_opts opts = {
        .in_format = TRACE_FORMAT_OTLP_JSON,
        .out_format = TRACE_FORMAT_OTLP_JSON,
        .clock_domain_attr = clock_domain_attr,
    };
    struct correct_stats st = {0, 0};
    struct source *src;
    char *buf = NULL;
    size_t n = 0;
    FILE *f;
    int rc;

    *out = NULL;
    *outlen = 0;
    /* The memory source would inflate gzip on its own (as the receiver
     * says, compressed bodies are announced by Content-Encoding). */
    if (in && len >= 2 && (unsigned char)in[0] == 0x1f &&
        (unsigned char)in[1] == 0x8b) {
        snprintf(err, errlen,
                 BODY_NAME ":1:1: gzip data without Content-Encoding: gzip "
                           "(or compressed twice)");
        return -1;
    }
    src = source_open_memory(in ? in : "", len, BODY_NAME, err, errlen);
    if (!src)
        return -2;
    f = open_memstream(&buf, &n);
    if (!f) {
        source_close(src);
        return json_nomem(err, errlen);
    }
    rc = correct_otlp_json_ops.run(src, &opts, model, f, &st, err, errlen);
    if (fclose(f) != 0 && rc == 0)
        rc = -INGEST_E_NOMEM;
    source_close(src);
    if (rc != 0) {
        free(buf);
        if (rc == -INGEST_E_MALFORMED)
            return -1;
        return rc == -INGEST_E_NOMEM ? json_nomem(err, errlen) : -2;
    }
    if ((rc = json_one_document(buf, n, out, outlen, err, errlen)) == 0 &&
        stats) {
        stats->spans += st.spans;
        stats->adjusted += st.adjusted;
    }
    return rc;
}
