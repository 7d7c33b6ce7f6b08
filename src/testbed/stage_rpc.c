/* stage_rpc: the RPC hops of the testbed pipeline (stage.h, cfg->hops ==
 * PIPELINE_HOPS_RPC). A caller sends a request inside a CLIENT span with
 * "x-reply-to" naming its reply channel, and takes the reply on a transport
 * of its own (so that requests for it stay queued on its request channel
 * while it waits); the callee answers with stage_reply() from inside the
 * SERVER span that stage_recv() began. Replies are held for the hop delay
 * like requests, so a round trip carries two delays. Span names and
 * attributes follow OpenTelemetry's RPC conventions ("service/Method",
 * rpc.system, rpc.service, rpc.method). */
#include "testbed/stage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/pipeline.h"

/* The service and method behind a request channel. */
static void rpc_names(const char *channel, const char **service,
                      const char **method)
{
    static const char *const map[][3] = {
        {"tokenize", "tokenizer", "Tokenize"},
        {"prefill", "prefill", "Prefill"},
        {"decode.", "decode", "Decode"},
        {"detokenize", "detokenizer", "Detokenize"},
    };

    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(channel, map[i][0], strlen(map[i][0])) == 0) {
            *service = map[i][1];
            *method = map[i][2];
            return;
        }
    *service = channel;
    *method = "Call";
}

/* Begin an RPC span (CLIENT or SERVER) for channel under parent. */
static void rpc_span(struct stage *s, struct tracer_span *sp,
                     enum span_kind kind, const char *channel,
                     const struct tracer_span *parent)
{
    const char *service, *method;
    char name[96];

    if (!s->tracer)
        return;
    rpc_names(channel, &service, &method);
    snprintf(name, sizeof name, "%s/%s", service, method);
    stage_span_begin(s, sp, name, kind, parent);
    stage_span_attr(s, sp, "rpc.system", s->system);
    stage_span_attr(s, sp, "rpc.service", service);
    stage_span_attr(s, sp, "rpc.method", method);
}

void stage_rpc_server_span(struct stage *s, struct tracer_span *sp,
                           const char *channel,
                           const struct tracer_span *parent)
{
    rpc_span(s, sp, SPAN_KIND_SERVER, channel, parent);
}

int stage_rpc_open(struct stage *s, char *err, size_t errlen)
{
    s->reply_tr = stage_transport_create(s, "reply", err, errlen);
    if (!s->reply_tr)
        return -1;
    if (transport_subscribe(s->reply_tr, s->reply_ch) < 0) {
        snprintf(err, errlen, "subscribe %s: %s", s->reply_ch,
                 transport_errstr(s->reply_tr));
        stage_rpc_close(s);
        return -1;
    }
    return 0;
}

void stage_rpc_close(struct stage *s)
{
    if (s->reply_tr && s->reply_tr != s->tr)
        transport_close(s->reply_tr);
    s->reply_tr = NULL;
}

int stage_call_send(struct stage *s, struct stage_call *c, const char *channel,
                    const struct tracer_span *parent, unsigned request,
                    const void *payload, size_t len,
                    const struct transport_header *extra, size_t nextra,
                    char *err, size_t errlen)
{
    struct transport_msg m = {.payload = payload, .payload_len = len};
    char tpbuf[TRACEPARENT_LEN + 1], req[16], sent[24], arrive[24];

    snprintf(c->channel, sizeof c->channel, "%s", channel);
    c->request = request;
    c->done = false;
    c->len = 0;
    rpc_span(s, &c->client, SPAN_KIND_CLIENT, channel, parent);
    if (stage_span_traceparent(s, &c->client, tpbuf))
        m.headers[m.nheaders++] =
            (struct transport_header){"traceparent", tpbuf};
    snprintf(req, sizeof req, "%u", request);
    m.headers[m.nheaders++] = (struct transport_header){"x-request", req};
    m.headers[m.nheaders++] =
        (struct transport_header){"x-reply-to", s->reply_ch};
    snprintf(arrive, sizeof arrive, "%" PRId64, s->arrive_ns);
    m.headers[m.nheaders++] =
        (struct transport_header){"x-arrive-mono", arrive};
    for (size_t i = 0; i < nextra && m.nheaders + 1 < TRANSPORT_MAX_HEADERS;
         i++)
        m.headers[m.nheaders++] = extra[i];
    snprintf(sent, sizeof sent, "%" PRId64, stage_mono_ns());
    m.headers[m.nheaders++] = (struct transport_header){"x-sent-mono", sent};
    if (transport_send(s->tr, channel, &m) < 0) {
        snprintf(err, errlen, "call %s: %s", channel, transport_errstr(s->tr));
        stage_span_attr(s, &c->client, "error", "send failed");
        stage_span_end(s, &c->client);
        c->done = true;
        return -1;
    }
    stage_sent(s, channel, &m);
    return 0;
}

