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
 * The bodies: spans_per_request spans in traces of spans_per_trace spans;
 * a trace is a root SERVER span on domain 0, a CLIENT->SERVER hop into each
 * further clock domain (resource host.name node-gateway, node-tokenizer,
 * node-prefill, node-decode, node-worker-4, ...), then INTERNAL decode steps on
 * the last domain. One template is encoded once (trace_writer_otlp_proto); each
 * connection keeps its own copy and, per request number n, patches in place
 * the 4 bytes of every trace and span ID that carry n and the fixed64
 * timestamps (now, plus the domain's --skew-ns). So every request is
 * distinct (IDs: trace = nonce(8) m(n)(4) m(trace#)(4), span = m(n)(4)
 * span#+1(4), where m is a 32-bit bijective mix, so IDs are unique within
 * a run and look random where hashes look; the nonce separates runs) and
 * the hot loop neither allocates nor encodes. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "ingest/otlp_proto.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "output/trace_writer.h"
#include "serve/receiver.h"
#include "testbed/kafka_mock.h"
#include "util/log.h"

#define MAX_DOMAINS 16
#define MAX_CONNECTIONS 256
#define EXIT_USAGE 2

/* ---- small helpers ---- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* murmur3's fmix32: a bijection on 32 bits. */
static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    return x ^ (x >> 16);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "serve_load: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see the comment at the top of bench/serve_load.c)\n");
    return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-')
        return false;
    *out = v;
    return true;
}

static bool parse_uint(const char *s, unsigned *out)
{
    uint64_t v;

    if (!parse_u64(s, &v) || v > UINT_MAX)
        return false;
    *out = (unsigned)v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return !errno && end != s && !*end && *out >= 0;
}

/* "A,B,...": signed nanoseconds per clock domain, missing ones 0. */
static bool parse_skew(const char *s, int64_t out[MAX_DOMAINS])
{
    memset(out, 0, MAX_DOMAINS * sizeof(*out));
    for (int d = 0; d < MAX_DOMAINS; d++) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || (*end && *end != ','))
            return false;
        out[d] = v;
        if (!*end)
            return true;
        s = end + 1;
    }
    return false;
}

