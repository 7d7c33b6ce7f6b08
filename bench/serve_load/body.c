/* serve_load's request bodies (see bench/serve_load.c for the options):
 * one OTLP/HTTP protobuf ExportTraceServiceRequest, encoded once as a
 * template and patched in place per request, for send, kafka-produce and
 * dump.
 *
 * The bodies: spans_per_request spans in traces of spans_per_trace spans;
 * a trace is a root SERVER span on domain 0, a CLIENT->SERVER hop into each
 * further clock domain (resource host.name node-gateway, node-tokenizer,
 * node-prefill, node-decode, node-worker-4, ...), then INTERNAL decode steps on
 * the last domain. One template is encoded once (trace_writer_otlp_proto); each
 * connection keeps its own copy and, per request number n, patches in place
 * the 4 bytes of every trace and span ID that carry n and the fixed64
 * timestamps (now, plus the domain's --skew-ns). So every request is
 * distinct (IDs: trace = nonce(8) m(n)(4) m(trace#)(4), span = m(n)(4)
 * span#+1(4), where m is a 32-bit bijective mix, so IDs are unique within
 * a run and look random where hashes look; the nonce separates runs) and
 * the hot loop neither allocates nor encodes. */
#include "common.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/span_store.h"
#include "output/trace_writer.h"

static const char *const domain_names[] = {"gateway", "tokenizer", "prefill",
                                           "decode"};

/* Times, in ns relative to "now": a trace's root lasts 20 ms and ended
 * 5 ms ago; each hop starts a little after its parent and ends a little
 * before it (the network), decode steps share the last server's time. */
#define ROOT_NS 20000000
#define CLIENT_PAD_NS 100000
#define SERVER_PAD_NS 150000

static void shape_span(struct tpl_span *sp, const struct tpl_span *trace,
                       unsigned j, unsigned t, const struct shape_opts *o,
                       unsigned per_trace)
{
    unsigned chain = 2 * o->domains - 1; /* root + a hop per domain */

    if (j == 0) {
        sp->kind = SPAN_KIND_SERVER;
        sp->domain = 0;
        sp->parent = -1;
        sp->start_rel_ns = -(ROOT_NS + 5000000) + (int64_t)(t % 1000) * 20000;
        sp->end_rel_ns = sp->start_rel_ns + ROOT_NS;
        return;
    }
    unsigned pj = j < chain ? j - 1 : chain - 1;
    const struct tpl_span *p = &trace[pj];
    sp->parent = (int32_t)((size_t)(p - trace) + (size_t)t * per_trace);
    if (j < chain) {
        int64_t pad = j % 2 ? CLIENT_PAD_NS : SERVER_PAD_NS;
        sp->kind = j % 2 ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER;
        sp->domain = j % 2 ? (j - 1) / 2 : j / 2;
        sp->start_rel_ns = p->start_rel_ns + pad;
        sp->end_rel_ns = p->end_rel_ns - pad;
        return;
    }
    int64_t steps = (int64_t)(per_trace - chain), i = (int64_t)(j - chain);
    int64_t w = (p->end_rel_ns - p->start_rel_ns) / steps;
    sp->kind = SPAN_KIND_INTERNAL;
    sp->domain = o->domains - 1;
    sp->start_rel_ns = p->start_rel_ns + i * w + 1000;
    sp->end_rel_ns = p->start_rel_ns + (i + 1) * w - 1000;
    if (sp->end_rel_ns <= sp->start_rel_ns)
        sp->end_rel_ns = sp->start_rel_ns + 1;
}

static const struct span_kv attrs_http[] = {{"http.request.method", "POST"}};
static const struct span_kv attrs_rpc[] = {{"rpc.system", "grpc"}};
static const struct span_kv attrs_step[] = {{"llm.phase", "decode"}};

static void describe_span(struct span_desc *d, const struct tpl_span *sp,
                          size_t k, size_t t, uint64_t nonce, int64_t now,
                          char (*hosts)[32], char (*services)[32])
{
    memset(d, 0, sizeof(*d));
    for (int b = 0; b < 8; b++)
        d->trace_id[b] = (uint8_t)(nonce >> (56 - 8 * b));
    put_be32(d->trace_id + 12, mix32((uint32_t)t + 1));
    d->span_id = (uint64_t)k + 1; /* request number 0 in the high half */
    d->parent_span_id = sp->parent < 0 ? 0 : (uint64_t)sp->parent + 1;
    d->kind = sp->kind;
    d->start_ns = now + sp->start_rel_ns;
    d->end_ns = now + sp->end_rel_ns;
    d->host_name = hosts[sp->domain];
    d->service_name = services[sp->domain];
    d->name = sp->kind == SPAN_KIND_INTERNAL ? "decode.step"
              : sp->kind == SPAN_KIND_CLIENT ? "skewscope.Inference/Generate"
              : sp->parent < 0               ? "POST /v1/completions"
                                             : "skewscope.Inference/Generate";
    d->attrs = sp->kind == SPAN_KIND_INTERNAL ? attrs_step
               : sp->parent < 0               ? attrs_http
                                              : attrs_rpc;
    d->nattrs = 1;
}

