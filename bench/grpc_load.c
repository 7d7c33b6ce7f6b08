/* grpc_load: loopback OTLP/gRPC load generator for `skewscope serve
 * --listen-grpc` (bench/grpc_vs_http.sh runs it beside bench/serve_load's
 * OTLP/HTTP sender; BENCHMARKS.md reports the figures).
 *
 *   grpc_load --port P [--connections 4] [--spans-per-request 100]
 *             [--spans-per-trace 10] [--domains 4] [--duration 10]
 *             [--token T] [--gzip]
 *
 * Each connection thread opens one h2c connection (libnghttp2, blocking
 * socket) and makes TraceService/Export calls one after another on it
 * until --duration seconds have passed; a call's latency is from its
 * HEADERS to its trailers. The request is one ExportTraceServiceRequest of
 * --spans-per-request spans in traces of --spans-per-trace spans over
 * --domains clock domains (host.name node-0 ...), built once with the
 * simulator's protobuf writer; each call's trace IDs are patched to be
 * new (bytes 8-15 of every trace ID carry the call's number), so that
 * serve assembles distinct traces. A call answered other than OK (or a
 * broken connection, which ends that thread) is an error; RESOURCE_
 * EXHAUSTED and UNAVAILABLE are retried after 100 ms and counted as
 * retries, not errors.
 * Prints a summary and a final line
 *   RESULT spans_accepted=.. spans_per_s=.. p50_ms=.. p99_ms=.. errors=..
 * Exit 0 when every call ended OK, 1 otherwise. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <zlib.h>

#include "output/trace_writer.h"
#include "serve/grpc_frame.h"
#include "util/clock.h"
#include "bench_util.h"

#define EXPORT "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define MARK 0x5eu /* first byte of every trace ID in the template */

struct opts {
    int port, connections, spans, per_trace, domains;
    double duration_s;
    const char *token;
    bool gzip;
};

/* The request template and where its trace IDs are. */
struct tpl {
    uint8_t *msg;
    size_t len;
    size_t *ids; /* offsets of the 16-byte trace IDs */
    size_t nids;
};

struct worker {
    const struct opts *o;
    const struct tpl *t;
    int index;
    pthread_t th;
    /* results */
    uint64_t calls, spans, retries, errors;
    double *lat_ms;
    size_t nlat, caplat;
    char err[256];
};

/* ---- the request */

static int build_tpl(struct tpl *t, const struct opts *o)
{
    struct span_desc *d = calloc((size_t)o->spans, sizeof(*d));
    char **hosts = calloc((size_t)o->domains, sizeof(*hosts));
    char *buf = NULL;
    size_t len = 0, k = 0;
    FILE *f = open_memstream(&buf, &len);
    struct trace_writer *w;
    int64_t t0 = 1700000000000000000LL;

    if (!d || !hosts || !f)
        return -1;
    for (int i = 0; i < o->domains; i++) {
        hosts[i] = malloc(16);
        snprintf(hosts[i], 16, "node-%d", i);
    }
    for (int i = 0; i < o->spans; i++) {
        int tr = i / o->per_trace, pos = i % o->per_trace;
        d[i].trace_id[0] = MARK;
        d[i].trace_id[1] = (uint8_t)tr;
        d[i].trace_id[2] = (uint8_t)(tr >> 8);
        d[i].span_id = 0x100000u + (uint64_t)i;
        d[i].parent_span_id = pos ? 0x100000u + (uint64_t)i - 1 : 0;
        d[i].name = "op";
        d[i].kind = pos ? 2 : 1; /* SERVER under a parent, INTERNAL root */
        d[i].start_ns = t0 + pos * 1000;
        d[i].end_ns = t0 + (o->per_trace - pos) * 100000;
        d[i].host_name = hosts[pos % o->domains];
        d[i].service_name = hosts[pos % o->domains];
    }
    w = trace_writer_otlp_proto_ops.create(f, 0);
    if (!w || trace_writer_otlp_proto_ops.write_batch(w, d, (size_t)o->spans) ||
        trace_writer_otlp_proto_ops.finish(w))
        return -1;
    fclose(f);
    while (k < len && (buf[k] & 0x80)) /* drop the varint length prefix */
        k++;
    k++;
    t->len = len - k;
    t->msg = malloc(t->len);
    memcpy(t->msg, buf + k, t->len);
    free(buf);
    /* every trace ID: a length-delimited 16-byte field starting with MARK */
    t->ids = calloc((size_t)o->spans, sizeof(*t->ids));
    for (size_t i = 0; i + 17 < t->len && t->nids < (size_t)o->spans; i++)
        if (t->msg[i] == 16 && t->msg[i + 1] == MARK && t->msg[i - 1] == 0x0a)
            t->ids[t->nids++] = i + 1;
    for (int i = 0; i < o->domains; i++)
        free(hosts[i]);
    free(hosts);
    free(d);
    return t->nids == (size_t)o->spans ? 0 : -1;
}