/* Option loop support: whether argv[*i] is `name`; its value in *val. */
static bool opt_is(int argc, char **argv, int *i, const char *name,
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
static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static bool stop_requested(const sigset_t *set)
{
    struct timespec zero = {0, 0};

    return sigtimedwait(set, NULL, &zero) > 0;
}

/* Write text to path atomically (temporary file, then rename), so that a
 * script polling for the file never reads half of it. */
static int write_file_atomic(const char *path, const char *text)
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

/* ---- request bodies: one encoded template, patched per request ---- */

struct shape_opts {
    unsigned spans;           /* per request / message */
    unsigned domains;         /* clock domains, 1..MAX_DOMAINS */
    unsigned spans_per_trace; /* 0 = spans */
    int64_t skew_ns[MAX_DOMAINS];
};

struct tpl_span {
    uint32_t domain;
    int32_t parent; /* index in the request, -1 for a root */
    int kind;
    int64_t start_rel_ns, end_rel_ns; /* relative to the send time */
    /* Byte offsets in the body of the ID payloads and fixed64 times;
     * off_parent 0 = no parent. */
    uint32_t off_trace, off_span, off_parent, off_start, off_end;
};

struct body_tpl {
    uint8_t *buf; /* the encoded template (request number 0) */
    size_t len;
    struct tpl_span *spans;
    size_t nspans;
    uint64_t nonce; /* first 8 bytes of every trace ID */
    int64_t skew_ns[MAX_DOMAINS];
};

static const char *const domain_names[] = {"gateway", "tokenizer", "prefill",
                                           "decode"};

/* Times, in ns relative to "now": a trace's root lasts 20 ms and ended
 * 5 ms ago; each hop starts a little after its parent and ends a little
 * before it (the network), decode steps share the last server's time. */
#define ROOT_NS 20000000
#define CLIENT_PAD_NS 100000
#define SERVER_PAD_NS 150000

static void shape_span(struct tpl_span *sp, const struct tpl_span *trace,
                       unsigned j, unsigned t, const struct shape_opts *o,
                       unsigned per_trace)
{
    unsigned chain = 2 * o->domains - 1; /* root + a hop per domain */

    if (j == 0) {
        sp->kind = SPAN_KIND_SERVER;
        sp->domain = 0;
        sp->parent = -1;
        sp->start_rel_ns = -(ROOT_NS + 5000000) + (int64_t)(t % 1000) * 20000;
        sp->end_rel_ns = sp->start_rel_ns + ROOT_NS;
        return;
    }
    unsigned pj = j < chain ? j - 1 : chain - 1;
    const struct tpl_span *p = &trace[pj];
    sp->parent = (int32_t)((size_t)(p - trace) + (size_t)t * per_trace);
    if (j < chain) {
        int64_t pad = j % 2 ? CLIENT_PAD_NS : SERVER_PAD_NS;
        sp->kind = j % 2 ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER;
        sp->domain = j % 2 ? (j - 1) / 2 : j / 2;
        sp->start_rel_ns = p->start_rel_ns + pad;
        sp->end_rel_ns = p->end_rel_ns - pad;
        return;
    }
    int64_t steps = (int64_t)(per_trace - chain), i = (int64_t)(j - chain);
    int64_t w = (p->end_rel_ns - p->start_rel_ns) / steps;
    sp->kind = SPAN_KIND_INTERNAL;
    sp->domain = o->domains - 1;
    sp->start_rel_ns = p->start_rel_ns + i * w + 1000;
    sp->end_rel_ns = p->start_rel_ns + (i + 1) * w - 1000;
    if (sp->end_rel_ns <= sp->start_rel_ns)
        sp->end_rel_ns = sp->start_rel_ns + 1;
}

static const struct span_kv attrs_http[] = {{"http.request.method", "POST"}};
static const struct span_kv attrs_rpc[] = {{"rpc.system", "grpc"}};
static const struct span_kv attrs_step[] = {{"llm.phase", "decode"}};

static void describe_span(struct span_desc *d, const struct tpl_span *sp,
                          size_t k, size_t t, uint64_t nonce, int64_t now,
                          char (*hosts)[32], char (*services)[32])
{
    memset(d, 0, sizeof(*d));
    for (int b = 0; b < 8; b++)
        d->trace_id[b] = (uint8_t)(nonce >> (56 - 8 * b));
    put_be32(d->trace_id + 12, mix32((uint32_t)t + 1));
    d->span_id = (uint64_t)k + 1; /* request number 0 in the high half */
    d->parent_span_id = sp->parent < 0 ? 0 : (uint64_t)sp->parent + 1;
    d->kind = sp->kind;
    d->start_ns = now + sp->start_rel_ns;
    d->end_ns = now + sp->end_rel_ns;
    d->host_name = hosts[sp->domain];
    d->service_name = services[sp->domain];
    d->name = sp->kind == SPAN_KIND_INTERNAL ? "decode.step"
              : sp->kind == SPAN_KIND_CLIENT ? "skewscope.Inference/Generate"
              : sp->parent < 0               ? "POST /v1/completions"
                                             : "skewscope.Inference/Generate";
    d->attrs = sp->kind == SPAN_KIND_INTERNAL ? attrs_step
               : sp->parent < 0               ? attrs_http
                                              : attrs_rpc;
    d->nattrs = 1;
}

/* Encode the spans with the project's OTLP protobuf writer; the body is
 * its one length-delimited message without the prefix. */
static int tpl_encode(struct body_tpl *t, const struct span_desc *descs)
{
    char *mem = NULL;
    size_t memlen = 0;
    FILE *f = open_memstream(&mem, &memlen);
    struct trace_writer *w;
    int rc = -1;

    if (!f)
        return -1;
    if ((w = trace_writer_otlp_proto_ops.create(f, 0))) {
        rc = trace_writer_otlp_proto_ops.write_batch(w, descs, t->nspans);
        if (trace_writer_otlp_proto_ops.finish(w) < 0)
            rc = -1;
    }
    fclose(f);
    size_t pre = 0;
    while (rc == 0 && pre < memlen && ((uint8_t)mem[pre] & 0x80))
        pre++;
    if (rc == 0 && pre + 1 < memlen) {
        t->len = memlen - pre - 1;
        t->buf = malloc(t->len);
        if (t->buf)
            memcpy(t->buf, mem + pre + 1, t->len);
    }
    free(mem);
    return t->buf ? 0 : -1;
}

/* A protobuf wire-format cursor, just enough to find fields. */
struct wire {
    const uint8_t *p, *end;
};

static bool wire_varint(struct wire *w, uint64_t *v)
{
    uint64_t x = 0;

    for (unsigned shift = 0; shift < 64 && w->p < w->end; shift += 7) {
        uint8_t b = *w->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Next field: number, wire type and value bytes (LEN: the payload). */
static bool wire_next(struct wire *w, uint32_t *field, unsigned *wt,
                      struct wire *val)
{
    uint64_t key, n = 0;

    if (w->p >= w->end || !wire_varint(w, &key))
        return false;
    *field = (uint32_t)(key >> 3);
    *wt = key & 7;
    val->p = w->p;
    if (*wt == 0) {
        if (!wire_varint(w, &n))
            return false;
        val->end = w->p;
        return true;
    }
    if (*wt == 1 || *wt == 5)
        n = *wt == 1 ? 8 : 4;
    else if (*wt != 2 || !wire_varint(w, &n))
        return false;
    if (n > (uint64_t)(w->end - w->p))
        return false;
    val->p = w->p;
    val->end = w->p + n;
    w->p += n;
    return true;
}

/* One encoded Span: note where its IDs and times are. The span number is
 * in its span ID (request number 0: the low half is span# + 1). */
static int tpl_locate_span(struct body_tpl *t, struct wire s)
{
    /* Field number -> wire type and length it must have to be patched. */
    static const unsigned want_wt[9] = {0, 2, 2, 0, 2, 0, 0, 1, 1};
    static const size_t want_len[9] = {0, 16, 8, 0, 8, 0, 0, 8, 8};
    uint32_t offs[9] = {0}, f;
    unsigned wt;
    struct wire v;

    while (wire_next(&s, &f, &wt, &v))
        if (f < 9 && want_len[f] && wt == want_wt[f] &&
            (size_t)(v.end - v.p) == want_len[f])
            offs[f] = (uint32_t)(v.p - t->buf);
    if (!offs[1] || !offs[2] || !offs[7] || !offs[8])
        return -1;
    size_t k = get_be32(t->buf + offs[2] + 4) - (size_t)1;
    if (k >= t->nspans || t->spans[k].off_span)
        return -1;
    struct tpl_span *sp = &t->spans[k];
    sp->off_trace = offs[1];
    sp->off_span = offs[2];
    sp->off_parent = offs[4];
    sp->off_start = offs[7];
    sp->off_end = offs[8];
    return (sp->parent >= 0) == (offs[4] != 0) ? 0 : -1;
}

/* request.resource_spans(1).scope_spans(2).spans(2) */
static int tpl_locate(struct body_tpl *t)
{
    struct wire req = {t->buf, t->buf + t->len}, rs, ss, sp;
    uint32_t f;
    unsigned wt;
    size_t found = 0;

    while (wire_next(&req, &f, &wt, &rs)) {
        if (f != 1 || wt != 2)
            continue;
        struct wire rs_it = rs;
        while (wire_next(&rs_it, &f, &wt, &ss)) {
            if (f != 2 || wt != 2)
                continue;
            struct wire ss_it = ss;
            while (wire_next(&ss_it, &f, &wt, &sp))
                if (f == 2 && wt == 2) {
                    if (tpl_locate_span(t, sp) < 0)
                        return -1;
                    found++;
                }
        }
    }
    return found == t->nspans ? 0 : -1;
}

static uint64_t make_nonce(void)
{
    uint64_t n = 0;
    FILE *f = fopen("/dev/urandom", "rb");

    if (f) {
        if (fread(&n, sizeof n, 1, f) != 1)
            n = 0;
        fclose(f);
    }
    n ^= mix64((uint64_t)clock_ns(CLOCK_REALTIME) ^ (uint64_t)getpid());
    return n ? n : 1;
}

static void tpl_destroy(struct body_tpl *t)
{
    free(t->buf);
    free(t->spans);
    memset(t, 0, sizeof(*t));
}

static int tpl_build(struct body_tpl *t, const struct shape_opts *o)
{
    unsigned per = o->spans_per_trace ? o->spans_per_trace : o->spans;
    char hosts[MAX_DOMAINS][32], services[MAX_DOMAINS][32];
    struct span_desc *descs = calloc(o->spans, sizeof(*descs));
    int64_t now = clock_ns(CLOCK_REALTIME);

    memset(t, 0, sizeof(*t));
    t->spans = calloc(o->spans, sizeof(*t->spans));
    t->nspans = o->spans;
    t->nonce = make_nonce();
    memcpy(t->skew_ns, o->skew_ns, sizeof(t->skew_ns));
    for (unsigned d = 0; d < o->domains; d++) {
        const char *n = d < 4 ? domain_names[d] : NULL;
        if (n)
            snprintf(services[d], 32, "%s", n);
        else
            snprintf(services[d], 32, "worker-%u", d);
        snprintf(hosts[d], 32, "node-%s", services[d]);
    }
    for (size_t k = 0; descs && t->spans && k < o->spans; k++) {
        struct tpl_span *trace = &t->spans[k - k % per];
        shape_span(&t->spans[k], trace, (unsigned)(k % per),
                   (unsigned)(k / per), o, per);
        describe_span(&descs[k], &t->spans[k], k, k / per, t->nonce, now, hosts,
                      services);
    }
    int rc = descs && t->spans ? tpl_encode(t, descs) : -1;
    free(descs);
    if (rc == 0 && tpl_locate(t) < 0)
        rc = -1;
    if (rc < 0)
        tpl_destroy(t);
    return rc;
}

/* Make buf (a copy of the template) request number n, sent at now_ns
 * (CLOCK_REALTIME): IDs carry mix32(n), times are now + offset + domain
 * skew. */
static void body_patch(uint8_t *buf, const struct body_tpl *t, uint32_t n,
                       int64_t now_ns)
{
    uint32_t m = mix32(n);

    for (size_t k = 0; k < t->nspans; k++) {
        const struct tpl_span *sp = &t->spans[k];
        int64_t base = now_ns + t->skew_ns[sp->domain];
        put_be32(buf + sp->off_trace + 8, m);
        put_be32(buf + sp->off_span, m);
        if (sp->off_parent)
            put_be32(buf + sp->off_parent, m);
        put_le64(buf + sp->off_start, (uint64_t)(base + sp->start_rel_ns));
        put_le64(buf + sp->off_end, (uint64_t)(base + sp->end_rel_ns));
    }
}

/* Parse a shape option; 1 = taken, 0 = not a shape option, <0 = bad. */
static int shape_option(int argc, char **argv, int *i, struct shape_opts *o)
{
    const char *v = NULL;
    bool missing = false, ok = true;

    if (opt_is(argc, argv, i, "--spans-per-request", &v, &missing) ||
        opt_is(argc, argv, i, "--spans-per-message", &v, &missing))
        ok = missing || parse_uint(v, &o->spans);
    else if (opt_is(argc, argv, i, "--domains", &v, &missing))
        ok = missing || parse_uint(v, &o->domains);
    else if (opt_is(argc, argv, i, "--spans-per-trace", &v, &missing))
        ok = missing || parse_uint(v, &o->spans_per_trace);
    else if (opt_is(argc, argv, i, "--skew-ns", &v, &missing))
        ok = missing || parse_skew(v, o->skew_ns);
    else
        return 0;
    if (missing || !ok)
        return -usage_error("bad or missing value for %s", argv[*i - !missing]);
    return 1;
}

static int shape_check(const struct shape_opts *o)
{
    if (o->spans < 1 || o->spans > 1000000)
        return usage_error("%s", "spans per request must be 1..1000000");
    if (o->domains < 1 || o->domains > MAX_DOMAINS)
        return usage_error("%s", "--domains must be 1..16");
    return 0;
}

static void tpl_print(const struct body_tpl *t, const struct shape_opts *o,
                      unsigned per)
{
    fprintf(stderr,
            "body: %zu spans in %u-span traces over %u domains, %zu B "
            "(%.1f B/span)\n",
            t->nspans, per, o->domains, t->len,
            (double)t->len / (double)t->nspans);
}

/* ---- latency histogram: microseconds, exact below 128, then 64
 * sub-buckets per power of two (1.6% resolution) ---- */

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2 * HIST_SUB)
#define HIST_MAX_EXP 40
#define HIST_BUCKETS                                                           \
    (HIST_LINEAR + (HIST_MAX_EXP - HIST_SUB_BITS - 1) * HIST_SUB)

struct hist {
    uint64_t count, max_us;
    uint64_t b[HIST_BUCKETS];
};

static void hist_add(struct hist *h, int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    size_t i;

    if (us < HIST_LINEAR) {
        i = us;
    } else {
        unsigned e = 63u - (unsigned)__builtin_clzll(us);
        i = e >= HIST_MAX_EXP
                ? HIST_BUCKETS - 1
                : HIST_LINEAR + (e - HIST_SUB_BITS - 1) * HIST_SUB +
                      ((us >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
    }
    h->b[i]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += h->b[i];
    into->count += h->count;
    if (h->max_us > into->max_us)
        into->max_us = h->max_us;
}

/* Middle of bucket i, in microseconds. */
static double hist_value(size_t i)
{
    if (i < HIST_LINEAR)
        return (double)i;
    size_t j = i - HIST_LINEAR;
    unsigned shift = (unsigned)(j / HIST_SUB) + 1;
    double width = (double)(1ULL << shift);
    return (double)(HIST_SUB + j % HIST_SUB) * width + width / 2;
}

/* The q-quantile (0..1) in milliseconds; 0 when empty. */
static double hist_quantile_ms(const struct hist *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;

    if (h->count == 0)
        return 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank && h->b[i]) {
            double v = hist_value(i);
            return (v > (double)h->max_us ? (double)h->max_us : v) / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

/* ---- send ---- */

struct send_opts {
    const char *url, *token;
    unsigned connections, timeout_ms, max_retries;
    uint64_t requests;       /* 0 = no limit */
    double duration_s;       /* 0 = no limit */
    double retry_grace_s;    /* retries go on this long after --duration */
    struct shape_opts shape; /* spans = per request */
};

struct send_shared {
    const struct send_opts *o;
    const struct body_tpl *tpl;
    _Atomic uint64_t next; /* next request number */
    int64_t deadline_ns;   /* CLOCK_MONOTONIC; INT64_MAX = none */
    int64_t give_up_ns;    /* no retry starts after this */
};

#define NCODES 600

/* One connection: a thread, its libcurl handle and its own counters. */
struct sender {
    pthread_t th;
    struct send_shared *sh;
    CURL *curl;
    struct curl_slist *headers;
    uint8_t *body;
    char resp[4096];
    size_t resp_len;
    char curl_err[CURL_ERROR_SIZE];
    uint64_t ok, spans, rejected, retries, transport_errors, failed, abandoned;
    uint64_t connects;       /* TCP connections opened (keep-alive: 1 each) */
    uint64_t codes[NCODES];  /* non-2xx replies, every attempt; [0] other */
    struct hist lat;         /* 2xx attempts */
    struct hist lat_retried; /* first attempt to 2xx, requests retried */
    int64_t end_ns;
};

static size_t on_response(char *data, size_t size, size_t n, void *ctx)
{
    struct sender *w = ctx;
    size_t len = size * n, room = sizeof(w->resp) - w->resp_len;

    memcpy(w->resp + w->resp_len, data, len < room ? len : room);
    w->resp_len += len < room ? len : room;
    return len;
}

static int sender_init(struct sender *w, struct send_shared *sh)
{
    const struct send_opts *o = sh->o;
    char auth[512];

    w->sh = sh;
    w->body = malloc(sh->tpl->len);
    w->curl = curl_easy_init();
    w->headers =
        curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    /* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
    w->headers = curl_slist_append(w->headers, "Expect:");
    if (o->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
        w->headers = curl_slist_append(w->headers, auth);
    }
    if (!w->body || !w->curl || !w->headers)
        return -1;
    memcpy(w->body, sh->tpl->buf, sh->tpl->len);
    curl_easy_setopt(w->curl, CURLOPT_URL, o->url);
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, (char *)w->body);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)sh->tpl->len);
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_response);
    curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, w->curl_err);
    curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    return 0;
}

static void sender_free(struct sender *w)
{
    curl_easy_cleanup(w->curl);
    curl_slist_free_all(w->headers);
    free(w->body);
}

/* Spans the 2xx reply says were rejected (partial_success); an empty body
 * (the usual case) means none. */
static uint64_t reply_rejected(struct sender *w)
{
    char *ct = NULL;
    int64_t n = 0;

    if (w->resp_len == 0 || w->resp_len >= sizeof(w->resp))
        return 0;
    curl_easy_getinfo(w->curl, CURLINFO_CONTENT_TYPE, &ct);
    if (ct && strstr(ct, "json")) {
        w->resp[w->resp_len] = '\0';
        const char *p = strstr(w->resp, "\"rejectedSpans\"");
        if (p)
            n = strtoll(p + strcspn(p, "0123456789"), NULL, 10);
    } else {
        Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
                NULL, w->resp_len, (const uint8_t *)w->resp);
        if (r && r->partial_success)
            n = r->partial_success->rejected_spans;
        if (r)
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
                r, NULL);
    }
    return n > 0 ? (uint64_t)n : 0;
}

enum attempt { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL };

/* One POST of the current body. On ATTEMPT_RETRY, *wait_ms is how long to
 * wait first: Retry-After, else a backoff doubling from 50 ms to 2 s. */
static enum attempt send_attempt(struct sender *w, unsigned attempt,
                                 int64_t *lat_ns, int64_t *wait_ms)
{
    long code = 0, connects = 0;
    curl_off_t retry_after = 0;

    w->resp_len = 0;
    int64_t t0 = mono_ns();
    CURLcode rc = curl_easy_perform(w->curl);
    *lat_ns = mono_ns() - t0;
    curl_easy_getinfo(w->curl, CURLINFO_NUM_CONNECTS, &connects);
    w->connects += (uint64_t)connects;
    *wait_ms = attempt < 6 ? 50LL << attempt : 2000;
    if (rc != CURLE_OK) {
        w->transport_errors++;
        log_ratelimited(LOG_WARN, 5, "send: %s", w->curl_err);
        return ATTEMPT_RETRY;
    }
    curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300)
        return ATTEMPT_OK;
    w->codes[code > 0 && code < NCODES ? code : 0]++;
    if (code != 429 && code != 502 && code != 503 && code != 504)
        return ATTEMPT_FAIL;
    curl_easy_getinfo(w->curl, CURLINFO_RETRY_AFTER, &retry_after);
    if (retry_after > 0)
        *wait_ms = (int64_t)retry_after * 1000;
    return ATTEMPT_RETRY;
}

static void send_request(struct sender *w, uint32_t n)
{
    const struct send_shared *sh = w->sh;
    int64_t first = mono_ns(), lat, wait_ms;

    body_patch(w->body, sh->tpl, n, clock_ns(CLOCK_REALTIME));
    for (unsigned attempt = 0;; attempt++) {
        enum attempt a = send_attempt(w, attempt, &lat, &wait_ms);
        if (a == ATTEMPT_OK) {
            uint64_t rej = reply_rejected(w);
            if (rej > sh->tpl->nspans)
                rej = sh->tpl->nspans;
            w->ok++;
            w->rejected += rej;
            w->spans += sh->tpl->nspans - rej;
            hist_add(&w->lat, lat);
            if (attempt)
                hist_add(&w->lat_retried, mono_ns() - first);
            return;
        }
        if (a == ATTEMPT_FAIL) {
            w->failed++;
            log_ratelimited(LOG_WARN, 5,
                            "send: request %" PRIu32 " refused, not retried",
                            n);
            return;
        }
        if (attempt >= sh->o->max_retries ||
            mono_ns() + wait_ms * 1000000 > sh->give_up_ns) {
            w->abandoned++;
            return;
        }
        w->retries++;
        sleep_ms(wait_ms);
    }
}

static void *send_thread(void *arg)
{
    struct sender *w = arg;
    struct send_shared *sh = w->sh;

    for (;;) {
        if (mono_ns() >= sh->deadline_ns)
            break;
        uint64_t n = atomic_fetch_add(&sh->next, 1);
        if (sh->o->requests && n >= sh->o->requests)
            break;
        send_request(w, (uint32_t)n);
    }
    w->end_ns = mono_ns();
    return NULL;
}

static int send_parse(int argc, char **argv, struct send_opts *o)
{
    *o = (struct send_opts){
        .url = "http://127.0.0.1:4318/v1/traces",
        .connections = 4,
        .timeout_ms = 10000,
        .max_retries = 20,
        .retry_grace_s = 5,
        .shape = {.spans = 100, .domains = 4, .spans_per_trace = 10}};
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        bool miss = false, ok = true;
        int s = shape_option(argc, argv, &i, &o->shape);
        if (s < 0)
            return -s;
        if (s > 0)
            continue;
        if (opt_is(argc, argv, &i, "--url", &v, &miss))
            o->url = v;
        else if (opt_is(argc, argv, &i, "--token", &v, &miss))
            o->token = v;
        else if (opt_is(argc, argv, &i, "--connections", &v, &miss))
            ok = miss || parse_uint(v, &o->connections);
        else if (opt_is(argc, argv, &i, "--requests", &v, &miss))
            ok = miss || parse_u64(v, &o->requests);
        else if (opt_is(argc, argv, &i, "--duration", &v, &miss))
            ok = miss || parse_double(v, &o->duration_s);
        else if (opt_is(argc, argv, &i, "--timeout-ms", &v, &miss))
            ok = miss || parse_uint(v, &o->timeout_ms);
        else if (opt_is(argc, argv, &i, "--max-retries", &v, &miss))
            ok = miss || parse_uint(v, &o->max_retries);
        else if (opt_is(argc, argv, &i, "--retry-grace", &v, &miss))
            ok = miss || parse_double(v, &o->retry_grace_s);
        else
            return usage_error("send: unknown option %s", argv[i]);
        if (miss || !ok)
            return usage_error("send: bad or missing value for %s",
                               argv[i - !miss]);
    }
    if (o->connections < 1 || o->connections > MAX_CONNECTIONS)
        return usage_error("%s", "send: --connections must be 1..256");
    if (o->requests > UINT32_MAX)
        return usage_error("%s", "send: --requests must be < 2^32");
    if (!o->requests && o->duration_s == 0)
        o->duration_s = 10;
    return shape_check(&o->shape);
}

/* The totals of all connections, kept in sender 0's counters. */
static void send_merge(struct sender *ws, unsigned n, int64_t *end_ns)
{
    struct sender *t = &ws[0];

    *end_ns = t->end_ns;
    for (unsigned i = 1; i < n; i++) {
        const struct sender *w = &ws[i];
        t->ok += w->ok;
        t->spans += w->spans;
        t->rejected += w->rejected;
        t->retries += w->retries;
        t->transport_errors += w->transport_errors;
        t->failed += w->failed;
        t->abandoned += w->abandoned;
        t->connects += w->connects;
        for (size_t c = 0; c < NCODES; c++)
            t->codes[c] += w->codes[c];
        hist_merge(&t->lat, &w->lat);
        hist_merge(&t->lat_retried, &w->lat_retried);
        if (w->end_ns > *end_ns)
            *end_ns = w->end_ns;
    }
}

static void send_report(const struct sender *t, const struct send_opts *o,
                        double elapsed_s)
{
    uint64_t non2xx = 0;
    double p50 = hist_quantile_ms(&t->lat, 0.50);
    double p99 = hist_quantile_ms(&t->lat, 0.99);

    printf("send: %s, %u connections, %u spans/request\n", o->url,
           o->connections, o->shape.spans);
    printf("requests ok %" PRIu64 ", spans accepted %" PRIu64
           " (rejected by partial_success %" PRIu64 "), elapsed %.2f s\n",
           t->ok, t->spans, t->rejected, elapsed_s);
    printf("spans/s %.0f, requests/s %.1f\n", (double)t->spans / elapsed_s,
           (double)t->ok / elapsed_s);
    printf("latency ms (2xx attempts): p50 %.3f p90 %.3f p99 %.3f max %.3f\n",
           p50, hist_quantile_ms(&t->lat, 0.90), p99,
           (double)t->lat.max_us / 1000.0);
    if (t->lat_retried.count)
        printf("latency ms (%" PRIu64 " retried requests, first attempt to "
               "2xx): p50 %.3f max %.3f\n",
               t->lat_retried.count, hist_quantile_ms(&t->lat_retried, 0.5),
               (double)t->lat_retried.max_us / 1000.0);
    printf("retries %" PRIu64 ", transport errors %" PRIu64 ", failed %" PRIu64
           ", abandoned %" PRIu64 ", TCP connects %" PRIu64 "\nnon-2xx:",
           t->retries, t->transport_errors, t->failed, t->abandoned,
           t->connects);
    for (size_t c = 0; c < NCODES; c++)
        if (t->codes[c]) {
            printf(c ? " %zu=%" PRIu64 : " other=%" PRIu64, c, t->codes[c]);
            non2xx += t->codes[c];
        }
    printf("%s\n", non2xx ? "" : " none");
    printf("RESULT spans_accepted=%" PRIu64 " spans_per_s=%.0f p50_ms=%.3f "
           "p99_ms=%.3f errors=%" PRIu64 " requests_ok=%" PRIu64
           " retries=%" PRIu64 " failed=%" PRIu64 "\n",
           t->spans, (double)t->spans / elapsed_s, p50, p99,
           non2xx + t->transport_errors, t->ok, t->retries,
           t->failed + t->abandoned);
}

static int send_run(struct send_shared *sh, struct sender *ws, unsigned n)
{
    const struct send_opts *o = sh->o;
    unsigned started = 0;
    int64_t end_ns, t0 = mono_ns();

    sh->deadline_ns =
        o->duration_s > 0 ? t0 + (int64_t)(o->duration_s * 1e9) : INT64_MAX;
    sh->give_up_ns = o->duration_s > 0
                         ? sh->deadline_ns + (int64_t)(o->retry_grace_s * 1e9)
                         : INT64_MAX;
    for (; started < n; started++)
        if (pthread_create(&ws[started].th, NULL, send_thread, &ws[started]))
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(ws[i].th, NULL);
    if (started < n) {
        fprintf(stderr, "serve_load: cannot start sender threads\n");
        return 1;
    }
    send_merge(ws, n, &end_ns);
    send_report(&ws[0], o, (double)(end_ns - t0) / 1e9);
    return ws[0].failed + ws[0].abandoned ? 1 : 0;
}

static int cmd_send(int argc, char **argv)
{
    struct send_opts o;
    struct body_tpl tpl;
    struct send_shared sh = {.o = &o, .tpl = &tpl};
    struct sender *ws = NULL;
    int rc = send_parse(argc, argv, &o);

    if (rc)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        tpl_build(&tpl, &o.shape) < 0) {
        fprintf(stderr, "serve_load: cannot build the request body\n");
        return 1;
    }
    tpl_print(&tpl, &o.shape,
              o.shape.spans_per_trace ? o.shape.spans_per_trace
                                      : o.shape.spans);
    ws = calloc(o.connections, sizeof(*ws));
    rc = ws ? 0 : 1;
    for (unsigned i = 0; ws && i < o.connections && rc == 0; i++)
        rc = sender_init(&ws[i], &sh) < 0 ? 1 : 0;
    if (rc == 0)
        rc = send_run(&sh, ws, o.connections);
    else
        fprintf(stderr, "serve_load: out of memory\n");
    for (unsigned i = 0; ws && i < o.connections; i++)
        sender_free(&ws[i]);
    free(ws);
    tpl_destroy(&tpl);
    curl_global_cleanup();
    return rc;
}

/* ---- span key set: distinct (trace ID, span ID), for the sink ----
 * Sharded by hash, one lock per shard, so that HTTP threads rarely wait
 * for each other and a growing table rehashes 1/64 of the keys at a time. */

#define KEY_SHARDS 64

struct span_key {
    uint64_t hi, lo, span; /* trace ID halves (big-endian), span ID */
};

struct key_shard {
    pthread_mutex_t mu;
    struct span_key *slots; /* all-zero = empty */
    size_t cap, count;      /* cap a power of two, count <= cap / 2 */
    uint64_t duplicates;
};

struct key_set {
    struct key_shard shard[KEY_SHARDS];
    _Atomic uint64_t spans, zero_ids;
    atomic_bool nomem;
};

static void key_set_init(struct key_set *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < KEY_SHARDS; i++)
        pthread_mutex_init(&s->shard[i].mu, NULL);
}

