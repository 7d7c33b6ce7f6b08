/* test_cluster: the cluster-wide view of several `skewscope serve`
 * instances (issue 4), in process, over real HTTP (libcurl both ways):
 *   - instances A and B each get half of the traces; W gets all of them.
 *     A's /api/v1/cluster (A's statistics merged with B's, fetched from
 *     B's /api/v1/windows with the bearer token) equals W's
 *     /api/v1/status: the same bounds, offsets within 5 us, pair and
 *     violation counts exactly W's and exactly A's + B's;
 *   - a domain ("node-cache") that only one-way messages connect: A sees
 *     gateway -> cache only (an upper bound on its offset), B cache ->
 *     gateway only (a lower bound); neither alone bounds it on both sides,
 *     the cluster does, and its estimate is the truth (+3 ms);
 *   - peers that fail are reported with the reason and do not break the
 *     view: a closed port, a peer with another token (HTTP 401), a peer
 *     with another --window (refused by live_io); /metrics carries the
 *     skewscope_cluster_* series;
 *   - when B stops, A reports it down and the view falls back to A's own
 *     statistics. */
#define _GNU_SOURCE
#include "testlib.h"

#include "serve_client.h"

#include <curl/curl.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "model/span_store.h"
#include "output/trace_writer.h"
#include "serve/serve.h"

#define MS 1000000LL
#define US 1000LL
#define T0 1790000000000000000LL
#define PREFILL_SKEW (5 * MS) /* node-prefill's clock is ahead by this */
#define CACHE_SKEW (3 * MS)   /* node-cache's too */
#define TOKEN "s3cret"
#define NCHAIN 200 /* gateway -> prefill -> decode -> gateway */
#define NCACHE 100 /* each way between gateway and cache */

/* ---- HTTP client */

/* GET (body NULL) or POST a protobuf body, with the token unless NULL. */
static long http(int port, const char *path, const struct buf *body,
                 const char *token, struct buf *out)
{
    return sc_http(port, path, body, "application/x-protobuf", token, out);
}

static json_t *get_json(int port, const char *path)
{
    return sc_get_json(port, path, TOKEN);
}

static json_int_t int_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

static json_int_t edge_int(json_t *doc, const char *from, const char *to,
                           const char *key)
{
    json_t *e =
        sc_find_named(json_object_get(doc, "edges"), "from", from, "to", to);
    return e ? int_at(e, key) : 0;
}

/* ---- traces with known truth */

/* Every edge, with the pairs each part of the traffic gives it. */
static const struct {
    const char *from, *to;
    json_int_t a, b, violations_a, violations_b;
} edges[] = {
    {"node-gateway", "node-prefill", NCHAIN / 2, NCHAIN / 2, 0, 0},
    {"node-prefill", "node-decode", NCHAIN / 2, NCHAIN / 2, NCHAIN / 2,
     NCHAIN / 2},
    {"node-decode", "node-gateway", NCHAIN / 2, NCHAIN / 2, 0, 0},
    {"node-gateway", "node-cache", NCACHE, 0, 0, 0},
    {"node-cache", "node-gateway", 0, NCACHE, 0, NCACHE},
};
#define NEDGES (sizeof(edges) / sizeof(edges[0]))

#define MAX_HOPS 4
struct traces {
    struct span_desc d[MAX_HOPS][NCHAIN];
    size_t n, hops;
};

static int64_t skew_of(const char *host)
{
    return strcmp(host, "node-prefill") == 0 ? PREFILL_SKEW
           : strcmp(host, "node-cache") == 0 ? CACHE_SKEW
                                             : 0;
}

/* ntraces traces through hosts[0..hops), each hop 2 ms + 0..490 us (the
 * minimum reached on every hop), CONSUMER spans with messaging.system
 * kafka throughout (one transport class); trace ids from base. Each
 * host's clock reads its skew ahead. */
