/* Tests of the testbed's span recorder (testbed/tracer.h) and the
 * libfaketime helper (testbed/faketime.h):
 *  - spans exported to an OTLP JSON file read back through skewscope's own
 *    reader with the right IDs, parents, kinds, links, domains and times,
 *    the injected skew and drift exact against a controlled true clock;
 *  - the real clock plus the injected error, bracketed by true readings;
 *  - OTLP/HTTP protobuf export against a small HTTP server on 127.0.0.1
 *    (an ephemeral port, one thread): method, path, content type and body,
 *    a 503 then 200 retried, a 400 not retried, a dead endpoint bounded;
 *  - /bin/date run under the faketime environment reports a skewed clock. */
#include "testlib.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "ingest/ingest.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "testbed/faketime.h"
#include "testbed/tracer.h"

#define T0 INT64_C(1790000000000000000)
#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)

/* ---- helpers ---- */

struct fake_clock {
    int64_t now; /* true time the tracer reads, unix ns */
};

static int64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now;
}

static int64_t real_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* The recorded time tracer.h promises for true time t. */
static int64_t expect_rec(int64_t t, int64_t skew, double ppm, int64_t t0)
{
    return t + skew + llround(ppm * 1e-6 * (double)(t - t0));
}

static char *temp_path(void)
{
    char *path = testlib_write_temp("", 0);

    return path;
}

static struct span_store *read_back(const char *path)
{
    struct span_store *s = span_store_create();
    struct ingest_opts opts = {.format = TRACE_FORMAT_AUTO};
    char err[256] = "";

    assert_non_null(s);
    if (ingest_file(s, path, &opts, err, sizeof err) != 0)
        fail_msg("ingest_file(%s): %s", path, err);
    assert_int_equal(span_store_index(s), 0);
    return s;
}

static const struct span_rec *find(struct span_store *s,
                                   const struct tracer_span *sp)
{
    int64_t i = span_store_find(s, sp->trace_id, sp->span_id, false);

    assert_true(i >= 0);
    return span_store_at(s, (size_t)i);
}

static void check_rec(struct span_store *s, const struct tracer_span *sp,
                      const char *domain)
{
    const struct span_rec *r = find(s, sp);

    assert_int_equal(r->kind, sp->kind);
    assert_int_equal(r->start_ns, sp->start_ns);
    assert_int_equal(r->end_ns, sp->end_ns);
    if (sp->parent_span_id) {
        assert_true(r->flags & SPAN_F_HAS_PARENT);
        assert_true(r->parent_id == sp->parent_span_id);
    } else
        assert_false(r->flags & SPAN_F_HAS_PARENT);
    assert_string_equal(span_store_domain_name(s, r->domain), domain);
}

static struct tracer *file_tracer(const char *host, const char *path,
                                  struct fake_clock *clk, int64_t skew,
                                  double ppm)
{
    struct tracer_config cfg;
    char err[256] = "";
    struct tracer *t;

    tracer_config_init(&cfg);
    cfg.host_name = host;
    cfg.service_name = "svc";
    cfg.skew_ns = skew;
    cfg.drift_ppm = ppm;
    cfg.t0_ns = T0;
    cfg.clock = clk ? fake_now : NULL;
    cfg.clock_arg = clk;
    cfg.seed = 42;
    cfg.path = path;
    cfg.truncate = false;
    t = tracer_create(&cfg, err, sizeof err);
    if (!t)
        fail_msg("tracer_create: %s", err);
    return t;
}

/* ---- file export: read back, skew and drift exact ---- */

