/* libFuzzer target: the DPU/switch counter reader (ingest/dpu_counters.h)
 * on arbitrary bytes, CSV or JSON lines. Every stored series must keep its
 * times ascending, and the store must align onto a 1 s grid. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/dpu_counters.h"
#include "model/series.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct series_store *s = series_store_create();
    struct series_align a = {0};
    struct series_table *t = NULL;
    char err[256];

    if (!s)
        return 0;
    (void)dpu_counters_sniff((const char *)data, size);
    (void)dpu_counters_parse(s, "f", (const char *)data, size, err, sizeof err);
    for (size_t id = 0; id < series_store_count(s); id++) {
        const int64_t *ts = series_times(s, (uint32_t)id);

        for (size_t k = 1; k < series_len(s, (uint32_t)id); k++)
            if (ts[k] <= ts[k - 1])
                abort();
    }
    if (series_align_cover(s, NULL, 0, 1000000000, &a) && a.nrows <= 4096) {
        a.agg = SERIES_AGG_AUTO;
        if (series_table_from_store(s, NULL, 0, &a, &t) != 0)
            abort();
        series_table_destroy(t);
    }
    series_store_destroy(s);
    return 0;
}
