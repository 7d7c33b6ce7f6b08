/* serve_load's parts: what bench/serve_load.c (main, option helpers, dump,
 * free-port) and its companions in bench/serve_load/ share. body.c builds
 * the OTLP request bodies; send.c (the HTTP load generator), kafka.c
 * (producer, mock cluster, counting consumer) send them; keyset.c counts
 * distinct span keys for sink.c (the counting receiver) and kafka.c.
 * Private to the program; the options are documented at the top of
 * bench/serve_load.c. Everything here runs in one process; only the key
 * set is meant for several threads at once. */
#ifndef SERVE_LOAD_COMMON_H
#define SERVE_LOAD_COMMON_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct span_store;

#define MAX_DOMAINS 16
#define EXIT_USAGE 2

/* ---- small helpers (inline: the per-request paths use them) ---- */

static inline int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* murmur3's fmix32: a bijection on 32 bits. */
static inline uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    return x ^ (x >> 16);
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* ---- options and process helpers (serve_load.c) ---- */

/* Print "serve_load: " fmt (with arg) and a pointer to the usage comment
 * on stderr; returns EXIT_USAGE. */
int sl_usage_error(const char *fmt, const char *arg);

/* Decimal parsers: false (and *out unspecified) on anything but a whole,
 * in-range, non-negative number. */
bool sl_parse_u64(const char *s, uint64_t *out);
bool sl_parse_uint(const char *s, unsigned *out);
bool sl_parse_double(const char *s, double *out);

/* Option loop support: whether argv[*i] is `name`. If so, *val is its
 * value and *i moves past it, or *missing is set when there is none. */
bool sl_opt_is(int argc, char **argv, int *i, const char *name,
               const char **val, bool *missing);

/* Block SIGINT and SIGTERM (into *set) in this thread and the threads it
 * starts later, so that one sigwait() in main takes them; ignore SIGPIPE.
 * sl_stop_requested: whether one of them is pending (takes it). */
void sl_block_stop_signals(sigset_t *set);
bool sl_stop_requested(const sigset_t *set);

/* Write text to path atomically (path.tmp, then rename), so that a script
 * polling for the file never reads half of it. 0, or -1 on error. */
int sl_write_file_atomic(const char *path, const char *text);

/* ---- request bodies: one encoded template, patched per request (body.c) */

struct shape_opts {
    unsigned spans;           /* per request / message */
    unsigned domains;         /* clock domains, 1..MAX_DOMAINS */
    unsigned spans_per_trace; /* 0 = spans */
    int64_t skew_ns[MAX_DOMAINS];
};

struct tpl_span {
    uint32_t domain;
    int32_t parent; /* index in the request, -1 for a root */
    int kind;
    int64_t start_rel_ns, end_rel_ns; /* relative to the send time */
    /* Byte offsets in the body of the ID payloads and fixed64 times;
     * off_parent 0 = no parent. */
    uint32_t off_trace, off_span, off_parent, off_start, off_end;
};

struct body_tpl {
    uint8_t *buf; /* the encoded template (request number 0) */
    size_t len;
    struct tpl_span *spans;
    size_t nspans;
    uint64_t nonce; /* first 8 bytes of every trace ID */
    int64_t skew_ns[MAX_DOMAINS];
};

/* Build the template for o (a fresh nonce, times relative to now) into
 * *t; 0, or -1 (out of memory, encoding failed) with *t empty. Release
 * with sl_tpl_destroy. */
int sl_tpl_build(struct body_tpl *t, const struct shape_opts *o);
void sl_tpl_destroy(struct body_tpl *t);

/* Make buf (a copy of t->buf, t->len bytes) request number n, sent at
 * now_ns (CLOCK_REALTIME, ns): IDs carry mix32(n), times are now + the
 * span's offset + its domain's skew. Thread-safe for distinct bufs. */
void sl_body_patch(uint8_t *buf, const struct body_tpl *t, uint32_t n,
                   int64_t now_ns);

/* Parse a shape option at argv[*i] (--spans-per-request/-message,
 * --domains, --spans-per-trace, --skew-ns): 1 = taken, 0 = not a shape
 * option, <0 = bad (-EXIT_USAGE, message printed). */
int sl_shape_option(int argc, char **argv, int *i, struct shape_opts *o);
/* 0 when o is in range, else EXIT_USAGE (message printed). */
int sl_shape_check(const struct shape_opts *o);
/* One line on stderr describing the body (per = spans per trace). */
void sl_tpl_print(const struct body_tpl *t, const struct shape_opts *o,
                  unsigned per);

/* ---- span key set: distinct (trace ID, span ID) (keyset.c) ----
 * Sharded by hash, one lock per shard, so that HTTP threads rarely wait
 * for each other and a growing table rehashes 1/64 of the keys at a time.
 * All functions but init and free are thread-safe. */

#define KEY_SHARDS 64

struct span_key {
    uint64_t hi, lo, span; /* trace ID halves (big-endian), span ID */
};

struct key_shard {
    pthread_mutex_t mu;
    struct span_key *slots; /* all-zero = empty */
    size_t cap, count;      /* cap a power of two, count <= cap / 2 */
    uint64_t duplicates;
};

struct key_set {
    struct key_shard shard[KEY_SHARDS];
    _Atomic uint64_t spans, zero_ids;
    atomic_bool nomem; /* a key was not stored: counts are low */
};

void sl_key_set_init(struct key_set *s);
void sl_key_set_free(struct key_set *s);
/* Size the table for n keys up front (growing a table stalls the HTTP
 * threads that wait for its shard); 0, or -1 out of memory. */
int sl_key_set_reserve(struct key_set *s, uint64_t n);
/* Count every span of st. */
void sl_key_set_add_store(struct key_set *s, const struct span_store *st);
/* Distinct keys so far. */
uint64_t sl_key_set_unique(struct key_set *s);
/* "spans=N unique=U duplicates=D\n" into buf; returns its length (as
 * snprintf). Spans with all-zero IDs count in spans only. */
int sl_key_set_line(struct key_set *s, char *buf, size_t len);

/* ---- options of kafka-produce, kafka-mock, kafka-count, dump ---- */

struct kafka_opts {
    const char *brokers, *topic, *group, *port_file, *out;
    uint64_t messages, expect;
    unsigned partitions;
    double idle_s, rate;
    struct shape_opts shape;
};

/* Parse argv[2..] into *o (its defaults set by the caller); 0, or
 * EXIT_USAGE (message printed). In kafka.c. */
int sl_kafka_parse(int argc, char **argv, struct kafka_opts *o);

/* ---- subcommands: argv as main's; return the exit code ---- */

int sl_cmd_send(int argc, char **argv);          /* send.c */
int sl_cmd_sink(int argc, char **argv);          /* sink.c */
int sl_cmd_kafka_produce(int argc, char **argv); /* kafka.c */
int sl_cmd_kafka_mock(int argc, char **argv);
int sl_cmd_kafka_count(int argc, char **argv);

#endif
