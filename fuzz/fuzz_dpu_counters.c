/* libFuzzer target: the DPU/switch counter reader (ingest/dpu_counters.h)
 * on arbitrary bytes, CSV or JSON lines. Every stored series must keep its
 * times ascending, and the store must align onto a 1 s grid. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/dpu_counters.h"
#include "fuzz_series_check.h"
#include "model/series.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct series_store *s = series_store_create();
    char err[256];

    if (!s)
        return 0;
    (void)dpu_counters_sniff((const char *)data, size);
    (void)dpu_counters_parse(s, "f", (const char *)data, size, err, sizeof err);
    fuzz_series_check(s);
    series_store_destroy(s);
    return 0;
}
