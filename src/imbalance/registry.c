/* registry: every imbalance detector, one line each. A detector is the ops
 * table imb_det_<name> defined in src/imbalance/det_<name>.c; adding one
 * means that file, one X(<name>) line here and its runbook entry. */
#include "imbalance/imb_detector.h"

#include <string.h>

#define IMB_DETECTORS(X)                                                       \
    X(tp_straggler)                                                            \
    X(pp_imbalance)                                                            \
    X(dp_load_skew)                                                            \
    X(pd_interference)                                                         \
    X(early_stop)                                                              \
    X(kv_pressure)                                                             \
    X(net_congestion)                                                          \
    X(net_retransmit)                                                          \
    X(net_link_flap)                                                           \
    X(net_nic_imbalance)                                                       \
    X(pcie_saturation)                                                         \
    X(pcie_degraded)                                                           \
    X(threshold)

#define IMB_DECLARE(n) extern const struct imb_detector imb_det_##n;
IMB_DETECTORS(IMB_DECLARE)
#undef IMB_DECLARE

#define IMB_ENTRY(n) &imb_det_##n,
static const struct imb_detector *const detectors[] = {
    IMB_DETECTORS(IMB_ENTRY)};
#undef IMB_ENTRY

#define NDETECTORS (sizeof(detectors) / sizeof(detectors[0]))

size_t imb_detector_count(void)
{
    return NDETECTORS;
}

const struct imb_detector *imb_detector_at(size_t i)
{
    return i < NDETECTORS ? detectors[i] : NULL;
}

const struct imb_detector *imb_detector_find(const char *name)
{
    for (size_t i = 0; name && i < NDETECTORS; i++)
        if (!strcmp(detectors[i]->name, name))
            return detectors[i];
    return NULL;
}

const struct imb_param *imb_detector_param(const struct imb_detector *d,
                                           const char *key)
{
    for (const struct imb_param *p = d->params; p && p->key; p++)
        if (!strcmp(p->key, key))
            return p;
    return NULL;
}
