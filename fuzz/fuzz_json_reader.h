/* fuzz_json_reader: the body shared by the JSON readers' libFuzzer
 * targets. The input goes through a memfd so that the real source/refill
 * path runs; the scanner buffer size is derived from the input length so
 * that tiny buffers (every token straddling a refill) are exercised too.
 * Each target defines FUZZ_READER_OPS and includes this file. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "ingest/json_lex.h"
#include "ingest/source.h"
#include "model/span_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ingest_opts opts = {.format = TRACE_FORMAT_AUTO,
                               .clock_domain_attr =
                                   size % 5 == 0 ? "zone" : NULL,
                               .strict = size % 7 == 0};
    struct span_store *store = NULL;
    struct source *src = NULL;
    char path[64], err[512];
    int fd = memfd_create("fuzz", 0);

    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size)
        goto out;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    src = source_open(path, err, sizeof(err));
    store = span_store_create();
    if (!src || !store)
        goto out;
    json_lex_set_default_bufsize(size % 3 == 0 ? 1 + size % 17 : 0);
    (void)FUZZ_READER_OPS.read(src, store, &opts, err, sizeof(err));
    for (size_t i = 0; i < span_store_count(store); i++)
        if (span_store_at(store, i)->domain >= span_store_domain_count(store))
            abort(); /* every stored span must have a valid domain */
out:
    span_store_destroy(store);
    if (src)
        source_close(src);
    close(fd);
    return 0;
}
