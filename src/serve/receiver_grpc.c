/* receiver_grpc: the OTLP/gRPC receiver's server (see receiver_grpc.h for
 * the protocol): libnghttp2 sessions driven by our own epoll loops.
 *
 * Each loop thread has an epoll set holding the shared listening socket
 * (EPOLLEXCLUSIVE: one loop wakes per connection), its connections
 * (non-blocking, level-triggered), and an eventfd through which other
 * threads wake it (answers, stop). A connection stays on the loop that
 * accepted it; everything nghttp2 does with it happens on that thread.
 * nghttp2 is used in its memory-buffer mode: bytes read are fed to
 * nghttp2_session_mem_recv, and nghttp2_session_mem_send's output is
 * written, what the socket does not take being kept until EPOLLOUT.
 *
 * A call (stream): headers checked when they are complete (method,
 * content-type, path, token, grpc-encoding, back-pressure: a refusal is
 * answered at once and the rest of the request body dropped; a client
 * that sends more than LATE_UPLOAD_BYTES after the answer is asked to stop
 * with an RST_STREAM(NO_ERROR) (libcurl 7.88 then reports error 92 instead
 * of the status; gRPC clients read the status), the body collected up to
 * one message of max_body_bytes, and at END_STREAM unframed, inflated,
 * decoded and handed to the body handler, then answered: response headers,
 * one DATA message (ExportTraceServiceResponse), trailers with
 * grpc-status; an error is a trailers-only response.
 *
 * RECEIVER_PENDING: the handler got a receiver_pending_external() handle
 * whose answer runs on_answer() on the answering thread: under the
 * call's own lock it records the verdict and moves the call from its
 * loop's waiting list to its answer queue, and wakes the loop, which sends
 * the answer if the stream still exists (a stream the client reset meanwhile
 * is gone: the answer is dropped, as a reply to a closed HTTP connection
 * would be). A struct pending is shared by the stream and the answerer
 * (refs) because either may go first, and may outlive the receiver (an
 * answer after receiver_grpc_stop returns false). Lock order: a pending's
 * mu, then its loop's pmu.
 *
 * Stop: phase DRAIN (listener out of every epoll set, GOAWAY on every
 * connection: calls begun go on), wait for the calls in progress up to the
 * grace, phase GIVE_UP (each loop marks its waiting calls given up and
 * answers them UNAVAILABLE), phase CLOSE after the answers are flushed (up
 * to 1 s): every connection closed, the loops end and are joined.
 *
 * Threads: see receiver_grpc.h. Counters are C11 atomics. */
#define _GNU_SOURCE /* accept4 */
#include "serve/receiver_grpc.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "util/clock.h"
#include "util/counter.h"
#include "util/log.h"
#include "util/net_listen.h"
#include "util/grow.h"

#define MIB ((size_t)1 << 20)
#define MAX_STREAMS 100
#define MAX_HEADER_BYTES (64 * 1024)
/* Body bytes a client may still send after its call was answered (an
 * early refusal) before it is asked to stop (on_frame_send). */
#define LATE_UPLOAD_BYTES (64 * 1024)
#define STREAM_WINDOW (1 << 20)
#define CONN_WINDOW (16 << 20)
#define TICK_MS 100
#define FLUSH_WAIT_MS 1000

enum phase { PHASE_RUN = 0, PHASE_DRAIN, PHASE_GIVE_UP, PHASE_CLOSE };

struct counters {
    atomic_uint_fast64_t calls[GRPC_NCODES];
    atomic_uint_fast64_t http_refused, reset;
    atomic_uint_fast64_t spans_received, spans_accepted, spans_rejected;
    atomic_uint_fast64_t spans_throttled, spans_invalid;
    atomic_uint_fast64_t throttled_undecoded, waiting;
    atomic_uint_fast64_t bytes_received, bytes_decoded;
    atomic_uint_fast64_t conns_open, conns_accepted, conns_refused;
    atomic_uint_fast64_t conns_timed_out;
};

struct loop;
struct conn;
struct stream;

/* A call whose handler answered RECEIVER_PENDING (see the top comment). */
struct pending {
    pthread_mutex_t mu; /* refs, answered, given_up, verdict */
    int refs;           /* the stream's, the answerer's */
    bool answered, given_up;
    enum receiver_verdict verdict;
    struct loop *lp;
    struct stream *st; /* loop thread only; NULL once the stream is gone */
    /* lp's waiting list (under lp->pmu; the give-up pass's alone once
     * lp->closing), and its answer queue */
    struct pending *wnext, *wprev, *qnext;
    bool listed;
};

struct loop {
    struct receiver_grpc *g;
    pthread_t thread;
    bool started;
    int epfd, evfd;
    struct conn *conns;
    bool drained, gave_up;
    int64_t close_at_ns;          /* GIVE_UP: close when flushed or past this */
    pthread_mutex_t pmu;          /* the two lists below, closing */
    struct pending *waiting;      /* unanswered (doubly linked) */
    struct pending *answers_head; /* answered, for the loop to send */
    struct pending *answers_tail;
    bool closing; /* GIVE_UP began: the waiting list is the loop's */
};

struct conn {
    struct loop *lp;
    int fd;
    nghttp2_session *sess;
    struct conn *prev, *next;
    struct stream *streams;
    uint8_t *out; /* bytes nghttp2 produced that the socket did not take */
    size_t out_off, out_len, out_cap;
    bool want_out; /* EPOLLOUT in the interest set */
    bool dead;     /* close at the next service */
    int64_t last_rx_ns;
};

struct stream {
    struct conn *c;
    int32_t id;
    struct stream *prev, *next;
    /* request */
    bool post, grpc_ct, path_ok, auth_ok, remote_ended;
    int encoding; /* 0 identity, 1 gzip, -1 other */
    char path[128];
    size_t header_bytes;
    uint8_t *body;
    size_t len, cap, seen;
    int64_t begun_ns;
    /* state */
    bool checked;        /* headers checked, body accepted */
    bool handled;        /* given to the handler or refused: no deadline */
    bool answered;       /* a response is submitted */
    bool answer_out;     /* ... and its last frame sent (END_STREAM) */
    bool reset_sent;     /* RST_STREAM(NO_ERROR) asked for */
    size_t after_answer; /* body bytes the client sent after answer_out */
    bool counted_inflight;
    size_t spans; /* decoded, for the counters of a later answer */
    struct pending *pending;
    /* response message: prefix + ExportTraceServiceResponse */
    uint8_t resp[GRPC_PREFIX_LEN + 700];
    size_t resp_len, resp_off;
};

