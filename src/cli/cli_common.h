/* cli_common: what the subcommands share: loading input files into a span
 * store (with the error messages and exit codes docs/CONTRACTS.md promises),
 * and option parsing helpers. */
#ifndef SKEWSCOPE_CLI_COMMON_H
#define SKEWSCOPE_CLI_COMMON_H

#include <stdbool.h>

#include "ingest/ingest.h"

struct span_store;
struct edge_list;

/* Parse a --format value into *fmt ("auto" allowed). Prints an error and
 * returns -1 for an unknown name. */
int cli_parse_format(const char *name, enum trace_format *fmt);

/* Read every file (or "-") into a new indexed store, and build its edge
 * list. Prints errors as "skewscope: FILE:LINE:COL: ..." and returns the
 * exit code (0 when fine); on success *out owns the store. Spans the
 * readers count as invalid (ingest.h) are left out with a warning per
 * file; when nothing valid remains that is EXIT_DATAERR (with
 * opts->strict the readers refuse the first one instead). */
int cli_load(char **files, int nfiles, const struct ingest_opts *opts,
             struct span_store **out, struct edge_list *edges);

/* The options of how input is read, shared by every command that reads
 * traces (check, estimate, correct): list CLI_INPUT_LONGOPTS in the
 * getopt_long table (CLI_ESTIMATE_LONGOPTS includes it) and hand each
 * option to cli_input_option() (cli_estimate_option() does). Returns 1
 * when applied, 0 when the option is not one of them. */
#define CLI_OPT_STRICT 0x5301
#define CLI_INPUT_LONGOPTS                                                     \
    {                                                                          \
        "strict", no_argument, NULL, CLI_OPT_STRICT                            \
    }
/* What the option does, for usage texts. */
#define CLI_INPUT_USAGE                                                        \
    "  --strict             refuse input holding spans that cannot be\n"       \
    "                       analysed (no trace/span ID or start time, an\n"    \
    "                       unknown Jaeger process): exit 65 at the first\n"   \
    "                       one (default: leave them out, count them, and\n"   \
    "                       fail only when no valid span remains)\n"
int cli_input_option(int opt, const char *arg, struct ingest_opts *io);

/* The options that control the clock estimate, shared by `estimate` and
 * `correct`: list CLI_ESTIMATE_LONGOPTS in the getopt_long table and hand
 * each option to cli_estimate_option() first. */
#define CLI_ESTIMATE_LONGOPTS                                                  \
    {"reference", required_argument, NULL, 'r'},                               \
        {"windows", required_argument, NULL, 'w'},                             \
        {"no-drift", no_argument, NULL, 'n'},                                  \
        {"clock-domain", required_argument, NULL, 'c'}, CLI_INPUT_LONGOPTS

struct estimate_opts;

/* Apply option `opt` (with optarg `arg`) if it is one of
 * CLI_ESTIMATE_LONGOPTS (CLI_INPUT_LONGOPTS included). Returns 1 when
 * applied, 0 when the option is not one of them, -1 on a bad value
 * (message printed). */
int cli_estimate_option(int opt, const char *arg, struct estimate_opts *eo,
                        struct ingest_opts *io);

struct option;

/* The exit code of a reader's negated enum ingest_status: 65 malformed,
 * 66 unreadable, 70 anything else (out of memory). rc < 0. */
int cli_exit_for_ingest(int rc);

/* Print "skewscope CMD: <message>" and a pointer to --help on stderr;
 * returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* getopt_long over argv (optind reset; optstring should start with ':'
 * or "+:"): -h/--help prints usage_text and returns -1; an unknown option
 * or a missing value is a usage error (EXIT_USAGE returned); every other
 * option goes to each(opt, optarg, ctx), which returns 0 or an exit code
 * that stops the loop. Returns 0 when every option was accepted; optind
 * then indexes the first operand. */
int cli_getopt(int argc, char **argv, const char *cmd, const char *optstring,
               const struct option *longopts, const char *usage_text,
               int (*each)(int opt, const char *arg, void *ctx), void *ctx);

/* Parse a non-negative integer option value; prints an error, returns -1. */
int cli_parse_uint(const char *opt, const char *value, unsigned *out);

#endif
