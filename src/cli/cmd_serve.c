/* cmd_serve: `skewscope serve`: run the live collector (serve/serve.h)
 * until SIGTERM or SIGINT (or --duration), then stop gracefully: stop
 * accepting, process and forward (or spool) everything accepted, exit 0. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "imbalance/imbalance.h"
#include "serve/serve.h"
#include "serve/serve_scrape.h"
#include "sim/sim.h"
#include "util/clock.h"

static const char usage_text[] =
    "usage: skewscope serve [OPTIONS]\n\n"
    "Live OTLP (and Kafka) collector: assembles traces, tracks every clock\n"
    "domain's offset, bounds and drift over sliding windows, warns before "
    "an\nedge's skew budget runs out, and forwards corrected spans.\n"
    "Endpoints on --listen: POST /v1/traces (OTLP/HTTP protobuf or JSON, "
    "gzip),\nGET /metrics (Prometheus), GET /api/v1/status (JSON), "
    "GET /api/v1/windows\n(this instance's statistics, for its peers), "
    "GET /api/v1/cluster (with --peer).\n\n"
    "input:\n"
    "  --listen HOST:PORT      HTTP address (default 127.0.0.1:4318; port 0 "
    "= any)\n"
    "  --listen-grpc HOST:PORT OTLP/gRPC address: TraceService/Export over "
    "h2c,\n"
    "                          gzip, the token as authorization metadata, "
    "the same\n"
    "                          limits and acknowledgement as HTTP (default\n"
    "                          127.0.0.1:4317 when that port is free; off = "
    "none)\n"
    "  --token-file FILE       require \"Authorization: Bearer <token>\" "
    "(token =\n"
    "                          the file's first line; or env "
    "SKEWSCOPE_TOKEN)\n"
    "  --max-body BYTES        request body limit (default 8M) -> 413\n"
    "  --max-decompressed BYTES  gunzipped body limit (default 64M) -> 413\n"
    "  --max-queued-spans N    spans buffered before 429 (default 1000000)\n"
    "  --http-threads N        HTTP worker threads (default 2)\n"
    "  --max-connections N     open HTTP connections in all (default 4096; "
    "more are\n"
    "                          closed at accept; the open-file limit is "
    "raised to fit)\n"
    "  --max-connections-per-ip N  from one client address (default 256)\n"
    "  --header-timeout D      a request's headers must be in within D of "
    "the\n"
    "                          connection or of its previous request "
    "(default 10s)\n"
    "  --body-timeout D        a body must be in within D, plus 1 s per\n"
    "  --body-min-rate BYTES   BYTES received (defaults 20s, 1K): slower "
    "clients\n"
    "                          are cut off\n"
    "  --idle-timeout D        close a connection silent for D (default "
    "10s)\n"
    "  --kafka-brokers LIST    Kafka bootstrap servers\n"
    "  --kafka-topic TOPIC     consume OTLP protobuf messages (otlp_proto) "
    "from TOPIC\n"
    "  --kafka-group ID        consumer group (default skewscope)\n"
    "  --clock-domain ATTR     resource attribute naming the clock domain\n"
    "                          (default host.name, then service.name)\n\n"
    "analysis:\n"
    "  --assembly-window D     wait D for a trace's spans (default 2s)\n"
    "  --window D              statistics window (default 10s)\n"
    "  --windows N             windows kept (default 30)\n"
    "  --warn-share X          warn when an edge's offset uses more than X "
    "of its\n"
    "                          skew budget (default 0.5)\n"
    "  --reference DOMAIN      reference clock (default: the consensus of "
    "the clocks\n"
    "                          that agree, as estimate reports)\n"
    "  --update-interval D     recompute offsets every D (default 1s)\n\n"
    "cluster view (several instances in one consumer group):\n"
    "  --peer URL              another instance, e.g. http://10.0.0.2:4318 "
    "(repeat\n"
    "                          for each; not this one): every update "
    "interval its\n"
    "                          GET /api/v1/windows is merged with this "
    "instance's\n"
    "                          statistics into GET /api/v1/cluster and "
    "the\n"
    "                          skewscope_cluster_* metrics; the token of "
    "--token-file\n"
    "                          is sent along; every instance needs the "
    "same --window\n"
    "  --peer-timeout D        per peer fetch (default 500ms); a peer that "
    "fails is\n"
    "                          reported in \"peers\", never fatal\n\n"
    "imbalance detection (the detectors of `skewscope imbalance`, live):\n"
    "  --scrape [NAME=]URL     a Prometheus text target (vLLM, SGLang, TGI,\n"
    "                          dcgm-exporter, node-exporter, skewscope "
    "collect\n"
    "                          --listen, the testbed's stages); repeat for "
    "each.\n"
    "                          NAME (default host:port) labels its metrics "
    "and\n"
    "                          names series without a service/job/pod "
    "label.\n"
    "                          Findings: GET /api/v1/findings,\n"
    "                          skewscope_imbalance_findings on /metrics, a "
    "JSON\n"
    "                          log line when one starts and when it ends; "
    "the\n"
    "                          traces' collectives are judged on the live "
    "clocks\n"
    "  --scrape-interval D     scrape every D (default: the runbook's step, "
    "1s)\n"
    "  --scrape-timeout D      per request (default 0.8 x the interval)\n"
    "  --runbook FILE          load FILE on top of the built-in runbook "
    "(repeat)\n"
    "  --set COND.KEY=V        override a threshold, as `imbalance --set`\n"
    "                          (a target that fails is counted and logged, "
    "never\n"
    "                          fatal)\n\n"
    "forwarding (corrected spans; originals kept as attributes):\n"
    "  --forward-otlp URL      downstream OTLP/HTTP endpoint, e.g.\n"
    "                          http://127.0.0.1:4319/v1/traces, or OTLP/gRPC:\n"
    "                          grpc://127.0.0.1:4317 (protobuf input only)\n"
    "  --forward-token-file FILE  bearer token for the downstream\n"
    "  --forward-kafka-topic T produce corrected batches to topic T\n"
    "  --forward-kafka-brokers LIST  (default --kafka-brokers)\n"
    "  --spool-dir DIR         on-disk queue while the downstream is away\n"
    "                          (default ./skewscope-spool)\n"
    "  --spool-max BYTES       spool bound (default 1G)\n"
    "  --durability MODE       what a 200 to an HTTP sender promises:\n"
    "                          wal (the default when forwarding): each request "
    "is\n"
    "                          fsync'd to a write-ahead log before the 200 "
    "and\n"
    "                          replayed after a crash (kill -9, power loss); "
    "at\n"
    "                          least once, duplicates counted in\n"
    "                          skewscope_wal_replayed_spans_total;\n"
    "                          memory (the default otherwise): queued in "
    "memory\n"
    "                          only: spans acknowledged but not yet forwarded "
    "or\n"
    "                          spooled (up to --max-queued-spans) are lost on "
    "kill -9\n"
    "                          or power loss. Kafka input needs neither "
    "(offsets\n"
    "                          are committed once the spans are safe)\n"
    "  --wal-dir DIR           write-ahead log directory (default: the "
    "spool\n"
    "                          directory's path + \"-wal\", "
    "./skewscope-spool-wal)\n"
    "  --wal-fsync on|off      on (default): a 200 waits for the fsync "
    "that covers\n"
    "                          its request (group commit: one fsync for all "
    "the\n"
    "                          requests that arrived meanwhile); off: for "
    "the write\n"
    "                          only, which survives kill -9 but not a power "
    "loss\n\n"
    "  --duration D            stop by itself after D (default: run until "
    "SIGTERM)\n\n"
    "Warnings and violations are logged as JSON lines on stderr.\n"
    "Exit: 0 after a graceful stop, 2 usage, 65 a runbook that does not "
    "load,\n66 a runbook file that cannot be read, 69 cannot listen / open "
    "the "
    "spool or\nthe WAL / reach Kafka, 70 accepted spans could be neither "
    "forwarded nor\nspooled (with the WAL they stay there for the next "
    "start).\n"
    "Example: skewscope serve --listen 127.0.0.1:4318 --forward-otlp "
    "http://127.0.0.1:4319/v1/traces\n";

/* Long-only options (no short letter to collide with). */
#define OPT_DURABILITY 0x200
#define OPT_WAL_DIR 0x201
#define OPT_WAL_FSYNC 0x202
#define OPT_LISTEN_GRPC 0x203
#define OPT_SCRAPE 0x204
#define OPT_SCRAPE_INTERVAL 0x205
#define OPT_SCRAPE_TIMEOUT 0x206
#define OPT_RUNBOOK 0x207
#define OPT_SET 0x208
#define DEFAULT_GRPC_LISTEN "127.0.0.1:4317"

