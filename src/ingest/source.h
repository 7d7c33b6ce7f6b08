/* source: a byte stream to read a trace file from. Opens a path or "-"
 * (stdin), and inflates gzip transparently (detected by its magic bytes, not
 * the file name). Readers pull bytes with source_read(); format detection
 * looks at the first bytes with source_peek() without consuming them. */
#ifndef SKEWSCOPE_SOURCE_H
#define SKEWSCOPE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct source;

/* Open `path` ("-" = stdin). Returns NULL and fills err (errlen bytes) with
 * "PATH: reason" when it cannot be opened. */
struct source *source_open(const char *path, char *err, size_t errlen);

/* A source over len bytes at data (not copied: they must outlive the
 * source), named `name` in messages; gzip is detected as for files. For
 * request bodies (the OTLP/HTTP receiver) and fuzz targets. Returns NULL
 * with a message in err when out of memory. */
struct source *source_open_memory(const void *data, size_t len,
                                  const char *name, char *err, size_t errlen);

/* Read up to n decompressed bytes. Returns the count, 0 at end of stream, or
 * -1 on a read or inflate error (message in source_error()). */
ssize_t source_read(struct source *src, void *buf, size_t n);

/* Point *data at up to n of the next bytes without consuming them; returns
 * how many are available (fewer only at end of stream), or -1 on error. */
ssize_t source_peek(struct source *src, const unsigned char **data, size_t n);

/* Consume white space (' ', '\t', '\r', '\n'), and a UTF-8 byte order mark
 * before it at the start of the stream, however long it runs. Format
 * detection calls it when the first bytes are all blank; readers take
 * their starting position from source_position(). Returns 0, or -1 on a
 * read or inflate error (message in source_error()). */
int source_skip_space(struct source *src);

/* Where the next byte source_read() returns lies: its offset in the
 * (decompressed) stream, the newlines source_skip_space() consumed before
 * it, and the offset just after the last of them (0 when none). */
void source_position(const struct source *src, uint64_t *offset,
                     uint64_t *lines, uint64_t *line_start);

/* Name for messages: the path, or "<stdin>". */
const char *source_name(const struct source *src);
/* Last error message (empty when none). */
const char *source_error(const struct source *src);
/* True when the last error is in the data (corrupt or truncated gzip,
 * trailing garbage after it): malformed input, not an unreadable one. */
bool source_error_is_data(const struct source *src);
bool source_is_gzip(const struct source *src);

void source_close(struct source *src);

#endif
