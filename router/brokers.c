/*
 * brokers.c - the broker links a router accepts, and the broker nodes
 * behind them.
 *
 * A link (struct router_broker):
 *   ACCEPTED --its Hello (kind BROKER, protocol 2 or 3, valid node id)--> READY
 *   ACCEPTED/READY --link down or protocol error--> freed
 * Both sides send Hello first; a frame carrying anything before the
 * broker's Hello is a protocol error and closes the link.
 *
 * A node (struct router_node, states in router.h) is created by the
 * first Hello of its node id and bound to every later link of that id,
 * so what the router holds for a broker (its routes, the Delivers it has
 * not taken, the acks of its publishes) survives a link that drops.  A
 * Hello with another boot number is a new process under the same id: the
 * old node is gone first.  A DOWN node's lease is checked every tick; it
 * is gone when the lease expired.
 *
 * Within a frame: routes first (RESET opens a resync that COMMIT swaps
 * in; PARTITION_RESET drops one partition's exact routes), so a broker's
 * ADD and a publish in the same frame find each other; then partition
 * joins (they follow their routes), barriers (answered once the routes
 * are in), publishes, partition leaves (they follow the publishes before
 * them), DeliverAcks, retained requests.
 *
 * Barriers: a broker sends Barrier(seq) after RouteUpdates it needs
 * applied before it answers a SUBSCRIBE or resumes a session; one ack for
 * the highest seq of a frame answers all of them, once the session writes
 * sent to Redis before it are done (sessions.c).  When the link is full
 * only the latest seq is kept (barrier_owed) and sent when the link
 * drains.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reader.h"
#include "router.h"
#include "status.h"

/* Link protocol versions: 3 understands PublishAck.not_owner; a router
 * takes brokers of 2 (the release before) so routers can be upgraded
 * first, and routes their publishes as that release did. */
#define LINK_PROTOCOL 3
#define LINK_PROTOCOL_MIN 2

static void brokers_on_frame(struct strata_link *l, const Strata__Frame *f,
    void *arg);
static void brokers_on_up(struct strata_link *l, void *arg);
static void brokers_on_down(struct strata_link *l, void *arg);
static void brokers_on_drain(struct strata_link *l, void *arg);

static const struct strata_link_callbacks brokers_callbacks = {
	.on_frame = brokers_on_frame,
	.on_up = brokers_on_up,
	.on_down = brokers_on_down,
	.on_drain = brokers_on_drain,
};

/* ---- nodes ---- */

struct router_node *
router_node_find(struct strata_router *r, const char *node_id)
{
	struct strata_list *pos;

	/* a handful of brokers per router: a scan is enough */
	for (pos = r->nodes.next; pos != &r->nodes; pos = pos->next) {
		struct router_node *n = STRATA_CONTAINER_OF(pos,
		    struct router_node, node);

		if (strcmp(n->node_id, node_id) == 0)
			return n;
	}
	return NULL;
}

struct router_node *
router_node_of(struct router_routes_peer *p)
{
	return STRATA_CONTAINER_OF(p, struct router_node, routes);
}

static struct router_node *
nodes_new(struct strata_router *r, const char *node_id, uint64_t boot)
{
	struct router_node *n = calloc(1, sizeof(*n));

	if (n == NULL || (n->node_id = strdup(node_id)) == NULL)
		abort();
	n->router = r;
	n->boot = boot;
	router_routes_peer_init(&n->routes);
	strata_list_init(&n->unacked);
	strata_list_init(&n->backlog);
	strata_list_init(&n->shares);
	strata_u64map_init(&n->pending);
	strata_u64map_init(&n->owed);
	strata_list_push_back(&r->nodes, &n->node);
	r->node_count++;
	return n;
}

static void
nodes_free(struct router_node *n)
{
	struct strata_router *r = n->router;

	router_routes_reset(&r->routes, &n->routes);
	router_routes_peer_fini(&n->routes);
	router_shares_node_gone(n);
	strata_u64map_fini(&n->pending);
	strata_u64map_fini(&n->owed);
	strata_list_remove(&n->node);
	r->node_count--;
	free(n->node_id);
	free(n);
}

