/* receiver: libmicrohttpd glue of the OTLP/HTTP receiver (see receiver.h for
 * the protocol). The listening socket is bound here (so a busy port gives a
 * plain "Address already in use"), then handed to an MHD daemon with an
 * internal thread pool; each thread polls its connections, so a stalled
 * client costs one connection slot until idle_timeout_s, never a thread.
 *
 * One POST /v1/traces is a struct request: headers checked on the first
 * access-handler call (method, token, type, encoding, declared length,
 * back-pressure; failures answered at once), the body collected up to
 * max_body_bytes, and on the last call decoded (receiver_decode.c), given
 * to the handler, and answered.
 *
 * A handler that answers RECEIVER_PENDING: the HTTP thread suspends the
 * connection (MHD_suspend_connection, from the access handler as
 * libmicrohttpd requires; the connection leaves the thread's epoll set and
 * its idle timeout stops) and goes on with other connections. Whoever
 * finishes the work calls receiver_answer(), which resumes it
 * (MHD_resume_connection: any thread; libmicrohttpd wakes the connection's
 * thread through its ITC); libmicrohttpd then calls the access handler
 * again, which sends the answer. The answer, the suspension and
 * receiver_stop's giving up meet in a struct receiver_pending under its own
 * lock, so that a resume never precedes its suspend (an answer that comes
 * before the suspension is sent at once, without one) and never follows
 * MHD_stop_daemon (libmicrohttpd panics on a daemon stopped with suspended
 * connections). The handle is reference-counted (the request, the
 * answerer) because an answer may come after receiver_stop() freed the
 * receiver.
 *
 * Flow: HTTP client -> here -> receiver_decode -> batch handler
 *       [-> receiver_answer, any thread -> here -> reply].
 * Threads: see receiver.h; counters are C11 atomics. Locks: pending_mu
 * (the list of waiting requests) before a receiver_pending's mu; neither is
 * held while libmicrohttpd calls us. */
#include "serve/receiver.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ingest/otlp_proto.h"
#include "model/span_store.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "serve/receiver_conns.h"
#include "util/counter.h"
#include "util/json_esc.h"
#include "util/log.h"
#include "util/net_listen.h"
#include "util/grow.h"

#define TRACES_PATH "/v1/traces"
#define MIB ((size_t)1 << 20)

const unsigned receiver_status_codes[RECEIVER_NSTATUS] = {
    200, 204, 400, 401, 404, 405, 413, 414, 415, 429, 431, 500, 503, 505};

struct counters {
    atomic_uint_fast64_t requests[RECEIVER_NSTATUS];
    atomic_uint_fast64_t requests_other;
    atomic_uint_fast64_t spans_received, spans_accepted, spans_rejected;
    atomic_uint_fast64_t spans_throttled, spans_invalid;
    atomic_uint_fast64_t throttled_undecoded, throttled_decoded;
    atomic_uint_fast64_t waiting; /* now */
    atomic_uint_fast64_t bytes_received, bytes_decoded;
    atomic_uint_fast64_t connections_refused;
};

struct receiver {
    struct receiver_config cfg; /* strings and routes below are copies */
    char *listen, *token, *domain_attr;
    struct receiver_route *routes;
    receiver_batch_fn handler;
    void *ctx;
    struct MHD_Daemon *daemon;
    struct receiver_conns *conns; /* deadlines of the open connections */
    int port;
    atomic_int inflight; /* POST /v1/traces requests begun, not completed */
    struct counters n;
    pthread_mutex_t pending_mu;       /* waiting, giving_up */
    struct receiver_pending *waiting; /* suspended requests (a list) */
    bool giving_up; /* receiver_stop: answer 503 instead of suspending */
    bool pending_mu_init;
};

/* A request whose handler answered RECEIVER_PENDING. The HTTP thread
 * suspends its connection unless the answer is in already; receiver_answer
 * resumes it; receiver_stop, past its grace, gives up on it (503) and
 * resumes it itself. Freed when both the request and the answerer have let
 * go (refs). */
struct receiver_pending {
    pthread_mutex_t mu; /* the fields below */
    int refs;           /* the request's and the answerer's */
    bool suspended;     /* the connection is suspended: a resume is owed */
    bool answered;      /* receiver_answer came: verdict holds it */
    bool given_up;      /* receiver_stop answers 503 instead */
    enum receiver_verdict verdict;
    struct MHD_Connection *c;
    size_t spans;
    /* in the receiver's waiting list (under its pending_mu) */
    struct receiver_pending *prev, *next;
    bool listed;
    /* another transport's request (receiver_pending_external): answered
     * through ext_answer; none of the fields above is used */
    bool (*ext_answer)(void *ctx, enum receiver_verdict v);
    void *ext_ctx;
};

/* One POST /v1/traces between its first and its completed callback. */
struct request {
    struct receiver *r;
    struct receiver_conn *conn; /* its connection's deadlines, or NULL */
    enum receiver_content content;
    bool gzip, too_large;
    bool answered; /* an early reply is queued: ignore the rest */
    unsigned char *body;
    size_t len, cap;
    size_t seen; /* body bytes received, kept or not */
    /* suspended until its receiver_answer(); answered on resumption */
    struct receiver_pending *pending;
};

