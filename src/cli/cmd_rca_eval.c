/* cmd_rca_eval: `skewscope rca-eval DATASET`: run methods over every case
 * of an RCAEval dataset (folders <service>_<fault>/<n>/ holding data.csv)
 * and score them with RCAEval's AC@k and Avg@k (src/rca/eval.h), per
 * method and fault type.
 *
 * Threads: --jobs N workers take cases from a shared counter; each reads
 * its case, prepares it once and runs every method on it, writing only its
 * own result slots. The main thread joins them and then records the
 * results in case order, so the output does not depend on N. Progress and
 * per-case failures go to stderr under one mutex. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli_common.h"
#include "cli/cmd_rca_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "ingest/rcaeval.h"
#include "rca/eval.h"
#include "rca/rca.h"
#include "util/clock.h"

static const char eval_usage[] =
    "usage: skewscope rca-eval DATASET [--methods LIST|all] [--jobs N] "
    "[--json]\n"
    "                          [--inject-time auto] [--length MIN] "
    "[--tdelta S]\n"
    "                          [--seed S] [--param METHOD.KEY=VALUE]...\n\n"
    "Score root-cause methods on an RCAEval dataset: every folder under "
    "DATASET\nholding data.csv (or, when none does, simple_metrics.csv) is "
    "a case; its\nparent folder <service>_<fault> names the true root cause "
    "and the fault type.\nPrinted per method and fault type: cases, AC@1, "
    "AC@3, AC@5 and Avg@5 at the\nservice level with RCAEval's arithmetic, "
    "and seconds per case. A method that\nfails on a case is reported for "
    "that case and left out of the counts.\n\n"
    "  --methods LIST      comma-separated method names, or all (default); "
    "see\n"
    "                      skewscope rca --list\n"
    "  --jobs N            cases run in N threads (default 1)\n"
    "  --json              {\"methods\": [{\"method\", \"seconds_per_case\", "
    "\"faults\":\n"
    "                      {FAULT: {\"cases\", \"ac1\", \"ac3\", \"ac5\", "
    "\"avg5\"}},\n"
    "                      \"fallbacks\", \"failures\": [{\"case\", "
    "\"error\"}]}]}\n"
    "  --inject-time auto  split each case where BARO's change-point "
    "detection finds\n"
    "                      the fault, within the window around "
    "inject_time.txt (as\n"
    "                      BARO's evaluation does); cases without a change "
    "point\n"
    "                      in the latency and error metrics "
    "fail\n" RCA_CLI_OPTS_USAGE
    "  --param METHOD.KEY=VALUE  a parameter of one method (docs/RCA.md)\n\n"
    "Seconds per case time the method (and, with --inject-time auto, the "
    "change-point\ndetection), not the reading of the files. Progress goes "
    "to stderr.\n"
    "Exit: 0 evaluated (failed cases are listed), 2 usage, 66 DATASET "
    "unreadable or\nwithout cases, 70 internal error.\n"
    "Example: skewscope rca-eval data/llm-ref-stack --methods nsigma,baro "
    "--jobs 2\n";

struct ev_case {
    char *dir;   /* DATASET/<service>_<fault>/<n> */
    char *name;  /* <service>_<fault>/<n> */
    char *fault; /* set by the worker that read it */
};

struct ev_result {
    bool ok;
    int fallback;
    size_t rank;
    double seconds;
    char *error;
};

struct ev_ctx {
    struct ev_case *cases;
    size_t ncases;
    const struct rca_method **methods;
    size_t nm;
    struct rca_params *params; /* one per method */
    struct rca_setup setup;
    unsigned inputs;
    struct ev_result *res; /* ncases x nm */
    atomic_size_t next;
    atomic_bool nomem;
    pthread_mutex_t mu; /* guards the fields below and stderr */
    size_t done;
    int64_t t0_ns, last_ns;
    bool progress_shown;
};