/* A copy of the template framed for the wire, with call n's trace IDs. */
static size_t make_request(const struct tpl *t, const struct opts *o,
                           uint64_t n, uint8_t *out, size_t cap)
{
    uint8_t *m = out + GRPC_PREFIX_LEN;
    size_t mlen = t->len;

    memcpy(m, t->msg, t->len);
    for (size_t i = 0; i < t->nids; i++)
        memcpy(m + t->ids[i] + 8, &n, 8);
    if (o->gzip) { /* gRPC's gzip: the gzip wrapper (windowBits 31) */
        uint8_t *tmp = malloc(t->len);
        z_stream z;
        if (!tmp)
            return 0;
        memcpy(tmp, m, t->len);
        memset(&z, 0, sizeof(z));
        deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
        z.next_in = tmp;
        z.avail_in = (uInt)t->len;
        z.next_out = m;
        z.avail_out = (uInt)(cap - GRPC_PREFIX_LEN);
        int rc = deflate(&z, Z_FINISH);
        mlen = z.total_out;
        deflateEnd(&z);
        free(tmp);
        if (rc != Z_STREAM_END)
            return 0;
    }
    grpc_frame_prefix(out, o->gzip, (uint32_t)mlen);
    return mlen + GRPC_PREFIX_LEN;
}

/* ---- one connection, calls one after another */

struct conn {
    int fd;
    nghttp2_session *s;
    const uint8_t *body;
    size_t len, sent;
    int status;
    bool done, broken;
};

static ssize_t on_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                       uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct conn *c = ud;
    size_t n = c->len - c->sent;

    (void)s, (void)id, (void)src;
    if (n > len)
        n = len;
    memcpy(buf, c->body + c->sent, n);
    c->sent += n;
    if (c->sent == c->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *fr,
                     const uint8_t *name, size_t nl, const uint8_t *v,
                     size_t vl, uint8_t flags, void *ud)
{
    struct conn *c = ud;

    (void)s, (void)fr, (void)flags;
    if (nl == 11 && memcmp(name, "grpc-status", 11) == 0) {
        char tmp[8] = {0};
        memcpy(tmp, v, vl < 7 ? vl : 7);
        c->status = atoi(tmp);
    }
    return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct conn *c = ud;

    (void)s, (void)id, (void)code;
    c->done = true;
    return 0;
}

static bool flush_out(struct conn *c)
{
    const uint8_t *d;
    ssize_t n;

    while ((n = nghttp2_session_mem_send(c->s, &d)) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(c->fd, d + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w <= 0)
                return false;
            off += w;
        }
    return n == 0;
}

static int conn_open(struct conn *c, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    nghttp2_session_callbacks *cb;
    int one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    if (nghttp2_session_client_new(&c->s, cb, c) != 0)
        return -1;
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 1);
    return 0;
}

#define NV(n, v)                                                               \
    {                                                                          \
        (uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), strlen(n),       \
            strlen(v), NGHTTP2_NV_FLAG_NONE                                    \
    }

/* One call; returns its grpc-status, or -1 when the connection broke. */
static int call(struct conn *c, const struct opts *o, const char *auth)
{
    nghttp2_nv nva[8] = {
        NV(":method", "POST"),
        NV(":scheme", "http"),
        NV(":authority", "127.0.0.1"),
        NV(":path", EXPORT),
        NV("content-type", "application/grpc"),
        NV("te", "trailers"),
    };
    size_t n = 6;
    nghttp2_data_provider dp = {.read_callback = on_read};
    uint8_t buf[65536];

    if (auth)
        nva[n++] = (nghttp2_nv)NV("authorization", auth);
    if (o->gzip)
        nva[n++] = (nghttp2_nv)NV("grpc-encoding", "gzip");
    c->sent = 0;
    c->done = false;
    c->status = -1;
    if (nghttp2_submit_request(c->s, NULL, nva, n, &dp, NULL) < 0)
        return -1;
    while (!c->done) {
        if (!flush_out(c))
            return -1;
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r <= 0 || nghttp2_session_mem_recv(c->s, buf, (size_t)r) < 0)
            return -1;
    }
    return c->status;
}

