/* libFuzzer target: the JSON paths of `correct` on arbitrary bytes.
 *
 * output/json_split (the document cutter of the Jaeger and Zipkin
 * rewriters), with a small cut size and a small element limit: it must
 * never crash, never hold more than the element limit beyond the complete
 * elements (a piece is at most the cut size plus two elements), and when
 * jansson accepts the input as one document, the splitter must accept it
 * too, unless an element is over the limit (-4), and every piece must be
 * valid JSON.
 *
 * output/correct_otlp_stream (the streaming OTLP JSON rewriter), with a
 * model that knows "a" (5 ms ahead, drifting) and a small element limit:
 * it must never crash; what it writes must be JSON documents, one per line
 * (jansson may refuse only a key holding U+0000 or a number beyond a
 * double, which JSON allows); and when jansson accepts
 * the input as one object without duplicate keys, the stream must accept
 * it too, unless something it holds is over the limit, a time it maps is
 * no integer (the jansson path refuses that as well), or it nests deeper
 * than the readers take (JSON_LEX_MAX_DEPTH; jansson takes more). */
#define _GNU_SOURCE
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ingest/source.h"
#include "model/clock_model.h"
#include "output/correct.h"
#include "output/json_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {"resourceSpans", "data", NULL};

#define MAX_ELEMENT 256

/* Each line of out (n bytes) a JSON document. */
static bool json_lines(const char *out, size_t n)
{
    const char *p = out, *end = out + n;
    json_error_t je;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return false;
        json_t *d = json_loadb(p, (size_t)(nl - p),
                               JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
        /* jansson's own limits, not JSON's */
        if (!d && !strstr(je.text, "NUL byte in object key") &&
            !strstr(je.text, "real number overflow"))
            return false;
        json_decref(d);
        p = nl + 1;
    }
    return true;
}

static void stream(const uint8_t *data, size_t size)
{
    static struct clock_model *m;
    struct correct_opts opts = {TRACE_FORMAT_OTLP_JSON, TRACE_FORMAT_OTLP_JSON,
                                NULL};
    struct correct_stats st = {0, 0};
    char err[512], *out = NULL;
    size_t n = 0, saved = correct_max_element;
    json_error_t je;
    json_t *whole = json_loadb((const char *)data, size,
                               JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    bool valid = json_is_object(whole);
    struct source *src;
    FILE *f;
    int rc;

    json_decref(whole);
    if (!m && (!(m = clock_model_create()) ||
               clock_model_set(m, "a", 5000000, 3.0, 1000) < 0))
        abort();
    src = source_open_memory(data, size, "fuzz", err, sizeof(err));
    f = open_memstream(&out, &n);
    if (!src || !f)
        abort();
    correct_max_element = MAX_ELEMENT;
    rc = correct_otlp_json_ops.run(src, &opts, m, f, &st, err, sizeof(err));
    correct_max_element = saved;
    fclose(f);
    source_close(src);
    if (rc == 0 && !json_lines(out, n))
        abort(); /* wrote something that is not JSON */
    if (rc != 0 && valid && !strstr(err, "of at most") &&
        !strstr(err, "as an integer (ns)") && !strstr(err, "nesting at most")) {
        fprintf(stderr, "refused a valid document: %s\n", err);
        abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[256];
    json_error_t je;
    int fd = memfd_create("fuzz", 0);

    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    json_t *whole = json_loadb((const char *)data, size, 0, &je);
    bool valid = whole && (json_is_object(whole) || json_is_array(whole));
    json_decref(whole);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct source *src = source_open(path, err, sizeof(err));
    struct json_split *s = src ? json_split_create(src, keys, 16) : NULL;
    struct json_piece p;
    int r = s ? 1 : 0;
    if (s)
        json_split_set_max_element(s, MAX_ELEMENT);
    while (s && (r = json_split_next(s, &p, err, sizeof(err))) == 1) {
        json_t *doc = json_loadb(p.text, p.len, 0, &je);
        if (valid && !doc)
            abort(); /* a valid document was cut into an invalid piece */
        if (p.len > 16 + 2 * MAX_ELEMENT + 2)
            abort(); /* held more than the limits allow */
        json_decref(doc);
    }
    if (valid && r != 0 && r != -4)
        abort(); /* a valid document was refused */
    json_split_destroy(s);
    source_close(src);
    close(fd);
    stream(data, size);
    return 0;
}
