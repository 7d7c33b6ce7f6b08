/* cmd_estimate: `skewscope estimate FILE...`: per-domain offset, bounds and
 * drift. */
#include <getopt.h>
#include <stdio.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "model/span_store.h"
#include "output/report.h"

static void estimate_usage(FILE *out)
{
    fprintf(out,
            "usage: skewscope estimate [--json] [--reference NODE] [--windows "
            "N] [--no-drift]\n"
            "                          [--track] [--format FMT] "
            "[--clock-domain ATTR] [--strict]\n"
            "                          FILE...\n\n"
            "Estimate every clock domain's offset (its clock minus the "
            "reference clock, ns;\npositive = ahead), the tightest bounds the "
            "traces prove (assuming only that a\nmessage never arrives before "
            "it was sent), and drift in ppm with its standard error.\n\n"
            "  --json             machine-readable output\n"
            "  --reference NODE   reference clock domain (default: the "
            "consensus of the\n"
            "                     clocks that agree; the odd one out stands "
            "out)\n"
            "  --windows N        time windows for drift tracking (default: "
            "automatic, up to 8)\n"
            "  --no-drift         assume constant offsets\n"
            "  --track            text output: also show each window's "
            "offset\n"
            "  --format FMT       auto (default), otlp-json, otlp-proto, "
            "jaeger, zipkin\n"
            "  --clock-domain ATTR  attribute naming the clock "
            "domain\n" CLI_INPUT_USAGE "\n"
            "Exit: 0 fine (also when the constraints are inconsistent: see "
            "\"consistent\"),\n2 usage, 65 malformed input, 66 unreadable "
            "input, 70 internal error.\n"
            "Example: skewscope estimate --json --reference node-gateway "
            "traces.json\n");
}

struct estimate_args {
    struct ingest_opts io;
    struct estimate_opts eo;
    bool json, track;
};

static int parse_args(int argc, char **argv, struct estimate_args *a)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"track", no_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        CLI_ESTIMATE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int used = cli_estimate_option(opt, optarg, &a->eo, &a->io);
        if (used < 0)
            return -1;
        if (used)
            continue;
        switch (opt) {
        case 'j':
            a->json = true;
            break;
        case 't':
            a->track = true;
            break;
        case 'f':
            if (cli_parse_format(optarg, &a->io.format) < 0)
                return -1;
            break;
        case 'h':
            estimate_usage(stdout);
            return 1;
        default:
            estimate_usage(stderr);
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "skewscope estimate: no input file (use - for "
                        "stdin)\n");
        return -1;
    }
    return 0;
}

static int estimate_cmd_run(int argc, char **argv)
{
    struct estimate_args a = {0};
    struct span_store *s = NULL;
    struct edge_list edges;
    struct clock_estimate e;
    char err[256] = "";
    int rc = parse_args(argc, argv, &a);

    if (rc)
        return rc > 0 ? EXIT_FINE : EXIT_USAGE;
    rc = cli_load(argv + optind, argc - optind, &a.io, &s, &edges);
    if (rc != EXIT_FINE)
        return rc;
    int er = estimate_run(&e, s, &edges, &a.eo, err, sizeof(err));
    if (er == -2) {
        fprintf(stderr, "skewscope estimate: %s\n", err);
        rc = EXIT_USAGE;
    } else if (er < 0) {
        fprintf(stderr, "skewscope: out of memory\n");
        rc = EXIT_SOFTWARE;
    } else if ((a.json ? report_estimate_json(stdout, &e, s)
                       : report_estimate_text(stdout, &e, s, a.track)) < 0) {
        fprintf(stderr, "skewscope: cannot write the report\n");
        rc = EXIT_SOFTWARE;
    }
    if (er == 0 && !e.consistent)
        fprintf(stderr, "skewscope: warning: the timing constraints are "
                        "inconsistent; see the cycle in the output\n");
    clock_estimate_free(&e);
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

const struct command cmd_estimate = {
    .name = "estimate",
    .summary = "per-domain clock offset, proven bounds and drift",
    .run = estimate_cmd_run,
};
