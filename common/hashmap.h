/*
 * hashmap.h - open hash map keyed by byte strings.
 *
 * The map owns a copy of every key.  Values are owned according to the type
 * callback given at creation: value_free (may be NULL) is called on a value
 * when the map drops it (delete, replace, free); strata_hashmap_take() hands
 * the value back instead.  Grows by doubling; not thread-safe.
 *
 * Keys are often chosen by clients (client ids, topics, filters), so the
 * hash is keyed: SipHash-1-3 under a random per-process key, and a client
 * cannot compute keys that collide to flood one bucket.  Hash values mean
 * nothing outside the process: never store or send them (partitions use
 * their own, stable hash in topic.c).
 */
#ifndef STRATA_HASHMAP_H
#define STRATA_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strata_hashmap;

/* SipHash-1-3 of len bytes at p under the process key.  The key is 16
 * bytes from getrandom() taken on the first call (the process aborts if
 * the kernel cannot give them). */
uint64_t strata_hash_bytes(const void *p, size_t len);
/* Replace the process key, for tests and fuzz targets that need the same
 * hashes (and iteration order) on every run.  Call it before creating any
 * map: entries already stored keep hashes of the old key and would no
 * longer be found. */
void strata_hash_set_key(const uint8_t key[16]);

struct strata_hashmap *strata_hashmap_new(void (*value_free)(void *));
void strata_hashmap_free(struct strata_hashmap *m);

void *strata_hashmap_get(const struct strata_hashmap *m, const void *key,
    size_t len);
/* Slot of key's value, created holding NULL if absent and create is set. */
void **strata_hashmap_slot(struct strata_hashmap *m, const void *key,
    size_t len, bool create);
/* Insert or replace (the old value goes to value_free). */
void strata_hashmap_put(struct strata_hashmap *m, const void *key, size_t len,
    void *value);
/* Remove and return the value (not freed); NULL if absent. */
void *strata_hashmap_take(struct strata_hashmap *m, const void *key,
    size_t len);
/* Remove and free the value; false if absent. */
bool strata_hashmap_delete(struct strata_hashmap *m, const void *key,
    size_t len);
size_t strata_hashmap_count(const struct strata_hashmap *m);

/* Visit every entry; stop early when cb returns non-zero (returned). The
 * callback must not insert or remove. */
int strata_hashmap_foreach(const struct strata_hashmap *m,
    int (*cb)(const void *key, size_t len, void *value, void *arg),
    void *arg);

#endif
