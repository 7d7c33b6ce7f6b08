/* allreduce_zmq: sum all-reduce over ZeroMQ for the testbed's
 * tensor-parallel decode ranks. Rank 0 is the root: every other rank PUSHes
 * its partial to rank 0's PULL socket; rank 0 adds them in rank order and
 * PUSHes the result to each rank's PULL socket. A message is two frames: a
 * struct ar_hdr, then n floats in host byte order (the ranks share a
 * machine). The root adds in a fixed order whatever order the partials
 * arrive in, which is what makes the result reproducible bit for bit. */
#include "testbed/allreduce_zmq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#define AR_ENDPOINT_MAX 256
#define AR_LINGER_MS 1000

struct ar_hdr {
    uint32_t rank;
    uint32_t reserved;
    uint64_t seq; /* which call of allreduce_sum() */
    uint64_t n;   /* floats in the data frame */
};

struct allreduce {
    void *ctx;
    void *pull;  /* bound at this rank's endpoint */
    void **push; /* root: push[r] to rank r (r >= 1); others: push[0] */
    unsigned rank, nranks;
    uint64_t seq;
    int timeout_ms;
    float *parts; /* root: partials of ranks 1..nranks-1, n each */
    size_t parts_n;
    char ipc_dir[96]; /* or "" with tcp */
    char tcp_host[128];
    unsigned tcp_port;
    char err[256];
};

static int ar_fail(struct allreduce *ar, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ar_fail(struct allreduce *ar, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ar->err, sizeof ar->err, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- addressing ---- */

static int parse_base(struct allreduce *ar, const char *base)
{
    const char *colon;
    char *end;
    unsigned long port;

    if (strncmp(base, "tcp://", 6) != 0) {
        if (strncmp(base, "ipc://", 6) == 0)
            base += 6;
        if (base[0] == '\0' || strlen(base) > 80) /* sun_path is 108 */
            return -EINVAL;
        snprintf(ar->ipc_dir, sizeof ar->ipc_dir, "%s", base);
        return 0;
    }
    colon = strrchr(base, ':');
    port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || colon < base + 6 || *end != '\0' || port == 0 ||
        port + ar->nranks > 65536)
        return -EINVAL;
    snprintf(ar->tcp_host, sizeof ar->tcp_host, "%.*s", (int)(colon - base),
             base);
    ar->tcp_port = (unsigned)port;
    return 0;
}

static void endpoint_of(const struct allreduce *ar, unsigned rank,
                        char out[AR_ENDPOINT_MAX])
{
    if (ar->ipc_dir[0])
        snprintf(out, AR_ENDPOINT_MAX, "ipc://%s/allreduce.%u.sock",
                 ar->ipc_dir, rank);
    else
        snprintf(out, AR_ENDPOINT_MAX, "%s:%u", ar->tcp_host,
                 ar->tcp_port + rank);
}

/* ---- create / destroy ---- */

static void *new_socket(struct allreduce *ar, int type)
{
    void *s = zmq_socket(ar->ctx, type);
    int linger = type == ZMQ_PUSH ? AR_LINGER_MS : 0;

    if (!s)
        return NULL;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &ar->timeout_ms, sizeof ar->timeout_ms);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &ar->timeout_ms, sizeof ar->timeout_ms);
    return s;
}

static int connect_push(struct allreduce *ar, size_t slot, unsigned to)
{
    char ep[AR_ENDPOINT_MAX];

    endpoint_of(ar, to, ep);
    ar->push[slot] = new_socket(ar, ZMQ_PUSH);
    if (!ar->push[slot] || zmq_connect(ar->push[slot], ep) != 0)
        return ar_fail(ar, -EIO, "allreduce: connect %s: %s", ep,
                       zmq_strerror(zmq_errno()));
    return 0;
}

static int open_sockets(struct allreduce *ar)
{
    char ep[AR_ENDPOINT_MAX];
    int rc = 0;

    endpoint_of(ar, ar->rank, ep);
    ar->pull = new_socket(ar, ZMQ_PULL);
    if (!ar->pull || zmq_bind(ar->pull, ep) != 0)
        return ar_fail(ar, -EIO, "allreduce: bind %s: %s", ep,
                       zmq_strerror(zmq_errno()));
    if (ar->rank != 0)
        return connect_push(ar, 0, 0);
    for (unsigned r = 1; r < ar->nranks && rc == 0; r++)
        rc = connect_push(ar, r, r);
    return rc;
}

struct allreduce *allreduce_create(const char *base, unsigned rank,
                                   unsigned nranks, char *err, size_t errlen)
{
    struct allreduce *ar = calloc(1, sizeof *ar);

    if (!ar) {
        snprintf(err, errlen, "allreduce: out of memory");
        return NULL;
    }
    ar->rank = rank;
    ar->nranks = nranks;
    ar->timeout_ms = 10000;
    if (!base || nranks == 0 || rank >= nranks || parse_base(ar, base) < 0) {
        ar_fail(ar, -EINVAL,
                "allreduce: need rank < nranks and a base of DIR (under 80 "
                "bytes), ipc://DIR or tcp://HOST:PORT");
        goto fail;
    }
    ar->ctx = zmq_ctx_new();
    ar->push = calloc(nranks, sizeof *ar->push);
    if (!ar->ctx || !ar->push) {
        ar_fail(ar, -ENOMEM, "allreduce: out of memory");
        goto fail;
    }
    if (open_sockets(ar) < 0)
        goto fail;
    return ar;
fail:
    snprintf(err, errlen, "%s", ar->err);
    allreduce_destroy(ar);
    return NULL;
}

