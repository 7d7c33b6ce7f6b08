/* serve_load sink: an OTLP/HTTP receiver (src/serve/receiver.h) that
 * counts spans and distinct keys (keyset.c) and answers GET /count; it can
 * answer 429 or reject whole batches now and then, to test send. Options:
 * the comment at the top of bench/serve_load.c. */
#include "common.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_store.h"
#include "serve/receiver.h"

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
    sl_key_set_add_store(&k->set, batch);
    span_store_destroy(batch);
    return RECEIVER_ACCEPTED;
}

static int sink_count(void *ctx, char **body, size_t *len,
                      const char **content_type)
{
    struct sink *k = ctx;
    char line[256];
    int n = sl_key_set_line(&k->set, line, sizeof line);

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
        if (sl_opt_is(argc, argv, &i, "--listen", &v, &miss))
            cfg->listen = v;
        else if (sl_opt_is(argc, argv, &i, "--port-file", &v, &miss))
            *port_file = v;
        else if (sl_opt_is(argc, argv, &i, "--threads", &v, &miss))
            ok = miss || sl_parse_uint(v, &cfg->threads);
        else if (sl_opt_is(argc, argv, &i, "--busy-every", &v, &miss))
            ok = miss || sl_parse_u64(v, &k->busy_every);
        else if (sl_opt_is(argc, argv, &i, "--reject-every", &v, &miss))
            ok = miss || sl_parse_u64(v, &k->reject_every);
        else if (sl_opt_is(argc, argv, &i, "--expect-spans", &v, &miss))
            ok = miss || sl_parse_u64(v, &k->reserve);
        else
            return sl_usage_error("sink: unknown option %s", argv[i]);
        if (miss || !ok)
            return sl_usage_error("sink: bad or missing value for %s",
                                  argv[i - !miss]);
    }
    return 0;
}

int sl_cmd_sink(int argc, char **argv)
{
    static struct sink k; /* 64 shards: big for a stack */
    struct receiver_route route = {
        .path = "/count", .fn = sink_count, .ctx = &k};
    struct receiver_config cfg = {
        .listen = "127.0.0.1:0", .routes = &route, .nroutes = 1};
    const char *port_file = NULL;
    char err[256], line[256];
    sigset_t sigs;
    int sig, rc = sink_parse(argc, argv, &cfg, &port_file, &k);

    if (rc)
        return rc;
    sl_key_set_init(&k.set);
    if (k.reserve && sl_key_set_reserve(&k.set, k.reserve) < 0) {
        fprintf(stderr, "serve_load: sink: out of memory\n");
        return 1;
    }
    sl_block_stop_signals(&sigs);
    struct receiver *r = receiver_start(&cfg, sink_batch, &k, err, sizeof err);
    if (!r) {
        fprintf(stderr, "serve_load: sink: %s\n", err);
        return 1;
    }
    snprintf(line, sizeof line, "%d\n", receiver_port(r));
    fprintf(stderr, "sink: listening on port %s", line);
    if (port_file && sl_write_file_atomic(port_file, line) < 0) {
        fprintf(stderr, "serve_load: sink: cannot write %s\n", port_file);
        rc = 1;
    }
    if (rc == 0)
        sigwait(&sigs, &sig);
    receiver_stop(r);
    sl_key_set_line(&k.set, line, sizeof line);
    fputs(line, stdout);
    if (k.set.nomem)
        fprintf(stderr, "serve_load: sink: out of memory, counts are low\n");
    rc = rc || k.set.nomem ? 1 : 0;
    sl_key_set_free(&k.set);
    return rc;
}
