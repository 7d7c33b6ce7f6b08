/* cmd_correct: `skewscope correct FILE -o OUT`: estimate the clocks, then
 * rewrite the traces on the reference clock, originals kept as attributes.
 *
 * Files: nothing is left behind however the process ends. stdin (read
 * twice: estimate, then rewrite) is copied into an unnamed temporary file;
 * OUT is written to an unnamed file in its directory and only given a name
 * (then renamed over OUT) once complete. See out_open() for the one case
 * that needs a signal handler. */
#define _GNU_SOURCE /* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/clock_graph.h"
#include "analysis/edges.h"
#include "analysis/estimate.h"
#include "cli/cli_common.h"
#include "cli/command.h"
#include "cli/exit_codes.h"
#include "ingest/source.h"
#include "model/clock_model.h"
#include "model/span_store.h"
#include "output/correct.h"
#include "util/clock.h"

static void correct_usage(FILE *out)
{
    fprintf(out,
            "usage: skewscope correct [-o OUT] [--format FMT] [--input-format "
            "FMT]\n"
            "                         [--reference NODE] [--windows N] "
            "[--no-drift]\n"
            "                         [--clock-domain ATTR] [--max-element "
            "SIZE] [--strict]\n"
            "                         FILE\n\n"
            "Estimate every clock domain's offset and drift (as `estimate` "
            "does), then write\nthe traces with each span's start, end and "
            "event times moved onto the\nreference clock. Each changed span "
            "gets the attributes\nskewscope.clock_offset_ns, "
            "skewscope.original_start_time_unix_nano and\n"
            "skewscope.original_end_time_unix_nano (events: "
            "skewscope.original_time_unix_nano).\nSpans the readers count as "
            "invalid are written through unchanged.\n\n"
            "  -o, --output OUT     output file (default: - for stdout); "
            "written atomically,\n"
            "                       nothing left behind on failure\n"
            "  --format FMT         output format: otlp-json (default) or "
            "input (keep the\n"
            "                       input's format; its name works too)\n"
            "  --input-format FMT   auto (default), otlp-json, otlp-proto, "
            "jaeger, zipkin\n"
            "  --reference NODE     reference clock domain (default: the "
            "consensus of the\n"
            "                       clocks that agree, as estimate reports)\n"
            "  --max-element SIZE   the most held in memory at once (an OTLP "
            "JSON span, a\n"
            "                       protobuf ResourceSpans, a Jaeger trace, a "
            "Zipkin span);\n"
            "                       larger input is refused (exit 65). Bytes, "
            "K, M or G\n"
            "                       (default 64M)\n"
            "  --windows N, --no-drift, --clock-domain ATTR: as for "
            "estimate\n" CLI_INPUT_USAGE
            "\nExit: 0 fine (also for input without spans), 2 usage, 65 "
            "malformed input,\n66 unreadable input, 70 internal error.\n"
            "Example: skewscope correct traces.json -o fixed.json\n");
}

/* Long-only options (no short letter to collide with). */
#define OPT_MAX_ELEMENT 0x300

struct correct_args {
    struct ingest_opts io;
    struct estimate_opts eo;
    const char *out_path;
    const char *out_format;
    const char *in_path;
    bool in_stdin;    /* in_path is "-": fd 0 is rewound for each pass */
    off_t stdin_base; /* where the input starts on fd 0 */
};

/* SIZE: a whole number of bytes, or of K, M, G (binary multiples). */
static int parse_size(const char *opt, const char *v, size_t *out)
{
    static const char units[] = "KMG";
    const char *u;
    unsigned shift = 0;
    char *end;

    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (end != v && *end && !end[1] && (u = strchr(units, *end & ~0x20))) {
        shift = 10 * (unsigned)(u - units + 1);
        end++;
    }
    if (end == v || v[0] == '-' || errno || *end || x == 0 ||
        x > (SIZE_MAX >> shift)) {
        fprintf(stderr,
                "skewscope: %s expects a size in bytes, K, M or G (e.g. "
                "256M), got '%s'\n",
                opt, v);
        return -1;
    }
    *out = (size_t)x << shift;
    return 0;
}

static int parse_args(int argc, char **argv, struct correct_args *a)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"input-format", required_argument, NULL, 'i'},
        {"max-element", required_argument, NULL, OPT_MAX_ELEMENT},
        {"help", no_argument, NULL, 'h'},
        CLI_ESTIMATE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        int used = cli_estimate_option(opt, optarg, &a->eo, &a->io);
        if (used < 0)
            return -1;
        if (used)
            continue;
        switch (opt) {
        case 'o':
            a->out_path = optarg;
            break;
        case 'f':
            a->out_format = optarg;
            break;
        case 'i':
            if (cli_parse_format(optarg, &a->io.format) < 0)
                return -1;
            break;
        case OPT_MAX_ELEMENT:
            if (parse_size("--max-element", optarg, &correct_max_element) < 0)
                return -1;
            break;
        case 'h':
            correct_usage(stdout);
            return 1;
        default:
            correct_usage(stderr);
            return -1;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "skewscope correct: expected exactly one input "
                        "file\n");
        return -1;
    }
    a->in_path = argv[optind];
    return 0;
}

