/* cmd_simulate: `skewscope simulate`, the command-line face of sim/: write
 * inference-pipeline traces with injected clock errors in any input format,
 * and optionally the truth (offsets and the expected `check` result). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "output/trace_writer.h"
#include "sim/sim.h"

static const char usage_text[] =
    "usage: skewscope simulate [options]\n"
    "\n"
    "Write traces of a simulated LLM inference pipeline (node-gateway ->\n"
    "node-tokenizer -> node-prefill -> node-decode-0..N-1 -> node-detokenizer\n"
    "-> node-gateway), one trace per request, every node its own clock.\n"
    "\n"
    "options (default in brackets):\n"
    "  --requests N        requests, one trace each [100]\n"
    "  --duration S        seconds over which requests arrive [60]\n"
    "  --arrivals KIND     uniform (evenly spaced) or poisson [uniform]\n"
    "  --tp N              tensor-parallel decode ranks, 1..64 [2]\n"
    "  --steps K           decode steps per request [4]\n"
    "  --transport T       oneway (PRODUCER/CONSUMER) or rpc (gRPC) [oneway]\n"
    "  --links             oneway: consumers link to the producer instead of\n"
    "                      being its child [off]\n"
    "  --system NAME       messaging.system: kafka or zeromq [kafka]\n"
    "  --hop-min D         minimum hop latency [2ms]\n"
    "  --hop-jitter D      mean exponential extra hop latency [0.5ms]\n"
    "  --skew NODE=D       constant clock offset, + = ahead (repeatable) "
    "[none]\n"
    "  --drift NODE=PPM    clock drift in ppm (repeatable) [none]\n"
    "  --step NODE=D@T     clock step of D at T into the run (repeatable) "
    "[none]\n"
    "  --seed N            PRNG seed; same seed, same bytes [1]\n"
    "  --start UNIX_S      true start time, unix seconds [1790000000]\n"
    "  --format F          otlp-json, otlp-json-lines, otlp-proto, jaeger,\n"
    "                      zipkin [otlp-json]\n"
    "  -o FILE             trace output [stdout]\n"
    "  --truth FILE        write the truth JSON (offsets, expected check)\n"
    "  -h, --help          this text\n"
    "\n"
    "D is a duration with a unit: ns, us, ms, s (\"5ms\", \"-300us\").\n"
    "NODE may omit the \"node-\" prefix: prefill = node-prefill.\n"
    "\n"
    "example:\n"
    "  skewscope simulate --requests 100 --skew prefill=5ms --drift "
    "decode-1=40ppm \\\n"
    "      --step tokenizer=2ms@30s --format jaeger -o traces.json \\\n"
    "      --truth truth.json\n";

static const struct option long_opts[] = {
    {"requests", required_argument, NULL, 'r'},
    {"duration", required_argument, NULL, 'd'},
    {"arrivals", required_argument, NULL, 'a'},
    {"tp", required_argument, NULL, 'p'},
    {"steps", required_argument, NULL, 'k'},
    {"transport", required_argument, NULL, 't'},
    {"links", no_argument, NULL, 'l'},
    {"system", required_argument, NULL, 'y'},
    {"hop-min", required_argument, NULL, 'm'},
    {"hop-jitter", required_argument, NULL, 'j'},
    {"skew", required_argument, NULL, 'S'},
    {"drift", required_argument, NULL, 'D'},
    {"step", required_argument, NULL, 'T'},
    {"seed", required_argument, NULL, 's'},
    {"start", required_argument, NULL, 'b'},
    {"format", required_argument, NULL, 'f'},
    {"truth", required_argument, NULL, 'u'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct simulate_args {
    struct sim_config cfg;
    const struct trace_writer_ops *ops;
    const char *out_path, *truth_path;
};

static int parse_uint(const char *s, unsigned long long max,
                      unsigned long long *out)
{
    char *end;

    errno = 0;
    if (*s == '-' || *s == '\0')
        return -1;
    *out = strtoull(s, &end, 10);
    return errno || *end || *out > max ? -1 : 0;
}

static int parse_format(struct simulate_args *a, const char *f)
{
    a->cfg.lines = 0;
    if (strcmp(f, "otlp-json") == 0)
        a->ops = &trace_writer_otlp_json_ops;
    else if (strcmp(f, "otlp-json-lines") == 0) {
        a->ops = &trace_writer_otlp_json_ops;
        a->cfg.lines = 1;
    } else if (strcmp(f, "otlp-proto") == 0)
        a->ops = &trace_writer_otlp_proto_ops;
    else if (strcmp(f, "jaeger") == 0)
        a->ops = &trace_writer_jaeger_ops;
    else if (strcmp(f, "zipkin") == 0)
        a->ops = &trace_writer_zipkin_ops;
    else
        return -1;
    return 0;
}

static int parse_choice(int opt, const char *v, struct sim_config *cfg)
{
    if (opt == 't' && strcmp(v, "oneway") == 0)
        cfg->transport = SIM_TRANSPORT_ONEWAY;
    else if (opt == 't' && strcmp(v, "rpc") == 0)
        cfg->transport = SIM_TRANSPORT_RPC;
    else if (opt == 'a' && strcmp(v, "uniform") == 0)
        cfg->arrivals = SIM_ARRIVALS_UNIFORM;
    else if (opt == 'a' && strcmp(v, "poisson") == 0)
        cfg->arrivals = SIM_ARRIVALS_POISSON;
    else if (opt == 'y' && strcmp(v, "kafka") == 0)
        cfg->system = "kafka";
    else if (opt == 'y' && strcmp(v, "zeromq") == 0)
        cfg->system = "zeromq";
    else
        return -1;
    return 0;
}

static int parse_number(int opt, const char *v, struct sim_config *cfg)
{
    unsigned long long u;
    char *end;

    switch (opt) {
    case 'r':
        if (parse_uint(v, 100000000, &u) < 0)
            return cli_usage_error(
                "simulate", "--requests wants 0..100000000, got '%s'", v);
        cfg->requests = (unsigned)u;
        return 0;
    case 'p':
        if (parse_uint(v, SIM_MAX_TP, &u) < 0 || u == 0)
            return cli_usage_error("simulate", "--tp wants 1..64, got '%s'", v);
        cfg->tp = (unsigned)u;
        return 0;
    case 'k':
        if (parse_uint(v, 100000, &u) < 0)
            return cli_usage_error("simulate",
                                   "--steps wants 0..100000, got '%s'", v);
        cfg->steps = (unsigned)u;
        return 0;
    case 's':
        if (parse_uint(v, UINT64_MAX, &u) < 0)
            return cli_usage_error(
                "simulate", "--seed wants an unsigned integer, got '%s'", v);
        cfg->seed = u;
        return 0;
    case 'b':
        if (parse_uint(v, 9000000000ULL, &u) < 0)
            return cli_usage_error("simulate",
                                   "--start wants unix seconds, got '%s'", v);
        cfg->start_unix_ns = (int64_t)u * 1000000000LL;
        return 0;
    default: /* 'd' */
        errno = 0;
        cfg->duration_s = strtod(v, &end);
        if (errno || end == v || (*end && strcmp(end, "s") != 0) ||
            !(cfg->duration_s >= 0 && cfg->duration_s <= 1e7))
            return cli_usage_error(
                "simulate", "--duration wants seconds (0..1e7), got '%s'", v);
        return 0;
    }
}