void
router_node_gone(struct router_node *n)
{
	STRATA_INFO("router", "broker gone|broker=%s", n->node_id);
	(*n->router->m.nodes_gone)++;
	if (n->link != NULL)
		n->link->peer = NULL;
	router_shares_node_gone(n);
	router_sessions_node_gone(n);
	router_pending_node_gone(n);
	nodes_free(n);
}

void
router_nodes_free_all(struct strata_router *r)
{
	while (!strata_list_empty(&r->nodes)) {
		struct router_node *n = STRATA_CONTAINER_OF(r->nodes.next,
		    struct router_node, node);

		if (n->link != NULL)
			n->link->peer = NULL;
		router_pending_node_gone(n);
		nodes_free(n);
	}
}

/* ---- links ---- */

/* The link goes: its node (if any) is DOWN. */
static void
brokers_close(struct router_broker *b)
{
	struct strata_router *r = b->router;
	struct router_node *n = b->peer;

	if (n != NULL && n->link == b) {
		n->link = NULL;
		n->down_since_ms = router_now_ms();
		router_routes_resync_abort(&n->routes);
		router_pending_link_down(n);
	}
	strata_list_remove(&b->node);
	r->broker_count--;
	strata_link_free(b->link);
	free(b);
}

void
router_brokers_accept(struct strata_router *r, evutil_socket_t fd)
{
	struct router_broker *b = calloc(1, sizeof(*b));

	if (b == NULL)
		abort();
	b->router = r;
	b->id = ++r->next_broker_id;
	strata_list_push_back(&r->brokers, &b->node);
	r->broker_count++;
	b->link = strata_link_accept(r->base, fd, &brokers_callbacks, b,
	    (size_t)r->cfg.max_link_queue);
}

void
router_brokers_free_all(struct strata_router *r)
{
	struct strata_list *pos, *tmp;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &r->brokers)
		brokers_close(STRATA_CONTAINER_OF(pos, struct router_broker,
		    node));
}

int
router_brokers_send(struct router_broker *b, enum strata_link_field field,
    const ProtobufCMessage *msg, enum router_drop queue_full)
{
	int rc = strata_link_send(b->link, field, msg);

	if (rc == STRATA_ENOSPC)
		(*b->router->m.drops[queue_full])++;
	else if (rc != 0)
		(*b->router->m.drops[queue_full + 1])++; /* ..._LINK_DOWN */
	return rc;
}

int
router_node_send(struct router_node *n, enum strata_link_field field,
    const ProtobufCMessage *msg, enum router_drop queue_full)
{
	if (n->link == NULL) {
		(*n->router->m.drops[queue_full + 1])++;
		return STRATA_AGAIN;
	}
	return router_brokers_send(n->link, field, msg, queue_full);
}

static void
brokers_on_up(struct strata_link *l, void *arg)
{
	struct router_broker *b = arg;
	Strata__Hello h = STRATA__HELLO__INIT;
	uint8_t proof[STRATA_LINKAUTH_LEN];

	h.node_id = b->router->cfg.node_id;
	h.kind = STRATA__NODE_KIND__NODE_ROUTER;
	h.protocol = LINK_PROTOCOL;
	if (b->router->cfg.link_auth.secret != NULL) {
		strata_linkauth_mac(&b->router->cfg.link_auth, h.kind,
		    h.node_id, h.boot, proof);
		h.auth.data = proof;
		h.auth.len = sizeof(proof);
	}
	strata_link_send(l, STRATA_LINK_HELLO, &h.base);
}

static void
brokers_on_down(struct strata_link *l, void *arg)
{
	struct router_broker *b = arg;

	STRATA_INFO("router", "broker link down|broker=%s peer=%s",
	    b->peer != NULL ? b->peer->node_id : "-", strata_link_peer(l));
	brokers_close(b);
}

/* A node id goes into logs and metrics: 1..128 printable ASCII
 * characters, no blanks or quotes. */
