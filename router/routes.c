/*
 * routes.c - route table (see routes.h).
 *
 * Two views of the same facts:
 *   t->index:    filter -> struct routes_entry, the peers holding it (each
 *                once), matched against topics on every publish;
 *   p->filters:  filter -> count of ADDs minus REMOVEs for that peer, used
 *                for counting and to drop a peer's routes in one pass.
 * A peer is in an entry exactly when its count for that filter is > 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "routes.h"
#include "status.h"
#include "subtree.h"
#include "topic.h"

struct routes_entry {
	size_t n, cap;
	struct router_routes_peer **peers;
};

static void *
routes_alloc(void *old, size_t size)
{
	void *p = realloc(old, size);

	if (p == NULL)
		abort();
	return p;
}

static void
routes_entry_free(void *value)
{
	struct routes_entry *e = value;

	if (e != NULL)
		free(e->peers);
	free(e);
}

void
router_routes_peer_init(struct router_routes_peer *p)
{
	p->filters = strata_hashmap_new(NULL);
	if (p->filters == NULL)
		abort();
	p->resync = NULL;
	p->mark = 0;
}

void
router_routes_peer_fini(struct router_routes_peer *p)
{
	strata_hashmap_free(p->filters);
	strata_hashmap_free(p->resync);
	p->filters = NULL;
	p->resync = NULL;
}

void
router_routes_init(struct router_routes *t)
{
	memset(t, 0, sizeof(*t));
	t->index = strata_subtree_new();
	if (t->index == NULL)
		abort();
}

void
router_routes_fini(struct router_routes *t)
{
	strata_subtree_free(t->index, routes_entry_free);
	free(t->dest);
	memset(t, 0, sizeof(*t));
}

static void
routes_entry_add(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len)
{
	void **slot = strata_subtree_slot(t->index, filter, len, true);
	struct routes_entry *e = *slot;

	if (e == NULL) {
		e = routes_alloc(NULL, sizeof(*e));
		memset(e, 0, sizeof(*e));
		*slot = e;
	}
	if (e->n == e->cap) {
		e->cap = e->cap == 0 ? 2 : e->cap * 2;
		e->peers = routes_alloc(e->peers, e->cap * sizeof(*e->peers));
	}
	e->peers[e->n++] = p;
}

/* Take p out of the entry of filter; the entry goes when it is empty. */
static void
routes_entry_drop(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len)
{
	void **slot = strata_subtree_slot(t->index, filter, len, false);
	struct routes_entry *e = slot != NULL ? *slot : NULL;

	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++) {
		if (e->peers[i] == p) {
			e->peers[i] = e->peers[--e->n];
			break;
		}
	}
	if (e->n == 0) {
		strata_subtree_remove(t->index, filter, len);
		routes_entry_free(e);
	}
}

/* Add n references of filter to peer p (in force: t is the table). */
static void
routes_add_n(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len, uintptr_t n)
{
	void **count = strata_hashmap_slot(p->filters, filter, len, true);

	if (*count == NULL)
		routes_entry_add(t, p, filter, len);
	*count = (void *)((uintptr_t)*count + n);
}

int
router_routes_add(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len)
{
	void **count;

	if (strata_topic_filter_check((const uint8_t *)filter, len) != 0)
		return STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID);
	if (p->resync != NULL) {
		count = strata_hashmap_slot(p->resync, filter, len, true);
		*count = (void *)((uintptr_t)*count + 1);
		return 0;
	}
	routes_add_n(t, p, filter, len, 1);
	return 0;
}

int
router_routes_remove(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len)
{
	struct strata_hashmap *map = p->resync != NULL ? p->resync :
	    p->filters;
	void **count = strata_hashmap_slot(map, filter, len, false);

	if (count == NULL)
		return STRATA_ENOTFOUND;
	*count = (void *)((uintptr_t)*count - 1);
	if (*count == NULL) {
		strata_hashmap_take(map, filter, len);
		if (map == p->filters)
			routes_entry_drop(t, p, filter, len);
	}
	return 0;
}

void
router_routes_resync_begin(struct router_routes_peer *p)
{
	strata_hashmap_free(p->resync);
	p->resync = strata_hashmap_new(NULL);
}

void
router_routes_resync_abort(struct router_routes_peer *p)
{
	strata_hashmap_free(p->resync);
	p->resync = NULL;
}

struct routes_commit_ctx {
	struct router_routes *t;
	struct router_routes_peer *p;
};

