/* clock_domain: which attribute names a span's clock domain (the unit that
 * owns a clock), per input format. docs/CONTRACTS.md ("Terms") fixes the rule:
 * OTLP resource attributes host.id, host.name, service.instance.id,
 * service.name (first present wins); Jaeger process tag hostname, then ip, then
 * serviceName; Zipkin localEndpoint ipv4, then ipv6, then serviceName. A
 * user-given attribute (--clock-domain ATTR) ranks before all of these; where a
 * span lacks it, the default chain applies.
 *
 * Readers call clock_domain_rank() for every candidate key they meet and keep
 * the value with the lowest rank. */
#ifndef SKEWSCOPE_CLOCK_DOMAIN_H
#define SKEWSCOPE_CLOCK_DOMAIN_H

#include <stddef.h>

enum clock_domain_source {
    CLOCK_DOMAIN_OTLP_RESOURCE, /* OTLP resource attribute keys */
    CLOCK_DOMAIN_JAEGER,        /* Jaeger process tags; "serviceName" field */
    CLOCK_DOMAIN_ZIPKIN,        /* Zipkin localEndpoint fields; span tags for
                                   a user-given attribute */
};

/* Name used when no candidate is present at all. */
#define CLOCK_DOMAIN_UNKNOWN "unknown"

/* Rank of `key` (len bytes, not NUL-terminated) as a source of the clock
 * domain name: 0 is best. `user_attr` is the --clock-domain attribute or NULL.
 * Returns -1 when the key is not a candidate. For Jaeger and Zipkin the
 * serviceName field is passed as key "serviceName". */
int clock_domain_rank(const char *user_attr, enum clock_domain_source src,
                      const char *key, size_t len);

#endif
