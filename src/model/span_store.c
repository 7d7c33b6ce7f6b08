/* span_store: compact span records in blocks, interned strings, and an
 * open-addressing index over (trace_id, span_id, shared).
 *
 * Blocks: blocks[0] holds `first` records (a power of two, 256..65,536,
 * from the creator's hint), blocks[1..] BLOCK_SPANS each, so record idx is
 * blocks[0][idx] below `first` and otherwise at (idx - first) split by
 * BLOCK_SHIFT into blocks[1 + ...]: one branch, no search. */
#include "model/span_store.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

#define BLOCK_SHIFT 16
#define BLOCK_SPANS (1u << BLOCK_SHIFT)
#define LINK_BLOCK_SHIFT 12
#define LINK_BLOCK (1u << LINK_BLOCK_SHIFT)
#define NO_SLOT UINT32_MAX

/* A set of interned strings with dense ids. Few entries (domains, systems):
 * a small open-addressing table is plenty. */
struct strtab {
    char **names;
    size_t *lens;
    size_t n, cap;
    uint32_t *slots; /* id + 1, 0 = empty */
    size_t nslots;
    size_t bytes;
};

struct span_store {
    struct span_rec **blocks;
    size_t nblocks, count;
    size_t first; /* records in blocks[0] */
    struct span_link **link_blocks;
    size_t nlink_blocks, nlinks;
    struct strtab domains, systems;
    uint32_t *index; /* span idx, NO_SLOT = empty */
    size_t index_mask;
    size_t duplicates, traces;
    size_t invalid[SPAN_INVALID_NREASONS];
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static int strtab_grow_slots(struct strtab *t)
{
    size_t nslots = t->nslots ? 2 * t->nslots : 64;
    uint32_t *slots = calloc(nslots, sizeof(*slots));

    if (!slots)
        return -1;
    for (size_t id = 0; id < t->n; id++) {
        size_t i = hash_bytes(t->names[id], t->lens[id]) & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* Returns the id of (name, len), adding it; UINT32_MAX when out of memory. */
static uint32_t strtab_intern(struct strtab *t, const char *name, size_t len)
{
    if (!name) /* an empty name may come as (NULL, 0) */
        name = "";
    if (2 * (t->n + 1) > t->nslots && strtab_grow_slots(t) < 0)
        return UINT32_MAX;
    size_t i = hash_bytes(name, len) & (t->nslots - 1);
    for (; t->slots[i]; i = (i + 1) & (t->nslots - 1)) {
        uint32_t id = t->slots[i] - 1;
        if (t->lens[id] == len && memcmp(t->names[id], name, len) == 0)
            return id;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **names = realloc(t->names, cap * sizeof(*names));
        if (!names)
            return UINT32_MAX;
        t->names = names;
        size_t *lens = realloc(t->lens, cap * sizeof(*lens));
        if (!lens)
            return UINT32_MAX;
        t->lens = lens;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return UINT32_MAX;
    memcpy(copy, name, len);
    copy[len] = '\0';
    t->names[t->n] = copy;
    t->lens[t->n] = len;
    t->slots[i] = (uint32_t)t->n + 1;
    t->bytes += len + 1;
    return (uint32_t)t->n++;
}

static void strtab_free(struct strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->lens);
    free(t->slots);
}

struct span_store *span_store_create(void)
{
    return span_store_create_hint(BLOCK_SPANS);
}

struct span_store *span_store_create_hint(size_t expected_spans)
{
    struct span_store *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->first = SPAN_STORE_MIN_BLOCK;
    while (s->first < expected_spans && s->first < BLOCK_SPANS)
        s->first *= 2;
    /* System id 0 is "none". */
    if (strtab_intern(&s->systems, "", 0) != 0) {
        span_store_destroy(s);
        return NULL;
    }
    return s;
}

void span_store_destroy(struct span_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nblocks; i++)
        free(s->blocks[i]);
    free(s->blocks);
    for (size_t i = 0; i < s->nlink_blocks; i++)
        free(s->link_blocks[i]);
    free(s->link_blocks);
    strtab_free(&s->domains);
    strtab_free(&s->systems);
    free(s->index);
    free(s);
}

/* Make room for element `count` in a block list; returns 0 or -1. */
static int ensure_block(void ***blocks, size_t *nblocks, size_t count,
                        unsigned shift, size_t elem)
{
    size_t b = count >> shift;

    if (b < *nblocks)
        return 0;
    void **nb = realloc(*blocks, (b + 1) * sizeof(void *));
    if (!nb)
        return -1;
    *blocks = nb;
    nb[b] = malloc(elem << shift);
    if (!nb[b])
        return -1;
    *nblocks = b + 1;
    return 0;
}

/* Times are clamped into [0, SPAN_TIME_MAX] so that differences and sums
 * of a few of them never overflow. */
static int64_t clamp_time(int64_t t)
{
    return t < 0 ? 0 : t > SPAN_TIME_MAX ? SPAN_TIME_MAX : t;
}

/* The slot of record s->count, with a new block when the last is full;
 * NULL when out of memory. */
static struct span_rec *next_slot(struct span_store *s)
{
    size_t b, i, n;

    if (s->count < s->first) {
        b = 0;
        i = s->count;
        n = s->first;
    } else {
        size_t k = s->count - s->first;
        b = 1 + (k >> BLOCK_SHIFT);
        i = k & (BLOCK_SPANS - 1);
        n = BLOCK_SPANS;
    }
    if (b >= s->nblocks) {
        struct span_rec **nb = realloc(s->blocks, (b + 1) * sizeof(*nb));
        if (!nb)
            return NULL;
        s->blocks = nb;
        if (!(nb[b] = malloc(n * sizeof(struct span_rec))))
            return NULL;
        s->nblocks = b + 1;
    }
    return &s->blocks[b][i];
}

int64_t span_store_add(struct span_store *s, const struct span_rec *rec)
{
    struct span_rec *r = next_slot(s);

    if (!r)
        return -1;
    *r = *rec;
    r->link = SPAN_NO_LINK;
    r->start_ns = clamp_time(r->start_ns);
    r->end_ns = clamp_time(r->end_ns);
    free(s->index);
    s->index = NULL;
    return (int64_t)s->count++;
}

size_t span_store_count(const struct span_store *s)
{
    return s->count;
}

void span_store_add_invalid(struct span_store *s, enum span_invalid why)
{
    if ((unsigned)why < SPAN_INVALID_NREASONS)
        s->invalid[why]++;
}

size_t span_store_invalid(const struct span_store *s, enum span_invalid why)
{
    return (unsigned)why < SPAN_INVALID_NREASONS ? s->invalid[why] : 0;
}

size_t span_store_invalid_total(const struct span_store *s)
{
    size_t n = 0;

    for (int i = 0; i < SPAN_INVALID_NREASONS; i++)
        n += s->invalid[i];
    return n;
}

const char *span_invalid_name(enum span_invalid why)
{
    static const char *const names[SPAN_INVALID_NREASONS] = {
        "empty_trace_id",
        "empty_span_id",
        "missing_timestamp",
        "unknown_process",
    };

    return (unsigned)why < SPAN_INVALID_NREASONS ? names[why] : "unknown";
}

struct span_rec *span_store_at(const struct span_store *s, size_t idx)
{
    if (idx < s->first)
        return &s->blocks[0][idx];
    idx -= s->first;
    return &s->blocks[1 + (idx >> BLOCK_SHIFT)][idx & (BLOCK_SPANS - 1)];
}

const struct span_link *span_store_link(const struct span_store *s,
                                        uint32_t link_idx)
{
    return &s->link_blocks[link_idx >> LINK_BLOCK_SHIFT]
                          [link_idx & (LINK_BLOCK - 1)];
}

int span_store_add_link(struct span_store *s, size_t idx,
                        const uint8_t trace_id[16], uint64_t span_id)
{
    if (s->nlinks >= SPAN_NO_LINK - 1 ||
        ensure_block((void ***)&s->link_blocks, &s->nlink_blocks, s->nlinks,
                     LINK_BLOCK_SHIFT, sizeof(struct span_link)) < 0)
        return -1;
    uint32_t li = (uint32_t)s->nlinks++;
    struct span_link *l = (struct span_link *)span_store_link(s, li);
    struct span_rec *r = span_store_at(s, idx);
    memcpy(l->trace_id, trace_id, 16);
    l->span_id = span_id;
    l->next = r->link;
    r->link = li;
    return 0;
}

uint32_t span_store_domain_id(struct span_store *s, const char *name,
                              size_t len)
{
    return strtab_intern(&s->domains, name, len);
}

size_t span_store_domain_count(const struct span_store *s)
{
    return s->domains.n;
}

const char *span_store_domain_name(const struct span_store *s, uint32_t id)
{
    return s->domains.names[id];
}

size_t span_store_domain_name_len(const struct span_store *s, uint32_t id)
{
    return s->domains.lens[id];
}

uint16_t span_store_system_id(struct span_store *s, const char *name,
                              size_t len)
{
    uint32_t id = strtab_intern(&s->systems, name, len);

    return id >= UINT16_MAX ? UINT16_MAX : (uint16_t)id;
}

const char *span_store_system_name(const struct span_store *s, uint16_t id)
{
    return s->systems.names[id];
}

static uint64_t key_hash(const uint8_t trace_id[16], uint64_t span_id,
                         bool shared)
{
    return hash_id128(trace_id, span_id ^ (shared ? 0x5bd1e995u : 0));
}

static bool key_equal(const struct span_rec *r, const uint8_t trace_id[16],
                      uint64_t span_id, bool shared)
{
    return r->span_id == span_id &&
           ((r->flags & SPAN_F_SHARED) != 0) == shared &&
           memcmp(r->trace_id, trace_id, 16) == 0;
}

int64_t span_store_find(const struct span_store *s, const uint8_t trace_id[16],
                        uint64_t span_id, bool shared)
{
    if (!s->index)
        return -1;
    size_t i = key_hash(trace_id, span_id, shared) & s->index_mask;
    for (; s->index[i] != NO_SLOT; i = (i + 1) & s->index_mask) {
        const struct span_rec *r = span_store_at(s, s->index[i]);
        if (key_equal(r, trace_id, span_id, shared))
            return s->index[i];
    }
    return -1;
}

/* Count distinct trace IDs with a temporary table of first-seen spans. */
static int count_traces(struct span_store *s)
{
    size_t mask = s->index_mask;
    uint32_t *t = malloc((mask + 1) * sizeof(*t));

    if (!t)
        return -1;
    memset(t, 0xff, (mask + 1) * sizeof(*t));
    s->traces = 0;
    for (size_t idx = 0; idx < s->count; idx++) {
        const struct span_rec *r = span_store_at(s, idx);
        size_t i = key_hash(r->trace_id, 0, false) & mask;
        while (t[i] != NO_SLOT &&
               memcmp(span_store_at(s, t[i])->trace_id, r->trace_id, 16) != 0)
            i = (i + 1) & mask;
        if (t[i] == NO_SLOT) {
            t[i] = (uint32_t)idx;
            s->traces++;
        }
    }
    free(t);
    return 0;
}

int span_store_index(struct span_store *s)
{
    size_t n = 64;

    if (s->count >= NO_SLOT)
        return -1;
    while (n < 2 * s->count)
        n *= 2;
    free(s->index);
    s->index = malloc(n * sizeof(*s->index));
    if (!s->index)
        return -1;
    memset(s->index, 0xff, n * sizeof(*s->index));
    s->index_mask = n - 1;
    s->duplicates = 0;
    for (size_t idx = 0; idx < s->count; idx++) {
        struct span_rec *r = span_store_at(s, idx);
        bool shared = r->flags & SPAN_F_SHARED;
        size_t i = key_hash(r->trace_id, r->span_id, shared) & s->index_mask;
        r->flags &= (uint8_t)~SPAN_F_DUPLICATE;
        for (; s->index[i] != NO_SLOT; i = (i + 1) & s->index_mask)
            if (key_equal(span_store_at(s, s->index[i]), r->trace_id,
                          r->span_id, shared))
                break;
        if (s->index[i] == NO_SLOT) {
            s->index[i] = (uint32_t)idx;
        } else {
            r->flags |= SPAN_F_DUPLICATE;
            s->duplicates++;
        }
    }
    return count_traces(s);
}

size_t span_store_duplicates(const struct span_store *s)
{
    return s->duplicates;
}

size_t span_store_traces(const struct span_store *s)
{
    return s->traces;
}

size_t span_store_memory(const struct span_store *s)
{
    size_t bytes = sizeof(*s);

    if (s->nblocks)
        bytes += s->first * sizeof(struct span_rec) +
                 (s->nblocks - 1) * BLOCK_SPANS * sizeof(struct span_rec) +
                 s->nblocks * sizeof(void *);
    bytes += s->nlink_blocks *
             (sizeof(void *) + LINK_BLOCK * sizeof(struct span_link));
    if (s->index)
        bytes += (s->index_mask + 1) * sizeof(*s->index);
    bytes += s->domains.bytes + s->systems.bytes;
    return bytes;
}
