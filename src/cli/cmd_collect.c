/* cmd_collect: `skewscope collect`: sample this host's network, TCP, CPU,
 * pressure, PCIe, AER, RDMA and GPU counters every --interval, serve them
 * on --listen as Prometheus metrics and/or record them to --out (the
 * collector itself is src/collect). SIGTERM or SIGINT stops it cleanly:
 * the recording is flushed and closed. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "collect/collect.h"
#include "collect/collect_http.h"
#include "sim/sim.h"

static const char collect_usage[] =
    "usage: skewscope collect [--interval 10ms] [--duration D] "
    "[--listen HOST:PORT]\n"
    "                         [--out FILE] [--entity NAME] "
    "[--sources LIST]\n"
    "                         [--fast LIST] [--slow-interval 1s] "
    "[--peak-window 1s]\n"
    "                         [--root DIR]\n\n"
    "Sample what this host exposes -- interface counters and link state, TCP\n"
    "retransmits, CPU time and pressure, PCIe link state and AER counters, "
    "RDMA\nport counters, NVIDIA GPUs through NVML (loaded at run time) -- "
    "every\n--interval, and serve them as Prometheus metrics (node-exporter "
    "and\ndcgm-exporter names) and/or record every sample. Sources this host "
    "lacks\nare left out and named once on stderr.\n\n"
    "  --interval D        fast sampling interval (default 10ms)\n"
    "  --slow-interval D   interval of the slow parts: link state, PCIe, AER,\n"
    "                      RDMA, most NVML fields (default 1s)\n"
    "  --duration D        stop after D (default: run until SIGTERM/SIGINT)\n"
    "  --listen HOST:PORT  serve GET /metrics (port 0: any free port, "
    "announced\n"
    "                      on stdout)\n"
    "  --out FILE          record every sample: CSV time_ns,entity,metric,"
    "labels,\n"
    "                      kind,value (gzip when FILE ends in .gz; - = "
    "stdout)\n"
    "  --entity NAME       entity of the series (default: the host name)\n"
    "  --sources LIST      sample only these of " COLLECT_SOURCES "\n"
    "  --fast LIST         read these sources' slow parts every interval too\n"
    "                      (e.g. rdma: port counters at 100 Hz)\n"
    "  --peak-window D     window of skewscope_collect_peak_rate_per_second\n"
    "                      (default 1s)\n"
    "  --root DIR          read /proc and /sys under DIR (a container with "
    "the\n"
    "                      host's mounted at /host: --root /host)\n\n"
    "NVML: libnvidia-ml.so.1, or the library named by $SKEWSCOPE_NVML_LIB.\n"
    "Exit: 0 stopped, 2 usage, 66 --out cannot be created, 69 cannot listen,\n"
    "70 internal error (including a failed write of the recording).\n"
    "Example: skewscope collect --interval 10ms --listen 0.0.0.0:9101 --out "
    "node3.csv.gz\n";

struct collect_args {
    struct collect_config cfg;
    int64_t duration_ns;
    const char *listen;
};

enum {
    OPT_INTERVAL = 0x300,
    OPT_SLOW,
    OPT_DURATION,
    OPT_LISTEN,
    OPT_OUT,
    OPT_ENTITY,
    OPT_SOURCES,
    OPT_FAST,
    OPT_PEAK,
    OPT_ROOT,
};

static int duration_opt(const char *opt, const char *v, int64_t *ns)
{
    if (sim_parse_duration(v, 0, ns) < 0 || *ns <= 0)
        return cli_usage_error(
            "collect", "%s expects a duration like 10ms, got '%s'", opt, v);
    return 0;
}

static int each(int opt, const char *arg, void *ctx)
{
    struct collect_args *a = ctx;

    switch (opt) {
    case OPT_INTERVAL:
        return duration_opt("--interval", arg, &a->cfg.interval_ns);
    case OPT_SLOW:
        return duration_opt("--slow-interval", arg, &a->cfg.slow_interval_ns);
    case OPT_DURATION:
        return duration_opt("--duration", arg, &a->duration_ns);
    case OPT_PEAK:
        return duration_opt("--peak-window", arg, &a->cfg.peak_window_ns);
    case OPT_LISTEN:
        a->listen = arg;
        return 0;
    case OPT_OUT:
        a->cfg.out = arg;
        return 0;
    case OPT_ENTITY:
        a->cfg.entity = arg;
        return 0;
    case OPT_SOURCES:
        a->cfg.sources = arg;
        return 0;
    case OPT_FAST:
        a->cfg.fast = arg;
        return 0;
    case OPT_ROOT:
        a->cfg.root = arg;
        return 0;
    default:
        return cli_usage_error("collect", "unexpected option");
    }
}

static int parse_args(int argc, char **argv, struct collect_args *a)
{
    static const struct option longopts[] = {
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"slow-interval", required_argument, NULL, OPT_SLOW},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"out", required_argument, NULL, OPT_OUT},
        {"entity", required_argument, NULL, OPT_ENTITY},
        {"sources", required_argument, NULL, OPT_SOURCES},
        {"fast", required_argument, NULL, OPT_FAST},
        {"peak-window", required_argument, NULL, OPT_PEAK},
        {"root", required_argument, NULL, OPT_ROOT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rc = cli_getopt(argc, argv, "collect", ":h", longopts, collect_usage,
                        each, a);

    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error("collect", "unexpected argument '%s'",
                               argv[optind]);
    if (!a->listen && !a->cfg.out)
        return cli_usage_error("collect",
                               "nothing to do: give --listen and/or --out");
    return 0;
}

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
    stop_flag = 1;
}

/* SIGTERM/SIGINT interrupt the sampling loop's sleep on this thread (the
 * HTTP thread was started with them blocked). */
