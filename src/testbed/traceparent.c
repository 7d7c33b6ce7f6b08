/* traceparent: W3C trace-context header formatting and strict parsing for
 * the testbed's transports (stages put it on each message they send and
 * parent their CONSUMER spans on what they receive). */
#include "testbed/traceparent.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/ids.h"

/* Offsets of the fields in "00-" + 32 + "-" + 16 + "-" + 2. */
enum { TP_TRACE = 3, TP_SPAN = 36, TP_FLAGS = 53 };

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Value of a lowercase hex digit already checked by is_lower_hex(). */
static unsigned nibble(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

static int fail(char *err, size_t errlen, size_t off, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "traceparent: byte %zu: expected %s", off, what);
    return -EINVAL;
}

int traceparent_format(const struct traceparent *tp,
                       char out[TRACEPARENT_LEN + 1])
{
    char trace[33], span[17];

    out[0] = '\0';
    if (id_trace_is_zero(tp->trace_id) || tp->span_id == 0)
        return -EINVAL;
    id_format_trace(tp->trace_id, trace);
    id_format_span(tp->span_id, span);
    snprintf(out, TRACEPARENT_LEN + 1, "00-%s-%s-%02x", trace, span,
             (unsigned)tp->flags);
    return 0;
}

/* Check the shape: separators where they belong, lowercase hex elsewhere. */
static int check_shape(const char *s, size_t len, char *err, size_t errlen)
{
    if (len != TRACEPARENT_LEN)
        return fail(err, errlen, len < TRACEPARENT_LEN ? len : TRACEPARENT_LEN,
                    "exactly 55 characters (version 00)");
    if (s[0] != '0' || s[1] != '0')
        return fail(err, errlen, 0, "version \"00\"");
    for (size_t i = 2; i < len; i++) {
        bool dash = i == TP_TRACE - 1 || i == TP_SPAN - 1 || i == TP_FLAGS - 1;
        if (dash && s[i] != '-')
            return fail(err, errlen, i, "'-'");
        if (!dash && !is_lower_hex(s[i]))
            return fail(err, errlen, i, "a lowercase hex digit");
    }
    return 0;
}

int traceparent_parse(const char *s, size_t len, struct traceparent *tp,
                      char *err, size_t errlen)
{
    uint8_t trace[16];
    uint64_t span;
    int rc = check_shape(s, len, err, errlen);

    if (rc < 0)
        return rc;
    if (id_parse_trace(s + TP_TRACE, 32, trace) < 0 ||
        id_parse_span(s + TP_SPAN, 16, &span) < 0)
        return fail(err, errlen, TP_TRACE, "hex IDs");
    if (id_trace_is_zero(trace))
        return fail(err, errlen, TP_TRACE, "a trace ID that is not all zero");
    if (span == 0)
        return fail(err, errlen, TP_SPAN, "a span ID that is not all zero");
    memcpy(tp->trace_id, trace, 16);
    tp->span_id = span;
    tp->flags = (uint8_t)(nibble(s[TP_FLAGS]) << 4 | nibble(s[TP_FLAGS + 1]));
    return 0;
}
