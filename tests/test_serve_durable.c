/* test_serve_durable: what `skewscope serve` answered 200 for is delivered,
 * even when the process is killed with SIGKILL at random moments under
 * load (issue 9: "acknowledged means kept").
 *
 * The real binary ($SKEWSCOPE, default build/skewscope) runs with
 * --forward-otlp to a counting downstream in this process (a receiver
 * recording every span ID it gets) and its spool and write-ahead log in a
 * temporary directory. Several sender threads POST OTLP protobuf requests
 * of SPANS spans each, with span IDs that name the sender, the request and
 * the span, and remember every request answered 200; a request that fails
 * (the serve is down, 503, 429) is sent again until it gets its 200. The
 * serve is killed with SIGKILL KILLS times, after a random time (some
 * shortly after a restart, while it replays), and started again on the
 * same port and directories; the downstream is slower than the senders,
 * so a backlog of acknowledged spans waits in the serve at every kill. At
 * the end it is stopped with SIGTERM, which delivers what is queued. Then every
 * span of every request answered 200 must have reached the downstream (none
 * missing); duplicates are allowed (at least once) and reported, with the spans
 * the serve replayed from its log.
 *
 * SKEWSCOPE_DURABILITY=memory runs the same against --durability memory,
 * to see the test catch the loss the log prevents (it then fails);
 * SKEWSCOPE_WAL_FSYNC=off runs it with --wal-fsync off (which keeps what
 * was acknowledged across kill -9, not across a power loss).
 * Nothing asserts on durations. */
#define _GNU_SOURCE
#include "testlib.h"

#include "serve_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "model/span_store.h"
#include "output/trace_writer.h"
#include "serve/receiver.h"

#define SENDERS 4
#define SPANS 50          /* per request: 5 traces of 10 */
#define MAX_REQUESTS 8192 /* per sender */
#define KILLS 4
#define SET_BITS 23 /* the downstream's table: 8 Mi slots */

extern char **environ;

static uint64_t span_id(unsigned sender, unsigned seq, unsigned i)
{
    return (uint64_t)(sender + 1) << 40 | (uint64_t)seq << 8 | i;
}

/* ---- the downstream: a set of span IDs */

struct downstream {
    pthread_mutex_t mu;
    uint64_t *slots; /* 0 = empty */
    uint64_t total, unique;
    struct receiver *rx;
    int port;
};

static void ds_add(struct downstream *d, uint64_t id)
{
    size_t mask = ((size_t)1 << SET_BITS) - 1;
    size_t i = (size_t)((id * 0x9e3779b97f4a7c15ull) >> (64 - SET_BITS));

    d->total++;
    while (d->slots[i] && d->slots[i] != id)
        i = (i + 1) & mask;
    if (!d->slots[i]) {
        d->slots[i] = id;
        d->unique++;
    }
}

static bool ds_has(const struct downstream *d, uint64_t id)
{
    size_t mask = ((size_t)1 << SET_BITS) - 1;
    size_t i = (size_t)((id * 0x9e3779b97f4a7c15ull) >> (64 - SET_BITS));

    while (d->slots[i] && d->slots[i] != id)
        i = (i + 1) & mask;
    return d->slots[i] == id;
}

static enum receiver_verdict ds_batch(void *ctx, struct span_store *batch,
                                      struct receiver_outcome *out)
{
    struct downstream *d = ctx;

    (void)out;
    /* a slow downstream (1 ms a batch, slower than the senders): a
     * backlog waits in the serve at every kill */
    sc_sleep_ms(1);
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < span_store_count(batch); i++)
        ds_add(d, span_store_at(batch, i)->span_id);
    assert_true(d->unique < ((size_t)1 << SET_BITS) / 2);
    pthread_mutex_unlock(&d->mu);
    span_store_destroy(batch);
    return RECEIVER_ACCEPTED;
}

static void ds_start(struct downstream *d)
{
    struct receiver_config cfg = {.listen = "127.0.0.1:0"};
    char err[256];

    pthread_mutex_init(&d->mu, NULL);
    d->slots = calloc((size_t)1 << SET_BITS, sizeof(*d->slots));
    assert_non_null(d->slots);
    d->rx = receiver_start(&cfg, ds_batch, d, err, sizeof(err));
    if (!d->rx)
        fail_msg("downstream: %s", err);
    d->port = receiver_port(d->rx);
}

