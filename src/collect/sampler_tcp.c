/* sampler_tcp: TCP and UDP counters every tick: /proc/net/snmp (Tcp:,
 * Udp:) and /proc/net/netstat (TcpExt:, when present), the retransmits,
 * timeouts, listen-queue drops and receive-queue drops that a congested or
 * flapping east-west path shows first (TcpExt on slow ticks). Names are
 * node_exporter's netstat collector's (node_netstat_<Proto>_<Field>, shown
 * untyped as it does); the store keeps them as counters (CurrEstab: a gauge) of
 * the kernel's `unsigned long` width. The header line of each protocol maps
 * columns to families; the mapping is cached while the header stays the same.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/sampler.h"

#define U(proto, field, help, fl)                                              \
    {                                                                          \
        "node_netstat_" proto "_" field, help, SERIES_COUNTER,                 \
            COLLECT_T_UNTYPED, COLLECT_WRAP_ULONG, fl                          \
    }
/* TcpExt: /proc/net/netstat is long (a hundred-odd TcpExt fields, then
 * IpExt and MPTcpExt) and costs the kernel more to print than all the
 * other files together: it is read on slow ticks. */
#define X(field, help) U("TcpExt", field, help, COLLECT_F_SLOW)

static const struct collect_family fams[] = {
    U("Tcp", "ActiveOpens", "TCP connections opened actively", 0),
    U("Tcp", "PassiveOpens", "TCP connections accepted", 0),
    U("Tcp", "AttemptFails", "TCP connection attempts that failed", 0),
    U("Tcp", "EstabResets", "TCP connections reset when established", 0),
    {"node_netstat_Tcp_CurrEstab", "TCP connections established now",
     SERIES_GAUGE, COLLECT_T_UNTYPED, 0, 0},
    U("Tcp", "InSegs", "TCP segments received", COLLECT_F_PEAK),
    U("Tcp", "OutSegs", "TCP segments sent", COLLECT_F_PEAK),
    U("Tcp", "RetransSegs", "TCP segments retransmitted", COLLECT_F_PEAK),
    U("Tcp", "InErrs", "TCP segments received in error", 0),
    U("Tcp", "OutRsts", "TCP resets sent", 0),
    U("Tcp", "InCsumErrors", "TCP segments with a bad checksum", 0),
    U("Udp", "InDatagrams", "UDP datagrams received", 0),
    U("Udp", "NoPorts", "UDP datagrams to a port nobody listens on", 0),
    U("Udp", "InErrors", "UDP datagrams received in error", 0),
    U("Udp", "OutDatagrams", "UDP datagrams sent", 0),
    U("Udp", "RcvbufErrors", "UDP datagrams dropped: receive buffer full", 0),
    U("Udp", "SndbufErrors", "UDP datagrams dropped: send buffer full", 0),
    X("ListenOverflows", "SYNs dropped: accept queue full"),
    X("ListenDrops", "SYNs dropped at a listening socket"),
    X("TCPTimeouts", "TCP retransmission timeouts"),
    X("TCPLostRetransmit", "TCP retransmits lost again"),
    X("TCPFastRetrans", "TCP fast retransmits"),
    X("TCPSlowStartRetrans", "TCP retransmits in slow start"),
    X("TCPSynRetrans", "TCP SYN retransmits"),
    X("TCPRetransFail", "TCP retransmits that failed to send"),
    X("TCPLossProbes", "TCP tail loss probes sent"),
    X("TCPSpuriousRTOs", "TCP timeouts found spurious (F-RTO)"),
    X("TCPBacklogDrop", "TCP segments dropped: socket backlog full"),
    X("TCPOFOQueue", "TCP segments queued out of order"),
    X("TCPOFODrop", "TCP out-of-order segments dropped"),
    X("TCPRcvQDrop", "TCP segments dropped: receive queue full"),
    X("TCPZeroWindowDrop", "TCP segments dropped: zero window"),
    X("TCPAbortOnTimeout", "TCP connections aborted on timeout"),
    X("TCPMemoryPressures", "Times TCP entered memory pressure"),
};
#define NFAM (sizeof(fams) / sizeof(fams[0]))

/* Column -> family of one protocol's header, cached by the header text. */
struct colmap {
    char *header;
    int *fam; /* per column: index into fams, or -1 */
    size_t ncol;
};

#define NPROTO 3
static const char *const protos[NPROTO] = {"Tcp", "Udp", "TcpExt"};

struct tcp {
    struct collect_file snmp, netstat;
    bool have_netstat;
    uint32_t ids[NFAM];
    struct colmap map[NPROTO];
};