static void test_file_roundtrip_skew_drift(void **state)
{
    char *path = temp_path();
    struct fake_clock ca = {T0}, cb = {T0};
    struct tracer *a = file_tracer("node-prefill", path, &ca, 5 * MS, 40.0);
    struct tracer *b = file_tracer("node-decode-0", path, &cb, 0, 0);
    struct tracer_span srv, prod, cons, step;
    struct span_store *s;
    int64_t t;

    (void)state;
    /* Stage a: SERVER root 100 s after t0 (drift term 4 ms), a PRODUCER
     * child with messaging attributes and an event. */
    ca.now = t = T0 + 100 * SEC;
    tracer_span_begin(a, &srv, "request", SPAN_KIND_SERVER, NULL, 0);
    assert_int_equal(srv.start_ns, t + 5 * MS + 4 * MS);
    assert_int_equal(srv.start_ns, expect_rec(t, 5 * MS, 40.0, T0));
    ca.now += 1 * MS;
    tracer_span_begin(a, &prod, "tokens publish", SPAN_KIND_PRODUCER,
                      srv.trace_id, srv.span_id);
    assert_int_equal(tracer_span_set_attr(&prod, "messaging.system", "kafka"),
                     0);
    assert_int_equal(
        tracer_span_set_attr(&prod, "messaging.destination.name", "tokens"), 0);
    assert_int_equal(
        tracer_span_set_attr(&prod, "messaging.operation", "publish"), 0);
    ca.now += 10000;
    assert_int_equal(tracer_span_add_event(a, &prod, "sent"), 0);
    ca.now += 20000;
    tracer_span_end(a, &prod);
    assert_int_equal(prod.end_ns, expect_rec(ca.now, 5 * MS, 40.0, T0));

    /* Stage b (no clock error): CONSUMER child of the producer, with a
     * link to it, and an INTERNAL step below it. Its true times come after
     * the producer's, yet the recorded ones are earlier: a violation. */
    cb.now = ca.now + 2 * MS;
    tracer_span_begin(b, &cons, "tokens process", SPAN_KIND_CONSUMER,
                      prod.trace_id, prod.span_id);
    assert_int_equal(tracer_span_add_link(&cons, prod.trace_id, prod.span_id),
                     0);
    assert_true(cons.start_ns < prod.start_ns);
    cb.now += MS;
    tracer_span_begin(b, &step, "decode step", SPAN_KIND_INTERNAL,
                      cons.trace_id, cons.span_id);
    cb.now += MS;
    tracer_span_end(b, &step);
    tracer_span_end(b, &cons);
    ca.now = cb.now + MS;
    tracer_span_end(a, &srv);
    assert_int_equal(srv.end_ns, expect_rec(ca.now, 5 * MS, 40.0, T0));

    assert_int_equal(tracer_destroy(b), 0);
    assert_int_equal(tracer_destroy(a), 0);

    s = read_back(path);
    assert_int_equal(span_store_count(s), 4);
    assert_int_equal(span_store_traces(s), 1);
    check_rec(s, &srv, "node-prefill");
    check_rec(s, &prod, "node-prefill");
    check_rec(s, &cons, "node-decode-0");
    check_rec(s, &step, "node-decode-0");
    const struct span_rec *r = find(s, &prod);
    assert_string_equal(span_store_system_name(s, r->system), "kafka");
    r = find(s, &cons);
    assert_int_not_equal(r->link, SPAN_NO_LINK);
    const struct span_link *l = span_store_link(s, r->link);
    assert_memory_equal(l->trace_id, prod.trace_id, 16);
    assert_true(l->span_id == prod.span_id);
    span_store_destroy(s);
    unlink(path);
    free(path);
}

/* The file holds one ExportTraceServiceRequest per line and batch. */
static void test_file_batches_are_lines(void **state)
{
    char *path = temp_path();
    struct tracer_config cfg;
    struct tracer_stats st;
    struct tracer_span sp;
    char err[256], line[65536];
    struct tracer *t;
    FILE *f;
    int lines = 0;

    (void)state;
    tracer_config_init(&cfg);
    cfg.host_name = "node-gateway";
    cfg.service_name = "gateway";
    cfg.path = path;
    cfg.truncate = true;
    cfg.batch_spans = 2;
    t = tracer_create(&cfg, err, sizeof err);
    assert_non_null(t);
    for (int i = 0; i < 5; i++) {
        tracer_span_begin(t, &sp, "op", SPAN_KIND_INTERNAL, NULL, 0);
        tracer_span_end(t, &sp);
    }
    assert_int_equal(tracer_flush(t), 0);
    tracer_get_stats(t, &st);
    assert_int_equal(st.spans_ended, 5);
    assert_int_equal(st.spans_exported, 5);
    assert_true(st.batches >= 3);
    assert_int_equal(tracer_destroy(t), 0);

    assert_non_null(f = fopen(path, "r"));
    while (fgets(line, sizeof line, f)) {
        assert_true(strncmp(line, "{\"resourceSpans\":[", 18) == 0);
        lines++;
    }
    fclose(f);
    assert_int_equal((uint64_t)lines, st.batches);
    struct span_store *s = read_back(path);
    assert_int_equal(span_store_count(s), 5);
    assert_int_equal(span_store_traces(s), 5);
    span_store_destroy(s);
    unlink(path);
    free(path);
}

