/*
 * brokers.c - the broker links a router accepts.
 *
 * States of a struct router_broker:
 *   ACCEPTED --its Hello (kind BROKER, protocol 1)--> READY
 *   ACCEPTED/READY --link down or protocol error--> freed
 * Both sides send Hello first; a frame carrying anything before the
 * broker's Hello is a protocol error and closes the link.  When a broker
 * goes, its routes go with it (it sends RESET and its whole table again
 * when it reconnects).
 *
 * Barriers: a broker sends Barrier(seq) after RouteUpdates it needs
 * applied before it answers a SUBSCRIBE.  Routes are applied as they are
 * read, frame by frame, so the BarrierAck is sent after the route updates
 * of its own frame (and so of every earlier frame).  An ack of seq covers
 * every earlier Barrier: when the link is full only the latest seq is kept
 * (barrier_owed) and sent when the link drains.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reader.h"
#include "router.h"
#include "status.h"

#define LINK_PROTOCOL 1

static void brokers_on_frame(struct strata_link *l, const Strata__Frame *f,
    void *arg);
static void brokers_on_up(struct strata_link *l, void *arg);
static void brokers_on_down(struct strata_link *l, void *arg);
static void brokers_on_drain(struct strata_link *l, void *arg);

static const struct strata_link_callbacks brokers_callbacks = {
	.on_frame = brokers_on_frame,
	.on_up = brokers_on_up,
	.on_down = brokers_on_down,
	/* Delivers are dropped, not held (see publish.c); only an owed
	 * BarrierAck waits for the drain. */
	.on_drain = brokers_on_drain,
};

/* Forget the broker: routes, list entry, link (deferred if called from the
 * link's callback), memory. */
static void
brokers_close(struct router_broker *b)
{
	struct strata_router *r = b->router;

	router_routes_reset(&r->routes, &b->routes);
	router_routes_peer_fini(&b->routes);
	strata_list_remove(&b->node);
	r->broker_count--;
	strata_link_free(b->link);
	free(b->node_id);
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
	router_routes_peer_init(&b->routes);
	strata_list_push_back(&r->brokers, &b->node);
	r->broker_count++;
	b->link = strata_link_accept(r->base, fd, &brokers_callbacks, b,
	    (size_t)r->cfg.max_link_queue);
}

struct router_broker *
router_brokers_find(struct strata_router *r, uint64_t id)
{
	struct strata_list *pos, *tmp;

	/* A handful of brokers per router: a scan is enough. */
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &r->brokers) {
		struct router_broker *b = STRATA_CONTAINER_OF(pos,
		    struct router_broker, node);
		if (b->id == id)
			return b;
	}
	return NULL;
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

static void
brokers_on_up(struct strata_link *l, void *arg)
{
	struct router_broker *b = arg;
	Strata__Hello h = STRATA__HELLO__INIT;

	h.node_id = b->router->cfg.node_id;
	h.kind = STRATA__NODE_KIND__NODE_ROUTER;
	h.protocol = LINK_PROTOCOL;
	strata_link_send(l, STRATA_LINK_HELLO, &h.base);
}

static void
brokers_on_down(struct strata_link *l, void *arg)
{
	struct router_broker *b = arg;

	STRATA_INFO("router", "broker link down|broker=%s peer=%s",
	    b->node_id != NULL ? b->node_id : "-", strata_link_peer(l));
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

/* Returns false (and closes the link) if the Hello is not acceptable. */
static bool
brokers_hello(struct router_broker *b, const Strata__Hello *h)
{
	if (h->kind != STRATA__NODE_KIND__NODE_BROKER ||
	    h->protocol != LINK_PROTOCOL || !brokers_node_id_ok(h->node_id))
		return false;
	free(b->node_id);
	b->node_id = strdup(h->node_id);
	if (b->node_id == NULL)
		abort();
	STRATA_INFO("router", "broker ready|broker=%s peer=%s", b->node_id,
	    strata_link_peer(b->link));
	return true;
}

static void
brokers_route(struct router_broker *b, const Strata__RouteUpdate *u)
{
	struct strata_router *r = b->router;
	size_t len = strlen(u->filter);

	(*r->m.route_updates)++;
	switch (u->op) {
	case STRATA__ROUTE_UPDATE__OP__ADD:
		if (!strata_utf8_valid((const uint8_t *)u->filter, len) ||
		    router_routes_add(&r->routes, &b->routes, u->filter,
		    len) != 0)
			router_link_error(r, "invalid route filter",
			    b->node_id);
		break;
	case STRATA__ROUTE_UPDATE__OP__REMOVE:
		if (router_routes_remove(&r->routes, &b->routes, u->filter,
		    len) != 0)
			STRATA_DEBUG("router",
			    "remove of unknown route|"
			    "broker=%s",
			    b->node_id);
		break;
	case STRATA__ROUTE_UPDATE__OP__RESET:
		router_routes_reset(&r->routes, &b->routes);
		break;
	default:
		router_link_error(r, "unknown route op", b->node_id);
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
		brokers_barrier_ack(b, seq);
}

static void
brokers_on_frame(struct strata_link *l, const Strata__Frame *f, void *arg)
{
	struct router_broker *b = arg;

	if (f->hello != NULL && !brokers_hello(b, f->hello))
		goto fail;
	if (b->node_id == NULL)
		goto fail;
	/* Within a frame: routes first, so a broker's ADD and a publish in
	 * the same frame find each other, then barriers (answered once the
	 * routes are in), then publishes, then requests. */
	for (size_t i = 0; i < f->n_route; i++)
		brokers_route(b, f->route[i]);
	brokers_barriers(b, f);
	for (size_t i = 0; i < f->n_publish; i++)
		router_publish_handle(b, f->publish[i]);
	for (size_t i = 0; i < f->n_retained_request; i++)
		router_publish_retained_request(b, f->retained_request[i]);
	if (f->n_publish_ack > 0 || f->n_deliver > 0 || f->n_barrier_ack > 0)
		router_link_error(b->router, "router-to-broker message from "
		    "a broker", b->node_id);
	return;
fail:
	router_link_error(b->router, "no valid hello: link closed",
	    strata_link_peer(l));
	brokers_close(b);
}
