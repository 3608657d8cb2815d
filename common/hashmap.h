/*
 * hashmap.h - open hash map keyed by byte strings.
 *
 * The map owns a copy of every key.  Values are owned according to the type
 * callback given at creation: value_free (may be NULL) is called on a value
 * when the map drops it (delete, replace, free); strata_hashmap_take() hands
 * the value back instead.  Grows by doubling; not thread-safe.
 */
#ifndef STRATA_HASHMAP_H
#define STRATA_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strata_hashmap;

uint64_t strata_hash_bytes(const void *p, size_t len); /* 64-bit FNV-1a */

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