/* ---- the real clock ---- */

static void test_real_clock_skew_and_drift(void **state)
{
    struct tracer_config cfg;
    char err[256];
    struct tracer *t;
    int64_t before, rec, after;

    (void)state;
    tracer_config_init(&cfg);
    cfg.host_name = "node-prefill";
    cfg.service_name = "prefill";
    cfg.export_kind = TRACER_EXPORT_NONE;
    cfg.skew_ns = -3 * MS;
    cfg.drift_ppm = 100.0;
    cfg.t0_ns = real_now() - 1000 * SEC; /* drift term: +100 ms */
    t = tracer_create(&cfg, err, sizeof err);
    assert_non_null(t);
    for (int i = 0; i < 100; i++) {
        before = real_now();
        rec = tracer_now_ns(t);
        after = real_now();
        assert_true(rec >= expect_rec(before, -3 * MS, 100.0, cfg.t0_ns));
        assert_true(rec <= expect_rec(after, -3 * MS, 100.0, cfg.t0_ns));
        assert_true(rec - after > 96 * MS && rec - before < 98 * MS);
    }
    assert_int_equal(tracer_clock_at(t, cfg.t0_ns), cfg.t0_ns - 3 * MS);
    assert_int_equal(tracer_clock_at(t, cfg.t0_ns + 10 * SEC),
                     cfg.t0_ns + 10 * SEC - 3 * MS + MS);
    assert_int_equal(tracer_destroy(t), 0);

    /* PROCESS mode records the process clock unadjusted. */
    cfg.clock_mode = TRACER_CLOCK_PROCESS;
    t = tracer_create(&cfg, err, sizeof err);
    assert_non_null(t);
    before = real_now();
    rec = tracer_now_ns(t);
    after = real_now();
    assert_true(rec >= before && rec <= after);
    assert_int_equal(tracer_clock_at(t, T0), T0);
    assert_int_equal(tracer_destroy(t), 0);
}

static void test_ids_and_config_errors(void **state)
{
    struct tracer_config cfg;
    char err[256] = "";
    struct tracer *t1, *t2;
    uint8_t a[16], b[16];

    (void)state;
    tracer_config_init(&cfg);
    cfg.service_name = "svc";
    cfg.export_kind = TRACER_EXPORT_NONE;
    assert_null(tracer_create(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "host_name"));
    cfg.host_name = "node-a";
    cfg.export_kind = TRACER_EXPORT_OTLP_HTTP;
    cfg.endpoint = "localhost:4318";
    assert_null(tracer_create(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "not a URL"));
    cfg.export_kind = TRACER_EXPORT_FILE;
    cfg.path = "/nonexistent-dir/x.json";
    assert_null(tracer_create(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent-dir/x.json"));

    /* Same seed and names: same IDs; distinct IDs within a tracer. */
    cfg.export_kind = TRACER_EXPORT_NONE;
    cfg.seed = 7;
    t1 = tracer_create(&cfg, err, sizeof err);
    t2 = tracer_create(&cfg, err, sizeof err);
    assert_non_null(t1);
    assert_non_null(t2);
    tracer_new_trace_id(t1, a);
    tracer_new_trace_id(t2, b);
    assert_memory_equal(a, b, 16);
    uint64_t s1 = tracer_new_span_id(t1);
    assert_true(s1 != 0 && s1 == tracer_new_span_id(t2));
    assert_true(s1 != tracer_new_span_id(t1));
    assert_int_equal(tracer_destroy(t1), 0);
    assert_int_equal(tracer_destroy(t2), 0);
}

/* ---- OTLP/HTTP against a small server ---- */

#define MAX_REQ 8

struct http_req {
    char method[16], path[128], ctype[128];
    unsigned char *body;
    size_t len;
};

struct http_server {
    int fd, port;
    pthread_t thread;
    atomic_int stop;
    int statuses[MAX_REQ]; /* reply of request i; the last one repeats */
    int nstatuses;
    int nreq;
    struct http_req req[MAX_REQ];
};

/* Value of header `name` in the header block hdr (NUL-terminated), copied
 * into out; returns 0 or -1. */
static int header_value(const char *hdr, const char *name, char *out,
                        size_t outlen)
{
    size_t n = strlen(name);

    for (const char *p = strstr(hdr, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            h += n + 1;
            while (*h == ' ')
                h++;
            size_t k = strcspn(h, "\r\n");
            snprintf(out, outlen, "%.*s", (int)k, h);
            return 0;
        }
    }
    return -1;
}

/* Read one request from fd; returns 0 or -1. */
static int read_request(int fd, struct http_req *rq)
{
    size_t cap = 1 << 20, len = 0, hlen = 0, body = 0;
    char *buf = malloc(cap + 1), clen[32];
    char *end = NULL;

    assert_non_null(buf);
    while (!end || len < hlen + body) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (len == cap || poll(&pfd, 1, 3000) <= 0)
            goto fail;
        ssize_t k = read(fd, buf + len, cap - len);
        if (k <= 0)
            goto fail;
        len += (size_t)k;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            hlen = (size_t)(end - buf) + 4;
            end[2] = '\0';
            if (header_value(buf, "Content-Length", clen, sizeof clen) < 0)
                goto fail;
            body = strtoul(clen, NULL, 10);
            header_value(buf, "Content-Type", rq->ctype, sizeof rq->ctype);
            sscanf(buf, "%15s %127s", rq->method, rq->path);
        }
    }
    rq->body = malloc(body ? body : 1);
    assert_non_null(rq->body);
    memcpy(rq->body, buf + hlen, body);
    rq->len = body;
    free(buf);
    return 0;
fail:
    free(buf);
    return -1;
}

