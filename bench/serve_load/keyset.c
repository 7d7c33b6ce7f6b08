/* serve_load's span key set: spans and distinct (trace ID, span ID) keys,
 * counted by sink (from its HTTP threads) and kafka-count. An open-
 * addressing table in KEY_SHARDS shards, each with its own lock (the
 * structs are in common.h). */
#include "common.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_store.h"

void sl_key_set_init(struct key_set *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < KEY_SHARDS; i++)
        pthread_mutex_init(&s->shard[i].mu, NULL);
}

void sl_key_set_free(struct key_set *s)
{
    for (int i = 0; i < KEY_SHARDS; i++) {
        free(s->shard[i].slots);
        pthread_mutex_destroy(&s->shard[i].mu);
    }
}

/* Top 6 bits pick the shard, low bits the slot. */
static uint64_t key_hash(const struct span_key *k)
{
    return mix64(k->hi ^ mix64(k->lo ^ mix64(k->span)));
}

static bool key_eq(const struct span_key *a, const struct span_key *b)
{
    return a->hi == b->hi && a->lo == b->lo && a->span == b->span;
}

static bool key_empty(const struct span_key *k)
{
    return !k->hi && !k->lo && !k->span;
}

/* Slot of k in sh: where it is, or the empty slot where it belongs. */
static struct span_key *shard_find(struct key_shard *sh,
                                   const struct span_key *k, uint64_t h)
{
    size_t i = h & (sh->cap - 1);

    while (!key_empty(&sh->slots[i]) && !key_eq(&sh->slots[i], k))
        i = (i + 1) & (sh->cap - 1);
    return &sh->slots[i];
}

static int shard_grow(struct key_shard *sh, size_t min_cap)
{
    struct key_shard n = *sh;

    n.cap = sh->cap ? 2 * sh->cap : (size_t)1 << 12;
    while (n.cap < min_cap)
        n.cap *= 2;
    n.slots = calloc(n.cap, sizeof(*n.slots));
    if (!n.slots)
        return -1;
    for (size_t i = 0; i < sh->cap; i++)
        if (!key_empty(&sh->slots[i]))
            *shard_find(&n, &sh->slots[i], key_hash(&sh->slots[i])) =
                sh->slots[i];
    free(sh->slots);
    sh->slots = n.slots;
    sh->cap = n.cap;
    return 0;
}

/* Size the table for n keys up front (growing a table stalls the HTTP
 * threads that wait for its shard). */
int sl_key_set_reserve(struct key_set *s, uint64_t n)
{
    for (int i = 0; i < KEY_SHARDS; i++)
        if (shard_grow(&s->shard[i], (size_t)(n / KEY_SHARDS * 2 + 1)) < 0)
            return -1;
        else /* touch the pages now, not during the run */
            memset(s->shard[i].slots, 0,
                   s->shard[i].cap * sizeof(*s->shard[i].slots));
    return 0;
}

/* Count one span. Thread-safe. */
static void key_set_add(struct key_set *s, const uint8_t trace_id[16],
                        uint64_t span_id)
{
    struct span_key k = {get_be64(trace_id), get_be64(trace_id + 8), span_id};
    uint64_t h = key_hash(&k);
    struct key_shard *sh = &s->shard[h >> 58];

    atomic_fetch_add(&s->spans, 1);
    if (key_empty(&k)) {
        atomic_fetch_add(&s->zero_ids, 1);
        return;
    }
    pthread_mutex_lock(&sh->mu);
    if (2 * (sh->count + 1) > sh->cap && shard_grow(sh, 0) < 0) {
        s->nomem = true;
    } else {
        struct span_key *slot = shard_find(sh, &k, h);
        if (key_empty(slot)) {
            *slot = k;
            sh->count++;
        } else {
            sh->duplicates++;
        }
    }
    pthread_mutex_unlock(&sh->mu);
}

void sl_key_set_add_store(struct key_set *s, const struct span_store *st)
{
    size_t n = span_store_count(st);

    for (size_t i = 0; i < n; i++) {
        const struct span_rec *r = span_store_at(st, i);
        key_set_add(s, r->trace_id, r->span_id);
    }
}

static void key_set_totals(struct key_set *s, uint64_t *unique, uint64_t *dup)
{
    *unique = *dup = 0;
    for (int i = 0; i < KEY_SHARDS; i++) {
        pthread_mutex_lock(&s->shard[i].mu);
        *unique += s->shard[i].count;
        *dup += s->shard[i].duplicates;
        pthread_mutex_unlock(&s->shard[i].mu);
    }
}

uint64_t sl_key_set_unique(struct key_set *s)
{
    uint64_t unique, dup;

    key_set_totals(s, &unique, &dup);
    return unique;
}

/* "spans=N unique=U duplicates=D\n" into buf; returns its length. Spans
 * with all-zero IDs count in spans only. */
int sl_key_set_line(struct key_set *s, char *buf, size_t len)
{
    uint64_t unique, dup;

    key_set_totals(s, &unique, &dup);
    return snprintf(buf, len,
                    "spans=%" PRIu64 " unique=%" PRIu64 " duplicates=%" PRIu64
                    "\n",
                    (uint64_t)s->spans, unique, dup);
}
