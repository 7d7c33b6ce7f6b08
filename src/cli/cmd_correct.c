/* cmd_correct: `skewscope correct FILE -o OUT`: estimate the clocks, then
 * rewrite the traces on the reference clock, originals kept as attributes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "ingest/source.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct.h"

static void correct_usage(FILE *out)
{
    fprintf(out,
            "usage: skewscope correct [-o OUT] [--format FMT] [--input-format "
            "FMT]\n"
            "                         [--reference NODE] [--windows N] "
            "[--no-drift]\n"
            "                         [--clock-domain ATTR] FILE\n\n"
            "Estimate every clock domain's offset and drift (as `estimate` "
            "does), then write\nthe traces with each span's start, end and "
            "event times moved onto the\nreference clock. Each changed span "
            "gets the attributes\nskewscope.clock_offset_ns, "
            "skewscope.original_start_time_unix_nano and\n"
            "skewscope.original_end_time_unix_nano (events: "
            "skewscope.original_time_unix_nano).\n\n"
            "  -o, --output OUT     output file (default: - for stdout); "
            "written atomically\n"
            "  --format FMT         output format: otlp-json (default) or "
            "input (keep the\n"
            "                       input's format; its name works too)\n"
            "  --input-format FMT   auto (default), otlp-json, otlp-proto, "
            "jaeger, zipkin\n"
            "  --reference NODE     reference clock domain (default: most "
            "spans)\n"
            "  --windows N, --no-drift, --clock-domain ATTR: as for "
            "estimate\n\n"
            "Exit: 0 fine, 2 usage, 65 malformed input, 66 unreadable input, "
            "70 internal error.\n"
            "Example: skewscope correct traces.json -o fixed.json\n");
}

struct correct_args {
    struct ingest_opts io;
    struct estimate_opts eo;
    const char *out_path;
    const char *out_format;
    const char *in_path;
};

static int parse_args(int argc, char **argv, struct correct_args *a)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"input-format", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        CLI_ESTIMATE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        int used = cli_estimate_option(opt, optarg, &a->eo, &a->io);
        if (used < 0)
            return -1;
        if (used)
            continue;
        switch (opt) {
        case 'o':
            a->out_path = optarg;
            break;
        case 'f':
            a->out_format = optarg;
            break;
        case 'i':
            if (cli_parse_format(optarg, &a->io.format) < 0)
                return -1;
            break;
        case 'h':
            correct_usage(stdout);
            return 1;
        default:
            correct_usage(stderr);
            return -1;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "skewscope correct: expected exactly one input "
                        "file\n");
        return -1;
    }
    a->in_path = argv[optind];
    return 0;
}

/* Resolve --format into an output format, given the input's. */
static int output_format(const struct correct_args *a, enum trace_format in,
                         enum trace_format *out)
{
    if (!a->out_format || strcmp(a->out_format, "otlp-json") == 0) {
        *out = TRACE_FORMAT_OTLP_JSON;
        return 0;
    }
    const struct ingest_ops *ops = ingest_by_name(a->out_format);
    if (strcmp(a->out_format, "input") == 0 || (ops && ops->format == in)) {
        *out = in;
        return 0;
    }
    fprintf(stderr,
            "skewscope correct: --format must be otlp-json or the input's own "
            "format (%s)\n",
            ingest_by_format(in) ? ingest_by_format(in)->name : "unknown");
    return -1;
}

/* stdin can be read only once; correct reads its input twice. */
static int spool_stdin(char *path, size_t n)
{
    char buf[65536];
    snprintf(path, n, "%s/skewscope-stdin-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    ssize_t r;

    if (fd < 0)
        return -1;
    while ((r = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)r) != r)
            r = -1;
    close(fd);
    if (r < 0)
        unlink(path);
    return r < 0 ? -1 : 0;
}

static enum trace_format detect_input(const char *path,
                                      const struct ingest_opts *io)
{
    char err[256];
    struct source *src;
    const struct ingest_ops *ops;

    if (io->format != TRACE_FORMAT_AUTO)
        return io->format;
    src = source_open(path, err, sizeof(err));
    ops = src ? ingest_detect(src) : NULL;
    source_close(src);
    return ops ? ops->format : TRACE_FORMAT_AUTO;
}

