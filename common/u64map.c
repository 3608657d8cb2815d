/*
 * u64map.c - open-addressing integer map (see u64map.h).
 *
 * A key's home cell is its Fibonacci hash (key * 2^64/phi, top bits).
 * Every key sits in the run of occupied cells that starts at or before its
 * home, so a lookup probes from home to the first empty cell.  Taking a
 * key moves later members of the run back into the hole when their home
 * does not lie strictly between the hole and them (Knuth's algorithm R),
 * which keeps that property without tombstones.
 */
#include "u64map.h"

#include <assert.h>
#include <stdlib.h>

#define U64MAP_MIN_BITS 4

static size_t
u64map_home(const struct strata_u64map *m, uint64_t key)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> m->shift);
}

static void
u64map_alloc(struct strata_u64map *m, unsigned bits)
{
	m->cells = calloc((size_t)1 << bits, sizeof(*m->cells));
	if (m->cells == NULL)
		abort();
	m->mask = ((size_t)1 << bits) - 1;
	m->shift = 64 - bits;
	m->count = 0;
}

void
strata_u64map_init(struct strata_u64map *m)
{
	u64map_alloc(m, U64MAP_MIN_BITS);
}

void
strata_u64map_fini(struct strata_u64map *m)
{
	free(m->cells);
	m->cells = NULL;
	m->mask = 0;
	m->count = 0;
}

/* The cell holding key, or the empty cell where it would go. */
static size_t
u64map_find(const struct strata_u64map *m, uint64_t key)
{
	size_t i = u64map_home(m, key);

	while (m->cells[i].key != 0 && m->cells[i].key != key)
		i = (i + 1) & m->mask;
	return i;
}

void *
strata_u64map_get(const struct strata_u64map *m, uint64_t key)
{
	size_t i;

	if (key == 0)
		return NULL;
	i = u64map_find(m, key);
	return m->cells[i].key == key ? m->cells[i].value : NULL;
}

static void
u64map_grow(struct strata_u64map *m)
{
	struct strata_u64map_cell *old = m->cells;
	size_t n = m->mask + 1, i;

	u64map_alloc(m, 64 - m->shift + 1);
	for (i = 0; i < n; i++)
		if (old[i].key != 0)
			strata_u64map_put(m, old[i].key, old[i].value);
	free(old);
}

void *
strata_u64map_put(struct strata_u64map *m, uint64_t key, void *value)
{
	size_t i;
	void *prev;

	assert(key != 0 && value != NULL);
	if ((m->count + 1) * 4 > (m->mask + 1) * 3)
		u64map_grow(m);
	i = u64map_find(m, key);
	if (m->cells[i].key == key) {
		prev = m->cells[i].value;
		m->cells[i].value = value;
		return prev;
	}
	m->cells[i].key = key;
	m->cells[i].value = value;
	m->count++;
	return NULL;
}

/* Is home h cyclically in (hole, j]?  Then the key at j may not move to
 * the hole: it would land before its home. */
static int
u64map_between(size_t hole, size_t h, size_t j)
{
	return hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
}

void *
strata_u64map_take(struct strata_u64map *m, uint64_t key)
{
	size_t hole, j;
	void *value;

	if (key == 0)
		return NULL;
	hole = u64map_find(m, key);
	if (m->cells[hole].key != key)
		return NULL;
	value = m->cells[hole].value;
	m->count--;
	for (j = (hole + 1) & m->mask; m->cells[j].key != 0;
	    j = (j + 1) & m->mask) {
		if (u64map_between(hole, u64map_home(m, m->cells[j].key), j))
			continue;
		m->cells[hole] = m->cells[j];
		hole = j;
	}
	m->cells[hole].key = 0;
	m->cells[hole].value = NULL;
	return value;
}
