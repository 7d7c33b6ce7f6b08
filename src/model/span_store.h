/* span_store: the in-memory model every analysis reads. Readers append one
 * compact record per span (64 bytes: IDs, times in ns on the span's own
 * clock, kind, clock domain, transport system); strings that repeat (clock
 * domain names, transport systems) are interned to small integers. Records
 * live in blocks that never move (the first sized by the creator's hint,
 * the others 65,536 records, 4 MiB), so appending never copies what is
 * stored and record pointers stay valid until the store is destroyed.
 *
 * Flow: ingest backends -> span_store -> span_store_index() -> analyses.
 * Not thread-safe: one thread builds and reads a store. */
#ifndef SKEWSCOPE_SPAN_STORE_H
#define SKEWSCOPE_SPAN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* OTLP numbering, which the other formats are mapped onto. */
enum span_kind {
    SPAN_KIND_UNSPECIFIED = 0,
    SPAN_KIND_INTERNAL = 1,
    SPAN_KIND_SERVER = 2,
    SPAN_KIND_CLIENT = 3,
    SPAN_KIND_PRODUCER = 4,
    SPAN_KIND_CONSUMER = 5,
};

#define SPAN_F_HAS_PARENT 0x01 /* parent_id is meaningful */
/* Zipkin "shared" server half of an RPC: it carries the client's span ID.
 * The reader sets parent_id = span_id and this flag, which keeps the two
 * halves distinct keys in the index. */
#define SPAN_F_SHARED 0x02
#define SPAN_F_DUPLICATE                                                       \
    0x04 /* set by span_store_index(): same key seen before */

#define SPAN_NO_LINK UINT32_MAX

struct span_rec {
    uint8_t trace_id[16];
    uint64_t span_id;
    uint64_t parent_id;
    int64_t start_ns; /* unix ns, as recorded on the span's own clock */
    int64_t end_ns;
    uint32_t domain; /* clock domain id, see span_store_domain_id() */
    uint32_t link;   /* first link (span_store_link()), or SPAN_NO_LINK */
    uint16_t system; /* transport system id (messaging.system/rpc.system) */
    uint8_t kind;    /* enum span_kind */
    uint8_t flags;   /* SPAN_F_* */
};

struct span_link {
    uint8_t trace_id[16];
    uint64_t span_id;
    uint32_t next; /* next link of the same span, or SPAN_NO_LINK */
};

struct span_store;

/* Returns a new empty store, or NULL when out of memory. Its first block
 * holds 65,536 records (4 MiB of address space, touched as it fills):
 * right for a file of any size. */
struct span_store *span_store_create(void);

/* As span_store_create(), for a store expected to hold about
 * expected_spans records: the first block holds that many, rounded up to
 * a power of two, at least SPAN_STORE_MIN_BLOCK (256 records, 16 KiB) and
 * at most 65,536; the blocks after it hold 65,536 each, so a low hint
 * costs nothing but one more block. For the many small stores of a
 * service (one per request), which would otherwise each reserve 4 MiB. */
#define SPAN_STORE_MIN_BLOCK 256
struct span_store *span_store_create_hint(size_t expected_spans);
void span_store_destroy(struct span_store *s);

/* Largest timestamp kept (about the year 2116); larger ones are clamped. */
#define SPAN_TIME_MAX ((int64_t)1 << 62)

/* An unsigned timestamp as the formats carry it (OTLP's fixed64 unix ns;
 * JSON integers up to 2^64 - 1) as a store time: clamped to SPAN_TIME_MAX
 * before it could wrap to a negative int64. Every reader converts with
 * this, so the JSON and protobuf readers keep the same value. */
static inline int64_t span_time_from_u64(uint64_t t)
{
    return t > (uint64_t)SPAN_TIME_MAX ? SPAN_TIME_MAX : (int64_t)t;
}

