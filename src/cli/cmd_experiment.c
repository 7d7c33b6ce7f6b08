/* cmd_experiment: `skewscope experiment skew-sweep|drift|rca-dataset`: the
 * paper's experiments on the testbed pipeline (testbed/experiment.h):
 * options in, text table on stdout, CSV and SVG into the output directory;
 * rca-dataset writes RCAEval case folders there instead. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "sim/sim.h"
#include "testbed/experiment.h"

#define COMMON_HELP                                                            \
    "  --hop-delay D          a message is handled no earlier than D after "   \
    "it was\n                         sent (default 4ms: hops take about "     \
    "4 ms)\n"                                                                  \
    "  --tp N                 tensor-parallel decode ranks (default 2)\n"      \
    "  --max-new K            tokens generated per request (default 16)\n"     \
    "  --concurrency N        requests in flight (default 1: no queueing, "    \
    "hops stay\n                         near their minimum)\n"                \
    "  --timeout D            bound on each pipeline run (default 120s)\n"     \
    "  --out-dir DIR          trace, CSV and SVG files (default "              \
    "build/experiment)\n"                                                      \
    "  --quiet                no progress lines on stderr\n"

static const char usage_main[] =
    "usage: skewscope experiment skew-sweep|drift|rca-dataset|imbalance "
    "[OPTIONS]\n\n"
    "Reproduce the clock-skew experiments of arXiv:2604.21361 on the "
    "testbed\npipeline, analysed with skewscope's own check and estimate, "
    "or build a\nroot-cause-analysis dataset with known ground truth.\n\n"
    "  skew-sweep   violations, throughput, output and recovered offset "
    "per skew\n"
    "  drift        violation rate and tracked offset over a long run "
    "with drift\n"
    "  rca-dataset  every fault kind at every stage, as RCAEval cases\n"
    "  imbalance    recall, false positives and detection time of "
    "`skewscope\n               imbalance` on labelled testbed runs\n\n"
    "'skewscope experiment skew-sweep --help' lists its options.\n";

static const char usage_rca[] =
    "usage: skewscope experiment rca-dataset [OPTIONS]\n\n"
    "Run the pipeline once per (fault kind, stage, repetition) with the "
    "fault in the\nmiddle of the run, and record each run as an RCAEval "
    "case (data.csv from the\nstages' Prometheus metrics scraped every "
    "second, inject_time.txt, traces.csv,\nlogs.csv) in "
    "OUT/<stage>_<fault>/<rep>/, fault = cpu, memory, network or gpu.\n"
    "Prints per case the faulted stage's own signal before and during the "
    "fault.\nWith the defaults: 18 cases per repetition (gpu-throttle only "
    "at prefill and\nthe decode ranks), about 33 s each: 10 minutes per "
    "repetition, 50 minutes in all.\n\n"
    "  --reps N               repetitions (default 5)\n"
    "  --run-for D            each run's length, bare numbers in s "
    "(default 30s)\n"
    "  --fault-at D           fault start into the run (default 10s)\n"
    "  --fault-for D          fault length (default 10s)\n"
    "  --kinds LIST           cpu,memory,network,gpu-throttle (default "
    "all)\n"
    "  --stages LIST          stages to fault (default all but the "
    "gateway)\n"
    "  --cpu-hogs N, --memory SIZE, --net-delay D, --gpu-speed S\n"
    "                         fault parameters (defaults 4, 256MiB, 20ms, "
    "0.5)\n"
    "  --transport T          zmq or kafka (default zmq)\n"
    "  --hops H               oneway or rpc (default oneway)\n"
    "  --hop-delay D          minimum hop time (default 2ms)\n"
    "  --tp N                 tensor-parallel decode ranks (default 2)\n"
    "  --max-new K            tokens generated per request (default 16)\n"
    "  --concurrency N        requests in flight (default 4: work queued at "
    "the decode\n"
    "                         ranks, whose GPU utilisation stays near 100%, "
    "as under\n"
    "                         serving load)\n"
    "  --timeout D            bound on each run beyond its length "
    "(default 120s)\n"
    "  --out-dir DIR          the dataset (default build/rca-dataset)\n"
    "  --quiet                no progress lines on stderr\n"
    "\nExit: 0 done, 2 usage, 70 a run failed.\n"
    "Example: skewscope experiment rca-dataset --reps 1 --run-for 20 "
    "--fault-at 8 --fault-for 6\n";

static const char usage_sweep[] =
    "usage: skewscope experiment skew-sweep [OPTIONS]\n\n"
    "Run the pipeline once per (transport, hops, skew) point with a "
    "constant clock\noffset at one stage, then check and estimate each "
    "trace. Prints a table and\nwhere violations begin; writes "
    "skew_sweep.csv and skew_sweep.svg (violation\nrate against skew, one "
    "line per transport) into the output directory.\n\n"
    "  --transport T          zmq, kafka or both (default both)\n"
    "  --hops H               oneway, rpc or both (default oneway)\n"
    "  --skews LIST           comma-separated skews, bare numbers in ms\n"
    "                         (default 0,1,2,3,4,5,10)\n"
    "  --stage NAME           the skewed stage: gateway, tokenizer, "
    "prefill,\n                         decode-N, detokenizer (default "
    "prefill)\n"
    "  --requests N           requests per point (default 30)\n" COMMON_HELP
    "\nExit: 0 done, 2 usage, 70 a run or its analysis failed.\n"
    "Example: skewscope experiment skew-sweep --transport zmq --skews "
    "0,3,5 --hop-delay 2ms\n";

static const char usage_drift[] =
    "usage: skewscope experiment drift [OPTIONS]\n\n"
    "One long run with an initial offset and a drift at one stage. The "
    "trace is cut\ninto time windows; per window: violations, and the "
    "offset estimate tracks next\nto the injected one. Writes drift.csv "
    "and drift.svg into the output directory.\n\n"
    "  --transport T          zmq or kafka (default zmq)\n"
    "  --hops H               oneway or rpc (default oneway)\n"
    "  --drift STAGE=PPM      the drifting stage and its drift (default "
    "prefill=40ppm;\n                         + = runs fast)\n"
    "  --skew D               its initial offset (default 3ms; + = ahead; "
    "also STAGE=D)\n"
    "  --duration D           run length, bare numbers in s (default 60s)\n"
    "  --requests N           send N requests instead of filling a "
    "duration\n"
    "  --windows N            time windows (default 12)\n" COMMON_HELP
    "\nExit: 0 done, 2 usage, 70 the run or its analysis failed.\n"
    "Example: skewscope experiment drift --duration 5 --drift "
    "prefill=200ppm --skew 0\n";

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error: message on stderr, EXIT_USAGE. */
static int bad(const char *fmt, ...)
{
    va_list ap;

    fputs("skewscope experiment: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see skewscope experiment --help)\n", stderr);
    return EXIT_USAGE;
}

