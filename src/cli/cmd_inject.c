/* cmd_inject: `skewscope inject --offset 5ms [--drift 20ppm] -- CMD ARGS...`
 * runs any program with a skewed wall clock (libfaketime underneath, see
 * testbed/faketime.h), waits for it and exits with its status, so that
 * teams can put clock skew into their own CI. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "sim/sim.h"
#include "testbed/faketime.h"
#include "util/units.h"

/* Exit codes of inject's own failures (GNU timeout's convention); any other
 * code is the command's. */
#define EXIT_INJECT_FAILED 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

static const char usage_text[] =
    "usage: skewscope inject --offset D [--drift PPM] [options] -- CMD "
    "[ARGS...]\n"
    "\n"
    "Run CMD with a skewed wall clock, as on a host whose clock is badly\n"
    "synchronised, wait for it, and exit with its exit status (128+N when\n"
    "signal N killed it). The skew comes from libfaketime (LD_PRELOAD):\n"
    "CMD sees  real + D + PPM*1e-6 * (time since CMD started).\n"
    "\n"
    "options:\n"
    "  --offset D        clock offset, + = ahead of the real clock; a\n"
    "                    duration with a unit: ns, us, ms, s (\"5ms\",\n"
    "                    \"-300us\") [0]\n"
    "  --drift PPM       clock rate error, + = runs fast (\"20ppm\" or "
    "\"20\")\n"
    "                    [0]\n"
    "  --monotonic       also shift CLOCK_MONOTONIC (off: a real skewed host\n"
    "                    has a wrong wall clock, not a wrong uptime)\n"
    "  --library PATH    libfaketime.so.1 to preload [$SKEWSCOPE_LIBFAKETIME,\n"
    "                    else " FAKETIME_DEBIAN_PATH "]\n"
    "  -h, --help        this text\n"
    "\n"
    "What it cannot reach (the clock there stays the real one):\n"
    "  - statically linked programs (nothing to preload into);\n"
    "  - setuid/setgid programs (the loader ignores LD_PRELOAD for them);\n"
    "  - programs that read the clock through raw syscalls or the vDSO\n"
    "    themselves: Go programs (the Go runtime does), some JVMs and other\n"
    "    runtimes that load libc's time functions with dlopen();\n"
    "  - CLOCK_MONOTONIC, unless --monotonic;\n"
    "  - other hosts, containers started through a daemon (docker run),\n"
    "    and anything not started as a descendant of CMD.\n"
    "Child processes of CMD inherit the skew; each restarts its own drift\n"
    "at its start. Check the effect with: skewscope inject --offset 5s --\n"
    "date\n"
    "\n"
    "exit codes: CMD's status; 2 usage error; 125 inject failed (e.g.\n"
    "libfaketime not installed: apt-get install libfaketime); 126 CMD\n"
    "cannot be executed; 127 CMD not found.\n"
    "\n"
    "example:\n"
    "  skewscope inject --offset 5ms --drift 20ppm -- ./my-consumer --topic "
    "t\n";

static const struct option long_opts[] = {
    {"offset", required_argument, NULL, 'o'},
    {"drift", required_argument, NULL, 'd'},
    {"monotonic", no_argument, NULL, 'm'},
    {"library", required_argument, NULL, 'l'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_one(int opt, const char *v, void *ctx)
{
    struct faketime_config *cfg = ctx;

    switch (opt) {
    case 'o':
        if (sim_parse_duration(v, 0, &cfg->offset_ns) < 0 ||
            cfg->offset_ns > FAKETIME_MAX_OFFSET_NS ||
            cfg->offset_ns < -FAKETIME_MAX_OFFSET_NS)
            return cli_usage_error(
                "inject",
                "--offset wants a duration with a unit within "
                "a year, e.g. 5ms or -300us; got '%s'",
                v);
        return 0;
    case 'd':
        if (units_parse_ppm(v, FAKETIME_MAX_DRIFT_PPM, &cfg->drift_ppm) < 0)
            return cli_usage_error("inject",
                                   "--drift wants ppm within +-100000, e.g. "
                                   "20ppm; got '%s'",
                                   v);
        return 0;
    case 'm':
        cfg->fake_monotonic = true;
        return 0;
    default: /* 'l' */
        cfg->library = v;
        return 0;
    }
}

/* Returns -1 after --help, 0 when parsed (*cmd = index of CMD in argv),
 * else an exit code. */
static int parse_args(int argc, char **argv, struct faketime_config *cfg,
                      int *cmd)
{
    /* '+': stop at CMD, whose own options are not ours. */
    int rc = cli_getopt(argc, argv, "inject", "+:h", long_opts, usage_text,
                        parse_one, cfg);

    if (rc != 0)
        return rc;
    if (optind >= argc)
        return cli_usage_error("inject", "%s",
                               "no command given (... -- CMD [ARGS...])");
    *cmd = optind;
    return 0;
}

static volatile pid_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* While CMD runs: the terminal sends SIGINT/SIGQUIT to CMD as well, so we
 * only outlive it; SIGTERM and SIGHUP sent to us are passed on to CMD. */
static void set_signals(void)
{
    struct sigaction ign = {.sa_handler = SIG_IGN};
    struct sigaction fwd = {.sa_handler = forward_signal};

    sigemptyset(&ign.sa_mask);
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGQUIT, &ign, NULL);
    sigaction(SIGTERM, &fwd, NULL);
    sigaction(SIGHUP, &fwd, NULL);
}

static int wait_child(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "skewscope inject: waitpid: %s\n", strerror(errno));
            return EXIT_INJECT_FAILED;
        }
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return EXIT_INJECT_FAILED;
}

static int inject_run(int argc, char **argv)
{
    struct faketime_config cfg = {0};
    char err[512];
    int cmd = 0, rc = parse_args(argc, argv, &cfg, &cmd);
    pid_t pid;

    if (rc != 0)
        return rc < 0 ? EXIT_FINE : rc;
    rc = faketime_spawn(&cfg, argv + cmd, &pid, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "skewscope inject: %s\n", err);
        return rc == -FAKETIME_E_NOTFOUND ? EXIT_NOT_FOUND
               : rc == -FAKETIME_E_NOEXEC ? EXIT_CANNOT_EXEC
                                          : EXIT_INJECT_FAILED;
    }
    child_pid = pid;
    set_signals();
    return wait_child(pid);
}

const struct command cmd_inject = {
    .name = "inject",
    .summary = "run a program with a skewed wall clock (libfaketime)",
    .run = inject_run,
};
