/* libFuzzer target: the Prometheus text-format reader (ingest/prom_text.h)
 * on arbitrary bytes, twice into one store (a second scrape 1 s later, so
 * that kinds must agree across scrapes), then aligned onto a 1 s grid.
 * Every stored series must have ascending times. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/prom_common.h"
#include "ingest/prom_text.h"
#include "fuzz_series_check.h"
#include "model/series.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct series_label extra[] = {{"rank", "0"}};
    struct prom_opts o = {size % 2 ? "job" : NULL, size % 3 ? "t" : NULL, extra,
                          size % 5 ? 1 : 0};
    struct series_store *s = series_store_create();
    char err[256];

    if (!s)
        return 0;
    if (size % 7 == 0)
        series_store_set_horizon(s, 500000000);
    for (int i = 0; i < 2; i++)
        (void)prom_text_parse(s, "f", (const char *)data, size,
                              1700000000000000000LL + i * 1000000000LL, &o, err,
                              sizeof err);
    fuzz_series_check(s);
    series_store_destroy(s);
    return 0;
}