static int duration_opt(const char *opt, const char *v, int64_t unit,
                        int64_t *ns)
{
    if (sim_parse_duration(v, unit, ns) < 0 || *ns < 0)
        return bad("%s expects a duration like 4ms, got '%s'", opt, v);
    return 0;
}

static int uint_opt(const char *opt, const char *v, unsigned *out)
{
    return cli_parse_uint(opt, v, out) < 0 ? EXIT_USAGE : 0;
}

/* Options both experiments take; 1 = not one of them. */
static int common_opt(int opt, const char *arg, struct experiment_pipeline *p)
{
    int64_t ns;
    int rc;

    switch (opt) {
    case 'd':
        return duration_opt("--hop-delay", arg, 0, &p->hop_delay_ns);
    case 'p':
        return uint_opt("--tp", arg, &p->tp);
    case 'k':
        return uint_opt("--max-new", arg, &p->max_new);
    case 'C':
        return uint_opt("--concurrency", arg, &p->concurrency);
    case 'T':
        if ((rc = duration_opt("--timeout", arg, 1000000000, &ns)) != 0)
            return rc;
        p->timeout_ms = (unsigned)(ns / 1000000);
        return 0;
    case 'o':
        p->out_dir = arg;
        return 0;
    case 'q':
        p->progress = NULL;
        return 0;
    default:
        return 1;
    }
}

