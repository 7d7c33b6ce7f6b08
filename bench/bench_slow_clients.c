/* bench_slow_clients: latency of a `skewscope serve` under a slow-client
 * attack. Holds N connections that each send a request line and then one
 * header line every 2.5 s without ever finishing their headers, from
 * ADDRS loopback source addresses (127.0.0.2, ...), and meanwhile probes
 * GET /metrics and POST /v1/traces (a 4-span OTLP protobuf body) from
 * 127.0.0.1 every 50 ms, each on a new connection, for SECONDS.
 *
 *   bench_slow_clients PORT [N [ADDRS [SECONDS]]]   (2000 8 30)
 *
 * Prints the probes answered, their p50/p99/max latency and what the
 * attack saw (connections opened, closed by serve, the longest one held).
 * bench/slow_clients.sh starts serve and runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/slow_clients.h"
#include "model/span_store.h"
#include "output/trace_writer.h"

/* One ExportTraceServiceRequest of 4 spans (the writer's length-prefixed
 * message without its prefix). */
static char *otlp_body(size_t *len)
{
    struct span_desc d[4];
    char *buf = NULL;
    size_t n = 0, k = 0;
    FILE *f = open_memstream(&buf, &n);
    struct trace_writer *w;

    slow_probe_spans(d);
    w = f ? trace_writer_otlp_proto_ops.create(f, 0) : NULL;
    if (!w || trace_writer_otlp_proto_ops.write_batch(w, d, 4) != 0 ||
        trace_writer_otlp_proto_ops.finish(w) != 0 || fclose(f) != 0) {
        fprintf(stderr, "bench_slow_clients: cannot build the body\n");
        exit(70);
    }
    while (k < n && (buf[k] & 0x80))
        k++;
    k++;
    memmove(buf, buf + k, n - k);
    *len = n - k;
    return buf;
}

int main(int argc, char **argv)
{
    struct slow_attack a;
    struct slow_probe pr;
    unsigned n = argc > 2 ? (unsigned)atoi(argv[2]) : 2000;
    unsigned addrs = argc > 3 ? (unsigned)atoi(argv[3]) : 8;
    unsigned secs = argc > 4 ? (unsigned)atoi(argv[4]) : 30;
    size_t len;
    char *body;
    unsigned held;

    if (argc < 2 || atoi(argv[1]) <= 0 || !n || !addrs || !secs) {
        fprintf(stderr,
                "usage: bench_slow_clients PORT [N [ADDRS [SECONDS]]]\n");
        return 2;
    }
    if (slow_raise_nofile(n + 256) < n + 64) {
        fprintf(stderr, "bench_slow_clients: RLIMIT_NOFILE too low for %u\n",
                n);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    body = otlp_body(&len);
    memset(&a, 0, sizeof(a));
    memset(&pr, 0, sizeof(pr));
    a.port = pr.port = atoi(argv[1]);
    a.n = n;
    a.naddrs = addrs;
    a.interval_ms = 2500;
    if (slow_attack_start(&a) != 0)
        return 70;
    held = slow_attack_wait(&a, n, 20);
    pr.body = body;
    pr.body_len = len;
    pr.period_ms = 50;
    pr.timeout_s = 10;
    if (slow_probe_start(&pr) != 0)
        return 70;
    for (unsigned s = 0; s < secs; s++) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    slow_probe_stop(&pr);
    slow_attack_stop(&a);
    printf("slow clients: %u connections from %u addresses (%u open when "
           "probing began)\n",
           n, addrs, held);
    printf("probes: %zu/%zu answered (GET /metrics %zu, POST /v1/traces %zu)"
           "%s%s\n",
           pr.ok, pr.sent, pr.ok_get, pr.ok_post,
           pr.ok < pr.sent ? "; last failure: " : "",
           pr.ok < pr.sent ? pr.last_fail : "");
    printf("latency: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
           1e3 * slow_quantile(&pr, 0.5), 1e3 * slow_quantile(&pr, 0.99),
           1e3 * slow_quantile(&pr, 1));
    printf("attack: %llu connects, %llu closed by serve, longest held "
           "%.1f s\n",
           (unsigned long long)atomic_load(&a.connects),
           (unsigned long long)atomic_load(&a.closed), a.longest_s);
    slow_probe_free(&pr);
    free(body);
    curl_global_cleanup();
    return pr.ok == pr.sent ? 0 : 1;
}