static bool
brokers_node_id_ok(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (i >= 128 || id[i] <= ' ' || id[i] > '~' || id[i] == '"' ||
		    id[i] == '\\')
			return false;
	return i > 0;
}

/* Bind b to the node of its Hello: the same node after a reconnect, a
 * new one for a new process (another boot) or a new id. */
static void
brokers_bind(struct router_broker *b, const Strata__Hello *h)
{
	struct strata_router *r = b->router;
	struct router_node *n = router_node_find(r, h->node_id);

	if (n != NULL && n->boot != h->boot) {
		STRATA_INFO("router", "broker restarted|broker=%s",
		    n->node_id);
		if (n->link != NULL && n->link != b)
			brokers_close(n->link);
		router_node_gone(n);
		n = NULL;
	}
	if (n == NULL)
		n = nodes_new(r, h->node_id, h->boot);
	if (n->link != NULL && n->link != b) /* an older link of the same
						process: replaced */
		brokers_close(n->link);
	b->peer = n;
	n->link = b;
	n->protocol = h->protocol;
	STRATA_INFO("router", "broker ready|broker=%s peer=%s", n->node_id,
	    strata_link_peer(b->link));
	router_pending_link_up(n);
}

/* Returns false (and closes the link) if the Hello is not acceptable. */
static bool
brokers_hello(struct router_broker *b, const Strata__Hello *h)
{
	if (h->kind != STRATA__NODE_KIND__NODE_BROKER ||
	    h->protocol < LINK_PROTOCOL_MIN || h->protocol > LINK_PROTOCOL ||
	    !brokers_node_id_ok(h->node_id))
		return false;
	if (!strata_linkauth_check(&b->router->cfg.link_auth, h->kind,
	    h->node_id, h->boot, h->auth.data, h->auth.len)) {
		(*b->router->m.link_auth_refused)++;
		STRATA_WARN("router", "link refused: no proof of the cluster "
		    "secret|node_id=%s peer=%s", h->node_id,
		    strata_link_peer(b->link));
		return false;
	}
	if (b->peer == NULL)
		brokers_bind(b, h);
	return true;
}

static void
brokers_route(struct router_node *n, const Strata__RouteUpdate *u)
{
	struct strata_router *r = n->router;
	size_t len = strlen(u->filter);

	(*r->m.route_updates)++;
	switch (u->op) {
	case STRATA__ROUTE_UPDATE__OP__ADD:
		if (!strata_utf8_valid((const uint8_t *)u->filter, len) ||
		    router_routes_add(&r->routes, &n->routes, u->filter,
		    len) != 0)
			router_link_error(r, "invalid route filter",
			    n->node_id);
		break;
	case STRATA__ROUTE_UPDATE__OP__REMOVE:
		if (router_routes_remove(&r->routes, &n->routes, u->filter,
		    len) != 0)
			STRATA_DEBUG("router", "remove of unknown route|"
			    "broker=%s", n->node_id);
		break;
	case STRATA__ROUTE_UPDATE__OP__RESET:
		router_routes_resync_begin(&n->routes);
		router_sessions_resync_begin(n);
		router_shares_resync_begin(n);
		break;
	case STRATA__ROUTE_UPDATE__OP__COMMIT:
		router_routes_resync_commit(&r->routes, &n->routes);
		router_sessions_resync_commit(n);
		router_shares_resync_commit(n);
		router_partition_node_linked(n);
		break;
	case STRATA__ROUTE_UPDATE__OP__SESSION_ADD:
	case STRATA__ROUTE_UPDATE__OP__SESSION_REMOVE:
		router_sessions_update(n, u);
		break;
	case STRATA__ROUTE_UPDATE__OP__SHARE_ADD:
	case STRATA__ROUTE_UPDATE__OP__SHARE_REMOVE:
		router_shares_update(n, u);
		break;
	case STRATA__ROUTE_UPDATE__OP__PARTITION_RESET:
		if (u->partition < STRATA_PARTITIONS) {
			router_routes_drop_partition(&r->routes, &n->routes,
			    u->partition, (unsigned)r->cfg.partition_levels);
			router_shares_drop_partition(n, u->partition);
		} else
			router_link_error(r, "invalid partition", n->node_id);
		break;
	default:
		router_link_error(r, "unknown route op", n->node_id);
		break;
	}
}