static struct stage_call *match_call(struct stage_call *calls, size_t n,
                                     unsigned request, const char *from)
{
    for (size_t i = 0; i < n; i++)
        if (!calls[i].done && calls[i].request == request &&
            strcmp(calls[i].channel, from) == 0)
            return &calls[i];
    return NULL;
}

int stage_call_wait_any(struct stage *s, struct stage_call *calls, size_t n,
                        size_t *which, char *err, size_t errlen)
{
    struct transport_msg m;

    if (stage_wait_msg(s, s->reply_tr, &m, err, errlen) < 0)
        return -1;
    const char *req = transport_msg_header(&m, "x-request");
    const char *from = transport_msg_header(&m, "x-from");
    struct stage_call *c =
        req && from
            ? match_call(calls, n, (unsigned)strtoul(req, NULL, 10), from)
            : NULL;
    if (!c) {
        snprintf(err, errlen, "unexpected reply on %s (request %s from %s)",
                 s->reply_ch, req ? req : "?", from ? from : "?");
        return -1;
    }
    if (c->buf && m.payload_len > c->cap) {
        snprintf(err, errlen, "request %u: reply from %s too large (%zu)",
                 c->request, from, m.payload_len);
        return -1;
    }
    if (c->buf && m.payload_len)
        memcpy(c->buf, m.payload, m.payload_len);
    c->len = m.payload_len;
    stage_hold(s, &m);
    stage_span_end(s, &c->client);
    c->done = true;
    *which = (size_t)(c - calls);
    return 0;
}

int stage_call_wait(struct stage *s, struct stage_call *calls, size_t n,
                    char *err, size_t errlen)
{
    size_t pending = 0, which;

    for (size_t i = 0; i < n; i++)
        pending += !calls[i].done;
    for (; pending > 0; pending--)
        if (stage_call_wait_any(s, calls, n, &which, err, errlen) < 0)
            return -1;
    return 0;
}

int stage_reply(struct stage *s, const struct stage_msg *msg,
                const void *payload, size_t len, char *err, size_t errlen)
{
    struct transport_msg m = {.payload = payload, .payload_len = len};
    char req[16], sent[24];

    snprintf(req, sizeof req, "%u", msg->request);
    snprintf(sent, sizeof sent, "%" PRId64, stage_mono_ns());
    m.headers[m.nheaders++] = (struct transport_header){"x-request", req};
    m.headers[m.nheaders++] =
        (struct transport_header){"x-from", msg->m.channel};
    m.headers[m.nheaders++] = (struct transport_header){"x-sent-mono", sent};
    if (transport_send(s->tr, msg->reply_to, &m) < 0) {
        snprintf(err, errlen, "reply on %s: %s", msg->reply_to,
                 transport_errstr(s->tr));
        return -1;
    }
    stage_sent(s, msg->reply_to, &m);
    return 0;
}

int stage_forward(struct stage *s, const char *channel,
                  const struct tracer_span *parent, unsigned request,
                  const void *payload, size_t plen, void *buf, size_t cap,
                  size_t *len, char *err, size_t errlen)
{
    struct stage_call c = {.buf = buf, .cap = cap};

    *len = 0;
    if (!s->rpc)
        return stage_send(s, channel, parent, request, payload, plen, NULL, 0,
                          err, errlen);
    if (stage_call_send(s, &c, channel, parent, request, payload, plen, NULL, 0,
                        err, errlen) < 0 ||
        stage_call_wait(s, &c, 1, err, errlen) < 0)
        return -1;
    *len = c.len;
    return 0;
}

int stage_relay(struct stage *s, const struct stage_msg *msg,
                const char *channel, const struct tracer_span *parent,
                const void *payload, size_t plen, char *err, size_t errlen)
{
    size_t cap = s->env->cfg->max_new, len;
    void *buf = NULL;
    int rc;

    if (s->rpc && !(buf = malloc(cap ? cap : 1))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = stage_forward(s, channel, parent, msg->request, payload, plen, buf,
                       cap, &len, err, errlen);
    if (rc == 0 && s->rpc)
        rc = stage_reply(s, msg, buf, len, err, errlen);
    free(buf);
    return rc;
}