static void key_set_free(struct key_set *s)
{
    for (int i = 0; i < KEY_SHARDS; i++) {
        free(s->shard[i].slots);
        pthread_mutex_destroy(&s->shard[i].mu);
    }
}

/* Top 6 bits pick the shard, low bits the slot. */
static uint64_t key_hash(const struct span_key *k)
{
    return mix64(k->hi ^ mix64(k->lo ^ mix64(k->span)));
}

static bool key_eq(const struct span_key *a, const struct span_key *b)
{
    return a->hi == b->hi && a->lo == b->lo && a->span == b->span;
}

static bool key_empty(const struct span_key *k)
{
    return !k->hi && !k->lo && !k->span;
}

/* Slot of k in sh: where it is, or the empty slot where it belongs. */
static struct span_key *shard_find(struct key_shard *sh,
                                   const struct span_key *k, uint64_t h)
{
    size_t i = h & (sh->cap - 1);

    while (!key_empty(&sh->slots[i]) && !key_eq(&sh->slots[i], k))
        i = (i + 1) & (sh->cap - 1);
    return &sh->slots[i];
}

static int shard_grow(struct key_shard *sh, size_t min_cap)
{
    struct key_shard n = *sh;

    n.cap = sh->cap ? 2 * sh->cap : (size_t)1 << 12;
    while (n.cap < min_cap)
        n.cap *= 2;
    n.slots = calloc(n.cap, sizeof(*n.slots));
    if (!n.slots)
        return -1;
    for (size_t i = 0; i < sh->cap; i++)
        if (!key_empty(&sh->slots[i]))
            *shard_find(&n, &sh->slots[i], key_hash(&sh->slots[i])) =
                sh->slots[i];
    free(sh->slots);
    sh->slots = n.slots;
    sh->cap = n.cap;
    return 0;
}