/* ---- counters */

static void count_status(struct receiver *r, unsigned code)
{
    for (size_t i = 0; i < RECEIVER_NSTATUS; i++)
        if (receiver_status_codes[i] == code) {
            counter_add(&r->n.requests[i], 1);
            return;
        }
    counter_add(&r->n.requests_other, 1);
}

void receiver_counters_read(const struct receiver *r,
                            struct receiver_counters *out)
{
    struct counters *n = (struct counters *)&r->n;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < RECEIVER_NSTATUS; i++)
        out->requests[i] = atomic_load(&n->requests[i]);
    out->requests_other = atomic_load(&n->requests_other);
    out->spans_received = atomic_load(&n->spans_received);
    out->spans_accepted = atomic_load(&n->spans_accepted);
    out->spans_rejected = atomic_load(&n->spans_rejected);
    out->spans_throttled = atomic_load(&n->spans_throttled);
    out->spans_invalid = atomic_load(&n->spans_invalid);
    out->requests_waiting = atomic_load(&n->waiting);
    out->requests_throttled_undecoded = atomic_load(&n->throttled_undecoded);
    out->requests_throttled_decoded = atomic_load(&n->throttled_decoded);
    out->bytes_received = atomic_load(&n->bytes_received);
    out->bytes_decoded = atomic_load(&n->bytes_decoded);
    out->connections_refused = atomic_load(&n->connections_refused);
    if (r->conns) {
        struct receiver_conns_counters cc;
        receiver_conns_counters_read(r->conns, &cc);
        out->connections_open = cc.open;
        out->connections_accepted = cc.opened;
        out->connections_timed_out_header = cc.timed_out_header;
        out->connections_timed_out_body = cc.timed_out_body;
    }
}

/* ---- replies */

struct reply {
    unsigned code;
    const char *content_type;
    const void *body;
    size_t len;
    unsigned retry_after_s; /* 0 = no Retry-After */
    const char *allow;      /* Allow header for 405, or NULL */
};