#define COMMON_LONGOPTS                                                        \
    {"hop-delay", required_argument, NULL, 'd'},                               \
        {"tp", required_argument, NULL, 'p'},                                  \
        {"max-new", required_argument, NULL, 'k'},                             \
        {"concurrency", required_argument, NULL, 'C'},                         \
        {"timeout", required_argument, NULL, 'T'},                             \
        {"out-dir", required_argument, NULL, 'o'},                             \
        {"quiet", no_argument, NULL, 'q'},                                     \
        {"transport", required_argument, NULL, 't'},                           \
        {"hops", required_argument, NULL, 'H'},                                \
        {"requests", required_argument, NULL, 'n'},                            \
    {                                                                          \
        "help", no_argument, NULL, 'h'                                         \
    }

/* Stage names the pipeline has: the same check pipeline_run() makes,
 * early, so that a typo is a usage error before any run. */
static bool stage_ok(const char *name, unsigned tp)
{
    static const char *const fixed[] = {"gateway", "tokenizer", "prefill",
                                        "detokenizer"};
    char *end;

    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, fixed[i]) == 0)
            return true;
    if (strncmp(name, "decode-", 7) != 0 || name[7] < '0' || name[7] > '9')
        return false;
    unsigned long r = strtoul(name + 7, &end, 10);
    return *end == '\0' && r < tp;
}

static const char *strip_node(const char *s)
{
    return strncmp(s, "node-", 5) == 0 ? s + 5 : s;
}

static int hops_of(const char *arg, enum pipeline_hops *h, size_t *n,
                   bool both_ok)
{
    if (strcmp(arg, "oneway") == 0 || strcmp(arg, "rpc") == 0) {
        h[0] = arg[0] == 'r' ? PIPELINE_HOPS_RPC : PIPELINE_HOPS_ONEWAY;
        *n = 1;
    } else if (both_ok && strcmp(arg, "both") == 0) {
        h[0] = PIPELINE_HOPS_ONEWAY;
        h[1] = PIPELINE_HOPS_RPC;
        *n = 2;
    } else {
        return bad("--hops is oneway, rpc%s", both_ok ? " or both" : "");
    }
    return 0;
}

static int transports_of(const char *arg, const char **t, size_t *n,
                         bool both_ok)
{
    if (strcmp(arg, "zmq") == 0 || strcmp(arg, "kafka") == 0) {
        t[0] = arg[0] == 'z' ? "zmq" : "kafka";
        *n = 1;
    } else if (both_ok && strcmp(arg, "both") == 0) {
        t[0] = "zmq";
        t[1] = "kafka";
        *n = 2;
    } else {
        return bad("--transport is zmq, kafka%s", both_ok ? " or both" : "");
    }
    return 0;
}

static int skews_of(const char *arg, struct experiment_sweep_config *c)
{
    char buf[1024], *save = NULL;

    if (strlen(arg) >= sizeof buf)
        return bad("--skews: list too long");
    strcpy(buf, arg);
    c->nskews = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (c->nskews == EXPERIMENT_MAX_SKEWS)
            return bad("--skews takes at most 64 values");
        if (sim_parse_duration(tok, 1000000, &c->skews_ns[c->nskews++]) < 0)
            return bad("--skews expects durations like 5ms or 5, got '%s'",
                       tok);
    }
    if (c->nskews == 0)
        return bad("--skews needs at least one value");
    return 0;
}

static int sweep_opt(int opt, const char *arg, void *ctx)
{
    struct experiment_sweep_config *c = ctx;
    int rc = common_opt(opt, arg, &c->p);

    if (rc != 1)
        return rc;
    switch (opt) {
    case 't':
        return transports_of(arg, c->transports, &c->ntransports, true);
    case 'H':
        return hops_of(arg, c->hops, &c->nhops, true);
    case 'n':
        return uint_opt("--requests", arg, &c->requests);
    case 's':
        return skews_of(arg, c);
    case 'S':
        if (strlen(strip_node(arg)) >= sizeof c->stage)
            return bad("--stage: name too long ('%s')", arg);
        snprintf(c->stage, sizeof c->stage, "%s", strip_node(arg));
        return 0;
    default:
        return bad("unexpected option");
    }
}

