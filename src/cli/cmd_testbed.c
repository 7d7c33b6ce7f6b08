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
#include "testbed/case_record.h"

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
    "  --dp N                 data-parallel prefill replicas prefill-0.."
    "N-1 behind\n                         the tokenizer, round robin "
    "(default 1: one stage\n                         \"prefill\"; N <= 4, "
    "one-way hops)\n"
    "  --max-new K            tokens generated per request (default 16)\n"
    "  --concurrency N        requests in flight (default 4)\n"
    "  --seed S               model weights and prompts (default 1)\n"
    "  --model-layers L, --model-dim D   model size (default 2, 64)\n"
    "  --hop-delay D          a message is handled no earlier than D after "
    "its send\n                         time (e.g. 2ms; default 0)\n"
    "  --hop-jitter J         +- uniform jitter on every hop's delay, at "
    "most the\n                         hop delay (e.g. 1ms; default 0)\n"
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
    "any wait\n                         inside a stage (default 60s)\n"
    "  --no-internal-spans    trace only the spans between stages\n\n"
    "Faults (the root cause of an RCA case; repeatable):\n"
    "  --fault KIND@STAGE[:PARAM]\n"
    "      cpu@STAGE[:N]            N competing processes pinned with the "
    "stage (4)\n"
    "      memory@STAGE[:SIZE]      an allocation growing to SIZE, e.g. "
    "512MiB (256MiB)\n"
    "      network@STAGE[:D[/J]]    delay D +- jitter J on the stage's "
    "inbound hop\n                               (20ms/2ms)\n"
    "      gpu-throttle@STAGE[:S]   prefill or decode-N computes at speed "
    "S, e.g. 0.5\n"
    "                               (0.5; a slowed TP rank: "
    "gpu-throttle@decode-1)\n"
    "    imbalance conditions (skewscope experiment imbalance):\n"
    "      heavy@STAGE[:F]          prefill or decode-N does F times the "
    "work, SM clock\n                               unchanged (4; a "
    "heavier pipeline stage)\n"
    "      early-stop@decode-N      the rank's sequences end after their "
    "first token;\n                               it pads along with its "
    "peers, producing nothing\n"
    "      route-skew@tokenizer[:P] with --dp: share P of the requests "
    "to prefill-0\n                               (0.8)\n"
    "      kv-budget@decode[:B]     the TP group's KV cache holds B of a "
    "request's\n                               tokens (0.6): requests "
    "outgrowing it are preempted\n                               "
    "(recomputed)\n"
    "  --fault-at D           start D after the run starts (at a whole "
    "second;\n                         default 10s)\n"
    "  --fault-for D          for D (default 10s)\n\n"
    "Metrics and logs:\n"
    "  --metrics              every stage serves Prometheus text on\n"
    "                         http://127.0.0.1:PORT/metrics (ports printed "
    "at the end)\n"
    "  --metrics-port P       ports P, P+1, ... (gateway, tokenizer, "
    "prefill,\n                         detokenizer, decode-0..); default: "
    "free ports\n"
    "  --metrics-sd FILE      write the targets as Prometheus file_sd JSON "
    "first\n"
    "  --log FILE             JSON log lines of every stage\n"
    "  --case-dir DIR         record the run as an RCAEval case in\n"
    "                         DIR/<service>_<fault>/<n>/ (metrics scraped "
    "every\n                         second, traces and logs; implies "
    "--metrics)\n\n"
    "Exit: 0 success, 2 usage, 70 a stage failed or the run timed out,\n"
    "130 interrupted (SIGINT; 143 for SIGTERM), after stopping every "
    "stage.\n"
    "Example: skewscope testbed --requests 50 --skew prefill=5ms "
    "--hop-delay 2ms --out t.json\n"
    "         skewscope testbed --duration 30s --fault cpu@prefill "
    "--case-dir cases\n";

