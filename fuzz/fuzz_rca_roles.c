/* libFuzzer target: the signal-role file reader of the llm RCA method
 * (rca/signal_roles.h) on arbitrary bytes. A parse either fails without
 * adding an entry or adds entries that come first and match; the error
 * message is NUL-terminated. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rca/rca.h"
#include "rca/signal_roles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rca_roles *r = NULL;
    char err[256];

    if (rca_roles_create(&r) != 0)
        return 0;
    size_t n0 = rca_roles_count(r);
    memset(err, 'x', sizeof err);
    int rc = rca_roles_parse(r, "f", (const char *)data, size, err, sizeof err);
    if (rc != 0 && (rca_roles_count(r) != n0 || !memchr(err, '\0', sizeof err)))
        abort();
    for (size_t i = 0; rc == 0 && i < rca_roles_count(r) - n0; i++) {
        const char *pat;
        enum rca_role role;
        enum rca_dir dir;
        rca_roles_entry(r, i, &pat, &role, &dir);
        if (!pat || (unsigned)role >= RCA_ROLE_COUNT || dir < RCA_DIR_UP ||
            dir > RCA_DIR_BOTH)
            abort();
    }
    (void)rca_roles_match(r, "latency");
    (void)rca_roles_match(r, "DCGM_FI_DEV_SM_CLOCK");
    rca_roles_destroy(r);
    return 0;
}
