/* json_span: member tables and span checks shared by the JSON readers. */
#include "ingest/json_span.h"

#include <stdio.h>

#include "ingest/ingest.h"
#include "ingest/json_lex.h"
#include "ingest/source.h"
#include "model/span_store.h"
#include "util/ids.h"

#define US_MAX (INT64_MAX / 1000) /* largest microsecond time we can scale */

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
    int64_t us;
    int r = json_lex_int64(lx, &us, expected);

    if (r < 0)
        return r;
    if (us > US_MAX || us < -US_MAX)
        return json_lex_fail(lx, "%s", expected);
    *ns = us * 1000;
    return 0;
}

int json_span_finish_us(struct json_lex *lx, struct span_rec *rec,
                        int64_t dur_ns, bool has_trace, bool has_span,
                        bool has_start, const struct json_span_names *names,
                        size_t index)
{
    const char *miss = NULL;

    if (!has_trace || id_trace_is_zero(rec->trace_id))
        miss = names->trace;
    else if (!has_span || rec->span_id == 0)
        miss = names->span;
    else if (!has_start)
        miss = names->start;
    else if (dur_ns > 0 && rec->start_ns > INT64_MAX - dur_ns)
        miss = "a start time + duration within 64 bits";
    if (miss)
        return json_lex_fail_mark(lx, "%s in span %zu (starting here)", miss,
                                  index);
    rec->end_ns = rec->start_ns + dur_ns;
    return 0;
}

int json_span_read_all(struct source *src, struct json_lex **lxp,
                       int (*each)(void *ctx, int kind), void *ctx, char *err,
                       size_t errlen)
{
    int r;

    *lxp = json_lex_create(src, 0);
    if (!*lxp) {
        snprintf(err, errlen, "%s: out of memory", source_name(src));
        return -INGEST_E_NOMEM;
    }
    while ((r = json_lex_peek(*lxp)) > 0)
        if ((r = each(ctx, r)) < 0)
            break;
    if (r < 0)
        snprintf(err, errlen, "%s", json_lex_message(*lxp));
    json_lex_destroy(*lxp);
    *lxp = NULL;
    return r < 0 ? r : 0;
}