static int write_out(const char *dir, const char *name, int which,
                     const void *data)
{
    char path[EXPERIMENT_PATH_MAX];
    int rc = -EIO;

    if (experiment_path(path, sizeof path, dir, name) < 0)
        return -ENAMETOOLONG;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "skewscope experiment: cannot write %s: %s\n", path,
                strerror(errno));
        return -errno;
    }
    switch (which) {
    case 0:
        rc = experiment_sweep_csv(f, data);
        break;
    case 1:
        rc = experiment_sweep_svg(f, data);
        break;
    case 2:
        rc = experiment_drift_csv(f, data);
        break;
    default:
        rc = experiment_drift_svg(f, data);
        break;
    }
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "skewscope experiment: cannot write %s\n", path);
        return -EIO;
    }
    printf("wrote %s\n", path);
    return 0;
}

static int run_failed(int rc, const char *err)
{
    if (rc == -EINVAL)
        return cli_usage_error("experiment", "%s", err);
    fprintf(stderr, "skewscope experiment: %s\n", err);
    return EXIT_SOFTWARE;
}

static int sweep_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONGOPTS,
        {"skews", required_argument, NULL, 's'},
        {"stage", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    struct experiment_sweep_config c;
    struct experiment_sweep s;
    char err[1024] = "";

    experiment_sweep_config_init(&c);
    c.p.progress = stderr;
    int rc = cli_getopt(argc, argv, "experiment", ":h", longopts, usage_sweep,
                        sweep_opt, &c);
    if (rc)
        return rc < 0 ? EXIT_FINE : rc;
    if (optind < argc)
        return bad("unexpected operand '%s'", argv[optind]);
    if (!stage_ok(c.stage, c.p.tp))
        return bad("--stage: '%s' is no stage of the pipeline", c.stage);
    rc = experiment_sweep_run(&c, &s, err, sizeof err);
    if (rc < 0) {
        rc = run_failed(rc, err);
    } else if (experiment_sweep_print(stdout, &s) < 0 ||
               write_out(c.p.out_dir, "skew_sweep.csv", 0, &s) < 0 ||
               write_out(c.p.out_dir, "skew_sweep.svg", 1, &s) < 0) {
        rc = EXIT_SOFTWARE;
    }
    experiment_sweep_free(&s);
    return rc;
}

struct drift_args {
    struct experiment_drift_config c;
    char skew_stage[PIPELINE_STAGE_NAME_MAX];
};

/* "STAGE=40ppm" or "STAGE=3ms" through the testbed's own parser. */
static int clock_spec(const char *opt, const char *arg, bool drift,
                      struct pipeline_clock *out)
{
    struct pipeline_config pc;
    char err[256];

    pipeline_config_init(&pc);
    if (pipeline_config_add_clock(&pc, drift, arg, err, sizeof err) < 0)
        return bad("%s: %s", opt, err);
    *out = pc.clocks[0];
    return 0;
}

static int drift_clock_opt(int opt, const char *arg, struct drift_args *a)
{
    struct pipeline_clock clk;
    int rc;

    if (opt == 'R') {
        if ((rc = clock_spec("--drift", arg, true, &clk)) != 0)
            return rc;
        snprintf(a->c.stage, sizeof a->c.stage, "%s", clk.stage);
        a->c.drift_ppm = clk.drift_ppm;
        return 0;
    }
    if (!strchr(arg, '='))
        return duration_opt("--skew", arg, 0, &a->c.skew_ns) ? EXIT_USAGE : 0;
    if ((rc = clock_spec("--skew", arg, false, &clk)) != 0)
        return rc;
    snprintf(a->skew_stage, sizeof a->skew_stage, "%s", clk.stage);
    a->c.skew_ns = clk.skew_ns;
    return 0;
}

static int drift_opt(int opt, const char *arg, void *ctx)
{
    struct drift_args *a = ctx;
    struct experiment_drift_config *c = &a->c;
    size_t n = 1;
    int64_t ns;
    int rc = common_opt(opt, arg, &c->p);

    if (rc != 1)
        return rc;
    switch (opt) {
    case 't':
        return transports_of(arg, &c->transport, &n, false);
    case 'H':
        return hops_of(arg, &c->hops, &n, false);
    case 'n':
        return uint_opt("--requests", arg, &c->requests);
    case 'w':
        return uint_opt("--windows", arg, &c->windows);
    case 'D':
        if ((rc = duration_opt("--duration", arg, 1000000000, &ns)) != 0)
            return rc;
        c->duration_s = (double)ns / 1e9;
        return 0;
    case 'R':
    case 'S':
        return drift_clock_opt(opt, arg, a);
    default:
        return bad("unexpected option");
    }
}