static void make_traces(struct traces *c, const char *const *hosts, size_t hops,
                        size_t ntraces, unsigned base)
{
    static const struct span_kv sys[] = {{"messaging.system", "kafka"}};

    assert_true(ntraces <= NCHAIN && hops <= MAX_HOPS);
    memset(c, 0, sizeof(*c));
    c->n = ntraces;
    c->hops = hops;
    for (size_t i = 0; i < ntraces; i++) {
        int64_t t = T0 + (int64_t)(base + i) * 3 * MS;
        for (size_t k = 0; k < hops; k++) {
            struct span_desc *s = &c->d[k][i];
            if (k)
                t += 2 * MS + (int64_t)((i + k * 37) % 50) * 10 * US;
            s->trace_id[0] = 0x5e;
            s->trace_id[12] = (uint8_t)((base + i) >> 8);
            s->trace_id[13] = (uint8_t)(base + i);
            s->trace_id[15] = 1;
            s->span_id = ((uint64_t)(base + i) << 8) | (uint64_t)(k + 1);
            s->parent_span_id = k ? (s->span_id & ~0xffull) | (uint64_t)k : 0;
            s->name = k ? "consume" : "send";
            s->kind = SPAN_KIND_CONSUMER;
            s->start_ns = t + skew_of(hosts[k]);
            s->end_ns = s->start_ns + MS;
            s->host_name = hosts[k];
            s->service_name = "svc";
            s->attrs = sys;
            s->nattrs = 1;
        }
    }
}

/* Send the traces i with i % mod == rem (mod 1: all), host by host in
 * requests of up to 50 spans, as each process exports its own. */
static void send_traces(int port, const struct traces *c, size_t mod,
                        size_t rem)
{
    static struct span_desc pick[NCHAIN];

    for (size_t k = 0; k < c->hops; k++) {
        size_t n = 0;
        for (size_t i = rem; i < c->n; i += mod)
            pick[n++] = c->d[k][i];
        for (size_t i = 0; i < n; i += 50) {
            struct buf body = sc_proto_body(&pick[i], n - i < 50 ? n - i : 50);
            struct buf out;
            assert_int_equal(http(port, "/v1/traces", &body, TOKEN, &out), 200);
            free(out.data);
            free(body.data);
        }
    }
}

/* ---- instances */

static struct serve *start(struct serve_config *cfg, const char *token)
{
    char err[512];
    struct serve *s;

    cfg->listen = "127.0.0.1:0";
    cfg->bearer_token = token;
    cfg->reference = "node-gateway";
    cfg->assembly_window_s = 0.3;
    cfg->update_interval_s = 0.1;
    s = serve_start(cfg, err, sizeof(err));
    if (!s)
        fail_msg("serve_start: %s", err);
    assert_true(serve_port(s) > 0);
    return s;
}

/* Which pairs an instance holds: 'a', 'b' or 'w' (both). */
static json_int_t want_pairs(size_t e, char who)
{
    return who == 'a'   ? edges[e].a
           : who == 'b' ? edges[e].b
                        : edges[e].a + edges[e].b;
}

/* Poll path until every edge has the pairs of `who` (deadline 30 s). */
static json_t *wait_edges(int port, const char *path, char who)
{
    double end = clock_now_s(CLOCK_MONOTONIC) + 30;

    for (;;) {
        json_t *st = get_json(port, path);
        size_t ok = 0;
        for (size_t e = 0; e < NEDGES; e++)
            ok += edge_int(st, edges[e].from, edges[e].to, "pairs") ==
                  want_pairs(e, who);
        if (ok == NEDGES)
            return st;
        if (clock_now_s(CLOCK_MONOTONIC) > end) {
            char *text = json_dumps(st, JSON_COMPACT);
            fail_msg("%s on port %d never had the pairs of '%c': %s", path,
                     port, who, text);
        }
        json_decref(st);
        sc_sleep_ms(50);
    }
}

