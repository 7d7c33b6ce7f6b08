/* libFuzzer target: output/json_split (the document cutter of `correct`)
 * on arbitrary bytes, with a small cut size. It must never crash, and when
 * jansson accepts the input as one document, the splitter must accept it
 * too and every piece must be valid JSON. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ingest/source.h"
#include "output/json_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {"resourceSpans", "data", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[256];
    json_error_t je;
    int fd = memfd_create("fuzz", 0);

    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    json_t *whole = json_loadb((const char *)data, size, 0, &je);
    bool valid = whole && (json_is_object(whole) || json_is_array(whole));
    json_decref(whole);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct source *src = source_open(path, err, sizeof(err));
    struct json_split *s = src ? json_split_create(src, keys, 16) : NULL;
    struct json_piece p;
    int r = s ? 1 : 0;
    while (s && (r = json_split_next(s, &p, err, sizeof(err))) == 1) {
        json_t *doc = json_loadb(p.text, p.len, 0, &je);
        if (valid && !doc)
            abort(); /* a valid document was cut into an invalid piece */
        json_decref(doc);
    }
    if (valid && r != 0)
        abort(); /* a valid document was refused */
    json_split_destroy(s);
    source_close(src);
    close(fd);
    return 0;
}
