/* experiment_trace: what both experiments do with a run's trace file and
 * output directory: read the trace into an indexed span store with its edge
 * list, find a stage's clock domain, decide violations pair by pair, make
 * directories and paths. */
#include "testbed/experiment.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/edges.h"
#include "ingest/ingest.h"
#include "model/span_store.h"

int experiment_load(const char *path, struct span_store **out,
                    struct edge_list *edges, char *err, size_t errlen)
{
    struct ingest_opts io = {.format = TRACE_FORMAT_OTLP_JSON};
    char why[256] = "";
    int rc = -ENOMEM;

    memset(edges, 0, sizeof(*edges));
    *out = NULL;
    struct span_store *s = span_store_create();
    if (!s)
        goto nomem;
    int ir = ingest_file(s, path, &io, why, sizeof why);
    if (ir == -INGEST_E_NOMEM)
        goto nomem;
    if (ir < 0) {
        snprintf(err, errlen, "%s", why);
        rc = -EIO;
        goto fail;
    }
    if (span_store_index(s) < 0 || edge_list_build(edges, s) < 0)
        goto nomem;
    *out = s;
    return 0;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    edge_list_free(edges);
    span_store_destroy(s);
    return rc;
}

uint32_t experiment_domain(const struct span_store *s, const char *stage)
{
    char name[PIPELINE_STAGE_NAME_MAX + 8];

    snprintf(name, sizeof name, "node-%s", stage);
    for (uint32_t d = 0; d < span_store_domain_count(s); d++)
        if (strcmp(span_store_domain_name(s, d), name) == 0)
            return d;
    return UINT32_MAX;
}

const char *experiment_reference(const char *stage)
{
    return strcmp(stage, "gateway") == 0 ? "node-tokenizer" : "node-gateway";
}

bool experiment_pair_violates(const struct span_store *s,
                              const struct edge_list *l, size_t i)
{
    const struct edge_pair *p = &l->pairs[i];
    const struct span_rec *parent = span_store_at(s, p->parent);
    const struct span_rec *child = span_store_at(s, p->child);

    if (child->start_ns < parent->start_ns)
        return true;
    return (p->flags & EDGE_PAIR_SYNC) && child->end_ns > parent->end_ns;
}

int experiment_mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[EXPERIMENT_PATH_MAX];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof buf) {
        snprintf(err, errlen, "output directory '%s': bad length", path);
        return -ENAMETOOLONG;
    }
    memcpy(buf, path, n + 1);
    /* Every prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) < 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen, "cannot create %s: %s", buf, strerror(e));
            return -e;
        }
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", path);
        return -ENOTDIR;
    }
    return 0;
}

int experiment_path(char *out, size_t outlen, const char *dir, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);

    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

const char *experiment_hops_name(enum pipeline_hops h)
{
    return h == PIPELINE_HOPS_RPC ? "rpc" : "oneway";
}
