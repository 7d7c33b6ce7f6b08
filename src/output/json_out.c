/* json_out: buffered hand-written JSON output. */
#include "output/json_out.h"

#include <string.h>

#include "util/ids.h"
#include "util/json_esc.h"

void json_out_init(struct json_out *o, FILE *out)
{
    o->out = out;
    o->failed = 0;
    o->len = 0;
}

void json_out_flush(struct json_out *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, o->out) != o->len)
        o->failed = 1;
    o->len = 0;
}

void json_out_put(struct json_out *o, const char *s, size_t n)
{
    if (n > JSON_OUT_BUF - o->len) {
        json_out_flush(o);
        if (n > JSON_OUT_BUF) {
            if (fwrite(s, 1, n, o->out) != n)
                o->failed = 1;
            return;
        }
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

void json_out_i64(struct json_out *o, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    json_out_put(o, p, (size_t)(tmp + sizeof tmp - p));
}

void json_out_str(struct json_out *o, const char *s)
{
    const char *run = s;

    JSON_OUT_LIT(o, "\"");
    for (; s && *s; s++) {
        char esc[6];
        size_t n = json_esc_byte((unsigned char)*s, esc);
        if (!n)
            continue;
        json_out_put(o, run, (size_t)(s - run));
        run = s + 1;
        json_out_put(o, esc, n);
    }
    if (s)
        json_out_put(o, run, (size_t)(s - run));
    JSON_OUT_LIT(o, "\"");
}

void json_out_trace_id(struct json_out *o, const uint8_t id[16])
{
    char hex[33];

    id_format_trace(id, hex);
    JSON_OUT_LIT(o, "\"");
    json_out_put(o, hex, 32);
    JSON_OUT_LIT(o, "\"");
}

void json_out_span_id(struct json_out *o, uint64_t id)
{
    char hex[17];

    id_format_span(id, hex);
    JSON_OUT_LIT(o, "\"");
    json_out_put(o, hex, 16);
    JSON_OUT_LIT(o, "\"");
}
