/* serve_scrape: live imbalance detection on Prometheus targets (see
 * serve_scrape.h). One thread scrapes every target at once with a libcurl
 * multi handle, feeds the bodies through prom_text into its own series
 * store, runs the imbalance engine on the rows every target has been
 * scraped for, and publishes: what /metrics shows (under mu), the page's
 * findings ring, and a log line when a finding starts or ends. */
#include "serve/serve_scrape.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imbalance/collectives.h"
#include "imbalance/imbalance.h"
#include "imbalance/runbook.h"
#include "ingest/prom_common.h"
#include "ingest/prom_text.h"
#include "model/clock_model.h"
#include "model/series.h"
#include "serve/serve_page.h"
#include "serve/serve_private.h"
#include "util/http_client.h"
#include "util/log.h"
#include "util/clock.h"

#define NS 1000000000LL
#define MAX_BODY (16u << 20)      /* a scrape body larger than this fails */
#define RELOG_NS (60 * NS)        /* a target still down: log again after */
#define COLL_TOL_NS (1000 * 1000) /* collective spans overlap within 1 ms */
#define NAME_MAX_LEN 128

struct target {
    char name[NAME_MAX_LEN];
    const char *url;
    CURL *h;
    char *body;
    size_t len, cap;
    bool too_big;
    char cerr[CURL_ERROR_SIZE];
    CURLcode cc;
    int64_t t_ns; /* when this round's request started (Unix ns) */
    int64_t dur_ns;
    /* the scrape thread's view of its health (logging) */
    int state; /* -1 not scraped yet, 0 down, 1 up */
    int64_t last_log_ns;
    uint64_t errors_at_log;
    /* published (under mu) */
    uint64_t errors;
    bool up;
    int64_t samples;
    double duration_s;
};

/* An open finding as /metrics shows it. */
struct active {
    char *cond, *subject;
};

struct serve_scrape {
    struct serve_scrape_config cfg;
    struct serve_page *page;
    struct imb_runbook *rb;
    struct imb_engine *e;
    struct series_store *store;
    struct imb_collectives *coll; /* the scrape thread's */
    int64_t interval_ns, step_ns, horizon_ns, lag_ns;
    bool traces; /* collectives have come: evaluate lag_ns later */
    long timeout_ms;
    CURLM *multi;
    struct target *t;
    size_t nt;

    /* findings reported as started and not yet as ended (their seq) */
    uint64_t *open;
    size_t nopen, capopen;
    uint64_t max_seq;

    pthread_t thread;
    bool thread_started;
    atomic_bool stopping;
    pthread_mutex_t mu; /* below, the targets' published fields */
    pthread_cond_t wake;
    struct imb_collectives *pending; /* from the analysis thread */
    struct active *act;
    size_t nact;
    uint64_t *started; /* per runbook condition */
    uint64_t rows, engine_errors, coll_skipped, coll_taken;
};

static int64_t now_ns(void)
{
    return clock_now_ns(CLOCK_REALTIME);
}

static int64_t floor_to(int64_t t, int64_t step)
{
    return t / step * step - (t < 0 && t % step ? step : 0);
}

/* ---- configuration */

/* "NAME=URL" or "URL": the URL and the name (default: host:port). */
static int parse_target(const char *spec, char *name, size_t n,
                        const char **url, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '='), *u = spec, *h, *end;

    if (eq && strncmp(spec, "http://", 7) && strncmp(spec, "https://", 8)) {
        u = eq + 1;
        if (eq == spec || (size_t)(eq - spec) >= n) {
            snprintf(err, errlen,
                     "--scrape %s: the name before '=' must be 1 to %zu "
                     "characters",
                     spec, n - 1);
            return -IMB_E_INVAL;
        }
        memcpy(name, spec, (size_t)(eq - spec));
        name[eq - spec] = '\0';
    } else {
        name[0] = '\0';
    }
    if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) {
        snprintf(err, errlen,
                 "--scrape expects [NAME=]URL with an http:// or https:// "
                 "URL such as http://127.0.0.1:8000/metrics, got '%s'",
                 spec);
        return -IMB_E_INVAL;
    }
    *url = u;
    if (!name[0]) {
        h = strstr(u, "://") + 3;
        if (strchr(h, '@') && strchr(h, '@') < h + strcspn(h, "/"))
            h = strchr(h, '@') + 1;
        end = h + strcspn(h, "/?#");
        snprintf(name, n, "%.*s", (int)(end - h), h);
    }
    return 0;
}

