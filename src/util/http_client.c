/* http_client: libcurl initialisation and the OTLP traces URL
 * (http_client.h). */
#include "util/http_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_client_init(char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc == CURLE_OK)
        return 0;
    snprintf(err, errlen, "libcurl initialisation failed: %s",
             curl_easy_strerror(curl_init_rc));
    return -1;
}

char *http_client_traces_url(const char *endpoint, char *err, size_t errlen)
{
    static const char path_add[] = HTTP_CLIENT_TRACES_PATH;
    const char *scheme_end = strstr(endpoint, "://");
    const char *path;
    size_t n = strlen(endpoint);
    char *url;

    if (!scheme_end || scheme_end == endpoint || !scheme_end[3]) {
        snprintf(err, errlen,
                 "OTLP endpoint '%s' is not a URL (want e.g. "
                 "http://127.0.0.1:4318)",
                 endpoint);
        return NULL;
    }
    path = strpbrk(scheme_end + 3, "/?#");
    if (path && !(path[0] == '/' && path[1] == '\0'))
        url = strdup(endpoint);
    else if ((url = malloc(n + sizeof path_add)) != NULL) {
        n -= path != NULL; /* drop the lone '/' */
        memcpy(url, endpoint, n);
        memcpy(url + n, path_add, sizeof path_add);
    }
    if (!url)
        snprintf(err, errlen, "out of memory");
    return url;
}