struct receiver_grpc {
    struct receiver_grpc_config cfg; /* strings below are copies */
    char *listen, *token, *domain_attr;
    void *ctx;
    int lfd, port;
    struct loop *loops;
    unsigned nloops;
    _Atomic int phase;
    atomic_int inflight; /* calls begun and not yet answered */
    struct counters n;
};

/* ---- counters */

void receiver_grpc_counters_read(const struct receiver_grpc *g,
                                 struct receiver_grpc_counters *out)
{
    struct counters *n = (struct counters *)&g->n;

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < GRPC_NCODES; i++)
        out->calls[i] = atomic_load(&n->calls[i]);
    out->http_refused = atomic_load(&n->http_refused);
    out->reset = atomic_load(&n->reset);
    out->spans_received = atomic_load(&n->spans_received);
    out->spans_accepted = atomic_load(&n->spans_accepted);
    out->spans_rejected = atomic_load(&n->spans_rejected);
    out->spans_throttled = atomic_load(&n->spans_throttled);
    out->spans_invalid = atomic_load(&n->spans_invalid);
    out->calls_throttled_undecoded = atomic_load(&n->throttled_undecoded);
    out->calls_waiting = atomic_load(&n->waiting);
    out->bytes_received = atomic_load(&n->bytes_received);
    out->bytes_decoded = atomic_load(&n->bytes_decoded);
    out->connections_open = atomic_load(&n->conns_open);
    out->connections_accepted = atomic_load(&n->conns_accepted);
    out->connections_refused = atomic_load(&n->conns_refused);
    out->connections_timed_out = atomic_load(&n->conns_timed_out);
}