static int load_runbook(const struct serve_scrape_config *cfg,
                        struct imb_runbook **out, char *err, size_t errlen)
{
    struct imb_runbook *rb = imb_runbook_create();
    int rc;

    *out = NULL;
    if (!rb) {
        snprintf(err, errlen, "out of memory");
        return -IMB_E_NOMEM;
    }
    if ((rc = imb_runbook_load_default(rb, err, errlen)) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->nrunbooks; i++)
        if ((rc = imb_runbook_load_file(rb, cfg->runbooks[i], err, errlen)) < 0)
            goto fail;
    for (size_t i = 0; i < cfg->nsets; i++)
        if ((rc = imb_runbook_set(rb, cfg->sets[i], err, errlen)) < 0)
            goto fail;
    *out = rb;
    return 0;
fail:
    imb_runbook_destroy(rb);
    return rc;
}

int serve_scrape_check(const struct serve_scrape_config *cfg, char *err,
                       size_t errlen)
{
    struct imb_runbook *rb;
    char name[NAME_MAX_LEN];
    const char *url;
    int rc;

    for (size_t i = 0; i < cfg->ntargets; i++)
        if ((rc = parse_target(cfg->targets[i], name, sizeof name, &url, err,
                               errlen)) < 0)
            return rc;
    if (cfg->interval_s < 0 || cfg->timeout_s < 0) {
        snprintf(err, errlen, "scrape interval and timeout must be positive");
        return -IMB_E_INVAL;
    }
    if ((rc = load_runbook(cfg, &rb, err, errlen)) < 0)
        return rc;
    imb_runbook_destroy(rb);
    return 0;
}

/* ---- collectives (analysis thread in, scrape thread out) */

/* Append the collectives and prefill starts of src at or after since_ns
 * to dst. Returns 0 or -IMB_E_NOMEM. */
static int coll_append(struct imb_collectives *dst,
                       const struct imb_collectives *src, int64_t since_ns)
{
    const char **ranks = NULL;
    int64_t *arr = NULL, *raw = NULL, *wait = NULL;
    size_t cap = 0;
    int rc = 0;

    for (size_t i = 0; !rc && i < src->n; i++) {
        const struct imb_collective *v = &src->v[i];

        if (v->t_ns < since_ns)
            continue;
        if (v->n > cap) {
            cap = v->n;
            free(ranks), free(arr), free(raw), free(wait);
            ranks = malloc(cap * sizeof(*ranks));
            arr = malloc(cap * sizeof(*arr));
            raw = malloc(cap * sizeof(*raw));
            wait = malloc(cap * sizeof(*wait));
            if (!ranks || !arr || !raw || !wait) {
                rc = -IMB_E_NOMEM;
                break;
            }
        }
        for (uint32_t k = 0; k < v->n; k++) {
            const struct imb_coll_member *m = &src->m[v->first + k];
            ranks[k] = src->ranks[m->rank];
            arr[k] = m->arrive_ns;
            raw[k] = m->arrive_raw_ns;
            wait[k] = m->wait_ns;
        }
        rc = imb_collectives_add(dst, src->groups[v->group], v->n, ranks, arr,
                                 raw, wait, v->period_ns);
    }
    for (size_t i = 0; !rc && i < src->nprefill; i++)
        if (src->prefill_ns[i] >= since_ns)
            rc = imb_collectives_add_prefill(dst, src->prefill_ns[i]);
    free(ranks), free(arr), free(raw), free(wait);
    return rc;
}

void serve_scrape_add_spans(struct serve_scrape *sc,
                            const struct span_store *st,
                            const struct clock_model *m)
{
    struct imb_collectives *c;
    bool keep = true;
    int rc = 0;

    if (!sc)
        return;
    if (!(c = imb_collectives_create()) ||
        imb_collectives_from_spans(c, st, m, COLL_TOL_NS) < 0) {
        imb_collectives_destroy(c);
        pthread_mutex_lock(&sc->mu);
        sc->coll_skipped++;
        pthread_mutex_unlock(&sc->mu);
        return;
    }
    /* a rank on a clock the model does not know yet: its arrivals are not
     * on the reference clock */
    for (size_t i = 0; c->n && i < c->nranks; i++)
        if (!m || clock_model_find(m, c->ranks[i], strlen(c->ranks[i])) < 0)
            keep = false;
    pthread_mutex_lock(&sc->mu);
    if (!keep) {
        sc->coll_skipped++;
    } else if (c->n || c->nprefill) {
        if (!sc->pending) {
            sc->pending = c;
            c = NULL;
        } else {
            rc = coll_append(sc->pending, c, INT64_MIN);
        }
        if (rc < 0)
            sc->coll_skipped++;
    }
    pthread_mutex_unlock(&sc->mu);
    imb_collectives_destroy(c);
}