/* Size the table for n keys up front (growing a table stalls the HTTP
 * threads that wait for its shard). */
static int key_set_reserve(struct key_set *s, uint64_t n)
{
    for (int i = 0; i < KEY_SHARDS; i++)
        if (shard_grow(&s->shard[i], (size_t)(n / KEY_SHARDS * 2 + 1)) < 0)
            return -1;
        else /* touch the pages now, not during the run */
            memset(s->shard[i].slots, 0,
                   s->shard[i].cap * sizeof(*s->shard[i].slots));
    return 0;
}

/* Count one span. Thread-safe. */
static void key_set_add(struct key_set *s, const uint8_t trace_id[16],
                        uint64_t span_id)
{
    struct span_key k = {get_be64(trace_id), get_be64(trace_id + 8), span_id};
    uint64_t h = key_hash(&k);
    struct key_shard *sh = &s->shard[h >> 58];

    atomic_fetch_add(&s->spans, 1);
    if (key_empty(&k)) {
        atomic_fetch_add(&s->zero_ids, 1);
        return;
    }
    pthread_mutex_lock(&sh->mu);
    if (2 * (sh->count + 1) > sh->cap && shard_grow(sh, 0) < 0) {
        s->nomem = true;
    } else {
        struct span_key *slot = shard_find(sh, &k, h);
        if (key_empty(slot)) {
            *slot = k;
            sh->count++;
        } else {
            sh->duplicates++;
        }
    }
    pthread_mutex_unlock(&sh->mu);
}

