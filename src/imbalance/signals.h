/* signals: what a metric means to the imbalance detectors. The runbook's
 * `signals:` table (data, not code: runbook/runbook.yaml) maps metric-name
 * patterns of each engine (vLLM, SGLang, TGI, dcgm-exporter, node-exporter,
 * the collector, DPU/switch counters, the testbed) onto a signal role
 * ("requests_waiting", "pcie_width", ...); this module applies that table to
 * a series_store and puts every role's series on one time grid, one row of
 * values per unit (a rank, a replica, a NIC, a PCIe link): a panel.
 *
 * Flow: series_store (ingest/prom_*, dpu_counters, collect) + collectives
 * (traces) -> imb_panels_build() -> the detectors (imb_detector.h).
 *
 * Units. A series' unit is its entity, followed by "/<value>" for each of
 * the map entry's unit_labels the series carries ("node-a/eth0",
 * "dcgm/host1/0"). Series of one role that fall on one unit are combined
 * (the role's rule: sum for rates, max for gauges, pooled sums and counts
 * for histograms). A unit's base (for peer groups) is its name without its
 * last "/<x>" part, else without a trailing "-<digits>" ("decode-1" ->
 * "decode"); its rank is the value of the first rank label present (rank,
 * tp_rank, or the entry's rank_labels); its group the value of the first
 * group label present (tp_group, or the entry's group_labels).
 *
 * Values per row k (interval [t0 + k step, t0 + (k+1) step)): a gauge's
 * last sample (MAX for latency roles), a counter's per-second rate
 * (model/series: wrap and reset by series_counter_delta()), a histogram's
 * mean observation (increase of _sum / increase of _count); then times the
 * entry's scale. NaN = no data in that row.
 *
 * Threads: a panel set is built and read by one thread. Errors: negated
 * enum imb_status (imbalance.h). */
#ifndef SKEWSCOPE_IMB_SIGNALS_H
#define SKEWSCOPE_IMB_SIGNALS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct series_store;
struct imb_runbook;
struct imb_collectives;

/* Signal roles. Units of the values after alignment are in the comment. */
enum imb_role {
    IMB_ROLE_STEP_TIME = 0,  /* s per step (or per token on a rank) */
    IMB_ROLE_COLL_WAIT,      /* s waited in collectives per step */
    IMB_ROLE_BUSY,           /* busy share 0..1 */
    IMB_ROLE_SM_CLOCK,       /* MHz */
    IMB_ROLE_CLOCK_EVENTS,   /* clock-event (throttle) reason bits, != 0 */
    IMB_ROLE_CPU_PRESSURE,   /* share of time tasks waited for a CPU */
    IMB_ROLE_REQ_RUNNING,    /* requests */
    IMB_ROLE_REQ_WAITING,    /* requests */
    IMB_ROLE_KV_USAGE,       /* 0..1 */
    IMB_ROLE_TOKENS,         /* tokens/s */
    IMB_ROLE_PREEMPTIONS,    /* preemptions/s */
    IMB_ROLE_TTFT,           /* s */
    IMB_ROLE_ITL,            /* s */
    IMB_ROLE_NET_RX_BYTES,   /* bytes/s */
    IMB_ROLE_NET_TX_BYTES,   /* bytes/s */
    IMB_ROLE_NET_RETRANS,    /* segments/s */
    IMB_ROLE_NET_OUT_SEGS,   /* segments/s */
    IMB_ROLE_NET_CARRIER,    /* carrier changes/s */
    IMB_ROLE_NET_UP,         /* 1 up, 0 down */
    IMB_ROLE_NET_LATENCY,    /* s (max over the row) */
    IMB_ROLE_NET_ECN,        /* ECN-marked packets/s */
    IMB_ROLE_NET_PAUSE,      /* PFC pause frames/s */
    IMB_ROLE_NET_DROPS,      /* dropped packets/s */
    IMB_ROLE_PCIE_TX_BYTES,  /* bytes/s, device to host */
    IMB_ROLE_PCIE_RX_BYTES,  /* bytes/s, host to device */
    IMB_ROLE_PCIE_WIDTH,     /* lanes */
    IMB_ROLE_PCIE_WIDTH_MAX, /* lanes */
    IMB_ROLE_PCIE_SPEED,     /* GT/s per lane */
    IMB_ROLE_PCIE_SPEED_MAX, /* GT/s per lane */
    IMB_ROLE_PCIE_CAPACITY,  /* bytes/s per direction */
    IMB_ROLE_PCIE_AER,       /* AER errors/s */
    IMB_ROLE_PCIE_REPLAY,    /* replays/s */
    /* derived from traces (collectives.h), never from the map */
    IMB_ROLE_COLL_LATENESS,     /* s after the first arrival, one clock */
    IMB_ROLE_COLL_LATENESS_RAW, /* the same on the ranks' own clocks */
    IMB_ROLE_COLL_PERIOD,       /* s between a group's collectives */
    IMB_ROLE_TRACE_PREFILL,     /* prefill spans started per s */
    IMB_NROLES,
};