static void catch_stop_signals(const sigset_t *set)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: clock_nanosleep returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_sigmask(SIG_UNBLOCK, set, NULL);
}

static void announce(const char *listen, int port, bool to_stderr)
{
    const char *colon = strrchr(listen, ':');
    int hostlen = colon ? (int)(colon - listen) : (int)strlen(listen);
    FILE *f = to_stderr ? stderr : stdout;

    fprintf(f,
            "skewscope collect: listening on http://%.*s:%d (port %d): "
            "GET /metrics\n",
            hostlen, listen, port, port);
    fflush(f);
}

struct http_start {
    struct collector *c;
    const struct collect_args *a;
    const sigset_t *set;
    struct collect_http *h;
};

/* After the first round, so that /metrics is never empty: the server's
 * thread starts with the stop signals blocked, so they reach the
 * sampling loop. */
static int start_http(void *ctx, char *err, size_t errlen)
{
    struct http_start *st = ctx;

    pthread_sigmask(SIG_BLOCK, st->set, NULL);
    st->h = collect_http_start(st->c, st->a->listen, err, errlen);
    pthread_sigmask(SIG_UNBLOCK, st->set, NULL);
    if (!st->h)
        return -1;
    announce(st->a->listen, collect_http_port(st->h),
             st->a->cfg.out && !strcmp(st->a->cfg.out, "-"));
    return 0;
}

static void summary(const struct collector *c, const struct collect_args *a)
{
    struct collect_stats st;
    size_t up = 0, n = collect_source_count(c);

    collect_stats(c, &st);
    for (size_t i = 0; i < n; i++)
        up += collect_source_up(c, i);
    fprintf(stderr,
            "skewscope collect: %s; %llu rounds, %llu overruns, %zu of %zu "
            "sources, %zu series",
            stop_signal == SIGTERM  ? "SIGTERM"
            : stop_signal == SIGINT ? "SIGINT"
                                    : "--duration elapsed",
            (unsigned long long)st.ticks, (unsigned long long)st.overruns, up,
            n, st.series);
    if (a->cfg.out)
        fprintf(stderr, ", %llu samples recorded to %s",
                (unsigned long long)st.samples_recorded, a->cfg.out);
    fputc('\n', stderr);
}

static int run(int argc, char **argv)
{
    struct collect_args a;
    struct collector *c = NULL;
    struct http_start st = {0};
    enum collect_failure why = COLLECT_FAIL_NOMEM;
    sigset_t set;
    char err[512] = "";
    int rc;

    memset(&a, 0, sizeof a);
    rc = parse_args(argc, argv, &a);
    if (rc < 0)
        return EXIT_FINE; /* --help */
    if (rc)
        return rc;
    /* The store keeps what the peak rates look back over, and two slow
     * rounds: memory stays bounded however long the run. */
    a.cfg.horizon_ns =
        2 * (a.cfg.slow_interval_ns ? a.cfg.slow_interval_ns : 1000000000);
    if (a.cfg.peak_window_ns > a.cfg.horizon_ns)
        a.cfg.horizon_ns = a.cfg.peak_window_ns;
    a.cfg.horizon_ns += a.cfg.interval_ns ? a.cfg.interval_ns : 10000000;
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (!(c = collect_create(&a.cfg, &why, err, sizeof err))) {
        fprintf(stderr, "skewscope collect: %s\n", err);
        return why == COLLECT_FAIL_CONFIG   ? EXIT_USAGE
               : why == COLLECT_FAIL_OUTPUT ? EXIT_NOINPUT
                                            : EXIT_SOFTWARE;
    }
    catch_stop_signals(&set);
    st.c = c;
    st.a = &a;
    st.set = &set;
    rc = EXIT_FINE;
    if (collect_run(c, a.duration_ns, &stop_flag, a.listen ? start_http : NULL,
                    &st, err, sizeof err) < 0) {
        fprintf(stderr, "skewscope collect: %s\n", err);
        rc = a.listen && !st.h ? EXIT_UNAVAILABLE : EXIT_SOFTWARE;
    }
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    collect_http_stop(st.h);
    if (collect_finish(c, err, sizeof err) < 0) {
        fprintf(stderr, "skewscope collect: %s\n", err);
        rc = EXIT_SOFTWARE;
    }
    if (rc != EXIT_UNAVAILABLE)
        summary(c, &a);
    collect_destroy(c);
    return rc;
}

const struct command cmd_collect = {
    "collect",
    "sample host, NIC, PCIe, RDMA and GPU counters: /metrics and a recording",
    run};
