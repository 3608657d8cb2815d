/*
 * shares.c - shared subscriptions ($share/<group>/<filter>): the members
 * of each group, and the one member each message goes to
 * (docs/internals/cluster.md, section 5).
 *
 * A group lives where its filter does: on the owner of the filter's
 * partition, or on every router when the filter has a wildcard in the
 * partition key (the router owning a publish's partition is the one that
 * picks, so each message is picked once).  Its members are the connected
 * sessions that hold the subscription, on any broker (RouteUpdate
 * SHARE_ADD / SHARE_REMOVE from the broker that has the connection).
 *
 * Per matching group, a publish goes to one member, by share-strategy:
 *   round-robin  the next member, in the order they joined (default)
 *   random       any member, uniformly
 *   sticky       the member picked last, while it stays in the group
 *   hash-client  a hash of the publisher's client id
 *   hash-topic   a hash of the topic
 * as a Deliver naming that member (target_client_id, target_filter); for
 * QoS 1/2 it is a destination of the publish like any Deliver.  A member
 * that cannot take it (it left meanwhile) sends it back with share_group
 * set, and another is picked; so are the Delivers waiting for a broker
 * that is gone.  A group with no member drops the message (counted).
 *
 * Member states: JOINED --SHARE_REMOVE, node gone, node's resync that no
 * longer names it, partition given away--> freed.  RESET of a node's
 * routes marks its members stale; COMMIT frees those not named again.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "router.h"
#include "siphash.h"
#include "status.h"
#include "subtree.h"

struct router_share_group {
	struct strata_list members;       /* router_share_member */
	size_t n_members;
	struct router_share_member *sticky;
	uint64_t next;                    /* round-robin counter */
	int partition;                    /* -1: every router's */
	size_t len;
	char name[];                      /* "$share/g/f" */
};

struct router_share_member {
	struct strata_list group_node;
	struct strata_list node_node;     /* n->shares */
	struct router_share_group *g;
	struct router_node *n;
	bool stale;
	uint8_t options;
	uint32_t sub_id;
	char client_id[];
};

static const char *const shares_strategies[] = {
	"round-robin", "random", "sticky", "hash-client", "hash-topic",
};

int
router_shares_strategy(const char *name)
{
	for (size_t i = 0; i < sizeof(shares_strategies) /
	    sizeof(shares_strategies[0]); i++)
		if (strcmp(name, shares_strategies[i]) == 0)
			return (int)i;
	return -1;
}

void
router_shares_init(struct strata_router *r)
{
	r->shares.index = strata_subtree_new();
	if (r->shares.index == NULL)
		abort();
	/* a fixed key: hash-client and hash-topic pick the same member on
	 * every router and across restarts, for the same members */
	strata_siphash_key_from_bytes(&r->shares.key,
	    (const uint8_t *)"strata-shares-16");
	r->shares.rng = (uint64_t)router_now_ms() | 1;
}

static void
shares_group_free(void *v)
{
	free(v);
}

void
router_shares_fini(struct strata_router *r)
{
	/* the nodes' member lists are freed with the nodes (before) */
	if (r->shares.index != NULL)
		strata_subtree_free(r->shares.index, shares_group_free);
	r->shares.index = NULL;
}

static void
shares_member_free(struct strata_router *r, struct router_share_member *m)
{
	struct router_share_group *g = m->g;

	strata_list_remove(&m->group_node);
	strata_list_remove(&m->node_node);
	g->n_members--;
	r->shares.n_members--;
	if (g->sticky == m)
		g->sticky = NULL;
	free(m);
	if (g->n_members > 0)
		return;
	strata_subtree_remove(r->shares.index, g->name, g->len);
	r->shares.n_groups--;
	free(g);
}

static struct router_share_group *
shares_group(struct strata_router *r, const char *name, size_t len,
    bool create)
{
	void **slot = strata_subtree_slot(r->shares.index, name, len, create);
	struct router_share_group *g;

	if (slot == NULL || *slot != NULL || !create)
		return slot != NULL ? *slot : NULL;
	g = calloc(1, sizeof(*g) + len + 1);
	if (g == NULL)
		abort();
	strata_list_init(&g->members);
	g->partition = strata_topic_filter_partition((const uint8_t *)name,
	    len, (unsigned)r->cfg.partition_levels);
	g->len = len;
	memcpy(g->name, name, len);
	*slot = g;
	r->shares.n_groups++;
	return g;
}