static void key_set_add_store(struct key_set *s, const struct span_store *st)
{
    size_t n = span_store_count(st);

    for (size_t i = 0; i < n; i++) {
        const struct span_rec *r = span_store_at(st, i);
        key_set_add(s, r->trace_id, r->span_id);
    }
}

static void key_set_totals(struct key_set *s, uint64_t *unique, uint64_t *dup)
{
    *unique = *dup = 0;
    for (int i = 0; i < KEY_SHARDS; i++) {
        pthread_mutex_lock(&s->shard[i].mu);
        *unique += s->shard[i].count;
        *dup += s->shard[i].duplicates;
        pthread_mutex_unlock(&s->shard[i].mu);
    }
}

static uint64_t key_set_unique(struct key_set *s)
{
    uint64_t unique, dup;

    key_set_totals(s, &unique, &dup);
    return unique;
}

/* "spans=N unique=U duplicates=D\n" into buf; returns its length. Spans
 * with all-zero IDs count in spans only. */
static int key_set_line(struct key_set *s, char *buf, size_t len)
{
    uint64_t unique, dup;

    key_set_totals(s, &unique, &dup);
    return snprintf(buf, len,
                    "spans=%" PRIu64 " unique=%" PRIu64 " duplicates=%" PRIu64
                    "\n",
                    (uint64_t)s->spans, unique, dup);
}

