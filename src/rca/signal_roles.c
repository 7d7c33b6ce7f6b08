/* signal_roles: the metric-name -> role mapping of the LLM-aware method
 * (signal_roles.h). The built-in table below is the one docs/RCA.md
 * prints; a user's entries go before it. */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include "rca/signal_roles.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rca/rca.h"
#include "rca/rca_method.h"

static const struct rca_role_info roles[RCA_ROLE_COUNT] = {
    [RCA_ROLE_OTHER] = {"other", RCA_DIR_BOTH, false, false,
                        "matched by no pattern: a weak symptom", 0},
    /* CPU time per request on a shared host moves by tens of percent
     * with the other processes (caches, scheduling) and with which of
     * two tensor-parallel ranks waits for the other: a change below 30%
     * is noise; a competing process multiplies it */
    [RCA_ROLE_CPU] = {"cpu", RCA_DIR_UP, true, false, "CPU time or usage",
                      0.30},
    [RCA_ROLE_MEM] = {"mem", RCA_DIR_UP, true, false,
                      "resident memory, working set, GPU memory", 0},
    [RCA_ROLE_LATENCY] = {"latency", RCA_DIR_UP, false, true,
                          "request latency (callees' time included)", 0},
    [RCA_ROLE_NET] = {"net", RCA_DIR_BOTH, false, false,
                      "network traffic: bytes, packets", 0},
    [RCA_ROLE_HOP] = {"hop", RCA_DIR_UP, true, false,
                      "inbound hop: network time into the service", 0},
    [RCA_ROLE_UTIL] = {"util", RCA_DIR_BOTH, false, false, "GPU utilisation",
                       0},
    [RCA_ROLE_CLOCK] = {"clock", RCA_DIR_DOWN, true, false,
                        "GPU SM clock, compute rate", 0},
    [RCA_ROLE_TOKENS] = {"tokens", RCA_DIR_DOWN, false, false,
                         "tokens per second", 0},
    [RCA_ROLE_TTFT] = {"ttft", RCA_DIR_UP, false, false, "time to first token",
                       0},
    [RCA_ROLE_ITL] = {"itl", RCA_DIR_UP, false, false,
                      "inter-token latency, time per output token", 0},
    [RCA_ROLE_KV] = {"kv", RCA_DIR_UP, false, false, "KV-cache usage", 0},
    [RCA_ROLE_WAITING] = {"waiting", RCA_DIR_UP, false, false,
                          "requests waiting, queue length or time", 0},
    [RCA_ROLE_LOAD] = {"load", RCA_DIR_BOTH, false, false,
                       "requests running, in flight", 0},
    [RCA_ROLE_WORK] = {"work", RCA_DIR_DOWN, false, false,
                       "requests handled per second (divides CPU)", 0},
    [RCA_ROLE_ERROR] = {"error", RCA_DIR_UP, false, true,
                        "errors, failed or preempted requests", 0},
    [RCA_ROLE_IGNORE] = {"ignore", RCA_DIR_BOTH, false, false, "not scored", 0},
};

struct entry {
    const char *pattern; /* the built-in's, or owned (user entries) */
    enum rca_role role;
    enum rca_dir dir;
    bool owned;
};

/* The built-in mapping, first match wins. Testbed columns: cpu, mem,
 * net-rx, net-tx, latency, latency-hop, workload, running, waiting,
 * tokens, ttft, itl, kv, sm-clock, gpu-util. vLLM and DCGM names come
 * through when a table is built from their Prometheus series; rca-llm
 * writes ctn_cpu, ctn_memory, ctn_network, ctn_gpu and lat_90; RCAEval's
 * datasets cpu, mem, latency-50/90, workload and the like. */
#define R(pat, role)                                                           \
    {                                                                          \
        pat, RCA_ROLE_##role, 0, false                                         \
    }
#define RD(pat, role, dir)                                                     \
    {                                                                          \
        pat, RCA_ROLE_##role, RCA_DIR_##dir, false                             \
    }