static void *server_main(void *arg)
{
    struct http_server *sv = arg;

    while (!atomic_load(&sv->stop) && sv->nreq < MAX_REQ) {
        struct pollfd pfd = {sv->fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            continue;
        /* One request per connection ("Connection: close"). */
        if (read_request(c, &sv->req[sv->nreq]) == 0) {
            int i = sv->nreq < sv->nstatuses ? sv->nreq : sv->nstatuses - 1;
            char reply[128];
            int n = snprintf(reply, sizeof reply,
                             "HTTP/1.1 %d X\r\nContent-Length: 2\r\n"
                             "Connection: close\r\n\r\n{}",
                             sv->statuses[i]);
            sv->nreq++;
            if (write(c, reply, (size_t)n) != n)
                break;
        }
        close(c);
    }
    return NULL;
}

static void server_start(struct http_server *sv, const int *statuses, int n)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;

    memset(sv, 0, sizeof(*sv));
    memcpy(sv->statuses, statuses, (size_t)n * sizeof(int));
    sv->nstatuses = n;
    sv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv->fd >= 0);
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(sv->fd, 16), 0);
    assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&sa, &sl), 0);
    sv->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&sv->thread, NULL, server_main, sv), 0);
}

static void server_stop(struct http_server *sv)
{
    atomic_store(&sv->stop, 1);
    pthread_join(sv->thread, NULL);
    close(sv->fd);
}

static void server_free(struct http_server *sv)
{
    for (int i = 0; i < sv->nreq; i++)
        free(sv->req[i].body);
}

static struct tracer *http_tracer(const char *url, unsigned timeout_ms)
{
    struct tracer_config cfg;
    char err[256] = "";
    struct tracer *t;

    tracer_config_init(&cfg);
    cfg.host_name = "node-tokenizer";
    cfg.service_name = "tokenizer";
    cfg.skew_ns = 2 * MS;
    cfg.export_kind = TRACER_EXPORT_OTLP_HTTP;
    cfg.endpoint = url;
    cfg.retry_initial_ms = 20;
    cfg.export_timeout_ms = timeout_ms;
    t = tracer_create(&cfg, err, sizeof err);
    if (!t)
        fail_msg("tracer_create: %s", err);
    return t;
}

static const char *
kv_string(Opentelemetry__Proto__Common__V1__KeyValue *const *kv, size_t n,
          const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0 && kv[i]->value)
            return kv[i]->value->string_value;
    return NULL;
}

