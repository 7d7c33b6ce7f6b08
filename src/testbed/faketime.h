/* faketime: run an unmodified program with a skewed wall clock through
 * libfaketime (an LD_PRELOAD library that intercepts time(),
 * gettimeofday(), clock_gettime() and friends). Used by `skewscope inject`
 * and by the testbed's `--skew-mode faketime`, which starts a stage under it
 * so that the process's own clock is wrong, as on a badly synchronised host.
 *
 * Clock the child sees (libfaketime's relative-offset mode, FAKETIME
 * "+S.NNNNNNNNN xR"):
 *     seen(t) = t + offset + (R - 1) * (t - t_start),  R = 1 + drift_ppm*1e-6
 * where t is the real CLOCK_REALTIME and t_start the moment the child's
 * libfaketime initialised (each exec'd process restarts the drift at its
 * own start). Positive offset = the child's clock is AHEAD; positive drift
 * = it runs fast (docs/CONTRACTS.md, "Sign conventions").
 *
 * What it cannot reach: statically linked programs, setuid/setgid binaries
 * (the loader ignores LD_PRELOAD), programs that read the clock through raw
 * syscalls or their own vDSO calls (Go's runtime), and programs that load
 * libc's time functions with dlopen themselves. CLOCK_MONOTONIC is left
 * alone unless fake_monotonic is set (skew of a real host is in its wall
 * clock; libfaketime would otherwise shift monotonic time too).
 *
 * Thread-safety: the functions keep no state; faketime_env_create() reads
 * the environment (getenv) and must not race with setenv() in another
 * thread. */
#ifndef SKEWSCOPE_FAKETIME_H
#define SKEWSCOPE_FAKETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Debian's location of the library; SKEWSCOPE_LIBFAKETIME overrides it. */
#define FAKETIME_DEBIAN_PATH                                                   \
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
#define FAKETIME_ENV_LIBRARY "SKEWSCOPE_LIBFAKETIME"

/* Largest |offset| accepted: one year. */
#define FAKETIME_MAX_OFFSET_NS ((int64_t)365 * 86400 * 1000000000)
/* Largest |drift| accepted, ppm (libfaketime's rate must stay positive). */
#define FAKETIME_MAX_DRIFT_PPM 100000.0

struct faketime_config {
    int64_t offset_ns;   /* + = child's clock ahead of the real clock */
    double drift_ppm;    /* + = child's clock runs fast; 0 = no rate */
    bool fake_monotonic; /* also shift CLOCK_MONOTONIC (default false) */
    const char *library; /* libfaketime.so.1 path, or NULL to locate it */
};

/* Find libfaketime.so.1: $SKEWSCOPE_LIBFAKETIME when set (it must then be
 * readable), else FAKETIME_DEBIAN_PATH. Writes the path into out (outlen
 * bytes). Returns 0, or -1 with a message naming the path tried and how to
 * fix it (install the Debian package libfaketime or set the variable). */
int faketime_locate(char *out, size_t outlen, char *err, size_t errlen);

/* The FAKETIME value for an offset and drift: "+0.005000000" or
 * "-1.250000000 x1.000020000" (seconds with nine decimals and '.' as the
 * fraction separator, which libfaketime parses with atof() in its
 * constructor, before the program can change its locale). Returns 0, or -1
 * when out is too small or the values exceed the FAKETIME_MAX_* limits. */
int faketime_spec(int64_t offset_ns, double drift_ppm, char *out,
                  size_t outlen);

/* A new environment for a child: a copy of base (NULL = the current
 * environ) with LD_PRELOAD set to the library (prepended to an existing
 * LD_PRELOAD), FAKETIME set to faketime_spec(), and
 * FAKETIME_DONT_FAKE_MONOTONIC=1 unless cfg->fake_monotonic. Other
 * FAKETIME* variables of base that would change the meaning
 * (FAKETIME_TIMESTAMP_FILE, FAKETIME_FOLLOW_FILE, FAKETIME_START_AFTER...)
 * are dropped. Returns a NULL-terminated array for execve(), owned by the
 * caller (free with faketime_env_destroy()), or NULL with err filled
 * (library missing, bad values, out of memory). */
char **faketime_env_create(const struct faketime_config *cfg, char *const *base,
                           char *err, size_t errlen);
void faketime_env_destroy(char **env);

/* Errors of faketime_spawn(), returned negated. */
enum faketime_status {
    FAKETIME_OK = 0,
    FAKETIME_E_ENV = 1,      /* library missing, values out of range, ENOMEM */
    FAKETIME_E_NOTFOUND = 2, /* the program does not exist (ENOENT) */
    FAKETIME_E_NOEXEC = 3,   /* it exists but cannot be executed */
};

/* Start argv[0] (searched in PATH when it has no '/') with argv under the
 * faketime environment of cfg; stdin, stdout, stderr and the signal
 * dispositions are inherited. Sets *pid; the caller waits for the child.
 * Returns 0, or a negated enum faketime_status with err filled. */
int faketime_spawn(const struct faketime_config *cfg, char *const argv[],
                   pid_t *pid, char *err, size_t errlen);

#endif
