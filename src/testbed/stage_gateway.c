/* stage_gateway: the load generator that opens and closes the testbed's
 * loop (stage.h). It sends `requests` deterministic prompts
 * (pipeline_prompt) with at most `concurrency` in flight, each under a
 * SERVER span (the root of its trace), or keeps sending for cfg->duration_ms
 * and then drains; it collects the generated tokens from the "response"
 * channel (RPC: from the replies of its calls to the tokenizer), then sends
 * a stop message down the pipeline and writes a struct stage_report with
 * the tokens to the orchestrator. */
#include "testbed/stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testbed/pipeline.h"
#include "testbed/stage_log.h"

struct inflight {
    bool used;
    unsigned request;
    int64_t sent_ns; /* monotonic */
    struct tracer_span server;
};

struct gateway {
    struct stage *s;
    unsigned n;         /* requests to send; 0 = until stop_at */
    int64_t stop_at_ns; /* duration bound (monotonic), or 0 */
    unsigned window, max_new;
    struct inflight *slots;
    struct stage_call *calls; /* RPC: one per slot (done = idle) */
    unsigned char *replies;   /* RPC: window * max_new */
    unsigned busy;
    unsigned char *tokens; /* one max_new row per request sent */
    size_t tokens_rows;
};

/* Room for the tokens of request i. 0 or -1 (out of memory). */
static int reserve_row(struct gateway *g, unsigned i)
{
    if (i < g->tokens_rows)
        return 0;
    size_t rows = g->tokens_rows ? 2 * g->tokens_rows : 64;
    while (rows <= i)
        rows *= 2;
    unsigned char *p = realloc(g->tokens, rows * g->max_new + 1);
    if (!p)
        return -1;
    g->tokens = p;
    g->tokens_rows = rows;
    return 0;
}