static struct router_share_member *
shares_member_find(struct router_share_group *g, struct router_node *n,
    const char *client)
{
	struct strata_list *pos;

	for (pos = g->members.next; pos != &g->members; pos = pos->next) {
		struct router_share_member *m = STRATA_CONTAINER_OF(pos,
		    struct router_share_member, group_node);

		if (m->n == n && strcmp(m->client_id, client) == 0)
			return m;
	}
	return NULL;
}

void
router_shares_update(struct router_node *n, const Strata__RouteUpdate *u)
{
	struct strata_router *r = n->router;
	size_t flen = strlen(u->filter), clen = strlen(u->client_id);
	struct strata_bytes group, inner;
	struct router_share_group *g;
	struct router_share_member *m;

	if (!strata_topic_share_split((const uint8_t *)u->filter, flen,
	    &group, &inner) || clen == 0 || clen > UINT16_MAX ||
	    !strata_utf8_valid((const uint8_t *)u->filter, flen) ||
	    !strata_utf8_valid((const uint8_t *)u->client_id, clen) ||
	    strata_topic_filter_check((const uint8_t *)u->filter, flen) != 0 ||
	    u->options > 0x3F || (u->options & 0x03) == 3) {
		router_link_error(r, "invalid shared subscription", n->node_id);
		return;
	}
	g = shares_group(r, u->filter, flen,
	    u->op == STRATA__ROUTE_UPDATE__OP__SHARE_ADD);
	m = g != NULL ? shares_member_find(g, n, u->client_id) : NULL;
	if (u->op == STRATA__ROUTE_UPDATE__OP__SHARE_REMOVE) {
		if (m != NULL)
			shares_member_free(r, m);
		return;
	}
	if (m == NULL) {
		m = calloc(1, sizeof(*m) + clen + 1);
		if (m == NULL)
			abort();
		memcpy(m->client_id, u->client_id, clen);
		m->g = g;
		m->n = n;
		strata_list_push_back(&g->members, &m->group_node);
		strata_list_push_back(&n->shares, &m->node_node);
		g->n_members++;
		r->shares.n_members++;
	}
	m->stale = false;
	m->options = (uint8_t)u->options;
	m->sub_id = u->sub_id;
}

/* ---- picking a member ---- */

static uint64_t
shares_random(struct strata_router *r)
{
	uint64_t x = r->shares.rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->shares.rng = x;
	return x;
}

static uint64_t
shares_hash(struct strata_router *r, const char *s, size_t len)
{
	return strata_siphash13(&r->shares.key, s, len);
}

static struct router_share_member *
shares_nth(struct router_share_group *g, uint64_t i)
{
	struct strata_list *pos = g->members.next;

	for (i %= g->n_members; i > 0; i--)
		pos = pos->next;
	return STRATA_CONTAINER_OF(pos, struct router_share_member,
	    group_node);
}

static struct router_share_member *
shares_pick(struct strata_router *r, struct router_share_group *g,
    const struct strata_message *m, const char *publisher)
{
	if (g->n_members == 0)
		return NULL;
	switch (r->shares.strategy) {
	case ROUTER_SHARE_RANDOM:
		return shares_nth(g, shares_random(r));
	case ROUTER_SHARE_STICKY:
		if (g->sticky == NULL)
			g->sticky = shares_nth(g, g->next++);
		return g->sticky;
	case ROUTER_SHARE_HASH_CLIENT:
		return shares_nth(g, shares_hash(r, publisher,
		    strlen(publisher)));
	case ROUTER_SHARE_HASH_TOPIC:
		return shares_nth(g, shares_hash(r, m->topic, m->topic_len));
	default:
		return shares_nth(g, g->next++);
	}
}