/* ---- senders */

struct sender {
    unsigned no;
    int port;
    atomic_bool *stop;
    uint8_t acked[MAX_REQUESTS]; /* request answered 200 */
    unsigned requests, attempts;
};

static struct buf make_body(unsigned sender, unsigned seq)
{
    static const char *hosts[4] = {"node-a", "node-b", "node-c", "node-d"};
    struct span_desc d[SPANS];
    struct timespec now;
    int64_t t;

    clock_gettime(CLOCK_REALTIME, &now);
    t = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    memset(d, 0, sizeof(d));
    for (unsigned i = 0; i < SPANS; i++) {
        unsigned tr = i / 10, k = i % 10;
        d[i].trace_id[0] = 0xd0;
        d[i].trace_id[1] = (uint8_t)sender;
        d[i].trace_id[2] = (uint8_t)(seq >> 8);
        d[i].trace_id[3] = (uint8_t)seq;
        d[i].trace_id[15] = (uint8_t)(tr + 1);
        d[i].span_id = span_id(sender, seq, i);
        d[i].parent_span_id = k ? span_id(sender, seq, tr * 10) : 0;
        d[i].name = k ? "child" : "root";
        d[i].kind = k ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
        d[i].start_ns = t + (int64_t)k * 1000;
        d[i].end_ns = d[i].start_ns + 500000 - (int64_t)k * 1000;
        d[i].host_name = hosts[k % 4];
        d[i].service_name = "svc";
    }
    return sc_proto_body(d, SPANS);
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static void *sender_run(void *arg)
{
    struct sender *sd = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    char url[96];

    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", sd->port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    for (unsigned seq = 0; seq < MAX_REQUESTS && !atomic_load(sd->stop);
         seq++) {
        struct buf body = make_body(sd->no, seq);
        long code = 0;
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
        for (;;) {
            sd->attempts++;
            code = 0;
            if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
            if (code == 200 || atomic_load(sd->stop))
                break;
            sc_sleep_ms(20); /* down, restarting, 429 or 503 */
        }
        free(body.data);
        if (code == 200) {
            sd->acked[seq] = 1;
            sd->requests++;
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

/* ---- the serve process */

struct serve_proc {
    char bin[512], listen[64], url[96], spool[512], log[512];
    const char *durability, *wal_fsync;
    pid_t pid;
};

/* Start it; returns once it printed its "listening" line. */
static void serve_spawn(struct serve_proc *p)
{
    char *argv[] = {p->bin,
                    (char *)"serve",
                    (char *)"--listen",
                    p->listen,
                    (char *)"--forward-otlp",
                    p->url,
                    (char *)"--spool-dir",
                    p->spool,
                    (char *)"--max-queued-spans",
                    (char *)"200000",
                    (char *)"--durability",
                    (char *)p->durability,
                    (char *)(p->wal_fsync ? "--wal-fsync" : NULL),
                    (char *)p->wal_fsync,
                    NULL};
    posix_spawn_file_actions_t fa;
    char line[512];
    int pfd[2];
    FILE *f;

    assert_int_equal(pipe(pfd), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    posix_spawn_file_actions_addopen(&fa, 2, p->log,
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_int_equal(posix_spawn(&p->pid, p->bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    f = fdopen(pfd[0], "r");
    if (!fgets(line, sizeof(line), f))
        fail_msg("serve did not start (see %s)", p->log);
    fclose(f);
    assert_non_null(strstr(line, "listening"));
}

/* The value of a counter on the serve's /metrics (0 when absent). */
static double serve_metric(int port, const char *name)
{
    struct buf b;
    double v = 0;
    size_t n = strlen(name);

    if (sc_http(port, "/metrics", NULL, NULL, NULL, &b) != 200) {
        free(b.data);
        return -1;
    }
    for (char *l = b.data; l && *l;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, name, n) == 0 && l[n] == ' ')
            v = strtod(l + n + 1, NULL);
    free(b.data);
    return v;
}

/* ---- the test */

static void test_kill9_under_load(void **state)
{
    static struct sender sd[SENDERS];
    struct downstream *d = calloc(1, sizeof(*d));
    char *dir = testlib_temp_dir("serve-durable");
    const char *env = getenv("SKEWSCOPE");
    struct serve_proc p;
    atomic_bool stop = false;
    pthread_t th[SENDERS];
    uint64_t acked = 0, missing = 0, attempts = 0;
    double replayed = 0;
    int port = sc_free_port(), st;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

    (void)state;
    assert_non_null(d);
    memset(&p, 0, sizeof(p));
    snprintf(p.bin, sizeof(p.bin), "%s", env ? env : "build/skewscope");
    p.durability =
        getenv("SKEWSCOPE_DURABILITY") ? getenv("SKEWSCOPE_DURABILITY") : "wal";
    p.wal_fsync = getenv("SKEWSCOPE_WAL_FSYNC"); /* on, off, NULL */
    ds_start(d);
    snprintf(p.listen, sizeof(p.listen), "127.0.0.1:%d", port);
    snprintf(p.url, sizeof(p.url), "http://127.0.0.1:%d/v1/traces", d->port);
    snprintf(p.spool, sizeof(p.spool), "%s/spool", dir);
    snprintf(p.log, sizeof(p.log), "%s/serve.log", dir);
    print_message("seed %u, durability %s, wal fsync %s, logs in %s\n", seed,
                  p.durability, p.wal_fsync ? p.wal_fsync : "on", dir);
    srand(seed);
    serve_spawn(&p);
    for (unsigned i = 0; i < SENDERS; i++) {
        memset(&sd[i], 0, sizeof(sd[i]));
        sd[i].no = i;
        sd[i].port = port;
        sd[i].stop = &stop;
        assert_int_equal(pthread_create(&th[i], NULL, sender_run, &sd[i]), 0);
    }
    for (int k = 0; k < KILLS; k++) {
        /* 0.2-1.5 s: under load, and (the short ones) during replay */
        sc_sleep_ms(200 + rand() % 1300);
        if (k > 0) {
            double r = serve_metric(port, "skewscope_wal_replayed_spans_total");
            replayed += r > 0 ? r : 0;
        }
        assert_int_equal(kill(p.pid, SIGKILL), 0);
        assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        serve_spawn(&p);
    }
    sc_sleep_ms(500);
    atomic_store(&stop, true);
    for (unsigned i = 0; i < SENDERS; i++)
        pthread_join(th[i], NULL);
    /* let the last run replay and forward, then stop it gracefully */
    for (int i = 0; i < 600; i++) {
        double q = serve_metric(port, "skewscope_queue_spans");
        if (q == 0)
            break;
        sc_sleep_ms(50);
    }
    {
        double r = serve_metric(port, "skewscope_wal_replayed_spans_total");
        replayed += r > 0 ? r : 0;
    }
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    receiver_stop(d->rx);

    for (unsigned i = 0; i < SENDERS; i++) {
        attempts += sd[i].attempts;
        for (unsigned seq = 0; seq < MAX_REQUESTS; seq++) {
            if (!sd[i].acked[seq])
                continue;
            acked += SPANS;
            for (unsigned s = 0; s < SPANS; s++)
                missing += !ds_has(d, span_id(i, seq, s));
        }
    }
    print_message("%d kills: %llu spans answered 200 (%llu attempts of %d "
                  "spans), delivered %llu, %llu distinct, %llu "
                  "duplicates, %.0f replayed from the log; missing %llu\n",
                  KILLS, (unsigned long long)acked,
                  (unsigned long long)attempts, SPANS,
                  (unsigned long long)d->total, (unsigned long long)d->unique,
                  (unsigned long long)(d->total - d->unique), replayed,
                  (unsigned long long)missing);
    assert_true(acked > 0);
    assert_int_equal(missing, 0);
    assert_true(replayed > 0); /* the log was needed */
    assert_true(d->unique >= acked);
    free(d->slots);
    pthread_mutex_destroy(&d->mu);
    free(d);
    testlib_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_under_load),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
