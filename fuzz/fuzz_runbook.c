/* libFuzzer target: the runbook reader (imbalance/runbook.h) on arbitrary
 * bytes as a user's file loaded over the built-in runbook. On success the
 * merged runbook must evaluate a small store (every enabled condition, the
 * user's own included); on failure the message must name the file and the
 * runbook must be unchanged (its condition count). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imbalance/imbalance.h"
#include "imbalance/runbook.h"
#include "model/series.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct series_store *store(void)
{
    static const char *const metrics[] = {
        "vllm:kv_cache_usage_perc", "vllm:num_requests_waiting",
        "DCGM_FI_DEV_GPU_UTIL", "node_network_carrier_changes_total"};
    struct series_store *s = series_store_create();

    for (size_t m = 0; s && m < 4; m++)
        for (int e = 0; e < 2; e++) {
            struct series_desc d = {e ? "decode-1" : "decode-0",
                                    metrics[m],
                                    NULL,
                                    0,
                                    m == 3 ? SERIES_COUNTER : SERIES_GAUGE,
                                    0};
            int64_t id = series_store_intern(s, &d);

            for (int k = 0; id >= 0 && k < 20; k++)
                series_store_append(s, (uint32_t)id,
                                    1700000000000000000LL + k * 1000000000LL,
                                    (double)((k * 7 + e) % 11) / 10);
        }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct imb_runbook *rb = imb_runbook_create();
    struct series_store *s = NULL;
    struct imb_engine *e = NULL;
    char err[512];
    size_t ncond;

    if (!rb || imb_runbook_load_default(rb, err, sizeof err) != 0)
        abort();
    ncond = rb->ncond;
    if (imb_runbook_load_buffer(rb, "fuzz", (const char *)data, size, err,
                                sizeof err) != 0) {
        if (strncmp(err, "fuzz", 4) || rb->ncond != ncond)
            abort();
        goto out;
    }
    /* a step the grid can hold for the test store */
    if (rb->step_s < 0.1)
        rb->step_s = 0.1;
    if ((s = store()) && (e = imb_engine_create(rb)) &&
        imb_engine_update(e, s, NULL, INT64_MAX, err, sizeof err) < 0 &&
        strcmp(err, "out of memory"))
        abort();
out:
    imb_engine_destroy(e);
    series_store_destroy(s);
    imb_runbook_destroy(rb);
    return 0;
}
