/* cmd_testbed: `skewscope testbed`: run the multi-process inference
 * pipeline (testbed/pipeline.h) with optional clock skew at any stage and
 * print what it did. The hidden --stage options are how the orchestrator
 * re-executes this binary for a stage that must run under libfaketime. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "sim/sim.h"
#include "testbed/pipeline.h"

/* 128 + the signal, as shells report a command killed by it. */
#define TESTBED_EXIT_SIGNAL_BASE 128

static const char usage_text[] =
    "usage: skewscope testbed [OPTIONS]\n\n"
    "Run a real multi-process inference pipeline (gateway, tokenizer, "
    "prefill,\ndecode ranks, detokenizer; each its own process and clock "
    "domain node-<stage>)\nand print requests, throughput, tokens and the "
    "output hash.\n\n"
    "  --transport zmq|kafka  transport between stages (default zmq)\n"
    "  --brokers HOST:PORT    kafka: a real cluster (default: embedded mock)\n"
    "  --requests N           requests to send (default 10)\n"
    "  --duration D           send requests for D (e.g. 30s) instead, then "
    "drain\n"
    "  --hops oneway|rpc      one-way messages (PRODUCER/CONSUMER, default) "
    "or\n                         synchronous calls (CLIENT/SERVER, replies "
    "back up the chain)\n"
    "  --tp N                 tensor-parallel decode ranks (default 2)\n"
    "  --max-new K            tokens generated per request (default 16)\n"
    "  --concurrency N        requests in flight (default 4)\n"
    "  --seed S               model weights and prompts (default 1)\n"
    "  --model-layers L, --model-dim D   model size (default 2, 64)\n"
    "  --hop-delay D          a message is handled no earlier than D after "
    "its send\n                         time (e.g. 2ms; default 0)\n"
    "  --out FILE             OTLP JSON lines from every stage\n"
    "  --otlp-endpoint URL    OTLP/HTTP collector instead (with neither, "
    "nothing is\n                         traced: the stages record no "
    "spans)\n"
    "  --skew STAGE=5ms       clock offset of a stage (+ = ahead; "
    "repeatable)\n"
    "  --drift STAGE=40ppm    clock drift of a stage (+ = fast; "
    "repeatable)\n"
    "  --skew-mode tracer|faketime  inject in the tracer (default) or run "
    "the stage\n                         under libfaketime\n"
    "  --timeout D            bound on the run beyond --duration, and on "
    "any wait\n                         inside a stage (default 60s)\n\n"
    "Exit: 0 success, 2 usage, 70 a stage failed or the run timed out,\n"
    "130 interrupted (SIGINT; 143 for SIGTERM), after stopping every "
    "stage.\n"
    "Example: skewscope testbed --requests 50 --skew prefill=5ms "
    "--hop-delay 2ms --out t.json\n";

struct testbed_args {
    struct pipeline_config cfg;
    struct pipeline_stage_args stage;
};

static int parse_u64(const char *opt, const char *v, uint64_t *out)
{
    char *end;
    unsigned long long x = strtoull(v, &end, 10);

    if (end == v || *end || v[0] == '-')
        return cli_usage_error("testbed", "%s expects a number, got '%s'", opt,
                               v);
    *out = x;
    return 0;
}

static int parse_duration_opt(const char *opt, const char *v, int64_t *ns)
{
    if (sim_parse_duration(v, 0, ns) < 0 || *ns < 0)
        return cli_usage_error("testbed",
                               "%s expects a duration like 2ms, "
                               "got '%s'",
                               opt, v);
    return 0;
}

static int uint_opt(const char *name, const char *v, unsigned *out)
{
    return cli_parse_uint(name, v, out) < 0 ? EXIT_USAGE : 0;
}

static int stage_opt(int opt, const char *arg, struct testbed_args *a)
{
    switch (opt) {
    case 1001:
        a->stage.stage = arg;
        return 0;
    case 1002:
        a->stage.dir = arg;
        return 0;
    case 1003:
        a->stage.run_id = arg;
        return 0;
    case 1004:
        a->stage.result_fd = atoi(arg);
        return 0;
    case 1005:
        a->stage.ready_fd = atoi(arg);
        return 0;
    default:
        return cli_usage_error("testbed", "unknown option");
    }
}

static int clock_opt(struct pipeline_config *cfg, bool drift, const char *arg)
{
    char err[256];

    if (pipeline_config_add_clock(cfg, drift, arg, err, sizeof err) < 0)
        return cli_usage_error("testbed", "%s", err);
    return 0;
}

