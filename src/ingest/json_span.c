/* json_span: the driver loop, member tables and span checks shared by the
 * JSON readers. */
#include "ingest/json_span.h"

#include <stdio.h>

#include "ingest/ingest.h"
#include "ingest/json_lex.h"
#include "ingest/source.h"
#include "model/span_store.h"

#define US_TIME_MAX ((uint64_t)SPAN_TIME_MAX / 1000)

int json_key_lookup(const struct json_str *key, const struct json_key_map *map,
                    size_t n, int dflt)
{
    for (size_t i = 0; i < n; i++)
        if (json_key_is(key, map[i].name, map[i].len))
            return map[i].value;
    return dflt;
}

int json_span_read_us(struct json_lex *lx, int64_t *ns, const char *expected)
{
    uint64_t us;
    int r = json_lex_uint64(lx, &us, expected);

    if (r < 0)
        return r;
    *ns = us > US_TIME_MAX ? SPAN_TIME_MAX : (int64_t)us * 1000;
    return 0;
}

int json_span_read_dur_us(struct json_lex *lx, int64_t *ns,
                          const char *expected)
{
    int64_t us;
    int r = json_lex_int64(lx, &us, expected);

    if (r < 0)
        return r;
    if (us > (int64_t)US_TIME_MAX)
        *ns = SPAN_TIME_MAX;
    else if (us < -(int64_t)US_TIME_MAX)
        *ns = -SPAN_TIME_MAX;
    else
        *ns = us * 1000;
    return 0;
}

int json_span_valid(struct json_lex *lx, struct span_store *store, bool strict,
                    const struct span_rec *rec, bool has_times,
                    const struct json_span_names *names, size_t index)
{
    int why = ingest_span_invalid(rec, has_times);
    const char *miss;

    if (why < 0)
        return 1;
    if (!strict) {
        span_store_add_invalid(store, (enum span_invalid)why);
        return 0;
    }
    miss = why == SPAN_INVALID_EMPTY_TRACE_ID  ? names->trace
           : why == SPAN_INVALID_EMPTY_SPAN_ID ? names->span
                                               : names->start;
    return json_lex_fail_mark(lx,
                              "%s in span %zu (starting here; --strict "
                              "refuses spans that cannot be analysed)",
                              miss, index);
}

void json_span_finish_us(struct span_rec *rec, int64_t dur_ns)
{
    rec->end_ns = rec->start_ns + dur_ns;
}

int json_span_read_all(struct source *src, struct json_lex **lxp,
                       int (*each)(void *ctx, int kind), void *ctx,
                       struct json_span_shape *shape, char *err, size_t errlen)
{
    uint64_t line = 0, col = 0;
    size_t values = 0;
    int r;

    *lxp = json_lex_create(src, 0);
    if (!*lxp) {
        snprintf(err, errlen, "%s: out of memory", source_name(src));
        return -INGEST_E_NOMEM;
    }
    while ((r = json_lex_peek(*lxp)) > 0) {
        if (values++ == 0)
            json_lex_position(*lxp, &line, &col);
        if ((r = each(ctx, r)) < 0)
            break;
    }
    if (r < 0) {
        snprintf(err, errlen, "%s", json_lex_message(*lxp));
    } else if (values > 0 && !shape->recognised) {
        snprintf(err, errlen, "%s:%llu:%llu: expected %s%s", source_name(src),
                 (unsigned long long)line, (unsigned long long)col,
                 shape->expected, shape->hint ? shape->hint : "");
        r = -INGEST_E_MALFORMED;
    }
    json_lex_destroy(*lxp);
    *lxp = NULL;
    return r < 0 ? r : 0;
}
