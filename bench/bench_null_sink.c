/* bench_null_sink: an OTLP/HTTP downstream that reads each request body
 * and throws it away, answering 200 with an empty ExportTraceServiceResponse
 * (no decoding, no counting of spans, constant memory): the downstream of
 * long runs such as bench/serve_memory.sh, where serve_load's counting sink
 * would hold every span ID for hours.
 *
 *   bench_null_sink PORT_FILE    listens on 127.0.0.1 (a free port, written
 *                                to PORT_FILE); runs until SIGTERM/SIGINT,
 *                                then prints "requests=N bytes=B". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

static atomic_uint_fast64_t requests, bytes;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    static int first;
    struct MHD_Response *r;
    enum MHD_Result ok;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    if (!*con_cls) {
        *con_cls = &first;
        return MHD_YES;
    }
    if (*upload_size) {
        atomic_fetch_add(&bytes, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&requests, 1);
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/x-protobuf");
    ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

int main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    struct sockaddr_in a = {.sin_family = AF_INET};
    sigset_t set;
    int sig;
    FILE *f;

    if (argc != 2) {
        fprintf(stderr, "usage: bench_null_sink PORT_FILE\n");
        return 2;
    }
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    d = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                         NULL, NULL, on_request, NULL,
                         MHD_OPTION_THREAD_POOL_SIZE, 2, MHD_OPTION_SOCK_ADDR,
                         &a, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_null_sink: cannot listen\n");
        return 69;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    f = fopen(argv[1], "w");
    if (!info || !f) {
        fprintf(stderr, "bench_null_sink: cannot write %s\n", argv[1]);
        return 70;
    }
    fprintf(f, "%u\n", (unsigned)info->port);
    fclose(f);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    printf("requests=%llu bytes=%llu\n",
           (unsigned long long)atomic_load(&requests),
           (unsigned long long)atomic_load(&bytes));
    return 0;
}