static size_t token_len(const char *p)
{
    size_t n = 0;

    while (p[n] && p[n] != ' ' && p[n] != '\n')
        n++;
    return n;
}

/* Family of field (len bytes) of protocol pi, or -1. */
static int family_index(int pi, const char *field, size_t len)
{
    size_t pl = strlen(protos[pi]);

    for (size_t i = 0; i < NFAM; i++) {
        const char *n = fams[i].name + strlen("node_netstat_");

        if (!strncmp(n, protos[pi], pl) && n[pl] == '_' &&
            strlen(n + pl + 1) == len && !memcmp(n + pl + 1, field, len))
            return (int)i;
    }
    return -1;
}

static int map_header(struct colmap *m, int pi, const char *hdr, size_t len)
{
    const char *p = hdr;
    size_t ncol = 0;

    if (m->header && strlen(m->header) == len && !memcmp(m->header, hdr, len))
        return 0;
    free(m->header);
    free(m->fam);
    memset(m, 0, sizeof(*m));
    if (!(m->header = strndup(hdr, len)) ||
        !(m->fam = malloc((len / 2 + 1) * sizeof(*m->fam))))
        return -1;
    while (p < hdr + len) {
        size_t tl;

        while (*p == ' ')
            p++;
        if (p >= hdr + len || !(tl = token_len(p)))
            break;
        m->fam[ncol++] = family_index(pi, p, tl);
        p += tl;
    }
    m->ncol = ncol;
    return 0;
}

static void put_values(struct tcp *s, struct collect_src *src,
                       const struct colmap *m, const char *p)
{
    for (size_t col = 0; col < m->ncol; col++) {
        uint64_t v;

        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            return;
        if (m->fam[col] >= 0 && collect_parse_u64(&p, &v))
            collect_put(src, s->ids[m->fam[col]], (double)v);
        p += token_len(p);
    }
}

/* The "Proto: names" / "Proto: values" line pairs of one file. */
static void read_pairs(struct tcp *s, struct collect_src *src, char *text)
{
    char *line = text;

    while (line && *line) {
        char *nl = strchr(line, '\n'), *vals, *vnl, *colon;
        int pi = -1;

        if (!nl)
            return;
        vals = nl + 1;
        vnl = strchr(vals, '\n');
        colon = strchr(line, ':');
        if (!colon || colon > nl ||
            strncmp(vals, line, (size_t)(colon - line + 1))) {
            line = vals;
            continue;
        }
        for (int i = 0; i < NPROTO; i++)
            if (strlen(protos[i]) == (size_t)(colon - line) &&
                !strncmp(line, protos[i], (size_t)(colon - line)))
                pi = i;
        if (pi >= 0 && map_header(&s->map[pi], pi, colon + 1,
                                  (size_t)(nl - colon - 1)) == 0)
            put_values(s, src, &s->map[pi], vals + (colon - line) + 1);
        line = vnl ? vnl + 1 : NULL;
    }
}

static int tcp_open(struct collect_src *src, void **state, char *why,
                    size_t whylen)
{
    struct tcp *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (collect_file_open(src, &s->snmp, "/proc/net/snmp") < 0) {
        snprintf(why, whylen, "%s/proc/net/snmp: %s", collect_root(src),
                 strerror(errno));
        free(s);
        return -1;
    }
    s->have_netstat =
        collect_file_open(src, &s->netstat, "/proc/net/netstat") == 0;
    for (size_t i = 0; i < NFAM; i++)
        s->ids[i] = collect_series(src, &fams[i], NULL, 0);
    *state = s;
    return 0;
}

static int tcp_sample(void *state, struct collect_src *src, bool slow)
{
    struct tcp *s = state;

    if (collect_file_read(&s->snmp) < 0) {
        collect_src_error(src, "%s: %s", s->snmp.path, strerror(errno));
        return -1;
    }
    read_pairs(s, src, s->snmp.buf);
    if (slow && s->have_netstat && collect_file_read(&s->netstat) >= 0)
        read_pairs(s, src, s->netstat.buf);
    return 0;
}

static void tcp_close(void *state)
{
    struct tcp *s = state;

    collect_file_close(&s->snmp);
    collect_file_close(&s->netstat);
    for (int i = 0; i < NPROTO; i++) {
        free(s->map[i].header);
        free(s->map[i].fam);
    }
    free(s);
}

const struct collect_sampler_ops collect_tcp_ops = {"tcp", tcp_open, tcp_sample,
                                                    tcp_close};
