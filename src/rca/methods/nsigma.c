/* nsigma: RCAEval's NSigma (RCAEval/e2e/__init__.py, nsigma()): for each
 * metric, StandardScaler fitted on the normal window (mean, population
 * standard deviation), the largest z-score in the anomalous window; metrics
 * by that score, highest first. Rises only: a drop scores low. */
#include "rca/rca_method.h"

static int nsigma_rank(const struct rca_case *c, const struct rca_params *p,
                       struct rca_ranking *out, char *err, size_t errlen)
{
    int rc;

    (void)p;
    if ((rc = rca_scaler_rank_metrics(c, false, out, err, errlen)) < 0)
        return rc;
    rca_ranking_sort(out);
    return 0;
}

const struct rca_method rca_method_nsigma = {
    .name = "nsigma",
    .summary = "largest z-score after the inject time (StandardScaler on "
               "the normal window)",
    .inputs = RCA_IN_METRICS | RCA_IN_INJECT,
    .rank = nsigma_rank,
};