static int parse_latency(int opt, const char *v, struct sim_config *cfg)
{
    int64_t *dst = opt == 'm' ? &cfg->hop_min_ns : &cfg->hop_jitter_ns;

    if (sim_parse_duration(v, 0, dst) < 0 || *dst < 0)
        return cli_usage_error(
            "simulate", "%s",
            opt == 'm' ? "--hop-min wants a duration >= 0 with a unit, "
                         "e.g. 2ms"
                       : "--hop-jitter wants a duration >= 0 with a "
                         "unit, e.g. 500us");
    return 0;
}

static int parse_clock(int opt, const char *v, struct sim_config *cfg)
{
    char err[256];
    enum sim_clock_param p = opt == 'S'   ? SIM_CLOCK_SKEW
                             : opt == 'D' ? SIM_CLOCK_DRIFT
                                          : SIM_CLOCK_STEP;

    if (sim_config_parse_clock(cfg, p, v, err, sizeof err) < 0)
        return cli_usage_error("simulate", "%s", err);
    return 0;
}

static int parse_one(int opt, const char *v, void *ctx)
{
    struct simulate_args *a = ctx;

    switch (opt) {
    case 'l':
        a->cfg.links = true;
        return 0;
    case 't':
    case 'a':
    case 'y':
        if (parse_choice(opt, v, &a->cfg) < 0)
            return cli_usage_error(
                "simulate", "bad value '%s' (see the choices in --help)", v);
        return 0;
    case 'm':
    case 'j':
        return parse_latency(opt, v, &a->cfg);
    case 'S':
    case 'D':
    case 'T':
        return parse_clock(opt, v, &a->cfg);
    case 'f':
        if (parse_format(a, v) < 0)
            return cli_usage_error(
                "simulate",
                "unknown --format '%s' (otlp-json, "
                "otlp-json-lines, otlp-proto, jaeger, zipkin)",
                v);
        return 0;
    case 'o':
        a->out_path = v;
        return 0;
    case 'u':
        a->truth_path = v;
        return 0;
    default:
        return parse_number(opt, v, &a->cfg);
    }
}