/* Encode the spans with the project's OTLP protobuf writer; the body is
 * its one length-delimited message without the prefix. */
static int tpl_encode(struct body_tpl *t, const struct span_desc *descs)
{
    char *mem = NULL;
    size_t memlen = 0;
    FILE *f = open_memstream(&mem, &memlen);
    struct trace_writer *w;
    int rc = -1;

    if (!f)
        return -1;
    if ((w = trace_writer_otlp_proto_ops.create(f, 0))) {
        rc = trace_writer_otlp_proto_ops.write_batch(w, descs, t->nspans);
        if (trace_writer_otlp_proto_ops.finish(w) < 0)
            rc = -1;
    }
    fclose(f);
    size_t pre = 0;
    while (rc == 0 && pre < memlen && ((uint8_t)mem[pre] & 0x80))
        pre++;
    if (rc == 0 && pre + 1 < memlen) {
        t->len = memlen - pre - 1;
        t->buf = malloc(t->len);
        if (t->buf)
            memcpy(t->buf, mem + pre + 1, t->len);
    }
    free(mem);
    return t->buf ? 0 : -1;
}

/* A protobuf wire-format cursor, just enough to find fields. */
struct wire {
    const uint8_t *p, *end;
};

static bool wire_varint(struct wire *w, uint64_t *v)
{
    uint64_t x = 0;

    for (unsigned shift = 0; shift < 64 && w->p < w->end; shift += 7) {
        uint8_t b = *w->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Next field: number, wire type and value bytes (LEN: the payload). */
static bool wire_next(struct wire *w, uint32_t *field, unsigned *wt,
                      struct wire *val)
{
    uint64_t key, n = 0;

    if (w->p >= w->end || !wire_varint(w, &key))
        return false;
    *field = (uint32_t)(key >> 3);
    *wt = key & 7;
    val->p = w->p;
    if (*wt == 0) {
        if (!wire_varint(w, &n))
            return false;
        val->end = w->p;
        return true;
    }
    if (*wt == 1 || *wt == 5)
        n = *wt == 1 ? 8 : 4;
    else if (*wt != 2 || !wire_varint(w, &n))
        return false;
    if (n > (uint64_t)(w->end - w->p))
        return false;
    val->p = w->p;
    val->end = w->p + n;
    w->p += n;
    return true;
}

/* One encoded Span: note where its IDs and times are. The span number is
 * in its span ID (request number 0: the low half is span# + 1). */
static int tpl_locate_span(struct body_tpl *t, struct wire s)
{
    /* Field number -> wire type and length it must have to be patched. */
    static const unsigned want_wt[9] = {0, 2, 2, 0, 2, 0, 0, 1, 1};
    static const size_t want_len[9] = {0, 16, 8, 0, 8, 0, 0, 8, 8};
    uint32_t offs[9] = {0}, f;
    unsigned wt;
    struct wire v;

    while (wire_next(&s, &f, &wt, &v))
        if (f < 9 && want_len[f] && wt == want_wt[f] &&
            (size_t)(v.end - v.p) == want_len[f])
            offs[f] = (uint32_t)(v.p - t->buf);
    if (!offs[1] || !offs[2] || !offs[7] || !offs[8])
        return -1;
    size_t k = get_be32(t->buf + offs[2] + 4) - (size_t)1;
    if (k >= t->nspans || t->spans[k].off_span)
        return -1;
    struct tpl_span *sp = &t->spans[k];
    sp->off_trace = offs[1];
    sp->off_span = offs[2];
    sp->off_parent = offs[4];
    sp->off_start = offs[7];
    sp->off_end = offs[8];
    return (sp->parent >= 0) == (offs[4] != 0) ? 0 : -1;
}

/* request.resource_spans(1).scope_spans(2).spans(2) */
static int tpl_locate(struct body_tpl *t)
{
    struct wire req = {t->buf, t->buf + t->len}, rs, ss, sp;
    uint32_t f;
    unsigned wt;
    size_t found = 0;

    while (wire_next(&req, &f, &wt, &rs)) {
        if (f != 1 || wt != 2)
            continue;
        struct wire rs_it = rs;
        while (wire_next(&rs_it, &f, &wt, &ss)) {
            if (f != 2 || wt != 2)
                continue;
            struct wire ss_it = ss;
            while (wire_next(&ss_it, &f, &wt, &sp))
                if (f == 2 && wt == 2) {
                    if (tpl_locate_span(t, sp) < 0)
                        return -1;
                    found++;
                }
        }
    }
    return found == t->nspans ? 0 : -1;
}

static uint64_t make_nonce(void)
{
    uint64_t n = 0;
    FILE *f = fopen("/dev/urandom", "rb");

    if (f) {
        if (fread(&n, sizeof n, 1, f) != 1)
            n = 0;
        fclose(f);
    }
    n ^= mix64((uint64_t)clock_ns(CLOCK_REALTIME) ^ (uint64_t)getpid());
    return n ? n : 1;
}

void sl_tpl_destroy(struct body_tpl *t)
{
    free(t->buf);
    free(t->spans);
    memset(t, 0, sizeof(*t));
}

int sl_tpl_build(struct body_tpl *t, const struct shape_opts *o)
{
    unsigned per = o->spans_per_trace ? o->spans_per_trace : o->spans;
    char hosts[MAX_DOMAINS][32], services[MAX_DOMAINS][32];
    struct span_desc *descs = calloc(o->spans, sizeof(*descs));
    int64_t now = clock_ns(CLOCK_REALTIME);

    memset(t, 0, sizeof(*t));
    t->spans = calloc(o->spans, sizeof(*t->spans));
    t->nspans = o->spans;
    t->nonce = make_nonce();
    memcpy(t->skew_ns, o->skew_ns, sizeof(t->skew_ns));
    for (unsigned d = 0; d < o->domains; d++) {
        const char *n = d < 4 ? domain_names[d] : NULL;
        if (n)
            snprintf(services[d], 32, "%s", n);
        else
            snprintf(services[d], 32, "worker-%u", d);
        snprintf(hosts[d], 32, "node-%s", services[d]);
    }
    for (size_t k = 0; descs && t->spans && k < o->spans; k++) {
        struct tpl_span *trace = &t->spans[k - k % per];
        shape_span(&t->spans[k], trace, (unsigned)(k % per),
                   (unsigned)(k / per), o, per);
        describe_span(&descs[k], &t->spans[k], k, k / per, t->nonce, now, hosts,
                      services);
    }
    int rc = descs && t->spans ? tpl_encode(t, descs) : -1;
    free(descs);
    if (rc == 0 && tpl_locate(t) < 0)
        rc = -1;
    if (rc < 0)
        sl_tpl_destroy(t);
    return rc;
}

/* Make buf (a copy of the template) request number n, sent at now_ns
 * (CLOCK_REALTIME): IDs carry mix32(n), times are now + offset + domain
 * skew. */
void sl_body_patch(uint8_t *buf, const struct body_tpl *t, uint32_t n,
                   int64_t now_ns)
{
    uint32_t m = mix32(n);

    for (size_t k = 0; k < t->nspans; k++) {
        const struct tpl_span *sp = &t->spans[k];
        int64_t base = now_ns + t->skew_ns[sp->domain];
        put_be32(buf + sp->off_trace + 8, m);
        put_be32(buf + sp->off_span, m);
        if (sp->off_parent)
            put_be32(buf + sp->off_parent, m);
        put_le64(buf + sp->off_start, (uint64_t)(base + sp->start_rel_ns));
        put_le64(buf + sp->off_end, (uint64_t)(base + sp->end_rel_ns));
    }
}

/* "A,B,...": signed nanoseconds per clock domain, missing ones 0. */
static bool parse_skew(const char *s, int64_t out[MAX_DOMAINS])
{
    memset(out, 0, MAX_DOMAINS * sizeof(*out));
    for (int d = 0; d < MAX_DOMAINS; d++) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || (*end && *end != ','))
            return false;
        out[d] = v;
        if (!*end)
            return true;
        s = end + 1;
    }
    return false;
}