/* The scrape thread's set: what is recent of its own and the pending. */
static void take_collectives(struct serve_scrape *sc, int64_t now)
{
    struct imb_collectives *p, *fresh = imb_collectives_create();
    int64_t since = now - sc->horizon_ns;

    pthread_mutex_lock(&sc->mu);
    p = sc->pending;
    sc->pending = NULL;
    pthread_mutex_unlock(&sc->mu);
    if (!p && (!sc->coll || (!sc->coll->n && !sc->coll->nprefill))) {
        imb_collectives_destroy(fresh);
        return;
    }
    if (!fresh || (sc->coll && coll_append(fresh, sc->coll, since) < 0) ||
        (p && coll_append(fresh, p, since) < 0)) {
        imb_collectives_destroy(fresh);
        imb_collectives_destroy(p);
        log_ratelimited(LOG_ERROR, 5,
                        "serve: out of memory keeping collectives; "
                        "the trace side of imbalance detection skips a "
                        "round");
        return;
    }
    if (p && p->n) {
        sc->traces = true;
        pthread_mutex_lock(&sc->mu);
        sc->coll_taken += p->n;
        pthread_mutex_unlock(&sc->mu);
    }
    imb_collectives_destroy(p);
    imb_collectives_destroy(sc->coll);
    sc->coll = fresh;
}

/* ---- structured log lines */

/* serve_log_event with the members of the JSON object o (taken). */
static void log_json(const char *level, const char *event, json_t *o)
{
    char *text =
        o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    size_t n = text ? strlen(text) : 0;

    json_decref(o);
    if (n >= 2 && text[0] == '{') {
        text[n - 1] = '\0';
        serve_log_event(level, event, "%s", text + 1);
    }
    free(text);
}

/* ---- scraping */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct target *t = arg;
    size_t k = size * n;

    if (t->len + k + 1 > MAX_BODY) {
        t->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (t->len + k + 1 > t->cap) {
        size_t cap = (t->len + k + 1) * 2;
        char *q = realloc(t->body, cap);
        if (!q)
            return 0;
        t->body = q;
        t->cap = cap;
    }
    memcpy(t->body + t->len, p, k);
    t->len += k;
    t->body[t->len] = '\0';
    return k;
}

static int target_init(struct serve_scrape *sc, struct target *t,
                       const char *spec, char *err, size_t errlen)
{
    int rc = parse_target(spec, t->name, sizeof t->name, &t->url, err, errlen);

    if (rc < 0)
        return rc;
    t->state = -1;
    if (!(t->h = curl_easy_init())) {
        snprintf(err, errlen, "serve: libcurl cannot start");
        return -IMB_E_NOMEM;
    }
    curl_easy_setopt(t->h, CURLOPT_URL, t->url);
    curl_easy_setopt(t->h, CURLOPT_TIMEOUT_MS, sc->timeout_ms);
    curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT_MS, sc->timeout_ms);
    curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->cerr);
    curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
    curl_easy_setopt(t->h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip welcome */
    curl_easy_setopt(t->h, CURLOPT_USERAGENT, "skewscope-serve");
    return 0;
}

/* GET every target at once; each target's cc, body and times are set. */
static void fetch_all(struct serve_scrape *sc)
{
    int running = 0;
    CURLMsg *msg;
    int left;

    for (size_t i = 0; i < sc->nt; i++) {
        struct target *t = &sc->t[i];
        t->len = 0;
        t->too_big = false;
        t->cerr[0] = '\0';
        t->cc = CURLE_FAILED_INIT;
        t->t_ns = now_ns();
        t->dur_ns = 0;
        curl_multi_add_handle(sc->multi, t->h);
    }
    do {
        if (curl_multi_perform(sc->multi, &running) != CURLM_OK)
            break;
        while ((msg = curl_multi_info_read(sc->multi, &left)))
            if (msg->msg == CURLMSG_DONE) {
                struct target *t = NULL;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
                                  (char **)&t);
                if (t) {
                    t->cc = msg->data.result;
                    t->dur_ns = now_ns() - t->t_ns;
                }
            }
        if (running)
            curl_multi_poll(sc->multi, NULL, 0, 100, NULL);
    } while (running && !atomic_load(&sc->stopping));
    for (size_t i = 0; i < sc->nt; i++)
        curl_multi_remove_handle(sc->multi, sc->t[i].h);
}

