/* cmd_imbalance: `skewscope imbalance INPUT...`: skews and imbalances
 * across inference ranks from metrics (Prometheus scrapes and query_range
 * exports, the collector's recordings, DPU/switch counters) and traces
 * (collective arrivals compared on one clock), judged against the runbook. */
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "imbalance/collectives.h"
#include "imbalance/imb_detector.h"
#include "imbalance/imbalance.h"
#include "imbalance/input.h"
#include "imbalance/runbook.h"
#include "ingest/prom_common.h"
#include "model/clock_model.h"
#include "model/series.h"
#include "model/span_store.h"

static const char imbalance_usage[] =
    "usage: skewscope imbalance [--json] [--runbook FILE]... "
    "[--set COND.KEY=VALUE]...\n"
    "                           [--traces FILE]... [--offsets FILE] "
    "[--step S] [--history S]\n"
    "                           [--service-label NAME] INPUT...\n"
    "       skewscope imbalance --list | --print-runbook\n\n"
    "Find skews and imbalances across inference ranks: tensor-parallel\n"
    "stragglers, pipeline stage imbalance, data-parallel load skew,\n"
    "prefill/decode interference, early-stop skew, KV-cache pressure,\n"
    "network congestion, retransmit storms, link flaps, NIC imbalance,\n"
    "PCIe saturation and degraded PCIe links. Each finding names the ranks\n"
    "or links, the evidence, the runbook's root causes and mitigations.\n\n"
    "INPUT is a file or a directory of files: Prometheus text scrapes (one\n"
    "or more per file, '# SCRAPE <unix-s> [target]' lines between them),\n"
    "Prometheus query_range JSON (vLLM, SGLang, TGI, dcgm-exporter names),\n"
    "`skewscope collect` recordings, DPU/switch counters (CSV or JSON lines),\n"
    "or traces (any format `check` reads).\n\n"
    "  --json               machine-readable output\n"
    "  --runbook FILE       load FILE on top of the built-in runbook "
    "(repeatable)\n"
    "  --set COND.KEY=V     override a threshold "
    "(tp_straggler.step_ratio=1.3),\n"
    "                       COND.enabled=false, defaults.step_s=2\n"
    "  --traces FILE        traces of the same run: collective arrivals of\n"
    "                       the tensor-parallel ranks, compared on one clock\n"
    "  --offsets FILE       clock offsets (estimate --json's shape) to apply\n"
    "                       to the traces (default: estimated from them)\n"
    "  --overlap-tol S      collective spans overlap within S (0.001)\n"
    "  --step S             grid step in seconds (runbook: 1)\n"
    "  --history S          how far back detectors look (runbook: 60)\n"
    "  --service-label NAME Prometheus label naming the entity\n"
    "                       (default: service, job, pod)\n"
    "  --list               the conditions, detectors and thresholds\n"
    "  --print-runbook      print the built-in runbook (YAML)\n\n"
    "Exit: 0 nothing found, 1 findings, 2 usage, 65 malformed input or\n"
    "runbook, 66 unreadable input, 70 internal error.\n"
    "Example: skewscope imbalance --traces traces.json scrapes/\n";

struct args {
    bool json, list, print;
    const char **runbooks, **sets, **traces;
    size_t nrunbooks, nsets, ntraces;
    const char *offsets;
    const char *service_label;
    double step, history, tol;
};

static int push(const char ***v, size_t *n, const char *s)
{
    const char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

    if (!nv)
        return EXIT_SOFTWARE;
    *v = nv;
    nv[(*n)++] = s;
    return 0;
}

static int seconds_arg(const char *opt, const char *v, double lo, double *out)
{
    char *end;
    double x = strtod(v, &end);

    if (end == v || *end || !(x >= lo) || !isfinite(x))
        return cli_usage_error("imbalance",
                               "%s: expected seconds >= %g, got "
                               "'%s'",
                               opt, lo, v);
    *out = x;
    return 0;
}

enum {
    O_JSON = 1,
    O_RUNBOOK,
    O_SET,
    O_TRACES,
    O_OFFSETS,
    O_STEP,
    O_HISTORY,
    O_LABEL,
    O_LIST,
    O_PRINT,
    O_TOL
};

static int each(int opt, const char *arg, void *ctx)
{
    struct args *a = ctx;

    switch (opt) {
    case O_JSON:
        a->json = true;
        return 0;
    case O_RUNBOOK:
        return push(&a->runbooks, &a->nrunbooks, arg);
    case O_SET:
        return push(&a->sets, &a->nsets, arg);
    case O_TRACES:
        return push(&a->traces, &a->ntraces, arg);
    case O_OFFSETS:
        a->offsets = arg;
        return 0;
    case O_STEP:
        return seconds_arg("--step", arg, 0.001, &a->step);
    case O_HISTORY:
        return seconds_arg("--history", arg, 1, &a->history);
    case O_TOL:
        return seconds_arg("--overlap-tol", arg, 0, &a->tol);
    case O_LABEL:
        a->service_label = arg;
        return 0;
    case O_LIST:
        a->list = true;
        return 0;
    case O_PRINT:
        a->print = true;
        return 0;
    }
    return EXIT_USAGE;
}

