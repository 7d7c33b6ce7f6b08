/* faketime: the environment that makes libfaketime skew a child's wall
 * clock, and a spawn helper. Sits under cli/cmd_inject.c and the testbed's
 * stage launcher; see faketime.h for the clock model and its limits. */
#include "testbed/faketime.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define NS_PER_S 1000000000LL

/* Variables of the caller's environment that this module sets or that would
 * override or disturb the offset it sets. */
static const char *const replaced_vars[] = {
    "LD_PRELOAD",
    "FAKETIME",
    "FAKETIME_DONT_FAKE_MONOTONIC",
    "FAKETIME_TIMESTAMP_FILE",
    "FAKETIME_FOLLOW_FILE",
    "FAKETIME_START_AFTER_SECONDS",
    "FAKETIME_STOP_AFTER_SECONDS",
    "FAKETIME_START_AFTER_NUMCALLS",
    "FAKETIME_STOP_AFTER_NUMCALLS",
    "FAKETIME_XRESET",
};
#define NREPLACED (sizeof(replaced_vars) / sizeof(replaced_vars[0]))

int faketime_locate(char *out, size_t outlen, char *err, size_t errlen)
{
    const char *env = getenv(FAKETIME_ENV_LIBRARY);
    const char *path = env && *env ? env : FAKETIME_DEBIAN_PATH;

    if (access(path, R_OK) != 0) {
        snprintf(err, errlen,
                 "libfaketime not found at %s (%s); install the Debian "
                 "package libfaketime or set %s to libfaketime.so.1",
                 path, strerror(errno), FAKETIME_ENV_LIBRARY);
        return -1;
    }
    if ((size_t)snprintf(out, outlen, "%s", path) >= outlen) {
        snprintf(err, errlen, "libfaketime path too long: %s", path);
        return -1;
    }
    return 0;
}

int faketime_spec(int64_t offset_ns, double drift_ppm, char *out, size_t outlen)
{
    uint64_t mag;
    int n;

    if (offset_ns > FAKETIME_MAX_OFFSET_NS ||
        offset_ns < -FAKETIME_MAX_OFFSET_NS || !isfinite(drift_ppm) ||
        fabs(drift_ppm) > FAKETIME_MAX_DRIFT_PPM)
        return -1;
    /* Integer formatting keeps every nanosecond of the offset. */
    mag = (uint64_t)(offset_ns < 0 ? -offset_ns : offset_ns);
    n = snprintf(out, outlen, "%c%llu.%09llu", offset_ns < 0 ? '-' : '+',
                 (unsigned long long)(mag / NS_PER_S),
                 (unsigned long long)(mag % NS_PER_S));
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    if (drift_ppm != 0) {
        /* libfaketime looks for 'm', 'h', 'd', 'y' anywhere in the value as
         * unit letters, so the rate must be plain digits: no exponent. */
        int k = snprintf(out + n, outlen - (size_t)n, " x%.12f",
                         1.0 + drift_ppm * 1e-6);
        if (k < 0 || (size_t)k >= outlen - (size_t)n)
            return -1;
    }
    return 0;
}

static bool is_replaced(const char *entry)
{
    for (size_t i = 0; i < NREPLACED; i++) {
        size_t n = strlen(replaced_vars[i]);
        if (strncmp(entry, replaced_vars[i], n) == 0 && entry[n] == '=')
            return true;
    }
    return false;
}

static char *env_pair(const char *name, const char *a, const char *b)
{
    size_t n = strlen(name) + strlen(a) + (b ? strlen(b) + 1 : 0) + 2;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%s=%s%s%s", name, a, b ? " " : "", b ? b : "");
    return s;
}

/* Append the variables this module sets; returns 0 or -1 (ENOMEM). */
static int add_vars(char **env, size_t *n, const struct faketime_config *cfg,
                    const char *lib, const char *spec, char *const *base)
{
    const char *preload = NULL;

    for (size_t i = 0; base[i]; i++)
        if (strncmp(base[i], "LD_PRELOAD=", 11) == 0 && base[i][11])
            preload = base[i] + 11;
    /* libfaketime first, so its symbols win over other preloads. */
    if (!(env[(*n)++] = env_pair("LD_PRELOAD", lib, preload)))
        return -1;
    if (!(env[(*n)++] = env_pair("FAKETIME", spec, NULL)))
        return -1;
    if (!cfg->fake_monotonic &&
        !(env[(*n)++] = env_pair("FAKETIME_DONT_FAKE_MONOTONIC", "1", NULL)))
        return -1;
    return 0;
}

char **faketime_env_create(const struct faketime_config *cfg, char *const *base,
                           char *err, size_t errlen)
{
    char lib[4096], spec[64];
    char **env = NULL;
    size_t nbase = 0, n = 0;

    if (!base)
        base = environ;
    if (cfg->library && *cfg->library)
        snprintf(lib, sizeof lib, "%s", cfg->library);
    else if (faketime_locate(lib, sizeof lib, err, errlen) < 0)
        return NULL;
    if (faketime_spec(cfg->offset_ns, cfg->drift_ppm, spec, sizeof spec) < 0) {
        snprintf(err, errlen,
                 "offset or drift out of range (|offset| <= 1 year, "
                 "|drift| <= %.0f ppm)",
                 FAKETIME_MAX_DRIFT_PPM);
        return NULL;
    }
    while (base[nbase])
        nbase++;
    if (!(env = calloc(nbase + 4, sizeof(*env))))
        goto nomem;
    for (size_t i = 0; i < nbase; i++)
        if (!is_replaced(base[i]) && !(env[n++] = strdup(base[i])))
            goto nomem;
    if (add_vars(env, &n, cfg, lib, spec, base) < 0)
        goto nomem;
    return env;
nomem:
    faketime_env_destroy(env);
    snprintf(err, errlen, "out of memory building the environment");
    return NULL;
}

void faketime_env_destroy(char **env)
{
    if (!env)
        return;
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

int faketime_spawn(const struct faketime_config *cfg, char *const argv[],
                   pid_t *pid, char *err, size_t errlen)
{
    char **env = faketime_env_create(cfg, NULL, err, errlen);
    int rc;

    if (!env)
        return -FAKETIME_E_ENV;
    /* glibc's posix_spawnp reports a failed exec (ENOENT, EACCES) here. */
    rc = posix_spawnp(pid, argv[0], NULL, NULL, argv, env);
    faketime_env_destroy(env);
    if (rc != 0) {
        snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(rc));
        return rc == ENOENT ? -FAKETIME_E_NOTFOUND : -FAKETIME_E_NOEXEC;
    }
    return 0;
}