static int each_opt(int opt, const char *arg, void *ctx)
{
    struct testbed_args *a = ctx;
    struct pipeline_config *c = &a->cfg;
    int64_t ns;
    int rc;

    switch (opt) {
    case 't':
        c->transport = arg;
        return 0;
    case 'b':
        c->brokers = arg;
        return 0;
    case 'n':
        return uint_opt("--requests", arg, &c->requests);
    case 'p':
        return uint_opt("--tp", arg, &c->tp);
    case 'k':
        return uint_opt("--max-new", arg, &c->max_new);
    case 'C':
        return uint_opt("--concurrency", arg, &c->concurrency);
    case 's':
        return parse_u64("--seed", arg, &c->seed);
    case 'L':
        return uint_opt("--model-layers", arg, &c->model_layers);
    case 'D':
        return uint_opt("--model-dim", arg, &c->model_dim);
    case 'd':
        return parse_duration_opt("--hop-delay", arg, &c->hop_delay_ns);
    case 'T':
        if ((rc = parse_duration_opt("--timeout", arg, &ns)) != 0)
            return rc;
        c->timeout_ms = (unsigned)(ns / 1000000);
        return 0;
    case 'o':
        c->out_path = arg;
        return 0;
    case 'e':
        c->otlp_endpoint = arg;
        return 0;
    case 'S':
        return clock_opt(c, false, arg);
    case 'R':
        return clock_opt(c, true, arg);
    case 'H':
        if (strcmp(arg, "oneway") != 0 && strcmp(arg, "rpc") != 0)
            return cli_usage_error("testbed",
                                   "--hops is oneway or rpc, not "
                                   "'%s'",
                                   arg);
        c->hops = arg[0] == 'r' ? PIPELINE_HOPS_RPC : PIPELINE_HOPS_ONEWAY;
        return 0;
    case 'u':
        if ((rc = parse_duration_opt("--duration", arg, &ns)) != 0)
            return rc;
        if (ns > (int64_t)UINT32_MAX * 1000000)
            return cli_usage_error("testbed", "--duration too long");
        c->duration_ms = (unsigned)(ns / 1000000);
        return 0;
    case 'm':
        if (strcmp(arg, "tracer") != 0 && strcmp(arg, "faketime") != 0)
            return cli_usage_error("testbed",
                                   "--skew-mode is tracer or "
                                   "faketime, not '%s'",
                                   arg);
        c->skew_mode =
            arg[0] == 'f' ? PIPELINE_SKEW_FAKETIME : PIPELINE_SKEW_TRACER;
        return 0;
    default:
        return stage_opt(opt, arg, a);
    }
}

static int parse_args(int argc, char **argv, struct testbed_args *a)
{
    static const struct option longopts[] = {
        {"transport", required_argument, NULL, 't'},
        {"brokers", required_argument, NULL, 'b'},
        {"requests", required_argument, NULL, 'n'},
        {"tp", required_argument, NULL, 'p'},
        {"max-new", required_argument, NULL, 'k'},
        {"concurrency", required_argument, NULL, 'C'},
        {"seed", required_argument, NULL, 's'},
        {"model-layers", required_argument, NULL, 'L'},
        {"model-dim", required_argument, NULL, 'D'},
        {"hop-delay", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 'T'},
        {"out", required_argument, NULL, 'o'},
        {"otlp-endpoint", required_argument, NULL, 'e'},
        {"skew", required_argument, NULL, 'S'},
        {"drift", required_argument, NULL, 'R'},
        {"skew-mode", required_argument, NULL, 'm'},
        {"stage", required_argument, NULL, 1001},
        {"stage-dir", required_argument, NULL, 1002},
        {"stage-run", required_argument, NULL, 1003},
        {"stage-result-fd", required_argument, NULL, 1004},
        {"stage-ready-fd", required_argument, NULL, 1005},
        {"hops", required_argument, NULL, 'H'},
        {"duration", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    pipeline_config_init(&a->cfg);
    a->cfg.truncate_out = true;
    a->stage.result_fd = -1;
    a->stage.ready_fd = -1;
    int rc = cli_getopt(argc, argv, "testbed", ":h", longopts, usage_text,
                        each_opt, a);
    if (rc == 0 && optind < argc)
        rc =
            cli_usage_error("testbed", "unexpected operand '%s'", argv[optind]);
    return rc;
}

static void print_result(const struct pipeline_config *cfg,
                         const struct pipeline_result *r)
{
    printf("transport:        %s\n", cfg->transport);
    printf("hops:             %s\n",
           cfg->hops == PIPELINE_HOPS_RPC ? "rpc" : "oneway");
    printf("requests:         %u\n", r->requests);
    printf("wall time:        %.3f s\n", r->wall_s);
    printf("throughput:       %.2f requests/s, %.1f tokens/s\n",
           r->requests_per_s, r->tokens_per_s);
    printf("tokens generated: %" PRIu64 "\n", r->tokens);
    printf("output hash:      %016" PRIx64 "\n", r->output_hash);
    printf("output identical: %s\n", r->identical ? "yes" : "no");
}

/* Exit code after an interrupted run: 128 + the signal (the pipeline has
 * stopped and reaped every stage by then). */
static int interrupted_exit(void)
{
    return TESTBED_EXIT_SIGNAL_BASE + pipeline_last_signal();
}

static int run_stage(struct testbed_args *a)
{
    char err[512] = "";

    a->cfg.truncate_out = false;
    if (!a->stage.dir || !a->stage.run_id)
        return cli_usage_error("testbed", "--stage needs --stage-dir and "
                                          "--stage-run");
    a->stage.brokers = a->cfg.brokers;
    if (pipeline_stage_exec_main(&a->cfg, &a->stage, err, sizeof err) < 0) {
        fprintf(stderr, "skewscope testbed: stage %s: %s\n", a->stage.stage,
                err);
        return EXIT_SOFTWARE;
    }
    return EXIT_FINE;
}

static int testbed_run(int argc, char **argv)
{
    struct testbed_args a;
    struct pipeline_result res;
    char err[512] = "";

    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc < 0)
        return EXIT_FINE; /* --help */
    if (rc)
        return rc;
    if (a.stage.stage)
        return run_stage(&a);
    rc = pipeline_run(&a.cfg, &res, err, sizeof err);
    if (rc == -EINVAL)
        return cli_usage_error("testbed", "%s", err);
    if (rc < 0) {
        fprintf(stderr, "skewscope testbed: %s\n", err);
        return rc == -EINTR ? interrupted_exit() : EXIT_SOFTWARE;
    }
    print_result(&a.cfg, &res);
    return EXIT_FINE;
}

const struct command cmd_testbed = {
    .name = "testbed",
    .summary = "run the multi-process inference pipeline with clock skew",
    .run = testbed_run,
};