/* This round's outcome of t: samples stored (>= 0), or -1 with why. */
static int64_t ingest(struct serve_scrape *sc, struct target *t, char *why,
                      size_t n)
{
    struct prom_opts po = {NULL, t->name, NULL, 0};
    long code = 0;
    int64_t k;

    if (t->cc != CURLE_OK) {
        snprintf(why, n, "%s",
                 t->too_big   ? "body over 16 MiB"
                 : t->cerr[0] ? t->cerr
                              : curl_easy_strerror(t->cc));
        return -1;
    }
    curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        snprintf(why, n, "HTTP status %ld", code);
        return -1;
    }
    if ((k = prom_text_parse(sc->store, t->name, t->body ? t->body : "", t->len,
                             t->t_ns, &po, why, n)) < 0)
        return -1;
    return k;
}

/* Log t's state: when it changes, and once a minute while it stays down. */
static void log_target(struct target *t, bool ok, const char *why, int64_t now)
{
    if (ok) {
        if (t->state == 0)
            log_json("info", "scrape_recovered",
                     json_pack("{s:s, s:s, s:I}", "target", t->name, "url",
                               t->url, "errors_total", (json_int_t)t->errors));
        t->state = 1;
        return;
    }
    if (t->state != 0 || now - t->last_log_ns >= RELOG_NS) {
        log_json("warn", "scrape_failed",
                 json_pack("{s:s, s:s, s:s, s:I, s:I}", "target", t->name,
                           "url", t->url, "error", why, "errors_total",
                           (json_int_t)t->errors, "errors_since_last_log",
                           (json_int_t)(t->errors - t->errors_at_log)));
        t->last_log_ns = now;
        t->errors_at_log = t->errors;
    }
    t->state = 0;
}

/* Messages may quote what a target sent: printable ASCII only in logs. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

static void scrape_round(struct serve_scrape *sc)
{
    char why[512];

    fetch_all(sc);
    if (atomic_load(&sc->stopping))
        return; /* transfers cut short: not the targets' fault */
    for (size_t i = 0; i < sc->nt; i++) {
        struct target *t = &sc->t[i];
        int64_t k = ingest(sc, t, why, sizeof why);

        if (k < 0)
            printable(why);

        pthread_mutex_lock(&sc->mu);
        t->up = k >= 0;
        t->errors += k < 0;
        if (k >= 0)
            t->samples = k; /* the last successful scrape's */
        t->duration_s = t->dur_ns * 1e-9;
        pthread_mutex_unlock(&sc->mu);
        log_target(t, k >= 0, why, now_ns());
    }
}

/* ---- findings out */

static bool is_open(const struct serve_scrape *sc, uint64_t seq, size_t *at)
{
    for (size_t i = 0; i < sc->nopen; i++)
        if (sc->open[i] == seq) {
            *at = i;
            return true;
        }
    return false;
}

/* One finding to the page's ring (replacing its entry) and, on a start
 * or an end, to the log. */