/* Resolve --format into an output format, given the input's. */
static int output_format(const struct correct_args *a, enum trace_format in,
                         enum trace_format *out)
{
    if (!a->out_format || strcmp(a->out_format, "otlp-json") == 0) {
        *out = TRACE_FORMAT_OTLP_JSON;
        return 0;
    }
    const struct ingest_ops *ops = ingest_by_name(a->out_format);
    if (strcmp(a->out_format, "input") == 0 || (ops && ops->format == in)) {
        *out = in;
        return 0;
    }
    fprintf(stderr,
            "skewscope correct: --format must be otlp-json or the input's own "
            "format (%s)\n",
            ingest_by_format(in) ? ingest_by_format(in)->name : "unknown");
    return -1;
}

/* ---- files that leave nothing behind ---------------------------------- */

/* A named temporary file to remove if a signal ends the process while it
 * exists (only in out_open()'s fallback, and for the instant between
 * naming the finished output and renaming it over OUT). */
static char pending_path[PATH_MAX];
static volatile sig_atomic_t pending_armed;

static void on_fatal_signal(int sig)
{
    if (pending_armed)
        unlink(pending_path);
    /* SA_RESETHAND restored the default action: die of the same signal. */
    raise(sig);
}

static void catch_fatal_signals(void)
{
    static const int sigs[] = {SIGTERM, SIGINT,  SIGHUP,
                               SIGQUIT, SIGPIPE, SIGXFSZ};
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;
        /* A signal the caller ignores (nohup, a background job) stays
         * ignored: it cannot end the process. */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

static void pending_set(const char *path)
{
    pending_armed = 0;
    snprintf(pending_path, sizeof(pending_path), "%s", path);
    pending_armed = 1;
}

static void pending_clear(void)
{
    pending_armed = 0;
}

/* An unnamed file for writing in directory dir, mode 0666 & ~umask (as
 * O_CREAT gives): O_TMPFILE. Returns the descriptor, or -1 (errno set)
 * when the file system cannot do it. */
static int open_unnamed(const char *dir)
{
    return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
}

/* stdin is read twice (estimate, then rewrite). A regular file on fd 0 is
 * rewound; anything else is first copied into an unnamed temporary file
 * (O_TMPFILE, or one unlinked the moment it is created) that replaces fd
 * 0, so that no path names it and nothing is left however the process
 * ends. Returns 0, or an exit code with a message printed. */
static int stdin_prepare(struct correct_args *a)
{
    const char *dir =
        getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[PATH_MAX], buf[65536];
    struct stat st;
    ssize_t r = 0;
    int fd;

    a->in_stdin = true;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
        (a->stdin_base = lseek(STDIN_FILENO, 0, SEEK_CUR)) >= 0)
        return 0;
    a->stdin_base = 0;
    fd = open_unnamed(dir);
    if (fd < 0) {
        snprintf(path, sizeof(path), "%s/skewscope-stdin-XXXXXX", dir);
        if ((fd = mkstemp(path)) >= 0)
            unlink(path);
    }
    if (fd < 0) {
        fprintf(stderr, "skewscope: cannot spool stdin into %s: %s\n", dir,
                strerror(errno));
        return EXIT_SOFTWARE;
    }
    for (;;) {
        r = read(STDIN_FILENO, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t done = 0, w; done < r; done += w)
            if ((w = write(fd, buf + done, (size_t)(r - done))) < 0) {
                if (errno == EINTR) {
                    w = 0;
                    continue;
                }
                fprintf(stderr, "skewscope: cannot spool stdin into %s: %s\n",
                        dir, strerror(errno));
                close(fd);
                return EXIT_SOFTWARE;
            }
    }
    if (r < 0 || dup2(fd, STDIN_FILENO) < 0) {
        fprintf(stderr, "skewscope: <stdin>: %s\n", strerror(errno));
        close(fd);
        return EXIT_NOINPUT;
    }
    close(fd);
    return 0;
}

/* Before each pass over the input. */
static int input_rewind(const struct correct_args *a)
{
    if (a->in_stdin && lseek(STDIN_FILENO, a->stdin_base, SEEK_SET) < 0) {
        fprintf(stderr, "skewscope: <stdin>: cannot rewind: %s\n",
                strerror(errno));
        return -1;
    }
    return 0;
}