static enum MHD_Result send_reply(struct MHD_Connection *c, struct receiver *r,
                                  const struct reply *rp)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        rp->len, (void *)(uintptr_t)rp->body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ok;
    char num[16];

    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            rp->content_type);
    if (rp->retry_after_s) {
        snprintf(num, sizeof(num), "%u", rp->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    if (rp->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rp->allow);
    if (rp->code == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer");
    ok = MHD_queue_response(c, rp->code, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES)
        count_status(r, rp->code);
    return ok;
}

/* gRPC code that goes with an HTTP status in a google.rpc.Status. */
static int grpc_code(unsigned http)
{
    switch (http) {
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 404:
        return 5; /* NOT_FOUND */
    case 405:
        return 12; /* UNIMPLEMENTED */
    case 413:
    case 429:
        return 8; /* RESOURCE_EXHAUSTED */
    case 500:
        return 13; /* INTERNAL */
    case 503:
        return 14; /* UNAVAILABLE */
    default:
        return 3; /* INVALID_ARGUMENT */
    }
}

/* An error reply: google.rpc.Status {code = 1, message = 2} in the request's
 * encoding, or the message as text when the encoding is unknown. */
static enum MHD_Result send_error(struct MHD_Connection *c, struct receiver *r,
                                  struct reply *rp,
                                  enum receiver_content content,
                                  const char *msg)
{
    size_t mlen = strlen(msg) > 1024 ? 1024 : strlen(msg);
    char buf[1024 * 6 + 64], esc[1024 * 6 + 16];
    size_t k = 0;

    if (content == RECEIVER_CONTENT_PROTOBUF) {
        buf[k++] = 0x08;
        k += otlp_proto_put_varint((uint8_t *)buf + k,
                                   (uint64_t)grpc_code(rp->code));
        buf[k++] = 0x12;
        k += otlp_proto_put_varint((uint8_t *)buf + k, mlen);
        memcpy(buf + k, msg, mlen);
        k += mlen;
        rp->content_type = "application/x-protobuf";
    } else if (content == RECEIVER_CONTENT_JSON) {
        json_esc_copy(esc, sizeof(esc), msg, true);
        k = (size_t)snprintf(buf, sizeof(buf),
                             "{\"code\":%d,\"message\":\"%s\"}",
                             grpc_code(rp->code), esc);
        rp->content_type = "application/json";
    } else {
        k = (size_t)snprintf(buf, sizeof(buf), "%.*s\n", (int)mlen, msg);
        rp->content_type = "text/plain; charset=utf-8";
    }
    rp->body = buf;
    rp->len = k;
    if (rp->code != 200)
        log_debug("receiver: %u: %s", rp->code, msg);
    return send_reply(c, r, rp);
}

static enum MHD_Result fail(struct MHD_Connection *c, struct receiver *r,
                            unsigned code, enum receiver_content content,
                            const char *msg)
{
    struct reply rp = {.code = code};

    if (code == 429 || code == 503)
        rp.retry_after_s = r->cfg.retry_after_s;
    if (code == 405)
        rp.allow = "POST";
    return send_error(c, r, &rp, content, msg);
}

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
    ExportResponse;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess
    PartialSuccess;

/* 200 with an ExportTraceServiceResponse; partial_success only when spans
 * were rejected. */
static enum MHD_Result send_export_ok(struct MHD_Connection *c,
                                      struct receiver *r,
                                      enum receiver_content content,
                                      size_t rejected, const char *why)
{
    ExportResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    PartialSuccess ps =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    struct reply rp = {.code = 200};
    char buf[sizeof(((struct receiver_outcome *)0)->error_message) * 6 + 128];
    char esc[sizeof(buf)];
    uint8_t pb[1200];

    if (rejected) {
        ps.rejected_spans = (int64_t)rejected;
        ps.error_message = (char *)(uintptr_t)(*why ? why : "spans rejected");
        resp.partial_success = &ps;
    }
    if (content == RECEIVER_CONTENT_JSON) {
        rp.content_type = "application/json";
        if (rejected) {
            json_esc_copy(esc, sizeof(esc), ps.error_message, true);
            rp.len = (size_t)snprintf(
                buf, sizeof(buf),
                "{\"partialSuccess\":{\"rejectedSpans\":\"%zu\","
                "\"errorMessage\":\"%s\"}}",
                rejected, esc);
        } else {
            rp.len = (size_t)snprintf(buf, sizeof(buf), "{}");
        }
        rp.body = buf;
    } else {
        rp.content_type = "application/x-protobuf";
        rp.len =
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(
                &resp, pb);
        rp.body = pb;
    }
    return send_reply(c, r, &rp);
}

/* ---- GET routes */

struct receiver_args {
    struct MHD_Connection *c;
};

const char *receiver_arg(const struct receiver_args *args, const char *name)
{
    return MHD_lookup_connection_value(args->c, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result serve_route(struct MHD_Connection *c, struct receiver *r,
                                   const struct receiver_route *rt)
{
    struct reply rp = {.code = 200};
    char *body = NULL;
    size_t len = 0;
    const char *ct = "text/plain; charset=utf-8";
    struct receiver_args args = {c};
    int code = rt->args_fn ? rt->args_fn(rt->ctx, &args, &body, &len, &ct)
                           : rt->fn(rt->ctx, &body, &len, &ct);
    enum MHD_Result ok;

    if (code < 100 || code > 599) {
        free(body);
        return fail(c, r, 500, RECEIVER_CONTENT_UNKNOWN,
                    "route handler failed");
    }
    rp.code = (unsigned)code;
    rp.content_type = ct;
    rp.body = body ? body : "";
    rp.len = body ? len : 0;
    ok = send_reply(c, r, &rp);
    free(body);
    return ok;
}

static const struct receiver_route *find_route(const struct receiver *r,
                                               const char *url)
{
    for (size_t i = 0; i < r->cfg.nroutes; i++)
        if (strcmp(r->routes[i].path, url) == 0)
            return &r->routes[i];
    return NULL;
}

/* ---- POST /v1/traces */

/* Constant-time comparison, so the token cannot be guessed byte by byte
 * from response times. */
static bool token_ok(const struct receiver *r, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    size_t n = strlen(r->token), hn;
    unsigned char diff = 0;

    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    hn = strlen(h);
    while (hn > 0 && h[hn - 1] == ' ')
        hn--;
    if (hn != n)
        return false;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(h[i] ^ r->token[i]);
    return diff == 0;
}

/* Content-Encoding: 1 = gzip, 0 = none, -1 = unsupported. */
static int encoding_of(struct MHD_Connection *c)
{
    const char *e = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);

    if (!e || !*e || strcasecmp(e, "identity") == 0)
        return 0;
    if (strcasecmp(e, "gzip") == 0 || strcasecmp(e, "x-gzip") == 0)
        return 1;
    return -1;
}

static enum receiver_content content_of(struct MHD_Connection *c)
{
    return receiver_content_parse(MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
}

static size_t queued(const struct receiver *r)
{
    return r->cfg.queued_spans ? r->cfg.queued_spans(r->ctx) : 0;
}

/* Header checks of a POST /v1/traces. Returns 0 to go on reading the body,
 * or the status of the error reply it queued (msg filled). */
static unsigned check_headers(struct receiver *r, struct MHD_Connection *c,
                              struct request *q, char *msg, size_t msglen)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *cl = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int enc = encoding_of(c);

    q->content = receiver_content_parse(ct);
    if (q->content == RECEIVER_CONTENT_UNKNOWN) {
        snprintf(msg, msglen,
                 "unsupported Content-Type \"%.100s\": expected "
                 "application/x-protobuf or application/json",
                 ct ? ct : "");
        return 415;
    }
    if (enc < 0) {
        snprintf(msg, msglen,
                 "unsupported Content-Encoding: expected gzip or none");
        return 415;
    }
    q->gzip = enc == 1;
    if (cl && strtoull(cl, NULL, 10) > r->cfg.max_body_bytes) {
        snprintf(msg, msglen, "request body of %.20s bytes exceeds %zu", cl,
                 r->cfg.max_body_bytes);
        return 413;
    }
    if (r->cfg.queued_spans && queued(r) >= r->cfg.max_queued_spans) {
        snprintf(msg, msglen, "receiver queue full, retry later");
        return 429;
    }
    return 0;
}

/* Keep (or, once over the limit, count and drop) one piece of the body.
 * Returns false when the client keeps sending far past the limit. */
static bool take_body(struct request *q, const char *data, size_t n)
{
    size_t max = q->r->cfg.max_body_bytes;

    q->seen += n;
    if (!q->too_large && q->len + n > max) {
        q->too_large = true;
        free(q->body);
        q->body = NULL;
        q->len = q->cap = 0;
    }
    if (q->too_large)
        return q->seen <= 2 * max + MIB;
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 16 * 1024;
        while (cap < q->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        unsigned char *p = realloc(q->body, cap);
        if (!p)
            return false;
        q->body = p;
        q->cap = cap;
    }
    memcpy(q->body + q->len, data, n);
    q->len += n;
    return true;
}

/* Answer a decoded request of n spans with the handler's verdict (out:
 * its partial success and Retry-After; NULL for an answer that came
 * through receiver_answer). */
static enum MHD_Result send_verdict(struct MHD_Connection *c,
                                    struct receiver *r, struct request *q,
                                    enum receiver_verdict v, size_t n,
                                    struct receiver_outcome *out)
{
    size_t rejected = 0;

    if (v != RECEIVER_ACCEPTED) {
        struct reply rp = {.code = v == RECEIVER_BUSY ? 429 : 503};
        counter_add(&r->n.spans_throttled, n);
        counter_add(&r->n.throttled_decoded, 1);
        rp.retry_after_s = out && out->retry_after_s ? out->retry_after_s
                                                     : r->cfg.retry_after_s;
        return send_error(c, r, &rp, q->content,
                          v == RECEIVER_BUSY ? "receiver busy, retry later"
                                             : "receiver unavailable");
    }
    if (out) {
        out->error_message[sizeof(out->error_message) - 1] = '\0';
        rejected = out->rejected_spans > n ? n : out->rejected_spans;
    }
    counter_add(&r->n.spans_accepted, n - rejected);
    counter_add(&r->n.spans_rejected, rejected);
    return send_export_ok(c, r, q->content, rejected,
                          out ? out->error_message : "");
}

/* ---- asynchronous answers (RECEIVER_PENDING) */

static struct receiver_pending *pending_new(struct MHD_Connection *c,
                                            size_t spans)
{
    struct receiver_pending *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->refs = 2;
    p->c = c;
    p->spans = spans;
    return p;
}

/* Let go of one reference; p->mu held, released here. */
static void pending_release(struct receiver_pending *p)
{
    bool last = --p->refs == 0;

    pthread_mutex_unlock(&p->mu);
    if (last) {
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
}

struct receiver_pending *
receiver_pending_external(bool (*answer)(void *ctx, enum receiver_verdict v),
                          void *ctx)
{
    struct receiver_pending *p = calloc(1, sizeof(*p));

    if (p) {
        p->ext_answer = answer;
        p->ext_ctx = ctx;
    }
    return p;
}

void receiver_pending_discard(struct receiver_pending *p)
{
    free(p);
}

bool receiver_answer(struct receiver_pending *p, enum receiver_verdict v)
{
    bool heard;

    if (p->ext_answer) {
        heard = p->ext_answer(p->ext_ctx, v);
        free(p);
        return heard;
    }
    pthread_mutex_lock(&p->mu);
    p->verdict = v;
    p->answered = true;
    heard = !p->given_up;
    /* given up: receiver_stop resumed it already (or never let it wait),
     * and the daemon may be gone */
    if (p->suspended && heard) {
        p->suspended = false;
        MHD_resume_connection(p->c);
    }
    pending_release(p);
    return heard;
}

/* The handler returned RECEIVER_PENDING: suspend the connection until the
 * answer comes, or answer now when it came already (or the receiver is
 * stopping: 503). Takes the request's reference to p. */
static enum MHD_Result wait_for_answer(struct MHD_Connection *c,
                                       struct receiver *r, struct request *q,
                                       struct receiver_pending *p)
{
    enum receiver_verdict v;
    size_t n = p->spans;

    pthread_mutex_lock(&r->pending_mu);
    pthread_mutex_lock(&p->mu);
    if (!p->answered && !r->giving_up) {
        MHD_suspend_connection(c);
        p->suspended = true;
        p->listed = true;
        p->next = r->waiting;
        if (r->waiting)
            r->waiting->prev = p;
        r->waiting = p;
        q->pending = p;
        counter_add(&r->n.waiting, 1);
        pthread_mutex_unlock(&p->mu);
        pthread_mutex_unlock(&r->pending_mu);
        return MHD_YES;
    }
    if (!p->answered)
        p->given_up = true;
    v = p->answered ? p->verdict : RECEIVER_UNAVAILABLE;
    pending_release(p);
    pthread_mutex_unlock(&r->pending_mu);
    return send_verdict(c, r, q, v, n, NULL);
}

/* Take a waiting request's handle back (resumed, or closed): out of the
 * list, the request's reference dropped. Returns what the client is to
 * get: the answer, or 503 when receiver_stop gave up on it. */
static enum receiver_verdict pending_take(struct receiver *r, struct request *q)
{
    struct receiver_pending *p = q->pending;
    enum receiver_verdict v;

    q->pending = NULL;
    pthread_mutex_lock(&r->pending_mu);
    if (p->listed) {
        if (p->prev)
            p->prev->next = p->next;
        else
            r->waiting = p->next;
        if (p->next)
            p->next->prev = p->prev;
        p->listed = false;
    }
    pthread_mutex_unlock(&r->pending_mu);
    counter_add(&r->n.waiting, -(uint64_t)1);
    pthread_mutex_lock(&p->mu);
    if (!p->answered)
        p->given_up = true; /* resumed without an answer: only by stop */
    v = p->given_up ? RECEIVER_UNAVAILABLE : p->verdict;
    pending_release(p);
    return v;
}

/* The access handler called again for a suspended request: it was
 * resumed, by its answer or by receiver_stop. */
static enum MHD_Result answer_waiting(struct MHD_Connection *c,
                                      struct receiver *r, struct request *q)
{
    size_t n = q->pending->spans;

    return send_verdict(c, r, q, pending_take(r, q), n, NULL);
}

/* receiver_stop past its grace: no request waits any longer. Each one
 * still waiting is answered 503 (given up, resumed here: libmicrohttpd's
 * threads send the reply), and a handler that returns PENDING from now on
 * gets 503 at once. Returns how many were waiting. */
static unsigned give_up_waiting(struct receiver *r)
{
    unsigned n = 0;

    pthread_mutex_lock(&r->pending_mu);
    r->giving_up = true;
    for (struct receiver_pending *p = r->waiting; p; p = p->next) {
        pthread_mutex_lock(&p->mu);
        if (!p->answered) {
            p->given_up = true;
            n++;
        }
        if (p->suspended) {
            p->suspended = false;
            MHD_resume_connection(p->c);
        }
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&r->pending_mu);
    return n;
}

/* Give a decoded batch to the handler and answer (or wait for the answer:
 * RECEIVER_PENDING). Takes store. */
static enum MHD_Result hand_over(struct MHD_Connection *c, struct receiver *r,
                                 struct request *q, struct span_store *store,
                                 unsigned char *plain, size_t plain_len)
{
    size_t n = span_store_count(store), qn;
    struct receiver_outcome out;
    enum receiver_verdict v;
    struct receiver_pending *p;

    counter_add(&r->n.spans_received, n);
    counter_add(&r->n.spans_invalid, span_store_invalid_total(store));
    qn = r->cfg.queued_spans ? queued(r) : 0;
    if (qn > 0 && qn + n > r->cfg.max_queued_spans) {
        span_store_destroy(store);
        free(plain);
        counter_add(&r->n.spans_throttled, n);
        counter_add(&r->n.throttled_decoded, 1);
        return fail(c, r, 429, q->content, "receiver queue full, retry later");
    }
    if (!(p = pending_new(c, n))) {
        span_store_destroy(store);
        free(plain);
        return fail(c, r, 500, q->content, "out of memory");
    }
    memset(&out, 0, sizeof(out));
    out.pending = p;
    if (r->cfg.body_handler) {
        struct receiver_batch b = {store, plain, plain_len, (int)q->content};
        v = r->cfg.body_handler(r->ctx, &b, &out);
        /* what the handler left is ours, whatever the verdict */
        free(b.body);
        store = b.store;
    } else {
        v = r->handler(r->ctx, store, &out);
        free(plain);
        if (v == RECEIVER_ACCEPTED || v == RECEIVER_PENDING)
            store = NULL; /* the handler's */
    }
    span_store_destroy(store);
    if (v == RECEIVER_PENDING)
        return wait_for_answer(c, r, q, p);
    pthread_mutex_destroy(&p->mu); /* never seen by an answerer */
    free(p);
    return send_verdict(c, r, q, v, n, &out);
}

/* Spans a decoded body of len bytes may hold, to size the first block of
 * its span store (span_store_create_hint): an OTLP span takes 100 bytes or
 * more (protobuf; JSON several times that), so len / 64 seldom falls short
 * (and then the store just adds a block), and a 100-span request reserves
 * 16 KiB instead of the 4 MiB of a store for files. */
static size_t spans_hint(size_t len)
{
    return len / 64;
}

static enum MHD_Result finish_traces(struct MHD_Connection *c,
                                     struct receiver *r, struct request *q)
{
    static const unsigned status_of[] = {200, 400, 413, 500};
    struct span_store *store;
    size_t decoded = 0;
    char err[1024];
    int rc;

    counter_add(&r->n.bytes_received, q->seen);
    if (q->too_large) {
        snprintf(err, sizeof(err), "request body exceeds %zu bytes",
                 r->cfg.max_body_bytes);
        return fail(c, r, 413, q->content, err);
    }
    if (r->cfg.body_handler) {
        /* keep the decoded body for the handler: inflate here */
        unsigned char *plain = q->body;
        size_t plain_len = q->len;
        q->body = NULL;
        rc = 0;
        if (q->gzip) {
            rc =
                receiver_gunzip(plain, plain_len, r->cfg.max_decompressed_bytes,
                                &q->body, &decoded, err, sizeof(err));
            free(plain);
            plain = q->body;
            plain_len = decoded;
            q->body = NULL;
        }
        store = rc == 0 ? span_store_create_hint(spans_hint(plain_len)) : NULL;
        if (rc == 0 && !store) {
            free(plain);
            return fail(c, r, 500, q->content, "out of memory");
        }
        if (rc == 0)
            rc = receiver_decode_body(plain, plain_len, q->content, false, 0,
                                      r->domain_attr, store, &decoded, err,
                                      sizeof(err));
        counter_add(&r->n.bytes_decoded, decoded);
        if (rc < 0) {
            free(plain);
            span_store_destroy(store);
            return fail(c, r, status_of[-rc], q->content, err);
        }
        return hand_over(c, r, q, store, plain, plain_len);
    }
    /* a gzip body is inflated by the decoder: guess its size */
    store = span_store_create_hint(spans_hint(q->gzip ? 4 * q->len : q->len));
    if (!store)
        return fail(c, r, 500, q->content, "out of memory");
    rc = receiver_decode_body(q->body, q->len, q->content, q->gzip,
                              r->cfg.max_decompressed_bytes, r->domain_attr,
                              store, &decoded, err, sizeof(err));
    counter_add(&r->n.bytes_decoded, decoded);
    free(q->body);
    q->body = NULL;
    if (rc < 0) {
        span_store_destroy(store);
        return fail(c, r, status_of[-rc], q->content, err);
    }
    return hand_over(c, r, q, store, NULL, 0);
}

/* The deadline record of connection c (NULL when it has none). */
static struct receiver_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* First call of a POST /v1/traces: set up its state, or answer at once. */
static enum MHD_Result begin_traces(struct MHD_Connection *c,
                                    struct receiver *r, const char *method,
                                    void **con_cls)
{
    struct request *q;
    char msg[256];
    unsigned code;

    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return fail(c, r, 405, content_of(c), "method not allowed: use POST");
    q = calloc(1, sizeof(*q));
    if (!q)
        return MHD_NO;
    q->r = r;
    q->conn = conn_of(c);
    *con_cls = q;
    atomic_fetch_add(&r->inflight, 1);
    /* the body deadline holds also for a body read only to be dropped
     * after an early reply */
    receiver_conns_body_begin(r->conns, q->conn);
    code = check_headers(r, c, q, msg, sizeof(msg));
    if (!code)
        return MHD_YES;
    if (code == 429) /* never read: its spans are unknown */
        counter_add(&r->n.throttled_undecoded, 1);
    q->answered = true;
    return fail(c, r, code, q->content, msg);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct receiver *r = cls;
    struct request *q = *con_cls;
    const struct receiver_route *rt;

    (void)version;
    if (q && q->pending) /* resumed: its answer is in, or the stop's */
        return answer_waiting(c, r, q);
    if (q) {
        if (q->answered) {
            q->seen += *upload_size;
            if (*upload_size == 0)
                receiver_conns_handling(r->conns, q->conn);
            else if (!receiver_conns_body_progress(r->conns, q->conn, q->seen))
                return MHD_NO;
            *upload_size = 0;
            return MHD_YES;
        }
        if (*upload_size == 0) {
            receiver_conns_handling(r->conns, q->conn);
            return finish_traces(c, r, q);
        }
        if (!take_body(q, upload, *upload_size) ||
            !receiver_conns_body_progress(r->conns, q->conn, q->seen))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    /* headers complete: no deadline while answering (the POST body's
     * deadline is set by begin_traces) */
    receiver_conns_handling(r->conns, conn_of(c));
    rt = find_route(r, url);
    if (strcmp(url, TRACES_PATH) != 0 && !rt)
        return fail(c, r, 404, RECEIVER_CONTENT_UNKNOWN, "not found");
    if (r->token && !(rt && rt->public) && !token_ok(r, c))
        return fail(c, r, 401, rt ? RECEIVER_CONTENT_UNKNOWN : content_of(c),
                    "missing or wrong bearer token");
    if (!rt)
        return begin_traces(c, r, method, con_cls);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct reply rp = {.code = 405, .allow = "GET, HEAD"};
        return send_error(c, r, &rp, RECEIVER_CONTENT_UNKNOWN,
                          "method not allowed: use GET");
    }
    return serve_route(c, r, rt);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct receiver *r = cls;
    struct request *q = *con_cls;

    if (why == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        receiver_conns_request_done(r->conns, conn_of(c));
    if (!q)
        return;
    if (q->pending) /* resumed, then closed before it could answer */
        pending_take(r, q);
    free(q->body);
    free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&r->inflight, 1);
}

/* libmicrohttpd's messages. Two of them are events that it handles
 * without calling us, and which /metrics must count all the same: an
 * error reply it sent itself (a bad request line or header, a URI or
 * headers too large) and a connection refused at a connection limit. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    static const char err_reply[] =
        "Error processing request (HTTP response code is ";
    struct receiver *r = cls;
    char buf[256];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (strncmp(buf, err_reply, sizeof(err_reply) - 1) == 0)
        count_status(r, (unsigned)atoi(buf + sizeof(err_reply) - 1));
    else if (strncmp(buf, "Server reached connection limit", 31) == 0)
        counter_add(&r->n.connections_refused, 1);
    log_debug("receiver: microhttpd: %s", buf);
}

/* Connection accepted / about to be closed (its socket still open). */
static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode what)
{
    struct receiver *r = cls;
    const union MHD_ConnectionInfo *ci;

    if (what == MHD_CONNECTION_NOTIFY_STARTED) {
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context =
            ci ? receiver_conns_open(r->conns, ci->connect_fd) : NULL;
    } else if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
        receiver_conns_close(r->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* URL decoding as libmicrohttpd's, except that a path holding "%00" is
 * left as sent: decoded, the NUL would end the C string early and
 * "/metrics%00.txt" would match the route "/metrics". Left encoded, it
 * matches no route (404). */
static size_t unescape_url(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    for (const char *p = strchr(s, '%'); p; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0')
            return strlen(s);
    return MHD_http_unescape(s);
}

/* ---- start / stop */

static void apply_defaults(struct receiver_config *c)
{
    if (!c->listen)
        c->listen = "127.0.0.1:4318";
    if (!c->max_body_bytes)
        c->max_body_bytes = 8 * MIB;
    if (!c->max_decompressed_bytes)
        c->max_decompressed_bytes = 64 * MIB;
    if (!c->max_queued_spans)
        c->max_queued_spans = 1000000;
    if (!c->retry_after_s)
        c->retry_after_s = 1;
    if (!c->threads)
        c->threads = 2;
    if (!c->max_connections)
        c->max_connections = 4096;
    if (!c->max_connections_per_ip)
        c->max_connections_per_ip = 256;
    if (!c->idle_timeout_s)
        c->idle_timeout_s = 10;
    if (!c->header_timeout_ms)
        c->header_timeout_ms = 10000;
    if (!c->body_timeout_ms)
        c->body_timeout_ms = 20000;
    if (!c->body_min_rate)
        c->body_min_rate = 1024;
    if (!c->shutdown_grace_ms)
        c->shutdown_grace_ms = 5000;
}

/* Copy the config's strings and routes into r. */
static bool copy_config(struct receiver *r, const struct receiver_config *cfg)
{
    bool ok = true;

    r->cfg = *cfg;
    apply_defaults(&r->cfg);
    r->listen = dup_or_null(r->cfg.listen, &ok);
    r->token = dup_or_null(cfg->bearer_token, &ok);
    r->domain_attr = dup_or_null(cfg->clock_domain_attr, &ok);
    if (cfg->nroutes) {
        r->routes = calloc(cfg->nroutes, sizeof(*r->routes));
        if (!r->routes)
            return false;
        memcpy(r->routes, cfg->routes, cfg->nroutes * sizeof(*r->routes));
        for (size_t i = 0; i < cfg->nroutes; i++)
            r->routes[i].path = dup_or_null(cfg->routes[i].path, &ok);
    }
    return ok;
}

static void receiver_free(struct receiver *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->routes && i < r->cfg.nroutes; i++)
        free((char *)(uintptr_t)r->routes[i].path);
    free(r->routes);
    free(r->listen);
    free(r->token);
    free(r->domain_attr);
    if (r->pending_mu_init)
        pthread_mutex_destroy(&r->pending_mu);
    free(r);
}

/* Descriptors the process keeps besides the HTTP connections (listener,
 * spool, Kafka, libcurl, logs). */
#define FD_RESERVE 256

/* Raise RLIMIT_NOFILE's soft limit to fit max_connections; when the hard
 * limit does not allow it, lower max_connections (and say so). */
static void fit_fd_limit(struct receiver_config *c)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)c->max_connections + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
                      ? need
                      : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl))
        return;
    if (rl.rlim_cur >= need)
        return;
    unsigned fit = rl.rlim_cur > 2 * FD_RESERVE
                       ? (unsigned)(rl.rlim_cur - FD_RESERVE)
                       : (unsigned)(rl.rlim_cur / 2);
    log_warn("receiver: open-file limit %llu allows %u connections, not "
             "the %u asked for (raise the hard limit: ulimit -Hn)",
             (unsigned long long)rl.rlim_cur, fit, c->max_connections);
    c->max_connections = fit;
}

/* libmicrohttpd with epoll (MHD_USE_AUTO picks it on Linux) and a pool of
 * `threads` polling threads, each with its share of the connections: an
 * idle or trickling connection costs a slot and a wake-up per byte, never
 * a thread, so it cannot hold up the others (thread-per-connection would
 * need 2,000 threads for 2,000 slow clients). */
static struct MHD_Daemon *start_daemon(struct receiver *r, int fd)
{
    const struct receiver_config *c = &r->cfg;
    unsigned limit =
        c->max_connections < c->threads ? c->threads : c->max_connections;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)limit, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
         (intptr_t)c->max_connections_per_ip, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)c->idle_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
        /* Last, so that one thread means no pool at all. */
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)c->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };

    if (c->threads <= 1)
        opts[5].option = MHD_OPTION_END;
    /* MHD_ALLOW_SUSPEND_RESUME (it implies MHD_USE_ITC, which wakes a
     * pool thread for a connection resumed from another thread) for
     * RECEIVER_PENDING */
    return MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
            MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, r, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, r,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, r,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL, MHD_OPTION_ARRAY,
        opts, MHD_OPTION_END);
}