struct serve_args {
    struct serve_config cfg;
    int64_t duration_ns;
    char *token, *forward_token; /* read from files */
    const char **peers;          /* argv strings; the array is ours */
    const char **scrape, **runbooks, **sets; /* argv strings, arrays ours */
    bool grpc_set;                           /* --listen-grpc given */
};

static int duration_opt(const char *opt, const char *v, int64_t *ns)
{
    if (sim_parse_duration(v, 0, ns) < 0 || *ns <= 0)
        return cli_usage_error("serve",
                               "%s expects a duration like 2s, "
                               "got '%s'",
                               opt, v);
    return 0;
}

static int seconds_opt(const char *opt, const char *v, double *s)
{
    int64_t ns;
    int rc = duration_opt(opt, v, &ns);

    *s = ns * 1e-9;
    return rc;
}

/* BYTES with an optional K, M or G suffix (powers of 1024). */
static int size_opt(const char *opt, const char *v, uint64_t *out)
{
    char *end;
    unsigned long long x;

    errno = 0;
    x = strtoull(v, &end, 10);
    if (end == v || v[0] == '-' || errno)
        goto bad;
    switch (*end) {
    case 'K':
    case 'k':
        x <<= 10;
        end++;
        break;
    case 'M':
    case 'm':
        x <<= 20;
        end++;
        break;
    case 'G':
    case 'g':
        x <<= 30;
        end++;
        break;
    default:
        break;
    }
    if (*end || x == 0)
        goto bad;
    *out = x;
    return 0;
bad:
    return cli_usage_error("serve", "%s expects a size like 64M, got '%s'", opt,
                           v);
}