/* Parse a shape option; 1 = taken, 0 = not a shape option, <0 = bad. */
int sl_shape_option(int argc, char **argv, int *i, struct shape_opts *o)
{
    const char *v = NULL;
    bool missing = false, ok = true;

    if (sl_opt_is(argc, argv, i, "--spans-per-request", &v, &missing) ||
        sl_opt_is(argc, argv, i, "--spans-per-message", &v, &missing))
        ok = missing || sl_parse_uint(v, &o->spans);
    else if (sl_opt_is(argc, argv, i, "--domains", &v, &missing))
        ok = missing || sl_parse_uint(v, &o->domains);
    else if (sl_opt_is(argc, argv, i, "--spans-per-trace", &v, &missing))
        ok = missing || sl_parse_uint(v, &o->spans_per_trace);
    else if (sl_opt_is(argc, argv, i, "--skew-ns", &v, &missing))
        ok = missing || parse_skew(v, o->skew_ns);
    else
        return 0;
    if (missing || !ok)
        return -sl_usage_error("bad or missing value for %s",
                               argv[*i - !missing]);
    return 1;
}

int sl_shape_check(const struct shape_opts *o)
{
    if (o->spans < 1 || o->spans > 1000000)
        return sl_usage_error("%s", "spans per request must be 1..1000000");
    if (o->domains < 1 || o->domains > MAX_DOMAINS)
        return sl_usage_error("%s", "--domains must be 1..16");
    return 0;
}

void sl_tpl_print(const struct body_tpl *t, const struct shape_opts *o,
                  unsigned per)
{
    fprintf(stderr,
            "body: %zu spans in %u-span traces over %u domains, %zu B "
            "(%.1f B/span)\n",
            t->nspans, per, o->domains, t->len,
            (double)t->len / (double)t->nspans);
}