static int exit_of(int status)
{
    switch (-status) {
    case IMB_E_NOMEM:
        return EXIT_SOFTWARE;
    case IMB_E_INVAL:
        return EXIT_USAGE;
    case IMB_E_NOINPUT:
        return EXIT_NOINPUT;
    default:
        return EXIT_DATAERR;
    }
}

static int ingest_exit(int status)
{
    return status == -INGEST_E_NOINPUT ? EXIT_NOINPUT
           : status == -INGEST_E_NOMEM ? EXIT_SOFTWARE
                                       : EXIT_DATAERR;
}

/* The runbook: built in, then --runbook files, then --set, --step. */
static int load_runbook(const struct args *a, struct imb_runbook **out)
{
    struct imb_runbook *rb = imb_runbook_create();
    char err[512];
    int rc;

    if (!rb)
        return EXIT_SOFTWARE;
    *out = rb;
    if ((rc = imb_runbook_load_default(rb, err, sizeof err)) < 0) {
        fprintf(stderr, "skewscope: built-in runbook: %s\n", err);
        return EXIT_SOFTWARE;
    }
    for (size_t i = 0; i < a->nrunbooks; i++)
        if ((rc = imb_runbook_load_file(rb, a->runbooks[i], err, sizeof err)) <
            0) {
            fprintf(stderr, "skewscope: %s\n", err);
            return exit_of(rc);
        }
    for (size_t i = 0; i < a->nsets; i++)
        if ((rc = imb_runbook_set(rb, a->sets[i], err, sizeof err)) < 0)
            return rc == -IMB_E_NOMEM ? EXIT_SOFTWARE
                                      : cli_usage_error("imbalance", "%s", err);
    if (a->step > 0)
        rb->step_s = a->step;
    if (a->history > 0)
        rb->history_s = a->history;
    return 0;
}

static int list_conditions(const struct imb_runbook *rb)
{
    for (size_t i = 0; i < rb->ncond; i++) {
        const struct imb_rb_cond *c = &rb->cond[i];

        printf("%-18s %s%s\n  table %s, detector %s, %s:%u\n", c->id,
               c->title ? c->title : "", c->enabled ? "" : " (disabled)",
               c->table ? c->table : "-", c->detector, c->file, c->line);
        for (const struct imb_param *p = c->det ? c->det->params : NULL;
             p && p->key; p++)
            printf("    %-16s %-10g %s\n", p->key, imb_cond_param(c, p->key),
                   p->doc);
    }
    return EXIT_FINE;
}

/* Files of a directory, sorted, or the path itself. */
static int expand(const char *path, char ***out, size_t *n)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        char **v = realloc(*out, (*n + 1) * sizeof(*v));

        if (!v || !(v[*n] = strdup(path)))
            return EXIT_SOFTWARE;
        *out = v;
        (*n)++;
        return 0;
    }
    if (!(d = opendir(path))) {
        perror(path);
        return EXIT_NOINPUT;
    }
    size_t first = *n;
    while ((e = readdir(d))) {
        char *p;
        char **v;

        if (e->d_name[0] == '.')
            continue;
        if (!(p = malloc(strlen(path) + strlen(e->d_name) + 2)))
            break;
        sprintf(p, "%s/%s", path, e->d_name);
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) ||
            !(v = realloc(*out, (*n + 1) * sizeof(*v)))) {
            free(p);
            continue;
        }
        *out = v;
        v[(*n)++] = p;
    }
    closedir(d);
    for (size_t i = first; i < *n; i++) /* sort by name */
        for (size_t j = i + 1; j < *n; j++)
            if (strcmp((*out)[j], (*out)[i]) < 0) {
                char *t = (*out)[i];
                (*out)[i] = (*out)[j];
                (*out)[j] = t;
            }
    return 0;
}

/* Metric inputs into the store; trace inputs appended to a->traces. */
static int read_inputs(struct args *a, char **files, size_t n,
                       struct series_store *st)
{
    struct prom_opts po = {a->service_label, NULL, NULL, 0};
    char err[512];

    for (size_t i = 0; i < n; i++) {
        int status;
        enum imb_input_kind k =
            imb_input_detect(files[i], &status, err, sizeof err);
        int64_t r;

        if (k == IMB_IN_UNKNOWN) {
            fprintf(stderr, "skewscope: %s\n", err);
            return ingest_exit(status);
        }
        if (k == IMB_IN_TRACES) {
            if (push(&a->traces, &a->ntraces, files[i]))
                return EXIT_SOFTWARE;
            continue;
        }
        if ((r = imb_input_read(st, files[i], k, &po, err, sizeof err)) < 0) {
            fprintf(stderr, "skewscope: %s\n", err);
            return ingest_exit((int)r);
        }
    }
    return 0;
}

