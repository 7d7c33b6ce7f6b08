/* fuzz_series_check: what every target whose parser fills a series store
 * checks afterwards (fuzz_prom_text, fuzz_prom_range, fuzz_dpu_counters):
 * each series' times strictly increase, and a store that aligns onto a
 * small enough grid (1 s steps, at most 4096 rows) builds its table.
 * Aborts otherwise. Included once by each target. */
#include <stdint.h>
#include <stdlib.h>

#include "model/series.h"

static void fuzz_series_check(const struct series_store *s)
{
    struct series_align a = {0};
    struct series_table *t = NULL;

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
}
