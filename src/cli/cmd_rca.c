/* cmd_rca: `skewscope rca CASE`: rank the root-cause candidates of one
 * RCAEval case folder with one method. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/cmd_rca_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "ingest/rcaeval.h"
#include "model/series.h"
#include "rca/rca.h"

static const char rca_usage[] =
    "usage: skewscope rca CASE [--method NAME] [--json] [--top K]\n"
    "                     [--inject-time T|auto] [--seed S] [--length MIN]\n"
    "                     [--tdelta S] [--param [METHOD.]KEY=VALUE]...\n"
    "       skewscope rca --list\n\n"
    "Rank the likely root causes of a fault from an RCAEval case folder:\n"
    "data.csv (or simple_metrics.csv) with a `time` column and one column "
    "per\n<service>_<metric>, inject_time.txt, and for multi-source methods "
    "logs.csv /\nlogts.csv and traces.csv / tracets_*.csv. The data are cut "
    "and filled as\nRCAEval's benchmark does (rca-llm main.py); candidates "
    "are printed best first\nas <service>_<metric> with the method's "
    "score.\n\n"
    "  --method NAME       an RCAEval method (default baro); --list shows "
    "them\n"
    "  --json              {\"method\": ..., \"ranking\": [{\"service\", "
    "\"metric\", \"score\"}]}\n"
    "  --top K             show the first K candidates (default: 10 as "
    "text, all\n"
    "                      as JSON)\n"
    "  --inject-time T|auto  Unix seconds of the fault (default: the case's\n"
    "                      inject_time.txt); auto: BARO's change-point "
    "detection\n"
    "                      on the latency and error "
    "metrics\n" RCA_CLI_OPTS_USAGE
    "  --param KEY=VALUE   a method parameter (docs/RCA.md lists them), e.g.\n"
    "                      --param alpha=0.05 for e_diagnosis\n"
    "  --list              the methods, the inputs each needs, and what it "
    "does\n\n"
    "Exit: 0 ranked, 2 usage, 65 malformed case or data the method cannot "
    "rank,\n66 case unreadable, 70 internal error.\n"
    "Example: skewscope rca data/llm-ref-stack/decode_cpu/1 --method nsigma "
    "--top 5\n";

struct rca_cmd {
    struct rca_cli_opts o;
    const char *method;
    bool json;
    bool list;
    long top; /* -1: default */
};

enum { OPT_METHOD = 'm', OPT_JSON = 'j', OPT_TOP = 't', OPT_LIST = 'l' };

static int rca_each(int opt, const char *arg, void *ctx)
{
    struct rca_cmd *c = ctx;
    unsigned u;
    int rc = rca_cli_option("rca", opt, arg, &c->o, true);

    if (rc == 1)
        return 0;
    if (rc != 0)
        return rc;
    switch (opt) {
    case OPT_METHOD:
        c->method = arg;
        return 0;
    case OPT_JSON:
        c->json = true;
        return 0;
    case OPT_LIST:
        c->list = true;
        return 0;
    case OPT_TOP:
        if (cli_parse_uint("--top", arg, &u) < 0)
            return EXIT_USAGE;
        c->top = u;
        return 0;
    default:
        return cli_usage_error("rca", "unexpected option");
    }
}

static void inputs_text(unsigned in, char *buf, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {RCA_IN_METRICS, "metrics"}, {RCA_IN_INJECT, "inject"},
        {RCA_IN_LOGTS, "logts"},     {RCA_IN_TRACETS, "tracets"},
        {RCA_IN_TRACES, "traces"},   {RCA_IN_LOGS, "logs"},
        {RCA_IN_SLI, "sli"},
    };
    size_t used = 0;

    buf[0] = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((in & names[i].bit) && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     used ? "," : "", names[i].name);
}