/* ---- sink ---- */

struct sink {
    struct key_set set;
    uint64_t busy_every;   /* answer 429 to every Nth batch; 0 = never */
    uint64_t reject_every; /* 200 + partial_success rejecting every span */
    uint64_t reserve;      /* spans to size the table for */
    _Atomic uint64_t batches;
};

static enum receiver_verdict sink_batch(void *ctx, struct span_store *batch,
                                        struct receiver_outcome *out)
{
    struct sink *k = ctx;
    uint64_t n = atomic_fetch_add(&k->batches, 1) + 1;

    if (k->busy_every && n % k->busy_every == 0) {
        snprintf(out->error_message, sizeof out->error_message, "test 429");
        return RECEIVER_BUSY; /* the receiver destroys the batch */
    }
    if (k->reject_every && n % k->reject_every == 0) {
        out->rejected_spans = span_store_count(batch);
        snprintf(out->error_message, sizeof out->error_message, "test");
        span_store_destroy(batch);
        return RECEIVER_ACCEPTED;
    }
    key_set_add_store(&k->set, batch);
    span_store_destroy(batch);
    return RECEIVER_ACCEPTED;
}

static int sink_count(void *ctx, char **body, size_t *len,
                      const char **content_type)
{
    struct sink *k = ctx;
    char line[256];
    int n = key_set_line(&k->set, line, sizeof line);

    if (!(*body = malloc((size_t)n)))
        return -1;
    memcpy(*body, line, (size_t)n);
    *len = (size_t)n;
    *content_type = "text/plain; charset=utf-8";
    return 200;
}

static int sink_parse(int argc, char **argv, struct receiver_config *cfg,
                      const char **port_file, struct sink *k)
{
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        bool miss = false, ok = true;
        if (opt_is(argc, argv, &i, "--listen", &v, &miss))
            cfg->listen = v;
        else if (opt_is(argc, argv, &i, "--port-file", &v, &miss))
            *port_file = v;
        else if (opt_is(argc, argv, &i, "--threads", &v, &miss))
            ok = miss || parse_uint(v, &cfg->threads);
        else if (opt_is(argc, argv, &i, "--busy-every", &v, &miss))
            ok = miss || parse_u64(v, &k->busy_every);
        else if (opt_is(argc, argv, &i, "--reject-every", &v, &miss))
            ok = miss || parse_u64(v, &k->reject_every);
        else if (opt_is(argc, argv, &i, "--expect-spans", &v, &miss))
            ok = miss || parse_u64(v, &k->reserve);
        else
            return usage_error("sink: unknown option %s", argv[i]);
        if (miss || !ok)
            return usage_error("sink: bad or missing value for %s",
                               argv[i - !miss]);
    }
    return 0;
}

static int cmd_sink(int argc, char **argv)
{
    static struct sink k; /* 64 shards: big for a stack */
    struct receiver_route route = {"/count", sink_count, &k};
    struct receiver_config cfg = {
        .listen = "127.0.0.1:0", .routes = &route, .nroutes = 1};
    const char *port_file = NULL;
    char err[256], line[256];
    sigset_t sigs;
    int sig, rc = sink_parse(argc, argv, &cfg, &port_file, &k);

    if (rc)
        return rc;
    key_set_init(&k.set);
    if (k.reserve && key_set_reserve(&k.set, k.reserve) < 0) {
        fprintf(stderr, "serve_load: sink: out of memory\n");
        return 1;
    }
    block_stop_signals(&sigs);
    struct receiver *r = receiver_start(&cfg, sink_batch, &k, err, sizeof err);
    if (!r) {
        fprintf(stderr, "serve_load: sink: %s\n", err);
        return 1;
    }
    snprintf(line, sizeof line, "%d\n", receiver_port(r));
    fprintf(stderr, "sink: listening on port %s", line);
    if (port_file && write_file_atomic(port_file, line) < 0) {
        fprintf(stderr, "serve_load: sink: cannot write %s\n", port_file);
        rc = 1;
    }
    if (rc == 0)
        sigwait(&sigs, &sig);
    receiver_stop(r);
    key_set_line(&k.set, line, sizeof line);
    fputs(line, stdout);
    if (k.set.nomem)
        fprintf(stderr, "serve_load: sink: out of memory, counts are low\n");
    rc = rc || k.set.nomem ? 1 : 0;
    key_set_free(&k.set);
    return rc;
}

/* ---- Kafka: mock cluster, producer, counting consumer ---- */

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    if (level <= 4)
        log_warn("kafka: %s: %s", fac, buf);
}

static rd_kafka_conf_t *kafka_conf(const char *const *kv, char *err,
                                   size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set_log_cb(conf, kafka_log);
    for (; kv[0]; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, errlen) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    return conf;
}