static int token_opt(const char *opt, const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    size_t n;

    if (!f)
        return cli_usage_error("serve", "%s: %s: %s", opt, path,
                               strerror(errno));
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (!n)
        return cli_usage_error("serve", "%s: %s: empty token", opt, path);
    free(*out);
    *out = strdup(line);
    return *out ? 0 : EXIT_SOFTWARE;
}

static int number_opt(const char *opt, const char *v, size_t *out)
{
    uint64_t x;
    char *end;

    errno = 0;
    x = strtoull(v, &end, 10);
    if (end == v || *end || v[0] == '-' || errno || x == 0)
        return cli_usage_error("serve",
                               "%s expects a positive number, got "
                               "'%s'",
                               opt, v);
    *out = (size_t)x;
    return 0;
}

static int share_opt(const char *v, double *out)
{
    char *end;
    double x = strtod(v, &end);

    if (end == v || *end || !(x > 0 && x <= 1))
        return cli_usage_error("serve",
                               "--warn-share expects a number in "
                               "(0, 1], got '%s'",
                               v);
    *out = x;
    return 0;
}

static int peer_opt(const char *url, struct serve_args *a)
{
    const char **v;

    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return cli_usage_error("serve",
                               "--peer expects an http:// or https:// URL "
                               "such as http://10.0.0.2:4318, got '%s'",
                               url);
    v = realloc(a->peers, (a->cfg.npeers + 1) * sizeof(*v));
    if (!v)
        return EXIT_SOFTWARE;
    v[a->cfg.npeers++] = url;
    a->peers = v;
    a->cfg.peers = v;
    return 0;
}

/* Append an argv string to one of the arrays the config borrows. */
static int push_arg(const char ***v, size_t *n, const char *arg)
{
    const char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

    if (!nv)
        return EXIT_SOFTWARE;
    nv[(*n)++] = arg;
    *v = nv;
    return 0;
}