/* ---------------------------------------------------------------------
 * Finding the cases
 * --------------------------------------------------------------------- */

struct ev_list {
    struct ev_case *v;
    size_t n, cap;
};

static bool file_exists(const char *dir, const char *file)
{
    char p[4096];
    struct stat st;

    if (snprintf(p, sizeof p, "%s/%s", dir, file) >= (int)sizeof p)
        return false;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int list_add(struct ev_list *l, const char *dir, size_t root_len)
{
    struct ev_case *c;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        if (!(c = realloc(l->v, cap * sizeof(*c))))
            return -1;
        l->v = c;
        l->cap = cap;
    }
    c = &l->v[l->n];
    memset(c, 0, sizeof(*c));
    c->dir = strdup(dir);
    c->name = strdup(dir[root_len] == '/' ? dir + root_len + 1 : dir);
    if (!c->dir || !c->name) {
        free(c->dir);
        free(c->name);
        return -1;
    }
    l->n++;
    return 0;
}

/* Python's glob("**" "/FILE", recursive=True): every folder at any depth
 * (hidden ones skipped, as glob does) holding FILE. */
static int walk(const char *dir, const char *file, size_t root_len,
                unsigned depth, struct ev_list *l)
{
    DIR *d;
    struct dirent *e;
    char p[4096];
    int rc = 0;

    if (file_exists(dir, file) && list_add(l, dir, root_len) < 0)
        return -1;
    if (depth > 32 || !(d = opendir(dir)))
        return 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        struct stat st;

        if (e->d_name[0] == '.')
            continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
            continue;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rc = walk(p, file, root_len, depth + 1, l);
    }
    closedir(d);
    return rc;
}

static int cmp_case(const void *a, const void *b)
{
    return strcmp(((const struct ev_case *)a)->dir,
                  ((const struct ev_case *)b)->dir);
}

static void free_cases(struct ev_case *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].dir);
        free(v[i].name);
        free(v[i].fault);
    }
    free(v);
}

/* Returns 0 with the cases sorted by path (main.py's sorted(data_paths)),
 * or an exit code. */
static int find_cases(const char *root, struct ev_list *l)
{
    struct stat st;
    char *r = strdup(root);
    size_t len;

    if (!r)
        return EXIT_SOFTWARE;
    len = strlen(r);
    while (len > 1 && r[len - 1] == '/')
        r[--len] = 0;
    if (stat(r, &st) < 0 || !S_ISDIR(st.st_mode)) {
        const char *why = "not a folder";

        if (stat(r, &st) < 0)
            why = strerror(errno);
        fprintf(stderr, "skewscope rca-eval: %s: %s\n", r, why);
        free(r);
        return EXIT_NOINPUT;
    }
    if (walk(r, "data.csv", len, 0, l) < 0 ||
        (l->n == 0 && walk(r, "simple_metrics.csv", len, 0, l) < 0)) {
        free(r);
        return EXIT_SOFTWARE;
    }
    if (l->n == 0) {
        fprintf(stderr,
                "skewscope rca-eval: %s: no case (a folder holding data.csv "
                "or simple_metrics.csv)\n",
                r);
        free(r);
        return EXIT_NOINPUT;
    }
    free(r);
    qsort(l->v, l->n, sizeof(*l->v), cmp_case);
    return 0;
}

/* ---------------------------------------------------------------------
 * Workers
 * --------------------------------------------------------------------- */

static void fail_all(struct ev_ctx *x, size_t i, const char *msg)
{
    for (size_t m = 0; m < x->nm; m++) {
        struct ev_result *r = &x->res[i * x->nm + m];

        r->ok = false;
        if (!(r->error = strdup(msg)))
            atomic_store(&x->nomem, true);
    }
    pthread_mutex_lock(&x->mu);
    fprintf(stderr, "skewscope rca-eval: %s: %s\n", x->cases[i].name, msg);
    pthread_mutex_unlock(&x->mu);
}

