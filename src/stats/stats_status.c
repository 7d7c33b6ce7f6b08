/* stats_status: messages for enum stats_status. */
#include "stats/stats_status.h"

const char *stats_strerror(int status)
{
    switch (status < 0 ? -status : status) {
    case STATS_OK:
        return "ok";
    case STATS_E_INVAL:
        return "invalid argument";
    case STATS_E_NOMEM:
        return "out of memory";
    case STATS_E_SINGULAR:
        return "singular matrix";
    case STATS_E_NOCONV:
        return "iteration did not converge";
    case STATS_E_INFEASIBLE:
        return "test infeasible on this data";
    case STATS_E_UNSUPPORTED:
        return "input not supported by the reference method";
    }
    return "unknown stats error";
}