static int drift_check(const struct drift_args *a)
{
    if (a->skew_stage[0] && strcmp(a->skew_stage, a->c.stage) != 0)
        return bad("--skew %s=...: the initial offset applies to the "
                   "drifting stage (--drift)",
                   a->skew_stage);
    if (!stage_ok(a->c.stage, a->c.p.tp))
        return bad("--drift: '%s' is no stage of the pipeline", a->c.stage);
    if (a->c.requests == 0 && a->c.duration_s <= 0)
        return bad("--duration needs a positive duration");
    return 0;
}

static int drift_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONGOPTS,
        {"drift", required_argument, NULL, 'R'},
        {"skew", required_argument, NULL, 'S'},
        {"duration", required_argument, NULL, 'D'},
        {"windows", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct drift_args a;
    struct experiment_drift d;
    char err[1024] = "";

    memset(&a, 0, sizeof a);
    experiment_drift_config_init(&a.c);
    a.c.p.progress = stderr;
    int rc = cli_getopt(argc, argv, "experiment", ":h", longopts, usage_drift,
                        drift_opt, &a);
    if (rc)
        return rc < 0 ? EXIT_FINE : rc;
    if (optind < argc)
        return bad("unexpected operand '%s'", argv[optind]);
    if ((rc = drift_check(&a)) != 0)
        return rc;
    rc = experiment_drift_run(&a.c, &d, err, sizeof err);
    if (rc < 0) {
        rc = run_failed(rc, err);
    } else if (experiment_drift_print(stdout, &d) < 0 ||
               write_out(a.c.p.out_dir, "drift.csv", 2, &d) < 0 ||
               write_out(a.c.p.out_dir, "drift.svg", 3, &d) < 0) {
        rc = EXIT_SOFTWARE;
    }
    experiment_drift_free(&d);
    return rc;
}

static int list_of(const char *opt, const char *arg, char *buf, size_t len)
{
    if (strlen(arg) >= len)
        return bad("%s: list too long", opt);
    strcpy(buf, arg);
    return 0;
}

static int kinds_of(const char *arg, struct experiment_rca_config *c)
{
    char buf[256], *save = NULL;
    int rc = list_of("--kinds", arg, buf, sizeof buf);

    if (rc)
        return rc;
    memset(c->kinds, 0, sizeof c->kinds);
    for (char *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < EXPERIMENT_RCA_KINDS &&
               strcmp(tok, pipeline_fault_name((enum pipeline_fault_kind)k)) !=
                   0 &&
               strcmp(tok, pipeline_fault_case_name(
                               (enum pipeline_fault_kind)k)) != 0)
            k++;
        if (k == EXPERIMENT_RCA_KINDS)
            return bad("--kinds: '%s' is none of cpu, memory, network, "
                       "gpu-throttle",
                       tok);
        c->kinds[k] = true;
    }
    return 0;
}

static int stages_of(const char *arg, struct experiment_rca_config *c)
{
    char buf[512], *save = NULL;
    int rc = list_of("--stages", arg, buf, sizeof buf);

    if (rc)
        return rc;
    c->nstages = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (c->nstages == PIPELINE_MAX_STAGES ||
            strlen(strip_node(tok)) >= PIPELINE_STAGE_NAME_MAX)
            return bad("--stages: too many or too long ('%s')", tok);
        snprintf(c->stages[c->nstages++], PIPELINE_STAGE_NAME_MAX, "%s",
                 strip_node(tok));
    }
    return c->nstages ? 0 : bad("--stages needs at least one stage");
}

/* A fault parameter, checked by the testbed's own parser. */
static int fault_param_opt(int opt, const char *arg,
                           struct experiment_rca_config *c)
{
    static const char *const kind[] = {"cpu", "memory", "network",
                                       "gpu-throttle"};
    struct pipeline_config pc;
    char spec[128], err[256];
    int k = opt - 'A';