static void tell(struct serve_scrape *sc, const struct imb_finding *f,
                 const char *state)
{
    char *details = imb_report_finding_json(f);
    json_t *d = details ? json_loads(details, 0, NULL) : NULL;
    char id[48], summary[512], *ev = NULL;
    const char *note = f->nev && f->ev[0].note ? f->ev[0].note : "";

    snprintf(id, sizeof id, "imbalance/%" PRIu64, f->seq);
    snprintf(summary, sizeof summary, "%s on %s%s%s%s",
             f->cond->title ? f->cond->title : f->cond->id, f->key,
             note[0] ? ": " : "", note, f->active ? "" : " (ended)");
    if (d)
        ev = json_dumps(json_object_get(d, "evidence"),
                        JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (sc->page) {
        struct serve_finding sf = {.source = "imbalance",
                                   .kind = f->cond->id,
                                   .subject = f->key,
                                   .summary = summary,
                                   .evidence_json = ev,
                                   .time_unix_ns = f->detected_ns,
                                   .id = id,
                                   .details_json = details};
        if (serve_page_add_finding(sc->page, &sf) < 0)
            log_ratelimited(LOG_ERROR, 5,
                            "serve: out of memory keeping a finding");
    }
    if (state && d) {
        json_object_set_new(d, "id", json_string(id));
        json_object_set_new(d, "state", json_string(state));
        json_object_set_new(d, "summary", json_string(summary));
        log_json(strcmp(state, "started") == 0 ? "warn" : "info",
                 "imbalance_finding", json_incref(d));
    }
    json_decref(d);
    free(ev);
    free(details);
}

static int open_add(struct serve_scrape *sc, uint64_t seq)
{
    if (sc->nopen == sc->capopen) {
        size_t cap = sc->capopen ? 2 * sc->capopen : 16;
        uint64_t *v = realloc(sc->open, cap * sizeof(*v));
        if (!v)
            return -1;
        sc->open = v;
        sc->capopen = cap;
    }
    sc->open[sc->nopen++] = seq;
    return 0;
}

static void active_free(struct active *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].cond);
        free(a[i].subject);
    }
    free(a);
}

/* Report what started and ended since the last round; publish the open
 * findings and the per-condition counts for /metrics. */
static void report(struct serve_scrape *sc, int64_t rows)
{
    size_t n, at, nact = 0;
    const struct imb_finding *f = imb_engine_findings(sc->e, &n);
    struct active *act = calloc(n ? n : 1, sizeof(*act));
    uint64_t *started =
        calloc(sc->rb->ncond ? sc->rb->ncond : 1, sizeof(*started));

    for (size_t i = 0; i < n; i++) {
        bool fresh = f[i].seq > sc->max_seq;

        if (fresh) {
            sc->max_seq = f[i].seq;
            if (started)
                started[f[i].cond - sc->rb->cond]++;
            tell(sc, &f[i], "started");
            if (f[i].active && open_add(sc, f[i].seq) < 0)
                log_ratelimited(LOG_ERROR, 5, "serve: out of memory");
        }
        if (!f[i].active && is_open(sc, f[i].seq, &at)) {
            sc->open[at] = sc->open[--sc->nopen];
            tell(sc, &f[i], "ended");
        } else if (!f[i].active && fresh) {
            tell(sc, &f[i], "ended"); /* opened and closed in one round */
        } else if (f[i].active && !fresh && rows > 0) {
            tell(sc, &f[i], NULL); /* the page's entry: last seen, rows */
        }
        if (f[i].active && act) {
            act[nact].cond = strdup(f[i].cond->id);
            act[nact].subject = strdup(f[i].key);
            nact++;
        }
    }
    pthread_mutex_lock(&sc->mu);
    struct active *old = sc->act;
    size_t nold = sc->nact;
    sc->act = act;
    sc->nact = act ? nact : 0;
    for (size_t c = 0; started && c < sc->rb->ncond; c++)
        sc->started[c] += started[c];
    if (rows > 0)
        sc->rows += (uint64_t)rows;
    else if (rows < 0)
        sc->engine_errors++;
    pthread_mutex_unlock(&sc->mu);
    active_free(old, nold);
    free(started);
}

/* Run the engine on every row the targets have been scraped for: the rows
 * before the one the next round falls in. */
static void evaluate(struct serve_scrape *sc, int64_t next_due)
{
    int64_t now = now_ns(), until, r;
    char err[512];

    take_collectives(sc, now);
    until = floor_to(next_due - (sc->traces ? sc->lag_ns : 0), sc->step_ns);
    series_store_trim(sc->store, now - sc->horizon_ns);
    r = imb_engine_update(
        sc->e, sc->store,
        sc->coll && (sc->coll->n || sc->coll->nprefill) ? sc->coll : NULL,
        until, err, sizeof err);
    if (r < 0)
        log_ratelimited(LOG_ERROR, 5, "serve: imbalance detection: %s", err);
    report(sc, r);
    imb_engine_prune(sc->e, sc->cfg.keep_closed);
}

