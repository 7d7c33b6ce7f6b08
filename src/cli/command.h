/* command: the subcommand table of the skewscope tool. Each subcommand lives
 * in cli/cmd_<name>.c and exports one `struct command`; main.c lists them.
 * run() gets argv with argv[0] = the subcommand name and returns the process
 * exit code (cli/exit_codes.h). */
#ifndef SKEWSCOPE_COMMAND_H
#define SKEWSCOPE_COMMAND_H

#include <stdio.h>

struct command {
    const char *name;
    const char *summary; /* one line for `skewscope --help` */
    int (*run)(int argc, char **argv);
};

extern const struct command cmd_check;
extern const struct command cmd_estimate;
extern const struct command cmd_correct;
extern const struct command cmd_simulate;
extern const struct command cmd_inject;
extern const struct command cmd_testbed;
extern const struct command cmd_experiment;
extern const struct command cmd_serve;
extern const struct command cmd_rca;
extern const struct command cmd_rca_eval;
extern const struct command cmd_collect;
extern const struct command cmd_imbalance;
extern const struct command cmd_report;

#endif