static void check_bounds_one_sided(json_t *st, bool has_lower, bool has_upper)
{
    json_t *c = sc_node(st, "node-cache");

    assert_int_equal(json_is_integer(json_object_get(c, "lower_ns")),
                     has_lower);
    assert_int_equal(json_is_integer(json_object_get(c, "upper_ns")),
                     has_upper);
}

/* The cluster view equals the whole: same nodes, bounds, offsets within
 * 5 us, same counts. */
static void check_equal(json_t *cl, json_t *whole)
{
    size_t i;
    json_t *w;

    assert_string_equal(json_string_value(json_object_get(cl, "reference")),
                        "node-gateway");
    assert_true(json_is_true(json_object_get(cl, "consistent")));
    assert_int_equal(json_array_size(json_object_get(cl, "nodes")),
                     json_array_size(json_object_get(whole, "nodes")));
    json_array_foreach(json_object_get(whole, "nodes"), i, w)
    {
        json_t *c = sc_node(cl, json_string_value(json_object_get(w, "node")));
        assert_true(json_equal(json_object_get(c, "lower_ns"),
                               json_object_get(w, "lower_ns")));
        assert_true(json_equal(json_object_get(c, "upper_ns"),
                               json_object_get(w, "upper_ns")));
        json_int_t d = int_at(c, "offset_ns") - int_at(w, "offset_ns");
        if (llabs(d) > 5 * US)
            fail_msg("%s: cluster offset %lld, whole %lld",
                     json_string_value(json_object_get(w, "node")),
                     (long long)int_at(c, "offset_ns"),
                     (long long)int_at(w, "offset_ns"));
        assert_int_equal(int_at(c, "pairs"), int_at(w, "pairs"));
    }
    assert_int_equal(json_array_size(json_object_get(cl, "edges")), NEDGES);
    for (size_t e = 0; e < NEDGES; e++) {
        const char *f = edges[e].from, *t = edges[e].to;
        assert_int_equal(edge_int(cl, f, t, "pairs"), edges[e].a + edges[e].b);
        assert_int_equal(edge_int(cl, f, t, "pairs"),
                         edge_int(whole, f, t, "pairs"));
        assert_int_equal(edge_int(cl, f, t, "violations"),
                         edges[e].violations_a + edges[e].violations_b);
        assert_int_equal(edge_int(cl, f, t, "violations"),
                         edge_int(whole, f, t, "violations"));
    }
}

/* The truth: prefill +5 ms, cache +3 ms (the only way to know the latter
 * is to have both directions). */
static void check_truth(json_t *cl)
{
    json_int_t p = int_at(sc_node(cl, "node-prefill"), "offset_ns");
    json_int_t c = int_at(sc_node(cl, "node-cache"), "offset_ns");

    if (llabs(p - PREFILL_SKEW) > 100 * US || llabs(c - CACHE_SKEW) > 100 * US)
        fail_msg("cluster offsets prefill %lld ns (truth %lld), cache %lld "
                 "ns (truth %lld)",
                 (long long)p, (long long)PREFILL_SKEW, (long long)c,
                 (long long)CACHE_SKEW);
    /* the bounds the traces prove hold the truth, on both sides */
    assert_true(int_at(sc_node(cl, "node-cache"), "lower_ns") <= CACHE_SKEW);
    assert_true(int_at(sc_node(cl, "node-cache"), "upper_ns") >= CACHE_SKEW);
}

static json_t *peer(json_t *cl, const char *url)
{
    json_t *p =
        sc_find_named(json_object_get(cl, "peers"), "url", url, NULL, NULL);
    if (!p)
        fail_msg("no peer %s", url);
    return p;
}

static void check_peer_failed(json_t *cl, const char *url, const char *why)
{
    json_t *p = peer(cl, url);
    const char *e = json_string_value(json_object_get(p, "error"));

    assert_true(json_is_false(json_object_get(p, "ok")));
    if (!e || !strstr(e, why))
        fail_msg("peer %s: error \"%s\", expected \"%s\"", url, e ? e : "null",
                 why);
}

