/* allreduce_zmq: the sum all-reduce that the tensor-parallel decode ranks
 * run after every layer of every step, over ZeroMQ between processes.
 *
 * Result: on every rank, buf becomes
 *     ((partial_0 + partial_1) + partial_2) + ... + partial_{N-1}
 * element by element, added in rank order starting from rank 0's buffer, in
 * IEEE single precision. Every rank gets the same bytes, equal to a loop
 * that adds the partials in that order in one process (the testbed's check
 * that tensor parallelism leaves the generated tokens unchanged relies on
 * it). Rank 0 gathers the partials (PULL), sums them and sends the result
 * back to each rank (a PUSH per rank).
 *
 * Addressing: base is a directory (or "ipc:///DIR"): rank r binds
 * ipc:///DIR/allreduce.<r>.sock, removed again when the rank is destroyed;
 * or "tcp://HOST:PORT": rank r binds tcp://HOST:(PORT + r).
 *
 * Threads and processes: one handle per rank, used by one thread. Each rank
 * usually lives in its own process; create the handle after fork(). */
#ifndef SKEWSCOPE_ALLREDUCE_ZMQ_H
#define SKEWSCOPE_ALLREDUCE_ZMQ_H

#include <stddef.h>

struct allreduce;

/* Join the all-reduce group as rank (0 <= rank < nranks, nranks >= 1).
 * Does not wait for the other ranks: they may start in any order. Returns
 * NULL and a message in err on a bad argument or a socket error. */
struct allreduce *allreduce_create(const char *base, unsigned rank,
                                   unsigned nranks, char *err, size_t errlen);

/* How long allreduce_sum() waits for the other ranks before it gives up
 * (default 10000 ms; -1 waits forever). */
void allreduce_set_timeout_ms(struct allreduce *ar, int timeout_ms);

/* Replace buf[0..n) with the sum over all ranks (see above). Every rank must
 * call it the same number of times with the same n. ctx is the struct
 * allreduce (the signature fits int (*)(void *, float *, size_t) callbacks).
 * Returns 0; -EINVAL when ranks disagree on n or the call sequence;
 * -ETIMEDOUT when a rank did not answer in time (buf is then unspecified
 * and the group unusable); -EIO on a socket error. */
int allreduce_sum(void *ctx, float *buf, size_t n);

/* The last error message ("" when none); owned by ar. */
const char *allreduce_errstr(const struct allreduce *ar);

/* Leave and free ar. Results still on their way to other ranks get up to
 * one second to be delivered (a rank that exits right after its last
 * allreduce_sum() must not starve the others). NULL is a no-op. */
void allreduce_destroy(struct allreduce *ar);

#endif
