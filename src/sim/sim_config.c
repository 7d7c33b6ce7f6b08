/* sim_config: defaults of the simulator and parsing of its clock and
 * duration specs ("prefill=5ms", "decode-1=40ppm", "prefill=2ms@30s"). */
#include "sim/sim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/units.h"

#define NS_PER_S 1000000000LL

void sim_config_init(struct sim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->requests = 100;
    cfg->duration_s = 60.0;
    cfg->tp = 2;
    cfg->steps = 4;
    cfg->transport = SIM_TRANSPORT_ONEWAY;
    cfg->system = "kafka";
    cfg->hop_min_ns = 2000000;
    cfg->hop_jitter_ns = 500000;
    cfg->seed = 1;
    cfg->start_unix_ns = 1790000000LL * NS_PER_S;
    cfg->arrivals = SIM_ARRIVALS_UNIFORM;
}

static int64_t unit_ns(const char *u)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", NS_PER_S}};

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(u, units[i].name) == 0)
            return units[i].ns;
    return 0;
}

int sim_parse_duration(const char *s, int64_t default_unit_ns, int64_t *out_ns)
{
    char *end;
    double v;
    int64_t unit;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v))
        return -1;
    unit = *end ? unit_ns(end) : default_unit_ns;
    if (unit == 0)
        return -1;
    v *= (double)unit;
    if (fabs(v) > 9.0e18)
        return -1;
    *out_ns = (int64_t)llround(v);
    return 0;
}

/* Find or add the clock entry of `node` (full name). NULL when full. */
static struct sim_clock *clock_entry(struct sim_config *cfg, const char *node)
{
    for (size_t i = 0; i < cfg->nclocks; i++)
        if (strcmp(cfg->clocks[i].node, node) == 0)
            return &cfg->clocks[i];
    if (cfg->nclocks == SIM_MAX_NODES)
        return NULL;
    struct sim_clock *c = &cfg->clocks[cfg->nclocks++];
    memset(c, 0, sizeof *c);
    snprintf(c->node, sizeof c->node, "%s", node);
    return c;
}

/* Split "NODE=VALUE" and normalise NODE to "node-NAME". */
static int split_spec(const char *spec, char node[SIM_NODE_NAME_MAX],
                      const char **value)
{
    const char *eq = strchr(spec, '=');
    size_t len;
    int pre;

    if (!eq || eq == spec || !eq[1])
        return -1;
    len = (size_t)(eq - spec);
    pre = strncmp(spec, "node-", 5) == 0 ? 0 : 5;
    if (len + (size_t)pre >= SIM_NODE_NAME_MAX)
        return -1;
    snprintf(node, SIM_NODE_NAME_MAX, "%s%.*s", pre ? "node-" : "", (int)len,
             spec);
    *value = eq + 1;
    return 0;
}

/* "OFFSET@TIME": both durations with units (TIME may be bare seconds). */
static int parse_step(const char *v, int64_t *step_ns, int64_t *at_ns)
{
    const char *at = strchr(v, '@');
    char off[64];

    if (!at || (size_t)(at - v) >= sizeof off)
        return -1;
    snprintf(off, sizeof off, "%.*s", (int)(at - v), v);
    if (sim_parse_duration(off, 0, step_ns) < 0)
        return -1;
    if (sim_parse_duration(at + 1, NS_PER_S, at_ns) < 0 || *at_ns < 0)
        return -1;
    return 0;
}

static enum sim_clock_param guess_param(const char *v)
{
    size_t n = strlen(v);

    if (strchr(v, '@'))
        return SIM_CLOCK_STEP;
    if (n > 3 && strcmp(v + n - 3, "ppm") == 0)
        return SIM_CLOCK_DRIFT;
    return SIM_CLOCK_SKEW;
}

static const char *param_syntax(enum sim_clock_param p)
{
    switch (p) {
    case SIM_CLOCK_DRIFT:
        return "NODE=PPM, e.g. prefill=40ppm";
    case SIM_CLOCK_STEP:
        return "NODE=OFFSET@TIME, e.g. prefill=2ms@30s";
    default:
        return "NODE=OFFSET with a unit (ns, us, ms, s), e.g. prefill=5ms";
    }
}

int sim_config_parse_clock(struct sim_config *cfg, enum sim_clock_param param,
                           const char *spec, char *err, size_t errlen)
{
    char node[SIM_NODE_NAME_MAX];
    const char *v;
    int64_t skew = 0, step = 0, at = 0;
    double ppm = 0;
    int rc = -1;

    if (split_spec(spec, node, &v) < 0)
        goto bad;
    if (param == SIM_CLOCK_ANY)
        param = guess_param(v);
    if (param == SIM_CLOCK_SKEW)
        rc = sim_parse_duration(v, 0, &skew);
    else if (param == SIM_CLOCK_DRIFT)
        rc = units_parse_ppm(v, 1e6, &ppm);
    else
        rc = parse_step(v, &step, &at);
    if (rc < 0)
        goto bad;
    struct sim_clock *c = clock_entry(cfg, node);
    if (!c) {
        snprintf(err, errlen, "too many clock specs (at most %d nodes)",
                 SIM_MAX_NODES);
        return -1;
    }
    if (param == SIM_CLOCK_SKEW)
        c->skew_ns = skew;
    else if (param == SIM_CLOCK_DRIFT)
        c->drift_ppm = ppm;
    else {
        c->step_ns = step;
        c->step_at_ns = at;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad clock spec '%s': expected %s", spec,
             param_syntax(param));
    return -1;
}

int sim_node_name(unsigned tp, unsigned i, char out[SIM_NODE_NAME_MAX])
{
    static const char *const fixed[] = {"node-gateway", "node-tokenizer",
                                        "node-prefill"};

    if (i < 3)
        snprintf(out, SIM_NODE_NAME_MAX, "%s", fixed[i]);
    else if (i < 3 + tp)
        snprintf(out, SIM_NODE_NAME_MAX, "node-decode-%u", i - 3);
    else if (i == 3 + tp)
        snprintf(out, SIM_NODE_NAME_MAX, "node-detokenizer");
    else
        return -1;
    return 0;
}