/* Append a copy of *rec (its link field is ignored and reset; times are
 * clamped into [0, SPAN_TIME_MAX]). Returns the
 * new record's index (>= 0), or -1 when out of memory. */
int64_t span_store_add(struct span_store *s, const struct span_rec *rec);

/* Attach a link (OTLP span link) to record `idx`. Returns 0 or -1 (ENOMEM). */
int span_store_add_link(struct span_store *s, size_t idx,
                        const uint8_t trace_id[16], uint64_t span_id);

size_t span_store_count(const struct span_store *s);

/* Spans a reader met but did not append because they cannot be analysed
 * (ingest_span_invalid() is the rule; the Jaeger reader adds spans whose
 * process is unknown). They are counted here by reason, so that commands
 * report them and fail only when nothing valid remains (or with
 * --strict), and serve counts what it forwards unanalysed. */
enum span_invalid {
    SPAN_INVALID_EMPTY_TRACE_ID = 0, /* absent, empty or all-zero trace ID */
    SPAN_INVALID_EMPTY_SPAN_ID,      /* absent, empty or all-zero span ID */
    SPAN_INVALID_MISSING_TIMESTAMP,  /* no start (or, OTLP JSON, end) time */
    SPAN_INVALID_UNKNOWN_PROCESS,    /* Jaeger processID not in processes */
    SPAN_INVALID_NREASONS,
};
/* Count one invalid span. */
void span_store_add_invalid(struct span_store *s, enum span_invalid why);
/* Invalid spans counted for one reason, and for all of them. */
size_t span_store_invalid(const struct span_store *s, enum span_invalid why);
size_t span_store_invalid_total(const struct span_store *s);
/* Name of a reason as reports spell it ("missing_timestamp"). */
const char *span_invalid_name(enum span_invalid why);
/* Record idx (< count). The pointer stays valid while the store lives;
 * readers may patch fields they learn late (e.g. the domain of spans whose
 * resource follows them in the document). */
struct span_rec *span_store_at(const struct span_store *s, size_t idx);
const struct span_link *span_store_link(const struct span_store *s,
                                        uint32_t link_idx);

/* Intern a clock domain name (len bytes). Returns its id, or UINT32_MAX
 * when out of memory. Ids are dense: 0 .. span_store_domain_count()-1. */
uint32_t span_store_domain_id(struct span_store *s, const char *name,
                              size_t len);
size_t span_store_domain_count(const struct span_store *s);
/* NUL-terminated name of domain id; owned by the store. A name may hold
 * NUL bytes itself (U+0000 is a valid character): whatever prints or
 * compares names must use span_store_domain_name_len() for its length. */
const char *span_store_domain_name(const struct span_store *s, uint32_t id);
/* Length in bytes of the name of domain id (NULs included). */
size_t span_store_domain_name_len(const struct span_store *s, uint32_t id);

/* Intern a transport system name (messaging.system or rpc.system value).
 * Id 0 is reserved for "none" (empty name). Returns UINT16_MAX when out of
 * memory or when more than 65534 distinct systems appear. */
uint16_t span_store_system_id(struct span_store *s, const char *name,
                              size_t len);
const char *span_store_system_name(const struct span_store *s, uint16_t id);

/* Build the lookup index over (trace_id, span_id, shared flag). The first
 * record with a key wins; later ones get SPAN_F_DUPLICATE and are counted.
 * Call after the last span_store_add(); adding spans afterwards drops the
 * index. Returns 0 or -1 (ENOMEM). */
int span_store_index(struct span_store *s);
/* Index of the first record with this key, or -1. Requires the index. */
int64_t span_store_find(const struct span_store *s, const uint8_t trace_id[16],
                        uint64_t span_id, bool shared);
/* Counts known after span_store_index(). */
size_t span_store_duplicates(const struct span_store *s);
size_t span_store_traces(const struct span_store *s);

/* Bytes the store holds on the heap (records, links, index, strings). */
size_t span_store_memory(const struct span_store *s);

#endif
