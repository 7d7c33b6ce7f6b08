/* libFuzzer target: serve/live_io's import (live_import_json) on arbitrary
 * bytes, the document a `serve` instance reads from its peers. It must
 * never crash or leak. When a document is accepted: the analysis of the
 * result runs (live_update), and its export is accepted again and exports
 * to the same text (the import keeps a struct live's invariants). Merged
 * (twice) into an empty live of 10 s windows, the first merge is accepted
 * exactly when an import with those options is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/live.h"
#include "serve/live_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void analyse(struct live *lv)
{
    struct live_snapshot snap;

    if (live_update(lv, &snap) == 0 && snap.nedges && !snap.reference)
        abort(); /* edges without a reference domain */
    live_snapshot_free(&snap);
}

/* Export lv, import that, export again: the same text. */
static void round_trip(const struct live *lv)
{
    char *a = NULL, *b = NULL, err[256];
    size_t alen, blen;
    struct live *back = NULL;

    if (live_export_json(lv, &a, &alen) != 0)
        return;
    int rc = live_import_json(a, alen, NULL, &back, err, sizeof(err));
    if (rc == LIVE_IO_EDOC || rc == LIVE_IO_EVERSION || rc == LIVE_IO_EWINDOW)
        abort(); /* our own export refused */
    if (rc == 0 && live_export_json(back, &b, &blen) == 0 &&
        (blen != alen || memcmp(a, b, alen) != 0))
        abort(); /* export -> import -> export changed the document */
    free(a);
    free(b);
    live_destroy(back);
}

/* Into an empty live of window 10 s, the first merge does what importing
 * with the same options does; the second may be refused (sums), never
 * half done. */
static void merge_twice(const uint8_t *data, size_t size)
{
    struct live_opts o;
    struct live *alone = NULL, *dst;
    char err[256];

    live_opts_init(&o);
    o.window_s = 10;
    if (!(dst = live_create(&o)))
        return;
    int want = live_import_json((const char *)data, size, &o, &alone, err,
                                sizeof(err));
    live_destroy(alone);
    for (int k = 0; k < 2; k++) {
        int rc =
            live_merge_json(dst, (const char *)data, size, err, sizeof(err));
        if (k == 0 && rc != want && rc != LIVE_IO_ENOMEM &&
            want != LIVE_IO_ENOMEM)
            abort();
    }
    analyse(dst);
    live_destroy(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct live *lv = NULL;
    char err[256] = "";
    int rc =
        live_import_json((const char *)data, size, NULL, &lv, err, sizeof(err));

    if ((rc == 0) != (lv != NULL) || (rc != 0 && !err[0]))
        abort(); /* result and message disagree */
    if (lv) {
        analyse(lv);
        round_trip(lv);
    }
    live_destroy(lv);
    merge_twice(data, size);
    return 0;
}