    pipeline_config_init(&pc);
    snprintf(spec, sizeof spec, "%s@prefill:%s", kind[k], arg);
    if (pipeline_config_add_fault(&pc, spec, 0, 1, err, sizeof err) < 0)
        return bad("%s", err);
    const struct pipeline_fault *f = &pc.faults[0];
    if (k == 0)
        c->cpu_hogs = (unsigned)f->amount;
    else if (k == 1)
        c->memory_bytes = f->amount;
    else if (k == 2)
        c->net_delay_ns = f->delay_ns;
    else
        c->gpu_speed = f->amount;
    return 0;
}

static int rca_opt(int opt, const char *arg, void *ctx)
{
    struct experiment_rca_config *c = ctx;
    size_t n = 1;
    int64_t ns;
    int rc = common_opt(opt, arg, &c->p);

    if (rc != 1)
        return rc;
    switch (opt) {
    case 't':
        return transports_of(arg, &c->transport, &n, false);
    case 'H':
        return hops_of(arg, &c->hops, &n, false);
    case 'r':
        return uint_opt("--reps", arg, &c->reps);
    case 'R':
    case 'a':
    case 'f':
        if ((rc = duration_opt(opt == 'R'   ? "--run-for"
                               : opt == 'a' ? "--fault-at"
                                            : "--fault-for",
                               arg, 1000000000, &ns)) != 0)
            return rc;
        *(opt == 'R'   ? &c->run_s
          : opt == 'a' ? &c->fault_at_s
                       : &c->fault_for_s) = (double)ns / 1e9;
        return 0;
    case 'K':
        return kinds_of(arg, c);
    case 'S':
        return stages_of(arg, c);
    case 'A':
    case 'B':
    case 'C' + 100:
    case 'D':
        return fault_param_opt(opt == 'C' + 100 ? 'C' : opt, arg, c);
    default:
        return bad("unexpected option");
    }
}

static int rca_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONGOPTS,
        {"reps", required_argument, NULL, 'r'},
        {"run-for", required_argument, NULL, 'R'},
        {"fault-at", required_argument, NULL, 'a'},
        {"fault-for", required_argument, NULL, 'f'},
        {"kinds", required_argument, NULL, 'K'},
        {"stages", required_argument, NULL, 'S'},
        {"cpu-hogs", required_argument, NULL, 'A'},
        {"memory", required_argument, NULL, 'B'},
        {"net-delay", required_argument, NULL, 'C' + 100},
        {"gpu-speed", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    struct experiment_rca_config c;
    struct experiment_rca r;
    char err[1024] = "";

    experiment_rca_config_init(&c);
    c.p.progress = stderr;
    int rc = cli_getopt(argc, argv, "experiment", ":h", longopts, usage_rca,
                        rca_opt, &c);
    if (rc)
        return rc < 0 ? EXIT_FINE : rc;
    if (optind < argc)
        return bad("unexpected operand '%s'", argv[optind]);
    for (size_t i = 0; i < c.nstages; i++)
        if (!stage_ok(c.stages[i], c.p.tp))
            return bad("--stages: '%s' is no stage of the pipeline",
                       c.stages[i]);
    if (c.p.progress)
        fprintf(c.p.progress, "rca-dataset: %zu cases of %.0f s into %s\n",
                experiment_rca_count(&c), c.run_s, c.p.out_dir);
    rc = experiment_rca_run(&c, &r, err, sizeof err);
    if (rc < 0)
        rc = run_failed(rc, err);
    else if (experiment_rca_print(stdout, &r) < 0)
        rc = EXIT_SOFTWARE;
    experiment_rca_free(&r);
    return rc;
}