static int send_request(struct gateway *g, unsigned i, char *err, size_t errlen)
{
    struct stage *s = g->s;
    unsigned k = 0;
    char prompt[128], id[16];

    while (g->slots[k].used)
        k++; /* busy < window: there is a free slot */
    if (reserve_row(g, i) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct inflight *slot = &g->slots[k];
    size_t len = pipeline_prompt(s->env->cfg->seed, i, prompt, sizeof prompt);
    slot->used = true;
    slot->request = i;
    slot->sent_ns = s->arrive_ns = stage_mono_ns();
    g->busy++;
    atomic_store_explicit(&s->metrics->running, g->busy, memory_order_relaxed);
    stage_span_begin(s, &slot->server, "POST /v1/completions", SPAN_KIND_SERVER,
                     NULL);
    snprintf(id, sizeof id, "%u", i);
    stage_span_attr(s, &slot->server, "http.request.method", "POST");
    stage_span_attr(s, &slot->server, "http.route", "/v1/completions");
    stage_span_attr(s, &slot->server, "request.id", id);
    if (!s->rpc)
        return stage_send(s, "tokenize", &slot->server, i, prompt, len, NULL, 0,
                          err, errlen);
    g->calls[k].buf = g->replies + (size_t)k * g->max_new;
    g->calls[k].cap = g->max_new;
    return stage_call_send(s, &g->calls[k], "tokenize", &slot->server, i,
                           prompt, len, NULL, 0, err, errlen);
}

static struct inflight *find_slot(struct gateway *g, unsigned request)
{
    for (unsigned k = 0; k < g->window; k++)
        if (g->slots[k].used && g->slots[k].request == request)
            return &g->slots[k];
    return NULL;
}

/* The metrics and the log line of a completed request. */
static void account(struct stage *s, const struct inflight *slot, size_t len)
{
    struct stage_metrics *m = s->metrics;
    int64_t e2e = stage_mono_ns() - slot->sent_ns;

    stage_hist_observe(&m->e2e, e2e);
    stage_hist_observe(&m->duration, e2e);
    stage_metrics_add(&m->requests, 1);
    stage_metrics_add(&m->tokens, len);
    atomic_fetch_sub_explicit(&m->running, 1, memory_order_relaxed);
    stage_log_event(s->log, "info", "request", slot->request, NULL, NULL,
                    "request %u completed in %.3f ms (%zu tokens)",
                    slot->request, (double)e2e * 1e-6, len);
}

/* Store a response for slot and close its request. */
static int complete(struct gateway *g, struct inflight *slot, const void *text,
                    size_t len, char *err, size_t errlen)
{
    if (len != g->max_new) {
        snprintf(err, errlen, "request %u: response of %zu bytes",
                 slot->request, len);
        return -1;
    }
    memcpy(g->tokens + (size_t)slot->request * g->max_new, text, len);
    stage_span_end(g->s, &slot->server);
    slot->used = false;
    g->busy--;
    account(g->s, slot, len);
    return 0;
}

static int take_reply(struct gateway *g, char *err, size_t errlen)
{
    size_t k;

    if (stage_call_wait_any(g->s, g->calls, g->window, &k, err, errlen) < 0)
        return -1;
    return complete(g, &g->slots[k], g->calls[k].buf, g->calls[k].len, err,
                    errlen);
}

static int take_response(struct gateway *g, char *err, size_t errlen)
{
    struct stage_msg msg;
    struct tracer_span consumer;

    if (g->s->rpc)
        return take_reply(g, err, errlen);
    if (stage_recv(g->s, &msg, &consumer, err, errlen) < 0)
        return -1;
    struct inflight *slot = msg.stop ? NULL : find_slot(g, msg.request);
    if (!slot) {
        snprintf(err, errlen, "unexpected message on response (request %u)",
                 msg.request);
        if (!msg.stop)
            stage_span_end(g->s, &consumer);
        return -1;
    }
    stage_span_end(g->s, &consumer);
    return complete(g, slot, msg.m.payload, msg.m.payload_len, err, errlen);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static bool more_to_send(const struct gateway *g, unsigned next)
{
    if (g->stop_at_ns)
        return stage_mono_ns() < g->stop_at_ns;
    return next < g->n;
}

/* Send and collect until the bound is reached and nothing is in flight. */
static int drive(struct gateway *g, struct stage_report *rep, char *err,
                 size_t errlen)
{
    unsigned next = 0;
    int64_t t0 = stage_mono_ns();

    if (g->stop_at_ns)
        g->stop_at_ns += t0;
    for (;;) {
        while (g->busy < g->window && more_to_send(g, next))
            if (send_request(g, next++, err, errlen) < 0)
                return -1;
        if (g->busy == 0)
            break;
        if (take_response(g, err, errlen) < 0)
            return -1;
    }
    rep->wall_ns = stage_mono_ns() - t0;
    rep->requests = next;
    return 0;
}

static int gateway_alloc(struct gateway *g, char *err, size_t errlen)
{
    g->slots = calloc(g->window, sizeof *g->slots);
    g->calls = calloc(g->window, sizeof *g->calls);
    g->replies = malloc((size_t)g->window * g->max_new + 1);
    if (!g->slots || !g->calls || !g->replies) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned k = 0; k < g->window; k++)
        g->calls[k].done = true;
    return 0;
}

int stage_gateway_run(struct stage *s, char *err, size_t errlen)
{
    const struct pipeline_config *cfg = s->env->cfg;
    struct gateway g = {.s = s, .n = cfg->requests, .max_new = cfg->max_new};
    struct stage_report rep = {0, cfg->max_new, 0};
    int rc = -1;

    g.window = cfg->concurrency ? cfg->concurrency : 1;
    g.stop_at_ns = (int64_t)cfg->duration_ms * 1000000;
    if (gateway_alloc(&g, err, errlen) < 0)
        goto cleanup;
    if (drive(&g, &rep, err, errlen) < 0 ||
        stage_send_stop(s, "tokenize", err, errlen) < 0)
        goto cleanup;
    if (write_all(s->env->result_fd, &rep, sizeof rep) < 0 ||
        write_all(s->env->result_fd, g.tokens,
                  (size_t)rep.requests * g.max_new) < 0) {
        snprintf(err, errlen, "cannot report results: %s", strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(g.tokens);
    free(g.replies);
    free(g.calls);
    free(g.slots);
    return rc;
}