struct out_file {
    const char *path; /* OUT */
    char tmp[PATH_MAX];
    bool named;  /* the fallback: tmp exists from the start */
    bool direct; /* OUT is a device or FIFO: written as it is */
    int fd;
};

static void dir_of(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(dir, n, ".");
    else if (slash == path)
        snprintf(dir, n, "/");
    else
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

/* A name OUT.tmp-XXXXXX (the Xs filled in), not yet taken. */
static void tmp_name(struct out_file *o, unsigned attempt)
{
    static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t x;
    char suffix[7];

    x = (uint64_t)(clock_now_ns(CLOCK_REALTIME) % 1000000000) * 2654435761u ^
        (uint64_t)getpid() << 20 ^ (uint64_t)attempt * 40503u;
    for (int i = 0; i < 6; i++, x /= 36)
        suffix[i] = set[x % 36];
    suffix[6] = '\0';
    snprintf(o->tmp, sizeof(o->tmp), "%s.tmp-%s", o->path, suffix);
}

/* Open the output. Preferred: an unnamed file (O_TMPFILE) in OUT's
 * directory, so that a run killed at any moment, SIGKILL included, leaves
 * nothing. Fallback (file systems without O_TMPFILE, or no /proc to name it
 * by): OUT.tmp-XXXXXX, removed by the signal handler on SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT, SIGPIPE, SIGXFSZ (only SIGKILL can leave it then). Either
 * way the mode is 0666 & ~umask. An existing OUT that is not a regular
 * file (/dev/null, a FIFO) is written directly. */
static int out_open(struct out_file *o)
{
    char dir[PATH_MAX];
    struct stat st;

    if (stat(o->path, &st) == 0 && !S_ISREG(st.st_mode)) {
        o->direct = true;
        o->fd = open(o->path, O_WRONLY | O_CLOEXEC);
        return o->fd < 0 ? -1 : 0;
    }
    dir_of(o->path, dir, sizeof(dir));
    if (access("/proc/self/fd", X_OK) == 0 && (o->fd = open_unnamed(dir)) >= 0)
        return 0;
    catch_fatal_signals();
    for (unsigned i = 0; i < 100; i++) {
        tmp_name(o, i);
        pending_set(o->tmp);
        o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (o->fd >= 0) {
            o->named = true;
            return 0;
        }
        pending_clear();
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* Give the finished output its name OUT (atomically replacing any old
 * one). Returns 0 or -1 (errno set). */
static int out_commit(struct out_file *o)
{
    char proc[64];

    if (o->direct)
        return 0;
    if (!o->named) {
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
        catch_fatal_signals();
        for (unsigned i = 0;; i++) {
            tmp_name(o, i);
            pending_set(o->tmp);
            if (linkat(AT_FDCWD, proc, AT_FDCWD, o->tmp, AT_SYMLINK_FOLLOW) ==
                0)
                break;
            pending_clear();
            if (errno != EEXIST || i == 100)
                return -1;
        }
    }
    if (rename(o->tmp, o->path) != 0) {
        int e = errno;
        unlink(o->tmp);
        pending_clear();
        errno = e;
        return -1;
    }
    pending_clear();
    return 0;
}

static void out_discard(struct out_file *o)
{
    if (o->named) {
        unlink(o->tmp);
        pending_clear();
    }
}

/* ---- the run ------------------------------------------------------------ */

static enum trace_format detect_input(const struct correct_args *a)
{
    char err[256];
    struct source *src;
    const struct ingest_ops *ops;

    if (a->io.format != TRACE_FORMAT_AUTO)
        return a->io.format;
    if (input_rewind(a) < 0)
        return TRACE_FORMAT_AUTO;
    src = source_open(a->in_path, err, sizeof(err));
    ops = src ? ingest_detect(src) : NULL;
    source_close(src);
    return ops ? ops->format : TRACE_FORMAT_AUTO;
}

/* Map correct_file()'s result to an exit code. */
static int exit_for(int rc)
{
    if (rc == 0)
        return EXIT_FINE;
    if (rc == CORRECT_E_FORMAT)
        return EXIT_USAGE;
    return cli_exit_for_ingest(rc);
}

/* Correct into a file (see out_open()) or stdout. */
static int write_output(const struct correct_args *a,
                        const struct correct_opts *co,
                        const struct clock_model *m, struct correct_stats *st)
{
    char err[1024] = "";
    struct out_file o = {.path = a->out_path, .fd = -1};
    bool to_file = a->out_path && strcmp(a->out_path, "-") != 0;
    FILE *out = stdout;
    int rc;

    if (input_rewind(a) < 0)
        return EXIT_SOFTWARE;
    if (to_file) {
        out = out_open(&o) == 0 ? fdopen(o.fd, "w") : NULL;
        if (!out) {
            fprintf(stderr, "skewscope: %s: %s\n", a->out_path,
                    strerror(errno));
            if (o.fd >= 0)
                close(o.fd);
            out_discard(&o);
            return EXIT_SOFTWARE;
        }
    }
    rc = correct_file(a->in_path, co, m, out, st, err, sizeof(err));
    bool write_failed = fflush(out) != 0 || ferror(out);
    int write_errno = errno;
    if (to_file) {
        if (rc == 0 && !write_failed && out_commit(&o) != 0) {
            write_failed = true;
            write_errno = errno;
        }
        if (rc != 0 || write_failed)
            out_discard(&o);
        fclose(out); /* the unnamed file goes with it */
    }
    if (rc == 0 && write_failed) {
        fprintf(stderr, "skewscope: %s: cannot write: %s\n",
                to_file ? a->out_path : "<stdout>", strerror(write_errno));
        return EXIT_SOFTWARE;
    }
    if (rc != 0)
        fprintf(stderr, "skewscope: %s\n",
                err[0] ? err : "cannot correct the input");
    return exit_for(rc);
}

/* The clock model to correct with: estimated, or, for an input without
 * spans, an empty one (nothing to estimate, nothing to warn about).
 * Returns 0 with *m set, or an exit code (message printed). */
static int make_model(const struct correct_args *a, const struct span_store *s,
                      const struct edge_list *edges, struct clock_model **m,
                      const char **ref, size_t *ref_len)
{
    struct clock_estimate e;
    char err[256] = "";
    int rc = EXIT_FINE;

    *ref = NULL;
    *ref_len = 0;
    if (span_store_count(s) == 0) {
        *m = clock_model_create();
        if (!*m)
            fprintf(stderr, "skewscope: out of memory\n");
        return *m ? EXIT_FINE : EXIT_SOFTWARE;
    }
    int er = estimate_run(&e, s, edges, &a->eo, err, sizeof(err));
    *m = er == 0 ? estimate_to_model(&e, s) : NULL;
    if (er == -2) {
        fprintf(stderr, "skewscope correct: %s\n", err);
        rc = EXIT_USAGE;
    } else if (!*m) {
        fprintf(stderr, "skewscope: out of memory\n");
        rc = EXIT_SOFTWARE;
    } else {
        *ref = span_store_domain_name(s, e.reference);
        *ref_len = span_store_domain_name_len(s, e.reference);
        if (!e.consistent)
            fprintf(stderr, "skewscope: warning: timing constraints are "
                            "inconsistent (run estimate); applying the "
                            "least-squares offsets, violations may remain\n");
    }
    clock_estimate_free(&e);
    return rc;
}

static int apply(struct correct_args *a)
{
    struct span_store *s = NULL;
    struct edge_list edges;
    struct clock_model *m = NULL;
    struct correct_stats st = {0};
    struct correct_opts co = {.clock_domain_attr = a->io.clock_domain_attr};
    const char *ref;
    size_t ref_len;
    int rc;

    if (input_rewind(a) < 0)
        return EXIT_SOFTWARE;
    rc = cli_load((char **)&a->in_path, 1, &a->io, &s, &edges);
    if (rc != EXIT_FINE)
        return rc;
    co.in_format = detect_input(a);
    if (output_format(a, co.in_format, &co.out_format) < 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    if ((rc = make_model(a, s, &edges, &m, &ref, &ref_len)) != EXIT_FINE)
        goto out;
    rc = write_output(a, &co, m, &st);
    if (rc == EXIT_FINE && ref)
        fprintf(stderr,
                "skewscope: corrected %zu spans (%zu adjusted) onto %s%.*s%s\n",
                st.spans, st.adjusted,
                a->eo.reference ? "the clock of "
                                : "the consensus clock (anchor ",
                (int)ref_len, ref, a->eo.reference ? "" : ")");
    else if (rc == EXIT_FINE)
        fprintf(stderr, "skewscope: the input holds no spans: written "
                        "through, nothing to correct\n");
out:
    clock_model_destroy(m);
    edge_list_free(&edges);
    span_store_destroy(s);
    return rc;
}

static int correct_run(int argc, char **argv)
{
    struct correct_args a = {0};
    int rc = parse_args(argc, argv, &a);

    if (rc)
        return rc > 0 ? EXIT_FINE : EXIT_USAGE;
    if (strcmp(a.in_path, "-") == 0 && (rc = stdin_prepare(&a)) != 0)
        return rc;
    return apply(&a);
}

const struct command cmd_correct = {
    .name = "correct",
    .summary = "rewrite traces on the reference clock (originals kept)",
    .run = correct_run,
};