static void add_latency(struct worker *w, double ms)
{
    if (w->nlat == w->caplat) {
        w->caplat = w->caplat ? 2 * w->caplat : 4096;
        w->lat_ms = realloc(w->lat_ms, w->caplat * sizeof(*w->lat_ms));
    }
    w->lat_ms[w->nlat++] = ms;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    struct conn c = {0};
    size_t cap = w->t->len * 2 + 1024;
    uint8_t *req = malloc(cap);
    char auth[256];
    int64_t end =
        clock_now_ns(CLOCK_MONOTONIC) + (int64_t)(o->duration_s * 1e9);
    uint64_t n = (uint64_t)w->index << 40;

    if (o->token)
        snprintf(auth, sizeof(auth), "Bearer %s", o->token);
    if (!req || conn_open(&c, o->port) < 0) {
        snprintf(w->err, sizeof(w->err), "cannot connect to port %d", o->port);
        w->errors++;
        free(req);
        return NULL;
    }
    c.body = req;
    while (clock_now_ns(CLOCK_MONOTONIC) < end) {
        c.len = make_request(w->t, o, n++, req, cap);
        int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
        int st = call(&c, o, o->token ? auth : NULL);
        double ms = (double)(clock_now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
        if (st == GRPC_OK) {
            w->calls++;
            w->spans += (uint64_t)o->spans;
            add_latency(w, ms);
        } else if (st == GRPC_RESOURCE_EXHAUSTED || st == GRPC_UNAVAILABLE) {
            struct timespec ts = {0, 100 * 1000000L};
            w->retries++;
            nanosleep(&ts, NULL);
        } else {
            snprintf(w->err, sizeof(w->err), "call ended %s",
                     st < 0 ? "with a broken connection" : grpc_code_name(st));
            w->errors++;
            if (st < 0)
                break;
        }
    }
    nghttp2_session_del(c.s);
    close(c.fd);
    free(req);
    return NULL;
}

/* ---- main */

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.connections = 4,
                       .spans = 100,
                       .per_trace = 10,
                       .domains = 4,
                       .duration_s = 10};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--gzip") == 0) {
            o->gzip = true;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--port") == 0)
            o->port = atoi(v);
        else if (strcmp(a, "--connections") == 0)
            o->connections = atoi(v);
        else if (strcmp(a, "--spans-per-request") == 0)
            o->spans = atoi(v);
        else if (strcmp(a, "--spans-per-trace") == 0)
            o->per_trace = atoi(v);
        else if (strcmp(a, "--domains") == 0)
            o->domains = atoi(v);
        else if (strcmp(a, "--duration") == 0)
            o->duration_s = atof(v);
        else if (strcmp(a, "--token") == 0)
            o->token = v;
        else
            return -1;
    }
    return o->port > 0 && o->connections > 0 && o->spans > 0 &&
                   o->spans <= 65536 && o->per_trace > 0 && o->domains > 0 &&
                   o->duration_s > 0
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct tpl t = {0};
    struct worker *w;
    uint64_t spans = 0, calls = 0, retries = 0, errors = 0;
    double *all = NULL, secs;
    size_t nall = 0;
    int64_t t0;

    if (parse(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: grpc_load --port P [--connections N] "
                        "[--spans-per-request N] [--spans-per-trace N] "
                        "[--domains N] [--duration S] [--token T] [--gzip]\n");
        return 2;
    }
    if (build_tpl(&t, &o) < 0) {
        fprintf(stderr, "grpc_load: cannot build the request\n");
        return 2;
    }
    fprintf(stderr,
            "grpc_load: %d connections, %d spans per call (%zu bytes%s), "
            "%g s\n",
            o.connections, o.spans, t.len, o.gzip ? ", gzip'd" : "",
            o.duration_s);
    w = calloc((size_t)o.connections, sizeof(*w));
    t0 = clock_now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < o.connections; i++) {
        w[i] = (struct worker){.o = &o, .t = &t, .index = i + 1};
        pthread_create(&w[i].th, NULL, run_worker, &w[i]);
    }
    for (int i = 0; i < o.connections; i++) {
        pthread_join(w[i].th, NULL);
        spans += w[i].spans;
        calls += w[i].calls;
        retries += w[i].retries;
        errors += w[i].errors;
        if (w[i].err[0])
            fprintf(stderr, "grpc_load: connection %d: %s\n", i, w[i].err);
        all = realloc(all, (nall + w[i].nlat + 1) * sizeof(*all));
        memcpy(all + nall, w[i].lat_ms, w[i].nlat * sizeof(*all));
        nall += w[i].nlat;
        free(w[i].lat_ms);
    }
    secs = (double)(clock_now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    qsort(all, nall, sizeof(*all), cmp_double);
    double p50 = nall ? all[nall / 2] : 0,
           p99 = nall ? all[nall * 99 / 100] : 0;
    printf("grpc_load: %llu calls OK, %llu retried, %llu errors in %.2f s\n",
           (unsigned long long)calls, (unsigned long long)retries,
           (unsigned long long)errors, secs);
    printf("RESULT spans_accepted=%llu spans_per_s=%.0f p50_ms=%.3f "
           "p99_ms=%.3f errors=%llu\n",
           (unsigned long long)spans, (double)spans / secs, p50, p99,
           (unsigned long long)errors);
    free(all);
    free(w);
    free(t.msg);
    free(t.ids);
    return errors ? 1 : 0;
}
