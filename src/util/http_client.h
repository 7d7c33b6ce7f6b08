/* http_client: what every libcurl user of skewscope shares (serve's
 * forwarder and peer fetches, the testbed tracer's OTLP/HTTP exporter):
 * the process-wide libcurl initialisation, and the rule that turns an
 * OTLP/HTTP endpoint into the traces URL. Thread-safe. */
#ifndef SKEWSCOPE_HTTP_CLIENT_H
#define SKEWSCOPE_HTTP_CLIENT_H

#include <stddef.h>

/* OTLP/HTTP's traces path, appended to a base endpoint. */
#define HTTP_CLIENT_TRACES_PATH "/v1/traces"

/* curl_global_init() once per process, whichever thread calls first
 * (pthread_once); later calls return the first one's result. Never
 * cleaned up: other libcurl users in the process may need it, and
 * curl_global_cleanup() is not thread-safe. Returns 0, or -1 with
 * "libcurl initialisation failed: ..." in err. */
int http_client_init(char *err, size_t errlen);

/* The traces URL of an OTLP/HTTP endpoint, as OTLP exporters build it:
 * "http://h:4318" and "http://h:4318/" get HTTP_CLIENT_TRACES_PATH; a URL
 * with any other path (or a query) is used as given. Returns a malloc'd
 * URL (caller frees), or NULL with err filled ("OTLP endpoint '...' is
 * not a URL ..." when endpoint is not SCHEME://HOST..., or out of
 * memory). */
char *http_client_traces_url(const char *endpoint, char *err, size_t errlen);

#endif