static int scrape_opt(int opt, const char *arg, struct serve_args *a)
{
    struct serve_config *c = &a->cfg;
    int rc;

    switch (opt) {
    case OPT_SCRAPE:
        rc = push_arg(&a->scrape, &c->nscrape_targets, arg);
        c->scrape_targets = a->scrape;
        return rc;
    case OPT_SCRAPE_INTERVAL:
        return seconds_opt("--scrape-interval", arg, &c->scrape_interval_s);
    case OPT_SCRAPE_TIMEOUT:
        return seconds_opt("--scrape-timeout", arg, &c->scrape_timeout_s);
    case OPT_RUNBOOK:
        rc = push_arg(&a->runbooks, &c->nrunbooks, arg);
        c->runbooks = a->runbooks;
        return rc;
    default: /* OPT_SET */
        rc = push_arg(&a->sets, &c->nrunbook_sets, arg);
        c->runbook_sets = a->sets;
        return rc;
    }
}

static int peer_timeout_opt(const char *v, struct serve_config *c)
{
    int64_t ns;
    int rc = duration_opt("--peer-timeout", v, &ns);

    if (rc == 0 && (ns < 1000000 || ns > 60 * 1000000000LL))
        rc = cli_usage_error("serve",
                             "--peer-timeout expects 1ms to 60s, got '%s'", v);
    if (rc == 0)
        c->peer_timeout_ms = (unsigned)(ns / 1000000);
    return rc;
}

static int durability_opt(const char *v, struct serve_config *c)
{
    if (strcmp(v, "wal") == 0)
        c->durability = SERVE_DURABILITY_WAL;
    else if (strcmp(v, "memory") == 0)
        c->durability = SERVE_DURABILITY_MEMORY;
    else
        return cli_usage_error(
            "serve", "--durability expects wal or memory, got '%s'", v);
    return 0;
}

/* HTTP connection limits and deadlines: long options only. */
#define OPT_MAX_CONNECTIONS 0x300
#define OPT_MAX_CONNECTIONS_PER_IP 0x301
#define OPT_HEADER_TIMEOUT 0x302
#define OPT_BODY_TIMEOUT 0x303
#define OPT_BODY_MIN_RATE 0x304
#define OPT_IDLE_TIMEOUT 0x305

/* A duration of 1 ms .. 1 h in ms (unit 1) or whole s (unit 1000). */
static int timeout_opt(const char *opt, const char *v, unsigned unit_ms,
                       unsigned *out)
{
    int64_t ns;
    int rc = duration_opt(opt, v, &ns);

    if (rc == 0 &&
        (ns < (int64_t)unit_ms * 1000000 || ns > 3600 * 1000000000LL))
        rc = cli_usage_error("serve", "%s expects %s to 1h, got '%s'", opt,
                             unit_ms == 1 ? "1ms" : "1s", v);
    if (rc == 0)
        *out = (unsigned)(ns / 1000000 / unit_ms);
    return rc;
}

/* A count of 1 .. 1,000,000. */
static int count_opt(const char *opt, const char *v, unsigned *out)
{
    size_t x;
    int rc = number_opt(opt, v, &x);

    if (rc == 0 && x > 1000000)
        rc = cli_usage_error("serve", "%s is at most 1000000", opt);
    if (rc == 0)
        *out = (unsigned)x;
    return rc;
}

static int http_opt(int opt, const char *arg, struct serve_config *c)
{
    uint64_t x;
    int rc;

    switch (opt) {
    case OPT_MAX_CONNECTIONS:
        return count_opt("--max-connections", arg, &c->max_connections);
    case OPT_MAX_CONNECTIONS_PER_IP:
        return count_opt("--max-connections-per-ip", arg,
                         &c->max_connections_per_ip);
    case OPT_HEADER_TIMEOUT:
        return timeout_opt("--header-timeout", arg, 1, &c->header_timeout_ms);
    case OPT_BODY_TIMEOUT:
        return timeout_opt("--body-timeout", arg, 1, &c->body_timeout_ms);
    case OPT_IDLE_TIMEOUT:
        return timeout_opt("--idle-timeout", arg, 1000, &c->idle_timeout_s);
    case OPT_BODY_MIN_RATE:
        if ((rc = size_opt("--body-min-rate", arg, &x)) == 0 && x > UINT_MAX)
            rc = cli_usage_error("serve", "--body-min-rate is at most 4G");
        if (rc == 0)
            c->body_min_rate = (unsigned)x;
        return rc;
    default:
        return cli_usage_error("serve", "unknown option");
    }
}

