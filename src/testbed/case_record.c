/* case_record: a testbed run -> an RCAEval case folder (case_record.h). Scrapes
 * go through prom_text into a series_store; data.csv is aligned from it
 * with the series model's own aggregations (one rule for counters, in
 * src/model) and written with series_csv; traces.csv is the run's OTLP
 * JSON lines through output/traces_csv (the converter `correct`'s output
 * goes through too), logs.csv its JSON log lines. */
#include "testbed/case_record.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ingest/prom_common.h"
#include "ingest/prom_text.h"
#include "model/series.h"
#include "output/series_csv.h"
#include "output/traces_csv.h"
#include "testbed/experiment.h"

#define SEC INT64_C(1000000000)

struct case_record {
    struct series_store *store;
    size_t scrapes, bad;
    char dir[CASE_RECORD_PATH_MAX];
    char logs_path[CASE_RECORD_PATH_MAX];
    char spans_path[CASE_RECORD_PATH_MAX];
    bool own_spans; /* spans_path is ours: removed after conversion */
};

struct case_record *case_record_create(void)
{
    struct case_record *c = calloc(1, sizeof *c);

    if (c && !(c->store = series_store_create())) {
        free(c);
        return NULL;
    }
    return c;
}

void case_record_destroy(struct case_record *c)
{
    if (!c)
        return;
    series_store_destroy(c->store);
    free(c);
}

size_t case_record_scrapes(const struct case_record *c)
{
    return c->scrapes;
}

size_t case_record_bad_scrapes(const struct case_record *c)
{
    return c->bad;
}

void case_record_on_scrape(void *ctx, const char *stage, int64_t unix_ns,
                           const char *body, size_t len)
{
    struct case_record *c = ctx;
    struct prom_opts o = {.entity_label = "service", .default_entity = stage};
    char err[256];

    if (prom_text_parse(c->store, stage, body, len, unix_ns, &o, err,
                        sizeof err) < 0)
        c->bad++;
    else
        c->scrapes++;
}

static int path_in(char *out, const char *dir, const char *name, char *err,
                   size_t errlen)
{
    if (experiment_path(out, CASE_RECORD_PATH_MAX, dir, name) < 0) {
        snprintf(err, errlen, "%s/%s: path too long", dir, name);
        return -1;
    }
    return 0;
}

int case_record_prepare(struct case_record *c, struct pipeline_config *cfg,
                        const char *dir, char *err, size_t errlen)
{
    if (experiment_mkdir_p(dir, err, errlen) < 0)
        return -1;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    if (path_in(c->logs_path, dir, "logs.jsonl", err, errlen) < 0)
        return -1;
    cfg->metrics = true;
    cfg->scrape_fn = case_record_on_scrape;
    cfg->scrape_ctx = c;
    cfg->log_path = c->logs_path;
    cfg->truncate_out = true;
    if (!cfg->out_path && !cfg->otlp_endpoint) {
        if (path_in(c->spans_path, dir, "spans.otlp.jsonl", err, errlen) < 0)
            return -1;
        cfg->out_path = c->spans_path;
        cfg->no_internal_spans = true;
        c->own_spans = true;
    } else if (cfg->out_path) {
        snprintf(c->spans_path, sizeof c->spans_path, "%s", cfg->out_path);
    }
    return 0;
}

int case_record_next_dir(const char *root, const struct pipeline_config *cfg,
                         char *out, size_t outlen, char *err, size_t errlen)
{
    const char *svc = cfg->nfaults ? cfg->faults[0].stage : "normal";
    const char *fault =
        cfg->nfaults ? pipeline_fault_case_name(cfg->faults[0].kind) : "none";
    struct stat st;

    for (unsigned n = 1; n < 100000; n++) {
        if ((size_t)snprintf(out, outlen, "%s/%s_%s/%u", root, svc, fault, n) >=
            outlen) {
            snprintf(err, errlen, "%s: path too long", root);
            return -1;
        }
        if (stat(out, &st) < 0 && errno == ENOENT)
            return 0;
    }
    snprintf(err, errlen, "%s/%s_%s: no free run number", root, svc, fault);
    return -1;
}

/* ---- data.csv ---- */

enum how { LAST, RATE, Q50, Q90, MEAN };

#define FOR_ALL 0x1f
#define FOR_GW 0x01
#define FOR_PF 0x04
#define FOR_DEC 0x10

