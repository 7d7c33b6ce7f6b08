/* skew_budget: budget sides and their use (skew_budget.h). */
#include "analysis/skew_budget.h"

void skew_budget_side_note(struct skew_budget_side *s, int64_t slack_ns)
{
    if (!s->has || slack_ns < s->budget_ns)
        s->budget_ns = slack_ns;
    s->has = true;
}

void skew_budget_use(struct skew_budget *out, const struct skew_budget_side *s,
                     int sign, int64_t r_ns, double rate_ns_per_s)
{
    if (!s->has || s->budget_ns <= 0)
        return;
    double used = (double)(sign * r_ns) / (double)s->budget_ns;
    used = used > 0 ? used : 0;
    if (out->has && used <= out->used_ratio)
        return;
    double remaining = (double)s->budget_ns - (double)(sign * r_ns);
    double closing = sign * rate_ns_per_s;
    out->has = true;
    out->budget_ns = s->budget_ns;
    out->used_ratio = used;
    /* already past the budget: exhausted now, whichever way it drifts */
    out->exhausts = closing > 0 || remaining <= 0;
    out->exhaust_in_s = remaining > 0 && closing > 0 ? remaining / closing : 0;
}