/* The body is a bare ExportTraceServiceRequest holding spans sp[0..n). */
static void check_body(const struct http_req *rq, const struct tracer_span *sp,
                       size_t n)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *m =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, rq->len, rq->body);

    assert_non_null(m);
    assert_int_equal(m->n_resource_spans, 1);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = m->resource_spans[0];
    assert_string_equal(kv_string(rs->resource->attributes,
                                  rs->resource->n_attributes, "host.name"),
                        "node-tokenizer");
    assert_int_equal(rs->n_scope_spans, 1);
    assert_int_equal(rs->scope_spans[0]->n_spans, n);
    for (size_t i = 0; i < n; i++) {
        Opentelemetry__Proto__Trace__V1__Span *s = rs->scope_spans[0]->spans[i];
        uint64_t id = 0;
        assert_int_equal(s->span_id.len, 8);
        for (int k = 0; k < 8; k++)
            id = id << 8 | s->span_id.data[k];
        assert_true(id == sp[i].span_id);
        assert_memory_equal(s->trace_id.data, sp[i].trace_id, 16);
        assert_int_equal((int)s->kind, sp[i].kind);
        assert_int_equal((int64_t)s->start_time_unix_nano, sp[i].start_ns);
        assert_int_equal((int64_t)s->end_time_unix_nano, sp[i].end_ns);
        assert_string_equal(s->name, i == 0 ? "publish" : "consume");
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
        m, NULL);
}

static void record_two(struct tracer *t, struct tracer_span sp[2])
{
    tracer_span_begin(t, &sp[0], "publish", SPAN_KIND_PRODUCER, NULL, 0);
    tracer_span_set_attr(&sp[0], "messaging.system", "zeromq");
    tracer_span_end(t, &sp[0]);
    tracer_span_begin(t, &sp[1], "consume", SPAN_KIND_CONSUMER, sp[0].trace_id,
                      sp[0].span_id);
    tracer_span_set_attr(&sp[1], "rpc.system", "none");
    tracer_span_end(t, &sp[1]);
}

