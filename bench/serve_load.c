/* serve_load: loopback load generator and counting sink for `skewscope
 * serve` (bench/serve.sh runs them; BENCHMARKS.md reports the figures).
 *
 *   serve_load send --url URL [--connections 4] [--spans-per-request 100]
 *                   [--requests N] [--duration S] [--domains 4]
 *                   [--spans-per-trace 10] [--skew-ns D0,D1,...]
 *                   [--timeout-ms 10000] [--retry-grace S] [--max-retries 20]
 *                   [--token T]
 *       POST OTLP/HTTP protobuf ExportTraceServiceRequests from
 *       --connections threads (one keep-alive libcurl handle each) until
 *       --requests in total or --duration seconds, whichever comes first
 *       (neither: 10 s). Prints a summary and a final line
 *       RESULT spans_accepted=.. spans_per_s=.. p50_ms=.. p99_ms=.. errors=..
 *       Exit 0 when every request got a 2xx, 1 when some failed.
 *   serve_load sink [--listen 127.0.0.1:0] [--port-file F] [--threads 2]
 *                   [--busy-every N] [--reject-every N] [--expect-spans N]
 *       An OTLP/HTTP receiver (src/serve/receiver.h) that counts spans and
 *       distinct (trace ID, span ID) keys; GET /count answers
 *       "spans=N unique=U duplicates=D". Runs until SIGTERM/SIGINT, then
 *       prints that line. --busy-every N answers 429 (Retry-After 1) to
 *       every Nth batch without counting it: a test of send's retries;
 *       --reject-every N takes every Nth batch but rejects all its spans
 *       (200 with partial_success), uncounted: a test of send's tally.
 *       --expect-spans N sizes (and touches) the table up front, 48-96
 *       bytes per span, so that growing it does not stall the HTTP
 *       threads mid-run (it did: p99 1.3 ms -> 0.5 ms, max 72 -> 12 ms).
 *   serve_load kafka-produce --brokers B --topic T [--messages 1000]
 *                   [--spans-per-message 100] [--spans-per-trace =message]
 *                   [--rate MESSAGES_PER_S] [--domains 4] [--skew-ns ...]
 *       The same bodies as Kafka messages (encoding otlp_proto: one plain
 *       ExportTraceServiceRequest per message), keyed by the trace ID of the
 *       message's first trace (by default a message is one trace, as the
 *       Collector's partition_traces_by_id makes them). --rate paces the
 *       messages (default: as fast as the client goes). Afterwards it
 *       reports how many messages the topic no longer holds: librdkafka's
 *       mock cluster keeps only about 5 MB per partition, so a backlog must
 *       fit partitions x 5 MB, or a consumer must keep up.
 *   serve_load kafka-mock [--port-file F] [--topic T --partitions P]
 *       A librdkafka mock cluster (src/testbed/kafka_mock.h); writes the
 *       bootstrap servers to F and stdout, runs until SIGTERM/SIGINT.
 *   serve_load kafka-count --brokers B --topic T [--group G] [--expect N]
 *                   [--idle-s 10]
 *       Consume the topic from the start and count spans like the sink
 *       (checks kafka-produce without serve).
 *   serve_load dump [--messages 10] [-o FILE] [shape options as for send]
 *       The bodies send would POST, as a length-delimited OTLP protobuf
 *       file (message n dated n ms after 0), to check them with skewscope.
 *   serve_load free-port
 *       Print a TCP port that was free on 127.0.0.1 a moment ago.
 *
 * The parts: this file has main, the option helpers and dump and
 * free-port; bench/serve_load/ the rest (common.h says which is where).
 * How the bodies are built and made distinct per request: the comment at
 * the top of bench/serve_load/body.c. */
#include "serve_load/common.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ingest/otlp_proto.h"

/* ---- option and process helpers ---- */

int sl_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "serve_load: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see the comment at the top of bench/serve_load.c)\n");
    return EXIT_USAGE;
}

bool sl_parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-')
        return false;
    *out = v;
    return true;
}