static const struct col_spec {
    const char *name, *prom;
    enum how how;
    unsigned kinds; /* bit of each stage slot kind: gateway 0, tokenizer 1,
                       prefill 2, detokenizer 3, decode 4 */
} col_specs[] = {
    {"cpu", "container_cpu_usage_seconds_total", RATE, FOR_ALL},
    {"mem", "process_resident_memory_bytes", LAST, FOR_ALL},
    {"net-rx", "skewscope_transport_received_bytes_total", RATE, FOR_ALL},
    {"net-tx", "skewscope_transport_sent_bytes_total", RATE, FOR_ALL},
    {"latency-50", "skewscope_stage_request_duration_seconds", Q50, FOR_ALL},
    {"latency-90", "skewscope_stage_request_duration_seconds", Q90, FOR_ALL},
    {"latency-hop", "skewscope_stage_inbound_hop_seconds", Q50, FOR_ALL},
    {"net-delay", "skewscope_stage_network_delay_seconds", MEAN, FOR_ALL},
    {"workload", "skewscope_stage_requests_total", RATE, FOR_ALL},
    {"running", "vllm:num_requests_running", LAST, FOR_ALL},
    {"waiting", "vllm:num_requests_waiting", LAST, FOR_ALL},
    {"tokens", "vllm:generation_tokens_total", RATE, FOR_GW | FOR_PF | FOR_DEC},
    {"ttft", "vllm:time_to_first_token_seconds", MEAN, FOR_PF},
    {"itl", "vllm:inter_token_latency_seconds", MEAN, FOR_DEC},
    {"kv", "vllm:kv_cache_usage_perc", LAST, FOR_PF | FOR_DEC},
    {"sm-clock", "DCGM_FI_DEV_SM_CLOCK", LAST, FOR_PF | FOR_DEC},
    {"gpu-util", "DCGM_FI_DEV_GPU_UTIL", LAST, FOR_PF | FOR_DEC},
};
#define NSPECS (sizeof col_specs / sizeof col_specs[0])

/* One series of the store aggregated onto the grid: out[nrows]. */
static int agg_series(const struct series_store *s, uint32_t id,
                      const struct series_align *grid, enum series_agg agg,
                      double *out)
{
    struct series_align a = *grid;
    struct series_table *t = NULL;

    a.agg = agg;
    if (series_table_from_store(s, &id, 1, &a, &t) < 0)
        return -1;
    memcpy(out, series_table_col(t, 0), a.nrows * sizeof(double));
    series_table_destroy(t);
    return 0;
}

static int64_t first_id(const struct series_store *s, const char *entity,
                        const char *metric)
{
    uint32_t id;

    return series_store_select(s, entity, metric, NULL, 0, &id, 1) ? (int64_t)id
                                                                   : -1;
}

struct bucket {
    double le;
    double *inc; /* increase per row */
};

static int cmp_bucket(const void *a, const void *b)
{
    double x = ((const struct bucket *)a)->le,
           y = ((const struct bucket *)b)->le;

    return (x > y) - (x < y);
}

/* histogram_quantile() over one row's bucket increases (sorted by le, +Inf
 * last). NaN without observations. */
static double quantile(double q, const struct bucket *b, size_t n, size_t row)
{
    double total = n ? b[n - 1].inc[row] : NAN;

    if (!(total > 0))
        return NAN;
    double rank = q * total, below = 0, lower = 0;
    for (size_t i = 0; i < n; i++) {
        double c = b[i].inc[row];
        if (c >= rank) {
            if (isinf(b[i].le))
                return i > 0 ? b[i - 1].le : NAN;
            if (c <= below)
                return b[i].le;
            return lower + (b[i].le - lower) * (rank - below) / (c - below);
        }
        below = c;
        lower = b[i].le;
    }
    return NAN;
}

static int hist_quantile(const struct series_store *s, const char *entity,
                         const char *prom, double q,
                         const struct series_align *grid, double *out)
{
    char name[128];
    uint32_t ids[32];
    struct bucket b[32];
    int rc = 0;

    snprintf(name, sizeof name, "%s_bucket", prom);
    size_t n = series_store_select(s, entity, name, NULL, 0, ids, 32);
    if (n > 32)
        n = 32;
    size_t nb = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *le = series_label(s, ids[i], "le");
        if (!le)
            continue;
        b[nb].le = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
        if (!(b[nb].inc = malloc(grid->nrows * sizeof(double))))
            rc = -1;
        else
            rc = agg_series(s, ids[i], grid, SERIES_AGG_INCREASE, b[nb++].inc);
    }
    qsort(b, nb, sizeof b[0], cmp_bucket);
    for (size_t r = 0; r < grid->nrows; r++)
        out[r] = rc == 0 ? quantile(q, b, nb, r) : NAN;
    for (size_t i = 0; i < nb; i++)
        free(b[i].inc);
    return rc;
}

