/* cmd_check: `skewscope check FILE...`: causality violations per edge. */
#include <getopt.h>
#include <stdio.h>

#include "analysis/causality.h"
#include "analysis/edges.h"
#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "model/span_store.h"
#include "output/report.h"

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: skewscope check [--json] [--format FMT] [--clock-domain "
            "ATTR] [--strict]\n"
            "                       FILE...\n\n"
            "Find causality violations (\"negative spans\") on every edge "
            "between clock\ndomains: starts_before_parent, ends_after_parent "
            "(synchronous CLIENT->SERVER),\nnegative_duration. FILE may be - "
            "for stdin; gzip is read transparently;\nseveral files are "
            "merged.\n\n"
            "  --json               machine-readable output\n"
            "  --format FMT         auto (default), otlp-json, otlp-proto, "
            "jaeger, zipkin\n"
            "  --clock-domain ATTR  resource attribute naming the clock "
            "domain (default:\n"
            "                       host.id, host.name, service.instance.id, "
            "service.name)\n" CLI_INPUT_USAGE "\n"
            "Exit: 0 no violations, 1 violations found, 2 usage, 65 malformed "
            "input,\n66 unreadable input, 70 internal error.\n"
            "Example: skewscope check --json traces.json.gz\n");
}

static int check_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"format", required_argument, NULL, 'f'},
        {"clock-domain", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        CLI_INPUT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct ingest_opts io = {0};
    bool json = false;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (cli_input_option(opt, optarg, &io))
            continue;
        switch (opt) {
        case 'j':
            json = true;
            break;
        case 'f':
            if (cli_parse_format(optarg, &io.format) < 0)
                return EXIT_USAGE;
            break;
        case 'c':
            io.clock_domain_attr = optarg;
            break;
        case 'h':
            check_usage(stdout);
            return EXIT_FINE;
        default:
            check_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "skewscope check: no input file (use - for stdin)\n");
        check_usage(stderr);
        return EXIT_USAGE;
    }
    struct span_store *s = NULL;
    struct edge_list edges;
    struct causality_report r;
    int rc = cli_load(argv + optind, argc - optind, &io, &s, &edges);
    if (rc != EXIT_FINE)
        return rc;
    if (causality_check(&r, s, &edges) < 0) {
        fprintf(stderr, "skewscope: out of memory\n");
        rc = EXIT_SOFTWARE;
    } else if ((json ? report_check_json(stdout, &r, s)
                     : report_check_text(stdout, &r, s)) < 0) {
        fprintf(stderr, "skewscope: cannot write the report\n");
        rc = EXIT_SOFTWARE;
    } else {
        rc = r.violating_pairs || r.negative_duration ? EXIT_VIOLATIONS
                                                      : EXIT_FINE;
    }
    causality_report_free(&r);
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

const struct command cmd_check = {
    .name = "check",
    .summary = "causality violations per edge between clock domains",
    .run = check_run,
};