static const struct entry builtin[] = {
    /* bookkeeping */
    R("*start_time*", IGNORE),
    R("*_info", IGNORE),
    /* LLM serving: vLLM, SGLang, the testbed */
    R("ttft", TTFT),
    R("*time_to_first_token*", TTFT),
    R("itl", ITL),
    R("*inter_token*", ITL),
    R("*time_per_output_token*", ITL),
    R("*tpot*", ITL),
    R("kv", KV),
    R("*kv_cache*", KV),
    R("*cache_usage*", KV),
    R("*token_usage*", KV),
    R("*waiting*", WAITING),
    R("*queue*", WAITING),
    R("*preempt*", ERROR),
    R("*tokens*", TOKENS),
    R("*throughput*", TOKENS),
    /* GPU: dcgm-exporter, the testbed's stand-ins, rca-llm */
    RD("*throttle*", CLOCK, UP),
    RD("*clocks_event*", CLOCK, UP),
    R("*sm-clock*", CLOCK),
    R("*sm_clock*", CLOCK),
    R("*clock*", CLOCK),
    R("*gpu-util*", UTIL),
    R("*gpu_util*", UTIL),
    R("*sm_active*", UTIL),
    R("*engine_active*", UTIL),
    R("*engine_busy*", UTIL),
    R("*ctn_gpu*", UTIL),
    R("*fb_used*", MEM),
    /* hops and latency */
    R("*net-delay*", HOP),
    R("*network_delay*", HOP),
    R("*_rtt*", HOP),
    R("*latency-hop*", WAITING), /* the hop and queueing at the stage */
    R("*inbound_hop*", WAITING),
    R("*latency*", LATENCY),
    R("lat_*", LATENCY),
    R("*duration*", LATENCY),
    R("*response_time*", LATENCY),
    /* resources */
    R("*cpu*", CPU),
    R("*mem*", MEM),
    R("*rss*", MEM),
    R("*resident*", MEM),
    R("*working_set*", MEM),
    R("*net*", NET),
    R("*receive*", NET),
    R("*transmit*", NET),
    R("*packet*", NET),
    R("*socket*", NET),
    R("*bytes*", NET),
    /* errors and load */
    R("*error*", ERROR),
    R("*fail*", ERROR),
    R("*5xx*", ERROR),
    R("*running*", LOAD),
    R("*workload*", WORK),
    R("*qps*", WORK),
    R("*rps*", WORK),
    R("*request_rate*", WORK),
    R("*request*", LOAD),
};
#undef R
#undef RD
#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))

struct rca_roles {
    struct entry *e;
    size_t n;
};

const struct rca_role_info *rca_role_info(enum rca_role r)
{
    return &roles[(unsigned)r < RCA_ROLE_COUNT ? r : RCA_ROLE_OTHER];
}

int rca_role_by_name(const char *name)
{
    for (int r = 0; name && r < RCA_ROLE_COUNT; r++)
        if (!strcasecmp(roles[r].name, name))
            return r;
    return -1;
}

const char *rca_dir_name(enum rca_dir d)
{
    return d == RCA_DIR_UP ? "up" : d == RCA_DIR_DOWN ? "down" : "both";
}

int rca_roles_create(struct rca_roles **out)
{
    struct rca_roles *r = calloc(1, sizeof *r);

    *out = NULL;
    if (!r || !(r->e = malloc(sizeof builtin))) {
        free(r);
        return -RCA_E_NOMEM;
    }
    memcpy(r->e, builtin, sizeof builtin);
    r->n = NBUILTIN;
    *out = r;
    return 0;
}

void rca_roles_destroy(struct rca_roles *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].owned)
            free((char *)r->e[i].pattern);
    free(r->e);
    free(r);
}

/* The next whitespace-separated word of the line [*p, end), '#' ending
 * the line; NULL when none. *len gets its length. */
static const char *word(const char **p, const char *end, size_t *len)
{
    const char *s = *p;

    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
        s++;
    if (s == end || *s == '#') {
        *p = end;
        return NULL;
    }
    const char *w = s;
    while (s < end && !isspace((unsigned char)*s) && *s != '#')
        s++;
    *len = (size_t)(s - w);
    *p = s;
    return w;
}

/* One line's entry into *e (pattern allocated). 0 = an entry, 1 = a
 * blank or comment line, -RCA_E_INVAL with the reason in why, or
 * -RCA_E_NOMEM. */