static const char usage_imb[] =
    "usage: skewscope experiment imbalance [OPTIONS]\n\n"
    "Build a labelled set of testbed runs and judge `skewscope imbalance`'s "
    "detectors\non them: clean runs, clock-offset-only runs (decode-1's "
    "clock ahead, nothing\nslower), hop-jitter-only runs, and one run per "
    "condition the testbed produces,\neach from --onset on:\n"
    "  tp-straggler   gpu-throttle@decode-1:SPEED   -> tp_straggler "
    "decode-1\n"
    "  pp-imbalance   heavy@prefill:F               -> pp_imbalance "
    "prefill\n"
    "  early-stop     early-stop@decode-1           -> early_stop "
    "decode-1\n"
    "  kv-pressure    kv-budget@decode:B            -> kv_pressure "
    "decode-N\n"
    "  dp-load-skew   --dp 2, route-skew@tokenizer:P -> dp_load_skew "
    "prefill-0\n"
    "Each run keeps traces.json and scrapes.prom (every stage's /metrics, "
    "each second)\nin OUT/<condition>/<rep>/; `skewscope imbalance "
    "--traces traces.json\nscrapes.prom` there gives the same findings "
    "(the experiment judges the rows up to\n--run-for, not the drain "
    "after it). Reports per condition: recall, runs\ndetected within "
    "--within of the onset, onset-to-detection time (median, max)\nand "
    "runs with other findings (on a run without a condition: false "
    "positives).\nExit 0, or 1 when a goal is missed (recall within "
    "--within < 0.95, or a\nfinding on a clean, clock-offset or hop-jitter "
    "run).\n\n"
    "  --reps N               repetitions of every condition (default 3)\n"
    "  --run-for D            each run's length (default 20s)\n"
    "  --onset D              the condition's start into the run (default "
    "8s)\n"
    "  --within D             the detection goal (default 5s)\n"
    "  --conditions LIST      (default all) of clean, clock-offset, "
    "hop-jitter,\n                         tp-straggler, pp-imbalance, "
    "early-stop, kv-pressure,\n                         dp-load-skew\n"
    "  --offset D             clock-offset: decode-1's offset (default "
    "3ms)\n"
    "  --jitter D             hop-jitter: +- jitter (default half the hop "
    "delay)\n"
    "  --slow-speed S         tp-straggler: decode-1's speed (default "
    "0.5)\n"
    "  --heavy F              pp-imbalance: prefill's work factor (default "
    "100)\n"
    "  --kv-budget B          kv-pressure: KV budget, share of a "
    "request's tokens (default\n                         0.6)\n"
    "  --route-share P        dp-load-skew: prefill-0's share of the "
    "requests (default 0.9)\n"
    "  --model-dim D          model width (default the testbed's, 64)\n"
    "  --json                 the summary and every run as JSON on stdout\n"
    "  --hop-delay D          (default 2ms)  --tp N (2)  --max-new K (16)\n"
    "  --concurrency N        (default 4)  --timeout D  --out-dir DIR "
    "(build/imbalance-exp)\n"
    "  --quiet                no progress lines on stderr\n"
    "Example: skewscope experiment imbalance --reps 1 --run-for 14 "
    "--onset 6\n";

struct imb_args {
    struct experiment_imb_config c;
    bool json;
};

static int conditions_of(const char *arg, struct experiment_imb_config *c)
{
    char buf[512], *save = NULL;

    if (strlen(arg) >= sizeof buf)
        return bad("--conditions: list too long");
    strcpy(buf, arg);
    memset(c->conds, 0, sizeof c->conds);
    for (char *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        int k = experiment_imb_cond_of(t);
        if (k < 0)
            return bad("--conditions: unknown condition '%s'", t);
        c->conds[k] = true;
    }
    return 0;
}

static int number_opt(const char *opt, const char *v, double lo, double hi,
                      double *out)
{
    char *end;
    double x = strtod(v, &end);

    if (end == v || *end || !(x > lo && x < hi))
        return bad("%s expects a number in (%g, %g), got '%s'", opt, lo, hi, v);
    *out = x;
    return 0;
}

static int imb_opt(int opt, const char *arg, void *ctx)
{
    struct imb_args *a = ctx;
    struct experiment_imb_config *c = &a->c;
    int64_t ns;
    int rc = common_opt(opt, arg, &c->p);

    if (rc != 1)
        return rc;
    switch (opt) {
    case 'r':
        return uint_opt("--reps", arg, &c->reps);
    case 'R':
    case 'a':
    case 'w':
        if ((rc = duration_opt(opt == 'R'   ? "--run-for"
                               : opt == 'a' ? "--onset"
                                            : "--within",
                               arg, 1000000000, &ns)) != 0)
            return rc;
        *(opt == 'R'   ? &c->run_s
          : opt == 'a' ? &c->onset_s
                       : &c->within_s) = (double)ns / 1e9;
        return 0;
    case 'K':
        return conditions_of(arg, c);
    case 'O':
        return duration_opt("--offset", arg, 0, &c->offset_ns);
    case 'J':
        return duration_opt("--jitter", arg, 0, &c->jitter_ns);
    case 'S':
        return number_opt("--slow-speed", arg, 0, 1, &c->slow_speed);
    case 'F':
        return number_opt("--heavy", arg, 1, 1000, &c->heavy);
    case 'B':
        return number_opt("--kv-budget", arg, 0, 1, &c->kv_budget);
    case 'Q':
        return number_opt("--route-share", arg, 0, 1, &c->route_share);
    case 'D':
        return uint_opt("--model-dim", arg, &c->model_dim);
    case 'j':
        a->json = true;
        return 0;
    default:
        return bad("unexpected option");
    }
}

