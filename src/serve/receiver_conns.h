/* receiver_conns: the deadlines of the receiver's HTTP connections.
 *
 * libmicrohttpd's own connection timeout is an idle timeout: a client that
 * sends one byte every few seconds never trips it, and a few hundred such
 * clients hold every connection slot. This module keeps every open
 * connection with a deadline and a watchdog thread that shuts down (never
 * closes: the socket stays libmicrohttpd's) the socket of any connection
 * past its deadline, so that libmicrohttpd reads end-of-file and closes it.
 *
 * Deadlines, all on CLOCK_MONOTONIC:
 *   headers: a connection must deliver a request's headers within
 *            header_timeout of being accepted, or of the end of its
 *            previous request (then max(header_timeout, idle) so that a
 *            keep-alive connection is never cut shorter than the idle
 *            timeout);
 *   body:    a request body must arrive within body_timeout of the end of
 *            the headers plus one second per body_min_rate bytes received
 *            (Apache mod_reqtimeout's rule: a client that keeps up the
 *            minimum rate is never cut, one that trickles is);
 *   none:    while the request is being handled and answered (the idle
 *            timeout still applies), and while it waits, suspended, for an
 *            answer the handler gives later (RECEIVER_PENDING: the client
 *            waits on us, not we on it; libmicrohttpd stops the idle
 *            timeout of a suspended connection and restarts it on
 *            resumption). A suspended connection stays open and counts
 *            against the connection limits.
 *
 * Flow: receiver.c (libmicrohttpd callbacks) -> here; the watchdog ->
 * shutdown(2) -> libmicrohttpd closes the connection -> receiver.c ->
 * receiver_conns_close().
 *
 * Threads: create/destroy by the receiver's owner thread; every other
 * function from libmicrohttpd's threads, for a connection that is open
 * (between receiver_conns_open() and receiver_conns_close()), several
 * connections at once. The watchdog holds the table's lock while it shuts a
 * socket down and receiver_conns_close() takes it, and libmicrohttpd calls
 * the close notification before it closes the socket: so a socket number
 * is never shut down after it was reused. */
#ifndef SKEWSCOPE_RECEIVER_CONNS_H
#define SKEWSCOPE_RECEIVER_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct receiver_conns;
struct receiver_conn;

struct receiver_conns_config {
    int64_t header_timeout_ns; /* > 0 */
    int64_t body_timeout_ns;   /* > 0 */
    int64_t idle_timeout_ns;   /* > 0: libmicrohttpd's idle timeout */
    uint64_t body_min_rate;    /* bytes/s that extend the body deadline;
                                  0 = no extension */
};

/* Counts since create (monotonic) and connections open now. */
struct receiver_conns_counters {
    uint64_t open;             /* now */
    uint64_t opened;           /* accepted in all */
    uint64_t timed_out_header; /* shut down in the header phase */
    uint64_t timed_out_body;   /* shut down in the body phase */
};

/* Start the watchdog. NULL with a message in err when out of memory or
 * threads. */
struct receiver_conns *
receiver_conns_create(const struct receiver_conns_config *cfg, char *err,
                      size_t errlen);

/* Stop the watchdog and free the table; every connection must have been
 * closed (libmicrohttpd stopped). NULL is a no-op. */
void receiver_conns_destroy(struct receiver_conns *g);

/* A connection was accepted on socket fd: its header deadline starts now.
 * Returns its handle, or NULL when out of memory (the connection then has
 * no deadline but the idle timeout). */
struct receiver_conn *receiver_conns_open(struct receiver_conns *g, int fd);

/* The connection is about to be closed (its socket still open). Frees c;
 * NULL is a no-op. */
void receiver_conns_close(struct receiver_conns *g, struct receiver_conn *c);

/* The request's headers are in and its body is to be read: the body
 * deadline starts now. */
void receiver_conns_body_begin(struct receiver_conns *g,
                               struct receiver_conn *c);

/* `total` body bytes have arrived so far: extends the deadline. Returns
 * false when the deadline has passed (the caller closes the connection). */
bool receiver_conns_body_progress(struct receiver_conns *g,
                                  struct receiver_conn *c, uint64_t total);

/* The request's headers are in and no body is expected (or the rest of
 * the body is ignored): no deadline while it is answered. */
void receiver_conns_handling(struct receiver_conns *g, struct receiver_conn *c);

/* The request was answered: the next request's header deadline starts. */
void receiver_conns_request_done(struct receiver_conns *g,
                                 struct receiver_conn *c);

/* Snapshot (each field read atomically). Any thread. */
void receiver_conns_counters_read(struct receiver_conns *g,
                                  struct receiver_conns_counters *out);

#endif