/* First role the runbook may not name (the derived ones). */
#define IMB_NMAPPED_ROLES IMB_ROLE_COLL_LATENESS

/* Name of a role as the runbook spells it ("requests_waiting"), and the
 * reverse (-1 when unknown, or when derived and !derived_ok). */
const char *imb_role_name(enum imb_role r);
int imb_role_find(const char *name, bool derived_ok);
/* Unit of a role's values for reports ("s", "bytes/s", "share"). */
const char *imb_role_unit(enum imb_role r);

/* One unit of a panel. Strings are owned by the panel set. */
struct imb_unit {
    const char *name;   /* "decode-1", "node-a/eth0" */
    const char *entity; /* the series' entity */
    const char *base;   /* peer-group name (see above) */
    const char *rank;   /* rank label value, or NULL */
    const char *group;  /* group label value, or NULL */
    const char *pp;     /* pp_rank label value, or NULL */
    bool suffixed;      /* the name had a "/<x>" or "-<digits>" part */
};

/* One role: nunits rows of nrows values, v[u * nrows + k]. */
struct imb_panel {
    size_t nunits;
    struct imb_unit *units;
    double *v;
};

struct imb_panels {
    int64_t t0_ns;   /* start of row 0, Unix ns (a multiple of step) */
    int64_t step_ns; /* > 0 */
    size_t nrows;
    struct imb_panel role[IMB_NROLES];
    /* series matched per role (for reports) */
    size_t nseries[IMB_NROLES];
    void *pool; /* strings */
};

/* Build panels for rows covering [from_ns, to_ns) (both floored to the
 * step; from_ns INT64_MIN / to_ns INT64_MAX: the data's own span) from the
 * store through rb's signals table, plus the trace-derived roles from
 * coll (NULL: none). *out is overwritten; free it with
 * imb_panels_free() whatever the result. Returns 0, or -IMB_E_NOMEM, or
 * -IMB_E_INVAL (step <= 0, a grid over 10 million rows). A store without
 * any matching series gives nrows 0 (or the span of coll). */
int imb_panels_build(const struct series_store *s,
                     const struct imb_collectives *coll,
                     const struct imb_runbook *rb, int64_t step_ns,
                     int64_t from_ns, int64_t to_ns, struct imb_panels *out);
void imb_panels_free(struct imb_panels *p);

/* Value of unit u of role r at row k (NaN when out of range). */
static inline double imb_val(const struct imb_panels *p, enum imb_role r,
                             size_t u, size_t k)
{
    const struct imb_panel *pn = &p->role[r];

    return u < pn->nunits && k < p->nrows ? pn->v[u * p->nrows + k] : NAN;
}
/* Row k of unit u of role r (nrows values). */
static inline const double *imb_row(const struct imb_panels *p, enum imb_role r,
                                    size_t u)
{
    return p->role[r].v + u * p->nrows;
}
/* Index of the unit called name in role r, or -1. */
int imb_panel_find(const struct imb_panels *p, enum imb_role r,
                   const char *name);
/* Row of time t_ns, or -1 when outside the grid. */
int64_t imb_panels_row(const struct imb_panels *p, int64_t t_ns);

/* The unit rules, exported for the trace side and tests: the base of a
 * unit name (into buf, NUL-terminated) and whether it had a suffix. */
bool imb_unit_base(const char *name, char *buf, size_t n);

#endif
