/* promtool: `promtool check metrics` (Prometheus's own linter, Debian's
 * prometheus package, installed by scripts/setup.sh) on a /metrics page,
 * for the tests that check pages skewscope writes. Needs testlib.h (cmocka)
 * before it. */
#ifndef SKEWSCOPE_TEST_PROMTOOL_H
#define SKEWSCOPE_TEST_PROMTOOL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* promtool's path, or NULL when it is not installed. */
static inline const char *promtool(void)
{
    static const char *const where[] = {"/usr/bin/promtool",
                                        "/usr/local/bin/promtool"};

    for (size_t i = 0; i < sizeof(where) / sizeof(*where); i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    return NULL;
}

/* Fails the test unless promtool accepts `page` (what: how to name it):
 * a parse error fails, and so does every line promtool prints that
 * lint_ok (NULL: none) does not accept; exit 3, lint only, passes when
 * every lint line is accepted. Returns false, having printed why, when
 * promtool is not installed (the caller skips or goes on). */
static inline bool promtool_check_page(const char *what, const char *page,
                                       bool (*lint_ok)(const char *line))
{
    char *path = testlib_write_temp_str(page), cmd[512];
    char *out = malloc(1 << 16);
    size_t n = 0, k;
    FILE *p;
    int st;

    assert_non_null(out);
    if (!promtool()) {
        printf("# SKIP promtool: not found (Debian package prometheus, see "
               "scripts/setup.sh)\n");
        unlink(path);
        free(path);
        free(out);
        return false;
    }
    snprintf(cmd, sizeof cmd, "%s check metrics < %s 2>&1", promtool(), path);
    assert_non_null(p = popen(cmd, "r"));
    while (n + 1 < (1 << 16) && (k = fread(out + n, 1, (1 << 16) - 1 - n, p)))
        n += k;
    out[n] = 0;
    st = pclose(p);
    unlink(path);
    free(path);
    if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3))
        fail_msg("promtool check metrics on %s (status %d):\n%s", what,
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        if (!lint_ok || !lint_ok(line))
            fail_msg("promtool check metrics on %s: %s", what, line);
    printf("# %s: %zu bytes, promtool check metrics: ok\n", what, strlen(page));
    free(out);
    return true;
}

#endif