static int parse_line(const char *s, const char *end, struct entry *e,
                      char *why, size_t whylen)
{
    const char *w[4];
    size_t len[4] = {0}, n = 0;
    char buf[16];

    while (n < 4 && (w[n] = word(&s, end, &len[n])) != NULL)
        n++;
    if (n == 0)
        return 1;
    if (n < 2 || n > 3) {
        snprintf(why, whylen, "expected PATTERN ROLE [up|down|both]");
        return -RCA_E_INVAL;
    }
    snprintf(buf, sizeof buf, "%.*s", (int)(len[1] < 15 ? len[1] : 15), w[1]);
    int role = len[1] < 15 ? rca_role_by_name(buf) : -1;
    if (role < 0) {
        snprintf(why, whylen,
                 "unknown role '%.*s' (one of cpu, mem, "
                 "latency, net, hop, util, clock, tokens, ttft, itl, kv, "
                 "waiting, load, work, error, other, ignore)",
                 (int)len[1], w[1]);
        return -RCA_E_INVAL;
    }
    e->dir = 0;
    if (n == 3) {
        snprintf(buf, sizeof buf, "%.*s", (int)(len[2] < 15 ? len[2] : 15),
                 w[2]);
        e->dir = !strcasecmp(buf, "up")     ? RCA_DIR_UP
                 : !strcasecmp(buf, "down") ? RCA_DIR_DOWN
                 : !strcasecmp(buf, "both") ? RCA_DIR_BOTH
                                            : 0;
        if (!e->dir || len[2] >= 15) {
            snprintf(why, whylen,
                     "direction '%.*s' is none of up, down, "
                     "both",
                     (int)len[2], w[2]);
            return -RCA_E_INVAL;
        }
    }
    e->role = (enum rca_role)role;
    e->owned = true;
    if (!(e->pattern = strndup(w[0], len[0])))
        return -RCA_E_NOMEM;
    return 0;
}

int rca_roles_parse(struct rca_roles *r, const char *name, const char *buf,
                    size_t len, char *err, size_t errlen)
{
    struct entry *add = NULL;
    size_t nadd = 0, cap = 0, line = 0;
    const char *p = buf, *end = buf + len;
    int rc = 0;

    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        char why[200];
        struct entry e;

        line++;
        if (memchr(p, '\0', (size_t)(eol - p))) {
            snprintf(err, errlen, "%s:%zu: a NUL byte", name, line);
            rc = -RCA_E_INVAL;
            break;
        }
        int k = parse_line(p, eol, &e, why, sizeof why);
        if (k == -RCA_E_INVAL) {
            snprintf(err, errlen, "%s:%zu: %s", name, line, why);
            rc = -RCA_E_INVAL;
        } else if (k < 0)
            rc = -RCA_E_NOMEM;
        else if (k == 0 && nadd == cap) {
            cap = cap ? cap * 2 : 8;
            struct entry *g = realloc(add, cap * sizeof *add);
            if (!g) {
                free((char *)e.pattern);
                rc = -RCA_E_NOMEM;
            } else
                add = g;
        }
        if (k == 0 && rc == 0)
            add[nadd++] = e;
        p = nl ? nl + 1 : end;
    }
    if (rc == 0 && nadd) {
        struct entry *all = malloc((nadd + r->n) * sizeof *all);
        if (!all)
            rc = -RCA_E_NOMEM;
        else {
            memcpy(all, add, nadd * sizeof *add);
            memcpy(all + nadd, r->e, r->n * sizeof *all);
            free(r->e);
            r->e = all;
            r->n += nadd;
            nadd = 0; /* owned by r now */
        }
    }
    for (size_t i = 0; i < nadd; i++)
        free((char *)add[i].pattern);
    free(add);
    if (rc == -RCA_E_NOMEM)
        snprintf(err, errlen, "%s: out of memory", name);
    return rc;
}

int rca_roles_load(struct rca_roles *r, const char *path, char *err,
                   size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    int rc;

    if (!f)
        return rca_fail(err, errlen, RCA_E_INPUT, path, "%s", strerror(errno));
    do {
        if (len + 4096 > cap) {
            char *g = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!g) {
                fclose(f);
                free(buf);
                return rca_fail(err, errlen, RCA_E_NOMEM, path,
                                "out of memory");
            }
            buf = g;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    rc = ferror(f) ? rca_fail(err, errlen, RCA_E_INPUT, path, "read error")
                   : rca_roles_parse(r, path, buf, len, err, errlen);
    fclose(f);
    free(buf);
    return rc;
}

struct rca_role_match rca_roles_match(const struct rca_roles *r,
                                      const char *metric)
{
    struct rca_role_match m = {RCA_ROLE_OTHER, roles[RCA_ROLE_OTHER].dir};

    for (size_t i = 0; metric && i < r->n; i++)
        if (fnmatch(r->e[i].pattern, metric, FNM_CASEFOLD) == 0) {
            m.role = r->e[i].role;
            m.dir = r->e[i].dir ? r->e[i].dir : roles[m.role].dir;
            break;
        }
    return m;
}

size_t rca_roles_count(const struct rca_roles *r)
{
    return r->n;
}

void rca_roles_entry(const struct rca_roles *r, size_t i, const char **pattern,
                     enum rca_role *role, enum rca_dir *dir)
{
    *pattern = r->e[i].pattern;
    *role = r->e[i].role;
    *dir = r->e[i].dir ? r->e[i].dir : roles[r->e[i].role].dir;
}