struct kafka_opts {
    const char *brokers, *topic, *group, *port_file, *out;
    uint64_t messages, expect;
    unsigned partitions;
    double idle_s, rate;
    struct shape_opts shape;
};

static int kafka_parse(int argc, char **argv, struct kafka_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        bool miss = false, ok = true;
        int s = shape_option(argc, argv, &i, &o->shape);
        if (s < 0)
            return -s;
        if (s > 0)
            continue;
        if (opt_is(argc, argv, &i, "--brokers", &v, &miss))
            o->brokers = v;
        else if (opt_is(argc, argv, &i, "--topic", &v, &miss))
            o->topic = v;
        else if (opt_is(argc, argv, &i, "--group", &v, &miss))
            o->group = v;
        else if (opt_is(argc, argv, &i, "--port-file", &v, &miss))
            o->port_file = v;
        else if (opt_is(argc, argv, &i, "-o", &v, &miss))
            o->out = v;
        else if (opt_is(argc, argv, &i, "--messages", &v, &miss))
            ok = miss || parse_u64(v, &o->messages);
        else if (opt_is(argc, argv, &i, "--expect", &v, &miss))
            ok = miss || parse_u64(v, &o->expect);
        else if (opt_is(argc, argv, &i, "--partitions", &v, &miss))
            ok = miss || parse_uint(v, &o->partitions);
        else if (opt_is(argc, argv, &i, "--idle-s", &v, &miss))
            ok = miss || parse_double(v, &o->idle_s);
        else if (opt_is(argc, argv, &i, "--rate", &v, &miss))
            ok = miss || parse_double(v, &o->rate);
        else
            return usage_error("kafka: unknown option %s", argv[i]);
        if (miss || !ok)
            return usage_error("kafka: bad or missing value for %s",
                               argv[i - !miss]);
    }
    return 0;
}

static int cmd_kafka_mock(int argc, char **argv)
{
    struct kafka_opts o = {.partitions = 4};
    char err[256], line[512];
    sigset_t sigs;
    int sig, rc = kafka_parse(argc, argv, &o);

    if (rc)
        return rc;
    block_stop_signals(&sigs);
    struct kafka_mock *m = kafka_mock_create(1, err, sizeof err);
    if (!m) {
        fprintf(stderr, "serve_load: %s\n", err);
        return 1;
    }
    if (o.topic && kafka_mock_create_topic(m, o.topic, (int)o.partitions, err,
                                           sizeof err) < 0) {
        fprintf(stderr, "serve_load: %s\n", err);
        rc = 1;
    }
    snprintf(line, sizeof line, "%s\n", kafka_mock_bootstraps(m));
    printf("bootstraps=%s", line);
    fflush(stdout);
    if (rc == 0 && o.port_file && write_file_atomic(o.port_file, line) < 0) {
        fprintf(stderr, "serve_load: cannot write %s\n", o.port_file);
        rc = 1;
    }
    if (rc == 0)
        sigwait(&sigs, &sig);
    kafka_mock_destroy(m);
    return rc;
}

struct produce_stats {
    uint64_t acked, failed;
    char first_err[256];
};

static void produce_dr(rd_kafka_t *rk, const rd_kafka_message_t *m,
                       void *opaque)
{
    struct produce_stats *st = opaque;

    (void)rk;
    if (!m->err) {
        st->acked++;
        return;
    }
    if (!st->failed++)
        snprintf(st->first_err, sizeof st->first_err, "%s",
                 rd_kafka_err2str(m->err));
}

static rd_kafka_t *producer_new(const struct kafka_opts *o,
                                struct produce_stats *st)
{
    const char *kv[] = {"bootstrap.servers",    o->brokers, "linger.ms", "5",
                        "socket.nagle.disable", "true",     NULL};
    char err[512];
    rd_kafka_conf_t *conf = kafka_conf(kv, err, sizeof err);
    rd_kafka_t *rk = NULL;

    if (conf) {
        rd_kafka_conf_set_opaque(conf, st);
        rd_kafka_conf_set_dr_msg_cb(conf, produce_dr);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    }
    if (!rk)
        fprintf(stderr, "serve_load: kafka producer: %s\n", err);
    return rk;
}

/* Produce message n (the body patched for n), waiting while the local
 * queue is full. The key is the trace ID of the message's first trace. */