static struct receiver_conns *start_conns(const struct receiver_config *c,
                                          char *err, size_t errlen)
{
    struct receiver_conns_config cc = {
        .header_timeout_ns = (int64_t)c->header_timeout_ms * 1000000,
        .body_timeout_ns = (int64_t)c->body_timeout_ms * 1000000,
        .idle_timeout_ns = (int64_t)c->idle_timeout_s * 1000000000,
        .body_min_rate = c->body_min_rate,
    };

    return receiver_conns_create(&cc, err, errlen);
}

struct receiver *receiver_start(const struct receiver_config *cfg,
                                receiver_batch_fn handler, void *ctx, char *err,
                                size_t errlen)
{
    struct receiver_config dflt = {0};
    struct receiver *r = calloc(1, sizeof(*r));
    int fd = -1;

    if (!r || !copy_config(r, cfg ? cfg : &dflt)) {
        snprintf(err, errlen, "receiver: out of memory");
        goto fail;
    }
    r->handler = handler;
    r->ctx = ctx;
    pthread_mutex_init(&r->pending_mu, NULL);
    r->pending_mu_init = true;
    fit_fd_limit(&r->cfg);
    if (!(r->conns = start_conns(&r->cfg, err, errlen)))
        goto fail;
    fd = net_listen_tcp("listen", r->listen, 1024, false, err, errlen);
    if (fd < 0)
        goto fail;
    r->port = net_listen_port(fd);
    r->daemon = start_daemon(r, fd);
    if (!r->daemon) {
        snprintf(err, errlen, "listen %s: cannot start the HTTP server",
                 r->listen);
        goto fail;
    }
    log_info("receiver: OTLP/HTTP on %s (port %d)", r->listen, r->port);
    return r;
fail:
    if (fd >= 0)
        close(fd);
    if (r)
        receiver_conns_destroy(r->conns);
    receiver_free(r);
    return NULL;
}