static void test_http_export(void **state)
{
    static const int ok[] = {200};
    struct http_server sv;
    struct tracer_stats st;
    struct tracer_span sp[2];
    char url[64];
    struct tracer *t;

    (void)state;
    server_start(&sv, ok, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", sv.port);
    t = http_tracer(url, 3000);
    record_two(t, sp);
    assert_int_equal(tracer_flush(t), 0);
    tracer_get_stats(t, &st);
    assert_int_equal(st.spans_exported, 2);
    assert_int_equal(st.http_attempts, 1);
    assert_int_equal(tracer_destroy(t), 0);
    server_stop(&sv);

    assert_int_equal(sv.nreq, 1);
    assert_string_equal(sv.req[0].method, "POST");
    assert_string_equal(sv.req[0].path, "/v1/traces");
    assert_string_equal(sv.req[0].ctype, "application/x-protobuf");
    check_body(&sv.req[0], sp, 2);
    server_free(&sv);
}

static void test_http_retry_after_503(void **state)
{
    static const int seq[] = {503, 200};
    struct http_server sv;
    struct tracer_stats st;
    struct tracer_span sp[2];
    char url[80];
    struct tracer *t;

    (void)state;
    server_start(&sv, seq, 2);
    /* A URL with a path is used as given. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/custom/traces", sv.port);
    t = http_tracer(url, 3000);
    record_two(t, sp);
    assert_int_equal(tracer_flush(t), 0);
    tracer_get_stats(t, &st);
    assert_int_equal(st.spans_exported, 2);
    assert_int_equal(st.spans_failed, 0);
    assert_int_equal(st.http_attempts, 2);
    assert_int_equal(st.http_retries, 1);
    assert_int_equal(tracer_destroy(t), 0);
    server_stop(&sv);

    assert_int_equal(sv.nreq, 2);
    assert_string_equal(sv.req[1].path, "/custom/traces");
    assert_int_equal(sv.req[0].len, sv.req[1].len);
    assert_memory_equal(sv.req[0].body, sv.req[1].body, sv.req[0].len);
    check_body(&sv.req[1], sp, 2);
    server_free(&sv);
}

static void test_http_400_not_retried(void **state)
{
    static const int bad[] = {400};
    struct http_server sv;
    struct tracer_stats st;
    struct tracer_span sp[2];
    char url[64];
    struct tracer *t;

    (void)state;
    server_start(&sv, bad, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", sv.port);
    t = http_tracer(url, 3000);
    record_two(t, sp);
    assert_int_equal(tracer_flush(t), -1);
    tracer_get_stats(t, &st);
    assert_int_equal(st.spans_failed, 2);
    assert_int_equal(st.http_attempts, 1);
    assert_non_null(strstr(st.last_error, "HTTP 400"));
    assert_int_equal(tracer_destroy(t), -1);
    server_stop(&sv);
    assert_int_equal(sv.nreq, 1);
    assert_string_equal(sv.req[0].path, "/v1/traces");
    server_free(&sv);
}

/* Nobody listens: retries stop at the export timeout. */
static void test_http_dead_endpoint_bounded(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    struct tracer_stats st;
    struct tracer_span sp[2];
    char url[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int64_t start;
    struct tracer *t;

    (void)state;
    /* A port that was free a moment ago and has no listener. */
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    t = http_tracer(url, 400);
    record_two(t, sp);
    start = real_now();
    assert_int_equal(tracer_flush(t), -1);
    assert_true(real_now() - start < 2 * SEC);
    tracer_get_stats(t, &st);
    assert_int_equal(st.spans_failed, 2);
    assert_true(st.http_attempts >= 2);
    assert_int_equal(tracer_destroy(t), -1);
}

/* ---- threads, queue limit ---- */

#define NTHREADS 4
#define PER_THREAD 500

static void *record_many(void *arg)
{
    struct tracer *t = arg;
    struct tracer_span sp;

    for (int i = 0; i < PER_THREAD; i++) {
        tracer_span_begin(t, &sp, "step", SPAN_KIND_INTERNAL, NULL, 0);
        tracer_span_set_attr(&sp, "rank", i % 2 ? "odd" : "even");
        tracer_span_end(t, &sp);
    }
    return NULL;
}

static void test_concurrent_spans(void **state)
{
    char *path = temp_path();
    struct tracer_config cfg;
    struct tracer_stats st;
    pthread_t th[NTHREADS];
    char err[256];
    struct tracer *t;

    (void)state;
    tracer_config_init(&cfg);
    cfg.host_name = "node-decode-1";
    cfg.service_name = "decode";
    cfg.path = path;
    cfg.batch_spans = 64;
    t = tracer_create(&cfg, err, sizeof err);
    assert_non_null(t);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, record_many, t), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    tracer_get_stats(t, &st);
    assert_int_equal(st.spans_ended, NTHREADS * PER_THREAD);
    assert_int_equal(tracer_destroy(t), 0);

    struct span_store *s = read_back(path);
    assert_int_equal(span_store_count(s), NTHREADS * PER_THREAD);
    assert_int_equal(span_store_duplicates(s), 0);
    span_store_destroy(s);
    unlink(path);
    free(path);
}

/* Beyond max_queue_spans, spans are dropped and counted, never blocked. */
static void test_queue_limit_drops(void **state)
{
    char *path = temp_path();
    struct tracer_config cfg;
    struct tracer_stats st;
    struct tracer_span sp;
    char err[256];
    struct tracer *t;

    (void)state;
    tracer_config_init(&cfg);
    cfg.host_name = "node-gateway";
    cfg.service_name = "gateway";
    cfg.path = path;
    cfg.batch_spans = 1000;        /* no batch fills up ... */
    cfg.flush_interval_ms = 60000; /* ... and no interval passes */
    cfg.max_queue_spans = 3;
    t = tracer_create(&cfg, err, sizeof err);
    assert_non_null(t);
    for (int i = 0; i < 5; i++) {
        tracer_span_begin(t, &sp, "op", SPAN_KIND_SERVER, NULL, 0);
        tracer_span_end(t, &sp);
    }
    assert_int_equal(tracer_flush(t), -1);
    tracer_get_stats(t, &st);
    assert_int_equal(st.spans_dropped, 2);
    assert_int_equal(st.spans_exported, 3);
    tracer_span_begin(t, &sp, "op", SPAN_KIND_SERVER, NULL, 0);
    tracer_span_end(t, &sp);
    assert_int_equal(tracer_flush(t), 0); /* nothing lost since */
    assert_int_equal(tracer_destroy(t), -1);
    unlink(path);
    free(path);
}

/* ---- libfaketime ---- */

static void test_faketime_spec(void **state)
{
    char buf[64];

    (void)state;
    assert_int_equal(faketime_spec(5 * MS, 20.0, buf, sizeof buf), 0);
    assert_string_equal(buf, "+0.005000000 x1.000020000000");
    assert_int_equal(faketime_spec(-1500 * MS, 0, buf, sizeof buf), 0);
    assert_string_equal(buf, "-1.500000000");
    assert_int_equal(faketime_spec(-1, -40.0, buf, sizeof buf), 0);
    assert_string_equal(buf, "-0.000000001 x0.999960000000");
    assert_int_equal(faketime_spec(0, 0, buf, 5), -1);
    assert_int_equal(faketime_spec(0, 2e5, buf, sizeof buf), -1);
}

static void test_faketime_env(void **state)
{
    char *base[] = {"PATH=/bin", "LD_PRELOAD=/x/other.so", "FAKETIME=@2000",
                    "FAKETIME_TIMESTAMP_FILE=/tmp/y", NULL};
    struct faketime_config cfg = {.offset_ns = 5 * MS,
                                  .library = "/lib/fake.so.1"};
    char err[256];
    char **env = faketime_env_create(&cfg, base, err, sizeof err);
    int seen = 0;

    (void)state;
    assert_non_null(env);
    for (int i = 0; env[i]; i++) {
        assert_true(strncmp(env[i], "FAKETIME_TIMESTAMP_FILE=", 24) != 0);
        seen += strcmp(env[i], "PATH=/bin") == 0;
        seen += strcmp(env[i], "LD_PRELOAD=/lib/fake.so.1 /x/other.so") == 0;
        seen += strcmp(env[i], "FAKETIME=+0.005000000") == 0;
        seen += strcmp(env[i], "FAKETIME_DONT_FAKE_MONOTONIC=1") == 0;
    }
    assert_int_equal(seen, 4);
    faketime_env_destroy(env);
}

/* Run /bin/date +%s%N under env; returns its reading in ns. */
static int64_t date_under(char **env)
{
    char *argv[] = {"/bin/date", "+%s%N", NULL};
    char out[64] = "";
    int pfd[2], status;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execve(argv[0], argv, env);
        _exit(127);
    }
    close(pfd[1]);
    n = read(pfd[0], out, sizeof out - 1);
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(n > 10);
    return strtoll(out, NULL, 10);
}

static void test_faketime_date_is_ahead(void **state)
{
    struct faketime_config cfg = {.offset_ns = 5 * SEC};
    char lib[4096], err[512];
    char **env;
    int64_t before, seen, after;

    (void)state;
    if (faketime_locate(lib, sizeof lib, err, sizeof err) < 0) {
        print_message("SKIPPED: %s\n", err);
        skip();
    }
    assert_non_null(env = faketime_env_create(&cfg, NULL, err, sizeof err));
    before = real_now();
    seen = date_under(env);
    after = real_now();
    faketime_env_destroy(env);
    assert_true(seen >= before + 5 * SEC - SEC / 2);
    assert_true(seen <= after + 5 * SEC + SEC / 2);

    cfg.offset_ns = -5 * SEC;
    cfg.drift_ppm = 50.0;
    assert_non_null(env = faketime_env_create(&cfg, NULL, err, sizeof err));
    before = real_now();
    seen = date_under(env);
    after = real_now();
    faketime_env_destroy(env);
    assert_true(seen >= before - 5 * SEC - SEC / 2);
    assert_true(seen <= after - 5 * SEC + SEC / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_roundtrip_skew_drift),
        cmocka_unit_test(test_file_batches_are_lines),
        cmocka_unit_test(test_real_clock_skew_and_drift),
        cmocka_unit_test(test_ids_and_config_errors),
        cmocka_unit_test(test_concurrent_spans),
        cmocka_unit_test(test_queue_limit_drops),
        cmocka_unit_test(test_http_export),
        cmocka_unit_test(test_http_retry_after_503),
        cmocka_unit_test(test_http_400_not_retried),
        cmocka_unit_test(test_http_dead_endpoint_bounded),
        cmocka_unit_test(test_faketime_spec),
        cmocka_unit_test(test_faketime_env),
        cmocka_unit_test(test_faketime_date_is_ahead),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