/* Collectives from the traces, on the clock of the offsets file or of an
 * estimate of the traces themselves. */
static int read_traces(const struct args *a, struct imb_collectives **out)
{
    struct ingest_opts io = {0};
    struct span_store *s = NULL;
    struct edge_list edges;
    struct clock_model *m = NULL;
    char err[512];
    int rc;

    *out = NULL;
    if (!a->ntraces)
        return 0;
    if ((rc = cli_load((char **)a->traces, (int)a->ntraces, &io, &s, &edges)))
        return rc;
    if (a->offsets) {
        if ((rc = imb_offsets_read(a->offsets, &m, err, sizeof err)) < 0) {
            fprintf(stderr, "skewscope: %s\n", err);
            rc = ingest_exit(rc);
            goto out;
        }
    } else {
        struct clock_estimate e;
        struct estimate_opts eo = {0};

        if (estimate_run(&e, s, &edges, &eo, err, sizeof err) < 0 ||
            !(m = estimate_to_model(&e, s))) {
            clock_estimate_free(&e);
            rc = EXIT_SOFTWARE;
            goto out;
        }
        clock_estimate_free(&e);
    }
    if (!(*out = imb_collectives_create()) ||
        imb_collectives_from_spans(*out, s, m, (int64_t)llround(a->tol * 1e9)) <
            0)
        rc = EXIT_SOFTWARE;
out:
    clock_model_destroy(m);
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

static int run(struct args *a, char **files, size_t n)
{
    struct imb_runbook *rb = NULL;
    struct series_store *st = series_store_create();
    struct imb_collectives *coll = NULL;
    struct imb_engine *e = NULL;
    char err[512];
    int rc;
    int64_t r;

    if (!st)
        return EXIT_SOFTWARE;
    if ((rc = load_runbook(a, &rb)) || (rc = read_inputs(a, files, n, st)) ||
        (rc = read_traces(a, &coll)))
        goto out;
    if (!(e = imb_engine_create(rb))) {
        rc = EXIT_SOFTWARE;
        goto out;
    }
    if ((r = imb_engine_update(e, st, coll, INT64_MAX, err, sizeof err)) < 0) {
        fprintf(stderr, "skewscope imbalance: %s\n", err);
        rc = exit_of((int)r);
        goto out;
    }
    if ((a->json ? imb_report_json(stdout, e) : imb_report_text(stdout, e)) <
        0) {
        fprintf(stderr, "skewscope: cannot write the report\n");
        rc = EXIT_SOFTWARE;
        goto out;
    }
    size_t nf;
    imb_engine_findings(e, &nf);
    rc = nf ? EXIT_VIOLATIONS : EXIT_FINE;
out:
    imb_engine_destroy(e);
    imb_collectives_destroy(coll);
    imb_runbook_destroy(rb);
    series_store_destroy(st);
    return rc;
}

static int imbalance_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"runbook", required_argument, NULL, O_RUNBOOK},
        {"set", required_argument, NULL, O_SET},
        {"traces", required_argument, NULL, O_TRACES},
        {"offsets", required_argument, NULL, O_OFFSETS},
        {"overlap-tol", required_argument, NULL, O_TOL},
        {"step", required_argument, NULL, O_STEP},
        {"history", required_argument, NULL, O_HISTORY},
        {"service-label", required_argument, NULL, O_LABEL},
        {"list", no_argument, NULL, O_LIST},
        {"print-runbook", no_argument, NULL, O_PRINT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct args a = {.tol = 0.001};
    char **files = NULL;
    size_t nfiles = 0;
    int rc = cli_getopt(argc, argv, "imbalance", ":h", longopts,
                        imbalance_usage, each, &a);

    if (rc != 0) {
        rc = rc < 0 ? EXIT_FINE : rc;
        goto out;
    }
    if (a.print) {
        size_t len;
        const char *t = imb_runbook_default_text(&len);

        rc = fwrite(t, 1, len, stdout) == len ? EXIT_FINE : EXIT_SOFTWARE;
        goto out;
    }
    if (a.list) {
        struct imb_runbook *rb = NULL;

        if (!(rc = load_runbook(&a, &rb)))
            rc = list_conditions(rb);
        imb_runbook_destroy(rb);
        goto out;
    }
    if (optind >= argc && !a.ntraces) {
        rc = cli_usage_error("imbalance", "no INPUT");
        goto out;
    }
    for (int i = optind; i < argc; i++)
        if ((rc = expand(argv[i], &files, &nfiles)))
            goto out;
    rc = run(&a, files, nfiles);
out:
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    free(a.runbooks);
    free(a.sets);
    free(a.traces);
    return rc;
}

const struct command cmd_imbalance = {
    .name = "imbalance",
    .summary = "skews and imbalances across inference ranks, with the "
               "runbook's causes and mitigations",
    .run = imbalance_run,
};