static int list_methods(void)
{
    char in[128];

    printf("%-20s %-28s %s\n", "method", "needs", "what it does");
    for (size_t i = 0; i < rca_method_count(); i++) {
        const struct rca_method *m = rca_method_at(i);

        inputs_text(rca_method_inputs(m), in, sizeof in);
        printf("%-20s %-28s %s%s\n", rca_method_name(m), in,
               rca_method_summary(m),
               rca_method_stochastic(m) ? " [--seed]" : "");
    }
    return EXIT_FINE;
}

static int print_json(const char *method, const struct rca_ranking *r, size_t n)
{
    json_t *root = json_object(), *arr = json_array();
    int rc = EXIT_FINE;

    if (!root || !arr)
        goto oom;
    if (json_object_set_new(root, "method", json_string(method)) < 0 ||
        json_object_set(root, "ranking", arr) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        size_t sl;
        const char *s = rca_ranking_service(r, i, &sl);
        json_t *it = json_object();

        if (!it || json_array_append_new(arr, it) < 0 ||
            json_object_set_new(it, "service", json_stringn(s, sl)) < 0 ||
            json_object_set_new(it, "metric", json_string(r->items[i].name)) <
                0 ||
            json_object_set_new(it, "score",
                                rca_cli_json_number(r->items[i].score)) < 0)
            goto oom;
    }
    if (json_dumpf(root, stdout, RCA_CLI_JSON_FLAGS) < 0 ||
        fputc('\n', stdout) == EOF)
        rc = EXIT_SOFTWARE;
    goto out;
oom:
    fprintf(stderr, "skewscope rca: out of memory\n");
    rc = EXIT_SOFTWARE;
out:
    json_decref(arr);
    json_decref(root);
    return rc;
}

/* Unix ns as seconds: "1700000600", or with milliseconds when not whole.
 */
static const char *unix_s(int64_t ns, char *buf, size_t len)
{
    int64_t s = ns / 1000000000, f = ns % 1000000000;

    if (f < 0) {
        s--;
        f += 1000000000;
    }
    if (f == 0)
        snprintf(buf, len, "%" PRId64, s);
    else
        snprintf(buf, len, "%" PRId64 ".%03" PRId64, s, f / 1000000);
    return buf;
}

static void print_text(const char *method, const struct rca_case *c,
                       const struct rcaeval_case *src,
                       const struct rca_cli_opts *o,
                       const struct rca_ranking *r, size_t n)
{
    char ts[64];

    printf("case    %s (%zu rows, %zu metrics)\n", c->name, c->metrics->nrows,
           c->metrics->ncols);
    if (c->has_inject)
        printf("inject  %s (%s)\n", unix_s(c->inject_ns, ts, sizeof ts),
               c->inject_detected      ? "detected: BARO change point"
               : o->setup.inject_given ? "--inject-time"
               : src->has_inject_time  ? "inject_time.txt"
                                       : "?");
    else
        printf("inject  unknown\n");
    printf("method  %s\n", method);
    if (r->fallback)
        printf("note    the method failed (%s); this is dummy's ranking "
               "(RCAEval's @rca fallback)\n",
               r->note);
    printf("\n%4s  %-12s  %-20s  %s\n", "rank", "score", "service", "metric");
    for (size_t i = 0; i < n; i++) {
        size_t sl;
        const char *s = rca_ranking_service(r, i, &sl);

        printf("%4zu  %-12.6g  %-20.*s  %s\n", i + 1, r->items[i].score,
               (int)sl, s, r->items[i].name);
    }
    if (n < r->n)
        printf("(%zu more; --top K shows more)\n", r->n - n);
}

