/* baro: BARO's robust scorer as RCAEval runs it (RCAEval/e2e/baro.py,
 * baro(); Pham et al., "BARO: Robust Root Cause Analysis for Microservices
 * via Multivariate Bayesian Online Change Point Detection", FSE 2024): for
 * each metric, RobustScaler fitted on the normal window (median, 25-75
 * interquartile range), the largest scaled value in the anomalous window;
 * metrics by that score, highest first. BARO's change-point detection,
 * which finds the inject time when it is unknown, is case setup
 * (rca_case_prepare(), --inject-time auto), so every method can use it. */
#include "rca/rca_method.h"

static int baro_rank(const struct rca_case *c, const struct rca_params *p,
                     struct rca_ranking *out, char *err, size_t errlen)
{
    int rc;

    (void)p;
    if ((rc = rca_scaler_rank_metrics(c, true, out, err, errlen)) < 0)
        return rc;
    rca_ranking_sort(out);
    return 0;
}

const struct rca_method rca_method_baro = {
    .name = "baro",
    .summary = "largest robust z-score after the inject time (RobustScaler "
               "on the normal window)",
    .inputs = RCA_IN_METRICS | RCA_IN_INJECT,
    .rank = baro_rank,
};
