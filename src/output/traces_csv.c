/* traces_csv: OTLP JSON spans -> RCAEval's traces.csv (traces_csv.h). Sits
 * beside the other writers in src/output; the skew experiment and, in
 * time, the testbed's case recorder turn trace files into RCA cases with
 * it. */
#include "output/traces_csv.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "output/series_csv.h"

struct row {
    int64_t start_ns;
    size_t seq;
    char *line; /* the CSV fields after `time`, newline included */
};

struct rows {
    struct row *v;
    size_t n, cap;
};

static void rows_free(struct rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->v[i].line);
    free(rs->v);
}

static int rows_add(struct rows *rs, int64_t start_ns, char *line)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? 2 * rs->cap : 1024;
        struct row *p = realloc(rs->v, cap * sizeof(*p));
        if (!p) {
            free(line);
            return -1;
        }
        rs->v = p;
        rs->cap = cap;
    }
    rs->v[rs->n] = (struct row){start_ns, rs->n, line};
    rs->n++;
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    const struct row *x = a, *y = b;

    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* ---- OTLP JSON fields ---- */

static const char *str_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

/* An int64 given as a JSON integer or a decimal string (OTLP JSON writes
 * 64-bit times as strings). 0 when neither. */
static int64_t json_i64(json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

/* The string value of attribute key in an OTLP attribute array, or NULL
 * (also when its value is not a string). */
static const char *attr_str(json_t *attrs, const char *key)
{
    size_t i;
    json_t *a;

    json_array_foreach(attrs, i, a)
    {
        if (!strcmp(str_or(json_string_value(json_object_get(a, "key")), ""),
                    key))
            return json_string_value(
                json_object_get(json_object_get(a, "value"), "stringValue"));
    }
    return NULL;
}

static const char *resource_service(json_t *rs)
{
    json_t *attrs =
        json_object_get(json_object_get(rs, "resource"), "attributes");
    const char *host = attr_str(attrs, "host.name");

    if (host && !strncmp(host, "node-", 5))
        return host + 5;
    return str_or(attr_str(attrs, "service.name"), "unknown");
}

static int span_row(struct rows *rs, const char *service, json_t *sp,
                    const struct traces_csv_opts *o)
{
    if (json_i64(json_object_get(sp, "kind")) == 1 && !o->keep_internal)
        return 0;
    json_t *attrs = json_object_get(sp, "attributes");
    int64_t start = json_i64(json_object_get(sp, "startTimeUnixNano"));
    int64_t end = json_i64(json_object_get(sp, "endTimeUnixNano"));
    const char *name =
        str_or(json_string_value(json_object_get(sp, "name")), "");
    json_t *status = json_object_get(json_object_get(sp, "status"), "code");
    bool error = attr_str(attrs, "error") || json_i64(status) == 2;
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);

    if (!f)
        return -1;
    fprintf(f, ",%s,%s,%s,",
            str_or(json_string_value(json_object_get(sp, "traceId")), ""),
            str_or(json_string_value(json_object_get(sp, "spanId")), ""),
            str_or(json_string_value(json_object_get(sp, "parentSpanId")), ""));
    series_csv_put_field(f, service);
    fputc(',', f);
    series_csv_put_field(f, name);
    fputc(',', f);
    series_csv_put_field(f, name);
    fprintf(f, ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%d\n", start / 1000000,
            start / 1000, (end - start) / 1000, error ? 500 : 200);
    if (fclose(f) != 0) {
        free(line);
        return -1;
    }
    return rows_add(rs, start, line);
}

