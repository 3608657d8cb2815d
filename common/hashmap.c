/*
 * hashmap.c - hash map keyed by byte strings, separate chaining.
 *
 * Each entry is one allocation holding the key copy (flexible array), so
 * an entry never moves: a slot pointer stays valid across growth until its
 * entry is removed (strata_subtree relies on this).  The bucket array
 * doubles when the load factor reaches 1; it never shrinks.
 *
 * The hash is SipHash-1-3 under one key per process (see hashmap.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include "hashmap.h"
#include "log.h"
#include "siphash.h"

#define HASHMAP_INITIAL_BUCKETS 8

struct hashmap_entry {
	struct hashmap_entry *next;
	uint64_t hash;
	void *value;
	size_t len;
	unsigned char key[];
};

struct strata_hashmap {
	struct hashmap_entry **buckets; /* NULL until the first insert */
	size_t nbuckets;                /* power of two, or 0 */
	size_t count;
	void (*value_free)(void *);
};

/* Small fixed-size allocations abort on failure (STYLE.md). */
static void *
hashmap_alloc(size_t size)
{
	void *p = calloc(1, size);

	if (p == NULL)
		abort();
	return p;
}

/* The key of strata_hash_bytes(), set on first use.  Lazy and not
 * thread-safe, like the maps: each daemon is one event loop.  (Redis does
 * the same with a key read at start-up.) */
static struct strata_siphash_key hash_key;
static bool hash_key_ready;

void
strata_hash_set_key(const uint8_t key[16])
{
	strata_siphash_key_from_bytes(&hash_key, key);
	hash_key_ready = true;
}

/* 16 bytes from the kernel's CSPRNG.  getrandom() of up to 256 bytes
 * returns them all once the pool is initialised; it may block before
 * that (early boot) and a signal may interrupt the wait. */
static void
hashmap_random_key(void)
{
	uint8_t bytes[16];
	ssize_t n;

	do
		n = getrandom(bytes, sizeof(bytes), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(bytes)) {
		STRATA_ERROR("hashmap",
		    "cannot read a random hash key|errno=%d",
		    n < 0 ? errno : 0);
		abort();
	}
	strata_hash_set_key(bytes);
}

uint64_t
strata_hash_bytes(const void *p, size_t len)
{
	if (!hash_key_ready)
		hashmap_random_key();
	return strata_siphash13(&hash_key, p, len);
}

struct strata_hashmap *
strata_hashmap_new(void (*value_free)(void *))
{
	struct strata_hashmap *m = hashmap_alloc(sizeof(*m));

	m->value_free = value_free;
	return m;
}

void
strata_hashmap_free(struct strata_hashmap *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hashmap_entry *e = m->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			if (m->value_free != NULL && e->value != NULL)
				m->value_free(e->value);
			free(e);
		}
	}
	free(m->buckets);
	free(m);
}

/* Address of the link pointing at key's entry (*result NULL if absent). */
static struct hashmap_entry **
hashmap_find(
    const struct strata_hashmap *m, const void *key, size_t len, uint64_t hash)
{
	struct hashmap_entry **link;

	if (m->nbuckets == 0)
		return NULL;
	link = &m->buckets[hash & (m->nbuckets - 1)];
	for (; *link != NULL; link = &(*link)->next) {
		struct hashmap_entry *e = *link;

		if (e->hash == hash && e->len == len &&
		    (len == 0 || memcmp(e->key, key, len) == 0))
			break;
	}
	return link;
}

static void
hashmap_grow(struct strata_hashmap *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : HASHMAP_INITIAL_BUCKETS;
	struct hashmap_entry **b = hashmap_alloc(n * sizeof(*b));

	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hashmap_entry *e = m->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

void *
strata_hashmap_get(const struct strata_hashmap *m, const void *key, size_t len)
{
	struct hashmap_entry **link;

	link = hashmap_find(m, key, len, strata_hash_bytes(key, len));
	return link != NULL && *link != NULL ? (*link)->value : NULL;
}

void **
strata_hashmap_slot(
    struct strata_hashmap *m, const void *key, size_t len, bool create)
{
	uint64_t hash = strata_hash_bytes(key, len);
	struct hashmap_entry **link = hashmap_find(m, key, len, hash);
	struct hashmap_entry *e;

	if (link != NULL && *link != NULL)
		return &(*link)->value;
	if (!create)
		return NULL;
	if (m->count >= m->nbuckets)
		hashmap_grow(m);
	e = hashmap_alloc(sizeof(*e) + len);
	e->hash = hash;
	e->len = len;
	if (len > 0)
		memcpy(e->key, key, len);
	link = &m->buckets[hash & (m->nbuckets - 1)];
	e->next = *link;
	*link = e;
	m->count++;
	return &e->value;
}

void
strata_hashmap_put(
    struct strata_hashmap *m, const void *key, size_t len, void *value)
{
	void **slot = strata_hashmap_slot(m, key, len, true);

	if (*slot != NULL && *slot != value && m->value_free != NULL)
		m->value_free(*slot);
	*slot = value;
}

/* Unlink and free the entry at *link; returns its value. */
static void *
hashmap_unlink(struct strata_hashmap *m, struct hashmap_entry **link)
{
	struct hashmap_entry *e = *link;
	void *value = e->value;

	*link = e->next;
	free(e);
	m->count--;
	return value;
}

void *
strata_hashmap_take(struct strata_hashmap *m, const void *key, size_t len)
{
	struct hashmap_entry **link;

	link = hashmap_find(m, key, len, strata_hash_bytes(key, len));
	if (link == NULL || *link == NULL)
		return NULL;
	return hashmap_unlink(m, link);
}

bool
strata_hashmap_delete(struct strata_hashmap *m, const void *key, size_t len)
{
	struct hashmap_entry **link;
	void *value;

	link = hashmap_find(m, key, len, strata_hash_bytes(key, len));
	if (link == NULL || *link == NULL)
		return false;
	value = hashmap_unlink(m, link);
	if (value != NULL && m->value_free != NULL)
		m->value_free(value);
	return true;
}

size_t
strata_hashmap_count(const struct strata_hashmap *m)
{
	return m->count;
}

int
strata_hashmap_foreach(const struct strata_hashmap *m,
    int (*cb)(const void *key, size_t len, void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		const struct hashmap_entry *e = m->buckets[i];

		for (; e != NULL; e = e->next) {
			int rc = cb(e->key, e->len, e->value, arg);

			if (rc != 0)
				return rc;
		}
	}
	return 0;
}