static void run_methods(struct ev_ctx *x, size_t i, const struct rca_case *c,
                        const char *truth, double setup_s)
{
    char err[1024];

    for (size_t m = 0; m < x->nm; m++) {
        struct ev_result *r = &x->res[i * x->nm + m];
        struct rca_ranking rk;
        int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
        int rc;

        rca_ranking_init(&rk);
        err[0] = 0;
        rc = rca_rank(x->methods[m], c, &x->params[m], &rk, err, sizeof err);
        r->seconds =
            (double)(clock_now_ns(CLOCK_MONOTONIC) - t0) / 1e9 + setup_s;
        if (rc == 0) {
            r->ok = true;
            r->rank = rca_eval_rank_of(&rk, truth);
            r->fallback = rk.fallback;
        } else {
            if (rc == -RCA_E_NOMEM || !(r->error = strdup(err)))
                atomic_store(&x->nomem, true);
            pthread_mutex_lock(&x->mu);
            fprintf(stderr, "skewscope rca-eval: %s on %s: %s\n",
                    rca_method_name(x->methods[m]), x->cases[i].name, err);
            pthread_mutex_unlock(&x->mu);
        }
        rca_ranking_free(&rk);
    }
}

static void run_case(struct ev_ctx *x, size_t i)
{
    struct rcaeval_case *src = NULL;
    struct rca_case *c = NULL;
    char err[1024] = "";
    int64_t t0;
    double setup_s = 0.0;

    if (rca_cli_read_case(x->cases[i].dir, x->inputs, &src, err, sizeof err) !=
        0) {
        fail_all(x, i, err);
        return;
    }
    if (!src->root_service || !src->fault) {
        snprintf(err, sizeof err,
                 "the parent folder is not named <service>_<fault>: no "
                 "root cause to score against");
        fail_all(x, i, err);
        goto out;
    }
    x->cases[i].fault = strdup(src->fault);
    t0 = clock_now_ns(CLOCK_MONOTONIC);
    if (rca_case_prepare(src, &x->setup, &c, err, sizeof err) < 0) {
        fail_all(x, i, err);
        goto out;
    }
    /* Change-point detection is part of a method's time (BARO's published
     * timing includes it); main.py's windowing is not. */
    if (x->setup.inject_auto)
        setup_s = (double)(clock_now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    run_methods(x, i, c, src->root_service, setup_s);
out:
    rca_case_destroy(c);
    rcaeval_case_destroy(src);
}

static void progress(struct ev_ctx *x)
{
    int64_t now = clock_now_ns(CLOCK_MONOTONIC);

    pthread_mutex_lock(&x->mu);
    x->done++;
    if (now - x->last_ns >= 2000000000LL ||
        (x->done == x->ncases && x->progress_shown)) {
        fprintf(stderr, "skewscope rca-eval: %zu/%zu cases, %.1f s\n", x->done,
                x->ncases, (double)(now - x->t0_ns) / 1e9);
        x->last_ns = now;
        x->progress_shown = true;
    }
    pthread_mutex_unlock(&x->mu);
}

static void *worker(void *arg)
{
    struct ev_ctx *x = arg;

    for (;;) {
        size_t i = atomic_fetch_add(&x->next, 1);

        if (i >= x->ncases)
            break;
        run_case(x, i);
        progress(x);
    }
    return NULL;
}

/* ---------------------------------------------------------------------
 * Output
 * --------------------------------------------------------------------- */

static int set_num(json_t *o, const char *k, double v)
{
    return json_object_set_new(o, k, rca_cli_json_number(v));
}

static json_t *method_json(const struct rca_eval_method *m)
{
    json_t *o = json_object(), *faults = json_object(), *fails = json_array();
    int bad = !o || !faults || !fails;

    bad = bad || json_object_set_new(o, "method", json_string(m->method)) ||
          set_num(o, "seconds_per_case", rca_eval_seconds_per_case(m));
    for (size_t f = 0; !bad && f < m->nfaults; f++) {
        const struct rca_eval_acc *a = &m->faults[f].acc;
        json_t *fo = json_object();

        bad = !fo || json_object_set_new(faults, m->faults[f].fault, fo) ||
              json_object_set_new(fo, "cases",
                                  json_integer((json_int_t)a->cases)) ||
              set_num(fo, "ac1", rca_eval_ac(a, 1)) ||
              set_num(fo, "ac3", rca_eval_ac(a, 3)) ||
              set_num(fo, "ac5", rca_eval_ac(a, 5)) ||
              set_num(fo, "avg5", rca_eval_avg(a, 5));
    }
    for (size_t f = 0; !bad && f < m->nfailures; f++) {
        json_t *fo = json_object();

        bad =
            !fo || json_array_append_new(fails, fo) ||
            json_object_set_new(fo, "case",
                                json_string(m->failures[f].case_name)) ||
            json_object_set_new(fo, "error", json_string(m->failures[f].error));
    }
    bad = bad || json_object_set(o, "faults", faults) ||
          json_object_set_new(o, "fallbacks",
                              json_integer((json_int_t)m->fallbacks)) ||
          json_object_set(o, "failures", fails);
    json_decref(faults);
    json_decref(fails);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int print_json(const struct rca_eval_table *t)
{
    json_t *root = json_object(), *arr = json_array();
    int rc = EXIT_FINE;

    if (!root || !arr || json_object_set(root, "methods", arr))
        rc = EXIT_SOFTWARE;
    for (size_t i = 0; rc == EXIT_FINE && i < t->nmethods; i++) {
        json_t *m = method_json(&t->methods[i]);
        if (!m || json_array_append_new(arr, m))
            rc = EXIT_SOFTWARE;
    }
    if (rc == EXIT_FINE && (json_dumpf(root, stdout, RCA_CLI_JSON_FLAGS) < 0 ||
                            fputc('\n', stdout) == EOF))
        rc = EXIT_SOFTWARE;
    json_decref(arr);
    json_decref(root);
    return rc;
}

static void print_text(const struct rca_eval_table *t)
{
    printf("%-18s %-12s %6s %6s %6s %6s %6s %10s\n", "method", "fault", "cases",
           "AC@1", "AC@3", "AC@5", "Avg@5", "s/case");
    for (size_t i = 0; i < t->nmethods; i++) {
        const struct rca_eval_method *m = &t->methods[i];

        for (size_t f = 0; f < m->nfaults; f++) {
            const struct rca_eval_acc *a = &m->faults[f].acc;

            printf("%-18s %-12s %6zu %6.2f %6.2f %6.2f %6.2f %10.4g\n",
                   m->method, m->faults[f].fault, a->cases, rca_eval_ac(a, 1),
                   rca_eval_ac(a, 3), rca_eval_ac(a, 5), rca_eval_avg(a, 5),
                   rca_eval_seconds_per_case(m));
        }
        if (m->nfaults == 0)
            printf("%-18s %-12s %6d %6s %6s %6s %6s %10.4g\n", m->method, "-",
                   0, "-", "-", "-", "-", rca_eval_seconds_per_case(m));
    }
    for (size_t i = 0; i < t->nmethods; i++) {
        const struct rca_eval_method *m = &t->methods[i];

        if (m->fallbacks)
            printf("\n%s: %zu case(s) ranked by the dummy fallback "
                   "(RCAEval's @rca)\n",
                   m->method, m->fallbacks);
        if (m->nfailures)
            printf("\n%s failed on %zu case(s) (not counted):\n", m->method,
                   m->nfailures);
        for (size_t f = 0; f < m->nfailures; f++)
            printf("  %s: %s\n", m->failures[f].case_name,
                   m->failures[f].error);
    }
}

/* ---------------------------------------------------------------------
 * The command
 * --------------------------------------------------------------------- */

struct eval_cmd {
    struct rca_cli_opts o;
    const char *methods;
    unsigned jobs;
    bool json;
};

enum { OPT_METHODS = 'm', OPT_JOBS = 'j', OPT_JSON = 'J' };

static int eval_each(int opt, const char *arg, void *ctx)
{
    struct eval_cmd *c = ctx;
    int rc = rca_cli_option("rca-eval", opt, arg, &c->o, false);

    if (rc == 1)
        return 0;
    if (rc != 0)
        return rc;
    switch (opt) {
    case OPT_METHODS:
        c->methods = arg;
        return 0;
    case OPT_JOBS:
        if (cli_parse_uint("--jobs", arg, &c->jobs) < 0 || c->jobs == 0 ||
            c->jobs > 1024)
            return cli_usage_error("rca-eval", "--jobs expects 1..1024");
        return 0;
    case OPT_JSON:
        c->json = true;
        return 0;
    default:
        return cli_usage_error("rca-eval", "unexpected option");
    }
}

/* --methods LIST|all -> method table. Returns 0 or an exit code. */
static int pick_methods(const char *list, const struct rca_method ***out,
                        size_t *n)
{
    const struct rca_method **v = calloc(rca_method_count() + 1, sizeof(*v));
    char *copy = strdup(list), *save = NULL;

    *n = 0;
    if (!v || !copy) {
        free(v);
        free(copy);
        return EXIT_SOFTWARE;
    }
    if (!strcmp(list, "all")) {
        for (size_t i = 0; i < rca_method_count(); i++)
            v[(*n)++] = rca_method_at(i);
    } else {
        for (char *tok = strtok_r(copy, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            const struct rca_method *m = rca_method_find(tok);
            bool dup = false;

            if (!m) {
                int rc = cli_usage_error("rca-eval",
                                         "unknown method '%s' (skewscope "
                                         "rca --list shows them)",
                                         tok);
                free(v);
                free(copy);
                return rc;
            }
            for (size_t k = 0; k < *n; k++)
                dup |= v[k] == m;
            if (!dup)
                v[(*n)++] = m;
        }
    }
    free(copy);
    if (*n == 0) {
        free(v);
        return cli_usage_error("rca-eval", "--methods names no method");
    }
    *out = v;
    return 0;
}

/* Every --param must name a selected method (METHOD.KEY=VALUE) and pass
 * its validation. */
static int check_params(struct ev_ctx *x, const struct rca_cli_opts *o,
                        struct rca_kv *kv_all)
{
    char err[512];

    for (size_t i = 0; i < o->nkv; i++) {
        const char *k = o->kv[i].key, *dot = strchr(k, '.');
        bool known = false;

        for (size_t m = 0; dot && m < x->nm; m++) {
            const char *name = rca_method_name(x->methods[m]);
            known |= strlen(name) == (size_t)(dot - k) &&
                     !strncmp(name, k, (size_t)(dot - k));
        }
        if (!known)
            return cli_usage_error("rca-eval",
                                   "--param %s: give it as METHOD.KEY=VALUE "
                                   "for one of the selected methods",
                                   k);
    }
    for (size_t m = 0; m < x->nm; m++) {
        const char *name = rca_method_name(x->methods[m]);

        x->params[m] = rca_cli_params(o, name, kv_all + m * (o->nkv + 1), true);
        if (rca_method_validate(x->methods[m], &x->params[m], err, sizeof err) <
            0)
            return cli_usage_error("rca-eval", "%s", err);
        x->inputs |= rca_method_inputs(x->methods[m]);
    }
    return 0;
}

static int record_all(struct ev_ctx *x, struct rca_eval_table *t)
{
    const char **names = calloc(x->nm, sizeof(*names));
    int rc = 0;

    if (!names)
        return -1;
    for (size_t m = 0; m < x->nm; m++)
        names[m] = rca_method_name(x->methods[m]);
    if (rca_eval_table_init(t, names, x->nm) < 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < x->ncases; i++)
        for (size_t m = 0; rc == 0 && m < x->nm; m++) {
            struct ev_result *r = &x->res[i * x->nm + m];

            rc = r->ok ? rca_eval_record_rank(t, m, x->cases[i].fault, r->rank,
                                              r->fallback, r->seconds)
                       : rca_eval_record_failure(t, m, x->cases[i].name,
                                                 r->error, r->seconds);
        }
    rca_eval_table_finish(t);
    free(names);
    return rc;
}

static int run_workers(struct ev_ctx *x, unsigned jobs)
{
    pthread_t *th = calloc(jobs, sizeof(*th));
    unsigned started = 0;

    if (!th)
        return -1;
    x->t0_ns = x->last_ns = clock_now_ns(CLOCK_MONOTONIC);
    for (; started < jobs; started++)
        if (pthread_create(&th[started], NULL, worker, x) != 0)
            break;
    if (started == 0)
        worker(x); /* no thread could start: run here */
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    return 0;
}

static int eval_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"methods", required_argument, NULL, OPT_METHODS},
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        RCA_CLI_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct eval_cmd cmd = {.methods = "all", .jobs = 1};
    struct ev_ctx x = {0};
    struct ev_list cases = {0};
    struct rca_eval_table table = {0};
    struct rca_kv *kv_all = NULL;
    int rc;

    cmd.o.setup.llm_ref_stack = -1;
    pthread_mutex_init(&x.mu, NULL);
    rc = cli_getopt(argc, argv, "rca-eval", ":h", longopts, eval_usage,
                    eval_each, &cmd);
    if (rc != 0) {
        rc = rc < 0 ? EXIT_FINE : rc;
        goto out;
    }
    if (optind != argc - 1) {
        rc = cli_usage_error("rca-eval", optind >= argc
                                             ? "no DATASET folder"
                                             : "one DATASET folder only");
        goto out;
    }
    if ((rc = pick_methods(cmd.methods, &x.methods, &x.nm)) != 0)
        goto out;
    x.params = calloc(x.nm, sizeof(*x.params));
    kv_all = calloc(x.nm * (cmd.o.nkv + 1), sizeof(*kv_all));
    if (!x.params || !kv_all) {
        rc = EXIT_SOFTWARE;
        goto out;
    }
    if ((rc = check_params(&x, &cmd.o, kv_all)) != 0)
        goto out;
    if ((rc = find_cases(argv[optind], &cases)) != 0)
        goto out;
    x.cases = cases.v;
    x.ncases = cases.n;
    x.setup = cmd.o.setup;
    if (!(x.res = calloc(x.ncases * x.nm, sizeof(*x.res)))) {
        rc = EXIT_SOFTWARE;
        goto out;
    }
    atomic_init(&x.next, 0);
    atomic_init(&x.nomem, false);
    if (run_workers(&x, cmd.jobs < x.ncases ? cmd.jobs : (unsigned)x.ncases) <
            0 ||
        atomic_load(&x.nomem) || record_all(&x, &table) < 0) {
        fprintf(stderr, "skewscope rca-eval: out of memory\n");
        rc = EXIT_SOFTWARE;
        goto out;
    }
    if (cmd.json)
        rc = print_json(&table);
    else
        print_text(&table);
    if (rc == EXIT_FINE && fflush(stdout) != 0)
        rc = EXIT_SOFTWARE;
out:
    for (size_t i = 0; x.res && i < x.ncases * x.nm; i++)
        free(x.res[i].error);
    free(x.res);
    free_cases(cases.v, cases.n);
    rca_eval_table_free(&table);
    free(x.methods);
    free(x.params);
    free(kv_all);
    rca_cli_opts_free(&cmd.o);
    pthread_mutex_destroy(&x.mu);
    return rc;
}

const struct command cmd_rca_eval = {
    .name = "rca-eval",
    .summary = "score root-cause methods on an RCAEval dataset (AC@k, Avg@k)",
    .run = eval_run,
};
