/* main: the skewscope command. Dispatches to the subcommands of
 * cli/command.h; only code under cli/ decides exit codes. */
#include <stdio.h>
#include <string.h>

#include "cli/command.h"
#include "cli/exit_codes.h"

static const struct command *const commands[] = {
    &cmd_check,   &cmd_estimate,   &cmd_correct, &cmd_simulate, &cmd_inject,
    &cmd_testbed, &cmd_experiment, &cmd_serve,   &cmd_rca,      &cmd_rca_eval,
    &cmd_collect, &cmd_imbalance,  &cmd_report,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: skewscope COMMAND [OPTIONS] [FILE...]\n\n"
                 "Clock skew, causality and drift in distributed traces.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out,
            "\n'skewscope COMMAND --help' describes a command's options.\n"
            "Exit codes: 0 fine, 1 check found violations, 2 usage error,\n"
            "65 malformed input, 66 input not found or unreadable, "
            "70 internal error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_FINE;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "skewscope: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