bool sl_parse_uint(const char *s, unsigned *out)
{
    uint64_t v;

    if (!sl_parse_u64(s, &v) || v > UINT_MAX)
        return false;
    *out = (unsigned)v;
    return true;
}

bool sl_parse_double(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return !errno && end != s && !*end && *out >= 0;
}

/* Option loop support: whether argv[*i] is `name`; its value in *val. */
bool sl_opt_is(int argc, char **argv, int *i, const char *name,
               const char **val, bool *missing)
{
    if (strcmp(argv[*i], name) != 0)
        return false;
    if (*i + 1 >= argc) {
        *missing = true;
        return true;
    }
    *val = argv[++*i];
    return true;
}

/* Block SIGINT and SIGTERM in this thread and the threads it starts
 * later, so that one sigwait() in main takes them. */
void sl_block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool sl_stop_requested(const sigset_t *set)
{
    struct timespec zero = {0, 0};

    return sigtimedwait(set, NULL, &zero) > 0;
}

/* Write text to path atomically (temporary file, then rename), so that a
 * script polling for the file never reads half of it. */
int sl_write_file_atomic(const char *path, const char *text)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return -1;
    fputs(text, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

/* ---- dump: the bodies as a file, to check them with skewscope ---- */

/* Messages n = 0..N-1 as length-delimited ExportTraceServiceRequests (the
 * layout skewscope reads as otlp-proto), message n sent 1 ms after n-1. */
static int cmd_dump(int argc, char **argv)
{
    struct kafka_opts o = {
        .messages = 10,
        .out = "-",
        .shape = {.spans = 100, .domains = 4, .spans_per_trace = 10}};
    struct body_tpl t;
    uint8_t prefix[10];
    int rc = sl_kafka_parse(argc, argv, &o);

    if (rc || (rc = sl_shape_check(&o.shape)))
        return rc;
    FILE *f = strcmp(o.out, "-") ? fopen(o.out, "wb") : stdout;
    if (!f || sl_tpl_build(&t, &o.shape) < 0) {
        fprintf(stderr, "serve_load: dump: cannot write %s\n", o.out);
        return 1;
    }
    size_t k = otlp_proto_put_varint(prefix, t.len);
    int64_t now = clock_ns(CLOCK_REALTIME);
    for (uint64_t n = 0; n < o.messages && rc == 0; n++) {
        sl_body_patch(t.buf, &t, (uint32_t)n, now + (int64_t)n * 1000000);
        if (fwrite(prefix, 1, k, f) != k || fwrite(t.buf, 1, t.len, f) != t.len)
            rc = 1;
    }
    if ((f != stdout ? fclose(f) : fflush(f)) != 0 || rc) {
        fprintf(stderr, "serve_load: dump: cannot write %s\n", o.out);
        rc = 1;
    }
    sl_tpl_destroy(&t);
    return rc;
}

/* ---- free-port ---- */

static int cmd_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("serve_load: free-port");
        return 1;
    }
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    if (strcmp(cmd, "send") == 0)
        return sl_cmd_send(argc, argv);
    if (strcmp(cmd, "sink") == 0)
        return sl_cmd_sink(argc, argv);
    if (strcmp(cmd, "kafka-produce") == 0)
        return sl_cmd_kafka_produce(argc, argv);
    if (strcmp(cmd, "kafka-mock") == 0)
        return sl_cmd_kafka_mock(argc, argv);
    if (strcmp(cmd, "kafka-count") == 0)
        return sl_cmd_kafka_count(argc, argv);
    if (strcmp(cmd, "dump") == 0)
        return cmd_dump(argc, argv);
    if (strcmp(cmd, "free-port") == 0)
        return cmd_free_port();
    fprintf(stderr,
            "usage: serve_load send|sink|kafka-produce|kafka-mock|"
            "kafka-count|dump|free-port [OPTIONS]\n"
            "(options: the comment at the top of bench/serve_load.c)\n");
    return EXIT_USAGE;
}
