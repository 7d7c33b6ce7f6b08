/* registry: every RCA method, one line each, in RCAEval's order (metric
 * methods, then trace, then multi-source). A method is the ops table
 * rca_method_<name> defined in src/rca/methods/<name>.c; adding one means
 * that file and one X(<name>) line here. */
#include "rca/rca.h"

#include <string.h>

#include "rca/rca_method.h"

#define RCA_METHODS(X)                                                         \
    X(dummy)                                                                   \
    X(nsigma)                                                                  \
    X(baro)                                                                    \
    X(e_diagnosis)                                                             \
    X(circa)                                                                   \
    X(rcd)                                                                     \
    X(microcause)                                                              \
    X(causalrca)                                                               \
    X(causalai)                                                                \
    X(pc_pagerank)                                                             \
    X(pc_randomwalk)                                                           \
    X(fci_pagerank)                                                            \
    X(fci_randomwalk)                                                          \
    X(granger_pagerank)                                                        \
    X(granger_randomwalk)                                                      \
    X(lingam_pagerank)                                                         \
    X(lingam_randomwalk)                                                       \
    X(microrca)                                                                \
    X(microscope)                                                              \
    X(monitorrank)                                                             \
    X(microrank)                                                               \
    X(tracerca)                                                                \
    X(mmbaro)                                                                  \
    X(pdiagnose)                                                               \
    X(llm)

#define RCA_DECLARE(n) extern const struct rca_method rca_method_##n;
RCA_METHODS(RCA_DECLARE)
#undef RCA_DECLARE

#define RCA_ENTRY(n) &rca_method_##n,
static const struct rca_method *const methods[] = {RCA_METHODS(RCA_ENTRY)};
#undef RCA_ENTRY

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

size_t rca_method_count(void)
{
    return NMETHODS;
}

const struct rca_method *rca_method_at(size_t i)
{
    return i < NMETHODS ? methods[i] : NULL;
}

const struct rca_method *rca_method_find(const char *name)
{
    for (size_t i = 0; name && i < NMETHODS; i++)
        if (!strcmp(methods[i]->name, name))
            return methods[i];
    return NULL;
}