static int analysis_opt(int opt, const char *arg, struct serve_args *a)
{
    struct serve_config *c = &a->cfg;

    switch (opt) {
    case 'A':
        return seconds_opt("--assembly-window", arg, &c->assembly_window_s);
    case 'W':
        return seconds_opt("--window", arg, &c->stat_window_s);
    case 'n':
        return cli_parse_uint("--windows", arg, &c->max_windows) < 0
                   ? EXIT_USAGE
                   : 0;
    case 's':
        return share_opt(arg, &c->warn_share);
    case 'r':
        c->reference = arg;
        return 0;
    case 'U':
        return seconds_opt("--update-interval", arg, &c->update_interval_s);
    case 'c':
        c->clock_domain_attr = arg;
        return 0;
    case 'u':
        return duration_opt("--duration", arg, &a->duration_ns);
    case 'p':
        return peer_opt(arg, a);
    case 'E':
        return peer_timeout_opt(arg, c);
    case OPT_SCRAPE:
    case OPT_SCRAPE_INTERVAL:
    case OPT_SCRAPE_TIMEOUT:
    case OPT_RUNBOOK:
    case OPT_SET:
        return scrape_opt(opt, arg, a);
    default:
        return http_opt(opt, arg, c);
    }
}

static int each_opt(int opt, const char *arg, void *ctx)
{
    struct serve_args *a = ctx;
    struct serve_config *c = &a->cfg;
    uint64_t x;
    int rc;

    switch (opt) {
    case 'l':
        c->listen = arg;
        return 0;
    case 't':
        return token_opt("--token-file", arg, &a->token);
    case 'b':
        if ((rc = size_opt("--max-body", arg, &x)) == 0)
            c->max_body_bytes = (size_t)x;
        return rc;
    case 'z':
        if ((rc = size_opt("--max-decompressed", arg, &x)) == 0)
            c->max_decompressed_bytes = (size_t)x;
        return rc;
    case 'q':
        return number_opt("--max-queued-spans", arg, &c->max_queued_spans);
    case 'T':
        return cli_parse_uint("--http-threads", arg, &c->http_threads) < 0
                   ? EXIT_USAGE
                   : 0;
    case 'k':
        c->kafka_brokers = arg;
        return 0;
    case 'K':
        c->kafka_topic = arg;
        return 0;
    case 'g':
        c->kafka_group = arg;
        return 0;
    case 'f':
        c->forward_otlp = arg;
        return 0;
    case 'F':
        return token_opt("--forward-token-file", arg, &a->forward_token);
    case 'o':
        c->forward_kafka_topic = arg;
        return 0;
    case 'O':
        c->forward_kafka_brokers = arg;
        return 0;
    case 'd':
        c->spool_dir = arg;
        return 0;
    case 'm':
        return size_opt("--spool-max", arg, &c->spool_max_bytes);
    case OPT_DURABILITY:
        return durability_opt(arg, c);
    case OPT_WAL_DIR:
        c->wal_dir = arg;
        return 0;
    case OPT_LISTEN_GRPC:
        a->grpc_set = true;
        c->grpc_listen = strcmp(arg, "off") == 0 ? NULL : arg;
        return 0;
    case OPT_WAL_FSYNC:
        if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
            return cli_usage_error(
                "serve", "--wal-fsync expects on or off, got '%s'", arg);
        c->wal_no_fsync = strcmp(arg, "off") == 0;
        return 0;
    default:
        return analysis_opt(opt, arg, a);
    }
}

/* --scrape, --runbook and --set checked before anything starts, with the
 * exit codes of `skewscope imbalance`. */