void allreduce_set_timeout_ms(struct allreduce *ar, int timeout_ms)
{
    ar->timeout_ms = timeout_ms;
    if (ar->pull)
        zmq_setsockopt(ar->pull, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    for (unsigned r = 0; r < ar->nranks; r++)
        if (ar->push[r])
            zmq_setsockopt(ar->push[r], ZMQ_SNDTIMEO, &timeout_ms,
                           sizeof timeout_ms);
}

const char *allreduce_errstr(const struct allreduce *ar)
{
    return ar->err;
}

void allreduce_destroy(struct allreduce *ar)
{
    if (!ar)
        return;
    for (unsigned r = 0; ar->push && r < ar->nranks; r++)
        if (ar->push[r])
            zmq_close(ar->push[r]);
    if (ar->pull) {
        char ep[AR_ENDPOINT_MAX];
        zmq_close(ar->pull);
        /* libzmq 4.3 leaves the socket file of a bound ipc endpoint. */
        endpoint_of(ar, ar->rank, ep);
        if (ar->ipc_dir[0])
            unlink(ep + 6);
    }
    if (ar->ctx)
        zmq_ctx_term(ar->ctx); /* waits up to AR_LINGER_MS for the pushes */
    free(ar->push);
    free(ar->parts);
    free(ar);
}

/* ---- the exchange ---- */

static int io_error(struct allreduce *ar, const char *what)
{
    int e = zmq_errno();

    return ar_fail(ar, e == EAGAIN ? -ETIMEDOUT : -EIO,
                   "allreduce: rank %u: %s: %s", ar->rank, what,
                   e == EAGAIN ? "timed out waiting for the other ranks"
                               : zmq_strerror(e));
}

static int send_buf(struct allreduce *ar, void *sock, const float *buf,
                    size_t n)
{
    struct ar_hdr h = {.rank = ar->rank, .seq = ar->seq, .n = n};

    if (zmq_send(sock, &h, sizeof h, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, buf, n * sizeof *buf, 0) < 0)
        return io_error(ar, "send");
    return 0;
}

/* Receive one message of call ar->seq with n floats. On success the data
 * frame is left in *data (the caller copies and closes it). */
static int recv_msg(struct allreduce *ar, size_t n, zmq_msg_t *data,
                    unsigned *from)
{
    struct ar_hdr h;

    zmq_msg_init(data);
    if (zmq_recv(ar->pull, &h, sizeof h, 0) < 0 ||
        zmq_msg_recv(data, ar->pull, 0) < 0) {
        zmq_msg_close(data);
        return io_error(ar, "receive");
    }
    if (h.seq != ar->seq || h.n != n || h.rank >= ar->nranks ||
        h.rank == ar->rank || zmq_msg_size(data) != n * sizeof(float)) {
        zmq_msg_close(data);
        return ar_fail(ar, -EINVAL,
                       "allreduce: rank %u: call %llu with %zu floats got "
                       "call %llu with %llu floats from rank %u",
                       ar->rank, (unsigned long long)ar->seq, n,
                       (unsigned long long)h.seq, (unsigned long long)h.n,
                       h.rank);
    }
    *from = h.rank;
    return 0;
}

static int ensure_parts(struct allreduce *ar, size_t n)
{
    float *p;

    if (ar->parts_n >= n)
        return 0;
    p = realloc(ar->parts, (ar->nranks - 1) * n * sizeof *p);
    if (!p)
        return ar_fail(ar, -ENOMEM, "allreduce: out of memory");
    ar->parts = p;
    ar->parts_n = n;
    return 0;
}

/* Root: collect the partials of ranks 1..nranks-1 (they arrive in any
 * order) into parts[rank - 1]. Each rank sends one per call and then waits
 * for the result, so within one call no rank can send twice. */
static int root_gather(struct allreduce *ar, size_t n)
{
    int rc = ensure_parts(ar, n);

    for (unsigned got = 1; rc == 0 && got < ar->nranks; got++) {
        zmq_msg_t data;
        unsigned from;
        rc = recv_msg(ar, n, &data, &from);
        if (rc < 0)
            break;
        if (n)
            memcpy(ar->parts + (size_t)(from - 1) * n, zmq_msg_data(&data),
                   n * sizeof(float));
        zmq_msg_close(&data);
    }
    return rc;
}

/* Root: buf holds partial_0; add the others in rank order, send it back. */
static int root_reduce(struct allreduce *ar, float *buf, size_t n)
{
    int rc = root_gather(ar, n);

    for (unsigned r = 1; rc == 0 && r < ar->nranks; r++) {
        const float *p = ar->parts + (size_t)(r - 1) * n;
        for (size_t i = 0; i < n; i++)
            buf[i] += p[i];
    }
    for (unsigned r = 1; rc == 0 && r < ar->nranks; r++)
        rc = send_buf(ar, ar->push[r], buf, n);
    return rc;
}

static int leaf_reduce(struct allreduce *ar, float *buf, size_t n)
{
    zmq_msg_t data;
    unsigned from;
    int rc = send_buf(ar, ar->push[0], buf, n);

    if (rc == 0)
        rc = recv_msg(ar, n, &data, &from);
    if (rc < 0)
        return rc;
    if (from != 0) {
        rc = ar_fail(ar, -EINVAL, "allreduce: rank %u: result from rank %u",
                     ar->rank, from);
    } else if (n) {
        memcpy(buf, zmq_msg_data(&data), n * sizeof(float));
    }
    zmq_msg_close(&data);
    return rc;
}

int allreduce_sum(void *ctx, float *buf, size_t n)
{
    struct allreduce *ar = ctx;
    int rc;

    ar->err[0] = '\0';
    if (ar->nranks == 1)
        return 0;
    rc = ar->rank == 0 ? root_reduce(ar, buf, n) : leaf_reduce(ar, buf, n);
    ar->seq++;
    return rc;
}