struct testbed_args {
    struct pipeline_config cfg;
    struct pipeline_stage_args stage;
    const char *faults[PIPELINE_MAX_FAULTS]; /* applied after all options */
    size_t nfaults;
    int64_t fault_at_ns, fault_for_ns;
    const char *case_dir;
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

/* Hidden --stage-fault=AT_NS:FOR_NS:SPEC of an exec'ed stage. */
static int stage_fault_opt(struct testbed_args *a, const char *arg)
{
    long long at, dur;
    int n = 0;
    char err[256];

    if (sscanf(arg, "%lld:%lld:%n", &at, &dur, &n) != 2 || n == 0)
        return cli_usage_error("testbed", "bad --stage-fault '%s'", arg);
    if (pipeline_config_add_fault(&a->cfg, arg + n, at, dur, err, sizeof err) <
        0)
        return cli_usage_error("testbed", "%s", err);
    return 0;
}

/* Faults, metrics, logs and the case folder. */
static int observe_opt(int opt, const char *arg, struct testbed_args *a)
{
    int64_t ns;
    int rc;

    switch (opt) {
    case 2001:
        if (a->nfaults == PIPELINE_MAX_FAULTS)
            return cli_usage_error("testbed", "at most %d --fault options",
                                   PIPELINE_MAX_FAULTS);
        a->faults[a->nfaults++] = arg;
        return 0;
    case 2002:
    case 2003:
        if ((rc = parse_duration_opt(opt == 2002 ? "--fault-at" : "--fault-for",
                                     arg, &ns)) != 0)
            return rc;
        *(opt == 2002 ? &a->fault_at_ns : &a->fault_for_ns) = ns;
        return 0;
    case 2004:
        a->cfg.metrics = true;
        return 0;
    case 2005:
        a->cfg.metrics = true;
        return uint_opt("--metrics-port", arg, &a->cfg.metrics_port);
    case 2006:
        a->cfg.metrics = true;
        a->cfg.metrics_sd_path = arg;
        return 0;
    case 2007:
        a->cfg.log_path = arg;
        return 0;
    case 2008:
        a->case_dir = arg;
        a->cfg.metrics = true;
        return 0;
    case 2009:
        a->cfg.no_internal_spans = true;
        return 0;
    default:
        return cli_usage_error("testbed", "unknown option");
    }
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
    case 1006:
        a->stage.metrics_fd = atoi(arg);
        return 0;
    case 1007:
        return stage_fault_opt(a, arg);
    default:
        return observe_opt(opt, arg, a);
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
    case 'P':
        return uint_opt("--dp", arg, &c->dp);
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
    case 'J':
        return parse_duration_opt("--hop-jitter", arg, &c->hop_jitter_ns);
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
        {"dp", required_argument, NULL, 'P'},
        {"max-new", required_argument, NULL, 'k'},
        {"concurrency", required_argument, NULL, 'C'},
        {"seed", required_argument, NULL, 's'},
        {"model-layers", required_argument, NULL, 'L'},
        {"model-dim", required_argument, NULL, 'D'},
        {"hop-delay", required_argument, NULL, 'd'},
        {"hop-jitter", required_argument, NULL, 'J'},
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
        {"stage-metrics-fd", required_argument, NULL, 1006},
        {"stage-fault", required_argument, NULL, 1007},
        {"fault", required_argument, NULL, 2001},
        {"fault-at", required_argument, NULL, 2002},
        {"fault-for", required_argument, NULL, 2003},
        {"metrics", no_argument, NULL, 2004},
        {"metrics-port", required_argument, NULL, 2005},
        {"metrics-sd", required_argument, NULL, 2006},
        {"log", required_argument, NULL, 2007},
        {"case-dir", required_argument, NULL, 2008},
        {"no-internal-spans", no_argument, NULL, 2009},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char err[256];

    pipeline_config_init(&a->cfg);
    a->cfg.truncate_out = true;
    a->stage.result_fd = -1;
    a->stage.ready_fd = -1;
    a->stage.metrics_fd = -1;
    a->fault_at_ns = 10000000000;
    a->fault_for_ns = 10000000000;
    int rc = cli_getopt(argc, argv, "testbed", ":h", longopts, usage_text,
                        each_opt, a);
    if (rc == 0 && optind < argc)
        rc =
            cli_usage_error("testbed", "unexpected operand '%s'", argv[optind]);
    for (size_t i = 0; rc == 0 && i < a->nfaults; i++)
        if (pipeline_config_add_fault(&a->cfg, a->faults[i], a->fault_at_ns,
                                      a->fault_for_ns, err, sizeof err) < 0)
            rc = cli_usage_error("testbed", "--fault %s", err);
    return rc;
}

static void print_observability(const struct pipeline_config *cfg,
                                const struct pipeline_result *r)
{
    for (size_t i = 0; i < cfg->nfaults; i++) {
        const struct pipeline_fault *f = &cfg->faults[i];
        if (r->windows[i].start_unix_ns)
            printf("fault:            %s at %s from %.3f to %.3f (Unix s)\n",
                   pipeline_fault_name(f->kind), f->stage,
                   (double)r->windows[i].start_unix_ns * 1e-9,
                   (double)r->windows[i].end_unix_ns * 1e-9);
        else
            printf("fault:            %s at %s never began (run too "
                   "short)\n",
                   pipeline_fault_name(f->kind), f->stage);
    }
    for (size_t i = 0; i < r->nendpoints; i++)
        printf("metrics:          %-11s http://127.0.0.1:%u/metrics\n",
               r->endpoints[i].stage, r->endpoints[i].port);
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
    print_observability(cfg, r);
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

/* --case-dir: the run folder, and the recorder wired into cfg. */
static int case_setup(struct testbed_args *a, struct case_record **rc_out,
                      char *dir, size_t dirlen)
{
    char err[512];
    struct case_record *c = case_record_create();

    if (!c) {
        fprintf(stderr, "skewscope testbed: out of memory\n");
        return EXIT_SOFTWARE;
    }
    if (case_record_next_dir(a->case_dir, &a->cfg, dir, dirlen, err,
                             sizeof err) < 0 ||
        case_record_prepare(c, &a->cfg, dir, err, sizeof err) < 0) {
        fprintf(stderr, "skewscope testbed: %s\n", err);
        case_record_destroy(c);
        return EXIT_SOFTWARE;
    }
    *rc_out = c;
    return 0;
}

static int case_finish(struct case_record *c, const struct testbed_args *a,
                       const struct pipeline_result *res, const char *dir)
{
    char err[512];

    if (case_record_write(c, &a->cfg, res, err, sizeof err) < 0) {
        fprintf(stderr, "skewscope testbed: %s\n", err);
        return EXIT_SOFTWARE;
    }
    printf("case:             %s (%zu scrapes)\n", dir, case_record_scrapes(c));
    return EXIT_FINE;
}

static int testbed_run(int argc, char **argv)
{
    struct testbed_args a;
    struct pipeline_result res;
    struct case_record *rcase = NULL;
    char err[512] = "", dir[CASE_RECORD_PATH_MAX];

    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc < 0)
        return EXIT_FINE; /* --help */
    if (rc)
        return rc;
    if (a.stage.stage)
        return run_stage(&a);
    if (a.case_dir && (rc = case_setup(&a, &rcase, dir, sizeof dir)) != 0)
        return rc;
    rc = pipeline_run(&a.cfg, &res, err, sizeof err);
    if (rc == -EINVAL) {
        case_record_destroy(rcase);
        return cli_usage_error("testbed", "%s", err);
    }
    if (rc < 0) {
        fprintf(stderr, "skewscope testbed: %s\n", err);
        case_record_destroy(rcase);
        return rc == -EINTR ? interrupted_exit() : EXIT_SOFTWARE;
    }
    print_result(&a.cfg, &res);
    rc = rcase ? case_finish(rcase, &a, &res, dir) : EXIT_FINE;
    case_record_destroy(rcase);
    return rc;
}

const struct command cmd_testbed = {
    .name = "testbed",
    .summary = "run the multi-process inference pipeline with clock skew",
    .run = testbed_run,
};
