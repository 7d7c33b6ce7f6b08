/* collectives: the collectives of tensor-parallel ranks as traces show
 * them, on one clock. Each rank records a span per collective call (the
 * testbed's "allreduce" spans: start = the rank's arrival, end = its
 * release, so the duration is how long it waited). The spans of one
 * collective are matched across ranks and every arrival is mapped to the
 * reference clock through the clock model (clock_model_to_reference():
 * offset = domain clock - reference clock, positive = ahead) before the
 * ranks are compared: a rank whose clock is 3 ms ahead records arrivals
 * 3 ms "late" on its own clock, and arrives on time on the reference one.
 *
 * Matching (span names are not in the span model, so the rule is
 * structural): a collective span is a leaf INTERNAL span (no span in the
 * store names it as parent). Within one trace, each domain's leaf INTERNAL
 * spans are taken in start order; domains with the same number of them
 * form a candidate group, and their k-th spans a candidate collective. A
 * candidate is a collective when its spans overlap on the reference clock
 * (latest start <= earliest end + tolerance): ranks meet in a collective,
 * stages of a pipeline do not. A group is kept when at least half of its
 * candidates are collectives.
 *
 * Flow: traces (ingest) -> span_store -> estimate / --offsets ->
 * clock_model -> imb_collectives -> signals (lateness, wait, period
 * panels) -> tp_straggler.
 *
 * Threads: one thread builds and reads a set. Errors: negated imb_status. */
#ifndef SKEWSCOPE_IMB_COLLECTIVES_H
#define SKEWSCOPE_IMB_COLLECTIVES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct span_store;
struct clock_model;
struct imb_panels;

/* One rank's part of a collective. Times in Unix ns. */
struct imb_coll_member {
    uint32_t rank;         /* index into the set's rank names */
    int64_t arrive_ns;     /* arrival on the reference clock */
    int64_t arrive_raw_ns; /* arrival as the rank's clock read it */
    int64_t wait_ns;       /* end - start on the rank's own clock (>= 0) */
};

struct imb_collective {
    uint32_t group; /* index into the set's group names */
    size_t first;   /* members first .. first + n - 1 */
    uint32_t n;
    int64_t t_ns;      /* earliest arrival (reference clock) */
    int64_t period_ns; /* since the group's previous collective in the same
                          trace, -1 for the first */
};

struct imb_collectives {
    char **ranks; /* rank (domain) names */
    size_t nranks;
    char **groups; /* "decode-0,decode-1" */
    size_t ngroups;
    struct imb_collective *v;
    size_t n;
    struct imb_coll_member *m;
    size_t nm;
    int64_t *prefill_ns; /* start times (reference clock) of spans in
                            domains whose name contains "prefill" */
    size_t nprefill;
    size_t cap_v, cap_m, cap_p;
};

/* An empty set, or NULL. */
struct imb_collectives *imb_collectives_create(void);
void imb_collectives_destroy(struct imb_collectives *c);

/* Find the collectives in s (indexed: span_store_index()) with clock model
 * m (NULL: every clock taken as the reference, i.e. no correction),
 * overlap tolerance tol_ns. Appends to c. Returns the number of
 * collectives found (>= 0) or -IMB_E_NOMEM. */
int64_t imb_collectives_from_spans(struct imb_collectives *c,
                                   const struct span_store *s,
                                   const struct clock_model *m, int64_t tol_ns);

/* Append one collective (for tests and live feeds): n members with rank
 * names, arrivals on the reference clock and on the ranks' own clocks,
 * and waits; group names the rank group. Returns 0 or -IMB_E_NOMEM. */
int imb_collectives_add(struct imb_collectives *c, const char *group, size_t n,
                        const char *const *ranks, const int64_t *arrive_ns,
                        const int64_t *arrive_raw_ns, const int64_t *wait_ns,
                        int64_t period_ns);

/* Append one prefill span start (reference clock). */
int imb_collectives_add_prefill(struct imb_collectives *c, int64_t t_ns);

/* Earliest and latest time in the set; false when empty. */
bool imb_collectives_span(const struct imb_collectives *c, int64_t *t0_ns,
                          int64_t *t1_ns);

/* Fill the derived roles of p (its grid set, the metric roles built):
 * collective_lateness (and _raw), collective_period, the trace's
 * collective_wait for ranks without a wait metric, trace_prefill. A rank
 * named like a metric unit ("node-decode-1" ~ "decode-1": equal, or ending
 * in "-", "." or "/" + the unit's name) takes that unit's name. Returns 0
 * or -IMB_E_NOMEM. */
int imb_collectives_panels(const struct imb_collectives *c,
                           struct imb_panels *p);

#endif
