/* libFuzzer target: the Prometheus query_range JSON reader
 * (ingest/prom_range.h, via json_lex) on arbitrary bytes. The input goes
 * through a memfd so that the real source/refill path runs, with the
 * scanner buffer size derived from the input length. Stored series must
 * have ascending times; the store must align onto a grid. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ingest/json_lex.h"
#include "ingest/prom_common.h"
#include "ingest/prom_range.h"
#include "ingest/source.h"
#include "fuzz_series_check.h"
#include "model/series.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct prom_opts o = {size % 2 ? "instance" : NULL, NULL, NULL, 0};
    struct series_store *s = series_store_create();
    struct source *src = NULL;
    char path[64], err[512];
    int fd = memfd_create("fuzz", 0);

    if (fd < 0 || !s)
        goto out;
    if (size && write(fd, data, size) != (ssize_t)size)
        goto out;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    src = source_open(path, err, sizeof(err));
    if (!src)
        goto out;
    json_lex_set_default_bufsize(size % 3 == 0 ? 1 + size % 17 : 0);
    (void)prom_range_read_source(s, src, &o, err, sizeof(err));
    fuzz_series_check(s);
out:
    series_store_destroy(s);
    if (src)
        source_close(src);
    if (fd >= 0)
        close(fd);
    return 0;
}