/* Returns -1 after --help, 0 when parsed, else an exit code. */
static int parse_args(int argc, char **argv, struct simulate_args *a)
{
    char err[512];
    int rc;

    sim_config_init(&a->cfg);
    a->ops = &trace_writer_otlp_json_ops;
    rc = cli_getopt(argc, argv, "simulate", ":ho:", long_opts, usage_text,
                    parse_one, a);
    if (rc != 0)
        return rc;
    if (optind < argc)
        return cli_usage_error("simulate", "unexpected argument '%s'",
                               argv[optind]);
    if (a->cfg.links && a->cfg.transport == SIM_TRANSPORT_RPC)
        return cli_usage_error("simulate", "%s",
                               "--links applies to --transport oneway only");
    if (sim_config_check(&a->cfg, err, sizeof err) < 0)
        return cli_usage_error("simulate", "%s", err);
    if (a->cfg.links && a->ops == &trace_writer_zipkin_ops)
        fprintf(stderr, "skewscope simulate: warning: Zipkin has no span "
                        "links; consumers get neither parent nor link\n");
    return 0;
}

static FILE *open_out(const char *path, const char *what)
{
    FILE *f;

    if (!path || strcmp(path, "-") == 0)
        return stdout;
    f = fopen(path, "wb");
    if (!f)
        fprintf(stderr, "skewscope simulate: cannot write %s %s: %s\n", what,
                path, strerror(errno));
    return f;
}

static int simulate_run(int argc, char **argv)
{
    struct simulate_args a = {0};
    FILE *out = NULL, *truth = NULL;
    char err[512];
    int rc = parse_args(argc, argv, &a);

    if (rc != 0)
        return rc < 0 ? EXIT_FINE : rc;
    rc = EXIT_NOINPUT;
    if (!(out = open_out(a.out_path, "traces to")))
        goto cleanup;
    if (a.truth_path && !(truth = open_out(a.truth_path, "truth to")))
        goto cleanup;
    rc = EXIT_FINE;
    if (sim_run(&a.cfg, a.ops, out, truth, err, sizeof err) < 0) {
        fprintf(stderr, "skewscope simulate: %s\n", err);
        rc = EXIT_SOFTWARE; /* the configuration was checked already */
    }
cleanup:
    if (truth && truth != stdout && fclose(truth) != 0 && rc == EXIT_FINE)
        rc = EXIT_SOFTWARE;
    if (out && out != stdout && fclose(out) != 0 && rc == EXIT_FINE)
        rc = EXIT_SOFTWARE;
    return rc;
}

const struct command cmd_simulate = {
    .name = "simulate",
    .summary = "write pipeline traces with known clock errors (and the truth)",
    .run = simulate_run,
};
