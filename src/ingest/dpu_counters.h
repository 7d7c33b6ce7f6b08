/* dpu_counters: counters a DPU (BlueField), a SmartNIC or a switch exports
 * about its ports, links, queues and PCIe, in a small documented format
 * that a user's exporter script can write, read into a series_store for
 * the imbalance detectors. Two spellings, told apart by the first byte
 * that is not white space ('{' = JSON lines, else CSV):
 *
 * CSV (RFC 4180, one value a line, columns in any order):
 *     time,device,port,counter,value,type
 *     1718000000.250,bf3-a,p0,rx_bytes,123456789,
 *     1718000000.250,leaf-1,swp3,latency_seconds,0.000012,gauge
 *   required: time (Unix seconds, decimal, exact to the ns) or time_ns
 *   (integer Unix ns), device, counter, value; optional: port (empty = no
 *   port), type. Other columns are an error.
 *
 * JSON lines (one object a line, blank lines skipped):
 *     {"time": 1718000000.25, "device": "bf3-a", "port": "p0",
 *      "counters": {"rx_bytes": 123456789, "tx_bytes": 99},
 *      "gauges": {"latency_seconds": 0.000012}}
 *   "time" (seconds; a fraction is read as a double, about 0.2 us at
 *   today's times) or "time_ns" (integer), "device" (string), optional
 *   "port" (string), and "counters" and/or "gauges" (objects of numbers);
 *   other keys are an error.
 *
 * Each value becomes one sample of the series (entity = device, metric =
 * "dpu_" + counter name, label port when given). Counter names are
 * [A-Za-z_][A-Za-z0-9_]*. Kind: the CSV type column (counter: a decrease
 * is a reset; counter32 / counter64: wraps at 2^32 / 2^64; gauge), the
 * JSON object it sits in, else by name: the names in DPU_COUNTERS_GAUGES
 * are gauges, every other name a counter (monotonic, reset on decrease).
 * The runbook maps the documented names onto roles (imbalance-docs lists
 * them: rx_bytes, tx_bytes, tx_packets, retransmits, carrier_changes,
 * link_up, latency_seconds, ecn_marked_packets, pfc_pause_frames,
 * rx_drops, pcie_tx_bytes, pcie_rx_bytes, pcie_link_width,
 * pcie_max_link_width, pcie_link_speed_gts, pcie_max_link_speed_gts,
 * pcie_aer_errors).
 *
 * Errors (-INGEST_E_MALFORMED, "NAME:LINE:COL: expected ..."): a missing
 * or unknown column, a ragged row, a bad time, name, value or type, a
 * JSON syntax error, a wrong member, a series that is a counter in one
 * place and a gauge in another. Samples before the error stay in the
 * store. -INGEST_E_NOINPUT: unreadable; -INGEST_E_NOMEM.
 *
 * Flow: exporter script -> FILE -> dpu_counters_read() -> series_store ->
 * imbalance detectors (signals table: engine dpu). */
#ifndef SKEWSCOPE_DPU_COUNTERS_H
#define SKEWSCOPE_DPU_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct series_store;

/* Counter names that are gauges when no type is given. */
#define DPU_COUNTERS_GAUGES                                                    \
    {                                                                          \
        "link_up", "latency_seconds", "queue_depth_bytes",                     \
            "buffer_occupancy_bytes", "pcie_link_width",                       \
            "pcie_max_link_width", "pcie_link_speed_gts",                      \
            "pcie_max_link_speed_gts", "link_speed_bytes",                     \
            "temperature_celsius"                                              \
    }

/* Parse len bytes (either spelling) into store; name labels messages.
 * Returns the number of samples stored (>= 0) or a negated ingest_status
 * with a message in err. */
int64_t dpu_counters_parse(struct series_store *store, const char *name,
                           const char *data, size_t len, char *err,
                           size_t errlen);

/* The same for a file ("-" = stdin; gzip too). */
int64_t dpu_counters_read(struct series_store *store, const char *path,
                          char *err, size_t errlen);

/* True when the first n bytes look like this format: a JSON object with a
 * "device" member and "counters" or "gauges", or a CSV header naming
 * device, counter and value. For input detection. */
bool dpu_counters_sniff(const char *data, size_t n);

#endif