static void check_metrics(int port)
{
    static const char *const lines[] = {
        "\nskewscope_cluster_peers 4\n",
        "\nskewscope_cluster_peers_up 1\n",
        "\nskewscope_cluster_edge_violations{from=\"node-cache\","
        "to=\"node-gateway\"} 100\n",
        "\nskewscope_cluster_edge_violations{from=\"node-prefill\","
        "to=\"node-decode\"} 200\n",
        "\nskewscope_cluster_edge_pairs{from=\"node-gateway\","
        "to=\"node-cache\"} 100\n",
        /* the instance's own series are still there */
        "\nskewscope_edge_pairs_total{from=\"node-gateway\",to=\"node-"
        "cache\"} 100\n",
    };
    const char *off =
        "\nskewscope_cluster_clock_offset_seconds{domain=\"node-cache\"} ";
    struct buf b;

    assert_int_equal(http(port, "/metrics", NULL, TOKEN, &b), 200);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        if (!strstr(b.data, lines[i]))
            fail_msg("/metrics lacks \"%s\":\n%s", lines[i] + 1, b.data);
    const char *p = strstr(b.data, off);
    assert_non_null(p);
    double v = strtod(p + strlen(off), NULL);
    if (fabs(v - CACHE_SKEW * 1e-9) > 100e-6)
        fail_msg("cluster offset metric of node-cache %g s, truth %g", v,
                 CACHE_SKEW * 1e-9);
    free(b.data);
}

/* Feed A, B and W; wait until each has processed its part. */
static void feed(int pa, int pb, int pw)
{
    static const char *const chain[] = {"node-gateway", "node-prefill",
                                        "node-decode", "node-gateway"};
    static const char *const down[] = {"node-gateway", "node-cache"};
    static const char *const up[] = {"node-cache", "node-gateway"};
    struct traces *t = malloc(sizeof(*t));

    assert_non_null(t);
    make_traces(t, chain, 4, NCHAIN, 0);
    send_traces(pa, t, 2, 0); /* even traces to A */
    send_traces(pb, t, 2, 1); /* odd ones to B */
    send_traces(pw, t, 1, 0);
    make_traces(t, down, 2, NCACHE, 1000);
    send_traces(pa, t, 1, 0);
    send_traces(pw, t, 1, 0);
    make_traces(t, up, 2, NCACHE, 2000);
    send_traces(pb, t, 1, 0);
    send_traces(pw, t, 1, 0);
    free(t);
}