static rd_kafka_resp_err_t produce_one(rd_kafka_t *rk, const char *topic,
                                       uint8_t *body, const struct body_tpl *t,
                                       uint32_t n)
{
    rd_kafka_resp_err_t e;

    body_patch(body, t, n, clock_ns(CLOCK_REALTIME));
    do {
        e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(body + t->spans[0].off_trace, 16),
                              RD_KAFKA_V_VALUE(body, t->len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    rd_kafka_poll(rk, 0);
    return e;
}

/* Messages the brokers no longer hold: the sum of the topic's log start
 * offsets (on a fresh topic, what retention dropped; librdkafka's mock
 * keeps about 5 MB per partition). -1 when it cannot be asked. */
static int64_t produce_dropped(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t sum = -1, lo, hi;

    if (rkt && !rd_kafka_metadata(rk, 0, rkt, &md, 5000) &&
        md->topic_cnt == 1) {
        sum = 0;
        for (int p = 0; p < md->topics[0].partition_cnt && sum >= 0; p++)
            if (rd_kafka_query_watermark_offsets(
                    rk, topic, md->topics[0].partitions[p].id, &lo, &hi,
                    5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
                sum += lo;
            else
                sum = -1;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return sum;
}

/* With --rate, wait until message n is due (serving delivery reports). */
static void produce_pace(rd_kafka_t *rk, const struct kafka_opts *o, int64_t t0,
                         uint64_t n)
{
    int64_t due = t0 + (int64_t)((double)n * 1e9 / o->rate), now;

    while (o->rate > 0 && (now = mono_ns()) < due)
        rd_kafka_poll(rk, (int)((due - now) / 1000000));
}

static void produce_report(const struct kafka_opts *o, const struct body_tpl *t,
                           const struct produce_stats *st, double s,
                           int64_t dropped, bool failed)
{
    uint64_t spans = st->acked * t->nspans;

    printf("kafka-produce: %s %s: %" PRIu64 " messages acked, %" PRIu64
           " failed%s%s, %.2f s\n",
           o->brokers, o->topic, st->acked, st->failed, st->failed ? ": " : "",
           st->first_err, s);
    printf("messages/s %.0f, spans/s %.0f, MB/s %.1f\n", (double)st->acked / s,
           (double)spans / s, (double)st->acked * (double)t->len / s / 1e6);
    if (dropped != 0)
        printf("%s: %" PRId64 " messages already gone from the topic "
               "(fine if a consumer read them first; else retention: "
               "librdkafka's mock keeps about 5 MB per partition, use more "
               "partitions or --rate with a live consumer)\n",
               dropped > 0 ? "WARNING" : "note", dropped);
    printf("RESULT messages=%" PRIu64 " spans=%" PRIu64
           " messages_per_s=%.0f spans_per_s=%.0f dropped_messages=%" PRId64
           " errors=%" PRIu64 "\n",
           st->acked, spans, (double)st->acked / s, (double)spans / s, dropped,
           st->failed + failed);
}

static int produce_all(rd_kafka_t *rk, const struct kafka_opts *o,
                       const struct body_tpl *t, struct produce_stats *st)
{
    uint8_t *body = malloc(t->len);
    int64_t t0 = mono_ns();
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (!body)
        return 1;
    memcpy(body, t->buf, t->len);
    for (uint64_t n = 0; n < o->messages && !e; n++) {
        produce_pace(rk, o, t0, n);
        e = produce_one(rk, o->topic, body, t, (uint32_t)n);
    }
    if (e)
        fprintf(stderr, "serve_load: produce: %s\n", rd_kafka_err2str(e));
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "serve_load: produce: flush timed out\n");
    double s = (double)(mono_ns() - t0) / 1e9;
    produce_report(o, t, st, s, produce_dropped(rk, o->topic), e != 0);
    free(body);
    return e || st->failed || st->acked < o->messages ? 1 : 0;
}

static int cmd_kafka_produce(int argc, char **argv)
{
    struct kafka_opts o = {.messages = 1000,
                           .shape = {.spans = 100, .domains = 4}};
    struct produce_stats st = {0};
    struct body_tpl t;
    int rc = kafka_parse(argc, argv, &o);

    if (rc)
        return rc;
    if (!o.brokers || !o.topic)
        return usage_error("%s", "kafka-produce: --brokers and --topic");
    if (o.messages > UINT32_MAX)
        return usage_error("%s", "kafka-produce: --messages must be < 2^32");
    if ((rc = shape_check(&o.shape)))
        return rc;
    if (tpl_build(&t, &o.shape) < 0) {
        fprintf(stderr, "serve_load: cannot build the message body\n");
        return 1;
    }
    tpl_print(&t, &o.shape,
              o.shape.spans_per_trace ? o.shape.spans_per_trace
                                      : o.shape.spans);
    rd_kafka_t *rk = producer_new(&o, &st);
    rc = rk ? produce_all(rk, &o, &t, &st) : 1;
    if (rk)
        rd_kafka_destroy(rk);
    tpl_destroy(&t);
    return rc;
}

static rd_kafka_t *consumer_new(const struct kafka_opts *o)
{
    const char *kv[] = {"bootstrap.servers",
                        o->brokers,
                        "group.id",
                        o->group,
                        "auto.offset.reset",
                        "earliest",
                        "enable.auto.commit",
                        "false",
                        NULL};
    char err[512];
    rd_kafka_conf_t *conf = kafka_conf(kv, err, sizeof err);
    rd_kafka_t *rk =
        conf ? rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err) : NULL;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(tl, o->topic, RD_KAFKA_PARTITION_UA);
    if (rk) {
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, tl);
        if (e) {
            snprintf(err, sizeof err, "subscribe: %s", rd_kafka_err2str(e));
            rd_kafka_destroy(rk);
            rk = NULL;
        }
    }
    rd_kafka_topic_partition_list_destroy(tl);
    if (!rk)
        fprintf(stderr, "serve_load: kafka consumer: %s\n", err);
    return rk;
}

/* Decode one message into s's counts; -1 when it does not decode. */
static int count_message(struct key_set *s, const rd_kafka_message_t *m)
{
    struct span_store *st = span_store_create();
    char err[256] = "out of memory";
    int rc = -1;

    if (st && receiver_decode_body(
                  m->payload, m->len, RECEIVER_CONTENT_PROTOBUF, false,
                  (size_t)64 << 20, NULL, st, NULL, err, sizeof err) == 0) {
        key_set_add_store(s, st);
        rc = 0;
    } else {
        log_ratelimited(LOG_WARN, 5,
                        "kafka-count: partition %d offset %" PRId64 ": %s",
                        (int)m->partition, m->offset, err);
    }
    span_store_destroy(st);
    return rc;
}

static int cmd_kafka_count(int argc, char **argv)
{
    static struct key_set set;
    struct kafka_opts o = {.group = "serve_load", .idle_s = 10};
    uint64_t msgs = 0, bad = 0;
    int64_t first = 0, last = 0, start = mono_ns();
    char line[256];
    sigset_t sigs;
    int rc = kafka_parse(argc, argv, &o);

    if (rc)
        return rc;
    if (!o.brokers || !o.topic)
        return usage_error("%s", "kafka-count: --brokers and --topic");
    key_set_init(&set);
    block_stop_signals(&sigs);
    rd_kafka_t *rk = consumer_new(&o);
    if (!rk)
        return 1;
    while (!stop_requested(&sigs) && !(o.expect && set.spans >= o.expect)) {
        int64_t now = mono_ns(), since = first ? last : start;
        if (now - since > (int64_t)(o.idle_s * 1e9) * (first ? 1 : 3))
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            last = mono_ns();
            first = first ? first : last;
            msgs++;
            bad += count_message(&set, m) < 0;
        } else {
            log_ratelimited(LOG_WARN, 5, "kafka-count: %s",
                            rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    double s = first && last > first ? (double)(last - first) / 1e9 : 0;
    printf("kafka-count: %" PRIu64 " messages (%" PRIu64
           " not decoded), first to last %.2f s, spans/s %.0f\n",
           msgs, bad, s, s > 0 ? (double)set.spans / s : 0.0);
    key_set_line(&set, line, sizeof line);
    fputs(line, stdout);
    rc = bad || set.nomem || (o.expect && key_set_unique(&set) != o.expect);
    key_set_free(&set);
    return rc;
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
    int rc = kafka_parse(argc, argv, &o);

    if (rc || (rc = shape_check(&o.shape)))
        return rc;
    FILE *f = strcmp(o.out, "-") ? fopen(o.out, "wb") : stdout;
    if (!f || tpl_build(&t, &o.shape) < 0) {
        fprintf(stderr, "serve_load: dump: cannot write %s\n", o.out);
        return 1;
    }
    size_t k = otlp_proto_put_varint(prefix, t.len);
    int64_t now = clock_ns(CLOCK_REALTIME);
    for (uint64_t n = 0; n < o.messages && rc == 0; n++) {
        body_patch(t.buf, &t, (uint32_t)n, now + (int64_t)n * 1000000);
        if (fwrite(prefix, 1, k, f) != k || fwrite(t.buf, 1, t.len, f) != t.len)
            rc = 1;
    }
    if ((f != stdout ? fclose(f) : fflush(f)) != 0 || rc) {
        fprintf(stderr, "serve_load: dump: cannot write %s\n", o.out);
        rc = 1;
    }
    tpl_destroy(&t);
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
        return cmd_send(argc, argv);
    if (strcmp(cmd, "sink") == 0)
        return cmd_sink(argc, argv);
    if (strcmp(cmd, "kafka-produce") == 0)
        return cmd_kafka_produce(argc, argv);
    if (strcmp(cmd, "kafka-mock") == 0)
        return cmd_kafka_mock(argc, argv);
    if (strcmp(cmd, "kafka-count") == 0)
        return cmd_kafka_count(argc, argv);
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
