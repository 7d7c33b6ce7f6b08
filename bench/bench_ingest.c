/* bench_ingest: time one stage of skewscope on a trace file and print
 * spans/s and memory per span.
 *
 *   bench_ingest check FILE      read + index + edges + causality check
 *   bench_ingest estimate FILE   read + index + edges + clock estimate
 *   bench_ingest jansson FILE    plain jansson parse of the same JSON, from
 *                                memory (for scale; the read is not timed,
 *                                and RSS then includes the file's bytes)
 *
 * Prints one line: mode, spans, seconds (wall), spans/s, peak RSS growth in
 * bytes per span, and the span store's own bytes per span. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "ingest/ingest.h"
#include "model/span_store.h"
#include "bench_util.h"

static long peak_rss_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Count "spanId" keys in a jansson document: how many spans it held. */
static size_t count_spans(json_t *v)
{
    size_t n = 0;
    const char *key;
    json_t *val;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, key, val)
        {
            n += strcmp(key, "spanId") == 0 || strcmp(key, "spanID") == 0;
            n += count_spans(val);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, val) n += count_spans(val);
    }
    return n;
}

/* The whole file is read into memory first and only the parse is timed,
 * so jansson is measured at its best (json_loadb on a buffer). */
static int run_jansson(const char *path, size_t *spans, double *t0)
{
    FILE *f = fopen(path, "rb");
    json_error_t err;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return -1;
    do {
        if (len + 65536 > cap) {
            cap = cap ? 2 * cap : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    *spans = 0;
    *t0 = clock_now_s(CLOCK_MONOTONIC);
    for (size_t off = 0; off < len;) {
        json_t *doc =
            json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK, &err);
        if (!doc)
            break;
        *spans += count_spans(doc);
        json_decref(doc);
        off += (size_t)err.position;
        while (off < len && (buf[off] == '\n' || buf[off] == ' '))
            off++;
    }
    free(buf);
    return 0;
}

static int run_skewscope(const char *mode, const char *path, size_t *spans,
                         size_t *store_bytes)
{
    struct ingest_opts io = {0};
    struct span_store *s = span_store_create();
    struct edge_list l;
    char err[512];
    int rc = -1;

    if (!s || ingest_file(s, path, &io, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        span_store_destroy(s);
        return -1;
    }
    if (span_store_index(s) < 0 || edge_list_build(&l, s) < 0)
        goto out;
    if (strcmp(mode, "check") == 0) {
        struct causality_report r;
        rc = causality_check(&r, s, &l);
        causality_report_free(&r);
    } else {
        struct clock_estimate e;
        struct estimate_opts eo = {0};
        rc = estimate_run(&e, s, &l, &eo, err, sizeof(err));
        clock_estimate_free(&e);
    }
    *spans = span_store_count(s);
    *store_bytes = span_store_memory(s);
    edge_list_free(&l);
out:
    span_store_destroy(s);
    return rc;
}

int main(int argc, char **argv)
{
    size_t spans = 0, store_bytes = 0;
    long rss0 = peak_rss_kb();
    double t0 = clock_now_s(CLOCK_MONOTONIC);
    int rc;

    if (argc != 3) {
        fprintf(stderr, "usage: bench_ingest check|estimate|jansson FILE\n");
        return 2;
    }
    if (strcmp(argv[1], "jansson") == 0)
        rc = run_jansson(argv[2], &spans, &t0);
    else
        rc = run_skewscope(argv[1], argv[2], &spans, &store_bytes);
    double dt = clock_now_s(CLOCK_MONOTONIC) - t0;
    if (rc < 0 || spans == 0) {
        fprintf(stderr, "bench: %s failed\n", argv[1]);
        return 1;
    }
    long rss = peak_rss_kb() - rss0;
    printf("%-9s spans %zu  %.3f s  %.0f spans/s  peak RSS +%.0f B/span  "
           "store %.0f B/span\n",
           argv[1], spans, dt, (double)spans / dt,
           (double)rss * 1024.0 / (double)spans,
           (double)store_bytes / (double)spans);
    return 0;
}
