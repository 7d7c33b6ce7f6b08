/* traceparent: the W3C Trace Context `traceparent` header, the form in which
 * the testbed carries trace context on every hop (a Kafka header, a ZeroMQ
 * header frame). Only version 00 is produced and accepted:
 *
 *     00-<32 lowercase hex trace id>-<16 lowercase hex span id>-<2 hex flags>
 *
 * The span ID is held as a big-endian uint64 (as in util/ids.h), so the hex
 * spelling and the integer agree. Pure functions, callable from any thread. */
#ifndef SKEWSCOPE_TRACEPARENT_H
#define SKEWSCOPE_TRACEPARENT_H

#include <stddef.h>
#include <stdint.h>

/* Length of a version-00 traceparent, without the NUL. */
#define TRACEPARENT_LEN 55

/* Bit 0 of the flags: the caller sampled this trace. */
#define TRACEPARENT_FLAG_SAMPLED 0x01u

struct traceparent {
    uint8_t trace_id[16];
    uint64_t span_id; /* the parent (sending) span */
    uint8_t flags;
};

/* Write tp as a traceparent and a NUL into out (TRACEPARENT_LEN + 1 bytes).
 * Returns 0, or -EINVAL when the trace ID or the span ID is all zero (the
 * specification forbids sending those); out is then an empty string. */
int traceparent_format(const struct traceparent *tp,
                       char out[TRACEPARENT_LEN + 1]);

/* Parse exactly len bytes of s (no NUL needed). Strict: version 00, exactly
 * 55 characters, '-' separators, lowercase hex only, trace ID and span ID
 * not all zero. Returns 0 and fills *tp, or -EINVAL and, when err is not
 * NULL, a message naming the first offending byte offset. */
int traceparent_parse(const char *s, size_t len, struct traceparent *tp,
                      char *err, size_t errlen);

#endif