/* Exit 1 when a goal of issue 11 is missed (recall, false positives,
 * detection time). */
static bool imb_goals_met(const struct experiment_imb *x)
{
    size_t runs[EXP_IMB_NCOND] = {0}, ok[EXP_IMB_NCOND] = {0};

    for (size_t i = 0; i < x->nruns; i++) {
        const struct experiment_imb_run *r = &x->runs[i];

        /* a finding on a run without a condition is a false positive;
         * another condition's finding on a condition's run is reported
         * (other) but is not one */
        if (r->false_findings && !experiment_imb_expected(r->cond))
            return false;
        runs[r->cond]++;
        ok[r->cond] +=
            r->detected &&
            (double)(r->detected_ns - r->onset_ns) * 1e-9 <= x->within_s;
    }
    for (int c = 0; c < EXP_IMB_NCOND; c++)
        if (runs[c] && experiment_imb_expected((enum experiment_imb_cond)c) &&
            (double)ok[c] < 0.95 * (double)runs[c])
            return false;
    return true;
}

static int imb_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONGOPTS,
        {"reps", required_argument, NULL, 'r'},
        {"run-for", required_argument, NULL, 'R'},
        {"onset", required_argument, NULL, 'a'},
        {"within", required_argument, NULL, 'w'},
        {"conditions", required_argument, NULL, 'K'},
        {"offset", required_argument, NULL, 'O'},
        {"jitter", required_argument, NULL, 'J'},
        {"slow-speed", required_argument, NULL, 'S'},
        {"heavy", required_argument, NULL, 'F'},
        {"kv-budget", required_argument, NULL, 'B'},
        {"route-share", required_argument, NULL, 'Q'},
        {"model-dim", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    struct imb_args a = {.json = false};
    struct experiment_imb r;
    char err[1024] = "";

    experiment_imb_config_init(&a.c);
    a.c.p.progress = stderr;
    int rc = cli_getopt(argc, argv, "experiment", ":h", longopts, usage_imb,
                        imb_opt, &a);
    if (rc)
        return rc < 0 ? EXIT_FINE : rc;
    if (optind < argc)
        return bad("unexpected operand '%s'", argv[optind]);
    rc = experiment_imb_run(&a.c, &r, err, sizeof err);
    if (rc < 0)
        rc = run_failed(rc, err);
    else if ((a.json ? experiment_imb_json(stdout, &r)
                     : experiment_imb_print(stdout, &r)) < 0)
        rc = EXIT_SOFTWARE;
    else
        rc = imb_goals_met(&r) ? EXIT_FINE : EXIT_VIOLATIONS;
    experiment_imb_free(&r);
    return rc;
}

static int experiment_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(usage_main, stdout);
        return EXIT_FINE;
    }
    if (strcmp(sub, "skew-sweep") == 0)
        return sweep_main(argc - 1, argv + 1);
    if (strcmp(sub, "drift") == 0)
        return drift_main(argc - 1, argv + 1);
    if (strcmp(sub, "rca-dataset") == 0)
        return rca_main(argc - 1, argv + 1);
    if (strcmp(sub, "imbalance") == 0)
        return imb_main(argc - 1, argv + 1);
    return bad("unknown experiment '%s' (skew-sweep, drift, rca-dataset or "
               "imbalance)",
               sub);
}

const struct command cmd_experiment = {
    .name = "experiment",
    .summary = "skew sweep, drift run and RCA dataset on the testbed",
    .run = experiment_main,
};
