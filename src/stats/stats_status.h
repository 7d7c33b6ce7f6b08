/* stats_status: the one error convention of src/stats (leaf numerics with no
 * I/O). Every stats function that can fail returns 0 or a negated
 * enum stats_status; stats_strerror() names it. No stats function prints,
 * allocates globally or exits. */
#ifndef SKEWSCOPE_STATS_STATUS_H
#define SKEWSCOPE_STATS_STATUS_H

enum stats_status {
    STATS_OK = 0,
    STATS_E_INVAL = 1,       /* bad argument: sizes, NaN where none allowed */
    STATS_E_NOMEM = 2,       /* allocation failed */
    STATS_E_SINGULAR = 3,    /* a matrix that must be invertible is not */
    STATS_E_NOCONV = 4,      /* an iteration did not converge */
    STATS_E_INFEASIBLE = 5,  /* the test cannot be computed on this data
                                (constant column, perfect fit) */
    STATS_E_UNSUPPORTED = 6, /* an input the reference rejects (an edge
                                mark RCAEval's head raises on) */
};

/* A static English message for a status (positive or negated). */
const char *stats_strerror(int status);

#endif