static void test_cluster_view(void **state)
{
    struct serve_config ca = {0}, cb = {0}, cw = {0}, cd = {0}, ce = {0};
    char ub[64], udead[64], ud[64], ue[64];
    const char *peers[4] = {ub, udead, ud, ue};
    struct serve *b, *w, *d, *e, *a;
    json_t *sa, *sb, *sw, *cl;
    struct buf out;

    (void)state;
    b = start(&cb, TOKEN);
    w = start(&cw, TOKEN);
    d = start(&cd, "another-token");
    ce.stat_window_s = 5;
    e = start(&ce, TOKEN);
    snprintf(ub, sizeof ub, "http://127.0.0.1:%d", serve_port(b));
    snprintf(udead, sizeof udead, "http://127.0.0.1:%d/", sc_free_port());
    snprintf(ud, sizeof ud, "http://127.0.0.1:%d", serve_port(d));
    snprintf(ue, sizeof ue, "http://127.0.0.1:%d", serve_port(e));
    ca.peers = peers;
    ca.npeers = 4;
    a = start(&ca, TOKEN);
    int pa = serve_port(a), pb = serve_port(b), pw = serve_port(w);

    /* the statistics route needs the token like every other */
    assert_int_equal(http(pb, "/api/v1/windows", NULL, NULL, &out), 401);
    free(out.data);
    /* no peers, no cluster view */
    assert_int_equal(http(pb, "/api/v1/cluster", NULL, TOKEN, &out), 404);
    free(out.data);

    feed(pa, pb, pw);
    sa = wait_edges(pa, "/api/v1/status", 'a');
    sb = wait_edges(pb, "/api/v1/status", 'b');
    sw = wait_edges(pw, "/api/v1/status", 'w');
    /* neither instance alone bounds node-cache on both sides */
    check_bounds_one_sided(sa, false, true);
    check_bounds_one_sided(sb, true, false);
    check_bounds_one_sided(sw, true, true);

    cl = wait_edges(pa, "/api/v1/cluster", 'w');
    print_message("node-cache: A alone <= %lld ns, B alone >= %lld ns; "
                  "cluster [%lld, %lld] ns, offset %lld ns (truth %lld)\n",
                  (long long)int_at(sc_node(sa, "node-cache"), "upper_ns"),
                  (long long)int_at(sc_node(sb, "node-cache"), "lower_ns"),
                  (long long)int_at(sc_node(cl, "node-cache"), "lower_ns"),
                  (long long)int_at(sc_node(cl, "node-cache"), "upper_ns"),
                  (long long)int_at(sc_node(cl, "node-cache"), "offset_ns"),
                  (long long)CACHE_SKEW);
    check_equal(cl, sw);
    check_truth(cl);
    assert_int_equal(int_at(cl, "peers_up"), 1);
    assert_true(json_is_true(json_object_get(peer(cl, ub), "ok")));
    assert_true(json_is_null(json_object_get(peer(cl, ub), "error")));
    check_peer_failed(cl, udead, "connect");
    check_peer_failed(cl, ud, "HTTP 401");
    check_peer_failed(cl, ue, "window_s");
    check_metrics(pa);
    json_decref(cl);

    /* B goes away: reported down, the view is A's own statistics */
    assert_int_equal(serve_stop(b), 0);
    double end = clock_now_s(CLOCK_MONOTONIC) + 30;
    for (;;) {
        cl = get_json(pa, "/api/v1/cluster");
        if (json_is_false(json_object_get(peer(cl, ub), "ok")) &&
            edge_int(cl, "node-gateway", "node-prefill", "pairs") == NCHAIN / 2)
            break;
        assert_true(clock_now_s(CLOCK_MONOTONIC) < end);
        json_decref(cl);
        sc_sleep_ms(50);
    }
    check_peer_failed(cl, ub, "connect");
    assert_int_equal(int_at(cl, "peers_up"), 0);
    for (size_t k = 0; k < NEDGES; k++)
        assert_int_equal(edge_int(cl, edges[k].from, edges[k].to, "pairs"),
                         edges[k].a);
    check_bounds_one_sided(cl, false, true);
    assert_int_equal(int_at(sc_node(cl, "node-cache"), "upper_ns"),
                     int_at(sc_node(sa, "node-cache"), "upper_ns"));
    json_decref(cl);

    json_decref(sa);
    json_decref(sb);
    json_decref(sw);
    assert_int_equal(serve_stop(a), 0);
    assert_int_equal(serve_stop(w), 0);
    assert_int_equal(serve_stop(d), 0);
    assert_int_equal(serve_stop(e), 0);
}

/* A peer URL that is not http(s) is refused at start. */
static void test_bad_peer(void **state)
{
    struct serve_config c = {0};
    const char *peers[] = {"10.0.0.2:4318"};
    char err[256] = "";

    (void)state;
    c.listen = "127.0.0.1:0";
    c.peers = peers;
    c.npeers = 1;
    assert_null(serve_start(&c, err, sizeof err));
    assert_non_null(strstr(err, "expected an http:// or https:// URL"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_view),
        cmocka_unit_test(test_bad_peer),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