static int hist_mean(const struct series_store *s, const char *entity,
                     const char *prom, const struct series_align *grid,
                     double *out)
{
    char name[128];
    double *cnt = malloc(grid->nrows * sizeof(double));
    int rc = -1;

    snprintf(name, sizeof name, "%s_sum", prom);
    int64_t sid = first_id(s, entity, name);
    snprintf(name, sizeof name, "%s_count", prom);
    int64_t cid = first_id(s, entity, name);
    if (!cnt || sid < 0 || cid < 0)
        goto done;
    if (agg_series(s, (uint32_t)sid, grid, SERIES_AGG_INCREASE, out) < 0 ||
        agg_series(s, (uint32_t)cid, grid, SERIES_AGG_INCREASE, cnt) < 0)
        goto done;
    for (size_t r = 0; r < grid->nrows; r++)
        out[r] = cnt[r] > 0 ? out[r] / cnt[r] : NAN;
    rc = 0;
done:
    free(cnt);
    return rc;
}

/* Fill one column; a metric the stage never reported stays NaN. */
static int fill_col(const struct series_store *s, const char *entity,
                    const struct col_spec *cs, const struct series_align *grid,
                    double *out)
{
    int64_t id;

    for (size_t r = 0; r < grid->nrows; r++)
        out[r] = NAN;
    switch (cs->how) {
    case Q50:
    case Q90:
        return hist_quantile(s, entity, cs->prom, cs->how == Q50 ? 0.5 : 0.9,
                             grid, out);
    case MEAN:
        return hist_mean(s, entity, cs->prom, grid, out) < 0 &&
                       first_id(s, entity, cs->prom) >= 0
                   ? -1
                   : 0;
    default:
        id = first_id(s, entity, cs->prom);
        if (id < 0)
            return 0;
        return agg_series(s, (uint32_t)id, grid,
                          cs->how == RATE ? SERIES_AGG_RATE : SERIES_AGG_LAST,
                          out);
    }
}

static unsigned kind_bit(int slot)
{
    return slot >= 4 ? FOR_DEC : 1u << slot;
}

int case_record_table(const struct case_record *c,
                      const struct pipeline_config *cfg,
                      struct series_table **out, char *err, size_t errlen)
{
    struct series_align grid = {0};
    char stages[PIPELINE_MAX_STAGES][PIPELINE_STAGE_NAME_MAX];
    size_t nst = cfg->tp + 4, ncols = 0;

    *out = NULL;
    if (!series_align_cover(c->store, NULL, 0, SEC, &grid)) {
        snprintf(err, errlen, "no metrics were scraped");
        return -1;
    }
    for (size_t i = 0; i < nst; i++) {
        static const char *const fixed[] = {"gateway", "tokenizer", "prefill",
                                            "detokenizer"};
        if (i < 4)
            snprintf(stages[i], sizeof stages[i], "%s", fixed[i]);
        else
            snprintf(stages[i], sizeof stages[i], "decode-%zu", i - 4);
        for (size_t k = 0; k < NSPECS; k++)
            ncols += (col_specs[k].kinds & kind_bit((int)i)) != 0;
    }
    struct series_table *t = series_table_create(grid.nrows, ncols);
    if (!t)
        goto nomem;
    for (size_t r = 0; r < grid.nrows; r++)
        t->time_ns[r] = grid.t0_ns + (int64_t)r * grid.step_ns;
    size_t col = 0;
    for (size_t i = 0; i < nst; i++)
        for (size_t k = 0; k < NSPECS; k++) {
            char name[96];
            if (!(col_specs[k].kinds & kind_bit((int)i)))
                continue;
            snprintf(name, sizeof name, "%s_%s", stages[i], col_specs[k].name);
            if (series_table_set_name(t, col, name) < 0 ||
                fill_col(c->store, stages[i], &col_specs[k], &grid,
                         series_table_col(t, col)) < 0) {
                series_table_destroy(t);
                goto nomem;
            }
            col++;
        }
    *out = t;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory building data.csv");
    return -1;
}

/* ---- logs.csv (traces.csv: output/traces_csv) ---- */

static const char *str_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