static int
routes_commit_one(const void *key, size_t len, void *value, void *arg)
{
	struct routes_commit_ctx *c = arg;

	routes_add_n(c->t, c->p, key, len, (uintptr_t)value);
	return 0;
}

void
router_routes_resync_commit(struct router_routes *t,
    struct router_routes_peer *p)
{
	struct routes_commit_ctx c = { t, p };
	struct strata_hashmap *next = p->resync;

	if (next == NULL)
		return;
	p->resync = NULL;
	router_routes_reset(t, p);
	strata_hashmap_foreach(next, routes_commit_one, &c);
	strata_hashmap_free(next);
}

struct routes_part_ctx {
	uint32_t partition;
	unsigned levels;
	char **victims;
	size_t *lens;
	size_t n, cap;
};

static int
routes_part_collect(const void *key, size_t len, void *value, void *arg)
{
	struct routes_part_ctx *c = arg;

	if (strata_topic_filter_partition(key, len, c->levels) !=
	    (int)c->partition)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 16 : c->cap * 2;
		c->victims = routes_alloc(c->victims,
		    c->cap * sizeof(*c->victims));
		c->lens = routes_alloc(c->lens, c->cap * sizeof(*c->lens));
	}
	c->victims[c->n] = routes_alloc(NULL, len);
	memcpy(c->victims[c->n], key, len);
	c->lens[c->n++] = len;
	return 0;
}

/* Drop the partition's filters from map (the table in force when t is
 * not NULL). */
static void
routes_part_drop(struct router_routes *t, struct router_routes_peer *p,
    struct strata_hashmap *map, uint32_t partition, unsigned levels)
{
	struct routes_part_ctx c = { partition, levels, NULL, NULL, 0, 0 };

	/* the map may not change during the walk: collect, then drop */
	strata_hashmap_foreach(map, routes_part_collect, &c);
	for (size_t i = 0; i < c.n; i++) {
		strata_hashmap_take(map, c.victims[i], c.lens[i]);
		if (t != NULL)
			routes_entry_drop(t, p, c.victims[i], c.lens[i]);
		free(c.victims[i]);
	}
	free(c.victims);
	free(c.lens);
}

void
router_routes_drop_partition(struct router_routes *t,
    struct router_routes_peer *p, uint32_t partition, unsigned levels)
{
	routes_part_drop(t, p, p->filters, partition, levels);
	if (p->resync != NULL)
		routes_part_drop(NULL, p, p->resync, partition, levels);
}

struct routes_reset_ctx {
	struct router_routes *t;
	struct router_routes_peer *p;
};

static int
routes_reset_one(const void *key, size_t len, void *value, void *arg)
{
	struct routes_reset_ctx *c = arg;

	routes_entry_drop(c->t, c->p, key, len);
	return 0;
}

void
router_routes_reset(struct router_routes *t, struct router_routes_peer *p)
{
	struct routes_reset_ctx c = { t, p };

	if (strata_hashmap_count(p->filters) == 0)
		return;
	/* The walk changes only t->index; the peer's map is replaced after. */
	strata_hashmap_foreach(p->filters, routes_reset_one, &c);
	strata_hashmap_free(p->filters);
	p->filters = strata_hashmap_new(NULL);
	if (p->filters == NULL)
		abort();
}

static void
routes_match_one(const char *filter, size_t flen, void *value, void *arg)
{
	struct router_routes *t = arg;
	struct routes_entry *e = value;

	for (size_t i = 0; i < e->n; i++) {
		struct router_routes_peer *p = e->peers[i];

		if (p->mark == t->mark)
			continue; /* already a destination of this topic */
		p->mark = t->mark;
		if (t->ndest == t->dest_cap) {
			t->dest_cap = t->dest_cap == 0 ? 8 : t->dest_cap * 2;
			t->dest = routes_alloc(t->dest,
			    t->dest_cap * sizeof(*t->dest));
		}
		t->dest[t->ndest++] = p;
	}
}

size_t
router_routes_match(struct router_routes *t, const char *topic, size_t len,
    struct router_routes_peer ***out)
{
	/* A fresh mark per match: a peer is taken once however many of its
	 * filters match. */
	t->mark++;
	t->ndest = 0;
	strata_subtree_match(t->index, topic, len, routes_match_one, t);
	*out = t->dest;
	return t->ndest;
}

size_t
router_routes_count(const struct router_routes *t)
{
	return strata_subtree_count(t->index);
}
