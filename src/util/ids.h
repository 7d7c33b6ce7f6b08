/* ids: trace and span identifiers as the input formats spell them.
 * Trace IDs are 16 bytes; span IDs are 8 bytes held as a big-endian uint64
 * (so that the hex spelling and the integer agree). An all-zero ID means
 * "absent" in every format. */
#ifndef SKEWSCOPE_IDS_H
#define SKEWSCOPE_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse a trace ID: 32 hex digits, 16 hex digits (Jaeger/Zipkin 64-bit IDs,
 * left-padded with zeros), or standard base64 of 16 bytes (24 chars, some
 * exporters emit that). Returns 0, or -1 when the text is none of these. */
int id_parse_trace(const char *s, size_t len, uint8_t out[16]);

/* Parse a span ID: 16 hex digits (fewer are left-padded), or base64 of 8
 * bytes (12 chars). An empty string parses as 0 (absent). Returns 0 or -1. */
int id_parse_span(const char *s, size_t len, uint64_t *out);

/* Write 32 lowercase hex digits and a NUL into out (33 bytes). */
void id_format_trace(const uint8_t id[16], char out[33]);
/* Write 16 lowercase hex digits and a NUL into out (17 bytes). */
void id_format_span(uint64_t id, char out[17]);

bool id_trace_is_zero(const uint8_t id[16]);

#endif
