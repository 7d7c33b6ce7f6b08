/* cmd_rca_common: what `skewscope rca` and `skewscope rca-eval` share:
 * the case-setup and parameter options, reading a case folder, the exit
 * code of each failure, and JSON numbers. */
#ifndef SKEWSCOPE_CMD_RCA_COMMON_H
#define SKEWSCOPE_CMD_RCA_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rca/rca.h"

struct rcaeval_case;

/* Options common to both commands. */
struct rca_cli_opts {
    struct rca_setup setup;
    uint64_t seed;
    struct rca_kv *kv; /* --param, owned (strings point into argv) */
    size_t nkv;
    char **kv_own; /* the KEY parts, owned */
};

/* Help text for the options handled by rca_cli_option() except
 * --inject-time, which each command words itself. */
#define RCA_CLI_OPTS_USAGE                                                     \
    "  --length MIN        minutes of data around the inject time, half "      \
    "each side\n"                                                              \
    "                      (rca-llm's --length; default 20)\n"                 \
    "  --tdelta S          seconds added to the inject time (rca-llm's "       \
    "--tdelta)\n"                                                              \
    "  --seed S            seed of the stochastic methods (default 0): the "   \
    "same\n"                                                                   \
    "                      seed gives the same ranking\n"

/* Long options (the `val`s 1000..1009 are reserved for these). */
#define RCA_CLI_LONGOPTS                                                       \
    {"inject-time", required_argument, NULL, 1000},                            \
        {"length", required_argument, NULL, 1001},                             \
        {"tdelta", required_argument, NULL, 1002},                             \
        {"seed", required_argument, NULL, 1003},                               \
    {                                                                          \
        "param", required_argument, NULL, 1004                                 \
    }

/* Apply opt if it is one of RCA_CLI_LONGOPTS. Returns 1 when applied, 0
 * when not one of them, or EXIT_USAGE (message printed). allow_time: a
 * number is accepted for --inject-time (rca), else only auto (rca-eval). */
int rca_cli_option(const char *cmd, int opt, const char *arg,
                   struct rca_cli_opts *o, bool allow_time);
void rca_cli_opts_free(struct rca_cli_opts *o);

/* The parameters of method `name`: every --param KEY=VALUE, and every
 * --param NAME.KEY=VALUE with the prefix removed (keys for other methods
 * are left out). kv must hold o->nkv entries. */
struct rca_params rca_cli_params(const struct rca_cli_opts *o, const char *name,
                                 struct rca_kv *kv, bool scoped_only);

/* Read a case folder (a file path means its folder) with what the methods
 * need (inputs: union of RCA_IN_*). Returns 0 or an exit code; err gets
 * the message. */
int rca_cli_read_case(const char *path, unsigned inputs,
                      struct rcaeval_case **out, char *err, size_t errlen);

/* The exit code of a negated rca_status. */
int rca_cli_exit_for(int rc);

/* A JSON number, or null for NaN and infinities (jansson cannot encode
 * them). NULL when out of memory. */
struct json_t;
struct json_t *rca_cli_json_number(double v);

/* jansson's dump flags for both commands: 15 significant digits. */
#define RCA_CLI_JSON_FLAGS (JSON_REAL_PRECISION(15))

#endif
