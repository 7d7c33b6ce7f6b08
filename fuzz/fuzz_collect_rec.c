/* libFuzzer target: the collector's recording reader (ingest/
 * collect_rec.h) on arbitrary bytes. Whatever it stores (all of a good
 * input, the part before the error of a bad one) must have ascending times
 * per series and must survive a round trip: written with
 * collect_rec_write_store(), read back into a second store, every series
 * with the same kind, wrap, times and values (NaN as NaN). The result
 * code is one of the three the header promises. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/collect_rec.h"
#include "ingest/ingest.h"
#include "model/series.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct series_store *a, const struct series_store *b)
{
    for (uint32_t i = 0; i < series_store_count(a); i++) {
        size_t n, len = series_len(a, i);
        const struct series_label *l = series_labels(a, i, &n);
        int64_t j;

        if (!len)
            continue;
        j = series_store_find(b, series_entity(a, i), series_metric(a, i), l,
                              n);
        if (j < 0 || series_kind(a, i) != series_kind(b, (uint32_t)j) ||
            series_wrap(a, i) != series_wrap(b, (uint32_t)j) ||
            series_len(b, (uint32_t)j) != len)
            abort();
        for (size_t k = 0; k < len; k++) {
            double x = series_values(a, i)[k],
                   y = series_values(b, (uint32_t)j)[k];

            if (series_times(a, i)[k] != series_times(b, (uint32_t)j)[k] ||
                (isnan(x) ? !isnan(y) : memcmp(&x, &y, sizeof x) != 0))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct series_store *a = series_store_create(), *b = NULL;
    char err[256], *text = NULL;
    size_t len = 0;
    FILE *f;
    int64_t rc;

    if (!a)
        return 0;
    rc = collect_rec_parse(a, "f", (const char *)data, size, err, sizeof err);
    if (rc < 0 && rc != -INGEST_E_MALFORMED && rc != -INGEST_E_NOMEM)
        abort();
    for (uint32_t id = 0; id < series_store_count(a); id++) {
        const int64_t *ts = series_times(a, id);

        for (size_t k = 1; k < series_len(a, id); k++)
            if (ts[k] <= ts[k - 1])
                abort();
    }
    if ((f = open_memstream(&text, &len)) != NULL) {
        int w = collect_rec_write_store(f, a, err, sizeof err);

        if (fclose(f) == 0 && w == 0 && (b = series_store_create()) != NULL) {
            if (collect_rec_parse(b, "back", text, len, err, sizeof err) < 0)
                abort();
            same(a, b);
            same(b, a);
        }
    }
    free(text);
    series_store_destroy(b);
    series_store_destroy(a);
    return 0;
}