static void metric_head(FILE *f, const char *name, const char *type,
                        const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric(FILE *f, const char *name, const char *type,
                   const char *help, uint64_t v)
{
    metric_head(f, name, type, help);
    fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

void receiver_grpc_write_metrics(const struct receiver_grpc_counters *c,
                                 FILE *f)
{
    static const char calls[] = "skewscope_grpc_requests_total";

    metric_head(f, calls, "counter",
                "OTLP/gRPC Export calls answered, by gRPC status code; "
                "code=\"http\": refused with an HTTP error (not gRPC: "
                "content-type, method); code=\"reset\": ended without an "
                "answer (client reset, connection closed)");
    for (int i = 0; i < GRPC_NCODES; i++)
        fprintf(f, "%s{code=\"%s\"} %llu\n", calls, grpc_code_name(i),
                (unsigned long long)c->calls[i]);
    fprintf(f, "%s{code=\"http\"} %llu\n", calls,
            (unsigned long long)c->http_refused);
    fprintf(f, "%s{code=\"reset\"} %llu\n", calls,
            (unsigned long long)c->reset);
    metric(f, "skewscope_grpc_throttled_requests_total", "counter",
           "Export calls refused RESOURCE_EXHAUSTED on their headers (queue "
           "full; their spans unknown, so not in "
           "skewscope_spans_throttled_total)",
           c->calls_throttled_undecoded);
    metric(f, "skewscope_grpc_received_bytes_total", "counter",
           "Export request bytes as sent (framing included)",
           c->bytes_received);
    metric(f, "skewscope_grpc_requests_waiting", "gauge",
           "Export calls written to the write-ahead log and waiting for its "
           "fsync before they are answered",
           c->calls_waiting);
    metric(f, "skewscope_grpc_connections", "gauge",
           "OTLP/gRPC connections open now", c->connections_open);
    metric(f, "skewscope_grpc_connections_accepted_total", "counter",
           "OTLP/gRPC connections accepted", c->connections_accepted);
    metric(f, "skewscope_grpc_connections_refused_total", "counter",
           "OTLP/gRPC connections closed at accept (over --max-connections)",
           c->connections_refused);
    metric(f, "skewscope_grpc_connections_timed_out_total", "counter",
           "OTLP/gRPC connections closed after the idle timeout",
           c->connections_timed_out);
}

/* ---- pending calls */

static void pending_unref(struct pending *p)
{
    bool last;

    pthread_mutex_lock(&p->mu);
    last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last) {
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
}

static void wake(struct loop *lp)
{
    uint64_t one = 1;

    if (write(lp->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_ratelimited(LOG_WARN, 5, "receiver_grpc: eventfd: %s",
                        strerror(errno));
}

/* receiver_answer() on our handle: any thread. The answerer's reference
 * moves to the answer queue, or is dropped when the stop gave up on it. */
static bool on_answer(void *ctx, enum receiver_verdict v)
{
    struct pending *p = ctx;
    struct loop *lp = p->lp;

    pthread_mutex_lock(&p->mu);
    if (p->given_up) {
        pthread_mutex_unlock(&p->mu);
        pending_unref(p);
        return false;
    }
    p->verdict = v;
    p->answered = true;
    pthread_mutex_lock(&lp->pmu);
    if (p->listed && !lp->closing) { /* else the give-up pass has it */
        if (p->wprev)
            p->wprev->wnext = p->wnext;
        else
            lp->waiting = p->wnext;
        if (p->wnext)
            p->wnext->wprev = p->wprev;
        p->listed = false;
    }
    p->qnext = NULL;
    if (lp->answers_tail)
        lp->answers_tail->qnext = p;
    else
        lp->answers_head = p;
    lp->answers_tail = p;
    pthread_mutex_unlock(&lp->pmu);
    wake(lp);
    pthread_mutex_unlock(&p->mu);
    return true;
}

static struct pending *pending_new(struct loop *lp, struct stream *st)
{
    struct pending *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->refs = 2;
    p->lp = lp;
    p->st = st;
    return p;
}

/* The handler kept p (PENDING): list it as waiting. Loop thread. */
static void pending_list(struct loop *lp, struct pending *p)
{
    pthread_mutex_lock(&p->mu);
    pthread_mutex_lock(&lp->pmu);
    if (!p->answered) { /* an answer from inside the handler is queued */
        p->wnext = lp->waiting;
        if (lp->waiting)
            lp->waiting->wprev = p;
        lp->waiting = p;
        p->listed = true;
    }
    pthread_mutex_unlock(&lp->pmu);
    pthread_mutex_unlock(&p->mu);
}

/* The stream lets go of its pending call (answered, or closed). Closed
 * before its answer: the answerer is told (receiver_answer returns false),
 * as the HTTP receiver does for a connection closed while waiting. */
static void stream_drop_pending(struct receiver_grpc *g, struct stream *st)
{
    struct pending *p = st->pending;
    struct loop *lp;

    if (!p)
        return;
    lp = p->lp;
    pthread_mutex_lock(&p->mu);
    if (!p->answered) {
        p->given_up = true;
        pthread_mutex_lock(&lp->pmu);
        if (p->listed && !lp->closing) {
            if (p->wprev)
                p->wprev->wnext = p->wnext;
            else
                lp->waiting = p->wnext;
            if (p->wnext)
                p->wnext->wprev = p->wprev;
            p->listed = false;
        }
        pthread_mutex_unlock(&lp->pmu);
    }
    pthread_mutex_unlock(&p->mu);
    st->pending = NULL;
    p->st = NULL; /* loop thread only */
    counter_add(&g->n.waiting, -(uint64_t)1);
    pending_unref(p);
}

/* ---- responses */

#define NV(n, v)                                                               \
    {                                                                          \
        (uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), sizeof(n) - 1,   \
            strlen(v), NGHTTP2_NV_FLAG_NONE                                    \
    }

static void answered(struct receiver_grpc *g, struct stream *st)
{
    st->answered = true;
    if (st->counted_inflight) {
        st->counted_inflight = false;
        atomic_fetch_sub(&g->inflight, 1);
    }
}

/* A trailers-only response: the status in the response headers, END_STREAM.
 * retry_ms > 0 adds a google.rpc.RetryInfo (OTLP/gRPC Throttling). */
static void send_status(struct receiver_grpc *g, struct stream *st, int code,
                        const char *msg, unsigned retry_ms)
{
    char codes[8], emsg[1024], details[1400];
    size_t n = 4;

    if (st->answered)
        return;
    snprintf(codes, sizeof(codes), "%d", code);
    grpc_message_encode(msg, emsg, sizeof(emsg));
    nghttp2_nv nva[6] = {
        NV(":status", "200"),
        NV("content-type", "application/grpc"),
        NV("grpc-status", codes),
        NV("grpc-message", emsg),
    };
    if (retry_ms &&
        grpc_status_details(code, msg, retry_ms, details, sizeof(details)))
        nva[n++] = (nghttp2_nv)NV("grpc-status-details-bin", details);
    if (code == GRPC_UNIMPLEMENTED && st->encoding < 0)
        nva[n++] = (nghttp2_nv)NV("grpc-accept-encoding", "identity,gzip");
    if (nghttp2_submit_response(st->c->sess, st->id, nva, n, NULL) != 0)
        nghttp2_submit_rst_stream(st->c->sess, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_INTERNAL_ERROR);
    counter_add(&g->n.calls[code < GRPC_NCODES ? code : GRPC_UNKNOWN], 1);
    if (code != GRPC_OK)
        log_debug("receiver_grpc: %s: %s", grpc_code_name(code), msg);
    answered(g, st);
}

/* Not gRPC (content-type, method): an HTTP error status, so that a plain
 * HTTP/2 client does not read success; grpc-status for gRPC clients. */
static void send_http_error(struct receiver_grpc *g, struct stream *st,
                            const char *status, const char *msg)
{
    char emsg[512];

    grpc_message_encode(msg, emsg, sizeof(emsg));
    nghttp2_nv nva[4] = {
        NV(":status", status),
        NV("content-type", "text/plain"),
        NV("grpc-status", "3"),
        NV("grpc-message", emsg),
    };
    if (nghttp2_submit_response(st->c->sess, st->id, nva, 4, NULL) != 0)
        nghttp2_submit_rst_stream(st->c->sess, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_INTERNAL_ERROR);
    counter_add(&g->n.http_refused, 1);
    log_debug("receiver_grpc: HTTP %s: %s", status, msg);
    answered(g, st);
}

static ssize_t resp_read(nghttp2_session *s, int32_t id, uint8_t *buf,
                         size_t len, uint32_t *flags, nghttp2_data_source *src,
                         void *user)
{
    struct stream *st = src->ptr;
    size_t n = st->resp_len - st->resp_off;
    nghttp2_nv trailers[] = {NV("grpc-status", "0")};

    (void)user;
    if (n > len)
        n = len;
    memcpy(buf, st->resp + st->resp_off, n);
    st->resp_off += n;
    if (st->resp_off == st->resp_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (nghttp2_submit_trailer(s, id, trailers, 1) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
    ExportResponse;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess
    PartialSuccess;

/* OK: headers, the ExportTraceServiceResponse message (partial_success
 * when spans were rejected), trailers with grpc-status 0. */
static void send_ok(struct receiver_grpc *g, struct stream *st, size_t rejected,
                    const char *why)
{
    ExportResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    PartialSuccess ps =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    nghttp2_nv nva[] = {
        NV(":status", "200"),
        NV("content-type", "application/grpc"),
        NV("grpc-accept-encoding", "identity,gzip"),
    };
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = resp_read};
    size_t n;

    if (st->answered)
        return;
    if (rejected) {
        ps.rejected_spans = (int64_t)rejected;
        ps.error_message = (char *)(uintptr_t)(*why ? why : "spans rejected");
        resp.partial_success = &ps;
    }
    n = opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(
        &resp);
    if (n > sizeof(st->resp) - GRPC_PREFIX_LEN) { /* cannot: why <= 256 */
        send_status(g, st, GRPC_INTERNAL, "response too large", 0);
        return;
    }
    grpc_frame_prefix(st->resp, false, (uint32_t)n);
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(
        &resp, st->resp + GRPC_PREFIX_LEN);
    st->resp_len = GRPC_PREFIX_LEN + n;
    st->resp_off = 0;
    if (nghttp2_submit_response(st->c->sess, st->id, nva, 3, &dp) != 0) {
        nghttp2_submit_rst_stream(st->c->sess, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_INTERNAL_ERROR);
        return;
    }
    counter_add(&g->n.calls[GRPC_OK], 1);
    answered(g, st);
}

/* The answer for a handler's verdict on a decoded call of n spans (out:
 * partial success and retry delay; NULL for a receiver_answer()). */
static void send_verdict(struct receiver_grpc *g, struct stream *st,
                         enum receiver_verdict v, size_t n,
                         const struct receiver_outcome *out)
{
    size_t rejected = 0;
    unsigned retry_s =
        out && out->retry_after_s ? out->retry_after_s : g->cfg.retry_after_s;

    if (v != RECEIVER_ACCEPTED) {
        counter_add(&g->n.spans_throttled, n);
        if (v == RECEIVER_BUSY)
            send_status(g, st, GRPC_RESOURCE_EXHAUSTED,
                        "receiver busy, retry later", retry_s * 1000);
        else
            send_status(g, st, GRPC_UNAVAILABLE, "receiver unavailable",
                        retry_s * 1000);
        return;
    }
    if (out)
        rejected = out->rejected_spans > n ? n : out->rejected_spans;
    counter_add(&g->n.spans_accepted, n - rejected);
    counter_add(&g->n.spans_rejected, rejected);
    send_ok(g, st, rejected, out ? out->error_message : "");
}

/* ---- a call's request */

static size_t queued(const struct receiver_grpc *g)
{
    return g->cfg.queued_spans ? g->cfg.queued_spans(g->ctx) : 0;
}

/* Constant-time comparison of "Bearer T" with the token. */
static bool token_matches(const struct receiver_grpc *g, const uint8_t *v,
                          size_t n)
{
    size_t tn = strlen(g->token);
    unsigned char diff = 0;

    if (n < 7 || strncasecmp((const char *)v, "Bearer ", 7) != 0)
        return false;
    v += 7;
    n -= 7;
    while (n && *v == ' ')
        v++, n--;
    while (n && v[n - 1] == ' ')
        n--;
    if (n != tn)
        return false;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(v[i] ^ (uint8_t)g->token[i]);
    return diff == 0;
}

static bool name_is(const uint8_t *name, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(name, want, n) == 0;
}

static bool value_is(const uint8_t *v, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp((const char *)v, want, n) == 0;
}

/* One request header (nghttp2 has checked the HTTP/2 rules already). */
static void take_header(struct receiver_grpc *g, struct stream *st,
                        const uint8_t *name, size_t nl, const uint8_t *v,
                        size_t vl)
{
    if (name_is(name, nl, ":method")) {
        st->post = value_is(v, vl, "POST");
    } else if (name_is(name, nl, ":path")) {
        size_t k = vl < sizeof(st->path) - 1 ? vl : sizeof(st->path) - 1;
        memcpy(st->path, v, k);
        st->path[k] = '\0';
        st->path_ok = vl == sizeof(RECEIVER_GRPC_EXPORT_PATH) - 1 &&
                      memcmp(v, RECEIVER_GRPC_EXPORT_PATH, vl) == 0;
    } else if (name_is(name, nl, "content-type")) {
        st->grpc_ct = value_is(v, vl, "application/grpc") ||
                      value_is(v, vl, "application/grpc+proto");
    } else if (name_is(name, nl, "grpc-encoding")) {
        st->encoding = value_is(v, vl, "identity") ? 0
                       : value_is(v, vl, "gzip")   ? 1
                                                   : -1;
    } else if (name_is(name, nl, "authorization") && g->token) {
        st->auth_ok = token_matches(g, v, vl);
    }
}

/* Headers complete: refuse now, or go on to the body. */
static void check_headers(struct receiver_grpc *g, struct stream *st)
{
    char msg[256];

    if (!st->post) {
        send_http_error(g, st, "405", "method not allowed: use POST");
        return;
    }
    if (!st->grpc_ct) {
        send_http_error(g, st, "415",
                        "unsupported content-type: expected application/grpc");
        return;
    }
    if (!st->path_ok) {
        snprintf(msg, sizeof(msg),
                 "unknown method %.120s: this server implements "
                 "%s",
                 st->path, RECEIVER_GRPC_EXPORT_PATH);
        send_status(g, st, GRPC_UNIMPLEMENTED, msg, 0);
        return;
    }
    if (g->token && !st->auth_ok) {
        send_status(g, st, GRPC_UNAUTHENTICATED,
                    "missing or wrong bearer token (authorization metadata)",
                    0);
        return;
    }
    if (st->encoding < 0) {
        send_status(g, st, GRPC_UNIMPLEMENTED,
                    "unsupported grpc-encoding: expected identity or gzip", 0);
        return;
    }
    if (g->cfg.queued_spans && queued(g) >= g->cfg.max_queued_spans) {
        counter_add(&g->n.throttled_undecoded, 1);
        send_status(g, st, GRPC_RESOURCE_EXHAUSTED,
                    "receiver queue full, retry later",
                    g->cfg.retry_after_s * 1000);
        return;
    }
    st->checked = true;
}

/* Keep a piece of the body; answers (and drops the rest) when the message
 * is over the limit or a second message follows. */
static void take_data(struct receiver_grpc *g, struct stream *st,
                      const uint8_t *data, size_t n)
{
    int64_t mlen;
    char msg[160];

    st->seen += n;
    if (st->answered || !st->checked)
        return;
    if (st->len + n > st->cap) {
        size_t cap = st->cap ? st->cap : 16 * 1024;
        while (cap < st->len + n)
            cap *= 2;
        uint8_t *p = realloc(st->body, cap);
        if (!p) {
            send_status(g, st, GRPC_RESOURCE_EXHAUSTED, "out of memory", 0);
            return;
        }
        st->body = p;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    mlen = grpc_frame_peek_len(st->body, st->len);
    if (mlen > (int64_t)g->cfg.max_body_bytes) {
        snprintf(msg, sizeof(msg), "message of %lld bytes exceeds %zu",
                 (long long)mlen, g->cfg.max_body_bytes);
        send_status(g, st, GRPC_RESOURCE_EXHAUSTED, msg, 0);
    } else if (mlen >= 0 && st->len > (size_t)mlen + GRPC_PREFIX_LEN) {
        snprintf(msg, sizeof(msg),
                 "byte %lld: a second message: Export takes exactly one",
                 (long long)mlen + GRPC_PREFIX_LEN);
        send_status(g, st, GRPC_INVALID_ARGUMENT, msg, 0);
    }
    if (st->answered) {
        free(st->body);
        st->body = NULL;
        st->len = st->cap = 0;
    }
}

/* Unframe and inflate the call's message into a malloc'd *plain (the
 * buffer the handler may keep). Returns 0, or answers and returns -1. */
static int unframe(struct receiver_grpc *g, struct stream *st, uint8_t **plain,
                   size_t *plain_len)
{
    const uint8_t *msg;
    size_t mlen;
    bool compressed;
    char err[512];
    int rc = grpc_frame_unary(st->body, st->len, g->cfg.max_body_bytes, &msg,
                              &mlen, &compressed, err, sizeof(err));

    if (rc < 0) {
        send_status(g, st,
                    rc == -GRPC_FRAME_TOO_LARGE ? GRPC_RESOURCE_EXHAUSTED
                                                : GRPC_INVALID_ARGUMENT,
                    err, 0);
        return -1;
    }
    if (compressed && st->encoding != 1) {
        send_status(g, st, GRPC_INVALID_ARGUMENT,
                    "byte 0: the message is flagged compressed and the call "
                    "has no grpc-encoding",
                    0);
        return -1;
    }
    if (!compressed) { /* the body buffer becomes the message */
        memmove(st->body, msg, mlen);
        *plain = st->body;
        *plain_len = mlen;
        st->body = NULL;
        st->len = st->cap = 0;
        return 0;
    }
    rc = receiver_gunzip(msg, mlen, g->cfg.max_decompressed_bytes, plain,
                         plain_len, err, sizeof(err));
    if (rc < 0) {
        send_status(g, st,
                    rc == -RECEIVER_DECODE_MALFORMED ? GRPC_INVALID_ARGUMENT
                                                     : GRPC_RESOURCE_EXHAUSTED,
                    err, 0);
        return -1;
    }
    return 0;
}

/* Give a decoded call to the handler and answer, or wait for its answer. */
static void hand_over(struct receiver_grpc *g, struct stream *st,
                      struct span_store *store, uint8_t *plain,
                      size_t plain_len)
{
    size_t n = span_store_count(store), qn;
    struct receiver_outcome out;
    struct pending *p = NULL;
    enum receiver_verdict v;

    counter_add(&g->n.spans_received, n);
    counter_add(&g->n.spans_invalid, span_store_invalid_total(store));
    qn = queued(g);
    if (g->cfg.queued_spans && qn > 0 && qn + n > g->cfg.max_queued_spans) {
        span_store_destroy(store);
        free(plain);
        counter_add(&g->n.spans_throttled, n);
        send_status(g, st, GRPC_RESOURCE_EXHAUSTED,
                    "receiver queue full, retry later",
                    g->cfg.retry_after_s * 1000);
        return;
    }
    memset(&out, 0, sizeof(out));
    if (!(p = pending_new(st->c->lp, st)) ||
        !(out.pending = receiver_pending_external(on_answer, p))) {
        free(p);
        span_store_destroy(store);
        free(plain);
        send_status(g, st, GRPC_INTERNAL, "out of memory", 0);
        return;
    }
    struct receiver_batch b = {store, plain, plain_len,
                               (int)RECEIVER_CONTENT_PROTOBUF};
    v = g->cfg.body_handler(g->ctx, &b, &out);
    free(b.body); /* what the handler left is ours */
    span_store_destroy(b.store);
    if (v == RECEIVER_PENDING) {
        st->spans = n;
        st->pending = p;
        counter_add(&g->n.waiting, 1);
        pending_list(st->c->lp, p);
        return;
    }
    receiver_pending_discard(out.pending);
    pthread_mutex_destroy(&p->mu);
    free(p);
    out.error_message[sizeof(out.error_message) - 1] = '\0';
    send_verdict(g, st, v, n, &out);
}

/* END_STREAM: the whole request is in. */
static void finish_call(struct receiver_grpc *g, struct stream *st)
{
    static const int code_of[] = {GRPC_OK, GRPC_INVALID_ARGUMENT,
                                  GRPC_RESOURCE_EXHAUSTED, GRPC_INTERNAL};
    struct span_store *store;
    uint8_t *plain = NULL;
    size_t plain_len = 0, decoded = 0;
    char err[1024];
    int rc;

    st->handled = true;
    if (st->answered || !st->checked)
        return;
    counter_add(&g->n.bytes_received, st->seen);
    if (unframe(g, st, &plain, &plain_len) < 0)
        return;
    store = span_store_create_hint(plain_len / 64);
    if (!store) {
        free(plain);
        send_status(g, st, GRPC_INTERNAL, "out of memory", 0);
        return;
    }
    rc = receiver_decode_body(plain, plain_len, RECEIVER_CONTENT_PROTOBUF,
                              false, 0, g->domain_attr, store, &decoded, err,
                              sizeof(err));
    counter_add(&g->n.bytes_decoded, decoded);
    if (rc < 0) {
        free(plain);
        span_store_destroy(store);
        send_status(g, st, code_of[-rc], err, 0);
        return;
    }
    hand_over(g, st, store, plain, plain_len);
}

/* ---- nghttp2 callbacks (loop thread) */

static struct stream *stream_of(nghttp2_session *s, int32_t id)
{
    return nghttp2_session_get_stream_user_data(s, id);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *fr,
                            void *user)
{
    struct conn *c = user;
    struct receiver_grpc *g = c->lp->g;
    struct stream *st;

    if (fr->hd.type != NGHTTP2_HEADERS ||
        fr->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (!(st = calloc(1, sizeof(*st))))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->c = c;
    st->id = fr->hd.stream_id;
    st->begun_ns = clock_now_ns(CLOCK_MONOTONIC);
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    st->counted_inflight = true;
    atomic_fetch_add(&g->inflight, 1);
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *fr,
                     const uint8_t *name, size_t nl, const uint8_t *v,
                     size_t vl, uint8_t flags, void *user)
{
    struct conn *c = user;
    struct stream *st = stream_of(s, fr->hd.stream_id);

    (void)flags;
    if (!st || fr->hd.type != NGHTTP2_HEADERS ||
        fr->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers from the client: nothing we read */
    st->header_bytes += nl + vl + 32;
    if (st->header_bytes > MAX_HEADER_BYTES)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM */
    take_header(c->lp->g, st, name, nl, v, vl);
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *user)
{
    struct conn *c = user;
    struct stream *st = stream_of(s, id);

    (void)flags;
    if (!st)
        return 0;
    if (st->answer_out && !st->reset_sent &&
        (st->after_answer += len) > LATE_UPLOAD_BYTES) {
        /* a refused upload that goes on: ask the client to stop */
        st->reset_sent = true;
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    }
    take_data(c->lp->g, st, data, len);
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *fr,
                         void *user)
{
    struct conn *c = user;
    struct receiver_grpc *g = c->lp->g;
    struct stream *st;

    if (fr->hd.type != NGHTTP2_HEADERS && fr->hd.type != NGHTTP2_DATA)
        return 0;
    if (!(st = stream_of(s, fr->hd.stream_id)))
        return 0;
    if (fr->hd.type == NGHTTP2_HEADERS &&
        fr->headers.cat == NGHTTP2_HCAT_REQUEST)
        check_headers(g, st);
    if (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        st->remote_ended = true;
        if (!st->handled)
            finish_call(g, st);
    }
    return 0;
}

/* Once our answer is out while the client still sends (an early refusal),
 * let a short upload finish (libcurl 7.88 reports a reset that comes
 * before its upload ends as error 92 and drops the status it was answered);
 * one that goes on past LATE_UPLOAD_BYTES is asked to stop with
 * RST_STREAM(NO_ERROR), as HTTP/2 (RFC 9113 8.1) allows (on_data_chunk). */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *fr,
                         void *user)
{
    struct stream *st;

    (void)user;
    if ((fr->hd.type == NGHTTP2_HEADERS || fr->hd.type == NGHTTP2_DATA) &&
        (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        (st = stream_of(s, fr->hd.stream_id)) && !st->remote_ended)
        st->answer_out = true;
    return 0;
}

static void stream_free(struct receiver_grpc *g, struct stream *st)
{
    struct conn *c = st->c;

    if (!st->answered)
        counter_add(&g->n.reset, 1);
    answered(g, st);
    stream_drop_pending(g, st);
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    free(st->body);
    free(st);
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code,
                           void *user)
{
    struct conn *c = user;
    struct stream *st = stream_of(s, id);

    (void)code;
    if (st) {
        nghttp2_session_set_stream_user_data(s, id, NULL);
        stream_free(c->lp->g, st);
    }
    return 0;
}

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cb;

    if (nghttp2_session_callbacks_new(&cb) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
                                                            on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
                                                              on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    return cb;
}

/* ---- connections (loop thread) */

static void conn_close(struct conn *c)
{
    struct loop *lp = c->lp;

    epoll_ctl(lp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    /* deleting the session closes its streams (on_stream_close) */
    nghttp2_session_del(c->sess);
    while (c->streams) /* none left normally */
        stream_free(lp->g, c->streams);
    if (c->prev)
        c->prev->next = c->next;
    else
        lp->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    counter_add(&lp->g->n.conns_open, -(uint64_t)1);
    free(c->out);
    free(c);
}

static void set_want_out(struct conn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
                             .data.ptr = c};

    if (c->want_out == on)
        return;
    c->want_out = on;
    epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Keep bytes the socket did not take. false when out of memory. */
static bool keep_out(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 16 * 1024;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *q = realloc(c->out, cap);
        if (!q)
            return false;
        c->out = q;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

/* Write what is kept, then what nghttp2 has, until the socket is full. */
static void conn_flush(struct conn *c)
{
    while (!c->dead) {
        if (c->out_off < c->out_len) {
            ssize_t w = send(c->fd, c->out + c->out_off,
                             c->out_len - c->out_off, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (w < 0) {
                c->dead = true;
                break;
            }
            c->out_off += (size_t)w;
            continue;
        }
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->sess, &data);
        if (n < 0) {
            c->dead = true;
            break;
        }
        if (n == 0)
            break;
        ssize_t w = send(c->fd, data, (size_t)n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            c->dead = true;
            break;
        }
        if (w < 0)
            w = 0;
        if (w < n && !keep_out(c, data + w, (size_t)(n - w)))
            c->dead = true;
    }
    set_want_out(c, !c->dead && c->out_off < c->out_len);
}

/* After any event: flush, and close a connection that is done. */
static void conn_service(struct conn *c)
{
    if (!c->dead)
        conn_flush(c);
    if (c->dead ||
        (!nghttp2_session_want_read(c->sess) &&
         !nghttp2_session_want_write(c->sess) && c->out_off == c->out_len))
        conn_close(c);
}

static void conn_read(struct conn *c)
{
    uint8_t buf[16384];

    for (int i = 0; i < 8 && !c->dead; i++) { /* then let others run */
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            c->dead = true;
            break;
        }
        c->last_rx_ns = clock_now_ns(CLOCK_MONOTONIC);
        ssize_t rc = nghttp2_session_mem_recv(c->sess, buf, (size_t)n);
        if (rc < 0) {
            /* nghttp2 queued a GOAWAY for a protocol error (none for a
             * bad preface): send it, then close */
            log_debug("receiver_grpc: closing a connection: %s",
                      nghttp2_strerror((int)rc));
            if (rc != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
                conn_flush(c);
            c->dead = true;
        }
    }
}

static int conn_settings(nghttp2_session *s)
{
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_BYTES},
    };

    if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 3) != 0)
        return -1;
    return nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0,
                                                 CONN_WINDOW);
}

static void conn_open(struct loop *lp, int fd, nghttp2_session_callbacks *cb)
{
    struct receiver_grpc *g = lp->g;
    struct conn *c = calloc(1, sizeof(*c));
    struct epoll_event ev = {.events = EPOLLIN};

    if (!c || nghttp2_session_server_new(&c->sess, cb, c) != 0) {
        free(c);
        close(fd);
        return;
    }
    c->lp = lp;
    c->fd = fd;
    c->last_rx_ns = clock_now_ns(CLOCK_MONOTONIC);
    ev.data.ptr = c;
    if (conn_settings(c->sess) != 0 ||
        epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        nghttp2_session_del(c->sess);
        free(c);
        close(fd);
        return;
    }
    c->next = lp->conns;
    if (lp->conns)
        lp->conns->prev = c;
    lp->conns = c;
    counter_add(&g->n.conns_open, 1);
    counter_add(&g->n.conns_accepted, 1);
    if (atomic_load(&g->phase) >= PHASE_DRAIN) /* raced the stop */
        nghttp2_submit_goaway(c->sess, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR,
                              NULL, 0);
    conn_service(c);
}

static void accept_all(struct loop *lp, nghttp2_session_callbacks *cb)
{
    struct receiver_grpc *g = lp->g;

    for (;;) {
        int fd = accept4(g->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or another loop took it */
        if (atomic_load(&g->n.conns_open) >= g->cfg.max_connections) {
            counter_add(&g->n.conns_refused, 1);
            close(fd);
            continue;
        }
        /* An answer is three writes (HEADERS, DATA, trailers): with Nagle
         * on, the last waits for the client's delayed ACK (40 ms a call). */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_open(lp, fd, cb);
    }
}

/* ---- the loop */

/* Answers that came through receiver_answer(). */
static void send_answers(struct loop *lp)
{
    struct pending *p;

    pthread_mutex_lock(&lp->pmu);
    p = lp->answers_head;
    lp->answers_head = lp->answers_tail = NULL;
    pthread_mutex_unlock(&lp->pmu);
    while (p) {
        struct pending *next = p->qnext;
        struct stream *st = p->st;
        if (st) {
            send_verdict(lp->g, st, p->verdict, st->spans, NULL);
            stream_drop_pending(lp->g, st);
            conn_service(st->c);
        }
        pending_unref(p); /* the queue's (the answerer's) reference */
        p = next;
    }
}

/* Calls past their deadline; connections idle past the timeout. */
static void check_timers(struct loop *lp, int64_t now)
{
    const struct receiver_grpc_config *cfg = &lp->g->cfg;
    int64_t idle_ns = (int64_t)cfg->idle_timeout_s * 1000000000;

    for (struct conn *c = lp->conns, *next; c; c = next) {
        next = c->next;
        for (struct stream *st = c->streams; st; st = st->next) {
            int64_t limit =
                (int64_t)cfg->body_timeout_ms * 1000000 +
                (int64_t)(st->seen / cfg->body_min_rate) * 1000000000;
            if (!st->handled && !st->answered && now - st->begun_ns > limit)
                send_status(lp->g, st, GRPC_DEADLINE_EXCEEDED,
                            "request not complete within its deadline "
                            "(--body-timeout, --body-min-rate)",
                            0);
        }
        if (!c->streams && now - c->last_rx_ns > idle_ns) {
            counter_add(&lp->g->n.conns_timed_out, 1);
            nghttp2_session_terminate_session(c->sess, NGHTTP2_NO_ERROR);
        }
        conn_service(c);
    }
}

/* GOAWAY to every connection; no more accepts on this loop. */
static void drain(struct loop *lp)
{
    epoll_ctl(lp->epfd, EPOLL_CTL_DEL, lp->g->lfd, NULL);
    for (struct conn *c = lp->conns, *next; c; c = next) {
        next = c->next;
        nghttp2_submit_shutdown_notice(c->sess);
        nghttp2_submit_goaway(c->sess, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->sess),
                              NGHTTP2_NO_ERROR, NULL, 0);
        conn_service(c);
    }
    lp->drained = true;
}

/* The stop's grace is over: every call still waiting for its answer gets
 * UNAVAILABLE, and a later receiver_answer() returns false. */
static void give_up(struct loop *lp)
{
    struct pending *p, *next;

    pthread_mutex_lock(&lp->pmu);
    lp->closing = true;
    p = lp->waiting;
    lp->waiting = NULL;
    pthread_mutex_unlock(&lp->pmu);
    /* p stays alive while we hold its mu: unanswered, the answerer's
     * reference is there; answered, the queue holds it until
     * send_answers; and nothing but this pass gives up */
    for (; p; p = next) {
        pthread_mutex_lock(&p->mu);
        next = p->wnext;
        p->listed = false;
        if (!p->answered)
            p->given_up = true;
        pthread_mutex_unlock(&p->mu);
    }
    send_answers(lp); /* those answered meanwhile */
    for (struct conn *c = lp->conns; c; c = c->next)
        for (struct stream *st = c->streams; st; st = st->next)
            if (st->pending) {
                send_verdict(lp->g, st, RECEIVER_UNAVAILABLE, st->spans, NULL);
                stream_drop_pending(lp->g, st);
            } else if (!st->answered) {
                send_status(lp->g, st, GRPC_UNAVAILABLE,
                            "receiver stopping, retry",
                            lp->g->cfg.retry_after_s * 1000);
            }
    for (struct conn *c = lp->conns, *cn; c; c = cn) {
        cn = c->next;
        conn_service(c);
    }
    lp->gave_up = true;
    lp->close_at_ns = clock_now_ns(CLOCK_MONOTONIC) + FLUSH_WAIT_MS * 1000000LL;
}

static bool all_flushed(const struct loop *lp)
{
    for (const struct conn *c = lp->conns; c; c = c->next)
        if (c->out_off < c->out_len || nghttp2_session_want_write(c->sess))
            return false;
    return true;
}

static void handle_events(struct loop *lp, struct epoll_event *ev, int n,
                          nghttp2_session_callbacks *cb)
{
    for (int i = 0; i < n; i++) {
        if (ev[i].data.ptr == NULL) {
            accept_all(lp, cb);
        } else if (ev[i].data.ptr == lp) {
            uint64_t x;
            if (read(lp->evfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
                log_ratelimited(LOG_WARN, 5, "receiver_grpc: eventfd: %s",
                                strerror(errno));
        } else {
            struct conn *c = ev[i].data.ptr;
            if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(c);
            conn_service(c);
        }
    }
}

static void *loop_main(void *arg)
{
    struct loop *lp = arg;
    struct receiver_grpc *g = lp->g;
    nghttp2_session_callbacks *cb = make_callbacks();
    struct epoll_event ev[64];
    int64_t next_tick = 0;

    if (!cb) {
        log_error("receiver_grpc: out of memory");
        return NULL;
    }
    for (;;) {
        int n = epoll_wait(lp->epfd, ev, 64, TICK_MS);
        int phase = atomic_load(&g->phase);
        int64_t now;

        if (n > 0)
            handle_events(lp, ev, n, cb);
        send_answers(lp);
        if (phase >= PHASE_DRAIN && !lp->drained)
            drain(lp);
        if (phase >= PHASE_GIVE_UP && !lp->gave_up)
            give_up(lp);
        now = clock_now_ns(CLOCK_MONOTONIC);
        if (lp->gave_up && (all_flushed(lp) || now >= lp->close_at_ns) &&
            phase >= PHASE_CLOSE)
            break;
        if (now >= next_tick) {
            check_timers(lp, now);
            next_tick = now + TICK_MS * 1000000LL;
        }
    }
    while (lp->conns)
        conn_close(lp->conns);
    nghttp2_session_callbacks_del(cb);
    return NULL;
}

/* ---- start / stop */

static void apply_defaults(struct receiver_grpc_config *c)
{
    if (!c->listen)
        c->listen = "127.0.0.1:4317";
    if (!c->max_body_bytes)
        c->max_body_bytes = 8 * MIB;
    if (!c->max_decompressed_bytes)
        c->max_decompressed_bytes = 64 * MIB;
    if (!c->max_queued_spans)
        c->max_queued_spans = 1000000;
    if (!c->retry_after_s)
        c->retry_after_s = 1;
    if (!c->threads)
        c->threads = 1;
    if (!c->max_connections)
        c->max_connections = 4096;
    if (!c->idle_timeout_s)
        c->idle_timeout_s = 300;
    if (!c->body_timeout_ms)
        c->body_timeout_ms = 20000;
    if (!c->body_min_rate)
        c->body_min_rate = 1024;
    if (!c->shutdown_grace_ms)
        c->shutdown_grace_ms = 5000;
}

static void grpc_free(struct receiver_grpc *g)
{
    for (unsigned i = 0; g->loops && i < g->nloops; i++) {
        struct loop *lp = &g->loops[i];
        if (lp->epfd >= 0)
            close(lp->epfd);
        if (lp->evfd >= 0)
            close(lp->evfd);
        pthread_mutex_destroy(&lp->pmu);
    }
    free(g->loops);
    if (g->lfd >= 0)
        close(g->lfd);
    free(g->listen);
    free(g->token);
    free(g->domain_attr);
    free(g);
}

static int loop_init(struct receiver_grpc *g, struct loop *lp, char *err,
                     size_t errlen)
{
    struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                              .data.ptr = NULL};
    struct epoll_event eev = {.events = EPOLLIN};

    lp->g = g;
    lp->epfd = epoll_create1(EPOLL_CLOEXEC);
    lp->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&lp->pmu, NULL);
    eev.data.ptr = lp;
    if (lp->epfd < 0 || lp->evfd < 0 ||
        epoll_ctl(lp->epfd, EPOLL_CTL_ADD, g->lfd, &lev) != 0 ||
        epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->evfd, &eev) != 0) {
        snprintf(err, errlen, "listen-grpc %s: epoll: %s", g->listen,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static void stop_loops(struct receiver_grpc *g)
{
    atomic_store(&g->phase, PHASE_CLOSE);
    for (unsigned i = 0; i < g->nloops; i++)
        if (g->loops[i].started) {
            wake(&g->loops[i]);
            pthread_join(g->loops[i].thread, NULL);
            g->loops[i].started = false;
        }
}

struct receiver_grpc *
receiver_grpc_start(const struct receiver_grpc_config *cfg, void *ctx,
                    char *err, size_t errlen)
{
    struct receiver_grpc *g = calloc(1, sizeof(*g));
    bool ok = true;

    if (!g) {
        snprintf(err, errlen, "receiver_grpc: out of memory");
        return NULL;
    }
    g->lfd = -1;
    g->cfg = *cfg;
    apply_defaults(&g->cfg);
    g->ctx = ctx;
    g->listen = dup_or_null(g->cfg.listen, &ok);
    g->token = dup_or_null(cfg->bearer_token, &ok);
    g->domain_attr = dup_or_null(cfg->clock_domain_attr, &ok);
    g->loops = calloc(g->cfg.threads, sizeof(*g->loops));
    if (!ok || !g->loops || !cfg->body_handler) {
        snprintf(err, errlen, "receiver_grpc: %s",
                 cfg->body_handler ? "out of memory" : "no body handler");
        goto fail;
    }
    if ((g->lfd = net_listen_tcp("listen-grpc", g->listen, 1024, true, err,
                                 errlen)) < 0)
        goto fail;
    g->port = net_listen_port(g->lfd);
    for (unsigned i = 0; i < g->cfg.threads; i++) {
        g->loops[i].epfd = g->loops[i].evfd = -1;
        g->nloops++;
        if (loop_init(g, &g->loops[i], err, errlen) < 0)
            goto fail;
    }
    for (unsigned i = 0; i < g->nloops; i++) {
        if (pthread_create(&g->loops[i].thread, NULL, loop_main,
                           &g->loops[i]) != 0) {
            snprintf(err, errlen, "receiver_grpc: cannot start a thread");
            goto fail;
        }
        g->loops[i].started = true;
    }
    log_info("receiver_grpc: OTLP/gRPC on %s (port %d)", g->listen, g->port);
    return g;
fail:
    stop_loops(g);
    grpc_free(g);
    return NULL;
}

int receiver_grpc_port(const struct receiver_grpc *g)
{
    return g->port;
}

static void set_phase(struct receiver_grpc *g, enum phase ph)
{
    atomic_store(&g->phase, ph);
    for (unsigned i = 0; i < g->nloops; i++)
        wake(&g->loops[i]);
}

/* Wait up to limit_ms for the calls in progress. */
static void wait_inflight(struct receiver_grpc *g, unsigned limit_ms)
{
    struct timespec tick = {0, 10 * 1000 * 1000};

    for (unsigned waited = 0;
         atomic_load(&g->inflight) > 0 && waited < limit_ms; waited += 10)
        nanosleep(&tick, NULL);
}

void receiver_grpc_stop(struct receiver_grpc *g,
                        struct receiver_grpc_counters *out)
{
    int left;

    if (!g)
        return;
    set_phase(g, PHASE_DRAIN);
    wait_inflight(g, g->cfg.shutdown_grace_ms);
    if ((left = atomic_load(&g->inflight)) > 0)
        log_warn("receiver_grpc: %d calls still in progress after %u ms; "
                 "answering UNAVAILABLE",
                 left, g->cfg.shutdown_grace_ms);
    set_phase(g, PHASE_GIVE_UP);
    stop_loops(g); /* CLOSE: each loop flushes (up to 1 s) and ends */
    if (out)
        receiver_grpc_counters_read(g, out);
    grpc_free(g);
}
