/* pipeline: the testbed orchestrator (see pipeline.h): configuration,
 * starting the stage processes (fork, or exec under libfaketime) and the
 * embedded Kafka broker in one process group, watching them with a
 * deadline, stopping and reaping them, and checking the gateway's tokens
 * against the single-process reference. The stages are in stage_*.c. */
#include "testbed/pipeline.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "testbed/faketime.h"
#include "testbed/kafka_mock.h"
#include "testbed/llm.h"
#include "testbed/scraper.h"
#include "testbed/stage.h"
#include "testbed/stage_board.h"
#include "util/units.h"
#include "util/clock.h"

#define MAX_CHILDREN (PIPELINE_MAX_TP + 5)

struct child {
    pid_t pid;
    char name[PIPELINE_STAGE_NAME_MAX];
    bool reaped;
    int status;
};

struct run {
    const struct pipeline_config *cfg;
    char dir[64];
    char run_id[48];
    char brokers[512];
    pid_t pgid;
    struct child kids[MAX_CHILDREN];
    size_t nkids;
    int broker; /* index in kids, or -1 */
    int result_rd, result_wr;
    int ready_rd, ready_wr; /* start-up pipe of the stages */
    unsigned char *result;
    size_t result_len, result_cap;
    struct stage_board *board;
    int metrics_fd[PIPELINE_MAX_STAGES]; /* listening sockets, by slot */
    struct pipeline_endpoint eps[PIPELINE_MAX_STAGES];
    size_t neps;
    struct scraper *scraper;
    unsigned scrapes_failed;
    int64_t start_unix_ns;
    struct pipeline_fault_window windows[PIPELINE_MAX_FAULTS];
};

static volatile sig_atomic_t pipeline_signal;

static void on_signal(int sig)
{
    pipeline_signal = sig;
}

int pipeline_last_signal(void)
{
    return (int)pipeline_signal;
}

static int64_t mono_ns(void)
{
    return clock_now_ns(CLOCK_MONOTONIC);
}

static int64_t unix_ns(void)
{
    return clock_now_ns(CLOCK_REALTIME);
}

/* ---- configuration ---- */

void pipeline_config_init(struct pipeline_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->transport = "zmq";
    cfg->requests = 10;
    cfg->tp = 2;
    cfg->dp = 1;
    cfg->max_new = 16;
    cfg->concurrency = 4;
    cfg->seed = 1;
    cfg->timeout_ms = 60000;
    cfg->scrape_interval_ms = 1000;
}

static struct pipeline_clock *clock_for(struct pipeline_config *cfg,
                                        const char *stage)
{
    for (size_t i = 0; i < cfg->nclocks; i++)
        if (strcmp(cfg->clocks[i].stage, stage) == 0)
            return &cfg->clocks[i];
    if (cfg->nclocks == PIPELINE_MAX_CLOCKS)
        return NULL;
    struct pipeline_clock *c = &cfg->clocks[cfg->nclocks++];
    memset(c, 0, sizeof *c);
    snprintf(c->stage, sizeof c->stage, "%s", stage);
    return c;
}

int pipeline_config_add_clock(struct pipeline_config *cfg, bool is_drift,
                              const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    char stage[PIPELINE_STAGE_NAME_MAX];
    int64_t skew = 0;
    double ppm = 0;

    if (!eq || eq == spec) {
        snprintf(err, errlen, "'%s': expected STAGE=VALUE", spec);
        return -1;
    }
    if (strncmp(spec, "node-", 5) == 0)
        spec += 5;
    size_t n = (size_t)(eq - spec);
    if (n == 0 || n >= sizeof stage) {
        snprintf(err, errlen, "'%s': bad stage name", spec);
        return -1;
    }
    memcpy(stage, spec, n);
    stage[n] = '\0';
    if (is_drift ? units_parse_ppm(eq + 1, 1e6, &ppm)
                 : sim_parse_duration(eq + 1, 0, &skew)) {
        snprintf(err, errlen, "'%s': expected %s", eq + 1,
                 is_drift ? "a drift like 40ppm" : "a duration like 5ms");
        return -1;
    }
    struct pipeline_clock *c = clock_for(cfg, stage);
    if (!c) {
        snprintf(err, errlen, "too many --skew/--drift stages");
        return -1;
    }
    if (is_drift)
        c->drift_ppm = ppm;
    else
        c->skew_ns = skew;
    return 0;
}