static void *scrape_main(void *arg)
{
    struct serve_scrape *sc = arg;
    int64_t iv = sc->interval_ns, now = now_ns();
    int64_t next = floor_to(now, iv) + iv / 2;

    if (next <= now)
        next += iv;
    for (;;) {
        struct timespec until = {(time_t)(next / NS), (long)(next % NS)};

        pthread_mutex_lock(&sc->mu);
        while (!atomic_load(&sc->stopping) && now_ns() < next &&
               pthread_cond_timedwait(&sc->wake, &sc->mu, &until) == 0)
            ;
        pthread_mutex_unlock(&sc->mu);
        if (atomic_load(&sc->stopping))
            break;
        if (now_ns() < next)
            continue; /* woken early */
        scrape_round(sc);
        if (atomic_load(&sc->stopping))
            break;
        /* the next round; rounds missed (a slow target, a stall) are
         * skipped, not run back to back */
        now = now_ns();
        next += iv;
        while (next <= now)
            next += iv;
        evaluate(sc, next);
    }
    return NULL;
}

/* ---- start, stop */

struct serve_scrape *serve_scrape_start(const struct serve_scrape_config *cfg,
                                        struct serve_page *page, char *err,
                                        size_t errlen)
{
    struct serve_scrape *sc = calloc(1, sizeof(*sc));
    double iv, to;

    if (!sc) {
        snprintf(err, errlen, "serve: out of memory");
        return NULL;
    }
    sc->cfg = *cfg;
    sc->page = page;
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->wake, NULL);
    if (!sc->cfg.keep_closed)
        sc->cfg.keep_closed = 64;
    if (serve_scrape_check(cfg, err, errlen) < 0 ||
        load_runbook(cfg, &sc->rb, err, errlen) < 0 ||
        http_client_init(err, errlen) < 0)
        goto fail;
    iv = cfg->interval_s > 0 ? cfg->interval_s : sc->rb->step_s;
    to = cfg->timeout_s > 0 ? cfg->timeout_s : fmin(0.8 * iv, 10);
    sc->interval_ns = (int64_t)llround(iv * 1e9);
    sc->step_ns = (int64_t)llround(sc->rb->step_s * 1e9);
    sc->timeout_ms = (long)ceil(to * 1000);
    sc->lag_ns = cfg->trace_lag_s > 0 ? (int64_t)(cfg->trace_lag_s * 1e9) : 0;
    sc->horizon_ns = (int64_t)((sc->rb->history_s + 2 * sc->rb->step_s +
                                (cfg->trace_lag_s > 0 ? cfg->trace_lag_s : 0)) *
                               1e9);
    if (sc->interval_ns < 1000000 || sc->step_ns <= 0) {
        snprintf(err, errlen, "serve: scrape interval below 1 ms");
        goto fail;
    }
    sc->store = series_store_create();
    sc->e = imb_engine_create(sc->rb);
    sc->started =
        calloc(sc->rb->ncond ? sc->rb->ncond : 1, sizeof(*sc->started));
    sc->t = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*sc->t));
    sc->multi = curl_multi_init();
    if (!sc->store || !sc->e || !sc->started || !sc->t || !sc->multi) {
        snprintf(err, errlen, "serve: out of memory starting the scrapes");
        goto fail;
    }
    series_store_set_horizon(sc->store, sc->horizon_ns);
    imb_engine_start_at(sc->e, now_ns());
    for (size_t i = 0; i < cfg->ntargets; i++, sc->nt++)
        if (target_init(sc, &sc->t[i], cfg->targets[i], err, errlen) < 0) {
            sc->nt++;
            goto fail;
        }
    if (pthread_create(&sc->thread, NULL, scrape_main, sc) != 0) {
        snprintf(err, errlen, "serve: cannot start the scrape thread");
        goto fail;
    }
    sc->thread_started = true;
    return sc;
fail:
    serve_scrape_destroy(sc);
    return NULL;
}

