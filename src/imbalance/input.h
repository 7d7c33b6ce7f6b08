/* input: the metric inputs of `skewscope imbalance`, told apart by their
 * first bytes and read into one series_store, and the clock offsets file.
 *
 * Kinds (imb_input_detect(), in this order):
 *  - the collector's recording (ingest/collect_rec.h: its header line);
 *  - DPU / switch counters (ingest/dpu_counters.h: CSV header naming
 *    device, counter, value, or JSON lines with "device" and "counters");
 *  - Prometheus query_range / query JSON (ingest/prom_range.h: a JSON
 *    object holding "resultType" or "status");
 *  - traces in any format skewscope reads (ingest.h): for the collectives
 *    and the clock offsets, not for the series store;
 *  - Prometheus text scrapes (ingest/prom_text.h): everything else that
 *    starts with '#' or a metric name.
 *
 * Scrape files. A file may hold one scrape or several: a line
 *     # SCRAPE <unix-seconds> [<target>]
 * starts a scrape taken at that time (of that target, which becomes the
 * entity of series without a service/job/pod label); it is a comment to
 * any other Prometheus reader. Samples with their own timestamps keep
 * them. Text before the first such line (or a file without one) is a
 * scrape taken at the time in the file's name when the name (without
 * .prom/.txt/.gz) is a number of Unix seconds, else at the file's
 * modification time.
 *
 * Errors: negated enum ingest_status with "FILE:LINE:COL: ..." in err
 * (line numbers count from the start of the file, across scrapes). */
#ifndef SKEWSCOPE_IMB_INPUT_H
#define SKEWSCOPE_IMB_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct series_store;
struct prom_opts;
struct clock_model;

enum imb_input_kind {
    IMB_IN_UNKNOWN = 0,
    IMB_IN_PROM_TEXT,
    IMB_IN_PROM_RANGE,
    IMB_IN_COLLECT_REC,
    IMB_IN_DPU,
    IMB_IN_TRACES,
};

/* Name of a kind for messages ("prometheus text"). */
const char *imb_input_kind_name(enum imb_input_kind k);

/* The kind of the file at path (gzip looked through). Returns the kind,
 * or IMB_IN_UNKNOWN with a message in err (*status = -INGEST_E_NOINPUT
 * when unreadable, -INGEST_E_MALFORMED when no kind fits). */
enum imb_input_kind imb_input_detect(const char *path, int *status, char *err,
                                     size_t errlen);

/* Read a metric input of kind k (not TRACES) into store. opts applies to
 * the Prometheus readers (NULL = defaults). Returns samples stored or a
 * negated ingest_status. */
int64_t imb_input_read(struct series_store *store, const char *path,
                       enum imb_input_kind k, const struct prom_opts *opts,
                       char *err, size_t errlen);

/* Scrapes: len bytes of text named name, text before the first "# SCRAPE"
 * line taken at default_ns. Returns samples stored or a negated
 * ingest_status. */
int64_t imb_scrapes_parse(struct series_store *store, const char *name,
                          const char *data, size_t len, int64_t default_ns,
                          const struct prom_opts *opts, char *err,
                          size_t errlen);

/* Clock offsets from a JSON file in `skewscope estimate --json`'s shape:
 * {"nodes": [{"node": NAME, "offset_ns": N, "drift_ppm": D}, ...],
 *  "at_unix_nano": T} (drift_ppm and at_unix_nano optional, 0). offset =
 * the domain's clock - the reference clock, ns, positive = ahead. Returns
 * 0 with *out (caller destroys) or a negated ingest_status. */
int imb_offsets_read(const char *path, struct clock_model **out, char *err,
                     size_t errlen);

#endif