size_t pipeline_prompt(uint64_t seed, unsigned i, char *out, size_t outlen)
{
    static const char *const words[] = {
        "the",   "quick", "brown", "fox",  "jumps", "over",  "lazy",  "dog",
        "clock", "skew",  "trace", "span", "token", "cache", "layer", "head",
    };
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + i;
    int len = snprintf(out, outlen, "request %u:", i);

    for (int w = 0; w < 4; w++) {
        x += 0x9e3779b97f4a7c15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        len += snprintf(out + len, outlen - (size_t)len, " %s", words[z % 16]);
    }
    return (size_t)len;
}

/* True when the run has a stage of that name ("prefill" only without
 * replicas, "prefill-K" only with K < dp). */
static bool stage_in_run(const struct pipeline_config *cfg, const char *name)
{
    enum stage_kind kind;
    unsigned rank;

    if (stage_parse_name(name, cfg->tp, &kind, &rank) < 0)
        return false;
    if (kind != STAGE_PREFILL)
        return true;
    return cfg->dp > 1 ? rank >= 1 && rank <= cfg->dp : rank == 0;
}

static int check_config(const struct pipeline_config *cfg, char *err,
                        size_t errlen)
{
    struct llm_config mc;

    if (strcmp(cfg->transport, "zmq") != 0 &&
        strcmp(cfg->transport, "kafka") != 0) {
        snprintf(err, errlen, "unknown transport '%s' (zmq or kafka)",
                 cfg->transport);
        return -1;
    }
    if (cfg->hops != PIPELINE_HOPS_ONEWAY && cfg->hops != PIPELINE_HOPS_RPC) {
        snprintf(err, errlen, "unknown hops mode %d", (int)cfg->hops);
        return -1;
    }
    if (cfg->tp < 1 || cfg->tp > PIPELINE_MAX_TP ||
        (cfg->requests < 1 && cfg->duration_ms == 0) || cfg->max_new < 1 ||
        cfg->timeout_ms < 100) {
        snprintf(err, errlen,
                 "need 1 <= tp <= %d, requests >= 1 (or a duration), "
                 "max-new >= 1, timeout >= 100 ms",
                 PIPELINE_MAX_TP);
        return -1;
    }
    for (size_t i = 0; i < cfg->nclocks; i++)
        if (!stage_in_run(cfg, cfg->clocks[i].stage)) {
            snprintf(err, errlen,
                     "no stage '%s' (gateway, tokenizer, "
                     "prefill, decode-0..%u, detokenizer)",
                     cfg->clocks[i].stage, cfg->tp - 1);
            return -1;
        }
    if (cfg->dp < 1 || cfg->dp > PIPELINE_MAX_DP ||
        (cfg->dp > 1 && cfg->hops == PIPELINE_HOPS_RPC)) {
        snprintf(err, errlen,
                 "need 1 <= dp <= %d, and one-way hops with dp > 1",
                 PIPELINE_MAX_DP);
        return -1;
    }
    if (cfg->hop_jitter_ns < 0 || cfg->hop_jitter_ns > cfg->hop_delay_ns) {
        snprintf(err, errlen, "hop jitter must lie in [0, hop delay]");
        return -1;
    }
    for (size_t i = 0; i < cfg->nfaults; i++)
        if (strcmp(cfg->faults[i].stage, "decode") != 0 &&
            !stage_in_run(cfg, cfg->faults[i].stage)) {
            snprintf(err, errlen,
                     "fault at '%s': no such stage (gateway, tokenizer, "
                     "prefill, decode-0..%u, detokenizer)",
                     cfg->faults[i].stage, cfg->tp - 1);
            return -1;
        }
    if (cfg->metrics && cfg->metrics_port &&
        cfg->metrics_port + cfg->tp + 3 + cfg->dp > 65536) {
        snprintf(err, errlen, "metrics ports %u.. run past 65535",
                 cfg->metrics_port);
        return -1;
    }
    stage_model_config(cfg, &mc);
    return llm_config_check(&mc, cfg->tp, err, errlen) ? -1 : 0;
}

static const struct pipeline_clock *
find_clock(const struct pipeline_config *cfg, const char *stage)
{
    for (size_t i = 0; i < cfg->nclocks; i++)
        if (strcmp(cfg->clocks[i].stage, stage) == 0)
            return &cfg->clocks[i];
    return NULL;
}

/* ---- child processes ---- */

/* In a new child: join the run's process group, die with the parent,
 * close the metrics sockets of the other stages (keep: its own slot, or
 * -1). */
static void child_init(struct run *r, int keep)
{
    setpgid(0, r->pgid);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    stage_install_signals();
    for (int i = 0; i < PIPELINE_MAX_STAGES; i++)
        if (i != keep && r->metrics_fd[i] >= 0)
            close(r->metrics_fd[i]);
}

static struct child *add_child(struct run *r, pid_t pid, const char *name)
{
    struct child *c = &r->kids[r->nkids++];

