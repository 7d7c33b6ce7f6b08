/* exit_codes: the process exit codes docs/CONTRACTS.md ("Exit codes")
 * promises. Only main-level code (cli/) decides them; the library returns
 * error codes instead. */
#ifndef SKEWSCOPE_EXIT_CODES_H
#define SKEWSCOPE_EXIT_CODES_H

enum exit_code {
    EXIT_FINE = 0,         /* fine; for check: no violations */
    EXIT_VIOLATIONS = 1,   /* check found violations */
    EXIT_USAGE = 2,        /* usage error */
    EXIT_DATAERR = 65,     /* malformed input */
    EXIT_NOINPUT = 66,     /* input not found or unreadable */
    EXIT_UNAVAILABLE = 69, /* serve: cannot listen, spool or reach Kafka */
    EXIT_SOFTWARE = 70,    /* internal error (including out of memory) */
};

#endif
