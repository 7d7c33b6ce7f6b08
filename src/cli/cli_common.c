/* cli_common: loading inputs and mapping library errors to exit codes. */
#include "cli/cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "cli/exit_codes.h"
#include "model/span_store.h"

int cli_parse_format(const char *name, enum trace_format *fmt)
{
    if (strcmp(name, "auto") == 0) {
        *fmt = TRACE_FORMAT_AUTO;
        return 0;
    }
    const struct ingest_ops *ops = ingest_by_name(name);
    if (!ops) {
        fprintf(stderr,
                "skewscope: unknown format '%s' (expected auto, otlp-json, "
                "otlp-proto, jaeger or zipkin)\n",
                name);
        return -1;
    }
    *fmt = ops->format;
    return 0;
}

int cli_parse_uint(const char *opt, const char *value, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);

    if (errno || *end || end == value || value[0] == '-' || v > 1000000) {
        fprintf(stderr, "skewscope: %s expects a whole number, got '%s'\n", opt,
                value);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

int cli_input_option(int opt, const char *arg, struct ingest_opts *io)
{
    (void)arg;
    if (opt != CLI_OPT_STRICT)
        return 0;
    io->strict = true;
    return 1;
}

int cli_estimate_option(int opt, const char *arg, struct estimate_opts *eo,
                        struct ingest_opts *io)
{
    if (cli_input_option(opt, arg, io))
        return 1;
    switch (opt) {
    case 'r':
        eo->reference = arg;
        return 1;
    case 'w':
        return cli_parse_uint("--windows", arg, &eo->windows) < 0 ? -1 : 1;
    case 'n':
        eo->no_drift = true;
        return 1;
    case 'c':
        io->clock_domain_attr = arg;
        return 1;
    default:
        return 0;
    }
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "skewscope %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see skewscope %s --help)\n", cmd);
    return EXIT_USAGE;
}

int cli_getopt(int argc, char **argv, const char *cmd, const char *optstring,
               const struct option *longopts, const char *usage_text,
               int (*each)(int opt, const char *arg, void *ctx), void *ctx)
{
    int opt, rc;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage_text, stdout);
            return -1;
        }
        if (opt == '?')
            return cli_usage_error(cmd, "unknown option '%s'",
                                   argv[optind - 1]);
        if (opt == ':')
            return cli_usage_error(cmd, "option '%s' needs a value",
                                   argv[optind - 1]);
        if ((rc = each(opt, optarg, ctx)) != 0)
            return rc;
    }
    return 0;
}

int cli_exit_for_ingest(int rc)
{
    switch (-rc) {
    case INGEST_E_MALFORMED:
        return EXIT_DATAERR;
    case INGEST_E_NOINPUT:
        return EXIT_NOINPUT;
    default:
        return EXIT_SOFTWARE;
    }
}

/* "missing_timestamp 84, empty_trace_id 2": the invalid spans counted
 * since `before` (per reason), into buf. */
static void invalid_reasons(const struct span_store *s, const size_t *before,
                            char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int r = 0; r < SPAN_INVALID_NREASONS; r++) {
        size_t n = span_store_invalid(s, (enum span_invalid)r) - before[r];
        int k;
        if (n == 0 || used >= len)
            continue;
        k = snprintf(buf + used, len - used, "%s%s %zu", used ? ", " : "",
                     span_invalid_name((enum span_invalid)r), n);
        if (k > 0)
            used += (size_t)k;
    }
}

/* Warn about the spans of `file` that cannot be analysed. */
static void warn_invalid(const struct span_store *s, const char *file,
                         const size_t *before, size_t valid)
{
    char why[256];
    size_t n = 0;

    for (int r = 0; r < SPAN_INVALID_NREASONS; r++)
        n += span_store_invalid(s, (enum span_invalid)r) - before[r];
    if (n == 0)
        return;
    invalid_reasons(s, before, why, sizeof(why));
    fprintf(stderr,
            "skewscope: warning: %s: %zu of %zu spans cannot be analysed and "
            "are left out (%s; --strict refuses such input)\n",
            strcmp(file, "-") == 0 ? "<stdin>" : file, n, n + valid, why);
}

int cli_load(char **files, int nfiles, const struct ingest_opts *opts,
             struct span_store **out, struct edge_list *edges)
{
    char err[1024] = "";
    struct span_store *s = span_store_create();
    size_t before[SPAN_INVALID_NREASONS];

    memset(edges, 0, sizeof(*edges));
    if (!s)
        goto nomem;
    for (int i = 0; i < nfiles; i++) {
        size_t count = span_store_count(s);
        for (int r = 0; r < SPAN_INVALID_NREASONS; r++)
            before[r] = span_store_invalid(s, (enum span_invalid)r);
        int rc = ingest_file(s, files[i], opts, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "skewscope: %s\n", err[0] ? err : "out of memory");
            span_store_destroy(s);
            return cli_exit_for_ingest(rc);
        }
        warn_invalid(s, files[i], before, span_store_count(s) - count);
    }
    if (span_store_count(s) == 0 && span_store_invalid_total(s) > 0) {
        memset(before, 0, sizeof(before));
        invalid_reasons(s, before, err, sizeof(err));
        fprintf(stderr,
                "skewscope: no span can be analysed: all %zu spans read are "
                "invalid (%s)\n",
                span_store_invalid_total(s), err);
        span_store_destroy(s);
        return EXIT_DATAERR;
    }
    if (span_store_index(s) < 0 || edge_list_build(edges, s) < 0)
        goto nomem;
    *out = s;
    return EXIT_FINE;
nomem:
    fprintf(stderr, "skewscope: out of memory\n");
    edge_list_free(edges);
    span_store_destroy(s);
    return EXIT_SOFTWARE;
}