/* Map correct_file()'s result to an exit code. */
static int exit_for(int rc)
{
    if (rc == 0)
        return EXIT_FINE;
    if (rc == CORRECT_E_FORMAT)
        return EXIT_USAGE;
    if (rc == -INGEST_E_MALFORMED)
        return EXIT_DATAERR;
    return rc == -INGEST_E_NOINPUT ? EXIT_NOINPUT : EXIT_SOFTWARE;
}

/* Write to OUT.tmp-XXXXXX and rename it into place only when complete, so
 * a failed run never leaves a truncated OUT behind. */
static int write_output(const struct correct_args *a,
                        const struct correct_opts *co,
                        const struct clock_model *m, struct correct_stats *st)
{
    char tmp[4096], err[1024] = "";
    bool to_file = a->out_path && strcmp(a->out_path, "-") != 0;
    FILE *out = stdout;

    if (to_file) {
        snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", a->out_path);
        int fd = mkstemp(tmp);
        out = fd < 0 ? NULL : fdopen(fd, "w");
        if (!out) {
            fprintf(stderr, "skewscope: %s: %s\n", a->out_path,
                    strerror(errno));
            return EXIT_SOFTWARE;
        }
    }
    int rc = correct_file(a->in_path, co, m, out, st, err, sizeof(err));
    bool write_failed = fflush(out) != 0 || ferror(out);
    if (to_file) {
        write_failed |= fclose(out) != 0;
        if (rc == 0 && !write_failed && rename(tmp, a->out_path) != 0)
            write_failed = true;
        if (rc != 0 || write_failed)
            unlink(tmp);
    }
    if (rc == 0 && write_failed) {
        fprintf(stderr, "skewscope: %s: cannot write: %s\n",
                to_file ? a->out_path : "<stdout>", strerror(errno));
        return EXIT_SOFTWARE;
    }
    if (rc != 0)
        fprintf(stderr, "skewscope: %s\n",
                err[0] ? err : "cannot correct the input");
    return exit_for(rc);
}

static int apply(struct correct_args *a)
{
    struct span_store *s = NULL;
    struct edge_list edges;
    struct clock_estimate e;
    struct correct_stats st = {0};
    struct correct_opts co = {.clock_domain_attr = a->io.clock_domain_attr};
    char err[256] = "";
    int rc = cli_load((char **)&a->in_path, 1, &a->io, &s, &edges);

    if (rc != EXIT_FINE)
        return rc;
    co.in_format = detect_input(a->in_path, &a->io);
    if (output_format(a, co.in_format, &co.out_format) < 0) {
        rc = EXIT_USAGE;
        goto out_edges;
    }
    int er = estimate_run(&e, s, &edges, &a->eo, err, sizeof(err));
    struct clock_model *m = er == 0 ? estimate_to_model(&e, s) : NULL;
    if (er == -2) {
        fprintf(stderr, "skewscope correct: %s\n", err);
        rc = EXIT_USAGE;
    } else if (!m) {
        fprintf(stderr, "skewscope: out of memory\n");
        rc = EXIT_SOFTWARE;
    } else {
        if (!e.consistent)
            fprintf(stderr, "skewscope: warning: timing constraints are "
                            "inconsistent (run estimate); applying the "
                            "least-squares offsets, violations may remain\n");
        rc = write_output(a, &co, m, &st);
        if (rc == EXIT_FINE)
            fprintf(stderr,
                    "skewscope: corrected %zu spans (%zu adjusted) onto "
                    "the clock of %s\n",
                    st.spans, st.adjusted,
                    span_store_domain_name(s, e.reference));
    }
    clock_model_destroy(m);
    clock_estimate_free(&e);
out_edges:
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

static int correct_run(int argc, char **argv)
{
    struct correct_args a = {0};
    char spool[4096] = "";
    int rc = parse_args(argc, argv, &a);

    if (rc)
        return rc > 0 ? EXIT_FINE : EXIT_USAGE;
    if (strcmp(a.in_path, "-") == 0) {
        if (spool_stdin(spool, sizeof(spool)) < 0) {
            fprintf(stderr, "skewscope: cannot spool stdin: %s\n",
                    strerror(errno));
            return EXIT_NOINPUT;
        }
        a.in_path = spool;
    }
    rc = apply(&a);
    if (spool[0])
        unlink(spool);
    return rc;
}

const struct command cmd_correct = {
    .name = "correct",
    .summary = "rewrite traces on the reference clock (originals kept)",
    .run = correct_run,
};
