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
	p->mark = 0;
}

void
router_routes_peer_fini(struct router_routes_peer *p)
{
	strata_hashmap_free(p->filters);
	p->filters = NULL;
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

int
router_routes_add(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len)
{
	void **count;

	if (strata_topic_filter_check((const uint8_t *)filter, len) != 0)
		return STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID);
	count = strata_hashmap_slot(p->filters, filter, len, true);
	if (*count == NULL)
		routes_entry_add(t, p, filter, len);
	*count = (void *)((uintptr_t)*count + 1);
	return 0;
}

int
router_routes_remove(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len)
{
	void **count = strata_hashmap_slot(p->filters, filter, len, false);

	if (count == NULL)
		return STRATA_ENOTFOUND;
	*count = (void *)((uintptr_t)*count - 1);
	if (*count == NULL) {
		strata_hashmap_take(p->filters, filter, len);
		routes_entry_drop(t, p, filter, len);
	}
	return 0;
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