int receiver_port(const struct receiver *r)
{
    return r->port;
}

void receiver_stop(struct receiver *r)
{
    receiver_stop_counters(r, NULL);
}

/* Wait up to limit_ms for the requests in flight; returns the ms waited. */
static unsigned wait_inflight(struct receiver *r, unsigned limit_ms)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    unsigned waited_ms = 0;

    while (atomic_load(&r->inflight) > 0 && waited_ms < limit_ms) {
        nanosleep(&tick, NULL);
        waited_ms += 10;
    }
    return waited_ms;
}

void receiver_stop_counters(struct receiver *r, struct receiver_counters *out)
{
    unsigned waiting;
    MHD_socket fd;

    if (!r)
        return;
    /* The listening socket is closed only after the daemon stopped: its
     * threads take it out of their epoll sets after quiesce returns, and
     * a number closed (and reused) under them is a race (ThreadSanitizer
     * found it). */
    fd = MHD_quiesce_daemon(r->daemon);
    wait_inflight(r, r->cfg.shutdown_grace_ms);
    /* libmicrohttpd must not be stopped with a connection suspended: the
     * requests still waiting for their answer get 503 now (the time to
     * send it is the only extra wait) */
    if ((waiting = give_up_waiting(r)) > 0) {
        log_warn("receiver: %u requests still waiting for their answer "
                 "after %u ms; answering 503",
                 waiting, r->cfg.shutdown_grace_ms);
        wait_inflight(r, 1000);
    }
    MHD_stop_daemon(r->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    if (out)
        receiver_counters_read(r, out);
    /* every connection is closed: no socket left to shut down */
    receiver_conns_destroy(r->conns);
    r->conns = NULL;
    receiver_free(r);
}