static int document_rows(struct rows *rs, json_t *doc,
                         const struct traces_csv_opts *o)
{
    size_t i, j, k;
    json_t *r, *ss, *sp;

    json_array_foreach(json_object_get(doc, "resourceSpans"), i, r)
    {
        const char *svc = resource_service(r);
        json_array_foreach(json_object_get(r, "scopeSpans"), j, ss)
        {
            json_array_foreach(json_object_get(ss, "spans"), k, sp)
            {
                if (span_row(rs, svc, sp, o) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* Skip white space; false at the end of the input. */
static bool more_input(FILE *in)
{
    int c;

    while ((c = getc(in)) != EOF)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            ungetc(c, in);
            return true;
        }
    return false;
}

static int read_rows(FILE *in, const char *name,
                     const struct traces_csv_opts *o, struct rows *rs,
                     char *err, size_t errlen)
{
    for (size_t doc_no = 1; more_input(in); doc_no++) {
        json_error_t je;
        json_t *doc = json_loadf(in, JSON_DISABLE_EOF_CHECK, &je);

        if (!doc) {
            if (ferror(in)) {
                snprintf(err, errlen, "%s: %s", name, strerror(errno));
                return -INGEST_E_NOINPUT;
            }
            snprintf(err, errlen, "%s: document %zu, line %d, column %d: %s",
                     name, doc_no, je.line, je.column, je.text);
            return -INGEST_E_MALFORMED;
        }
        if (!json_is_object(doc)) {
            json_decref(doc);
            snprintf(err, errlen,
                     "%s: document %zu: expected an OTLP JSON object "
                     "{\"resourceSpans\": [...]}",
                     name, doc_no);
            return -INGEST_E_MALFORMED;
        }
        int r = document_rows(rs, doc, o);
        json_decref(doc);
        if (r < 0) {
            snprintf(err, errlen, "%s: out of memory", name);
            return -INGEST_E_NOMEM;
        }
    }
    if (ferror(in)) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        return -INGEST_E_NOINPUT;
    }
    return 0;
}

static void write_rows(FILE *out, struct rows *rs)
{
    qsort(rs->v, rs->n, sizeof(*rs->v), cmp_row);
    fputs("time,traceID,spanID,parentSpanID,serviceName,methodName,"
          "operationName,startTimeMillis,startTime,duration,statusCode\n",
          out);
    for (size_t i = 0; i < rs->n; i++) {
        series_csv_put_datetime(out, rs->v[i].start_ns);
        fputs(rs->v[i].line, out);
    }
}

int traces_csv_convert(FILE *in, const char *name, FILE *out,
                       const struct traces_csv_opts *o, size_t *nrows,
                       char *err, size_t errlen)
{
    static const struct traces_csv_opts dflt = {0};
    struct rows rs = {0};
    int rc = read_rows(in, name, o ? o : &dflt, &rs, err, errlen);

    if (rc == 0) {
        write_rows(out, &rs);
        if (fflush(out) != 0 || ferror(out)) {
            snprintf(err, errlen, "writing traces.csv: %s", strerror(errno));
            rc = -INGEST_E_NOINPUT;
        } else if (nrows) {
            *nrows = rs.n;
        }
    }
    rows_free(&rs);
    return rc;
}

int traces_csv_convert_file(const char *in_path, const char *out_path,
                            const struct traces_csv_opts *o, size_t *nrows,
                            char *err, size_t errlen)
{
    static const struct traces_csv_opts dflt = {0};
    FILE *in = fopen(in_path, "r"), *out = NULL;
    struct rows rs = {0};
    int rc;

    if (!in) {
        snprintf(err, errlen, "%s: %s", in_path, strerror(errno));
        return -INGEST_E_NOINPUT;
    }
    rc = read_rows(in, in_path, o ? o : &dflt, &rs, err, errlen);
    fclose(in);
    if (rc < 0)
        goto out;
    bool std = !strcmp(out_path, "-");
    if (!(out = std ? stdout : fopen(out_path, "w"))) {
        snprintf(err, errlen, "%s: %s", out_path, strerror(errno));
        rc = -INGEST_E_NOINPUT;
        goto out;
    }
    write_rows(out, &rs);
    if ((std ? fflush(out) : fclose(out)) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", out_path,
                 strerror(errno));
        rc = -INGEST_E_NOINPUT;
        goto out;
    }
    if (nrows)
        *nrows = rs.n;
out:
    rows_free(&rs);
    return rc;
}