static int check_scrape(const struct serve_config *c)
{
    struct serve_scrape_config sc = {
        .targets = c->scrape_targets,
        .ntargets = c->nscrape_targets,
        .interval_s = c->scrape_interval_s,
        .runbooks = c->runbooks,
        .nrunbooks = c->nrunbooks,
        .sets = c->runbook_sets,
        .nsets = c->nrunbook_sets,
    };
    char err[512];
    int rc;

    if (!c->nscrape_targets && (c->nrunbooks || c->nrunbook_sets))
        return cli_usage_error("serve", "--runbook and --set need --scrape");
    if (!c->nscrape_targets ||
        (rc = serve_scrape_check(&sc, err, sizeof err)) == 0)
        return 0;
    if (rc == -IMB_E_INVAL)
        return cli_usage_error("serve", "%s", err);
    fprintf(stderr, "skewscope serve: %s\n", err);
    return rc == -IMB_E_NOINPUT ? EXIT_NOINPUT
           : rc == -IMB_E_NOMEM ? EXIT_SOFTWARE
                                : EXIT_DATAERR;
}

static int parse_args(int argc, char **argv, struct serve_args *a)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"listen-grpc", required_argument, NULL, OPT_LISTEN_GRPC},
        {"token-file", required_argument, NULL, 't'},
        {"max-body", required_argument, NULL, 'b'},
        {"max-decompressed", required_argument, NULL, 'z'},
        {"max-queued-spans", required_argument, NULL, 'q'},
        {"http-threads", required_argument, NULL, 'T'},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"max-connections-per-ip", required_argument, NULL,
         OPT_MAX_CONNECTIONS_PER_IP},
        {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
        {"body-timeout", required_argument, NULL, OPT_BODY_TIMEOUT},
        {"body-min-rate", required_argument, NULL, OPT_BODY_MIN_RATE},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"kafka-brokers", required_argument, NULL, 'k'},
        {"kafka-topic", required_argument, NULL, 'K'},
        {"kafka-group", required_argument, NULL, 'g'},
        {"forward-otlp", required_argument, NULL, 'f'},
        {"forward-token-file", required_argument, NULL, 'F'},
        {"forward-kafka-topic", required_argument, NULL, 'o'},
        {"forward-kafka-brokers", required_argument, NULL, 'O'},
        {"spool-dir", required_argument, NULL, 'd'},
        {"spool-max", required_argument, NULL, 'm'},
        {"durability", required_argument, NULL, OPT_DURABILITY},
        {"wal-dir", required_argument, NULL, OPT_WAL_DIR},
        {"wal-fsync", required_argument, NULL, OPT_WAL_FSYNC},
        {"assembly-window", required_argument, NULL, 'A'},
        {"window", required_argument, NULL, 'W'},
        {"windows", required_argument, NULL, 'n'},
        {"warn-share", required_argument, NULL, 's'},
        {"reference", required_argument, NULL, 'r'},
        {"update-interval", required_argument, NULL, 'U'},
        {"clock-domain", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'u'},
        {"peer", required_argument, NULL, 'p'},
        {"peer-timeout", required_argument, NULL, 'E'},
        {"scrape", required_argument, NULL, OPT_SCRAPE},
        {"scrape-interval", required_argument, NULL, OPT_SCRAPE_INTERVAL},
        {"scrape-timeout", required_argument, NULL, OPT_SCRAPE_TIMEOUT},
        {"runbook", required_argument, NULL, OPT_RUNBOOK},
        {"set", required_argument, NULL, OPT_SET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rc = cli_getopt(argc, argv, "serve", ":h", longopts, usage_text,
                        each_opt, a);

    if (rc == 0 && optind < argc)
        rc = cli_usage_error("serve", "unexpected operand '%s'", argv[optind]);
    if (rc == 0 && a->cfg.kafka_topic && !a->cfg.kafka_brokers)
        rc = cli_usage_error("serve", "--kafka-topic needs --kafka-brokers");
    if (rc == 0 && a->cfg.forward_kafka_topic &&
        !a->cfg.forward_kafka_brokers && !a->cfg.kafka_brokers)
        rc = cli_usage_error("serve", "--forward-kafka-topic needs "
                                      "--forward-kafka-brokers or "
                                      "--kafka-brokers");
    if (rc == 0 && a->cfg.max_windows > 4096)
        rc = cli_usage_error("serve", "--windows is at most 4096");
    if (rc == 0)
        rc = check_scrape(&a->cfg);
    return rc;
}