static int64_t json_i64(json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

struct log_line {
    int64_t start_ns;
    char *line; /* the CSV fields after time */
};

struct rows {
    struct log_line *v;
    size_t n, cap;
};

static int add_row(struct rows *rs, int64_t start, char *line)
{
    if (!line)
        return -1;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 1024;
        struct log_line *p = realloc(rs->v, cap * sizeof *p);
        if (!p) {
            free(line);
            return -1;
        }
        rs->v = p;
        rs->cap = cap;
    }
    rs->v[rs->n++] = (struct log_line){start, line};
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    int64_t x = ((const struct log_line *)a)->start_ns,
            y = ((const struct log_line *)b)->start_ns;

    return (x > y) - (x < y);
}

static void free_rows(struct rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->v[i].line);
    free(rs->v);
}

/* One log line -> a logs.csv row (NULL line: skipped). */
static int log_row(struct rows *rs, json_t *o)
{
    if (json_object_get(o, "fault")) /* the ground truth: left out */
        return 0;
    int64_t ts = json_i64(json_object_get(o, "timestamp"));
    const char *svc =
        str_or(json_string_value(json_object_get(o, "service")), "");
    const char *msg = str_or(json_string_value(json_object_get(o, "msg")), "");
    const char *level =
        str_or(json_string_value(json_object_get(o, "level")), "");
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    char text[600];

    if (!f)
        return -1;
    snprintf(text, sizeof text, "%s %s", level, msg);
    fprintf(f, ",%" PRId64 ",", ts);
    series_csv_put_field(f, svc);
    fputc(',', f);
    series_csv_put_field(f, text);
    fputc('\n', f);
    if (fclose(f) != 0) {
        free(line);
        return -1;
    }
    return add_row(rs, ts, line);
}

static int write_logs(const char *logs, const char *out, char *err,
                      size_t errlen)
{
    FILE *in = fopen(logs, "r"), *f = NULL;
    struct rows rs = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = -1;

    if (!in) {
        snprintf(err, errlen, "%s: %s", logs, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, in)) > 0) {
        json_t *o = json_loadb(line, (size_t)n, 0, NULL);
        if (!o)
            continue; /* a line cut by a killed stage */
        int r = log_row(&rs, o);
        json_decref(o);
        if (r < 0) {
            snprintf(err, errlen, "out of memory reading %s", logs);
            goto done;
        }
    }
    qsort(rs.v, rs.n, sizeof rs.v[0], cmp_row);
    if (!(f = fopen(out, "w"))) {
        snprintf(err, errlen, "%s: %s", out, strerror(errno));
        goto done;
    }
    fputs("time,timestamp,container_name,message\n", f);
    for (size_t i = 0; i < rs.n; i++) {
        series_csv_put_datetime(f, rs.v[i].start_ns);
        fputs(rs.v[i].line, f);
    }
    rc = fclose(f) == 0 ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s: write failed", out);
done:
    free(line);
    fclose(in);
    free_rows(&rs);
    return rc;
}

static int write_inject_time(const char *dir, const struct pipeline_result *res,
                             char *err, size_t errlen)
{
    char path[CASE_RECORD_PATH_MAX];

    if (path_in(path, dir, "inject_time.txt", err, errlen) < 0)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%" PRId64 "\n", res->windows[0].start_unix_ns / SEC);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: write failed", path);
        return -1;
    }
    return 0;
}

int case_record_write(struct case_record *c, const struct pipeline_config *cfg,
                      const struct pipeline_result *res, char *err,
                      size_t errlen)
{
    struct series_table *t = NULL;
    char path[CASE_RECORD_PATH_MAX];
    int rc = -1;

    if (case_record_table(c, cfg, &t, err, errlen) < 0 ||
        path_in(path, c->dir, "data.csv", err, errlen) < 0 ||
        series_csv_write_file(path, t, err, errlen) < 0)
        goto done;
    if (cfg->nfaults && res->windows[0].start_unix_ns &&
        write_inject_time(c->dir, res, err, errlen) < 0)
        goto done;
    if (c->spans_path[0] &&
        (path_in(path, c->dir, "traces.csv", err, errlen) < 0 ||
         traces_csv_convert_file(c->spans_path, path, NULL, NULL, err, errlen) <
             0))
        goto done;
    if (path_in(path, c->dir, "logs.csv", err, errlen) < 0 ||
        write_logs(c->logs_path, path, err, errlen) < 0)
        goto done;
    rc = 0;
done:
    if (c->own_spans)
        unlink(c->spans_path);
    series_table_destroy(t);
    return rc;
}