void serve_scrape_destroy(struct serve_scrape *sc)
{
    if (!sc)
        return;
    pthread_mutex_lock(&sc->mu);
    atomic_store(&sc->stopping, true);
    pthread_cond_broadcast(&sc->wake);
    pthread_mutex_unlock(&sc->mu);
    if (sc->thread_started)
        pthread_join(sc->thread, NULL);
    for (size_t i = 0; i < sc->nt; i++) {
        if (sc->t[i].h)
            curl_easy_cleanup(sc->t[i].h);
        free(sc->t[i].body);
    }
    if (sc->multi)
        curl_multi_cleanup(sc->multi);
    free(sc->t);
    active_free(sc->act, sc->nact);
    free(sc->open);
    free(sc->started);
    imb_collectives_destroy(sc->pending);
    imb_collectives_destroy(sc->coll);
    imb_engine_destroy(sc->e);
    series_store_destroy(sc->store);
    imb_runbook_destroy(sc->rb);
    pthread_cond_destroy(&sc->wake);
    pthread_mutex_destroy(&sc->mu);
    free(sc);
}

/* ---- /metrics */

/* Label value escaping (text exposition format). */
static void put_label(FILE *f, const char *v)
{
    prom_put_escaped(f, v, true);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void per_target(FILE *f, const struct serve_scrape *sc, int what)
{
    for (size_t i = 0; i < sc->nt; i++) {
        const struct target *t = &sc->t[i];
        static const char *const names[] = {
            "skewscope_scrape_up", "skewscope_scrape_errors_total",
            "skewscope_scrape_samples", "skewscope_scrape_duration_seconds"};

        fprintf(f, "%s{target=\"", names[what]);
        put_label(f, t->name);
        fputs("\"} ", f);
        if (what == 0)
            fprintf(f, "%d\n", t->up ? 1 : 0);
        else if (what == 1)
            fprintf(f, "%" PRIu64 "\n", t->errors);
        else if (what == 2)
            fprintf(f, "%" PRId64 "\n", t->samples);
        else
            fprintf(f, "%.6f\n", t->duration_s);
    }
}

void serve_scrape_metrics(struct serve_scrape *sc, FILE *f)
{
    if (!sc)
        return;
    pthread_mutex_lock(&sc->mu);
    head(f, "skewscope_scrape_up", "gauge",
         "1 when the target's last scrape was answered 200 with a body the "
         "Prometheus text reader took whole");
    per_target(f, sc, 0);
    head(f, "skewscope_scrape_errors_total", "counter",
         "Scrapes of the target that failed: unreachable, timed out, a "
         "status other than 200, or a body the reader refused");
    per_target(f, sc, 1);
    head(f, "skewscope_scrape_samples", "gauge",
         "Samples read from the target's last successful scrape");
    per_target(f, sc, 2);
    head(f, "skewscope_scrape_duration_seconds", "gauge",
         "Time the target's last scrape took, s");
    per_target(f, sc, 3);
    head(f, "skewscope_imbalance_rows_total", "counter",
         "Rows of the detectors' grid evaluated (one per runbook step)");
    fprintf(f, "skewscope_imbalance_rows_total %" PRIu64 "\n", sc->rows);
    head(f, "skewscope_imbalance_findings", "gauge",
         "1 for each open imbalance finding (condition, subject)");
    for (size_t i = 0; i < sc->nact; i++) {
        fputs("skewscope_imbalance_findings{condition=\"", f);
        put_label(f, sc->act[i].cond ? sc->act[i].cond : "");
        fputs("\",subject=\"", f);
        put_label(f, sc->act[i].subject ? sc->act[i].subject : "");
        fputs("\"} 1\n", f);
    }
    head(f, "skewscope_imbalance_findings_total", "counter",
         "Imbalance findings started, by condition");
    for (size_t c = 0; c < sc->rb->ncond; c++) {
        if (!sc->rb->cond[c].enabled || !sc->rb->cond[c].det)
            continue;
        fputs("skewscope_imbalance_findings_total{condition=\"", f);
        put_label(f, sc->rb->cond[c].id);
        fprintf(f, "\"} %" PRIu64 "\n", sc->started[c]);
    }
    head(f, "skewscope_imbalance_collectives_total", "counter",
         "Collectives of tensor-parallel ranks taken from assembled traces "
         "(arrivals on the live clock model)");
    fprintf(f, "skewscope_imbalance_collectives_total %" PRIu64 "\n",
            sc->coll_taken);
    head(f, "skewscope_imbalance_trace_generations_skipped_total", "counter",
         "Assembled generations whose collectives were left out: a rank on "
         "a clock the live estimate does not know yet, or out of memory");
    fprintf(f,
            "skewscope_imbalance_trace_generations_skipped_total %" PRIu64 "\n",
            sc->coll_skipped);
    pthread_mutex_unlock(&sc->mu);
}
