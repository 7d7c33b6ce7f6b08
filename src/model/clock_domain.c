/* clock_domain: the naming rule for clock domains (docs/CONTRACTS.md "Terms").
 */
#include "model/clock_domain.h"

#include <string.h>

static const char *const otlp_chain[] = {
    "host.id", "host.name", "service.instance.id", "service.name", NULL};
static const char *const jaeger_chain[] = {"hostname", "ip", "serviceName",
                                           NULL};
static const char *const zipkin_chain[] = {"ipv4", "ipv6", "serviceName", NULL};

static int key_is(const char *key, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(key, name, len) == 0;
}

int clock_domain_rank(const char *user_attr, enum clock_domain_source src,
                      const char *key, size_t len)
{
    const char *const *chain = src == CLOCK_DOMAIN_OTLP_RESOURCE ? otlp_chain
                               : src == CLOCK_DOMAIN_JAEGER      ? jaeger_chain
                                                                 : zipkin_chain;

    if (user_attr && key_is(key, len, user_attr))
        return 0;
    for (int i = 0; chain[i]; i++)
        if (key_is(key, len, chain[i]))
            return i + 1;
    return -1;
}