    c->pid = pid;
    c->reaped = false;
    snprintf(c->name, sizeof c->name, "%s", name);
    if (r->pgid == 0)
        r->pgid = pid;
    setpgid(pid, r->pgid); /* also in the child: whichever runs first */
    return c;
}

static int kafka_topics(struct kafka_mock *m, const struct run *r, char *err,
                        size_t errlen)
{
    char topic[128];
    const char *fixed[] = {"tokenize", "prefill", "detokenize", "response"};

    for (size_t i = 0; i < 4; i++) {
        snprintf(topic, sizeof topic, "skewscope-%s.%s", r->run_id, fixed[i]);
        if (kafka_mock_create_topic(m, topic, 1, err, errlen) < 0)
            return -1;
    }
    const char *replies[] = {"reply.gateway", "reply.tokenizer",
                             "reply.prefill", "reply.decode-0"};
    for (size_t i = 0; r->cfg->hops == PIPELINE_HOPS_RPC && i < 4; i++) {
        snprintf(topic, sizeof topic, "skewscope-%s.%s", r->run_id, replies[i]);
        if (kafka_mock_create_topic(m, topic, 1, err, errlen) < 0)
            return -1;
    }
    for (unsigned k = 0; k < r->cfg->tp; k++) {
        snprintf(topic, sizeof topic, "skewscope-%s.decode.%u", r->run_id, k);
        if (kafka_mock_create_topic(m, topic, 1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* The broker child: start the mock, tell the parent where it is, hold it
 * until SIGTERM. */
static void broker_main(struct run *r, int wfd)
{
    char err[256] = "";
    struct kafka_mock *m = kafka_mock_create(1, err, sizeof err);

    if (!m || kafka_topics(m, r, err, sizeof err) < 0) {
        fprintf(stderr, "skewscope testbed: kafka mock: %s\n", err);
        _exit(70);
    }
    dprintf(wfd, "%s\n", kafka_mock_bootstraps(m));
    close(wfd);
    while (!stage_stop_requested())
        usleep(20000);
    kafka_mock_destroy(m);
    _exit(0);
}

static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = mono_ns() + (int64_t)timeout_ms * 1000000;

    while (n + 1 < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)((deadline - mono_ns()) / 1000000);
        if (left <= 0 || pipeline_signal ||
            poll(&p, 1, left > 100 ? 100 : left) < 0)
            return errno == EINTR || pipeline_signal ? -1
                                                     : (left <= 0 ? -1 : 0);
        if (!(p.revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t k = read(fd, buf + n, 1);
        if (k <= 0)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return n > 0 ? 0 : -1;
}

static int start_broker(struct run *r, char *err, size_t errlen)
{
    int fds[2];

    if (pipe(fds) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_init(r, -1);
        broker_main(r, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    r->broker = (int)r->nkids;
    add_child(r, pid, "kafka-broker");
    int rc = read_line(fds[0], r->brokers, sizeof r->brokers, 15000);
    close(fds[0]);
    if (rc < 0)
        snprintf(err, errlen, "the embedded Kafka broker did not start");
    return rc;
}

/* "cpu@prefill:2" and the like: what pipeline_config_add_fault reads
 * back exactly. */
static void fault_spec(const struct pipeline_fault *f, char *buf, size_t len)
{
    const char *k = pipeline_fault_name(f->kind);

    switch (f->kind) {
    case PIPELINE_FAULT_NETWORK:
        snprintf(buf, len, "%s@%s:%" PRId64 "ns/%" PRId64 "ns", k, f->stage,
                 f->delay_ns, f->jitter_ns);
        break;
    case PIPELINE_FAULT_MEMORY:
        snprintf(buf, len, "%s@%s:%.0fB", k, f->stage, f->amount);
        break;
    case PIPELINE_FAULT_EARLY_STOP:
        snprintf(buf, len, "%s@%s", k, f->stage);
        break;
    default:
        snprintf(buf, len, "%s@%s:%.17g", k, f->stage, f->amount);
        break;
    }
}

/* argv of an exec'ed stage; strings live in `store` (n bytes). */
static void build_argv(const struct run *r, const char *name, int slot,
                       char **argv, char *store, size_t n)
{
    char spec[128];
    const struct pipeline_config *c = r->cfg;
    size_t off = 0;
    int argc = 0;
#define ARG(...)                                                               \
    do {                                                                       \
        argv[argc++] = store + off;                                            \
        off += (size_t)snprintf(store + off, n - off, __VA_ARGS__) + 1;        \
    } while (0)
    ARG("%s", c->self_exe ? c->self_exe : "/proc/self/exe");
    ARG("testbed");
    ARG("--stage=%s", name);
    ARG("--stage-dir=%s", r->dir);
    ARG("--stage-run=%s", r->run_id);
    ARG("--stage-result-fd=%d", r->result_wr);
    ARG("--stage-ready-fd=%d", r->ready_wr);
    ARG("--hops=%s", c->hops == PIPELINE_HOPS_RPC ? "rpc" : "oneway");
    ARG("--duration=%ums", c->duration_ms);
    ARG("--transport=%s", c->transport);
    ARG("--brokers=%s", r->brokers);
    ARG("--tp=%u", c->tp);
    ARG("--requests=%u", c->requests);
    ARG("--max-new=%u", c->max_new);
    ARG("--concurrency=%u", c->concurrency);
    ARG("--seed=%" PRIu64, c->seed);
    ARG("--model-layers=%u", c->model_layers);
    ARG("--model-dim=%u", c->model_dim);
    ARG("--hop-delay=%" PRId64 "ns", c->hop_delay_ns);
    ARG("--hop-jitter=%" PRId64 "ns", c->hop_jitter_ns);
    ARG("--dp=%u", c->dp);
    ARG("--timeout=%ums", c->timeout_ms);
    if (c->out_path)
        ARG("--out=%s", c->out_path);
    if (c->otlp_endpoint)
        ARG("--otlp-endpoint=%s", c->otlp_endpoint);
    if (c->log_path)
        ARG("--log=%s", c->log_path);
    if (c->no_internal_spans)
        ARG("--no-internal-spans");
    ARG("--stage-metrics-fd=%d", slot >= 0 ? r->metrics_fd[slot] : -1);
    for (size_t i = 0; i < c->nfaults; i++) {
        fault_spec(&c->faults[i], spec, sizeof spec);
        ARG("--stage-fault=%" PRId64 ":%" PRId64 ":%s", c->faults[i].at_ns,
            c->faults[i].for_ns, spec);
    }
#undef ARG
    argv[argc] = NULL;
}

static int exec_stage(struct run *r, const char *name,
                      const struct pipeline_clock *clk, char *err,
                      size_t errlen)
{
    struct faketime_config fc = {.offset_ns = clk->skew_ns,
                                 .drift_ppm = clk->drift_ppm};
    char **env = faketime_env_create(&fc, NULL, err, errlen);
    char *argv[64], store[8192];
    int slot = pipeline_stage_index(name, r->cfg->tp);

    if (!env)
        return -1;
    build_argv(r, name, slot, argv, store, sizeof store);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        child_init(r, slot);
        close(r->result_rd);
        close(r->ready_rd);
        if (slot >= 0 && r->metrics_fd[slot] >= 0)
            fcntl(r->metrics_fd[slot], F_SETFD, 0); /* survives the exec */
        execve(argv[0], argv, env);
        fprintf(stderr, "skewscope testbed: exec %s: %s\n", argv[0],
                strerror(errno));
        _exit(70);
    }
    faketime_env_destroy(env);
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    add_child(r, pid, name);
    return 0;
}

static void fork_stage_child(struct run *r, const struct stage_env *env,
                             const char *name, int slot)
{
    char err[512] = "";

    child_init(r, slot);
    close(r->result_rd);
    close(r->ready_rd);
    if (env->kind != STAGE_GATEWAY)
        close(r->result_wr);
    else if (r->ready_wr >= 0)
        close(r->ready_wr);
    int rc = stage_main(env, err, sizeof err);
    /* stopped by the orchestrator: it says why, once */
    if (rc < 0 && !stage_stop_requested())
        fprintf(stderr, "skewscope testbed: stage %s: %s\n", name, err);
    _exit(rc < 0 ? 70 : 0);
}

static int start_stage(struct run *r, enum stage_kind kind, unsigned rank,
                       char *err, size_t errlen)
{
    char name[PIPELINE_STAGE_NAME_MAX];
    const struct pipeline_clock *clk;
    int rc = 0;

    stage_name(kind, rank, name, sizeof name);
    int slot = pipeline_stage_index(name, r->cfg->tp);
    clk = find_clock(r->cfg, name);
    if (clk && r->cfg->skew_mode == PIPELINE_SKEW_FAKETIME) {
        rc = exec_stage(r, name, clk, err, errlen);
        goto done;
    }
    struct stage_env env = {
        .cfg = r->cfg,
        .kind = kind,
        .rank = rank,
        .dir = r->dir,
        .brokers = r->brokers,
        .run_id = r->run_id,
        .result_fd = kind == STAGE_GATEWAY ? r->result_wr : -1,
        .ready_fd = kind == STAGE_GATEWAY ? -1 : r->ready_wr,
        .skew_ns = clk ? clk->skew_ns : 0,
        .drift_ppm = clk ? clk->drift_ppm : 0,
        .metrics_fd = slot >= 0 ? r->metrics_fd[slot] : -1,
    };
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        fork_stage_child(r, &env, name, slot);
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        rc = -1;
    } else {
        add_child(r, pid, name);
    }
done:
    /* the stage owns its socket now */
    if (slot >= 0 && r->metrics_fd[slot] >= 0) {
        close(r->metrics_fd[slot]);
        r->metrics_fd[slot] = -1;
    }
    return rc;
}

/* ---- watching, stopping, reaping ---- */

static void drain_results(struct run *r)
{
    unsigned char buf[4096];
    ssize_t k;

    while ((k = read(r->result_rd, buf, sizeof buf)) > 0) {
        if (r->result_len + (size_t)k > r->result_cap) {
            size_t cap = (r->result_cap + (size_t)k) * 2;
            unsigned char *p = realloc(r->result, cap);
            if (!p)
                return;
            r->result = p;
            r->result_cap = cap;
        }
        memcpy(r->result + r->result_len, buf, (size_t)k);
        r->result_len += (size_t)k;
    }
}

static struct child *reap_one(struct run *r, pid_t pid, int status)
{
    for (size_t i = 0; i < r->nkids; i++)
        if (r->kids[i].pid == pid) {
            r->kids[i].reaped = true;
            r->kids[i].status = status;
            return &r->kids[i];
        }
    return NULL;
}

static size_t running_stages(const struct run *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->nkids; i++)
        if (!r->kids[i].reaped && (int)i != r->broker)
            n++;
    return n;
}

static void describe_exit(const struct child *c, char *err, size_t errlen)
{
    if (WIFSIGNALED(c->status))
        snprintf(err, errlen, "stage %s killed by signal %d", c->name,
                 WTERMSIG(c->status));
    else
        snprintf(err, errlen,
                 "stage %s failed (exit status %d; see its "
                 "message above)",
                 c->name, WEXITSTATUS(c->status));
}

/* Reap exited children and check the signal flag and the deadline: 0, or
 * a negative errno code (err) when a child failed, the broker exited, a
 * signal came or the deadline passed. */
static int check_children(struct run *r, int64_t deadline, char *err,
                          size_t errlen)
{
    int st;
    pid_t pid;

    while ((pid = waitpid(-r->pgid, &st, WNOHANG)) > 0) {
        struct child *c = reap_one(r, pid, st);
        if (c && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
            describe_exit(c, err, errlen);
            return -EIO;
        }
        if (c && (int)(c - r->kids) == r->broker) {
            snprintf(err, errlen, "the Kafka broker exited early");
            return -EIO;
        }
    }
    if (pipeline_signal) {
        snprintf(err, errlen, "interrupted by signal %d", (int)pipeline_signal);
        return -EINTR;
    }
    if (mono_ns() > deadline) {
        snprintf(err, errlen, "run did not finish within %u ms; stopped",
                 r->cfg->timeout_ms + r->cfg->duration_ms);
        return -ETIMEDOUT;
    }
    return 0;
}

/* A stage that has exited is not scraped (scraper_poll's skip). */
static bool stage_gone(void *ctx, const char *stage)
{
    const struct run *r = ctx;

    for (size_t i = 0; i < r->nkids; i++)
        if (strcmp(r->kids[i].name, stage) == 0)
            return r->kids[i].reaped;
    return true;
}

/* Wait until every stage exited, scraping their metrics meanwhile. 0, or
 * a negative errno code (err). */
static int watch(struct run *r, int64_t deadline, char *err, size_t errlen)
{
    while (running_stages(r) > 0) {
        struct pollfd p = {.fd = r->result_rd, .events = POLLIN};
        poll(&p, 1, 10);
        drain_results(r);
        if (r->scraper)
            r->scrapes_failed +=
                scraper_poll(r->scraper, unix_ns(), stage_gone, r);
        int rc = check_children(r, deadline, err, errlen);
        if (rc < 0)
            return rc;
    }
    drain_results(r);
    return 0;
}

/* The run starts now: publish its start and every fault's window on the
 * board (a window starts at the first whole Unix second at least at_ns
 * after now). */
static void publish_start(struct run *r)
{
    const struct pipeline_config *cfg = r->cfg;
    int64_t mono = mono_ns(), now = unix_ns(), sec = 1000000000;

    r->start_unix_ns = now;
    for (size_t i = 0; i < cfg->nfaults; i++) {
        const struct pipeline_fault *f = &cfg->faults[i];
        int64_t start = (now + f->at_ns + sec - 1) / sec * sec;
        r->windows[i].start_unix_ns = start;
        r->windows[i].end_unix_ns = start + f->for_ns;
        atomic_store(&r->board->fault_end_ns[i],
                     mono + (start - now) + f->for_ns);
        atomic_store(&r->board->fault_start_ns[i], mono + (start - now));
    }
    atomic_store(&r->board->start_mono_ns, mono);
}

/* Wait for one start-up byte from each of n stages. 0, or a negative errno
 * code (err) when a child failed, a signal came or the deadline passed. */
static int wait_ready(struct run *r, size_t n, int64_t deadline, char *err,
                      size_t errlen)
{
    size_t got = 0;
    char buf[16];

    while (got < n) {
        struct pollfd p = {.fd = r->ready_rd, .events = POLLIN};
        if (poll(&p, 1, 10) > 0) {
            ssize_t k = read(r->ready_rd, buf, sizeof buf);
            if (k > 0)
                got += (size_t)k;
        }
        int rc = check_children(r, deadline, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Start every stage, the gateway last once the others are ready. */
static int start_stages(struct run *r, int64_t deadline, char *err,
                        size_t errlen)
{
    int rc;

    if (start_stage(r, STAGE_DETOKENIZER, 0, err, errlen) < 0)
        return -EIO;
    for (unsigned k = 0; k < r->cfg->tp; k++)
        if (start_stage(r, STAGE_DECODE, k, err, errlen) < 0)
            return -EIO;
    for (unsigned k = 0; k < r->cfg->dp; k++)
        if (start_stage(r, STAGE_PREFILL, r->cfg->dp > 1 ? k + 1 : 0, err,
                        errlen) < 0)
            return -EIO;
    if (start_stage(r, STAGE_TOKENIZER, 0, err, errlen) < 0)
        return -EIO;
    if ((rc = wait_ready(r, r->cfg->tp + 2 + r->cfg->dp, deadline, err,
                         errlen)) < 0)
        return rc;
    close(r->ready_wr);
    r->ready_wr = -1;
    publish_start(r);
    return start_stage(r, STAGE_GATEWAY, 0, err, errlen) < 0 ? -EIO : 0;
}

/* Reap every child (or every stage), waiting at most wait_ms; true when
 * none is left. */
static bool reap_all(struct run *r, int wait_ms, bool stages_only)
{
    int64_t deadline = mono_ns() + (int64_t)wait_ms * 1000000;

    for (;;) {
        bool left = false;
        for (size_t i = 0; i < r->nkids; i++) {
            int st;
            if (r->kids[i].reaped || (stages_only && (int)i == r->broker))
                continue;
            if (waitpid(r->kids[i].pid, &st, WNOHANG) != 0)
                reap_one(r, r->kids[i].pid, st);
            else
                left = true;
        }
        if (!left)
            return true;
        if (mono_ns() > deadline)
            return false;
        usleep(5000);
    }
}

static void stop_all(struct run *r, bool graceful)
{
    if (r->pgid == 0)
        return;
    if (!graceful) {
        /* The stages first, while the Kafka broker still answers their
         * last words (else each librdkafka handle logs it gone). */
        for (size_t i = 0; i < r->nkids; i++)
            if (!r->kids[i].reaped && (int)i != r->broker)
                kill(r->kids[i].pid, SIGTERM);
        reap_all(r, 3000, true);
    }
    /* graceful: the stages have exited; this reaches the broker */
    kill(-r->pgid, SIGTERM);
    if (reap_all(r, graceful ? 5000 : 2000, false))
        return;
    kill(-r->pgid, SIGKILL);
    for (size_t i = 0; i < r->nkids; i++)
        if (!r->kids[i].reaped && waitpid(r->kids[i].pid, NULL, 0) >= 0)
            r->kids[i].reaped = true;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* ---- results ---- */

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static bool matches_reference(const struct pipeline_config *cfg,
                              unsigned requests, const unsigned char *tokens)
{
    struct llm_config mc;
    char prompt[128];
    int ids[128];
    int *out = malloc(cfg->max_new * sizeof(int));
    bool same = out != NULL;

    stage_model_config(cfg, &mc);
    for (unsigned i = 0; i < requests && same; i++) {
        size_t n = pipeline_prompt(cfg->seed, i, prompt, sizeof prompt);
        llm_tokenize(prompt, n, ids);
        if (llm_generate_split(&mc, cfg->tp, ids, n, cfg->max_new, out, NULL) !=
            0)
            same = false;
        for (unsigned k = 0; k < cfg->max_new && same; k++)
            same = out[k] == tokens[(size_t)i * cfg->max_new + k];
    }
    free(out);
    return same;
}

static int make_result(const struct run *r, struct pipeline_result *res,
                       char *err, size_t errlen)
{
    const struct pipeline_config *cfg = r->cfg;
    struct stage_report rep;

    if (r->result_len < sizeof rep) {
        snprintf(err, errlen, "the gateway reported no result");
        return -EIO;
    }
    memcpy(&rep, r->result, sizeof rep);
    size_t ntok = (size_t)rep.requests * cfg->max_new;
    if (r->result_len != sizeof rep + ntok || rep.max_new != cfg->max_new ||
        (cfg->duration_ms == 0 && rep.requests != cfg->requests)) {
        snprintf(err, errlen,
                 "the gateway reported %zu bytes for %u requests, expected "
                 "%zu",
                 r->result_len, rep.requests, sizeof rep + ntok);
        return -EIO;
    }
    const unsigned char *tokens = r->result + sizeof rep;
    memset(res, 0, sizeof *res);
    res->requests = rep.requests;
    res->tokens = ntok;
    res->wall_s = (double)rep.wall_ns * 1e-9;
    if (res->wall_s > 0) {
        res->requests_per_s = res->requests / res->wall_s;
        res->tokens_per_s = (double)res->tokens / res->wall_s;
    }
    res->output_hash = fnv1a(0xcbf29ce484222325ull, tokens, ntok);
    res->identical = matches_reference(
        cfg,
        cfg->check_requests && cfg->check_requests < rep.requests
            ? cfg->check_requests
            : rep.requests,
        tokens);
    return 0;
}

/* ---- the run ---- */

/* A listening socket on 127.0.0.1:port (0 = any free port); its port in
 * *bound. Returns the fd or -1 (err). */
static int listen_on(unsigned port, unsigned *bound, char *err, size_t errlen)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        snprintf(err, errlen, "metrics: cannot listen on 127.0.0.1:%u: %s",
                 port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

/* Prometheus file_sd: one target group per stage. */
static int write_sd(const struct run *r, const char *path, char *err,
                    size_t errlen)
{
    FILE *f = fopen(path, "w");

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fputs("[\n", f);
    for (size_t i = 0; i < r->neps; i++)
        fprintf(f,
                "  {\"targets\": [\"127.0.0.1:%u\"], \"labels\": "
                "{\"testbed_stage\": \"%s\"}}%s\n",
                r->eps[i].port, r->eps[i].stage, i + 1 < r->neps ? "," : "");
    fputs("]\n", f);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: write failed", path);
        return -1;
    }
    return 0;
}

/* Bind every stage's metrics socket (slot order). */
static int bind_metrics(struct run *r, char *err, size_t errlen)
{
    const struct pipeline_config *cfg = r->cfg;
    unsigned n = cfg->tp + 3 + cfg->dp;

    for (unsigned i = 0; i < n; i++) {
        struct pipeline_endpoint *ep = &r->eps[r->neps];
        if (i < 4)
            stage_name((enum stage_kind[]){STAGE_GATEWAY, STAGE_TOKENIZER,
                                           STAGE_PREFILL, STAGE_DETOKENIZER}[i],
                       i == 2 && cfg->dp > 1 ? 1 : 0, ep->stage,
                       sizeof ep->stage);
        else if (i < 4 + cfg->tp)
            stage_name(STAGE_DECODE, i - 4, ep->stage, sizeof ep->stage);
        else /* prefill-1.. */
            stage_name(STAGE_PREFILL, i - 4 - cfg->tp + 2, ep->stage,
                       sizeof ep->stage);
        int slot = pipeline_stage_index(ep->stage, cfg->tp);
        r->metrics_fd[slot] =
            listen_on(cfg->metrics_port ? cfg->metrics_port + i : 0, &ep->port,
                      err, errlen);
        if (r->metrics_fd[slot] < 0)
            return -1;
        r->neps++;
    }
    if (cfg->metrics_sd_path && write_sd(r, cfg->metrics_sd_path, err, errlen))
        return -1;
    return 0;
}

static int truncate_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

static int prepare(struct run *r, char *err, size_t errlen)
{
    int fds[2];

    /* the pid in the name tells concurrent runs' directories apart */
    snprintf(r->dir, sizeof r->dir, "/tmp/skewscope-tb-%d-XXXXXX",
             (int)getpid());
    if (!mkdtemp(r->dir)) {
        r->dir[0] = '\0';
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    snprintf(r->run_id, sizeof r->run_id, "%d-%" PRId64, (int)getpid(),
             mono_ns() % 1000000000);
    if (pipe(fds) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    r->result_rd = fds[0];
    r->result_wr = fds[1];
    fcntl(r->result_rd, F_SETFL, O_NONBLOCK);
    fcntl(r->result_rd, F_SETFD, FD_CLOEXEC);
    if (pipe(fds) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    r->ready_rd = fds[0];
    r->ready_wr = fds[1];
    fcntl(r->ready_rd, F_SETFL, O_NONBLOCK);
    fcntl(r->ready_rd, F_SETFD, FD_CLOEXEC);
    if (r->cfg->out_path && r->cfg->truncate_out &&
        truncate_file(r->cfg->out_path, err, errlen) < 0)
        return -1;
    if (r->cfg->log_path && r->cfg->truncate_out &&
        truncate_file(r->cfg->log_path, err, errlen) < 0)
        return -1;
    if (!(r->board = stage_board_map(r->dir, true, err, errlen)))
        return -1;
    if (r->cfg->metrics && bind_metrics(r, err, errlen) < 0)
        return -1;
    return 0;
}

static void fill_observability(const struct run *r, struct pipeline_result *res)
{
    res->start_unix_ns = r->start_unix_ns;
    res->end_unix_ns = unix_ns();
    memcpy(res->endpoints, r->eps, sizeof r->eps);
    res->nendpoints = r->neps;
    for (size_t i = 0; i < r->cfg->nfaults; i++) {
        res->windows[i] = r->windows[i];
        if (res->windows[i].start_unix_ns >= res->end_unix_ns)
            res->windows[i] = (struct pipeline_fault_window){0, 0};
    }
    res->scrapes_failed = r->scrapes_failed;
}

static int run_body(struct run *r, struct pipeline_result *res, char *err,
                    size_t errlen)
{
    const struct pipeline_config *cfg = r->cfg;
    int64_t deadline =
        mono_ns() +
        ((int64_t)cfg->timeout_ms + (int64_t)cfg->duration_ms) * 1000000;
    int rc;

    if (prepare(r, err, errlen) < 0)
        return -EIO;
    if (strcmp(cfg->transport, "kafka") == 0) {
        if (cfg->brokers)
            snprintf(r->brokers, sizeof r->brokers, "%s", cfg->brokers);
        else if (start_broker(r, err, errlen) < 0)
            return pipeline_signal ? -EINTR : -EIO;
    }
    if (cfg->metrics && cfg->scrape_fn &&
        !(r->scraper = scraper_create(r->eps, r->neps, cfg->scrape_interval_ms,
                                      100, cfg->scrape_fn, cfg->scrape_ctx))) {
        snprintf(err, errlen, "cannot start the metrics scraper");
        return -EIO;
    }
    if ((rc = start_stages(r, deadline, err, errlen)) < 0)
        return rc;
    close(r->result_wr);
    r->result_wr = -1;
    if ((rc = watch(r, deadline, err, errlen)) < 0)
        return rc;
    if ((rc = make_result(r, res, err, errlen)) < 0)
        return rc;
    fill_observability(r, res);
    return 0;
}

int pipeline_run(const struct pipeline_config *cfg, struct pipeline_result *res,
                 char *err, size_t errlen)
{
    struct run r = {.cfg = cfg,
                    .broker = -1,
                    .result_rd = -1,
                    .result_wr = -1,
                    .ready_rd = -1,
                    .ready_wr = -1};
    struct sigaction sa, old_int, old_term;
    int rc;

    for (int i = 0; i < PIPELINE_MAX_STAGES; i++)
        r.metrics_fd[i] = -1;
    if (check_config(cfg, err, errlen) < 0)
        return -EINVAL;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    pipeline_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = run_body(&r, res, err, errlen);
    stop_all(&r, rc == 0);
    if (r.result_rd >= 0)
        close(r.result_rd);
    if (r.result_wr >= 0)
        close(r.result_wr);
    if (r.ready_rd >= 0)
        close(r.ready_rd);
    if (r.ready_wr >= 0)
        close(r.ready_wr);
    free(r.result);
    scraper_destroy(r.scraper);
    for (int i = 0; i < PIPELINE_MAX_STAGES; i++)
        if (r.metrics_fd[i] >= 0)
            close(r.metrics_fd[i]);
    stage_board_unmap(r.board);
    if (r.dir[0])
        remove_dir(r.dir);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

int pipeline_stage_exec_main(const struct pipeline_config *cfg,
                             const struct pipeline_stage_args *a, char *err,
                             size_t errlen)
{
    struct stage_env env = {
        .cfg = cfg,
        .dir = a->dir,
        .brokers = a->brokers,
        .run_id = a->run_id,
        .result_fd = a->result_fd,
        .ready_fd = a->ready_fd,
        .process_clock = true,
        .metrics_fd = a->metrics_fd,
    };

    if (stage_parse_name(a->stage, cfg->tp, &env.kind, &env.rank) < 0) {
        snprintf(err, errlen, "no stage '%s'", a->stage);
        return -1;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    stage_install_signals();
    return stage_main(&env, err, errlen);
}
