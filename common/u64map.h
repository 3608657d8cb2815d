/*
 * u64map.h - hash map from 64-bit integer keys to pointers, for hot paths.
 *
 * Open addressing with linear probing in one array of {key, value} pairs:
 * no allocation per entry, no key copy, one multiply to hash.  Deletion
 * shifts the following run back, so there are no tombstones and lookups
 * stay short.  Key 0 is reserved (it marks an empty cell); values are
 * never NULL.  The map owns nothing it points to.  Grows by doubling at
 * 3/4 load; never shrinks.  Not thread-safe.
 */
#ifndef STRATA_U64MAP_H
#define STRATA_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct strata_u64map_cell {
	uint64_t key;   /* 0: empty */
	void *value;
};

struct strata_u64map {
	struct strata_u64map_cell *cells;
	size_t mask;    /* capacity - 1, capacity a power of two */
	size_t count;
	unsigned shift; /* 64 - log2(capacity) */
};

void strata_u64map_init(struct strata_u64map *m);
void strata_u64map_fini(struct strata_u64map *m);
/* Value of key, or NULL. */
void *strata_u64map_get(const struct strata_u64map *m, uint64_t key);
/* Insert or replace; key != 0, value != NULL.  Returns the replaced
 * value or NULL. */
void *strata_u64map_put(struct strata_u64map *m, uint64_t key, void *value);
/* Remove key and return its value; NULL if absent. */
void *strata_u64map_take(struct strata_u64map *m, uint64_t key);
static inline size_t
strata_u64map_count(const struct strata_u64map *m)
{
	return m->count;
}

#endif
