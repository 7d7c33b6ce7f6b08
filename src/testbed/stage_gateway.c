/* stage_gateway: the load generator that opens and closes the testbed's
 * loop (stage.h). It sends `requests` deterministic prompts
 * (pipeline_prompt) with at most `concurrency` in flight, each under a
 * SERVER span (the root of its trace), collects the generated tokens from
 * the "response" channel, then sends a stop message down the pipeline and
 * writes a struct stage_report with the tokens to the orchestrator. */
#include "testbed/stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testbed/pipeline.h"

struct inflight {
    bool used;
    unsigned request;
    struct tracer_span server;
};

struct gateway {
    struct stage *s;
    unsigned n, window, max_new;
    struct inflight *slots;
    unsigned busy;
    unsigned char *tokens; /* n * max_new */
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int send_request(struct gateway *g, unsigned i, char *err, size_t errlen)
{
    struct inflight *slot = NULL;
    char prompt[128], id[16];

    for (unsigned k = 0; k < g->window && !slot; k++)
        if (!g->slots[k].used)
            slot = &g->slots[k];
    size_t len =
        pipeline_prompt(g->s->env->cfg->seed, i, prompt, sizeof prompt);
    slot->used = true;
    slot->request = i;
    g->busy++;
    tracer_span_begin(g->s->tracer, &slot->server, "POST /v1/completions",
                      SPAN_KIND_SERVER, NULL, 0);
    snprintf(id, sizeof id, "%u", i);
    tracer_span_set_attr(&slot->server, "http.request.method", "POST");
    tracer_span_set_attr(&slot->server, "http.route", "/v1/completions");
    tracer_span_set_attr(&slot->server, "request.id", id);
    return stage_send(g->s, "tokenize", &slot->server, i, prompt, len, NULL, 0,
                      err, errlen);
}

static struct inflight *find_slot(struct gateway *g, unsigned request)
{
    for (unsigned k = 0; k < g->window; k++)
        if (g->slots[k].used && g->slots[k].request == request)
            return &g->slots[k];
    return NULL;
}

static int take_response(struct gateway *g, char *err, size_t errlen)
{
    struct stage_msg msg;
    struct tracer_span consumer;

    if (stage_recv(g->s, &msg, &consumer, err, errlen) < 0)
        return -1;
    struct inflight *slot = msg.stop ? NULL : find_slot(g, msg.request);
    if (!slot || msg.m.payload_len != g->max_new) {
        snprintf(err, errlen, "unexpected message on response (request %u)",
                 msg.request);
        if (!msg.stop)
            tracer_span_end(g->s->tracer, &consumer);
        return -1;
    }
    memcpy(g->tokens + (size_t)msg.request * g->max_new, msg.m.payload,
           g->max_new);
    tracer_span_end(g->s->tracer, &consumer);
    tracer_span_end(g->s->tracer, &slot->server);
    slot->used = false;
    g->busy--;
    return 0;
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

static int drive(struct gateway *g, int64_t *wall_ns, char *err, size_t errlen)
{
    unsigned next = 0, done = 0;
    int64_t t0 = mono_ns();

    while (done < g->n) {
        while (g->busy < g->window && next < g->n)
            if (send_request(g, next++, err, errlen) < 0)
                return -1;
        if (take_response(g, err, errlen) < 0)
            return -1;
        done++;
    }
    *wall_ns = mono_ns() - t0;
    return 0;
}

int stage_gateway_run(struct stage *s, char *err, size_t errlen)
{
    const struct pipeline_config *cfg = s->env->cfg;
    struct gateway g = {.s = s, .n = cfg->requests, .max_new = cfg->max_new};
    struct stage_report rep = {cfg->requests, cfg->max_new, 0};
    int rc = -1;

    g.window = cfg->concurrency ? cfg->concurrency : 1;
    g.slots = calloc(g.window, sizeof *g.slots);
    g.tokens = malloc((size_t)g.n * g.max_new + 1);
    if (!g.slots || !g.tokens) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (drive(&g, &rep.wall_ns, err, errlen) < 0 ||
        stage_send_stop(s, "tokenize", err, errlen) < 0)
        goto cleanup;
    if (write_all(s->env->result_fd, &rep, sizeof rep) < 0 ||
        write_all(s->env->result_fd, g.tokens, (size_t)g.n * g.max_new) < 0) {
        snprintf(err, errlen, "cannot report results: %s", strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(g.tokens);
    free(g.slots);
    return rc;
}
