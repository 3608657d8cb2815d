/*
 * topicalias.c - topic -> alias table of one sender, least recently used
 * alias replaced (see topicalias.h).
 *
 * Entries are indexed by alias (e[1..cap], e[0] unused), so an alias is
 * also the "pointer" of the two structures threaded through them:
 *   chain         - next alias in the same hash bucket (0: end);
 *   newer, older  - the recency list from t->newest to t->oldest.
 * Aliases 1..used are assigned; they are never given back, only
 * replaced, so a free alias is always used + 1.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "topicalias.h"

#define TOPICALIAS_FIRST_CAP 8

struct topicalias_entry {
	uint64_t hash;
	char *topic; /* owned; not NUL-terminated */
	uint32_t len;
	uint32_t size; /* bytes allocated at topic */
	uint16_t chain;
	uint16_t newer;
	uint16_t older;
};

struct strata_topicalias {
	uint16_t max;
	uint16_t used;
	uint16_t cap;
	uint16_t newest;
	uint16_t oldest;
	uint32_t mask; /* buckets - 1 */
	uint16_t *buckets;
	struct topicalias_entry *e;
};

struct strata_topicalias *
strata_topicalias_new(uint16_t max)
{
	struct strata_topicalias *t = calloc(1, sizeof(*t));

	assert(max >= 1);
	if (t == NULL)
		abort();
	t->max = max;
	return t;
}

void
strata_topicalias_free(struct strata_topicalias *t)
{
	uint32_t a;

	if (t == NULL)
		return;
	for (a = 1; a <= t->used; a++)
		free(t->e[a].topic);
	free(t->e);
	free(t->buckets);
	free(t);
}

uint16_t
strata_topicalias_count(const struct strata_topicalias *t)
{
	return t->used;
}

static void
topicalias_chain_add(struct strata_topicalias *t, uint16_t a)
{
	uint16_t *head = &t->buckets[t->e[a].hash & t->mask];

	t->e[a].chain = *head;
	*head = a;
}

static void
topicalias_chain_remove(struct strata_topicalias *t, uint16_t a)
{
	uint16_t *p = &t->buckets[t->e[a].hash & t->mask];

	while (*p != a)
		p = &t->e[*p].chain;
	*p = t->e[a].chain;
}

static void
topicalias_recent_push(struct strata_topicalias *t, uint16_t a)
{
	t->e[a].older = t->newest;
	t->e[a].newer = 0;
	if (t->newest != 0)
		t->e[t->newest].newer = a;
	else
		t->oldest = a;
	t->newest = a;
}

static void
topicalias_recent_remove(struct strata_topicalias *t, uint16_t a)
{
	struct topicalias_entry *x = &t->e[a];

	if (x->newer != 0)
		t->e[x->newer].older = x->older;
	else
		t->newest = x->older;
	if (x->older != 0)
		t->e[x->older].newer = x->newer;
	else
		t->oldest = x->newer;
}

/* Room for one more alias: double the entries (up to max) and rebuild
 * the index with at least as many buckets as entries. */
static void
topicalias_grow(struct strata_topicalias *t)
{
	uint32_t cap = t->cap ? (uint32_t)t->cap * 2 : TOPICALIAS_FIRST_CAP;
	uint32_t buckets = 1, a;

	if (cap > t->max)
		cap = t->max;
	t->e = realloc(t->e, (cap + 1) * sizeof(*t->e));
	if (t->e == NULL)
		abort();
	memset(t->e + t->cap + 1, 0, (cap - t->cap) * sizeof(*t->e));
	t->cap = (uint16_t)cap;
	while (buckets < cap)
		buckets <<= 1;
	free(t->buckets);
	t->buckets = calloc(buckets, sizeof(*t->buckets));
	if (t->buckets == NULL)
		abort();
	t->mask = buckets - 1;
	for (a = 1; a <= t->used; a++)
		topicalias_chain_add(t, (uint16_t)a);
}

uint16_t
strata_topicalias_lookup(
    struct strata_topicalias *t, const char *topic, size_t len, uint64_t hash)
{
	uint16_t a;

	if (t->used == 0)
		return 0;
	for (a = t->buckets[hash & t->mask]; a != 0; a = t->e[a].chain) {
		struct topicalias_entry *x = &t->e[a];

		if (x->hash != hash || x->len != len ||
		    memcmp(x->topic, topic, len) != 0)
			continue;
		if (t->newest != a) {
			topicalias_recent_remove(t, a);
			topicalias_recent_push(t, a);
		}
		return a;
	}
	return 0;
}

/* Copy topic into entry a, reusing its buffer when large enough. */
static void
topicalias_set_topic(struct topicalias_entry *x, const char *topic, size_t len)
{
	if (len > x->size || x->topic == NULL) {
		free(x->topic);
		x->size = len > 0 ? (uint32_t)len : 1;
		x->topic = malloc(x->size);
		if (x->topic == NULL)
			abort();
	}
	if (len > 0)
		memcpy(x->topic, topic, len);
	x->len = (uint32_t)len;
}

uint16_t
strata_topicalias_assign(
    struct strata_topicalias *t, const char *topic, size_t len, uint64_t hash)
{
	uint16_t a;

	if (t->used < t->max) {
		if (t->used == t->cap)
			topicalias_grow(t);
		a = ++t->used;
	} else {
		a = t->oldest;
		topicalias_chain_remove(t, a);
		topicalias_recent_remove(t, a);
	}
	topicalias_set_topic(&t->e[a], topic, len);
	t->e[a].hash = hash;
	topicalias_chain_add(t, a);
	topicalias_recent_push(t, a);
	return a;
}
