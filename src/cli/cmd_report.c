/* cmd_report: `skewscope report FILE... -o report.html`: what check and
 * estimate found, as one self-contained HTML file (output/report_html.h)
 * to attach to an incident ticket. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/causality.h"
#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/report_html.h"
#include "util/clock.h"

static void report_usage(FILE *out)
{
    fprintf(out,
            "usage: skewscope report [-o OUT] [--traces N] [--title TEXT] "
            "[--reference NODE]\n"
            "                        [--windows N] [--no-drift] [--format "
            "FMT]\n"
            "                        [--clock-domain ATTR] [--strict] "
            "FILE...\n\n"
            "Write one self-contained HTML file (no network: every byte "
            "inline) with what\ncheck and estimate find in the traces: every "
            "clock's offset with its proven\nbounds and drift over the "
            "windows, the edges sorted by how much of their skew\nbudget "
            "they use, and timelines of the worst traces before and after "
            "correction.\n\n"
            "  -o, --output OUT     output file (default: - for stdout); "
            "written whole or\n"
            "                       not at all\n"
            "  --traces N           timelines of the N traces with the most "
            "violations\n"
            "                       (default 5; 0: none)\n"
            "  --title TEXT         the report's title\n"
            "  --reference NODE     reference clock domain (default: the "
            "consensus)\n"
            "  --windows N          time windows for drift tracking "
            "(default: automatic)\n"
            "  --no-drift           assume constant offsets\n"
            "  --format FMT         auto (default), otlp-json, otlp-proto, "
            "jaeger, zipkin\n"
            "  --clock-domain ATTR  attribute naming the clock "
            "domain\n" CLI_INPUT_USAGE "\n"
            "Exit: 0 written (whatever it found), 2 usage, 65 malformed "
            "input,\n66 unreadable input, 70 internal error or the output "
            "cannot be written.\n"
            "Example: skewscope report traces.json -o report.html\n");
}

struct report_args {
    struct ingest_opts io;
    struct estimate_opts eo;
    const char *out_path;
    const char *title;
    unsigned traces;
};

static int parse_args(int argc, char **argv, struct report_args *a)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"traces", required_argument, NULL, 'T'},
        {"title", required_argument, NULL, 'N'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        CLI_ESTIMATE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        int used = cli_estimate_option(opt, optarg, &a->eo, &a->io);
        if (used < 0)
            return -1;
        if (used)
            continue;
        switch (opt) {
        case 'o':
            a->out_path = optarg;
            break;
        case 'T':
            if (cli_parse_uint("--traces", optarg, &a->traces) < 0)
                return -1;
            break;
        case 'N':
            a->title = optarg;
            break;
        case 'f':
            if (cli_parse_format(optarg, &a->io.format) < 0)
                return -1;
            break;
        case 'h':
            report_usage(stdout);
            return 1;
        default:
            report_usage(stderr);
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "skewscope report: no input file (use - for stdin)\n");
        return -1;
    }
    return 0;
}

/* ---- the output: a temporary file in OUT's directory, renamed over OUT
 * once complete (mode 0666 & ~umask), so a failed run leaves no partial
 * report; "-" or none is stdout. */

struct out {
    const char *path;
    char tmp[PATH_MAX];
    FILE *f;
};

static int out_open(struct out *o)
{
    mode_t um = umask(0);
    int fd;

    umask(um);
    if (!o->path || strcmp(o->path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    if (snprintf(o->tmp, sizeof(o->tmp), "%s.tmp-XXXXXX", o->path) >=
        (int)sizeof(o->tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((fd = mkstemp(o->tmp)) < 0)
        return -1;
    if (fchmod(fd, 0666 & ~um) < 0 || !(o->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* Finish the output (ok: keep it). Returns 0 or -1 (errno set). */
static int out_close(struct out *o, bool ok)
{
    int rc = 0;

    if (o->f == stdout)
        return fflush(stdout) == 0 && ok ? 0 : -1;
    if (fclose(o->f) != 0)
        rc = -1;
    if (ok && rc == 0 && rename(o->tmp, o->path) == 0)
        return 0;
    if (ok && rc == 0)
        rc = -1;
    int e = errno;
    unlink(o->tmp);
    errno = e;
    return ok ? rc : 0;
}

/* Analyse the loaded store and write the report. */
static int analyse_and_write(const struct report_args *a, char **files,
                             int nfiles, struct span_store *s,
                             const struct edge_list *edges)
{
    struct causality_report cr;
    struct clock_estimate e;
    struct clock_model *m = NULL;
    struct out o = {.path = a->out_path};
    char err[512] = "";
    int rc = EXIT_SOFTWARE;
    int er = estimate_run(&e, s, edges, &a->eo, err, sizeof(err));

    if (causality_check(&cr, s, edges) < 0 || er == -1 ||
        (er == 0 && !(m = estimate_to_model(&e, s)))) {
        fprintf(stderr, "skewscope: out of memory\n");
        goto out;
    }
    if (er == -2) {
        fprintf(stderr, "skewscope report: %s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    struct report_html_input in = {
        .store = s,
        .edges = edges,
        .check = &cr,
        .estimate = &e,
        .model = m,
        .files = (const char *const *)files,
        .nfiles = (size_t)nfiles,
        .worst_traces = a->traces,
        .title = a->title,
        .generated_unix_ns = clock_now_ns(CLOCK_REALTIME),
    };
    if (out_open(&o) < 0) {
        fprintf(stderr, "skewscope: %s: %s\n", a->out_path, strerror(errno));
        goto out;
    }
    bool ok = report_html_write(o.f, &in, err, sizeof(err)) == 0;
    if (out_close(&o, ok) < 0 || !ok) {
        fprintf(stderr, "skewscope: %s: %s\n", a->out_path ? a->out_path : "-",
                ok ? strerror(errno) : err);
        goto out;
    }
    if (!e.consistent && e.ndomains)
        fprintf(stderr, "skewscope: warning: the timing constraints are "
                        "inconsistent; the report shows the cycle\n");
    rc = EXIT_FINE;
out:
    clock_model_destroy(m);
    clock_estimate_free(&e);
    causality_report_free(&cr);
    return rc;
}

static int report_cmd_run(int argc, char **argv)
{
    struct report_args a = {.traces = 5};
    struct span_store *s = NULL;
    struct edge_list edges;
    int rc = parse_args(argc, argv, &a);

    if (rc)
        return rc > 0 ? EXIT_FINE : EXIT_USAGE;
    rc = cli_load(argv + optind, argc - optind, &a.io, &s, &edges);
    if (rc != EXIT_FINE)
        return rc;
    rc = analyse_and_write(&a, argv + optind, argc - optind, s, &edges);
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

const struct command cmd_report = {
    .name = "report",
    .summary = "check and estimate as one self-contained HTML file",
    .run = report_cmd_run,
};