/* Block the stop signals in every thread (threads inherit the mask) and
 * wait for one here; SIGPIPE is ignored (peers closing sockets). */
static int wait_for_stop(const sigset_t *set, int64_t duration_ns)
{
    struct timespec ts = {1, 0};
    int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);

    for (;;) {
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0)
            return sig;
        if (duration_ns > 0) {
            int64_t left = duration_ns - (clock_now_ns(CLOCK_MONOTONIC) - t0);
            if (left <= 0)
                return 0;
            if (left < 1000000000) {
                ts.tv_sec = 0;
                ts.tv_nsec = (long)left;
            }
        }
    }
}

static int run(int argc, char **argv)
{
    struct serve_args a;
    struct serve *s;
    sigset_t set;
    char err[512] = "";
    int rc;

    memset(&a, 0, sizeof(a));
    rc = parse_args(argc, argv, &a);
    if (rc < 0)
        return EXIT_FINE; /* --help */
    if (rc)
        goto out;
    if (!a.token && getenv("SKEWSCOPE_TOKEN") && *getenv("SKEWSCOPE_TOKEN"))
        a.token = strdup(getenv("SKEWSCOPE_TOKEN"));
    a.cfg.bearer_token = a.token;
    a.cfg.forward_token = a.forward_token;
    if (!a.grpc_set) { /* the default address: taken when free */
        a.cfg.grpc_listen = DEFAULT_GRPC_LISTEN;
        a.cfg.grpc_listen_optional = true;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    s = serve_start(&a.cfg, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "skewscope serve: %s\n", err);
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    {
        const char *listen = a.cfg.listen ? a.cfg.listen : "127.0.0.1:4318";
        const char *colon = strrchr(listen, ':');
        int hostlen = colon ? (int)(colon - listen) : (int)strlen(listen);
        printf("skewscope serve: listening on http://%.*s:%d (port %d): "
               "POST /v1/traces, GET /metrics, GET /api/v1/status, "
               "GET /api/v1/windows%s\n",
               hostlen, listen, serve_port(s), serve_port(s),
               a.cfg.npeers ? ", GET /api/v1/cluster" : "");
        /* a line of its own, worded so that scripts reading "(port N)"
         * keep finding the HTTP port */
        if (serve_grpc_port(s) >= 0) {
            colon = strrchr(a.cfg.grpc_listen, ':');
            hostlen = (int)(colon - a.cfg.grpc_listen);
            printf("skewscope serve: OTLP/gRPC on %.*s:%d (grpc port %d): "
                   "TraceService/Export\n",
                   hostlen, a.cfg.grpc_listen, serve_grpc_port(s),
                   serve_grpc_port(s));
        }
    }
    if (a.cfg.nscrape_targets)
        printf("skewscope serve: imbalance detection on %zu scrape "
               "target%s: GET /api/v1/findings\n",
               a.cfg.nscrape_targets, a.cfg.nscrape_targets == 1 ? "" : "s");
    fflush(stdout);
    int sig = wait_for_stop(&set, a.duration_ns);
    fprintf(stderr, "skewscope serve: %s, stopping\n",
            sig == SIGTERM  ? "SIGTERM"
            : sig == SIGINT ? "SIGINT"
                            : "--duration elapsed");
    rc = serve_stop(s) == 0 ? EXIT_FINE : EXIT_SOFTWARE;
out:
    free(a.token);
    free(a.forward_token);
    free(a.peers);
    free(a.scrape);
    free(a.runbooks);
    free(a.sets);
    return rc;
}

const struct command cmd_serve = {
    "serve",
    "live OTLP/Kafka collector: offsets, warnings, corrected forwarding", run};