/* Send m (QoS 0, no ack wanted) to one member. */
static void
shares_send_now(struct strata_router *r, struct router_share_member *mb,
    const Strata__Publish *p)
{
	Strata__Deliver d = STRATA__DELIVER__INIT;

	d.topic = p->topic;
	d.payload = p->payload;
	d.qos = 0;
	d.retain = p->retain;
	d.properties = p->properties;
	d.origin_client_id = p->client_id;
	d.target_client_id = mb->client_id;
	d.target_filter = mb->g->name;
	(void)router_node_send(mb->n, STRATA_LINK_DELIVER, &d.base,
	    ROUTER_DROP_DELIVER_QUEUE_FULL);
}

struct shares_ctx {
	struct strata_router *r;
	const struct strata_message *m;
	const char *publisher;
	const Strata__Publish *p;     /* QoS 0 */
	struct router_pending *pd;    /* QoS 1/2 */
	size_t matched;
};

static void
shares_one(struct shares_ctx *c, struct router_share_group *g)
{
	struct router_share_member *mb = shares_pick(c->r, g, c->m,
	    c->publisher);

	if (mb == NULL) {
		(*c->r->m.share_dropped)++;
		return;
	}
	c->matched++;
	(*c->r->m.share_deliveries)++;
	if (c->pd != NULL)
		router_pending_deliver_to(c->pd, mb->n, mb->client_id,
		    g->name);
	else
		shares_send_now(c->r, mb, c->p);
}

static void
shares_match_cb(const char *filter, size_t flen, void *value, void *arg)
{
	shares_one(arg, value);
}

size_t
router_shares_publish_now(struct strata_router *r, const Strata__Publish *p)
{
	struct strata_message m = {p->topic, strlen(p->topic), NULL, 0, NULL,
	    0, 0, false};
	struct shares_ctx c = {r, &m, p->client_id, p, NULL, 0};

	if (r->shares.n_groups == 0)
		return 0;
	strata_subtree_match(r->shares.index, m.topic, m.topic_len,
	    shares_match_cb, &c);
	return c.matched;
}

void
router_shares_publish(struct strata_router *r, struct router_pending *pd)
{
	struct shares_ctx c = {r, router_pending_message(pd),
	    router_pending_publisher(pd), NULL, pd, 0};

	if (r->shares.n_groups == 0)
		return;
	strata_subtree_match(r->shares.index, c.m->topic, c.m->topic_len,
	    shares_match_cb, &c);
}

bool
router_shares_redeliver(struct strata_router *r, struct router_pending *pd,
    const char *group)
{
	struct router_share_group *g = shares_group(r, group, strlen(group),
	    false);
	struct shares_ctx c = {r, router_pending_message(pd),
	    router_pending_publisher(pd), NULL, pd, 0};

	if (g == NULL) {
		(*r->m.share_dropped)++;
		return false;
	}
	(*r->m.share_redistributed)++;
	shares_one(&c, g);
	return c.matched > 0;
}

/* ---- nodes and partitions ---- */

void
router_shares_node_gone(struct router_node *n)
{
	while (!strata_list_empty(&n->shares))
		shares_member_free(n->router, STRATA_CONTAINER_OF(
		    n->shares.next, struct router_share_member, node_node));
}

void
router_shares_resync_begin(struct router_node *n)
{
	struct strata_list *pos;

	for (pos = n->shares.next; pos != &n->shares; pos = pos->next)
		STRATA_CONTAINER_OF(pos, struct router_share_member,
		    node_node)->stale = true;
}

/* Free n's members that match: stale ones, or those of a partition. */
static void
shares_sweep(struct router_node *n, bool stale, int partition)
{
	struct strata_list *pos, *tmp;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &n->shares) {
		struct router_share_member *m = STRATA_CONTAINER_OF(pos,
		    struct router_share_member, node_node);

		if (stale ? m->stale : m->g->partition == partition)
			shares_member_free(n->router, m);
	}
}

void
router_shares_resync_commit(struct router_node *n)
{
	shares_sweep(n, true, 0);
}

void
router_shares_drop_partition(struct router_node *n, uint32_t partition)
{
	shares_sweep(n, false, (int)partition);
}