/* Ack Barrier seq, or keep it owed while the link is full. */
static void
brokers_barrier_ack(struct router_broker *b, uint64_t seq)
{
	Strata__BarrierAck a = STRATA__BARRIER_ACK__INIT;

	a.seq = seq;
	if (strata_link_send(b->link, STRATA_LINK_BARRIER_ACK, &a.base) ==
	    STRATA_ENOSPC)
		b->barrier_owed = seq;
	else
		b->barrier_owed = 0;
}

static void
brokers_on_drain(struct strata_link *l, void *arg)
{
	struct router_broker *b = arg;

	if (b->barrier_owed != 0)
		brokers_barrier_ack(b, b->barrier_owed);
	if (b->peer != NULL)
		router_pending_flush(b->peer);
}

static void
brokers_barriers(struct router_broker *b, const Strata__Frame *f)
{
	uint64_t seq = 0;

	/* One ack for the highest seq answers all of the frame's. */
	for (size_t i = 0; i < f->n_barrier; i++)
		if (f->barrier[i]->seq > seq)
			seq = f->barrier[i]->seq;
	(*b->router->m.barriers) += f->n_barrier;
	if (seq != 0)
		router_sessions_barrier(b, seq, brokers_barrier_ack);
}

/* The partition messages of a frame: joins after the routes, leaves
 * after the publishes. */
static void
brokers_joins(struct router_node *n, const Strata__Frame *f)
{
	for (size_t i = 0; i < f->n_partition_join; i++) {
		const Strata__PartitionJoin *j = f->partition_join[i];

		if (j->partition < STRATA_PARTITIONS)
			router_partition_join(n, j->partition, j->generation);
		else
			router_link_error(n->router, "invalid partition",
			    n->node_id);
	}
}

static void
brokers_leaves(struct router_node *n, const Strata__Frame *f)
{
	for (size_t i = 0; i < f->n_partition_leave; i++) {
		const Strata__PartitionLeave *v = f->partition_leave[i];

		if (v->partition < STRATA_PARTITIONS)
			router_pending_leave(n, v->partition, v->generation);
		else
			router_link_error(n->router, "invalid partition",
			    n->node_id);
	}
}

static void
brokers_acks(struct router_node *n, const Strata__Frame *f)
{
	uint64_t up_to = 0;

	for (size_t i = 0; i < f->n_deliver_ack; i++)
		if (f->deliver_ack[i]->up_to > up_to)
			up_to = f->deliver_ack[i]->up_to;
	if (up_to != 0)
		router_pending_deliver_ack(n, up_to);
}

static void
brokers_on_frame(struct strata_link *l, const Strata__Frame *f, void *arg)
{
	struct router_broker *b = arg;
	struct router_node *n;

	if (f->hello != NULL && !brokers_hello(b, f->hello))
		goto fail;
	if ((n = b->peer) == NULL)
		goto fail;
	for (size_t i = 0; i < f->n_route; i++)
		brokers_route(n, f->route[i]);
	brokers_joins(n, f);
	brokers_barriers(b, f);
	for (size_t i = 0; i < f->n_publish; i++)
		router_publish_handle(b, f->publish[i]);
	brokers_leaves(n, f);
	brokers_acks(n, f);
	for (size_t i = 0; i < f->n_retained_request; i++)
		router_publish_retained_request(b, f->retained_request[i]);
	if (f->n_publish_ack > 0 || f->n_deliver > 0 || f->n_barrier_ack > 0 ||
	    f->n_partition_leave_ack > 0 || f->n_partition_serving > 0)
		router_link_error(b->router, "router-to-broker message from "
		    "a broker", n->node_id);
	return;
fail:
	router_link_error(b->router, "no valid hello: link closed",
	    strata_link_peer(l));
	brokers_close(b);
}