static int rca_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"method", required_argument, NULL, OPT_METHOD},
        {"json", no_argument, NULL, OPT_JSON},
        {"top", required_argument, NULL, OPT_TOP},
        {"list", no_argument, NULL, OPT_LIST},
        {"help", no_argument, NULL, 'h'},
        RCA_CLI_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct rca_cmd cmd = {.method = "baro", .top = -1};
    const struct rca_method *m;
    struct rcaeval_case *src = NULL;
    struct rca_case *c = NULL;
    struct rca_ranking r;
    struct rca_kv *kv = NULL;
    struct rca_params p;
    char err[1024] = "";
    size_t n;
    int rc;

    cmd.o.setup.llm_ref_stack = -1;
    rca_ranking_init(&r);
    rc = cli_getopt(argc, argv, "rca", ":h", longopts, rca_usage, rca_each,
                    &cmd);
    if (rc != 0) {
        rc = rc < 0 ? EXIT_FINE : rc; /* -1: --help printed */
        goto out_opts;
    }
    if (cmd.list) {
        rc = list_methods();
        goto out_opts;
    }
    if (!(m = rca_method_find(cmd.method))) {
        rc = cli_usage_error("rca",
                             "unknown method '%s' (skewscope rca "
                             "--list shows them)",
                             cmd.method);
        goto out_opts;
    }
    if (optind != argc - 1) {
        rc = cli_usage_error("rca", optind >= argc ? "no CASE folder"
                                                   : "one CASE folder only");
        goto out_opts;
    }
    if (!(kv = calloc(cmd.o.nkv + 1, sizeof(*kv)))) {
        rc = EXIT_SOFTWARE;
        goto out_opts;
    }
    for (size_t i = 0; i < cmd.o.nkv; i++) {
        const char *k = cmd.o.kv[i].key, *dot = strchr(k, '.');

        if (dot && ((size_t)(dot - k) != strlen(cmd.method) ||
                    strncmp(k, cmd.method, (size_t)(dot - k)))) {
            rc = cli_usage_error("rca",
                                 "--param %s is for another method "
                                 "than %s",
                                 k, cmd.method);
            goto out_opts;
        }
    }
    p = rca_cli_params(&cmd.o, cmd.method, kv, false);
    if (rca_method_validate(m, &p, err, sizeof err) < 0) {
        rc = cli_usage_error("rca", "%s", err);
        goto out_opts;
    }
    if ((rc = rca_cli_read_case(argv[optind], rca_method_inputs(m), &src, err,
                                sizeof err)) != 0) {
        fprintf(stderr, "skewscope rca: %s\n", err);
        goto out_opts;
    }
    if ((rc = rca_case_prepare(src, &cmd.o.setup, &c, err, sizeof err)) < 0 ||
        (rc = rca_rank(m, c, &p, &r, err, sizeof err)) < 0) {
        fprintf(stderr, "skewscope rca: %s\n", err);
        rc = rca_cli_exit_for(rc);
        goto out;
    }
    if (c->inject_detected) {
        char ts[64];

        fprintf(stderr,
                "skewscope rca: inject time detected at %s (row %zu of "
                "%zu)\n",
                unix_s(c->inject_ns, ts, sizeof ts), c->inject_row,
                c->metrics->nrows);
    }
    if (r.fallback)
        fprintf(stderr,
                "skewscope rca: %s failed (%s); ranking with dummy, as "
                "RCAEval's @rca does\n",
                cmd.method, r.note);
    n = cmd.top >= 0 ? (size_t)cmd.top : cmd.json ? r.n : 10;
    if (n > r.n)
        n = r.n;
    if (cmd.json)
        rc = print_json(cmd.method, &r, n);
    else {
        print_text(cmd.method, c, src, &cmd.o, &r, n);
        rc = EXIT_FINE;
    }
    if (rc == EXIT_FINE && fflush(stdout) != 0) {
        fprintf(stderr, "skewscope rca: cannot write the ranking\n");
        rc = EXIT_SOFTWARE;
    }
out:
    rca_ranking_free(&r);
    rca_case_destroy(c);
    rcaeval_case_destroy(src);
out_opts:
    free(kv);
    rca_cli_opts_free(&cmd.o);
    return rc < 0 ? EXIT_SOFTWARE : rc;
}

const struct command cmd_rca = {
    .name = "rca",
    .summary = "rank the root causes of a fault in an RCAEval case",
    .run = rca_run,
};
