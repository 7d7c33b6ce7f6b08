/* signal_roles: what a metric column means to root cause analysis, from
 * its name. The LLM-aware method (src/rca/methods/llm.c) reads each column
 * "<service>_<metric>" through a role: which direction of change is bad
 * (a rise in latency, a drop in tokens/s or SM clock), whether a change in
 * it points at the service itself (a cause: CPU, memory, SM clock, the
 * inbound hop) or may be an effect passed along the call path (a symptom:
 * latency, TTFT, throughput, queues), and whether a rise in it can be
 * explained by the same rise at a callee (latency).
 *
 * The mapping is a list of fnmatch(3) globs on the column's metric part
 * (the text after the first '_'), matched case-insensitively, first match
 * wins. The built-in list (rca_roles_create(); docs/RCA.md prints it)
 * covers the names of the skewscope testbed, vLLM, dcgm-exporter, rca-llm
 * and RCAEval's datasets; a user's file (rca_roles_load(), `--param
 * roles=FILE` of the llm method) comes before it, so its patterns win.
 *
 * File format, one entry per line, '#' to the end of a line is a comment:
 *     PATTERN ROLE [up|down|both]
 * PATTERN is a glob without spaces ("*frobs*", "ctn_gpu"); ROLE one of the
 * names below; the optional direction replaces the role's default. A bad
 * line is -RCA_E_INVAL with "FILE:LINE: what" in err.
 *
 * Flow: a case's column names -> rca_roles_match() -> llm.c's scoring.
 * Threads: a mapping is built by one thread, then may be read by any. */
#ifndef SKEWSCOPE_SIGNAL_ROLES_H
#define SKEWSCOPE_SIGNAL_ROLES_H

#include <stdbool.h>
#include <stddef.h>

/* The roles. Order is the documentation's; values are stable. */
enum rca_role {
    RCA_ROLE_OTHER = 0, /* matched by nothing: a weak symptom, any change */
    RCA_ROLE_CPU,       /* CPU time or usage */
    RCA_ROLE_MEM,       /* resident memory, working set */
    RCA_ROLE_LATENCY,   /* request latency (may include callees) */
    RCA_ROLE_NET,       /* network traffic: bytes, packets */
    RCA_ROLE_HOP,       /* inbound hop delay: network time into the service */
    RCA_ROLE_UTIL,      /* GPU utilisation */
    RCA_ROLE_CLOCK,     /* GPU SM clock, compute rate */
    RCA_ROLE_TOKENS,    /* tokens per second */
    RCA_ROLE_TTFT,      /* time to first token */
    RCA_ROLE_ITL,       /* inter-token latency, time per output token */
    RCA_ROLE_KV,        /* KV-cache usage */
    RCA_ROLE_WAITING,   /* requests waiting, queue length */
    RCA_ROLE_LOAD,      /* requests running, in flight */
    RCA_ROLE_WORK,      /* work done: requests handled per second */
    RCA_ROLE_ERROR,     /* errors, failed requests */
    RCA_ROLE_IGNORE,    /* not scored (identifiers, constants) */
    RCA_ROLE_COUNT /* the roles above are stable; new ones go before this */
};

/* Which change of a role's value is bad. */
enum rca_dir {
    RCA_DIR_UP = 1,   /* a rise (latency, CPU) */
    RCA_DIR_DOWN = 2, /* a drop (tokens/s, SM clock) */
    RCA_DIR_BOTH = 3, /* either */
};

struct rca_role_info {
    const char *name;  /* "cpu", "clock", ... as in files */
    enum rca_dir dir;  /* default direction */
    bool cause;        /* a change points at the service itself */
    bool explainable;  /* a rise explained by a callee's belongs to it */
    const char *about; /* one line for docs and messages */
    /* the smallest normal spread, as a share of the normal median's
     * magnitude: a change within it is noise; 0 means the method's
     * default (llm: 5%) */
    double floor;
};

/* The role's description (r < RCA_ROLE_COUNT), never NULL. */
const struct rca_role_info *rca_role_info(enum rca_role r);
/* The role named exactly `name` (case-insensitive), or -1. */
int rca_role_by_name(const char *name);
/* "up", "down", "both". */
const char *rca_dir_name(enum rca_dir d);

/* What one column gets. */
struct rca_role_match {
    enum rca_role role;
    enum rca_dir dir; /* the entry's direction, else the role's */
};

struct rca_roles;

/* The built-in mapping. Returns 0 with *out set or -RCA_E_NOMEM. */
int rca_roles_create(struct rca_roles **out);
void rca_roles_destroy(struct rca_roles *r);

/* Put the entries of buf[0..len) (the file format above; `name` labels
 * messages) before every entry r holds, in their file order. Returns 0,
 * -RCA_E_INVAL with "NAME:LINE: what" in err (no entry is added), or
 * -RCA_E_NOMEM. */
int rca_roles_parse(struct rca_roles *r, const char *name, const char *buf,
                    size_t len, char *err, size_t errlen);
/* The same from the file at path: -RCA_E_INPUT when it cannot be read. */
int rca_roles_load(struct rca_roles *r, const char *path, char *err,
                   size_t errlen);

/* The role of a metric (the column's text after its first '_'; a column
 * without '_' is matched whole). */
struct rca_role_match rca_roles_match(const struct rca_roles *r,
                                      const char *metric);

/* Entries in match order: *pattern, *role and *dir of entry i (< count).
 * For documentation (`docs/RCA.md`) and tests. */
size_t rca_roles_count(const struct rca_roles *r);
void rca_roles_entry(const struct rca_roles *r, size_t i, const char **pattern,
                     enum rca_role *role, enum rca_dir *dir);

#endif
