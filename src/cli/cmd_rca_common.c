/* cmd_rca_common: options, case reading and exit codes shared by `rca`
 * and `rca-eval` (see cmd_rca_common.h). */
#include "cli/cmd_rca_common.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_common.h"
#include "cli/exit_codes.h"
#include "ingest/ingest.h"
#include "ingest/rcaeval.h"

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static int add_param(const char *cmd, const char *arg, struct rca_cli_opts *o)
{
    const char *eq = strchr(arg, '=');
    struct rca_kv *kv;
    char **own, *key;

    if (!eq || eq == arg)
        return cli_usage_error(cmd, "--param expects KEY=VALUE, got '%s'", arg);
    kv = realloc(o->kv, (o->nkv + 1) * sizeof(*kv));
    if (!kv)
        goto oom;
    o->kv = kv;
    own = realloc(o->kv_own, (o->nkv + 1) * sizeof(*own));
    if (!own)
        goto oom;
    o->kv_own = own;
    if (!(key = strndup(arg, (size_t)(eq - arg))))
        goto oom;
    own[o->nkv] = key;
    kv[o->nkv].key = key;
    kv[o->nkv].value = eq + 1;
    o->nkv++;
    return 1;
oom:
    fprintf(stderr, "skewscope %s: out of memory\n", cmd);
    return EXIT_SOFTWARE;
}

int rca_cli_option(const char *cmd, int opt, const char *arg,
                   struct rca_cli_opts *o, bool allow_time)
{
    unsigned u;
    int64_t v;

    switch (opt) {
    case 1000:
        if (!strcmp(arg, "auto")) {
            o->setup.inject_auto = true;
            o->setup.inject_given = false;
            return 1;
        }
        if (!allow_time)
            return cli_usage_error(cmd, "--inject-time: only 'auto' here (each "
                                        "case has its own inject_time.txt)");
        if (!parse_i64(arg, &v))
            return cli_usage_error(cmd,
                                   "--inject-time expects Unix seconds or "
                                   "'auto', got '%s'",
                                   arg);
        o->setup.inject_given = true;
        o->setup.inject_auto = false;
        o->setup.inject_time_s = v;
        return 1;
    case 1001:
        if (cli_parse_uint("--length", arg, &u) < 0 || u == 0 || u > 100000)
            return cli_usage_error(cmd,
                                   "--length expects minutes >= 1, got "
                                   "'%s'",
                                   arg);
        o->setup.length_min = u;
        return 1;
    case 1002:
        if (!parse_i64(arg, &v) || v < -1000000000 || v > 1000000000)
            return cli_usage_error(cmd, "--tdelta expects seconds, got '%s'",
                                   arg);
        o->setup.tdelta_s = v;
        return 1;
    case 1003: {
        char *end;
        unsigned long long s;

        errno = 0;
        s = strtoull(arg, &end, 0);
        if (errno || end == arg || *end || arg[0] == '-')
            return cli_usage_error(cmd,
                                   "--seed expects a whole number, got "
                                   "'%s'",
                                   arg);
        o->seed = s;
        return 1;
    }
    case 1004:
        return add_param(cmd, arg, o);
    default:
        return 0;
    }
}

void rca_cli_opts_free(struct rca_cli_opts *o)
{
    for (size_t i = 0; i < o->nkv; i++)
        free(o->kv_own[i]);
    free(o->kv_own);
    free(o->kv);
    o->kv = NULL;
    o->kv_own = NULL;
    o->nkv = 0;
}

struct rca_params rca_cli_params(const struct rca_cli_opts *o, const char *name,
                                 struct rca_kv *kv, bool scoped_only)
{
    struct rca_params p = {.seed = o->seed, .kv = kv, .nkv = 0};
    size_t nl = strlen(name);

    for (size_t i = 0; i < o->nkv; i++) {
        const char *k = o->kv[i].key, *dot = strchr(k, '.');

        if (dot && (size_t)(dot - k) == nl && !strncmp(k, name, nl))
            kv[p.nkv++] = (struct rca_kv){dot + 1, o->kv[i].value};
        else if (!dot && !scoped_only)
            kv[p.nkv++] = o->kv[i];
    }
    return p;
}

int rca_cli_read_case(const char *path, unsigned inputs,
                      struct rcaeval_case **out, char *err, size_t errlen)
{
    struct rcaeval_read_opts ro = {
        .metrics_only =
            !(inputs & (RCA_IN_LOGTS | RCA_IN_TRACETS | RCA_IN_TRACES |
                        RCA_IN_TRACES_OPT | RCA_IN_LOGS)),
    };
    struct stat st;
    char *dir = NULL;
    int rc;

    *out = NULL;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return EXIT_NOINPUT;
    }
    if (!S_ISDIR(st.st_mode)) {
        /* A data.csv path names its case folder. */
        const char *slash = strrchr(path, '/');

        dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        if (!dir) {
            snprintf(err, errlen, "out of memory");
            return EXIT_SOFTWARE;
        }
        path = dir;
    }
    rc = rcaeval_case_read(path, &ro, out, err, errlen);
    free(dir);
    return rc < 0 ? cli_exit_for_ingest(rc) : 0;
}

int rca_cli_exit_for(int rc)
{
    switch (-rc) {
    case RCA_OK:
        return EXIT_FINE;
    case RCA_E_NOMEM:
        return EXIT_SOFTWARE;
    case RCA_E_INVAL:
    case RCA_E_UNKNOWN:
        return EXIT_USAGE;
    default:
        return EXIT_DATAERR;
    }
}

struct json_t *rca_cli_json_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}
