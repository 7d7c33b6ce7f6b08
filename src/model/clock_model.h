/* clock_model: what `estimate` concluded about each clock domain, in the
 * form `correct` (and later `serve`) applies it.
 *
 * Sign convention (docs/CONTRACTS.md, "Sign conventions"): the offset of
 * a domain is its clock minus the reference clock, in nanoseconds;
 * positive means the domain's clock is ahead. It changes linearly with
 * drift:
 *     offset(t) = offset_ns + drift_ppm * 1e-6 * (t - at_ns)
 * A timestamp t read on the domain's clock maps to reference time as
 *     t_ref = t - round(drift_ppm * 1e-6 * (t - at_ns)) - offset_ns
 * exactly as clock_model_to_reference() computes it; analysis/clock_graph
 * uses the same function, so corrected traces satisfy the constraints the
 * estimate was solved under, to the nanosecond. */
#ifndef SKEWSCOPE_CLOCK_MODEL_H
#define SKEWSCOPE_CLOCK_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct clock_model;

/* Returns an empty model, or NULL when out of memory. */
struct clock_model *clock_model_create(void);
void clock_model_destroy(struct clock_model *m);

/* Add or replace domain `name` (NUL-terminated). Returns its id (>= 0) or -1
 * when out of memory. */
int clock_model_set(struct clock_model *m, const char *name, int64_t offset_ns,
                    double drift_ppm, int64_t at_ns);

/* Id of domain `name` (len bytes), or -1 when the model does not know it
 * (a caller then leaves that domain's timestamps as they are). */
int clock_model_find(const struct clock_model *m, const char *name, size_t len);

size_t clock_model_count(const struct clock_model *m);
const char *clock_model_name(const struct clock_model *m, int id);

/* Offset of domain id at time t_ns (its own clock), in ns. */
int64_t clock_model_offset_at(const struct clock_model *m, int id,
                              int64_t t_ns);

/* Reference-clock time of timestamp t_ns read on domain id's clock. */
int64_t clock_model_to_reference(const struct clock_model *m, int id,
                                 int64_t t_ns);

/* The same mapping for a bare (offset, drift, at) triple; the one place the
 * arithmetic lives. */
int64_t clock_model_map(int64_t offset_ns, double drift_ppm, int64_t at_ns,
                        int64_t t_ns);

#endif
